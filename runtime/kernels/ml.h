/* ml.h: kernels of the ONNX-ML ops (compiler/ir/ops_ml.def): the score
 * post-transforms and class-label selection that classifiers share (the
 * linear ones in compiler/codegen/emit_ml.c and the tree ensembles in
 * emit_tree.c), and the preprocessing ops.
 *
 * Semantics follow ONNX Runtime's CPU provider (ml_common.h and the op
 * kernels), which is the reference every ONNX-ML exporter is tested
 * against; where the ONNX-ML spec leaves a case open (a lone binary score,
 * ties) the comment says what ORT does and the kernel does the same.
 * Conventions as in kernels.h: no allocation, restrict operands; a string
 * tensor is an array of `const char *` (NUL-terminated, pointing into the
 * model's constants).
 */
#ifndef KILN_ML_H
#define KILN_ML_H

#include <stdint.h>

#include "kernels.h"

/* post_transform, as the attribute spells it (the order is ONNX-ML's). */
enum {
    KILN_ML_POST_NONE = 0,
    KILN_ML_POST_SOFTMAX = 1,
    KILN_ML_POST_LOGISTIC = 2,
    KILN_ML_POST_SOFTMAX_ZERO = 3,
    KILN_ML_POST_PROBIT = 4,
};

/* How a classifier with a single score per row makes two columns of it
 * (ORT's add_second_class, which the tree ensembles choose per row):
 * KILN_ML_SECOND_NONE writes the lone score; COMPLEMENT writes (1 - s, s)
 * and applies no transform (ORT's cases 0 and 1: all weights positive);
 * NEGATE writes (logistic(-s), logistic(s)) under LOGISTIC and (-s, s)
 * otherwise (ORT's cases 2 and 3: mixed weights). PROBIT overrides all of
 * them: the lone score's probit, one column. */
enum {
    KILN_ML_SECOND_NONE = -1,
    KILN_ML_SECOND_COMPLEMENT = 0,
    KILN_ML_SECOND_NEGATE = 2,
};

/* ORT's write_scores, row by row: in is [rows, classes]; row r of out
 * starts at out + r * out_stride. classes >= 2: the transform over the row
 * (SOFTMAX and SOFTMAX_ZERO per row, LOGISTIC and PROBIT per element),
 * `classes` columns. classes == 1: as KILN_ML_SECOND_* above says, with
 * `second` for every row, or second_by_row[r] if that is not NULL. in and
 * out may be the same buffer when out_stride == classes (the transform is
 * in place). Math in float, exp and log from libm, as ORT. */
void kiln_ml_write_scores(int64_t rows, int64_t classes, int32_t transform, int32_t second,
                          const int32_t *second_by_row, const float *in, float *out,
                          int64_t out_stride);

/* The winning class of each row of scores [rows, classes] (row stride
 * `stride`): the first index holding the maximum (a later equal score does
 * not win; NaN never wins, so an all-NaN row gives class 0), as ORT's
 * LinearClassifier. out[r] = labels[that index]. */
void kiln_ml_argmax_label_i64(int64_t rows, int64_t classes, const float *restrict scores,
                              int64_t stride, const int64_t *restrict labels,
                              int64_t *restrict out);
void kiln_ml_argmax_label_str(int64_t rows, int64_t classes, const float *restrict scores,
                              int64_t stride, const char *const *restrict labels,
                              const char **restrict out);

/* Binary decision on one score per row (row stride `stride`): out[r] =
 * scores[r * stride] > threshold ? labels[1] : labels[0] (NaN: labels[0]). */
void kiln_ml_binary_label_i64(int64_t rows, const float *restrict scores, int64_t stride,
                              float threshold, const int64_t *restrict labels,
                              int64_t *restrict out);
void kiln_ml_binary_label_str(int64_t rows, const float *restrict scores, int64_t stride,
                              float threshold, const char *const *restrict labels,
                              const char **restrict out);

#endif
