/* `wegate outbox`: operators look at the outbox (list) and re-queue a dead row (retry). Blocking
 * libpq against database.url; the running gateways deliver (gateway/outbox/outbox.h). */
#include <errno.h>
#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/cli/cli.h"
#include "gateway/config/config.h"

#define DEFAULT_LIMIT 100
#define MAX_LIMIT 100000

static const char usage_text[] =
    "usage: wegate outbox list [--status S] [--corp C] [--limit N] [--config FILE]\n"
    "       wegate outbox retry ID [--config FILE]\n"
    "\n"
    "list   the newest outbox rows (N, default 100), one a line, tab-separated:\n"
    "       id, corp, channel, target, status, attempts, created_at, next_attempt_at,\n"
    "       sent_at, last_error (\"-\" when empty). S is pending, sending, sent or dead.\n"
    "retry  re-queues a dead (or pending) row: status pending, due now, attempts from 0.\n"
    "       A sent row is never sent again, and a sending row is in a worker's hands: both\n"
    "       are refused.\n"
    "\n"
    "  --config FILE  the config (default: $" WG_CONFIG_ENV ", else " WG_CONFIG_DEFAULT_PATH ")\n"
    "\n"
    "Exit codes: 0 done, 1 bad config, database error, or a row that cannot be retried,\n"
    "2 usage error.\n";

static int usage_error(const char *fmt, const char *arg)
{
    fputs("wegate outbox: ", stderr);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    fputs(usage_text, stderr);
    return WG_EXIT_USAGE;
}

/* The config's database, or NULL with the reason on stderr. */
static PGconn *connect_db(const char *config_flag)
{
    char err[512];
    wg_config_t *cfg = wg_config_load(wg_config_path(config_flag), err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "wegate outbox: %s\n", err);
        return NULL;
    }
    char timeout[16];
    snprintf(timeout, sizeof timeout, "%d", (cfg->database_connect_timeout_ms + 999) / 1000);
    const char *const kw[] = {"application_name", "connect_timeout", "dbname", NULL};
    const char *const val[] = {"wegate-cli", timeout, cfg->database_url, NULL};
    PGconn *conn = PQconnectdbParams(kw, val, 1);
    wg_config_free(cfg);
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "wegate outbox: cannot connect to the database: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

static void print_field(const char *s)
{
    if (!s || !*s) {
        fputc('-', stdout);
        return;
    }
    for (; *s; s++) /* one line per row, one tab between fields */
        fputc(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s, stdout);
}

static int cmd_list(const char *status, const char *corp, long limit, const char *config)
{
    PGconn *conn = connect_db(config);
    if (!conn)
        return WG_EXIT_CHECK;
    char lim[24];
    snprintf(lim, sizeof lim, "%ld", limit);
    const char *values[3] = {status, corp, lim};
    PGresult *res = PQexecParams(
        conn,
        "SELECT id, corp, channel, target, status, attempts, "
        "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
        "CASE WHEN status IN ('pending', 'sending') THEN "
        "  to_char(next_attempt_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') END, "
        "to_char(sent_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), last_error "
        "FROM outbox WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR corp = $2) "
        "ORDER BY id DESC LIMIT $3::int8",
        3, NULL, values, NULL, NULL, 0);
    int rc = WG_EXIT_OK;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "wegate outbox list: %s", PQresultErrorMessage(res));
        rc = WG_EXIT_CHECK;
    } else {
        puts("id\tcorp\tchannel\ttarget\tstatus\tattempts\tcreated_at\tnext_attempt_at\tsent_at\t"
             "last_error");
        for (int t = 0; t < PQntuples(res); t++) {
            for (int c = 0; c < 10; c++) {
                if (c)
                    fputc('\t', stdout);
                print_field(PQgetisnull(res, t, c) ? NULL : PQgetvalue(res, t, c));
            }
            fputc('\n', stdout);
        }
        if (fflush(stdout) != 0) {
            perror("wegate outbox list: stdout");
            rc = WG_EXIT_CHECK;
        }
    }
    PQclear(res);
    PQfinish(conn);
    return rc;
}

