/* signal.c: the signal and sampling kernels (see signal_kernels.h). */
#include "signal_kernels.h"

#define SIG_PI 3.14159265358979323846

/* tw[2k], tw[2k+1] = cos, sin of 2*pi*k/n for k < n. */
static void sig_twiddles(int64_t n, double *tw) {
    for (int64_t k = 0; k < n; k++) {
        double a = 2.0 * SIG_PI * (double)k / (double)n;
        tw[2 * k] = __builtin_cos(a);
        tw[2 * k + 1] = __builtin_sin(a);
    }
}

static int sig_pow2(int64_t n) {
    return n > 0 && (n & (n - 1)) == 0;
}

/* In-place radix-2 FFT of n (a power of two) complex points; tw from
 * sig_twiddles(n); sign -1 forward (e^{-i}), +1 inverse (unscaled). */
static void sig_fft_pow2(int64_t n, double *buf, const double *tw, double sign) {
    for (int64_t i = 1, j = 0; i < n; i++) {
        int64_t bit = n >> 1;
        for (; j & bit; bit >>= 1)
            j ^= bit;
        j ^= bit;
        if (i < j) {
            double tr = buf[2 * i], ti = buf[2 * i + 1];
            buf[2 * i] = buf[2 * j], buf[2 * i + 1] = buf[2 * j + 1];
            buf[2 * j] = tr, buf[2 * j + 1] = ti;
        }
    }
    for (int64_t len = 2; len <= n; len <<= 1) {
        int64_t half = len >> 1, step = n / len;
        for (int64_t i = 0; i < n; i += len)
            for (int64_t j = 0; j < half; j++) {
                double wr = tw[2 * j * step], wi = sign * tw[2 * j * step + 1];
                double *a = buf + 2 * (i + j), *b = buf + 2 * (i + j + half);
                double br = b[0] * wr - b[1] * wi, bi = b[0] * wi + b[1] * wr;
                b[0] = a[0] - br, b[1] = a[1] - bi;
                a[0] += br, a[1] += bi;
            }
    }
}

/* Below this length a length that is not a power of two is transformed
 * directly (n * n_out multiply-adds); from it on by Bluestein's chirp z. */
#define SIG_DIRECT_MAX 64

/* One transform length, set up once per kernel call in the scratch
 * (KILN_DFT_SCRATCH_DOUBLES(n) doubles): buf [2n] takes a line's points,
 * out [2n] the direct DFT's bins; pow2 and direct use tw [2n]; Bluestein
 * uses chirp [2n] (e^{sign i pi k^2 / n}), fb [2m] (the FFT of the
 * conjugate chirp, m >= 2n - 1 a power of two), a [2m] and twm [2m]. */
typedef struct SigPlan {
    int64_t n, m;
    int kind; /* 0 radix-2, 1 direct, 2 Bluestein */
    double sign;
    double *buf, *out, *tw, *chirp, *fb, *a, *twm;
} SigPlan;

static SigPlan sig_plan(int64_t n, double sign, double *scratch) {
    SigPlan p = {n,
                 0,
                 sig_pow2(n)          ? 0
                 : n < SIG_DIRECT_MAX ? 1
                                      : 2,
                 sign,
                 scratch,
                 scratch + 2 * n,
                 scratch + 4 * n,
                 NULL,
                 NULL,
                 NULL,
                 NULL};
    if (p.kind < 2) {
        sig_twiddles(n, p.tw);
        return p;
    }
    p.m = 1;
    while (p.m < 2 * n - 1)
        p.m <<= 1;
    p.chirp = scratch + 4 * n;
    p.fb = scratch + 6 * n;
    p.a = p.fb + 2 * p.m;
    p.twm = p.a + 2 * p.m;
    sig_twiddles(p.m, p.twm);
    for (int64_t k = 0; k < n; k++) {
        /* k^2 mod 2n keeps the angle exact for any k. */
        double ang = SIG_PI * (double)((k * k) % (2 * n)) / (double)n;
        p.chirp[2 * k] = __builtin_cos(ang);
        p.chirp[2 * k + 1] = sign * __builtin_sin(ang);
    }
    for (int64_t j = 0; j < 2 * p.m; j++)
        p.fb[j] = 0;
    for (int64_t k = 0; k < n; k++) {
        double cr = p.chirp[2 * k], ci = -p.chirp[2 * k + 1];
        p.fb[2 * k] = cr, p.fb[2 * k + 1] = ci;
        if (k) p.fb[2 * (p.m - k)] = cr, p.fb[2 * (p.m - k) + 1] = ci;
    }
    sig_fft_pow2(p.m, p.fb, p.twm, -1.0);
    return p;
}

