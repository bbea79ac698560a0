/* emit_misc.c: kernel calls for compiler/ir/ops_misc.def (kernels in
 * runtime/kernels/misc.h). Scatter is ScatterElements' emit_scatter_elements.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "cg.h"
#include "einsum.h"
#include "misc.h"

static const char *m_site(Codegen *cg, const Node *n, const char *what) {
    return arena_printf(cg->g->arena, "node '%s' (%s): %s", n->name, n->op_type, what);
}

static LLVMValueRef m_numel(Codegen *cg, const Value *v) {
    return cg_sym_value(cg, cg_sym_prod(&v->shape, 0, v->shape.rank));
}

/* A stack array of n values of type t, stored at the builder's position. */
static LLVMValueRef m_array(Codegen *cg, LLVMTypeRef t, const LLVMValueRef *v, int n) {
    LLVMValueRef arr = LLVMBuildAlloca(cg->builder, LLVMArrayType2(t, (uint64_t)(n ? n : 1)), "");
    for (int i = 0; i < n; i++) {
        LLVMValueRef idx = cg_i64(cg, i);
        LLVMBuildStore(cg->builder, v[i], LLVMBuildGEP2(cg->builder, t, arr, &idx, 1, ""));
    }
    return arr;
}

/* The stride of label l in operand i (its shape s, labels lab): the
 * product of the dims after its axis; 0 if absent. */
static Sym m_label_stride(const Shape *s, const int *lab, int l) {
    for (int k = 0; k < s->rank; k++)
        if (lab[k] == l) return cg_sym_prod(s, k + 1, s->rank);
    return 0;
}

/* Einsum of two float operands that is a batched matrix product
 * ('bhqd,bhkd->bhqk', 'ij,jk->ik'): batch labels leading in both inputs
 * and the output in the same order, then at most one label each of M (A
 * and the output), N (B and the output) and K (A and B), the output
 * [batch..., M, N]; no diagonals, broadcasts or labels summed within one
 * input. Emits kiln_einsum_mm_f32 and returns 1, or 0 if it is not one. */
static int m_einsum_matmul(Codegen *cg, const Node *n, const EinsumSpec *sp, const Sym *size) {
    if (sp->n_ops != 2 || n->inputs[0]->dtype != DT_F32) return 0;
    const Shape *sa = &n->inputs[0]->shape, *sb = &n->inputs[1]->shape;
    const int *la = sp->label[0], *lb = sp->label[1], *lo = sp->label[2];
    int ra = sp->rank[0], rb = sp->rank[1], ro = sp->rank[2];
    int in[EINSUM_MAX_LABELS] = {0}; /* bit 0: in A, 1: in B, 2: in the output; 8: repeated */
    for (int k = 0; k < ra; k++)
        in[la[k]] |= in[la[k]] & 1 ? 8 : 1;
    for (int k = 0; k < rb; k++)
        in[lb[k]] |= in[lb[k]] & 2 ? 8 : 2;
    for (int k = 0; k < ro; k++)
        in[lo[k]] |= 4;
    int M = -1, N = -1, K = -1, nb = 0;
    for (int l = 0; l < sp->n_labels; l++) {
        int *slot = in[l] == 5 ? &M : in[l] == 6 ? &N : in[l] == 3 ? &K : NULL;
        if (in[l] == 7) {
            nb++;
        } else if (!slot || *slot >= 0) {
            return 0; /* a diagonal, a label of one input alone, or two M (N, K) labels */
        } else {
            *slot = l;
        }
    }
    for (int k = 0; k < 2; k++) { /* no broadcast axes */
        const Shape *s = k ? sb : sa;
        const int *lab = k ? lb : la;
        for (int j = 0; j < s->rank; j++)
            if (!cg_sym_eq(cg_sym_dim(s->dims[j]), size[lab[j]])) return 0;
    }
    if (ro != nb + (M >= 0) + (N >= 0)) return 0;
    for (int k = 0; k < nb; k++)
        if (la[k] != lo[k] || lb[k] != lo[k]) return 0;
    if ((M >= 0 && lo[nb] != M) || (N >= 0 && lo[ro - 1] != N)) return 0;
    Sym one = 1;
    Sym sm = M >= 0 ? size[M] : one, sn = N >= 0 ? size[N] : one, sk = K >= 0 ? size[K] : one;
    LLVMValueRef args[] = {cg_sym_value(cg, cg_sym_prod(sa, 0, nb)),
                           cg_sym_value(cg, sm),
                           cg_sym_value(cg, sn),
                           cg_sym_value(cg, sk),
                           cg_addr(cg, n->inputs[0]),
                           cg_sym_value(cg, cg_sym_prod(sa, nb, ra)),
                           cg_sym_value(cg, M >= 0 ? m_label_stride(sa, la, M) : 0),
                           cg_sym_value(cg, K >= 0 ? m_label_stride(sa, la, K) : 0),
                           cg_addr(cg, n->inputs[1]),
                           cg_sym_value(cg, cg_sym_prod(sb, nb, rb)),
                           cg_sym_value(cg, K >= 0 ? m_label_stride(sb, lb, K) : 0),
                           cg_sym_value(cg, N >= 0 ? m_label_stride(sb, lb, N) : 0),
                           cg_scratch(cg, n),
                           cg_addr(cg, n->outputs[0])};
    Sym work = cg_sym_mul(cg_sym_mul(cg_sym_prod(sa, 0, nb), sm), cg_sym_mul(sn, sk));
    cg_call_split(cg, work, "kiln_einsum_mm_f32", args, 14);
    return 1;
}

