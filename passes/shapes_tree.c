/* shapes_tree.c: TreeEnsembleClassifier and TreeEnsembleRegressor
 * (ai.onnx.ml opsets 1 and 3).
 *
 * The shape function is also the ensemble's validator: the attributes are
 * untrusted (a crafted model may give lists of different lengths, ids that
 * name no node, a node that is two nodes' child, a cycle, a tree without a
 * root), and every such problem is a diagnostic naming the node, never a
 * crash or a hang. What it accepts it stores as a TreePlan
 * (compiler/ir/tree_plan.h), which codegen reads instead of the attributes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "shapes.h"
#include "tree_plan.h"

/* The attributes of the node's nodes_* lists. */
typedef struct Key {
    int64_t tree, node;
    int32_t idx; /* position in the attribute lists */
} Key;

static int key_cmp(const void *a, const void *b) {
    const Key *x = a, *y = b;
    if (x->tree != y->tree) return x->tree < y->tree ? -1 : 1;
    if (x->node != y->node) return x->node < y->node ? -1 : 1;
    return 0;
}

/* Index into keys[lo, hi) of (tree, node), or -1. */
static int32_t key_find(const Key *keys, int32_t lo, int32_t hi, int64_t tree, int64_t node) {
    Key k = {tree, node, 0};
    const Key *p = bsearch(&k, keys + lo, (size_t)(hi - lo), sizeof(Key), key_cmp);
    return p ? (int32_t)(p - keys) : -1;
}

static const struct {
    const char *name;
    TreeMode mode;
} modes[] = {
    {"LEAF", TREE_LEAF},
    {"BRANCH_LEQ", TREE_BRANCH_LEQ},
    {"BRANCH_LT", TREE_BRANCH_LT},
    {"BRANCH_GTE", TREE_BRANCH_GTE},
    {"BRANCH_GT", TREE_BRANCH_GT},
    {"BRANCH_EQ", TREE_BRANCH_EQ},
    {"BRANCH_NEQ", TREE_BRANCH_NEQ},
};

static const char *const posts[] = {"NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO", "PROBIT"};
static const char *const aggregates[] = {"SUM", "AVERAGE", "MIN", "MAX"};

/* A list attribute of kind `kind` (ATTR_INTS, ATTR_FLOATS, ATTR_STRINGS):
 * *len its length, -1 if absent. */
static int list_attr(Node *n, const char *name, AttrKind kind, const Attr **a, int *len, Diag *d) {
    if (shapes_attr(n, name, kind, a, d)) return -1;
    *len = *a ? (*a)->n : -1;
    return 0;
}

/* A float list given either as `name` (floats) or `name`_as_tensor (a
 * double tensor, ml opset 3): into *out (arena, as float), *len its length
 * or -1 if neither is there. */
static int float_list(Node *n, const char *name, const float **out, int *len, Diag *d) {
    const Attr *f, *t;
    char tname[64];
    snprintf(tname, sizeof tname, "%s_as_tensor", name);
    if (shapes_attr(n, name, ATTR_FLOATS, &f, d) || shapes_attr(n, tname, ATTR_TENSOR, &t, d))
        return -1;
    *out = NULL;
    *len = -1;
    if (f && t) {
        diag_node(d, n, "both '%s' and '%s' are given", name, tname);
        diag_hint(d, "give one of them");
        return -1;
    }
    if (f) {
        *out = f->floats;
        *len = f->n;
    } else if (t) {
        const Value *v = t->t;
        int64_t count = shape_numel(&v->shape);
        if (!v->data || (v->dtype != DT_F64 && v->dtype != DT_F32) || count > INT32_MAX) {
            diag_node(d, n, "'%s' must be a double tensor of at most %d values", tname, INT32_MAX);
            return -1;
        }
        float *o = arena_alloc_array(n->graph->arena, (size_t)count + 1, sizeof(float));
        for (int64_t i = 0; i < count; i++)
            o[i] = v->dtype == DT_F64 ? (float)((const double *)v->data)[i]
                                      : ((const float *)v->data)[i];
        *out = o;
        *len = (int)count;
    }
    return 0;
}

