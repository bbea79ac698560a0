/* signal_kernels.h: kernels of the signal and sampling ops (compiler/ir/ops_signal.def,
 * ops_string.def): DFT, STFT, GridSample, RoiAlign and TfIdfVectorizer. The
 * window functions and MelWeightMatrix are computed at compile time
 * (passes/shapes_signal.c) and have no kernel.
 *
 * Conventions as in kernels.h: no allocation, restrict operands, sizes
 * checked at compile time. A complex tensor has a trailing dim of 2
 * (real, imaginary), as ONNX's DFT and STFT spell it. Transforms compute
 * in double: a radix-2 FFT when the length is a power of two, else a
 * direct DFT below 64 points and Bluestein's chirp z-transform (three
 * radix-2 FFTs of a power of two m >= 2n - 1) from 64 on; twiddles and
 * chirps are exact angles (2*pi*k/n, pi*(k^2 mod 2n)/n), never a
 * recurrence, so float32 results are within a few ulp of numpy's.
 */
#ifndef KILN_SIGNAL_H
#define KILN_SIGNAL_H

#include <stdint.h>

#include "kernels.h"

/* Scratch doubles the transforms need for a length-n transform: 6n, plus
 * Bluestein's three length-m arrays (m < 4n a power of two), 24n. */
#define KILN_DFT_SCRATCH_DOUBLES(n) (32 * (n))

/* DFT along the middle axis of x viewed as [outer, len, inner, cin] (cin 1:
 * real, 2: complex) into y viewed as [outer, n_out, inner, 2]: each line is
 * cut or zero-padded to n_fft points, transformed (inverse: e^{+i}, scaled
 * by 1/n_fft, as numpy's ifft) and its first n_out bins written (n_out ==
 * n_fft, or n_fft/2 + 1 for onesided). scratch holds
 * KILN_DFT_SCRATCH_DOUBLES(n_fft) doubles. */
void kiln_dft_f32(int64_t outer, int64_t len, int64_t inner, int32_t cin, const float *restrict x,
                  int64_t n_fft, int64_t n_out, int32_t inverse, float *restrict y,
                  double *restrict scratch);

/* STFT: x is [batch, siglen, cin]; frame f of batch b is x[b, f*step ..
 * f*step + frame_len) times window[frame_len] (NULL: none), transformed
 * (length frame_len) into y[b, f, 0..n_out, 2]. frames*step stays within
 * the signal (checked at compile time or by the model's shape checks). */
void kiln_stft_f32(int64_t batch, int64_t siglen, int32_t cin, const float *restrict x,
                   int64_t step, const float *restrict window, int64_t frame_len, int64_t frames,
                   int64_t n_out, float *restrict y, double *restrict scratch);

/* GridSample (opset 16, as ONNX Runtime computes it): x [N, C, H, W], grid
 * [N, Ho, Wo, 2] of (x, y) in [-1, 1], y [N, C, Ho, Wo]. */
enum { KILN_GS_BILINEAR = 0, KILN_GS_NEAREST = 1, KILN_GS_BICUBIC = 2 };
enum { KILN_GS_ZEROS = 0, KILN_GS_BORDER = 1, KILN_GS_REFLECTION = 2 };
void kiln_grid_sample_f32(int64_t N, int64_t C, int64_t H, int64_t W, int64_t Ho, int64_t Wo,
                          int32_t mode, int32_t padding, int32_t align_corners,
                          const float *restrict x, const float *restrict grid, float *restrict y);

/* RoiAlign (opset 16, as ONNX Runtime computes it): x [N, C, H, W], rois
 * [R, 4] (x1, y1, x2, y2), batch_indices [R] (checked: in [0, N)), y [R, C,
 * oh, ow]. max: the largest weighted corner sample, as ORT. */
int32_t kiln_roi_align_f32(int64_t N, int64_t C, int64_t H, int64_t W, int64_t R, int64_t oh,
                           int64_t ow, int64_t sampling_ratio, float spatial_scale,
                           int32_t half_pixel, int32_t is_max, const float *restrict x,
                           const float *restrict rois, const int64_t *restrict batch_indices,
                           float *restrict y, KilnRunError *restrict err);

/* TfIdfVectorizer over integer tokens: x [rows, C] (elem_size 4: int32, 8:
 * int64); the pool's n-grams form a trie whose node k has children
 * edges [first[k], first[k] + count[k]), sorted by key, edge e going to
 * node child[e] and ending n-gram id[e] (-1: none; else its output index).
 * For each row, unigrams are counted once and longer n-grams once per skip
 * distance 1..max_skip+1 (ORT's counting); y [rows, n_out] gets the counts
 * (mode 0 TF), weight-or-0 (1 IDF) or count*weight (2 TFIDF), weights[n_out]
 * (NULL: 1). */
void kiln_tfidf(int64_t rows, int64_t C, int64_t elem_size, const void *restrict x, int64_t min_n,
                int64_t max_n, int64_t max_skip, const int64_t *restrict first,
                const int64_t *restrict count, const int64_t *restrict key,
                const int64_t *restrict child, const int64_t *restrict id, int64_t n_out,
                int32_t mode, const float *restrict weights, float *restrict y);

/* The same over string tokens (NUL-terminated): each x[i] is looked up
 * among the n_vocab sorted, distinct vocab strings, whose positions are
 * the trie's keys (-1: none, which matches nothing), into ids[rows * C]
 * (scratch). */
void kiln_tfidf_str(int64_t rows, int64_t C, const char *const *restrict x,
                    const char *const *restrict vocab, int64_t n_vocab, int64_t *restrict ids,
                    int64_t min_n, int64_t max_n, int64_t max_skip, const int64_t *restrict first,
                    const int64_t *restrict count, const int64_t *restrict key,
                    const int64_t *restrict child, const int64_t *restrict id, int64_t n_out,
                    int32_t mode, const float *restrict weights, float *restrict y);

#endif
