/* PLACEHOLDER: replaced by the owner of `wegate rules`. */
#include <stdio.h>

#include "gateway/cli/cli.h"

int wg_cli_rules(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "wegate rules: not built yet\n");
    return WG_EXIT_USAGE;
}
