/* `wegate crypto`: sign, encrypt or decrypt a WeCom callback by hand (PROTOCOL.md §1), a
 * debugging tool for integrators. sign and encrypt produce what WeCom would send; decrypt runs
 * every check the callback route runs and names the one that fails. */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "connectors/wecom/callback_xml.h"
#include "crypto/msgcrypt.h"
#include "gateway/cli/cli.h"

/* stdin ceiling: WeCom's events are a few hundred bytes; this leaves room for test payloads. */
#define CLI_MAX_STDIN (64u * 1024 * 1024)
/* Allowed receive ids on one decrypt command line (--receive-id repeated). */
#define MAX_RECEIVE_IDS 16
/* WeCom's nonces are decimal strings of about ten digits. */
#define NONCE_DIGITS 10

enum opt {
    O_TOKEN = 0,
    O_AES_KEY,
    O_RECEIVE_ID,
    O_TIMESTAMP,
    O_NONCE,
    O_ENCRYPT,
    O_MSG_SIGNATURE,
    O_AGENT_ID,
    O_RANDOM,
    O_HELP,
};
#define BIT(o) (1u << (o))
/* getopt_long's values for the long options: clear of every character (and of 0). */
#define OPT_BASE 256

static const struct option long_opts[] = {
    {"token", required_argument, NULL, OPT_BASE + O_TOKEN},
    {"aes-key", required_argument, NULL, OPT_BASE + O_AES_KEY},
    {"receive-id", required_argument, NULL, OPT_BASE + O_RECEIVE_ID},
    {"timestamp", required_argument, NULL, OPT_BASE + O_TIMESTAMP},
    {"nonce", required_argument, NULL, OPT_BASE + O_NONCE},
    {"encrypt", required_argument, NULL, OPT_BASE + O_ENCRYPT},
    {"msg-signature", required_argument, NULL, OPT_BASE + O_MSG_SIGNATURE},
    {"agent-id", required_argument, NULL, OPT_BASE + O_AGENT_ID},
    {"random", required_argument, NULL, OPT_BASE + O_RANDOM},
    {"help", no_argument, NULL, OPT_BASE + O_HELP},
    {NULL, 0, NULL, 0},
};

typedef struct args {
    const char *value[O_HELP]; /* by enum opt; NULL when absent */
    const char *receive_ids[MAX_RECEIVE_IDS];
    size_t n_receive_ids;
} args_t;

typedef struct verb {
    const char *name;
    unsigned allowed, required;
    int (*run)(const struct verb *v, const args_t *a);
    const char *usage;
} verb_t;

static const char crypto_usage[] =
    "usage: wegate crypto <command> [options]\n"
    "\n"
    "Sign, encrypt or decrypt a WeCom callback by hand, to debug a callback URL's Token,\n"
    "EncodingAESKey and receive id.\n"
    "\n"
    "commands:\n"
    "  sign      print the msg_signature of a callback\n"
    "  encrypt   encrypt stdin into the POST body WeCom would send, and its query string\n"
    "  decrypt   verify and decrypt a POST body or Encrypt value read from stdin\n"
    "\n"
    "'wegate crypto <command> --help' describes one command.\n"
    "Exit codes: 0 success, 1 the input failed a check, 2 usage error.\n";

static const char sign_usage[] =
    "usage: wegate crypto sign --token T --timestamp TS --nonce N --encrypt E\n"
    "\n"
    "Prints the msg_signature of a callback and a newline: the lower-case hex SHA-1 of the four\n"
    "values sorted bytewise and concatenated. TS and N are signed as given (strings).\n"
    "\n"
    "Exit codes: 0 success, 1 bad token, 2 usage error.\n";

