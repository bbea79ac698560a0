/* shapes_quant.c: shape functions of the quantisation ops
 * (compiler/ir/ops_quant.def).
 *
 * Quantised tensors are uint8 or int8. A scale is float and a zero point
 * has the quantised tensor's type; each is one value (per tensor: a
 * scalar or any shape of one element) or a 1-D tensor with one value per
 * channel of the axis the op names (QuantizeLinear's and
 * DequantizeLinear's `axis`, the rows of A and the columns of B of a
 * matrix product, the output channels of a convolution's weights).
 *
 * The integer products (QLinearMatMul, QLinearConv) accumulate in int32
 * scratch, which is then requantised: the shape function reserves it. The
 * convolutions are 1-D or 2-D, with static channels and spatial dims (the
 * batch may be dynamic); their resolved geometry is a ConvPlan (ir.h) and
 * is written back as explicit attributes, as shapes_nn.c does.
 */
#include <string.h>

#include "kiln_kernel_abi.h"
#include "shapes.h"

static int q_is8(DType t) {
    return t == DT_U8 || t == DT_I8;
}

static const char *q_name(const Node *n, int i) {
    return n->inputs[i]->name;
}

/* -1 with a diagnostic unless input i (if present) has type t. */
static int q_dtype(Node *n, int i, DType t, const char *what, Diag *d) {
    Value *v = shapes_in(n, i);
    if (!v || v->dtype == t) return 0;
    diag_node(d, n, "%s '%s' is %s, expected %s", what, v->name, dtype_onnx_name(v->dtype),
              dtype_onnx_name(t));
    return -1;
}

/* -1 with a diagnostic unless input i is uint8 or int8. */
static int q_int8(Node *n, int i, const char *what, Diag *d) {
    Value *v = shapes_in(n, i);
    if (q_is8(v->dtype)) return 0;
    diag_node(d, n, "%s '%s' is %s; this op takes uint8 or int8", what, v->name,
              dtype_onnx_name(v->dtype));
    return -1;
}

/* A scale or zero point (input i, if present) that is one value, or, if
 * channels >= 0, one value or a 1-D tensor of `channels` values. *per is
 * set to 1 in the second case (untouched when absent). */
static int q_param(Node *n, int i, Dim channels, const char *what, int *per, Diag *d) {
    Value *v = shapes_in(n, i);
    char b[160];
    if (!v) return 0;
    int one = 1;
    for (int k = 0; k < v->shape.rank; k++)
        one &= v->shape.dims[k] == 1;
    if (one) return 0;
    if (channels >= 0 && v->shape.rank == 1 && v->shape.dims[0] == channels) {
        *per = 1;
        return 0;
    }
    if (channels >= 0)
        diag_node(d, n, "%s '%s' has shape %s; expected one value or [%lld]", what, v->name,
                  shapes_str(&v->shape, b), (long long)channels);
    else
        diag_node(d, n, "%s '%s' has shape %s; expected one value", what, v->name,
                  shapes_str(&v->shape, b));
    diag_hint(d, "a per-channel scale or zero point has one value per channel of its axis");
    return -1;
}

/* Scale i and zero point j (j < 0: none) of one tensor, indexed by
 * `channels` (-1: per tensor only); the zero point must be of type zt. */
static int q_pair(Node *n, int i, int j, DType zt, Dim channels, Diag *d) {
    int ps = 0, pz = 0;
    if (q_dtype(n, i, DT_F32, "scale", d) || q_param(n, i, channels, "scale", &ps, d)) return -1;
    if (j < 0 || !shapes_in(n, j)) return 0;
    if (q_dtype(n, j, zt, "zero point", d) || q_param(n, j, channels, "zero point", &pz, d))
        return -1;
    if (ps != pz) {
        diag_node(d, n,
                  "scale '%s' and zero point '%s' must both be per tensor or both per "
                  "channel",
                  q_name(n, i), q_name(n, j));
        return -1;
    }
    return 0;
}

/* QuantizeLinear and DequantizeLinear: the axis of per-axis parameters
 * (opset 13, a scale of more than one element); -1 for per-tensor ones,
 * whose axis attribute does not matter (it defaults to 1 even on rank 1). */
static int q_axis(Node *n, Diag *d, int64_t *axis) {
    Value *x = shapes_in(n, 0);
    *axis = -1;
    if (n->opset < 13 || shape_numel(&shapes_in(n, 1)->shape) == 1) return 0;
    return shapes_axis(n, ir_attr_int(n, "axis", 1), x->shape.rank, d, axis);
}

