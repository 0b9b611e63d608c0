/* The outbox worker's asynchronous PostgreSQL connection (see db.h): PQconnectStart/Poll driven
 * by one socket event, then PQsendQuery* / PQflush / PQconsumeInput / PQgetResult as in
 * connectors/pg/store.c, plus PQnotifies after every read. */
#include "gateway/outbox/db.h"

#include <event2/event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ERR_MAX 256

typedef enum db_state {
    DB_WAITING,    /* disconnected; the timer starts the next attempt */
    DB_CONNECTING, /* PQconnectPoll in progress */
    DB_SETUP,      /* connected; the setup string in flight */
    DB_READY,      /* statements may run, one at a time */
} db_state_t;

struct wg_outbox_db {
    struct event_base *base;
    wg_outbox_db_options_t opt;
    char *conninfo;
    char *setup;
    PGconn *conn;
    db_state_t state;

    struct event *ev_io;
    evutil_socket_t io_fd;
    short io_flags;
    int io_added;
    int want_write;
    struct event *ev_timer; /* connect timeout, or the backoff before reconnecting */
    int backoff_ms;
    uint32_t rng;

    int active; /* a statement (or the setup) is in flight */
    PGresult *last;
    int failed; /* the setup failed */
    char failed_err[ERR_MAX];
    wg_outbox_db_result_cb cb;
    void *cb_arg;
    /* Callbacks may free the connection: wg_outbox_db_free inside a pass (depth > 0) only marks
     * it closing; the pass checks `closing` after each callback and frees on its way out. */
    int depth;
    int closing;
    int lost_notice; /* WAITING: tell state_cb about lost_err from the timer first */
    char lost_err[ERR_MAX];
};

