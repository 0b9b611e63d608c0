/* wg_pg_store against a real PostgreSQL: stored and duplicate rows with every typed column,
 * group commit (batches, duplicates inside one batch), hostile strings, refusals, commit
 * timeouts, a killed backend, and the exactly-once callback contract (free with pending inserts,
 * callbacks that free their request or the store). */
#include "connectors/pg/store.h"
#include "pgtest.h"
#include "testlib.h"

#include <netinet/in.h>
#include <sys/socket.h>

static char *db_url;  /* this program's own database, migrated */
static PGconn *admin; /* blocking connection to it, for checks */
static struct event_base *base;

/* One insert's answer. */
typedef struct answer {
    int calls;
    wg_pg_result_t result;
    char err[256];
    uint64_t at_ms;
} answer_t;

static void on_answer(void *arg, wg_pg_result_t r, const char *err)
{
    answer_t *a = arg;
    a->calls++;
    a->result = r;
    snprintf(a->err, sizeof a->err, "%s", err ? err : "");
    a->at_ms = pgtest_now_ms();
}

typedef struct answers {
    answer_t *a;
    int n;
} answers_t;

static int all_answered(void *arg)
{
    answers_t *s = arg;
    for (int i = 0; i < s->n; i++)
        if (s->a[i].calls == 0)
            return 0;
    return 1;
}

static int wait_answers(answer_t *a, int n, int timeout_ms)
{
    answers_t s = {a, n};
    return pgtest_run_until(base, all_answered, &s, timeout_ms);
}

static int store_ready(void *arg)
{
    return wg_pg_store_ready(arg);
}

/* A store, ready. Unless a test sets it, the commit timeout is long: a loaded machine (or
 * valgrind) must not turn a slow commit into a failed check. */
static wg_pg_store_t *open_store(const wg_pg_store_options_t *opt)
{
    char err[256];
    wg_pg_store_options_t o = {0};
    if (opt)
        o = *opt;
    if (!o.commit_timeout_ms)
        o.commit_timeout_ms = 30000 * pgtest_slow();
    wg_pg_store_t *st = wg_pg_store_new(base, db_url, &o, err, sizeof err);
    CHECK(st != NULL);
    if (!st) {
        fprintf(stderr, "wg_pg_store_new: %s\n", err);
        exit(1);
    }
    if (!pgtest_run_until(base, store_ready, st, 10000)) {
        fprintf(stderr, "store not ready: %s\n", wg_pg_store_last_error(st));
        exit(1);
    }
    return st;
}

static void key_of(uint8_t key[32], unsigned seed)
{
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)((seed * 2654435761u) >> (i % 4 * 8)) ^ (uint8_t)i;
    memcpy(key, &seed, sizeof seed);
}

static wg_pg_event_row_t simple_row(const char *corp, unsigned seed)
{
    wg_pg_event_row_t r = {.corp = corp, .receiver = "", .xml = "<xml><Event>x</Event></xml>"};
    key_of(r.dedupe_key, seed);
    return r;
}

static long long count_rows(void)
{
    return pgtest_scalar(admin, "SELECT count(*) FROM callback_events");
}

static void truncate_table(void)
{
    CHECK(pgtest_ok(admin, "TRUNCATE callback_events"));
}

static void test_bad_url(void)
{
    char err[256] = "";
    CHECK(wg_pg_store_new(base, "postgresql://[bad", NULL, err, sizeof err) == NULL);
    CHECK(strstr(err, "bad database url") != NULL);
    CHECK(wg_pg_store_new(base, "host=127.0.0.1 no_such_option=1", NULL, err, sizeof err) == NULL);
    CHECK(strstr(err, "no_such_option") != NULL);
}

static void test_insert_before_connected(void)
{
    char err[256];
    wg_pg_store_t *st = wg_pg_store_new(base, db_url, NULL, err, sizeof err);
    CHECK(st != NULL);
    CHECK(!wg_pg_store_ready(st));
    CHECK_INT(wg_pg_store_backend_pid(st), 0);
    wg_pg_event_row_t row = simple_row("acme", 1);
    answer_t a = {0};
    CHECK_INT(wg_pg_store_insert(st, &row, on_answer, &a), -1);
    CHECK(pgtest_run_until(base, store_ready, st, 10000));
    CHECK(wg_pg_store_backend_pid(st) > 0);
    CHECK_STR(wg_pg_store_last_error(st), "");
    wg_pg_store_free(st);
    CHECK_INT(a.calls, 0);
}

static void test_unreachable_server(void)
{
    char err[256];
    wg_pg_store_options_t opt = {.reconnect_min_ms = 20, .reconnect_max_ms = 50};
    wg_pg_store_t *st =
        wg_pg_store_new(base, "postgresql://wegate@127.0.0.1:1/none", &opt, err, sizeof err);
    CHECK(st != NULL);
    pgtest_run_for(base, 200);
    CHECK(!wg_pg_store_ready(st));
    CHECK(strlen(wg_pg_store_last_error(st)) > 0);
    wg_pg_event_row_t row = simple_row("acme", 1);
    answer_t a = {0};
    CHECK_INT(wg_pg_store_insert(st, &row, on_answer, &a), -1);
    wg_pg_store_free(st);
}

