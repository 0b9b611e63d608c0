/* The outbox worker (see outbox.h): claim due rows, send them through their channels, record
 * the outcomes, on the background loop.
 *
 * One database connection, one statement at a time, and each statement is one round: it
 * records the outcomes collected since the last round and claims more rows, in one transaction
 * (one commit), so the database costs about one commit per batch, not per row. While a round is
 * in flight, sends go on from a small queue of claimed rows (at most two outbox.batch beyond the
 * outbox.concurrency in flight); a queued row whose lease is half gone is released rather than
 * sent late. Rounds run whenever the connection is idle and there are outcomes to record, or
 * room for rows and a reason to look (a timer tick, a NOTIFY, or a last claim that came back
 * full).
 *
 * Jobs live on one of four lists: queued (claimed, not yet sent), running (send in flight),
 * done (outcome known, not yet recorded), recording (in a round in flight).
 *
 * outbox.connections connections (lanes) run rounds side by side: while one lane's round waits
 * for its commit, another's records and claims, so the database's work spreads over its cores
 * and the sends never wait for a commit. Any lane records any row (the lease decides), and two
 * claims never take the same row (SKIP LOCKED). */
#include "gateway/outbox/outbox.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/log.h"
#include "gateway/outbox/db.h"
#include "gateway/server/server.h"

/* A round whose records fail (not a lost connection) is tried this often, then those outcomes
 * are dropped: the rows stay 'sending' and are sent again after their lease. */
#define RECORD_TRIES 3
/* Deferred rows get up to this fraction of their delay as jitter (1/10), so that rows held by
 * one quota window do not all come back in the same claim. */
#define DEFER_JITTER_DIV 10
#define LEASE_TEXT_MAX 64
#define DB_RECONNECT_MIN_MS 200
#define DB_RECONNECT_MAX_MS 10000
#define LOG_EVERY_S 10 /* repeated database errors: one line per this many seconds */

/* One round, prepared once per connection. $1..$6: the outcomes (id, status, delay_ms, undo,
 * err, lease): recorded only while the row is still ours (same lease), but 'sent' always (the
 * truth wins over a lapsed lease). $7: how many rows to claim (0: none), $8: the lease in ms,
 * $9: the corps served here. The claim never takes a row recorded in the same statement (all
 * parts see one snapshot, and a row updated twice in one statement is undefined). */
#define ROUND_STMT "wg_outbox_round"
#define ROUND_SQL                                                                                  \
    "WITH r AS (SELECT * FROM unnest($1, $2, $3, $4, $5, $6) "                                     \
    "           AS r(id, status, delay_ms, undo, err, lease)), "                                   \
    "rec AS (UPDATE outbox o SET status = r.status, attempts = o.attempts - r.undo, "              \
    "  next_attempt_at = CASE WHEN r.status = 'pending' "                                          \
    "    THEN now() + r.delay_ms * interval '1 millisecond' ELSE o.next_attempt_at END, "          \
    "  locked_until = NULL, last_error = COALESCE(r.err, o.last_error), "                          \
    "  sent_at = CASE WHEN r.status = 'sent' THEN now() ELSE NULL END "                            \
    "  FROM r WHERE o.id = r.id AND ((o.status = 'sending' AND o.locked_until = r.lease) "         \
    "                                OR (r.status = 'sent' AND o.status <> 'sent'))), "            \
    "due AS (SELECT id FROM outbox "                                                               \
    "  WHERE status IN ('pending', 'sending') AND next_attempt_at <= now() "                       \
    "    AND corp = ANY($9) AND id <> ALL($1) "                                                    \
    "  ORDER BY next_attempt_at LIMIT $7 FOR UPDATE SKIP LOCKED) "                                 \
    "UPDATE outbox o SET status = 'sending', attempts = o.attempts + 1, "                          \
    "  locked_until = now() + $8 * interval '1 millisecond', "                                     \
    "  next_attempt_at = now() + $8 * interval '1 millisecond' "                                   \
    "FROM due WHERE o.id = due.id "                                                                \
    "RETURNING o.id, o.corp, o.channel, o.target, o.payload::text, o.idempotency_key, "            \
    "o.attempts, o.locked_until"

