/* The limit the audit engine is measured against: the same words compiled straight into one
 * Hyperscan literal database (caseless, as the engine does) and hs_scan over the same messages,
 * every match reported to a callback, no normalization, no hit records.
 *   hs_raw scan WORDS.txt CORPUS.txt   last line: <MB/s> MB/s <msg/s> msg/s <N> hits
 *   hs_raw compile WORDS.txt           compile time of the words alone */
#include <hs/hs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(b);
        return NULL;
    }
    fclose(f);
    b[n] = '\0';
    *len = (size_t)n;
    return b;
}

static hs_database_t *compile_words(const char *path, double *secs, size_t *count)
{
    size_t len;
    char *b = slurp(path, &len);
    if (!b)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += b[i] == '\n';
    const char **ex = malloc(n * sizeof *ex);
    size_t *lens = malloc(n * sizeof *lens);
    unsigned *flags = malloc(n * sizeof *flags), *ids = malloc(n * sizeof *ids);
    size_t k = 0;
    for (char *p = b; k < n;) {
        char *nl = strchr(p, '\n');
        ex[k] = p;
        lens[k] = (size_t)(nl - p);
        flags[k] = HS_FLAG_CASELESS;
        ids[k] = (unsigned)k;
        k++;
        p = nl + 1;
    }
    hs_database_t *db = NULL;
    hs_compile_error_t *err = NULL;
    double t0 = now_s();
    if (hs_compile_lit_multi(ex, flags, ids, lens, (unsigned)n, HS_MODE_BLOCK, NULL, &db, &err) !=
        HS_SUCCESS) {
        fprintf(stderr, "hs_raw: %s\n", err->message);
        hs_free_compile_error(err);
    }
    *secs = now_s() - t0;
    *count = n;
    free(ex);
    free(lens);
    free(flags);
    free(ids);
    free(b);
    return db;
}

static int on_match(unsigned id, unsigned long long from, unsigned long long to, unsigned fl,
                    void *ctx)
{
    (void)id;
    (void)from;
    (void)to;
    (void)fl;
    (*(size_t *)ctx)++;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3 || (strcmp(argv[1], "scan") == 0 && argc != 4)) {
        fprintf(stderr, "usage: hs_raw scan WORDS.txt CORPUS.txt | hs_raw compile WORDS.txt\n");
        return 2;
    }
    double secs;
    size_t n_words;
    hs_database_t *db = compile_words(argv[2], &secs, &n_words);
    if (!db)
        return 1;
    if (strcmp(argv[1], "compile") == 0) {
        printf("%zu literals compiled in %.2f s\n", n_words, secs);
        hs_free_database(db);
        return 0;
    }
    size_t len;
    char *corpus = slurp(argv[3], &len);
    hs_scratch_t *scratch = NULL;
    if (!corpus || hs_alloc_scratch(db, &scratch) != HS_SUCCESS)
        return 1;
    size_t msgs = 0, bytes = 0, with_hits = 0;
    double t0 = now_s();
    for (size_t off = 0; off < len;) {
        char *nl = memchr(corpus + off, '\n', len - off);
        size_t l = nl ? (size_t)(nl - (corpus + off)) : len - off;
        size_t matches = 0;
        hs_scan(db, corpus + off, (unsigned)l, 0, scratch, on_match, &matches);
        msgs++;
        bytes += l;
        with_hits += matches > 0;
        off += l + 1;
    }
    double el = now_s() - t0;
    printf("%.1f MB/s %.0f msg/s %zu hits\n", (double)bytes / el / 1e6, (double)msgs / el,
           with_hits);
    hs_free_scratch(scratch);
    hs_free_database(db);
    free(corpus);
    return 0;
}
