/* Tests for gateway/config: every error as data (tests/data/config/invalid/<case>.json with the
 * expected error in <case>.err), defaults, secrets from env: and file:, the summary, the example
 * config's completeness, and wg_config_path's precedence. */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/config/config.h"
#include "testlib.h"

#define TOKEN "QDG6eK"
#define KEY "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
#define CORP_ID "wx5823bf96d3bd56c7"
#define RTOKEN "i5mN2t8xsEDbwsZM"
#define RKEY "FEAGooHwPf8s36qJY2gMCGEtjTHx6p7XwX1szAjA68c"
#define URL "postgresql://wegate@127.0.0.1:5432/wegate"
#define UNSET_VAR "WG_CONFIG_TEST_UNSET" /* the invalid cases expect it unset */

/* A minimal valid config around one corp's extra keys (a JSON fragment starting with ","). */
#define MIN_CONFIG(corp_extra, top_extra)                                                          \
    "{\"database\": {\"url\": \"" URL "\"}, \"corps\": [{\"name\": \"demo\", \"corp_id\": "        \
    "\"" CORP_ID "\", \"token\": \"" TOKEN "\", \"encoding_aes_key\": \"" KEY "\"" corp_extra      \
    "}]" top_extra "}"

static char tmpdir[] = "/tmp/wg-config-test.XXXXXX";

static const char *data_dir(void)
{
    const char *d = getenv("WG_TEST_DATA");
    return d ? d : "tests/data";
}

static wg_config_t *parse(const char *json, char *err, size_t errlen)
{
    return wg_config_parse(json, strlen(json), err, errlen);
}

/* Parses json, which must fail; returns the error (static buffer). */
static const char *parse_err(const char *json)
{
    static char err[512];
    strcpy(err, "(no error written)");
    wg_config_t *cfg = parse(json, err, sizeof err);
    CHECK(cfg == NULL);
    wg_config_free(cfg);
    return err;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, n, mem);
    fclose(f);
    fclose(mem);
    return buf;
}

static void write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    CHECK_INT(fwrite(data, 1, len, f), len);
    fclose(f);
}

static char *summary(const wg_config_t *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    wg_config_print_summary(cfg, mem);
    fclose(mem);
    return buf;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Collects the values of secret keys (token, encoding_aes_key, url) that are given inline, so a
 * test can check that none of them shows in an error. */
static void collect_secrets(json_t *node, const char **out, size_t *n, size_t cap)
{
    const char *key;
    json_t *v;
    size_t i;
    if (json_is_object(node)) {
        json_object_foreach(node, key, v)
        {
            const char *s = json_string_value(v);
            if (s && (strcmp(key, "token") == 0 || strcmp(key, "encoding_aes_key") == 0 ||
                      strcmp(key, "url") == 0)) {
                if (strlen(s) >= 4 && strncmp(s, "env:", 4) != 0 && strncmp(s, "file:", 5) != 0 &&
                    *n < cap)
                    out[(*n)++] = s;
            } else {
                collect_secrets(v, out, n, cap);
            }
        }
    } else if (json_is_array(node)) {
        json_array_foreach(node, i, v) collect_secrets(v, out, n, cap);
    }
}

static void test_invalid_cases(void)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/config/invalid", data_dir());
    unsetenv(UNSET_VAR);
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    if (!d)
        return;
    char *names[512];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 512) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".json") == 0)
            names[n++] = strndup(e->d_name, len - 5);
    }
    closedir(d);
    qsort(names, n, sizeof names[0], compare_names);
    CHECK(n >= 150); /* the folder is read: a wrong path cannot pass quietly */

    for (size_t i = 0; i < n; i++) {
        char json_path[4200], err_path[4200];
        snprintf(json_path, sizeof json_path, "%s/%s.json", dir, names[i]);
        snprintf(err_path, sizeof err_path, "%s/%s.err", dir, names[i]);
        char *want = read_text(err_path);
        CHECK(want != NULL);
        if (!want) {
            fprintf(stderr, "  case %s: no .err file\n", names[i]);
            free(names[i]);
            continue;
        }
        want[strcspn(want, "\n")] = '\0';
        CHECK(want[0] != '\0');

        char err[512] = "(no error written)";
        wg_config_t *cfg = wg_config_load(json_path, err, sizeof err);
        CHECK(cfg == NULL);
        wg_config_free(cfg);
        /* A syntax error starts with the file name; any other error starts with the path. */
        bool ok = strstr(want, ".json:") ? strstr(err, want) != NULL
                                         : strncmp(err, want, strlen(want)) == 0;
        CHECK(ok);
        CHECK(strchr(err, '\n') == NULL);
        if (!ok)
            fprintf(stderr, "  case %s:\n    got:  %s\n    want: %s\n", names[i], err, want);

        json_t *root = json_load_file(json_path, 0, NULL);
        const char *secrets[128];
        size_t n_secrets = 0;
        collect_secrets(root, secrets, &n_secrets, 128);
        for (size_t j = 0; j < n_secrets; j++) {
            CHECK(strstr(err, secrets[j]) == NULL);
            if (strstr(err, secrets[j]))
                fprintf(stderr, "  case %s: error shows a secret: %s\n", names[i], err);
        }
        json_decref(root);
        free(want);
        free(names[i]);
    }
}

