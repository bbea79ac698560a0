/* shapes_dyn.c: shape functions of the ops whose output size depends on
 * the data (compiler/ir/ops_dyn.def) and of TopK's run-time k.
 *
 * Design: such a size is a data-dependent symbol (compiler/ir/dim.h) with
 * an upper bound that shape inference knows: NonZero of a tensor with n
 * elements finds at most n, Unique along an axis at most the axis's
 * length, NonMaxSuppression at most batches * classes * min(boxes,
 * max_output_boxes_per_class). Downstream of it everything is an ordinary
 * symbolic shape: pass_plan_memory places each tensor at its size at the
 * bound (dim_at_bound), the model's shapes() reports the bound (the run's
 * syms array holds it until the kernel runs), and the kernel writes the
 * actual size into that array (emit_dyn.c), so the nodes after it and the
 * out_shapes that run() writes see the actual size: the service answers
 * with it. Such a symbol belongs to no graph input, so it is not in the
 * model's KilnModel.syms; an output that has one shows it by name and
 * bound in `kiln inspect` and as -1 in the v2 metadata.
 *
 * A symbol is made once per node output: shape inference may run a node
 * again, and then reuses the symbol its output has (same bound).
 */
#include <string.h>

#include "kiln_model.h"
#include "shapes.h"

/* The data-dependent symbol of dim k of output `out`, bounded by bound:
 * the one it has already if any, else a new one named after base.
 * DIM_INVALID with a diagnostic if the bound is not a size. */
static Dim data_sym(Node *n, int out, int k, const char *base, Dim bound, Diag *d) {
    Value *v = out < n->n_outputs ? n->outputs[out] : NULL;
    if (v && v->shape.rank > k) {
        int s = dim_sym_of(v->shape.dims[k]);
        if (s >= 0 && dim_sym_data_bound(s) == bound) return v->shape.dims[k];
    }
    Dim x = dim_sym_data(base, bound);
    if (x == DIM_INVALID) {
        char buf[96];
        diag_node(d, n, "cannot size the output by the data: its bound %s is not a size",
                  dim_str(bound, buf, sizeof buf));
        diag_hint(d, "give the input dims smaller bounds with --shape or --dim");
    }
    return x;
}

int shape_nonzero(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0);
    if (x->shape.rank == 0) {
        diag_node(d, n, "input '%s' is a scalar; NonZero needs a tensor of rank >= 1", x->name);
        diag_hint(d, "Unsqueeze the input to shape [1] first");
        return -1;
    }
    Dim c = data_sym(n, 0, 1, "nonzero", shape_count(&x->shape), d);
    if (c == DIM_INVALID) return -1;
    Shape s = {.rank = 2, .dims = {x->shape.rank, c}};
    shapes_set(n, 0, DT_I64, &s);
    return 0;
}

/* axis attribute `name` of n normalised against rank into *axis; 0 if
 * absent (*axis -1). */
static int opt_axis(Node *n, int rank, int64_t *axis, Diag *d) {
    *axis = -1;
    if (!ir_attr(n, "axis")) return 0;
    return shapes_axis(n, ir_attr_int(n, "axis", 0), rank, d, axis);
}

int shape_compress(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0), *c = shapes_in(n, 1);
    int64_t axis;
    if (c->dtype != DT_BOOL || c->shape.rank != 1) {
        char buf[160];
        diag_node(d, n, "condition '%s' is %s%s; Compress needs a 1-D bool tensor", c->name,
                  dtype_onnx_name(c->dtype), shapes_str(&c->shape, buf));
        return -1;
    }
    if (opt_axis(n, x->shape.rank, &axis, d)) return -1;
    Shape s = {.rank = 1};
    Dim len = axis < 0 ? shape_count(&x->shape) : x->shape.dims[axis];
    if (axis >= 0) s = x->shape;
    Dim k = data_sym(n, 0, axis < 0 ? 0 : (int)axis, "compress", dim_min(len, c->shape.dims[0]), d);
    if (k == DIM_INVALID) return -1;
    s.dims[axis < 0 ? 0 : axis] = k;
    shapes_set(n, 0, x->dtype, &s);
    return 0;
}

int shape_unique(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0);
    int64_t axis;
    if (opt_axis(n, x->shape.rank, &axis, d)) return -1;
    Dim len = axis < 0 ? shape_count(&x->shape) : x->shape.dims[axis];
    Dim k = data_sym(n, 0, axis < 0 ? 0 : (int)axis, "unique", len, d);
    if (k == DIM_INVALID) return -1;
    Shape y = {.rank = 1, .dims = {k}}, one = {.rank = 1, .dims = {k}};
    Shape inv = {.rank = 1, .dims = {len}};
    if (axis >= 0) {
        y = x->shape;
        y.dims[axis] = k;
    }
    shapes_set(n, 0, x->dtype, &y);
    shapes_set(n, 1, DT_I64, &one);
    shapes_set(n, 2, DT_I64, &inv);
    shapes_set(n, 3, DT_I64, &one);
    n->scratch = dim_mul(len, 7 * (int64_t)sizeof(int64_t));
    return 0;
}

/* Optional scalar input i (a tensor of one element) of type t. */
static int scalar_in(Node *n, int i, DType t, Diag *d) {
    Value *v = shapes_in(n, i);
    if (!v) return 0;
    int64_t c;
    if (v->dtype != t || !dim_value(shape_count(&v->shape), &c) || c != 1) {
        char buf[160];
        diag_node(d, n, "input %d ('%s') is %s%s; NonMaxSuppression needs one %s", i, v->name,
                  dtype_onnx_name(v->dtype), shapes_str(&v->shape, buf), dtype_onnx_name(t));
        return -1;
    }
    return 0;
}