/* Transforms the n points in p->buf; returns where bins 0..n_out are. */
static const double *sig_run(const SigPlan *p, int64_t n_out) {
    int64_t n = p->n;
    double *buf = p->buf, sign = p->sign;
    if (p->kind == 0) {
        sig_fft_pow2(n, buf, p->tw, sign);
        return buf;
    }
    if (p->kind == 1) {
        for (int64_t k = 0; k < n_out; k++) {
            double sr = 0, si = 0;
            int64_t idx = 0; /* k * t mod n, exactly */
            for (int64_t t = 0; t < n; t++) {
                double wr = p->tw[2 * idx], wi = sign * p->tw[2 * idx + 1];
                sr += buf[2 * t] * wr - buf[2 * t + 1] * wi;
                si += buf[2 * t] * wi + buf[2 * t + 1] * wr;
                idx += k;
                if (idx >= n) idx -= n;
            }
            p->out[2 * k] = sr, p->out[2 * k + 1] = si;
        }
        return p->out;
    }
    /* Bluestein: X_k = c_k sum_t (x_t c_t) conj(c_{k-t}), a cyclic
     * convolution of length m done with two radix-2 FFTs. */
    int64_t m = p->m;
    double *a = p->a;
    for (int64_t t = 0; t < m; t++) {
        double xr = t < n ? buf[2 * t] : 0, xi = t < n ? buf[2 * t + 1] : 0;
        double cr = t < n ? p->chirp[2 * t] : 0, ci = t < n ? p->chirp[2 * t + 1] : 0;
        a[2 * t] = xr * cr - xi * ci;
        a[2 * t + 1] = xr * ci + xi * cr;
    }
    sig_fft_pow2(m, a, p->twm, -1.0);
    for (int64_t j = 0; j < m; j++) {
        double ar = a[2 * j], ai = a[2 * j + 1], br = p->fb[2 * j], bi = p->fb[2 * j + 1];
        a[2 * j] = ar * br - ai * bi;
        a[2 * j + 1] = ar * bi + ai * br;
    }
    sig_fft_pow2(m, a, p->twm, 1.0);
    for (int64_t k = 0; k < n_out; k++) {
        double vr = a[2 * k] / (double)m, vi = a[2 * k + 1] / (double)m;
        double cr = p->chirp[2 * k], ci = p->chirp[2 * k + 1];
        buf[2 * k] = vr * cr - vi * ci;
        buf[2 * k + 1] = vr * ci + vi * cr;
    }
    return buf;
}

void kiln_dft_f32(int64_t outer, int64_t len, int64_t inner, int32_t cin, const float *restrict x,
                  int64_t n_fft, int64_t n_out, int32_t inverse, float *restrict y,
                  double *restrict scratch) {
    double scale = inverse ? 1.0 / (double)n_fft : 1.0;
    int64_t take = len < n_fft ? len : n_fft;
    SigPlan p = sig_plan(n_fft, inverse ? 1.0 : -1.0, scratch);
    double *buf = p.buf;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const float *xl = x + (o * len * inner + i) * cin;
            for (int64_t t = 0; t < n_fft; t++) {
                buf[2 * t] = t < take ? xl[t * inner * cin] : 0.0;
                buf[2 * t + 1] = t < take && cin == 2 ? xl[t * inner * cin + 1] : 0.0;
            }
            const double *r = sig_run(&p, n_out);
            float *yl = y + (o * n_out * inner + i) * 2;
            for (int64_t k = 0; k < n_out; k++) {
                yl[k * inner * 2] = (float)(r[2 * k] * scale);
                yl[k * inner * 2 + 1] = (float)(r[2 * k + 1] * scale);
            }
        }
}

