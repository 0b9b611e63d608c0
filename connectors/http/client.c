/* The HTTP client's requests: URL and header checks, the queue per destination, timers, and the
 * one completion per request, with the failure sorted into an error kind from what libevent,
 * the resolver and OpenSSL reported. Connections are in pool.c, TLS in tls.c. */
#include "connectors/http/internal.h"

#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define DEFAULT_CONNECT_TIMEOUT_MS 5000
#define DEFAULT_RESPONSE_TIMEOUT_MS 15000
#define DEFAULT_MAX_RESPONSE_BYTES (4u * 1024 * 1024)
#define DEFAULT_MAX_CONNS_PER_HOST 4
#define DEFAULT_IDLE_TIMEOUT_MS 30000
#define DEFAULT_USER_AGENT "wegate"
/* Timeouts above a day are a configuration mistake, not a wish. */
#define MAX_TIMEOUT_MS (24 * 3600 * 1000)

const char *wg_http_error_name(wg_http_error_t e)
{
    switch (e) {
    case WG_HTTP_OK:
        return "ok";
    case WG_HTTP_ERR_DNS:
        return "dns";
    case WG_HTTP_ERR_CONNECT:
        return "connect";
    case WG_HTTP_ERR_TLS:
        return "tls";
    case WG_HTTP_ERR_TLS_VERIFY:
        return "tls_verify";
    case WG_HTTP_ERR_TIMEOUT:
        return "timeout";
    case WG_HTTP_ERR_RESET:
        return "reset";
    case WG_HTTP_ERR_TOO_LARGE:
        return "too_large";
    case WG_HTTP_ERR_PROTOCOL:
        return "protocol";
    case WG_HTTP_ERR_SHUTDOWN:
        return "shutdown";
    case WG_HTTP_ERR_INTERNAL:
        return "internal";
    }
    return "unknown";
}

const char *wg_http_response_header(const wg_http_response_t *resp, const char *name)
{
    if (resp == NULL || resp->_headers == NULL || name == NULL)
        return NULL;
    return evhttp_find_header(resp->_headers, name);
}

int wg_http_response_header_at(const wg_http_response_t *resp, size_t i, const char **name,
                               const char **value)
{
    const struct evkeyvalq *h = resp ? resp->_headers : NULL;
    const struct evkeyval *kv;
    if (h == NULL)
        return -1;
    for (kv = h->tqh_first; kv != NULL && i > 0; kv = kv->next.tqe_next)
        i--;
    if (kv == NULL)
        return -1;
    *name = kv->key;
    *value = kv->value;
    return 0;
}

/* ---- client lifetime ---------------------------------------------------------------------- */

static void really_free(wg_http_client_t *c)
{
    while (c->pools != NULL) {
        wg_http_pool_t *p = c->pools;
        c->pools = p->next;
        wg_http_pool_free(p);
    }
    if (c->pump_ev != NULL)
        event_free(c->pump_ev);
    SSL_CTX_free(c->ssl_ctx);
    free(c->user_agent);
    free(c);
}

void wg_http_enter(wg_http_client_t *c, int evhttp)
{
    c->depth++;
    if (evhttp)
        c->in_evhttp++;
}

void wg_http_leave(wg_http_client_t *c, int evhttp)
{
    if (evhttp)
        c->in_evhttp--;
    if (--c->depth == 0 && c->closing)
        really_free(c);
}

static void on_pump(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    wg_http_pump(arg);
}

void wg_http_schedule_pump(wg_http_client_t *c)
{
    if (!c->closing)
        event_active(c->pump_ev, EV_TIMEOUT, 0);
}

static int timeout_opt(int v, int def, const char *name, char *err, size_t errlen)
{
    if (v == 0)
        return def;
    if (v < 0 || v > MAX_TIMEOUT_MS) {
        snprintf(err, errlen, "%s must be between 1 and %d ms (got %d)", name, MAX_TIMEOUT_MS, v);
        return -1;
    }
    return v;
}

