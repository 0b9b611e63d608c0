/* The WeCom API client against fake_wecom over TLS on loopback: token caching and single-flight
 * fetch, refresh on 42001/40014 (once), configuration faults (40001, 60020, TLS verification)
 * without loops, rate limits and transport failures with their classes and delays, each typed
 * call's request JSON as the fake received it and its reply parsing, the local quotas (with an
 * injected clock), cancellation and freeing with calls pending. */
#include "connectors/wecom/api.h"

#include <stdlib.h>

#include "fakectl.h"
#include "testlib.h"

#define AGENT_SECRET "agent-S3cret-value"
#define CONTACT_SECRET "contact-S3cret-value"
#define CORP_ID "wwtest"
#define ROBOT_KEY "robot-key-0001"
#define AGENT_ID 1000002

/* ---- what the callbacks saw ------------------------------------------------------------- */

typedef struct rec {
    wg_wecom_class_t cls;
    long errcode;
    int has_errcode;
    int http_status;
    wg_http_error_t http_error;
    int64_t retry_after_ms;
    int throttled;
    int attempts;
    char endpoint[80];
    char errmsg[256];
    char message[512];
    int has_reply;
    char s1[256], s2[256], s3[256]; /* reply fields, per call kind */
    int64_t i1, i2, i3;
} rec_t;

#define MAX_RECS 64
static rec_t recs[MAX_RECS];
static int nrecs;
static int in_submit;    /* set around every submit: no callback may run then */
static int cb_in_submit; /* callbacks that ran inside a submit (must stay 0) */
static wg_wecom_api_t *api;
static wg_wecom_corp_t *corp;
static int64_t fake_now; /* the injected clock, when a test uses it */

static rec_t *save(const wg_wecom_result_t *r)
{
    rec_t *x = &recs[nrecs < MAX_RECS ? nrecs : MAX_RECS - 1];
    if (in_submit)
        cb_in_submit++;
    memset(x, 0, sizeof(*x));
    x->cls = r->cls;
    x->errcode = r->errcode;
    x->has_errcode = r->has_errcode;
    x->http_status = r->http_status;
    x->http_error = r->http_error;
    x->retry_after_ms = r->retry_after_ms;
    x->throttled = r->throttled;
    x->attempts = r->attempts;
    snprintf(x->endpoint, sizeof(x->endpoint), "%s", r->endpoint ? r->endpoint : "(null)");
    snprintf(x->errmsg, sizeof(x->errmsg), "%s", r->errmsg ? r->errmsg : "(null)");
    snprintf(x->message, sizeof(x->message), "%s", r->message ? r->message : "(null)");
    nrecs++;
    return x;
}

static void on_msg(void *arg, const wg_wecom_result_t *res, const wg_wecom_message_reply_t *rep)
{
    rec_t *x = save(res);
    (void)arg;
    if (rep) {
        x->has_reply = 1;
        snprintf(x->s1, sizeof(x->s1), "%s", rep->invaliduser);
        snprintf(x->s2, sizeof(x->s2), "%s", rep->msgid);
    }
}

static void on_robot(void *arg, const wg_wecom_result_t *res)
{
    (void)arg;
    save(res);
}

static void on_contact(void *arg, const wg_wecom_result_t *res,
                       const wg_wecom_external_contact_t *c)
{
    rec_t *x = save(res);
    (void)arg;
    if (c) {
        x->has_reply = 1;
        snprintf(x->s1, sizeof(x->s1), "%s", c->name);
        snprintf(x->s2, sizeof(x->s2), "%s", c->external_userid);
        x->i1 = c->type;
        x->i2 = (int64_t)c->n_follow_user;
        if (c->n_follow_user) {
            snprintf(x->s3, sizeof(x->s3), "%s", c->follow_user[0].userid);
            x->i3 = c->follow_user[0].createtime;
        }
    }
}

static void on_rule(void *arg, const wg_wecom_result_t *res,
                    const wg_wecom_intercept_rule_reply_t *r)
{
    rec_t *x = save(res);
    (void)arg;
    if (r) {
        x->has_reply = 1;
        snprintf(x->s1, sizeof(x->s1), "%s", r->rule_id);
    }
}

static void on_rule_list(void *arg, const wg_wecom_result_t *res,
                         const wg_wecom_intercept_rule_list_t *l)
{
    rec_t *x = save(res);
    (void)arg;
    if (l) {
        x->has_reply = 1;
        x->i1 = (int64_t)l->n_rules;
        if (l->n_rules) {
            snprintf(x->s1, sizeof(x->s1), "%s", l->rules[0].rule_id);
            snprintf(x->s2, sizeof(x->s2), "%s", l->rules[0].rule_name);
            x->i2 = l->rules[0].create_time;
        }
    }
}

static void on_raw(void *arg, const wg_wecom_result_t *res, const char *body, size_t len)
{
    rec_t *x = save(res);
    (void)arg;
    if (body) {
        x->has_reply = 1;
        snprintf(x->s1, sizeof(x->s1), "%.*s", (int)(len < 255 ? len : 255), body);
    }
}

/* ---- setup ------------------------------------------------------------------------------ */

static int64_t test_clock(void *arg)
{
    (void)arg;
    return fake_now;
}

/* A fresh fake state, client and corp "demo" with the agent secret (and more options). */
static void setup_with(const wg_wecom_api_options_t *o, wg_http_client_t *http,
                       const char *agent_secret)
{
    char err[256];
    wg_wecom_corp_options_t co = {0};
    fx_reset();
    nrecs = 0;
    cb_in_submit = 0;
    api = wg_wecom_api_new(fx.base, http ? http : fx.http, o, err, sizeof(err));
    CHECK(api != NULL);
    co.name = "demo";
    co.corp_id = CORP_ID;
    co.base_url = fx.base_url;
    corp = wg_wecom_corp_add(api, &co, err, sizeof(err));
    CHECK(corp != NULL);
    CHECK_INT(wg_wecom_corp_set_secret(corp, "agent", agent_secret ? agent_secret : AGENT_SECRET,
                                       err, sizeof(err)),
              0);
}

static void setup(void)
{
    setup_with(NULL, NULL, NULL);
}

static void teardown(void)
{
    CHECK_INT(cb_in_submit, 0);
    wg_wecom_api_free(api);
    api = NULL;
    corp = NULL;
}

static wg_wecom_call_t *send_message(const wg_wecom_message_t *m, char *err, size_t errlen)
{
    wg_wecom_call_t *c;
    in_submit = 1;
    c = wg_wecom_message_send(corp, m, on_msg, NULL, err, errlen);
    in_submit = 0;
    return c;
}

