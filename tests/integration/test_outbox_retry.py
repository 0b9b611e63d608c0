"""Outbox retries, dead letters and holds, against fake_wecom over TLS:
- a webhook receiver that always answers 500: retried with backoff, exactly
  max_attempts deliveries, all with the same X-Wegate-Delivery, then dead with last_error
  "gave up after N attempts";
- two 500s then success: sent on the third attempt;
- WeCom's rate-limit answer (45009): held and sent later, the attempt not counted;
- message/send's per-member quota (a short "minute" in the test): messages past it are held
  (next_attempt_at pushed), none lost, and no window ever carries more than the quota;
- an unreachable webhook host (connection refused): retried, then dead."""
import time

import test_outbox_lib as O
import wgtest as W

MAX_ATTEMPTS = 4
MEMBER_PER_MINUTE = 3
MINUTE_MS = 2000

with W.Test("outbox_retry") as t:
    c = t.checks
    fake = O.Fake(t.tmp)
    try:
        dead_port = W.free_port()  # nothing listens there
        channels = {
            "ops": {"type": "wecom_app", "to": "zhangsan"},
            "alerts": {"type": "robot", "key": O.ROBOT_KEY},
            "hook": {"type": "webhook", "url": fake.base + "/hook/wegate",
                     "secret": O.HOOK_SECRET},
            "gone": {"type": "webhook", "url": "https://127.0.0.1:%d/x" % dead_port,
                     "secret": O.HOOK_SECRET},
        }
        corp = O.corp_config(fake, channels=channels,
                             quotas={"member_per_minute": MEMBER_PER_MINUTE,
                                     "minute_ms": MINUTE_MS, "hour_ms": 60000})
        gw = O.gateway(t, fake, corp=corp,
                       outbox={"poll_ms": 50, "max_attempts": MAX_ATTEMPTS,
                               "backoff_min_ms": 200, "backoff_max_ms": 1000})
        db = t.db

        # ---- always 500: dead after MAX_ATTEMPTS ----
        fake.script("/hook/wegate", [{"action": "status", "status": 500, "body": "boom",
                                      "times": MAX_ATTEMPTS}])
        did, dkey = O.notify(gw, "hook", "never lands")
        rs = O.wait_rows(db, lambda r: r.get(did, {}).get("status") == "dead", "dead letter",
                         timeout=30)
        c.eq(rs[did]["attempts"], MAX_ATTEMPTS, "attempts of the dead row")
        c.check((rs[did]["last_error"] or "").startswith("gave up after %d attempts" %
                                                         MAX_ATTEMPTS),
                "dead letter last_error: %r" % rs[did]["last_error"])
        c.check("500" in (rs[did]["last_error"] or ""), "last_error names the 500")
        got = [r for r in fake.requests("/hook/wegate")]
        c.eq(len(got), MAX_ATTEMPTS, "deliveries of the dead row")
        c.eq({r["headers"].get("x-wegate-delivery") for r in got}, {dkey},
             "every attempt carries the same X-Wegate-Delivery")
        c.check(all(O.verify_signature(r) for r in got), "every attempt is signed")
        rc, out, _ = O.wegate(gw, "outbox", "list", "--status", "dead")
        c.check(rc == 0 and ("\n%d\t" % did) in "\n" + out, "the dead row is listed")
        fake.reset()

        # ---- 500, 500, then 200 ----
        fake.script("/hook/wegate", [{"action": "status", "status": 500, "times": 2}])
        tid, tkey = O.notify(gw, "hook", "third time lucky")
        rs = O.wait_rows(db, lambda r: r.get(tid, {}).get("status") == "sent", "sent after 500s")
        c.eq(rs[tid]["attempts"], 3, "attempts of the row sent on the third try")
        c.check("500" in (rs[tid]["last_error"] or ""),
                "a sent row keeps the last failure for operators: %r" % rs[tid]["last_error"])
        c.eq(len(fake.requests("/hook/wegate")), 3, "deliveries of the third-time row")
        fake.reset()

        # ---- 45009 rate limit: held, the attempt not counted ----
        fake.script("/cgi-bin/webhook/send", [{"action": "rate_limit"}])
        lid, _ = O.notify(gw, "alerts", "after the block")
        rs = O.wait_rows(db, lambda r: r.get(lid, {}).get("last_error") is not None,
                         "rate-limited row held", timeout=10)
        c.eq(rs[lid]["status"], "pending", "a rate-limited row waits (pending)")
        c.eq(rs[lid]["attempts"], 0, "a rate-limited attempt is not counted")
        c.check("45009" in rs[lid]["last_error"], "held because of 45009: %r"
                % rs[lid]["last_error"])
        due = float(db.scalar("select extract(epoch from next_attempt_at - now()) from outbox "
                              "where id = %d" % lid))
        c.check(due > 30, "held for about WeCom's minute block (%.1f s)" % due)
        c.eq(len(fake.requests("/cgi-bin/webhook/send")), 1, "robot requests while held")
        db.psql("update outbox set next_attempt_at = now() where id = %d" % lid)  # skip the wait
        rs = O.wait_rows(db, lambda r: r.get(lid, {}).get("status") == "sent",
                         "rate-limited row sent later")
        c.eq(rs[lid]["attempts"], 1, "attempts of the rate-limited row once sent")
        fake.reset()

        # ---- per-member quota: held, none lost ----
        n = 2 * MEMBER_PER_MINUTE + 1
        watch = O.Arrivals(fake, "/cgi-bin/message/send")
        t0 = time.monotonic()
        ids = [O.notify(gw, "ops", "member message %d" % i)[0] for i in range(n)]
        rs = O.wait_rows(db, lambda r: all(r.get(i, {}).get("status") == "sent" for i in ids),
                         "all member messages sent", timeout=30)
        took = time.monotonic() - t0
        arrivals = watch.stop()
        sends = fake.requests("/cgi-bin/message/send")
        c.eq(len(sends), n, "message/send requests (none dropped, none doubled)")
        worst = O.Arrivals.worst_window(arrivals, MINUTE_MS / 1000)
        c.check(worst <= MEMBER_PER_MINUTE, "at most %d sends in any %d ms window (worst %d)"
                % (MEMBER_PER_MINUTE, MINUTE_MS, worst))
        c.check(took >= 2 * MINUTE_MS / 1000 - 0.5,
                "%d messages to one member took at least two quota windows (%.1f s)" % (n, took))
        held = int(db.scalar("select count(*) from outbox where id in (%s) and last_error like "
                             "'held by quota%%'" % ",".join(map(str, ids))))
        c.check(held >= n - MEMBER_PER_MINUTE, "rows held by the quota (%d)" % held)
        c.eq({rs[i]["attempts"] for i in ids}, {1}, "held rows spent one attempt each")

        # ---- connection refused: retried, then dead ----
        gid, _ = O.notify(gw, "gone", "into the void")
        rs = O.wait_rows(db, lambda r: r.get(gid, {}).get("status") == "dead",
                         "unreachable webhook dead", timeout=30)
        c.eq(rs[gid]["attempts"], MAX_ATTEMPTS, "attempts against a closed port")
        c.check("connect" in (rs[gid]["last_error"] or ""),
                "last_error says the connection failed: %r" % rs[gid]["last_error"])
        t.stop_gateway(gw)
    finally:
        O.stop_fake(t, fake)
