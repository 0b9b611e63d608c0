/* connectors/http against fake_wecom over loopback: plain HTTP and TLS with a throwaway CA (made
 * here by make_test_ca.sh), a second fake whose certificate names another host, a fake DNS
 * server on the test's own loop for evdns, and hand-made sockets that refuse or never answer.
 * Every test counts its callbacks and checks that the loop holds no event of the client once
 * the client is freed.   Usage: http_client_test FAKE_WECOM_BINARY MAKE_TEST_CA_SCRIPT */
#include "connectors/http/client.h"
#include "fakes/fake_proc.h"
#include "testlib.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/dns_struct.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

static const char *fake_bin;
static struct event_base *base;
static struct evdns_base *dns;
static struct evdns_server_port *dns_port;
static struct evdns_server_request *dns_held[8];
static int dns_nheld, dns_queries;
static fake_proc_t fake, fake_wrong;
static char ca_dir[64], ca_file[128];
static int baseline_events;
static int slow = 1;          /* time scale: larger under valgrind */
static int in_send;           /* set around wg_http_send() */
static wg_http_client_t *ctl; /* talks to the fake's control endpoints */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- running the loop --------------------------------------------------------------------- */

static void wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
}

/* Runs the loop until *count >= want or max_ms (scaled) pass; 1 if reached. */
static int wait_for(const int *count, int want, int max_ms)
{
    struct event *tick = evtimer_new(base, wake, NULL);
    double end = now_ms() + (double)max_ms * slow;
    while (*count < want && now_ms() < end) {
        struct timeval tv = {0, 10000};
        evtimer_add(tick, &tv);
        event_base_loop(base, EVLOOP_ONCE);
    }
    event_free(tick);
    return *count >= want;
}

static void run_for(int ms)
{
    int never = 0;
    double end = now_ms() + ms;
    while (now_ms() < end)
        wait_for(&never, 1, 1);
}

static int loop_events(void)
{
    return event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED | EVENT_BASE_COUNT_ACTIVE);
}

/* ---- results ------------------------------------------------------------------------------ */

typedef struct result {
    int calls;
    int inside_send;
    wg_http_error_t error;
    int status;
    char *body;
    size_t body_len;
    int nul_terminated;
    char err[256];
    char location[128];
    char server_ctype[128];
    double at_ms;
    wg_http_client_t *free_client; /* the callback frees it */
    wg_http_request_t *cancel_req; /* the callback cancels it */
    struct result *send_again;     /* the callback sends a request for it on again_client */
    wg_http_client_t *again_client;
    const char *again_url;
    int idempotent; /* input: send it as idempotent */
} result_t;

static void on_result(void *arg, const wg_http_response_t *resp, wg_http_error_t e,
                      const char *err);

static wg_http_request_t *send_full(wg_http_client_t *c, const char *method, const char *url,
                                    const char *body, const wg_http_header_t *h, size_t nh,
                                    int insecure, int timeout_ms, result_t *r)
{
    wg_http_request_options_t o = {0};
    wg_http_request_t *req;
    char err[256];
    o.method = method;
    o.url = url;
    o.body = body;
    o.body_len = body ? strlen(body) : 0;
    o.headers = h;
    o.nheaders = nh;
    o.insecure_skip_verify = insecure;
    o.response_timeout_ms = timeout_ms;
    o.idempotent = r->idempotent;
    in_send = 1;
    req = wg_http_send(c, &o, on_result, r, err, sizeof(err));
    in_send = 0;
    if (req == NULL)
        fprintf(stderr, "send %s: %s\n", url, err);
    return req;
}

static wg_http_request_t *send_req(wg_http_client_t *c, const char *method, const char *url,
                                   const char *body, result_t *r)
{
    return send_full(c, method, url, body, NULL, 0, 0, 0, r);
}

static void on_result(void *arg, const wg_http_response_t *resp, wg_http_error_t e, const char *err)
{
    result_t *r = arg;
    r->calls++;
    r->inside_send |= in_send;
    r->at_ms = now_ms();
    r->error = e;
    if (resp != NULL) {
        const char *v;
        r->status = resp->status;
        free(r->body);
        r->body = malloc(resp->body_len + 1);
        memcpy(r->body, resp->body, resp->body_len + 1);
        r->body_len = resp->body_len;
        r->nul_terminated = resp->body[resp->body_len] == '\0';
        if ((v = wg_http_response_header(resp, "location")) != NULL)
            snprintf(r->location, sizeof(r->location), "%s", v);
        if ((v = wg_http_response_header(resp, "Content-Type")) != NULL)
            snprintf(r->server_ctype, sizeof(r->server_ctype), "%s", v);
        if (err != NULL)
            snprintf(r->err, sizeof(r->err), "err set on success: %s", err);
    } else {
        snprintf(r->err, sizeof(r->err), "%s", err ? err : "(null err)");
    }
    if (getenv("WG_TEST_VERBOSE") != NULL)
        fprintf(stderr, "  [%s] status %d %s\n", wg_http_error_name(e), r->status,
                resp ? "" : r->err);
    if (r->cancel_req != NULL) {
        wg_http_request_t *q = r->cancel_req;
        r->cancel_req = NULL;
        wg_http_request_cancel(q);
    }
    if (r->send_again != NULL) {
        result_t *next = r->send_again;
        r->send_again = NULL;
        send_req(r->again_client, "GET", r->again_url, NULL, next);
    }
    if (r->free_client != NULL) {
        wg_http_client_t *c = r->free_client;
        r->free_client = NULL;
        wg_http_client_free(c);
    }
}

static void result_clear(result_t *r)
{
    free(r->body);
    memset(r, 0, sizeof(*r));
}

/* One request, waited for (10 s at most). */
static void fetch_full(wg_http_client_t *c, const char *method, const char *url, const char *body,
                       const wg_http_header_t *h, size_t nh, int insecure, result_t *r)
{
    result_clear(r);
    if (send_full(c, method, url, body, h, nh, insecure, 0, r) != NULL)
        wait_for(&r->calls, 1, 10000);
}

static void fetch(wg_http_client_t *c, const char *method, const char *url, const char *body,
                  result_t *r)
{
    fetch_full(c, method, url, body, NULL, 0, 0, r);
}

static wg_http_client_t *client_with(const wg_http_client_options_t *o)
{
    char err[256];
    wg_http_client_t *c = wg_http_client_new(base, dns, o, err, sizeof(err));
    if (c == NULL)
        fprintf(stderr, "wg_http_client_new: %s\n", err);
    return c;
}

/* The usual client: trusts the test CA, generous timeouts. */
static wg_http_client_t *client(void)
{
    wg_http_client_options_t o = {0};
    o.ca_file = ca_file;
    o.connect_timeout_ms = 10000 * slow;
    o.response_timeout_ms = 10000 * slow;
    return client_with(&o);
}

/* Frees c; then, once the loop has turned, nothing of it may remain on the loop. */
static void finish(wg_http_client_t *c)
{
    wg_http_client_free(c);
    event_base_loop(base, EVLOOP_NONBLOCK);
    CHECK_INT(loop_events(), baseline_events);
}

/* ---- the fake's control endpoints --------------------------------------------------------- */

