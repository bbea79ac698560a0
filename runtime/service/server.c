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
 *
 * evhttp has no hooks for three things the service needs, so the server
 * watches the bytes of each connection through evbuffer callbacks on the
 * bufferevent it hands evhttp:
 *   - the input callback sees the first byte of each request, which arms
 *     a whole-request deadline (--request-timeout-ms; the first request's
 *     runs from accept), and counts the bytes of the request head, which
 *     the server limits itself (MAX_HEADERS_BYTES; evhttp's own limit is
 *     set well above it, so ours always trips first and answers 431);
 *   - the output callback sees bytes that evhttp writes on its own, i.e.
 *     not inside reply_send(): its HTML error pages (400 for a bad
 *     request line, header, Content-Length or chunk; 413 over the body
 *     limit) and "100 Continue". An error page is replaced, before a byte
 *     of it is sent, with the same status and an {"error": ...} body;
 *   - a connection over --max-connections is not dropped: up to
 *     HEADROOM_CONNS of them are admitted with a short deadline, and
 *     answered 503 (JSON, Retry-After) unless they ask for a health probe,
 *     which is answered as usual. So slow clients holding every slot
 *     cannot make the probes fail, and a client over the bound learns
 *     why. Past the headroom, a 503 is written at once and the connection
 *     closed.
 */
#include "server.h"

#include "pool.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <linux/filter.h>
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

#define MAX_HEADERS_BYTES 16384   /* request line and headers; evhttp's limit is 4x this */
#define HEADROOM_CONNS 32         /* connections over --max-connections admitted for probes */
#define HEADROOM_DEADLINE_MS 1000 /* their whole-request deadline */
#define RETRY_AFTER_S "1"         /* Retry-After of a 503 over --max-connections */
#define CONN_BUCKETS 1024         /* per worker; chains are short below ~10k connections */
#define REQUEST_ID_MAX 64         /* bytes of X-Request-Id kept */
#define LOG_PATH_MAX 256          /* bytes of the path written to a log line */
#define BACKLOG 1024

typedef struct Worker Worker;

/* Where a connection is in its current request. */
typedef enum {
    REQ_IDLE,     /* between requests (keep-alive): only --timeout-ms applies */
    REQ_READING,  /* the deadline runs: head and body must arrive before it */
    REQ_HANDLING, /* complete: being answered (or evhttp is answering an error) */
} ReqState;

/* One accepted connection. Its states: pending (bev set, evcon NULL, in
 * Worker.pending), adopted (bev NULL, evcon set, in Worker.table, busy
 * while a reply is being sent), then freed by conn_closed. */
typedef struct Conn {
    struct Conn *next;               /* in the pending list, then in a table bucket */
    Worker *w;                       /* the worker whose loop owns it */
    struct bufferevent *bev;         /* ours until adopted (we hold a reference) */
    struct evhttp_connection *evcon; /* set once adopted */
    int busy;                        /* a reply is being sent */
    int overflow;                    /* admitted over --max-connections: probes only */
    ReqState state;
    int got_bytes;             /* a byte of the current request has arrived */
    int head_text;             /* its head has a non-blank line */
    int head_done;             /* its head's blank line has been seen */
    int head_over;             /* its head is over MAX_HEADERS_BYTES */
    size_t head_bytes;         /* bytes of its head so far */
    size_t line_len;           /* bytes of the head's current line, CR and LF aside */
    char line[64];             /* its first bytes, lower case, for the headers below */
    size_t in_total;           /* bytes of the request (and any after it) so far */
    long long content_length;  /* its Content-Length; -1 if none or not a number */
    int chunked;               /* it has Transfer-Encoding: chunked */
    int expect_continue;       /* it has Expect: 100-continue */
    int too_big;               /* it waits for 100 Continue with a body over the limit */
    int in_reply;              /* the server itself is writing to out */
    size_t foreign_at;         /* offset in out of evhttp's own reply; SIZE_MAX: none */
    struct evbuffer *in, *out; /* the bufferevent's buffers */
    struct evbuffer_cb_entry *in_cb, *out_cb;
    struct event *deadline; /* the whole-request timer */
    struct event *fix;      /* rewrites evhttp's reply, or refuses a head over the limit */
} Conn;

