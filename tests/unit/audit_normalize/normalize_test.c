/* Tests of audit/normalize.c: the cases of tests/data/normalize/cases.tsv, then the invariants
 * (map inside the input and monotonic, idempotence, "no copy" exactly when nothing changes) over
 * every code point and over random text, large texts, buffer reuse and the dup helper. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/normalize.h"
#include "testlib.h"
#include "unit/audit_normalize/norm_invariants.h"

#define MIB (1024 * 1024)
#define MAX_FIELD 4096
#define MAX_IGNORE 64

static size_t put_utf8(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Expands the escapes of cases.tsv (\xHH, \u{HEX}, \t, \n, \\) into out (MAX_FIELD bytes).
 * Returns the length, or -1 for a bad escape. */
static long unescape(const char *s, char *out)
{
    size_t n = 0;
    while (*s) {
        if (n + 4 > MAX_FIELD)
            return -1;
        if (*s != '\\') {
            out[n++] = *s++;
            continue;
        }
        s++;
        char *end;
        if (*s == 'x') {
            char hex[3] = {s[1], s[1] ? s[2] : 0, 0};
            unsigned long b = strtoul(hex, &end, 16);
            if (end != hex + 2)
                return -1;
            out[n++] = (char)b;
            s += 3;
        } else if (s[0] == 'u' && s[1] == '{') {
            unsigned long cp = strtoul(s + 2, &end, 16);
            if (*end != '}' || end == s + 2 || cp > 0x10FFFF)
                return -1;
            n += put_utf8((uint32_t)cp, out + n);
            s = end + 1;
        } else if (*s == 't' || *s == 'n' || *s == '\\') {
            out[n++] = *s == 't' ? '\t' : *s == 'n' ? '\n' : '\\';
            s++;
        } else {
            return -1;
        }
    }
    return (long)n;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* The code points of s[0..len) (valid UTF-8), sorted, without duplicates. */
static size_t ignore_set(const char *s, size_t len, uint32_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n < MAX_IGNORE;) {
        size_t cl = norm_inv_decode((const unsigned char *)s + i, len - i, &out[n]);
        if (cl == 0)
            return n;
        n++;
        i += cl;
    }
    qsort(out, n, sizeof *out, cmp_u32);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (m == 0 || out[m - 1] != out[i])
            out[m++] = out[i];
    return m;
}

/* Splits line at tabs into at most max fields; returns how many. */
static int split_tabs(char *line, char **fields, int max)
{
    int n = 0;
    fields[n++] = line;
    for (char *p = line; *p && n < max; p++)
        if (*p == '\t') {
            *p = '\0';
            fields[n++] = p + 1;
        }
    return n;
}

/* Checks each "s,e=os,oe" of spec against the result. */
static void check_spans(const char *name, const wg_audit_norm_t *n, const char *spec)
{
    const char *p = spec;
    while (*p) {
        unsigned long s, e, os, oe;
        int used = 0;
        if (sscanf(p, "%lu,%lu=%lu,%lu%n", &s, &e, &os, &oe, &used) != 4 || e <= s) {
            fprintf(stderr, "%s: bad span check \"%s\"\n", name, p);
            CHECK(0);
            return;
        }
        p += used;
        while (*p == ' ')
            p++;
        CHECK(e <= n->len);
        if (e > n->len)
            continue;
        size_t gs, ge;
        wg_audit_norm_span(n, s, e, &gs, &ge);
        if (gs != os || ge != oe)
            fprintf(stderr, "%s: span [%lu,%lu) -> [%zu,%zu), want [%lu,%lu)\n", name, s, e, gs, ge,
                    os, oe);
        CHECK(gs == os && ge == oe);
    }
}

