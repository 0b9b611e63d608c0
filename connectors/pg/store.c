/* Asynchronous store for callback events: one non-blocking libpq connection driven by one
 * libevent loop. Inserts queue up; whenever no statement is in flight the queue goes out as one
 * INSERT ... SELECT FROM unnest(arrays) ON CONFLICT DO NOTHING RETURNING (a single autocommit
 * statement: one transaction, one WAL flush for the whole batch), so the rows that arrive during a
 * commit are committed together in the next one. Commit timeouts, loss of the connection and
 * reconnection with backoff are handled here; the caller only sees one callback per insert. */
#include "connectors/pg/store.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_CONNECT_TIMEOUT_MS 3000
#define DEFAULT_COMMIT_TIMEOUT_MS 3000
#define DEFAULT_MAX_BATCH 256
#define DEFAULT_RECONNECT_MIN_MS 100
#define DEFAULT_RECONNECT_MAX_MS 5000
#define DEFAULT_MAX_QUEUE 65536
/* A batch stops growing past this many bytes of row data (one row always goes, whatever its
 * size): bounds the parameter buffer and libpq's output buffer. */
#define BATCH_BYTES_MAX (4u * 1024 * 1024)
/* The parameter buffer is given back after a batch that needed more than this. */
#define PARAM_BUF_KEEP (1u * 1024 * 1024)
#define ERR_MAX 256
/* Longest string accepted in a row (callback bodies are capped far below this). */
#define TEXT_MAX (64u * 1024 * 1024)

/* Built-in type OIDs (catalog/pg_type_d.h, stable across versions). */
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_TEXT 25
#define OID_BYTEA_ARRAY 1001
#define OID_TEXT_ARRAY 1009
#define OID_INT8_ARRAY 1016

/* Text columns of a row, in the order they are kept in a pending row. */
enum {
    COL_CORP,
    COL_RECEIVER,
    COL_MSG_TYPE,
    COL_EVENT,
    COL_CHANGE_TYPE,
    COL_USER_ID,
    COL_EXTERNAL_USER_ID,
    COL_CHAT_ID,
    COL_MSG_ID,
    COL_AGENT_ID,
    COL_XML,
    NTEXT
};

#define NPARAMS 13
#define PARAM_KEY 2
#define PARAM_CREATE_TIME 3

/* Parameter i (0-based) of insert_sql: which text column it carries, or PARAM_KEY/CREATE_TIME. */
static const int param_col[NPARAMS] = {
    COL_CORP,
    COL_RECEIVER,
    -1,
    -1,
    COL_MSG_TYPE,
    COL_EVENT,
    COL_CHANGE_TYPE,
    COL_USER_ID,
    COL_EXTERNAL_USER_ID,
    COL_CHAT_ID,
    COL_MSG_ID,
    COL_AGENT_ID,
    COL_XML,
};

static const char insert_sql[] =
    "INSERT INTO callback_events (corp, receiver, dedupe_key, create_time, msg_type, event, "
    "change_type, user_id, external_user_id, chat_id, msg_id, agent_id, xml) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::int8[], $5::text[], "
    "$6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], "
    "$13::text[]) "
    "ON CONFLICT (corp, dedupe_key) DO NOTHING RETURNING corp, dedupe_key";

/* Parameter types of insert_sql: binary one-dimensional arrays. */
static const Oid insert_types[NPARAMS] = {
    OID_TEXT_ARRAY, OID_TEXT_ARRAY, OID_BYTEA_ARRAY, OID_INT8_ARRAY, OID_TEXT_ARRAY,
    OID_TEXT_ARRAY, OID_TEXT_ARRAY, OID_TEXT_ARRAY,  OID_TEXT_ARRAY, OID_TEXT_ARRAY,
    OID_TEXT_ARRAY, OID_TEXT_ARRAY, OID_TEXT_ARRAY,
};

/* insert_sql is prepared once per connection: parsing and planning it for every batch cost
 * about as much again as executing it (needs a session: direct, or session pooling). */
#define INSERT_STMT "wg_pg_insert_events"

/* The first query on a new connection: durability setting and schema version. */
static const char check_sql[] = "SELECT current_setting('synchronous_commit'), "
                                "EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1::int)";

#define TEXT_NULL UINT32_MAX

/* One insert, from wg_pg_store_insert until its callback has run. Owned by the queue or the
 * batch in flight, and by a delivery list while its callback is due: refs counts those owners
 * (a row answered by a timeout stays in the batch in flight until the statement ends). */
typedef struct pending {
    struct pending *next;      /* queue link */
    struct pending *done_next; /* delivery list link */
    int refs;
    wg_pg_insert_cb cb; /* NULL once answered */
    void *arg;
    wg_pg_insert_cb done_cb; /* the answer to deliver */
    void *done_arg;
    wg_pg_result_t done_result;
    const char *done_err;
    uint64_t deadline_us; /* monotonic: answered TIMEOUT after this */
    int dup_of;           /* in a batch: index of an earlier row with the same key, or -1 */
    int stored;           /* in a batch: returned by RETURNING */
    int has_create_time;
    int64_t create_time;
    size_t size; /* bytes of text */
    uint8_t key[32];
    uint32_t len[NTEXT]; /* TEXT_NULL for SQL NULL */
    const char *val[NTEXT];
    char data[];
} pending_t;