static const char encrypt_usage[] =
    "usage: wegate crypto encrypt --token T --aes-key K --receive-id R [--timestamp TS]\n"
    "                             [--nonce N] [--agent-id A] [--random R16] < message\n"
    "\n"
    "Encrypts all of stdin (any bytes) as WeCom does and prints on stdout the POST body\n"
    "  <xml><ToUserName><![CDATA[R]]></ToUserName><Encrypt><![CDATA[...]]></Encrypt>"
    "<AgentID><![CDATA[A]]></AgentID></xml>\n"
    "with NO trailing newline (so curl --data-binary posts it exactly), and on stderr the query\n"
    "string msg_signature=...&timestamp=...&nonce=... and a newline.\n"
    "\n"
    "  --timestamp TS  default: now, in Unix seconds\n"
    "  --nonce N       default: 10 random digits\n"
    "  --agent-id A    default: empty\n"
    "  --random R16    the plaintext's 16-byte random prefix, as exactly 16 ASCII characters\n"
    "                  (to reproduce a known ciphertext); default: 16 bytes from the CSPRNG\n"
    "\n"
    "example:\n"
    "  wegate crypto encrypt --token T --aes-key K --receive-id ww123 <event.xml \\\n"
    "      >body.xml 2>query.txt &&\n"
    "  curl --data-binary @body.xml \"http://127.0.0.1:8080/wecom/ww123/callback?$(cat "
    "query.txt)\"\n"
    "\n"
    "Exit codes: 0 success, 1 bad token or key, 2 usage error (a missing flag, or --random\n"
    "not 16 ASCII characters).\n";

static const char decrypt_usage[] =
    "usage: wegate crypto decrypt --token T --aes-key K --receive-id R --msg-signature S\n"
    "                             --timestamp TS --nonce N < body\n"
    "\n"
    "Reads from stdin a POST body (<xml>...<Encrypt>...</Encrypt>...</xml>) or a bare Encrypt\n"
    "value (such as a GET's echostr, URL-decoded; surrounding whitespace is ignored), checks the\n"
    "signature, decrypts, checks the padding, the length field and the receive id, and prints\n"
    "the message exactly as decrypted (no newline added).\n"
    "\n"
    "  --receive-id R  the receive id the plaintext must end with: the corp id, a suite id, or\n"
    "                  '' (smart robots); repeat it to allow several\n"
    "\n"
    "A failed check exits 1 with one line on stderr naming it: signature, base64, length,\n"
    "padding, message length, receive id, or xml (the envelope).\n"
    "\n"
    "Exit codes: 0 success, 1 a check failed (or bad token or key), 2 usage error.\n";

static int usage_error(const verb_t *v, const char *fmt, const char *what)
{
    fprintf(stderr, "wegate crypto%s%s: ", v ? " " : "", v ? v->name : "");
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\n\n%s", v ? v->usage : crypto_usage);
    return WG_EXIT_USAGE;
}

/* One line on stderr; the message never contains the token or the key. */
static int check_failed(const verb_t *v, const char *check, const char *detail, int wecom_code)
{
    fprintf(stderr, "wegate crypto %s: %s check failed", v->name, check);
    if (detail && *detail) {
        fputs(": ", stderr);
        for (const char *p = detail; *p; p++)
            fputc(*p == '\n' || *p == '\r' ? ' ' : *p, stderr);
    }
    if (wecom_code)
        fprintf(stderr, " (WeCom %d)", wecom_code);
    fputc('\n', stderr);
    return WG_EXIT_CHECK;
}

static int fail(const verb_t *v, const char *msg)
{
    fprintf(stderr, "wegate crypto %s: %s\n", v->name, msg);
    return WG_EXIT_CHECK;
}

