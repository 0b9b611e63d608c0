/* Scanning one message: normalize per view, Hyperscan over each view (literal hits directly,
 * regexes as candidates), PCRE2 for the exact regex spans (and their checks), behaviours, combos;
 * then spans mapped back to the original text, sorted and deduplicated. A scanner is one
 * thread's scratch: Hyperscan scratch, normalization buffers, per-rule marks, hit arrays. */
#include <stdlib.h>
#include <string.h>

#include "audit/internal.h"

#define DEFAULT_MAX_HITS 10000
#define EXCERPT_CHARS 12 /* characters of context each side of a span */
#define EXCERPT_BYTES 48 /* and at most this many bytes */
#define JIT_STACK_MAX (1024 * 1024)

typedef struct raw {
    uint32_t rule, rank;
    int has_span;
    size_t start, end; /* original text */
    size_t key;        /* sort position: start, a combo's first part, or SIZE_MAX */
    size_t part_first, n_parts;
} raw_t;

struct wg_audit_scanner {
    size_t max_hits;
    hs_scratch_t *scratch;
    wg_audit_ruleset_t *rs; /* held reference: the last result borrows from it */

    wg_audit_norm_t *norms;
    size_t n_norms;
    /* per rule, valid when the stamp equals the current scan's */
    uint32_t *app_stamp, *hit_stamp, *re_stamp;
    uint8_t *app;
    size_t n_rules;
    uint32_t stamp;

    raw_t *raw;
    size_t n_raw, cap_raw;
    wg_audit_part_t *parts;
    size_t n_parts, cap_parts;
    wg_audit_hit_t *hits;
    size_t cap_hits;
    uint32_t *re_list; /* regex rules Hyperscan reported in the current view */
    size_t n_re_list, cap_re_list;

    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit;

    /* the scan in progress */
    const wg_audit_msg_t *msg;
    const wg_audit_norm_t *norm;
    const wg_view_t *view;
    int check;
    int truncated, oom;
};

static int grow(void *pp, size_t *cap, size_t need, size_t elem)
{
    void **p = pp;
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap : 16;
    while (nc < need)
        nc *= 2;
    void *np = realloc(*p, nc * elem);
    if (!np)
        return -1;
    *p = np;
    *cap = nc;
    return 0;
}

static int on_check(pcre2_callout_block *b, void *data)
{
    wg_audit_scanner_t *s = data;
    const char *m = (const char *)b->subject + b->start_match;
    size_t n = b->current_position - b->start_match;
    int ok = s->check == WG_CHECK_LUHN ? wg__check_luhn(m, n) : wg__check_cn_id(m, n);
    return ok ? 0 : 1; /* 1: fail here, backtrack to the next candidate */
}

wg_audit_scanner_t *wg_audit_scanner_new(size_t max_hits)
{
    wg_audit_scanner_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->max_hits = max_hits ? max_hits : DEFAULT_MAX_HITS;
    s->md = pcre2_match_data_create(1, NULL);
    s->mctx = pcre2_match_context_create(NULL);
    s->jit = pcre2_jit_stack_create(32 * 1024, JIT_STACK_MAX, NULL);
    if (!s->md || !s->mctx) {
        wg_audit_scanner_free(s);
        return NULL;
    }
    if (s->jit)
        pcre2_jit_stack_assign(s->mctx, NULL, s->jit);
    pcre2_set_callout(s->mctx, on_check, s);
    return s;
}

void wg_audit_scanner_free(wg_audit_scanner_t *s)
{
    if (!s)
        return;
    hs_free_scratch(s->scratch);
    wg_audit_ruleset_unref(s->rs);
    for (size_t i = 0; i < s->n_norms; i++)
        wg_audit_norm_free(&s->norms[i]);
    free(s->norms);
    free(s->app_stamp);
    free(s->hit_stamp);
    free(s->re_stamp);
    free(s->app);
    free(s->raw);
    free(s->parts);
    free(s->hits);
    free(s->re_list);
    pcre2_match_data_free(s->md);
    pcre2_match_context_free(s->mctx);
    pcre2_jit_stack_free(s->jit);
    free(s);
}

