/* server.c: the v2 HTTP server (server.h).
 *
 * evhttp hides its connections, so the server learns about them through
 * two hooks: the bufferevent callback (evhttp_set_bevcb) runs for every
 * accepted connection, and once evhttp has set the connection up (on the
 * next turn of the loop) the server finds the evhttp_connection behind
 * that bufferevent and registers a close callback. Between the two the
 * server holds a reference on the bufferevent, so it can tell a
 * connection that already died (its callbacks are cleared) from a live
 * one. That gives an exact count of open connections for
 * --max-connections, and per connection whether a reply is still being
 * sent, which the drain waits for.
 */
#include "server.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "buf.h"
#include "infer.h"
#include "meta.h"
#include "metrics.h"
#include "route.h"

#define MAX_HEADERS_BYTES 16384
#define CONN_BUCKETS 1024 /* per worker; chains are short below ~10k connections */
#define REQUEST_ID_MAX 64 /* bytes of X-Request-Id kept */
#define LOG_PATH_MAX 256  /* bytes of the path written to a log line */
#define BACKLOG 1024

typedef struct Worker Worker;

/* One accepted connection. Its states: pending (bev set, evcon NULL, in
 * Worker.pending), adopted (bev NULL, evcon set, in Worker.table, busy
 * while a reply is being sent), then freed by conn_closed. */
typedef struct Conn {
    struct Conn *next;               /* in the pending list, then in a table bucket */
    Worker *w;                       /* the worker whose loop owns it */
    struct bufferevent *bev;         /* ours until adopted (we hold a reference) */
    struct evhttp_connection *evcon; /* set once adopted */
    int busy;                        /* a reply is being sent */
} Conn;

typedef struct Server {
    const KilnModel *m;
    const RtServeOptions *o;
    int log_fd;
    atomic_int draining;   /* set once by the main thread on SIGTERM */
    atomic_llong n_conns;  /* open connections, all workers */
    atomic_llong n_busy;   /* requests being handled or answered */
    atomic_ullong next_id; /* request ids for requests without one */
    char *server_json;     /* GET /v2, built once */
    char *meta_json;       /* GET /v2/models/{m} */
    char *config_json;     /* GET /v2/models/{m}/config */
    Worker *workers;
    int n_workers;
} Server;

struct Worker {
    Server *s;
    int index;
    pthread_t thread;
    int started;
    int fd; /* the listening socket */
    struct event_base *base;
    struct evhttp *http;
    struct event *adopt_ev;    /* adopts the connections in pending */
    Conn *pending;             /* accepted, not yet adopted */
    Conn *table[CONN_BUCKETS]; /* adopted, by evcon */
    RtMetrics metrics;         /* written by this worker only */
};

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* --- logs ---------------------------------------------------------------- */

/* Starts a log line: {"ts":"2024-05-01T12:00:00.123Z","event":"<event>" */
static void log_begin(RtBuf *b, const char *event) {
    struct timespec ts;
    struct tm tm;
    char when[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    rt_buf_printf(b, "{\"ts\":\"%s.%03ldZ\",\"event\":\"%s\"", when, ts.tv_nsec / 1000000, event);
}

/* Ends the line and writes it with one write(2), so lines from several
 * workers never interleave. */
static void log_end(int fd, RtBuf *b) {
    rt_buf_puts(b, "}\n");
    size_t len = 0;
    char *text = rt_buf_take(b, &len);
    if (!text) return;
    ssize_t n = write(fd, text, len);
    (void)n; /* a log that cannot be written must not stop the server */
    free(text);
}

/* --- listening ------------------------------------------------------------ */

/* Fills ss from host and port without name lookups. 0, or -1. */
static int host_parse(const char *host, int port, struct sockaddr_storage *out, socklen_t *len) {
    struct sockaddr_storage ss;
    char literal[64];
    memset(&ss, 0, sizeof ss);
    if (!host || !*host) host = "0.0.0.0";
    if (strcmp(host, "localhost") == 0) host = "127.0.0.1";
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']' && hl - 2 < sizeof literal) {
        memcpy(literal, host + 1, hl - 2); /* [::1] as in a URL */
        literal[hl - 2] = '\0';
    } else {
        snprintf(literal, sizeof literal, "%s", host);
    }
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, literal, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        *len = sizeof *sin;
    } else if (inet_pton(AF_INET6, literal, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        *len = sizeof *sin6;
    } else {
        return -1;
    }
    *out = ss;
    return 0;
}

