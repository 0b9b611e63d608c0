/* Configuration: the key table, and the parsing, validation, secrets and summary it drives. */
#include "gateway/config/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONFIG_FILE_MAX (1024 * 1024) /* a config is a few KiB; refuse anything absurd */
#define SECRET_FILE_MAX (64 * 1024)
#define MAX_WORKERS 256
#define MAX_CORPS 1024
#define MAX_RECEIVERS 64 /* per corp */
#define MAX_RECEIVE_IDS 16
#define MAX_CHANNELS 64 /* per corp */
/* message/send takes at most 1000 user ids in touser (PROTOCOL.md §5). */
#define WECOM_MAX_TOUSER 1000
#define USERID_MAX_CHARS 64
#define DEFAULT_API_BASE "https://qyapi.weixin.qq.com"
/* PROTOCOL.md §5: message/send drops messages to one member above 30 a minute or 1000 an hour;
 * a group robot takes at most 20 a minute. */
#define WECOM_MEMBER_PER_MINUTE 30
#define WECOM_MEMBER_PER_HOUR 1000
#define WECOM_ROBOT_PER_MINUTE 20
#define MINUTE_MS 60000
#define HOUR_MS 3600000
#define NAME_MAX_CHARS 32  /* corp and receiver names, used in URLs and rows */
#define ID_MAX_CHARS 64    /* corp ids, suite ids: "ww" + 16 hex digits in practice */
#define TOKEN_MAX_CHARS 32 /* PROTOCOL.md §1: Token is at most 32 letters or digits */
#define AES_KEY_CHARS 43   /* PROTOCOL.md §1: EncodingAESKey, decodes to 32 bytes with "=" */
#define ENV_NAME_MAX 128
/* WeCom waits 5 s for the answer to a callback, then retries (PROTOCOL.md §2): a commit must
 * give up before that. */
#define WECOM_ANSWER_MS 5000
#define JSON_PATH_MAX 160 /* longer paths are cut short in error messages */

/* ---- The key table ---------------------------------------------------------------------- */

enum key_type {
    K_INT,       /* int field, min..max */
    K_INT64,     /* int64_t field, min..max */
    K_SIZE,      /* size_t field, min..max */
    K_STRING,    /* char * field, checked by check() */
    K_LISTEN,    /* "host:port" into wg_config_t's listen_host and listen_port */
    K_LOG_LEVEL, /* wg_log_level_t field */
    K_IDS,       /* receive ids: an array of strings into the wg_config_receiver_t at offset */
    K_OBJECT,    /* a nested object whose keys fill the same struct ("http", "database") */
    K_CORPS,     /* the array of corps */
    K_RECEIVERS, /* a corp's object of named receivers */
    K_CHANNELS,  /* a corp's object of named channels */
    K_BOOL,      /* int field, 0 or 1, from true/false */
};

enum {
    KEY_REQUIRED = 1 << 0,
    KEY_SECRET = 1 << 1,        /* "env:NAME" and "file:/path" resolved; never shown */
    KEY_DEFAULT_CORES = 1 << 2, /* the default is the number of online cores */
    KEY_NULLABLE = 1 << 3,      /* K_STRING: JSON null is the same as leaving the key out */
};

struct key {
    /* Where the key sits: dot-separated; "[]" is any element of an array, "*" any key of a map.
     * A key's scope is its path up to the last dot. */
    const char *path;
    enum key_type type;
    unsigned flags;
    /* Into the struct of the key's scope: wg_config_t at the top, in "http" and "database";
     * wg_config_corp_t in "corps[]"; wg_config_receiver_t in "corps[].receivers.*";
     * wg_config_channel_t in "corps[].channels.*". */
    size_t offset;
    size_t source_offset; /* secrets: the char * that records where the value came from */
    int64_t min, max, def;
    const char *def_str;    /* K_LISTEN, K_LOG_LEVEL */
    const char *range_note; /* appended to the integer range message */
    /* K_STRING: NULL when value is good, else what is wrong with it (never the value). */
    const char *(*check)(const char *value);
    /* Secrets in the summary: what may be shown of the value (default: only "set"). */
    void (*show)(FILE *out, const char *value);
};

static const char *check_name(const char *value);
static const char *check_corp_id(const char *value);
static const char *check_token(const char *value);
static const char *check_aes_key(const char *value);
static const char *check_pg_url(const char *value);
static void show_pg_url(FILE *out, const char *url);
static const char *check_path(const char *value);
static const char *check_api_base(const char *value);
static const char *check_secret_text(const char *value);
static const char *check_channel_type(const char *value);
static const char *check_format(const char *value);
static const char *check_userids(const char *value);
static const char *check_robot_key(const char *value);
static const char *check_https_url(const char *value);
static void show_url_host(FILE *out, const char *url);

#define CFG(field) offsetof(wg_config_t, field)
#define CORP(field) offsetof(wg_config_corp_t, field)
#define RCV(field) offsetof(wg_config_receiver_t, field)
#define CHAN(field) offsetof(wg_config_channel_t, field)

