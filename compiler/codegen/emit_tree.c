/* emit_tree.c: code for the tree ensembles (TreeEnsembleClassifier,
 * TreeEnsembleRegressor; compiler/ir/ops_ml.def). A stub until they land:
 * it reports the node as not supported yet. */
#include "cg.h"

int emit_tree_ensemble(Codegen *cg, const Node *n) {
    diag_node(cg->d, n, "%s is not supported yet", n->op_type);
    diag_hint(cg->d, "`kiln ops` lists what is supported");
    return -1;
}
