/* misc.c: the kernels of misc.h. */
#include "misc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

enum { MISC_MAX_LABELS = 64, MISC_MAX_OPS = 9 }; /* as compiler/ir/einsum.h, output included */

static void misc_bytes(void *restrict dst, const void *restrict src, int64_t n) {
    unsigned char *d = dst;
    const unsigned char *s = src;
    for (int64_t i = 0; i < n; i++)
        d[i] = s[i];
}

#define KILN_MISC_DEFINE(T, sfx, kind)                                                             \
    void kiln_einsum_##sfx(int32_t n_ops, int32_t n_labels, const int64_t *restrict sizes,         \
                           const int32_t *restrict ranks, const int32_t *restrict labels,          \
                           const T *const *restrict ops, T *restrict y) {                          \
        int64_t st[MISC_MAX_OPS][MISC_MAX_LABELS], idx[MISC_MAX_LABELS], off[MISC_MAX_OPS];        \
        int64_t out_n = 1, total = 1;                                                              \
        const int32_t *lab = labels;                                                               \
        for (int k = 0; k <= n_ops; k++) { /* strides by label; repeats add up (diagonals) */      \
            int64_t s = 1;                                                                         \
            for (int l = 0; l < n_labels; l++)                                                     \
                st[k][l] = 0;                                                                      \
            for (int a = ranks[k] - 1; a >= 0; a--) {                                              \
                if (lab[a] < 0) continue;                                                          \
                st[k][lab[a]] += s;                                                                \
                s *= sizes[lab[a]];                                                                \
            }                                                                                      \
            if (k == n_ops) out_n = s;                                                             \
            lab += ranks[k];                                                                       \
            off[k] = 0;                                                                            \
        }                                                                                          \
        for (int64_t i = 0; i < out_n; i++)                                                        \
            y[i] = 0;                                                                              \
        for (int l = 0; l < n_labels; l++) {                                                       \
            total *= sizes[l];                                                                     \
            idx[l] = 0;                                                                            \
        }                                                                                          \
        for (int64_t it = 0; it < total; it++) {                                                   \
            T p = ops[0][off[0]];                                                                  \
            for (int k = 1; k < n_ops; k++)                                                        \
                p *= ops[k][off[k]];                                                               \
            y[off[n_ops]] += p;                                                                    \
            for (int l = n_labels - 1; l >= 0; l--) { /* the odometer */                           \
                for (int k = 0; k <= n_ops; k++)                                                   \
                    off[k] += st[k][l];                                                            \
                if (++idx[l] < sizes[l]) break;                                                    \
                for (int k = 0; k <= n_ops; k++)                                                   \
                    off[k] -= st[k][l] * sizes[l];                                                 \
                idx[l] = 0;                                                                        \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    void kiln_one_hot_##sfx(int64_t outer, int64_t depth, int64_t inner,                           \
                            const T *restrict indices, const void *restrict values, int64_t es,    \
                            void *restrict y) {                                                    \
        const unsigned char *off = values, *on = off + es;                                         \
        unsigned char *out = y;                                                                    \
        for (int64_t o = 0; o < outer; o++)                                                        \
            for (int64_t i = 0; i < inner; i++) {                                                  \
                T v = indices[o * inner + i];                                                      \
                /* Out-of-range floats must not reach the int64 cast. */                           \
                int64_t h = (kind) == 0 && !((double)v > -9.2e18 && (double)v < 9.2e18)            \
                                ? -1 - depth                                                       \
                                : (int64_t)v;                                                      \
                if (h < 0) h += depth;                                                             \
                for (int64_t dd = 0; dd < depth; dd++)                                             \
                    misc_bytes(out + ((o * depth + dd) * inner + i) * es, dd == h ? on : off, es); \
            }                                                                                      \
    }
KILN_FOR_NUMERIC_TYPES(KILN_MISC_DEFINE)
#undef KILN_MISC_DEFINE

void kiln_einsum_mm_f32(int64_t batch, int64_t M, int64_t N, int64_t K, const float *restrict A,
                        int64_t a_bs, int64_t a_rs, int64_t a_cs, const float *restrict B,
                        int64_t b_bs, int64_t b_rs, int64_t b_cs, float *restrict scratch,
                        float *restrict Y, int64_t task, int64_t n_tasks) {
    int copy = b_cs != 1 && N > 1;
    int64_t t0 = 0, t1 = batch, sub = 0, n_sub = 1;
    if (n_tasks > 1 && (batch >= n_tasks || copy)) {
        t0 = batch * task / n_tasks;
        t1 = batch * (task + 1) / n_tasks;
    } else if (n_tasks > 1) {
        sub = task, n_sub = n_tasks;
    }
    for (int64_t t = t0; t < t1; t++) {
        const float *restrict b = B + t * b_bs;
        int64_t rs = b_rs, cs = b_cs;
        if (copy) {
            float *restrict bt = scratch + t * K * N;
            for (int64_t j = 0; j < N; j++) /* B_t(k, j) is b[k * rs + j * cs] */
                for (int64_t k = 0; k < K; k++)
                    bt[k * N + j] = b[k * b_rs + j * b_cs];
            b = bt, rs = N, cs = 1;
        }
        kiln_gemm_f32(M, N, K, A + t * a_bs, a_rs, a_cs, b, rs, cs, 0, 0, 0, 1.0f, 0.0f,
                      KILN_EPI_NONE, Y + t * M * N, sub, n_sub);
    }
}

static double misc_det(int64_t n, double *restrict a) {
    double det = 1.0;
    for (int64_t c = 0; c < n; c++) {
        int64_t p = c;
        double best = a[c * n + c] < 0 ? -a[c * n + c] : a[c * n + c];
        for (int64_t r = c + 1; r < n; r++) {
            double v = a[r * n + c] < 0 ? -a[r * n + c] : a[r * n + c];
            if (v > best) best = v, p = r;
        }
        if (best == 0.0) return 0.0;
        if (p != c) {
            for (int64_t j = 0; j < n; j++) {
                double t = a[c * n + j];
                a[c * n + j] = a[p * n + j];
                a[p * n + j] = t;
            }
            det = -det;
        }
        double piv = a[c * n + c];
        det *= piv;
        for (int64_t r = c + 1; r < n; r++) {
            double f = a[r * n + c] / piv;
            for (int64_t j = c + 1; j < n; j++)
                a[r * n + j] -= f * a[c * n + j];
        }
    }
    return det;
}

#define KILN_DET_DEFINE(T, sfx)                                                                    \
    void kiln_det_##sfx(int64_t batch, int64_t n, const T *restrict x, double *restrict scratch,   \
                        T *restrict y) {                                                           \
        for (int64_t b = 0; b < batch; b++) {                                                      \
            for (int64_t i = 0; i < n * n; i++)                                                    \
                scratch[i] = (double)x[b * n * n + i];                                             \
            y[b] = (T)misc_det(n, scratch);                                                        \
        }                                                                                          \
    }
KILN_DET_DEFINE(float, f32)
KILN_DET_DEFINE(double, f64)
#undef KILN_DET_DEFINE

int32_t kiln_reverse_sequence(int64_t T, int64_t B, int64_t inner, int32_t time_major, int64_t es,
                              const void *restrict x, const int64_t *restrict lens,
                              void *restrict y, KilnRunError *restrict err) {
    const unsigned char *src = x;
    unsigned char *dst = y;
    int64_t row = inner * es;
    for (int64_t b = 0; b < B; b++) {
        int64_t len = lens[b];
        if (len < 0 || len > T) {
            err->kind = KILN_CHECK_RANGE;
            err->value = len;
            err->position = b;
            err->size = T + 1;
            return 1;
        }
        for (int64_t t = 0; t < T; t++) {
            int64_t from = t < len ? len - 1 - t : t;
            int64_t di = time_major ? t * B + b : b * T + t;
            int64_t si = time_major ? from * B + b : b * T + from;
            misc_bytes(dst + di * row, src + si * row, row);
        }
    }
    return 0;
}

int32_t kiln_max_unpool(int64_t planes, const int64_t *restrict nat, const int64_t *restrict out,
                        int64_t n, int64_t es, const void *restrict x, const int64_t *restrict idx,
                        void *restrict y, KilnRunError *restrict err) {
    unsigned char *dst = y;
    int64_t n_nat = planes * nat[0] * nat[1] * nat[2], n_out = planes * out[0] * out[1] * out[2];
    for (int64_t i = 0; i < n_out * es; i++)
        dst[i] = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t v = idx[i], w = v % nat[2], h = v / nat[2] % nat[1],
                dd = v / nat[2] / nat[1] % nat[0];
        int64_t p = v / nat[2] / nat[1] / nat[0];
        if (v < 0 || v >= n_nat || w >= out[2] || h >= out[1] || dd >= out[0]) {
            err->kind = KILN_CHECK_RANGE;
            err->value = v;
            err->position = i;
            err->size = n_nat;
            return 1;
        }
        misc_bytes(dst + (((p * out[0] + dd) * out[1] + h) * out[2] + w) * es,
                   (const unsigned char *)x + i * es, es);
    }
    return 0;
}