static json_t *ctl_call(const char *method, const char *path, const char *body)
{
    char url[256];
    result_t r = {0};
    json_t *j = NULL;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", fake.http_port, path);
    fetch(ctl, method, url, body, &r);
    if (r.calls == 1 && r.status == 200)
        j = json_loadb(r.body, r.body_len, 0, NULL);
    if (j == NULL)
        fprintf(stderr, "control %s %s failed: %s\n", method, path, r.err);
    result_clear(&r);
    event_base_loop(base, EVLOOP_NONBLOCK); /* ctl keeps no connection: let it go */
    return j;
}

static void ctl_ok(const char *method, const char *path, const char *body)
{
    json_t *j = ctl_call(method, path, body);
    CHECK(j != NULL);
    json_decref(j);
}

static void script(const char *path, const char *actions)
{
    char body[1024];
    snprintf(body, sizeof(body), "{\"path\":\"%s\",\"actions\":%s}", path, actions);
    ctl_ok("POST", "/_fake/script", body);
}

/* The next answer on path comes after ms (scaled) milliseconds. */
static void script_delay(const char *path, int ms)
{
    char actions[64];
    snprintf(actions, sizeof(actions), "[{\"action\":\"ok\",\"delay_ms\":%d}]", ms * slow);
    script(path, actions);
}

/* The requests the fake recorded (new reference). */
static json_t *fake_requests(void)
{
    json_t *j = ctl_call("GET", "/_fake/requests", NULL);
    return j ? j : json_array();
}

static json_int_t json_errcode(const result_t *r)
{
    json_t *j = r->body ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
    json_int_t code = j ? json_integer_value(json_object_get(j, "errcode")) : -12345;
    if (j != NULL && json_object_get(j, "errcode") == NULL)
        code = -12345;
    json_decref(j);
    return code;
}

static void url_tls(char *buf, size_t len, const char *host, const char *path)
{
    snprintf(buf, len, "https://%s:%d%s", host, fake.port, path);
}

static void url_plain(char *buf, size_t len, const char *host, const char *path)
{
    snprintf(buf, len, "http://%s:%d%s", host, fake.http_port, path);
}

/* A gettoken through c (https://127.0.0.1); the token, or "" on failure. */
static void get_token(wg_http_client_t *c, char *tok, size_t len)
{
    char url[256];
    result_t r = {0};
    json_t *j;
    url_tls(url, sizeof(url), "127.0.0.1",
            "/cgi-bin/gettoken?corpid=wwfakecorp&corpsecret=fakesecret");
    fetch(c, "GET", url, NULL, &r);
    j = r.body ? json_loads(r.body, 0, NULL) : NULL;
    snprintf(tok, len, "%s", j ? json_string_value(json_object_get(j, "access_token")) : "");
    json_decref(j);
    result_clear(&r);
}

/* ---- a DNS server on the loop, for evdns ------------------------------------------------- */

static void on_dns_query(struct evdns_server_request *req, void *arg)
{
    (void)arg;
    const struct evdns_server_question *q = req->nquestions ? req->questions[0] : NULL;
    struct in_addr lo;
    dns_queries++;
    if (q == NULL) {
        evdns_server_request_respond(req, DNS_ERR_FORMAT);
        return;
    }
    if (strcasecmp(q->name, "api.wecom.test") == 0) {
        lo.s_addr = htonl(INADDR_LOOPBACK);
        if (q->type == EVDNS_TYPE_A)
            evdns_server_request_add_a_reply(req, q->name, 1, &lo, 60);
        evdns_server_request_respond(req, 0);
    } else if (strcasecmp(q->name, "slow.wecom.test") == 0 && dns_nheld < 8) {
        dns_held[dns_nheld++] = req; /* answered at the end of the test */
    } else {
        evdns_server_request_respond(req, DNS_ERR_NOTEXIST);
    }
}

static int dns_setup(void)
{
    struct sockaddr_in sin;
    socklen_t sl = sizeof(sin);
    char ns[64];
    evutil_socket_t s = socket(AF_INET, SOCK_DGRAM, 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s < 0 || bind(s, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
        getsockname(s, (struct sockaddr *)&sin, &sl) != 0)
        return -1;
    evutil_make_socket_nonblocking(s);
    dns_port = evdns_add_server_port_with_base(base, s, 0, on_dns_query, NULL);
    /* Only our server and /etc/hosts: never the machine's resolver. */
    dns = evdns_base_new(base, 0);
    snprintf(ns, sizeof(ns), "127.0.0.1:%d", ntohs(sin.sin_port));
    if (dns_port == NULL || dns == NULL || evdns_base_nameserver_ip_add(dns, ns) != 0 ||
        evdns_base_load_hosts(dns, NULL) != 0)
        return -1;
    /* evdns must give up later than the connect timeout of test_dns. */
    evdns_base_set_option(dns, "timeout:", slow > 1 ? "30" : "5");
    evdns_base_set_option(dns, "attempts:", "1");
    return 0;
}

/* ---- sockets that refuse or never answer -------------------------------------------------- */

/* A port where nothing listens. */
static int closed_port(void)
{
    struct sockaddr_in sin;
    socklen_t sl = sizeof(sin);
    int s = socket(AF_INET, SOCK_STREAM, 0), port;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(s, (struct sockaddr *)&sin, sizeof(sin));
    getsockname(s, (struct sockaddr *)&sin, &sl);
    port = ntohs(sin.sin_port);
    close(s);
    return port;
}

/* A listening socket that never accepts: the kernel completes TCP connects, nobody ever
 * speaks, so a TLS handshake (or an HTTP response) never comes. */
static int mute_listener(int *port)
{
    struct sockaddr_in sin;
    socklen_t sl = sizeof(sin);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s < 0 || bind(s, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(s, 16) != 0 ||
        getsockname(s, (struct sockaddr *)&sin, &sl) != 0)
        return -1;
    *port = ntohs(sin.sin_port);
    return s;
}

/* ---- a raw HTTP server on the loop, for answers fake_wecom cannot give ---------------------- */

typedef struct raw_server {
    struct evconnlistener *listener;
    int port;
    const char *reply; /* sent whole after the request's blank line */
    size_t reply_len;
    int close_after; /* close once the reply is out */
    int accepted;
} raw_server_t;

static void raw_write_done(struct bufferevent *bev, void *arg)
{
    (void)arg;
    if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        bufferevent_free(bev);
}

static void raw_read(struct bufferevent *bev, void *arg)
{
    raw_server_t *rs = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
    if (end.pos < 0)
        return;
    evbuffer_drain(in, evbuffer_get_length(in));
    bufferevent_write(bev, rs->reply, rs->reply_len);
    if (rs->close_after)
        bufferevent_setcb(bev, NULL, raw_write_done, NULL, rs);
}

static void raw_event(struct bufferevent *bev, short what, void *arg)
{
    (void)arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        bufferevent_free(bev);
}

static void raw_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                       void *arg)
{
    (void)l, (void)sa, (void)len;
    raw_server_t *rs = arg;
    struct bufferevent *bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    rs->accepted++;
    bufferevent_setcb(bev, raw_read, NULL, raw_event, rs);
    bufferevent_enable(bev, EV_READ);
}

static int raw_start(raw_server_t *rs)
{
    struct sockaddr_in sin;
    socklen_t sl = sizeof(sin);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rs->listener =
        evconnlistener_new_bind(base, raw_accept, rs, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
                                (struct sockaddr *)&sin, sizeof(sin));
    if (rs->listener == NULL ||
        getsockname(evconnlistener_get_fd(rs->listener), (struct sockaddr *)&sin, &sl) != 0)
        return -1;
    rs->port = ntohs(sin.sin_port);
    return 0;
}

