/* passes.h: the optimiser, as plain functions over the IR.
 *
 * Each pass takes the graph and a Diag, reports what it finds wrong by node
 * and returns 0 or -1. Passes touch the graph only through ir.h and own
 * nothing: scratch memory comes from the graph's arena. The driver
 * (compiler/driver/driver.c) runs them in the order passes_pipeline()
 * gives.
 */
#ifndef PASSES_H
#define PASSES_H

#include "ir.h"

typedef int (*PassFn)(Graph *g, Diag *d);

/* One pass of the pipeline. Analysis passes all run even when one fails,
 * so that `kiln check` reports every problem at once; the rest run only on
 * a graph without problems. */
typedef struct PassInfo {
    const char *name; /* as --dump-after takes it */
    PassFn fn;
    int analysis;
} PassInfo;

/* The pipeline in its order; *n gets its length. */
const PassInfo *passes_pipeline(int *n);

/* Lists every node whose op (or opset) kiln does not support, all of them
 * at once. Requires: nothing. */
int pass_check_ops(Graph *g, Diag *d);

/* Lists every node with operands of element types kiln has no kernels
 * for at all (strings, bfloat16). Which types each op supports is checked
 * when its code is generated (cg_call_typed). Requires: shapes inferred. */
int pass_check_types(Graph *g, Diag *d);

/* Folds shape subgraphs into constants: Shape and Size of values with
 * static shapes, and cheap int64/float ops whose inputs are all constants,
 * so a Reshape target computed by Shape -> Gather -> Concat is a constant
 * by the time pass_infer_shapes sees it (passes/fold_constants.h says how
 * the batch dim travels). Requires: supported ops. Preserves: topological
 * order. Runs before pass_infer_shapes, which reports what this pass
 * leaves unresolved. */
int pass_fold_constants(Graph *g, Diag *d);

/* An If whose condition is a constant becomes the branch it takes
 * (passes/control_flow.c). Requires: supported ops. Preserves: topological
 * order. */
int pass_fold_control(Graph *g, Diag *d);

/* A list that a Loop body builds by appending to a sequence (torch's
 * `ys.append(h)` in a scripted loop: SequenceEmpty, SequenceInsert,
 * ConcatFromSequence) becomes a scan output of the Loop and a Loop.concat
 * of it (passes/control_flow.c). Other sequences are left for check-ops
 * to report. Requires: nothing (it runs first). */
int pass_loop_sequences(Graph *g, Diag *d);

/* Gives every value a dtype and a shape, checking each node's operands.
 * Requires: supported ops. Preserves: everything else. */
int pass_infer_shapes(Graph *g, Diag *d);

/* Rewrites for speed: MatMul on 2-D operands becomes Gemm, Gemm + Add of a
 * constant bias takes the bias as C, a constant B of a Gemm is packed once at
 * compile time into the kernel's panel layout (Node.gemm_packed_b), and Relu/Sigmoid/Tanh after a
 * Gemm become its epilogue. Identity and inference Dropout are bypassed. Requires: shapes inferred.
 * Preserves: topological order, shapes. */
int pass_fuse(Graph *g, Diag *d);

/* Convolution epilogues, folded into the Conv node. Both require shapes
 * inferred and preserve topological order and shapes; both only rewrite a
 * Conv whose output has no other reader and is not a graph output. */

/* Inference BatchNormalization after a Conv with constant weights (and
 * bias, if any) and constant statistics is folded into new constant
 * weights W' = W * a and bias B' = (B - mean) * a + beta, with
 * a = scale / sqrt(var + eps) per output channel; the BatchNormalization
 * node goes away. float32 only. */
int pass_fold_batchnorm(Graph *g, Diag *d);

/* A float Conv's consumers become its epilogue (Node.epilogue, epi_a,
 * epi_b): first an Add of a tensor of the output's shape that is ready
 * before the Conv (a residual: the Conv's input 3, Node.conv_residual),
 * then one activation: Relu, Clip with constant bounds (EPI_CLAMP),
 * Sigmoid, Tanh, LeakyRelu, HardSigmoid, HardSwish, and x * Sigmoid(x)
 * (EPI_SILU). Depthwise convolutions take only Relu and Clip, and no
 * residual. Run after pass_fold_batchnorm. */
int pass_fuse_conv_activation(Graph *g, Diag *d);

/* Activations not after a Conv and squeeze-and-excitation convolutions
 * into kiln's fused ops (ops_fused.def): x*Sigmoid(x) and
 * x*HardSigmoid(x; 1/6, 1/2) become one kiln.Activation (SiLU,
 * HardSwish); a 1x1 Conv of 1x1 data becomes kiln.ConvVec, epilogue
 * kept. Run after pass_fuse_conv_activation (passes/fuse_mobile.c). */
int pass_fuse_mobile(Graph *g, Diag *d);
/* Transformer patterns (passes/fuse_transformer.c). Both require shapes
 * inferred and preserve topological order and every value's shape.
 * pass_fuse_transformer: LayerNorm spelled out as ReduceMean, Sub, Pow,
 * ReduceMean, Add, Sqrt, Div, Mul, Add over the last axis becomes one
 * LayerNormalization node, and MatMul-[scale]-Softmax-MatMul with the
 * Transposes of the head split around it one FusedAttention node
 * (compiler/ir/ops_transformer.def). pass_fuse_gelu (after pass_fuse): GELU in its
 * erf or tanh form after a Gemm becomes its EPI_GELU / EPI_GELU_TANH
 * epilogue. Only patterns whose intermediates nothing else reads. */
int pass_fuse_transformer(Graph *g, Diag *d);
int pass_fuse_gelu(Graph *g, Diag *d);
/* Mul(x, s) with s one factor per image and channel, read only by a
 * group-1 Conv, into that Conv's weights: kiln.ConvScaled (ops_se.def),
 * where the per-image weights cost less than the Mul's pass over x
 * (passes/fuse_se.c). Run before pass_fuse_elementwise. */
int pass_fuse_se(Graph *g, Diag *d);
/* Chains of float element-wise ops into one kiln.Chain node each
 * (passes/fuse_elementwise.c). Run after the other fusions. */
int pass_fuse_elementwise(Graph *g, Diag *d);

/* Removes nodes whose outputs nothing uses. Preserves: everything else. */
int pass_dce(Graph *g, Diag *d);

/* Gives every intermediate a workspace offset (Value.ws_offset,
 * Node.scratch_offset) so that tensors whose lifetimes do not overlap
 * share bytes, an element-wise op's output in place of an input that dies
 * there, and sets Graph.ws_size and ws_lower. Every offset is 64-byte
 * aligned. Requires: shapes inferred; must run last. */
int pass_plan_memory(Graph *g, Diag *d);

/* Floating-point operations per batch item of node n, or of all of g's
 * live nodes, from each op's flops function in ops.def (passes/flops.c
 * says what each op family counts; Conv, Gemm and MatMul count 2 per
 * multiply-add). 0 for a node whose shapes are unknown. Requires: shapes
 * inferred. */
int64_t flops_node_count(const Node *n);
int64_t flops_graph_count(const Graph *g);

#endif