static wg_wecom_call_t *send_md(const char *touser, const char *content)
{
    char err[256];
    wg_wecom_message_t m = {0};
    wg_wecom_call_t *c;
    m.touser = touser;
    m.agentid = AGENT_ID;
    m.msgtype = WG_WECOM_MSG_MARKDOWN;
    m.content = content;
    c = send_message(&m, err, sizeof(err));
    if (c == NULL)
        fprintf(stderr, "send_md: %s\n", err);
    return c;
}

static wg_wecom_call_t *send_robot(const char *key, const char *content)
{
    char err[256];
    wg_wecom_robot_message_t m = {0};
    wg_wecom_call_t *c;
    m.key = key;
    m.msgtype = WG_WECOM_MSG_MARKDOWN;
    m.content = content;
    in_submit = 1;
    c = wg_wecom_robot_send(corp, &m, on_robot, NULL, err, sizeof(err));
    in_submit = 0;
    if (c == NULL)
        fprintf(stderr, "send_robot: %s\n", err);
    return c;
}

/* Sends one markdown message and waits for its outcome. */
static rec_t *send_one(const char *touser)
{
    int before = nrecs;
    CHECK(send_md(touser, "**hello**") != NULL);
    CHECK_INT(fx_run_until(&nrecs, before + 1, 10000), 0);
    return &recs[before];
}

/* The body of the nth logged request to path, parsed (new reference). */
static json_t *logged_body(const char *path, int nth, json_t **entry)
{
    json_t *e = fx_request(path, nth), *b = NULL;
    if (e)
        b = json_loads(json_string_value(json_object_get(e, "body")), 0, NULL);
    if (entry)
        *entry = e;
    else
        json_decref(e);
    return b;
}

static const char *jpath_str(json_t *o, const char *a, const char *b)
{
    json_t *v = json_object_get(o, a);
    if (b)
        v = json_object_get(v, b);
    return json_string_value(v);
}

/* ---- tokens ----------------------------------------------------------------------------- */

static void test_token_single_flight(void)
{
    char user[16];
    wg_wecom_api_stats_t st;
    int ok = 0;
    json_t *e;

    setup();
    for (int i = 0; i < 10; i++) {
        snprintf(user, sizeof(user), "user%d", i);
        CHECK(send_md(user, "hi") != NULL);
    }
    CHECK_INT(nrecs, 0); /* never inside the submit */
    CHECK_INT(fx_run_until(&nrecs, 10, 10000), 0);
    for (int i = 0; i < nrecs; i++)
        ok += recs[i].cls == WG_WECOM_OK && recs[i].attempts == 1 &&
              strncmp(recs[i].s2, "fakemsg-", 8) == 0 && recs[i].message[0] == '\0';
    CHECK_INT(ok, 10);
    CHECK_INT(fx_count("/cgi-bin/gettoken"), 1);
    CHECK_INT(fx_count("/cgi-bin/message/send"), 10);
    /* the cached token serves later calls too */
    CHECK_INT(send_one("user0")->cls, WG_WECOM_OK);
    CHECK_INT(fx_count("/cgi-bin/gettoken"), 1);
    /* what gettoken was asked */
    e = fx_request("/cgi-bin/gettoken", 0);
    CHECK_STR(json_string_value(json_object_get(e, "method")), "GET");
    CHECK_STR(json_string_value(json_object_get(e, "query")),
              "corpid=" CORP_ID "&corpsecret=" AGENT_SECRET);
    json_decref(e);
    e = fx_request("/cgi-bin/message/send", 0);
    CHECK(strncmp(json_string_value(json_object_get(e, "query")), "access_token=faketoken-", 23) ==
          0);
    json_decref(e);
    wg_wecom_api_get_stats(api, &st);
    CHECK_INT(st.token_fetches, 1);
    CHECK_INT(st.requests, 11);
    CHECK_INT(st.ok, 11);
    CHECK_INT(st.pending, 0);
    teardown();
}

static void test_refresh_on_42001(void)
{
    wg_wecom_api_stats_t st;
    int ok = 0;

    setup();
    CHECK_INT(send_one("alice")->cls, WG_WECOM_OK);
    json_decref(fx_ctl("POST", "/_fake/expire_tokens", "{}"));
    /* five calls holding the same stale token: one new gettoken for all, each retried once */
    for (int i = 0; i < 5; i++)
        CHECK(send_md("alice", "again") != NULL);
    CHECK_INT(fx_run_until(&nrecs, 6, 10000), 0);
    for (int i = 1; i < nrecs; i++)
        ok += recs[i].cls == WG_WECOM_OK && recs[i].attempts == 2;
    CHECK_INT(ok, 5);
    CHECK_INT(fx_count("/cgi-bin/gettoken"), 2);
    CHECK_INT(fx_count("/cgi-bin/message/send"), 11);
    wg_wecom_api_get_stats(api, &st);
    CHECK_INT(st.token_refreshes, 1);
    CHECK_INT(st.token_fetches, 2);
    teardown();
}

static void test_refresh_on_40014(void)
{
    rec_t *r;
    setup();
    CHECK_INT(send_one("alice")->cls, WG_WECOM_OK);
    fx_script("/cgi-bin/message/send", "[{\"action\":\"invalid_token\"}]");
    r = send_one("alice");
    CHECK_INT(r->cls, WG_WECOM_OK);
    CHECK_INT(r->attempts, 2);
    CHECK_INT(fx_count("/cgi-bin/gettoken"), 2);
    CHECK_INT(fx_count("/cgi-bin/message/send"), 3);
    teardown();
}

/* A token rejected again right after a refresh: no loop, RETRY_LATER, token never quoted. */
static void test_token_rejected_twice(void)
{
    rec_t *r;
    setup();
    fx_script("/cgi-bin/message/send", "[{\"action\":\"expired_token\"},"
                                       "{\"action\":\"invalid_token\"}]");
    r = send_one("alice");
    CHECK_INT(r->cls, WG_WECOM_RETRY_LATER);
    CHECK_INT(r->errcode, 40014);
    CHECK_INT(r->attempts, 2);
    CHECK(r->retry_after_ms > 0);
    CHECK(strstr(r->message, "faketoken") == NULL);
    fx_spin(100);
    CHECK_INT(fx_count("/cgi-bin/gettoken"), 2);
    CHECK_INT(fx_count("/cgi-bin/message/send"), 2);
    teardown();
}

/* A cached token is used until token_refresh_early_s before expires_in (7200 s here), then
 * fetched again without waiting for a 42001; the margin is at most half the lifetime. */
