/* Outbox channels: row to connector call, outcome to verdict (see channels.h). */
#include "gateway/outbox/channels.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* WeCom's rate-limit answers (PROTOCOL.md §5): frequency and concurrency limits. The row is
 * fine; it waits out the block without spending an attempt. */
#define WECOM_ERR_RATE_LIMIT 45009
#define WECOM_ERR_CONCURRENCY 45033
#define MAX_MENTIONED 100 /* robot mentioned_list entries taken from a row's target */

typedef struct corp_channels {
    const wg_config_corp_t *cfg;
    wg_wecom_api_t *api;
    wg_wecom_corp_t *wc;
} corp_channels_t;

struct wg_outbox_channels {
    struct event_base *base;
    wg_http_client_t *http;
    corp_channels_t *corps;
    size_t n_corps;
};

struct wg_outbox_send {
    wg_outbox_sent_cb cb;
    void *arg;
    wg_wecom_call_t *wcall;
    wg_webhook_call_t *hcall;
};

const char *wg_outbox_verdict_name(wg_outbox_verdict_t v)
{
    switch (v) {
    case WG_OUTBOX_SENT:
        return "sent";
    case WG_OUTBOX_RETRY:
        return "retry";
    case WG_OUTBOX_DEFER:
        return "defer";
    case WG_OUTBOX_DEAD:
        return "dead";
    }
    return "unknown";
}

static void outcome_set(wg_outbox_outcome_t *o, wg_outbox_verdict_t v, int64_t delay_ms,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void outcome_set(wg_outbox_outcome_t *o, wg_outbox_verdict_t v, int64_t delay_ms,
                        const char *fmt, ...)
{
    o->verdict = v;
    o->delay_ms = delay_ms;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->error, sizeof o->error, fmt, ap);
    va_end(ap);
}

/* ---- payloads ---- */

static const char *opt_string(json_t *obj, const char *key, int *bad)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        *bad = 1;
        return NULL;
    }
    return json_string_value(v);
}

int wg_outbox_message_parse(const wg_config_channel_t *ch, const char *payload, size_t len,
                            wg_outbox_message_t *m, json_t **json, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    *json = NULL;
    json_error_t je;
    json_t *root = json_loadb(payload, len, 0, &je);
    if (!root || !json_is_object(root)) {
        snprintf(err, errlen, "payload: not a JSON object");
        json_decref(root);
        return -1;
    }
    int bad = 0;
    const char *type = opt_string(root, "msgtype", &bad);
    m->content = opt_string(root, "content", &bad);
    m->title = opt_string(root, "title", &bad);
    m->description = opt_string(root, "description", &bad);
    m->url = opt_string(root, "url", &bad);
    m->btntxt = opt_string(root, "btntxt", &bad);
    if (bad) {
        snprintf(err, errlen,
                 "payload: msgtype, content, title, description, url and btntxt "
                 "must be strings");
        goto fail;
    }
    m->format = ch->format;
    if (type) {
        if (strcmp(type, "markdown") == 0)
            m->format = WG_FORMAT_MARKDOWN;
        else if (strcmp(type, "text") == 0)
            m->format = WG_FORMAT_TEXT;
        else if (strcmp(type, "textcard") == 0)
            m->format = WG_FORMAT_TEXTCARD;
        else {
            snprintf(err, errlen, "payload: msgtype must be markdown, text or textcard");
            goto fail;
        }
    }
    if (m->format == WG_FORMAT_TEXTCARD) {
        if (ch->type != WG_CHANNEL_WECOM_APP) {
            snprintf(err, errlen, "payload: textcard is for wecom_app channels only");
            goto fail;
        }
        if (!m->title || !m->description || !m->url) {
            snprintf(err, errlen, "payload: a textcard needs title, description and url");
            goto fail;
        }
    } else if (!m->content || !m->content[0]) {
        snprintf(err, errlen, "payload: content is required");
        goto fail;
    }
    *json = root;
    return 0;
fail:
    json_decref(root);
    return -1;
}

/* ---- outcomes ---- */

