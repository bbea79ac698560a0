/* shapes_nn.c: shape functions of convolution, pooling and normalisation.
 *
 * Convolutions and pools share one geometry: per spatial axis a kernel
 * size, stride, dilation and the pads before and after. ONNX spells it in
 * several ways (auto_pad SAME_UPPER/SAME_LOWER/VALID, kernel_shape left to
 * the weights, ConvTranspose's output_shape); the shape function resolves
 * them once, stores the result on the node as a ConvPlan (ir.h), which is
 * what codegen reads, and writes it back as explicit attributes
 * (kernel_shape, strides, dilations, pads; auto_pad becomes NOTSET), so
 * the dump shows the resolved form and running inference again gives the
 * same answer.
 *
 * The batch and spatial dims may be symbolic (their output sizes are then
 * expressions, checked at run time not to fall below 1); channels must
 * be static.
 */
#include <string.h>

#include "kiln_kernel_abi.h"
#include "shapes.h"

#define MAX_SPATIAL IR_MAX_SPATIAL

typedef struct Geom {
    int r;                                  /* spatial rank: 1, 2 or 3 */
    int64_t k[MAX_SPATIAL], s[MAX_SPATIAL]; /* kernel, stride */
    int64_t dil[MAX_SPATIAL];
    int64_t pb[MAX_SPATIAL], pe[MAX_SPATIAL]; /* pads before, after */
} Geom;

/* An INTS attribute of length want into out (dflt everywhere when absent);
 * -1 with a diagnostic when its length is wrong. */
static int read_ints(Node *n, Diag *d, const char *name, int want, int64_t dflt, int64_t *out) {
    const Attr *a = ir_attr(n, name);
    if (!a) {
        for (int i = 0; i < want; i++)
            out[i] = dflt;
        return 0;
    }
    if (a->kind != ATTR_INTS || a->n != want) {
        diag_node(d, n, "attribute '%s' has %d values, expected %d (one per spatial axis%s)", name,
                  a->kind == ATTR_INTS ? a->n : 1, want, want > 3 ? ", begins then ends" : "");
        return -1;
    }
    memcpy(out, a->ints, sizeof(int64_t) * (size_t)want);
    return 0;
}

/* Sets (or replaces) an INTS attribute. */
static void write_ints(Node *n, const char *name, int count, const int64_t *v) {
    Attr *a = ir_attr_set(n, name, ATTR_INTS);
    a->n = count;
    a->ints = arena_alloc(n->graph->arena, sizeof(int64_t) * (size_t)(count ? count : 1));
    memcpy(a->ints, v, sizeof(int64_t) * (size_t)count);
}

static void write_geom(Node *n, const Geom *g) {
    int64_t pads[2 * MAX_SPATIAL];
    for (int i = 0; i < g->r; i++) {
        pads[i] = g->pb[i];
        pads[g->r + i] = g->pe[i];
    }
    write_ints(n, "kernel_shape", g->r, g->k);
    write_ints(n, "strides", g->r, g->s);
    write_ints(n, "dilations", g->r, g->dil);
    write_ints(n, "pads", 2 * g->r, pads);
    for (int i = 0; i < n->n_attrs; i++)
        if (strcmp(n->attrs[i].name, "auto_pad") == 0) n->attrs[i].s = "NOTSET";
}

/* Records the geometry, the group and the output's spatial sizes as n's plan. */
static void set_plan(Node *n, const Geom *g, int64_t group, const Dim *out) {
    ConvPlan *p = arena_alloc(n->graph->arena, sizeof *p);
    p->rank = g->r;
    p->group = group;
    for (int i = 0; i < g->r; i++) {
        p->kernel[i] = g->k[i];
        p->stride[i] = g->s[i];
        p->dilation[i] = g->dil[i];
        p->pad_begin[i] = g->pb[i];
        p->pad_end[i] = g->pe[i];
        p->out[i] = out[i];
    }
    n->plan_kind = PLAN_CONV;
    n->plan.conv = p;
}

/* Checks X: rank 3..5, static channels and spatial dims. */
static int check_spatial_input(Node *n, Diag *d, const Value *x) {
    char b[160];
    if (x->shape.rank < 3 || x->shape.rank > 2 + MAX_SPATIAL) {
        diag_node(d, n, "input '%s' has shape %s; expected [N, C, D1...] with 1 to 3 spatial dims",
                  x->name, shapes_str(&x->shape, b));
        return -1;
    }
    if (x->shape.dims[1] < 0) {
        diag_node(d, n, "input '%s' %s: the channels (dim 1) must have a fixed size", x->name,
                  shapes_str(&x->shape, b));
        diag_hint(d, "pin the dim with --shape NAME=DIMS or --dim NAME=SIZE");
        return -1;
    }
    return 0;
}

