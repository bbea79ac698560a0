/* meta.h: what a compiled model looks like in the Open Inference Protocol
 * (KServe v2): datatype names, shapes as text, and the model metadata
 * object that `OUT info --json` prints and `GET /v2/models/{m}` returns.
 *
 * Everything here reads the model's static tables (kiln_model.h) and owns
 * nothing; rt_meta_json() returns a new jansson reference that the caller
 * releases with json_decref().
 */
#ifndef META_H
#define META_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "kiln_model.h"
#include "rt.h"

/* The v2 name of a KILN_DT_* type ("FP32", "INT64", "BOOL", "BYTES", ...),
 * NULL if there is none. */
const char *rt_dtype_name(int dtype);

/* The KILN_DT_* type of a v2 datatype name, 0 if the name is unknown.
 * Names are case-sensitive, as in the protocol. */
int rt_dtype_from_name(const char *name);

/* Writes a shape as "[-1,30]" into out (always NUL-terminated; a shape too
 * long for n bytes ends with "...]"). Returns out, so it can be an
 * argument of a printf. */
char *rt_shape_format(char *out, size_t n, const int64_t *shape, int rank);

/* Writes a model tensor's shape as its dims' text, "[batch,len/2,3]"
 * (KilnTensorInfo.dims; the number, -1 if dynamic, where a dim has no
 * text), truncated like rt_shape_format(). Returns out. */
char *rt_dims_format(char *out, size_t n, const KilnTensorInfo *t);

/* Writes the model's symbols with their bounds, "batch [1, 64], seq [1,
 * 512]", or "none" if every dim is fixed. Returns out. */
char *rt_syms_format(char *out, size_t n, const KilnModel *m);

/* The batch: the symbol (KilnModel.syms index) that is dim 0 of every
 * input whose dim 0 is dynamic (inputs with a fixed dim 0, or rank 0, do
 * not count); -1 if there is none, or if two inputs' dim 0 differ. What
 * `bench --batch` sets and what the metrics count as rows. */
int rt_meta_batch_sym(const KilnModel *m);

/* 0 if the runtime can serve m: the ABI version matches, the table has
 * its functions, every symbol a name and bounds 0 <= min <= max, every
 * tensor a name, a fixed-size dtype with a v2 name, rank >= 0, dims >= -1
 * with bounds tables (min == max == shape for a fixed dim) and symbol
 * indices in range. Otherwise -1 with the reason in err. Callers check
 * once at start-up; the rest of the runtime relies on it. */
int rt_meta_check(const KilnModel *m, char err[RT_ERR_LEN]);

/* The v2 model metadata object: {"name", "versions": [version], "platform":
 * "kiln", "inputs": [{"name", "datatype", "shape"}], "outputs": [...],
 * "sha256", "build": <build_info parsed, or null if it is not a JSON
 * object>}. Dynamic dims are -1; a tensor with one also has "dims": its
 * dims as text (["batch", "seq", "768"]), and a model with symbols has
 * "symbols": [{"name", "min", "max"}]. NULL if memory ran out. */
json_t *rt_meta_json(const KilnModel *m);

/* The model configuration in Triton's form, which `GET
 * /v2/models/{m}/config` returns: {"name", "versions", "platform",
 * "backend", "max_batch_size", "input": [{"name", "data_type", "datatype",
 * "dims", "shape"}], "output": [...], "parameters": {"max_body_bytes",
 * "threads_per_request"}}. max_batch_size is 0 unless one symbol is dim 0
 * of every input and output; then it is that symbol's max, capped so that
 * the rows' inputs fit in max_body_bytes and each tensor in
 * RT_TENSOR_MAX_BYTES, and "dims" leave dim 0 out, as Triton's do.
 * Dynamic dims are -1. NULL if memory ran out. */
json_t *rt_meta_config_json(const KilnModel *m, size_t max_body_bytes, int threads_per_request);

/* The kiln version that compiled m, from build_info's "kiln_version" (or
 * "kiln") string, else the version of this runtime. Written into out. */
char *rt_meta_kiln_version(const KilnModel *m, char *out, size_t n);

#endif
