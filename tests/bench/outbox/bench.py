"""Outbox benchmark (issue 6), driven by run.sh: notifications per second from committed outbox
rows to fake_wecom's receipt (webhook channel, loopback TLS with certificate verification on,
keep-alive), beside wrk posting the same body with the same headers to the same fake in the same
run. Every delivery is then checked: each key exactly once (zero duplicates), every signature
valid (HMAC-SHA256, verified here with Python's hmac).

Environment: WG_BUILD (Release build dir), WG_TEST_PG_DIR, WG_TEST_PG_PORT; knobs BENCH_ROWS
(20000), BENCH_RUNS (5), BENCH_CONCURRENCY (16: outbox sends in flight and wrk connections),
BENCH_BATCH (128: outbox.batch), BENCH_WRK_SECS (5), BENCH_WRK_THREADS (1), BENCH_LOG_LEVEL
(warn), BENCH_KEEP (keep the temporary folder).
Exit status: 1 on a lost or doubled delivery, a bad signature or a setup failure; a missed goal
is reported, not failed."""
import collections
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
BUILD = os.environ["WG_BUILD"]
WEGATE = os.path.join(BUILD, "gateway", "wegate")
FAKE = os.path.join(BUILD, "tests", "fakes", "fake_wecom")
PG_DIR, PG_PORT = os.environ["WG_TEST_PG_DIR"], int(os.environ["WG_TEST_PG_PORT"])
ROWS = int(os.environ.get("BENCH_ROWS", "20000"))
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
CONC = int(os.environ.get("BENCH_CONCURRENCY", "16"))
BATCH = int(os.environ.get("BENCH_BATCH", "128"))
WRK_SECS = int(os.environ.get("BENCH_WRK_SECS", "5"))
WRK_THREADS = int(os.environ.get("BENCH_WRK_THREADS", "1"))
SECRET = "bench-signing-secret"
CORP_ID = "wx5823bf96d3bd56c7"
# A typical alert: rule, severity, who said what to whom (about 400 bytes).
PAYLOAD = {"alert": {"id": 1234567, "rule": "contact-exchange", "severity": "warning",
                     "corp": "demo", "employee": "zhangsan", "customer": "wmXXXXXXXXXXXXXXXXXX",
                     "chat": "single", "msgtime": 1700000000000,
                     "excerpt": "加我微信 wx_123456 我们私下聊",
                     "link": "https://wegate.example.com/console/alerts/1234567"},
           "msgtype": "alert"}


def log(msg):
    print(msg, flush=True)


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def psql(db, sql):
    r = subprocess.run([shutil.which("psql") or "psql", "-X", "-q", "-A", "-t", "-v",
                        "ON_ERROR_STOP=1", "-d",
                        "postgresql://wegate@127.0.0.1:%d/%s" % (PG_PORT, db), "-c", sql],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise SystemExit("psql: %s\n%s" % (sql, r.stderr))
    return r.stdout.strip()


class Fake:
    def __init__(self, tmp):
        ca = os.path.join(tmp, "ca")
        subprocess.run(["sh", os.path.join(ROOT, "tests", "fakes", "make_test_ca.sh"), ca],
                       check=True)
        self.ca = os.path.join(ca, "ca.pem")
        self.proc = subprocess.Popen(
            [FAKE, "--port", "0", "--bind", "127.0.0.1", "--tls-cert",
             os.path.join(ca, "server.pem"), "--tls-key", os.path.join(ca, "server.key")],
            stdout=subprocess.PIPE, stderr=open(os.path.join(tmp, "fake.log"), "ab"))
        line = self.proc.stdout.readline().decode()
        if not line.startswith("READY"):
            raise SystemExit("fake_wecom did not start: %r" % line)
        self.port = int(re.search(r"port=(\d+)", line).group(1))
        self.ctx = ssl.create_default_context(cafile=self.ca)
        self.conn = None

    def call(self, method, path, body=None):
        for _ in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection("127.0.0.1", self.port,
                                                        context=self.ctx, timeout=120)
            try:
                self.conn.request(method, path, body=body)
                r = self.conn.getresponse()
                data = r.read()
                return json.loads(data) if data else None
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
        raise SystemExit("fake_wecom control request failed: %s %s" % (method, path))

    def stats(self):
        return self.call("GET", "/_fake/stats")

    def stop(self):
        if self.conn:
            self.conn.close()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)


