/* gateway/outbox without I/O: backoff and jitter bounds, the decision per outcome, payload
 * parsing per channel, and the mapping of connector outcomes to verdicts. */
#include <stdlib.h>
#include <string.h>

#include "gateway/outbox/channels.h"
#include "gateway/outbox/outbox.h"
#include "testlib.h"

static uint32_t xorshift(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void test_backoff_bounds(void)
{
    const wg_outbox_policy_t p = {
        .max_attempts = 10, .backoff_min_ms = 1000, .backoff_max_ms = 3600000};
    uint32_t s = 12345;
    for (int a = 1; a <= 40; a++) {
        int64_t base = 1000;
        for (int i = 1; i < a && base < p.backoff_max_ms; i++)
            base *= 2;
        if (base > p.backoff_max_ms)
            base = p.backoff_max_ms;
        int64_t lo = INT64_MAX, hi = 0;
        for (int k = 0; k < 2000; k++) {
            int64_t d = wg_outbox_backoff_ms(&p, a, xorshift(&s));
            lo = d < lo ? d : lo;
            hi = d > hi ? d : hi;
        }
        /* [base, 1.5 base], capped; never under min nor over max */
        CHECK(lo >= base);
        CHECK(hi <= base + base / 2 && hi <= p.backoff_max_ms);
        CHECK(lo >= p.backoff_min_ms);
        if (base * 3 / 2 <= p.backoff_max_ms && base >= 1000)
            CHECK(hi - lo > base / 4); /* the jitter spreads */
    }
    /* the extremes of rnd */
    CHECK_INT(wg_outbox_backoff_ms(&p, 1, 0), 1000);
    CHECK_INT(wg_outbox_backoff_ms(&p, 1, 500), 1500);
    CHECK_INT(wg_outbox_backoff_ms(&p, 1, 501), 1000);
    CHECK_INT(wg_outbox_backoff_ms(&p, 3, 0), 4000);
    CHECK_INT(wg_outbox_backoff_ms(&p, 1000, UINT32_MAX), 3600000);
    CHECK_INT(wg_outbox_backoff_ms(&p, 0, 0), 1000);
    /* min == max: no jitter room */
    const wg_outbox_policy_t flat = {.max_attempts = 3, .backoff_min_ms = 50, .backoff_max_ms = 50};
    for (uint32_t r = 0; r < 100; r++)
        CHECK_INT(wg_outbox_backoff_ms(&flat, (int)r % 7 + 1, r * 7919u), 50);
}

static void test_decide(void)
{
    const wg_outbox_policy_t p = {
        .max_attempts = 3, .backoff_min_ms = 100, .backoff_max_ms = 10000};
    wg_outbox_outcome_t o = {0};
    wg_outbox_decision_t d;

    o.verdict = WG_OUTBOX_SENT;
    wg_outbox_decide(&p, 1, &o, 7, &d);
    CHECK_STR(d.status, "sent");
    CHECK_INT(d.undo_attempt, 0);

    o.verdict = WG_OUTBOX_DEAD;
    wg_outbox_decide(&p, 1, &o, 7, &d);
    CHECK_STR(d.status, "dead");
    CHECK_INT(d.gave_up, 0);

    o.verdict = WG_OUTBOX_RETRY;
    o.delay_ms = 0;
    wg_outbox_decide(&p, 1, &o, 0, &d);
    CHECK_STR(d.status, "pending");
    CHECK_INT(d.delay_ms, 100);
    wg_outbox_decide(&p, 2, &o, 0, &d);
    CHECK_INT(d.delay_ms, 200);
    wg_outbox_decide(&p, 3, &o, 0, &d); /* the last attempt failed */
    CHECK_STR(d.status, "dead");
    CHECK_INT(d.gave_up, 1);
    wg_outbox_decide(&p, 7, &o, 0, &d); /* past it (max_attempts lowered since) */
    CHECK_STR(d.status, "dead");

    /* a server's Retry-After is a floor */
    o.delay_ms = 5000;
    wg_outbox_decide(&p, 1, &o, 0, &d);
    CHECK_INT(d.delay_ms, 5000);
    o.delay_ms = 10;
    wg_outbox_decide(&p, 2, &o, 0, &d);
    CHECK_INT(d.delay_ms, 200);

    /* defer: the given delay plus up to a tenth, the attempt undone, never dead */
    o.verdict = WG_OUTBOX_DEFER;
    o.delay_ms = 60000;
    uint32_t s = 99;
    for (int k = 0; k < 1000; k++) {
        wg_outbox_decide(&p, 3, &o, xorshift(&s), &d);
        CHECK_STR(d.status, "pending");
        CHECK_INT(d.undo_attempt, 1);
        CHECK(d.delay_ms >= 60000 && d.delay_ms <= 66000);
    }
    o.delay_ms = 0; /* no hint: the minimum backoff */
    wg_outbox_decide(&p, 1, &o, 0, &d);
    CHECK_INT(d.delay_ms, 100);
}

/* ---- payloads ---- */

static wg_config_channel_t channel(wg_channel_type_t type, wg_channel_format_t format)
{
    wg_config_channel_t ch;
    memset(&ch, 0, sizeof ch);
    ch.name = "test";
    ch.type = type;
    ch.format = format;
    return ch;
}

static int parse(const wg_config_channel_t *ch, const char *payload, wg_outbox_message_t *m,
                 char *err)
{
    json_t *json = NULL;
    int rc = wg_outbox_message_parse(ch, payload, strlen(payload), m, &json, err, 200);
    if (rc == 0) {
        CHECK(json != NULL);
        /* m's strings live in json: copy what the checks need first */
        static char content[256];
        snprintf(content, sizeof content, "%s", m->content ? m->content : "(null)");
        m->content = content;
        m->title = m->title ? "set" : NULL;
        m->description = m->description ? "set" : NULL;
        m->url = m->url ? "set" : NULL;
        m->btntxt = m->btntxt ? "set" : NULL;
    } else {
        CHECK(json == NULL);
    }
    json_decref(json);
    return rc;
}

static void test_message_parse(void)
{
    char err[200];
    wg_outbox_message_t m;
    wg_config_channel_t app = channel(WG_CHANNEL_WECOM_APP, WG_FORMAT_MARKDOWN);
    wg_config_channel_t robot = channel(WG_CHANNEL_ROBOT, WG_FORMAT_TEXT);

    CHECK_INT(parse(&app, "{\"content\": \"**hi**\"}", &m, err), 0);
    CHECK_INT(m.format, WG_FORMAT_MARKDOWN); /* the channel's default */
    CHECK_STR(m.content, "**hi**");
    CHECK_INT(parse(&robot, "{\"content\": \"hi\"}", &m, err), 0);
    CHECK_INT(m.format, WG_FORMAT_TEXT);
    CHECK_INT(parse(&robot, "{\"msgtype\": \"markdown\", \"content\": \"hi\"}", &m, err), 0);
    CHECK_INT(m.format, WG_FORMAT_MARKDOWN); /* the row's own msgtype wins */
    CHECK_INT(parse(&app,
                    "{\"msgtype\": \"textcard\", \"title\": \"t\", \"description\": \"d\", "
                    "\"url\": \"https://x\"}",
                    &m, err),
              0);
    CHECK_INT(m.format, WG_FORMAT_TEXTCARD);
    CHECK(m.title && m.description && m.url && !m.btntxt);

    static const struct {
        const char *payload;
        const char *err;
        int robot;
    } bad[] = {
        {"[1]", "payload: not a JSON object", 0},
        {"{\"content\": ", "payload: not a JSON object", 0},
        {"{}", "payload: content is required", 0},
        {"{\"content\": \"\"}", "payload: content is required", 1},
        {"{\"content\": 5}",
         "payload: msgtype, content, title, description, url and btntxt "
         "must be strings",
         0},
        {"{\"msgtype\": \"news\", \"content\": \"x\"}",
         "payload: msgtype must be markdown, text or textcard", 0},
        {"{\"msgtype\": \"textcard\", \"title\": \"t\", \"url\": \"u\"}",
         "payload: a textcard needs title, description and url", 0},
        {"{\"msgtype\": \"textcard\", \"title\": \"t\", \"description\": \"d\", \"url\": \"u\"}",
         "payload: textcard is for wecom_app channels only", 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        CHECK_INT(parse(bad[i].robot ? &robot : &app, bad[i].payload, &m, err), -1);
        CHECK_STR(err, bad[i].err);
    }
}

/* ---- outcomes ---- */

static void test_classify_wecom(void)
{
    wg_outbox_outcome_t o;
    wg_wecom_result_t r;

    memset(&r, 0, sizeof r);
    r.cls = WG_WECOM_OK;
    r.message = "";
    wg_outbox_classify_wecom(&r, NULL, &o);
    CHECK_INT(o.verdict, WG_OUTBOX_SENT);
    CHECK_STR(o.error, "");
    wg_outbox_classify_wecom(&r, "ghost|nobody", &o);
    CHECK_INT(o.verdict, WG_OUTBOX_SENT); /* the others got it: never send it again */
    CHECK(strstr(o.error, "invaliduser: ghost|nobody") != NULL);

    /* our own quota: held */
    r.cls = WG_WECOM_RETRY_LATER;
    r.throttled = 1;
    r.retry_after_ms = 1234;
    r.message = "quota";
    wg_outbox_classify_wecom(&r, NULL, &o);
    CHECK_INT(o.verdict, WG_OUTBOX_DEFER);
    CHECK_INT(o.delay_ms, 1234);
    CHECK(strncmp(o.error, "held by quota", 13) == 0);

    /* WeCom's rate limits: held; busy and transport: retried */
    r.throttled = 0;
    r.has_errcode = 1;
    r.errcode = 45009;
    r.retry_after_ms = 60000;
    wg_outbox_classify_wecom(&r, NULL, &o);
    CHECK_INT(o.verdict, WG_OUTBOX_DEFER);
    CHECK_INT(o.delay_ms, 60000);
    r.errcode = 45033;
    wg_outbox_classify_wecom(&r, NULL, &o);
    CHECK_INT(o.verdict, WG_OUTBOX_DEFER);
    r.errcode = -1;
    r.retry_after_ms = 1000;
    wg_outbox_classify_wecom(&r, NULL, &o);
    CHECK_INT(o.verdict, WG_OUTBOX_RETRY);
    CHECK_INT(o.delay_ms, 1000);
    r.has_errcode = 0;
    r.errcode = 0;
    r.http_status = 502;
    r.message = "HTTP 502";
    wg_outbox_classify_wecom(&r, NULL, &o);
    CHECK_INT(o.verdict, WG_OUTBOX_RETRY);
    CHECK_STR(o.error, "HTTP 502");

    r.cls = WG_WECOM_PROTOCOL;
    wg_outbox_classify_wecom(&r, NULL, &o);
    CHECK_INT(o.verdict, WG_OUTBOX_RETRY);

    /* a configuration fault does not heal by retrying */
    r.cls = WG_WECOM_CONFIG;
    r.has_errcode = 1;
    r.errcode = 40001;
    r.message = "corp demo: secret 'agent' rejected (40001): check agent_secret";
    wg_outbox_classify_wecom(&r, NULL, &o);
    CHECK_INT(o.verdict, WG_OUTBOX_DEAD);
    CHECK_STR(o.error,
              "configuration: corp demo: secret 'agent' rejected (40001): check agent_secret");
    r.cls = WG_WECOM_PERMANENT;
    r.errcode = 40008;
    r.message = "bad msgtype";
    wg_outbox_classify_wecom(&r, NULL, &o);
    CHECK_INT(o.verdict, WG_OUTBOX_DEAD);
    CHECK_STR(o.error, "refused: bad msgtype");
}

static void test_classify_webhook(void)
{
    wg_outbox_outcome_t o;
    wg_webhook_result_t r;
    memset(&r, 0, sizeof r);
    r.cls = WG_WEBHOOK_OK;
    r.http_status = 204;
    wg_outbox_classify_webhook(&r, &o);
    CHECK_INT(o.verdict, WG_OUTBOX_SENT);
    r.cls = WG_WEBHOOK_RETRY_LATER;
    r.http_status = 503;
    r.retry_after_ms = 30000;
    r.message = "hooks.example.com: HTTP 503";
    wg_outbox_classify_webhook(&r, &o);
    CHECK_INT(o.verdict, WG_OUTBOX_RETRY);
    CHECK_INT(o.delay_ms, 30000);
    CHECK_STR(o.error, "hooks.example.com: HTTP 503");
    r.cls = WG_WEBHOOK_CONFIG;
    r.message = "certificate";
    wg_outbox_classify_webhook(&r, &o);
    CHECK_INT(o.verdict, WG_OUTBOX_DEAD);
    CHECK_STR(o.error, "configuration: certificate");
    r.cls = WG_WEBHOOK_PERMANENT;
    r.message = NULL;
    wg_outbox_classify_webhook(&r, &o);
    CHECK_INT(o.verdict, WG_OUTBOX_DEAD);
    CHECK_STR(o.error, "refused: no message");
}

static void test_names(void)
{
    CHECK_STR(wg_outbox_verdict_name(WG_OUTBOX_SENT), "sent");
    CHECK_STR(wg_outbox_verdict_name(WG_OUTBOX_RETRY), "retry");
    CHECK_STR(wg_outbox_verdict_name(WG_OUTBOX_DEFER), "defer");
    CHECK_STR(wg_outbox_verdict_name(WG_OUTBOX_DEAD), "dead");
}

int main(void)
{
    TEST_RUN(test_backoff_bounds);
    TEST_RUN(test_decide);
    TEST_RUN(test_message_parse);
    TEST_RUN(test_classify_wecom);
    TEST_RUN(test_classify_webhook);
    TEST_RUN(test_names);
    return TEST_DONE();
}