/* Answers from a server written by hand: bodies that end with the connection, chunked bodies,
 * a body cut short, and things that are not HTTP. */
static void test_raw_answers(void)
{
    wg_http_client_t *c = client();
    wg_http_client_stats_t st;
    raw_server_t rs = {0};
    result_t r = {0};
    char url[128], *big;
    static const char until_close[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"
                                      "hello until close";
    static const char chunked[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    static const char partial[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b";
    static const char garbage[] = "SMTP READY\r\n\r\n";

    CHECK(raw_start(&rs) == 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/raw", rs.port);

    rs.reply = until_close, rs.reply_len = sizeof(until_close) - 1, rs.close_after = 1;
    fetch(c, "GET", url, NULL, &r);
    CHECK_INT(r.error, WG_HTTP_OK);
    CHECK_STR(r.body, "hello until close");
    event_base_loop(base, EVLOOP_NONBLOCK);
    wg_http_client_get_stats(c, &st);
    CHECK_INT(st.open_connections, 0); /* nothing left to reuse */

    rs.reply = chunked, rs.reply_len = sizeof(chunked) - 1, rs.close_after = 0;
    fetch(c, "GET", url, NULL, &r);
    CHECK_INT(r.error, WG_HTTP_OK);
    CHECK_STR(r.body, "hello world");
    fetch(c, "GET", url, NULL, &r);
    CHECK_INT(r.error, WG_HTTP_OK);
    wg_http_client_get_stats(c, &st);
    CHECK_INT(st.requests_reused, 1);

    rs.reply = partial, rs.reply_len = sizeof(partial) - 1, rs.close_after = 1;
    fetch(c, "POST", url, "{}", &r);
    CHECK_INT(r.error, WG_HTTP_ERR_RESET);

    rs.reply = garbage, rs.reply_len = sizeof(garbage) - 1, rs.close_after = 1;
    fetch(c, "POST", url, "{}", &r);
    CHECK_INT(r.error, WG_HTTP_ERR_PROTOCOL);

    /* Headers past the 64 KiB cap */
    big = malloc(80 * 1024);
    snprintf(big, 80 * 1024, "HTTP/1.1 200 OK\r\nX-Big: ");
    memset(big + strlen(big), 'a', 70 * 1024);
    strcpy(big + strlen("HTTP/1.1 200 OK\r\nX-Big: ") + 70 * 1024, "\r\nContent-Length: 0\r\n\r\n");
    rs.reply = big, rs.reply_len = strlen(big), rs.close_after = 1;
    fetch(c, "POST", url, "{}", &r);
    CHECK_INT(r.error, WG_HTTP_ERR_PROTOCOL);
    free(big);

    result_clear(&r);
    evconnlistener_free(rs.listener);
    run_for(50); /* the hand-made server's connections close */
    finish(c);
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_get_post_tls(void)
{
    wg_http_client_t *c = client();
    wg_http_header_t hdrs[] = {{"Content-Type", "application/json"}, {"X-Trace", "abc 123"}};
    char url[256], tok[128], body[256];
    result_t r = {0};
    json_t *log, *last;

    /* GET over TLS to an IP address (iPAddress SAN) */
    url_tls(url, sizeof(url), "127.0.0.1",
            "/cgi-bin/gettoken?corpid=wwfakecorp&corpsecret=fakesecret");
    fetch(c, "GET", url, NULL, &r);
    CHECK_INT(r.calls, 1);
    CHECK_INT(r.error, WG_HTTP_OK);
    CHECK_INT(r.status, 200);
    CHECK_INT(r.inside_send, 0);
    CHECK(r.nul_terminated);
    CHECK_STR(r.server_ctype, "application/json; charset=UTF-8");
    CHECK_INT(json_errcode(&r), 0);
    CHECK(r.body != NULL && strstr(r.body, "\"expires_in\":7200") != NULL);
    get_token(c, tok, sizeof(tok));
    CHECK(strncmp(tok, "faketoken-", 10) == 0);

    /* POST with headers and a JSON body */
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/cgi-bin/message/send?access_token=%s",
             fake.port, tok);
    snprintf(body, sizeof(body), "%s",
             "{\"touser\":\"zhangsan|invalid9\",\"msgtype\":\"text\",\"agentid\":1000002,"
             "\"text\":{\"content\":\"hello\"}}");
    fetch_full(c, "POST", url, body, hdrs, 2, 0, &r);
    CHECK_INT(r.error, WG_HTTP_OK);
    CHECK_INT(r.status, 200);
    CHECK_INT(json_errcode(&r), 0);
    CHECK(r.body && strstr(r.body, "\"invaliduser\":\"invalid9\"") != NULL);
    CHECK(r.body && strstr(r.body, "\"msgid\":\"fakemsg-") != NULL);

    /* What the server received */
    log = fake_requests();
    last = json_array_get(log, json_array_size(log) - 1);
    CHECK_STR(json_string_value(json_object_get(last, "method")), "POST");
    CHECK_STR(json_string_value(json_object_get(last, "path")), "/cgi-bin/message/send");
    CHECK_STR(json_string_value(json_object_get(last, "body")), body);
    {
        json_t *h = json_object_get(last, "headers");
        char host[64], clen[32];
        snprintf(host, sizeof(host), "127.0.0.1:%d", fake.port);
        snprintf(clen, sizeof(clen), "%zu", strlen(body));
        CHECK_STR(json_string_value(json_object_get(h, "host")), host);
        CHECK_STR(json_string_value(json_object_get(h, "content-length")), clen);
        CHECK_STR(json_string_value(json_object_get(h, "content-type")), "application/json");
        CHECK_STR(json_string_value(json_object_get(h, "x-trace")), "abc 123");
        CHECK_STR(json_string_value(json_object_get(h, "user-agent")), "wegate");
        CHECK_STR(json_string_value(json_object_get(last, "tls")), "TLSv1.3");
        CHECK(json_is_null(json_object_get(last, "sni"))); /* no SNI for an IP address */
    }
    json_decref(log);

    /* By host name: /etc/hosts through evdns, SNI, dNSName check */
    url_tls(url, sizeof(url), "localhost", "/hook/by-name");
    fetch(c, "POST", url, "{}", &r);
    CHECK_INT(r.error, WG_HTTP_OK);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "{\"ok\":true}");
    log = fake_requests();
    last = json_array_get(log, json_array_size(log) - 1);
    CHECK_STR(json_string_value(json_object_get(last, "sni")), "localhost");
    json_decref(log);

    /* HEAD: no body, and the connection stays usable */
    url_tls(url, sizeof(url), "localhost", "/hook/head");
    fetch(c, "HEAD", url, NULL, &r);
    CHECK_INT(r.error, WG_HTTP_OK);
    CHECK_INT(r.status, 200);
    CHECK_INT(r.body_len, 0);
    result_clear(&r);
    finish(c);
}

static void test_keepalive(void)
{
    wg_http_client_t *c = client();
    wg_http_client_stats_t st;
    wg_http_client_options_t o = {0};
    result_t r[6];
    char url[256];
    json_t *log;
    int conns[8] = {0}, nconns = 0, done = 0;

    ctl_ok("POST", "/_fake/reset", NULL);
    url_tls(url, sizeof(url), "127.0.0.1", "/hook/seq");
    memset(r, 0, sizeof(r));
    for (int i = 0; i < 5; i++) {
        fetch(c, "POST", url, "x", &r[0]);
        CHECK_INT(r[0].error, WG_HTTP_OK);
        CHECK_INT(r[0].status, 200);
    }
    wg_http_client_get_stats(c, &st);
    CHECK_INT(st.connections_opened, 1);
    CHECK_INT(st.requests_sent, 5);
    CHECK_INT(st.requests_reused, 4);
    CHECK_INT(st.responses, 5);
    CHECK_INT(st.open_connections, 1);
    CHECK_INT(st.idle_connections, 1);
    log = fake_requests();
    CHECK_INT(json_array_size(log), 5);
    for (size_t i = 0; i < json_array_size(log); i++)
        CHECK_INT(json_integer_value(json_object_get(json_array_get(log, i), "conn")),
                  json_integer_value(json_object_get(json_array_get(log, 0), "conn")));
    json_decref(log);
    result_clear(&r[0]);
    finish(c);

    /* Six at once on at most two connections: the rest wait their turn. */
    ctl_ok("POST", "/_fake/reset", NULL);
    o.ca_file = ca_file;
    o.max_conns_per_host = 2;
    o.connect_timeout_ms = o.response_timeout_ms = 10000 * slow;
    c = client_with(&o);
    for (int i = 0; i < 6; i++)
        CHECK(send_req(c, "POST", url, "y", &r[i]) != NULL);
    wg_http_client_get_stats(c, &st);
    CHECK_INT(st.queued, 6);
    for (int i = 0; i < 6; i++) {
        wait_for(&r[i].calls, 1, 10000);
        done += r[i].calls;
        CHECK_INT(r[i].error, WG_HTTP_OK);
        CHECK_INT(r[i].inside_send, 0);
    }
    CHECK_INT(done, 6);
    wg_http_client_get_stats(c, &st);
    CHECK_INT(st.connections_opened, 2);
    CHECK_INT(st.queued, 0);
    log = fake_requests();
    CHECK_INT(json_array_size(log), 6);
    for (size_t i = 0; i < json_array_size(log); i++) {
        int id = (int)json_integer_value(json_object_get(json_array_get(log, i), "conn")), k;
        for (k = 0; k < nconns && conns[k] != id; k++)
            ;
        if (k == nconns && nconns < 8)
            conns[nconns++] = id;
    }
    CHECK_INT(nconns, 2);
    json_decref(log);
    for (int i = 0; i < 6; i++)
        result_clear(&r[i]);
    finish(c);
}

static void test_verify_system_store(void)
{
    wg_http_client_options_t o = {0};
    wg_http_client_t *c;
    result_t r = {0};
    char url[256];
    o.connect_timeout_ms = o.response_timeout_ms = 10000 * slow;
    c = client_with(&o); /* the system store does not know the test CA */
    url_tls(url, sizeof(url), "127.0.0.1", "/hook/x");
    fetch(c, "GET", url, NULL, &r);
    CHECK_INT(r.calls, 1);
    CHECK_INT(r.error, WG_HTTP_ERR_TLS_VERIFY);
    CHECK(strstr(r.err, "unable to get local issuer certificate") != NULL);
    CHECK(strstr(r.err, "127.0.0.1") != NULL);
    /* and ca_file_only with the test CA works */
    result_clear(&r);
    finish(c);
    o.ca_file = ca_file;
    o.ca_file_only = 1;
    c = client_with(&o);
    fetch(c, "GET", url, NULL, &r);
    CHECK_INT(r.error, WG_HTTP_OK);
    CHECK_INT(r.status, 200);
    result_clear(&r);
    finish(c);
}

static void test_wrong_host(void)
{
    wg_http_client_t *c = client();
    wg_http_client_stats_t st;
    result_t r = {0};
    char url[256];

    snprintf(url, sizeof(url), "https://localhost:%d/hook/x", fake_wrong.port);
    fetch(c, "GET", url, NULL, &r);
    CHECK_INT(r.error, WG_HTTP_ERR_TLS_VERIFY);
    CHECK(strstr(r.err, "hostname mismatch") != NULL);
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/hook/x", fake_wrong.port);
    fetch(c, "GET", url, NULL, &r);
    CHECK_INT(r.error, WG_HTTP_ERR_TLS_VERIFY);
    CHECK(strstr(r.err, "IP address mismatch") != NULL);

    /* Verification off for this target only */
    fetch_full(c, "GET", url, NULL, NULL, 0, 1, &r);
    CHECK_INT(r.error, WG_HTTP_OK);
    CHECK_INT(r.status, 200);
    /* ... which does not lend its connection to a verified request */
    fetch(c, "GET", url, NULL, &r);
    CHECK_INT(r.error, WG_HTTP_ERR_TLS_VERIFY);
    wg_http_client_get_stats(c, &st);
    CHECK_INT(st.connections_opened, 4);
    CHECK_INT(st.failures, 3);
    result_clear(&r);
    finish(c);
}

static void test_connect_refused(void)
{
    wg_http_client_t *c = client();
    result_t r = {0};
    char url[128];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/x", closed_port());
    fetch(c, "GET", url, NULL, &r);
    CHECK_INT(r.calls, 1);
    CHECK_INT(r.error, WG_HTTP_ERR_CONNECT);
    CHECK(strstr(r.err, "cannot connect to 127.0.0.1") != NULL);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", closed_port());
    fetch(c, "GET", url, NULL, &r);
    CHECK_INT(r.error, WG_HTTP_ERR_CONNECT);
    result_clear(&r);
    finish(c);
}

static void test_connect_timeout(void)
{
    wg_http_client_options_t o = {0};
    wg_http_client_t *c;
    result_t r = {0};
    char url[128];
    int port = 0, s = mute_listener(&port);
    double t0;

    CHECK(s >= 0);
    o.ca_file = ca_file;
    o.connect_timeout_ms = 300 * slow;
    o.response_timeout_ms = 400 * slow;
    c = client_with(&o);
    /* TLS: the handshake never completes */
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/x", port);
    t0 = now_ms();
    fetch(c, "GET", url, NULL, &r);
    CHECK_INT(r.calls, 1);
    CHECK_INT(r.error, WG_HTTP_ERR_TIMEOUT);
    CHECK(strstr(r.err, "connecting to 127.0.0.1") != NULL);
    CHECK(r.at_ms - t0 >= 290 * slow);
    CHECK(r.at_ms - t0 < 300 * slow + 700 * slow);
    /* Plain HTTP: connected and sent, the response never comes */
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", port);
    t0 = now_ms();
    fetch(c, "GET", url, NULL, &r);
    CHECK_INT(r.error, WG_HTTP_ERR_TIMEOUT);
    CHECK(strstr(r.err, "no complete response") != NULL);
    CHECK(r.at_ms - t0 >= 390 * slow);
    CHECK(r.at_ms - t0 < 400 * slow + 700 * slow);
    result_clear(&r);
    finish(c);
    close(s);
}

static void test_response_timeout(void)
{
    wg_http_client_options_t o = {0};
    wg_http_client_t *c;
    result_t r = {0};
    char url[256];
    double t0;

    o.ca_file = ca_file;
    o.connect_timeout_ms = 10000 * slow;
    o.response_timeout_ms = 300 * slow;
    c = client_with(&o);
    url_tls(url, sizeof(url), "127.0.0.1", "/hook/slow");
    /* A first request connects, so the timeout below measures the response alone. */
    fetch(c, "GET", url, NULL, &r);
    CHECK_INT(r.error, WG_HTTP_OK);
    script_delay("/hook/slow", 1500);
    t0 = now_ms();
    fetch(c, "GET", url, NULL, &r);
    CHECK_INT(r.calls, 1);
    CHECK_INT(r.error, WG_HTTP_ERR_TIMEOUT);
    CHECK(strstr(r.err, "within 300 ms") != NULL || slow > 1);
    CHECK(r.at_ms - t0 >= 290 * slow);
    CHECK(r.at_ms - t0 < 1000 * slow);
    /* A longer per-request timeout waits for the slow answer. */
    script_delay("/hook/slow", 500);
    result_clear(&r);
    CHECK(send_full(c, "GET", url, NULL, NULL, 0, 0, 5000 * slow, &r) != NULL);
    wait_for(&r.calls, 1, 5000);
    CHECK_INT(r.error, WG_HTTP_OK);
    CHECK_INT(r.status, 200);
    result_clear(&r);
    finish(c);
}

static void test_scripted_transport_faults(void)
{
    wg_http_client_options_t o = {0};
    wg_http_client_t *c;
    result_t r = {0};
    char url[256];
    json_t *j;

    o.ca_file = ca_file;
    o.connect_timeout_ms = o.response_timeout_ms = 10000 * slow;
    o.max_response_bytes = 64 * 1024;
    c = client_with(&o);
    url_tls(url, sizeof(url), "127.0.0.1", "/hook/fault");

    script("/hook/fault", "[{\"action\":\"reset\"}]");
    fetch(c, "POST", url, "{}", &r);
    CHECK_INT(r.calls, 1);
    CHECK_INT(r.error, WG_HTTP_ERR_RESET);
    CHECK(strstr(r.err, "before the response was complete") != NULL);

    /* After a reset the next request gets a new connection and works. */
    fetch(c, "POST", url, "{}", &r);
    CHECK_INT(r.error, WG_HTTP_OK);

    script("/hook/fault", "[{\"action\":\"huge\",\"bytes\":200000}]");
    fetch(c, "POST", url, "{}", &r);
    CHECK_INT(r.error, WG_HTTP_ERR_TOO_LARGE);
    CHECK(strstr(r.err, "65536") != NULL);
    script("/hook/fault", "[{\"action\":\"huge\",\"bytes\":65536}]");
    fetch(c, "POST", url, "{}", &r);
    CHECK_INT(r.error, WG_HTTP_OK);
    CHECK_INT(r.body_len, 65536);
    j = r.body ? json_loadb(r.body, r.body_len, 0, NULL) : NULL;
    CHECK(j != NULL);
    json_decref(j);

    script("/hook/fault",
           "[{\"action\":\"redirect\",\"location\":\"https://elsewhere.invalid/\"}]");
    fetch(c, "POST", url, "{}", &r);
    CHECK_INT(r.error, WG_HTTP_OK);
    CHECK_INT(r.status, 302);
    CHECK_STR(r.location, "https://elsewhere.invalid/");

    /* Malformed JSON is the caller's business: the body comes back as sent. */
    script("/hook/fault", "[{\"action\":\"malformed\"}]");
    fetch(c, "POST", url, "{}", &r);
    CHECK_INT(r.error, WG_HTTP_OK);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "{\"errcode\":0,\"errmsg\":\"ok\",\"msgid\":");
    j = json_loadb(r.body, r.body_len, 0, NULL);
    CHECK(j == NULL);

    script("/hook/fault", "[{\"action\":\"status\",\"status\":500,\"body\":\"boom\"}]");
    fetch(c, "POST", url, "{}", &r);
    CHECK_INT(r.error, WG_HTTP_OK);
    CHECK_INT(r.status, 500);
    CHECK_STR(r.body, "boom");

    /* The server closes after answering: the answer counts, the connection is not reused. */
    script("/hook/fault", "[{\"action\":\"ok\",\"close\":true}]");
    fetch(c, "POST", url, "{}", &r);
    CHECK_INT(r.error, WG_HTTP_OK);
    CHECK_INT(r.status, 200);
    fetch(c, "POST", url, "{}", &r);
    CHECK_INT(r.error, WG_HTTP_OK);
    result_clear(&r);
    finish(c);
}

/* A keep-alive connection dies under a request (the server resets it without answering): an
 * idempotent request goes again on a new connection, another fails. */
static void test_retry_on_reused_connection(void)
{
    wg_http_client_t *c = client();
    wg_http_client_stats_t st;
    result_t r = {0};
    char url[256];
    json_t *log;

    ctl_ok("POST", "/_fake/reset", NULL);
    url_tls(url, sizeof(url), "127.0.0.1", "/hook/stale");
    fetch(c, "GET", url, NULL, &r);
    CHECK_INT(r.error, WG_HTTP_OK);
    script("/hook/stale", "[{\"action\":\"reset\"}]");
    fetch(c, "GET", url, NULL, &r);
    CHECK_INT(r.calls, 1);
    CHECK_INT(r.error, WG_HTTP_OK);
    CHECK_INT(r.status, 200);
    wg_http_client_get_stats(c, &st);
    CHECK_INT(st.connections_opened, 2);
    CHECK_INT(st.failures, 0);
    log = fake_requests();
    CHECK_INT(json_array_size(log), 3);
    json_decref(log);

    script("/hook/stale", "[{\"action\":\"reset\"}]");
    fetch(c, "POST", url, "{}", &r);
    CHECK_INT(r.calls, 1);
    CHECK_INT(r.error, WG_HTTP_ERR_RESET);

    fetch(c, "POST", url, "{}", &r); /* a new connection, to be reused below */
    CHECK_INT(r.error, WG_HTTP_OK);
    script("/hook/stale", "[{\"action\":\"reset\"}]");
    result_clear(&r);
    r.idempotent = 1;
    send_req(c, "POST", url, "{}", &r);
    wait_for(&r.calls, 1, 10000);
    CHECK_INT(r.calls, 1);
    CHECK_INT(r.error, WG_HTTP_OK);
    wg_http_client_get_stats(c, &st);
    CHECK_INT(st.connections_opened, 4);
    CHECK_INT(st.failures, 1);
    result_clear(&r);
    finish(c);
}

/* The fake's WeCom answers, scripted and real, end to end. */
static void test_wecom_answers(void)
{
    wg_http_client_t *c = client();
    result_t r = {0};
    char url[256], tok[128];
    static const struct {
        const char *action;
        int errcode;
    } scripted[] = {
        {"{\"action\":\"expired_token\"}", 42001},
        {"{\"action\":\"invalid_token\"}", 40014},
        {"{\"action\":\"rate_limit\"}", 45009},
        {"{\"action\":\"rate_limit\",\"errcode\":45033}", 45033},
        {"{\"action\":\"errcode\",\"errcode\":-1,\"errmsg\":\"system busy\"}", -1},
    };
    const char *msg = "{\"touser\":\"zhangsan\",\"msgtype\":\"markdown\",\"agentid\":1,"
                      "\"markdown\":{\"content\":\"**hi**\"}}";

    get_token(c, tok, sizeof(tok));
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/cgi-bin/message/send?access_token=%s",
             fake.port, tok);
    for (size_t i = 0; i < sizeof(scripted) / sizeof(scripted[0]); i++) {
        char actions[160];
        snprintf(actions, sizeof(actions), "[%s]", scripted[i].action);
        script("/cgi-bin/message/send", actions);
        fetch(c, "POST", url, msg, &r);
        CHECK_INT(r.status, 200);
        CHECK_INT(json_errcode(&r), scripted[i].errcode);
    }
    /* "times" repeats an action; then the normal answer is back */
    script("/cgi-bin/message/send", "[{\"action\":\"status\",\"status\":503,\"times\":2}]");
    fetch(c, "POST", url, msg, &r);
    CHECK_INT(r.status, 503);
    fetch(c, "POST", url, msg, &r);
    CHECK_INT(r.status, 503);
    fetch(c, "POST", url, msg, &r);
    CHECK_INT(r.status, 200);
    CHECK_INT(json_errcode(&r), 0);

    /* Real token checks */
    ctl_ok("POST", "/_fake/expire_tokens", NULL);
    fetch(c, "POST", url, msg, &r);
    CHECK_INT(json_errcode(&r), 42001);
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/cgi-bin/message/send?access_token=nope",
             fake.port);
    fetch(c, "POST", url, msg, &r);
    CHECK_INT(json_errcode(&r), 40014);
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/cgi-bin/message/send", fake.port);
    fetch(c, "POST", url, msg, &r);
    CHECK_INT(json_errcode(&r), 41001);
    url_tls(url, sizeof(url), "127.0.0.1", "/cgi-bin/gettoken?corpid=wwfakecorp&corpsecret=wrong");
    fetch(c, "GET", url, NULL, &r);
    CHECK_INT(json_errcode(&r), 40001);

    /* The other calls */
    get_token(c, tok, sizeof(tok));
    snprintf(
        url, sizeof(url),
        "https://127.0.0.1:%d/cgi-bin/externalcontact/get?access_token=%s&external_userid=wmX1",
        fake.port, tok);
    fetch(c, "GET", url, NULL, &r);
    CHECK_INT(json_errcode(&r), 0);
    CHECK(r.body && strstr(r.body, "\"follow_user\":[{\"userid\":\"zhangsan\"") != NULL);
    snprintf(url, sizeof(url),
             "https://127.0.0.1:%d/cgi-bin/externalcontact/add_intercept_rule?access_token=%s",
             fake.port, tok);
    fetch(c, "POST", url, "{\"rule_name\":\"r1\",\"word_list\":[\"refund\"],\"intercept_type\":1}",
          &r);
    CHECK_INT(json_errcode(&r), 0);
    CHECK(r.body && strstr(r.body, "\"rule_id\":\"fakerule-") != NULL);
    snprintf(url, sizeof(url),
             "https://127.0.0.1:%d/cgi-bin/externalcontact/get_intercept_rule_list?access_token=%s",
             fake.port, tok);
    fetch(c, "GET", url, NULL, &r); /* WeCom documents GET for this call */
    CHECK(r.body && strstr(r.body, "\"rule_name\":\"r1\"") != NULL);
    url_tls(url, sizeof(url), "127.0.0.1", "/cgi-bin/webhook/send?key=robot-1");
    fetch(c, "POST", url, "{\"msgtype\":\"markdown\",\"markdown\":{\"content\":\"x\"}}", &r);
    CHECK_INT(json_errcode(&r), 0);
    fetch(c, "POST", url, "{\"msgtype\":\"voice\"}", &r);
    CHECK_INT(json_errcode(&r), 40008);
    result_clear(&r);
    finish(c);
}