/* A server that accepts the TCP connection and never answers: the connect timeout fires. */
static void test_connect_timeout(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    CHECK(s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 && listen(s, 16) == 0 &&
          getsockname(s, (struct sockaddr *)&a, &len) == 0);
    char url[128], err[256];
    snprintf(url, sizeof url, "postgresql://wegate@127.0.0.1:%d/x?sslmode=disable",
             ntohs(a.sin_port));
    wg_pg_store_options_t opt = {
        .connect_timeout_ms = 150, .reconnect_min_ms = 1000, .reconnect_max_ms = 1000};
    wg_pg_store_t *st = wg_pg_store_new(base, url, &opt, err, sizeof err);
    CHECK(st != NULL);
    pgtest_run_for(base, 100);
    CHECK_STR(wg_pg_store_last_error(st), "");
    pgtest_run_for(base, 250);
    CHECK(!wg_pg_store_ready(st));
    CHECK_STR(wg_pg_store_last_error(st), "connect timeout after 150 ms");
    wg_pg_store_free(st);
    close(s);
}

/* Each callback queues the next insert: the store is consistent while callbacks run. */
typedef struct chain {
    wg_pg_store_t *st;
    int done, stored, refused;
} chain_t;

static void on_chain(void *arg, wg_pg_result_t r, const char *err)
{
    (void)err;
    chain_t *c = arg;
    c->stored += r == WG_PG_STORED;
    if (++c->done < 50) {
        wg_pg_event_row_t row = simple_row("chain", 800 + (unsigned)c->done);
        c->refused += wg_pg_store_insert(c->st, &row, on_chain, c) != 0;
    }
}

static int chain_done(void *arg)
{
    chain_t *c = arg;
    return c->done >= 50 || c->refused;
}

static void test_insert_from_callback(void)
{
    truncate_table();
    chain_t c = {.st = open_store(NULL)};
    wg_pg_event_row_t row = simple_row("chain", 800);
    CHECK_INT(wg_pg_store_insert(c.st, &row, on_chain, &c), 0);
    CHECK(pgtest_run_until(base, chain_done, &c, 10000));
    CHECK_INT(c.refused, 0);
    CHECK_INT(c.done, 50);
    CHECK_INT(c.stored, 50);
    CHECK_INT(count_rows(), 50);
    wg_pg_store_free(c.st);
}

static void test_not_migrated(void)
{
    char name[64], err[256];
    char *url = pgtest_create_db("store_nomig", name, sizeof name);
    wg_pg_store_options_t opt = {.reconnect_min_ms = 20, .reconnect_max_ms = 100};
    wg_pg_store_t *st = wg_pg_store_new(base, url, &opt, err, sizeof err);
    CHECK(st != NULL);
    pgtest_run_for(base, 300);
    CHECK(!wg_pg_store_ready(st));
    CHECK(strstr(wg_pg_store_last_error(st), "schema not migrated") != NULL);
    int applied = 0;
    CHECK_INT(wg_pg_migrate(url, &applied, err, sizeof err), 0);
    /* Ready by itself once the schema is there. */
    CHECK(pgtest_run_until(base, store_ready, st, 5000));
    wg_pg_store_free(st);
    pgtest_drop_db(name);
    free(url);
}