static const struct key keys[] = {
    {.path = "listen", .type = K_LISTEN, .def_str = "127.0.0.1:8080"},
    {.path = "workers",
     .type = K_INT,
     .flags = KEY_DEFAULT_CORES,
     .offset = CFG(workers),
     .min = 1,
     .max = MAX_WORKERS},
    {.path = "log_level", .type = K_LOG_LEVEL, .offset = CFG(log_level), .def_str = "info"},
    {.path = "http", .type = K_OBJECT},
    {.path = "http.max_body_bytes",
     .type = K_SIZE,
     .offset = CFG(http_max_body),
     .min = 1024,
     .max = 64 * 1024 * 1024,
     .def = 1024 * 1024},
    {.path = "http.read_timeout_ms",
     .type = K_INT,
     .offset = CFG(http_read_timeout_ms),
     .min = 100,
     .max = 600000,
     .def = 10000},
    {.path = "http.shutdown_grace_ms",
     .type = K_INT,
     .offset = CFG(http_shutdown_grace_ms),
     .min = 0,
     .max = 600000,
     .def = 10000},
    {.path = "database", .type = K_OBJECT},
    {.path = "database.url",
     .type = K_STRING,
     .flags = KEY_REQUIRED | KEY_SECRET,
     .offset = CFG(database_url),
     .source_offset = CFG(database_url_source),
     .check = check_pg_url,
     .show = show_pg_url},
    {.path = "database.connect_timeout_ms",
     .type = K_INT,
     .offset = CFG(database_connect_timeout_ms),
     .min = 100,
     .max = 600000,
     .def = 3000},
    {.path = "database.commit_timeout_ms",
     .type = K_INT,
     .offset = CFG(database_commit_timeout_ms),
     .min = 1,
     .max = WECOM_ANSWER_MS - 1,
     .def = 3000,
     .range_note = " (WeCom waits 5 s for an answer)"},
    {.path = "database.max_batch",
     .type = K_INT,
     .offset = CFG(database_max_batch),
     .min = 1,
     .max = 10000,
     .def = 256},
    {.path = "outbox", .type = K_OBJECT},
    {.path = "outbox.poll_ms",
     .type = K_INT,
     .offset = CFG(outbox_poll_ms),
     .min = 10,
     .max = 600000,
     .def = 500},
    {.path = "outbox.batch",
     .type = K_INT,
     .offset = CFG(outbox_batch),
     .min = 1,
     .max = 1000,
     .def = 64},
    {.path = "outbox.concurrency",
     .type = K_INT,
     .offset = CFG(outbox_concurrency),
     .min = 1,
     .max = 1024,
     .def = 16},
    {.path = "outbox.max_attempts",
     .type = K_INT,
     .offset = CFG(outbox_max_attempts),
     .min = 1,
     .max = 1000,
     .def = 10},
    {.path = "outbox.backoff_min_ms",
     .type = K_INT,
     .offset = CFG(outbox_backoff_min_ms),
     .min = 1,
     .max = 86400000,
     .def = 1000},
    {.path = "outbox.backoff_max_ms",
     .type = K_INT,
     .offset = CFG(outbox_backoff_max_ms),
     .min = 1,
     .max = 7 * 86400000,
     .def = 3600000},
    {.path = "outbox.lease_ms",
     .type = K_INT,
     .offset = CFG(outbox_lease_ms),
     .min = 200,
     .max = 86400000,
     .def = 60000},
    {.path = "outbox.connections",
     .type = K_INT,
     .offset = CFG(outbox_connections),
     .min = 1,
     .max = 16,
     .def = 2},
    {.path = "http_client", .type = K_OBJECT},
    {.path = "http_client.ca_file",
     .type = K_STRING,
     .flags = KEY_NULLABLE,
     .offset = CFG(http_client_ca_file),
     .check = check_path},
    {.path = "http_client.connect_timeout_ms",
     .type = K_INT,
     .offset = CFG(http_client_connect_timeout_ms),
     .min = 100,
     .max = 600000,
     .def = 5000},
    {.path = "http_client.response_timeout_ms",
     .type = K_INT,
     .offset = CFG(http_client_response_timeout_ms),
     .min = 100,
     .max = 600000,
     .def = 15000},
    {.path = "corps", .type = K_CORPS, .flags = KEY_REQUIRED},
    {.path = "corps[].name",
     .type = K_STRING,
     .flags = KEY_REQUIRED,
     .offset = CORP(name),
     .check = check_name},
    {.path = "corps[].corp_id",
     .type = K_STRING,
     .flags = KEY_REQUIRED,
     .offset = CORP(corp_id),
     .check = check_corp_id},
    {.path = "corps[].token",
     .type = K_STRING,
     .flags = KEY_REQUIRED | KEY_SECRET,
     .offset = CORP(main.token),
     .source_offset = CORP(main.token_source),
     .check = check_token},
    {.path = "corps[].encoding_aes_key",
     .type = K_STRING,
     .flags = KEY_REQUIRED | KEY_SECRET,
     .offset = CORP(main.encoding_aes_key),
     .source_offset = CORP(main.encoding_aes_key_source),
     .check = check_aes_key},
    {.path = "corps[].agent_id",
     .type = K_INT64,
     .offset = CORP(agent_id),
     .min = 0,
     .max = INT32_MAX,
     .def = 0},
    {.path = "corps[].receive_ids", .type = K_IDS, .offset = CORP(main)},
    {.path = "corps[].receivers", .type = K_RECEIVERS},
    {.path = "corps[].receivers.*.token",
     .type = K_STRING,
     .flags = KEY_REQUIRED | KEY_SECRET,
     .offset = RCV(token),
     .source_offset = RCV(token_source),
     .check = check_token},
    {.path = "corps[].receivers.*.encoding_aes_key",
     .type = K_STRING,
     .flags = KEY_REQUIRED | KEY_SECRET,
     .offset = RCV(encoding_aes_key),
     .source_offset = RCV(encoding_aes_key_source),
     .check = check_aes_key},
    {.path = "corps[].receivers.*.receive_ids", .type = K_IDS, .offset = 0},
    {.path = "corps[].api_base",
     .type = K_STRING,
     .offset = CORP(api_base),
     .check = check_api_base},
    {.path = "corps[].api_insecure", .type = K_BOOL, .offset = CORP(api_insecure)},
    {.path = "corps[].agent_secret",
     .type = K_STRING,
     .flags = KEY_SECRET,
     .offset = CORP(agent_secret),
     .source_offset = CORP(agent_secret_source),
     .check = check_secret_text},
    {.path = "corps[].quotas", .type = K_OBJECT},
    {.path = "corps[].quotas.member_per_minute",
     .type = K_INT,
     .offset = CORP(quota_member_per_minute),
     .min = 0,
     .max = 1000000,
     .def = WECOM_MEMBER_PER_MINUTE,
     .range_note = " (0: not enforced)"},
    {.path = "corps[].quotas.member_per_hour",
     .type = K_INT,
     .offset = CORP(quota_member_per_hour),
     .min = 0,
     .max = 1000000,
     .def = WECOM_MEMBER_PER_HOUR,
     .range_note = " (0: not enforced)"},
    {.path = "corps[].quotas.robot_per_minute",
     .type = K_INT,
     .offset = CORP(quota_robot_per_minute),
     .min = 0,
     .max = 1000000,
     .def = WECOM_ROBOT_PER_MINUTE,
     .range_note = " (0: not enforced)"},
    {.path = "corps[].quotas.minute_ms",
     .type = K_INT,
     .offset = CORP(quota_minute_ms),
     .min = 100,
     .max = MINUTE_MS,
     .def = MINUTE_MS,
     .range_note = " (WeCom's minute; shorter only in tests)"},
    {.path = "corps[].quotas.hour_ms",
     .type = K_INT,
     .offset = CORP(quota_hour_ms),
     .min = 100,
     .max = HOUR_MS,
     .def = HOUR_MS,
     .range_note = " (WeCom's hour; shorter only in tests)"},
    {.path = "corps[].channels", .type = K_CHANNELS},
    {.path = "corps[].channels.*.type",
     .type = K_STRING,
     .flags = KEY_REQUIRED,
     .offset = CHAN(type_name),
     .check = check_channel_type},
    {.path = "corps[].channels.*.format",
     .type = K_STRING,
     .offset = CHAN(format_name),
     .check = check_format},
    {.path = "corps[].channels.*.to", .type = K_STRING, .offset = CHAN(to), .check = check_userids},
    {.path = "corps[].channels.*.key",
     .type = K_STRING,
     .flags = KEY_SECRET,
     .offset = CHAN(key),
     .source_offset = CHAN(key_source),
     .check = check_robot_key},
    {.path = "corps[].channels.*.url",
     .type = K_STRING,
     .flags = KEY_SECRET,
     .offset = CHAN(url),
     .source_offset = CHAN(url_source),
     .check = check_https_url,
     .show = show_url_host},
    {.path = "corps[].channels.*.secret",
     .type = K_STRING,
     .flags = KEY_SECRET,
     .offset = CHAN(secret),
     .source_offset = CHAN(secret_source),
     .check = check_secret_text},
    {.path = "corps[].channels.*.insecure", .type = K_BOOL, .offset = CHAN(insecure)},
};

#define N_KEYS (sizeof keys / sizeof keys[0])

