/* An HTTP worker thread: its loop, evhttp, store and crypt objects; request contexts and the
 * in-flight count that graceful shutdown waits on.
 *
 * Request lifetime with libevent 2.1 (http.c), which the in-flight count follows:
 * - evhttp calls on_http_request once the whole request is read; reading on that connection is
 *   then disabled until the reply is written, so a client that goes away while the route waits
 *   on the store is only noticed when the reply is written (or at evhttp_free).
 * - A written reply ends in evhttp_send_done: the on_complete callback runs, then libevent frees
 *   the request. A failed write frees the connection instead: its close callback runs, then the
 *   request is freed with it.
 * - If the connection fails while the route still holds an unanswered request, libevent either
 *   detaches the request (req->evcon = NULL: it stays alive and our later reply only frees it)
 *   or, from evhttp_free, frees it with the connection. The close callback tells them apart by
 *   evhttp_request_get_connection() and marks the context detached or orphaned.
 * The connection's close callback points at the request context only while that request is in
 * flight (one at a time per connection: evhttp does not pipeline); on_complete clears it. */
#include "gateway/server/worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/evp.h>

#include "gateway/log.h"
#include "gateway/routes/routes.h"
#include "gateway/server/conn.h"
#include "gateway/server/router.h"
#include "gateway/server/server.h"

/* Ceiling on request contexts per worker: past it new requests get 503 at once. */
#define MAX_REQUESTS_PER_WORKER 100000
#define MAX_HEADERS_SIZE (32 * 1024)
#define TEXT_PLAIN "text/plain; charset=utf-8"

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static const char *method_name(int m)
{
    switch (m) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_TRACE:
        return "TRACE";
    case EVHTTP_REQ_CONNECT:
        return "CONNECT";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    default:
        return "OTHER";
    }
}

/* ---- request contexts ---- */

static void check_drained(wg_worker_t *w)
{
    if (w->draining && w->inflight == 0)
        event_base_loopbreak(w->base);
}

static void request_release(wg_request_t *rq)
{
    wg_worker_t *w = rq->worker;
    rq->next_free_ = w->free_requests;
    w->free_requests = rq;
}

/* The HTTP side of rq is over (reply written, or connection gone). */
static void request_http_done(wg_request_t *rq)
{
    wg_worker_t *w = rq->worker;
    rq->http_done_ = 1;
    rq->req_ = NULL;
    rq->evcon_ = NULL;
    w->inflight--;
    if (!rq->held_)
        request_release(rq);
    check_drained(w);
}

static void log_request(const wg_request_t *rq, int status, const char *reason)
{
    if (!wg_log_enabled(WG_LOG_INFO))
        return;
    unsigned long long us = (unsigned long long)(now_us() - rq->t0_us);
    wg_log(WG_LOG_INFO, "request", "method=%s route=%s status=%d us=%llu%s%s%s%s%s",
           method_name(rq->method_), rq->route, status, us, rq->store_result ? " store=" : "",
           rq->store_result ? rq->store_result : "", reason ? " reason=\"" : "",
           reason ? reason : "", reason ? "\"" : "");
}

static void on_request_complete(struct evhttp_request *req, void *arg)
{
    (void)req;
    wg_request_t *rq = arg;
    if (rq->evcon_)
        evhttp_connection_set_closecb(rq->evcon_, NULL, NULL);
    request_http_done(rq);
}

static void on_connection_close(struct evhttp_connection *evcon, void *arg)
{
    wg_request_t *rq = arg;
    evhttp_connection_set_closecb(evcon, NULL, NULL);
    if (!rq->replied_ && rq->req_ && evhttp_request_get_connection(rq->req_) == NULL) {
        /* Detached by libevent: the request lives until our reply, which only frees it. */
        rq->detached_ = 1;
        rq->evcon_ = NULL;
        return;
    }
    if (!rq->replied_)
        log_request(rq, 0, "connection closed before the reply");
    request_http_done(rq); /* libevent frees the request right after this callback */
}

