/* shapes_reduce.c: shape functions of the reduce family (ops_reduce.def):
 * Reduce*, ArgMax/ArgMin, LayerNormalization, MeanVarianceNormalization,
 * LpNormalization, CumSum, TopK, the softmax family and the two losses.
 *
 * Every axis these ops take is normalised and range-checked here and left
 * on the node as a ReducePlan (ir.h), with the opset's defaults and
 * spelling resolved, so the emit functions (compiler/codegen/
 * emit_reduce.c) read the plan and never the attributes again. The
 * softmax family is the exception to the checking: an out-of-range axis
 * is recorded (axis -1) and reported by codegen.
 */
#include <string.h>

#include "shapes.h"

/* A fresh plan on n (each run of the shape function rewrites it). */
static ReducePlan *reduce_plan_new(Node *n) {
    ReducePlan *p = arena_alloc(n->graph->arena, sizeof *p);
    n->plan_kind = PLAN_REDUCE;
    n->plan.reduce = p;
    return p;
}

/* Element types a reduction accepts: numbers, not bool or string. */
static int reduce_dtype_ok(Node *n, const Value *x, int float_only, Diag *d) {
    DType t = x->dtype;
    int is_float = t == DT_F32 || t == DT_F64 || t == DT_F16;
    int is_int = t == DT_I8 || t == DT_I16 || t == DT_I32 || t == DT_I64 || t == DT_U8 ||
                 t == DT_U16 || t == DT_U32 || t == DT_U64;
    if (is_float || (!float_only && is_int)) return 0;
    diag_node(d, n, "input '%s' has element type %s; %s needs %s", x->name, dtype_onnx_name(t),
              n->op_type, float_only ? "float, double or float16" : "a numeric type");
    return -1;
}

/* The reduction axes of a Reduce* node as a bit mask over x's dims. The
 * axes come from the `axes` attribute, or (ReduceSum from opset 13) from a
 * constant second input; none means all dims, unless
 * noop_with_empty_axes is set, which makes the node an identity (mask 0). */
static int reduce_axes_mask(Node *n, int rank, Diag *d, unsigned *mask) {
    int64_t axes[IR_MAX_RANK + 1];
    int count = 0;
    if (n->op == OP_REDUCE_SUM && n->opset >= 13) {
        if (shapes_in(n, 1)) {
            count = shapes_const_ints(n, 1, axes, IR_MAX_RANK + 1, d);
            if (count < 0) return -1;
        }
    } else {
        if (shapes_in(n, 1)) {
            diag_node(d, n,
                      "axes as an input needs opset 13 (ReduceSum) or 18, this node is opset %d",
                      n->opset);
            return -1;
        }
        const Attr *a;
        if (shapes_attr(n, "axes", ATTR_INTS, &a, d)) return -1;
        if (a && a->n > IR_MAX_RANK) {
            diag_node(d, n, "'axes' has %d entries for a rank-%d input", a->n, rank);
            return -1;
        }
        for (int i = 0; a && i < a->n; i++)
            axes[count++] = a->ints[i];
    }
    *mask = 0;
    if (count == 0) {
        if (!ir_attr_int(n, "noop_with_empty_axes", 0)) *mask = rank ? (1u << rank) - 1 : 0;
        return 0;
    }
    for (int i = 0; i < count; i++) {
        int64_t ax;
        if (shapes_axis(n, axes[i], rank, d, &ax)) return -1;
        if (rank == 0) continue; /* axis 0 or -1 of a scalar: nothing to reduce */
        if (*mask >> ax & 1) {
            diag_node(d, n, "axis %lld is listed twice in 'axes'", (long long)axes[i]);
            return -1;
        }
        *mask |= 1u << ax;
    }
    return 0;
}

/* x's shape with the dims in mask removed, or set to 1 with keepdims. */
static Shape reduce_shape(const Shape *x, unsigned mask, int keepdims) {
    Shape s = {0, {0}};
    for (int i = 0; i < x->rank; i++) {
        if (!(mask >> i & 1))
            s.dims[s.rank++] = x->dims[i];
        else if (keepdims)
            s.dims[s.rank++] = 1;
    }
    return s;
}

/* -1 with a diagnostic if a reduced dim is empty: max/min of nothing has
 * no value, and kiln's kernels start from a slice's first element. */
