/* simplify.c: graph rewrites that make the generated code faster, and dead
 * node removal. Each rewrite keeps the numbers the same. */
#include <assert.h>

#include "passes.h"

/* MatMul of [..., M, K] by a [K, N] is a Gemm, which takes bias, packed
 * weights and epilogue: A's leading dims fold into M (A and the output are
 * dense, so [..., M, K] is [prod, K] in memory; emit_gemm reads it so). */
static void matmul_to_gemm(Node *n) {
    if (n->op != OP_MATMUL || n->inputs[0]->shape.rank < 2 || n->inputs[1]->shape.rank != 2) return;
    n->op = OP_GEMM;
}

/* Gemm (no C, alpha=1) followed by Add of a constant that broadcasts to
 * its output: the constant becomes C. */
static void gemm_take_bias(Graph *g, Node *n) {
    if (n->op != OP_GEMM || n->n_inputs != 2 || n->epilogue) return;
    Node *c = ir_value_sole_user(g, n->outputs[0]);
    if (!c || c->op != OP_ADD) return;
    Value *bias = c->inputs[0] == n->outputs[0] ? c->inputs[1] : c->inputs[0];
    if (!bias->data || bias->dtype != DT_F32 || bias->shape.rank > 2) return;
    /* A Gemm with rank > 2 output has M = prod of its leading dims: a bias
     * with rows would be read past its end. */
    if (n->outputs[0]->shape.rank > 2 && bias->shape.rank == 2 && bias->shape.dims[0] != 1) return;
    if (!shape_equal(&c->outputs[0]->shape, &n->outputs[0]->shape)) return;
    if (ir_attr_float(n, "alpha", 1.0f) != 1.0f) return;
    Value **ins = arena_alloc(g->arena, 3 * sizeof(Value *));
    ins[0] = n->inputs[0];
    ins[1] = n->inputs[1];
    ins[2] = bias;
    n->inputs = ins;
    n->n_inputs = 3;
    ir_attr_set(n, "beta", ATTR_FLOAT)->f = 1.0f;
    ir_node_absorb(n, c);
}

/* A constant B is packed once, at compile time, into panels of 32 columns
 * (Bp[p][k][j] = B(k, 32p + j), zero-padded), the layout the Gemm kernel
 * streams through; transB is absorbed by the packing. The node is marked
 * with Node.gemm_packed_b and B's value becomes [P, K, 32].
 * Gemms sharing a B share its packing: packed[2 * B's id + transB]. */
#define PANEL 32
static void gemm_pack_weights(Graph *g, Node *n, Value **packed, int n_packed) {
    if (n->op != OP_GEMM || n->gemm_packed_b) return;
    Value *b = n->inputs[1];
    if (!b->data || b->dtype != DT_F32) return;
    assert(b->shape.rank == 2); /* checked by shape_gemm */
    int tb = (int)ir_attr_int(n, "transB", 0);
    int64_t K = b->shape.dims[tb], N = b->shape.dims[!tb], P = (N + PANEL - 1) / PANEL;
    assert(2 * b->id + tb < n_packed); /* B is not a value this pass made */
    (void)n_packed;
    Value *p = packed[2 * b->id + tb];
    if (!p) {
        /* Not looked up by name: the model may use that name for something else. */
        const char *name = arena_printf(g->arena, "%s.packed%s", b->name, tb ? "T" : "");
        p = packed[2 * b->id + tb] = ir_value_add_fresh(g, name, DT_F32);
        p->shape = (Shape){3, {P, K, PANEL}};
        float *dst = arena_alloc_aligned(g->arena, sizeof(float) * (size_t)(P * K * PANEL), 64);
        const float *src = b->data;
        for (int64_t k = 0; k < K; k++)
            for (int64_t j = 0; j < N; j++)
                dst[((j / PANEL) * K + k) * PANEL + j % PANEL] =
                    tb ? src[j * K + k] : src[k * N + j];
        p->data = dst;
    }
    n->inputs[1] = p;
    ir_attr_set(n, "transB", ATTR_INT)->i = 0;
    n->gemm_packed_b = 1;
}

static Epilogue epilogue_of(OpKind op) {
    switch (op) {
    case OP_RELU:
        return EPI_RELU;
    case OP_SIGMOID:
        return EPI_SIGMOID;
    case OP_TANH:
        return EPI_TANH;
    default:
        return EPI_NONE;
    }
}

static void gemm_take_activation(Graph *g, Node *n) {
    if (n->op != OP_GEMM || n->epilogue) return;
    Node *c = ir_value_sole_user(g, n->outputs[0]);
    if (!c || epilogue_of(c->op) == EPI_NONE) return;
    n->epilogue = epilogue_of(c->op);
    ir_node_absorb(n, c);
}

/* Identity and inference Dropout pass their input through: their users
 * read the input instead. Kept when their output is a graph output (a
 * copy is then needed) or Dropout's mask is used. */
static void bypass(Graph *g, Node *n) {
    if (n->op != OP_IDENTITY && n->op != OP_DROPOUT) return;
    Value *out = n->outputs[0];
    if (out->output_index >= 0) return;
    if (n->op == OP_DROPOUT && n->n_outputs > 1 && n->outputs[1] && n->outputs[1]->n_uses) return;
    ir_value_replace_uses(g, out, n->inputs[0]);
    n->dead = 1;
}

int pass_fuse(Graph *g, Diag *d) {
    (void)d;
    for (int i = 0; i < g->n_nodes; i++) /* Requires: shapes inferred */
        assert(!g->nodes[i]->n_outputs || !g->nodes[i]->outputs[0] ||
               g->nodes[i]->outputs[0]->shape.rank >= 0);
    ir_graph_recount(g);
    for (int i = 0; i < g->n_nodes; i++)
        bypass(g, g->nodes[i]);
    ir_graph_compact(g);
    int n_packed = 2 * g->n_values;
    Value **packed = arena_alloc(g->arena, sizeof(Value *) * (size_t)(n_packed + 1));
    for (int i = 0; i < g->n_nodes; i++) {
        Node *n = g->nodes[i];
        if (n->dead) continue;
        matmul_to_gemm(n);
        gemm_take_bias(g, n);
        gemm_pack_weights(g, n, packed, n_packed);
        gemm_take_activation(g, n);
    }
    ir_graph_compact(g);
    return 0;
}

int pass_dce(Graph *g, Diag *d) {
    (void)d;
    ir_graph_recount(g);
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        Node *n = g->nodes[i];
        /* A region's markers stay (its nodes go one by one, as any others). */
        int used =
            (op_info(n->op)->flags & (OPF_REGION_BEGIN | OPF_REGION_ELSE | OPF_REGION_END)) != 0;
        for (int j = 0; j < n->n_outputs; j++)
            if (n->outputs[j] && n->outputs[j]->n_uses) used = 1;
        if (used) continue;
        n->dead = 1;
        for (int j = 0; j < n->n_inputs; j++) {
            if (!n->inputs[j]) continue;
            n->inputs[j]->n_uses--;
            assert(n->inputs[j]->n_uses >= 0);
        }
    }
    ir_graph_compact(g);
    return 0;
}
