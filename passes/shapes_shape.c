/* shapes_shape.c: shape functions of the data movement and shape ops
 * (compiler/ir/ops_shape.def). Slice, Pad and Resize leave their resolved
 * parameters on the node as a plan (SlicePlan, PadPlan, ResizePlan in
 * ir.h), Range its computed output (PLAN_CONST): folding and codegen read
 * those.
 *
 * Every op from opset 7 on: attribute forms (Slice-1, Pad-2, Split-2,
 * Squeeze/Unsqueeze before 13, Upsample-7) and input forms. Symbolic dims
 * flow through as expressions; ops that would need one as a number say so.
 */
#include <math.h>
#include <string.h>

#include "fold_constants.h"
#include "kiln_resize.h"
#include "shapes.h"

_Static_assert((int)RESIZE_NEAREST == (int)KILN_RESIZE_MODE_NEAREST &&
                   (int)RESIZE_LINEAR == (int)KILN_RESIZE_MODE_LINEAR &&
                   (int)RESIZE_CUBIC == (int)KILN_RESIZE_MODE_CUBIC,
               "ResizeMode is kiln_resize.h's");

#define MAXV (2 * IR_MAX_RANK)

/* Reads integer list `attr` (opset < from) or constant input `input`
 * (opset >= from); returns the count, 0 if absent, -1 on error. */
static int ints_attr_or_input(Node *n, const char *attr, int input, int from, int64_t *out, int max,
                              int allow_dims, Diag *d) {
    if (n->opset && n->opset < from) {
        const Attr *a;
        if (shapes_attr(n, attr, ATTR_INTS, &a, d)) return -1;
        if (!a) return 0;
        if (a->n > max) {
            diag_node(d, n, "attribute '%s' has %d values, at most %d are supported", attr, a->n,
                      max);
            return -1;
        }
        memcpy(out, a->ints, sizeof(int64_t) * (size_t)a->n);
        return a->n;
    }
    if (!shapes_in(n, input)) return 0;
    return allow_dims ? shapes_const_ints_raw(n, input, out, max, d)
                      : shapes_const_ints(n, input, out, max, d);
}

static int batch_dim_error(Node *n, Diag *d, int axis, const char *what) {
    diag_node(d, n, "%s along axis %d, a dynamic dimension, is not supported yet", what, axis);
    diag_hint(d, "pin the dim with --shape INPUT=DIMS or --dim NAME=SIZE");
    return -1;
}

int shape_concat(Node *n, Diag *d) {
    const Attr *a = ir_attr(n, "axis");
    Value *x0 = shapes_in(n, 0);
    if (!a) {
        diag_node(d, n, "attribute 'axis' is required");
        return -1;
    }
    int64_t axis;
    if (shapes_axis(n, a->i, x0->shape.rank, d, &axis)) return -1;
    Shape s = x0->shape;
    s.dims[axis] = 0;
    char b1[160], b2[160];
    for (int i = 0; i < n->n_inputs; i++) {
        Value *x = shapes_in(n, i);
        if (!x) continue;
        if (shapes_same_dtype(n, 0, i, d)) return -1;
        int ok = x->shape.rank == x0->shape.rank;
        for (int k = 0; ok && k < s.rank; k++)
            if (k != axis && shapes_unify(n, x->shape.dims[k], x0->shape.dims[k], &s.dims[k],
                                          "a dim of its inputs outside the axis"))
                ok = 0;
        if (!ok) {
            diag_node(d, n, "input '%s' %s does not match '%s' %s outside axis %lld", x->name,
                      shapes_str(&x->shape, b1), x0->name, shapes_str(&x0->shape, b2),
                      (long long)axis);
            return -1;
        }
        s.dims[axis] = dim_add(s.dims[axis], x->shape.dims[axis]);
    }
    shapes_set(n, 0, x0->dtype, &s);
    return 0;
}

/* perm attribute, or the reversed axes. */
static int transpose_perm(Node *n, int rank, int64_t perm[IR_MAX_RANK], Diag *d) {
    const Attr *a;
    int seen[IR_MAX_RANK] = {0};
    if (shapes_attr(n, "perm", ATTR_INTS, &a, d)) return -1;
    for (int i = 0; i < rank; i++)
        perm[i] = a ? (i < a->n ? a->ints[i] : -1) : rank - 1 - i;
    for (int i = 0; i < rank; i++) {
        if (a && a->n != rank) break;
        if (perm[i] < 0) perm[i] += rank;
        if (perm[i] < 0 || perm[i] >= rank || seen[perm[i]]++) goto bad;
    }
    if (!a || a->n == rank) return 0;
bad:
    diag_node(d, n, "perm is not a permutation of the %d axes", rank);
    return -1;
}

int shape_transpose(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0);
    int64_t *perm = arena_alloc(n->graph->arena, sizeof(int64_t) * IR_MAX_RANK);
    if (transpose_perm(n, x->shape.rank, perm, d)) return -1;
    n->plan_kind = PLAN_PERM;
    n->plan.perm = perm;
    Shape s = x->shape;
    for (int i = 0; i < s.rank; i++)
        s.dims[i] = x->shape.dims[perm[i]];
    shapes_set(n, 0, x->dtype, &s);
    return 0;
}

/* --- Slice ----------------------------------------------------------------------------------- */

/* One axis of a Slice whose size or bounds are symbolic (a Dim, or an
 * encoded Dim from a shape computed from the input shapes: x[:, :seq]),
 * step > 0: ONNX's clamping as Dim min/max, which the bounds simplify
 * where they can (seq <= 512 makes min(seq, 512) seq). */
static int slice_dynamic(Node *n, Diag *d, int axis, Dim dim, int64_t s, int64_t e, int64_t p,
                         Dim *start, Dim *len) {
    if (p < 1) {
        diag_node(d, n, "slicing a dynamic dimension (axis %d) backwards is not supported yet",
                  axis);
        diag_hint(d, "pin the dim with --shape INPUT=DIMS or --dim NAME=SIZE");
        return -1;
    }
    Dim b[2];
    int64_t v[2] = {s, e};
    for (int i = 0; i < 2; i++) {
        if (ir_dim_in_data(v[i]))
            b[i] = ir_dim_decode(v[i]);
        else if (v[i] < 0)
            b[i] = dim_max(dim_add(dim, v[i] < -KILN_MAX_DIM ? -KILN_MAX_DIM - 1 : v[i]), 0);
        else
            b[i] = v[i] > KILN_MAX_DIM ? dim : v[i];
        b[i] = dim_min(b[i], dim);
    }
    *start = b[0];
    *len = dim_max(dim_ceildiv(dim_sub(b[1], b[0]), p > KILN_MAX_DIM ? KILN_MAX_DIM : p), 0);
    if (*start == DIM_INVALID || *len == DIM_INVALID) {
        diag_node(d, n, "the slice of axis %d is not computable", axis);
        return -1;
    }
    return 0;
}

