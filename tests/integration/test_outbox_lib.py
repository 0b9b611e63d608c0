"""Helpers for the outbox integration tests (test_outbox_*.py; this file is not a test itself):
a throwaway test CA (tests/fakes/make_test_ca.sh), fake_wecom over TLS on loopback (WG_FAKE),
a gateway config with the three kinds of channel, the wegate CLIs, waiting on outbox rows, and
webhook signature checks with the standard library's hmac.

Environment (besides wgtest.py's): WG_FAKE, the fake_wecom binary.
"""

import hashlib
import hmac
import json
import os
import signal
import ssl
import subprocess
import threading
import time
import http.client

import wgtest as W

FAKE = os.environ.get("WG_FAKE") or os.path.join(
    W.REPO, "build", "release", "tests", "fakes", "fake_wecom")
MAKE_CA = os.path.join(W.REPO, "tests", "fakes", "make_test_ca.sh")

AGENT_SECRET = "AppSecret0123456789"
ROBOT_KEY = "robot-key-1"
HOOK_SECRET = "hook-signing-secret"
AGENT_ID = 1000002


class Fake:
    """fake_wecom over TLS; stop() at the end (SIGTERM, waits)."""

    def __init__(self, tmp, extra_args=()):
        self.ca_dir = os.path.join(tmp, "ca")
        if not os.path.exists(os.path.join(self.ca_dir, "ca.pem")):
            subprocess.run(["sh", MAKE_CA, self.ca_dir], check=True)
        self.ca = os.path.join(self.ca_dir, "ca.pem")
        self.log_path = os.path.join(tmp, "fake.log")
        args = [FAKE, "--port", "0", "--bind", "127.0.0.1",
                "--tls-cert", os.path.join(self.ca_dir, "server.pem"),
                "--tls-key", os.path.join(self.ca_dir, "server.key"),
                "--secret", "%s:%s" % (W.DEMO_CORP_ID, AGENT_SECRET),
                "--robot-key", ROBOT_KEY] + list(extra_args)
        self.err = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.err)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("READY"):
            raise W.Abort("fake_wecom did not start: %r" % line)
        fields = dict(kv.split("=") for kv in line.split()[1:])
        self.port = int(fields["port"])
        self.base = "https://127.0.0.1:%d" % self.port
        self.ctx = ssl.create_default_context(cafile=self.ca)

    def call(self, method, path, body=None):
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=30)
        try:
            data = json.dumps(body).encode() if body is not None else None
            conn.request(method, path, body=data,
                         headers={"Content-Type": "application/json"} if data else {})
            resp = conn.getresponse()
            out = resp.read()
            if resp.status != 200:
                raise RuntimeError("fake %s %s: %d %r" % (method, path, resp.status, out[:200]))
            return json.loads(out) if out else None
        finally:
            conn.close()

    def requests(self, path=None):
        reqs = self.call("GET", "/_fake/requests")
        return [r for r in reqs if path is None or r["path"] == path]

    def script(self, path, actions):
        self.call("POST", "/_fake/script", {"path": path, "actions": actions})

    def reset(self):
        self.call("POST", "/_fake/reset", {})

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.err.close()
        return self.proc.returncode


class Arrivals:
    """Watches fake_wecom's request log from a thread (every 20 ms) and notes when each request
    to path first appeared: the times requests reached the fake, give or take the period (the
    fake's log has no times; sent_at in the table is when the outcome was recorded)."""

    PERIOD = 0.02

    def __init__(self, fake, path):
        self.fake, self.path = fake, path
        self.times = []
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop_flag.is_set():
            try:
                n = len(self.fake.requests(self.path))
            except (OSError, RuntimeError, ValueError):
                n = len(self.times)
            now = time.monotonic()
            while len(self.times) < n:
                self.times.append(now)
            time.sleep(self.PERIOD)

    def stop(self):
        self.stop_flag.set()
        self.thread.join(10)
        return list(self.times)

    @staticmethod
    def worst_window(times, window_s):
        """The most arrivals in any window of window_s seconds, less the watch period."""
        w = window_s - 2 * Arrivals.PERIOD
        return max((sum(1 for x in times if s <= x < s + w) for s in times), default=0)


