/* shapes_control.c: shapes of the control-flow regions (compiler/ir/ops_control.def).
 *
 * The begin node of a region gives its subgraph's inputs their types (a
 * Loop's carried values have their initial values' types), the nodes in
 * between are inferred as any others, and the end node checks what the
 * subgraph gives against that: an If's branches must agree on each
 * output's type and shape, a Loop or Scan body must give each carried
 * value back with the type and shape it came in with. A scan output
 * stacks one slice per iteration, so its length is the number of
 * iterations: the trip count M when it is known when compiling and the
 * condition stays true, else a data-dependent symbol (dim.h) that run()
 * sets when the loop ends, bounded by the Loop's plan (LoopPlan, ir.h):
 * by M if known, else by `kiln compile --loop-bound NODE=N` (the driver
 * puts it on the node as the attribute kiln_loop_bound), else by
 * LOOP_BOUND_DEFAULT; run() checks every iteration against a bound that
 * is not M's. The body reads its iteration number as a data-dependent
 * symbol bounded by the bound - 1, so that a Slice from i to i + 1 has
 * length 1.
 */
#include <assert.h>
#include <string.h>

#include "shapes.h"

/* The bound on a Loop's iterations when neither M nor --loop-bound gives
 * one: the same as a dynamic dim's default upper bound. */
#define LOOP_BOUND_DEFAULT DIM_DEFAULT_HI

/* 1 if v holds exactly one element whatever the symbols are. */
static int one_element(const Value *v) {
    for (int i = 0; i < v->shape.rank; i++)
        if (v->shape.dims[i] != 1) return 0;
    return 1;
}

static const char *type_str(const Value *v, char buf[200]) {
    char s[160];
    snprintf(buf, 200, "%s%s", dtype_onnx_name(v->dtype), shapes_str(&v->shape, s));
    return buf;
}

static int bad_scalar(Node *n, Diag *d, const char *what, const Value *v, DType want) {
    char t[200];
    diag_node(d, n, "%s '%s' is %s; %s needs a %s tensor of one element", what, v->name,
              type_str(v, t), n->op_type, dtype_onnx_name(want));
    return -1;
}

int shape_if(Node *n, Diag *d) {
    const Value *c = n->inputs[0];
    if (c->dtype != DT_BOOL || !one_element(c)) return bad_scalar(n, d, "condition", c, DT_BOOL);
    return 0;
}

int shape_if_else(Node *n, Diag *d) {
    (void)n;
    (void)d;
    return 0;
}

int shape_if_end(Node *n, Diag *d) {
    int k = n->n_outputs;
    for (int i = 0; i < k; i++) {
        const Value *a = n->inputs[i], *b = n->inputs[k + i];
        Shape s = a->shape;
        int ok = a->dtype == b->dtype && a->shape.rank == b->shape.rank;
        for (int j = 0; ok && j < s.rank; j++) {
            char what[64];
            snprintf(what, sizeof what, "dim %d of output %d of both branches", j, i);
            if (shapes_unify(n, a->shape.dims[j], b->shape.dims[j], &s.dims[j], what)) ok = 0;
        }
        if (!ok) {
            char ta[200], tb[200];
            diag_node(d, n,
                      "output %d is %s in then_branch ('%s') but %s in else_branch ('%s'); kiln "
                      "compiles an If whose branches give each output one type and shape",
                      i, type_str(a, ta), a->name, type_str(b, tb), b->name);
            diag_hint(d, "make both branches produce the same shape (pad or reshape one of them)");
            return -1;
        }
        shapes_set(n, i, a->dtype, &s);
    }
    return 0;
}

/* M as a Dim when it is known when compiling (a number, or a size folded
 * from the input shapes) and small enough to bound memory by; a negative
 * M is 0 iterations. DIM_INVALID otherwise (torch writes INT64_MAX for a
 * while loop). */
static Dim trip_known(const Value *m) {
    if (!m || !m->data) return DIM_INVALID;
    int64_t v = ((const int64_t *)m->data)[0];
    if (ir_dim_in_data(v)) return dim_max(ir_dim_decode(v), 0);
    if (v < 0) return 0;
    return v <= KILN_MAX_DIM ? v : DIM_INVALID;
}