/* Slice's plan into p and its output shape into out. */
static int slice_plan(Node *n, Diag *d, SlicePlan *plan, Shape *out) {
    int64_t *start = plan->start, *step = plan->step;
    Value *x = shapes_in(n, 0);
    int r = x->shape.rank;
    int64_t st[MAXV], en[MAXV], ax[MAXV], sp[MAXV];
    int ns = ints_attr_or_input(n, "starts", 1, 10, st, MAXV, 1, d);
    int ne = ints_attr_or_input(n, "ends", 2, 10, en, MAXV, 1, d);
    int na = ints_attr_or_input(n, "axes", 3, 10, ax, MAXV, 0, d);
    int np = n->opset && n->opset < 10 ? 0 : ints_attr_or_input(n, "steps", 4, 10, sp, MAXV, 0, d);
    if (ns < 0 || ne < 0 || na < 0 || np < 0) return -1;
    if (ns != ne || (na && na != ns) || (np && np != ns)) {
        diag_node(d, n, "starts, ends, axes and steps must have the same length (%d, %d, %d, %d)",
                  ns, ne, na, np);
        return -1;
    }
    *out = x->shape;
    for (int k = 0; k < r; k++) {
        start[k] = 0;
        step[k] = 1;
    }
    int done[IR_MAX_RANK] = {0};
    for (int i = 0; i < ns; i++) {
        int64_t axis, s = st[i], e = en[i], p = np ? sp[i] : 1;
        if (shapes_axis(n, na ? ax[i] : i, r, d, &axis)) return -1;
        if (done[axis]++) {
            diag_node(d, n, "axis %lld is sliced twice", (long long)axis);
            return -1;
        }
        if (p == 0) {
            diag_node(d, n, "step is 0 on axis %lld", (long long)axis);
            return -1;
        }
        int64_t dim = x->shape.dims[axis];
        if (dim < 0 || ir_dim_in_data(s) || ir_dim_in_data(e)) {
            if (slice_dynamic(n, d, (int)axis, dim, s, e, p, &start[axis], &out->dims[axis]))
                return -1;
            continue;
        }
        if (s < 0) s += dim;
        if (e < 0) e += dim;
        int64_t len;
        /* ceil(span / |step|) written so that no step, up to INT64_MIN,
         * overflows: span is at most dim. */
        if (p > 0) {
            s = s < 0 ? 0 : s > dim ? dim : s;
            e = e < 0 ? 0 : e > dim ? dim : e;
            len = e > s ? (e - s - 1) / p + 1 : 0;
        } else {
            s = s < 0 ? 0 : s > dim - 1 ? dim - 1 : s;
            e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
            len = s > e ? (s - e - 1) / (p == INT64_MIN ? INT64_MAX : -p) + 1 : 0;
        }
        start[axis] = len ? s : 0;
        step[axis] = len > 1 ? p : p > 0 ? 1 : -1; /* |step| < dim unless len <= 1 */
        out->dims[axis] = len;
    }
    return 0;
}

int shape_slice(Node *n, Diag *d) {
    SlicePlan *p = arena_alloc(n->graph->arena, sizeof *p);
    Shape s;
    if (slice_plan(n, d, p, &s)) return -1;
    n->plan_kind = PLAN_SLICE;
    n->plan.slice = p;
    shapes_set(n, 0, shapes_in(n, 0)->dtype, &s);
    return 0;
}

/* --- Split ----------------------------------------------------------------------------------- */

int shape_split(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0);
    int64_t axis, parts[64];
    if (shapes_axis(n, ir_attr_int(n, "axis", 0), x->shape.rank, d, &axis)) return -1;
    int np = ints_attr_or_input(n, "split", 1, 13, parts, 64, 0, d);
    if (np < 0) return -1;
    int64_t dim = x->shape.dims[axis];
    if (dim < 0 && np == 0) { /* equal parts: their count divides the size, checked at run time */
        Dim part = dim_floordiv(dim, n->n_outputs);
        char what[96];
        snprintf(what, sizeof what, "axis %lld, which must split into %d equal parts",
                 (long long)axis, n->n_outputs);
        if (part == DIM_INVALID ||
            shapes_unify(n, dim, dim_mul(part, n->n_outputs), &(Dim){0}, what)) {
            diag_node(d, n, "axis %lld does not split into %d equal parts", (long long)axis,
                      n->n_outputs);
            return -1;
        }
        for (int i = 0; i < n->n_outputs; i++) {
            Shape s = x->shape;
            s.dims[axis] = part;
            shapes_set(n, i, x->dtype, &s);
        }
        return 0;
    }
    if (dim < 0) return batch_dim_error(n, d, (int)axis, "splitting into given sizes");
    if (np == 0) {
        if (dim % n->n_outputs) {
            diag_node(d, n, "axis %lld of size %lld does not split into %d equal parts",
                      (long long)axis, (long long)dim, n->n_outputs);
            return -1;
        }
        for (int i = 0; i < n->n_outputs; i++)
            parts[i] = dim / n->n_outputs;
        np = n->n_outputs;
    }
    int64_t sum = 0;
    for (int i = 0; i < np; i++) {
        if (parts[i] < 0 || parts[i] > dim) {
            diag_node(d, n, "split size %lld of output %d is outside 0..%lld", (long long)parts[i],
                      i, (long long)dim);
            return -1;
        }
        sum += parts[i]; /* at most 64 parts of at most KILN_MAX_DIM: no overflow */
    }
    if (np != n->n_outputs || sum != dim) {
        diag_node(d, n,
                  "split sizes (%d of them, sum %lld) do not match %d outputs of axis size %lld",
                  np, (long long)sum, n->n_outputs, (long long)dim);
        return -1;
    }
    for (int i = 0; i < np; i++) {
        Shape s = x->shape;
        s.dims[axis] = parts[i];
        shapes_set(n, i, x->dtype, &s);
    }
    return 0;
}

/* --- Squeeze, Unsqueeze ------------------------------------------------------------------- */