static void test_insert_one_every_column(void)
{
    truncate_table();
    wg_pg_store_t *st = open_store(NULL);
    wg_pg_event_row_t row = {
        .corp = "acme",
        .receiver = "contacts",
        .create_time = 1700000000123,
        .has_create_time = 1,
        .msg_type = "event",
        .event = "change_external_contact",
        .change_type = "add_external_contact",
        .user_id = "zhangsan",
        .external_user_id = "wmXXXX",
        .chat_id = "wrChat",
        .msg_id = "msg-1",
        .agent_id = "1000002",
        .xml = "<xml><ToUserName>acme</ToUserName></xml>",
    };
    key_of(row.dedupe_key, 42);
    answer_t a = {0};
    CHECK_INT(wg_pg_store_insert(st, &row, on_answer, &a), 0);
    CHECK(wait_answers(&a, 1, 5000));
    CHECK_INT(a.calls, 1);
    CHECK_INT(a.result, WG_PG_STORED);
    CHECK_STR(a.err, "");

    PGresult *r = PQexec(admin, "SELECT corp, receiver, encode(dedupe_key, 'hex'), create_time, "
                                "msg_type, event, change_type, user_id, external_user_id, "
                                "chat_id, msg_id, agent_id, xml, status, attempts, last_error "
                                "IS NULL, processed_at IS NULL, received_at > now() - "
                                "interval '1 minute' FROM callback_events");
    CHECK_INT(PQntuples(r), 1);
    if (PQntuples(r) == 1) {
        char hex[65];
        for (int i = 0; i < 32; i++)
            snprintf(hex + 2 * i, 3, "%02x", row.dedupe_key[i]);
        const char *want[] = {"acme",
                              "contacts",
                              hex,
                              "1700000000123",
                              "event",
                              "change_external_contact",
                              "add_external_contact",
                              "zhangsan",
                              "wmXXXX",
                              "wrChat",
                              "msg-1",
                              "1000002",
                              "<xml><ToUserName>acme</ToUserName></xml>",
                              "pending",
                              "0",
                              "t",
                              "t",
                              "t"};
        for (int i = 0; i < (int)(sizeof want / sizeof want[0]); i++)
            CHECK_STR(PQgetvalue(r, 0, i), want[i]);
    }
    PQclear(r);

    /* The same dedupe key again: DUPLICATE, still one row. */
    answer_t b = {0};
    CHECK_INT(wg_pg_store_insert(st, &row, on_answer, &b), 0);
    CHECK(wait_answers(&b, 1, 5000));
    CHECK_INT(b.result, WG_PG_DUPLICATE);
    CHECK_INT(count_rows(), 1);

    wg_pg_store_stats_t s;
    wg_pg_store_get_stats(st, &s);
    CHECK_INT(s.commits, 2);
    CHECK_INT(s.rows, 2);
    CHECK_INT(s.failures, 0);
    CHECK_INT(s.batch_hist[0], 2);
    wg_pg_store_free(st);
    CHECK_INT(a.calls, 1);
    CHECK_INT(b.calls, 1);
}

static void test_same_key_one_batch(void)
{
    truncate_table();
    wg_pg_store_t *st = open_store(NULL);
    wg_pg_event_row_t r1 = simple_row("acme", 7), r2 = simple_row("acme", 7);
    r2.xml = "<xml>second</xml>";
    wg_pg_event_row_t other_corp = simple_row("globex", 7);
    wg_pg_event_row_t r3 = simple_row("acme", 8);
    answer_t a[5] = {{0}};
    /* All queued in one pass of the loop: one batch. */
    CHECK_INT(wg_pg_store_insert(st, &r1, on_answer, &a[0]), 0);
    CHECK_INT(wg_pg_store_insert(st, &r2, on_answer, &a[1]), 0);
    CHECK_INT(wg_pg_store_insert(st, &other_corp, on_answer, &a[2]), 0);
    CHECK_INT(wg_pg_store_insert(st, &r1, on_answer, &a[3]), 0);
    CHECK_INT(wg_pg_store_insert(st, &r3, on_answer, &a[4]), 0);
    CHECK(wait_answers(a, 5, 5000));
    CHECK_INT(a[0].result, WG_PG_STORED);
    CHECK_INT(a[1].result, WG_PG_DUPLICATE);
    CHECK_INT(a[2].result, WG_PG_STORED); /* same key, other corp: its own row */
    CHECK_INT(a[3].result, WG_PG_DUPLICATE);
    CHECK_INT(a[4].result, WG_PG_STORED);
    for (int i = 0; i < 5; i++)
        CHECK_INT(a[i].calls, 1);
    CHECK_INT(count_rows(), 3);
    /* The first of the batch is the one kept. */
    CHECK_INT(pgtest_scalar(admin, "SELECT count(*) FROM callback_events WHERE corp = 'acme' "
                                   "AND xml = '<xml>second</xml>'"),
              0);
    CHECK_INT(pgtest_scalar(admin, "SELECT count(DISTINCT corp) FROM callback_events"), 2);
    wg_pg_store_stats_t s;
    wg_pg_store_get_stats(st, &s);
    CHECK_INT(s.commits, 1);
    CHECK_INT(s.rows, 5);
    CHECK_INT(s.batch_hist[2], 1); /* 4-7 */
    wg_pg_store_free(st);
}

static void test_thousand_queued(void)
{
    enum { N = 1000 };
    truncate_table();
    wg_pg_store_t *st = open_store(NULL);
    answer_t *a = calloc(N, sizeof *a);
    for (int i = 0; i < N; i++) {
        wg_pg_event_row_t row = simple_row(i % 2 ? "acme" : "globex", 1000 + (unsigned)i);
        CHECK_INT(wg_pg_store_insert(st, &row, on_answer, &a[i]), 0);
    }
    CHECK(wait_answers(a, N, 20000));
    int stored = 0, once = 0;
    for (int i = 0; i < N; i++) {
        stored += a[i].result == WG_PG_STORED;
        once += a[i].calls == 1;
    }
    CHECK_INT(stored, N);
    CHECK_INT(once, N);
    CHECK_INT(count_rows(), N);
    wg_pg_store_stats_t s;
    wg_pg_store_get_stats(st, &s);
    CHECK_INT(s.rows, N);
    CHECK(s.commits >= 4 && s.commits < 10); /* 256 a batch by default */
    CHECK_INT(s.batch_hist[0], 0);
    CHECK(s.batch_hist[8] >= 3); /* 256-511 */
    uint64_t hist_total = 0;
    for (int i = 0; i < 10; i++)
        hist_total += s.batch_hist[i];
    CHECK_INT(hist_total, s.commits);
    wg_pg_store_free(st);
    free(a);
}

