/* fold_batchnorm.c: BatchNormalization, a residual Add and activations
 * folded into Conv. */
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

/* Whether conv is depthwise (one input channel per group, any channel
 * multiplier: the convolutions emit_conv sends to the depthwise kernel),
 * whose kernel applies every activation but no residual. */
static int conv_is_depthwise(const Node *conv) {
    const Shape *w = &conv->inputs[1]->shape;
    int64_t G = ir_attr_int(conv, "group", 1);
    return G > 1 && w->rank >= 3 && w->dims[1] == 1;
}

/* Whether value v is available at node position `at` of g: a graph input,
 * a constant, or produced by a node before it. */
static int ready_before(const Graph *g, const Value *v, const Node *at) {
    if (!v->producer) return 1;
    for (int i = 0; i < g->n_nodes && g->nodes[i] != at; i++)
        if (g->nodes[i] == v->producer) return 1;
    return 0;
}

static int same_shape(const Shape *a, const Shape *b) {
    if (a->rank != b->rank) return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i]) return 0;
    return 1;
}

/* Conv -> Add(conv, r) with r as shaped as the sum and ready before the
 * Conv: r becomes the Conv's input 3, read in its epilogue. */
static void fuse_residual(Graph *g, Node *conv) {
    Value *y = conv->outputs[0];
    Node *add = ir_value_sole_user(g, y);
    if (!add || add->op != OP_ADD || add->inputs[0] == add->inputs[1]) return;
    Value *r = add->inputs[0] == y ? add->inputs[1] : add->inputs[0];
    Value *sum = add->outputs[0];
    if (r->dtype != DT_F32 || sum->dtype != DT_F32 || !same_shape(&r->shape, &y->shape) ||
        !same_shape(&sum->shape, &y->shape) || !ready_before(g, r, conv))
        return;
    Value **ins = arena_alloc(g->arena, 4 * sizeof(Value *));
    for (int i = 0; i < 3; i++)
        ins[i] = i < conv->n_inputs ? conv->inputs[i] : NULL;
    ins[3] = r;
    conv->inputs = ins;
    conv->n_inputs = 4;
    conv->conv_residual = 1;
    ir_node_absorb(conv, add);
}

/* The activation node c (the sole user of conv's output) as conv's
 * epilogue: 0 if it is one, and sets the epilogue. */
static int activation_epilogue(Node *conv, const Node *c) {
    float lo, hi;
    switch (c->op) {
    case OP_RELU:
        conv->epilogue = EPI_RELU;
        return 0;
    case OP_CLIP:
        if (clip_bounds(c, &lo, &hi)) return -1;
        conv->epilogue = EPI_CLAMP;
        conv->epi_a = lo;
        conv->epi_b = hi;
        return 0;
    case OP_SIGMOID:
        conv->epilogue = EPI_SIGMOID;
        return 0;
    case OP_TANH:
        conv->epilogue = EPI_TANH;
        return 0;
    case OP_LEAKY_RELU:
        conv->epilogue = EPI_LEAKY_RELU;
        conv->epi_a = ir_attr_float(c, "alpha", 0.01f);
        return 0;
    case OP_HARD_SIGMOID:
        conv->epilogue = EPI_HARDSIGMOID;
        conv->epi_a = ir_attr_float(c, "alpha", 0.2f);
        conv->epi_b = ir_attr_float(c, "beta", 0.5f);
        return 0;
    case OP_HARD_SWISH:
        conv->epilogue = EPI_HARDSWISH;
        return 0;
    default:
        return -1;
    }
}

/* y -> Sigmoid(y) = s, Mul(y, s) (either order): SiLU. Returns the Mul
 * with s marked dead, or NULL. */
static Node *silu_mul(Graph *g, const Value *y) {
    if (y->n_uses != 2 || y->output_index >= 0) return NULL;
    Node *sig = NULL, *mul = NULL;
    for (int i = 0; i < g->n_nodes; i++) {
        Node *n = g->nodes[i];
        if (n->dead) continue;
        for (int j = 0; j < n->n_inputs; j++)
            if (n->inputs[j] == y) {
                if (n->op == OP_SIGMOID && !sig)
                    sig = n;
                else if (n->op == OP_MUL && !mul)
                    mul = n;
                else
                    return NULL;
                break;
            }
    }
    if (!sig || !mul || ir_value_sole_user(g, sig->outputs[0]) != mul) return NULL;
    Value *other = mul->inputs[0] == y ? mul->inputs[1] : mul->inputs[0];
    if (other != sig->outputs[0] || mul->outputs[0]->dtype != DT_F32 ||
        !same_shape(&mul->outputs[0]->shape, &y->shape))
        return NULL;
    sig->dead = 1;
    return mul;
}

/* The fusions into one Conv, in the order its kernel applies them:
 * residual Add (dense convolutions), then one activation. */
static void fuse_one(Graph *g, Node *conv) {
    if (conv->op != OP_CONV || conv->epilogue) return;
    if (conv->outputs[0]->dtype != DT_F32) return;
    if (!conv->conv_residual && !conv_is_depthwise(conv)) fuse_residual(g, conv);
    Value *y = conv->outputs[0];
    Node *mul = silu_mul(g, y);
    if (mul) {
        conv->epilogue = EPI_SILU;
        y->producer = NULL;
        conv->outputs[0] = mul->outputs[0];
        mul->outputs[0]->producer = conv;
        mul->dead = 1;
        return;
    }
    Node *c = ir_value_sole_user(g, y);
    if (!c || c->inputs[0] != y || c->outputs[0]->dtype != DT_F32) return;
    if (activation_epilogue(conv, c) == 0) ir_node_absorb(conv, c);
}

int pass_fuse_conv_activation(Graph *g, Diag *d) {
    (void)d;
    return rewrite_each(g, fuse_one);
}