static void test_dns(void)
{
    wg_http_client_options_t o = {0};
    wg_http_client_t *c;
    result_t r = {0};
    char url[256];
    int q0 = dns_queries;
    double t0;

    o.ca_file = ca_file;
    o.connect_timeout_ms = 400 * slow;
    o.response_timeout_ms = 10000 * slow;
    c = client_with(&o);
    /* A name only our DNS server knows */
    url_plain(url, sizeof(url), "api.wecom.test", "/hook/dns");
    fetch(c, "GET", url, NULL, &r);
    CHECK_INT(r.error, WG_HTTP_OK);
    CHECK_INT(r.status, 200);
    CHECK(dns_queries > q0);
    /* A name nobody knows: a DNS error, delivered from the loop */
    url_plain(url, sizeof(url), "nx.wecom.test", "/hook/dns");
    t0 = now_ms();
    fetch(c, "GET", url, NULL, &r);
    CHECK_INT(r.calls, 1);
    CHECK_INT(r.error, WG_HTTP_ERR_DNS);
    CHECK_INT(r.inside_send, 0);
    CHECK(strstr(r.err, "cannot resolve nx.wecom.test") != NULL);
    CHECK(r.at_ms - t0 < 1000 * slow);
    /* A resolver that does not answer: the connect timeout covers the lookup (TLS, so the
     * abandoned lookup must also end cleanly inside libevent) */
    snprintf(url, sizeof(url), "https://slow.wecom.test:%d/x", fake.port);
    t0 = now_ms();
    fetch(c, "GET", url, NULL, &r);
    CHECK_INT(r.error, WG_HTTP_ERR_TIMEOUT);
    CHECK(r.at_ms - t0 >= 390 * slow);
    CHECK(dns_nheld > 0);
    url_plain(url, sizeof(url), "slow.wecom.test", "/x");
    fetch(c, "GET", url, NULL, &r);
    CHECK_INT(r.error, WG_HTTP_ERR_TIMEOUT);
    /* The server answers late (before evdns gives up on it): the abandoned lookups end inside
     * libevent without reaching the client. */
    for (int i = 0; i < dns_nheld; i++)
        evdns_server_request_respond(dns_held[i], DNS_ERR_NOTEXIST);
    dns_nheld = 0;
    run_for(100 * slow);
    CHECK_INT(r.calls, 1);
    result_clear(&r);
    finish(c);
}

