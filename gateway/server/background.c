/* The background thread: its loop, DNS resolver, HTTPS client, outbox channels and worker; a
 * startup barrier like the HTTP workers'; drain and stop commands through an eventfd. */
#include "gateway/server/background.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "connectors/http/client.h"
#include "gateway/log.h"
#include "gateway/outbox/channels.h"
#include "gateway/outbox/outbox.h"

struct wg_background {
    const wg_config_t *cfg;
    pthread_t thread;
    int notify_fd;
    _Atomic int cmd;

    /* Owned by the thread. */
    struct event_base *base;
    struct evdns_base *dns;
    wg_http_client_t *http;
    wg_outbox_channels_t *channels;
    wg_outbox_t *outbox;
    struct event *notify_ev;
    struct event *grace_ev;
    int draining;

    /* Startup barrier. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int reported; /* 1 ok, -1 failed */
    char err[256];
};

static void warn_insecure(const wg_config_t *cfg)
{
    for (size_t i = 0; i < cfg->n_corps; i++) {
        const wg_config_corp_t *c = &cfg->corps[i];
        if (c->api_insecure)
            wg_log(WG_LOG_WARN, "TLS certificates are not checked for the WeCom API",
                   "corp=%s api_base=%s", c->name, c->api_base);
        for (size_t j = 0; j < c->n_channels; j++)
            if (c->channels[j].insecure)
                wg_log(WG_LOG_WARN, "TLS certificates are not checked for a webhook channel",
                       "corp=%s channel=%s", c->name, c->channels[j].name);
    }
}

static void on_drained(void *arg)
{
    wg_background_t *bg = arg;
    event_base_loopbreak(bg->base);
}

static void on_grace(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    wg_background_t *bg = arg;
    wg_log(WG_LOG_WARN, "background: grace period over; stopping with work in flight",
           "grace_ms=%d", bg->cfg->http_shutdown_grace_ms);
    event_base_loopbreak(bg->base);
}

static void on_notify(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    wg_background_t *bg = arg;
    uint64_t v;
    ssize_t r = read(fd, &v, sizeof v);
    (void)r;
    int cmd = atomic_load(&bg->cmd);
    if (cmd == WG_WORKER_STOP) {
        event_base_loopbreak(bg->base);
    } else if (cmd == WG_WORKER_DRAIN && !bg->draining) {
        bg->draining = 1;
        int ms = bg->cfg->http_shutdown_grace_ms;
        struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
        event_add(bg->grace_ev, &tv);
        wg_outbox_drain(bg->outbox, on_drained, bg);
    }
}

/* Builds the thread's objects; 0, or -1 with bg->err. */
static int init(wg_background_t *bg)
{
    const wg_config_t *cfg = bg->cfg;
    char why[200];
    /* The changelist folds the add/del pairs libevent makes around every request on a
     * keep-alive connection into fewer epoll_ctl calls (a third of the syscalls otherwise). No
     * descriptor of this loop is dup()ed, which is the changelist's one caveat. */
    struct event_config *ec = event_config_new();
    if (ec)
        event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    bg->base = ec ? event_base_new_with_config(ec) : NULL;
    if (ec)
        event_config_free(ec);
    if (!bg->base) {
        snprintf(bg->err, sizeof bg->err, "background: event_base_new failed");
        return -1;
    }
    /* Name servers from /etc/resolv.conf: lookups never block the loop. */
    if (!(bg->dns = evdns_base_new(bg->base, EVDNS_BASE_INITIALIZE_NAMESERVERS))) {
        snprintf(bg->err, sizeof bg->err, "background: cannot set up DNS (resolv.conf)");
        return -1;
    }
    wg_http_client_options_t ho = {
        .ca_file = cfg->http_client_ca_file,
        .connect_timeout_ms = cfg->http_client_connect_timeout_ms,
        .response_timeout_ms = cfg->http_client_response_timeout_ms,
        /* One connection per concurrent send: the outbox bounds how many there are. */
        .max_conns_per_host = cfg->outbox_concurrency,
        .user_agent = "wegate/" WG_VERSION,
    };
    if (!(bg->http = wg_http_client_new(bg->base, bg->dns, &ho, why, sizeof why))) {
        snprintf(bg->err, sizeof bg->err, "http_client: %s", why);
        return -1;
    }
    if (!(bg->channels = wg_outbox_channels_new(bg->base, bg->http, cfg, why, sizeof why))) {
        snprintf(bg->err, sizeof bg->err, "outbox channels: %s", why);
        return -1;
    }
    if (!(bg->outbox = wg_outbox_new(bg->base, cfg, bg->channels, why, sizeof why))) {
        snprintf(bg->err, sizeof bg->err, "outbox: %s", why);
        return -1;
    }
    bg->notify_ev = event_new(bg->base, bg->notify_fd, EV_READ | EV_PERSIST, on_notify, bg);
    bg->grace_ev = evtimer_new(bg->base, on_grace, bg);
    if (!bg->notify_ev || !bg->grace_ev || event_add(bg->notify_ev, NULL) != 0) {
        snprintf(bg->err, sizeof bg->err, "background: out of memory");
        return -1;
    }
    warn_insecure(cfg);
    return 0;
}