static int reduce_nonempty(Node *n, const Value *x, unsigned mask, Diag *d) {
    for (int i = 0; i < x->shape.rank; i++)
        if ((mask >> i & 1) && x->shape.dims[i] == 0) {
            diag_node(d, n, "reduces dim %d of '%s', which is empty", i, x->name);
            return -1;
        }
    return 0;
}

int shape_reduce(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0);
    unsigned mask;
    if (reduce_dtype_ok(n, x, 0, d) || reduce_axes_mask(n, x->shape.rank, d, &mask) ||
        reduce_nonempty(n, x, mask, d))
        return -1;
    ReducePlan *p = reduce_plan_new(n);
    p->mask = mask;
    p->noop = mask == 0;
    p->keepdims = (int)ir_attr_int(n, "keepdims", 1);
    Shape s = reduce_shape(&x->shape, mask, p->keepdims);
    shapes_set(n, 0, x->dtype, &s);
    return 0;
}

int shape_arg_reduce(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0);
    int64_t axis;
    if (reduce_dtype_ok(n, x, 0, d) ||
        shapes_axis(n, ir_attr_int(n, "axis", 0), x->shape.rank, d, &axis))
        return -1;
    ReducePlan *p = reduce_plan_new(n);
    p->axis = (int)axis;
    p->keepdims = (int)ir_attr_int(n, "keepdims", 1);
    if (x->shape.rank == 0) {
        Shape s = {0, {0}};
        shapes_set(n, 0, DT_I64, &s);
        return 0;
    }
    if (reduce_nonempty(n, x, 1u << axis, d)) return -1;
    Shape s = reduce_shape(&x->shape, 1u << axis, p->keepdims);
    shapes_set(n, 0, DT_I64, &s);
    return 0;
}

/* -1 with a diagnostic unless v (Scale or B of LayerNormalization) holds
 * either one value or exactly the normalised dims x[axis:], leading 1s
 * aside: the kernel reads it densely or broadcasts one value. */
static int layer_norm_param_ok(Node *n, const Value *v, const Shape *x, int axis, Diag *d) {
    char b1[160], b2[160];
    Shape tail = {x->rank - axis, {0}};
    memcpy(tail.dims, x->dims + axis, sizeof(int64_t) * (size_t)tail.rank);
    int skip = 0;
    while (skip < v->shape.rank - tail.rank && v->shape.dims[skip] == 1)
        skip++;
    int dense = v->shape.rank - skip == tail.rank;
    for (int i = 0; dense && i < tail.rank; i++)
        dense = v->shape.dims[skip + i] == tail.dims[i];
    int batch;
    if (dense || shapes_product(&v->shape, 0, v->shape.rank, &batch) == 1) {
        if (v->dtype == shapes_in(n, 0)->dtype) return 0;
        diag_node(d, n, "'%s' is %s but X is %s", v->name, dtype_onnx_name(v->dtype),
                  dtype_onnx_name(shapes_in(n, 0)->dtype));
        return -1;
    }
    diag_node(d, n, "'%s' has shape %s; expected the normalised dims %s or a single value", v->name,
              shapes_str(&v->shape, b1), shapes_str(&tail, b2));
    return -1;
}

int shape_layer_norm(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0), *scale = shapes_in(n, 1), *bias = shapes_in(n, 2);
    int64_t axis;
    if (reduce_dtype_ok(n, x, 1, d) ||
        shapes_axis(n, ir_attr_int(n, "axis", -1), x->shape.rank, d, &axis))
        return -1;
    if (x->shape.rank == 0) {
        diag_node(d, n, "X '%s' is a scalar; LayerNormalization needs rank >= 1", x->name);
        return -1;
    }
    if (layer_norm_param_ok(n, scale, &x->shape, (int)axis, d) ||
        (bias && layer_norm_param_ok(n, bias, &x->shape, (int)axis, d)))
        return -1;
    /* Mean and InvStdDev: x's shape with the normalised dims set to 1, in
     * the stash type (float unless stash_type says otherwise). */
    reduce_plan_new(n)->axis = (int)axis;
    Shape st = x->shape;
    for (int i = (int)axis; i < st.rank; i++)
        st.dims[i] = 1;
    DType u = ir_attr_int(n, "stash_type", 1) == 1 ? DT_F32 : x->dtype;
    shapes_set(n, 0, x->dtype, &x->shape);
    shapes_set(n, 1, u, &st);
    shapes_set(n, 2, u, &st);
    return 0;
}

