/* WeCom server API client (PROTOCOL.md §5): access tokens per corp and per secret, typed calls
 * (message/send, the group robot webhook/send, externalcontact/get, the intercept rules), the
 * per-member and per-robot quotas, and one classification of every outcome so that callers (the
 * outbox) decide retries from a class, not from errcodes.
 *
 * Loop and threads: one wg_wecom_api_t lives on one libevent loop (one thread), with a
 * wg_http_client_t on the same loop, which it borrows (share it with the webhook channel: one
 * keep-alive pool). Every call ends in exactly one callback, on that loop, never inside the
 * function that submitted it; not at all after wg_wecom_call_cancel(). Freeing the client with
 * calls pending completes them (RETRY_LATER, http_error WG_HTTP_ERR_SHUTDOWN) before it returns.
 *
 * Tokens: GET /cgi-bin/gettoken?corpid=&corpsecret= per (corp, secret name), cached until
 * token_refresh_early_s before expires_in; fetched once for all concurrent callers (the others
 * wait on that fetch); on errcode 40014 or 42001 the call's token is dropped, fetched again
 * (once, shared) and the call retried once. A failed fetch fails every call waiting on it with
 * the fetch's outcome (e.g. CONFIG for 40001) and caches nothing: the next call fetches again.
 *
 * Outcome classes (wg_wecom_result_t.cls):
 *   OK           errcode 0.
 *   RETRY_LATER  try again after retry_after_ms: 45009 (frequency limit; rate_limit_delay_ms,
 *                60 s by default: a minute block lasts 60 s), 45033 (concurrency limit), -1
 *                (system busy; short delay), a second 40014/42001 in a row, HTTP 5xx or any
 *                other non-200 status, transport errors other than TLS verification (DNS,
 *                connect, TLS handshake, timeout, reset), a body that is not JSON at all (a
 *                proxy's HTML error page, a truncated body: WeCom itself always answers JSON),
 *                the local quota (throttled = 1: nothing was sent), and shutdown.
 *   CONFIG       fix the configuration, do not loop: 40001 (wrong secret), 40013 (wrong corp
 *                id), 41001/41004 (token/secret missing), 40056 (wrong agent id), 48002 (the
 *                app lacks this API's permission), 60020 (this server's IP is not among the
 *                app's trusted IPs), 93000 (robot key invalid), TLS verification failure. The
 *                message says what to fix ("corp demo: secret 'agent' rejected (40001): check
 *                agent_secret").
 *   PERMANENT    any other errcode: WeCom refused this request's data (errcode and errmsg
 *                returned, never swallowed); also a request rejected before sending is refused
 *                synchronously instead (NULL with err).
 *   PROTOCOL     the reply is JSON but not WeCom's shape: no integer errcode, a gettoken reply
 *                without a usable access_token, or a response over the size cap. Treat like
 *                RETRY_LATER with a bounded number of attempts (it usually means base_url points
 *                at something that is not WeCom); retry_after_ms is set.
 * No message ever contains a secret or a token (URLs carrying them are never quoted).
 *
 * Quotas: message/send to one member is silently dropped by WeCom above 30 a minute or 1000 an
 * hour, a robot answers 45009 above 20 a minute. The client counts what it sends (per corp and
 * member, per robot key; wg_wecom_limiter_t, exact sliding windows) and completes a call that
 * would exceed a quota with RETRY_LATER, throttled = 1 and retry_after_ms = when it may go:
 * hold the message (the outbox keeps its row) rather than lose it. Counts are per process (one
 * instance, or one outbox worker per corp). A message to several members waits for all of them.
 *
 * No logging, no exit, no environment: status and message out. */
#ifndef WG_WECOM_API_H
#define WG_WECOM_API_H

#include <stddef.h>
#include <stdint.h>

#include "connectors/http/client.h"

struct event_base;

