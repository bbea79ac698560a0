/* ml.c: the ONNX-ML kernels (see ml.h). */
#include "ml.h"

/* ORT's ComputeLogistic: 1 / (1 + exp(-|v|)), mirrored for v < 0, so
 * that neither side overflows. */
static float ml_logistic(float v) {
    float a = v < 0 ? -v : v;
    float p = 1.0f / (1.0f + __builtin_expf(-a));
    return v < 0 ? 1.0f - p : p;
}

/* ORT's ErfInv: Winitzki's approximation with a = 0.147 (not the exact
 * inverse: PROBIT scores must match ORT's, not the textbook's). */
static float ml_erfinv(float x) {
    float sgn = x < 0 ? -1.0f : 1.0f;
    x = (1 - x) * (1 + x);
    float lg = __builtin_logf(x);
    float v = 2 / (3.14159265358979323846f * 0.147f) + 0.5f * lg;
    float v2 = 1 / 0.147f * lg;
    float v3 = -v + __builtin_sqrtf(v * v - v2);
    return sgn * __builtin_sqrtf(v3);
}

static float ml_probit(float v) {
    return 1.41421356237309504880f * ml_erfinv(2 * v - 1);
}

static void ml_softmax_row(int64_t n, const float *in, float *out, int zero) {
    float vmax = -3.40282347e+38f; /* -FLT_MAX: a row of -inf still has a max */
    for (int64_t j = 0; j < n; j++)
        if (in[j] > vmax) vmax = in[j];
    float sum = 0.0f;
    if (!zero) {
        for (int64_t j = 0; j < n; j++) {
            out[j] = __builtin_expf(in[j] - vmax);
            sum += out[j];
        }
    } else {
        /* SOFTMAX_ZERO: a score of (near) zero stays zero, scaled by
         * exp(-max) (0 * that is 0, as in ORT). */
        float e0 = __builtin_expf(-vmax);
        for (int64_t j = 0; j < n; j++) {
            float v = in[j];
            if (v > 0.0000001f || v < -0.0000001f) {
                out[j] = __builtin_expf(v - vmax);
                sum += out[j];
            } else {
                out[j] = v * e0;
            }
        }
    }
    for (int64_t j = 0; j < n; j++)
        out[j] = out[j] / sum;
}

void kiln_ml_write_scores(int64_t rows, int64_t classes, int32_t transform, int32_t second,
                          const int32_t *second_by_row, const float *in, float *out,
                          int64_t out_stride) {
    /* Rows from the last when out is wider than in, so that in place the
     * rows still to read are never overwritten. */
    int back = out_stride > classes;
    for (int64_t i = 0; i < rows; i++) {
        int64_t r = back ? rows - 1 - i : i;
        const float *s = in + r * classes;
        float *o = out + r * out_stride;
        if (classes >= 2) {
            switch (transform) {
            case KILN_ML_POST_SOFTMAX:
            case KILN_ML_POST_SOFTMAX_ZERO:
                ml_softmax_row(classes, s, o, transform == KILN_ML_POST_SOFTMAX_ZERO);
                break;
            case KILN_ML_POST_LOGISTIC:
                for (int64_t j = 0; j < classes; j++)
                    o[j] = ml_logistic(s[j]);
                break;
            case KILN_ML_POST_PROBIT:
                for (int64_t j = 0; j < classes; j++)
                    o[j] = ml_probit(s[j]);
                break;
            default:
                for (int64_t j = 0; j < classes; j++)
                    o[j] = s[j];
                break;
            }
            continue;
        }
        if (classes != 1) continue;
        float v = s[0];
        int32_t mode = second_by_row ? second_by_row[r] : second;
        if (transform == KILN_ML_POST_PROBIT) {
            o[0] = ml_probit(v);
        } else if (mode == KILN_ML_SECOND_LINEAR) {
            float t = transform == KILN_ML_POST_LOGISTIC ? ml_logistic(v) : v;
            o[0] = 1.0f - t;
            o[1] = t;
        } else if (mode == 0 || mode == 1) { /* KILN_ML_SECOND_COMPLEMENT */
            o[0] = 1.0f - v;
            o[1] = v;
        } else if (mode == 2 || mode == 3) { /* KILN_ML_SECOND_NEGATE */
            if (transform == KILN_ML_POST_LOGISTIC) {
                o[0] = ml_logistic(-v);
                o[1] = ml_logistic(v);
            } else {
                o[0] = -v;
                o[1] = v;
            }
        } else {
            o[0] = v;
        }
    }
}

/* First index of the row's maximum; strict > so ties keep the earlier
 * class and NaN never replaces the running maximum. */
static int64_t ml_argmax(int64_t classes, const float *s) {
    int64_t best = 0;
    float w = s[0];
    for (int64_t j = 1; j < classes; j++)
        if (s[j] > w) {
            w = s[j];
            best = j;
        }
    return best;
}

void kiln_ml_argmax_label_i64(int64_t rows, int64_t classes, const float *restrict scores,
                              int64_t stride, const int64_t *restrict labels,
                              int64_t *restrict out) {
    for (int64_t r = 0; r < rows; r++)
        out[r] = labels[ml_argmax(classes, scores + r * stride)];
}

