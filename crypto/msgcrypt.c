/* WeCom callback message crypt (PROTOCOL.md §1): signature, AES-256-CBC with 32-byte padding,
 * receive-id check. OpenSSL EVP and OpenSSL's base64 only. */
#include "crypto/msgcrypt.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

/* WeCom pads the plaintext PKCS#7-style to a multiple of 32 bytes, not the AES block (16). */
#define PAD_BLOCK 32
#define AES_KEY_LEN 32
#define AES_BLOCK 16
/* 16 random bytes + 4-byte big-endian message length precede the message. */
#define HEADER_LEN (WG_CRYPTO_RANDOM_LEN + 4)
/* Plaintexts up to this size are encrypted in a stack buffer, larger ones in a heap one. */
#define ENCRYPT_STACK_BUF 2048

struct wg_crypto_msgcrypt {
    char token[WG_CRYPTO_TOKEN_MAX + 1];
    size_t token_len;
    uint8_t iv[AES_BLOCK]; /* WeCom's IV: the key's first 16 bytes, the same for every message */
    EVP_CIPHER *cipher;    /* fetched once: no implicit fetch per call */
    EVP_MD *sha1;
    EVP_CIPHER_CTX *dec; /* key schedule set up once; the IV is not reset (see decrypt) */
    EVP_CIPHER_CTX *enc;
    EVP_MD_CTX *md;
};

const char *wg_crypto_rc_name(wg_crypto_rc_t rc)
{
    switch (rc) {
    case WG_CRYPTO_OK:
        return "ok";
    case WG_CRYPTO_E_SIGNATURE:
        return "signature";
    case WG_CRYPTO_E_AES_KEY:
        return "aes key";
    case WG_CRYPTO_E_TOKEN:
        return "token";
    case WG_CRYPTO_E_BASE64:
        return "base64";
    case WG_CRYPTO_E_LENGTH:
        return "length";
    case WG_CRYPTO_E_PADDING:
        return "padding";
    case WG_CRYPTO_E_MSG_LENGTH:
        return "message length";
    case WG_CRYPTO_E_RECEIVE_ID:
        return "receive id";
    case WG_CRYPTO_E_BUFFER:
        return "buffer";
    case WG_CRYPTO_E_INTERNAL:
        return "internal";
    }
    return "unknown";
}

/* The official samples' codes (PROTOCOL.md §1). A bad token makes the signature impossible to
 * compute (-40003, "SHA error"); every fault found after the AES step maps to the samples'
 * "AES decrypt failed" (-40007) except those the samples name themselves. */
int wg_crypto_rc_wecom_code(wg_crypto_rc_t rc)
{
    switch (rc) {
    case WG_CRYPTO_OK:
        return 0;
    case WG_CRYPTO_E_SIGNATURE:
        return -40001;
    case WG_CRYPTO_E_TOKEN:
        return -40003;
    case WG_CRYPTO_E_AES_KEY:
        return -40004;
    case WG_CRYPTO_E_RECEIVE_ID:
        return -40005;
    case WG_CRYPTO_E_LENGTH:
    case WG_CRYPTO_E_PADDING:
        return -40007;
    case WG_CRYPTO_E_MSG_LENGTH:
    case WG_CRYPTO_E_BUFFER:
        return -40008;
    case WG_CRYPTO_E_BASE64:
        return -40010;
    case WG_CRYPTO_E_INTERNAL:
        return -40007;
    }
    return -40007;
}

static int is_alnum(unsigned char c)
{
    return ((unsigned char)(c - 'A') < 26) | ((unsigned char)(c - 'a') < 26) |
           ((unsigned char)(c - '0') < 10);
}

/* 1 for the 64 characters of the standard base64 alphabet. Branch-free and byte-wide so the
 * compiler vectorises the scan over a whole Encrypt value 16 characters at a time. */
static uint8_t is_b64(uint8_t c)
{
    uint8_t upper = (uint8_t)(c - 'A') < 26, lower = (uint8_t)(c - 'a') < 26;
    uint8_t digit = (uint8_t)(c - '0') < 10, plus = c == '+', slash = c == '/';
    return (uint8_t)(upper | lower | digit | plus | slash);
}

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
}