/* The setup of every new connection. A round must touch only the rows it names: walk
 * outbox_due_idx in order and stop after $7 rows, and reach every other row by its primary
 * key. The round is planned once, generically (planning it each time cost as much as running
 * it), and a generic plan knows neither how many rows $7 claims nor how many outcomes $1..$6
 * carry; with a queue table's statistics, always stale and absent on a new table, it then picks
 * bitmap scans, sorts of every due row and hash joins over a sequential scan of the whole
 * table: ten to a hundred times slower as the table grows. So this session, which runs nothing
 * else, does without them. PREPARE also checks that the outbox table exists (migrations may
 * still be pending at start). */
static const char setup_sql[] =
    "SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_hashjoin = off; "
    "SET enable_mergejoin = off; SET plan_cache_mode = force_generic_plan; LISTEN outbox; "
    "PREPARE " ROUND_STMT " (int8[], text[], int8[], int4[], text[], timestamptz[], int8, int8, "
    "text[]) AS " ROUND_SQL;

typedef struct job {
    struct job *next, *prev; /* on one list */
    wg_outbox_t *ob;
    wg_outbox_row_t row; /* strings in data */
    char lease[LEASE_TEXT_MAX];
    uint64_t claimed_ms;    /* monotonic */
    wg_outbox_send_t *send; /* while running */
    wg_outbox_outcome_t outcome;
    int released; /* never sent: back to pending now, the attempt undone */
    int logged;   /* the outcome was logged and counted (a record may be sent again) */
    int record_tries;
    char data[];
} job_t;

typedef struct job_list {
    job_t *head, *tail;
    int n;
} job_list_t;

typedef struct lane {
    wg_outbox_t *ob;
    int id;
    wg_outbox_db_t *db;
    job_list_t recording; /* the records of the round in flight */
    int in_statement;
    int claim_limit; /* of the round in flight */
    uint64_t round_start_us;
    int was_ready;
} lane_t;

struct wg_outbox {
    struct event_base *base;
    const wg_config_t *cfg;
    wg_outbox_channels_t *channels;
    wg_outbox_policy_t policy;
    lane_t *lanes;
    int n_lanes;
    char *corps_array; /* "{a,b}": the corps this instance serves */
    char lease_ms[24];

    job_list_t queued, running, done;
    int want_claim;

    struct event *ev_tick; /* outbox.poll_ms */
    struct event *ev_kick; /* pump at the end of this pass */
    int draining;
    void (*drained)(void *arg);
    void *drained_arg;
    int drained_called;

    time_t last_db_log;
    uint32_t rng;
    wg_outbox_stats_t stats;
};

/* ---- policy ---- */

int64_t wg_outbox_backoff_ms(const wg_outbox_policy_t *p, int attempts, uint32_t rnd)
{
    int64_t max = p->backoff_max_ms, base = p->backoff_min_ms;
    for (int i = 1; i < attempts && base < max; i++)
        base *= 2;
    if (base > max)
        base = max;
    int64_t delay = base + (int64_t)(rnd % (uint32_t)(base / 2 + 1));
    return delay > max ? max : delay;
}

void wg_outbox_decide(const wg_outbox_policy_t *p, int attempts, const wg_outbox_outcome_t *o,
                      uint32_t rnd, wg_outbox_decision_t *out)
{
    memset(out, 0, sizeof *out);
    switch (o->verdict) {
    case WG_OUTBOX_SENT:
        out->status = "sent";
        return;
    case WG_OUTBOX_DEAD:
        out->status = "dead";
        return;
    case WG_OUTBOX_DEFER: {
        int64_t d = o->delay_ms > 0 ? o->delay_ms : p->backoff_min_ms;
        out->status = "pending";
        out->delay_ms = d + (int64_t)(rnd % (uint32_t)(d / DEFER_JITTER_DIV + 1));
        out->undo_attempt = 1;
        return;
    }
    case WG_OUTBOX_RETRY:
        if (attempts >= p->max_attempts) {
            out->status = "dead";
            out->gave_up = 1;
            return;
        }
        out->status = "pending";
        out->delay_ms = wg_outbox_backoff_ms(p, attempts, rnd);
        if (o->delay_ms > out->delay_ms)
            out->delay_ms = o->delay_ms;
        return;
    }
    out->status = "pending";
    out->delay_ms = p->backoff_min_ms;
}

