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
    for (int64_t r = 0; r < rows; r++) {
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
