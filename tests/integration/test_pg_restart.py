"""PostgreSQL going away (ARCHITECTURE.md Promise 1, issue 4): on a private cluster,
1. under load, PostgreSQL is killed (immediate shutdown, crash-like): every request still gets
   an answer within WeCom's 5 s, 200 or 503 (never a hang, never another status); after the
   restart every callback answered 200 is in the table exactly once;
2. PostgreSQL stopped: a callback gets 503 within 5 s, /readyz 503, /healthz 200; started
   again: the retry of that callback is answered 200 and stored once, /readyz 200."""
import time

import wgtest as W

DEADLINE = 5.0
READY_IN_A_ROW = 8


def wait_ready(timeout=30):
    t0 = time.monotonic()
    ok = 0
    while time.monotonic() - t0 < timeout:
        ok = ok + 1 if W.request(port, "GET", "/readyz")[0] == 200 else 0
        if ok >= READY_IN_A_ROW:
            return True
        time.sleep(0.05)
    return False


with W.Test("pg_restart", private_pg=True) as t:
    c = t.checks
    gw = t.gateway()
    port = gw.port
    pg = t.cluster

    first = W.gen(W.template("add_external_contact.xml"))[0]
    st, _, _ = W.post(port, first)
    c.eq(st, 200, "callback before the outage: status")

    # --- 1. crash under load
    cbs = W.gen(W.template("load_event.xml"), n=20000)
    load = W.Load(port, cbs, threads=4, timeout=10).start()
    time.sleep(1.0)
    before = load.count(200)
    W.log("killing PostgreSQL (immediate) after %d answered" % before)
    pg.kill()
    time.sleep(3.0)
    pg.start()
    W.log("PostgreSQL restarted")
    time.sleep(1.5)
    load.stop()
    res = list(load.results)
    c.check(before > 0, "callbacks answered 200 before the crash (%d)" % before)
    st = load.statuses()
    W.log("statuses under the crash: %r" % st)
    c.check(set(st) <= {200, 503}, "every request answered 200 or 503: %r" % st)
    c.check(st.get(503, 0) > 0, "some requests got 503 while PostgreSQL was down: %r" % st)
    slow = [r for r in res if r[3] - (r[2] or r[3]) > DEADLINE]
    c.eq(len(slow), 0, "requests answered later than %.0f s after being sent" % DEADLINE)

    # Wait for every worker to be ready again (each reconnects with its own backoff, and each
    # answers /readyz for itself: new connections land on either), then check the rows.
    c.check(wait_ready(), "readyz 200 on %d new connections in a row within 30 s of the restart"
            % READY_IN_A_ROW)
    keys = t.db.keys()
    answered = {cbs[r[0]].key for r in res if r[1] == 200}
    missing = [k for k in answered if k not in keys]
    c.eq(len(missing), 0, "answered-200 callbacks missing after the PostgreSQL crash (of %d)"
         % len(answered))
    c.eq([k for k, n in keys.items() if n != 1], [], "keys stored more than once")
    c.eq(keys.get(first.key), 1, "the callback answered before the crash is still there")

    # --- 2. stopped: 503 within 5 s, started: the retry is stored once
    pg.stop()
    W.log("PostgreSQL stopped")
    down = W.gen(W.template("del_external_contact.xml"), n=3)  # three re-encrypted tries
    st, body, secs = W.post(port, down[0], timeout=15)
    c.eq(st, 503, "callback while PostgreSQL is stopped: status (reason %r)" % body[:80])
    c.check(secs < DEADLINE, "503 answered within %.0f s (took %.2f s)" % (DEADLINE, secs))
    st, _, secs = W.post(port, down[0], timeout=15)
    c.check(st == 503 and secs < DEADLINE, "second try while stopped: 503 in %.2f s (got %s)"
            % (secs, st))
    c.eq(W.request(port, "GET", "/readyz")[0], 503, "readyz while PostgreSQL is stopped")
    c.eq(W.request(port, "GET", "/healthz")[0], 200, "healthz while PostgreSQL is stopped")

    pg.start()
    W.log("PostgreSQL started again")

    def retry_until_200(cb, what):
        """WeCom's retries: each answered 200 or 503 within 5 s, until a 200 (each worker
        reconnects with its own backoff, so a 503 may still come from one that has not yet)."""
        t0 = time.monotonic()
        st, tries = None, 0
        while time.monotonic() - t0 < 30:
            st, _, secs = W.post(port, cb, timeout=15)
            tries += 1
            c.check(st in (200, 503) and secs < DEADLINE,
                    "%s: 200/503 within %.0f s (got %s in %.2f s)" % (what, DEADLINE, st, secs))
            if st == 200:
                break
            time.sleep(0.5)
        c.eq(st, 200, "%s: answered 200 once PostgreSQL is back (after %d tries, %.1f s)"
             % (what, tries, time.monotonic() - t0))

    retry_until_200(down[1], "the retry after the restart")
    retry_until_200(down[2], "a further re-encrypted retry")
    c.eq(t.db.count("dedupe_key = decode('%s', 'hex')" % down[0].key), 1,
         "the callback first refused with 503: stored once")
    c.check(wait_ready(), "readyz 200 on %d new connections in a row once PostgreSQL is back"
            % READY_IN_A_ROW)
