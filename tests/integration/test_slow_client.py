"""Slow clients are cut off by the read timeout (http.read_timeout_ms, set to 1 s here):
a client that stalls halfway through its headers, one that sends its headers and stalls in
the body, and one that connects and sends nothing. Meanwhile other clients are served at once,
and nothing is stored."""
import socket
import threading
import time

import wgtest as W

TIMEOUT_MS = 1000
LIMIT = 5.0  # seconds: the read timeout plus generous slack for an ASan build


def held_for(port, first_bytes):
    """Sends first_bytes then stalls; returns (seconds until the server closed or answered,
    the bytes it sent)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    t0 = time.monotonic()
    data = b""
    try:
        if first_bytes:
            s.sendall(first_bytes)
        s.settimeout(LIMIT * 3)
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        return None, data
    except ConnectionResetError:
        pass
    finally:
        s.close()
    return time.monotonic() - t0, data


with W.Test("slow_client") as t:
    c = t.checks
    gw = t.gateway(http={"read_timeout_ms": TIMEOUT_MS})
    cb = W.gen(W.template("add_external_contact.xml"))[0]
    head = ("POST %s?%s HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n"
            "Content-Length: %d\r\n\r\n" % (W.CALLBACK, cb.query, len(cb.body))).encode()

    cases = [
        ("stalls inside the headers", head[:len(head) // 2]),
        ("stalls inside the body", head + cb.body[:20]),
        ("connects and sends nothing", b""),
    ]
    for name, first in cases:
        # While one client stalls, another is served at once.
        result = {}
        th = threading.Thread(target=lambda: result.update(r=held_for(gw.port, first)))
        th.start()
        time.sleep(0.2)
        st, _, secs = W.request(gw.port, "GET", "/healthz")
        c.check(st == 200 and secs < 0.5, "%s: another client served meanwhile (%s in %.2f s)"
                % (name, st, secs))
        th.join()
        secs, data = result["r"]
        c.check(secs is not None, "%s: cut off (still open after %.0f s)" % (name, LIMIT * 3))
        if secs is not None:
            c.check(TIMEOUT_MS / 1000 * 0.5 <= secs <= LIMIT,
                    "%s: cut off after %.2f s (read timeout %.1f s)"
                    % (name, secs, TIMEOUT_MS / 1000))
        c.check(not data.startswith(b"HTTP/1.1 200"), "%s: not answered 200: %r"
                % (name, data[:40]))

    c.eq(t.db.count(), 0, "rows after the slow clients")
    # A prompt client on a fresh connection is unaffected.
    st, _, _ = W.post(gw.port, cb)
    c.eq(st, 200, "a prompt callback afterwards: status")
    c.eq(t.db.count(), 1, "rows after the prompt callback")
