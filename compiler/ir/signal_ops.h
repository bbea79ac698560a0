/* signal_ops.h: how the signal and sampling ops (ops_signal.def) read their
 * attributes, shared by their shape functions (passes/shapes_signal.c) and
 * emit functions (compiler/codegen/emit_signal.c) so that both resolve
 * them alike. The mode numbers are the kernels' KILN_GS_* (runtime/kernels/
 * signal_kernels.h; emit_signal.c asserts that they agree).
 */
#ifndef SIGNAL_OPS_H
#define SIGNAL_OPS_H

#include <string.h>

#include "ir.h"

/* Bytes of transform scratch per point that DFT and STFT reserve:
 * 8 * KILN_DFT_SCRATCH_DOUBLES(1) of runtime/kernels/signal_kernels.h, which
 * passes may not include (emit_signal.c asserts that they agree). */
#define SIGNAL_SCRATCH_BYTES_PER_POINT 256

/* DFT's axis (default 1, negative from the back) into *axis: 0 if it names
 * a dim of a rank-`rank` signal other than the last (real, imag). */
static inline int signal_dft_axis(const Node *n, int rank, int64_t *axis) {
    int64_t a = ir_attr_int(n, "axis", 1);
    if (a < 0) a += rank;
    *axis = a;
    return a >= 0 && a < rank - 1 ? 0 : -1;
}

/* GridSample's mode (opset 16 names, and opset 20's linear/cubic): 0
 * bilinear, 1 nearest, 2 bicubic; -1 if unknown. */
static inline int signal_grid_mode(const Node *n) {
    const char *m = ir_attr_str(n, "mode", "bilinear");
    if (!strcmp(m, "bilinear") || !strcmp(m, "linear")) return 0;
    if (!strcmp(m, "nearest")) return 1;
    if (!strcmp(m, "bicubic") || !strcmp(m, "cubic")) return 2;
    return -1;
}

/* GridSample's padding_mode: 0 zeros, 1 border, 2 reflection; -1 if unknown. */
static inline int signal_grid_padding(const Node *n) {
    const char *m = ir_attr_str(n, "padding_mode", "zeros");
    if (!strcmp(m, "zeros")) return 0;
    if (!strcmp(m, "border")) return 1;
    if (!strcmp(m, "reflection")) return 2;
    return -1;
}

/* RoiAlign's coordinate_transformation_mode: 1 half_pixel (the default
 * from opset 16), 0 output_half_pixel (opset 10's only behaviour); -1 if
 * unknown. */
static inline int signal_roi_half_pixel(const Node *n) {
    const char *m = ir_attr_str(n, "coordinate_transformation_mode",
                                n->opset >= 16 ? "half_pixel" : "output_half_pixel");
    if (!strcmp(m, "half_pixel")) return 1;
    if (!strcmp(m, "output_half_pixel")) return 0;
    return -1;
}

#endif