/* The auto_pad attribute as one of "NOTSET", "VALID", "SAME_UPPER",
 * "SAME_LOWER"; NULL with a diagnostic otherwise. */
static const char *read_auto_pad(Node *n, Diag *d) {
    const char *ap = ir_attr_str(n, "auto_pad", "NOTSET");
    if (!*ap) ap = "NOTSET";
    if (strcmp(ap, "NOTSET") && strcmp(ap, "VALID") && strcmp(ap, "SAME_UPPER") &&
        strcmp(ap, "SAME_LOWER")) {
        diag_node(d, n, "auto_pad '%s' is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER", ap);
        return NULL;
    }
    return ap;
}

/* Kernel, strides, dilations and explicit pads. kernel: the weights'
 * spatial dims, or NULL when kernel_shape is required (pools). */
static int read_geom(Node *n, Diag *d, int r, const int64_t *kernel, Geom *g) {
    int64_t pads[2 * MAX_SPATIAL];
    g->r = r;
    if (!ir_attr(n, "kernel_shape") && !kernel) {
        diag_node(d, n, "attribute 'kernel_shape' is required");
        return -1;
    }
    if (read_ints(n, d, "kernel_shape", r, 1, g->k) || read_ints(n, d, "strides", r, 1, g->s) ||
        read_ints(n, d, "dilations", r, 1, g->dil) || read_ints(n, d, "pads", 2 * r, 0, pads))
        return -1;
    for (int i = 0; i < r; i++) {
        if (!ir_attr(n, "kernel_shape")) g->k[i] = kernel[i];
        if (kernel && g->k[i] != kernel[i]) {
            diag_node(d, n, "kernel_shape[%d] = %lld but the weights have %lld", i,
                      (long long)g->k[i], (long long)kernel[i]);
            return -1;
        }
        g->pb[i] = pads[i];
        g->pe[i] = pads[r + i];
        if (g->k[i] > KILN_MAX_DIM || g->s[i] > KILN_MAX_DIM || g->dil[i] > KILN_MAX_DIM ||
            g->pb[i] > KILN_MAX_DIM || g->pe[i] > KILN_MAX_DIM) {
            diag_node(d, n,
                      "axis %d: kernel %lld, stride %lld, dilation %lld, pads %lld/%lld: above "
                      "kiln's limit of %lld",
                      i, (long long)g->k[i], (long long)g->s[i], (long long)g->dil[i],
                      (long long)g->pb[i], (long long)g->pe[i], (long long)KILN_MAX_DIM);
            diag_hint(d, "the node's attributes are corrupt; re-export the model");
            return -1;
        }
        /* With every size in [0, KILN_MAX_DIM], the arithmetic of
         * conv_out() and shape_conv_transpose() stays within int64. */
        if (g->k[i] < 1 || g->s[i] < 1 || g->dil[i] < 1 || g->pb[i] < 0 || g->pe[i] < 0) {
            diag_node(d, n,
                      "axis %d: kernel %lld, stride %lld, dilation %lld, pads %lld/%lld: "
                      "sizes must be positive and pads not negative",
                      i, (long long)g->k[i], (long long)g->s[i], (long long)g->dil[i],
                      (long long)g->pb[i], (long long)g->pe[i]);
            return -1;
        }
    }
    return 0;
}

/* Output spatial sizes of a convolution or pool of input `in` (spatial
 * dims); resolves auto_pad into g's pads. ceil_mode: pools only. */
