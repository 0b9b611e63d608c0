/* Unit tests of crypto/msgcrypt: WeCom's official vectors both ways, round trips, receive-id
 * sets, and one hand-built input per check, each with that single fault (PROTOCOL.md §1). */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "crypto/msgcrypt.h"
#include "testlib.h"

/* ---- official vectors (PROTOCOL.md §1) ---- */
#define TOKEN "QDG6eK"
#define AES_KEY "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
#define RECEIVE_ID "wx5823bf96d3bd56c7"
/* The key as Python's base64 decodes AES_KEY + "=", independently of OpenSSL. */
#define KEY_HEX "8d69989bbaabe67328014c194631ad0719b3dca035b64023df292447aab60760"

#define GET_SIG "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"
#define GET_TS "1409659589"
#define GET_NONCE "263014780"
#define GET_ECHOSTR                                                                                \
    "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
#define GET_PLAIN "1616140317555161061"
#define GET_RANDOM "c41b64491c2468d0"

#define POST_SIG "477715d11cdb4164915debcba66cb864d751f3e6"
#define POST_TS "1409659813"
#define POST_NONCE "1372623149"
#define POST_ENCRYPT                                                                               \
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/"                         \
    "0lWfrf0QADHHhGd3QczcdCUpj"                                                                    \
    "911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue0" \
    "6DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3" \
    "IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH2" \
    "7Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/"                                         \
    "T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R0"                                                    \
    "7+qN+E7Q=="
#define POST_PLAIN                                                                                 \
    "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n"                               \
    "<FromUserName><![CDATA[mycreate]]></FromUserName>\n"                                          \
    "<CreateTime>1409659813</CreateTime>\n"                                                        \
    "<MsgType><![CDATA[text]]></MsgType>\n"                                                        \
    "<Content><![CDATA[hello]]></Content>\n"                                                       \
    "<MsgId>4561255354251345929</MsgId>\n"                                                         \
    "<AgentID>218</AgentID>\n"                                                                     \
    "</xml>"
#define POST_RANDOM "0960688932c47ef1"

static const char *const official_ids[] = {RECEIVE_ID};

/* ---- OpenSSL allocation counter: proves the decrypt hot path allocates nothing ---- */
static long ossl_allocs;
static void *count_malloc(size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    ossl_allocs++;
    return malloc(n);
}
static void *count_realloc(void *p, size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    ossl_allocs++;
    return realloc(p, n);
}
static void count_free(void *p, const char *file, int line)
{
    (void)file;
    (void)line;
    free(p);
}
static int mem_hooks_set;

/* ---- helpers ---- */

static wg_crypto_msgcrypt_t *official(void)
{
    wg_crypto_rc_t rc = WG_CRYPTO_E_INTERNAL;
    char err[256];
    wg_crypto_msgcrypt_t *mc = wg_crypto_msgcrypt_new(TOKEN, AES_KEY, &rc, err, sizeof err);
    CHECK(mc != NULL);
    CHECK_INT(rc, WG_CRYPTO_OK);
    return mc;
}

static void key_bytes(uint8_t key[32])
{
    for (int i = 0; i < 32; i++) {
        unsigned v;
        sscanf(&KEY_HEX[2 * i], "%2x", &v);
        key[i] = (uint8_t)v;
    }
}

/* AES-256-CBC of plain (a multiple of 16 bytes) with the official key and IV, no padding added,
 * then base64: lets a test build any plaintext, including faulty ones. Returns a malloc'd
 * string. */
static char *raw_encrypt(const uint8_t *plain, size_t len)
{
    uint8_t key[32];
    key_bytes(key);
    uint8_t *ct = malloc(len ? len : 1);
    char *b64 = malloc((len + 2) / 3 * 4 + 1);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n1 = 0, n2 = 0;
    CHECK(ctx && ct && b64);
    CHECK(EVP_EncryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, key, key) == 1);
    CHECK(EVP_CIPHER_CTX_set_padding(ctx, 0) == 1);
    CHECK(EVP_EncryptUpdate(ctx, ct, &n1, plain, (int)len) == 1);
    CHECK(EVP_EncryptFinal_ex(ctx, ct + n1, &n2) == 1);
    CHECK_INT(n1 + n2, len);
    int b = EVP_EncodeBlock((unsigned char *)b64, ct, (int)len);
    b64[b < 0 ? 0 : b] = '\0';
    EVP_CIPHER_CTX_free(ctx);
    free(ct);
    return b64;
}

/* Hand-built plaintexts: 16 random ‖ be32 L ‖ msg ‖ receive id ‖ pad, with one optional fault. */
enum fault {
    F_NONE,
    F_PAD_ZERO,         /* pad bytes of value 0 */
    F_PAD_33,           /* 33 pad bytes of value 33 */
    F_PAD_INCONSISTENT, /* one pad byte (not the last) differs */
    F_L_TOO_LARGE,      /* length field one more than msg + receive id */
    F_L_HUGE,           /* length field 0xffffffff */
};

