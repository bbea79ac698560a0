/* reduce.c: reductions, arg max/min, the softmax family, normalisations
 * over axes, cumulative sums and top-k (see reduce.h).
 *
 * Loops are written so that the vectorisable one is innermost after
 * inlining: along a contiguous row (inner == 1) a reduction keeps
 * RED_LANES partial results side by side, which is a plain elementwise
 * loop for LLVM; across rows (inner > 1) the inner index is the innermost
 * loop and each lane of it is independent anyway. The `op` switches are
 * on constants at every call site, so specialisation folds them away.
 */
#include "reduce.h"
#include "kmath.h"

#define RED_LANES 16
#define RED_BLOCK 64 /* inner elements a strided reduction keeps in flight */

/* Identity-free combining: every slice has at least one element, so
 * accumulators start from it (max and min need no +-infinity). */
#define RED_LOAD(op, v)                                                                            \
    ((op) == KILN_RED_SUMSQ ? (v) * (v) : (op) == KILN_RED_ASUM ? ((v) > 0 ? (v) : -(v)) : (v))
#define RED_JOIN(op, a, b)                                                                         \
    ((op) == KILN_RED_PROD  ? (a) * (b)                                                            \
     : (op) == KILN_RED_MAX ? ((b) > (a) ? (b) : (a))                                              \
     : (op) == KILN_RED_MIN ? ((b) < (a) ? (b) : (a))                                              \
                            : (a) + (b))

/* exp, log and sqrt in the compute type F (float or double): builtins
 * cannot be named in _Generic, so each gets a float and a double wrapper. */
#define RED_MATH(name, ffn, dfn)                                                                   \
    static inline float red_##name##f(float v) {                                                   \
        return ffn(v);                                                                             \
    }                                                                                              \
    static inline double red_##name(double v) {                                                    \
        return dfn(v);                                                                             \
    }
RED_MATH(exp, kiln_expf, __builtin_exp)
RED_MATH(log, __builtin_logf, __builtin_log)
RED_MATH(sqrt, __builtin_sqrtf, __builtin_sqrt)
#undef RED_MATH
#define RED_EXP(v) _Generic((v), float : red_expf, default : red_exp)(v)
#define RED_LOG(v) _Generic((v), float : red_logf, default : red_log)(v)
#define RED_SQRT(v) _Generic((v), float : red_sqrtf, default : red_sqrt)(v)

/* Accumulator a through `post` into the element type. */
#define RED_POST(T, ACC, F, post, div, a)                                                          \
    ((post) == KILN_RED_POST_DIV    ? (T)((a) / (ACC)(div))                                        \
     : (post) == KILN_RED_POST_SQRT ? (T)RED_SQRT((F)(a))                                          \
     : (post) == KILN_RED_POST_LOG  ? (T)RED_LOG((F)(a))                                           \
                                    : (T)(a))

