/* Build-time host tool: turns OpenCC's traditional->simplified character dictionary (the text
 * dump of TSCharacters.ocd2, lines "trad<TAB>simp1 simp2...") into the C tables audit/normalize.c
 * folds text with. It is the one place that says which code points fold to what:
 *   - every view: zero-width characters are dropped, full-width forms and U+3000 become ASCII,
 *     traditional characters become simplified (OpenCC's first target; chains such as
 *     薴→苧→苎 are followed to their end, so that normalizing twice changes nothing);
 *   - fold_digits views: circled, parenthesized and other enclosed digits, Chinese numerals and
 *     mathematical digits read as a number 0..50.
 * Usage: t2s_gen DUMP OUT.c OUT.h. Reads nothing else, writes nothing else. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CP 0x110000u
#define BMP 0x10000u
#define BLOCKS (BMP / 64)
/* fold[] value meaning "drop the character"; 0 means "no entry". */
#define DROP 0xFFFFFFFFu
/* Longest chain of traditional->simplified entries followed before calling it a cycle. */
#define MAX_CHAIN 8
/* Fewer OpenCC entries than this means the dump is not what we think it is. */
#define MIN_OPENCC_ENTRIES 1000

/* Zero-width characters, dropped in every view. */
static const uint32_t zero_width[] = {0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF};

/* Digit forms for fold_digits views: the `n` code points from `first` read as value, value + 1,
 * ... (modulo `wrap` when it is set). */
static const struct digit_range {
    uint32_t first, n, value, wrap;
} digit_ranges[] = {
    {0x2460, 20, 1, 0},   /* ①..⑳ circled */
    {0x2474, 20, 1, 0},   /* ⑴..⒇ parenthesized */
    {0x2488, 20, 1, 0},   /* ⒈..⒛ with full stop */
    {0x24EA, 1, 0, 0},    /* ⓪ */
    {0x24EB, 10, 11, 0},  /* ⓫..⓴ negative circled */
    {0x24F5, 10, 1, 0},   /* ⓵..⓾ double circled */
    {0x24FF, 1, 0, 0},    /* ⓿ */
    {0x2776, 10, 1, 0},   /* ❶..❿ dingbat negative circled */
    {0x2780, 10, 1, 0},   /* ➀..➉ dingbat circled sans-serif */
    {0x278A, 10, 1, 0},   /* ➊..➓ dingbat negative circled sans-serif */
    {0x3251, 15, 21, 0},  /* ㉑..㉟ */
    {0x32B1, 15, 36, 0},  /* ㊱..㊿ */
    {0x00B9, 1, 1, 0},    /* ¹ */
    {0x00B2, 2, 2, 0},    /* ²³ */
    {0x2070, 1, 0, 0},    /* ⁰ */
    {0x2074, 6, 4, 0},    /* ⁴..⁹ */
    {0x2080, 10, 0, 0},   /* ₀..₉ */
    {0x3007, 1, 0, 0},    /* 〇 */
    {0x96F6, 1, 0, 0},    /* 零 */
    {0x4E00, 1, 1, 0},    /* 一 */
    {0x5E7A, 1, 1, 0},    /* 幺: "one" when reading out phone numbers */
    {0x4E8C, 1, 2, 0},    /* 二 */
    {0x4E09, 1, 3, 0},    /* 三 */
    {0x56DB, 1, 4, 0},    /* 四 */
    {0x4E94, 1, 5, 0},    /* 五 */
    {0x516D, 1, 6, 0},    /* 六 */
    {0x4E03, 1, 7, 0},    /* 七 */
    {0x516B, 1, 8, 0},    /* 八 */
    {0x4E5D, 1, 9, 0},    /* 九 */
    {0x58F9, 1, 1, 0},    /* 壹 */
    {0x8D30, 1, 2, 0},    /* 贰 (貳 folds to it first) */
    {0x53C1, 1, 3, 0},    /* 叁 (叄 folds to it first) */
    {0x8086, 1, 4, 0},    /* 肆 */
    {0x4F0D, 1, 5, 0},    /* 伍 */
    {0x9646, 1, 6, 0},    /* 陆 (陸 folds to it first) */
    {0x67D2, 1, 7, 0},    /* 柒 */
    {0x634C, 1, 8, 0},    /* 捌 */
    {0x7396, 1, 9, 0},    /* 玖 */
    {0x1D7CE, 50, 0, 10}, /* 𝟎..𝟿 mathematical digits: five styles of 0..9 */
    {0x1F100, 1, 0, 0},   /* 🄀 digit zero full stop */
    {0x1F101, 10, 0, 0},  /* 🄁..🄊 digit comma */
    {0x1FBF0, 10, 0, 0},  /* 🯰..🯹 segmented */
};