static int conv_out(Node *n, Diag *d, const Dim *in, int ceil_mode, Geom *g, Dim *out) {
    const char *ap = read_auto_pad(n, d);
    if (!ap) return -1;
    for (int i = 0; i < g->r; i++) {
        int64_t ext = (g->k[i] - 1) * g->dil[i] + 1; /* the dilated window */
        if (in[i] < 0) { /* a symbolic size: the same formulas on Dims */
            char what[64];
            snprintf(what, sizeof what, "the padded input of axis %d less the window", i);
            if (strncmp(ap, "SAME", 4) == 0) {
                if (g->s[i] != 1) {
                    diag_node(d, n,
                              "auto_pad %s with stride %lld on dynamic axis %d is not "
                              "supported yet (its pads depend on the size)",
                              ap, (long long)g->s[i], i);
                    diag_hint(d, "pin the dim with --shape or re-export with explicit pads");
                    return -1;
                }
                out[i] = in[i];
                g->pb[i] = strcmp(ap, "SAME_UPPER") == 0 ? (ext - 1) / 2 : ext - 1 - (ext - 1) / 2;
                g->pe[i] = ext - 1 - g->pb[i];
                continue;
            }
            if (strcmp(ap, "VALID") == 0) g->pb[i] = g->pe[i] = 0;
            Dim span = dim_sub(dim_add(in[i], g->pb[i] + g->pe[i]), ext);
            if (ceil_mode && g->s[i] != 1) {
                diag_node(d, n,
                          "ceil_mode with stride %lld on dynamic axis %d is not supported "
                          "yet",
                          (long long)g->s[i], i);
                diag_hint(d, "pin the dim with --shape INPUT=DIMS or --dim NAME=SIZE");
                return -1;
            }
            if (span == DIM_INVALID || shapes_dim_min(n, span, 0, what)) {
                diag_node(d, n,
                          "axis %d: the window (%lld with dilation) is larger than the "
                          "padded input at every size the bounds allow",
                          i, (long long)ext);
                return -1;
            }
            out[i] = dim_add(dim_floordiv(span, g->s[i]), 1);
            continue;
        }
        if (strncmp(ap, "SAME", 4) == 0) {
            out[i] = (in[i] + g->s[i] - 1) / g->s[i];
            int64_t total = (out[i] - 1) * g->s[i] + ext - in[i];
            total = total < 0 ? 0 : total;
            g->pb[i] = strcmp(ap, "SAME_UPPER") == 0 ? total / 2 : total - total / 2;
            g->pe[i] = total - g->pb[i];
            continue;
        }
        if (strcmp(ap, "VALID") == 0) g->pb[i] = g->pe[i] = 0;
        int64_t span = in[i] + g->pb[i] + g->pe[i] - ext;
        if (span < 0) {
            char b[160];
            diag_node(d, n,
                      "axis %d: the window (%lld with dilation) is larger than the padded "
                      "input (%lld) of '%s' %s",
                      i, (long long)ext, (long long)(in[i] + g->pb[i] + g->pe[i]),
                      n->inputs[0]->name, shapes_str(&n->inputs[0]->shape, b));
            return -1;
        }
        out[i] = (ceil_mode ? (span + g->s[i] - 1) / g->s[i] : span / g->s[i]) + 1;
        /* A ceil_mode window must start inside the input or its left pad
         * (as PyTorch and ONNX's reference do). */
        if (ceil_mode && (out[i] - 1) * g->s[i] >= in[i] + g->pb[i]) out[i]--;
    }
    return 0;
}

static int check_float(Node *n, Diag *d, const Value *v) {
    if (v->dtype == DT_F32 || v->dtype == DT_F64 || v->dtype == DT_F16) return 0;
    diag_node(d, n, "input '%s' is %s; this op takes float, double or float16", v->name,
              dtype_onnx_name(v->dtype));
    return -1;
}

/* -1 with a diagnostic unless X is float, [N, C, ...] with at least
 * min_rank dims, and C is not the batch dim. */
static int check_channels(Node *n, Diag *d, const Value *x, int min_rank) {
    char b[160];
    if (check_float(n, d, x)) return -1;
    if (x->shape.rank >= min_rank && x->shape.dims[1] >= 0) return 0;
    diag_node(d, n, "input '%s' has shape %s; expected %s", x->name, shapes_str(&x->shape, b),
              min_rank < 3 ? "[N, C, ...]" : "[N, C, D1...]");
    return -1;
}

/* A per-channel operand (bias, scale, mean, var) must be [C] of X's type. */
static int check_per_channel(Node *n, Diag *d, int i, int64_t C, const char *what) {
    Value *v = shapes_in(n, i), *x = shapes_in(n, 0);
    char b[160];
    if (!v) return 0;
    if (v->shape.rank != 1 || v->shape.dims[0] != C) {
        diag_node(d, n, "%s '%s' has shape %s, expected [%lld]", what, v->name,
                  shapes_str(&v->shape, b), (long long)C);
        return -1;
    }
    if (v->dtype != x->dtype) {
        diag_node(d, n, "%s '%s' is %s but the input is %s", what, v->name,
                  dtype_onnx_name(v->dtype), dtype_onnx_name(x->dtype));
        return -1;
    }
    return 0;
}

