/* tensor_proto.h: ONNX TensorProto decoding, shared by the model importer
 * (initializers, Constant nodes, tensor attributes) and tensor_io (.pb
 * input files for `kiln run`).
 *
 * onnx_tensor_decode() turns one TensorProto into dense, row-major,
 * little-endian bytes in 64-byte aligned memory from the caller's Arena,
 * whatever the proto used to store them: raw_data, the typed repeated
 * fields (float_data, int32_data, int64_data, double_data, uint64_data) or
 * external data in a file next to the model. Nothing it returns points into
 * the protobuf message, so the caller may free the message right after.
 *
 * External data is read only from regular files inside the directory of
 * the file that holds the proto: absolute locations, `..` components and
 * symlinks leading outside are rejected, so a downloaded model cannot make
 * kiln read (and embed into a binary) arbitrary files. Files are read with
 * file_read() and file_open_regular() (diag.h), never anything else.
 */
#ifndef TENSOR_PROTO_H
#define TENSOR_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "ir.h"
#include "onnx/onnx.pb-c.h"

typedef struct OnnxTensor {
    DType dtype;   /* never DT_STRING or DT_UNDEF after a successful decode */
    Shape shape;   /* rank 0..IR_MAX_RANK, every dim >= 0 */
    void *data;    /* nbytes of dense row-major data, 64-byte aligned, never NULL */
    size_t nbytes; /* numel * dtype_size(dtype) */
} OnnxTensor;

/* Decodes t into out. `file` is the file the proto came from: messages start
 * with it and external data is looked up in its directory. `what` names the
 * tensor in messages, e.g. "initializer 'fc1.weight'" or "node 'c1'
 * (Constant): attribute 'value'". Returns 0, or reports one diagnostic
 * (exit class 1) and returns -1. */
int onnx_tensor_decode(Arena *a, const Onnx__TensorProto *t, const char *file, const char *what,
                       OnnxTensor *out, Diag *d);

#endif
