/* emit_ml.c: kernel calls for the ONNX-ML ops (compiler/ir/ops_ml.def) but
 * the tree ensembles (emit_tree.c), and the helpers every ONNX-ML
 * classifier shares (cg.h: cg_ml_*): post_transform, score writing and
 * class-label selection, all calling runtime/kernels/ml.c.
 */
#include <stdio.h>
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

/* x viewed as [rows, C]: rows is the product of every dim but the last. */
static LLVMValueRef ml_rows(Codegen *cg, const Value *x) {
    return cg_sym_value(cg, cg_sym_prod(&x->shape, 0, x->shape.rank - 1));
}

static int64_t ml_cols(const Value *x) {
    return x->shape.dims[x->shape.rank - 1];
}

static LLVMValueRef ml_numel(Codegen *cg, const Value *x) {
    return cg_sym_value(cg, cg_sym_prod(&x->shape, 0, x->shape.rank));
}

/* A float or int64 list attribute as a constant. */
static LLVMValueRef ml_const_attr(Codegen *cg, const Attr *a) {
    if (a->kind == ATTR_FLOATS)
        return cg_const_bytes(cg, a->floats, sizeof(float) * (size_t)(a->n ? a->n : 1), 4, "ml");
    return cg_const_bytes(cg, a->ints, sizeof(int64_t) * (size_t)(a->n ? a->n : 1), 8, "ml");
}

static const char *ml_site(Codegen *cg, const Node *n, const char *what) {
    return arena_printf(cg->g->arena, "node '%s' (%s): %s", n->name, n->op_type, what);
}

/* scores[rows, k] = x[rows, C] coefficients[k, C]^T + intercepts[k], into out. */
static int ml_linear_scores(Codegen *cg, const Node *n, int64_t k, LLVMValueRef out) {
    const Value *x = n->inputs[0];
    int64_t c = ml_cols(x);
    const Attr *w = ir_attr(n, "coefficients"), *b = ir_attr(n, "intercepts");
    LLVMValueRef args[] = {
        ml_rows(cg, x),       cg_i64(cg, k),
        cg_i64(cg, c),        cg_addr(cg, x),
        cg_i64(cg, c),        cg_i64(cg, 1),
        ml_const_attr(cg, w), cg_i64(cg, 1),
        cg_i64(cg, c),        b ? ml_const_attr(cg, b) : LLVMConstPointerNull(cg->ptr),
        cg_i64(cg, 0),        cg_i64(cg, 1),
        cg_f32(cg, 1.0f),     cg_f32(cg, 1.0f),
        cg_i32(cg, 0),        out,
        cg_i64(cg, 0),        cg_i64(cg, 1)};
    return cg_call_typed(cg, n, "gemm", x->dtype, args, 18);
}

/* ORT's LinearClassifier: labels from the raw scores (first argmax; with
 * one score, > 0 is the positive class), then the post_transform; one
 * score with two labels becomes the columns (1 - t, t), t the score or,
 * under LOGISTIC, its logistic (KILN_ML_SECOND_LINEAR). */
int emit_linear_classifier(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0], *y = n->outputs[0], *z = n->outputs[1];
    const Attr *labels = ir_attr(n, "classlabels_ints");
    if (!labels) labels = ir_attr(n, "classlabels_strings");
    const Attr *b = ir_attr(n, "intercepts");
    int64_t k = b ? b->n : ir_attr(n, "coefficients")->n / ml_cols(x);
    int two = k == 1 && labels && labels->n == 2;
    int transform = cg_ml_post_transform(cg, n);
    if (transform < 0) return -1;
    LLVMValueRef zs = cg_addr(cg, z), rows = ml_rows(cg, x);
    if (ml_linear_scores(cg, n, k, zs)) return -1;
    static const int64_t zero_one[] = {0, 1};
    Attr dflt = {.kind = ATTR_INTS, .n = 2, .ints = (int64_t *)zero_one};
    cg_ml_labels(cg, rows, k, zs, k, 0.0f, labels ? labels : &dflt, cg_addr(cg, y));
    if (transform != KILN_ML_POST_NONE || two)
        cg_ml_write_scores(cg, rows, k, transform,
                           two ? KILN_ML_SECOND_LINEAR : KILN_ML_SECOND_NONE, NULL, zs, zs,
                           two ? 2 : k);
    return 0;
}