#define REDUCE(T, sfx, ACC, F)                                                                     \
    /* Combination of x[0 .. len) (contiguous), in RED_LANES partial results. */                   \
    static inline ACC red_row_##sfx(int op, int64_t len, const T *restrict x) {                    \
        ACC lane[RED_LANES];                                                                       \
        ACC first = RED_LOAD(op, (ACC)x[0]);                                                       \
        ACC neutral = op == KILN_RED_PROD                        ? (ACC)1                          \
                      : op == KILN_RED_MAX || op == KILN_RED_MIN ? first                           \
                                                                 : (ACC)0;                         \
        for (int j = 0; j < RED_LANES; j++)                                                        \
            lane[j] = neutral;                                                                     \
        int64_t i = 0;                                                                             \
        for (; i + RED_LANES <= len; i += RED_LANES)                                               \
            for (int j = 0; j < RED_LANES; j++)                                                    \
                lane[j] = RED_JOIN(op, lane[j], RED_LOAD(op, (ACC)x[i + j]));                      \
        ACC s = lane[0];                                                                           \
        for (int j = 1; j < RED_LANES; j++)                                                        \
            s = RED_JOIN(op, s, lane[j]);                                                          \
        for (; i < len; i++)                                                                       \
            s = RED_JOIN(op, s, RED_LOAD(op, (ACC)x[i]));                                          \
        return s;                                                                                  \
    }                                                                                              \
                                                                                                   \
    /* log(sum(exp(x[i]))) of a contiguous row, max-subtracted. */                                 \
    static inline F red_lse_row_##sfx(int64_t len, const T *restrict x) {                          \
        F m = (F)red_row_##sfx(KILN_RED_MAX, len, x);                                              \
        F lane[RED_LANES] = {0};                                                                   \
        int64_t i = 0;                                                                             \
        for (; i + RED_LANES <= len; i += RED_LANES)                                               \
            for (int j = 0; j < RED_LANES; j++)                                                    \
                lane[j] += RED_EXP((F)x[i + j] - m);                                               \
        F s = 0;                                                                                   \
        for (int j = 0; j < RED_LANES; j++)                                                        \
            s += lane[j];                                                                          \
        for (; i < len; i++)                                                                       \
            s += RED_EXP((F)x[i] - m);                                                             \
        return m + RED_LOG(s);                                                                     \
    }                                                                                              \
                                                                                                   \
    void kiln_reduce_##sfx(int op, int post, double div, int64_t outer, int64_t len,               \
                           int64_t inner, const T *restrict x, T *restrict y) {                    \
        if (inner == 1) {                                                                          \
            for (int64_t o = 0; o < outer; o++) {                                                  \
                const T *restrict row = x + o * len;                                               \
                if (op == KILN_RED_LOGSUMEXP)                                                      \
                    y[o] = (T)red_lse_row_##sfx(len, row);                                         \
                else                                                                               \
                    y[o] = RED_POST(T, ACC, F, post, div, red_row_##sfx(op, len, row));            \
            }                                                                                      \
            return;                                                                                \
        }                                                                                          \
        for (int64_t o = 0; o < outer; o++)                                                        \
            for (int64_t k0 = 0; k0 < inner; k0 += RED_BLOCK) {                                    \
                int64_t w = inner - k0 < RED_BLOCK ? inner - k0 : RED_BLOCK;                       \
                const T *restrict px = x + o * len * inner + k0;                                   \
                T *restrict py = y + o * inner + k0;                                               \
                if (op == KILN_RED_LOGSUMEXP) {                                                    \
                    F m[RED_BLOCK], s[RED_BLOCK];                                                  \
                    for (int64_t k = 0; k < w; k++)                                                \
                        m[k] = (F)px[k], s[k] = 0;                                                 \
                    for (int64_t i = 1; i < len; i++)                                              \
                        for (int64_t k = 0; k < w; k++)                                            \
                            m[k] = (F)px[i * inner + k] > m[k] ? (F)px[i * inner + k] : m[k];      \
                    for (int64_t i = 0; i < len; i++)                                              \
                        for (int64_t k = 0; k < w; k++)                                            \
                            s[k] += RED_EXP((F)px[i * inner + k] - m[k]);                          \
                    for (int64_t k = 0; k < w; k++)                                                \
                        py[k] = (T)(m[k] + RED_LOG(s[k]));                                         \
                    continue;                                                                      \
                }                                                                                  \
                ACC acc[RED_BLOCK];                                                                \
                for (int64_t k = 0; k < w; k++)                                                    \
                    acc[k] = RED_LOAD(op, (ACC)px[k]);                                             \
                for (int64_t i = 1; i < len; i++)                                                  \
                    for (int64_t k = 0; k < w; k++)                                                \
                        acc[k] = RED_JOIN(op, acc[k], RED_LOAD(op, (ACC)px[i * inner + k]));       \
                for (int64_t k = 0; k < w; k++)                                                    \
                    py[k] = RED_POST(T, ACC, F, post, div, acc[k]);                                \
            }                                                                                      \
    }                                                                                              \
                                                                                                   \
    void kiln_reduce_any_##sfx(                                                                    \
        int op, int post, double div, int64_t k0, int64_t k1, int64_t k2, int64_t k3, int64_t ks0, \
        int64_t ks1, int64_t ks2, int64_t ks3, int64_t r0, int64_t r1, int64_t r2, int64_t r3,     \
        int64_t rs0, int64_t rs1, int64_t rs2, int64_t rs3, const T *restrict x, T *restrict y) {  \
        int64_t n = 0;                                                                             \
        for (int64_t a0 = 0; a0 < k0; a0++)                                                        \
            for (int64_t a1 = 0; a1 < k1; a1++)                                                    \
                for (int64_t a2 = 0; a2 < k2; a2++)                                                \
                    for (int64_t a3 = 0; a3 < k3; a3++) {                                          \
                        const T *restrict px = x + a0 * ks0 + a1 * ks1 + a2 * ks2 + a3 * ks3;      \
                        F m = (F)px[0];                                                            \
                        ACC acc = RED_LOAD(op, (ACC)px[0]);                                        \
                        int first = 1;                                                             \
                        /* Two sweeps for LogSumExp (max, then the sum), one otherwise. */         \
                        for (int sweep = 0; sweep < (op == KILN_RED_LOGSUMEXP ? 2 : 1); sweep++) { \
                            F s = 0;                                                               \
                            for (int64_t b0 = 0; b0 < r0; b0++)                                    \
                                for (int64_t b1 = 0; b1 < r1; b1++)                                \
                                    for (int64_t b2 = 0; b2 < r2; b2++)                            \
                                        for (int64_t b3 = 0; b3 < r3; b3++) {                      \
                                            T v = px[b0 * rs0 + b1 * rs1 + b2 * rs2 + b3 * rs3];   \
                                            if (op == KILN_RED_LOGSUMEXP) {                        \
                                                if (sweep == 0)                                    \
                                                    m = (F)v > m ? (F)v : m;                       \
                                                else                                               \
                                                    s += RED_EXP((F)v - m);                        \
                                            } else if (first) {                                    \
                                                first = 0;                                         \
                                            } else {                                               \
                                                acc = RED_JOIN(op, acc, RED_LOAD(op, (ACC)v));     \
                                            }                                                      \
                                        }                                                          \
                            if (op == KILN_RED_LOGSUMEXP && sweep == 1)                            \
                                acc = (ACC)(m + RED_LOG(s));                                       \
                        }                                                                          \
                        y[n++] = op == KILN_RED_LOGSUMEXP ? (T)acc                                 \
                                                          : RED_POST(T, ACC, F, post, div, acc);   \
                    }                                                                              \
    }                                                                                              \
                                                                                                   \
    void kiln_argmax_##sfx(int is_min, int select_last, int64_t outer, int64_t len, int64_t inner, \
                           const T *restrict x, int64_t *restrict y) {                             \
        for (int64_t o = 0; o < outer; o++)                                                        \
            for (int64_t k = 0; k < inner; k++) {                                                  \
                const T *restrict px = x + o * len * inner + k;                                    \
                T best = px[0];                                                                    \
                int64_t at = 0;                                                                    \
                for (int64_t i = 1; i < len; i++) {                                                \
                    T v = px[i * inner];                                                           \
                    int better = is_min ? (select_last ? v <= best : v < best)                     \
                                        : (select_last ? v >= best : v > best);                    \
                    if (better) best = v, at = i;                                                  \
                }                                                                                  \
                y[o * inner + k] = at;                                                             \
            }                                                                                      \
    }                                                                                              \
                                                                                                   \
    void kiln_cumsum_##sfx(int exclusive, int reverse, int64_t outer, int64_t len, int64_t inner,  \
                           const T *restrict x, T *restrict y) {                                   \
        for (int64_t o = 0; o < outer; o++) {                                                      \
            const T *restrict px = x + o * len * inner;                                            \
            T *restrict py = y + o * len * inner;                                                  \
            for (int64_t step = 0; step < len; step++) {                                           \
                int64_t i = reverse ? len - 1 - step : step;                                       \
                int64_t prev = reverse ? i + 1 : i - 1; /* the row summed just before */           \
                for (int64_t k = 0; k < inner; k++) {                                              \
                    ACC before = step ? (ACC)py[prev * inner + k] : 0;                             \
                    ACC add = exclusive ? (step ? (ACC)px[prev * inner + k] : 0)                   \
                                        : (ACC)px[i * inner + k];                                  \
                    py[i * inner + k] = (T)(before + add);                                         \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
                                                                                                   \
    void kiln_topk_##sfx(int largest, int64_t k, int64_t outer, int64_t len, int64_t inner,        \
                         const T *restrict x, T *restrict values, int64_t *restrict indices) {     \
        for (int64_t o = 0; o < outer; o++)                                                        \
            for (int64_t c = 0; c < inner; c++) {                                                  \
                const T *restrict px = x + o * len * inner + c;                                    \
                T *restrict pv = values + o * k * inner + c;                                       \
                int64_t *restrict pi = indices + o * k * inner + c;                                \
                /* Insertion into the sorted best-so-far list held in the                          \
                 * outputs. A later equal element is not better, so ties keep                      \
                 * the lower index first. */                                                       \
                int64_t have = 0;                                                                  \
                for (int64_t i = 0; i < len; i++) {                                                \
                    T v = px[i * inner];                                                           \
                    int64_t at = have;                                                             \
                    while (at > 0 &&                                                               \
                           (largest ? v > pv[(at - 1) * inner] : v < pv[(at - 1) * inner]))        \
                        at--;                                                                      \
                    if (at >= k) continue;                                                         \
                    int64_t last = have < k ? have : k - 1;                                        \
                    for (int64_t j = last; j > at; j--) {                                          \
                        pv[j * inner] = pv[(j - 1) * inner];                                       \
                        pi[j * inner] = pi[(j - 1) * inner];                                       \
                    }                                                                              \
                    pv[at * inner] = v;                                                            \
                    pi[at * inner] = i;                                                            \
                    if (have < k) have++;                                                          \
                }                                                                                  \
            }                                                                                      \
    }

KILN_REDUCE_TYPES(REDUCE)

/* --- softmax family and normalisations ----------------------------------------- */

/* The float kernels: T is stored, F (float or double) is computed in. */
#define SOFTMAX(T, sfx, F)                                                                         \
    /* Max of a contiguous row, in RED_LANES partial maxima. */                                    \
    static inline F sm_row_max_##sfx(int64_t len, const T *restrict x) {                           \
        F lane[RED_LANES];                                                                         \
        for (int j = 0; j < RED_LANES; j++)                                                        \
            lane[j] = (F)x[0];                                                                     \
        int64_t i = 0;                                                                             \
        for (; i + RED_LANES <= len; i += RED_LANES)                                               \
            for (int j = 0; j < RED_LANES; j++)                                                    \
                lane[j] = (F)x[i + j] > lane[j] ? (F)x[i + j] : lane[j];                           \
        F m = lane[0];                                                                             \
        for (int j = 1; j < RED_LANES; j++)                                                        \
            m = lane[j] > m ? lane[j] : m;                                                         \
        for (; i < len; i++)                                                                       \
            m = (F)x[i] > m ? (F)x[i] : m;                                                         \
        return m;                                                                                  \
    }                                                                                              \
                                                                                                   \
    /* Sum of exp(x[i] - m) over a contiguous row; stores the exps in y                            \
     * when store is set. */                                                                       \
    static inline F sm_row_expsum_##sfx(int64_t len, const T *restrict x, F m, int store,          \
                                        T *restrict y) {                                           \
        F lane[RED_LANES] = {0};                                                                   \
        int64_t i = 0;                                                                             \
        for (; i + RED_LANES <= len; i += RED_LANES)                                               \
            for (int j = 0; j < RED_LANES; j++) {                                                  \
                F e = RED_EXP((F)x[i + j] - m);                                                    \
                if (store) y[i + j] = (T)e;                                                        \
                lane[j] += e;                                                                      \
            }                                                                                      \
        F s = 0;                                                                                   \
        for (int j = 0; j < RED_LANES; j++)                                                        \
            s += lane[j];                                                                          \
        for (; i < len; i++) {                                                                     \
            F e = RED_EXP((F)x[i] - m);                                                            \
            if (store) y[i] = (T)e;                                                                \
            s += e;                                                                                \
        }                                                                                          \
        return s;                                                                                  \
    }                                                                                              \
                                                                                                   \
    static inline void sm_body_##sfx(int want_log, int64_t outer, int64_t len, int64_t inner,      \
                                     const T *restrict x, T *restrict y) {                         \
        if (inner == 1) {                                                                          \
            for (int64_t o = 0; o < outer; o++) {                                                  \
                const T *restrict px = x + o * len;                                                \
                T *restrict py = y + o * len;                                                      \
                F m = sm_row_max_##sfx(len, px);                                                   \
                F s = sm_row_expsum_##sfx(len, px, m, !want_log, py);                              \
                if (want_log) {                                                                    \
                    /* (x - m) first: exact near m, where m + log(s) would round. */               \
                    F ls = RED_LOG(s);                                                             \
                    for (int64_t i = 0; i < len; i++)                                              \
                        py[i] = (T)(((F)px[i] - m) - ls);                                          \
                } else {                                                                           \
                    F r = (F)1 / s;                                                                \
                    for (int64_t i = 0; i < len; i++)                                              \
                        py[i] = (T)((F)py[i] * r);                                                 \
                }                                                                                  \
            }                                                                                      \
            return;                                                                                \
        }                                                                                          \
        for (int64_t o = 0; o < outer; o++)                                                        \
            for (int64_t k0 = 0; k0 < inner; k0 += RED_BLOCK) {                                    \
                int64_t w = inner - k0 < RED_BLOCK ? inner - k0 : RED_BLOCK;                       \
                const T *restrict px = x + o * len * inner + k0;                                   \
                T *restrict py = y + o * len * inner + k0;                                         \
                F m[RED_BLOCK], s[RED_BLOCK];                                                      \
                for (int64_t k = 0; k < w; k++)                                                    \
                    m[k] = (F)px[k], s[k] = 0;                                                     \
                for (int64_t i = 1; i < len; i++)                                                  \
                    for (int64_t k = 0; k < w; k++)                                                \
                        m[k] = (F)px[i * inner + k] > m[k] ? (F)px[i * inner + k] : m[k];          \
                for (int64_t i = 0; i < len; i++)                                                  \
                    for (int64_t k = 0; k < w; k++) {                                              \
                        F e = RED_EXP((F)px[i * inner + k] - m[k]);                                \
                        if (!want_log) py[i * inner + k] = (T)e;                                   \
                        s[k] += e;                                                                 \
                    }                                                                              \
                for (int64_t k = 0; k < w; k++)                                                    \
                    s[k] = want_log ? RED_LOG(s[k]) : (F)1 / s[k];                                 \
                for (int64_t i = 0; i < len; i++)                                                  \
                    for (int64_t k = 0; k < w; k++)                                                \
                        py[i * inner + k] = want_log ? (T)(((F)px[i * inner + k] - m[k]) - s[k])   \
                                                     : (T)((F)py[i * inner + k] * s[k]);           \
            }                                                                                      \
    }                                                                                              \
                                                                                                   \
    void kiln_softmax_##sfx(int64_t outer, int64_t len, int64_t inner, const T *restrict x,        \
                            T *restrict y) {                                                       \
        sm_body_##sfx(0, outer, len, inner, x, y);                                                 \
    }                                                                                              \
                                                                                                   \
    void kiln_logsoftmax_##sfx(int64_t outer, int64_t len, int64_t inner, const T *restrict x,     \
                               T *restrict y) {                                                    \
        sm_body_##sfx(1, outer, len, inner, x, y);                                                 \
    }                                                                                              \
                                                                                                   \
    void kiln_hardmax_##sfx(int64_t outer, int64_t len, int64_t inner, const T *restrict x,        \
                            T *restrict y) {                                                       \
        for (int64_t o = 0; o < outer; o++)                                                        \
            for (int64_t k = 0; k < inner; k++) {                                                  \
                const T *restrict px = x + o * len * inner + k;                                    \
                T *restrict py = y + o * len * inner + k;                                          \
                int64_t at = 0;                                                                    \
                for (int64_t i = 1; i < len; i++)                                                  \
                    if (px[i * inner] > px[at * inner]) at = i;                                    \
                for (int64_t i = 0; i < len; i++)                                                  \
                    py[i * inner] = (T)(i == at);                                                  \
            }                                                                                      \
    }                                                                                              \
                                                                                                   \
    void kiln_layernorm_##sfx(int64_t outer, int64_t len, const T *restrict x,                     \
                              const T *restrict scale, int64_t scale_stride,                       \
                              const T *restrict bias, int64_t bias_stride, float epsilon,          \
                              T *restrict y, T *restrict mean, T *restrict inv_std) {              \
        for (int64_t o = 0; o < outer; o++) {                                                      \
            const T *restrict px = x + o * len;                                                    \
            T *restrict py = y + o * len;                                                          \
            /* Two passes (mean, then squared deviations): no cancellation                         \
             * for rows with a large mean. */                                                      \
            F lane[RED_LANES] = {0};                                                               \
            int64_t i = 0;                                                                         \
            for (; i + RED_LANES <= len; i += RED_LANES)                                           \
                for (int j = 0; j < RED_LANES; j++)                                                \
                    lane[j] += (F)px[i + j];                                                       \
            F s = 0;                                                                               \
            for (int j = 0; j < RED_LANES; j++)                                                    \
                s += lane[j], lane[j] = 0;                                                         \
            for (int64_t t = i; t < len; t++)                                                      \
                s += (F)px[t];                                                                     \
            F mu = s / (F)len;                                                                     \
            for (i = 0; i + RED_LANES <= len; i += RED_LANES)                                      \
                for (int j = 0; j < RED_LANES; j++)                                                \
                    lane[j] += ((F)px[i + j] - mu) * ((F)px[i + j] - mu);                          \
            F v = 0;                                                                               \
            for (int j = 0; j < RED_LANES; j++)                                                    \
                v += lane[j];                                                                      \
            for (; i < len; i++)                                                                   \
                v += ((F)px[i] - mu) * ((F)px[i] - mu);                                            \
            F inv = (F)1 / RED_SQRT(v / (F)len + (F)epsilon);                                      \
            for (i = 0; i < len; i++) {                                                            \
                F z = ((F)px[i] - mu) * inv * (F)scale[i * scale_stride];                          \
                py[i] = (T)(bias ? z + (F)bias[i * bias_stride] : z);                              \
            }                                                                                      \
            if (mean) mean[o] = (T)mu;                                                             \
            if (inv_std) inv_std[o] = (T)inv;                                                      \
        }                                                                                          \
    }                                                                                              \
                                                                                                   \
    void kiln_lpnorm_##sfx(int p, int64_t outer, int64_t len, int64_t inner, const T *restrict x,  \
                           T *restrict y) {                                                        \
        for (int64_t o = 0; o < outer; o++)                                                        \
            for (int64_t k = 0; k < inner; k++) {                                                  \
                const T *restrict px = x + o * len * inner + k;                                    \
                T *restrict py = y + o * len * inner + k;                                          \
                F n = 0;                                                                           \
                for (int64_t i = 0; i < len; i++) {                                                \
                    F v = (F)px[i * inner];                                                        \
                    n += p == 1 ? (v < 0 ? -v : v) : v * v;                                        \
                }                                                                                  \
                if (p == 2) n = RED_SQRT(n);                                                       \
                /* A zero vector stays zero rather than becoming NaN. */                           \
                F r = n == 0 ? (F)0 : (F)1 / n;                                                    \
                for (int64_t i = 0; i < len; i++)                                                  \
                    py[i * inner] = (T)((F)px[i * inner] * r);                                     \
            }                                                                                      \
    }                                                                                              \
                                                                                                   \
    void kiln_mvn_##sfx(int64_t k0, int64_t k1, int64_t k2, int64_t k3, int64_t ks0, int64_t ks1,  \
                        int64_t ks2, int64_t ks3, int64_t r0, int64_t r1, int64_t r2, int64_t r3,  \
                        int64_t rs0, int64_t rs1, int64_t rs2, int64_t rs3, const T *restrict x,   \
                        T *restrict y) {                                                           \
        F count = (F)(r0 * r1 * r2 * r3);                                                          \
        for (int64_t a0 = 0; a0 < k0; a0++)                                                        \
            for (int64_t a1 = 0; a1 < k1; a1++)                                                    \
                for (int64_t a2 = 0; a2 < k2; a2++)                                                \
                    for (int64_t a3 = 0; a3 < k3; a3++) {                                          \
                        int64_t base = a0 * ks0 + a1 * ks1 + a2 * ks2 + a3 * ks3;                  \
                        /* sweep 0: mean; 1: variance; 2: normalise. */                            \
                        F mu = 0, var = 0, r = 0;                                                  \
                        for (int sweep = 0; sweep < 3; sweep++) {                                  \
                            for (int64_t b0 = 0; b0 < r0; b0++)                                    \
                                for (int64_t b1 = 0; b1 < r1; b1++)                                \
                                    for (int64_t b2 = 0; b2 < r2; b2++)                            \
                                        for (int64_t b3 = 0; b3 < r3; b3++) {                      \
                                            int64_t at =                                           \
                                                base + b0 * rs0 + b1 * rs1 + b2 * rs2 + b3 * rs3;  \
                                            F v = (F)x[at];                                        \
                                            if (sweep == 0)                                        \
                                                mu += v;                                           \
                                            else if (sweep == 1)                                   \
                                                var += (v - mu) * (v - mu);                        \
                                            else                                                   \
                                                y[at] = (T)((v - mu) * r);                         \
                                        }                                                          \
                            if (sweep == 0) mu /= count;                                           \
                            if (sweep == 1) r = (F)1 / (RED_SQRT(var / count) + (F)1e-9);          \
                        }                                                                          \
                    }                                                                              \
    }                                                                                              \
                                                                                                   \
    int32_t kiln_nllloss_##sfx(int reduction, int64_t ignore_index, int64_t n, int64_t c,          \
                               int64_t d, const T *restrict x, const int64_t *restrict target,     \
                               const T *restrict weight, T *restrict loss,                         \
                               KilnRunError *restrict err) {                                       \
        /* Every target is a class or ignore_index, checked first (a compare each). */             \
        int bad = 0;                                                                               \
        for (int64_t i = 0; i < n * d; i++)                                                        \
            bad |= (target[i] != ignore_index) & ((target[i] < 0) | (target[i] >= c));             \
        if (bad) {                                                                                 \
            int64_t at = 0;                                                                        \
            while (target[at] == ignore_index || (target[at] >= 0 && target[at] < c))              \
                at++;                                                                              \
            err->kind = KILN_CHECK_CLASS;                                                          \
            err->value = target[at];                                                               \
            err->position = at;                                                                    \
            err->size = c;                                                                         \
            return 1;                                                                              \
        }                                                                                          \
        F total = 0, wsum = 0;                                                                     \
        for (int64_t b = 0; b < n; b++)                                                            \
            for (int64_t j = 0; j < d; j++) {                                                      \
                int64_t t = target[b * d + j];                                                     \
                /* Ignored classes weigh 0. */                                                     \
                F w = 0, l = 0;                                                                    \
                if (t != ignore_index) {                                                           \
                    w = weight ? (F)weight[t] : (F)1;                                              \
                    l = -(F)x[(b * c + t) * d + j] * w;                                            \
                }                                                                                  \
                if (reduction == KILN_LOSS_NONE) loss[b * d + j] = (T)l;                           \
                total += l;                                                                        \
                wsum += w;                                                                         \
            }                                                                                      \
        if (reduction == KILN_LOSS_SUM) loss[0] = (T)total;                                        \
        if (reduction == KILN_LOSS_MEAN) loss[0] = (T)(total / wsum);                              \
        return 0;                                                                                  \
    }

KILN_FLOAT_TYPES(SOFTMAX)
