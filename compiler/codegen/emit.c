/* emit.c: kiln_model_run, one kernel call per node.
 *
 * Every size, stride and offset is a Sym (a Dim: a number, or an
 * expression over the model's symbols). A number becomes an LLVM constant;
 * an expression is computed once per function, in its entry block, from
 * the symbol values the function gets. So a static model's kernels see
 * constant trip counts after inlining, as before, and a dynamic one's see
 * the run-time sizes only where they are symbolic. A size that depends on
 * a data-dependent symbol (dim.h, emit_dyn.c) is computed where it is used
 * instead: the kernel that writes that symbol runs in the body.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"
#include "kernels.h"
#include "kiln_model.h"

/* Node.epilogue is passed to the kernels as it is. */
static_assert((int)EPI_NONE == KILN_EPI_NONE && (int)EPI_RELU == KILN_EPI_RELU &&
                  (int)EPI_SIGMOID == KILN_EPI_SIGMOID && (int)EPI_TANH == KILN_EPI_TANH &&
                  (int)EPI_CLAMP == KILN_EPI_CLAMP && (int)EPI_LEAKY_RELU == KILN_EPI_LEAKY_RELU &&
                  (int)EPI_HARDSIGMOID == KILN_EPI_HARDSIGMOID &&
                  (int)EPI_HARDSWISH == KILN_EPI_HARDSWISH && (int)EPI_SILU == KILN_EPI_SILU &&
                  (int)EPI_GELU == KILN_EPI_GELU && (int)EPI_GELU_TANH == KILN_EPI_GELU_TANH &&
                  (int)EPI_COUNT == KILN_EPI_GELU_TANH + 1,
              "Epilogue (compiler/ir/ir.h) and KILN_EPI_* (runtime/kiln_kernel_abi.h) differ");

Sym cg_sym_prod(const Shape *s, int from, int to) {
    return shape_prod(s, from, to);
}

static LLVMValueRef dim_emit(Codegen *cg, Dim d);

/* floor(a / b) for b > 0. */
static LLVMValueRef floor_div(Codegen *cg, LLVMBuilderRef e, LLVMValueRef a, LLVMValueRef b) {
    LLVMValueRef q = LLVMBuildSDiv(e, a, b, ""), r = LLVMBuildSRem(e, a, b, "");
    LLVMValueRef neg = LLVMBuildICmp(e, LLVMIntSLT, r, cg_i64(cg, 0), "");
    return LLVMBuildSub(e, q, LLVMBuildZExt(e, neg, cg->i64, ""), "");
}

/* x's value computed with builder e: the entry block's, or for a size that
 * depends on a data-dependent symbol (dim.h) the builder's position, since
 * the kernel that writes that symbol into syms runs in the body. */
static LLVMValueRef dim_emit_uncached(Codegen *cg, LLVMBuilderRef e, const DimExpr *x) {
    switch (x->kind) {
    case DIMK_CONST:
        return cg_i64(cg, x->value);
    case DIMK_SYM: {
        LLVMValueRef idx = cg_i64(cg, x->sym);
        LLVMValueRef p = LLVMBuildGEP2(e, cg->i64, cg->syms, &idx, 1, "");
        return LLVMBuildLoad2(e, cg->i64, p, dim_sym_name(x->sym));
    }
    case DIMK_POLY: {
        LLVMValueRef sum = NULL;
        for (int t = 0; t < x->n_terms; t++) {
            const DimTerm *tm = &x->terms[t];
            LLVMValueRef p = cg_i64(cg, tm->coef);
            for (int f = 0; f < tm->n; f++) {
                LLVMValueRef a = dim_emit(cg, tm->atom[f]);
                for (int k = 0; k < tm->exp[f]; k++)
                    p = LLVMBuildMul(e, p, a, "");
            }
            sum = sum ? LLVMBuildAdd(e, sum, p, "") : p;
        }
        return sum ? sum : cg_i64(cg, 0);
    }
    case DIMK_FLOORDIV:
        return floor_div(cg, e, dim_emit(cg, x->a), dim_emit(cg, x->b));
    case DIMK_CEILDIV: {
        LLVMValueRef na = LLVMBuildNeg(e, dim_emit(cg, x->a), "");
        return LLVMBuildNeg(e, floor_div(cg, e, na, dim_emit(cg, x->b)), "");
    }
    case DIMK_MOD: {
        LLVMValueRef a = dim_emit(cg, x->a), b = dim_emit(cg, x->b);
        return LLVMBuildSub(e, a, LLVMBuildMul(e, b, floor_div(cg, e, a, b), ""), "");
    }
    case DIMK_MIN:
    case DIMK_MAX: {
        LLVMValueRef a = dim_emit(cg, x->a), b = dim_emit(cg, x->b);
        LLVMValueRef lt = LLVMBuildICmp(e, LLVMIntSLT, a, b, "");
        return x->kind == DIMK_MIN ? LLVMBuildSelect(e, lt, a, b, "")
                                   : LLVMBuildSelect(e, lt, b, a, "");
    }
    }
    return cg_i64(cg, 0);
}

