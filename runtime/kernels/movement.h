/* movement.h: data movement kernels (Transpose, Slice, Concat, Pad, Gather,
 * Resize, ...), declared for codegen's emit_shape.c and the unit tests.
 *
 * Moving data does not look at values, so most kernels exist once per
 * element size rather than per type: suffix b1, b2, b4, b8 (uint8_t ..
 * uint64_t). Kernels that compute (scatter with a reduction, linear and
 * cubic resize) are typed like the rest of kernels.h.
 */
#ifndef KILN_MOVEMENT_H
#define KILN_MOVEMENT_H

#include <stdint.h>

#include "kernels.h"

/* X(C type, suffix): the element sizes of type-agnostic kernels. */
#define KILN_FOR_ELEM_SIZES(X) X(uint8_t, b1) X(uint16_t, b2) X(uint32_t, b4) X(uint64_t, b8)

/* A table entry (or sum of entries) below zero selects the fill value. */
#define KILN_TABLE_FILL (INT64_MIN / 8)

#define KILN_DECLARE_MOVEMENT(T, sfx)                                                              \
    /* y[i0..i5] (strides ys) = x[i0*xs0 + ... + i5*xs5]; strides may be 0 or negative. */         \
    void kiln_strided_copy_##sfx(int64_t d0, int64_t d1, int64_t d2, int64_t d3, int64_t d4,       \
                                 int64_t d5, const T *restrict x, int64_t xs0, int64_t xs1,        \
                                 int64_t xs2, int64_t xs3, int64_t xs4, int64_t xs5,               \
                                 T *restrict y, int64_t ys0, int64_t ys1, int64_t ys2,             \
                                 int64_t ys3, int64_t ys4, int64_t ys5);                           \
    /* y dense [outer, d1..d4]: s = t1[i1]+t2[i2]+t3[i3]+t4[i4];                                   \
     * y = s < 0 ? fill : x[o * x_os + s]. Pad (all modes) and nearest Resize. */                  \
    void kiln_table_gather_##sfx(                                                                  \
        int64_t outer, int64_t x_os, int64_t d1, int64_t d2, int64_t d3, int64_t d4,               \
        const int64_t *restrict t1, const int64_t *restrict t2, const int64_t *restrict t3,        \
        const int64_t *restrict t4, uint64_t fill, const T *restrict x, T *restrict y);            \
    /* Gather: y[o, j, i] = x[o, idx[j], i] (x is [outer, axis_len, inner]); negative indices      \
     * count from the end. Checked (kiln_kernel_abi.h): every index in [-axis_len, axis_len). */   \
    int32_t kiln_gather_##sfx##_i64(int64_t outer, int64_t n_idx, int64_t inner, int64_t axis_len, \
                                    const T *restrict x, const int64_t *restrict idx,              \
                                    T *restrict y, KilnRunError *restrict err);                    \
    int32_t kiln_gather_##sfx##_i32(int64_t outer, int64_t n_idx, int64_t inner, int64_t axis_len, \
                                    const T *restrict x, const int32_t *restrict idx,              \
                                    T *restrict y, KilnRunError *restrict err);                    \
    /* GatherElements over `rank` dims (of the index tensor, dims[]): y[i] = x at i with           \
     * coordinate `axis` replaced by idx[i]; xs[] are x's strides. Checked like Gather. */         \
    int32_t kiln_gather_elements_##sfx##_i64(                                                      \
        int rank, const int64_t *restrict dims, const int64_t *restrict xs, int axis,              \
        int64_t axis_len, const T *restrict x, const int64_t *restrict idx, T *restrict y,         \
        KilnRunError *restrict err);                                                               \
    int32_t kiln_gather_elements_##sfx##_i32(                                                      \
        int rank, const int64_t *restrict dims, const int64_t *restrict xs, int axis,              \
        int64_t axis_len, const T *restrict x, const int32_t *restrict idx, T *restrict y,         \
        KilnRunError *restrict err);                                                               \
    /* GatherND: for each of n_batch batches and n_idx index tuples of length k, copy the          \
     * slice_len elements at x + b*x_bs + sum_j idx[j] * xs[j]. Checked: idx[j] in                 \
     * [-dims[j], dims[j]) (negative counts from the end). */                                      \
    int32_t kiln_gather_nd_##sfx(                                                                  \
        int64_t n_batch, int64_t x_bs, int64_t n_idx, int k, const int64_t *restrict dims,         \
        const int64_t *restrict xs, int64_t slice_len, const T *restrict x,                        \
        const int64_t *restrict idx, T *restrict y, KilnRunError *restrict err);                   \
    /* Trilu on [batch, rows, cols]: keeps j - i >= k (upper) or j - i <= k (lower), else 0. */    \
    void kiln_trilu_##sfx(int64_t batch, int64_t rows, int64_t cols, int64_t k, int upper,         \
                          const T *restrict x, T *restrict y);                                     \
    /* y[n] = value (its bits in the low bytes of `bits`). */                                      \
    void kiln_fill_##sfx(int64_t n, uint64_t bits, T *restrict y);                                 \
    /* EyeLike on [batch, rows, cols]: `one` on the diagonal j - i == k, zero elsewhere. */        \
    void kiln_eye_##sfx(int64_t batch, int64_t rows, int64_t cols, int64_t k, uint64_t one,        \
                        T *restrict y);
