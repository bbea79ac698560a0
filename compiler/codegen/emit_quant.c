/* emit_quant.c: kernel calls for the quantisation ops
 * (compiler/ir/ops_quant.def; kernels in runtime/kernels/quant.h).
 *
 * Shape inference checked every operand (passes/shapes_quant.c): scales
 * are float, zero points of the quantised type, each one value or one per
 * channel. A parameter with more than one element is per channel.
 * QLinearMatMul and QLinearConv accumulate into their int32 scratch
 * (Node.scratch) and requantise it into the output.
 */
#include <assert.h>
#include <stdio.h>

#include "cg.h"
#include "quant.h"

/* Input i's address, or a null pointer if it is absent. */
static LLVMValueRef q_opt(Codegen *cg, const Node *n, int i) {
    if (i >= n->n_inputs || !n->inputs[i]) return LLVMConstPointerNull(cg->ptr);
    return cg_addr(cg, n->inputs[i]);
}

/* 1 if input i is present with more than one element (per channel). */
static int q_per(const Node *n, int i) {
    return i < n->n_inputs && n->inputs[i] && shape_numel(&n->inputs[i]->shape) > 1;
}

/* x viewed as [outer, C, inner] around the axis of per-axis parameters
 * (scale input si), or as [1, 1, all] for per-tensor ones. */
static void q_axis_view(Codegen *cg, const Node *n, int si, LLVMValueRef *v) {
    const Shape *s = &n->inputs[0]->shape;
    int axis = -1;
    if (q_per(n, si)) {
        int64_t a = ir_attr_int(n, "axis", 1);
        axis = (int)(a < 0 ? a + s->rank : a);
    }
    if (axis < 0) {
        v[0] = cg_i64(cg, 1);
        v[1] = cg_i64(cg, 1);
        v[2] = cg_sym_value(cg, cg_sym_prod(s, 0, s->rank));
    } else {
        v[0] = cg_sym_value(cg, cg_sym_prod(s, 0, axis));
        v[1] = cg_sym_value(cg, cg_sym_prod(s, axis, axis + 1));
        v[2] = cg_sym_value(cg, cg_sym_prod(s, axis + 1, s->rank));
    }
    v[3] = cg_i64(cg, axis >= 0);
}

/* QuantizeLinear and DequantizeLinear: the same arguments; the kernel is
 * typed by the integer side (the output of one, the input of the other). */
static int q_linear_call(Codegen *cg, const Node *n, const char *kernel, DType t) {
    LLVMValueRef v[4];
    q_axis_view(cg, n, 1, v);
    LLVMValueRef args[] = {v[0],
                           v[1],
                           v[2],
                           cg_addr(cg, n->inputs[0]),
                           cg_addr(cg, n->inputs[1]),
                           q_opt(cg, n, 2),
                           v[3],
                           cg_addr(cg, n->outputs[0])};
    return cg_call_typed(cg, n, kernel, t, args, 8);
}

int emit_quantize_linear(Codegen *cg, const Node *n) {
    return q_linear_call(cg, n, "quantize", n->outputs[0]->dtype);
}

int emit_dequantize_linear(Codegen *cg, const Node *n) {
    return q_linear_call(cg, n, "dequantize", n->inputs[0]->dtype);
}

int emit_dynamic_quantize(Codegen *cg, const Node *n) {
    const Shape *s = &n->inputs[0]->shape;
    LLVMValueRef args[] = {cg_sym_value(cg, cg_sym_prod(s, 0, s->rank)), cg_addr(cg, n->inputs[0]),
                           cg_addr(cg, n->outputs[0]), cg_addr(cg, n->outputs[1]),
                           cg_addr(cg, n->outputs[2])};
    cg_call(cg, "kiln_dynamic_quantize_u8", args, 5);
    return 0;
}

/* The integer product of inputs ia and ib (zero points za, zb; -1: none)
 * into the int32 buffer out: kiln_matmul_int_<a>_<b>. Batch broadcasting
 * as emit_matmul supports it. *batch, *M, *N: the product's geometry. */
