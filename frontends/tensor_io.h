/* tensor_io.h: tensor files for `kiln run`.
 *
 * tensor_read() loads one tensor from a file, choosing the format by the
 * file's extension: .npy (numpy's format, versions 1.0 to 3.0, little-endian
 * numeric and bool arrays in C order) or .pb (a serialized ONNX TensorProto,
 * as the ONNX backend tests store them; decoded by the same code as model
 * initializers, frontends/onnx/tensor_proto.h). tensor_write_npy() writes a
 * .npy version 1.0 file that numpy's np.load reads.
 *
 * Every field of a file is checked before it is trusted: a hostile header
 * gets a diagnostic naming the file, never a crash or a huge allocation.
 *
 * Ownership: the data and name a HostTensor points to come from the Arena
 * passed to tensor_read() (data 64-byte aligned); for tensor_write_npy()
 * the caller keeps its tensor.
 */
#ifndef TENSOR_IO_H
#define TENSOR_IO_H

#include <stddef.h>
#include <stdint.h>

#include "ir.h"

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

/* Writes t as a .npy (version 1.0) file. Returns 0, or -1 after a
 * diagnostic: a dtype numpy has no name for (bfloat16) is exit class 1, a
 * failed write (no such directory, disk full) exit class 3.
 * Requires: t->nbytes matches dims and dtype. */
int tensor_write_npy(const char *path, const HostTensor *t, Diag *d);

#endif