/* Follows a new rule set: scratch fitted to its databases, arrays sized to its rules. */
static int adopt(wg_audit_scanner_t *s, wg_audit_ruleset_t *rs, char *err)
{
    for (size_t i = 0; i < rs->n_views; i++) {
        hs_database_t *dbs[2] = {rs->views[i].lit_db, rs->views[i].re_db};
        for (int k = 0; k < 2; k++)
            if (dbs[k] && hs_alloc_scratch(dbs[k], &s->scratch) != HS_SUCCESS) {
                wg__err(err, "Hyperscan: cannot allocate scratch");
                return -1;
            }
    }
    if (rs->n_views > s->n_norms) {
        wg_audit_norm_t *n = realloc(s->norms, rs->n_views * sizeof *n);
        if (!n) {
            wg__err(err, "out of memory");
            return -1;
        }
        s->norms = n;
        for (size_t i = s->n_norms; i < rs->n_views; i++)
            wg_audit_norm_init_lazy(&s->norms[i]);
        s->n_norms = rs->n_views;
    }
    if (rs->n_rules > s->n_rules) {
        size_t n = rs->n_rules;
        uint32_t *a = calloc(n, sizeof *a), *h = calloc(n, sizeof *h), *r = calloc(n, sizeof *r);
        uint8_t *ap = calloc(n, 1);
        if (!a || !h || !r || !ap) {
            free(a);
            free(h);
            free(r);
            free(ap);
            wg__err(err, "out of memory");
            return -1;
        }
        free(s->app_stamp);
        free(s->hit_stamp);
        free(s->re_stamp);
        free(s->app);
        s->app_stamp = a;
        s->hit_stamp = h;
        s->re_stamp = r;
        s->app = ap;
        s->n_rules = n;
        s->stamp = 0;
    }
    wg_audit_ruleset_unref(s->rs);
    s->rs = wg_audit_ruleset_ref(rs);
    return 0;
}

static int applies(wg_audit_scanner_t *s, uint32_t ri)
{
    if (s->app_stamp[ri] == s->stamp)
        return s->app[ri];
    const wg_rule_t *r = &s->rs->rules[ri];
    const wg_audit_msg_t *m = s->msg;
    int ok = r->enabled;
    if (ok && r->speaker == WG_SPEAKER_EMPLOYEE)
        ok = m->from_role == WG_AUDIT_ROLE_EMPLOYEE;
    if (ok && r->speaker == WG_SPEAKER_CUSTOMER)
        ok = m->from_role == WG_AUDIT_ROLE_CUSTOMER;
    if (ok && r->chat != WG_CHAT_ANY)
        ok = (r->chat == WG_CHAT_GROUP) == (m->room != 0);
    if (ok && r->has_corps)
        ok = wg__strlist_has(&r->corps, m->corp);
    if (ok && r->exempt.n)
        ok = !wg__strlist_has(&r->exempt, m->from);
    s->app_stamp[ri] = s->stamp;
    s->app[ri] = (uint8_t)ok;
    return ok;
}

/* Adds a raw hit; -1 when the ceiling is reached or memory is out (the scan stops). */
static int push(wg_audit_scanner_t *s, uint32_t ri, int has_span, size_t start, size_t end)
{
    if (s->n_raw >= s->max_hits) {
        s->truncated = 1;
        return -1;
    }
    if (grow(&s->raw, &s->cap_raw, s->n_raw + 1, sizeof *s->raw) != 0) {
        s->oom = 1;
        return -1;
    }
    s->raw[s->n_raw++] = (raw_t){.rule = ri,
                                 .rank = s->rs->rules[ri].rank,
                                 .has_span = has_span,
                                 .start = start,
                                 .end = end,
                                 .key = has_span ? start : SIZE_MAX};
    s->hit_stamp[ri] = s->stamp;
    return 0;
}

static int on_literal(unsigned id, unsigned long long from, unsigned long long to, unsigned flags,
                      void *ctx)
{
    (void)from;
    (void)flags;
    wg_audit_scanner_t *s = ctx;
    const wg_view_t *v = s->view;
    const wg_lit_t *l = &v->lits[id];
    size_t os, oe;
    wg_audit_norm_span(s->norm, (size_t)to - l->len, (size_t)to, &os, &oe);
    for (uint32_t k = 0; k < l->n; k++) {
        uint32_t ri = v->lit_rules[l->first + k];
        if (applies(s, ri) && push(s, ri, 1, os, oe) != 0)
            return 1;
    }
    return 0;
}