static void test_cases(void)
{
    const char *dir = getenv("WG_TEST_DATA");
    CHECK(dir != NULL);
    if (!dir)
        return;
    char path[1024];
    snprintf(path, sizeof path, "%s/normalize/cases.tsv", dir);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f)
        return;
    wg_audit_norm_t n, again;
    wg_audit_norm_init(&n);
    wg_audit_norm_init(&again);
    static char line[4 * MAX_FIELD], in[MAX_FIELD], want[MAX_FIELD], ign[MAX_FIELD];
    int cases = 0, lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char *fld[6];
        int nf = split_tabs(line, fld, 6);
        long in_len = -1, want_len = -1, ign_len = -1;
        if (nf >= 5) {
            in_len = unescape(fld[3], in);
            want_len = unescape(fld[4], want);
            ign_len = unescape(fld[1], ign);
        }
        if (in_len < 0 || want_len < 0 || ign_len < 0) {
            fprintf(stderr, "cases.tsv:%d: malformed line\n", lineno);
            CHECK(0);
            continue;
        }
        uint32_t ignore[MAX_IGNORE];
        wg_audit_view_opts_t v = {ignore, ignore_set(ign, (size_t)ign_len, ignore), atoi(fld[2])};
        /* A copy of the input of its exact size, so ASan sees any read past the end. */
        char *input = malloc(in_len ? (size_t)in_len : 1);
        memcpy(input, in, (size_t)in_len);
        CHECK_INT(wg_audit_normalize(&n, &v, input, (size_t)in_len), 0);
        if (n.len != (size_t)want_len || memcmp(n.text, want, n.len) != 0)
            fprintf(stderr, "cases.tsv:%d: %s: got \"%.*s\" (%zu bytes)\n", lineno, fld[0],
                    (int)n.len, n.text, n.len);
        CHECK_MEM(n.text, n.len, want, want_len);
        const char *bad = norm_inv_check(&n, &v, input, (size_t)in_len, &again);
        if (bad)
            fprintf(stderr, "cases.tsv:%d: %s: %s\n", lineno, fld[0], bad);
        CHECK(bad == NULL);
        if (nf >= 6)
            check_spans(fld[0], &n, fld[5]);

        /* The dup helper (rule words) gives the same text. */
        size_t dup_len = 0;
        char *dup = wg_audit_normalize_dup(&v, input, (size_t)in_len, &dup_len);
        CHECK(dup != NULL);
        if (dup) {
            CHECK_MEM(dup, dup_len, want, want_len);
            CHECK(dup[dup_len] == '\0');
        }
        free(dup);
        free(input);
        cases++;
    }
    fclose(f);
    CHECK(cases >= 50);
    wg_audit_norm_free(&n);
    wg_audit_norm_free(&again);
}

/* Every code point alone and between two letters, in three views: the fast scan and the fold
 * agree on what changes, and each result keeps the invariants. */
static void test_every_code_point(void)
{
    static const uint32_t wide_ignore[] = {' ', '-', 0xB7, 0x3001, 0x4E2D, 0xFFFD, 0x1F600};
    wg_audit_view_opts_t views[3] = {
        {NULL, 0, 0},
        {NULL, 0, 1},
        {wide_ignore, sizeof wide_ignore / sizeof wide_ignore[0], 1},
    };
    wg_audit_norm_t n, again;
    wg_audit_norm_init(&n);
    wg_audit_norm_init(&again);
    long failures = 0, changed[3] = {0, 0, 0};
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        char buf[8];
        size_t len = 1;
        buf[0] = 'a';
        len += put_utf8(cp, buf + 1);
        buf[len++] = 'b';
        for (int k = 0; k < 3; k++) {
            const char *bad = NULL;
            if (wg_audit_normalize(&n, &views[k], buf, len) != 0)
                bad = "failed";
            if (!bad)
                bad = norm_inv_check(&n, &views[k], buf, len, &again);
            if (!bad && n.src_start && n.len >= 2 && (n.text[0] != 'a' || n.text[n.len - 1] != 'b'))
                bad = "a neighbour changed";
            if (bad && failures++ < 10)
                fprintf(stderr, "U+%04X, view %d: %s\n", (unsigned)cp, k, bad);
            if (n.src_start)
                changed[k]++;
        }
    }
    CHECK_INT(failures, 0);
    /* 94 full-width forms, U+3000, 5 zero-width, ~4100 traditional characters... */
    CHECK(changed[0] > 4000 && changed[0] < 5000);
    /* ... plus the digit forms ... */
    CHECK(changed[1] > changed[0] + 200);
    /* ... plus the six the ignore set drops (not U+FFFD: no hit may span broken bytes). */
    CHECK_INT(changed[2], changed[1] + 6);
    wg_audit_norm_free(&n);
    wg_audit_norm_free(&again);
}

