"""Bad input (ARCHITECTURE.md Promise 4) gets the right 4xx and changes no state: forged or
missing signature 403; unknown corp or receiver 404; bad padding, bad message length, bad
base64, bad ciphertext length, receive-id mismatch, malformed envelope or inner XML, DOCTYPE,
XXE and entity expansion (in the envelope and inside the ciphertext) 400; a body over
max_body_bytes 413. Then a valid callback is stored (so the zero-row count means something),
and the log holds no secret, signature or ciphertext."""
import socket
import time

import wgtest as W

MAX_BODY = 65536

with W.Test("rejects") as t:
    c = t.checks
    gw = t.gateway(http={"max_body_bytes": MAX_BODY})
    port = gw.port
    good_tpl = W.template("add_external_contact.xml")
    seen_secrets = []

    def expect(name, status, cb, path=W.CALLBACK, method="POST"):
        st, body, secs = W.request(port, method, path + "?" + cb.query, body=cb.body)
        c.eq(st, status, "%s: status (reason %r)" % (name, body[:80]))
        c.check(secs < 5, "%s: answered in %.2f s" % (name, secs))
        seen_secrets.append(cb.query.split("msg_signature=")[-1].split("&")[0])
        return st

    # --- signature
    expect("forged signature", 403, W.gen(good_tpl, fault="sig")[0])
    expect("missing signature", 403, W.gen(good_tpl, fault="nosig")[0])
    other = ("OtherToken9", "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkj")
    expect("signed with another corp's token and key", 403, W.gen(good_tpl, receiver=other)[0])
    expect("the receiver's callback at the corp path", 403,
           W.gen(good_tpl, receiver="contacts")[0])
    cb = W.gen(good_tpl)[0]
    expect("signature over another timestamp", 403,
           W.Callback(cb.query.replace("timestamp=", "timestamp=1"), cb.body, cb.key))

    # --- routing
    expect("unknown corp", 404, W.gen(good_tpl)[0], path="/wecom/nosuchcorp/callback")
    expect("unknown receiver", 404, W.gen(good_tpl)[0], path="/wecom/demo/nosuch/callback")

    # --- crypt faults, correctly signed
    expect("bad padding (last pad byte 0)", 400, W.gen(good_tpl, fault="padding")[0])
    expect("bad padding (pad byte 33)", 400, W.gen(good_tpl, fault="padding-range")[0])
    expect("message length past the plaintext", 400, W.gen(good_tpl, fault="msglen")[0])
    expect("Encrypt not base64", 400, W.gen(good_tpl, fault="base64")[0])
    expect("ciphertext not a block multiple", 400, W.gen(good_tpl, fault="length")[0])
    expect("receive-id mismatch", 400, W.gen(good_tpl, receive_id="wx0000000000000000")[0])
    expect("empty receive id", 400, W.gen(good_tpl, receive_id="")[0])
    expect("receive id with a suffix", 400, W.gen(good_tpl, receive_id=W.DEMO_CORP_ID + "x")[0])

    # --- hostile or malformed inner XML, correctly encrypted and signed
    expect("inner DOCTYPE", 400, W.gen(W.template("inner_doctype.xml"))[0])
    expect("inner XXE (external entity)", 400, W.gen(W.template("inner_xxe.xml"))[0])
    expect("inner billion laughs", 400, W.gen(W.template("inner_billion_laughs.xml"))[0])
    expect("inner XML malformed", 400, W.gen(W.template("inner_malformed.xml"))[0])
    expect("inner XML not XML", 400, W.gen(b"hello, not xml")[0])

    # --- hostile or malformed envelopes around a valid, correctly signed Encrypt
    cb = W.gen(good_tpl)[0]
    enc = cb.body.split(b"<Encrypt><![CDATA[")[1].split(b"]]>")[0]

    def envelope(name, status, body):
        expect(name, status, W.Callback(cb.query, body, cb.key))

    envelope("envelope DOCTYPE", 400,
             b"<!DOCTYPE xml><xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>"
             b"<Encrypt><![CDATA[" + enc + b"]]></Encrypt><AgentID></AgentID></xml>")
    envelope("envelope XXE", 400,
             b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
             b"<xml><ToUserName>&x;</ToUserName><Encrypt><![CDATA[" + enc +
             b"]]></Encrypt><AgentID></AgentID></xml>")
    envelope("envelope internal entity", 400,
             b'<!DOCTYPE xml [<!ENTITY e "' + enc + b'">]>'
             b"<xml><ToUserName>x</ToUserName><Encrypt>&e;</Encrypt></xml>")
    envelope("envelope truncated", 400,
             b"<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><Encrypt><![CDATA["
             + enc[:40])
    envelope("envelope without Encrypt", 400,
             b"<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName></xml>")
    envelope("envelope wrong root", 400,
             b"<notxml><Encrypt><![CDATA[" + enc + b"]]></Encrypt></notxml>")
    envelope("envelope empty body", 400, b"")
    envelope("envelope JSON garbage", 400, b"{\"encrypt\": 12")

    # --- oversize: Content-Length over the limit (answered without reading the body) ...
    def oversize(name, headers, body):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        try:
            s.sendall(headers)
            s.settimeout(2)
            data = b""
            try:
                data = s.recv(65536)
            except socket.timeout:
                pass
            if not data:
                s.settimeout(10)
                try:
                    s.sendall(body)
                except OSError:
                    pass
                try:
                    while not data.endswith(b"\r\n\r\n") and len(data) < 65536:
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                except OSError:
                    pass
            status = data.split(b" ", 2)[1] if data.startswith(b"HTTP/1.") else data[:40]
            c.eq(status, b"413", "%s: status" % name)
        finally:
            s.close()

    cb = W.gen(good_tpl)[0]
    big = cb.body + b" " * (MAX_BODY + 1 - len(cb.body))
    oversize("oversize body (Content-Length)",
             ("POST %s?%s HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n"
              "Content-Length: %d\r\n\r\n" % (W.CALLBACK, cb.query, len(big))).encode(), big)
    # ... and a chunked body that grows past the limit.
    chunk = b" " * 16384
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(6)) + b"0\r\n\r\n"
    oversize("oversize body (chunked)",
             ("POST %s?%s HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n"
              "Transfer-Encoding: chunked\r\n\r\n" % (W.CALLBACK, cb.query)).encode(),
             chunked)
    # A body just under the limit is fine (whitespace after the envelope).
    fit = cb.body + b"\n" * (MAX_BODY - len(cb.body))
    st, _, _ = W.request(port, "POST", W.CALLBACK + "?" + cb.query, body=fit)
    c.eq(st, 200, "a valid callback padded to exactly max_body_bytes: status")
    c.eq(t.db.count(), 1, "rows after the one valid callback")
    st, _, _ = W.request(port, "DELETE", W.CALLBACK + "?" + cb.query)
    c.eq(st, 405, "DELETE: status")

    # Nothing but that one callback was stored, and the server is still healthy.
    c.eq(t.db.keys(), {cb.key: 1}, "rows: only the valid callback")
    st, _, _ = W.request(port, "GET", "/healthz")
    c.eq(st, 200, "healthz after the bad input")
    time.sleep(0.2)
    text = gw.log_text()
    for s in [W.DEMO_TOKEN, W.DEMO_AES_KEY, enc[:40].decode()] + \
            [x for x in seen_secrets if len(x) == 40]:
        c.check(s not in text, "gateway log must not contain %r" % s)