#define WG_WECOM_DEFAULT_BASE_URL "https://qyapi.weixin.qq.com"
/* An access_token may be up to this many bytes (PROTOCOL.md §5: reserve >= 512). */
#define WG_WECOM_TOKEN_MAX 1024
#define WG_WECOM_MESSAGE_MAX_USERS 1000  /* touser "a|b|...": at most 1000 ids */
#define WG_WECOM_MARKDOWN_MAX 2048       /* markdown.content bytes (message/send) */
#define WG_WECOM_ROBOT_MARKDOWN_MAX 4096 /* robot markdown.content bytes */
#define WG_WECOM_ROBOT_TEXT_MAX 2048     /* robot text.content bytes */
#define WG_WECOM_TEXT_MAX 2048           /* message/send text.content bytes */
#define WG_WECOM_NAME_MAX 64             /* corp and secret names */

typedef enum wg_wecom_class {
    WG_WECOM_OK = 0,
    WG_WECOM_RETRY_LATER,
    WG_WECOM_CONFIG,
    WG_WECOM_PERMANENT,
    WG_WECOM_PROTOCOL,
} wg_wecom_class_t;

/* "ok", "retry_later", "config", "permanent", "protocol" (static; for logs and metric labels). */
const char *wg_wecom_class_name(wg_wecom_class_t c);

/* Every call's outcome, borrowed by the callback (valid during the call only). */
typedef struct wg_wecom_result {
    wg_wecom_class_t cls;
    const char *endpoint;       /* the API path that produced the outcome, e.g. "message/send", or
                                   "gettoken" when the token fetch failed (static string) */
    int has_errcode;            /* 1: the reply carried an integer errcode */
    long errcode;               /* WeCom's errcode (0 = ok); 0 when !has_errcode */
    const char *errmsg;         /* WeCom's errmsg as received ("" if none) */
    int http_status;            /* 0: no HTTP response */
    wg_http_error_t http_error; /* WG_HTTP_OK unless the transport failed */
    int64_t retry_after_ms;     /* RETRY_LATER and PROTOCOL: suggested delay (> 0); else 0 */
    int throttled;              /* 1: held back by the local quota; nothing was sent */
    int attempts;               /* HTTP requests this call made (token fetches excluded): 0..2 */
    const char *message;        /* one line: what failed, for which corp (and secret), what to do;
                                   "" on OK. Never a secret or a token. */
} wg_wecom_result_t;

typedef struct wg_wecom_api wg_wecom_api_t;
typedef struct wg_wecom_corp wg_wecom_corp_t;
typedef struct wg_wecom_call wg_wecom_call_t;

typedef struct wg_wecom_api_options {
    int token_refresh_early_s; /* refresh a token this long before expires_in; default 300,
                                  never more than half the token's lifetime */
    int response_timeout_ms;   /* per HTTP request; 0: the HTTP client's */
    /* Suggested delays for RETRY_LATER (ms; 0: default). */
    int rate_limit_delay_ms;  /* 45009; default 60000 */
    int concurrency_delay_ms; /* 45033; default 1000 */
    int busy_delay_ms;        /* -1; default 1000 */
    int transient_delay_ms;   /* 5xx, transport errors, malformed bodies, PROTOCOL; default 5000 */
    /* Quotas: 0 = WeCom's figure (ratelimit.h), -1 = not enforced. */
    int member_per_minute;   /* message/send per member; default 30 */
    int member_per_hour;     /* default 1000 */
    int robot_per_minute;    /* webhook/send per robot key; default 20 */
    int64_t quota_minute_ms; /* the "minute" window; 0: 60000 (tests shorten it) */
    int64_t quota_hour_ms;   /* the "hour" window; 0: 3600000 */
    /* Monotonic milliseconds for token lifetimes and quotas; NULL: CLOCK_MONOTONIC. */
    int64_t (*clock_ms)(void *clock_arg);
    void *clock_arg;
} wg_wecom_api_options_t;