void wg_outbox_classify_wecom(const wg_wecom_result_t *res, const char *invaliduser,
                              wg_outbox_outcome_t *out)
{
    const char *msg = res->message && res->message[0] ? res->message : "no message";
    switch (res->cls) {
    case WG_WECOM_OK:
        if (invaliduser && invaliduser[0])
            outcome_set(out, WG_OUTBOX_SENT, 0, "delivered; WeCom reported invaliduser: %.200s",
                        invaliduser);
        else
            outcome_set(out, WG_OUTBOX_SENT, 0, "%s", "");
        return;
    case WG_WECOM_RETRY_LATER:
        if (res->throttled)
            outcome_set(out, WG_OUTBOX_DEFER, res->retry_after_ms, "held by quota: %s", msg);
        else if (res->has_errcode &&
                 (res->errcode == WECOM_ERR_RATE_LIMIT || res->errcode == WECOM_ERR_CONCURRENCY))
            outcome_set(out, WG_OUTBOX_DEFER, res->retry_after_ms, "rate limited: %s", msg);
        else
            outcome_set(out, WG_OUTBOX_RETRY, res->retry_after_ms, "%s", msg);
        return;
    case WG_WECOM_PROTOCOL:
        outcome_set(out, WG_OUTBOX_RETRY, res->retry_after_ms, "%s", msg);
        return;
    case WG_WECOM_CONFIG:
        outcome_set(out, WG_OUTBOX_DEAD, 0, "configuration: %s", msg);
        return;
    case WG_WECOM_PERMANENT:
        outcome_set(out, WG_OUTBOX_DEAD, 0, "refused: %s", msg);
        return;
    }
    outcome_set(out, WG_OUTBOX_RETRY, 0, "unknown outcome class %d", (int)res->cls);
}

void wg_outbox_classify_webhook(const wg_webhook_result_t *res, wg_outbox_outcome_t *out)
{
    const char *msg = res->message && res->message[0] ? res->message : "no message";
    switch (res->cls) {
    case WG_WEBHOOK_OK:
        outcome_set(out, WG_OUTBOX_SENT, 0, "%s", "");
        return;
    case WG_WEBHOOK_RETRY_LATER:
        outcome_set(out, WG_OUTBOX_RETRY, res->retry_after_ms, "%s", msg);
        return;
    case WG_WEBHOOK_CONFIG:
        outcome_set(out, WG_OUTBOX_DEAD, 0, "configuration: %s", msg);
        return;
    case WG_WEBHOOK_PERMANENT:
        outcome_set(out, WG_OUTBOX_DEAD, 0, "refused: %s", msg);
        return;
    }
    outcome_set(out, WG_OUTBOX_RETRY, 0, "unknown outcome class %d", (int)res->cls);
}

/* ---- sending ---- */

static void finish(wg_outbox_send_t *s, const wg_outbox_outcome_t *o)
{
    wg_outbox_sent_cb cb = s->cb;
    void *arg = s->arg;
    free(s);
    cb(arg, o);
}

static void on_message(void *arg, const wg_wecom_result_t *res,
                       const wg_wecom_message_reply_t *reply)
{
    wg_outbox_outcome_t o;
    wg_outbox_classify_wecom(res, reply ? reply->invaliduser : NULL, &o);
    finish(arg, &o);
}

static void on_robot(void *arg, const wg_wecom_result_t *res)
{
    wg_outbox_outcome_t o;
    wg_outbox_classify_wecom(res, NULL, &o);
    finish(arg, &o);
}

static void on_webhook(void *arg, const wg_webhook_result_t *res)
{
    wg_outbox_outcome_t o;
    wg_outbox_classify_webhook(res, &o);
    finish(arg, &o);
}

static const corp_channels_t *find_corp(const wg_outbox_channels_t *ch, const char *name)
{
    for (size_t i = 0; i < ch->n_corps; i++)
        if (strcmp(ch->corps[i].cfg->name, name) == 0)
            return &ch->corps[i];
    return NULL;
}

