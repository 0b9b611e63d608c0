/* PLACEHOLDER: replaced by the owner of `wegate migrate`. */
#include <stdio.h>

#include "gateway/cli/cli.h"

int wg_cli_migrate(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "wegate migrate: not built yet\n");
    return WG_EXIT_USAGE;
}