/* ---- producers ---- */

int wg_outbox_enqueue(PGconn *conn, const wg_outbox_item_t *item, int64_t *id, char *err,
                      size_t errlen)
{
    const char *values[5] = {item->corp, item->channel, item->target ? item->target : "",
                             item->payload, item->key};
    *id = 0;
    PGresult *res = PQexecParams(conn, WG_OUTBOX_INSERT_SQL, 5, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s", PQresultErrorMessage(res));
        err[strcspn(err, "\n")] = '\0';
        PQclear(res);
        return -1;
    }
    if (PQntuples(res) == 1)
        *id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}

/* ---- lists ---- */

static void list_push(job_list_t *l, job_t *j) /* at the tail: FIFO */
{
    j->next = NULL;
    j->prev = l->tail;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
    l->n++;
}

static void list_remove(job_list_t *l, job_t *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        l->head = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else
        l->tail = j->prev;
    j->next = j->prev = NULL;
    l->n--;
}

static void list_free(job_list_t *l)
{
    while (l->head) {
        job_t *j = l->head;
        list_remove(l, j);
        if (j->send)
            wg_outbox_send_cancel(j->send);
        free(j);
    }
}

/* ---- text arrays for the record statement ---- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf_t;

static void sb_putn(sbuf_t *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_puts(sbuf_t *b, const char *s)
{
    sb_putn(b, s, strlen(s));
}

/* One element of a text-format array literal: NULL, or a quoted string with '"' and '\'
 * escaped. */
static void sb_elem(sbuf_t *b, const char *s)
{
    if (b->len > 1)
        sb_putn(b, ",", 1);
    if (!s) {
        sb_puts(b, "NULL");
        return;
    }
    sb_putn(b, "\"", 1);
    for (const char *c = s; *c; c++) {
        if (*c == '"' || *c == '\\')
            sb_putn(b, "\\", 1);
        sb_putn(b, c, 1);
    }
    sb_putn(b, "\"", 1);
}

/* ---- the worker ---- */

static void pump(wg_outbox_t *ob);

