/* fold_constants.c: shape subgraphs folded into constants.
 *
 * Exporters compute shapes at run time: torch's x.view(x.size(0), -1)
 * becomes Shape -> Gather -> Unsqueeze -> Concat -> Reshape. kiln compiles
 * shapes ahead of time, so this pass evaluates such chains on the host, in
 * topological order, inferring each node's shape just before (the shape
 * functions run silently here; pass_infer_shapes runs afterwards and
 * reports what is still wrong). How the batch dim is carried through a
 * folded shape vector is described in fold_constants.h.
 *
 * Arithmetic runs on the model's own kernels (runtime/kernels, compiled
 * natively into kiln with the bitcode's float flags; their ABI is
 * runtime/kiln_kernel_abi.h), called with the op and the loop nest codegen
 * would pass, so a folded constant is bit for bit what the model would
 * have computed. What only reads shapes (Shape, Size, ConstantOfShape,
 * Range's plan) or only moves bytes (Reshape and friends, Gather, Concat,
 * Slice, Expand) is done here directly.
 */
#include <string.h>

#include "fold_constants.h"
#include "kiln_kernel_abi.h"
#include "shapes.h"

/* Folded outputs larger than this stay run-time computations: folding is
 * for shape vectors, not for weights. fold_numel() computes the count
 * with checked arithmetic, so no shape, however hostile, makes folding
 * allocate more than FOLD_MAX_ELEMS * 8 bytes per node. */
#define FOLD_MAX_ELEMS (1 << 16)

/* Elements of static shape s, or -1 if a dim is negative (the batch) or
 * the product overflows or exceeds FOLD_MAX_ELEMS. */
static int64_t fold_numel(const Shape *s) {
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++)
        if (s->dims[i] < 0 || __builtin_mul_overflow(n, s->dims[i], &n) || n > FOLD_MAX_ELEMS)
            return -1;
    return n;
}

/* --- the element-wise kernels, by element type ------------------------------------ */

/* Wrappers with void pointers and the 4-D layout as arrays, so that one
 * table holds the kernels of every type (a call through a cast function
 * pointer would be undefined behaviour). */
typedef void BinaryFn(int op, const int64_t *d, const void *a, const int64_t *as, const void *b,
                      const int64_t *bs, void *y);
typedef void UnaryFn(int op, int64_t n, const void *x, void *y, float alpha, float beta);
typedef void WhereFn(const int64_t *d, const void *c, const int64_t *cs, const void *a,
                     const int64_t *as, const void *b, const int64_t *bs, void *y);
typedef void CastFn(int64_t n, const void *x, void *y);
typedef int32_t CheckFn(int64_t n, const void *b, KilnRunError *err);

#define WRAP_MATH(T, sfx, kind)                                                                    \
    static void binary_##sfx(int op, const int64_t *d, const void *a, const int64_t *as,           \
                             const void *b, const int64_t *bs, void *y) {                          \
        kiln_binary_##sfx(op, d[0], d[1], d[2], d[3], a, as[0], as[1], as[2], as[3], b, bs[0],     \
                          bs[1], bs[2], bs[3], y);                                                 \
    }                                                                                              \
    static void compare_##sfx(int op, const int64_t *d, const void *a, const int64_t *as,          \
                              const void *b, const int64_t *bs, void *y) {                         \
        kiln_compare_##sfx(op, d[0], d[1], d[2], d[3], a, as[0], as[1], as[2], as[3], b, bs[0],    \
                           bs[1], bs[2], bs[3], y);                                                \
    }                                                                                              \
    static void unary_##sfx(int op, int64_t n, const void *x, void *y, float alpha, float beta) {  \
        kiln_unary_##sfx(op, n, x, y, alpha, beta);                                                \
    }                                                                                              \
    static void where_##sfx(const int64_t *d, const void *c, const int64_t *cs, const void *a,     \
                            const int64_t *as, const void *b, const int64_t *bs, void *y) {        \
        kiln_where_##sfx(d[0], d[1], d[2], d[3], c, cs[0], cs[1], cs[2], cs[3], a, as[0], as[1],   \
                         as[2], as[3], b, bs[0], bs[1], bs[2], bs[3], y);                          \
    }                                                                                              \
    KILN_CAST_TARGETS(WRAP_CAST, T, sfx)
