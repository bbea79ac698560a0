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
 * them: the lone score's probit, one column (a second column is not
 * written). LINEAR is ORT's LinearClassifier (1.30, measured): t =
 * logistic(s) under LOGISTIC, else s (no other transform), then (1 - t, t). */
enum {
    KILN_ML_SECOND_NONE = -1,
    KILN_ML_SECOND_COMPLEMENT = 0,
    KILN_ML_SECOND_NEGATE = 2,
    KILN_ML_SECOND_LINEAR = 4,
};

/* ORT's write_scores, row by row: in is [rows, classes]; row r of out
 * starts at out + r * out_stride. classes >= 2: the transform over the row
 * (SOFTMAX and SOFTMAX_ZERO per row, LOGISTIC and PROBIT per element),
 * `classes` columns. classes == 1: as KILN_ML_SECOND_* above says, with
 * `second` for every row, or second_by_row[r] if that is not NULL. in and
 * out may be the same buffer (rows go last to first when out is the
 * wider, so a [rows, 1] score expands in place into [rows, 2]). Math in float, exp and log from
 * libm, as ORT. */
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

/* --- preprocessing and encoding ------------------------------------------------ */

/* Input types the numeric ONNX-ML kernels take (ONNX-ML's usual T of
 * float, double, int64, int32): X(C type, suffix). Outputs are float. */
#define KILN_ML_TYPES(X) X(float, f32) X(double, f64) X(int64_t, i64) X(int32_t, i32)

/* Normalizer's norm. */
enum { KILN_ML_NORM_MAX = 0, KILN_ML_NORM_L1 = 1, KILN_ML_NORM_L2 = 2 };

#define KILN_ML_DECLARE(T, sfx)                                                                    \
    /* Scaler: y = (x - offset) * scale along the last axis (x is [rows, C];                       \
     * offset and scale have 1 or C entries: n_off, n_sc). */                                      \
    void kiln_ml_scaler_##sfx(int64_t rows, int64_t C, const T *restrict x,                        \
                              const float *restrict offset, int64_t n_off,                         \
                              const float *restrict scale, int64_t n_sc, float *restrict y);       \
    /* Normalizer over each row of [rows, C], as ORT: MAX divides by the row's                     \
     * maximum (not its absolute value), L1 by the sum of |x|, L2 gives                            \
     * sign(x) * sqrt(x^2 / sum x^2); a row whose divisor is 0 is copied. */                       \
    void kiln_ml_normalizer_##sfx(int64_t rows, int64_t C, int32_t norm, const T *restrict x,      \
                                  float *restrict y);                                              \
    /* FeatureVectorizer's part of one input [rows, src_cols]: columns [0, take) of                \
     * each row go to dst columns [off, off + take), converted to float; columns                   \
     * [off + take, off + width) become 0. dst has dst_cols columns. */                            \
    void kiln_ml_columns_##sfx(int64_t rows, int64_t src_cols, const T *restrict x, int64_t take,  \
                               int64_t width, float *restrict dst, int64_t dst_cols, int64_t off); \
    /* OneHotEncoder: y[i, k] = 1 where x[i] (as int64; float truncates) is                        \
     * categories keys[k'] with pos[k'] = k, keys sorted ascending; y is [n, n_cats],              \
     * zeroed first. A value in no category leaves its row 0 if zeros, else fails                  \
     * with KILN_CHECK_CATEGORY (NaN is in none). Returns 0 or 1 (checked kernel). */              \
    int32_t kiln_ml_one_hot_##sfx(int64_t n, const T *restrict x, const int64_t *restrict keys,    \
                                  const int64_t *restrict pos, int64_t n_cats, int32_t zeros,      \
                                  float *restrict y, KilnRunError *restrict err);
KILN_ML_TYPES(KILN_ML_DECLARE)
#undef KILN_ML_DECLARE

/* Binarizer: y = x > threshold ? 1 : 0; NaN fails with KILN_CHECK_NAN, as
 * in ORT. Returns 0 or 1 (checked kernel). */
int32_t kiln_ml_binarizer_f32(int64_t n, float threshold, const float *restrict x,
                              float *restrict y, KilnRunError *restrict err);

/* Imputer over [rows, C]: an element equal to `replaced` (or NaN, when
 * replaced is NaN) becomes imputed[col] (imputed has C entries) or
 * imputed[0] (n_imp == 1); others are copied. */
void kiln_ml_imputer_f32(int64_t rows, int64_t C, const float *restrict x,
                         const float *restrict imputed, int64_t n_imp, float replaced,
                         float *restrict y);
void kiln_ml_imputer_i64(int64_t rows, int64_t C, const int64_t *restrict x,
                         const int64_t *restrict imputed, int64_t n_imp, int64_t replaced,
                         int64_t *restrict y);

/* ArrayFeatureExtractor: y[r, j] = x[r, idx[j]] for x [rows, C] of elements
 * of elem_size bytes (4 or 8: a string tensor's pointers are 8), y [rows,
 * k]. An index outside [0, C) fails with KILN_CHECK_RANGE (ORT refuses
 * negative ones too). Returns 0 or 1 (checked kernel). */
int32_t kiln_ml_array_feature_extractor(int64_t rows, int64_t C, int64_t elem_size,
                                        const void *restrict x, int64_t k,
                                        const int64_t *restrict idx, void *restrict y,
                                        KilnRunError *restrict err);

/* LabelEncoder between int64 and float: keys sorted ascending (float keys
 * hold no NaN), values[i] the value of keys[i]; an element of x that is no
 * key (NaN is none) gets dflt. */
void kiln_ml_label_encode_i64_i64(int64_t n, const int64_t *restrict x,
                                  const int64_t *restrict keys, const int64_t *restrict values,
                                  int64_t n_keys, int64_t dflt, int64_t *restrict y);
void kiln_ml_label_encode_i64_f32(int64_t n, const int64_t *restrict x,
                                  const int64_t *restrict keys, const float *restrict values,
                                  int64_t n_keys, float dflt, float *restrict y);
void kiln_ml_label_encode_f32_i64(int64_t n, const float *restrict x, const float *restrict keys,
                                  const int64_t *restrict values, int64_t n_keys, int64_t dflt,
                                  int64_t *restrict y);
/* int64 -> string: values and dflt point to constant strings. */
void kiln_ml_label_encode_i64_str(int64_t n, const int64_t *restrict x,
                                  const int64_t *restrict keys, const char *const *restrict values,
                                  int64_t n_keys, const char *dflt, const char **restrict y);
void kiln_ml_label_encode_f32_f32(int64_t n, const float *restrict x, const float *restrict keys,
                                  const float *restrict values, int64_t n_keys, float dflt,
                                  float *restrict y);

#endif
