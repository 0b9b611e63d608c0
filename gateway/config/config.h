/* wegate's configuration: one JSON file read with jansson into this struct (no globals).
 * Every key is described once in the key table of config.c (type, bounds, default, secret) and
 * documented in deploy/wegate.example.json and README.md. Secrets may be given as "env:NAME" or
 * "file:/path" (one trailing newline trimmed); they never appear in errors or summaries. */
#ifndef WG_CONFIG_H
#define WG_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define WG_CONFIG_DEFAULT_PATH "./var/wegate.json"
#define WG_CONFIG_ENV "WEGATE_CONFIG"

/* A callback endpoint's crypt settings: the corp's own (served at /wecom/{corp}/callback) or a
 * named receiver's (at /wecom/{corp}/{receiver}/callback). */
typedef struct wg_config_receiver {
    char *name;             /* "" for the corp-level endpoint */
    char *token;            /* secret */
    char *encoding_aes_key; /* secret */
    char **receive_ids;     /* allowed trailing receive ids; default: the corp id; "" allowed */
    size_t n_receive_ids;
    /* Where each secret came from, safe to show: "inline", "env:NAME" or "file:/path". */
    char *token_source;
    char *encoding_aes_key_source;
} wg_config_receiver_t;

typedef enum wg_channel_type {
    WG_CHANNEL_WECOM_APP, /* an application message (message/send) to user ids */
    WG_CHANNEL_ROBOT,     /* a group robot (webhook/send?key=...) */
    WG_CHANNEL_WEBHOOK,   /* a signed JSON POST to an HTTPS URL */
} wg_channel_type_t;

typedef enum wg_channel_format {
    WG_FORMAT_MARKDOWN,
    WG_FORMAT_TEXT,
    WG_FORMAT_TEXTCARD, /* wecom_app only */
} wg_channel_format_t;

/* A named outbound channel of a corp ("corps[].channels.NAME"): where the outbox sends the
 * rows whose channel column names it. Which keys apply depends on the type (checked). */
typedef struct wg_config_channel {
    char *name; /* [a-z0-9_-], 1..32 chars, unique within the corp */
    char *type_name;
    wg_channel_type_t type;
    char *format_name; /* NULL: markdown (wecom_app, robot); not used by webhook */
    wg_channel_format_t format;
    char *to;  /* wecom_app: default recipients "userid|userid" (<= 1000); robot: mentioned */
    char *key; /* robot: secret */
    char *key_source; /* "inline", "env:NAME" or "file:/path" */
    char *url;        /* webhook: https://...; a secret (it may carry a token) */
    char *url_source;
    char *secret; /* webhook: the HMAC-SHA256 signing secret */
    char *secret_source;
    int insecure; /* webhook: 1 skips certificate checks (warned about at start) */
} wg_config_channel_t;

typedef struct wg_config_corp {
    char *name;    /* short name used in URLs and rows: [a-z0-9_-], 1..32 chars */
    char *corp_id; /* ww... */
    int64_t agent_id;
    wg_config_receiver_t main;       /* the corp-level token and key */
    wg_config_receiver_t *receivers; /* named receivers */
    size_t n_receivers;
    /* The WeCom server API (PROTOCOL.md §5), for the wecom_app and robot channels. */
    char *api_base;            /* default "https://qyapi.weixin.qq.com" */
    int api_insecure;          /* 1 skips certificate checks on api_base (warned about) */
    char *agent_secret;        /* secret: the app's secret (wecom_app channels need it) */
    char *agent_secret_source; /* "inline", "env:NAME" or "file:/path" */
    /* Quotas the API client keeps (connectors/wecom/ratelimit.h), 0: not enforced. WeCom drops
     * message/send above 30 a minute or 1000 an hour to one member, silently; a robot takes 20
     * a minute. The window lengths are configurable so that tests run fast. */
    int quota_member_per_minute; /* default 30 */
    int quota_member_per_hour;   /* default 1000 */
    int quota_robot_per_minute;  /* default 20 */
    int quota_minute_ms;         /* default 60000 */
    int quota_hour_ms;           /* default 3600000 */
    wg_config_channel_t *channels;
    size_t n_channels;
} wg_config_corp_t;

typedef enum wg_log_level { WG_LOG_DEBUG, WG_LOG_INFO, WG_LOG_WARN, WG_LOG_ERROR } wg_log_level_t;

