/* Between the WeCom API client's core (api.c: corps, secrets, tokens, the call lifecycle and the
 * outcome classes) and its typed calls (calls.c: request JSON, reply parsing). Not installed. */
#ifndef WG_WECOM_API_INTERNAL_H
#define WG_WECOM_API_INTERNAL_H

#include <jansson.h>

#include "connectors/wecom/api.h"
#include "connectors/wecom/ratelimit.h"

/* Hands the outcome to the caller's typed callback: root is the reply object (NULL when there
 * was none), body the raw reply (NULL without a response). Called once, on the loop. */
typedef void (*wg_wecom_deliver_fn)(void (*cb)(void), void *arg, const wg_wecom_result_t *res,
                                    json_t *root, const char *body, size_t body_len);

typedef enum wg_wecom_quota {
    WG_WECOM_QUOTA_NONE = 0,
    WG_WECOM_QUOTA_MEMBERS, /* keys are member ids of this corp */
    WG_WECOM_QUOTA_ROBOT,   /* one key: the robot key */
} wg_wecom_quota_t;

/* What a typed call asks of the core; everything is copied (body stolen on success only). */
typedef struct wg_wecom_spec {
    const char *endpoint; /* "message/send": static, or pointing into path for raw calls */
    const char *secret;   /* secret name whose token goes in access_token; NULL: no token */
    const char *method;   /* "GET" or "POST" */
    const char *path;     /* "/cgi-bin/message/send" */
    const char *query;    /* more query parameters, URL-encoded, or NULL */
    char *body;           /* malloc'd JSON (POST) or NULL; owned by the call once accepted */
    wg_wecom_deliver_fn deliver;
    void (*cb)(void);
    void *arg;
    wg_wecom_quota_t quota;
    const char *const *quota_keys;
    size_t n_quota_keys;
    int raw_endpoint; /* 1: endpoint must be copied (not static) */
} wg_wecom_spec_t;

/* Starts a call (api.c). NULL with err filled (spec->body then still the caller's). */
wg_wecom_call_t *wg__wecom_submit(wg_wecom_corp_t *corp, wg_wecom_spec_t *spec, char *err,
                                  size_t errlen);

/* The secret name a call uses by default: "contact" when that secret is set, else "agent". */
const char *wg__wecom_contact_secret(const wg_wecom_corp_t *corp);
/* 1 when corp has a secret called name. */
int wg__wecom_has_secret(const wg_wecom_corp_t *corp, const char *name);
const char *wg__wecom_corp_name(const wg_wecom_corp_t *corp);

/* Splits touser "a|b|c" into up to WG_WECOM_MESSAGE_MAX_USERS pointers into buf (a copy made
 * there; buflen >= strlen + 1). Returns the count, or -1 if too many ids, an id is empty or the
 * string does not fit. */
#define WG__WECOM_TOUSER_MAX (WG_WECOM_MESSAGE_MAX_USERS * 65)
int wg__wecom_split_users(const char *touser, char *buf, size_t buflen, const char **ids);

/* Appends s percent-encoded (RFC 3986 unreserved kept) to out; 0 or -1 if it does not fit. */
int wg__wecom_urlencode(char *out, size_t outlen, const char *s);

/* Reply helpers: a borrowed string member ("" when absent or not a string), an integer member
 * (a JSON integer, or a string of decimal digits; 0 otherwise). */
const char *wg__wecom_jstr(const json_t *obj, const char *key);
int64_t wg__wecom_jint(const json_t *obj, const char *key);

#endif
