/* Fuzz target: wg_config_parse on arbitrary bytes. A config either loads (then its summary and
 * lookups must work) or fails with a one-line error. config.c is included, not linked, so that
 * libFuzzer's coverage instrumentation (added to this file only) covers the parser too. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/config/config.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *devnull;
    if (!devnull && !(devnull = fopen("/dev/null", "w")))
        abort();
    char err[256];
    err[0] = '\0';
    wg_config_t *cfg = wg_config_parse((const char *)data, size, err, sizeof err);
    if (!cfg) {
        /* Every failure says why, on one line. */
        if (err[0] == '\0' || strchr(err, '\n'))
            abort();
        return 0;
    }
    wg_config_print_summary(cfg, devnull);
    for (size_t i = 0; i < cfg->n_corps; i++) {
        const wg_config_corp_t *c = &cfg->corps[i];
        if (wg_config_find_corp(cfg, c->name, strlen(c->name)) != c)
            abort(); /* names are unique */
        if (wg_config_find_receiver(c, "", 0) != &c->main || c->main.n_receive_ids == 0)
            abort();
        for (size_t j = 0; j < c->n_receivers; j++) {
            const wg_config_receiver_t *r = &c->receivers[j];
            if (wg_config_find_receiver(c, r->name, strlen(r->name)) != r || !r->n_receive_ids)
                abort();
        }
    }
    wg_config_free(cfg);
    return 0;
}
