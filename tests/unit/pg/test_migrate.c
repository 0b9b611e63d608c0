/* wg_pg_migrate against a real PostgreSQL: a fresh database gets every migration and the
 * callback_events table as issue 4 specifies it; a second run applies nothing; concurrent runs
 * apply each migration once; a failing migration is named. The embedded SQL is checked against
 * the files in connectors/pg/migrations (argv[1]). */
#include "connectors/pg/store.h"
#include "pgtest.h"
#include "testlib.h"

#include <pthread.h>

static const char *migrations_dir;

static void test_embedded_match_files(void)
{
    size_t n = 0;
    const wg_pg_migration_t *m = wg_pg_migrations(&n);
    CHECK(n >= 1);
    CHECK_INT(m[0].version, 1);
    CHECK_STR(m[0].name, "callback_events");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            CHECK(m[i].version > m[i - 1].version);
        char path[1024];
        snprintf(path, sizeof path, "%s/%03d_%s.sql", migrations_dir, m[i].version, m[i].name);
        FILE *f = fopen(path, "rb");
        CHECK(f != NULL);
        if (!f)
            continue;
        static char buf[1 << 20];
        size_t len = fread(buf, 1, sizeof buf, f);
        fclose(f);
        CHECK_MEM(m[i].sql, strlen(m[i].sql), buf, len);
    }
}

/* Expected columns of callback_events: name, data_type, is_nullable, column_default. */
static const char *const expected_columns[][4] = {
    {"id", "bigint", "NO", "nextval('callback_events_id_seq'::regclass)"},
    {"corp", "text", "NO", NULL},
    {"receiver", "text", "NO", "''::text"},
    {"dedupe_key", "bytea", "NO", NULL},
    {"received_at", "timestamp with time zone", "NO", "now()"},
    {"create_time", "bigint", "YES", NULL},
    {"msg_type", "text", "YES", NULL},
    {"event", "text", "YES", NULL},
    {"change_type", "text", "YES", NULL},
    {"user_id", "text", "YES", NULL},
    {"external_user_id", "text", "YES", NULL},
    {"chat_id", "text", "YES", NULL},
    {"msg_id", "text", "YES", NULL},
    {"agent_id", "text", "YES", NULL},
    {"xml", "text", "NO", NULL},
    {"status", "text", "NO", "'pending'::text"},
    {"attempts", "integer", "NO", "0"},
    {"last_error", "text", "YES", NULL},
    {"processed_at", "timestamp with time zone", "YES", NULL},
};

