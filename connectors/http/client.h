/* HTTP(S) client on a libevent loop: libevent's evhttp over bufferevent_openssl (OpenSSL 3),
 * TLS 1.2+ with certificate and host-name verification on by default, SNI, asynchronous DNS
 * through an evdns_base, a connect timeout and a response timeout, a small pool of keep-alive
 * connections per host (one request at a time on each), a cap on the response size. Redirects
 * are not followed (a 302 is an ordinary response). Plain http:// works too.
 *
 * Everything happens on the caller's event loop: one client belongs to one loop (one thread).
 * The library never logs, exits or reads the environment: a request ends in exactly one callback
 * with a response or an error kind and a message. Two things are the application's: libevent
 * itself may print warnings (e.g. on a malformed response), routed with
 * event_set_log_callback(); and a write to a connection the server has reset raises SIGPIPE,
 * which the process must ignore (signal(SIGPIPE, SIG_IGN)), as servers do. */
#ifndef WG_HTTP_CLIENT_H
#define WG_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evdns_base;

/* Why a request failed. DNS, CONNECT, TLS and TLS_VERIFY: the request never reached the
 * server. TIMEOUT: err says which ("connecting to ..." never sent; "no complete response ..."
 * sent). RESET, TOO_LARGE, PROTOCOL and SHUTDOWN: it may have been received and acted on. */
typedef enum wg_http_error {
    WG_HTTP_OK = 0,
    WG_HTTP_ERR_DNS,        /* the host name did not resolve */
    WG_HTTP_ERR_CONNECT,    /* no TCP connection (refused, unreachable, closed at once) */
    WG_HTTP_ERR_TLS,        /* TLS handshake failed for another reason than verification */
    WG_HTTP_ERR_TLS_VERIFY, /* the certificate chain or the host name did not verify */
    WG_HTTP_ERR_TIMEOUT,    /* connect timeout or response timeout */
    WG_HTTP_ERR_RESET,      /* connection closed or reset before a complete response */
    WG_HTTP_ERR_TOO_LARGE,  /* response body over max_response_bytes */
    WG_HTTP_ERR_PROTOCOL,   /* not valid HTTP/1.x (or response headers over 64 KiB) */
    WG_HTTP_ERR_SHUTDOWN,   /* wg_http_client_free() ran before the request completed */
    WG_HTTP_ERR_INTERNAL,   /* out of memory or a library call failed */
} wg_http_error_t;

/* "ok", "dns", "connect", "tls", "tls_verify", "timeout", "reset", "too_large", "protocol",
 * "shutdown", "internal" (static strings; for logs and metrics labels). */
const char *wg_http_error_name(wg_http_error_t e);

typedef struct wg_http_header {
    const char *name;
    const char *value;
} wg_http_header_t;

/* A response, borrowed by the completion callback: valid only until the callback returns. */
typedef struct wg_http_response {
    int status;          /* 100..999 */
    const char *reason;  /* status line text, e.g. "OK" ("" if none) */
    const uint8_t *body; /* body bytes, followed by a NUL not counted in body_len */
    size_t body_len;
    void *_headers; /* private: the evhttp header list */
} wg_http_response_t;

/* The value of the first response header called name (case-insensitive), or NULL. Borrowed, like
 * the response. */
const char *wg_http_response_header(const wg_http_response_t *resp, const char *name);
/* Header i (0-based) in arrival order: 0 and *name, *value set, or -1 past the end. */
int wg_http_response_header_at(const wg_http_response_t *resp, size_t i, const char **name,
                               const char **value);

/* Completion: called exactly once per request that wg_http_send() accepted, on the client's
 * loop, never inside wg_http_send(); not at all after wg_http_request_cancel(). On success
 * error == WG_HTTP_OK, resp != NULL and err == NULL (any HTTP status is a success here); on
 * failure resp == NULL and err says what failed, naming the host (borrowed, valid during the
 * call). The callback may send new requests, cancel others, or free the client. */
typedef void (*wg_http_done_cb)(void *arg, const wg_http_response_t *resp, wg_http_error_t error,
                                const char *err);

