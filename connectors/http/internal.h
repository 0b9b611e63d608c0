/* Private structures shared by client.c (requests, completion), pool.c (connections per host)
 * and tls.c (OpenSSL setup). Not part of the API. */
#ifndef WG_HTTP_INTERNAL_H
#define WG_HTTP_INTERNAL_H

#include "connectors/http/client.h"

#include <event2/http.h>
#include <openssl/ssl.h>

struct bufferevent;
struct evbuffer_cb_entry;
struct event;

#define WG_HTTP_ERRMSG 256
/* Response headers are capped at this (libevent's default is unlimited). */
#define WG_HTTP_MAX_HEADERS_BYTES (64 * 1024)

/* What the TLS layer saw during a handshake, filled from OpenSSL callbacks (SSL app data points
 * here while the connection is ours; NULL once it is detached). */
typedef struct wg_http_tls_obs {
    int verify_err;   /* first X509_V_ERR_* reported by verification, 0 if none */
    int verify_depth; /* certificate depth of that error */
    int peer_bytes;   /* the server sent at least one TLS record */
} wg_http_tls_obs_t;

typedef struct wg_http_pool wg_http_pool_t;
typedef struct wg_http_conn wg_http_conn_t;

struct wg_http_client {
    struct event_base *base;
    struct evdns_base *dns;
    SSL_CTX *ssl_ctx;
    int connect_ms;
    int response_ms;
    size_t max_body;
    int max_conns;
    int idle_ms; /* -1: no keep-alive */
    int family;  /* AF_UNSPEC, AF_INET or AF_INET6 */
    char *user_agent;
    wg_http_pool_t *pools;
    struct event *pump_ev; /* runs wg_http_pump() on the next turn of the loop */
    int depth;             /* frames of ours on the stack: the client's memory stays until 0 */
    int in_evhttp;         /* of those, evhttp callbacks: evhttp may still use its connection */
    int closing;           /* wg_http_client_free() has run; memory goes at depth 0 */
    wg_http_client_stats_t stats;
};

/* One destination: connections are shared only between requests with the same scheme, host,
 * port and verification setting. */
struct wg_http_pool {
    wg_http_pool_t *next;
    wg_http_client_t *client;
    char *host;        /* for DNS, SNI and verification (IPv6 without brackets) */
    char *host_header; /* the Host header: host[:port] as the URL spells it */
    int port;
    int tls;
    int insecure;
    wg_http_conn_t *conns;
    int nconns;
    wg_http_request_t *queue_head, *queue_tail;
    int nqueued;
};

typedef enum wg_http_conn_state {
    CONN_CONNECTING, /* new: DNS, TCP and TLS under way for its first request */
    CONN_BUSY,       /* carrying a request */
    CONN_IDLE,       /* keep-alive, waiting for the next request (idle timer armed) */
} wg_http_conn_state_t;

struct wg_http_conn {
    wg_http_conn_t *prev, *next;
    wg_http_pool_t *pool;
    struct evhttp_connection *evcon; /* owns bev, which owns ssl */
    struct bufferevent *bev;
    SSL *ssl;
    struct evbuffer_cb_entry *out_cb; /* tells when request bytes go out (connected) */
    struct evbuffer_cb_entry *in_cb;  /* tells when response bytes come in */
    struct event *idle_ev;
    wg_http_conn_state_t state;
    int closed;      /* libevent reported the connection closed: never reuse */
    int nodelay;     /* TCP_NODELAY set on the socket */
    int no_reuse;    /* the response ended with the connection (read until close) */
    unsigned served; /* requests completed with a response on this connection */
    wg_http_request_t *req;
    wg_http_tls_obs_t tls;
};

typedef enum wg_http_req_state {
    REQ_QUEUED, /* waiting in its pool's queue for a connection */
    REQ_ACTIVE, /* on a connection */
} wg_http_req_state_t;

