/* movement.c: data movement kernels. See movement.h for the contracts.
 *
 * Sizes and strides are constants at every call site, so after inlining
 * the six-deep loop nest of kiln_strided_copy collapses to the loops that
 * are really there (a trip count of 1 disappears) and O3 vectorises the
 * innermost one when its strides are 1.
 */
#include "movement.h"

#include "kiln_resize.h"

/* Indices read at run time are checked before they are used: every one
 * must be in [-len, len) (ONNX: negative counts from the end), else the
 * kernel fails with the first bad one in *err and reads and writes
 * nothing. The scans are a compare per index, outside the copy loops, and
 * vectorise; only a failing tensor is walked twice. */
static inline int32_t index_fail(KilnRunError *restrict err, int64_t v, int64_t at, int64_t len) {
    err->kind = KILN_CHECK_INDEX;
    err->value = v;
    err->position = at;
    err->size = len;
    return 1;
}

static inline int out_of_range(int64_t v, int64_t len) {
    return (v < -len) | (v >= len);
}

#define CHECK_RANGE(I, isfx)                                                                       \
    static inline int32_t check_range_##isfx(int64_t n, const I *restrict idx, int64_t len,        \
                                             KilnRunError *restrict err) {                         \
        int bad = 0;                                                                               \
        for (int64_t i = 0; i < n; i++)                                                            \
            bad |= out_of_range(idx[i], len);                                                      \
        if (!bad) return 0;                                                                        \
        int64_t at = 0;                                                                            \
        while (!out_of_range(idx[at], len))                                                        \
            at++;                                                                                  \
        return index_fail(err, idx[at], at, len);                                                  \
    }
CHECK_RANGE(int64_t, i64)
CHECK_RANGE(int32_t, i32)

/* n tuples of k indices, component q into an axis of dims[q]. */
static inline int32_t check_tuples(int64_t n, int k, const int64_t *restrict dims,
                                   const int64_t *restrict idx, KilnRunError *restrict err) {
    int bad = 0;
    for (int64_t j = 0; j < n; j++)
        for (int q = 0; q < k; q++)
            bad |= out_of_range(idx[j * k + q], dims[q]);
    if (!bad) return 0;
    for (int64_t j = 0; j < n; j++)
        for (int q = 0; q < k; q++)
            if (out_of_range(idx[j * k + q], dims[q]))
                return index_fail(err, idx[j * k + q], j * k + q, dims[q]);
    return 0;
}

/* A checked index as an offset along its axis. */
static inline int64_t wrap_index(int64_t i, int64_t len) {
    return i < 0 ? i + len : i;
}

/* GatherElements and ScatterElements walk their index tensor, dims[rank],
 * in row-major order with its position in at[]. elem_offset is the
 * offset, through strides st, of that position with dim `axis` replaced
 * by index k; elem_step moves at[] to the next position. */
static inline int64_t elem_count(int rank, const int64_t *dims) {
    int64_t n = 1;
    for (int r = 0; r < rank; r++)
        n *= dims[r];
    return n;
}

static inline int64_t elem_offset(int rank, const int64_t *at, const int64_t *st, int axis,
                                  int64_t k) {
    int64_t off = 0;
    for (int r = 0; r < rank; r++)
        off += (r == axis ? k : at[r]) * st[r];
    return off;
}

static inline void elem_step(int rank, const int64_t *dims, int64_t *at) {
    for (int r = rank - 1; r >= 0 && ++at[r] == dims[r]; r--)
        at[r] = 0;
}

