"""The outbox end to end through each channel: `wegate notify` queues a row, the gateway's
background loop delivers it to fake_wecom over TLS (the test CA as http_client.ca_file), woken by
NOTIFY (poll_ms is a minute here, so nothing rides on the timer):
- webhook: X-Wegate-Signature verified with Python's hmac, X-Wegate-Delivery = the key;
- robot: webhook/send with the key, text and mentioned_list;
- wecom_app: gettoken once for many sends, message/send markdown and textcard;
- the idempotency key: a second notify with the same key queues nothing;
- a configuration fault (robot key rejected, 93000) and a refused webhook (400) are dead at
  once with a clear last_error; `wegate outbox retry` re-queues the dead row, which is then sent;
- `wegate outbox list/retry` and `wegate notify` output and exit codes;
- `wegate rules push-intercept`: the export reaches add_intercept_rule once (a second push finds
  the rules by name and adds nothing)."""
import json
import os
import subprocess
import threading
import time

import test_outbox_lib as O
import wgtest as W

with W.Test("outbox_channels") as t:
    c = t.checks
    fake = O.Fake(t.tmp)
    try:
        gw = O.gateway(t, fake, outbox={"poll_ms": 60000})
        db = t.db

        # ---- webhook: signed, keyed, delivered at once (NOTIFY) ----
        t0 = time.monotonic()
        hid, hkey = O.notify(gw, "hook", "hello hook")
        rs = O.wait_rows(db, lambda r: r.get(hid, {}).get("status") == "sent", "webhook sent",
                         timeout=10)
        took = time.monotonic() - t0
        W.log("webhook delivered in %.2f s" % took)
        c.check(took < 5, "webhook delivered within 5 s with poll_ms 60000 (NOTIFY): %.2f s" % took)
        c.eq(rs[hid]["attempts"], 1, "webhook attempts")
        hooks = fake.requests("/hook/wegate")
        c.eq(len(hooks), 1, "webhook requests received")
        if hooks:
            h = hooks[0]
            c.check(O.verify_signature(h), "X-Wegate-Signature verifies: %r" % h["headers"])
            tampered = dict(h, body=h["body"] + " ")
            c.check(not O.verify_signature(tampered), "a changed body does not verify")
            c.check(not O.verify_signature(h, secret="other"), "another secret does not verify")
            c.eq(h["headers"].get("x-wegate-delivery"), hkey, "X-Wegate-Delivery is the key")
            c.eq(json.loads(h["body"]), {"msgtype": "text", "content": "hello hook"},
                 "webhook body")
            c.eq(h["headers"].get("content-type"), "application/json", "webhook content type")
            ts = int(h["headers"].get("x-wegate-timestamp", "0"))
            c.check(abs(ts - time.time()) < 60, "X-Wegate-Timestamp is now: %d" % ts)

        # ---- robot ----
        rid, _ = O.notify(gw, "alerts", "robot says hi", "--to", "zhangsan|lisi")
        O.wait_rows(db, lambda r: r.get(rid, {}).get("status") == "sent", "robot sent")
        robots = fake.requests("/cgi-bin/webhook/send")
        c.eq(len(robots), 1, "robot requests")
        if robots:
            c.eq(robots[0]["query"], "key=" + O.ROBOT_KEY, "robot key in the query")
            c.eq(json.loads(robots[0]["body"]),
                 {"msgtype": "text", "text": {"content": "robot says hi",
                                              "mentioned_list": ["zhangsan", "lisi"]}},
                 "robot body")

        # ---- wecom_app: one token for many sends ----
        aid, _ = O.notify(gw, "ops", "**disk** full")
        O.wait_rows(db, lambda r: r.get(aid, {}).get("status") == "sent", "app message sent")
        ids = []
        lock = threading.Lock()

        def one(i):
            nid, _ = O.notify(gw, "ops", "burst %d" % i, "--to", "user%d" % i)
            with lock:
                ids.append(nid)
        threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        O.wait_rows(db, lambda r: all(r.get(i, {}).get("status") == "sent" for i in ids),
                    "burst of app messages sent")
        c.eq(len(fake.requests("/cgi-bin/gettoken")), 1, "gettoken requests for 7 app messages")
        sends = fake.requests("/cgi-bin/message/send")
        c.eq(len(sends), 7, "message/send requests")
        if sends:
            b = json.loads(sends[0]["body"])
            c.eq((b.get("msgtype"), b.get("touser"), b.get("agentid"), b.get("markdown")),
                 ("markdown", "zhangsan|lisi", O.AGENT_ID, {"content": "**disk** full"}),
                 "message/send body")
            c.eq(sorted(json.loads(s["body"])["touser"] for s in sends[1:]),
                 sorted("user%d" % i for i in range(6)), "--to recipients of the burst")

        tid, _ = O.notify(gw, "ops", "the description", "--format", "textcard", "--title",
                          "Alert", "--url", "https://example.com/a/1", "--btntxt", "Open")
        O.wait_rows(db, lambda r: r.get(tid, {}).get("status") == "sent", "textcard sent")
        last = fake.requests("/cgi-bin/message/send")[-1]
        c.eq(json.loads(last["body"]).get("textcard"),
             {"title": "Alert", "description": "the description", "url": "https://example.com/a/1",
              "btntxt": "Open"}, "textcard body")

        # ---- idempotency key ----
        rc1, out1, _ = O.wegate(gw, "notify", "--corp", "demo", "--channel", "hook", "--text",
                                "once", "--key", "alert-42")
        rc2, out2, _ = O.wegate(gw, "notify", "--corp", "demo", "--channel", "hook", "--text",
                                "once again", "--key", "alert-42")
        c.eq((rc1, rc2), (0, 0), "notify exit codes with the same key twice")
        c.check(out2.startswith("already queued with key alert-42"), "second notify: %r" % out2)
        O.wait_rows(db, lambda r: any(x["idempotency_key"] == "alert-42" and
                                      x["status"] == "sent" for x in r.values()), "keyed sent")
        c.eq(int(db.scalar("select count(*) from outbox where idempotency_key = 'alert-42'")), 1,
             "rows with key alert-42")
        time.sleep(0.3)
        keyed = [r for r in fake.requests("/hook/wegate")
                 if r["headers"].get("x-wegate-delivery") == "alert-42"]
        c.eq(len(keyed), 1, "deliveries with key alert-42")

        # ---- configuration fault: dead at once, then retry ----
        fake.script("/cgi-bin/webhook/send",
                    [{"action": "errcode", "errcode": 93000, "errmsg": "invalid webhook url"}])
        did, _ = O.notify(gw, "alerts", "to a robot with a bad key")
        rs = O.wait_rows(db, lambda r: r.get(did, {}).get("status") == "dead", "robot dead")
        c.eq(rs[did]["attempts"], 1, "attempts of the dead robot row (no retry loop)")
        c.check("configuration" in (rs[did]["last_error"] or "") and
                "93000" in (rs[did]["last_error"] or ""),
                "last_error names the configuration fault: %r" % rs[did]["last_error"])
        rc, out, err = O.wegate(gw, "outbox", "list", "--status", "dead")
        c.eq(rc, 0, "outbox list --status dead exit code")
        lines = out.splitlines()
        c.check(lines and lines[0].startswith("id\tcorp\tchannel\ttarget\tstatus"),
                "outbox list header: %r" % lines[:1])
        c.eq([ln.split("\t")[0] for ln in lines[1:]], [str(did)], "dead rows listed")
        if len(lines) > 1:
            f = lines[1].split("\t")
            c.eq((f[1], f[2], f[4], f[5]), ("demo", "alerts", "dead", "1"), "dead row fields")
            c.check("93000" in f[9], "last_error column: %r" % f[9])
        rc, out, err = O.wegate(gw, "outbox", "retry", str(did))
        c.eq(rc, 0, "outbox retry of the dead row: exit code (%s)" % err.strip())
        c.check(("outbox row %d re-queued (was dead)" % did) in out, "retry output: %r" % out)
        rs = O.wait_rows(db, lambda r: r.get(did, {}).get("status") == "sent",
                         "retried row sent", timeout=10)
        c.eq(rs[did]["attempts"], 1, "attempts after retry (counted afresh)")

        # ---- a webhook receiver refusing the delivery (4xx): dead, not retried ----
        fake.script("/hook/wegate", [{"action": "status", "status": 400, "body": "no"}])
        pid, pkey = O.notify(gw, "hook", "refused")
        rs = O.wait_rows(db, lambda r: r.get(pid, {}).get("status") == "dead", "webhook dead")
        c.check("refused" in (rs[pid]["last_error"] or ""),
                "last_error of a 400: %r" % rs[pid]["last_error"])
        time.sleep(0.5)
        c.eq(len([r for r in fake.requests("/hook/wegate")
                  if r["headers"].get("x-wegate-delivery") == pkey]), 1,
             "deliveries of the refused row")

        # ---- rules push-intercept: the export goes to WeCom once ----
        export = subprocess.run([W.BIN, "rules", "export-intercept",
                                 os.path.join(W.REPO, "deploy", "rules", "default.json")],
                                capture_output=True, text=True, timeout=60)
        c.require(export.returncode == 0 and export.stdout.strip(),
                  "rules export-intercept: %s" % export.stderr)
        bodies = [json.loads(ln) for ln in export.stdout.splitlines() if ln.strip()]
        jsonl = os.path.join(t.tmp, "intercept.jsonl")
        with open(jsonl, "w") as f:
            f.write(export.stdout)
        probe = subprocess.run([W.BIN, "rules", "push-intercept", "--help"],
                               capture_output=True, text=True)
        push = ([W.BIN, "rules", "push-intercept"] if probe.returncode == 0
                else [os.environ.get("WG_PUSH", "outbox_push_intercept"), "push-intercept"])
        W.log("push-intercept through %s" % " ".join(push[:2]))

        def run_push(*args):
            r = subprocess.run(push + list(args) + ["--config", gw.cfg_path],
                               capture_output=True, text=True, timeout=60)
            return r.returncode, r.stdout, r.stderr
        rc, out, err = run_push("--corp", "demo", jsonl)
        c.eq(rc, 0, "push-intercept exit code (%s)" % err.strip())
        lines = [ln.split("\t") for ln in out.splitlines()]
        c.eq([(ln[0], ln[1]) for ln in lines], [("added", b["rule_name"]) for b in bodies],
             "push-intercept output")
        adds = fake.requests("/cgi-bin/externalcontact/add_intercept_rule")
        c.eq([json.loads(a["body"]) for a in adds], bodies, "add_intercept_rule bodies")
        rc, out, _ = run_push("--corp", "demo", jsonl)
        c.eq((rc, {ln.split("\t")[0] for ln in out.splitlines()}), (0, {"exists"}),
             "a second push adds nothing")
        c.eq(len(fake.requests("/cgi-bin/externalcontact/add_intercept_rule")), len(bodies),
             "add_intercept_rule requests after the second push")
        rc, _, err = run_push("--corp", "nope", jsonl)
        c.eq(rc, 1, "push-intercept to an unknown corp: exit code")
        bad = os.path.join(t.tmp, "bad.jsonl")
        with open(bad, "w") as f:
            f.write('{"rule_name": "x", "word_list": [], "intercept_type": 1}\n')
        rc, _, err = run_push("--corp", "demo", bad)
        c.check(rc == 1 and "bad.jsonl:1: word_list" in err, "a bad line is named: %r" % err)

        # ---- CLI errors ----
        rc, _, err = O.wegate(gw, "outbox", "retry", str(hid))
        c.eq(rc, 1, "retry of a sent row: exit code")
        c.check("never sent again" in err, "retry of a sent row says why: %r" % err)
        rc, _, err = O.wegate(gw, "outbox", "retry", "987654321")
        c.eq(rc, 1, "retry of a missing row: exit code")
        c.check("no outbox row 987654321" in err, "missing row message: %r" % err)
        rc, _, _ = O.wegate(gw, "outbox", "retry", "abc")
        c.eq(rc, 2, "retry with a bad id: exit code")
        rc, _, _ = O.wegate(gw, "outbox", "list", "--status", "bogus")
        c.eq(rc, 2, "list --status bogus: exit code")
        rc, _, err = O.wegate(gw, "notify", "--corp", "demo", "--channel", "nope", "--text", "x")
        c.eq(rc, 1, "notify on an unknown channel: exit code")
        c.check("no channel 'nope'" in err, "unknown channel message: %r" % err)
        rc, _, _ = O.wegate(gw, "notify", "--corp", "demo", "--channel", "hook")
        c.eq(rc, 2, "notify without --text: exit code")
        rc, _, err = O.wegate(gw, "notify", "--corp", "demo", "--channel", "alerts",
                              "--text", "x" * 3000, "--format", "text")
        c.eq(rc, 1, "notify with a too long robot text: exit code")
        rc, out, _ = O.wegate(gw, "outbox", "list")
        n_rows = int(db.scalar("select count(*) from outbox"))
        c.eq((rc, len(out.splitlines()) - 1), (0, n_rows), "outbox list: exit code and rows")
        rc, out, _ = O.wegate(gw, "outbox", "list", "--status", "sent", "--limit", "2")
        c.eq((rc, len(out.splitlines()) - 1), (0, 2), "outbox list --limit 2")
        c.eq(int(db.scalar("select count(*) from outbox where status not in ('sent', 'dead')")),
             0, "rows neither sent nor dead at the end")
        t.stop_gateway(gw)
    finally:
        O.stop_fake(t, fake)
