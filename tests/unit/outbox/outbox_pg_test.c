/* The outbox worker against a real PostgreSQL (WG_TEST_PG_URL), without any server to send to:
 * enqueue and its idempotency key; rows that fail to connect are retried then dead; unknown
 * channels and bad payloads are dead at once; rows of corps this instance does not serve are
 * left alone; a 'sending' row whose lease ran out is claimed again, one whose lease runs is
 * not; two workers on one database never claim a row twice (SKIP LOCKED); drain ends. */
#include <arpa/inet.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/http/client.h"
#include "connectors/pg/store.h"
#include "gateway/config/config.h"
#include "gateway/log.h"
#include "gateway/outbox/channels.h"
#include "gateway/outbox/outbox.h"
#include "testlib.h"
#include "unit/pg/pgtest.h"

#define MAX_ATTEMPTS 3

static char *conninfo;
static char url[512];
static PGconn *conn;
static int closed_port;
static wg_config_t *cfg;

/* WG_TEST_PG_URL with the database replaced (the config wants a URL). */
static void make_url(const char *dbname)
{
    const char *server = pgtest_server_url();
    const char *slash = strrchr(server, '/');
    if (!slash || strchr(slash, '?') || strncmp(server, "postgres", 8) != 0) {
        fprintf(stderr, "FAIL: WG_TEST_PG_URL must be a postgresql:// URL without a query\n");
        exit(1);
    }
    snprintf(url, sizeof url, "%.*s/%s", (int)(slash - server), server, dbname);
}

/* A loopback port nothing listens on. */
static int unused_port(void)
{
    evutil_socket_t fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    bind(fd, (struct sockaddr *)&sa, sizeof sa);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    evutil_closesocket(fd);
    return ntohs(sa.sin_port);
}

static wg_config_t *config(void)
{
    char json[2048], err[512];
    snprintf(json, sizeof json,
             "{\"database\": {\"url\": \"%s\"}, \"log_level\": \"warn\","
             " \"outbox\": {\"poll_ms\": 20, \"max_attempts\": %d, \"backoff_min_ms\": 30,"
             "  \"backoff_max_ms\": 60, \"lease_ms\": 2000, \"concurrency\": 8, \"batch\": 16},"
             " \"http_client\": {\"connect_timeout_ms\": 500, \"response_timeout_ms\": 1000},"
             " \"corps\": [{\"name\": \"demo\", \"corp_id\": \"wwdemo\", \"token\": \"QDG6eK\","
             "  \"encoding_aes_key\": \"jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C\","
             "  \"api_base\": \"https://127.0.0.1:%d\","
             "  \"channels\": {\"gone\": {\"type\": \"webhook\","
             "                 \"url\": \"https://127.0.0.1:%d/x\", \"secret\": \"s\"},"
             "               \"alerts\": {\"type\": \"robot\", \"key\": \"k\"}}}]}",
             url, MAX_ATTEMPTS, closed_port, closed_port);
    wg_config_t *cfg = wg_config_parse(json, strlen(json), err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "FAIL: config: %s\n", err);
        exit(1);
    }
    return cfg;
}

static long long scalar(const char *sql)
{
    return pgtest_scalar(conn, sql);
}

static void insert(const char *corp, const char *channel, const char *payload, const char *key)
{
    wg_outbox_item_t item = {corp, channel, NULL, payload, key};
    int64_t id = -1;
    char err[256];
    CHECK_INT(wg_outbox_enqueue(conn, &item, &id, err, sizeof err), 0);
    CHECK(id > 0);
}