/* Batches of several MB: capped by bytes, and libpq's output goes out over several writes. */
static void test_big_batches(void)
{
    enum { N = 40, XML = 200 * 1024 };
    truncate_table();
    wg_pg_store_t *st = open_store(NULL);
    char *xml = malloc(XML + 1);
    answer_t a[N] = {{0}};
    for (int i = 0; i < N; i++) {
        memset(xml, 'a' + i % 26, XML);
        xml[XML] = '\0';
        wg_pg_event_row_t row = simple_row("acme", 3000 + (unsigned)i);
        row.xml = xml;
        CHECK_INT(wg_pg_store_insert(st, &row, on_answer, &a[i]), 0);
    }
    free(xml); /* the store copied what it needs */
    CHECK(wait_answers(a, N, 60000));
    int stored = 0;
    for (int i = 0; i < N; i++)
        stored += a[i].result == WG_PG_STORED;
    CHECK_INT(stored, N);
    wg_pg_store_stats_t s;
    wg_pg_store_get_stats(st, &s);
    CHECK(s.commits >= 2); /* 8 MB do not go in one statement */
    CHECK_INT(pgtest_scalar(admin, "SELECT sum(octet_length(xml)) FROM callback_events"),
              (long long)N * XML);
    CHECK_INT(pgtest_scalar(admin, "SELECT count(*) FROM callback_events WHERE xml <> "
                                   "repeat(chr(97 + (get_byte(dedupe_key, 0) + 256 * "
                                   "get_byte(dedupe_key, 1) - 3000) % 26), 204800)"),
              0);

    /* One row bigger than the socket buffers: PQflush has to wait for the socket. */
    size_t huge_len = 24u * 1024 * 1024;
    char *huge = malloc(huge_len + 1);
    memset(huge, 'z', huge_len);
    huge[huge_len] = '\0';
    wg_pg_event_row_t row = simple_row("acme", 4000);
    row.xml = huge;
    row.xml_len = huge_len;
    answer_t h = {0};
    CHECK_INT(wg_pg_store_insert(st, &row, on_answer, &h), 0);
    free(huge);
    CHECK(wait_answers(&h, 1, 60000));
    CHECK_INT(h.result, WG_PG_STORED);
    CHECK_INT(pgtest_scalar(admin, "SELECT max(octet_length(xml)) FROM callback_events"),
              (long long)huge_len);
    wg_pg_store_free(st);
}

static void test_max_batch(void)
{
    truncate_table();
    wg_pg_store_options_t opt = {.max_batch = 4};
    wg_pg_store_t *st = open_store(&opt);
    answer_t a[10] = {{0}};
    for (int i = 0; i < 10; i++) {
        wg_pg_event_row_t row = simple_row("acme", 5000 + (unsigned)i);
        CHECK_INT(wg_pg_store_insert(st, &row, on_answer, &a[i]), 0);
    }
    CHECK(wait_answers(a, 10, 5000));
    wg_pg_store_stats_t s;
    wg_pg_store_get_stats(st, &s);
    CHECK_INT(s.commits, 3); /* 4 + 4 + 2 */
    CHECK_INT(s.batch_hist[2], 2);
    CHECK_INT(s.batch_hist[1], 1);
    CHECK_INT(count_rows(), 10);
    wg_pg_store_free(st);
}

/* Rows arriving while a commit is in flight go together in the next one. */
static void test_group_commit_while_in_flight(void)
{
    truncate_table();
    wg_pg_store_t *st = open_store(NULL);
    /* Hold the table so that the first statement stays in flight. */
    PGconn *lock = pgtest_connect(db_url);
    CHECK(pgtest_ok(lock, "BEGIN"));
    CHECK(pgtest_ok(lock, "LOCK TABLE callback_events IN SHARE ROW EXCLUSIVE MODE"));
    answer_t first = {0}, later[20] = {{0}};
    wg_pg_event_row_t row = simple_row("acme", 9000);
    CHECK_INT(wg_pg_store_insert(st, &row, on_answer, &first), 0);
    pgtest_run_for(base, 100);
    for (int i = 0; i < 20; i++) {
        row = simple_row("acme", 9001 + (unsigned)i);
        CHECK_INT(wg_pg_store_insert(st, &row, on_answer, &later[i]), 0);
        pgtest_run_for(base, 5);
    }
    CHECK_INT(first.calls, 0);
    CHECK(pgtest_ok(lock, "COMMIT"));
    CHECK(wait_answers(later, 20, 5000));
    CHECK_INT(first.result, WG_PG_STORED);
    wg_pg_store_stats_t s;
    wg_pg_store_get_stats(st, &s);
    CHECK_INT(s.commits, 2);
    CHECK_INT(s.batch_hist[0], 1);
    CHECK_INT(s.batch_hist[4], 1); /* the 20 waiting rows: one batch of 16-31 */
    CHECK_INT(count_rows(), 21);
    PQfinish(lock);
    wg_pg_store_free(st);
}

