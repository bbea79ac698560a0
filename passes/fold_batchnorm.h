/* fold_batchnorm.h: convolution epilogues, folded into the Conv node.
 *
 * Two passes over the IR (declared here rather than in passes.h so the nn
 * op family keeps its passes together). Both require shapes inferred and
 * preserve topological order and shapes; both only rewrite a Conv whose
 * output has no other reader and is not a graph output.
 */
#ifndef FOLD_BATCHNORM_H
#define FOLD_BATCHNORM_H

#include "passes.h"

/* Inference BatchNormalization after a Conv with constant weights (and
 * bias, if any) and constant statistics is folded into new constant
 * weights W' = W * a and bias B' = (B - mean) * a + beta, with
 * a = scale / sqrt(var + eps) per output channel; the BatchNormalization
 * node goes away. float32 only. */
int pass_fold_batchnorm(Graph *g, Diag *d);

/* Relu, or Clip with constant bounds (ReLU6), after a Conv becomes the
 * Conv's activation epilogue: Relu sets Node.epilogue = EPI_RELU, Clip the
 * internal float attributes clip_min / clip_max, which codegen turns into
 * the kernel's clamp. Run after pass_fold_batchnorm. */
int pass_fuse_conv_activation(Graph *g, Diag *d);

#endif
