/* The evasion table (tests/data/audit/evasion.tsv) through the full engine with the shipped
 * default rules (deploy/rules/default.json): each row names the rules that must hit a message
 * (and none other) and, optionally, the original bytes the first hit must cover. */
#include "audit_util.h"

/* Decodes the table's escapes (\u{XXXX}, \xHH, \t, \\) into out; returns the length. */
static size_t unescape(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\' || i + 1 >= n) {
            out[o++] = s[i];
            continue;
        }
        char c = s[++i];
        if (c == 't') {
            out[o++] = '\t';
        } else if (c == 'x' && i + 2 < n) {
            out[o++] = (char)strtoul((char[]){s[i + 1], s[i + 2], 0}, NULL, 16);
            i += 2;
        } else if (c == 'u' && i + 1 < n && s[i + 1] == '{') {
            char *end;
            unsigned long cp = strtoul(s + i + 2, &end, 16);
            i = (size_t)(end - s);
            if (cp < 0x80) {
                out[o++] = (char)cp;
            } else if (cp < 0x800) {
                out[o++] = (char)(0xc0 | (cp >> 6));
                out[o++] = (char)(0x80 | (cp & 0x3f));
            } else if (cp < 0x10000) {
                out[o++] = (char)(0xe0 | (cp >> 12));
                out[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                out[o++] = (char)(0x80 | (cp & 0x3f));
            } else {
                out[o++] = (char)(0xf0 | (cp >> 18));
                out[o++] = (char)(0x80 | ((cp >> 12) & 0x3f));
                out[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                out[o++] = (char)(0x80 | (cp & 0x3f));
            }
        } else {
            out[o++] = c;
        }
    }
    return o;
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static wg_audit_ruleset_t *rs;
static wg_audit_scanner_t *sc;

static void test_table(void)
{
    char *tsv = read_data("audit/evasion.tsv", 0, NULL);
    CHECK(tsv != NULL);
    if (!tsv)
        return;
    int rows = 0, lineno = 0;
    for (char *line = tsv; *line;) {
        char *nl = strchr(line, '\n');
        size_t ll = nl ? (size_t)(nl - line) : strlen(line);
        char *next = nl ? nl + 1 : line + ll;
        lineno++;
        if (ll == 0 || line[0] == '#') {
            line = next;
            continue;
        }
        line[ll] = '\0';
        char *tab1 = strchr(line, '\t');
        CHECK(tab1 != NULL);
        if (!tab1) {
            line = next;
            continue;
        }
        *tab1 = '\0';
        char *text_s = tab1 + 1, *tab2 = strchr(text_s, '\t');
        const char *match_s = "";
        if (tab2) {
            *tab2 = '\0';
            match_s = tab2 + 1;
        }
        char text[1024], match[1024];
        size_t tl = unescape(text_s, strlen(text_s), text);
        size_t ml = unescape(match_s, strlen(match_s), match);
        wg_audit_msg_t m = text_msg(NULL);
        m.text = text;
        m.len = tl;
        wg_audit_result_t res;
        char err[WG_AUDIT_ERR_MAX];
        CHECK_INT(wg_audit_scan(sc, rs, &m, &res, err), 0);
        /* the distinct rule ids that hit, sorted */
        const char *ids[64];
        size_t n = 0;
        for (size_t i = 0; i < res.n_hits && n < 64; i++) {
            int seen = 0;
            for (size_t k = 0; k < n; k++)
                seen |= strcmp(ids[k], res.hits[i].rule) == 0;
            if (!seen)
                ids[n++] = res.hits[i].rule;
        }
        qsort(ids, n, sizeof *ids, cmp_cstr);
        char got[1024] = "";
        size_t gl = 0;
        for (size_t k = 0; k < n; k++)
            gl += (size_t)snprintf(got + gl, sizeof got - gl, "%s%s", k ? "," : "", ids[k]);
        if (n == 0)
            snprintf(got, sizeof got, "-");
        if (strcmp(got, line) != 0)
            fprintf(stderr, "  evasion.tsv line %d: \"%s\": hits %s, want %s\n", lineno, text_s,
                    got, line);
        CHECK_STR(got, line);
        if (ml > 0 && res.n_hits > 0) {
            const wg_audit_hit_t *h = &res.hits[0];
            if (h->end - h->start != ml || memcmp(h->text, match, ml) != 0)
                fprintf(stderr, "  evasion.tsv line %d: first hit covers \"%.*s\", want \"%s\"\n",
                        lineno, (int)(h->end - h->start), h->text, match_s);
            CHECK_MEM(h->text, h->end - h->start, match, ml);
        }
        rows++;
        line = next;
    }
    CHECK(rows >= 60);
    free(tsv);
}

/* The default rules' behaviours, which the table (text only) cannot show. */
static void test_default_behaviours(void)
{
    wg_audit_msg_t m = text_msg("");
    m.msgtype = "redpacket";
    m.amount_fen = 20000;
    CHECK_STR(scan_msg(sc, rs, &m), "big_redpacket");
    m.amount_fen = 19900;
    CHECK_STR(scan_msg(sc, rs, &m), "");
    m.msgtype = "card";
    CHECK_STR(scan_msg(sc, rs, &m), "business_card");
    m.msgtype = NULL;
    m.event = "del_follow_user";
    CHECK_STR(scan_msg(sc, rs, &m), "contact_deleted");
    m.event = NULL;
    m.msgtype = "link";
    m.link_url = "https://evil.example.net/";
    CHECK_STR(scan_msg(sc, rs, &m), ""); /* outside_link ships disabled */
    int i = wg_audit_ruleset_find(rs, "unanswered_30m");
    CHECK(i >= 0 && wg_audit_rule_unanswered(rs, (size_t)i) != NULL);
    for (size_t k = 0; k < wg_audit_ruleset_count(rs); k++)
        CHECK(wg_audit_rule_name(rs, k)[0] != '\0'); /* every shipped rule documents itself */
}

int main(void)
{
    size_t len = 0;
    char *json = read_data("deploy/rules/default.json", 1, &len);
    if (!json)
        return 1;
    char err[WG_AUDIT_ERR_MAX] = "";
    rs = wg_audit_ruleset_compile(json, len, err);
    free(json);
    if (!rs) {
        fprintf(stderr, "default.json: %s\n", err);
        return 1;
    }
    sc = wg_audit_scanner_new(0);
    TEST_RUN(test_table);
    TEST_RUN(test_default_behaviours);
    wg_audit_scanner_free(sc);
    wg_audit_ruleset_unref(rs);
    return TEST_DONE();
}