typedef struct Server {
    const KilnModel *m;
    const RtServeOptions *o;
    int log_fd;
    atomic_int draining;   /* set once by the main thread on SIGTERM */
    atomic_llong n_conns;  /* open connections, all workers, headroom included */
    atomic_llong n_over;   /* of which admitted over --max-connections */
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
    int fd;        /* the listening socket, until evhttp owns it */
    int listen_fd; /* the same, once evhttp owns it */
    struct event_base *base;
    struct evhttp *http;
    struct event *adopt_ev;    /* adopts the connections in pending */
    Conn *pending;             /* accepted, not yet adopted */
    Conn *table[CONN_BUCKETS]; /* adopted, by evcon */
    RtMetrics metrics;         /* written by this worker only */
    KilnPool *pool;            /* its requests' threads; NULL with --threads-per-request 1 */
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

/* rt_listen(), or with `reuseport` a socket that joins the SO_REUSEPORT
 * group of the server's other workers. */
static int listen_socket(char err[RT_ERR_LEN], const char *host, int port, int reuseport) {
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
    /* SO_REUSEADDR only lets a restarted server bind over connections in
     * TIME_WAIT; Linux still refuses a port someone listens on. */
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0)) {
        snprintf(err, RT_ERR_LEN, "setsockopt: %s", strerror(errno));
        close(fd);
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&ss, sslen) != 0) {
        if (errno == EADDRINUSE)
            snprintf(err, RT_ERR_LEN,
                     "cannot listen on %s port %d: the port is already in use (another "
                     "process listens on it); stop that process or choose another --port",
                     host, port);
        else
            snprintf(err, RT_ERR_LEN, "cannot listen on %s port %d: %s", host, port,
                     strerror(errno));
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

int rt_listen(char err[RT_ERR_LEN], const char *host, int port) {
    return listen_socket(err, host, port, 0);
}

/* Makes the kernel hand each new connection of fd's SO_REUSEPORT group
 * to one of its first n sockets, at random: the workers' sockets, which
 * joined first. A socket another process binds later with SO_REUSEPORT
 * (same user) joins the group at index n or above and so is never
 * given a connection: two services cannot split the traffic. */
static int reuseport_seal(int fd, int n) {
    struct sock_filter code[] = {
        {BPF_LD | BPF_W | BPF_ABS, 0, 0, (uint32_t)(SKF_AD_OFF + SKF_AD_RANDOM)},
        {BPF_ALU | BPF_MOD | BPF_K, 0, 0, (uint32_t)n},
        {BPF_RET | BPF_A, 0, 0, 0},
    };
    struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};
    return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog);
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

/* Frees c and what it hooked into its bufferevent, which must still be
 * alive (evhttp frees it only after the close callback). */
static void conn_free(Conn *c) {
    if (c->in_cb) evbuffer_remove_cb_entry(c->in, c->in_cb);
    if (c->out_cb) evbuffer_remove_cb_entry(c->out, c->out_cb);
    if (c->deadline) event_free(c->deadline);
    if (c->fix) event_free(c->fix);
    free(c);
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
    if (c->overflow) atomic_fetch_sub(&w->s->n_over, 1);
    long long open = atomic_fetch_sub(&w->s->n_conns, 1);
    assert(open > 0);
    (void)open;
    conn_free(c);
}

/* A new request starts on c: its deadline runs from now. */
static void request_begin(Conn *c) {
    const RtServeOptions *o = c->w->s->o;
    int ms = o->request_timeout_ms;
    if (c->overflow && ms > HEADROOM_DEADLINE_MS) ms = HEADROOM_DEADLINE_MS;
    c->state = REQ_READING;
    c->got_bytes = c->head_text = c->head_done = c->head_over = 0;
    c->head_bytes = c->line_len = c->in_total = 0;
    c->content_length = -1;
    c->chunked = c->expect_continue = c->too_big = 0;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(c->deadline, &tv);
}

/* A header line of the head has ended: notes the few headers that tell
 * why evhttp may refuse the request (it does not say). */