static void test_token_expiry_by_clock(void)
{
    wg_wecom_api_options_t o = {0};
    o.clock_ms = test_clock;
    fake_now = 0;
    setup_with(&o, NULL, NULL);
    CHECK_INT(send_one("alice")->cls, WG_WECOM_OK);
    fake_now = (7200 - 300) * 1000 - 1;
    CHECK_INT(send_one("alice")->cls, WG_WECOM_OK);
    CHECK_INT(fx_count("/cgi-bin/gettoken"), 1);
    fake_now = (7200 - 300) * 1000;
    CHECK_INT(send_one("alice")->cls, WG_WECOM_OK);
    CHECK_INT(fx_count("/cgi-bin/gettoken"), 2);
    CHECK_INT(fx_count("/cgi-bin/message/send"), 3);
    teardown();

    o.token_refresh_early_s = 5000; /* more than half of 7200: 3600 */
    fake_now = 0;
    setup_with(&o, NULL, NULL);
    CHECK_INT(send_one("alice")->cls, WG_WECOM_OK);
    fake_now = 3600 * 1000 - 1;
    CHECK_INT(send_one("alice")->cls, WG_WECOM_OK);
    CHECK_INT(fx_count("/cgi-bin/gettoken"), 1);
    fake_now = 3600 * 1000;
    CHECK_INT(send_one("alice")->cls, WG_WECOM_OK);
    CHECK_INT(fx_count("/cgi-bin/gettoken"), 2);
    teardown();
}

/* Tokens up to WG_WECOM_TOKEN_MAX bytes are kept and sent whole; a longer one is a PROTOCOL
 * fault, as is a reply without one. */
static void test_long_tokens(void)
{
    char tok[WG_WECOM_TOKEN_MAX + 2], body[WG_WECOM_TOKEN_MAX + 128];
    json_t *e;
    rec_t *r;

    setup();
    memset(tok, 'T', 600);
    tok[600] = '\0';
    snprintf(body, sizeof(body),
             "{\"errcode\":0,\"errmsg\":\"ok\",\"access_token\":\"%s\","
             "\"expires_in\":7200}",
             tok);
    fx_script_body("/cgi-bin/gettoken", 200, body);
    fx_script_body("/cgi-bin/message/send", 200, "{\"errcode\":0,\"errmsg\":\"ok\"}");
    CHECK_INT(send_one("alice")->cls, WG_WECOM_OK);
    e = fx_request("/cgi-bin/message/send", 0);
    CHECK(strncmp(jpath_str(e, "query", NULL), "access_token=", 13) == 0);
    CHECK(strcmp(jpath_str(e, "query", NULL) + 13, tok) == 0);
    json_decref(e);
    teardown();

    setup();
    memset(tok, 'T', WG_WECOM_TOKEN_MAX + 1);
    tok[WG_WECOM_TOKEN_MAX + 1] = '\0';
    snprintf(body, sizeof(body), "{\"errcode\":0,\"errmsg\":\"ok\",\"access_token\":\"%s\"}", tok);
    fx_script_body("/cgi-bin/gettoken", 200, body);
    fx_script_body("/cgi-bin/gettoken", 200, "{\"errcode\":0,\"errmsg\":\"ok\"}");
    r = send_one("alice");
    CHECK_INT(r->cls, WG_WECOM_PROTOCOL);
    CHECK(strstr(r->message, "access_token") != NULL);
    CHECK(strstr(r->message, "TTTT") == NULL);
    CHECK_INT(send_one("alice")->cls, WG_WECOM_PROTOCOL);
    CHECK_INT(fx_count("/cgi-bin/message/send"), 0);
    teardown();
}

static void test_wrong_secret_no_loop(void)
{
    int ok = 0;
    setup_with(NULL, NULL, "wrong-Secret-12345");
    for (int i = 0; i < 3; i++)
        CHECK(send_md("alice", "hi") != NULL);
    CHECK_INT(fx_run_until(&nrecs, 3, 10000), 0);
    for (int i = 0; i < nrecs; i++)
        ok += recs[i].cls == WG_WECOM_CONFIG && recs[i].errcode == 40001 &&
              strcmp(recs[i].endpoint, "gettoken") == 0 && recs[i].attempts == 0 &&
              strstr(recs[i].message, "wrong-Secret-12345") == NULL &&
              strstr(recs[i].errmsg, "wrong-Secret-12345") == NULL;
    CHECK_INT(ok, 3);
    CHECK_STR(recs[0].message, "corp demo: secret 'agent' rejected (40001): check agent_secret");
    fx_spin(200);
    CHECK_INT(nrecs, 3);
    CHECK_INT(fx_count("/cgi-bin/gettoken"), 1);
    CHECK_INT(fx_count("/cgi-bin/message/send"), 0);
    /* nothing was cached: the next call asks once more (one fetch, still no loop) */
    CHECK_INT(send_one("alice")->cls, WG_WECOM_CONFIG);
    CHECK_INT(fx_count("/cgi-bin/gettoken"), 2);
    teardown();
}

static void test_untrusted_ip_60020(void)
{
    rec_t *r;
    setup();
    fx_script("/cgi-bin/message/send",
              "[{\"action\":\"errcode\",\"errcode\":60020,\"errmsg\":\"not allow to access from "
              "your ip, hint: [fake], from ip: 127.0.0.1\"}]");
    r = send_one("alice");
    CHECK_INT(r->cls, WG_WECOM_CONFIG);
    CHECK_INT(r->errcode, 60020);
    CHECK_INT(r->attempts, 1);
    CHECK_INT(r->retry_after_ms, 0);
    CHECK(strstr(r->errmsg, "not allow to access from your ip") != NULL);
    CHECK(strstr(r->message, "trusted IPs (60020)") != NULL);
    CHECK_STR(r->endpoint, "message/send");
    CHECK_INT(fx_count("/cgi-bin/message/send"), 1);
    teardown();

    /* the same on gettoken */
    setup();
    fx_script("/cgi-bin/gettoken", "[{\"action\":\"errcode\",\"errcode\":60020}]");
    r = send_one("alice");
    CHECK_INT(r->cls, WG_WECOM_CONFIG);
    CHECK_STR(r->endpoint, "gettoken");
    CHECK_INT(fx_count("/cgi-bin/message/send"), 0);
    teardown();
}

static void test_tls_verification_is_config(void)
{
    char err[256];
    wg_http_client_t *sys = wg_http_client_new(fx.base, fx.dns, NULL, err, sizeof(err));
    rec_t *r;
    CHECK(sys != NULL);
    setup_with(NULL, sys, NULL);
    r = send_one("alice");
    CHECK_INT(r->cls, WG_WECOM_CONFIG);
    CHECK_INT(r->http_error, WG_HTTP_ERR_TLS_VERIFY);
    CHECK_STR(r->endpoint, "gettoken");
    CHECK(strstr(r->message, "CA") != NULL);
    teardown();
    wg_http_client_free(sys);
}

/* ---- failure classes -------------------------------------------------------------------- */