static const char *const level_names[] = {[WG_LOG_DEBUG] = "debug",
                                          [WG_LOG_INFO] = "info",
                                          [WG_LOG_WARN] = "warn",
                                          [WG_LOG_ERROR] = "error"};

/* ---- Value checks (messages never include the value) ------------------------------------- */

static bool is_ascii_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_name(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return n >= 1 && n <= NAME_MAX_CHARS;
}

/* Corp ids, suite ids: letters, digits, '_' and '-'; "" only where allow_empty. */
static bool is_id(const char *s, bool allow_empty)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!is_ascii_alnum(s[n]) && s[n] != '_' && s[n] != '-')
            return false;
    return (allow_empty || n >= 1) && n <= ID_MAX_CHARS;
}

static const char *check_name(const char *value)
{
    return is_name(value) ? NULL : "must be 1 to 32 of a-z, 0-9, '_' or '-'";
}

static const char *check_corp_id(const char *value)
{
    return is_id(value, false) ? NULL : "must be 1 to 64 letters, digits, '_' or '-'";
}

static const char *check_token(const char *value)
{
    size_t n = 0;
    for (; value[n]; n++)
        if (!is_ascii_alnum(value[n]))
            break;
    return (value[n] == '\0' && n >= 1 && n <= TOKEN_MAX_CHARS)
               ? NULL
               : "must be 1 to 32 letters or digits";
}

/* 43 characters of [A-Za-z0-9] plus the implied "=" always decode to exactly 32 bytes, so the
 * charset and length are the whole check (crypto/ decodes it again, leniently). */
static const char *check_aes_key(const char *value)
{
    size_t n = 0;
    for (; value[n]; n++)
        if (!is_ascii_alnum(value[n]))
            break;
    return (value[n] == '\0' && n == AES_KEY_CHARS) ? NULL : "must be 43 letters or digits";
}

static const char *check_pg_url(const char *value)
{
    static const char *const msg =
        "must be a postgresql:// or postgres:// URL (printable ASCII, no spaces)";
    if (strncmp(value, "postgresql://", 13) != 0 && strncmp(value, "postgres://", 11) != 0)
        return msg;
    for (const char *c = value; *c; c++)
        if (*c <= ' ' || *c > '~')
            return msg;
    return NULL;
}

/* Shows scheme, user, hosts and database; never the password nor any query parameter (a query
 * may carry password=...). Everything before the last '@' but a plain user name is hidden, so a
 * password holding a stray '@' or '/' cannot leak; when a '?' comes before the last '@' we cannot
 * tell a password from a query, and hide all. */
static void show_pg_url(FILE *out, const char *url)
{
    const char *rest = strstr(url, "://") + 3; /* check_pg_url made sure it is there */
    fwrite(url, 1, (size_t)(rest - url), out);
    const char *query = strchr(rest, '?');
    const char *at = strrchr(rest, '@');
    if (at && query && query < at) {
        fputs("***", out);
        return;
    }
    if (at) {
        size_t user = strspn(rest, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   "0123456789._%+-");
        if (rest + user == at) {
            fwrite(rest, 1, user, out);
        } else if (rest[user] == ':') {
            fwrite(rest, 1, user, out);
            fputs(":***", out);
        } else {
            fputs("***", out);
        }
        fputc('@', out);
        rest = at + 1;
    }
    fwrite(rest, 1, query ? (size_t)(query - rest) : strlen(rest), out);
    if (query)
        fputs("?***", out);
}

static const char *const channel_type_names[] = {[WG_CHANNEL_WECOM_APP] = "wecom_app",
                                                 [WG_CHANNEL_ROBOT] = "robot",
                                                 [WG_CHANNEL_WEBHOOK] = "webhook"};
static const char *const format_names[] = {[WG_FORMAT_MARKDOWN] = "markdown",
                                           [WG_FORMAT_TEXT] = "text",
                                           [WG_FORMAT_TEXTCARD] = "textcard"};

static int name_index(const char *const *names, size_t n, const char *value)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(value, names[i]) == 0)
            return (int)i;
    return -1;
}

static bool is_printable(const char *s)
{
    for (; *s; s++)
        if (*s <= ' ' || *s > '~')
            return false;
    return true;
}

static const char *check_path(const char *value)
{
    return value[0] == '/' ? NULL : "must be an absolute path";
}

/* scheme://host[:port] with an optional path prefix, no query, no user info. */
static bool is_base_url(const char *value, const char *scheme)
{
    size_t n = strlen(scheme);
    if (strncmp(value, scheme, n) != 0 || !is_printable(value))
        return false;
    const char *host = value + n;
    size_t host_len = strcspn(host, "/?#");
    return host_len > 0 && memchr(host, '@', host_len) == NULL;
}

static const char *check_api_base(const char *value)
{
    if (!is_base_url(value, "https://") || strpbrk(value, "?#"))
        return "must be an https:// URL without query (e.g. \"" DEFAULT_API_BASE "\")";
    return NULL;
}

static const char *check_https_url(const char *value)
{
    return is_base_url(value, "https://") && !strchr(value, '#')
               ? NULL
               : "must be an https:// URL (printable ASCII, no spaces, no user info)";
}

static const char *check_secret_text(const char *value)
{
    return value[0] && is_printable(value) ? NULL
                                           : "must be non-empty printable ASCII without spaces";
}

static const char *check_channel_type(const char *value)
{
    return name_index(channel_type_names, 3, value) >= 0
               ? NULL
               : "must be one of wecom_app, robot, webhook";
}

static const char *check_format(const char *value)
{
    return name_index(format_names, 3, value) >= 0 ? NULL
                                                   : "must be one of markdown, text, textcard";
}

/* "userid|userid|..." as message/send's touser takes it; "@all" is refused on purpose (an
 * alert to the whole company is not a configuration slip we want to make easy). */
static const char *check_userids(const char *value)
{
    static const char *const msg =
        "must be 1 to 1000 user ids separated by '|' (letters, digits, '_', '-', '.', '@')";
    size_t ids = 0, len = 0;
    for (const char *c = value;; c++) {
        if (*c == '|' || *c == '\0') {
            if (len == 0 || len > USERID_MAX_CHARS)
                return msg;
            ids++;
            len = 0;
            if (*c == '\0')
                break;
            continue;
        }
        if (!is_ascii_alnum(*c) && *c != '_' && *c != '-' && *c != '.' && *c != '@')
            return msg;
        len++;
    }
    if (strcmp(value, "@all") == 0 || strstr(value, "@all|") == value || strstr(value, "|@all"))
        return "must name user ids, not @all";
    return ids <= WECOM_MAX_TOUSER ? NULL : msg;
}

static const char *check_robot_key(const char *value)
{
    size_t n = 0;
    for (; value[n]; n++)
        if (!is_ascii_alnum(value[n]) && value[n] != '-' && value[n] != '_')
            return "must be the robot's key (letters, digits, '-', '_')";
    return n >= 1 && n <= 128 ? NULL : "must be the robot's key (1 to 128 characters)";
}

/* A webhook URL may carry a token in its path or query: show scheme and host only. */
static void show_url_host(FILE *out, const char *url)
{
    const char *host = strstr(url, "://") + 3; /* check_https_url made sure it is there */
    fwrite(url, 1, (size_t)(host - url) + strcspn(host, "/?#"), out);
    if (host[strcspn(host, "/?#")])
        fputs("/***", out);
}

