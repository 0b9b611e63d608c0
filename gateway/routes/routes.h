/* The gateway's routes. Each ends its request with exactly one wg_request_reply, now or after
 * an asynchronous wait (wg_request_hold/unhold). Dispatch by path is gateway/server/router.c;
 * the method checks (405) are done by the worker before a route is called. */
#ifndef WG_ROUTES_H
#define WG_ROUTES_H

#include "gateway/server/worker.h"

/* GET|HEAD /healthz: 200 "ok" while the process runs. */
void wg_route_healthz(wg_request_t *rq);
/* GET|HEAD /readyz: 200 "ready" when this worker's store is connected and migrated, else 503
 * "database not ready". */
void wg_route_readyz(wg_request_t *rq);
/* GET (URL verification) or POST (event delivery) /wecom/{corp}[/{receiver}]/callback for
 * endpoint ep (borrowed from the worker). */
void wg_route_callback(wg_request_t *rq, wg_endpoint_t *ep);

#endif
