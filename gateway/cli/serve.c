/* PLACEHOLDER: replaced by the owner of `wegate serve`. */
#include <stdio.h>

#include "gateway/cli/cli.h"

int wg_cli_serve(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "wegate serve: not built yet\n");
    return WG_EXIT_USAGE;
}