static void test_defaults(void)
{
    char err[512] = "";
    wg_config_t *cfg = parse(MIN_CONFIG("", ""), err, sizeof err);
    CHECK(cfg != NULL);
    if (!cfg) {
        fprintf(stderr, "  %s\n", err);
        return;
    }
    CHECK(cfg->path == NULL);
    CHECK_STR(cfg->listen_host, "127.0.0.1");
    CHECK_INT(cfg->listen_port, 8080);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    CHECK_INT(cfg->workers, cores < 1 ? 1 : cores > 256 ? 256 : cores);
    CHECK_INT(cfg->log_level, WG_LOG_INFO);
    CHECK_INT(cfg->http_max_body, 1048576);
    CHECK_INT(cfg->http_read_timeout_ms, 10000);
    CHECK_INT(cfg->http_shutdown_grace_ms, 10000);
    CHECK_STR(cfg->database_url, URL);
    CHECK_STR(cfg->database_url_source, "inline");
    CHECK_INT(cfg->database_connect_timeout_ms, 3000);
    CHECK_INT(cfg->database_commit_timeout_ms, 3000);
    CHECK_INT(cfg->database_max_batch, 256);
    CHECK_INT(cfg->n_corps, 1);
    const wg_config_corp_t *c = &cfg->corps[0];
    CHECK_STR(c->name, "demo");
    CHECK_STR(c->corp_id, CORP_ID);
    CHECK_INT(c->agent_id, 0);
    CHECK_STR(c->main.name, "");
    CHECK_STR(c->main.token, TOKEN);
    CHECK_STR(c->main.encoding_aes_key, KEY);
    CHECK_STR(c->main.token_source, "inline");
    CHECK_STR(c->main.encoding_aes_key_source, "inline");
    CHECK_INT(c->main.n_receive_ids, 1);
    CHECK_STR(c->main.receive_ids[0], CORP_ID);
    CHECK_INT(c->n_receivers, 0);
    CHECK(c->receivers == NULL);
    wg_config_free(cfg);
}

