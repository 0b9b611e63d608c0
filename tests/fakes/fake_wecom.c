/* A fake WeCom server API for tests, on loopback (plain HTTP or TLS with a test certificate).
 * It answers gettoken, message/send, the group robot webhook/send, externalcontact/get and the
 * intercept rule calls with the JSON shapes of PROTOCOL.md §5, checks the access tokens it
 * issued, accepts anything on /hook/... (a webhook receiver), and records every request. A test
 * drives it through /_fake/... endpoints:
 *   POST /_fake/script     {"path": "/cgi-bin/message/send" or "*", "actions": [ACTION...]}
 *                          queues answers for the next requests to that path; an ACTION is
 *                          {"action": NAME, "delay_ms": N, "times": N, ...} with NAME one of
 *                          ok (normal answer, "close": true adds Connection: close),
 *                          errcode ("errcode", "errmsg"), expired_token (42001),
 *                          invalid_token (40014), rate_limit ("errcode": 45009 by default),
 *                          status ("status", "body"), reset (close the socket, no reply),
 *                          malformed (200, truncated JSON), huge ("bytes", default 8 MiB),
 *                          redirect ("status" 302, "location")
 *   GET  /_fake/requests   [{method, path, query, headers (names in lower case), body, conn
 *                          (a connection number), tls (version), sni}...] in arrival order;
 *                          /_fake/ requests are not included
 *   GET  /_fake/stats      {connections (accepted), open_connections, requests (received),
 *                          logged (kept in the log, at most --log-max), tokens}
 *   POST /_fake/reset      forgets requests, scripts, tokens, rules and counters
 *   POST /_fake/expire_tokens   every issued token now answers 42001
 *   POST /_fake/drop_connections  closes the idle keep-alive connections
 * Usage: fake_wecom --port P [--http-port Q] [--bind ADDR] [--tls-cert C --tls-key K]
 *          [--secret CORPID:SECRET]... [--robot-key KEY]... [--token-ttl SECONDS] [--log-max N]
 * Conventions: the secret defaults to wwfakecorp:fakesecret; touser ids starting "invalid" come
 * back in invaliduser; external_userid must start "wm"; with no --robot-key any key works.
 * Port 0 picks a free port. Prints "READY port=P http_port=Q" on stdout when listening; exits
 * 0 on SIGTERM or SIGINT. */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* WeCom error codes (PROTOCOL.md §5 and the server API's global error code list). */
#define WX_OK 0
#define WX_BUSY -1
#define WX_BAD_SECRET 40001
#define WX_BAD_MSGTYPE 40008
#define WX_BAD_CORPID 40013
#define WX_BAD_TOKEN 40014
#define WX_BAD_PARAM 40058
#define WX_NO_TOKEN 41001
#define WX_NO_SECRET 41004
#define WX_TOKEN_EXPIRED 42001
#define WX_RATE_LIMIT 45009
#define WX_BAD_JSON 47001
#define WX_NOT_EXTERNAL 84061
#define WX_BAD_ROBOT_KEY 93000
#define TOKEN_TTL_DEFAULT 7200
#define HUGE_DEFAULT (8 * 1024 * 1024)
#define LOG_MAX_DEFAULT 100000

typedef struct token {
    struct token *next;
    char value[48];
    char corpid[64];
    time_t expires;
} token_t;

typedef struct script {
    struct script *next;
    char *path;
    json_t *actions; /* array, consumed from the front */
} script_t;

typedef struct tracked {
    struct tracked *next;
    struct evhttp_connection *evcon;
    int id;
    int pending; /* delayed answers outstanding on it */
} tracked_t;

typedef struct pending {
    struct pending *next;
    struct fake *f;
    struct evhttp_request *req; /* NULL once libevent freed it with its connection */
    struct evhttp_connection *evcon;
    struct event *ev;
    json_t *action;
    char *path, *query, *body;
} pending_t;

typedef struct fake {
    struct event_base *base;
    struct evhttp *main_http, *plain_http;
    SSL_CTX *ssl;
    char **secrets; /* "corpid:secret" */
    int nsecrets;
    char **robot_keys;
    int nrobot_keys;
    int token_ttl;
    token_t *tokens;
    int ntokens;
    json_t *log;
    json_t *rules;
    script_t *scripts;
    tracked_t *conns;
    pending_t *pending;
    int accepted, next_conn_id, next_id;
    long received; /* API requests, logged or not */
    size_t log_max;
} fake_t;

/* ---- replies ------------------------------------------------------------------------------ */

static void reply_raw(struct evhttp_request *req, int status, const char *reason, const char *ctype,
                      const void *body, size_t len)
{
    struct evbuffer *b = evbuffer_new();
    if (ctype != NULL)
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
    if (b != NULL)
        evbuffer_add(b, body, len);
    evhttp_send_reply(req, status, reason, b);
    if (b != NULL)
        evbuffer_free(b);
}

/* Steals obj. */
static void reply_json(struct evhttp_request *req, int status, json_t *obj)
{
    char *s = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (s == NULL) {
        evhttp_send_error(req, 500, "json");
        return;
    }
    reply_raw(req, status, status == 200 ? "OK" : "Error", "application/json; charset=UTF-8", s,
              strlen(s));
    free(s);
}

static void reply_err(struct evhttp_request *req, int errcode, const char *errmsg)
{
    reply_json(req, 200, json_pack("{s:i,s:s}", "errcode", errcode, "errmsg", errmsg));
}

static void reply_ok(struct evhttp_request *req, json_t *extra)
{
    json_t *o = json_pack("{s:i,s:s}", "errcode", WX_OK, "errmsg", "ok");
    if (extra != NULL)
        json_object_update(o, extra), json_decref(extra);
    reply_json(req, 200, o);
}

/* ---- state helpers ------------------------------------------------------------------------ */

static const char *qparam(struct evkeyvalq *q, const char *name)
{
    const char *v = evhttp_find_header(q, name);
    return v != NULL && *v != '\0' ? v : NULL;
}

/* 0 when the request carries a live token issued here, else the errcode to answer. */
static int check_token(fake_t *f, struct evkeyvalq *q)
{
    const char *t = qparam(q, "access_token");
    if (t == NULL)
        return WX_NO_TOKEN;
    for (token_t *k = f->tokens; k != NULL; k = k->next) {
        if (strcmp(k->value, t) == 0)
            return time(NULL) < k->expires ? 0 : WX_TOKEN_EXPIRED;
    }
    return WX_BAD_TOKEN;
}

static const char *errmsg_for(int code)
{
    switch (code) {
    case WX_BUSY:
        return "system busy";
    case WX_BAD_TOKEN:
        return "invalid access_token";
    case WX_NO_TOKEN:
        return "access_token missing";
    case WX_TOKEN_EXPIRED:
        return "access_token expired";
    case WX_RATE_LIMIT:
        return "api freq out of limit";
    case 45033:
        return "api concurrent out of limit";
    default:
        return "error";
    }
}

static tracked_t *track(fake_t *f, struct evhttp_connection *evcon);

static json_t *parse_body(const char *body)
{
    return json_loads(body, JSON_REJECT_DUPLICATES, NULL);
}

/* ---- the API ------------------------------------------------------------------------------ */

static void api_gettoken(fake_t *f, struct evhttp_request *req, struct evkeyvalq *q)
{
    const char *corp = qparam(q, "corpid"), *secret = qparam(q, "corpsecret");
    int corp_known = 0;
    token_t *t;
    if (corp == NULL)
        return reply_err(req, WX_BAD_CORPID, "invalid corpid");
    if (secret == NULL)
        return reply_err(req, WX_NO_SECRET, "corpsecret missing");
    for (int i = 0; i < f->nsecrets; i++) {
        const char *colon = strchr(f->secrets[i], ':');
        size_t clen = (size_t)(colon - f->secrets[i]);
        if (strlen(corp) != clen || strncmp(f->secrets[i], corp, clen) != 0)
            continue;
        corp_known = 1;
        if (strcmp(colon + 1, secret) == 0)
            goto issue;
    }
    if (!corp_known)
        return reply_err(req, WX_BAD_CORPID, "invalid corpid");
    return reply_err(req, WX_BAD_SECRET, "invalid credential, hint: [fake] secret mismatch");
issue:
    t = calloc(1, sizeof(*t));
    if (t == NULL)
        return evhttp_send_error(req, 500, "oom");
    snprintf(t->value, sizeof(t->value), "faketoken-%d-%ld", ++f->next_id, (long)time(NULL));
    snprintf(t->corpid, sizeof(t->corpid), "%s", corp);
    t->expires = time(NULL) + f->token_ttl;
    t->next = f->tokens;
    f->tokens = t;
    f->ntokens++;
    reply_ok(req, json_pack("{s:s,s:i}", "access_token", t->value, "expires_in", f->token_ttl));
}

static void api_message_send(fake_t *f, struct evhttp_request *req, const char *body)
{
    json_t *j = parse_body(body), *invalid = json_array();
    const char *msgtype = NULL, *touser = "";
    json_int_t agentid = 0;
    char msgid[48], *inv;

    if (j == NULL || !json_is_object(j)) {
        json_decref(j), json_decref(invalid);
        return reply_err(req, WX_BAD_JSON, "Warning: wrong json format.");
    }
    json_unpack(j, "{s?s,s?s,s?I}", "msgtype", &msgtype, "touser", &touser, "agentid", &agentid);
    if (msgtype == NULL || (strcmp(msgtype, "text") != 0 && strcmp(msgtype, "markdown") != 0 &&
                            strcmp(msgtype, "textcard") != 0)) {
        json_decref(j), json_decref(invalid);
        return reply_err(req, WX_BAD_MSGTYPE, "invalid message type");
    }
    if (agentid == 0 || *touser == '\0' || json_object_get(j, msgtype) == NULL) {
        json_decref(j), json_decref(invalid);
        return reply_err(req, WX_BAD_PARAM, "invalid parameter: agentid, touser or content");
    }
    /* Users whose id starts with "invalid" do not exist here. */
    for (const char *p = touser; *p != '\0';) {
        size_t n = strcspn(p, "|");
        if (n >= 7 && strncmp(p, "invalid", 7) == 0)
            json_array_append_new(invalid, json_stringn(p, n));
        p += n + (p[n] == '|');
    }
    inv = calloc(1, strlen(touser) + 1);
    for (size_t i = 0; inv != NULL && i < json_array_size(invalid); i++) {
        if (i > 0)
            strcat(inv, "|");
        strcat(inv, json_string_value(json_array_get(invalid, i)));
    }
    snprintf(msgid, sizeof(msgid), "fakemsg-%d", ++f->next_id);
    reply_ok(req, json_pack("{s:s,s:s}", "invaliduser", inv ? inv : "", "msgid", msgid));
    free(inv);
    json_decref(invalid);
    json_decref(j);
}

static void api_robot_send(fake_t *f, struct evhttp_request *req, struct evkeyvalq *q,
                           const char *body)
{
    const char *key = qparam(q, "key"), *msgtype = NULL;
    int known = f->nrobot_keys == 0 && key != NULL;
    json_t *j;
    for (int i = 0; key != NULL && i < f->nrobot_keys; i++)
        known |= strcmp(f->robot_keys[i], key) == 0;
    if (!known)
        return reply_err(req, WX_BAD_ROBOT_KEY, "invalid webhook url");
    j = parse_body(body);
    if (j == NULL || !json_is_object(j)) {
        json_decref(j);
        return reply_err(req, WX_BAD_JSON, "Warning: wrong json format.");
    }
    json_unpack(j, "{s?s}", "msgtype", &msgtype);
    if (msgtype == NULL || (strcmp(msgtype, "text") != 0 && strcmp(msgtype, "markdown") != 0) ||
        !json_is_string(json_object_get(json_object_get(j, msgtype), "content"))) {
        json_decref(j);
        return reply_err(req, WX_BAD_MSGTYPE, "invalid message type");
    }
    json_decref(j);
    reply_ok(req, NULL);
}

static void api_contact_get(struct evhttp_request *req, struct evkeyvalq *q)
{
    const char *id = qparam(q, "external_userid");
    char name[96];
    if (id == NULL)
        return reply_err(req, WX_BAD_PARAM, "external_userid missing");
    if (strncmp(id, "wm", 2) != 0)
        return reply_err(req, WX_NOT_EXTERNAL, "not external contact");
    snprintf(name, sizeof(name), "Customer %.64s", id + 2);
    reply_ok(req, json_pack("{s:{s:s,s:s,s:i,s:s,s:i,s:s},s:[{s:s,s:s,s:s,s:i,s:[],s:s,s:i,s:s}]}",
                            "external_contact", "external_userid", id, "name", name, "type", 1,
                            "avatar", "https://example.invalid/avatar.png", "gender", 1, "unionid",
                            "fake-unionid", "follow_user", "userid", "zhangsan", "remark", "",
                            "description", "", "createtime", 1700000000, "tags", "state", "",
                            "add_way", 1, "oper_userid", "zhangsan"));
}

static void api_add_rule(fake_t *f, struct evhttp_request *req, const char *body)
{
    json_t *j = parse_body(body), *words;
    const char *name = NULL;
    char id[48];
    if (j == NULL || !json_is_object(j)) {
        json_decref(j);
        return reply_err(req, WX_BAD_JSON, "Warning: wrong json format.");
    }
    json_unpack(j, "{s?s}", "rule_name", &name);
    words = json_object_get(j, "word_list");
    if (name == NULL || !json_is_array(words) || json_array_size(words) == 0) {
        json_decref(j);
        return reply_err(req, WX_BAD_PARAM, "invalid parameter: rule_name or word_list");
    }
    snprintf(id, sizeof(id), "fakerule-%d", ++f->next_id);
    json_array_append_new(f->rules, json_pack("{s:s,s:s,s:I}", "rule_id", id, "rule_name", name,
                                              "create_time", (json_int_t)time(NULL)));
    json_decref(j);
    reply_ok(req, json_pack("{s:s}", "rule_id", id));
}

static void route(fake_t *f, struct evhttp_request *req, const char *path, const char *query,
                  const char *body)
{
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    struct evkeyvalq q = {0};
    int get = m == EVHTTP_REQ_GET, post = m == EVHTTP_REQ_POST, code;

    if (strncmp(path, "/hook/", 6) == 0) {
        reply_json(req, 200, json_pack("{s:b}", "ok", 1));
        return;
    }
    TAILQ_INIT(&q);
    if (query != NULL)
        evhttp_parse_query_str(query, &q);
    if (strcmp(path, "/cgi-bin/gettoken") == 0 && get) {
        api_gettoken(f, req, &q);
    } else if (strcmp(path, "/cgi-bin/webhook/send") == 0 && post) {
        api_robot_send(f, req, &q, body);
    } else if (strcmp(path, "/cgi-bin/message/send") == 0 && post) {
        if ((code = check_token(f, &q)) != 0)
            reply_err(req, code, errmsg_for(code));
        else
            api_message_send(f, req, body);
    } else if (strcmp(path, "/cgi-bin/externalcontact/get") == 0 && get) {
        if ((code = check_token(f, &q)) != 0)
            reply_err(req, code, errmsg_for(code));
        else
            api_contact_get(req, &q);
    } else if (strcmp(path, "/cgi-bin/externalcontact/add_intercept_rule") == 0 && post) {
        if ((code = check_token(f, &q)) != 0)
            reply_err(req, code, errmsg_for(code));
        else
            api_add_rule(f, req, body);
    } else if (strcmp(path, "/cgi-bin/externalcontact/get_intercept_rule_list") == 0 && get) {
        if ((code = check_token(f, &q)) != 0)
            reply_err(req, code, errmsg_for(code));
        else
            reply_ok(req, json_pack("{s:O}", "rule_list", f->rules));
    } else {
        reply_raw(req, 404, "Not Found", "text/plain", "not found\n", 10);
    }
    evhttp_clear_headers(&q);
}

/* ---- scripted answers --------------------------------------------------------------------- */

/* The next scripted action for path (new reference), or NULL: answer normally. */
static json_t *next_action(fake_t *f, const char *path)
{
    for (script_t *s = f->scripts; s != NULL; s = s->next) {
        json_t *a;
        json_int_t times;
        if ((strcmp(s->path, path) != 0 && strcmp(s->path, "*") != 0) ||
            json_array_size(s->actions) == 0)
            continue;
        a = json_array_get(s->actions, 0);
        times = json_integer_value(json_object_get(a, "times"));
        if (times > 1) {
            json_object_set_new(a, "times", json_integer(times - 1));
            return json_deep_copy(a);
        }
        json_incref(a);
        json_array_remove(s->actions, 0);
        return a;
    }
    return NULL;
}

static void reset_later(evutil_socket_t fd, short what, void *arg);

static void act(fake_t *f, struct evhttp_request *req, json_t *a, const char *path,
                const char *query, const char *body)
{
    const char *name = a ? json_string_value(json_object_get(a, "action")) : NULL;
    json_int_t n;
    if (name == NULL || strcmp(name, "ok") == 0) {
        if (a != NULL && json_is_true(json_object_get(a, "close")))
            evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
        route(f, req, path, query, body);
    } else if (strcmp(name, "errcode") == 0 || strcmp(name, "rate_limit") == 0) {
        json_t *c = json_object_get(a, "errcode"), *m = json_object_get(a, "errmsg");
        int code = c ? (int)json_integer_value(c) : WX_RATE_LIMIT;
        reply_err(req, code, m ? json_string_value(m) : errmsg_for(code));
    } else if (strcmp(name, "expired_token") == 0) {
        reply_err(req, WX_TOKEN_EXPIRED, errmsg_for(WX_TOKEN_EXPIRED));
    } else if (strcmp(name, "invalid_token") == 0) {
        reply_err(req, WX_BAD_TOKEN, errmsg_for(WX_BAD_TOKEN));
    } else if (strcmp(name, "status") == 0) {
        const char *b = json_string_value(json_object_get(a, "body"));
        n = json_integer_value(json_object_get(a, "status"));
        b = b ? b : "fake error\n";
        reply_raw(req, n ? (int)n : 500, "Fake Status", "text/plain", b, strlen(b));
    } else if (strcmp(name, "malformed") == 0) {
        static const char bad[] = "{\"errcode\":0,\"errmsg\":\"ok\",\"msgid\":";
        reply_raw(req, 200, "OK", "application/json", bad, sizeof(bad) - 1);
    } else if (strcmp(name, "huge") == 0) {
        size_t len, pre;
        char *buf;
        n = json_integer_value(json_object_get(a, "bytes"));
        len = n > 64 ? (size_t)n : HUGE_DEFAULT;
        buf = malloc(len);
        if (buf == NULL)
            return evhttp_send_error(req, 500, "oom");
        pre = (size_t)snprintf(buf, len, "{\"errcode\":0,\"errmsg\":\"ok\",\"pad\":\"");
        memset(buf + pre, 'x', len - pre - 2);
        memcpy(buf + len - 2, "\"}", 2);
        reply_raw(req, 200, "OK", "application/json", buf, len);
        free(buf);
    } else if (strcmp(name, "redirect") == 0) {
        const char *loc = json_string_value(json_object_get(a, "location"));
        n = json_integer_value(json_object_get(a, "status"));
        evhttp_add_header(evhttp_request_get_output_headers(req), "Location", loc ? loc : "/");
        reply_raw(req, n ? (int)n : 302, "Found", "text/plain", "moved\n", 6);
    } else if (strcmp(name, "reset") == 0) {
        /* Outside libevent's handling of this request: close on the next turn. */
        tracked_t *t = track(f, evhttp_request_get_connection(req));
        const struct timeval now = {0, 0};
        if (t == NULL || event_base_once(f->base, -1, EV_TIMEOUT, reset_later,
                                         (void *)(intptr_t)t->id, &now) != 0)
            evhttp_send_error(req, 500, "cannot reset");
    } else {
        reply_raw(req, 400, "Bad Script", "text/plain", "unknown action\n", 15);
    }
}

/* ---- connections -------------------------------------------------------------------------- */

static fake_t *the_fake; /* for reset_later, which gets only a connection id */

static void untrack(fake_t *f, struct evhttp_connection *evcon)
{
    for (tracked_t **pp = &f->conns; *pp != NULL; pp = &(*pp)->next) {
        if ((*pp)->evcon == evcon) {
            tracked_t *t = *pp;
            *pp = t->next;
            free(t);
            return;
        }
    }
}

/* Frees a connection we decided to close (with the request on it, if any). */
static void close_conn(fake_t *f, struct evhttp_connection *evcon, int rst)
{
    if (rst) {
        struct linger lg = {1, 0}; /* RST, not FIN */
        int s = bufferevent_getfd(evhttp_connection_get_bufferevent(evcon));
        if (s >= 0)
            setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    evhttp_connection_set_closecb(evcon, NULL, NULL);
    untrack(f, evcon);
    evhttp_connection_free(evcon);
}

static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
    fake_t *f = arg;
    untrack(f, evcon);
    /* Delayed answers whose request goes down with the connection. */
    for (pending_t *p = f->pending; p != NULL; p = p->next) {
        if (p->req != NULL && evhttp_request_get_connection(p->req) == evcon)
            p->req = NULL;
    }
}

static tracked_t *track(fake_t *f, struct evhttp_connection *evcon)
{
    tracked_t *t;
    if (evcon == NULL)
        return NULL;
    for (t = f->conns; t != NULL; t = t->next) {
        if (t->evcon == evcon)
            return t;
    }
    t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->evcon = evcon;
    t->id = ++f->next_conn_id;
    t->next = f->conns;
    f->conns = t;
    evhttp_connection_set_closecb(evcon, on_conn_close, f);
    /* Replies go out as headers then body: without TCP_NODELAY a keep-alive client waits for a
     * delayed ACK (~40 ms) on every request. */
    evutil_socket_t fd = bufferevent_getfd(evhttp_connection_get_bufferevent(evcon));
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return t;
}

static void reset_later(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    int id = (int)(intptr_t)arg;
    for (tracked_t *t = the_fake->conns; t != NULL; t = t->next) {
        if (t->id == id) {
            close_conn(the_fake, t->evcon, 1);
            return;
        }
    }
}

static struct bufferevent *bev_plain(struct event_base *base, void *arg)
{
    ((fake_t *)arg)->accepted++;
    return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
}

static struct bufferevent *bev_tls(struct event_base *base, void *arg)
{
    fake_t *f = arg;
    SSL *ssl = SSL_new(f->ssl);
    struct bufferevent *bev;
    if (ssl == NULL)
        return NULL;
    f->accepted++;
    bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                         BEV_OPT_CLOSE_ON_FREE);
    if (bev != NULL)
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

/* ---- delayed answers ---------------------------------------------------------------------- */

static void pending_free(fake_t *f, pending_t *p)
{
    for (pending_t **pp = &f->pending; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    for (tracked_t *t = f->conns; t != NULL; t = t->next) {
        if (t->evcon == p->evcon && t->pending > 0)
            t->pending--;
    }
    event_free(p->ev);
    json_decref(p->action);
    free(p->path);
    free(p->query);
    free(p->body);
    free(p);
}

static void on_delay(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    pending_t *p = arg;
    if (p->req != NULL)
        act(p->f, p->req, p->action, p->path, p->query, p->body);
    pending_free(p->f, p);
}

/* ---- control ------------------------------------------------------------------------------ */

static void scripts_clear(fake_t *f)
{
    while (f->scripts != NULL) {
        script_t *s = f->scripts;
        f->scripts = s->next;
        json_decref(s->actions);
        free(s->path);
        free(s);
    }
}

static void tokens_clear(fake_t *f)
{
    while (f->tokens != NULL) {
        token_t *t = f->tokens;
        f->tokens = t->next;
        free(t);
    }
    f->ntokens = 0;
}

static void control(fake_t *f, struct evhttp_request *req, const char *path, const char *body)
{
    if (strcmp(path, "/_fake/script") == 0) {
        json_t *j = parse_body(body), *acts = json_object_get(j, "actions");
        const char *p = json_string_value(json_object_get(j, "path"));
        script_t *s;
        if (p == NULL || !json_is_array(acts)) {
            json_decref(j);
            return reply_raw(req, 400, "Bad Request", "text/plain", "path, actions\n", 14);
        }
        for (s = f->scripts; s != NULL && strcmp(s->path, p) != 0; s = s->next)
            ;
        if (s == NULL) {
            s = calloc(1, sizeof(*s));
            s->path = strdup(p);
            s->actions = json_array();
            s->next = f->scripts;
            f->scripts = s;
        }
        json_array_extend(s->actions, acts);
        reply_json(req, 200,
                   json_pack("{s:b,s:i}", "ok", 1, "queued", (int)json_array_size(s->actions)));
        json_decref(j);
    } else if (strcmp(path, "/_fake/requests") == 0) {
        reply_json(req, 200, json_incref(f->log));
    } else if (strcmp(path, "/_fake/stats") == 0) {
        int open = 0;
        for (tracked_t *t = f->conns; t != NULL; t = t->next)
            open++;
        reply_json(req, 200,
                   json_pack("{s:i,s:i,s:I,s:i,s:i}", "connections", f->accepted,
                             "open_connections", open, "requests", (json_int_t)f->received,
                             "logged", (int)json_array_size(f->log), "tokens", f->ntokens));
    } else if (strcmp(path, "/_fake/reset") == 0) {
        json_array_clear(f->log);
        json_array_clear(f->rules);
        f->received = 0;
        scripts_clear(f);
        tokens_clear(f);
        f->accepted = 0;
        reply_json(req, 200, json_pack("{s:b}", "ok", 1));
    } else if (strcmp(path, "/_fake/expire_tokens") == 0) {
        for (token_t *t = f->tokens; t != NULL; t = t->next)
            t->expires = 0;
        reply_json(req, 200, json_pack("{s:b}", "ok", 1));
    } else if (strcmp(path, "/_fake/drop_connections") == 0) {
        struct evhttp_connection *self = evhttp_request_get_connection(req);
        int n = 0;
        for (tracked_t *t = f->conns, *next; t != NULL; t = next) {
            next = t->next;
            if (t->evcon != self && t->pending == 0) {
                close_conn(f, t->evcon, 0);
                n++;
            }
        }
        reply_json(req, 200, json_pack("{s:b,s:i}", "ok", 1, "dropped", n));
    } else {
        reply_raw(req, 404, "Not Found", "text/plain", "no such control\n", 16);
    }
}

/* ---- requests ----------------------------------------------------------------------------- */

static const char *method_name(enum evhttp_cmd_type m)
{
    switch (m) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    default:
        return "OTHER";
    }
}

static void record(fake_t *f, struct evhttp_request *req, const char *path, const char *query,
                   const char *body, size_t body_len, int conn_id)
{
    json_t *h = json_object(), *b;
    struct evkeyval *kv;
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    SSL *ssl = evcon ? bufferevent_openssl_get_ssl(evhttp_connection_get_bufferevent(evcon)) : NULL;
    f->received++;
    if (json_array_size(f->log) >= f->log_max) {
        json_decref(h);
        return;
    }
    TAILQ_FOREACH(kv, evhttp_request_get_input_headers(req), next)
    {
        char name[128];
        size_t i;
        for (i = 0; kv->key[i] != '\0' && i < sizeof(name) - 1; i++)
            name[i] =
                (char)((kv->key[i] >= 'A' && kv->key[i] <= 'Z') ? kv->key[i] + 32 : kv->key[i]);
        name[i] = '\0';
        json_t *v = json_string(kv->value);
        json_object_set_new(h, name, v ? v : json_string("(not UTF-8)"));
    }
    b = json_stringn(body, body_len);
    json_array_append_new(
        f->log, json_pack("{s:s,s:s,s:s?,s:o,s:o,s:i,s:s?,s:s?}", "method",
                          method_name(evhttp_request_get_command(req)), "path", path, "query",
                          query, "headers", h, "body", b ? b : json_string("(not UTF-8)"), "conn",
                          conn_id, "tls", ssl ? SSL_get_version(ssl) : NULL, "sni",
                          ssl ? SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) : NULL));
}

