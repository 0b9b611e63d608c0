/* The argument handling shared by the subcommands whose only option is --config. */
#include <stdio.h>
#include <string.h>

#include "gateway/cli/cli.h"

static int usage_error(const char *command, void (*usage)(FILE *), const char *fmt, const char *arg)
{
    fprintf(stderr, "wegate %s: ", command);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    usage(stderr);
    return WG_EXIT_USAGE;
}

wg_config_t *wg_cli_load_config(int argc, char **argv, const char *command, void (*usage)(FILE *),
                                int *exit_code)
{
    const char *flag = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            *exit_code = WG_EXIT_OK;
            return NULL;
        } else if (strcmp(a, "--config") == 0) {
            if (i + 1 >= argc) {
                *exit_code = usage_error(command, usage, "%s needs a file name", a);
                return NULL;
            }
            flag = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            flag = a + 9;
        } else {
            *exit_code = usage_error(command, usage, "unexpected argument '%s'", a);
            return NULL;
        }
        if (flag && !flag[0]) {
            *exit_code = usage_error(command, usage, "%s", "--config needs a file name");
            return NULL;
        }
    }
    char err[512];
    wg_config_t *cfg = wg_config_load(wg_config_path(flag), err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "wegate %s: %s\n", command, err);
        *exit_code = WG_EXIT_CHECK;
    }
    return cfg;
}