/* Output [N, channels, out...]. */
static void set_spatial_out(Node *n, int i, DType t, Dim batch, Dim channels, int r,
                            const Dim *out) {
    Shape s = {2 + r, {batch, channels}};
    for (int k = 0; k < r; k++)
        s.dims[2 + k] = out[k];
    shapes_set(n, i, t, &s);
}

/* Conv and ConvTranspose: -1 with a diagnostic unless X is a float
 * [N, C, D...], W has its type and rank, and W's channel dims fit C and
 * the group: [M, C/group, k...] with M divisible by group, or for
 * ConvTranspose [C, M/group, k...]. */
static int check_conv_operands(Node *n, Diag *d, int transpose) {
    Value *x = shapes_in(n, 0), *w = shapes_in(n, 1);
    char b1[160], b2[160];
    if (check_spatial_input(n, d, x) || check_float(n, d, x) || shapes_same_dtype(n, 0, 1, d))
        return -1;
    int64_t group = ir_attr_int(n, "group", 1), C = x->shape.dims[1];
    const int64_t *wd = w->shape.dims;
    if (w->shape.rank == x->shape.rank && group >= 1 && C % group == 0 &&
        (transpose ? wd[0] == C : wd[1] == C / group && wd[0] % group == 0))
        return 0;
    diag_node(d, n, "weights '%s' %s do not fit input '%s' %s with group=%lld", w->name,
              shapes_str(&w->shape, b1), x->name, shapes_str(&x->shape, b2), (long long)group);
    diag_hint(d, transpose ? "ConvTranspose weights are [C, M/group, k...]"
                           : "Conv weights are [M, C/group, k...] with M divisible by group");
    return -1;
}

int shape_conv(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0), *w = shapes_in(n, 1);
    if (n->n_inputs > 3 && !n->conv_residual) {
        diag_node(d, n, "has %d inputs, Conv takes 2 to 3", n->n_inputs);
        diag_hint(d, "the model is malformed; check it with onnx.checker.check_model");
        return -1;
    }
    if (check_conv_operands(n, d, 0)) return -1;
    int r = x->shape.rank - 2;
    int64_t group = ir_attr_int(n, "group", 1), C = x->shape.dims[1];
    int64_t M = w->shape.dims[0];
    if (check_per_channel(n, d, 2, M, "bias")) return -1;
    Geom g;
    Dim out[MAX_SPATIAL];
    if (read_geom(n, d, r, w->shape.dims + 2, &g) || conv_out(n, d, x->shape.dims + 2, 0, &g, out))
        return -1;
    write_geom(n, &g);
    set_plan(n, &g, group, out);
    set_spatial_out(n, 0, x->dtype, x->shape.dims[0], M, r, out);
    if (shapes_check_outputs(n, d)) return -1; /* bounds O3 below */

    /* Scratch: as 3-D, with unit leading dims for 1-D and 2-D; the
     * kernels' formulas (kiln_kernel_abi.h) on Dims. */
    Dim O3[3] = {1, 1, 1};
    int64_t K3[3] = {1, 1, 1};
    for (int i = 0; i < r; i++) {
        O3[3 - r + i] = out[i];
        K3[3 - r + i] = g.k[i];
    }
    Dim floats = 1;
    /* Depthwise (one input channel per group, emit_conv_depthwise) needs none. */
    int dw = C / group == 1 && group > 1;
    if (dw) {
        floats = 0;
    } else {
        /* kiln_conv_scratch_floats, with P possibly symbolic. */
        int64_t K = C / group * K3[0] * K3[1] * K3[2];
        Dim pixels = dim_mul(dim_mul(O3[0], O3[1]), O3[2]);
        Dim nb = dim_min(dim_mul(dim_ceildiv(pixels, KILN_CONV_VEC), KILN_CONV_VEC),
                         kiln_conv_nb_cap(K));
        floats = dim_mul(KILN_CONV_MAX_TASKS * kiln_conv_kc(K), nb);
        /* Winograd's kernels where emit_conv may take them (the same
         * test; --conv direct does not): enough for either. */
        int T = n->op == OP_CONV
                    ? kiln_conv_wino_tile(r, C / group, M / group, g.k[0], g.k[r - 1], g.s[0],
                                          g.s[r - 1], g.dil[0], g.dil[r - 1], out[0], out[r - 1])
                    : 0;
        if (T) floats = dim_max(floats, kiln_conv_wino_scratch_floats(T, C / group));
    }
    Dim bytes = dim_mul(floats, (int64_t)sizeof(float));
    int64_t lo, hi;
    if (bytes == DIM_INVALID || dim_bounds(bytes, &lo, &hi) || hi > KILN_MAX_DYN_BYTES ||
        (bytes >= 0 && bytes > KILN_MAX_TENSOR_BYTES)) {
        diag_node(d, n, "the convolution needs more than kiln's limit of %lld bytes of scratch",
                  (long long)KILN_MAX_TENSOR_BYTES);
        diag_hint(d, "the node's pads or sizes are corrupt, or the convolution is too large");
        return -1;
    }
    n->scratch = bytes;
    return 0;
}

