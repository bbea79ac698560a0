/* shapes_misc.c: shape functions of the ops of compiler/ir/ops_misc.def
 * (Einsum, OneHot, Det, ReverseSequence, MaxUnpool, Bernoulli; Scatter
 * shares ScatterElements' in shapes_shape.c).
 *
 * Einsum's equation is parsed by compiler/ir/einsum.c, which codegen
 * calls too. An operand axis of size 1 broadcasts against its label's
 * size (numpy's rule); other axes with one label must agree.
 */
#include <string.h>

#include "einsum.h"
#include "shapes.h"

/* Einsum's most label combinations (its kernel's iterations): minutes of
 * work at most. */
#define MISC_MAX_EINSUM_WORK (INT64_C(1) << 40)

static int m_numeric(Node *n, int i, Diag *d) {
    Value *v = shapes_in(n, i);
    if (dtype_size(v->dtype) && v->dtype != DT_BOOL && v->dtype != DT_BF16) return 0;
    diag_node(d, n, "input '%s' is %s; this op takes a numeric tensor", v->name,
              dtype_onnx_name(v->dtype));
    return -1;
}

static int m_float(Node *n, int i, Diag *d) {
    Value *v = shapes_in(n, i);
    if (v->dtype == DT_F32 || v->dtype == DT_F64) return 0;
    diag_node(d, n, "input '%s' is %s; kiln supports float and double here", v->name,
              dtype_onnx_name(v->dtype));
    return -1;
}

int shape_einsum(Node *n, Diag *d) {
    const char *eq = ir_attr_str(n, "equation", NULL);
    EinsumSpec sp;
    int ranks[EINSUM_MAX_OPS];
    char err[160];
    if (!eq) {
        diag_node(d, n, "attribute 'equation' is required");
        return -1;
    }
    for (int i = 0; i < n->n_inputs && i < EINSUM_MAX_OPS; i++) {
        if (!shapes_in(n, i)) {
            diag_node(d, n, "input %d is omitted; every Einsum input is required", i);
            return -1;
        }
        if (m_numeric(n, i, d) || (i && shapes_same_dtype(n, 0, i, d))) return -1;
        ranks[i] = shapes_in(n, i)->shape.rank;
    }
    if (einsum_parse(eq, n->n_inputs, ranks, &sp, err)) {
        diag_node(d, n, "equation '%s': %s", eq, err);
        diag_hint(d, "Einsum terms are letters and '...', one per input, as in 'bij,bjk->bik'");
        return -1;
    }
    Dim size[EINSUM_MAX_LABELS];
    int known[EINSUM_MAX_LABELS] = {0};
    for (int i = 0; i < sp.n_ops; i++) {
        const Shape *s = &shapes_in(n, i)->shape;
        for (int k = 0; k < s->rank; k++) {
            int l = sp.label[i][k];
            Dim v = s->dims[k];
            if (v == 1) continue; /* broadcasts (or is the label's size: set below) */
            if (!known[l]) {
                size[l] = v, known[l] = 1;
                continue;
            }
            if (shapes_unify(n, size[l], v, &size[l], "the sizes of one Einsum label")) {
                diag_node(d, n,
                          "equation '%s': input %d axis %d has size %lld where the same "
                          "label has size %lld elsewhere",
                          eq, i, k, (long long)v, (long long)size[l]);
                return -1;
            }
        }
    }
    /* The kernel visits every combination of the labels once: bound that
     * work at the sizes' upper bounds, so that a crafted equation cannot
     * make a model that runs for days. */
    double work = 1;
    for (int l = 0; l < sp.n_labels; l++) {
        int64_t lo, hi = 1;
        if (known[l] && dim_bounds(size[l], &lo, &hi)) hi = KILN_MAX_DIM;
        work *= (double)hi;
    }
    if (work > (double)MISC_MAX_EINSUM_WORK) {
        diag_node(d, n,
                  "equation '%s' over these shapes takes %.3g multiply-adds, above kiln's "
                  "limit of %.3g",
                  eq, work, (double)MISC_MAX_EINSUM_WORK);
        diag_hint(d, "split the contraction into MatMul nodes, or bound the dynamic dims");
        return -1;
    }
    Shape o = {sp.rank[sp.n_ops], {0}};
    for (int k = 0; k < o.rank; k++) {
        int l = sp.label[sp.n_ops][k];
        o.dims[k] = known[l] ? size[l] : 1;
    }
    shapes_set(n, 0, shapes_in(n, 0)->dtype, &o);
    /* A float product of two (emit_einsum's fast path) may copy its
     * second operand row-major into scratch: room for all of it. */
    if (sp.n_ops == 2 && shapes_in(n, 0)->dtype == DT_F32) {
        const Shape *sb = &shapes_in(n, 1)->shape;
        Dim bytes = (Dim)sizeof(float);
        for (int k = 0; k < sb->rank; k++)
            bytes = dim_mul(bytes, sb->dims[k]);
        int64_t lo, hi;
        if (bytes == DIM_INVALID || dim_bounds(bytes, &lo, &hi) || hi > KILN_MAX_DYN_BYTES) {
            diag_node(d, n, "input '%s' is larger than kiln's limit of %lld bytes",
                      shapes_in(n, 1)->name, (long long)KILN_MAX_DYN_BYTES);
            return -1;
        }
        n->scratch = bytes;
    }
    return 0;
}