static void test_all_keys_set(void)
{
    static const char json[] =
        "{\"listen\": \"[::1]:9090\", \"workers\": 256, \"log_level\": \"debug\","
        " \"http\": {\"max_body_bytes\": 67108864, \"read_timeout_ms\": 100,"
        " \"shutdown_grace_ms\": 0},"
        " \"database\": {\"url\": \"postgres://u:pw@db/x\", \"connect_timeout_ms\": 100,"
        " \"commit_timeout_ms\": 4999, \"max_batch\": 10000},"
        " \"corps\": [{\"name\": \"a_1-z\", \"corp_id\": \"ww1\", \"token\": \"" TOKEN "\","
        " \"encoding_aes_key\": \"" KEY "\", \"agent_id\": 2147483647,"
        " \"receive_ids\": [\"\", \"ww1\"],"
        " \"receivers\": {\"contacts\": {\"token\": \"" RTOKEN "\", \"encoding_aes_key\": \"" RKEY
        "\", \"receive_ids\": [\"suite1\"]}, \"robot\": {\"token\": \"T\","
        " \"encoding_aes_key\": \"" KEY "\"}}},"
        " {\"name\": \"b\", \"corp_id\": \"ww2\", \"token\": \"" TOKEN "\","
        " \"encoding_aes_key\": \"" KEY "\"}]}";
    char err[512] = "";
    wg_config_t *cfg = parse(json, err, sizeof err);
    CHECK(cfg != NULL);
    if (!cfg) {
        fprintf(stderr, "  %s\n", err);
        return;
    }
    CHECK_STR(cfg->listen_host, "::1");
    CHECK_INT(cfg->listen_port, 9090);
    CHECK_INT(cfg->workers, 256);
    CHECK_INT(cfg->log_level, WG_LOG_DEBUG);
    CHECK_INT(cfg->http_max_body, 67108864);
    CHECK_INT(cfg->http_read_timeout_ms, 100);
    CHECK_INT(cfg->http_shutdown_grace_ms, 0);
    CHECK_STR(cfg->database_url, "postgres://u:pw@db/x");
    CHECK_INT(cfg->database_connect_timeout_ms, 100);
    CHECK_INT(cfg->database_commit_timeout_ms, 4999);
    CHECK_INT(cfg->database_max_batch, 10000);
    CHECK_INT(cfg->n_corps, 2);
    const wg_config_corp_t *a = &cfg->corps[0];
    CHECK_STR(a->name, "a_1-z");
    CHECK_INT(a->agent_id, 2147483647);
    CHECK_INT(a->main.n_receive_ids, 2);
    CHECK_STR(a->main.receive_ids[0], "");
    CHECK_STR(a->main.receive_ids[1], "ww1");
    CHECK_INT(a->n_receivers, 2);
    CHECK_STR(a->receivers[0].name, "contacts"); /* file order */
    CHECK_STR(a->receivers[0].token, RTOKEN);
    CHECK_STR(a->receivers[0].encoding_aes_key, RKEY);
    CHECK_INT(a->receivers[0].n_receive_ids, 1);
    CHECK_STR(a->receivers[0].receive_ids[0], "suite1");
    CHECK_STR(a->receivers[1].name, "robot");
    CHECK_STR(a->receivers[1].token, "T");
    CHECK_INT(a->receivers[1].n_receive_ids, 1);
    CHECK_STR(a->receivers[1].receive_ids[0], "ww1"); /* defaults to the corp id */
    CHECK_STR(cfg->corps[1].main.receive_ids[0], "ww2");

    CHECK(wg_config_find_corp(cfg, "a_1-z", 5) == a);
    CHECK(wg_config_find_corp(cfg, "b/callback", 1) == &cfg->corps[1]);
    CHECK(wg_config_find_corp(cfg, "a_1", 3) == NULL);
    CHECK(wg_config_find_corp(cfg, "a_1-zz", 6) == NULL);
    CHECK(wg_config_find_corp(cfg, "", 0) == NULL);
    CHECK(wg_config_find_receiver(a, "", 0) == &a->main);
    CHECK(wg_config_find_receiver(a, "robot/callback", 5) == &a->receivers[1]);
    CHECK(wg_config_find_receiver(a, "contact", 7) == NULL);
    CHECK(wg_config_find_receiver(&cfg->corps[1], "robot", 5) == NULL);
    wg_config_free(cfg);
}

static void test_listen_forms(void)
{
    static const struct {
        const char *listen, *host;
        int port;
    } cases[] = {
        {"0.0.0.0:1", "0.0.0.0", 1},
        {"localhost:65535", "localhost", 65535},
        {"[::]:80", "::", 80},
        {"[2001:db8::1]:443", "2001:db8::1", 443},
        {"[::ffff:127.0.0.1]:8080", "::ffff:127.0.0.1", 8080},
        {"10.1.2.3:08080", "10.1.2.3", 8080},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char json[1024], err[512] = "";
        snprintf(json, sizeof json, MIN_CONFIG("", ", \"listen\": \"%s\""), cases[i].listen);
        wg_config_t *cfg = parse(json, err, sizeof err);
        CHECK(cfg != NULL);
        if (!cfg) {
            fprintf(stderr, "  %s: %s\n", cases[i].listen, err);
            continue;
        }
        CHECK_STR(cfg->listen_host, cases[i].host);
        CHECK_INT(cfg->listen_port, cases[i].port);
        char *s = summary(cfg);
        char line[128];
        snprintf(line, sizeof line, "listen: %s%s%s:%d\n", strchr(cases[i].host, ':') ? "[" : "",
                 cases[i].host, strchr(cases[i].host, ':') ? "]" : "", cases[i].port);
        CHECK(strncmp(s, line, strlen(line)) == 0); /* the first line: parsed, no file */
        free(s);
        wg_config_free(cfg);
    }
}

