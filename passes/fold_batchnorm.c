/* fold_batchnorm.c: BatchNormalization and activations folded into Conv. */
#include "passes.h"

#include <assert.h>
#include <float.h>
#include <math.h>

static int const_f32(const Value *v) {
    return v && v->data && v->dtype == DT_F32;
}

static void fold_one(Graph *g, Node *conv) {
    if (conv->op != OP_CONV || conv->epilogue) return;
    Value *w = conv->inputs[1], *b = conv->n_inputs > 2 ? conv->inputs[2] : NULL;
    if (!const_f32(w) || (b && !const_f32(b))) return;
    Node *bn = ir_value_sole_user(g, conv->outputs[0]);
    if (!bn || bn->op != OP_BATCHNORM || bn->inputs[0] != conv->outputs[0]) return;
    if (bn->n_outputs > 1 && bn->outputs[1]) return; /* training outputs */
    for (int i = 1; i < 5; i++)
        if (!const_f32(bn->inputs[i])) return;
    const float *scale = bn->inputs[1]->data, *beta = bn->inputs[2]->data;
    const float *mean = bn->inputs[3]->data, *var = bn->inputs[4]->data;
    double eps = ir_attr_float(bn, "epsilon", 1e-5f);

    int64_t M = w->shape.dims[0], K = shape_numel(&w->shape) / M;
    /* shape_conv and shape_batchnorm checked these sizes. */
    assert(w->shape.rank >= 3 && M > 0 && (!b || shape_numel(&b->shape) == M));
    for (int i = 1; i < 5; i++)
        assert(shape_numel(&bn->inputs[i]->shape) == M);
    Value *nw =
        ir_value_add_fresh(g, arena_printf(g->arena, "%s.bn_%s", w->name, bn->name), DT_F32);
    Value *nb = ir_value_add_fresh(g, arena_printf(g->arena, "%s.bias_bn", bn->name), DT_F32);
    nw->shape = w->shape;
    nb->shape = (Shape){1, {M}};
    float *wd = arena_alloc_aligned(g->arena, sizeof(float) * (size_t)(M * K), 64);
    float *bd = arena_alloc_aligned(g->arena, sizeof(float) * (size_t)M, 64);
    const float *w0 = w->data, *b0 = b ? b->data : NULL;
    for (int64_t m = 0; m < M; m++) {
        double a = scale[m] / sqrt((double)var[m] + eps);
        for (int64_t k = 0; k < K; k++)
            wd[m * K + k] = (float)(w0[m * K + k] * a);
        bd[m] = (float)(((b0 ? b0[m] : 0.0) - mean[m]) * a + beta[m]);
    }
    nw->data = wd;
    nb->data = bd;
    Value **ins = arena_alloc(g->arena, 3 * sizeof(Value *));
    ins[0] = conv->inputs[0];
    ins[1] = nw;
    ins[2] = nb;
    conv->inputs = ins;
    conv->n_inputs = 3;
    ir_node_absorb(conv, bn);
}

/* Both passes: fn on every live node, over counted uses, then compaction
 * drops what fn absorbed. */
static int rewrite_each(Graph *g, void (*fn)(Graph *g, Node *n)) {
    ir_graph_recount(g);
    for (int i = 0; i < g->n_nodes; i++)
        if (!g->nodes[i]->dead) fn(g, g->nodes[i]);
    ir_graph_compact(g);
    return 0;
}

int pass_fold_batchnorm(Graph *g, Diag *d) {
    (void)d;
    return rewrite_each(g, fold_one);
}

/* Clip's bounds as its plan has them: 0 if both are known now (absent
 * ones are infinite), -1 if one is an input that is not a constant. */
static int clip_bounds(const Node *c, float *lo, float *hi) {
    assert(c->plan_kind == PLAN_CLIP);
    const ClipPlan *p = c->plan.clip;
    *lo = -FLT_MAX;
    *hi = FLT_MAX;
    if (!p->from_inputs) {
        if (p->has_min) *lo = p->min;
        if (p->has_max) *hi = p->max;
        return 0;
    }
    for (int i = 1; i < 3; i++) {
        const Value *v = i < c->n_inputs ? c->inputs[i] : NULL;
        if (!v) continue;
        if (!const_f32(v) || shape_numel(&v->shape) != 1) return -1;
        *(i == 1 ? lo : hi) = *(const float *)v->data;
    }
    return 0;
}

static void fuse_one(Graph *g, Node *conv) {
    if (conv->op != OP_CONV || conv->epilogue) return;
    if (conv->outputs[0]->dtype != DT_F32) return;
    Node *c = ir_value_sole_user(g, conv->outputs[0]);
    if (!c || c->inputs[0] != conv->outputs[0]) return;
    if (c->op == OP_RELU) {
        conv->epilogue = EPI_RELU;
        ir_node_absorb(conv, c);
        return;
    }
    float lo, hi;
    if (c->op == OP_CLIP && clip_bounds(c, &lo, &hi) == 0) {
        conv->epilogue = EPI_CLAMP;
        conv->epi_a = lo;
        conv->epi_b = hi;
        ir_node_absorb(conv, c);
    }
}

int pass_fuse_conv_activation(Graph *g, Diag *d) {
    (void)d;
    return rewrite_each(g, fuse_one);
}
