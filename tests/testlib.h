/* Minimal unit-test harness: CHECK macros that count failures, one process per test file.
 * A test file defines static void test_x(void) functions and a main() that calls
 * TEST_RUN(test_x) for each and returns TEST_DONE(). */
#ifndef WG_TESTLIB_H
#define WG_TESTLIB_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int wg_test_failures;
static int wg_test_checks;
static const char *wg_test_current = "";

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        wg_test_checks++;                                                                          \
        if (!(cond)) {                                                                             \
            wg_test_failures++;                                                                    \
            fprintf(stderr, "%s:%d: %s: CHECK(%s) failed\n", __FILE__, __LINE__, wg_test_current,  \
                    #cond);                                                                        \
        }                                                                                          \
    } while (0)

#define CHECK_INT(got, want)                                                                       \
    do {                                                                                           \
        long long g_ = (long long)(got), w_ = (long long)(want);                                   \
        wg_test_checks++;                                                                          \
        if (g_ != w_) {                                                                            \
            wg_test_failures++;                                                                    \
            fprintf(stderr, "%s:%d: %s: %s == %lld, want %lld\n", __FILE__, __LINE__,              \
                    wg_test_current, #got, g_, w_);                                                \
        }                                                                                          \
    } while (0)

#define CHECK_STR(got, want)                                                                       \
    do {                                                                                           \
        const char *g_ = (got), *w_ = (want);                                                      \
        wg_test_checks++;                                                                          \
        if (g_ == NULL || w_ == NULL || strcmp(g_, w_) != 0) {                                     \
            wg_test_failures++;                                                                    \
            fprintf(stderr, "%s:%d: %s: %s == \"%s\", want \"%s\"\n", __FILE__, __LINE__,          \
                    wg_test_current, #got, g_ ? g_ : "(null)", w_ ? w_ : "(null)");                \
        }                                                                                          \
    } while (0)

#define CHECK_MEM(got, got_len, want, want_len)                                                    \
    do {                                                                                           \
        size_t gl_ = (size_t)(got_len), wl_ = (size_t)(want_len);                                  \
        wg_test_checks++;                                                                          \
        if (gl_ != wl_ || memcmp((got), (want), gl_) != 0) {                                       \
            wg_test_failures++;                                                                    \
            fprintf(stderr, "%s:%d: %s: %s (%zu bytes) differs from %s (%zu bytes)\n", __FILE__,   \
                    __LINE__, wg_test_current, #got, gl_, #want, wl_);                             \
        }                                                                                          \
    } while (0)

#define TEST_RUN(fn)                                                                               \
    do {                                                                                           \
        int before_ = wg_test_failures;                                                            \
        wg_test_current = #fn;                                                                     \
        fn();                                                                                      \
        fprintf(stderr, "%s %s\n", wg_test_failures == before_ ? "ok  " : "FAIL", #fn);            \
    } while (0)

#define TEST_DONE()                                                                                \
    (fprintf(stderr, "%d checks, %d failed\n", wg_test_checks, wg_test_failures),                  \
     (wg_test_failures || wg_test_checks == 0) ? 1 : 0)

#endif
