/* PLACEHOLDER: replaced by the owner of `wegate check-config`. */
#include <stdio.h>

#include "gateway/cli/cli.h"

int wg_cli_check_config(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "wegate check-config: not built yet\n");
    return WG_EXIT_USAGE;
}
