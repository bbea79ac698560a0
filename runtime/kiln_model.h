/* kiln_model.h: the ABI between code kiln generates and everything that
 * runs it (the service runtime, `kiln run`, programs that embed a model).
 *
 * A compiled model exports one constant KilnModel named `kiln_model`. Its
 * tables are static data owned by the model object; callers never free
 * them. run() reads the inputs, writes the outputs and uses the caller's
 * workspace for every intermediate tensor: it never allocates, never
 * prints and never exits.
 *
 * Tensors are dense, row-major, with the element type given by `dtype`,
 * which uses the ONNX TensorProto.DataType numbering (1 = float32, 7 =
 * int64, ...). A shape entry of -1 is the batch dimension: its size is the
 * `batch` argument of run() and workspace_size(). Every other dimension is
 * fixed at compile time.
 */
#ifndef KILN_MODEL_H
#define KILN_MODEL_H

#include <stddef.h>
#include <stdint.h>

#define KILN_ABI_VERSION 1

/* Element types, one row each in kiln_dtypes.def (the compiler's DType
 * has the same values). */
enum {
#define KILN_DTYPE(ir, abi, onnx, ...) KILN_DT_##abi = onnx,
#include "kiln_dtypes.def"
#undef KILN_DTYPE
};

typedef struct KilnThreadPool KilnThreadPool; /* opaque; NULL runs on the calling thread */

typedef struct KilnTensorInfo {
    const char *name;     /* the ONNX graph input or output name */
    int dtype;            /* KILN_DT_* */
    int rank;             /* number of dimensions */
    const int64_t *shape; /* length rank; -1 for the batch dimension */
} KilnTensorInfo;

typedef struct KilnModel {
    int abi_version;                         /* KILN_ABI_VERSION */
    const char *name, *version;              /* --name and --model-version */
    const char *sha256;                      /* hex sha256 of the source .onnx */
    const char *build_info;                  /* JSON object: kiln version, target, flags */
    int n_inputs, n_outputs;                 /* counts of the two tables */
    const KilnTensorInfo *inputs;            /* in graph order */
    const KilnTensorInfo *outputs;           /* in graph order */
    size_t (*workspace_size)(int64_t batch); /* bytes of scratch; SIZE_MAX: batch too large */
    /* 0 on success. inputs[i] / outputs[i] point to dense buffers of the
     * shapes above with -1 replaced by batch; workspace holds at least
     * workspace_size(batch) bytes aligned to 64. */
    int (*run)(const void *const *inputs, void *const *outputs, void *workspace, int64_t batch,
               KilnThreadPool *pool);
} KilnModel;

/* Size in bytes of one element of dtype, 0 if the type has no fixed size. */
static inline size_t kiln_dtype_size(int dtype) {
    switch (dtype) {
#define KILN_DTYPE(ir, abi, onnx, name, size, ...)                                                 \
    case KILN_DT_##abi:                                                                            \
        return size;
#include "kiln_dtypes.def"
#undef KILN_DTYPE
    default:
        return 0;
    }
}

extern const KilnModel kiln_model;

#endif