static void test_hostile_strings(void)
{
    truncate_table();
    wg_pg_store_t *st = open_store(NULL);
    size_t big_len = 100 * 1024;
    char *big = malloc(big_len + 1);
    static const char pattern[] = "<a b=\"'\\\"{},\\\\NULL\">中文😀\t\r\n]]></a>";
    for (size_t i = 0; i < big_len; i++)
        big[i] = pattern[i % (sizeof pattern - 1)];
    /* do not cut a multi-byte character at the end */
    size_t cut = big_len;
    while (cut > 0 && ((unsigned char)big[cut - 1] & 0x80))
        cut--;
    big[cut] = '\0';

    const char *hostile[] = {
        "it's \"quoted\"",
        "back\\slash\\\\",
        "{braces},{}",
        "a,b,c",
        "\"",
        "NULL",
        "null",
        "",
        " ",
        "中文企业微信",
        "emoji 😀👍🏽",
        "{\"json\": [1,2]}",
        "\\x00",
        "E'\\n'",
        "line\nbreak\ttab",
        "$1::text",
        ")) ; DROP TABLE callback_events; --",
    };
    enum { NH = sizeof hostile / sizeof hostile[0] };
    wg_pg_event_row_t rows[NH + 1];
    answer_t a[NH + 1] = {{0}};
    for (int i = 0; i < NH; i++) {
        const char *h = hostile[i];
        rows[i] = (wg_pg_event_row_t){
            .corp = h,
            .receiver = h,
            .msg_type = h,
            .event = i % 2 ? NULL : h,
            .change_type = i % 3 ? h : NULL,
            .user_id = h,
            .external_user_id = NULL,
            .chat_id = h,
            .msg_id = i % 5 ? h : NULL,
            .agent_id = h,
            .xml = h,
            .has_create_time = i % 2,
            .create_time = i % 4 ? -(int64_t)i : INT64_MAX,
        };
        key_of(rows[i].dedupe_key, 20000 + (unsigned)i);
    }
    rows[NH] = (wg_pg_event_row_t){.corp = "acme", .receiver = "", .xml = big, .xml_len = cut};
    key_of(rows[NH].dedupe_key, 30000);
    for (int i = 0; i <= NH; i++)
        CHECK_INT(wg_pg_store_insert(st, &rows[i], on_answer, &a[i]), 0);
    CHECK(wait_answers(a, NH + 1, 5000));
    for (int i = 0; i <= NH; i++)
        CHECK_INT(a[i].result, WG_PG_STORED);

    /* Read back, binary format for exact bytes; keys identify rows. */
    PGresult *r = PQexecParams(admin,
                               "SELECT dedupe_key, corp, receiver, msg_type, event, change_type, "
                               "user_id, external_user_id, chat_id, msg_id, agent_id, xml, "
                               "create_time FROM callback_events",
                               0, NULL, NULL, NULL, NULL, 1);
    CHECK_INT(PQntuples(r), NH + 1);
    int seen = 0;
    for (int t = 0; t < PQntuples(r); t++) {
        for (int i = 0; i <= NH; i++) {
            if (PQgetlength(r, t, 0) != 32 || memcmp(PQgetvalue(r, t, 0), rows[i].dedupe_key, 32))
                continue;
            seen++;
            const char *want[11] = {rows[i].corp,
                                    rows[i].receiver,
                                    rows[i].msg_type,
                                    rows[i].event,
                                    rows[i].change_type,
                                    rows[i].user_id,
                                    rows[i].external_user_id,
                                    rows[i].chat_id,
                                    rows[i].msg_id,
                                    rows[i].agent_id,
                                    rows[i].xml};
            for (int c = 0; c < 11; c++) {
                if (!want[c]) {
                    CHECK(PQgetisnull(r, t, c + 1));
                    continue;
                }
                CHECK(!PQgetisnull(r, t, c + 1));
                CHECK_MEM(PQgetvalue(r, t, c + 1), (size_t)PQgetlength(r, t, c + 1), want[c],
                          strlen(want[c]));
            }
            if (!rows[i].has_create_time) {
                CHECK(PQgetisnull(r, t, 12));
            } else {
                const unsigned char *p = (const unsigned char *)PQgetvalue(r, t, 12);
                uint64_t v = 0;
                for (int k = 0; k < 8; k++)
                    v = v << 8 | p[k];
                CHECK_INT((int64_t)v, rows[i].create_time);
            }
        }
    }
    CHECK_INT(seen, NH + 1);
    PQclear(r);
    wg_pg_store_free(st);
    free(big);
}