static void kick(wg_outbox_t *ob)
{
    event_active(ob->ev_kick, EV_TIMEOUT, 0);
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t now_ms(void)
{
    return now_us() / 1000u;
}

static uint32_t next_rand(wg_outbox_t *ob)
{
    ob->rng ^= ob->rng << 13;
    ob->rng ^= ob->rng >> 17;
    ob->rng ^= ob->rng << 5;
    return ob->rng;
}

static void log_db_error(wg_outbox_t *ob, const char *what, const char *err)
{
    time_t now = time(NULL);
    if (now - ob->last_db_log < LOG_EVERY_S)
        return;
    ob->last_db_log = now;
    char text[300];
    wg_log(WG_LOG_WARN, what, "error=\"%s\"", wg_text_for_log(text, sizeof text, err));
}

static void job_done(job_t *j, const wg_outbox_outcome_t *o)
{
    wg_outbox_t *ob = j->ob;
    j->outcome = *o;
    j->send = NULL;
    list_remove(&ob->running, j);
    list_push(&ob->done, j);
    kick(ob);
}

static void on_sent(void *arg, const wg_outbox_outcome_t *o)
{
    job_done(arg, o);
}

/* Gives a claimed row back without sending it (queued too long, or draining). */
static void release(wg_outbox_t *ob, job_t *j)
{
    list_remove(&ob->queued, j);
    j->released = 1;
    list_push(&ob->done, j);
}

/* Starts queued rows while there are free sending slots. */
static void start_queued(wg_outbox_t *ob)
{
    uint64_t now = now_ms();
    uint64_t stale = (uint64_t)ob->cfg->outbox_lease_ms / 2;
    while (ob->queued.head && (ob->draining || ob->running.n < ob->cfg->outbox_concurrency)) {
        job_t *j = ob->queued.head;
        if (ob->draining || now - j->claimed_ms > stale) {
            release(ob, j);
            continue;
        }
        list_remove(&ob->queued, j);
        list_push(&ob->running, j);
        wg_outbox_outcome_t out;
        j->send = wg_outbox_channels_send(ob->channels, &j->row, on_sent, j, &out);
        if (!j->send)
            job_done(j, &out);
    }
}

/* A job from claim result row t, or NULL out of memory. */
static job_t *job_from_result(wg_outbox_t *ob, const PGresult *res, int t, uint64_t now)
{
    enum { C_ID, C_CORP, C_CHANNEL, C_TARGET, C_PAYLOAD, C_KEY, C_ATTEMPTS, C_LEASE };
    const int strs[] = {C_CORP, C_CHANNEL, C_TARGET, C_PAYLOAD, C_KEY};
    size_t size = 0;
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        size += (size_t)PQgetlength(res, t, strs[i]) + 1;
    job_t *j = calloc(1, sizeof *j + size);
    if (!j)
        return NULL;
    j->ob = ob;
    char *w = j->data;
    const char **dst[] = {&j->row.corp, &j->row.channel, &j->row.target, &j->row.payload,
                          &j->row.key};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        size_t n = (size_t)PQgetlength(res, t, strs[i]);
        memcpy(w, PQgetvalue(res, t, strs[i]), n);
        w[n] = '\0';
        *dst[i] = w;
        w += n + 1;
    }
    j->row.payload_len = (size_t)PQgetlength(res, t, C_PAYLOAD);
    j->row.id = strtoll(PQgetvalue(res, t, C_ID), NULL, 10);
    j->row.attempts = atoi(PQgetvalue(res, t, C_ATTEMPTS));
    j->claimed_ms = now;
    snprintf(j->lease, sizeof j->lease, "%s", PQgetvalue(res, t, C_LEASE));
    return j;
}

static void log_outcome(const job_t *j, const wg_outbox_decision_t *d)
{
    const wg_outbox_outcome_t *o = &j->outcome;
    char text[WG_OUTBOX_ERR_MAX];
    wg_text_for_log(text, sizeof text, o->error);
    if (strcmp(d->status, "dead") == 0)
        wg_log(WG_LOG_WARN, "outbox: dead letter",
               "id=%" PRId64 " corp=%s channel=%s attempts=%d%s error=\"%s\"", j->row.id,
               j->row.corp, j->row.channel, j->row.attempts, d->gave_up ? " gave_up=1" : "", text);
    else if (o->verdict == WG_OUTBOX_RETRY)
        wg_log(WG_LOG_INFO, "outbox: attempt failed",
               "id=%" PRId64 " corp=%s channel=%s attempts=%d retry_ms=%" PRId64 " error=\"%s\"",
               j->row.id, j->row.corp, j->row.channel, j->row.attempts, d->delay_ms, text);
    else if (o->verdict == WG_OUTBOX_DEFER && wg_log_enabled(WG_LOG_DEBUG))
        wg_log(WG_LOG_DEBUG, "outbox: held",
               "id=%" PRId64 " corp=%s channel=%s delay_ms=%" PRId64 " reason=\"%s\"", j->row.id,
               j->row.corp, j->row.channel, d->delay_ms, text);
    else if (o->verdict == WG_OUTBOX_SENT && wg_log_enabled(WG_LOG_DEBUG))
        wg_log(WG_LOG_DEBUG, "outbox: sent", "id=%" PRId64 " corp=%s channel=%s attempts=%d",
               j->row.id, j->row.corp, j->row.channel, j->row.attempts);
}

