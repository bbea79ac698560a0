/* shapes_ml.c: shape functions of the ONNX-ML ops but the tree ensembles
 * (compiler/ir/ops_ml.def; trees: shapes_tree.c).
 *
 * ONNX-ML ops see their input as [rows, C]: C is the last dim (the
 * features), which must be a fixed size, and rows the dims before it (one
 * row for a rank-1 input, as in ONNX Runtime). Each function checks the
 * attributes codegen (compiler/codegen/emit_ml.c) reads, so that emit
 * functions only read them: lengths against C, every count with checked
 * arithmetic, and the attribute kinds.
 */
#include <math.h>
#include <string.h>

#include "shapes.h"

/* Input 0's dtype is one of `types` (DT_UNDEF-terminated); -1 with a
 * diagnostic naming what the op takes otherwise. */
static int ml_types(Node *n, const DType *types, const char *what, Diag *d) {
    DType t = shapes_in(n, 0)->dtype;
    for (int i = 0; types[i] != DT_UNDEF; i++)
        if (t == types[i]) return 0;
    diag_node(d, n, "input '%s' is %s; %s takes %s", shapes_in(n, 0)->name, dtype_onnx_name(t),
              n->op_type, what);
    diag_hint(d, "add a Cast before the node, or export the features as float");
    return -1;
}

static const DType ml_numeric[] = {DT_F32, DT_F64, DT_I64, DT_I32, DT_UNDEF};
#define ML_NUMERIC "float, double, int64 or int32"

/* C, the feature count of input 0 (its last dim); -1 with a diagnostic if
 * it is a scalar or the last dim is not a fixed size. */
static int64_t ml_features(Node *n, Diag *d) {
    const Value *x = shapes_in(n, 0);
    if (x->shape.rank < 1) {
        diag_node(d, n, "input '%s' is a scalar; %s takes [N, C] or [C]", x->name, n->op_type);
        diag_hint(d, "reshape the input to [N, C]");
        return -1;
    }
    int64_t c = x->shape.dims[x->shape.rank - 1];
    if (c < 0) {
        char b[160];
        diag_node(d, n, "input '%s' is %s: its last dim (the features) must be a fixed size",
                  x->name, shapes_str(&x->shape, b));
        diag_hint(d, "export the model with a fixed number of features");
        return -1;
    }
    return c;
}

/* -1 with a diagnostic unless input 0 has rank 1 or 2 (ONNX Runtime's
 * limit for the classifiers and Normalizer). */
static int ml_rank_1_or_2(Node *n, Diag *d) {
    const Value *x = shapes_in(n, 0);
    if (x->shape.rank == 1 || x->shape.rank == 2) return 0;
    char b[160];
    diag_node(d, n, "input '%s' is %s; %s takes [N, C] or [C]", x->name, shapes_str(&x->shape, b),
              n->op_type);
    diag_hint(d, "reshape the input to [N, C]");
    return -1;
}

/* [rows, k]: rows as input 0 has them (1 for a rank-1 input). */
static Shape ml_rows_by(const Node *n, int64_t k) {
    const Shape *x = &shapes_in(n, 0)->shape;
    Shape s = {.rank = 2};
    s.dims[0] = x->rank == 2 ? x->dims[0] : 1;
    s.dims[1] = k;
    return s;
}

/* A list attribute's length must be 1 or C (a broadcast value or one per
 * feature); `required` makes it mandatory. */
static int ml_per_feature(Node *n, const char *name, AttrKind kind, int64_t c, int required,
                          const Attr **out, Diag *d) {
    if (shapes_attr(n, name, kind, out, d)) return -1;
    if (!*out && !required) return 0;
    if (*out && ((*out)->n == 1 || (*out)->n == c)) return 0;
    if (!*out)
        diag_node(d, n, "attribute '%s' is missing", name);
    else
        diag_node(d, n, "attribute '%s' has %d values; the input has %lld features, so 1 or %lld",
                  name, (*out)->n, (long long)c, (long long)c);
    diag_hint(d, "the model is malformed; check it with onnx.checker.check_model");
    return -1;
}

