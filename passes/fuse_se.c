/* fuse_se.c: the squeeze-and-excitation scale folded into the next
 * convolution (pass_fuse_se, passes.h).
 *
 * Squeeze-and-excitation blocks (EfficientNet, MobileNetV3) end in
 * Mul(x, s), s [N, C, 1, 1] one factor per image and channel, and the
 * product is read only by a convolution. Conv(x * s) is Conv(x) with the
 * weights of input channel c times s[n, c], and scaling the weights once
 * per image costs less than writing x * s and reading it back where there
 * are more pixels than output channels: kiln.ConvScaled (ops_se.def)
 * does that, and the Mul goes away. The numbers stay within float
 * rounding ((x s) w against x (s w)). */
#include "passes.h"
#include "shapes.h"

/* 1 if s is one float per image and channel of x: [N, C, 1...]. */
static int per_channel(const Value *s, const Value *x) {
    if (!s || s->dtype != DT_F32 || s->shape.rank != x->shape.rank || x->shape.rank < 3 ||
        s->shape.dims[0] != x->shape.dims[0] || s->shape.dims[1] != x->shape.dims[1])
        return 0;
    for (int i = 2; i < s->shape.rank; i++)
        if (s->shape.dims[i] != 1) return 0;
    return 1;
}

/* 1 if scaling the weights per image (one copy for each of the two tasks a
 * two-thread pool runs) costs less than the Mul's pass over x: 2*M*C*taps
 * weights against C*pixels elements (the least pixels dynamic dims allow). */
static int worth_it(const Value *x, const Value *w) {
    int64_t pixels = 1, lo, hi;
    for (int i = 2; i < x->shape.rank; i++) {
        if (dim_bounds(x->shape.dims[i], &lo, &hi)) return 0;
        if (lo > 0 && pixels > (INT64_C(1) << 40) / lo) return 1; /* huge: surely worth it */
        pixels *= lo;
    }
    int64_t per_channel_weights = w->shape.dims[0];
    for (int i = 2; i < w->shape.rank; i++)
        per_channel_weights *= w->shape.dims[i];
    return 2 * per_channel_weights <= pixels;
}

static void fold_scale(Graph *g, Node *c) {
    if (c->op != OP_CONV || c->plan_kind != PLAN_CONV || c->plan.conv->group != 1) return;
    Value *m = c->inputs[0], *w = c->inputs[1];
    Node *mul = m->producer;
    if (!mul || mul->dead || mul->op != OP_MUL || m->dtype != DT_F32 || !w->data ||
        ir_value_sole_user(g, m) != c)
        return;
    Value *x = NULL, *s = NULL;
    for (int i = 0; i < 2 && !x; i++) {
        Value *a = mul->inputs[i], *b = mul->inputs[1 - i];
        if (a->dtype == DT_F32 && shape_equal(&a->shape, &m->shape) && per_channel(b, a)) {
            x = a;
            s = b;
        }
    }
    if (!x || x == s || !worth_it(x, w)) return;
    Value **ins = arena_alloc(g->arena, 5 * sizeof(Value *));
    for (int i = 0; i < 4; i++)
        ins[i] = i < c->n_inputs ? c->inputs[i] : NULL;
    ins[0] = x;
    ins[4] = s;
    Value **old = c->inputs;
    int n_old = c->n_inputs;
    Dim scratch = c->scratch;
    c->op = OP_CONV_SCALED;
    c->inputs = ins;
    c->n_inputs = 5;
    if (shapes_node(c, NULL)) { /* not expected: the Conv's shapes were checked */
        c->op = OP_CONV;
        c->inputs = old;
        c->n_inputs = n_old;
        c->scratch = scratch;
        return;
    }
    mul->dead = 1;
    ir_graph_recount(g);
}

int pass_fuse_se(Graph *g, Diag *d) {
    (void)d;
    ir_graph_recount(g);
    for (int i = 0; i < g->n_nodes; i++)
        if (!g->nodes[i]->dead) fold_scale(g, g->nodes[i]);
    ir_graph_compact(g);
    return 0;
}
