/* Property: for random word sets (random ignore sets, case, full-width and traditional forms)
 * and random texts (with zero-width characters, emoji and invalid bytes), the engine's hits equal
 * a naive matcher's: every word tried at every byte of the normalized text, caselessly for
 * Latin letters, spans mapped back through the normalizer's map, each (rule, span) once. */
#include <stdint.h>

#include "audit/normalize.h"
#include "audit_util.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

/* Word characters (valid UTF-8, never ignored), then text-only ones. */
static const char *const alphabet[] = {"a",  "b",  "A",      "B",    "微",  "信", "红",
                                       "紅", "包", "ａ",     "Ｂ",   "1",   "一", "😀",
                                       " ",  "-",  "\u200b", "\xff", "\xe5"};
#define N_WORD_CHARS 14
#define N_ALL_CHARS (sizeof alphabet / sizeof alphabet[0])

typedef struct ref_hit {
    int rule;
    size_t start, end;
} ref_hit_t;

static int cmp_ref(const void *a, const void *b)
{
    const ref_hit_t *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->rule != y->rule)
        return x->rule < y->rule ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int caseless_eq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x + 32);
        if (y >= 'A' && y <= 'Z')
            y = (unsigned char)(y + 32);
        if (x != y)
            return 0;
    }
    return 1;
}

#define MAX_RULES 4
#define MAX_WORDS 5

typedef struct prule {
    int ignore; /* 0: none, 1: " -" */
    int n_words;
    char words[MAX_WORDS][16];
} prule_t;

static const uint32_t ignore_set[] = {' ', '-'};

static char *naive(const prule_t *rules, int n_rules, const char *text, size_t len)
{
    static char out[65536];
    ref_hit_t hits[4096];
    size_t nh = 0;
    for (int r = 0; r < n_rules; r++) {
        wg_audit_view_opts_t v = {rules[r].ignore ? ignore_set : NULL, rules[r].ignore ? 2 : 0, 0};
        wg_audit_norm_t nt;
        wg_audit_norm_init(&nt);
        if (wg_audit_normalize(&nt, &v, text, len) != 0) {
            CHECK(0);
            wg_audit_norm_free(&nt);
            continue;
        }
        for (int w = 0; w < rules[r].n_words; w++) {
            size_t wl = 0;
            char *nw =
                wg_audit_normalize_dup(&v, rules[r].words[w], strlen(rules[r].words[w]), &wl);
            for (size_t p = 0; nw && wl && p + wl <= nt.len; p++) {
                if (!caseless_eq(nt.text + p, nw, wl) || nh == 4096)
                    continue;
                size_t os, oe;
                wg_audit_norm_span(&nt, p, p + wl, &os, &oe);
                hits[nh++] = (ref_hit_t){r, os, oe};
            }
            free(nw);
        }
        wg_audit_norm_free(&nt);
    }
    qsort(hits, nh, sizeof *hits, cmp_ref);
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < nh; i++) {
        if (i > 0 && cmp_ref(&hits[i - 1], &hits[i]) == 0)
            continue;
        n += (size_t)snprintf(out + n, sizeof out - n, "%sr%d@%zu-%zu", n ? "," : "", hits[i].rule,
                              hits[i].start, hits[i].end);
    }
    return out;
}

/* The property over iters random rule sets drawn from alpha: words from its first n_word
 * entries, texts from all n_all. */
static void run_random(const char *const *alpha, size_t n_word, size_t n_all, int iters)
{
    wg_audit_scanner_t *sc = wg_audit_scanner_new(0);
    int compared = 0, with_hits = 0;
    for (int iter = 0; iter < iters; iter++) {
        prule_t rules[MAX_RULES];
        int n_rules = 1 + (int)rnd(MAX_RULES);
        char json[8192];
        size_t jl = (size_t)snprintf(json, sizeof json, "{\"version\":1,\"rules\":[");
        for (int r = 0; r < n_rules; r++) {
            prule_t *pr = &rules[r];
            pr->ignore = (int)rnd(2);
            pr->n_words = 1 + (int)rnd(MAX_WORDS);
            jl += (size_t)snprintf(json + jl, sizeof json - jl,
                                   "%s{\"id\":\"r%d\",\"kind\":\"word\",\"severity\":\"info\","
                                   "%s\"words\":[",
                                   r ? "," : "", r, pr->ignore ? "\"ignore\":\" -\"," : "");
            for (int w = 0; w < pr->n_words; w++) {
                int chars = 1 + (int)rnd(3);
                pr->words[w][0] = '\0';
                for (int c = 0; c < chars; c++)
                    strcat(pr->words[w], alpha[rnd((uint32_t)n_word)]);
                jl += (size_t)snprintf(json + jl, sizeof json - jl, "%s\"%s\"", w ? "," : "",
                                       pr->words[w]);
            }
            jl += (size_t)snprintf(json + jl, sizeof json - jl, "]}");
        }
        snprintf(json + jl, sizeof json - jl, "]}");
        wg_audit_ruleset_t *rs = compile_ok(json);
        if (!rs)
            continue;
        for (int t = 0; t < 12; t++) {
            char text[512] = "";
            int chars = (int)rnd(32);
            for (int c = 0; c < chars; c++)
                strcat(text, alpha[rnd((uint32_t)n_all)]);
            char want[65536];
            snprintf(want, sizeof want, "%s", naive(rules, n_rules, text, strlen(text)));
            const char *got = scan_text(sc, rs, text);
            if (strcmp(got, want) != 0)
                fprintf(stderr, "  rules %s\n  text \"%s\"\n", json, text);
            CHECK_STR(got, want);
            compared++;
            with_hits += want[0] != '\0';
        }
        wg_audit_ruleset_unref(rs);
    }
    fprintf(stderr, "  %d texts compared, %d with hits\n", compared, with_hits);
    CHECK(with_hits > compared / 4); /* the property is not vacuous */
    wg_audit_scanner_free(sc);
}

static void test_random(void)
{
    run_random(alphabet, N_WORD_CHARS, N_ALL_CHARS, 250);
}

/* Punctuation, full-width forms and their ASCII, traditional and simplified, U+3000 and the
 * ignored space: words that contain a fold's result and words that do not, so the scan skips
 * some folds (wg_audit_norm_fold_only) and must still find what the full normalization finds. */
static const char *const punct_alphabet[] = {
    "a",  "A",  ",",  "!",  "~",  "1",      "。",     "微", "信",   "红", "包", "，", "ａ",
    "紅", "！", "～", "１", "Ａ", "\u3000", "\u200b", " ",  "\xff", "x",  "-",  "包"};
#define N_PUNCT_WORD 14
#define N_PUNCT_ALL (sizeof punct_alphabet / sizeof punct_alphabet[0])

static void test_random_punct(void)
{
    run_random(punct_alphabet, N_PUNCT_WORD, N_PUNCT_ALL, 400);
}

int main(void)
{
    TEST_RUN(test_random);
    TEST_RUN(test_random_punct);
    return TEST_DONE();
}
