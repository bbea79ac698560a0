/* onnx_import.h: ONNX model file -> IR graph.
 *
 * onnx_load() reads a .onnx file, decodes the ModelProto with protobuf-c
 * and builds a Graph (ir.h) from it: initializers and Constant nodes
 * become Values with data, graph inputs get their dtype and shape (a
 * symbolic leading dim becomes DIM_BATCH, other symbolic dims must be
 * pinned with --shape), every other node becomes an IR node in
 * topological order. Ops kiln does not support, and nodes of other
 * domains, are kept as OP_UNKNOWN with their op_type and domain, so the
 * driver can list all of them at once; the importer does not report them.
 *
 * Graph outputs carry the dtype and shape the model declares for them
 * (rank -1 when it declares none or a dim is symbolic past the first);
 * shape inference checks them against what it infers.
 *
 * Ownership: everything in the Graph, weights included, is copied into the
 * Arena. The protobuf message and the file buffer are freed before
 * onnx_load() returns.
 */
#ifndef ONNX_IMPORT_H
#define ONNX_IMPORT_H

#include <stdint.h>

#include "ir.h"

/* One --shape NAME=D0xD1x... flag: replaces the whole shape of graph input
 * NAME. dims[0] may be DIM_BATCH (`--shape x=Nx3x224x224`); every other
 * dim is a positive size. */
typedef struct OnnxPin {
    const char *name;          /* graph input name */
    int rank;                  /* must equal the input's rank in the model */
    int64_t dims[IR_MAX_RANK]; /* sizes; dims[0] may be DIM_BATCH */
} OnnxPin;

/* Loads the model at path into a new Graph in *out. Returns 0, or -1 after
 * reporting every problem found (unreadable file, not ONNX, bad tensors,
 * unknown inputs, symbolic dims without a pin, cycles), each naming the
 * file and the node or tensor. A bad pin (unknown name, wrong rank) is a
 * usage error (exit class 2). On failure *out is NULL. */
int onnx_load(Arena *a, const char *path, const OnnxPin *pins, int n_pins, Graph **out, Diag *d);

#endif