/* Answers collected during one pass, delivered once the store is consistent again. The list
 * and the error text live on the stack of the handler, so callbacks may free the store. */
typedef struct delivery {
    pending_t *head;
    pending_t **tail;
    char err[ERR_MAX];
} delivery_t;

typedef enum st_state {
    ST_CONNECTING, /* PQconnectPoll in progress; the socket event follows its READ/WRITE wish */
    ST_CHECKING,   /* connected; check_sql in flight (inserts still refused) */
    ST_PREPARING,  /* check passed; preparing insert_sql (inserts still refused) */
    ST_READY,      /* serving inserts; at most one batch in flight */
    ST_WAITING,    /* disconnected; the timer starts the next attempt after the backoff */
    ST_CLOSED,     /* wg_pg_store_free: delivering the last answers */
} st_state_t;

struct wg_pg_store {
    struct event_base *base;
    wg_pg_store_options_t opt;
    char *conninfo;
    PGconn *conn;
    st_state_t state;

    struct event *ev_io; /* the connection's socket; READ, plus WRITE while libpq has output */
    evutil_socket_t io_fd;
    short io_flags;
    int io_added;
    int want_write;
    struct event *ev_timer;  /* connect timeout (until READY) or backoff (WAITING) */
    struct event *ev_commit; /* the oldest unanswered row's commit deadline */
    struct event *ev_kick;   /* activated by an insert: send a batch at the end of this pass */
    int backoff_ms;
    uint32_t rng;

    int query_active; /* a statement is in flight (check, prepare or a batch) */
    int query_failed;
    char query_err[ERR_MAX];
    int check_ok;

    pending_t *q_head, *q_tail;
    size_t q_len;
    pending_t **batch; /* the batch in flight, in insertion order */
    int batch_n;
    int batch_timed; /* rows batch[0..batch_timed) have been answered TIMEOUT */
    int match_from;  /* where the next RETURNING row is likely to be found */

    unsigned char *buf; /* parameter scratch, reused across batches */
    size_t buf_cap;

    int latest_version;
    char version_text[16];
    wg_pg_store_stats_t stats;
    char last_error[ERR_MAX];
};

const char *wg_pg_result_name(wg_pg_result_t r)
{
    switch (r) {
    case WG_PG_STORED:
        return "stored";
    case WG_PG_DUPLICATE:
        return "duplicate";
    case WG_PG_UNAVAILABLE:
        return "unavailable";
    case WG_PG_TIMEOUT:
        return "timeout";
    }
    return "unknown";
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void set_timeval_ms(struct timeval *tv, uint64_t ms)
{
    tv->tv_sec = (time_t)(ms / 1000);
    tv->tv_usec = (suseconds_t)(ms % 1000) * 1000;
}

/* Copies a libpq message without its trailing newline(s). */
static void copy_msg(char *dst, size_t dstlen, const char *prefix, const char *msg)
{
    if (!msg || !*msg)
        msg = "unknown error";
    size_t n = 0;
    for (const char *s = prefix; *s && n + 1 < dstlen; s++)
        dst[n++] = *s;
    for (const char *s = msg; *s && n + 1 < dstlen; s++)
        dst[n++] = *s;
    dst[n] = '\0';
    while (n > 0 && (dst[n - 1] == '\n' || dst[n - 1] == '\r'))
        dst[--n] = '\0';
}

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* ---- validation ---- */

/* Strict UTF-8 as PostgreSQL checks it (pg_utf8_islegal): no overlong forms, no surrogates,
 * nothing past U+10FFFF, and no NUL (text cannot hold one). */
static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (n - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            const uint64_t hi = 0x8080808080808080ull, lo = 0x0101010101010101ull;
            if ((w & hi) == 0 && ((w - lo) & ~w & hi) == 0) {
                i += 8;
                continue;
            }
        }
        unsigned c = s[i];
        if (c == 0)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        unsigned min2 = 0x80, max2 = 0xbf;
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            if (c == 0xe0)
                min2 = 0xa0;
            else if (c == 0xed)
                max2 = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            if (c == 0xf0)
                min2 = 0x90;
            else if (c == 0xf4)
                max2 = 0x8f;
        } else {
            return 0;
        }
        if (n - i < len || s[i + 1] < min2 || s[i + 1] > max2)
            return 0;
        for (size_t k = 2; k < len; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xbf)
                return 0;
        i += len;
    }
    return 1;
}

static const char *const col_name[NTEXT] = {
    "corp",    "receiver", "msg_type", "event", "change_type", "user_id", "external_user_id",
    "chat_id", "msg_id",   "agent_id", "xml",
};