void kiln_stft_f32(int64_t batch, int64_t siglen, int32_t cin, const float *restrict x,
                   int64_t step, const float *restrict window, int64_t frame_len, int64_t frames,
                   int64_t n_out, float *restrict y, double *restrict scratch) {
    SigPlan p = sig_plan(frame_len, -1.0, scratch);
    double *buf = p.buf;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t f = 0; f < frames; f++) {
            const float *xf = x + (b * siglen + f * step) * cin;
            for (int64_t t = 0; t < frame_len; t++) {
                double w = window ? (double)window[t] : 1.0;
                buf[2 * t] = xf[t * cin] * w;
                buf[2 * t + 1] = cin == 2 ? xf[t * cin + 1] * w : 0.0;
            }
            const double *r = sig_run(&p, n_out);
            float *yf = y + (b * frames + f) * n_out * 2;
            for (int64_t k = 0; k < 2 * n_out; k++)
                yf[k] = (float)r[k];
        }
}

/* --- GridSample ------------------------------------------------------------------ */

/* |coordinate| bound, in pixels (2^40). */
#define GS_FAR 1099511627776.0f

static float gs_denormalize(float v, int64_t len, int32_t align) {
    return align ? (v + 1) / 2.0f * (float)(len - 1) : ((v + 1) * (float)len - 1) / 2.0f;
}

/* Reflects x by the borders until it is within [lo, hi] (ORT's GsReflect,
 * with fmod instead of an int count so that huge values cannot overflow). */
static float gs_reflect(float x, float lo, float hi) {
    float range = hi - lo;
    if (range <= 0) return lo;
    if (x < lo) {
        float dx = lo - x;
        float n = __builtin_floorf(dx / range);
        float r = dx - n * range;
        return __builtin_fmodf(n, 2.0f) == 0 ? lo + r : hi - r;
    }
    if (x > hi) {
        float dx = x - hi;
        float n = __builtin_floorf(dx / range);
        float r = dx - n * range;
        return __builtin_fmodf(n, 2.0f) == 0 ? hi - r : lo + r;
    }
    return x;
}

static int64_t gs_clamp(int64_t v, int64_t lo, int64_t hi) {
    return v < lo ? lo : v > hi ? hi : v;
}

/* The pixel at (r, c) of a [H, W] image under the padding mode. */
static float gs_pixel(const float *img, int64_t r, int64_t c, int64_t H, int64_t W, int32_t padding,
                      const float border[4]) {
    if (padding == KILN_GS_ZEROS) {
        if (c < 0 || c >= W || r < 0 || r >= H) return 0.0f;
    } else if (padding == KILN_GS_REFLECTION) {
        c = (int64_t)gs_reflect((float)c, border[0], border[2]);
        r = (int64_t)gs_reflect((float)r, border[1], border[3]);
    }
    /* Border, and a guard for reflection's rounding at the edges. */
    return img[gs_clamp(r, 0, H - 1) * W + gs_clamp(c, 0, W - 1)];
}

static void gs_cubic_coeffs(float x, float c[4]) {
    const float a = -0.75f;
    x = x < 0 ? -x : x;
    c[0] = ((a * (x + 1) - 5 * a) * (x + 1) + 8 * a) * (x + 1) - 4 * a;
    c[1] = ((a + 2) * x - (a + 3)) * x * x + 1;
    c[2] = ((a + 2) * (1 - x) - (a + 3)) * (1 - x) * (1 - x) + 1;
    c[3] = ((a * (2 - x) - 5 * a) * (2 - x) + 8 * a) * (2 - x) - 4 * a;
}

