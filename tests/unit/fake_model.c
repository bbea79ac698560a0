/* fake_model.c: a hand-written model with the ABI of runtime/kiln_model.h,
 * standing in for a compiled one in the runtime's unit tests.
 *
 *     inputs:  x      FP32 [-1,3]
 *              scale  FP32 [1]        (not batched)
 *     outputs: y      FP32 [-1,3]     y = x * scale + 1
 *              rowsum FP32 [-1,1]     sum of each row of y
 *              argmax INT64 [-1]      index of the largest y in each row
 *
 * run() keeps the row sums in the workspace, so a workspace that is too
 * small shows up under ASan or valgrind, and returns 2 if the workspace
 * is not 64-byte aligned, as the ABI promises it is.
 */
#include <stdint.h>

#include "kiln_model.h"

static const int64_t shape_rows3[] = {-1, 3};
static const int64_t shape_one[] = {1};
static const int64_t shape_rows1[] = {-1, 1};
static const int64_t shape_rows[] = {-1};

static const KilnTensorInfo fake_inputs[] = {
    {"x", KILN_DT_FLOAT, 2, shape_rows3},
    {"scale", KILN_DT_FLOAT, 1, shape_one},
};

static const KilnTensorInfo fake_outputs[] = {
    {"y", KILN_DT_FLOAT, 2, shape_rows3},
    {"rowsum", KILN_DT_FLOAT, 2, shape_rows1},
    {"argmax", KILN_DT_INT64, 1, shape_rows},
};

static size_t fake_workspace_size(int64_t batch) {
    return (size_t)batch * sizeof(float);
}

static int fake_run(const void *const *inputs, void *const *outputs, void *workspace, int64_t batch,
                    KilnThreadPool *pool) {
    (void)pool;
    const float *x = inputs[0], *scale = inputs[1];
    float *y = outputs[0], *rowsum = outputs[1], *sums = workspace;
    int64_t *argmax = outputs[2];
    if ((uintptr_t)workspace % 64 != 0) return 2;
    for (int64_t b = 0; b < batch; b++) {
        sums[b] = 0;
        argmax[b] = 0;
        for (int j = 0; j < 3; j++) {
            y[b * 3 + j] = x[b * 3 + j] * scale[0] + 1;
            sums[b] += y[b * 3 + j];
            if (y[b * 3 + j] > y[b * 3 + argmax[b]]) argmax[b] = j;
        }
    }
    for (int64_t b = 0; b < batch; b++)
        rowsum[b] = sums[b];
    return 0;
}

const KilnModel kiln_model = {
    .abi_version = KILN_ABI_VERSION,
    .name = "fake",
    .version = "3",
    .sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    .build_info = "{\"kiln_version\": \"9.8.7\", \"target\": \"x86_64-linux-gnu\", "
                  "\"flags\": [\"-O3\"]}",
    .n_inputs = 2,
    .n_outputs = 3,
    .inputs = fake_inputs,
    .outputs = fake_outputs,
    .workspace_size = fake_workspace_size,
    .run = fake_run,
};