static void row_strings(const wg_pg_event_row_t *row, const char *v[NTEXT])
{
    v[COL_CORP] = row->corp;
    v[COL_RECEIVER] = row->receiver;
    v[COL_MSG_TYPE] = row->msg_type;
    v[COL_EVENT] = row->event;
    v[COL_CHANGE_TYPE] = row->change_type;
    v[COL_USER_ID] = row->user_id;
    v[COL_EXTERNAL_USER_ID] = row->external_user_id;
    v[COL_CHAT_ID] = row->chat_id;
    v[COL_MSG_ID] = row->msg_id;
    v[COL_AGENT_ID] = row->agent_id;
    v[COL_XML] = row->xml;
}

static size_t xml_length(const wg_pg_event_row_t *row)
{
    return row->xml_len ? row->xml_len : strlen(row->xml);
}

/* Fills len[] (TEXT_NULL for NULL) and checks the row; 0 or -1 with err. */
static int row_lengths(const wg_pg_event_row_t *row, const char *v[NTEXT], uint32_t len[NTEXT],
                       char *err, size_t errlen)
{
    if (!row) {
        snprintf(err, errlen, "no row");
        return -1;
    }
    row_strings(row, v);
    for (int c = 0; c < NTEXT; c++) {
        if (!v[c]) {
            if (c == COL_CORP || c == COL_RECEIVER || c == COL_XML) {
                snprintf(err, errlen, "%s is required", col_name[c]);
                return -1;
            }
            len[c] = TEXT_NULL;
            continue;
        }
        size_t n = c == COL_XML ? xml_length(row) : strlen(v[c]);
        if (n > TEXT_MAX) {
            snprintf(err, errlen, "%s is too long", col_name[c]);
            return -1;
        }
        if (!utf8_valid((const unsigned char *)v[c], n)) {
            snprintf(err, errlen, "%s is not valid UTF-8 (or holds a NUL byte)", col_name[c]);
            return -1;
        }
        len[c] = (uint32_t)n;
    }
    return 0;
}

int wg_pg_event_row_check(const wg_pg_event_row_t *row, char *err, size_t errlen)
{
    const char *v[NTEXT];
    uint32_t len[NTEXT];
    char buf[ERR_MAX];
    if (row_lengths(row, v, len, buf, sizeof buf) != 0) {
        if (err && errlen)
            snprintf(err, errlen, "%s", buf);
        return -1;
    }
    return 0;
}

/* ---- answers ---- */

static void delivery_init(delivery_t *d)
{
    d->head = NULL;
    d->tail = &d->head;
    d->err[0] = '\0';
}

static void pending_unref(pending_t *p)
{
    if (--p->refs == 0)
        free(p);
}

/* Answers p (once): moves its callback to d. The caller passes on its own reference to p, or
 * adds one (take_ref) when p stays where it is. err must outlive the delivery: a constant or
 * d->err. */
static void answer(delivery_t *d, pending_t *p, wg_pg_result_t r, const char *err, int take_ref)
{
    if (!p->cb) {
        if (!take_ref)
            pending_unref(p);
        return;
    }
    p->done_cb = p->cb;
    p->done_arg = p->arg;
    p->done_result = r;
    p->done_err = err;
    p->cb = NULL;
    if (take_ref)
        p->refs++;
    p->done_next = NULL;
    *d->tail = p;
    d->tail = &p->done_next;
}

/* Runs the collected callbacks. Touches nothing but the list: a callback may free the store. */
static void deliver(delivery_t *d)
{
    pending_t *p = d->head;
    d->head = NULL;
    while (p) {
        pending_t *next = p->done_next;
        wg_pg_insert_cb cb = p->done_cb;
        void *arg = p->done_arg;
        wg_pg_result_t r = p->done_result;
        const char *err = p->done_err;
        pending_unref(p);
        cb(arg, r, err);
        p = next;
    }
}

/* Fails the batch in flight and the queue with UNAVAILABLE. */
static void fail_all(wg_pg_store_t *st, delivery_t *d, const char *err)
{
    for (int i = 0; i < st->batch_n; i++)
        answer(d, st->batch[i], WG_PG_UNAVAILABLE, err, 0);
    st->batch_n = 0;
    st->batch_timed = 0;
    while (st->q_head) {
        pending_t *p = st->q_head;
        st->q_head = p->next;
        answer(d, p, WG_PG_UNAVAILABLE, err, 0);
    }
    st->q_tail = NULL;
    st->q_len = 0;
}

/* ---- timers and the socket event ---- */

static void on_io(evutil_socket_t fd, short what, void *arg);

static void io_set(wg_pg_store_t *st, evutil_socket_t fd, short flags, int force)
{
    if (!force && st->io_added && st->io_fd == fd && st->io_flags == flags)
        return;
    if (st->io_added)
        event_del(st->ev_io);
    st->io_added = 0;
    if (fd < 0)
        return;
    event_assign(st->ev_io, st->base, fd, flags | EV_PERSIST, on_io, st);
    if (event_add(st->ev_io, NULL) == 0)
        st->io_added = 1;
    st->io_fd = fd;
    st->io_flags = flags;
}

