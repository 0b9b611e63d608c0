"""WeCom retries (PROTOCOL.md §2): the same callback sent three times, re-encrypted each time
(new random prefix, nonce and signature), is answered 200 each time and stored once, with
dedupe_key = SHA-256 of the decrypted inner XML. Also: a byte-identical resend, and three
re-encrypted copies sent at the same instant (they may land in one group commit)."""
import threading

import wgtest as W

with W.Test("retry_dedupe") as t:
    c = t.checks
    gw = t.gateway()

    tpl = W.template("del_follow_user.xml")
    tries = W.gen(tpl, n=3)
    c.require(len({cb.body for cb in tries}) == 3 and len({cb.query for cb in tries}) == 3,
              "the three tries differ in ciphertext, nonce and signature")
    c.require(len({cb.key for cb in tries}) == 1, "the three tries carry the same plaintext")
    for i, cb in enumerate(tries):
        st, data, _ = W.post(gw.port, cb)
        c.eq((st, data), (200, b""), "try %d: status and body" % (i + 1))
        c.eq(t.db.count(), 1, "rows after try %d" % (i + 1))
    st, _, _ = W.post(gw.port, tries[0])
    c.eq(st, 200, "byte-identical resend of try 1: status")
    c.eq(t.db.count(), 1, "rows after the byte-identical resend")
    rows = t.db.psql("select encode(dedupe_key, 'hex'), xml, corp from callback_events")
    c.eq(rows, [[W.sha256_hex(tpl), tpl.decode(), "demo"]],
         "the row: dedupe_key = SHA-256 of the inner XML, xml, corp")

    # Three re-encrypted copies of another event at once, from three connections.
    tpl2 = W.template("transfer_fail.xml")
    copies = W.gen(tpl2, n=3)
    barrier = threading.Barrier(3)
    results = [None] * 3

    def send(i):
        barrier.wait()
        results[i] = W.post(gw.port, copies[i])[0]

    ths = [threading.Thread(target=send, args=(i,)) for i in range(3)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    c.eq(results, [200, 200, 200], "concurrent re-encrypted copies: statuses")
    c.eq(t.db.count("dedupe_key = decode('%s', 'hex')" % W.sha256_hex(tpl2)), 1,
         "concurrent copies: rows")
    c.eq(t.db.count(), 2, "total rows")

    # The same inner XML at the corp's receiver endpoint is still the same corp's event.
    cb = W.gen(tpl, receiver="contacts")[0]
    st, _, _ = W.post(gw.port, cb, W.CONTACTS_CALLBACK)
    c.eq(st, 200, "same event via the 'contacts' receiver: status")
    c.eq(t.db.count(), 2, "unique (corp, dedupe_key): no new row for the receiver's copy")