/* A small deterministic generator (xorshift64*) so that failures reproduce. */
static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static uint32_t rng(uint32_t below)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1Du) >> 32) % below;
}

static const char *const pieces[] = {
    "a",
    "Z",
    "hello ",
    "1",
    "8",
    " ",
    "-",
    ".",
    "*",
    "_",
    "/",
    "\t",
    "微",
    "信",
    "红",
    "包",
    "转",
    "账",
    "你好",
    "加我", /* simplified */
    "紅",
    "轉",
    "賬",
    "們",
    "說",
    "話",
    "國",
    "薴",
    "苧",
    "餘", /* traditional */
    "䂎",
    "\xF0\xA8\x8B\xA2", /* 3->4, 4->3 bytes */
    "Ａ",
    "ｚ",
    "１",
    "！",
    "．",
    "\xE3\x80\x80", /* full-width, U+3000 */
    "\xE2\x80\x8B",
    "\xE2\x80\x8C",
    "\xE2\x80\x8D",
    "\xE2\x81\xA0",
    "\xEF\xBB\xBF", /* zero w. */
    "①",
    "⑩",
    "⑳",
    "⑴",
    "一",
    "三",
    "壹",
    "貳",
    "〇",
    "零",
    "㊿",
    "\xF0\x9D\x9F\x97",
    "😀",
    "👍🏻",
    "·",
    "\xEF\xBF\xBD", /* emoji, U+FFFD */
    "\x80",
    "\xBF",
    "\xC0",
    "\xC3",
    "\xE4\xBD",
    "\xED\xA0\x80",
    "\xF0\x9F\x98",
    "\xF4\x90",
    "\xFF",
    "\xE0\x80",
    "\xF8", /* invalid */
};

static void test_random_text(void)
{
    static const uint32_t ign1[] = {' ', '*', '-', '.', '/', '_'};
    static const uint32_t ign2[] = {' ', '1', 0xB7, 0x4FE1, 0xFFFD};
    wg_audit_view_opts_t views[] = {
        {NULL, 0, 0},
        {ign1, sizeof ign1 / sizeof ign1[0], 0},
        {ign1, sizeof ign1 / sizeof ign1[0], 1},
        {ign2, sizeof ign2 / sizeof ign2[0], 1},
    };
    const size_t n_pieces = sizeof pieces / sizeof pieces[0];
    wg_audit_norm_t n, again;
    wg_audit_norm_init(&n);
    wg_audit_norm_init(&again);
    char buf[512];
    long failures = 0, slow = 0, fast = 0;
    for (int iter = 0; iter < 20000; iter++) {
        size_t len = 0;
        /* Mostly "clean" texts now and then, so both paths are taken. */
        size_t first = iter % 3 == 0 ? 12 : 0, last = iter % 3 == 0 ? 20 : n_pieces;
        int count = (int)rng(40);
        for (int k = 0; k < count; k++) {
            const char *p = pieces[first + rng((uint32_t)(last - first))];
            size_t pl = strlen(p);
            if (len + pl > sizeof buf)
                break;
            memcpy(buf + len, p, pl);
            len += pl;
        }
        if (rng(4) == 0 && len > 0) /* a random raw byte anywhere */
            buf[rng((uint32_t)len)] = (char)rng(256);
        char *input = malloc(len ? len : 1);
        memcpy(input, buf, len);
        for (size_t k = 0; k < sizeof views / sizeof views[0]; k++) {
            const char *bad = NULL;
            if (wg_audit_normalize(&n, &views[k], input, len) != 0)
                bad = "failed";
            if (!bad)
                bad = norm_inv_check(&n, &views[k], input, len, &again);
            if (bad && failures++ < 10)
                fprintf(stderr, "iteration %d, view %zu: %s\n", iter, k, bad);
            if (n.src_start)
                slow++;
            else
                fast++;
        }
        free(input);
    }
    CHECK_INT(failures, 0);
    CHECK(slow > 1000 && fast > 1000);
    wg_audit_norm_free(&n);
    wg_audit_norm_free(&again);
}