static void test_rate_limit_classes(void)
{
    rec_t *r;
    wg_wecom_api_options_t o = {0};
    setup();
    CHECK_INT(send_one("alice")->cls, WG_WECOM_OK);
    fx_script("/cgi-bin/message/send",
              "[{\"action\":\"rate_limit\"},{\"action\":\"errcode\",\"errcode\":45033},"
              "{\"action\":\"errcode\",\"errcode\":-1}]");
    r = send_one("u1");
    CHECK_INT(r->cls, WG_WECOM_RETRY_LATER);
    CHECK_INT(r->errcode, 45009);
    CHECK_STR(r->errmsg, "api freq out of limit");
    CHECK_INT(r->retry_after_ms, 60000);
    CHECK_INT(r->throttled, 0);
    r = send_one("u2");
    CHECK_INT(r->cls, WG_WECOM_RETRY_LATER);
    CHECK_INT(r->errcode, 45033);
    CHECK_INT(r->retry_after_ms, 1000);
    r = send_one("u3");
    CHECK_INT(r->cls, WG_WECOM_RETRY_LATER);
    CHECK_INT(r->errcode, -1);
    CHECK_INT(r->retry_after_ms, 1000);
    CHECK_INT(fx_count("/cgi-bin/message/send"), 4); /* no hidden retries */
    teardown();

    /* delays are options */
    o.rate_limit_delay_ms = 3600000;
    o.busy_delay_ms = 250;
    setup_with(&o, NULL, NULL);
    fx_script("/cgi-bin/message/send",
              "[{\"action\":\"rate_limit\"},{\"action\":\"errcode\",\"errcode\":-1}]");
    CHECK_INT(send_one("u1")->retry_after_ms, 3600000);
    CHECK_INT(send_one("u1")->retry_after_ms, 250);
    teardown();
}

static void test_permanent_keeps_errcode(void)
{
    rec_t *r;
    setup();
    fx_script("/cgi-bin/message/send",
              "[{\"action\":\"errcode\",\"errcode\":81013,\"errmsg\":\"user & party & tag all "
              "invalid\"}]");
    r = send_one("nobody");
    CHECK_INT(r->cls, WG_WECOM_PERMANENT);
    CHECK_INT(r->has_errcode, 1);
    CHECK_INT(r->errcode, 81013);
    CHECK_STR(r->errmsg, "user & party & tag all invalid");
    CHECK(strstr(r->message, "81013") != NULL);
    CHECK_INT(r->has_reply, 1); /* the reply object is still handed over */
    teardown();
}

static void test_transport_and_malformed(void)
{
    rec_t *r;
    wg_wecom_api_options_t o = {0};

    setup();
    CHECK_INT(send_one("alice")->cls, WG_WECOM_OK);
    fx_script("/cgi-bin/message/send",
              "[{\"action\":\"status\",\"status\":500},"
              "{\"action\":\"reset\"},"
              "{\"action\":\"malformed\"},"
              "{\"action\":\"status\",\"status\":200,\"body\":\"{\\\"foo\\\":1}\"},"
              "{\"action\":\"status\",\"status\":502,\"body\":\"<html>bad gateway</html>\"},"
              "{\"action\":\"status\",\"status\":200,\"body\":\"[1,2]\"},"
              "{\"action\":\"huge\"}]");
    r = send_one("u1");
    CHECK_INT(r->cls, WG_WECOM_RETRY_LATER);
    CHECK_INT(r->http_status, 500);
    CHECK(r->retry_after_ms > 0);
    r = send_one("u2");
    CHECK_INT(r->cls, WG_WECOM_RETRY_LATER);
    CHECK_INT(r->http_error, WG_HTTP_ERR_RESET);
    CHECK_INT(r->http_status, 0);
    r = send_one("u3"); /* truncated JSON: a proxy or a cut body */
    CHECK_INT(r->cls, WG_WECOM_RETRY_LATER);
    CHECK_INT(r->has_errcode, 0);
    CHECK(strstr(r->message, "not JSON") != NULL);
    CHECK_INT(r->has_reply, 0);
    r = send_one("u4"); /* JSON without errcode */
    CHECK_INT(r->cls, WG_WECOM_PROTOCOL);
    CHECK(r->retry_after_ms > 0);
    CHECK(strstr(r->message, "errcode") != NULL);
    r = send_one("u5");
    CHECK_INT(r->cls, WG_WECOM_RETRY_LATER);
    CHECK_INT(r->http_status, 502);
    r = send_one("u6"); /* JSON, not an object */
    CHECK_INT(r->cls, WG_WECOM_PROTOCOL);
    r = send_one("u7"); /* 8 MiB: over the HTTP client's cap */
    CHECK_INT(r->cls, WG_WECOM_PROTOCOL);
    CHECK_INT(r->http_error, WG_HTTP_ERR_TOO_LARGE);
    /* and after all that, the client still works */
    CHECK_INT(send_one("alice")->cls, WG_WECOM_OK);
    teardown();

    o.response_timeout_ms = 300;
    setup_with(&o, NULL, NULL);
    CHECK_INT(send_one("alice")->cls, WG_WECOM_OK);
    fx_script("/cgi-bin/message/send", "[{\"action\":\"ok\",\"delay_ms\":1500}]");
    r = send_one("alice");
    CHECK_INT(r->cls, WG_WECOM_RETRY_LATER);
    CHECK_INT(r->http_error, WG_HTTP_ERR_TIMEOUT);
    teardown();
}

/* ---- typed calls: request JSON and replies ---------------------------------------------- */

#define HOSTILE                                                                                    \
    "He said \"hi\" \\ </script>\n\t\x01 \xe2\x9c\x93 \xe4\xb8\xad\xe6\x96\x87 {\"errcode\":0}"