static void io_update(wg_pg_store_t *st)
{
    io_set(st, PQsocket(st->conn), EV_READ | (st->want_write ? EV_WRITE : 0), 0);
}

static void timer_set(struct event *ev, uint64_t ms)
{
    struct timeval tv;
    set_timeval_ms(&tv, ms);
    event_add(ev, &tv);
}

/* Keeps ev_commit armed for the oldest unanswered row. Rows are answered in insertion order
 * and deadlines grow with it, so the timer never needs moving later: it fires early at worst. */
static void commit_timer_arm(wg_pg_store_t *st)
{
    if (event_pending(st->ev_commit, EV_TIMEOUT, NULL))
        return;
    const pending_t *oldest = NULL;
    if (st->batch_timed < st->batch_n)
        oldest = st->batch[st->batch_timed];
    else if (st->q_head)
        oldest = st->q_head;
    if (!oldest)
        return;
    uint64_t now = now_us();
    uint64_t wait_us = oldest->deadline_us > now ? oldest->deadline_us - now : 0;
    struct timeval tv = {.tv_sec = (time_t)(wait_us / 1000000),
                         .tv_usec = (suseconds_t)(wait_us % 1000000)};
    event_add(st->ev_commit, &tv);
}

static void close_conn(wg_pg_store_t *st)
{
    io_set(st, -1, 0, 1);
    if (st->conn)
        PQfinish(st->conn);
    st->conn = NULL;
    st->query_active = 0;
    st->want_write = 0;
}

/* The connection is gone or unusable: answer everything UNAVAILABLE, close, retry later. */
static void fail_connection(wg_pg_store_t *st, delivery_t *d, const char *msg)
{
    if (st->state == ST_READY)
        st->stats.disconnects++;
    if (st->batch_n > 0 && st->query_active)
        st->stats.failures++;
    copy_msg(st->last_error, sizeof st->last_error, "", msg);
    if (!d->err[0])
        copy_msg(d->err, sizeof d->err, "database connection lost: ", msg);
    fail_all(st, d, d->err);
    close_conn(st);
    event_del(st->ev_timer);
    st->state = ST_WAITING;
    /* up to a quarter of jitter, so that the workers of an instance do not retry in step */
    st->rng = st->rng * 1103515245u + 12345u;
    uint64_t delay = (uint64_t)st->backoff_ms;
    delay += delay * ((st->rng >> 16) % 256) / 1024;
    timer_set(st->ev_timer, delay);
    st->backoff_ms = st->backoff_ms > st->opt.reconnect_max_ms / 2 ? st->opt.reconnect_max_ms
                                                                   : st->backoff_ms * 2;
}

static void start_connect(wg_pg_store_t *st, delivery_t *d)
{
    /* Entries before dbname may be overridden by the conninfo; those after it may not. */
    const char *const kw[] = {
        "application_name", "keepalives", "keepalives_idle", "keepalives_interval",
        "keepalives_count", "dbname",     "client_encoding", NULL};
    const char *const val[] = {"wegate", "1", "30", "10", "3", st->conninfo, "UTF8", NULL};
    st->conn = PQconnectStartParams(kw, val, 1);
    if (!st->conn) {
        fail_connection(st, d, "out of memory");
        return;
    }
    PQsetNoticeProcessor(st->conn, ignore_notice, NULL);
    if (PQstatus(st->conn) == CONNECTION_BAD) {
        fail_connection(st, d, PQerrorMessage(st->conn));
        return;
    }
    st->state = ST_CONNECTING;
    event_del(st->ev_timer);
    timer_set(st->ev_timer, (uint64_t)st->opt.connect_timeout_ms);
    /* PQconnectPoll is first called as if it had answered PGRES_POLLING_WRITING. */
    io_set(st, PQsocket(st->conn), EV_WRITE, 1);
}

static void flush_output(wg_pg_store_t *st, delivery_t *d)
{
    int r = PQflush(st->conn);
    if (r < 0) {
        fail_connection(st, d, PQerrorMessage(st->conn));
        return;
    }
    st->want_write = r == 1;
    io_update(st);
}

static void connect_step(wg_pg_store_t *st, delivery_t *d)
{
    switch (PQconnectPoll(st->conn)) {
    case PGRES_POLLING_READING:
        /* The socket may have changed (another host or address, SSL retry): always re-add. */
        io_set(st, PQsocket(st->conn), EV_READ, 1);
        return;
    case PGRES_POLLING_WRITING:
        io_set(st, PQsocket(st->conn), EV_WRITE, 1);
        return;
    case PGRES_POLLING_OK:
        break;
    default:
        fail_connection(st, d, PQerrorMessage(st->conn));
        return;
    }
    if (PQsetnonblocking(st->conn, 1) != 0) {
        fail_connection(st, d, PQerrorMessage(st->conn));
        return;
    }
    const char *params[1] = {st->version_text};
    if (!PQsendQueryParams(st->conn, check_sql, 1, NULL, params, NULL, NULL, 0)) {
        fail_connection(st, d, PQerrorMessage(st->conn));
        return;
    }
    st->state = ST_CHECKING;
    st->query_active = 1;
    st->query_failed = 0;
    st->check_ok = 0;
    io_set(st, PQsocket(st->conn), EV_READ, 1);
    flush_output(st, d);
}

