/* `wegate rules`: check, compile, test, bench or export an audit rule set (audit/audit.h).
 * The CLI reads the files and stdin and hands bytes to audit/, which does no I/O. `compile` is
 * also what a running gateway spawns to build a reload outside its own heap (ARCHITECTURE.md,
 * Threads and memory). A FILE may be a rule-set JSON document or a file `compile` wrote. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "gateway/cli/cli.h"

/* Ceilings on what the CLI reads: rule sets of 50,000 words are a few MB; compiled ones tens. */
#define MAX_RULES_FILE (512u * 1024 * 1024)
#define MAX_CORPUS (4096ull * 1024 * 1024)
#define MAX_LINE (16u * 1024 * 1024)
/* WeCom's add_intercept_rule (externalcontact): at most 100 rules per corp, 300 words per rule,
 * each word 1-32 characters; intercept_type 1 warns and blocks, 2 only warns. Rule names are
 * short (20 characters assumed, *check*); department 1 is the root (the whole corp). */
#define WECOM_MAX_RULES 100
#define WECOM_MAX_WORDS 300
#define WECOM_MAX_WORD_CHARS 32
#define WECOM_MAX_NAME_CHARS 20
#define WECOM_ROOT_DEPARTMENT 1

static const char usage_main[] =
    "usage: wegate rules <command> [options]\n"
    "\n"
    "Check, compile, test, benchmark or export an audit rule set (JSON: deploy/rules/\n"
    "default.json documents the format). FILE may also be a file 'compile' wrote.\n"
    "\n"
    "commands:\n"
    "  check FILE                validate and compile; print counts per kind and compile time\n"
    "  compile FILE -o OUT       write the compiled rule set (Hyperscan databases, rules, hash)\n"
    "  test FILE                 scan JSON lines from stdin; print one JSON line of hits each\n"
    "  bench FILE CORPUS         scan CORPUS (UTF-8, one message per line); print throughput\n"
    "  export-intercept FILE     print WeCom add_intercept_rule bodies for the word rules\n"
    "  push-intercept --corp C FILE\n"
    "                            create those rules in the corp through the WeCom API\n"
    "\n"
    "'wegate rules <command> --help' describes one command.\n"
    "Exit codes: 0 success, 1 the input failed a check, 2 usage error.\n";

static const char usage_check[] =
    "usage: wegate rules check FILE\n"
    "\n"
    "Validates and compiles the rule set FILE and prints the rules per kind, the words and\n"
    "views, the rule-set hash and the compile time. An invalid rule set is named on stderr\n"
    "(the rule id and the cause) and exits 1.\n";

static const char usage_compile[] =
    "usage: wegate rules compile FILE -o OUT\n"
    "\n"
    "Compiles the rule set FILE and writes OUT: the serialized Hyperscan databases, the\n"
    "canonical rule set and its hash. A gateway loads OUT without compiling (and without the\n"
    "compiler's memory); it rejects an OUT from another Hyperscan version, CPU or rule set.\n";

static const char usage_test[] =
    "usage: wegate rules test FILE\n"
    "\n"
    "Reads JSON lines on stdin, one message each (all fields but text optional):\n"
    "  {\"text\": \"...\", \"msgtype\": \"text\", \"from_role\": \"employee|customer\",\n"
    "   \"from\": \"<user id>\", \"room\": false, \"corp\": \"demo\", \"amount_fen\": 0,\n"
    "   \"event\": \"\", \"link_url\": \"\"}\n"
    "and prints one JSON line per message, in order:\n"
    "  {\"hits\": [{\"rule\": \"<id>\", \"kind\": \"word\", \"severity\": \"warning\", \"start\": "
    "12,\n"
    "   \"end\": 18, \"text\": \"<the matched bytes>\"}]}\n"
    "start and end are byte offsets into text; behaviour and event hits have no span; a combo\n"
    "lists its \"parts\". A line that is not such JSON prints {\"error\": \"...\"} and the\n"
    "command exits 1 at the end.\n";