static wg_crypto_rc_t check_token(const char *token, size_t len, char *err, size_t errlen)
{
    if (len == 0 || len > WG_CRYPTO_TOKEN_MAX) {
        if (err && errlen)
            snprintf(err, errlen, "token must be 1 to %d letters or digits (got %zu characters)",
                     WG_CRYPTO_TOKEN_MAX, len);
        return WG_CRYPTO_E_TOKEN;
    }
    for (size_t i = 0; i < len; i++)
        if (!is_alnum((unsigned char)token[i])) {
            if (err && errlen)
                snprintf(err, errlen, "token must be letters or digits (character %zu is not)",
                         i + 1);
            return WG_CRYPTO_E_TOKEN;
        }
    return WG_CRYPTO_OK;
}

/* EncodingAESKey → 32 bytes. The key's base64 is non-canonical (its last character carries 2
 * stray bits, PROTOCOL.md §1), so it is decoded the lenient way WeCom's samples do: append "=" and
 * let OpenSSL drop the stray bits. */
static wg_crypto_rc_t decode_aes_key(const char *key, uint8_t out[AES_KEY_LEN], char *err,
                                     size_t errlen)
{
    size_t len = strlen(key);
    if (len != WG_CRYPTO_AES_KEY_CHARS) {
        if (err && errlen)
            snprintf(err, errlen,
                     "EncodingAESKey must be exactly %d letters or digits (got %zu characters)",
                     WG_CRYPTO_AES_KEY_CHARS, len);
        return WG_CRYPTO_E_AES_KEY;
    }
    for (size_t i = 0; i < len; i++)
        if (!is_alnum((unsigned char)key[i])) {
            if (err && errlen)
                snprintf(err, errlen,
                         "EncodingAESKey must be letters or digits (character %zu is not)", i + 1);
            return WG_CRYPTO_E_AES_KEY;
        }
    unsigned char b64[WG_CRYPTO_AES_KEY_CHARS + 1];
    unsigned char raw[(WG_CRYPTO_AES_KEY_CHARS + 1) / 4 * 3];
    memcpy(b64, key, WG_CRYPTO_AES_KEY_CHARS);
    b64[WG_CRYPTO_AES_KEY_CHARS] = '=';
    int n = EVP_DecodeBlock(raw, b64, (int)sizeof b64);
    /* EVP_DecodeBlock counts the "=" as a zero byte: 33 decoded, 32 real. */
    if (n != AES_KEY_LEN + 1) {
        OPENSSL_cleanse(raw, sizeof raw);
        set_err(err, errlen, "EncodingAESKey does not decode to 32 bytes");
        return WG_CRYPTO_E_AES_KEY;
    }
    memcpy(out, raw, AES_KEY_LEN);
    OPENSSL_cleanse(raw, sizeof raw);
    return WG_CRYPTO_OK;
}