static uint8_t *build_plain(const char *msg, const char *rid, enum fault f, size_t *len_out)
{
    size_t ml = strlen(msg), rl = strlen(rid);
    size_t content = 20 + ml + rl;
    size_t pad = 32 - content % 32;
    if (f == F_PAD_33)
        pad = 33 + (16 - (content + 33) % 16) % 16; /* keep a whole number of AES blocks... */
    uint8_t *p = calloc(1, content + pad + 16);
    memcpy(p, "0123456789abcdef", 16);
    uint32_t l = (uint32_t)ml;
    if (f == F_L_TOO_LARGE)
        l = (uint32_t)(ml + rl + 1);
    if (f == F_L_HUGE)
        l = 0xffffffffu;
    p[16] = (uint8_t)(l >> 24);
    p[17] = (uint8_t)(l >> 16);
    p[18] = (uint8_t)(l >> 8);
    p[19] = (uint8_t)l;
    memcpy(p + 20, msg, ml);
    memcpy(p + 20 + ml, rid, rl);
    uint8_t v = (uint8_t)pad;
    if (f == F_PAD_ZERO)
        v = 0;
    memset(p + content, v, pad);
    if (f == F_PAD_33) {
        /* ...whose last 33 bytes all say 33 (the bytes before are content filler) */
        memset(p + content, 'x', pad);
        memset(p + content + pad - 33, 33, 33);
    }
    if (f == F_PAD_INCONSISTENT) {
        CHECK(pad >= 2);
        p[content] ^= 1;
    }
    *len_out = content + pad;
    return p;
}

/* Decrypts through the library with an exactly-sized heap buffer (ASan sees any overrun). */
static wg_crypto_rc_t decrypt_str(wg_crypto_msgcrypt_t *mc, const char *enc, size_t enc_len,
                                  const char *const *ids, size_t n_ids, uint8_t **buf_out,
                                  wg_crypto_plain_t *plain)
{
    size_t bound = wg_crypto_decrypt_bound(enc_len);
    uint8_t *buf = malloc(bound);
    CHECK(buf != NULL);
    wg_crypto_rc_t rc = wg_crypto_decrypt(mc, enc, enc_len, ids, n_ids, buf, bound, plain);
    if (buf_out)
        *buf_out = buf;
    else
        free(buf);
    return rc;
}

static wg_crypto_rc_t decrypt_built(wg_crypto_msgcrypt_t *mc, const char *msg, const char *rid,
                                    enum fault f)
{
    size_t len;
    uint8_t *p = build_plain(msg, rid, f, &len);
    char *b64 = raw_encrypt(p, len);
    wg_crypto_plain_t plain;
    wg_crypto_rc_t rc = decrypt_str(mc, b64, strlen(b64), official_ids, 1, NULL, &plain);
    free(b64);
    free(p);
    return rc;
}

