/* Helpers shared by the audit engine's tests: compile a rule set, scan a message, render the
 * hits as one compact line ("rule@start-end" for spans, "rule" without, combos with their parts
 * as "rule[part@s-e+...]"), read test data files. */
#ifndef WG_TEST_AUDIT_UTIL_H
#define WG_TEST_AUDIT_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "testlib.h"

static inline wg_audit_ruleset_t *compile_ok(const char *json)
{
    char err[WG_AUDIT_ERR_MAX] = "";
    wg_audit_ruleset_t *rs = wg_audit_ruleset_compile(json, strlen(json), err);
    if (!rs)
        fprintf(stderr, "  compile failed: %s\n  rules: %.300s\n", err, json);
    CHECK(rs != NULL);
    return rs;
}

/* The error of a rule set that must not compile ("" when it compiled). */
static inline const char *compile_err(const char *json)
{
    static char err[WG_AUDIT_ERR_MAX];
    err[0] = '\0';
    wg_audit_ruleset_t *rs = wg_audit_ruleset_compile(json, strlen(json), err);
    if (rs) {
        wg_audit_ruleset_unref(rs);
        return "";
    }
    return err;
}

static inline char *render(const wg_audit_result_t *r)
{
    static char buf[65536];
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < r->n_hits && n < sizeof buf - 256; i++) {
        const wg_audit_hit_t *h = &r->hits[i];
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", i ? "," : "", h->rule);
        if (h->has_span)
            n += (size_t)snprintf(buf + n, sizeof buf - n, "@%zu-%zu", h->start, h->end);
        if (h->n_parts) {
            n += (size_t)snprintf(buf + n, sizeof buf - n, "[");
            for (size_t p = 0; p < h->n_parts; p++)
                n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s@%zu-%zu", p ? "+" : "",
                                      h->parts[p].rule, h->parts[p].start, h->parts[p].end);
            n += (size_t)snprintf(buf + n, sizeof buf - n, "]");
        }
    }
    return buf;
}

static inline wg_audit_msg_t text_msg(const char *text)
{
    wg_audit_msg_t m = {0};
    m.text = text;
    m.len = text ? strlen(text) : 0;
    m.msgtype = "text";
    m.from_role = WG_AUDIT_ROLE_EMPLOYEE;
    m.from = "zhangsan";
    m.corp = "demo";
    return m;
}

static inline const char *scan_msg(wg_audit_scanner_t *s, wg_audit_ruleset_t *rs,
                                   const wg_audit_msg_t *m)
{
    wg_audit_result_t res;
    char err[WG_AUDIT_ERR_MAX] = "";
    if (wg_audit_scan(s, rs, m, &res, err) != 0) {
        fprintf(stderr, "  scan failed: %s\n", err);
        CHECK(0);
        return "(scan failed)";
    }
    return render(&res);
}

static inline const char *scan_text(wg_audit_scanner_t *s, wg_audit_ruleset_t *rs, const char *text)
{
    wg_audit_msg_t m = text_msg(text);
    return scan_msg(s, rs, &m);
}

/* A whole file into a new NUL-terminated buffer; NULL when it cannot be read. */
static inline char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        if (got == 0)
            break;
        n += got;
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

/* A file under $WG_TEST_DATA (tests/data) or, with up = 1, under the repository root. */
static inline char *read_data(const char *rel, int up, size_t *len)
{
    const char *dir = getenv("WG_TEST_DATA");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s%s", dir ? dir : "tests/data", up ? "../../" : "", rel);
    char *b = read_file(path, len);
    if (!b)
        fprintf(stderr, "  cannot read %s\n", path);
    return b;
}

#endif