static int ml_malformed(Node *n, Diag *d) {
    diag_hint(d, "the model is malformed; check it with onnx.checker.check_model");
    (void)n;
    return -1;
}

static int ml_post_transform_check(Node *n, Diag *d) {
    static const char *const names[] = {"NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO", "PROBIT"};
    const Attr *a;
    if (shapes_attr(n, "post_transform", ATTR_STRING, &a, d)) return -1;
    if (!a) return 0;
    for (int i = 0; i < 5; i++)
        if (strcmp(a->s, names[i]) == 0) return 0;
    diag_node(d, n, "post_transform '%s' is not one ONNX-ML defines", a->s);
    diag_hint(d, "use NONE, SOFTMAX, LOGISTIC, SOFTMAX_ZERO or PROBIT");
    return -1;
}

/* --- linear models -------------------------------------------------------------- */

/* coefficients [k, c] and intercepts [k] (optional): k from the intercepts
 * when given, else from the coefficients; *k_out = k. */
static int ml_linear_weights(Node *n, int64_t c, int64_t targets, int64_t *k_out, Diag *d) {
    const Attr *w, *b;
    if (shapes_attr(n, "coefficients", ATTR_FLOATS, &w, d) ||
        shapes_attr(n, "intercepts", ATTR_FLOATS, &b, d))
        return -1;
    if (!w) {
        diag_node(d, n, "attribute 'coefficients' is missing");
        return ml_malformed(n, d);
    }
    int64_t k = targets > 0 ? targets : b ? b->n : (c > 0 ? w->n / c : 0);
    int64_t want;
    if (k < 1 || __builtin_mul_overflow(k, c, &want) || want != w->n || (b && b->n != k)) {
        diag_node(d, n,
                  "has %d coefficients and %d intercepts for %lld features: expected %lld "
                  "coefficients per %s and one intercept each",
                  w->n, b ? b->n : 0, (long long)c, (long long)c,
                  n->op == OP_LINEAR_REGRESSOR ? "target" : "class");
        return ml_malformed(n, d);
    }
    *k_out = k;
    return 0;
}

/* The linear models run on the float Gemm kernel. */
static const DType ml_f32[] = {DT_F32, DT_UNDEF};

int shape_linear_classifier(Node *n, Diag *d) {
    int64_t c, k;
    const Attr *li, *ls;
    if (ml_types(n, ml_f32, "float", d) || ml_rank_1_or_2(n, d) || (c = ml_features(n, d)) < 0 ||
        ml_linear_weights(n, c, 0, &k, d) || ml_post_transform_check(n, d) ||
        shapes_attr(n, "classlabels_ints", ATTR_INTS, &li, d) ||
        shapes_attr(n, "classlabels_strings", ATTR_STRINGS, &ls, d))
        return -1;
    if (li && ls) {
        diag_node(d, n, "has both classlabels_ints and classlabels_strings");
        return ml_malformed(n, d);
    }
    const Attr *labels = li ? li : ls;
    int64_t n_labels = labels ? labels->n : 0;
    /* One score per row: a binary model, whose labels (if any) are the
     * negative and the positive class; otherwise a label per class. */
    if (k == 1 ? (n_labels != 0 && n_labels != 2) : n_labels != k) {
        diag_node(d, n, "has %lld class labels for %lld classes", (long long)n_labels,
                  (long long)k);
        return ml_malformed(n, d);
    }
    if (k == 1 && n_labels == 2 && !strcmp(ir_attr_str(n, "post_transform", "NONE"), "PROBIT")) {
        /* ONNX Runtime writes one probit column into two and leaves the
         * rest undefined: there is no answer to match. */
        diag_node(d, n, "post_transform PROBIT with one score and two class labels is not defined");
        diag_hint(d, "give the model one score per class, or use post_transform NONE or LOGISTIC");
        return -1;
    }
    Shape y = ml_rows_by(n, 1);
    y.rank = 1;
    Shape z = ml_rows_by(n, k == 1 && n_labels == 2 ? 2 : k);
    shapes_set(n, 0, ls ? DT_STRING : DT_I64, &y);
    shapes_set(n, 1, DT_F32, &z);
    return 0;
}

