/* The typed WeCom API calls: request checks and JSON (jansson escapes every caller string), and
 * the reply structs handed to callers. Tokens, quotas, retries and classes are api.c's. */
#include "connectors/wecom/api_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* WeCom's documented field limits (message/send, add_intercept_rule). */
#define TEXTCARD_TITLE_MAX 128 /* bytes */
#define TEXTCARD_DESC_MAX 512  /* bytes */
#define TEXTCARD_URL_MAX 2048  /* bytes */
#define TEXTCARD_BTNTXT_MAX 4  /* characters */
#define RULE_NAME_MAX 20       /* characters */
#define RULE_WORD_MAX 32       /* characters */
#define RULE_WORDS_MAX 300
#define RULE_RANGE_MAX 1000 /* users or departments in applicable_range */
#define MENTIONED_MAX 1000
#define ID_MAX 256       /* external_userid, cursor: WeCom's are ~32-64 chars */
#define MAX_ITEMS 100000 /* follow_user / rule_list entries we take from one reply */

/* UTF-8 characters in s (continuation bytes not counted). */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

/* obj[key] = s; -1 with err when s is not valid UTF-8 (jansson refuses it) or out of memory. */
static int set_str(json_t *obj, const char *key, const char *s, char *err, size_t errlen)
{
    json_t *v = json_string(s);
    if (v == NULL) {
        snprintf(err, errlen, "%s is not valid UTF-8", key);
        return -1;
    }
    if (json_object_set_new(obj, key, v) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static int set_int(json_t *obj, const char *key, json_int_t n, char *err, size_t errlen)
{
    if (json_object_set_new(obj, key, json_integer(n)) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* obj[key] = [strings]; an empty list is still set. */
static int set_str_array(json_t *obj, const char *key, const char *const *v, size_t n, char *err,
                         size_t errlen)
{
    json_t *a = json_array();
    if (a == NULL || json_object_set_new(obj, key, a) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *s = v[i] ? json_string(v[i]) : NULL;
        if (s == NULL) {
            snprintf(err, errlen, "%s[%zu] is missing or not valid UTF-8", key, i);
            return -1;
        }
        if (json_array_append_new(a, s) != 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

/* The document as compact UTF-8 text (malloc'd), or NULL with err. */
static char *dump(json_t *doc, char *err, size_t errlen)
{
    char *s = json_dumps(doc, JSON_COMPACT);
    if (s == NULL)
        snprintf(err, errlen, "out of memory");
    return s;
}

static int too_long(const char *field, const char *s, size_t max, char *err, size_t errlen)
{
    size_t n = strlen(s);
    if (n > max) {
        snprintf(err, errlen, "%s is %zu bytes, over WeCom's %zu", field, n, max);
        return 1;
    }
    return 0;
}

static int empty(const char *s)
{
    return s == NULL || s[0] == '\0';
}

/* ---- message/send --------------------------------------------------------------------------- */

static void deliver_message(void (*cb)(void), void *arg, const wg_wecom_result_t *res, json_t *root,
                            const char *body, size_t body_len)
{
    wg_wecom_message_cb fn = (wg_wecom_message_cb)cb;
    wg_wecom_message_reply_t r;
    (void)body, (void)body_len;
    if (root == NULL || !json_is_object(root)) {
        fn(arg, res, NULL);
        return;
    }
    r.invaliduser = wg__wecom_jstr(root, "invaliduser");
    r.invalidparty = wg__wecom_jstr(root, "invalidparty");
    r.invalidtag = wg__wecom_jstr(root, "invalidtag");
    r.unlicenseduser = wg__wecom_jstr(root, "unlicenseduser");
    r.msgid = wg__wecom_jstr(root, "msgid");
    fn(arg, res, &r);
}

static json_t *message_json(const wg_wecom_message_t *m, char *err, size_t errlen)
{
    json_t *doc = json_object(), *inner = json_object();
    const char *type;

    if (doc == NULL || inner == NULL) {
        json_decref(inner);
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    switch (m->msgtype) {
    case WG_WECOM_MSG_TEXT:
    case WG_WECOM_MSG_MARKDOWN:
        type = m->msgtype == WG_WECOM_MSG_TEXT ? "text" : "markdown";
        if (empty(m->content)) {
            snprintf(err, errlen, "%s message needs content", type);
            json_decref(inner);
            goto fail;
        }
        if (too_long("content", m->content,
                     m->msgtype == WG_WECOM_MSG_TEXT ? WG_WECOM_TEXT_MAX : WG_WECOM_MARKDOWN_MAX,
                     err, errlen) ||
            set_str(inner, "content", m->content, err, errlen) != 0) {
            json_decref(inner);
            goto fail;
        }
        break;
    case WG_WECOM_MSG_TEXTCARD:
        type = "textcard";
        if (empty(m->title) || empty(m->description) || empty(m->url)) {
            snprintf(err, errlen, "textcard needs title, description and url");
            json_decref(inner);
            goto fail;
        }
        if (too_long("title", m->title, TEXTCARD_TITLE_MAX, err, errlen) ||
            too_long("description", m->description, TEXTCARD_DESC_MAX, err, errlen) ||
            too_long("url", m->url, TEXTCARD_URL_MAX, err, errlen) ||
            set_str(inner, "title", m->title, err, errlen) != 0 ||
            set_str(inner, "description", m->description, err, errlen) != 0 ||
            set_str(inner, "url", m->url, err, errlen) != 0) {
            json_decref(inner);
            goto fail;
        }
        if (!empty(m->btntxt)) {
            if (utf8_chars(m->btntxt) > TEXTCARD_BTNTXT_MAX) {
                snprintf(err, errlen, "btntxt is over %d characters", TEXTCARD_BTNTXT_MAX);
                json_decref(inner);
                goto fail;
            }
            if (set_str(inner, "btntxt", m->btntxt, err, errlen) != 0) {
                json_decref(inner);
                goto fail;
            }
        }
        break;
    default:
        snprintf(err, errlen, "unknown msgtype %d", (int)m->msgtype);
        json_decref(inner);
        goto fail;
    }
    if (json_object_set_new(doc, type, inner) != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (set_str(doc, "touser", m->touser, err, errlen) != 0 ||
        set_str(doc, "msgtype", type, err, errlen) != 0 ||
        set_int(doc, "agentid", m->agentid, err, errlen) != 0)
        goto fail;
    if (m->safe && m->msgtype != WG_WECOM_MSG_MARKDOWN && set_int(doc, "safe", 1, err, errlen) != 0)
        goto fail;
    if (m->enable_duplicate_check) {
        if (set_int(doc, "enable_duplicate_check", 1, err, errlen) != 0)
            goto fail;
        if (m->duplicate_check_interval > 0 &&
            set_int(doc, "duplicate_check_interval", m->duplicate_check_interval, err, errlen) != 0)
            goto fail;
    }
    return doc;
fail:
    json_decref(doc);
    return NULL;
}

wg_wecom_call_t *wg_wecom_message_send(wg_wecom_corp_t *corp, const wg_wecom_message_t *msg,
                                       wg_wecom_message_cb cb, void *arg, char *err, size_t errlen)
{
    wg_wecom_spec_t spec = {0};
    wg_wecom_call_t *call = NULL;
    const char **ids = NULL;
    char *buf = NULL;
    json_t *doc = NULL;
    int n;

    if (corp == NULL || msg == NULL || cb == NULL) {
        snprintf(err, errlen, "a corp, a message and a callback are required");
        return NULL;
    }
    if (empty(msg->touser)) {
        snprintf(err, errlen, "message/send needs touser");
        return NULL;
    }
    if (msg->agentid <= 0) {
        snprintf(err, errlen, "message/send needs the app's agentid");
        return NULL;
    }
    buf = malloc(WG__WECOM_TOUSER_MAX);
    ids = malloc(WG_WECOM_MESSAGE_MAX_USERS * sizeof(*ids));
    if (buf == NULL || ids == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    n = wg__wecom_split_users(msg->touser, buf, WG__WECOM_TOUSER_MAX, ids);
    if (n < 0) {
        snprintf(err, errlen, "touser must be 1..%d non-empty ids separated by '|'",
                 WG_WECOM_MESSAGE_MAX_USERS);
        goto done;
    }
    doc = message_json(msg, err, errlen);
    if (doc == NULL)
        goto done;
    spec.body = dump(doc, err, errlen);
    if (spec.body == NULL)
        goto done;
    spec.endpoint = "message/send";
    spec.secret = msg->secret ? msg->secret : "agent";
    spec.method = "POST";
    spec.path = "/cgi-bin/message/send";
    spec.deliver = deliver_message;
    spec.cb = (void (*)(void))cb;
    spec.arg = arg;
    spec.quota = WG_WECOM_QUOTA_MEMBERS;
    spec.quota_keys = ids;
    spec.n_quota_keys = (size_t)n;
    call = wg__wecom_submit(corp, &spec, err, errlen);
done:
    free(spec.body); /* NULL once the call owns it */
    json_decref(doc);
    free(ids);
    free(buf);
    return call;
}

/* ---- group robot ---------------------------------------------------------------------------- */

static void deliver_robot(void (*cb)(void), void *arg, const wg_wecom_result_t *res, json_t *root,
                          const char *body, size_t body_len)
{
    (void)root, (void)body, (void)body_len;
    ((wg_wecom_robot_cb)cb)(arg, res);
}

wg_wecom_call_t *wg_wecom_robot_send(wg_wecom_corp_t *corp, const wg_wecom_robot_message_t *msg,
                                     wg_wecom_robot_cb cb, void *arg, char *err, size_t errlen)
{
    wg_wecom_spec_t spec = {0};
    wg_wecom_call_t *call = NULL;
    json_t *doc = NULL, *inner = NULL;
    char query[512] = "key=";
    const char *type;
    const char *key;

    if (corp == NULL || msg == NULL || cb == NULL) {
        snprintf(err, errlen, "a corp, a message and a callback are required");
        return NULL;
    }
    if (empty(msg->key) || strlen(msg->key) > 128 ||
        wg__wecom_urlencode(query, sizeof(query), msg->key) != 0) {
        snprintf(err, errlen, "robot message needs a key (at most 128 bytes)");
        return NULL;
    }
    key = msg->key;
    if (msg->msgtype != WG_WECOM_MSG_TEXT && msg->msgtype != WG_WECOM_MSG_MARKDOWN) {
        snprintf(err, errlen, "a robot sends text or markdown");
        return NULL;
    }
    type = msg->msgtype == WG_WECOM_MSG_TEXT ? "text" : "markdown";
    if (empty(msg->content)) {
        snprintf(err, errlen, "robot %s message needs content", type);
        return NULL;
    }
    if (too_long("content", msg->content,
                 msg->msgtype == WG_WECOM_MSG_TEXT ? WG_WECOM_ROBOT_TEXT_MAX
                                                   : WG_WECOM_ROBOT_MARKDOWN_MAX,
                 err, errlen))
        return NULL;
    if (msg->n_mentioned > MENTIONED_MAX || msg->n_mentioned_mobile > MENTIONED_MAX ||
        (msg->n_mentioned && msg->mentioned_list == NULL) ||
        (msg->n_mentioned_mobile && msg->mentioned_mobile_list == NULL)) {
        snprintf(err, errlen, "mention lists: at most %d entries each", MENTIONED_MAX);
        return NULL;
    }
    if ((msg->n_mentioned || msg->n_mentioned_mobile) && msg->msgtype != WG_WECOM_MSG_TEXT) {
        snprintf(err, errlen, "mentions are for text messages (markdown uses <@userid>)");
        return NULL;
    }
    doc = json_object();
    inner = json_object();
    if (doc == NULL || inner == NULL || json_object_set_new(doc, type, inner) != 0) {
        if (doc == NULL || json_object_get(doc, type) != inner)
            json_decref(inner);
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    if (set_str(doc, "msgtype", type, err, errlen) != 0 ||
        set_str(inner, "content", msg->content, err, errlen) != 0)
        goto done;
    if (msg->n_mentioned && set_str_array(inner, "mentioned_list", msg->mentioned_list,
                                          msg->n_mentioned, err, errlen) != 0)
        goto done;
    if (msg->n_mentioned_mobile &&
        set_str_array(inner, "mentioned_mobile_list", msg->mentioned_mobile_list,
                      msg->n_mentioned_mobile, err, errlen) != 0)
        goto done;
    spec.body = dump(doc, err, errlen);
    if (spec.body == NULL)
        goto done;
    spec.endpoint = "webhook/send";
    spec.secret = NULL; /* the key is the credential */
    spec.method = "POST";
    spec.path = "/cgi-bin/webhook/send";
    spec.query = query;
    spec.deliver = deliver_robot;
    spec.cb = (void (*)(void))cb;
    spec.arg = arg;
    spec.quota = WG_WECOM_QUOTA_ROBOT;
    spec.quota_keys = &key;
    spec.n_quota_keys = 1;
    call = wg__wecom_submit(corp, &spec, err, errlen);
done:
    free(spec.body);
    json_decref(doc);
    return call;
}

/* ---- externalcontact/get -------------------------------------------------------------------- */

/* Passes the caller a copy of res saying the reply could not be taken apart (out of memory). */
static void deliver_oom(const wg_wecom_result_t *res, wg_wecom_result_t *copy)
{
    *copy = *res;
    copy->cls = WG_WECOM_RETRY_LATER;
    copy->retry_after_ms = 1000;
    copy->message = "out of memory while reading the reply";
}

static void deliver_contact(void (*cb)(void), void *arg, const wg_wecom_result_t *res, json_t *root,
                            const char *body, size_t body_len)
{
    wg_wecom_external_contact_cb fn = (wg_wecom_external_contact_cb)cb;
    wg_wecom_external_contact_t c = {0};
    wg_wecom_follow_user_t *fu = NULL;
    const json_t *ec, *list;
    size_t n;
    (void)body, (void)body_len;

    if (root == NULL || !json_is_object(root)) {
        fn(arg, res, NULL);
        return;
    }
    ec = json_object_get(root, "external_contact");
    c.external_userid = wg__wecom_jstr(ec, "external_userid");
    c.name = wg__wecom_jstr(ec, "name");
    c.avatar = wg__wecom_jstr(ec, "avatar");
    c.corp_name = wg__wecom_jstr(ec, "corp_name");
    c.corp_full_name = wg__wecom_jstr(ec, "corp_full_name");
    c.position = wg__wecom_jstr(ec, "position");
    c.unionid = wg__wecom_jstr(ec, "unionid");
    c.type = (int)wg__wecom_jint(ec, "type");
    c.gender = (int)wg__wecom_jint(ec, "gender");
    c.next_cursor = wg__wecom_jstr(root, "next_cursor");
    list = json_object_get(root, "follow_user");
    n = json_is_array(list) ? json_array_size(list) : 0;
    if (n > MAX_ITEMS)
        n = MAX_ITEMS;
    if (n) {
        fu = calloc(n, sizeof(*fu));
        if (fu == NULL) {
            wg_wecom_result_t copy;
            deliver_oom(res, &copy);
            fn(arg, &copy, NULL);
            return;
        }
        for (size_t i = 0; i < n; i++) {
            const json_t *u = json_array_get(list, i);
            fu[i].userid = wg__wecom_jstr(u, "userid");
            fu[i].remark = wg__wecom_jstr(u, "remark");
            fu[i].description = wg__wecom_jstr(u, "description");
            fu[i].state = wg__wecom_jstr(u, "state");
            fu[i].oper_userid = wg__wecom_jstr(u, "oper_userid");
            fu[i].createtime = wg__wecom_jint(u, "createtime");
            fu[i].add_way = (int)wg__wecom_jint(u, "add_way");
        }
    }
    c.follow_user = fu;
    c.n_follow_user = n;
    fn(arg, res, &c);
    free(fu);
}

wg_wecom_call_t *wg_wecom_external_contact_get(wg_wecom_corp_t *corp,
                                               const wg_wecom_external_contact_req_t *req,
                                               wg_wecom_external_contact_cb cb, void *arg,
                                               char *err, size_t errlen)
{
    wg_wecom_spec_t spec = {0};
    char query[4 * ID_MAX + 64] = "external_userid=";

    if (corp == NULL || req == NULL || cb == NULL) {
        snprintf(err, errlen, "a corp, a request and a callback are required");
        return NULL;
    }
    if (empty(req->external_userid) || strlen(req->external_userid) > ID_MAX ||
        (req->cursor && strlen(req->cursor) > ID_MAX)) {
        snprintf(err, errlen,
                 "externalcontact/get needs an external_userid (and cursor) of at "
                 "most %d bytes",
                 ID_MAX);
        return NULL;
    }
    wg__wecom_urlencode(query, sizeof(query), req->external_userid);
    if (!empty(req->cursor)) {
        strcat(query, "&cursor=");
        wg__wecom_urlencode(query, sizeof(query), req->cursor);
    }
    spec.endpoint = "externalcontact/get";
    spec.secret = req->secret ? req->secret : wg__wecom_contact_secret(corp);
    spec.method = "GET";
    spec.path = "/cgi-bin/externalcontact/get";
    spec.query = query;
    spec.deliver = deliver_contact;
    spec.cb = (void (*)(void))cb;
    spec.arg = arg;
    return wg__wecom_submit(corp, &spec, err, errlen);
}

/* ---- externalcontact/add_intercept_rule ----------------------------------------------------- */

static void deliver_rule_add(void (*cb)(void), void *arg, const wg_wecom_result_t *res,
                             json_t *root, const char *body, size_t body_len)
{
    wg_wecom_intercept_rule_cb fn = (wg_wecom_intercept_rule_cb)cb;
    wg_wecom_intercept_rule_reply_t r;
    (void)body, (void)body_len;
    if (root == NULL || !json_is_object(root)) {
        fn(arg, res, NULL);
        return;
    }
    r.rule_id = wg__wecom_jstr(root, "rule_id");
    fn(arg, res, &r);
}

static json_t *rule_json(const wg_wecom_intercept_rule_req_t *q, char *err, size_t errlen)
{
    json_t *doc = json_object(), *range = json_object(), *deps = NULL, *sem = NULL;

    if (doc == NULL || range == NULL || json_object_set_new(doc, "applicable_range", range) != 0) {
        if (doc == NULL || json_object_get(doc, "applicable_range") != range)
            json_decref(range);
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (set_str(doc, "rule_name", q->rule_name, err, errlen) != 0 ||
        set_str_array(doc, "word_list", q->word_list, q->n_words, err, errlen) != 0 ||
        set_int(doc, "intercept_type", q->intercept_type, err, errlen) != 0)
        goto fail;
    if (q->n_users && set_str_array(range, "user_list", q->user_list, q->n_users, err, errlen) != 0)
        goto fail;
    if (q->n_departments) {
        deps = json_array();
        if (deps == NULL || json_object_set_new(range, "department_list", deps) != 0) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < q->n_departments; i++)
            if (json_array_append_new(deps, json_integer(q->department_list[i])) != 0) {
                snprintf(err, errlen, "out of memory");
                goto fail;
            }
    }
    if (q->n_semantics) {
        sem = json_array();
        if (sem == NULL || json_object_set_new(doc, "semantics_list", sem) != 0) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < q->n_semantics; i++)
            if (json_array_append_new(sem, json_integer(q->semantics_list[i])) != 0) {
                snprintf(err, errlen, "out of memory");
                goto fail;
            }
    }
    return doc;
fail:
    json_decref(doc);
    return NULL;
}

wg_wecom_call_t *wg_wecom_intercept_rule_add(wg_wecom_corp_t *corp,
                                             const wg_wecom_intercept_rule_req_t *req,
                                             wg_wecom_intercept_rule_cb cb, void *arg, char *err,
                                             size_t errlen)
{
    wg_wecom_spec_t spec = {0};
    wg_wecom_call_t *call = NULL;
    json_t *doc;

    if (corp == NULL || req == NULL || cb == NULL) {
        snprintf(err, errlen, "a corp, a request and a callback are required");
        return NULL;
    }
    if (empty(req->rule_name) || utf8_chars(req->rule_name) > RULE_NAME_MAX) {
        snprintf(err, errlen, "rule_name must be 1..%d characters", RULE_NAME_MAX);
        return NULL;
    }
    if (req->n_words < 1 || req->n_words > RULE_WORDS_MAX || req->word_list == NULL) {
        snprintf(err, errlen, "rule %s: word_list must hold 1..%d words (got %zu)", req->rule_name,
                 RULE_WORDS_MAX, req->n_words);
        return NULL;
    }
    for (size_t i = 0; i < req->n_words; i++)
        if (empty(req->word_list[i]) || utf8_chars(req->word_list[i]) > RULE_WORD_MAX) {
            snprintf(err, errlen, "rule %s: word %zu must be 1..%d characters", req->rule_name, i,
                     RULE_WORD_MAX);
            return NULL;
        }
    if (req->intercept_type != 1 && req->intercept_type != 2) {
        snprintf(err, errlen, "rule %s: intercept_type must be 1 (warn and block) or 2 (warn)",
                 req->rule_name);
        return NULL;
    }
    if ((req->n_users == 0 && req->n_departments == 0) || req->n_users > RULE_RANGE_MAX ||
        req->n_departments > RULE_RANGE_MAX || (req->n_users && req->user_list == NULL) ||
        (req->n_departments && req->department_list == NULL)) {
        snprintf(err, errlen,
                 "rule %s: applicable_range needs users or departments (at most %d of each)",
                 req->rule_name, RULE_RANGE_MAX);
        return NULL;
    }
    for (size_t i = 0; i < req->n_semantics; i++)
        if (req->semantics_list == NULL || req->semantics_list[i] < 1 ||
            req->semantics_list[i] > 3) {
            snprintf(err, errlen,
                     "rule %s: semantics must be 1 (phone), 2 (email) or 3 (red "
                     "packet)",
                     req->rule_name);
            return NULL;
        }
    doc = rule_json(req, err, errlen);
    if (doc == NULL)
        return NULL;
    spec.body = dump(doc, err, errlen);
    json_decref(doc);
    if (spec.body == NULL)
        return NULL;
    spec.endpoint = "externalcontact/add_intercept_rule";
    spec.secret = req->secret ? req->secret : wg__wecom_contact_secret(corp);
    spec.method = "POST";
    spec.path = "/cgi-bin/externalcontact/add_intercept_rule";
    spec.deliver = deliver_rule_add;
    spec.cb = (void (*)(void))cb;
    spec.arg = arg;
    call = wg__wecom_submit(corp, &spec, err, errlen);
    free(spec.body);
    return call;
}

/* ---- externalcontact/get_intercept_rule_list ------------------------------------------------ */

static void deliver_rule_list(void (*cb)(void), void *arg, const wg_wecom_result_t *res,
                              json_t *root, const char *body, size_t body_len)
{
    wg_wecom_intercept_rule_list_cb fn = (wg_wecom_intercept_rule_list_cb)cb;
    wg_wecom_intercept_rule_list_t l = {0};
    wg_wecom_intercept_rule_info_t *rules = NULL;
    const json_t *list;
    size_t n;
    (void)body, (void)body_len;

    if (root == NULL || !json_is_object(root)) {
        fn(arg, res, NULL);
        return;
    }
    list = json_object_get(root, "rule_list");
    n = json_is_array(list) ? json_array_size(list) : 0;
    if (n > MAX_ITEMS)
        n = MAX_ITEMS;
    if (n) {
        rules = calloc(n, sizeof(*rules));
        if (rules == NULL) {
            wg_wecom_result_t copy;
            deliver_oom(res, &copy);
            fn(arg, &copy, NULL);
            return;
        }
        for (size_t i = 0; i < n; i++) {
            const json_t *r = json_array_get(list, i);
            rules[i].rule_id = wg__wecom_jstr(r, "rule_id");
            rules[i].rule_name = wg__wecom_jstr(r, "rule_name");
            rules[i].create_time = wg__wecom_jint(r, "create_time");
        }
    }
    l.rules = rules;
    l.n_rules = n;
    fn(arg, res, &l);
    free(rules);
}

wg_wecom_call_t *wg_wecom_intercept_rule_list(wg_wecom_corp_t *corp, const char *secret,
                                              wg_wecom_intercept_rule_list_cb cb, void *arg,
                                              char *err, size_t errlen)
{
    wg_wecom_spec_t spec = {0};

    if (corp == NULL || cb == NULL) {
        snprintf(err, errlen, "a corp and a callback are required");
        return NULL;
    }
    spec.endpoint = "externalcontact/get_intercept_rule_list";
    spec.secret = secret ? secret : wg__wecom_contact_secret(corp);
    spec.method = "GET";
    spec.path = "/cgi-bin/externalcontact/get_intercept_rule_list";
    spec.deliver = deliver_rule_list;
    spec.cb = (void (*)(void))cb;
    spec.arg = arg;
    return wg__wecom_submit(corp, &spec, err, errlen);
}

/* ---- any other call ------------------------------------------------------------------------- */

static void deliver_raw(void (*cb)(void), void *arg, const wg_wecom_result_t *res, json_t *root,
                        const char *body, size_t body_len)
{
    (void)root;
    ((wg_wecom_raw_cb)cb)(arg, res, body, body_len);
}

wg_wecom_call_t *wg_wecom_call_raw(wg_wecom_corp_t *corp, const wg_wecom_raw_req_t *req,
                                   wg_wecom_raw_cb cb, void *arg, char *err, size_t errlen)
{
    wg_wecom_spec_t spec = {0};
    wg_wecom_call_t *call;
    int post;

    if (corp == NULL || req == NULL || cb == NULL || empty(req->secret) || req->method == NULL) {
        snprintf(err, errlen, "a corp, a secret name, a method and a callback are required");
        return NULL;
    }
    post = strcmp(req->method, "POST") == 0;
    if (!post && strcmp(req->method, "GET") != 0) {
        snprintf(err, errlen, "method must be GET or POST");
        return NULL;
    }
    if (req->path == NULL || strncmp(req->path, "/cgi-bin/", 9) != 0 || req->path[9] == '\0' ||
        strpbrk(req->path, "?# \t\r\n") != NULL || strlen(req->path) > 256) {
        snprintf(err, errlen, "path must look like /cgi-bin/NAME (no query)");
        return NULL;
    }
    if (req->query && (strpbrk(req->query, "# \t\r\n") != NULL || strlen(req->query) > 2048)) {
        snprintf(err, errlen, "query must be URL-encoded (at most 2048 bytes)");
        return NULL;
    }
    if (post) {
        size_t n = req->body ? strlen(req->body) : 2;
        spec.body = malloc(n + 1);
        if (spec.body == NULL) {
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
        memcpy(spec.body, req->body ? req->body : "{}", n + 1);
    }
    spec.endpoint = req->path + 9; /* "externalcontact/del_intercept_rule" */
    spec.raw_endpoint = 1;
    spec.secret = req->secret;
    spec.method = req->method;
    spec.path = req->path;
    spec.query = req->query;
    spec.deliver = deliver_raw;
    spec.cb = (void (*)(void))cb;
    spec.arg = arg;
    call = wg__wecom_submit(corp, &spec, err, errlen);
    free(spec.body);
    return call;
}
