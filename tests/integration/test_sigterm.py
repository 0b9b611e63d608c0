"""SIGTERM under load: the gateway stops accepting, every request fully sent before the signal
gets a complete response (200, or 503 at worst), the process exits 0 within the grace period,
and every callback answered 200 is stored."""
import signal
import socket
import time

import wgtest as W

N = 20000
GRACE_MS = 10000

with W.Test("sigterm") as t:
    c = t.checks
    gw = t.gateway(http={"shutdown_grace_ms": GRACE_MS})
    cbs = W.gen(W.template("load_event.xml"), n=N)
    load = W.Load(gw.port, cbs, threads=6, timeout=15).start()
    t0 = time.monotonic()
    while load.count(200) < 300 and time.monotonic() - t0 < 30:
        time.sleep(0.05)
    c.require(load.count(200) >= 300, "load running before SIGTERM (%d answered)"
              % load.count(200))
    t_term = time.monotonic()
    gw.signal(signal.SIGTERM)
    W.log("SIGTERM after %d answered" % load.count(200))
    try:
        rc = gw.proc.wait(GRACE_MS / 1000 + 10)
    except Exception:
        rc = "still running"
    exit_secs = time.monotonic() - t_term
    if rc != "still running":
        gw.proc = None  # stopped, and its exit code checked here
    load.stop()
    c.eq(rc, 0, "exit code after SIGTERM under load")
    c.check(exit_secs < GRACE_MS / 1000 + 1, "exited %.2f s after SIGTERM" % exit_secs)

    res = list(load.results)
    before = [r for r in res if r[2] is not None and r[2] < t_term]
    incomplete = [r for r in before if r[1] is None]
    W.log("requests sent before SIGTERM: %d; statuses after: %r" % (
        len(before), {s: sum(1 for r in res if r[2] and r[2] >= t_term and r[1] == s)
                      for s in {r[1] for r in res}}))
    c.check(len(before) >= 300, "requests sent before SIGTERM (%d)" % len(before))
    in_flight = [r for r in before if r[3] >= t_term]
    W.log("in flight at SIGTERM (sent before, finished after): %d" % len(in_flight))
    c.check(len(in_flight) >= 1, "some requests were in flight at SIGTERM (%d)" % len(in_flight))
    c.eq([(r[0], r[4]) for r in incomplete][:5], [],
         "requests sent before SIGTERM without a complete response (%d)" % len(incomplete))
    c.check(all(r[1] in (200, 503) for r in before if r[1] is not None),
            "requests sent before SIGTERM answered 200 or 503")
    c.eq(sum(1 for r in before if r[1] == 503), 0,
         "requests sent before SIGTERM answered 503 (the database was up)")

    # Stopped accepting: nothing listens on the port any more.
    try:
        socket.create_connection(("127.0.0.1", gw.port), timeout=2).close()
        c.check(False, "the port still accepts connections after exit")
    except OSError:
        pass
    keys = t.db.keys()
    answered = [cbs[r[0]].key for r in res if r[1] == 200]
    c.eq(len([k for k in answered if k not in keys]), 0, "answered-200 callbacks missing")
    c.eq([k for k, n in keys.items() if n != 1], [], "keys stored more than once")