/* ---- Errors and JSON paths ---------------------------------------------------------------- */

struct parser {
    char *err;
    size_t errlen;
};

/* Error messages are one line: control characters (from key names, file names) become '?'. */
static void one_line(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

__attribute__((format(printf, 2, 3))) static int set_err(struct parser *p, const char *fmt, ...)
{
    if (p->errlen == 0)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, p->errlen, fmt, ap);
    va_end(ap);
    one_line(p->err);
    return -1;
}

/* "<path>: <what is wrong>"; always returns -1. */
__attribute__((format(printf, 3, 4))) static int fail(struct parser *p, const char *path,
                                                      const char *fmt, ...)
{
    if (p->errlen == 0)
        return -1;
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return set_err(p, "%s: %s", path, what);
}

static int fail_oom(struct parser *p, const char *path)
{
    return fail(p, path, "out of memory");
}

struct pathbuf {
    char s[JSON_PATH_MAX];
    size_t len;
};

static void path_put(struct pathbuf *b, const char *s, size_t n)
{
    size_t room = sizeof b->s - 1 - b->len;
    if (n > room)
        n = room;
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void path_puts(struct pathbuf *b, const char *s)
{
    path_put(b, s, strlen(s));
}

static void path_start(struct pathbuf *b, const char *parent)
{
    b->len = 0;
    b->s[0] = '\0';
    path_puts(b, parent);
}

/* parent.key, or parent["key"] (escaped, cut at 32 bytes) when the key is not a plain word. */
static void path_key(struct pathbuf *b, const char *parent, const char *key)
{
    path_start(b, parent);
    size_t n = strlen(key);
    bool plain = n > 0 && n <= 64;
    for (size_t i = 0; plain && i < n; i++)
        plain = is_ascii_alnum(key[i]) || key[i] == '_' || key[i] == '-';
    if (plain) {
        if (b->len > 0)
            path_puts(b, ".");
        path_puts(b, key);
        return;
    }
    path_puts(b, "[\"");
    for (size_t i = 0; i < n && i < 32; i++) {
        unsigned char c = (unsigned char)key[i];
        char esc[8];
        if (c == '"' || c == '\\')
            snprintf(esc, sizeof esc, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            snprintf(esc, sizeof esc, "\\x%02x", c);
        else
            snprintf(esc, sizeof esc, "%c", c);
        path_puts(b, esc);
    }
    path_puts(b, n > 32 ? "...\"]" : "\"]");
}

static void path_index(struct pathbuf *b, const char *parent, size_t i)
{
    char idx[32];
    snprintf(idx, sizeof idx, "[%zu]", i);
    path_start(b, parent);
    path_puts(b, idx);
}

/* ---- Secrets ------------------------------------------------------------------------------ */

static void secret_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

enum read_rc { READ_OK, READ_ERRNO, READ_NOT_REGULAR, READ_TOO_BIG, READ_NOMEM };

/* Reads at most cap bytes of file into a new NUL-terminated buffer. Secrets must be regular
 * files: opened non-blocking, a FIFO or a device can neither hang nor stream forever. */
static enum read_rc read_capped(const char *file, size_t cap, bool regular_only, char **out,
                                size_t *out_len)
{
    enum read_rc rc = READ_ERRNO;
    char *buf = NULL;
    size_t len = 0;
    int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY | (regular_only ? O_NONBLOCK : 0));
    if (fd < 0)
        goto out;
    struct stat st;
    if (fstat(fd, &st) != 0)
        goto out;
    if (regular_only && !S_ISREG(st.st_mode)) {
        rc = READ_NOT_REGULAR;
        goto out;
    }
    if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > cap) {
        rc = READ_TOO_BIG;
        goto out;
    }
    buf = malloc(cap + 1);
    if (!buf) {
        rc = READ_NOMEM;
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, buf + len, cap + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto out;
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > cap) {
            rc = READ_TOO_BIG;
            goto out;
        }
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    buf = NULL;
    rc = READ_OK;
out:
    if (fd >= 0) {
        int saved = errno;
        close(fd);
        errno = saved;
    }
    if (buf) {
        explicit_bzero(buf, len);
        free(buf);
    }
    return rc;
}

static bool is_env_name(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!is_ascii_alnum(s[n]) && s[n] != '_')
            return false;
    return n >= 1 && n <= ENV_NAME_MAX && !(s[0] >= '0' && s[0] <= '9');
}

static int read_secret_file(struct parser *p, const char *file, const char *path, char **value)
{
    char *buf = NULL;
    size_t len = 0;
    switch (read_capped(file, SECRET_FILE_MAX, true, &buf, &len)) {
    case READ_OK:
        break;
    case READ_ERRNO:
        return fail(p, path, "cannot read %s: %s", file, strerror(errno));
    case READ_NOT_REGULAR:
        return fail(p, path, "cannot read %s: not a regular file", file);
    case READ_TOO_BIG:
        return fail(p, path, "%s is larger than %d bytes", file, SECRET_FILE_MAX);
    case READ_NOMEM:
        return fail_oom(p, path);
    }
    if (memchr(buf, '\0', len)) {
        secret_free(buf);
        return fail(p, path, "%s contains a NUL byte", file);
    }
    /* One trailing newline, as editors and `echo` leave it. */
    if (len > 0 && buf[len - 1] == '\n') {
        buf[--len] = '\0';
        if (len > 0 && buf[len - 1] == '\r')
            buf[--len] = '\0';
    }
    char *copy = strdup(buf);
    secret_free(buf);
    if (!copy)
        return fail_oom(p, path);
    *value = copy;
    return 0;
}

/* spec is "env:NAME", "file:/path" or the value itself. On success *value is the new secret
 * and *source a new string saying where it came from ("inline" or spec). */
static int resolve_secret(struct parser *p, const char *spec, const char *path, char **value,
                          char **source)
{
    const char *src = spec;
    if (strncmp(spec, "env:", 4) == 0) {
        const char *name = spec + 4;
        if (!is_env_name(name))
            return fail(p, path,
                        "\"env:\" must be followed by a variable name (letters, digits, '_')");
        const char *v = getenv(name);
        if (!v)
            return fail(p, path, "environment variable %s is not set", name);
        if (!(*value = strdup(v)))
            return fail_oom(p, path);
    } else if (strncmp(spec, "file:", 5) == 0) {
        if (spec[5] != '/')
            return fail(p, path, "\"file:\" must be followed by an absolute path");
        if (read_secret_file(p, spec + 5, path, value) != 0)
            return -1;
    } else {
        if (!(*value = strdup(spec)))
            return fail_oom(p, path);
        src = "inline";
    }
    if (!(*source = strdup(src))) {
        secret_free(*value);
        *value = NULL;
        return fail_oom(p, path);
    }
    return 0;
}

/* ---- Parsing ------------------------------------------------------------------------------ */

static int parse_object(struct parser *p, json_t *obj, const char *scope, const char *path,
                        void *base);

