/* An HTTP worker thread's state: its own event_base, evhttp (on its own SO_REUSEPORT listening
 * socket), PostgreSQL store, per-endpoint message crypt objects and scratch buffers, plus the
 * per-request context that tracks in-flight requests for graceful shutdown. Everything here is
 * touched by the worker's own thread only, except cmd_ (an atomic written by the main thread).
 * Routes (gateway/routes/) see a wg_request_t and the worker it belongs to. */
#ifndef WG_SERVER_WORKER_H
#define WG_SERVER_WORKER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <time.h>

#include "connectors/pg/store.h"
#include "crypto/msgcrypt.h"
#include "gateway/config/config.h"

struct event;
struct event_base;
struct evhttp;
struct evhttp_bound_socket;
struct evhttp_connection;
struct evhttp_request;
struct evp_md_st;
struct evp_md_ctx_st;

/* One callback endpoint (a corp's main token/key or one named receiver) as this thread sees it. */
typedef struct wg_endpoint {
    const wg_config_corp_t *corp;     /* borrowed from the config */
    const wg_config_receiver_t *recv; /* borrowed; &corp->main for the corp-level endpoint */
    const char *receiver_name;        /* "" for the corp-level endpoint */
    wg_crypto_msgcrypt_t *mc;         /* owned; this thread's own */
    char *label;                      /* owned; "/wecom/acme[/contacts]/callback" */
} wg_endpoint_t;

typedef struct wg_request wg_request_t;

typedef enum wg_worker_cmd {
    WG_WORKER_RUN = 0,
    WG_WORKER_DRAIN, /* stop accepting, finish in-flight requests (up to the grace period) */
    WG_WORKER_STOP,  /* stop now */
} wg_worker_cmd_t;

typedef struct wg_worker {
    int id;
    const wg_config_t *cfg; /* borrowed, shared read-only by all threads */

    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *bound; /* NULL once removed (drain) */
    int listen_fd;                     /* ours until handed to evhttp (-1 after) */
    wg_pg_store_t *store;
    struct wg_conn_watch *watch; /* cuts off clients too slow to send a request */

    wg_endpoint_t *endpoints; /* n_endpoints; corp i's start at corp_first[i] */
    size_t n_endpoints;
    size_t *corp_first;
    char **unknown_receiver_labels; /* per corp: "/wecom/acme/{receiver}/callback" */

    /* Hot-path scratch, reused by every request of this thread (grown, never shrunk). */
    uint8_t *decrypt_buf;
    size_t decrypt_cap;
    char *query_buf;
    size_t query_cap;
    struct evp_md_st *sha256;     /* fetched once */
    struct evp_md_ctx_st *md_ctx; /* reused */

    /* In-flight tracking (requests handed to a route whose reply is not yet fully written and
     * whose connection is still open). */
    long inflight;
    int draining;
    wg_request_t *free_requests; /* recycled contexts */
    size_t n_requests;           /* contexts allocated (alive or recycled) */

    /* Control from the main thread: cmd_ then a write to notify_fd_ (borrowed). */
    _Atomic int cmd_;
    int notify_fd_;
    struct event *notify_ev_;
    struct event *grace_ev_;
    struct event *tick_ev_;
    int was_ready_;
    _Atomic int *unready_; /* shared: workers whose store is not ready (set before init) */
    time_t last_store_error_log_;

    /* Thread and startup. */
    pthread_t thread_;
    int started_;
    int init_failed_;
    char err_[256];
} wg_worker_t;

/* A request handed to a route. The route ends it with exactly one wg_request_reply (now, or
 * later after wg_request_hold / wg_request_unhold). */
struct wg_request {
    wg_worker_t *worker;
    struct evhttp_request *req_; /* NULL once libevent freed it */
    struct evhttp_connection *evcon_;
    const char *route;        /* log label; borrowed */
    const char *store_result; /* optional log field: "stored", "duplicate", ... */
    int route_data;           /* the route's own use (callback: answer "success") */
    uint64_t t0_us;
    int method_;
    unsigned replied_ : 1, http_done_ : 1, held_ : 1, detached_ : 1;
    wg_request_t *next_free_;
};

/* Creates the worker's loop, evhttp (taking listen_fd: the worker owns it from now on, even on
 * failure), store and crypt objects. notify_fd (an eventfd) is borrowed: the caller closes it
 * after the thread is joined, so wg_worker_command never writes to a recycled descriptor.
 * Call in the worker's own thread. 0, or -1 with w->err_. */
int wg_worker_init(wg_worker_t *w, int id, const wg_config_t *cfg, int listen_fd, int notify_fd);
/* Runs the loop until drained or stopped. */
void wg_worker_run(wg_worker_t *w);
/* Frees everything the worker owns (safe after a failed init); w itself is the caller's. */
void wg_worker_destroy(wg_worker_t *w);
/* From another thread: asks the worker to drain or stop. */
void wg_worker_command(wg_worker_t *w, wg_worker_cmd_t cmd);

/* The evhttp request (valid until the reply; NULL if the client is gone). */
struct evhttp_request *wg_request_http(wg_request_t *rq);

/* Sends status with body (len bytes; may be NULL/0) as content_type (NULL: text/plain), writes
 * the request's log line (reason, if non-NULL, goes into it: never secrets), and ends the
 * route's part. rq may be released by the time this returns: do not touch it again. */
void wg_request_reply(wg_request_t *rq, int status, const char *content_type, const void *body,
                      size_t len, const char *reason);
/* Plain-text reply whose body is the reason itself ("unknown corp"). */
void wg_request_reply_text(wg_request_t *rq, int status, const char *text);

/* The route goes asynchronous (waits for the store). The client may disconnect meanwhile. */
void wg_request_hold(wg_request_t *rq);
/* The wait is over: 1 when the route should now reply; 0 when the client is gone and rq has
 * been released (do not touch it). */
int wg_request_unhold(wg_request_t *rq);

/* Logs a store failure message at most once per second per worker. */
void wg_worker_log_store_error(wg_worker_t *w, const char *what, const char *err);

#endif
