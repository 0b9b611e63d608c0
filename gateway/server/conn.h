/* Connection watchdog: cuts off a client that takes too long to send one request. evhttp's read
 * timeout is an inactivity timeout (it restarts with every byte), so a client trickling a byte
 * now and then would hold its connection forever; this puts a deadline on the whole request,
 * from its first byte to its last. One per worker thread, on the worker's loop. */
#ifndef WG_SERVER_CONN_H
#define WG_SERVER_CONN_H

#include <stdint.h>

struct bufferevent;
struct event_base;

typedef struct wg_conn_watch wg_conn_watch_t;

/* New watchdog on base: a request (from its first byte until evhttp starts answering it) that
 * is still being read deadline_ms after it began gets its connection closed, as a read timeout
 * would. worker_id only labels log lines. NULL when out of memory. */
wg_conn_watch_t *wg_conn_watch_new(struct event_base *base, int deadline_ms, int worker_id);
/* Call after evhttp_free (every connection closed) and before event_base_free. */
void wg_conn_watch_free(wg_conn_watch_t *cw);

/* For evhttp_set_bevcb(http, wg_conn_watch_bevcb, cw): creates each incoming connection's
 * bufferevent and starts watching it. */
struct bufferevent *wg_conn_watch_bevcb(struct event_base *base, void *arg);

/* Connections cut off so far. */
uint64_t wg_conn_watch_cut_count(const wg_conn_watch_t *cw);

#endif
