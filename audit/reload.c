/* The live rule set: an atomic pointer to the set in force, swapped by a reload while other
 * threads scan. A reader announces itself (readers counter), loads the pointer and takes a
 * reference; a swapper exchanges the pointer, then waits until no reader is between its load and
 * its reference (a few instructions long) before dropping the old set's reference. Readers never
 * wait; a scan runs wholly on the set it acquired; the last reference frees a set. */
#include <sched.h>
#include <stdlib.h>

#include "audit/internal.h"

struct wg_audit_live {
    _Atomic(wg_audit_ruleset_t *) cur;
    atomic_size_t readers;
};

wg_audit_live_t *wg_audit_live_new(wg_audit_ruleset_t *initial)
{
    wg_audit_live_t *l = malloc(sizeof *l);
    if (!l) {
        wg_audit_ruleset_unref(initial);
        return NULL;
    }
    atomic_init(&l->cur, initial);
    atomic_init(&l->readers, 0);
    return l;
}

void wg_audit_live_free(wg_audit_live_t *l)
{
    if (!l)
        return;
    wg_audit_ruleset_unref(atomic_load(&l->cur));
    free(l);
}

wg_audit_ruleset_t *wg_audit_live_acquire(wg_audit_live_t *l)
{
    /* seq_cst throughout: the swapper's exchange and its read of readers, and our increment and
     * load, are totally ordered, so a swapper that sees readers == 0 after its exchange knows
     * every reader that loaded the old pointer already holds its reference. */
    atomic_fetch_add(&l->readers, 1);
    wg_audit_ruleset_t *rs = atomic_load(&l->cur);
    wg_audit_ruleset_ref(rs);
    atomic_fetch_sub(&l->readers, 1);
    return rs;
}

void wg_audit_live_swap(wg_audit_live_t *l, wg_audit_ruleset_t *next)
{
    wg_audit_ruleset_t *old = atomic_exchange(&l->cur, next);
    while (atomic_load(&l->readers) != 0)
        sched_yield();
    wg_audit_ruleset_unref(old);
}

int wg_audit_live_reload(wg_audit_live_t *l, const char *json, size_t len,
                         char err[WG_AUDIT_ERR_MAX])
{
    wg_audit_ruleset_t *rs = wg_audit_ruleset_compile(json, len, err);
    if (!rs)
        return -1; /* the set in force stays */
    wg_audit_live_swap(l, rs);
    return 0;
}

int wg_audit_live_scan(wg_audit_live_t *l, wg_audit_scanner_t *s, const wg_audit_msg_t *msg,
                       wg_audit_result_t *out, char err[WG_AUDIT_ERR_MAX])
{
    wg_audit_ruleset_t *rs = wg_audit_live_acquire(l);
    int rc = wg_audit_scan(s, rs, msg, out, err);
    wg_audit_ruleset_unref(rs); /* the scanner keeps its own reference for the result */
    return rc;
}