int shape_squeeze(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0);
    int64_t axes[MAXV];
    int na = ints_attr_or_input(n, "axes", 1, 13, axes, MAXV, 0, d);
    if (na < 0) return -1;
    int drop[IR_MAX_RANK] = {0};
    for (int i = 0; i < na; i++) {
        int64_t a;
        if (shapes_axis(n, axes[i], x->shape.rank, d, &a)) return -1;
        if (x->shape.dims[a] < 0) { /* must be 1: checked at run time */
            char what[64];
            snprintf(what, sizeof what, "squeezed axis %lld", (long long)a);
            if (shapes_unify(n, x->shape.dims[a], 1, &(Dim){0}, what)) {
                diag_node(d, n, "axis %lld cannot have size 1; only size-1 axes can be squeezed",
                          (long long)a);
                return -1;
            }
        } else if (x->shape.dims[a] != 1) {
            diag_node(d, n, "axis %lld has size %lld, only size-1 axes can be squeezed",
                      (long long)a, (long long)x->shape.dims[a]);
            return -1;
        }
        drop[a] = 1;
    }
    Shape s = {0, {0}};
    for (int k = 0; k < x->shape.rank; k++)
        if (!(na ? drop[k] : x->shape.dims[k] == 1)) s.dims[s.rank++] = x->shape.dims[k];
    shapes_set(n, 0, x->dtype, &s);
    return 0;
}

int shape_unsqueeze(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0);
    int64_t axes[MAXV];
    int na = ints_attr_or_input(n, "axes", 1, 13, axes, MAXV, 0, d);
    if (na < 0) return -1;
    int r = x->shape.rank + na;
    if (na == 0 || r > IR_MAX_RANK) {
        diag_node(d, n, "needs 1 to %d axes, has %d", IR_MAX_RANK - x->shape.rank, na);
        return -1;
    }
    int ins[IR_MAX_RANK] = {0};
    for (int i = 0; i < na; i++) {
        int64_t a;
        if (shapes_axis(n, axes[i], r, d, &a)) return -1;
        if (ins[a]++) {
            diag_node(d, n, "axis %lld is listed twice", (long long)a);
            return -1;
        }
    }
    Shape s = {r, {0}};
    for (int k = 0, j = 0; k < r; k++)
        s.dims[k] = ins[k] ? 1 : x->shape.dims[j++];
    shapes_set(n, 0, x->dtype, &s);
    return 0;
}

/* --- Gather family, Scatter ------------------------------------------------------------------ */

static int index_type_ok(Node *n, int i, int allow32, Diag *d) {
    DType t = shapes_in(n, i)->dtype;
    if (t == DT_I64 || (allow32 && t == DT_I32)) return 0;
    diag_node(d, n, "indices '%s' have element type %s, expected int64%s", shapes_in(n, i)->name,
              dtype_onnx_name(t), allow32 ? " or int32" : "");
    return -1;
}

int shape_gather(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0), *idx = shapes_in(n, 1);
    int64_t axis;
    if (index_type_ok(n, 1, 1, d) ||
        shapes_axis(n, ir_attr_int(n, "axis", 0), x->shape.rank, d, &axis))
        return -1;
    int r = x->shape.rank - 1 + idx->shape.rank;
    if (r > IR_MAX_RANK) {
        diag_node(d, n, "output rank %d exceeds kiln's limit of %d", r, IR_MAX_RANK);
        return -1;
    }
    Shape s = {r, {0}};
    int k = 0;
    for (int i = 0; i < axis; i++)
        s.dims[k++] = x->shape.dims[i];
    for (int i = 0; i < idx->shape.rank; i++)
        s.dims[k++] = idx->shape.dims[i];
    for (int i = (int)axis + 1; i < x->shape.rank; i++)
        s.dims[k++] = x->shape.dims[i];
    shapes_set(n, 0, x->dtype, &s);
    return 0;
}

int shape_gather_elements(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0), *idx = shapes_in(n, 1);
    int64_t axis;
    if (index_type_ok(n, 1, 1, d) ||
        shapes_axis(n, ir_attr_int(n, "axis", 0), x->shape.rank, d, &axis))
        return -1;
    if (idx->shape.rank != x->shape.rank) {
        diag_node(d, n, "indices must have the rank of the data (%d), have %d", x->shape.rank,
                  idx->shape.rank);
        return -1;
    }
    for (int i = 0; i < x->shape.rank; i++) /* outside the axis, the index dims are the data's */
        if (i != axis && (x->shape.dims[i] < 0 || idx->shape.dims[i] < 0) &&
            shapes_unify(n, idx->shape.dims[i], x->shape.dims[i], &(Dim){0},
                         "a dim of the indices outside the axis")) {
            diag_node(d, n, "indices dim %d cannot match the data's", i);
            return -1;
        }
    shapes_set(n, 0, x->dtype, &idx->shape);
    return 0;
}

int shape_gather_nd(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0), *idx = shapes_in(n, 1);
    int b = (int)ir_attr_int(n, "batch_dims", 0);
    if (index_type_ok(n, 1, 0, d)) return -1;
    int ri = idx->shape.rank, rx = x->shape.rank;
    int64_t k = ri ? idx->shape.dims[ri - 1] : -1;
    if (ri < 1 || b < 0 || b >= ri || b >= rx || k < 1 || b + k > rx) {
        diag_node(d, n, "indices of shape %s and batch_dims %d do not index data of rank %d",
                  shapes_str(&idx->shape, (char[160]){0}), b, rx);
        return -1;
    }
    /* Indexed dims may be symbolic: emit_gather_nd passes their sizes and
     * strides at run time, and the kernel checks each index against them. */
    Shape s = {0, {0}};
    for (int i = 0; i < ri - 1; i++)
        s.dims[s.rank++] = idx->shape.dims[i];
    for (int i = b + (int)k; i < rx; i++)
        s.dims[s.rank++] = x->shape.dims[i];
    shapes_set(n, 0, x->dtype, &s);
    return 0;
}

int shape_scatter(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0);
    const char *red = ir_attr_str(n, "reduction", "none");
    if (strcmp(red, "none") && strcmp(red, "add") && strcmp(red, "mul")) {
        diag_node(d, n, "reduction '%s' is not supported", red);
        diag_hint(d, "kiln supports reduction none, add and mul");
        return -1;
    }
    if (index_type_ok(n, 1, 0, d) || shapes_same_dtype(n, 0, 2, d)) return -1;
    for (int i = 0; i < x->shape.rank; i++)
        if (x->shape.dims[i] < 0) return batch_dim_error(n, d, i, "scattering");
    shapes_set(n, 0, x->dtype, &x->shape);
    return 0;
}