static void test_cancel(void)
{
    wg_http_client_t *c = client();
    wg_http_request_t *q;
    result_t r = {0}, r2 = {0}, r3 = {0};
    char url[256];
    json_t *log;
    wg_http_client_stats_t st;

    ctl_ok("POST", "/_fake/reset", NULL);
    /* Cancelled while queued: never sent */
    url_tls(url, sizeof(url), "127.0.0.1", "/hook/cancel-queued");
    q = send_req(c, "POST", url, "{}", &r);
    CHECK(q != NULL);
    wg_http_request_cancel(q);
    run_for(200);
    CHECK_INT(r.calls, 0);
    log = fake_requests();
    CHECK_INT(json_array_size(log), 0);
    json_decref(log);

    /* Cancelled on the wire (the answer is slow): no callback, and nothing waits for it */
    script_delay("/hook/cancel-active", 800);
    url_tls(url, sizeof(url), "127.0.0.1", "/hook/cancel-active");
    q = send_req(c, "POST", url, "{}", &r);
    run_for(200 * slow);
    wg_http_request_cancel(q);
    wg_http_client_get_stats(c, &st);
    CHECK_INT(st.open_connections, 0); /* its connection went with it */
    run_for(1000 * slow);
    CHECK_INT(r.calls, 0);
    log = fake_requests();
    CHECK_INT(json_array_size(log), 1); /* it did reach the server */
    json_decref(log);

    /* Cancelled from another request's callback */
    url_tls(url, sizeof(url), "127.0.0.1", "/hook/a");
    script_delay("/hook/b", 500);
    send_req(c, "POST", url, "{}", &r2);
    url_tls(url, sizeof(url), "127.0.0.1", "/hook/b");
    r2.cancel_req = send_req(c, "POST", url, "{}", &r3);
    wait_for(&r2.calls, 1, 5000);
    run_for(800 * slow);
    CHECK_INT(r2.calls, 1);
    CHECK_INT(r2.error, WG_HTTP_OK);
    CHECK_INT(r3.calls, 0);
    result_clear(&r);
    result_clear(&r2);
    result_clear(&r3);
    finish(c);
}

