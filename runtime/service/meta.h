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

/* 0 if the runtime can serve m: the ABI version matches, every tensor has
 * a name, a fixed-size dtype with a v2 name, rank >= 0 and dims >= -1.
 * Otherwise -1 with the reason in err. Callers check once at start-up;
 * the rest of the runtime relies on it. */
int rt_meta_check(const KilnModel *m, char err[RT_ERR_LEN]);

/* The v2 model metadata object: {"name", "versions": [version], "platform":
 * "kiln", "inputs": [{"name", "datatype", "shape"}], "outputs": [...],
 * "sha256", "build": <build_info parsed, or null if it is not a JSON
 * object>}. Batch dims are -1. NULL if memory ran out. */
json_t *rt_meta_json(const KilnModel *m);

/* The kiln version that compiled m, from build_info's "kiln_version" (or
 * "kiln") string, else the version of this runtime. Written into out. */
char *rt_meta_kiln_version(const KilnModel *m, char *out, size_t n);

#endif
