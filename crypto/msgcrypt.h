/* WeCom callback message crypt (PROTOCOL.md §1): SHA-1 signature, AES-256-CBC with 32-byte
 * PKCS#7 padding, receive-id check. OpenSSL only; no logging, no globals.
 *
 * Threads: a wg_crypto_msgcrypt_t holds an expanded AES key and reusable cipher contexts, so it
 * is NOT safe to use from two threads at once: give each thread its own (wg_crypto_msgcrypt_new
 * is cheap). All functions are otherwise pure. */
#ifndef WG_CRYPTO_MSGCRYPT_H
#define WG_CRYPTO_MSGCRYPT_H

#include <stddef.h>
#include <stdint.h>

#define WG_CRYPTO_AES_KEY_CHARS 43 /* EncodingAESKey length */
#define WG_CRYPTO_TOKEN_MAX 32     /* Token: at most 32 letters or digits */
#define WG_CRYPTO_SIG_HEX 40       /* SHA-1, lower-case hex */
#define WG_CRYPTO_RANDOM_LEN 16    /* random prefix of every plaintext */

/* One distinct status per check, so callers can answer and log precisely. */
typedef enum wg_crypto_rc {
    WG_CRYPTO_OK = 0,
    WG_CRYPTO_E_SIGNATURE,  /* signature missing or does not match (-40001) */
    WG_CRYPTO_E_AES_KEY,    /* EncodingAESKey not 43 letters/digits or not 32 bytes (-40004) */
    WG_CRYPTO_E_TOKEN,      /* token empty, too long or not letters/digits */
    WG_CRYPTO_E_BASE64,     /* Encrypt is not valid base64 (-40010) */
    WG_CRYPTO_E_LENGTH,     /* ciphertext empty or not a multiple of the AES block */
    WG_CRYPTO_E_PADDING,    /* pad byte not 1..32 or pad bytes inconsistent */
    WG_CRYPTO_E_MSG_LENGTH, /* 16 + 4 + L exceeds the plaintext */
    WG_CRYPTO_E_RECEIVE_ID, /* trailing receive id not one of the allowed (-40005) */
    WG_CRYPTO_E_BUFFER,     /* caller's output buffer too small (-40008) */
    WG_CRYPTO_E_INTERNAL,   /* OpenSSL failure or out of memory */
} wg_crypto_rc_t;

/* The check's short name, as `wegate crypto decrypt` prints it: "signature", "aes key", "token",
 * "base64", "length", "padding", "message length", "receive id", "buffer", "internal"; "ok". */
const char *wg_crypto_rc_name(wg_crypto_rc_t rc);
/* WeCom's official sample error code for rc (-40001 ...), 0 for OK. */
int wg_crypto_rc_wecom_code(wg_crypto_rc_t rc);

typedef struct wg_crypto_msgcrypt wg_crypto_msgcrypt_t;

/* Validates and copies token and encoding_aes_key (43 chars of [A-Za-z0-9], decoded leniently
 * to exactly 32 bytes). On failure returns NULL, sets *rc (if non-NULL) and writes a message
 * naming the fault, never the secret, into err. */
wg_crypto_msgcrypt_t *wg_crypto_msgcrypt_new(const char *token, const char *encoding_aes_key,
                                             wg_crypto_rc_t *rc, char *err, size_t errlen);
void wg_crypto_msgcrypt_free(wg_crypto_msgcrypt_t *mc);

/* Lower-case hex SHA-1 over the four strings (token, timestamp, nonce, encrypt) sorted in byte
 * order and concatenated; out gets 40 chars and a NUL. Uses mc's digest context: despite the
 * const, the same one-thread-at-a-time rule applies as for decrypt. */
wg_crypto_rc_t wg_crypto_sign(const wg_crypto_msgcrypt_t *mc, const char *timestamp,
                              size_t timestamp_len, const char *nonce, size_t nonce_len,
                              const char *encrypt, size_t encrypt_len,
                              char out[WG_CRYPTO_SIG_HEX + 1]);

/* wg_crypto_sign for a bare token (no EncodingAESKey needed, e.g. `wegate crypto sign`):
 * validates the token (WG_CRYPTO_E_TOKEN, message in err) and allocates its digest context per
 * call, so it is thread-safe but slower. */
