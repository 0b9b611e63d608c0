"""kill -9 of the gateway under concurrent load (ARCHITECTURE.md Promise 1): after a restart,
every callback the clients saw answered 200 is in the table exactly once (rows >= answered);
then resending all of them stores each exactly once in total."""
import time

import wgtest as W

N = 6000

with W.Test("kill9") as t:
    c = t.checks
    gw = t.gateway()
    cbs = W.gen(W.template("load_event.xml"), n=N)
    load = W.Load(gw.port, cbs, threads=6, timeout=10).start()
    t0 = time.monotonic()
    while load.count(200) < 300 and time.monotonic() - t0 < 30:
        time.sleep(0.05)
    time.sleep(0.3)
    W.log("kill -9 after %d answered" % load.count(200))
    gw.kill9()
    load.stop()
    res = list(load.results)
    answered = [cbs[r[0]].key for r in res if r[1] == 200]
    st = load.statuses()
    W.log("client statuses: %r" % st)
    c.require(len(answered) >= 100, "callbacks answered 200 before kill -9 (%d)" % len(answered))
    c.check(set(st) <= {200, None}, "only 200s or cut connections before the kill: %r" % st)

    gw.start()
    keys = t.db.keys()
    rows = sum(keys.values())
    W.log("rows after restart: %d, answered: %d" % (rows, len(answered)))
    c.check(rows >= len(answered), "rows (%d) >= answered (%d)" % (rows, len(answered)))
    missing = [k for k in answered if k not in keys]
    c.eq(len(missing), 0, "answered-200 callbacks missing after kill -9")
    c.eq([k for k, n in keys.items() if n != 1], [], "keys stored more than once")
    sent = {cbs[r[0]].key for r in res}
    c.eq([k for k in keys if k not in sent], [], "rows for callbacks never sent")

    # WeCom retries everything not answered (and some that were): all stored exactly once.
    redo = W.Load(gw.port, cbs[:max(r[0] for r in res) + 1], threads=4).start()
    redo.wait()
    c.eq(set(redo.statuses()), {200}, "statuses when resending after the restart")
    keys = t.db.keys()
    c.eq(len(keys), max(r[0] for r in res) + 1, "distinct rows after the resend")
    c.eq([k for k, n in keys.items() if n != 1], [], "keys stored more than once after resend")
