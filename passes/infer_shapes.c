/* infer_shapes.c: dtype and shape of every value, op by op.
 *
 * Each shape function checks its node's operands and sets the outputs.
 * Symbolic dims (dim.h) flow through as expressions. Where an op needs
 * two sizes equal (broadcasting, a matrix product's inner dims, a
 * reshape's element count) and the bounds cannot prove it, the
 * requirement becomes a check the compiled model makes on every call
 * (ir_graph_add_dim_check); where they prove it false, it is an error.
 */
#include <assert.h>
#include <string.h>

#include "fold_constants.h"
#include "shapes.h"

typedef int (*ShapeFn)(Node *n, Diag *d);

const char *shapes_str(const Shape *s, char buf[160]) {
    return shape_str(s, buf, 160);
}

int shapes_attr(Node *n, const char *name, AttrKind kind, const Attr **out, Diag *d) {
    static const char *const kinds[] = {
        [ATTR_FLOAT] = "a float",   [ATTR_INT] = "an int",    [ATTR_STRING] = "a string",
        [ATTR_TENSOR] = "a tensor", [ATTR_FLOATS] = "floats", [ATTR_INTS] = "ints",
        [ATTR_STRINGS] = "strings",
    };
    const Attr *a = ir_attr(n, name);
    *out = NULL;
    if (!a) return 0;
    if (a->kind != kind) {
        diag_node(d, n, "attribute '%s' is %s, expected %s", name, kinds[a->kind], kinds[kind]);
        diag_hint(d, "the model is malformed; check it with onnx.checker.check_model");
        return -1;
    }
    *out = a;
    return 0;
}

Value *shapes_in(const Node *n, int i) {
    return i < n->n_inputs ? n->inputs[i] : NULL;
}

void shapes_set(Node *n, int i, DType t, const Shape *s) {
    if (i >= n->n_outputs || !n->outputs[i]) return;
    n->outputs[i]->dtype = t;
    n->outputs[i]->shape = *s;
}

/* Inputs that must have the same dtype (ONNX type constraint T). */
int shapes_same_dtype(Node *n, int a, int b, Diag *d) {
    if (shapes_in(n, a)->dtype == shapes_in(n, b)->dtype) return 0;
    diag_node(d, n, "inputs '%s' (%s) and '%s' (%s) must have the same element type",
              shapes_in(n, a)->name, dtype_onnx_name(shapes_in(n, a)->dtype), shapes_in(n, b)->name,
              dtype_onnx_name(shapes_in(n, b)->dtype));
    return -1;
}

static int const_ints(Node *n, int i, int64_t *out, int max, int allow_dims, Diag *d) {
    Value *v = shapes_in(n, i);
    if (!v || !v->data || (v->dtype != DT_I64 && v->dtype != DT_I32)) {
        diag_node(d, n, "input %d ('%s') must be a constant int64 tensor", i, v ? v->name : "");
        diag_hint(d, "kiln compiles shapes ahead of time; export this input as an initializer");
        return -1;
    }
    int64_t count = shape_numel(&v->shape);
    if (count > max) {
        diag_node(d, n, "input '%s' has %lld values, at most %d are supported", v->name,
                  (long long)count, max);
        return -1;
    }
    for (int64_t k = 0; k < count; k++)
        out[k] = v->dtype == DT_I64 ? ((const int64_t *)v->data)[k] : ((const int32_t *)v->data)[k];
    if (!allow_dims && ir_value_has_dims(v)) {
        diag_node(d, n, "input %d ('%s') is computed from a dynamic dim; %s needs it as a number",
                  i, v->name, n->op_type);
        diag_hint(d, "pin the dim with --shape INPUT=DIMS or --dim NAME=SIZE");
        return -1;
    }
    return (int)count;
}

int shapes_const_ints(Node *n, int i, int64_t *out, int max, Diag *d) {
    return const_ints(n, i, out, max, 0, d);
}

int shapes_const_ints_raw(Node *n, int i, int64_t *out, int max, Diag *d) {
    return const_ints(n, i, out, max, 1, d);
}

int shapes_const_dims(Node *n, int i, Dim *out, int max, Diag *d) {
    int r = const_ints(n, i, out, max, 1, d);
    for (int k = 0; k < r; k++) {
        Dim v = ir_dim_decode(out[k]);
        if (v == DIM_INVALID) {
            diag_node(d, n, "input '%s' holds %lld at position %d, not a size", n->inputs[i]->name,
                      (long long)out[k], k);
            return -1;
        }
        out[k] = v;
    }
    return r;
}

