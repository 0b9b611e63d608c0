/* /healthz (the process is alive) and /readyz (this worker's database connection is up and the
 * schema migrated). */
#include "gateway/routes/routes.h"

void wg_route_healthz(wg_request_t *rq)
{
    wg_request_reply(rq, 200, NULL, "ok", 2, NULL);
}

void wg_route_readyz(wg_request_t *rq)
{
    if (wg_pg_store_ready(rq->worker->store))
        wg_request_reply(rq, 200, NULL, "ready", 5, NULL);
    else
        wg_request_reply_text(rq, 503, "database not ready");
}