int emit_linear_regressor(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0];
    int64_t k = ir_attr_int(n, "targets", 1);
    int transform = cg_ml_post_transform(cg, n);
    if (transform < 0) return -1;
    LLVMValueRef out = cg_addr(cg, n->outputs[0]);
    if (ml_linear_scores(cg, n, k, out)) return -1;
    if (transform != KILN_ML_POST_NONE)
        cg_ml_write_scores(cg, ml_rows(cg, x), k, transform, KILN_ML_SECOND_NONE, NULL, out, out,
                           k);
    return 0;
}

int emit_scaler(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0];
    const Attr *off = ir_attr(n, "offset"), *sc = ir_attr(n, "scale");
    LLVMValueRef args[] = {ml_rows(cg, x),         cg_i64(cg, ml_cols(x)),    cg_addr(cg, x),
                           ml_const_attr(cg, off), cg_i64(cg, off->n),        ml_const_attr(cg, sc),
                           cg_i64(cg, sc->n),      cg_addr(cg, n->outputs[0])};
    return cg_call_typed(cg, n, "ml_scaler", x->dtype, args, 8);
}

int emit_normalizer(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0];
    const char *norm = ir_attr_str(n, "norm", "MAX");
    int k = !strcmp(norm, "L1")   ? KILN_ML_NORM_L1
            : !strcmp(norm, "L2") ? KILN_ML_NORM_L2
                                  : KILN_ML_NORM_MAX;
    LLVMValueRef args[] = {ml_rows(cg, x), cg_i64(cg, ml_cols(x)), cg_i32(cg, k), cg_addr(cg, x),
                           cg_addr(cg, n->outputs[0])};
    return cg_call_typed(cg, n, "ml_normalizer", x->dtype, args, 5);
}

int emit_binarizer(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0];
    LLVMValueRef args[] = {ml_numel(cg, x), cg_f32(cg, ir_attr_float(n, "threshold", 0.0f)),
                           cg_addr(cg, x), cg_addr(cg, n->outputs[0])};
    cg_call_checked(cg, "kiln_ml_binarizer_f32", args, 4, ml_site(cg, n, cg_value_origin(cg, x)));
    return 0;
}

int emit_imputer(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0];
    const Attr *fv = ir_attr(n, "imputed_value_floats");
    const Attr *imp = fv ? fv : ir_attr(n, "imputed_value_int64s");
    LLVMValueRef replaced = fv ? cg_f32(cg, ir_attr_float(n, "replaced_value_float", 0.0f))
                               : cg_i64(cg, ir_attr_int(n, "replaced_value_int64", 0));
    LLVMValueRef args[] = {ml_rows(cg, x),
                           cg_i64(cg, ml_cols(x)),
                           cg_addr(cg, x),
                           ml_const_attr(cg, imp),
                           cg_i64(cg, imp->n),
                           replaced,
                           cg_addr(cg, n->outputs[0])};
    cg_call(cg, fv ? "kiln_ml_imputer_f32" : "kiln_ml_imputer_i64", args, 7);
    return 0;
}

/* (key, value) pairs sorted by key, then by their position in the model,
 * for the kernels' binary searches. */
typedef struct MlPair {
    double key; /* int64 keys compare as their own type: see ml_pair_cmp */
    int64_t ikey;
    int64_t pos;
} MlPair;

static int ml_pair_cmp(const void *pa, const void *pb) {
    const MlPair *a = pa, *b = pb;
    if (a->ikey != b->ikey) return a->ikey < b->ikey ? -1 : 1;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    return a->pos < b->pos ? -1 : a->pos > b->pos;
}