static void on_round(void *arg, const PGresult *res, const char *err)
{
    (void)err;
    lane_t *lane = arg;
    wg_outbox_t *ob = lane->ob;
    lane->in_statement = 0;
    if (res && PQresultStatus(res) == PGRES_TUPLES_OK) {
        int n = PQntuples(res);
        if (wg_log_enabled(WG_LOG_DEBUG))
            wg_log(WG_LOG_DEBUG, "outbox: round",
                   "lane=%d recorded=%d claimed=%d limit=%d queued=%d running=%d us=%llu", lane->id,
                   lane->recording.n, n, lane->claim_limit, ob->queued.n, ob->running.n,
                   (unsigned long long)(now_us() - lane->round_start_us));
        if (lane->recording.n)
            ob->stats.records++;
        list_free(&lane->recording);
        if (n > 0) {
            ob->stats.claims++;
            ob->stats.claimed += (uint64_t)n;
        }
        /* A full batch: more may be due. Otherwise wait for the timer or a NOTIFY. */
        if (lane->claim_limit > 0)
            ob->want_claim = n >= lane->claim_limit;
        uint64_t now = now_ms();
        for (int t = 0; t < n; t++) {
            job_t *j = job_from_result(ob, res, t, now);
            if (!j) { /* the row stays 'sending' and comes back after its lease */
                wg_log(WG_LOG_ERROR, "outbox: out of memory", "id=%s", PQgetvalue(res, t, 0));
                continue;
            }
            list_push(&ob->queued, j);
        }
        kick(ob);
        return;
    }
    if (!res) /* connection lost: record and claim after the reconnect (state_cb logs) */
        ob->want_claim = 1;
    else
        log_db_error(ob, "outbox: round failed", PQresultErrorMessage(res));
    /* Nothing of the round happened. A failing statement: a few more tries for its records. */
    while (lane->recording.head) {
        job_t *j = lane->recording.head;
        list_remove(&lane->recording, j);
        if (res && ++j->record_tries >= RECORD_TRIES) {
            ob->stats.record_dropped++;
            wg_log(WG_LOG_ERROR, "outbox: outcome not recorded (sent again after the lease)",
                   "id=%" PRId64, j->row.id);
            free(j);
            continue;
        }
        list_push(&ob->done, j);
    }
    kick(ob);
}

/* The record part of a round: appends job j's outcome to the six arrays. */
static void add_record(wg_outbox_t *ob, job_t *j, sbuf_t *a[6])
{
    wg_outbox_decision_t d;
    char msg[WG_OUTBOX_ERR_MAX + 64];
    const char *e = NULL;
    if (j->released) {
        d = (wg_outbox_decision_t){.status = "pending", .delay_ms = 0, .undo_attempt = 1};
    } else {
        wg_outbox_decide(&ob->policy, j->row.attempts, &j->outcome, next_rand(ob), &d);
        if (!j->logged) {
            j->logged = 1;
            log_outcome(j, &d);
            if (strcmp(d.status, "dead") == 0)
                ob->stats.dead++;
            else if (j->outcome.verdict == WG_OUTBOX_SENT)
                ob->stats.sent++;
            else if (j->outcome.verdict == WG_OUTBOX_DEFER)
                ob->stats.deferred++;
            else
                ob->stats.retried++;
        }
        e = j->outcome.error[0] ? j->outcome.error : NULL;
        if (d.gave_up) {
            snprintf(msg, sizeof msg, "gave up after %d attempts: %s", j->row.attempts,
                     j->outcome.error);
            e = msg;
        }
    }
    char num[32];
    snprintf(num, sizeof num, "%" PRId64, j->row.id);
    sb_elem(a[0], num);
    sb_elem(a[1], d.status);
    snprintf(num, sizeof num, "%" PRId64, d.delay_ms);
    sb_elem(a[2], num);
    sb_elem(a[3], d.undo_attempt ? "1" : "0");
    sb_elem(a[4], e);
    sb_elem(a[5], j->lease);
}