wg_crypto_rc_t wg_crypto_sign_token(const char *token, size_t token_len, const char *timestamp,
                                    size_t timestamp_len, const char *nonce, size_t nonce_len,
                                    const char *encrypt, size_t encrypt_len,
                                    char out[WG_CRYPTO_SIG_HEX + 1], char *err, size_t errlen);

/* WG_CRYPTO_OK when signature (40 hex chars; case-sensitive lower-case as WeCom sends) matches;
 * the comparison is constant-time. */
wg_crypto_rc_t wg_crypto_verify(const wg_crypto_msgcrypt_t *mc, const char *timestamp,
                                size_t timestamp_len, const char *nonce, size_t nonce_len,
                                const char *encrypt, size_t encrypt_len, const char *signature,
                                size_t signature_len);

/* A decrypted plaintext: pointers into the caller's buffer. */
typedef struct wg_crypto_plain {
    const uint8_t *msg; /* the message (XML or echostr), msg_len bytes, NUL-terminated */
    size_t msg_len;
    const uint8_t *receive_id; /* the trailing receive id, receive_id_len bytes */
    size_t receive_id_len;
} wg_crypto_plain_t;

/* Bytes of buffer wg_crypto_decrypt needs for an Encrypt value of encrypt_len chars. */
size_t wg_crypto_decrypt_bound(size_t encrypt_len);

/* Base64-decodes and decrypts encrypt into buf (buflen >= wg_crypto_decrypt_bound), checks the
 * padding and the length field, and, when receive_ids is non-NULL, that the trailing receive id
 * is one of the n_receive_ids allowed strings (an allowed "" matches an empty receive id).
 * Does not check the signature: call wg_crypto_verify first.
 * Details: base64 is the standard alphabet, length a multiple of 4, "=" only as the last one or
 * two characters, no whitespace (callers trim); the stray low bits of the last character are
 * ignored. receive_ids non-NULL with n_receive_ids 0 allows nothing (fails closed); NULL entries
 * are skipped. The checks run in this order, the first failure wins: base64; length; message
 * length for a single-block ciphertext (too short for the 20-byte header); padding (pad value
 * 0 or > 32); message length when the pad leaves less than the header; padding (pad bytes not
 * all equal); message length (20 + L exceeds the unpadded length); receive id. The status of a
 * given input never depends on earlier calls. On success out->msg is NUL-terminated and
 * out->receive_id (not NUL-terminated) follows it in buf; buf is clobbered either way. No
 * allocation, no key expansion and no IV reset per call (see msgcrypt.c). */
wg_crypto_rc_t wg_crypto_decrypt(wg_crypto_msgcrypt_t *mc, const char *encrypt, size_t encrypt_len,
                                 const char *const *receive_ids, size_t n_receive_ids, uint8_t *buf,
                                 size_t buflen, wg_crypto_plain_t *out);

/* Chars (plus a NUL) of out that wg_crypto_encrypt needs for msg_len and receive_id_len bytes;
 * SIZE_MAX when msg_len exceeds the 32-bit length field (or the sizes overflow). */
size_t wg_crypto_encrypt_bound(size_t msg_len, size_t receive_id_len);

/* Encrypts random16 ‖ be32(msg_len) ‖ msg ‖ receive_id with 32-byte PKCS#7 padding and writes
 * the base64 Encrypt value (NUL-terminated) to out, its length to *out_len. random16 NULL means
 * 16 bytes from the OpenSSL CSPRNG. WG_CRYPTO_E_MSG_LENGTH when msg_len does not fit the 32-bit
 * length field; WG_CRYPTO_E_BUFFER when outlen < wg_crypto_encrypt_bound. Plaintexts over 2 KiB
 * use a temporary heap buffer. */
wg_crypto_rc_t wg_crypto_encrypt(wg_crypto_msgcrypt_t *mc, const uint8_t *random16, const void *msg,
                                 size_t msg_len, const char *receive_id, size_t receive_id_len,
                                 char *out, size_t outlen, size_t *out_len);

#endif