/* The key's name if it sits directly in scope ("" is the top level), else NULL. */
static const char *name_in_scope(const struct key *k, const char *scope)
{
    const char *name = k->path;
    size_t n = strlen(scope);
    if (n > 0) {
        if (strncmp(name, scope, n) != 0 || name[n] != '.')
            return NULL;
        name += n + 1;
    }
    return strchr(name, '.') ? NULL : name;
}

static const struct key *find_key(const char *scope, const char *name)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        const char *kname = name_in_scope(&keys[i], scope);
        if (kname && strcmp(kname, name) == 0)
            return &keys[i];
    }
    return NULL;
}

static void store_int(const struct key *k, void *field, int64_t v)
{
    switch (k->type) {
    case K_INT:
        *(int *)field = (int)v;
        break;
    case K_INT64:
        *(int64_t *)field = v;
        break;
    default:
        *(size_t *)field = (size_t)v;
        break;
    }
}

static int online_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > MAX_WORKERS ? MAX_WORKERS : (int)n;
}

static int parse_listen(struct parser *p, const char *s, const char *path, wg_config_t *cfg)
{
    const char *host, *port;
    size_t host_len;
    int family;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return fail(p, path,
                        "must be \"host:port\", e.g. \"127.0.0.1:8080\" or \"[::1]:8080\"");
        host = s + 1;
        host_len = (size_t)(close - host);
        port = close + 2;
        family = AF_INET6;
    } else {
        const char *colon = strrchr(s, ':');
        if (!colon)
            return fail(p, path,
                        "must be \"host:port\", e.g. \"127.0.0.1:8080\" or \"[::1]:8080\"");
        host = s;
        host_len = (size_t)(colon - s);
        port = colon + 1;
        family = AF_INET;
    }
    char hostbuf[64];
    unsigned char addr[16];
    bool ok = host_len > 0 && host_len < sizeof hostbuf;
    if (ok) {
        memcpy(hostbuf, host, host_len);
        hostbuf[host_len] = '\0';
        ok = inet_pton(family, hostbuf, addr) == 1 ||
             (family == AF_INET && strcmp(hostbuf, "localhost") == 0);
    }
    if (!ok)
        return fail(p, path,
                    "host must be an IPv4 address, an IPv6 address in brackets or localhost");
    size_t digits = strspn(port, "0123456789");
    long value = digits >= 1 && digits <= 5 && port[digits] == '\0' ? strtol(port, NULL, 10) : 0;
    if (value < 1 || value > 65535)
        return fail(p, path, "port must be from 1 to 65535");
    if (!(cfg->listen_host = strdup(hostbuf)))
        return fail_oom(p, path);
    cfg->listen_port = (uint16_t)value;
    return 0;
}

static int parse_level(const char *s, wg_log_level_t *level)
{
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *level = (wg_log_level_t)i;
            return 0;
        }
    }
    return -1;
}

static int parse_string(struct parser *p, const struct key *k, json_t *v, const char *path,
                        void *base)
{
    if (!json_is_string(v))
        return fail(p, path, "must be a string");
    char *value = NULL, *source = NULL;
    if (k->flags & KEY_SECRET) {
        if (resolve_secret(p, json_string_value(v), path, &value, &source) != 0)
            return -1;
    } else if (!(value = strdup(json_string_value(v)))) {
        return fail_oom(p, path);
    }
    const char *what = k->check ? k->check(value) : NULL;
    if (what) {
        secret_free(value);
        int rc = source && strcmp(source, "inline") != 0
                     ? fail(p, path, "%s (value from %s)", what, source)
                     : fail(p, path, "%s", what);
        free(source);
        return rc;
    }
    *(char **)((char *)base + k->offset) = value;
    if (k->flags & KEY_SECRET)
        *(char **)((char *)base + k->source_offset) = source;
    return 0;
}

static int parse_ids(struct parser *p, json_t *v, const char *path, wg_config_receiver_t *r)
{
    if (!json_is_array(v))
        return fail(p, path, "must be an array of receive ids (strings)");
    size_t n = json_array_size(v);
    if (n == 0)
        return fail(p, path, "must list at least one receive id");
    if (n > MAX_RECEIVE_IDS)
        return fail(p, path, "must list at most %d receive ids", MAX_RECEIVE_IDS);
    if (!(r->receive_ids = calloc(n, sizeof *r->receive_ids)))
        return fail_oom(p, path);
    r->n_receive_ids = n; /* entries still NULL are skipped by receiver_free */
    struct pathbuf child;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(v, i);
        path_index(&child, path, i);
        if (!json_is_string(e) || !is_id(json_string_value(e), true))
            return fail(p, child.s, "must be \"\" or 1 to 64 letters, digits, '_' or '-'");
        const char *id = json_string_value(e);
        for (size_t j = 0; j < i; j++)
            if (strcmp(r->receive_ids[j], id) == 0)
                return fail(p, child.s, "duplicate \"%s\"", id);
        if (!(r->receive_ids[i] = strdup(id)))
            return fail_oom(p, child.s);
    }
    return 0;
}

/* Receive ids default to the corp id: a self-built app's callbacks end in it (PROTOCOL.md §1). */
static int default_ids(struct parser *p, wg_config_receiver_t *r, const char *corp_id,
                       const char *path)
{
    if (r->n_receive_ids > 0)
        return 0;
    if (!(r->receive_ids = calloc(1, sizeof *r->receive_ids)))
        return fail_oom(p, path);
    r->n_receive_ids = 1;
    if (!(r->receive_ids[0] = strdup(corp_id)))
        return fail_oom(p, path);
    return 0;
}

/* The start of a named map (corps[].receivers, corps[].channels): v must be an object of at
 * most max entries; one zeroed element of elem_size per entry goes to *arr. Returns the number of
 * entries (0: nothing allocated), or -1 after fail(). Names are unique: json_loadb rejects
 * duplicate keys. */
static long named_map_alloc(struct parser *p, json_t *v, const char *path, const char *what,
                            int max, size_t elem_size, void **arr)
{
    if (!json_is_object(v))
        return fail(p, path, "must be an object of named %s", what);
    size_t n = json_object_size(v);
    if (n > (size_t)max)
        return fail(p, path, "must list at most %d %s", max, what);
    if (n == 0)
        return 0;
    if (!(*arr = calloc(n, elem_size)))
        return fail_oom(p, path);
    return (long)n;
}

static int parse_receivers(struct parser *p, json_t *v, const char *path, wg_config_corp_t *corp)
{
    void *arr = NULL;
    long n = named_map_alloc(p, v, path, "receivers", MAX_RECEIVERS, sizeof *corp->receivers, &arr);
    if (n <= 0)
        return (int)n;
    corp->receivers = arr;
    corp->n_receivers = (size_t)n;
    size_t i = 0;
    const char *name;
    json_t *e;
    struct pathbuf child;
    json_object_foreach(v, name, e)
    {
        path_key(&child, path, name);
        if (!is_name(name))
            return fail(p, child.s, "receiver name must be 1 to 32 of a-z, 0-9, '_' or '-'");
        if (strcmp(name, "callback") == 0)
            return fail(p, child.s, "receiver name \"callback\" is reserved");
        if (!json_is_object(e))
            return fail(p, child.s, "must be an object");
        wg_config_receiver_t *r = &corp->receivers[i++];
        if (!(r->name = strdup(name)))
            return fail_oom(p, child.s);
        if (parse_object(p, e, "corps[].receivers.*", child.s, r) != 0)
            return -1;
    }
    return 0;
}

