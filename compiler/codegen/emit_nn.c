/* emit_nn.c: kernel calls for convolution, pooling and normalisation.
 *
 * The shape functions leave every convolution and pool with its geometry
 * resolved into a ConvPlan (ir.h): kernel, strides, dilations, pads,
 * group and output sizes, which is all this file reads. Spatial geometry is passed as (D, H, W)
 * triples with unit leading dims for 1-D and 2-D data (runtime/kernels/nn.h).
 *
 * A constant Conv weight is packed here, at compile time, into the
 * kernel's layout of 8-channel blocks; the packed copy becomes the
 * constant the model carries (the original goes unused and is dropped).
 */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"
#include "nn.h"

/* Geometry of node n as 3-D triples. */
typedef struct Geom3 {
    int64_t I[3], O[3], K[3], S[3], T[3], P[3], E[3];
} Geom3;

static Geom3 geom3(const Node *n) {
    assert(n->plan_kind == PLAN_CONV);
    const ConvPlan *p = n->plan.conv;
    const Shape *x = &n->inputs[0]->shape;
    int r = p->rank, o = 3 - r;
    assert(r == x->rank - 2);
    Geom3 g;
    for (int i = 0; i < 3; i++) {
        g.I[i] = g.O[i] = g.K[i] = g.S[i] = g.T[i] = 1;
        g.P[i] = g.E[i] = 0;
    }
    for (int i = 0; i < r; i++) {
        g.I[o + i] = x->dims[2 + i];
        g.O[o + i] = p->out[i];
        g.K[o + i] = p->kernel[i];
        g.S[o + i] = p->stride[i];
        g.T[o + i] = p->dilation[i];
        g.P[o + i] = p->pad_begin[i];
        g.E[o + i] = p->pad_end[i];
    }
    return g;
}

/* Appends the triples named by `which` ("IOKSTPE" letters) to args. */
static unsigned push_geom(Codegen *cg, const Geom3 *g, const char *which, LLVMValueRef *args,
                          unsigned at) {
    for (const char *c = which; *c; c++) {
        const int64_t *t = *c == 'I'   ? g->I
                           : *c == 'O' ? g->O
                           : *c == 'K' ? g->K
                           : *c == 'S' ? g->S
                           : *c == 'T' ? g->T
                           : *c == 'P' ? g->P
                                       : g->E;
        for (int i = 0; i < 3; i++)
            args[at++] = cg_sym_value(cg, t[i]);
    }
    return at;
}

static LLVMValueRef opt_addr(Codegen *cg, const Node *n, int i) {
    return i < n->n_inputs && n->inputs[i] ? cg_addr(cg, n->inputs[i])
                                           : LLVMConstPointerNull(cg->ptr);
}

/* W [G*M, C, k...] into [G][ceil(M/8)][K][8] blocks, zero past M. */
static LLVMValueRef pack_conv_weights(Codegen *cg, const Value *w, int64_t G, int64_t M,
                                      int64_t K) {
    int64_t n_cb = (M + KILN_CONV_TILE_CO - 1) / KILN_CONV_TILE_CO;
    size_t count = (size_t)(G * n_cb * K * KILN_CONV_TILE_CO);
    float *p = calloc(count, sizeof(float));
    if (!p) kiln_oom("packed conv weights");
    const float *src = w->data;
    for (int64_t g = 0; g < G; g++)
        for (int64_t m = 0; m < M; m++)
            for (int64_t k = 0; k < K; k++) {
                int64_t b = m / KILN_CONV_TILE_CO, r = m % KILN_CONV_TILE_CO;
                p[((g * n_cb + b) * K + k) * KILN_CONV_TILE_CO + r] = src[(g * M + m) * K + k];
            }
    char name[256];
    snprintf(name, sizeof name, "%s.packed", w->name);
    LLVMValueRef v = cg_const_bytes(cg, p, count * sizeof(float), 64, name);
    free(p);
    return v;
}