static char *read_data_file(const char *name, size_t *len)
{
    const char *dir = getenv("WG_TEST_DATA");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/data", name);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (!f)
        return NULL;
    char *buf = malloc(1 << 16);
    *len = fread(buf, 1, (1 << 16) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

/* ---- official vectors ---- */

static void test_official_signatures(void)
{
    wg_crypto_msgcrypt_t *mc = official();
    char sig[WG_CRYPTO_SIG_HEX + 1];
    CHECK_INT(wg_crypto_sign(mc, GET_TS, strlen(GET_TS), GET_NONCE, strlen(GET_NONCE), GET_ECHOSTR,
                             strlen(GET_ECHOSTR), sig),
              WG_CRYPTO_OK);
    CHECK_STR(sig, GET_SIG);
    CHECK_INT(wg_crypto_sign(mc, POST_TS, strlen(POST_TS), POST_NONCE, strlen(POST_NONCE),
                             POST_ENCRYPT, strlen(POST_ENCRYPT), sig),
              WG_CRYPTO_OK);
    CHECK_STR(sig, POST_SIG);
    CHECK_INT(wg_crypto_verify(mc, GET_TS, strlen(GET_TS), GET_NONCE, strlen(GET_NONCE),
                               GET_ECHOSTR, strlen(GET_ECHOSTR), GET_SIG, strlen(GET_SIG)),
              WG_CRYPTO_OK);
    CHECK_INT(wg_crypto_verify(mc, POST_TS, strlen(POST_TS), POST_NONCE, strlen(POST_NONCE),
                               POST_ENCRYPT, strlen(POST_ENCRYPT), POST_SIG, strlen(POST_SIG)),
              WG_CRYPTO_OK);
    /* the token-only variant agrees */
    char err[128];
    memset(sig, 0, sizeof sig);
    CHECK_INT(wg_crypto_sign_token(TOKEN, strlen(TOKEN), POST_TS, strlen(POST_TS), POST_NONCE,
                                   strlen(POST_NONCE), POST_ENCRYPT, strlen(POST_ENCRYPT), sig, err,
                                   sizeof err),
              WG_CRYPTO_OK);
    CHECK_STR(sig, POST_SIG);
    wg_crypto_msgcrypt_free(mc);
}

static void test_official_decrypt(void)
{
    wg_crypto_msgcrypt_t *mc = official();
    wg_crypto_plain_t plain;
    uint8_t *buf = NULL;

    CHECK_INT(decrypt_str(mc, GET_ECHOSTR, strlen(GET_ECHOSTR), official_ids, 1, &buf, &plain),
              WG_CRYPTO_OK);
    CHECK_MEM(plain.msg, plain.msg_len, GET_PLAIN, strlen(GET_PLAIN));
    CHECK_MEM(plain.receive_id, plain.receive_id_len, RECEIVE_ID, strlen(RECEIVE_ID));
    CHECK(plain.msg && plain.msg[plain.msg_len] == '\0');
    free(buf);

    /* twice on the same object: one call leaves no state that changes the next */
    for (int round = 0; round < 2; round++) {
        CHECK_INT(
            decrypt_str(mc, POST_ENCRYPT, strlen(POST_ENCRYPT), official_ids, 1, &buf, &plain),
            WG_CRYPTO_OK);
        CHECK_INT(plain.msg_len, 284);
        CHECK_MEM(plain.msg, plain.msg_len, POST_PLAIN, strlen(POST_PLAIN));
        CHECK_MEM(plain.receive_id, plain.receive_id_len, RECEIVE_ID, strlen(RECEIVE_ID));
        CHECK(plain.msg && plain.msg[plain.msg_len] == '\0');
        CHECK_STR((const char *)plain.msg, POST_PLAIN);
        if (round == 0) {
            /* the file the CLI test compares against holds the same bytes */
            size_t flen = 0;
            char *file = read_data_file("crypto/official_post_plain.xml", &flen);
            if (file)
                CHECK_MEM(plain.msg, plain.msg_len, file, flen);
            free(file);
        }
        free(buf);
    }
    wg_crypto_msgcrypt_free(mc);
}

static void test_official_encrypt(void)
{
    wg_crypto_msgcrypt_t *mc = official();
    size_t need = wg_crypto_encrypt_bound(strlen(POST_PLAIN), strlen(RECEIVE_ID));
    char *out = malloc(need);
    size_t out_len = 0;
    CHECK_INT(wg_crypto_encrypt(mc, (const uint8_t *)POST_RANDOM, POST_PLAIN, strlen(POST_PLAIN),
                                RECEIVE_ID, strlen(RECEIVE_ID), out, need, &out_len),
              WG_CRYPTO_OK);
    CHECK_STR(out, POST_ENCRYPT);
    CHECK_INT(out_len, strlen(POST_ENCRYPT));
    CHECK_INT(need, strlen(POST_ENCRYPT) + 1);
    free(out);

    need = wg_crypto_encrypt_bound(strlen(GET_PLAIN), strlen(RECEIVE_ID));
    out = malloc(need);
    CHECK_INT(wg_crypto_encrypt(mc, (const uint8_t *)GET_RANDOM, GET_PLAIN, strlen(GET_PLAIN),
                                RECEIVE_ID, strlen(RECEIVE_ID), out, need, &out_len),
              WG_CRYPTO_OK);
    CHECK_STR(out, GET_ECHOSTR);
    CHECK_INT(out_len, strlen(GET_ECHOSTR));
    /* one byte short */
    CHECK_INT(wg_crypto_encrypt(mc, (const uint8_t *)GET_RANDOM, GET_PLAIN, strlen(GET_PLAIN),
                                RECEIVE_ID, strlen(RECEIVE_ID), out, need - 1, &out_len),
              WG_CRYPTO_E_BUFFER);
    free(out);
    wg_crypto_msgcrypt_free(mc);
}

/* ---- round trips ---- */

static void round_trip(wg_crypto_msgcrypt_t *mc, const void *msg, size_t len, const char *rid,
                       const char *const *ids, size_t n_ids)
{
    size_t need = wg_crypto_encrypt_bound(len, strlen(rid));
    char *enc = malloc(need);
    size_t enc_len = 0;
    CHECK_INT(wg_crypto_encrypt(mc, NULL, msg, len, rid, strlen(rid), enc, need, &enc_len),
              WG_CRYPTO_OK);
    CHECK_INT(enc_len, strlen(enc));
    /* the ciphertext is padded to whole 32-byte blocks, with 1..32 pad bytes */
    size_t raw = enc_len / 4 * 3 - (enc_len && enc[enc_len - 1] == '=') -
                 (enc_len > 1 && enc[enc_len - 2] == '=');
    CHECK_INT(raw % 32, 0);
    CHECK(raw > 20 + len + strlen(rid) && raw <= 20 + len + strlen(rid) + 32);

    wg_crypto_plain_t plain;
    uint8_t *buf = NULL;
    CHECK_INT(decrypt_str(mc, enc, enc_len, ids, n_ids, &buf, &plain), WG_CRYPTO_OK);
    CHECK_MEM(plain.msg, plain.msg_len, msg, len);
    CHECK_MEM(plain.receive_id, plain.receive_id_len, rid, strlen(rid));
    CHECK(plain.msg && plain.msg[plain.msg_len] == '\0');
    free(buf);
    free(enc);
}

static void test_round_trips(void)
{
    wg_crypto_msgcrypt_t *mc = official();
    static const size_t sizes[] = {0, 1, 11, 12, 13, 31, 32, 33, 64, 1000, 512 * 1024};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint8_t *m = malloc(sizes[i] + 1);
        CHECK(RAND_bytes(m, (int)sizes[i] + 1) == 1);
        round_trip(mc, m, sizes[i], RECEIVE_ID, official_ids, 1);
        free(m);
    }
    const char *chinese = "<Content><![CDATA[你好，企业微信]]></Content>";
    round_trip(mc, chinese, strlen(chinese), RECEIVE_ID, official_ids, 1);
    const char *emoji = "😀👍🏽🇨🇳 emoji";
    round_trip(mc, emoji, strlen(emoji), RECEIVE_ID, official_ids, 1);
    /* a message with NUL bytes inside comes back whole */
    round_trip(mc, "a\0b\0", 4, RECEIVE_ID, official_ids, 1);
    /* no receive-id check at all when ids is NULL */
    round_trip(mc, "x", 1, "anything", NULL, 0);

    /* CSPRNG prefixes: the same message encrypts differently each time */
    char a[128], b[128];
    CHECK_INT(
        wg_crypto_encrypt(mc, NULL, "same", 4, RECEIVE_ID, strlen(RECEIVE_ID), a, sizeof a, NULL),
        WG_CRYPTO_OK);
    CHECK_INT(
        wg_crypto_encrypt(mc, NULL, "same", 4, RECEIVE_ID, strlen(RECEIVE_ID), b, sizeof b, NULL),
        WG_CRYPTO_OK);
    CHECK(strcmp(a, b) != 0);
    wg_crypto_msgcrypt_free(mc);
}

static void test_receive_id_sets(void)
{
    wg_crypto_msgcrypt_t *mc = official();
    const char *const several[] = {"ww1111", NULL, RECEIVE_ID, "suite42"};
    round_trip(mc, "m", 1, RECEIVE_ID, several, 4);
    round_trip(mc, "m", 1, "suite42", several, 4);
    round_trip(mc, "m", 1, "ww1111", several, 4);
    const char *const with_empty[] = {RECEIVE_ID, ""};
    round_trip(mc, "robot", 5, "", with_empty, 2);

    struct {
        const char *rid;
        const char *const *ids;
        size_t n;
    } bad[] = {
        {"", official_ids, 1},                   /* empty not allowed unless listed */
        {"wx5823bf96d3bd56c8", official_ids, 1}, /* last char differs */
        {"wx5823bf96d3bd56c", official_ids, 1},  /* a proper prefix */
        {"wx5823bf96d3bd56c77", official_ids, 1},
        {RECEIVE_ID, with_empty + 1, 1}, /* only "" allowed */
        {RECEIVE_ID, official_ids, 0},   /* an empty set fails closed */
        {"suite4", several, 4},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char enc[256];
        size_t enc_len = 0;
        CHECK_INT(wg_crypto_encrypt(mc, NULL, "m", 1, bad[i].rid, strlen(bad[i].rid), enc,
                                    sizeof enc, &enc_len),
                  WG_CRYPTO_OK);
        wg_crypto_plain_t plain;
        CHECK_INT(decrypt_str(mc, enc, enc_len, bad[i].ids, bad[i].n, NULL, &plain),
                  WG_CRYPTO_E_RECEIVE_ID);
        CHECK(plain.msg == NULL);
    }
    wg_crypto_msgcrypt_free(mc);
}

/* ---- one fault at a time ---- */

static void test_fault_control(void)
{
    /* the builder without a fault yields a valid ciphertext, so each fault below is the only
     * thing wrong with its input */
    wg_crypto_msgcrypt_t *mc = official();
    CHECK_INT(decrypt_built(mc, "hello", RECEIVE_ID, F_NONE), WG_CRYPTO_OK);
    CHECK_INT(decrypt_built(mc, "", RECEIVE_ID, F_NONE), WG_CRYPTO_OK);
    CHECK_INT(decrypt_built(mc, "0123456789ab", RECEIVE_ID, F_NONE), WG_CRYPTO_OK); /* pad 32 */
    wg_crypto_msgcrypt_free(mc);
}

static void test_padding_faults(void)
{
    wg_crypto_msgcrypt_t *mc = official();
    CHECK_INT(decrypt_built(mc, "hello", RECEIVE_ID, F_PAD_ZERO), WG_CRYPTO_E_PADDING);
    CHECK_INT(decrypt_built(mc, "hello", RECEIVE_ID, F_PAD_33), WG_CRYPTO_E_PADDING);
    CHECK_INT(decrypt_built(mc, "hello", RECEIVE_ID, F_PAD_INCONSISTENT), WG_CRYPTO_E_PADDING);
    /* a pad of 32 whose first byte is off */
    CHECK_INT(decrypt_built(mc, "0123456789ab", RECEIVE_ID, F_PAD_INCONSISTENT),
              WG_CRYPTO_E_PADDING);
    wg_crypto_msgcrypt_free(mc);
}

/* 32-byte plaintexts: 16 random ‖ be32 0 ‖ pad bytes of value pad (12 leaves exactly the
 * header, an empty message and an empty receive id). */
static char *two_blocks(unsigned pad)
{
    uint8_t p[32];
    memset(p, 'r', 16);
    memset(p + 16, 0, 4);
    memset(p + 16 + 4, 'z', 12);
    memset(p + 32 - pad, (int)pad, pad);
    return raw_encrypt(p, sizeof p);
}

static void test_pad_boundaries(void)
{
    wg_crypto_msgcrypt_t *mc = official();
    static const char *const empty_ok[] = {""};
    wg_crypto_plain_t plain;
    char *b64 = two_blocks(12);
    CHECK_INT(decrypt_str(mc, b64, strlen(b64), empty_ok, 1, NULL, &plain), WG_CRYPTO_OK);
    CHECK_INT(plain.msg_len, 0);
    CHECK_INT(plain.receive_id_len, 0);
    free(b64);
    /* a consistent pad that eats into the 20-byte header */
    static const unsigned too_long[] = {13, 20, 31, 32};
    for (size_t i = 0; i < sizeof too_long / sizeof too_long[0]; i++) {
        b64 = two_blocks(too_long[i]);
        CHECK_INT(decrypt_str(mc, b64, strlen(b64), empty_ok, 1, NULL, &plain),
                  WG_CRYPTO_E_MSG_LENGTH);
        free(b64);
    }
    wg_crypto_msgcrypt_free(mc);
}

/* The IV is not reset between calls (it only touches the unread random prefix): the status of
 * any input, faulty ones included, must not depend on what the object decrypted before. */
static void test_deterministic(void)
{
    wg_crypto_msgcrypt_t *mc = official();
    uint8_t block[16];
    char *inputs[8];
    size_t n_inputs = 0;
    static const uint8_t last[] = {0, 1, 20, 33};
    for (size_t i = 0; i < sizeof last / sizeof last[0]; i++) {
        memset(block, last[i], sizeof block);
        inputs[n_inputs++] = raw_encrypt(block, sizeof block);
    }
    inputs[n_inputs++] = two_blocks(13);
    inputs[n_inputs++] = two_blocks(32);
    inputs[n_inputs++] = two_blocks(12);
    const char *prev[] = {POST_ENCRYPT, GET_ECHOSTR, inputs[0], inputs[5]};
    const char *const ids[] = {RECEIVE_ID, ""};
    wg_crypto_plain_t plain;
    for (size_t i = 0; i < n_inputs; i++) {
        wg_crypto_rc_t first = decrypt_str(mc, inputs[i], strlen(inputs[i]), ids, 2, NULL, &plain);
        CHECK_INT(first, i < 6 ? WG_CRYPTO_E_MSG_LENGTH : WG_CRYPTO_OK);
        for (size_t j = 0; j < sizeof prev / sizeof prev[0]; j++) {
            decrypt_str(mc, prev[j], strlen(prev[j]), ids, 2, NULL, &plain);
            CHECK_INT(decrypt_str(mc, inputs[i], strlen(inputs[i]), ids, 2, NULL, &plain), first);
        }
        /* and with a fresh object */
        wg_crypto_msgcrypt_t *fresh = official();
        CHECK_INT(decrypt_str(fresh, inputs[i], strlen(inputs[i]), ids, 2, NULL, &plain), first);
        wg_crypto_msgcrypt_free(fresh);
    }
    for (size_t i = 0; i < n_inputs; i++)
        free(inputs[i]);
    wg_crypto_msgcrypt_free(mc);
}

static void test_message_length_faults(void)
{
    wg_crypto_msgcrypt_t *mc = official();
    CHECK_INT(decrypt_built(mc, "hello", RECEIVE_ID, F_L_TOO_LARGE), WG_CRYPTO_E_MSG_LENGTH);
    CHECK_INT(decrypt_built(mc, "hello", RECEIVE_ID, F_L_HUGE), WG_CRYPTO_E_MSG_LENGTH);
    /* the same with an empty receive id: L is one more than all that follows it */
    CHECK_INT(decrypt_built(mc, "hello", "", F_L_TOO_LARGE), WG_CRYPTO_E_MSG_LENGTH);
    /* a single AES block cannot hold the 20-byte header, whatever it decrypts to */
    uint8_t block[16];
    memset(block, 'y', sizeof block);
    block[15] = 1;
    char *b64 = raw_encrypt(block, sizeof block);
    wg_crypto_plain_t plain;
    CHECK_INT(decrypt_str(mc, b64, strlen(b64), official_ids, 1, NULL, &plain),
              WG_CRYPTO_E_MSG_LENGTH);
    free(b64);
    wg_crypto_msgcrypt_free(mc);
}

static void test_length_faults(void)
{
    wg_crypto_msgcrypt_t *mc = official();
    wg_crypto_plain_t plain;
    static const size_t lens[] = {0, 1, 8, 15, 17, 31, 33, 47};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        uint8_t raw[64];
        char b64[128];
        memset(raw, 0x42, sizeof raw);
        int n = EVP_EncodeBlock((unsigned char *)b64, raw, (int)lens[i]);
        b64[n] = '\0';
        CHECK_INT(decrypt_str(mc, b64, (size_t)n, official_ids, 1, NULL, &plain),
                  WG_CRYPTO_E_LENGTH);
    }
    /* and the empty string (the empty base64) */
    CHECK_INT(decrypt_str(mc, "", 0, official_ids, 1, NULL, &plain), WG_CRYPTO_E_LENGTH);
    wg_crypto_msgcrypt_free(mc);
}

