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
 * The batch size is not a number at compile time. Shape of a value with a
 * batch dim folds to a vector holding FOLD_DIM_BATCH at that position; the
 * sentinel may flow through Gather, Slice, Concat, Squeeze, Unsqueeze,
 * Reshape, Identity and Cast to int64, and is accepted by Reshape (as
 * "copy the input's batch dim"), Expand and ConstantOfShape (as the batch
 * dim). Any other use of it un-folds the chain back to run-time ops, so the
 * sentinel never reaches a kernel as data. All memory comes from the
 * graph's arena.
 */
#ifndef FOLD_CONSTANTS_H
#define FOLD_CONSTANTS_H

#include "passes.h"

/* The batch dim inside a folded int64 shape vector ("KILN" in the low bits). */
#define FOLD_DIM_BATCH (INT64_MIN + 0x4b494c4e)

/* Computes node n's single output at compile time into out (numel * dtype
 * bytes of the already inferred output) when the op and its constant
 * inputs allow it. 0 on success, -1 if not foldable, 1 if the constants
 * make the node fail (an integer division by zero, a Gather index out of
 * range), reported on d naming the node. Requires: n's shape function has
 * run (it sets the output's shape and n's plan). Outputs of more than
 * FOLD_MAX_ELEMS (65536, fold_constants.c) elements are never folded. */
int fold_node_eval(const Node *n, void *out, Diag *d);

#endif
