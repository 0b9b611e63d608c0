"""Group robot rate limiting end to end (PROTOCOL.md §5: at most 20 messages a minute per robot;
queue, do not drop), with a short "minute" configured (corps[].quotas.minute_ms): 25 notifies
at once -> exactly 20 reach the fake within the first window, the other 5 after it, every one
exactly once; a second robot key has its own quota."""
import time

import test_outbox_lib as O
import wgtest as W

MINUTE_MS = 3000
PER_MINUTE = 20
N = 25

with W.Test("outbox_ratelimit") as t:
    c = t.checks
    fake = O.Fake(t.tmp, extra_args=["--robot-key", "robot-key-2"])
    try:
        channels = {
            "alerts": {"type": "robot", "key": O.ROBOT_KEY, "format": "markdown"},
            "other": {"type": "robot", "key": "robot-key-2", "format": "markdown"},
        }
        corp = O.corp_config(fake, channels=channels,
                             quotas={"robot_per_minute": PER_MINUTE, "minute_ms": MINUTE_MS})
        gw = O.gateway(t, fake, corp=corp, outbox={"poll_ms": 50})
        db = t.db

        # Queue all 25 in one transaction, as an alert burst would (one NOTIFY at commit).
        watch = O.Arrivals(fake, "/cgi-bin/webhook/send")
        values = ",".join("('demo', 'alerts', '', '{\"content\": \"burst %d\"}', 'burst-%d')"
                          % (i, i) for i in range(N))
        db.psql("insert into outbox (corp, channel, target, payload, idempotency_key) values "
                + values)
        t0 = time.monotonic()
        first_window = None
        while time.monotonic() - t0 < 10:
            got = len(fake.requests("/cgi-bin/webhook/send"))
            if got >= PER_MINUTE and first_window is None:
                first_window = time.monotonic() - t0
            if first_window is not None and time.monotonic() - t0 > MINUTE_MS / 1000 * 0.6:
                break
            time.sleep(0.05)
        mid = len(fake.requests("/cgi-bin/webhook/send"))
        W.log("%d robot posts after %.2f s (20 reached at %s s)"
              % (mid, time.monotonic() - t0, first_window))
        c.eq(mid, PER_MINUTE, "robot posts within the first window")
        # A second robot is not held by the first one's quota.
        oid, _ = O.notify(gw, "other", "another robot")
        O.wait_rows(db, lambda r: r.get(oid, {}).get("status") == "sent",
                    "the other robot's message sent during the first robot's hold", timeout=5)
        c.check(time.monotonic() - t0 < MINUTE_MS / 1000,
                "the other robot went out inside the window")

        rs = O.wait_rows(db, lambda r: sum(1 for x in r.values() if x["status"] == "sent") ==
                         N + 1, "every robot message sent", timeout=30)
        took = time.monotonic() - t0
        posts = [r for r in fake.requests("/cgi-bin/webhook/send")
                 if r["query"] == "key=" + O.ROBOT_KEY]
        bodies = sorted(p["body"] for p in posts)
        c.eq(len(posts), N, "posts to the first robot (none dropped)")
        c.eq(len(set(bodies)), N, "distinct messages (none doubled)")
        c.check(took >= MINUTE_MS / 1000, "the last 5 waited for the window (%.2f s)" % took)
        arrivals = watch.stop()  # both robots: 26 posts
        burst = [r for r in rs.values() if r["idempotency_key"].startswith("burst-")]
        c.eq(len(arrivals), N + 1, "posts the watcher saw")
        if arrivals:
            c.check(arrivals[-1] - arrivals[0] >= MINUTE_MS / 1000 - 2 * O.Arrivals.PERIOD,
                    "first and last posts are a window apart (%.2f s)"
                    % (arrivals[-1] - arrivals[0]))
        worst = O.Arrivals.worst_window(arrivals, MINUTE_MS / 1000)
        c.check(worst <= PER_MINUTE + 1, "at most %d posts to the first robot (and 1 to the "
                "other) in any window (worst %d)" % (PER_MINUTE, worst))
        c.eq({r["attempts"] for r in burst}, {1}, "held rows spent one attempt each")
        held = sum(1 for r in burst if (r["last_error"] or "").startswith("held by quota"))
        c.eq(held, N - PER_MINUTE, "rows held by the robot quota")
        t.stop_gateway(gw)
    finally:
        O.stop_fake(t, fake)
