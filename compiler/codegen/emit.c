/* emit.c: kiln_model_run, one kernel call per node.
 *
 * Every size, stride and offset is known at compile time except for the
 * batch. A size is carried as a Sym, c * batch^e, and becomes an LLVM
 * constant (e == 0) or a multiply of the batch argument; after inlining the
 * kernels, O3 sees loops whose trip counts are constants or multiples of
 * the batch.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"
#include "kernels.h"

typedef struct Sym {
    int64_t c; /* constant factor */
    int e;     /* power of the batch */
} Sym;

static Sym sym_dim(int64_t d) {
    return d == DIM_BATCH ? (Sym){1, 1} : (Sym){d, 0};
}
static Sym sym_mul(Sym a, Sym b) {
    return (Sym){a.c * b.c, a.e + b.e};
}
static int sym_eq(Sym a, Sym b) {
    return a.c == b.c && (a.e == b.e || a.c == 0);
}
static int sym_is(Sym a, int64_t c) {
    return a.e == 0 && a.c == c;
}

static Sym sym_prod(const Shape *s, int from, int to) {
    Sym p = {1, 0};
    for (int i = from; i < to; i++)
        p = sym_mul(p, sym_dim(s->dims[i]));
    return p;
}

static LLVMValueRef sym_value(Codegen *cg, Sym s) {
    LLVMValueRef v = LLVMConstInt(cg->i64, (unsigned long long)s.c, 1);
    for (int i = 0; i < s.e; i++)
        v = LLVMBuildMul(cg->builder, v, cg->batch, "");
    return v;
}

static LLVMValueRef i32c(Codegen *cg, int v) {
    return LLVMConstInt(cg->i32, (unsigned long long)v, 1);
}
static LLVMValueRef f32c(Codegen *cg, float v) {
    return LLVMConstReal(cg->f32, v);
}

static LLVMValueRef addr(Codegen *cg, const Value *v) {
    assert(cg->vals[v->id]);
    return cg->vals[v->id];
}

static void call(Codegen *cg, const char *kernel, LLVMValueRef *args, unsigned n) {
    LLVMValueRef fn = LLVMGetNamedFunction(cg->mod, kernel);
    if (!fn) {
        fprintf(stderr, "kiln: internal error: kernel %s missing from the bitcode\n", kernel);
        abort();
    }
    LLVMBuildCall2(cg->builder, LLVMGlobalGetValueType(fn), fn, args, n, "");
}

typedef int (*EmitFn)(Codegen *cg, const Node *n);

/* --- elementwise --------------------------------------------------------------- */

/* Strides of operand `s` read at every index of `out`: 0 along broadcast
 * dims. */
static void broadcast_strides(const Shape *s, const Shape *out, Sym *st) {
    Sym acc = {1, 0};
    int off = out->rank - s->rank;
    for (int i = out->rank - 1; i >= 0; i--) {
        int k = i - off;
        if (k < 0 || (s->dims[k] == 1 && out->dims[i] != 1)) {
            st[i] = (Sym){0, 0};
        } else {
            st[i] = acc;
            acc = sym_mul(acc, sym_dim(s->dims[k]));
        }
    }
}

static int emit_binary(Codegen *cg, const Node *n) {
    static const int ops[OP_COUNT] = {[OP_ADD] = KILN_BIN_ADD,
                                      [OP_SUB] = KILN_BIN_SUB,
                                      [OP_MUL] = KILN_BIN_MUL,
                                      [OP_DIV] = KILN_BIN_DIV};
    const Shape *out = &n->outputs[0]->shape;
    Sym dims[IR_MAX_RANK], sa[IR_MAX_RANK], sb[IR_MAX_RANK];
    broadcast_strides(&n->inputs[0]->shape, out, sa);
    broadcast_strides(&n->inputs[1]->shape, out, sb);
    /* Drop size-1 dims, then merge neighbours that both operands walk
     * contiguously, so the common cases are one or two loops. */
    int r = 0;
    for (int i = 0; i < out->rank; i++) {
        Sym dd = sym_dim(out->dims[i]);
        if (sym_is(dd, 1)) continue;
        if (r > 0 && sym_eq(sa[r - 1], sym_mul(sa[i], dd)) &&
            sym_eq(sb[r - 1], sym_mul(sb[i], dd))) {
            dims[r - 1] = sym_mul(dims[r - 1], dd);
            sa[r - 1] = sa[i];
            sb[r - 1] = sb[i];
            continue;
        }
        dims[r] = dd;
        sa[r] = sa[i];
        sb[r] = sb[i];
        r++;
    }
    if (r > 4) {
        diag_node(cg->d, n, "broadcast over %d distinct dimensions is not supported (at most 4)",
                  r);
        return -1;
    }
    Sym D[4], A[4], B[4];
    int pad = 4 - r;
    for (int i = 0; i < 4; i++) {
        D[i] = i < pad ? (Sym){1, 0} : dims[i - pad];
        A[i] = i < pad ? (Sym){0, 0} : sa[i - pad];
        B[i] = i < pad ? (Sym){0, 0} : sb[i - pad];
    }
    LLVMValueRef args[16];
    args[0] = i32c(cg, ops[n->op]);
    for (int i = 0; i < 4; i++)
        args[1 + i] = sym_value(cg, D[i]);
    args[5] = addr(cg, n->inputs[0]);
    for (int i = 0; i < 4; i++)
        args[6 + i] = sym_value(cg, A[i]);
    args[10] = addr(cg, n->inputs[1]);
    for (int i = 0; i < 4; i++)
        args[11 + i] = sym_value(cg, B[i]);
    args[15] = addr(cg, n->outputs[0]);
    call(cg, "kiln_binary_f32", args, 16);
    return 0;
}