/* The lazy map (wg_audit_norm_init_lazy): change points instead of two arrays, the same spans.
 * Random text in four views, each result against the dense one. */
static void test_lazy_random(void)
{
    static const uint32_t ign1[] = {' ', '*', '-', '.', '/', '_'};
    static const uint32_t ign2[] = {' ', '1', 0xB7, 0x4FE1, 0xFFFD};
    wg_audit_view_opts_t views[] = {
        {NULL, 0, 0},
        {ign1, sizeof ign1 / sizeof ign1[0], 0},
        {ign1, sizeof ign1 / sizeof ign1[0], 1},
        {ign2, sizeof ign2 / sizeof ign2[0], 1},
    };
    const size_t n_pieces = sizeof pieces / sizeof pieces[0];
    wg_audit_norm_t dense, lazy, again;
    wg_audit_norm_init(&dense);
    wg_audit_norm_init_lazy(&lazy);
    wg_audit_norm_init(&again);
    char buf[256];
    long failures = 0, copies = 0;
    for (int iter = 0; iter < 4000; iter++) {
        size_t len = 0;
        size_t first = iter % 3 == 0 ? 12 : 0, last = iter % 3 == 0 ? 20 : n_pieces;
        int count = (int)rng(30);
        for (int k = 0; k < count; k++) {
            const char *p = pieces[first + rng((uint32_t)(last - first))];
            size_t pl = strlen(p);
            if (len + pl > sizeof buf)
                break;
            memcpy(buf + len, p, pl);
            len += pl;
        }
        if (rng(4) == 0 && len > 0)
            buf[rng((uint32_t)len)] = (char)rng(256);
        char *input = malloc(len ? len : 1);
        memcpy(input, buf, len);
        for (size_t k = 0; k < sizeof views / sizeof views[0]; k++) {
            const char *bad = NULL;
            if (wg_audit_normalize(&dense, &views[k], input, len) != 0 ||
                wg_audit_normalize(&lazy, &views[k], input, len) != 0)
                bad = "failed";
            if (!bad)
                bad = norm_inv_check_lazy(&dense, &lazy, input, 12);
            /* After wg_audit_norm_map the lazy result passes the same invariants. */
            if (!bad)
                bad = norm_inv_check(&lazy, &views[k], input, len, &again);
            if (bad && failures++ < 10)
                fprintf(stderr, "iteration %d, view %zu: %s\n", iter, k, bad);
            copies += dense.src_start != NULL;
        }
        free(input);
    }
    CHECK_INT(failures, 0);
    CHECK(copies > 1000);
    wg_audit_norm_free(&dense);
    wg_audit_norm_free(&lazy);
    wg_audit_norm_free(&again);
}

/* Spans over many change points: 1 MiB of chat text where every few characters change, a hit
 * right after a full-width character, spans from inside one change point to inside another,
 * and the 4-byte reads of the fast scan at every distance from the end. */