#define MOVEMENT(T, sfx)                                                                           \
    void kiln_strided_copy_##sfx(int64_t d0, int64_t d1, int64_t d2, int64_t d3, int64_t d4,       \
                                 int64_t d5, const T *restrict x, int64_t xs0, int64_t xs1,        \
                                 int64_t xs2, int64_t xs3, int64_t xs4, int64_t xs5,               \
                                 T *restrict y, int64_t ys0, int64_t ys1, int64_t ys2,             \
                                 int64_t ys3, int64_t ys4, int64_t ys5) {                          \
        for (int64_t i0 = 0; i0 < d0; i0++)                                                        \
            for (int64_t i1 = 0; i1 < d1; i1++)                                                    \
                for (int64_t i2 = 0; i2 < d2; i2++)                                                \
                    for (int64_t i3 = 0; i3 < d3; i3++)                                            \
                        for (int64_t i4 = 0; i4 < d4; i4++) {                                      \
                            const T *restrict px =                                                 \
                                x + i0 * xs0 + i1 * xs1 + i2 * xs2 + i3 * xs3 + i4 * xs4;          \
                            T *restrict py =                                                       \
                                y + i0 * ys0 + i1 * ys1 + i2 * ys2 + i3 * ys3 + i4 * ys4;          \
                            for (int64_t i5 = 0; i5 < d5; i5++)                                    \
                                py[i5 * ys5] = px[i5 * xs5];                                       \
                        }                                                                          \
    }                                                                                              \
                                                                                                   \
    void kiln_table_gather_##sfx(                                                                  \
        int64_t outer, int64_t x_os, int64_t d1, int64_t d2, int64_t d3, int64_t d4,               \
        const int64_t *restrict t1, const int64_t *restrict t2, const int64_t *restrict t3,        \
        const int64_t *restrict t4, uint64_t fill, const T *restrict x, T *restrict y) {           \
        const T value = (T)fill;                                                                   \
        for (int64_t o = 0; o < outer; o++) {                                                      \
            const T *restrict px = x + o * x_os;                                                   \
            for (int64_t i1 = 0; i1 < d1; i1++)                                                    \
                for (int64_t i2 = 0; i2 < d2; i2++)                                                \
                    for (int64_t i3 = 0; i3 < d3; i3++) {                                          \
                        int64_t s = t1[i1] + t2[i2] + t3[i3];                                      \
                        for (int64_t i4 = 0; i4 < d4; i4++) {                                      \
                            int64_t k = s + t4[i4];                                                \
                            *y++ = k < 0 ? value : px[k];                                          \
                        }                                                                          \
                    }                                                                              \
        }                                                                                          \
    }                                                                                              \
                                                                                                   \
    void kiln_trilu_##sfx(int64_t batch, int64_t rows, int64_t cols, int64_t k, int upper,         \
                          const T *restrict x, T *restrict y) {                                    \
        for (int64_t b = 0; b < batch; b++)                                                        \
            for (int64_t i = 0; i < rows; i++)                                                     \
                for (int64_t j = 0; j < cols; j++) {                                               \
                    int64_t at = (b * rows + i) * cols + j;                                        \
                    int keep = upper ? j - i >= k : j - i <= k;                                    \
                    y[at] = keep ? x[at] : (T)0;                                                   \
                }                                                                                  \
    }                                                                                              \
                                                                                                   \
    void kiln_fill_##sfx(int64_t n, uint64_t bits, T *restrict y) {                                \
        for (int64_t i = 0; i < n; i++)                                                            \
            y[i] = (T)bits;                                                                        \
    }                                                                                              \
                                                                                                   \
    void kiln_eye_##sfx(int64_t batch, int64_t rows, int64_t cols, int64_t k, uint64_t one,        \
                        T *restrict y) {                                                           \
        for (int64_t b = 0; b < batch; b++)                                                        \
            for (int64_t i = 0; i < rows; i++)                                                     \
                for (int64_t j = 0; j < cols; j++)                                                 \
                    y[(b * rows + i) * cols + j] = j - i == k ? (T)one : (T)0;                     \
    }                                                                                              \
                                                                                                   \
    int32_t kiln_gather_nd_##sfx(                                                                  \
        int64_t n_batch, int64_t x_bs, int64_t n_idx, int k, const int64_t *restrict dims,         \
        const int64_t *restrict xs, int64_t slice_len, const T *restrict x,                        \
        const int64_t *restrict idx, T *restrict y, KilnRunError *restrict err) {                  \
        if (check_tuples(n_batch * n_idx, k, dims, idx, err)) return 1;                            \
        for (int64_t b = 0; b < n_batch; b++)                                                      \
            for (int64_t j = 0; j < n_idx; j++) {                                                  \
                const int64_t *restrict t = idx + (b * n_idx + j) * k;                             \
                int64_t off = b * x_bs;                                                            \
                for (int q = 0; q < k; q++)                                                        \
                    off += wrap_index(t[q], dims[q]) * xs[q];                                      \
                for (int64_t i = 0; i < slice_len; i++)                                            \
                    y[(b * n_idx + j) * slice_len + i] = x[off + i];                               \
            }                                                                                      \
        return 0;                                                                                  \
    }