static void header_note(Conn *c) {
    const char *l = c->line;
    if (c->line_len == 0 || c->line_len >= sizeof c->line) return; /* longer than these */
    if (strncmp(l, "content-length:", 15) == 0) {
        size_t v;
        const char *p = l + 15;
        while (*p == ' ' || *p == '\t')
            p++;
        char digits[24];
        size_t n = strcspn(p, " \t");
        if (n < sizeof digits) {
            memcpy(digits, p, n);
            digits[n] = '\0';
            c->content_length =
                rt_header_size_parse(digits, &v) == 0 && v <= INT64_MAX ? (long long)v : -1;
        }
    } else if (strncmp(l, "transfer-encoding:", 18) == 0) {
        c->chunked = strstr(l + 18, "chunked") != NULL;
    } else if (strncmp(l, "expect:", 7) == 0) {
        c->expect_continue = strstr(l + 7, "100-continue") != NULL;
    }
}

/* The head has ended. A client that waits for "100 Continue" before
 * sending a body over the limit would wait for ever (evhttp reads and
 * drops such a body before it answers): it is told 413 now. */
static void head_end(Conn *c) {
    c->head_done = 1;
    if (c->expect_continue && !c->chunked && c->content_length >= 0 &&
        (unsigned long long)c->content_length > c->w->s->o->max_body_bytes) {
        c->too_big = 1;
        event_active(c->fix, 0, 0);
    }
}

/* Follows the request head through the bytes of in from offset `from`:
 * counts them until the blank line that ends the head, and flags a head
 * over MAX_HEADERS_BYTES (the fix event then refuses it). Leading blank
 * lines, which HTTP lets a client send, do not end the head. */
static void head_scan(Conn *c, struct evbuffer *in, size_t from) {
    while (!c->head_done && !c->head_over) {
        struct evbuffer_ptr pos;
        struct evbuffer_iovec v[8];
        if (evbuffer_ptr_set(in, &pos, from, EVBUFFER_PTR_SET) != 0) return;
        int n = evbuffer_peek(in, -1, &pos, v, 8);
        if (n <= 0) return;
        for (int k = 0; k < n && k < 8 && !c->head_done && !c->head_over; k++) {
            const unsigned char *p = v[k].iov_base;
            for (size_t i = 0; i < v[k].iov_len; i++) {
                c->head_bytes++;
                if (p[i] == '\n') {
                    if (c->line_len == 0 && c->head_text) {
                        head_end(c);
                        break;
                    }
                    header_note(c);
                    c->line_len = 0;
                } else if (p[i] != '\r') {
                    if (c->line_len < sizeof c->line - 1) {
                        unsigned char ch = p[i];
                        c->line[c->line_len] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
                        c->line[c->line_len + 1] = '\0';
                    }
                    c->line_len++;
                    c->head_text = 1;
                }
                if (c->head_bytes > MAX_HEADERS_BYTES) {
                    c->head_over = 1;
                    event_active(c->fix, 0, 0);
                    break;
                }
            }
            from += v[k].iov_len;
        }
        if (n <= 8) return;
    }
}

/* Bytes came in on c (evhttp reads them right after this). */
static void conn_input(struct evbuffer *in, const struct evbuffer_cb_info *info, void *arg) {
    Conn *c = arg;
    if (info->n_added == 0 || !c->evcon) return;
    if (c->state == REQ_IDLE) request_begin(c);
    if (c->state != REQ_READING) return; /* a pipelined request: scanned once this one is done */
    c->got_bytes = 1;
    c->in_total += info->n_added;
    head_scan(c, in, evbuffer_get_length(in) - info->n_added);
}

/* Bytes go out on c. Outside reply_send() they are evhttp's own. */
static void conn_output(struct evbuffer *out, const struct evbuffer_cb_info *info, void *arg) {
    Conn *c = arg;
    if (info->n_added == 0 || c->in_reply || !c->evcon || c->foreign_at != SIZE_MAX) return;
    c->foreign_at = evbuffer_get_length(out) - info->n_added;
    event_active(c->fix, 0, 0); /* runs after evhttp wrote all of it, before a byte is sent */
}

static const char *status_reason(int status) {
    switch (status) {
    case 400:
        return "Bad Request";
    case 408:
        return "Request Timeout";
    case 413:
        return "Payload Too Large";
    case 417:
        return "Expectation Failed";
    case 431:
        return "Request Header Fields Too Large";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    default:
        return "Error";
    }
}