static void check_schema(PGconn *c)
{
    PGresult *r = PQexec(c, "SELECT column_name, data_type, is_nullable, column_default "
                            "FROM information_schema.columns WHERE table_schema = 'public' "
                            "AND table_name = 'callback_events' ORDER BY ordinal_position");
    CHECK_INT(PQresultStatus(r), PGRES_TUPLES_OK);
    size_t want = sizeof expected_columns / sizeof expected_columns[0];
    CHECK_INT(PQntuples(r), want);
    for (int i = 0; i < PQntuples(r) && (size_t)i < want; i++) {
        CHECK_STR(PQgetvalue(r, i, 0), expected_columns[i][0]);
        CHECK_STR(PQgetvalue(r, i, 1), expected_columns[i][1]);
        CHECK_STR(PQgetvalue(r, i, 2), expected_columns[i][2]);
        if (expected_columns[i][3])
            CHECK_STR(PQgetvalue(r, i, 3), expected_columns[i][3]);
        else
            CHECK(PQgetisnull(r, i, 3));
    }
    PQclear(r);

    r = PQexec(c, "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = "
                  "'callback_events'::regclass AND contype IN ('p', 'u') ORDER BY contype");
    CHECK_INT(PQntuples(r), 2);
    if (PQntuples(r) == 2) {
        CHECK_STR(PQgetvalue(r, 0, 0), "PRIMARY KEY (id)");
        CHECK_STR(PQgetvalue(r, 1, 0), "UNIQUE (corp, dedupe_key)");
    }
    PQclear(r);

    r = PQexec(c, "SELECT indexdef FROM pg_indexes WHERE tablename = 'callback_events' AND "
                  "indexdef LIKE '%WHERE%'");
    CHECK_INT(PQntuples(r), 1);
    if (PQntuples(r) == 1)
        CHECK(strstr(PQgetvalue(r, 0, 0), "(id) WHERE (status = 'pending'::text)") != NULL);
    PQclear(r);

    /* status accepts only pending|done|failed; defaults fill the rest */
    CHECK(pgtest_ok(c, "INSERT INTO callback_events (corp, dedupe_key, xml) "
                       "VALUES ('c', '\\x01', '<xml/>')"));
    CHECK_INT(pgtest_scalar(c, "SELECT count(*) FROM callback_events WHERE receiver = '' AND "
                               "status = 'pending' AND attempts = 0 AND received_at IS NOT NULL"),
              1);
    for (int i = 0; i < 3; i++) {
        static const char *const ok[] = {"pending", "done", "failed"};
        char sql[128];
        snprintf(sql, sizeof sql, "UPDATE callback_events SET status = '%s'", ok[i]);
        CHECK(pgtest_ok(c, sql));
    }
    PGresult *bad = PQexec(c, "UPDATE callback_events SET status = 'bogus'");
    CHECK_STR(PQresultErrorField(bad, PG_DIAG_SQLSTATE), "23514");
    PQclear(bad);
    bad = PQexec(c, "INSERT INTO callback_events (corp, dedupe_key, xml) "
                    "VALUES ('c', '\\x01', '<xml/>')");
    CHECK_STR(PQresultErrorField(bad, PG_DIAG_SQLSTATE), "23505");
    PQclear(bad);
    CHECK(pgtest_ok(c, "INSERT INTO callback_events (corp, dedupe_key, xml) "
                       "VALUES ('other', '\\x01', '<xml/>')"));
    CHECK(pgtest_ok(c, "DELETE FROM callback_events"));
}

static void test_fresh_then_again(void)
{
    char name[64], err[256];
    char *url = pgtest_create_db("migrate", name, sizeof name);
    size_t n = 0;
    const wg_pg_migration_t *m = wg_pg_migrations(&n);

    int applied = -1;
    CHECK_INT(wg_pg_migrate(url, &applied, err, sizeof err), 0);
    CHECK_STR(err, "");
    CHECK_INT(applied, n);

    PGconn *c = pgtest_connect(url);
    PGresult *r = PQexec(c, "SELECT version, name, applied_at IS NOT NULL FROM "
                            "schema_migrations ORDER BY version");
    CHECK_INT(PQntuples(r), n);
    for (int i = 0; i < PQntuples(r) && (size_t)i < n; i++) {
        CHECK_INT(atoi(PQgetvalue(r, i, 0)), m[i].version);
        CHECK_STR(PQgetvalue(r, i, 1), m[i].name);
        CHECK_STR(PQgetvalue(r, i, 2), "t");
    }
    PQclear(r);
    check_schema(c);

    applied = -1;
    CHECK_INT(wg_pg_migrate(url, &applied, err, sizeof err), 0);
    CHECK_INT(applied, 0);
    CHECK_INT(pgtest_scalar(c, "SELECT count(*) FROM schema_migrations"), n);

    /* A database migrated by a newer binary (unknown higher version) is left alone. */
    CHECK(pgtest_ok(c, "INSERT INTO schema_migrations (version, name) VALUES (999, 'future')"));
    CHECK_INT(wg_pg_migrate(url, &applied, err, sizeof err), 0);
    CHECK_INT(applied, 0);
    PQfinish(c);
    pgtest_drop_db(name);
    free(url);
}