int shape_conv_transpose(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0), *w = shapes_in(n, 1);
    if (check_conv_operands(n, d, 1)) return -1;
    int r = x->shape.rank - 2;
    int64_t group = ir_attr_int(n, "group", 1);
    int64_t M = w->shape.dims[1] * group;
    if (check_per_channel(n, d, 2, M, "bias")) return -1;
    Geom g;
    int64_t opad[MAX_SPATIAL], want[IR_MAX_RANK];
    Dim out[MAX_SPATIAL] = {0};
    /* With output_shape the pads are computed, not read (ONNX ignores the
     * attribute then); they may be negative, so the ones an earlier run
     * wrote back must not reach read_geom's checks. */
    if (ir_attr(n, "output_shape") && ir_attr(n, "pads")) {
        int64_t zeros[2 * MAX_SPATIAL] = {0};
        write_ints(n, "pads", 2 * r, zeros);
    }
    if (read_geom(n, d, r, w->shape.dims + 2, &g) || read_ints(n, d, "output_padding", r, 0, opad))
        return -1;
    const char *ap = read_auto_pad(n, d);
    if (!ap) return -1;
    const Attr *os = ir_attr(n, "output_shape");
    if (os && (os->kind != ATTR_INTS || (os->n != r && os->n != r + 2))) {
        diag_node(d, n, "output_shape has %d values, expected %d (spatial) or %d", os->n, r, r + 2);
        return -1;
    }
    for (int i = 0; i < r; i++) {
        int64_t in = x->shape.dims[2 + i];
        int64_t given = os ? os->ints[os->n - r + i] : 1;
        if (opad[i] < 0 || opad[i] > KILN_MAX_DIM || given < 0 || given > KILN_MAX_DIM) {
            diag_node(d, n, "axis %d: output_padding %lld or output_shape %lld is outside 0..%lld",
                      i, (long long)opad[i], (long long)given, (long long)KILN_MAX_DIM);
            return -1;
        }
        if (in < 0) { /* a symbolic size: explicit pads only, the same formula on Dims */
            if (os || strncmp(ap, "SAME", 4) == 0) {
                diag_node(d, n,
                          "output_shape or auto_pad %s on dynamic axis %d is not supported "
                          "yet",
                          ap, i);
                diag_hint(d, "pin the dim with --shape INPUT=DIMS or --dim NAME=SIZE");
                return -1;
            }
            if (strcmp(ap, "VALID") == 0) g.pb[i] = g.pe[i] = 0;
            out[i] = dim_add(dim_mul(dim_sub(in, 1), g.s[i]),
                             opad[i] + (g.k[i] - 1) * g.dil[i] + 1 - g.pb[i] - g.pe[i]);
            char what[64];
            snprintf(what, sizeof what, "output size of axis %d", i);
            if (out[i] == DIM_INVALID || shapes_dim_min(n, out[i], 1, what)) {
                diag_node(d, n, "axis %d: the output size is below 1 at every size", i);
                return -1;
            }
            continue;
        }
        /* Every term is at most KILN_MAX_DIM^2 (read_geom bounds them), so
         * the sums below cannot overflow. */
        int64_t full = g.s[i] * (in - 1) + opad[i] + (g.k[i] - 1) * g.dil[i] + 1;
        if (os || strncmp(ap, "SAME", 4) == 0) {
            /* The output size is given; the pads are what makes it so. */
            want[i] = os ? given : in * g.s[i];
            int64_t total = full - want[i];
            /* Halves rounded down, also when negative (an output larger
             * than the natural one), as ONNX's reference computes them. */
            int64_t half = total >= 0 ? total / 2 : -((1 - total) / 2);
            int upper = strcmp(ap, "SAME_UPPER") == 0;
            g.pb[i] = upper ? half : total - half;
            g.pe[i] = total - g.pb[i];
            out[i] = want[i];
        } else {
            if (strcmp(ap, "VALID") == 0) g.pb[i] = g.pe[i] = 0;
            out[i] = full - g.pb[i] - g.pe[i];
        }
        if (out[i] < 1) {
            diag_node(d, n, "axis %d: the output size would be %lld", i, (long long)out[i]);
            return -1;
        }
    }
    /* Pads here may be negative (an output_shape larger than the natural
     * one): write them directly rather than through read_geom's checks. */
    write_geom(n, &g);
    set_plan(n, &g, group, out);
    set_spatial_out(n, 0, x->dtype, x->shape.dims[0], M, r, out);
    return 0;
}

