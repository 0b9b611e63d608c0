/* `wegate notify`: queues one message on a configured channel (an outbox row; a running gateway
 * delivers it at once, woken by NOTIFY). How an operator tests a channel. */
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "connectors/wecom/api.h"
#include "gateway/cli/cli.h"
#include "gateway/config/config.h"
#include "gateway/outbox/channels.h"
#include "gateway/outbox/outbox.h"

#define KEY_MAX 200 /* outbox.idempotency_key and X-Wegate-Delivery: 1..200 characters */

static const char usage_text[] =
    "usage: wegate notify --corp C --channel NAME [--to T] --text TEXT [options]\n"
    "\n"
    "Queues one message on the corp's channel NAME (corps[].channels in the config): a row of\n"
    "the outbox, delivered by a running gateway at once and retried with backoff. Prints the\n"
    "row id; `wegate outbox list` shows how it went.\n"
    "\n"
    "  --corp C          the corp's name in the config\n"
    "  --channel NAME    the channel (wecom_app, robot or webhook)\n"
    "  --to T            wecom_app: user ids \"a|b\" (default: the channel's \"to\");\n"
    "                    robot: user ids to @mention in a text message\n"
    "  --text TEXT       the message (markdown or text; a textcard's description)\n"
    "  --format F        markdown, text or textcard (default: the channel's format)\n"
    "  --title T         textcard title (required for textcard)\n"
    "  --url U           textcard link (required for textcard)\n"
    "  --btntxt B        textcard button text\n"
    "  --key K           idempotency key (default: a random one); the same key twice queues\n"
    "                    once\n"
    "  --config FILE     the config (default: $" WG_CONFIG_ENV ", else " WG_CONFIG_DEFAULT_PATH
    ")\n"
    "\n"
    "A webhook channel receives {\"msgtype\": F, \"content\": TEXT} (F default text) as the\n"
    "POST body.\n"
    "Exit codes: 0 queued (or already queued with that key), 1 bad config, a message the\n"
    "channel cannot take, or a database error, 2 usage error.\n";

static int usage_error(const char *fmt, const char *arg)
{
    fputs("wegate notify: ", stderr);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    fputs(usage_text, stderr);
    return WG_EXIT_USAGE;
}

typedef struct notify_opts {
    const char *corp, *channel, *to, *text, *format, *title, *url, *btntxt, *key, *config;
} notify_opts_t;