static void copy_msg(char *dst, size_t dstlen, const char *prefix, const char *msg)
{
    if (!msg || !*msg)
        msg = "unknown error";
    snprintf(dst, dstlen, "%s%s", prefix, msg);
    size_t n = strlen(dst);
    while (n > 0 && (dst[n - 1] == '\n' || dst[n - 1] == '\r'))
        dst[--n] = '\0';
    for (char *c = dst; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
}

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static void on_io(evutil_socket_t fd, short what, void *arg);

static void io_set(wg_outbox_db_t *db, evutil_socket_t fd, short flags, int force)
{
    if (!force && db->io_added && db->io_fd == fd && db->io_flags == flags)
        return;
    if (db->io_added)
        event_del(db->ev_io);
    db->io_added = 0;
    if (fd < 0)
        return;
    event_assign(db->ev_io, db->base, fd, flags | EV_PERSIST, on_io, db);
    if (event_add(db->ev_io, NULL) == 0)
        db->io_added = 1;
    db->io_fd = fd;
    db->io_flags = flags;
}

static void timer_ms(struct event *ev, int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    event_add(ev, &tv);
}

static void close_conn(wg_outbox_db_t *db)
{
    io_set(db, -1, 0, 1);
    if (db->last)
        PQclear(db->last);
    db->last = NULL;
    if (db->conn)
        PQfinish(db->conn);
    db->conn = NULL;
    db->active = 0;
    db->want_write = 0;
}

/* Lost or failed: close, tell the owner (and the statement in flight), retry after a backoff.
 * Returns 1 when a callback closed the connection for good. */
static int fail_conn(wg_outbox_db_t *db, const char *prefix, const char *msg)
{
    char err[ERR_MAX];
    copy_msg(err, sizeof err, prefix, msg);
    int was_ready = db->state == DB_READY;
    wg_outbox_db_result_cb cb = db->active && was_ready ? db->cb : NULL;
    void *cb_arg = db->cb_arg;
    db->cb = NULL;
    close_conn(db);
    db->state = DB_WAITING;
    event_del(db->ev_timer);
    db->rng = db->rng * 1103515245u + 12345u;
    int delay = db->backoff_ms + (int)((uint64_t)db->backoff_ms * ((db->rng >> 16) % 256) / 1024);
    timer_ms(db->ev_timer, delay);
    db->backoff_ms = db->backoff_ms > db->opt.reconnect_max_ms / 2 ? db->opt.reconnect_max_ms
                                                                   : db->backoff_ms * 2;
    if (cb)
        cb(cb_arg, NULL, err);
    if (!db->closing && db->opt.state_cb)
        db->opt.state_cb(db->opt.arg, 0, err);
    return db->closing;
}

/* -1 when the connection failed. */
static int flush_output(wg_outbox_db_t *db)
{
    int r = PQflush(db->conn);
    if (r < 0) {
        fail_conn(db, "", PQerrorMessage(db->conn));
        return -1;
    }
    db->want_write = r == 1;
    io_set(db, PQsocket(db->conn), EV_READ | (db->want_write ? EV_WRITE : 0), 0);
    return 0;
}

static void start_connect(wg_outbox_db_t *db)
{
    const char *const kw[] = {
        "application_name", "keepalives", "keepalives_idle", "keepalives_interval",
        "keepalives_count", "dbname",     "client_encoding", NULL};
    const char *const val[] = {"wegate-outbox", "1", "30", "10", "3", db->conninfo, "UTF8", NULL};
    db->conn = PQconnectStartParams(kw, val, 1);
    if (!db->conn) {
        fail_conn(db, "", "out of memory");
        return;
    }
    PQsetNoticeProcessor(db->conn, ignore_notice, NULL);
    if (PQstatus(db->conn) == CONNECTION_BAD) {
        fail_conn(db, "", PQerrorMessage(db->conn));
        return;
    }
    db->state = DB_CONNECTING;
    event_del(db->ev_timer);
    timer_ms(db->ev_timer, db->opt.connect_timeout_ms);
    io_set(db, PQsocket(db->conn), EV_WRITE, 1);
}

static void connect_step(wg_outbox_db_t *db)
{
    switch (PQconnectPoll(db->conn)) {
    case PGRES_POLLING_READING:
        io_set(db, PQsocket(db->conn), EV_READ, 1);
        return;
    case PGRES_POLLING_WRITING:
        io_set(db, PQsocket(db->conn), EV_WRITE, 1);
        return;
    case PGRES_POLLING_OK:
        break;
    default:
        fail_conn(db, "", PQerrorMessage(db->conn));
        return;
    }
    if (PQsetnonblocking(db->conn, 1) != 0 || !PQsendQuery(db->conn, db->setup)) {
        fail_conn(db, "", PQerrorMessage(db->conn));
        return;
    }
    db->state = DB_SETUP;
    db->active = 1;
    db->failed = 0;
    io_set(db, PQsocket(db->conn), EV_READ, 1);
    flush_output(db);
}

/* Returns 1 when a callback closed the connection for good. */
static int deliver_notifies(wg_outbox_db_t *db)
{
    PGnotify *n;
    while (db->conn && (n = PQnotifies(db->conn)) != NULL) {
        if (db->opt.notify_cb)
            db->opt.notify_cb(db->opt.arg, n->relname);
        PQfreemem(n);
        if (db->closing)
            return 1;
    }
    return 0;
}

static void statement_done(wg_outbox_db_t *db)
{
    db->active = 0;
    if (db->state == DB_SETUP) {
        if (db->failed) {
            fail_conn(db, "", db->failed_err);
            return;
        }
        if (db->last)
            PQclear(db->last);
        db->last = NULL;
        event_del(db->ev_timer);
        db->state = DB_READY;
        db->backoff_ms = db->opt.reconnect_min_ms;
        if (db->opt.state_cb)
            db->opt.state_cb(db->opt.arg, 1, NULL);
        return;
    }
    wg_outbox_db_result_cb cb = db->cb;
    void *arg = db->cb_arg;
    PGresult *res = db->last;
    db->last = NULL;
    db->cb = NULL;
    if (cb)
        cb(arg, res, res ? NULL : "no result");
    if (res)
        PQclear(res);
}

static void read_results(wg_outbox_db_t *db)
{
    if (!PQconsumeInput(db->conn)) {
        fail_conn(db, "", PQerrorMessage(db->conn));
        return;
    }
    if (deliver_notifies(db))
        return;
    while (db->conn && db->active && !PQisBusy(db->conn)) {
        PGresult *res = PQgetResult(db->conn);
        if (!res) {
            statement_done(db);
            if (db->closing)
                return;
            break;
        }
        ExecStatusType st = PQresultStatus(res);
        if (db->state == DB_SETUP && st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK &&
            !db->failed) {
            db->failed = 1;
            copy_msg(db->failed_err, sizeof db->failed_err,
                     "setup failed: ", PQresultErrorMessage(res));
        }
        /* Keep the last result: a statement's error or its rows. */
        if (db->last)
            PQclear(db->last);
        db->last = res;
    }
    if (!db->conn)
        return;
    if (PQstatus(db->conn) == CONNECTION_BAD) {
        fail_conn(db, "", PQerrorMessage(db->conn));
        return;
    }
    /* PQgetResult may have read notifications that came after the results. */
    if (deliver_notifies(db) || !db->conn)
        return;
    io_set(db, PQsocket(db->conn), EV_READ | (db->want_write ? EV_WRITE : 0), 0);
}

static void really_free(wg_outbox_db_t *db);

static void leave(wg_outbox_db_t *db)
{
    if (--db->depth == 0 && db->closing)
        really_free(db);
}

static void on_io(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    wg_outbox_db_t *db = arg;
    db->depth++;
    if (db->state == DB_CONNECTING) {
        connect_step(db);
    } else if (db->state == DB_SETUP || db->state == DB_READY) {
        if ((db->want_write || (what & EV_WRITE)) && flush_output(db) != 0) {
            leave(db);
            return;
        }
        if (db->conn && (what & EV_READ))
            read_results(db);
    }
    leave(db);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    wg_outbox_db_t *db = arg;
    db->depth++;
    if (db->state == DB_WAITING && db->lost_notice) {
        /* A send failed synchronously: the owner hears of it here, then the backoff runs. */
        db->lost_notice = 0;
        timer_ms(db->ev_timer, db->backoff_ms);
        if (db->opt.state_cb)
            db->opt.state_cb(db->opt.arg, 0, db->lost_err);
    } else if (db->state == DB_WAITING) {
        start_connect(db);
    } else if (db->state == DB_CONNECTING || db->state == DB_SETUP) {
        char msg[64];
        snprintf(msg, sizeof msg, "connect timeout after %d ms", db->opt.connect_timeout_ms);
        fail_conn(db, "", msg);
    }
    leave(db);
}

wg_outbox_db_t *wg_outbox_db_new(struct event_base *base, const wg_outbox_db_options_t *opts,
                                 char *err, size_t errlen)
{
    char *perr = NULL;
    PQconninfoOption *parsed = PQconninfoParse(opts->conninfo, &perr);
    if (!parsed) {
        copy_msg(err, errlen, "bad database url: ", perr ? perr : "out of memory");
        PQfreemem(perr);
        return NULL;
    }
    PQconninfoFree(parsed);
    wg_outbox_db_t *db = calloc(1, sizeof *db);
    if (!db)
        goto nomem;
    db->base = base;
    db->opt = *opts;
    if (db->opt.connect_timeout_ms <= 0)
        db->opt.connect_timeout_ms = 3000;
    if (db->opt.reconnect_min_ms <= 0)
        db->opt.reconnect_min_ms = 100;
    if (db->opt.reconnect_max_ms < db->opt.reconnect_min_ms)
        db->opt.reconnect_max_ms = db->opt.reconnect_min_ms * 50;
    db->backoff_ms = db->opt.reconnect_min_ms;
    db->rng = (uint32_t)(uintptr_t)db ^ (uint32_t)time(NULL);
    db->io_fd = -1;
    db->conninfo = strdup(opts->conninfo);
    db->setup = strdup(opts->setup ? opts->setup : "SELECT 1");
    db->ev_io = event_new(base, -1, 0, on_io, db);
    db->ev_timer = evtimer_new(base, on_timer, db);
    if (!db->conninfo || !db->setup || !db->ev_io || !db->ev_timer)
        goto nomem;
    db->opt.conninfo = NULL;
    db->opt.setup = NULL;
    db->state = DB_WAITING;
    timer_ms(db->ev_timer, 0); /* connect from the loop: callbacks never run inside _new */
    return db;
nomem:
    snprintf(err, errlen, "out of memory");
    wg_outbox_db_free(db);
    return NULL;
}

void wg_outbox_db_free(wg_outbox_db_t *db)
{
    if (!db)
        return;
    if (db->depth > 0) { /* inside one of our callbacks: the pass frees it on its way out */
        db->closing = 1;
        db->cb = NULL;
        close_conn(db);
        event_del(db->ev_timer);
        return;
    }
    really_free(db);
}

static void really_free(wg_outbox_db_t *db)
{
    close_conn(db);
    if (db->ev_io)
        event_free(db->ev_io);
    if (db->ev_timer)
        event_free(db->ev_timer);
    free(db->conninfo);
    free(db->setup);
    free(db);
}

int wg_outbox_db_ready(const wg_outbox_db_t *db)
{
    return db && db->state == DB_READY;
}

int wg_outbox_db_idle(const wg_outbox_db_t *db)
{
    return db && db->state == DB_READY && !db->active;
}

static int send_statement(wg_outbox_db_t *db, const char *sql, const char *name, int nparams,
                          const char *const *values, wg_outbox_db_result_cb cb, void *arg)
{
    if (!wg_outbox_db_idle(db))
        return -1;
    int ok = name ? PQsendQueryPrepared(db->conn, name, nparams, values, NULL, NULL, 0)
                  : PQsendQueryParams(db->conn, sql, nparams, NULL, values, NULL, NULL, 0);
    int r = ok ? PQflush(db->conn) : -1;
    if (r < 0) {
        /* The caller sees -1, not a callback; state_cb(0) follows from the loop. */
        copy_msg(db->lost_err, sizeof db->lost_err, "", PQerrorMessage(db->conn));
        close_conn(db);
        db->state = DB_WAITING;
        db->lost_notice = 1;
        event_del(db->ev_timer);
        timer_ms(db->ev_timer, 0);
        return -1;
    }
    db->active = 1;
    db->cb = cb;
    db->cb_arg = arg;
    db->want_write = r == 1;
    io_set(db, PQsocket(db->conn), EV_READ | (db->want_write ? EV_WRITE : 0), 0);
    return 0;
}

int wg_outbox_db_send(wg_outbox_db_t *db, const char *sql, int nparams, const char *const *values,
                      wg_outbox_db_result_cb cb, void *arg)
{
    return send_statement(db, sql, NULL, nparams, values, cb, arg);
}

int wg_outbox_db_send_prepared(wg_outbox_db_t *db, const char *name, int nparams,
                               const char *const *values, wg_outbox_db_result_cb cb, void *arg)
{
    return send_statement(db, NULL, name, nparams, values, cb, arg);
}