/* W [G*M, C, 3, 3] transformed for Winograd's F(TxT, 3x3), T = 2 or 4:
 * G w G^T per channel pair (in double, rounded once), into the
 * [G][(T+2)^2][ceil(M/8)][C][8] blocks of kiln_conv_wino_f32 and
 * kiln_conv_wino4_f32 (wino.h), zero past M. */
static LLVMValueRef pack_wino_weights(Codegen *cg, const Value *w, int T, int64_t G, int64_t M,
                                      int64_t C) {
    static const double G2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    static const double G4[6][3] = {{1 / 4.0, 0, 0},
                                    {-1 / 6.0, -1 / 6.0, -1 / 6.0},
                                    {-1 / 6.0, 1 / 6.0, -1 / 6.0},
                                    {1 / 24.0, 1 / 12.0, 1 / 6.0},
                                    {1 / 24.0, -1 / 12.0, 1 / 6.0},
                                    {0, 0, 1}};
    const double(*Gm)[3] = T == 2 ? G2 : G4;
    int n = T + 2, nx = n * n;
    int64_t n_cb = (M + KILN_CONV_TILE_CO - 1) / KILN_CONV_TILE_CO;
    size_t count = (size_t)(G * nx * n_cb * C * KILN_CONV_TILE_CO);
    float *p = calloc(count, sizeof(float));
    if (!p) kiln_oom("transformed conv weights");
    const float *src = w->data;
    for (int64_t g = 0; g < G; g++)
        for (int64_t m = 0; m < M; m++)
            for (int64_t c = 0; c < C; c++) {
                const float *k = src + ((g * M + m) * C + c) * 9;
                double t[6][3], u[6][6];
                for (int i = 0; i < n; i++) /* G w */
                    for (int j = 0; j < 3; j++)
                        t[i][j] = Gm[i][0] * k[j] + Gm[i][1] * k[3 + j] + Gm[i][2] * k[6 + j];
                for (int i = 0; i < n; i++) /* (G w) G^T */
                    for (int j = 0; j < n; j++)
                        u[i][j] = t[i][0] * Gm[j][0] + t[i][1] * Gm[j][1] + t[i][2] * Gm[j][2];
                int64_t b = m / KILN_CONV_TILE_CO, r = m % KILN_CONV_TILE_CO;
                for (int xi = 0; xi < nx; xi++)
                    p[(((g * nx + xi) * n_cb + b) * C + c) * KILN_CONV_TILE_CO + r] =
                        (float)u[xi / n][xi % n];
            }
    char name[256];
    snprintf(name, sizeof name, "%s.winograd%d", w->name, T);
    LLVMValueRef v = cg_const_bytes(cg, p, count * sizeof(float), 64, name);
    free(p);
    return v;
}