static void test_env_secrets(void)
{
    setenv("WG_T_TOKEN", TOKEN, 1);
    setenv("WG_T_KEY", KEY, 1);
    setenv("WG_T_URL", "postgresql://wegate:hunter2@db:5432/wegate", 1);
    static const char json[] =
        "{\"database\": {\"url\": \"env:WG_T_URL\"}, \"corps\": [{\"name\": \"demo\", \"corp_id\": "
        "\"" CORP_ID "\", \"token\": \"env:WG_T_TOKEN\", \"encoding_aes_key\": \"env:WG_T_KEY\","
        " \"receivers\": {\"contacts\": {\"token\": \"env:WG_T_TOKEN\","
        " \"encoding_aes_key\": \"env:WG_T_KEY\"}}}]}";
    char err[512] = "";
    wg_config_t *cfg = parse(json, err, sizeof err);
    CHECK(cfg != NULL);
    if (!cfg) {
        fprintf(stderr, "  %s\n", err);
        return;
    }
    CHECK_STR(cfg->database_url, "postgresql://wegate:hunter2@db:5432/wegate");
    CHECK_STR(cfg->database_url_source, "env:WG_T_URL");
    CHECK_STR(cfg->corps[0].main.token, TOKEN);
    CHECK_STR(cfg->corps[0].main.token_source, "env:WG_T_TOKEN");
    CHECK_STR(cfg->corps[0].main.encoding_aes_key, KEY);
    CHECK_STR(cfg->corps[0].main.encoding_aes_key_source, "env:WG_T_KEY");
    CHECK_STR(cfg->corps[0].receivers[0].token, TOKEN);

    char *s = summary(cfg);
    CHECK(strstr(s, "database.url: postgresql://wegate:***@db:5432/wegate (env:WG_T_URL)\n"));
    CHECK(strstr(s, "    token: set (env:WG_T_TOKEN)\n"));
    CHECK(strstr(s, "    encoding_aes_key: set (env:WG_T_KEY)\n"));
    CHECK(strstr(s, "hunter2") == NULL);
    CHECK(strstr(s, TOKEN) == NULL);
    CHECK(strstr(s, KEY) == NULL);
    free(s);
    wg_config_free(cfg);

    /* An empty variable is set, and then fails the value's check. */
    setenv("WG_T_TOKEN", "", 1);
    const char *e = parse_err(json);
    CHECK_STR(e, "corps[0].token: must be 1 to 32 letters or digits (value from env:WG_T_TOKEN)");
    unsetenv("WG_T_TOKEN");
    unsetenv("WG_T_KEY");
    unsetenv("WG_T_URL");
}

static void test_file_secrets(void)
{
    char token_path[256], key_path[256], url_path[256], json[2048], err[512] = "";
    snprintf(token_path, sizeof token_path, "%s/token", tmpdir);
    snprintf(key_path, sizeof key_path, "%s/key", tmpdir);
    snprintf(url_path, sizeof url_path, "%s/url", tmpdir);
    write_file(token_path, TOKEN "\n", strlen(TOKEN) + 1);
    write_file(key_path, KEY "\r\n", strlen(KEY) + 2);
    write_file(url_path, URL, strlen(URL)); /* no newline at all */
    snprintf(json, sizeof json,
             "{\"database\": {\"url\": \"file:%s\"}, \"corps\": [{\"name\": \"demo\", "
             "\"corp_id\": \"" CORP_ID "\", \"token\": \"file:%s\", \"encoding_aes_key\": "
             "\"file:%s\"}]}",
             url_path, token_path, key_path);
    wg_config_t *cfg = parse(json, err, sizeof err);
    CHECK(cfg != NULL);
    if (!cfg) {
        fprintf(stderr, "  %s\n", err);
        return;
    }
    CHECK_STR(cfg->corps[0].main.token, TOKEN);
    CHECK_STR(cfg->corps[0].main.encoding_aes_key, KEY);
    CHECK_STR(cfg->database_url, URL);
    char want[600];
    snprintf(want, sizeof want, "file:%s", token_path);
    CHECK_STR(cfg->corps[0].main.token_source, want);
    char *s = summary(cfg);
    snprintf(want, sizeof want, "    token: set (file:%s)\n", token_path);
    CHECK(strstr(s, want) != NULL);
    CHECK(strstr(s, TOKEN) == NULL);
    CHECK(strstr(s, KEY) == NULL);
    free(s);
    wg_config_free(cfg);

    /* Only one newline is trimmed: the second one makes the token invalid. */
    write_file(token_path, TOKEN "\n\n", strlen(TOKEN) + 2);
    const char *e = parse_err(json);
    snprintf(want, sizeof want,
             "corps[0].token: must be 1 to 32 letters or digits (value from file:%s)", token_path);
    CHECK_STR(e, want);
    CHECK(strstr(e, TOKEN) == NULL);

    /* A NUL byte would silently cut the secret. */
    write_file(token_path,
               "QDG\0"
               "6eK",
               7);
    e = parse_err(json);
    snprintf(want, sizeof want, "corps[0].token: %s contains a NUL byte", token_path);
    CHECK_STR(e, want);

    /* The size cap: 64 KiB is read, one byte more is refused. */
    size_t big = 64 * 1024 + 1;
    char *buf = malloc(big);
    memset(buf, 'A', big);
    write_file(token_path, buf, big);
    e = parse_err(json);
    snprintf(want, sizeof want, "corps[0].token: %s is larger than 65536 bytes", token_path);
    CHECK_STR(e, want);
    write_file(token_path, buf, big - 1);
    e = parse_err(json);
    CHECK(strstr(e, "corps[0].token: must be 1 to 32 letters or digits") == e);
    CHECK(strstr(e, "AAAA") == NULL);
    free(buf);

    /* Unreadable. */
    unlink(token_path);
    e = parse_err(json);
    snprintf(want, sizeof want, "corps[0].token: cannot read %s: No such file or directory",
             token_path);
    CHECK_STR(e, want);
    unlink(key_path);
    unlink(url_path);
}