int shapes_axis(Node *n, int64_t axis, int rank, Diag *d, int64_t *out) {
    int64_t a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= (rank ? rank : 1)) {
        diag_node(d, n, "axis %lld is out of range for rank %d", (long long)axis, rank);
        return -1;
    }
    *out = a;
    return 0;
}

int shape_same(Node *n, Diag *d) {
    (void)d;
    shapes_set(n, 0, shapes_in(n, 0)->dtype, &shapes_in(n, 0)->shape);
    return 0;
}

int shapes_unify(Node *n, Dim a, Dim b, Dim *out, const char *what) {
    if (a == b) {
        *out = a;
        return 0;
    }
    int64_t va, vb;
    if (dim_value(a, &va) && dim_value(b, &vb)) return -1;
    if (!n) return -1;
    char ba[96];
    const char *text = arena_printf(n->graph->arena, "node '%s' (%s): %s (%s)", n->name, n->op_type,
                                    what, dim_str(a, ba, sizeof ba));
    if (ir_graph_add_dim_check(n->graph, DIMCHECK_EQUAL, a, b, text)) return -1;
    *out = b >= 0 ? b : a; /* a constant, else the first */
    return 0;
}

int shapes_dim_min(Node *n, Dim a, int64_t lo, const char *what) {
    char ba[96];
    const char *text = arena_printf(n->graph->arena, "node '%s' (%s): %s = %s", n->name, n->op_type,
                                    what, dim_str(a, ba, sizeof ba));
    return ir_graph_add_dim_check(n->graph, DIMCHECK_MIN, a, lo, text);
}

/* Numpy broadcasting of two shapes into out; -1 if incompatible. Two
 * symbolic dims, or one and a size other than 1, are taken to be equal,
 * which the model checks when it runs (n NULL: they are incompatible). */
int shapes_broadcast(Node *n, const Shape *a, const Shape *b, Shape *out) {
    int r = a->rank > b->rank ? a->rank : b->rank;
    out->rank = r;
    for (int i = 0; i < r; i++) {
        int ia = i - (r - a->rank), ib = i - (r - b->rank);
        Dim da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        char what[64];
        snprintf(what, sizeof what, "broadcast dim %d of its inputs", i);
        if (da == db || db == 1)
            out->dims[i] = da;
        else if (da == 1)
            out->dims[i] = db;
        else if (shapes_unify(n, da, db, &out->dims[i], what))
            return -1;
    }
    return 0;
}

int shape_broadcast(Node *n, Diag *d) {
    if (ir_attr(n, "axis") && ir_attr_int(n, "broadcast", 0)) {
        diag_node(d, n, "legacy broadcast with 'axis' (opset < 7) is not supported");
        diag_hint(d, "re-export the model with opset >= 7");
        return -1;
    }
    if (shapes_same_dtype(n, 0, 1, d)) return -1;
    Shape s;
    if (shapes_broadcast(n, &shapes_in(n, 0)->shape, &shapes_in(n, 1)->shape, &s)) {
        char b1[160], b2[160];
        diag_node(d, n, "shapes %s of '%s' and %s of '%s' do not broadcast",
                  shapes_str(&shapes_in(n, 0)->shape, b1), shapes_in(n, 0)->name,
                  shapes_str(&shapes_in(n, 1)->shape, b2), shapes_in(n, 1)->name);
        return -1;
    }
    shapes_set(n, 0, shapes_in(n, 0)->dtype, &s);
    return 0;
}

static int bad_flag(Node *n, const char *attr, int64_t v, Diag *d) {
    diag_node(d, n, "attribute '%s' is %lld, it must be 0 or 1", attr, (long long)v);
    diag_hint(d, "the model is malformed; check it with onnx.checker.check_model");
    return -1;
}

