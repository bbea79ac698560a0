/* fuse_transformer.c: the rewrites that transformer exports need.
 *
 * - LayerNorm that opsets before 17 spell out (torch's export):
 *     m = ReduceMean(x, last axis), d = Sub(x, m), v = ReduceMean(Pow(d, 2)),
 *     y = Div(d, Sqrt(Add(v, eps))) * gamma + beta
 *   becomes one LayerNormalization node (its single-pass row kernel).
 * - GELU after a Gemm (MatMul with bias, pass_fuse) in its erf form
 *   x * 0.5 * (1 + erf(x / sqrt 2)) or its tanh form
 *   x * 0.5 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))) becomes the
 *   Gemm's EPI_GELU / EPI_GELU_TANH epilogue.
 * Every constant must match to float precision and every intermediate must
 * have no reader outside the pattern, else nothing changes.
 */
#include <assert.h>
#include <math.h>

#include "passes.h"
#include "shapes.h"

/* v is a float constant holding one value close to `want`. */
static int const_is(const Value *v, double want) {
    if (!v || !v->data || v->dtype != DT_F32 || v->shape.rank < 0 || shape_numel(&v->shape) != 1)
        return 0;
    double got = *(const float *)v->data;
    return fabs(got - want) <= 1e-6 * fabs(want) + 1e-7;
}

/* The node producing v if it is `op` and v is read only by the pattern
 * (one use, not a graph output); NULL otherwise. */
static Node *inner(const Value *v, OpKind op) {
    if (!v || !v->producer || v->producer->op != op || v->producer->dead) return NULL;
    if (v->n_uses != 1 || v->output_index >= 0) return NULL;
    return v->producer;
}

/* Binary node n with one input a constant equal to c: the other input
 * (NULL if neither is). Div and Sub take the constant second only. */
static Value *with_const(const Node *n, double c) {
    if (!n || n->n_inputs != 2) return NULL;
    if (const_is(n->inputs[1], c)) return n->inputs[0];
    if (n->op != OP_DIV && n->op != OP_SUB && const_is(n->inputs[0], c)) return n->inputs[1];
    return NULL;
}

/* The other input of binary n when one is v; NULL if none is. */
static Value *other(const Node *n, const Value *v) {
    if (!n || n->n_inputs != 2) return NULL;
    if (n->inputs[0] == v) return n->inputs[1];
    if (n->inputs[1] == v) return n->inputs[0];
    return NULL;
}

/* --- GELU ----------------------------------------------------------------------- */

enum { GELU_MAX_NODES = 12 };

typedef struct Match {
    Node *nodes[GELU_MAX_NODES]; /* the pattern's nodes but the last */
    int n;
    Value *x;
} Match;

static int keep(Match *m, Node *n) {
    if (!n || m->n == GELU_MAX_NODES) return 0;
    m->nodes[m->n++] = n;
    return 1;
}

/* erf(x / sqrt 2) or erf(x * (1 / sqrt 2)): x, or NULL. */
static Value *erf_arg(Match *m, Node *e) {
    Node *s = inner(e->inputs[0], OP_DIV);
    Value *x = s ? with_const(s, sqrt(2.0)) : NULL;
    if (!x) {
        s = inner(e->inputs[0], OP_MUL);
        x = with_const(s, sqrt(0.5));
    }
    return x && keep(m, s) ? x : NULL;
}

/* x^3 as Mul(x, Mul(x, x)) in either order, or Pow(x, 3). */
static int is_cube(Match *m, const Value *c, const Value *x) {
    Node *p = inner(c, OP_POW);
    if (p) return p->inputs[0] == x && const_is(p->inputs[1], 3.0) && keep(m, p);
    Node *c3 = inner(c, OP_MUL);
    if (!c3) return 0;
    Value *sq = other(c3, x);
    Node *c2 = inner(sq, OP_MUL);
    return c2 && c2->inputs[0] == x && c2->inputs[1] == x && keep(m, c3) && keep(m, c2);
}

