/* emit_transformer.c: codegen of the ops kiln fuses itself
 * (compiler/ir/ops_transformer.def); kernels in runtime/kernels/transformer.c. */
#include "cg.h"

/* Value v of FusedAttention as (L, group stride, row stride): [G, L, D]
 * or, with attribute lgd set, [L, G, D]; elements contiguous. */
static void attention_view(const Node *n, const Value *v, const char *lgd, Sym *L, Sym *gs,
                           Sym *rs) {
    const Shape *s = &v->shape;
    Sym d = cg_sym_dim(s->dims[2]);
    if (ir_attr_int(n, lgd, 0)) {
        *L = cg_sym_dim(s->dims[0]), *gs = d, *rs = cg_sym_mul(cg_sym_dim(s->dims[1]), d);
    } else {
        *L = cg_sym_dim(s->dims[1]), *gs = cg_sym_mul(*L, d), *rs = d;
    }
}

int emit_attention(Codegen *cg, const Node *n) {
    const Value *q = n->inputs[0], *k = n->inputs[1], *v = n->inputs[2], *y = n->outputs[0];
    Sym Lq, Lk, Lv, Ly, qg, qr, kg, kr, vg, vr, yg, yr;
    attention_view(n, q, "q_lgd", &Lq, &qg, &qr);
    attention_view(n, k, "k_lgd", &Lk, &kg, &kr);
    attention_view(n, v, "v_lgd", &Lv, &vg, &vr);
    attention_view(n, y, "y_lgd", &Ly, &yg, &yr);
    int ql = ir_attr_int(n, "q_lgd", 0) != 0;
    Sym G = cg_sym_dim(q->shape.dims[ql]), D = cg_sym_dim(q->shape.dims[2]);
    LLVMValueRef args[] = {cg_sym_value(cg, G),  cg_sym_value(cg, Lq),
                           cg_sym_value(cg, Lk), cg_sym_value(cg, D),
                           cg_addr(cg, q),       cg_sym_value(cg, qg),
                           cg_sym_value(cg, qr), cg_addr(cg, k),
                           cg_sym_value(cg, kg), cg_sym_value(cg, kr),
                           cg_addr(cg, v),       cg_sym_value(cg, vg),
                           cg_sym_value(cg, vr), cg_f32(cg, ir_attr_float(n, "scale", 1.0f)),
                           cg_addr(cg, y),       cg_sym_value(cg, yg),
                           cg_sym_value(cg, yr), cg_scratch(cg, n)};
    /* Two products of Lq x Lk x D per group, split over heads and row
     * blocks on the pool's threads. */
    Sym work = cg_sym_mul(cg_sym_mul(G, 2), cg_sym_mul(cg_sym_mul(Lq, Lk), D));
    return cg_call_split_typed(cg, n, "attention", q->dtype, work, args,
                               sizeof args / sizeof *args);
}
