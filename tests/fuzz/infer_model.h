/* infer_model.h: the model the two request harnesses (fuzz_infer_json.c,
 * fuzz_infer_binary.c) serve, and the checks they share.
 *
 * A hand-written KilnModel (the ABI of runtime/kiln_model.h, version 4)
 * whose inputs cover the request parser's cases: a symbol `batch` [1,
 * 2^20] shared by three inputs, a symbol `w` [1, 8], fixed dims, float,
 * half, integer and bool types, rank 0 to 3:
 *
 *     x     FP32   [batch, w]     ids   INT64  [batch, 2, 2]
 *     mask  BOOL   [batch]        h     FP16   [2]
 *     s     INT8   []             u     UINT64 [1, 2]
 *
 * Its outputs copy them back (y = x, n = sum of each row of ids, m =
 * mask, hh = h, uu = u). shapes() and run() abort on shapes that break
 * what the runtime promises (each dim fixed or within its bounds, one
 * value per symbol); run() reads every byte of every input, so a buffer
 * shorter than the shape shows up under ASan, and aborts on an input that
 * breaks what the parser promises (bools are 0 or 1; from JSON, floats
 * are finite).
 */
#ifndef INFER_MODEL_H
#define INFER_MODEL_H

#include <stddef.h>

#include "infer.h"

extern const KilnModel fuzz_infer_model;

/* Whether run() may assume finite floats: set for JSON-only requests. */
extern int fuzz_infer_finite_floats;

/* Checks what rt_infer_run() returned for a request: OK with a response
 * whose JSON part parses, or 400 with a message and no body. 500 is a
 * finding: this model never fails and the fuzzer's allocations are small. */
void fuzz_infer_check(int status, const RtInferResult *res, const char *err);

#endif