void kiln_grid_sample_f32(int64_t N, int64_t C, int64_t H, int64_t W, int64_t Ho, int64_t Wo,
                          int32_t mode, int32_t padding, int32_t align_corners,
                          const float *restrict x, const float *restrict grid, float *restrict y) {
    float x_min = align_corners ? 0.0f : -0.5f, y_min = x_min;
    float x_max = align_corners ? (float)(W - 1) : (float)W - 0.5f;
    float y_max = align_corners ? (float)(H - 1) : (float)H - 0.5f;
    const float border[4] = {x_min, y_min, x_max, y_max};
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            const float *img = x + (n * C + c) * H * W;
            float *out = y + (n * C + c) * Ho * Wo;
            const float *g = grid + n * Ho * Wo * 2;
            for (int64_t p = 0; p < Ho * Wo; p++) {
                float gx = g[2 * p], gy = g[2 * p + 1];
                if (gx != gx || gy != gy) { /* NaN in, NaN out */
                    out[p] = gx != gx ? gx : gy;
                    continue;
                }
                float fx = gs_denormalize(gx, W, align_corners);
                float fy = gs_denormalize(gy, H, align_corners);
                /* Far beyond the image every mode reads the same pixels;
                 * the bound keeps the integer conversions defined. */
                fx = fx < -GS_FAR ? -GS_FAR : fx > GS_FAR ? GS_FAR : fx;
                fy = fy < -GS_FAR ? -GS_FAR : fy > GS_FAR ? GS_FAR : fy;
                if (mode == KILN_GS_NEAREST) {
                    fx = __builtin_rintf(fx);
                    fy = __builtin_rintf(fy);
                }
                /* Bilinear and nearest move an outside point in by the
                 * padding mode first; bicubic pads each of its 16 taps
                 * instead (gs_pixel), as torch's grid_sample does. */
                if (mode != KILN_GS_BICUBIC &&
                    (fx < x_min || fx > x_max || fy < y_min || fy > y_max)) {
                    if (padding == KILN_GS_BORDER) {
                        fx = fx < 0 ? 0 : fx > (float)(W - 1) ? (float)(W - 1) : fx;
                        fy = fy < 0 ? 0 : fy > (float)(H - 1) ? (float)(H - 1) : fy;
                    } else if (padding == KILN_GS_REFLECTION) {
                        fx = gs_reflect(fx, x_min, x_max);
                        fy = gs_reflect(fy, y_min, y_max);
                    }
                }
                if (mode == KILN_GS_NEAREST) {
                    out[p] = gs_pixel(img, (int64_t)fy, (int64_t)fx, H, W, padding, border);
                } else if (mode == KILN_GS_BILINEAR) {
                    int64_t x1 = (int64_t)__builtin_floorf(fx), y1 = (int64_t)__builtin_floorf(fy);
                    int64_t x2 = x1 + 1, y2 = y1 + 1;
                    float p11 = gs_pixel(img, y1, x1, H, W, padding, border);
                    float p12 = gs_pixel(img, y1, x2, H, W, padding, border);
                    float p21 = gs_pixel(img, y2, x1, H, W, padding, border);
                    float p22 = gs_pixel(img, y2, x2, H, W, padding, border);
                    float dx2 = (float)x2 - fx, dx1 = fx - (float)x1;
                    float dy2 = (float)y2 - fy, dy1 = fy - (float)y1;
                    out[p] = dy2 * (dx2 * p11 + dx1 * p12) + dy1 * (dx2 * p21 + dx1 * p22);
                } else {
                    int64_t x0 = (int64_t)__builtin_floorf(fx) - 1;
                    int64_t y0 = (int64_t)__builtin_floorf(fy) - 1;
                    float cx[4], cy[4], v[4];
                    gs_cubic_coeffs(fx - (float)x0 - 1, cx);
                    gs_cubic_coeffs(fy - (float)y0 - 1, cy);
                    for (int64_t i = 0; i < 4; i++) {
                        v[i] = 0;
                        for (int64_t j = 0; j < 4; j++)
                            v[i] += cx[j] * gs_pixel(img, y0 + i, x0 + j, H, W, padding, border);
                    }
                    out[p] = cy[0] * v[0] + cy[1] * v[1] + cy[2] * v[2] + cy[3] * v[3];
                }
            }
        }
}

/* --- RoiAlign -------------------------------------------------------------------- */

/* One bilinear sample at (yy, xx) of a [H, W] map: four positions and
 * weights (all 0 outside the map), as ORT's pre_calc. */
