/* Signed webhook delivery: signs (crypto/hmac), POSTs through the shared HTTP client and sorts
 * the outcome into the four classes the outbox retries by. */
#include "connectors/webhook/webhook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/hmac.h"

#define ORIGIN_MAX 300 /* "https://host:port" for messages */
#define MESSAGE_MAX 512

struct wg_webhook_call {
    wg_http_request_t *http;
    wg_webhook_done_cb cb;
    void *arg;
    int64_t timestamp;
    char origin[ORIGIN_MAX]; /* scheme://host[:port], never the path or query */
};

const char *wg_webhook_class_name(wg_webhook_class_t c)
{
    switch (c) {
    case WG_WEBHOOK_OK:
        return "ok";
    case WG_WEBHOOK_RETRY_LATER:
        return "retry_later";
    case WG_WEBHOOK_CONFIG:
        return "config";
    case WG_WEBHOOK_PERMANENT:
        return "permanent";
    }
    return "unknown";
}

/* "scheme://authority" of url (the URL's path and query may carry credentials). */
static void origin_of(const char *url, char *out, size_t outlen)
{
    const char *p = strstr(url, "://");
    size_t n;
    if (p == NULL) {
        snprintf(out, outlen, "(invalid URL)");
        return;
    }
    p += 3;
    n = strcspn(p, "/?#");
    snprintf(out, outlen, "%.*s%.*s", (int)(p - url), url, (int)(n < 200 ? n : 200), p);
}

/* Retry-After: delta-seconds or an IMF-fixdate; ms from now (capped), 0 if absent or invalid. */
static int64_t retry_after_ms(const char *v, int64_t now_s)
{
    int64_t s = 0;
    if (v == NULL)
        return 0;
    while (*v == ' ' || *v == '\t')
        v++;
    if (*v >= '0' && *v <= '9') {
        for (; *v >= '0' && *v <= '9'; v++) {
            s = s * 10 + (*v - '0');
            if (s > WG_WEBHOOK_RETRY_AFTER_MAX_MS / 1000)
                return WG_WEBHOOK_RETRY_AFTER_MAX_MS;
        }
        while (*v == ' ' || *v == '\t')
            v++;
        return *v == '\0' ? s * 1000 : 0;
    } else {
        struct tm tm;
        const char *end;
        time_t t;
        memset(&tm, 0, sizeof(tm));
        end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        if (end == NULL || *end != '\0')
            return 0;
        t = timegm(&tm);
        if (t == (time_t)-1 || (int64_t)t <= now_s)
            return 0;
        s = (int64_t)t - now_s;
        if (s > WG_WEBHOOK_RETRY_AFTER_MAX_MS / 1000)
            return WG_WEBHOOK_RETRY_AFTER_MAX_MS;
        return s * 1000;
    }
}

static void on_done(void *arg, const wg_http_response_t *resp, wg_http_error_t error,
                    const char *err)
{
    wg_webhook_call_t *call = arg;
    wg_webhook_result_t r = {0};
    char msg[MESSAGE_MAX];

    r.timestamp = call->timestamp;
    r.http_error = error;
    r.message = msg;
    msg[0] = '\0';
    if (resp == NULL) {
        r.cls = error == WG_HTTP_ERR_TLS_VERIFY ? WG_WEBHOOK_CONFIG : WG_WEBHOOK_RETRY_LATER;
        snprintf(msg, sizeof(msg), "webhook %s: %s (%s)%s", call->origin,
                 err ? err : "request failed", wg_http_error_name(error),
                 r.cls == WG_WEBHOOK_CONFIG ? ": check the URL and the CA the client trusts" : "");
    } else {
        int st = resp->status;
        r.http_status = st;
        r.body = resp->body;
        r.body_len = resp->body_len;
        if (st >= 200 && st <= 299) {
            r.cls = WG_WEBHOOK_OK;
        } else if (st >= 400 && st <= 499 && st != 408 && st != 429) {
            r.cls = WG_WEBHOOK_PERMANENT;
            snprintf(msg, sizeof(msg), "webhook %s: refused with HTTP %d %s", call->origin, st,
                     resp->reason);
        } else {
            r.cls = WG_WEBHOOK_RETRY_LATER;
            r.retry_after_ms =
                retry_after_ms(wg_http_response_header(resp, "Retry-After"), (int64_t)time(NULL));
            snprintf(msg, sizeof(msg), "webhook %s: HTTP %d %s%s", call->origin, st, resp->reason,
                     st >= 300 && st <= 399 ? " (redirects are not followed: fix the URL)" : "");
        }
    }
    call->http = NULL;
    call->cb(call->arg, &r);
    free(call);
}