/* Secrets never show in an error: not from env:, not from a syntax error near them, not from a
 * URL that fails its check. */
static void test_errors_hide_secrets(void)
{
    /* A wrong-length key from the environment. */
    setenv("WG_T_BADKEY", KEY "Z", 1);
    const char *e = parse_err("{\"database\": {\"url\": \"" URL "\"}, \"corps\": [{\"name\": "
                              "\"demo\", \"corp_id\": \"" CORP_ID "\", \"token\": \"" TOKEN "\","
                              " \"encoding_aes_key\": \"env:WG_T_BADKEY\"}]}");
    CHECK_STR(e, "corps[0].encoding_aes_key: must be 43 letters or digits (value from "
                 "env:WG_T_BADKEY)");
    CHECK(strstr(e, KEY) == NULL);
    CHECK(strstr(e, "jWmYm") == NULL);
    unsetenv("WG_T_BADKEY");

    /* jansson says "near '<source>'": cut, since the source may be a secret. */
    e = parse_err("{\"corps\": [{\"token\": " TOKEN "}]}");
    CHECK(strstr(e, "<string>:1:") == e);
    CHECK(strstr(e, "invalid token") != NULL);
    CHECK(strstr(e, "QDG") == NULL);
    e = parse_err("{\"corps\": [{\"token\": \"" TOKEN);
    CHECK(strstr(e, "<string>:1:") == e);
    CHECK(strstr(e, "QDG") == NULL);
    e = parse_err("{\"corps\": [{\"encoding_aes_key\": \"jWmYm\\q\"}]}");
    CHECK(strstr(e, "<string>:1:") == e);
    CHECK(strstr(e, "jWmYm") == NULL);

    /* A database URL with a password that fails the check. */
    e = parse_err("{\"database\": {\"url\": \"mysql://u:hunter2@db/x\"}, \"corps\": []}");
    CHECK(strstr(e, "database.url: must be a postgresql://") == e);
    CHECK(strstr(e, "hunter2") == NULL);

    /* A bad token given inline: the message does not echo it. */
    e = parse_err(MIN_CONFIG(", \"receivers\": {\"r\": {\"token\": \"Sup3rS3cret!\", "
                             "\"encoding_aes_key\": \"" KEY "\"}}",
                             ""));
    CHECK_STR(e, "corps[0].receivers.r.token: must be 1 to 32 letters or digits");
}

