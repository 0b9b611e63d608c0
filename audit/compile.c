/* Compiling a parsed rule set: PCRE2 codes for the regexes (the exact spans), and one block-mode
 * Hyperscan database per view for the literals (hs_compile_lit_multi, caseless) and one for the
 * regexes (hs_compile_multi, single match: Hyperscan only says which regexes may match a
 * message, PCRE2 then finds where). Patterns Hyperscan cannot run exactly (back-references,
 * lookarounds, atomic groups, patterns too large) run in its prefilter mode. */
#include <stdlib.h>
#include <string.h>

#include "audit/internal.h"

/* Literal and regex databases of one view are kept apart: literals compile fastest through
 * hs_compile_lit_multi, which takes no regexes, and two block scans measured faster than one
 * combined database (10,000 words and 4 regexes over 16 MB of ~60-byte messages: 36-58 MB/s
 * against 23-40 MB/s, the literals escaped into hs_compile_multi). */
#define LIT_FLAGS HS_FLAG_CASELESS
#define RE_FLAGS (HS_FLAG_UTF8 | HS_FLAG_SINGLEMATCH)

static int count_callouts(pcre2_callout_enumerate_block *b, void *data)
{
    (void)b;
    (*(int *)data)++;
    return 0;
}

static pcre2_code *pcre_compile(const char *pattern, uint32_t opts, const wg_rule_t *r,
                                size_t index, char *err)
{
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | opts,
                                   &code, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        wg__rule_err(err, r, index, "invalid pattern at offset %zu: %s", (size_t)off,
                     (const char *)msg);
    }
    return re;
}

