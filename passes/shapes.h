/* shapes.h: what shape functions share (passes/infer_shapes.c and the
 * per-family passes/shapes_*.c files).
 *
 * A shape function checks one node's operands (element types, ranks,
 * attributes) and sets its outputs' dtype and shape with shapes_set();
 * it reports problems with diag_node() and returns -1. Every op's shape
 * function is named in compiler/ir/ops.def and declared here from it.
 */
#ifndef SHAPES_H
#define SHAPES_H

#include "passes.h"

#define OP(e, name, since, imin, imax, omin, omax, st, flags, shape, flops, emit, kernel)          \
    int shape(Node *n, Diag *d);
#include "ops.def"
#undef OP

/* Runs n's shape function (from ops.def): 0 ok, -1 with diagnostics (d may
 * be NULL to try silently). Requires: every present input has a shape. */
int shapes_node(Node *n, Diag *d);

/* -1 with a diagnostic unless every output of n that has a shape is
 * within model_limits.h (shape_bytes_check). shapes_node() runs it after
 * every shape function; one that computes more from the output shape
 * (scratch sizes) calls it first. */
int shapes_check_outputs(Node *n, Diag *d);

/* Attribute `name` into *out: NULL if absent. -1 with a diagnostic if it is
 * present with another kind than `kind` (a model may give a float list
 * where ints belong: Attr's arrays of other kinds are NULL then). */
int shapes_attr(Node *n, const char *name, AttrKind kind, const Attr **out, Diag *d);

/* Input i of n, NULL if absent or omitted. */
Value *shapes_in(const Node *n, int i);
/* Sets output i's dtype and shape (ignored if the node has no output i). */
void shapes_set(Node *n, int i, DType t, const Shape *s);
/* -1 with a diagnostic unless inputs a and b have the same dtype. */
int shapes_same_dtype(Node *n, int a, int b, Diag *d);
/* Numpy (multidirectional) broadcasting; -1 if the shapes do not broadcast.
 * Symbolic dims that must be equal become run-time checks on n's graph (n
 * NULL: such shapes do not broadcast). */
int shapes_broadcast(Node *n, const Shape *a, const Shape *b, Shape *out);
/* Two sizes node n requires equal (`what`: "the inner dimension of A and
 * B"): *out is the one to use, and where the bounds cannot prove them
 * equal the model checks it at run time. -1 if they are provably
 * different (the caller reports it). */
int shapes_unify(Node *n, Dim a, Dim b, Dim *out, const char *what);
/* Size a must be at least lo (a convolution's output, say): checked at run
 * time unless the bounds prove it; -1 if they prove it false. */
int shapes_dim_min(Node *n, Dim a, int64_t lo, const char *what);
/* "[N,3,224,224]" in buf. */
const char *shapes_str(const Shape *s, char buf[160]);
/* numpy matmul's output shape of inputs ia and ib into *out (M, N: its
 * matrix dims); -1 with a diagnostic if they do not multiply. */
int shapes_matmul(Node *n, int ia, int ib, Shape *out, Dim *M, Dim *N, Diag *d);
/* Product of the constant dims [from, to); *batch counts how many
 * symbolic dims were among them. */
int64_t shapes_product(const Shape *s, int from, int to, int *batch);
/* The standard diagnostic for what kiln does not support on a dynamic dim
 * (`what`: "splitting"). Returns -1. */
int shapes_batch_unrepresentable(Node *n, Diag *d, const char *what);
/* Reads constant integer input i (int64 or int32) into out[0..max): the
 * element count, or -1 with a diagnostic if the input is not a constant. */
int shapes_const_ints(Node *n, int i, int64_t *out, int max, Diag *d);
/* The same, encoded Dims (fold_constants.h) left in: the caller decodes them. */
int shapes_const_ints_raw(Node *n, int i, int64_t *out, int max, Diag *d);
/* The same for a shape vector (Expand's, ConstantOfShape's): each element
 * a size or an encoded Dim (fold_constants.h), into out as Dims; -1 with a
 * diagnostic if one is negative. */
int shapes_const_dims(Node *n, int i, Dim *out, int max, Diag *d);
/* The data-dependent symbol (compiler/ir/dim.h) that sizes dim k of n's
 * output `out` at run time, at most bound: the one the output has if shape
 * inference ran n before, else a new one named base_1, base_2...;
 * DIM_INVALID with a diagnostic if bound is not a size (shapes_dyn.c). */
Dim shapes_dyn_count(Node *n, int out, int k, const char *base, Dim bound, Diag *d);
/* axis in [-rank, rank) -> [0, rank); -1 with a diagnostic if out of range. */
int shapes_axis(Node *n, int64_t axis, int rank, Diag *d, int64_t *out);

#endif