int emit_conv(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0], *w = n->inputs[1], *y = n->outputs[0];
    if (x->dtype != DT_F32) {
        diag_node(cg->d, n, "element type %s is not supported by Conv (float only)",
                  dtype_onnx_name(x->dtype));
        return -1;
    }
    if (!w->data) {
        diag_node(cg->d, n, "weights '%s' must be a constant", w->name);
        return -1;
    }
    int64_t G = n->plan.conv->group, C = x->shape.dims[1] / G, M = y->shape.dims[1] / G;
    if (C == 1 && G > 1) return emit_conv_depthwise(cg, n);
    Geom3 g = geom3(n);
    LLVMValueRef args[40];
    unsigned k = 0;
    args[k++] = cg_sym_value(cg, cg_sym_dim(x->shape.dims[0]));
    args[k++] = cg_i64(cg, G);
    args[k++] = cg_i64(cg, C);
    args[k++] = cg_i64(cg, M);
    k = push_geom(cg, &g, "IOKSTP", args, k);
    args[k++] = cg_addr(cg, x);
    int scaled = n->op == OP_CONV_SCALED; /* the SE fold (ops_se.def): + the scale */
    int wino = scaled || cg->opts.conv == CG_CONV_DIRECT
                   ? 0
                   : kiln_conv_wino_tile(n->plan.conv->rank, C, M, g.K[1], g.K[2], g.S[1], g.S[2],
                                         g.T[1], g.T[2], g.O[1], g.O[2]);
    if (wino)
        args[k++] = pack_wino_weights(cg, w, wino, G, M, C);
    else
        args[k++] = pack_conv_weights(cg, w, G, M, C * g.K[0] * g.K[1] * g.K[2]);
    if (scaled) args[k++] = cg_addr(cg, n->inputs[4]);
    args[k++] = opt_addr(cg, n, 2);
    args[k++] = opt_addr(cg, n, 3); /* the residual */
    args[k++] = cg_i32(cg, (int)n->epilogue);
    args[k++] = cg_f32(cg, n->epi_a);
    args[k++] = cg_f32(cg, n->epi_b);
    args[k++] = cg_scratch(cg, n);
    args[k++] = cg_addr(cg, y);
    /* Split over images, groups, pixel blocks and channel chunks on the
     * pool's threads; the work is the multiply-adds (Winograd's: 16 per
     * 4 pixels and channel pair, or 36 per 16, not 9 a pixel). */
    int64_t taps = wino == 2 ? 4 : wino == 4 ? 3 : g.K[0] * g.K[1] * g.K[2]; /* 36/16, rounded up */
    Sym work = cg_sym_mul(cg_sym_dim(x->shape.dims[0]), G * M * C * taps);
    for (int i = 0; i < 3; i++)
        work = cg_sym_mul(work, g.O[i]);
    const char *kernel = scaled      ? "conv_scaled"
                         : wino == 2 ? "conv_wino"
                         : wino == 4 ? "conv_wino4"
                                     : "conv";
    return cg_call_split_typed(cg, n, kernel, x->dtype, work, args, k);
}

int emit_conv_transpose(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0], *y = n->outputs[0];
    Geom3 g = geom3(n);
    int64_t G = n->plan.conv->group;
    LLVMValueRef args[32];
    unsigned k = 0;
    args[k++] = cg_sym_value(cg, cg_sym_dim(x->shape.dims[0]));
    args[k++] = cg_i64(cg, G);
    args[k++] = cg_i64(cg, x->shape.dims[1] / G);
    args[k++] = cg_i64(cg, y->shape.dims[1] / G);
    k = push_geom(cg, &g, "IOKSTP", args, k);
    args[k++] = cg_addr(cg, x);
    args[k++] = cg_addr(cg, n->inputs[1]);
    args[k++] = opt_addr(cg, n, 2);
    args[k++] = cg_addr(cg, y);
    return cg_call_typed(cg, n, "conv_transpose", x->dtype, args, k);
}

/* The kernels over X as [N, C, D] (D: the spatial dims): N, C, D into
 * args; returns the count. */
static unsigned push_ncd(Codegen *cg, const Node *n, LLVMValueRef *args) {
    const Shape *s = &n->inputs[0]->shape;
    args[0] = cg_sym_value(cg, cg_sym_dim(s->dims[0]));
    args[1] = cg_i64(cg, s->dims[1]);
    args[2] = cg_sym_value(cg, cg_sym_prod(s, 2, s->rank));
    return 3;
}

/* BatchNormalization and InstanceNormalization: kernel(N, C, D, the
 * node's inputs, epsilon, Y). */
static int emit_channel_norm(Codegen *cg, const Node *n, const char *kernel) {
    LLVMValueRef args[10];
    unsigned k = push_ncd(cg, n, args);
    for (int i = 0; i < n->n_inputs; i++)
        args[k++] = cg_addr(cg, n->inputs[i]);
    args[k++] = cg_f32(cg, ir_attr_float(n, "epsilon", 1e-5f));
    args[k++] = cg_addr(cg, n->outputs[0]);
    return cg_call_typed(cg, n, kernel, n->inputs[0]->dtype, args, k);
}