static LLVMValueRef dim_emit(Codegen *cg, Dim d) {
    if (d >= 0) return cg_i64(cg, d);
    if (cg->dim_here || dim_is_data(d)) return dim_emit_uncached(cg, cg->builder, dim_expr(d));
    int64_t id = -1 - d;
    if (id >= cg->cap_dimv) {
        int64_t cap = cg->cap_dimv ? cg->cap_dimv : 1024;
        while (cap <= id)
            cap *= 2;
        cg->dimv = realloc(cg->dimv, sizeof(LLVMValueRef) * (size_t)cap);
        cg->dimv_fn = realloc(cg->dimv_fn, sizeof(int) * (size_t)cap);
        if (!cg->dimv || !cg->dimv_fn) kiln_oom("dim table");
        memset(cg->dimv_fn + cg->cap_dimv, 0, sizeof(int) * (size_t)(cap - cg->cap_dimv));
        cg->cap_dimv = cap;
    }
    if (cg->dimv_fn[id] == cg->fn_id) return cg->dimv[id];
    LLVMValueRef v = dim_emit_uncached(cg, cg->entry, dim_expr(d));
    cg->dimv[id] = v;
    cg->dimv_fn[id] = cg->fn_id;
    return v;
}

LLVMValueRef cg_dim_value_here(Codegen *cg, Dim d) {
    int was = cg->dim_here;
    cg->dim_here = 1;
    LLVMValueRef v = dim_emit(cg, d);
    cg->dim_here = was;
    return v;
}

LLVMValueRef cg_dim_value(Codegen *cg, Dim d) {
    return dim_emit(cg, d);
}

LLVMValueRef cg_sym_value(Codegen *cg, Sym s) {
    if (s == DIM_INVALID) {
        cg->sym_overflow = 1;
        return cg_i64(cg, 0);
    }
    return dim_emit(cg, s);
}

LLVMValueRef cg_i32(Codegen *cg, int v) {
    return LLVMConstInt(cg->i32, (unsigned long long)v, 1);
}
LLVMValueRef cg_i64(Codegen *cg, int64_t v) {
    return LLVMConstInt(cg->i64, (unsigned long long)v, 1);
}
LLVMValueRef cg_f32(Codegen *cg, float v) {
    return LLVMConstReal(cg->f32, v);
}
LLVMValueRef cg_f64(Codegen *cg, double v) {
    return LLVMConstReal(LLVMDoubleTypeInContext(cg->ctx), v);
}

static LLVMValueRef load_ptr(Codegen *cg, LLVMBuilderRef b, LLVMValueRef array, int i) {
    LLVMValueRef idx = LLVMConstInt(cg->i64, (unsigned long long)i, 0);
    LLVMValueRef slot = LLVMBuildGEP2(b, cg->ptr, array, &idx, 1, "");
    return LLVMBuildLoad2(b, cg->ptr, slot, "");
}

/* A value's address is computed once per function, in its entry block (so
 * that it dominates every use, whatever blocks an emit function adds);
 * constants are globals, valid in every function (vals_fn -1). */