int rt_host_check(const char *host) {
    struct sockaddr_storage ss;
    socklen_t len;
    return host_parse(host, 0, &ss, &len);
}

int rt_listen(char err[RT_ERR_LEN], const char *host, int port) {
    struct sockaddr_storage ss;
    socklen_t sslen;
    if (port < 0 || port > 65535) {
        snprintf(err, RT_ERR_LEN, "port %d is out of range 0..65535", port);
        return -1;
    }
    if (host_parse(host, port, &ss, &sslen) != 0) {
        snprintf(err, RT_ERR_LEN,
                 "--host '%.100s' is not an IP address; give an IPv4 or IPv6 literal "
                 "(0.0.0.0, 127.0.0.1, ::) or localhost",
                 host ? host : "");
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, RT_ERR_LEN, "socket: %s", strerror(errno));
        return -1;
    }
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) {
        snprintf(err, RT_ERR_LEN, "setsockopt: %s", strerror(errno));
        close(fd);
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&ss, sslen) != 0) {
        snprintf(err, RT_ERR_LEN, "cannot listen on %s port %d: %s", host, port, strerror(errno));
        close(fd);
        return -1;
    }
    if (listen(fd, BACKLOG) != 0) {
        snprintf(err, RT_ERR_LEN, "listen: %s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static int socket_port(int fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) return -1;
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* --- connections ---------------------------------------------------------- */

static size_t conn_bucket(const struct evhttp_connection *evcon) {
    return ((uintptr_t)evcon >> 4) % CONN_BUCKETS;
}

static Conn *conn_find(Worker *w, const struct evhttp_connection *evcon) {
    for (Conn *c = w->table[conn_bucket(evcon)]; c; c = c->next)
        if (c->evcon == evcon) return c;
    return NULL;
}

static void conn_closed(struct evhttp_connection *evcon, void *arg) {
    Conn *c = arg;
    Worker *w = c->w;
    assert(c->evcon == evcon && !c->bev); /* adopted */
    assert(conn_find(w, evcon) == c);
    evhttp_connection_set_closecb(evcon, NULL, NULL); /* exactly once */
    for (Conn **p = &w->table[conn_bucket(evcon)]; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    if (c->busy) {
        long long busy = atomic_fetch_sub(&w->s->n_busy, 1);
        assert(busy > 0);
        (void)busy;
    }
    long long open = atomic_fetch_sub(&w->s->n_conns, 1);
    assert(open > 0);
    (void)open;
    free(c);
}

/* evhttp asks for the bufferevent of each accepted connection. */
static struct bufferevent *conn_accepted(struct event_base *base, void *arg) {
    Worker *w = arg;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    Conn *c = calloc(1, sizeof *c);
    if (!bev || !c) { /* evhttp makes its own; this connection goes uncounted */
        if (bev) bufferevent_free(bev);
        free(c);
        return NULL;
    }
    bufferevent_incref(bev);
    c->w = w;
    c->bev = bev;
    c->next = w->pending;
    w->pending = c;
    atomic_fetch_add(&w->s->n_conns, 1);
    event_active(w->adopt_ev, 0, 0);
    return bev;
}

/* Runs after evhttp set up the connections accepted in this turn of the
 * loop: its read/write callbacks now have the evhttp_connection as their
 * argument (NULL if the connection is already gone). */
static void conn_adopt(evutil_socket_t fd, short what, void *arg) {
    Worker *w = arg;
    Server *s = w->s;
    (void)fd, (void)what;
    Conn *list = w->pending;
    w->pending = NULL;
    while (list) {
        Conn *c = list;
        list = c->next;
        assert(c->bev && !c->evcon && !c->busy); /* pending */
        void *cbarg = NULL;
        bufferevent_getcb(c->bev, NULL, NULL, NULL, &cbarg);
        struct evhttp_connection *evcon = cbarg;
        bufferevent_decref(c->bev); /* frees it if evhttp already has */
        c->bev = NULL;
        if (!evcon) {
            atomic_fetch_sub(&s->n_conns, 1);
            free(c);
        } else if (atomic_load(&s->n_conns) > s->o->max_connections) {
            atomic_fetch_add_explicit(&w->metrics.conns_rejected, 1, memory_order_relaxed);
            atomic_fetch_sub(&s->n_conns, 1);
            free(c);
            evhttp_connection_free(evcon); /* no close callback yet: counted above */
        } else {
            c->evcon = evcon;
            c->next = w->table[conn_bucket(evcon)];
            w->table[conn_bucket(evcon)] = c;
            evhttp_connection_set_closecb(evcon, conn_closed, c);
        }
    }
}

/* The reply of a busy connection has been written. */
static void reply_done(struct evhttp_request *req, void *arg) {
    Conn *c = arg;
    (void)req;
    assert(c->evcon); /* only adopted connections get replies */
    if (c->busy) {
        c->busy = 0;
        atomic_fetch_sub(&c->w->s->n_busy, 1);
    }
}

/* --- replies --------------------------------------------------------------- */

/* What a handler knows about the request it answers. */
typedef struct Exchange {
    Worker *w;
    struct evhttp_request *req;
    RtEndpoint ep;
    int status;
    size_t bytes_out;
    char request_id[REQUEST_ID_MAX + 1]; /* "" until known */
    char header_id[REQUEST_ID_MAX + 1];  /* X-Request-Id as sent, "" if none */
} Exchange;

static void body_free(const void *data, size_t len, void *arg) {
    (void)len, (void)arg;
    free((void *)data);
}

/* Sends status with body (len bytes). `owned`: body is malloc'd and now
 * belongs to the reply; else it outlives the server's loops. */
static void reply_send(Exchange *x, int status, const char *type, const char *body, size_t len,
                       int owned) {
    struct evkeyvalq *h = evhttp_request_get_output_headers(x->req);
    struct evbuffer *out = evhttp_request_get_output_buffer(x->req);
    evhttp_add_header(h, "Content-Type", type);
    if (x->header_id[0]) evhttp_add_header(h, "X-Request-Id", x->header_id);
    if (atomic_load_explicit(&x->w->s->draining, memory_order_relaxed))
        evhttp_add_header(h, "Connection", "close");
    if (len && evbuffer_add_reference(out, body, len, owned ? body_free : NULL, NULL) != 0) {
        if (owned) free((void *)body);
        status = RT_STATUS_INTERNAL_ERROR;
    }
    x->status = status;
    x->bytes_out = len;
    evhttp_send_reply(x->req, status, NULL, NULL);
}

static void reply_json(Exchange *x, int status, const char *text) {
    reply_send(x, status, "application/json", text, strlen(text), 0);
}

static void reply_error(Exchange *x, int status, const char *msg) {
    size_t len = 0;
    char *text = rt_infer_error_json(msg, &len);
    if (!text) {
        reply_send(x, RT_STATUS_INTERNAL_ERROR, "application/json", "", 0, 0);
        return;
    }
    reply_send(x, status, "application/json", text, len, 1);
}

/* --- handlers -------------------------------------------------------------- */

static void infer_handle(Exchange *x, uint64_t t0) {
    Worker *w = x->w;
    Server *s = w->s;
    if (atomic_load(&s->draining)) {
        reply_error(x, RT_STATUS_UNAVAILABLE,
                    "the server is shutting down; retry on another replica");
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(x->req);
    size_t len = evbuffer_get_length(in), header_len = len;
    if (len > s->o->max_body_bytes) { /* libevent enforces it; this keeps the promise local */
        reply_error(x, RT_STATUS_TOO_LARGE, "request body is over --max-body-bytes");
        return;
    }
    const char *v = evhttp_find_header(evhttp_request_get_input_headers(x->req),
                                       "Inference-Header-Content-Length");
    if (v && rt_header_size_parse(v, &header_len) != 0) {
        reply_error(x, RT_STATUS_BAD_REQUEST,
                    "Inference-Header-Content-Length must be a byte count (digits only)");
        return;
    }
    const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
    if (!body) {
        reply_error(x, RT_STATUS_INTERNAL_ERROR, "out of memory reading the request");
        return;
    }
    char err[RT_ERR_LEN];
    RtInferResult res;
    uint64_t t1 = now_ns();
    int st = rt_infer_run(s->m, body, len, header_len, 1, &res, err);
    if (res.id[0] && !x->request_id[0]) snprintf(x->request_id, sizeof x->request_id, "%s", res.id);
    if (st != RT_STATUS_OK) {
        reply_error(x, st, err);
        return;
    }
    rt_metrics_observe(&w->metrics.queue_us, (t1 - t0 + res.parse_ns) / 1000);
    rt_metrics_observe(&w->metrics.compute_us, res.compute_ns / 1000);
    atomic_fetch_add_explicit(&w->metrics.inferences, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->metrics.rows, (uint64_t)res.batch, memory_order_relaxed);
    const char *type = "application/json";
    if (res.json_len != res.len) {
        char n[32];
        snprintf(n, sizeof n, "%zu", res.json_len);
        evhttp_add_header(evhttp_request_get_output_headers(x->req),
                          "Inference-Header-Content-Length", n);
        type = "application/octet-stream";
    }
    reply_send(x, RT_STATUS_OK, type, res.body, res.len, 1);
}

static void metrics_handle(Exchange *x) {
    Server *s = x->w->s;
    RtGauges g = {
        .in_flight = atomic_load(&s->n_busy),
        .connections = atomic_load(&s->n_conns),
        .ready = !atomic_load(&s->draining),
        .workers = s->n_workers,
        .threads_per_request = s->o->threads_per_request,
    };
    const RtMetrics **shards = malloc(sizeof *shards * (size_t)s->n_workers);
    size_t len = 0;
    char *text = NULL;
    if (shards) {
        for (int i = 0; i < s->n_workers; i++)
            shards[i] = &s->workers[i].metrics;
        text = rt_metrics_text(s->m, shards, s->n_workers, &g, &len);
        free(shards);
    }
    if (!text) {
        reply_error(x, RT_STATUS_INTERNAL_ERROR, "out of memory writing the metrics");
        return;
    }
    reply_send(x, RT_STATUS_OK, "text/plain; version=0.0.4; charset=utf-8", text, len, 1);
}

static RtEndpoint route_endpoint(RtRouteKind kind) {
    switch (kind) {
    case RT_ROUTE_INFER:
        return RT_EP_INFER;
    case RT_ROUTE_LIVE:
    case RT_ROUTE_READY:
    case RT_ROUTE_MODEL_READY:
        return RT_EP_HEALTH;
    case RT_ROUTE_SERVER_META:
    case RT_ROUTE_MODEL_META:
    case RT_ROUTE_MODEL_CONFIG:
        return RT_EP_METADATA;
    case RT_ROUTE_METRICS:
        return RT_EP_METRICS;
    default:
        return RT_EP_OTHER;
    }
}

static const char *method_name(enum evhttp_cmd_type cmd) {
    switch (cmd) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_TRACE:
        return "TRACE";
    case EVHTTP_REQ_CONNECT:
        return "CONNECT";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    default:
        return "OTHER";
    }
}

/* Keeps a header value for logs and echoing: at most REQUEST_ID_MAX
 * printable ASCII bytes. */
static void request_id_copy(char *out, const char *v) {
    size_t n = 0;
    for (; v && *v && n < REQUEST_ID_MAX; v++)
        if (*v >= 0x20 && *v < 0x7f) out[n++] = *v;
    out[n] = '\0';
}

static void request_handle(struct evhttp_request *req, void *arg) {
    Worker *w = arg;
    Server *s = w->s;
    uint64_t t0 = now_ns();
    Exchange x = {.w = w, .req = req, .ep = RT_EP_OTHER};
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    Conn *c = evcon ? conn_find(w, evcon) : NULL;
    if (c && !c->busy) {
        c->busy = 1;
        atomic_fetch_add(&s->n_busy, 1);
        evhttp_request_set_on_complete_cb(req, reply_done, c);
    }

    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    const char *method = method_name(cmd);
    RtMethod m = cmd == EVHTTP_REQ_GET    ? RT_METHOD_GET
                 : cmd == EVHTTP_REQ_HEAD ? RT_METHOD_HEAD
                 : cmd == EVHTTP_REQ_POST ? RT_METHOD_POST
                                          : RT_METHOD_OTHER;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (!path || !*path) path = "/";
    char logged_path[LOG_PATH_MAX + 1];
    snprintf(logged_path, sizeof logged_path, "%s", path);
    struct evkeyvalq *headers = evhttp_request_get_input_headers(req);
    request_id_copy(x.header_id, evhttp_find_header(headers, "X-Request-Id"));
    size_t bytes_in = evbuffer_get_length(evhttp_request_get_input_buffer(req));

    RtRoute route;
    rt_route_match(&route, m, path, s->m);
    x.ep = route_endpoint(route.kind);
    if (route.status == RT_STATUS_METHOD_NOT_ALLOWED) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", route.allow);
        reply_error(&x, route.status, route.err);
    } else if (route.kind != RT_ROUTE_NONE && route.needs_token && s->o->token &&
               !rt_auth_bearer_check(evhttp_find_header(headers, "Authorization"), s->o->token)) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
                          "Bearer realm=\"kiln\"");
        reply_error(&x, RT_STATUS_UNAUTHORIZED,
                    "this endpoint needs a token: send the header 'Authorization: Bearer <token>'");
    } else if (route.status != RT_STATUS_OK) {
        reply_error(&x, route.status, route.err);
    } else {
        int draining = atomic_load(&s->draining);
        switch (route.kind) {
        case RT_ROUTE_SERVER_META:
            reply_json(&x, RT_STATUS_OK, s->server_json);
            break;
        case RT_ROUTE_LIVE:
            reply_json(&x, RT_STATUS_OK, "{\"live\":true}");
            break;
        case RT_ROUTE_READY:
        case RT_ROUTE_MODEL_READY:
            if (draining)
                reply_json(&x, RT_STATUS_UNAVAILABLE, "{\"ready\":false}");
            else
                reply_json(&x, RT_STATUS_OK, "{\"ready\":true}");
            break;
        case RT_ROUTE_MODEL_META:
            reply_json(&x, RT_STATUS_OK, s->meta_json);
            break;
        case RT_ROUTE_MODEL_CONFIG:
            reply_json(&x, RT_STATUS_OK, s->config_json);
            break;
        case RT_ROUTE_METRICS:
            metrics_handle(&x);
            break;
        case RT_ROUTE_INFER:
            infer_handle(&x, t0);
            break;
        case RT_ROUTE_NONE:
            reply_error(&x, RT_STATUS_NOT_FOUND, route.err);
            break;
        }
    }
    /* req may be gone now: only x and the copies above are used below. */
    uint64_t us = (now_ns() - t0) / 1000;
    rt_metrics_request_count(&w->metrics, x.ep, x.status);
    rt_metrics_observe(&w->metrics.request_us, us);
    if (!x.request_id[0]) {
        if (x.header_id[0])
            snprintf(x.request_id, sizeof x.request_id, "%s", x.header_id);
        else
            snprintf(x.request_id, sizeof x.request_id, "%llu",
                     (unsigned long long)atomic_fetch_add(&s->next_id, 1) + 1);
    }
    RtBuf b;
    rt_buf_init(&b);
    log_begin(&b, "request");
    rt_buf_printf(&b, ",\"worker\":%d,\"method\":\"%s\",\"path\":", w->index, method);
    rt_buf_put_json_string(&b, logged_path);
    rt_buf_printf(&b, ",\"status\":%d,\"duration_us\":%llu,\"request_id\":", x.status,
                  (unsigned long long)us);
    rt_buf_put_json_string(&b, x.request_id);
    rt_buf_printf(&b, ",\"bytes_in\":%zu,\"bytes_out\":%zu", bytes_in, x.bytes_out);
    log_end(s->log_fd, &b);
}