static void test_invalid_rows(void)
{
    wg_pg_store_t *st = open_store(NULL);
    char err[256];
    answer_t a = {0};
    wg_pg_event_row_t row = simple_row("acme", 1);
    CHECK_INT(wg_pg_event_row_check(&row, err, sizeof err), 0);

    row.corp = NULL;
    CHECK_INT(wg_pg_event_row_check(&row, err, sizeof err), -1);
    CHECK_STR(err, "corp is required");
    CHECK_INT(wg_pg_store_insert(st, &row, on_answer, &a), -1);

    row = simple_row("acme", 1);
    row.xml = NULL;
    CHECK_INT(wg_pg_store_insert(st, &row, on_answer, &a), -1);

    static const char *const bad_utf8[] = {
        "\xff",
        "\xc0\xaf" /* overlong */,
        "\xed\xa0\x80" /* surrogate */,
        "\xf4\x90\x80\x80" /* > U+10FFFF */,
        "abc\xe4\xb8", /* truncated */
    };
    for (size_t i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++) {
        row = simple_row("acme", 1);
        row.user_id = bad_utf8[i];
        CHECK_INT(wg_pg_event_row_check(&row, err, sizeof err), -1);
        CHECK(strstr(err, "user_id is not valid UTF-8") != NULL);
        CHECK_INT(wg_pg_store_insert(st, &row, on_answer, &a), -1);
    }
    /* A NUL inside the xml (xml_len past it) cannot be stored in text. */
    row = simple_row("acme", 1);
    row.xml = "<xml>\0</xml>";
    row.xml_len = 12;
    CHECK_INT(wg_pg_store_insert(st, &row, on_answer, &a), -1);
    /* Valid 4-byte and 3-byte edge characters pass. */
    row = simple_row("acme", 1);
    row.user_id = "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\xe0\xa0\x80\xed\x9f\xbf\xc2\x80";
    CHECK_INT(wg_pg_event_row_check(&row, err, sizeof err), 0);
    pgtest_run_for(base, 20);
    CHECK_INT(a.calls, 0);
    wg_pg_store_free(st);
    CHECK_INT(a.calls, 0);
}

static void test_commit_timeout(void)
{
    truncate_table();
    wg_pg_store_options_t opt = {.commit_timeout_ms = 400};
    wg_pg_store_t *st = open_store(&opt);
    PGconn *lock = pgtest_connect(db_url);
    CHECK(pgtest_ok(lock, "BEGIN"));
    CHECK(pgtest_ok(lock, "LOCK TABLE callback_events IN SHARE ROW EXCLUSIVE MODE"));

    answer_t a = {0}, b = {0};
    wg_pg_event_row_t ra = simple_row("acme", 100), rb = simple_row("acme", 101);
    uint64_t t0 = pgtest_now_ms();
    CHECK_INT(wg_pg_store_insert(st, &ra, on_answer, &a), 0);
    pgtest_run_for(base, 100);
    CHECK_INT(wg_pg_store_insert(st, &rb, on_answer, &b), 0); /* queued behind the blocked one */
    CHECK(wait_answers(&a, 1, 3000));
    CHECK_INT(a.result, WG_PG_TIMEOUT);
    CHECK(a.at_ms - t0 >= 390 && a.at_ms - t0 < 1000u * (unsigned)pgtest_slow());
    CHECK_STR(a.err, "commit timeout");
    CHECK(wait_answers(&b, 1, 3000));
    CHECK_INT(b.result, WG_PG_TIMEOUT);
    CHECK(b.at_ms - t0 >= 490 && b.at_ms - t0 < 1100u * (unsigned)pgtest_slow());

    wg_pg_store_stats_t s;
    wg_pg_store_get_stats(st, &s);
    CHECK_INT(s.timeouts, 2);
    CHECK_INT(s.commits, 0);
    CHECK(wg_pg_store_ready(st));

    /* Release: the statement in flight commits, and nobody is answered twice. */
    CHECK(pgtest_ok(lock, "COMMIT"));
    uint64_t end = pgtest_now_ms() + 3000;
    do {
        pgtest_run_for(base, 20);
        wg_pg_store_get_stats(st, &s);
    } while (s.commits == 0 && pgtest_now_ms() < end);
    CHECK_INT(s.commits, 1);
    CHECK_INT(a.calls, 1);
    CHECK_INT(b.calls, 1);
    CHECK_INT(pgtest_scalar(admin, "SELECT count(*) FROM callback_events"), 1);

    /* The store goes on; the first row, retried, is a duplicate. */
    answer_t c = {0}, d = {0};
    CHECK_INT(wg_pg_store_insert(st, &ra, on_answer, &c), 0);
    CHECK_INT(wg_pg_store_insert(st, &rb, on_answer, &d), 0);
    CHECK(wait_answers(&d, 1, 3000));
    CHECK_INT(c.result, WG_PG_DUPLICATE);
    CHECK_INT(d.result, WG_PG_STORED);
    PQfinish(lock);
    wg_pg_store_free(st);
    CHECK_INT(a.calls, 1);
}