/* ---- batches ---- */

static unsigned char *put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
    return p + 4;
}

/* Header of a one-dimensional array in binary format (array_recv). */
static unsigned char *put_array_header(unsigned char *p, int has_null, uint32_t elem_oid,
                                       uint32_t n)
{
    p = put_u32(p, 1);
    p = put_u32(p, has_null ? 1 : 0);
    p = put_u32(p, elem_oid);
    p = put_u32(p, n);
    return put_u32(p, 1);
}

static int same_key(const pending_t *a, const pending_t *b)
{
    return memcmp(a->key, b->key, sizeof a->key) == 0 && a->len[COL_CORP] == b->len[COL_CORP] &&
           memcmp(a->val[COL_CORP], b->val[COL_CORP], a->len[COL_CORP]) == 0;
}

/* Sends the head of the queue as one statement. Two rows of one batch with the same (corp,
 * dedupe_key) would be one row for PostgreSQL anyway: only the first is sent, the other is
 * answered DUPLICATE with it, so that RETURNING maps back to exactly one row. */
static void send_batch(wg_pg_store_t *st, delivery_t *d)
{
    int n = 0;
    size_t bytes = 0;
    while (st->q_head && n < st->opt.max_batch) {
        pending_t *p = st->q_head;
        if (n > 0 && bytes + p->size > BATCH_BYTES_MAX)
            break;
        st->q_head = p->next;
        p->next = NULL;
        st->q_len--;
        bytes += p->size;
        st->batch[n++] = p;
    }
    if (!st->q_head)
        st->q_tail = NULL;
    st->batch_n = n;
    st->batch_timed = 0;
    st->match_from = 0;

    /* Sizes of the 13 arrays; only rows that are not intra-batch duplicates are sent. */
    size_t total = 0, sizes[NPARAMS];
    int has_null[NPARAMS] = {0};
    uint32_t sent = 0;
    for (int j = 0; j < NPARAMS; j++)
        sizes[j] = 20;
    for (int i = 0; i < n; i++) {
        pending_t *p = st->batch[i];
        p->dup_of = -1;
        p->stored = 0;
        for (int k = 0; k < i; k++) {
            if (st->batch[k]->dup_of < 0 && same_key(st->batch[k], p)) {
                p->dup_of = k;
                break;
            }
        }
        if (p->dup_of >= 0)
            continue;
        sent++;
        for (int j = 0; j < NPARAMS; j++) {
            if (j == PARAM_KEY) {
                sizes[j] += 4 + sizeof p->key;
            } else if (j == PARAM_CREATE_TIME) {
                sizes[j] += p->has_create_time ? 12 : 4;
                has_null[j] |= !p->has_create_time;
            } else {
                uint32_t l = p->len[param_col[j]];
                sizes[j] += 4 + (l == TEXT_NULL ? 0 : l);
                has_null[j] |= l == TEXT_NULL;
            }
        }
    }
    for (int j = 0; j < NPARAMS; j++)
        total += sizes[j];
    if (total > st->buf_cap) {
        free(st->buf);
        st->buf_cap = 0;
        st->buf = malloc(total);
        if (!st->buf) {
            fail_connection(st, d, "out of memory");
            return;
        }
        st->buf_cap = total;
    }

    const char *values[NPARAMS];
    int lengths[NPARAMS], formats[NPARAMS];
    unsigned char *w = st->buf;
    for (int j = 0; j < NPARAMS; j++) {
        unsigned char *start = w;
        uint32_t elem = j == PARAM_KEY ? OID_BYTEA : j == PARAM_CREATE_TIME ? OID_INT8 : OID_TEXT;
        w = put_array_header(w, has_null[j], elem, sent);
        for (int i = 0; i < n; i++) {
            const pending_t *p = st->batch[i];
            if (p->dup_of >= 0)
                continue;
            if (j == PARAM_KEY) {
                w = put_u32(w, sizeof p->key);
                memcpy(w, p->key, sizeof p->key);
                w += sizeof p->key;
            } else if (j == PARAM_CREATE_TIME) {
                if (!p->has_create_time) {
                    w = put_u32(w, UINT32_MAX);
                    continue;
                }
                uint64_t v = (uint64_t)p->create_time;
                w = put_u32(w, 8);
                w = put_u32(w, (uint32_t)(v >> 32));
                w = put_u32(w, (uint32_t)v);
            } else {
                int c = param_col[j];
                w = put_u32(w, p->len[c]);
                if (p->len[c] != TEXT_NULL) {
                    memcpy(w, p->val[c], p->len[c]);
                    w += p->len[c];
                }
            }
        }
        values[j] = (const char *)start;
        lengths[j] = (int)(w - start);
        formats[j] = 1;
    }

    int ok = PQsendQueryPrepared(st->conn, INSERT_STMT, NPARAMS, values, lengths, formats, 1);
    if (st->buf_cap > PARAM_BUF_KEEP) {
        free(st->buf);
        st->buf = NULL;
        st->buf_cap = 0;
    }
    if (!ok) {
        fail_connection(st, d, PQerrorMessage(st->conn));
        return;
    }
    st->query_active = 1;
    st->query_failed = 0;
    flush_output(st, d);
}

