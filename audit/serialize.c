/* Serialized rule sets (`wegate rules compile -o`): Hyperscan's serialized databases plus what
 * is needed to trust them. Layout (integers little-endian):
 *
 *   0   8  magic "WGAUDIT\0"          64  8  CPU features the databases need (HS_CPU_FEATURES_*)
 *   8   4  format version (1)         72  8  rule-set hash (FNV-1a 64 of the canonical JSON)
 *   12  4  zero                       80  8  input hash (what was handed to Hyperscan)
 *   16 48  hs_version(), NUL padded   88  8  canonical JSON length, then 4 bytes view count,
 *                                             4 zero; 104: the canonical JSON
 *   then per view: 8-byte length + literal database, 8-byte length + regex database (0: none)
 *   last 8 bytes: FNV-1a 64 of everything before them.
 *
 * Loading parses the embedded JSON again (cheap) and deserializes the databases: no Hyperscan
 * compile, so none of the compiler's heap in the loading process. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/internal.h"

#define MAGIC "WGAUDIT"
#define FORMAT 1
#define HDR 104

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)get64((const unsigned char[8]){p[0], p[1], p[2], p[3], 0, 0, 0, 0});
}

static void features_text(uint64_t f, char *buf, size_t n)
{
    snprintf(buf, n, "%s%s%s%s", f & HS_CPU_FEATURES_AVX2 ? " AVX2" : "",
             f & HS_CPU_FEATURES_AVX512 ? " AVX512" : "",
             f & HS_CPU_FEATURES_AVX512VBMI ? " AVX512VBMI" : "", f ? "" : " (none)");
}

int wg_audit_ruleset_serialize(const wg_audit_ruleset_t *rs, char **out, size_t *out_len,
                               char err[WG_AUDIT_ERR_MAX])
{
    *out = NULL;
    *out_len = 0;
    size_t nb = rs->n_views * 2;
    char **blobs = calloc(nb ? nb : 1, sizeof *blobs);
    size_t *lens = calloc(nb ? nb : 1, sizeof *lens);
    unsigned char *buf = NULL;
    int status = -1;
    if (!blobs || !lens) {
        wg__err(err, "out of memory");
        goto out;
    }
    size_t total = HDR + rs->canon_len + 8;
    for (size_t i = 0; i < rs->n_views; i++) {
        hs_database_t *dbs[2] = {rs->views[i].lit_db, rs->views[i].re_db};
        for (int k = 0; k < 2; k++) {
            if (dbs[k] && hs_serialize_database(dbs[k], &blobs[2 * i + (size_t)k],
                                                &lens[2 * i + (size_t)k]) != HS_SUCCESS) {
                wg__err(err, "Hyperscan: cannot serialize a database");
                goto out;
            }
            total += 8 + lens[2 * i + (size_t)k];
        }
    }
    buf = calloc(1, total);
    if (!buf) {
        wg__err(err, "out of memory");
        goto out;
    }
    hs_platform_info_t plat;
    if (hs_populate_platform(&plat) != HS_SUCCESS) {
        wg__err(err, "Hyperscan: cannot read this platform");
        goto out;
    }
    memcpy(buf, MAGIC, 8);
    put32(buf + 8, FORMAT);
    snprintf((char *)buf + 16, 48, "%s", hs_version());
    put64(buf + 64, plat.cpu_features);
    put64(buf + 72, rs->hash);
    put64(buf + 80, rs->input_hash);
    put64(buf + 88, rs->canon_len);
    put32(buf + 96, (uint32_t)rs->n_views);
    memcpy(buf + HDR, rs->canon, rs->canon_len);
    size_t p = HDR + rs->canon_len;
    for (size_t i = 0; i < nb; i++) {
        put64(buf + p, lens[i]);
        if (lens[i])
            memcpy(buf + p + 8, blobs[i], lens[i]);
        p += 8 + lens[i];
    }
    put64(buf + p, wg__fnv1a64(WG_FNV_INIT, buf, p));
    *out = (char *)buf;
    *out_len = total;
    buf = NULL; /* the caller owns it now */
    status = 0;
out:
    if (blobs)
        for (size_t i = 0; i < nb; i++)
            free(blobs[i]);
    free(blobs);
    free(lens);
    free(buf);
    return status;
}