/* Many requests at once on a few connections, some cancelled while queued and some on the
 * wire: every other one completes exactly once, and the pool ends with what it should. */
static void test_many(void)
{
    enum { N = 120 };
    wg_http_client_options_t o = {0};
    wg_http_client_t *c;
    wg_http_client_stats_t st;
    static result_t r[N];
    wg_http_request_t *q[N];
    char url[256];
    int expected = 0, got = 0, bad = 0;
    json_t *stats;

    ctl_ok("POST", "/_fake/reset", NULL);
    o.ca_file = ca_file;
    o.max_conns_per_host = 4;
    o.connect_timeout_ms = o.response_timeout_ms = 20000 * slow;
    c = client_with(&o);
    url_tls(url, sizeof(url), "127.0.0.1", "/hook/many");
    for (int i = 0; i < N; i++) {
        memset(&r[i], 0, sizeof(r[i]));
        q[i] = send_req(c, "POST", url, "{\"n\":1}", &r[i]);
        CHECK(q[i] != NULL);
    }
    for (int i = 0; i < N; i += 7) /* still queued */
        wg_http_request_cancel(q[i]);
    run_for(30);
    for (int i = 3; i < N; i += 11) { /* queued or on the wire, whichever */
        if (i % 7 != 0 && r[i].calls == 0) {
            wg_http_request_cancel(q[i]);
            q[i] = NULL;
        }
    }
    for (int i = 0; i < N; i++) {
        int cancelled = i % 7 == 0 || (i % 11 == 3 && q[i] == NULL);
        if (!cancelled)
            expected++;
    }
    for (int i = 0; i < N; i++) {
        int cancelled = i % 7 == 0 || (i % 11 == 3 && q[i] == NULL);
        if (!cancelled)
            wait_for(&r[i].calls, 1, 20000);
    }
    run_for(50);
    for (int i = 0; i < N; i++) {
        int cancelled = i % 7 == 0 || (i % 11 == 3 && q[i] == NULL);
        got += r[i].calls;
        if (cancelled ? r[i].calls != 0 : (r[i].calls != 1 || r[i].error != WG_HTTP_OK))
            bad++;
        result_clear(&r[i]);
    }
    CHECK_INT(got, expected);
    CHECK_INT(bad, 0);
    wg_http_client_get_stats(c, &st);
    CHECK(st.connections_opened >= 1);
    CHECK(st.connections_opened <= 4 + (uint64_t)N / 11); /* a cancel on the wire costs one */
    CHECK_INT(st.queued, 0);
    CHECK_INT(st.open_connections, st.idle_connections);
    stats = ctl_call("GET", "/_fake/stats", NULL);
    CHECK(json_integer_value(json_object_get(stats, "requests")) >= expected);
    json_decref(stats);
    finish(c);
}

