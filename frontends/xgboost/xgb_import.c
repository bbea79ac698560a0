/* xgb_import.c: XGBoost's JSON model (Booster.save_model("m.json"), as
 * XGBoost 1.7 writes it) -> one ai.onnx.ml tree-ensemble node.
 *
 * The file is parsed with jansson (duplicate keys refused, nesting bounded
 * by jansson's parser) and every field kiln reads is checked before use:
 * its JSON type, its range, that the per-node arrays of a tree all have
 * tree_param.num_nodes entries, that child indices stay inside the tree and
 * that each node is reached from the root exactly once (no cycles, no
 * shared subtrees). Counts are bounded by model_limits.h before anything
 * is sized from them. The first problem found is reported, naming the file
 * and the field (`learner.gradient_booster.model.trees[3].left_children[5]`).
 *
 * The mapping, as ONNX-ML defines its attributes:
 *   XGBoost goes left when `x[split_indices[i]] < split_conditions[i]`:
 *   mode BRANCH_LT, nodes_values the split, the true branch the left child.
 *   A missing (NaN) feature goes left when default_left[i]:
 *   nodes_missing_value_tracks_true = default_left (with it 0, `NaN < t`
 *   is false and the node takes the right, false branch, as XGBoost does).
 *   A leaf's value is its split_conditions entry (base_weights holds the
 *   weight before the learning rate); dart scales tree t by weight_drop[t].
 *   base_score is in output space: base_values take it in margin space,
 *   logit(base_score) for the logistic objectives.
 *   binary:logistic  TreeEnsembleClassifier, labels {0, 1}, one score
 *                    column (class_ids 0), post_transform LOGISTIC
 *   multi:softprob,  TreeEnsembleClassifier, labels 0..num_class-1,
 *   multi:softmax    class_ids = tree_info, post_transform SOFTMAX
 *   reg:squarederror TreeEnsembleRegressor, post_transform NONE
 *   reg:logistic     TreeEnsembleRegressor (post_transform NONE: the
 *                    margin), then a Sigmoid node. ONNX Runtime ignores
 *                    LOGISTIC on a one-target regressor (it applies only
 *                    PROBIT there), so the explicit Sigmoid is what every
 *                    runtime reads the same way.
 * The graph: input `input` f32 [N, num_feature]; a classifier's outputs
 * `label` i64 [N] and `probabilities` f32 [N, classes]; a regressor's
 * `prediction` f32 [N, 1].
 */
#include <assert.h>
#include <errno.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "frontends.h"

/* Depth of one tree (root = 0). XGBoost's depthwise trees stay below 20;
 * lossguide trees grow deeper but not near this. It bounds the recursion
 * of anything that later walks a tree. */
#define XGB_MAX_TREE_DEPTH 1024

/* The ai.onnx.ml opset the node is written in (TreeEnsemble* since 1,
 * unchanged in meaning through 3, KILN_MAX_ML_OPSET). */
#define XGB_ML_OPSET 3

typedef struct Xgb {
    Arena *a;
    Diag *d;
    const char *path;
} Xgb;

/* Reports "PATH: FIELD: message" and returns -1; with field NULL it only
 * returns -1 (a check run first without a name, then again to report). */