static int in_alphabet(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

static void test_base64_faults(void)
{
    wg_crypto_msgcrypt_t *mc = official();
    wg_crypto_plain_t plain;
    size_t n = strlen(POST_ENCRYPT);
    char *e = malloc(n + 8);

    /* every byte value at the start, the middle and the last data position: anything outside
     * the alphabet is a base64 fault; inside it, never (the ciphertext breaks later instead) */
    size_t positions[] = {0, n / 2, n - 3};
    for (size_t p = 0; p < 3; p++)
        for (int c = 0; c < 256; c++) {
            memcpy(e, POST_ENCRYPT, n + 1);
            e[positions[p]] = (char)c;
            wg_crypto_rc_t rc = decrypt_str(mc, e, n, official_ids, 1, NULL, &plain);
            if (in_alphabet(c))
                CHECK(rc != WG_CRYPTO_E_BASE64);
            else if (rc != WG_CRYPTO_E_BASE64) {
                fprintf(stderr, "byte 0x%02x at %zu: %s\n", c, positions[p], wg_crypto_rc_name(rc));
                CHECK_INT(rc, WG_CRYPTO_E_BASE64);
            }
        }

    struct {
        const char *what;
        const char *prefix, *suffix; /* wrapped around POST_ENCRYPT minus its "==" */
    } bad[] = {
        {"leading space", " ", "=="},   {"trailing newline", "", "==\n"},
        {"three =", "", "==="},         {"missing one char", "", "="},
        {"= in data", "", "=A"},        {"leading newline", "\n", "=="},
        {"CR LF inside", "", "\r\n=="}, {"dash (EOF marker)", "", "==-"},
        {"URL-safe chars", "-_", "=="}, {"percent-encoded", "", "%3D%3D"},
        {"space + 3 chars", "", "=  "}, {"tab before =", "", "\t="},
        {"spaces for ==", "", "  "},    {"CRLF for ==", "", "\r\n"},
        {"= then space", "", "= "},     {"missing ==", "", ""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(e, n + 8, "%s%.*s%s", bad[i].prefix, (int)(n - 2), POST_ENCRYPT, bad[i].suffix);
        wg_crypto_rc_t rc = decrypt_str(mc, e, strlen(e), official_ids, 1, NULL, &plain);
        if (rc != WG_CRYPTO_E_BASE64)
            fprintf(stderr, "%s: %s\n", bad[i].what, wg_crypto_rc_name(rc));
        CHECK_INT(rc, WG_CRYPTO_E_BASE64);
    }
    /* "=" in the middle of an otherwise valid value */
    memcpy(e, POST_ENCRYPT, n + 1);
    e[100] = '=';
    CHECK_INT(decrypt_str(mc, e, n, official_ids, 1, NULL, &plain), WG_CRYPTO_E_BASE64);
    /* a NUL inside: the length given wins over strlen */
    memcpy(e, POST_ENCRYPT, n + 1);
    e[8] = '\0';
    CHECK_INT(decrypt_str(mc, e, n, official_ids, 1, NULL, &plain), WG_CRYPTO_E_BASE64);
    free(e);
    wg_crypto_msgcrypt_free(mc);
}

static void test_buffer(void)
{
    wg_crypto_msgcrypt_t *mc = official();
    size_t n = strlen(POST_ENCRYPT);
    size_t bound = wg_crypto_decrypt_bound(n);
    CHECK(bound >= n / 4 * 3);
    uint8_t *buf = malloc(bound);
    wg_crypto_plain_t plain;
    CHECK_INT(wg_crypto_decrypt(mc, POST_ENCRYPT, n, official_ids, 1, buf, bound - 1, &plain),
              WG_CRYPTO_E_BUFFER);
    CHECK_INT(wg_crypto_decrypt(mc, POST_ENCRYPT, n, official_ids, 1, buf, bound, &plain),
              WG_CRYPTO_OK);
    free(buf);
    CHECK(wg_crypto_encrypt_bound((size_t)UINT32_MAX + 1, 0) == SIZE_MAX);
    char out[8];
    CHECK_INT(
        wg_crypto_encrypt(mc, NULL, "x", (size_t)UINT32_MAX + 1, "", 0, out, sizeof out, NULL),
        WG_CRYPTO_E_MSG_LENGTH);
    wg_crypto_msgcrypt_free(mc);
}

/* ---- signatures ---- */

static void test_signature_faults(void)
{
    wg_crypto_msgcrypt_t *mc = official();
    const char *e = POST_ENCRYPT;
    size_t el = strlen(e);
#define VERIFY(sig, len)                                                                           \
    wg_crypto_verify(mc, POST_TS, strlen(POST_TS), POST_NONCE, strlen(POST_NONCE), e, el, sig, len)

    CHECK_INT(VERIFY(POST_SIG, 40), WG_CRYPTO_OK);
    CHECK_INT(VERIFY(POST_SIG, 39), WG_CRYPTO_E_SIGNATURE);
    CHECK_INT(VERIFY("", 0), WG_CRYPTO_E_SIGNATURE);
    CHECK_INT(VERIFY(NULL, 0), WG_CRYPTO_E_SIGNATURE);
    char longer[64];
    snprintf(longer, sizeof longer, "%s0", POST_SIG);
    CHECK_INT(VERIFY(longer, 41), WG_CRYPTO_E_SIGNATURE);
    char upper[41];
    for (int i = 0; i < 41; i++)
        upper[i] =
            (char)(POST_SIG[i] >= 'a' && POST_SIG[i] <= 'f' ? POST_SIG[i] - 32 : POST_SIG[i]);
    CHECK(strcmp(upper, POST_SIG) != 0);
    CHECK_INT(VERIFY(upper, 40), WG_CRYPTO_E_SIGNATURE);
    /* every single flipped character, each position */
    for (int i = 0; i < 40; i++) {
        char s[41];
        memcpy(s, POST_SIG, 41);
        s[i] = s[i] == '0' ? '1' : '0';
        CHECK_INT(VERIFY(s, 40), WG_CRYPTO_E_SIGNATURE);
    }
    /* the right signature over another timestamp, nonce or Encrypt */
    CHECK_INT(wg_crypto_verify(mc, GET_TS, strlen(GET_TS), POST_NONCE, strlen(POST_NONCE), e, el,
                               POST_SIG, 40),
              WG_CRYPTO_E_SIGNATURE);
    CHECK_INT(wg_crypto_verify(mc, POST_TS, strlen(POST_TS), GET_NONCE, strlen(GET_NONCE), e, el,
                               POST_SIG, 40),
              WG_CRYPTO_E_SIGNATURE);
    CHECK_INT(wg_crypto_verify(mc, POST_TS, strlen(POST_TS), POST_NONCE, strlen(POST_NONCE), e,
                               el - 1, POST_SIG, 40),
              WG_CRYPTO_E_SIGNATURE);
    /* the timestamp signed as a string: a leading zero changes it */
    CHECK_INT(wg_crypto_verify(mc, "01409659813", 11, POST_NONCE, strlen(POST_NONCE), e, el,
                               POST_SIG, 40),
              WG_CRYPTO_E_SIGNATURE);
#undef VERIFY
    wg_crypto_msgcrypt_free(mc);
}

/* Sorting is bytewise with a proper prefix first: check against SHA-1 of the hand-sorted
 * concatenation computed here with OpenSSL's one-shot digest. */
static void test_signature_order(void)
{
    static const char *const sorted_concat = "1231234ababc"; /* "123" "1234" "ab" "abc" */
    unsigned char dig[20];
    unsigned int dl = 0;
    CHECK(EVP_Digest(sorted_concat, strlen(sorted_concat), dig, &dl, EVP_sha1(), NULL) == 1);
    char want[41];
    for (int i = 0; i < 20; i++)
        snprintf(want + 2 * i, 3, "%02x", dig[i]);

    char sig[41], err[128];
    CHECK_INT(wg_crypto_sign_token("abc", 3, "123", 3, "1234", 4, "ab", 2, sig, err, sizeof err),
              WG_CRYPTO_OK);
    CHECK_STR(sig, want);
    /* the same strings in other roles give the same signature (order is by content) */
    CHECK_INT(wg_crypto_sign_token("ab", 2, "abc", 3, "1234", 4, "123", 3, sig, err, sizeof err),
              WG_CRYPTO_OK);
    CHECK_STR(sig, want);
    /* bytes above 0x7f sort after ASCII (unsigned comparison): "" "A" "x" "\xe4" */
    CHECK(EVP_Digest("Ax\xe4", 3, dig, &dl, EVP_sha1(), NULL) == 1);
    for (int i = 0; i < 20; i++)
        snprintf(want + 2 * i, 3, "%02x", dig[i]);
    CHECK_INT(wg_crypto_sign_token("A", 1, "\xe4", 1, "", 0, "x", 1, sig, err, sizeof err),
              WG_CRYPTO_OK);
    CHECK_STR(sig, want);
    /* a bad token is refused, not signed */
    CHECK_INT(wg_crypto_sign_token("a-b", 3, "1", 1, "2", 1, "3", 1, sig, err, sizeof err),
              WG_CRYPTO_E_TOKEN);
}

/* ---- configuration ---- */

static void test_bad_keys_and_tokens(void)
{
    static const char *const bad_keys[] = {
        "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2",    /* 42 */
        "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2CA",  /* 44 */
        "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2=",   /* 43 with "=" */
        "jWmYm7qr5nMoAUwZRjGtBxm+3KA1tkAj3ykkR6q2B2C",   /* "+" inside */
        "jWmYm7qr5nMoAUwZRjGtBxm 3KA1tkAj3ykkR6q2B2C",   /* space inside */
        "jWmYm7qr5nMoAUwZRjGtBxm\xe4KA1tkAj3ykkR6q2B2C", /* non-ASCII */
        "",
    };
    for (size_t i = 0; i < sizeof bad_keys / sizeof bad_keys[0]; i++) {
        wg_crypto_rc_t rc = WG_CRYPTO_OK;
        char err[256] = "";
        wg_crypto_msgcrypt_t *mc = wg_crypto_msgcrypt_new(TOKEN, bad_keys[i], &rc, err, sizeof err);
        CHECK(mc == NULL);
        CHECK_INT(rc, WG_CRYPTO_E_AES_KEY);
        CHECK(strlen(err) > 0);
        CHECK(strstr(err, "jWmYm7qr") == NULL); /* the secret is never in the message */
        wg_crypto_msgcrypt_free(mc);
    }
    wg_crypto_rc_t rc = WG_CRYPTO_OK;
    CHECK(wg_crypto_msgcrypt_new(TOKEN, NULL, &rc, NULL, 0) == NULL);
    CHECK_INT(rc, WG_CRYPTO_E_AES_KEY);

    static const char *const bad_tokens[] = {
        "",         "QDG6e-", "QDG6 K", "abcdefghijklmnopqrstuvwxyz0123456", /* 33 */
        "QDG6eK\n",
    };
    for (size_t i = 0; i < sizeof bad_tokens / sizeof bad_tokens[0]; i++) {
        char err[256] = "";
        rc = WG_CRYPTO_OK;
        wg_crypto_msgcrypt_t *mc =
            wg_crypto_msgcrypt_new(bad_tokens[i], AES_KEY, &rc, err, sizeof err);
        CHECK(mc == NULL);
        CHECK_INT(rc, WG_CRYPTO_E_TOKEN);
        CHECK(strlen(err) > 0);
        CHECK(bad_tokens[i][0] == '\0' || strstr(err, bad_tokens[i]) == NULL);
    }
    CHECK(wg_crypto_msgcrypt_new(NULL, AES_KEY, &rc, NULL, 0) == NULL);
    CHECK_INT(rc, WG_CRYPTO_E_TOKEN);

    /* limits that are fine: a 32-char token; a key whose last char carries stray bits */
    wg_crypto_msgcrypt_t *mc =
        wg_crypto_msgcrypt_new("abcdefghijklmnopqrstuvwxyz012345", AES_KEY, &rc, NULL, 0);
    CHECK(mc != NULL);
    CHECK_INT(rc, WG_CRYPTO_OK);
    wg_crypto_msgcrypt_free(mc);
    wg_crypto_msgcrypt_free(NULL);
}

static void test_rc_names(void)
{
    CHECK_STR(wg_crypto_rc_name(WG_CRYPTO_OK), "ok");
    CHECK_STR(wg_crypto_rc_name(WG_CRYPTO_E_SIGNATURE), "signature");
    CHECK_STR(wg_crypto_rc_name(WG_CRYPTO_E_AES_KEY), "aes key");
    CHECK_STR(wg_crypto_rc_name(WG_CRYPTO_E_TOKEN), "token");
    CHECK_STR(wg_crypto_rc_name(WG_CRYPTO_E_BASE64), "base64");
    CHECK_STR(wg_crypto_rc_name(WG_CRYPTO_E_LENGTH), "length");
    CHECK_STR(wg_crypto_rc_name(WG_CRYPTO_E_PADDING), "padding");
    CHECK_STR(wg_crypto_rc_name(WG_CRYPTO_E_MSG_LENGTH), "message length");
    CHECK_STR(wg_crypto_rc_name(WG_CRYPTO_E_RECEIVE_ID), "receive id");
    CHECK_STR(wg_crypto_rc_name(WG_CRYPTO_E_BUFFER), "buffer");
    CHECK_STR(wg_crypto_rc_name(WG_CRYPTO_E_INTERNAL), "internal");
    CHECK_INT(wg_crypto_rc_wecom_code(WG_CRYPTO_OK), 0);
    CHECK_INT(wg_crypto_rc_wecom_code(WG_CRYPTO_E_SIGNATURE), -40001);
    CHECK_INT(wg_crypto_rc_wecom_code(WG_CRYPTO_E_AES_KEY), -40004);
    CHECK_INT(wg_crypto_rc_wecom_code(WG_CRYPTO_E_RECEIVE_ID), -40005);
    CHECK_INT(wg_crypto_rc_wecom_code(WG_CRYPTO_E_BASE64), -40010);
    CHECK_INT(wg_crypto_rc_wecom_code(WG_CRYPTO_E_BUFFER), -40008);
}

/* The hot path: verify allocates at most OpenSSL 3.0's digest context (EVP_DigestInit_ex
 * re-creates it; 3.1+ reuses it), decrypt nothing at all. */
static void test_no_allocation(void)
{
    CHECK(mem_hooks_set);
    wg_crypto_msgcrypt_t *mc = official();
    size_t n = strlen(POST_ENCRYPT);
    size_t bound = wg_crypto_decrypt_bound(n);
    uint8_t *buf = malloc(bound);
    wg_crypto_plain_t plain;
    CHECK_INT(wg_crypto_decrypt(mc, POST_ENCRYPT, n, official_ids, 1, buf, bound, &plain),
              WG_CRYPTO_OK); /* warm-up */
    long before = ossl_allocs;
    for (int i = 0; i < 10; i++)
        CHECK_INT(wg_crypto_decrypt(mc, POST_ENCRYPT, n, official_ids, 1, buf, bound, &plain),
                  WG_CRYPTO_OK);
    CHECK_INT(ossl_allocs - before, 0);
    before = ossl_allocs;
    for (int i = 0; i < 10; i++)
        CHECK_INT(wg_crypto_verify(mc, POST_TS, strlen(POST_TS), POST_NONCE, strlen(POST_NONCE),
                                   POST_ENCRYPT, n, POST_SIG, 40),
                  WG_CRYPTO_OK);
    CHECK(ossl_allocs - before <= 10);
    free(buf);
    wg_crypto_msgcrypt_free(mc);
}

int main(void)
{
    mem_hooks_set = CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free);
    TEST_RUN(test_official_signatures);
    TEST_RUN(test_official_decrypt);
    TEST_RUN(test_official_encrypt);
    TEST_RUN(test_round_trips);
    TEST_RUN(test_receive_id_sets);
    TEST_RUN(test_fault_control);
    TEST_RUN(test_padding_faults);
    TEST_RUN(test_message_length_faults);
    TEST_RUN(test_pad_boundaries);
    TEST_RUN(test_deterministic);
    TEST_RUN(test_length_faults);
    TEST_RUN(test_base64_faults);
    TEST_RUN(test_buffer);
    TEST_RUN(test_signature_faults);
    TEST_RUN(test_signature_order);
    TEST_RUN(test_bad_keys_and_tokens);
    TEST_RUN(test_rc_names);
    TEST_RUN(test_no_allocation);
    return TEST_DONE();
}
