/* frontends.h: model and tensor files -> IR, the frontends layer's one
 * public header.
 *
 * Two parts: the ONNX importer (frontends/onnx: ModelProto -> Graph) and
 * the tensor files `kiln run` reads and writes (frontends/tensor_io.c).
 * Everything else in frontends/ is private to it.
 *
 * --- ONNX import (frontends/onnx/onnx_import.c) -------------------------
 *
 * onnx_load() decodes the bytes of a .onnx file (read by the caller with
 * file_read(), diag.h, so that the driver hashes the same bytes it
 * compiles) as a ModelProto with protobuf-c and builds a Graph (ir.h): initializers and Constant
 * nodes become Values with data, graph inputs get their dtype and shape (each dynamic dim a
 * symbol, dim.h: its dim_param, or a fresh unk_K; --shape and --dim flags bound or pin them,
 * the others get the default bounds), every other node becomes an
 * IR node in topological order. Ops kiln does not support, and nodes of other domains, are kept as
 * OP_UNKNOWN with their op_type and domain, so the driver can list all of them at once; the
 * importer does not report them.
 *
 * Graph outputs carry the dtype and shape the model declares for them
 * (dims it declares dynamic are DIM_INVALID in decl_shape: unknown);
 * shape inference checks them against what it infers.
 *
 * Ownership: everything in the Graph, weights included, is copied into the
 * Arena; the caller keeps the model bytes and may free them right after.
 * The protobuf message is freed before onnx_load() returns.
 *
 * --- XGBoost models (frontends/xgboost/xgb_import.c) ----------------------
 *
 * xgb_load() reads XGBoost's JSON model format (save_model("m.json"),
 * gbtree or dart boosters; objectives binary:logistic, multi:softprob,
 * multi:softmax, reg:squarederror, reg:logistic) into a Graph of one
 * ai.onnx.ml TreeEnsembleClassifier or TreeEnsembleRegressor node, with
 * the attributes ONNX-ML defines (the mapping is described at the top of
 * xgb_import.c). Input `input` f32 [N, num_feature]; outputs `label` i64
 * [N] and `probabilities` f32 [N, classes], or `prediction` f32 [N, 1].
 * model_load() picks the importer by the bytes: JSON (a '{' or '[' after
 * optional whitespace) goes to xgb_load(), anything else to onnx_load().
 * Ownership as for onnx_load(): the Graph is in the Arena, the caller
 * keeps the bytes; the parsed JSON is freed before xgb_load() returns.
 *
 * --- tensor files (frontends/tensor_io.c) ----------------------------------
 *
 * tensor_read() loads one tensor from a file, choosing the format by the
 * file's extension: .npy (numpy's format, versions 1.0 to 3.0, little-endian
 * numeric and bool arrays in C order) or .pb (a serialized ONNX TensorProto,
 * as the ONNX backend tests store them; decoded by the same code as model
 * initializers, frontends/onnx/tensor_proto.h). tensor_write_npy() writes a
 * .npy version 1.0 file that numpy's np.load reads; a string tensor (data an
 * array of `const char *`, as a model's string outputs are) becomes
 * fixed-width bytes (|S<longest>).
 *
 * Every field of a file is checked before it is trusted: a hostile header
 * gets a diagnostic naming the file, never a crash or a huge allocation.
 *
 * Ownership: the data and name a HostTensor points to come from the Arena
 * passed to tensor_read() (data 64-byte aligned); for tensor_write_npy()
 * the caller keeps its tensor.
 */
#ifndef FRONTENDS_H
#define FRONTENDS_H

#include <stddef.h>
#include <stdint.h>

#include "ir.h"

/* One --shape NAME=D0xD1x... flag: the shape of graph input NAME, dim by
 * dim. A dim is pinned (lo == hi: that size), a range (lo < hi: the dim
 * is dynamic within it; the model's dim must be dynamic) or left as the
 * model has it (lo == -1: `?`, or `N` as older kiln spelled a dynamic
 * batch). Pinning a dynamic dim pins its symbol everywhere it appears. */
