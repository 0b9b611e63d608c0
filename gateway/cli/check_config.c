/* `wegate check-config`: validates a config file and prints a summary without secrets. */
#include <stdio.h>
#include <string.h>

#include "gateway/cli/cli.h"
#include "gateway/config/config.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: wegate check-config [--config FILE]\n"
                 "\n"
                 "Validates the config file and prints a summary of it (never a secret).\n"
                 "\n"
                 "  --config FILE  the config (default: $" WG_CONFIG_ENV
                 ", else " WG_CONFIG_DEFAULT_PATH ")\n"
                 "  --help         this text\n"
                 "\n"
                 "Exit codes: 0 valid, 1 invalid or unreadable (the reason on stderr), 2 usage "
                 "error.\n");
}

int wg_cli_check_config(int argc, char **argv)
{
    int code;
    wg_config_t *cfg = wg_cli_load_config(argc, argv, "check-config", usage, &code);
    if (!cfg)
        return code;
    wg_config_print_summary(cfg, stdout);
    wg_config_free(cfg);
    if (fflush(stdout) != 0) {
        perror("wegate check-config: stdout");
        return WG_EXIT_CHECK;
    }
    return WG_EXIT_OK;
}
