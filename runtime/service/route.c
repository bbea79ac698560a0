/* route.c: endpoints of the v2 protocol (route.h). */
#include "route.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int route_set(RtRoute *out, RtRouteKind kind, int token, RtMethod method, int post) {
    out->kind = kind;
    out->needs_token = token;
    int ok =
        post ? method == RT_METHOD_POST : (method == RT_METHOD_GET || method == RT_METHOD_HEAD);
    if (ok) {
        out->status = RT_STATUS_OK;
        return out->status;
    }
    out->allow = post ? "POST" : "GET, HEAD";
    snprintf(out->err, sizeof out->err, "method not allowed on this path; use %s", out->allow);
    out->status = RT_STATUS_METHOD_NOT_ALLOWED;
    return out->status;
}

static int route_none(RtRoute *out, const char *path) {
    out->kind = RT_ROUTE_NONE;
    out->needs_token = 1; /* a 404 without the token would tell which paths exist */
    out->status = RT_STATUS_NOT_FOUND;
    snprintf(out->err, sizeof out->err,
             "no endpoint at '%.200s'; see /v2, /v2/health/ready, /v2/models/{name}", path);
    return out->status;
}

/* Takes the next path segment of *p into seg (n bytes): 0, or -1 if it is
 * empty or too long. Leaves *p at the '/' after it or at the end. */
static int segment_take(const char **p, char *seg, size_t n) {
    size_t len = strcspn(*p, "/");
    if (len == 0 || len >= n) return -1;
    memcpy(seg, *p, len);
    seg[len] = '\0';
    *p += len;
    return 0;
}

int rt_route_match(RtRoute *out, RtMethod method, const char *path, const KilnModel *m) {
    memset(out, 0, sizeof *out);
    if (strcmp(path, "/v2") == 0 || strcmp(path, "/v2/") == 0)
        return route_set(out, RT_ROUTE_SERVER_META, 1, method, 0);
    if (strcmp(path, "/v2/health/live") == 0) return route_set(out, RT_ROUTE_LIVE, 0, method, 0);
    if (strcmp(path, "/v2/health/ready") == 0) return route_set(out, RT_ROUTE_READY, 0, method, 0);
    if (strcmp(path, "/metrics") == 0) return route_set(out, RT_ROUTE_METRICS, 0, method, 0);
    static const char models[] = "/v2/models/";
    if (strncmp(path, models, sizeof models - 1) != 0) return route_none(out, path);

    const char *p = path + sizeof models - 1;
    char name[256], version[256] = "";
    if (segment_take(&p, name, sizeof name) != 0) return route_none(out, path);
    if (strncmp(p, "/versions/", 10) == 0) {
        p += 10;
        if (segment_take(&p, version, sizeof version) != 0) return route_none(out, path);
    }
    RtRouteKind kind;
    int post = 0;
    if (*p == '\0' || strcmp(p, "/") == 0) {
        kind = RT_ROUTE_MODEL_META;
    } else if (strcmp(p, "/ready") == 0) {
        kind = RT_ROUTE_MODEL_READY;
    } else if (strcmp(p, "/config") == 0) {
        kind = RT_ROUTE_MODEL_CONFIG;
    } else if (strcmp(p, "/infer") == 0) {
        kind = RT_ROUTE_INFER;
        post = 1;
    } else {
        return route_none(out, path);
    }
    if (strcmp(name, m->name) != 0) {
        out->kind = kind;
        out->needs_token = 1;
        out->status = RT_STATUS_NOT_FOUND;
        snprintf(out->err, sizeof out->err, "unknown model '%.200s'; this server serves '%s'", name,
                 m->name);
        return out->status;
    }
    if (version[0] && strcmp(version, m->version) != 0) {
        out->kind = kind;
        out->needs_token = 1;
        out->status = RT_STATUS_NOT_FOUND;
        snprintf(out->err, sizeof out->err,
                 "model '%s' has no version '%.100s'; this server serves version '%s'", m->name,
                 version, m->version);
        return out->status;
    }
    return route_set(out, kind, 1, method, post);
}

int rt_header_size_parse(const char *value, size_t *out) {
    size_t v = 0;
    if (!value || !*value) return -1;
    for (const char *c = value; *c; c++) {
        if (*c < '0' || *c > '9') return -1;
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (size_t)(*c - '0'), &v))
            return -1;
    }
    *out = v;
    return 0;
}