static wg_wecom_msgtype_t wecom_type(wg_channel_format_t f)
{
    return f == WG_FORMAT_TEXT       ? WG_WECOM_MSG_TEXT
           : f == WG_FORMAT_TEXTCARD ? WG_WECOM_MSG_TEXTCARD
                                     : WG_WECOM_MSG_MARKDOWN;
}

static int send_app(const corp_channels_t *cc, const wg_config_channel_t *cfg,
                    const wg_outbox_row_t *row, const wg_outbox_message_t *m, wg_outbox_send_t *s,
                    char *err, size_t errlen)
{
    const char *to = row->target[0] ? row->target : cfg->to;
    if (!to) {
        snprintf(err, errlen, "no recipients: the row has no target and channel %s no \"to\"",
                 cfg->name);
        return -1;
    }
    wg_wecom_message_t msg = {
        .touser = to,
        .agentid = (long)cc->cfg->agent_id,
        .msgtype = wecom_type(m->format),
        .content = m->content,
        .title = m->title,
        .description = m->description,
        .url = m->url,
        .btntxt = m->btntxt,
    };
    s->wcall = wg_wecom_message_send(cc->wc, &msg, on_message, s, err, errlen);
    return s->wcall ? 0 : -1;
}

static int send_robot(const corp_channels_t *cc, const wg_config_channel_t *cfg,
                      const wg_outbox_row_t *row, const wg_outbox_message_t *m, wg_outbox_send_t *s,
                      char *err, size_t errlen)
{
    const char *mentioned[MAX_MENTIONED];
    size_t n = 0;
    char *copy = NULL;
    const char *to = row->target[0] ? row->target : cfg->to;
    if (to && m->format == WG_FORMAT_TEXT) {
        if (!(copy = strdup(to))) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        char *save = NULL;
        for (char *t = strtok_r(copy, "|", &save); t && n < MAX_MENTIONED;
             t = strtok_r(NULL, "|", &save))
            mentioned[n++] = t;
    }
    wg_wecom_robot_message_t msg = {
        .key = cfg->key,
        .msgtype = m->format == WG_FORMAT_TEXT ? WG_WECOM_MSG_TEXT : WG_WECOM_MSG_MARKDOWN,
        .content = m->content,
        .mentioned_list = n ? mentioned : NULL,
        .n_mentioned = n,
    };
    s->wcall = wg_wecom_robot_send(cc->wc, &msg, on_robot, s, err, errlen);
    free(copy); /* the call copied what it needs */
    return s->wcall ? 0 : -1;
}

static int send_webhook(const wg_outbox_channels_t *ch, const wg_config_channel_t *cfg,
                        const wg_outbox_row_t *row, wg_outbox_send_t *s, char *err, size_t errlen)
{
    wg_webhook_request_t req = {
        .url = cfg->url,
        .secret = cfg->secret,
        .secret_len = strlen(cfg->secret),
        .delivery_id = row->key,
        .body = row->payload,
        .body_len = row->payload_len,
        .insecure_skip_verify = cfg->insecure,
    };
    s->hcall = wg_webhook_post(ch->http, &req, on_webhook, s, err, errlen);
    return s->hcall ? 0 : -1;
}