#define WRAP_CAST(F, fsfx, T, tsfx, tkind)                                                         \
    static void cast_##fsfx##_##tsfx(int64_t n, const void *x, void *y) {                          \
        kiln_cast_##fsfx##_##tsfx(n, x, y);                                                        \
    }
#define WRAP_CHECK(T, sfx, kind)                                                                   \
    static int32_t check_divisor_##sfx(int64_t n, const void *b, KilnRunError *err) {              \
        return kind == KILN_KIND_SIGNED || kind == KILN_KIND_UNSIGNED                              \
                   ? kiln_check_divisor_##sfx(n, b, err)                                           \
                   : 0;                                                                            \
    }
KILN_FOR_MATH_TYPES(WRAP_CHECK)
#undef WRAP_CHECK
KILN_FOR_MATH_TYPES(WRAP_MATH)
#undef WRAP_MATH
#undef WRAP_CAST

/* DType of each kernel suffix, from the dtype table (FOLD_DT_f32 == DT_F32). */
enum {
#define KILN_DTYPE(ir, abi, onnx, name, ...) FOLD_DT_##name = DT_##ir,
#include "kiln_dtypes.def"
#undef KILN_DTYPE
};
#define N_DTYPES 32
#define KILN_DTYPE(ir, abi, onnx, ...) _Static_assert(onnx < N_DTYPES, "raise N_DTYPES");
#include "kiln_dtypes.def"
#undef KILN_DTYPE

typedef struct TypeKernels {
    BinaryFn *binary, *compare;
    UnaryFn *unary;
    WhereFn *where;
    CheckFn *check_divisor;    /* integer DIV/MOD/FMOD: 0 if no divisor is 0 */
    CastFn *cast_to[N_DTYPES]; /* by the target's DType */
} TypeKernels;