int shape_quantize_linear(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0), *zp = shapes_in(n, 2);
    int64_t axis;
    if (x->dtype != DT_F32) {
        diag_node(d, n, "input '%s' is %s; kiln quantises float", x->name,
                  dtype_onnx_name(x->dtype));
        return -1;
    }
    DType yt = zp ? zp->dtype : DT_U8;
    if (zp && q_int8(n, 2, "zero point", d)) return -1;
    if (q_axis(n, d, &axis) || q_pair(n, 1, 2, yt, axis >= 0 ? x->shape.dims[axis] : -1, d))
        return -1;
    shapes_set(n, 0, yt, &x->shape);
    return 0;
}

int shape_dequantize_linear(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0);
    int64_t axis;
    if (!q_is8(x->dtype) && x->dtype != DT_I32) {
        diag_node(d, n, "input '%s' is %s; this op takes uint8, int8 or int32", x->name,
                  dtype_onnx_name(x->dtype));
        return -1;
    }
    if (q_axis(n, d, &axis) || q_pair(n, 1, 2, x->dtype, axis >= 0 ? x->shape.dims[axis] : -1, d))
        return -1;
    shapes_set(n, 0, DT_F32, &x->shape);
    return 0;
}

int shape_dynamic_quantize(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0);
    Shape scalar = {0, {0}};
    if (q_dtype(n, 0, DT_F32, "input", d)) return -1;
    shapes_set(n, 0, DT_U8, &x->shape);
    shapes_set(n, 1, DT_F32, &scalar);
    shapes_set(n, 2, DT_U8, &scalar);
    return 0;
}

/* The scratch of the integer products: `floats` floats for the kernel
 * (kiln_matmul_int_scratch, kiln_conv_int_scratch), then, if `acc`, an
 * int32 accumulator the size of output 0 at q_acc_offset(floats). */
static int q_scratch(Node *n, Dim floats, int acc, Diag *d) {
    if (shapes_check_outputs(n, d)) return -1;
    Dim bytes = dim_mul(dim_ceildiv(dim_mul(floats, 4), 64), 64);
    if (acc) bytes = dim_add(bytes, dim_mul(shape_count(&n->outputs[0]->shape), 4));
    int64_t lo, hi;
    if (bytes == DIM_INVALID || dim_bounds(bytes, &lo, &hi) || hi > KILN_MAX_DYN_BYTES) {
        diag_node(d, n, "the integer product needs more scratch than kiln's limit of %lld bytes",
                  (long long)KILN_MAX_DYN_BYTES);
        return -1;
    }
    n->scratch = bytes;
    return 0;
}

/* Matrix products' float scratch: kiln_matmul_int_scratch(M, N, K). */
static Dim q_matmul_floats(Node *n, int ia, Dim M, Dim N) {
    const Shape *a = &shapes_in(n, ia)->shape;
    Dim K = a->dims[a->rank - 1];
    return dim_add(dim_add(dim_mul(M, K), dim_mul(K, N)), dim_mul(M, N));
}

int shape_qlinear_matmul(Node *n, Diag *d) {
    Shape s;
    Dim M, N;
    if (q_int8(n, 0, "input", d) || q_int8(n, 3, "input", d) || q_int8(n, 7, "zero point", d) ||
        shapes_matmul(n, 0, 3, &s, &M, &N, d))
        return -1;
    if (q_pair(n, 1, 2, shapes_in(n, 0)->dtype, M, d) ||
        q_pair(n, 4, 5, shapes_in(n, 3)->dtype, N, d) ||
        q_pair(n, 6, 7, shapes_in(n, 7)->dtype, -1, d))
        return -1;
    shapes_set(n, 0, shapes_in(n, 7)->dtype, &s);
    return q_scratch(n, q_matmul_floats(n, 0, M, N), 1, d);
}

int shape_matmul_integer(Node *n, Diag *d) {
    Shape s;
    Dim M, N;
    int per = 0;
    if (q_int8(n, 0, "input", d) || q_int8(n, 1, "input", d) ||
        shapes_matmul(n, 0, 1, &s, &M, &N, d))
        return -1;
    if (q_dtype(n, 2, shapes_in(n, 0)->dtype, "zero point", d) ||
        q_param(n, 2, M, "zero point", &per, d) ||
        q_dtype(n, 3, shapes_in(n, 1)->dtype, "zero point", d) ||
        q_param(n, 3, N, "zero point", &per, d))
        return -1;
    shapes_set(n, 0, DT_I32, &s);
    return q_scratch(n, q_matmul_floats(n, 0, M, N), 0, d);
}

