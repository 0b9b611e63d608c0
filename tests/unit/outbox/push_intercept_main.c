/* `wegate rules push-intercept` as a program of its own, for the outbox integration tests while
 * gateway/cli/rules.c does not route the verb yet (test_outbox_channels.py prefers the real
 * command when `wegate rules push-intercept --help` answers). Run as: outbox_push_intercept
 * push-intercept ARGS... */
#include "gateway/cli/cli.h"

int main(int argc, char **argv)
{
    return argc < 2 ? 2 : wg_cli_rules_push_intercept(argc - 1, argv + 1);
}