/* --- Expand, Tile ----------------------------------------------------------------------------- */

int shape_expand(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0);
    Shape t, s;
    int r = shapes_const_dims(n, 1, t.dims, IR_MAX_RANK, d);
    if (r < 0) return -1;
    t.rank = r;
    if (shapes_broadcast(n, &x->shape, &t, &s)) {
        char b1[160], b2[160];
        diag_node(d, n, "input shape %s does not broadcast to %s", shapes_str(&x->shape, b1),
                  shapes_str(&t, b2));
        return -1;
    }
    shapes_set(n, 0, x->dtype, &s);
    return 0;
}

int shape_tile(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0);
    int64_t rep[IR_MAX_RANK];
    int r = shapes_const_ints(n, 1, rep, IR_MAX_RANK, d);
    if (r < 0) return -1;
    if (r != x->shape.rank) {
        diag_node(d, n, "repeats has %d values, the input has rank %d", r, x->shape.rank);
        return -1;
    }
    Shape s = x->shape;
    for (int i = 0; i < r; i++) {
        if (rep[i] < 0) {
            diag_node(d, n, "repeat %lld on axis %d is negative", (long long)rep[i], i);
            return -1;
        }
        if (s.dims[i] < 0) { /* the output's bounds are checked with every output */
            s.dims[i] = dim_mul(s.dims[i], rep[i]);
            if (s.dims[i] == DIM_INVALID) {
                diag_node(d, n, "repeat %lld on axis %d is too large", (long long)rep[i], i);
                return -1;
            }
            continue;
        }
        if (__builtin_mul_overflow(s.dims[i], rep[i], &s.dims[i]) || s.dims[i] > KILN_MAX_DIM) {
            diag_node(d, n,
                      "repeat %lld on axis %d makes the axis larger than kiln's limit of %lld",
                      (long long)rep[i], i, (long long)KILN_MAX_DIM);
            return -1;
        }
    }
    shapes_set(n, 0, x->dtype, &s);
    return 0;
}

/* --- Shape, Size, ConstantOfShape, Range, EyeLike, Trilu ------------------------------------- */

/* Shape-15's start/end, clamped into [0, rank]. */
static void shape_range_of(const Node *n, int rank, int64_t *from, int64_t *to) {
    int64_t s = ir_attr_int(n, "start", 0), e = ir_attr_int(n, "end", rank);
    if (s < 0) s += rank;
    if (e < 0) e += rank;
    *from = s < 0 ? 0 : s > rank ? rank : s;
    *to = e < *from ? *from : e > rank ? rank : e;
}

int shape_shape(Node *n, Diag *d) {
    (void)d;
    int64_t from, to;
    shape_range_of(n, shapes_in(n, 0)->shape.rank, &from, &to);
    Shape s = {1, {to - from}};
    shapes_set(n, 0, DT_I64, &s);
    return 0;
}

int shape_size(Node *n, Diag *d) {
    (void)d;
    shapes_set(n, 0, DT_I64, &(Shape){0, {0}});
    return 0;
}

int shape_constant_of_shape(Node *n, Diag *d) {
    Value *in = shapes_in(n, 0);
    Shape s;
    int r = shapes_const_dims(n, 0, s.dims, IR_MAX_RANK, d);
    if (r < 0) return -1;
    if (in->shape.rank != 1) r = 0; /* a scalar-shaped empty shape */
    s.rank = r;
    const Attr *v = ir_attr(n, "value");
    DType t = DT_F32;
    if (v && v->kind == ATTR_TENSOR && v->t) {
        if (shape_numel(&v->t->shape) != 1) {
            diag_node(d, n, "attribute 'value' must hold one element");
            return -1;
        }
        t = v->t->dtype;
    }
    shapes_set(n, 0, t, &s);
    return 0;
}

/* Range's element count from its scalar inputs, computed in double as the
 * reference does; the output itself is computed here too (PLAN_CONST), so
 * codegen only copies it. */
#define RANGE_MAX_ELEMS ((int64_t)1 << 28)

/* Range over sizes computed from the input shapes (torch.arange(x.size(1))):
 * int64, a constant delta; the output's length is a Dim and the model fills
 * it at run time (no plan: emit_folded calls kiln_range_i64). */
static int range_dynamic(Node *n, Diag *d) {
    Dim v[3];
    for (int i = 0; i < 3; i++) {
        Value *x = shapes_in(n, i);
        if (x->dtype != DT_I64 || shape_numel(&x->shape) != 1) {
            diag_node(d, n, "a Range over dynamic sizes must be int64 scalars; '%s' is %s", x->name,
                      dtype_onnx_name(x->dtype));
            return -1;
        }
        v[i] = ir_dim_decode(*(const int64_t *)x->data);
    }
    int64_t delta;
    if (!dim_value(v[2], &delta) || delta < 1 || v[0] == DIM_INVALID || v[1] == DIM_INVALID) {
        diag_node(d, n,
                  "a Range over dynamic sizes needs sizes for start and limit and a "
                  "positive constant delta");
        diag_hint(d, "pin the dim with --shape INPUT=DIMS or --dim NAME=SIZE");
        return -1;
    }
    Shape s = {1, {dim_max(dim_ceildiv(dim_sub(v[1], v[0]), delta), 0)}};
    if (s.dims[0] == DIM_INVALID) {
        diag_node(d, n, "the length of this Range is not computable");
        return -1;
    }
    n->plan_kind = PLAN_NONE;
    shapes_set(n, 0, DT_I64, &s);
    return 0;
}

