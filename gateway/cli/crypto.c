/* PLACEHOLDER: replaced by the owner of `wegate crypto`. */
#include <stdio.h>

#include "gateway/cli/cli.h"

int wg_cli_crypto(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "wegate crypto: not built yet\n");
    return WG_EXIT_USAGE;
}
