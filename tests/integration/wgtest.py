"""Shared helpers for wegate's integration tests (Python 3 standard library only).

Each test script is one ctest. It gets its own database (on the shared cluster that
deploy/test.sh exports as WG_TEST_PG_URL / WG_TEST_PG_DIR / WG_TEST_PG_PORT, or on a private
cluster started here when those are unset or when the test stops or kills PostgreSQL), writes a
config, runs `wegate serve` on a free loopback port, drives it over HTTP and checks the rows
with psql. Callbacks are built by gen_callbacks (WG_GEN), a C program linked with wg_crypto.

Environment: WG_BIN (the wegate binary), WG_GEN (gen_callbacks), WG_REPO (the repository root),
WG_TEST_KEEP=1 keeps the temporary folder (config, gateway log) for a look afterwards.
"""

import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse

REPO = os.environ.get("WG_REPO") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("WG_BIN") or os.path.join(REPO, "build", "release", "gateway", "wegate")
GEN = os.environ.get("WG_GEN") or os.path.join(
    REPO, "build", "release", "tests", "integration", "gen_callbacks")
DATA = os.path.join(REPO, "tests", "data", "integration")
PG_SH = os.path.join(REPO, "deploy", "pg.sh")

# The official test-vector corp (PROTOCOL.md §1).
DEMO_CORP_ID = "wx5823bf96d3bd56c7"
DEMO_TOKEN = "QDG6eK"
DEMO_AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
# A named receiver of the demo corp (the contacts-sync assistant) with its own token and key.
CONTACTS_TOKEN = "ContactsSync2024"
CONTACTS_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"

OFFICIAL_GET = {
    "msg_signature": "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3",
    "timestamp": "1409659589",
    "nonce": "263014780",
    "echostr": "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==",
    "plaintext": "1616140317555161061",
}
OFFICIAL_POST = {
    "msg_signature": "477715d11cdb4164915debcba66cb864d751f3e6",
    "timestamp": "1409659813",
    "nonce": "1372623149",
    "encrypt": "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==",
    "plaintext": "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n"
                 "<FromUserName><![CDATA[mycreate]]></FromUserName>\n"
                 "<CreateTime>1409659813</CreateTime>\n"
                 "<MsgType><![CDATA[text]]></MsgType>\n"
                 "<Content><![CDATA[hello]]></Content>\n"
                 "<MsgId>4561255354251345929</MsgId>\n"
                 "<AgentID>218</AgentID>\n"
                 "</xml>",
}

CALLBACK = "/wecom/demo/callback"
CONTACTS_CALLBACK = "/wecom/demo/contacts/callback"


# ---------------------------------------------------------------------------------------------
# Checks: a test records every failed check, goes on where that makes sense, and exits 1.

class Checks:
    def __init__(self, name):
        self.name = name
        self.failed = []
        self.passed = 0

    def check(self, cond, what):
        if cond:
            self.passed += 1
        else:
            self.failed.append(what)
            print("FAIL: " + what, flush=True)
        return bool(cond)

    def eq(self, got, want, what):
        return self.check(got == want, "%s: got %r, want %r" % (what, got, want))

    def require(self, cond, what):
        """A check whose failure makes the rest of the test meaningless."""
        if not self.check(cond, what):
            raise Abort(what)


class Abort(Exception):
    pass


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _pg_bindir():
    try:
        return subprocess.check_output(["pg_config", "--bindir"], text=True).strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def pg_tool(name):
    path = shutil.which(name)
    if path:
        return path
    cand = os.path.join(_pg_bindir(), name)
    if os.path.exists(cand):
        return cand
    raise RuntimeError("%s not found (PATH or pg_config --bindir)" % name)


# ---------------------------------------------------------------------------------------------
# PostgreSQL