static void test_lazy_many_changes(void)
{
    static const uint32_t ign[] = {' ', '-'};
    wg_audit_view_opts_t plain = {NULL, 0, 0}, view = {ign, 2, 1};
    wg_audit_norm_t dense, lazy, again;
    wg_audit_norm_init(&dense);
    wg_audit_norm_init_lazy(&lazy);
    wg_audit_norm_init(&again);

    /* A hit right after a full-width comma: "微信" is normalized bytes [1, 7), source [3, 9). */
    const char *t = "，微信";
    CHECK_INT(wg_audit_normalize(&lazy, &plain, t, strlen(t)), 0);
    CHECK_MEM(lazy.text, lazy.len, ",微信", 7);
    CHECK(lazy.src_start == NULL && lazy.text != t);
    size_t os = 0, oe = 0;
    wg_audit_norm_span(&lazy, 1, 7, &os, &oe);
    CHECK(os == 3 && oe == 9);
    wg_audit_norm_span(&lazy, 0, 4, &os, &oe); /* from the comma into the run */
    CHECK(os == 0 && oe == 6);
    wg_audit_norm_span(&lazy, 0, 1, &os, &oe); /* the comma alone: its whole source */
    CHECK(os == 0 && oe == 3);

    /* Between two rewritten characters, and over a dropped one. */
    t = "紅\xE2\x80\x8B包ab，c";
    CHECK_INT(wg_audit_normalize(&lazy, &plain, t, strlen(t)), 0);
    CHECK_MEM(lazy.text, lazy.len, "红包ab,c", 10);
    wg_audit_norm_span(&lazy, 0, 6, &os, &oe); /* 红包: source 紅 ZWSP 包 */
    CHECK(os == 0 && oe == 9);
    wg_audit_norm_span(&lazy, 3, 9, &os, &oe); /* 包ab, */
    CHECK(os == 6 && oe == 14);
    wg_audit_norm_span(&lazy, 7, 8, &os, &oe); /* b */
    CHECK(os == 10 && oe == 11);
    wg_audit_norm_span(&lazy, 9, 10, &os, &oe); /* c */
    CHECK(os == 14 && oe == 15);

    /* The same object, identity again: no change points left over. */
    CHECK_INT(wg_audit_normalize(&lazy, &plain, "abc", 3), 0);
    wg_audit_norm_span(&lazy, 1, 3, &os, &oe);
    CHECK(os == 1 && oe == 3 && lazy.src_start == NULL);
    CHECK_INT(wg_audit_norm_map(&lazy), 0);
    CHECK(lazy.src_start == NULL);

    /* Invalid 3-byte words (overlong E0, surrogate ED) and the valid edges next to them, at
     * every distance from the end, inside CJK text (the fast scan's 4-byte reads). */
    static const char *const edge[] = {"\xE0\x80\x80", "\xE0\x9F\xBF", "\xED\xA0\x80",
                                       "\xED\xBF\xBF", "\xE0\xA0\x80", "\xED\x9F\xBF",
                                       "\xEF\xBF\xBF", "\xEF\xBC\x8C", "\xE3\x80\x80"};
    long failures = 0;
    for (size_t k = 0; k < sizeof edge / sizeof edge[0]; k++)
        for (int before = 0; before < 4; before++)
            for (int after = 0; after < 5; after++) {
                char b[64];
                size_t len = 0;
                for (int j = 0; j < before; j++)
                    len += put_utf8(0x4FE1, b + len);
                memcpy(b + len, edge[k], 3);
                len += 3;
                for (int j = 0; j < after; j++)
                    b[len++] = j % 2 ? 'x' : '1';
                for (int v = 0; v < 2; v++) {
                    const wg_audit_view_opts_t *vo = v ? &view : &plain;
                    const char *bad = NULL;
                    if (wg_audit_normalize(&dense, vo, b, len) != 0 ||
                        wg_audit_normalize(&lazy, vo, b, len) != 0)
                        bad = "failed";
                    if (!bad)
                        bad = norm_inv_check(&dense, vo, b, len, &again);
                    if (!bad)
                        bad = norm_inv_check_lazy(&dense, &lazy, b, len);
                    /* U+0800, U+D7FF and U+FFFF stay; the invalid ones and the folds change */
                    if (!bad && (k == 4 || k == 5 || k == 6) && dense.src_start)
                        bad = "a valid 3-byte character was copied";
                    if (!bad && k != 4 && k != 5 && k != 6 && !dense.src_start)
                        bad = "an invalid or folded 3-byte character was not";
                    if (bad && failures++ < 10)
                        fprintf(stderr, "edge %zu, %d before, %d after, view %d: %s\n", k, before,
                                after, v, bad);
                }
            }
    CHECK_INT(failures, 0);

    /* 1 MiB: thousands of change points of every kind. */
    static const char *const piece[] = {"微信", "，", "紅包", "ab", "\xE2\x80\x8B", "①",
                                        "⑫",    " ",  "-",    "Ａ", "转账好的",     "\xFF",
                                        "。",   "1",  "～",   "賬"};
    const size_t n_piece = sizeof piece / sizeof piece[0];
    char *in = malloc(MIB + 16);
    size_t len = 0;
    while (len < MIB) {
        const char *p = piece[rng((uint32_t)n_piece)];
        memcpy(in + len, p, strlen(p));
        len += strlen(p);
    }
    for (int v = 0; v < 2; v++) {
        const wg_audit_view_opts_t *vo = v ? &view : &plain;
        CHECK_INT(wg_audit_normalize(&dense, vo, in, len), 0);
        CHECK_INT(wg_audit_normalize(&lazy, vo, in, len), 0);
        CHECK(lazy.n_seg_ > 100000); /* so many change points */
        const char *bad = norm_inv_check_lazy(&dense, &lazy, in, 4);
        if (bad)
            fprintf(stderr, "1 MiB, view %d: %s\n", v, bad);
        CHECK(bad == NULL);
        bad = norm_inv_check(&dense, vo, in, len, &again);
        if (bad)
            fprintf(stderr, "1 MiB, view %d: %s\n", v, bad);
        CHECK(bad == NULL);
    }
    free(in);
    wg_audit_norm_free(&dense);
    wg_audit_norm_free(&lazy);
    wg_audit_norm_free(&again);
    /* free keeps the kind: a lazy one stays lazy */
    CHECK(lazy.lazy_ == 1 && lazy.seg_ == NULL);
}