/* All of stdin, binary-safe, NUL-appended; NULL on a read error or past CLI_MAX_STDIN. */
static char *read_stdin(size_t *len, const char **why)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        *why = "out of memory";
        return NULL;
    }
    for (;;) {
        if (cap - n < 2) {
            if (cap >= CLI_MAX_STDIN) {
                *why = "stdin is larger than 64 MiB";
                free(buf);
                return NULL;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                *why = "out of memory";
                free(buf);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, stdin);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(stdin)) {
        *why = "cannot read stdin";
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int create(const verb_t *v, const args_t *a, wg_crypto_msgcrypt_t **mc)
{
    wg_crypto_rc_t rc = WG_CRYPTO_E_INTERNAL;
    char err[256];
    *mc = wg_crypto_msgcrypt_new(a->value[O_TOKEN], a->value[O_AES_KEY], &rc, err, sizeof err);
    if (*mc)
        return WG_EXIT_OK;
    return check_failed(v, wg_crypto_rc_name(rc), err, 0);
}

/* ---- sign ---- */

static int run_sign(const verb_t *v, const args_t *a)
{
    const char *tok = a->value[O_TOKEN], *ts = a->value[O_TIMESTAMP], *nonce = a->value[O_NONCE],
               *enc = a->value[O_ENCRYPT];
    char sig[WG_CRYPTO_SIG_HEX + 1], err[256];
    wg_crypto_rc_t rc = wg_crypto_sign_token(tok, strlen(tok), ts, strlen(ts), nonce, strlen(nonce),
                                             enc, strlen(enc), sig, err, sizeof err);
    if (rc != WG_CRYPTO_OK)
        return check_failed(v, wg_crypto_rc_name(rc), err, 0);
    printf("%s\n", sig);
    if (fflush(stdout) != 0)
        return fail(v, "cannot write stdout");
    return WG_EXIT_OK;
}

/* ---- encrypt ---- */

/* %XX for everything but RFC 3986's unreserved characters. */
static void put_query_value(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~')
            fputc(*p, f);
        else
            fprintf(f, "%%%02X", *p);
    }
}

static int random_nonce(char out[NONCE_DIGITS + 1])
{
    int i = 0;
    while (i < NONCE_DIGITS) {
        unsigned char b[16];
        if (RAND_bytes(b, sizeof b) != 1)
            return -1;
        for (size_t j = 0; j < sizeof b && i < NONCE_DIGITS; j++)
            if (b[j] < 250) /* 250 = 25 * 10: keeps the digits uniform */
                out[i++] = (char)('0' + b[j] % 10);
    }
    out[NONCE_DIGITS] = '\0';
    return 0;
}

static int run_encrypt(const verb_t *v, const args_t *a)
{
    const char *rid = a->receive_ids[0];
    const char *agent = a->value[O_AGENT_ID] ? a->value[O_AGENT_ID] : "";
    const char *random = a->value[O_RANDOM];
    char ts_buf[32], nonce_buf[NONCE_DIGITS + 1], sig[WG_CRYPTO_SIG_HEX + 1];
    wg_crypto_msgcrypt_t *mc = NULL;
    char *msg = NULL, *enc = NULL;
    int status;

    if (a->n_receive_ids != 1)
        return usage_error(v, "%s takes exactly one --receive-id", "encrypt");
    if (random) {
        int ascii = strlen(random) == WG_CRYPTO_RANDOM_LEN;
        for (const char *p = random; ascii && *p; p++)
            ascii = (unsigned char)*p < 0x80;
        if (!ascii)
            return usage_error(v, "%s takes exactly 16 ASCII characters", "--random");
    }
    status = create(v, a, &mc);
    if (status != WG_EXIT_OK)
        goto done;
    /* A CDATA section cannot contain its own terminator. */
    if (strstr(rid, "]]>") || strstr(agent, "]]>")) {
        status = fail(v, "--receive-id and --agent-id cannot contain \"]]>\"");
        goto done;
    }

    const char *ts = a->value[O_TIMESTAMP];
    if (!ts) {
        snprintf(ts_buf, sizeof ts_buf, "%lld", (long long)time(NULL));
        ts = ts_buf;
    }
    const char *nonce = a->value[O_NONCE];
    if (!nonce) {
        if (random_nonce(nonce_buf) != 0) {
            status = fail(v, "the CSPRNG failed");
            goto done;
        }
        nonce = nonce_buf;
    }

    size_t msg_len = 0;
    const char *why = NULL;
    msg = read_stdin(&msg_len, &why);
    if (!msg) {
        status = fail(v, why);
        goto done;
    }
    size_t need = wg_crypto_encrypt_bound(msg_len, strlen(rid));
    if (need == SIZE_MAX) {
        status = fail(v, "stdin is too large for WeCom's 32-bit length field");
        goto done;
    }
    enc = malloc(need);
    if (!enc) {
        status = fail(v, "out of memory");
        goto done;
    }
    size_t enc_len = 0;
    wg_crypto_rc_t rc = wg_crypto_encrypt(mc, (const uint8_t *)random, msg, msg_len, rid,
                                          strlen(rid), enc, need, &enc_len);
    if (rc == WG_CRYPTO_OK)
        rc = wg_crypto_sign(mc, ts, strlen(ts), nonce, strlen(nonce), enc, enc_len, sig);
    if (rc != WG_CRYPTO_OK) {
        status = check_failed(v, wg_crypto_rc_name(rc), NULL, 0);
        goto done;
    }

    printf("<xml><ToUserName><![CDATA[%s]]></ToUserName><Encrypt><![CDATA[%s]]></Encrypt>"
           "<AgentID><![CDATA[%s]]></AgentID></xml>",
           rid, enc, agent);
    if (fflush(stdout) != 0) {
        status = fail(v, "cannot write stdout");
        goto done;
    }
    fprintf(stderr, "msg_signature=%s&timestamp=", sig);
    put_query_value(stderr, ts);
    fputs("&nonce=", stderr);
    put_query_value(stderr, nonce);
    fputc('\n', stderr);
    status = WG_EXIT_OK;

done:
    free(enc);
    free(msg);
    wg_crypto_msgcrypt_free(mc);
    return status;
}

/* ---- decrypt ---- */

static int run_decrypt(const verb_t *v, const args_t *a)
{
    wg_crypto_msgcrypt_t *mc = NULL;
    wg_wecom_envelope_t env;
    int have_env = 0;
    char *in = NULL;
    uint8_t *buf = NULL;
    int status;

    memset(&env, 0, sizeof env);
    status = create(v, a, &mc);
    if (status != WG_EXIT_OK)
        goto done;
    size_t in_len = 0;
    const char *why = NULL;
    in = read_stdin(&in_len, &why);
    if (!in) {
        status = fail(v, why);
        goto done;
    }

    const char *enc = in;
    size_t enc_len = in_len;
    while (enc_len && is_space(*enc)) {
        enc++;
        enc_len--;
    }
    if (enc_len && *enc == '<') {
        char err[256] = "";
        wg_wecom_xml_rc_t xrc = wg_wecom_envelope_parse(enc, enc_len, &env, err, sizeof err);
        if (xrc != WG_WECOM_XML_OK) {
            status = check_failed(v, "xml", *err ? err : wg_wecom_xml_rc_name(xrc), -40002);
            goto done;
        }
        have_env = 1;
        enc = env.encrypt;
        enc_len = env.encrypt_len;
    } else {
        while (enc_len && is_space(enc[enc_len - 1]))
            enc_len--;
    }

    const char *ts = a->value[O_TIMESTAMP], *nonce = a->value[O_NONCE],
               *sig = a->value[O_MSG_SIGNATURE];
    wg_crypto_rc_t rc =
        wg_crypto_verify(mc, ts, strlen(ts), nonce, strlen(nonce), enc, enc_len, sig, strlen(sig));
    if (rc != WG_CRYPTO_OK) {
        status = check_failed(v, wg_crypto_rc_name(rc), NULL, wg_crypto_rc_wecom_code(rc));
        goto done;
    }
    size_t bound = wg_crypto_decrypt_bound(enc_len);
    buf = bound == SIZE_MAX ? NULL : malloc(bound);
    if (!buf) {
        status = fail(v, "out of memory");
        goto done;
    }
    wg_crypto_plain_t plain;
    rc = wg_crypto_decrypt(mc, enc, enc_len, a->receive_ids, a->n_receive_ids, buf, bound, &plain);
    if (rc != WG_CRYPTO_OK) {
        status = check_failed(v, wg_crypto_rc_name(rc), NULL, wg_crypto_rc_wecom_code(rc));
        goto done;
    }
    if (fwrite(plain.msg, 1, plain.msg_len, stdout) != plain.msg_len || fflush(stdout) != 0) {
        status = fail(v, "cannot write stdout");
        goto done;
    }
    status = WG_EXIT_OK;

done:
    free(buf);
    if (have_env)
        wg_wecom_envelope_clear(&env);
    free(in);
    wg_crypto_msgcrypt_free(mc);
    return status;
}

/* ---- dispatch ---- */

static const verb_t verbs[] = {
    {"sign", BIT(O_TOKEN) | BIT(O_TIMESTAMP) | BIT(O_NONCE) | BIT(O_ENCRYPT),
     BIT(O_TOKEN) | BIT(O_TIMESTAMP) | BIT(O_NONCE) | BIT(O_ENCRYPT), run_sign, sign_usage},
    {"encrypt",
     BIT(O_TOKEN) | BIT(O_AES_KEY) | BIT(O_RECEIVE_ID) | BIT(O_TIMESTAMP) | BIT(O_NONCE) |
         BIT(O_AGENT_ID) | BIT(O_RANDOM),
     BIT(O_TOKEN) | BIT(O_AES_KEY) | BIT(O_RECEIVE_ID), run_encrypt, encrypt_usage},
    {"decrypt",
     BIT(O_TOKEN) | BIT(O_AES_KEY) | BIT(O_RECEIVE_ID) | BIT(O_TIMESTAMP) | BIT(O_NONCE) |
         BIT(O_MSG_SIGNATURE),
     BIT(O_TOKEN) | BIT(O_AES_KEY) | BIT(O_RECEIVE_ID) | BIT(O_TIMESTAMP) | BIT(O_NONCE) |
         BIT(O_MSG_SIGNATURE),
     run_decrypt, decrypt_usage},
};

static int run_verb(const verb_t *v, int argc, char **argv)
{
    args_t a;
    memset(&a, 0, sizeof a);
    opterr = 0;
    optind = 0; /* glibc: a full rescan of this argv */
    for (;;) {
        int c = getopt_long(argc, argv, ":h", long_opts, NULL);
        if (c == -1)
            break;
        if (c == 'h' || c == OPT_BASE + O_HELP) {
            fputs(v->usage, stdout);
            return WG_EXIT_OK;
        }
        if (c == ':')
            return usage_error(v, "option '%s' needs a value", argv[optind - 1]);
        if (c < OPT_BASE || c >= OPT_BASE + O_HELP) {
            if (optopt > 0 && optopt < 128)
                return usage_error(v, "unknown option '-%c'", (char[]){(char)optopt, 0});
            return usage_error(v, "unknown option '%s'", argv[optind - 1]);
        }
        int o = c - OPT_BASE;
        if (!(v->allowed & BIT(o)))
            return usage_error(v, "option '--%s' does not apply here", long_opts[o].name);
        if (o == O_RECEIVE_ID) {
            if (a.n_receive_ids == MAX_RECEIVE_IDS)
                return usage_error(v, "%s given too many times", "--receive-id");
            a.receive_ids[a.n_receive_ids++] = optarg;
        } else {
            a.value[o] = optarg;
        }
    }
    if (optind < argc)
        return usage_error(v, "unexpected argument '%s'", argv[optind]);
    for (int o = 0; o < O_HELP; o++) {
        int present = o == O_RECEIVE_ID ? a.n_receive_ids > 0 : a.value[o] != NULL;
        if ((v->required & BIT(o)) && !present)
            return usage_error(v, "missing --%s", long_opts[o].name);
    }
    return v->run(v, &a);
}

int wg_cli_crypto(int argc, char **argv)
{
    if (argc < 2)
        return usage_error(NULL, "%s", "a command is required");
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(crypto_usage, stdout);
        return WG_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        if (strcmp(cmd, verbs[i].name) == 0)
            return run_verb(&verbs[i], argc - 1, argv + 1);
    return usage_error(NULL, "unknown command '%s'", cmd);
}