typedef struct RoiTap {
    int64_t pos[4];
    float w[4];
} RoiTap;

static RoiTap roi_tap(float yy, float xx, int64_t H, int64_t W) {
    RoiTap t = {{0, 0, 0, 0}, {0, 0, 0, 0}};
    if (!(yy >= -1.0f && yy <= (float)H && xx >= -1.0f && xx <= (float)W)) return t;
    float y = yy <= 0 ? 0 : yy, x = xx <= 0 ? 0 : xx;
    int64_t y_lo = (int64_t)y, x_lo = (int64_t)x, y_hi, x_hi;
    if (y_lo >= H - 1) {
        y_hi = y_lo = H - 1;
        y = (float)y_lo;
    } else {
        y_hi = y_lo + 1;
    }
    if (x_lo >= W - 1) {
        x_hi = x_lo = W - 1;
        x = (float)x_lo;
    } else {
        x_hi = x_lo + 1;
    }
    float ly = y - (float)y_lo, lx = x - (float)x_lo, hy = 1 - ly, hx = 1 - lx;
    t.pos[0] = y_lo * W + x_lo, t.pos[1] = y_lo * W + x_hi;
    t.pos[2] = y_hi * W + x_lo, t.pos[3] = y_hi * W + x_hi;
    t.w[0] = hy * hx, t.w[1] = hy * lx, t.w[2] = ly * hx, t.w[3] = ly * lx;
    return t;
}

int32_t kiln_roi_align_f32(int64_t N, int64_t C, int64_t H, int64_t W, int64_t R, int64_t oh,
                           int64_t ow, int64_t sampling_ratio, float spatial_scale,
                           int32_t half_pixel, int32_t is_max, const float *restrict x,
                           const float *restrict rois, const int64_t *restrict batch_indices,
                           float *restrict y, KilnRunError *restrict err) {
    for (int64_t r = 0; r < R; r++)
        if (batch_indices[r] < 0 || batch_indices[r] >= N) {
            err->kind = KILN_CHECK_RANGE;
            err->value = batch_indices[r];
            err->position = r;
            err->size = N;
            return 1;
        }
    float off = half_pixel ? 0.5f : 0.0f;
    for (int64_t r = 0; r < R; r++) {
        const float *roi = rois + r * 4;
        float x0 = roi[0] * spatial_scale - off, y0 = roi[1] * spatial_scale - off;
        float rw = roi[2] * spatial_scale - off - x0, rh = roi[3] * spatial_scale - off - y0;
        if (!half_pixel) {
            rw = rw > 1.0f ? rw : 1.0f;
            rh = rh > 1.0f ? rh : 1.0f;
        }
        float bh = rh / (float)oh, bw = rw / (float)ow;
        /* The adaptive sample grid: ceil(bin size), bounded so that a
         * hostile roi cannot ask for billions of samples per bin. */
        float ch = __builtin_ceilf(rh / (float)oh), cw = __builtin_ceilf(rw / (float)ow);
        int64_t gh = sampling_ratio > 0 ? sampling_ratio
                     : ch > 0           ? (ch < 1024 ? (int64_t)ch : 1024)
                                        : 0;
        int64_t gw = sampling_ratio > 0 ? sampling_ratio
                     : cw > 0           ? (cw < 1024 ? (int64_t)cw : 1024)
                                        : 0;
        float count = gh * gw > 1 ? (float)(gh * gw) : 1.0f;
        const float *xs = x + batch_indices[r] * C * H * W;
        for (int64_t c = 0; c < C; c++) {
            const float *img = xs + c * H * W;
            float *out = y + (r * C + c) * oh * ow;
            for (int64_t ph = 0; ph < oh; ph++)
                for (int64_t pw = 0; pw < ow; pw++) {
                    float acc = 0.0f;
                    int first = 1;
                    for (int64_t iy = 0; iy < gh; iy++) {
                        float yy = y0 + (float)ph * bh + ((float)iy + 0.5f) * bh / (float)gh;
                        for (int64_t ix = 0; ix < gw; ix++) {
                            float xx = x0 + (float)pw * bw + ((float)ix + 0.5f) * bw / (float)gw;
                            RoiTap t = roi_tap(yy, xx, H, W);
                            if (!is_max) {
                                acc += t.w[0] * img[t.pos[0]] + t.w[1] * img[t.pos[1]] +
                                       t.w[2] * img[t.pos[2]] + t.w[3] * img[t.pos[3]];
                                continue;
                            }
                            float v = t.w[0] * img[t.pos[0]];
                            for (int k = 1; k < 4; k++)
                                v = t.w[k] * img[t.pos[k]] > v ? t.w[k] * img[t.pos[k]] : v;
                            acc = first || v > acc ? v : acc;
                            first = 0;
                        }
                    }
                    out[ph * ow + pw] = is_max ? acc : acc / count;
                }
        }
    }
    return 0;
}