KILN_FOR_ELEM_SIZES(KILN_DECLARE_MOVEMENT)

enum { KILN_SCATTER_NONE = 0, KILN_SCATTER_ADD = 1, KILN_SCATTER_MUL = 2 };

/* Scatters run on y, which already holds a copy of the data input. Both
 * are checked like the gathers, before anything is written. */
#define KILN_DECLARE_SCATTER(T, sfx, kind)                                                         \
    /* ScatterElements: y at (index i of updates, coordinate `axis` replaced by idx[i]) op=        \
     * upd[i]; dims[] are the updates' dims, ys[] y's strides. */                                  \
    int32_t kiln_scatter_elements_##sfx(int rank, const int64_t *restrict dims,                    \
                                        const int64_t *restrict ys, int axis, int64_t axis_len,    \
                                        const int64_t *restrict idx, const T *restrict upd,        \
                                        int reduction, T *restrict y, KilnRunError *restrict err); \
    /* ScatterND: for each of n_idx tuples of length k, the slice_len elements at                  \
     * y + sum_j idx[j] * ys[j] op= upd (idx[j] in [-dims[j], dims[j])). */                        \
    int32_t kiln_scatter_nd_##sfx(int64_t n_idx, int k, const int64_t *restrict dims,              \
                                  const int64_t *restrict ys, int64_t slice_len,                   \
                                  const int64_t *restrict idx, const T *restrict upd,              \
                                  int reduction, T *restrict y, KilnRunError *restrict err);
KILN_FOR_NUMERIC_TYPES(KILN_DECLARE_SCATTER)

/* One axis of a linear or cubic Resize: x is [outer, in_len, inner], y is
 * [outer, out_len, inner]; output position j reads taps positions
 * idx[j*taps + t] (already clamped) with weights w[j*taps + t]; idx[j*taps]
 * < 0 writes `extrapolation` instead (tf_crop_and_resize). */
void kiln_resize_axis_f32(int64_t outer, int64_t in_len, int64_t out_len, int64_t inner, int taps,
                          const int64_t *restrict idx, const float *restrict w, float extrapolation,
                          const float *restrict x, float *restrict y);

/* Resize taps of one axis computed at run time, as the compiler computes
 * them for static sizes (kiln_resize.h; mode, ctm, nearest_mode: its
 * enums): input size in_len to out_len, `given` the scale given (> 0) or 0
 * for sizes. taps == 0 (nearest): a table-gather table, idx[j] = the input
 * position read times `stride`, KILN_TABLE_FILL where tf_crop_and_resize
 * extrapolates; else idx[j*taps + t] and w[j*taps + t] for
 * kiln_resize_axis_f32. */
void kiln_resize_taps(int mode, int ctm, int nearest_mode, int exclude_outside, double cubic_a,
                      double given, double roi0, double roi1, int64_t in_len, int64_t out_len,
                      int taps, int64_t stride, int64_t *restrict idx, float *restrict w);
/* Pad's table-gather table of one axis: t[j] = the input position output j
 * reads times `stride` (mode 0 constant: KILN_TABLE_FILL outside the
 * input; 1 edge; 2 reflect), output j reading input j - begin. */
void kiln_pad_table(int64_t in_len, int64_t out_len, int64_t begin, int mode, int64_t stride,
                    int64_t *restrict t);

#endif