static void test_summary(void)
{
    char err[512] = "";
    wg_config_t *cfg =
        parse(MIN_CONFIG(", \"agent_id\": 1000002, \"receive_ids\": [\"" CORP_ID "\", \"\"],"
                         " \"receivers\": {\"contacts\": {\"token\": \"" RTOKEN
                         "\", \"encoding_aes_key\": \"" RKEY "\"}}",
                         ", \"workers\": 3, \"log_level\": \"warn\""),
              err, sizeof err);
    CHECK(cfg != NULL);
    if (!cfg) {
        fprintf(stderr, "  %s\n", err);
        return;
    }
    char *s = summary(cfg);
    static const char want[] = "listen: 127.0.0.1:8080\n"
                               "workers: 3\n"
                               "log_level: warn\n"
                               "http.max_body_bytes: 1048576\n"
                               "http.read_timeout_ms: 10000\n"
                               "http.shutdown_grace_ms: 10000\n"
                               "database.url: " URL " (inline)\n"
                               "database.connect_timeout_ms: 3000\n"
                               "database.commit_timeout_ms: 3000\n"
                               "database.max_batch: 256\n"
                               "outbox.poll_ms: 500\n"
                               "outbox.batch: 64\n"
                               "outbox.concurrency: 16\n"
                               "outbox.max_attempts: 10\n"
                               "outbox.backoff_min_ms: 1000\n"
                               "outbox.backoff_max_ms: 3600000\n"
                               "outbox.lease_ms: 60000\n"
                               "outbox.connections: 2\n"
                               "http_client.ca_file: (not set)\n"
                               "http_client.connect_timeout_ms: 5000\n"
                               "http_client.response_timeout_ms: 15000\n"
                               "corps: 1\n"
                               "corp demo:\n"
                               "  corp_id: " CORP_ID "\n"
                               "  agent_id: 1000002\n"
                               "  endpoint: /wecom/demo/callback\n"
                               "    token: set (inline)\n"
                               "    encoding_aes_key: set (inline)\n"
                               "    receive_ids: [\"" CORP_ID "\", \"\"]\n"
                               "  receiver contacts: /wecom/demo/contacts/callback\n"
                               "    token: set (inline)\n"
                               "    encoding_aes_key: set (inline)\n"
                               "    receive_ids: [\"" CORP_ID "\"]\n"
                               "  api_base: https://qyapi.weixin.qq.com\n"
                               "  quotas: 30 per member a minute, 1000 an hour; 20 per robot a "
                               "minute\n";
    CHECK_STR(s, want);
    CHECK(strstr(s, TOKEN) == NULL && strstr(s, KEY) == NULL);
    CHECK(strstr(s, RTOKEN) == NULL && strstr(s, RKEY) == NULL);
    free(s);
    wg_config_free(cfg);
}

