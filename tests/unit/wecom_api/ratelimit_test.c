/* The sliding-window limiter with injected time: WeCom's quotas at their exact boundaries
 * (30 a minute and 1000 an hour to one member, 20 a minute per robot), all-or-nothing for
 * several members, a clock going backwards, forgetting idle keys. */
#include "connectors/wecom/ratelimit.h"

#include <stdlib.h>

#include "testlib.h"

static wg_wecom_limiter_t *member_limiter(void)
{
    const wg_wecom_rate_t rates[] = {{WG_WECOM_MEMBER_PER_MINUTE, WG_WECOM_MINUTE_MS},
                                     {WG_WECOM_MEMBER_PER_HOUR, WG_WECOM_HOUR_MS}};
    char err[128];
    wg_wecom_limiter_t *l = wg_wecom_limiter_new(rates, 2, err, sizeof(err));
    CHECK(l != NULL);
    return l;
}

static void test_member_minute_boundary(void)
{
    wg_wecom_limiter_t *l = member_limiter();
    int64_t next = -1;
    /* 30 messages within the first 30 ms all go */
    for (int i = 0; i < 30; i++)
        CHECK_INT(wg_wecom_limiter_take(l, "alice", i, &next), 1);
    /* the 31st waits until the first leaves the window: 0 + 60000 */
    CHECK_INT(wg_wecom_limiter_take(l, "alice", 30, &next), 0);
    CHECK_INT(next, 60000);
    CHECK_INT(wg_wecom_limiter_next(l, "alice", 59999), 60000);
    CHECK_INT(wg_wecom_limiter_take(l, "alice", 59999, &next), 0);
    CHECK_INT(next, 60000);
    CHECK_INT(wg_wecom_limiter_take(l, "alice", 60000, &next), 1);
    /* now the oldest is the one at 1 ms */
    CHECK_INT(wg_wecom_limiter_take(l, "alice", 60000, &next), 0);
    CHECK_INT(next, 60001);
    /* another member is not affected */
    CHECK_INT(wg_wecom_limiter_next(l, "bob", 30), 30);
    CHECK_INT(wg_wecom_limiter_take(l, "bob", 30, &next), 1);
    CHECK_INT(wg_wecom_limiter_keys(l), 2);
    wg_wecom_limiter_free(l);
}

/* No 60 s window ever holds 31 sends, whatever the pattern (bursts at random times). */
static void test_member_minute_invariant(void)
{
    wg_wecom_limiter_t *l = member_limiter();
    int64_t sent[4000];
    int n = 0, bad = 0;
    int64_t t = 0;
    srand(7);
    for (int step = 0; step < 20000 && n < 4000; step++) {
        int64_t next;
        t += rand() % 700;
        if (wg_wecom_limiter_take(l, "m", t, &next) == 1)
            sent[n++] = t;
        else if (next <= t)
            bad++;
    }
    CHECK_INT(bad, 0);
    CHECK(n > 100);
    for (int i = 30; i < n; i++)
        if (sent[i] - sent[i - 30] < 60000)
            bad++;
    CHECK_INT(bad, 0);
    /* and the hour: no 3600 s window holds 1001 */
    for (int i = 1000; i < n; i++)
        if (sent[i] - sent[i - 1000] < 3600000)
            bad++;
    CHECK_INT(bad, 0);
    wg_wecom_limiter_free(l);
}

static void test_member_hour_boundary(void)
{
    wg_wecom_limiter_t *l = member_limiter();
    int64_t next = -1;
    int ok = 1;
    /* one every 2 s: exactly 30 in any minute, never over it */
    for (int i = 0; i < 1000; i++)
        ok &= wg_wecom_limiter_take(l, "carol", (int64_t)i * 2000, &next) == 1;
    CHECK(ok);
    /* the 1001st (at 2 000 000 ms) is within the minute quota but over the hour's */
    CHECK_INT(wg_wecom_limiter_take(l, "carol", 2000000, &next), 0);
    CHECK_INT(next, 3600000);
    CHECK_INT(wg_wecom_limiter_take(l, "carol", 3599999, &next), 0);
    CHECK_INT(wg_wecom_limiter_take(l, "carol", 3600000, &next), 1);
    CHECK_INT(wg_wecom_limiter_take(l, "carol", 3600000, &next), 0);
    CHECK_INT(next, 3602000);
    wg_wecom_limiter_free(l);
}

static void test_robot_boundary(void)
{
    const wg_wecom_rate_t rate = {WG_WECOM_ROBOT_PER_MINUTE, WG_WECOM_MINUTE_MS};
    char err[128];
    wg_wecom_limiter_t *l = wg_wecom_limiter_new(&rate, 1, err, sizeof(err));
    int64_t next = -1;
    for (int i = 0; i < 20; i++)
        CHECK_INT(wg_wecom_limiter_take(l, "robot-key-1", 1000, &next), 1);
    CHECK_INT(wg_wecom_limiter_take(l, "robot-key-1", 1000, &next), 0);
    CHECK_INT(next, 61000);
    CHECK_INT(wg_wecom_limiter_take(l, "robot-key-1", 60999, &next), 0);
    /* at 61000 all 20 have left: 20 more at once */
    for (int i = 0; i < 20; i++)
        CHECK_INT(wg_wecom_limiter_take(l, "robot-key-1", 61000, &next), 1);
    CHECK_INT(wg_wecom_limiter_take(l, "robot-key-1", 61000, &next), 0);
    CHECK_INT(next, 121000);
    wg_wecom_limiter_free(l);
}