/* What a request refused before it reached the router was missing. */
static void refusal_text(const Conn *c, int status, char msg[RT_ERR_LEN]) {
    const RtServeOptions *o = c->w->s->o;
    switch (status) {
    case 400:
        snprintf(msg, RT_ERR_LEN,
                 "the request is not valid HTTP/1.1: check its request line, header lines, "
                 "Content-Length (a byte count) and chunked encoding");
        break;
    case 408:
        snprintf(msg, RT_ERR_LEN,
                 "the request did not arrive in full within --request-timeout-ms (%d ms); send "
                 "the head and body without pauses",
                 c->overflow && o->request_timeout_ms > HEADROOM_DEADLINE_MS
                     ? HEADROOM_DEADLINE_MS
                     : o->request_timeout_ms);
        break;
    case 413:
        snprintf(msg, RT_ERR_LEN,
                 "request body is over --max-body-bytes (%zu bytes); send a smaller batch",
                 o->max_body_bytes);
        break;
    case 417:
        snprintf(msg, RT_ERR_LEN, "the only Expect the server knows is '100-continue'");
        break;
    case 431:
        snprintf(msg, RT_ERR_LEN,
                 "the request line and headers are over %d bytes; send fewer or shorter headers",
                 MAX_HEADERS_BYTES);
        break;
    case 501:
        snprintf(msg, RT_ERR_LEN,
                 "the request's method is not one HTTP/1.1 defines; this server answers GET, "
                 "HEAD and POST");
        break;
    case 503:
        snprintf(msg, RT_ERR_LEN,
                 "the server has --max-connections (%d) connections open; retry later or on "
                 "another replica",
                 o->max_connections);
        break;
    default:
        snprintf(msg, RT_ERR_LEN, "the request was refused (HTTP %d)", status);
    }
}

/* A whole reply with a JSON error, for when evhttp does not write it. */
static char *refusal_build(int status, const char *msg, size_t *len) {
    size_t body_len = 0;
    char *body = rt_infer_error_json(msg, &body_len);
    if (!body) return NULL;
    RtBuf b;
    rt_buf_init(&b);
    rt_buf_printf(&b,
                  "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                  "%sConnection: close\r\n\r\n",
                  status, status_reason(status), body_len,
                  status == 503 ? "Retry-After: " RETRY_AFTER_S "\r\n" : "");
    rt_buf_put(&b, body, body_len);
    free(body);
    return rt_buf_take(&b, len);
}

static void refusal_log(Worker *w, int status, const char *msg) {
    RtBuf b;
    rt_buf_init(&b);
    log_begin(&b, "refused");
    rt_buf_printf(&b, ",\"worker\":%d,\"status\":%d,\"error\":", w->index, status);
    rt_buf_put_json_string(&b, msg);
    log_end(w->s->log_fd, &b);
}

/* Writes a JSON error straight to the socket of evcon and closes it; c
 * (NULL for a connection never adopted) is freed on the way. For a
 * connection evhttp is still reading: what the client already sent is
 * read first, so that closing does not reset the connection before the
 * client has read the answer. */