/* The database URL in the summary: user, hosts and database, never a password or a query. */
static void test_url_redaction(void)
{
    static const struct {
        const char *url, *shown;
    } cases[] = {
        {"postgresql://wegate:hunter2@db:5432/wegate", "postgresql://wegate:***@db:5432/wegate"},
        {"postgresql://wegate@db/wegate", "postgresql://wegate@db/wegate"},
        {"postgres://db/wegate?password=hunter2&sslmode=require", "postgres://db/wegate?***"},
        {"postgresql://u:hun@ter2@db/x", "postgresql://u:***@db/x"},
        {"postgresql://u:hun/ter2@db/x", "postgresql://u:***@db/x"},
        {"postgresql://u:hun?ter2@db/x", "postgresql://***"},
        {"postgresql://db/x?application_name=a@hunter2", "postgresql://***"},
        {"postgresql://:hunter2@db/x", "postgresql://:***@db/x"},
        {"postgresql://us$er:hunter2@db/x", "postgresql://***@db/x"},
        {"postgresql://h1:5432,h2:5433/x?target_session_attrs=rw",
         "postgresql://h1:5432,h2:5433/x?***"},
        {"postgresql://[::1]:5432/x", "postgresql://[::1]:5432/x"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char json[1024], err[512] = "";
        snprintf(json, sizeof json,
                 "{\"database\": {\"url\": \"%s\"}, \"corps\": [{\"name\": \"demo\", \"corp_id\": "
                 "\"" CORP_ID "\", \"token\": \"" TOKEN "\", \"encoding_aes_key\": \"" KEY "\"}]}",
                 cases[i].url);
        wg_config_t *cfg = parse(json, err, sizeof err);
        CHECK(cfg != NULL);
        if (!cfg) {
            fprintf(stderr, "  %s: %s\n", cases[i].url, err);
            continue;
        }
        char *s = summary(cfg);
        char want[512];
        snprintf(want, sizeof want, "\ndatabase.url: %s (inline)\n", cases[i].shown);
        CHECK(strstr(s, want) != NULL);
        CHECK(strstr(s, "hunter2") == NULL);
        CHECK(strstr(s, "ter2") == NULL);
        if (!strstr(s, want))
            fprintf(stderr, "  %s: want %s in:\n%s", cases[i].url, cases[i].shown, s);
        free(s);
        wg_config_free(cfg);
    }
}

/* Does the example have a value at pattern ("corps[].receivers.*.token")? */
static bool pattern_present(json_t *node, const char *pattern)
{
    if (*pattern == '\0')
        return true;
    const char *dot = strchr(pattern, '.');
    size_t len = dot ? (size_t)(dot - pattern) : strlen(pattern);
    const char *rest = dot ? dot + 1 : "";
    char seg[64];
    snprintf(seg, sizeof seg, "%.*s", (int)len, pattern);
    const char *key;
    json_t *v;
    size_t i;
    if (strcmp(seg, "*") == 0) {
        json_object_foreach(node, key, v) if (pattern_present(v, rest)) return true;
        return false;
    }
    if (len > 2 && strcmp(seg + len - 2, "[]") == 0) {
        seg[len - 2] = '\0';
        json_array_foreach(json_object_get(node, seg), i,
                           v) if (pattern_present(v, rest)) return true;
        return false;
    }
    v = json_object_get(node, seg);
    return v && pattern_present(v, rest);
}

static void test_example(void)
{
    char path[4096], err[512] = "";
    snprintf(path, sizeof path, "%s/../../deploy/wegate.example.json", data_dir());
    wg_config_t *cfg = wg_config_load(path, err, sizeof err);
    CHECK(cfg != NULL);
    if (!cfg) {
        fprintf(stderr, "  %s\n", err);
        return;
    }
    CHECK_STR(cfg->path, path);
    CHECK_INT(cfg->n_corps, 1);
    const wg_config_corp_t *demo = wg_config_find_corp(cfg, "demo", 4);
    CHECK(demo != NULL);
    if (demo) {
        CHECK_STR(demo->corp_id, CORP_ID);
        CHECK_INT(demo->agent_id, 1000002);
        CHECK_STR(demo->main.token, TOKEN);
        CHECK_STR(demo->main.encoding_aes_key, KEY);
        const wg_config_receiver_t *r = wg_config_find_receiver(demo, "contacts", 8);
        CHECK(r != NULL);
        if (r)
            CHECK(strcmp(r->token, TOKEN) != 0 && strcmp(r->encoding_aes_key, KEY) != 0);
    }

    /* Every key of the table appears in the example, so the docs cannot drift. */
    json_t *root = json_load_file(path, 0, NULL);
    CHECK(root != NULL);
    size_t n = 0;
    for (const char *k; (k = wg_config_key(n)) != NULL; n++) {
        CHECK(pattern_present(root, k));
        if (!pattern_present(root, k))
            fprintf(stderr, "  %s is missing from deploy/wegate.example.json\n", k);
    }
    CHECK(n >= 22);
    json_decref(root);

    /* ... at its default (but workers, whose default is the machine's core count). */
    wg_config_t *def = parse(MIN_CONFIG("", ""), err, sizeof err);
    CHECK(def != NULL);
    if (def) {
        CHECK_STR(cfg->listen_host, def->listen_host);
        CHECK_INT(cfg->listen_port, def->listen_port);
        CHECK_INT(cfg->log_level, def->log_level);
        CHECK_INT(cfg->http_max_body, def->http_max_body);
        CHECK_INT(cfg->http_read_timeout_ms, def->http_read_timeout_ms);
        CHECK_INT(cfg->http_shutdown_grace_ms, def->http_shutdown_grace_ms);
        CHECK_INT(cfg->database_connect_timeout_ms, def->database_connect_timeout_ms);
        CHECK_INT(cfg->database_commit_timeout_ms, def->database_commit_timeout_ms);
        CHECK_INT(cfg->database_max_batch, def->database_max_batch);
    }
    wg_config_free(def);
    wg_config_free(cfg);
}

static void test_valid_folder(void)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/config/valid", data_dir());
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    if (!d)
        return;
    int files = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[4400], err[512] = "";
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        wg_config_t *cfg = wg_config_load(path, err, sizeof err);
        CHECK(cfg != NULL);
        if (!cfg) {
            fprintf(stderr, "  %s: %s\n", e->d_name, err);
            continue;
        }
        /* No inline secret of the file shows in its summary. */
        json_t *root = json_load_file(path, 0, NULL);
        const char *secrets[128];
        size_t n = 0;
        collect_secrets(root, secrets, &n, 128);
        char *s = summary(cfg);
        for (size_t i = 0; i < n; i++)
            if (strncmp(secrets[i], "postgres", 8) != 0) /* URLs: test_url_redaction */
                CHECK(strstr(s, secrets[i]) == NULL);
        free(s);
        json_decref(root);
        wg_config_free(cfg);
        files++;
    }
    closedir(d);
    CHECK(files >= 3);
}

static void test_load_errors(void)
{
    char err[512] = "", want[600];
    wg_config_t *cfg = wg_config_load("/nonexistent/wegate.json", err, sizeof err);
    CHECK(cfg == NULL);
    CHECK_STR(err, "cannot read /nonexistent/wegate.json: No such file or directory");

    cfg = wg_config_load(tmpdir, err, sizeof err);
    CHECK(cfg == NULL);
    snprintf(want, sizeof want, "cannot read %s: Is a directory", tmpdir);
    CHECK_STR(err, want);

    char path[256];
    snprintf(path, sizeof path, "%s/big.json", tmpdir);
    size_t big = 1024 * 1024 + 1;
    char *buf = malloc(big);
    memset(buf, ' ', big);
    buf[0] = '{';
    buf[big - 1] = '}';
    write_file(path, buf, big);
    free(buf);
    cfg = wg_config_load(path, err, sizeof err);
    CHECK(cfg == NULL);
    snprintf(want, sizeof want, "cannot read %s: larger than 1048576 bytes", path);
    CHECK_STR(err, want);
    unlink(path);

    /* A small or absent error buffer is honoured. */
    char small[8];
    cfg = parse("{\"workers\": 0}", small, sizeof small);
    CHECK(cfg == NULL);
    CHECK_STR(small, "workers");
    cfg = parse("{\"workers\": 0}", NULL, 0);
    CHECK(cfg == NULL);
}