/* tanh(sqrt(2/pi) * (x + 0.044715 x^3)): x, or NULL. */
static Value *tanh_arg(Match *m, Node *t) {
    Node *s = inner(t->inputs[0], OP_MUL);
    Node *a = inner(with_const(s, sqrt(2.0 / M_PI)), OP_ADD);
    if (!a || !keep(m, s) || !keep(m, a)) return NULL;
    for (int i = 0; i < 2; i++) {
        Value *x = a->inputs[i];
        Node *k = inner(a->inputs[!i], OP_MUL);
        Value *c = with_const(k, 0.044715);
        int n0 = m->n;
        if (c && keep(m, k) && is_cube(m, c, x)) return x;
        m->n = n0;
    }
    return NULL;
}

/* 1 + erf(..) or 1 + tanh(..): the epilogue and m->x, EPI_NONE if p is not. */
static Epilogue gelu_core(Match *m, const Value *p) {
    Node *add = inner(p, OP_ADD);
    Value *f = with_const(add, 1.0);
    if (!f || !keep(m, add)) return EPI_NONE;
    Node *e = inner(f, OP_ERF);
    if (e && keep(m, e) && (m->x = erf_arg(m, e))) return EPI_GELU;
    Node *t = inner(f, OP_TANH);
    if (t && keep(m, t) && (m->x = tanh_arg(m, t))) return EPI_GELU_TANH;
    return EPI_NONE;
}

/* end = Mul(Mul(x, P), 0.5) or Mul(Mul(x, 0.5), P), P = 1 + erf/tanh(..),
 * the products in either order. */
static Epilogue gelu_match(Match *m, Node *end) {
    if (end->op != OP_MUL || end->n_inputs != 2) return EPI_NONE;
    Epilogue e;
    Node *xp = inner(with_const(end, 0.5), OP_MUL); /* (x * P) * 0.5 */
    for (int j = 0; xp && j < 2; j++) {
        m->n = 0;
        if (keep(m, xp) && (e = gelu_core(m, xp->inputs[j])) != EPI_NONE && xp->inputs[!j] == m->x)
            return e;
    }
    for (int j = 0; j < 2; j++) { /* (x * 0.5) * P */
        m->n = 0;
        Node *h = inner(end->inputs[j], OP_MUL);
        Value *x = with_const(h, 0.5);
        if (x && keep(m, h) && (e = gelu_core(m, end->inputs[!j])) != EPI_NONE && m->x == x)
            return e;
    }
    return EPI_NONE;
}

/* Every use of x is inside the match (x's Gemm output then goes away). */
static int uses_all(const Match *m, const Node *end) {
    int uses = 0;
    for (int i = 0; i <= m->n; i++) {
        const Node *n = i < m->n ? m->nodes[i] : end;
        for (int j = 0; j < n->n_inputs; j++)
            uses += n->inputs[j] == m->x;
    }
    return uses == m->x->n_uses && m->x->output_index < 0;
}

static void gelu_fuse(Node *end) {
    Match m = {0};
    Epilogue e = gelu_match(&m, end);
    if (e == EPI_NONE) return;
    Node *gemm = m.x->producer;
    if (!gemm || gemm->op != OP_GEMM || gemm->epilogue != EPI_NONE || gemm->n_outputs != 1) return;
    if (!uses_all(&m, end) || !shape_equal(&m.x->shape, &end->outputs[0]->shape)) return;
    if (m.x->dtype != DT_F32) return;
    gemm->epilogue = e;
    gemm->outputs[0]->producer = NULL;
    gemm->outputs[0] = end->outputs[0];
    end->outputs[0]->producer = gemm;
    for (int i = 0; i < m.n; i++)
        m.nodes[i]->dead = 1;
    end->dead = 1;
}

/* --- LayerNorm ------------------------------------------------------------------- */