typedef struct mig_thread {
    const char *url;
    pthread_barrier_t *start;
    int rc, applied;
    char err[256];
} mig_thread_t;

static void *mig_main(void *arg)
{
    mig_thread_t *t = arg;
    pthread_barrier_wait(t->start);
    t->rc = wg_pg_migrate(t->url, &t->applied, t->err, sizeof t->err);
    return NULL;
}

static void test_concurrent(void)
{
    enum { N = 6 };
    char name[64];
    char *url = pgtest_create_db("migrate_conc", name, sizeof name);
    size_t n = 0;
    wg_pg_migrations(&n);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, N);
    mig_thread_t t[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        t[i] = (mig_thread_t){.url = url, .start = &start, .rc = -2, .applied = -1};
        pthread_create(&th[i], NULL, mig_main, &t[i]);
    }
    int total = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        CHECK_INT(t[i].rc, 0);
        if (t[i].rc != 0)
            fprintf(stderr, "thread %d: %s\n", i, t[i].err);
        total += t[i].applied;
    }
    pthread_barrier_destroy(&start);
    CHECK_INT(total, n);
    PGconn *c = pgtest_connect(url);
    CHECK_INT(pgtest_scalar(c, "SELECT count(*) FROM schema_migrations"), n);
    CHECK_INT(pgtest_scalar(c, "SELECT count(*) FROM pg_tables WHERE tablename = "
                               "'callback_events'"),
              1);
    PQfinish(c);
    pgtest_drop_db(name);
    free(url);
}

static void test_failure_names_migration(void)
{
    char name[64], err[256];
    char *url = pgtest_create_db("migrate_fail", name, sizeof name);
    /* A table in the way: 001 cannot create callback_events. */
    PGconn *c = pgtest_connect(url);
    CHECK(pgtest_ok(c, "CREATE TABLE callback_events (x int)"));
    int applied = -1;
    CHECK_INT(wg_pg_migrate(url, &applied, err, sizeof err), -1);
    CHECK_INT(applied, 0);
    CHECK(strstr(err, "migration 001_callback_events") != NULL);
    CHECK(strstr(err, "already exists") != NULL);
    CHECK(strchr(err, '\n') == NULL);
    /* Nothing recorded, nothing half-done: the transaction rolled back. */
    CHECK_INT(pgtest_scalar(c, "SELECT count(*) FROM schema_migrations"), 0);
    CHECK_INT(pgtest_scalar(c, "SELECT count(*) FROM pg_class WHERE relname = "
                               "'callback_events_pending_idx'"),
              0);
    /* The lock was released: once the obstacle is gone, migrate succeeds. */
    CHECK(pgtest_ok(c, "DROP TABLE callback_events"));
    size_t n = 0;
    wg_pg_migrations(&n);
    CHECK_INT(wg_pg_migrate(url, &applied, err, sizeof err), 0);
    CHECK_INT(applied, n);
    PQfinish(c);
    pgtest_drop_db(name);
    free(url);
}

static void test_unreachable(void)
{
    char err[256];
    int applied = -1;
    /* Port 1 on loopback: nothing listens there. */
    CHECK_INT(wg_pg_migrate("postgresql://wegate@127.0.0.1:1/none", &applied, err, sizeof err), -1);
    CHECK_INT(applied, 0);
    CHECK(strncmp(err, "connect: ", 9) == 0);
    CHECK_INT(wg_pg_migrate("postgresql://[bad", &applied, err, sizeof err), -1);
    CHECK(strncmp(err, "connect: ", 9) == 0);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s MIGRATIONS_DIR\n", argv[0]);
        return 2;
    }
    migrations_dir = argv[1];
    pgtest_server_url();
    TEST_RUN(test_embedded_match_files);
    TEST_RUN(test_fresh_then_again);
    TEST_RUN(test_concurrent);
    TEST_RUN(test_failure_names_migration);
    TEST_RUN(test_unreachable);
    return TEST_DONE();
}
