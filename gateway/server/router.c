/* Path routing: /healthz, /readyz, /wecom/{corp}/callback, /wecom/{corp}/{receiver}/callback. */
#include "gateway/server/router.h"

#include <string.h>

#define CALLBACK_PREFIX "/wecom/"
#define CALLBACK_SUFFIX "callback"

wg_route_kind_t wg_router_match(const wg_config_t *cfg, const char *path, wg_route_match_t *out)
{
    memset(out, 0, sizeof *out);
    out->receiver_index = -1;
    out->kind = WG_ROUTE_NONE;
    if (path == NULL)
        return out->kind;
    if (strcmp(path, "/healthz") == 0)
        return out->kind = WG_ROUTE_HEALTHZ;
    if (strcmp(path, "/readyz") == 0)
        return out->kind = WG_ROUTE_READYZ;
    if (strncmp(path, CALLBACK_PREFIX, sizeof CALLBACK_PREFIX - 1) != 0)
        return out->kind;

    /* Split what follows "/wecom/" into at most three segments. */
    const char *seg[3];
    size_t seglen[3];
    size_t n = 0;
    const char *p = path + sizeof CALLBACK_PREFIX - 1;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 3)
            return out->kind; /* too many segments */
        seg[n] = p;
        seglen[n] = len;
        n++;
        if (!slash)
            break;
        p = slash + 1;
    }
    if (n < 2 || seglen[n - 1] != sizeof CALLBACK_SUFFIX - 1 ||
        memcmp(seg[n - 1], CALLBACK_SUFFIX, sizeof CALLBACK_SUFFIX - 1) != 0)
        return out->kind;

    const wg_config_corp_t *corp = NULL;
    if (seglen[0] > 0)
        corp = wg_config_find_corp(cfg, seg[0], seglen[0]);
    if (corp == NULL)
        return out->kind = WG_ROUTE_UNKNOWN_CORP;
    out->corp_index = (size_t)(corp - cfg->corps);
    if (n == 2)
        return out->kind = WG_ROUTE_CALLBACK;

    const wg_config_receiver_t *recv = NULL;
    if (seglen[1] > 0)
        recv = wg_config_find_receiver(corp, seg[1], seglen[1]);
    if (recv == NULL || recv == &corp->main)
        return out->kind = WG_ROUTE_UNKNOWN_RECEIVER;
    out->receiver_index = (long)(recv - corp->receivers);
    return out->kind = WG_ROUTE_CALLBACK;
}

const char *wg_router_label(wg_route_kind_t kind)
{
    switch (kind) {
    case WG_ROUTE_HEALTHZ:
        return "/healthz";
    case WG_ROUTE_READYZ:
        return "/readyz";
    case WG_ROUTE_CALLBACK:
        return "/wecom/{corp}/callback";
    case WG_ROUTE_UNKNOWN_CORP:
        return "/wecom/{corp}/callback";
    case WG_ROUTE_UNKNOWN_RECEIVER:
        return "/wecom/{corp}/{receiver}/callback";
    case WG_ROUTE_NONE:
    default:
        return "-";
    }
}