int shape_range(Node *n, Diag *d) {
    double v[3];
    int64_t k[3];
    for (int i = 0; i < 3; i++)
        if (ir_value_has_dims(shapes_in(n, i))) return range_dynamic(n, d);
    for (int i = 0; i < 3; i++) {
        Value *x = shapes_in(n, i);
        if (!x->data || shape_numel(&x->shape) != 1) {
            diag_node(d, n, "input '%s' must be a constant scalar", x->name);
            diag_hint(d, "kiln compiles shapes ahead of time; export it as an initializer");
            return -1;
        }
        if (shapes_same_dtype(n, 0, i, d)) return -1;
        switch (x->dtype) {
        case DT_F32:
            v[i] = *(const float *)x->data;
            break;
        case DT_F64:
            v[i] = *(const double *)x->data;
            break;
        case DT_I16:
            v[i] = *(const int16_t *)x->data;
            break;
        case DT_I32:
            v[i] = *(const int32_t *)x->data;
            break;
        case DT_I64:
            v[i] = (double)*(const int64_t *)x->data;
            break;
        default:
            diag_node(d, n, "element type %s is not supported", dtype_onnx_name(x->dtype));
            return -1;
        }
        int is_float = x->dtype == DT_F32 || x->dtype == DT_F64;
        k[i] = x->dtype == DT_I64 ? *(const int64_t *)x->data : is_float ? 0 : (int64_t)v[i];
    }
    if (v[2] == 0) {
        diag_node(d, n, "delta is 0");
        return -1;
    }
    double cnt = ceil((v[1] - v[0]) / v[2]);
    if (cnt > (double)RANGE_MAX_ELEMS) {
        diag_node(d, n,
                  "the output would have %.0f elements; kiln computes Range at compile time, "
                  "for at most %lld",
                  cnt, (long long)RANGE_MAX_ELEMS);
        return -1;
    }
    Shape s = {1, {cnt > 0 ? (int64_t)cnt : 0}};
    DType t = shapes_in(n, 0)->dtype;
    void *out = arena_alloc_aligned(n->graph->arena, (size_t)s.dims[0] * dtype_size(t) + 1, 64);
    for (int64_t i = 0; i < s.dims[0]; i++) {
        double f = v[0] + (double)i * v[2];
        int64_t q = (int64_t)((uint64_t)k[0] + (uint64_t)i * (uint64_t)k[2]);
        switch (t) {
        case DT_F32:
            ((float *)out)[i] = (float)f;
            break;
        case DT_F64:
            ((double *)out)[i] = f;
            break;
        case DT_I16:
            ((int16_t *)out)[i] = (int16_t)q;
            break;
        case DT_I32:
            ((int32_t *)out)[i] = (int32_t)q;
            break;
        default:
            ((int64_t *)out)[i] = q;
            break;
        }
    }
    n->plan_kind = PLAN_CONST;
    n->plan.bytes = out;
    shapes_set(n, 0, t, &s);
    return 0;
}

int shape_eye_like(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0);
    if (x->shape.rank != 2) {
        diag_node(d, n, "input must be 2-D, has rank %d", x->shape.rank);
        return -1;
    }
    DType t = (DType)ir_attr_int(n, "dtype", x->dtype);
    if (!dtype_size(t)) {
        diag_node(d, n, "dtype %d is not supported", (int)t);
        return -1;
    }
    shapes_set(n, 0, t, &x->shape);
    return 0;
}

int shape_trilu(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0), *k = shapes_in(n, 1);
    if (x->shape.rank < 2) {
        diag_node(d, n, "input must have rank >= 2, has %d", x->shape.rank);
        return -1;
    }
    int64_t kv;
    if (k && shapes_const_ints(n, 1, &kv, 1, d) < 0) return -1;
    shapes_set(n, 0, x->dtype, &x->shape);
    return 0;
}

/* --- DepthToSpace, SpaceToDepth --------------------------------------------------------------- */

static int block_check(Node *n, Diag *d, int64_t *b) {
    const Shape *x = &shapes_in(n, 0)->shape;
    *b = ir_attr_int(n, "blocksize", 0);
    /* blocksize is squared and multiplied into dims: keep it small enough
     * that b * b * dim fits int64 (dims are at most KILN_MAX_DIM). */
    if (x->rank != 4 || *b < 1 || *b > (1 << 16)) {
        diag_node(d, n, "needs a 4-D input and blocksize in 1..65536 (rank %d, blocksize %lld)",
                  x->rank, (long long)*b);
        return -1;
    }
    if (x->dims[1] < 0) return batch_dim_error(n, d, 1, "rearranging blocks");
    return 0;
}

int shape_depth_to_space(Node *n, Diag *d) {
    int64_t b;
    if (block_check(n, d, &b)) return -1;
    Shape s = shapes_in(n, 0)->shape;
    const char *mode = ir_attr_str(n, "mode", "DCR");
    if (strcmp(mode, "DCR") && strcmp(mode, "CRD")) {
        diag_node(d, n, "mode '%s' is not DCR or CRD", mode);
        return -1;
    }
    if (s.dims[1] % (b * b)) {
        diag_node(d, n, "channels %lld are not a multiple of blocksize^2 = %lld",
                  (long long)s.dims[1], (long long)(b * b));
        return -1;
    }
    s.dims[1] /= b * b;
    s.dims[2] = dim_mul(s.dims[2], b);
    s.dims[3] = dim_mul(s.dims[3], b);
    shapes_set(n, 0, shapes_in(n, 0)->dtype, &s);
    return 0;
}

int shape_space_to_depth(Node *n, Diag *d) {
    int64_t b;
    if (block_check(n, d, &b)) return -1;
    Shape s = shapes_in(n, 0)->shape;
    if ((s.dims[2] >= 0 && s.dims[2] % b) || (s.dims[3] >= 0 && s.dims[3] % b)) {
        diag_node(d, n, "height %lld and width %lld must be multiples of blocksize %lld",
                  (long long)s.dims[2], (long long)s.dims[3], (long long)b);
        return -1;
    }
    s.dims[1] *= b * b;
    for (int i = 2; i < 4; i++) {
        if (s.dims[i] >= 0) {
            s.dims[i] /= b;
            continue;
        }
        /* A dynamic one must be a multiple of b: checked at run time. */
        Dim q = dim_floordiv(s.dims[i], b);
        char what[96];
        snprintf(what, sizeof what, "the %s, which must be a multiple of blocksize %lld",
                 i == 2 ? "height" : "width", (long long)b);
        if (q == DIM_INVALID || shapes_unify(n, s.dims[i], dim_mul(q, b), &(Dim){0}, what)) {
            diag_node(d, n, "axis %d cannot be a multiple of blocksize %lld", i, (long long)b);
            return -1;
        }
        s.dims[i] = q;
    }
    shapes_set(n, 0, shapes_in(n, 0)->dtype, &s);
    return 0;
}

/* --- table gathers: Pad and nearest Resize --------------------------------------------------- */

/* The bytes of the tables a table gather (codegen's emit_table_gather)
 * computes at run time, one int64 per output position of each axis it
 * walks whose output size or input stride is dynamic (table_dynamic
 * there); the axes it walks are
 * those from the first one not the identity (ident[]) to the last, the
 * trailing identity ones merged into one. The same walk as
 * emit_table_gather's, which lays the tables out in this order. */
