/* Text normalization for the audit engine: folds (full-width, zero-width, traditional to
 * simplified, digits), the view's ignore set and invalid UTF-8 repair, in one pass per view, with
 * a map back to the original bytes. A first scan decides whether anything changes at all; most
 * messages need nothing and are returned as they are. The fold tables are generated at build
 * time from OpenCC's dictionary (audit/gen/t2s_gen.c). */
#include "audit/normalize.h"

#include <stdlib.h>
#include <string.h>

#include "t2s_table.h"

#define REPLACEMENT 0xFFFDu
#define INVALID UINT32_MAX /* decode(): broken bytes */
#define NOT_A_DIGIT 0xFFu
/* The longest output of one source character: 4 bytes of UTF-8, or two digits. */
#define MAX_CHAR_OUT 4
/* First allocation of the normalized text; grows by doubling. */
#define MIN_CAP 256
/* First allocation of the change points; grows by doubling. */
#define MIN_SEGS 16

/* A view, prepared for one call: the ignore set split into an ASCII bitmap and the rest. */
typedef struct view_ctx {
    const uint64_t *bits; /* BMP code points that change in every view (or with digits) */
    int fold_digits;
    uint64_t ascii_ign[2];
    int n_ascii_ign;          /* ASCII code points in the ignore set */
    uint64_t ascii_pat[8];    /* each repeated in every byte, when n_ascii_ign <= 8 */
    const uint32_t *wide_ign; /* the ignore set from the first non-ASCII entry */
    size_t n_wide_ign;
    uint64_t wide_filter; /* bit (cp & 63) set for each non-ASCII ignored cp: a quick "no" */
    int has_ign;
    const uint64_t *fold_only; /* see wg_audit_view_opts_t */
} view_ctx_t;

static void view_prepare(view_ctx_t *vc, const wg_audit_view_opts_t *v, const uint64_t *fold_only)
{
    /* Field by field: this runs once per message, and most views ignore nothing. */
    vc->fold_digits = v && v->fold_digits;
    vc->bits = vc->fold_digits ? wg_audit_norm_folddigit_bits : wg_audit_norm_fold_bits;
    vc->fold_only = fold_only;
    if (vc->fold_only)
        vc->bits = vc->fold_only;
    vc->ascii_ign[0] = vc->ascii_ign[1] = 0;
    vc->n_ascii_ign = 0;
    vc->wide_ign = NULL;
    vc->n_wide_ign = 0;
    vc->wide_filter = 0;
    vc->has_ign = v && v->ignore && v->n_ignore;
    if (!vc->has_ign)
        return;
    size_t i = 0;
    for (; i < v->n_ignore && v->ignore[i] < 0x80; i++) {
        uint32_t c = v->ignore[i];
        vc->ascii_ign[c >> 6] |= (uint64_t)1 << (c & 63);
        if (vc->n_ascii_ign < 8)
            vc->ascii_pat[vc->n_ascii_ign] = (uint64_t)c * 0x0101010101010101u;
        vc->n_ascii_ign++;
    }
    vc->wide_ign = v->ignore + i;
    vc->n_wide_ign = v->n_ignore - i;
    for (size_t k = 0; k < vc->n_wide_ign; k++)
        vc->wide_filter |= (uint64_t)1 << (vc->wide_ign[k] & 63);
}

static inline int bit_test(const uint64_t *bits, uint32_t cp)
{
    return (int)((bits[cp >> 6] >> (cp & 63)) & 1);
}

/* Bits set in x. By hand: without -mpopcnt the builtin is a library call. */
static inline uint32_t popcount64(uint64_t x)
{
    x = x - ((x >> 1) & 0x5555555555555555u);
    x = (x & 0x3333333333333333u) + ((x >> 2) & 0x3333333333333333u);
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0Fu;
    return (uint32_t)((x * 0x0101010101010101u) >> 56);
}

/* Index of a BMP code point's entry in a bits/rank table (the bit must be set). */
static inline uint32_t rank_index(const uint64_t *bits, const uint16_t *rank, uint32_t cp)
{
    uint64_t below = bits[cp >> 6] & (((uint64_t)1 << (cp & 63)) - 1);
    return rank[cp >> 6] + popcount64(below);
}

static const wg_audit_norm_pair_t *pair_find(const wg_audit_norm_pair_t *p, size_t n, uint32_t cp)
{
    if (n == 0 || cp < p[0].from || cp > p[n - 1].from)
        return NULL;
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p[mid].from < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && p[lo].from == cp ? &p[lo] : NULL;
}