static int delivery_ok(const char *s)
{
    size_t n = 0;
    if (s == NULL)
        return 0;
    for (; s[n]; n++)
        if ((unsigned char)s[n] <= 0x20 || (unsigned char)s[n] >= 0x7f)
            return 0;
    return n >= 1 && n <= WG_WEBHOOK_DELIVERY_MAX;
}

wg_webhook_call_t *wg_webhook_post(wg_http_client_t *http, const wg_webhook_request_t *req,
                                   wg_webhook_done_cb cb, void *arg, char *err, size_t errlen)
{
    wg_webhook_call_t *call;
    char ts[WG_CRYPTO_WEBHOOK_TS_MAX + 1];
    char sig[WG_CRYPTO_WEBHOOK_SIG_LEN + 1];
    wg_http_header_t hdrs[4];
    wg_http_request_options_t ro = {0};

    if (http == NULL || req == NULL || cb == NULL || req->url == NULL) {
        snprintf(err, errlen, "an HTTP client, a request with a URL and a callback are required");
        return NULL;
    }
    if (req->secret == NULL || req->secret_len == 0) {
        snprintf(err, errlen, "a webhook needs a signing secret");
        return NULL;
    }
    if (!delivery_ok(req->delivery_id)) {
        snprintf(err, errlen, "delivery id must be 1..%d visible ASCII characters",
                 WG_WEBHOOK_DELIVERY_MAX);
        return NULL;
    }
    if (req->body_len > 0 && req->body == NULL) {
        snprintf(err, errlen, "body_len without a body");
        return NULL;
    }
    call = calloc(1, sizeof(*call));
    if (call == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    call->cb = cb;
    call->arg = arg;
    call->timestamp = req->timestamp ? req->timestamp : (int64_t)time(NULL);
    origin_of(req->url, call->origin, sizeof(call->origin));
    snprintf(ts, sizeof(ts), "%lld", (long long)call->timestamp);
    if (wg_crypto_webhook_sign(req->secret, req->secret_len, ts, strlen(ts), req->body,
                               req->body_len, sig) != WG_CRYPTO_OK) {
        snprintf(err, errlen, "cannot compute the signature (OpenSSL failure)");
        free(call);
        return NULL;
    }
    hdrs[0] = (wg_http_header_t){"Content-Type", "application/json"};
    hdrs[1] = (wg_http_header_t){"X-Wegate-Timestamp", ts};
    hdrs[2] = (wg_http_header_t){"X-Wegate-Signature", sig};
    hdrs[3] = (wg_http_header_t){"X-Wegate-Delivery", req->delivery_id};
    ro.method = "POST";
    ro.url = req->url;
    ro.headers = hdrs;
    ro.nheaders = 4;
    ro.body = req->body;
    ro.body_len = req->body_len;
    ro.insecure_skip_verify = req->insecure_skip_verify;
    ro.response_timeout_ms = req->response_timeout_ms;
    call->http = wg_http_send(http, &ro, on_done, call, err, errlen);
    if (call->http == NULL) {
        free(call);
        return NULL;
    }
    return call;
}

void wg_webhook_cancel(wg_webhook_call_t *call)
{
    if (call == NULL)
        return;
    wg_http_request_cancel(call->http);
    free(call);
}
