/* emit_ml.c: kernel calls for the ONNX-ML ops (compiler/ir/ops_ml.def) but
 * the tree ensembles (emit_tree.c), and the helpers every ONNX-ML
 * classifier shares (cg.h: cg_ml_*): post_transform, score writing and
 * class-label selection, all calling runtime/kernels/ml.c.
 */
#include <stdlib.h>
#include <string.h>

#include "cg.h"
#include "ml.h"

/* --- shared by the classifiers (cg.h) ---------------------------------------- */

int cg_ml_post_transform(Codegen *cg, const Node *n) {
    static const char *const names[] = {
        [KILN_ML_POST_NONE] = "NONE",         [KILN_ML_POST_SOFTMAX] = "SOFTMAX",
        [KILN_ML_POST_LOGISTIC] = "LOGISTIC", [KILN_ML_POST_SOFTMAX_ZERO] = "SOFTMAX_ZERO",
        [KILN_ML_POST_PROBIT] = "PROBIT",
    };
    const char *p = ir_attr_str(n, "post_transform", "NONE");
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (strcmp(p, names[i]) == 0) return i;
    diag_node(cg->d, n, "post_transform '%s' is not one ONNX-ML defines", p);
    diag_hint(cg->d, "use NONE, SOFTMAX, LOGISTIC, SOFTMAX_ZERO or PROBIT");
    return -1;
}

void cg_ml_write_scores(Codegen *cg, LLVMValueRef rows, int64_t classes, int transform, int second,
                        LLVMValueRef second_by_row, LLVMValueRef in, LLVMValueRef out,
                        int64_t out_stride) {
    LLVMValueRef args[] = {rows,
                           cg_i64(cg, classes),
                           cg_i32(cg, transform),
                           cg_i32(cg, second),
                           second_by_row ? second_by_row : LLVMConstNull(cg->ptr),
                           in,
                           out,
                           cg_i64(cg, out_stride)};
    cg_call(cg, "kiln_ml_write_scores", args, 8);
}

LLVMValueRef cg_ml_label_table(Codegen *cg, const Attr *labels) {
    if (labels->kind == ATTR_INTS)
        return cg_const_bytes(cg, labels->ints, sizeof(int64_t) * (size_t)labels->n, 8,
                              "ml_labels");
    /* Strings: a constant array of pointers to constant NUL-terminated
     * strings, which is what a string tensor is in the kernel ABI. */
    LLVMValueRef *elems = calloc((size_t)labels->n + 1, sizeof(LLVMValueRef));
    if (!elems) kiln_oom("label table");
    for (int i = 0; i < labels->n; i++) {
        const char *s = labels->strings[i];
        elems[i] = cg_const_bytes(cg, s, strlen(s) + 1, 1, "ml_label");
    }
    LLVMValueRef arr = LLVMConstArray2(cg->ptr, elems, (uint64_t)labels->n);
    free(elems);
    LLVMValueRef gv = LLVMAddGlobal(cg->mod, LLVMTypeOf(arr), "ml_labels");
    LLVMSetInitializer(gv, arr);
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetLinkage(gv, LLVMPrivateLinkage);
    LLVMSetAlignment(gv, 8);
    return gv;
}

void cg_ml_labels(Codegen *cg, LLVMValueRef rows, int64_t classes, LLVMValueRef scores,
                  int64_t stride, float threshold, const Attr *labels, LLVMValueRef out) {
    int str = labels->kind == ATTR_STRINGS;
    LLVMValueRef table = cg_ml_label_table(cg, labels);
    if (classes >= 2) {
        LLVMValueRef args[] = {rows, cg_i64(cg, classes), scores, cg_i64(cg, stride), table, out};
        cg_call(cg, str ? "kiln_ml_argmax_label_str" : "kiln_ml_argmax_label_i64", args, 6);
    } else {
        LLVMValueRef args[] = {rows, scores, cg_i64(cg, stride), cg_f32(cg, threshold), table, out};
        cg_call(cg, str ? "kiln_ml_binary_label_str" : "kiln_ml_binary_label_i64", args, 6);
    }
}

/* --- the ops --------------------------------------------------------------------- */

static int ml_not_yet(Codegen *cg, const Node *n) {
    diag_node(cg->d, n, "%s is not supported yet", n->op_type);
    diag_hint(cg->d, "`kiln ops` lists what is supported");
    return -1;
}

int emit_linear_classifier(Codegen *cg, const Node *n) {
    return ml_not_yet(cg, n);
}

int emit_linear_regressor(Codegen *cg, const Node *n) {
    return ml_not_yet(cg, n);
}

int emit_scaler(Codegen *cg, const Node *n) {
    return ml_not_yet(cg, n);
}

int emit_normalizer(Codegen *cg, const Node *n) {
    return ml_not_yet(cg, n);
}

int emit_binarizer(Codegen *cg, const Node *n) {
    return ml_not_yet(cg, n);
}

int emit_imputer(Codegen *cg, const Node *n) {
    return ml_not_yet(cg, n);
}

int emit_one_hot_encoder(Codegen *cg, const Node *n) {
    return ml_not_yet(cg, n);
}

int emit_label_encoder(Codegen *cg, const Node *n) {
    return ml_not_yet(cg, n);
}

int emit_array_feature_extractor(Codegen *cg, const Node *n) {
    return ml_not_yet(cg, n);
}

int emit_feature_vectorizer(Codegen *cg, const Node *n) {
    return ml_not_yet(cg, n);
}