static wg_request_t *request_begin(wg_worker_t *w, struct evhttp_request *req)
{
    wg_request_t *rq = w->free_requests;
    if (rq) {
        w->free_requests = rq->next_free_;
    } else {
        if (w->n_requests >= MAX_REQUESTS_PER_WORKER)
            return NULL;
        rq = malloc(sizeof *rq);
        if (!rq)
            return NULL;
        w->n_requests++;
    }
    memset(rq, 0, sizeof *rq);
    rq->worker = w;
    rq->req_ = req;
    rq->evcon_ = evhttp_request_get_connection(req);
    rq->route = "-";
    rq->t0_us = now_us();
    rq->method_ = (int)evhttp_request_get_command(req);
    evhttp_request_set_on_complete_cb(req, on_request_complete, rq);
    if (rq->evcon_)
        evhttp_connection_set_closecb(rq->evcon_, on_connection_close, rq);
    w->inflight++;
    return rq;
}

struct evhttp_request *wg_request_http(wg_request_t *rq)
{
    return rq->req_;
}

void wg_request_reply(wg_request_t *rq, int status, const char *content_type, const void *body,
                      size_t len, const char *reason)
{
    wg_worker_t *w = rq->worker;
    struct evhttp_request *req = rq->req_;
    if (rq->replied_ || req == NULL)
        return; /* a route bug; nothing safe to do */
    rq->replied_ = 1;
    log_request(rq, status, reason);

    struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
    evhttp_add_header(headers, "Content-Type", content_type ? content_type : TEXT_PLAIN);
    if (w->draining)
        evhttp_add_header(headers, "Connection", "close");
    if (len > 0 && evbuffer_add(evhttp_request_get_output_buffer(req), body, len) != 0)
        status = 500; /* out of memory: the body would be wrong */
    int detached = rq->detached_;
    evhttp_send_reply(req, status, NULL, NULL);
    if (detached)
        request_http_done(rq); /* evhttp_send_reply freed the detached request */
}

void wg_request_reply_text(wg_request_t *rq, int status, const char *text)
{
    wg_request_reply(rq, status, TEXT_PLAIN, text, strlen(text), status >= 400 ? text : NULL);
}

void wg_request_hold(wg_request_t *rq)
{
    rq->held_ = 1;
}

int wg_request_unhold(wg_request_t *rq)
{
    rq->held_ = 0;
    if (rq->http_done_) {
        request_release(rq);
        return 0;
    }
    return 1;
}

void wg_worker_log_store_error(wg_worker_t *w, const char *what, const char *err)
{
    time_t now = time(NULL);
    if (now == w->last_store_error_log_)
        return;
    w->last_store_error_log_ = now;
    char text[256];
    wg_log(WG_LOG_WARN, "database error", "worker=%d result=%s error=\"%s\"", w->id, what,
           wg_text_for_log(text, sizeof text, err));
}

/* ---- dispatch ---- */

static int method_is(const wg_request_t *rq, int a, int b)
{
    return rq->method_ == a || rq->method_ == b;
}

static void reply_405(wg_request_t *rq, const char *allow)
{
    evhttp_add_header(evhttp_request_get_output_headers(rq->req_), "Allow", allow);
    wg_request_reply_text(rq, 405, "method not allowed");
}

static void on_http_request(struct evhttp_request *req, void *arg)
{
    wg_worker_t *w = arg;
    wg_request_t *rq = request_begin(w, req);
    if (rq == NULL) {
        wg_log(WG_LOG_WARN, "request rejected", "worker=%d reason=\"too many requests in flight\"",
               w->id);
        evhttp_send_error(req, 503, "Service Unavailable");
        return;
    }
    if (w->store == NULL) { /* the worker is being torn down */
        wg_request_reply_text(rq, 503, "shutting down");
        return;
    }
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    wg_route_match_t m;
    wg_router_match(w->cfg, path, &m);
    rq->route = wg_router_label(m.kind);

    switch (m.kind) {
    case WG_ROUTE_HEALTHZ:
        if (!method_is(rq, EVHTTP_REQ_GET, EVHTTP_REQ_HEAD))
            reply_405(rq, "GET, HEAD");
        else
            wg_route_healthz(rq);
        return;
    case WG_ROUTE_READYZ:
        if (!method_is(rq, EVHTTP_REQ_GET, EVHTTP_REQ_HEAD))
            reply_405(rq, "GET, HEAD");
        else
            wg_route_readyz(rq);
        return;
    case WG_ROUTE_UNKNOWN_CORP:
        wg_request_reply_text(rq, 404, "unknown corp");
        return;
    case WG_ROUTE_UNKNOWN_RECEIVER:
        rq->route = w->unknown_receiver_labels[m.corp_index];
        wg_request_reply_text(rq, 404, "unknown receiver");
        return;
    case WG_ROUTE_CALLBACK: {
        wg_endpoint_t *ep =
            &w->endpoints[w->corp_first[m.corp_index] + (size_t)(m.receiver_index + 1)];
        rq->route = ep->label;
        if (!method_is(rq, EVHTTP_REQ_GET, EVHTTP_REQ_POST))
            reply_405(rq, "GET, POST");
        else
            wg_route_callback(rq, ep);
        return;
    }
    case WG_ROUTE_NONE:
    default:
        wg_request_reply_text(rq, 404, "not found");
        return;
    }
}

