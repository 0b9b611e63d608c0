/* Keep-alive connections per destination: a queue of requests per host, at most
 * max_conns_per_host connections each carrying one request at a time, idle connections reused
 * most recent first and closed after the idle timeout.
 *
 * libevent 2.1 reconnects a closed evhttp_connection by itself, reusing the SSL object of the
 * dead connection, which cannot work; so a connection that closed or failed is never used
 * again: it is freed, and the next request gets a new evhttp_connection with a fresh SSL. */
#include "connectors/http/internal.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

wg_http_pool_t *wg_http_pool_get(wg_http_client_t *c, const char *host, const char *host_header,
                                 int port, int tls, int insecure)
{
    wg_http_pool_t *p;
    for (p = c->pools; p != NULL; p = p->next) {
        if (p->port == port && p->tls == tls && p->insecure == insecure &&
            strcmp(p->host, host) == 0 && strcmp(p->host_header, host_header) == 0)
            return p;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->host = strdup(host);
    p->host_header = strdup(host_header);
    if (p->host == NULL || p->host_header == NULL) {
        free(p->host);
        free(p->host_header);
        free(p);
        return NULL;
    }
    p->client = c;
    p->port = port;
    p->tls = tls;
    p->insecure = insecure;
    p->next = c->pools;
    c->pools = p;
    return p;
}

void wg_http_pool_free(wg_http_pool_t *p)
{
    free(p->host);
    free(p->host_header);
    free(p);
}

void wg_http_pool_enqueue(wg_http_pool_t *p, wg_http_request_t *r)
{
    r->next = NULL;
    if (p->queue_tail != NULL)
        p->queue_tail->next = r;
    else
        p->queue_head = r;
    p->queue_tail = r;
    p->nqueued++;
    p->client->stats.queued++;
}

void wg_http_pool_requeue(wg_http_pool_t *p, wg_http_request_t *r)
{
    r->next = p->queue_head;
    p->queue_head = r;
    if (p->queue_tail == NULL)
        p->queue_tail = r;
    p->nqueued++;
    p->client->stats.queued++;
}

void wg_http_pool_dequeue(wg_http_pool_t *p, wg_http_request_t *r)
{
    wg_http_request_t **pp = &p->queue_head, *prev = NULL;
    while (*pp != NULL && *pp != r) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (*pp == NULL)
        return;
    *pp = r->next;
    if (p->queue_tail == r)
        p->queue_tail = prev;
    r->next = NULL;
    p->nqueued--;
    p->client->stats.queued--;
}

static void free_evcon_later(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    evhttp_connection_free(arg);
}

void wg_http_conn_destroy(wg_http_conn_t *conn)
{
    wg_http_pool_t *p = conn->pool;
    wg_http_client_t *c = p->client;
    struct evhttp_connection *evcon = conn->evcon;

    if (conn->prev != NULL)
        conn->prev->next = conn->next;
    else
        p->conns = conn->next;
    if (conn->next != NULL)
        conn->next->prev = conn->prev;
    p->nconns--;
    c->stats.open_connections--;
    if (conn->state == CONN_IDLE)
        c->stats.idle_connections--;
    if (conn->idle_ev != NULL)
        event_free(conn->idle_ev);

    /* Nothing of ours may be reached from the evhttp_connection once conn is gone. */
    evhttp_connection_set_closecb(evcon, NULL, NULL);
    if (conn->out_cb != NULL)
        evbuffer_remove_cb_entry(bufferevent_get_output(conn->bev), conn->out_cb);
    if (conn->in_cb != NULL)
        evbuffer_remove_cb_entry(bufferevent_get_input(conn->bev), conn->in_cb);
    if (conn->ssl != NULL)
        wg_http_tls_detach(conn->ssl);
    /* libevent may be inside this connection's code right now (we are in one of its callbacks
     * or in the user's): then the connection goes on the next turn of the loop. */
    if (c->in_evhttp == 0) {
        evhttp_connection_free(evcon);
    } else {
        const struct timeval now = {0, 0};
        if (event_base_once(c->base, -1, EV_TIMEOUT, free_evcon_later, evcon, &now) != 0)
            evhttp_connection_free(evcon); /* out of memory: risk it rather than leak */
    }
    free(conn);
    wg_http_schedule_pump(c);
}

void wg_http_conn_abort(wg_http_conn_t *conn)
{
    wg_http_request_t *r = conn->req;
    if (r != NULL) {
        conn->req = NULL;
        r->conn = NULL;
        if (r->ereq != NULL) {
            /* Without an error callback, cancelling runs none of ours; it frees the evhttp
             * request and resets the connection. */
            evhttp_request_set_error_cb(r->ereq, NULL);
            evhttp_cancel_request(r->ereq);
            r->ereq = NULL;
        }
    }
    wg_http_conn_destroy(conn);
}

static void on_idle_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    wg_http_conn_t *conn = arg;
    wg_http_client_t *c = conn->pool->client;
    wg_http_enter(c, 0);
    wg_http_conn_destroy(conn);
    wg_http_leave(c, 0);
}

