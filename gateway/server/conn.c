/* Connection watchdog: a deadline on reading each request (see conn.h).
 *
 * How it follows a connection without hooks in evhttp (libevent 2.1):
 * - Its bufferevent is ours (evhttp_set_bevcb). We keep a reference on it, so the struct stays
 *   valid after evhttp frees the connection; evhttp_connection_free clears its callbacks (and,
 *   as the bufferevent has no BEV_OPT_CLOSE_ON_FREE, closes the socket itself, at once). The
 *   sweep sees the cleared callbacks and drops its reference.
 * - An evbuffer callback on the input marks the start of a request: the first bytes arriving
 *   while no request is being read. One on the output marks its end: evhttp writes only once
 *   it has read the request (a 100-continue or an error reply also ends the clock).
 * - While the route holds a request, evhttp has reading disabled: not a slow client.
 * - Cutting off is what evhttp does on a read timeout: its event callback with
 *   BEV_EVENT_READING|BEV_EVENT_TIMEOUT, which frees the connection. */
#include "gateway/server/conn.h"

#include <stdlib.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "gateway/log.h"

typedef struct tracker tracker_t;
struct tracker {
    wg_conn_watch_t *cw;
    struct bufferevent *bev; /* one reference is ours */
    struct evbuffer_cb_entry *in_cb;
    struct evbuffer_cb_entry *out_cb;
    uint64_t started_us; /* first byte of the request being read; 0: none */
    tracker_t *prev, *next;
};

struct wg_conn_watch {
    struct event_base *base;
    struct event *sweep;
    uint64_t deadline_us;
    int worker_id;
    tracker_t *head;
    uint64_t cut;
};

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    (void)buf;
    tracker_t *t = arg;
    if (info->n_added > 0 && t->started_us == 0)
        t->started_us = now_us();
}

static void on_output(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    (void)buf;
    tracker_t *t = arg;
    if (info->n_added > 0)
        t->started_us = 0;
}

/* 1 once evhttp has freed the connection (bufferevent_free cleared the callbacks). */
static int released(struct bufferevent *bev)
{
    bufferevent_data_cb readcb, writecb;
    bufferevent_event_cb eventcb;
    void *cbarg;
    bufferevent_getcb(bev, &readcb, &writecb, &eventcb, &cbarg);
    return eventcb == NULL;
}

static void drop(tracker_t *t)
{
    wg_conn_watch_t *cw = t->cw;
    evbuffer_remove_cb_entry(bufferevent_get_input(t->bev), t->in_cb);
    evbuffer_remove_cb_entry(bufferevent_get_output(t->bev), t->out_cb);
    if (t->prev)
        t->prev->next = t->next;
    else
        cw->head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    bufferevent_decref(t->bev);
    free(t);
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    wg_conn_watch_t *cw = arg;
    uint64_t now = now_us();
    tracker_t *next;
    for (tracker_t *t = cw->head; t; t = next) {
        next = t->next;
        if (released(t->bev)) {
            drop(t);
            continue;
        }
        if (t->started_us == 0 || now - t->started_us <= cw->deadline_us ||
            !(bufferevent_get_enabled(t->bev) & EV_READ))
            continue;
        cw->cut++;
        wg_log(WG_LOG_INFO, "request",
               "method=- route=- status=0 us=%llu worker=%d reason=\"request too slow: cut off\"",
               (unsigned long long)(now - t->started_us), cw->worker_id);
        t->started_us = 0;
        bufferevent_trigger_event(t->bev, BEV_EVENT_READING | BEV_EVENT_TIMEOUT, 0);
        if (released(t->bev))
            drop(t);
    }
}

wg_conn_watch_t *wg_conn_watch_new(struct event_base *base, int deadline_ms, int worker_id)
{
    wg_conn_watch_t *cw = calloc(1, sizeof *cw);
    if (!cw)
        return NULL;
    cw->base = base;
    cw->worker_id = worker_id;
    cw->deadline_us = (uint64_t)(deadline_ms > 0 ? deadline_ms : 1) * 1000u;
    cw->sweep = event_new(base, -1, EV_PERSIST, on_sweep, cw);
    /* a quarter of the deadline, within [50 ms, 250 ms] */
    long period_ms = deadline_ms / 4;
    if (period_ms > 250)
        period_ms = 250;
    if (period_ms < 50)
        period_ms = 50;
    struct timeval tv = {period_ms / 1000, (period_ms % 1000) * 1000};
    if (!cw->sweep || event_add(cw->sweep, &tv) != 0) {
        if (cw->sweep)
            event_free(cw->sweep);
        free(cw);
        return NULL;
    }
    return cw;
}

void wg_conn_watch_free(wg_conn_watch_t *cw)
{
    if (!cw)
        return;
    while (cw->head)
        drop(cw->head);
    event_free(cw->sweep);
    free(cw);
}

struct bufferevent *wg_conn_watch_bevcb(struct event_base *base, void *arg)
{
    wg_conn_watch_t *cw = arg;
    /* No BEV_OPT_CLOSE_ON_FREE: evhttp_connection_free closes the socket itself, so our extra
     * reference never keeps a descriptor open. */
    struct bufferevent *bev = bufferevent_socket_new(base, -1, 0);
    if (!bev)
        return NULL;
    tracker_t *t = calloc(1, sizeof *t);
    if (!t)
        return bev; /* served, just not watched */
    t->cw = cw;
    t->bev = bev;
    t->in_cb = evbuffer_add_cb(bufferevent_get_input(bev), on_input, t);
    t->out_cb = evbuffer_add_cb(bufferevent_get_output(bev), on_output, t);
    if (!t->in_cb || !t->out_cb) {
        if (t->in_cb)
            evbuffer_remove_cb_entry(bufferevent_get_input(bev), t->in_cb);
        if (t->out_cb)
            evbuffer_remove_cb_entry(bufferevent_get_output(bev), t->out_cb);
        free(t);
        return bev;
    }
    bufferevent_incref(bev);
    t->next = cw->head;
    if (cw->head)
        cw->head->prev = t;
    cw->head = t;
    return bev;
}

uint64_t wg_conn_watch_cut_count(const wg_conn_watch_t *cw)
{
    return cw->cut;
}