/* The keys a channel of each type takes (the table has one scope for all types). */
static int check_channel(struct parser *p, const wg_config_corp_t *corp, wg_config_channel_t *ch,
                         const char *path)
{
    struct pathbuf field;
    ch->type = (wg_channel_type_t)name_index(channel_type_names, 3, ch->type_name);
    ch->format = ch->format_name ? (wg_channel_format_t)name_index(format_names, 3, ch->format_name)
                                 : WG_FORMAT_MARKDOWN;
    const char *type = ch->type_name;
    struct {
        const char *key;
        bool set, allowed, required;
    } rules[] = {
        {"format", ch->format_name != NULL, ch->type != WG_CHANNEL_WEBHOOK, false},
        {"to", ch->to != NULL, ch->type != WG_CHANNEL_WEBHOOK, false},
        {"key", ch->key != NULL, ch->type == WG_CHANNEL_ROBOT, ch->type == WG_CHANNEL_ROBOT},
        {"url", ch->url != NULL, ch->type == WG_CHANNEL_WEBHOOK, ch->type == WG_CHANNEL_WEBHOOK},
        {"secret", ch->secret != NULL, ch->type == WG_CHANNEL_WEBHOOK,
         ch->type == WG_CHANNEL_WEBHOOK},
        {"insecure", ch->insecure != 0, ch->type == WG_CHANNEL_WEBHOOK, false},
    };
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        path_key(&field, path, rules[i].key);
        if (rules[i].set && !rules[i].allowed)
            return fail(p, field.s, "is not used by a %s channel", type);
        if (!rules[i].set && rules[i].required)
            return fail(p, field.s, "is required for a %s channel", type);
    }
    if (ch->format == WG_FORMAT_TEXTCARD && ch->type != WG_CHANNEL_WECOM_APP) {
        path_key(&field, path, "format");
        return fail(p, field.s, "textcard is for wecom_app channels only");
    }
    if (ch->type == WG_CHANNEL_WECOM_APP && (corp->agent_id <= 0 || !corp->agent_secret))
        return fail(p, path, "a wecom_app channel needs the corp's agent_id and agent_secret");
    return 0;
}

static int parse_channels(struct parser *p, json_t *v, const char *path, wg_config_corp_t *corp)
{
    void *arr = NULL;
    long n = named_map_alloc(p, v, path, "channels", MAX_CHANNELS, sizeof *corp->channels, &arr);
    if (n <= 0)
        return (int)n;
    corp->channels = arr;
    corp->n_channels = (size_t)n;
    /* Type checks wait for the whole corp (agent_id and agent_secret may come after
     * "channels"): see check_channel. */
    size_t i = 0;
    const char *name;
    json_t *e;
    struct pathbuf child;
    json_object_foreach(v, name, e)
    {
        path_key(&child, path, name);
        if (!is_name(name))
            return fail(p, child.s, "channel name must be 1 to 32 of a-z, 0-9, '_' or '-'");
        if (!json_is_object(e))
            return fail(p, child.s, "must be an object");
        wg_config_channel_t *ch = &corp->channels[i++];
        if (!(ch->name = strdup(name)))
            return fail_oom(p, child.s);
        if (parse_object(p, e, "corps[].channels.*", child.s, ch) != 0)
            return -1;
    }
    return 0;
}

static int parse_corps(struct parser *p, json_t *v, const char *path, wg_config_t *cfg)
{
    if (!json_is_array(v))
        return fail(p, path, "must be an array of corps");
    size_t n = json_array_size(v);
    if (n == 0)
        return fail(p, path, "must list at least one corp");
    if (n > MAX_CORPS)
        return fail(p, path, "must list at most %d corps", MAX_CORPS);
    if (!(cfg->corps = calloc(n, sizeof *cfg->corps)))
        return fail_oom(p, path);
    cfg->n_corps = n;
    struct pathbuf child, field;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(v, i);
        wg_config_corp_t *c = &cfg->corps[i];
        path_index(&child, path, i);
        if (!json_is_object(e))
            return fail(p, child.s, "must be an object");
        if (!(c->main.name = strdup("")))
            return fail_oom(p, child.s);
        if (parse_object(p, e, "corps[]", child.s, c) != 0)
            return -1;
        path_key(&field, child.s, "receive_ids");
        if (default_ids(p, &c->main, c->corp_id, field.s) != 0)
            return -1;
        for (size_t j = 0; j < c->n_receivers; j++)
            if (default_ids(p, &c->receivers[j], c->corp_id, field.s) != 0)
                return -1;
        if (!c->api_base && !(c->api_base = strdup(DEFAULT_API_BASE)))
            return fail_oom(p, child.s);
        path_key(&field, child.s, "channels");
        for (size_t j = 0; j < c->n_channels; j++) {
            struct pathbuf chan;
            path_key(&chan, field.s, c->channels[j].name);
            if (check_channel(p, c, &c->channels[j], chan.s) != 0)
                return -1;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(cfg->corps[j].name, c->name) == 0) {
                path_key(&field, child.s, "name");
                return fail(p, field.s, "duplicate \"%s\"", c->name);
            }
            if (strcmp(cfg->corps[j].corp_id, c->corp_id) == 0) {
                path_key(&field, child.s, "corp_id");
                return fail(p, field.s, "duplicate \"%s\"", c->corp_id);
            }
        }
    }
    return 0;
}

static int parse_value(struct parser *p, const struct key *k, json_t *v, const char *path,
                       void *base)
{
    void *field = (char *)base + k->offset;
    switch (k->type) {
    case K_INT:
    case K_INT64:
    case K_SIZE:
        if (!json_is_integer(v) || json_integer_value(v) < k->min || json_integer_value(v) > k->max)
            return fail(p, path, "must be an integer from %lld to %lld%s", (long long)k->min,
                        (long long)k->max, k->range_note ? k->range_note : "");
        store_int(k, field, json_integer_value(v));
        return 0;
    case K_STRING:
        return parse_string(p, k, v, path, base);
    case K_LISTEN:
        if (!json_is_string(v))
            return fail(p, path, "must be a string \"host:port\"");
        return parse_listen(p, json_string_value(v), path, base);
    case K_LOG_LEVEL:
        if (!json_is_string(v) || parse_level(json_string_value(v), field) != 0)
            return fail(p, path, "must be one of debug, info, warn, error");
        return 0;
    case K_IDS:
        return parse_ids(p, v, path, field);
    case K_OBJECT:
        if (!json_is_object(v))
            return fail(p, path, "must be an object");
        return parse_object(p, v, k->path, path, base);
    case K_CORPS:
        return parse_corps(p, v, path, base);
    case K_RECEIVERS:
        return parse_receivers(p, v, path, base);
    case K_CHANNELS:
        return parse_channels(p, v, path, base);
    case K_BOOL:
        if (!json_is_boolean(v))
            return fail(p, path, "must be true or false");
        *(int *)field = json_is_true(v);
        return 0;
    }
    return fail(p, path, "internal error: key type %d", (int)k->type);
}

