/* /healthz (the process is alive) and /readyz (every worker's database connection is up and the
 * schema migrated: a load balancer gets one answer for the process, not one per worker). */
#include "gateway/routes/routes.h"

void wg_route_healthz(wg_request_t *rq)
{
    wg_request_reply(rq, 200, NULL, "ok", 2, NULL);
}

void wg_route_readyz(wg_request_t *rq)
{
    wg_worker_t *w = rq->worker;
    /* This worker's store now, and the others' as of their last tick (once a second). */
    if (wg_pg_store_ready(w->store) && (w->unready_ == NULL || atomic_load(w->unready_) == 0))
        wg_request_reply(rq, 200, NULL, "ready", 5, NULL);
    else
        wg_request_reply_text(rq, 503, "database not ready");
}