LLVMValueRef cg_addr(Codegen *cg, const Value *v) {
    int id = v->id;
    if (cg->vals_fn[id] == cg->fn_id || cg->vals_fn[id] < 0) return cg->vals[id];
    LLVMValueRef a;
    if (v->data) {
        /* A shape vector folded from the input shapes: its symbolic
         * elements computed from this call's sizes; where one depends on
         * a data-dependent size, stored anew at each use (in the body,
         * after the kernel that sizes it), so never cached. */
        int64_t n = shape_numel(&v->shape);
        const int64_t *x = v->data;
        int late = 0;
        for (int64_t i = 0; i < n; i++)
            late |= ir_dim_in_data(x[i]) && dim_is_data(ir_dim_decode(x[i]));
        LLVMBuilderRef b = late ? cg->builder : cg->entry;
        a = LLVMBuildAlloca(cg->entry, LLVMArrayType2(cg->i64, (uint64_t)(n ? n : 1)), v->name);
        for (int64_t i = 0; i < n; i++) {
            LLVMValueRef idx = cg_i64(cg, i);
            LLVMValueRef e =
                ir_dim_in_data(x[i]) ? cg_dim_value(cg, ir_dim_decode(x[i])) : cg_i64(cg, x[i]);
            LLVMBuildStore(b, e, LLVMBuildGEP2(b, cg->i64, a, &idx, 1, ""));
        }
        if (late) return a;
    } else if (v->input_index >= 0) {
        a = load_ptr(cg, cg->entry, cg->fn_inputs, v->input_index);
    } else if (v->producer && v->output_index >= 0) {
        a = load_ptr(cg, cg->entry, cg->fn_outputs, v->output_index);
    } else {
        assert(v->producer);
        /* The workspace starts with the KilnRunError, then the plan. */
        LLVMValueRef o = LLVMBuildAdd(cg->entry, cg_dim_value(cg, v->ws_offset),
                                      cg_i64(cg, KILN_RUN_ERROR_BYTES), "");
        a = LLVMBuildGEP2(cg->entry, cg->i8, cg->ws, &o, 1, v->name);
    }
    cg->vals[id] = a;
    cg->vals_fn[id] = cg->fn_id;
    return a;
}

LLVMValueRef cg_scratch(Codegen *cg, const Node *n) {
    if (n->scratch == 0) return LLVMConstPointerNull(cg->ptr);
    LLVMValueRef off = LLVMBuildAdd(cg->builder, cg_dim_value(cg, n->scratch_offset),
                                    cg_i64(cg, KILN_RUN_ERROR_BYTES), "");
    return LLVMBuildGEP2(cg->builder, cg->i8, cg->ws, &off, 1, "scratch");
}

void cg_call(Codegen *cg, const char *kernel, LLVMValueRef *args, unsigned n) {
    LLVMValueRef fn = LLVMGetNamedFunction(cg->mod, kernel);
    if (!fn) {
        fprintf(stderr, "kiln: internal error: kernel %s missing from the bitcode\n", kernel);
        abort();
    }
    LLVMBuildCall2(cg->builder, LLVMGlobalGetValueType(fn), fn, args, n, "");
}

int cg_check_site_add(Codegen *cg, const char *text) {
    if (cg->n_checks == cg->cap_checks) {
        int cap = cg->cap_checks ? 2 * cg->cap_checks : 16;
        const char **t = arena_alloc(cg->g->arena, sizeof(char *) * (size_t)cap);
        if (cg->n_checks) memcpy(t, cg->checks, sizeof(char *) * (size_t)cg->n_checks);
        cg->checks = t;
        cg->cap_checks = cap;
    }
    cg->checks[cg->n_checks++] = arena_strdup(cg->g->arena, text);
    return cg->n_checks;
}

const char *cg_value_origin(Codegen *cg, const Value *v) {
    const char *kind = v->input_index >= 0 ? "input" : v->data ? "constant" : "tensor";
    return arena_printf(cg->g->arena, "%s '%s'", kind, v->name);
}

/* The KilnRunError: the first KILN_RUN_ERROR_BYTES of the workspace. */
static LLVMValueRef run_error_addr(Codegen *cg) {
    return cg->ws;
}

