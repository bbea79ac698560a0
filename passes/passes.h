/* passes.h: the optimiser, as plain functions over the IR.
 *
 * Each pass takes the graph and a Diag, reports what it finds wrong by node
 * and returns 0 or -1. Passes touch the graph only through ir.h and own
 * nothing: scratch memory comes from the graph's arena. The driver
 * (compiler/driver.c) runs them in the order of its pipeline table.
 */
#ifndef PASSES_H
#define PASSES_H

#include "ir.h"

typedef int (*PassFn)(Graph *g, Diag *d);

/* Lists every node whose op (or opset) kiln does not support, all of them
 * at once. Requires: nothing. */
int pass_check_ops(Graph *g, Diag *d);

/* Lists every node with operands of element types kiln has no kernels
 * for at all (strings, bfloat16). Which types each op supports is checked
 * when its code is generated (cg_call_typed). Requires: shapes inferred. */
int pass_check_types(Graph *g, Diag *d);

/* Gives every value a dtype and a shape, checking each node's operands.
 * Requires: supported ops. Preserves: everything else. */
int pass_infer_shapes(Graph *g, Diag *d);

/* Rewrites for speed: MatMul on 2-D operands becomes Gemm, Gemm + Add of a
 * constant bias takes the bias as C, a constant B of a Gemm is packed once at
 * compile time into the kernel's panel layout (attribute packed_b=1), and Relu/Sigmoid/Tanh after a
 * Gemm become its epilogue. Identity and inference Dropout are bypassed. Requires: shapes inferred.
 * Preserves: topological order, shapes. */
int pass_fuse(Graph *g, Diag *d);

/* Removes nodes whose outputs nothing uses. Preserves: everything else. */
int pass_dce(Graph *g, Diag *d);

/* Gives every intermediate a workspace offset (Value.ws_offset and
 * ws_batch_offset) so that tensors whose lifetimes do not overlap share
 * bytes, and sets Graph.ws_static / ws_per_batch. Every offset is 64-byte
 * aligned. Requires: shapes inferred; must run last. */
int pass_plan_memory(Graph *g, Diag *d);

#endif