/* Gather and GatherElements take int32 or int64 indices. */
#define GATHER(T, sfx, I, isfx)                                                                    \
    int32_t kiln_gather_##sfx##_##isfx(                                                            \
        int64_t outer, int64_t n_idx, int64_t inner, int64_t axis_len, const T *restrict x,        \
        const I *restrict idx, T *restrict y, KilnRunError *restrict err) {                        \
        if (check_range_##isfx(n_idx, idx, axis_len, err)) return 1;                               \
        for (int64_t o = 0; o < outer; o++)                                                        \
            for (int64_t j = 0; j < n_idx; j++) {                                                  \
                const T *restrict px = x + (o * axis_len + wrap_index(idx[j], axis_len)) * inner;  \
                T *restrict py = y + (o * n_idx + j) * inner;                                      \
                for (int64_t i = 0; i < inner; i++)                                                \
                    py[i] = px[i];                                                                 \
            }                                                                                      \
        return 0;                                                                                  \
    }                                                                                              \
                                                                                                   \
    int32_t kiln_gather_elements_##sfx##_##isfx(                                                   \
        int rank, const int64_t *restrict dims, const int64_t *restrict xs, int axis,              \
        int64_t axis_len, const T *restrict x, const I *restrict idx, T *restrict y,               \
        KilnRunError *restrict err) {                                                              \
        int64_t n = elem_count(rank, dims), at[8] = {0};                                           \
        if (check_range_##isfx(n, idx, axis_len, err)) return 1;                                   \
        for (int64_t i = 0; i < n; i++) {                                                          \
            y[i] = x[elem_offset(rank, at, xs, axis, wrap_index(idx[i], axis_len))];               \
            elem_step(rank, dims, at);                                                             \
        }                                                                                          \
        return 0;                                                                                  \
    }

#define GATHER_BOTH(T, sfx) GATHER(T, sfx, int64_t, i64) GATHER(T, sfx, int32_t, i32)

KILN_FOR_ELEM_SIZES(MOVEMENT)
KILN_FOR_ELEM_SIZES(GATHER_BOTH)

#define SCATTER_APPLY(red, a, b)                                                                   \
    ((red) == KILN_SCATTER_ADD ? (a) + (b) : (red) == KILN_SCATTER_MUL ? (a) * (b) : (b))

#define SCATTER(T, sfx, kind)                                                                      \
    int32_t kiln_scatter_elements_##sfx(                                                           \
        int rank, const int64_t *restrict dims, const int64_t *restrict ys, int axis,              \
        int64_t axis_len, const int64_t *restrict idx, const T *restrict upd, int reduction,       \
        T *restrict y, KilnRunError *restrict err) {                                               \
        int64_t n = elem_count(rank, dims), at[8] = {0};                                           \
        if (check_range_i64(n, idx, axis_len, err)) return 1;                                      \
        for (int64_t i = 0; i < n; i++) {                                                          \
            int64_t off = elem_offset(rank, at, ys, axis, wrap_index(idx[i], axis_len));           \
            y[off] = (T)SCATTER_APPLY(reduction, y[off], upd[i]);                                  \
            elem_step(rank, dims, at);                                                             \
        }                                                                                          \
        return 0;                                                                                  \
    }                                                                                              \
                                                                                                   \
    int32_t kiln_scatter_nd_##sfx(int64_t n_idx, int k, const int64_t *restrict dims,              \
                                  const int64_t *restrict ys, int64_t slice_len,                   \
                                  const int64_t *restrict idx, const T *restrict upd,              \
                                  int reduction, T *restrict y, KilnRunError *restrict err) {      \
        if (check_tuples(n_idx, k, dims, idx, err)) return 1;                                      \
        for (int64_t j = 0; j < n_idx; j++) {                                                      \
            int64_t off = 0;                                                                       \
            for (int q = 0; q < k; q++)                                                            \
                off += wrap_index(idx[j * k + q], dims[q]) * ys[q];                                \
            for (int64_t i = 0; i < slice_len; i++)                                                \
                y[off + i] = (T)SCATTER_APPLY(reduction, y[off + i], upd[j * slice_len + i]);      \
        }                                                                                          \
        return 0;                                                                                  \
    }

