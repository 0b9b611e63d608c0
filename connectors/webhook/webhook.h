/* Signed webhook delivery: one JSON POST to any HTTP(S) URL through the shared HTTP client, with
 *     Content-Type: application/json
 *     X-Wegate-Timestamp: <unix seconds>
 *     X-Wegate-Signature: v1=<lower-case hex HMAC-SHA256(secret, timestamp + "." + body)>
 *     X-Wegate-Delivery: <the caller's idempotency key>
 * (crypto/hmac.h signs and verifies; the README tells receivers how to check and dedupe).
 *
 * Outcome classes, for the outbox's retry decision:
 *   OK           any 2xx.
 *   RETRY_LATER  5xx, 408, 429, any status outside 2xx/4xx (1xx, 3xx: redirects are not
 *                followed), and transport errors other than TLS verification (DNS, connect,
 *                TLS handshake, timeout, reset, response too large, malformed HTTP, shutdown).
 *                retry_after_ms: the response's Retry-After (seconds or HTTP date) if any, capped
 *                at one hour, else 0 (the caller's own backoff applies).
 *   CONFIG       the TLS certificate or host name did not verify (fix the CA or URL).
 *   PERMANENT    4xx other than 408 and 429: the receiver refused this delivery.
 *
 * Each call ends in exactly one callback on the HTTP client's loop, never inside
 * wg_webhook_post(); not at all after wg_webhook_cancel(). Freeing the HTTP client completes
 * pending calls with RETRY_LATER (WG_HTTP_ERR_SHUTDOWN). No logging; messages never contain
 * the secret (nor the URL's query string, which may carry a token). */
#ifndef WG_WEBHOOK_H
#define WG_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "connectors/http/client.h"

#define WG_WEBHOOK_DELIVERY_MAX 200 /* X-Wegate-Delivery: 1..200 visible ASCII chars */
#define WG_WEBHOOK_RETRY_AFTER_MAX_MS 3600000

typedef enum wg_webhook_class {
    WG_WEBHOOK_OK = 0,
    WG_WEBHOOK_RETRY_LATER,
    WG_WEBHOOK_CONFIG,
    WG_WEBHOOK_PERMANENT,
} wg_webhook_class_t;

/* "ok", "retry_later", "config", "permanent" (static). */
const char *wg_webhook_class_name(wg_webhook_class_t c);

typedef struct wg_webhook_request {
    const char *url;    /* http:// or https:// */
    const void *secret; /* signing secret (bytes); required, secret_len >= 1 */
    size_t secret_len;
    const char *delivery_id; /* X-Wegate-Delivery, the idempotency key: the same for every
                                attempt of one notification */
    const void *body;        /* the JSON document, sent as is */
    size_t body_len;
    int64_t timestamp; /* X-Wegate-Timestamp, unix seconds; 0: time(NULL) at the call */
    int insecure_skip_verify;
    int response_timeout_ms; /* 0: the HTTP client's */
} wg_webhook_request_t;

/* Borrowed by the callback: valid during the call only. */
typedef struct wg_webhook_result {
    wg_webhook_class_t cls;
    int http_status;            /* 0: no response */
    wg_http_error_t http_error; /* WG_HTTP_OK unless the transport failed */
    int64_t retry_after_ms;     /* see above */
    int64_t timestamp;          /* the X-Wegate-Timestamp that was sent */
    const uint8_t *body;        /* response body (NUL-terminated), NULL without a response */
    size_t body_len;
    const char *message; /* "" on OK; else one line naming the host and what failed */
} wg_webhook_result_t;

typedef void (*wg_webhook_done_cb)(void *arg, const wg_webhook_result_t *res);

typedef struct wg_webhook_call wg_webhook_call_t;

/* Signs and sends (request copied). Returns a handle, valid until the callback starts or
 * wg_webhook_cancel() returns; or NULL (the callback will not run) with err filled on a bad URL,
 * missing secret, invalid delivery id, or out of memory. */
wg_webhook_call_t *wg_webhook_post(wg_http_client_t *http, const wg_webhook_request_t *req,
                                   wg_webhook_done_cb cb, void *arg, char *err, size_t errlen);

/* Abandons a call whose callback has not started: its callback will not run. */
void wg_webhook_cancel(wg_webhook_call_t *call);

#endif