typedef struct OnnxPin {
    const char *name; /* graph input name */
    int rank;         /* must equal the input's rank in the model */
    int64_t lo[IR_MAX_RANK], hi[IR_MAX_RANK];
} OnnxPin;

/* One --dim SYM=A..B (or SYM=N) flag: the bounds of the model's symbol SYM
 * (an ONNX dim_param name, or unk_K as kiln names unnamed dims). */
typedef struct OnnxDimBound {
    const char *name;
    int64_t lo, hi;
} OnnxDimBound;

typedef struct OnnxShapeFlags {
    const OnnxPin *pins;
    int n_pins;
    const OnnxDimBound *dims;
    int n_dims;
} OnnxShapeFlags;

/* Imports the model in buf[0..len) into a new Graph in *out. path is the
 * file the bytes came from: messages name it and external data is looked up
 * in its directory. Returns 0, or -1 after reporting every problem found
 * (not ONNX, bad tensors, unreadable external data, unknown inputs, cycles),
 * each naming the file and the node or tensor. A bad flag (unknown name,
 * wrong rank, a range on a fixed dim, an unknown symbol) is a usage error
 * (exit class 2). flags may be NULL. On
 * failure *out is NULL. */
int onnx_load(Arena *a, const char *path, const uint8_t *buf, size_t len,
              const OnnxShapeFlags *flags, Graph **out, Diag *d);

/* Imports an XGBoost JSON model, as onnx_load() an ONNX one: returns 0,
 * or -1 after a diagnostic naming the file and the JSON field at fault
 * (exit class 1; a bad pin is class 2). Only the input 'input' may be
 * pinned, to [N or B, num_feature]. On failure *out is NULL. */
int xgb_load(Arena *a, const char *path, const uint8_t *buf, size_t len,
             const OnnxShapeFlags *flags, Graph **out, Diag *d);

typedef enum { MODEL_ONNX, MODEL_XGBOOST_JSON } ModelFormat;

/* The format of a model file's bytes, by content (not by its name). */
ModelFormat model_format_detect(const uint8_t *buf, size_t len);

/* onnx_load() or xgb_load(), as model_format_detect() says. */
int model_load(Arena *a, const char *path, const uint8_t *buf, size_t len,
               const OnnxShapeFlags *flags, Graph **out, Diag *d);

typedef struct HostTensor {
    const char *name;          /* TensorProto name; NULL when the file has none (.npy) */
    DType dtype;               /* element type, ONNX numbering */
    int rank;                  /* 0..IR_MAX_RANK */
    int64_t dims[IR_MAX_RANK]; /* sizes, all >= 0 */
    void *data;                /* dense row-major, little-endian; never NULL after a read */
    size_t nbytes;             /* product of dims * dtype_size(dtype) */
} HostTensor;

/* Reads the tensor in path (.npy or .pb) into *out. Returns 0, or -1 after
 * one diagnostic naming the file (exit class 1). */
int tensor_read(Arena *a, const char *path, HostTensor *out, Diag *d);

/* tensor_read() of a file already in memory: buf[0..len) in the format
 * path's extension names (path is used for that and for messages only).
 * The caller keeps buf. */
int tensor_parse(Arena *a, const char *path, const uint8_t *buf, size_t len, HostTensor *out,
                 Diag *d);

/* Writes t as a .npy (version 1.0) file, bfloat16 as its uint16 bit
 * patterns (numpy has no such type). Returns 0, or -1 after a
 * diagnostic: a dtype numpy has no name for is exit class 1, a
 * failed write (no such directory, disk full) exit class 3.
 * Requires: t->nbytes matches dims and dtype. */
int tensor_write_npy(const char *path, const HostTensor *t, Diag *d);

#endif