/* ---- control: drain, stop, readiness ---- */

static void start_drain(wg_worker_t *w)
{
    if (w->draining)
        return;
    w->draining = 1;
    if (w->bound) {
        evhttp_del_accept_socket(w->http, w->bound); /* frees the listener: closes its fd */
        w->bound = NULL;
    }
    struct timeval tv = {w->cfg->http_shutdown_grace_ms / 1000,
                         (w->cfg->http_shutdown_grace_ms % 1000) * 1000};
    evtimer_add(w->grace_ev_, &tv);
    if (w->inflight > 0)
        wg_log(WG_LOG_INFO, "draining", "worker=%d inflight=%ld", w->id, w->inflight);
    check_drained(w);
}

static void on_notify(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    wg_worker_t *w = arg;
    uint64_t v;
    ssize_t r = read(fd, &v, sizeof v);
    (void)r;
    int cmd = atomic_load(&w->cmd_);
    if (cmd == WG_WORKER_STOP)
        event_base_loopbreak(w->base);
    else if (cmd == WG_WORKER_DRAIN)
        start_drain(w);
}

static void on_grace_expired(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    wg_worker_t *w = arg;
    wg_log(WG_LOG_WARN, "shutdown grace period over", "worker=%d inflight=%ld", w->id, w->inflight);
    event_base_loopbreak(w->base);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    wg_worker_t *w = arg;
    int ready = wg_pg_store_ready(w->store);
    char text[256];
    if (ready != w->was_ready_) { /* was_ready_ starts at -1: the first tick says either way */
        if (w->unready_ && ready)
            atomic_fetch_sub(w->unready_, 1);
        else if (w->unready_ && w->was_ready_ == 1)
            atomic_fetch_add(w->unready_, 1);
        if (ready)
            wg_log(WG_LOG_INFO, "database ready", "worker=%d", w->id);
        else
            wg_log(WG_LOG_WARN, "database not ready", "worker=%d error=\"%s\"", w->id,
                   wg_text_for_log(text, sizeof text, wg_pg_store_last_error(w->store)));
        w->was_ready_ = ready;
    }
}

void wg_worker_command(wg_worker_t *w, wg_worker_cmd_t cmd)
{
    int cur = atomic_load(&w->cmd_);
    while ((int)cmd > cur && !atomic_compare_exchange_weak(&w->cmd_, &cur, (int)cmd)) {
    }
    uint64_t one = 1;
    ssize_t r = write(w->notify_fd_, &one, sizeof one);
    (void)r; /* the counter cannot overflow with our few writes */
}

/* ---- setup and teardown ---- */

static char *label_printf(const char *fmt, const char *a, const char *b)
{
    int n = snprintf(NULL, 0, fmt, a, b);
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (s)
        snprintf(s, (size_t)n + 1, fmt, a, b);
    return s;
}

static int init_endpoint(wg_worker_t *w, wg_endpoint_t *ep, const wg_config_corp_t *corp,
                         const wg_config_receiver_t *recv)
{
    ep->corp = corp;
    ep->recv = recv;
    ep->receiver_name = recv == &corp->main ? "" : recv->name;
    if (recv == &corp->main)
        ep->label = label_printf("/wecom/%s/callback", corp->name, "");
    else
        ep->label = label_printf("/wecom/%s/%s/callback", corp->name, recv->name);
    if (!ep->label) {
        snprintf(w->err_, sizeof w->err_, "out of memory");
        return -1;
    }
    char err[160];
    wg_crypto_rc_t rc;
    ep->mc = wg_crypto_msgcrypt_new(recv->token, recv->encoding_aes_key, &rc, err, sizeof err);
    if (!ep->mc) {
        snprintf(w->err_, sizeof w->err_, "corp %s receiver '%s': %s", corp->name,
                 ep->receiver_name, err);
        return -1;
    }
    return 0;
}

