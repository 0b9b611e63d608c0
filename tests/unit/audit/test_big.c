/* Large inputs, once each: a 50,000-word rule set (compiled, scanned, serialized and loaded
 * back) over a 1 MiB text with words planted at known places, including its very first and last
 * bytes; a regex over 1 MiB. */
#include <stdint.h>
#include <time.h>

#include "audit/normalize.h"
#include "audit_util.h"

#define N_WORDS 50000
#define N_PLANTED 2000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t put_cp(char *o, uint32_t cp)
{
    o[0] = (char)(0xe0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
}

/* CJK characters normalization leaves alone (no traditional forms: two words that fold to one
 * would make one word a prefix of another's normalized form). */
static uint32_t stable[17003];

static void find_stable(void)
{
    wg_audit_view_opts_t v = {0};
    size_t n = 0;
    for (uint32_t cp = 0x4e00; cp < 0x9fa6 && n < sizeof stable / sizeof stable[0]; cp++) {
        char c[4];
        size_t nl = 0;
        char *d = wg_audit_normalize_dup(&v, c, put_cp(c, cp), &nl);
        if (d && nl == 3 && memcmp(d, c, 3) == 0)
            stable[n++] = cp;
        free(d);
    }
    CHECK_INT(n, sizeof stable / sizeof stable[0]);
}

/* Word i: two characters, a pair no other word has (so no word holds another: the second is one
 * of the last three stable characters, which never come first), then up to two more. */
static size_t word(int i, char *o)
{
    size_t n = put_cp(o, stable[i % 17000]);
    n += put_cp(o + n, stable[17000 + i / 17000]);
    for (int k = 0; k < i % 3; k++)
        n += put_cp(o + n, stable[(i * 7 + k * 13) % 4000]);
    o[n] = '\0';
    return n;
}

static void test_50000_words(void)
{
    size_t cap = (size_t)N_WORDS * 16 + 256;
    char *json = malloc(cap);
    size_t jl = (size_t)snprintf(json, cap,
                                 "{\"version\":1,\"rules\":[{\"id\":\"big\","
                                 "\"kind\":\"word\",\"severity\":\"info\",\"words\":[");
    char w[32];
    for (int i = 0; i < N_WORDS; i++) {
        word(i, w);
        jl += (size_t)snprintf(json + jl, cap - jl, "%s\"%s\"", i ? "," : "", w);
    }
    snprintf(json + jl, cap - jl, "]}]}");
    double t0 = now_s();
    wg_audit_ruleset_t *rs = compile_ok(json);
    double t1 = now_s();
    if (!rs) {
        free(json);
        return;
    }
    wg_audit_stats_t st;
    wg_audit_ruleset_stats(rs, &st);
    fprintf(stderr, "  50,000 words compiled in %.2f s (%zu literals, database %zu bytes)\n",
            t1 - t0, st.literals, st.db_bytes);
    CHECK_INT(st.words, N_WORDS);
    CHECK_INT(st.literals, N_WORDS);

    /* 1 MiB: ASCII filler with planted words, the first at byte 0, the last at the very end */
    size_t tcap = 1 << 20;
    char *text = malloc(tcap + 64);
    size_t tl = 0;
    size_t first_end = 0, last_start = 0;
    for (int p = 0; p < N_PLANTED; p++) {
        size_t wl = word((p * 7919) % N_WORDS, w);
        if (p == 0)
            first_end = wl;
        size_t gap = p == 0 ? 0 : (tcap - (size_t)N_PLANTED * 12) / N_PLANTED;
        memset(text + tl, 'x', gap);
        tl += gap;
        if (p == N_PLANTED - 1) {
            memset(text + tl, 'y', tcap - tl - wl);
            tl = tcap - wl;
            last_start = tl;
        }
        memcpy(text + tl, w, wl);
        tl += wl;
    }
    CHECK_INT(tl, tcap);
    wg_audit_scanner_t *sc = wg_audit_scanner_new(100000);
    wg_audit_msg_t m = text_msg(NULL);
    m.text = text;
    m.len = tl;
    wg_audit_result_t res;
    char err[WG_AUDIT_ERR_MAX];
    double t2 = now_s();
    CHECK_INT(wg_audit_scan(sc, rs, &m, &res, err), 0);
    double t3 = now_s();
    fprintf(stderr, "  1 MiB scanned in %.1f ms\n", (t3 - t2) * 1e3);
    CHECK_INT(res.n_hits, N_PLANTED);
    if (res.n_hits == N_PLANTED) {
        CHECK_INT(res.hits[0].start, 0);
        CHECK_INT(res.hits[0].end, first_end);
        CHECK_INT(res.hits[N_PLANTED - 1].start, last_start);
        CHECK_INT(res.hits[N_PLANTED - 1].end, tcap);
    }

    /* serialized and loaded back: the same hits, no compile */
    char *bytes = NULL;
    size_t blen = 0;
    CHECK_INT(wg_audit_ruleset_serialize(rs, &bytes, &blen, err), 0);
    double t4 = now_s();
    wg_audit_ruleset_t *ld = wg_audit_ruleset_load_compiled(bytes, blen, json, strlen(json), err);
    double t5 = now_s();
    CHECK(ld != NULL);
    if (ld) {
        fprintf(stderr, "  serialized set (%zu bytes) loaded in %.0f ms\n", blen, (t5 - t4) * 1e3);
        CHECK_INT(wg_audit_scan(sc, ld, &m, &res, err), 0);
        CHECK_INT(res.n_hits, N_PLANTED);
        wg_audit_ruleset_unref(ld);
    }
    free(bytes);
    wg_audit_scanner_free(sc);
    wg_audit_ruleset_unref(rs);
    free(text);
    free(json);
}

static void test_regex_1mib(void)
{
    wg_audit_ruleset_t *rs =
        compile_ok("{\"version\":1,\"rules\":[{\"id\":\"p\",\"kind\":\"regex\","
                   "\"severity\":\"info\",\"fold_digits\":true,"
                   "\"pattern\":\"(?<![0-9])1[3-9][0-9]{9}(?![0-9])\"}]}");
    if (!rs)
        return;
    const char *unit = "电话一三八一二三四五六七八，"; /* 42 bytes, normalized shorter */
    size_t ul = strlen(unit), n = (1 << 20) / ul;
    char *text = malloc(n * ul + 1);
    for (size_t i = 0; i < n; i++)
        memcpy(text + i * ul, unit, ul);
    wg_audit_scanner_t *sc = wg_audit_scanner_new(100000);
    wg_audit_msg_t m = text_msg(NULL);
    m.text = text;
    m.len = n * ul;
    wg_audit_result_t res;
    char err[WG_AUDIT_ERR_MAX];
    CHECK_INT(wg_audit_scan(sc, rs, &m, &res, err), 0);
    CHECK_INT(res.n_hits, n);
    if (res.n_hits == n) {
        CHECK_INT(res.hits[n - 1].start, (n - 1) * ul + 6);
        CHECK_INT(res.hits[n - 1].end, (n - 1) * ul + 39);
    }
    wg_audit_scanner_free(sc);
    wg_audit_ruleset_unref(rs);
    free(text);
}

int main(void)
{
    find_stable();
    TEST_RUN(test_50000_words);
    TEST_RUN(test_regex_1mib);
    return TEST_DONE();
}