static inline int ascii_ignored(const view_ctx_t *vc, unsigned char c)
{
    return (int)((vc->ascii_ign[c >> 6] >> (c & 63)) & 1);
}

static int wide_ignored(const view_ctx_t *vc, uint32_t cp)
{
    /* U+FFFD marks broken bytes: never dropped, so no rule matches across them. */
    if (!((vc->wide_filter >> (cp & 63)) & 1) || cp == REPLACEMENT)
        return 0;
    size_t lo = 0, hi = vc->n_wide_ign;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (vc->wide_ign[mid] < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < vc->n_wide_ign && vc->wide_ign[lo] == cp;
}

static inline int ignored(const view_ctx_t *vc, uint32_t cp)
{
    return cp < 0x80 ? ascii_ignored(vc, (unsigned char)cp) : wide_ignored(vc, cp);
}

/* Whether any byte of the 8 ASCII bytes w is in the view's ASCII ignore set. */
static inline int word_has_ignored(const view_ctx_t *vc, uint64_t w)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    if (vc->n_ascii_ign > 8) {
        for (int k = 0; k < 8; k++)
            if (ascii_ignored(vc, (unsigned char)(w >> (8 * k))))
                return 1;
        return 0;
    }
    for (int k = 0; k < vc->n_ascii_ign; k++) {
        uint64_t x = w ^ vc->ascii_pat[k]; /* a zero byte where w has the character */
        if ((x - ones) & ~x & highs)
            return 1;
    }
    return 0;
}

/* Whether an astral (non-BMP) code point changes in this view (apart from the ignore set). */
static int astral_changes(const view_ctx_t *vc, uint32_t cp)
{
    if (pair_find(wg_audit_norm_fold_astral, wg_audit_norm_fold_astral_n, cp))
        return 1;
    return vc->fold_digits &&
           pair_find(wg_audit_norm_digit_astral, wg_audit_norm_digit_astral_n, cp) != NULL;
}

/* The second byte of a 3-byte sequence, by the low nibble of the first: at least lo3, at most
 * lo3 + span3 (E0: no overlongs; ED: no surrogates). */
static const unsigned char lo3[16] = {0xA0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                      0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80};
static const unsigned char span3[16] = {0x1F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F,
                                        0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x1F, 0x3F, 0x3F};

/* Decodes the valid 3-byte sequence at s[i] (s[i] is E0..EF), or returns 0. */
static inline uint32_t decode3(const unsigned char *s, size_t i, size_t len)
{
    if (len - i < 3)
        return 0;
    unsigned char b0 = s[i], b1 = s[i + 1], b2 = s[i + 2];
    if ((unsigned char)(b1 - lo3[b0 & 15]) > span3[b0 & 15] || (b2 & 0xC0) != 0x80)
        return 0;
    return ((uint32_t)(b0 & 0x0F) << 12) | ((uint32_t)(b1 & 0x3F) << 6) | (b2 & 0x3F);
}

/* x, read from memory as it lies, in little-endian order. */
static inline uint32_t le32(uint32_t x)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return __builtin_bswap32(x);
#else
    return x;
#endif
}

/* Skips whole words of ASCII that the view keeps; returns the new offset. */
static inline size_t skip_ascii_words(const view_ctx_t *vc, const unsigned char *s, size_t i,
                                      size_t len)
{
    const uint64_t highs = 0x8080808080808080u;
    while (len - i >= 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if ((w & highs) || (vc->n_ascii_ign && word_has_ignored(vc, w)))
            break;
        i += 8;
    }
    return i;
}

/* The fast scan: the offset of the first character that the view changes, or len when none
 * does. Every character it stops at really changes (so "no copy" == "output equals input"). */
