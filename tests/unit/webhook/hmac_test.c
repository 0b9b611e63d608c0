/* crypto/hmac: RFC 4231 vectors, the webhook signature (also against `openssl dgst -hmac`),
 * and the verifier: tampering, case, several entries, malformed headers, the age check. */
#include "crypto/hmac.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"

static void test_rfc4231(void)
{
    uint8_t key1[20], key6[131];
    char hex[WG_CRYPTO_HMAC_SHA256_HEX + 1];
    memset(key1, 0x0b, sizeof(key1));
    memset(key6, 0xaa, sizeof(key6));
    CHECK_INT(wg_crypto_hmac_sha256_hex(key1, sizeof(key1), "Hi There", 8, hex), WG_CRYPTO_OK);
    CHECK_STR(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    CHECK_INT(wg_crypto_hmac_sha256_hex("Jefe", 4, "what do ya want for nothing?", 28, hex),
              WG_CRYPTO_OK);
    CHECK_STR(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    CHECK_INT(wg_crypto_hmac_sha256_hex(key6, sizeof(key6),
                                        "Test Using Larger Than Block-Size Key - Hash Key First",
                                        54, hex),
              WG_CRYPTO_OK);
    CHECK_STR(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    /* empty key and empty data are fine (HMAC of nothing) */
    CHECK_INT(wg_crypto_hmac_sha256_hex("", 0, "", 0, hex), WG_CRYPTO_OK);
    CHECK_STR(hex, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

#define SECRET "whsec_test-123"
#define TS "1700000000"
#define BODY "{\"alert\":\"x\",\"n\":1}"

static void test_sign_is_hmac_of_ts_dot_body(void)
{
    char sig[WG_CRYPTO_WEBHOOK_SIG_LEN + 1], hex[WG_CRYPTO_HMAC_SHA256_HEX + 1];
    const char *msg = TS "." BODY;
    CHECK_INT(
        wg_crypto_webhook_sign(SECRET, strlen(SECRET), TS, strlen(TS), BODY, strlen(BODY), sig),
        WG_CRYPTO_OK);
    CHECK_INT(strlen(sig), WG_CRYPTO_WEBHOOK_SIG_LEN);
    CHECK_INT(wg_crypto_hmac_sha256_hex(SECRET, strlen(SECRET), msg, strlen(msg), hex),
              WG_CRYPTO_OK);
    CHECK(strncmp(sig, "v1=", 3) == 0);
    CHECK_STR(sig + 3, hex);
}

/* An independent computation: the openssl command over the same bytes. */
static void test_sign_matches_openssl_cli(void)
{
    char path[] = "/tmp/wegate-hmac-XXXXXX", cmd[256], line[256] = "";
    char sig[WG_CRYPTO_WEBHOOK_SIG_LEN + 1];
    const char *msg = TS "." BODY, *hex;
    FILE *p;
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK(write(fd, msg, strlen(msg)) == (ssize_t)strlen(msg));
    close(fd);
    snprintf(cmd, sizeof(cmd), "openssl dgst -sha256 -hmac '%s' '%s'", SECRET, path);
    p = popen(cmd, "r");
    CHECK(p != NULL);
    if (p) {
        if (fgets(line, sizeof(line), p) == NULL)
            line[0] = '\0';
        pclose(p);
    }
    unlink(path);
    line[strcspn(line, "\n")] = '\0';
    hex = strrchr(line, ' '); /* "HMAC-SHA2-256(file)= <hex>" */
    CHECK(hex != NULL);
    CHECK_INT(
        wg_crypto_webhook_sign(SECRET, strlen(SECRET), TS, strlen(TS), BODY, strlen(BODY), sig),
        WG_CRYPTO_OK);
    if (hex)
        CHECK_STR(sig + 3, hex + 1);
}

static wg_crypto_rc_t verify(const char *secret, const char *ts, const char *body,
                             const char *header, int64_t now, int64_t tol)
{
    return wg_crypto_webhook_verify(secret, strlen(secret), ts, strlen(ts), body, strlen(body),
                                    header, strlen(header), now, tol);
}

static void test_verify(void)
{
    char sig[WG_CRYPTO_WEBHOOK_SIG_LEN + 1], upper[WG_CRYPTO_WEBHOOK_SIG_LEN + 1], two[200];
    char bad[WG_CRYPTO_WEBHOOK_SIG_LEN + 1];
    wg_crypto_webhook_sign(SECRET, strlen(SECRET), TS, strlen(TS), BODY, strlen(BODY), sig);

    CHECK_INT(verify(SECRET, TS, BODY, sig, 0, 0), WG_CRYPTO_OK);
    CHECK_INT(verify(SECRET, TS, BODY "x", sig, 0, 0), WG_CRYPTO_E_SIGNATURE);
    CHECK_INT(verify(SECRET, "1700000001", BODY, sig, 0, 0), WG_CRYPTO_E_SIGNATURE);
    CHECK_INT(verify("other", TS, BODY, sig, 0, 0), WG_CRYPTO_E_SIGNATURE);
    /* hex in upper case is the same signature */
    for (size_t i = 0; i <= WG_CRYPTO_WEBHOOK_SIG_LEN; i++)
        upper[i] = i >= 3 && sig[i] >= 'a' && sig[i] <= 'f' ? (char)(sig[i] - 32) : sig[i];
    CHECK_INT(verify(SECRET, TS, BODY, upper, 0, 0), WG_CRYPTO_OK);
    /* several entries: any match (rotation), other schemes ignored */
    memcpy(bad, sig, sizeof(bad));
    bad[10] = bad[10] == '0' ? '1' : '0';
    snprintf(two, sizeof(two), "v0=abc, %s ,%s", bad, sig);
    CHECK_INT(verify(SECRET, TS, BODY, two, 0, 0), WG_CRYPTO_OK);
    snprintf(two, sizeof(two), "v0=abc,%s", bad);
    CHECK_INT(verify(SECRET, TS, BODY, two, 0, 0), WG_CRYPTO_E_SIGNATURE);
    /* malformed */
    CHECK_INT(verify(SECRET, TS, BODY, sig + 3, 0, 0), WG_CRYPTO_E_SIGNATURE);
    CHECK_INT(verify(SECRET, TS, BODY, "", 0, 0), WG_CRYPTO_E_SIGNATURE);
    sig[WG_CRYPTO_WEBHOOK_SIG_LEN - 1] = 'g';
    CHECK_INT(verify(SECRET, TS, BODY, sig, 0, 0), WG_CRYPTO_E_SIGNATURE);
    wg_crypto_webhook_sign(SECRET, strlen(SECRET), TS, strlen(TS), BODY, strlen(BODY), sig);
    CHECK_INT(verify(SECRET, "17e8", BODY, sig, 0, 0), WG_CRYPTO_E_SIGNATURE);
    CHECK_INT(verify(SECRET, "", BODY, sig, 0, 0), WG_CRYPTO_E_SIGNATURE);
    /* the age check */
    CHECK_INT(verify(SECRET, TS, BODY, sig, 1700000300, 300), WG_CRYPTO_OK);
    CHECK_INT(verify(SECRET, TS, BODY, sig, 1699999700, 300), WG_CRYPTO_OK);
    CHECK_INT(verify(SECRET, TS, BODY, sig, 1700000301, 300), WG_CRYPTO_E_SIGNATURE);
    CHECK_INT(verify(SECRET, TS, BODY, sig, 1699999699, 300), WG_CRYPTO_E_SIGNATURE);
    /* an empty body signs and verifies */
    wg_crypto_webhook_sign(SECRET, strlen(SECRET), TS, strlen(TS), NULL, 0, sig);
    CHECK_INT(verify(SECRET, TS, "", sig, 0, 0), WG_CRYPTO_OK);
}

int main(void)
{
    TEST_RUN(test_rfc4231);
    TEST_RUN(test_sign_is_hmac_of_ts_dot_body);
    TEST_RUN(test_sign_matches_openssl_cli);
    TEST_RUN(test_verify);
    return TEST_DONE();
}