static int on_regex(unsigned id, unsigned long long from, unsigned long long to, unsigned flags,
                    void *ctx)
{
    (void)from;
    (void)to;
    (void)flags;
    wg_audit_scanner_t *s = ctx;
    uint32_t ri = s->view->re_rules[id];
    if (s->re_stamp[ri] == s->stamp)
        return 0;
    s->re_stamp[ri] = s->stamp;
    if (grow(&s->re_list, &s->cap_re_list, s->n_re_list + 1, sizeof *s->re_list) != 0) {
        s->oom = 1;
        return 1;
    }
    s->re_list[s->n_re_list++] = ri;
    return 0;
}

static size_t utf8_next(const char *t, size_t len, size_t i)
{
    i++;
    while (i < len && ((unsigned char)t[i] & 0xc0) == 0x80)
        i++;
    return i;
}

/* PCRE2's leftmost non-overlapping matches of a regex rule Hyperscan reported, in the view's
 * normalized text; the check (a callout) rejects matches that fail it. */
static int run_regex(wg_audit_scanner_t *s, uint32_t ri)
{
    const wg_rule_t *r = &s->rs->rules[ri];
    const char *t = s->norm->text;
    size_t len = s->norm->len;
    uint32_t opts = 0;
    s->check = r->check;
    for (size_t off = 0; off <= len;) {
        int rc = pcre2_match(r->re, (PCRE2_SPTR)t, len, off, opts, s->md, s->mctx);
        opts = PCRE2_NO_UTF_CHECK; /* checked once on the first call */
        if (rc < 0)
            break; /* no match, or a match/depth limit: no further hits from this rule */
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
        size_t ms = ov[0], me = ov[1];
        if (me <= ms || ms < off) { /* an empty match (lookarounds alone): step on */
            if (off >= len)
                break;
            off = utf8_next(t, len, off);
            continue;
        }
        size_t os, oe;
        wg_audit_norm_span(s->norm, ms, me, &os, &oe);
        if (push(s, ri, 1, os, oe) != 0)
            return -1;
        off = me;
    }
    return 0;
}

static int scan_view(wg_audit_scanner_t *s, size_t vi, char *err)
{
    const wg_view_t *v = &s->rs->views[vi];
    if (!v->lit_db && !v->re_db)
        return 0;
    const wg_audit_msg_t *m = s->msg;
    if (wg_audit_normalize_fold_only(&s->norms[vi], &v->opts, v->fold_only, m->text, m->len) != 0) {
        wg__err(err, "out of memory normalizing the text");
        return -1;
    }
    s->norm = &s->norms[vi];
    s->view = v;
    if (s->norm->len == 0)
        return 0;
    if (v->lit_db) {
        hs_error_t rc =
            hs_scan(v->lit_db, s->norm->text, (unsigned)s->norm->len, 0, s->scratch, on_literal, s);
        if (rc != HS_SUCCESS && rc != HS_SCAN_TERMINATED) {
            wg__err(err, "Hyperscan scan failed (%d)", (int)rc);
            return -1;
        }
        if (s->truncated || s->oom)
            return 0;
    }
    if (v->re_db) {
        s->n_re_list = 0;
        hs_error_t rc =
            hs_scan(v->re_db, s->norm->text, (unsigned)s->norm->len, 0, s->scratch, on_regex, s);
        if (rc != HS_SUCCESS && rc != HS_SCAN_TERMINATED) {
            wg__err(err, "Hyperscan scan failed (%d)", (int)rc);
            return -1;
        }
        for (size_t i = 0; i < s->n_re_list && !s->oom; i++)
            if (applies(s, s->re_list[i]) && run_regex(s, s->re_list[i]) != 0)
                break;
    }
    return 0;
}

/* http(s) URLs in the text: the bytes up to a space, a control, a quote or bracket, or a
 * non-ASCII character (Chinese punctuation usually ends them). */