static Dim gather_table_bytes(const Shape *x, const Shape *y, const int *ident) {
    int r = y->rank, first = 0;
    while (first < r && ident[first])
        first++;
    if (first == r) return 0;
    int last = r;
    while (last > first + 1 && ident[last - 1])
        last--;
    Dim b = 0;
    for (int k = first; k < last; k++) {
        int dynamic = y->dims[k] < 0; /* its size or the input's stride there */
        for (int i = k; i < r; i++)
            if (x->dims[i] < 0) dynamic = 1;
        if (dynamic) b = dim_add(b, dim_mul(y->dims[k], 8));
    }
    int tail_dynamic = 0;
    for (int k = last; k < r; k++)
        if (y->dims[k] < 0) tail_dynamic = 1;
    if (tail_dynamic) b = dim_add(b, dim_mul(shape_prod(y, last, r), 8));
    return b;
}

/* --- Pad -------------------------------------------------------------------------------------- */

/* Pad's plan into p. */
static int pad_plan(Node *n, Diag *d, PadPlan *p) {
    int64_t pads[2 * IR_MAX_RANK];
    PadMode *mode = &p->mode;
    uint64_t *fill = &p->fill;
    Value *x = shapes_in(n, 0);
    int r = x->shape.rank;
    const char *m = ir_attr_str(n, "mode", "constant");
    if (!strcmp(m, "constant"))
        *mode = PAD_CONSTANT;
    else if (!strcmp(m, "edge"))
        *mode = PAD_EDGE;
    else if (!strcmp(m, "reflect"))
        *mode = PAD_REFLECT;
    else {
        diag_node(d, n, "mode '%s' is not supported", m);
        diag_hint(d, "kiln supports constant, edge and reflect");
        return -1;
    }
    int np = ints_attr_or_input(n, "pads", 1, 11, pads, 2 * IR_MAX_RANK, 0, d);
    if (np < 0) return -1;
    if (np != 2 * r) {
        diag_node(d, n, "pads has %d values, expected %d for rank %d", np, 2 * r, r);
        return -1;
    }
    *fill = 0;
    if (n->opset && n->opset < 11) {
        float f = ir_attr_float(n, "value", 0.0f);
        if (x->dtype == DT_F32)
            memcpy(fill, &f, 4);
        else if (x->dtype == DT_F64) {
            double v = f;
            memcpy(fill, &v, 8);
        } else if (f != 0.0f) {
            diag_node(d, n, "a non-zero value for %s data is not supported",
                      dtype_onnx_name(x->dtype));
            return -1;
        }
    } else if (shapes_in(n, 2)) {
        Value *v = shapes_in(n, 2);
        if (!v->data || v->dtype != x->dtype) {
            diag_node(d, n, "constant_value '%s' must be a constant of the data's type", v->name);
            return -1;
        }
        memcpy(fill, v->data, dtype_size(v->dtype));
    }
    for (int i = 0; i < r; i++) {
        int64_t dim = x->shape.dims[i];
        /* Bounded pads keep dim + pads within int64; the output's own size
         * is checked with every other output. */
        if (pads[i] < -KILN_MAX_DIM || pads[i] > KILN_MAX_DIM || pads[i + r] < -KILN_MAX_DIM ||
            pads[i + r] > KILN_MAX_DIM) {
            diag_node(d, n, "pads %lld/%lld of axis %d are beyond kiln's limit of %lld",
                      (long long)pads[i], (long long)pads[i + r], i, (long long)KILN_MAX_DIM);
            return -1;
        }
        if (dim < 0 && (pads[i] || pads[i + r])) { /* sizes checked at run time */
            if (shapes_dim_min(n, dim_add(dim_add(dim, pads[i]), pads[i + r]), 0,
                               "the size of a padded axis") ||
                (*mode != PAD_CONSTANT && (pads[i] > 0 || pads[i + r] > 0) &&
                 shapes_dim_min(n, dim, 1, "the size of an axis padded by edge or reflect"))) {
                diag_node(d, n, "axis %d cannot be padded by %lld/%lld in mode '%s'", i,
                          (long long)pads[i], (long long)pads[i + r], m);
                return -1;
            }
        }
        if (dim >= 0 && dim + pads[i] + pads[i + r] < 0) {
            diag_node(d, n, "pads remove more than the %lld elements of axis %d", (long long)dim,
                      i);
            return -1;
        }
        if (*mode != PAD_CONSTANT && dim == 0 && (pads[i] > 0 || pads[i + r] > 0)) {
            diag_node(d, n, "cannot pad the empty axis %d in mode '%s'", i, m);
            return -1;
        }
        p->begin[i] = pads[i];
        p->end[i] = pads[i + r];
    }
    return 0;
}

int shape_pad(Node *n, Diag *d) {
    PadPlan *p = arena_alloc(n->graph->arena, sizeof *p);
    if (pad_plan(n, d, p)) return -1;
    Shape s = shapes_in(n, 0)->shape;
    int ident[IR_MAX_RANK];
    for (int i = 0; i < s.rank; i++) {
        s.dims[i] = s.dims[i] >= 0 ? s.dims[i] + p->begin[i] + p->end[i]
                                   : dim_add(dim_add(s.dims[i], p->begin[i]), p->end[i]);
        ident[i] = !p->begin[i] && !p->end[i];
    }
    n->scratch = gather_table_bytes(&shapes_in(n, 0)->shape, &s, ident);
    if (n->scratch == DIM_INVALID) {
        diag_node(d, n, "the padded sizes are not computable");
        return -1;
    }
    n->plan_kind = PLAN_PAD;
    n->plan.pad = p;
    shapes_set(n, 0, shapes_in(n, 0)->dtype, &s);
    return 0;
}

/* --- Resize, Upsample ------------------------------------------------------------------------- */

/* Constant float input i into out[0..max); the count, 0 if absent or
 * empty, -1 with a diagnostic. */
static int const_floats(Node *n, int i, double *out, int max, Diag *d) {
    Value *v = shapes_in(n, i);
    if (!v) return 0;
    if (!v->data || (v->dtype != DT_F32 && v->dtype != DT_F64)) {
        diag_node(d, n, "input %d ('%s') must be a constant float tensor", i, v->name);
        diag_hint(d, "kiln compiles shapes ahead of time; export this input as an initializer");
        return -1;
    }
    int64_t c = shape_numel(&v->shape);
    if (c > max) {
        diag_node(d, n, "input '%s' has %lld values, at most %d", v->name, (long long)c, max);
        return -1;
    }
    for (int64_t k = 0; k < c; k++)
        out[k] = v->dtype == DT_F32 ? ((const float *)v->data)[k] : ((const double *)v->data)[k];
    return (int)c;
}

