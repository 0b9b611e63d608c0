/* PostgreSQL store for callback events: an asynchronous libpq connection driven from one
 * libevent loop, with group commit (the rows that arrive while a commit is in flight are
 * committed together in the next one), and reconnection with backoff. No logging: failures
 * reach the caller's callback as a message. One wg_pg_store_t per worker thread. */
#ifndef WG_PG_STORE_H
#define WG_PG_STORE_H

#include <stddef.h>
#include <stdint.h>

struct event_base;

/* One callback event to store (PROTOCOL.md §2: dedupe_key is SHA-256 of the decrypted inner
 * XML, unique per corp). Strings may be NULL (stored as SQL NULL) except corp, receiver, xml.
 * wg_pg_store_insert copies everything it needs before returning. */
typedef struct wg_pg_event_row {
    const char *corp;
    const char *receiver; /* "" for the corp-level endpoint */
    uint8_t dedupe_key[32];
    int64_t create_time;
    int has_create_time;
    const char *msg_type;
    const char *event;
    const char *change_type;
    const char *user_id;
    const char *external_user_id;
    const char *chat_id;
    const char *msg_id;
    const char *agent_id;
    const char *xml;
    size_t xml_len; /* bytes of xml; 0 means strlen(xml) */
} wg_pg_event_row_t;

typedef enum wg_pg_result {
    WG_PG_STORED = 0,  /* committed now */
    WG_PG_DUPLICATE,   /* already committed earlier (same corp and dedupe_key) */
    WG_PG_UNAVAILABLE, /* not connected, connection lost, or the commit failed */
    WG_PG_TIMEOUT,     /* not committed within the commit timeout (it may still commit) */
} wg_pg_result_t;

const char *wg_pg_result_name(wg_pg_result_t r);

/* Called exactly once per insert, on the store's event loop. err is NULL on success. */
typedef void (*wg_pg_insert_cb)(void *arg, wg_pg_result_t result, const char *err);

typedef struct wg_pg_store_options {
    int connect_timeout_ms; /* default 3000 */
    int commit_timeout_ms;  /* default 3000 */
    int max_batch;          /* rows per commit; default 256 */
    int reconnect_min_ms;   /* backoff start; default 100 */
    int reconnect_max_ms;   /* backoff ceiling; default 5000 */
    int max_queue;          /* rows waiting for a commit beyond which inserts are refused (-1);
                               default 65536 */
} wg_pg_store_options_t;

/* Group-commit statistics, for metrics and the benchmark. */
typedef struct wg_pg_store_stats {
    uint64_t commits;        /* transactions committed */
    uint64_t rows;           /* rows sent in committed transactions */
    uint64_t failures;       /* transactions that failed */
    uint64_t batch_hist[10]; /* batches of 1, 2-3, 4-7, 8-15, ... 256-511, 512+, by power of two */
    uint64_t timeouts;       /* inserts answered WG_PG_TIMEOUT */
    uint64_t disconnects;    /* connections lost after being ready */
} wg_pg_store_stats_t;

typedef struct wg_pg_store wg_pg_store_t;

/* Starts connecting (asynchronously) on base; opts may be NULL, and a field left 0 takes its
 * default. conninfo is a URL or key=value string; the store adds application_name=wegate and TCP
 * keepalives (the URL may override them) and forces client_encoding=UTF8. Ready once connected,
 * synchronous_commit is not off, and schema_migrations holds the latest compiled-in version;
 * until then (and after a loss) it retries with backoff. NULL only on a bad url or out of memory.
 * Note: libpq resolves a host name with a blocking getaddrinfo(); use an address (or hostaddr)
 * to keep the loop from ever blocking on DNS. */
wg_pg_store_t *wg_pg_store_new(struct event_base *base, const char *conninfo,
                               const wg_pg_store_options_t *opts, char *err, size_t errlen);
/* Fails every pending insert with WG_PG_UNAVAILABLE (callbacks run before it returns). */
void wg_pg_store_free(wg_pg_store_t *st);

/* Queues row; cb runs once when its fate is known. Returns 0, or -1 (cb will not run) when the
 * store is not connected: the caller answers 503 at once. -1 too when the queue is full
 * (max_queue) or the row is invalid (see wg_pg_event_row_check). cb never runs inside this call;
 * it may free its own request, insert again, or free the store. */
int wg_pg_store_insert(wg_pg_store_t *st, const wg_pg_event_row_t *row, wg_pg_insert_cb cb,
                       void *arg);

/* 0 when row can be stored: corp, receiver and xml present, xml without NUL bytes, every string
 * valid UTF-8 (PostgreSQL would otherwise reject the whole batch). Else -1 and err says why. */
int wg_pg_event_row_check(const wg_pg_event_row_t *row, char *err, size_t errlen);

/* 1 when connected and the schema is migrated (for /readyz). */
int wg_pg_store_ready(const wg_pg_store_t *st);
void wg_pg_store_get_stats(const wg_pg_store_t *st, wg_pg_store_stats_t *out);
/* Why the store is not ready (last connection or schema error), "" if none: for logs and
 * /readyz. Borrowed; valid until the next call into the store or a turn of its loop. */
const char *wg_pg_store_last_error(const wg_pg_store_t *st);
/* The server process id of the current connection, 0 when not connected (for logs and tests). */
int wg_pg_store_backend_pid(const wg_pg_store_t *st);

/* Applies the numbered migrations (connectors/pg/migrations/NNN_name.sql, compiled into the
 * binary) not yet recorded in schema_migrations, each in its own transaction, in order, under
 * an advisory lock so that concurrent instances do not race. Blocking: for `wegate migrate`
 * and `serve` start. *applied gets the count applied now. */
int wg_pg_migrate(const char *conninfo, int *applied, char *err, size_t errlen);

/* The migrations compiled in (generated from migrations/ at build time), in version order. A
 * migration runs inside a transaction: no BEGIN/COMMIT, no CREATE INDEX CONCURRENTLY. */
typedef struct wg_pg_migration {
    int version;      /* NNN of NNN_name.sql */
    const char *name; /* name of NNN_name.sql */
    const char *sql;
} wg_pg_migration_t;
const wg_pg_migration_t *wg_pg_migrations(size_t *count);

#endif