static void test_backend_killed(void)
{
    truncate_table();
    wg_pg_store_options_t opt = {.commit_timeout_ms = 10000, .reconnect_min_ms = 50};
    wg_pg_store_t *st = open_store(&opt);
    int pid = wg_pg_store_backend_pid(st);
    CHECK(pid > 0);
    PGconn *lock = pgtest_connect(db_url);
    CHECK(pgtest_ok(lock, "BEGIN"));
    CHECK(pgtest_ok(lock, "LOCK TABLE callback_events IN SHARE ROW EXCLUSIVE MODE"));

    answer_t a[3] = {{0}};
    wg_pg_event_row_t row = simple_row("acme", 200);
    CHECK_INT(wg_pg_store_insert(st, &row, on_answer, &a[0]), 0); /* in flight, blocked */
    pgtest_run_for(base, 100);
    for (int i = 1; i < 3; i++) {
        row = simple_row("acme", 200 + (unsigned)i);
        CHECK_INT(wg_pg_store_insert(st, &row, on_answer, &a[i]), 0); /* queued */
    }
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d)", pid);
    CHECK_INT(pgtest_scalar(admin, sql) >= 0, 1);
    CHECK(wait_answers(a, 3, 5000));
    for (int i = 0; i < 3; i++) {
        CHECK_INT(a[i].calls, 1);
        CHECK_INT(a[i].result, WG_PG_UNAVAILABLE);
        CHECK(strlen(a[i].err) > 0);
    }
    /* Disconnected: refused at once. */
    CHECK(!wg_pg_store_ready(st));
    answer_t refused = {0};
    CHECK_INT(wg_pg_store_insert(st, &row, on_answer, &refused), -1);
    CHECK(pgtest_ok(lock, "ROLLBACK"));

    /* It reconnects by itself. */
    CHECK(pgtest_run_until(base, store_ready, st, 5000));
    CHECK(wg_pg_store_backend_pid(st) != pid);
    answer_t after = {0};
    row = simple_row("acme", 300);
    CHECK_INT(wg_pg_store_insert(st, &row, on_answer, &after), 0);
    CHECK(wait_answers(&after, 1, 5000));
    CHECK_INT(after.result, WG_PG_STORED);
    wg_pg_store_stats_t s;
    wg_pg_store_get_stats(st, &s);
    CHECK_INT(s.disconnects, 1);
    CHECK_INT(s.failures, 1);
    CHECK_INT(count_rows(), 1);
    PQfinish(lock);
    wg_pg_store_free(st);
    CHECK_INT(refused.calls, 0);
}

/* Requests owned by the callback: it frees them (ASan catches a second call). */
typedef struct request {
    int *calls;
    wg_pg_result_t *result;
    wg_pg_store_t *st;
    int *insert_rc; /* what an insert from inside the callback returned */
} request_t;

static void on_request(void *arg, wg_pg_result_t r, const char *err)
{
    (void)err;
    request_t *q = arg;
    (*q->calls)++;
    *q->result = r;
    if (q->st) {
        wg_pg_event_row_t row = simple_row("acme", 777);
        answer_t ignored = {0};
        *q->insert_rc = wg_pg_store_insert(q->st, &row, on_answer, &ignored);
    }
    free(q);
}

static void test_free_with_pending(void)
{
    enum { N = 6 };
    truncate_table();
    wg_pg_store_options_t opt = {.commit_timeout_ms = 10000};
    wg_pg_store_t *st = open_store(&opt);
    PGconn *lock = pgtest_connect(db_url);
    CHECK(pgtest_ok(lock, "BEGIN"));
    CHECK(pgtest_ok(lock, "LOCK TABLE callback_events IN SHARE ROW EXCLUSIVE MODE"));
    int calls[N] = {0};
    wg_pg_result_t result[N];
    int insert_rc = 0;
    for (int i = 0; i < N; i++) {
        request_t *q = calloc(1, sizeof *q);
        q->calls = &calls[i];
        q->result = &result[i];
        wg_pg_event_row_t row = simple_row("acme", 400 + (unsigned)i);
        CHECK_INT(wg_pg_store_insert(st, &row, on_request, q), 0);
        if (i == 0)
            pgtest_run_for(base, 100); /* the first in flight, the rest queued */
    }
    /* One request tries to insert from its callback while the store closes. */
    request_t *probe = calloc(1, sizeof *probe);
    int probe_calls = 0;
    wg_pg_result_t probe_result;
    probe->calls = &probe_calls;
    probe->result = &probe_result;
    probe->st = st;
    probe->insert_rc = &insert_rc;
    wg_pg_event_row_t row = simple_row("acme", 499);
    CHECK_INT(wg_pg_store_insert(st, &row, on_request, probe), 0);

    wg_pg_store_free(st);
    for (int i = 0; i < N; i++) {
        CHECK_INT(calls[i], 1);
        CHECK_INT(result[i], WG_PG_UNAVAILABLE);
    }
    CHECK_INT(probe_calls, 1);
    CHECK_INT(probe_result, WG_PG_UNAVAILABLE);
    CHECK_INT(insert_rc, -1); /* a closing store refuses */
    CHECK(pgtest_ok(lock, "ROLLBACK"));
    PQfinish(lock);
    pgtest_run_for(base, 50);
    for (int i = 0; i < N; i++)
        CHECK_INT(calls[i], 1);
}