static void handle(struct evhttp_request *req, void *arg)
{
    fake_t *f = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = evhttp_uri_get_path(uri), *query = evhttp_uri_get_query(uri);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    char *body = malloc(len + 1);
    tracked_t *t = track(f, evhttp_request_get_connection(req));
    json_t *a;
    int delay;

    if (body == NULL)
        return evhttp_send_error(req, 500, "oom");
    evbuffer_copyout(in, body, len);
    body[len] = '\0';
    path = path && *path ? path : "/";
    if (strncmp(path, "/_fake/", 7) == 0) {
        control(f, req, path, body);
        free(body);
        return;
    }
    record(f, req, path, query, body, len, t ? t->id : 0);
    a = next_action(f, path);
    delay = a ? (int)json_integer_value(json_object_get(a, "delay_ms")) : 0;
    if (delay > 0) {
        pending_t *p = calloc(1, sizeof(*p));
        struct timeval tv = {delay / 1000, (delay % 1000) * 1000};
        if (p == NULL || (p->ev = evtimer_new(f->base, on_delay, p)) == NULL) {
            free(p);
            json_decref(a);
            free(body);
            return evhttp_send_error(req, 500, "oom");
        }
        p->f = f;
        p->req = req;
        p->evcon = evhttp_request_get_connection(req);
        p->action = a;
        p->path = strdup(path);
        p->query = query ? strdup(query) : NULL;
        p->body = body;
        p->next = f->pending;
        f->pending = p;
        if (t != NULL)
            t->pending++;
        evtimer_add(p->ev, &tv);
        return;
    }
    act(f, req, a, path, query, body);
    json_decref(a);
    free(body);
}