static const char usage_bench[] =
    "usage: wegate rules bench FILE CORPUS\n"
    "\n"
    "Scans every line of CORPUS (UTF-8, one message per line) with the full engine\n"
    "(normalization included), in one thread, and prints on its last line:\n"
    "  <MB/s> MB/s <messages/s> msg/s <N> hits\n"
    "N being the number of messages with at least one hit (MB = 10^6 bytes of text).\n";

static const char usage_export[] =
    "usage: wegate rules export-intercept FILE [--corp NAME] [--department ID]...\n"
    "                                          [--user USERID]... [--intercept-type 1|2]\n"
    "\n"
    "Prints, one per line, the JSON bodies of WeCom's externalcontact/add_intercept_rule for\n"
    "the enabled word rules that WeCom can enforce itself (blocking a message before it is\n"
    "sent): rules not scoped to customers or to one kind of chat, words of 1-32 characters,\n"
    "at most 300 words per WeCom rule and 100 rules, critical rules first. Words go as written:\n"
    "WeCom applies none of wegate's normalization. Without --corp, rules limited to corps are\n"
    "left out. intercept_type: 1 (warn and block) for critical rules, 2 (warn) for others,\n"
    "unless given. applicable_range: the departments and users given, else department 1 (the\n"
    "whole corp). What is left out is counted on stderr.\n";

typedef struct buf {
    char *p;
    size_t n;
} buf_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads a whole file (at most max bytes) into b (NUL-terminated). 0, or -1 with a message. */
static int read_all(const char *path, unsigned long long max, buf_t *b, const char *cmd)
{
    b->p = NULL;
    b->n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "wegate rules %s: %s: %s\n", cmd, path, strerror(errno));
        return -1;
    }
    size_t cap = 0;
    for (;;) {
        if (b->n + 65536 + 1 > cap) {
            size_t nc = cap ? cap * 2 : 1 << 20;
            char *np = realloc(b->p, nc);
            if (!np) {
                fprintf(stderr, "wegate rules %s: %s: out of memory\n", cmd, path);
                goto fail;
            }
            b->p = np;
            cap = nc;
        }
        ssize_t r = read(fd, b->p + b->n, cap - b->n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            fprintf(stderr, "wegate rules %s: %s: %s\n", cmd, path, strerror(errno));
            goto fail;
        }
        if (r == 0)
            break;
        b->n += (size_t)r;
        if (b->n > max) {
            fprintf(stderr, "wegate rules %s: %s: larger than %llu bytes\n", cmd, path, max);
            goto fail;
        }
    }
    close(fd);
    if (!b->p && !(b->p = malloc(1))) {
        fprintf(stderr, "wegate rules %s: out of memory\n", cmd);
        return -1;
    }
    b->p[b->n] = '\0';
    return 0;
fail:
    close(fd);
    free(b->p);
    b->p = NULL;
    return -1;
}

static int is_compiled(const buf_t *b)
{
    return b->n >= 8 && memcmp(b->p, "WGAUDIT", 8) == 0;
}

/* Loads FILE: a rule-set JSON document (compiled here) or a file `compile` wrote (loaded). */
static wg_audit_ruleset_t *load_rules(const char *path, const char *cmd, double *compile_s)
{
    buf_t b;
    if (read_all(path, MAX_RULES_FILE, &b, cmd) != 0)
        return NULL;
    char err[WG_AUDIT_ERR_MAX] = "";
    double t0 = now_s();
    wg_audit_ruleset_t *rs = is_compiled(&b)
                                 ? wg_audit_ruleset_load_compiled(b.p, b.n, NULL, 0, err)
                                 : wg_audit_ruleset_compile(b.p, b.n, err);
    if (compile_s)
        *compile_s = now_s() - t0;
    if (!rs)
        fprintf(stderr, "wegate rules %s: %s: %s\n", cmd, path, err);
    free(b.p);
    return rs;
}

static int wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    return 0;
}

static int usage_error(const char *usage, const char *fmt, const char *arg)
{
    fprintf(stderr, "wegate rules: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n%s", usage);
    return WG_EXIT_USAGE;
}