/* --- documents built once ------------------------------------------------------ */

static const char *triton_type(int dtype) {
    switch (dtype) {
#define KILN_DTYPE(ir, abi, onnx, name, size, onnx_name, v2, triton, ...)                          \
    case KILN_DT_##abi:                                                                            \
        return triton ? triton : "TYPE_INVALID";
#include "kiln_dtypes.def"
#undef KILN_DTYPE
    default:
        return "TYPE_INVALID";
    }
}

/* 1 if every tensor's first dim, and only it, is the batch. */
static int batch_leading(const KilnTensorInfo *t, int n) {
    for (int i = 0; i < n; i++) {
        if (t[i].rank < 1 || t[i].shape[0] != -1) return 0;
        for (int d = 1; d < t[i].rank; d++)
            if (t[i].shape[d] == -1) return 0;
    }
    return 1;
}

/* Bytes of one batch row of t (the product of its fixed dims). */
static size_t row_bytes(const KilnTensorInfo *t) {
    size_t n = kiln_dtype_size(t->dtype);
    for (int d = 1; d < t->rank; d++)
        if (__builtin_mul_overflow(n, (size_t)t->shape[d], &n)) return SIZE_MAX;
    return n;
}

/* Triton's max_batch_size: 0 if the model has no leading batch dim; else
 * the most rows whose inputs fit in one body in the binary encoding, and
 * whose every input and output fits the per-tensor limit. */