int cg_call_checked(Codegen *cg, const char *kernel, LLVMValueRef *args, unsigned n,
                    const char *site_text) {
    LLVMValueRef fn = LLVMGetNamedFunction(cg->mod, kernel);
    if (!fn) {
        fprintf(stderr, "kiln: internal error: kernel %s missing from the bitcode\n", kernel);
        abort();
    }
    LLVMValueRef all[24];
    assert(n < sizeof all / sizeof *all);
    memcpy(all, args, sizeof(LLVMValueRef) * n);
    all[n] = run_error_addr(cg);
    LLVMValueRef st = LLVMBuildCall2(cg->builder, LLVMGlobalGetValueType(fn), fn, all, n + 1, "");
    int site = cg_check_site_add(cg, site_text);
    LLVMValueRef here = LLVMGetBasicBlockParent(LLVMGetInsertBlock(cg->builder));
    LLVMBasicBlockRef fail = LLVMAppendBasicBlockInContext(cg->ctx, here, "check_failed");
    LLVMBasicBlockRef ok = LLVMAppendBasicBlockInContext(cg->ctx, here, "checked");
    LLVMValueRef bad = LLVMBuildICmp(cg->builder, LLVMIntNE, st, LLVMConstInt(cg->i32, 0, 0), "");
    LLVMValueRef br = LLVMBuildCondBr(cg->builder, bad, fail, ok);
    /* Failing is unlikely: the failure blocks go out of the hot path. */
    LLVMMetadataRef w[] = {LLVMMDStringInContext2(cg->ctx, "branch_weights", 14),
                           LLVMValueAsMetadata(cg_i32(cg, 1)),
                           LLVMValueAsMetadata(cg_i32(cg, 1 << 20))};
    LLVMSetMetadata(br, LLVMGetMDKindIDInContext(cg->ctx, "prof", 4),
                    LLVMMetadataAsValue(cg->ctx, LLVMMDNodeInContext2(cg->ctx, w, 3)));
    LLVMPositionBuilderAtEnd(cg->builder, fail);
    LLVMBuildRet(cg->builder, cg_i32(cg, site));
    LLVMPositionBuilderAtEnd(cg->builder, ok);
    return site;
}

/* codegen.c writes a DType where the ABI wants a KILN_DT_*: both enums
 * come from kiln_dtypes.def, and this checks it row by row. */