/* Marks the batch rows named by a RETURNING result as stored. */
static void match_returned(wg_pg_store_t *st, const PGresult *res)
{
    int nt = PQntuples(res);
    for (int t = 0; t < nt; t++) {
        const char *corp = PQgetvalue(res, t, 0);
        int corp_len = PQgetlength(res, t, 0);
        const char *key = PQgetvalue(res, t, 1);
        if (PQgetlength(res, t, 1) != 32)
            continue;
        /* Rows usually come back in the order they were sent. */
        for (int k = 0; k < st->batch_n; k++) {
            int i = (st->match_from + k) % st->batch_n;
            pending_t *p = st->batch[i];
            if (p->dup_of >= 0 || p->stored || (int)p->len[COL_CORP] != corp_len)
                continue;
            if (memcmp(p->key, key, 32) == 0 && memcmp(p->val[COL_CORP], corp, corp_len) == 0) {
                p->stored = 1;
                st->match_from = (i + 1) % st->batch_n;
                break;
            }
        }
    }
}

static void batch_done(wg_pg_store_t *st, delivery_t *d)
{
    int n = st->batch_n;
    if (st->query_failed) {
        st->stats.failures++;
        copy_msg(d->err, sizeof d->err, "commit failed: ", st->query_err);
        for (int i = 0; i < n; i++)
            answer(d, st->batch[i], WG_PG_UNAVAILABLE, d->err, 0);
    } else {
        st->stats.commits++;
        st->stats.rows += (uint64_t)n;
        int bin = 0;
        while (bin < 9 && (n >> (bin + 1)) != 0)
            bin++;
        st->stats.batch_hist[bin]++;
        for (int i = 0; i < n; i++) {
            pending_t *p = st->batch[i];
            int stored = p->dup_of < 0 && p->stored;
            answer(d, p, stored ? WG_PG_STORED : WG_PG_DUPLICATE, NULL, 0);
        }
    }
    st->batch_n = 0;
    st->batch_timed = 0;
}

static void check_done(wg_pg_store_t *st, delivery_t *d)
{
    if (st->query_failed || !st->check_ok) {
        fail_connection(st, d, st->query_err);
        return;
    }
    if (!PQsendPrepare(st->conn, INSERT_STMT, insert_sql, NPARAMS, insert_types)) {
        fail_connection(st, d, PQerrorMessage(st->conn));
        return;
    }
    st->state = ST_PREPARING;
    st->query_active = 1;
    st->query_failed = 0;
    flush_output(st, d);
}

static void prepare_done(wg_pg_store_t *st, delivery_t *d)
{
    if (st->query_failed) {
        fail_connection(st, d, st->query_err);
        return;
    }
    event_del(st->ev_timer);
    st->state = ST_READY;
    st->backoff_ms = st->opt.reconnect_min_ms;
    st->last_error[0] = '\0';
}

static void check_result(wg_pg_store_t *st, const PGresult *res)
{
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        /* 42P01 undefined_table: schema_migrations is not there at all */
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        st->query_failed = 1;
        copy_msg(st->query_err, sizeof st->query_err,
                 state && strcmp(state, "42P01") == 0 ? "schema not migrated (run wegate migrate): "
                                                      : "schema check failed: ",
                 PQresultErrorMessage(res));
        return;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "off") == 0) {
        snprintf(st->query_err, sizeof st->query_err,
                 "synchronous_commit is off: commits would not be durable");
        return;
    }
    if (strcmp(PQgetvalue(res, 0, 1), "t") != 0) {
        snprintf(st->query_err, sizeof st->query_err,
                 "schema not migrated (run wegate migrate): version %d missing",
                 st->latest_version);
        return;
    }
    st->check_ok = 1;
}