/* libevent closed the connection (the server hung up on an idle connection, asked for close,
 * or an error). It resets connections from inside its own code: only note it here. */
static void on_close(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    wg_http_conn_t *conn = arg;
    wg_http_client_t *c = conn->pool->client;
    conn->closed = 1;
    if (conn->state == CONN_IDLE) {
        wg_http_enter(c, 1);
        wg_http_conn_destroy(conn);
        wg_http_leave(c, 1);
    }
}

/* The output buffer of a connection is written only once it is connected (and the TLS
 * handshake is done): the first bytes added mark the request as sent. */
static void on_output(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    (void)buf;
    wg_http_conn_t *conn = arg;
    if (info->n_added > 0 && !conn->nodelay) {
        /* A request goes out as headers then body (and, over TLS, as two records): with
         * Nagle's algorithm on, each keep-alive request would wait for the server's delayed
         * ACK (~40 ms). */
        evutil_socket_t fd = bufferevent_getfd(conn->bev);
        int one = 1;
        if (fd >= 0 && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0)
            conn->nodelay = 1;
    }
    if (info->n_added > 0 && conn->req != NULL && !conn->req->sent)
        wg_http_on_sent(conn->req);
}

static void on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    (void)buf;
    wg_http_conn_t *conn = arg;
    if (info->n_added > 0 && conn->req != NULL)
        conn->req->got_bytes = 1;
}

static void set_evhttp_timeout(struct evhttp_connection *evcon, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evhttp_connection_set_timeout_tv(evcon, &tv);
}

