/* emit_dwconv.c: the depthwise convolution's kernel call.
 *
 * emit_conv (emit_nn.c) sends here every Conv with one input channel per
 * group and more than one group, whatever the channel multiplier (output
 * channels per group). The kernel (runtime/kernels/dwconv.h) reads the
 * weights as the model has them, needs no scratch, and applies the node's
 * epilogue (any Epilogue, with its parameters) itself.
 */
#include <assert.h>

#include "cg.h"

int emit_conv_depthwise(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0], *w = n->inputs[1], *y = n->outputs[0];
    assert(n->plan_kind == PLAN_CONV && x->dtype == DT_F32 && w->data);
    const ConvPlan *p = n->plan.conv;
    int r = p->rank, o = 3 - r;
    assert(r == x->shape.rank - 2 && r <= 3);
    /* (D, H, W) triples, unit leading dims for 1-D and 2-D data. */
    Sym I[3] = {1, 1, 1}, O[3] = {1, 1, 1};
    int64_t K[3] = {1, 1, 1}, S[3] = {1, 1, 1}, T[3] = {1, 1, 1}, P[3] = {0, 0, 0};
    for (int i = 0; i < r; i++) {
        I[o + i] = x->shape.dims[2 + i];
        O[o + i] = p->out[i];
        K[o + i] = p->kernel[i];
        S[o + i] = p->stride[i];
        T[o + i] = p->dilation[i];
        P[o + i] = p->pad_begin[i];
    }
    int64_t G = p->group, M = y->shape.dims[1] / G;
    LLVMValueRef args[40];
    unsigned k = 0;
    args[k++] = cg_sym_value(cg, cg_sym_dim(x->shape.dims[0]));
    args[k++] = cg_i64(cg, G);
    args[k++] = cg_i64(cg, M);
    for (int i = 0; i < 3; i++)
        args[k++] = cg_sym_value(cg, I[i]);
    for (int i = 0; i < 3; i++)
        args[k++] = cg_sym_value(cg, O[i]);
    const int64_t *consts[] = {K, S, T, P};
    for (int c = 0; c < 4; c++)
        for (int i = 0; i < 3; i++)
            args[k++] = cg_i64(cg, consts[c][i]);
    args[k++] = cg_addr(cg, x);
    args[k++] = cg_addr(cg, w);
    args[k++] =
        n->n_inputs > 2 && n->inputs[2] ? cg_addr(cg, n->inputs[2]) : LLVMConstPointerNull(cg->ptr);
    args[k++] = cg_i32(cg, (int)n->epilogue);
    args[k++] = cg_f32(cg, n->epi_a);
    args[k++] = cg_f32(cg, n->epi_b);
    args[k++] = cg_addr(cg, y);
    /* Split over output planes on the pool's threads; the work is the
     * multiply-adds, N * G * M planes of O pixels by K taps, each weighted
     * as DW_MAC_COST of the GEMM's (cg_call_split's unit): a tap reuses
     * one weight over one vector, not a register tile, and runs at about
     * an eighth of the GEMM's rate. Unweighted, mobile nets' 14x14 and
     * 7x7 depthwise layers (50-80 us each) stayed on one thread. */
    enum { DW_MAC_COST = 8 };
    Sym work = cg_sym_mul(cg_sym_dim(x->shape.dims[0]), G * M * K[0] * K[1] * K[2] * DW_MAC_COST);
    for (int i = 0; i < 3; i++)
        work = cg_sym_mul(work, O[i]);
    return cg_call_split_typed(cg, n, "conv_dw", x->dtype, work, args, k);
}
