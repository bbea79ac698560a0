/* emit_math.c: kernel calls for the math family (compiler/ir/ops_math.def):
 * broadcasting binary ops and comparisons, Where, variadic Sum/Mean/Max/
 * Min, Pow with mixed types, unary math and activations, IsNaN/IsInf,
 * Clip and Cast. The kernels are in runtime/kernels/elementwise.c.
 *
 * Broadcasting: the output's dims are walked by a 4-deep loop nest, each
 * operand with its own strides (0 along broadcast dims). Size-1 dims are
 * dropped and neighbours that every operand walks contiguously are
 * merged (loop_nest_build in compiler/ir, which constant folding uses
 * too), so the common cases (same shapes, a scalar, a bias row) become
 * one or two loops with constant trip counts.
 */
#include <assert.h>
#include <string.h>

#include "cg.h"
#include "kernels.h"
#include "kmath_ops.h"

#define MAX_OPERANDS KILN_CHAIN_MAX_IN

/* The merged loop nest of an elementwise op: four dims (padded with 1s
 * in front) and the strides of each operand. */
typedef struct Layout {
    Sym dims[4];
    Sym st[MAX_OPERANDS][4];
} Layout;

/* Lays out k operands of the given shapes read at every index of out, as
 * loop_nest_build (compiler/ir) groups the dims; -1 with a diagnostic if
 * more than four loops remain. */
static int math_layout(Codegen *cg, const Node *n, const Shape *out, const Shape *const *ins, int k,
                       Layout *l) {
    LoopNest ln;
    int r = loop_nest_build(out, ins, k, &ln);
    if (r > 4) {
        diag_node(cg->d, n, "broadcast over %d distinct dimensions is not supported (at most 4)",
                  r);
        return -1;
    }
    for (int g = 0; g < 4; g++) {
        l->dims[g] = cg_sym_prod(out, ln.first[g], ln.end[g]);
        for (int j = 0; j < k; j++) {
            int from, to;
            l->st[j][g] = loop_nest_operand(&ln, g, out, ins[j], &from, &to)
                              ? cg_sym_prod(ins[j], from, to)
                              : cg_sym(0);
        }
    }
    return 0;
}

/* Byte size of a tensor of shape s and type t. */
static Sym tensor_bytes(const Shape *s, DType t) {
    return cg_sym_mul(cg_sym_prod(s, 0, s->rank), cg_sym((int64_t)dtype_size(t)));
}

/* Address `off` bytes into node n's scratch (reserved by the shape
 * function, regions in the order it added them). */
static LLVMValueRef scratch_at(Codegen *cg, const Node *n, Sym off) {
    LLVMValueRef o = cg_sym_value(cg, off);
    return LLVMBuildGEP2(cg->builder, cg->i8, cg_scratch(cg, n), &o, 1, "");
}

static LLVMTypeRef llvm_float_type(Codegen *cg, DType t) {
    return t == DT_F64   ? LLVMDoubleTypeInContext(cg->ctx)
           : t == DT_F16 ? LLVMHalfTypeInContext(cg->ctx)
                         : cg->f32;
}

/* A constant global scalar of float type t. */
static LLVMValueRef const_float(Codegen *cg, DType t, double v, const char *name) {
    LLVMTypeRef ty = llvm_float_type(cg, t);
    LLVMValueRef gv = LLVMAddGlobal(cg->mod, ty, name);
    LLVMSetInitializer(gv, LLVMConstReal(ty, v));
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetLinkage(gv, LLVMPrivateLinkage);
    return gv;
}

/* The work of an element-wise kernel over shape s for cg_call_split: an
 * element costs about as long as CG_ELEMENT_WORK multiply-adds (it is
 * memory bound). */
enum { CG_ELEMENT_WORK = 32 };
static Sym elementwise_work(const Shape *s) {
    return cg_sym_mul(cg_sym_prod(s, 0, s->rank), CG_ELEMENT_WORK);
}

/* kiln_<base>_<t>(op, d0..d3, a, a-strides, b, b-strides, y): base is
 * "binary" or "compare". */