static int fail(Xgb *x, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(Xgb *x, const char *field, const char *fmt, ...) {
    if (!field) return -1;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    diag_file(x->d, x->path, "%s: %s", field, msg);
    return -1;
}

static const char *json_kind(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a real number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

/* "FIELD[i]", for a message about element i of an array. */
static const char *elem(Xgb *x, const char *field, int64_t i) {
    return arena_printf(x->a, "%s[%lld]", field, (long long)i);
}

static const char *field_join(Xgb *x, const char *parent, const char *key) {
    return *parent ? arena_printf(x->a, "%s.%s", parent, key) : key;
}

/* obj[key] of JSON type `type` into *out; *field gets its path. A missing
 * member is an error unless optional (then *out is NULL and 0 returned). */
static int member(Xgb *x, const json_t *obj, const char *parent, const char *key, json_type type,
                  int optional, json_t **out, const char **field) {
    const char *f = field_join(x, parent, key);
    if (field) *field = f;
    json_t *v = json_object_get(obj, key);
    *out = v;
    if (!v) return optional ? 0 : fail(x, f, "missing");
    if (json_typeof(v) == type) return 0;
    static const char *const names[] = {
        [JSON_OBJECT] = "an object",
        [JSON_ARRAY] = "an array",
        [JSON_STRING] = "a string",
    };
    assert(type == JSON_OBJECT || type == JSON_ARRAY || type == JSON_STRING);
    return fail(x, f, "is %s, expected %s", json_kind(v), names[type]);
}

/* An integer in [lo, hi]: a JSON integer, or a string of one (XGBoost
 * writes its parameters as strings: "num_class": "3"). */
static int int_value(Xgb *x, const char *field, const json_t *v, int64_t lo, int64_t hi,
                     int64_t *out) {
    long long n;
    if (json_is_integer(v)) {
        n = json_integer_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        n = strtoll(s, &end, 10);
        if (!*s || *end || errno || (*s != '-' && (*s < '0' || *s > '9')))
            return fail(x, field, "\"%.40s\" is not an integer", s);
    } else {
        return fail(x, field, "is %s, expected an integer", json_kind(v));
    }
    if (n < lo || n > hi)
        return fail(x, field, "%lld is out of range [%lld, %lld]", n, (long long)lo, (long long)hi);
    *out = n;
    return 0;
}

/* A finite number: a JSON number, or a string of one ("5E-1"; XGBoost 3
 * writes base_score as "[5E-1]", one element in brackets). */
static int real_value(Xgb *x, const char *field, const json_t *v, double *out) {
    double r;
    if (json_is_number(v)) {
        r = json_number_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t len = strlen(s);
        char buf[64];
        if (len >= 2 && s[0] == '[' && s[len - 1] == ']') s++, len -= 2;
        if (len == 0 || len >= sizeof buf)
            return fail(x, field, "\"%.40s\" is not a number", json_string_value(v));
        memcpy(buf, s, len);
        buf[len] = 0;
        char *end;
        r = strtod(buf, &end);
        if (*end || end == buf) return fail(x, field, "\"%.40s\" is not a number", buf);
    } else {
        return fail(x, field, "is %s, expected a number", json_kind(v));
    }
    if (!isfinite(r)) return fail(x, field, "is not finite");
    *out = r;
    return 0;
}

/* A number that fits float32 (XGBoost stores floats). */
static int float_value(Xgb *x, const char *field, const json_t *v, float *out) {
    double r;
    if (real_value(x, field, v, &r)) return -1;
    if (fabs(r) > FLT_MAX) return fail(x, field, "%g does not fit a 32-bit float", r);
    *out = (float)r;
    return 0;
}

/* --- one tree ------------------------------------------------------------------- */

typedef struct Tree {
    int64_t n;         /* tree_param.num_nodes */
    int64_t *left;     /* [n]: child index, -1 for a leaf */
    int64_t *right;    /* [n] */
    int64_t *feature;  /* [n] */
    float *cond;       /* [n]: split value, or the leaf's value */
    int64_t *dflt;     /* [n]: default_left, 0 or 1 */
    int64_t *order;    /* [n_reached]: node ids in preorder from the root */
    int64_t n_reached; /* nodes reachable from the root */
    int64_t n_leaves;
    int64_t klass; /* tree_info: the class (score column) the tree adds to */
    float scale;   /* dart's weight_drop, 1 for gbtree */
} Tree;

/* tree[key]: an array of exactly n integers in [lo, hi] into *out. */
static int int_array(Xgb *x, const json_t *tree, const char *tf, const char *key, int64_t n,
                     int64_t lo, int64_t hi, int64_t **out) {
    json_t *arr;
    const char *f;
    if (member(x, tree, tf, key, JSON_ARRAY, 0, &arr, &f)) return -1;
    if ((int64_t)json_array_size(arr) != n)
        return fail(x, f, "has %zu entries, but tree_param.num_nodes is %lld", json_array_size(arr),
                    (long long)n);
    int64_t *p = arena_alloc_array(x->a, (size_t)n + 1, sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) {
        json_t *v = json_array_get(arr, (size_t)i);
        if (json_is_boolean(v) && lo <= 0 && hi >= 1) { /* default_left as true/false */
            p[i] = json_is_true(v);
            continue;
        }
        /* The element's name is built only for a message: trees have millions of nodes. */
        if (!json_is_integer(v))
            return fail(x, elem(x, f, i), "is %s, expected an integer", json_kind(v));
        if (int_value(x, NULL, v, lo, hi, &p[i]))
            return int_value(x, elem(x, f, i), v, lo, hi, &p[i]);
    }
    *out = p;
    return 0;
}

static int float_array(Xgb *x, const json_t *tree, const char *tf, const char *key, int64_t n,
                       float **out) {
    json_t *arr;
    const char *f;
    if (member(x, tree, tf, key, JSON_ARRAY, 0, &arr, &f)) return -1;
    if ((int64_t)json_array_size(arr) != n)
        return fail(x, f, "has %zu entries, but tree_param.num_nodes is %lld", json_array_size(arr),
                    (long long)n);
    float *p = arena_alloc_array(x->a, (size_t)n + 1, sizeof(float));
    for (int64_t i = 0; i < n; i++) {
        json_t *v = json_array_get(arr, (size_t)i);
        if (!json_is_number(v))
            return fail(x, elem(x, f, i), "is %s, expected a number", json_kind(v));
        if (float_value(x, NULL, v, &p[i])) return float_value(x, elem(x, f, i), v, &p[i]);
    }
    *out = p;
    return 0;
}

/* Walks the tree from node 0 (iteratively, so a deep tree costs no stack):
 * every child index in range, a node either a leaf (both children -1) or a
 * split on a feature below num_feature, each node reached once. */
static int tree_walk(Xgb *x, const char *tf, Tree *t, int64_t num_feature) {
    char *seen = arena_alloc(x->a, (size_t)t->n + 1);
    int64_t *stack = arena_alloc_array(x->a, (size_t)t->n + 1, sizeof(int64_t));
    int64_t *depth = arena_alloc_array(x->a, (size_t)t->n + 1, sizeof(int64_t));
    t->order = arena_alloc_array(x->a, (size_t)t->n + 1, sizeof(int64_t));
    int64_t sp = 0;
    stack[sp] = 0, depth[sp++] = 0, seen[0] = 1;
    while (sp > 0) {
        sp--;
        int64_t i = stack[sp], dep = depth[sp];
        t->order[t->n_reached++] = i;
        int64_t l = t->left[i], r = t->right[i];
        if ((l < 0) != (r < 0))
            return fail(x, arena_printf(x->a, "%s.left_children[%lld]", tf, (long long)i),
                        "node %lld has one child (left %lld, right %lld); a node has two or none",
                        (long long)i, (long long)l, (long long)r);
        if (l < 0) {
            t->n_leaves++;
            continue;
        }
        if (t->feature[i] >= num_feature)
            return fail(x, arena_printf(x->a, "%s.split_indices[%lld]", tf, (long long)i),
                        "feature %lld is out of range: the model has num_feature %lld",
                        (long long)t->feature[i], (long long)num_feature);
        if (dep + 1 > XGB_MAX_TREE_DEPTH)
            return fail(x, tf, "is deeper than kiln's limit of %d levels", XGB_MAX_TREE_DEPTH);
        /* Right pushed first so that the left subtree comes first in preorder. */
        int64_t kids[2] = {r, l};
        for (int k = 0; k < 2; k++) {
            int64_t c = kids[k];
            if (seen[c])
                return fail(x,
                            arena_printf(x->a, "%s.%s_children[%lld]", tf, k ? "left" : "right",
                                         (long long)i),
                            "node %lld is reached twice (a cycle or a shared subtree); a tree "
                            "reaches each node once from the root",
                            (long long)c);
            seen[c] = 1;
            stack[sp] = c, depth[sp++] = dep + 1;
        }
    }
    return 0;
}

static int tree_parse(Xgb *x, const json_t *tree, const char *tf, int64_t num_feature,
                      int64_t max_nodes, Tree *t) {
    json_t *param, *v;
    const char *pf, *f;
    if (!json_is_object(tree)) return fail(x, tf, "is %s, expected an object", json_kind(tree));
    if (member(x, tree, tf, "tree_param", JSON_OBJECT, 0, &param, &pf) ||
        member(x, param, pf, "num_nodes", JSON_STRING, 0, &v, &f))
        return -1;
    if (int_value(x, f, v, 1, max_nodes, &t->n)) return -1;
    if (member(x, param, pf, "size_leaf_vector", JSON_STRING, 1, &v, &f)) return -1;
    int64_t leaf_vec = 0;
    if (v && int_value(x, f, v, 0, INT32_MAX, &leaf_vec)) return -1;
    if (leaf_vec > 1)
        return fail(x, f, "is %lld: vector leaves (multi-output trees) are not supported",
                    (long long)leaf_vec);
    int64_t n = t->n;
    float *base_weights;
    if (int_array(x, tree, tf, "left_children", n, -1, n - 1, &t->left) ||
        int_array(x, tree, tf, "right_children", n, -1, n - 1, &t->right) ||
        int_array(x, tree, tf, "split_indices", n, 0, INT32_MAX, &t->feature) ||
        float_array(x, tree, tf, "split_conditions", n, &t->cond) ||
        int_array(x, tree, tf, "default_left", n, 0, 1, &t->dflt) ||
        float_array(x, tree, tf, "base_weights", n, &base_weights))
        return -1;
    /* split_type (XGBoost >= 1.5): 0 numerical, 1 categorical. */
    if (member(x, tree, tf, "split_type", JSON_ARRAY, 1, &v, &f)) return -1;
    if (v) {
        int64_t *types;
        if (int_array(x, tree, tf, "split_type", n, 0, 1, &types)) return -1;
        for (int64_t i = 0; i < n; i++)
            if (types[i] && t->left[i] >= 0) {
                fail(x, arena_printf(x->a, "%s[%lld]", f, (long long)i),
                     "node %lld is a categorical split, which kiln does not support", (long long)i);
                diag_hint(x->d, "train with enable_categorical=False (one-hot encode the "
                                "categories), or export to ONNX with BRANCH_EQ nodes");
                return -1;
            }
    }
    return tree_walk(x, tf, t, num_feature);
}

/* --- the learner ------------------------------------------------------------------- */

typedef enum {
    OBJ_BINARY_LOGISTIC,
    OBJ_SOFTPROB,
    OBJ_SOFTMAX,
    OBJ_SQUAREDERROR,
    OBJ_REG_LOGISTIC
} Objective;

static const struct {
    const char *name;
    Objective obj;
} objectives[] = {
    {"binary:logistic", OBJ_BINARY_LOGISTIC}, {"multi:softprob", OBJ_SOFTPROB},
    {"multi:softmax", OBJ_SOFTMAX},           {"reg:squarederror", OBJ_SQUAREDERROR},
    {"reg:logistic", OBJ_REG_LOGISTIC},
};

typedef struct Model {
    Objective obj;
    int64_t num_feature;
    int64_t num_class; /* score columns: 1 unless multi-class */
    double base_score; /* as the file gives it, in output space */
    int64_t n_trees;
    Tree *trees;
    int classifier;
} Model;

static int objective_parse(Xgb *x, const json_t *learner, Model *m) {
    json_t *obj, *name;
    const char *of, *nf;
    if (member(x, learner, "learner", "objective", JSON_OBJECT, 0, &obj, &of) ||
        member(x, obj, of, "name", JSON_STRING, 0, &name, &nf))
        return -1;
    const char *s = json_string_value(name);
    for (size_t i = 0; i < sizeof objectives / sizeof objectives[0]; i++)
        if (strcmp(s, objectives[i].name) == 0) {
            m->obj = objectives[i].obj;
            m->classifier = m->obj <= OBJ_SOFTMAX;
            return 0;
        }
    fail(x, nf, "objective \"%.60s\" is not supported", s);
    diag_hint(x->d, "kiln compiles binary:logistic, multi:softprob, multi:softmax, "
                    "reg:squarederror and reg:logistic models");
    return -1;
}

/* learner_model_param: num_feature, num_class, base_score (all strings). */
static int params_parse(Xgb *x, const json_t *learner, Model *m) {
    json_t *p, *v;
    const char *pf, *f;
    if (member(x, learner, "learner", "learner_model_param", JSON_OBJECT, 0, &p, &pf)) return -1;
    if (member(x, p, pf, "num_feature", JSON_STRING, 0, &v, &f) ||
        int_value(x, f, v, 1, KILN_MAX_DIM, &m->num_feature))
        return -1;
    /* The input's bytes per row, as the ONNX importer bounds a graph input. */
    Shape s = {.rank = 2, .dims = {1, m->num_feature}};
    int64_t bytes;
    if (shape_bytes_check(&s, DT_F32, &bytes))
        return fail(x, f, "%lld features are above kiln's limit of %lld bytes per row",
                    (long long)m->num_feature, (long long)KILN_MAX_TENSOR_BYTES);
    int64_t num_class = 0;
    if (member(x, p, pf, "num_class", JSON_STRING, 1, &v, &f)) return -1;
    if (v && int_value(x, f, v, 0, KILN_MAX_ATTR_ELEMS, &num_class)) return -1;
    int multi = m->obj == OBJ_SOFTPROB || m->obj == OBJ_SOFTMAX;
    if (multi && num_class < 2)
        return fail(x, f, "is %lld, but a multi:* objective needs at least 2 classes",
                    (long long)num_class);
    if (!multi && num_class > 1)
        return fail(x, f, "is %lld, but the objective has one output; expected 0",
                    (long long)num_class);
    m->num_class = multi ? num_class : 1;
    if (member(x, p, pf, "num_target", JSON_STRING, 1, &v, &f)) return -1;
    int64_t num_target = 1;
    if (v && int_value(x, f, v, 0, INT32_MAX, &num_target)) return -1;
    if (num_target > 1)
        return fail(x, f, "is %lld: multi-target models are not supported", (long long)num_target);
    if (member(x, p, pf, "base_score", JSON_STRING, 0, &v, &f) ||
        real_value(x, f, v, &m->base_score))
        return -1;
    int logistic = m->obj == OBJ_BINARY_LOGISTIC || m->obj == OBJ_REG_LOGISTIC;
    if (logistic && !(m->base_score > 0 && m->base_score < 1))
        return fail(x, f, "is %g, but a logistic objective needs a base_score in (0, 1)",
                    m->base_score);
    if (fabs(m->base_score) > FLT_MAX)
        return fail(x, f, "%g does not fit a 32-bit float", m->base_score);
    return 0;
}

/* gradient_booster: gbtree, or dart (a gbtree plus per-tree weights). */
static int booster_parse(Xgb *x, const json_t *learner, Model *m) {
    json_t *gb, *name, *model, *gbp, *v, *trees, *info, *drop = NULL;
    const char *gf, *nf, *mf, *f, *tf, *inf, *df = NULL;
    if (member(x, learner, "learner", "gradient_booster", JSON_OBJECT, 0, &gb, &gf) ||
        member(x, gb, gf, "name", JSON_STRING, 0, &name, &nf))
        return -1;
    const char *booster = json_string_value(name);
    if (strcmp(booster, "dart") == 0) {
        if (member(x, gb, gf, "weight_drop", JSON_ARRAY, 0, &drop, &df) ||
            member(x, gb, gf, "gbtree", JSON_OBJECT, 0, &gb, &gf) ||
            member(x, gb, gf, "name", JSON_STRING, 0, &name, &nf))
            return -1;
        if (strcmp(json_string_value(name), "gbtree") != 0)
            return fail(x, nf, "is \"%.40s\", expected \"gbtree\"", json_string_value(name));
    } else if (strcmp(booster, "gbtree") != 0) {
        fail(x, nf, "booster \"%.40s\" is not supported", booster);
        diag_hint(x->d, "kiln compiles tree boosters (booster='gbtree' or 'dart'); %s",
                  strcmp(booster, "gblinear") == 0
                      ? "a gblinear model is a linear model: export it as ONNX LinearClassifier/"
                        "LinearRegressor"
                      : "train with booster='gbtree'");
        return -1;
    }
    if (member(x, gb, gf, "model", JSON_OBJECT, 0, &model, &mf) ||
        member(x, model, mf, "gbtree_model_param", JSON_OBJECT, 0, &gbp, &f) ||
        member(x, gbp, f, "num_trees", JSON_STRING, 0, &v, &f) ||
        int_value(x, f, v, 0, KILN_MAX_ATTR_ELEMS, &m->n_trees) ||
        member(x, model, mf, "trees", JSON_ARRAY, 0, &trees, &tf) ||
        member(x, model, mf, "tree_info", JSON_ARRAY, 0, &info, &inf))
        return -1;
    if ((int64_t)json_array_size(trees) != m->n_trees)
        return fail(x, tf, "has %zu trees, but gbtree_model_param.num_trees is %lld",
                    json_array_size(trees), (long long)m->n_trees);
    if ((int64_t)json_array_size(info) != m->n_trees)
        return fail(x, inf, "has %zu entries for %lld trees", json_array_size(info),
                    (long long)m->n_trees);
    if (drop && (int64_t)json_array_size(drop) != m->n_trees)
        return fail(x, df, "has %zu entries for %lld trees", json_array_size(drop),
                    (long long)m->n_trees);
    if (m->n_trees == 0) return fail(x, tf, "is empty: the model has no trees");
    m->trees = arena_alloc_array(x->a, (size_t)m->n_trees, sizeof(Tree));
    /* Nodes of all trees together become the node's list attributes, each
     * bounded as an ONNX model's would be. */
    int64_t total = 0;
    for (int64_t t = 0; t < m->n_trees; t++) {
        Tree *tr = &m->trees[t];
        const char *ft = arena_printf(x->a, "%s[%lld]", tf, (long long)t);
        if (tree_parse(x, json_array_get(trees, (size_t)t), ft, m->num_feature, KILN_MAX_ATTR_ELEMS,
                       tr))
            return -1;
        total += tr->n_reached; /* each at most KILN_MAX_ATTR_ELEMS: no overflow */
        if (total > KILN_MAX_ATTR_ELEMS) {
            fail(x, tf,
                 "hold more than %d nodes in all (%lld in the first %lld trees), above "
                 "kiln's limit",
                 KILN_MAX_ATTR_ELEMS, (long long)total, (long long)t + 1);
            diag_hint(x->d, "train fewer or shallower trees, or split the model");
            return -1;
        }
        const char *fi = arena_printf(x->a, "%s[%lld]", inf, (long long)t);
        if (int_value(x, fi, json_array_get(info, (size_t)t), 0, m->num_class - 1, &tr->klass))
            return -1;
        tr->scale = 1;
        if (drop) {
            const char *fd = arena_printf(x->a, "%s[%lld]", df, (long long)t);
            if (float_value(x, fd, json_array_get(drop, (size_t)t), &tr->scale)) return -1;
        }
    }
    return 0;
}

/* --- the graph ------------------------------------------------------------------ */

static Attr *attr_ints(Node *n, const char *name, int64_t len) {
    Attr *at = ir_attr_add(n, name, ATTR_INTS);
    at->n = (int)len;
    at->ints = arena_alloc_array(n->graph->arena, (size_t)len + 1, sizeof(int64_t));
    return at;
}

static Attr *attr_floats(Node *n, const char *name, int64_t len) {
    Attr *at = ir_attr_add(n, name, ATTR_FLOATS);
    at->n = (int)len;
    at->floats = arena_alloc_array(n->graph->arena, (size_t)len + 1, sizeof(float));
    return at;
}

/* The margin the trees' sum starts from. */
static float base_margin(const Model *m) {
    if (m->obj == OBJ_BINARY_LOGISTIC || m->obj == OBJ_REG_LOGISTIC)
        return (float)log(m->base_score / (1.0 - m->base_score));
    return (float)m->base_score;
}

static void graph_build(Xgb *x, const Model *m, const Shape *in_shape, Graph *g) {
    g->name = "xgboost";
    g->opset = KILN_MAX_OPSET; /* no default-domain node: any opset reads the same */
    Value *in = ir_value_add(g, "input", DT_F32);
    in->shape = *in_shape;
    ir_graph_add_input(g, in);

    Value *outs[2];
    int n_out;
    const char *op_type;
    if (m->classifier) {
        op_type = "TreeEnsembleClassifier";
        outs[0] = ir_value_add(g, "label", DT_I64);
        outs[0]->shape = (Shape){.rank = 1, .dims = {in_shape->dims[0]}};
        outs[1] = ir_value_add(g, "probabilities", DT_F32);
        int64_t classes = m->num_class > 1 ? m->num_class : 2;
        outs[1]->shape = (Shape){.rank = 2, .dims = {in_shape->dims[0], classes}};
        n_out = 2;
    } else {
        op_type = "TreeEnsembleRegressor";
        outs[0] = ir_value_add(g, "prediction", DT_F32);
        outs[0]->shape = (Shape){.rank = 2, .dims = {in_shape->dims[0], 1}};
        n_out = 1;
    }
    for (int i = 0; i < n_out; i++) {
        outs[i]->decl_dtype = outs[i]->dtype;
        outs[i]->decl_shape = outs[i]->shape;
    }
    /* reg:logistic: the trees give the margin, a Sigmoid the prediction. */
    Value *margin = NULL;
    if (m->obj == OBJ_REG_LOGISTIC) {
        margin = ir_value_add(g, "margin", DT_F32);
        margin->shape = outs[0]->shape;
    }
    Node *n = ir_node_add(g, op_lookup_domain(KILN_DOMAIN_ML, op_type), op_type, "gbtree", 1, &in,
                          n_out, margin ? &margin : outs);
    n->domain = KILN_DOMAIN_ML;
    n->opset = XGB_ML_OPSET;
    if (margin) ir_node_add(g, OP_SIGMOID, NULL, "sigmoid", 1, &margin, 1, outs);
    for (int i = 0; i < n_out; i++)
        ir_graph_add_output(g, outs[i]);

    int64_t total = 0, leaves = 0;
    for (int64_t t = 0; t < m->n_trees; t++)
        total += m->trees[t].n_reached, leaves += m->trees[t].n_leaves;
    Attr *tree_ids = attr_ints(n, "nodes_treeids", total);
    Attr *node_ids = attr_ints(n, "nodes_nodeids", total);
    Attr *features = attr_ints(n, "nodes_featureids", total);
    Attr *values = attr_floats(n, "nodes_values", total);
    Attr *modes = ir_attr_add(n, "nodes_modes", ATTR_STRINGS);
    modes->n = (int)total;
    modes->strings = arena_alloc_array(x->a, (size_t)total + 1, sizeof(char *));
    Attr *true_ids = attr_ints(n, "nodes_truenodeids", total);
    Attr *false_ids = attr_ints(n, "nodes_falsenodeids", total);
    Attr *missing = attr_ints(n, "nodes_missing_value_tracks_true", total);
    const char *w = m->classifier ? "class" : "target";
    Attr *w_tree = attr_ints(n, arena_printf(x->a, "%s_treeids", w), leaves);
    Attr *w_node = attr_ints(n, arena_printf(x->a, "%s_nodeids", w), leaves);
    Attr *w_id = attr_ints(n, arena_printf(x->a, "%s_ids", w), leaves);
    Attr *w_weight = attr_floats(n, arena_printf(x->a, "%s_weights", w), leaves);
    int64_t k = 0, l = 0;
    for (int64_t t = 0; t < m->n_trees; t++) {
        const Tree *tr = &m->trees[t];
        for (int64_t j = 0; j < tr->n_reached; j++, k++) {
            int64_t i = tr->order[j];
            int leaf = tr->left[i] < 0;
            tree_ids->ints[k] = t;
            node_ids->ints[k] = i;
            features->ints[k] = leaf ? 0 : tr->feature[i];
            values->floats[k] = leaf ? 0.0f : tr->cond[i];
            modes->strings[k] = leaf ? "LEAF" : "BRANCH_LT";
            true_ids->ints[k] = leaf ? 0 : tr->left[i];
            false_ids->ints[k] = leaf ? 0 : tr->right[i];
            missing->ints[k] = leaf ? 0 : tr->dflt[i];
            if (!leaf) continue;
            w_tree->ints[l] = t;
            w_node->ints[l] = i;
            w_id->ints[l] = tr->klass;
            w_weight->floats[l] = tr->scale == 1 ? tr->cond[i] : tr->scale * tr->cond[i];
            l++;
        }
    }
    assert(k == total && l == leaves);
    if (m->classifier) {
        int64_t labels = m->num_class > 1 ? m->num_class : 2;
        Attr *cl = attr_ints(n, "classlabels_int64s", labels);
        for (int64_t c = 0; c < labels; c++)
            cl->ints[c] = c;
    } else {
        ir_attr_add(n, "n_targets", ATTR_INT)->i = 1;
        ir_attr_add(n, "aggregate_function", ATTR_STRING)->s = "SUM";
    }
    Attr *base = attr_floats(n, "base_values", m->num_class);
    for (int64_t c = 0; c < m->num_class; c++)
        base->floats[c] = base_margin(m);
    const char *post = m->obj == OBJ_BINARY_LOGISTIC                     ? "LOGISTIC"
                       : m->obj == OBJ_SOFTPROB || m->obj == OBJ_SOFTMAX ? "SOFTMAX"
                                                                         : "NONE";
    ir_attr_add(n, "post_transform", ATTR_STRING)->s = post;
}

/* The input's shape: [batch, num_feature], batch a symbol (as the ONNX
 * importer makes a dim_param one) that --shape input=... and --dim
 * batch=... bound or pin. */
static int input_shape(Xgb *x, const Model *m, const OnnxShapeFlags *flags, Shape *s) {
    Dim batch = dim_sym("batch");
    int64_t lo, hi;
    dim_sym_bounds(dim_sym_of(batch), &lo, &hi);
    for (int i = 0; flags && i < flags->n_pins; i++) {
        const OnnxPin *p = &flags->pins[i];
        if (strcmp(p->name, "input") != 0) {
            diag_usage(x->d, "--shape %s: %s has no input named '%s'", p->name, x->path, p->name);
            diag_hint(x->d, "an XGBoost model has one input, 'input' [batch, %lld]",
                      (long long)m->num_feature);
            return -1;
        }
        if (p->rank != 2 ||
            (p->lo[1] >= 0 && (p->lo[1] != m->num_feature || p->hi[1] != m->num_feature))) {
            diag_usage(x->d,
                       "--shape input: %s's input is [batch, %lld]; give it as Bx%lld, "
                       "MIN..MAXx%lld or ?x%lld",
                       x->path, (long long)m->num_feature, (long long)m->num_feature,
                       (long long)m->num_feature, (long long)m->num_feature);
            return -1;
        }
        if (p->lo[0] >= 0) lo = p->lo[0], hi = p->hi[0];
    }
    for (int i = 0; flags && i < flags->n_dims; i++) {
        const OnnxDimBound *b = &flags->dims[i];
        if (strcmp(b->name, "batch") != 0) {
            diag_usage(x->d, "--dim %s: %s has no dynamic dim named '%s'", b->name, x->path,
                       b->name);
            diag_hint(x->d, "its dynamic dims are: batch");
            return -1;
        }
        lo = b->lo, hi = b->hi;
    }
    if (dim_sym_set_bounds(dim_sym_of(batch), lo, hi)) return -1;
    *s = (Shape){.rank = 2, .dims = {lo == hi ? lo : batch, m->num_feature}};
    return 0;
}

int xgb_load(Arena *a, const char *path, const uint8_t *buf, size_t len,
             const OnnxShapeFlags *flags, Graph **out, Diag *d) {
    Xgb x = {a, d, path};
    *out = NULL;
    json_error_t err;
    json_t *root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &err);
    if (!root) {
        diag_file(d, path, "not valid JSON (line %d, column %d: %s)", err.line, err.column,
                  err.text);
        diag_hint(d, "the file is truncated or is not an XGBoost model; save it again with "
                     "booster.save_model(\"model.json\")");
        return -1;
    }
    int rc = -1;
    json_t *learner, *version;
    const char *vf;
    Model m = {0};
    Shape in_shape;
    if (!json_is_object(root)) {
        fail(&x, "the top level", "is %s, expected an object", json_kind(root));
        goto out;
    }
    if (member(&x, root, "", "learner", JSON_OBJECT, 0, &learner, NULL) ||
        member(&x, root, "", "version", JSON_ARRAY, 0, &version, &vf))
        goto out;
    int64_t major = 0;
    if (json_array_size(version) != 3) {
        fail(&x, vf, "has %zu entries, expected 3 ([major, minor, patch])",
             json_array_size(version));
        goto out;
    }
    if (int_value(&x, "version[0]", json_array_get(version, 0), 1, 3, &major)) goto out;
    if (objective_parse(&x, learner, &m) || params_parse(&x, learner, &m) ||
        booster_parse(&x, learner, &m))
        goto out;
    Graph *g = ir_graph_create(a, path); /* a fresh dim table: the symbol comes next */
    if (input_shape(&x, &m, flags, &in_shape)) goto out;
    graph_build(&x, &m, &in_shape, g);
    *out = g;
    rc = 0;
out:
    json_decref(root);
    return rc;
}