/* 1 if a node of g reads v. */
static int has_reader(const Graph *g, const Value *v) {
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i]->n_inputs; j++)
            if (g->nodes[i]->inputs[j] == v && !g->nodes[i]->dead) return 1;
    return 0;
}

/* The Loop's plan (see the header) into p; the iteration number's
 * symbol is made once (and the body's reads of the iteration number
 * redirected to it), then kept by every later run of shape_loop. */
static void loop_plan(Node *n, LoopPlan *p, const LoopPlan *old) {
    Graph *g = n->graph;
    const Node *e = ir_region_end(g, n);
    int scans = e ? e->n_outputs - (n->n_outputs - 2) : 0;
    Dim mk = trip_known(n->inputs[0]);
    const Attr *ub = ir_attr(n, "kiln_loop_bound");
    *p = (LoopPlan){.bound = DIM_INVALID, .iter = old ? old->iter : DIM_INVALID};
    if (ub && ub->kind == ATTR_INT && ub->i >= 0 && ub->i <= KILN_MAX_DIM) {
        p->bound = mk != DIM_INVALID ? dim_min(mk, ub->i) : ub->i;
        p->checked = !(mk != DIM_INVALID && dim_provably_le(mk, ub->i));
    } else if (mk != DIM_INVALID) {
        p->bound = mk;
    } else if (scans > 0) {
        p->bound = LOOP_BOUND_DEFAULT;
        p->checked = 1;
    }
    Value *it = n->outputs[0];
    if (p->bound == DIM_INVALID || p->iter != DIM_INVALID || !it || !has_reader(g, it)) return;
    Dim sym = dim_sym_data("iter", dim_max(dim_sub(p->bound, 1), 0));
    if (sym == DIM_INVALID) return; /* the body reads the number as a tensor */
    Value *v = ir_value_add_fresh(g, it->name, DT_I64);
    int64_t *x = arena_alloc(g->arena, sizeof(int64_t));
    *x = ir_dim_encode(sym);
    v->shape = (Shape){.rank = 0};
    v->data = x;
    ir_value_replace_uses(g, it, v);
    p->iter = sym;
}

int shape_loop(Node *n, Diag *d) {
    const Value *m = shapes_in(n, 0), *c = shapes_in(n, 1);
    if (m && (m->dtype != DT_I64 || !one_element(m)))
        return bad_scalar(n, d, "trip count M", m, DT_I64);
    if (c && (c->dtype != DT_BOOL || !one_element(c)))
        return bad_scalar(n, d, "condition", c, DT_BOOL);
    Shape scalar = {.rank = 0};
    shapes_set(n, 0, DT_I64, &scalar);
    shapes_set(n, 1, DT_BOOL, &scalar);
    for (int k = 2; k < n->n_inputs; k++)
        shapes_set(n, k, n->inputs[k]->dtype, &n->inputs[k]->shape);
    LoopPlan *p = arena_alloc(n->graph->arena, sizeof *p);
    loop_plan(n, p, n->plan_kind == PLAN_LOOP ? n->plan.loop : NULL);
    n->plan_kind = PLAN_LOOP;
    n->plan.loop = p;
    return 0;
}

/* v seen through Identity nodes. */
static const Value *through_identity(const Value *v) {
    while (v && v->producer && v->producer->op == OP_IDENTITY)
        v = v->producer->inputs[0];
    return v;
}

static int true_constant(const Value *v) {
    return v && v->data && v->dtype == DT_BOOL && ((const uint8_t *)v->data)[0];
}

/* The trip count of Loop b (ending at e) when the model is compiled: M
 * is a constant (a number, or a size folded from the input shapes) and
 * the condition is true on entry and stays true. -1 with *why otherwise. */
