/* misc.h: kernels of compiler/ir/ops_misc.def (Einsum, OneHot, Det,
 * ReverseSequence, MaxUnpool, Bernoulli). Conventions as in kernels.h;
 * the byte-wise kernels (es: bytes per element) serve every element type.
 */
#ifndef KILN_MISC_H
#define KILN_MISC_H

#include <stdint.h>

#include "kernels.h"

#define KILN_MISC_DECLARE(T, sfx, kind)                                                            \
    /* Einsum: y[out labels] = sum over the other labels of the product of                         \
     * the operands. sizes[n_labels]; ranks[n_ops + 1] and labels (each                            \
     * operand's axes' labels, then the output's, packed; -1: an axis of                           \
     * size 1 that broadcasts) describe the operands ops[n_ops] and y. */                          \
    void kiln_einsum_##sfx(int32_t n_ops, int32_t n_labels, const int64_t *restrict sizes,         \
                           const int32_t *restrict ranks, const int32_t *restrict labels,          \
                           const T *const *restrict ops, T *restrict y);                           \
    /* OneHot: indices viewed as [outer, inner]; y [outer, depth, inner] is                        \
     * values[1] where the index (cast to int64, + depth if negative) is d,                        \
     * else values[0]; an index outside [-depth, depth) gives all values[0].                       \
     * values and y have es bytes per element. */                                                  \
    void kiln_one_hot_##sfx(int64_t outer, int64_t depth, int64_t inner,                           \
                            const T *restrict indices, const void *restrict values, int64_t es,    \
                            void *restrict y);
KILN_FOR_NUMERIC_TYPES(KILN_MISC_DECLARE)
#undef KILN_MISC_DECLARE

/* Einsum as batched products (emit_einsum's fast path): for t < batch,
 * Y_t[M,N] = A_t B_t with A_t(m, k) = A[t * a_bs + m * a_rs + k * a_cs],
 * B_t likewise, Y_t = Y + t * M * N dense (kiln_gemm_f32 on each). A B_t
 * whose rows are not contiguous (b_cs != 1: 'bhqd,bhkd->bhqk') is first
 * copied row-major into scratch (batch * K * N floats), so that the
 * product runs in register tiles instead of gathering B column by column.
 * Split over the batch items (a task copies only the items it computes),
 * or, with fewer items than tasks and a contiguous B, over each item's
 * rows; bitwise the same at any n_tasks. */
void kiln_einsum_mm_f32(int64_t batch, int64_t M, int64_t N, int64_t K, const float *restrict A,
                        int64_t a_bs, int64_t a_rs, int64_t a_cs, const float *restrict B,
                        int64_t b_bs, int64_t b_rs, int64_t b_cs, float *restrict scratch,
                        float *restrict Y, int64_t task, int64_t n_tasks);

/* Det of batch n x n matrices (LU with partial pivoting, in double;
 * scratch holds n * n doubles). */
void kiln_det_f32(int64_t batch, int64_t n, const float *restrict x, double *restrict scratch,
                  float *restrict y);
void kiln_det_f64(int64_t batch, int64_t n, const double *restrict x, double *restrict scratch,
                  double *restrict y);

/* ReverseSequence of x [T, B, inner] (time_major) or [B, T, inner]: for
 * batch b the first lens[b] steps reversed, the rest copied. Checked:
 * lens[b] must be in [0, T]. */
int32_t kiln_reverse_sequence(int64_t T, int64_t B, int64_t inner, int32_t time_major, int64_t es,
                              const void *restrict x, const int64_t *restrict lens,
                              void *restrict y, KilnRunError *restrict err);

/* MaxUnpool: y [planes, out[0], out[1], out[2]] (es bytes per element) is
 * zero but where x's elements (n of them) go: idx[i] is a flat position in
 * [planes, nat[0], nat[1], nat[2]] (the size unpooling gives, which MaxPool
 * numbered its indices in), and x[i] goes to the same coordinates of y (a
 * larger output_shape pads at the end, as ONNX's tests expect). Checked:
 * each idx within nat, at coordinates inside out. */
int32_t kiln_max_unpool(int64_t planes, const int64_t *restrict nat, const int64_t *restrict out,
                        int64_t n, int64_t es, const void *restrict x, const int64_t *restrict idx,
                        void *restrict y, KilnRunError *restrict err);

/* Bernoulli: y[i] = one (es bytes) if u_i < p[i], else zeros, where u_i
 * in [0, 1) is a counter-based hash (splitmix64) of seed and i: the same
 * seed and input give the same output. */
void kiln_bernoulli_f32(int64_t n, const float *restrict p, uint64_t seed, const void *restrict one,
                        int64_t es, void *restrict y);
void kiln_bernoulli_f64(int64_t n, const double *restrict p, uint64_t seed,
                        const void *restrict one, int64_t es, void *restrict y);

/* Cast between bfloat16 (the upper 16 bits of a float, as uint16_t) and
 * float: widening is exact; narrowing truncates, as the ONNX reference
 * (onnx 1.12, whose conformance data kiln is tested on) does, and a NaN
 * stays a (quiet) NaN. The names are the ones Cast's emit_cast calls
 * (kiln_cast_<from>_<to>). */
void kiln_cast_bf16_f32(int64_t n, const uint16_t *restrict x, float *restrict y);
void kiln_cast_f32_bf16(int64_t n, const float *restrict x, uint16_t *restrict y);

/* Cast and CastLike to and from strings, for x's element type `dtype` (a
 * KILN_DT_*: float, double, the signed and unsigned integers). To string:
 * y[i] points to the text of x[i] in buf (KILN_CAST_STRING_BYTES each):
 * integers in decimal, floats in the shortest form that reads back as the
 * same number (positional for 1e-4 <= |v| < 1e16, as numpy: "0.1", "1000",
 * "1e-07"), and "NaN",
 * "INF", "-INF". From string: y[i] is the number x[i] spells, read as
 * strtod does (so "+INF", "inf", "NaN" in any case); an integer type reads
 * an integer, or a float that it truncates ("100.5" gives 100). A string
 * that is no number, has more after it, or is outside the type's range
 * fails with KILN_CHECK_NUMBER (a float's overflow is INF, as numpy's). */
void kiln_cast_to_string(int32_t dtype, int64_t n, const void *restrict x, const char **restrict y,
                         char *restrict buf);
int32_t kiln_cast_from_string(int32_t dtype, int64_t n, const char *const *restrict x,
                              void *restrict y, KilnRunError *restrict err);

#endif
