"""Migrations applied twice change nothing: `wegate migrate` on a fresh database applies every
migration and records it in schema_migrations; a second run (and `wegate serve`, which also
migrates at start) applies none and leaves the schema dump and schema_migrations identical.
callback_events has the columns and the unique (corp, dedupe_key) key of issue 4."""
import re
import subprocess

import wgtest as W

# issue 4: name -> (type as information_schema says, not null)
COLUMNS = {
    "id": ("bigint", True),
    "corp": ("text", True),
    "receiver": ("text", True),
    "dedupe_key": ("bytea", True),
    "received_at": ("timestamp with time zone", True),
    "create_time": ("bigint", False),
    "msg_type": ("text", False),
    "event": ("text", False),
    "change_type": ("text", False),
    "user_id": ("text", False),
    "external_user_id": ("text", False),
    "chat_id": ("text", False),
    "msg_id": ("text", False),
    "agent_id": ("text", False),
    "xml": ("text", True),
    "status": ("text", True),
    "attempts": ("integer", True),
    "last_error": ("text", False),
    "processed_at": ("timestamp with time zone", False),
}


def migrate(gw):
    return subprocess.run([W.BIN, "migrate", "--config", gw.cfg_path], capture_output=True,
                          text=True, timeout=120)


def dump(db):
    r = subprocess.run([W.pg_tool("pg_dump"), "--schema-only", "--no-owner", "-d", db.url],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("pg_dump: " + r.stderr)
    # pg_dump 15.14+ brackets a dump with \restrict/\unrestrict and a random key.
    return "\n".join(l for l in r.stdout.splitlines() if not l.startswith(("\\restrict",
                                                                           "\\unrestrict")))


with W.Test("migrate_twice") as t:
    c = t.checks
    gw = t.gateway(start=False)
    db = t.db
    c.eq(db.scalar("select count(*) from pg_tables where schemaname = 'public'"), "0",
         "fresh database has no tables")

    r1 = migrate(gw)
    c.require(r1.returncode == 0, "first migrate exits 0 (got %d: %s%s)"
              % (r1.returncode, r1.stdout, r1.stderr))
    applied = db.psql("select version, name, applied_at from schema_migrations order by version")
    c.require(len(applied) >= 1, "schema_migrations records the applied migrations")
    versions = [int(v) for v, _, _ in applied]
    c.eq(versions, sorted(set(versions)), "versions recorded once each, in order")
    out1 = r1.stdout + r1.stderr
    c.check(re.search(r"\b%d\b" % len(applied), out1) is not None,
            "first migrate reports %d applied: %r" % (len(applied), out1.strip()))
    dump1 = dump(db)

    r2 = migrate(gw)
    c.eq(r2.returncode, 0, "second migrate exit code (%s%s)" % (r2.stdout, r2.stderr))
    out2 = r2.stdout + r2.stderr
    c.check(re.search(r"\b0\b", out2) is not None or "up to date" in out2.lower(),
            "second migrate reports 0 applied: %r" % out2.strip())
    c.eq(db.psql("select version, name, applied_at from schema_migrations order by version"),
         applied, "schema_migrations unchanged by the second migrate")
    c.check(dump(db) == dump1, "schema dump unchanged by the second migrate")

    # serve migrates at start too: still nothing to do.
    gw.start()
    c.eq(db.psql("select version, name, applied_at from schema_migrations order by version"),
         applied, "schema_migrations unchanged by serve's start")
    c.check(dump(db) == dump1, "schema dump unchanged by serve's start")
    t.stop_gateway(gw)

    cols = db.psql("select column_name, data_type, is_nullable from information_schema.columns "
                   "where table_name = 'callback_events'")
    got = {n: (ty, nul == "NO") for n, ty, nul in cols}
    for name, want in COLUMNS.items():
        c.eq(got.get(name), want, "callback_events.%s (type, not null)" % name)
    defaults = dict(db.psql("select column_name, column_default from information_schema.columns "
                            "where table_name = 'callback_events' and column_default is not null"))
    c.check("pending" in defaults.get("status", ""), "status defaults to 'pending': %r"
            % defaults.get("status"))
    c.check(defaults.get("attempts", "").strip("()") == "0", "attempts defaults to 0: %r"
            % defaults.get("attempts"))
    c.check("now()" in defaults.get("received_at", "") or "CURRENT_TIMESTAMP" in
            defaults.get("received_at", ""), "received_at defaults to now()")
    c.eq(defaults.get("receiver", "").split("::")[0], "''", "receiver defaults to ''")
    uniq = db.psql(
        "select array_to_string(array(select a.attname from unnest(i.indkey) with ordinality k(n, o)"
        " join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.n order by k.o), ',')"
        " from pg_index i where i.indrelid = 'callback_events'::regclass and i.indisunique")
    c.check(["corp,dedupe_key"] in uniq, "a unique index on (corp, dedupe_key): %r" % uniq)
    c.check(["id"] in uniq, "id is the primary key: %r" % uniq)
    # The unique key is what makes retries harmless: a duplicate insert must fail.
    db.psql("insert into callback_events (corp, dedupe_key, xml) values ('c', '\\x01', '<xml/>')")
    dup = db.psql("insert into callback_events (corp, dedupe_key, xml) "
                  "values ('c', '\\x01', '<xml/>')", check=False)
    c.eq(dup, None, "a duplicate (corp, dedupe_key) insert is refused")