void kiln_ml_argmax_label_str(int64_t rows, int64_t classes, const float *restrict scores,
                              int64_t stride, const char *const *restrict labels,
                              const char **restrict out) {
    for (int64_t r = 0; r < rows; r++)
        out[r] = labels[ml_argmax(classes, scores + r * stride)];
}

void kiln_ml_binary_label_i64(int64_t rows, const float *restrict scores, int64_t stride,
                              float threshold, const int64_t *restrict labels,
                              int64_t *restrict out) {
    for (int64_t r = 0; r < rows; r++)
        out[r] = labels[scores[r * stride] > threshold];
}

void kiln_ml_binary_label_str(int64_t rows, const float *restrict scores, int64_t stride,
                              float threshold, const char *const *restrict labels,
                              const char **restrict out) {
    for (int64_t r = 0; r < rows; r++)
        out[r] = labels[scores[r * stride] > threshold];
}

/* --- preprocessing and encoding ------------------------------------------------ */

static int ml_isnan(double v) {
    return v != v;
}

#define KILN_ML_DEFINE(T, sfx)                                                                     \
    void kiln_ml_scaler_##sfx(int64_t rows, int64_t C, const T *restrict x,                        \
                              const float *restrict offset, int64_t n_off,                         \
                              const float *restrict scale, int64_t n_sc, float *restrict y) {      \
        for (int64_t r = 0; r < rows; r++)                                                         \
            for (int64_t j = 0; j < C; j++) {                                                      \
                float o = offset[n_off == 1 ? 0 : j], s = scale[n_sc == 1 ? 0 : j];                \
                y[r * C + j] = ((float)x[r * C + j] - o) * s;                                      \
            }                                                                                      \
    }                                                                                              \
    void kiln_ml_normalizer_##sfx(int64_t rows, int64_t C, int32_t norm, const T *restrict x,      \
                                  float *restrict y) {                                             \
        for (int64_t r = 0; r < rows; r++) {                                                       \
            const T *xr = x + r * C;                                                               \
            float *yr = y + r * C;                                                                 \
            float z = norm == KILN_ML_NORM_MAX ? -3.40282347e+38f : 0.0f;                          \
            for (int64_t j = 0; j < C; j++) {                                                      \
                float v = (float)xr[j];                                                            \
                if (norm == KILN_ML_NORM_MAX)                                                      \
                    z = z < v ? v : z; /* std::max: NaN never wins */                              \
                else if (norm == KILN_ML_NORM_L1)                                                  \
                    z += v < 0 ? -v : v;                                                           \
                else                                                                               \
                    z += (float)(xr[j] * xr[j]);                                                   \
            }                                                                                      \
            for (int64_t j = 0; j < C; j++) {                                                      \
                float v = (float)xr[j];                                                            \
                if (z == 0.0f)                                                                     \
                    yr[j] = v;                                                                     \
                else if (norm == KILN_ML_NORM_L2) {                                                \
                    float q = __builtin_sqrtf((float)(xr[j] * xr[j]) / z);                         \
                    yr[j] = xr[j] < 0 ? -q : q;                                                    \
                } else                                                                             \
                    yr[j] = v / z;                                                                 \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    void kiln_ml_columns_##sfx(int64_t rows, int64_t src_cols, const T *restrict x, int64_t take,  \
                               int64_t width, float *restrict dst, int64_t dst_cols,               \
                               int64_t off) {                                                      \
        for (int64_t r = 0; r < rows; r++) {                                                       \
            float *d = dst + r * dst_cols + off;                                                   \
            for (int64_t j = 0; j < take; j++)                                                     \
                d[j] = (float)x[r * src_cols + j];                                                 \
            for (int64_t j = take; j < width; j++)                                                 \
                d[j] = 0.0f;                                                                       \
        }                                                                                          \
    }                                                                                              \
    int32_t kiln_ml_one_hot_##sfx(int64_t n, const T *restrict x, const int64_t *restrict keys,    \
                                  const int64_t *restrict pos, int64_t n_cats, int32_t zeros,      \
                                  float *restrict y, KilnRunError *restrict err) {                 \
        for (int64_t i = 0; i < n * n_cats; i++)                                                   \
            y[i] = 0.0f;                                                                           \
        for (int64_t i = 0; i < n; i++) {                                                          \
            double dv = (double)x[i];                                                              \
            int64_t k = -1;                                                                        \
            /* A float outside int64 (or NaN) is no category: casting it is UB. */                 \
            if (!ml_isnan(dv) && dv > -9.2e18 && dv < 9.2e18) {                                    \
                int64_t v = (int64_t)x[i], lo = 0, hi = n_cats;                                    \
                while (lo < hi) {                                                                  \
                    int64_t mid = lo + (hi - lo) / 2;                                              \
                    if (keys[mid] < v)                                                             \
                        lo = mid + 1;                                                              \
                    else                                                                           \
                        hi = mid;                                                                  \
                }                                                                                  \
                if (lo < n_cats && keys[lo] == v) k = pos[lo];                                     \
            }                                                                                      \
            if (k >= 0) {                                                                          \
                y[i * n_cats + k] = 1.0f;                                                          \
            } else if (!zeros) {                                                                   \
                err->kind = KILN_CHECK_CATEGORY;                                                   \
                err->value = ml_isnan(dv) ? 0                                                      \
                                          : (int64_t)(dv > 9.2e18    ? 9.2e18                      \
                                                      : dv < -9.2e18 ? -9.2e18                     \
                                                                     : dv);                        \
                err->position = i;                                                                 \
                err->size = n_cats;                                                                \
                return 1;                                                                          \
            }                                                                                      \
        }                                                                                          \
        return 0;                                                                                  \
    }
KILN_ML_TYPES(KILN_ML_DEFINE)
#undef KILN_ML_DEFINE

int32_t kiln_ml_binarizer_f32(int64_t n, float threshold, const float *restrict x,
                              float *restrict y, KilnRunError *restrict err) {
    for (int64_t i = 0; i < n; i++) {
        if (x[i] != x[i]) {
            err->kind = KILN_CHECK_NAN;
            err->value = 0;
            err->position = i;
            err->size = n;
            return 1;
        }
        y[i] = x[i] > threshold ? 1.0f : 0.0f;
    }
    return 0;
}

void kiln_ml_imputer_f32(int64_t rows, int64_t C, const float *restrict x,
                         const float *restrict imputed, int64_t n_imp, float replaced,
                         float *restrict y) {
    int nan = replaced != replaced;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < C; j++) {
            float v = x[r * C + j];
            int hit = nan ? v != v : v == replaced;
            y[r * C + j] = hit ? imputed[n_imp == 1 ? 0 : j] : v;
        }
}