static void test_enqueue(void)
{
    wg_outbox_item_t item = {"demo", "gone", "a|b", "{\"content\": \"x\"}", "enqueue-1"};
    int64_t id1 = 0, id2 = 0, id3 = 0;
    char err[256];
    CHECK_INT(wg_outbox_enqueue(conn, &item, &id1, err, sizeof err), 0);
    CHECK(id1 > 0);
    CHECK_INT(wg_outbox_enqueue(conn, &item, &id2, err, sizeof err), 0);
    CHECK_INT(id2, 0); /* the same key again: a no-op */
    item.corp = "other";
    CHECK_INT(wg_outbox_enqueue(conn, &item, &id3, err, sizeof err), 0);
    CHECK(id3 > id1); /* unique per corp only */
    item.payload = "[1, 2]";
    item.key = "enqueue-2";
    CHECK_INT(wg_outbox_enqueue(conn, &item, &id3, err, sizeof err), -1);
    CHECK(strstr(err, "outbox_payload_check") != NULL);
    /* committed with the caller's transaction, or not at all */
    item.payload = "{}";
    item.key = "enqueue-rolled-back";
    CHECK(pgtest_ok(conn, "BEGIN"));
    CHECK_INT(wg_outbox_enqueue(conn, &item, &id3, err, sizeof err), 0);
    CHECK(pgtest_ok(conn, "ROLLBACK"));
    CHECK_INT(scalar("select count(*) from outbox where idempotency_key = 'enqueue-rolled-back'"),
              0);
    CHECK(pgtest_ok(conn, "DELETE FROM outbox"));
}

typedef struct world {
    struct event_base *base;
    struct evdns_base *dns;
    wg_http_client_t *http;
    wg_outbox_channels_t *ch;
    wg_outbox_t *ob;
    int drained;
} world_t;

static void world_start(world_t *w, struct event_base *base)
{
    char err[256];
    memset(w, 0, sizeof *w);
    w->base = base;
    w->dns = evdns_base_new(base, 0);
    wg_http_client_options_t ho = {.connect_timeout_ms = 500, .response_timeout_ms = 1000};
    w->http = wg_http_client_new(base, w->dns, &ho, err, sizeof err);
    CHECK(w->http != NULL);
    w->ch = wg_outbox_channels_new(base, w->http, cfg, err, sizeof err);
    CHECK(w->ch != NULL);
    w->ob = wg_outbox_new(base, cfg, w->ch, err, sizeof err);
    CHECK(w->ob != NULL);
    if (!w->http || !w->ch || !w->ob) {
        fprintf(stderr, "FAIL: %s\n", err);
        exit(1);
    }
}

static void on_drained(void *arg)
{
    ((world_t *)arg)->drained = 1;
}

static int is_drained(void *arg)
{
    return ((world_t *)arg)->drained;
}

static void world_stop(world_t *w)
{
    wg_outbox_drain(w->ob, on_drained, w);
    CHECK(pgtest_run_until(w->base, is_drained, w, 5000));
    wg_outbox_free(w->ob);
    wg_outbox_channels_free(w->ch);
    wg_http_client_free(w->http);
    event_base_loop(w->base, EVLOOP_NONBLOCK);
    evdns_base_free(w->dns, 0);
}

static const char *wait_sql;
static int sql_true(void *arg)
{
    (void)arg;
    return scalar(wait_sql) == 1;
}

static int wait_for(struct event_base *base, const char *sql, int ms)
{
    wait_sql = sql;
    int ok = pgtest_run_until(base, sql_true, NULL, ms);
    if (!ok)
        fprintf(stderr, "  timed out waiting for: %s\n", sql);
    return ok;
}

