/* The outbox: every notification is first a row of the `outbox` table (connectors/pg/
 * migrations/002_outbox.sql), committed in the same transaction as whatever caused it; a worker
 * on the background loop (gateway/server/background.h) delivers it through its channel
 * (gateway/outbox/channels.h).
 *
 * The worker claims due rows in batches (up to outbox.batch) with one
 *     UPDATE outbox ... FROM (SELECT id ... FOR UPDATE SKIP LOCKED LIMIT n) ... RETURNING ...
 * setting status 'sending', attempts + 1 and a lease (locked_until = now() + outbox.lease_ms),
 * so any number of gateway instances share one database: a row is in one worker's hands at a
 * time, and a 'sending' row whose lease ran out (its worker died) is due again. It sends up to
 * outbox.concurrency rows at once and records the outcomes in the same statement as its next
 * claim (one commit per batch):
 *   sent   status 'sent', sent_at;
 *   retry  (transport error, 5xx, WeCom busy) status 'pending', next_attempt_at = now() +
 *          backoff: backoff_min_ms * 2^(attempts-1), capped at backoff_max_ms, plus up to half
 *          again of jitter (and never before the server's Retry-After); after max_attempts
 *          attempts, 'dead';
 *   defer  (a quota of ours or a WeCom rate-limit answer) 'pending' after the given delay; the
 *          attempt is not counted;
 *   dead   (a configuration fault such as a wrong secret or robot key, a refused request, an
 *          unknown channel, a bad payload) 'dead' at once with last_error saying what to fix:
 *          retrying would not heal it; `wegate outbox retry ID` re-queues it once fixed.
 * An outcome is recorded only while the worker still holds the row's lease (a 'sent' outcome
 * always is: the truth wins over a lease that ran out).
 *
 * Wake-up: a timer every outbox.poll_ms, and LISTEN outbox (a trigger NOTIFYs on every insert),
 * so a new row goes out at once.
 *
 * The contract is at-least-once. A restart loses nothing (rows are in PostgreSQL before anyone
 * is told they exist). A row recorded as sent is never sent again. A row in flight when its
 * worker died (or whose outcome could not be recorded) is sent again once its lease runs out,
 * always with the same idempotency key: webhook receivers dedupe on X-Wegate-Delivery; a WeCom
 * app or robot message may then show twice.
 *
 * The idempotency key is unique per corp: a second insert with the same key is a no-op, so a
 * producer that retries its own transaction does not queue the message twice. */
#ifndef WG_OUTBOX_H
#define WG_OUTBOX_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/config/config.h"
#include "gateway/outbox/channels.h"

struct event_base;

/* ---- producers ---- */

/* Queues one notification with the caller's connection, inside the caller's transaction if one
 * is open (so it commits, or not, with what caused it). Parameters: $1 corp, $2 channel,
 * $3 target ('' none), $4 payload (JSON object text), $5 idempotency key (1..200 chars).
 * Returns the new id, or no row when the key was queued before. */
#define WG_OUTBOX_INSERT_SQL                                                                       \
    "INSERT INTO outbox (corp, channel, target, payload, idempotency_key) "                        \
    "VALUES ($1, $2, $3, $4::json, $5) "                                                           \
    "ON CONFLICT (corp, idempotency_key) DO NOTHING RETURNING id"

typedef struct wg_outbox_item {
    const char *corp;
    const char *channel;
    const char *target; /* NULL: none */
    const char *payload;
    const char *key;
} wg_outbox_item_t;

/* Blocking: runs WG_OUTBOX_INSERT_SQL. 0 with *id the new row's id, or 0 with *id 0 when the key
 * was queued before (a no-op); -1 with err. */
int wg_outbox_enqueue(PGconn *conn, const wg_outbox_item_t *item, int64_t *id, char *err,
                      size_t errlen);

/* ---- policy (pure; unit-tested) ---- */

typedef struct wg_outbox_policy {
    int max_attempts;
    int backoff_min_ms;
    int backoff_max_ms;
} wg_outbox_policy_t;

/* The wait before the next attempt after `attempts` failed ones (>= 1): base =
 * backoff_min_ms * 2^(attempts-1) capped at backoff_max_ms, plus jitter of up to base/2 from rnd,
 * capped at backoff_max_ms again. So it is always within [backoff_min_ms, backoff_max_ms]. */
int64_t wg_outbox_backoff_ms(const wg_outbox_policy_t *p, int attempts, uint32_t rnd);

/* What to write for an outcome: status "sent", "pending" or "dead"; delay_ms before the next
 * attempt (pending); undo_attempt 1 when the attempt does not count (defer). */
typedef struct wg_outbox_decision {
    const char *status;
    int64_t delay_ms;
    int undo_attempt;
    int gave_up; /* dead because max_attempts were spent */
} wg_outbox_decision_t;

void wg_outbox_decide(const wg_outbox_policy_t *p, int attempts, const wg_outbox_outcome_t *o,
                      uint32_t rnd, wg_outbox_decision_t *out);

/* ---- the worker ---- */

typedef struct wg_outbox_stats {
    uint64_t claims;  /* claim statements that returned rows */
    uint64_t claimed; /* rows claimed */
    uint64_t sent, retried, deferred, dead;
    uint64_t records;        /* record statements committed */
    uint64_t record_dropped; /* outcomes given up on (the row's lease decides) */
    int running;             /* sends in flight now */
    int queued;              /* claimed rows waiting for a sending slot now */
} wg_outbox_stats_t;

typedef struct wg_outbox wg_outbox_t;

/* A worker on base (the background loop) for cfg's corps (borrowed), sending through channels
 * (borrowed). Connects asynchronously to cfg->database_url; waits (retrying) until the outbox
 * table exists. Logs through gateway/log.h. NULL with err on out of memory or a bad url. */
wg_outbox_t *wg_outbox_new(struct event_base *base, const wg_config_t *cfg,
                           wg_outbox_channels_t *channels, char *err, size_t errlen);
/* Stops claiming; done(arg) runs on the loop once nothing is in flight and every outcome is
 * recorded (never inside this call). */
void wg_outbox_drain(wg_outbox_t *ob, void (*done)(void *arg), void *arg);
/* Cancels the sends in flight (their rows are sent again after their lease: at-least-once) and
 * frees everything. */
void wg_outbox_free(wg_outbox_t *ob);
void wg_outbox_get_stats(const wg_outbox_t *ob, wg_outbox_stats_t *out);

#endif
