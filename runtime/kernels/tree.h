/* tree.h: what a compiled tree ensemble calls.
 *
 * Codegen (compiler/codegen/emit_tree.c) gives an ensemble's trees one or
 * both of two forms. Compare-and-branch code is the fastest for a few
 * rows, but LLVM takes about 100 us per branch to compile it, so only
 * ensembles of up to some ten thousand branches get it. Every ensemble
 * gets a table (KilnTreeTable, constant data: it costs no compile time)
 * that kiln_tree_table_rows walks, branchlessly where the trees allow, a
 * few rows or trees at a time, so that their loads overlap. Both leave
 * each row's raw sums in its accumulators; kiln_tree_rows_finish then
 * applies the ensemble's base values, aggregation, ONNX Runtime's
 * binary-classifier rules, the post_transform and the label choice, row by
 * row. Conventions as in kernels.h: no allocation, no failure.
 */
#ifndef KILN_TREE_H
#define KILN_TREE_H

#include <stdint.h>

#include "kernels.h"

/* post_transform (the values of TreePost in compiler/ir/tree_plan.h). */
enum {
    KILN_TREE_POST_NONE = 0,
    KILN_TREE_POST_SOFTMAX = 1,
    KILN_TREE_POST_LOGISTIC = 2,
    KILN_TREE_POST_SOFTMAX_ZERO = 3,
    KILN_TREE_POST_PROBIT = 4,
};

/* aggregate_function (TreeAggregate). */
enum { KILN_TREE_SUM = 0, KILN_TREE_AVERAGE = 1, KILN_TREE_MIN = 2, KILN_TREE_MAX = 3 };

/* flags */
enum {
    KILN_TREE_CLASSIFIER = 1,    /* TreeEnsembleClassifier */
    KILN_TREE_BINARY = 2,        /* 2 classes, weights for one of them only */
    KILN_TREE_ALL_POSITIVE = 4,  /* every leaf weight is >= 0 */
    KILN_TREE_STRING_LABELS = 8, /* label_values are strings (const char *[n]) */
};

/* One row's tail: acc[0, n) are its raw sums (MIN/MAX: the extremes),
 * acc[n, 2n) nonzero where some tree gave the target a weight. Writes the
 * row's n scores to z and, if label is not NULL, its class to *label:
 * label_values[class], int64 or (KILN_TREE_STRING_LABELS) a string
 * pointer, or the class index if label_values is NULL. */
void kiln_tree_row_finish(const double *acc, int32_t n, int32_t flags, int32_t aggregate,
                          int32_t post, int32_t n_trees, int32_t n_base, const float *base,
                          const void *label_values, float *z, void *label);

/* The row loop around the tree functions: acc[0, n) = init and acc[n, 2n)
 * = 0 before a row's trees; row = the double row x[0, n) in float (the
 * trees compare in float, as ONNX does). */
void kiln_tree_row_begin(double *acc, int32_t n, double init);
void kiln_tree_row_f64(const double *x, int64_t n, float *row);

/* The same over a block of rows (row r's accumulators at acc + r * 2n,
 * its features at x + r * f, its labels 8 bytes apart): codegen runs each
 * tree function over a whole block, so that its code stays in the
 * instruction cache for every row of it. */
void kiln_tree_rows_begin(double *acc, int32_t n, double init, int64_t rows);
void kiln_tree_fn_rows(void (*fn)(const float *, double *), const float *x, int64_t f, double *acc,
                       int32_t n, int64_t rows);
void kiln_tree_rows_finish(const double *acc, int32_t n, int32_t flags, int32_t aggregate,
                           int32_t post, int32_t n_trees, int32_t n_base, const float *base,
                           const void *label_values, float *z, void *label, int64_t rows);

/* The table form.
 *
 * Complete (depth > 0): every tree is padded to a complete binary tree of
 * `depth` levels (a leaf above the last level becomes a subtree all of
 * whose leaves are it), stored in heap order: tree k's branch nodes are
 * nodes[k * (2^depth - 1) + i], node i's children 2i + 1 (left) and 2i + 2
 * (right), and its leaves leaves[k * 2^depth + j]. A node compares integer
 * keys (tree.c's tree_keys: float order, NaN largest in a row's first f
 * keys and smallest in its second f): key <= node's key goes left. Codegen
 * rewrites every test that way: x < t as x <= the float below t, >= and >
 * with the children swapped, and a node whose NaN goes left reads column
 * f + c rather than c.
 *
 * Generic (depth == 0), for trees that are deep and sparse or test for
 * equality: nodes are KilnTreeGNode, tree k starts at node roots[k], a
 * child < 0 is the leaf ~child, and the node's mode (KILN_TREE_MODE_*) is
 * the ONNX test as written: x <mode> threshold goes to child[0], and a NaN
 * goes to child[0] if KILN_TREE_NAN_TRUE is set, else wherever the test
 * sends it.
 *
 * A leaf j is leaves[j]: if `simple`, the float weight (as its bits) that
 * it adds to target targets[k] of its tree k; else an index into w_first:
 * the leaf's weights are w_target/w_value [w_first[l], w_first[l + 1]),
 * combined into the accumulators by `aggregate`. */
typedef struct KilnTreeNode {
    int32_t key;     /* the threshold's key */
    uint32_t column; /* of the row's 2f keys */
} KilnTreeNode;

typedef struct KilnTreeGNode {
    float threshold;
    uint32_t feature; /* the column | mode << KILN_TREE_MODE_SHIFT | KILN_TREE_NAN_TRUE */
    int32_t child[2]; /* [0] where the test holds, [1] where not; < 0: the leaf ~child */
} KilnTreeGNode;

enum {
    KILN_TREE_COLUMN = 0x0fffffff, /* the feature bits of KilnTreeNode/GNode.feature */
    KILN_TREE_MODE_SHIFT = 28,
};
#define KILN_TREE_NAN_TRUE 0x80000000u

/* Generic nodes' modes: x <= t, x < t, x >= t, x > t, x == t, x != t. */
enum {
    KILN_TREE_MODE_LEQ = 0,
    KILN_TREE_MODE_LT = 1,
    KILN_TREE_MODE_GTE = 2,
    KILN_TREE_MODE_GT = 3,
    KILN_TREE_MODE_EQ = 4,
    KILN_TREE_MODE_NEQ = 5,
};

typedef struct KilnTreeTable {
    int32_t depth; /* > 0: complete trees of that many levels; 0: generic */
    int32_t n_trees;
    int32_t simple;    /* leaves hold their tree's one weight (aggregate SUM/AVERAGE) */
    int32_t aggregate; /* KILN_TREE_SUM ... */
    const void *nodes; /* KilnTreeNode (complete) or KilnTreeGNode (generic) */
    const uint32_t *leaves;
    const int32_t *roots;   /* generic: [n_trees] the root node, or ~leaf */
    const int32_t *targets; /* simple: [n_trees] */
    const uint8_t *has;     /* simple: [n targets] nonzero if some tree scores it */
    const int32_t *w_first; /* not simple: [leaves + 1] */
    const int32_t *w_target;
    const float *w_value;
} KilnTreeTable;

/* Runs every tree of t over rows rows of x (row r at x + r * f), adding
 * into the accumulators (row r's at acc + r * 2n, set up by
 * kiln_tree_rows_begin). keys: scratch of rows * 2f int32s. */
void kiln_tree_table_rows(const KilnTreeTable *t, const float *x, int64_t f, double *acc, int32_t n,
                          int64_t rows, int32_t *keys);

#endif