wg_crypto_msgcrypt_t *wg_crypto_msgcrypt_new(const char *token, const char *encoding_aes_key,
                                             wg_crypto_rc_t *rc, char *err, size_t errlen)
{
    wg_crypto_rc_t st;
    uint8_t key[AES_KEY_LEN];
    wg_crypto_msgcrypt_t *mc = NULL;

    if (err && errlen)
        err[0] = '\0';
    if (!token) {
        st = WG_CRYPTO_E_TOKEN;
        set_err(err, errlen, "token missing");
        goto fail;
    }
    if (!encoding_aes_key) {
        st = WG_CRYPTO_E_AES_KEY;
        set_err(err, errlen, "EncodingAESKey missing");
        goto fail;
    }
    size_t token_len = strlen(token);
    st = check_token(token, token_len, err, errlen);
    if (st != WG_CRYPTO_OK)
        goto fail;
    st = decode_aes_key(encoding_aes_key, key, err, errlen);
    if (st != WG_CRYPTO_OK)
        goto fail;

    st = WG_CRYPTO_E_INTERNAL;
    mc = calloc(1, sizeof *mc);
    if (!mc) {
        set_err(err, errlen, "out of memory");
        goto fail;
    }
    memcpy(mc->token, token, token_len);
    mc->token_len = token_len;
    memcpy(mc->iv, key, AES_BLOCK);
    mc->cipher = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
    mc->sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
    mc->dec = EVP_CIPHER_CTX_new();
    mc->enc = EVP_CIPHER_CTX_new();
    mc->md = EVP_MD_CTX_new();
    if (!mc->cipher || !mc->sha1 || !mc->dec || !mc->enc || !mc->md) {
        set_err(err, errlen, "OpenSSL has no AES-256-CBC or SHA-1, or is out of memory");
        goto fail;
    }
    /* Expand the key once per direction; padding is WeCom's (32-byte), not OpenSSL's. */
    if (EVP_DecryptInit_ex(mc->dec, mc->cipher, NULL, key, mc->iv) != 1 ||
        EVP_CIPHER_CTX_set_padding(mc->dec, 0) != 1 ||
        EVP_EncryptInit_ex(mc->enc, mc->cipher, NULL, key, mc->iv) != 1 ||
        EVP_CIPHER_CTX_set_padding(mc->enc, 0) != 1) {
        set_err(err, errlen, "OpenSSL AES-256-CBC setup failed");
        goto fail;
    }
    OPENSSL_cleanse(key, sizeof key);
    if (rc)
        *rc = WG_CRYPTO_OK;
    return mc;

fail:
    OPENSSL_cleanse(key, sizeof key);
    wg_crypto_msgcrypt_free(mc);
    if (rc)
        *rc = st;
    return NULL;
}

void wg_crypto_msgcrypt_free(wg_crypto_msgcrypt_t *mc)
{
    if (!mc)
        return;
    EVP_CIPHER_CTX_free(mc->dec);
    EVP_CIPHER_CTX_free(mc->enc);
    EVP_MD_CTX_free(mc->md);
    EVP_CIPHER_free(mc->cipher);
    EVP_MD_free(mc->sha1);
    OPENSSL_cleanse(mc, sizeof *mc);
    free(mc);
}

/* ---- signature ---- */

typedef struct part {
    const char *p;
    size_t n;
} part_t;

/* Byte order, a proper prefix first: what sorting the strings does in WeCom's samples. */
static int part_cmp(const part_t *a, const part_t *b)
{
    size_t n = a->n < b->n ? a->n : b->n;
    int c = n ? memcmp(a->p, b->p, n) : 0;
    if (c)
        return c;
    return (a->n > b->n) - (a->n < b->n);
}

