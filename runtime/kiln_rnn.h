/* kiln_rnn.h: what the compiler and the recurrent kernels (runtime/kernels/
 * rnn.c) agree on for RNN, GRU and LSTM.
 *
 * - The activations ONNX allows in a recurrent cell, as one table: shape
 *   inference (passes/shapes_rnn.c) checks the node's `activations`
 *   against it, codegen (compiler/codegen/emit_rnn.c) turns each name into
 *   its KILN_RNN_ACT_* value and its alpha/beta (the attribute's, in order,
 *   for those that take them, as ONNX Runtime reads them; else the
 *   default), and the kernel applies it.
 * - The cell kinds and the scratch the kernel uses (kiln_rnn_scratch_floats).
 * - The weight layout: codegen packs W^T and R^T at compile time in the
 *   panels of kiln_gemm_packed_f32 (runtime/kernels/kernels.h), 32 columns.
 *
 * Header only, no dependencies but <stdint.h>.
 */
#ifndef KILN_RNN_H
#define KILN_RNN_H

#include <stdint.h>

/* X(enum suffix, ONNX name, takes alpha, default alpha, takes beta, default beta) */
#define KILN_RNN_ACTIVATIONS(X)                                                                    \
    X(RELU, "Relu", 0, 0.0f, 0, 0.0f)                                                              \
    X(TANH, "Tanh", 0, 0.0f, 0, 0.0f)                                                              \
    X(SIGMOID, "Sigmoid", 0, 0.0f, 0, 0.0f)                                                        \
    X(AFFINE, "Affine", 1, 1.0f, 1, 0.0f)                                                          \
    X(LEAKY_RELU, "LeakyRelu", 1, 0.01f, 0, 0.0f)                                                  \
    X(THRESHOLDED_RELU, "ThresholdedRelu", 1, 1.0f, 0, 0.0f)                                       \
    X(SCALED_TANH, "ScaledTanh", 1, 1.0f, 1, 1.0f)                                                 \
    X(HARD_SIGMOID, "HardSigmoid", 1, 0.2f, 1, 0.5f)                                               \
    X(ELU, "Elu", 1, 1.0f, 0, 0.0f)                                                                \
    X(SOFTSIGN, "Softsign", 0, 0.0f, 0, 0.0f)                                                      \
    X(SOFTPLUS, "Softplus", 0, 0.0f, 0, 0.0f)

enum {
#define KILN_RNN_ACT_ENUM(e, ...) KILN_RNN_ACT_##e,
    KILN_RNN_ACTIVATIONS(KILN_RNN_ACT_ENUM)
#undef KILN_RNN_ACT_ENUM
        KILN_RNN_ACT_COUNT
};

/* The cell: its gate count G and its default activations per direction. */
enum { KILN_RNN_CELL_RNN, KILN_RNN_CELL_GRU, KILN_RNN_CELL_LSTM };

/* Columns per panel of the packed weights (kiln_gemm_packed_f32's). */
#define KILN_RNN_PANEL 32

/* Floats of scratch for one direction's run over T steps of B rows, G
 * gates of H: the input projection [T*B, G*H], the recurrent gates
 * [B, G*H], and four [B, H] rows (h, c, r*h, the GRU's second product).
 * The compiler computes the same with checked arithmetic on Dims. */
static inline int64_t kiln_rnn_scratch_floats(int64_t T, int64_t B, int64_t G, int64_t H) {
    return T * B * G * H + B * G * H + 4 * B * H;
}

#endif
