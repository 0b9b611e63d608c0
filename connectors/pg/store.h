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
    size_t xml_len;
} wg_pg_event_row_t;

typedef enum wg_pg_result {
    WG_PG_STORED = 0,    /* committed now */
    WG_PG_DUPLICATE,     /* already committed earlier (same corp and dedupe_key) */
    WG_PG_UNAVAILABLE,   /* not connected, connection lost, or the commit failed */
    WG_PG_TIMEOUT,       /* not committed within the commit timeout (it may still commit) */
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
} wg_pg_store_options_t;

/* Group-commit statistics, for metrics and the benchmark. */
typedef struct wg_pg_store_stats {
    uint64_t commits;        /* transactions committed */
    uint64_t rows;           /* rows sent in committed transactions */
    uint64_t failures;       /* transactions that failed */
    uint64_t batch_hist[10]; /* batches of 1, 2-3, 4-7, 8-15, ... 256+, by power of two */
} wg_pg_store_stats_t;

typedef struct wg_pg_store wg_pg_store_t;

/* Starts connecting (asynchronously) on base. NULL only on a bad url or out of memory. */
wg_pg_store_t *wg_pg_store_new(struct event_base *base, const char *conninfo,
                               const wg_pg_store_options_t *opts, char *err, size_t errlen);
/* Fails every pending insert with WG_PG_UNAVAILABLE (callbacks run before it returns). */
void wg_pg_store_free(wg_pg_store_t *st);

/* Queues row; cb runs once when its fate is known. Returns 0, or -1 (cb will not run) when the
 * store is not connected: the caller answers 503 at once. */
int wg_pg_store_insert(wg_pg_store_t *st, const wg_pg_event_row_t *row, wg_pg_insert_cb cb,
                       void *arg);

/* 1 when connected and the schema is migrated (for /readyz). */
int wg_pg_store_ready(const wg_pg_store_t *st);
void wg_pg_store_get_stats(const wg_pg_store_t *st, wg_pg_store_stats_t *out);

/* Applies the numbered migrations (connectors/pg/migrations/NNN_name.sql, compiled into the
 * binary) not yet recorded in schema_migrations, each in its own transaction, in order, under
 * an advisory lock so that concurrent instances do not race. Blocking: for `wegate migrate`
 * and `serve` start. *applied gets the count applied now. */
int wg_pg_migrate(const char *conninfo, int *applied, char *err, size_t errlen);

#endif