KILN_FOR_NUMERIC_TYPES(SCATTER)

void kiln_resize_axis_f32(int64_t outer, int64_t in_len, int64_t out_len, int64_t inner, int taps,
                          const int64_t *restrict idx, const float *restrict w, float extrapolation,
                          const float *restrict x, float *restrict y) {
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < out_len; j++) {
            const int64_t *restrict tj = idx + j * taps;
            const float *restrict wj = w + j * taps;
            float *restrict py = y + (o * out_len + j) * inner;
            if (tj[0] < 0) {
                for (int64_t i = 0; i < inner; i++)
                    py[i] = extrapolation;
                continue;
            }
            for (int64_t i = 0; i < inner; i++) {
                float acc = 0.0f;
                for (int t = 0; t < taps; t++)
                    acc += wj[t] * x[(o * in_len + tj[t]) * inner + i];
                py[i] = acc;
            }
        }
}

void kiln_resize_taps(int mode, int ctm, int nearest_mode, int exclude_outside, double cubic_a,
                      double given, double roi0, double roi1, int64_t in_len, int64_t out_len,
                      int taps, int64_t stride, int64_t *restrict idx, float *restrict w) {
    KilnResizeAxis a = {mode, ctm,  nearest_mode, exclude_outside, cubic_a, 0,
                        0,    roi0, roi1,         in_len};
    kiln_resize_scale(given, in_len, out_len, &a.scale, &a.out_w);
    for (int64_t j = 0; j < out_len; j++) {
        int64_t ij[4];
        double wj[4];
        int outside = kiln_resize_tap(&a, j, ij, wj);
        if (!taps) {
            idx[j] = outside ? KILN_TABLE_FILL : (wj[0] != 0 ? ij[0] : ij[1]) * stride;
            continue;
        }
        for (int t = 0; t < taps; t++) {
            idx[j * taps + t] = ij[t];
            w[j * taps + t] = (float)wj[t];
        }
    }
}

void kiln_pad_table(int64_t in_len, int64_t out_len, int64_t begin, int mode, int64_t stride,
                    int64_t *restrict t) {
    for (int64_t j = 0; j < out_len; j++) {
        int64_t i = j - begin;
        if (i < 0 || i >= in_len) {
            if (mode == 0) {
                t[j] = KILN_TABLE_FILL;
                continue;
            }
            if (mode == 1)
                i = i < 0 ? 0 : in_len - 1;
            else if (in_len == 1)
                i = 0;
            else {
                int64_t period = 2 * (in_len - 1);
                i = ((i % period) + period) % period;
                if (i >= in_len) i = period - i;
            }
        }
        t[j] = i * stride;
    }
}
