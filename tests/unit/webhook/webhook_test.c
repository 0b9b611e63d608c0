/* The signed webhook connector against fake_wecom's /hook/ receiver over TLS on loopback: the
 * headers and body as received (the signature checked with crypto/hmac's verifier and with the
 * openssl command), the outcome class of each status and transport failure, request checks,
 * cancellation, the client freed with a delivery pending, and the Retry-After parser. */
#include "connectors/webhook/webhook.c" /* for retry_after_ms() */

#include <unistd.h>

#include "fakectl.h"
#include "testlib.h"

#define SECRET "whsec_0123456789abcdef"

typedef struct rec {
    wg_webhook_class_t cls;
    int http_status;
    wg_http_error_t http_error;
    int64_t retry_after_ms;
    int64_t timestamp;
    char message[512];
    char body[256];
} rec_t;

static rec_t recs[32];
static int nrecs;
static int in_submit, cb_in_submit;

static void on_done_cb(void *arg, const wg_webhook_result_t *r)
{
    rec_t *x = &recs[nrecs < 32 ? nrecs : 31];
    (void)arg;
    if (in_submit)
        cb_in_submit++;
    memset(x, 0, sizeof(*x));
    x->cls = r->cls;
    x->http_status = r->http_status;
    x->http_error = r->http_error;
    x->retry_after_ms = r->retry_after_ms;
    x->timestamp = r->timestamp;
    snprintf(x->message, sizeof(x->message), "%s", r->message);
    if (r->body)
        snprintf(x->body, sizeof(x->body), "%.*s", (int)(r->body_len < 255 ? r->body_len : 255),
                 (const char *)r->body);
    nrecs++;
}

static wg_webhook_call_t *post(wg_http_client_t *http, const char *path, const char *body,
                               const char *delivery, int64_t ts)
{
    char url[256], err[256];
    wg_webhook_request_t q = {0};
    wg_webhook_call_t *c;
    snprintf(url, sizeof(url), "%s%s", fx.base_url, path);
    q.url = url;
    q.secret = SECRET;
    q.secret_len = strlen(SECRET);
    q.delivery_id = delivery;
    q.body = body;
    q.body_len = strlen(body);
    q.timestamp = ts;
    in_submit = 1;
    c = wg_webhook_post(http, &q, on_done_cb, NULL, err, sizeof(err));
    in_submit = 0;
    if (c == NULL)
        fprintf(stderr, "post: %s\n", err);
    return c;
}

static rec_t *post_wait(const char *path, const char *body)
{
    int before = nrecs;
    CHECK(post(fx.http, path, body, "dlv-x", 0) != NULL);
    CHECK_INT(fx_run_until(&nrecs, before + 1, 10000), 0);
    return &recs[before];
}

/* hex HMAC by the openssl command over "ts.body" */
static int openssl_hmac(const char *ts, const char *body, char *out, size_t outlen)
{
    char path[] = "/tmp/wegate-webhook-XXXXXX", cmd[256], line[256] = "";
    const char *hex;
    FILE *p;
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    if (write(fd, ts, strlen(ts)) < 0 || write(fd, ".", 1) < 0 ||
        write(fd, body, strlen(body)) < 0) {
        close(fd);
        unlink(path);
        return -1;
    }
    close(fd);
    snprintf(cmd, sizeof(cmd), "openssl dgst -sha256 -hmac '%s' '%s'", SECRET, path);
    p = popen(cmd, "r");
    if (p == NULL || fgets(line, sizeof(line), p) == NULL)
        line[0] = '\0';
    if (p)
        pclose(p);
    unlink(path);
    line[strcspn(line, "\n")] = '\0';
    hex = strrchr(line, ' ');
    if (hex == NULL)
        return -1;
    snprintf(out, outlen, "%s", hex + 1);
    return 0;
}

static void test_signed_delivery(void)
{
    const char *body = "{\"alert\":{\"rule\":\"手机号\",\"text\":\"call me \\\"now\\\"\"}}";
    json_t *e;
    const char *ts, *sig, *got;
    char hex[80];

    fx_reset();
    nrecs = 0;
    CHECK(post(fx.http, "/hook/alerts?token=abc", body, "outbox-42-1", 1700000000) != NULL);
    CHECK_INT(nrecs, 0);
    CHECK_INT(fx_run_until(&nrecs, 1, 10000), 0);
    CHECK_INT(recs[0].cls, WG_WEBHOOK_OK);
    CHECK_INT(recs[0].http_status, 200);
    CHECK_INT(recs[0].timestamp, 1700000000);
    CHECK_STR(recs[0].body, "{\"ok\":true}");
    CHECK_STR(recs[0].message, "");

    e = fx_request("/hook/alerts", 0);
    CHECK(e != NULL);
    CHECK_STR(json_string_value(json_object_get(e, "method")), "POST");
    CHECK_STR(json_string_value(json_object_get(e, "query")), "token=abc");
    got = json_string_value(json_object_get(e, "body"));
    CHECK_STR(got, body);
    CHECK_STR(fx_header(e, "content-type"), "application/json");
    CHECK_STR(fx_header(e, "x-wegate-delivery"), "outbox-42-1");
    ts = fx_header(e, "x-wegate-timestamp");
    sig = fx_header(e, "x-wegate-signature");
    CHECK_STR(ts, "1700000000");
    CHECK(sig != NULL && strncmp(sig, "v1=", 3) == 0);
    if (ts && sig && got) {
        /* as a receiver would: over the bytes received */
        CHECK_INT(wg_crypto_webhook_verify(SECRET, strlen(SECRET), ts, strlen(ts), got, strlen(got),
                                           sig, strlen(sig), 0, 0),
                  WG_CRYPTO_OK);
        CHECK_INT(wg_crypto_webhook_verify("wrong", 5, ts, strlen(ts), got, strlen(got), sig,
                                           strlen(sig), 0, 0),
                  WG_CRYPTO_E_SIGNATURE);
        CHECK_INT(openssl_hmac(ts, got, hex, sizeof(hex)), 0);
        CHECK_STR(sig + 3, hex);
    }
    json_decref(e);
    CHECK_INT(cb_in_submit, 0);
}

