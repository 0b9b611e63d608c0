/* Helpers for the tests of connectors/pg against a real PostgreSQL: the server named by
 * WG_TEST_PG_URL (deploy/test.sh starts one), a database of its own for each test program so
 * that they can run in parallel, blocking libpq queries, and an event-loop runner. */
#ifndef WG_TEST_PGTEST_H
#define WG_TEST_PGTEST_H

#include <event2/event.h>
#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t pgtest_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline void pgtest_quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Timeouts are multiplied by this under valgrind (deploy/test.sh --valgrind sets WG_VALGRIND). */
static inline int pgtest_slow(void)
{
    const char *v = getenv("WG_VALGRIND");
    return v && *v && strcmp(v, "0") != 0 ? 10 : 1;
}

/* The server to test against; without it the test fails (never skips). */
static inline const char *pgtest_server_url(void)
{
    const char *url = getenv("WG_TEST_PG_URL");
    if (!url || !*url) {
        fprintf(stderr, "FAIL: WG_TEST_PG_URL is not set. Run the tests through deploy/test.sh, "
                        "or start PostgreSQL (deploy/pg.sh init/start) and export "
                        "WG_TEST_PG_URL=postgresql://wegate@127.0.0.1:PORT/wegate\n");
        exit(1);
    }
    return url;
}

/* Blocking connection; exits the test on failure (nothing else can be checked without it). */
static inline PGconn *pgtest_connect(const char *conninfo)
{
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "FAIL: cannot connect to %s: %s", conninfo, PQerrorMessage(c));
        exit(1);
    }
    PQsetNoticeProcessor(c, pgtest_quiet, NULL);
    return c;
}

/* Runs sql; returns 1 when it succeeded (and prints the error otherwise). */
static inline int pgtest_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType s = PQresultStatus(r);
    int ok = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "query failed: %s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    return ok;
}

/* The first column of the first row as a number; -1 on error or no row. */
static inline long long pgtest_scalar(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    long long v = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
        v = atoll(PQgetvalue(r, 0, 0));
    else if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fprintf(stderr, "query failed: %s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    return v;
}

/* conninfo (URL or key=value) with its dbname replaced, as a key=value string (malloc'd). */
static inline char *pgtest_with_dbname(const char *conninfo, const char *dbname)
{
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
    if (!opts) {
        fprintf(stderr, "FAIL: bad conninfo %s: %s\n", conninfo, perr ? perr : "");
        exit(1);
    }
    size_t cap = 256 + strlen(dbname) * 2, len = 0;
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (o->val)
            cap += strlen(o->keyword) + 2 * strlen(o->val) + 5;
    char *out = malloc(cap);
    if (!out)
        exit(1);
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        const char *v = strcmp(o->keyword, "dbname") == 0 ? NULL : o->val;
        if (!v)
            continue;
        len += (size_t)snprintf(out + len, cap - len, "%s='", o->keyword);
        for (const char *s = v; *s; s++) {
            if (*s == '\'' || *s == '\\')
                out[len++] = '\\';
            out[len++] = *s;
        }
        len += (size_t)snprintf(out + len, cap - len, "' ");
    }
    snprintf(out + len, cap - len, "dbname='%s'", dbname);
    PQconninfoFree(opts);
    return out;
}

/* Creates a fresh database named wgt_<tag>_<pid>_<n> on the server of WG_TEST_PG_URL and
 * returns its conninfo (malloc'd); name gets the database name. */
static inline char *pgtest_create_db(const char *tag, char *name, size_t namelen)
{
    static int n;
    const char *url = pgtest_server_url();
    snprintf(name, namelen, "wgt_%s_%ld_%d", tag, (long)getpid(), n++);
    PGconn *c = pgtest_connect(url);
    char sql[256];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    pgtest_ok(c, sql);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    if (!pgtest_ok(c, sql)) {
        fprintf(stderr, "FAIL: cannot create database %s\n", name);
        exit(1);
    }
    PQfinish(c);
    return pgtest_with_dbname(url, name);
}

static inline void pgtest_drop_db(const char *name)
{
    PGconn *c = pgtest_connect(pgtest_server_url());
    char sql[256];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    pgtest_ok(c, sql);
    PQfinish(c);
}

static inline void pgtest_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

/* Runs base until cond(arg) is true or timeout_ms pass; returns cond's final value. */
static inline int pgtest_run_until(struct event_base *base, int (*cond)(void *), void *arg,
                                   int timeout_ms)
{
    struct event *tick = event_new(base, -1, EV_PERSIST, pgtest_tick, NULL);
    struct timeval tv = {0, 5000};
    event_add(tick, &tv);
    uint64_t end = pgtest_now_ms() + (uint64_t)timeout_ms * (uint64_t)pgtest_slow();
    while (!cond(arg) && pgtest_now_ms() < end)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(tick);
    return cond(arg);
}

/* Runs base for ms milliseconds (not scaled under valgrind). */
static inline int pgtest_never(void *arg)
{
    (void)arg;
    return 0;
}
static inline void pgtest_run_for(struct event_base *base, int ms)
{
    pgtest_run_until(base, pgtest_never, NULL, ms / pgtest_slow());
}

#endif