int shape_gemm(Node *n, Diag *d) {
    Value *a = shapes_in(n, 0), *b = shapes_in(n, 1), *c = shapes_in(n, 2);
    char b1[160], b2[160];
    if (a->shape.rank != 2 || b->shape.rank != 2) {
        diag_node(d, n, "A '%s' has shape %s and B '%s' has shape %s, both must be 2-D", a->name,
                  shapes_str(&a->shape, b1), b->name, shapes_str(&b->shape, b2));
        diag_hint(d, "Gemm multiplies matrices; use MatMul for batched products");
        return -1;
    }
    if (shapes_same_dtype(n, 0, 1, d)) return -1;
    /* transA/transB index dims below: anything but 0 or 1 is refused. */
    int64_t ta64 = ir_attr_int(n, "transA", 0), tb64 = ir_attr_int(n, "transB", 0);
    if (ta64 != 0 && ta64 != 1) return bad_flag(n, "transA", ta64, d);
    if (tb64 != 0 && tb64 != 1) return bad_flag(n, "transB", tb64, d);
    int ta = (int)ta64, tb = (int)tb64;
    Dim m = a->shape.dims[ta], k = a->shape.dims[!ta];
    Dim kb = b->shape.dims[tb], nn = b->shape.dims[!tb];
    if (shapes_unify(n, k, kb, &k, "the inner dimension of A and B")) {
        diag_node(d, n, "inner dimensions differ: A '%s' %s%s and B '%s' %s%s", a->name,
                  shapes_str(&a->shape, b1), ta ? " (transposed)" : "", b->name,
                  shapes_str(&b->shape, b2), tb ? " (transposed)" : "");
        return -1;
    }
    Shape s = {2, {m, nn}};
    if (c) {
        Shape t;
        if (c->shape.rank > 2 || shapes_broadcast(n, &s, &c->shape, &t) || !shape_equal(&s, &t)) {
            diag_node(d, n, "C '%s' of shape %s does not broadcast to the output %s", c->name,
                      shapes_str(&c->shape, b1), shapes_str(&s, b2));
            return -1;
        }
        if (shapes_same_dtype(n, 0, 2, d)) return -1;
    }
    shapes_set(n, 0, a->dtype, &s);
    return 0;
}

/* The output shape of the matrix product of inputs ia and ib (numpy's
 * matmul, both of rank >= 1), into *out; *M and *N its matrix dims. A 1-D
 * A is a row [1,K], a 1-D B a column [K,1]; the added dims are dropped
 * from the result. MatMul and the quantised products share it. */
int shapes_matmul(Node *n, int ia, int ib, Shape *out, Dim *M, Dim *N, Diag *d) {
    Value *a = shapes_in(n, ia), *b = shapes_in(n, ib);
    char b1[160], b2[160];
    if (a->shape.rank < 1 || b->shape.rank < 1) {
        diag_node(d, n, "operands must have rank >= 1");
        return -1;
    }
    Shape sa = a->shape, sb = b->shape;
    if (sa.rank == 1) sa = (Shape){2, {1, a->shape.dims[0]}};
    if (sb.rank == 1) sb = (Shape){2, {b->shape.dims[0], 1}};
    Dim k = sa.dims[sa.rank - 1];
    if (shapes_unify(n, k, sb.dims[sb.rank - 2], &k, "the inner dimension of its inputs")) {
        diag_node(d, n, "inner dimensions differ: '%s' %s and '%s' %s", a->name,
                  shapes_str(&a->shape, b1), b->name, shapes_str(&b->shape, b2));
        return -1;
    }
    Shape ba = {sa.rank - 2, {0}}, bb = {sb.rank - 2, {0}};
    memcpy(ba.dims, sa.dims, sizeof(Dim) * (size_t)ba.rank);
    memcpy(bb.dims, sb.dims, sizeof(Dim) * (size_t)bb.rank);
    if (shapes_broadcast(n, &ba, &bb, out)) {
        diag_node(d, n, "batch dimensions of '%s' %s and '%s' %s do not broadcast", a->name,
                  shapes_str(&a->shape, b1), b->name, shapes_str(&b->shape, b2));
        return -1;
    }
    *M = sa.dims[sa.rank - 2];
    *N = sb.dims[sb.rank - 1];
    if (a->shape.rank > 1) out->dims[out->rank++] = *M;
    if (b->shape.rank > 1) out->dims[out->rank++] = *N;
    return 0;
}

int shape_matmul(Node *n, Diag *d) {
    if (shapes_same_dtype(n, 0, 1, d)) return -1;
    Shape s;
    Dim M, N;
    if (shapes_matmul(n, 0, 1, &s, &M, &N, d)) return -1;
    shapes_set(n, 0, shapes_in(n, 0)->dtype, &s);
    return 0;
}

/* Product of the constant dims [from, to); *batch counts the symbolic ones. */
int64_t shapes_product(const Shape *s, int from, int to, int *batch) {
    int64_t p = 1;
    *batch = 0;
    for (int i = from; i < to; i++) {
        if (s->dims[i] < 0)
            (*batch)++;
        else
            p *= s->dims[i];
    }
    return p;
}