static int q_matmul(Codegen *cg, const Node *n, int ia, int za, int ib, int zb, LLVMValueRef out,
                    Sym *batch_out, Sym *M_out, Sym *N_out) {
    const Shape *a = &n->inputs[ia]->shape, *b = &n->inputs[ib]->shape;
    const Shape *o = &n->outputs[0]->shape;
    Sym M = a->rank == 1 ? 1 : cg_sym_dim(a->dims[a->rank - 2]);
    Sym K = cg_sym_dim(a->dims[a->rank - 1]);
    Sym N = b->rank == 1 ? 1 : cg_sym_dim(b->dims[b->rank - 1]);
    int ob = o->rank - (a->rank > 1) - (b->rank > 1);
    int ab = a->rank > 2 ? a->rank - 2 : 0, bb = b->rank > 2 ? b->rank - 2 : 0;
    Sym batch = cg_sym_prod(o, 0, ob);
    Sym a_b = cg_sym_prod(a, 0, ab), b_b = cg_sym_prod(b, 0, bb);
    Sym a_bs = cg_sym_mul(M, K), b_bs = cg_sym_mul(K, N);
    if (cg_sym_is(a_b, 1) && !cg_sym_eq(a_b, batch))
        a_bs = 0;
    else if (!cg_sym_eq(a_b, batch))
        goto unsupported;
    if (cg_sym_is(b_b, 1) && !cg_sym_eq(b_b, batch))
        b_bs = 0;
    else if (!cg_sym_eq(b_b, batch))
        goto unsupported;
    char name[64];
    snprintf(name, sizeof name, "kiln_matmul_int_%s_%s", cg_dtype_suffix(n->inputs[ia]->dtype),
             cg_dtype_suffix(n->inputs[ib]->dtype));
    LLVMValueRef args[] = {cg_sym_value(cg, batch),
                           cg_sym_value(cg, M),
                           cg_sym_value(cg, N),
                           cg_sym_value(cg, K),
                           cg_addr(cg, n->inputs[ia]),
                           cg_sym_value(cg, a_bs),
                           za < 0 ? LLVMConstPointerNull(cg->ptr) : q_opt(cg, n, za),
                           cg_i64(cg, za >= 0 && q_per(n, za)),
                           cg_addr(cg, n->inputs[ib]),
                           cg_sym_value(cg, b_bs),
                           zb < 0 ? LLVMConstPointerNull(cg->ptr) : q_opt(cg, n, zb),
                           cg_i64(cg, zb >= 0 && q_per(n, zb)),
                           cg_scratch(cg, n),
                           out};
    cg_call(cg, name, args, 14);
    *batch_out = batch;
    *M_out = M;
    *N_out = N;
    return 0;
unsupported:
    diag_node(cg->d, n, "batch broadcasting of '%s' against '%s' is not supported",
              n->inputs[ia]->name, n->inputs[ib]->name);
    diag_hint(cg->d, "give both operands the same batch dims, or B none");
    return -1;
}

int emit_matmul_integer(Codegen *cg, const Node *n) {
    Sym batch, M, N;
    return q_matmul(cg, n, 0, 2, 1, 3, cg_addr(cg, n->outputs[0]), &batch, &M, &N);
}

/* The int32 accumulator of a QLinear op: in its scratch, after the
 * kernel's `floats` floats (passes/shapes_quant.c, q_scratch). */
static LLVMValueRef q_acc(Codegen *cg, const Node *n, Sym floats) {
    Sym bytes = dim_mul(dim_ceildiv(dim_mul(floats, 4), 64), 64);
    LLVMValueRef off = cg_sym_value(cg, bytes);
    return LLVMBuildGEP2(cg->builder, cg->i8, cg_scratch(cg, n), &off, 1, "acc");
}

int emit_qlinear_matmul(Codegen *cg, const Node *n) {
    Sym batch, M, N;
    const Shape *a = &n->inputs[0]->shape, *b = &n->inputs[3]->shape;
    Sym m = a->rank == 1 ? 1 : cg_sym_dim(a->dims[a->rank - 2]);
    Sym k = cg_sym_dim(a->dims[a->rank - 1]);
    Sym nn = b->rank == 1 ? 1 : cg_sym_dim(b->dims[b->rank - 1]);
    LLVMValueRef acc =
        q_acc(cg, n, dim_add(dim_add(dim_mul(m, k), dim_mul(k, nn)), dim_mul(m, nn)));
    if (q_matmul(cg, n, 0, 2, 3, 5, acc, &batch, &M, &N)) return -1;
    LLVMValueRef args[] = {cg_sym_value(cg, batch),
                           cg_sym_value(cg, M),
                           cg_sym_value(cg, N),
                           acc,
                           cg_addr(cg, n->inputs[1]),
                           cg_i64(cg, q_per(n, 1)),
                           cg_i64(cg, 0),
                           cg_addr(cg, n->inputs[4]),
                           cg_i64(cg, 0),
                           cg_i64(cg, q_per(n, 4)),
                           cg_addr(cg, n->inputs[6]),
                           q_opt(cg, n, 7),
                           cg_addr(cg, n->outputs[0])};
    return cg_call_typed(cg, n, "requantize", n->outputs[0]->dtype, args, 13);
}

