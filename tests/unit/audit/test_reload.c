/* Reload under concurrent scanning: several threads scan a fixed list of messages through the
 * live rule set while the main thread swaps between two sets (and tries bad ones, which must
 * not replace the set in force). Every scan must run wholly on one set: its hits all come from
 * that set's rules and their count is that set's expected count for the message; every thread
 * does exactly its number of scans (none lost, none doubled). Run under ThreadSanitizer by
 * deploy/test.sh --tsan (label "threads"). */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "audit_util.h"

#define THREADS 4
#define SCANS 4000
#define SWAPS 300

static const char *const set_a =
    "{\"version\":1,\"rules\":[{\"id\":\"a_words\",\"kind\":\"word\",\"severity\":\"info\","
    "\"words\":[\"alpha\",\"微信\",\"common\"]},"
    "{\"id\":\"a_num\",\"kind\":\"regex\",\"severity\":\"info\",\"pattern\":\"[0-9]{3}\"}]}";
static const char *const set_b =
    "{\"version\":1,\"rules\":[{\"id\":\"b_words\",\"kind\":\"word\",\"severity\":\"info\","
    "\"words\":[\"beta\",\"红包\",\"common\"],\"ignore\":\" \"},"
    "{\"id\":\"b_pay\",\"kind\":\"behaviour\",\"severity\":\"info\",\"msgtypes\":[\"text\"]}]}";

static const struct {
    const char *text;
    size_t want_a, want_b;
} msgs[] = {
    {"alpha beta common", 2, 3},     /* a: alpha, common; b: beta, common, behaviour */
    {"加微信 123456", 3, 1},         /* a: 微信, 123, 456; b: behaviour */
    {"发红 包 common common", 2, 4}, /* a: common x2; b: 红包, common x2, behaviour */
    {"nothing here", 0, 1},          {"", 0, 1},
};
#define N_MSGS (sizeof msgs / sizeof msgs[0])

static wg_audit_live_t *live;
static atomic_int failures;
static atomic_long scans_a, scans_b;
static atomic_int running;

static void *scanner_thread(void *arg)
{
    (void)arg;
    wg_audit_scanner_t *sc = wg_audit_scanner_new(0);
    long done = 0, a = 0, b = 0;
    for (int i = 0; i < SCANS; i++) {
        size_t k = (size_t)i % N_MSGS;
        wg_audit_msg_t m = text_msg(msgs[k].text);
        wg_audit_result_t res;
        char err[WG_AUDIT_ERR_MAX];
        if (wg_audit_live_scan(live, sc, &m, &res, err) != 0) {
            atomic_fetch_add(&failures, 1);
            continue;
        }
        done++;
        int from_a = 0, from_b = 0;
        for (size_t h = 0; h < res.n_hits; h++) {
            from_a += res.hits[h].rule[0] == 'a';
            from_b += res.hits[h].rule[0] == 'b';
        }
        /* every message hits under set b (its behaviour rule), so "no b hit" means set a */
        int is_b = from_b > 0;
        if ((from_a && from_b) || res.n_hits != (is_b ? msgs[k].want_b : msgs[k].want_a))
            atomic_fetch_add(&failures, 1);
        if (is_b)
            b++;
        else
            a++;
    }
    if (done != SCANS || a + b != SCANS)
        atomic_fetch_add(&failures, 1);
    atomic_fetch_add(&scans_a, a);
    atomic_fetch_add(&scans_b, b);
    wg_audit_scanner_free(sc);
    atomic_fetch_sub(&running, 1);
    return NULL;
}

static void test_expectations(void)
{
    /* the table's counts, checked single-threaded first */
    wg_audit_ruleset_t *ra = compile_ok(set_a), *rb = compile_ok(set_b);
    wg_audit_scanner_t *sc = wg_audit_scanner_new(0);
    if (ra && rb && sc) {
        for (size_t k = 0; k < N_MSGS; k++) {
            wg_audit_msg_t m = text_msg(msgs[k].text);
            wg_audit_result_t res;
            char err[WG_AUDIT_ERR_MAX];
            CHECK_INT(wg_audit_scan(sc, ra, &m, &res, err), 0);
            CHECK_INT(res.n_hits, msgs[k].want_a);
            CHECK_INT(wg_audit_scan(sc, rb, &m, &res, err), 0);
            CHECK_INT(res.n_hits, msgs[k].want_b);
        }
    }
    wg_audit_scanner_free(sc);
    wg_audit_ruleset_unref(ra);
    wg_audit_ruleset_unref(rb);
}

static void test_concurrent_reload(void)
{
    wg_audit_ruleset_t *ra = compile_ok(set_a), *rb = compile_ok(set_b);
    if (!ra || !rb) {
        wg_audit_ruleset_unref(ra);
        wg_audit_ruleset_unref(rb);
        return;
    }
    live = wg_audit_live_new(wg_audit_ruleset_ref(ra));
    atomic_store(&running, THREADS);
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        CHECK_INT(pthread_create(&th[i], NULL, scanner_thread, NULL), 0);
    char err[WG_AUDIT_ERR_MAX];
    int bad_kept = 1;
    int s = 0;
    for (; s < SWAPS || atomic_load(&running) > 0; s++) { /* swapping as long as they scan */
        if (s % 50 == 25) {
            /* a fresh compile, and a bad set that must not replace it */
            CHECK_INT(wg_audit_live_reload(live, set_b, strlen(set_b), err), 0);
            const char *bad = "{\"version\":1,\"rules\":[{\"id\":\"x\",\"kind\":\"regex\","
                              "\"severity\":\"info\",\"pattern\":\"(\"}]}";
            CHECK_INT(wg_audit_live_reload(live, bad, strlen(bad), err), -1);
            CHECK(strstr(err, "rule \"x\"") != NULL);
            wg_audit_ruleset_t *cur = wg_audit_live_acquire(live);
            bad_kept &= cur && wg_audit_ruleset_find(cur, "b_words") >= 0;
            wg_audit_ruleset_unref(cur);
        } else {
            wg_audit_live_swap(live, wg_audit_ruleset_ref(s % 2 ? rb : ra));
        }
        nanosleep(&(struct timespec){0, 20000}, NULL); /* let the scanners run */
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    CHECK(bad_kept);
    CHECK(s >= SWAPS);
    CHECK(atomic_load(&scans_a) > 0 && atomic_load(&scans_b) > 0); /* both sets were in force */
    CHECK_INT(atomic_load(&failures), 0);
    CHECK_INT(atomic_load(&scans_a) + atomic_load(&scans_b), (long)THREADS * SCANS);
    fprintf(stderr, "  %d swaps; %ld scans on set a, %ld on set b\n", s, atomic_load(&scans_a),
            atomic_load(&scans_b));
    wg_audit_live_free(live);
    wg_audit_ruleset_unref(ra);
    wg_audit_ruleset_unref(rb);
}

int main(void)
{
    TEST_RUN(test_expectations);
    TEST_RUN(test_concurrent_reload);
    return TEST_DONE();
}