static wg_crypto_rc_t sign_parts(EVP_MD_CTX *md, const EVP_MD *sha1, part_t parts[4],
                                 char out[WG_CRYPTO_SIG_HEX + 1])
{
    static const char hex[] = "0123456789abcdef";

    /* Insertion sort of 4: no qsort callback on the hot path. */
    for (int i = 1; i < 4; i++) {
        part_t x = parts[i];
        int j = i - 1;
        while (j >= 0 && part_cmp(&parts[j], &x) > 0) {
            parts[j + 1] = parts[j];
            j--;
        }
        parts[j + 1] = x;
    }
    /* SHA-1 over the parts in order: same as over their concatenation, without the copy. */
    unsigned char dig[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    if (EVP_DigestInit_ex(md, sha1, NULL) != 1)
        return WG_CRYPTO_E_INTERNAL;
    for (int i = 0; i < 4; i++)
        if (parts[i].n && EVP_DigestUpdate(md, parts[i].p, parts[i].n) != 1)
            return WG_CRYPTO_E_INTERNAL;
    if (EVP_DigestFinal_ex(md, dig, &dlen) != 1 || dlen * 2 != WG_CRYPTO_SIG_HEX)
        return WG_CRYPTO_E_INTERNAL;
    for (unsigned int i = 0; i < dlen; i++) {
        out[2 * i] = hex[dig[i] >> 4];
        out[2 * i + 1] = hex[dig[i] & 15];
    }
    out[WG_CRYPTO_SIG_HEX] = '\0';
    return WG_CRYPTO_OK;
}

static int parts_ok(const char *timestamp, size_t timestamp_len, const char *nonce,
                    size_t nonce_len, const char *encrypt, size_t encrypt_len)
{
    return (timestamp || !timestamp_len) && (nonce || !nonce_len) && (encrypt || !encrypt_len);
}

wg_crypto_rc_t wg_crypto_sign(const wg_crypto_msgcrypt_t *mc, const char *timestamp,
                              size_t timestamp_len, const char *nonce, size_t nonce_len,
                              const char *encrypt, size_t encrypt_len,
                              char out[WG_CRYPTO_SIG_HEX + 1])
{
    if (!mc || !out || !parts_ok(timestamp, timestamp_len, nonce, nonce_len, encrypt, encrypt_len))
        return WG_CRYPTO_E_INTERNAL;
    part_t parts[4] = {{mc->token, mc->token_len},
                       {timestamp, timestamp_len},
                       {nonce, nonce_len},
                       {encrypt, encrypt_len}};
    return sign_parts(mc->md, mc->sha1, parts, out);
}

wg_crypto_rc_t wg_crypto_sign_token(const char *token, size_t token_len, const char *timestamp,
                                    size_t timestamp_len, const char *nonce, size_t nonce_len,
                                    const char *encrypt, size_t encrypt_len,
                                    char out[WG_CRYPTO_SIG_HEX + 1], char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!token || !out ||
        !parts_ok(timestamp, timestamp_len, nonce, nonce_len, encrypt, encrypt_len)) {
        set_err(err, errlen, "missing argument");
        return token ? WG_CRYPTO_E_INTERNAL : WG_CRYPTO_E_TOKEN;
    }
    wg_crypto_rc_t rc = check_token(token, token_len, err, errlen);
    if (rc != WG_CRYPTO_OK)
        return rc;
    EVP_MD *sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    rc = WG_CRYPTO_E_INTERNAL;
    if (sha1 && md) {
        part_t parts[4] = {{token, token_len},
                           {timestamp, timestamp_len},
                           {nonce, nonce_len},
                           {encrypt, encrypt_len}};
        rc = sign_parts(md, sha1, parts, out);
    }
    if (rc != WG_CRYPTO_OK)
        set_err(err, errlen, "OpenSSL SHA-1 failed");
    EVP_MD_CTX_free(md);
    EVP_MD_free(sha1);
    return rc;
}

wg_crypto_rc_t wg_crypto_verify(const wg_crypto_msgcrypt_t *mc, const char *timestamp,
                                size_t timestamp_len, const char *nonce, size_t nonce_len,
                                const char *encrypt, size_t encrypt_len, const char *signature,
                                size_t signature_len)
{
    char want[WG_CRYPTO_SIG_HEX + 1];
    wg_crypto_rc_t rc =
        wg_crypto_sign(mc, timestamp, timestamp_len, nonce, nonce_len, encrypt, encrypt_len, want);
    if (rc != WG_CRYPTO_OK)
        return rc;
    /* The length is public (always 40); only the content is compared in constant time. */
    if (!signature || signature_len != WG_CRYPTO_SIG_HEX)
        return WG_CRYPTO_E_SIGNATURE;
    return CRYPTO_memcmp(want, signature, WG_CRYPTO_SIG_HEX) == 0 ? WG_CRYPTO_OK
                                                                  : WG_CRYPTO_E_SIGNATURE;
}

/* ---- decrypt ---- */

size_t wg_crypto_decrypt_bound(size_t encrypt_len)
{
    if (encrypt_len > SIZE_MAX / 3 - 8)
        return SIZE_MAX;
    /* EVP_DecodeBlock writes 3 bytes per 4 characters, "=" included; +1 for the message's NUL
     * when no room is left (never, in fact: the padding is at least 1 byte). */
    return (encrypt_len + 3) / 4 * 3 + 1;
}

/* Strict base64 check: only the standard alphabet, length a multiple of 4, at most two "=" and
 * only at the end. EVP_DecodeBlock alone would skip surrounding whitespace and decode "=" in the
 * middle as zero bits. Returns the decoded length or (size_t)-1. */
