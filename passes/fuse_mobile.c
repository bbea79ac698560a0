/* fuse_mobile.c: rewrites for the layers of mobile convolution nets
 * (MobileNet, EfficientNet) that pass_fuse_conv_activation leaves: the
 * activations not after a convolution, and the squeeze-and-excitation
 * layers' convolutions of 1x1 data. Both make kiln's fused ops
 * (compiler/ir/ops_fused.def). Each rewrite keeps the numbers (within
 * float rounding). Run after pass_fuse_conv_activation, so that an
 * activation a convolution can take stays that convolution's epilogue. */
#include <math.h>

#include "passes.h"

static int is_f32(const Value *v) {
    return v && v->dtype == DT_F32;
}

/* Sigmoid(x) whose only reader is Mul(x, Sigmoid(x)) (either order):
 * SiLU, one kiln.Activation pass instead of two; HardSigmoid(x) with
 * alpha 1/6 and beta 1/2 the same way: HardSwish. */
static void fuse_gated_activation(Graph *g, Node *s) {
    Epilogue e;
    if (s->op == OP_SIGMOID) {
        e = EPI_SILU;
    } else if (s->op == OP_HARD_SIGMOID &&
               fabsf(ir_attr_float(s, "alpha", 0.2f) - 1.0f / 6) < 1e-7f &&
               ir_attr_float(s, "beta", 0.5f) == 0.5f) {
        e = EPI_HARDSWISH;
    } else {
        return;
    }
    Value *x = s->inputs[0];
    if (!is_f32(x)) return;
    Node *m = ir_value_sole_user(g, s->outputs[0]);
    if (!m || m->op != OP_MUL) return;
    Value *other = m->inputs[0] == s->outputs[0] ? m->inputs[1] : m->inputs[0];
    if (other != x || !shape_equal(&m->outputs[0]->shape, &x->shape)) return;
    s->op = OP_ACTIVATION;
    s->epilogue = e;
    s->epi_a = s->epi_b = 0.0f;
    ir_node_absorb(s, m);
}

/* A Conv of 1x1 data with a 1x1 kernel, no pads and one group (the
 * squeeze-and-excitation convolutions after GlobalAveragePool): a
 * matrix-vector product per image, kiln.ConvVec, which keeps the Conv's
 * epilogue. The convolution kernel would lay out 16 pixels for each one
 * there is. */
static void conv_to_vec(Node *n) {
    if (n->op != OP_CONV || n->plan_kind != PLAN_CONV) return;
    const ConvPlan *p = n->plan.conv;
    Value *x = n->inputs[0], *w = n->inputs[1];
    Value *b = n->n_inputs > 2 ? n->inputs[2] : NULL;
    if (!is_f32(x) || !is_f32(w) || !w->data || (b && (!is_f32(b) || !b->data))) return;
    if (p->group != 1 || p->rank != x->shape.rank - 2) return;
    for (int i = 0; i < p->rank; i++)
        if (x->shape.dims[2 + i] != 1 || p->kernel[i] != 1 || p->pad_begin[i] != 0 ||
            p->pad_end[i] != 0 || p->out[i] != 1)
            return;
    n->op = OP_CONV_VEC;
    n->scratch = 0;
}

int pass_fuse_mobile(Graph *g, Diag *d) {
    (void)d;
    ir_graph_recount(g);
    for (int i = 0; i < g->n_nodes; i++) {
        Node *n = g->nodes[i];
        if (n->dead) continue;
        conv_to_vec(n);
        fuse_gated_activation(g, n);
    }
    ir_graph_compact(g);
    return 0;
}