static void text_links(wg_audit_scanner_t *s, uint32_t ri, const wg_rule_t *r)
{
    const char *t = s->msg->text;
    size_t n = s->msg->len;
    for (size_t i = 0; i + 7 <= n; i++) {
        if ((t[i] | 0x20) != 'h')
            continue;
        size_t e = i;
        while (e < n) {
            unsigned char c = (unsigned char)t[e];
            if (c <= ' ' || c >= 0x7f || c == '"' || c == '\'' || c == '<' || c == '>')
                break;
            e++;
        }
        size_t hs, he;
        if (!wg__url_host(t + i, e - i, &hs, &he))
            continue;
        if (!wg__host_allowed(&r->link_allow, t + i + hs, he - hs) && push(s, ri, 1, i, e) != 0)
            return;
        i = e - 1;
    }
}

static void behaviours(wg_audit_scanner_t *s)
{
    const wg_audit_ruleset_t *rs = s->rs;
    const wg_audit_msg_t *m = s->msg;
    for (size_t i = 0; i < rs->n_behaviours; i++) {
        uint32_t ri = rs->behaviours[i];
        const wg_rule_t *r = &rs->rules[ri];
        if (!applies(s, ri) || !wg__behaviour_applies(r, m))
            continue;
        if (!r->has_link_allow) {
            if (push(s, ri, 0, 0, 0) != 0)
                return;
            continue;
        }
        if (m->link_url && *m->link_url) {
            size_t hs, he, n = strlen(m->link_url);
            int known = wg__url_host(m->link_url, n, &hs, &he);
            if ((!known || !wg__host_allowed(&r->link_allow, m->link_url + hs, he - hs)) &&
                push(s, ri, 0, 0, 0) != 0)
                return;
        }
        if (m->len > 0)
            text_links(s, ri, r);
    }
}

static int hit_now(const wg_audit_scanner_t *s, uint32_t ri)
{
    return s->hit_stamp[ri] == s->stamp;
}

static int in_list(const uint32_t *l, size_t n, uint32_t ri)
{
    for (size_t i = 0; i < n; i++)
        if (l[i] == ri)
            return 1;
    return 0;
}

static int add_part(wg_audit_scanner_t *s, const char *rule, size_t start, size_t end)
{
    if (s->n_parts >= s->max_hits) {
        s->truncated = 1;
        return -1;
    }
    if (grow(&s->parts, &s->cap_parts, s->n_parts + 1, sizeof *s->parts) != 0) {
        s->oom = 1;
        return -1;
    }
    s->parts[s->n_parts++] = (wg_audit_part_t){rule, start, end};
    return 0;
}

static int cmp_part(const void *a, const void *b)
{
    const wg_audit_part_t *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    int c = strcmp(x->rule, y->rule);
    if (c)
        return c;
    return x->end < y->end ? -1 : x->end > y->end;
}

static void combos(wg_audit_scanner_t *s)
{
    const wg_audit_ruleset_t *rs = s->rs;
    for (size_t c = 0; c < rs->n_combos; c++) {
        uint32_t ci = rs->combos[c];
        const wg_rule_t *r = &rs->rules[ci];
        if (!applies(s, ci))
            continue;
        int ok = 1;
        for (size_t i = 0; i < r->n_all && ok; i++)
            ok = hit_now(s, r->all_of[i]);
        if (ok && r->n_any) {
            ok = 0;
            for (size_t i = 0; i < r->n_any && !ok; i++)
                ok = hit_now(s, r->any_of[i]);
        }
        for (size_t i = 0; i < r->n_none && ok; i++)
            ok = !hit_now(s, r->none_of[i]);
        if (!ok)
            continue;
        size_t first = s->n_parts, n_raw = s->n_raw, key = SIZE_MAX;
        for (size_t h = 0; h < n_raw; h++) {
            const raw_t *x = &s->raw[h];
            if (!in_list(r->all_of, r->n_all, x->rule) && !in_list(r->any_of, r->n_any, x->rule))
                continue;
            if (x->has_span) {
                if (add_part(s, rs->rules[x->rule].id, x->start, x->end) != 0)
                    return;
                key = x->start < key ? x->start : key;
            }
            for (size_t p = 0; p < x->n_parts; p++) { /* a combo of combos: their parts */
                wg_audit_part_t q = s->parts[x->part_first + p];
                if (add_part(s, q.rule, q.start, q.end) != 0)
                    return;
                key = q.start < key ? q.start : key;
            }
        }
        /* parts in text order, each (rule, span) once */
        if (s->n_parts - first > 1)
            qsort(s->parts + first, s->n_parts - first, sizeof *s->parts, cmp_part);
        size_t w = first;
        for (size_t p = first; p < s->n_parts; p++)
            if (w == first || cmp_part(&s->parts[w - 1], &s->parts[p]) != 0)
                s->parts[w++] = s->parts[p];
        s->n_parts = w;
        if (push(s, ci, 0, 0, 0) != 0)
            return;
        raw_t *me = &s->raw[s->n_raw - 1];
        me->part_first = first;
        me->n_parts = s->n_parts - first;
        me->key = key;
    }
}