int shape_mvn(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0);
    const Attr *a;
    if (reduce_dtype_ok(n, x, 1, d) || shapes_attr(n, "axes", ATTR_INTS, &a, d)) return -1;
    unsigned mask = 0;
    int64_t dflt[] = {0, 2, 3};
    int count = a ? a->n : 3;
    if (!a && x->shape.rank != 4) {
        diag_node(d, n, "X '%s' has rank %d; the default axes [0,2,3] need rank 4", x->name,
                  x->shape.rank);
        diag_hint(d, "give the node an 'axes' attribute");
        return -1;
    }
    for (int i = 0; i < count; i++) {
        int64_t ax;
        if (shapes_axis(n, a ? a->ints[i] : dflt[i], x->shape.rank, d, &ax)) return -1;
        mask |= 1u << ax;
    }
    if (reduce_nonempty(n, x, mask, d)) return -1;
    reduce_plan_new(n)->mask = mask;
    shapes_set(n, 0, x->dtype, &x->shape);
    return 0;
}

int shape_lp_norm(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0);
    int64_t axis, p = ir_attr_int(n, "p", 2);
    if (reduce_dtype_ok(n, x, 1, d) ||
        shapes_axis(n, ir_attr_int(n, "axis", -1), x->shape.rank, d, &axis))
        return -1;
    if (p != 1 && p != 2) {
        diag_node(d, n, "p is %lld; LpNormalization supports p = 1 or 2", (long long)p);
        return -1;
    }
    if (x->shape.rank == 0) { /* no axis to normalise along */
        diag_node(d, n, "axis %lld is out of range for rank 0",
                  (long long)ir_attr_int(n, "axis", -1));
        return -1;
    }
    reduce_plan_new(n)->axis = (int)axis;
    shapes_set(n, 0, x->dtype, &x->shape);
    return 0;
}

int shape_cumsum(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0);
    int64_t axis[2], ax;
    if (reduce_dtype_ok(n, x, 0, d)) return -1;
    int count = shapes_const_ints(n, 1, axis, 2, d);
    if (count < 0) return -1;
    if (count != 1) {
        diag_node(d, n, "axis '%s' has %d values, expected one", shapes_in(n, 1)->name, count);
        return -1;
    }
    if (shapes_axis(n, axis[0], x->shape.rank, d, &ax)) return -1;
    reduce_plan_new(n)->axis = (int)ax;
    shapes_set(n, 0, x->dtype, &x->shape);
    return 0;
}

int shape_topk(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0);
    int64_t k, axis;
    if (reduce_dtype_ok(n, x, 0, d) ||
        shapes_axis(n, ir_attr_int(n, "axis", -1), x->shape.rank, d, &axis))
        return -1;
    Value *kv_in = shapes_in(n, 1);
    if (n->opset < 10) {
        k = ir_attr_int(n, "k", -1);
    } else if (kv_in && (!kv_in->data || ir_value_has_dims(kv_in))) {
        k = -1; /* read at run time (emit_topk), at most the axis's length */
    } else {
        int64_t kv[2];
        int count = shapes_const_ints(n, 1, kv, 2, d);
        if (count < 0) return -1;
        if (count != 1) {
            diag_node(d, n, "K '%s' has %d values, expected one", shapes_in(n, 1)->name, count);
            return -1;
        }
        k = kv[0];
    }
    int64_t len = x->shape.rank ? x->shape.dims[axis] : 1;
    if (len < 0) {
        diag_node(d, n, "TopK along a dynamic dimension is not supported yet");
        diag_hint(d, "pin the dim with --shape INPUT=DIMS or --dim NAME=SIZE");
        return -1;
    }
    Dim kd = k;
    if (k < 0 && n->opset >= 10) {
        int64_t c;
        if (kv_in->dtype != DT_I64 || !dim_value(shape_count(&kv_in->shape), &c) || c != 1) {
            char buf[160];
            diag_node(d, n, "K '%s' is %s%s, expected one int64", kv_in->name,
                      dtype_onnx_name(kv_in->dtype), shapes_str(&kv_in->shape, buf));
            return -1;
        }
        if ((kd = shapes_dyn_count(n, 0, x->shape.rank ? (int)axis : 0, "topk_k", len, d)) ==
            DIM_INVALID)
            return -1;
    } else if (k < 0 || k > len) {
        diag_node(d, n, "k is %lld but axis %lld has %lld elements", (long long)k, (long long)axis,
                  (long long)len);
        return -1;
    }
    ReducePlan *p = reduce_plan_new(n);
    p->axis = (int)axis;
    p->k = k;
    Shape s = x->shape;
    if (s.rank) s.dims[axis] = kd;
    shapes_set(n, 0, x->dtype, &s);
    shapes_set(n, 1, DT_I64, &s);
    return 0;
}