/* The one value of constant input i as a double; -1 with a diagnostic if
 * it is not a constant of one element. */
static int m_const_scalar(Node *n, int i, double *out, Diag *d) {
    Value *v = shapes_in(n, i);
    if (!v->data || shape_numel(&v->shape) != 1 || v->shape.rank > 1) {
        diag_node(d, n, "input '%s' must be a constant of one element", v->name);
        diag_hint(d, "kiln compiles every shape ahead of time: make it an initializer");
        return -1;
    }
    switch (v->dtype) {
    case DT_F32:
        *out = *(const float *)v->data;
        return 0;
    case DT_F64:
        *out = *(const double *)v->data;
        return 0;
    case DT_I64:
        *out = (double)*(const int64_t *)v->data;
        return 0;
    case DT_I32:
        *out = *(const int32_t *)v->data;
        return 0;
    case DT_U8:
        *out = *(const uint8_t *)v->data;
        return 0;
    case DT_I8:
        *out = *(const int8_t *)v->data;
        return 0;
    default:
        diag_node(d, n, "input '%s' is %s; kiln supports float, double and integer depths", v->name,
                  dtype_onnx_name(v->dtype));
        return -1;
    }
}

int shape_one_hot(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0), *vals = shapes_in(n, 2);
    double depth;
    int64_t axis;
    char b[160];
    if (m_numeric(n, 0, d) || m_const_scalar(n, 1, &depth, d)) return -1;
    if (!(depth >= 1 && depth <= (double)KILN_MAX_DIM)) {
        diag_node(d, n, "depth %g is not in 1..%lld", depth, (long long)KILN_MAX_DIM);
        return -1;
    }
    if (vals->shape.rank != 1 || vals->shape.dims[0] != 2 || !dtype_size(vals->dtype)) {
        diag_node(d, n, "values '%s' has shape %s; expected [2] (off, on)", vals->name,
                  shapes_str(&vals->shape, b));
        return -1;
    }
    if (x->shape.rank >= IR_MAX_RANK) {
        diag_node(d, n, "indices of rank %d: the output would exceed kiln's rank limit %d",
                  x->shape.rank, IR_MAX_RANK);
        return -1;
    }
    if (shapes_axis(n, ir_attr_int(n, "axis", -1), x->shape.rank + 1, d, &axis)) return -1;
    Shape o = {x->shape.rank + 1, {0}};
    for (int k = 0, j = 0; k < o.rank; k++)
        o.dims[k] = k == axis ? (int64_t)depth : x->shape.dims[j++];
    shapes_set(n, 0, vals->dtype, &o);
    return 0;
}

int shape_det(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0);
    const Shape *s = &x->shape;
    char b[160];
    if (m_float(n, 0, d)) return -1;
    if (s->rank < 2 || s->dims[s->rank - 1] < 0 || s->dims[s->rank - 1] != s->dims[s->rank - 2]) {
        diag_node(d, n, "input '%s' has shape %s; expected [..., n, n] with n fixed", x->name,
                  shapes_str(s, b));
        return -1;
    }
    Shape o = *s;
    o.rank -= 2;
    shapes_set(n, 0, x->dtype, &o);
    int64_t k = s->dims[s->rank - 1];
    n->scratch = (Dim)(k * k * (int64_t)sizeof(double)); /* k <= KILN_MAX_DIM: no overflow */
    if (k * k > KILN_MAX_TENSOR_BYTES / 8) {
        diag_node(d, n, "a %lldx%lld determinant is larger than kiln's limits", (long long)k,
                  (long long)k);
        return -1;
    }
    return 0;
}

int shape_reverse_sequence(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0), *lens = shapes_in(n, 1);
    int64_t ta = ir_attr_int(n, "time_axis", 0), ba = ir_attr_int(n, "batch_axis", 1);
    char b1[160], b2[160];
    if (!dtype_size(x->dtype)) {
        diag_node(d, n, "input '%s' is %s, which kiln cannot reverse", x->name,
                  dtype_onnx_name(x->dtype));
        return -1;
    }
    if (x->shape.rank < 2 || !((ta == 0 && ba == 1) || (ta == 1 && ba == 0))) {
        diag_node(d, n, "time_axis %lld and batch_axis %lld on input '%s' %s: they must be 0 and 1",
                  (long long)ta, (long long)ba, x->name, shapes_str(&x->shape, b1));
        return -1;
    }
    if (lens->dtype != DT_I64 || lens->shape.rank != 1) {
        diag_node(d, n, "sequence_lens '%s' is %s %s; expected int64 [batch]", lens->name,
                  dtype_onnx_name(lens->dtype), shapes_str(&lens->shape, b1));
        return -1;
    }
    Dim bd;
    if (shapes_unify(n, lens->shape.dims[0], x->shape.dims[ba], &bd, "the batch size")) {
        diag_node(d, n, "sequence_lens '%s' %s does not match the batch axis of '%s' %s",
                  lens->name, shapes_str(&lens->shape, b1), x->name, shapes_str(&x->shape, b2));
        return -1;
    }
    shapes_set(n, 0, x->dtype, &x->shape);
    return 0;
}