/* ---- check ------------------------------------------------------------------------------- */

static int cmd_check(int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        fputs(usage_check, stdout);
        return WG_EXIT_OK;
    }
    if (argc != 2 || argv[1][0] == '-')
        return usage_error(usage_check, "%s", "check takes one FILE");
    double secs = 0;
    wg_audit_ruleset_t *rs = load_rules(argv[1], "check", &secs);
    if (!rs)
        return WG_EXIT_CHECK;
    wg_audit_stats_t st;
    wg_audit_ruleset_stats(rs, &st);
    printf("%s: %zu rules, %zu enabled: %zu word, %zu regex, %zu behaviour, %zu combo\n", argv[1],
           st.rules, st.enabled, st.by_kind[WG_AUDIT_WORD], st.by_kind[WG_AUDIT_REGEX],
           st.by_kind[WG_AUDIT_BEHAVIOUR], st.by_kind[WG_AUDIT_COMBO]);
    printf("words: %zu (%zu distinct literals), views: %zu, prefiltered regexes: %zu, "
           "unanswered policies: %zu\n",
           st.words, st.literals, st.views, st.prefiltered, st.unanswered);
    printf("hash: %016llx, databases: %zu bytes, compiled in %.1f ms\n",
           (unsigned long long)st.hash, st.db_bytes, secs * 1e3);
    wg_audit_ruleset_unref(rs);
    return WG_EXIT_OK;
}

/* ---- compile ------------------------------------------------------------------------------ */

static int write_file(const char *path, const char *data, size_t n)
{
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 16);
    if (!tmp)
        return -1;
    snprintf(tmp, pl + 16, "%s.tmp%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = -1;
    if (fd < 0)
        goto out;
    for (size_t off = 0; off < n;) {
        ssize_t w = write(fd, data + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            close(fd);
            unlink(tmp);
            goto out;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        goto out;
    }
    rc = 0;
out:
    free(tmp);
    return rc;
}

static int cmd_compile(int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        fputs(usage_compile, stdout);
        return WG_EXIT_OK;
    }
    const char *in = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) {
            if (i + 1 >= argc)
                return usage_error(usage_compile, "%s", "-o needs a file");
            out = argv[++i];
        } else if (argv[i][0] == '-') {
            return usage_error(usage_compile, "unknown option '%s'", argv[i]);
        } else if (!in) {
            in = argv[i];
        } else {
            return usage_error(usage_compile, "unexpected argument '%s'", argv[i]);
        }
    }
    if (!in || !out)
        return usage_error(usage_compile, "%s", "compile takes FILE and -o OUT");
    double secs = 0;
    wg_audit_ruleset_t *rs = load_rules(in, "compile", &secs);
    if (!rs)
        return WG_EXIT_CHECK;
    char err[WG_AUDIT_ERR_MAX];
    char *bytes = NULL;
    size_t n = 0;
    int rc = WG_EXIT_CHECK;
    if (wg_audit_ruleset_serialize(rs, &bytes, &n, err) != 0) {
        fprintf(stderr, "wegate rules compile: %s\n", err);
    } else if (write_file(out, bytes, n) != 0) {
        fprintf(stderr, "wegate rules compile: %s: %s\n", out, strerror(errno));
    } else {
        wg_audit_stats_t st;
        wg_audit_ruleset_stats(rs, &st);
        printf("%s: %zu rules, hash %016llx, compiled in %.1f ms, %zu bytes written to %s\n", in,
               st.rules, (unsigned long long)st.hash, secs * 1e3, n, out);
        rc = WG_EXIT_OK;
    }
    free(bytes);
    wg_audit_ruleset_unref(rs);
    return rc;
}

/* ---- test --------------------------------------------------------------------------------- */

static const char *opt_string(json_t *o, const char *key, int *bad)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        *bad = 1;
        return NULL;
    }
    return json_string_value(v);
}