static int load_db(const unsigned char *b, size_t n, hs_database_t **db, char *err)
{
    hs_error_t rc = hs_deserialize_database((const char *)b, n, db);
    if (rc == HS_SUCCESS)
        return 0;
    char *info = NULL;
    hs_serialized_database_info((const char *)b, n, &info);
    const char *why = rc == HS_DB_VERSION_ERROR    ? "built by another Hyperscan version"
                      : rc == HS_DB_PLATFORM_ERROR ? "built for another platform"
                      : rc == HS_DB_MODE_ERROR     ? "not a block-mode database"
                      : rc == HS_NOMEM             ? "out of memory"
                                                   : "corrupt";
    wg__err(err, "compiled rules: a Hyperscan database is %s (%s; this is %s)", why,
            info ? info : "unreadable", hs_version());
    free(info);
    return -1;
}

wg_audit_ruleset_t *wg_audit_ruleset_load_compiled(const void *bytes, size_t len,
                                                   const char *rules_json, size_t json_len,
                                                   char err[WG_AUDIT_ERR_MAX])
{
    const unsigned char *b = bytes;
    if (len < HDR + 8 || memcmp(b, MAGIC, 8) != 0) {
        wg__err(err, "compiled rules: not a wegate compiled rule set");
        return NULL;
    }
    if (get32(b + 8) != FORMAT) {
        wg__err(err, "compiled rules: format %u, this build reads %d", get32(b + 8), FORMAT);
        return NULL;
    }
    if (get64(b + len - 8) != wg__fnv1a64(WG_FNV_INIT, b, len - 8)) {
        wg__err(err, "compiled rules: corrupt or truncated (checksum mismatch)");
        return NULL;
    }
    char ver[49];
    memcpy(ver, b + 16, 48);
    ver[48] = '\0';
    if (strcmp(ver, hs_version()) != 0) {
        wg__err(err, "compiled rules: built with Hyperscan %s, this is %s: recompile", ver,
                hs_version());
        return NULL;
    }
    if (hs_valid_platform() != HS_SUCCESS) {
        wg__err(err, "compiled rules: this CPU cannot run Hyperscan (it needs SSSE3)");
        return NULL;
    }
    hs_platform_info_t plat;
    uint64_t need = get64(b + 64);
    if (hs_populate_platform(&plat) != HS_SUCCESS || (need & ~plat.cpu_features) != 0) {
        char want[64], have[64];
        features_text(need, want, sizeof want);
        features_text(plat.cpu_features, have, sizeof have);
        wg__err(err, "compiled rules: built for CPU features%s, this CPU has%s: recompile here",
                want, have);
        return NULL;
    }
    uint64_t hash = get64(b + 72), in_hash = get64(b + 80), canon_len = get64(b + 88);
    uint32_t n_views = get32(b + 96);
    if (canon_len > len - HDR - 8) {
        wg__err(err, "compiled rules: corrupt (rule-set length)");
        return NULL;
    }
    if (rules_json) {
        char e[WG_AUDIT_ERR_MAX] = "";
        uint64_t want = wg_audit_ruleset_hash_json(rules_json, json_len, e);
        if (want == 0 && e[0]) {
            wg__err(err, "rule set: %s", e);
            return NULL;
        }
        if (want != hash) {
            wg__err(err,
                    "compiled rules: rule-set hash mismatch (file %016llx, rule set %016llx): "
                    "compiled from another rule set",
                    (unsigned long long)hash, (unsigned long long)want);
            return NULL;
        }
    }
    wg_audit_ruleset_t *rs = wg__ruleset_parse((const char *)b + HDR, canon_len, err);
    if (!rs)
        return NULL;
    if (rs->hash != hash || rs->input_hash != in_hash || rs->n_views != n_views) {
        wg__err(err, "compiled rules: the databases do not match this build's reading of the "
                     "rules (another wegate version?): recompile");
        goto fail;
    }
    size_t p = HDR + canon_len;
    for (size_t i = 0; i < rs->n_views; i++) {
        wg_view_t *v = &rs->views[i];
        hs_database_t **dbs[2] = {&v->lit_db, &v->re_db};
        int want[2] = {v->n_lits > 0, v->n_re > 0};
        for (int k = 0; k < 2; k++) {
            if (len - 8 - p < 8) {
                wg__err(err, "compiled rules: truncated");
                goto fail;
            }
            uint64_t n = get64(b + p);
            p += 8;
            if (n > len - 8 - p || (n > 0) != want[k]) {
                wg__err(err, "compiled rules: corrupt (database %zu)", 2 * i + (size_t)k);
                goto fail;
            }
            if (n > 0 && load_db(b + p, (size_t)n, dbs[k], err) != 0)
                goto fail;
            p += (size_t)n;
        }
    }
    if (p != len - 8) {
        wg__err(err, "compiled rules: corrupt (trailing bytes)");
        goto fail;
    }
    wg__ruleset_finish_stats(rs);
    return rs;
fail:
    wg__ruleset_free(rs);
    return NULL;
}