static void test_worker(void)
{
    struct event_base *base = event_base_new();
    /* before the worker starts: a lease that ran out, one that runs, another corp */
    CHECK(pgtest_ok(conn, "INSERT INTO outbox (corp, channel, payload, idempotency_key, status, "
                          "attempts, locked_until, next_attempt_at) VALUES "
                          "('demo', 'nope', '{}', 'lease-over', 'sending', 1, "
                          " now() - interval '1 second', now() - interval '1 second'),"
                          "('demo', 'gone', '{}', 'lease-runs', 'sending', 1, "
                          " now() + interval '1 hour', now() + interval '1 hour')"));
    insert("other", "gone", "{}", "other-corp");
    insert("demo", "gone", "{\"n\": 1}", "unreachable");
    insert("demo", "nope", "{}", "unknown-channel");
    insert("demo", "alerts", "{\"msgtype\": \"markdown\"}", "bad-payload");

    world_t w;
    world_start(&w, base);
    CHECK(wait_for(base,
                   "select (count(*) = 4)::int from outbox where status = 'dead' and "
                   "idempotency_key in ('lease-over', 'unreachable', 'unknown-channel', "
                   "'bad-payload')",
                   20000));
    CHECK_INT(scalar("select attempts from outbox where idempotency_key = 'unreachable'"),
              MAX_ATTEMPTS);
    CHECK_INT(scalar("select (last_error like 'gave up after 3 attempts: %connect%')::int from "
                     "outbox where idempotency_key = 'unreachable'"),
              1);
    CHECK_INT(scalar("select (last_error = 'channel nope is not configured for corp demo')::int "
                     "from outbox where idempotency_key = 'unknown-channel'"),
              1);
    CHECK_INT(scalar("select attempts from outbox where idempotency_key = 'unknown-channel'"), 1);
    CHECK_INT(scalar("select attempts from outbox where idempotency_key = 'lease-over'"), 2);
    CHECK_INT(scalar("select (last_error = 'rejected before sending: payload: content is "
                     "required')::int from outbox where idempotency_key = 'bad-payload'"),
              1);
    CHECK_INT(scalar("select (status = 'sending' and attempts = 1)::int from outbox where "
                     "idempotency_key = 'lease-runs'"),
              1);
    CHECK_INT(scalar("select (status = 'pending' and attempts = 0)::int from outbox where "
                     "corp = 'other'"),
              1);
    CHECK_INT(scalar("select count(*) from outbox where status = 'dead' and "
                     "(locked_until is not null or sent_at is not null)"),
              0);
    wg_outbox_stats_t st;
    wg_outbox_get_stats(w.ob, &st);
    CHECK_INT(st.dead, 4);
    CHECK_INT(st.retried, MAX_ATTEMPTS - 1);
    CHECK_INT(st.running, 0);
    world_stop(&w);
    event_base_free(base);
    CHECK(pgtest_ok(conn, "DELETE FROM outbox"));
}

/* Two workers, one database: rows to an unknown channel go dead on their first claim, so a row
 * claimed twice would show attempts 2. */
static void test_two_workers(void)
{
    struct event_base *base = event_base_new();
    world_t a, b;
    world_start(&a, base);
    world_start(&b, base);
    pgtest_run_for(base, 200); /* both connected and listening */
    CHECK(pgtest_ok(conn,
                    "INSERT INTO outbox (corp, channel, payload, idempotency_key) "
                    "SELECT 'demo', 'nope', '{}', 'two-' || i FROM generate_series(1, 400) i"));
    CHECK(wait_for(base, "select (count(*) = 400)::int from outbox where status = 'dead'", 20000));
    CHECK_INT(scalar("select count(*) from outbox where attempts <> 1"), 0);
    wg_outbox_stats_t sa, sb;
    wg_outbox_get_stats(a.ob, &sa);
    wg_outbox_get_stats(b.ob, &sb);
    CHECK_INT(sa.claimed + sb.claimed, 400);
    CHECK_INT(sa.dead + sb.dead, 400);
    fprintf(stderr, "  worker a claimed %llu, worker b %llu\n", (unsigned long long)sa.claimed,
            (unsigned long long)sb.claimed);
    world_stop(&a);
    world_stop(&b);
    event_base_free(base);
}

int main(void)
{
    char dbname[128];
    conninfo = pgtest_create_db("outbox", dbname, sizeof dbname);
    make_url(dbname);
    int applied = 0;
    char err[256];
    if (wg_pg_migrate(conninfo, &applied, err, sizeof err) != 0) {
        fprintf(stderr, "FAIL: migrate: %s\n", err);
        return 1;
    }
    conn = pgtest_connect(conninfo);
    closed_port = unused_port();
    wg_log_set_level(WG_LOG_ERROR);
    cfg = config();

    TEST_RUN(test_enqueue);
    TEST_RUN(test_worker);
    TEST_RUN(test_two_workers);

    wg_config_free(cfg);
    PQfinish(conn);
    pgtest_drop_db(dbname);
    free(conninfo);
    return TEST_DONE();
}