/* Parses one input line into m; 0, or -1 with why. */
static int parse_msg(json_t *o, wg_audit_msg_t *m, const char **why)
{
    memset(m, 0, sizeof *m);
    if (!json_is_object(o)) {
        *why = "a line must be a JSON object";
        return -1;
    }
    json_t *text = json_object_get(o, "text");
    if (!json_is_string(text)) {
        *why = "\"text\" (a string) is required";
        return -1;
    }
    m->text = json_string_value(text);
    m->len = json_string_length(text);
    int bad = 0;
    m->msgtype = opt_string(o, "msgtype", &bad);
    m->from = opt_string(o, "from", &bad);
    m->corp = opt_string(o, "corp", &bad);
    m->event = opt_string(o, "event", &bad);
    m->link_url = opt_string(o, "link_url", &bad);
    const char *role = opt_string(o, "from_role", &bad);
    if (bad) {
        *why = "msgtype, from, corp, event, link_url and from_role must be strings";
        return -1;
    }
    if (role && strcmp(role, "employee") == 0)
        m->from_role = WG_AUDIT_ROLE_EMPLOYEE;
    else if (role && strcmp(role, "customer") == 0)
        m->from_role = WG_AUDIT_ROLE_CUSTOMER;
    else if (role && *role) {
        *why = "\"from_role\" must be \"employee\" or \"customer\"";
        return -1;
    }
    json_t *room = json_object_get(o, "room");
    if (room && !json_is_boolean(room)) {
        *why = "\"room\" must be true or false";
        return -1;
    }
    m->room = room && json_is_true(room);
    json_t *amount = json_object_get(o, "amount_fen");
    if (amount && !json_is_integer(amount)) {
        *why = "\"amount_fen\" must be an integer (fen)";
        return -1;
    }
    m->amount_fen = amount ? json_integer_value(amount) : 0;
    return 0;
}

static json_t *hits_json(const wg_audit_result_t *res, const wg_audit_msg_t *m)
{
    json_t *hits = json_array();
    for (size_t i = 0; hits && i < res->n_hits; i++) {
        const wg_audit_hit_t *h = &res->hits[i];
        json_t *o = json_object();
        json_object_set_new(o, "rule", json_string(h->rule));
        json_object_set_new(o, "kind", json_string(wg_audit_kind_name(h->kind)));
        json_object_set_new(o, "severity", json_string(wg_audit_severity_name(h->severity)));
        /* The output format gives behaviour and event hits no span (the engine records where a
         * link in the text stands; the archive keeps it). */
        if (h->has_span && h->kind != WG_AUDIT_BEHAVIOUR) {
            json_object_set_new(o, "start", json_integer((json_int_t)h->start));
            json_object_set_new(o, "end", json_integer((json_int_t)h->end));
            json_object_set_new(o, "text", json_stringn(m->text + h->start, h->end - h->start));
        }
        if (h->n_parts) {
            json_t *parts = json_array();
            for (size_t p = 0; p < h->n_parts; p++) {
                json_t *po = json_object();
                json_object_set_new(po, "rule", json_string(h->parts[p].rule));
                json_object_set_new(po, "start", json_integer((json_int_t)h->parts[p].start));
                json_object_set_new(po, "end", json_integer((json_int_t)h->parts[p].end));
                json_array_append_new(parts, po);
            }
            json_object_set_new(o, "parts", parts);
        }
        json_array_append_new(hits, o);
    }
    json_t *out = json_object();
    json_object_set_new(out, "hits", hits);
    return out;
}

static void print_json_line(json_t *o)
{
    char *s = json_dumps(o, JSON_PRESERVE_ORDER);
    if (s) {
        puts(s);
        free(s);
    } else {
        puts("{\"error\": \"out of memory\"}");
    }
}

static void print_error_line(size_t lineno, const char *why)
{
    char msg[WG_AUDIT_ERR_MAX + 64];
    snprintf(msg, sizeof msg, "line %zu: %s", lineno, why);
    json_t *o = json_pack("{s:s}", "error", msg);
    print_json_line(o);
    json_decref(o);
}

