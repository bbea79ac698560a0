/* shapes_tree.c: shape functions of the tree ensembles
 * (TreeEnsembleClassifier, TreeEnsembleRegressor; compiler/ir/ops_ml.def).
 * A stub until the tree ensembles land: it reports the node as not
 * supported yet. */
#include "shapes.h"

int shape_tree_ensemble(Node *n, Diag *d) {
    diag_node(d, n, "%s is not supported yet", n->op_type);
    diag_hint(d, "`kiln ops` lists what is supported");
    return -1;
}