def corp_config(fake, channels=None, **over):
    corp = {
        "name": "demo",
        "corp_id": W.DEMO_CORP_ID,
        "token": W.DEMO_TOKEN,
        "encoding_aes_key": W.DEMO_AES_KEY,
        "agent_id": AGENT_ID,
        "agent_secret": AGENT_SECRET,
        "api_base": fake.base,
        "channels": channels if channels is not None else {
            "ops": {"type": "wecom_app", "to": "zhangsan|lisi", "format": "markdown"},
            "alerts": {"type": "robot", "key": ROBOT_KEY, "format": "text"},
            "hook": {"type": "webhook", "url": fake.base + "/hook/wegate",
                     "secret": HOOK_SECRET},
        },
    }
    corp.update(over)
    return corp


def gateway(t, fake, outbox=None, corp=None, http_client=None, start=True, **over):
    """A gateway of test t whose corp demo sends to fake (one HTTP worker: the outbox is what is
    under test)."""
    hc = {"ca_file": fake.ca, "connect_timeout_ms": 1000, "response_timeout_ms": 3000}
    hc.update(http_client or {})
    ob = {"poll_ms": 200, "backoff_min_ms": 200, "backoff_max_ms": 2000, "lease_ms": 10000}
    ob.update(outbox or {})
    return t.gateway(start=start, workers=1, outbox=ob, http_client=hc,
                     corps=[corp or corp_config(fake)], **over)


def wegate(gw, *args, timeout=60):
    """Runs a wegate CLI with the gateway's config: (exit code, stdout, stderr)."""
    r = subprocess.run([W.BIN] + list(args) + ["--config", gw.cfg_path], capture_output=True,
                       text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def notify(gw, channel, text, *extra):
    rc, out, err = wegate(gw, "notify", "--corp", "demo", "--channel", channel, "--text", text,
                          *extra)
    if rc != 0:
        raise W.Abort("wegate notify failed (%d): %s" % (rc, err))
    # "queued outbox row ID (key K)"
    words = out.split()
    return int(words[3]), words[5].rstrip(")")


def rows(db, where="true"):
    """{id: dict} of outbox rows."""
    cols = ["id", "corp", "channel", "target", "payload", "idempotency_key", "status",
            "attempts", "last_error", "sent_ms"]
    out = {}
    for r in db.psql("select id, corp, channel, target, payload::text, idempotency_key, status, "
                     "attempts, last_error, "
                     "(extract(epoch from sent_at) * 1000)::bigint from outbox where %s "
                     "order by id" % where):
        d = dict(zip(cols, r))
        d["id"] = int(d["id"])
        d["attempts"] = int(d["attempts"])
        d["sent_ms"] = int(d["sent_ms"]) if d["sent_ms"] is not None else None
        out[d["id"]] = d
    return out


def wait_rows(db, cond, what, timeout=30, where="true"):
    """Polls until cond(rows) is true; returns the rows (raises Abort on timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        rs = rows(db, where)
        if cond(rs):
            return rs
        if time.monotonic() > deadline:
            raise W.Abort("timed out after %d s waiting for %s; rows: %r"
                          % (timeout, what, {i: (r["status"], r["attempts"], r["last_error"])
                                              for i, r in rs.items()}))
        time.sleep(0.05)


def verify_signature(req, secret=HOOK_SECRET):
    """The X-Wegate-Signature check a receiver does: v1=hex(HMAC-SHA256(secret, ts + "." +
    body)), compared in constant time."""
    h = req["headers"]
    ts = h.get("x-wegate-timestamp", "")
    sig = h.get("x-wegate-signature", "")
    want = "v1=" + hmac.new(secret.encode(), (ts + "." + req["body"]).encode(),
                            hashlib.sha256).hexdigest()
    return ts.isdigit() and hmac.compare_digest(sig, want)


def stop_fake(t, fake):
    rc = fake.stop()
    t.checks.eq(rc, 0, "fake_wecom exit code")