static int cmd_test(int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        fputs(usage_test, stdout);
        return WG_EXIT_OK;
    }
    if (argc != 2 || argv[1][0] == '-')
        return usage_error(usage_test, "%s", "test takes one FILE (messages on stdin)");
    wg_audit_ruleset_t *rs = load_rules(argv[1], "test", NULL);
    if (!rs)
        return WG_EXIT_CHECK;
    wg_audit_scanner_t *sc = wg_audit_scanner_new(0);
    if (!sc) {
        wg_audit_ruleset_unref(rs);
        fprintf(stderr, "wegate rules test: out of memory\n");
        return WG_EXIT_CHECK;
    }
    int status = WG_EXIT_OK;
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0)
            continue;
        if ((size_t)n > MAX_LINE) {
            print_error_line(lineno, "line longer than 16 MiB");
            status = WG_EXIT_CHECK;
            continue;
        }
        json_error_t jerr;
        json_t *o = json_loadb(line, (size_t)n, JSON_ALLOW_NUL, &jerr);
        wg_audit_msg_t m;
        const char *why = NULL;
        if (!o) {
            char e[256];
            snprintf(e, sizeof e, "not JSON: %s", jerr.text);
            print_error_line(lineno, e);
            status = WG_EXIT_CHECK;
            continue;
        }
        if (parse_msg(o, &m, &why) != 0) {
            print_error_line(lineno, why);
            status = WG_EXIT_CHECK;
            json_decref(o);
            continue;
        }
        wg_audit_result_t res;
        char err[WG_AUDIT_ERR_MAX];
        if (wg_audit_scan(sc, rs, &m, &res, err) != 0) {
            print_error_line(lineno, err);
            status = WG_EXIT_CHECK;
        } else {
            json_t *out = hits_json(&res, &m);
            print_json_line(out);
            json_decref(out);
        }
        json_decref(o);
    }
    free(line);
    wg_audit_scanner_free(sc);
    wg_audit_ruleset_unref(rs);
    return status;
}

/* ---- bench -------------------------------------------------------------------------------- */

static int cmd_bench(int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        fputs(usage_bench, stdout);
        return WG_EXIT_OK;
    }
    if (argc != 3 || argv[1][0] == '-' || argv[2][0] == '-')
        return usage_error(usage_bench, "%s", "bench takes FILE and CORPUS");
    double secs = 0;
    wg_audit_ruleset_t *rs = load_rules(argv[1], "bench", &secs);
    if (!rs)
        return WG_EXIT_CHECK;
    buf_t corpus;
    wg_audit_scanner_t *sc = wg_audit_scanner_new(0);
    if (!sc || read_all(argv[2], MAX_CORPUS, &corpus, "bench") != 0) {
        wg_audit_scanner_free(sc);
        wg_audit_ruleset_unref(rs);
        return WG_EXIT_CHECK;
    }
    size_t msgs = 0, bytes = 0, with_hits = 0, hits = 0;
    int status = WG_EXIT_OK;
    wg_audit_msg_t m = {0};
    m.msgtype = "text";
    m.from_role = WG_AUDIT_ROLE_CUSTOMER;
    double t0 = now_s();
    for (size_t off = 0; off < corpus.n;) {
        char *nl = memchr(corpus.p + off, '\n', corpus.n - off);
        size_t len = nl ? (size_t)(nl - (corpus.p + off)) : corpus.n - off;
        m.text = corpus.p + off;
        m.len = len;
        wg_audit_result_t res;
        char err[WG_AUDIT_ERR_MAX];
        if (wg_audit_scan(sc, rs, &m, &res, err) != 0) {
            fprintf(stderr, "wegate rules bench: message %zu: %s\n", msgs + 1, err);
            status = WG_EXIT_CHECK;
            break;
        }
        msgs++;
        bytes += len;
        hits += res.n_hits;
        with_hits += res.n_hits > 0;
        off += len + 1;
    }
    double el = now_s() - t0;
    if (el <= 0)
        el = 1e-9;
    printf("%s: %zu messages, %zu bytes of text, %zu hits in all; rules loaded in %.1f ms\n",
           argv[2], msgs, bytes, hits, secs * 1e3);
    printf("%.1f MB/s %.0f msg/s %zu hits\n", (double)bytes / el / 1e6, (double)msgs / el,
           with_hits);
    free(corpus.p);
    wg_audit_scanner_free(sc);
    wg_audit_ruleset_unref(rs);
    return status;
}

