/* The WeCom callback route, /wecom/{corp}[/{receiver}]/callback (PROTOCOL.md §1-§3).
 *
 * GET  ?msg_signature&timestamp&nonce&echostr: URL verification; answers the decrypted echostr.
 * POST ?msg_signature&timestamp&nonce with the XML envelope: verify, decrypt, parse, commit to
 *      PostgreSQL (dedupe key: SHA-256 of the decrypted inner XML), then 200 with an empty body,
 *      or "success" for a suite instruction callback (one with an InfoType, PROTOCOL.md §2, §8).
 *      A retry (re-encrypted or not) is a duplicate: 200 again, stored once. 503 when the
 *      database cannot commit (unavailable, or not within database.commit_timeout_ms).
 *
 * Check order, so that a request failing any check changes nothing: query (403) → envelope
 * (400) → signature (403) → decrypt (400) → inner XML (400) → store. Nothing is written before
 * the last check passed. Query values are %XX-decoded only: '+' stays '+' (PROTOCOL.md §1). */
#include "gateway/routes/routes.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <openssl/evp.h>

#include "connectors/wecom/callback_xml.h"
#include "gateway/log.h"
#include "gateway/server/server.h"

enum { Q_SIGNATURE, Q_TIMESTAMP, Q_NONCE, Q_ECHOSTR, Q_COUNT };
static const char *const query_names[Q_COUNT] = {"msg_signature", "timestamp", "nonce", "echostr"};

typedef struct query {
    char *value[Q_COUNT]; /* decoded, NUL-terminated (owned: evhttp_uridecode's) */
    size_t len[Q_COUNT];
} query_t;

static void query_clear(query_t *q)
{
    for (int i = 0; i < Q_COUNT; i++)
        free(q->value[i]);
    memset(q, 0, sizeof *q);
}

/* Splits the raw query on '&' and '=' in the worker's scratch buffer and decodes the values we
 * use with evhttp_uridecode(decode_plus off). The first occurrence of a name wins. 0, or -1 when
 * out of memory. */
static int query_parse(wg_worker_t *w, const char *raw, query_t *q)
{
    memset(q, 0, sizeof *q);
    if (raw == NULL)
        return 0;
    size_t n = strlen(raw); /* bounded by evhttp's header size limit */
    if (n + 1 > w->query_cap) {
        size_t cap = n + 1 > 256 ? n + 1 : 256;
        char *p = realloc(w->query_buf, cap);
        if (!p)
            return -1;
        w->query_buf = p;
        w->query_cap = cap;
    }
    memcpy(w->query_buf, raw, n + 1);
    char *p = w->query_buf;
    while (p != NULL) {
        char *amp = strchr(p, '&');
        if (amp)
            *amp = '\0';
        char *eq = strchr(p, '=');
        if (eq) {
            *eq = '\0';
            for (int i = 0; i < Q_COUNT; i++) {
                if (q->value[i] == NULL && strcmp(p, query_names[i]) == 0) {
                    q->value[i] = evhttp_uridecode(eq + 1, 0 /* decode_plus off */, &q->len[i]);
                    if (q->value[i] == NULL)
                        return -1;
                    break;
                }
            }
        }
        p = amp ? amp + 1 : NULL;
    }
    return 0;
}

static void allowed_receive_ids(const wg_endpoint_t *ep, const char *const **ids, size_t *n)
{
    if (ep->recv->n_receive_ids > 0) {
        *ids = (const char *const *)ep->recv->receive_ids;
        *n = ep->recv->n_receive_ids;
    } else { /* fail closed: never decrypt without a receive-id check */
        *ids = (const char *const *)&ep->corp->corp_id;
        *n = 1;
    }
}

static uint8_t *decrypt_buffer(wg_worker_t *w, size_t need)
{
    if (need > w->decrypt_cap) {
        size_t cap = w->decrypt_cap ? w->decrypt_cap : 4096;
        while (cap < need)
            cap *= 2;
        uint8_t *p = realloc(w->decrypt_buf, cap);
        if (!p)
            return NULL;
        w->decrypt_buf = p;
        w->decrypt_cap = cap;
    }
    return w->decrypt_buf;
}

