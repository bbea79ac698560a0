/* check_support.c: what kiln cannot compile, listed all at once. */
#include <string.h>

#include "passes.h"

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
        const OpInfo *info = op_info(n->op);
        if (n->opset && n->opset < info->since) {
            diag_node(d, n, "opset %d is older than kiln supports for %s (from %d)", n->opset,
                      n->op_type, info->since);
            bad = 1;
        }
        /* The default domain's newest opset is checked at import, for the
         * whole model; another domain's (ai.onnx.ml) here, per op. */
        if (n->opset > info->until) {
            diag_node(d, n, "%s opset %d is newer than kiln supports for %s (up to %d)",
                      info->domain[0] ? info->domain : "ONNX", n->opset, n->op_type, info->until);
            diag_hint(d,
                      "export the model again for %s opset %d (skl2onnx: target_opset={'%s': %d})",
                      info->domain[0] ? info->domain : "ONNX", info->until,
                      info->domain[0] ? info->domain : "", info->until);
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
        for (int j = 0; j < n->n_inputs; j++) {
            Value *v = n->inputs[j];
            if (!v || (v->dtype != DT_STRING && v->dtype != DT_BF16)) continue;
            if (v->dtype == DT_STRING && (op_info(n->op)->flags & OPF_STRING_IN)) continue;
            /* bfloat16 has one kernel: Cast and CastLike to and from float. */
            if (v->dtype == DT_BF16 && (n->op == OP_CAST || n->op == OP_CAST_LIKE)) continue;
            diag_node(d, n, "input '%s' has element type %s, which kiln does not support", v->name,
                      dtype_onnx_name(v->dtype));
            bad = 1;
            break;
        }
    }
    return bad ? -1 : 0;
}