static int fold_bit(const uint64_t *bits, uint32_t cp)
{
    return (int)((bits[cp >> 6] >> (cp & 63)) & 1);
}

/* wg_audit_norm_fold_only: which rewrites a view of literal words still needs; and
 * wg_audit_normalize_fold_only, which skips the others. */
static void test_fold_only(void)
{
    static const uint32_t ign[] = {' ', ','};
    wg_audit_view_opts_t plain = {NULL, 0, 0}, view = {ign, 2, 1};
    uint64_t *bits = malloc(WG_AUDIT_FOLD_ONLY_WORDS * sizeof *bits);
    const char *words = "红包微信a1";
    wg_audit_norm_fold_only(&plain, words, strlen(words), bits);
    CHECK(fold_bit(bits, 0x7D05));  /* 紅 -> 红, in a word */
    CHECK(!fold_bit(bits, 0x8F49)); /* 轉 -> 转, in none */
    CHECK(fold_bit(bits, 0xFF41));  /* ａ -> a */
    CHECK(fold_bit(bits, 0xFF21));  /* Ａ -> A: caseless hits */
    CHECK(!fold_bit(bits, 0xFF42)); /* ｂ -> b, in none */
    CHECK(!fold_bit(bits, 0xFF0C)); /* ， -> ',', in none */
    CHECK(fold_bit(bits, 0xFF11));  /* １ -> 1 */
    CHECK(fold_bit(bits, 0x200B));  /* dropped: always */
    CHECK(fold_bit(bits, 0xFEFF));
    CHECK(!fold_bit(bits, 0x3000)); /* U+3000 -> ' ', in none */
    CHECK(!fold_bit(bits, 0x2460)); /* ① is not a digit in this view: unchanged */
    CHECK(!fold_bit(bits, 0x4FE1)); /* 信 does not change at all */
    /* with digits and an ignore set: what becomes ignored is dropped, so needed */
    wg_audit_norm_fold_only(&view, words, strlen(words), bits);
    CHECK(fold_bit(bits, 0xFF0C));  /* ， -> ',' -> dropped */
    CHECK(fold_bit(bits, 0x3000));  /* -> ' ' -> dropped */
    CHECK(fold_bit(bits, 0x2460));  /* ① -> 1 */
    CHECK(fold_bit(bits, 0x2469));  /* ⑩ -> 10: 1 is in a word */
    CHECK(!fold_bit(bits, 0x2462)); /* ③ -> 3, in none */
    CHECK(fold_bit(bits, 0x58F9));  /* 壹 -> 1 */

    /* Skipped rewrites leave the text as it is: no copy at all when all are skipped. */
    wg_audit_norm_fold_only(&plain, words, strlen(words), bits);
    wg_audit_norm_t n;
    wg_audit_norm_init_lazy(&n);
    const char *t = "你好，轉賬～\xE3\x80\x80ｂ";
    CHECK_INT(wg_audit_normalize_fold_only(&n, &plain, bits, t, strlen(t)), 0);
    CHECK(n.text == t && n.len == strlen(t));
    /* the needed ones are made, the others kept, spans as always */
    t = "，紅包\xE2\x80\x8Bａ，ｂ\xFF";
    CHECK_INT(wg_audit_normalize_fold_only(&n, &plain, bits, t, strlen(t)), 0);
    CHECK_MEM(n.text, n.len, "，红包a，ｂ\xEF\xBF\xBD", strlen("，红包a，ｂ\xEF\xBF\xBD"));
    size_t os = 0, oe = 0;
    wg_audit_norm_span(&n, 3, 9, &os, &oe); /* 红包 */
    CHECK(os == 3 && oe == 9);
    wg_audit_norm_span(&n, 9, 10, &os, &oe); /* a, after the dropped ZWSP */
    CHECK(os == 12 && oe == 15);
    wg_audit_norm_span(&n, 10, 13, &os, &oe); /* the kept ， */
    CHECK(os == 15 && oe == 18);
    /* NULL: everything, as wg_audit_normalize */
    CHECK_INT(wg_audit_normalize_fold_only(&n, &plain, NULL, t, strlen(t)), 0);
    CHECK_MEM(n.text, n.len, ",红包a,b\xEF\xBF\xBD", strlen(",红包a,b\xEF\xBF\xBD"));
    wg_audit_norm_free(&n);
    free(bits);
}

