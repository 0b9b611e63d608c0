/* wegate: WeCom webhook gateway and chat-archive auditor. Dispatches to a subcommand. */
#include <stdio.h>
#include <string.h>

#include "gateway/cli/cli.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"serve", wg_cli_serve, "run the gateway (HTTP server, callback endpoint, workers)"},
    {"check-config", wg_cli_check_config, "validate a config file and print a summary"},
    {"migrate", wg_cli_migrate, "apply the database migrations"},
    {"crypto", wg_cli_crypto, "sign, encrypt or decrypt a WeCom callback (debugging)"},
    {"rules", wg_cli_rules, "check, compile, test, bench or export audit rules"},
    {"outbox", wg_cli_outbox, "list outbox rows or re-queue a dead one"},
    {"notify", wg_cli_notify, "queue one message on a channel (test a channel)"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: wegate <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-13s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'wegate <command> --help' describes one command.\n"
                 "Exit codes: 0 success, 1 the input failed a check, 2 usage error.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return WG_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return WG_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("wegate %s\n", WG_VERSION);
        return WG_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "wegate: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return WG_EXIT_USAGE;
}