static void test_free_with_pending(void)
{
    wg_http_client_options_t o = {0};
    wg_http_client_t *c;
    result_t r[3];
    char url[256];

    memset(r, 0, sizeof(r));
    o.ca_file = ca_file;
    o.max_conns_per_host = 1;
    o.connect_timeout_ms = o.response_timeout_ms = 10000 * slow;
    c = client_with(&o);
    script_delay("/hook/pending", 1000);
    url_tls(url, sizeof(url), "127.0.0.1", "/hook/pending");
    for (int i = 0; i < 3; i++)
        CHECK(send_req(c, "POST", url, "{}", &r[i]) != NULL);
    run_for(300 * slow); /* the first is on the wire, two wait */
    CHECK_INT(r[0].calls + r[1].calls + r[2].calls, 0);
    wg_http_client_free(c);
    for (int i = 0; i < 3; i++) {
        CHECK_INT(r[i].calls, 1);
        CHECK_INT(r[i].error, WG_HTTP_ERR_SHUTDOWN);
        result_clear(&r[i]);
    }
    event_base_loop(base, EVLOOP_NONBLOCK);
    CHECK_INT(loop_events(), baseline_events);
    run_for(900 * slow); /* the fake's late answer meets a closed connection */
}

static void test_free_in_callback(void)
{
    wg_http_client_t *c = client();
    result_t fast = {0}, slowr = {0};
    char url[256], url2[256];

    script_delay("/hook/slow2", 600);
    url_tls(url, sizeof(url), "127.0.0.1", "/hook/slow2");
    url_tls(url2, sizeof(url2), "127.0.0.1", "/hook/fast");
    send_req(c, "POST", url, "{}", &slowr);
    fast.free_client = c;
    send_req(c, "POST", url2, "{}", &fast);
    wait_for(&fast.calls, 1, 5000);
    CHECK_INT(fast.calls, 1);
    CHECK_INT(fast.error, WG_HTTP_OK);
    CHECK_INT(slowr.calls, 1);
    CHECK_INT(slowr.error, WG_HTTP_ERR_SHUTDOWN);
    event_base_loop(base, EVLOOP_NONBLOCK);
    CHECK_INT(loop_events(), baseline_events);
    run_for(700 * slow);
    CHECK_INT(slowr.calls, 1);
    result_clear(&fast);
    result_clear(&slowr);
}

static void test_send_from_callback(void)
{
    wg_http_client_t *c = client();
    result_t first = {0}, second = {0};
    char url[256];
    wg_http_client_stats_t st;

    url_tls(url, sizeof(url), "127.0.0.1", "/hook/chain");
    first.send_again = &second;
    first.again_client = c;
    first.again_url = url;
    send_req(c, "GET", url, NULL, &first);
    wait_for(&second.calls, 1, 5000);
    CHECK_INT(first.calls, 1);
    CHECK_INT(second.calls, 1);
    CHECK_INT(second.error, WG_HTTP_OK);
    CHECK_INT(second.inside_send, 0);
    wg_http_client_get_stats(c, &st);
    CHECK_INT(st.connections_opened, 1); /* the second reused the first's connection */
    result_clear(&first);
    result_clear(&second);
    finish(c);
}

static void test_server_closes_idle(void)
{
    wg_http_client_t *c = client();
    wg_http_client_stats_t st;
    result_t r = {0};
    char url[256];

    url_tls(url, sizeof(url), "127.0.0.1", "/hook/idle");
    fetch(c, "GET", url, NULL, &r);
    CHECK_INT(r.error, WG_HTTP_OK);
    ctl_ok("POST", "/_fake/drop_connections", NULL);
    run_for(200 * slow);
    wg_http_client_get_stats(c, &st);
    CHECK_INT(st.idle_connections, 0);
    fetch(c, "GET", url, NULL, &r);
    CHECK_INT(r.error, WG_HTTP_OK);
    CHECK_INT(r.status, 200);
    wg_http_client_get_stats(c, &st);
    CHECK_INT(st.connections_opened, 2);
    CHECK_INT(st.failures, 0);
    result_clear(&r);
    finish(c);
}