/* n is a ReduceMean over only the last axis, keeping it. */
static int mean_last(const Node *n) {
    if (!n || n->op != OP_REDUCE_MEAN || n->plan_kind != PLAN_REDUCE) return 0;
    const ReducePlan *p = n->plan.reduce;
    int r = n->inputs[0]->shape.rank;
    return r >= 1 && p->keepdims && !p->noop && p->mask == 1u << (r - 1);
}

/* A constant [C] (or [1, .., C]), C the last dim of x: a per-channel
 * parameter LayerNormalization takes. */
static int per_channel(const Value *p, const Value *x) {
    if (!p || !p->data || p->dtype != DT_F32 || p->shape.rank < 1) return 0;
    if (p->shape.rank > x->shape.rank) return 0;
    for (int i = 0; i + 1 < p->shape.rank; i++)
        if (p->shape.dims[i] != 1) return 0;
    return p->shape.dims[p->shape.rank - 1] == x->shape.dims[x->shape.rank - 1];
}

static void layer_norm_fuse(Graph *g, Node *bias_add) {
    if (bias_add->op != OP_ADD || bias_add->n_inputs != 2) return;
    for (int i = 0; i < 2; i++) {
        Value *beta = bias_add->inputs[!i];
        Node *mul = inner(bias_add->inputs[i], OP_MUL);
        if (!mul) continue;
        for (int j = 0; j < 2; j++) {
            Value *gamma = mul->inputs[!j];
            Node *div = inner(mul->inputs[j], OP_DIV);
            Node *sq = div ? inner(div->inputs[1], OP_SQRT) : NULL;
            Node *eps_add = sq ? inner(sq->inputs[0], OP_ADD) : NULL;
            Node *var = NULL;
            Value *eps = NULL;
            for (int k = 0; eps_add && k < 2 && !var; k++)
                if ((var = inner(eps_add->inputs[k], OP_REDUCE_MEAN))) eps = eps_add->inputs[!k];
            Node *pw = var ? inner(var->inputs[0], OP_POW) : NULL;
            if (!pw || !const_is(pw->inputs[1], 2.0) || !mean_last(var)) continue;
            /* d = x - mean(x) is read by Pow and Div only. */
            Value *d = div->inputs[0];
            Node *sub = d->producer;
            if (!sub || sub->op != OP_SUB || pw->inputs[0] != d || d->n_uses != 2 ||
                d->output_index >= 0)
                continue;
            Value *x = sub->inputs[0];
            Node *mean = inner(sub->inputs[1], OP_REDUCE_MEAN);
            if (!mean || mean->inputs[0] != x || !mean_last(mean) || x->dtype != DT_F32) continue;
            if (!eps || !eps->data || eps->dtype != DT_F32 || shape_numel(&eps->shape) != 1 ||
                !(*(const float *)eps->data >= 0.0f))
                continue;
            if (!per_channel(gamma, x) || !per_channel(beta, x)) continue;
            if (!shape_equal(&x->shape, &bias_add->outputs[0]->shape)) continue;
            /* The Add becomes LayerNormalization(x, gamma, beta) over the last axis. */
            Node *n = bias_add;
            Value **ins = arena_alloc(g->arena, 3 * sizeof(Value *));
            ins[0] = x, ins[1] = gamma, ins[2] = beta;
            n->op = OP_LAYER_NORM;
            n->op_type = "LayerNormalization";
            n->inputs = ins;
            n->n_inputs = 3;
            n->n_attrs = 0;
            ir_attr_set(n, "axis", ATTR_INT)->i = -1;
            ir_attr_set(n, "epsilon", ATTR_FLOAT)->f = *(const float *)eps->data;
            int rc = shapes_node(n, NULL);
            (void)rc;
            assert(rc == 0); /* x, gamma and beta were checked above */
            Node *gone[] = {mul, div, sq, eps_add, var, pw, sub, mean};
            for (size_t k = 0; k < sizeof gone / sizeof *gone; k++)
                gone[k]->dead = 1;
            return;
        }
    }
}

