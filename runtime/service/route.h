/* route.h: which Open Inference Protocol (KServe v2) endpoint an HTTP
 * request names, and the small header parsers the server needs.
 *
 * Routing is a pure function of the method, the path and the model's
 * name and version, so it is tested without a socket. It owns nothing:
 * RtRoute holds copies of what it reports.
 *
 *     GET  /v2                                server metadata       (token)
 *     GET  /v2/health/live, /v2/health/ready  probes                (open)
 *     GET  /v2/models/{m}[/versions/{v}]      model metadata        (token)
 *     GET  .../ready, .../config              model ready, config   (token)
 *     POST .../infer                          inference             (token)
 *     GET  /metrics                           Prometheus text       (open)
 *
 * HEAD is answered wherever GET is. With a token set, only the probes and
 * /metrics answer without it: every other request, whatever its path,
 * method or model name, gets 401 first, so that nothing about the server
 * is told to a client without the token.
 */
#ifndef ROUTE_H
#define ROUTE_H

#include <stddef.h>

#include "kiln_model.h"
#include "rt.h"

typedef enum {
    RT_ROUTE_NONE,         /* no such path: 404 */
    RT_ROUTE_SERVER_META,  /* GET /v2 */
    RT_ROUTE_LIVE,         /* GET /v2/health/live */
    RT_ROUTE_READY,        /* GET /v2/health/ready */
    RT_ROUTE_MODEL_META,   /* GET /v2/models/{m} */
    RT_ROUTE_MODEL_READY,  /* GET /v2/models/{m}/ready */
    RT_ROUTE_MODEL_CONFIG, /* GET /v2/models/{m}/config */
    RT_ROUTE_INFER,        /* POST /v2/models/{m}/infer */
    RT_ROUTE_METRICS,      /* GET /metrics */
} RtRouteKind;

typedef enum { RT_METHOD_GET, RT_METHOD_HEAD, RT_METHOD_POST, RT_METHOD_OTHER } RtMethod;

typedef struct RtRoute {
    RtRouteKind kind;
    int status;           /* 200, 404 (no such path or model) or 405 (method) */
    int needs_token;      /* the token, if one is set, is checked before status is told */
    const char *allow;    /* the Allow header for a 405 */
    char err[RT_ERR_LEN]; /* why status is not 200 */
} RtRoute;

/* Matches method and path (without the query) against the endpoints of
 * model m. A path under /v2/models/ that names another model or version
 * is a 404 whose message names what is served; a known path with the
 * wrong method is a 405 with `allow` set. Returns out->status. */
int rt_route_match(RtRoute *out, RtMethod method, const char *path, const KilnModel *m);

/* Parses a decimal header value such as Content-Length or
 * Inference-Header-Content-Length: digits only, no sign, no overflow.
 * 0 and *out set, or -1. */
int rt_header_size_parse(const char *value, size_t *out);

#endif
