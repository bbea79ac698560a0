/* kiln_resize.h: the interpolation taps of one Resize axis, computed by the
 * compiler (passes/shapes_shape.c, for axes whose sizes are known) and by
 * the kernels (runtime/kernels/movement.c, at run time for axes whose
 * sizes are symbolic) with this one arithmetic, so that both give the
 * same taps for the same sizes.
 *
 * Output position j of an axis reads up to 4 input positions ij[t] (0 <=
 * ij[t] < in) with weights wj[t]; the ONNX reference's formulas
 * (coordinate_transformation_mode, nearest_mode, cubic_coeff_a,
 * exclude_outside). Header only, no dependencies but <stdint.h>.
 */
#ifndef KILN_RESIZE_H
#define KILN_RESIZE_H

#include <stdint.h>

enum { KILN_RESIZE_MODE_NEAREST = 0, KILN_RESIZE_MODE_LINEAR = 1, KILN_RESIZE_MODE_CUBIC = 2 };
/* coordinate_transformation_mode */
enum {
    KILN_CTM_HALF_PIXEL = 0,
    KILN_CTM_PYTORCH_HALF_PIXEL = 1,
    KILN_CTM_ALIGN_CORNERS = 2,
    KILN_CTM_ASYMMETRIC = 3,
    KILN_CTM_TF_CROP_AND_RESIZE = 4,
};
/* nearest_mode */
enum {
    KILN_NEAREST_ROUND_PREFER_FLOOR = 0,
    KILN_NEAREST_ROUND_PREFER_CEIL = 1,
    KILN_NEAREST_FLOOR = 2,
    KILN_NEAREST_CEIL = 3,
};

/* One axis of a Resize. */
typedef struct KilnResizeAxis {
    int mode, ctm, nearest_mode, exclude_outside;
    double cubic_a;
    double scale; /* as the ONNX reference uses it */
    double out_w; /* scale * input size, as the reference computes it */
    double roi0, roi1;
    int64_t in;
} KilnResizeAxis;

/* The scale and scaled input size of an axis of input size `in`: from the
 * scale `sc` given (sc > 0; out_w in float32, as numpy computes it), or,
 * sc <= 0, from the output size `out` given (sizes). */
static inline void kiln_resize_scale(double sc, int64_t in, int64_t out, double *scale,
                                     double *out_w) {
    if (sc > 0) {
        *scale = sc;
        *out_w = (float)((float)sc * (float)in);
    } else {
        *scale = (double)out / (double)in;
        *out_w = *scale * (double)in;
    }
}

static inline double kiln_resize_fabs(double x) {
    return x < 0 ? -x : x;
}

/* The n integers nearest to xp in [0, limit), ties to the smaller, ascending. */
static inline void kiln_resize_nearest_ints(double xp, int n, int64_t limit, int64_t *out) {
    int64_t c = (int64_t)__builtin_floor(xp);
    if (c < 0) c = 0;
    if (c > limit - 1) c = limit - 1;
    int64_t lo = c - n - 1 < 0 ? 0 : c - n - 1, hi = c + n + 1 > limit - 1 ? limit - 1 : c + n + 1;
    int got = 0;
    int64_t cand[16];
    for (int64_t i = lo; i <= hi; i++)
        cand[got++] = i;
    /* Selection by (distance, index); cand is ascending, so a stable pick works. */
    int used[16] = {0};
    for (int k = 0; k < n && k < got; k++) {
        int best = -1;
        for (int j = 0; j < got; j++)
            if (!used[j] && (best < 0 || kiln_resize_fabs(xp - (double)cand[j]) <
                                             kiln_resize_fabs(xp - (double)cand[best])))
                best = j;
        used[best] = 1;
    }
    int k = 0;
    for (int j = 0; j < got; j++)
        if (used[j]) out[k++] = cand[j];
}

/* The taps of output position j (2, or 4 for cubic) into ij[] and wj[];
 * 1 (ij[] -1, wj[] 0) where tf_crop_and_resize extrapolates, else 0. */
static inline int kiln_resize_tap(const KilnResizeAxis *a, int64_t j, int64_t *ij, double *wj) {
    int64_t in = a->in;
    double x = (double)j, xo, scale = a->scale, ow = a->out_w, r0 = a->roi0, r1 = a->roi1;
    int n = a->mode == KILN_RESIZE_MODE_CUBIC ? 4 : 2;
    switch (a->ctm) {
    case KILN_CTM_ALIGN_CORNERS:
        xo = ow == 1 ? 0 : x * (double)(in - 1) / (ow - 1);
        break;
    case KILN_CTM_ASYMMETRIC:
        xo = x / scale;
        break;
    case KILN_CTM_TF_CROP_AND_RESIZE:
        xo = ow == 1 ? (r1 - r0) * (double)(in - 1) / 2
                     : x * (r1 - r0) * (double)(in - 1) / (ow - 1);
        xo += (double)(float)((float)r0 * (float)(in - 1));
        if (!(xo >= 0 && xo <= (double)(in - 1))) { /* also a NaN from a NaN roi */
            for (int t = 0; t < n; t++) {
                ij[t] = -1;
                wj[t] = 0;
            }
            return 1;
        }
        break;
    case KILN_CTM_PYTORCH_HALF_PIXEL:
        xo = ow == 1 ? -0.5 : (x + 0.5) / scale - 0.5;
        break;
    default:
        xo = (x + 0.5) / scale - 0.5;
    }
    double fl = __builtin_floor(xo), ratio = xo == fl ? 1.0 : xo - fl;
    double c[4];
    if (a->mode == KILN_RESIZE_MODE_LINEAR) {
        c[0] = 1 - ratio;
        c[1] = ratio;
    } else if (a->mode == KILN_RESIZE_MODE_CUBIC) {
        double A = a->cubic_a, s = ratio, t = 1 - ratio;
        c[0] = ((A * (s + 1) - 5 * A) * (s + 1) + 8 * A) * (s + 1) - 4 * A;
        c[1] = ((A + 2) * s - (A + 3)) * s * s + 1;
        c[2] = ((A + 2) * t - (A + 3)) * t * t + 1;
        c[3] = ((A * (t + 1) - 5 * A) * (t + 1) + 8 * A) * (t + 1) - 4 * A;
    } else {
        int m = a->nearest_mode;
        int second = ratio == 1.0                           ? 1
                     : m == KILN_NEAREST_ROUND_PREFER_FLOOR ? ratio > 0.5
                     : m == KILN_NEAREST_ROUND_PREFER_CEIL  ? ratio >= 0.5
                     : m == KILN_NEAREST_FLOOR              ? 0
                                                            : 1;
        c[0] = !second;
        c[1] = second;
    }
    int pad = (n + 1) / 2;
    int64_t nb[4];
    kiln_resize_nearest_ints(xo + pad, n, in + 2 * pad, nb);
    double sum = 0;
    for (int t = 0; t < n; t++) {
        int64_t k = nb[t] - pad;
        if (a->exclude_outside && (k < 0 || k >= in)) c[t] = 0;
        sum += c[t];
        ij[t] = k < 0 ? 0 : k >= in ? in - 1 : k;
    }
    for (int t = 0; t < n; t++)
        wj[t] = a->exclude_outside ? c[t] / sum : c[t];
    return 0;
}

#endif
