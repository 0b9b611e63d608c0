/* HMAC-SHA256 and the signature of wegate's outgoing webhooks.
 *
 * Every webhook POST carries
 *     X-Wegate-Timestamp: <unix seconds, decimal>
 *     X-Wegate-Signature: v1=<lower-case hex HMAC-SHA256(secret, timestamp + "." + body)>
 * so a receiver recomputes the HMAC over the exact bytes it received and compares in constant
 * time (wg_crypto_webhook_verify). OpenSSL only; no logging, no globals; every function is pure
 * and thread-safe (per-call contexts). */
#ifndef WG_CRYPTO_HMAC_H
#define WG_CRYPTO_HMAC_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/msgcrypt.h" /* wg_crypto_rc_t */

#define WG_CRYPTO_HMAC_SHA256_LEN 32 /* raw digest bytes */
#define WG_CRYPTO_HMAC_SHA256_HEX 64 /* lower-case hex chars */
#define WG_CRYPTO_WEBHOOK_SIG_PREFIX "v1="
/* "v1=" + 64 hex: the X-Wegate-Signature value (without NUL) */
#define WG_CRYPTO_WEBHOOK_SIG_LEN (3 + WG_CRYPTO_HMAC_SHA256_HEX)
/* A decimal unix timestamp is at most this many chars (int64 with sign) */
#define WG_CRYPTO_WEBHOOK_TS_MAX 20

/* HMAC-SHA256(key, data) into out. An empty key or empty data is allowed. WG_CRYPTO_OK, or
 * WG_CRYPTO_E_INTERNAL if OpenSSL fails. */
wg_crypto_rc_t wg_crypto_hmac_sha256(const void *key, size_t key_len, const void *data,
                                     size_t data_len, uint8_t out[WG_CRYPTO_HMAC_SHA256_LEN]);

/* The same, as 64 lower-case hex chars and a NUL. */
wg_crypto_rc_t wg_crypto_hmac_sha256_hex(const void *key, size_t key_len, const void *data,
                                         size_t data_len, char out[WG_CRYPTO_HMAC_SHA256_HEX + 1]);

/* Lower-case hex of n bytes into out (2n chars and a NUL). */
void wg_crypto_hex_lower(const uint8_t *in, size_t n, char *out);

/* The X-Wegate-Signature value for (secret, timestamp, body): "v1=" + hex of
 * HMAC-SHA256(secret, timestamp "." body), 67 chars and a NUL into out. timestamp is the exact
 * X-Wegate-Timestamp string (decimal). WG_CRYPTO_E_INTERNAL on an OpenSSL failure. */
wg_crypto_rc_t wg_crypto_webhook_sign(const void *secret, size_t secret_len, const char *timestamp,
                                      size_t timestamp_len, const void *body, size_t body_len,
                                      char out[WG_CRYPTO_WEBHOOK_SIG_LEN + 1]);

/* Checks a received webhook, for receivers and tests:
 * - signature is the X-Wegate-Signature header value: "v1=" and 64 hex digits (either case);
 *   several comma-separated "v1=..." entries are accepted (a sender rotating its secret may send
 *   two): it matches if any does. Each comparison is constant-time.
 * - timestamp must be a decimal integer; when tolerance_s > 0 it must also be within
 *   tolerance_s seconds of now_s (either way), which bounds replays (the receiver still dedupes
 *   on X-Wegate-Delivery). tolerance_s <= 0 skips the age check (now_s unused).
 * WG_CRYPTO_OK on a match, WG_CRYPTO_E_SIGNATURE otherwise (malformed header or timestamp, too
 * old, or no match), WG_CRYPTO_E_INTERNAL if OpenSSL fails. */
wg_crypto_rc_t wg_crypto_webhook_verify(const void *secret, size_t secret_len,
                                        const char *timestamp, size_t timestamp_len,
                                        const void *body, size_t body_len, const char *signature,
                                        size_t signature_len, int64_t now_s, int64_t tolerance_s);

#endif