static int set_default(struct parser *p, const struct key *k, const char *path, void *base)
{
    void *field = (char *)base + k->offset;
    switch (k->type) {
    case K_INT:
    case K_INT64:
    case K_SIZE:
        store_int(k, field, k->flags & KEY_DEFAULT_CORES ? online_cores() : k->def);
        return 0;
    case K_LISTEN:
        return parse_listen(p, k->def_str, path, base);
    case K_LOG_LEVEL:
        return parse_level(k->def_str, field);
    case K_OBJECT: /* an absent object is an empty one: its keys get their defaults */
        return parse_object(p, NULL, k->path, path, base);
    case K_STRING:    /* optional strings stay NULL */
    case K_IDS:       /* filled in with the corp id by parse_corps */
    case K_CORPS:     /* required */
    case K_RECEIVERS: /* none */
    case K_CHANNELS:  /* none */
        return 0;
    case K_BOOL:
        *(int *)field = 0;
        return 0;
    }
    return fail(p, path, "internal error: key type %d", (int)k->type);
}

/* Fills base from obj (NULL: an absent object) by the keys of scope; path names obj. */
static int parse_object(struct parser *p, json_t *obj, const char *scope, const char *path,
                        void *base)
{
    struct pathbuf child;
    if (obj) {
        const char *name;
        json_t *v;
        json_object_foreach(obj, name, v)
        {
            path_key(&child, path, name);
            const struct key *k = find_key(scope, name);
            if (!k)
                return fail(p, child.s, "unknown key");
            if (json_is_null(v) && (k->flags & KEY_NULLABLE))
                continue; /* its default, below */
            if (parse_value(p, k, v, child.s, base) != 0)
                return -1;
        }
    }
    for (size_t i = 0; i < N_KEYS; i++) {
        const char *name = name_in_scope(&keys[i], scope);
        json_t *given = obj ? json_object_get(obj, name ? name : "") : NULL;
        if (!name || (given && !(json_is_null(given) && (keys[i].flags & KEY_NULLABLE))))
            continue;
        path_key(&child, path, name);
        if (keys[i].flags & KEY_REQUIRED)
            return fail(p, child.s, "is required");
        if (set_default(p, &keys[i], child.s, base) != 0)
            return -1;
    }
    return 0;
}

/* Bounds that involve two keys. */
static int check_across(struct parser *p, const wg_config_t *cfg)
{
    for (size_t i = 0; i < cfg->n_corps; i++) {
        const wg_config_corp_t *c = &cfg->corps[i];
        if (c->quota_hour_ms < c->quota_minute_ms) {
            char path[64];
            snprintf(path, sizeof path, "corps[%zu].quotas.hour_ms", i);
            return fail(p, path, "must be at least quotas.minute_ms (%d)", c->quota_minute_ms);
        }
    }
    if (cfg->outbox_backoff_max_ms < cfg->outbox_backoff_min_ms)
        return fail(p, "outbox.backoff_max_ms", "must be at least outbox.backoff_min_ms (%d)",
                    cfg->outbox_backoff_min_ms);
    /* A lease that runs out while the request is still allowed to run hands the row to another
     * worker mid-send: a needless duplicate. */
    long long in_flight =
        (long long)cfg->http_client_connect_timeout_ms + cfg->http_client_response_timeout_ms;
    if (cfg->outbox_lease_ms <= in_flight)
        return fail(p, "outbox.lease_ms",
                    "must be longer than http_client.connect_timeout_ms + "
                    "http_client.response_timeout_ms (%lld), or rows are claimed again while in "
                    "flight",
                    in_flight);
    return 0;
}

/* jansson's text may end in " near '<source text>'", which can be part of a secret: keep the
 * text only for a duplicate key (the near text is the key) and for "near end of file". */
static void syntax_error(struct parser *p, const char *name, const json_error_t *je)
{
    char text[sizeof je->text];
    snprintf(text, sizeof text, "%s", je->text);
    char *near = strstr(text, " near '");
    if (near && strncmp(text, "duplicate object key", 20) != 0)
        *near = '\0';
    set_err(p, "%s:%d:%d: %s", name, je->line, je->column, text);
}

static wg_config_t *parse_buffer(const char *name, const char *json, size_t len, char *err,
                                 size_t errlen)
{
    struct parser p = {err, errlen};
    if (errlen > 0)
        err[0] = '\0';
    json_error_t je;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        syntax_error(&p, name, &je);
        return NULL;
    }
    wg_config_t *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        set_err(&p, "out of memory");
    else if (!json_is_object(root))
        set_err(&p, "top level: must be an object");
    else if (parse_object(&p, root, "", "", cfg) == 0 && check_across(&p, cfg) == 0) {
        json_decref(root);
        return cfg;
    }
    json_decref(root);
    wg_config_free(cfg);
    return NULL;
}

/* ---- Public API --------------------------------------------------------------------------- */

wg_config_t *wg_config_parse(const char *json, size_t len, char *err, size_t errlen)
{
    return parse_buffer("<string>", json, len, err, errlen);
}

wg_config_t *wg_config_load(const char *path, char *err, size_t errlen)
{
    struct parser p = {err, errlen};
    char *buf = NULL;
    size_t len = 0;
    switch (read_capped(path, CONFIG_FILE_MAX, false, &buf, &len)) {
    case READ_OK:
        break;
    case READ_ERRNO:
        set_err(&p, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    case READ_NOT_REGULAR:
        set_err(&p, "cannot read %s: not a regular file", path);
        return NULL;
    case READ_TOO_BIG:
        set_err(&p, "cannot read %s: larger than %d bytes", path, CONFIG_FILE_MAX);
        return NULL;
    case READ_NOMEM:
        set_err(&p, "out of memory");
        return NULL;
    }
    wg_config_t *cfg = parse_buffer(path, buf, len, err, errlen);
    explicit_bzero(buf, len); /* inline secrets */
    free(buf);
    if (cfg && !(cfg->path = strdup(path))) {
        wg_config_free(cfg);
        set_err(&p, "out of memory");
        return NULL;
    }
    return cfg;
}

static void receiver_free(wg_config_receiver_t *r)
{
    free(r->name);
    secret_free(r->token);
    secret_free(r->encoding_aes_key);
    for (size_t i = 0; i < r->n_receive_ids; i++)
        free(r->receive_ids[i]);
    free(r->receive_ids);
    free(r->token_source);
    free(r->encoding_aes_key_source);
}

void wg_config_free(wg_config_t *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->n_corps; i++) {
        wg_config_corp_t *c = &cfg->corps[i];
        free(c->name);
        free(c->corp_id);
        receiver_free(&c->main);
        for (size_t j = 0; j < c->n_receivers; j++)
            receiver_free(&c->receivers[j]);
        free(c->receivers);
        free(c->api_base);
        secret_free(c->agent_secret);
        free(c->agent_secret_source);
        for (size_t j = 0; j < c->n_channels; j++) {
            wg_config_channel_t *ch = &c->channels[j];
            free(ch->name);
            free(ch->type_name);
            free(ch->format_name);
            free(ch->to);
            secret_free(ch->key);
            free(ch->key_source);
            secret_free(ch->url);
            free(ch->url_source);
            secret_free(ch->secret);
            free(ch->secret_source);
        }
        free(c->channels);
    }
    free(cfg->corps);
    free(cfg->path);
    free(cfg->listen_host);
    free(cfg->http_client_ca_file);
    secret_free(cfg->database_url);
    free(cfg->database_url_source);
    free(cfg);
}

