/* TLS for the HTTP client: the SSL_CTX (TLS 1.2+, system CA store and/or a CA file), a fresh
 * SSL per connection with SNI and host-name verification, and the explanation of a failed
 * handshake from what OpenSSL reported. */
#include "connectors/http/internal.h"

#include <arpa/inet.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

static void ssl_errors(char *buf, size_t len)
{
    unsigned long e;
    size_t used = 0;
    buf[0] = '\0';
    while ((e = ERR_get_error()) != 0) {
        if (used == 0) {
            ERR_error_string_n(e, buf, len);
            used = strlen(buf);
        }
    }
}

SSL_CTX *wg_http_tls_ctx_new(const char *ca_file, int ca_file_only, char *err, size_t errlen)
{
    char detail[WG_HTTP_ERRMSG];
    SSL_CTX *ctx;

    ERR_clear_error();
    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        ssl_errors(detail, sizeof(detail));
        snprintf(err, errlen, "SSL_CTX_new: %s", detail);
        return NULL;
    }
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)) {
        ssl_errors(detail, sizeof(detail));
        snprintf(err, errlen, "cannot require TLS 1.2: %s", detail);
        goto fail;
    }
    /* Verification itself is switched on per SSL (a target may turn it off). */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    if (!ca_file_only && !SSL_CTX_set_default_verify_paths(ctx)) {
        ssl_errors(detail, sizeof(detail));
        snprintf(err, errlen, "cannot load the system CA store: %s", detail);
        goto fail;
    }
    if (ca_file != NULL && !SSL_CTX_load_verify_locations(ctx, ca_file, NULL)) {
        ssl_errors(detail, sizeof(detail));
        snprintf(err, errlen, "cannot load CA file %s: %s", ca_file, detail);
        goto fail;
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

static int is_ip_literal(const char *host)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* Records the first verification failure; the verdict stays OpenSSL's. */
static int verify_cb(int ok, X509_STORE_CTX *x)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
    wg_http_tls_obs_t *obs = ssl ? SSL_get_app_data(ssl) : NULL;
    if (!ok && obs != NULL && obs->verify_err == 0) {
        obs->verify_err = X509_STORE_CTX_get_error(x);
        obs->verify_depth = X509_STORE_CTX_get_error_depth(x);
        if (obs->verify_err == 0)
            obs->verify_err = X509_V_ERR_UNSPECIFIED;
    }
    return ok;
}

/* Notes that the server answered at all (a handshake that dies before this is a connect
 * failure). */
static void msg_cb(int write_p, int version, int content_type, const void *buf, size_t len,
                   SSL *ssl, void *arg)
{
    (void)version, (void)content_type, (void)buf, (void)len, (void)ssl;
    wg_http_tls_obs_t *obs = arg;
    if (!write_p && obs != NULL)
        obs->peer_bytes = 1;
}

SSL *wg_http_tls_ssl_new(SSL_CTX *ctx, const char *host, int insecure, wg_http_tls_obs_t *obs)
{
    int ip = is_ip_literal(host);
    SSL *ssl = SSL_new(ctx);
    if (ssl == NULL)
        return NULL;
    /* SNI carries host names only (RFC 6066 §3). */
    if (!ip && !SSL_set_tlsext_host_name(ssl, host))
        goto fail;
    if (insecure) {
        SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
    } else {
        SSL_set_verify(ssl, SSL_VERIFY_PEER, verify_cb);
        if (ip) {
            if (!X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host))
                goto fail;
        } else {
            SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            if (!SSL_set1_host(ssl, host))
                goto fail;
        }
    }
    SSL_set_app_data(ssl, obs);
    SSL_set_msg_callback(ssl, msg_cb);
    SSL_set_msg_callback_arg(ssl, obs);
    return ssl;
fail:
    SSL_free(ssl);
    return NULL;
}

void wg_http_tls_detach(SSL *ssl)
{
    SSL_set_app_data(ssl, NULL);
    SSL_set_msg_callback(ssl, NULL);
    SSL_set_msg_callback_arg(ssl, NULL);
}

wg_http_error_t wg_http_tls_explain(struct bufferevent *bev, const wg_http_tls_obs_t *obs,
                                    const char *host, int port, char *msg, size_t msglen)
{
    unsigned long e, lib_err = 0;
    char detail[WG_HTTP_ERRMSG];

    /* bufferevent_openssl keeps both SSL_ERROR_* codes and ERR_* codes; only the latter have a
     * library. The earliest ERR code is the root cause. */
    while ((e = bufferevent_get_openssl_error(bev)) != 0) {
        if (ERR_GET_LIB(e) != 0)
            lib_err = e;
    }
    if (obs->verify_err != 0) {
        snprintf(msg, msglen, "TLS certificate verification failed for %s:%d: %s (depth %d)", host,
                 port, X509_verify_cert_error_string(obs->verify_err), obs->verify_depth);
        return WG_HTTP_ERR_TLS_VERIFY;
    }
    if (lib_err != 0) {
        ERR_error_string_n(lib_err, detail, sizeof(detail));
        if (ERR_GET_LIB(lib_err) == ERR_LIB_SSL &&
            ERR_GET_REASON(lib_err) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
            snprintf(msg, msglen, "TLS certificate verification failed for %s:%d: %s", host, port,
                     detail);
            return WG_HTTP_ERR_TLS_VERIFY;
        }
        snprintf(msg, msglen, "TLS handshake with %s:%d failed: %s", host, port, detail);
        return WG_HTTP_ERR_TLS;
    }
    if (obs->peer_bytes) {
        snprintf(msg, msglen, "TLS handshake with %s:%d failed: connection closed by the server",
                 host, port);
        return WG_HTTP_ERR_TLS;
    }
    return WG_HTTP_OK;
}