/* A client on base using http (borrowed; same loop; must outlive the client). opts may be NULL.
 * NULL with err filled on a bad option or out of memory. */
wg_wecom_api_t *wg_wecom_api_new(struct event_base *base, wg_http_client_t *http,
                                 const wg_wecom_api_options_t *opts, char *err, size_t errlen);
/* Cancels the HTTP requests in flight, completes every pending call (RETRY_LATER, SHUTDOWN;
 * callbacks run before this returns and must not submit new calls), frees corps and tokens.
 * May be called from a completion callback. */
void wg_wecom_api_free(wg_wecom_api_t *api);

typedef struct wg_wecom_corp_options {
    const char *name;         /* config name, used in messages ("corp demo"); 1..63 chars */
    const char *corp_id;      /* WeCom corp id (corpid) */
    const char *base_url;     /* NULL: WG_WECOM_DEFAULT_BASE_URL; "https://127.0.0.1:8443" in tests;
                                 a trailing '/' is ignored */
    int insecure_skip_verify; /* passed to every request (the application warns) */
} wg_wecom_corp_options_t;

/* Registers a corp (options copied). The corp belongs to api and is freed with it. NULL with err
 * on a duplicate name, missing field or out of memory. */
wg_wecom_corp_t *wg_wecom_corp_add(wg_wecom_api_t *api, const wg_wecom_corp_options_t *opts,
                                   char *err, size_t errlen);
/* The corp registered under name, or NULL. */
wg_wecom_corp_t *wg_wecom_corp_find(wg_wecom_api_t *api, const char *name);

/* Sets (or replaces) the secret called name ("agent", "contact", "archive"...: messages name the
 * config key "<name>_secret") for corp; copied, and wiped from memory when freed. Replacing it
 * drops its cached token. -1 with err on a bad name or secret or out of memory. */
int wg_wecom_corp_set_secret(wg_wecom_corp_t *corp, const char *name, const char *secret, char *err,
                             size_t errlen);

/* Drops the cached token of secret name (next call fetches a new one); no-op if none. */
void wg_wecom_corp_drop_token(wg_wecom_corp_t *corp, const char *name);

/* Quota planning, without sending: ms until a message/send to touser ("a|b") / a robot post to
 * key would be within the quotas (0: now). */
int64_t wg_wecom_member_wait_ms(wg_wecom_corp_t *corp, const char *touser);
int64_t wg_wecom_robot_wait_ms(wg_wecom_corp_t *corp, const char *key);

/* Abandons a call whose callback has not started: its callback will not run (an HTTP request
 * in flight is cancelled; a quota slot already taken stays taken). */
void wg_wecom_call_cancel(wg_wecom_call_t *call);

/* Every typed call below: fields are copied before it returns; returns a handle, borrowed by the
 * caller and valid until the callback starts or wg_wecom_call_cancel() returns; or NULL (the
 * callback will not run) with err filled when the request is invalid (missing field, too many
 * users, content too long, unknown secret name) or out of memory. Reply structs are borrowed
 * by the callback: valid during the call only; non-NULL whenever the reply was a JSON object
 * (even with an errcode: message/send reports invaliduser with errcode 81013), NULL otherwise.
 * Absent string fields are "" and absent numbers 0. */

/* ---- message/send (application message), token of secret "agent" by default ---- */
typedef enum wg_wecom_msgtype {
    WG_WECOM_MSG_TEXT = 0,
    WG_WECOM_MSG_MARKDOWN,
    WG_WECOM_MSG_TEXTCARD,
} wg_wecom_msgtype_t;