int shape_linear_regressor(Node *n, Diag *d) {
    int64_t c, k;
    int64_t targets = ir_attr_int(n, "targets", 1);
    if (ml_types(n, ml_f32, "float", d) || ml_rank_1_or_2(n, d) || (c = ml_features(n, d)) < 0)
        return -1;
    if (targets < 1) {
        diag_node(d, n, "targets is %lld; it must be at least 1", (long long)targets);
        return ml_malformed(n, d);
    }
    if (ml_linear_weights(n, c, targets, &k, d) || ml_post_transform_check(n, d)) return -1;
    Shape z = ml_rows_by(n, k);
    shapes_set(n, 0, DT_F32, &z);
    return 0;
}

/* --- preprocessing --------------------------------------------------------------- */

int shape_scaler(Node *n, Diag *d) {
    int64_t c;
    const Attr *off, *sc;
    if (ml_types(n, ml_numeric, ML_NUMERIC, d) || (c = ml_features(n, d)) < 0 ||
        ml_per_feature(n, "offset", ATTR_FLOATS, c, 1, &off, d) ||
        ml_per_feature(n, "scale", ATTR_FLOATS, c, 1, &sc, d))
        return -1;
    shapes_set(n, 0, DT_F32, &shapes_in(n, 0)->shape);
    return 0;
}

int shape_normalizer(Node *n, Diag *d) {
    const char *norm = ir_attr_str(n, "norm", "MAX");
    if (ml_types(n, ml_numeric, ML_NUMERIC, d) || ml_rank_1_or_2(n, d) || ml_features(n, d) < 0)
        return -1;
    if (strcmp(norm, "MAX") && strcmp(norm, "L1") && strcmp(norm, "L2")) {
        diag_node(d, n, "norm '%s' is not MAX, L1 or L2", norm);
        return ml_malformed(n, d);
    }
    shapes_set(n, 0, DT_F32, &shapes_in(n, 0)->shape);
    return 0;
}

int shape_binarizer(Node *n, Diag *d) {
    static const DType f32[] = {DT_F32, DT_UNDEF};
    const Attr *t;
    if (ml_types(n, f32, "float", d) || shapes_attr(n, "threshold", ATTR_FLOAT, &t, d)) return -1;
    shape_same(n, d);
    return 0;
}

int shape_imputer(Node *n, Diag *d) {
    int64_t c;
    const Attr *fv, *iv, *fr, *ir;
    if ((c = ml_features(n, d)) < 0 ||
        ml_per_feature(n, "imputed_value_floats", ATTR_FLOATS, c, 0, &fv, d) ||
        ml_per_feature(n, "imputed_value_int64s", ATTR_INTS, c, 0, &iv, d) ||
        shapes_attr(n, "replaced_value_float", ATTR_FLOAT, &fr, d) ||
        shapes_attr(n, "replaced_value_int64", ATTR_INT, &ir, d))
        return -1;
    if (!fv == !iv) {
        diag_node(d, n, "needs exactly one of imputed_value_floats and imputed_value_int64s");
        return ml_malformed(n, d);
    }
    static const DType f32[] = {DT_F32, DT_UNDEF}, i64[] = {DT_I64, DT_UNDEF};
    if (ml_types(n, fv ? f32 : i64,
                 fv ? "float (imputed_value_floats)" : "int64 (imputed_value_int64s)", d))
        return -1;
    shape_same(n, d);
    return 0;
}

