/* `wegate rules push-intercept --corp C FILE`: pushes the audit engine's intercept export (the
 * JSON lines `wegate rules export-intercept` prints, one add_intercept_rule body each) to WeCom
 * for one corp, through the WeCom API client (connectors/wecom/api.h) on a loop of its own.
 * Rules whose name WeCom already has are left alone (get_intercept_rule_list first), so pushing
 * the same export twice adds nothing. Called by wg_cli_rules for the verb push-intercept. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "connectors/http/client.h"
#include "connectors/wecom/api.h"
#include "gateway/cli/cli.h"
#include "gateway/config/config.h"

#define MAX_INPUT (16u * 1024 * 1024) /* 100 rules of 300 words: well under 1 MiB */
#define MAX_RULES 1000
#define MAX_LIST 1000 /* words, users or departments in one rule */

static const char usage_text[] =
    "usage: wegate rules push-intercept --corp C [--dry-run] [--config FILE] FILE\n"
    "\n"
    "Adds WeCom sensitive-word intercept rules (externalcontact/add_intercept_rule) for corp C\n"
    "from FILE ('-': stdin): JSON lines as 'wegate rules export-intercept' prints them, e.g.\n"
    "  wegate rules export-intercept rules.json > intercept.jsonl\n"
    "  wegate rules push-intercept --corp demo intercept.jsonl\n"
    "Rules whose rule_name WeCom already lists are skipped (the push can be repeated). Uses the\n"
    "corp's api_base and agent_secret (the app needs the customer-contact permission).\n"
    "Prints one line per rule: added, exists or failed, with the rule id or the reason.\n"
    "\n"
    "  --dry-run      check FILE and print what would be pushed; no request\n"
    "  --config FILE  the config (default: $" WG_CONFIG_ENV ", else " WG_CONFIG_DEFAULT_PATH ")\n"
    "\n"
    "Exit codes: 0 every rule added or already there, 1 a rule failed (or bad FILE or config),\n"
    "2 usage error.\n";

typedef struct push_rule {
    json_t *json; /* owns the strings below */
    const char *name;
    const char **words;
    size_t n_words;
    const char **users;
    size_t n_users;
    long *departments;
    size_t n_departments;
    int *semantics;
    size_t n_semantics;
    int intercept_type;
} push_rule_t;

typedef struct push {
    struct event_base *base;
    wg_wecom_corp_t *corp;
    push_rule_t *rules;
    size_t n_rules;
    size_t next;
    json_t *existing; /* rule_name -> rule_id */
    int failed;
    int done;
} push_t;

static int usage_error(const char *fmt, const char *arg)
{
    fputs("wegate rules push-intercept: ", stderr);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    fputs(usage_text, stderr);
    return WG_EXIT_USAGE;
}

static void rule_free(push_rule_t *r)
{
    json_decref(r->json);
    free(r->words);
    free(r->users);
    free(r->departments);
    free(r->semantics);
}

/* Strings of a JSON array into a new array of borrowed pointers; -1 when not all strings. */
static int string_list(json_t *a, const char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!a)
        return 0;
    if (!json_is_array(a) || json_array_size(a) > MAX_LIST)
        return -1;
    size_t k = json_array_size(a);
    if (k == 0)
        return 0;
    if (!(*out = calloc(k, sizeof **out)))
        return -1;
    for (size_t i = 0; i < k; i++) {
        const char *s = json_string_value(json_array_get(a, i));
        if (!s)
            return -1;
        (*out)[(*n)++] = s;
    }
    return 0;
}

static int int_list(json_t *a, long **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!a)
        return 0;
    if (!json_is_array(a) || json_array_size(a) > MAX_LIST)
        return -1;
    size_t k = json_array_size(a);
    if (k == 0)
        return 0;
    if (!(*out = calloc(k, sizeof **out)))
        return -1;
    for (size_t i = 0; i < k; i++) {
        json_t *v = json_array_get(a, i);
        if (!json_is_integer(v))
            return -1;
        (*out)[(*n)++] = (long)json_integer_value(v);
    }
    return 0;
}