static void conn_refuse(Worker *w, Conn *c, struct evhttp_connection *evcon, int status) {
    char msg[RT_ERR_LEN], scratch[4096];
    Conn probe = {.w = w};
    refusal_text(c ? c : &probe, status, msg);
    size_t len = 0;
    char *text = refusal_build(status, msg, &len);
    int fd = bufferevent_getfd(evhttp_connection_get_bufferevent(evcon));
    for (int i = 0; fd >= 0 && i < 64 && recv(fd, scratch, sizeof scratch, MSG_DONTWAIT) > 0; i++)
        ;
    if (text && fd >= 0) {
        ssize_t n = send(fd, text, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        (void)n; /* best effort: the connection is closed either way */
        shutdown(fd, SHUT_WR);
    }
    free(text);
    refusal_log(w, status, msg);
    evhttp_connection_free(evcon); /* calls conn_closed for an adopted c */
}

/* evhttp wrote a reply of its own at c->foreign_at in c->out: let a
 * "100 Continue" through, and replace an error page (HTML) with the same
 * status and a JSON body. Nothing of it has been sent yet. */
static void foreign_rewrite(Conn *c) {
    struct evbuffer *out = c->out;
    size_t at = c->foreign_at, len = evbuffer_get_length(out);
    c->foreign_at = SIZE_MAX;
    for (;;) {
        char line[16] = "";
        struct evbuffer_ptr pos, end;
        if (at >= len || evbuffer_ptr_set(out, &pos, at, EVBUFFER_PTR_SET) != 0) return;
        if (evbuffer_copyout_from(out, &pos, line, sizeof line - 1) < 12) return;
        if (strncmp(line, "HTTP/1.", 7) != 0) return;
        int status = atoi(line + 9);
        if (status >= 400) {
            char msg[RT_ERR_LEN];
            if (status == 413 && c->head_over) status = 431;
            /* evhttp answers 413 to a malformed chunk too: if less than
             * the limit arrived, the chunks were at fault. */
            int bad_chunks = status == 413 && c->chunked && c->head_done &&
                             c->in_total - c->head_bytes <= c->w->s->o->max_body_bytes;
            if (bad_chunks) status = 400;
            refusal_text(c, status, msg);
            if (bad_chunks)
                snprintf(msg, RT_ERR_LEN,
                         "the chunked body is malformed: each chunk needs a line with its size "
                         "in hex, then that many bytes and CRLF, and a last chunk of size 0");
            size_t n = 0;
            char *text = refusal_build(status, msg, &n);
            struct evbuffer *keep = evbuffer_new();
            if (!text || !keep) { /* leave evhttp's page: it is still an answer */
                free(text);
                if (keep) evbuffer_free(keep);
                return;
            }
            c->in_reply = 1;
            evbuffer_remove_buffer(out, keep, at); /* what was queued before it */
            evbuffer_drain(out, len - at);
            evbuffer_add_buffer(out, keep);
            evbuffer_add(out, text, n);
            c->in_reply = 0;
            evbuffer_free(keep);
            free(text);
            refusal_log(c->w, status, msg);
            evtimer_del(c->deadline); /* evhttp closes the connection once this is sent */
            c->state = REQ_HANDLING;
            return;
        }
        end = evbuffer_search(out, "\r\n\r\n", 4, &pos); /* an interim reply: skip it */
        if (end.pos < 0) return;
        at = (size_t)end.pos + 4;
    }
}

static void conn_fix(evutil_socket_t fd, short what, void *arg) {
    Conn *c = arg;
    (void)fd, (void)what;
    if (!c->evcon) return;
    if (c->foreign_at != SIZE_MAX)
        foreign_rewrite(c);
    else if (c->head_over && c->state == REQ_READING)
        conn_refuse(c->w, c, c->evcon, 431); /* frees c */
    else if (c->too_big && c->state == REQ_READING)
        conn_refuse(c->w, c, c->evcon, RT_STATUS_TOO_LARGE); /* frees c */
}

/* The whole-request deadline passed. A connection that sent nothing of
 * a request is only closed; else the client is told 408. */
static void conn_deadline(evutil_socket_t fd, short what, void *arg) {
    Conn *c = arg;
    (void)fd, (void)what;
    if (!c->evcon || c->state != REQ_READING || c->foreign_at != SIZE_MAX) return;
    if (c->overflow) /* over --max-connections, and it asked for nothing in time */
        atomic_fetch_add_explicit(&c->w->metrics.conns_rejected, 1, memory_order_relaxed);
    if (c->got_bytes)
        conn_refuse(c->w, c, c->evcon, 408); /* frees c */
    else
        evhttp_connection_free(c->evcon); /* frees c */
}

/* evhttp asks for the bufferevent of each accepted connection. */
static struct bufferevent *conn_accepted(struct event_base *base, void *arg) {
    Worker *w = arg;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    Conn *c = calloc(1, sizeof *c);
    if (c) {
        c->foreign_at = SIZE_MAX;
        c->deadline = evtimer_new(base, conn_deadline, c);
        c->fix = event_new(base, -1, 0, conn_fix, c);
    }
    if (bev && c) {
        c->in = bufferevent_get_input(bev);
        c->out = bufferevent_get_output(bev);
        c->in_cb = evbuffer_add_cb(c->in, conn_input, c);
        c->out_cb = evbuffer_add_cb(c->out, conn_output, c);
    }
    if (!bev || !c || !c->deadline || !c->fix || !c->in_cb || !c->out_cb) {
        /* evhttp makes its own; this connection goes uncounted */
        if (c) conn_free(c);
        if (bev) bufferevent_free(bev);
        return NULL;
    }
    bufferevent_incref(bev);
    c->w = w;
    c->bev = bev;
    c->next = w->pending;
    w->pending = c;
    event_active(w->adopt_ev, 0, 0);
    return bev;
}

/* Closes this worker's connections whose clients have closed them while
 * they wait for a request, before evhttp has read the EOF: such
 * connections still count against --max-connections, and clients that
 * open a connection per request leave a few of them behind. Runs only
 * when a new connection is over the bound. */
static void conn_reap(Worker *w) {
    struct evhttp_connection *dead[64];
    int n = 0;
    for (size_t b = 0; b < CONN_BUCKETS && n < 64; b++) {
        for (Conn *c = w->table[b]; c && n < 64; c = c->next) {
            if (c->busy || c->state == REQ_HANDLING || (c->state == REQ_READING && c->got_bytes))
                continue;
            char ch;
            int fd = bufferevent_getfd(evhttp_connection_get_bufferevent(c->evcon));
            if (fd >= 0 && recv(fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT) == 0) dead[n++] = c->evcon;
        }
    }
    for (int i = 0; i < n; i++)
        evhttp_connection_free(dead[i]); /* conn_closed frees its Conn */
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
        if (!evcon) {
            struct bufferevent *bev = c->bev;
            conn_free(c);            /* before the decref, while the bufferevent is alive */
            bufferevent_decref(bev); /* frees it: evhttp already has */
            continue;
        }
        bufferevent_decref(c->bev); /* evhttp holds it too */
        c->bev = NULL;
        /* Counted from here: a burst of accepts in one turn of the loop
         * must not count against each other before they are adopted. */
        atomic_fetch_add(&s->n_conns, 1);
        if (atomic_load(&s->n_conns) - atomic_load(&s->n_over) > s->o->max_connections)
            conn_reap(w);
        if (atomic_load(&s->n_conns) - atomic_load(&s->n_over) > s->o->max_connections) {
            /* Over the bound: into the headroom if there is room (see the top). */
            if (atomic_fetch_add(&s->n_over, 1) >= HEADROOM_CONNS) {
                atomic_fetch_sub(&s->n_over, 1);
                atomic_fetch_add_explicit(&w->metrics.conns_rejected, 1, memory_order_relaxed);
                atomic_fetch_sub(&s->n_conns, 1);
                conn_free(c);
                conn_refuse(w, NULL, evcon, RT_STATUS_UNAVAILABLE); /* no close callback yet */
                continue;
            }
            c->overflow = 1;
        }
        c->evcon = evcon;
        c->next = w->table[conn_bucket(evcon)];
        w->table[conn_bucket(evcon)] = c;
        evhttp_connection_set_closecb(evcon, conn_closed, c);
        request_begin(c); /* the first request's deadline runs from accept */
    }
}