static int call_binary(Codegen *cg, const Node *n, const char *base, int op, DType t,
                       LLVMValueRef a, const Shape *as, LLVMValueRef b, const Shape *bs,
                       LLVMValueRef y, const Shape *ys) {
    Layout l;
    const Shape *ins[] = {as, bs};
    if (math_layout(cg, n, ys, ins, 2, &l)) return -1;
    LLVMValueRef args[16];
    args[0] = cg_i32(cg, op);
    for (int i = 0; i < 4; i++) {
        args[1 + i] = cg_sym_value(cg, l.dims[i]);
        args[6 + i] = cg_sym_value(cg, l.st[0][i]);
        args[11 + i] = cg_sym_value(cg, l.st[1][i]);
    }
    args[5] = a;
    args[10] = b;
    args[15] = y;
    if (t == DT_F32 && !strcmp(base, "binary"))
        return cg_call_split_typed(cg, n, "binary_split", t, elementwise_work(ys), args, 16);
    return cg_call_typed(cg, n, base, t, args, 16);
}

/* n elements of type from at src, converted to type to at dst. */
static int call_cast(Codegen *cg, const Node *n, DType from, DType to, Sym count, LLVMValueRef src,
                     LLVMValueRef dst) {
    if (from == to) {
        LLVMValueRef args[] = {cg_sym_value(cg, cg_sym_mul(count, cg_sym((int64_t)dtype_size(to)))),
                               src, dst};
        cg_call(cg, "kiln_copy", args, 3);
        return 0;
    }
    char base[32];
    snprintf(base, sizeof base, "cast_%s", cg_dtype_suffix(from));
    LLVMValueRef args[] = {cg_sym_value(cg, count), src, dst};
    return cg_call_typed(cg, n, base, to, args, 3);
}

/* --- binary ------------------------------------------------------------------------- */

static int is_integer(DType t) {
    return t == DT_I8 || t == DT_I16 || t == DT_I32 || t == DT_I64 || t == DT_U8 || t == DT_U16 ||
           t == DT_U32 || t == DT_U64;
}

/* Integer division by zero is an error (ONNX; numpy warns), so the divisor
 * b is checked first: a check site, unless b is a constant without zeros.
 * INT_MIN / -1 needs no check: the kernel wraps it, as numpy does. */
static int check_divisor(Codegen *cg, const Node *n, const Value *b) {
    size_t es = dtype_size(b->dtype);
    int64_t cnt = shape_is_dynamic(&b->shape) ? -1 : shape_numel(&b->shape);
    if (b->data && cnt >= 0) {
        static const char zero[8];
        int64_t k = 0;
        while (k < cnt && memcmp((const char *)b->data + k * (int64_t)es, zero, es) != 0)
            k++;
        if (k == cnt) return 0;
    }
    char name[64];
    snprintf(name, sizeof name, "kiln_check_divisor_%s", cg_dtype_suffix(b->dtype));
    LLVMValueRef args[] = {cg_sym_value(cg, cg_sym_prod(&b->shape, 0, b->shape.rank)),
                           cg_addr(cg, b)};
    const char *site = arena_printf(cg->g->arena, "node '%s' (%s): divisor from %s", n->name,
                                    n->op_type, cg_value_origin(cg, b));
    cg_call_checked(cg, name, args, 2, site);
    return 0;
}

int emit_binary(Codegen *cg, const Node *n) {
    const Value *a = n->inputs[0], *b = n->inputs[1], *y = n->outputs[0];
    int op = op_info(n->op)->kernel.op;
    assert(op >= 0 && op < KILN_BIN_EQ);
    /* shape_broadcast (shared) checks only that the types agree. */
    if (a->dtype == DT_BOOL &&
        (op == KILN_BIN_ADD || op == KILN_BIN_SUB || op == KILN_BIN_MUL || op == KILN_BIN_DIV)) {
        diag_node(cg->d, n, "%s of bool tensors is not defined", n->op_type);
        return -1;
    }
    if (op == KILN_BIN_MOD && ir_attr_int(n, "fmod", 0)) op = KILN_BIN_FMOD;
    if (op == KILN_BIN_SHL && strcmp(ir_attr_str(n, "direction", ""), "LEFT") != 0)
        op = KILN_BIN_SHR;
    if ((op == KILN_BIN_DIV || op == KILN_BIN_MOD || op == KILN_BIN_FMOD) && is_integer(y->dtype))
        check_divisor(cg, n, b);
    return call_binary(cg, n, "binary", op, y->dtype, cg_addr(cg, a), &a->shape, cg_addr(cg, b),
                       &b->shape, cg_addr(cg, y), &y->shape);
}

