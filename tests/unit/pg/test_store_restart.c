/* wg_pg_store across PostgreSQL restarts, on a private cluster started with deploy/pg.sh
 * (argv[1]) so that the shared test server is never stopped: a fast shutdown with a statement in
 * flight (UNAVAILABLE, then -1 while down, ready again after the start), and an immediate
 * (crash-like) shutdown after which every row answered STORED is still there. */
#include "connectors/pg/store.h"
#include "pgtest.h"
#include "testlib.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

static const char *pg_sh;
static char dir[64];
static int port;
static char url[128];
static struct event_base *base;
static wg_pg_store_t *st;

static int pg(const char *cmd)
{
    char line[512];
    snprintf(line, sizeof line, "bash '%s' %s '%s' %d >&2", pg_sh, cmd, dir, port);
    int rc = system(line);
    if (rc != 0)
        fprintf(stderr, "pg.sh %s: exit %d\n", cmd, rc);
    return rc;
}

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &len) != 0) {
        perror("free_port");
        exit(1);
    }
    close(s);
    return ntohs(a.sin_port);
}

typedef struct answer {
    int calls;
    wg_pg_result_t result;
} answer_t;

static void on_answer(void *arg, wg_pg_result_t r, const char *err)
{
    (void)err;
    answer_t *a = arg;
    a->calls++;
    a->result = r;
}

static int answered(void *arg)
{
    return ((answer_t *)arg)->calls > 0;
}

static int store_ready(void *arg)
{
    return wg_pg_store_ready(arg);
}

static wg_pg_event_row_t row_of(unsigned seed)
{
    wg_pg_event_row_t r = {.corp = "acme", .receiver = "", .xml = "<xml/>"};
    memcpy(r.dedupe_key, &seed, sizeof seed);
    return r;
}

static long long rows_in_db(void)
{
    PGconn *c = pgtest_connect(url);
    long long n = pgtest_scalar(c, "SELECT count(*) FROM callback_events");
    PQfinish(c);
    return n;
}

static void test_fast_shutdown_and_start(void)
{
    answer_t a = {0};
    wg_pg_event_row_t r = row_of(1);
    CHECK_INT(wg_pg_store_insert(st, &r, on_answer, &a), 0);
    CHECK(pgtest_run_until(base, answered, &a, 5000));
    CHECK_INT(a.result, WG_PG_STORED);

    /* A statement in flight when the server goes down: a trigger holds it in pg_sleep, which
     * the shutdown interrupts, so it cannot commit (a lock released by the shutdown could let
     * it through). */
    PGconn *c = pgtest_connect(url);
    CHECK(pgtest_ok(c, "CREATE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$ "
                       "BEGIN IF NEW.corp = 'slow' THEN PERFORM pg_sleep(60); END IF; "
                       "RETURN NEW; END $$"));
    CHECK(pgtest_ok(c, "CREATE TRIGGER slow BEFORE INSERT ON callback_events FOR EACH ROW "
                       "EXECUTE FUNCTION slow_insert()"));
    PQfinish(c);
    answer_t inflight = {0}, queued = {0};
    wg_pg_event_row_t r2 = row_of(2), r3 = row_of(3);
    r2.corp = "slow";
    CHECK_INT(wg_pg_store_insert(st, &r2, on_answer, &inflight), 0);
    pgtest_run_for(base, 100);
    CHECK_INT(wg_pg_store_insert(st, &r3, on_answer, &queued), 0);
    CHECK_INT(inflight.calls + queued.calls, 0);
    CHECK_INT(pg("stop"), 0);
    uint64_t t0 = pgtest_now_ms();
    CHECK(pgtest_run_until(base, answered, &queued, 5000));
    CHECK(pgtest_now_ms() - t0 < 2000u * (unsigned)pgtest_slow());
    CHECK_INT(inflight.calls, 1);
    CHECK_INT(inflight.result, WG_PG_UNAVAILABLE);
    CHECK_INT(queued.calls, 1);
    CHECK_INT(queued.result, WG_PG_UNAVAILABLE);

    /* While down: not ready, refused at once, and it keeps trying. */
    pgtest_run_for(base, 700);
    CHECK(!wg_pg_store_ready(st));
    CHECK(strlen(wg_pg_store_last_error(st)) > 0);
    answer_t refused = {0};
    CHECK_INT(wg_pg_store_insert(st, &r2, on_answer, &refused), -1);

    CHECK_INT(pg("start"), 0);
    c = pgtest_connect(url);
    CHECK(pgtest_ok(c, "DROP TRIGGER slow ON callback_events"));
    PQfinish(c);
    CHECK(pgtest_run_until(base, store_ready, st, 15000));
    answer_t retry = {0};
    CHECK_INT(wg_pg_store_insert(st, &r2, on_answer, &retry), 0);
    CHECK(pgtest_run_until(base, answered, &retry, 5000));
    CHECK_INT(retry.result, WG_PG_STORED);
    CHECK_INT(refused.calls, 0);
    CHECK_INT(inflight.calls, 1);
    CHECK_INT(rows_in_db(), 2);
}

