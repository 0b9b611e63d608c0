/* Fuzz target for audit/normalize.c: any bytes, normalized under three views (plain; an ignore
 * set with digit folding; a wide ignore set), must give valid UTF-8 with a map inside the input,
 * monotonic, idempotent, and no copy exactly when nothing changes. abort() on any violation. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "audit/normalize.h"
#include "tests/unit/audit_normalize/norm_invariants.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t ign1[] = {' ', '*', '-', '.', '/', '_'};
    static const uint32_t ign2[] = {'1', 0xB7, 0x3000, 0x4E2D, 0xFFFD, 0x1F600};
    const wg_audit_view_opts_t views[] = {
        {NULL, 0, 0},
        {ign1, sizeof ign1 / sizeof ign1[0], 1},
        {ign2, sizeof ign2 / sizeof ign2[0], 0},
    };
    wg_audit_norm_t n, again;
    wg_audit_norm_init(&n);
    wg_audit_norm_init(&again);
    for (size_t k = 0; k < sizeof views / sizeof views[0]; k++) {
        const char *bad = "out of memory";
        if (wg_audit_normalize(&n, &views[k], (const char *)data, size) == 0)
            bad = norm_inv_check(&n, &views[k], (const char *)data, size, &again);
        if (bad) {
            fprintf(stderr, "fuzz_normalize: view %zu: %s\n", k, bad);
            abort();
        }
        /* The rule-word helper agrees with the scanner's normalization. */
        size_t dl;
        char *d = wg_audit_normalize_dup(&views[k], (const char *)data, size, &dl);
        if (!d || dl != n.len || memcmp(d, n.text, dl) != 0 || d[dl] != '\0') {
            fprintf(stderr, "fuzz_normalize: view %zu: dup differs\n", k);
            abort();
        }
        free(d);
    }
    wg_audit_norm_free(&n);
    wg_audit_norm_free(&again);
    return 0;
}
