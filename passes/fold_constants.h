/* fold_constants.h: constant folding of shape subgraphs (private to passes/).
 *
 * pass_fold_constants walks the nodes in order, infers each node's shape
 * (silently: pass_infer_shapes reports problems afterwards) and replaces
 * outputs it can compute at compile time by constants: Shape and Size of
 * values with static shapes, and the ops flagged OPF_FOLD whose inputs are
 * all constants (arithmetic through the model's own kernels, so the
 * constant equals what the model would compute). So a Reshape target
 * computed by Shape -> Gather -> Concat is a constant by the time
 * pass_infer_shapes sees it.
 *
 * Symbolic dims are not numbers at compile time. Shape of a value with a
 * symbolic dim folds to a vector holding that Dim, encoded by
 * ir_dim_encode() (ir.h) (a value no real shape vector holds); the encoded
 * dims flow through Gather, Slice, Concat, Squeeze, Unsqueeze, Reshape,
 * Identity and Cast to int64, and through int64 Add, Sub, Mul, Div, Mod,
 * Max and Min, computed as Dims; they are read as dims by Reshape,
 * Expand, ConstantOfShape, Range and the like. A folded value that holds
 * them is computed at run time by the compiled model from the input
 * shapes wherever a kernel reads it (codegen materialises it), so it never
 * reaches a kernel encoded. All memory comes from the graph's arena.
 */
#ifndef FOLD_CONSTANTS_H
#define FOLD_CONSTANTS_H

#include "passes.h"

/* Computes node n's single output at compile time into out (numel * dtype
 * bytes of the already inferred output) when the op and its constant
 * inputs allow it. 0 on success, -1 if not foldable, 1 if the constants
 * make the node fail (an integer division by zero, a Gather index out of
 * range), reported on d naming the node. Requires: n's shape function has
 * run (it sets the output's shape and n's plan). Outputs of more than
 * FOLD_MAX_ELEMS (65536, fold_constants.c) elements are never folded. */
int fold_node_eval(const Node *n, void *out, Diag *d);

#endif
