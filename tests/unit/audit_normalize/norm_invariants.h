/* What every result of wg_audit_normalize must satisfy, whatever the input: shared by the unit
 * test and the fuzz target (tests/fuzz/fuzz_normalize.c). */
#ifndef WG_TEST_NORM_INVARIANTS_H
#define WG_TEST_NORM_INVARIANTS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "audit/normalize.h"

/* Strict UTF-8 decoding of s[0..n): the length of the character, 0 when invalid. */
static size_t norm_inv_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
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
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

/* Checks n, the result of normalizing in[0..len) for view v; `again` is scratch for normalizing
 * the result once more. Returns NULL, or what is wrong. */
static const char *norm_inv_check(const wg_audit_norm_t *n, const wg_audit_view_opts_t *v,
                                  const char *in, size_t len, wg_audit_norm_t *again)
{
    const unsigned char *t = (const unsigned char *)n->text;
    if (n->len > 0 && !n->text)
        return "text is NULL";
    if ((n->src_start == NULL) != (n->src_end == NULL))
        return "one map array without the other";
    int same = n->len == len && (len == 0 || memcmp(n->text, in, len) == 0);
    if (!n->src_start) {
        if (n->text != in || n->len != len)
            return "no map, but the text is not the input";
    } else if (same) {
        /* The fast path must take every input that needs no change. */
        return "copied although nothing changed";
    }

    /* Valid UTF-8, and single source bytes only as themselves or as U+FFFD. */
    for (size_t i = 0; i < n->len;) {
        uint32_t cp;
        size_t cl = norm_inv_decode(t + i, n->len - i, &cp);
        if (cl == 0)
            return "normalized text is not valid UTF-8";
        if (n->src_start) {
            for (size_t k = i; k < i + cl; k++) {
                uint32_t s = n->src_start[k], e = n->src_end[k];
                if (s >= e || e > len)
                    return "a source span is empty or outside the input";
                if (e - s == 1 && cp != 0xFFFD && (unsigned char)in[s] != t[k])
                    return "a byte mapped to a single source byte is not that byte";
            }
            for (size_t k = i + 1; k < i + cl; k++)
                if (n->src_start[k] != n->src_start[i] && n->src_end[k] - n->src_start[k] != 1)
                    return "the bytes of a rewritten character map to different sources";
        }
        i += cl;
    }

    if (n->src_start) {
        for (size_t i = 0; i + 1 < n->len; i++) {
            uint32_t s0 = n->src_start[i], e0 = n->src_end[i];
            uint32_t s1 = n->src_start[i + 1], e1 = n->src_end[i + 1];
            if (s1 < s0 || e1 < e0)
                return "the map is not monotonic";
            if (!(s1 == s0 && e1 == e0) && s1 < e0)
                return "two source spans overlap";
        }
    }
    if (n->len > 0) {
        size_t os, oe;
        wg_audit_norm_span(n, 0, n->len, &os, &oe);
        if (os >= oe || oe > len)
            return "wg_audit_norm_span of the whole text is outside the input";
    }

    /* Idempotence: the result is a fixed point, so the fast path takes it. */
    if (wg_audit_normalize(again, v, n->text, n->len) != 0)
        return "normalizing the result failed";
    if (again->src_start || again->text != n->text || again->len != n->len)
        return "normalizing the result changed it";
    return NULL;
}

/* Checks lazy, a lazy normalizer's result (wg_audit_norm_init_lazy), against dense, the plain
 * one's for the same input and view: the same text, no map arrays until wg_audit_norm_map, and
 * wg_audit_norm_span the same as the dense arrays for every start with every end up to max_w
 * bytes further and the last one; then wg_audit_norm_map fills arrays equal to the dense ones.
 * Returns NULL, or what is wrong. */
static inline const char *norm_inv_check_lazy(const wg_audit_norm_t *dense, wg_audit_norm_t *lazy,
                                              const char *in, size_t max_w)
{
    if (lazy->len != dense->len || (lazy->len && memcmp(lazy->text, dense->text, lazy->len)))
        return "the lazy text differs from the dense one";
    if (lazy->src_start || lazy->src_end)
        return "lazy, but the map arrays are there";
    int copied = dense->src_start != NULL;
    if ((lazy->text != in) != copied)
        return "lazy and dense disagree on copying";
    size_t len = lazy->len;
    for (size_t s = 0; s < len; s++) {
        size_t top = len - s > max_w ? s + max_w : len;
        for (size_t e = s + 1; e <= len; e = (e == top && e < len) ? len : e + 1) {
            size_t os, oe, ws = s, we = e;
            wg_audit_norm_span(lazy, s, e, &os, &oe);
            if (copied) {
                ws = dense->src_start[s];
                we = dense->src_end[e - 1];
            }
            if (os != ws || oe != we)
                return "a lazy span differs from the dense map";
            if (e == len)
                break;
        }
    }
    if (wg_audit_norm_map(lazy) != 0)
        return "wg_audit_norm_map failed";
    if ((lazy->src_start != NULL) != copied || (lazy->src_end != NULL) != copied)
        return "wg_audit_norm_map: arrays for an unchanged text, or none for a copy";
    if (copied && len &&
        (memcmp(lazy->src_start, dense->src_start, len * sizeof(uint32_t)) ||
         memcmp(lazy->src_end, dense->src_end, len * sizeof(uint32_t))))
        return "wg_audit_norm_map filled other arrays than the dense ones";
    if (wg_audit_norm_map(lazy) != 0)
        return "wg_audit_norm_map failed the second time";
    return NULL;
}

#endif
