/* Shared by the WeCom API and webhook tests: a throwaway CA, fake_wecom started on loopback (TLS
 * port for the code under test, plain HTTP port for its /_fake/ control endpoints), an event
 * loop with a resolver, and helpers to drive the fake and read its request log. Header-only. */
#ifndef WG_TEST_FAKECTL_H
#define WG_TEST_FAKECTL_H

#include <event2/dns.h>
#include <event2/event.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/http/client.h"
#include "fake_proc.h"

typedef struct fx {
    struct event_base *base;
    struct evdns_base *dns;
    wg_http_client_t *ctl;  /* control requests, plain HTTP */
    wg_http_client_t *http; /* the client under test: TLS trusting only the test CA */
    fake_proc_t fp;
    char cadir[256];
    char ca[320];
    char base_url[64]; /* https://127.0.0.1:PORT */
    char ctl_url[64];  /* http://127.0.0.1:PORT */
} fx_t;

static fx_t fx;

/* Runs the loop until *counter reaches want or timeout_ms passes; 0 or -1 on timeout. */
static void fx_on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    *(int *)arg = 1;
}

static inline int fx_run_until(const int *counter, int want, int timeout_ms)
{
    int expired = 0;
    struct event *t = evtimer_new(fx.base, fx_on_deadline, &expired);
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evtimer_add(t, &tv);
    while (*counter < want && !expired)
        event_base_loop(fx.base, EVLOOP_ONCE);
    event_free(t);
    return *counter >= want ? 0 : -1;
}

/* Lets the loop turn n times without blocking for long (for "nothing more happens" checks). */
static inline void fx_spin(int ms)
{
    int dummy = 0;
    fx_run_until(&dummy, 1, ms);
}

typedef struct fx_reply {
    int done;
    int status;
    json_t *json;
} fx_reply_t;

static void fx_on_ctl(void *arg, const wg_http_response_t *resp, wg_http_error_t error,
                      const char *err)
{
    fx_reply_t *r = arg;
    (void)error, (void)err;
    r->done = 1;
    if (resp) {
        r->status = resp->status;
        r->json = json_loadb((const char *)resp->body, resp->body_len, 0, NULL);
    }
}

/* A control request; the parsed JSON reply (new reference) or NULL. */
static inline json_t *fx_ctl(const char *method, const char *path, const char *body)
{
    char url[256], err[256];
    fx_reply_t r = {0};
    wg_http_request_options_t o = {0};
    snprintf(url, sizeof(url), "%s%s", fx.ctl_url, path);
    o.method = method;
    o.url = url;
    o.body = body;
    o.body_len = body ? strlen(body) : 0;
    if (wg_http_send(fx.ctl, &o, fx_on_ctl, &r, err, sizeof(err)) == NULL) {
        fprintf(stderr, "fx_ctl %s: %s\n", path, err);
        return NULL;
    }
    fx_run_until(&r.done, 1, 10000);
    return r.json;
}

static inline void fx_reset(void)
{
    json_decref(fx_ctl("POST", "/_fake/reset", "{}"));
}

/* Queues scripted answers: fx_script("/cgi-bin/message/send", "[{\"action\":\"reset\"}]"). */
static inline void fx_script(const char *path, const char *actions)
{
    char body[2048];
    snprintf(body, sizeof(body), "{\"path\":\"%s\",\"actions\":%s}", path, actions);
    json_decref(fx_ctl("POST", "/_fake/script", body));
}

/* Queues one canned 200 answer with body (any bytes) for the next request to path. */
static inline void fx_script_body(const char *path, int status, const char *body)
{
    json_t *j = json_pack("{s:s,s:[{s:s,s:i,s:s}]}", "path", path, "actions", "action", "status",
                          "status", status, "body", body);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(fx_ctl("POST", "/_fake/script", s));
    free(s);
    json_decref(j);
}

