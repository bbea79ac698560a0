/* rnn.c: RNN, GRU and LSTM, one direction per call (rnn.h).
 *
 * The matrix products go through kiln_gemm_packed_f32 (gemm.c): the input
 * projection of all T*B rows at once, then per step the B rows of the
 * state times R^T. The gate math works on one row of H at a time; each
 * activation is one loop over a span, chosen outside the loop, so that it
 * vectorises whether or not the call is specialised.
 */
#include <string.h>

#include "kernels.h"
#include "kmath.h"
#include "rnn.h"

/* Rows of the input projection per GEMM call (a multiple of the GEMM's
 * 8-row tiles), and floats of it computed ahead of the steps that read it
 * (about half of a core's L2). */
#define PROJ_ROWS 64
#define PROJ_FLOATS (1 << 16)

/* x[0..n) = act(x) with the activation's alpha and beta. */
static void act_span(int act, float alpha, float beta, int64_t n, float *restrict x) {
    switch (act) {
    case KILN_RNN_ACT_RELU:
        for (int64_t i = 0; i < n; i++)
            x[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case KILN_RNN_ACT_TANH:
        for (int64_t i = 0; i < n; i++)
            x[i] = kiln_tanhf(x[i]);
        break;
    case KILN_RNN_ACT_SIGMOID:
        for (int64_t i = 0; i < n; i++)
            x[i] = kiln_sigmoidf(x[i]);
        break;
    case KILN_RNN_ACT_AFFINE:
        for (int64_t i = 0; i < n; i++)
            x[i] = alpha * x[i] + beta;
        break;
    case KILN_RNN_ACT_LEAKY_RELU:
        for (int64_t i = 0; i < n; i++)
            x[i] = x[i] < 0.0f ? alpha * x[i] : x[i];
        break;
    case KILN_RNN_ACT_THRESHOLDED_RELU:
        for (int64_t i = 0; i < n; i++)
            x[i] = x[i] > alpha ? x[i] : 0.0f;
        break;
    case KILN_RNN_ACT_SCALED_TANH:
        for (int64_t i = 0; i < n; i++)
            x[i] = alpha * kiln_tanhf(beta * x[i]);
        break;
    case KILN_RNN_ACT_HARD_SIGMOID:
        for (int64_t i = 0; i < n; i++) {
            float v = alpha * x[i] + beta;
            v = v < 0.0f ? 0.0f : v;
            x[i] = v > 1.0f ? 1.0f : v;
        }
        break;
    case KILN_RNN_ACT_ELU:
        for (int64_t i = 0; i < n; i++)
            x[i] = x[i] < 0.0f ? alpha * (kiln_expf(x[i]) - 1.0f) : x[i];
        break;
    case KILN_RNN_ACT_SOFTSIGN:
        for (int64_t i = 0; i < n; i++)
            x[i] = x[i] / (1.0f + (x[i] < 0.0f ? -x[i] : x[i]));
        break;
    case KILN_RNN_ACT_SOFTPLUS:
        /* log(1 + e^x) = max(x, 0) + log(1 + e^-|x|): no overflow. */
        for (int64_t i = 0; i < n; i++) {
            float a = x[i] < 0.0f ? -x[i] : x[i];
            x[i] = (x[i] > 0.0f ? x[i] : 0.0f) + kiln_logf(1.0f + kiln_expf(-a));
        }
        break;
    default:
        break;
    }
}

/* x[0..n) += a[0..n) (a NULL: nothing), then clamped to [-clip, clip]. */
static void add_clip(int64_t n, float *restrict x, const float *restrict a, float clip) {
    if (a)
        for (int64_t i = 0; i < n; i++)
            x[i] += a[i];
    if (clip < __builtin_inff())
        for (int64_t i = 0; i < n; i++) {
            float v = x[i] < -clip ? -clip : x[i];
            x[i] = v > clip ? clip : v;
        }
}

/* act(x) for one value: what act_span does, for the fused LSTM loop. */
static inline float act_one(int act, float alpha, float beta, float x) {
    switch (act) {
    case KILN_RNN_ACT_RELU:
        return x > 0.0f ? x : 0.0f;
    case KILN_RNN_ACT_TANH:
        return kiln_tanhf(x);
    case KILN_RNN_ACT_SIGMOID:
        return kiln_sigmoidf(x);
    case KILN_RNN_ACT_AFFINE:
        return alpha * x + beta;
    case KILN_RNN_ACT_LEAKY_RELU:
        return x < 0.0f ? alpha * x : x;
    case KILN_RNN_ACT_THRESHOLDED_RELU:
        return x > alpha ? x : 0.0f;
    case KILN_RNN_ACT_SCALED_TANH:
        return alpha * kiln_tanhf(beta * x);
    case KILN_RNN_ACT_HARD_SIGMOID: {
        float v = alpha * x + beta;
        v = v < 0.0f ? 0.0f : v;
        return v > 1.0f ? 1.0f : v;
    }
    case KILN_RNN_ACT_ELU:
        return x < 0.0f ? alpha * (kiln_expf(x) - 1.0f) : x;
    case KILN_RNN_ACT_SOFTSIGN:
        return x / (1.0f + (x < 0.0f ? -x : x));
    case KILN_RNN_ACT_SOFTPLUS: {
        float a = x < 0.0f ? -x : x;
        return (x > 0.0f ? x : 0.0f) + kiln_logf(1.0f + kiln_expf(-a));
    }
    default:
        return x;
    }
}

static inline float clip_one(float x, float clip) {
    if (!(clip < __builtin_inff())) return x;
    x = x < -clip ? -clip : x;
    return x > clip ? clip : x;
}

/* One LSTM row in one loop over H (the activations, flags and clip are
 * constants once specialised, so it vectorises): gr [4H] holds h R^T, xr
 * [4H] the input projection; updates h and c in place. */
static inline void lstm_row(int64_t H, const float *restrict gr, const float *restrict xr,
                            const float *restrict P, int input_forget, int f, float fa, float fb,
                            int g, float ga, float gb, int h, float ha, float hb, float clip,
                            float *restrict hs, float *restrict cs) {
    for (int64_t j = 0; j < H; j++) {
        float cp = cs[j];
        float i = gr[j] + xr[j], o = gr[H + j] + xr[H + j];
        float fg = gr[2 * H + j] + xr[2 * H + j], c = gr[3 * H + j] + xr[3 * H + j];
        if (P) {
            i += P[j] * cp;
            fg += P[2 * H + j] * cp;
        }
        i = act_one(f, fa, fb, clip_one(i, clip));
        fg = input_forget ? 1.0f - i : act_one(f, fa, fb, clip_one(fg, clip));
        c = act_one(g, ga, gb, clip_one(c, clip));
        float cn = fg * cp + i * c;
        if (P) o += P[H + j] * cn;
        o = act_one(f, fa, fb, clip_one(o, clip));
        cs[j] = cn;
        hs[j] = o * act_one(h, ha, hb, cn);
    }
}

/* xw[M, N] = X[M, K] W^T + bias in blocks of rows, so that each block of X
 * stays in cache while every panel of W^T passes over it. */
static void project(int64_t M, int64_t N, int64_t K, const float *restrict X,
                    const float *restrict Wp, const float *restrict bias, float *restrict xw) {
    for (int64_t r0 = 0; r0 < M; r0 += PROJ_ROWS) {
        int64_t m = M - r0 < PROJ_ROWS ? M - r0 : PROJ_ROWS;
        kiln_gemm_packed_f32(m, N, K, X + r0 * K, K, 1, Wp, bias, 0, 1, 1.0f, 1.0f, KILN_EPI_NONE,
                             xw + r0 * N, 0, 1);
    }
}

/* The step of batch row b at step s, or -1 if the row is past its length. */
static inline int64_t step_time(int64_t s, int64_t T, int64_t b, const int32_t *restrict lens,
                                int reverse) {
    int64_t len = lens ? lens[b] : T;
    if (s >= len) return -1;
    return reverse ? len - 1 - s : s;
}

void kiln_rnn_f32(int cell, int64_t T, int64_t B, int64_t I, int64_t H, int reverse,
                  const float *restrict X, int64_t x_ts, int64_t x_bs, const float *restrict Wp,
                  const float *restrict Rp, const float *restrict bias, const float *restrict rbh,
                  const float *restrict P, int lbr, int input_forget, const int32_t *restrict lens,
                  const float *restrict h0, int64_t h0_bs, const float *restrict c0, int64_t c0_bs,
                  int f, float fa, float fb, int g, float ga, float gb, int h, float ha, float hb,
                  float clip, float *restrict Y, int64_t y_ts, int64_t y_bs, float *restrict Yh,
                  int64_t yh_bs, float *restrict Yc, int64_t yc_bs, float *restrict scratch) {
    int64_t G = cell == KILN_RNN_CELL_LSTM ? 4 : cell == KILN_RNN_CELL_GRU ? 3 : 1;
    int64_t GH = G * H;
    /* A GRU with lbr == 0 needs r before its h gate's product: the step's
     * first product covers z and r only. */
    int split = cell == KILN_RNN_CELL_GRU && !lbr;
    int64_t N = split ? 2 * H : GH;
    const float *Rh = Rp + (2 * H + KILN_RNN_PANEL - 1) / KILN_RNN_PANEL * KILN_RNN_PANEL * H;
    float *xw = scratch, *gt = xw + T * B * GH, *hs = gt + B * GH, *cs = hs + B * H,
          *rh = cs + B * H, *gh = rh + B * H;

    /* Without sequence_lens and with the steps' rows contiguous (layout
     * 0), the projection goes a chunk of steps at a time, just before the
     * steps read it, so that it is still in cache; otherwise all of it up
     * front. Step t of row b is at xw row (t - t_lo) * x_ts + b * x_bs. */
    int chunked = !lens && B > 0 && x_bs == 1 && x_ts == B;
    int64_t chunk = chunked ? PROJ_FLOATS / (B * GH) : T;
    chunk = chunk < 1 ? 1 : chunk > T ? T : chunk;
    int64_t t_lo = 0;
    if (!chunked) project(T * B, GH, I, X, Wp, bias, xw);
    for (int64_t b = 0; b < B; b++) {
        for (int64_t j = 0; j < H; j++) {
            hs[b * H + j] = h0 ? h0[b * h0_bs + j] : 0.0f;
            cs[b * H + j] = c0 ? c0[b * c0_bs + j] : 0.0f;
        }
    }
    if (Y && lens)
        for (int64_t t = 0; t < T; t++)
            for (int64_t b = 0; b < B; b++)
                if (t >= lens[b]) memset(Y + t * y_ts + b * y_bs, 0, sizeof(float) * (size_t)H);

    for (int64_t s = 0; s < T; s++) {
        if (chunked && s % chunk == 0) {
            int64_t n_steps = T - s < chunk ? T - s : chunk;
            t_lo = reverse ? T - s - n_steps : s;
            project(n_steps * B, GH, I, X + t_lo * B * I, Wp, bias, xw);
        }
        kiln_gemm_packed_f32(B, N, H, hs, H, 1, Rp, 0, 0, 0, 1.0f, 0.0f, KILN_EPI_NONE, gt, 0, 1);
        if (split) {
            /* z and r, then r * h for the h gate's product. */
            for (int64_t b = 0; b < B; b++) {
                int64_t t = step_time(s, T, b, lens, reverse);
                float *gr = gt + b * N;
                if (t < 0) {
                    memset(rh + b * H, 0, sizeof(float) * (size_t)H);
                    continue;
                }
                add_clip(2 * H, gr, xw + ((t - t_lo) * x_ts + b * x_bs) * GH, clip);
                act_span(f, fa, fb, 2 * H, gr);
                for (int64_t j = 0; j < H; j++)
                    rh[b * H + j] = gr[H + j] * hs[b * H + j];
            }
            kiln_gemm_packed_f32(B, H, H, rh, H, 1, Rh, 0, 0, 0, 1.0f, 0.0f, KILN_EPI_NONE, gh, 0,
                                 1);
        }
        for (int64_t b = 0; b < B; b++) {
            int64_t t = step_time(s, T, b, lens, reverse);
            if (t < 0) continue;
            const float *xr = xw + ((t - t_lo) * x_ts + b * x_bs) * GH;
            float *gr = gt + b * N, *hb_ = hs + b * H;
            if (cell == KILN_RNN_CELL_LSTM) {
                lstm_row(H, gr, xr, P, input_forget, f, fa, fb, g, ga, gb, h, ha, hb, clip, hb_,
                         cs + b * H);
            } else if (cell == KILN_RNN_CELL_GRU) {
                float *z = gr, *hh = split ? gh + b * H : gr + 2 * H;
                if (split) {
                    add_clip(H, hh, xr + 2 * H, clip);
                } else {
                    add_clip(2 * H, gr, xr, clip);
                    act_span(f, fa, fb, 2 * H, gr);
                    const float *r = gr + H;
                    for (int64_t j = 0; j < H; j++)
                        hh[j] = xr[2 * H + j] + r[j] * (hh[j] + (rbh ? rbh[j] : 0.0f));
                    add_clip(H, hh, NULL, clip);
                }
                act_span(g, ga, gb, H, hh);
                for (int64_t j = 0; j < H; j++)
                    hb_[j] = (1.0f - z[j]) * hh[j] + z[j] * hb_[j];
            } else {
                add_clip(H, gr, xr, clip);
                act_span(f, fa, fb, H, gr);
                memcpy(hb_, gr, sizeof(float) * (size_t)H);
            }
            if (Y) memcpy(Y + t * y_ts + b * y_bs, hb_, sizeof(float) * (size_t)H);
        }
    }
    for (int64_t b = 0; b < B; b++) {
        if (Yh) memcpy(Yh + b * yh_bs, hs + b * H, sizeof(float) * (size_t)H);
        if (Yc) memcpy(Yc + b * yc_bs, cs + b * H, sizeof(float) * (size_t)H);
    }
}

int32_t kiln_rnn_check_lens(int64_t B, int64_t T, const int32_t *restrict lens,
                            KilnRunError *restrict err) {
    for (int64_t b = 0; b < B; b++) {
        if (lens[b] >= 0 && lens[b] <= T) continue;
        err->kind = KILN_CHECK_RANGE;
        err->value = lens[b];
        err->position = b;
        err->size = T + 1;
        return 1;
    }
    return 0;
}