/* Sends one round: every collected outcome, and a claim of up to limit rows (0: none). */
static int send_round(lane_t *lane, int limit)
{
    wg_outbox_t *ob = lane->ob;
    sbuf_t ids = {0}, sts = {0}, delays = {0}, undo = {0}, errs = {0}, leases = {0};
    sbuf_t *all[6] = {&ids, &sts, &delays, &undo, &errs, &leases};
    for (size_t i = 0; i < 6; i++)
        sb_puts(all[i], "{");
    for (job_t *j = ob->done.head; j; j = j->next)
        add_record(ob, j, all);
    int oom = 0;
    for (size_t i = 0; i < 6; i++) {
        sb_puts(all[i], "}");
        oom |= all[i]->oom;
    }
    int rc = -1;
    if (!oom) {
        char lim[16];
        snprintf(lim, sizeof lim, "%d", limit);
        const char *values[9] = {ids.p,    sts.p, delays.p,     undo.p,         errs.p,
                                 leases.p, lim,   ob->lease_ms, ob->corps_array};
        rc = wg_outbox_db_send_prepared(lane->db, ROUND_STMT, 9, values, on_round, lane);
    }
    for (size_t i = 0; i < 6; i++)
        free(all[i]->p);
    if (rc != 0)
        return -1;
    lane->in_statement = 1;
    lane->claim_limit = limit;
    lane->round_start_us = now_us();
    while (ob->done.head) {
        job_t *j = ob->done.head;
        list_remove(&ob->done, j);
        list_push(&lane->recording, j);
    }
    return 0;
}

static void pump(wg_outbox_t *ob)
{
    start_queued(ob);
    /* Rows in hand: at most outbox.concurrency in flight and two batches queued, so that sends
     * go on while rounds are in flight; rows being claimed by a lane count too. A claim rides
     * along with the records at no extra commit. With no round in flight, any work starts one
     * (a lone notification goes at once); beside a round in flight, another lane starts only
     * for half a batch of work or more, so that a busy outbox commits in batches, not rows. */
    int batch = ob->cfg->outbox_batch;
    int half = batch / 2 > 0 ? batch / 2 : 1;
    int in_hand = ob->queued.n + ob->running.n, busy = 0;
    for (int i = 0; i < ob->n_lanes; i++) {
        if (ob->lanes[i].in_statement) {
            in_hand += ob->lanes[i].claim_limit;
            busy++;
        }
    }
    for (int i = 0; i < ob->n_lanes; i++) {
        lane_t *lane = &ob->lanes[i];
        if (lane->in_statement || !wg_outbox_db_idle(lane->db))
            continue;
        int room = ob->cfg->outbox_concurrency + 2 * batch - in_hand;
        int limit = 0;
        if (!ob->draining && ob->want_claim && room > 0)
            limit = room < batch ? room : batch;
        int worth = busy == 0 ? ob->done.n > 0 || limit > 0 : ob->done.n >= half || limit >= half;
        if (!worth || send_round(lane, limit) != 0)
            continue;
        in_hand += limit;
        busy++;
    }
    /* Drained: nothing queued, sent, or waiting to be recorded, and no round in flight. */
    if (ob->draining && !ob->drained_called && ob->queued.n == 0 && ob->running.n == 0 &&
        ob->done.n == 0 && busy == 0) {
        ob->drained_called = 1;
        if (ob->drained)
            ob->drained(ob->drained_arg); /* may free ob: last */
    }
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pump(arg);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    wg_outbox_t *ob = arg;
    ob->want_claim = 1;
    pump(ob);
}

static void on_db_state(void *arg, int ready, const char *err)
{
    lane_t *lane = arg;
    wg_outbox_t *ob = lane->ob;
    lane->in_statement = 0;
    if (ready) {
        if (!lane->was_ready)
            wg_log(WG_LOG_INFO, "outbox: connected", "lane=%d running=%d pending_records=%d",
                   lane->id, ob->running.n, ob->done.n);
        lane->was_ready = 1;
        ob->last_db_log = 0;
        ob->want_claim = 1;
        kick(ob);
        return;
    }
    if (lane->was_ready) {
        ob->last_db_log = 0; /* the loss itself is always logged */
        lane->was_ready = 0;
    }
    log_db_error(ob, "outbox: database unavailable; retrying", err ? err : "");
}

static void on_notify(void *arg, const char *channel)
{
    (void)channel;
    wg_outbox_t *ob = ((lane_t *)arg)->ob;
    ob->want_claim = 1;
    kick(ob);
}