class Cluster:
    """The shared cluster of deploy/test.sh, or a private one (init, start, stop, kill)."""

    def __init__(self, dir, port, private):
        self.dir = dir
        self.port = port
        self.private = private

    @classmethod
    def shared_or_private(cls, tmp):
        d, p = os.environ.get("WG_TEST_PG_DIR"), os.environ.get("WG_TEST_PG_PORT")
        if d and p:
            return cls(d, int(p), False)
        log("WG_TEST_PG_* not set: starting a private PostgreSQL cluster")
        return cls.start_private(tmp)

    @classmethod
    def start_private(cls, tmp):
        # The postgres user (pg.sh runs the server as postgres when we are root) must reach it.
        d = tempfile.mkdtemp(prefix="wegate-integ-pg-", dir="/tmp")
        os.chmod(d, 0o755)
        c = cls(d, free_port(), True)
        subprocess.run(["bash", PG_SH, "init", d], check=True)
        c.start()
        return c

    def start(self):
        subprocess.run(["bash", PG_SH, "start", self.dir, str(self.port)], check=True)

    def stop(self):
        assert self.private, "never stop the shared cluster"
        subprocess.run(["bash", PG_SH, "stop", self.dir], check=True)

    def kill(self):
        """Immediate shutdown: crash-like, WAL replays at the next start."""
        assert self.private, "never kill the shared cluster"
        subprocess.run(["bash", PG_SH, "kill", self.dir], check=True)

    def destroy(self):
        if self.private:
            subprocess.run(["bash", PG_SH, "stop", self.dir])
            shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, db):
        return "postgresql://wegate@127.0.0.1:%d/%s" % (self.port, db)

    def createdb(self, db):
        subprocess.run(["bash", PG_SH, "createdb", self.dir, str(self.port), db], check=True)
        return Database(self, db)