/* Reads what the server sent and finishes the statement in flight when it is complete. */
static void read_results(wg_pg_store_t *st, delivery_t *d)
{
    if (!PQconsumeInput(st->conn)) {
        fail_connection(st, d, PQerrorMessage(st->conn));
        return;
    }
    while (st->query_active && !PQisBusy(st->conn)) {
        PGresult *res = PQgetResult(st->conn);
        if (!res) {
            st->query_active = 0;
            if (st->state == ST_READY) {
                batch_done(st, d);
                break;
            }
            if (st->state == ST_CHECKING)
                check_done(st, d);
            else
                prepare_done(st, d);
            if (st->state != ST_READY)
                return; /* preparing now, or failed */
            break;
        }
        if (st->state == ST_CHECKING) {
            check_result(st, res);
        } else if (st->state == ST_PREPARING) {
            if (PQresultStatus(res) != PGRES_COMMAND_OK && !st->query_failed) {
                st->query_failed = 1;
                copy_msg(st->query_err, sizeof st->query_err,
                         "prepare failed: ", PQresultErrorMessage(res));
            }
        } else if (PQresultStatus(res) == PGRES_TUPLES_OK) {
            match_returned(st, res);
        } else if (!st->query_failed) {
            st->query_failed = 1;
            copy_msg(st->query_err, sizeof st->query_err, "", PQresultErrorMessage(res));
        }
        PQclear(res);
    }
    if (PQstatus(st->conn) == CONNECTION_BAD) {
        fail_connection(st, d, PQerrorMessage(st->conn));
        return;
    }
    if (!st->query_active && st->q_head) {
        send_batch(st, d);
        if (st->state != ST_READY)
            return;
    }
    commit_timer_arm(st);
    io_update(st);
}

static void on_io(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    wg_pg_store_t *st = arg;
    delivery_t d;
    delivery_init(&d);
    if (st->state == ST_CONNECTING) {
        connect_step(st, &d);
    } else if (st->state == ST_CHECKING || st->state == ST_PREPARING || st->state == ST_READY) {
        if (st->want_write || (what & EV_WRITE)) {
            flush_output(st, &d);
        }
        if (st->conn && (what & EV_READ))
            read_results(st, &d);
    }
    deliver(&d); /* last: st may be gone after this */
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    wg_pg_store_t *st = arg;
    delivery_t d;
    delivery_init(&d);
    if (st->state == ST_WAITING) {
        start_connect(st, &d);
    } else if (st->state == ST_CONNECTING || st->state == ST_CHECKING ||
               st->state == ST_PREPARING) {
        char msg[64];
        snprintf(msg, sizeof msg, "connect timeout after %d ms", st->opt.connect_timeout_ms);
        fail_connection(st, &d, msg);
    }
    deliver(&d);
}

static void on_commit_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    wg_pg_store_t *st = arg;
    delivery_t d;
    delivery_init(&d);
    uint64_t now = now_us();
    static const char timeout_err[] = "commit timeout";
    while (st->batch_timed < st->batch_n && st->batch[st->batch_timed]->deadline_us <= now) {
        pending_t *p = st->batch[st->batch_timed++];
        if (p->cb)
            st->stats.timeouts++;
        answer(&d, p, WG_PG_TIMEOUT, timeout_err, 1); /* stays in the batch until it ends */
    }
    /* Queued rows that timed out are not sent at all: their caller has answered already. */
    while (st->q_head && st->q_head->deadline_us <= now) {
        pending_t *p = st->q_head;
        st->q_head = p->next;
        if (!st->q_head)
            st->q_tail = NULL;
        st->q_len--;
        st->stats.timeouts++;
        answer(&d, p, WG_PG_TIMEOUT, timeout_err, 0);
    }
    commit_timer_arm(st);
    deliver(&d);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    wg_pg_store_t *st = arg;
    delivery_t d;
    delivery_init(&d);
    if (st->state == ST_READY && !st->query_active && st->q_head)
        send_batch(st, &d);
    deliver(&d);
}

/* ---- public ---- */