/* --- convolutions ------------------------------------------------------------------ */

/* An INTS attribute of r values (dflt when absent). */
static int q_ints(Node *n, const char *name, int r, int64_t dflt, int64_t *out, Diag *d) {
    const Attr *a = ir_attr(n, name);
    if (!a) {
        for (int i = 0; i < r; i++)
            out[i] = dflt;
        return 0;
    }
    if (a->kind != ATTR_INTS || a->n != r) {
        diag_node(d, n, "attribute '%s' has %d values, expected %d", name,
                  a->kind == ATTR_INTS ? a->n : 1, r);
        return -1;
    }
    memcpy(out, a->ints, sizeof(int64_t) * (size_t)r);
    return 0;
}

static void q_ints_set(Node *n, const char *name, int count, const int64_t *v) {
    Attr *a = ir_attr_set(n, name, ATTR_INTS);
    a->n = count;
    a->ints = arena_alloc(n->graph->arena, sizeof(int64_t) * (size_t)(count ? count : 1));
    memcpy(a->ints, v, sizeof(int64_t) * (size_t)count);
}

/* X (input ix) [N, C, D...] and W (input iw) [M, C/group, k...] with 1 or 2
 * static spatial dims: resolves the geometry into a ConvPlan, sets output
 * 0 to [N, M, out...] of type t and reserves int32 scratch if `acc`. */
static int q_conv_shape(Node *n, int ix, int iw, DType t, int acc, Diag *d) {
    Value *x = shapes_in(n, ix), *w = shapes_in(n, iw);
    char b1[160], b2[160];
    int r = x->shape.rank - 2;
    if (r < 1 || r > 2 || w->shape.rank != x->shape.rank) {
        diag_node(d, n,
                  "input '%s' %s and weights '%s' %s: kiln supports 1-D and 2-D integer "
                  "convolutions, [N, C, D...] with [M, C/group, k...]",
                  x->name, shapes_str(&x->shape, b1), w->name, shapes_str(&w->shape, b2));
        return -1;
    }
    for (int i = 1; i < x->shape.rank; i++)
        if (x->shape.dims[i] < 0 || w->shape.dims[i - 1] < 0 ||
            w->shape.dims[x->shape.rank - 1] < 0) {
            diag_node(d, n, "input '%s' %s: channels and spatial dims must have a fixed size",
                      x->name, shapes_str(&x->shape, b1));
            diag_hint(d, "pin the dims with --shape INPUT=DIMS or --dim NAME=SIZE");
            return -1;
        }
    int64_t group = ir_attr_int(n, "group", 1), C = x->shape.dims[1], M = w->shape.dims[0];
    if (group < 1 || C % group || M % group || w->shape.dims[1] != C / group) {
        diag_node(d, n, "weights '%s' %s do not fit input '%s' %s with group=%lld", w->name,
                  shapes_str(&w->shape, b1), x->name, shapes_str(&x->shape, b2), (long long)group);
        diag_hint(d, "weights are [M, C/group, k...] with M divisible by group");
        return -1;
    }
    int64_t k[2], s[2], dl[2], pads[4];
    if (q_ints(n, "kernel_shape", r, 0, k, d) || q_ints(n, "strides", r, 1, s, d) ||
        q_ints(n, "dilations", r, 1, dl, d) || q_ints(n, "pads", 2 * r, 0, pads, d))
        return -1;
    const char *ap = ir_attr_str(n, "auto_pad", "NOTSET");
    if (!*ap) ap = "NOTSET";
    int same = strncmp(ap, "SAME", 4) == 0;
    if (strcmp(ap, "NOTSET") && strcmp(ap, "VALID") && !same) {
        diag_node(d, n, "auto_pad '%s' is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER", ap);
        return -1;
    }
    ConvPlan *p = arena_alloc(n->graph->arena, sizeof *p);
    memset(p, 0, sizeof *p);
    p->rank = r;
    p->group = group;
    Shape os = {2 + r, {x->shape.dims[0], M}};
    for (int i = 0; i < r; i++) {
        int64_t in = x->shape.dims[2 + i], kk = w->shape.dims[2 + i];
        if (ir_attr(n, "kernel_shape") && k[i] != kk) {
            diag_node(d, n, "kernel_shape[%d] = %lld but the weights have %lld", i, (long long)k[i],
                      (long long)kk);
            return -1;
        }
        int64_t pb = pads[i], pe = pads[r + i];
        if (s[i] < 1 || dl[i] < 1 || pb < 0 || pe < 0 || s[i] > KILN_MAX_DIM ||
            dl[i] > KILN_MAX_DIM || pb > KILN_MAX_DIM || pe > KILN_MAX_DIM) {
            diag_node(d, n,
                      "axis %d: stride %lld, dilation %lld, pads %lld/%lld: sizes must be "
                      "positive (at most %lld) and pads not negative",
                      i, (long long)s[i], (long long)dl[i], (long long)pb, (long long)pe,
                      (long long)KILN_MAX_DIM);
            return -1;
        }
        int64_t ext = (kk - 1) * dl[i] + 1, out;
        if (same) {
            out = (in + s[i] - 1) / s[i];
            int64_t total = (out - 1) * s[i] + ext - in;
            total = total < 0 ? 0 : total;
            pb = strcmp(ap, "SAME_UPPER") == 0 ? total / 2 : total - total / 2;
            pe = total - pb;
        } else {
            if (strcmp(ap, "VALID") == 0) pb = pe = 0;
            int64_t span = in + pb + pe - ext;
            if (span < 0) {
                diag_node(d, n,
                          "axis %d: the window (%lld with dilation) is larger than the "
                          "padded input (%lld)",
                          i, (long long)ext, (long long)(in + pb + pe));
                return -1;
            }
            out = span / s[i] + 1;
        }
        p->kernel[i] = kk;
        p->stride[i] = s[i];
        p->dilation[i] = dl[i];
        p->pad_begin[i] = pads[i] = pb;
        p->pad_end[i] = pads[r + i] = pe;
        p->out[i] = out;
        k[i] = kk;
        os.dims[2 + i] = out;
    }
    q_ints_set(n, "kernel_shape", r, k);
    q_ints_set(n, "strides", r, s);
    q_ints_set(n, "dilations", r, dl);
    q_ints_set(n, "pads", 2 * r, pads);
    for (int i = 0; i < n->n_attrs; i++)
        if (strcmp(n->attrs[i].name, "auto_pad") == 0) n->attrs[i].s = "NOTSET";
    n->plan_kind = PLAN_CONV;
    n->plan.conv = p;
    shapes_set(n, 0, t, &os);
    Dim K = w->shape.dims[1];
    for (int i = 0; i < r; i++)
        K = dim_mul(K, k[i]);
    return q_scratch(
        n,
        dim_add(dim_mul(M, K), dim_add(KILN_QUANT_KC * KILN_QUANT_PC, dim_mul(M, KILN_QUANT_PC))),
        acc, d);
}