int emit_batchnorm(Codegen *cg, const Node *n) {
    assert(n->n_inputs == 5);
    return emit_channel_norm(cg, n, "batchnorm");
}

int emit_instancenorm(Codegen *cg, const Node *n) {
    assert(n->n_inputs == 3);
    return emit_channel_norm(cg, n, "instancenorm");
}

int emit_lrn(Codegen *cg, const Node *n) {
    LLVMValueRef args[9];
    unsigned k = push_ncd(cg, n, args);
    args[k++] = cg_i64(cg, ir_attr_int(n, "size", 1));
    args[k++] = cg_f32(cg, ir_attr_float(n, "alpha", 1e-4f));
    args[k++] = cg_f32(cg, ir_attr_float(n, "beta", 0.75f));
    args[k++] = cg_f32(cg, ir_attr_float(n, "bias", 1.0f));
    args[k++] = cg_addr(cg, n->inputs[0]);
    args[k++] = cg_addr(cg, n->outputs[0]);
    return cg_call_typed(cg, n, "lrn", n->inputs[0]->dtype, args, k);
}

int emit_maxpool(Codegen *cg, const Node *n) {
    const Shape *s = &n->inputs[0]->shape;
    Geom3 g = geom3(n);
    LLVMValueRef args[32];
    unsigned k = 0;
    args[k++] = cg_sym_value(cg, cg_sym_prod(s, 0, 2));
    k = push_geom(cg, &g, "IOKSTP", args, k);
    args[k++] = cg_addr(cg, n->inputs[0]);
    args[k++] = cg_addr(cg, n->outputs[0]);
    if (n->inputs[0]->dtype == DT_F32 && !(n->n_outputs > 1 && n->outputs[1])) {
        /* Work: an output's window, one compare per element. */
        const Shape *ys = &n->outputs[0]->shape;
        Sym work = cg_sym_mul(cg_sym_prod(ys, 0, ys->rank), cg_sym(g.K[0] * g.K[1] * g.K[2]));
        return cg_call_split_typed(cg, n, "maxpool_split", DT_F32, work, args, k);
    }
    args[k++] = n->n_outputs > 1 && n->outputs[1] ? cg_addr(cg, n->outputs[1])
                                                  : LLVMConstPointerNull(cg->ptr);
    args[k++] = cg_i32(cg, (int)ir_attr_int(n, "storage_order", 0));
    return cg_call_typed(cg, n, "maxpool", n->inputs[0]->dtype, args, k);
}

int emit_averagepool(Codegen *cg, const Node *n) {
    const Shape *s = &n->inputs[0]->shape;
    Geom3 g = geom3(n);
    LLVMValueRef args[32];
    unsigned k = 0;
    args[k++] = cg_sym_value(cg, cg_sym_prod(s, 0, 2));
    k = push_geom(cg, &g, "IOKSPE", args, k);
    args[k++] = cg_i32(cg, (int)ir_attr_int(n, "count_include_pad", 0));
    args[k++] = cg_addr(cg, n->inputs[0]);
    args[k++] = cg_addr(cg, n->outputs[0]);
    return cg_call_typed(cg, n, "avgpool", n->inputs[0]->dtype, args, k);
}

int emit_global_pool(Codegen *cg, const Node *n) {
    const Shape *s = &n->inputs[0]->shape;
    LLVMValueRef args[] = {
        cg_i32(cg, n->op == OP_GLOBAL_MAXPOOL ? KILN_GLOBAL_MAX : KILN_GLOBAL_AVG),
        cg_sym_value(cg, cg_sym_prod(s, 0, 2)), cg_sym_value(cg, cg_sym_prod(s, 2, s->rank)),
        cg_addr(cg, n->inputs[0]), cg_addr(cg, n->outputs[0])};
    return cg_call_typed(cg, n, "global_pool", n->inputs[0]->dtype, args, 5);
}