/* The request log (new reference). */
static inline json_t *fx_requests(void)
{
    return fx_ctl("GET", "/_fake/requests", NULL);
}

/* How many logged requests went to path. */
static inline int fx_count(const char *path)
{
    json_t *log = fx_requests();
    size_t i;
    json_t *e;
    int n = 0;
    json_array_foreach(log, i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "path")), path) == 0)
            n++;
    }
    json_decref(log);
    return n;
}

/* The i-th logged request to path (new reference), or NULL. */
static inline json_t *fx_request(const char *path, int nth)
{
    json_t *log = fx_requests(), *e, *found = NULL;
    size_t i;
    json_array_foreach(log, i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "path")), path) == 0 && nth-- == 0) {
            found = json_incref(e);
            break;
        }
    }
    json_decref(log);
    return found;
}

/* A header of a logged request (names are lower-cased in the log), borrowed from e. */
static inline const char *fx_header(json_t *e, const char *name)
{
    return json_string_value(json_object_get(json_object_get(e, "headers"), name));
}

/* Makes the CA, starts the fake with extra arguments (NULL-terminated) and both clients. */
static inline int fx_start(const char *const *extra)
{
    char cert[340], key[340], err[256];
    char *argv[32];
    int n = 0;
    wg_http_client_options_t ho = {0};

    /* A peer's reset makes OpenSSL's write() raise SIGPIPE: the application ignores it (as the
     * gateway does); so do the tests. */
    signal(SIGPIPE, SIG_IGN);
    if (test_ca_make(MAKE_TEST_CA, fx.cadir, sizeof(fx.cadir)) != 0) {
        fprintf(stderr, "cannot make the test CA\n");
        return -1;
    }
    snprintf(fx.ca, sizeof(fx.ca), "%s/ca.pem", fx.cadir);
    snprintf(cert, sizeof(cert), "%s/server.pem", fx.cadir);
    snprintf(key, sizeof(key), "%s/server.key", fx.cadir);
    argv[n++] = (char *)FAKE_WECOM_BIN;
    argv[n++] = (char *)"--port";
    argv[n++] = (char *)"0";
    argv[n++] = (char *)"--http-port";
    argv[n++] = (char *)"0";
    argv[n++] = (char *)"--tls-cert";
    argv[n++] = cert;
    argv[n++] = (char *)"--tls-key";
    argv[n++] = key;
    for (; extra && *extra && n < 30; extra++)
        argv[n++] = (char *)*extra;
    argv[n] = NULL;
    if (fake_proc_start(&fx.fp, argv) != 0) {
        fprintf(stderr, "cannot start %s\n", FAKE_WECOM_BIN);
        return -1;
    }
    snprintf(fx.base_url, sizeof(fx.base_url), "https://127.0.0.1:%d", fx.fp.port);
    snprintf(fx.ctl_url, sizeof(fx.ctl_url), "http://127.0.0.1:%d", fx.fp.http_port);
    fx.base = event_base_new();
    fx.dns = evdns_base_new(fx.base, 0);
    fx.ctl = wg_http_client_new(fx.base, fx.dns, NULL, err, sizeof(err));
    ho.ca_file = fx.ca;
    ho.ca_file_only = 1;
    fx.http = wg_http_client_new(fx.base, fx.dns, &ho, err, sizeof(err));
    if (fx.ctl == NULL || fx.http == NULL) {
        fprintf(stderr, "HTTP client: %s\n", err);
        return -1;
    }
    return 0;
}

/* Stops everything; the fake's exit status (0: clean, no leak under ASan). */
static inline int fx_stop(void)
{
    int rc;
    wg_http_client_free(fx.http);
    wg_http_client_free(fx.ctl);
    fx_spin(10); /* let libevent close what the clients left */
    evdns_base_free(fx.dns, 0);
    event_base_free(fx.base);
    rc = fake_proc_stop(&fx.fp);
    test_ca_remove(fx.cadir);
    return rc;
}

#endif