int shapes_batch_unrepresentable(Node *n, Diag *d, const char *what) {
    diag_node(d, n, "%s on a dynamic dimension is not supported yet", what);
    diag_hint(d, "pin the dim with --shape INPUT=DIMS or --dim NAME=SIZE, or export it static");
    return -1;
}

int shape_flatten(Node *n, Diag *d) {
    const Shape *x = &shapes_in(n, 0)->shape;
    int64_t axis = ir_attr_int(n, "axis", 1);
    if (axis < 0) axis += x->rank;
    if (axis < 0 || axis > x->rank) {
        diag_node(d, n, "axis %lld is out of range for rank %d",
                  (long long)ir_attr_int(n, "axis", 1), x->rank);
        return -1;
    }
    Shape s = {2, {shape_prod(x, 0, (int)axis), shape_prod(x, (int)axis, x->rank)}};
    shapes_set(n, 0, shapes_in(n, 0)->dtype, &s);
    return 0;
}

int shape_reshape(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0), *t = shapes_in(n, 1);
    char b1[160], b2[160];
    if (!t || !t->data || t->dtype != DT_I64 || t->shape.rank != 1) {
        diag_node(d, n, "the target shape '%s' must be a constant 1-D int64 tensor",
                  t ? t->name : "shape");
        diag_hint(d, "kiln folds shapes computed from constants and input shapes; a shape that "
                     "depends on the data is not supported");
        return -1;
    }
    const int64_t *want = t->data;
    int r = (int)t->shape.dims[0];
    if (r > IR_MAX_RANK) {
        diag_node(d, n, "target rank %d exceeds kiln's limit of %d", r, IR_MAX_RANK);
        return -1;
    }
    int allowzero = (int)ir_attr_int(n, "allowzero", 0);
    Shape s = {r, {0}};
    int infer = -1;
    Dim known = 1, total = shape_count(&x->shape);
    for (int i = 0; i < r; i++) {
        Dim v = ir_dim_decode(want[i]);
        if (want[i] == 0 && !allowzero) {
            if (i >= x->shape.rank) {
                diag_node(d, n, "target dim %d is 0 (copy) but the input %s has no dim %d", i,
                          shapes_str(&x->shape, b1), i);
                return -1;
            }
            v = x->shape.dims[i];
        }
        if (want[i] == -1) {
            if (infer >= 0) {
                diag_node(d, n, "target shape has more than one -1");
                return -1;
            }
            infer = i;
            continue;
        }
        if (v == DIM_INVALID || (v >= 0 && v > KILN_MAX_DIM) ||
            (v < 0 && !ir_dim_in_data(want[i]) && !(want[i] == 0 && !allowzero))) {
            diag_node(d, n, "target dim %d is %lld%s", i, (long long)want[i],
                      want[i] < 0 ? "" : ", above kiln's limit for one dim");
            return -1;
        }
        known = dim_mul(known, v);
        if (known == DIM_INVALID) {
            diag_node(d, n, "the target shape has more elements than fit in 64 bits");
            return -1;
        }
        s.dims[i] = v;
    }
    if (infer >= 0) {
        Dim q = dim_exact_div(total, known);
        int64_t kc;
        if (q == DIM_INVALID && !(dim_value(known, &kc) && kc == 0)) {
            /* Not provably exact: floor division, checked at run time. */
            q = dim_floordiv(total, known);
            if (q != DIM_INVALID &&
                shapes_unify(n, dim_mul(q, known), total, &(Dim){0}, "the elements of the target"))
                q = DIM_INVALID;
        }
        if (q == DIM_INVALID) {
            diag_node(d, n, "cannot reshape %s into the target shape %s", shapes_str(&x->shape, b1),
                      shapes_str(&s, b2));
            return -1;
        }
        s.dims[infer] = q;
        known = total;
    }
    if (shapes_unify(n, known, total, &(Dim){0}, "the elements of the target")) {
        diag_node(d, n, "cannot reshape %s (%s elements) into %s", shapes_str(&x->shape, b1),
                  dim_str(total, (char[96]){0}, 96), shapes_str(&s, b2));
        return -1;
    }
    shapes_set(n, 0, x->dtype, &s);
    return 0;
}