/* Decodes one UTF-8 character of s (strict); returns its length, 0 when invalid. */
static size_t decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (n == 0)
        return 0;
    unsigned char b = s[0];
    size_t len;
    uint32_t c, min;
    if (b < 0x80) {
        *cp = b;
        return 1;
    } else if (b >= 0xC2 && b <= 0xDF) {
        len = 2, c = b & 0x1F, min = 0x80;
    } else if (b >= 0xE0 && b <= 0xEF) {
        len = 3, c = b & 0x0F, min = 0x800;
    } else if (b >= 0xF0 && b <= 0xF4) {
        len = 4, c = b & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c >= MAX_CP || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

/* Reads one dump line: a single-character key, a tab, targets separated by spaces. Sets *from
 * and *to (the first target) and returns 1; returns 0 for a line to skip (a phrase key or a
 * phrase target), -1 for a malformed one. */
static int parse_line(const char *line, uint32_t *from, uint32_t *to)
{
    const unsigned char *s = (const unsigned char *)line;
    size_t n = strlen(line);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    const unsigned char *tab = memchr(s, '\t', n);
    if (!tab || tab == s)
        return -1;
    size_t klen = decode(s, (size_t)(tab - s), from);
    if (klen == 0)
        return -1;
    if (klen != (size_t)(tab - s))
        return 0;
    const unsigned char *t = tab + 1, *end = s + n;
    const unsigned char *sp = memchr(t, ' ', (size_t)(end - t));
    size_t tlen = (size_t)((sp ? sp : end) - t);
    if (tlen == 0)
        return -1;
    size_t clen = decode(t, tlen, to);
    if (clen == 0)
        return -1;
    return clen == tlen ? 1 : 0;
}

static void emit_bits(FILE *f, const char *name, const uint64_t *bits)
{
    fprintf(f, "const uint64_t %s[%u] = {\n", name, BLOCKS);
    for (unsigned b = 0; b < BLOCKS; b++)
        fprintf(f, "0x%" PRIx64 "u,%s", bits[b], b % 4 == 3 ? "\n" : " ");
    fprintf(f, "};\n\n");
}

static void emit_rank(FILE *f, const char *name, const uint64_t *bits)
{
    fprintf(f, "const uint16_t %s[%u] = {\n", name, BLOCKS);
    unsigned rank = 0;
    for (unsigned b = 0; b < BLOCKS; b++) {
        fprintf(f, "%u,%s", rank, b % 12 == 11 ? "\n" : " ");
        rank += (unsigned)__builtin_popcountll(bits[b]);
    }
    fprintf(f, "};\n\n");
}

static int write_header(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "t2s_gen: %s: %s\n", path, strerror(errno));
        return -1;
    }
    fputs(
        "/* Generated by audit/gen/t2s_gen.c at build time; do not edit. See t2s_table.c. */\n"
        "#ifndef WG_AUDIT_T2S_TABLE_H\n"
        "#define WG_AUDIT_T2S_TABLE_H\n\n"
        "#include <stddef.h>\n"
        "#include <stdint.h>\n\n"
        "/* A code point's entry in a BMP table: bit (cp & 63) of bits[cp >> 6] says it has one,\n"
        " * and its index is rank[cp >> 6] + the set bits below it in that word. */\n"
        "typedef struct wg_audit_norm_pair {\n"
        "    uint32_t from, to;\n"
        "} wg_audit_norm_pair_t;\n\n"
        "/* The fold of every view: 0 = drop, else the code point to write. */\n"
        "extern const uint64_t wg_audit_norm_fold_bits[1024];\n"
        "extern const uint16_t wg_audit_norm_fold_rank[1024];\n"
        "extern const uint32_t wg_audit_norm_fold_to[];\n"
        "extern const wg_audit_norm_pair_t wg_audit_norm_fold_astral[];\n"
        "extern const size_t wg_audit_norm_fold_astral_n;\n"
        "/* Digit forms (fold_digits views): keys are folded code points; value 0..50. */\n"
        "extern const uint64_t wg_audit_norm_digit_bits[1024];\n"
        "extern const uint16_t wg_audit_norm_digit_rank[1024];\n"
        "extern const uint8_t wg_audit_norm_digit_val[];\n"
        "extern const wg_audit_norm_pair_t wg_audit_norm_digit_astral[];\n"
        "extern const size_t wg_audit_norm_digit_astral_n;\n"
        "/* fold_bits | digit_bits: what changes in a fold_digits view (one lookup). */\n"
        "extern const uint64_t wg_audit_norm_folddigit_bits[1024];\n\n"
        "#endif\n",
        f);
    if (ferror(f) | fclose(f)) {
        fprintf(stderr, "t2s_gen: %s: write failed\n", path);
        return -1;
    }
    return 0;
}

