/* Text normalization for the audit engine: one pass per view, with a map from every normalized
 * byte back to the original text. Pure: no I/O, no globals but constant tables.
 *
 * Every view, always:
 *   - invalid UTF-8: each maximal invalid sequence becomes U+FFFD (so no rule matches across it);
 *   - zero-width characters U+200B..U+200D, U+2060, U+FEFF are dropped;
 *   - full-width forms U+FF01..U+FF5E become their ASCII counterparts (Ａ→A, １→1, ！→!), and
 *     U+3000 (ideographic space) becomes ' ';
 *   - traditional Chinese characters become simplified (OpenCC's TSCharacters table, generated at
 *     build time; the first target where there are several);
 *   - Latin case is KEPT: word rules match caselessly (HS_FLAG_CASELESS), regexes decide for
 *     themselves ((?i)).
 * Per view (wg_audit_view_opts_t):
 *   - ignore: code points dropped wherever they stand (the word rules' "ignore" set, applied
 *     after the folds above, so an ignored ' ' also drops a U+3000);
 *   - fold_digits: digit look-alikes read as ASCII '0'..'9':
 *       circled ①..⑳ (U+2460..) and parenthesized ⑴.. (U+2474..);
 *       ⑩ and above become their decimal digits ("10");
 *       full-width digits;
 *       Chinese numerals 〇零一二三四五六七八九 and 壹贰叁肆伍陆柒捌玖 (after t2s);
 *       also ⒈ (full stop), ⓪⓿, ⓫..⓴, ⓵..⓾, ❶➀➊, ㉑..㊿;
 *       super- and subscript digits;
 *       mathematical digits 𝟎..𝟿;
 *       🄀..🄊 and 🯰..🯹;
 *       幺 (1, as phone numbers are read aloud) and 叄 (3).
 *     参 and 两 are deliberately not digits: they are common words.
 *
 * Order and edge cases: the ignore set applies after every fold, digit folding included (with
 * ignore "1", ⑪ loses both digits); U+FFFD is never ignored, so no match spans broken bytes;
 * traditional→simplified chains are followed to their end (薴→苧→苎), so normalizing twice
 * changes nothing; a NULL view means no ignore set and no digit folding.
 *
 * When nothing changes (the common case) no copy is made: text points at the input and the map
 * is the identity (map == NULL). */
#ifndef WG_AUDIT_NORMALIZE_H
#define WG_AUDIT_NORMALIZE_H

#include <stddef.h>
#include <stdint.h>

typedef struct wg_audit_view_opts {
    const uint32_t *ignore; /* code points to drop; sorted ascending, no duplicates */
    size_t n_ignore;
    int fold_digits;
} wg_audit_view_opts_t;

/* A change point of the map (private to normalize.c): from normalized byte norm on (up to the
 * next change point), the text maps to the source at orig: byte for byte when olen is 0, else
 * every byte to the whole source character [orig, orig + olen). */
typedef struct wg_audit_norm_seg {
    size_t norm;
    uint32_t orig, olen;
} wg_audit_norm_seg_t;

/* The result of one normalization; reusable across calls (buffers grow, never shrink, until
 * wg_audit_norm_free). Not thread-safe: one per thread (part of the scanner's scratch). */
typedef struct wg_audit_norm {
    const char *text; /* normalized UTF-8 (valid), len bytes; the input itself when unchanged */
    size_t len;
    /* map: for normalized byte i, the original bytes [src_start[i], src_end[i]) of the source
     * character it came from. NULL when the text is unchanged (identity). After
     * wg_audit_norm_init_lazy, also NULL after a copy until wg_audit_norm_map fills them: tell
     * a copy by text != the input. */
    const uint32_t *src_start;
    const uint32_t *src_end;
    /* private */
    char *buf_;
    uint32_t *start_, *end_;
    size_t cap_;               /* of buf_ */
    size_t map_cap_;           /* of start_ and end_ */
    wg_audit_norm_seg_t *seg_; /* the map, as change points (every copy has them) */
    size_t n_seg_, cap_seg_;
    int lazy_, copied_;
} wg_audit_norm_t;

void wg_audit_norm_init(wg_audit_norm_t *n);
/* Like wg_audit_norm_init, but wg_audit_normalize keeps the map only as a list of change points
 * (two per changed character at most) and leaves src_start/src_end NULL: much less work per
 * copied byte. wg_audit_norm_span works the same (a binary search); wg_audit_norm_map fills
 * src_start/src_end on demand. The scanner's choice. */
void wg_audit_norm_init_lazy(wg_audit_norm_t *n);
/* Frees the buffers; n stays ready for use, lazy or not as it was. */
void wg_audit_norm_free(wg_audit_norm_t *n);

/* Normalizes text[0..len) for view v into n. Returns 0, or -1 when out of memory or len exceeds
 * UINT32_MAX. */
int wg_audit_normalize(wg_audit_norm_t *n, const wg_audit_view_opts_t *v, const char *text,
                       size_t len);

/* wg_audit_normalize for scanning a view of literal words only: fold_only (NULL: all of them)
 * from wg_audit_norm_fold_only tells the BMP characters that are still rewritten into others;
 * any other BMP character that v would rewrite into other characters (not drop) stays as it
 * is. The map and wg_audit_norm_span are as always. */
int wg_audit_normalize_fold_only(wg_audit_norm_t *n, const wg_audit_view_opts_t *v,
                                 const uint64_t *fold_only, const char *text, size_t len);

/* Maps the normalized span [s, e) (e > s, e <= len) to the original span [*os, *oe):
 * *os = src_start[s], *oe = src_end[e - 1] (the identity when the text is unchanged). */
void wg_audit_norm_span(const wg_audit_norm_t *n, size_t s, size_t e, size_t *os, size_t *oe);

/* Fills src_start/src_end for the last result (a lazy n's); nothing to do when they are there
 * or the text is unchanged (they stay NULL). Returns 0, or -1 when out of memory. */
int wg_audit_norm_map(wg_audit_norm_t *n);

/* Fills out (WG_AUDIT_FOLD_ONLY_WORDS words, a bitmap of BMP code points) for scanning view v
 * for literal words only (HS caseless), words[0..len) being all of them, normalized for v and
 * concatenated: the characters v rewrites that a hit may need rewritten, i.e. those it drops
 * and those it rewrites into a character that occurs in some word (or outside the BMP). Any
 * other rewrite cannot change the hits nor their source spans: a word never contains the
 * character itself (it is normalized), nor what it becomes, and in valid UTF-8 a literal hit
 * is whole characters. Invalid UTF-8 and characters outside the BMP are always rewritten. */
#define WG_AUDIT_FOLD_ONLY_WORDS 1024
void wg_audit_norm_fold_only(const wg_audit_view_opts_t *v, const char *words, size_t len,
                             uint64_t *out);

/* Normalizes a rule's word or pattern text the same way (for compiling), into a new
 * NUL-terminated string the caller frees; NULL when out of memory. */
char *wg_audit_normalize_dup(const wg_audit_view_opts_t *v, const char *text, size_t len,
                             size_t *out_len);

#endif
