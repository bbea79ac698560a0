/* fuse_elementwise.c: chains of float element-wise ops become one
 * kiln.Chain node (compiler/ir/ops_fused.def), computed in one pass over
 * the output instead of one pass (and one intermediate tensor) per op.
 *
 * A chain starts at an element-wise node and grows while the sole reader
 * of its last output is another element-wise node of the same output
 * shape: unary math and activations, Clip with constant bounds, and the
 * binary arithmetic ops, whose other operand (a constant, a graph input,
 * any tensor computed before, or the chain's own first input, as in
 * x * Sigmoid(x)) is read with its own broadcast. At most
 * KILN_CHAIN_MAX_IN operands and KILN_CHAIN_MAX_STEPS steps.
 *
 * The node replaces the chain at its last node's place, so every operand
 * is computed before it. Its attributes, in the IR text form too: `steps`
 * (each step's op type), `operands` (the operand a binary step reads; -1:
 * the chain's value itself, as in x * x), `sides` (1: operand OP value,
 * as in 1 - x), `alpha`, `beta` (unary parameters; Clip's bounds).
 *
 * Runs last among the fusions, so that every pattern a kernel's epilogue
 * or a fused op takes is taken first. The numbers are those of the ops
 * one by one, except that a multiply and an add may contract into one
 * fused multiply-add, as inside any kernel. */
#include <assert.h>
#include <math.h>

#include "kiln_kernel_abi.h"
#include "passes.h"

static int is_f32(const Value *v) {
    return v && v->dtype == DT_F32;
}

/* The binary ops a chain takes (float; any other op code: not). */
static int chain_binary_op(const Node *n) {
    const OpInfo *oi = op_info(n->op);
    if (oi->kernel.kind != KERNEL_BINARY || n->n_inputs != 2 || n->n_outputs != 1) return 0;
    if (n->op == OP_MEAN || ir_attr(n, "broadcast")) return 0;
    switch (oi->kernel.op) {
    case KILN_BIN_ADD:
    case KILN_BIN_SUB:
    case KILN_BIN_MUL:
    case KILN_BIN_DIV:
    case KILN_BIN_POW:
    case KILN_BIN_MAX:
    case KILN_BIN_MIN:
    case KILN_BIN_PRELU:
        return 1;
    default:
        return 0;
    }
}

/* A scalar float constant's value into *v. */
static int const_scalar(const Value *c, float *v) {
    if (!c || !is_f32(c) || !c->data || shape_is_dynamic(&c->shape) || shape_numel(&c->shape) != 1)
        return 0;
    *v = *(const float *)c->data;
    return 1;
}

/* Clip's bounds when they are known at compile time, into lo and hi
 * (infinite where absent). */
static int clip_bounds(const Node *n, float *lo, float *hi) {
    if (n->op != OP_CLIP || n->plan_kind != PLAN_CLIP) return 0;
    const ClipPlan *p = n->plan.clip;
    *lo = -INFINITY;
    *hi = INFINITY;
    if (!p->from_inputs) {
        if (p->has_min) *lo = p->min;
        if (p->has_max) *hi = p->max;
        return 1;
    }
    if (n->n_inputs > 1 && n->inputs[1] && !const_scalar(n->inputs[1], lo)) return 0;
    if (n->n_inputs > 2 && n->inputs[2] && !const_scalar(n->inputs[2], hi)) return 0;
    return 1;
}

/* A step's operands beyond the chain's value: 0 (unary, Clip), 1
 * (binary), -1 (not a step a chain takes). */
static int step_arity(const Node *n) {
    if (n->dead || n->n_outputs != 1 || !is_f32(n->outputs[0]) || n->epilogue) return -1;
    const OpInfo *oi = op_info(n->op);
    if (oi->kernel.kind == KERNEL_UNARY && n->n_inputs == 1 && is_f32(n->inputs[0])) {
        /* Celu divides by alpha: emit_unary refuses 0, so must the chain. */
        if (n->op == OP_CELU && ir_attr_float(n, "alpha", 1.0f) == 0.0f) return -1;
        return 0;
    }
    float lo, hi;
    if (clip_bounds(n, &lo, &hi) && is_f32(n->inputs[0])) return 0;
    if (chain_binary_op(n) && is_f32(n->inputs[0]) && is_f32(n->inputs[1])) return 1;
    return -1;
}

typedef struct Chain {
    Node *nodes[KILN_CHAIN_MAX_STEPS];
    int n;
    Value *ins[KILN_CHAIN_MAX_IN];
    int n_in;
    int64_t operand[KILN_CHAIN_MAX_STEPS], side[KILN_CHAIN_MAX_STEPS];
} Chain;

_Static_assert(KILN_CHAIN_MAX_IN <= LOOP_NEST_MAX_OPERANDS, "a chain's operands fit a loop nest");

/* Operand v's index, added if new; -2 if there is no room for it. */
static int operand_index(Chain *c, Value *v) {
    for (int i = 0; i < c->n_in; i++)
        if (c->ins[i] == v) return i;
    if (c->n_in == KILN_CHAIN_MAX_IN) return -2; /* full */
    c->ins[c->n_in] = v;
    return c->n_in++;
}

/* Whether the merged loop nest of the chain's operands over shape s has
 * at most four loops (what the kernel walks). */
static int fits_loops(const Chain *c, const Shape *s) {
    const Shape *sh[KILN_CHAIN_MAX_IN];
    for (int i = 0; i < c->n_in; i++)
        sh[i] = &c->ins[i]->shape;
    LoopNest ln;
    return loop_nest_build(s, sh, c->n_in, &ln) <= 4;
}