/* Fills buf[0..len) with copies of s (len a multiple of strlen(s)). */
static void fill(char *buf, size_t len, const char *s)
{
    size_t sl = strlen(s);
    for (size_t i = 0; i + sl <= len; i += sl)
        memcpy(buf + i, s, sl);
}

static void test_large(void)
{
    static const uint32_t ign[] = {' ', '-', '.'};
    wg_audit_view_opts_t plain = {NULL, 0, 0}, view = {ign, 3, 1};
    wg_audit_norm_t n, again;
    wg_audit_norm_init(&n);
    wg_audit_norm_init(&again);
    const size_t len = 12 * (MIB / 12 + 1); /* 1 MiB and a little, in 12-byte pieces */
    char *in = malloc(len);
    char *want = malloc(3 * len);

    /* Fast path: no copy, no map, whatever the size. */
    fill(in, len, "abcdefghijkl");
    CHECK_INT(wg_audit_normalize(&n, &view, in, len), 0);
    CHECK(n.text == in && n.len == len && n.src_start == NULL);
    fill(in, len, "微信红包");
    CHECK_INT(wg_audit_normalize(&n, &view, in, len), 0);
    CHECK(n.text == in && n.len == len && n.src_start == NULL);
    CHECK(n.buf_ == NULL); /* nothing was ever allocated */

    /* One traditional character at the very end. */
    memcpy(in + len - 3, "紅", 3);
    CHECK_INT(wg_audit_normalize(&n, &plain, in, len), 0);
    CHECK(n.text != in && n.len == len && n.src_start != NULL);
    CHECK(memcmp(n.text, in, len - 3) == 0 && memcmp(n.text + len - 3, "红", 3) == 0);
    CHECK(n.src_start[0] == 0 && n.src_end[0] == 1);
    CHECK(n.src_start[len / 2] == len / 2 && n.src_end[len / 2] == len / 2 + 1);
    size_t os, oe;
    wg_audit_norm_span(&n, len - 3, len, &os, &oe);
    CHECK(os == len - 3 && oe == len);
    CHECK(norm_inv_check(&n, &plain, in, len, &again) == NULL);

    /* All traditional. */
    fill(in, len, "紅包轉賬");
    fill(want, len, "红包转账");
    CHECK_INT(wg_audit_normalize(&n, &plain, in, len), 0);
    CHECK_MEM(n.text, n.len, want, len);
    CHECK(norm_inv_check(&n, &plain, in, len, &again) == NULL);

    /* All invalid: the text triples, the buffers grow. */
    memset(in, 0xFF, len);
    fill(want, 3 * len, "\xEF\xBF\xBD");
    CHECK_INT(wg_audit_normalize(&n, &plain, in, len), 0);
    CHECK_MEM(n.text, n.len, want, 3 * len);
    CHECK(n.src_start[3 * len - 1] == len - 1 && n.src_end[3 * len - 1] == len);
    CHECK(norm_inv_check(&n, &plain, in, len, &again) == NULL);

    /* The same object again for a small text: the old result does not leak into the new. */
    CHECK_INT(wg_audit_normalize(&n, &view, "微 信", 7), 0);
    CHECK_MEM(n.text, n.len, "微信", 6);
    CHECK_INT(wg_audit_normalize(&n, &view, "abc", 3), 0);
    CHECK(n.src_start == NULL && n.len == 3);

    free(in);
    free(want);
    wg_audit_norm_free(&n);
    wg_audit_norm_free(&again);
}