/* By DType; all NULL for types without kernels (strings, bfloat16). */
static const TypeKernels type_kernels[N_DTYPES] = {
#define CAST_ENTRY(F, fsfx, T, tsfx, tkind) [FOLD_DT_##tsfx] = cast_##fsfx##_##tsfx,
#define ENTRY(T, sfx, kind)                                                                        \
    [FOLD_DT_##                                                                                    \
        sfx] = {binary_##sfx, compare_##sfx,       unary_##sfx,                                    \
                where_##sfx,  check_divisor_##sfx, {KILN_CAST_TARGETS(CAST_ENTRY, T, sfx)}},
    KILN_FOR_MATH_TYPES(ENTRY)
#undef ENTRY
#undef CAST_ENTRY
};

/* The kernels' 4-D loop nest over out for k operands (the contract of
 * kiln_binary_* in kiln_kernel_abi.h), grouped as codegen groups it. -1
 * if more than four loops remain (codegen refuses those too). Folded
 * shapes are static, so every product is a number. */
static int layout_4d(const Shape *out, Value *const *ins, int k, int64_t d[4], int64_t st[3][4]) {
    const Shape *shapes[3];
    LoopNest ln;
    int b;
    for (int j = 0; j < k; j++)
        shapes[j] = &ins[j]->shape;
    if (loop_nest_build(out, shapes, k, &ln) > 4) return -1;
    for (int g = 0; g < 4; g++) {
        d[g] = shapes_product(out, ln.first[g], ln.end[g], &b);
        for (int j = 0; j < k; j++) {
            int from, to;
            st[j][g] = loop_nest_operand(&ln, g, out, shapes[j], &from, &to)
                           ? shapes_product(shapes[j], from, to, &b)
                           : 0;
        }
    }
    return 0;
}

/* Data movement keeps the sentinel, and so does Cast from int64 to int64
 * (the OPF_SENTINEL flags in ops.def). */
static int passes_sentinel(const Node *n) {
    unsigned f = op_info(n->op)->flags;
    return (f & OPF_SENTINEL) || ((f & OPF_SENTINEL_I64) && n->outputs[0]->dtype == DT_I64 &&
                                  n->inputs[0]->dtype == DT_I64);
}

/* Flat offset into s (broadcast to out's rank) of out's multi-index at. */
static int64_t bcast_offset(const Shape *s, const Shape *out, const int64_t *at) {
    int64_t off = 0, acc = 1;
    for (int i = out->rank - 1, k = s->rank - 1; k >= 0; i--, k--) {
        if (s->dims[k] != 1) off += at[i] * acc;
        acc *= s->dims[k];
    }
    return off;
}

static void index_next(const Shape *s, int64_t *at) {
    for (int r = s->rank - 1; r >= 0 && ++at[r] == s->dims[r]; r--)
        at[r] = 0;
}

/* The foldable math ops (OPF_FOLD in ops_math.def), by the kernel the
 * model would call for them, with the arguments codegen (emit_math.c)
 * passes. Refuses what codegen refuses, so that it reports it. An integer
 * division by a zero constant is the model's error, reported here (1). */
static int eval_math(const Node *n, void *out, Diag *d) {
    const Value *x = n->inputs[0], *y = n->outputs[0];
    const TypeKernels *tk = &type_kernels[x->dtype];
    const OpKernel ko = op_info(n->op)->kernel;
    int64_t dims[4], st[3][4];
    if (n->op == OP_CAST) {
        if (x->dtype == y->dtype) { /* kiln_copy in the model */
            memcpy(out, x->data, (size_t)shape_numel(&y->shape) * dtype_size(y->dtype));
            return 0;
        }
        if (!tk->cast_to[y->dtype]) return -1;
        tk->cast_to[y->dtype](shape_numel(&x->shape), x->data, out);
        return 0;
    }
    if (n->op == OP_WHERE) {
        tk = &type_kernels[y->dtype];
        if (x->dtype != DT_BOOL || !tk->where || layout_4d(&y->shape, n->inputs, 3, dims, st))
            return -1;
        tk->where(dims, x->data, st[0], n->inputs[1]->data, st[1], n->inputs[2]->data, st[2], out);
        return 0;
    }
    if (ko.kind == KERNEL_UNARY) {
        if (!tk->unary) return -1;
        float alpha = ko.alpha_name ? ir_attr_float(n, ko.alpha_name, ko.alpha) : 0.0f;
        float beta = ko.beta_name ? ir_attr_float(n, ko.beta_name, ko.beta) : 0.0f;
        tk->unary(ko.op, shape_numel(&x->shape), x->data, out, alpha, beta);
        return 0;
    }
    if (ko.kind != KERNEL_BINARY || !tk->binary) return -1;
    if (n->n_inputs == 1) { /* variadic Max/Min of one input: a copy */
        memcpy(out, x->data, (size_t)shape_numel(&y->shape) * dtype_size(y->dtype));
        return 0;
    }
    if (n->n_inputs != 2 || n->inputs[1]->dtype != x->dtype) return -1;
    if (x->dtype == DT_BOOL && ko.op <= KILN_BIN_DIV) return -1; /* emit_binary's diagnostic */
    if (layout_4d(&y->shape, n->inputs, 2, dims, st)) return -1;
    const Value *b = n->inputs[1];
    KilnRunError e;
    if ((ko.op == KILN_BIN_DIV || ko.op == KILN_BIN_MOD) &&
        tk->check_divisor(shape_numel(&b->shape), b->data, &e)) {
        diag_node(d, n, "division by zero: element %lld of the divisor '%s' is 0",
                  (long long)e.position, b->name);
        diag_hint(d, "integer Div and Mod by 0 are errors in ONNX; fix the constant");
        return 1;
    }
    BinaryFn *fn = ko.op >= KILN_BIN_EQ ? tk->compare : tk->binary;
    fn(ko.op, dims, x->data, st[0], b->data, st[1], out);
    return 0;
}

/* int64 arithmetic on vectors holding encoded Dims (a shape computed from
 * the input shapes: torch's x.view(b * h, s, d)), done on Dims. -1 if the
 * op has no Dim form or a result is not a size (a negative difference, a
 * division by a symbolic or zero divisor): the node then runs at run time. */
static int eval_dims(const Node *n, void *out) {
    const Value *y = n->outputs[0];
    const OpKernel ko = op_info(n->op)->kernel;
    if (ko.kind != KERNEL_BINARY || n->n_inputs != 2 || y->dtype != DT_I64) return -1;
    const Value *a = n->inputs[0], *b = n->inputs[1];
    if (a->dtype != DT_I64 || b->dtype != DT_I64) return -1;
    int64_t at[IR_MAX_RANK] = {0}, cnt = shape_numel(&y->shape);
    for (int64_t i = 0; i < cnt; i++, index_next(&y->shape, at)) {
        Dim x = ir_dim_decode(((const int64_t *)a->data)[bcast_offset(&a->shape, &y->shape, at)]);
        Dim z = ir_dim_decode(((const int64_t *)b->data)[bcast_offset(&b->shape, &y->shape, at)]);
        Dim r;
        if (x == DIM_INVALID || z == DIM_INVALID) return -1;
        switch (ko.op) {
        case KILN_BIN_ADD:
            r = dim_add(x, z);
            break;
        case KILN_BIN_SUB:
            r = dim_sub(x, z);
            break;
        case KILN_BIN_MUL:
            r = dim_mul(x, z);
            break;
        case KILN_BIN_DIV:
            r = z >= 1 ? dim_floordiv(x, z) : DIM_INVALID;
            break; /* x >= 0 */
        case KILN_BIN_MOD:
            r = z >= 1 ? dim_mod(x, z) : DIM_INVALID;
            break;
        case KILN_BIN_MAX:
            r = dim_max(x, z);
            break;
        case KILN_BIN_MIN:
            r = dim_min(x, z);
            break;
        default:
            return -1;
        }
        int64_t c;
        if (r == DIM_INVALID || (dim_value(r, &c) && c < 0)) return -1;
        ((int64_t *)out)[i] = ir_dim_encode(r);
    }
    return 0;
}

/* A Gather with constant indices: 1 with a diagnostic naming the node if
 * one is outside [-len, len) of its axis (ONNX makes it an error; the
 * model would fail at every run), 0 if all are fine, -1 if it cannot
 * tell (indices not constant, not numbers, or the axis is the batch). */
static int gather_indices_check(const Node *n, Diag *d) {
    const Value *x = n->inputs[0], *ix = n->inputs[1];
    if (!ix->data || (ix->dtype != DT_I64 && ix->dtype != DT_I32) || ir_value_has_dims(ix) ||
        x->shape.rank < 1 || shape_is_dynamic(&ix->shape))
        return -1;
    int64_t axis = ir_attr_int(n, "axis", 0);
    if (axis < 0) axis += x->shape.rank;
    if (axis < 0 || axis >= x->shape.rank || x->shape.dims[axis] < 0) return -1;
    int64_t len = x->shape.dims[axis], ni = shape_numel(&ix->shape);
    for (int64_t j = 0; j < ni; j++) {
        int64_t k =
            ix->dtype == DT_I64 ? ((const int64_t *)ix->data)[j] : ((const int32_t *)ix->data)[j];
        if (k < -len || k >= len) {
            diag_node(d, n,
                      "index %lld at position %lld of '%s' is out of range [%lld, %lld] for axis "
                      "%d of '%s'",
                      (long long)k, (long long)j, ix->name, (long long)-len, (long long)len - 1,
                      (int)axis, x->name);
            diag_hint(d, "a constant index must address an existing entry; fix the model");
            return 1;
        }
    }
    return 0;
}

int fold_node_eval(const Node *n, void *out, Diag *d) {
    const Value *y = n->outputs[0], *x = n->n_inputs ? n->inputs[0] : NULL;
    size_t es = dtype_size(y->dtype);
    int64_t cnt = shape_numel(&y->shape);
    if (!es || shape_is_dynamic(&y->shape) || !(op_info(n->op)->flags & OPF_FOLD)) return -1;
    switch (n->op) {
    case OP_SHAPE: {
        int64_t from = ir_attr_int(n, "start", 0), to = ir_attr_int(n, "end", x->shape.rank);
        int r = x->shape.rank;
        if (from < 0) from += r;
        if (to < 0) to += r;
        from = from < 0 ? 0 : from > r ? r : from;
        for (int64_t k = from; k < from + cnt; k++)
            ((int64_t *)out)[k - from] = ir_dim_encode(x->shape.dims[k]);
        return 0;
    }
    case OP_SIZE: {
        Dim c = shape_count(&x->shape);
        if (c == DIM_INVALID) return -1;
        *(int64_t *)out = ir_dim_encode(c);
        return 0;
    }
    case OP_CONSTANT_OF_SHAPE: {
        const Attr *a = ir_attr(n, "value");
        char v[8] = {0};
        if (a && a->kind == ATTR_TENSOR && a->t && a->t->data) memcpy(v, a->t->data, es);
        for (int64_t i = 0; i < cnt; i++)
            memcpy((char *)out + i * es, v, es);
        return 0;
    }
    case OP_RANGE: /* computed by its shape function */
        if (n->plan_kind != PLAN_CONST) return -1;
        memcpy(out, n->plan.bytes, (size_t)cnt * es);
        return 0;
    default:
        break;
    }
    for (int j = 0; j < n->n_inputs; j++)
        if (n->inputs[j] && !n->inputs[j]->data) return -1;
    switch (n->op) {
    case OP_IDENTITY:
    case OP_RESHAPE:
    case OP_FLATTEN:
    case OP_SQUEEZE:
    case OP_UNSQUEEZE:
        memcpy(out, x->data, (size_t)cnt * es);
        return 0;
    case OP_GATHER: {
        const Value *ix = n->inputs[1];
        int64_t axis = ir_attr_int(n, "axis", 0);
        if (axis < 0) axis += x->shape.rank;
        if (ix->dtype != DT_I64 && ix->dtype != DT_I32) return -1;
        int b;
        int64_t outer = shapes_product(&x->shape, 0, (int)axis, &b), len = x->shape.dims[axis];
        int64_t inner = shapes_product(&x->shape, (int)axis + 1, x->shape.rank, &b);
        int64_t ni = shape_numel(&ix->shape);
        int bad = gather_indices_check(n, d);
        if (bad) return bad;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t j = 0; j < ni; j++) {
                int64_t k = ix->dtype == DT_I64 ? ((const int64_t *)ix->data)[j]
                                                : ((const int32_t *)ix->data)[j];
                if (k < 0) k += len;
                memcpy((char *)out + (o * ni + j) * inner * (int64_t)es,
                       (const char *)x->data + (o * len + k) * inner * (int64_t)es,
                       (size_t)inner * es);
            }
        return 0;
    }
    case OP_CONCAT: {
        int64_t axis = ir_attr_int(n, "axis", 0);
        if (axis < 0) axis += y->shape.rank;
        int b;
        int64_t outer = shapes_product(&y->shape, 0, (int)axis, &b),
                ylen = shapes_product(&y->shape, (int)axis, y->shape.rank, &b);
        int64_t at = 0;
        for (int j = 0; j < n->n_inputs; j++) {
            const Value *v = n->inputs[j];
            if (!v) continue;
            int64_t len = shapes_product(&v->shape, (int)axis, v->shape.rank, &b);
            for (int64_t o = 0; o < outer; o++)
                memcpy((char *)out + (o * ylen + at) * (int64_t)es,
                       (const char *)v->data + o * len * (int64_t)es, (size_t)len * es);
            at += len;
        }
        return 0;
    }
    case OP_SLICE: {
        int64_t at[IR_MAX_RANK] = {0}, xs[IR_MAX_RANK];
        if (n->plan_kind != PLAN_SLICE) return -1;
        const int64_t *start = n->plan.slice->start, *step = n->plan.slice->step;
        for (int k = 0; k < x->shape.rank; k++)
            if (start[k] < 0) return -1; /* a Dim: where the slice starts is known at run time */
        int64_t acc = 1;                 /* x is a constant: its sizes are those of real data */
        for (int k = x->shape.rank - 1; k >= 0; k--) {
            xs[k] = acc;
            acc *= x->shape.dims[k];
        }
        for (int64_t i = 0; i < cnt; i++, index_next(&y->shape, at)) {
            int64_t off = 0;
            for (int k = 0; k < x->shape.rank; k++)
                off += (start[k] + at[k] * step[k]) * xs[k];
            memcpy((char *)out + i * (int64_t)es, (const char *)x->data + off * (int64_t)es, es);
        }
        return 0;
    }
    case OP_TRANSPOSE: { /* torch's F.pad builds its pads with one */
        int64_t at[IR_MAX_RANK] = {0}, xs[IR_MAX_RANK];
        if (n->plan_kind != PLAN_PERM) return -1;
        int64_t acc = 1;
        for (int k = x->shape.rank - 1; k >= 0; k--) {
            xs[k] = acc;
            acc *= x->shape.dims[k];
        }
        for (int64_t i = 0; i < cnt; i++, index_next(&y->shape, at)) {
            int64_t off = 0;
            for (int k = 0; k < y->shape.rank; k++)
                off += at[k] * xs[n->plan.perm[k]];
            memcpy((char *)out + i * (int64_t)es, (const char *)x->data + off * (int64_t)es, es);
        }
        return 0;
    }
    case OP_EXPAND: {
        int64_t at[IR_MAX_RANK] = {0};
        for (int64_t i = 0; i < cnt; i++, index_next(&y->shape, at))
            memcpy((char *)out + i * (int64_t)es,
                   (const char *)x->data + bcast_offset(&x->shape, &y->shape, at) * (int64_t)es,
                   es);
        return 0;
    }
    default:
        break;
    }
    /* Encoded dims have no value for the kernels: a Cast from int64 to
     * int64 (a copy) passes them on, arithmetic computes on Dims. */
    if (!passes_sentinel(n))
        for (int j = 0; j < n->n_inputs; j++)
            if (ir_value_has_dims(n->inputs[j])) return eval_dims(n, out);
    return eval_math(n, out, d);
}