/* Adds step n, whose input `from` is the chain's value so far (NULL for
 * the first step, whose input 0 is operand 0). 0 if it does not fit: the
 * chain is left as it was. */
static int chain_add(Chain *c, Node *n, const Value *from, const Shape *s) {
    if (c->n == KILN_CHAIN_MAX_STEPS || !shape_equal(&n->outputs[0]->shape, s)) return 0;
    Chain saved = *c;
    int64_t operand = 0, side = 0;
    if (!from) {
        operand_index(c, n->inputs[0]); /* operand 0 */
        if (step_arity(n) == 1) {
            operand = n->inputs[1] == n->inputs[0] ? -1 : operand_index(c, n->inputs[1]);
        }
    } else if (step_arity(n) == 1) {
        int a = n->inputs[0] == from, b = n->inputs[1] == from;
        if (a && b) {
            operand = -1;
        } else {
            if (b && n->op == OP_PRELU) return 0; /* the slope broadcasts to x only */
            side = b;
            operand = operand_index(c, n->inputs[a ? 1 : 0]);
        }
    }
    if (operand < -1 || !fits_loops(c, s)) {
        *c = saved;
        return 0;
    }
    c->operand[c->n] = operand;
    c->side[c->n] = side;
    c->nodes[c->n++] = n;
    return 1;
}

/* A list attribute of n entries added to k; the caller sets its array. */
static Attr *list_attr(Node *k, const char *name, AttrKind kind, int n) {
    Attr *a = ir_attr_add(k, name, kind);
    a->n = n;
    return a;
}

static void chain_emit(Graph *g, Chain *c) {
    Node *last = c->nodes[c->n - 1];
    const char *name = arena_printf(g->arena, "%s..%s", c->nodes[0]->name, last->name);
    Node *k =
        ir_node_insert_before(g, last, OP_CHAIN, NULL, name, c->n_in, c->ins, 1, last->outputs);
    /* ir_attr_add may move the node's attributes: fill each one before
     * adding the next. */
    const char **steps = arena_alloc_array(g->arena, (size_t)c->n, sizeof(char *));
    int64_t *ops = arena_alloc_array(g->arena, (size_t)c->n, sizeof(int64_t));
    int64_t *sides = arena_alloc_array(g->arena, (size_t)c->n, sizeof(int64_t));
    float *alpha = arena_alloc_array(g->arena, (size_t)c->n, sizeof(float));
    float *beta = arena_alloc_array(g->arena, (size_t)c->n, sizeof(float));
    for (int i = 0; i < c->n; i++) {
        Node *n = c->nodes[i];
        const OpKernel u = op_info(n->op)->kernel;
        steps[i] = n->op_type;
        ops[i] = c->operand[i];
        sides[i] = c->side[i];
        if (n->op == OP_CLIP) {
            clip_bounds(n, &alpha[i], &beta[i]);
        } else if (u.kind == KERNEL_UNARY) {
            alpha[i] = u.alpha_name ? ir_attr_float(n, u.alpha_name, u.alpha) : 0.0f;
            beta[i] = u.beta_name ? ir_attr_float(n, u.beta_name, u.beta) : 0.0f;
        }
        n->dead = 1;
    }
    list_attr(k, "steps", ATTR_STRINGS, c->n)->strings = steps;
    list_attr(k, "operands", ATTR_INTS, c->n)->ints = ops;
    list_attr(k, "sides", ATTR_INTS, c->n)->ints = sides;
    list_attr(k, "alpha", ATTR_FLOATS, c->n)->floats = alpha;
    list_attr(k, "beta", ATTR_FLOATS, c->n)->floats = beta;
    k->outputs[0]->producer = k;
}

/* The one node reading v, also when it reads v twice (x * x). */
static Node *sole_reader(const Graph *g, const Value *v) {
    Node *r = ir_value_sole_user(g, v);
    if (r || v->n_uses != 2 || v->output_index >= 0) return r;
    for (int i = 0; i < g->n_nodes; i++) {
        Node *n = g->nodes[i];
        if (n->dead || n->n_inputs != 2 || n->inputs[0] != n->inputs[1]) continue;
        if (n->inputs[0] == v) return n;
    }
    return NULL;
}

/* The longest chain from head; emitted if it has two steps or more. */
static void chain_grow(Graph *g, Node *head) {
    if (step_arity(head) < 0) return;
    const Shape *s = &head->outputs[0]->shape;
    Chain c = {0};
    if (!chain_add(&c, head, NULL, s)) return;
    for (;;) {
        Value *v = c.nodes[c.n - 1]->outputs[0];
        Node *next = sole_reader(g, v);
        if (!next || step_arity(next) < 0 || !chain_add(&c, next, v, s)) break;
    }
    if (c.n >= 2) chain_emit(g, &c);
}

int pass_fuse_elementwise(Graph *g, Diag *d) {
    (void)d;
    assert(op_info(OP_CHAIN)->in_max >= KILN_CHAIN_MAX_IN); /* ops_fused.def */
    ir_graph_recount(g);
    for (int i = 0; i < g->n_nodes; i++) {
        Node *n = g->nodes[i];
        if (!n->dead && n->op != OP_CHAIN) chain_grow(g, n);
    }
    ir_graph_compact(g);
    ir_graph_recount(g);
    return 0;
}
