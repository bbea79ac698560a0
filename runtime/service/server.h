/* server.h: `OUT serve`, the Open Inference Protocol (KServe v2) over HTTP.
 *
 * Threading: the main thread first binds the port exclusively (a busy
 * port fails at start), then gives each worker its own listening socket
 * in an SO_REUSEPORT group that only the workers' sockets are served
 * from (a process that joins later gets no connections), starts
 * `workers` threads that each run their own libevent loop and evhttp
 * server, and then only waits for SIGTERM or SIGINT. A request is parsed, inferred and answered on
 * the worker that accepted its connection: the model's run() takes microseconds and is reentrant,
 * so there is no hand-off and no lock on the request path.
 *
 * Limits: --max-body-bytes (413 before the body is stored, whatever
 * Content-Length claims), 16 KiB of request line and headers (431),
 * --request-timeout-ms for the whole of each request, head and body,
 * from its first byte (from accept for the first request; 408), and
 * --timeout-ms of read/write inactivity per connection (a stalled client
 * is closed and never blocks others: every socket is non-blocking).
 * --max-connections bounds the open connections; past it a connection
 * is answered 503 with Retry-After, except the health probes, which are
 * still answered (a small headroom of connections is kept for them).
 * Every error the server or libevent gives is {"error": "..."} JSON.
 *
 * Draining: on SIGTERM/SIGINT readiness turns false (health/ready and
 * model ready answer 503, new infer requests 503, every reply carries
 * `Connection: close`), the server waits until no request is being
 * handled or answered (at most --timeout-ms), then stops the loops and
 * returns 0.
 *
 * Logs go to `log` as one JSON object per line: "ready" (with the port),
 * one "request" line per request (method, path, status, duration,
 * request id; never the token, never tensor data), one "refused" line
 * (status, error) per request refused before it reached the router (bad
 * HTTP, over a limit, too slow, over --max-connections), "draining",
 * "stopped". Every string in them is valid UTF-8 on one line, whatever
 * bytes the client sent.
 * The server owns everything it creates and frees it before returning.
 */
#ifndef SERVER_H
#define SERVER_H

#include <stddef.h>
#include <stdio.h>

#include "kiln_model.h"
#include "rt.h"

typedef struct RtServeOptions {
    const char *host;        /* an IPv4 or IPv6 literal, or "localhost" */
    int port;                /* 0: any free port (the ready line says which) */
    int workers;             /* >= 1 event-loop threads */
    int threads_per_request; /* >= 1: each worker runs its requests on a pool of this many
                                threads (itself and threads_per_request - 1 more) */
    size_t max_body_bytes;   /* larger bodies get 413 */
    int timeout_ms;          /* read/write inactivity per connection, and the drain bound */
    int request_timeout_ms;  /* a whole request, from its first byte (or accept) */
    int max_connections;     /* open connections in all */
    const char *token;       /* NULL: no token; else required on /v2 and /v2/models/... */
} RtServeOptions;

/* 0 if host is an address rt_listen() takes, else -1. */
int rt_host_check(const char *host);

/* A listening TCP socket on host:port with SO_REUSEADDR (never
 * SO_REUSEPORT), non-blocking. Returns the fd, or -1 with the reason in
 * err, which names the host and port (and says so if the port is in
 * use). The host is parsed without name lookups (a static binary has no
 * NSS). */
int rt_listen(char err[RT_ERR_LEN], const char *host, int port);

/* Serves m until SIGTERM or SIGINT, then drains. 0 after a clean drain,
 * -1 if the server could not start (err says why). */
int rt_server_run(const KilnModel *m, const RtServeOptions *o, FILE *log, char err[RT_ERR_LEN]);

#endif