wg_pg_store_t *wg_pg_store_new(struct event_base *base, const char *conninfo,
                               const wg_pg_store_options_t *opts, char *err, size_t errlen)
{
    char local[ERR_MAX];
    if (!err || !errlen) {
        err = local;
        errlen = sizeof local;
    }
    err[0] = '\0';
    if (!base || !conninfo) {
        snprintf(err, errlen, "no event base or connection string");
        return NULL;
    }
    char *perr = NULL;
    PQconninfoOption *parsed = PQconninfoParse(conninfo, &perr);
    if (!parsed) {
        copy_msg(err, errlen, "bad database url: ", perr ? perr : "out of memory");
        PQfreemem(perr);
        return NULL;
    }
    PQconninfoFree(parsed);

    size_t count = 0;
    const wg_pg_migration_t *migs = wg_pg_migrations(&count);
    wg_pg_store_t *st = calloc(1, sizeof *st);
    if (!st)
        goto nomem;
    st->base = base;
    if (opts)
        st->opt = *opts;
    if (st->opt.connect_timeout_ms <= 0)
        st->opt.connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
    if (st->opt.commit_timeout_ms <= 0)
        st->opt.commit_timeout_ms = DEFAULT_COMMIT_TIMEOUT_MS;
    if (st->opt.max_batch <= 0)
        st->opt.max_batch = DEFAULT_MAX_BATCH;
    if (st->opt.reconnect_min_ms <= 0)
        st->opt.reconnect_min_ms = DEFAULT_RECONNECT_MIN_MS;
    if (st->opt.reconnect_max_ms <= 0)
        st->opt.reconnect_max_ms = DEFAULT_RECONNECT_MAX_MS;
    if (st->opt.reconnect_max_ms < st->opt.reconnect_min_ms)
        st->opt.reconnect_max_ms = st->opt.reconnect_min_ms;
    if (st->opt.max_queue <= 0)
        st->opt.max_queue = DEFAULT_MAX_QUEUE;
    st->backoff_ms = st->opt.reconnect_min_ms;
    st->rng = (uint32_t)(uintptr_t)st ^ (uint32_t)now_us();
    st->io_fd = -1;
    st->latest_version = count ? migs[count - 1].version : 0;
    snprintf(st->version_text, sizeof st->version_text, "%d", st->latest_version);
    st->conninfo = strdup(conninfo);
    st->batch = calloc((size_t)st->opt.max_batch, sizeof *st->batch);
    st->ev_io = event_new(base, -1, 0, on_io, st);
    st->ev_timer = evtimer_new(base, on_timer, st);
    st->ev_commit = evtimer_new(base, on_commit_timer, st);
    st->ev_kick = event_new(base, -1, 0, on_kick, st);
    if (!st->conninfo || !st->batch || !st->ev_io || !st->ev_timer || !st->ev_commit ||
        !st->ev_kick)
        goto nomem;

    delivery_t d;
    delivery_init(&d);
    start_connect(st, &d); /* a failure here only schedules a retry; nothing to deliver */
    return st;

nomem:
    snprintf(err, errlen, "out of memory");
    wg_pg_store_free(st);
    return NULL;
}

void wg_pg_store_free(wg_pg_store_t *st)
{
    if (!st)
        return;
    delivery_t d;
    delivery_init(&d);
    fail_all(st, &d, "store closed");
    st->state = ST_CLOSED;
    if (st->conn)
        close_conn(st);
    /* Callbacks run while the store still exists (closed: inserts return -1). */
    deliver(&d);
    if (st->ev_io)
        event_free(st->ev_io);
    if (st->ev_timer)
        event_free(st->ev_timer);
    if (st->ev_commit)
        event_free(st->ev_commit);
    if (st->ev_kick)
        event_free(st->ev_kick);
    free(st->buf);
    free(st->batch);
    free(st->conninfo);
    free(st);
}

int wg_pg_store_insert(wg_pg_store_t *st, const wg_pg_event_row_t *row, wg_pg_insert_cb cb,
                       void *arg)
{
    if (!st || !cb || st->state != ST_READY || st->q_len >= (size_t)st->opt.max_queue)
        return -1;
    const char *v[NTEXT];
    uint32_t len[NTEXT];
    char err[ERR_MAX];
    if (row_lengths(row, v, len, err, sizeof err) != 0)
        return -1;
    size_t size = 0;
    for (int c = 0; c < NTEXT; c++)
        size += len[c] == TEXT_NULL ? 0 : (size_t)len[c] + 1;
    pending_t *p = malloc(sizeof *p + size);
    if (!p)
        return -1;
    p->next = NULL;
    p->done_next = NULL;
    p->refs = 1;
    p->cb = cb;
    p->arg = arg;
    p->deadline_us = now_us() + (uint64_t)st->opt.commit_timeout_ms * 1000u;
    p->dup_of = -1;
    p->stored = 0;
    p->has_create_time = row->has_create_time != 0;
    p->create_time = row->create_time;
    p->size = size;
    memcpy(p->key, row->dedupe_key, sizeof p->key);
    char *w = p->data;
    for (int c = 0; c < NTEXT; c++) {
        p->len[c] = len[c];
        if (len[c] == TEXT_NULL) {
            p->val[c] = NULL;
            continue;
        }
        memcpy(w, v[c], len[c]);
        w[len[c]] = '\0';
        p->val[c] = w;
        w += len[c] + 1;
    }
    if (st->q_tail)
        st->q_tail->next = p;
    else
        st->q_head = p;
    st->q_tail = p;
    st->q_len++;
    commit_timer_arm(st);
    /* Sent at the end of this pass of the loop, with whatever else arrives in it. */
    if (!st->query_active)
        event_active(st->ev_kick, EV_TIMEOUT, 0);
    return 0;
}

int wg_pg_store_ready(const wg_pg_store_t *st)
{
    return st && st->state == ST_READY;
}

void wg_pg_store_get_stats(const wg_pg_store_t *st, wg_pg_store_stats_t *out)
{
    if (!out)
        return;
    if (!st) {
        memset(out, 0, sizeof *out);
        return;
    }
    *out = st->stats;
}

const char *wg_pg_store_last_error(const wg_pg_store_t *st)
{
    return st ? st->last_error : "";
}

int wg_pg_store_backend_pid(const wg_pg_store_t *st)
{
    if (!st || !st->conn || st->state == ST_CONNECTING || st->state == ST_WAITING)
        return 0;
    return PQbackendPID(st->conn);
}
