/* control_flow.c: control flow decided when the model is compiled.
 *
 * An If whose condition is a constant (a model input frozen by `kiln
 * run`, or a condition folded from the input shapes, as exporters write
 * `if x.size(0) == 1`) takes the same branch on every run: its region
 * (compiler/ir/ops_control.def) is replaced by the nodes of that branch,
 * each output of the If becoming an Identity of the branch's result, and
 * the other branch is dropped.
 */
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