int wg__regex_compile(wg_rule_t *r, size_t index, char *err)
{
    pcre2_code *re = pcre_compile(r->pattern, 0, r, index, err);
    if (!re)
        return -1;
    int callouts = 0;
    pcre2_callout_enumerate(re, count_callouts, &callouts);
    if (callouts != 0) {
        pcre2_code_free(re);
        wg__rule_err(err, r, index, "callouts are not allowed in a pattern");
        return -1;
    }
    if (r->check != WG_CHECK_NONE) {
        /* A match must pass the check: the callout at the end rejects one that does not, and
         * PCRE2 backtracks to the next candidate, so the leftmost passing match is found. */
        size_t n = strlen(r->pattern);
        char *wrapped = malloc(n + 16);
        if (!wrapped) {
            pcre2_code_free(re);
            wg__rule_err(err, r, index, "out of memory");
            return -1;
        }
        memcpy(wrapped, "(?:", 3);
        memcpy(wrapped + 3, r->pattern, n);
        memcpy(wrapped + 3 + n, ")(?C1)", 7);
        pcre2_code_free(re);
        /* no auto-possessification: it would skip the backtracking the callout asks for */
        re = pcre_compile(wrapped, PCRE2_NO_AUTO_POSSESS, r, index, err);
        free(wrapped);
        if (!re)
            return -1;
        callouts = 0;
        pcre2_callout_enumerate(re, count_callouts, &callouts);
        if (callouts != 1) {
            pcre2_code_free(re);
            wg__rule_err(err, r, index, "pattern cannot take a \"check\" (an unterminated \\Q?)");
            return -1;
        }
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* the interpreter runs it when JIT cannot */
    r->re = re;

    hs_expr_info_t *info = NULL;
    hs_compile_error_t *cerr = NULL;
    if (hs_expression_info(r->pattern, RE_FLAGS, &info, &cerr) != HS_SUCCESS) {
        hs_free_compile_error(cerr);
        cerr = NULL;
        if (hs_expression_info(r->pattern, RE_FLAGS | HS_FLAG_PREFILTER, &info, &cerr) !=
            HS_SUCCESS) {
            wg__rule_err(err, r, index, "Hyperscan cannot run this pattern: %s",
                         cerr ? cerr->message : "unknown error");
            hs_free_compile_error(cerr);
            return -1;
        }
        r->prefilter = 1;
    }
    free(info);
    return 0;
}

static void name_literal(const wg_audit_ruleset_t *rs, const wg_view_t *v, int expr, char *err,
                         const char *msg)
{
    if (expr < 0 || (size_t)expr >= v->n_lits) {
        wg__err(err, "Hyperscan: %s", msg);
        return;
    }
    const wg_lit_t *l = &v->lits[expr];
    uint32_t ri = v->lit_rules[l->first];
    wg__rule_err(err, &rs->rules[ri], ri, "word \"%.*s\": Hyperscan: %s", (int)l->len,
                 v->lit_pool + v->lit_off[expr], msg);
}

static int build_view(wg_audit_ruleset_t *rs, wg_view_t *v, char *err)
{
    hs_compile_error_t *cerr = NULL;
    if (v->n_lits > 0) {
        const char **exprs = malloc(v->n_lits * sizeof *exprs);
        size_t *lens = malloc(v->n_lits * sizeof *lens);
        unsigned *flags = malloc(v->n_lits * sizeof *flags);
        unsigned *ids = malloc(v->n_lits * sizeof *ids);
        hs_error_t rc = HS_NOMEM;
        if (exprs && lens && flags && ids) {
            for (size_t i = 0; i < v->n_lits; i++) {
                exprs[i] = v->lit_pool + v->lit_off[i];
                lens[i] = v->lits[i].len;
                flags[i] = LIT_FLAGS;
                ids[i] = (unsigned)i;
            }
            rc = hs_compile_lit_multi(exprs, flags, ids, lens, (unsigned)v->n_lits, HS_MODE_BLOCK,
                                      NULL, &v->lit_db, &cerr);
        }
        free(exprs);
        free(lens);
        free(flags);
        free(ids);
        if (rc != HS_SUCCESS) {
            if (cerr)
                name_literal(rs, v, cerr->expression, err, cerr->message);
            else
                wg__err(err, "out of memory");
            hs_free_compile_error(cerr);
            return -1;
        }
    }
    if (v->n_re > 0) {
        const char **exprs = malloc(v->n_re * sizeof *exprs);
        unsigned *flags = malloc(v->n_re * sizeof *flags);
        unsigned *ids = malloc(v->n_re * sizeof *ids);
        int status = -1;
        if (!exprs || !flags || !ids) {
            wg__err(err, "out of memory");
            goto re_out;
        }
        for (;;) {
            for (size_t i = 0; i < v->n_re; i++) {
                const wg_rule_t *r = &rs->rules[v->re_rules[i]];
                exprs[i] = r->pattern;
                flags[i] = RE_FLAGS | (r->prefilter ? HS_FLAG_PREFILTER : 0u);
                ids[i] = (unsigned)i;
            }
            hs_error_t rc = hs_compile_multi(exprs, flags, ids, (unsigned)v->n_re, HS_MODE_BLOCK,
                                             NULL, &v->re_db, &cerr);
            if (rc == HS_SUCCESS) {
                status = 0;
                break;
            }
            if (!cerr) {
                wg__err(err, "out of memory");
                break;
            }
            int e = cerr->expression;
            if (e < 0 || (size_t)e >= v->n_re) {
                wg__err(err, "Hyperscan: %s", cerr->message);
                break;
            }
            uint32_t ri = v->re_rules[e];
            wg_rule_t *r = &rs->rules[ri];
            if (r->prefilter || strstr(cerr->message, "empty buffer")) {
                if (strstr(cerr->message, "empty buffer"))
                    wg__rule_err(err, r, ri, "pattern can match the empty string");
                else
                    wg__rule_err(err, r, ri, "Hyperscan: %s", cerr->message);
                break;
            }
            /* Too large or otherwise beyond it: let Hyperscan prefilter, PCRE2 decide. */
            r->prefilter = 1;
            hs_free_compile_error(cerr);
            cerr = NULL;
        }
    re_out:
        hs_free_compile_error(cerr);
        free(exprs);
        free(flags);
        free(ids);
        return status;
    }
    return 0;
}

int wg__ruleset_build_dbs(wg_audit_ruleset_t *rs, char *err)
{
    for (size_t i = 0; i < rs->n_views; i++)
        if (build_view(rs, &rs->views[i], err) != 0)
            return -1;
    return 0;
}

void wg__ruleset_finish_stats(wg_audit_ruleset_t *rs)
{
    wg_audit_stats_t *s = &rs->stats;
    memset(s, 0, sizeof *s);
    s->rules = rs->n_rules;
    for (size_t i = 0; i < rs->n_rules; i++) {
        const wg_rule_t *r = &rs->rules[i];
        if (!r->enabled)
            continue;
        s->enabled++;
        s->by_kind[r->kind]++;
        s->words += r->n_words;
        s->prefiltered += r->kind == WG_AUDIT_REGEX && r->prefilter;
        s->unanswered += r->has_unanswered;
    }
    for (size_t i = 0; i < rs->n_views; i++) {
        const wg_view_t *v = &rs->views[i];
        size_t sz;
        s->literals += v->n_lits;
        s->views += v->lit_db || v->re_db;
        if (v->lit_db && hs_database_size(v->lit_db, &sz) == HS_SUCCESS)
            s->db_bytes += sz;
        if (v->re_db && hs_database_size(v->re_db, &sz) == HS_SUCCESS)
            s->db_bytes += sz;
    }
    s->hash = rs->hash;
}

wg_audit_ruleset_t *wg_audit_ruleset_compile(const char *json, size_t len,
                                             char err[WG_AUDIT_ERR_MAX])
{
    wg_audit_ruleset_t *rs = wg__ruleset_parse(json, len, err);
    if (!rs)
        return NULL;
    if (wg__ruleset_build_dbs(rs, err) != 0) {
        wg__ruleset_free(rs);
        return NULL;
    }
    wg__ruleset_finish_stats(rs);
    return rs;
}