static int enum_attr(Node *n, const char *name, const char *const *names, int count, int dflt,
                     int *out, Diag *d) {
    const Attr *a;
    if (shapes_attr(n, name, ATTR_STRING, &a, d)) return -1;
    *out = dflt;
    if (!a) return 0;
    for (int i = 0; i < count; i++)
        if (!strcmp(a->s, names[i])) {
            *out = i;
            return 0;
        }
    diag_node(d, n, "%s '%s' is not one of the ONNX values", name, a->s);
    diag_hint(d, "use %s%s%s%s%s%s%s%s%s", names[0], count > 1 ? ", " : "",
              count > 1 ? names[1] : "", count > 2 ? ", " : "", count > 2 ? names[2] : "",
              count > 3 ? ", " : "", count > 3 ? names[3] : "", count > 4 ? " or " : "",
              count > 4 ? names[4] : "");
    return -1;
}

/* "tree 3 node 7": how messages name an ensemble node. */
#define TN(keys, i) (long long)(keys)[i].tree, (long long)(keys)[i].node

int shape_tree_ensemble(Node *n, Diag *d) {
    Arena *ar = n->graph->arena;
    int classifier = !strcmp(n->op_type, "TreeEnsembleClassifier");
    const char *wp = classifier ? "class" : "target"; /* the weights' attribute prefix */
    Value *x = shapes_in(n, 0);
    if (x->dtype != DT_F32 && x->dtype != DT_F64) {
        diag_node(d, n, "input '%s' is %s; the tree ensemble takes float or double", x->name,
                  dtype_onnx_name(x->dtype));
        diag_hint(d, "insert a Cast to float before it");
        return -1;
    }
    if (x->shape.rank != 2 || x->shape.dims[1] < 0) {
        char buf[160];
        diag_node(d, n,
                  "input '%s' has shape %s; expected [N, features] with a fixed feature count",
                  x->name, shapes_str(&x->shape, buf));
        diag_hint(d, "export the model with a 2-D input whose second dim is a number");
        return -1;
    }
    if (x->shape.dims[1] > TREE_MAX_FEATURES) {
        diag_node(d, n, "input '%s' has %lld features per row; tree ensembles take at most %d",
                  x->name, (long long)x->shape.dims[1], TREE_MAX_FEATURES);
        diag_hint(d, "select the features the trees use before the ensemble");
        return -1;
    }
    if (n->n_outputs != (classifier ? 2 : 1) && !(classifier && n->n_outputs == 1)) {
        diag_node(d, n, "has %d outputs; expected %s", n->n_outputs,
                  classifier ? "2 (label, probabilities)" : "1");
        return -1;
    }

    /* The nodes_* lists: one entry per tree node, all the same length. */
    const Attr *tid, *nid, *fid, *mod, *tru, *fal, *mis, *hit;
    const float *thr;
    int l_tid, l_nid, l_fid, l_mod, l_tru, l_fal, l_mis, l_hit, l_thr;
    if (list_attr(n, "nodes_treeids", ATTR_INTS, &tid, &l_tid, d) ||
        list_attr(n, "nodes_nodeids", ATTR_INTS, &nid, &l_nid, d) ||
        list_attr(n, "nodes_featureids", ATTR_INTS, &fid, &l_fid, d) ||
        list_attr(n, "nodes_modes", ATTR_STRINGS, &mod, &l_mod, d) ||
        list_attr(n, "nodes_truenodeids", ATTR_INTS, &tru, &l_tru, d) ||
        list_attr(n, "nodes_falsenodeids", ATTR_INTS, &fal, &l_fal, d) ||
        list_attr(n, "nodes_missing_value_tracks_true", ATTR_INTS, &mis, &l_mis, d) ||
        list_attr(n, "nodes_hitrates", ATTR_FLOATS, &hit, &l_hit, d) ||
        float_list(n, "nodes_values", &thr, &l_thr, d))
        return -1;
    (void)hit; /* hit rates are a hint for interpreters; compiled trees do not need them */
    int nn = l_nid;
    if (nn <= 0) {
        diag_node(d, n, "has no tree nodes (nodes_nodeids is %s)", nn < 0 ? "missing" : "empty");
        diag_hint(d, "a tree ensemble needs at least one tree of one leaf");
        return -1;
    }
    const struct {
        const char *name;
        int len, optional;
    } lens[] = {{"nodes_treeids", l_tid, 0},
                {"nodes_featureids", l_fid, 0},
                {"nodes_modes", l_mod, 0},
                {"nodes_values", l_thr, 0},
                {"nodes_truenodeids", l_tru, 0},
                {"nodes_falsenodeids", l_fal, 0},
                {"nodes_missing_value_tracks_true", l_mis, 1},
                {"nodes_hitrates", l_hit, 1}};
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
        if (lens[i].len == nn || (lens[i].optional && lens[i].len < 0)) continue;
        if (lens[i].len < 0)
            diag_node(d, n, "'%s' is missing (nodes_nodeids has %d entries)", lens[i].name, nn);
        else
            diag_node(d, n, "'%s' has %d entries but nodes_nodeids has %d", lens[i].name,
                      lens[i].len, nn);
        diag_hint(d, "every nodes_* attribute has one entry per tree node");
        return -1;
    }

    /* Sort the nodes by (tree, node id): trees are runs of it, children
     * are found by binary search. */
    Key *keys = arena_alloc_array(ar, (size_t)nn, sizeof(Key));
    for (int i = 0; i < nn; i++)
        keys[i] = (Key){tid->ints[i], nid->ints[i], i};
    qsort(keys, (size_t)nn, sizeof(Key), key_cmp);
    int32_t *pos = arena_alloc_array(ar, (size_t)nn, sizeof(int32_t)); /* attr index -> key */
    int32_t n_trees = 0;
    for (int i = 0; i < nn; i++) {
        pos[keys[i].idx] = i;
        if (i && !key_cmp(&keys[i], &keys[i - 1])) {
            diag_node(d, n, "tree %lld node %lld is defined twice (nodes_* entries %d and %d)",
                      TN(keys, i), keys[i - 1].idx, keys[i].idx);
            diag_hint(d, "each (nodes_treeids, nodes_nodeids) pair must be unique");
            return -1;
        }
        if (!i || keys[i].tree != keys[i - 1].tree) n_trees++;
    }
    int32_t *tree_lo = arena_alloc_array(ar, (size_t)n_trees + 1, sizeof(int32_t));
    for (int i = 0, t = 0; i < nn; i++)
        if (!i || keys[i].tree != keys[i - 1].tree) tree_lo[t++] = i;
    tree_lo[n_trees] = nn;

    /* The nodes, in key order. */
    TreeNode *nodes = arena_alloc_array(ar, (size_t)nn, sizeof(TreeNode));
    uint8_t *parents = arena_alloc(ar, (size_t)nn);
    int64_t n_features = x->shape.dims[1];
    for (int32_t t = 0; t < n_trees; t++)
        for (int32_t k = tree_lo[t]; k < tree_lo[t + 1]; k++) {
            int i = keys[k].idx;
            TreeNode *tn = &nodes[k];
            size_t m = 0;
            while (m < sizeof modes / sizeof *modes && strcmp(mod->strings[i], modes[m].name))
                m++;
            if (m == sizeof modes / sizeof *modes) {
                diag_node(d, n, "tree %lld node %lld: mode '%s' is not an ONNX node mode",
                          TN(keys, k), mod->strings[i]);
                diag_hint(d, "use LEAF or BRANCH_LEQ, BRANCH_LT, BRANCH_GTE, BRANCH_GT, "
                             "BRANCH_EQ, BRANCH_NEQ");
                return -1;
            }
            tn->mode = modes[m].mode;
            if (tn->mode == TREE_LEAF) continue;
            if (fid->ints[i] < 0 || fid->ints[i] >= n_features) {
                diag_node(d, n, "tree %lld node %lld tests feature %lld; input '%s' has %lld",
                          TN(keys, k), (long long)fid->ints[i], x->name, (long long)n_features);
                diag_hint(d, "nodes_featureids are column indices into the input row");
                return -1;
            }
            tn->feature = (int32_t)fid->ints[i];
            tn->threshold = thr[i];
            tn->missing_true = mis && mis->ints[i] != 0;
            const int64_t ch[2] = {tru->ints[i], fal->ints[i]};
            for (int c = 0; c < 2; c++) {
                int32_t j = key_find(keys, tree_lo[t], tree_lo[t + 1], keys[k].tree, ch[c]);
                if (j < 0) {
                    diag_node(d, n,
                              "tree %lld node %lld: its %s child, node %lld, is not in the tree",
                              TN(keys, k), c ? "false" : "true", (long long)ch[c]);
                    diag_hint(d,
                              "nodes_truenodeids/nodes_falsenodeids name nodes of the same tree");
                    return -1;
                }
                if (parents[j]++) {
                    diag_node(d, n,
                              "tree %lld node %lld is the child of two branches (or twice "
                              "of one); each node has one parent",
                              TN(keys, j));
                    diag_hint(d, "the model's trees are not trees: re-export it");
                    return -1;
                }
                tn->child[c] = j;
            }
        }

    /* Each tree: one root, and every node reachable from it (then there
     * is no cycle: each node has at most one parent). */
    int32_t *roots = arena_alloc_array(ar, (size_t)n_trees, sizeof(int32_t));
    int32_t *stack = arena_alloc_array(ar, (size_t)nn, sizeof(int32_t));
    int32_t *depth = arena_alloc_array(ar, (size_t)nn, sizeof(int32_t));
    uint8_t *seen = arena_alloc(ar, (size_t)nn);
    int32_t max_depth = 0;
    for (int32_t t = 0; t < n_trees; t++) {
        int32_t root = -1;
        for (int32_t k = tree_lo[t]; k < tree_lo[t + 1]; k++)
            if (!parents[k]) {
                if (root >= 0) {
                    diag_node(d, n,
                              "tree %lld has two roots, nodes %lld and %lld (nodes that "
                              "are no node's child)",
                              (long long)keys[k].tree, (long long)keys[root].node,
                              (long long)keys[k].node);
                    diag_hint(d, "every node but the root must be some branch's child");
                    return -1;
                }
                root = k;
            }
        if (root < 0) {
            diag_node(d, n, "tree %lld has no root: every node is some node's child (a cycle)",
                      (long long)keys[tree_lo[t]].tree);
            diag_hint(d, "the model's trees are not trees: re-export it");
            return -1;
        }
        roots[t] = root;
        int32_t sp = 0, visited = 0;
        stack[sp++] = root;
        depth[root] = 0;
        while (sp) {
            int32_t k = stack[--sp];
            if (seen[k]) continue; /* cannot happen with one parent each; cheap to be sure */
            seen[k] = 1;
            visited++;
            if (depth[k] > max_depth) max_depth = depth[k];
            if (nodes[k].mode == TREE_LEAF) continue;
            for (int c = 0; c < 2; c++) {
                depth[nodes[k].child[c]] = depth[k] + 1;
                stack[sp++] = nodes[k].child[c];
            }
        }
        if (visited != tree_lo[t + 1] - tree_lo[t])
            for (int32_t k = tree_lo[t]; k < tree_lo[t + 1]; k++)
                if (!seen[k]) {
                    diag_node(d, n,
                              "tree %lld node %lld is not reachable from the root, node "
                              "%lld (it is on a cycle)",
                              TN(keys, k), (long long)keys[root].node);
                    diag_hint(d, "the model's trees are not trees: re-export it");
                    return -1;
                }
    }

    /* Labels and the number of scores per row. */
    int32_t n_targets;
    const Attr *li = NULL, *ls = NULL;
    if (classifier) {
        if (shapes_attr(n, "classlabels_int64s", ATTR_INTS, &li, d) ||
            shapes_attr(n, "classlabels_strings", ATTR_STRINGS, &ls, d))
            return -1;
        if (!li == !ls || (li ? li->n : ls->n) <= 0) {
            diag_node(d, n,
                      "needs exactly one of classlabels_int64s and classlabels_strings, "
                      "non-empty");
            diag_hint(d, "the class labels name the classes that class_ids index");
            return -1;
        }
        n_targets = li ? li->n : ls->n;
    } else {
        const Attr *nt;
        if (shapes_attr(n, "n_targets", ATTR_INT, &nt, d)) return -1;
        if (!nt || nt->i < 1 || nt->i > INT32_MAX) {
            diag_node(d, n, "n_targets must be given and positive");
            diag_hint(d, "n_targets is the number of regression outputs per row");
            return -1;
        }
        n_targets = (int32_t)nt->i;
    }
    int64_t row_bytes;
    if (__builtin_mul_overflow((int64_t)n_targets, (int64_t)sizeof(double), &row_bytes) ||
        row_bytes > (1 << 24)) {
        diag_node(d, n, "%d %s per row are too many", n_targets,
                  classifier ? "classes" : "targets");
        return -1;
    }

    /* The leaf weights. */
    char a_tree[32], a_node[32], a_id[32], a_w[32];
    snprintf(a_tree, sizeof a_tree, "%s_treeids", wp);
    snprintf(a_node, sizeof a_node, "%s_nodeids", wp);
    snprintf(a_id, sizeof a_id, "%s_ids", wp);
    snprintf(a_w, sizeof a_w, "%s_weights", wp);
    const Attr *wt, *wn, *wi;
    const float *ww;
    int l_wt, l_wn, l_wi, l_ww;
    if (list_attr(n, a_tree, ATTR_INTS, &wt, &l_wt, d) ||
        list_attr(n, a_node, ATTR_INTS, &wn, &l_wn, d) ||
        list_attr(n, a_id, ATTR_INTS, &wi, &l_wi, d) || float_list(n, a_w, &ww, &l_ww, d))
        return -1;
    int nw = l_ww < 0 ? 0 : l_ww;
    if ((l_wt < 0 ? 0 : l_wt) != nw || (l_wn < 0 ? 0 : l_wn) != nw || (l_wi < 0 ? 0 : l_wi) != nw) {
        diag_node(d, n, "%s, %s, %s and %s have %d, %d, %d and %d entries; they must be equal",
                  a_tree, a_node, a_id, a_w, l_wt, l_wn, l_wi, l_ww);
        diag_hint(d, "each leaf weight is one entry in each of the four lists");
        return -1;
    }
    int32_t *wleaf = arena_alloc_array(ar, (size_t)nw + 1, sizeof(int32_t));
    int all_positive = 1, n_ids_used = 0, first_id = -1;
    for (int i = 0; i < nw; i++) {
        int32_t k = key_find(keys, 0, nn, wt->ints[i], wn->ints[i]);
        if (k < 0 || nodes[k].mode != TREE_LEAF) {
            diag_node(d, n, "%s entry %d is for tree %lld node %lld, which is %s", a_w, i,
                      (long long)wt->ints[i], (long long)wn->ints[i],
                      k < 0 ? "not a node" : "a branch, not a leaf");
            diag_hint(d, "leaf weights go on LEAF nodes");
            return -1;
        }
        if (wi->ints[i] < 0 || wi->ints[i] >= n_targets) {
            diag_node(d, n, "%s entry %d (tree %lld node %lld) is %lld; there are %d %s", a_id, i,
                      TN(keys, k), (long long)wi->ints[i], n_targets,
                      classifier ? "class labels" : "targets");
            diag_hint(d, "%s index the %s", a_id,
                      classifier ? "class labels" : "n_targets outputs");
            return -1;
        }
        if (!isfinite(ww[i])) {
            diag_node(d, n, "%s entry %d (tree %lld node %lld) is not finite", a_w, i, TN(keys, k));
            return -1;
        }
        wleaf[i] = k;
        nodes[k].n_w++;
        if (ww[i] < 0) all_positive = 0;
        if (first_id < 0) {
            first_id = (int)wi->ints[i];
            n_ids_used = 1;
        } else if (wi->ints[i] != first_id) {
            n_ids_used = 2;
        }
    }
    /* Weights grouped by leaf, in their order in the lists. */
    int32_t *w_target = arena_alloc_array(ar, (size_t)nw + 1, sizeof(int32_t));
    float *w_value = arena_alloc_array(ar, (size_t)nw + 1, sizeof(float));
    int32_t next = 0;
    for (int32_t k = 0; k < nn; k++) {
        nodes[k].w_first = next;
        next += nodes[k].n_w;
        nodes[k].n_w = 0;
    }
    for (int i = 0; i < nw; i++) {
        TreeNode *leaf = &nodes[wleaf[i]];
        int32_t j = leaf->w_first + leaf->n_w++;
        w_target[j] = (int32_t)wi->ints[i];
        w_value[j] = ww[i];
    }

    TreePlan *p = arena_alloc(ar, sizeof(TreePlan));
    p->classifier = classifier;
    p->n_targets = n_targets;
    p->n_features = n_features;
    p->n_trees = n_trees;
    p->roots = roots;
    p->n_nodes = nn;
    p->nodes = nodes;
    p->w_target = w_target;
    p->w_value = w_value;
    p->n_weights = nw;
    p->max_depth = max_depth;
    p->all_positive = all_positive;
    p->binary = classifier && n_targets == 2 && n_ids_used == 1;
    p->binary_class = first_id < 0 ? 0 : first_id;
    p->labels_int = li ? li->ints : NULL;
    p->labels_str = ls ? ls->strings : NULL;
    int post, agg = TREE_AGG_SUM;
    if (enum_attr(n, "post_transform", posts, 5, TREE_POST_NONE, &post, d)) return -1;
    if (!classifier && enum_attr(n, "aggregate_function", aggregates, 4, TREE_AGG_SUM, &agg, d))
        return -1;
    p->post = (TreePost)post;
    p->aggregate = (TreeAggregate)agg;
    int l_base;
    if (float_list(n, "base_values", &p->base, &l_base, d)) return -1;
    /* One base value is for one target, or for the binary classifier's
     * one score (as ONNX Runtime reads it). */
    if (l_base > 0 && l_base != n_targets && !(l_base == 1 && classifier && n_targets == 2)) {
        diag_node(d, n, "base_values has %d entries; expected none or %d (one per %s)", l_base,
                  n_targets, classifier ? "class" : "target");
        return -1;
    }
    p->n_base = l_base < 0 ? 0 : l_base;
    for (int i = 0; i < p->n_base; i++)
        if (!isfinite(p->base[i])) {
            diag_node(d, n, "base_values entry %d is not finite", i);
            return -1;
        }
    n->plan_kind = PLAN_TREE;
    n->plan.tree = p;

    /* Scratch (emit_tree.c): the rows' accumulators, the rows in float if
     * the input is double, the table walk's keys (two int32s per feature),
     * and the scores if the model drops them. n_features is at most
     * TREE_MAX_FEATURES, so these products fit. */
    int64_t block = 256; /* rows: at most 4 MiB of it */
    while (block > 1 && block * ((int64_t)n_targets * 16 + n_features * 8 +
                                 (x->dtype == DT_F64 ? n_features * 4 : 0)) >
                            (4 << 20))
        block /= 2;
    p->block_rows = (int32_t)block;
    int64_t feat_bytes = x->dtype == DT_F64 ? (block * n_features * 4 + 63) / 64 * 64 : 0;
    n->scratch = block * n_targets * 16 + feat_bytes + block * n_features * 8;
    if (classifier && (n->n_outputs < 2 || !n->outputs[1])) {
        /* the scores, [rows, targets] floats, after the fixed part */
        Dim scores = dim_mul(x->shape.dims[0], (int64_t)n_targets * 4);
        n->scratch = dim_add(n->scratch, scores);
        if (scores == DIM_INVALID || n->scratch == DIM_INVALID) {
            diag_node(d, n, "its scores for %s rows overflow 64 bits",
                      dim_str(x->shape.dims[0], (char[96]){0}, 96));
            return -1;
        }
    }

    /* Outputs: the label [N] and the scores [N, classes]; or Y [N, targets]. */
    Shape rows = {1, {x->shape.dims[0]}};
    Shape sc = {2, {x->shape.dims[0], n_targets}};
    if (classifier) {
        shapes_set(n, 0, li ? DT_I64 : DT_STRING, &rows);
        shapes_set(n, 1, DT_F32, &sc);
    } else {
        shapes_set(n, 0, DT_F32, &sc);
    }
    return 0;
}