typedef struct wg_wecom_message {
    const char *secret; /* secret name; NULL: "agent" */
    const char *touser; /* member ids "a|b|c", 1..1000 (no toparty/totag: quotas are counted
                           per member) */
    long agentid;
    wg_wecom_msgtype_t msgtype;
    const char *content; /* TEXT and MARKDOWN (<= 2048 bytes) */
    const char *title;   /* TEXTCARD: title, description, url required; btntxt optional */
    const char *description;
    const char *url;
    const char *btntxt;
    int safe;                     /* 1: confidential message (text/textcard) */
    int enable_duplicate_check;   /* 1: WeCom drops an identical message within the interval */
    int duplicate_check_interval; /* seconds; 0: WeCom's default (1800) */
} wg_wecom_message_t;

typedef struct wg_wecom_message_reply {
    const char *invaliduser; /* "a|b" ids WeCom did not deliver to ("" none) */
    const char *invalidparty;
    const char *invalidtag;
    const char *unlicenseduser;
    const char *msgid;
} wg_wecom_message_reply_t;

typedef void (*wg_wecom_message_cb)(void *arg, const wg_wecom_result_t *res,
                                    const wg_wecom_message_reply_t *reply);

wg_wecom_call_t *wg_wecom_message_send(wg_wecom_corp_t *corp, const wg_wecom_message_t *msg,
                                       wg_wecom_message_cb cb, void *arg, char *err, size_t errlen);

/* ---- group robot: POST {base_url}/cgi-bin/webhook/send?key=KEY (no token) ---- */
typedef struct wg_wecom_robot_message {
    const char *key;                   /* the robot's key (a secret: never in messages) */
    wg_wecom_msgtype_t msgtype;        /* TEXT or MARKDOWN */
    const char *content;               /* TEXT <= 2048 bytes, MARKDOWN <= 4096 */
    const char *const *mentioned_list; /* TEXT: member ids to @ ("@all" allowed); may be NULL */
    size_t n_mentioned;
    const char *const *mentioned_mobile_list; /* TEXT: phone numbers to @; may be NULL */
    size_t n_mentioned_mobile;
} wg_wecom_robot_message_t;

typedef void (*wg_wecom_robot_cb)(void *arg, const wg_wecom_result_t *res);

wg_wecom_call_t *wg_wecom_robot_send(wg_wecom_corp_t *corp, const wg_wecom_robot_message_t *msg,
                                     wg_wecom_robot_cb cb, void *arg, char *err, size_t errlen);

/* ---- externalcontact/get, token of "contact" if that secret is set, else "agent" ---- */
typedef struct wg_wecom_external_contact_req {
    const char *secret;          /* NULL: as above */
    const char *external_userid; /* required */
    const char *cursor;          /* NULL or "": first page of follow_user */
} wg_wecom_external_contact_req_t;

typedef struct wg_wecom_follow_user {
    const char *userid;
    const char *remark;
    const char *description;
    const char *state;
    const char *oper_userid;
    int64_t createtime;
    int add_way;
} wg_wecom_follow_user_t;

typedef struct wg_wecom_external_contact {
    const char *external_userid;
    const char *name;
    const char *avatar;
    const char *corp_name; /* type 2 (WeCom user): the customer's company */
    const char *corp_full_name;
    const char *position;
    const char *unionid;
    int type;   /* 1 WeChat, 2 WeCom */
    int gender; /* 0 unknown, 1 male, 2 female */
    const wg_wecom_follow_user_t *follow_user;
    size_t n_follow_user;
    const char *next_cursor; /* "" on the last page */
} wg_wecom_external_contact_t;

typedef void (*wg_wecom_external_contact_cb)(void *arg, const wg_wecom_result_t *res,
                                             const wg_wecom_external_contact_t *contact);

wg_wecom_call_t *wg_wecom_external_contact_get(wg_wecom_corp_t *corp,
                                               const wg_wecom_external_contact_req_t *req,
                                               wg_wecom_external_contact_cb cb, void *arg,
                                               char *err, size_t errlen);