void kiln_ml_imputer_i64(int64_t rows, int64_t C, const int64_t *restrict x,
                         const int64_t *restrict imputed, int64_t n_imp, int64_t replaced,
                         int64_t *restrict y) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < C; j++) {
            int64_t v = x[r * C + j];
            y[r * C + j] = v == replaced ? imputed[n_imp == 1 ? 0 : j] : v;
        }
}

int32_t kiln_ml_array_feature_extractor(int64_t rows, int64_t C, int64_t elem_size,
                                        const void *restrict x, int64_t k,
                                        const int64_t *restrict idx, void *restrict y,
                                        KilnRunError *restrict err) {
    for (int64_t j = 0; j < k; j++)
        if (idx[j] < 0 || idx[j] >= C) {
            err->kind = KILN_CHECK_RANGE;
            err->value = idx[j];
            err->position = j;
            err->size = C;
            return 1;
        }
    if (elem_size == 8) {
        const int64_t *xs = x;
        int64_t *ys = y;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t j = 0; j < k; j++)
                ys[r * k + j] = xs[r * C + idx[j]];
    } else {
        const int32_t *xs = x;
        int32_t *ys = y;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t j = 0; j < k; j++)
                ys[r * k + j] = xs[r * C + idx[j]];
    }
    return 0;
}

/* Binary search of v among n sorted keys: its index, or -1. */
#define ML_FIND(KT)                                                                                \
    static int64_t ml_find_##KT(const KT *keys, int64_t n, KT v) {                                 \
        int64_t lo = 0, hi = n;                                                                    \
        while (lo < hi) {                                                                          \
            int64_t mid = lo + (hi - lo) / 2;                                                      \
            if (keys[mid] < v)                                                                     \
                lo = mid + 1;                                                                      \
            else                                                                                   \
                hi = mid;                                                                          \
        }                                                                                          \
        return lo < n && keys[lo] == v ? lo : -1; /* NaN: never equal */                           \
    }
ML_FIND(int64_t)
ML_FIND(float)
#undef ML_FIND

#define ML_LABEL_ENCODE(in, IT, out, OT)                                                           \
    void kiln_ml_label_encode_##in##_##out(int64_t n, const IT *restrict x,                        \
                                           const IT *restrict keys, const OT *restrict values,     \
                                           int64_t n_keys, OT dflt, OT *restrict y) {              \
        for (int64_t i = 0; i < n; i++) {                                                          \
            int64_t k = ml_find_##IT(keys, n_keys, x[i]);                                          \
            y[i] = k >= 0 ? values[k] : dflt;                                                      \
        }                                                                                          \
    }
ML_LABEL_ENCODE(i64, int64_t, i64, int64_t)
ML_LABEL_ENCODE(i64, int64_t, f32, float)
ML_LABEL_ENCODE(f32, float, i64, int64_t)
ML_LABEL_ENCODE(f32, float, f32, float)
#undef ML_LABEL_ENCODE

void kiln_ml_label_encode_i64_str(int64_t n, const int64_t *restrict x,
                                  const int64_t *restrict keys, const char *const *restrict values,
                                  int64_t n_keys, const char *dflt, const char **restrict y) {
    for (int64_t i = 0; i < n; i++) {
        int64_t k = ml_find_int64_t(keys, n_keys, x[i]);
        y[i] = k >= 0 ? values[k] : dflt;
    }
}