static void test_take_all(void)
{
    const wg_wecom_rate_t rate = {3, 1000};
    char err[128];
    wg_wecom_limiter_t *l = wg_wecom_limiter_new(&rate, 1, err, sizeof(err));
    const char *ab[] = {"a", "b"};
    const char *aab[] = {"a", "a", "", "b"};
    int64_t next = -1;

    CHECK_INT(wg_wecom_limiter_take(l, "a", 0, &next), 1);
    CHECK_INT(wg_wecom_limiter_take(l, "a", 10, &next), 1);
    /* "a" listed twice counts once (and "" is skipped): a has 3, b has 1 */
    CHECK_INT(wg_wecom_limiter_take_all(l, aab, 4, 20, &next), 1);
    /* a is full: nothing is recorded for b either; wait for a's oldest (0 + 1000) */
    CHECK_INT(wg_wecom_limiter_take_all(l, ab, 2, 30, &next), 0);
    CHECK_INT(next, 1000);
    CHECK_INT(wg_wecom_limiter_take(l, "b", 40, &next), 1);
    CHECK_INT(wg_wecom_limiter_take(l, "b", 40, &next), 1);
    CHECK_INT(wg_wecom_limiter_take(l, "b", 40, &next), 0); /* b had exactly 1 before */
    CHECK_INT(next, 1020);
    /* the latest of their next times */
    CHECK_INT(wg_wecom_limiter_take_all(l, ab, 2, 1000, &next), 0);
    CHECK_INT(next, 1020);
    CHECK_INT(wg_wecom_limiter_take_all(l, ab, 2, 1020, &next), 1);
    CHECK_INT(wg_wecom_limiter_take_all(l, ab, 0, 1020, &next), 1);
    wg_wecom_limiter_free(l);
}

static void test_backwards_clock_and_odd_keys(void)
{
    const wg_wecom_rate_t rate = {2, 1000};
    char err[128], longkey[WG_WECOM_LIMITER_KEY_MAX + 2];
    wg_wecom_limiter_t *l = wg_wecom_limiter_new(&rate, 1, err, sizeof(err));
    int64_t next = -1;

    CHECK_INT(wg_wecom_limiter_take(l, "k", 5000, &next), 1);
    /* the clock steps back: the send counts as made at 5000, so it holds until 6000 */
    CHECK_INT(wg_wecom_limiter_take(l, "k", 100, &next), 1);
    CHECK_INT(wg_wecom_limiter_take(l, "k", 5500, &next), 0);
    CHECK_INT(next, 6000);
    /* NULL, empty and over-long keys are not limited (and not stored) */
    memset(longkey, 'x', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';
    for (int i = 0; i < 5; i++) {
        CHECK_INT(wg_wecom_limiter_take(l, "", 0, &next), 1);
        CHECK_INT(wg_wecom_limiter_take(l, NULL, 0, &next), 1);
        CHECK_INT(wg_wecom_limiter_take(l, longkey, 0, &next), 1);
    }
    CHECK_INT(wg_wecom_limiter_keys(l), 1);
    wg_wecom_limiter_free(l);
}

static void test_gc_and_growth(void)
{
    const wg_wecom_rate_t rates[] = {{2, 1000}, {5, 10000}};
    char err[128], key[32];
    wg_wecom_limiter_t *l = wg_wecom_limiter_new(rates, 2, err, sizeof(err));
    int ok = 1;
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "user%d", i);
        ok &= wg_wecom_limiter_take(l, key, 0, NULL) == 1;
        ok &= wg_wecom_limiter_take(l, key, 0, NULL) == 1;
        ok &= wg_wecom_limiter_take(l, key, 0, NULL) == 0;
    }
    CHECK(ok);
    CHECK_INT(wg_wecom_limiter_keys(l), 5000); /* the incremental sweep drops no live key */
    /* still inside the hour-like window: kept */
    CHECK_INT(wg_wecom_limiter_gc(l, 9999), 5000);
    CHECK_INT(wg_wecom_limiter_next(l, "user42", 9999), 9999);
    /* every send has left the longest window */
    CHECK_INT(wg_wecom_limiter_gc(l, 10000), 0);
    CHECK_INT(wg_wecom_limiter_take(l, "user42", 10000, NULL), 1);
    CHECK_INT(wg_wecom_limiter_keys(l), 1);
    wg_wecom_limiter_free(l);
}

static void test_bad_rates(void)
{
    char err[128] = "";
    const wg_wecom_rate_t zero_limit = {0, 1000}, zero_window = {1, 0};
    wg_wecom_rate_t five[5] = {{1, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}};
    CHECK(wg_wecom_limiter_new(&zero_limit, 1, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "rate 0") != NULL);
    CHECK(wg_wecom_limiter_new(&zero_window, 1, err, sizeof(err)) == NULL);
    CHECK(wg_wecom_limiter_new(five, 5, err, sizeof(err)) == NULL);
    CHECK(wg_wecom_limiter_new(NULL, 0, err, sizeof(err)) == NULL);
    wg_wecom_limiter_free(NULL);
}

int main(void)
{
    TEST_RUN(test_member_minute_boundary);
    TEST_RUN(test_member_minute_invariant);
    TEST_RUN(test_member_hour_boundary);
    TEST_RUN(test_robot_boundary);
    TEST_RUN(test_take_all);
    TEST_RUN(test_backwards_clock_and_odd_keys);
    TEST_RUN(test_gc_and_growth);
    TEST_RUN(test_bad_rates);
    return TEST_DONE();
}
