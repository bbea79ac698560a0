/* infer.h: one Open Inference Protocol (KServe v2) inference request in
 * JSON, from request text to response text.
 *
 * rt_infer_json() is the whole request path that `OUT predict` and the
 * HTTP server share: parse the request, check it against the model's
 * signature, convert its data into dense buffers, run the model and write
 * the response. It keeps no state between calls, so threads may call it
 * at once on the same model (a server calls json_object_seed(0) before
 * starting them, as jansson asks). Every buffer of a request is allocated
 * and freed inside the call; only the response text outlives it, owned by
 * the caller.
 *
 * The request is checked before anything is sized by it: a buffer is
 * allocated only after the number of values in the JSON matches the
 * product of the shape, so a request can never make the runtime allocate
 * more than a small multiple of its own size (besides the outputs and the
 * workspace, which the model's bounds limit), no tensor exceeds
 * RT_TENSOR_MAX_BYTES and no workspace RT_WORKSPACE_MAX_BYTES.
 *
 * Request: {"id"?: string, "parameters"?: object, "inputs": [{"name",
 * "shape", "datatype", "data", "parameters"?}], "outputs"?: [{"name"}]}.
 * "data" is flat (row-major) or nested to exactly the shape's depth.
 * Every model input must be present once, with the model's datatype and
 * rank, its fixed dims, each dynamic dim within the model's bounds, and
 * one value per symbol: two inputs (or dims) with the same symbol (`batch`,
 * `seq`) must agree. The model's shapes() then checks what it derives
 * from the dims and gives the output shapes; outputs carry their actual
 * shapes.
 * Integer types take JSON integers in range (UINT64 only up to
 * 2^63 - 1, jansson's limit), BOOL takes true/false, float types take
 * any number that fits. An empty or absent "outputs" means all outputs.
 *
 * Response: {"model_name", "model_version", "id" (if the request had one),
 * "outputs": [{"name", "datatype", "shape", "data": flat array}]}, in the
 * requested order, else the model's. Floats are written with enough
 * digits to read back bit-exactly. JSON has no NaN or infinity: such
 * values are written as null, and that output object then carries
 * "parameters": {"non_finite_values": N} so clients can tell.
 *
 * The binary tensor extension (rt_infer_run() with header_len < len, as
 * the HTTP header Inference-Header-Content-Length says): the first
 * header_len bytes are the JSON request, the rest holds, in request
 * order, the raw little-endian bytes of every input whose "parameters"
 * has "binary_data_size" (which must then equal the tensor's size in
 * bytes; such an input has no "data"). Every byte after the JSON must
 * belong to one input. An output asked for with "parameters":
 * {"binary_data": true} (or every output, with the request's
 * "parameters": {"binary_data_output": true}) is sent the same way: its
 * JSON object has "parameters": {"binary_data_size": N} instead of
 * "data", and its bytes follow the JSON response in response order.
 */
#ifndef INFER_H
#define INFER_H

#include <stddef.h>
#include <stdint.h>

#include "kiln_model.h"
#include "rt.h"

#define RT_INFER_ID_LEN 65 /* the request "id" kept for logs, NUL included */

/* What rt_infer_run() hands back besides the status. */
typedef struct RtInferResult {
    char *body;               /* malloc'd: JSON response, then binary outputs; caller frees */
    size_t len;               /* bytes of body */
    size_t json_len;          /* bytes of JSON at the start of body; == len if none is binary */
    int64_t batch;            /* rows inferred (the value of the symbol that is every
                                 input's dim 0, else 1), 0 if the model did not run */
    uint64_t parse_ns;        /* time from the call to the start of run() */
    uint64_t compute_ns;      /* time spent in run() */
    char id[RT_INFER_ID_LEN]; /* the request's "id", truncated; "" if none */
} RtInferResult;

/* Runs one request of len bytes whose first header_len bytes are JSON
 * (header_len == len: no binary data) on m, which passed
 * rt_meta_check(). Returns RT_STATUS_OK with res filled in (res->body
 * owned by the caller), or RT_STATUS_BAD_REQUEST / RT_STATUS_INTERNAL_ERROR
 * with res->body NULL and the reason in err. `binary_outputs` 0 refuses
 * requests for binary outputs (for callers that can only write text).
 * Safe to call from many threads at once. */
int rt_infer_run(const KilnModel *m, const char *body, size_t len, size_t header_len,
                 int binary_outputs, RtInferResult *res, char err[RT_ERR_LEN]);
/* The same, with run() given pool (NULL: the calling thread only), which
 * this call owns until it returns (kiln_model.h). */
int rt_infer_run_pool(const KilnModel *m, const char *body, size_t len, size_t header_len,
                      int binary_outputs, KilnThreadPool *pool, RtInferResult *res,
                      char err[RT_ERR_LEN]);

/* Runs one request (body, len bytes, not NUL-terminated) on m, which
 * passed rt_meta_check(). Returns RT_STATUS_OK with the response in
 * *response_out (malloc'd, NUL-terminated, caller frees; its length in
 * *response_len unless that is NULL), or RT_STATUS_BAD_REQUEST /
 * RT_STATUS_INTERNAL_ERROR with *response_out NULL and the reason in err.
 * Messages name the input or output at fault and what was expected. */
int rt_infer_json(const KilnModel *m, const char *body, size_t len, char **response_out,
                  size_t *response_len, char err[RT_ERR_LEN]);

/* {"error": msg} as malloc'd text (caller frees), NULL if memory ran out. */
char *rt_infer_error_json(const char *msg, size_t *len_out);

#endif