static int loop_trip(const Node *b, const Node *e, Dim *trip, const char **why) {
    const Value *m = b->inputs[0], *c = b->inputs[1];
    const Value *out = through_identity(e->inputs[0]);
    int stays = out == b->outputs[1] || true_constant(out);
    if (!m) {
        *why = stays ? "it has no trip count M and its body never changes the condition, so "
                       "once it starts it never ends"
                     : "it has no trip count M";
        return -1;
    }
    if (!m->data) {
        *why = "its trip count M is computed when the model runs";
        return -1;
    }
    if (c && !c->data) {
        *why = "its initial condition is computed when the model runs";
        return -1;
    }
    if (!stays && !(c && !true_constant(c))) {
        *why = "its body computes the condition, so the iterations are counted only when it runs";
        return -1;
    }
    *trip = trip_known(m);
    if (*trip == DIM_INVALID) {
        *why = "its trip count M is too large to plan for";
        return -1;
    }
    if (c && !true_constant(c)) *trip = 0;
    return 0;
}

/* -1 with a diagnostic unless the body gives carried value k back (v_out)
 * with its type and shape on entry (v_in). */
static int carried_check(Node *n, Diag *d, int k, const Value *v_in, const Value *v_out) {
    if (v_in->dtype == v_out->dtype && shape_equal(&v_in->shape, &v_out->shape)) return 0;
    char ta[200], tb[200];
    diag_node(d, n,
              "loop-carried value %d ('%s') is %s on entry, but the body gives back %s ('%s'); "
              "kiln compiles loops whose carried values keep their type and shape",
              k, v_in->name, type_str(v_in, ta), type_str(v_out, tb), v_out->name);
    diag_hint(d, "a value that grows each iteration belongs in a scan output");
    return -1;
}

/* The scan output shape: slice y with `len` inserted at `axis`. */
static int stacked(Node *n, Diag *d, const Value *y, Dim len, int64_t axis, Shape *s) {
    if (y->shape.rank + 1 > IR_MAX_RANK) {
        diag_node(d, n, "scan output '%s' would have rank %d, above kiln's limit of %d", y->name,
                  y->shape.rank + 1, IR_MAX_RANK);
        return -1;
    }
    int64_t a;
    if (shapes_axis(n, axis, y->shape.rank + 1, d, &a)) return -1;
    s->rank = y->shape.rank + 1;
    for (int i = 0, j = 0; i < s->rank; i++)
        s->dims[i] = i == a ? len : y->shape.dims[j++];
    return 0;
}

int shape_loop_end(Node *n, Diag *d) {
    Node *b = ir_region_begin(n->graph, n);
    if (!b || b->op != OP_LOOP) {
        diag_node(d, n, "closes no Loop");
        return -1;
    }
    int carried = b->n_outputs - 2, k = n->n_outputs - carried;
    if (k < 0 || n->n_inputs != 1 + carried + k) {
        diag_node(d, n, "has %d inputs and %d outputs for a Loop of %d carried values", n->n_inputs,
                  n->n_outputs, carried);
        return -1;
    }
    const Value *c = n->inputs[0];
    if (c->dtype != DT_BOOL || !one_element(c))
        return bad_scalar(n, d, "the body's condition output", c, DT_BOOL);
    for (int i = 0; i < carried; i++) {
        if (carried_check(n, d, i, b->outputs[2 + i], n->inputs[1 + i])) return -1;
        shapes_set(n, i, b->outputs[2 + i]->dtype, &b->outputs[2 + i]->shape);
    }
    Dim trip = 0;
    const char *why = NULL;
    int known = loop_trip(b, n, &trip, &why) == 0;
    if (!known && strstr(why, "never ends")) {
        diag_node(d, n, "%s", why);
        diag_hint(d, "give the Loop a trip count M, or a body that computes its condition");
        return -1;
    }
    const LoopPlan *p = b->plan_kind == PLAN_LOOP ? b->plan.loop : NULL;
    if (!known && k > 0) {
        /* Counted when it runs, within the plan's bound (there is one:
         * the default where nothing else gives it). */
        assert(p && p->bound != DIM_INVALID);
        trip = shapes_dyn_count(n, carried, 0, "loop", p->bound, d);
        if (trip == DIM_INVALID) return -1;
    }
    for (int i = 0; i < k; i++) {
        const Value *y = n->inputs[1 + carried + i];
        Shape s;
        if (dim_is_data(shape_count(&y->shape))) {
            char buf[160];
            diag_node(d, n,
                      "scan output '%s' has shape %s, a size computed when the model runs, which "
                      "may change from one iteration to the next; kiln stacks slices of one shape",
                      y->name, shapes_str(&y->shape, buf));
            diag_hint(d, "pad each slice to a fixed shape in the body");
            return -1;
        }
        if (stacked(n, d, y, trip, 0, &s)) return -1;
        shapes_set(n, carried + i, y->dtype, &s);
    }
    return 0;
}