/* The payload JSON (a new string) for the channel, or NULL with err. */
static char *build_payload(const notify_opts_t *o, const wg_config_channel_t *ch, char *err,
                           size_t errlen)
{
    json_t *p = json_object();
    const char *type = o->format                        ? o->format
                       : ch->type == WG_CHANNEL_WEBHOOK ? "text"
                                                        : wg_config_channel_format_name(ch->format);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    json_object_set_new(p, "msgtype", json_string(type));
    if (strcmp(type, "textcard") == 0) {
        json_object_set_new(p, "title", json_string(o->title ? o->title : ""));
        json_object_set_new(p, "description", json_string(o->text));
        json_object_set_new(p, "url", json_string(o->url ? o->url : ""));
        if (o->btntxt)
            json_object_set_new(p, "btntxt", json_string(o->btntxt));
    } else {
        json_object_set_new(p, "content", json_string(o->text));
    }
    char *s = json_dumps(p, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(p);
    if (!s)
        snprintf(err, errlen, "--text and the other values must be valid UTF-8");
    return s;
}

/* What the channel would refuse before sending, said now (the row would only go dead). */
static int check_message(const notify_opts_t *o, const wg_config_channel_t *ch, const char *payload,
                         char *err, size_t errlen)
{
    if (ch->type == WG_CHANNEL_WEBHOOK)
        return 0;
    wg_outbox_message_t m;
    json_t *json = NULL;
    if (wg_outbox_message_parse(ch, payload, strlen(payload), &m, &json, err, errlen) != 0)
        return -1;
    int rc = 0;
    size_t len = m.content ? strlen(m.content) : 0;
    size_t max =
        ch->type == WG_CHANNEL_ROBOT
            ? (m.format == WG_FORMAT_TEXT ? WG_WECOM_ROBOT_TEXT_MAX : WG_WECOM_ROBOT_MARKDOWN_MAX)
            : (m.format == WG_FORMAT_TEXT ? WG_WECOM_TEXT_MAX : WG_WECOM_MARKDOWN_MAX);
    if (m.format != WG_FORMAT_TEXTCARD && len > max) {
        snprintf(err, errlen, "--text is %zu bytes; a %s %s message takes at most %zu", len,
                 wg_config_channel_type_name(ch->type), wg_config_channel_format_name(m.format),
                 max);
        rc = -1;
    } else if (ch->type == WG_CHANNEL_WECOM_APP && !o->to && !ch->to) {
        snprintf(err, errlen, "channel %s has no \"to\": give --to userid|userid", ch->name);
        rc = -1;
    }
    json_decref(json);
    return rc;
}

static int random_key(char *out, size_t outlen)
{
    unsigned char b[12];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
        return -1;
    size_t n = (size_t)snprintf(out, outlen, "notify-");
    for (size_t i = 0; i < sizeof b && n + 2 < outlen; i++)
        n += (size_t)snprintf(out + n, outlen - n, "%02x", b[i]);
    return 0;
}

static int queue(const notify_opts_t *o)
{
    char err[512];
    wg_config_t *cfg = wg_config_load(wg_config_path(o->config), err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "wegate notify: %s\n", err);
        return WG_EXIT_CHECK;
    }
    int rc = WG_EXIT_CHECK;
    char *payload = NULL;
    PGconn *conn = NULL;
    const wg_config_corp_t *corp = wg_config_find_corp(cfg, o->corp, strlen(o->corp));
    const wg_config_channel_t *ch = corp ? wg_config_find_channel(corp, o->channel) : NULL;
    if (!corp) {
        fprintf(stderr, "wegate notify: no corp '%s' in %s\n", o->corp, wg_config_path(o->config));
        goto out;
    }
    if (!ch) {
        fprintf(stderr, "wegate notify: corp %s has no channel '%s'\n", corp->name, o->channel);
        goto out;
    }
    if (!(payload = build_payload(o, ch, err, sizeof err)) ||
        check_message(o, ch, payload, err, sizeof err) != 0) {
        fprintf(stderr, "wegate notify: %s\n", err);
        goto out;
    }
    char key[64];
    if (!o->key && random_key(key, sizeof key) != 0) {
        perror("wegate notify: getrandom");
        goto out;
    }
    char timeout[16];
    snprintf(timeout, sizeof timeout, "%d", (cfg->database_connect_timeout_ms + 999) / 1000);
    const char *const kw[] = {"application_name", "connect_timeout", "dbname", NULL};
    const char *const val[] = {"wegate-cli", timeout, cfg->database_url, NULL};
    conn = PQconnectdbParams(kw, val, 1);
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "wegate notify: cannot connect to the database: %s", PQerrorMessage(conn));
        goto out;
    }
    wg_outbox_item_t item = {
        .corp = corp->name,
        .channel = ch->name,
        .target = o->to,
        .payload = payload,
        .key = o->key ? o->key : key,
    };
    int64_t id = 0;
    if (wg_outbox_enqueue(conn, &item, &id, err, sizeof err) != 0) {
        fprintf(stderr, "wegate notify: %s\n", err);
        goto out;
    }
    if (id)
        printf("queued outbox row %" PRId64 " (key %s)\n", id, item.key);
    else
        printf("already queued with key %s: nothing to do\n", item.key);
    rc = fflush(stdout) == 0 ? WG_EXIT_OK : WG_EXIT_CHECK;
out:
    PQfinish(conn);
    free(payload);
    wg_config_free(cfg);
    return rc;
}

int wg_cli_notify(int argc, char **argv)
{
    notify_opts_t o = {0};
    struct {
        const char *flag;
        const char **dst;
    } flags[] = {
        {"--corp", &o.corp},     {"--channel", &o.channel}, {"--to", &o.to},
        {"--text", &o.text},     {"--format", &o.format},   {"--title", &o.title},
        {"--url", &o.url},       {"--btntxt", &o.btntxt},   {"--key", &o.key},
        {"--config", &o.config},
    };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_text, stdout);
            return WG_EXIT_OK;
        }
        size_t f = 0;
        for (; f < sizeof flags / sizeof flags[0]; f++)
            if (strcmp(a, flags[f].flag) == 0)
                break;
        if (f == sizeof flags / sizeof flags[0])
            return usage_error("unexpected argument '%s'", a);
        if (i + 1 >= argc)
            return usage_error("%s needs a value", a);
        *flags[f].dst = argv[++i];
    }
    if (!o.corp || !o.channel || !o.text)
        return usage_error("%s", "--corp, --channel and --text are required");
    if (o.format && strcmp(o.format, "markdown") != 0 && strcmp(o.format, "text") != 0 &&
        strcmp(o.format, "textcard") != 0)
        return usage_error("--format '%s': want markdown, text or textcard", o.format);
    if (o.format && strcmp(o.format, "textcard") == 0 && (!o.title || !o.url))
        return usage_error("%s", "a textcard needs --title and --url");
    if (o.key) {
        size_t n = strlen(o.key);
        int ok = n >= 1 && n <= KEY_MAX;
        for (size_t i = 0; ok && i < n; i++)
            ok = o.key[i] > ' ' && o.key[i] <= '~';
        if (!ok)
            return usage_error("--key '%s': want 1 to 200 visible ASCII characters", o.key);
    }
    if (o.to && !o.to[0])
        o.to = NULL;
    if (o.config && !o.config[0])
        return usage_error("%s", "--config needs a file name");
    return queue(&o);
}
