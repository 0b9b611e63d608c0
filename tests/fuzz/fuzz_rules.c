/* Fuzz target: the rule-set loader and the scanner together. Input: a rule-set JSON document,
 * optionally followed by a NUL byte and a message text. A set that compiles scans the text, is
 * serialized, loaded back and must scan it to the same hits. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"

#define MAX_INPUT 8192 /* Hyperscan compiles are slow; big inputs teach the fuzzer nothing */

static size_t scan_count(wg_audit_scanner_t *sc, wg_audit_ruleset_t *rs, const char *text,
                         size_t len, int room)
{
    wg_audit_msg_t m = {0};
    m.text = text;
    m.len = len;
    m.msgtype = room ? "redpacket" : "text";
    m.from_role = room ? WG_AUDIT_ROLE_CUSTOMER : WG_AUDIT_ROLE_EMPLOYEE;
    m.from = "u1";
    m.room = room;
    m.corp = "demo";
    m.amount_fen = 50000;
    m.event = room ? "del_follow_user" : NULL;
    m.link_url = room ? "https://evil.example.net/" : NULL;
    wg_audit_result_t res;
    char err[WG_AUDIT_ERR_MAX];
    if (wg_audit_scan(sc, rs, &m, &res, err) != 0)
        return (size_t)-1;
    for (size_t i = 0; i < res.n_hits; i++) {
        const wg_audit_hit_t *h = &res.hits[i];
        if (h->has_span && (h->start >= h->end || h->end > len || h->excerpt_start > h->start ||
                            h->excerpt_end < h->end || h->excerpt_end > len))
            abort();
        if (i > 0 && res.hits[i - 1].has_span && h->has_span && res.hits[i - 1].start > h->start)
            abort();
    }
    return res.n_hits;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_INPUT)
        return 0;
    const char *json = (const char *)data;
    size_t jl = size;
    const char *text = "";
    size_t tl = 0;
    const uint8_t *nul = memchr(data, 0, size);
    if (nul) {
        jl = (size_t)(nul - data);
        text = (const char *)nul + 1;
        tl = size - jl - 1;
    }
    char err[WG_AUDIT_ERR_MAX];
    wg_audit_ruleset_t *rs = wg_audit_ruleset_compile(json, jl, err);
    if (!rs) {
        if (strlen(err) == 0)
            abort(); /* every failure says why */
        return 0;
    }
    wg_audit_scanner_t *sc = wg_audit_scanner_new(0);
    if (!sc)
        abort();
    size_t a = scan_count(sc, rs, text, tl, 0), b = scan_count(sc, rs, text, tl, 1);
    char *bytes = NULL;
    size_t blen = 0;
    if (wg_audit_ruleset_serialize(rs, &bytes, &blen, err) == 0) {
        wg_audit_ruleset_t *ld = wg_audit_ruleset_load_compiled(bytes, blen, json, jl, err);
        if (!ld)
            abort(); /* what this build wrote, it reads */
        if (scan_count(sc, ld, text, tl, 0) != a || scan_count(sc, ld, text, tl, 1) != b)
            abort();
        wg_audit_ruleset_unref(ld);
        free(bytes);
    }
    wg_audit_scanner_free(sc);
    wg_audit_ruleset_unref(rs);
    return 0;
}