/* ---- export-intercept --------------------------------------------------------------------- */

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

/* The first max characters of s, as a new JSON string. */
static json_t *utf8_prefix(const char *s, size_t max)
{
    size_t i = 0, chars = 0;
    while (s[i] && chars < max) {
        i++;
        while (s[i] && ((unsigned char)s[i] & 0xc0) == 0x80)
            i++;
        chars++;
    }
    return json_stringn(s, i);
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

typedef struct export_opts {
    const char *corp;
    json_t *departments, *users;
    int intercept_type; /* 0: by severity */
} export_opts_t;

static int cmd_export(int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        fputs(usage_export, stdout);
        return WG_EXIT_OK;
    }
    export_opts_t o = {0};
    o.departments = json_array();
    o.users = json_array();
    const char *in = NULL;
    int rc = WG_EXIT_USAGE;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if (strcmp(a, "--corp") == 0 && has_val) {
            o.corp = argv[++i];
        } else if (strcmp(a, "--department") == 0 && has_val) {
            char *end;
            long long d = strtoll(argv[++i], &end, 10);
            if (*end || d <= 0) {
                usage_error(usage_export, "--department '%s': want a positive id", argv[i]);
                goto out;
            }
            json_array_append_new(o.departments, json_integer(d));
        } else if (strcmp(a, "--user") == 0 && has_val) {
            json_array_append_new(o.users, json_string(argv[++i]));
        } else if (strcmp(a, "--intercept-type") == 0 && has_val) {
            const char *t = argv[++i];
            if (strcmp(t, "1") != 0 && strcmp(t, "2") != 0) {
                usage_error(usage_export, "--intercept-type '%s': want 1 or 2", t);
                goto out;
            }
            o.intercept_type = t[0] - '0';
        } else if (a[0] == '-') {
            usage_error(usage_export, "unknown option or missing value: '%s'", a);
            goto out;
        } else if (!in) {
            in = a;
        } else {
            usage_error(usage_export, "unexpected argument '%s'", a);
            goto out;
        }
    }
    if (!in) {
        usage_error(usage_export, "%s", "export-intercept takes one FILE");
        goto out;
    }
    rc = WG_EXIT_CHECK;
    wg_audit_ruleset_t *rs = load_rules(in, "export-intercept", NULL);
    if (!rs)
        goto out;
    if (json_array_size(o.departments) == 0 && json_array_size(o.users) == 0)
        json_array_append_new(o.departments, json_integer(WECOM_ROOT_DEPARTMENT));

    size_t n_rules = wg_audit_ruleset_count(rs);
    size_t exported_words = 0, exported_rules = 0, long_words = 0, scoped = 0, over_limit = 0;
    for (int sev = WG_AUDIT_CRITICAL; sev >= WG_AUDIT_INFO; sev--) {
        for (size_t i = 0; i < n_rules; i++) {
            if (wg_audit_rule_kind(rs, i) != WG_AUDIT_WORD || !wg_audit_rule_enabled(rs, i) ||
                (int)wg_audit_rule_severity(rs, i) != sev)
                continue;
            wg_audit_role_t speaker;
            int chat;
            wg_audit_rule_scope(rs, i, &speaker, &chat);
            const char *const *corps;
            size_t n_corps = wg_audit_rule_corps(rs, i, &corps);
            int corp_ok = n_corps == 0;
            for (size_t k = 0; k < n_corps && o.corp; k++)
                corp_ok |= strcmp(corps[k], o.corp) == 0;
            const char *const *words;
            size_t nw = wg_audit_rule_words(rs, i, &words);
            if (speaker == WG_AUDIT_ROLE_CUSTOMER || chat != -1 || !corp_ok) {
                scoped++;
                continue;
            }
            /* the words WeCom takes, each once */
            const char **list = malloc((nw ? nw : 1) * sizeof *list);
            if (!list) {
                fprintf(stderr, "wegate rules export-intercept: out of memory\n");
                wg_audit_ruleset_unref(rs);
                goto out;
            }
            size_t nl = 0;
            for (size_t w = 0; w < nw; w++) {
                size_t c = utf8_chars(words[w]);
                if (c < 1 || c > WECOM_MAX_WORD_CHARS)
                    long_words++;
                else
                    list[nl++] = words[w];
            }
            qsort(list, nl, sizeof *list, cmp_cstr);
            size_t u = 0;
            for (size_t w = 0; w < nl; w++)
                if (u == 0 || strcmp(list[u - 1], list[w]) != 0)
                    list[u++] = list[w];
            nl = u;
            size_t chunks = (nl + WECOM_MAX_WORDS - 1) / WECOM_MAX_WORDS;
            for (size_t c = 0; c < chunks; c++) {
                if (exported_rules == WECOM_MAX_RULES) {
                    over_limit += nl - c * WECOM_MAX_WORDS;
                    break;
                }
                char name[128];
                if (chunks > 1)
                    snprintf(name, sizeof name, "%s-%zu", wg_audit_rule_id(rs, i), c + 1);
                else
                    snprintf(name, sizeof name, "%s", wg_audit_rule_id(rs, i));
                json_t *wl = json_array();
                size_t end = (c + 1) * WECOM_MAX_WORDS < nl ? (c + 1) * WECOM_MAX_WORDS : nl;
                for (size_t w = c * WECOM_MAX_WORDS; w < end; w++)
                    json_array_append_new(wl, json_string(list[w]));
                int type = o.intercept_type ? o.intercept_type : sev == WG_AUDIT_CRITICAL ? 1 : 2;
                json_t *range = json_object();
                if (json_array_size(o.users))
                    json_object_set(range, "user_list", o.users);
                if (json_array_size(o.departments))
                    json_object_set(range, "department_list", o.departments);
                json_t *body = json_object();
                json_object_set_new(body, "rule_name", utf8_prefix(name, WECOM_MAX_NAME_CHARS));
                json_object_set_new(body, "word_list", wl);
                json_object_set_new(body, "intercept_type", json_integer(type));
                json_object_set_new(body, "applicable_range", range);
                char *s = json_dumps(body, JSON_PRESERVE_ORDER | JSON_COMPACT);
                if (s) {
                    puts(s);
                    free(s);
                }
                json_decref(body);
                exported_rules++;
                exported_words += end - c * WECOM_MAX_WORDS;
            }
            free(list);
        }
    }
    fprintf(stderr,
            "wegate rules export-intercept: %zu words in %zu WeCom rules; left out: %zu words "
            "not of 1-%d characters, %zu rules scoped to customers, one kind of chat or other "
            "corps, %zu words past WeCom's %d rules\n",
            exported_words, exported_rules, long_words, WECOM_MAX_WORD_CHARS, scoped, over_limit,
            WECOM_MAX_RULES);
    wg_audit_ruleset_unref(rs);
    rc = WG_EXIT_OK;
out:
    json_decref(o.departments);
    json_decref(o.users);
    return rc;
}

int wg_cli_rules(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
    } cmds[] = {
        {"check", cmd_check},
        {"compile", cmd_compile},
        {"test", cmd_test},
        {"bench", cmd_bench},
        {"export-intercept", cmd_export},
        {"push-intercept", wg_cli_rules_push_intercept},
    };
    if (argc < 2) {
        fputs(usage_main, stderr);
        return WG_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage_main, stdout);
        return WG_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(argv[1], cmds[i].name) == 0)
            return cmds[i].run(argc - 1, argv + 1);
    fprintf(stderr, "wegate rules: unknown command '%s'\n%s", argv[1], usage_main);
    return WG_EXIT_USAGE;
}
