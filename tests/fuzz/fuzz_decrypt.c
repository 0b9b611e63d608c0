/* libFuzzer target for crypto/msgcrypt verify + decrypt with WeCom's official Token and
 * EncodingAESKey (PROTOCOL.md §1). Two input formats:
 *   "SIGNATURE\nTIMESTAMP\nNONCE\nENCRYPT..."  the four callback values, split at the first three
 *       newlines (missing parts are empty); verify, then decrypt whatever the verdict, so the
 *       base64 and AES paths are fuzzed too.
 *   "plain:" + bytes  a plaintext encrypted here with raw AES-256-CBC (whole blocks only), so the
 *       checks after AES (padding, length field, receive id) see fuzzer-chosen bytes.
 * A successful decrypt must satisfy the layout invariants and survive re-encryption; anything
 * else aborts. Seeds: tests/data/crypto/fuzz_decrypt/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "crypto/msgcrypt.h"

#define TOKEN "QDG6eK"
#define AES_KEY "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
#define RECEIVE_ID "wx5823bf96d3bd56c7"
#define PLAIN_PREFIX "plain:"
#define MAX_PLAIN 65536
/* The official GET echostr: decrypted between two decrypts of each input. */
#define OTHER                                                                                      \
    "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const ids[] = {RECEIVE_ID, ""};

static wg_crypto_msgcrypt_t *get_mc(void)
{
    /* one object for the whole run, as a worker thread keeps one (still reachable at exit) */
    static wg_crypto_msgcrypt_t *mc;
    if (!mc) {
        mc = wg_crypto_msgcrypt_new(TOKEN, AES_KEY, NULL, NULL, 0);
        if (!mc)
            abort();
    }
    return mc;
}

/* The official key as the library derives it: base64 of the 43 chars plus "=". */
static void official_key(uint8_t key[32])
{
    uint8_t raw[33];
    if (EVP_DecodeBlock(raw, (const unsigned char *)AES_KEY "=", 44) != 33)
        abort();
    memcpy(key, raw, 32);
}

/* Decrypts enc, checks the invariants of a success, re-encrypts and decrypts again. */
static void decrypt_and_check(const char *enc, size_t enc_len)
{
    wg_crypto_msgcrypt_t *mc = get_mc();
    size_t bound = wg_crypto_decrypt_bound(enc_len);
    uint8_t *buf = malloc(bound);
    if (!buf)
        return;
    wg_crypto_plain_t p;
    wg_crypto_rc_t first = wg_crypto_decrypt(mc, enc, enc_len, ids, 2, buf, bound, &p);
    /* The object keeps CBC state between calls (no IV reset): after decrypting something else,
     * the same input must get the same verdict. */
    size_t other_len = strlen(OTHER);
    uint8_t *obuf = malloc(wg_crypto_decrypt_bound(other_len));
    wg_crypto_plain_t op;
    if (!obuf || wg_crypto_decrypt(mc, OTHER, other_len, ids, 2, obuf,
                                   wg_crypto_decrypt_bound(other_len), &op) != WG_CRYPTO_OK)
        abort();
    free(obuf);
    wg_crypto_rc_t rc = wg_crypto_decrypt(mc, enc, enc_len, ids, 2, buf, bound, &p);
    if (rc != first)
        abort();
    if (rc == WG_CRYPTO_OK) {
        if (!p.msg || p.msg[p.msg_len] != '\0' || 20 + p.msg_len + p.receive_id_len > bound ||
            p.msg < buf || p.receive_id < p.msg + p.msg_len ||
            p.receive_id + p.receive_id_len > buf + bound)
            abort();
        if (!(p.receive_id_len == 0 || (p.receive_id_len == strlen(RECEIVE_ID) &&
                                        memcmp(p.receive_id, RECEIVE_ID, p.receive_id_len) == 0)))
            abort();
        size_t need = wg_crypto_encrypt_bound(p.msg_len, p.receive_id_len);
        char *again = malloc(need);
        size_t again_len = 0;
        if (again && wg_crypto_encrypt(mc, NULL, p.msg, p.msg_len, (const char *)p.receive_id,
                                       p.receive_id_len, again, need, &again_len) == WG_CRYPTO_OK) {
            uint8_t *buf2 = malloc(wg_crypto_decrypt_bound(again_len));
            wg_crypto_plain_t p2;
            if (buf2) {
                if (wg_crypto_decrypt(mc, again, again_len, ids, 2, buf2,
                                      wg_crypto_decrypt_bound(again_len), &p2) != WG_CRYPTO_OK ||
                    p2.msg_len != p.msg_len || memcmp(p2.msg, p.msg, p.msg_len) != 0 ||
                    p2.receive_id_len != p.receive_id_len)
                    abort();
                free(buf2);
            }
        }
        free(again);
    } else if (p.msg != NULL) {
        abort(); /* a failure leaves nothing to read */
    }
    free(buf);
}

static void fuzz_plaintext(const uint8_t *data, size_t size)
{
    size_t len = size / 16 * 16;
    if (len > MAX_PLAIN)
        len = MAX_PLAIN;
    uint8_t key[32];
    official_key(key);
    uint8_t *ct = malloc(len + 16);
    char *b64 = malloc((len + 2) / 3 * 4 + 1);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n1 = 0, n2 = 0;
    if (ct && b64 && ctx && EVP_EncryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, key, key) == 1 &&
        EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
        EVP_EncryptUpdate(ctx, ct, &n1, data, (int)len) == 1 &&
        EVP_EncryptFinal_ex(ctx, ct + n1, &n2) == 1) {
        int b = EVP_EncodeBlock((unsigned char *)b64, ct, n1 + n2);
        if (b >= 0)
            decrypt_and_check(b64, (size_t)b);
    }
    EVP_CIPHER_CTX_free(ctx);
    free(b64);
    free(ct);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= strlen(PLAIN_PREFIX) && memcmp(data, PLAIN_PREFIX, strlen(PLAIN_PREFIX)) == 0) {
        fuzz_plaintext(data + strlen(PLAIN_PREFIX), size - strlen(PLAIN_PREFIX));
        return 0;
    }
    const char *part[4] = {"", "", "", ""};
    size_t plen[4] = {0, 0, 0, 0};
    const char *s = (const char *)data, *end = s + size;
    for (int i = 0; i < 4; i++) {
        const char *nl = i < 3 ? memchr(s, '\n', (size_t)(end - s)) : NULL;
        const char *stop = nl ? nl : end;
        part[i] = s;
        plen[i] = (size_t)(stop - s);
        if (!nl) {
            s = end;
            break;
        }
        s = nl + 1;
    }
    wg_crypto_msgcrypt_t *mc = get_mc();
    wg_crypto_rc_t v = wg_crypto_verify(mc, part[1], plen[1], part[2], plen[2], part[3], plen[3],
                                        part[0], plen[0]);
    if (v != WG_CRYPTO_OK && v != WG_CRYPTO_E_SIGNATURE)
        abort();
    decrypt_and_check(part[3], plen[3]);
    return 0;
}