/* Sorts n keys (ints, or floats when ints is NULL) into pairs[]. */
static void ml_sort_keys(const int64_t *ints, const float *floats, int n, MlPair *pairs) {
    for (int i = 0; i < n; i++)
        pairs[i] = (MlPair){ints ? 0.0 : (double)floats[i], ints ? ints[i] : 0, i};
    qsort(pairs, (size_t)n, sizeof(MlPair), ml_pair_cmp);
}

int emit_one_hot_encoder(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0];
    const Attr *cats = ir_attr(n, "cats_int64s");
    int nc = cats->n;
    MlPair *pairs = calloc((size_t)nc, sizeof(MlPair));
    int64_t *keys = calloc((size_t)nc, sizeof(int64_t)), *pos = calloc((size_t)nc, sizeof(int64_t));
    if (!pairs || !keys || !pos) kiln_oom("OneHotEncoder categories");
    ml_sort_keys(cats->ints, NULL, nc, pairs);
    for (int i = 0; i < nc; i++)
        keys[i] = pairs[i].ikey, pos[i] = pairs[i].pos;
    LLVMValueRef args[] = {ml_numel(cg, x),
                           cg_addr(cg, x),
                           cg_const_bytes(cg, keys, sizeof(int64_t) * (size_t)nc, 8, "ml_keys"),
                           cg_const_bytes(cg, pos, sizeof(int64_t) * (size_t)nc, 8, "ml_pos"),
                           cg_i64(cg, nc),
                           cg_i32(cg, ir_attr_int(n, "zeros", 1) != 0),
                           cg_addr(cg, n->outputs[0])};
    free(pairs);
    free(keys);
    free(pos);
    const char *sfx = cg_dtype_suffix(x->dtype);
    char name[64];
    snprintf(name, sizeof name, "kiln_ml_one_hot_%s", sfx ? sfx : "none");
    cg_call_checked(cg, name, args, 7, ml_site(cg, n, cg_value_origin(cg, x)));
    return 0;
}

/* int64 -> string: opset 1 (classes_strings: i -> classes_strings[i]) or
 * 2 (keys_int64s, values_strings). */
static int ml_label_encode_strings(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0];
    const Attr *classes = ir_attr(n, "classes_strings"), *ki = ir_attr(n, "keys_int64s");
    const Attr *vs = classes ? classes : ir_attr(n, "values_strings");
    int nk = vs->n;
    MlPair *pairs = calloc((size_t)nk + 1, sizeof(MlPair));
    int64_t *keys = calloc((size_t)nk + 1, sizeof(int64_t));
    const char **vals = calloc((size_t)nk + 1, sizeof(char *));
    if (!pairs || !keys || !vals) kiln_oom("LabelEncoder table");
    for (int i = 0; i < nk; i++)
        pairs[i] = (MlPair){0.0, classes ? i : ki->ints[i], i};
    qsort(pairs, (size_t)nk, sizeof(MlPair), ml_pair_cmp);
    for (int i = 0; i < nk; i++) {
        keys[i] = pairs[i].ikey;
        vals[i] = vs->strings[pairs[i].pos];
    }
    Attr sorted = {.kind = ATTR_STRINGS, .n = nk, .strings = vals};
    const char *dflt = ir_attr_str(n, "default_string", "_Unused");
    LLVMValueRef args[] = {
        ml_numel(cg, x),
        cg_addr(cg, x),
        cg_const_bytes(cg, keys, sizeof(int64_t) * (size_t)(nk ? nk : 1), 8, "ml_keys"),
        cg_ml_label_table(cg, &sorted),
        cg_i64(cg, nk),
        cg_const_bytes(cg, dflt, strlen(dflt) + 1, 1, "ml_default"),
        cg_addr(cg, n->outputs[0])};
    free(pairs);
    free(keys);
    free(vals);
    cg_call(cg, "kiln_ml_label_encode_i64_str", args, 7);
    return 0;
}

