/* shapes_ml.c: shape functions of the ONNX-ML ops but the tree ensembles
 * (compiler/ir/ops_ml.def; trees: shapes_tree.c). */
#include "shapes.h"

static int ml_not_yet(Node *n, Diag *d) {
    diag_node(d, n, "%s is not supported yet", n->op_type);
    diag_hint(d, "`kiln ops` lists what is supported");
    return -1;
}

int shape_linear_classifier(Node *n, Diag *d) {
    return ml_not_yet(n, d);
}

int shape_linear_regressor(Node *n, Diag *d) {
    return ml_not_yet(n, d);
}

int shape_scaler(Node *n, Diag *d) {
    return ml_not_yet(n, d);
}

int shape_normalizer(Node *n, Diag *d) {
    return ml_not_yet(n, d);
}

int shape_binarizer(Node *n, Diag *d) {
    return ml_not_yet(n, d);
}

int shape_imputer(Node *n, Diag *d) {
    return ml_not_yet(n, d);
}

int shape_one_hot_encoder(Node *n, Diag *d) {
    return ml_not_yet(n, d);
}

int shape_label_encoder(Node *n, Diag *d) {
    return ml_not_yet(n, d);
}

int shape_array_feature_extractor(Node *n, Diag *d) {
    return ml_not_yet(n, d);
}

int shape_feature_vectorizer(Node *n, Diag *d) {
    return ml_not_yet(n, d);
}

int shape_zip_map(Node *n, Diag *d) {
    return ml_not_yet(n, d);
}
