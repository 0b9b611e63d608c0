"""kill -9 of the gateway in the middle of an outbox batch (the fake answers webhooks slowly):
after a restart every row is delivered; a row recorded as sent before the kill is never sent
again; only rows that were on the wire at the kill (claimed, and seen by the fake) are delivered
twice, at most once more each, with the same X-Wegate-Delivery; none is lost or left behind."""
import collections
import time

import test_outbox_lib as O
import wgtest as W

N = 60
CONCURRENCY = 4
BATCH = 4
DELAY_MS = 300  # each webhook answer
LEASE_MS = 3000

with W.Test("outbox_kill9") as t:
    c = t.checks
    fake = O.Fake(t.tmp)
    try:
        channels = {"hook": {"type": "webhook", "url": fake.base + "/hook/slow",
                             "secret": O.HOOK_SECRET}}
        gw = O.gateway(t, fake, corp=O.corp_config(fake, channels=channels),
                       outbox={"poll_ms": 100, "batch": BATCH, "concurrency": CONCURRENCY,
                               "lease_ms": LEASE_MS},
                       http_client={"connect_timeout_ms": 500, "response_timeout_ms": 2000})
        db = t.db
        fake.script("/hook/slow", [{"action": "ok", "delay_ms": DELAY_MS, "times": 100000}])
        db.psql("insert into outbox (corp, channel, payload, idempotency_key) "
                "select 'demo', 'hook', json_build_object('n', i), 'kill9-' || i "
                "from generate_series(1, %d) i" % N)

        # Kill once a good part has been sent, with a batch on the wire.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if int(db.scalar("select count(*) from outbox where status = 'sent'")) >= N // 3:
                break
            time.sleep(0.02)
        gw.kill9()
        before = O.rows(db)
        sent_before = {r["idempotency_key"] for r in before.values() if r["status"] == "sent"}
        in_flight = {r["idempotency_key"] for r in before.values() if r["status"] == "sending"}
        W.log("kill -9 with %d sent, %d sending, %d pending"
              % (len(sent_before), len(in_flight),
                 sum(1 for r in before.values() if r["status"] == "pending")))
        c.require(len(sent_before) >= N // 3, "rows sent before the kill (%d)" % len(sent_before))
        # claimed rows: on the wire (at most the concurrency) or queued (at most two batches)
        c.check(0 < len(in_flight) <= CONCURRENCY + 2 * BATCH,
                "rows claimed at the kill: %d (1..%d)" % (len(in_flight), CONCURRENCY + 2 * BATCH))
        time.sleep(DELAY_MS / 1000 + 0.2)  # let the fake log what was on the wire
        at_kill = collections.Counter(r["headers"].get("x-wegate-delivery")
                                      for r in fake.requests("/hook/slow"))

        # The claimed rows' leases started at their claim, before the kill: what is left of the
        # longest one is how long the restarted worker must leave them alone.
        lease_left = float(db.scalar(
            "select coalesce(extract(epoch from max(locked_until) - now()), 0) "
            "from outbox where status = 'sending'"))
        gw.start()
        t0 = time.monotonic()
        rs = O.wait_rows(db, lambda r: all(x["status"] == "sent" for x in r.values()),
                         "every row sent after the restart", timeout=60)
        took = time.monotonic() - t0
        W.log("all %d sent %.1f s after the restart" % (N, took))
        time.sleep(0.3)
        got = collections.Counter(r["headers"].get("x-wegate-delivery")
                                  for r in fake.requests("/hook/slow"))
        keys = {"kill9-%d" % i for i in range(1, N + 1)}
        c.eq(set(got), keys, "every key delivered (and nothing else)")
        twice = {k for k, n in got.items() if n > 1}
        W.log("delivered twice: %s" % sorted(twice))
        c.eq([k for k, n in got.items() if n > 2], [], "keys delivered more than twice")
        c.eq(sorted(twice - in_flight), [], "keys delivered twice that were not in flight")
        c.eq(sorted(twice & sent_before), [], "rows recorded sent before the kill sent again")
        c.eq(sorted(k for k in in_flight if at_kill[k] == 0 and got[k] > 1), [],
             "in-flight rows the fake never saw before the kill delivered twice")
        c.check(len(twice) <= CONCURRENCY,
                "at most the sends on the wire delivered twice (%d)" % len(twice))
        c.check(all(O.verify_signature(r) for r in fake.requests("/hook/slow")),
                "every delivery signed")
        redelivered = [r for r in rs.values() if r["idempotency_key"] in in_flight]
        c.check(all(r["attempts"] == 2 for r in redelivered),
                "in-flight rows took a second attempt: %r"
                % sorted(r["attempts"] for r in redelivered))
        c.check(not in_flight or took >= lease_left - 0.2,
                "in-flight rows waited for their lease (%.1f s after the restart, %.1f s of lease "
                "left)" % (took, lease_left))
        t.stop_gateway(gw)
    finally:
        O.stop_fake(t, fake)
