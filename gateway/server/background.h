/* The background thread (ARCHITECTURE.md, Threads and memory): one thread with its own
 * event_base for the work that is not an HTTP request: the outbox worker today; the dispatcher,
 * the archive puller and the pollers join it on the same loop. It owns the outbound HTTPS client
 * (one keep-alive pool for the WeCom API, robots and webhooks) and its DNS resolver.
 *
 * Started by the server once its workers listen, told to drain with them on SIGTERM (it stops
 * taking work and finishes what is in flight within http.shutdown_grace_ms), joined last. */
#ifndef WG_SERVER_BACKGROUND_H
#define WG_SERVER_BACKGROUND_H

#include <stddef.h>

#include "gateway/config/config.h"
#include "gateway/server/worker.h"

typedef struct wg_background wg_background_t;

/* Starts the thread and waits until its loop, HTTP client, channels and outbox are built (it
 * logs a warning for each target whose certificates are not checked). cfg is borrowed and must
 * outlive the thread. NULL with err when any of it failed (nothing left running). */
wg_background_t *wg_background_start(const wg_config_t *cfg, char *err, size_t errlen);
/* From another thread: WG_WORKER_DRAIN (finish in-flight work, up to http.shutdown_grace_ms)
 * or WG_WORKER_STOP (now). */
void wg_background_command(wg_background_t *bg, wg_worker_cmd_t cmd);
/* Waits for the thread (tell it to drain or stop first) and frees everything. NULL is a no-op. */
void wg_background_join(wg_background_t *bg);

#endif