static void test_timestamp_defaults_to_now(void)
{
    json_t *e;
    const char *ts, *sig, *got;
    int64_t now = (int64_t)time(NULL);

    fx_reset();
    nrecs = 0;
    CHECK(post(fx.http, "/hook/now", "{}", "d-1", 0) != NULL);
    CHECK_INT(fx_run_until(&nrecs, 1, 10000), 0);
    CHECK(recs[0].timestamp >= now && recs[0].timestamp <= now + 5);
    e = fx_request("/hook/now", 0);
    ts = fx_header(e, "x-wegate-timestamp");
    sig = fx_header(e, "x-wegate-signature");
    got = json_string_value(json_object_get(e, "body"));
    CHECK(ts && sig && got);
    if (ts && sig && got)
        CHECK_INT(wg_crypto_webhook_verify(SECRET, strlen(SECRET), ts, strlen(ts), got, strlen(got),
                                           sig, strlen(sig), (int64_t)time(NULL), 300),
                  WG_CRYPTO_OK);
    json_decref(e);
}

static void test_status_classes(void)
{
    static const struct {
        int status;
        wg_webhook_class_t cls;
    } cases[] = {
        {201, WG_WEBHOOK_OK},          {204, WG_WEBHOOK_OK},          {400, WG_WEBHOOK_PERMANENT},
        {401, WG_WEBHOOK_PERMANENT},   {404, WG_WEBHOOK_PERMANENT},   {410, WG_WEBHOOK_PERMANENT},
        {408, WG_WEBHOOK_RETRY_LATER}, {429, WG_WEBHOOK_RETRY_LATER}, {500, WG_WEBHOOK_RETRY_LATER},
        {503, WG_WEBHOOK_RETRY_LATER}, {302, WG_WEBHOOK_RETRY_LATER},
    };
    char action[128];
    rec_t *r;

    fx_reset();
    nrecs = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        /* no body: libevent's server would send one even with a 204 */
        snprintf(action, sizeof(action), "[{\"action\":\"status\",\"status\":%d,\"body\":\"\"}]",
                 cases[i].status);
        fx_script("/hook/s", action);
        r = post_wait("/hook/s?secret_token=hidden", "{\"n\":1}");
        CHECK_INT(r->http_status, cases[i].status);
        CHECK_INT(r->cls, cases[i].cls);
        CHECK(strstr(r->message, "hidden") == NULL); /* never the query */
        if (cases[i].cls != WG_WEBHOOK_OK)
            CHECK(strstr(r->message, "127.0.0.1") != NULL);
    }
    /* a reset: no response, retry later */
    fx_script("/hook/s", "[{\"action\":\"reset\"}]");
    r = post_wait("/hook/s", "{}");
    CHECK_INT(r->cls, WG_WEBHOOK_RETRY_LATER);
    CHECK_INT(r->http_error, WG_HTTP_ERR_RESET);
    CHECK_INT(r->http_status, 0);
}

static void test_transport_classes(void)
{
    char err[256], url[128];
    wg_http_client_t *sys = wg_http_client_new(fx.base, fx.dns, NULL, err, sizeof(err));
    wg_webhook_request_t q = {0};
    int before;

    nrecs = 0;
    /* the system store does not know the test CA: fix the configuration */
    CHECK(post(sys, "/hook/tls", "{}", "d", 0) != NULL);
    CHECK_INT(fx_run_until(&nrecs, 1, 10000), 0);
    CHECK_INT(recs[0].cls, WG_WEBHOOK_CONFIG);
    CHECK_INT(recs[0].http_error, WG_HTTP_ERR_TLS_VERIFY);
    /* nothing listens on port 1 */
    snprintf(url, sizeof(url), "https://127.0.0.1:1/hook");
    q.url = url;
    q.secret = SECRET;
    q.secret_len = strlen(SECRET);
    q.delivery_id = "d";
    q.body = "{}";
    q.body_len = 2;
    before = nrecs;
    CHECK(wg_webhook_post(fx.http, &q, on_done_cb, NULL, err, sizeof(err)) != NULL);
    CHECK_INT(fx_run_until(&nrecs, before + 1, 10000), 0);
    CHECK_INT(recs[before].cls, WG_WEBHOOK_RETRY_LATER);
    CHECK_INT(recs[before].http_error, WG_HTTP_ERR_CONNECT);
    wg_http_client_free(sys);
}