static size_t b64_decoded_len(const unsigned char *s, size_t n)
{
    if (n % 4 != 0)
        return (size_t)-1;
    if (n == 0)
        return 0;
    size_t eq = 0;
    if (s[n - 1] == '=') {
        eq = 1;
        if (s[n - 2] == '=')
            eq = 2;
    }
    uint8_t ok = 1;
    for (size_t i = 0; i < n - eq; i++)
        ok &= is_b64(s[i]);
    if (!ok)
        return (size_t)-1;
    return n / 4 * 3 - eq;
}

static int receive_id_allowed(const uint8_t *rid, size_t rid_len, const char *const *ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!ids[i])
            continue;
        size_t len = strlen(ids[i]);
        if (len == rid_len && (len == 0 || memcmp(ids[i], rid, len) == 0))
            return 1;
    }
    return 0;
}

wg_crypto_rc_t wg_crypto_decrypt(wg_crypto_msgcrypt_t *mc, const char *encrypt, size_t encrypt_len,
                                 const char *const *receive_ids, size_t n_receive_ids, uint8_t *buf,
                                 size_t buflen, wg_crypto_plain_t *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!mc || !out || !buf || (!encrypt && encrypt_len))
        return WG_CRYPTO_E_INTERNAL;
    if (buflen < wg_crypto_decrypt_bound(encrypt_len))
        return WG_CRYPTO_E_BUFFER;

    size_t raw_len = b64_decoded_len((const unsigned char *)encrypt, encrypt_len);
    if (raw_len == (size_t)-1)
        return WG_CRYPTO_E_BASE64;
    if (raw_len == 0 || raw_len % AES_BLOCK != 0)
        return WG_CRYPTO_E_LENGTH;
    if (encrypt_len > INT_MAX)
        return WG_CRYPTO_E_LENGTH;
    if (EVP_DecodeBlock(buf, (const unsigned char *)encrypt, (int)encrypt_len) < (int)raw_len)
        return WG_CRYPTO_E_BASE64;

    /* No plaintext shorter than the 20-byte header plus one pad byte is valid, and the only
     * multiple of 16 below that is a single block. Rejecting it here keeps block 0 unread (below).
     */
    if (raw_len < HEADER_LEN + 1)
        return WG_CRYPTO_E_MSG_LENGTH;

    /* In place (OpenSSL allows out == in exactly), with the key schedule set up once. The IV is
     * not reset: in CBC it only enters plaintext block 0, the 16 random bytes, which nothing
     * reads (the checks below are ordered so that even a faulty input never makes them look
     * there, so every status is deterministic). Resetting it (EVP_DecryptInit_ex) would cost
     * OpenSSL 3.0 more than the AES itself. Whole blocks with padding off leave nothing
     * buffered, so there is no EVP_DecryptFinal_ex either. */
    int n1 = 0;
    if (EVP_DecryptUpdate(mc->dec, buf, &n1, buf, (int)raw_len) != 1 || (size_t)n1 != raw_len)
        return WG_CRYPTO_E_INTERNAL;

    unsigned pad = buf[raw_len - 1]; /* raw_len >= 32: in block 1 or later */
    if (pad == 0 || pad > PAD_BLOCK)
        return WG_CRYPTO_E_PADDING;
    /* A pad reaching into the header leaves no room for it: checked before the pad bytes are
     * read, so they all lie past the header (and past block 0). */
    if (pad > raw_len - HEADER_LEN)
        return WG_CRYPTO_E_MSG_LENGTH;
    unsigned diff = 0;
    for (size_t i = raw_len - pad; i < raw_len; i++)
        diff |= buf[i] ^ pad;
    if (diff)
        return WG_CRYPTO_E_PADDING;

    size_t plain_len = raw_len - pad;
    const uint8_t *lp = buf + WG_CRYPTO_RANDOM_LEN;
    size_t msg_len = (size_t)lp[0] << 24 | (size_t)lp[1] << 16 | (size_t)lp[2] << 8 | lp[3];
    if (msg_len > plain_len - HEADER_LEN)
        return WG_CRYPTO_E_MSG_LENGTH;

    uint8_t *msg = buf + HEADER_LEN;
    uint8_t *rid = msg + msg_len;
    size_t rid_len = plain_len - HEADER_LEN - msg_len;
    if (receive_ids && !receive_id_allowed(rid, rid_len, receive_ids, n_receive_ids))
        return WG_CRYPTO_E_RECEIVE_ID;

    /* Make room for the message's NUL: the receive id moves one byte into the padding (there is
     * always at least one pad byte). */
    memmove(rid + 1, rid, rid_len);
    msg[msg_len] = '\0';
    out->msg = msg;
    out->msg_len = msg_len;
    out->receive_id = rid + 1;
    out->receive_id_len = rid_len;
    return WG_CRYPTO_OK;
}