static wg_http_conn_t *conn_new(wg_http_pool_t *p)
{
    wg_http_client_t *c = p->client;
    wg_http_conn_t *conn = calloc(1, sizeof(*conn));
    if (conn == NULL)
        return NULL;
    conn->pool = p;
    if (p->tls) {
        conn->ssl = wg_http_tls_ssl_new(c->ssl_ctx, p->host, p->insecure, &conn->tls);
        if (conn->ssl == NULL)
            goto fail;
        /* With BEV_OPT_CLOSE_ON_FREE the bufferevent owns the SSL (and the socket). */
        conn->bev = bufferevent_openssl_socket_new(
            c->base, -1, conn->ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
        if (conn->bev == NULL) {
            /* With fd -1 it fails only before taking the SSL (out of memory). */
            SSL_free(conn->ssl);
            goto fail;
        }
        /* A server that closes without close_notify ends a read-until-close body (EOF), it does
         * not fail it. */
        bufferevent_openssl_set_allow_dirty_shutdown(conn->bev, 1);
    } else {
        conn->bev = bufferevent_socket_new(c->base, -1, BEV_OPT_CLOSE_ON_FREE);
        if (conn->bev == NULL)
            goto fail;
    }
    /* The evdns_base makes evhttp resolve asynchronously (never getaddrinfo() on the loop). */
    conn->evcon = evhttp_connection_base_bufferevent_new(c->base, c->dns, conn->bev, p->host,
                                                         (unsigned short)p->port);
    if (conn->evcon == NULL) {
        bufferevent_free(conn->bev);
        goto fail;
    }
    conn->idle_ev = evtimer_new(c->base, on_idle_timeout, conn);
    conn->out_cb = evbuffer_add_cb(bufferevent_get_output(conn->bev), on_output, conn);
    conn->in_cb = evbuffer_add_cb(bufferevent_get_input(conn->bev), on_input, conn);
    if (conn->idle_ev == NULL || conn->out_cb == NULL || conn->in_cb == NULL) {
        if (conn->out_cb != NULL)
            evbuffer_remove_cb_entry(bufferevent_get_output(conn->bev), conn->out_cb);
        if (conn->in_cb != NULL)
            evbuffer_remove_cb_entry(bufferevent_get_input(conn->bev), conn->in_cb);
        if (conn->idle_ev != NULL)
            event_free(conn->idle_ev);
        evhttp_connection_free(conn->evcon);
        goto fail;
    }
    evhttp_connection_set_family(conn->evcon, c->family);
    evhttp_connection_set_retries(conn->evcon, 0);
    evhttp_connection_set_max_headers_size(conn->evcon, WG_HTTP_MAX_HEADERS_BYTES);
    evhttp_connection_set_max_body_size(conn->evcon, (ev_ssize_t)c->max_body);
    evhttp_connection_set_closecb(conn->evcon, on_close, conn);
    conn->state = CONN_CONNECTING;

    conn->next = p->conns;
    if (p->conns != NULL)
        p->conns->prev = conn;
    p->conns = conn;
    p->nconns++;
    c->stats.open_connections++;
    c->stats.connections_opened++;
    return conn;
fail:
    free(conn);
    return NULL;
}

static void add_header(struct evkeyvalq *h, const char *name, const char *value, int *ok)
{
    if (evhttp_add_header(h, name, value) != 0)
        *ok = 0;
}

/* Puts r on conn. libevent may complete it before this returns (a failure it detects at once):
 * the caller touches neither r nor conn afterwards. */
static void dispatch(wg_http_conn_t *conn, wg_http_request_t *r)
{
    wg_http_client_t *c = conn->pool->client;
    struct evhttp_request *ereq;
    struct evkeyvalq *h;
    struct timeval tv;
    int ok = 1, fresh = conn->state == CONN_CONNECTING;
    char len[32];

    ereq = evhttp_request_new(wg_http_on_done, r);
    if (ereq == NULL) {
        if (fresh)
            wg_http_conn_destroy(conn);
        wg_http_fail(r, WG_HTTP_ERR_INTERNAL, "out of memory");
        return;
    }
    evhttp_request_set_error_cb(ereq, wg_http_on_error);
    h = evhttp_request_get_output_headers(ereq);
    if (!r->has_host)
        add_header(h, "Host", conn->pool->host_header, &ok);
    if (!r->has_user_agent)
        add_header(h, "User-Agent", c->user_agent, &ok);
    for (size_t i = 0; i < r->nheaders; i++)
        add_header(h, r->hdr_names[i], r->hdr_values[i], &ok);
    if (r->body_len > 0 || r->method == EVHTTP_REQ_POST || r->method == EVHTTP_REQ_PUT ||
        r->method == EVHTTP_REQ_PATCH) {
        snprintf(len, sizeof(len), "%zu", r->body_len);
        add_header(h, "Content-Length", len, &ok);
    }
    if (c->idle_ms < 0)
        add_header(h, "Connection", "close", &ok);
    if (r->body_len > 0 &&
        evbuffer_add(evhttp_request_get_output_buffer(ereq), r->body, r->body_len) != 0)
        ok = 0;
    if (!ok) {
        evhttp_request_free(ereq);
        if (fresh)
            wg_http_conn_destroy(conn);
        wg_http_fail(r, WG_HTTP_ERR_INTERNAL, "out of memory");
        return;
    }

    r->state = REQ_ACTIVE;
    r->conn = conn;
    r->ereq = ereq;
    conn->req = r;
    if (conn->state == CONN_IDLE) {
        event_del(conn->idle_ev);
        c->stats.idle_connections--;
        c->stats.requests_reused++;
    }
    if (!fresh)
        conn->state = CONN_BUSY;
    c->stats.requests_sent++;
    /* Our timers decide; libevent's own (which also covers the connect) only backs them up. */
    set_evhttp_timeout(conn->evcon, c->connect_ms + r->response_ms + 1000);
    r->phase = fresh ? PHASE_CONNECT : PHASE_RESPONSE;
    tv.tv_sec = (fresh ? c->connect_ms : r->response_ms) / 1000;
    tv.tv_usec = ((fresh ? c->connect_ms : r->response_ms) % 1000) * 1000;
    evtimer_add(r->timer, &tv);

    if (evhttp_make_request(conn->evcon, ereq, r->method, r->target) != 0) {
        /* libevent freed ereq (it could not copy the URI). */
        conn->req = NULL;
        r->conn = NULL;
        r->ereq = NULL;
        wg_http_conn_destroy(conn);
        wg_http_fail(r, WG_HTTP_ERR_INTERNAL, "out of memory");
    }
}

void wg_http_conn_release(wg_http_conn_t *conn)
{
    wg_http_client_t *c = conn->pool->client;
    struct timeval tv;
    if (conn->closed || conn->no_reuse || c->idle_ms < 0 || c->closing ||
        conn->state == CONN_CONNECTING) {
        wg_http_conn_destroy(conn);
        return;
    }
    conn->state = CONN_IDLE;
    c->stats.idle_connections++;
    /* Idle connections are closed by our timer, not by libevent's read timeout. */
    set_evhttp_timeout(conn->evcon, c->idle_ms + 60000);
    tv.tv_sec = c->idle_ms / 1000;
    tv.tv_usec = (c->idle_ms % 1000) * 1000;
    evtimer_add(conn->idle_ev, &tv);
    /* Most recently used first: the others age out. */
    if (conn->prev != NULL) {
        wg_http_pool_t *p = conn->pool;
        conn->prev->next = conn->next;
        if (conn->next != NULL)
            conn->next->prev = conn->prev;
        conn->prev = NULL;
        conn->next = p->conns;
        p->conns->prev = conn;
        p->conns = conn;
    }
    wg_http_schedule_pump(c);
}

static wg_http_conn_t *idle_conn(wg_http_pool_t *p)
{
    for (wg_http_conn_t *conn = p->conns; conn != NULL; conn = conn->next) {
        if (conn->state == CONN_IDLE && !conn->closed)
            return conn;
    }
    return NULL;
}

static void pool_pump(wg_http_pool_t *p)
{
    wg_http_client_t *c = p->client;
    while (p->queue_head != NULL && !c->closing) {
        wg_http_request_t *r = p->queue_head;
        wg_http_conn_t *conn = idle_conn(p);
        if (conn == NULL) {
            if (p->nconns >= c->max_conns)
                return;
            conn = conn_new(p);
            if (conn == NULL) {
                wg_http_pool_dequeue(p, r);
                wg_http_fail(r, WG_HTTP_ERR_INTERNAL, "cannot create a connection (out of memory)");
                continue;
            }
        }
        wg_http_pool_dequeue(p, r);
        dispatch(conn, r);
    }
}

void wg_http_pump(wg_http_client_t *c)
{
    wg_http_enter(c, 0);
    for (wg_http_pool_t *p = c->pools; p != NULL && !c->closing; p = p->next)
        pool_pump(p);
    wg_http_leave(c, 0);
}