class Database:
    def __init__(self, cluster, name):
        self.cluster = cluster
        self.name = name
        self.url = cluster.url(name)

    def psql(self, sql, check=True):
        """Runs sql; returns the rows as lists of strings, SQL NULL as None (values may hold
        tabs and newlines: fields and records are split on ASCII unit/record separators)."""
        r = subprocess.run(
            [pg_tool("psql"), "-X", "-q", "-A", "-t", "-F", "\x1f", "-R", "\x1e",
             "-P", "null=\x1dNULL\x1d", "-v", "ON_ERROR_STOP=1", "-d", self.url, "-c", sql],
            capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise RuntimeError("psql failed (%d): %s\n%s" % (r.returncode, sql, r.stderr))
        if r.returncode != 0:
            return None
        out = r.stdout
        if out.endswith("\n"):
            out = out[:-1]
        if not out:
            return []
        return [[None if v == "\x1dNULL\x1d" else v for v in rec.split("\x1f")]
                for rec in out.split("\x1e")]

    def scalar(self, sql):
        rows = self.psql(sql)
        return rows[0][0] if rows else None

    def count(self, where="true"):
        return int(self.scalar("select count(*) from callback_events where %s" % where))

    def keys(self):
        """{dedupe_key hex: number of rows} over callback_events."""
        rows = self.psql("select encode(dedupe_key, 'hex'), count(*) from callback_events "
                         "group by 1")
        return {k: int(n) for k, n in rows}

    def drop(self):
        admin = Database(self.cluster, "postgres")
        admin.psql('drop database if exists "%s" with (force)' % self.name, check=False)


# ---------------------------------------------------------------------------------------------
# Config and gateway

def make_config(port, db_url, **over):
    cfg = {
        "listen": "127.0.0.1:%d" % port,
        "workers": 2,
        "log_level": "info",
        "http": {
            "max_body_bytes": 1048576,
            "read_timeout_ms": 10000,
            "shutdown_grace_ms": 10000,
        },
        "database": {
            "url": db_url,
            "connect_timeout_ms": 3000,
            "commit_timeout_ms": 3000,
            "max_batch": 256,
        },
        "corps": [{
            "name": "demo",
            "corp_id": DEMO_CORP_ID,
            "token": DEMO_TOKEN,
            "encoding_aes_key": DEMO_AES_KEY,
            "agent_id": 1000002,
            "receivers": {
                "contacts": {"token": CONTACTS_TOKEN, "encoding_aes_key": CONTACTS_AES_KEY},
            },
        }],
    }
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(cfg.get(k), dict):
            cfg[k].update(v)
        else:
            cfg[k] = v
    return cfg


class Gateway:
    def __init__(self, tmp, cfg):
        self.tmp = tmp
        self.cfg = cfg
        self.port = int(cfg["listen"].rsplit(":", 1)[1])
        self.cfg_path = os.path.join(tmp, "wegate.json")
        with open(self.cfg_path, "w") as f:
            json.dump(cfg, f, indent=2)
        self.log_path = os.path.join(tmp, "gateway.log")
        self.proc = None
        self.starts = 0

    def start(self, ready=True, timeout=60):
        self.starts += 1
        logf = open(self.log_path, "ab")
        logf.write(("==== start %d ====\n" % self.starts).encode())
        logf.flush()
        self.proc = subprocess.Popen([BIN, "serve", "--config", self.cfg_path],
                                     stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
        logf.close()
        path = "/readyz" if ready else "/healthz"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Abort("wegate serve exited %d at start; log:\n%s"
                            % (self.proc.returncode, self.log_tail()))
            try:
                st, _, _ = request(self.port, "GET", path, timeout=2)
                if st == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise Abort("wegate serve: %s not 200 after %d s; log:\n%s"
                    % (path, timeout, self.log_tail()))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=30):
        """SIGTERM, then waits; returns the exit code (None if it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=40):
        return "\n".join(self.log_text().splitlines()[-n:])


# ---------------------------------------------------------------------------------------------
# Callbacks

class Callback:
    """One generated callback: query string, POST body (bytes), SHA-256 hex of the plaintext."""
    __slots__ = ("query", "body", "key", "index")

    def __init__(self, query, body, key, index=0):
        self.query, self.body, self.key, self.index = query, body, key, index

    def qs(self):
        return urllib.parse.parse_qs(self.query, keep_blank_values=True)


def template(name):
    with open(os.path.join(DATA, name), "rb") as f:
        return f.read()


def gen(tpl, n=1, start=0, fault=None, receiver="demo", receive_id=DEMO_CORP_ID, echo=False,
        agent_id="", timestamp=None, to=None):
    """Runs gen_callbacks; tpl is bytes (the plaintext template, "{{i}}" = the index)."""
    if receiver == "demo":
        token, key = DEMO_TOKEN, DEMO_AES_KEY
    elif receiver == "contacts":
        token, key = CONTACTS_TOKEN, CONTACTS_AES_KEY
    else:
        token, key = receiver
    args = [GEN, "--token", token, "--aes-key", key, "--receive-id", receive_id,
            "-n", str(n), "--start", str(start), "--agent-id", agent_id]
    if to is not None:
        args += ["--to", to]
    if fault:
        args += ["--fault", fault]
    if echo:
        args += ["--echo"]
    if timestamp:
        args += ["--timestamp", str(timestamp)]
    r = subprocess.run(args, input=tpl, capture_output=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError("gen_callbacks failed: %s" % r.stderr.decode())
    out = []
    for i, line in enumerate(r.stdout.split(b"\n")):
        if not line:
            continue
        q, body, key = line.split(b"\t")
        out.append(Callback(q.decode(), body, key.decode(), start + i))
    if len(out) != n:
        raise RuntimeError("gen_callbacks wrote %d lines, want %d" % (len(out), n))
    return out


def sha256_hex(b):
    return hashlib.sha256(b).hexdigest()


# ---------------------------------------------------------------------------------------------
# HTTP

def request(port, method, path, body=None, headers=None, timeout=10):
    """One request on a new connection: (status, body bytes, seconds)."""
    t0 = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        h = {"Content-Type": "text/xml"} if body is not None else {}
        h.update(headers or {})
        conn.request(method, path, body=body, headers=h)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, data, time.monotonic() - t0
    finally:
        conn.close()


def post(port, cb, path=CALLBACK, timeout=10):
    return request(port, "POST", path + "?" + cb.query, body=cb.body, timeout=timeout)


def request_full(port, method, path, body=None, timeout=10):
    """Like request() but returns (status, headers dict lower-case, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body,
                     headers={"Content-Type": "text/xml"} if body is not None else {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


class Load:
    """Client threads posting callbacks over keep-alive connections. Each result is
    (index, status or None, sent_at, done_at, error): sent_at when the request was fully
    written (monotonic), status None when no complete response came."""

    def __init__(self, port, callbacks, threads=6, path=CALLBACK, timeout=15):
        self.port = port
        self.callbacks = callbacks
        self.nthreads = threads
        self.path = path
        self.timeout = timeout
        self.next = 0
        self.lock = threading.Lock()
        self.results = []
        self.stop_flag = threading.Event()
        self.threads = []

    def _take(self):
        with self.lock:
            if self.stop_flag.is_set() or self.next >= len(self.callbacks):
                return None
            i = self.next
            self.next += 1
            return i

    def _run(self):
        conn = None
        while True:
            i = self._take()
            if i is None:
                break
            cb = self.callbacks[i]
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            sent_at = None
            try:
                conn.request("POST", self.path + "?" + cb.query, body=cb.body,
                             headers={"Content-Type": "text/xml"})
                sent_at = time.monotonic()
                resp = conn.getresponse()
                resp.read()
                res = (i, resp.status, sent_at, time.monotonic(), None)
                if resp.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                res = (i, None, sent_at, time.monotonic(), repr(e))
                conn.close()
                conn = None
                if not isinstance(e, socket.timeout):
                    time.sleep(0.01)  # refused while the gateway is down: do not spin
            with self.lock:
                self.results.append(res)
        if conn is not None:
            conn.close()

    def start(self):
        for _ in range(self.nthreads):
            t = threading.Thread(target=self._run, daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(60)

    def wait(self, timeout=300):
        for t in self.threads:
            t.join(timeout)

    def count(self, status):
        with self.lock:
            return sum(1 for r in self.results if r[1] == status)

    def statuses(self):
        out = {}
        with self.lock:
            for r in self.results:
                out[r[1]] = out.get(r[1], 0) + 1
        return out


# ---------------------------------------------------------------------------------------------
# The test frame

class Test:
    """with Test("name") as t: t.db, t.gateway(...), t.checks; prints a verdict and exits."""

    def __init__(self, name, private_pg=False):
        self.name = name
        self.private_pg = private_pg
        self.checks = Checks(name)
        self.gateways = []
        self.cluster = None
        self.db = None

    def __enter__(self):
        for p, what in ((BIN, "WG_BIN"), (GEN, "WG_GEN")):
            if not os.access(p, os.X_OK):
                print("%s: %s not found (%s)" % (self.name, what, p))
                sys.exit(1)
        self.tmp = tempfile.mkdtemp(prefix="wegate-integ-%s-" % self.name, dir="/tmp")
        if self.private_pg:
            self.cluster = Cluster.start_private(self.tmp)
        else:
            self.cluster = Cluster.shared_or_private(self.tmp)
        dbname = "wgt_%s_%d" % (self.name.replace("-", "_"), os.getpid())
        self.db = self.cluster.createdb(dbname)
        log("%s: database %s on port %d%s" % (self.name, dbname, self.cluster.port,
                                             " (private cluster)" if self.cluster.private else ""))
        return self

    def gateway(self, start=True, ready=True, **over):
        gw = Gateway(self.tmp, make_config(free_port(), self.db.url, **over))
        self.gateways.append(gw)
        if start:
            gw.start(ready=ready)
        return gw

    def stop_gateway(self, gw):
        """A clean stop is part of every test: SIGTERM must exit 0 (leak checks included)."""
        rc = gw.stop()
        self.checks.eq(rc, 0, "wegate serve exit code after SIGTERM (log tail:\n%s\n)"
                       % gw.log_tail(15))
        gw.proc = None

    def __exit__(self, et, ev, tb):
        c = self.checks
        if et is Abort:
            if str(ev) not in c.failed:  # raised outside require(), e.g. by Gateway.start
                c.failed.append(str(ev))
                print("FAIL: " + str(ev), flush=True)
        elif et is not None:
            c.failed.append("exception: %s" % "".join(traceback.format_exception(et, ev, tb)))
            print(c.failed[-1], flush=True)
        elif c.passed == 0 and not c.failed:
            c.failed.append("the test made no check")
        for gw in self.gateways:
            if gw.running():
                self.stop_gateway(gw)
            elif gw.proc is not None:
                c.check(False, "wegate serve exited on its own (status %s)" % gw.proc.returncode)
            text = gw.log_text()
            for bad in ("runtime error:", "ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                        "WARNING: ThreadSanitizer"):
                c.check(bad not in text, "sanitizer report in the gateway log (%s)" % bad)
        if c.failed:
            for gw in self.gateways:
                print("---- gateway log tail (%s) ----\n%s" % (gw.log_path, gw.log_tail(60)))
        if self.db is not None and not c.failed:
            self.db.drop()
        if self.cluster is not None:
            self.cluster.destroy()
        if os.environ.get("WG_TEST_KEEP") or c.failed:
            print("kept: %s" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        print("%s: %d checks passed, %d failed" % (self.name, c.passed, len(c.failed)), flush=True)
        sys.exit(1 if c.failed else 0)
