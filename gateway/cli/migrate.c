/* `wegate migrate`: applies the database migrations not yet applied (connectors/pg). */
#include <stdio.h>
#include <string.h>

#include "connectors/pg/store.h"
#include "gateway/cli/cli.h"
#include "gateway/config/config.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: wegate migrate [--config FILE]\n"
            "\n"
            "Applies the schema migrations not yet recorded in schema_migrations, each once, in\n"
            "order, each in its own transaction, and prints how many were applied. Safe to run\n"
            "again, and beside running gateways (an advisory lock serializes them).\n"
            "\n"
            "  --config FILE  the config (default: $" WG_CONFIG_ENV ", else " WG_CONFIG_DEFAULT_PATH
            ")\n"
            "  --help         this text\n"
            "\n"
            "Exit codes: 0 done, 1 bad config or database error (the reason on stderr), 2 usage "
            "error.\n");
}

int wg_cli_migrate(int argc, char **argv)
{
    int code;
    wg_config_t *cfg = wg_cli_load_config(argc, argv, "migrate", usage, &code);
    if (!cfg)
        return code;
    char err[512];
    int applied = 0;
    int rc = wg_pg_migrate(cfg->database_url, &applied, err, sizeof err);
    wg_config_free(cfg);
    if (rc != 0) {
        fprintf(stderr, "wegate migrate: %s\n", err);
        return WG_EXIT_CHECK;
    }
    printf("applied %d migration%s\n", applied, applied == 1 ? "" : "s");
    if (fflush(stdout) != 0) {
        perror("wegate migrate: stdout");
        return WG_EXIT_CHECK;
    }
    return WG_EXIT_OK;
}