static void test_idle_timeout(void)
{
    wg_http_client_options_t o = {0};
    wg_http_client_t *c;
    wg_http_client_stats_t st;
    result_t r = {0};
    char url[256];

    o.ca_file = ca_file;
    o.idle_timeout_ms = 150;
    o.connect_timeout_ms = o.response_timeout_ms = 10000 * slow;
    c = client_with(&o);
    url_plain(url, sizeof(url), "127.0.0.1", "/hook/idle");
    fetch(c, "GET", url, NULL, &r);
    CHECK_INT(r.error, WG_HTTP_OK);
    wg_http_client_get_stats(c, &st);
    CHECK_INT(st.idle_connections, 1);
    run_for(400 * slow);
    wg_http_client_get_stats(c, &st);
    CHECK_INT(st.open_connections, 0);
    result_clear(&r);
    finish(c);

    /* No keep-alive at all */
    o.idle_timeout_ms = -1;
    c = client_with(&o);
    fetch(c, "GET", url, NULL, &r);
    CHECK_INT(r.error, WG_HTTP_OK);
    event_base_loop(base, EVLOOP_NONBLOCK);
    wg_http_client_get_stats(c, &st);
    CHECK_INT(st.open_connections, 0);
    result_clear(&r);
    finish(c);
}

static void test_ipv6(void)
{
    char *argv[] = {(char *)fake_bin, "--port", "0", "--bind", "::1", NULL};
    fake_proc_t f6;
    wg_http_client_t *c;
    result_t r = {0};
    char url[128];
    if (fake_proc_start(&f6, argv) != 0) {
        fprintf(stderr, "test_ipv6: no IPv6 loopback here, skipped\n");
        return;
    }
    c = client();
    snprintf(url, sizeof(url), "http://[::1]:%d/hook/v6", f6.port);
    fetch(c, "GET", url, NULL, &r);
    CHECK_INT(r.error, WG_HTTP_OK);
    CHECK_INT(r.status, 200);
    result_clear(&r);
    finish(c);
    CHECK_INT(fake_proc_stop(&f6), 0);
}

static void test_invalid_requests(void)
{
    wg_http_client_t *c = client();
    wg_http_request_options_t o = {0};
    wg_http_header_t bad_value = {"X-A", "a\r\nInjected: 1"}, bad_name = {"X A", "v"},
                     clen = {"content-length", "3"};
    result_t r = {0};
    char err[256];
    wg_http_client_options_t co = {0};

    static const char *bad_urls[] = {"ftp://127.0.0.1/", "http://", "not a url",
                                     "http://user:pw@127.0.0.1/", "https://127.0.0.1:99999/"};
    for (size_t i = 0; i < sizeof(bad_urls) / sizeof(bad_urls[0]); i++) {
        o.url = bad_urls[i];
        err[0] = '\0';
        CHECK(wg_http_send(c, &o, on_result, &r, err, sizeof(err)) == NULL);
        CHECK(err[0] != '\0');
    }
    o.url = "http://127.0.0.1/";
    o.method = "BREW";
    CHECK(wg_http_send(c, &o, on_result, &r, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "BREW") != NULL);
    o.method = NULL;
    o.headers = &bad_value;
    o.nheaders = 1;
    CHECK(wg_http_send(c, &o, on_result, &r, err, sizeof(err)) == NULL);
    o.headers = &bad_name;
    CHECK(wg_http_send(c, &o, on_result, &r, err, sizeof(err)) == NULL);
    o.headers = &clen;
    CHECK(wg_http_send(c, &o, on_result, &r, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "content-length") != NULL);
    run_for(50);
    CHECK_INT(r.calls, 0);
    finish(c);

    co.ca_file = "/nonexistent/ca.pem";
    CHECK(wg_http_client_new(base, dns, &co, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "/nonexistent/ca.pem") != NULL);
    co.ca_file = NULL;
    CHECK(wg_http_client_new(base, NULL, &co, err, sizeof(err)) == NULL);
    co.max_conns_per_host = -1;
    CHECK(wg_http_client_new(base, dns, &co, err, sizeof(err)) == NULL);
    CHECK_STR(wg_http_error_name(WG_HTTP_ERR_TLS_VERIFY), "tls_verify");
}

static void teardown(void)
{
    wg_http_client_free(ctl);
    event_base_loop(base, EVLOOP_NONBLOCK);
    evdns_close_server_port(dns_port);
    evdns_base_free(dns, 1);
    /* Nothing is left on the loop: dispatch returns at once, saying so. */
    CHECK_INT(event_base_loop(base, 0), 1);
    event_base_free(base);
    /* The fakes shut down cleanly (under ASan a leak would fail this). */
    CHECK_INT(fake_proc_stop(&fake), 0);
    CHECK_INT(fake_proc_stop(&fake_wrong), 0);
}

/* ---- main --------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    char cert[160], key[160], wcert[160], wkey[160];
    wg_http_client_options_t co = {0};

    if (argc != 3) {
        fprintf(stderr, "usage: http_client_test FAKE_WECOM MAKE_TEST_CA_SH\n");
        return 2;
    }
    fake_bin = argv[1];
    signal(SIGPIPE, SIG_IGN); /* as the gateway does: see client.h */
    if (getenv("WG_VALGRIND") != NULL)
        slow = 10;
    if (test_ca_make(argv[2], ca_dir, sizeof(ca_dir)) != 0) {
        fprintf(stderr, "cannot make the test CA\n");
        return 1;
    }
    snprintf(ca_file, sizeof(ca_file), "%s/ca.pem", ca_dir);
    snprintf(cert, sizeof(cert), "%s/server.pem", ca_dir);
    snprintf(key, sizeof(key), "%s/server.key", ca_dir);
    snprintf(wcert, sizeof(wcert), "%s/wronghost.pem", ca_dir);
    snprintf(wkey, sizeof(wkey), "%s/wronghost.key", ca_dir);
    {
        char *a1[] = {(char *)fake_bin, "--port", "0",         "--http-port", "0",
                      "--tls-cert",     cert,     "--tls-key", key,           NULL};
        char *a2[] = {(char *)fake_bin, "--port", "0", "--tls-cert", wcert,
                      "--tls-key",      wkey,     NULL};
        if (fake_proc_start(&fake, a1) != 0 || fake_proc_start(&fake_wrong, a2) != 0) {
            fprintf(stderr, "cannot start %s\n", fake_bin);
            return 1;
        }
    }
    base = event_base_new();
    if (base == NULL || dns_setup() != 0) {
        fprintf(stderr, "cannot set up the loop and the DNS server\n");
        return 1;
    }
    co.idle_timeout_ms = -1;
    ctl = client_with(&co);
    baseline_events = loop_events();

    TEST_RUN(test_get_post_tls);
    TEST_RUN(test_keepalive);
    TEST_RUN(test_verify_system_store);
    TEST_RUN(test_wrong_host);
    TEST_RUN(test_connect_refused);
    TEST_RUN(test_connect_timeout);
    TEST_RUN(test_response_timeout);
    TEST_RUN(test_scripted_transport_faults);
    TEST_RUN(test_retry_on_reused_connection);
    TEST_RUN(test_raw_answers);
    TEST_RUN(test_wecom_answers);
    TEST_RUN(test_dns);
    TEST_RUN(test_cancel);
    TEST_RUN(test_many);
    TEST_RUN(test_free_with_pending);
    TEST_RUN(test_free_in_callback);
    TEST_RUN(test_send_from_callback);
    TEST_RUN(test_server_closes_idle);
    TEST_RUN(test_idle_timeout);
    TEST_RUN(test_ipv6);
    TEST_RUN(test_invalid_requests);

    TEST_RUN(teardown);
    test_ca_remove(ca_dir);
    return TEST_DONE();
}