static int cmd_retry(const char *id, const char *config)
{
    PGconn *conn = connect_db(config);
    if (!conn)
        return WG_EXIT_CHECK;
    const char *values[1] = {id};
    /* The current status decides, in one statement: only dead and pending rows move. */
    PGresult *res = PQexecParams(
        conn,
        "WITH cur AS (SELECT id, status FROM outbox WHERE id = $1::int8 FOR UPDATE), "
        "upd AS (UPDATE outbox o SET status = 'pending', attempts = 0, next_attempt_at = now(), "
        "        locked_until = NULL FROM cur WHERE o.id = cur.id "
        "        AND cur.status IN ('dead', 'pending') RETURNING o.id) "
        "SELECT cur.status, (SELECT count(*) FROM upd), pg_notify('outbox', '') FROM cur",
        1, NULL, values, NULL, NULL, 0);
    int rc = WG_EXIT_CHECK;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "wegate outbox retry: %s", PQresultErrorMessage(res));
    } else if (PQntuples(res) == 0) {
        fprintf(stderr, "wegate outbox retry: no outbox row %s\n", id);
    } else {
        const char *was = PQgetvalue(res, 0, 0);
        if (strcmp(PQgetvalue(res, 0, 1), "1") == 0) {
            printf("outbox row %s re-queued (was %s)\n", id, was);
            rc = fflush(stdout) == 0 ? WG_EXIT_OK : WG_EXIT_CHECK;
        } else if (strcmp(was, "sent") == 0) {
            fprintf(stderr,
                    "wegate outbox retry: row %s was sent; a sent row is never sent "
                    "again (queue a new notification instead)\n",
                    id);
        } else {
            fprintf(stderr,
                    "wegate outbox retry: row %s is %s: a worker holds it (if that worker died, "
                    "the row is claimed again when its lease runs out)\n",
                    id, was);
        }
    }
    PQclear(res);
    PQfinish(conn);
    return rc;
}

int wg_cli_outbox(int argc, char **argv)
{
    if (argc < 2)
        return usage_error("%s", "missing command: list or retry");
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage_text, stdout);
        return WG_EXIT_OK;
    }
    if (strcmp(cmd, "list") != 0 && strcmp(cmd, "retry") != 0)
        return usage_error("unknown command '%s'", cmd);
    const char *status = NULL, *corp = NULL, *config = NULL, *id = NULL;
    long limit = DEFAULT_LIMIT;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_text, stdout);
            return WG_EXIT_OK;
        } else if (strcmp(a, "--config") == 0 && has_val) {
            config = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            config = a + 9;
        } else if (strcmp(cmd, "list") == 0 && strcmp(a, "--status") == 0 && has_val) {
            status = argv[++i];
            if (strcmp(status, "pending") != 0 && strcmp(status, "sending") != 0 &&
                strcmp(status, "sent") != 0 && strcmp(status, "dead") != 0)
                return usage_error("--status '%s': want pending, sending, sent or dead", status);
        } else if (strcmp(cmd, "list") == 0 && strcmp(a, "--corp") == 0 && has_val) {
            corp = argv[++i];
        } else if (strcmp(cmd, "list") == 0 && strcmp(a, "--limit") == 0 && has_val) {
            char *end;
            errno = 0;
            limit = strtol(argv[++i], &end, 10);
            if (errno || *end || end == argv[i] || limit < 1 || limit > MAX_LIMIT)
                return usage_error("--limit '%s': want 1 to 100000", argv[i]);
        } else if (a[0] == '-') {
            return usage_error("unknown option or missing value: '%s'", a);
        } else if (strcmp(cmd, "retry") == 0 && !id) {
            id = a;
            size_t digits = strspn(id, "0123456789");
            if (digits == 0 || digits > 18 || id[digits])
                return usage_error("ID '%s': want a row id (a positive integer)", id);
        } else {
            return usage_error("unexpected argument '%s'", a);
        }
    }
    if (config && !config[0])
        return usage_error("%s", "--config needs a file name");
    if (strcmp(cmd, "list") == 0)
        return cmd_list(status, corp, limit, config);
    if (!id)
        return usage_error("%s", "retry takes a row ID");
    return cmd_retry(id, config);
}
