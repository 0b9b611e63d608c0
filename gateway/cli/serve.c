/* `wegate serve`: loads the config, applies the migrations, runs the HTTP server until SIGTERM
 * or SIGINT (gateway/server/server.h).
 *
 * Database down at start: the gateway starts anyway (WeCom needs it up to get 503s and retry
 * rather than connection errors). The failed migrations are logged and retried in the
 * background with backoff; each worker's store keeps reconnecting; callbacks get 503 and
 * /readyz says 503 until the store is connected and the schema migrated. */
#include <stdio.h>
#include <string.h>

#include "connectors/pg/store.h"
#include "gateway/cli/cli.h"
#include "gateway/config/config.h"
#include "gateway/log.h"
#include "gateway/server/server.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: wegate serve [--config FILE]\n"
            "\n"
            "Runs the gateway: applies the database migrations, then serves the WeCom callback\n"
            "endpoints, /healthz and /readyz until SIGTERM or SIGINT (in-flight requests finish\n"
            "within http.shutdown_grace_ms; a second signal stops at once). Logs go to stderr.\n"
            "\n"
            "  --config FILE  the config (default: $" WG_CONFIG_ENV ", else " WG_CONFIG_DEFAULT_PATH
            ")\n"
            "  --help         this text\n"
            "\n"
            "Exit codes: 0 stopped by a signal, 1 bad config or could not start, 2 usage error.\n");
}

int wg_cli_serve(int argc, char **argv)
{
    int code;
    wg_config_t *cfg = wg_cli_load_config(argc, argv, "serve", usage, &code);
    if (!cfg)
        return code;
    const char *path = cfg->path;
    char err[512];
    wg_log_set_level(cfg->log_level);
    wg_log(WG_LOG_INFO, "starting", "version=%s config=%s workers=%d corps=%zu", WG_VERSION, path,
           cfg->workers, cfg->n_corps);

    wg_server_options_t opts = {0};
    int applied = 0;
    if (wg_pg_migrate(cfg->database_url, &applied, err, sizeof err) == 0) {
        wg_log(WG_LOG_INFO, "migrations applied", "count=%d", applied);
    } else {
        char text[512];
        wg_log(WG_LOG_WARN, "migrations failed; serving anyway, retrying in the background",
               "error=\"%s\"", wg_text_for_log(text, sizeof text, err));
        opts.migrate_pending = 1;
    }

    int rc = wg_server_run(cfg, &opts, err, sizeof err);
    if (rc != 0) {
        char text[512];
        wg_log(WG_LOG_ERROR, "server failed", "error=\"%s\"",
               wg_text_for_log(text, sizeof text, err));
    } else
        wg_log(WG_LOG_INFO, "stopped", "exit=%d", WG_EXIT_OK);
    wg_config_free(cfg);
    return rc == 0 ? WG_EXIT_OK : WG_EXIT_CHECK;
}