static int init_endpoints(wg_worker_t *w)
{
    const wg_config_t *cfg = w->cfg;
    size_t n = 0;
    for (size_t i = 0; i < cfg->n_corps; i++)
        n += 1 + cfg->corps[i].n_receivers;
    w->corp_first = calloc(cfg->n_corps ? cfg->n_corps : 1, sizeof *w->corp_first);
    w->unknown_receiver_labels =
        calloc(cfg->n_corps ? cfg->n_corps : 1, sizeof *w->unknown_receiver_labels);
    w->endpoints = calloc(n ? n : 1, sizeof *w->endpoints);
    if (!w->corp_first || !w->unknown_receiver_labels || !w->endpoints) {
        snprintf(w->err_, sizeof w->err_, "out of memory");
        return -1;
    }
    size_t k = 0;
    for (size_t i = 0; i < cfg->n_corps; i++) {
        const wg_config_corp_t *corp = &cfg->corps[i];
        w->corp_first[i] = k;
        w->unknown_receiver_labels[i] =
            label_printf("/wecom/%s/{receiver}/callback%s", corp->name, "");
        if (!w->unknown_receiver_labels[i]) {
            snprintf(w->err_, sizeof w->err_, "out of memory");
            return -1;
        }
        if (init_endpoint(w, &w->endpoints[k], corp, &corp->main) != 0)
            return -1;
        w->n_endpoints = ++k;
        for (size_t j = 0; j < corp->n_receivers; j++) {
            if (init_endpoint(w, &w->endpoints[k], corp, &corp->receivers[j]) != 0)
                return -1;
            w->n_endpoints = ++k;
        }
    }
    return 0;
}

int wg_worker_init(wg_worker_t *w, int id, const wg_config_t *cfg, int listen_fd, int notify_fd)
{
    w->id = id;
    w->cfg = cfg;
    w->listen_fd = listen_fd;
    w->notify_fd_ = notify_fd;
    w->was_ready_ = -1;

    const char *step = "event_base_new";
    char err[200];
    w->base = event_base_new();
    if (!w->base)
        goto fail;

    step = "events";
    w->notify_ev_ = event_new(w->base, w->notify_fd_, EV_READ | EV_PERSIST, on_notify, w);
    w->grace_ev_ = evtimer_new(w->base, on_grace_expired, w);
    w->tick_ev_ = event_new(w->base, -1, EV_PERSIST, on_tick, w);
    if (!w->notify_ev_ || !w->grace_ev_ || !w->tick_ev_ || event_add(w->notify_ev_, NULL) != 0)
        goto fail;
    struct timeval second = {1, 0};
    if (event_add(w->tick_ev_, &second) != 0)
        goto fail;

    step = "crypto";
    w->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    w->md_ctx = EVP_MD_CTX_new();
    if (!w->sha256 || !w->md_ctx)
        goto fail;
    if (init_endpoints(w) != 0)
        return -1;

    step = "store";
    wg_pg_store_options_t opts = {
        .connect_timeout_ms = cfg->database_connect_timeout_ms,
        .commit_timeout_ms = cfg->database_commit_timeout_ms,
        .max_batch = cfg->database_max_batch,
        .reconnect_min_ms = 100,
        .reconnect_max_ms = 5000,
    };
    w->store = wg_pg_store_new(w->base, cfg->database_url, &opts, err, sizeof err);
    if (!w->store) {
        snprintf(w->err_, sizeof w->err_, "database: %s", err);
        return -1;
    }

    /* A whole request (first byte to last) gets twice the read timeout, which alone restarts
     * with every byte received. */
    step = "connection watchdog";
    w->watch = wg_conn_watch_new(w->base, 2 * cfg->http_read_timeout_ms, id);
    if (!w->watch)
        goto fail;

    step = "evhttp_new";
    w->http = evhttp_new(w->base);
    if (!w->http)
        goto fail;
    evhttp_set_bevcb(w->http, wg_conn_watch_bevcb, w->watch);
    evhttp_set_max_body_size(w->http, (ev_ssize_t)cfg->http_max_body);
    evhttp_set_max_headers_size(w->http, MAX_HEADERS_SIZE);
    struct timeval rt = {cfg->http_read_timeout_ms / 1000,
                         (cfg->http_read_timeout_ms % 1000) * 1000};
    evhttp_set_timeout_tv(w->http, &rt);
    /* libevent answers a disallowed method with 501; let every method we can name through so the
     * routes answer 405 with an Allow header (TRACE and CONNECT stay 501). */
    evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    /* 413 after reading (and discarding) the declared body, so the client sees the answer
     * instead of a reset. */
    evhttp_set_flags(w->http, EVHTTP_SERVER_LINGERING_CLOSE);
    evhttp_set_default_content_type(w->http, TEXT_PLAIN);
    evhttp_set_gencb(w->http, on_http_request, w);

    step = "evhttp_accept_socket";
    w->bound = evhttp_accept_socket_with_handle(w->http, w->listen_fd);
    if (!w->bound)
        goto fail;
    w->listen_fd = -1; /* evhttp owns it now: evhttp_del_accept_socket closes it */
    return 0;

fail:
    snprintf(w->err_, sizeof w->err_, "worker %d: %s failed: %s", id, step, strerror(errno));
    return -1;
}