/* Decrypts encrypt into the worker's buffer; on failure replies and returns -1. */
static int decrypt(wg_request_t *rq, wg_endpoint_t *ep, const char *encrypt, size_t encrypt_len,
                   wg_crypto_plain_t *plain)
{
    wg_worker_t *w = rq->worker;
    size_t need = wg_crypto_decrypt_bound(encrypt_len);
    uint8_t *buf = decrypt_buffer(w, need);
    if (!buf) {
        wg_request_reply_text(rq, 500, "internal error");
        return -1;
    }
    const char *const *ids;
    size_t n_ids;
    allowed_receive_ids(ep, &ids, &n_ids);
    wg_crypto_rc_t rc =
        wg_crypto_decrypt(ep->mc, encrypt, encrypt_len, ids, n_ids, buf, w->decrypt_cap, plain);
    switch (rc) {
    case WG_CRYPTO_OK:
        return 0;
    case WG_CRYPTO_E_BASE64:
        wg_request_reply_text(rq, 400, "bad base64");
        break;
    case WG_CRYPTO_E_LENGTH:
        wg_request_reply_text(rq, 400, "bad length");
        break;
    case WG_CRYPTO_E_PADDING:
        wg_request_reply_text(rq, 400, "bad padding");
        break;
    case WG_CRYPTO_E_MSG_LENGTH:
        wg_request_reply_text(rq, 400, "bad message length");
        break;
    case WG_CRYPTO_E_RECEIVE_ID:
        wg_request_reply_text(rq, 400, "receive id mismatch");
        break;
    default:
        wg_log(WG_LOG_ERROR, "decrypt failed", "route=%s check=%s", rq->route,
               wg_crypto_rc_name(rc));
        wg_request_reply_text(rq, 500, "internal error");
        break;
    }
    return -1;
}

static int signature_ok(wg_endpoint_t *ep, const query_t *q, const char *text, size_t len)
{
    return wg_crypto_verify(ep->mc, q->value[Q_TIMESTAMP], q->len[Q_TIMESTAMP], q->value[Q_NONCE],
                            q->len[Q_NONCE], text, len, q->value[Q_SIGNATURE],
                            q->len[Q_SIGNATURE]) == WG_CRYPTO_OK;
}

/* GET: WeCom's URL verification. */
static void verify_url(wg_request_t *rq, wg_endpoint_t *ep, const query_t *q)
{
    if (q->value[Q_ECHOSTR] == NULL) {
        wg_request_reply_text(rq, 400, "missing echostr");
        return;
    }
    if (!signature_ok(ep, q, q->value[Q_ECHOSTR], q->len[Q_ECHOSTR])) {
        wg_request_reply_text(rq, 403, "bad signature");
        return;
    }
    wg_crypto_plain_t plain;
    if (decrypt(rq, ep, q->value[Q_ECHOSTR], q->len[Q_ECHOSTR], &plain) != 0)
        return;
    wg_request_reply(rq, 200, "text/plain; charset=utf-8", plain.msg, plain.msg_len, NULL);
}

static void on_stored(void *arg, wg_pg_result_t result, const char *err)
{
    wg_request_t *rq = arg;
    wg_worker_t *w = rq->worker;
    if (result != WG_PG_STORED && result != WG_PG_DUPLICATE)
        wg_worker_log_store_error(w, wg_pg_result_name(result), err);
    if (!wg_request_unhold(rq))
        return; /* the client is gone; a committed row will be answered 200 on WeCom's retry */
    switch (result) {
    case WG_PG_STORED:
    case WG_PG_DUPLICATE:
        rq->store_result = result == WG_PG_STORED ? "stored" : "duplicate";
        if (rq->route_data)
            wg_request_reply(rq, 200, NULL, "success", 7, NULL);
        else
            wg_request_reply(rq, 200, NULL, NULL, 0, NULL);
        return;
    case WG_PG_TIMEOUT:
        rq->store_result = "timeout";
        break;
    case WG_PG_UNAVAILABLE:
    default:
        rq->store_result = "unavailable";
        break;
    }
    wg_request_reply_text(rq, 503, "database unavailable");
}

static int sha256(wg_worker_t *w, const void *data, size_t len, uint8_t out[32])
{
    unsigned int n = 0;
    return EVP_DigestInit_ex(w->md_ctx, w->sha256, NULL) == 1 &&
                   EVP_DigestUpdate(w->md_ctx, data, len) == 1 &&
                   EVP_DigestFinal_ex(w->md_ctx, out, &n) == 1 && n == 32
               ? 0
               : -1;
}

static const char *nonempty(const char *s)
{
    return s && *s ? s : NULL;
}

