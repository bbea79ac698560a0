/* tree_plan.h: a tree ensemble (ai.onnx.ml TreeEnsembleClassifier and
 * TreeEnsembleRegressor) as its shape function resolved it.
 *
 * passes/shapes_tree.c checks every attribute of the node (list lengths,
 * ids, the trees' structure) and builds this plan in the graph's arena;
 * compiler/codegen/emit_tree.c turns it into native code and never reads
 * the attributes again. Nodes are renumbered: a tree is its root's index
 * in `nodes`, children are indices too, and every node is reachable from
 * its tree's root exactly once (the trees are trees).
 */
#ifndef TREE_PLAN_H
#define TREE_PLAN_H

#include <stdint.h>

/* Features per row (the table form packs a column of 2 * features into
 * 28 bits: runtime/kernels/tree.h). */
#define TREE_MAX_FEATURES (1 << 26)

/* A node's test, as ONNX names it: x <op> threshold goes to the true child. */
typedef enum {
    TREE_LEAF,
    TREE_BRANCH_LEQ,
    TREE_BRANCH_LT,
    TREE_BRANCH_GTE,
    TREE_BRANCH_GT,
    TREE_BRANCH_EQ,
    TREE_BRANCH_NEQ,
} TreeMode;

/* aggregate_function (the regressor's; the classifier always sums). */
typedef enum { TREE_AGG_SUM, TREE_AGG_AVERAGE, TREE_AGG_MIN, TREE_AGG_MAX } TreeAggregate;

/* post_transform; the values are runtime/kernels/tree.h's KILN_TREE_POST_*. */
typedef enum {
    TREE_POST_NONE,
    TREE_POST_SOFTMAX,
    TREE_POST_LOGISTIC,
    TREE_POST_SOFTMAX_ZERO,
    TREE_POST_PROBIT,
} TreePost;

typedef struct TreeNode {
    int32_t mode;         /* TreeMode */
    int32_t feature;      /* branch: column of the input row */
    float threshold;      /* branch: compared in float, as ONNX does */
    int32_t child[2];     /* branch: index of the true child [0] and the false one [1] */
    int32_t missing_true; /* branch: a NaN feature goes to the true child */
    int32_t w_first;      /* leaf: its weights are [w_first, w_first + n_w) */
    int32_t n_w;
} TreeNode;

typedef struct TreePlan {
    int classifier;     /* TreeEnsembleClassifier */
    int32_t n_targets;  /* scores per row: classes or regression targets */
    int64_t n_features; /* the input's row length */
    int32_t n_trees;
    const int32_t *roots; /* [n_trees] node index of each tree's root */
    int32_t n_nodes;
    const TreeNode *nodes;
    const int32_t *w_target; /* [n_weights] class or target id of each leaf weight */
    const float *w_value;    /* [n_weights] */
    int32_t n_weights;
    int32_t max_depth;  /* edges on the longest root-to-leaf path */
    int32_t block_rows; /* rows each tree function runs over in turn (scratch for
                           their accumulators and float rows) */
    TreeAggregate aggregate;
    TreePost post;
    int32_t n_base;                /* 0, 1 or n_targets base values */
    const float *base;             /* [n_base] */
    int binary;                    /* classifier of 2 classes whose weights name one class
                                      only: ONNX Runtime's binary case */
    int binary_class;              /* binary: that class */
    int all_positive;              /* every weight is >= 0 */
    const int64_t *labels_int;     /* classifier: [n_targets] classlabels_int64s, or NULL */
    const char *const *labels_str; /* classifier: [n_targets] classlabels_strings, or NULL */
} TreePlan;

#endif