/* Loop.concat (ops_control.def): x [n, s0, ...] -> the n slices stacked
 * at `axis` (new_axis 1: [s0.., n, ..]) or joined along it (new_axis 0:
 * [.., n * s_axis, ..]). */
int shape_loop_concat(Node *n, Diag *d) {
    const Value *x = shapes_in(n, 0);
    int nw = ir_attr_int(n, "new_axis", 0) != 0, r = x->shape.rank - 1;
    int64_t axis;
    if (r < 0 || (!nw && r < 1)) {
        diag_node(d, n, "the sequence holds %s, which cannot be concatenated",
                  r < 0 ? "nothing" : "scalars");
        diag_hint(d, "set new_axis=1 to stack scalars");
        return -1;
    }
    if (shapes_axis(n, ir_attr_int(n, "axis", 0), r + nw, d, &axis)) return -1;
    Shape s = {.rank = r + nw};
    for (int i = 0, j = 1; i < s.rank; i++) {
        if (i == axis)
            s.dims[i] = nw ? x->shape.dims[0] : dim_mul(x->shape.dims[0], x->shape.dims[j++]);
        else
            s.dims[i] = x->shape.dims[j++];
    }
    if (s.dims[axis] == DIM_INVALID) {
        diag_node(d, n, "the concatenated axis %lld is too large", (long long)axis);
        return -1;
    }
    shapes_set(n, 0, x->dtype, &s);
    return 0;
}

/* Scan's i-th axis from attribute `name` (default 0) and its direction. */
static int scan_attr(Node *n, Diag *d, const char *name, int i, int count, int64_t *out) {
    const Attr *a;
    *out = 0;
    if (shapes_attr(n, name, ATTR_INTS, &a, d)) return -1;
    if (!a) return 0;
    if (a->n != count) {
        diag_node(d, n, "attribute '%s' has %d entries, expected %d", name, a->n, count);
        return -1;
    }
    *out = a->ints[i];
    if (strstr(name, "directions") && *out != 0 && *out != 1) {
        diag_node(d, n, "attribute '%s' holds %lld; directions are 0 (forward) or 1 (reverse)",
                  name, (long long)*out);
        return -1;
    }
    return 0;
}

/* Opset 8's Scan has a batch axis 0 in front of every input and output,
 * which the body does not see; kiln compiles it for a batch of 1 (then
 * the bytes are those of the opset 9 form, with the scan axis at 1). */
static int batch_of_one(Node *n, Diag *d, const Value *v, int min_rank) {
    if (n->opset >= 9) return 0;
    if (v->shape.rank >= min_rank && v->shape.dims[0] == 1) return 0;
    char t[200];
    diag_node(d, n, "input '%s' is %s; kiln compiles an opset 8 Scan for a batch of 1 (dim 0) only",
              v->name, type_str(v, t));
    diag_hint(d, "export the model with opset 9 or later, or run it one batch item at a time");
    return -1;
}

static Shape drop_batch(const Node *n, const Shape *s) {
    Shape r = *s;
    if (n->opset >= 9) return r;
    r.rank--;
    for (int i = 0; i < r.rank; i++)
        r.dims[i] = s->dims[i + 1];
    return r;
}