int pass_fold_constants(Graph *g, Diag *d) {
    int before = diag_count(d), failed = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        Node *n = g->nodes[i];
        int ready = n->op != OP_UNKNOWN && n->n_outputs >= 1;
        for (int j = 0; j < n->n_inputs; j++)
            if (n->inputs[j] && n->inputs[j]->shape.rank < 0) ready = 0;
        if (!ready) continue;
        if (shapes_node(n, NULL)) {
            for (int j = 0; j < n->n_outputs; j++)
                if (n->outputs[j]) n->outputs[j]->shape.rank = -1;
            continue;
        }
        /* Constant indices into a run-time tensor: checked now, not at every run. */
        if (n->op == OP_GATHER && n->inputs[1]->data && gather_indices_check(n, d) > 0) {
            failed = 1;
            continue;
        }
        Value *y = n->outputs[0];
        if (n->n_outputs != 1 || y->output_index >= 0 || y->shape.rank < 0 ||
            fold_numel(&y->shape) < 0 || !dtype_size(y->dtype))
            continue;
        /* At most FOLD_MAX_ELEMS elements of at most 8 bytes: no overflow. */
        size_t bytes = (size_t)fold_numel(&y->shape) * dtype_size(y->dtype);
        void *buf = arena_alloc_aligned(g->arena, bytes + 1, 64);
        int rc = fold_node_eval(n, buf, d);
        if (rc > 0) failed = 1;
        if (rc) continue;
        y->data = buf;
        y->producer = NULL;
        n->dead = 1;
    }
    ir_graph_compact(g);
    return failed || diag_count(d) > before ? -1 : 0;
}