/* --- TfIdfVectorizer ------------------------------------------------------------- */

/* The edge of node k whose key is v, or -1. */
static int64_t tf_find(const int64_t *first, const int64_t *count, const int64_t *key, int64_t k,
                       int64_t v) {
    int64_t lo = first[k], hi = first[k] + count[k];
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (key[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < first[k] + count[k] && key[lo] == v ? lo : -1;
}

void kiln_tfidf(int64_t rows, int64_t C, int64_t elem_size, const void *restrict x, int64_t min_n,
                int64_t max_n, int64_t max_skip, const int64_t *restrict first,
                const int64_t *restrict count, const int64_t *restrict key,
                const int64_t *restrict child, const int64_t *restrict id, int64_t n_out,
                int32_t mode, const float *restrict weights, float *restrict y) {
    for (int64_t i = 0; i < rows * n_out; i++)
        y[i] = 0.0f;
    for (int64_t r = 0; r < rows; r++) {
        float *out = y + r * n_out;
        int64_t start_n = min_n;
        for (int64_t skip = 1; skip <= max_skip + 1; skip++) {
            for (int64_t s = 0; s < C; s++) {
                if (s + skip * (start_n - 1) >= C) break;
                int64_t node = 0;
                for (int64_t len = 1, p = s; len <= max_n && p < C; len++, p += skip) {
                    int64_t v = elem_size == 8 ? ((const int64_t *)x)[r * C + p]
                                               : ((const int32_t *)x)[r * C + p];
                    int64_t e = tf_find(first, count, key, node, v);
                    if (e < 0) break;
                    if (len >= start_n && id[e] >= 0) out[id[e]] += 1.0f;
                    node = child[e];
                    if (node < 0) break;
                }
            }
            /* Unigrams do not depend on the skip: counted on the first pass only. */
            if (start_n == 1 && ++start_n > max_n) break;
        }
        for (int64_t j = 0; j < n_out; j++) {
            float w = weights ? weights[j] : 1.0f;
            if (mode == 1)
                out[j] = out[j] > 0 ? w : 0.0f;
            else if (mode == 2)
                out[j] = out[j] * w;
        }
    }
}

/* a < b, = or > as strcmp (kernels use no libc beyond libm). */
static int tf_strcmp(const char *a, const char *b) {
    while (*a && *a == *b)
        a++, b++;
    return (unsigned char)*a - (unsigned char)*b;
}

void kiln_tfidf_str(int64_t rows, int64_t C, const char *const *restrict x,
                    const char *const *restrict vocab, int64_t n_vocab, int64_t *restrict ids,
                    int64_t min_n, int64_t max_n, int64_t max_skip, const int64_t *restrict first,
                    const int64_t *restrict count, const int64_t *restrict key,
                    const int64_t *restrict child, const int64_t *restrict id, int64_t n_out,
                    int32_t mode, const float *restrict weights, float *restrict y) {
    for (int64_t i = 0; i < rows * C; i++) {
        int64_t lo = 0, hi = n_vocab;
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            if (tf_strcmp(vocab[mid], x[i]) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        ids[i] = lo < n_vocab && tf_strcmp(vocab[lo], x[i]) == 0 ? lo : -1;
    }
    kiln_tfidf(rows, C, 8, ids, min_n, max_n, max_skip, first, count, key, child, id, n_out, mode,
               weights, y);
}