int emit_label_encoder(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0];
    if (n->outputs[0]->dtype == DT_STRING) return ml_label_encode_strings(cg, n);
    const Attr *ki = ir_attr(n, "keys_int64s"), *kf = ir_attr(n, "keys_floats");
    const Attr *vi = ir_attr(n, "values_int64s"), *vf = ir_attr(n, "values_floats");
    int nk = ki ? ki->n : kf->n;
    size_t ksz = ki ? sizeof(int64_t) : sizeof(float), vsz = vi ? sizeof(int64_t) : sizeof(float);
    MlPair *pairs = calloc((size_t)nk + 1, sizeof(MlPair));
    char *keys = calloc((size_t)nk + 1, ksz), *vals = calloc((size_t)nk + 1, vsz);
    if (!pairs || !keys || !vals) kiln_oom("LabelEncoder table");
    ml_sort_keys(ki ? ki->ints : NULL, kf ? kf->floats : NULL, nk, pairs);
    for (int i = 0; i < nk; i++) {
        int64_t p = pairs[i].pos;
        memcpy(keys + ksz * (size_t)i,
               ki ? (const void *)&ki->ints[p] : (const void *)&kf->floats[p], ksz);
        memcpy(vals + vsz * (size_t)i,
               vi ? (const void *)&vi->ints[p] : (const void *)&vf->floats[p], vsz);
    }
    LLVMValueRef dflt = vi ? cg_i64(cg, ir_attr_int(n, "default_int64", -1))
                           : cg_f32(cg, ir_attr_float(n, "default_float", -0.0f));
    LLVMValueRef args[] = {ml_numel(cg, x),
                           cg_addr(cg, x),
                           cg_const_bytes(cg, keys, ksz * (size_t)(nk ? nk : 1), 8, "ml_keys"),
                           cg_const_bytes(cg, vals, vsz * (size_t)(nk ? nk : 1), 8, "ml_values"),
                           cg_i64(cg, nk),
                           dflt,
                           cg_addr(cg, n->outputs[0])};
    free(pairs);
    free(keys);
    free(vals);
    char name[64];
    snprintf(name, sizeof name, "kiln_ml_label_encode_%s_%s", ki ? "i64" : "f32",
             vi ? "i64" : "f32");
    cg_call(cg, name, args, 7);
    return 0;
}

int emit_array_feature_extractor(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0], *idx = n->inputs[1];
    LLVMValueRef args[] = {ml_rows(cg, x),
                           cg_i64(cg, ml_cols(x)),
                           cg_i64(cg, (int64_t)dtype_size(x->dtype)),
                           cg_addr(cg, x),
                           ml_numel(cg, idx),
                           cg_addr(cg, idx),
                           cg_addr(cg, n->outputs[0])};
    const char *what = arena_printf(cg->g->arena, "indices from %s into the last axis of '%s'",
                                    cg_value_origin(cg, idx), x->name);
    cg_call_checked(cg, "kiln_ml_array_feature_extractor", args, 7, ml_site(cg, n, what));
    return 0;
}

int emit_feature_vectorizer(Codegen *cg, const Node *n) {
    const Attr *dims = ir_attr(n, "inputdimensions");
    const Value *y = n->outputs[0];
    int64_t off = 0, total = ml_cols(y);
    for (int i = 0; i < n->n_inputs; i++) {
        const Value *x = n->inputs[i];
        int64_t cols = ml_cols(x), w = dims->ints[i];
        LLVMValueRef args[] = {
            ml_rows(cg, x), cg_i64(cg, cols), cg_addr(cg, x),    cg_i64(cg, cols < w ? cols : w),
            cg_i64(cg, w),  cg_addr(cg, y),   cg_i64(cg, total), cg_i64(cg, off)};
        if (cg_call_typed(cg, n, "ml_columns", x->dtype, args, 8)) return -1;
        off += w;
    }
    return 0;
}
