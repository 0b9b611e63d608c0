/* Writes signed, encrypted WeCom callbacks fast, for the integration tests and the callback
 * benchmark (spawning `wegate crypto encrypt` per callback is far too slow under ASan).
 *
 * The plaintext is a template (a file or stdin) in which every "{{i}}" becomes the callback's
 * index, so N callbacks are N distinct events. One line per callback on stdout:
 *
 *     QUERY <TAB> BODY <TAB> SHA256-HEX-OF-THE-PLAINTEXT-MESSAGE
 *
 * QUERY is "msg_signature=..&timestamp=..&nonce=.." (plus "&echostr=.." with --echo, BODY then
 * empty) and BODY the POST envelope <xml><ToUserName/><Encrypt/><AgentID/></xml> with CDATA
 * values: neither holds a tab or a newline. Each callback gets its own random prefix and nonce,
 * so the same plaintext written twice (-n 2 without {{i}}) is a re-encrypted retry.
 *
 * Well-formed callbacks come from wg_crypto_encrypt. --fault builds a callback with exactly one
 * defect, with raw OpenSSL EVP calls (wg_crypto cannot make broken ones):
 *   sig            the signature has one hex digit changed
 *   nosig          the query has no msg_signature
 *   padding        correct signature; the last pad byte is 0
 *   padding-range  correct signature; the last pad byte is 33 (above the 32-byte block)
 *   msglen         correct signature; the length field exceeds the plaintext
 *   base64         correct signature over an Encrypt value that is not base64
 *   length         correct signature; the ciphertext is one byte longer than a block multiple
 *   raw            no defect, but built by the raw EVP path (checks that path against wg_crypto)
 * --selftest checks both paths against the official vector of PROTOCOL.md §1 and exits. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "crypto/msgcrypt.h"

#define MAX_TEMPLATE (4u * 1024 * 1024)

typedef enum fault {
    F_NONE,
    F_SIG,
    F_NOSIG,
    F_PADDING,
    F_PADDING_RANGE,
    F_MSGLEN,
    F_BASE64,
    F_LENGTH,
    F_RAW,
} fault_t;

static const struct {
    const char *name;
    fault_t fault;
} faults[] = {
    {"none", F_NONE},
    {"sig", F_SIG},
    {"nosig", F_NOSIG},
    {"padding", F_PADDING},
    {"padding-range", F_PADDING_RANGE},
    {"msglen", F_MSGLEN},
    {"base64", F_BASE64},
    {"length", F_LENGTH},
    {"raw", F_RAW},
};

typedef struct gen {
    wg_crypto_msgcrypt_t *mc;
    uint8_t key[32];
    const char *receive_id;
    const char *to;
    const char *agent_id;
    fault_t fault;
    int echo;
    char *enc; /* Encrypt value buffer */
    size_t enc_cap;
    uint8_t *raw; /* raw plaintext/ciphertext scratch */
    size_t raw_cap;
} gen_t;

static void die(const char *msg)
{
    fprintf(stderr, "gen_callbacks: %s\n", msg);
    exit(1);
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        die("out of memory");
    return p;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: gen_callbacks --token T --aes-key K --receive-id R [--to NAME] [--agent-id A]\n"
            "                     [-n N] [--start I] [--timestamp TS] [--fault F] [--echo]\n"
            "                     [--template FILE]        (else the template is read from "
            "stdin)\n"
            "       gen_callbacks --selftest\n"
            "faults: none sig nosig padding padding-range msglen base64 length raw\n");
}

/* The EncodingAESKey is non-canonical base64 (PROTOCOL.md §1): decode 43 chars leniently,
 * dropping the 2 stray bits. */
static int decode_aes_key(const char *k, uint8_t out[32])
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (strlen(k) != WG_CRYPTO_AES_KEY_CHARS)
        return -1;
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (size_t i = 0; i < WG_CRYPTO_AES_KEY_CHARS; i++) {
        const char *p = strchr(alphabet, k[i]);
        if (!p || !k[i])
            return -1;
        acc = (acc << 6) | (uint32_t)(p - alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n < 32)
                out[n++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return n == 32 ? 0 : -1;
}

/* AES-256-CBC, IV = the key's first 16 bytes, no OpenSSL padding; len a multiple of 16. */
static void aes_encrypt(const uint8_t key[32], const uint8_t *in, size_t len, uint8_t *out)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n1 = 0, n2 = 0;
    if (!ctx || EVP_EncryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, key, key) != 1 ||
        EVP_CIPHER_CTX_set_padding(ctx, 0) != 1 ||
        EVP_EncryptUpdate(ctx, out, &n1, in, (int)len) != 1 ||
        EVP_EncryptFinal_ex(ctx, out + n1, &n2) != 1 || (size_t)(n1 + n2) != len)
        die("EVP AES encrypt failed");
    EVP_CIPHER_CTX_free(ctx);
}