static void test_message_json(void)
{
    char err[256];
    wg_wecom_message_t m = {0};
    json_t *b, *e;
    const char *raw;
    rec_t *r;

    setup();
    /* markdown with a hostile content, to a valid and an unknown member */
    m.touser = "alice|invalidbob";
    m.agentid = AGENT_ID;
    m.msgtype = WG_WECOM_MSG_MARKDOWN;
    m.content = HOSTILE;
    CHECK(send_message(&m, err, sizeof(err)) != NULL);
    CHECK_INT(fx_run_until(&nrecs, 1, 10000), 0);
    r = &recs[0];
    CHECK_INT(r->cls, WG_WECOM_OK);
    CHECK_INT(r->has_reply, 1);
    CHECK_STR(r->s1, "invalidbob");
    CHECK(strncmp(r->s2, "fakemsg-", 8) == 0);
    b = logged_body("/cgi-bin/message/send", 0, &e);
    CHECK(b != NULL);
    CHECK_STR(jpath_str(b, "touser", NULL), "alice|invalidbob");
    CHECK_STR(jpath_str(b, "msgtype", NULL), "markdown");
    CHECK_INT(json_integer_value(json_object_get(b, "agentid")), AGENT_ID);
    CHECK_STR(jpath_str(b, "markdown", "content"), HOSTILE);
    CHECK(json_object_get(b, "safe") == NULL);
    raw = json_string_value(json_object_get(e, "body"));
    CHECK(strchr(raw, '\n') == NULL && strchr(raw, '\x01') == NULL); /* escaped by jansson */
    CHECK(strstr(raw, "\\\"hi\\\"") != NULL);
    CHECK(strstr(jpath_str(e, "headers", "content-type"), "application/json") != NULL);
    CHECK_STR(jpath_str(e, "method", NULL), "POST");
    json_decref(b);
    json_decref(e);

    /* textcard */
    memset(&m, 0, sizeof(m));
    m.touser = "alice";
    m.agentid = AGENT_ID;
    m.msgtype = WG_WECOM_MSG_TEXTCARD;
    m.title = "Alert: \"leak\"";
    m.description = "<div class=\"gray\">2024-01-01</div>";
    m.url = "https://wegate.example/alerts/1?x=1&y=2";
    m.btntxt = "详情";
    CHECK(send_message(&m, err, sizeof(err)) != NULL);
    CHECK_INT(fx_run_until(&nrecs, 2, 10000), 0);
    CHECK_INT(recs[1].cls, WG_WECOM_OK);
    b = logged_body("/cgi-bin/message/send", 1, NULL);
    CHECK_STR(jpath_str(b, "msgtype", NULL), "textcard");
    CHECK_STR(jpath_str(b, "textcard", "title"), "Alert: \"leak\"");
    CHECK_STR(jpath_str(b, "textcard", "description"), "<div class=\"gray\">2024-01-01</div>");
    CHECK_STR(jpath_str(b, "textcard", "url"), "https://wegate.example/alerts/1?x=1&y=2");
    CHECK_STR(jpath_str(b, "textcard", "btntxt"), "详情");
    json_decref(b);

    /* text, confidential, with WeCom's duplicate check */
    memset(&m, 0, sizeof(m));
    m.touser = "alice";
    m.agentid = AGENT_ID;
    m.msgtype = WG_WECOM_MSG_TEXT;
    m.content = "plain";
    m.safe = 1;
    m.enable_duplicate_check = 1;
    m.duplicate_check_interval = 600;
    CHECK(send_message(&m, err, sizeof(err)) != NULL);
    CHECK_INT(fx_run_until(&nrecs, 3, 10000), 0);
    CHECK_INT(recs[2].cls, WG_WECOM_OK);
    b = logged_body("/cgi-bin/message/send", 2, NULL);
    CHECK_STR(jpath_str(b, "text", "content"), "plain");
    CHECK_INT(json_integer_value(json_object_get(b, "safe")), 1);
    CHECK_INT(json_integer_value(json_object_get(b, "enable_duplicate_check")), 1);
    CHECK_INT(json_integer_value(json_object_get(b, "duplicate_check_interval")), 600);
    json_decref(b);
    teardown();
}

static void test_invalid_requests_refused(void)
{
    char err[256], big[WG_WECOM_MARKDOWN_MAX + 2], *many;
    wg_wecom_message_t m = {0};
    wg_wecom_robot_message_t rm = {0};
    wg_wecom_external_contact_req_t cq = {0};
    size_t off = 0;

    setup();
    m.agentid = AGENT_ID;
    m.msgtype = WG_WECOM_MSG_MARKDOWN;
    m.content = "x";
    m.touser = "";
    CHECK(send_message(&m, err, sizeof(err)) == NULL);
    m.touser = "a||b";
    CHECK(send_message(&m, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "touser") != NULL);
    many = malloc(1001 * 8);
    for (int i = 0; i < 1001; i++)
        off += (size_t)sprintf(many + off, "%s%d", i ? "|" : "", i);
    m.touser = many;
    CHECK(send_message(&m, err, sizeof(err)) == NULL);
    many[off - 5] = '\0'; /* drop the 1001st id: 1000 are fine */
    m.touser = "alice";
    m.agentid = 0;
    CHECK(send_message(&m, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "agentid") != NULL);
    m.agentid = AGENT_ID;
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    m.content = big;
    CHECK(send_message(&m, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "2048") != NULL);
    m.content = "bad \xff utf-8";
    CHECK(send_message(&m, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "UTF-8") != NULL);
    m.content = NULL;
    CHECK(send_message(&m, err, sizeof(err)) == NULL);
    m.msgtype = WG_WECOM_MSG_TEXTCARD;
    m.title = "t";
    m.description = "d";
    CHECK(send_message(&m, err, sizeof(err)) == NULL); /* no url */
    m.msgtype = WG_WECOM_MSG_MARKDOWN;
    m.content = "x";
    m.secret = "nosuch";
    CHECK(send_message(&m, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "nosuch_secret") != NULL);
    rm.key = ROBOT_KEY;
    rm.msgtype = WG_WECOM_MSG_TEXTCARD;
    rm.content = "x";
    CHECK(wg_wecom_robot_send(corp, &rm, on_robot, NULL, err, sizeof(err)) == NULL);
    rm.msgtype = WG_WECOM_MSG_TEXT;
    rm.key = "";
    CHECK(wg_wecom_robot_send(corp, &rm, on_robot, NULL, err, sizeof(err)) == NULL);
    CHECK(wg_wecom_external_contact_get(corp, &cq, on_contact, NULL, err, sizeof(err)) == NULL);
    fx_spin(100);
    CHECK_INT(nrecs, 0);
    CHECK_INT(fx_count("/cgi-bin/gettoken"), 0);
    /* 1000 ids are accepted */
    m.touser = many;
    m.secret = NULL;
    CHECK(send_message(&m, err, sizeof(err)) != NULL);
    CHECK_INT(fx_run_until(&nrecs, 1, 10000), 0);
    CHECK_INT(recs[0].cls, WG_WECOM_OK);
    free(many);
    teardown();
}