static size_t first_change(const view_ctx_t *vc, const unsigned char *s, size_t len)
{
    const uint64_t *bits = vc->bits;
    const int wide = vc->n_wide_ign != 0, ascii_ign = vc->n_ascii_ign != 0;
    size_t i = 0;
    while (i < len) {
        /* The common characters in one loop, four bytes read at a time: ASCII that the view
         * keeps, and valid 3-byte sequences (CJK): lead byte E0..EF and two continuation bytes
         * in one test. The 64 code points that share their first two bytes share a word of bits
         * (cp >> 6); E0 80..9F (overlong) and ED A0..BF (surrogates) are the only invalid such
         * words. Anything else goes to the character by character code below. */
        if (!wide && !ascii_ign) {
            /* the same without the ignore sets, the common case: a run of ASCII bytes is
             * skipped up to the next non-ASCII one of the four */
            while (len - i >= 4) {
                uint32_t x;
                memcpy(&x, s + i, 4);
                x = le32(x);
                if ((x & 0xC0C0F0u) == 0x8080E0u) {
                    uint32_t blk = ((x & 0x0F) << 6) | ((x >> 8) & 0x3F);
                    if (blk < 32 || blk - 0x360 < 32 || ((bits[blk] >> ((x >> 16) & 63)) & 1))
                        return i;
                    i += 3;
                } else if (!(x & 0x80)) {
                    uint32_t hi = x & 0x80808080u;
                    i += hi ? (size_t)(__builtin_ctz(hi) >> 3) : 4;
                } else {
                    break;
                }
            }
        }
        while (len - i >= 4) {
            uint32_t x;
            memcpy(&x, s + i, 4);
            x = le32(x);
            if ((x & 0xC0C0F0u) == 0x8080E0u) {
                uint32_t blk = ((x & 0x0F) << 6) | ((x >> 8) & 0x3F);
                if (blk < 32 || blk - 0x360 < 32 || ((bits[blk] >> ((x >> 16) & 63)) & 1))
                    return i;
                if (wide && wide_ignored(vc, (blk << 6) | ((x >> 16) & 63)))
                    return i;
                i += 3;
            } else if (!(x & 0x80808080u) && !ascii_ign) {
                i += 4;
            } else if (!(x & 0x80) && !(ascii_ign && ascii_ignored(vc, (unsigned char)x))) {
                i++;
            } else {
                break;
            }
        }
        if (i == len)
            break;
        unsigned char b = s[i];
        if (b < 0x80) {
            if (ascii_ign && ascii_ignored(vc, b))
                return i;
            i = skip_ascii_words(vc, s, i + 1, len);
            continue;
        }
        uint32_t cp;
        if ((b & 0xF0) == 0xE0) {
            cp = decode3(s, i, len);
            if (cp == 0 || bit_test(bits, cp) || (wide && wide_ignored(vc, cp)))
                return i;
            i += 3;
        } else if (b >= 0xC2 && b <= 0xDF) {
            if (len - i < 2 || (s[i + 1] & 0xC0) != 0x80)
                return i;
            cp = ((uint32_t)(b & 0x1F) << 6) | (s[i + 1] & 0x3F);
            if (bit_test(bits, cp) || (wide && wide_ignored(vc, cp)))
                return i;
            i += 2;
        } else if (b >= 0xF0 && b <= 0xF4) {
            if (len - i < 4 || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80 ||
                (s[i + 3] & 0xC0) != 0x80)
                return i;
            cp = ((uint32_t)(b & 0x07) << 18) | ((uint32_t)(s[i + 1] & 0x3F) << 12) |
                 ((uint32_t)(s[i + 2] & 0x3F) << 6) | (s[i + 3] & 0x3F);
            if (cp < 0x10000 || cp > 0x10FFFF || astral_changes(vc, cp) ||
                (wide && wide_ignored(vc, cp)))
                return i;
            i += 4;
        } else {
            return i;
        }
    }
    return len;
}

/* Decodes the character at s[i] (s[i] >= 0x80): returns its length and sets *cp, or, for
 * invalid UTF-8, returns the length of the maximal invalid subpart (at least 1) and sets *cp to
 * INVALID. Each such subpart becomes one U+FFFD (Unicode's "substitution of maximal subparts",
 * which is also how WHATWG decodes). */
