"""SIGTERM of the gateway in the middle of outbox work (the fake answers webhooks slowly): the
gateway stops taking rows, finishes the sends in flight, records every outcome and gives back the
rows it had claimed but not sent, then exits 0. Nothing is left 'sending' (no row waits for a
lease), nothing was delivered twice, and a restart delivers the rest."""
import collections
import time

import test_outbox_lib as O
import wgtest as W

N = 80
CONCURRENCY = 4
BATCH = 8
DELAY_MS = 200

with W.Test("outbox_sigterm") as t:
    c = t.checks
    fake = O.Fake(t.tmp)
    try:
        channels = {"hook": {"type": "webhook", "url": fake.base + "/hook/slow",
                             "secret": O.HOOK_SECRET}}
        gw = O.gateway(t, fake, corp=O.corp_config(fake, channels=channels),
                       outbox={"poll_ms": 100, "batch": BATCH, "concurrency": CONCURRENCY,
                               "lease_ms": 60000},
                       http={"shutdown_grace_ms": 10000})
        db = t.db
        fake.script("/hook/slow", [{"action": "ok", "delay_ms": DELAY_MS, "times": 100000}])
        db.psql("insert into outbox (corp, channel, payload, idempotency_key) "
                "select 'demo', 'hook', json_build_object('n', i), 'term-' || i "
                "from generate_series(1, %d) i" % N)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if int(db.scalar("select count(*) from outbox where status = 'sent'")) >= N // 4:
                break
            time.sleep(0.02)
        claimed = int(db.scalar("select count(*) from outbox where status = 'sending'"))
        W.log("SIGTERM with %d rows claimed" % claimed)
        c.check(claimed > CONCURRENCY, "more rows claimed than on the wire (%d)" % claimed)
        t0 = time.monotonic()
        t.stop_gateway(gw)  # checks exit 0
        W.log("stopped in %.2f s" % (time.monotonic() - t0))
        rs = O.rows(db)
        by = collections.Counter(r["status"] for r in rs.values())
        W.log("after the stop: %r" % dict(by))
        c.eq(by.get("sending", 0), 0, "rows left 'sending' after a clean stop")
        c.eq(by.get("dead", 0), 0, "dead rows")
        c.check(by.get("pending", 0) > 0, "rows left for later: %r" % dict(by))
        c.eq({r["attempts"] for r in rs.values() if r["status"] == "pending"}, {0},
             "rows given back unsent keep attempts 0")
        sent_keys = {r["idempotency_key"] for r in rs.values() if r["status"] == "sent"}
        got = collections.Counter(r["headers"].get("x-wegate-delivery")
                                  for r in fake.requests("/hook/slow"))
        c.eq(set(got), sent_keys, "deliveries so far are exactly the rows recorded sent")
        c.eq([k for k, n in got.items() if n > 1], [], "keys delivered twice")

        gw.start()
        O.wait_rows(db, lambda r: all(x["status"] == "sent" for x in r.values()),
                    "every row sent after the restart", timeout=60)
        got = collections.Counter(r["headers"].get("x-wegate-delivery")
                                  for r in fake.requests("/hook/slow"))
        c.eq(len(got), N, "keys delivered in all")
        c.eq([k for k, n in got.items() if n > 1], [], "keys delivered twice in all")
        t.stop_gateway(gw)
    finally:
        O.stop_fake(t, fake)
