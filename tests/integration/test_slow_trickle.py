"""A slowloris body: headers sent at once, then the body one byte every 300 ms (each byte well
inside the 1 s read timeout). An inactivity timeout alone never fires on this; the request must
still be cut off within a few read timeouts, and nothing is stored."""
import socket
import time

import wgtest as W

TIMEOUT_MS = 1000
LIMIT = 6.0  # the request must be over by then (the body would take ~3 minutes)
STEP = 0.3

with W.Test("slow_trickle") as t:
    c = t.checks
    gw = t.gateway(http={"read_timeout_ms": TIMEOUT_MS})
    cb = W.gen(W.template("add_external_contact.xml"))[0]
    head = ("POST %s?%s HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n"
            "Content-Length: %d\r\n\r\n" % (W.CALLBACK, cb.query, len(cb.body))).encode()
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
    s.sendall(head)
    t0 = time.monotonic()
    cut = None
    answer = b""
    for i in range(len(cb.body)):
        try:
            s.sendall(cb.body[i:i + 1])
        except OSError:
            cut = time.monotonic() - t0
            break
        s.settimeout(STEP)
        try:
            chunk = s.recv(4096)
            if not chunk:
                cut = time.monotonic() - t0
                break
            answer += chunk
        except socket.timeout:
            pass
        except OSError:
            cut = time.monotonic() - t0
            break
        if time.monotonic() - t0 > LIMIT * 2:
            break
    s.close()
    c.check(cut is not None and cut <= LIMIT,
            "trickling client cut off within %.0f s (cut after %s s, %d of %d body bytes sent)"
            % (LIMIT, "%.2f" % cut if cut is not None else "never",
               min(i + 1, len(cb.body)), len(cb.body)))
    c.check(not answer.startswith(b"HTTP/1.1 200"), "not answered 200: %r" % answer[:40])
    c.eq(t.db.count(), 0, "rows after the trickling client")