int shape_one_hot_encoder(Node *n, Diag *d) {
    const Attr *ci, *cs;
    if (ml_types(n, ml_numeric, ML_NUMERIC, d) ||
        shapes_attr(n, "cats_int64s", ATTR_INTS, &ci, d) ||
        shapes_attr(n, "cats_strings", ATTR_STRINGS, &cs, d))
        return -1;
    if (cs && !ci) {
        /* String categories need string inputs, which requests cannot carry. */
        diag_node(d, n,
                  "string categories (cats_strings) are not supported: kiln's inputs are numeric");
        diag_hint(d,
                  "encode the strings as int64 before the model (LabelEncoder, or in the client)");
        return -1;
    }
    if (!ci || ci->n < 1) {
        diag_node(d, n, "has no categories (cats_int64s)");
        return ml_malformed(n, d);
    }
    const Shape *x = &shapes_in(n, 0)->shape;
    if (x->rank + 1 > IR_MAX_RANK) {
        diag_node(d, n, "input rank %d is too large: the output adds a dim", x->rank);
        return -1;
    }
    Shape y = *x;
    y.dims[y.rank++] = ci->n;
    shapes_set(n, 0, DT_F32, &y);
    return 0;
}

int shape_label_encoder(Node *n, Diag *d) {
    const Attr *ki, *kf, *ks, *vi, *vf, *vs;
    if (shapes_attr(n, "keys_int64s", ATTR_INTS, &ki, d) ||
        shapes_attr(n, "keys_floats", ATTR_FLOATS, &kf, d) ||
        shapes_attr(n, "keys_strings", ATTR_STRINGS, &ks, d) ||
        shapes_attr(n, "values_int64s", ATTR_INTS, &vi, d) ||
        shapes_attr(n, "values_floats", ATTR_FLOATS, &vf, d) ||
        shapes_attr(n, "values_strings", ATTR_STRINGS, &vs, d))
        return -1;
    const Attr *classes;
    if (shapes_attr(n, "classes_strings", ATTR_STRINGS, &classes, d)) return -1;
    if (ks || (classes && shapes_in(n, 0)->dtype == DT_STRING)) {
        /* String inputs: requests cannot carry them. */
        diag_node(d, n, "string keys are not supported: kiln's inputs are numeric");
        diag_hint(d, "encode the strings as int64 in the client; int64 and float keys work");
        return -1;
    }
    if (classes) { /* opset 1: int64 i -> classes_strings[i] */
        static const DType i64_only[] = {DT_I64, DT_UNDEF};
        if (ml_types(n, i64_only, "int64 (with classes_strings)", d)) return -1;
        shapes_set(n, 0, DT_STRING, &shapes_in(n, 0)->shape);
        return 0;
    }
    if (vs && !vi && !vf) vi = vs; /* int64 -> string: checked like the other values */
    if (!ki == !kf || !vi == !vf) {
        diag_node(d, n, "needs one list of keys (keys_int64s or keys_floats) and one of values");
        return ml_malformed(n, d);
    }
    int nk = ki ? ki->n : kf->n, nv = vi ? vi->n : vf->n;
    if (nk != nv) {
        diag_node(d, n, "has %d keys but %d values", nk, nv);
        return ml_malformed(n, d);
    }
    if (kf)
        for (int i = 0; i < nk; i++)
            if (isnan(kf->floats[i])) {
                diag_node(d, n, "key %d is NaN, which no input can match", i);
                diag_hint(d, "impute NaN before the model (Imputer) instead");
                return -1;
            }
    static const DType f32[] = {DT_F32, DT_UNDEF}, i64[] = {DT_I64, DT_UNDEF};
    if (ml_types(n, ki ? i64 : f32, ki ? "int64 (keys_int64s)" : "float (keys_floats)", d))
        return -1;
    if (vs && kf) {
        diag_node(d, n, "float keys with string values are not supported");
        diag_hint(d, "use int64 keys (keys_int64s) for string values");
        return -1;
    }
    shapes_set(n, 0, vs ? DT_STRING : vi ? DT_I64 : DT_F32, &shapes_in(n, 0)->shape);
    return 0;
}

/* --- feature plumbing ------------------------------------------------------------ */

