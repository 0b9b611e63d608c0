"""A valid callback of each event kind of PROTOCOL.md §3 (and the official POST vector) is
answered 200 with an empty body and stored once with its typed columns."""
import wgtest as W

N = None  # expected SQL NULL
COLS = ["corp", "receiver", "create_time", "msg_type", "event", "change_type", "user_id",
        "external_user_id", "chat_id", "msg_id", "agent_id"]

# file, path, expected columns (create_time as text, as psql prints it)
CASES = [
    ("add_external_contact.xml", W.CALLBACK,
     dict(create_time="1700000001", msg_type="event", event="change_external_contact",
          change_type="add_external_contact", user_id="zhangsan",
          external_user_id="wmAJ2GCAAAme1XQRC-NI-q0_ZM9ukoAA", chat_id=N, msg_id=N)),
    ("add_half_external_contact.xml", W.CALLBACK,
     dict(create_time="1700000002", msg_type="event", event="change_external_contact",
          change_type="add_half_external_contact", user_id="lisi",
          external_user_id="wmAJ2GCAAAhalfAddedCustomer02", chat_id=N, msg_id=N)),
    ("edit_external_contact.xml", W.CALLBACK,
     dict(create_time="1700000003", msg_type="event", event="change_external_contact",
          change_type="edit_external_contact", user_id="wangwu",
          external_user_id="wmAJ2GCAAAeditedCustomer03", chat_id=N, msg_id=N)),
    ("del_external_contact.xml", W.CALLBACK,
     dict(create_time="1700000004", msg_type="event", event="change_external_contact",
          change_type="del_external_contact", user_id="zhaoliu",
          external_user_id="wmAJ2GCAAAdeletedByStaff04", chat_id=N, msg_id=N)),
    ("del_follow_user.xml", W.CALLBACK,
     dict(create_time="1700000005", msg_type="event", event="change_external_contact",
          change_type="del_follow_user", user_id="sunqi",
          external_user_id="wmAJ2GCAAAcustomerLeft05", chat_id=N, msg_id=N)),
    ("transfer_fail.xml", W.CALLBACK,
     dict(create_time="1700000006", msg_type="event", event="change_external_contact",
          change_type="transfer_fail", user_id="takeover01",
          external_user_id="wmAJ2GCAAArefusedTransfer06", chat_id=N, msg_id=N)),
    ("msg_audit_approved.xml", W.CALLBACK,
     dict(create_time="1700000007", msg_type="event", event="change_external_contact",
          change_type="msg_audit_approved", user_id="zhouba",
          external_user_id="wmAJ2GCAAAagreedArchive07", chat_id=N, msg_id=N)),
    ("change_external_chat_create.xml", W.CALLBACK,
     dict(create_time="1700000008", msg_type="event", event="change_external_chat",
          change_type="create", chat_id="wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA08", user_id=N,
          external_user_id=N, msg_id=N)),
    ("change_external_chat_update.xml", W.CALLBACK,
     dict(create_time="1700000009", msg_type="event", event="change_external_chat",
          change_type="update", chat_id="wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA09", user_id=N,
          external_user_id=N, msg_id=N)),
    ("change_external_chat_dismiss.xml", W.CALLBACK,
     dict(create_time="1700000010", msg_type="event", event="change_external_chat",
          change_type="dismiss", chat_id="wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA10", user_id=N,
          external_user_id=N, msg_id=N)),
    ("change_external_tag.xml", W.CALLBACK,
     dict(create_time="1700000011", msg_type="event", event="change_external_tag",
          change_type="create", user_id=N, external_user_id=N, chat_id=N, msg_id=N)),
    ("change_contact_create_user.xml", W.CONTACTS_CALLBACK,
     dict(receiver="contacts", create_time="1700000012", msg_type="event",
          event="change_contact", change_type="create_user", user_id="newhire12",
          external_user_id=N, chat_id=N, msg_id=N)),
    ("change_contact_delete_user.xml", W.CONTACTS_CALLBACK,
     dict(receiver="contacts", create_time="1700000013", msg_type="event",
          event="change_contact", change_type="delete_user", user_id="departed13",
          external_user_id=N, chat_id=N, msg_id=N)),
    ("msgaudit_notify.xml", W.CALLBACK,
     dict(create_time="1700000014", msg_type="event", event="msgaudit_notify",
          change_type=N, user_id=N, external_user_id=N, chat_id=N, msg_id=N,
          agent_id="2000003")),
    ("message_text.xml", W.CALLBACK,
     dict(create_time="1700000015", msg_type="text", event=N, change_type=N, user_id=N,
          external_user_id=N, chat_id=N, msg_id="7011234567890000015", agent_id="1000002")),
    ("unknown_event.xml", W.CALLBACK,
     dict(create_time="1700000016", msg_type="event", event="some_future_event",
          change_type="something_new", user_id=N, external_user_id=N, chat_id=N, msg_id=N)),
]


