/* Fuzz target: the scanner over arbitrary bytes (invalid UTF-8, huge runs, lone surrogates) with
 * a fixed rule set that uses every kind and option: ignore sets, digit folding, checks,
 * prefiltered regexes, behaviours and combos. Checks the result's invariants. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"

static const char rules[] =
    "{\"version\":1,\"rules\":["
    "{\"id\":\"w\",\"kind\":\"word\",\"severity\":\"info\",\"ignore\":\" -.*_/\","
    "\"words\":[\"微信\",\"红包\",\"QQ\",\"a\",\"aa\",\"转账\",\"ｘ\"]},"
    "{\"id\":\"w2\",\"kind\":\"word\",\"severity\":\"info\",\"words\":[\"微信\",\"b\"]},"
    "{\"id\":\"phone\",\"kind\":\"regex\",\"severity\":\"warning\",\"fold_digits\":true,"
    "\"pattern\":\"(?<![0-9])1[3-9][0-9]{9}(?![0-9])\"},"
    "{\"id\":\"card\",\"kind\":\"regex\",\"severity\":\"critical\",\"fold_digits\":true,"
    "\"check\":\"luhn\",\"pattern\":\"[0-9](?:[ -]?[0-9]){11,18}\"},"
    "{\"id\":\"id\",\"kind\":\"regex\",\"severity\":\"critical\",\"check\":\"cn_id\","
    "\"pattern\":\"[0-9]{17}[0-9Xx]\"},"
    "{\"id\":\"rep\",\"kind\":\"regex\",\"severity\":\"info\",\"pattern\":\"(.)\\\\1{3}\"},"
    "{\"id\":\"ws\",\"kind\":\"regex\",\"severity\":\"info\",\"pattern\":\"\\\\bqq\\\\b\"},"
    "{\"id\":\"link\",\"kind\":\"behaviour\",\"severity\":\"info\",\"link_allow\":[\"a.com\"]},"
    "{\"id\":\"c\",\"kind\":\"combo\",\"severity\":\"critical\",\"all_of\":[\"w\"],"
    "\"any_of\":[\"phone\",\"card\",\"link\"],\"none_of\":[\"w2\"]},"
    "{\"id\":\"cc\",\"kind\":\"combo\",\"severity\":\"critical\",\"any_of\":[\"c\",\"rep\"]}"
    "]}";

static wg_audit_ruleset_t *rs;
static wg_audit_scanner_t *sc;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!rs) {
        char err[WG_AUDIT_ERR_MAX];
        rs = wg_audit_ruleset_compile(rules, sizeof rules - 1, err);
        sc = wg_audit_scanner_new(1000);
        if (!rs || !sc)
            abort();
    }
    wg_audit_msg_t m = {0};
    m.text = (const char *)data;
    m.len = size;
    m.msgtype = "text";
    m.from_role = WG_AUDIT_ROLE_CUSTOMER;
    wg_audit_result_t res;
    char err[WG_AUDIT_ERR_MAX];
    if (wg_audit_scan(sc, rs, &m, &res, err) != 0)
        abort();
    for (size_t i = 0; i < res.n_hits; i++) {
        const wg_audit_hit_t *h = &res.hits[i];
        if (h->has_span &&
            (h->start >= h->end || h->end > size || h->text != (const char *)data + h->start))
            abort();
        for (size_t p = 0; p < h->n_parts; p++)
            if (h->parts[p].start >= h->parts[p].end || h->parts[p].end > size)
                abort();
    }
    if (res.n_hits > 1000)
        abort();
    return 0;
}