static int write_source(const char *path, const char *dump, const uint32_t *fold,
                        const uint8_t *digit, size_t opencc_entries)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "t2s_gen: %s: %s\n", path, strerror(errno));
        return -1;
    }
    static uint64_t fold_bits[BLOCKS], digit_bits[BLOCKS], both[BLOCKS];
    for (uint32_t cp = 0; cp < BMP; cp++) {
        if (fold[cp])
            fold_bits[cp >> 6] |= (uint64_t)1 << (cp & 63);
        if (digit[cp])
            digit_bits[cp >> 6] |= (uint64_t)1 << (cp & 63);
    }
    for (unsigned b = 0; b < BLOCKS; b++)
        both[b] = fold_bits[b] | digit_bits[b];

    const char *base = strrchr(dump, '/');
    fprintf(f,
            "/* Generated by audit/gen/t2s_gen.c from %s (%zu entries of OpenCC's\n"
            " * TSCharacters used); do not edit, do not commit. */\n"
            "#include \"t2s_table.h\"\n\n",
            base ? base + 1 : dump, opencc_entries);

    emit_bits(f, "wg_audit_norm_fold_bits", fold_bits);
    emit_rank(f, "wg_audit_norm_fold_rank", fold_bits);
    fprintf(f, "const uint32_t wg_audit_norm_fold_to[] = {\n");
    unsigned col = 0;
    for (uint32_t cp = 0; cp < BMP; cp++)
        if (fold[cp])
            fprintf(f, "0x%" PRIx32 ",%s", fold[cp] == DROP ? 0 : fold[cp],
                    ++col % 8 == 0 ? "\n" : " ");
    fprintf(f, "};\n\nconst wg_audit_norm_pair_t wg_audit_norm_fold_astral[] = {\n");
    size_t n_astral = 0;
    for (uint32_t cp = BMP; cp < MAX_CP; cp++)
        if (fold[cp]) {
            fprintf(f, "{0x%" PRIx32 ", 0x%" PRIx32 "},%s", cp, fold[cp] == DROP ? 0 : fold[cp],
                    ++n_astral % 4 == 0 ? "\n" : " ");
        }
    if (n_astral == 0)
        fprintf(f, "{0, 0}");
    fprintf(f, "};\nconst size_t wg_audit_norm_fold_astral_n = %zu;\n\n", n_astral);

    emit_bits(f, "wg_audit_norm_digit_bits", digit_bits);
    emit_rank(f, "wg_audit_norm_digit_rank", digit_bits);
    fprintf(f, "const uint8_t wg_audit_norm_digit_val[] = {\n");
    col = 0;
    for (uint32_t cp = 0; cp < BMP; cp++)
        if (digit[cp])
            fprintf(f, "%u,%s", digit[cp] - 1u, ++col % 16 == 0 ? "\n" : " ");
    fprintf(f, "};\n\nconst wg_audit_norm_pair_t wg_audit_norm_digit_astral[] = {\n");
    n_astral = 0;
    for (uint32_t cp = BMP; cp < MAX_CP; cp++)
        if (digit[cp])
            fprintf(f, "{0x%" PRIx32 ", %u},%s", cp, digit[cp] - 1u,
                    ++n_astral % 4 == 0 ? "\n" : " ");
    if (n_astral == 0)
        fprintf(f, "{0, 0}");
    fprintf(f, "};\nconst size_t wg_audit_norm_digit_astral_n = %zu;\n\n", n_astral);
    emit_bits(f, "wg_audit_norm_folddigit_bits", both);

    if (ferror(f) | fclose(f)) {
        fprintf(stderr, "t2s_gen: %s: write failed\n", path);
        return -1;
    }
    return 0;
}