/* ---- main --------------------------------------------------------------------------------- */

static struct evhttp *listen_http(fake_t *f, const char *bind, int *port, int tls)
{
    struct evhttp *http = evhttp_new(f->base);
    struct evhttp_bound_socket *s;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (http == NULL)
        return NULL;
    evhttp_set_gencb(http, handle, f);
    evhttp_set_bevcb(http, tls ? bev_tls : bev_plain, f);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                         EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH | EVHTTP_REQ_HEAD |
                                         EVHTTP_REQ_OPTIONS);
    evhttp_set_max_body_size(http, 32 * 1024 * 1024);
    evhttp_set_timeout(http, 120);
    s = evhttp_bind_socket_with_handle(http, bind, (unsigned short)*port);
    if (s == NULL || getsockname(evhttp_bound_socket_get_fd(s), (struct sockaddr *)&ss, &sl) != 0) {
        evhttp_free(http);
        return NULL;
    }
    *port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                           : ((struct sockaddr_in *)&ss)->sin_port);
    return http;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig, (void)what;
    event_base_loopexit(arg, NULL);
}

static int usage(void)
{
    fprintf(stderr, "usage: fake_wecom --port P [--http-port Q] [--bind ADDR] [--tls-cert C "
                    "--tls-key K] [--secret CORPID:SECRET]... [--robot-key KEY]... "
                    "[--token-ttl SECONDS] [--log-max N]\n");
    return 2;
}