int emit_compare(Codegen *cg, const Node *n) {
    const Value *a = n->inputs[0], *b = n->inputs[1], *y = n->outputs[0];
    int op = op_info(n->op)->kernel.op;
    assert(op >= KILN_BIN_EQ && op <= KILN_BIN_GE);
    return call_binary(cg, n, "compare", op, a->dtype, cg_addr(cg, a), &a->shape, cg_addr(cg, b),
                       &b->shape, cg_addr(cg, y), &y->shape);
}

/* Pow; operands of different types go through scratch as shape_math_pow
 * planned it. */
int emit_pow(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0], *e = n->inputs[1], *y = n->outputs[0];
    LLVMValueRef xa = cg_addr(cg, x), ea = cg_addr(cg, e), ya = cg_addr(cg, y);
    if (x->dtype == e->dtype)
        return call_binary(cg, n, "binary", KILN_BIN_POW, x->dtype, xa, &x->shape, ea, &e->shape,
                           ya, &y->shape);
    int int_base = x->dtype != DT_F32 && x->dtype != DT_F64 && x->dtype != DT_F16;
    int float_exp = e->dtype == DT_F32 || e->dtype == DT_F64 || e->dtype == DT_F16;
    if (int_base && float_exp) {
        /* In the exponent's float type: base -> float, pow, -> integer. */
        LLVMValueRef xf = scratch_at(cg, n, cg_sym(0));
        LLVMValueRef yf = scratch_at(cg, n, tensor_bytes(&x->shape, e->dtype));
        if (call_cast(cg, n, x->dtype, e->dtype, cg_sym_prod(&x->shape, 0, x->shape.rank), xa, xf))
            return -1;
        if (call_binary(cg, n, "binary", KILN_BIN_POW, e->dtype, xf, &x->shape, ea, &e->shape, yf,
                        &y->shape))
            return -1;
        return call_cast(cg, n, e->dtype, x->dtype, cg_sym_prod(&y->shape, 0, y->shape.rank), yf,
                         ya);
    }
    /* The exponent in the base's type (integers to float are exact in
     * every case that does not overflow anyway). */
    LLVMValueRef ec = scratch_at(cg, n, cg_sym(0));
    if (call_cast(cg, n, e->dtype, x->dtype, cg_sym_prod(&e->shape, 0, e->shape.rank), ea, ec))
        return -1;
    return call_binary(cg, n, "binary", KILN_BIN_POW, x->dtype, xa, &x->shape, ec, &e->shape, ya,
                       &y->shape);
}

/* Sum, Mean, Max, Min as a chain of binary steps over the output's shape,
 * alternating between the output and one scratch buffer so that the last
 * step lands in the output; Mean ends with a division by the count. */
int emit_variadic(Codegen *cg, const Node *n) {
    const Value *y = n->outputs[0];
    DType t = y->dtype;
    if (n->n_inputs == 1) {
        cg_copy_value(cg, n->inputs[0], cg_addr(cg, y));
        return 0;
    }
    int op = op_info(n->op)->kernel.op; /* Mean: ADD, then a division */
    int mean = n->op == OP_MEAN;
    int steps = n->n_inputs - 1 + mean;
    LLVMValueRef acc = cg_addr(cg, n->inputs[0]);
    const Shape *acc_shape = &n->inputs[0]->shape;
    for (int s = 0; s < steps; s++) {
        LLVMValueRef dst = (steps - 1 - s) % 2 == 0 ? cg_addr(cg, y) : scratch_at(cg, n, cg_sym(0));
        int last_mean = mean && s == steps - 1;
        const Shape scalar = {0, {0}};
        LLVMValueRef b = last_mean ? const_float(cg, t, (double)n->n_inputs, "mean_count")
                                   : cg_addr(cg, n->inputs[s + 1]);
        const Shape *bs = last_mean ? &scalar : &n->inputs[s + 1]->shape;
        if (call_binary(cg, n, "binary", last_mean ? KILN_BIN_DIV : op, t, acc, acc_shape, b, bs,
                        dst, &y->shape))
            return -1;
        acc = dst;
        acc_shape = &y->shape;
    }
    return 0;
}