static uint64_t misc_splitmix64(uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#define KILN_BERNOULLI_DEFINE(T, sfx)                                                              \
    void kiln_bernoulli_##sfx(int64_t n, const T *restrict p, uint64_t seed,                       \
                              const void *restrict one, int64_t es, void *restrict y) {            \
        unsigned char *dst = y;                                                                    \
        uint64_t key = misc_splitmix64(seed);                                                      \
        for (int64_t i = 0; i < n; i++) {                                                          \
            double u = (double)(misc_splitmix64(key ^ (uint64_t)i) >> 11) * 0x1.0p-53;             \
            if (u < (double)p[i])                                                                  \
                misc_bytes(dst + i * es, one, es);                                                 \
            else                                                                                   \
                for (int64_t b = 0; b < es; b++)                                                   \
                    dst[i * es + b] = 0;                                                           \
        }                                                                                          \
    }
KILN_BERNOULLI_DEFINE(float, f32)
KILN_BERNOULLI_DEFINE(double, f64)
#undef KILN_BERNOULLI_DEFINE

void kiln_cast_bf16_f32(int64_t n, const uint16_t *restrict x, float *restrict y) {
    for (int64_t i = 0; i < n; i++) {
        union {
            uint32_t u;
            float f;
        } v = {(uint32_t)x[i] << 16};
        y[i] = v.f;
    }
}