/* ---- encrypt ---- */

static size_t padded_len(size_t plain_len)
{
    return plain_len + (PAD_BLOCK - plain_len % PAD_BLOCK);
}

size_t wg_crypto_encrypt_bound(size_t msg_len, size_t receive_id_len)
{
    if (msg_len > UINT32_MAX || receive_id_len > SIZE_MAX / 2 - msg_len - 64)
        return SIZE_MAX;
    size_t padded = padded_len(HEADER_LEN + msg_len + receive_id_len);
    if (padded > (SIZE_MAX - 1) / 4 * 3 - 3)
        return SIZE_MAX;
    return (padded + 2) / 3 * 4 + 1;
}

wg_crypto_rc_t wg_crypto_encrypt(wg_crypto_msgcrypt_t *mc, const uint8_t *random16, const void *msg,
                                 size_t msg_len, const char *receive_id, size_t receive_id_len,
                                 char *out, size_t outlen, size_t *out_len)
{
    if (out_len)
        *out_len = 0;
    if (!mc || !out || (!msg && msg_len) || (!receive_id && receive_id_len))
        return WG_CRYPTO_E_INTERNAL;
    if (msg_len > UINT32_MAX)
        return WG_CRYPTO_E_MSG_LENGTH; /* the length field is 32 bits */
    size_t need = wg_crypto_encrypt_bound(msg_len, receive_id_len);
    if (need == SIZE_MAX)
        return WG_CRYPTO_E_MSG_LENGTH;
    if (outlen < need)
        return WG_CRYPTO_E_BUFFER;

    size_t plain_len = HEADER_LEN + msg_len + receive_id_len;
    size_t padded = padded_len(plain_len);
    if (padded > INT_MAX)
        return WG_CRYPTO_E_MSG_LENGTH;
    uint8_t stackbuf[ENCRYPT_STACK_BUF];
    uint8_t *p = padded <= sizeof stackbuf ? stackbuf : malloc(padded);
    if (!p)
        return WG_CRYPTO_E_INTERNAL;

    wg_crypto_rc_t rc = WG_CRYPTO_E_INTERNAL;
    if (random16)
        memcpy(p, random16, WG_CRYPTO_RANDOM_LEN);
    else if (RAND_bytes(p, WG_CRYPTO_RANDOM_LEN) != 1)
        goto done;
    p[16] = (uint8_t)(msg_len >> 24);
    p[17] = (uint8_t)(msg_len >> 16);
    p[18] = (uint8_t)(msg_len >> 8);
    p[19] = (uint8_t)msg_len;
    if (msg_len)
        memcpy(p + HEADER_LEN, msg, msg_len);
    if (receive_id_len)
        memcpy(p + HEADER_LEN + msg_len, receive_id, receive_id_len);
    memset(p + plain_len, (int)(padded - plain_len), padded - plain_len);

    int n1 = 0, n2 = 0;
    if (EVP_EncryptInit_ex(mc->enc, NULL, NULL, NULL, mc->iv) != 1 ||
        EVP_EncryptUpdate(mc->enc, p, &n1, p, (int)padded) != 1 ||
        EVP_EncryptFinal_ex(mc->enc, p + n1, &n2) != 1 || (size_t)n1 + (size_t)n2 != padded)
        goto done;
    int b = EVP_EncodeBlock((unsigned char *)out, p, (int)padded);
    if (b < 0 || (size_t)b + 1 > outlen)
        goto done;
    out[b] = '\0';
    if (out_len)
        *out_len = (size_t)b;
    rc = WG_CRYPTO_OK;

done:
    OPENSSL_cleanse(p, padded);
    if (p != stackbuf)
        free(p);
    return rc;
}
