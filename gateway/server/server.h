/* The HTTP server: one listening address served by N worker threads (gateway/server/worker.h),
 * each with its own SO_REUSEPORT socket, event loop and PostgreSQL store; graceful shutdown on
 * SIGTERM/SIGINT. */
#ifndef WG_SERVER_H
#define WG_SERVER_H

#include <stddef.h>

#include "gateway/config/config.h"

typedef struct wg_server_options {
    /* 1 when the migrations could not be applied at start (database down): the main thread
     * retries them with backoff while the workers serve (readyz 503 until the stores are ready). */
    int migrate_pending;
} wg_server_options_t;

/* Binds the listening sockets, starts cfg->workers threads and waits until every one is
 * listening (then logs "listening"), serves until SIGTERM or SIGINT, then stops accepting,
 * lets in-flight requests finish for up to http_shutdown_grace_ms (a second signal cuts that
 * short), frees everything and returns 0. On a startup failure returns -1 with err filled
 * (nothing left running). cfg is borrowed and must outlive the call. Blocks SIGTERM and SIGINT
 * in the calling thread (they are read from a signalfd) and leaves them blocked on return, as a
 * pending one would otherwise kill the process before its clean exit; ignores SIGPIPE. */
/* Copies src into dst (NUL-terminated, truncated to dstlen) fit for a quoted log value: control
 * characters (a libpq message's newlines) become spaces and '"' becomes '\''. Returns dst. */
const char *wg_text_for_log(char *dst, size_t dstlen, const char *src);

int wg_server_run(const wg_config_t *cfg, const wg_server_options_t *opts, char *err,
                  size_t errlen);

#endif