int shape_dropout(Node *n, Diag *d) {
    /* Inference: output = input; the mask (if asked for) is all ones. */
    Value *tm = shapes_in(n, 2);
    if (tm && tm->data && *(const unsigned char *)tm->data) {
        diag_node(d, n, "training_mode is true; kiln compiles models for inference");
        diag_hint(d, "export the model with model.eval()");
        return -1;
    }
    if (tm && !tm->data) {
        diag_node(d, n, "training_mode '%s' must be a constant", tm->name);
        return -1;
    }
    shapes_set(n, 0, shapes_in(n, 0)->dtype, &shapes_in(n, 0)->shape);
    shapes_set(n, 1, DT_BOOL, &shapes_in(n, 0)->shape);
    return 0;
}

int shape_constant(Node *n, Diag *d) {
    /* The importer turns Constant nodes into initializers. */
    diag_node(d, n, "Constant node was not folded at import");
    return -1;
}

static const ShapeFn shape_fns[OP_COUNT] = {
#define OP(e, name, since, imin, imax, omin, omax, st, flags, shape, flops, emit, kernel)          \
    [OP_##e] = shape,
#include "ops.def"
#undef OP
};

/* A graph output's declared type (from the model) against the inferred one:
 * element types and ranks must agree, and so must every dimension both
 * know as a number. A declared batch dim (N) may be inferred as a number
 * and the reverse: exporters disagree on it, and the service checks real
 * request shapes anyway. */
static int check_declared(const Graph *g, const Value *v, Diag *d) {
    DType t = v->decl_dtype;
    const Shape *s = &v->decl_shape;
    char b1[160], b2[160];
    int ok = (t == DT_UNDEF || t == v->dtype) && (s->rank < 0 || s->rank == v->shape.rank);
    for (int i = 0; ok && s->rank > 0 && i < s->rank; i++)
        if (s->dims[i] >= 0 && v->shape.dims[i] >= 0 && s->dims[i] != v->shape.dims[i]) ok = 0;
    if (ok) return 0;
    diag_file(d, g->source_path, "graph output '%s' is declared %s%s but computes as %s%s", v->name,
              dtype_onnx_name(t), s->rank < 0 ? "" : shapes_str(s, b1), dtype_onnx_name(v->dtype),
              shapes_str(&v->shape, b2));
    diag_hint(d, "the model's declared output type disagrees with its graph; re-export it");
    return -1;
}

/* Every output a shape function sets must be within model_limits.h: dims
 * in [0, KILN_MAX_DIM] (or the batch) and at most KILN_MAX_TENSOR_BYTES
 * per batch item. Checking here, for every node, is what lets later
 * stages (folding, the memory plan, codegen's strides and sizes) multiply
 * dims without overflow checks of their own. */
int shapes_check_outputs(Node *n, Diag *d) {
    for (int i = 0; i < n->n_outputs; i++) {
        const Value *v = n->outputs[i];
        int64_t bytes;
        if (!v || v->shape.rank < 0 || shape_bytes_check(&v->shape, v->dtype, &bytes) == 0)
            continue;
        char b1[160];
        diag_node(d, n,
                  "output '%s' would be %s%s, outside kiln's limits (dims from 0 to %lld, at most "
                  "%lld bytes per batch item)",
                  v->name, dtype_onnx_name(v->dtype), shapes_str(&v->shape, b1),
                  (long long)KILN_MAX_DIM, (long long)KILN_MAX_TENSOR_BYTES);
        diag_hint(d, "check the node's shape inputs and attributes; the model is corrupt or "
                     "too large to compile");
        return -1;
    }
    return 0;
}

int shapes_node(Node *n, Diag *d) {
    if (shape_fns[n->op](n, d)) return -1;
    return shapes_check_outputs(n, d);
}

int pass_infer_shapes(Graph *g, Diag *d) {
    int bad = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        Node *n = g->nodes[i];
        int ready = n->op != OP_UNKNOWN;
        for (int j = 0; j < n->n_inputs; j++)
            if (n->inputs[j] && n->inputs[j]->shape.rank < 0) ready = 0;
        if (!ready) continue; /* an earlier error left an input unknown */
        if (shapes_node(n, d)) {
            bad = 1;
            continue;
        }
        for (int j = 0; j < n->n_outputs; j++) /* a shape function sets every output */
            assert(!n->outputs[j] || n->outputs[j]->shape.rank >= 0);
    }
    for (int i = 0; !bad && i < g->n_outputs; i++)
        if (g->outputs[i]->producer && g->outputs[i]->shape.rank >= 0 &&
            check_declared(g, g->outputs[i], d))
            bad = 1;
    return bad ? -1 : 0;
}
