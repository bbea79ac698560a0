/* fold_constants.h: constant folding of shape subgraphs, and the parameters
 * of shape ops that shape inference, folding and codegen all read.
 *
 * pass_fold_constants walks the nodes in order, infers each node's shape
 * (silently: pass_infer_shapes reports problems afterwards) and replaces
 * outputs it can compute on the host by constants: Shape and Size of values
 * with static shapes, and cheap int64/float ops whose inputs are all
 * constants. So a Reshape target computed by Shape -> Gather -> Concat is a
 * constant by the time pass_infer_shapes sees it.
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

/* Computes node n's single output on the host into out (numel * dtype
 * bytes of the already inferred output) when the op and its constant
 * inputs allow it. 0 on success, -1 if not foldable. */
int fold_node_eval(const Node *n, void *out);

/* --- parameters of shape ops (passes/shapes_shape.c) ------------------------------------------ */

/* Slice: for each axis of the input, the first index read and the step
 * (step 1 and start 0 for axes not sliced); out gets the output shape. */
int shapes_slice_plan(Node *n, Diag *d, int64_t start[IR_MAX_RANK], int64_t step[IR_MAX_RANK],
                      Shape *out);

typedef enum { PAD_CONSTANT, PAD_EDGE, PAD_REFLECT } PadMode;

/* Pad: begin pads in pads[0..rank), end pads in pads[rank..2*rank); the
 * constant value's bits (in the data's element type) in *fill. */
int shapes_pad_plan(Node *n, Diag *d, int64_t pads[2 * IR_MAX_RANK], PadMode *mode, uint64_t *fill);

typedef enum { RESIZE_NEAREST, RESIZE_LINEAR, RESIZE_CUBIC } ResizeMode;

/* Resize and Upsample, opset 7 to 17, normalised. */
typedef struct ResizePlan {
    ResizeMode mode;
    const char *ctm;          /* coordinate_transformation_mode */
    const char *nearest_mode; /* round_prefer_floor, round_prefer_ceil, floor, ceil */
    double cubic_a;
    int exclude_outside;
    float extrapolation;
    int rank;
    double scale[IR_MAX_RANK];   /* as the ONNX reference uses it */
    double out_w[IR_MAX_RANK];   /* scale * input size, as the reference computes it */
    double roi[2 * IR_MAX_RANK]; /* starts then ends (tf_crop_and_resize) */
    Shape out;
} ResizePlan;

int shapes_resize_plan(Node *n, Diag *d, ResizePlan *p);
/* Taps of one axis: for output j, idx[j*4 + t] (clamped input positions)
 * with weights w[j*4 + t], t < *taps (2 or 4); idx[j*4] = -1 where
 * tf_crop_and_resize extrapolates. Returns 1 if the axis maps every output
 * position to the same input position with weight 1 (nothing to do). */
int shapes_resize_taps(const ResizePlan *p, int axis, int64_t in, int64_t *idx, double *w,
                       int *taps);

#endif