int shape_batchnorm(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0);
    if (ir_attr_int(n, "training_mode", 0) ||
        (n->n_outputs > 1 && n->outputs[1] && n->opset >= 7)) {
        diag_node(d, n,
                  "BatchNormalization in training mode (running statistics as outputs) "
                  "is not supported");
        diag_hint(d, "export the model with model.eval()");
        return -1;
    }
    if (!ir_attr_int(n, "spatial", 1)) {
        diag_node(d, n, "spatial=0 (per-element statistics) is not supported");
        diag_hint(d, "re-export the model with opset >= 9");
        return -1;
    }
    if (check_channels(n, d, x, 2)) return -1;
    static const char *const what[] = {"", "scale", "bias", "mean", "var"};
    for (int i = 1; i < 5; i++)
        if (check_per_channel(n, d, i, x->shape.dims[1], what[i])) return -1;
    shapes_set(n, 0, x->dtype, &x->shape);
    return 0;
}

int shape_instancenorm(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0);
    if (check_channels(n, d, x, 3)) return -1;
    if (check_per_channel(n, d, 1, x->shape.dims[1], "scale") ||
        check_per_channel(n, d, 2, x->shape.dims[1], "bias"))
        return -1;
    shapes_set(n, 0, x->dtype, &x->shape);
    return 0;
}

int shape_lrn(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0);
    if (check_channels(n, d, x, 3)) return -1;
    int64_t size = ir_attr_int(n, "size", 0);
    if (size < 1 || size > KILN_MAX_DIM) {
        diag_node(d, n, "attribute 'size' is required and must be in 1..%lld, is %lld",
                  (long long)KILN_MAX_DIM, (long long)size);
        return -1;
    }
    shapes_set(n, 0, x->dtype, &x->shape);
    return 0;
}

/* MaxPool and AveragePool. */
int shape_pool(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0);
    if (check_spatial_input(n, d, x)) return -1;
    int is_max = n->op == OP_MAXPOOL;
    if (!is_max && check_float(n, d, x)) return -1;
    int r = x->shape.rank - 2;
    Geom g;
    Dim out[MAX_SPATIAL];
    if (read_geom(n, d, r, NULL, &g)) return -1;
    for (int i = 0; !is_max && i < r; i++)
        if (g.dil[i] != 1) {
            diag_node(d, n, "AveragePool with dilations is not supported");
            return -1;
        }
    if (conv_out(n, d, x->shape.dims + 2, (int)ir_attr_int(n, "ceil_mode", 0), &g, out)) return -1;
    write_geom(n, &g);
    set_plan(n, &g, 1, out);
    set_spatial_out(n, 0, x->dtype, x->shape.dims[0], x->shape.dims[1], r, out);
    set_spatial_out(n, 1, DT_I64, x->shape.dims[0], x->shape.dims[1], r, out);
    return 0;
}

int shape_global_pool(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0);
    if (check_spatial_input(n, d, x)) return -1;
    if (check_float(n, d, x)) return -1;
    int64_t ones[MAX_SPATIAL] = {1, 1, 1};
    set_spatial_out(n, 0, x->dtype, x->shape.dims[0], x->shape.dims[1], x->shape.rank - 2, ones);
    return 0;
}