static void test_requests_refused(void)
{
    char err[256], long_id[WG_WEBHOOK_DELIVERY_MAX + 2];
    wg_webhook_request_t q = {0};
    char url[128];
    snprintf(url, sizeof(url), "%s/hook/x", fx.base_url);
    q.url = url;
    q.secret = SECRET;
    q.secret_len = strlen(SECRET);
    q.body = "{}";
    q.body_len = 2;
    nrecs = 0;
    q.delivery_id = NULL;
    CHECK(wg_webhook_post(fx.http, &q, on_done_cb, NULL, err, sizeof(err)) == NULL);
    q.delivery_id = "";
    CHECK(wg_webhook_post(fx.http, &q, on_done_cb, NULL, err, sizeof(err)) == NULL);
    q.delivery_id = "has space";
    CHECK(wg_webhook_post(fx.http, &q, on_done_cb, NULL, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "delivery id") != NULL);
    memset(long_id, 'a', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    q.delivery_id = long_id;
    CHECK(wg_webhook_post(fx.http, &q, on_done_cb, NULL, err, sizeof(err)) == NULL);
    long_id[WG_WEBHOOK_DELIVERY_MAX] = '\0'; /* exactly the maximum is fine: checked below */
    q.delivery_id = "ok";
    q.secret_len = 0;
    CHECK(wg_webhook_post(fx.http, &q, on_done_cb, NULL, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "secret") != NULL);
    q.secret_len = strlen(SECRET);
    q.url = "ftp://127.0.0.1/x";
    CHECK(wg_webhook_post(fx.http, &q, on_done_cb, NULL, err, sizeof(err)) == NULL);
    fx_spin(50);
    CHECK_INT(nrecs, 0);
    q.url = url;
    q.delivery_id = long_id;
    CHECK(wg_webhook_post(fx.http, &q, on_done_cb, NULL, err, sizeof(err)) != NULL);
    CHECK_INT(fx_run_until(&nrecs, 1, 10000), 0);
    CHECK_INT(recs[0].cls, WG_WEBHOOK_OK);
}

static void test_cancel_and_shutdown(void)
{
    char err[256];
    wg_webhook_call_t *c;
    wg_http_client_options_t ho = {0};
    wg_http_client_t *own;

    fx_reset();
    nrecs = 0;
    c = post(fx.http, "/hook/cancel", "{}", "d", 0);
    CHECK(c != NULL);
    wg_webhook_cancel(c);
    fx_spin(200);
    CHECK_INT(nrecs, 0);

    /* a client freed with a delivery pending completes it: retry later */
    ho.ca_file = fx.ca;
    ho.ca_file_only = 1;
    own = wg_http_client_new(fx.base, fx.dns, &ho, err, sizeof(err));
    fx_script("/hook/slow", "[{\"action\":\"ok\",\"delay_ms\":2000}]");
    CHECK(post(own, "/hook/slow", "{}", "d", 0) != NULL);
    fx_spin(100);
    wg_http_client_free(own);
    CHECK_INT(nrecs, 1);
    CHECK_INT(recs[0].cls, WG_WEBHOOK_RETRY_LATER);
    CHECK_INT(recs[0].http_error, WG_HTTP_ERR_SHUTDOWN);
    fx_spin(50);
}

static void test_retry_after_parser(void)
{
    char date[64];
    time_t t = time(NULL) + 60;
    struct tm tm;
    int64_t ms;
    CHECK_INT(retry_after_ms(NULL, 0), 0);
    CHECK_INT(retry_after_ms("120", 0), 120000);
    CHECK_INT(retry_after_ms(" 5 ", 0), 5000);
    CHECK_INT(retry_after_ms("0", 0), 0);
    CHECK_INT(retry_after_ms("99999999999999999999", 0), WG_WEBHOOK_RETRY_AFTER_MAX_MS);
    CHECK_INT(retry_after_ms("12abc", 0), 0);
    CHECK_INT(retry_after_ms("soon", 0), 0);
    gmtime_r(&t, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    ms = retry_after_ms(date, (int64_t)time(NULL));
    CHECK(ms >= 59000 && ms <= 60000);
    CHECK_INT(retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT", (int64_t)time(NULL)), 0);
}

int main(void)
{
    if (fx_start(NULL) != 0)
        return 1;
    TEST_RUN(test_signed_delivery);
    TEST_RUN(test_timestamp_defaults_to_now);
    TEST_RUN(test_status_classes);
    TEST_RUN(test_transport_classes);
    TEST_RUN(test_requests_refused);
    TEST_RUN(test_cancel_and_shutdown);
    TEST_RUN(test_retry_after_parser);
    CHECK_INT(cb_in_submit, 0);
    CHECK_INT(fx_stop(), 0);
    return TEST_DONE();
}