void kiln_cast_f32_bf16(int64_t n, const float *restrict x, uint16_t *restrict y) {
    for (int64_t i = 0; i < n; i++) {
        union {
            float f;
            uint32_t u;
        } v = {x[i]};
        if ((v.u & 0x7fffffffu) > 0x7f800000u)
            y[i] = (uint16_t)((v.u >> 16) | 0x40); /* NaN: keep it one, quiet */
        else
            y[i] = (uint16_t)(v.u >> 16);
    }
}

/* --- Cast to and from strings ------------------------------------------------------ */

/* v's text with the fewest significant digits that strtod (as_float:
 * strtof) reads back as v, into out (KILN_CAST_STRING_BYTES): positional
 * for 1e-4 <= |v| < 1e16 ("0.039187793", "1000", "100.5"), else
 * scientific ("1e-07", "1.5e+20"), as numpy prints numbers. */
static void number_text(double v, int as_float, char *out) {
    if (v != v) {
        snprintf(out, KILN_CAST_STRING_BYTES, "NaN");
        return;
    }
    if (v == __builtin_inf() || v == -__builtin_inf()) {
        snprintf(out, KILN_CAST_STRING_BYTES, v > 0 ? "INF" : "-INF");
        return;
    }
    char e[KILN_CAST_STRING_BYTES];
    int p = 1, max = as_float ? 9 : 17;
    for (; p < max; p++) {
        snprintf(e, sizeof e, "%.*e", p - 1, v);
        if (as_float ? strtof(e, NULL) == (float)v : strtod(e, NULL) == v) break;
    }
    snprintf(e, sizeof e, "%.*e", p - 1, v); /* [-]d[.ddd]e[+-]xx */
    char *ex = e;
    while (*ex != 'e')
        ex++;
    int exp10 = atoi(ex + 1);
    if (exp10 < -4 || exp10 >= 16) {
        snprintf(out, KILN_CAST_STRING_BYTES, "%s", e);
        return;
    }
    char digits[24];
    int nd = 0, neg = e[0] == '-';
    for (const char *c = e + neg; c < ex; c++)
        if (*c != '.') digits[nd++] = *c;
    char *o = out;
    if (neg) *o++ = '-';
    if (exp10 < 0) {
        *o++ = '0';
        *o++ = '.';
        for (int k = 0; k < -exp10 - 1; k++)
            *o++ = '0';
        for (int k = 0; k < nd; k++)
            *o++ = digits[k];
    } else {
        for (int k = 0; k <= exp10; k++)
            *o++ = k < nd ? digits[k] : '0';
        if (nd > exp10 + 1) {
            *o++ = '.';
            for (int k = exp10 + 1; k < nd; k++)
                *o++ = digits[k];
        }
    }
    *o = 0;
}