typedef struct wg_config {
    char *path; /* the file it was read from; NULL when parsed from a string */
    char *listen_host;
    uint16_t listen_port;
    int workers; /* default: number of online cores */
    wg_log_level_t log_level;
    /* http */
    size_t http_max_body;       /* bytes; default 1 MiB */
    int http_read_timeout_ms;   /* default 10000: slow clients are cut off */
    int http_shutdown_grace_ms; /* SIGTERM: in-flight requests get this long; default 10000 */
    /* database */
    char *database_url;              /* secret (may carry a password) */
    char *database_url_source;       /* "inline", "env:NAME" or "file:/path" */
    int database_connect_timeout_ms; /* default 3000 */
    int database_commit_timeout_ms;  /* a callback not committed by then gets 503; default 3000 */
    int database_max_batch;          /* rows per group commit; default 256 */
    /* outbox (gateway/outbox/outbox.h) */
    int outbox_poll_ms;        /* look for due rows this often (and on NOTIFY); default 500 */
    int outbox_batch;          /* rows per claim; default 64 */
    int outbox_concurrency;    /* sends in flight at once; default 16 */
    int outbox_max_attempts;   /* then dead; default 10 */
    int outbox_backoff_min_ms; /* first retry after about this; default 1000 */
    int outbox_backoff_max_ms; /* retries never wait longer; default 3600000 */
    int outbox_lease_ms;       /* a claimed row is claimed again after this; default 60000 */
    int outbox_connections;    /* database connections of the worker (lanes); default 2 */
    /* http_client: every outbound HTTPS request (WeCom API, robots, webhooks) */
    char *http_client_ca_file;           /* PEM CAs trusted besides the system store; NULL: none */
    int http_client_connect_timeout_ms;  /* default 5000 */
    int http_client_response_timeout_ms; /* default 15000 */
    wg_config_corp_t *corps;
    size_t n_corps;
} wg_config_t;

/* Reads and validates path; returns a new config (free it with wg_config_free). On failure
 * returns NULL and writes into err one line naming the JSON path of the bad value
 * ("corps[0].encoding_aes_key: must be 43 letters or digits"), or "<file>:<line>:<column>: ..."
 * for a syntax error, or "cannot read <file>: <reason>". err never holds a secret. */
__attribute__((warn_unused_result)) wg_config_t *wg_config_load(const char *path, char *err,
                                                                size_t errlen);
/* Same, from a string (tests and fuzzing; syntax errors say "<string>:<line>:<column>");
 * secrets from "env:" and "file:" are still resolved. */
__attribute__((warn_unused_result)) wg_config_t *wg_config_parse(const char *json, size_t len,
                                                                 char *err, size_t errlen);
/* Frees cfg and everything it owns (secrets are zeroed first); NULL is a no-op. */
void wg_config_free(wg_config_t *cfg);

/* --config's value, else $WEGATE_CONFIG, else WG_CONFIG_DEFAULT_PATH. */
const char *wg_config_path(const char *flag_value);

/* Lookups for routing (borrowed pointers into cfg; NULL when absent). An empty receiver name
 * (name_len 0) finds the corp-level endpoint, &corp->main. */
const wg_config_corp_t *wg_config_find_corp(const wg_config_t *cfg, const char *name,
                                            size_t name_len);
const wg_config_receiver_t *wg_config_find_receiver(const wg_config_corp_t *corp, const char *name,
                                                    size_t name_len);

/* A corp's channel by name (borrowed; NULL when absent). */
const wg_config_channel_t *wg_config_find_channel(const wg_config_corp_t *corp, const char *name);
/* "wecom_app", "robot", "webhook" / "markdown", "text", "textcard" (static strings). */
const char *wg_config_channel_type_name(wg_channel_type_t type);
const char *wg_config_channel_format_name(wg_channel_format_t format);

/* "debug", "info", "warn" or "error" (a static string). */
const char *wg_config_log_level_name(wg_log_level_t level);

/* The i-th key of the key table as a path pattern ("http.max_body_bytes", "corps[].name",
 * "corps[].receivers.*.token"), NULL past the last: for docs and the test that keeps
 * deploy/wegate.example.json complete. */
const char *wg_config_key(size_t i);

/* Prints a human summary (no secrets) as `wegate check-config` shows it. */
void wg_config_print_summary(const wg_config_t *cfg, FILE *out);

#endif