int shape_nms(Node *n, Diag *d) {
    Value *b = shapes_in(n, 0), *s = shapes_in(n, 1);
    char b1[160], b2[160];
    if (b->dtype != DT_F32 || s->dtype != DT_F32 || b->shape.rank != 3 || s->shape.rank != 3 ||
        b->shape.dims[2] != 4) {
        diag_node(d, n,
                  "boxes '%s' %s%s and scores '%s' %s%s must be float [batches, boxes, 4] and "
                  "[batches, classes, boxes]",
                  b->name, dtype_onnx_name(b->dtype), shapes_str(&b->shape, b1), s->name,
                  dtype_onnx_name(s->dtype), shapes_str(&s->shape, b2));
        return -1;
    }
    Dim batches, boxes;
    if (shapes_unify(n, b->shape.dims[0], s->shape.dims[0], &batches,
                     "the batches of boxes and "
                     "scores") ||
        shapes_unify(n, b->shape.dims[1], s->shape.dims[2], &boxes,
                     "the boxes of boxes and scores")) {
        diag_node(d, n, "boxes '%s' %s and scores '%s' %s disagree on batches or boxes", b->name,
                  shapes_str(&b->shape, b1), s->name, shapes_str(&s->shape, b2));
        return -1;
    }
    if (scalar_in(n, 2, DT_I64, d) || scalar_in(n, 3, DT_F32, d) || scalar_in(n, 4, DT_F32, d))
        return -1;
    int64_t center = ir_attr_int(n, "center_point_box", 0);
    if (center != 0 && center != 1) {
        diag_node(d, n, "center_point_box is %lld; ONNX allows 0 or 1", (long long)center);
        return -1;
    }
    /* A constant max_output_boxes_per_class tightens the bound. */
    Dim per_class = boxes;
    Value *m = shapes_in(n, 2);
    if (m && m->data && !ir_value_has_dims(m)) {
        int64_t v = ((const int64_t *)m->data)[0];
        per_class = dim_min(boxes, v < 0 ? 0 : v);
    }
    Dim bound = dim_mul(dim_mul(batches, s->shape.dims[1]), per_class);
    Dim k = data_sym(n, 0, 0, "nms", bound, d);
    if (k == DIM_INVALID) return -1;
    Shape o = {.rank = 2, .dims = {k, 3}};
    shapes_set(n, 0, DT_I64, &o);
    n->scratch = dim_mul(boxes, 3 * (int64_t)sizeof(int64_t));
    return 0;
}

Dim shapes_dyn_count(Node *n, int out, int k, const char *base, Dim bound, Diag *d) {
    return data_sym(n, out, k, base, bound, d);
}

/* StringNormalizer: x [C] or [1, C] of strings -> y of the same rank. With
 * stopwords the last dim is a data-dependent symbol bounded by max(C, 1)
 * (a row of stopwords only gives one empty string). A case change needs
 * KILN_STRING_CASE_BYTES of scratch per string, which lives for the whole
 * run (OPF_SCRATCH_KEEP: the output points into it). Case maps ASCII
 * letters only, so the locale must be "", "C" or English. */
int shape_string_normalizer(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0);
    char buf[160];
    if (x->dtype != DT_STRING) {
        diag_node(d, n, "input '%s' has element type %s; StringNormalizer takes strings", x->name,
                  dtype_onnx_name(x->dtype));
        return -1;
    }
    if (x->shape.rank != 1 && !(x->shape.rank == 2 && x->shape.dims[0] == 1)) {
        diag_node(d, n, "input '%s' has shape %s; StringNormalizer takes [C] or [1, C]", x->name,
                  shapes_str(&x->shape, buf));
        return -1;
    }
    const Attr *action, *stop, *locale;
    if (shapes_attr(n, "case_change_action", ATTR_STRING, &action, d) ||
        shapes_attr(n, "stopwords", ATTR_STRINGS, &stop, d) ||
        shapes_attr(n, "locale", ATTR_STRING, &locale, d))
        return -1;
    const char *act = ir_attr_str(n, "case_change_action", "NONE");
    if (strcmp(act, "NONE") != 0 && strcmp(act, "LOWER") != 0 && strcmp(act, "UPPER") != 0) {
        diag_node(d, n, "case_change_action is \"%s\"; expected LOWER, UPPER or NONE", act);
        return -1;
    }
    const char *loc = ir_attr_str(n, "locale", "");
    if (loc[0] && strcmp(loc, "C") != 0 && strcmp(loc, "POSIX") != 0 &&
        strncmp(loc, "en", 2) != 0) {
        diag_node(d, n,
                  "locale \"%s\" is not supported: kiln changes the case of ASCII letters "
                  "only",
                  loc);
        diag_hint(d, "use locale \"\" or \"en_US\" (other letters are left as they are)");
        return -1;
    }
    Shape s = x->shape;
    int last = s.rank - 1;
    if (stop && stop->n > 0) {
        Dim c = data_sym(n, 0, last, "strnorm", dim_max(x->shape.dims[last], 1), d);
        if (c == DIM_INVALID) return -1;
        s.dims[last] = c;
    }
    n->scratch =
        strcmp(act, "NONE") == 0 ? 0 : dim_mul(x->shape.dims[last], KILN_STRING_CASE_BYTES);
    shapes_set(n, 0, DT_STRING, &s);
    return 0;
}
