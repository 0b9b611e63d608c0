/* Subcommands of the wegate binary: one file each in gateway/cli/.
 * Exit codes everywhere: 0 success, 1 the input failed a check, 2 usage error (usage on stderr). */
#ifndef WG_CLI_H
#define WG_CLI_H

#define WG_EXIT_OK 0
#define WG_EXIT_CHECK 1
#define WG_EXIT_USAGE 2

#include <stdio.h>

#include "gateway/config/config.h"

/* For the subcommands whose only option is --config FILE (and --help): parses argv (argv[0]
 * is the subcommand) and loads the config (wg_config_path). Returns it (the caller frees it), or
 * NULL with *exit_code set: WG_EXIT_OK after --help (usage on stdout), WG_EXIT_USAGE after a
 * bad argument (usage on stderr), WG_EXIT_CHECK when the config failed to load (the reason on
 * stderr, after "wegate COMMAND: "). */
wg_config_t *wg_cli_load_config(int argc, char **argv, const char *command, void (*usage)(FILE *),
                                int *exit_code);

/* argv[0] is the subcommand's name; each returns the process exit code. */
int wg_cli_serve(int argc, char **argv);
int wg_cli_check_config(int argc, char **argv);
int wg_cli_migrate(int argc, char **argv);
int wg_cli_crypto(int argc, char **argv);
int wg_cli_rules(int argc, char **argv);
int wg_cli_outbox(int argc, char **argv);
int wg_cli_notify(int argc, char **argv);
/* `wegate rules push-intercept` (gateway/cli/rules_push.c); argv[0] is "push-intercept". */
int wg_cli_rules_push_intercept(int argc, char **argv);

#endif