wg_outbox_send_t *wg_outbox_channels_send(wg_outbox_channels_t *ch, const wg_outbox_row_t *row,
                                          wg_outbox_sent_cb cb, void *arg, wg_outbox_outcome_t *now)
{
    const corp_channels_t *cc = find_corp(ch, row->corp);
    if (!cc) {
        outcome_set(now, WG_OUTBOX_DEAD, 0, "corp %.64s is not configured", row->corp);
        return NULL;
    }
    const wg_config_channel_t *cfg = wg_config_find_channel(cc->cfg, row->channel);
    if (!cfg) {
        outcome_set(now, WG_OUTBOX_DEAD, 0, "channel %.64s is not configured for corp %.64s",
                    row->channel, row->corp);
        return NULL;
    }
    wg_outbox_send_t *s = calloc(1, sizeof *s);
    if (!s) {
        outcome_set(now, WG_OUTBOX_RETRY, 0, "out of memory");
        return NULL;
    }
    s->cb = cb;
    s->arg = arg;
    char err[WG_OUTBOX_ERR_MAX - 40] = "";
    int rc;
    if (cfg->type == WG_CHANNEL_WEBHOOK) {
        rc = send_webhook(ch, cfg, row, s, err, sizeof err);
    } else {
        wg_outbox_message_t m;
        json_t *json = NULL;
        rc = wg_outbox_message_parse(cfg, row->payload, row->payload_len, &m, &json, err,
                                     sizeof err);
        if (rc == 0)
            rc = cfg->type == WG_CHANNEL_ROBOT ? send_robot(cc, cfg, row, &m, s, err, sizeof err)
                                               : send_app(cc, cfg, row, &m, s, err, sizeof err);
        json_decref(json); /* the connector copied the strings */
    }
    if (rc != 0) {
        free(s);
        if (strcmp(err, "out of memory") == 0)
            outcome_set(now, WG_OUTBOX_RETRY, 0, "%s", err);
        else
            outcome_set(now, WG_OUTBOX_DEAD, 0, "rejected before sending: %s", err);
        return NULL;
    }
    return s;
}

void wg_outbox_send_cancel(wg_outbox_send_t *s)
{
    if (!s)
        return;
    if (s->wcall)
        wg_wecom_call_cancel(s->wcall);
    if (s->hcall)
        wg_webhook_cancel(s->hcall);
    free(s);
}

/* ---- setup ---- */

static int quota(int configured)
{
    return configured == 0 ? -1 : configured; /* the API's 0 means WeCom's figure */
}

wg_outbox_channels_t *wg_outbox_channels_new(struct event_base *base, wg_http_client_t *http,
                                             const wg_config_t *cfg, char *err, size_t errlen)
{
    wg_outbox_channels_t *ch = calloc(1, sizeof *ch);
    if (!ch || !(ch->corps = calloc(cfg->n_corps ? cfg->n_corps : 1, sizeof *ch->corps))) {
        snprintf(err, errlen, "out of memory");
        free(ch);
        return NULL;
    }
    ch->base = base;
    ch->http = http;
    for (size_t i = 0; i < cfg->n_corps; i++) {
        const wg_config_corp_t *c = &cfg->corps[i];
        corp_channels_t *cc = &ch->corps[ch->n_corps++];
        cc->cfg = c;
        wg_wecom_api_options_t ao = {
            .member_per_minute = quota(c->quota_member_per_minute),
            .member_per_hour = quota(c->quota_member_per_hour),
            .robot_per_minute = quota(c->quota_robot_per_minute),
            .quota_minute_ms = c->quota_minute_ms,
            .quota_hour_ms = c->quota_hour_ms,
        };
        char why[200];
        cc->api = wg_wecom_api_new(base, http, &ao, why, sizeof why);
        if (!cc->api) {
            snprintf(err, errlen, "corp %s: WeCom API client: %s", c->name, why);
            goto fail;
        }
        wg_wecom_corp_options_t co = {
            .name = c->name,
            .corp_id = c->corp_id,
            .base_url = c->api_base,
            .insecure_skip_verify = c->api_insecure,
        };
        cc->wc = wg_wecom_corp_add(cc->api, &co, why, sizeof why);
        if (!cc->wc) {
            snprintf(err, errlen, "corp %s: %s", c->name, why);
            goto fail;
        }
        if (c->agent_secret &&
            wg_wecom_corp_set_secret(cc->wc, "agent", c->agent_secret, why, sizeof why) != 0) {
            snprintf(err, errlen, "corp %s: agent_secret: %s", c->name, why);
            goto fail;
        }
    }
    return ch;
fail:
    wg_outbox_channels_free(ch);
    return NULL;
}

void wg_outbox_channels_free(wg_outbox_channels_t *ch)
{
    if (!ch)
        return;
    for (size_t i = 0; i < ch->n_corps; i++)
        if (ch->corps[i].api)
            wg_wecom_api_free(ch->corps[i].api);
    free(ch->corps);
    free(ch);
}