static void test_robot(void)
{
    char err[256];
    const char *mentioned[] = {"alice", "@all"};
    const char *mobiles[] = {"13800001111"};
    wg_wecom_robot_message_t m = {0};
    json_t *b, *e;
    json_t *arr;

    setup();
    m.key = ROBOT_KEY;
    m.msgtype = WG_WECOM_MSG_TEXT;
    m.content = "alert: \"x\" <y>";
    m.mentioned_list = mentioned;
    m.n_mentioned = 2;
    m.mentioned_mobile_list = mobiles;
    m.n_mentioned_mobile = 1;
    in_submit = 1;
    CHECK(wg_wecom_robot_send(corp, &m, on_robot, NULL, err, sizeof(err)) != NULL);
    in_submit = 0;
    CHECK(send_robot(ROBOT_KEY, "# title\n> quote") != NULL);
    CHECK_INT(fx_run_until(&nrecs, 2, 10000), 0);
    CHECK_INT(recs[0].cls, WG_WECOM_OK);
    CHECK_INT(recs[1].cls, WG_WECOM_OK);
    CHECK_INT(fx_count("/cgi-bin/gettoken"), 0); /* the key is the credential */
    /* two connections: the fake may log them in either order */
    for (int i = 0; i < 2; i++) {
        b = logged_body("/cgi-bin/webhook/send", i, &e);
        CHECK_STR(jpath_str(e, "query", NULL), "key=" ROBOT_KEY);
        if (strcmp(jpath_str(b, "msgtype", NULL), "text") == 0) {
            CHECK_STR(jpath_str(b, "text", "content"), "alert: \"x\" <y>");
            arr = json_object_get(json_object_get(b, "text"), "mentioned_list");
            CHECK_INT(json_array_size(arr), 2);
            CHECK_STR(json_string_value(json_array_get(arr, 1)), "@all");
            arr = json_object_get(json_object_get(b, "text"), "mentioned_mobile_list");
            CHECK_STR(json_string_value(json_array_get(arr, 0)), "13800001111");
        } else {
            CHECK_STR(jpath_str(b, "msgtype", NULL), "markdown");
            CHECK_STR(jpath_str(b, "markdown", "content"), "# title\n> quote");
            CHECK(json_object_get(b, "text") == NULL);
        }
        json_decref(b);
        json_decref(e);
    }
    /* an unknown key: CONFIG, and the key is not in the message */
    CHECK(send_robot("not-the-key-9876", "x") != NULL);
    CHECK_INT(fx_run_until(&nrecs, 3, 10000), 0);
    CHECK_INT(recs[2].cls, WG_WECOM_CONFIG);
    CHECK_INT(recs[2].errcode, 93000);
    CHECK(strstr(recs[2].message, "not-the-key-9876") == NULL);
    teardown();
}

static void test_external_contact(void)
{
    char err[256];
    wg_wecom_external_contact_req_t q = {0};
    json_t *e;

    setup();
    CHECK_INT(wg_wecom_corp_set_secret(corp, "contact", CONTACT_SECRET, err, sizeof(err)), 0);
    q.external_userid = "wmCustomer1";
    in_submit = 1;
    CHECK(wg_wecom_external_contact_get(corp, &q, on_contact, NULL, err, sizeof(err)) != NULL);
    q.external_userid = "wm a&b=c";
    CHECK(wg_wecom_external_contact_get(corp, &q, on_contact, NULL, err, sizeof(err)) != NULL);
    q.external_userid = "not-external";
    CHECK(wg_wecom_external_contact_get(corp, &q, on_contact, NULL, err, sizeof(err)) != NULL);
    in_submit = 0;
    CHECK_INT(fx_run_until(&nrecs, 3, 10000), 0);
    /* completion order is not promised: find each by its outcome */
    for (int i = 0; i < 3; i++) {
        rec_t *r = &recs[i];
        if (r->cls == WG_WECOM_OK && strcmp(r->s2, "wmCustomer1") == 0) {
            CHECK_STR(r->s1, "Customer Customer1");
            CHECK_INT(r->i1, 1);
            CHECK_INT(r->i2, 1);
            CHECK_STR(r->s3, "zhangsan");
            CHECK_INT(r->i3, 1700000000);
        } else if (r->cls == WG_WECOM_OK) {
            CHECK_STR(r->s2, "wm a&b=c"); /* encoded in the query, decoded by the fake */
            CHECK_STR(r->s1, "Customer  a&b=c");
        } else {
            CHECK_INT(r->cls, WG_WECOM_PERMANENT);
            CHECK_INT(r->errcode, 84061);
            CHECK_STR(r->errmsg, "not external contact");
        }
    }
    /* the contact secret was used, once */
    CHECK_INT(fx_count("/cgi-bin/gettoken"), 1);
    e = fx_request("/cgi-bin/gettoken", 0);
    CHECK(strstr(jpath_str(e, "query", NULL), "corpsecret=" CONTACT_SECRET) != NULL);
    json_decref(e);
    e = fx_request("/cgi-bin/externalcontact/get", 1);
    CHECK(strstr(jpath_str(e, "query", NULL), "&external_userid=wm%20a%26b%3Dc") != NULL);
    json_decref(e);
    teardown();
}

static void test_intercept_rules(void)
{
    char err[256];
    const char *words[] = {"微信", "qq\"号", "a\\b"};
    const char *users[] = {"zhangsan"};
    const long deps[] = {2, 3};
    const int sem[] = {1, 3};
    wg_wecom_intercept_rule_req_t q = {0};
    json_t *b, *e;

    setup();
    q.rule_name = "敏感词规则";
    q.word_list = words;
    q.n_words = 3;
    q.intercept_type = 1;
    q.user_list = users;
    q.n_users = 1;
    q.department_list = deps;
    q.n_departments = 2;
    q.semantics_list = sem;
    q.n_semantics = 2;
    in_submit = 1;
    CHECK(wg_wecom_intercept_rule_add(corp, &q, on_rule, NULL, err, sizeof(err)) != NULL);
    in_submit = 0;
    CHECK_INT(fx_run_until(&nrecs, 1, 10000), 0);
    CHECK_INT(recs[0].cls, WG_WECOM_OK);
    CHECK(strncmp(recs[0].s1, "fakerule-", 9) == 0);
    b = logged_body("/cgi-bin/externalcontact/add_intercept_rule", 0, NULL);
    CHECK_STR(jpath_str(b, "rule_name", NULL), "敏感词规则");
    CHECK_INT(json_array_size(json_object_get(b, "word_list")), 3);
    CHECK_STR(json_string_value(json_array_get(json_object_get(b, "word_list"), 1)), "qq\"号");
    CHECK_STR(json_string_value(json_array_get(json_object_get(b, "word_list"), 2)), "a\\b");
    CHECK_INT(json_integer_value(json_object_get(b, "intercept_type")), 1);
    CHECK_STR(json_string_value(json_array_get(
                  json_object_get(json_object_get(b, "applicable_range"), "user_list"), 0)),
              "zhangsan");
    CHECK_INT(json_integer_value(json_array_get(
                  json_object_get(json_object_get(b, "applicable_range"), "department_list"), 1)),
              3);
    CHECK_INT(json_integer_value(json_array_get(json_object_get(b, "semantics_list"), 1)), 3);
    json_decref(b);

    /* the list (WeCom: GET) */
    in_submit = 1;
    CHECK(wg_wecom_intercept_rule_list(corp, NULL, on_rule_list, NULL, err, sizeof(err)) != NULL);
    in_submit = 0;
    CHECK_INT(fx_run_until(&nrecs, 2, 10000), 0);
    e = fx_request("/cgi-bin/externalcontact/get_intercept_rule_list", 0);
    CHECK_STR(jpath_str(e, "method", NULL), "GET");
    json_decref(e);
    CHECK_INT(recs[1].cls, WG_WECOM_OK);
    CHECK_INT(recs[1].i1, 1);
    CHECK_STR(recs[1].s1, recs[0].s1);
    CHECK_STR(recs[1].s2, "敏感词规则");
    CHECK(recs[1].i2 > 1600000000);
    /* reply parsing against a canned WeCom reply (whatever the fake's routing) */
    fx_script_body("/cgi-bin/externalcontact/get_intercept_rule_list", 200,
                   "{\"errcode\":0,\"errmsg\":\"ok\",\"rule_list\":["
                   "{\"rule_id\":\"r-1\",\"rule_name\":\"n\\\"1\",\"create_time\":1600000001},"
                   "{\"rule_id\":\"r-2\"}]}");
    in_submit = 1;
    CHECK(wg_wecom_intercept_rule_list(corp, NULL, on_rule_list, NULL, err, sizeof(err)) != NULL);
    in_submit = 0;
    CHECK_INT(fx_run_until(&nrecs, 3, 10000), 0);
    CHECK_INT(recs[2].cls, WG_WECOM_OK);
    CHECK_INT(recs[2].i1, 2);
    CHECK_STR(recs[2].s1, "r-1");
    CHECK_STR(recs[2].s2, "n\"1");
    CHECK_INT(recs[2].i2, 1600000001);

    /* refused before sending */
    q.rule_name = "一二三四五六七八九十一二三四五六七八九十一"; /* 21 characters */
    CHECK(wg_wecom_intercept_rule_add(corp, &q, on_rule, NULL, err, sizeof(err)) == NULL);
    q.rule_name = "r";
    q.intercept_type = 3;
    CHECK(wg_wecom_intercept_rule_add(corp, &q, on_rule, NULL, err, sizeof(err)) == NULL);
    q.intercept_type = 2;
    q.n_users = 0;
    q.n_departments = 0;
    CHECK(wg_wecom_intercept_rule_add(corp, &q, on_rule, NULL, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "applicable_range") != NULL);
    q.n_users = 1;
    words[0] = "123456789012345678901234567890123"; /* 33 characters */
    CHECK(wg_wecom_intercept_rule_add(corp, &q, on_rule, NULL, err, sizeof(err)) == NULL);
    teardown();
}

