/* dyn.h: kernels of the ops whose output size depends on the data
 * (compiler/ir/ops_dyn.def): NonZero, Compress, Unique, NonMaxSuppression,
 * and the run-time k of TopK.
 *
 * Each writes the size it found into *count (a slot of the run's symbol
 * array: the data-dependent symbol of dim.h), then its outputs, dense at
 * that size, into buffers the caller planned at the size's upper bound.
 * Conventions as in kernels.h: no allocation, restrict operands; `scratch`
 * is the node's planned scratch of the size the comment gives.
 */
#ifndef KILN_DYN_H
#define KILN_DYN_H

#include <stdint.h>

#include "kernels.h"

/* The nonzero elements of x (rank dims[0..rank), numel elements), in
 * row-major order: out is [rank, count], row k the index along dim k. */
#define KILN_DECL_NONZERO(T, sfx, kind)                                                            \
    void kiln_nonzero_##sfx(int64_t numel, int32_t rank, const int64_t *restrict dims,             \
                            const T *restrict x, int64_t *restrict out, int64_t *restrict count);
KILN_FOR_MATH_TYPES(KILN_DECL_NONZERO)
#undef KILN_DECL_NONZERO

/* x viewed as [outer, len, inner] of elements of esize bytes: the slices
 * i < min(len, cond_len) with cond[i] != 0, in order, into out [outer,
 * count, inner]. */
void kiln_compress(int64_t outer, int64_t len, int64_t inner, int64_t esize,
                   const uint8_t *restrict cond, int64_t cond_len, const uint8_t *restrict x,
                   uint8_t *restrict out, int64_t *restrict count);

/* Unique over the middle axis of x viewed as [outer, len, inner]: slice i
 * is the outer*inner elements x[o, i, j], compared lexicographically in
 * (o, j) order. Writes the count of distinct slices, then y [outer, count,
 * inner] the distinct slices (ascending if sorted, else by first
 * occurrence), first [count] the index of each one's first occurrence,
 * inverse [len] which output slice each input slice is, counts [count]
 * how often each occurs. Any output pointer may be NULL. scratch: 7 * len
 * int64_t. */
#define KILN_DECL_UNIQUE(T, sfx, kind)                                                             \
    void kiln_unique_##sfx(int32_t sorted, int64_t outer, int64_t len, int64_t inner,              \
                           const T *restrict x, T *restrict y, int64_t *restrict first,            \
                           int64_t *restrict inverse, int64_t *restrict counts,                    \
                           int64_t *restrict scratch, int64_t *restrict count);
KILN_FOR_MATH_TYPES(KILN_DECL_UNIQUE)
#undef KILN_DECL_UNIQUE

/* NonMaxSuppression as ONNX Runtime computes it: boxes [batches, n, 4],
 * scores [batches, classes, n]; for each batch and class, the boxes whose
 * score is above score_threshold (if given, else all), by descending
 * score (ties by index), each kept unless its IoU with one kept before
 * exceeds iou_threshold, at most max_out per class. out is [count, 3] of
 * (batch, class, box). center: boxes are (x, y, w, h) centres, else
 * corners (y1, x1, y2, x2) in either order. max_out, iou and score may be
 * NULL: 0, 0 and no threshold. scratch: 3 * n int64_t. */
void kiln_nms(int32_t center, int64_t batches, int64_t classes, int64_t n,
              const float *restrict boxes, const float *restrict scores,
              const int64_t *restrict max_out, const float *restrict iou,
              const float *restrict score, int64_t *restrict scratch, int64_t *restrict out,
              int64_t *restrict count);

/* A count read at run time (TopK's k): *k into *count if 0 <= *k <= max,
 * else 1 with KILN_CHECK_COUNT in *err. Checked (kiln_kernel_abi.h). */
int32_t kiln_count_check(const int64_t *restrict k, int64_t max, int64_t *restrict count,
                         KilnRunError *restrict err);

/* StringNormalizer over the n strings x (a string tensor: const char *[n]):
 * drops those equal to one of the n_stop stopwords (ASCII case-insensitive
 * unless case_sensitive), then maps the rest to ASCII lower case (action
 * 1), upper case (2) or leaves them (0). y [count] gets the kept strings
 * in order, or one empty string if none is kept (count 1, as ONNX says).
 * Unchanged strings point into x (the caller's input); case-changed ones
 * into bytes, cap bytes per input string (the node's scratch, which lives
 * for the whole run): a string of cap bytes or more is 1 with
 * KILN_CHECK_LENGTH in *err. Checked (kiln_kernel_abi.h). */
int32_t kiln_string_normalizer(int64_t n, const char *const *restrict x,
                               const char *const *restrict stop, int64_t n_stop,
                               int32_t case_sensitive, int32_t action, int64_t cap,
                               char *restrict bytes, const char **restrict y,
                               int64_t *restrict count, KilnRunError *restrict err);

#endif
