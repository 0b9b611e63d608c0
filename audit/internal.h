/* The audit engine's private structures, shared by its files (not a public header). */
#ifndef WG_AUDIT_INTERNAL_H
#define WG_AUDIT_INTERNAL_H

#include <hs/hs.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "audit/audit.h"
#include "audit/normalize.h"

enum { WG_CHECK_NONE, WG_CHECK_LUHN, WG_CHECK_CN_ID };
enum { WG_SPEAKER_ANY, WG_SPEAKER_EMPLOYEE, WG_SPEAKER_CUSTOMER };
enum { WG_CHAT_ANY, WG_CHAT_SINGLE, WG_CHAT_GROUP };

/* A sorted list of distinct strings (bsearch). */
typedef struct wg_strlist {
    char **v;
    size_t n;
} wg_strlist_t;

typedef struct wg_rule {
    char *id, *name;
    wg_audit_kind_t kind;
    wg_audit_severity_t severity;
    int enabled, silent;
    int speaker, chat;
    int has_corps;
    wg_strlist_t corps, exempt;
    uint32_t rank; /* position of id in id order: hits sort by it */
    size_t view;   /* word and regex rules: index into views */

    /* word */
    char **words; /* as listed */
    size_t n_words;
    /* regex */
    char *pattern;
    int check;
    int prefilter;  /* Hyperscan runs it in prefilter mode */
    pcre2_code *re; /* wrapped with a callout when check is set */
    /* behaviour */
    int has_msgtypes, has_events, has_link_allow, has_from, has_min_amount, has_unanswered;
    wg_strlist_t msgtypes, events, link_allow, from;
    int64_t min_amount_fen;
    wg_audit_unanswered_t unanswered;
    /* combo: rule indices */
    uint32_t *all_of, *any_of, *none_of;
    size_t n_all, n_any, n_none;
} wg_rule_t;

typedef struct wg_lit {
    uint32_t len;   /* normalized bytes: a hit ending at e starts at e - len */
    uint32_t first; /* its rules: view->lit_rules[first .. first + n) */
    uint32_t n;
} wg_lit_t;

typedef struct wg_view {
    uint32_t *ignore;
    size_t n_ignore;
    int fold_digits;
    wg_audit_view_opts_t opts;
    /* NULL, or when the view has literal words only: the folds they need for scanning
     * (wg_audit_norm_fold_only) */
    uint64_t *fold_only;

    /* literals (Hyperscan ids are indices) */
    wg_lit_t *lits;
    size_t n_lits;
    char *lit_pool; /* literal bytes, lit_off[i] .. + lits[i].len */
    uint32_t *lit_off;
    uint32_t *lit_rules;
    /* regexes (Hyperscan ids are indices into re_rules) */
    uint32_t *re_rules;
    size_t n_re;

    hs_database_t *lit_db, *re_db;
} wg_view_t;

struct wg_audit_ruleset {
    atomic_size_t refs;
    uint64_t serial;     /* unique per set in this process: scanners notice a change by it */
    uint64_t hash;       /* FNV-1a 64 of canon */
    uint64_t input_hash; /* of everything handed to Hyperscan: a load checks it */
    char *canon;
    size_t canon_len;

    wg_rule_t *rules;
    size_t n_rules;
    uint32_t *by_id; /* rule indices in id order */
    wg_view_t *views;
    size_t n_views;
    uint32_t *behaviours; /* enabled behaviour rules evaluated per message */
    size_t n_behaviours;
    uint32_t *combos; /* enabled combos, dependencies first */
    size_t n_combos;
    wg_audit_stats_t stats;
};

/* errors */
void wg__err(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void wg__rule_err(char *err, const wg_rule_t *r, size_t index, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

uint64_t wg__fnv1a64(uint64_t h, const void *p, size_t n);
#define WG_FNV_INIT 0xcbf29ce484222325ULL

/* ruleset.c: JSON → rules, views, literal tables, PCRE2 codes, combo order, hashes (everything
 * but the Hyperscan databases). */
wg_audit_ruleset_t *wg__ruleset_parse(const char *json, size_t len, char *err);
void wg__ruleset_free(wg_audit_ruleset_t *rs);
int wg__strlist_has(const wg_strlist_t *l, const char *s);

/* compile.c */
int wg__regex_compile(wg_rule_t *r, size_t index, char *err);
int wg__ruleset_build_dbs(wg_audit_ruleset_t *rs, char *err);
void wg__ruleset_finish_stats(wg_audit_ruleset_t *rs);

/* checks.c: the digits and letters of s[0..n) pass the check. */
int wg__check_luhn(const char *s, size_t n);
int wg__check_cn_id(const char *s, size_t n);

/* behaviour.c */
int wg__behaviour_applies(const wg_rule_t *r, const wg_audit_msg_t *m);
/* URL host allowed by list (domain or a subdomain of it). */
int wg__host_allowed(const wg_strlist_t *allow, const char *host, size_t n);
/* Finds the host of an http(s) URL: 1 with [*hs, *he) set, else 0. */
int wg__url_host(const char *url, size_t n, size_t *hs, size_t *he);

#endif