/* POST: an event delivery. */
static void deliver(wg_request_t *rq, wg_endpoint_t *ep, const query_t *q)
{
    wg_worker_t *w = rq->worker;
    struct evbuffer *in = evhttp_request_get_input_buffer(wg_request_http(rq));
    size_t body_len = evbuffer_get_length(in);
    const char *body = body_len ? (const char *)evbuffer_pullup(in, -1) : "";
    char err[200];
    char reason[64];
    wg_wecom_envelope_t env;
    wg_wecom_event_t ev;
    memset(&ev, 0, sizeof ev);

    if (body == NULL) {
        wg_request_reply_text(rq, 500, "internal error");
        return;
    }
    wg_wecom_xml_rc_t xrc = wg_wecom_envelope_parse(body, body_len, &env, err, sizeof err);
    if (xrc != WG_WECOM_XML_OK) {
        snprintf(reason, sizeof reason, "bad envelope: %s", wg_wecom_xml_rc_name(xrc));
        wg_request_reply_text(rq, 400, reason);
        return;
    }
    if (!signature_ok(ep, q, env.encrypt, env.encrypt_len)) {
        wg_request_reply_text(rq, 403, "bad signature");
        goto done;
    }
    wg_crypto_plain_t plain;
    if (decrypt(rq, ep, env.encrypt, env.encrypt_len, &plain) != 0)
        goto done;
    xrc = wg_wecom_event_parse((const char *)plain.msg, plain.msg_len, &ev, err, sizeof err);
    if (xrc != WG_WECOM_XML_OK) {
        snprintf(reason, sizeof reason, "bad event: %s", wg_wecom_xml_rc_name(xrc));
        wg_request_reply_text(rq, 400, reason);
        goto done;
    }

    wg_pg_event_row_t row = {
        .corp = ep->corp->name,
        .receiver = ep->receiver_name,
        /* suite callbacks carry TimeStamp instead of CreateTime */
        .create_time = ev.has_create_time ? ev.create_time : ev.time_stamp,
        .has_create_time = ev.has_create_time || ev.has_time_stamp,
        .msg_type = ev.msg_type,
        /* suite instructions have no Event: their InfoType plays that part */
        .event = ev.event ? ev.event : ev.info_type,
        .change_type = ev.change_type,
        .user_id = ev.user_id,
        .external_user_id = ev.external_user_id,
        .chat_id = ev.chat_id,
        .msg_id = ev.msg_id,
        .agent_id = nonempty(ev.agent_id) ? ev.agent_id : nonempty(env.agent_id),
        .xml = (const char *)plain.msg,
        .xml_len = plain.msg_len,
    };
    if (sha256(w, plain.msg, plain.msg_len, row.dedupe_key) != 0) {
        wg_request_reply_text(rq, 500, "internal error");
        goto done;
    }
    if (wg_pg_event_row_check(&row, err, sizeof err) != 0) {
        char text[200];
        wg_log(WG_LOG_WARN, "event not storable", "route=%s error=\"%s\"", rq->route,
               wg_text_for_log(text, sizeof text, err));
        wg_request_reply_text(rq, 400, "bad event: not storable");
        goto done;
    }
    /* Every suite (third-party, 代开发) instruction callback, i.e. one with an InfoType, must be
     * answered exactly "success" (PROTOCOL.md §2, §8): the SUITE kind and the data events a
     * suite relays by InfoType alike. */
    rq->route_data = ev.kind == WG_WECOM_EV_SUITE || nonempty(ev.info_type) != NULL;
    wg_request_hold(rq);
    if (wg_pg_store_insert(w->store, &row, on_stored, rq) != 0) {
        wg_request_unhold(rq); /* still connected: we are inside its handler */
        rq->store_result = "not-connected";
        wg_request_reply_text(rq, 503, "database unavailable");
    }
done:
    wg_wecom_event_clear(&ev);
    wg_wecom_envelope_clear(&env);
}

void wg_route_callback(wg_request_t *rq, wg_endpoint_t *ep)
{
    query_t q;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(wg_request_http(rq));
    if (query_parse(rq->worker, uri ? evhttp_uri_get_query(uri) : NULL, &q) != 0) {
        query_clear(&q);
        wg_request_reply_text(rq, 500, "internal error");
        return;
    }
    if (q.value[Q_SIGNATURE] == NULL || q.len[Q_SIGNATURE] == 0 || q.value[Q_TIMESTAMP] == NULL ||
        q.value[Q_NONCE] == NULL) {
        wg_request_reply_text(rq, 403, "missing signature");
    } else if (evhttp_request_get_command(wg_request_http(rq)) == EVHTTP_REQ_GET) {
        verify_url(rq, ep, &q);
    } else {
        deliver(rq, ep, &q);
    }
    query_clear(&q);
}
