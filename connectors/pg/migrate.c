/* Schema migrations: applies the compiled-in migrations (connectors/pg/migrations/NNN_name.sql)
 * not yet recorded in schema_migrations, in order, each in its own transaction together with its
 * schema_migrations row, under a session advisory lock so that instances starting at the same
 * time take turns. Blocking libpq: for `wegate migrate` and the start of `serve`. */
#include "connectors/pg/store.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* pg_advisory_lock key shared by every wegate instance: "wegate" in ASCII, then 1 (schema). */
#define MIGRATE_LOCK_KEY "8603396331423465473" /* 0x7765676174650001 */

static const char create_table_sql[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                       "version int PRIMARY KEY, "
                                       "name text NOT NULL, "
                                       "applied_at timestamptz NOT NULL DEFAULT now())";

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* err = "<what>: <libpq message without the trailing newline>" */
static void set_err(char *err, size_t errlen, const char *what, const char *msg)
{
    if (!msg || !*msg)
        msg = "unknown error";
    snprintf(err, errlen, "%s: %s", what, msg);
    size_t n = strlen(err);
    while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == '\r'))
        err[--n] = '\0';
}

/* Runs sql (no parameters); 0 when it gave status want, else -1 with err naming what. */
static int exec_ok(PGconn *conn, const char *sql, ExecStatusType want, const char *what, char *err,
                   size_t errlen)
{
    PGresult *res = PQexec(conn, sql);
    int ok = res && PQresultStatus(res) == want;
    if (!ok)
        set_err(err, errlen, what, res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
    PQclear(res);
    return ok ? 0 : -1;
}

static int version_applied(const int *versions, int n, int v)
{
    for (int i = 0; i < n; i++)
        if (versions[i] == v)
            return 1;
    return 0;
}

/* Applies one migration in a transaction; 0, or -1 with err naming it. */
static int apply_one(PGconn *conn, const wg_pg_migration_t *m, char *err, size_t errlen)
{
    char what[128];
    snprintf(what, sizeof what, "migration %03d_%s", m->version, m->name);
    if (exec_ok(conn, "BEGIN", PGRES_COMMAND_OK, what, err, errlen) != 0)
        return -1;
    PGresult *res = PQexec(conn, m->sql);
    ExecStatusType s = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        set_err(err, errlen, what, res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
        PQclear(res);
        goto rollback;
    }
    PQclear(res);
    if (PQtransactionStatus(conn) != PQTRANS_INTRANS) {
        set_err(err, errlen, what, "ended the transaction (no BEGIN/COMMIT in migrations)");
        goto rollback;
    }
    char version[16];
    snprintf(version, sizeof version, "%d", m->version);
    const char *params[2] = {version, m->name};
    res = PQexecParams(conn, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2,
                       NULL, params, NULL, NULL, 0);
    s = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (s != PGRES_COMMAND_OK) {
        set_err(err, errlen, what, res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
        PQclear(res);
        goto rollback;
    }
    PQclear(res);
    /* COMMIT of a failed transaction answers COMMAND_OK ("ROLLBACK"): check the tag too. */
    res = PQexec(conn, "COMMIT");
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK || strcmp(PQcmdStatus(res), "COMMIT")) {
        set_err(err, errlen, what, res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
        PQclear(res);
        return -1;
    }
    PQclear(res);
    return 0;

rollback:
    PQclear(PQexec(conn, "ROLLBACK"));
    return -1;
}

int wg_pg_migrate(const char *conninfo, int *applied, char *err, size_t errlen)
{
    char local[256];
    if (!err || !errlen) {
        err = local;
        errlen = sizeof local;
    }
    err[0] = '\0';
    if (applied)
        *applied = 0;
    if (!conninfo) {
        snprintf(err, errlen, "no database url");
        return -1;
    }

    int rc = -1, count = 0, nversions = 0, locked = 0;
    int *versions = NULL;
    PGresult *res = NULL;
    /* Entries before dbname may be overridden by the conninfo; those after it may not. */
    const char *const kw[] = {"connect_timeout", "application_name", "dbname", "client_encoding",
                              NULL};
    const char *const val[] = {"10", "wegate migrate", conninfo, "UTF8", NULL};
    PGconn *conn = PQconnectdbParams(kw, val, 1);
    if (!conn) {
        snprintf(err, errlen, "connect: out of memory");
        goto out;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        set_err(err, errlen, "connect", PQerrorMessage(conn));
        goto out;
    }
    PQsetNoticeProcessor(conn, ignore_notice, NULL);

    if (exec_ok(conn, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", PGRES_TUPLES_OK,
                "advisory lock", err, errlen) != 0)
        goto out;
    locked = 1;
    if (exec_ok(conn, create_table_sql, PGRES_COMMAND_OK, "create schema_migrations", err,
                errlen) != 0)
        goto out;

    res = PQexec(conn, "SELECT version FROM schema_migrations");
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        set_err(err, errlen, "read schema_migrations",
                res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
        goto out;
    }
    nversions = PQntuples(res);
    versions = calloc((size_t)nversions + 1, sizeof *versions);
    if (!versions) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (int i = 0; i < nversions; i++)
        versions[i] = atoi(PQgetvalue(res, i, 0));
    PQclear(res);
    res = NULL;

    size_t n = 0;
    const wg_pg_migration_t *migs = wg_pg_migrations(&n);
    for (size_t i = 0; i < n; i++) {
        if (version_applied(versions, nversions, migs[i].version))
            continue;
        if (apply_one(conn, &migs[i], err, errlen) != 0)
            goto out;
        count++;
    }
    rc = 0;

out:
    PQclear(res);
    free(versions);
    if (locked)
        PQclear(PQexec(conn, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")"));
    PQfinish(conn);
    if (applied)
        *applied = count;
    return rc;
}
