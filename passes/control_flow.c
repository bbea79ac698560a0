/* control_flow.c: control flow decided when the model is compiled.
 *
 * An If whose condition is a constant (a model input frozen by `kiln
 * run`, or a condition folded from the input shapes, as exporters write
 * `if x.size(0) == 1`) takes the same branch on every run: its region
 * (compiler/ir/ops_control.def) is replaced by the nodes of that branch,
 * each output of the If becoming an Identity of the branch's result, and
 * the other branch is dropped.
 *
 * A list that a Loop body builds (pass_loop_sequences) is known for what
 * it is when the model is compiled, too: kiln has no sequence values, so
 * the list becomes a scan output, stacked slice by slice.
 */
#include <string.h>

#include "passes.h"

/* Folds the If at node index i (condition constant). */
static void fold_if(Graph *g, int i) {
    Node *n = g->nodes[i];
    int take_then = ((const unsigned char *)n->inputs[0]->data)[0] != 0;
    int else_at = -1, end_at = -1, depth = 0;
    for (int k = i + 1; k < g->n_nodes && end_at < 0; k++) {
        unsigned f = op_info(g->nodes[k]->op)->flags;
        if (f & OPF_REGION_BEGIN) depth++;
        if (depth == 0 && (f & OPF_REGION_ELSE)) else_at = k;
        if ((f & OPF_REGION_END) && depth-- == 0) end_at = k;
    }
    Node *end = g->nodes[end_at];
    int from = take_then ? else_at : i + 1, to = take_then ? end_at : else_at;
    for (int k = from; k < to; k++) /* the branch not taken */
        g->nodes[k]->dead = 1;
    n->dead = 1;
    g->nodes[else_at]->dead = 1;
    int outs = end->n_outputs;
    for (int k = 0; k < outs; k++) {
        Value *chosen = end->inputs[take_then ? k : outs + k];
        ir_node_insert_before(g, end, OP_IDENTITY, "Identity", n->name, 1, &chosen, 1,
                              &end->outputs[k]);
    }
    end->dead = 1;
}

int pass_fold_control(Graph *g, Diag *d) {
    (void)d;
    for (int again = 1; again;) {
        again = 0;
        for (int i = 0; i < g->n_nodes && !again; i++) {
            Node *n = g->nodes[i];
            if (n->op != OP_IF || n->dead || !n->inputs[0]->data) continue;
            fold_if(g, i);
            ir_graph_compact(g);
            again = 1;
        }
    }
    return 0;
}

/* --- lists built in a loop ------------------------------------------------------------------ */

static int is_op(const Node *n, const char *op_type) {
    return n && n->op == OP_UNKNOWN && !strcmp(n->op_type, op_type) &&
           (!n->domain[0] || !strcmp(n->domain, "ai.onnx"));
}

/* a without its entry i (of n), in the graph's arena. */
static Value **drop(Graph *g, Value **a, int n, int i) {
    Value **r = arena_alloc_array(g->arena, (size_t)n + 1, sizeof(Value *));
    for (int j = 0, k = 0; j < n; j++)
        if (j != i) r[k++] = a[j];
    return r;
}

/* a without entry i, with v appended (n entries stay n). */
static Value **drop_append(Graph *g, Value **a, int n, int i, Value *v) {
    Value **r = drop(g, a, n, i);
    r[n - 1] = v;
    return r;
}

/* Carried value k of Loop l (ending at e) when it is such a list: the
 * SequenceInsert in the body, else NULL. The pattern: its initial value
 * is a SequenceEmpty read by the Loop alone, the body's only reader of it
 * appends one tensor (no position) and gives the result back, and the
 * final list is read by one ConcatFromSequence alone (*concat). */
static Node *appended_list(const Graph *g, const Node *l, const Node *e, int k, Node **concat) {
    const Value *init = l->inputs[2 + k], *in = l->outputs[2 + k];
    if (!init || !is_op(init->producer, "SequenceEmpty") || init->n_uses != 1 || !in) return NULL;
    Node *ins = ir_value_sole_user(g, in);
    if (!is_op(ins, "SequenceInsert") || ins->n_inputs != 2 || ins->inputs[0] != in ||
        ins->inputs[1] == in || ins->n_outputs != 1)
        return NULL;
    const Value *out = ins->outputs[0];
    if (ir_value_sole_user(g, out) != e || e->inputs[1 + k] != out) return NULL;
    for (int j = 1; j < e->n_inputs; j++)
        if (j != 1 + k && e->inputs[j] == out) return NULL;
    const Value *fin = e->outputs[k];
    *concat = fin ? ir_value_sole_user(g, fin) : NULL;
    if (!is_op(*concat, "ConcatFromSequence") || (*concat)->n_inputs != 1) return NULL;
    return ins;
}

/* Carried value k becomes the last scan output (see appended_list). */
static void list_to_scan(Graph *g, Node *l, Node *e, int k, Node *ins, Node *concat) {
    Value *init = l->inputs[2 + k], *in = l->outputs[2 + k], *fin = e->outputs[k];
    Value *t = ins->inputs[1], *out = ins->outputs[0];
    Value *stacked = ir_value_add_fresh(g, fin->name, DT_UNDEF);
    init->producer->dead = 1;
    ins->dead = 1;
    l->inputs = drop(g, l->inputs, l->n_inputs--, 2 + k);
    l->outputs = drop(g, l->outputs, l->n_outputs--, 2 + k);
    e->inputs = drop_append(g, e->inputs, e->n_inputs, 1 + k, t);
    e->outputs = drop_append(g, e->outputs, e->n_outputs, k, stacked);
    stacked->producer = e;
    in->producer = fin->producer = out->producer = NULL;
    concat->op = OP_LOOP_CONCAT;
    concat->inputs[0] = stacked;
}

int pass_loop_sequences(Graph *g, Diag *d) {
    (void)d;
    int changed = 0;
    ir_graph_recount(g);
    for (int i = 0; i < g->n_nodes; i++) {
        Node *l = g->nodes[i], *e = l->op == OP_LOOP ? ir_region_end(g, l) : NULL;
        if (!e || l->dead) continue;
        for (int k = 0; k < l->n_outputs - 2 && k < l->n_inputs - 2; k++) {
            Node *concat = NULL, *ins = appended_list(g, l, e, k, &concat);
            if (!ins) continue;
            list_to_scan(g, l, e, k, ins, concat);
            ir_graph_recount(g);
            changed = 1;
            k--; /* the next carried value is at k now */
        }
    }
    if (changed) ir_graph_compact(g);
    return 0;
}