static void test_raw_call(void)
{
    char err[256];
    wg_wecom_raw_req_t q = {0};

    setup();
    q.secret = "agent";
    q.method = "GET";
    q.path = "/cgi-bin/externalcontact/get";
    q.query = "external_userid=wmRaw";
    in_submit = 1;
    CHECK(wg_wecom_call_raw(corp, &q, on_raw, NULL, err, sizeof(err)) != NULL);
    in_submit = 0;
    CHECK_INT(fx_run_until(&nrecs, 1, 10000), 0);
    CHECK_INT(recs[0].cls, WG_WECOM_OK);
    CHECK_STR(recs[0].endpoint, "externalcontact/get");
    CHECK(strstr(recs[0].s1, "\"Customer Raw\"") != NULL);
    q.path = "/cgi-bin/externalcontact/get?x=1";
    CHECK(wg_wecom_call_raw(corp, &q, on_raw, NULL, err, sizeof(err)) == NULL);
    q.path = "/other";
    CHECK(wg_wecom_call_raw(corp, &q, on_raw, NULL, err, sizeof(err)) == NULL);
    q.path = "/cgi-bin/x";
    q.method = "DELETE";
    CHECK(wg_wecom_call_raw(corp, &q, on_raw, NULL, err, sizeof(err)) == NULL);
    teardown();
}

/* ---- quotas (injected clock) ------------------------------------------------------------ */

static void test_member_quota(void)
{
    wg_wecom_api_options_t o = {0};
    wg_wecom_api_stats_t st;
    rec_t *r;

    o.member_per_minute = 3;
    o.member_per_hour = 5;
    o.quota_minute_ms = 1000;
    o.quota_hour_ms = 10000;
    o.clock_ms = test_clock;
    fake_now = 0;
    setup_with(&o, NULL, NULL);
    for (int i = 0; i < 3; i++)
        CHECK_INT(send_one("alice")->cls, WG_WECOM_OK);
    CHECK_INT(wg_wecom_member_wait_ms(corp, "alice"), 1000);
    CHECK_INT(wg_wecom_member_wait_ms(corp, "bob"), 0);
    CHECK_INT(wg_wecom_member_wait_ms(corp, "bob|alice"), 1000);
    r = send_one("alice");
    CHECK_INT(r->cls, WG_WECOM_RETRY_LATER);
    CHECK_INT(r->throttled, 1);
    CHECK_INT(r->retry_after_ms, 1000);
    CHECK_INT(r->attempts, 0);
    /* a message to bob and alice waits for alice, and takes nothing from bob */
    r = send_one("bob|alice");
    CHECK_INT(r->throttled, 1);
    CHECK_INT(wg_wecom_member_wait_ms(corp, "bob"), 0);
    fake_now = 1000;
    CHECK_INT(send_one("alice|bob")->cls, WG_WECOM_OK);
    CHECK_INT(send_one("alice")->cls, WG_WECOM_OK);
    /* alice has had 5 in the "hour": the next may go when the first leaves it, at 10 000 */
    r = send_one("alice");
    CHECK_INT(r->throttled, 1);
    CHECK_INT(r->retry_after_ms, 9000);
    CHECK_INT(fx_count("/cgi-bin/message/send"), 5);
    wg_wecom_api_get_stats(api, &st);
    CHECK_INT(st.throttled, 3);
    teardown();
}

static void test_robot_quota(void)
{
    wg_wecom_api_options_t o = {0};
    rec_t *r;

    o.robot_per_minute = 2;
    o.clock_ms = test_clock;
    fake_now = 5000;
    setup_with(&o, NULL, NULL);
    for (int i = 0; i < 3; i++)
        CHECK(send_robot(ROBOT_KEY, "x") != NULL);
    CHECK_INT(fx_run_until(&nrecs, 3, 10000), 0);
    /* the throttled one completes first (nothing to send) */
    CHECK_INT(recs[0].cls, WG_WECOM_RETRY_LATER);
    CHECK_INT(recs[0].throttled, 1);
    CHECK_INT(recs[0].retry_after_ms, 60000);
    CHECK_INT(recs[1].cls, WG_WECOM_OK);
    CHECK_INT(recs[2].cls, WG_WECOM_OK);
    CHECK_INT(fx_count("/cgi-bin/webhook/send"), 2);
    CHECK_INT(wg_wecom_robot_wait_ms(corp, ROBOT_KEY), 60000);
    CHECK_INT(wg_wecom_robot_wait_ms(corp, "another-robot"), 0);
    fake_now = 65000;
    CHECK(send_robot(ROBOT_KEY, "x") != NULL);
    CHECK_INT(fx_run_until(&nrecs, 4, 10000), 0);
    r = &recs[3];
    CHECK_INT(r->cls, WG_WECOM_OK);
    teardown();
}

