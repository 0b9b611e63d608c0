/* Sliding-window quota per key (a WeCom member, a group robot key): "at most N messages in any
 * window of W ms", with one or more such rates per limiter (message/send to one member: 30 a
 * minute and 1000 an hour; a robot: 20 a minute; PROTOCOL.md §5). Pure: no clock, no I/O; the
 * caller passes the time in (any monotonic millisecond clock), so it is tested with injected
 * time.
 *
 * Exact, not approximate: for each rate a key keeps the times of its last N messages in a ring
 * (grown on demand, so a key that gets few messages costs a few dozen bytes; at most N * 8
 * bytes per rate). With N messages recorded, the next one is allowed at oldest + W: a message at
 * time t stops counting at t + W exactly. So "30 a minute" means that no 60 000 ms window,
 * (t - 60000, t], ever holds 31 messages.
 *
 * Time that goes backwards is treated as the latest time already seen for that key (a message
 * is never recorded before another).
 *
 * Not thread-safe: one limiter per loop/thread, or a lock around it. Keys are copied. */
#ifndef WG_WECOM_RATELIMIT_H
#define WG_WECOM_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

/* WeCom's figures (PROTOCOL.md §5): message/send silently drops messages to one member above
 * these; a group robot answers 45009 above 20 a minute. */
#define WG_WECOM_MEMBER_PER_MINUTE 30
#define WG_WECOM_MEMBER_PER_HOUR 1000
#define WG_WECOM_ROBOT_PER_MINUTE 20
#define WG_WECOM_MINUTE_MS 60000
#define WG_WECOM_HOUR_MS 3600000

#define WG_WECOM_LIMITER_MAX_RATES 4
#define WG_WECOM_LIMITER_MAX_LIMIT 1000000 /* per rate */
#define WG_WECOM_LIMITER_KEY_MAX 256       /* bytes of a key */

/* At most `limit` messages in any window of `window_ms` (both >= 1). */
typedef struct wg_wecom_rate {
    uint32_t limit;
    int64_t window_ms;
} wg_wecom_rate_t;

typedef struct wg_wecom_limiter wg_wecom_limiter_t;

/* A limiter enforcing every one of rates[0..nrates) (1..WG_WECOM_LIMITER_MAX_RATES; copied).
 * NULL with err filled on a bad rate or out of memory. */
wg_wecom_limiter_t *wg_wecom_limiter_new(const wg_wecom_rate_t *rates, size_t nrates, char *err,
                                         size_t errlen);
void wg_wecom_limiter_free(wg_wecom_limiter_t *l);

/* The earliest time >= now_ms at which key may receive one more message (now_ms: at once).
 * Records nothing. A NULL, empty or over-long key is never limited. */
int64_t wg_wecom_limiter_next(const wg_wecom_limiter_t *l, const char *key, int64_t now_ms);

/* If key may receive a message at now_ms, records one and returns 1. Otherwise returns 0 and
 * sets *next_ms (if non-NULL) to when it may. -1 out of memory (nothing recorded). */
int wg_wecom_limiter_take(wg_wecom_limiter_t *l, const char *key, int64_t now_ms, int64_t *next_ms);

/* All or nothing for one message to several keys (message/send to "a|b|c" counts once for each
 * member; a key listed twice counts once): if every key may receive now, records one for each
 * and returns 1; otherwise records nothing, returns 0 and sets *next_ms (if non-NULL) to the
 * earliest time at which all of them may (the latest of their next times). -1 out of memory
 * (nothing recorded). Empty keys are skipped; nkeys 0 returns 1. */
int wg_wecom_limiter_take_all(wg_wecom_limiter_t *l, const char *const *keys, size_t nkeys,
                              int64_t now_ms, int64_t *next_ms);

/* Forgets keys with no message left inside any window at now_ms (they would be allowed anyway).
 * take() and take_all() also do a little of this as they go, so memory stays bounded by the
 * keys active within the longest window. Returns the number of keys still tracked. */
size_t wg_wecom_limiter_gc(wg_wecom_limiter_t *l, int64_t now_ms);

/* Keys tracked now (for metrics and tests). */
size_t wg_wecom_limiter_keys(const wg_wecom_limiter_t *l);

#endif
