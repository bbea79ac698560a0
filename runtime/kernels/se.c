/* se.c: the squeeze-and-excitation scale folded into a convolution (se.h). */
#include "se.h"

#include "nn.h"

/* dst = Wp with input channel g*C + c's rows times s[g*C + c]. */
static void scale_weights(int64_t G, int64_t C, int64_t n_cb, int64_t taps,
                          const float *restrict Wp, const float *restrict s, float *restrict dst) {
    int64_t K = C * taps;
    for (int64_t g = 0; g < G; g++)
        for (int64_t b = 0; b < n_cb; b++)
            for (int64_t c = 0; c < C; c++) {
                float f = s[g * C + c];
                int64_t at = ((g * n_cb + b) * K + c * taps) * KILN_CONV_TILE_CO;
                for (int64_t i = 0; i < taps * KILN_CONV_TILE_CO; i++)
                    dst[at + i] = Wp[at + i] * f;
            }
}

void kiln_conv_scaled_f32(int64_t N, int64_t G, int64_t C, int64_t M, int64_t ID, int64_t IH,
                          int64_t IW, int64_t OD, int64_t OH, int64_t OW, int64_t KD, int64_t KH,
                          int64_t KW, int64_t SD, int64_t SH, int64_t SW, int64_t TD, int64_t TH,
                          int64_t TW, int64_t PD, int64_t PH, int64_t PW, const float *restrict X,
                          const float *restrict Wp, const float *restrict S,
                          const float *restrict B, const float *restrict R, int epi, float epi_a,
                          float epi_b, float *restrict scratch, float *restrict Y, int64_t task,
                          int64_t n_tasks) {
    int64_t taps = KD * KH * KW, n_cb = (M + KILN_CONV_TILE_CO - 1) / KILN_CONV_TILE_CO;
    int64_t parts = n_tasks < 1 ? 1 : n_tasks < KILN_CONV_MAX_TASKS ? n_tasks : KILN_CONV_MAX_TASKS;
    if (task < 0 || task >= parts) return; /* kiln_conv_f32 gives them no work either */
    int64_t wf = kiln_conv_scaled_weight_floats(G, C, M, taps);
    float *restrict w = scratch + task * wf;
    float *restrict conv_scratch = scratch + kiln_conv_scaled_scratch_floats(G, C, M, taps);
    int64_t x_image = G * C * ID * IH * IW, y_image = G * M * OD * OH * OW;
    for (int64_t n = 0; n < N; n++) {
        /* Each task scales its own copy, so no task waits for another. */
        scale_weights(G, C, n_cb, taps, Wp, S + n * G * C, w);
        kiln_conv_f32(1, G, C, M, ID, IH, IW, OD, OH, OW, KD, KH, KW, SD, SH, SW, TD, TH, TW, PD,
                      PH, PW, X + n * x_image, w, B, R ? R + n * y_image : 0, epi, epi_a, epi_b,
                      conv_scratch, Y + n * y_image, task, n_tasks);
    }
}