def machine_busy():
    """(busy, total) ticks of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


def busy_pct(a, b):
    return 100.0 * (b[0] - a[0]) / max(1, b[1] - a[1]) * os.cpu_count()


def pg_ticks():
    """CPU ticks of the PostgreSQL server and its live backends (the gateway's connections
    persist through a run)."""
    try:
        with open(os.path.join(PG_DIR, "data", "postmaster.pid")) as f:
            master = int(f.readline())
        kids = subprocess.run(["pgrep", "-P", str(master)], capture_output=True,
                              text=True).stdout.split()
    except (OSError, ValueError):
        return 0
    total = 0
    for pid in [master] + [int(k) for k in kids]:
        try:
            total += cpu_ticks(pid)
        except OSError:
            pass
    return total


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def run_outbox(fake, db, cfg_path, run):
    """Inserts ROWS rows in one committed transaction; seconds until the fake has them all."""
    fake.call("POST", "/_fake/reset")
    psql(db, "truncate outbox")
    body = json.dumps(PAYLOAD, ensure_ascii=False)[:-1].replace("'", "''")
    st = fake.stats()
    base, conns0 = st["requests"], st["connections"]
    t0 = time.monotonic()
    psql(db, "insert into outbox (corp, channel, payload, idempotency_key) "
             "select 'demo', 'hook', ('%s, \"n\": ' || i || '}')::json, "
             "'bench-%d-' || i from generate_series(1, %d) i" % (body, run, ROWS))
    t_commit = time.monotonic()
    while True:
        got = fake.stats()["requests"] - base
        if got >= ROWS:
            break
        if time.monotonic() - t_commit > 300:
            raise SystemExit("outbox: only %d of %d delivered after 300 s" % (got, ROWS))
        time.sleep(0.02)
    t1 = time.monotonic()
    return t1 - t_commit, t_commit - t0, fake.stats()["connections"] - conns0


def check_deliveries(fake, db, run):
    reqs = [r for r in fake.call("GET", "/_fake/requests") if r["path"] == "/hook/bench"]
    keys = collections.Counter(r["headers"].get("x-wegate-delivery") for r in reqs)
    bad_sig = 0
    for r in reqs:
        h = r["headers"]
        want = "v1=" + hmac.new(SECRET.encode(), (h["x-wegate-timestamp"] + "." +
                                                  r["body"]).encode(),
                                hashlib.sha256).hexdigest()
        if not hmac.compare_digest(h.get("x-wegate-signature", ""), want):
            bad_sig += 1
    want_keys = {"bench-%d-%d" % (run, i) for i in range(1, ROWS + 1)}
    dup = sum(n - 1 for n in keys.values() if n > 1)
    missing = len(want_keys - set(keys))
    sent = int(psql(db, "select count(*) from outbox where status = 'sent'"))
    return len(reqs), dup, missing, bad_sig, sent


def run_wrk(fake, tmp):
    """wrk posting the same body and headers as the outbox sends (its first request of the
    last run)."""
    sample = [r for r in fake.call("GET", "/_fake/requests") if r["path"] == "/hook/bench"][0]
    lua = os.path.join(tmp, "post.lua")
    with open(lua, "w") as f:
        f.write("wrk.method = 'POST'\nwrk.body = %s\n" % json.dumps(sample["body"]))
        for k in ("content-type", "x-wegate-timestamp", "x-wegate-signature",
                  "x-wegate-delivery", "user-agent"):
            f.write("wrk.headers[%s] = %s\n" % (json.dumps(k), json.dumps(sample["headers"][k])))
    fake.call("POST", "/_fake/reset")
    r = subprocess.run(["wrk", "-t", str(WRK_THREADS), "-c", str(CONC), "-d", "%ds" % WRK_SECS,
                        "-s", lua, "https://127.0.0.1:%d/hook/bench" % fake.port],
                       capture_output=True, text=True, timeout=WRK_SECS + 60)
    m = re.search(r"Requests/sec:\s+([\d.]+)", r.stdout)
    if r.returncode != 0 or not m:
        raise SystemExit("wrk failed:\n%s%s" % (r.stdout, r.stderr))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", r.stdout)
    return float(m.group(1)), int(non2xx.group(1)) if non2xx else 0


def main():
    for b in (WEGATE, FAKE):
        if not os.access(b, os.X_OK):
            raise SystemExit("bench.py: %s missing: build %s first" % (b, BUILD))
    if not shutil.which("wrk"):
        raise SystemExit("bench.py: wrk missing (deploy/deps.sh bench)")
    tmp = tempfile.mkdtemp(prefix="wegate-bench-outbox-")
    db = "wgb_outbox_%d" % os.getpid()
    subprocess.run(["bash", os.path.join(ROOT, "deploy", "pg.sh"), "createdb", PG_DIR,
                    str(PG_PORT), db], check=True)
    fake = Fake(tmp)
    gw = None
    status = 0
    try:
        port = free_port()
        cfg = {
            "listen": "127.0.0.1:%d" % port, "workers": 1, "log_level": os.environ.get("BENCH_LOG_LEVEL", "warn"),
            "database": {"url": "postgresql://wegate@127.0.0.1:%d/%s" % (PG_PORT, db)},
            "outbox": {"poll_ms": 500, "batch": BATCH, "concurrency": CONC},
            "http_client": {"ca_file": fake.ca},
            "corps": [{"name": "demo", "corp_id": CORP_ID, "token": "QDG6eK",
                       "encoding_aes_key": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
                       "channels": {"hook": {"type": "webhook",
                                             "url": "https://127.0.0.1:%d/hook/bench" % fake.port,
                                             "secret": SECRET}}}],
        }
        cfg_path = os.path.join(tmp, "wegate.json")
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        subprocess.run([WEGATE, "migrate", "--config", cfg_path], check=True,
                       stdout=subprocess.DEVNULL)
        gw = subprocess.Popen([WEGATE, "serve", "--config", cfg_path],
                              stderr=open(os.path.join(tmp, "gateway.log"), "ab"))
        time.sleep(1.0)
        if gw.poll() is not None:
            raise SystemExit("wegate serve exited at start")
        hz = os.sysconf("SC_CLK_TCK")
        # Each outbox run is paired with a wrk run right after it: the two cores are shared
        # (PostgreSQL, the fake, the gateway or wrk), so the ratio of a pair is what compares.
        pairs = []
        for run in range(1, RUNS + 1):
            c0, f0, m0 = cpu_ticks(gw.pid), cpu_ticks(fake.proc.pid), machine_busy()
            p0 = pg_ticks()
            secs, insert_secs, conns = run_outbox(fake, db, cfg_path, run)
            c1, f1, m1 = cpu_ticks(gw.pid), cpu_ticks(fake.proc.pid), machine_busy()
            p1 = pg_ticks()
            n, dup, missing, bad_sig, sent = check_deliveries(fake, db, run)
            rate = ROWS / secs
            log("outbox run %d: %d rows (inserted in %.2f s) delivered in %.2f s = %.0f notif/s; "
                "TLS connections %d; CPU: gateway %.0f%%, fake %.0f%%, PostgreSQL %.0f%%, machine "
                "%.0f%% of %d00%%; received %d, duplicates %d, missing %d, bad signatures %d, "
                "rows sent %d"
                % (run, ROWS, insert_secs, secs, rate, conns, 100.0 * (c1 - c0) / hz / secs,
                   100.0 * (f1 - f0) / hz / secs, 100.0 * (p1 - p0) / hz / secs,
                   busy_pct(m0, m1), os.cpu_count(), n, dup, missing, bad_sig, sent))
            if dup or missing or bad_sig or n != ROWS:
                status = 1
            f0, m0 = cpu_ticks(fake.proc.pid), machine_busy()
            wrk_rate, non2xx = run_wrk(fake, tmp)
            f1, m1 = cpu_ticks(fake.proc.pid), machine_busy()
            log("wrk run %d: %.0f req/s (%d threads, %d connections, %d s; CPU: fake %.0f%%, "
                "machine %.0f%%; non-2xx %d)"
                % (run, wrk_rate, WRK_THREADS, CONC, WRK_SECS, 100.0 * (f1 - f0) / hz / WRK_SECS,
                   busy_pct(m0, m1), non2xx))
            pairs.append((rate, wrk_rate))
        ratios = sorted(r / w for r, w in pairs)
        med = ratios[len(ratios) // 2]
        rates = sorted(r for r, _ in pairs)
        wrks = sorted(w for _, w in pairs)
        log("RESULT outbox %.0f notif/s (median of %d runs; best %.0f; outbox.batch %d, "
            "concurrency %d) vs wrk %.0f req/s (median) = %.0f%% (median of the paired ratios; "
            "goal >= 50%%): %s; %d notifications, duplicates %s, signatures %s"
            % (rates[len(rates) // 2], RUNS, rates[-1], BATCH, CONC, wrks[len(wrks) // 2],
               100 * med,
               "met" if med >= 0.5 else "MISSED", RUNS * ROWS,
               "none" if status == 0 else "FOUND", "all valid" if status == 0 else "CHECK"))
    finally:
        if gw is not None and gw.poll() is None:
            gw.send_signal(signal.SIGTERM)
            gw.wait(60)
        fake.stop()
        subprocess.run([shutil.which("psql") or "psql", "-X", "-q", "-d",
                        "postgresql://wegate@127.0.0.1:%d/postgres" % PG_PORT, "-c",
                        "drop database if exists %s with (force)" % db],
                       capture_output=True)
        if os.environ.get("BENCH_KEEP"):
            log("kept: %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