const char *wg_config_path(const char *flag_value)
{
    if (flag_value && flag_value[0])
        return flag_value;
    const char *env = getenv(WG_CONFIG_ENV);
    if (env && env[0])
        return env;
    return WG_CONFIG_DEFAULT_PATH;
}

const wg_config_corp_t *wg_config_find_corp(const wg_config_t *cfg, const char *name,
                                            size_t name_len)
{
    for (size_t i = 0; i < cfg->n_corps; i++) {
        const char *n = cfg->corps[i].name;
        if (strlen(n) == name_len && memcmp(n, name, name_len) == 0)
            return &cfg->corps[i];
    }
    return NULL;
}

const wg_config_receiver_t *wg_config_find_receiver(const wg_config_corp_t *corp, const char *name,
                                                    size_t name_len)
{
    if (name_len == 0)
        return &corp->main;
    for (size_t i = 0; i < corp->n_receivers; i++) {
        const char *n = corp->receivers[i].name;
        if (strlen(n) == name_len && memcmp(n, name, name_len) == 0)
            return &corp->receivers[i];
    }
    return NULL;
}

const wg_config_channel_t *wg_config_find_channel(const wg_config_corp_t *corp, const char *name)
{
    for (size_t i = 0; i < corp->n_channels; i++)
        if (strcmp(corp->channels[i].name, name) == 0)
            return &corp->channels[i];
    return NULL;
}

const char *wg_config_channel_type_name(wg_channel_type_t type)
{
    return (unsigned)type < 3 ? channel_type_names[type] : "unknown";
}

const char *wg_config_channel_format_name(wg_channel_format_t format)
{
    return (unsigned)format < 3 ? format_names[format] : "unknown";
}

const char *wg_config_log_level_name(wg_log_level_t level)
{
    return (unsigned)level < sizeof level_names / sizeof level_names[0] ? level_names[level]
                                                                        : "unknown";
}

const char *wg_config_key(size_t i)
{
    return i < N_KEYS ? keys[i].path : NULL;
}

/* ---- Summary ------------------------------------------------------------------------------ */

static void print_value(FILE *out, const struct key *k, const void *base)
{
    const void *field = (const char *)base + k->offset;
    const wg_config_t *cfg = base;
    switch (k->type) {
    case K_INT:
        fprintf(out, "%d", *(const int *)field);
        break;
    case K_INT64:
        fprintf(out, "%lld", (long long)*(const int64_t *)field);
        break;
    case K_SIZE:
        fprintf(out, "%zu", *(const size_t *)field);
        break;
    case K_LISTEN:
        fprintf(out, strchr(cfg->listen_host, ':') ? "[%s]:%u" : "%s:%u", cfg->listen_host,
                (unsigned)cfg->listen_port);
        break;
    case K_LOG_LEVEL:
        fputs(wg_config_log_level_name(*(const wg_log_level_t *)field), out);
        break;
    case K_STRING: {
        const char *value = *(char *const *)field;
        if (!value) {
            fputs("(not set)", out);
        } else if (k->flags & KEY_SECRET) {
            if (k->show)
                k->show(out, value);
            else
                fputs("set", out);
            fprintf(out, " (%s)", *(char *const *)((const char *)base + k->source_offset));
        } else {
            fputs(value, out);
        }
        break;
    }
    case K_BOOL:
        fputs(*(const int *)field ? "true" : "false", out);
        break;
    case K_IDS:
    case K_OBJECT:
    case K_CORPS:
    case K_RECEIVERS:
    case K_CHANNELS:
        break;
    }
}

static void print_endpoint(FILE *out, const wg_config_corp_t *corp, const wg_config_receiver_t *r)
{
    if (r->name[0])
        fprintf(out, "  receiver %s: /wecom/%s/%s/callback\n", r->name, corp->name, r->name);
    else
        fprintf(out, "  endpoint: /wecom/%s/callback\n", corp->name);
    fprintf(out, "    token: set (%s)\n", r->token_source);
    fprintf(out, "    encoding_aes_key: set (%s)\n", r->encoding_aes_key_source);
    fputs("    receive_ids: [", out);
    for (size_t i = 0; i < r->n_receive_ids; i++)
        fprintf(out, "%s\"%s\"", i ? ", " : "", r->receive_ids[i]);
    fputs("]\n", out);
}

static void print_channel(FILE *out, const wg_config_channel_t *ch)
{
    fprintf(out, "  channel %s: %s", ch->name, ch->type_name);
    if (ch->type != WG_CHANNEL_WEBHOOK)
        fprintf(out, ", %s", format_names[ch->format]);
    if (ch->to)
        fprintf(out, ", to %s", ch->to);
    if (ch->key)
        fprintf(out, ", key set (%s)", ch->key_source);
    if (ch->url) {
        fputs(", url ", out);
        show_url_host(out, ch->url);
        fprintf(out, " (%s)", ch->url_source);
    }
    if (ch->secret)
        fprintf(out, ", secret set (%s)", ch->secret_source);
    if (ch->insecure)
        fputs(", insecure: certificates not checked", out);
    fputc('\n', out);
}

void wg_config_print_summary(const wg_config_t *cfg, FILE *out)
{
    if (cfg->path)
        fprintf(out, "config: %s\n", cfg->path);
    /* The settings outside corps, in table order; secrets through their show(). */
    for (size_t i = 0; i < N_KEYS; i++) {
        const struct key *k = &keys[i];
        if (strchr(k->path, '[') || k->type == K_OBJECT || k->type == K_CORPS)
            continue;
        fprintf(out, "%s: ", k->path);
        print_value(out, k, cfg);
        fputc('\n', out);
    }
    fprintf(out, "corps: %zu\n", cfg->n_corps);
    for (size_t i = 0; i < cfg->n_corps; i++) {
        const wg_config_corp_t *c = &cfg->corps[i];
        fprintf(out, "corp %s:\n  corp_id: %s\n  agent_id: %lld\n", c->name, c->corp_id,
                (long long)c->agent_id);
        print_endpoint(out, c, &c->main);
        for (size_t j = 0; j < c->n_receivers; j++)
            print_endpoint(out, c, &c->receivers[j]);
        fprintf(out, "  api_base: %s%s\n", c->api_base,
                c->api_insecure ? " (insecure: certificates not checked)" : "");
        if (c->agent_secret)
            fprintf(out, "  agent_secret: set (%s)\n", c->agent_secret_source);
        fprintf(out, "  quotas: %d per member a minute, %d an hour; %d per robot a minute",
                c->quota_member_per_minute, c->quota_member_per_hour, c->quota_robot_per_minute);
        if (c->quota_minute_ms != MINUTE_MS || c->quota_hour_ms != HOUR_MS)
            fprintf(out, " (minute %d ms, hour %d ms)", c->quota_minute_ms, c->quota_hour_ms);
        fputc('\n', out);
        for (size_t j = 0; j < c->n_channels; j++)
            print_channel(out, &c->channels[j]);
    }
}
