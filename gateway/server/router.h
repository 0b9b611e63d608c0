/* Path routing for the gateway: maps a request path (undecoded, without the query) to a route
 * and, for callbacks, to the corp and receiver it names. Pure: no I/O, no allocation, no
 * libevent; the config is borrowed. */
#ifndef WG_SERVER_ROUTER_H
#define WG_SERVER_ROUTER_H

#include <stddef.h>

#include "gateway/config/config.h"

typedef enum wg_route_kind {
    WG_ROUTE_NONE = 0,         /* not a route: 404 "not found" */
    WG_ROUTE_HEALTHZ,          /* /healthz */
    WG_ROUTE_READYZ,           /* /readyz */
    WG_ROUTE_CALLBACK,         /* /wecom/{corp}[/{receiver}]/callback, both known */
    WG_ROUTE_UNKNOWN_CORP,     /* callback shape, corp not configured: 404 "unknown corp" */
    WG_ROUTE_UNKNOWN_RECEIVER, /* callback shape, receiver not configured: 404 "unknown receiver" */
} wg_route_kind_t;

typedef struct wg_route_match {
    wg_route_kind_t kind;
    size_t corp_index;   /* WG_ROUTE_CALLBACK and _UNKNOWN_RECEIVER: index in cfg->corps */
    long receiver_index; /* WG_ROUTE_CALLBACK: -1 for the corp-level endpoint, else the index in
                          * corps[corp_index].receivers */
} wg_route_match_t;

/* Matches path (NUL-terminated, as evhttp_uri_get_path returns it: not percent-decoded; corp and
 * receiver names are plain [a-z0-9_-] so an encoded name simply does not match). */
wg_route_kind_t wg_router_match(const wg_config_t *cfg, const char *path, wg_route_match_t *out);

/* The route's label for logs: the pattern with the corp's name when it is known
 * ("/wecom/acme/contacts/callback"), never a string taken from the request. Static or borrowed
 * from cfg except for WG_ROUTE_CALLBACK, whose label the worker precomputes per endpoint. */
const char *wg_router_label(wg_route_kind_t kind);

#endif