static void ensure(gen_t *g, size_t enc_need, size_t raw_need)
{
    if (enc_need > g->enc_cap) {
        g->enc_cap = enc_need * 2;
        g->enc = xrealloc(g->enc, g->enc_cap);
    }
    if (raw_need > g->raw_cap) {
        g->raw_cap = raw_need * 2;
        g->raw = xrealloc(g->raw, g->raw_cap);
    }
}

/* random16 ‖ be32(L) ‖ msg ‖ receive id, padded PKCS#7-style to 32, with the fault applied,
 * encrypted and base64-encoded into g->enc. */
static size_t encrypt_raw(gen_t *g, const uint8_t random16[16], const char *msg, size_t msg_len)
{
    size_t rid_len = strlen(g->receive_id);
    size_t body = 16 + 4 + msg_len + rid_len;
    size_t pad = 32 - body % 32;
    size_t total = body + pad;
    size_t cipher_len = total + (g->fault == F_LENGTH ? 1 : 0);
    ensure(g, 4 * ((cipher_len + 2) / 3) + 8, 2 * total + 32);
    uint8_t *plain = g->raw, *cipher = g->raw + total + 16;

    memcpy(plain, random16, 16);
    uint32_t l = (uint32_t)msg_len;
    if (g->fault == F_MSGLEN)
        l = (uint32_t)(msg_len + rid_len + pad + 1);
    plain[16] = (uint8_t)(l >> 24);
    plain[17] = (uint8_t)(l >> 16);
    plain[18] = (uint8_t)(l >> 8);
    plain[19] = (uint8_t)l;
    memcpy(plain + 20, msg, msg_len);
    memcpy(plain + 20 + msg_len, g->receive_id, rid_len);
    memset(plain + body, (int)pad, pad);
    if (g->fault == F_PADDING)
        plain[total - 1] = 0;
    else if (g->fault == F_PADDING_RANGE)
        plain[total - 1] = 33;

    aes_encrypt(g->key, plain, total, cipher);
    if (g->fault == F_LENGTH)
        cipher[total] = 0x5a;
    int n = EVP_EncodeBlock((unsigned char *)g->enc, cipher, (int)cipher_len);
    if (n < 0)
        die("EVP_EncodeBlock failed");
    if (g->fault == F_BASE64) {
        /* '*' is outside the alphabet; keep the length a multiple of 4. */
        g->enc[n / 2] = '*';
    }
    return (size_t)n;
}

static size_t encrypt_one(gen_t *g, const char *msg, size_t msg_len)
{
    uint8_t random16[16];
    if (RAND_bytes(random16, sizeof random16) != 1)
        die("RAND_bytes failed");
    if (g->fault != F_NONE && g->fault != F_SIG && g->fault != F_NOSIG)
        return encrypt_raw(g, random16, msg, msg_len);
    size_t rid_len = strlen(g->receive_id);
    size_t need = wg_crypto_encrypt_bound(msg_len, rid_len);
    ensure(g, need, 0);
    size_t n = 0;
    wg_crypto_rc_t rc =
        wg_crypto_encrypt(g->mc, random16, msg, msg_len, g->receive_id, rid_len, g->enc, need, &n);
    if (rc != WG_CRYPTO_OK) {
        fprintf(stderr, "gen_callbacks: wg_crypto_encrypt: %s\n", wg_crypto_rc_name(rc));
        exit(1);
    }
    return n;
}