int shape_array_feature_extractor(Node *n, Diag *d) {
    static const DType types[] = {DT_F32, DT_F64, DT_I64, DT_I32, DT_UNDEF};
    int64_t c;
    const Value *y = shapes_in(n, 1);
    if (ml_types(n, types, ML_NUMERIC, d) || (c = ml_features(n, d)) < 0) return -1;
    if (y->dtype != DT_I64) {
        diag_node(d, n, "indices '%s' are %s; ArrayFeatureExtractor takes int64", y->name,
                  dtype_onnx_name(y->dtype));
        return ml_malformed(n, d);
    }
    int64_t k = shape_numel(&y->shape);
    if (shape_is_dynamic(&y->shape)) {
        diag_node(d, n, "indices '%s' must have a fixed size", y->name);
        diag_hint(d, "give the indices as a constant (an initializer)");
        return -1;
    }
    (void)c;
    const Shape *x = &shapes_in(n, 0)->shape;
    Shape s = *x;
    if (x->rank == 1) { /* ORT: a rank-1 input gives [1, k] */
        s.rank = 2;
        s.dims[0] = 1;
    }
    s.dims[s.rank - 1] = k;
    shapes_set(n, 0, shapes_in(n, 0)->dtype, &s);
    return 0;
}

int shape_feature_vectorizer(Node *n, Diag *d) {
    const Attr *dims;
    if (shapes_attr(n, "inputdimensions", ATTR_INTS, &dims, d)) return -1;
    if (!dims || dims->n != n->n_inputs) {
        diag_node(d, n, "has %d inputs but %d inputdimensions", n->n_inputs, dims ? dims->n : 0);
        return ml_malformed(n, d);
    }
    const Shape *x0 = &shapes_in(n, 0)->shape;
    int64_t total = 0;
    for (int i = 0; i < n->n_inputs; i++) {
        const Value *x = n->inputs[i];
        char b1[160], b2[160];
        int ok = x->shape.rank == x0->rank && x->shape.rank >= 1;
        for (int j = 0; ok && j + 1 < x->shape.rank; j++)
            ok = x->shape.dims[j] == x0->dims[j];
        if (!ok || x->shape.dims[x->shape.rank - 1] < 0) {
            diag_node(d, n,
                      "input '%s' is %s, but '%s' is %s: inputs must have the same rows and "
                      "a fixed number of columns",
                      x->name, shapes_str(&x->shape, b1), n->inputs[0]->name, shapes_str(x0, b2));
            return -1;
        }
        int t = x->dtype;
        if (t != DT_F32 && t != DT_F64 && t != DT_I64 && t != DT_I32) {
            diag_node(d, n, "input '%s' is %s; FeatureVectorizer takes " ML_NUMERIC, x->name,
                      dtype_onnx_name(x->dtype));
            return -1;
        }
        if (dims->ints[i] < 0 || __builtin_add_overflow(total, dims->ints[i], &total)) {
            diag_node(d, n, "inputdimensions[%d] is %lld", i, (long long)dims->ints[i]);
            return ml_malformed(n, d);
        }
    }
    Shape s = *x0;
    s.dims[s.rank - 1] = total;
    shapes_set(n, 0, DT_F32, &s);
    return 0;
}

int shape_zip_map(Node *n, Diag *d) {
    static const DType f32[] = {DT_F32, DT_UNDEF};
    const Attr *li, *ls;
    int64_t c;
    if (ml_types(n, f32, "float", d) || ml_rank_1_or_2(n, d) || (c = ml_features(n, d)) < 0 ||
        shapes_attr(n, "classlabels_int64s", ATTR_INTS, &li, d) ||
        shapes_attr(n, "classlabels_strings", ATTR_STRINGS, &ls, d))
        return -1;
    int nl = li ? li->n : ls ? ls->n : -1;
    if (!li == !ls || nl != c) {
        diag_node(d, n,
                  "needs one of classlabels_int64s and classlabels_strings, with one label "
                  "per column of its input (%lld)",
                  (long long)c);
        return ml_malformed(n, d);
    }
    /* Served as the probabilities tensor itself: the labels go into the
     * model's metadata (the driver's build_info). */
    shape_same(n, d);
    return 0;
}