wg_http_client_t *wg_http_client_new(struct event_base *base, struct evdns_base *dns,
                                     const wg_http_client_options_t *opts, char *err, size_t errlen)
{
    static const wg_http_client_options_t defaults;
    wg_http_client_t *c;

    if (opts == NULL)
        opts = &defaults;
    if (base == NULL || dns == NULL) {
        snprintf(err, errlen, "an event_base and an evdns_base are required");
        return NULL;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->base = base;
    c->dns = dns;
    c->connect_ms = timeout_opt(opts->connect_timeout_ms, DEFAULT_CONNECT_TIMEOUT_MS,
                                "connect_timeout_ms", err, errlen);
    c->response_ms = timeout_opt(opts->response_timeout_ms, DEFAULT_RESPONSE_TIMEOUT_MS,
                                 "response_timeout_ms", err, errlen);
    if (opts->idle_timeout_ms == -1)
        c->idle_ms = -1;
    else
        c->idle_ms = timeout_opt(opts->idle_timeout_ms, DEFAULT_IDLE_TIMEOUT_MS, "idle_timeout_ms",
                                 err, errlen);
    if (c->connect_ms < 0 || c->response_ms < 0 || (c->idle_ms < 0 && opts->idle_timeout_ms != -1))
        goto fail;
    c->max_body = opts->max_response_bytes ? opts->max_response_bytes : DEFAULT_MAX_RESPONSE_BYTES;
    if (c->max_body > (size_t)1 << 40) {
        snprintf(err, errlen, "max_response_bytes is too large");
        goto fail;
    }
    if (opts->max_conns_per_host < 0 || opts->max_conns_per_host > 1024) {
        snprintf(err, errlen, "max_conns_per_host must be between 1 and 1024 (got %d)",
                 opts->max_conns_per_host);
        goto fail;
    }
    c->max_conns = opts->max_conns_per_host ? opts->max_conns_per_host : DEFAULT_MAX_CONNS_PER_HOST;
    switch (opts->ip_version) {
    case 0:
        c->family = AF_UNSPEC;
        break;
    case 4:
        c->family = AF_INET;
        break;
    case 6:
        c->family = AF_INET6;
        break;
    default:
        snprintf(err, errlen, "ip_version must be 0, 4 or 6 (got %d)", opts->ip_version);
        goto fail;
    }
    if (opts->user_agent != NULL && strpbrk(opts->user_agent, "\r\n") != NULL) {
        snprintf(err, errlen, "user_agent contains a line break");
        goto fail;
    }
    c->user_agent = strdup(opts->user_agent ? opts->user_agent : DEFAULT_USER_AGENT);
    c->pump_ev = event_new(base, -1, 0, on_pump, c);
    if (c->user_agent == NULL || c->pump_ev == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    c->ssl_ctx = wg_http_tls_ctx_new(opts->ca_file, opts->ca_file_only, err, errlen);
    if (c->ssl_ctx == NULL)
        goto fail;
    return c;
fail:
    really_free(c);
    return NULL;
}

void wg_http_client_free(wg_http_client_t *c)
{
    static const char msg[] = "the HTTP client was shut down before the request completed";
    if (c == NULL || c->closing)
        return;
    c->closing = 1;
    wg_http_enter(c, 0);
    /* Callbacks run from here may cancel other requests (send is refused): take the first
     * remaining each time. */
    for (wg_http_pool_t *p = c->pools; p != NULL; p = p->next) {
        while (p->queue_head != NULL) {
            wg_http_request_t *r = p->queue_head;
            wg_http_pool_dequeue(p, r);
            wg_http_fail(r, WG_HTTP_ERR_SHUTDOWN, msg);
        }
        while (p->conns != NULL) {
            wg_http_conn_t *conn = p->conns;
            wg_http_request_t *r = conn->req;
            wg_http_conn_abort(conn);
            if (r != NULL)
                wg_http_fail(r, WG_HTTP_ERR_SHUTDOWN, msg);
        }
    }
    wg_http_leave(c, 0);
}

void wg_http_client_get_stats(const wg_http_client_t *c, wg_http_client_stats_t *out)
{
    *out = c->stats;
}

/* ---- requests ----------------------------------------------------------------------------- */

void wg_http_request_free_(wg_http_request_t *r)
{
    for (size_t i = 0; i < r->nheaders; i++) {
        free(r->hdr_names[i]);
        free(r->hdr_values[i]);
    }
    free(r->hdr_names);
    free(r->hdr_values);
    if (r->timer != NULL)
        event_free(r->timer);
    free(r->target);
    free(r->body);
    free(r);
}

void wg_http_fail(wg_http_request_t *r, wg_http_error_t e, const char *msg)
{
    wg_http_client_t *c = r->client;
    wg_http_done_cb cb = r->cb;
    void *arg = r->arg;
    wg_http_enter(c, 0);
    wg_http_request_free_(r);
    c->stats.failures++;
    cb(arg, NULL, e, msg);
    wg_http_leave(c, 0);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    wg_http_request_t *r = arg;
    wg_http_client_t *c = r->client;
    char msg[WG_HTTP_ERRMSG];

    if (r->phase == PHASE_CONNECT)
        snprintf(msg, sizeof(msg), "connecting to %s:%d timed out after %d ms", r->pool->host,
                 r->pool->port, c->connect_ms);
    else
        snprintf(msg, sizeof(msg), "no complete response from %s:%d within %d ms", r->pool->host,
                 r->pool->port, r->response_ms);
    wg_http_enter(c, 0);
    if (r->conn != NULL)
        wg_http_conn_abort(r->conn);
    wg_http_fail(r, WG_HTTP_ERR_TIMEOUT, msg);
    wg_http_leave(c, 0);
}

void wg_http_on_sent(wg_http_request_t *r)
{
    r->sent = 1;
    if (r->conn != NULL)
        r->conn->state = CONN_BUSY;
    if (r->phase == PHASE_CONNECT) {
        struct timeval tv = {r->response_ms / 1000, (r->response_ms % 1000) * 1000};
        r->phase = PHASE_RESPONSE;
        evtimer_add(r->timer, &tv);
    }
}

void wg_http_on_error(enum evhttp_request_error e, void *arg)
{
    wg_http_request_t *r = arg;
    r->evhttp_error = (int)e;
    r->sys_errno = errno;
}

/* errno values that describe a failed connection; any other errno at that point is likely
 * left over from something unrelated. */
static int connect_errno(int e)
{
    switch (e) {
    case ECONNREFUSED:
    case ECONNRESET:
    case ECONNABORTED:
    case ENETUNREACH:
    case ENETDOWN:
    case EHOSTUNREACH:
    case EHOSTDOWN:
    case ETIMEDOUT:
    case EADDRNOTAVAIL:
    case EPIPE:
        return 1;
    default:
        return 0;
    }
}

static wg_http_error_t classify(wg_http_request_t *r, wg_http_conn_t *conn, char *msg, size_t len)
{
    const char *host = r->pool->host;
    int port = r->pool->port;

    switch (r->evhttp_error) {
    case EVREQ_HTTP_DATA_TOO_LONG:
        /* libevent also says so of a malformed chunk size. */
        snprintf(msg, len,
                 "response from %s:%d exceeds %zu bytes (or has a malformed chunked body)", host,
                 port, r->client->max_body);
        return WG_HTTP_ERR_TOO_LARGE;
    case EVREQ_HTTP_INVALID_HEADER:
        snprintf(msg, len,
                 "malformed response from %s:%d (status line, headers over %d bytes, or body "
                 "length)",
                 host, port, WG_HTTP_MAX_HEADERS_BYTES);
        return WG_HTTP_ERR_PROTOCOL;
    case EVREQ_HTTP_TIMEOUT:
        snprintf(msg, len, "%s %s:%d timed out", r->sent ? "request to" : "connecting to", host,
                 port);
        return WG_HTTP_ERR_TIMEOUT;
    default:
        break;
    }
    if (!r->sent) {
        int dns_err = conn ? bufferevent_socket_get_dns_error(conn->bev) : 0;
        if (dns_err != 0) {
            snprintf(msg, len, "cannot resolve %s: %s", host, evutil_gai_strerror(dns_err));
            return WG_HTTP_ERR_DNS;
        }
        if (conn != NULL && conn->ssl != NULL) {
            wg_http_error_t e = wg_http_tls_explain(conn->bev, &conn->tls, host, port, msg, len);
            if (e != WG_HTTP_OK)
                return e;
        }
        if (connect_errno(r->sys_errno))
            snprintf(msg, len, "cannot connect to %s:%d: %s", host, port, strerror(r->sys_errno));
        else
            snprintf(msg, len, "cannot connect to %s:%d", host, port);
        return WG_HTTP_ERR_CONNECT;
    }
    if (r->sys_errno == ECONNRESET)
        snprintf(msg, len, "connection to %s:%d reset before the response was complete", host,
                 port);
    else
        snprintf(msg, len, "connection to %s:%d closed before the response was complete", host,
                 port);
    return WG_HTTP_ERR_RESET;
}

/* A response whose body ends with the connection (no length, not chunked) leaves nothing to
 * reuse. */
static int reads_until_close(struct evhttp_request *ereq, int status, enum evhttp_cmd_type m)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(ereq);
    const char *te = evhttp_find_header(h, "Transfer-Encoding");
    if (m == EVHTTP_REQ_HEAD || (status >= 100 && status < 200) || status == 204 || status == 304)
        return 0;
    if (te != NULL && strcasecmp(te, "chunked") == 0)
        return 0;
    return evhttp_find_header(h, "Content-Length") == NULL;
}

void wg_http_on_done(struct evhttp_request *ereq, void *arg)
{
    wg_http_request_t *r = arg;
    wg_http_client_t *c = r->client;
    wg_http_conn_t *conn = r->conn;
    int code = ereq != NULL ? evhttp_request_get_response_code(ereq) : 0;
    wg_http_done_cb cb = r->cb;
    void *cb_arg = r->arg;

    if (ereq == NULL || code <= 0)
        r->sys_errno = r->evhttp_error >= 0 ? r->sys_errno : errno;
    wg_http_enter(c, 1);
    evtimer_del(r->timer);
    r->ereq = NULL; /* libevent frees it after this callback */
    if (conn != NULL) {
        conn->req = NULL;
        r->conn = NULL;
    }
    if (ereq != NULL && code > 0 && r->evhttp_error < 0) {
        struct evbuffer *in = evhttp_request_get_input_buffer(ereq);
        wg_http_response_t resp;
        const char *reason = evhttp_request_get_response_code_line(ereq);

        memset(&resp, 0, sizeof(resp));
        /* A NUL after the body, so that text bodies can be used as C strings. */
        if (evbuffer_add(in, "", 1) != 0 || (resp.body = evbuffer_pullup(in, -1)) == NULL) {
            if (conn != NULL)
                wg_http_conn_destroy(conn);
            wg_http_fail(r, WG_HTTP_ERR_INTERNAL, "out of memory");
            wg_http_leave(c, 1);
            return;
        }
        resp.body_len = evbuffer_get_length(in) - 1;
        resp.status = code;
        resp.reason = reason ? reason : "";
        resp._headers = evhttp_request_get_input_headers(ereq);
        if (conn != NULL) {
            conn->served++;
            if (reads_until_close(ereq, code, r->method))
                conn->no_reuse = 1;
            wg_http_conn_release(conn);
        }
        wg_http_request_free_(r);
        c->stats.responses++;
        wg_http_schedule_pump(c);
        cb(cb_arg, &resp, WG_HTTP_OK, NULL);
    } else if (conn != NULL && conn->served > 0 && r->sent && !r->got_bytes && r->replayable &&
               !r->retried && !c->closing &&
               (r->evhttp_error == EVREQ_HTTP_EOF || r->evhttp_error == EVREQ_HTTP_BUFFER_ERROR)) {
        /* A keep-alive connection that the server closed as the request went out (its close
         * and our request crossed): an idempotent request goes again, once, first in line. */
        wg_http_conn_destroy(conn);
        r->retried = 1;
        r->sent = 0;
        r->evhttp_error = -1;
        r->sys_errno = 0;
        r->state = REQ_QUEUED;
        wg_http_pool_requeue(r->pool, r);
        wg_http_schedule_pump(c);
    } else {
        char msg[WG_HTTP_ERRMSG];
        wg_http_error_t e = classify(r, conn, msg, sizeof(msg));
        if (conn != NULL)
            wg_http_conn_destroy(conn);
        wg_http_request_free_(r);
        c->stats.failures++;
        cb(cb_arg, NULL, e, msg);
    }
    wg_http_leave(c, 1);
}

/* ---- submitting --------------------------------------------------------------------------- */

static int parse_method(const char *m, enum evhttp_cmd_type *out)
{
    static const struct {
        const char *name;
        enum evhttp_cmd_type type;
    } methods[] = {
        {"GET", EVHTTP_REQ_GET},         {"POST", EVHTTP_REQ_POST},     {"PUT", EVHTTP_REQ_PUT},
        {"PATCH", EVHTTP_REQ_PATCH},     {"DELETE", EVHTTP_REQ_DELETE}, {"HEAD", EVHTTP_REQ_HEAD},
        {"OPTIONS", EVHTTP_REQ_OPTIONS},
    };
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (strcmp(m, methods[i].name) == 0) {
            *out = methods[i].type;
            return 0;
        }
    }
    return -1;
}