static int emit_unary(Codegen *cg, const Node *n) {
    static const int ops[OP_COUNT] = {
        [OP_RELU] = KILN_UN_RELU, [OP_SIGMOID] = KILN_UN_SIGMOID, [OP_TANH] = KILN_UN_TANH};
    const Shape *s = &n->inputs[0]->shape;
    LLVMValueRef args[] = {i32c(cg, ops[n->op]),
                           sym_value(cg, sym_prod(s, 0, s->rank)),
                           addr(cg, n->inputs[0]),
                           addr(cg, n->outputs[0]),
                           f32c(cg, 0),
                           f32c(cg, 0)};
    call(cg, "kiln_unary_f32", args, 6);
    return 0;
}

static int emit_softmax(Codegen *cg, const Node *n) {
    const Shape *s = &n->inputs[0]->shape;
    int legacy = n->opset && n->opset < 13;
    int64_t axis = ir_attr_int(n, "axis", legacy ? 1 : -1);
    if (axis < 0) axis += s->rank;
    if (axis < 0 || axis >= (s->rank ? s->rank : 1)) {
        diag_node(cg->d, n, "axis %lld is out of range for rank %d",
                  (long long)ir_attr_int(n, "axis", 0), s->rank);
        return -1;
    }
    /* Before opset 13 the input is coerced to 2-D at axis; from 13 on the
     * softmax runs along that one axis. */
    Sym outer = sym_prod(s, 0, (int)axis);
    Sym len = legacy ? sym_prod(s, (int)axis, s->rank) : sym_dim(s->dims[axis]);
    Sym inner = legacy ? (Sym){1, 0} : sym_prod(s, (int)axis + 1, s->rank);
    LLVMValueRef args[] = {sym_value(cg, outer), sym_value(cg, len), sym_value(cg, inner),
                           addr(cg, n->inputs[0]), addr(cg, n->outputs[0])};
    call(cg, "kiln_softmax_f32", args, 5);
    return 0;
}

/* --- matrix products ---------------------------------------------------------------- */

/* Strides that read Gemm's C (rank 0, 1 or 2) broadcast over [M, N]. */
static void bias_strides(const Value *c, Sym M, Sym N, Sym *c_rs, Sym *c_cs) {
    *c_rs = *c_cs = (Sym){0, 0};
    if (!c || c->shape.rank < 1) return;
    const Shape *cs = &c->shape;
    Sym last = sym_dim(cs->dims[cs->rank - 1]);
    *c_cs = sym_is(last, 1) && !sym_is(N, 1) ? (Sym){0, 0} : (Sym){1, 0};
    if (cs->rank == 2) {
        Sym first = sym_dim(cs->dims[0]);
        *c_rs = sym_is(first, 1) && !sym_is(M, 1) ? (Sym){0, 0} : last;
    }
}

/* B packed by pass_fuse: [P, K, 32] panels, no strides to pass. */
static int emit_gemm_packed(Codegen *cg, const Node *n) {
    const Shape *a = &n->inputs[0]->shape;
    const Value *c = n->n_inputs > 2 ? n->inputs[2] : NULL;
    int ta = (int)ir_attr_int(n, "transA", 0);
    Sym a0 = sym_dim(a->dims[0]), a1 = sym_dim(a->dims[1]);
    Sym M = ta ? a1 : a0, K = ta ? a0 : a1, N = sym_dim(n->outputs[0]->shape.dims[1]);
    Sym a_rs = ta ? (Sym){1, 0} : a1, a_cs = ta ? a1 : (Sym){1, 0};
    Sym c_rs, c_cs;
    bias_strides(c, M, N, &c_rs, &c_cs);
    LLVMValueRef args[] = {
        sym_value(cg, M),
        sym_value(cg, N),
        sym_value(cg, K),
        addr(cg, n->inputs[0]),
        sym_value(cg, a_rs),
        sym_value(cg, a_cs),
        addr(cg, n->inputs[1]),
        c ? addr(cg, c) : LLVMConstPointerNull(cg->ptr),
        sym_value(cg, c_rs),
        sym_value(cg, c_cs),
        f32c(cg, ir_attr_float(n, "alpha", 1.0f)),
        f32c(cg, ir_attr_float(n, "beta", 1.0f)),
        i32c(cg, n->epilogue),
        addr(cg, n->outputs[0]),
    };
    call(cg, "kiln_gemm_packed_f32", args, 14);
    return 0;
}