static int64_t max_batch_size(const KilnModel *m, size_t max_body) {
    if (m->n_inputs == 0 || !batch_leading(m->inputs, m->n_inputs) ||
        !batch_leading(m->outputs, m->n_outputs))
        return 0;
    size_t row = 0;
    for (int i = 0; i < m->n_inputs; i++)
        row += row_bytes(&m->inputs[i]);
    size_t best = row ? max_body / row : 0;
    for (int i = 0; i < m->n_inputs + m->n_outputs; i++) {
        const KilnTensorInfo *t = i < m->n_inputs ? &m->inputs[i] : &m->outputs[i - m->n_inputs];
        size_t rb = row_bytes(t);
        if (rb && RT_TENSOR_MAX_BYTES / rb < best) best = RT_TENSOR_MAX_BYTES / rb;
    }
    return best > INT32_MAX ? INT32_MAX : (int64_t)best;
}

static json_t *config_tensors(const KilnTensorInfo *t, int n, int batched) {
    json_t *arr = json_array();
    for (int i = 0; arr && i < n; i++) {
        json_t *dims = json_array(), *shape = json_array();
        for (int d = 0; dims && shape && d < t[i].rank; d++) {
            json_array_append_new(shape, json_integer(t[i].shape[d]));
            if (!(batched && d == 0)) json_array_append_new(dims, json_integer(t[i].shape[d]));
        }
        json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:o}", "name", t[i].name, "data_type",
                              triton_type(t[i].dtype), "datatype", rt_dtype_name(t[i].dtype),
                              "dims", dims, "shape", shape);
        if (!o || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static int documents_build(Server *s) {
    const KilnModel *m = s->m;
    char version[64];
    int64_t mbs = max_batch_size(m, s->o->max_body_bytes);
    json_t *server = json_pack("{s:s, s:s, s:[s]}", "name", "kiln", "version",
                               rt_meta_kiln_version(m, version, sizeof version), "extensions",
                               "binary_tensor_data");
    json_t *meta = rt_meta_json(m);
    json_t *config = json_pack(
        "{s:s, s:[s], s:s, s:s, s:I, s:o, s:o, s:{s:I, s:i}}", "name", m->name, "versions",
        m->version, "platform", "kiln", "backend", "kiln", "max_batch_size", (json_int_t)mbs,
        "input", config_tensors(m->inputs, m->n_inputs, mbs > 0), "output",
        config_tensors(m->outputs, m->n_outputs, mbs > 0), "parameters", "max_body_bytes",
        (json_int_t)s->o->max_body_bytes, "threads_per_request", s->o->threads_per_request);
    if (server) s->server_json = json_dumps(server, JSON_COMPACT);
    if (meta) s->meta_json = json_dumps(meta, JSON_COMPACT);
    if (config) s->config_json = json_dumps(config, JSON_COMPACT);
    json_decref(server);
    json_decref(meta);
    json_decref(config);
    return s->server_json && s->meta_json && s->config_json ? 0 : -1;
}

/* --- workers and the main thread --------------------------------------------------- */

static void *worker_main(void *arg) {
    Worker *w = arg;
    event_base_dispatch(w->base);
    return NULL;
}

static int worker_setup(Worker *w, char err[RT_ERR_LEN]) {
    const RtServeOptions *o = w->s->o;
    w->base = event_base_new();
    w->http = w->base ? evhttp_new(w->base) : NULL;
    w->adopt_ev = w->base ? event_new(w->base, -1, 0, conn_adopt, w) : NULL;
    if (!w->http || !w->adopt_ev) {
        snprintf(err, RT_ERR_LEN, "cannot create worker %d's event loop", w->index);
        return -1;
    }
    struct timeval tv = {o->timeout_ms / 1000, (o->timeout_ms % 1000) * 1000};
    evhttp_set_timeout_tv(w->http, &tv);
    evhttp_set_max_headers_size(w->http, MAX_HEADERS_BYTES);
    evhttp_set_max_body_size(w->http, (ev_ssize_t)o->max_body_bytes);
    /* Every method reaches the router, which answers 405 with Allow
     * (libevent would answer 501 for a method it was not told about). */
    evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    /* Read (and drop, never store) the rest of a body over the limit, so
     * a client that sends it sees the 413 rather than a reset connection.
     * A client that claims a huge Content-Length and sends nothing is
     * closed after --timeout-ms without an answer. */
    evhttp_set_flags(w->http, EVHTTP_SERVER_LINGERING_CLOSE);
    evhttp_set_bevcb(w->http, conn_accepted, w);
    evhttp_set_gencb(w->http, request_handle, w);
    if (!evhttp_accept_socket_with_handle(w->http, w->fd)) {
        snprintf(err, RT_ERR_LEN, "cannot accept on worker %d's socket", w->index);
        return -1;
    }
    w->fd = -1; /* evhttp owns it now */
    return 0;
}

static void worker_teardown(Worker *w) {
    if (w->http) evhttp_free(w->http); /* closes the socket and every connection */
    while (w->pending) {
        Conn *c = w->pending;
        w->pending = c->next;
        bufferevent_decref(c->bev);
        atomic_fetch_sub(&w->s->n_conns, 1);
        free(c);
    }
    if (w->adopt_ev) event_free(w->adopt_ev);
    if (w->base) event_base_free(w->base);
    if (w->fd >= 0) close(w->fd);
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int rt_server_run(const KilnModel *m, const RtServeOptions *o, FILE *log, char err[RT_ERR_LEN]) {
    uint64_t t_start = now_ns();
    Server s = {.m = m, .o = o, .log_fd = fileno(log), .n_workers = o->workers};
    int rc = -1, port = o->port;
    sigset_t stop, old;
    RtBuf b;

    fflush(log);
    if (evthread_use_pthreads() != 0) {
        snprintf(err, RT_ERR_LEN, "libevent has no thread support");
        return -1;
    }
    json_object_seed(0); /* before any thread parses JSON, as jansson asks */
    s.workers = calloc((size_t)o->workers, sizeof *s.workers);
    if (!s.workers || documents_build(&s) != 0) {
        snprintf(err, RT_ERR_LEN, "out of memory");
        goto out;
    }
    for (int i = 0; i < o->workers; i++) {
        Worker *w = &s.workers[i];
        w->s = &s;
        w->index = i;
        w->fd = -1;
    }
    /* The first socket picks the port when --port is 0; the others join it. */
    for (int i = 0; i < o->workers; i++) {
        Worker *w = &s.workers[i];
        if ((w->fd = rt_listen(err, o->host, port)) < 0) goto out;
        if (i == 0) port = socket_port(w->fd);
        if (worker_setup(w, err) != 0) goto out;
    }

    /* Workers inherit the blocked signals: only sigwait() below sees them. */
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, &old);
    for (int i = 0; i < o->workers; i++) {
        Worker *w = &s.workers[i];
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            snprintf(err, RT_ERR_LEN, "cannot start worker thread %d", i);
            goto stop;
        }
        w->started = 1;
    }

    rt_buf_init(&b);
    log_begin(&b, "ready");
    rt_buf_puts(&b, ",\"host\":");
    rt_buf_put_json_string(&b, o->host);
    rt_buf_printf(&b,
                  ",\"port\":%d,\"workers\":%d,\"threads_per_request\":%d,\"max_body_bytes\":%zu,"
                  "\"timeout_ms\":%d,\"max_connections\":%d,\"auth\":%s,\"model\":",
                  port, o->workers, o->threads_per_request, o->max_body_bytes, o->timeout_ms,
                  o->max_connections, o->token ? "true" : "false");
    rt_buf_put_json_string(&b, m->name);
    rt_buf_puts(&b, ",\"version\":");
    rt_buf_put_json_string(&b, m->version);
    rt_buf_printf(&b, ",\"startup_us\":%llu", (unsigned long long)((now_ns() - t_start) / 1000));
    log_end(s.log_fd, &b);

    int sig = 0;
    while (sigwait(&stop, &sig) != 0)
        ;
    atomic_store(&s.draining, 1);
    rt_buf_init(&b);
    log_begin(&b, "draining");
    rt_buf_printf(&b, ",\"signal\":\"%s\",\"in_flight\":%lld,\"connections\":%lld",
                  sig == SIGTERM ? "SIGTERM" : "SIGINT", (long long)atomic_load(&s.n_busy),
                  (long long)atomic_load(&s.n_conns));
    log_end(s.log_fd, &b);
    uint64_t deadline = now_ns() + (uint64_t)o->timeout_ms * 1000000u;
    while (atomic_load(&s.n_busy) > 0 && now_ns() < deadline)
        sleep_ms(5);
    rc = 0;
stop:
    for (int i = 0; i < o->workers; i++)
        if (s.workers[i].started) event_base_loopexit(s.workers[i].base, NULL);
    for (int i = 0; i < o->workers; i++)
        if (s.workers[i].started) pthread_join(s.workers[i].thread, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == 0) {
        rt_buf_init(&b);
        log_begin(&b, "stopped");
        rt_buf_printf(&b, ",\"in_flight\":%lld", (long long)atomic_load(&s.n_busy));
        log_end(s.log_fd, &b);
    }
out:
    for (int i = 0; s.workers && i < o->workers; i++)
        worker_teardown(&s.workers[i]);
    free(s.workers);
    free(s.server_json);
    free(s.meta_json);
    free(s.config_json);
    return rc;
}
