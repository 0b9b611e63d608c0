/* The outbox worker's PostgreSQL connection: one non-blocking libpq connection on the background
 * loop, one statement in flight at a time, LISTEN/NOTIFY, reconnection with backoff and jitter.
 * On every new connection a setup string runs first (simple protocol, several statements: the
 * LISTEN and a schema check); only when it succeeded is the connection ready. No logging: the
 * owner hears of readiness and loss through state_cb and logs. */
#ifndef WG_OUTBOX_DB_H
#define WG_OUTBOX_DB_H

#include <libpq-fe.h>
#include <stddef.h>

struct event_base;

typedef struct wg_outbox_db wg_outbox_db_t;

/* A statement's end: res is its last result (borrowed: PQclear is the connection's job; NULL
 * when the connection was lost first, then err says why). Runs on the loop, never inside
 * wg_outbox_db_send(). It may send the next statement or free the connection. */
typedef void (*wg_outbox_db_result_cb)(void *arg, const PGresult *res, const char *err);
/* ready 1: connected and set up; 0: lost or failed (err says why; a retry is scheduled). */
typedef void (*wg_outbox_db_state_cb)(void *arg, int ready, const char *err);
/* A NOTIFY arrived on a channel the setup LISTENed to. */
typedef void (*wg_outbox_db_notify_cb)(void *arg, const char *channel);

typedef struct wg_outbox_db_options {
    const char *conninfo; /* URL or key=value; copied */
    const char *setup;    /* run once per connection; copied */
    int connect_timeout_ms;
    int reconnect_min_ms;
    int reconnect_max_ms;
    wg_outbox_db_state_cb state_cb;
    wg_outbox_db_notify_cb notify_cb;
    void *arg; /* for state_cb and notify_cb */
} wg_outbox_db_options_t;

/* Starts connecting. NULL with err on a bad conninfo or out of memory. */
wg_outbox_db_t *wg_outbox_db_new(struct event_base *base, const wg_outbox_db_options_t *opts,
                                 char *err, size_t errlen);
/* Closes the connection; a statement in flight gets no callback. */
void wg_outbox_db_free(wg_outbox_db_t *db);

/* 1 when a statement may be sent now (ready and none in flight). */
int wg_outbox_db_idle(const wg_outbox_db_t *db);
int wg_outbox_db_ready(const wg_outbox_db_t *db);

/* Sends one statement with text parameters (values copied by libpq before this returns).
 * 0, or -1 (cb will not run) when not idle, or when the connection broke: then it is closed,
 * and state_cb(0) follows from the loop. */
int wg_outbox_db_send(wg_outbox_db_t *db, const char *sql, int nparams, const char *const *values,
                      wg_outbox_db_result_cb cb, void *arg);
/* The same for a statement the setup PREPAREd under name. */
int wg_outbox_db_send_prepared(wg_outbox_db_t *db, const char *name, int nparams,
                               const char *const *values, wg_outbox_db_result_cb cb, void *arg);

#endif