void wg_worker_run(wg_worker_t *w)
{
    if (event_base_dispatch(w->base) < 0)
        wg_log(WG_LOG_ERROR, "event loop failed", "worker=%d", w->id);
}

void wg_worker_destroy(wg_worker_t *w)
{
    /* Stop accepting; then the store: its pending inserts complete (UNAVAILABLE) into the
     * routes, which answer 503 (with Connection: close); one more turn of the loop writes those
     * answers out where the socket takes them. Requests arriving meanwhile on open connections
     * get 503 too (on_http_request: no store). Then evhttp: every connection closes, and the
     * contexts still in flight end through the close callback. */
    w->draining = 1;
    if (w->http && w->bound) {
        evhttp_del_accept_socket(w->http, w->bound);
        w->bound = NULL;
    }
    if (w->store) {
        wg_pg_store_free(w->store);
        w->store = NULL;
        if (w->http && w->inflight > 0)
            event_base_loop(w->base, EVLOOP_NONBLOCK);
    }
    if (w->http) {
        evhttp_free(w->http); /* also frees a still-bound listener (closing its fd) */
        w->http = NULL;
        w->bound = NULL;
    }
    wg_conn_watch_free(w->watch); /* drops its references: finalized by event_base_free */
    w->watch = NULL;
    if (w->notify_ev_)
        event_free(w->notify_ev_);
    if (w->grace_ev_)
        event_free(w->grace_ev_);
    if (w->tick_ev_)
        event_free(w->tick_ev_);
    w->notify_ev_ = w->grace_ev_ = w->tick_ev_ = NULL;

    size_t freed = 0;
    while (w->free_requests) {
        wg_request_t *rq = w->free_requests;
        w->free_requests = rq->next_free_;
        free(rq);
        freed++;
    }
    if (freed != w->n_requests)
        wg_log(WG_LOG_ERROR, "request contexts leaked", "worker=%d allocated=%zu freed=%zu", w->id,
               w->n_requests, freed);
    w->n_requests = 0;

    for (size_t i = 0; i < w->n_endpoints; i++) {
        wg_crypto_msgcrypt_free(w->endpoints[i].mc);
        free(w->endpoints[i].label);
    }
    free(w->endpoints);
    w->endpoints = NULL;
    w->n_endpoints = 0;
    if (w->unknown_receiver_labels) {
        for (size_t i = 0; i < w->cfg->n_corps; i++)
            free(w->unknown_receiver_labels[i]);
        free(w->unknown_receiver_labels);
        w->unknown_receiver_labels = NULL;
    }
    free(w->corp_first);
    w->corp_first = NULL;

    free(w->decrypt_buf);
    w->decrypt_buf = NULL;
    free(w->query_buf);
    w->query_buf = NULL;
    EVP_MD_CTX_free(w->md_ctx);
    EVP_MD_free(w->sha256);
    w->md_ctx = NULL;
    w->sha256 = NULL;

    if (w->base) {
        event_base_free(w->base);
        w->base = NULL;
    }
    if (w->listen_fd >= 0) {
        close(w->listen_fd);
        w->listen_fd = -1;
    }
}