/* RFC 9110 token characters. */
static int valid_header_name(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if (!isalnum(ch) && strchr("!#$%&'*+-.^_`|~", ch) == NULL)
            return 0;
    }
    return 1;
}

static int valid_header_value(const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return 0;
    }
    return 1;
}

typedef struct parsed_url {
    int tls;
    int port;
    char host[256];        /* lower case, IPv6 without brackets */
    char host_header[300]; /* as written, with :port when the URL has one */
    char *target;          /* path?query, allocated */
} parsed_url_t;

static int parse_url(const char *url, parsed_url_t *u, char *err, size_t errlen)
{
    struct evhttp_uri *uri = evhttp_uri_parse_with_flags(url, 0);
    const char *scheme, *host, *path, *query;
    size_t hlen, tlen;
    int rc = -1;

    if (uri == NULL) {
        snprintf(err, errlen, "invalid URL");
        return -1;
    }
    scheme = evhttp_uri_get_scheme(uri);
    host = evhttp_uri_get_host(uri);
    if (scheme != NULL && strcasecmp(scheme, "https") == 0) {
        u->tls = 1;
    } else if (scheme != NULL && strcasecmp(scheme, "http") == 0) {
        u->tls = 0;
    } else {
        snprintf(err, errlen, "URL scheme must be http or https");
        goto out;
    }
    if (evhttp_uri_get_userinfo(uri) != NULL) {
        snprintf(err, errlen, "URL must not contain user info");
        goto out;
    }
    if (host == NULL || *host == '\0') {
        snprintf(err, errlen, "URL has no host");
        goto out;
    }
    u->port = evhttp_uri_get_port(uri);
    if (u->port == 0 || u->port > 65535) {
        snprintf(err, errlen, "URL port out of range");
        goto out;
    }
    hlen = strlen(host);
    if (hlen >= sizeof(u->host)) {
        snprintf(err, errlen, "URL host name too long");
        goto out;
    }
    /* libevent keeps the brackets of an IPv6 literal: the Host header wants them, the resolver
     * and the certificate check do not. */
    if (host[0] == '[' && hlen > 2 && host[hlen - 1] == ']') {
        memcpy(u->host, host + 1, hlen - 2);
        u->host[hlen - 2] = '\0';
        if (u->port > 0)
            snprintf(u->host_header, sizeof(u->host_header), "%s:%d", host, u->port);
        else
            snprintf(u->host_header, sizeof(u->host_header), "%s", host);
    } else if (strchr(host, ':') != NULL) {
        memcpy(u->host, host, hlen + 1);
        if (u->port > 0)
            snprintf(u->host_header, sizeof(u->host_header), "[%s]:%d", host, u->port);
        else
            snprintf(u->host_header, sizeof(u->host_header), "[%s]", host);
    } else {
        memcpy(u->host, host, hlen + 1);
        if (u->port > 0)
            snprintf(u->host_header, sizeof(u->host_header), "%s:%d", host, u->port);
        else
            snprintf(u->host_header, sizeof(u->host_header), "%s", host);
    }
    for (char *p = u->host; *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    if (u->port < 0)
        u->port = u->tls ? 443 : 80;
    path = evhttp_uri_get_path(uri);
    query = evhttp_uri_get_query(uri);
    if (path == NULL || *path == '\0')
        path = "/";
    tlen = strlen(path) + (query ? strlen(query) + 1 : 0) + 1;
    u->target = malloc(tlen);
    if (u->target == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    snprintf(u->target, tlen, "%s%s%s", path, query ? "?" : "", query ? query : "");
    rc = 0;
out:
    evhttp_uri_free(uri);
    return rc;
}

wg_http_request_t *wg_http_send(wg_http_client_t *c, const wg_http_request_options_t *o,
                                wg_http_done_cb cb, void *arg, char *err, size_t errlen)
{
    parsed_url_t u;
    wg_http_request_t *r = NULL;
    enum evhttp_cmd_type method;
    const char *mname;

    memset(&u, 0, sizeof(u));
    if (c == NULL || o == NULL || o->url == NULL || cb == NULL) {
        snprintf(err, errlen, "client, options, url and callback are required");
        return NULL;
    }
    if (c->closing) {
        snprintf(err, errlen, "the HTTP client is shutting down");
        return NULL;
    }
    if (o->body_len > 0 && o->body == NULL) {
        snprintf(err, errlen, "body_len without a body");
        return NULL;
    }
    if (o->response_timeout_ms < 0 || o->response_timeout_ms > MAX_TIMEOUT_MS) {
        snprintf(err, errlen, "response_timeout_ms out of range");
        return NULL;
    }
    mname = o->method ? o->method : (o->body_len > 0 ? "POST" : "GET");
    if (parse_method(mname, &method) != 0) {
        snprintf(err, errlen, "unsupported HTTP method '%.32s'", mname);
        return NULL;
    }
    if (parse_url(o->url, &u, err, errlen) != 0)
        return NULL;

    r = calloc(1, sizeof(*r));
    if (r == NULL)
        goto oom;
    r->client = c;
    r->method = method;
    r->target = u.target;
    u.target = NULL;
    r->evhttp_error = -1;
    r->response_ms = o->response_timeout_ms ? o->response_timeout_ms : c->response_ms;
    r->replayable = o->idempotent || method == EVHTTP_REQ_GET || method == EVHTTP_REQ_HEAD ||
                    method == EVHTTP_REQ_OPTIONS;
    r->cb = cb;
    r->arg = arg;
    if (o->nheaders > 0) {
        if (o->headers == NULL) {
            snprintf(err, errlen, "nheaders without headers");
            goto fail;
        }
        r->hdr_names = calloc(o->nheaders, sizeof(char *));
        r->hdr_values = calloc(o->nheaders, sizeof(char *));
        if (r->hdr_names == NULL || r->hdr_values == NULL)
            goto oom;
    }
    for (size_t i = 0; i < o->nheaders; i++) {
        const char *n = o->headers[i].name, *v = o->headers[i].value;
        if (n == NULL || v == NULL || !valid_header_name(n) || !valid_header_value(v)) {
            snprintf(err, errlen, "invalid request header %zu (%.40s)", i, n ? n : "(null)");
            goto fail;
        }
        if (strcasecmp(n, "Content-Length") == 0 || strcasecmp(n, "Transfer-Encoding") == 0) {
            snprintf(err, errlen, "request header %s is set by the client", n);
            goto fail;
        }
        if (strcasecmp(n, "Host") == 0)
            r->has_host = 1;
        if (strcasecmp(n, "User-Agent") == 0)
            r->has_user_agent = 1;
        r->hdr_names[i] = strdup(n);
        r->hdr_values[i] = strdup(v);
        r->nheaders = i + 1;
        if (r->hdr_names[i] == NULL || r->hdr_values[i] == NULL)
            goto oom;
    }
    if (o->body_len > 0) {
        r->body = malloc(o->body_len);
        if (r->body == NULL)
            goto oom;
        memcpy(r->body, o->body, o->body_len);
        r->body_len = o->body_len;
    }
    r->timer = evtimer_new(c->base, on_timer, r);
    if (r->timer == NULL)
        goto oom;
    r->pool =
        wg_http_pool_get(c, u.host, u.host_header, u.port, u.tls, u.tls && o->insecure_skip_verify);
    if (r->pool == NULL)
        goto oom;
    r->state = REQ_QUEUED;
    wg_http_pool_enqueue(r->pool, r);
    /* Dispatch on the next turn of the loop: the callback can never run inside this call. */
    wg_http_schedule_pump(c);
    return r;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    free(u.target);
    if (r != NULL)
        wg_http_request_free_(r);
    return NULL;
}

void wg_http_request_cancel(wg_http_request_t *r)
{
    if (r == NULL)
        return;
    if (r->state == REQ_QUEUED)
        wg_http_pool_dequeue(r->pool, r);
    else if (r->conn != NULL)
        wg_http_conn_abort(r->conn);
    wg_http_request_free_(r);
}