def row_for(db, key):
    rows = db.psql("select %s, xml, encode(dedupe_key, 'hex') from callback_events "
                   "where dedupe_key = decode('%s', 'hex')" % (", ".join(COLS), key))
    return rows


with W.Test("event_kinds") as t:
    c = t.checks
    gw = t.gateway()

    # The official POST vector, byte for byte as WeCom sent it.
    V = W.OFFICIAL_POST
    body = ("<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>"
            "<Encrypt><![CDATA[%s]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>"
            % V["encrypt"]).encode()
    q = "msg_signature=%s&timestamp=%s&nonce=%s" % (V["msg_signature"], V["timestamp"],
                                                     V["nonce"])
    official = W.Callback(q, body, W.sha256_hex(V["plaintext"].encode()))
    st, data, _ = W.post(gw.port, official)
    c.eq((st, data), (200, b""), "official POST vector: status and empty body")
    rows = row_for(t.db, official.key)
    if c.eq(len(rows), 1, "official POST vector: rows"):
        r = dict(zip(COLS + ["xml", "key"], rows[0]))
        want = dict(corp="demo", receiver="", create_time="1409659813", msg_type="text",
                    event=N, change_type=N, msg_id="4561255354251345929", agent_id="218",
                    user_id=N, external_user_id=N, chat_id=N)
        for k, v in want.items():
            c.eq(r[k], v, "official POST vector: column %s" % k)

    sent = 1
    for name, path, want in CASES:
        tpl = W.template(name)
        cb = W.gen(tpl, receiver="contacts" if path == W.CONTACTS_CALLBACK else "demo")[0]
        c.eq(cb.key, W.sha256_hex(tpl), "%s: gen_callbacks key is SHA-256 of the plaintext" % name)
        st, data, _ = W.post(gw.port, cb, path)
        c.eq((st, data), (200, b""), "%s: status and empty body" % name)
        sent += 1
        rows = row_for(t.db, W.sha256_hex(tpl))
        if not c.eq(len(rows), 1, "%s: rows with its dedupe key" % name):
            continue
        r = dict(zip(COLS + ["xml", "key"], rows[0]))
        want = dict(want)
        want.setdefault("corp", "demo")
        want.setdefault("receiver", "")
        for k, v in want.items():
            c.eq(r[k], v, "%s: column %s" % (name, k))
        if "agent_id" not in want:
            c.check(r["agent_id"] in (N, ""), "%s: agent_id empty or NULL, got %r"
                    % (name, r["agent_id"]))
        c.eq(r["xml"], tpl.decode(), "%s: xml column is the decrypted inner XML" % name)

    c.eq(t.db.count(), sent, "total rows")
    c.eq(t.db.count("status = 'pending' and attempts = 0"), sent,
         "new rows are status 'pending' with 0 attempts")
    c.eq(t.db.count("received_at > now() - interval '10 minutes'"), sent, "received_at set")
    text = gw.log_text()
    for secret in (W.DEMO_TOKEN, W.DEMO_AES_KEY, W.CONTACTS_AES_KEY, V["msg_signature"],
                   V["encrypt"][:40], "你好 wegate"):
        c.check(secret not in text, "gateway log must not contain %r" % secret)
