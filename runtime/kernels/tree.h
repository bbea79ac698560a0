/* tree.h: what a compiled tree ensemble calls after its trees.
 *
 * Codegen turns the trees themselves into compare-and-branch code
 * (compiler/codegen/emit_tree.c) that leaves each row's raw sums in the
 * scores tensor; kiln_tree_finalize then applies the ensemble's base
 * values, aggregation, ONNX Runtime's binary-classifier rules, the
 * post_transform and the label choice, row by row. Conventions as in
 * kernels.h: no allocation, no failure.
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

#endif