/* --- attention -------------------------------------------------------------------- */

/* v is a rank 3 Transpose output with permutation (a, b, c) whose only
 * reader is the pattern: its input, or NULL. */
static Value *transposed(const Value *v, int a, int b, int c) {
    Node *t = inner(v, OP_TRANSPOSE);
    if (!t || t->plan_kind != PLAN_PERM || v->shape.rank != 3) return NULL;
    const int64_t *p = t->plan.perm;
    return p[0] == a && p[1] == b && p[2] == c ? t->inputs[0] : NULL;
}

/* MatMul(Q', K') -> Softmax(last axis) -> MatMul(., V'), with Q' = [scale]
 * (Q or Transpose(Q [L,G,D], (1,0,2))), K' = Transpose(K [L,G,D], (1,2,0))
 * or Transpose(K [G,L,D], (0,2,1)), V' = V or Transpose(V [L,G,D],
 * (1,0,2)), and the result optionally transposed back to [L,G,D], becomes
 * one FusedAttention node (the last node of the pattern, rewritten). */
static void attention_fuse(Graph *g, Node *qk) {
    if (qk->op != OP_MATMUL || qk->n_inputs != 2) return;
    Value *s = qk->outputs[0];
    if (s->shape.rank != 3 || s->dtype != DT_F32 || qk->inputs[0]->shape.rank != 3) return;
    Node *chain[8];
    int n = 0;
    chain[n++] = qk;
    float scale = 1.0f;
    /* Softmax(S * c) or Softmax(S / c). */
    Node *sm = ir_value_sole_user(g, s);
    if (sm && (sm->op == OP_DIV || sm->op == OP_MUL) && sm->n_inputs == 2 &&
        (sm->inputs[0] == s || sm->op == OP_MUL)) {
        Value *c = other(sm, s);
        if (!c || !c->data || c->dtype != DT_F32 || shape_numel(&c->shape) != 1 ||
            !shape_equal(&sm->outputs[0]->shape, &s->shape))
            return;
        float cv = *(const float *)c->data;
        if (sm->op == OP_DIV && cv == 0.0f) return;
        scale = sm->op == OP_DIV ? 1.0f / cv : cv;
        chain[n++] = sm;
        sm = ir_value_sole_user(g, sm->outputs[0]);
    }
    if (!sm || sm->op != OP_SOFTMAX || sm->plan_kind != PLAN_REDUCE || sm->plan.reduce->axis != 2)
        return;
    chain[n++] = sm;
    Node *pv = ir_value_sole_user(g, sm->outputs[0]);
    if (!pv || pv->op != OP_MATMUL || pv->inputs[0] != sm->outputs[0]) return;
    chain[n++] = pv;
    /* Q: a scale by a constant first, then the head split. */
    Value *q = qk->inputs[0];
    Node *qs = inner(q, OP_DIV);
    if (!qs) qs = inner(q, OP_MUL);
    if (qs) {
        Value *c = qs->op == OP_DIV ? qs->inputs[1] : NULL;
        Value *src = qs->op == OP_DIV ? qs->inputs[0] : NULL;
        if (qs->op == OP_MUL)
            for (int i = 0; i < 2 && !c; i++)
                if (qs->inputs[i]->data) c = qs->inputs[i], src = qs->inputs[!i];
        if (!c || !c->data || c->dtype != DT_F32 || shape_numel(&c->shape) != 1 ||
            !shape_equal(&src->shape, &q->shape))
            return;
        float cv = *(const float *)c->data;
        if (qs->op == OP_DIV && cv == 0.0f) return;
        scale *= qs->op == OP_DIV ? 1.0f / cv : cv;
        chain[n++] = qs;
        q = src;
    }
    int q_lgd = 0, k_lgd = 0, v_lgd = 0, y_lgd = 0;
    Value *t = transposed(q, 1, 0, 2);
    if (t) {
        chain[n++] = q->producer;
        q = t, q_lgd = 1;
    }
    Value *kb = qk->inputs[1], *k = transposed(kb, 1, 2, 0);
    if (k) {
        k_lgd = 1;
    } else if (!(k = transposed(kb, 0, 2, 1))) {
        return;
    }
    chain[n++] = kb->producer;
    Value *v = pv->inputs[1];
    if (v->shape.rank != 3) return;
    if ((t = transposed(v, 1, 0, 2))) {
        chain[n++] = v->producer;
        v = t, v_lgd = 1;
    }
    if (q->shape.rank != 3 || k->shape.rank != 3 || v->shape.rank != 3 || q->dtype != DT_F32 ||
        k->dtype != DT_F32 || v->dtype != DT_F32)
        return;
    Node *last = pv;
    Node *yt = ir_value_sole_user(g, pv->outputs[0]);
    if (yt && yt->op == OP_TRANSPOSE && transposed(pv->outputs[0], 1, 0, 2)) {
        last = yt;
        y_lgd = 1;
    }
    Shape want = last->outputs[0]->shape;
    Value **ins = arena_alloc(g->arena, 3 * sizeof(Value *));
    ins[0] = q, ins[1] = k, ins[2] = v;
    Node *a = last;
    Value **old_ins = a->inputs;
    int old_n = a->n_inputs, old_attrs = a->n_attrs;
    Attr *old_at = a->attrs; /* ir_attr_set below copies into a new array */
    OpKind old_op = a->op;
    PlanKind old_plan = a->plan_kind;
    a->op = OP_ATTENTION;
    a->inputs = ins;
    a->n_inputs = 3;
    a->n_attrs = 0;
    a->plan_kind = PLAN_NONE;
    ir_attr_set(a, "q_lgd", ATTR_INT)->i = q_lgd;
    ir_attr_set(a, "k_lgd", ATTR_INT)->i = k_lgd;
    ir_attr_set(a, "v_lgd", ATTR_INT)->i = v_lgd;
    ir_attr_set(a, "y_lgd", ATTR_INT)->i = y_lgd;
    ir_attr_set(a, "scale", ATTR_FLOAT)->f = scale;
    if (shapes_node(a, NULL) || !shape_equal(&a->outputs[0]->shape, &want)) {
        /* Sizes that do not fit (or cannot be proven to): leave the nodes as they were. */
        a->op = old_op, a->inputs = old_ins, a->n_inputs = old_n, a->n_attrs = old_attrs;
        a->attrs = old_at, a->plan_kind = old_plan;
        a->scratch = 0;
        int rc = shapes_node(a, NULL);
        (void)rc;
        assert(rc == 0 && shape_equal(&a->outputs[0]->shape, &want));
        return;
    }
    a->op_type = "FusedAttention";
    a->domain = "kiln.fused";
    for (int i = 0; i < n; i++)
        if (chain[i] != a) chain[i]->dead = 1;
}

int pass_fuse_transformer(Graph *g, Diag *d) {
    (void)d;
    ir_graph_recount(g);
    for (int i = 0; i < g->n_nodes; i++)
        if (!g->nodes[i]->dead) layer_norm_fuse(g, g->nodes[i]);
    for (int i = 0; i < g->n_nodes; i++)
        if (!g->nodes[i]->dead) attention_fuse(g, g->nodes[i]);
    ir_graph_compact(g);
    return 0;
}

int pass_fuse_gelu(Graph *g, Diag *d) {
    (void)d;
    ir_graph_recount(g);
    for (int i = 0; i < g->n_nodes; i++)
        if (!g->nodes[i]->dead) gelu_fuse(g->nodes[i]);
    ir_graph_compact(g);
    return 0;
}