typedef enum wg_http_timer_phase {
    PHASE_CONNECT,  /* connect_ms from the start of a new connection */
    PHASE_RESPONSE, /* response_ms from the request going out */
} wg_http_timer_phase_t;

struct wg_http_request {
    wg_http_client_t *client;
    wg_http_pool_t *pool;
    wg_http_conn_t *conn;
    wg_http_request_t *next; /* in the pool's queue */
    wg_http_req_state_t state;
    enum evhttp_cmd_type method;
    char *target; /* path?query */
    char **hdr_names;
    char **hdr_values;
    size_t nheaders;
    int has_host, has_user_agent;
    unsigned char *body;
    size_t body_len;
    int response_ms;
    struct evhttp_request *ereq;
    struct event *timer;
    wg_http_timer_phase_t phase;
    int sent;         /* request bytes went to a connected connection */
    int got_bytes;    /* response bytes came back */
    int replayable;   /* idempotent: may go out twice */
    int retried;      /* already sent again after a stale keep-alive connection */
    int evhttp_error; /* enum evhttp_request_error reported by libevent, -1 if none */
    int sys_errno;    /* errno when libevent reported the failure */
    wg_http_done_cb cb;
    void *arg;
};

/* client.c. Every entry from the loop into the client is bracketed by enter/leave (evhttp: 1
 * for evhttp's callbacks); leave frees the client when it was closed meanwhile. */
void wg_http_enter(wg_http_client_t *c, int evhttp);
void wg_http_leave(wg_http_client_t *c, int evhttp);
void wg_http_schedule_pump(wg_http_client_t *c);
/* Completes r with an error (cb runs now), after detaching it from any connection or queue
 * (the caller has already done so) and frees r. */
void wg_http_fail(wg_http_request_t *r, wg_http_error_t e, const char *msg);
void wg_http_on_done(struct evhttp_request *ereq, void *arg);
void wg_http_on_error(enum evhttp_request_error e, void *arg);
void wg_http_on_sent(wg_http_request_t *r);
void wg_http_request_free_(wg_http_request_t *r);

/* pool.c */
wg_http_pool_t *wg_http_pool_get(wg_http_client_t *c, const char *host, const char *host_header,
                                 int port, int tls, int insecure);
void wg_http_pool_enqueue(wg_http_pool_t *p, wg_http_request_t *r);
void wg_http_pool_dequeue(wg_http_pool_t *p, wg_http_request_t *r);
void wg_http_pool_requeue(wg_http_pool_t *p, wg_http_request_t *r); /* at the head */
void wg_http_pump(wg_http_client_t *c);
/* Stops r's exchange on its connection (no libevent callback for it afterwards) and closes the
 * connection. */
void wg_http_conn_abort(wg_http_conn_t *conn);
/* After a response: keeps the connection for the next request or closes it. */
void wg_http_conn_release(wg_http_conn_t *conn);
void wg_http_conn_destroy(wg_http_conn_t *conn);
void wg_http_pool_free(wg_http_pool_t *p);

/* tls.c */
SSL_CTX *wg_http_tls_ctx_new(const char *ca_file, int ca_file_only, char *err, size_t errlen);
/* A fresh SSL for one connection to host, with SNI (unless host is an IP address) and, unless
 * insecure, peer verification against the context's store and host (DNS name or IP address). */
SSL *wg_http_tls_ssl_new(SSL_CTX *ctx, const char *host, int insecure, wg_http_tls_obs_t *obs);
void wg_http_tls_detach(SSL *ssl);
/* Describes a failed handshake: returns WG_HTTP_ERR_TLS_VERIFY, WG_HTTP_ERR_TLS, or
 * WG_HTTP_OK when nothing TLS-specific explains it (the caller then calls it a connect error).
 * Consumes the OpenSSL errors that bufferevent_openssl recorded on bev. */
wg_http_error_t wg_http_tls_explain(struct bufferevent *bev, const wg_http_tls_obs_t *obs,
                                    const char *host, int port, char *msg, size_t msglen);

#endif