int emit_where(Codegen *cg, const Node *n) {
    const Value *y = n->outputs[0];
    const Shape *ins[] = {&n->inputs[0]->shape, &n->inputs[1]->shape, &n->inputs[2]->shape};
    Layout l;
    if (math_layout(cg, n, &y->shape, ins, 3, &l)) return -1;
    LLVMValueRef args[20];
    for (int i = 0; i < 4; i++) {
        args[i] = cg_sym_value(cg, l.dims[i]);
        for (int j = 0; j < 3; j++)
            args[5 + 5 * j + i] = cg_sym_value(cg, l.st[j][i]);
    }
    for (int j = 0; j < 3; j++)
        args[4 + 5 * j] = cg_addr(cg, n->inputs[j]);
    args[19] = cg_addr(cg, y);
    return cg_call_typed(cg, n, "where", y->dtype, args, 20);
}

/* --- chains ------------------------------------------------------------------------ */

/* kiln.Chain (passes/fuse_elementwise.c): its steps as a constant table
 * for kiln_chain_f32, which folds each step's switch once inlined. */
int emit_chain(Codegen *cg, const Node *n) {
    const Attr *steps = ir_attr(n, "steps"), *ops = ir_attr(n, "operands");
    const Attr *sides = ir_attr(n, "sides"), *al = ir_attr(n, "alpha"), *be = ir_attr(n, "beta");
    int ns = steps->n, k = n->n_inputs; /* shape_chain checked the lists */
    KilnChainStep st[KILN_CHAIN_MAX_STEPS];
    for (int i = 0; i < ns; i++) {
        OpKind op = op_lookup(steps->strings[i]);
        const OpKernel u = op_info(op)->kernel;
        int64_t o = ops->ints[i];
        st[i] = (KilnChainStep){KILN_CHAIN_UNARY, u.op, o < 0 ? 0 : (int32_t)o, al->floats[i],
                                be->floats[i]};
        if (op == OP_CLIP) {
            st[i].kind = KILN_CHAIN_CLAMP;
        } else if (u.kind == KERNEL_BINARY) {
            st[i].kind = o < 0            ? KILN_CHAIN_SELF
                         : sides->ints[i] ? KILN_CHAIN_BINARY_REV
                                          : KILN_CHAIN_BINARY;
        } else if (u.kind != KERNEL_UNARY) {
            diag_node(cg->d, n, "step %d, %s, is not an element-wise op", i, steps->strings[i]);
            return -1;
        }
    }
    const Value *y = n->outputs[0];
    const Shape *ins[MAX_OPERANDS];
    for (int j = 0; j < k; j++)
        ins[j] = &n->inputs[j]->shape;
    Layout l;
    if (math_layout(cg, n, &y->shape, ins, k, &l)) return -1;
    enum { NARGS = 7 + 5 * KILN_CHAIN_MAX_IN };
    LLVMValueRef args[NARGS];
    args[0] = cg_i64(cg, ns);
    args[1] = cg_const_bytes(cg, st, sizeof(KilnChainStep) * (size_t)ns, 4, "chain_steps");
    for (int i = 0; i < 4; i++)
        args[2 + i] = cg_sym_value(cg, l.dims[i]);
    for (int j = 0; j < KILN_CHAIN_MAX_IN; j++) {
        int from = j < k ? j : 0; /* unused slots: operand 0 again, never read */
        args[6 + 5 * j] = cg_addr(cg, n->inputs[from]);
        for (int i = 0; i < 4; i++)
            args[7 + 5 * j + i] = cg_sym_value(cg, l.st[from][i]);
    }
    args[NARGS - 1] = cg_addr(cg, y);
    Sym work = cg_sym_mul(elementwise_work(&y->shape), cg_sym(ns));
    cg_call_split(cg, work, "kiln_chain_f32", args, NARGS);
    return 0;
}

/* --- unary -------------------------------------------------------------------------- */

int emit_unary(Codegen *cg, const Node *n) {
    const OpKernel u = op_info(n->op)->kernel;
    assert(u.op >= 0 && u.op < KILN_UN_COUNT);
    float alpha = u.alpha_name ? ir_attr_float(n, u.alpha_name, u.alpha) : 0.0f;
    float beta = u.beta_name ? ir_attr_float(n, u.beta_name, u.beta) : 0.0f;
    if (n->op == OP_CELU && alpha == 0.0f) {
        diag_node(cg->d, n, "alpha is 0; Celu divides by it");
        return -1;
    }
    const Shape *s = &n->inputs[0]->shape;
    LLVMValueRef args[] = {cg_i32(cg, u.op),          cg_sym_value(cg, cg_sym_prod(s, 0, s->rank)),
                           cg_addr(cg, n->inputs[0]), cg_addr(cg, n->outputs[0]),
                           cg_f32(cg, alpha),         cg_f32(cg, beta)};
    if (n->inputs[0]->dtype == DT_F32)
        return cg_call_split_typed(cg, n, "unary_split", DT_F32, elementwise_work(s), args, 6);
    return cg_call_typed(cg, n, "unary", n->inputs[0]->dtype, args, 6);
}