/* The integer convolution of X (input ix, zero point zx) by W (input iw,
 * zero point zw) plus bias (input ib, -1: none) into the int32 buffer out. */
static void q_conv(Codegen *cg, const Node *n, int ix, int zx, int iw, int zw, int ib,
                   LLVMValueRef out) {
    const ConvPlan *p = n->plan.conv;
    const Shape *x = &n->inputs[ix]->shape, *o = &n->outputs[0]->shape;
    assert(n->plan_kind == PLAN_CONV);
    int two = p->rank == 2;
    /* 1-D as 2-D with a height of 1. */
    int64_t g[9] = {two ? p->kernel[0] : 1,
                    p->kernel[two],
                    two ? p->stride[0] : 1,
                    p->stride[two],
                    two ? p->dilation[0] : 1,
                    p->dilation[two],
                    two ? p->pad_begin[0] : 0,
                    p->pad_begin[two],
                    p->group};
    char name[64];
    snprintf(name, sizeof name, "kiln_conv_int_%s_%s", cg_dtype_suffix(n->inputs[ix]->dtype),
             cg_dtype_suffix(n->inputs[iw]->dtype));
    LLVMValueRef args[] = {cg_sym_value(cg, cg_sym_dim(x->dims[0])),
                           cg_i64(cg, x->dims[1]),
                           cg_i64(cg, two ? x->dims[2] : 1),
                           cg_i64(cg, x->dims[2 + two]),
                           cg_i64(cg, o->dims[1]),
                           cg_i64(cg, two ? o->dims[2] : 1),
                           cg_i64(cg, o->dims[2 + two]),
                           cg_const_bytes(cg, g, sizeof g, 8, "conv_geom"),
                           cg_addr(cg, n->inputs[ix]),
                           q_opt(cg, n, zx),
                           cg_addr(cg, n->inputs[iw]),
                           q_opt(cg, n, zw),
                           cg_i64(cg, q_per(n, zw)),
                           ib < 0 ? LLVMConstPointerNull(cg->ptr) : q_opt(cg, n, ib),
                           cg_scratch(cg, n),
                           out};
    cg_call(cg, name, args, 16);
}

/* kiln_conv_int_scratch for the node's weights (input iw). */
static Sym q_conv_floats(const Node *n, int iw) {
    const Shape *w = &n->inputs[iw]->shape;
    int64_t M = w->dims[0], K = 1;
    for (int i = 1; i < w->rank; i++)
        K *= w->dims[i]; /* the shape pass bounded it */
    return kiln_conv_int_scratch(M, K);
}

int emit_conv_integer(Codegen *cg, const Node *n) {
    q_conv(cg, n, 0, 2, 1, 3, -1, cg_addr(cg, n->outputs[0]));
    return 0;
}

int emit_qlinear_conv(Codegen *cg, const Node *n) {
    const Shape *o = &n->outputs[0]->shape;
    LLVMValueRef acc = q_acc(cg, n, q_conv_floats(n, 3));
    q_conv(cg, n, 0, 2, 3, 5, 8, acc);
    LLVMValueRef args[] = {cg_sym_value(cg, cg_sym_dim(o->dims[0])),
                           cg_i64(cg, o->dims[1]),
                           cg_sym_value(cg, cg_sym_prod(o, 2, o->rank)),
                           acc,
                           cg_addr(cg, n->inputs[1]),
                           cg_i64(cg, 0),
                           cg_i64(cg, 0),
                           cg_addr(cg, n->inputs[4]),
                           cg_i64(cg, q_per(n, 4)),
                           cg_i64(cg, 0),
                           cg_addr(cg, n->inputs[6]),
                           q_opt(cg, n, 7),
                           cg_addr(cg, n->outputs[0])};
    return cg_call_typed(cg, n, "requantize", n->outputs[0]->dtype, args, 13);
}