static int emit_gemm(Codegen *cg, const Node *n) {
    if (ir_attr_int(n, "packed_b", 0)) return emit_gemm_packed(cg, n);
    const Shape *a = &n->inputs[0]->shape, *b = &n->inputs[1]->shape;
    const Value *c = n->n_inputs > 2 ? n->inputs[2] : NULL;
    int ta = (int)ir_attr_int(n, "transA", 0), tb = (int)ir_attr_int(n, "transB", 0);
    /* A is stored [M,K], or [K,M] when transposed; likewise B. */
    Sym a0 = sym_dim(a->dims[0]), a1 = sym_dim(a->dims[1]);
    Sym b0 = sym_dim(b->dims[0]), b1 = sym_dim(b->dims[1]);
    Sym M = ta ? a1 : a0, K = ta ? a0 : a1, N = tb ? b0 : b1;
    Sym a_rs = ta ? (Sym){1, 0} : a1, a_cs = ta ? a1 : (Sym){1, 0};
    Sym b_rs = tb ? (Sym){1, 0} : b1, b_cs = tb ? b1 : (Sym){1, 0};
    Sym c_rs, c_cs;
    bias_strides(c, M, N, &c_rs, &c_cs);
    LLVMValueRef args[] = {
        sym_value(cg, M),
        sym_value(cg, N),
        sym_value(cg, K),
        addr(cg, n->inputs[0]),
        sym_value(cg, a_rs),
        sym_value(cg, a_cs),
        addr(cg, n->inputs[1]),
        sym_value(cg, b_rs),
        sym_value(cg, b_cs),
        c ? addr(cg, c) : LLVMConstPointerNull(cg->ptr),
        sym_value(cg, c_rs),
        sym_value(cg, c_cs),
        f32c(cg, ir_attr_float(n, "alpha", 1.0f)),
        f32c(cg, ir_attr_float(n, "beta", 1.0f)),
        i32c(cg, n->epilogue),
        addr(cg, n->outputs[0]),
    };
    call(cg, "kiln_gemm_f32", args, 16);
    return 0;
}

static int emit_matmul(Codegen *cg, const Node *n) {
    const Shape *a = &n->inputs[0]->shape, *b = &n->inputs[1]->shape, *o = &n->outputs[0]->shape;
    /* Numpy's 1-D promotion: A [K] is [1,K]; B [K] is [K,1]. */
    Sym M = a->rank == 1 ? (Sym){1, 0} : sym_dim(a->dims[a->rank - 2]);
    Sym K = sym_dim(a->dims[a->rank - 1]);
    Sym N = b->rank == 1 ? (Sym){1, 0} : sym_dim(b->dims[b->rank - 1]);
    int ob = o->rank - (a->rank > 1) - (b->rank > 1); /* batch dims of the output */
    int ab = a->rank > 2 ? a->rank - 2 : 0, bb = b->rank > 2 ? b->rank - 2 : 0;
    Sym batch = sym_prod(o, 0, ob);
    Sym a_b = sym_prod(a, 0, ab), b_b = sym_prod(b, 0, bb);
    Sym a_bs = sym_mul(M, K), b_bs = sym_mul(K, N);
    /* Supported: A's batch dims are the output's, and B either has the same
     * batch dims or none that are not 1 (one B shared by every batch). */
    if (!sym_eq(a_b, batch)) {
        if (sym_is(a_b, 1) && sym_eq(b_b, batch) && sym_is(M, 1)) {
            /* [K] x [..., K, N]: each batch is its own product. */
            a_bs = (Sym){0, 0};
        } else {
            diag_node(cg->d, n, "batch broadcasting of '%s' against '%s' is not supported",
                      n->inputs[0]->name, n->inputs[1]->name);
            return -1;
        }
    }
    if (sym_is(b_b, 1))
        b_bs = (Sym){0, 0};
    else if (!sym_eq(b_b, batch)) {
        diag_node(cg->d, n, "batch broadcasting of '%s' against '%s' is not supported",
                  n->inputs[0]->name, n->inputs[1]->name);
        return -1;
    }
    LLVMValueRef args[] = {sym_value(cg, batch),   sym_value(cg, M),       sym_value(cg, N),
                           sym_value(cg, K),       addr(cg, n->inputs[0]), sym_value(cg, a_bs),
                           addr(cg, n->inputs[1]), sym_value(cg, b_bs),    addr(cg, n->outputs[0])};
    call(cg, "kiln_matmul_f32", args, 9);
    return 0;
}