/* Softmax, LogSoftmax, Hardmax: the axis defaults to 1 before opset 13,
 * where the input is coerced to 2-D at it, and to -1 from 13 on, where
 * the op runs along that one axis. An axis out of range is left for
 * codegen to report (plan axis -1, asked holds what the node asked for). */
int shape_softmax(Node *n, Diag *d) {
    (void)d;
    Value *x = shapes_in(n, 0);
    int rank = x->shape.rank, legacy = n->opset && n->opset < 13;
    ReducePlan *p = reduce_plan_new(n);
    p->asked = ir_attr_int(n, "axis", legacy ? 1 : -1);
    int64_t axis = p->asked < 0 ? p->asked + rank : p->asked;
    p->axis = axis < 0 || axis >= rank ? -1 : (int)axis;
    p->flatten = legacy;
    shapes_set(n, 0, x->dtype, &x->shape);
    return 0;
}

/* NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss: input [N, C,
 * d1..dk], target [N, d1..dk] int64, weight [C]. */
int shape_nll_loss(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0), *t = shapes_in(n, 1), *w = shapes_in(n, 2);
    char b1[160], b2[160];
    if (reduce_dtype_ok(n, x, 1, d)) return -1;
    const char *red = ir_attr_str(n, "reduction", "mean");
    if (strcmp(red, "none") && strcmp(red, "sum") && strcmp(red, "mean")) {
        diag_node(d, n, "reduction '%s' is not one of none, sum, mean", red);
        return -1;
    }
    if (t->dtype != DT_I64) {
        diag_node(d, n, "target '%s' is %s; kiln supports int64 targets", t->name,
                  dtype_onnx_name(t->dtype));
        return -1;
    }
    const Shape *xs = &x->shape;
    int ok = xs->rank >= 2 && t->shape.rank == xs->rank - 1 && t->shape.dims[0] == xs->dims[0];
    for (int i = 2; ok && i < xs->rank; i++)
        ok = t->shape.dims[i - 1] == xs->dims[i];
    if (!ok) {
        diag_node(d, n, "input '%s' %s and target '%s' %s do not match as [N,C,d...] and [N,d...]",
                  x->name, shapes_str(xs, b1), t->name, shapes_str(&t->shape, b2));
        return -1;
    }
    if (xs->dims[1] < 0) {
        diag_node(d, n, "the class dimension of '%s' is dynamic; it must be fixed", x->name);
        return -1;
    }
    if (w && (w->shape.rank != 1 || w->shape.dims[0] != xs->dims[1] || w->dtype != x->dtype)) {
        diag_node(d, n, "weight '%s' is %s%s; expected %s[%lld]", w->name,
                  dtype_onnx_name(w->dtype), shapes_str(&w->shape, b1), dtype_onnx_name(x->dtype),
                  (long long)xs->dims[1]);
        return -1;
    }
    Shape loss = {0, {0}};
    if (strcmp(red, "none") == 0) loss = t->shape;
    shapes_set(n, 0, x->dtype, &loss);
    if (n->op == OP_SCE_LOSS) {
        shapes_set(n, 1, x->dtype, xs);
        /* Without a log_prob output, the log-softmax goes to scratch. */
        if (n->n_outputs < 2 || !n->outputs[1]) {
            n->scratch = dim_mul(shape_count(xs), (int64_t)dtype_size(x->dtype));
        }
    }
    return 0;
}