void kiln_cast_to_string(int32_t dtype, int64_t n, const void *restrict x, const char **restrict y,
                         char *restrict buf) {
    for (int64_t i = 0; i < n; i++) {
        char *out = buf + i * KILN_CAST_STRING_BYTES;
        switch (dtype) {
        case KILN_DT_FLOAT:
            number_text(((const float *)x)[i], 1, out);
            break;
        case KILN_DT_DOUBLE:
            number_text(((const double *)x)[i], 0, out);
            break;
#define SIGNED(code, T)                                                                            \
    case code:                                                                                     \
        snprintf(out, KILN_CAST_STRING_BYTES, "%lld", (long long)((const T *)x)[i]);               \
        break;
#define UNSIGNED(code, T)                                                                          \
    case code:                                                                                     \
        snprintf(out, KILN_CAST_STRING_BYTES, "%llu", (unsigned long long)((const T *)x)[i]);      \
        break;
            SIGNED(KILN_DT_INT8, int8_t)
            SIGNED(KILN_DT_INT16, int16_t)
            SIGNED(KILN_DT_INT32, int32_t)
            SIGNED(KILN_DT_INT64, int64_t)
            UNSIGNED(KILN_DT_UINT8, uint8_t)
            UNSIGNED(KILN_DT_UINT16, uint16_t)
            UNSIGNED(KILN_DT_UINT32, uint32_t)
            UNSIGNED(KILN_DT_UINT64, uint64_t)
#undef SIGNED
#undef UNSIGNED
        default:
            out[0] = 0;
        }
        y[i] = out;
    }
}

/* 1 if s ends at *end with nothing but spaces after it. */
static int text_ends(const char *s, const char *end) {
    if (end == s) return 0;
    while (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')
        end++;
    return *end == 0;
}

/* s as an integer in [lo, hi] (an unsigned type: hi_u): 0 and *out, or -1. */
static int integer_of(const char *s, long long lo, long long hi, unsigned long long hi_u,
                      int is_unsigned, unsigned long long *out) {
    char *end;
    errno = 0;
    if (is_unsigned) {
        const char *t = s;
        while (*t == ' ' || *t == '\t')
            t++;
        if (*t != '-') {
            unsigned long long u = strtoull(s, &end, 10);
            if (!errno && text_ends(s, end) && u <= hi_u) {
                *out = u;
                return 0;
            }
        }
    } else {
        long long v = strtoll(s, &end, 10);
        if (!errno && text_ends(s, end)) {
            if (v < lo || v > hi) return -1;
            *out = (unsigned long long)v;
            return 0;
        }
    }
    /* "100.5" or "1e3": a float, truncated toward zero. */
    errno = 0;
    double d = strtod(s, &end);
    if (errno || !text_ends(s, end) || d != d) return -1;
    d = __builtin_trunc(d);
    if (is_unsigned) {
        if (d < 0 || d >= 18446744073709551616.0 || d > (double)hi_u) return -1;
        *out = (unsigned long long)d;
    } else {
        if (d < (double)lo || d > (double)hi || d >= 9223372036854775808.0) return -1;
        *out = (unsigned long long)(long long)d;
    }
    return 0;
}

int32_t kiln_cast_from_string(int32_t dtype, int64_t n, const char *const *restrict x,
                              void *restrict y, KilnRunError *restrict err) {
    for (int64_t i = 0; i < n; i++) {
        const char *s = x[i] ? x[i] : "";
        char *end;
        unsigned long long u = 0;
        int bad = 0;
        switch (dtype) {
        case KILN_DT_FLOAT:
            ((float *)y)[i] = strtof(s, &end);
            bad = !text_ends(s, end);
            break;
        case KILN_DT_DOUBLE:
            ((double *)y)[i] = strtod(s, &end);
            bad = !text_ends(s, end);
            break;
#define SIGNED(code, T, lo, hi)                                                                    \
    case code:                                                                                     \
        bad = integer_of(s, lo, hi, 0, 0, &u);                                                     \
        ((T *)y)[i] = (T)(long long)u;                                                             \
        break;
#define UNSIGNED(code, T, hi)                                                                      \
    case code:                                                                                     \
        bad = integer_of(s, 0, 0, hi, 1, &u);                                                      \
        ((T *)y)[i] = (T)u;                                                                        \
        break;
            SIGNED(KILN_DT_INT8, int8_t, INT8_MIN, INT8_MAX)
            SIGNED(KILN_DT_INT16, int16_t, INT16_MIN, INT16_MAX)
            SIGNED(KILN_DT_INT32, int32_t, INT32_MIN, INT32_MAX)
            SIGNED(KILN_DT_INT64, int64_t, INT64_MIN, INT64_MAX)
            UNSIGNED(KILN_DT_UINT8, uint8_t, UINT8_MAX)
            UNSIGNED(KILN_DT_UINT16, uint16_t, UINT16_MAX)
            UNSIGNED(KILN_DT_UINT32, uint32_t, UINT32_MAX)
            UNSIGNED(KILN_DT_UINT64, uint64_t, UINT64_MAX)
#undef SIGNED
#undef UNSIGNED
        default:
            bad = 1;
        }
        if (bad) {
            *err = (KilnRunError){.position = i, .kind = KILN_CHECK_NUMBER};
            return 1;
        }
    }
    return 0;
}