typedef struct wg_http_client_options {
    const char *ca_file;       /* PEM file of CA certificates trusted in addition to the system
                                  store (NULL: the system store alone); read once, by _new */
    int ca_file_only;          /* 1: trust ca_file alone, not the system store */
    int connect_timeout_ms;    /* DNS + TCP connect + TLS handshake; default 5000 */
    int response_timeout_ms;   /* from the request going out to the last byte of the response;
                                  default 15000 */
    size_t max_response_bytes; /* body cap; default 4 MiB */
    int max_conns_per_host;    /* connections per (scheme, host, port, verification); default 4.
                                  More concurrent requests wait in a queue per host, in order. */
    int idle_timeout_ms;       /* an idle keep-alive connection is closed after this; default
                                  30000; -1: no keep-alive (a connection per request) */
    int ip_version;            /* 0: the first address the resolver gives; 4 or 6: only that */
    const char *user_agent;    /* User-Agent unless a request sets one; default "wegate" (copied) */
} wg_http_client_options_t;

typedef struct wg_http_client wg_http_client_t;
typedef struct wg_http_request wg_http_request_t;

/* A client on base, resolving names with dns (required: lookups never block the loop; the
 * caller creates and frees it, and it must outlive the client). opts may be NULL; a field left
 * 0 takes its default. NULL on a bad option, an unreadable ca_file or out of memory, with err
 * filled. */
wg_http_client_t *wg_http_client_new(struct event_base *base, struct evdns_base *dns,
                                     const wg_http_client_options_t *opts, char *err,
                                     size_t errlen);
/* Completes every pending request with WG_HTTP_ERR_SHUTDOWN (their callbacks run before this
 * returns, and may not send new requests), closes the connections and frees the client. May be
 * called from a completion callback; then a connection still in use by libevent is closed on
 * the next turn of the loop, so let the loop run once more before freeing the base. */
void wg_http_client_free(wg_http_client_t *c);

typedef struct wg_http_request_options {
    const char *method; /* GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS; NULL: GET, or POST
                           when there is a body */
    const char *url;    /* http:// or https://host[:port][/path][?query]; no user info */
    const wg_http_header_t *headers; /* extra request headers (Host and User-Agent may be set
                                        here; Content-Length and Transfer-Encoding may not) */
    size_t nheaders;
    const void *body;
    size_t body_len;
    int insecure_skip_verify; /* 1: no certificate or host-name check for this request (such
                                 connections are pooled apart); the application warns about it */
    int response_timeout_ms;  /* 0: the client's */
    int idempotent;           /* 1: the request may reach the server twice (GET, HEAD and
                                 OPTIONS are); see wg_http_send() */
} wg_http_request_options_t;

/* Starts a request; everything in opts is copied. Returns a handle, borrowed by the caller and
 * valid until the callback starts or wg_http_request_cancel() returns; or NULL (cb will not
 * run) on an invalid URL, method or header, while the client is being freed, or out of memory,
 * with err filled.
 * Requests to one destination go out in order on its pooled connections (the pool of a
 * destination lives as long as the client). A server may close an idle keep-alive connection
 * just as a request goes out on it: an idempotent request that fails so (closed or reset
 * before any byte of response) is sent once more on a new connection; any other request fails
 * with WG_HTTP_ERR_RESET. Only the first address a name resolves to is tried. */
wg_http_request_t *wg_http_send(wg_http_client_t *c, const wg_http_request_options_t *opts,
                                wg_http_done_cb cb, void *arg, char *err, size_t errlen);
/* Abandons a request whose callback has not started: its callback will not run. A request
 * already on the wire is stopped by closing its connection. */
void wg_http_request_cancel(wg_http_request_t *r);

typedef struct wg_http_client_stats {
    uint64_t connections_opened; /* connections started (each one TCP + TLS handshake) */
    uint64_t requests_sent;      /* requests handed to a connection */
    uint64_t requests_reused;    /* of those, on a connection that had served a request before */
    uint64_t responses;          /* completed with a response (any status) */
    uint64_t failures;           /* completed with an error (not counting cancelled ones) */
    int open_connections;        /* now: connecting, busy or idle */
    int idle_connections;        /* now */
    int queued;                  /* now: requests waiting for a connection */
} wg_http_client_stats_t;

void wg_http_client_get_stats(const wg_http_client_t *c, wg_http_client_stats_t *out);

#endif