/* ---- externalcontact/add_intercept_rule (sensitive-word interception in customer chats) ---- */
typedef struct wg_wecom_intercept_rule_req {
    const char *secret;           /* NULL: "contact" if set, else "agent" */
    const char *rule_name;        /* required (WeCom: <= 20 chars) */
    const char *const *word_list; /* 1..300 words (WeCom: each <= 32 chars) */
    size_t n_words;
    int intercept_type;           /* 1: warn and block the message, 2: warn only */
    const char *const *user_list; /* applicable_range.user_list; may be empty if departments */
    size_t n_users;
    const long *department_list; /* applicable_range.department_list */
    size_t n_departments;
    const int *semantics_list; /* semantics_list: also block 1 phone numbers, 2 email addresses,
                                  3 red packets; may be NULL */
    size_t n_semantics;
} wg_wecom_intercept_rule_req_t;

typedef struct wg_wecom_intercept_rule_reply {
    const char *rule_id;
} wg_wecom_intercept_rule_reply_t;

typedef void (*wg_wecom_intercept_rule_cb)(void *arg, const wg_wecom_result_t *res,
                                           const wg_wecom_intercept_rule_reply_t *reply);

wg_wecom_call_t *wg_wecom_intercept_rule_add(wg_wecom_corp_t *corp,
                                             const wg_wecom_intercept_rule_req_t *req,
                                             wg_wecom_intercept_rule_cb cb, void *arg, char *err,
                                             size_t errlen);

/* ---- externalcontact/get_intercept_rule_list ---- */
typedef struct wg_wecom_intercept_rule_info {
    const char *rule_id;
    const char *rule_name;
    int64_t create_time;
} wg_wecom_intercept_rule_info_t;

typedef struct wg_wecom_intercept_rule_list {
    const wg_wecom_intercept_rule_info_t *rules;
    size_t n_rules;
} wg_wecom_intercept_rule_list_t;

typedef void (*wg_wecom_intercept_rule_list_cb)(void *arg, const wg_wecom_result_t *res,
                                                const wg_wecom_intercept_rule_list_t *list);

/* secret: NULL: "contact" if set, else "agent". */
wg_wecom_call_t *wg_wecom_intercept_rule_list(wg_wecom_corp_t *corp, const char *secret,
                                              wg_wecom_intercept_rule_list_cb cb, void *arg,
                                              char *err, size_t errlen);

/* ---- any other token-authenticated JSON call (what later issues add, e.g. the intercept
 * rule update/delete), with the same tokens, retries and classes ---- */
typedef struct wg_wecom_raw_req {
    const char *secret; /* secret name; required */
    const char *method; /* "GET" or "POST" */
    const char *path;   /* e.g. "/cgi-bin/externalcontact/del_intercept_rule" */
    const char *query;  /* extra query parameters, already URL-encoded ("a=1&b=2"), or NULL */
    const char *body;   /* POST: JSON text; NULL: "{}" */
} wg_wecom_raw_req_t;

/* body/body_len: the reply body as received (NUL-terminated), or NULL without a response. */
typedef void (*wg_wecom_raw_cb)(void *arg, const wg_wecom_result_t *res, const char *body,
                                size_t body_len);

wg_wecom_call_t *wg_wecom_call_raw(wg_wecom_corp_t *corp, const wg_wecom_raw_req_t *req,
                                   wg_wecom_raw_cb cb, void *arg, char *err, size_t errlen);

/* ---- counters (for /metrics) ---- */
typedef struct wg_wecom_api_stats {
    uint64_t token_fetches;   /* gettoken requests sent */
    uint64_t token_refreshes; /* tokens dropped on 40014/42001 */
    uint64_t requests;        /* API requests sent (gettoken excluded) */
    uint64_t ok, retry_later, config, permanent, protocol; /* completed calls by class */
    uint64_t throttled; /* of retry_later: held by the local quota */
    int pending;        /* calls not yet completed */
} wg_wecom_api_stats_t;

void wg_wecom_api_get_stats(const wg_wecom_api_t *api, wg_wecom_api_stats_t *out);

#endif