static void test_limits(void)
{
    /* 1024 corps are fine, 1025 are not. */
    size_t cap = 1100 * 200;
    char *json = malloc(cap);
    for (int n = 1024; n <= 1025; n++) {
        size_t len =
            (size_t)snprintf(json, cap, "{\"database\": {\"url\": \"" URL "\"}, \"corps\": [");
        for (int i = 0; i < n; i++)
            len += (size_t)snprintf(json + len, cap - len,
                                    "%s{\"name\": \"c%d\", \"corp_id\": \"ww%d\", \"token\": "
                                    "\"" TOKEN "\", \"encoding_aes_key\": \"" KEY "\"}",
                                    i ? "," : "", i, i);
        snprintf(json + len, cap - len, "]}");
        char err[512] = "";
        wg_config_t *cfg = parse(json, err, sizeof err);
        if (n == 1024) {
            CHECK(cfg != NULL);
            if (cfg) {
                CHECK_INT(cfg->n_corps, 1024);
                CHECK(wg_config_find_corp(cfg, "c1023", 5) == &cfg->corps[1023]);
            }
        } else {
            CHECK(cfg == NULL);
            CHECK_STR(err, "corps: must list at most 1024 corps");
        }
        wg_config_free(cfg);
    }
    free(json);

    /* A long unknown key is cut in the path, and the message stays one line. */
    char key[400];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    char doc[600];
    snprintf(doc, sizeof doc, "{\"%s\": 1}", key);
    const char *e = parse_err(doc);
    CHECK(strstr(e, "[\"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...\"]: unknown key") == e);
}

static void test_config_path(void)
{
    unsetenv(WG_CONFIG_ENV);
    CHECK_STR(wg_config_path(NULL), WG_CONFIG_DEFAULT_PATH);
    CHECK_STR(wg_config_path(NULL), "./var/wegate.json");
    CHECK_STR(wg_config_path("/etc/a.json"), "/etc/a.json");
    setenv(WG_CONFIG_ENV, "/etc/env.json", 1);
    CHECK_STR(wg_config_path(NULL), "/etc/env.json");
    CHECK_STR(wg_config_path("/etc/a.json"), "/etc/a.json");
    setenv(WG_CONFIG_ENV, "", 1);
    CHECK_STR(wg_config_path(NULL), WG_CONFIG_DEFAULT_PATH);
    unsetenv(WG_CONFIG_ENV);
}

static void test_names(void)
{
    CHECK_STR(wg_config_log_level_name(WG_LOG_DEBUG), "debug");
    CHECK_STR(wg_config_log_level_name(WG_LOG_INFO), "info");
    CHECK_STR(wg_config_log_level_name(WG_LOG_WARN), "warn");
    CHECK_STR(wg_config_log_level_name(WG_LOG_ERROR), "error");
    CHECK_STR(wg_config_key(0), "listen");
    const char *levels[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        char json[1024], err[512] = "";
        snprintf(json, sizeof json, MIN_CONFIG("", ", \"log_level\": \"%s\""), levels[i]);
        wg_config_t *cfg = parse(json, err, sizeof err);
        CHECK(cfg != NULL);
        if (cfg)
            CHECK_INT(cfg->log_level, i);
        wg_config_free(cfg);
    }
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    TEST_RUN(test_invalid_cases);
    TEST_RUN(test_defaults);
    TEST_RUN(test_all_keys_set);
    TEST_RUN(test_listen_forms);
    TEST_RUN(test_env_secrets);
    TEST_RUN(test_file_secrets);
    TEST_RUN(test_errors_hide_secrets);
    TEST_RUN(test_summary);
    TEST_RUN(test_url_redaction);
    TEST_RUN(test_example);
    TEST_RUN(test_valid_folder);
    TEST_RUN(test_load_errors);
    TEST_RUN(test_limits);
    TEST_RUN(test_config_path);
    TEST_RUN(test_names);
    rmdir(tmpdir);
    return TEST_DONE();
}