#define KILN_DTYPE(ir, abi, ...)                                                                   \
    static_assert((int)DT_##ir == KILN_DT_##abi, "DT_" #ir " != KILN_DT_" #abi);
#include "kiln_dtypes.def"
#undef KILN_DTYPE

const char *cg_dtype_suffix(DType t) {
    switch (t) {
#define KILN_DTYPE(ir, abi, onnx, name, size, ...)                                                 \
    case DT_##ir:                                                                                  \
        return size ? #name : NULL; /* no fixed size, no kernels */
#include "kiln_dtypes.def"
#undef KILN_DTYPE
    default:
        return NULL;
    }
}

int cg_kernel_name(Codegen *cg, const Node *n, const char *base, DType t, char *name, size_t size) {
    const char *sfx = cg_dtype_suffix(t);
    snprintf(name, size, "kiln_%s_%s", base, sfx ? sfx : "none");
    if (!sfx || !LLVMGetNamedFunction(cg->mod, name)) {
        diag_node(cg->d, n, "element type %s is not supported by this op", dtype_onnx_name(t));
        diag_hint(cg->d, "`kiln ops` lists the supported ops");
        return -1;
    }
    return 0;
}

int cg_call_typed(Codegen *cg, const Node *n, const char *base, DType t, LLVMValueRef *args,
                  unsigned n_args) {
    char name[96];
    if (cg_kernel_name(cg, n, base, t, name, sizeof name)) return -1;
    cg_call(cg, name, args, n_args);
    return 0;
}

typedef int (*EmitFn)(Codegen *cg, const Node *n);

/* --- broadcasting (the math family's emit functions are in emit_math.c) ---------- */

/* Strides of operand `s` read at every index of `out`: 0 along broadcast
 * dims. */
void cg_broadcast_strides(const Shape *s, const Shape *out, Sym *st) {
    Sym acc = 1;
    int off = out->rank - s->rank;
    for (int i = out->rank - 1; i >= 0; i--) {
        int k = i - off;
        if (k < 0 || (s->dims[k] == 1 && out->dims[i] != 1)) {
            st[i] = 0;
        } else {
            st[i] = acc;
            acc = cg_sym_mul(acc, cg_sym_dim(s->dims[k]));
        }
    }
}

/* --- matrix products ---------------------------------------------------------------- */

/* Strides that read Gemm's C (rank 0, 1 or 2) broadcast over [M, N]. */
static void bias_strides(const Value *c, Sym M, Sym N, Sym *c_rs, Sym *c_cs) {
    *c_rs = *c_cs = 0;
    if (!c || c->shape.rank < 1) return;
    const Shape *cs = &c->shape;
    Sym last = cg_sym_dim(cs->dims[cs->rank - 1]);
    *c_cs = cg_sym_is(last, 1) && !cg_sym_is(N, 1) ? 0 : 1;
    if (cs->rank == 2) {
        Sym first = cg_sym_dim(cs->dims[0]);
        *c_rs = cg_sym_is(first, 1) && !cg_sym_is(M, 1) ? 0 : last;
    }
}

int emit_gemm(Codegen *cg, const Node *n) {
    assert(n->epilogue != EPI_CLAMP); /* pass_fuse gives Gemm NONE to TANH only */
    const Shape *a = &n->inputs[0]->shape, *b = &n->inputs[1]->shape;
    const Value *c = n->n_inputs > 2 ? n->inputs[2] : NULL;
    /* B packed by pass_fuse is [P, K, 32] panels, with no strides to pass. */
    int packed = n->gemm_packed_b;
    int ta = (int)ir_attr_int(n, "transA", 0), tb = (int)ir_attr_int(n, "transB", 0);
    /* A is stored [M,K], or [K,M] when transposed; likewise B. */
    /* A of rank > 2 (a MatMul that pass_fuse made a Gemm; never transposed)
     * is [prod of its leading dims, K]; the output likewise. */
    const Shape *o = &n->outputs[0]->shape;
    Sym a0 = cg_sym_prod(a, 0, a->rank - 1), a1 = cg_sym_dim(a->dims[a->rank - 1]);
    Sym b1 = cg_sym_dim(b->dims[1]);
    assert(a->rank == 2 || !ta);
    Sym M = ta ? a1 : a0, K = ta ? a0 : a1, N = cg_sym_dim(o->dims[o->rank - 1]);
    Sym a_rs = ta ? 1 : a1, a_cs = ta ? a1 : 1;
    Sym b_rs = tb ? 1 : b1, b_cs = tb ? b1 : 1;
    Sym c_rs, c_cs;
    bias_strides(c, M, N, &c_rs, &c_cs);
    LLVMValueRef args[16];
    unsigned k = 0;
    args[k++] = cg_sym_value(cg, M);
    args[k++] = cg_sym_value(cg, N);
    args[k++] = cg_sym_value(cg, K);
    args[k++] = cg_addr(cg, n->inputs[0]);
    args[k++] = cg_sym_value(cg, a_rs);
    args[k++] = cg_sym_value(cg, a_cs);
    args[k++] = cg_addr(cg, n->inputs[1]);
    if (!packed) {
        args[k++] = cg_sym_value(cg, b_rs);
        args[k++] = cg_sym_value(cg, b_cs);
    }
    args[k++] = c ? cg_addr(cg, c) : LLVMConstPointerNull(cg->ptr);
    args[k++] = cg_sym_value(cg, c_rs);
    args[k++] = cg_sym_value(cg, c_cs);
    args[k++] = cg_f32(cg, ir_attr_float(n, "alpha", 1.0f));
    args[k++] = cg_f32(cg, ir_attr_float(n, "beta", 1.0f));
    args[k++] = cg_i32(cg, n->epilogue);
    args[k++] = cg_addr(cg, n->outputs[0]);
    Sym work = cg_sym_mul(cg_sym_mul(M, N), K);
    return cg_call_split_typed(cg, n, packed ? "gemm_packed" : "gemm", n->inputs[0]->dtype, work,
                               args, k);
}

int emit_matmul(Codegen *cg, const Node *n) {
    const Shape *a = &n->inputs[0]->shape, *b = &n->inputs[1]->shape, *o = &n->outputs[0]->shape;
    /* Numpy's 1-D promotion: A [K] is [1,K]; B [K] is [K,1]. */
    Sym M = a->rank == 1 ? 1 : cg_sym_dim(a->dims[a->rank - 2]);
    Sym K = cg_sym_dim(a->dims[a->rank - 1]);
    Sym N = b->rank == 1 ? 1 : cg_sym_dim(b->dims[b->rank - 1]);
    int ob = o->rank - (a->rank > 1) - (b->rank > 1); /* batch dims of the output */
    int ab = a->rank > 2 ? a->rank - 2 : 0, bb = b->rank > 2 ? b->rank - 2 : 0;
    Sym batch = cg_sym_prod(o, 0, ob);
    Sym a_b = cg_sym_prod(a, 0, ab), b_b = cg_sym_prod(b, 0, bb);
    Sym a_bs = cg_sym_mul(M, K), b_bs = cg_sym_mul(K, N);
    /* Supported: A's batch dims are the output's, and B either has the same
     * batch dims or none that are not 1 (one B shared by every batch). */
    if (!cg_sym_eq(a_b, batch)) {
        if (cg_sym_is(a_b, 1) && cg_sym_eq(b_b, batch) && cg_sym_is(M, 1)) {
            /* [K] x [..., K, N]: each batch is its own product. */
            a_bs = 0;
        } else {
            diag_node(cg->d, n, "batch broadcasting of '%s' against '%s' is not supported",
                      n->inputs[0]->name, n->inputs[1]->name);
            return -1;
        }
    }
    if (cg_sym_is(b_b, 1))
        b_bs = 0;
    else if (!cg_sym_eq(b_b, batch)) {
        diag_node(cg->d, n, "batch broadcasting of '%s' against '%s' is not supported",
                  n->inputs[0]->name, n->inputs[1]->name);
        return -1;
    }
    LLVMValueRef args[] = {
        cg_sym_value(cg, batch),   cg_sym_value(cg, M),       cg_sym_value(cg, N),
        cg_sym_value(cg, K),       cg_addr(cg, n->inputs[0]), cg_sym_value(cg, a_bs),
        cg_addr(cg, n->inputs[1]), cg_sym_value(cg, b_bs),    cg_addr(cg, n->outputs[0])};
    Sym work = cg_sym_mul(cg_sym_mul(batch, M), cg_sym_mul(N, K));
    return cg_call_split_typed(cg, n, "matmul", n->inputs[0]->dtype, work, args, 9);
}

/* --- data movement ------------------------------------------------------------------ */

void cg_copy_value(Codegen *cg, const Value *from, LLVMValueRef dst) {
    Sym bytes = cg_sym_mul(cg_sym_prod(&from->shape, 0, from->shape.rank),
                           (int64_t)dtype_size(from->dtype));
    LLVMValueRef args[] = {cg_sym_value(cg, bytes), cg_addr(cg, from), dst};
    cg_call(cg, "kiln_copy", args, 3);
}

int emit_copy(Codegen *cg, const Node *n) {
    cg_copy_value(cg, n->inputs[0], cg_addr(cg, n->outputs[0]));
    return 0;
}

int emit_dropout(Codegen *cg, const Node *n) {
    cg_copy_value(cg, n->inputs[0], cg_addr(cg, n->outputs[0]));
    if (n->n_outputs > 1 && n->outputs[1]) {
        /* Inference: the mask keeps everything. */
        const Value *m = n->outputs[1];
        LLVMBuildMemSet(cg->builder, cg_addr(cg, m), LLVMConstInt(cg->i8, 1, 0),
                        cg_sym_value(cg, cg_sym_prod(&m->shape, 0, m->shape.rank)), 1);
    }
    return 0;
}

int emit_none(Codegen *cg, const Node *n) {
    (void)cg;
    (void)n;
    return 0;
}

static const EmitFn emit_fns[OP_COUNT] = {
#define OP(e, name, since, imin, imax, omin, omax, st, flags, shape, flops, emit, kernel)          \
    [OP_##e] = emit,
#include "ops.def"
#undef OP
};

/* --- the run function ------------------------------------------------------------------ */

/* One function holds at most this many nodes: LLVM's optimiser is
 * superlinear in a function's size, so a 20,000-node chain as one function
 * takes minutes. Graphs up to RUN_ONE_FUNCTION_MAX nodes (every benchmark
 * model) stay one function, as before; larger ones are cut into chunks of
 * RUN_CHUNK_NODES nodes, a cost of one call per chunk. */
enum { RUN_ONE_FUNCTION_MAX = 256, RUN_CHUNK_NODES = 64 };

/* Starts `int32_t name(inputs, outputs, ws, syms, pool)`: addresses go to
 * its entry block, code to its body; fn_end() links the two. */
static LLVMValueRef fn_begin(Codegen *cg, const char *name, LLVMBasicBlockRef *body) {
    LLVMTypeRef params[] = {cg->ptr, cg->ptr, cg->ptr, cg->ptr, cg->ptr};
    LLVMTypeRef ft = LLVMFunctionType(cg->i32, params, 5, 0);
    LLVMValueRef fn = LLVMAddFunction(cg->mod, name, ft);
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    cg_fn_retarget(cg, fn, cg->fn_cpu, cg->fn_features);
    LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry");
    *body = LLVMAppendBasicBlockInContext(cg->ctx, fn, "body");
    LLVMPositionBuilderAtEnd(cg->entry, entry);
    LLVMPositionBuilderAtEnd(cg->builder, *body);
    cg->fn_inputs = LLVMGetParam(fn, 0);
    cg->fn_outputs = LLVMGetParam(fn, 1);
    cg->ws = LLVMGetParam(fn, 2);
    cg->syms = LLVMGetParam(fn, 3);
    cg->pool = LLVMGetParam(fn, 4);
    cg->fn_id++;
    return fn;
}

static void fn_end(Codegen *cg, LLVMBasicBlockRef body) {
    LLVMBuildBr(cg->entry, body);
}

/* In a chunked graph, a node whose operands and results hold fewer than
 * this many elements per batch item calls its kernels out of line: one
 * inlined, vectorised kernel costs LLVM milliseconds, which for 20,000 tiny
 * nodes is minutes, while a call costs the running model nanoseconds. */
enum { RUN_INLINE_MIN_ELEMS = 4096 };

static int node_is_light(const Node *n) {
    int64_t elems = 0;
    for (int pass = 0; pass < 2; pass++) {
        Value *const *vs = pass ? n->outputs : n->inputs;
        for (int i = 0; i < (pass ? n->n_outputs : n->n_inputs); i++) {
            if (!vs[i] || vs[i]->shape.rank < 0) continue;
            int64_t k = 1;
            for (int j = 0; j < vs[i]->shape.rank && k < RUN_INLINE_MIN_ELEMS; j++)
                if (vs[i]->shape.dims[j] > 0) k *= vs[i]->shape.dims[j];
            elems += k;
        }
    }
    return elems < RUN_INLINE_MIN_ELEMS;
}

/* Marks every call emitted after `last` in block bb (NULL: from bb's
 * start), and in the blocks after it, noinline at the call site (which
 * overrides the kernels' alwaysinline). */
static void calls_outline(Codegen *cg, LLVMBasicBlockRef bb, LLVMValueRef last) {
    unsigned noinline = LLVMGetEnumAttributeKindForName("noinline", 8);
    LLVMAttributeRef attr = LLVMCreateEnumAttribute(cg->ctx, noinline, 0);
    for (; bb; bb = LLVMGetNextBasicBlock(bb), last = NULL) {
        LLVMValueRef ins = last ? LLVMGetNextInstruction(last) : LLVMGetFirstInstruction(bb);
        for (; ins; ins = LLVMGetNextInstruction(ins))
            if (LLVMIsACallInst(ins) && !LLVMIsAIntrinsicInst(ins))
                LLVMAddCallSiteAttribute(ins, (unsigned)LLVMAttributeFunctionIndex, attr);
    }
}

/* Emits nodes [from, to) at the builder; with `last`, also the copies of
 * graph outputs that no node writes into place (an input or a constant
 * passed straight through, or one value listed as two outputs). With
 * `outline`, light nodes call their kernels out of line. 0 ok. */
static int emit_nodes(Codegen *cg, const Graph *g, int from, int to, int last, int outline) {
    int bad = 0;
    for (int i = from; i < to; i++) {
        const Node *n = g->nodes[i];
        LLVMBasicBlockRef bb = LLVMGetInsertBlock(cg->builder);
        LLVMValueRef before = LLVMGetLastInstruction(bb);
        cg->sym_overflow = 0;
        if (emit_fns[n->op](cg, n)) bad = 1;
        if (cg->sym_overflow) {
            diag_node(cg->d, n, "a size or stride of this node overflows 64 bits");
            diag_hint(cg->d, "the model's shapes are too large; check them with `kiln inspect`");
            bad = 1;
        }
        if (outline && node_is_light(n)) calls_outline(cg, bb, before);
    }
    for (int i = 0; last && i < g->n_outputs; i++) {
        const Value *v = g->outputs[i];
        if (v->producer && v->output_index == i) continue;
        cg_copy_value(cg, v, load_ptr(cg, cg->builder, cg->fn_outputs, i));
    }
    return bad ? -1 : 0;
}

void cg_emit_constants(Codegen *cg, const Graph *g) {
    cg->vals = calloc((size_t)g->n_values + 1, sizeof(LLVMValueRef));
    cg->vals_fn = calloc((size_t)g->n_values + 1, sizeof(int));
    if (!cg->vals || !cg->vals_fn) kiln_oom("value table");
    cg->entry = LLVMCreateBuilderInContext(cg->ctx);
    for (int i = 0; i < g->n_values; i++) {
        const Value *v = g->values[i];
        if (v->data && v->input_index < 0 && !ir_value_has_dims(v)) {
            size_t bytes = (size_t)shape_numel(&v->shape) * dtype_size(v->dtype);
            cg->vals[i] = cg_const_bytes(cg, v->data, bytes ? bytes : 1, 64, v->name);
            cg->vals_fn[i] = -1;
        }
    }
}

LLVMValueRef cg_emit_run(Codegen *cg, const Graph *g, const char *suffix) {
    LLVMBasicBlockRef body;
    LLVMValueRef fn;
    int bad = 0;
    char run_name[64];
    snprintf(run_name, sizeof run_name, "kiln_model_run%s", suffix);
    cg->n_checks = 0;
    if (g->n_nodes <= RUN_ONE_FUNCTION_MAX) {
        fn = fn_begin(cg, run_name, &body);
        bad = emit_nodes(cg, g, 0, g->n_nodes, 1, 0);
        LLVMBuildRet(cg->builder, cg_i32(cg, 0));
        fn_end(cg, body);
        return bad ? NULL : fn;
    }

    /* Chunk c is nodes [cut[c], cut[c + 1]): RUN_CHUNK_NODES of them, or
     * more where a control-flow region would be cut (its blocks must be
     * in one function). */
    int *cut = malloc(sizeof(int) * (size_t)(g->n_nodes + 2)), n_chunks = 0;
    if (!cut) kiln_oom("chunk table");
    for (int i = 0, depth = 0; i < g->n_nodes;) {
        cut[n_chunks++] = i;
        for (int to = i + RUN_CHUNK_NODES; i < g->n_nodes && (i < to || depth > 0); i++) {
            unsigned f = op_info(g->nodes[i]->op)->flags;
            depth += (f & OPF_REGION_BEGIN) ? 1 : (f & OPF_REGION_END) ? -1 : 0;
        }
    }
    cut[n_chunks] = g->n_nodes;
    LLVMValueRef *chunks = malloc(sizeof(LLVMValueRef) * (size_t)n_chunks);
    if (!chunks) kiln_oom("chunk table");
    unsigned noinline = LLVMGetEnumAttributeKindForName("noinline", 8);
    for (int c = 0; c < n_chunks; c++) {
        char name[96];
        snprintf(name, sizeof name, "kiln_model_chunk_%d%s", c, suffix);
        chunks[c] = fn_begin(cg, name, &body);
        /* Inlined back into run, the chunks would make it one huge function again. */
        LLVMAddAttributeAtIndex(chunks[c], (unsigned)LLVMAttributeFunctionIndex,
                                LLVMCreateEnumAttribute(cg->ctx, noinline, 0));
        if (emit_nodes(cg, g, cut[c], cut[c + 1], c + 1 == n_chunks, 1)) bad = 1;
        LLVMBuildRet(cg->builder, cg_i32(cg, 0));
        fn_end(cg, body);
    }

    /* run: status = chunk_c(...); if (status) return status; ... return 0. */
    fn = fn_begin(cg, run_name, &body);
    LLVMValueRef args[5];
    for (unsigned k = 0; k < 5; k++)
        args[k] = LLVMGetParam(fn, k);
    LLVMTypeRef ft = LLVMGlobalGetValueType(fn);
    for (int c = 0; c < n_chunks; c++) {
        LLVMValueRef st = LLVMBuildCall2(cg->builder, ft, chunks[c], args, 5, "status");
        LLVMBasicBlockRef fail = LLVMAppendBasicBlockInContext(cg->ctx, fn, "fail");
        LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(cg->ctx, fn, "next");
        LLVMBuildCondBr(cg->builder, LLVMBuildICmp(cg->builder, LLVMIntNE, st, cg_i32(cg, 0), ""),
                        fail, next);
        LLVMPositionBuilderAtEnd(cg->builder, fail);
        LLVMBuildRet(cg->builder, st);
        LLVMPositionBuilderAtEnd(cg->builder, next);
    }
    LLVMBuildRet(cg->builder, cg_i32(cg, 0));
    fn_end(cg, body);
    free(chunks);
    free(cut);
    return bad ? NULL : fn;
}
