/* einsum.h: Einsum's equation, parsed.
 *
 * Shape inference (passes/shapes_misc.c) and codegen
 * (compiler/codegen/emit_misc.c) both read the equation through
 * einsum_parse(), so they agree on it. Every axis of every operand and of
 * the output gets a label number: the letters in order of first
 * appearance, then the dims an ellipsis stands for (broadcast from the
 * right, as numpy does). The caller owns the EinsumSpec; nothing is
 * allocated.
 */
#ifndef EINSUM_H
#define EINSUM_H

#include "ir.h"

enum { EINSUM_MAX_OPS = 8, EINSUM_MAX_LABELS = 64 };

typedef struct EinsumSpec {
    int n_ops;                                  /* inputs */
    int n_labels;                               /* distinct labels */
    int rank[EINSUM_MAX_OPS + 1];               /* each input's rank, then the output's */
    int label[EINSUM_MAX_OPS + 1][IR_MAX_RANK]; /* label of each axis; the output last */
} EinsumSpec;

/* Parses equation eq for n_ops inputs of the given ranks into *out. With
 * no "->" the output is every label that appears once, in alphabetical
 * order, after the ellipsis dims (ONNX's implicit mode). -1 with a
 * message (for "equation '...': <msg>") in err if eq is malformed or does
 * not fit the ranks. */
int einsum_parse(const char *eq, int n_ops, const int *ranks, EinsumSpec *out, char err[160]);

#endif
