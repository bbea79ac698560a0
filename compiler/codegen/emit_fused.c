/* emit_fused.c: kernel calls of kiln's fused ops (compiler/ir/ops_fused.def;
 * kernels in runtime/kernels/fused.h). */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>

#include "cg.h"

int emit_activation(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0];
    assert(x->dtype == DT_F32);
    LLVMValueRef args[] = {cg_i32(cg, (int)n->epilogue),
                           cg_f32(cg, n->epi_a),
                           cg_f32(cg, n->epi_b),
                           cg_sym_value(cg, cg_sym_prod(&x->shape, 0, x->shape.rank)),
                           cg_addr(cg, x),
                           cg_addr(cg, n->outputs[0]),
                           cg_i64(cg, 0), /* task, n_tasks: the whole, until the pool is wired */
                           cg_i64(cg, 1)};
    return cg_call_typed(cg, n, "activation", DT_F32, args, sizeof args / sizeof *args);
}

/* W [M, C, 1...] transposed into [C, M], the kernel's layout. */
static LLVMValueRef pack_transposed(Codegen *cg, const Value *w, int64_t M, int64_t C) {
    size_t count = (size_t)(M * C);
    float *p = malloc(count * sizeof(float));
    if (!p) kiln_oom("transposed ConvVec weights");
    const float *src = w->data;
    for (int64_t m = 0; m < M; m++)
        for (int64_t c = 0; c < C; c++)
            p[c * M + m] = src[m * C + c];
    char name[256];
    snprintf(name, sizeof name, "%s.transposed", w->name);
    LLVMValueRef v = cg_const_bytes(cg, p, count * sizeof(float), 64, name);
    free(p);
    return v;
}

int emit_conv_vec(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0], *w = n->inputs[1];
    assert(x->dtype == DT_F32 && w->data);
    int64_t C = x->shape.dims[1], M = w->shape.dims[0];
    LLVMValueRef args[] = {cg_sym_value(cg, cg_sym_dim(x->shape.dims[0])),
                           cg_i64(cg, C),
                           cg_i64(cg, M),
                           cg_addr(cg, x),
                           pack_transposed(cg, w, M, C),
                           n->n_inputs > 2 && n->inputs[2] ? cg_addr(cg, n->inputs[2])
                                                           : LLVMConstPointerNull(cg->ptr),
                           cg_i32(cg, (int)n->epilogue),
                           cg_f32(cg, n->epi_a),
                           cg_f32(cg, n->epi_b),
                           cg_addr(cg, n->outputs[0]),
                           cg_i64(cg, 0), /* task, n_tasks */
                           cg_i64(cg, 1)};
    return cg_call_typed(cg, n, "conv_vec", DT_F32, args, sizeof args / sizeof *args);
}
