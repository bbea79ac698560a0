/* shapes_transformer.c: shape functions of the ops kiln fuses itself
 * (compiler/ir/ops_transformer.def). */
#include "kiln_kernel_abi.h" /* KILN_ATTN_ROWS, KILN_ATTN_SLOTS: the kernel's scratch */
#include "shapes.h"

/* Operand i of FusedAttention as (G, L, D), from its layout attribute. */
static int attention_dims(Node *n, int i, const char *lgd, Dim *G, Dim *L, Dim *D, Diag *d) {
    Value *v = shapes_in(n, i);
    if (!v || v->shape.rank != 3 || v->dtype != DT_F32) {
        diag_node(d, n, "input %d must be a rank 3 float tensor", i);
        return -1;
    }
    int l = ir_attr_int(n, lgd, 0) != 0;
    *L = v->shape.dims[!l], *G = v->shape.dims[l], *D = v->shape.dims[2];
    return 0;
}

int shape_attention(Node *n, Diag *d) {
    Dim G[3], L[3], D[3];
    if (attention_dims(n, 0, "q_lgd", &G[0], &L[0], &D[0], d) ||
        attention_dims(n, 1, "k_lgd", &G[1], &L[1], &D[1], d) ||
        attention_dims(n, 2, "v_lgd", &G[2], &L[2], &D[2], d))
        return -1;
    Dim g, g2, dd, dd2, lk;
    if (shapes_unify(n, G[0], G[1], &g, "the groups of Q and K") ||
        shapes_unify(n, g, G[2], &g2, "the groups of Q and V") ||
        shapes_unify(n, D[0], D[1], &dd, "the depth of Q and K") ||
        shapes_unify(n, dd, D[2], &dd2, "the depth of Q and V") ||
        shapes_unify(n, L[1], L[2], &lk, "the lengths of K and V")) {
        diag_node(d, n, "Q, K and V do not fit together");
        return -1;
    }
    Shape out = {3, {0}};
    int l = ir_attr_int(n, "y_lgd", 0) != 0;
    out.dims[!l] = L[0], out.dims[l] = g2, out.dims[2] = dd2;
    shapes_set(n, 0, DT_F32, &out);
    if (shapes_check_outputs(n, d)) return -1;
    Dim bytes = dim_mul(dim_mul(dim_add(dd2, KILN_ATTN_ROWS), lk),
                        (int64_t)sizeof(float) * KILN_ATTN_SLOTS);
    int64_t lo, hi;
    if (bytes == DIM_INVALID || dim_bounds(bytes, &lo, &hi) || hi > KILN_MAX_DYN_BYTES ||
        (bytes >= 0 && bytes > KILN_MAX_TENSOR_BYTES)) {
        diag_node(d, n, "the attention needs more than kiln's limit of %lld bytes of scratch",
                  (long long)KILN_MAX_TENSOR_BYTES);
        diag_hint(d, "bound the sequence length with --dim");
        return -1;
    }
    n->scratch = bytes;
    return 0;
}