/* --- data movement ------------------------------------------------------------------ */

static void copy_value(Codegen *cg, const Value *from, LLVMValueRef dst) {
    Sym bytes = sym_mul(sym_prod(&from->shape, 0, from->shape.rank),
                        (Sym){(int64_t)dtype_size(from->dtype), 0});
    LLVMValueRef args[] = {sym_value(cg, bytes), addr(cg, from), dst};
    call(cg, "kiln_copy", args, 3);
}

static int emit_copy(Codegen *cg, const Node *n) {
    copy_value(cg, n->inputs[0], addr(cg, n->outputs[0]));
    return 0;
}

static int emit_dropout(Codegen *cg, const Node *n) {
    copy_value(cg, n->inputs[0], addr(cg, n->outputs[0]));
    if (n->n_outputs > 1 && n->outputs[1]) {
        /* Inference: the mask keeps everything. */
        const Value *m = n->outputs[1];
        LLVMBuildMemSet(cg->builder, addr(cg, m), LLVMConstInt(cg->i8, 1, 0),
                        sym_value(cg, sym_prod(&m->shape, 0, m->shape.rank)), 1);
    }
    return 0;
}

static int emit_none(Codegen *cg, const Node *n) {
    (void)cg;
    (void)n;
    return 0;
}

static const EmitFn emit_fns[OP_COUNT] = {
#define OP(e, name, since, imin, imax, omin, omax, shape, emit) [OP_##e] = emit,
#include "ops.def"
#undef OP
};

/* --- the run function ------------------------------------------------------------------ */

static LLVMValueRef load_ptr(Codegen *cg, LLVMValueRef array, int i) {
    LLVMValueRef idx = LLVMConstInt(cg->i64, (unsigned long long)i, 0);
    LLVMValueRef slot = LLVMBuildGEP2(cg->builder, cg->ptr, array, &idx, 1, "");
    return LLVMBuildLoad2(cg->builder, cg->ptr, slot, "");
}

LLVMValueRef cg_emit_run(Codegen *cg, const Graph *g) {
    LLVMTypeRef params[] = {cg->ptr, cg->ptr, cg->ptr, cg->i64, cg->ptr};
    LLVMTypeRef ft = LLVMFunctionType(cg->i32, params, 5, 0);
    LLVMValueRef fn = LLVMAddFunction(cg->mod, "kiln_model_run", ft);
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    LLVMPositionBuilderAtEnd(cg->builder, LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry"));
    LLVMValueRef inputs = LLVMGetParam(fn, 0), outputs = LLVMGetParam(fn, 1);
    LLVMValueRef ws = LLVMGetParam(fn, 2);
    cg->batch = LLVMGetParam(fn, 3);

    cg->vals = calloc((size_t)g->n_values + 1, sizeof(LLVMValueRef));
    if (!cg->vals) abort();
    for (int i = 0; i < g->n_inputs; i++)
        cg->vals[g->inputs[i]->id] = load_ptr(cg, inputs, i);
    for (int i = 0; i < g->n_values; i++) {
        const Value *v = g->values[i];
        if (v->data && v->input_index < 0) {
            size_t bytes = (size_t)shape_numel(&v->shape) * dtype_size(v->dtype);
            cg->vals[i] = cg_const_bytes(cg, v->data, bytes ? bytes : 1, 64, v->name);
        } else if (v->producer && v->output_index >= 0) {
            cg->vals[i] = load_ptr(cg, outputs, v->output_index);
        } else if (v->producer) {
            Sym off = {v->ws_batch_offset, 1};
            LLVMValueRef o =
                LLVMBuildAdd(cg->builder, sym_value(cg, off),
                             LLVMConstInt(cg->i64, (unsigned long long)v->ws_offset, 0), "");
            cg->vals[i] = LLVMBuildGEP2(cg->builder, cg->i8, ws, &o, 1, v->name);
        }
    }

    int bad = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const Node *n = g->nodes[i];
        if (emit_fns[n->op](cg, n)) bad = 1;
    }
    /* Graph outputs that no node writes into place: an input or a constant
     * passed straight through, or one value listed as two outputs. */
    for (int i = 0; i < g->n_outputs; i++) {
        const Value *v = g->outputs[i];
        if (v->producer && v->output_index == i) continue;
        copy_value(cg, v, load_ptr(cg, outputs, i));
    }
    LLVMBuildRet(cg->builder, LLVMConstInt(cg->i32, 0, 0));
    return bad ? NULL : fn;
}
