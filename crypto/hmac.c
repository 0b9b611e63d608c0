/* HMAC-SHA256 (OpenSSL's one-shot HMAC()) and the X-Wegate-Signature of outgoing webhooks:
 * "v1=" + hex HMAC-SHA256(secret, timestamp "." body). */
#include "crypto/hmac.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

/* HMAC() takes an int key length; a longer key is hashed by HMAC anyway, but we never get one. */
#define KEY_MAX ((size_t)0x7fffffff)

wg_crypto_rc_t wg_crypto_hmac_sha256(const void *key, size_t key_len, const void *data,
                                     size_t data_len, uint8_t out[WG_CRYPTO_HMAC_SHA256_LEN])
{
    static const uint8_t empty[1] = {0};
    unsigned int outlen = 0;

    if (key_len > KEY_MAX)
        return WG_CRYPTO_E_INTERNAL;
    /* HMAC() treats a NULL key as "reuse the previous one" in some versions: pass a real one. */
    if (HMAC(EVP_sha256(), key_len ? key : empty, (int)key_len,
             data_len ? (const unsigned char *)data : empty, data_len, out, &outlen) == NULL ||
        outlen != WG_CRYPTO_HMAC_SHA256_LEN)
        return WG_CRYPTO_E_INTERNAL;
    return WG_CRYPTO_OK;
}

void wg_crypto_hex_lower(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

wg_crypto_rc_t wg_crypto_hmac_sha256_hex(const void *key, size_t key_len, const void *data,
                                         size_t data_len, char out[WG_CRYPTO_HMAC_SHA256_HEX + 1])
{
    uint8_t mac[WG_CRYPTO_HMAC_SHA256_LEN];
    wg_crypto_rc_t rc = wg_crypto_hmac_sha256(key, key_len, data, data_len, mac);
    if (rc != WG_CRYPTO_OK)
        return rc;
    wg_crypto_hex_lower(mac, sizeof(mac), out);
    OPENSSL_cleanse(mac, sizeof(mac));
    return WG_CRYPTO_OK;
}

/* HMAC over timestamp "." body, streamed so the body is never copied. */
static wg_crypto_rc_t webhook_mac(const void *secret, size_t secret_len, const char *timestamp,
                                  size_t timestamp_len, const void *body, size_t body_len,
                                  uint8_t out[WG_CRYPTO_HMAC_SHA256_LEN])
{
    static const uint8_t empty[1] = {0};
    wg_crypto_rc_t rc = WG_CRYPTO_E_INTERNAL;
    EVP_MAC *mac = NULL;
    EVP_MAC_CTX *ctx = NULL;
    OSSL_PARAM params[2];
    size_t outlen = 0;

    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac == NULL)
        goto done;
    ctx = EVP_MAC_CTX_new(mac);
    if (ctx == NULL)
        goto done;
    params[0] = OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    if (!EVP_MAC_init(ctx, secret_len ? secret : empty, secret_len, params))
        goto done;
    if (!EVP_MAC_update(ctx, (const unsigned char *)timestamp, timestamp_len) ||
        !EVP_MAC_update(ctx, (const unsigned char *)".", 1) ||
        (body_len && !EVP_MAC_update(ctx, body, body_len)))
        goto done;
    if (!EVP_MAC_final(ctx, out, &outlen, WG_CRYPTO_HMAC_SHA256_LEN) ||
        outlen != WG_CRYPTO_HMAC_SHA256_LEN)
        goto done;
    rc = WG_CRYPTO_OK;
done:
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return rc;
}

wg_crypto_rc_t wg_crypto_webhook_sign(const void *secret, size_t secret_len, const char *timestamp,
                                      size_t timestamp_len, const void *body, size_t body_len,
                                      char out[WG_CRYPTO_WEBHOOK_SIG_LEN + 1])
{
    uint8_t mac[WG_CRYPTO_HMAC_SHA256_LEN];
    wg_crypto_rc_t rc =
        webhook_mac(secret, secret_len, timestamp, timestamp_len, body, body_len, mac);
    if (rc != WG_CRYPTO_OK)
        return rc;
    memcpy(out, WG_CRYPTO_WEBHOOK_SIG_PREFIX, 3);
    wg_crypto_hex_lower(mac, sizeof(mac), out + 3);
    OPENSSL_cleanse(mac, sizeof(mac));
    return WG_CRYPTO_OK;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Strict decimal int64 with an optional '-': 1 and *out, or 0. */
static int parse_ts(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    int64_t v = 0;

    if (n == 0 || n > WG_CRYPTO_WEBHOOK_TS_MAX)
        return 0;
    if (s[0] == '-') {
        neg = 1;
        i = 1;
        if (n == 1)
            return 0;
    }
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        if (v > (INT64_MAX - (s[i] - '0')) / 10)
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = neg ? -v : v;
    return 1;
}

/* Skips spaces and tabs around comma-separated entries. */
static int is_sp(char c)
{
    return c == ' ' || c == '\t';
}

wg_crypto_rc_t wg_crypto_webhook_verify(const void *secret, size_t secret_len,
                                        const char *timestamp, size_t timestamp_len,
                                        const void *body, size_t body_len, const char *signature,
                                        size_t signature_len, int64_t now_s, int64_t tolerance_s)
{
    uint8_t want[WG_CRYPTO_HMAC_SHA256_LEN];
    uint8_t got[WG_CRYPTO_HMAC_SHA256_LEN];
    int64_t ts;
    int matched = 0;
    size_t i = 0;
    wg_crypto_rc_t rc;

    if (timestamp == NULL || signature == NULL || !parse_ts(timestamp, timestamp_len, &ts))
        return WG_CRYPTO_E_SIGNATURE;
    if (tolerance_s > 0) {
        /* |now - ts| > tolerance, without overflow */
        if ((ts < now_s && (uint64_t)now_s - (uint64_t)ts > (uint64_t)tolerance_s) ||
            (ts > now_s && (uint64_t)ts - (uint64_t)now_s > (uint64_t)tolerance_s))
            return WG_CRYPTO_E_SIGNATURE;
    }
    rc = webhook_mac(secret, secret_len, timestamp, timestamp_len, body, body_len, want);
    if (rc != WG_CRYPTO_OK)
        return rc;

    while (i < signature_len) {
        size_t start, end;
        int ok = 1;
        while (i < signature_len && is_sp(signature[i]))
            i++;
        start = i;
        while (i < signature_len && signature[i] != ',')
            i++;
        end = i;
        if (i < signature_len)
            i++; /* the comma */
        while (end > start && is_sp(signature[end - 1]))
            end--;
        if (end - start != WG_CRYPTO_WEBHOOK_SIG_LEN ||
            memcmp(signature + start, WG_CRYPTO_WEBHOOK_SIG_PREFIX, 3) != 0)
            continue; /* another scheme or garbage: ignored */
        for (size_t k = 0; k < WG_CRYPTO_HMAC_SHA256_LEN; k++) {
            int hi = hexval(signature[start + 3 + 2 * k]);
            int lo = hexval(signature[start + 3 + 2 * k + 1]);
            if (hi < 0 || lo < 0) {
                ok = 0;
                break;
            }
            got[k] = (uint8_t)(hi << 4 | lo);
        }
        if (ok && CRYPTO_memcmp(got, want, sizeof(want)) == 0)
            matched = 1; /* keep going: the time taken does not depend on which entry matched */
    }
    OPENSSL_cleanse(want, sizeof(want));
    return matched ? WG_CRYPTO_OK : WG_CRYPTO_E_SIGNATURE;
}