int main(int argc, char **argv)
{
    fake_t f = {0};
    const char *bind = "127.0.0.1", *cert = NULL, *key = NULL;
    static char *default_secret = "wwfakecorp:fakesecret";
    int port = -1, http_port = -1, rc = 1;
    struct event *sigterm = NULL, *sigint = NULL;

    f.token_ttl = TOKEN_TTL_DEFAULT;
    f.log_max = LOG_MAX_DEFAULT;
    f.secrets = calloc((size_t)argc + 1, sizeof(char *));
    f.robot_keys = calloc((size_t)argc + 1, sizeof(char *));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            return usage();
        i++;
        if (strcmp(a, "--port") == 0)
            port = atoi(v);
        else if (strcmp(a, "--http-port") == 0)
            http_port = atoi(v);
        else if (strcmp(a, "--bind") == 0)
            bind = v;
        else if (strcmp(a, "--tls-cert") == 0)
            cert = v;
        else if (strcmp(a, "--tls-key") == 0)
            key = v;
        else if (strcmp(a, "--secret") == 0 && strchr(v, ':') != NULL)
            f.secrets[f.nsecrets++] = argv[i];
        else if (strcmp(a, "--robot-key") == 0)
            f.robot_keys[f.nrobot_keys++] = argv[i];
        else if (strcmp(a, "--log-max") == 0 && atol(v) >= 0)
            f.log_max = (size_t)atol(v);
        else if (strcmp(a, "--token-ttl") == 0 && atoi(v) > 0)
            f.token_ttl = atoi(v);
        else
            return usage();
    }
    if (port < 0 || (cert == NULL) != (key == NULL))
        return usage();
    if (f.nsecrets == 0)
        f.secrets[f.nsecrets++] = default_secret;
    the_fake = &f;
    signal(SIGPIPE, SIG_IGN);
    f.base = event_base_new();
    f.log = json_array();
    f.rules = json_array();
    if (cert != NULL) {
        f.ssl = SSL_CTX_new(TLS_server_method());
        if (f.ssl == NULL || SSL_CTX_use_certificate_chain_file(f.ssl, cert) != 1 ||
            SSL_CTX_use_PrivateKey_file(f.ssl, key, SSL_FILETYPE_PEM) != 1) {
            fprintf(stderr, "fake_wecom: cannot load %s / %s\n", cert, key);
            goto out;
        }
    }
    f.main_http = listen_http(&f, bind, &port, cert != NULL);
    if (f.main_http == NULL ||
        (http_port >= 0 && (f.plain_http = listen_http(&f, bind, &http_port, 0)) == NULL)) {
        fprintf(stderr, "fake_wecom: cannot listen on %s\n", bind);
        goto out;
    }
    sigterm = evsignal_new(f.base, SIGTERM, on_signal, f.base);
    sigint = evsignal_new(f.base, SIGINT, on_signal, f.base);
    evsignal_add(sigterm, NULL);
    evsignal_add(sigint, NULL);
    printf("READY port=%d http_port=%d\n", port, http_port < 0 ? 0 : http_port);
    fflush(stdout);
    event_base_dispatch(f.base);
    rc = 0;
out:
    /* Delayed answers first: evhttp_free() frees the requests still on a connection. */
    while (f.pending != NULL) {
        pending_t *p = f.pending;
        if (p->req != NULL && evhttp_request_get_connection(p->req) == NULL)
            evhttp_request_free(p->req);
        pending_free(&f, p);
    }
    if (f.main_http != NULL)
        evhttp_free(f.main_http);
    if (f.plain_http != NULL)
        evhttp_free(f.plain_http);
    while (f.conns != NULL) {
        tracked_t *t = f.conns;
        f.conns = t->next;
        free(t);
    }
    scripts_clear(&f);
    tokens_clear(&f);
    json_decref(f.log);
    json_decref(f.rules);
    if (sigterm != NULL)
        event_free(sigterm);
    if (sigint != NULL)
        event_free(sigint);
    SSL_CTX_free(f.ssl);
    free(f.secrets);
    free(f.robot_keys);
    event_base_free(f.base);
    return rc;
}