static void sha256_hex(const char *msg, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (EVP_Digest(msg, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        die("EVP_Digest failed");
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Percent-encodes a base64 value as WeCom does: + / = become %2B %2F %3D. */
static void put_urlencoded(const char *s, size_t n, FILE *out)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~')
            fputc(c, out);
        else
            fprintf(out, "%%%02X", c);
    }
}

static void write_one(gen_t *g, const char *msg, size_t msg_len, const char *timestamp,
                      size_t index, FILE *out)
{
    size_t enc_len = encrypt_one(g, msg, msg_len);
    char nonce[32];
    uint32_t r;
    if (RAND_bytes((unsigned char *)&r, sizeof r) != 1)
        die("RAND_bytes failed");
    /* Random, yet distinct within one run. */
    snprintf(nonce, sizeof nonce, "%u%07zu", 100000000u + r % 900000000u, index % 10000000u);
    char sig[WG_CRYPTO_SIG_HEX + 1];
    wg_crypto_rc_t rc = wg_crypto_sign(g->mc, timestamp, strlen(timestamp), nonce, strlen(nonce),
                                       g->enc, enc_len, sig);
    if (rc != WG_CRYPTO_OK)
        die("wg_crypto_sign failed");
    if (g->fault == F_SIG)
        sig[7] = sig[7] == '0' ? '1' : '0';

    if (g->fault != F_NOSIG)
        fprintf(out, "msg_signature=%s&", sig);
    fprintf(out, "timestamp=%s&nonce=%s", timestamp, nonce);
    if (g->echo) {
        fputs("&echostr=", out);
        put_urlencoded(g->enc, enc_len, out);
        fputc('\t', out);
    } else {
        fprintf(out, "\t<xml><ToUserName><![CDATA[%s]]></ToUserName><Encrypt><![CDATA[", g->to);
        fwrite(g->enc, 1, enc_len, out);
        fprintf(out, "]]></Encrypt><AgentID><![CDATA[%s]]></AgentID></xml>", g->agent_id);
    }
    char hex[65];
    sha256_hex(msg, msg_len, hex);
    fprintf(out, "\t%s\n", hex);
}

static char *read_all(FILE *f, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = xrealloc(NULL, cap);
    for (;;) {
        if (n + 1 >= cap) {
            if (cap >= MAX_TEMPLATE)
                die("template too large");
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f))
        die("cannot read the template");
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* The template with each "{{i}}" replaced by index, into *buf. */
static size_t instantiate(const char *tpl, size_t tpl_len, size_t index, char **buf, size_t *cap)
{
    char num[32];
    int num_len = snprintf(num, sizeof num, "%zu", index);
    size_t need = tpl_len + 1;
    for (const char *p = tpl; (p = strstr(p, "{{i}}")) != NULL; p += 5)
        need += (size_t)num_len;
    if (need > *cap) {
        *cap = need * 2;
        *buf = xrealloc(*buf, *cap);
    }
    size_t n = 0;
    const char *p = tpl, *end = tpl + tpl_len;
    while (p < end) {
        const char *q = strstr(p, "{{i}}");
        if (!q || q >= end)
            q = end;
        memcpy(*buf + n, p, (size_t)(q - p));
        n += (size_t)(q - p);
        if (q == end)
            break;
        memcpy(*buf + n, num, (size_t)num_len);
        n += (size_t)num_len;
        p = q + 5;
    }
    (*buf)[n] = '\0';
    return n;
}

/* PROTOCOL.md §1: the official POST vector, reproduced by both encryption paths. */
static int selftest(void)
{
    static const char token[] = "QDG6eK";
    static const char key[] = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
    static const char rid[] = "wx5823bf96d3bd56c7";
    static const char plain[] = "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n"
                                "<FromUserName><![CDATA[mycreate]]></FromUserName>\n"
                                "<CreateTime>1409659813</CreateTime>\n"
                                "<MsgType><![CDATA[text]]></MsgType>\n"
                                "<Content><![CDATA[hello]]></Content>\n"
                                "<MsgId>4561255354251345929</MsgId>\n"
                                "<AgentID>218</AgentID>\n"
                                "</xml>";
    static const char want[] =
        "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3Qczc"
        "dCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLj"
        "vd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMn"
        "vw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k"
        "22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2Yoy"
        "yH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==";
    static const char want_sig[] = "477715d11cdb4164915debcba66cb864d751f3e6";
    const uint8_t *random16 = (const uint8_t *)"0960688932c47ef1";
    int failed = 0;

    if (sizeof plain - 1 != 284) {
        fprintf(stderr, "selftest: plaintext is %zu bytes, want 284\n", sizeof plain - 1);
        failed = 1;
    }
    gen_t g = {.receive_id = rid, .to = rid, .agent_id = "", .fault = F_RAW};
    char err[256];
    g.mc = wg_crypto_msgcrypt_new(token, key, NULL, err, sizeof err);
    if (!g.mc || decode_aes_key(key, g.key) != 0)
        die("selftest: cannot set up the official key");
    size_t n = encrypt_raw(&g, random16, plain, sizeof plain - 1);
    if (n != sizeof want - 1 || memcmp(g.enc, want, n) != 0) {
        fprintf(stderr, "selftest: raw EVP path does not reproduce the official ciphertext\n");
        failed = 1;
    }
    size_t need = wg_crypto_encrypt_bound(sizeof plain - 1, sizeof rid - 1);
    char *out = xrealloc(NULL, need);
    size_t m = 0;
    if (wg_crypto_encrypt(g.mc, random16, plain, sizeof plain - 1, rid, sizeof rid - 1, out, need,
                          &m) != WG_CRYPTO_OK ||
        m != sizeof want - 1 || memcmp(out, want, m) != 0) {
        fprintf(stderr, "selftest: wg_crypto_encrypt does not reproduce the official ciphertext\n");
        failed = 1;
    }
    char sig[WG_CRYPTO_SIG_HEX + 1];
    if (wg_crypto_sign(g.mc, "1409659813", 10, "1372623149", 10, want, sizeof want - 1, sig) !=
            WG_CRYPTO_OK ||
        strcmp(sig, want_sig) != 0) {
        fprintf(stderr, "selftest: wg_crypto_sign does not reproduce the official signature\n");
        failed = 1;
    }
    /* The length fault must still be valid base64, of a ciphertext one byte past 32 * k. */
    g.fault = F_LENGTH;
    n = encrypt_raw(&g, random16, plain, sizeof plain - 1);
    size_t decoded = n / 4 * 3 - (g.enc[n - 1] == '=') - (g.enc[n - 2] == '=');
    if (n % 4 != 0 || decoded % 32 != 1) {
        fprintf(stderr, "selftest: the length fault is malformed\n");
        failed = 1;
    }
    free(out);
    free(g.enc);
    free(g.raw);
    wg_crypto_msgcrypt_free(g.mc);
    if (!failed)
        printf("gen_callbacks selftest: ok\n");
    return failed;
}

int main(int argc, char **argv)
{
    const char *token = NULL, *aes_key = NULL, *template_path = NULL, *timestamp = NULL;
    gen_t g = {.agent_id = "", .fault = F_NONE};
    size_t n = 1, start = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--selftest") == 0)
            return selftest();
        if (strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--echo") == 0) {
            g.echo = 1;
            continue;
        }
        if (!v) {
            usage(stderr);
            return 2;
        }
        i++;
        if (strcmp(a, "--token") == 0) {
            token = v;
        } else if (strcmp(a, "--aes-key") == 0) {
            aes_key = v;
        } else if (strcmp(a, "--receive-id") == 0) {
            g.receive_id = v;
        } else if (strcmp(a, "--to") == 0) {
            g.to = v;
        } else if (strcmp(a, "--agent-id") == 0) {
            g.agent_id = v;
        } else if (strcmp(a, "--template") == 0) {
            template_path = v;
        } else if (strcmp(a, "--timestamp") == 0) {
            timestamp = v;
        } else if (strcmp(a, "-n") == 0 || strcmp(a, "--start") == 0) {
            char *end;
            errno = 0;
            unsigned long long x = strtoull(v, &end, 10);
            if (errno || *end || end == v) {
                usage(stderr);
                return 2;
            }
            if (a[1] == 'n')
                n = (size_t)x;
            else
                start = (size_t)x;
        } else if (strcmp(a, "--fault") == 0) {
            size_t k;
            for (k = 0; k < sizeof faults / sizeof faults[0]; k++)
                if (strcmp(v, faults[k].name) == 0)
                    break;
            if (k == sizeof faults / sizeof faults[0]) {
                usage(stderr);
                return 2;
            }
            g.fault = faults[k].fault;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!token || !aes_key || !g.receive_id) {
        usage(stderr);
        return 2;
    }
    if (!g.to)
        g.to = g.receive_id;
    char err[256];
    wg_crypto_rc_t rc;
    g.mc = wg_crypto_msgcrypt_new(token, aes_key, &rc, err, sizeof err);
    if (!g.mc)
        die(err);
    if (decode_aes_key(aes_key, g.key) != 0)
        die("--aes-key: must be 43 letters or digits");

    FILE *tf = stdin;
    if (template_path) {
        tf = fopen(template_path, "rb");
        if (!tf) {
            fprintf(stderr, "gen_callbacks: %s: %s\n", template_path, strerror(errno));
            return 1;
        }
    }
    size_t tpl_len;
    char *tpl = read_all(tf, &tpl_len);
    if (tf != stdin)
        fclose(tf);

    char tsbuf[32];
    if (!timestamp) {
        snprintf(tsbuf, sizeof tsbuf, "%lld", (long long)time(NULL));
        timestamp = tsbuf;
    }
    static char outbuf[1 << 20];
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
    char *msg = NULL;
    size_t msg_cap = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = instantiate(tpl, tpl_len, start + i, &msg, &msg_cap);
        write_one(&g, msg, len, timestamp, start + i, stdout);
    }
    if (fflush(stdout) != 0)
        die("write failed");
    free(msg);
    free(tpl);
    free(g.enc);
    free(g.raw);
    wg_crypto_msgcrypt_free(g.mc);
    return 0;
}