/* A callback that frees the store while other answers of the same pass are still due. */
typedef struct freeing {
    wg_pg_store_t **st;
    answer_t *answer;
} freeing_t;

static void on_answer_then_free(void *arg, wg_pg_result_t r, const char *err)
{
    freeing_t *f = arg;
    on_answer(f->answer, r, err);
    wg_pg_store_free(*f->st);
    *f->st = NULL;
}

static int sent_and_answered(void *arg)
{
    return ((answer_t *)arg)->calls > 0;
}

static void test_callback_frees_store(void)
{
    truncate_table();
    wg_pg_store_t *st = open_store(NULL);
    answer_t first = {0}, second = {0}, third = {0};
    freeing_t f = {&st, &first};
    wg_pg_event_row_t r1 = simple_row("acme", 600), r2 = simple_row("acme", 601),
                      r3 = simple_row("acme", 602);
    CHECK_INT(wg_pg_store_insert(st, &r1, on_answer_then_free, &f), 0);
    CHECK_INT(wg_pg_store_insert(st, &r2, on_answer, &second), 0);
    event_base_loop(base, EVLOOP_NONBLOCK);                       /* sends the batch of two */
    CHECK_INT(wg_pg_store_insert(st, &r3, on_answer, &third), 0); /* waits for the next one */
    CHECK(pgtest_run_until(base, sent_and_answered, &first, 5000));
    CHECK(st == NULL);
    CHECK_INT(first.calls, 1);
    CHECK_INT(first.result, WG_PG_STORED);
    CHECK_INT(second.calls, 1);
    CHECK_INT(second.result, WG_PG_STORED);
    CHECK_INT(third.calls, 1);
    CHECK_INT(third.result, WG_PG_UNAVAILABLE);
    pgtest_run_for(base, 50);
    CHECK_INT(second.calls, 1);
    CHECK_INT(third.calls, 1);
}

static void test_queue_limit(void)
{
    wg_pg_store_options_t opt = {.max_queue = 5};
    wg_pg_store_t *st = open_store(&opt);
    answer_t a[7] = {{0}};
    int accepted = 0;
    for (int i = 0; i < 7; i++) {
        wg_pg_event_row_t row = simple_row("acme", 700 + (unsigned)i);
        accepted += wg_pg_store_insert(st, &row, on_answer, &a[i]) == 0;
    }
    CHECK_INT(accepted, 5);
    wg_pg_store_free(st);
    for (int i = 0; i < 5; i++)
        CHECK_INT(a[i].calls, 1);
    CHECK_INT(a[5].calls + a[6].calls, 0);
}

static void test_result_names(void)
{
    CHECK_STR(wg_pg_result_name(WG_PG_STORED), "stored");
    CHECK_STR(wg_pg_result_name(WG_PG_DUPLICATE), "duplicate");
    CHECK_STR(wg_pg_result_name(WG_PG_UNAVAILABLE), "unavailable");
    CHECK_STR(wg_pg_result_name(WG_PG_TIMEOUT), "timeout");
}

int main(void)
{
    char name[64], err[256];
    db_url = pgtest_create_db("store", name, sizeof name);
    int applied = 0;
    if (wg_pg_migrate(db_url, &applied, err, sizeof err) != 0) {
        fprintf(stderr, "FAIL: migrate: %s\n", err);
        return 1;
    }
    admin = pgtest_connect(db_url);
    base = event_base_new();

    TEST_RUN(test_result_names);
    TEST_RUN(test_bad_url);
    TEST_RUN(test_insert_before_connected);
    TEST_RUN(test_unreachable_server);
    TEST_RUN(test_connect_timeout);
    TEST_RUN(test_not_migrated);
    TEST_RUN(test_insert_one_every_column);
    TEST_RUN(test_same_key_one_batch);
    TEST_RUN(test_thousand_queued);
    TEST_RUN(test_big_batches);
    TEST_RUN(test_max_batch);
    TEST_RUN(test_group_commit_while_in_flight);
    TEST_RUN(test_insert_from_callback);
    TEST_RUN(test_hostile_strings);
    TEST_RUN(test_invalid_rows);
    TEST_RUN(test_commit_timeout);
    TEST_RUN(test_backend_killed);
    TEST_RUN(test_free_with_pending);
    TEST_RUN(test_callback_frees_store);
    TEST_RUN(test_queue_limit);

    event_base_free(base);
    PQfinish(admin);
    pgtest_drop_db(name);
    free(db_url);
    return TEST_DONE();
}
