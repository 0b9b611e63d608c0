"""150 distinct external-contact events sharing one CreateTime second and FromUserName 'sys'
(WeCom's FromUserName+CreateTime dedupe advice would merge them, PROTOCOL.md §2) are all
answered 200 and all stored, sent concurrently from several connections."""
import wgtest as W

N = 150

with W.Test("same_second") as t:
    c = t.checks
    gw = t.gateway()
    cbs = W.gen(W.template("same_second.xml"), n=N)
    c.require(len({cb.key for cb in cbs}) == N, "the %d plaintexts are distinct" % N)
    load = W.Load(gw.port, cbs, threads=4).start()
    load.wait()
    c.eq(load.statuses(), {200: N}, "statuses of the %d callbacks" % N)
    c.eq(t.db.count(), N, "rows")
    c.eq(t.db.count("create_time = 1700000100 and change_type = 'add_external_contact'"), N,
         "rows sharing CreateTime 1700000100")
    c.eq(int(t.db.scalar("select count(distinct external_user_id) from callback_events")), N,
         "distinct external_user_id")
    keys = t.db.keys()
    c.eq(set(keys), {cb.key for cb in cbs}, "stored dedupe keys are the SHA-256 of each plaintext")
