"""One HTTP/1.1 keep-alive connection serves several requests in a row (health checks and
callbacks), each answered completely on the same socket; `Connection: close` is honoured."""
import socket

import wgtest as W


def read_response(s, buf):
    """Reads one response from s (buf: bytes already read); returns (status, headers, body,
    rest)."""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a complete head (%r)" % buf[:60])
        buf += chunk
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdr = {}
    for line in lines[1:]:
        k, v = line.split(":", 1)
        hdr[k.strip().lower()] = v.strip()
    if "chunked" in hdr.get("transfer-encoding", ""):
        body = b""
        while True:
            while b"\r\n" not in buf:
                buf += s.recv(65536)
            size_line, buf = buf.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            while len(buf) < size + 2:
                buf += s.recv(65536)
            body += buf[:size]
            buf = buf[size + 2:]
            if size == 0:
                break
        return status, hdr, body, buf
    n = int(hdr.get("content-length", "0"))
    while len(buf) < n:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside a body")
        buf += chunk
    return status, hdr, buf[:n], buf[n:]


with W.Test("keepalive") as t:
    c = t.checks
    gw = t.gateway()
    cbs = W.gen(W.template("load_event.xml"), n=4)
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
    local = s.getsockname()
    buf = b""
    reqs = [b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"]
    for cb in cbs[:3]:
        reqs.append(("POST %s?%s HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n"
                     "Content-Length: %d\r\n\r\n" % (W.CALLBACK, cb.query, len(cb.body))).encode()
                    + cb.body)
    reqs.append(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
    statuses = []
    for i, r in enumerate(reqs):
        try:
            s.sendall(r)
            st, hdr, body, buf = read_response(s, buf)
        except (OSError, ConnectionError) as e:
            c.check(False, "request %d on the kept-alive connection: %r" % (i + 1, e))
            break
        statuses.append(st)
        c.check(hdr.get("connection", "").lower() != "close",
                "request %d: the server does not close the connection" % (i + 1))
    c.eq(statuses, [200] * len(reqs), "statuses of %d requests on one connection" % len(reqs))
    c.eq(s.getsockname(), local, "still the same connection")
    c.eq(t.db.count(), 3, "rows after three callbacks on one connection")

    # Two requests written back to back (pipelined) are both answered, in order.
    pipelined = reqs[0] + ("POST %s?%s HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n"
                           "Content-Length: %d\r\n\r\n" % (W.CALLBACK, cbs[3].query,
                                                         len(cbs[3].body))).encode() + cbs[3].body
    try:
        s.sendall(pipelined)
        st1, _, _, buf = read_response(s, buf)
        st2, _, body2, buf = read_response(s, buf)
        c.eq((st1, st2, body2), (200, 200, b""), "two pipelined requests")
    except (OSError, ConnectionError) as e:
        c.check(False, "pipelined requests: %r" % e)
    c.eq(t.db.count(), 4, "rows after the pipelined callback")

    # Connection: close is honoured: the server closes after its answer.
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    st, _, _, buf = read_response(s, buf)
    c.eq(st, 200, "request with Connection: close")
    s.settimeout(5)
    try:
        rest = s.recv(10)
    except OSError:
        rest = b""
    c.eq(rest, b"", "connection closed by the server after Connection: close")
    s.close()