static int all_answered(void *arg)
{
    answer_t *a = arg;
    for (int i = 0; i < 200; i++)
        if (!a[i].calls)
            return 0;
    return 1;
}

static void test_crash_keeps_stored_rows(void)
{
    enum { N = 200 };
    long long before = rows_in_db();
    answer_t a[N] = {{0}};
    for (int i = 0; i < N; i++) {
        wg_pg_event_row_t r = row_of(1000 + (unsigned)i);
        CHECK_INT(wg_pg_store_insert(st, &r, on_answer, &a[i]), 0);
        if (i % 10 == 9)
            event_base_loop(base, EVLOOP_NONBLOCK);
    }
    CHECK(pgtest_run_until(base, all_answered, a, 10000));
    int stored = 0;
    for (int i = 0; i < N; i++)
        stored += a[i].result == WG_PG_STORED;
    CHECK_INT(stored, N);
    CHECK_INT(pg("kill"), 0); /* immediate: no checkpoint, WAL replays at start */
    pgtest_run_for(base, 300);
    CHECK(!wg_pg_store_ready(st));
    CHECK_INT(pg("start"), 0);
    CHECK_INT(rows_in_db(), before + N);
    CHECK(pgtest_run_until(base, store_ready, st, 15000));
    wg_pg_store_stats_t s;
    wg_pg_store_get_stats(st, &s);
    CHECK_INT(s.disconnects, 2);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s path/to/deploy/pg.sh\n", argv[0]);
        return 2;
    }
    pg_sh = argv[1];
    snprintf(dir, sizeof dir, "/tmp/wgt-restart-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    chmod(dir, 0755); /* as root, pg.sh runs PostgreSQL as postgres, who must reach it */
    port = free_port();
    if (pg("init") != 0 || pg("start") != 0) {
        fprintf(stderr, "FAIL: cannot start a private PostgreSQL in %s\n", dir);
        return 1;
    }
    char line[512];
    snprintf(line, sizeof line, "bash '%s' createdb '%s' %d wegate >&2", pg_sh, dir, port);
    CHECK_INT(system(line), 0);
    snprintf(url, sizeof url, "postgresql://wegate@127.0.0.1:%d/wegate", port);
    char err[256];
    int applied = 0;
    CHECK_INT(wg_pg_migrate(url, &applied, err, sizeof err), 0);

    base = event_base_new();
    wg_pg_store_options_t opt = {
        .connect_timeout_ms = 1000, .reconnect_min_ms = 50, .reconnect_max_ms = 400};
    st = wg_pg_store_new(base, url, &opt, err, sizeof err);
    CHECK(st != NULL);
    if (st && pgtest_run_until(base, store_ready, st, 10000)) {
        TEST_RUN(test_fast_shutdown_and_start);
        TEST_RUN(test_crash_keeps_stored_rows);
    } else {
        CHECK(!"store ready on the private cluster");
    }
    wg_pg_store_free(st);
    event_base_free(base);

    pg("stop");
    snprintf(line, sizeof line, "rm -rf '%s'", dir);
    if (system(line) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return TEST_DONE();
}