/* The reply on c has been written: the next request may begin. Bytes of
 * it may be waiting already (pipelining): then its deadline starts now. */
static void reply_done(struct evhttp_request *req, void *arg) {
    Conn *c = arg;
    (void)req;
    assert(c->evcon); /* only adopted connections get replies */
    if (c->busy) {
        c->busy = 0;
        atomic_fetch_sub(&c->w->s->n_busy, 1);
    }
    evtimer_del(c->deadline);
    c->state = REQ_IDLE;
    if (evbuffer_get_length(c->in) > 0) {
        request_begin(c);
        c->got_bytes = 1;
        c->in_total = evbuffer_get_length(c->in);
        head_scan(c, c->in, 0);
    }
}

/* --- replies --------------------------------------------------------------- */

/* What a handler knows about the request it answers. */
typedef struct Exchange {
    Worker *w;
    Conn *conn; /* NULL for a connection the server does not track */
    struct evhttp_request *req;
    RtEndpoint ep;
    int status;
    int close; /* answer with Connection: close */
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
    if (x->close || atomic_load_explicit(&x->w->s->draining, memory_order_relaxed))
        evhttp_add_header(h, "Connection", "close");
    if (evhttp_request_get_command(x->req) == EVHTTP_REQ_CONNECT) {
        char n[32];
        snprintf(n, sizeof n, "%zu", len);
        evhttp_add_header(h, "Content-Length", n);
    }
    if (len && evbuffer_add_reference(out, body, len, owned ? body_free : NULL, NULL) != 0) {
        if (owned) free((void *)body);
        status = RT_STATUS_INTERNAL_ERROR;
    }
    x->status = status;
    x->bytes_out = len;
    if (x->conn) x->conn->in_reply = 1; /* these bytes are ours, not evhttp's own */
    evhttp_send_reply(x->req, status, NULL, NULL);
    if (x->conn) x->conn->in_reply = 0;
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
    int st = rt_infer_run_pool(s->m, body, len, header_len, 1,
                               w->pool ? kiln_pool_abi(w->pool) : NULL, &res, err);
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
    if (c) {
        x.conn = c;
        c->state = REQ_HANDLING; /* all of it arrived: the deadline is met */
        evtimer_del(c->deadline);
        if (!c->busy) {
            c->busy = 1;
            atomic_fetch_add(&s->n_busy, 1);
        }
        evhttp_request_set_on_complete_cb(req, reply_done, c);
        /* Admission over the bound is provisional: connections whose
         * clients had closed them may have been counted still (their EOF
         * not yet read). If there is room now, this one is an ordinary
         * connection. */
        if (c->overflow &&
            atomic_load(&s->n_conns) - atomic_load(&s->n_over) >= s->o->max_connections)
            conn_reap(w);
        if (c->overflow &&
            atomic_load(&s->n_conns) - atomic_load(&s->n_over) < s->o->max_connections) {
            c->overflow = 0;
            atomic_fetch_sub(&s->n_over, 1);
        }
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
    if (cmd == EVHTTP_REQ_CONNECT) { /* no tunnels; evhttp would send its reply unframed */
        route.status = RT_STATUS_METHOD_NOT_ALLOWED;
        route.allow = "GET, HEAD, POST";
        snprintf(route.err, sizeof route.err, "CONNECT is not supported; use GET, HEAD or POST");
        x.close = 1;
    }
    x.ep = route_endpoint(route.kind);
    int probe = route.status == RT_STATUS_OK &&
                (route.kind == RT_ROUTE_LIVE || route.kind == RT_ROUTE_READY);
    char msg[RT_ERR_LEN];
    if (c && c->head_over) { /* all of a head over the limit arrived in one read */
        x.close = 1;
        refusal_text(c, 431, msg);
        reply_error(&x, 431, msg);
    } else if (c && c->overflow && !probe) {
        /* Over --max-connections: only the probes are answered (see the top). */
        x.close = 1;
        atomic_fetch_add_explicit(&w->metrics.conns_rejected, 1, memory_order_relaxed);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", RETRY_AFTER_S);
        refusal_text(c, RT_STATUS_UNAVAILABLE, msg);
        reply_error(&x, RT_STATUS_UNAVAILABLE, msg);
    } else if (route.needs_token && s->o->token &&
               !rt_auth_bearer_check(evhttp_find_header(headers, "Authorization"), s->o->token)) {
        /* Before the route's own status: without the token a client learns
         * nothing, not even which paths, methods or model names exist. */
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
                          "Bearer realm=\"kiln\"");
        reply_error(&x, RT_STATUS_UNAUTHORIZED,
                    "this endpoint needs a token: send the header 'Authorization: Bearer <token>'");
    } else if (route.status == RT_STATUS_METHOD_NOT_ALLOWED) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", route.allow);
        reply_error(&x, route.status, route.err);
    } else if (route.status != RT_STATUS_OK) {
        reply_error(&x, route.status, route.err);
    } else {
        int draining = atomic_load(&s->draining);
        if (c && c->overflow) x.close = 1; /* a probe over the bound: its slot is not kept */
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

static int documents_build(Server *s) {
    const KilnModel *m = s->m;
    char version[64];
    json_t *server = json_pack("{s:s, s:s, s:[s]}", "name", "kiln", "version",
                               rt_meta_kiln_version(m, version, sizeof version), "extensions",
                               "binary_tensor_data");
    json_t *meta = rt_meta_json(m);
    json_t *config = rt_meta_config_json(m, s->o->max_body_bytes, s->o->threads_per_request);
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
    /* The server limits the head itself (head_scan, 431); evhttp's limit
     * is only a backstop that never trips first. */
    evhttp_set_max_headers_size(w->http, 4 * MAX_HEADERS_BYTES);
    evhttp_set_max_body_size(w->http, (ev_ssize_t)o->max_body_bytes);
    /* Every method reaches the router, which answers 405 with Allow
     * (libevent would answer 501 for a method it was not told about). */
    evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH |
                                            EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT);
    /* Read (and drop, never store) the rest of a body over the limit, so
     * a client that sends it sees the 413 rather than a reset connection.
     * A client that claims a huge Content-Length and sends nothing is
     * closed after --timeout-ms without an answer, or told 408 once
     * --request-timeout-ms has passed. */
    evhttp_set_flags(w->http, EVHTTP_SERVER_LINGERING_CLOSE);
    evhttp_set_bevcb(w->http, conn_accepted, w);
    evhttp_set_gencb(w->http, request_handle, w);
    if (!evhttp_accept_socket_with_handle(w->http, w->fd)) {
        snprintf(err, RT_ERR_LEN, "cannot accept on worker %d's socket", w->index);
        return -1;
    }
    w->listen_fd = w->fd;
    w->fd = -1; /* evhttp owns it now */
    if (o->threads_per_request > 1 && !(w->pool = kiln_pool_create(o->threads_per_request))) {
        snprintf(err, RT_ERR_LEN, "cannot start worker %d's %d threads for its requests", w->index,
                 o->threads_per_request - 1);
        return -1;
    }
    return 0;
}

