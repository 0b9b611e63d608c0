/* Benchmark data for the audit engine, generated once into files every contender reads:
 *   gen words N SEED OUT.txt OUT.json    N distinct random words of 2-4 simplified Chinese
 *                                        characters, as a list and as a one-rule rule set
 *   gen corpus WORDS.txt BYTES RATE SEED OUT.txt
 *                                        chat messages of about 60 bytes (Chinese characters,
 *                                        some digits, Latin letters and full-width punctuation),
 *                                        one a line, RATE of them with one word planted
 * Characters are drawn from those the normalizer leaves unchanged (so no traditional ones):
 * every contender sees the same words in the same text. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/normalize.h"

static uint64_t rng;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static uint32_t pool[21000];
static size_t n_pool;

static size_t put3(char *o, uint32_t cp)
{
    o[0] = (char)(0xe0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
}

static void build_pool(void)
{
    wg_audit_view_opts_t v = {0};
    for (uint32_t cp = 0x4e00; cp <= 0x9fa5; cp++) {
        char c[3];
        size_t nl = 0;
        put3(c, cp);
        char *d = wg_audit_normalize_dup(&v, c, 3, &nl);
        if (d && nl == 3 && memcmp(d, c, 3) == 0)
            pool[n_pool++] = cp;
        free(d);
    }
}

/* The first 3500 characters of the pool stand in for common ones: messages draw from them
 * most of the time, as chat text does. */
static uint32_t text_char(void)
{
    return next() % 4 ? pool[next() % 3500] : pool[next() % n_pool];
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int gen_words(long n, const char *txt, const char *json)
{
    char **w = calloc((size_t)n * 2, sizeof *w);
    size_t got = 0;
    while (got < (size_t)n * 2) {
        int len = 2 + (int)(next() % 3);
        char *s = malloc(16);
        size_t k = 0;
        for (int i = 0; i < len; i++)
            k += put3(s + k, pool[next() % n_pool]);
        s[k] = '\0';
        w[got++] = s;
    }
    /* distinct words, in random order */
    qsort(w, got, sizeof *w, cmp_str);
    size_t m = 0;
    for (size_t i = 0; i < got; i++) {
        if (m > 0 && strcmp(w[m - 1], w[i]) == 0)
            free(w[i]);
        else
            w[m++] = w[i];
    }
    got = m;
    for (size_t i = m; i > 1; i--) {
        size_t j = (size_t)(next() % i);
        char *t = w[i - 1];
        w[i - 1] = w[j];
        w[j] = t;
    }
    FILE *ft = fopen(txt, "w"), *fj = fopen(json, "w");
    if (!ft || !fj || m < (size_t)n) {
        fprintf(stderr, "gen: cannot write %s or %s, or too few distinct words\n", txt, json);
        return 1;
    }
    fprintf(fj, "{\"version\": 1, \"rules\": [{\"id\": \"bench\", \"name\": \"benchmark words\", "
                "\"kind\": \"word\", \"severity\": \"warning\", \"words\": [");
    for (long i = 0; i < n; i++) {
        fprintf(ft, "%s\n", w[i]);
        fprintf(fj, "%s\"%s\"", i ? ", " : "", w[i]);
    }
    fprintf(fj, "]}]}\n");
    for (size_t i = 0; i < got; i++)
        free(w[i]);
    free(w);
    fclose(ft);
    fclose(fj);
    return 0;
}

static int gen_corpus(const char *words_txt, long long bytes, double rate, const char *out)
{
    FILE *fw = fopen(words_txt, "r");
    if (!fw)
        return 1;
    char **w = NULL;
    size_t n = 0, cap = 0;
    char line[256];
    while (fgets(line, sizeof line, fw)) {
        line[strcspn(line, "\n")] = '\0';
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            w = realloc(w, cap * sizeof *w);
        }
        w[n++] = strdup(line);
    }
    fclose(fw);
    FILE *fo = fopen(out, "w");
    if (!fo || n == 0)
        return 1;
    static const char *const punct[] = {"，", "。", "！", "？", "、", "～", " "};
    long long written = 0, msgs = 0, planted = 0;
    char msg[512];
    while (written < bytes) {
        size_t k = 0;
        int target = 45 + (int)(next() % 31); /* 45..75 bytes, about 60 */
        int plant = (double)(next() % 1000000) / 1e6 < rate;
        int plant_at = plant ? (int)(next() % (unsigned)(target - 12)) : -1;
        while ((int)k < target) {
            if (plant_at >= 0 && (int)k >= plant_at) {
                const char *p = w[next() % n];
                memcpy(msg + k, p, strlen(p));
                k += strlen(p);
                plant_at = -1;
                continue;
            }
            uint64_t r = next() % 100;
            if (r < 80) {
                k += put3(msg + k, text_char());
            } else if (r < 90) {
                const char *p = punct[next() % 7];
                memcpy(msg + k, p, strlen(p));
                k += strlen(p);
            } else if (r < 95) {
                msg[k++] = (char)('0' + next() % 10);
            } else {
                msg[k++] = (char)('a' + next() % 26);
            }
        }
        msg[k++] = '\n';
        fwrite(msg, 1, k, fo);
        written += (long long)k;
        msgs++;
        planted += plant;
    }
    fclose(fo);
    for (size_t i = 0; i < n; i++)
        free(w[i]);
    free(w);
    printf("%lld messages, %lld bytes, %lld with a planted word\n", msgs, written, planted);
    return 0;
}

int main(int argc, char **argv)
{
    build_pool();
    if (argc == 6 && strcmp(argv[1], "words") == 0) {
        rng = strtoull(argv[3], NULL, 10) | 1;
        return gen_words(atol(argv[2]), argv[4], argv[5]);
    }
    if (argc == 7 && strcmp(argv[1], "corpus") == 0) {
        rng = strtoull(argv[5], NULL, 10) | 1;
        return gen_corpus(argv[2], atoll(argv[3]), atof(argv[4]), argv[6]);
    }
    fprintf(stderr, "usage: gen words N SEED OUT.txt OUT.json\n"
                    "       gen corpus WORDS.txt BYTES RATE SEED OUT.txt\n");
    return 2;
}