int shape_max_unpool(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0), *idx = shapes_in(n, 1);
    const Shape *s = &x->shape;
    char b1[160], b2[160];
    int r = s->rank - 2;
    if (m_float(n, 0, d)) return -1;
    if (r < 1 || r > IR_MAX_SPATIAL) {
        diag_node(d, n, "input '%s' has shape %s; expected [N, C, D...] with 1 to %d spatial dims",
                  x->name, shapes_str(s, b1), IR_MAX_SPATIAL);
        return -1;
    }
    int same = idx->dtype == DT_I64 && idx->shape.rank == s->rank;
    for (int k = 0; same && k < s->rank; k++)
        same = idx->shape.dims[k] == s->dims[k];
    if (!same) {
        diag_node(d, n, "indices '%s' is %s %s; expected int64 of the shape of '%s' %s", idx->name,
                  dtype_onnx_name(idx->dtype), shapes_str(&idx->shape, b1), x->name,
                  shapes_str(s, b2));
        return -1;
    }
    const Attr *ks = ir_attr(n, "kernel_shape"), *st = ir_attr(n, "strides"),
               *pads = ir_attr(n, "pads");
    if (!ks || ks->kind != ATTR_INTS || ks->n != r ||
        (st && (st->kind != ATTR_INTS || st->n != r)) ||
        (pads && (pads->kind != ATTR_INTS || pads->n != 2 * r))) {
        diag_node(d, n, "needs kernel_shape (and optional strides and pads) for %d spatial axes",
                  r);
        return -1;
    }
    /* The natural output size, which MaxPool numbered its indices in
     * (emit_max_unpool computes the same); output_shape may replace it. */
    Shape o = *s;
    for (int k = 0; k < r; k++) {
        int64_t in = s->dims[2 + k], kk = ks->ints[k], sd = st ? st->ints[k] : 1;
        int64_t pb = pads ? pads->ints[k] : 0, pe = pads ? pads->ints[r + k] : 0;
        if (in < 0) return shapes_batch_unrepresentable(n, d, "MaxUnpool");
        if (kk < 1 || sd < 1 || pb < 0 || pe < 0 || kk > KILN_MAX_DIM || sd > KILN_MAX_DIM ||
            pb > KILN_MAX_DIM || pe > KILN_MAX_DIM) {
            diag_node(d, n, "axis %d: kernel %lld, stride %lld, pads %lld/%lld are not sizes", k,
                      (long long)kk, (long long)sd, (long long)pb, (long long)pe);
            return -1;
        }
        o.dims[2 + k] = (in - 1) * sd + kk - pb - pe; /* terms <= KILN_MAX_DIM^2 */
        if (o.dims[2 + k] < 1) {
            diag_node(d, n, "axis %d: the output size would be %lld", k, (long long)o.dims[2 + k]);
            return -1;
        }
    }
    if (shapes_in(n, 2)) {
        int64_t want[IR_MAX_RANK];
        int got = shapes_const_ints(n, 2, want, IR_MAX_RANK, d);
        if (got < 0) return -1;
        if (got != s->rank || want[0] != s->dims[0] || want[1] != s->dims[1]) {
            diag_node(d, n,
                      "output_shape has %d values; expected %d, starting with N and C of "
                      "'%s' %s",
                      got, s->rank, x->name, shapes_str(s, b1));
            return -1;
        }
        for (int k = 2; k < s->rank; k++) {
            if (want[k] < 1 || want[k] > KILN_MAX_DIM) {
                diag_node(d, n, "output_shape[%d] = %lld is not a size", k, (long long)want[k]);
                return -1;
            }
            o.dims[k] = want[k];
        }
    }
    shapes_set(n, 0, x->dtype, &o);
    return 0;
}

int shape_bernoulli(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0);
    if (m_float(n, 0, d)) return -1;
    int64_t t = ir_attr_int(n, "dtype", x->dtype);
    DType dt = (DType)t;
    if (t != DT_F32 && t != DT_F64 && t != DT_F16 && t != DT_BOOL && t != DT_I8 && t != DT_U8 &&
        t != DT_I16 && t != DT_U16 && t != DT_I32 && t != DT_U32 && t != DT_I64 && t != DT_U64) {
        diag_node(d, n, "dtype %lld is not a numeric or bool ONNX type kiln supports",
                  (long long)t);
        return -1;
    }
    shapes_set(n, 0, dt, &x->shape);
    return 0;
}