/* One line of the export into r; -1 with err. */
static int parse_rule(const char *line, size_t len, push_rule_t *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    json_error_t je;
    r->json = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
    if (!r->json || !json_is_object(r->json)) {
        snprintf(err, errlen, "not a JSON object");
        return -1;
    }
    json_t *range = json_object_get(r->json, "applicable_range");
    json_t *extra = json_object_get(r->json, "extra_rule");
    json_t *type = json_object_get(r->json, "intercept_type");
    r->name = json_string_value(json_object_get(r->json, "rule_name"));
    r->intercept_type = json_is_integer(type) ? (int)json_integer_value(type) : 0;
    long *sem = NULL;
    size_t n_sem = 0;
    if (!r->name || !r->name[0]) {
        snprintf(err, errlen, "rule_name: want a string");
        return -1;
    }
    if (r->intercept_type != 1 && r->intercept_type != 2) {
        snprintf(err, errlen, "intercept_type: want 1 or 2");
        return -1;
    }
    if (string_list(json_object_get(r->json, "word_list"), &r->words, &r->n_words) != 0 ||
        r->n_words == 0) {
        snprintf(err, errlen, "word_list: want a non-empty array of strings");
        return -1;
    }
    if (range && !json_is_object(range)) {
        snprintf(err, errlen, "applicable_range: want an object");
        return -1;
    }
    if (string_list(json_object_get(range, "user_list"), &r->users, &r->n_users) != 0 ||
        int_list(json_object_get(range, "department_list"), &r->departments, &r->n_departments) !=
            0) {
        snprintf(err, errlen, "applicable_range: want user_list strings, department_list ids");
        return -1;
    }
    if (int_list(extra ? json_object_get(extra, "semantics_list") : NULL, &sem, &n_sem) != 0) {
        free(sem);
        snprintf(err, errlen, "extra_rule.semantics_list: want an array of integers");
        return -1;
    }
    if (n_sem) {
        if (!(r->semantics = calloc(n_sem, sizeof *r->semantics))) {
            free(sem);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        for (size_t i = 0; i < n_sem; i++)
            r->semantics[i] = (int)sem[i];
        r->n_semantics = n_sem;
    }
    free(sem);
    return 0;
}

static int read_input(const char *file, char **out, size_t *len)
{
    FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "rb");
    if (!f)
        return -1;
    size_t cap = 64 * 1024, n = 0;
    char *buf = malloc(cap + 1);
    int rc = -1;
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            rc = ferror(f) ? -1 : 0;
            break;
        }
        if (n == cap) {
            if (cap >= MAX_INPUT) {
                errno = EFBIG;
                break;
            }
            char *p = realloc(buf, cap * 2 + 1);
            if (!p)
                break;
            buf = p;
            cap *= 2;
        }
    }
    if (f != stdin)
        fclose(f);
    if (rc != 0 || !buf) {
        free(buf);
        return -1;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

/* ---- the pushes, one at a time ---- */

static void push_next(push_t *p);

static void on_added(void *arg, const wg_wecom_result_t *res,
                     const wg_wecom_intercept_rule_reply_t *reply)
{
    push_t *p = arg;
    const push_rule_t *r = &p->rules[p->next - 1];
    if (res->cls == WG_WECOM_OK) {
        printf("added\t%s\t%s\n", r->name, reply && reply->rule_id[0] ? reply->rule_id : "-");
    } else {
        printf("failed\t%s\t%s: %s\n", r->name, wg_wecom_class_name(res->cls), res->message);
        p->failed++;
    }
    push_next(p);
}

static void push_next(push_t *p)
{
    while (p->next < p->n_rules) {
        push_rule_t *r = &p->rules[p->next++];
        const char *id = json_string_value(json_object_get(p->existing, r->name));
        if (id) {
            printf("exists\t%s\t%s\n", r->name, id);
            continue;
        }
        wg_wecom_intercept_rule_req_t req = {
            .rule_name = r->name,
            .word_list = r->words,
            .n_words = r->n_words,
            .intercept_type = r->intercept_type,
            .user_list = r->users,
            .n_users = r->n_users,
            .department_list = r->departments,
            .n_departments = r->n_departments,
            .semantics_list = r->semantics,
            .n_semantics = r->n_semantics,
        };
        char err[256];
        if (wg_wecom_intercept_rule_add(p->corp, &req, on_added, p, err, sizeof err))
            return; /* on_added goes on */
        printf("failed\t%s\trefused before sending: %s\n", r->name, err);
        p->failed++;
    }
    p->done = 1;
    event_base_loopbreak(p->base);
}

static void on_listed(void *arg, const wg_wecom_result_t *res,
                      const wg_wecom_intercept_rule_list_t *list)
{
    push_t *p = arg;
    if (res->cls != WG_WECOM_OK) {
        fprintf(stderr, "wegate rules push-intercept: listing the existing rules: %s: %s\n",
                wg_wecom_class_name(res->cls), res->message);
        p->failed++;
        p->done = 1;
        event_base_loopbreak(p->base);
        return;
    }
    for (size_t i = 0; list && i < list->n_rules; i++)
        json_object_set_new(p->existing, list->rules[i].rule_name,
                            json_string(list->rules[i].rule_id));
    push_next(p);
}

/* Runs the pushes on a loop of their own; returns the number of failures (or -1 on setup). */
static int push_all(const wg_config_t *cfg, const wg_config_corp_t *corp, push_t *p)
{
    char err[256];
    int rc = -1;
    struct evdns_base *dns = NULL;
    wg_http_client_t *http = NULL;
    wg_wecom_api_t *api = NULL;
    p->base = event_base_new();
    if (!p->base || !(dns = evdns_base_new(p->base, EVDNS_BASE_INITIALIZE_NAMESERVERS))) {
        fprintf(stderr, "wegate rules push-intercept: cannot set up the event loop or DNS\n");
        goto out;
    }
    wg_http_client_options_t ho = {.ca_file = cfg->http_client_ca_file,
                                   .connect_timeout_ms = cfg->http_client_connect_timeout_ms,
                                   .response_timeout_ms = cfg->http_client_response_timeout_ms,
                                   .user_agent = "wegate/" WG_VERSION};
    if (!(http = wg_http_client_new(p->base, dns, &ho, err, sizeof err)) ||
        !(api = wg_wecom_api_new(p->base, http, NULL, err, sizeof err))) {
        fprintf(stderr, "wegate rules push-intercept: %s\n", err);
        goto out;
    }
    wg_wecom_corp_options_t co = {.name = corp->name,
                                  .corp_id = corp->corp_id,
                                  .base_url = corp->api_base,
                                  .insecure_skip_verify = corp->api_insecure};
    if (corp->api_insecure)
        fprintf(stderr,
                "wegate rules push-intercept: warning: TLS certificates of %s are not "
                "checked (api_insecure)\n",
                corp->api_base);
    if (!(p->corp = wg_wecom_corp_add(api, &co, err, sizeof err)) ||
        wg_wecom_corp_set_secret(p->corp, "agent", corp->agent_secret, err, sizeof err) != 0 ||
        !wg_wecom_intercept_rule_list(p->corp, NULL, on_listed, p, err, sizeof err)) {
        fprintf(stderr, "wegate rules push-intercept: %s\n", err);
        goto out;
    }
    event_base_dispatch(p->base);
    rc = p->done ? p->failed : -1;
out:
    if (api)
        wg_wecom_api_free(api);
    if (http) {
        wg_http_client_free(http);
        event_base_loop(p->base, EVLOOP_NONBLOCK);
    }
    if (dns)
        evdns_base_free(dns, 0);
    if (p->base)
        event_base_free(p->base);
    return rc;
}

int wg_cli_rules_push_intercept(int argc, char **argv)
{
    const char *corp_name = NULL, *file = NULL, *config = NULL;
    int dry_run = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_text, stdout);
            return WG_EXIT_OK;
        } else if (strcmp(a, "--corp") == 0 && has_val) {
            corp_name = argv[++i];
        } else if (strcmp(a, "--config") == 0 && has_val) {
            config = argv[++i];
        } else if (strcmp(a, "--dry-run") == 0) {
            dry_run = 1;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage_error("unknown option or missing value: '%s'", a);
        } else if (!file) {
            file = a;
        } else {
            return usage_error("unexpected argument '%s'", a);
        }
    }
    if (!corp_name || !file)
        return usage_error("%s", "--corp and FILE are required");

    char err[512];
    wg_config_t *cfg = wg_config_load(wg_config_path(config), err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "wegate rules push-intercept: %s\n", err);
        return WG_EXIT_CHECK;
    }
    int rc = WG_EXIT_CHECK;
    char *text = NULL;
    size_t len = 0;
    push_t p = {0};
    const wg_config_corp_t *corp = wg_config_find_corp(cfg, corp_name, strlen(corp_name));
    if (!corp) {
        fprintf(stderr, "wegate rules push-intercept: no corp '%s' in the config\n", corp_name);
        goto out;
    }
    if (!corp->agent_secret && !dry_run) {
        fprintf(stderr, "wegate rules push-intercept: corp %s has no agent_secret\n", corp_name);
        goto out;
    }
    if (read_input(file, &text, &len) != 0) {
        fprintf(stderr, "wegate rules push-intercept: cannot read %s: %s\n", file, strerror(errno));
        goto out;
    }
    if (!(p.rules = calloc(MAX_RULES, sizeof *p.rules)) || !(p.existing = json_object())) {
        fprintf(stderr, "wegate rules push-intercept: out of memory\n");
        goto out;
    }
    size_t lineno = 0;
    for (char *line = text, *end; line < text + len; line = end + 1) {
        end = strchr(line, '\n');
        if (!end)
            end = text + len;
        lineno++;
        size_t n = (size_t)(end - line);
        if (n == 0 || strspn(line, " \t\r") == n)
            continue;
        if (p.n_rules == MAX_RULES) {
            fprintf(stderr, "wegate rules push-intercept: %s: more than %d rules\n", file,
                    MAX_RULES);
            goto out;
        }
        char why[200];
        if (parse_rule(line, n, &p.rules[p.n_rules], why, sizeof why) != 0) {
            fprintf(stderr, "wegate rules push-intercept: %s:%zu: %s\n", file, lineno, why);
            rule_free(&p.rules[p.n_rules]);
            goto out;
        }
        p.n_rules++;
    }
    if (dry_run) {
        for (size_t i = 0; i < p.n_rules; i++)
            printf("would add\t%s\t%zu words\n", p.rules[i].name, p.rules[i].n_words);
        rc = WG_EXIT_OK;
        goto out;
    }
    int failed = push_all(cfg, corp, &p);
    rc = failed == 0 ? WG_EXIT_OK : WG_EXIT_CHECK;
    if (fflush(stdout) != 0)
        rc = WG_EXIT_CHECK;
out:
    for (size_t i = 0; p.rules && i < p.n_rules; i++)
        rule_free(&p.rules[i]);
    free(p.rules);
    json_decref(p.existing);
    free(text);
    wg_config_free(cfg);
    return rc;
}