int shape_qlinear_conv(Node *n, Diag *d) {
    Value *b = shapes_in(n, 8);
    if (q_int8(n, 0, "input", d) || q_int8(n, 3, "weights", d) || q_int8(n, 7, "zero point", d) ||
        q_pair(n, 1, 2, shapes_in(n, 0)->dtype, -1, d) ||
        q_pair(n, 4, 5, shapes_in(n, 3)->dtype, shapes_in(n, 3)->shape.dims[0], d) ||
        q_pair(n, 6, 7, shapes_in(n, 7)->dtype, -1, d))
        return -1;
    if (b) {
        char s[160];
        if (q_dtype(n, 8, DT_I32, "bias", d)) return -1;
        if (b->shape.rank != 1 || b->shape.dims[0] != shapes_in(n, 3)->shape.dims[0]) {
            diag_node(d, n, "bias '%s' has shape %s, expected [%lld]", b->name,
                      shapes_str(&b->shape, s), (long long)shapes_in(n, 3)->shape.dims[0]);
            return -1;
        }
    }
    return q_conv_shape(n, 0, 3, shapes_in(n, 7)->dtype, 1, d);
}

int shape_conv_integer(Node *n, Diag *d) {
    int per = 0;
    if (q_int8(n, 0, "input", d) || q_int8(n, 1, "weights", d) ||
        q_dtype(n, 2, shapes_in(n, 0)->dtype, "zero point", d) ||
        q_param(n, 2, -1, "zero point", &per, d) ||
        q_dtype(n, 3, shapes_in(n, 1)->dtype, "zero point", d) ||
        q_param(n, 3, shapes_in(n, 1)->shape.dims[0], "zero point", &per, d))
        return -1;
    return q_conv_shape(n, 0, 1, DT_I32, 0, d);
}
