/* The WeCom API client's core: corps and their secrets, access tokens (single-flight fetch,
 * refresh once on 40014/42001), the life of a call (quota, token, request, one completion), and
 * the sorting of every outcome into a class with a message that says what to fix. The typed
 * calls (request JSON, reply structs) are in calls.c. */
#include "connectors/wecom/api_internal.h"

#include <ctype.h>
#include <event2/event.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Defaults; PROTOCOL.md §5. */
#define DEFAULT_REFRESH_EARLY_S 300   /* refresh tokens 5 min before they expire */
#define DEFAULT_TOKEN_LIFETIME_S 7200 /* gettoken's documented expires_in, if absent */
#define DEFAULT_RATE_LIMIT_MS 60000   /* 45009: a minute-level block lasts 60 s */
#define DEFAULT_CONCURRENCY_MS 1000   /* 45033 */
#define DEFAULT_BUSY_MS 1000          /* -1: system busy, retry soon (at most 3 times) */
#define DEFAULT_TRANSIENT_MS 5000     /* 5xx, network, malformed replies */
#define MAX_DELAY_MS (24 * 3600 * 1000)

/* WeCom errcodes we act on (PROTOCOL.md §5, §7). */
#define EC_BUSY (-1)
#define EC_BAD_SECRET 40001
#define EC_BAD_CORPID 40013
#define EC_BAD_TOKEN 40014
#define EC_BAD_AGENTID 40056
#define EC_NO_TOKEN 41001
#define EC_NO_SECRET 41004
#define EC_TOKEN_EXPIRED 42001
#define EC_FREQ_LIMIT 45009
#define EC_CONCURRENCY_LIMIT 45033
#define EC_API_FORBIDDEN 48002
#define EC_IP_NOT_TRUSTED 60020
#define EC_ROBOT_KEY 93000

#define URL_MAX 8192
#define ERRMSG_MAX 256
#define MESSAGE_MAX 512

typedef enum token_state {
    TOK_NONE = 0, /* no token: the next call starts a fetch */
    TOK_FETCHING, /* gettoken in flight; calls wait in the secret's queue */
    TOK_VALID,    /* token usable until expires_at */
} token_state_t;

typedef struct secret {
    struct secret *next;
    wg_wecom_corp_t *corp;
    char name[WG_WECOM_NAME_MAX];
    char *value;
    size_t value_len;
    token_state_t state;
    char token[WG_WECOM_TOKEN_MAX + 1];
    int64_t expires_at; /* clock ms after which the token is not used */
    uint64_t gen;       /* bumped at each new token */
    wg_http_request_t *fetch;
    wg_wecom_call_t *wait_head, *wait_tail; /* calls waiting on the fetch */
} secret_t;

struct wg_wecom_corp {
    wg_wecom_corp_t *next;
    wg_wecom_api_t *api;
    char name[WG_WECOM_NAME_MAX];
    char *corp_id;
    char *base_url; /* without a trailing '/' */
    int insecure;
    secret_t *secrets;
    wg_wecom_limiter_t *members; /* message/send per member id */
    wg_wecom_limiter_t *robots;  /* webhook/send per robot key */
};

typedef enum call_state {
    CS_WAIT_TOKEN, /* queued on secret->wait_* */
    CS_SENDING,    /* HTTP request in flight */
    CS_DONE,       /* outcome decided; completion deferred to the next turn of the loop */
} call_state_t;

struct wg_wecom_call {
    wg_wecom_call_t *prev, *next; /* api->calls */
    wg_wecom_call_t *wnext;       /* secret->wait_* */
    wg_wecom_api_t *api;
    wg_wecom_corp_t *corp;
    secret_t *secret; /* NULL: no token (robot) */
    call_state_t state;
    const char *endpoint;
    char *endpoint_copy;
    char *method;
    char *path;
    char *query;
    char *body;
    wg_wecom_deliver_fn deliver;
    void (*cb)(void);
    void *arg;
    uint64_t used_gen;
    int token_retried;
    int attempts;
    wg_http_request_t *http;
    struct event *done_ev;
    /* the decided outcome (CS_DONE) */
    wg_wecom_result_t res;
    char errmsg[ERRMSG_MAX];
    char message[MESSAGE_MAX];
};

struct wg_wecom_api {
    struct event_base *base;
    wg_http_client_t *http;
    wg_wecom_api_options_t o;
    wg_wecom_corp_t *corps;
    wg_wecom_call_t *calls; /* every pending call */
    int closing;
    wg_wecom_api_stats_t stats;
};

/* ---- small helpers -------------------------------------------------------------------------- */

const char *wg_wecom_class_name(wg_wecom_class_t c)
{
    switch (c) {
    case WG_WECOM_OK:
        return "ok";
    case WG_WECOM_RETRY_LATER:
        return "retry_later";
    case WG_WECOM_CONFIG:
        return "config";
    case WG_WECOM_PERMANENT:
        return "permanent";
    case WG_WECOM_PROTOCOL:
        return "protocol";
    }
    return "unknown";
}