static Shape add_batch(const Node *n, const Shape *s) {
    Shape r = *s;
    if (n->opset >= 9) return r;
    r.rank++;
    r.dims[0] = 1;
    for (int i = 1; i < r.rank; i++)
        r.dims[i] = s->dims[i - 1];
    return r;
}

int shape_scan(Node *n, Diag *d) {
    int m = (int)ir_attr_int(n, "num_scan_inputs", 0), states = n->n_inputs - m;
    if (m < 1 || states < 0 || n->n_outputs != n->n_inputs) {
        diag_node(d, n, "num_scan_inputs %d does not fit its %d inputs", m, n->n_inputs);
        return -1;
    }
    for (int i = 0; i < states; i++) {
        if (batch_of_one(n, d, n->inputs[i], 1)) return -1;
        Shape s = drop_batch(n, &n->inputs[i]->shape);
        shapes_set(n, i, n->inputs[i]->dtype, &s);
    }
    Dim len = DIM_INVALID;
    for (int j = 0; j < m; j++) {
        const Value *x = n->inputs[states + j];
        int64_t axis, dir;
        if (n->opset < 9) {
            if (batch_of_one(n, d, x, 2) || scan_attr(n, d, "directions", j, m, &dir)) return -1;
            axis = 1;
        } else if (scan_attr(n, d, "scan_input_axes", j, m, &axis) ||
                   scan_attr(n, d, "scan_input_directions", j, m, &dir)) {
            return -1;
        }
        if (x->shape.rank < 1) {
            diag_node(d, n, "scan input '%s' is a scalar; it needs an axis to scan", x->name);
            return -1;
        }
        if (shapes_axis(n, axis, x->shape.rank, d, &axis)) return -1;
        Dim l = x->shape.dims[axis];
        if (len == DIM_INVALID)
            len = l;
        else if (shapes_unify(n, len, l, &len, "the length of every scan input")) {
            diag_node(d, n, "scan input '%s' has %s along its scanned axis, the first has another",
                      x->name, shapes_str(&x->shape, (char[160]){0}));
            return -1;
        }
        Shape s = {.rank = x->shape.rank - 1};
        for (int i = 0, k = 0; i < x->shape.rank; i++)
            if (i != axis) s.dims[k++] = x->shape.dims[i];
        s = drop_batch(n, &s);
        shapes_set(n, states + j, x->dtype, &s);
    }
    return 0;
}

int shape_scan_end(Node *n, Diag *d) {
    Node *b = ir_region_begin(n->graph, n);
    if (!b || b->op != OP_SCAN) {
        diag_node(d, n, "closes no Scan");
        return -1;
    }
    int m = (int)ir_attr_int(b, "num_scan_inputs", 0), states = b->n_inputs - m;
    int k = n->n_outputs - states;
    if (k < 0 || n->n_inputs != n->n_outputs) {
        diag_node(d, n, "has %d inputs and %d outputs for a Scan of %d states", n->n_inputs,
                  n->n_outputs, states);
        return -1;
    }
    for (int i = 0; i < states; i++) {
        if (carried_check(n, d, i, b->outputs[i], n->inputs[i])) return -1;
        Shape s = add_batch(n, &b->outputs[i]->shape);
        shapes_set(n, i, b->outputs[i]->dtype, &s);
    }
    int64_t axis0 = 1;
    if (n->opset >= 9 && (scan_attr(b, d, "scan_input_axes", 0, m, &axis0) ||
                          shapes_axis(b, axis0, b->inputs[states]->shape.rank, d, &axis0)))
        return -1;
    Dim len = b->inputs[states]->shape.dims[axis0];
    for (int i = 0; i < k; i++) {
        int64_t axis = 0, dir;
        Shape s;
        if (n->opset >= 9 && (scan_attr(n, d, "scan_output_axes", i, k, &axis) ||
                              scan_attr(n, d, "scan_output_directions", i, k, &dir)))
            return -1;
        if (stacked(n, d, n->inputs[states + i], len, axis, &s)) return -1;
        s = add_batch(n, &s);
        shapes_set(n, states + i, n->inputs[states + i]->dtype, &s);
    }
    return 0;
}