int emit_classify(Codegen *cg, const Node *n) {
    int op = KILN_CLASS_NAN;
    if (n->op == OP_IS_INF) {
        int neg = (int)ir_attr_int(n, "detect_negative", 1);
        int pos = (int)ir_attr_int(n, "detect_positive", 1);
        op = neg && pos ? KILN_CLASS_INF
             : pos      ? KILN_CLASS_POS_INF
             : neg      ? KILN_CLASS_NEG_INF
                        : KILN_CLASS_NONE;
    }
    const Shape *s = &n->inputs[0]->shape;
    LLVMValueRef args[] = {cg_i32(cg, op), cg_sym_value(cg, cg_sym_prod(s, 0, s->rank)),
                           cg_addr(cg, n->inputs[0]), cg_addr(cg, n->outputs[0])};
    return cg_call_typed(cg, n, "classify", n->inputs[0]->dtype, args, 4);
}

/* Clip: bounds from the plan (attributes before opset 11, as constants)
 * or from the optional inputs, read by the kernel at run time (so they
 * may be computed by the graph). An absent bound is a null pointer. */
int emit_clip(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0];
    assert(n->plan_kind == PLAN_CLIP);
    const ClipPlan *p = n->plan.clip;
    LLVMValueRef lo = LLVMConstPointerNull(cg->ptr), hi = LLVMConstPointerNull(cg->ptr);
    if (!p->from_inputs) {
        if (p->has_min) lo = const_float(cg, x->dtype, p->min, "clip_min");
        if (p->has_max) hi = const_float(cg, x->dtype, p->max, "clip_max");
    } else {
        if (n->n_inputs > 1 && n->inputs[1]) lo = cg_addr(cg, n->inputs[1]);
        if (n->n_inputs > 2 && n->inputs[2]) hi = cg_addr(cg, n->inputs[2]);
    }
    const Shape *s = &x->shape;
    LLVMValueRef args[] = {cg_sym_value(cg, cg_sym_prod(s, 0, s->rank)), cg_addr(cg, x), lo, hi,
                           cg_addr(cg, n->outputs[0])};
    return cg_call_typed(cg, n, "clip", x->dtype, args, 5);
}

int emit_cast(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0], *y = n->outputs[0];
    Sym count = cg_sym_prod(&x->shape, 0, x->shape.rank);
    if (x->dtype != y->dtype &&
        y->dtype == DT_STRING) { /* texts in the scratch (shape_math_cast) */
        LLVMValueRef args[] = {cg_i32(cg, (int)x->dtype), cg_sym_value(cg, count), cg_addr(cg, x),
                               cg_addr(cg, y), cg_scratch(cg, n)};
        cg_call(cg, "kiln_cast_to_string", args, 5);
        return 0;
    }
    if (x->dtype != y->dtype && x->dtype == DT_STRING) {
        LLVMValueRef args[] = {cg_i32(cg, (int)y->dtype), cg_sym_value(cg, count), cg_addr(cg, x),
                               cg_addr(cg, y)};
        const char *what =
            arena_printf(cg->g->arena, "node '%s' (%s): %s, cast to %s", n->name, n->op_type,
                         cg_value_origin(cg, x), dtype_onnx_name(y->dtype));
        cg_call_checked(cg, "kiln_cast_from_string", args, 4, what);
        return 0;
    }
    if (x->dtype == DT_STRING) { /* string to string: the pointers are copied */
        LLVMValueRef args[] = {
            cg_sym_value(cg, cg_sym_mul(count, cg_sym((int64_t)sizeof(const char *)))),
            cg_addr(cg, x), cg_addr(cg, y)};
        cg_call(cg, "kiln_copy", args, 3);
        return 0;
    }
    return call_cast(cg, n, x->dtype, y->dtype, count, cg_addr(cg, x), cg_addr(cg, y));
}
