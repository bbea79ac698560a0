/* rt.h: what every module of the service runtime (libkilnrt.a) shares.
 *
 * The runtime reports a failure to its caller as an HTTP-like status plus
 * a message written into a caller-owned buffer of RT_ERR_LEN bytes, as
 * Redis's anet.c does. Messages name the input or output at fault and say
 * what was expected; they never end with a newline. The runtime shares
 * only runtime/kiln_model.h with the compiler.
 */
#ifndef RT_H
#define RT_H

#define RT_ERR_LEN 512

enum {
    RT_STATUS_OK = 200,
    RT_STATUS_BAD_REQUEST = 400,  /* the request is at fault: the message says how */
    RT_STATUS_UNAUTHORIZED = 401, /* a token is required and was missing or wrong */
    RT_STATUS_NOT_FOUND = 404,    /* no such path, model or version */
    RT_STATUS_METHOD_NOT_ALLOWED = 405,
    RT_STATUS_TOO_LARGE = 413,      /* the body is over --max-body-bytes */
    RT_STATUS_INTERNAL_ERROR = 500, /* the model failed or memory ran out */
    RT_STATUS_UNAVAILABLE = 503,    /* not ready, or draining after SIGTERM */
};

/* Largest tensor, in bytes, a request may feed or make the model produce.
 * It keeps one request from taking the machine's memory. */
#define RT_TENSOR_MAX_BYTES ((size_t)1 << 30)

/* Largest workspace, in bytes, one request may make the model use. The
 * model's bounds already cap it; this keeps a model compiled with huge
 * bounds from letting one request take the machine's memory. */
#define RT_WORKSPACE_MAX_BYTES ((size_t)1 << 34)

#endif