wg_outbox_t *wg_outbox_new(struct event_base *base, const wg_config_t *cfg,
                           wg_outbox_channels_t *channels, char *err, size_t errlen)
{
    wg_outbox_t *ob = calloc(1, sizeof *ob);
    if (!ob) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ob->base = base;
    ob->cfg = cfg;
    ob->channels = channels;
    ob->policy.max_attempts = cfg->outbox_max_attempts;
    ob->policy.backoff_min_ms = cfg->outbox_backoff_min_ms;
    ob->policy.backoff_max_ms = cfg->outbox_backoff_max_ms;
    ob->rng = (uint32_t)time(NULL) ^ (uint32_t)(uintptr_t)ob;
    if (ob->rng == 0)
        ob->rng = 1;
    snprintf(ob->lease_ms, sizeof ob->lease_ms, "%d", cfg->outbox_lease_ms);

    sbuf_t corps = {0};
    sb_puts(&corps, "{");
    for (size_t i = 0; i < cfg->n_corps; i++)
        sb_elem(&corps, cfg->corps[i].name);
    sb_puts(&corps, "}");
    if (corps.oom)
        goto nomem;
    ob->corps_array = corps.p;

    ob->ev_tick = event_new(base, -1, EV_PERSIST, on_tick, ob);
    ob->ev_kick = event_new(base, -1, 0, on_kick, ob);
    if (!ob->ev_tick || !ob->ev_kick)
        goto nomem;
    struct timeval tv = {.tv_sec = cfg->outbox_poll_ms / 1000,
                         .tv_usec = (cfg->outbox_poll_ms % 1000) * 1000};
    event_add(ob->ev_tick, &tv);

    ob->n_lanes = cfg->outbox_connections > 0 ? cfg->outbox_connections : 1;
    if (!(ob->lanes = calloc((size_t)ob->n_lanes, sizeof *ob->lanes)))
        goto nomem;
    for (int i = 0; i < ob->n_lanes; i++) {
        lane_t *lane = &ob->lanes[i];
        lane->ob = ob;
        lane->id = i;
        wg_outbox_db_options_t dbo = {
            .conninfo = cfg->database_url,
            .setup = setup_sql,
            .connect_timeout_ms = cfg->database_connect_timeout_ms,
            .reconnect_min_ms = DB_RECONNECT_MIN_MS,
            .reconnect_max_ms = DB_RECONNECT_MAX_MS,
            .state_cb = on_db_state,
            .notify_cb = on_notify,
            .arg = lane,
        };
        if (!(lane->db = wg_outbox_db_new(base, &dbo, err, errlen))) {
            wg_outbox_free(ob);
            return NULL;
        }
    }
    return ob;
nomem:
    free(corps.p);
    ob->corps_array = NULL;
    snprintf(err, errlen, "out of memory");
    wg_outbox_free(ob);
    return NULL;
}

void wg_outbox_drain(wg_outbox_t *ob, void (*done)(void *arg), void *arg)
{
    ob->draining = 1;
    ob->drained = done;
    ob->drained_arg = arg;
    event_del(ob->ev_tick);
    kick(ob);
}

void wg_outbox_free(wg_outbox_t *ob)
{
    if (!ob)
        return;
    int recording = 0;
    for (int i = 0; ob->lanes && i < ob->n_lanes; i++)
        recording += ob->lanes[i].recording.n;
    if (ob->queued.n || ob->running.n || ob->done.n || recording)
        wg_log(WG_LOG_WARN,
               "outbox: stopping with rows in hand; they are sent again after "
               "their lease",
               "queued=%d running=%d unrecorded=%d", ob->queued.n, ob->running.n,
               ob->done.n + recording);
    /* The connections first: no callback may run into freed jobs. */
    for (int i = 0; ob->lanes && i < ob->n_lanes; i++) {
        wg_outbox_db_free(ob->lanes[i].db);
        list_free(&ob->lanes[i].recording);
    }
    free(ob->lanes);
    list_free(&ob->queued);
    list_free(&ob->running);
    list_free(&ob->done);
    if (ob->ev_tick)
        event_free(ob->ev_tick);
    if (ob->ev_kick)
        event_free(ob->ev_kick);
    free(ob->corps_array);
    free(ob);
}

void wg_outbox_get_stats(const wg_outbox_t *ob, wg_outbox_stats_t *out)
{
    *out = ob->stats;
    out->running = ob->running.n;
    out->queued = ob->queued.n;
}
