/* Exact sliding-window quotas per key: a ring of the last `limit` send times per rate; with the
 * ring full, the next send is allowed at oldest + window. Keys live in a chained hash table and
 * are forgotten once their newest send has left the longest window. */
#include "connectors/wecom/ratelimit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INITIAL_BUCKETS 64
#define INITIAL_RING 4
#define GC_BUCKETS_PER_TAKE 2 /* incremental sweep: buckets visited by each take */

typedef struct ring {
    int64_t *t;     /* send times, oldest at head */
    uint32_t cap;   /* allocated slots (grows by doubling up to the rate's limit) */
    uint32_t head;  /* index of the oldest */
    uint32_t count; /* times held (<= limit) */
} ring_t;

typedef struct entry {
    struct entry *next;
    uint64_t hash;
    int64_t last;  /* newest send time recorded */
    uint32_t mark; /* take_all: serial of the pass that reserved this entry, 0 none */
    ring_t r[WG_WECOM_LIMITER_MAX_RATES];
    char key[]; /* NUL-terminated */
} entry_t;

struct wg_wecom_limiter {
    wg_wecom_rate_t rates[WG_WECOM_LIMITER_MAX_RATES];
    size_t nrates;
    int64_t max_window;
    entry_t **buckets;
    size_t nbuckets; /* power of two */
    size_t nkeys;
    size_t gc_cursor;
    uint32_t serial;
};

