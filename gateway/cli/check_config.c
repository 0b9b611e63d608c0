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

static int usage_error(const char *fmt, const char *arg)
{
    fputs("wegate check-config: ", stderr);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    usage(stderr);
    return WG_EXIT_USAGE;
}

int wg_cli_check_config(int argc, char **argv)
{
    const char *flag = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return WG_EXIT_OK;
        } else if (strcmp(a, "--config") == 0) {
            if (i + 1 >= argc)
                return usage_error("%s needs a file name", a);
            flag = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            flag = a + 9;
        } else {
            return usage_error("unexpected argument '%s'", a);
        }
        if (flag && !flag[0])
            return usage_error("%s", "--config needs a file name");
    }

    char err[512];
    wg_config_t *cfg = wg_config_load(wg_config_path(flag), err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "wegate check-config: %s\n", err);
        return WG_EXIT_CHECK;
    }
    wg_config_print_summary(cfg, stdout);
    wg_config_free(cfg);
    if (fflush(stdout) != 0) {
        perror("wegate check-config: stdout");
        return WG_EXIT_CHECK;
    }
    return WG_EXIT_OK;
}