static inline size_t decode(const unsigned char *s, size_t i, size_t len, uint32_t *cp)
{
    unsigned char b = s[i];
    if ((b & 0xF0) == 0xE0 && (*cp = decode3(s, i, len)) != 0)
        return 3;
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF; /* the range of the second byte */
    uint32_t c;
    if (b >= 0xC2 && b <= 0xDF) {
        need = 1, c = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
        need = 2, c = b & 0x0F;
        if (b == 0xE0)
            lo = 0xA0; /* overlong */
        else if (b == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 3, c = b & 0x07;
        if (b == 0xF0)
            lo = 0x90; /* overlong */
        else if (b == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        *cp = INVALID; /* a stray continuation byte, C0, C1 or F5..FF */
        return 1;
    }
    size_t k = 1;
    for (; k <= need; k++) {
        if (i + k >= len || s[i + k] < lo || s[i + k] > hi) {
            *cp = INVALID;
            return k;
        }
        c = (c << 6) | (s[i + k] & 0x3F);
        lo = 0x80, hi = 0xBF;
    }
    *cp = c;
    return k;
}

/* The fold of every view: 0 when cp is dropped, else what it becomes. */
static inline uint32_t fold_cp(uint32_t cp)
{
    if (cp < 0x10000) {
        if (!bit_test(wg_audit_norm_fold_bits, cp))
            return cp;
        return wg_audit_norm_fold_to[rank_index(wg_audit_norm_fold_bits, wg_audit_norm_fold_rank,
                                                cp)];
    }
    const wg_audit_norm_pair_t *p =
        pair_find(wg_audit_norm_fold_astral, wg_audit_norm_fold_astral_n, cp);
    return p ? p->to : cp;
}

/* The value 0..50 of a digit form (a folded code point), or NOT_A_DIGIT. */
static unsigned digit_value(uint32_t f)
{
    if (f < 0x80)
        return NOT_A_DIGIT;
    if (f < 0x10000) {
        if (!bit_test(wg_audit_norm_digit_bits, f))
            return NOT_A_DIGIT;
        return wg_audit_norm_digit_val[rank_index(wg_audit_norm_digit_bits,
                                                  wg_audit_norm_digit_rank, f)];
    }
    const wg_audit_norm_pair_t *p =
        pair_find(wg_audit_norm_digit_astral, wg_audit_norm_digit_astral_n, f);
    return p ? p->to : NOT_A_DIGIT;
}

/* What one source character becomes in the view: writes up to two code points to out (a digit
 * form may read as "10") and returns how many. */
static inline int fold_char(const view_ctx_t *vc, uint32_t cp, uint32_t out[2])
{
    uint32_t f = fold_cp(cp);
    if (f == 0)
        return 0;
    unsigned val = vc->fold_digits ? digit_value(f) : NOT_A_DIGIT;
    if (val == NOT_A_DIGIT) {
        out[0] = f;
        /* The ignore set applies to what the folds wrote, so that normalizing is idempotent. */
        return vc->has_ign && ignored(vc, f) ? 0 : 1;
    }
    int n = 0;
    if (val >= 10 && !ignored(vc, '0' + val / 10))
        out[n++] = '0' + val / 10;
    if (!ignored(vc, '0' + val % 10))
        out[n++] = '0' + val % 10;
    return n;
}

static size_t encode(uint32_t cp, char *out)
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

/* Makes room for `more` bytes of text after `used`. */
static int reserve(wg_audit_norm_t *n, size_t used, size_t more)
{
    if (more <= n->cap_ - used)
        return 0;
    size_t cap = n->cap_ ? n->cap_ : MIN_CAP;
    while (cap - used < more) {
        if (cap > SIZE_MAX / 2 / sizeof(uint32_t))
            return -1;
        cap *= 2;
    }
    char *buf = realloc(n->buf_, cap);
    if (!buf)
        return -1;
    n->buf_ = buf;
    n->cap_ = cap;
    return 0;
}

/* Appends a change point: from normalized byte `norm` on, the text maps to the source at `orig`
 * (olen 0: byte for byte; else each byte to the source character [orig, orig + olen)). */
static int seg_push(wg_audit_norm_t *n, size_t norm, size_t orig, size_t olen)
{
    if (n->n_seg_ == n->cap_seg_) {
        size_t cap = n->cap_seg_ ? 2 * n->cap_seg_ : MIN_SEGS;
        if (cap > SIZE_MAX / sizeof *n->seg_)
            return -1;
        wg_audit_norm_seg_t *seg = realloc(n->seg_, cap * sizeof *seg);
        if (!seg)
            return -1;
        n->seg_ = seg;
        n->cap_seg_ = cap;
    }
    n->seg_[n->n_seg_++] = (wg_audit_norm_seg_t){norm, (uint32_t)orig, (uint32_t)olen};
    return 0;
}

/* The slow path, from the first character that changes: copies runs of unchanged characters
 * (found by the fast scan) and rewrites the others, recording a change point where each run or
 * rewritten character starts. The text buffer lives in a local: a char store could alias n's
 * fields. */
static int normalize_slow(wg_audit_norm_t *n, const view_ctx_t *vc, const unsigned char *s,
                          size_t len, size_t i)
{
    n->n_seg_ = 0;
    /* The output is usually no longer than the input. */
    if (reserve(n, 0, len + MAX_CHAR_OUT) != 0)
        goto fail;
    char *out = n->buf_;
    size_t cap = n->cap_, used = 0, run = 0;
    for (;;) {
        /* [run, i) stays as it is; i is len or a character that may change. */
        size_t clen;
        uint32_t f[2];
        int nf;
        for (;;) {
            if (i == len) {
                clen = 0, nf = 0;
                break;
            }
            unsigned char b = s[i];
            uint32_t cp;
            if (b < 0x80) {
                if (ascii_ignored(vc, b)) {
                    clen = 1, nf = 0; /* dropped */
                    break;
                }
                i++;
                i += first_change(vc, s + i, len - i);
                continue;
            }
            clen = decode(s, i, len, &cp);
            if (cp == INVALID) {
                f[0] = REPLACEMENT, nf = 1; /* never ignored */
                break;
            }
            nf = fold_char(vc, cp, f);
            if ((nf != 1 || f[0] != cp) &&
                !(vc->fold_only && nf > 0 && cp < 0x10000 && !bit_test(vc->fold_only, cp)))
                break;
            i += clen; /* it stays after all: the run goes on */
            i += first_change(vc, s + i, len - i);
        }
        if (cap - used < i - run + 2 * MAX_CHAR_OUT) {
            if (reserve(n, used, i - run + 2 * MAX_CHAR_OUT) != 0)
                goto fail;
            out = n->buf_, cap = n->cap_;
        }
        if (i > run) {
            if (seg_push(n, used, run, 0) != 0)
                goto fail;
            memcpy(out + used, s + run, i - run);
            used += i - run;
        }
        if (i == len)
            break;
        if (nf > 0) {
            if (seg_push(n, used, i, clen) != 0)
                goto fail;
            for (int k = 0; k < nf; k++)
                used += encode(f[k], out + used);
        }
        i += clen;
        run = i;
        i += first_change(vc, s + i, len - i);
    }
    n->text = out;
    n->len = used;
    n->copied_ = 1;
    if (!n->lazy_ && wg_audit_norm_map(n) != 0)
        goto fail;
    return 0;
fail:
    n->text = NULL;
    n->len = 0;
    n->n_seg_ = 0;
    n->copied_ = 0;
    return -1;
}

void wg_audit_norm_init(wg_audit_norm_t *n)
{
    memset(n, 0, sizeof *n);
}

void wg_audit_norm_init_lazy(wg_audit_norm_t *n)
{
    memset(n, 0, sizeof *n);
    n->lazy_ = 1;
}

void wg_audit_norm_free(wg_audit_norm_t *n)
{
    int lazy = n->lazy_;
    free(n->buf_);
    free(n->start_);
    free(n->end_);
    free(n->seg_);
    memset(n, 0, sizeof *n);
    n->lazy_ = lazy;
}

int wg_audit_normalize(wg_audit_norm_t *n, const wg_audit_view_opts_t *v, const char *text,
                       size_t len)
{
    return wg_audit_normalize_fold_only(n, v, NULL, text, len);
}

int wg_audit_normalize_fold_only(wg_audit_norm_t *n, const wg_audit_view_opts_t *v,
                                 const uint64_t *fold_only, const char *text, size_t len)
{
    n->text = text;
    n->len = len;
    n->src_start = n->src_end = NULL;
    n->n_seg_ = 0;
    n->copied_ = 0;
    if (len > UINT32_MAX) { /* the map holds 32-bit offsets */
        n->text = NULL;
        n->len = 0;
        return -1;
    }
    view_ctx_t vc;
    view_prepare(&vc, v, fold_only);
    const unsigned char *s = (const unsigned char *)text;
    size_t i = first_change(&vc, s, len);
    if (i == len)
        return 0; /* nothing changes: no copy */
    return normalize_slow(n, &vc, s, len, i);
}

/* The change point that normalized byte k (< len) falls in: the last one starting at or before
 * it. A copied text always has one at 0 (whenever it is not empty). */
static const wg_audit_norm_seg_t *seg_find(const wg_audit_norm_t *n, size_t k)
{
    const wg_audit_norm_seg_t *seg = n->seg_;
    size_t lo = 0, cnt = n->n_seg_;
    while (cnt > 1) {
        size_t half = cnt / 2;
        if (seg[lo + half].norm <= k)
            lo += half;
        cnt -= half;
    }
    return &seg[lo];
}

static inline size_t seg_start(const wg_audit_norm_seg_t *g, size_t k)
{
    return g->olen ? g->orig : g->orig + (k - g->norm);
}

static inline size_t seg_end(const wg_audit_norm_seg_t *g, size_t k)
{
    return g->olen ? (size_t)g->orig + g->olen : g->orig + (k - g->norm) + 1;
}

int wg_audit_norm_map(wg_audit_norm_t *n)
{
    if (n->src_start || !n->copied_)
        return 0; /* already there, or the identity */
    size_t need = n->len ? n->len : 1;
    if (need > n->map_cap_) {
        uint32_t *start = realloc(n->start_, need * sizeof *start);
        if (!start)
            return -1;
        n->start_ = start;
        uint32_t *end = realloc(n->end_, need * sizeof *end);
        if (!end)
            return -1;
        n->end_ = end;
        n->map_cap_ = need;
    }
    uint32_t *ms = n->start_, *me = n->end_;
    for (size_t g = 0; g < n->n_seg_; g++) {
        const wg_audit_norm_seg_t *x = &n->seg_[g];
        size_t to = g + 1 < n->n_seg_ ? n->seg_[g + 1].norm : n->len;
        for (size_t k = x->norm; k < to; k++) {
            ms[k] = (uint32_t)seg_start(x, k);
            me[k] = (uint32_t)seg_end(x, k);
        }
    }
    n->src_start = ms;
    n->src_end = me;
    return 0;
}

void wg_audit_norm_span(const wg_audit_norm_t *n, size_t s, size_t e, size_t *os, size_t *oe)
{
    if (n->n_seg_ == 0) {
        *os = s;
        *oe = e;
        return;
    }
    const wg_audit_norm_seg_t *a = seg_find(n, s);
    *os = seg_start(a, s);
    /* e - 1 usually falls in the same change point, or a few after it. */
    const wg_audit_norm_seg_t *b = a, *last = n->seg_ + n->n_seg_ - 1;
    if (b < last && b[1].norm <= e - 1)
        b = seg_find(n, e - 1);
    *oe = seg_end(b, e - 1);
}

void wg_audit_norm_fold_only(const wg_audit_view_opts_t *v, const char *words, size_t len,
                             uint64_t *out)
{
    view_ctx_t vc;
    view_prepare(&vc, v, NULL);
    /* the characters of the words, both cases of Latin letters (the hits are caseless) */
    uint64_t in_words[WG_AUDIT_FOLD_ONLY_WORDS] = {0};
    const unsigned char *s = (const unsigned char *)words;
    for (size_t i = 0; i < len;) {
        uint32_t cp = s[i];
        size_t cl = cp < 0x80 ? 1 : decode(s, i, len, &cp);
        i += cl;
        if (cp == INVALID || cp >= 0x10000)
            continue;
        in_words[cp >> 6] |= (uint64_t)1 << (cp & 63);
        if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') {
            uint32_t o = cp ^ 0x20;
            in_words[o >> 6] |= (uint64_t)1 << (o & 63);
        }
    }
    memset(out, 0, WG_AUDIT_FOLD_ONLY_WORDS * sizeof *out);
    for (uint32_t cp = 0x80; cp < 0x10000; cp++) {
        if (!bit_test(vc.bits, cp))
            continue;
        uint32_t f[2];
        int nf = fold_char(&vc, cp, f), need = nf == 0;
        for (int k = 0; k < nf && !need; k++)
            need = f[k] >= 0x10000 || bit_test(in_words, f[k]);
        if (need)
            out[cp >> 6] |= (uint64_t)1 << (cp & 63);
    }
}

char *wg_audit_normalize_dup(const wg_audit_view_opts_t *v, const char *text, size_t len,
                             size_t *out_len)
{
    wg_audit_norm_t n;
    wg_audit_norm_init_lazy(&n); /* no map needed */
    char *out = NULL;
    if (wg_audit_normalize(&n, v, text, len) == 0) {
        out = malloc(n.len + 1);
        if (out) {
            memcpy(out, n.text, n.len);
            out[n.len] = '\0';
            if (out_len)
                *out_len = n.len;
        }
    }
    wg_audit_norm_free(&n);
    return out;
}