int emit_einsum(Codegen *cg, const Node *n) {
    EinsumSpec sp;
    int ranks[EINSUM_MAX_OPS];
    char err[160];
    for (int i = 0; i < n->n_inputs; i++)
        ranks[i] = n->inputs[i]->shape.rank;
    if (einsum_parse(ir_attr_str(n, "equation", ""), n->n_inputs, ranks, &sp, err)) {
        diag_node(cg->d, n, "equation: %s", err); /* shape inference accepted it */
        return -1;
    }
    /* Each label's size: the first axis with it that is not a broadcast 1. */
    Sym size[EINSUM_MAX_LABELS];
    for (int l = 0; l < sp.n_labels; l++)
        size[l] = 1;
    for (int i = 0; i < sp.n_ops; i++)
        for (int k = 0; k < ranks[i]; k++)
            if (n->inputs[i]->shape.dims[k] != 1)
                size[sp.label[i][k]] = n->inputs[i]->shape.dims[k];
    if (m_einsum_matmul(cg, n, &sp, size)) return 0;
    int32_t labels[(EINSUM_MAX_OPS + 1) * IR_MAX_RANK], rk[EINSUM_MAX_OPS + 1];
    int nl = 0;
    for (int i = 0; i <= sp.n_ops; i++) {
        rk[i] = sp.rank[i];
        for (int k = 0; k < sp.rank[i]; k++) {
            int l = sp.label[i][k];
            int bcast = i < sp.n_ops && n->inputs[i]->shape.dims[k] == 1 && !cg_sym_is(size[l], 1);
            labels[nl++] = bcast ? -1 : l;
        }
    }
    LLVMValueRef sz[EINSUM_MAX_LABELS], ops[EINSUM_MAX_OPS];
    for (int l = 0; l < sp.n_labels; l++)
        sz[l] = cg_sym_value(cg, size[l]);
    for (int i = 0; i < sp.n_ops; i++)
        ops[i] = cg_addr(cg, n->inputs[i]);
    LLVMValueRef args[] = {
        cg_i32(cg, sp.n_ops),
        cg_i32(cg, sp.n_labels),
        m_array(cg, cg->i64, sz, sp.n_labels),
        cg_const_bytes(cg, rk, sizeof(int32_t) * (size_t)(sp.n_ops + 1), 4, "einsum_ranks"),
        cg_const_bytes(cg, labels, sizeof(int32_t) * (size_t)(nl ? nl : 1), 4, "einsum_labels"),
        m_array(cg, cg->ptr, ops, sp.n_ops),
        cg_addr(cg, n->outputs[0])};
    return cg_call_typed(cg, n, "einsum", n->inputs[0]->dtype, args, 7);
}

int emit_one_hot(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0], *y = n->outputs[0];
    int64_t axis = ir_attr_int(n, "axis", -1);
    if (axis < 0) axis += y->shape.rank;
    LLVMValueRef args[] = {cg_sym_value(cg, cg_sym_prod(&y->shape, 0, (int)axis)),
                           cg_i64(cg, y->shape.dims[axis]),
                           cg_sym_value(cg, cg_sym_prod(&y->shape, (int)axis + 1, y->shape.rank)),
                           cg_addr(cg, x),
                           cg_addr(cg, n->inputs[2]),
                           cg_i64(cg, (int64_t)dtype_size(y->dtype)),
                           cg_addr(cg, y)};
    return cg_call_typed(cg, n, "one_hot", x->dtype, args, 7);
}