/* Fills fold[] from the dump and the fixed folds, following chains. Returns the number of
 * OpenCC entries used, or -1. */
static long build_fold(const char *dump, uint32_t *fold)
{
    FILE *in = fopen(dump, "r");
    if (!in) {
        fprintf(stderr, "t2s_gen: %s: %s\n", dump, strerror(errno));
        return -1;
    }
    char line[4096];
    long used = 0, lineno = 0;
    while (fgets(line, sizeof line, in)) {
        lineno++;
        if (line[0] == '\n' || line[0] == '\0')
            continue;
        uint32_t from, to;
        int r = parse_line(line, &from, &to);
        if (r < 0) {
            fprintf(stderr, "t2s_gen: %s:%ld: malformed line\n", dump, lineno);
            fclose(in);
            return -1;
        }
        /* Skip phrases, identities ("阪 坂": the first target is the key) and anything ASCII. */
        if (r == 0 || from == to || from < 0x80 || to < 0x80)
            continue;
        if (fold[from] == 0) {
            fold[from] = to;
            used++;
        }
    }
    int bad = ferror(in);
    fclose(in);
    if (bad) {
        fprintf(stderr, "t2s_gen: %s: read error\n", dump);
        return -1;
    }
    if (used < MIN_OPENCC_ENTRIES) {
        fprintf(stderr, "t2s_gen: %s: only %ld entries; not an OpenCC TSCharacters dump?\n", dump,
                used);
        return -1;
    }

    /* The fixed folds win over the dictionary. */
    for (size_t i = 0; i < sizeof zero_width / sizeof zero_width[0]; i++)
        fold[zero_width[i]] = DROP;
    for (uint32_t cp = 0xFF01; cp <= 0xFF5E; cp++)
        fold[cp] = cp - 0xFF01 + 0x21;
    fold[0x3000] = ' ';

    /* Follow chains so that a target is never itself a key (the fold is idempotent). */
    static uint32_t resolved[MAX_CP];
    for (uint32_t cp = 0; cp < MAX_CP; cp++) {
        uint32_t t = fold[cp];
        for (int steps = 0; t != 0 && t != DROP && fold[t] != 0; steps++) {
            if (steps == MAX_CHAIN || fold[t] == cp) {
                fprintf(stderr, "t2s_gen: U+%04" PRIX32 ": cycle in the table\n", cp);
                return -1;
            }
            t = fold[t];
        }
        resolved[cp] = t;
    }
    memcpy(fold, resolved, sizeof resolved);
    return used;
}

static int build_digits(const uint32_t *fold, uint8_t *digit)
{
    for (size_t i = 0; i < sizeof digit_ranges / sizeof digit_ranges[0]; i++) {
        const struct digit_range *r = &digit_ranges[i];
        for (uint32_t k = 0; k < r->n; k++) {
            uint32_t cp = r->first + k;
            uint32_t v = r->wrap ? (r->value + k) % r->wrap : r->value + k;
            /* A digit key must survive the fold, or it would never be seen. */
            if (fold[cp] != 0 || digit[cp] != 0 || v > 50) {
                fprintf(stderr, "t2s_gen: digit U+%04" PRIX32 " clashes\n", cp);
                return -1;
            }
            digit[cp] = (uint8_t)(v + 1);
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: t2s_gen DUMP OUT.c OUT.h\n");
        return 2;
    }
    int status = 1;
    uint32_t *fold = calloc(MAX_CP, sizeof *fold);
    uint8_t *digit = calloc(MAX_CP, 1);
    if (!fold || !digit) {
        fprintf(stderr, "t2s_gen: out of memory\n");
        goto out;
    }
    long used = build_fold(argv[1], fold);
    if (used < 0 || build_digits(fold, digit) != 0)
        goto out;
    if (write_source(argv[2], argv[1], fold, digit, (size_t)used) != 0 ||
        write_header(argv[3]) != 0) {
        remove(argv[2]);
        remove(argv[3]);
        goto out;
    }
    status = 0;
out:
    free(fold);
    free(digit);
    return status;
}