static void test_api_edges(void)
{
    wg_audit_norm_t n;
    wg_audit_norm_init(&n);
    /* No view at all reads as the default one. */
    CHECK_INT(wg_audit_normalize(&n, NULL, "ＡＢ", 6), 0);
    CHECK_MEM(n.text, n.len, "AB", 2);
    CHECK_INT(wg_audit_normalize(&n, NULL, NULL, 0), 0);
    CHECK(n.len == 0 && n.src_start == NULL);
    /* Identity span. */
    CHECK_INT(wg_audit_normalize(&n, NULL, "abcdef", 6), 0);
    size_t os = 0, oe = 0;
    wg_audit_norm_span(&n, 2, 5, &os, &oe);
    CHECK(os == 2 && oe == 5);
#if SIZE_MAX > UINT32_MAX
    /* Past the map's reach: refused before anything is read. */
    CHECK_INT(wg_audit_normalize(&n, NULL, "x", (size_t)UINT32_MAX + 1), -1);
    CHECK(n.text == NULL && n.len == 0);
#endif
    wg_audit_norm_free(&n);
    CHECK(n.buf_ == NULL && n.cap_ == 0);
    wg_audit_norm_free(&n); /* twice is harmless */

    /* dup: NUL-terminated, out_len optional, unchanged text copied too. */
    static const uint32_t ign[] = {' '};
    wg_audit_view_opts_t v = {ign, 1, 1};
    size_t len = 99;
    char *d = wg_audit_normalize_dup(&v, "轉 賬 ①⑩", strlen("轉 賬 ①⑩"), &len);
    CHECK(d != NULL);
    if (d) {
        CHECK_STR(d, "转账110");
        CHECK_INT(len, strlen("转账110"));
    }
    free(d);
    d = wg_audit_normalize_dup(&v, "plain", 5, NULL);
    CHECK(d != NULL);
    if (d)
        CHECK_STR(d, "plain");
    free(d);
}

int main(void)
{
    TEST_RUN(test_cases);
    TEST_RUN(test_every_code_point);
    TEST_RUN(test_random_text);
    TEST_RUN(test_large);
    TEST_RUN(test_api_edges);
    TEST_RUN(test_lazy_random);
    TEST_RUN(test_lazy_many_changes);
    TEST_RUN(test_fold_only);
    return TEST_DONE();
}