int emit_det(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0];
    int r = x->shape.rank;
    LLVMValueRef args[] = {cg_sym_value(cg, cg_sym_prod(&x->shape, 0, r - 2)),
                           cg_i64(cg, x->shape.dims[r - 1]), cg_addr(cg, x), cg_scratch(cg, n),
                           cg_addr(cg, n->outputs[0])};
    return cg_call_typed(cg, n, "det", x->dtype, args, 5);
}

int emit_reverse_sequence(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0];
    int tm = ir_attr_int(n, "time_axis", 0) == 0;
    LLVMValueRef args[] = {cg_sym_value(cg, cg_sym_dim(x->shape.dims[tm ? 0 : 1])),
                           cg_sym_value(cg, cg_sym_dim(x->shape.dims[tm ? 1 : 0])),
                           cg_sym_value(cg, cg_sym_prod(&x->shape, 2, x->shape.rank)),
                           cg_i32(cg, tm),
                           cg_i64(cg, (int64_t)dtype_size(x->dtype)),
                           cg_addr(cg, x),
                           cg_addr(cg, n->inputs[1]),
                           cg_addr(cg, n->outputs[0])};
    cg_call_checked(cg, "kiln_reverse_sequence", args, 8,
                    m_site(cg, n,
                           arena_printf(cg->g->arena, "sequence_lens from %s",
                                        cg_value_origin(cg, n->inputs[1]))));
    return 0;
}

int emit_max_unpool(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0], *y = n->outputs[0];
    int r = x->shape.rank - 2;
    const Attr *ks = ir_attr(n, "kernel_shape"), *st = ir_attr(n, "strides"),
               *pads = ir_attr(n, "pads");
    /* Spatial sizes as 3-D, unit leading dims: the natural (unpooled)
     * size, which indices number, and the output's. */
    int64_t nat[3] = {1, 1, 1}, out[3] = {1, 1, 1};
    for (int k = 0; k < r; k++) {
        int64_t in = x->shape.dims[2 + k], pb = pads ? pads->ints[k] : 0;
        int64_t pe = pads ? pads->ints[r + k] : 0;
        nat[3 - r + k] = (in - 1) * (st ? st->ints[k] : 1) + ks->ints[k] - pb - pe;
        out[3 - r + k] = y->shape.dims[2 + k];
    }
    LLVMValueRef args[] = {cg_sym_value(cg, cg_sym_prod(&x->shape, 0, 2)),
                           cg_const_bytes(cg, nat, sizeof nat, 8, "unpool_nat"),
                           cg_const_bytes(cg, out, sizeof out, 8, "unpool_out"),
                           m_numel(cg, x),
                           cg_i64(cg, (int64_t)dtype_size(x->dtype)),
                           cg_addr(cg, x),
                           cg_addr(cg, n->inputs[1]),
                           cg_addr(cg, y)};
    cg_call_checked(cg, "kiln_max_unpool", args, 8,
                    m_site(cg, n,
                           arena_printf(cg->g->arena, "indices from %s into the output",
                                        cg_value_origin(cg, n->inputs[1]))));
    return 0;
}

int emit_bernoulli(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0], *y = n->outputs[0];
    /* 1 in the output's type, as bytes. */
    union {
        float f;
        double d;
        _Float16 h;
        int64_t i;
        unsigned char b[8];
    } one;
    memset(&one, 0, sizeof one);
    switch (y->dtype) {
    case DT_F32:
        one.f = 1.0f;
        break;
    case DT_F64:
        one.d = 1.0;
        break;
    case DT_F16:
        one.h = (_Float16)1.0f;
        break;
    default:
        one.i = 1;
        break; /* the integers and bool, little endian */
    }
    /* No seed: a fixed one (0), so that a model answers the same input the same way. */
    double seed = ir_attr(n, "seed") ? (double)ir_attr_float(n, "seed", 0.0f) : 0.0;
    uint64_t s;
    memcpy(&s, &seed, sizeof s);
    LLVMValueRef args[] = {m_numel(cg, x),
                           cg_addr(cg, x),
                           cg_i64(cg, (int64_t)s),
                           cg_const_bytes(cg, one.b, 8, 8, "bernoulli_one"),
                           cg_i64(cg, (int64_t)dtype_size(y->dtype)),
                           cg_addr(cg, y)};
    return cg_call_typed(cg, n, "bernoulli", x->dtype, args, 6);
}
