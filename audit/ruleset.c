/* Rule sets: the JSON document validated into rules (errors name the rule and the cause), rules
 * grouped into normalization views, words deduplicated into per-view literal tables, combos
 * resolved and ordered, the canonical form hashed. Hyperscan databases: compile.c. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/internal.h"

#define MAX_ID_BYTES 64
#define MAX_WORD_BYTES 1024
#define MAX_RULES 100000
#define MAX_WORDS 1000000 /* all word rules together; 50,000 is a large real set */

static atomic_uint_fast64_t next_serial = 1;

void wg__err(char *err, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, WG_AUDIT_ERR_MAX, fmt, ap);
    va_end(ap);
}

void wg__rule_err(char *err, const wg_rule_t *r, size_t index, const char *fmt, ...)
{
    if (!err)
        return;
    int n;
    if (r && r->id)
        n = snprintf(err, WG_AUDIT_ERR_MAX, "rule \"%s\": ", r->id);
    else
        n = snprintf(err, WG_AUDIT_ERR_MAX, "rules[%zu]: ", index);
    if (n < 0 || n >= WG_AUDIT_ERR_MAX)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, WG_AUDIT_ERR_MAX - (size_t)n, fmt, ap);
    va_end(ap);
}

uint64_t wg__fnv1a64(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

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

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int wg__strlist_has(const wg_strlist_t *l, const char *s)
{
    if (!s || l->n == 0)
        return 0;
    return bsearch(&s, l->v, l->n, sizeof *l->v, cmp_str) != NULL;
}

static void strlist_free(wg_strlist_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static void rule_free(wg_rule_t *r)
{
    free(r->id);
    free(r->name);
    strlist_free(&r->corps);
    strlist_free(&r->exempt);
    for (size_t i = 0; i < r->n_words; i++)
        free(r->words[i]);
    free(r->words);
    free(r->pattern);
    pcre2_code_free(r->re);
    strlist_free(&r->msgtypes);
    strlist_free(&r->events);
    strlist_free(&r->link_allow);
    strlist_free(&r->from);
    free(r->all_of);
    free(r->any_of);
    free(r->none_of);
}

static void view_free(wg_view_t *v)
{
    free(v->ignore);
    free(v->lits);
    free(v->lit_pool);
    free(v->lit_off);
    free(v->lit_rules);
    free(v->re_rules);
    free(v->fold_only);
    hs_free_database(v->lit_db);
    hs_free_database(v->re_db);
}

void wg__ruleset_free(wg_audit_ruleset_t *rs)
{
    if (!rs)
        return;
    for (size_t i = 0; i < rs->n_rules; i++)
        rule_free(&rs->rules[i]);
    free(rs->rules);
    free(rs->by_id);
    for (size_t i = 0; i < rs->n_views; i++)
        view_free(&rs->views[i]);
    free(rs->views);
    free(rs->behaviours);
    free(rs->combos);
    free(rs->canon);
    free(rs);
}

/* ---- parse helpers -------------------------------------------------------------------------- */

typedef struct parse_ctx {
    wg_audit_ruleset_t *rs;
    char *err;
    size_t index; /* the rule being parsed */
    wg_rule_t *rule;
    size_t total_words;
} parse_ctx_t;

#define RERR(c, ...) wg__rule_err((c)->err, (c)->rule, (c)->index, __VA_ARGS__)

static int parse_strlist(parse_ctx_t *c, json_t *v, const char *key, wg_strlist_t *out)
{
    if (!json_is_array(v)) {
        RERR(c, "\"%s\" must be an array of strings", key);
        return -1;
    }
    size_t n = json_array_size(v);
    if (n == 0) {
        RERR(c, "\"%s\" is empty", key);
        return -1;
    }
    out->v = calloc(n, sizeof *out->v);
    if (!out->v) {
        RERR(c, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(v, i);
        if (!json_is_string(e) || json_string_length(e) == 0) {
            RERR(c, "\"%s\"[%zu] must be a non-empty string", key, i);
            return -1;
        }
        out->v[out->n] = strdup(json_string_value(e));
        if (!out->v[out->n]) {
            RERR(c, "out of memory");
            return -1;
        }
        out->n++;
    }
    qsort(out->v, out->n, sizeof *out->v, cmp_str);
    size_t w = 0;
    for (size_t i = 0; i < out->n; i++) {
        if (w > 0 && strcmp(out->v[w - 1], out->v[i]) == 0)
            free(out->v[i]);
        else
            out->v[w++] = out->v[i];
    }
    out->n = w;
    return 0;
}

static int key_in(const char *key, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(key, *list) == 0)
            return 1;
    return 0;
}

static const char *const common_keys[] = {"id",    "name",  "kind",   "severity", "enabled",
                                          "scope", "corps", "exempt", "silent",   NULL};
static const char *const kind_keys[4][7] = {
    [WG_AUDIT_WORD] = {"words", "ignore", "fold_digits", NULL},
    [WG_AUDIT_REGEX] = {"pattern", "ignore", "fold_digits", "check", NULL},
    [WG_AUDIT_BEHAVIOUR] = {"msgtypes", "min_amount_fen", "events", "link_allow", "from",
                            "unanswered", NULL},
    [WG_AUDIT_COMBO] = {"all_of", "any_of", "none_of", NULL},
};

static int get_bool(parse_ctx_t *c, json_t *o, const char *key, int dflt, int *out)
{
    json_t *v = json_object_get(o, key);
    if (!v) {
        *out = dflt;
        return 0;
    }
    if (!json_is_boolean(v)) {
        RERR(c, "\"%s\" must be true or false", key);
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}

static int utf8_decode(const unsigned char *s, size_t n, size_t *i, uint32_t *cp)
{
    unsigned char b = s[*i];
    int len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    if (len == 0 || *i + (size_t)len > n)
        return -1;
    uint32_t c = len == 1 ? b : len == 2 ? (b & 0x1fu) : len == 3 ? (b & 0x0fu) : (b & 0x07u);
    for (int k = 1; k < len; k++)
        c = (c << 6) | (s[*i + (size_t)k] & 0x3fu);
    *i += (size_t)len;
    *cp = c;
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The ignore set as code points, each also in its folded form (so an ignored U+3000 or a
 * full-width '－' still drops after the folds that run first). */
static int parse_ignore(parse_ctx_t *c, json_t *v, uint32_t **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (!v)
        return 0;
    if (!json_is_string(v)) {
        RERR(c, "\"ignore\" must be a string of characters");
        return -1;
    }
    const unsigned char *s = (const unsigned char *)json_string_value(v);
    size_t n = json_string_length(v);
    uint32_t *cps = NULL;
    size_t cnt = 0, cap = 0;
    wg_audit_view_opts_t base = {0};
    for (size_t i = 0; i < n;) {
        size_t at = i;
        uint32_t cp;
        if (utf8_decode(s, n, &i, &cp) != 0 || cp == 0) {
            RERR(c, "\"ignore\" holds an invalid character");
            free(cps);
            return -1;
        }
        size_t fl = 0;
        char *folded = wg_audit_normalize_dup(&base, (const char *)s + at, i - at, &fl);
        if (!folded || grow(&cps, &cap, cnt + 1 + fl, sizeof *cps) != 0) {
            free(folded);
            free(cps);
            RERR(c, "out of memory");
            return -1;
        }
        cps[cnt++] = cp;
        for (size_t j = 0; j < fl;) {
            uint32_t f;
            if (utf8_decode((const unsigned char *)folded, fl, &j, &f) != 0)
                break;
            cps[cnt++] = f;
        }
        free(folded);
    }
    if (cnt == 0) {
        free(cps);
        return 0;
    }
    qsort(cps, cnt, sizeof *cps, cmp_u32);
    size_t w = 0;
    for (size_t i = 0; i < cnt; i++)
        if (w == 0 || cps[w - 1] != cps[i])
            cps[w++] = cps[i];
    *out = cps;
    *n_out = w;
    return 0;
}

/* ---- views and their literal tables under construction --------------------------------------- */

typedef struct pair {
    uint32_t lit, rule;
} pair_t;

typedef struct vbuild {
    char *pool;
    size_t pool_len, pool_cap;
    uint32_t *off, *len;
    size_t n, cap_off, cap_len;
    uint32_t *slots; /* open addressing: literal index + 1, 0 empty */
    size_t n_slots;
    pair_t *pairs;
    size_t n_pairs, cap_pairs;
    uint32_t *re;
    size_t n_re, cap_re;
} vbuild_t;

static void vbuild_free(vbuild_t *b)
{
    free(b->pool);
    free(b->off);
    free(b->len);
    free(b->slots);
    free(b->pairs);
    free(b->re);
}

static unsigned char ascii_lower(unsigned char ch)
{
    return ch >= 'A' && ch <= 'Z' ? (unsigned char)(ch + 32) : ch;
}

static uint64_t lit_hash(const char *s, size_t n)
{
    uint64_t h = WG_FNV_INIT;
    for (size_t i = 0; i < n; i++) {
        h ^= ascii_lower((unsigned char)s[i]);
        h *= 0x100000001b3ULL;
    }
    return h;
}

static int lit_equal(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ascii_lower((unsigned char)a[i]) != ascii_lower((unsigned char)b[i]))
            return 0;
    return 1;
}

static int vbuild_rehash(vbuild_t *b, size_t n_slots)
{
    uint32_t *slots = calloc(n_slots, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < b->n; i++) {
        size_t h = (size_t)lit_hash(b->pool + b->off[i], b->len[i]) & (n_slots - 1);
        while (slots[h])
            h = (h + 1) & (n_slots - 1);
        slots[h] = (uint32_t)i + 1;
    }
    free(b->slots);
    b->slots = slots;
    b->n_slots = n_slots;
    return 0;
}

/* Adds a normalized word for a rule; words equal but for Latin case are one literal. */
static int vbuild_add_word(vbuild_t *b, const char *w, size_t n, uint32_t rule)
{
    if ((b->n + 1) * 2 > b->n_slots && vbuild_rehash(b, b->n_slots ? b->n_slots * 2 : 64) != 0)
        return -1;
    size_t h = (size_t)lit_hash(w, n) & (b->n_slots - 1);
    uint32_t lit = UINT32_MAX;
    while (b->slots[h]) {
        uint32_t i = b->slots[h] - 1;
        if (b->len[i] == n && lit_equal(b->pool + b->off[i], w, n)) {
            lit = i;
            break;
        }
        h = (h + 1) & (b->n_slots - 1);
    }
    if (lit == UINT32_MAX) {
        if (grow(&b->pool, &b->pool_cap, b->pool_len + n, 1) != 0 ||
            grow(&b->off, &b->cap_off, b->n + 1, sizeof *b->off) != 0 ||
            grow(&b->len, &b->cap_len, b->n + 1, sizeof *b->len) != 0)
            return -1;
        memcpy(b->pool + b->pool_len, w, n);
        b->off[b->n] = (uint32_t)b->pool_len;
        b->len[b->n] = (uint32_t)n;
        b->pool_len += n;
        lit = (uint32_t)b->n++;
        b->slots[h] = lit + 1;
    }
    if (grow(&b->pairs, &b->cap_pairs, b->n_pairs + 1, sizeof *b->pairs) != 0)
        return -1;
    b->pairs[b->n_pairs++] = (pair_t){lit, rule};
    return 0;
}

static int cmp_pair(const void *a, const void *b)
{
    const pair_t *x = a, *y = b;
    if (x->lit != y->lit)
        return x->lit < y->lit ? -1 : 1;
    return x->rule < y->rule ? -1 : x->rule > y->rule;
}

static int vbuild_finish(vbuild_t *b, wg_view_t *v)
{
    if (b->n_pairs > 0)
        qsort(b->pairs, b->n_pairs, sizeof *b->pairs, cmp_pair);
    if (b->n > 0) {
        v->lits = calloc(b->n, sizeof *v->lits);
        v->lit_rules = malloc(b->n_pairs * sizeof *v->lit_rules);
        if (!v->lits || !v->lit_rules)
            return -1;
    }
    size_t w = 0;
    for (size_t i = 0; i < b->n_pairs; i++) {
        if (i > 0 && cmp_pair(&b->pairs[i - 1], &b->pairs[i]) == 0)
            continue; /* a word listed twice in one rule */
        wg_lit_t *l = &v->lits[b->pairs[i].lit];
        if (l->n == 0)
            l->first = (uint32_t)w;
        l->n++;
        v->lit_rules[w++] = b->pairs[i].rule;
    }
    for (size_t i = 0; i < b->n; i++)
        v->lits[i].len = b->len[i];
    v->n_lits = b->n;
    v->lit_pool = b->pool;
    v->lit_off = b->off;
    b->pool = NULL; /* the view owns them now */
    b->off = NULL;
    v->re_rules = b->re;
    v->n_re = b->n_re;
    b->re = NULL;
    return 0;
}

typedef struct build {
    vbuild_t *vb;
    size_t cap_views, cap_vb;
} build_t;

static int view_for(parse_ctx_t *c, build_t *bd, uint32_t *ignore, size_t n_ignore, int fold,
                    size_t *out)
{
    wg_audit_ruleset_t *rs = c->rs;
    for (size_t i = 0; i < rs->n_views; i++) {
        wg_view_t *v = &rs->views[i];
        if (v->fold_digits == fold && v->n_ignore == n_ignore &&
            (n_ignore == 0 || memcmp(v->ignore, ignore, n_ignore * sizeof *ignore) == 0)) {
            free(ignore);
            *out = i;
            return 0;
        }
    }
    if (grow(&rs->views, &bd->cap_views, rs->n_views + 1, sizeof *rs->views) != 0 ||
        grow(&bd->vb, &bd->cap_vb, rs->n_views + 1, sizeof *bd->vb) != 0) {
        free(ignore);
        RERR(c, "out of memory");
        return -1;
    }
    wg_view_t *v = &rs->views[rs->n_views];
    memset(v, 0, sizeof *v);
    memset(&bd->vb[rs->n_views], 0, sizeof *bd->vb);
    v->ignore = ignore;
    v->n_ignore = n_ignore;
    v->fold_digits = fold;
    *out = rs->n_views++;
    return 0;
}

/* ---- one rule ----------------------------------------------------------------------------- */

static int parse_scope(parse_ctx_t *c, json_t *o, wg_rule_t *r)
{
    json_t *scope = json_object_get(o, "scope");
    r->speaker = WG_SPEAKER_ANY;
    r->chat = WG_CHAT_ANY;
    if (!scope)
        return 0;
    if (!json_is_object(scope)) {
        RERR(c, "\"scope\" must be an object");
        return -1;
    }
    const char *key;
    json_t *v;
    json_object_foreach(scope, key, v)
    {
        const char *s = json_string_value(v);
        if (strcmp(key, "speaker") == 0) {
            if (s && strcmp(s, "employee") == 0)
                r->speaker = WG_SPEAKER_EMPLOYEE;
            else if (s && strcmp(s, "customer") == 0)
                r->speaker = WG_SPEAKER_CUSTOMER;
            else if (!s || strcmp(s, "any") != 0) {
                RERR(c, "\"scope.speaker\" must be \"employee\", \"customer\" or \"any\"");
                return -1;
            }
        } else if (strcmp(key, "chat") == 0) {
            if (s && strcmp(s, "single") == 0)
                r->chat = WG_CHAT_SINGLE;
            else if (s && strcmp(s, "group") == 0)
                r->chat = WG_CHAT_GROUP;
            else if (!s || strcmp(s, "any") != 0) {
                RERR(c, "\"scope.chat\" must be \"single\", \"group\" or \"any\"");
                return -1;
            }
        } else {
            RERR(c, "unknown field \"scope.%s\"", key);
            return -1;
        }
    }
    return 0;
}

static int parse_words(parse_ctx_t *c, build_t *bd, json_t *o, wg_rule_t *r, uint32_t ri)
{
    json_t *words = json_object_get(o, "words");
    if (!json_is_array(words) || json_array_size(words) == 0) {
        RERR(c, "\"words\" must be a non-empty array of strings");
        return -1;
    }
    size_t n = json_array_size(words);
    if (c->total_words + n > MAX_WORDS) {
        RERR(c, "more than %d words in the rule set", MAX_WORDS);
        return -1;
    }
    c->total_words += n;
    r->words = calloc(n, sizeof *r->words);
    if (!r->words) {
        RERR(c, "out of memory");
        return -1;
    }
    wg_view_t *v = &c->rs->views[r->view];
    wg_audit_view_opts_t opts = {v->ignore, v->n_ignore, v->fold_digits};
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(words, i);
        if (!json_is_string(e) || json_string_length(e) == 0) {
            RERR(c, "\"words\"[%zu] must be a non-empty string", i);
            return -1;
        }
        const char *w = json_string_value(e);
        size_t wl = json_string_length(e);
        if (wl > MAX_WORD_BYTES || memchr(w, 0, wl)) {
            RERR(c, "word %zu is longer than %d bytes or holds a NUL", i, MAX_WORD_BYTES);
            return -1;
        }
        r->words[r->n_words] = strdup(w);
        if (!r->words[r->n_words]) {
            RERR(c, "out of memory");
            return -1;
        }
        r->n_words++;
        if (!r->enabled)
            continue;
        size_t nl = 0;
        char *norm = wg_audit_normalize_dup(&opts, w, wl, &nl);
        if (!norm) {
            RERR(c, "out of memory");
            return -1;
        }
        if (nl == 0) {
            free(norm);
            RERR(c, "word \"%s\" is empty once normalized (only ignored or zero-width characters)",
                 w);
            return -1;
        }
        int rc = vbuild_add_word(&bd->vb[r->view], norm, nl, ri);
        free(norm);
        if (rc != 0) {
            RERR(c, "out of memory");
            return -1;
        }
    }
    return 0;
}

static int parse_unanswered(parse_ctx_t *c, json_t *u, wg_rule_t *r)
{
    if (!json_is_object(u)) {
        RERR(c, "\"unanswered\" must be an object");
        return -1;
    }
    const char *key;
    json_t *v;
    json_object_foreach(u, key, v)
    {
        if (!key_in(key, (const char *const[]){"minutes", "days", "hours", "tz", NULL})) {
            RERR(c, "unknown field \"unanswered.%s\"", key);
            return -1;
        }
        if (strcmp(key, "minutes") != 0 && !json_is_string(v)) {
            RERR(c, "\"unanswered.%s\" must be a string", key);
            return -1;
        }
    }
    json_t *m = json_object_get(u, "minutes");
    if (!json_is_integer(m) || json_integer_value(m) <= 0 ||
        json_integer_value(m) > 366 * 24 * 60) {
        RERR(c, "\"unanswered.minutes\" must be an integer from 1 to %d", 366 * 24 * 60);
        return -1;
    }
    char e[WG_AUDIT_ERR_MAX];
    if (wg_audit_unanswered_parse(&r->unanswered, json_integer_value(m),
                                  json_string_value(json_object_get(u, "days")),
                                  json_string_value(json_object_get(u, "hours")),
                                  json_string_value(json_object_get(u, "tz")), e) != 0) {
        RERR(c, "\"unanswered\": %s", e);
        return -1;
    }
    r->has_unanswered = 1;
    return 0;
}

static int parse_behaviour(parse_ctx_t *c, json_t *o, wg_rule_t *r)
{
    json_t *v;
    if ((v = json_object_get(o, "msgtypes"))) {
        if (parse_strlist(c, v, "msgtypes", &r->msgtypes) != 0)
            return -1;
        r->has_msgtypes = 1;
    }
    if ((v = json_object_get(o, "events"))) {
        if (parse_strlist(c, v, "events", &r->events) != 0)
            return -1;
        r->has_events = 1;
    }
    if ((v = json_object_get(o, "link_allow"))) {
        if (parse_strlist(c, v, "link_allow", &r->link_allow) != 0)
            return -1;
        for (size_t i = 0; i < r->link_allow.n; i++)
            for (char *p = r->link_allow.v[i]; *p; p++)
                *p = (char)ascii_lower((unsigned char)*p);
        r->has_link_allow = 1;
    }
    if ((v = json_object_get(o, "from"))) {
        if (parse_strlist(c, v, "from", &r->from) != 0)
            return -1;
        r->has_from = 1;
    }
    if ((v = json_object_get(o, "min_amount_fen"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            RERR(c, "\"min_amount_fen\" must be a non-negative integer (fen)");
            return -1;
        }
        r->min_amount_fen = json_integer_value(v);
        r->has_min_amount = 1;
    }
    if ((v = json_object_get(o, "unanswered"))) {
        if (parse_unanswered(c, v, r) != 0)
            return -1;
        if (r->has_msgtypes || r->has_events || r->has_link_allow || r->has_from ||
            r->has_min_amount) {
            RERR(c, "\"unanswered\" is a rule of its own: no other behaviour fields with it");
            return -1;
        }
        return 0;
    }
    if (!r->has_msgtypes && !r->has_events && !r->has_link_allow && !r->has_from &&
        !r->has_min_amount) {
        RERR(c, "a behaviour rule needs \"msgtypes\", \"events\", \"link_allow\", \"from\", "
                "\"min_amount_fen\" or \"unanswered\"");
        return -1;
    }
    return 0;
}

static int parse_rule(parse_ctx_t *c, build_t *bd, json_t *o, wg_strlist_t refs[3])
{
    wg_rule_t *r = c->rule;
    if (!json_is_object(o)) {
        RERR(c, "a rule must be an object");
        return -1;
    }
    json_t *id = json_object_get(o, "id");
    if (!json_is_string(id) || json_string_length(id) == 0 ||
        json_string_length(id) > MAX_ID_BYTES) {
        RERR(c, "\"id\" must be a string of 1 to %d characters", MAX_ID_BYTES);
        return -1;
    }
    for (const char *p = json_string_value(id); *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("_-.:", *p))) {
            RERR(c,
                 "\"id\" \"%s\" may hold only letters, digits and _ - . :", json_string_value(id));
            return -1;
        }
    }
    r->id = strdup(json_string_value(id));
    if (!r->id) {
        RERR(c, "out of memory");
        return -1;
    }
    json_t *name = json_object_get(o, "name");
    if (name && !json_is_string(name)) {
        RERR(c, "\"name\" must be a string");
        return -1;
    }
    r->name = strdup(name ? json_string_value(name) : "");
    if (!r->name) {
        RERR(c, "out of memory");
        return -1;
    }
    const char *kind = json_string_value(json_object_get(o, "kind"));
    static const char *const kinds[] = {"word", "regex", "behaviour", "combo"};
    r->kind = (wg_audit_kind_t)-1;
    for (int k = 0; k < 4; k++)
        if (kind && strcmp(kind, kinds[k]) == 0)
            r->kind = (wg_audit_kind_t)k;
    if ((int)r->kind < 0) {
        RERR(c, "\"kind\" must be \"word\", \"regex\", \"behaviour\" or \"combo\"");
        return -1;
    }
    const char *sev = json_string_value(json_object_get(o, "severity"));
    static const char *const sevs[] = {"info", "warning", "critical"};
    r->severity = (wg_audit_severity_t)-1;
    for (int k = 0; k < 3; k++)
        if (sev && strcmp(sev, sevs[k]) == 0)
            r->severity = (wg_audit_severity_t)k;
    if ((int)r->severity < 0) {
        RERR(c, "\"severity\" must be \"info\", \"warning\" or \"critical\"");
        return -1;
    }
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        if (!key_in(key, common_keys) && !key_in(key, kind_keys[r->kind])) {
            RERR(c, "unknown field \"%s\" for a %s rule", key, kinds[r->kind]);
            return -1;
        }
    }
    if (get_bool(c, o, "enabled", 1, &r->enabled) != 0 ||
        get_bool(c, o, "silent", 0, &r->silent) != 0 || parse_scope(c, o, r) != 0)
        return -1;
    if ((v = json_object_get(o, "corps"))) {
        if (parse_strlist(c, v, "corps", &r->corps) != 0)
            return -1;
        r->has_corps = 1;
    }
    if ((v = json_object_get(o, "exempt")) && parse_strlist(c, v, "exempt", &r->exempt) != 0)
        return -1;

    uint32_t ri = (uint32_t)c->index;
    switch (r->kind) {
    case WG_AUDIT_WORD:
    case WG_AUDIT_REGEX: {
        int fold;
        uint32_t *ignore;
        size_t n_ignore;
        if (get_bool(c, o, "fold_digits", 0, &fold) != 0 ||
            parse_ignore(c, json_object_get(o, "ignore"), &ignore, &n_ignore) != 0 ||
            view_for(c, bd, ignore, n_ignore, fold, &r->view) != 0)
            return -1;
        if (r->kind == WG_AUDIT_WORD)
            return parse_words(c, bd, o, r, ri);
        json_t *pat = json_object_get(o, "pattern");
        if (!json_is_string(pat) || json_string_length(pat) == 0 ||
            strlen(json_string_value(pat)) != json_string_length(pat)) {
            RERR(c, "\"pattern\" must be a non-empty string");
            return -1;
        }
        r->pattern = strdup(json_string_value(pat));
        if (!r->pattern) {
            RERR(c, "out of memory");
            return -1;
        }
        json_t *chk = json_object_get(o, "check");
        const char *cs = json_string_value(chk);
        if (!chk)
            r->check = WG_CHECK_NONE;
        else if (cs && strcmp(cs, "luhn") == 0)
            r->check = WG_CHECK_LUHN;
        else if (cs && strcmp(cs, "cn_id") == 0)
            r->check = WG_CHECK_CN_ID;
        else {
            RERR(c, "\"check\" must be \"luhn\" or \"cn_id\"");
            return -1;
        }
        if (wg__regex_compile(r, c->index, c->err) != 0)
            return -1;
        if (r->enabled) {
            vbuild_t *b = &bd->vb[r->view];
            if (grow(&b->re, &b->cap_re, b->n_re + 1, sizeof *b->re) != 0) {
                RERR(c, "out of memory");
                return -1;
            }
            b->re[b->n_re++] = ri;
        }
        return 0;
    }
    case WG_AUDIT_BEHAVIOUR:
        return parse_behaviour(c, o, r);
    case WG_AUDIT_COMBO: {
        static const char *const ck[3] = {"all_of", "any_of", "none_of"};
        for (int k = 0; k < 3; k++)
            if ((v = json_object_get(o, ck[k])) && parse_strlist(c, v, ck[k], &refs[k]) != 0)
                return -1;
        if (refs[0].n == 0 && refs[1].n == 0) {
            RERR(c, "a combo needs \"all_of\" or \"any_of\"");
            return -1;
        }
        return 0;
    }
    }
    return 0;
}