static uint64_t hash_key(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* A key we track: non-empty and at most KEY_MAX bytes (else never limited). */
static int key_ok(const char *key, size_t *len)
{
    if (key == NULL || key[0] == '\0')
        return 0;
    *len = strnlen(key, WG_WECOM_LIMITER_KEY_MAX + 1);
    return *len <= WG_WECOM_LIMITER_KEY_MAX;
}

wg_wecom_limiter_t *wg_wecom_limiter_new(const wg_wecom_rate_t *rates, size_t nrates, char *err,
                                         size_t errlen)
{
    wg_wecom_limiter_t *l;

    if (rates == NULL || nrates == 0 || nrates > WG_WECOM_LIMITER_MAX_RATES) {
        snprintf(err, errlen, "a limiter needs 1 to %d rates", WG_WECOM_LIMITER_MAX_RATES);
        return NULL;
    }
    for (size_t i = 0; i < nrates; i++) {
        if (rates[i].limit < 1 || rates[i].limit > WG_WECOM_LIMITER_MAX_LIMIT ||
            rates[i].window_ms < 1) {
            snprintf(err, errlen,
                     "rate %zu: limit must be 1..%d and the window at least 1 ms (got %u per "
                     "%lld ms)",
                     i, WG_WECOM_LIMITER_MAX_LIMIT, rates[i].limit, (long long)rates[i].window_ms);
            return NULL;
        }
    }
    l = calloc(1, sizeof(*l));
    if (l == NULL)
        goto oom;
    l->buckets = calloc(INITIAL_BUCKETS, sizeof(*l->buckets));
    if (l->buckets == NULL)
        goto oom;
    l->nbuckets = INITIAL_BUCKETS;
    memcpy(l->rates, rates, nrates * sizeof(*rates));
    l->nrates = nrates;
    for (size_t i = 0; i < nrates; i++)
        if (rates[i].window_ms > l->max_window)
            l->max_window = rates[i].window_ms;
    l->serial = 1;
    return l;
oom:
    free(l);
    snprintf(err, errlen, "out of memory");
    return NULL;
}

static void entry_free(entry_t *e, size_t nrates)
{
    for (size_t i = 0; i < nrates; i++)
        free(e->r[i].t);
    free(e);
}

void wg_wecom_limiter_free(wg_wecom_limiter_t *l)
{
    if (l == NULL)
        return;
    for (size_t b = 0; b < l->nbuckets; b++) {
        entry_t *e = l->buckets[b];
        while (e) {
            entry_t *next = e->next;
            entry_free(e, l->nrates);
            e = next;
        }
    }
    free(l->buckets);
    free(l);
}

static entry_t *find(const wg_wecom_limiter_t *l, const char *key, uint64_t h)
{
    for (entry_t *e = l->buckets[h & (l->nbuckets - 1)]; e; e = e->next)
        if (e->hash == h && strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

static void grow_table(wg_wecom_limiter_t *l)
{
    size_t n = l->nbuckets * 2;
    entry_t **nb = calloc(n, sizeof(*nb));
    if (nb == NULL)
        return; /* longer chains; still correct */
    for (size_t b = 0; b < l->nbuckets; b++) {
        entry_t *e = l->buckets[b];
        while (e) {
            entry_t *next = e->next;
            e->next = nb[e->hash & (n - 1)];
            nb[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(l->buckets);
    l->buckets = nb;
    l->nbuckets = n;
    l->gc_cursor = 0;
}

static entry_t *find_or_add(wg_wecom_limiter_t *l, const char *key, size_t len)
{
    uint64_t h = hash_key(key, len);
    entry_t *e = find(l, key, h);
    if (e)
        return e;
    e = calloc(1, sizeof(*e) + len + 1);
    if (e == NULL)
        return NULL;
    memcpy(e->key, key, len);
    e->hash = h;
    e->last = INT64_MIN;
    e->next = l->buckets[h & (l->nbuckets - 1)];
    l->buckets[h & (l->nbuckets - 1)] = e;
    l->nkeys++;
    if (l->nkeys > l->nbuckets)
        grow_table(l);
    return e;
}

/* Earliest time >= now at which e may receive one more. */
static int64_t entry_next(const wg_wecom_limiter_t *l, const entry_t *e, int64_t now)
{
    int64_t next = now;
    for (size_t i = 0; i < l->nrates; i++) {
        const ring_t *r = &e->r[i];
        if (r->count == l->rates[i].limit) {
            int64_t at = r->t[r->head] + l->rates[i].window_ms;
            if (at > next)
                next = at;
        }
    }
    return next;
}

/* Makes room so that record() will not allocate. 0 or -1 out of memory. */
static int reserve(const wg_wecom_limiter_t *l, entry_t *e)
{
    for (size_t i = 0; i < l->nrates; i++) {
        ring_t *r = &e->r[i];
        uint32_t cap;
        int64_t *t;
        if (r->count < r->cap || r->count == l->rates[i].limit)
            continue;
        cap = r->cap ? r->cap * 2 : INITIAL_RING;
        if (cap > l->rates[i].limit)
            cap = l->rates[i].limit;
        t = malloc((size_t)cap * sizeof(*t));
        if (t == NULL)
            return -1;
        for (uint32_t k = 0; k < r->count; k++)
            t[k] = r->t[(r->head + k) % r->cap];
        free(r->t);
        r->t = t;
        r->cap = cap;
        r->head = 0;
    }
    return 0;
}

/* Records one send at now (the caller checked that it is allowed and reserved room). */
static void record(const wg_wecom_limiter_t *l, entry_t *e, int64_t now)
{
    if (now < e->last)
        now = e->last; /* keep each ring in time order: a backwards clock counts as no time */
    for (size_t i = 0; i < l->nrates; i++) {
        ring_t *r = &e->r[i];
        if (r->count == l->rates[i].limit) {
            r->t[r->head] = now; /* the oldest has left the window: overwrite it */
            r->head = (r->head + 1) % r->cap;
        } else {
            r->t[(r->head + r->count) % r->cap] = now;
            r->count++;
        }
    }
    e->last = now;
}

static int expired(const wg_wecom_limiter_t *l, const entry_t *e, int64_t now)
{
    return e->last == INT64_MIN || e->last <= now - l->max_window;
}

static void gc_bucket(wg_wecom_limiter_t *l, size_t b, int64_t now)
{
    entry_t **pp = &l->buckets[b];
    while (*pp) {
        entry_t *e = *pp;
        if (expired(l, e, now) && e->mark == 0) {
            *pp = e->next;
            entry_free(e, l->nrates);
            l->nkeys--;
        } else {
            pp = &e->next;
        }
    }
}

static void gc_step(wg_wecom_limiter_t *l, int64_t now)
{
    for (int i = 0; i < GC_BUCKETS_PER_TAKE; i++) {
        gc_bucket(l, l->gc_cursor, now);
        l->gc_cursor = (l->gc_cursor + 1) & (l->nbuckets - 1);
    }
}

int64_t wg_wecom_limiter_next(const wg_wecom_limiter_t *l, const char *key, int64_t now_ms)
{
    size_t len;
    const entry_t *e;
    if (l == NULL || !key_ok(key, &len))
        return now_ms;
    e = find(l, key, hash_key(key, len));
    return e ? entry_next(l, e, now_ms) : now_ms;
}

int wg_wecom_limiter_take(wg_wecom_limiter_t *l, const char *key, int64_t now_ms, int64_t *next_ms)
{
    size_t len;
    entry_t *e;
    int64_t next;

    if (next_ms)
        *next_ms = now_ms;
    if (l == NULL || !key_ok(key, &len))
        return 1;
    gc_step(l, now_ms);
    next = wg_wecom_limiter_next(l, key, now_ms);
    if (next > now_ms) {
        if (next_ms)
            *next_ms = next;
        return 0;
    }
    e = find_or_add(l, key, len);
    if (e == NULL || reserve(l, e) != 0)
        return -1;
    record(l, e, now_ms);
    return 1;
}

int wg_wecom_limiter_take_all(wg_wecom_limiter_t *l, const char *const *keys, size_t nkeys,
                              int64_t now_ms, int64_t *next_ms)
{
    int64_t next = now_ms;
    uint32_t serial;
    int rc = 1;

    if (next_ms)
        *next_ms = now_ms;
    if (l == NULL || nkeys == 0)
        return 1;
    /* 1. check, allocating nothing */
    for (size_t i = 0; i < nkeys; i++) {
        int64_t n = wg_wecom_limiter_next(l, keys[i], now_ms);
        if (n > next)
            next = n;
    }
    if (next > now_ms) {
        if (next_ms)
            *next_ms = next;
        return 0;
    }
    /* 2. create entries and room (a failure here leaves only empty rings: nothing recorded) */
    serial = l->serial++;
    if (l->serial == 0)
        l->serial = 1;
    for (size_t i = 0; i < nkeys; i++) {
        size_t len;
        entry_t *e;
        if (!key_ok(keys[i], &len))
            continue;
        e = find_or_add(l, keys[i], len);
        if (e == NULL || reserve(l, e) != 0) {
            rc = -1;
            break;
        }
        e->mark = serial;
    }
    /* 3. record once per distinct key (mark cleared as it is used); on failure just unmark */
    for (size_t i = 0; i < nkeys; i++) {
        size_t len;
        entry_t *e;
        if (!key_ok(keys[i], &len))
            continue;
        e = find(l, keys[i], hash_key(keys[i], len));
        if (e == NULL || e->mark != serial)
            continue;
        e->mark = 0;
        if (rc == 1)
            record(l, e, now_ms);
    }
    gc_step(l, now_ms);
    return rc;
}

size_t wg_wecom_limiter_gc(wg_wecom_limiter_t *l, int64_t now_ms)
{
    if (l == NULL)
        return 0;
    for (size_t b = 0; b < l->nbuckets; b++)
        gc_bucket(l, b, now_ms);
    return l->nkeys;
}

size_t wg_wecom_limiter_keys(const wg_wecom_limiter_t *l)
{
    return l ? l->nkeys : 0;
}