static int cmp_raw(const void *a, const void *b)
{
    const raw_t *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    if (x->has_span != y->has_span)
        return x->has_span > y->has_span ? -1 : 1;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

static void excerpt(const char *t, size_t len, size_t start, size_t end, size_t *es, size_t *ee)
{
    size_t a = start;
    for (int k = 0; k < EXCERPT_CHARS && a > 0 && start - a < EXCERPT_BYTES; k++) {
        a--;
        while (a > 0 && ((unsigned char)t[a] & 0xc0) == 0x80 && start - a < EXCERPT_BYTES)
            a--;
    }
    while (a < start && ((unsigned char)t[a] & 0xc0) == 0x80)
        a++;
    size_t b = end;
    for (int k = 0; k < EXCERPT_CHARS && b < len && b - end < EXCERPT_BYTES; k++)
        b = utf8_next(t, len, b);
    if (b > len)
        b = len;
    *es = a;
    *ee = b;
}

static int finish(wg_audit_scanner_t *s, wg_audit_result_t *out, char *err)
{
    if (s->n_raw > 1)
        qsort(s->raw, s->n_raw, sizeof *s->raw, cmp_raw);
    if (grow(&s->hits, &s->cap_hits, s->n_raw ? s->n_raw : 1, sizeof *s->hits) != 0) {
        wg__err(err, "out of memory");
        return -1;
    }
    const wg_audit_msg_t *m = s->msg;
    size_t n = 0;
    for (size_t i = 0; i < s->n_raw; i++) {
        const raw_t *x = &s->raw[i];
        const wg_rule_t *r = &s->rs->rules[x->rule];
        if (r->silent)
            continue;
        if (i > 0 && x->has_span && cmp_raw(&s->raw[i - 1], x) == 0)
            continue; /* the same (rule, span) from two listed words */
        wg_audit_hit_t *h = &s->hits[n++];
        memset(h, 0, sizeof *h);
        h->rule = r->id;
        h->kind = r->kind;
        h->severity = r->severity;
        h->has_span = x->has_span;
        if (x->has_span) {
            h->start = x->start;
            h->end = x->end;
            h->text = m->text + x->start;
            excerpt(m->text, m->len, x->start, x->end, &h->excerpt_start, &h->excerpt_end);
        }
        h->parts = x->n_parts ? s->parts + x->part_first : NULL;
        h->n_parts = x->n_parts;
    }
    out->hits = s->hits;
    out->n_hits = n;
    out->truncated = s->truncated;
    return 0;
}

int wg_audit_scan(wg_audit_scanner_t *s, wg_audit_ruleset_t *rs, const wg_audit_msg_t *msg,
                  wg_audit_result_t *out, char err[WG_AUDIT_ERR_MAX])
{
    memset(out, 0, sizeof *out);
    out->hits = s->hits;
    if (!rs)
        return 0;
    if (rs != s->rs && adopt(s, rs, err) != 0)
        return -1;
    if (++s->stamp == 0) {
        memset(s->app_stamp, 0, s->n_rules * sizeof *s->app_stamp);
        memset(s->hit_stamp, 0, s->n_rules * sizeof *s->hit_stamp);
        memset(s->re_stamp, 0, s->n_rules * sizeof *s->re_stamp);
        s->stamp = 1;
    }
    s->msg = msg;
    s->n_raw = 0;
    s->n_parts = 0;
    s->truncated = 0;
    s->oom = 0;
    if (msg->len > 0 && msg->text) {
        for (size_t v = 0; v < rs->n_views && !s->truncated && !s->oom; v++)
            if (scan_view(s, v, err) != 0)
                return -1;
    }
    if (!s->truncated && !s->oom)
        behaviours(s);
    if (!s->truncated && !s->oom)
        combos(s);
    if (s->oom) {
        wg__err(err, "out of memory");
        return -1;
    }
    return finish(s, out, err);
}