/* ---- the whole set ------------------------------------------------------------------------ */

static int cmp_by_id_r(const void *a, const void *b, void *ctx)
{
    const wg_audit_ruleset_t *rs = ctx;
    return strcmp(rs->rules[*(const uint32_t *)a].id, rs->rules[*(const uint32_t *)b].id);
}

int wg_audit_ruleset_find(const wg_audit_ruleset_t *rs, const char *id)
{
    size_t lo = 0, hi = rs->n_rules;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(rs->rules[rs->by_id[mid]].id, id);
        if (c == 0)
            return (int)rs->by_id[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static int resolve_refs(wg_audit_ruleset_t *rs, size_t i, wg_strlist_t *l, uint32_t **out,
                        size_t *n, char *err)
{
    if (l->n == 0)
        return 0;
    *out = malloc(l->n * sizeof **out);
    if (!*out) {
        wg__rule_err(err, &rs->rules[i], i, "out of memory");
        return -1;
    }
    for (size_t k = 0; k < l->n; k++) {
        int j = wg_audit_ruleset_find(rs, l->v[k]);
        if (j < 0) {
            wg__rule_err(err, &rs->rules[i], i, "combo names unknown rule \"%s\"", l->v[k]);
            return -1;
        }
        (*out)[(*n)++] = (uint32_t)j;
    }
    return 0;
}

/* Depth-first: 0 unvisited, 1 on the path, 2 done. Appends enabled combos after what they use. */
static int order_combo(wg_audit_ruleset_t *rs, uint32_t i, uint8_t *mark, char *err)
{
    if (mark[i] == 2)
        return 0;
    wg_rule_t *r = &rs->rules[i];
    if (mark[i] == 1) {
        wg__rule_err(err, r, i, "combo refers to itself through a cycle");
        return -1;
    }
    mark[i] = 1;
    const uint32_t *lists[3] = {r->all_of, r->any_of, r->none_of};
    size_t ns[3] = {r->n_all, r->n_any, r->n_none};
    for (int k = 0; k < 3; k++)
        for (size_t j = 0; j < ns[k]; j++)
            if (rs->rules[lists[k][j]].kind == WG_AUDIT_COMBO &&
                order_combo(rs, lists[k][j], mark, err) != 0)
                return -1;
    mark[i] = 2;
    if (r->enabled)
        rs->combos[rs->n_combos++] = i;
    return 0;
}

static uint64_t input_hash(const wg_audit_ruleset_t *rs)
{
    static const char tag[] = "wegate-audit-inputs-1";
    uint64_t h = wg__fnv1a64(WG_FNV_INIT, tag, sizeof tag);
    for (size_t i = 0; i < rs->n_views; i++) {
        const wg_view_t *v = &rs->views[i];
        uint64_t hdr[3] = {v->n_ignore, (uint64_t)v->fold_digits, v->n_lits};
        h = wg__fnv1a64(h, hdr, sizeof hdr);
        h = wg__fnv1a64(h, v->ignore, v->n_ignore * sizeof *v->ignore);
        for (size_t k = 0; k < v->n_lits; k++) {
            h = wg__fnv1a64(h, &v->lits[k].len, sizeof v->lits[k].len);
            h = wg__fnv1a64(h, v->lit_pool + v->lit_off[k], v->lits[k].len);
        }
        h = wg__fnv1a64(h, &v->n_re, sizeof v->n_re);
        for (size_t k = 0; k < v->n_re; k++) {
            const char *p = rs->rules[v->re_rules[k]].pattern;
            h = wg__fnv1a64(h, p, strlen(p) + 1);
        }
    }
    return h;
}

wg_audit_ruleset_t *wg__ruleset_parse(const char *json, size_t len, char *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        wg__err(err, "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    wg_audit_ruleset_t *rs = calloc(1, sizeof *rs);
    build_t bd = {0};
    wg_strlist_t(*refs)[3] = NULL;
    uint8_t *mark = NULL;
    int ok = 0;
    if (!rs) {
        wg__err(err, "out of memory");
        goto out;
    }
    atomic_init(&rs->refs, 1);
    rs->serial = atomic_fetch_add(&next_serial, 1);
    if (!json_is_object(root)) {
        wg__err(err, "a rule set must be a JSON object {\"version\": 1, \"rules\": [...]}");
        goto out;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (!key_in(key, (const char *const[]){"version", "rules", "description", NULL})) {
            wg__err(err, "unknown top-level field \"%s\"", key);
            goto out;
        }
    }
    json_t *ver = json_object_get(root, "version");
    if (!json_is_integer(ver) || json_integer_value(ver) != 1) {
        wg__err(err, "\"version\" must be 1");
        goto out;
    }
    json_t *rules = json_object_get(root, "rules");
    if (!json_is_array(rules)) {
        wg__err(err, "\"rules\" must be an array");
        goto out;
    }
    size_t n = json_array_size(rules);
    if (n > MAX_RULES) {
        wg__err(err, "more than %d rules", MAX_RULES);
        goto out;
    }
    rs->rules = calloc(n ? n : 1, sizeof *rs->rules);
    rs->by_id = calloc(n ? n : 1, sizeof *rs->by_id);
    refs = calloc(n ? n : 1, sizeof *refs);
    if (!rs->rules || !rs->by_id || !refs) {
        wg__err(err, "out of memory");
        goto out;
    }
    parse_ctx_t c = {.rs = rs, .err = err};
    for (size_t i = 0; i < n; i++) {
        c.index = i;
        c.rule = &rs->rules[i];
        rs->n_rules = i + 1; /* owns what parse_rule allocated, even on error */
        if (parse_rule(&c, &bd, json_array_get(rules, i), refs[i]) != 0)
            goto out;
    }

    for (size_t i = 0; i < n; i++)
        rs->by_id[i] = (uint32_t)i;
    qsort_r(rs->by_id, n, sizeof *rs->by_id, cmp_by_id_r, rs);
    for (size_t i = 0; i < n; i++) {
        rs->rules[rs->by_id[i]].rank = (uint32_t)i;
        if (i > 0 && strcmp(rs->rules[rs->by_id[i - 1]].id, rs->rules[rs->by_id[i]].id) == 0) {
            wg__rule_err(err, &rs->rules[rs->by_id[i]], rs->by_id[i], "duplicate id");
            goto out;
        }
    }

    for (size_t i = 0; i < n; i++) {
        wg_rule_t *r = &rs->rules[i];
        if (r->kind != WG_AUDIT_COMBO)
            continue;
        if (resolve_refs(rs, i, &refs[i][0], &r->all_of, &r->n_all, err) != 0 ||
            resolve_refs(rs, i, &refs[i][1], &r->any_of, &r->n_any, err) != 0 ||
            resolve_refs(rs, i, &refs[i][2], &r->none_of, &r->n_none, err) != 0)
            goto out;
    }
    mark = calloc(n ? n : 1, 1);
    rs->combos = malloc((n ? n : 1) * sizeof *rs->combos);
    rs->behaviours = malloc((n ? n : 1) * sizeof *rs->behaviours);
    if (!mark || !rs->combos || !rs->behaviours) {
        wg__err(err, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        wg_rule_t *r = &rs->rules[i];
        if (r->kind == WG_AUDIT_COMBO && order_combo(rs, (uint32_t)i, mark, err) != 0)
            goto out;
        if (r->kind == WG_AUDIT_BEHAVIOUR && r->enabled && !r->has_unanswered)
            rs->behaviours[rs->n_behaviours++] = (uint32_t)i;
    }

    for (size_t i = 0; i < rs->n_views; i++) {
        if (vbuild_finish(&bd.vb[i], &rs->views[i]) != 0) {
            wg__err(err, "out of memory");
            goto out;
        }
        wg_view_t *vw = &rs->views[i];
        vw->opts = (wg_audit_view_opts_t){vw->ignore, vw->n_ignore, vw->fold_digits};
        if (vw->n_re == 0 && vw->n_lits > 0) {
            /* literal words only: the folds that cannot change a hit are skipped */
            vw->fold_only = malloc(WG_AUDIT_FOLD_ONLY_WORDS * sizeof *vw->fold_only);
            if (!vw->fold_only) {
                wg__err(err, "out of memory");
                goto out;
            }
            size_t pool_len = vw->lit_off[vw->n_lits - 1] + vw->lits[vw->n_lits - 1].len;
            wg_audit_norm_fold_only(&vw->opts, vw->lit_pool, pool_len, vw->fold_only);
        }
    }
    rs->input_hash = input_hash(rs);

    rs->canon = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    if (!rs->canon) {
        wg__err(err, "out of memory");
        goto out;
    }
    rs->canon_len = strlen(rs->canon);
    rs->hash = wg__fnv1a64(WG_FNV_INIT, rs->canon, rs->canon_len);
    ok = 1;
out:
    if (refs) {
        for (size_t i = 0; i < (rs ? rs->n_rules : 0); i++)
            for (int k = 0; k < 3; k++)
                strlist_free(&refs[i][k]);
        free(refs);
    }
    if (rs)
        for (size_t i = 0; i < rs->n_views; i++)
            vbuild_free(&bd.vb[i]);
    free(bd.vb);
    free(mark);
    json_decref(root);
    if (!ok) {
        wg__ruleset_free(rs);
        return NULL;
    }
    return rs;
}

uint64_t wg_audit_ruleset_hash_json(const char *json, size_t len, char err[WG_AUDIT_ERR_MAX])
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        wg__err(err, "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
        return 0;
    }
    char *canon = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(root);
    if (!canon) {
        wg__err(err, "out of memory");
        return 0;
    }
    uint64_t h = wg__fnv1a64(WG_FNV_INIT, canon, strlen(canon));
    free(canon);
    return h;
}

/* ---- accessors ------------------------------------------------------------------------------ */

wg_audit_ruleset_t *wg_audit_ruleset_ref(wg_audit_ruleset_t *rs)
{
    if (rs)
        atomic_fetch_add_explicit(&rs->refs, 1, memory_order_relaxed);
    return rs;
}

void wg_audit_ruleset_unref(wg_audit_ruleset_t *rs)
{
    if (rs && atomic_fetch_sub_explicit(&rs->refs, 1, memory_order_acq_rel) == 1)
        wg__ruleset_free(rs);
}

void wg_audit_ruleset_stats(const wg_audit_ruleset_t *rs, wg_audit_stats_t *out)
{
    *out = rs->stats;
}

size_t wg_audit_ruleset_count(const wg_audit_ruleset_t *rs)
{
    return rs->n_rules;
}

const char *wg_audit_rule_id(const wg_audit_ruleset_t *rs, size_t i)
{
    return rs->rules[i].id;
}

const char *wg_audit_rule_name(const wg_audit_ruleset_t *rs, size_t i)
{
    return rs->rules[i].name;
}

wg_audit_kind_t wg_audit_rule_kind(const wg_audit_ruleset_t *rs, size_t i)
{
    return rs->rules[i].kind;
}

wg_audit_severity_t wg_audit_rule_severity(const wg_audit_ruleset_t *rs, size_t i)
{
    return rs->rules[i].severity;
}

int wg_audit_rule_enabled(const wg_audit_ruleset_t *rs, size_t i)
{
    return rs->rules[i].enabled;
}

size_t wg_audit_rule_words(const wg_audit_ruleset_t *rs, size_t i, const char *const **words)
{
    *words = (const char *const *)rs->rules[i].words;
    return rs->rules[i].n_words;
}

void wg_audit_rule_scope(const wg_audit_ruleset_t *rs, size_t i, wg_audit_role_t *speaker,
                         int *chat)
{
    const wg_rule_t *r = &rs->rules[i];
    *speaker = r->speaker == WG_SPEAKER_EMPLOYEE   ? WG_AUDIT_ROLE_EMPLOYEE
               : r->speaker == WG_SPEAKER_CUSTOMER ? WG_AUDIT_ROLE_CUSTOMER
                                                   : WG_AUDIT_ROLE_UNKNOWN;
    *chat = r->chat == WG_CHAT_SINGLE ? 0 : r->chat == WG_CHAT_GROUP ? 1 : -1;
}

size_t wg_audit_rule_corps(const wg_audit_ruleset_t *rs, size_t i, const char *const **corps)
{
    *corps = (const char *const *)rs->rules[i].corps.v;
    return rs->rules[i].has_corps ? rs->rules[i].corps.n : 0;
}

const wg_audit_unanswered_t *wg_audit_rule_unanswered(const wg_audit_ruleset_t *rs, size_t i)
{
    return rs->rules[i].has_unanswered ? &rs->rules[i].unanswered : NULL;
}

const char *wg_audit_kind_name(wg_audit_kind_t k)
{
    static const char *const names[] = {"word", "regex", "behaviour", "combo"};
    return (unsigned)k < 4 ? names[k] : "?";
}

const char *wg_audit_severity_name(wg_audit_severity_t s)
{
    static const char *const names[] = {"info", "warning", "critical"};
    return (unsigned)s < 3 ? names[s] : "?";
}