static void destroy(wg_background_t *bg)
{
    /* Users before what they use: the outbox cancels its sends, the channels free their WeCom
     * clients, then the HTTP client, whose connections close on one more turn of the loop. */
    wg_outbox_free(bg->outbox);
    bg->outbox = NULL;
    wg_outbox_channels_free(bg->channels);
    bg->channels = NULL;
    if (bg->http) {
        wg_http_client_free(bg->http);
        bg->http = NULL;
        event_base_loop(bg->base, EVLOOP_NONBLOCK);
    }
    if (bg->notify_ev)
        event_free(bg->notify_ev);
    if (bg->grace_ev)
        event_free(bg->grace_ev);
    bg->notify_ev = bg->grace_ev = NULL;
    if (bg->dns)
        evdns_base_free(bg->dns, 0);
    bg->dns = NULL;
    if (bg->base)
        event_base_free(bg->base);
    bg->base = NULL;
}

static void *thread_main(void *arg)
{
    wg_background_t *bg = arg;
    int rc = init(bg);
    pthread_mutex_lock(&bg->mu);
    bg->reported = rc == 0 ? 1 : -1;
    pthread_cond_broadcast(&bg->cv);
    pthread_mutex_unlock(&bg->mu);
    if (rc == 0 && atomic_load(&bg->cmd) != WG_WORKER_STOP) {
        wg_log(WG_LOG_INFO, "background loop running", "outbox_concurrency=%d poll_ms=%d",
               bg->cfg->outbox_concurrency, bg->cfg->outbox_poll_ms);
        event_base_dispatch(bg->base);
    }
    destroy(bg);
    return NULL;
}

wg_background_t *wg_background_start(const wg_config_t *cfg, char *err, size_t errlen)
{
    wg_background_t *bg = calloc(1, sizeof *bg);
    if (!bg) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    bg->cfg = cfg;
    bg->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (bg->notify_fd < 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        free(bg);
        return NULL;
    }
    pthread_mutex_init(&bg->mu, NULL);
    pthread_cond_init(&bg->cv, NULL);
    int e = pthread_create(&bg->thread, NULL, thread_main, bg);
    if (e != 0) {
        snprintf(err, errlen, "starting the background thread: %s", strerror(e));
        goto fail;
    }
    pthread_mutex_lock(&bg->mu);
    while (bg->reported == 0)
        pthread_cond_wait(&bg->cv, &bg->mu);
    int ok = bg->reported > 0;
    pthread_mutex_unlock(&bg->mu);
    if (!ok) {
        pthread_join(bg->thread, NULL);
        snprintf(err, errlen, "%s", bg->err);
        goto fail;
    }
    return bg;
fail:
    pthread_mutex_destroy(&bg->mu);
    pthread_cond_destroy(&bg->cv);
    close(bg->notify_fd);
    free(bg);
    return NULL;
}

void wg_background_command(wg_background_t *bg, wg_worker_cmd_t cmd)
{
    if (!bg)
        return;
    atomic_store(&bg->cmd, (int)cmd);
    uint64_t one = 1;
    ssize_t r = write(bg->notify_fd, &one, sizeof one);
    (void)r;
}

void wg_background_join(wg_background_t *bg)
{
    if (!bg)
        return;
    pthread_join(bg->thread, NULL);
    pthread_mutex_destroy(&bg->mu);
    pthread_cond_destroy(&bg->cv);
    close(bg->notify_fd);
    free(bg);
}