/* ---- lifecycle -------------------------------------------------------------------------- */

static void test_cancel(void)
{
    wg_wecom_call_t *a, *c;
    setup();
    a = send_md("alice", "a"); /* waits for the token */
    CHECK(send_md("bob", "b") != NULL);
    wg_wecom_call_cancel(a);
    CHECK_INT(fx_run_until(&nrecs, 1, 10000), 0);
    fx_spin(100);
    CHECK_INT(nrecs, 1);
    CHECK_INT(recs[0].cls, WG_WECOM_OK);
    /* token cached: this one is on the wire at once */
    c = send_md("carol", "c");
    wg_wecom_call_cancel(c);
    fx_spin(200);
    CHECK_INT(nrecs, 1);
    CHECK_INT(send_one("dave")->cls, WG_WECOM_OK);
    teardown();
}

static void test_free_with_pending(void)
{
    int ok = 0;
    setup();
    for (int i = 0; i < 3; i++)
        CHECK(send_md("alice", "x") != NULL);
    wg_wecom_api_free(api);
    api = NULL;
    CHECK_INT(nrecs, 3); /* completed inside the free */
    for (int i = 0; i < 3; i++)
        ok += recs[i].cls == WG_WECOM_RETRY_LATER && recs[i].http_error == WG_HTTP_ERR_SHUTDOWN;
    CHECK_INT(ok, 3);
    fx_spin(200);
    CHECK_INT(nrecs, 3);
    teardown();
}

static void on_msg_free(void *arg, const wg_wecom_result_t *res,
                        const wg_wecom_message_reply_t *rep)
{
    on_msg(arg, res, rep);
    if (api) {
        wg_wecom_api_t *a = api;
        api = NULL;
        wg_wecom_api_free(a);
    }
}

static void test_free_from_callback(void)
{
    char err[256];
    wg_wecom_message_t m = {0};
    int shutdown = 0;
    setup();
    CHECK_INT(send_one("alice")->cls, WG_WECOM_OK);
    fx_script("/cgi-bin/message/send", "[{\"action\":\"ok\"},{\"action\":\"ok\",\"delay_ms\":500},"
                                       "{\"action\":\"ok\",\"delay_ms\":500}]");
    m.touser = "alice";
    m.agentid = AGENT_ID;
    m.msgtype = WG_WECOM_MSG_TEXT;
    m.content = "x";
    for (int i = 0; i < 3; i++)
        CHECK(wg_wecom_message_send(corp, &m, on_msg_free, NULL, err, sizeof(err)) != NULL);
    CHECK_INT(fx_run_until(&nrecs, 4, 10000), 0);
    CHECK(api == NULL);
    for (int i = 1; i < 4; i++)
        shutdown += recs[i].http_error == WG_HTTP_ERR_SHUTDOWN;
    CHECK_INT(shutdown, 2);
    fx_spin(700);
    CHECK_INT(nrecs, 4);
    teardown();
}

static void test_options_and_corps(void)
{
    char err[256];
    wg_wecom_api_options_t o = {0};
    wg_wecom_corp_options_t co = {0};
    wg_wecom_api_t *a;

    o.member_per_minute = -2;
    CHECK(wg_wecom_api_new(fx.base, fx.http, &o, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "member_per_minute") != NULL);
    o.member_per_minute = -1; /* off */
    o.busy_delay_ms = -5;
    CHECK(wg_wecom_api_new(fx.base, fx.http, &o, err, sizeof(err)) == NULL);
    o.busy_delay_ms = 0;
    a = wg_wecom_api_new(fx.base, fx.http, &o, err, sizeof(err));
    CHECK(a != NULL);
    co.name = "c1";
    co.corp_id = "ww1";
    CHECK(wg_wecom_corp_add(a, &co, err, sizeof(err)) != NULL);
    CHECK(wg_wecom_corp_add(a, &co, err, sizeof(err)) == NULL); /* duplicate */
    co.name = "c2";
    co.base_url = "ftp://x";
    CHECK(wg_wecom_corp_add(a, &co, err, sizeof(err)) == NULL);
    co.base_url = "https://x/?q=1";
    CHECK(wg_wecom_corp_add(a, &co, err, sizeof(err)) == NULL);
    co.name = "bad name";
    co.base_url = NULL;
    CHECK(wg_wecom_corp_add(a, &co, err, sizeof(err)) == NULL);
    CHECK(wg_wecom_corp_find(a, "c1") != NULL);
    CHECK(wg_wecom_corp_find(a, "c2") == NULL);
    CHECK(wg_wecom_corp_set_secret(wg_wecom_corp_find(a, "c1"), "agent", "", err, sizeof(err)) ==
          -1);
    CHECK(strstr(err, "agent_secret") != NULL);
    CHECK_INT(wg_wecom_member_wait_ms(wg_wecom_corp_find(a, "c1"), "x"), 0); /* not enforced */
    wg_wecom_api_free(a);
    CHECK_STR(wg_wecom_class_name(WG_WECOM_PROTOCOL), "protocol");
}

int main(void)
{
    const char *args[] = {"--secret",    CORP_ID ":" AGENT_SECRET,
                          "--secret",    CORP_ID ":" CONTACT_SECRET,
                          "--robot-key", ROBOT_KEY,
                          NULL};
    if (fx_start(args) != 0)
        return 1;
    TEST_RUN(test_token_single_flight);
    TEST_RUN(test_refresh_on_42001);
    TEST_RUN(test_refresh_on_40014);
    TEST_RUN(test_token_rejected_twice);
    TEST_RUN(test_token_expiry_by_clock);
    TEST_RUN(test_long_tokens);
    TEST_RUN(test_wrong_secret_no_loop);
    TEST_RUN(test_untrusted_ip_60020);
    TEST_RUN(test_tls_verification_is_config);
    TEST_RUN(test_rate_limit_classes);
    TEST_RUN(test_permanent_keeps_errcode);
    TEST_RUN(test_transport_and_malformed);
    TEST_RUN(test_message_json);
    TEST_RUN(test_invalid_requests_refused);
    TEST_RUN(test_robot);
    TEST_RUN(test_external_contact);
    TEST_RUN(test_intercept_rules);
    TEST_RUN(test_raw_call);
    TEST_RUN(test_member_quota);
    TEST_RUN(test_robot_quota);
    TEST_RUN(test_cancel);
    TEST_RUN(test_free_with_pending);
    TEST_RUN(test_free_from_callback);
    TEST_RUN(test_options_and_corps);
    CHECK_INT(fx_stop(), 0);
    return TEST_DONE();
}