static void worker_teardown(Worker *w) {
    if (w->http) evhttp_free(w->http); /* closes the socket and every connection */
    while (w->pending) {
        Conn *c = w->pending;
        struct bufferevent *bev = c->bev;
        w->pending = c->next;
        conn_free(c); /* before the decref, while the bufferevent is alive */
        bufferevent_decref(bev);
    }
    if (w->adopt_ev) event_free(w->adopt_ev);
    if (w->base) event_base_free(w->base);
    if (w->fd >= 0) close(w->fd);
    kiln_pool_destroy(w->pool);
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
    /* A busy port fails here: the first bind is exclusive. With one
     * worker that socket is the server's. With more, each worker gets its
     * own socket in an SO_REUSEPORT group (the kernel spreads connections
     * over them; one socket shared by all loops makes them race for every
     * accept and lag), bound once the exclusive socket is closed, and the
     * group is sealed to the workers' sockets (reuseport_seal). */
    int excl = rt_listen(err, o->host, port);
    if (excl < 0) goto out;
    port = socket_port(excl);
    if (o->workers > 1) close(excl);
    for (int i = 0; i < o->workers; i++) {
        Worker *w = &s.workers[i];
        if (o->workers == 1)
            w->fd = excl;
        else if ((w->fd = listen_socket(err, o->host, port, 1)) < 0)
            goto out;
        if (worker_setup(w, err) != 0) goto out;
    }
    /* A kernel without reuseport BPF (before Linux 4.5) still serves;
     * the "ready" line then says that the port is not sealed. */
    int sealed = o->workers == 1 || reuseport_seal(s.workers[0].listen_fd, o->workers) == 0;

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

    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores > 0 && (long)o->workers * o->threads_per_request > cores) {
        rt_buf_init(&b);
        log_begin(&b, "warning");
        rt_buf_printf(&b,
                      ",\"message\":\"%d workers x %d threads per request = %ld threads on %ld "
                      "cores: requests will compete for the cores; give --workers %ld or fewer "
                      "with --threads-per-request %d\",\"workers\":%d,"
                      "\"threads_per_request\":%d,\"cores\":%ld",
                      o->workers, o->threads_per_request, (long)o->workers * o->threads_per_request,
                      cores,
                      cores / o->threads_per_request > 0 ? cores / o->threads_per_request : 1,
                      o->threads_per_request, o->workers, o->threads_per_request, cores);
        log_end(s.log_fd, &b);
    }
    rt_buf_init(&b);
    log_begin(&b, "ready");
    rt_buf_puts(&b, ",\"host\":");
    rt_buf_put_json_string(&b, o->host);
    rt_buf_printf(&b,
                  ",\"port\":%d,\"workers\":%d,\"threads_per_request\":%d,\"max_body_bytes\":%zu,"
                  "\"timeout_ms\":%d,\"request_timeout_ms\":%d,\"max_connections\":%d,"
                  "\"auth\":%s,\"port_sealed\":%s,\"model\":",
                  port, o->workers, o->threads_per_request, o->max_body_bytes, o->timeout_ms,
                  o->request_timeout_ms, o->max_connections, o->token ? "true" : "false",
                  sealed ? "true" : "false");
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
