"""URL verification (GET ?msg_signature&timestamp&nonce&echostr, PROTOCOL.md §1): the official
vector answers its plaintext as text/plain; a forged or missing signature is 403; the value is
%XX-decoded only (a raw '+' stays '+'); a named receiver verifies with its own token and key;
an unknown corp or receiver is 404; verification stores nothing."""
import urllib.parse

import wgtest as W

V = W.OFFICIAL_GET


def enc(v):
    # WeCom sends + / = as %2B %2F %3D.
    return urllib.parse.quote(v, safe="")


def query(sig=None, echostr=None, drop=None):
    q = {"msg_signature": V["msg_signature"] if sig is None else sig,
         "timestamp": V["timestamp"], "nonce": V["nonce"],
         "echostr": enc(V["echostr"]) if echostr is None else echostr}
    if drop:
        del q[drop]
    return "&".join("%s=%s" % kv for kv in q.items())


with W.Test("url_verify") as t:
    c = t.checks
    gw = t.gateway()
    port = gw.port

    st, hdr, body = W.request_full(port, "GET", W.CALLBACK + "?" + query())
    c.eq(st, 200, "official vector: status")
    c.eq(body, V["plaintext"].encode(), "official vector: body is the bare plaintext")
    c.check(hdr.get("content-type", "").startswith("text/plain"),
            "official vector: Content-Type text/plain, got %r" % hdr.get("content-type"))

    # Only %XX is decoded: the echostr's '+' sent raw must stay '+' (evhttp's query parser
    # would turn it into a space, PROTOCOL.md §1).
    raw_plus = enc(V["echostr"]).replace("%2B", "+")
    c.check("+" in raw_plus, "the official echostr holds a '+'")
    st, body, _ = W.request(port, "GET", W.CALLBACK + "?" + query(echostr=raw_plus))
    c.eq((st, body), (200, V["plaintext"].encode()), "echostr with a raw '+'")

    forged = V["msg_signature"][:-1] + ("0" if V["msg_signature"][-1] != "0" else "1")
    st, body, _ = W.request(port, "GET", W.CALLBACK + "?" + query(sig=forged))
    c.eq(st, 403, "forged signature: status")
    c.check(V["plaintext"].encode() not in body, "forged signature: plaintext not disclosed")
    st, body, _ = W.request(port, "GET", W.CALLBACK + "?" + query(drop="msg_signature"))
    c.eq(st, 403, "missing signature: status")
    c.check(V["plaintext"].encode() not in body, "missing signature: plaintext not disclosed")
    st, _, _ = W.request(port, "GET", W.CALLBACK + "?" + query(sig=V["msg_signature"].upper()))
    c.eq(st, 403, "upper-case signature (WeCom sends lower-case hex): status")

    st, _, _ = W.request(port, "GET", "/wecom/nosuchcorp/callback?" + query())
    c.eq(st, 404, "unknown corp: status")
    st, _, _ = W.request(port, "GET", "/wecom/demo/nosuch/callback?" + query())
    c.eq(st, 404, "unknown receiver: status")

    # The contacts receiver has its own token and key.
    echo = "contacts-echo-4711"
    cb = W.gen(echo.encode(), receiver="contacts", echo=True)[0]
    st, body, _ = W.request(port, "GET", W.CONTACTS_CALLBACK + "?" + cb.query)
    c.eq((st, body), (200, echo.encode()), "receiver 'contacts': own echostr")
    st, _, _ = W.request(port, "GET", W.CALLBACK + "?" + cb.query)
    c.eq(st, 403, "receiver's echostr at the corp path (other token): status")
    st, _, _ = W.request(port, "GET", W.CONTACTS_CALLBACK + "?" + query())
    c.eq(st, 403, "corp's official vector at the receiver path: status")

    # A generated echostr for the corp itself (fresh prefix, timestamp and nonce).
    echo = "8174951240975601931"
    cb = W.gen(echo.encode(), echo=True)[0]
    st, body, _ = W.request(port, "GET", W.CALLBACK + "?" + cb.query)
    c.eq((st, body), (200, echo.encode()), "generated echostr for the corp")

    c.eq(t.db.count(), 0, "rows after verification requests")
    text = gw.log_text()
    for secret in (W.DEMO_TOKEN, W.DEMO_AES_KEY, W.CONTACTS_TOKEN, V["msg_signature"],
                   V["plaintext"]):
        c.check(secret not in text, "gateway log must not contain %r" % secret)