/* floor(in * sc) as a Dim where that is exact: sc a binary fraction q / 2^e
 * (2, 0.5, 1.5); DIM_INVALID otherwise. */
static Dim scaled_dim(Dim in, double sc) {
    for (int e = 0; e <= 20; e++) {
        double q = ldexp(sc, e);
        if (q == floor(q) && q <= (double)(1 << 20))
            return dim_floordiv(dim_mul(in, (int64_t)q), (int64_t)1 << e);
    }
    return DIM_INVALID;
}

/* Axis i of a Resize whose input size `in` or output size `out` (a Dim; DIM_INVALID:
 * from the scale) is dynamic: the output size as a Dim; the model computes the
 * taps at run time from the actual sizes (kiln_resize.h). */
static int resize_dynamic(Node *n, Diag *d, ResizePlan *p, int i, Dim in, Dim out) {
    double sc = p->given[i];
    p->scale[i] = sc;
    if (out == DIM_INVALID && sc == 1.0) {
        p->out.dims[i] = in;
        return 0;
    }
    if (out == DIM_INVALID) {
        out = scaled_dim(in, sc);
        if (out == DIM_INVALID) {
            diag_node(d, n,
                      "scale %g on axis %d, a dynamic dimension: floor(size * %g) is not "
                      "exact as a dimension",
                      sc, i, sc);
            diag_hint(d, "kiln resizes dynamic dims by integer scales and binary fractions (2, "
                         "0.5, 1.5), or to sizes; pin the dim with --shape INPUT=DIMS or --dim "
                         "NAME=SIZE");
            return -1;
        }
    }
    int64_t lo, hi;
    if (dim_bounds(out, &lo, &hi) || lo < 0 || hi > KILN_MAX_RESIZE_DIM) {
        char b[64];
        diag_node(d, n, "axis %d resized to %s may be outside 0..%d (kiln's limit)", i,
                  dim_str(out, b, sizeof b), KILN_MAX_RESIZE_DIM);
        diag_hint(d, "bound the dims with --shape INPUT=LO..HIx... or --dim NAME=LO..HI");
        return -1;
    }
    p->out.dims[i] = out;
    if (out == in || sc > 0) return 0; /* by a scale, an empty axis stays empty */
    /* An empty axis cannot be resized to a non-empty one: checked at run time. */
    if (in == 0 || shapes_dim_min(n, in, 1, "the size of a resized axis")) {
        diag_node(d, n, "axis %d is empty and cannot be resized", i);
        return -1;
    }
    return 0;
}