static int64_t default_clock(void *arg)
{
    struct timespec ts;
    (void)arg;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t now_ms(const wg_wecom_api_t *api)
{
    return api->o.clock_ms(api->o.clock_arg);
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

int wg__wecom_urlencode(char *out, size_t outlen, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            if (n + 1 >= outlen)
                return -1;
            out[n++] = (char)c;
        } else {
            if (n + 3 >= outlen)
                return -1;
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
    }
    out[n] = '\0';
    return 0;
}

static int append(char *out, size_t outlen, const char *s)
{
    size_t n = strlen(out), m = strlen(s);
    if (n + m >= outlen)
        return -1;
    memcpy(out + n, s, m + 1);
    return 0;
}

const char *wg__wecom_jstr(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

int64_t wg__wecom_jint(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (json_is_integer(v))
        return (int64_t)json_integer_value(v);
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        int64_t n = 0;
        if (*s == '\0' || strlen(s) > 18)
            return 0;
        for (; *s; s++) {
            if (*s < '0' || *s > '9')
                return 0;
            n = n * 10 + (*s - '0');
        }
        return n;
    }
    return 0;
}

/* Replaces every occurrence of needle (a secret or token) in s with "***". */
static void scrub(char *s, const char *needle, size_t nlen)
{
    char *p;
    if (nlen < 4) /* too short to be a credential worth hiding, and would mangle text */
        return;
    while ((p = strstr(s, needle)) != NULL) {
        memmove(p + 3, p + nlen, strlen(p + nlen) + 1);
        memcpy(p, "***", 3);
    }
}

static void scrub_all(const wg_wecom_corp_t *corp, char *s)
{
    for (const secret_t *sec = corp->secrets; sec; sec = sec->next) {
        scrub(s, sec->value, sec->value_len);
        if (sec->state == TOK_VALID)
            scrub(s, sec->token, strlen(sec->token));
    }
}

/* ---- client and corps ----------------------------------------------------------------------- */

static int delay_opt(int v, int def, const char *name, char *err, size_t errlen)
{
    if (v == 0)
        return def;
    if (v < 0 || v > MAX_DELAY_MS) {
        snprintf(err, errlen, "%s must be between 1 and %d ms (got %d)", name, MAX_DELAY_MS, v);
        return -1;
    }
    return v;
}

static int quota_opt(int v, int def, const char *name, char *err, size_t errlen)
{
    if (v == 0)
        return def;
    if (v < -1 || v > WG_WECOM_LIMITER_MAX_LIMIT) {
        snprintf(err, errlen, "%s must be -1 (off) or 1..%d (got %d)", name,
                 WG_WECOM_LIMITER_MAX_LIMIT, v);
        return -2;
    }
    return v;
}

wg_wecom_api_t *wg_wecom_api_new(struct event_base *base, wg_http_client_t *http,
                                 const wg_wecom_api_options_t *opts, char *err, size_t errlen)
{
    static const wg_wecom_api_options_t defaults;
    wg_wecom_api_options_t o = opts ? *opts : defaults;
    wg_wecom_api_t *api;

    if (base == NULL || http == NULL) {
        snprintf(err, errlen, "an event_base and an HTTP client are required");
        return NULL;
    }
    if (o.token_refresh_early_s == 0)
        o.token_refresh_early_s = DEFAULT_REFRESH_EARLY_S;
    if (o.token_refresh_early_s < 0 || o.token_refresh_early_s > 7 * 24 * 3600) {
        snprintf(err, errlen, "token_refresh_early_s out of range (got %d)",
                 o.token_refresh_early_s);
        return NULL;
    }
    if (o.response_timeout_ms < 0 || o.response_timeout_ms > MAX_DELAY_MS) {
        snprintf(err, errlen, "response_timeout_ms out of range (got %d)", o.response_timeout_ms);
        return NULL;
    }
    if ((o.rate_limit_delay_ms = delay_opt(o.rate_limit_delay_ms, DEFAULT_RATE_LIMIT_MS,
                                           "rate_limit_delay_ms", err, errlen)) < 0 ||
        (o.concurrency_delay_ms = delay_opt(o.concurrency_delay_ms, DEFAULT_CONCURRENCY_MS,
                                            "concurrency_delay_ms", err, errlen)) < 0 ||
        (o.busy_delay_ms =
             delay_opt(o.busy_delay_ms, DEFAULT_BUSY_MS, "busy_delay_ms", err, errlen)) < 0 ||
        (o.transient_delay_ms = delay_opt(o.transient_delay_ms, DEFAULT_TRANSIENT_MS,
                                          "transient_delay_ms", err, errlen)) < 0)
        return NULL;
    if ((o.member_per_minute = quota_opt(o.member_per_minute, WG_WECOM_MEMBER_PER_MINUTE,
                                         "member_per_minute", err, errlen)) < -1 ||
        (o.member_per_hour = quota_opt(o.member_per_hour, WG_WECOM_MEMBER_PER_HOUR,
                                       "member_per_hour", err, errlen)) < -1 ||
        (o.robot_per_minute = quota_opt(o.robot_per_minute, WG_WECOM_ROBOT_PER_MINUTE,
                                        "robot_per_minute", err, errlen)) < -1)
        return NULL;
    if (o.quota_minute_ms == 0)
        o.quota_minute_ms = WG_WECOM_MINUTE_MS;
    if (o.quota_hour_ms == 0)
        o.quota_hour_ms = WG_WECOM_HOUR_MS;
    if (o.quota_minute_ms < 1 || o.quota_hour_ms < 1) {
        snprintf(err, errlen, "quota windows must be at least 1 ms");
        return NULL;
    }
    if (o.clock_ms == NULL)
        o.clock_ms = default_clock;

    api = calloc(1, sizeof(*api));
    if (api == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    api->base = base;
    api->http = http;
    api->o = o;
    return api;
}

static void secret_free(secret_t *s)
{
    if (s->value) {
        OPENSSL_cleanse(s->value, s->value_len);
        free(s->value);
    }
    OPENSSL_cleanse(s->token, sizeof(s->token));
    free(s);
}

static void corp_free(wg_wecom_corp_t *corp)
{
    while (corp->secrets) {
        secret_t *s = corp->secrets;
        corp->secrets = s->next;
        if (s->fetch)
            wg_http_request_cancel(s->fetch);
        secret_free(s);
    }
    wg_wecom_limiter_free(corp->members);
    wg_wecom_limiter_free(corp->robots);
    free(corp->corp_id);
    free(corp->base_url);
    free(corp);
}

static int name_ok(const char *s)
{
    size_t n = 0;
    if (s == NULL)
        return 0;
    for (; s[n]; n++)
        if (!(isalnum((unsigned char)s[n]) || s[n] == '_' || s[n] == '-' || s[n] == '.'))
            return 0;
    return n >= 1 && n < WG_WECOM_NAME_MAX;
}

/* Printable ASCII without spaces: what may sit in a URL query once encoded, and in messages. */
static int token_chars_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
            return 0;
    return 1;
}

static wg_wecom_limiter_t *make_limiter(int per_min, int per_hour, const wg_wecom_api_options_t *o,
                                        char *err, size_t errlen, int *oom)
{
    wg_wecom_rate_t rates[2];
    size_t n = 0;
    *oom = 0;
    if (per_min > 0)
        rates[n++] = (wg_wecom_rate_t){(uint32_t)per_min, o->quota_minute_ms};
    if (per_hour > 0)
        rates[n++] = (wg_wecom_rate_t){(uint32_t)per_hour, o->quota_hour_ms};
    if (n == 0)
        return NULL; /* not enforced */
    wg_wecom_limiter_t *l = wg_wecom_limiter_new(rates, n, err, errlen);
    if (l == NULL)
        *oom = 1;
    return l;
}

wg_wecom_corp_t *wg_wecom_corp_add(wg_wecom_api_t *api, const wg_wecom_corp_options_t *opts,
                                   char *err, size_t errlen)
{
    wg_wecom_corp_t *corp;
    const char *base;
    size_t blen;
    int oom;

    if (api == NULL || opts == NULL || !name_ok(opts->name)) {
        snprintf(err, errlen, "a corp needs a name of 1..%d letters, digits, '_', '-' or '.'",
                 WG_WECOM_NAME_MAX - 1);
        return NULL;
    }
    if (wg_wecom_corp_find(api, opts->name)) {
        snprintf(err, errlen, "corp %s is already registered", opts->name);
        return NULL;
    }
    if (opts->corp_id == NULL || opts->corp_id[0] == '\0' || strlen(opts->corp_id) > 128 ||
        !token_chars_ok(opts->corp_id, strlen(opts->corp_id))) {
        snprintf(err, errlen, "corp %s: corp_id is missing or malformed", opts->name);
        return NULL;
    }
    base = opts->base_url ? opts->base_url : WG_WECOM_DEFAULT_BASE_URL;
    blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    if (blen == 0 || blen > 1024 ||
        !(strncmp(base, "https://", 8) == 0 || strncmp(base, "http://", 7) == 0) ||
        !token_chars_ok(base, blen) || memchr(base, '?', blen) || memchr(base, '#', blen)) {
        snprintf(err, errlen, "corp %s: base_url must be an http(s) URL without query", opts->name);
        return NULL;
    }
    corp = calloc(1, sizeof(*corp));
    if (corp == NULL)
        goto oom;
    corp->api = api;
    snprintf(corp->name, sizeof(corp->name), "%s", opts->name);
    corp->insecure = opts->insecure_skip_verify ? 1 : 0;
    corp->corp_id = xstrdup(opts->corp_id);
    corp->base_url = malloc(blen + 1);
    if (corp->corp_id == NULL || corp->base_url == NULL)
        goto oom;
    memcpy(corp->base_url, base, blen);
    corp->base_url[blen] = '\0';
    corp->members =
        make_limiter(api->o.member_per_minute, api->o.member_per_hour, &api->o, err, errlen, &oom);
    if (oom)
        goto fail;
    corp->robots = make_limiter(api->o.robot_per_minute, -1, &api->o, err, errlen, &oom);
    if (oom)
        goto fail;
    corp->next = api->corps;
    api->corps = corp;
    return corp;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    if (corp)
        corp_free(corp);
    return NULL;
}

wg_wecom_corp_t *wg_wecom_corp_find(wg_wecom_api_t *api, const char *name)
{
    if (api == NULL || name == NULL)
        return NULL;
    for (wg_wecom_corp_t *c = api->corps; c; c = c->next)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

const char *wg__wecom_corp_name(const wg_wecom_corp_t *corp)
{
    return corp->name;
}

static secret_t *secret_find(const wg_wecom_corp_t *corp, const char *name)
{
    for (secret_t *s = corp->secrets; s; s = s->next)
        if (strcmp(s->name, name) == 0)
            return s;
    return NULL;
}

int wg__wecom_has_secret(const wg_wecom_corp_t *corp, const char *name)
{
    return name && secret_find(corp, name) != NULL;
}

const char *wg__wecom_contact_secret(const wg_wecom_corp_t *corp)
{
    return secret_find(corp, "contact") ? "contact" : "agent";
}

int wg_wecom_corp_set_secret(wg_wecom_corp_t *corp, const char *name, const char *secret, char *err,
                             size_t errlen)
{
    secret_t *s;
    char *v;
    size_t n;

    if (corp == NULL || !name_ok(name)) {
        snprintf(err, errlen, "a secret needs a name of 1..%d letters, digits, '_', '-' or '.'",
                 WG_WECOM_NAME_MAX - 1);
        return -1;
    }
    n = secret ? strlen(secret) : 0;
    if (n == 0 || n > 512 || !token_chars_ok(secret, n)) {
        snprintf(err, errlen, "corp %s: %s_secret is empty, too long or not printable ASCII",
                 corp->name, name);
        return -1;
    }
    v = malloc(n + 1);
    if (v == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(v, secret, n + 1);
    s = secret_find(corp, name);
    if (s == NULL) {
        s = calloc(1, sizeof(*s));
        if (s == NULL) {
            OPENSSL_cleanse(v, n);
            free(v);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        s->corp = corp;
        snprintf(s->name, sizeof(s->name), "%s", name);
        s->next = corp->secrets;
        corp->secrets = s;
    } else {
        OPENSSL_cleanse(s->value, s->value_len);
        free(s->value);
        /* A fetch in flight with the old secret still completes and wakes its waiters; only a
         * cached token is dropped. */
        if (s->state == TOK_VALID)
            s->state = TOK_NONE;
    }
    s->value = v;
    s->value_len = n;
    return 0;
}

void wg_wecom_corp_drop_token(wg_wecom_corp_t *corp, const char *name)
{
    secret_t *s = corp && name ? secret_find(corp, name) : NULL;
    if (s && s->state == TOK_VALID) {
        s->state = TOK_NONE;
        OPENSSL_cleanse(s->token, sizeof(s->token));
    }
}

int wg__wecom_split_users(const char *touser, char *buf, size_t buflen, const char **ids)
{
    int n = 0;
    char *p;
    if (strlen(touser) >= buflen)
        return -1;
    memcpy(buf, touser, strlen(touser) + 1);
    p = buf;
    for (;;) {
        char *bar = strchr(p, '|');
        if (bar)
            *bar = '\0';
        if (*p == '\0' || n == WG_WECOM_MESSAGE_MAX_USERS)
            return -1;
        ids[n++] = p;
        if (!bar)
            break;
        p = bar + 1;
    }
    return n;
}

int64_t wg_wecom_member_wait_ms(wg_wecom_corp_t *corp, const char *touser)
{
    const char **ids;
    char *buf;
    int64_t now, wait = 0;
    int n;

    if (corp == NULL || touser == NULL || corp->members == NULL)
        return 0;
    buf = malloc(WG__WECOM_TOUSER_MAX);
    ids = malloc(WG_WECOM_MESSAGE_MAX_USERS * sizeof(*ids));
    if (buf == NULL || ids == NULL) {
        free(buf);
        free(ids);
        return 0;
    }
    now = now_ms(corp->api);
    n = wg__wecom_split_users(touser, buf, WG__WECOM_TOUSER_MAX, ids);
    for (int i = 0; i < n; i++) {
        int64_t w = wg_wecom_limiter_next(corp->members, ids[i], now) - now;
        if (w > wait)
            wait = w;
    }
    free(buf);
    free(ids);
    return wait;
}

int64_t wg_wecom_robot_wait_ms(wg_wecom_corp_t *corp, const char *key)
{
    int64_t now;
    if (corp == NULL || key == NULL || corp->robots == NULL)
        return 0;
    now = now_ms(corp->api);
    return wg_wecom_limiter_next(corp->robots, key, now) - now;
}

void wg_wecom_api_get_stats(const wg_wecom_api_t *api, wg_wecom_api_stats_t *out)
{
    *out = api->stats;
    out->pending = 0;
    for (const wg_wecom_call_t *c = api->calls; c; c = c->next)
        out->pending++;
}

/* ---- the life of a call ----------------------------------------------------------------- */

static void call_unlink(wg_wecom_call_t *call)
{
    wg_wecom_api_t *api = call->api;
    if (call->prev)
        call->prev->next = call->next;
    else
        api->calls = call->next;
    if (call->next)
        call->next->prev = call->prev;
    call->prev = call->next = NULL;
}

static void waitq_remove(secret_t *s, wg_wecom_call_t *call)
{
    wg_wecom_call_t **pp = &s->wait_head, *prev = NULL;
    while (*pp && *pp != call) {
        prev = *pp;
        pp = &(*pp)->wnext;
    }
    if (*pp == NULL)
        return;
    *pp = call->wnext;
    if (s->wait_tail == call)
        s->wait_tail = prev;
    call->wnext = NULL;
}

static void call_free(wg_wecom_call_t *call)
{
    if (call->done_ev)
        event_free(call->done_ev);
    free(call->endpoint_copy);
    free(call->method);
    free(call->path);
    free(call->query);
    free(call->body);
    free(call);
}

/* Runs the caller's callback with the call's outcome and frees the call. The call must no
 * longer be in any queue or in flight. */
static void finish(wg_wecom_call_t *call, json_t *root, const char *body, size_t body_len)
{
    wg_wecom_api_t *api = call->api;
    wg_wecom_result_t *r = &call->res;

    r->endpoint = r->endpoint ? r->endpoint : call->endpoint;
    r->errmsg = call->errmsg;
    r->message = call->message;
    r->attempts = call->attempts;
    switch (r->cls) {
    case WG_WECOM_OK:
        api->stats.ok++;
        break;
    case WG_WECOM_RETRY_LATER:
        api->stats.retry_later++;
        break;
    case WG_WECOM_CONFIG:
        api->stats.config++;
        break;
    case WG_WECOM_PERMANENT:
        api->stats.permanent++;
        break;
    case WG_WECOM_PROTOCOL:
        api->stats.protocol++;
        break;
    }
    if (r->throttled)
        api->stats.throttled++;
    call_unlink(call);
    call->deliver(call->cb, call->arg, r, root, body, body_len);
    call_free(call); /* nothing of api is touched after the callback: it may have freed it */
}

static void on_done_ev(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    finish(arg, NULL, NULL, 0);
}

/* Records the outcome and completes the call on the next turn of the loop (never inside the
 * submitting function, nor while iterating a queue). */
static void finish_later(wg_wecom_call_t *call)
{
    static const struct timeval zero = {0, 0};
    call->state = CS_DONE;
    if (call->done_ev == NULL)
        call->done_ev = evtimer_new(call->api->base, on_done_ev, call);
    if (call->done_ev == NULL || evtimer_add(call->done_ev, &zero) != 0) {
        /* Cannot schedule: leave it pending; wg_wecom_api_free() completes it. Out of memory
         * in libevent is not something we can do better about here. */
        return;
    }
}

/* Fills the outcome fields of call->res (and the message with printf format). */
static void set_outcome(wg_wecom_call_t *call, wg_wecom_class_t cls, int64_t delay_ms,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void set_outcome(wg_wecom_call_t *call, wg_wecom_class_t cls, int64_t delay_ms,
                        const char *fmt, ...)
{
    va_list ap;
    call->res.cls = cls;
    call->res.retry_after_ms = (cls == WG_WECOM_RETRY_LATER || cls == WG_WECOM_PROTOCOL)
                                   ? (delay_ms > 0 ? delay_ms : 1)
                                   : 0;
    if (fmt) {
        va_start(ap, fmt);
        vsnprintf(call->message, sizeof(call->message), fmt, ap);
        va_end(ap);
    } else {
        call->message[0] = '\0';
    }
    scrub_all(call->corp, call->message);
}

static void set_errmsg(wg_wecom_call_t *call, const char *m)
{
    snprintf(call->errmsg, sizeof(call->errmsg), "%s", m ? m : "");
    scrub_all(call->corp, call->errmsg);
}

/* The outcome of a transport failure (no HTTP response). */
static void classify_transport(wg_wecom_call_t *call, const char *what, wg_http_error_t e,
                               const char *err)
{
    wg_wecom_api_t *api = call->api;
    call->res.http_error = e;
    switch (e) {
    case WG_HTTP_ERR_TLS_VERIFY:
        set_outcome(call, WG_WECOM_CONFIG, 0,
                    "corp %s: %s: %s: check base_url and the CA the HTTP client trusts",
                    call->corp->name, what, err ? err : "certificate did not verify");
        break;
    case WG_HTTP_ERR_TOO_LARGE:
        set_outcome(call, WG_WECOM_PROTOCOL, api->o.transient_delay_ms, "corp %s: %s: %s",
                    call->corp->name, what, err ? err : "response too large");
        break;
    case WG_HTTP_ERR_SHUTDOWN:
        set_outcome(call, WG_WECOM_RETRY_LATER, api->o.transient_delay_ms,
                    "corp %s: %s: the HTTP client shut down", call->corp->name, what);
        break;
    default:
        set_outcome(call, WG_WECOM_RETRY_LATER, api->o.transient_delay_ms, "corp %s: %s: %s (%s)",
                    call->corp->name, what, err ? err : "request failed", wg_http_error_name(e));
        break;
    }
}

/* Parses a response into *root. Returns 0 when the body is an object with an integer errcode
 * (errcode/errmsg recorded in call), else sets the outcome and returns -1. */
static int parse_reply(wg_wecom_call_t *call, const char *what, const wg_http_response_t *resp,
                       json_t **root)
{
    wg_wecom_api_t *api = call->api;
    json_error_t jerr;
    json_t *ec;

    *root = NULL;
    call->res.http_status = resp->status;
    if (resp->status != 200) {
        /* WeCom answers 200 even for errors: anything else is its front end or a proxy. */
        set_outcome(call, WG_WECOM_RETRY_LATER, api->o.transient_delay_ms,
                    "corp %s: %s: HTTP %d %s", call->corp->name, what, resp->status, resp->reason);
        return -1;
    }
    *root = json_loadb((const char *)resp->body, resp->body_len, 0, &jerr);
    if (*root == NULL) {
        /* Not JSON at all: a proxy's error page or a cut body. WeCom itself always answers JSON,
         * so this is transient by nature. */
        set_outcome(call, WG_WECOM_RETRY_LATER, api->o.transient_delay_ms,
                    "corp %s: %s: reply is not JSON (%s at byte %d)", call->corp->name, what,
                    jerr.text, jerr.position);
        return -1;
    }
    if (!json_is_object(*root)) {
        set_outcome(call, WG_WECOM_PROTOCOL, api->o.transient_delay_ms,
                    "corp %s: %s: reply is JSON but not an object", call->corp->name, what);
        return -1;
    }
    ec = json_object_get(*root, "errcode");
    set_errmsg(call, json_string_value(json_object_get(*root, "errmsg")));
    if (!json_is_integer(ec)) {
        set_outcome(call, WG_WECOM_PROTOCOL, api->o.transient_delay_ms,
                    "corp %s: %s: reply has no integer errcode: is base_url WeCom's API?",
                    call->corp->name, what);
        return -1;
    }
    call->res.has_errcode = 1;
    call->res.errcode = (long)json_integer_value(ec);
    return 0;
}

/* Sorts a non-zero errcode into a class and message. */
static void classify_errcode(wg_wecom_call_t *call, const char *what)
{
    wg_wecom_api_t *api = call->api;
    const char *corp = call->corp->name;
    const char *sec = call->secret ? call->secret->name : "agent";
    long ec = call->res.errcode;

    switch (ec) {
    case EC_FREQ_LIMIT:
        set_outcome(call, WG_WECOM_RETRY_LATER, api->o.rate_limit_delay_ms,
                    "corp %s: %s: frequency limit (45009 %s): retry in %d s", corp, what,
                    call->errmsg, api->o.rate_limit_delay_ms / 1000);
        break;
    case EC_CONCURRENCY_LIMIT:
        set_outcome(call, WG_WECOM_RETRY_LATER, api->o.concurrency_delay_ms,
                    "corp %s: %s: concurrency limit (45033 %s)", corp, what, call->errmsg);
        break;
    case EC_BUSY:
        set_outcome(call, WG_WECOM_RETRY_LATER, api->o.busy_delay_ms,
                    "corp %s: %s: WeCom busy (-1 %s)", corp, what, call->errmsg);
        break;
    case EC_BAD_TOKEN:
    case EC_TOKEN_EXPIRED:
        set_outcome(call, WG_WECOM_RETRY_LATER, api->o.transient_delay_ms,
                    "corp %s: %s: access token for secret '%s' rejected again after a refresh "
                    "(%ld %s)",
                    corp, what, sec, ec, call->errmsg);
        break;
    case EC_BAD_SECRET:
        set_outcome(call, WG_WECOM_CONFIG, 0,
                    "corp %s: secret '%s' rejected (40001): check %s_secret", corp, sec, sec);
        break;
    case EC_BAD_CORPID:
        set_outcome(call, WG_WECOM_CONFIG, 0, "corp %s: corp id rejected (40013): check corp_id",
                    corp);
        break;
    case EC_NO_TOKEN:
        set_outcome(call, WG_WECOM_CONFIG, 0,
                    "corp %s: %s: access token missing (41001): a proxy may strip the query "
                    "string (or a wegate bug)",
                    corp, what);
        break;
    case EC_NO_SECRET:
        set_outcome(call, WG_WECOM_CONFIG, 0, "corp %s: secret '%s' missing (41004): set %s_secret",
                    corp, sec, sec);
        break;
    case EC_BAD_AGENTID:
        set_outcome(call, WG_WECOM_CONFIG, 0,
                    "corp %s: %s: agent id rejected (40056): check agent_id", corp, what);
        break;
    case EC_API_FORBIDDEN:
        set_outcome(call, WG_WECOM_CONFIG, 0,
                    "corp %s: %s: API forbidden for the app of secret '%s' (48002): grant it in "
                    "the admin console (customer APIs: 客户联系 → 可调用接口的应用)",
                    corp, what, sec);
        break;
    case EC_IP_NOT_TRUSTED:
        set_outcome(call, WG_WECOM_CONFIG, 0,
                    "corp %s: %s: this server's IP is not among the app's trusted IPs (60020): "
                    "add it under 企业可信IP in the app's settings",
                    corp, what);
        break;
    case EC_ROBOT_KEY:
        set_outcome(call, WG_WECOM_CONFIG, 0,
                    "corp %s: %s: robot key rejected (93000): check the robot's key", corp, what);
        break;
    default:
        set_outcome(call, WG_WECOM_PERMANENT, 0, "corp %s: %s: errcode %ld: %s", corp, what, ec,
                    call->errmsg[0] ? call->errmsg : "(no errmsg)");
        break;
    }
}

static void acquire(wg_wecom_call_t *call);
static void on_fetch_done(void *arg, const wg_http_response_t *resp, wg_http_error_t error,
                          const char *err);

/* Sends call's request (with the current token when it needs one). On a synchronous failure
 * the call completes on the next turn. */
static void send_call(wg_wecom_call_t *call);

static void on_call_done(void *arg, const wg_http_response_t *resp, wg_http_error_t error,
                         const char *err)
{
    wg_wecom_call_t *call = arg;
    json_t *root = NULL;

    call->http = NULL;
    if (resp == NULL) {
        classify_transport(call, call->endpoint, error, err);
        finish(call, NULL, NULL, 0);
        return;
    }
    if (parse_reply(call, call->endpoint, resp, &root) != 0) {
        finish(call, root, (const char *)resp->body, resp->body_len);
        json_decref(root);
        return;
    }
    if ((call->res.errcode == EC_BAD_TOKEN || call->res.errcode == EC_TOKEN_EXPIRED) &&
        call->secret && !call->token_retried) {
        secret_t *s = call->secret;
        /* Drop the token only if it is still the one this call used: when many calls hold the
         * same stale token, the first drops it and the rest wait for (or use) the new one. */
        if (s->state == TOK_VALID && s->gen == call->used_gen) {
            s->state = TOK_NONE;
            call->api->stats.token_refreshes++;
        }
        call->token_retried = 1;
        json_decref(root);
        memset(&call->res, 0, sizeof(call->res));
        call->errmsg[0] = '\0';
        acquire(call);
        return;
    }
    if (call->res.errcode == 0)
        set_outcome(call, WG_WECOM_OK, 0, NULL);
    else
        classify_errcode(call, call->endpoint);
    finish(call, root, (const char *)resp->body, resp->body_len);
    json_decref(root);
}

static void send_call(wg_wecom_call_t *call)
{
    wg_wecom_api_t *api = call->api;
    wg_wecom_corp_t *corp = call->corp;
    char url[URL_MAX];
    char err[256];
    int bad = 0;
    wg_http_header_t hdr = {"Content-Type", "application/json; charset=utf-8"};
    wg_http_request_options_t ro = {0};

    snprintf(url, sizeof(url), "%s%s", corp->base_url, call->path);
    if (call->secret) {
        bad |= append(url, sizeof(url), "?access_token=");
        bad |= wg__wecom_urlencode(url, sizeof(url), call->secret->token);
        call->used_gen = call->secret->gen;
    }
    if (call->query && call->query[0]) {
        bad |= append(url, sizeof(url), call->secret ? "&" : "?");
        bad |= append(url, sizeof(url), call->query);
    }
    if (bad) {
        OPENSSL_cleanse(url, sizeof(url));
        set_outcome(call, WG_WECOM_PERMANENT, 0, "corp %s: %s: request URL too long", corp->name,
                    call->endpoint);
        finish_later(call);
        return;
    }
    ro.method = call->method;
    ro.url = url;
    if (call->body) {
        ro.body = call->body;
        ro.body_len = strlen(call->body);
        ro.headers = &hdr;
        ro.nheaders = 1;
    }
    ro.insecure_skip_verify = corp->insecure;
    ro.response_timeout_ms = api->o.response_timeout_ms;
    call->state = CS_SENDING;
    call->attempts++;
    api->stats.requests++;
    call->http = wg_http_send(api->http, &ro, on_call_done, call, err, sizeof(err));
    OPENSSL_cleanse(url, sizeof(url));
    if (call->http == NULL) {
        call->res.http_error = WG_HTTP_ERR_INTERNAL;
        set_outcome(call, WG_WECOM_RETRY_LATER, api->o.transient_delay_ms,
                    "corp %s: %s: cannot send: %s", corp->name, call->endpoint, err);
        finish_later(call);
    }
}

static void start_fetch(secret_t *s)
{
    wg_wecom_corp_t *corp = s->corp;
    wg_wecom_api_t *api = corp->api;
    char url[URL_MAX];
    char err[256];
    int bad = 0;
    wg_http_request_options_t ro = {0};

    snprintf(url, sizeof(url), "%s/cgi-bin/gettoken?corpid=", corp->base_url);
    bad |= wg__wecom_urlencode(url, sizeof(url), corp->corp_id);
    bad |= append(url, sizeof(url), "&corpsecret=");
    bad |= wg__wecom_urlencode(url, sizeof(url), s->value);
    ro.method = "GET";
    ro.url = url;
    ro.insecure_skip_verify = corp->insecure;
    ro.response_timeout_ms = api->o.response_timeout_ms;
    s->state = TOK_FETCHING;
    s->fetch = bad ? NULL : wg_http_send(api->http, &ro, on_fetch_done, s, err, sizeof(err));
    OPENSSL_cleanse(url, sizeof(url));
    if (s->fetch != NULL) {
        api->stats.token_fetches++;
        return;
    }
    /* Could not even send: every waiter fails now (on the next turn). */
    s->state = TOK_NONE;
    while (s->wait_head) {
        wg_wecom_call_t *c = s->wait_head;
        s->wait_head = c->wnext;
        c->wnext = NULL;
        c->res.endpoint = "gettoken";
        c->res.http_error = WG_HTTP_ERR_INTERNAL;
        set_outcome(c, WG_WECOM_RETRY_LATER, api->o.transient_delay_ms,
                    "corp %s: gettoken for secret '%s': cannot send: %s", corp->name, s->name,
                    bad ? "URL too long" : err);
        finish_later(c);
    }
    s->wait_tail = NULL;
}

/* Gives call a token: at once if a valid one is cached, else queues it on the (single) fetch. */
static void acquire(wg_wecom_call_t *call)
{
    secret_t *s = call->secret;

    if (s == NULL) {
        send_call(call);
        return;
    }
    if (s->state == TOK_VALID && now_ms(call->api) >= s->expires_at)
        s->state = TOK_NONE;
    if (s->state == TOK_VALID) {
        send_call(call);
        return;
    }
    call->state = CS_WAIT_TOKEN;
    call->wnext = NULL;
    if (s->wait_tail)
        s->wait_tail->wnext = call;
    else
        s->wait_head = call;
    s->wait_tail = call;
    if (s->state == TOK_NONE)
        start_fetch(s);
}

/* The outcome of a gettoken reply, into a scratch call (so the same classifier and messages
 * serve); returns 0 and installs the token on success. */
static int fetch_outcome(secret_t *s, const wg_http_response_t *resp, wg_http_error_t error,
                         const char *err, wg_wecom_call_t *tmp)
{
    wg_wecom_api_t *api = s->corp->api;
    json_t *root = NULL;
    const char *tok;
    size_t toklen;
    json_t *exp;
    int64_t lifetime_s, early_s;

    if (resp == NULL) {
        classify_transport(tmp, "gettoken", error, err);
        return -1;
    }
    if (parse_reply(tmp, "gettoken", resp, &root) != 0) {
        json_decref(root);
        return -1;
    }
    if (tmp->res.errcode != 0) {
        classify_errcode(tmp, "gettoken");
        json_decref(root);
        return -1;
    }
    tok = json_string_value(json_object_get(root, "access_token"));
    toklen = tok ? strlen(tok) : 0;
    if (toklen == 0 || toklen > WG_WECOM_TOKEN_MAX || !token_chars_ok(tok, toklen)) {
        set_outcome(tmp, WG_WECOM_PROTOCOL, api->o.transient_delay_ms,
                    "corp %s: gettoken for secret '%s': reply has no usable access_token (%zu "
                    "bytes; at most %d printable)",
                    s->corp->name, s->name, toklen, WG_WECOM_TOKEN_MAX);
        json_decref(root);
        return -1;
    }
    exp = json_object_get(root, "expires_in");
    lifetime_s = json_is_integer(exp) ? (int64_t)json_integer_value(exp) : DEFAULT_TOKEN_LIFETIME_S;
    if (lifetime_s < 1 || lifetime_s > 30 * 24 * 3600) {
        set_outcome(tmp, WG_WECOM_PROTOCOL, api->o.transient_delay_ms,
                    "corp %s: gettoken for secret '%s': expires_in %" PRId64 " out of range",
                    s->corp->name, s->name, lifetime_s);
        json_decref(root);
        return -1;
    }
    early_s = api->o.token_refresh_early_s;
    if (early_s > lifetime_s / 2)
        early_s = lifetime_s / 2;
    memcpy(s->token, tok, toklen + 1);
    OPENSSL_cleanse((char *)tok, toklen); /* our copy only: jansson's is freed below */
    json_decref(root);
    s->expires_at = now_ms(api) + (lifetime_s - early_s) * 1000;
    s->gen++;
    s->state = TOK_VALID;
    return 0;
}

static void on_fetch_done(void *arg, const wg_http_response_t *resp, wg_http_error_t error,
                          const char *err)
{
    secret_t *s = arg;
    wg_wecom_api_t *api = s->corp->api;
    wg_wecom_call_t *tmp;
    wg_wecom_call_t *head;

    s->fetch = NULL;
    tmp = calloc(1, sizeof(*tmp));
    if (tmp == NULL) {
        s->state = TOK_NONE;
    } else {
        tmp->api = api;
        tmp->corp = s->corp;
        tmp->secret = s;
        if (fetch_outcome(s, resp, error, err, tmp) != 0)
            s->state = TOK_NONE;
    }
    /* Wake the waiters. None of this runs a caller's callback (failures are finished on the
     * next turn), so the queue cannot change under us. */
    head = s->wait_head;
    s->wait_head = s->wait_tail = NULL;
    while (head) {
        wg_wecom_call_t *c = head;
        head = c->wnext;
        c->wnext = NULL;
        if (s->state == TOK_VALID) {
            send_call(c);
            continue;
        }
        c->res = tmp ? tmp->res : (wg_wecom_result_t){0};
        c->res.endpoint = "gettoken";
        if (tmp) {
            memcpy(c->errmsg, tmp->errmsg, sizeof(c->errmsg));
            memcpy(c->message, tmp->message, sizeof(c->message));
        } else {
            set_outcome(c, WG_WECOM_RETRY_LATER, api->o.transient_delay_ms,
                        "corp %s: gettoken: out of memory", s->corp->name);
        }
        finish_later(c);
    }
    free(tmp);
}

wg_wecom_call_t *wg__wecom_submit(wg_wecom_corp_t *corp, wg_wecom_spec_t *spec, char *err,
                                  size_t errlen)
{
    wg_wecom_api_t *api;
    wg_wecom_call_t *call;
    secret_t *sec = NULL;
    wg_wecom_limiter_t *lim = NULL;
    int64_t now, next = 0;
    int taken = 1;

    if (corp == NULL || spec == NULL || spec->cb == NULL) {
        snprintf(err, errlen, "a corp, a request and a callback are required");
        return NULL;
    }
    api = corp->api;
    if (api->closing) {
        snprintf(err, errlen, "the WeCom API client is shutting down");
        return NULL;
    }
    if (spec->secret) {
        sec = secret_find(corp, spec->secret);
        if (sec == NULL) {
            snprintf(err, errlen, "corp %s has no secret '%s' (set %s_secret)", corp->name,
                     spec->secret, spec->secret);
            return NULL;
        }
    }
    call = calloc(1, sizeof(*call));
    if (call == NULL)
        goto oom;
    call->api = api;
    call->corp = corp;
    call->secret = sec;
    call->deliver = spec->deliver;
    call->cb = spec->cb;
    call->arg = spec->arg;
    call->method = xstrdup(spec->method);
    call->path = xstrdup(spec->path);
    call->query = spec->query ? xstrdup(spec->query) : NULL;
    if (call->method == NULL || call->path == NULL || (spec->query && call->query == NULL))
        goto oom;
    if (spec->raw_endpoint) {
        call->endpoint_copy = xstrdup(spec->endpoint);
        if (call->endpoint_copy == NULL)
            goto oom;
        call->endpoint = call->endpoint_copy;
    } else {
        call->endpoint = spec->endpoint;
    }

    /* Quota last: a slot is taken only for a call that will go ahead. */
    if (spec->quota == WG_WECOM_QUOTA_MEMBERS)
        lim = corp->members;
    else if (spec->quota == WG_WECOM_QUOTA_ROBOT)
        lim = corp->robots;
    now = now_ms(api);
    if (lim) {
        taken = wg_wecom_limiter_take_all(lim, spec->quota_keys, spec->n_quota_keys, now, &next);
        if (taken < 0)
            goto oom;
    }
    call->body = spec->body; /* stolen from here on */
    spec->body = NULL;
    call->next = api->calls;
    if (api->calls)
        api->calls->prev = call;
    api->calls = call;
    if (!taken) {
        call->res.throttled = 1;
        set_outcome(call, WG_WECOM_RETRY_LATER, next - now,
                    "corp %s: %s: held by wegate's quota (%s) for %" PRId64 " ms", corp->name,
                    call->endpoint,
                    spec->quota == WG_WECOM_QUOTA_ROBOT ? "robot messages a minute"
                                                        : "messages to one member",
                    next - now);
        finish_later(call);
        return call;
    }
    acquire(call);
    return call;
oom:
    if (call) {
        call->body = NULL;
        call_free(call);
    }
    snprintf(err, errlen, "out of memory");
    return NULL;
}

void wg_wecom_call_cancel(wg_wecom_call_t *call)
{
    if (call == NULL)
        return;
    switch (call->state) {
    case CS_WAIT_TOKEN:
        waitq_remove(call->secret, call);
        break;
    case CS_SENDING:
        if (call->http)
            wg_http_request_cancel(call->http);
        call->http = NULL;
        break;
    case CS_DONE:
        break;
    }
    call_unlink(call);
    call_free(call);
}

void wg_wecom_api_free(wg_wecom_api_t *api)
{
    if (api == NULL || api->closing) /* closing: called again from a callback it runs */
        return;
    api->closing = 1;
    /* Token fetches first, so that no waiter is woken behind our back. */
    for (wg_wecom_corp_t *corp = api->corps; corp; corp = corp->next)
        for (secret_t *s = corp->secrets; s; s = s->next) {
            if (s->fetch)
                wg_http_request_cancel(s->fetch);
            s->fetch = NULL;
            s->wait_head = s->wait_tail = NULL;
        }
    /* Then each pending call: a callback may cancel others, so always take the head. */
    while (api->calls) {
        wg_wecom_call_t *call = api->calls;
        if (call->state == CS_SENDING && call->http)
            wg_http_request_cancel(call->http);
        call->http = NULL;
        if (call->done_ev)
            event_del(call->done_ev);
        if (call->state != CS_DONE) {
            memset(&call->res, 0, sizeof(call->res));
            call->errmsg[0] = '\0';
            call->res.http_error = WG_HTTP_ERR_SHUTDOWN;
            set_outcome(call, WG_WECOM_RETRY_LATER, api->o.transient_delay_ms,
                        "corp %s: %s: the WeCom API client shut down", call->corp->name,
                        call->endpoint);
        }
        call->wnext = NULL;
        finish(call, NULL, NULL, 0);
    }
    while (api->corps) {
        wg_wecom_corp_t *corp = api->corps;
        api->corps = corp->next;
        corp_free(corp);
    }
    free(api);
}
