/* check_support.c: what kiln cannot compile, listed all at once. */
#include <string.h>

#include "passes.h"

/* Ops that only move bytes work for every fixed-size element type; the
 * compute kernels exist for float32. */
static int moves_bytes_only(OpKind op) {
    return op == OP_FLATTEN || op == OP_RESHAPE || op == OP_IDENTITY || op == OP_DROPOUT;
}

int pass_check_ops(Graph *g, Diag *d) {
    int bad = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        Node *n = g->nodes[i];
        if (n->op == OP_UNKNOWN) {
            if (n->domain[0] && strcmp(n->domain, "ai.onnx") != 0)
                diag_node(d, n, "op '%s' from domain '%s' is not supported", n->op_type, n->domain);
            else
                diag_node(d, n, "op '%s' is not supported", n->op_type);
            bad = 1;
            continue;
        }
        if (n->opset && n->opset < op_info(n->op)->since) {
            diag_node(d, n, "opset %d is older than kiln supports for %s (from %d)", n->opset,
                      n->op_type, op_info(n->op)->since);
            bad = 1;
        }
    }
    if (bad) diag_hint(d, "`kiln ops` lists the supported ops and opset ranges");
    return bad ? -1 : 0;
}

int pass_check_types(Graph *g, Diag *d) {
    int bad = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        Node *n = g->nodes[i];
        if (n->op == OP_UNKNOWN || moves_bytes_only(n->op)) continue;
        for (int j = 0; j < n->n_inputs; j++) {
            Value *v = n->inputs[j];
            if (!v || v->dtype == DT_F32 || v->dtype == DT_UNDEF) continue;
            /* Reshape's shape input is int64 by definition. */
            if (n->op == OP_RESHAPE && j == 1) continue;
            diag_node(d, n, "input '%s' has element type %s; this op supports float for now",
                      v->name, dtype_onnx_name(v->dtype));
            bad = 1;
            break;
        }
    }
    if (bad) diag_hint(d, "`kiln ops` lists the supported ops and opset ranges");
    return bad ? -1 : 0;
}