/* Resize's (and Upsample's) parameters into p, taps not yet computed. */
static int resize_plan(Node *n, Diag *d, ResizePlan *p) {
    Value *x = shapes_in(n, 0);
    int r = x->shape.rank, upsample = n->op == OP_UPSAMPLE;
    int legacy = upsample || (n->opset && n->opset < 11); /* Upsample and Resize-10 */
    memset(p, 0, sizeof *p);
    p->rank = r;
    const char *mode = ir_attr_str(n, "mode", "nearest");
    if (!strcmp(mode, "nearest"))
        p->mode = RESIZE_NEAREST;
    else if (!strcmp(mode, "linear") || !strcmp(mode, "bilinear"))
        p->mode = RESIZE_LINEAR;
    else if (!strcmp(mode, "cubic") && !legacy)
        p->mode = RESIZE_CUBIC;
    else {
        diag_node(d, n, "mode '%s' is not supported", mode);
        return -1;
    }
    p->ctm = legacy ? "asymmetric" : ir_attr_str(n, "coordinate_transformation_mode", "half_pixel");
    p->nearest_mode = legacy ? "floor" : ir_attr_str(n, "nearest_mode", "round_prefer_floor");
    p->cubic_a = ir_attr_float(n, "cubic_coeff_a", -0.75f);
    p->exclude_outside = (int)ir_attr_int(n, "exclude_outside", 0);
    p->extrapolation = ir_attr_float(n, "extrapolation_value", 0.0f);
    static const char *ctms[] = {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
                                 "tf_crop_and_resize"};
    static const char *nms[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
    int ok_ctm = 0, ok_nm = 0;
    for (int i = 0; i < 5; i++) /* in the order of KILN_CTM_* */
        if (!strcmp(p->ctm, ctms[i])) {
            ok_ctm = 1;
            p->ctm_k = i;
        }
    for (int i = 0; i < 4; i++) /* KILN_NEAREST_* */
        if (!strcmp(p->nearest_mode, nms[i])) {
            ok_nm = 1;
            p->nearest_k = i;
        }
    if (!ok_ctm || !ok_nm) {
        diag_node(d, n, "coordinate_transformation_mode '%s' / nearest_mode '%s' is not supported",
                  p->ctm, p->nearest_mode);
        return -1;
    }
    double sc[MAXV], roi[MAXV];
    int64_t sizes[MAXV];
    int ns = 0, nz = 0, nr = 0;
    if (upsample && n->opset && n->opset < 9) {
        const Attr *a;
        if (shapes_attr(n, "scales", ATTR_FLOATS, &a, d)) return -1;
        ns = a ? a->n : 0;
        for (int i = 0; i < ns && i < MAXV; i++)
            sc[i] = a->floats[i];
    } else {
        int si = legacy ? 1 : 2;
        if ((ns = const_floats(n, si, sc, MAXV, d)) < 0) return -1;
        if (!legacy && (nr = const_floats(n, 1, roi, MAXV, d)) < 0) return -1;
        if (!legacy && shapes_in(n, 3) && (nz = shapes_const_ints_raw(n, 3, sizes, MAXV, d)) < 0)
            return -1;
    }
    if ((ns && nz) || (!ns && !nz) || (ns && ns != r) || (nz && nz != r)) {
        diag_node(d, n, "needs either %d scales or %d sizes (has %d scales, %d sizes)", r, r, ns,
                  nz);
        return -1;
    }
    if (!strcmp(p->ctm, "tf_crop_and_resize") && nr != 2 * r) {
        diag_node(d, n, "tf_crop_and_resize needs an roi of %d values, has %d", 2 * r, nr);
        return -1;
    }
    p->out.rank = r;
    for (int i = 0; i < r; i++) {
        int64_t in = x->shape.dims[i];
        p->roi[i] = nr ? roi[i] : 0;
        p->roi[i + r] = nr ? roi[i + r] : 1;
        p->given[i] = ns ? sc[i] : 0;
        if (ns && !(sc[i] > 0)) {
            diag_node(d, n, "scale %g on axis %d is not positive", sc[i], i);
            return -1;
        }
        if (!ns && !ir_dim_in_data(sizes[i]) && (sizes[i] < 0 || sizes[i] > KILN_MAX_RESIZE_DIM)) {
            diag_node(d, n, "size %lld of axis %d is outside 0..%d (kiln's limit)",
                      (long long)sizes[i], i, KILN_MAX_RESIZE_DIM);
            return -1;
        }
        if (!ns && ir_dim_in_data(sizes[i])) { /* a size computed from a shape */
            if (resize_dynamic(n, d, p, i, in, ir_dim_decode(sizes[i]))) return -1;
            continue;
        }
        if (in < 0) {
            if (resize_dynamic(n, d, p, i, in, ns ? DIM_INVALID : sizes[i])) return -1;
            continue;
        }
        if (ns) {
            if (!(floor(sc[i] * (double)in) <= (double)KILN_MAX_RESIZE_DIM)) {
                diag_node(d, n, "scale %g makes axis %d larger than kiln's limit of %d", sc[i], i,
                          KILN_MAX_RESIZE_DIM);
                return -1;
            }
            p->out.dims[i] = (int64_t)floor(sc[i] * (double)in);
        } else {
            if (in == 0 && sizes[i] > 0) {
                diag_node(d, n, "axis %d is empty and cannot be resized to %lld", i,
                          (long long)sizes[i]);
                return -1;
            }
            p->out.dims[i] = sizes[i];
        }
        kiln_resize_scale(p->given[i], in, p->out.dims[i], &p->scale[i], &p->out_w[i]);
    }
    return 0;
}

/* Taps of one axis: for output j, idx[j*4 + t] (clamped input positions)
 * with weights w[j*4 + t], t < *taps (2 or 4); idx[j*4] = -1 where
 * tf_crop_and_resize extrapolates. Returns 1 if the axis maps every output
 * position to the same input position with weight 1 (nothing to do). The
 * model computes the same taps at run time where a size is dynamic
 * (kiln_resize.h). */
static int resize_taps(const ResizePlan *p, int axis, int64_t in, int64_t *idx, double *w,
                       int *taps) {
    int64_t out = p->out.dims[axis];
    KilnResizeAxis a = {
        p->mode,        p->ctm_k,       p->nearest_k, p->exclude_outside,     p->cubic_a,
        p->scale[axis], p->out_w[axis], p->roi[axis], p->roi[axis + p->rank], in};
    int n = p->mode == RESIZE_CUBIC ? 4 : 2, identity = out == in;
    *taps = n;
    for (int64_t j = 0; j < out; j++) {
        int64_t *ij = idx + j * 4;
        double *wj = w + j * 4;
        if (kiln_resize_tap(&a, j, ij, wj)) {
            identity = 0;
            continue;
        }
        for (int t = 0; t < n; t++)
            if (wj[t] != 0 && (ij[t] != j || wj[t] != 1)) identity = 0;
    }
    return identity;
}

int shape_resize(Node *n, Diag *d) {
    ResizePlan *p = arena_alloc(n->graph->arena, sizeof *p);
    if (resize_plan(n, d, p)) return -1;
    Value *x = shapes_in(n, 0);
    if (p->mode != RESIZE_NEAREST && x->dtype != DT_F32) {
        diag_node(d, n, "%s resize of %s data is not supported",
                  p->mode == RESIZE_LINEAR ? "linear" : "cubic", dtype_onnx_name(x->dtype));
        diag_hint(d, "kiln interpolates float tensors");
        return -1;
    }
    /* Linear and cubic run axis by axis through two scratch buffers, each
     * as large as the largest intermediate. */
    n->scratch = 0;
    shapes_set(n, 0, x->dtype, &p->out);
    if (shapes_check_outputs(n, d)) return -1;
    if (p->mode != RESIZE_NEAREST) {
        Shape cur = x->shape;
        Dim big = 0;
        for (int i = 0; i < p->rank; i++) {
            cur.dims[i] = p->out.dims[i];
            int64_t bytes;
            if (shape_bytes_check(&cur, DT_F32, &bytes)) {
                diag_node(d, n,
                          "an intermediate of the resize is larger than kiln's limit of "
                          "%lld bytes",
                          (long long)KILN_MAX_TENSOR_BYTES);
                return -1;
            }
            big = dim_max(big, shape_count(&cur));
        }
        n->scratch = dim_add(dim_mul(big, 8), 128);
    }
    for (int k = 0; k < p->rank; k++) {
        ResizeTaps *t = &p->axis[k];
        int64_t out = p->out.dims[k];
        t->identity = 1;
        if (out < 0 || x->shape.dims[k] < 0) { /* taps at run time */
            t->identity = out == x->shape.dims[k] && p->ctm_k != KILN_CTM_TF_CROP_AND_RESIZE;
            t->taps = p->mode == RESIZE_CUBIC ? 4 : 2;
            continue;
        }
        t->idx = arena_alloc(n->graph->arena, sizeof(int64_t) * (size_t)(4 * out + 4));
        t->w = arena_alloc(n->graph->arena, sizeof(double) * (size_t)(4 * out + 4));
        t->identity = resize_taps(p, k, x->shape.dims[k], t->idx, t->w, &t->taps);
    }
    /* Taps the model computes (dynamic sizes) go into scratch after the
     * buffers: emit_resize lays them out in this order. */
    int ident[IR_MAX_RANK];
    Dim tables = 0;
    for (int k = 0; k < p->rank; k++) {
        ident[k] = p->axis[k].identity;
        if (p->mode != RESIZE_NEAREST && !ident[k] && (x->shape.dims[k] < 0 || p->out.dims[k] < 0))
            tables = dim_add(tables, dim_mul(p->out.dims[k], 12 * p->axis[k].taps));
    }
    if (p->mode == RESIZE_NEAREST) tables = gather_table_bytes(&x->shape, &p->out, ident);
    n->scratch = dim_add(n->scratch, tables);
    if (n->scratch == DIM_INVALID) {
        diag_node(d, n, "the scratch of this resize is not computable");
        return -1;
    }
    n->plan_kind = PLAN_RESIZE;
    n->plan.resize = p;
    shapes_set(n, 0, x->dtype, &p->out);
    return 0;
}
