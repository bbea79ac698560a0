/* fake_model.c: hand-written models with the ABI of runtime/kiln_model.h
 * (fake_model.h says what they compute). */
#include "fake_model.h"

#include <stdint.h>

/* --- kiln_model: x [batch,len], scale [1] ---------------------------------- */

enum { SYM_BATCH, SYM_LEN };

static const KilnSymbol fake_syms[] = {{"batch", 1, 64}, {"len", 1, 16}};

static const int64_t dyn2[] = {-1, -1}, min_x[] = {1, 1}, max_x[] = {64, 16};
static const int sym_x[] = {SYM_BATCH, SYM_LEN};
static const char *const dims_x[] = {"batch", "len"};

static const int64_t one[] = {1};
static const int no_sym[] = {-1};
static const char *const dims_one[] = {"1"};

static const int64_t shape_rows1[] = {-1, 1}, max_rows1[] = {64, 1};
static const int sym_rows1[] = {SYM_BATCH, -1};
static const char *const dims_rows1[] = {"batch", "1"};

static const int64_t dyn1[] = {-1}, max_rows[] = {64};
static const int sym_rows[] = {SYM_BATCH};
static const char *const dims_rows[] = {"batch"};

static const int64_t min_pairs[] = {1, 0}, max_pairs[] = {64, 8};
static const int sym_pairs[] = {SYM_BATCH, -1};
static const char *const dims_pairs[] = {"batch", "len/2"};

static const KilnTensorInfo fake_inputs[] = {
    {"x", KILN_DT_FLOAT, 2, dyn2, min_x, max_x, sym_x, dims_x},
    {"scale", KILN_DT_FLOAT, 1, one, one, one, no_sym, dims_one},
};

static const KilnTensorInfo fake_outputs[] = {
    {"y", KILN_DT_FLOAT, 2, dyn2, min_x, max_x, sym_x, dims_x},
    {"rowsum", KILN_DT_FLOAT, 2, shape_rows1, min_x, max_rows1, sym_rows1, dims_rows1},
    {"argmax", KILN_DT_INT64, 1, dyn1, one, max_rows, sym_rows, dims_rows},
    {"pairs", KILN_DT_FLOAT, 2, dyn2, min_pairs, max_pairs, sym_pairs, dims_pairs},
};

static const char *const fake_checks[] = {
    "input 'x' dim 0 (batch)",
    "input 'x' dim 1 (len)",
    "input 'scale' dim 0",
    "node 'pairs' (Reshape): dim 1 of output 'pairs' (len/2)",
};

/* The first failed check site with what it found in *e, else 0. */
static int fake_check(const int64_t *const *in, KilnRunError *e) {
    for (int d = 0; d < 2; d++) {
        const KilnSymbol *s = &fake_syms[d];
        if (in[0][d] < s->min || in[0][d] > s->max) {
            *e = (KilnRunError){
                .kind = KILN_CHECK_DIM_RANGE, .value = in[0][d], .lo = s->min, .hi = s->max};
            return 1 + d;
        }
    }
    if (in[1][0] != 1) {
        *e = (KilnRunError){.kind = KILN_CHECK_DIM_MATCH, .value = in[1][0], .size = 1};
        return 3;
    }
    if (in[0][1] / 2 < 1) {
        *e = (KilnRunError){.kind = KILN_CHECK_DIM_SIZE, .value = in[0][1] / 2, .lo = 1};
        return 4;
    }
    return 0;
}

static void fake_out_shapes(const int64_t *const *in, int64_t *const *out) {
    int64_t batch = in[0][0], len = in[0][1];
    out[0][0] = batch, out[0][1] = len;
    out[1][0] = batch, out[1][1] = 1;
    out[2][0] = batch;
    out[3][0] = batch, out[3][1] = len / 2;
}

static int fake_shapes(const int64_t *const *in, int64_t *const *out, KilnRunError *e) {
    int rc = fake_check(in, e);
    if (rc == 0 && out) fake_out_shapes(in, out);
    return rc;
}

/* The KilnRunError (the workspace's first 64 bytes, as kiln_model.h says),
 * then the row sums. */
static size_t fake_workspace_size(const int64_t *const *in) {
    KilnRunError e;
    if (fake_check(in, &e) != 0) return SIZE_MAX;
    return ((size_t)in[0][0] * sizeof(float) + 63) / 64 * 64 + KILN_RUN_ERROR_BYTES;
}

static int fake_run(const void *const *inputs, const int64_t *const *in, void *const *outputs,
                    int64_t *const *out_shapes, void *workspace, KilnThreadPool *pool) {
    (void)pool;
    if ((uintptr_t)workspace % 64 != 0) return 99;
    KilnRunError e;
    int rc = fake_check(in, &e);
    if (rc != 0) {
        *(KilnRunError *)workspace = e;
        return rc;
    }
    int64_t batch = in[0][0], len = in[0][1];
    const float *x = inputs[0], *scale = inputs[1];
    float *y = outputs[0], *rowsum = outputs[1], *pairs = outputs[3],
          *sums = (float *)((char *)workspace + KILN_RUN_ERROR_BYTES);
    int64_t *argmax = outputs[2];
    for (int64_t b = 0; b < batch; b++) {
        sums[b] = 0;
        argmax[b] = 0;
        for (int64_t j = 0; j < len; j++) {
            y[b * len + j] = x[b * len + j] * scale[0] + 1;
            sums[b] += y[b * len + j];
            if (y[b * len + j] > y[b * len + argmax[b]]) argmax[b] = j;
        }
        for (int64_t j = 0; j < len / 2; j++)
            pairs[b * (len / 2) + j] = y[b * len + 2 * j] + y[b * len + 2 * j + 1];
    }
    for (int64_t b = 0; b < batch; b++)
        rowsum[b] = sums[b];
    if (out_shapes) fake_out_shapes(in, out_shapes);
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
    .n_outputs = 4,
    .inputs = fake_inputs,
    .outputs = fake_outputs,
    .n_syms = 2,
    .syms = fake_syms,
    .shapes = fake_shapes,
    .workspace_size = fake_workspace_size,
    .run = fake_run,
    .n_checks = 4,
    .checks = fake_checks,
};

/* --- fake_static_model: x [2,3] -> y [2,3] ---------------------------------- */

static const int64_t shape_23[] = {2, 3};
static const int no_syms[] = {-1, -1};
static const char *const dims_23[] = {"2", "3"};

static const KilnTensorInfo static_inputs[] = {
    {"x", KILN_DT_FLOAT, 2, shape_23, shape_23, shape_23, no_syms, dims_23},
};
static const KilnTensorInfo static_outputs[] = {
    {"y", KILN_DT_FLOAT, 2, shape_23, shape_23, shape_23, no_syms, dims_23},
};
static const char *const static_checks[] = {"input 'x' dim 0", "input 'x' dim 1"};

static int static_shapes(const int64_t *const *in, int64_t *const *out, KilnRunError *e) {
    for (int d = 0; d < 2; d++) {
        if (in[0][d] != shape_23[d]) {
            *e = (KilnRunError){
                .kind = KILN_CHECK_DIM_MATCH, .value = in[0][d], .size = shape_23[d]};
            return 1 + d;
        }
    }
    if (out) out[0][0] = 2, out[0][1] = 3;
    return 0;
}

static size_t static_workspace_size(const int64_t *const *in) {
    KilnRunError e;
    return static_shapes(in, NULL, &e) ? SIZE_MAX : 64 + KILN_RUN_ERROR_BYTES;
}

static int static_run(const void *const *inputs, const int64_t *const *in, void *const *outputs,
                      int64_t *const *out_shapes, void *workspace, KilnThreadPool *pool) {
    (void)pool;
    if ((uintptr_t)workspace % 64 != 0) return 99;
    KilnRunError e;
    int rc = static_shapes(in, out_shapes, &e);
    if (rc != 0) {
        *(KilnRunError *)workspace = e;
        return rc;
    }
    const float *x = inputs[0];
    float *y = outputs[0], *row = (float *)((char *)workspace + KILN_RUN_ERROR_BYTES);
    for (int i = 0; i < 6; i++) {
        row[i % 3] = 2 * x[i];
        y[i] = row[i % 3];
    }
    return 0;
}

const KilnModel fake_static_model = {
    .abi_version = KILN_ABI_VERSION,
    .name = "static",
    .version = "1",
    .sha256 = "",
    .build_info = "{}",
    .n_inputs = 1,
    .n_outputs = 1,
    .inputs = static_inputs,
    .outputs = static_outputs,
    .shapes = static_shapes,
    .workspace_size = static_workspace_size,
    .run = static_run,
    .n_checks = 2,
    .checks = static_checks,
};

/* --- fake_text_model: tokens [batch,seq], mask [batch,seq] ------------------ */

static const KilnSymbol text_syms[] = {{"batch", 1, 8}, {"seq", 1, 512}};
static const int64_t min_text[] = {1, 1}, max_text[] = {8, 512};
static const char *const dims_text[] = {"batch", "seq"};
static const int64_t min_twice[] = {1, 2}, max_twice[] = {8, 1024};
static const int sym_twice[] = {0, -1};
static const char *const dims_twice[] = {"batch", "seq*2"};

static const KilnTensorInfo text_inputs[] = {
    {"tokens", KILN_DT_INT64, 2, dyn2, min_text, max_text, sym_x, dims_text},
    {"mask", KILN_DT_FLOAT, 2, dyn2, min_text, max_text, sym_x, dims_text},
};
static const KilnTensorInfo text_outputs[] = {
    {"masked", KILN_DT_FLOAT, 2, dyn2, min_text, max_text, sym_x, dims_text},
    {"twice", KILN_DT_FLOAT, 2, dyn2, min_twice, max_twice, sym_twice, dims_twice},
};
static const char *const text_checks[] = {
    "input 'tokens' dim 0 (batch)",
    "input 'tokens' dim 1 (seq)",
    "input 'mask' dim 0 (batch)",
    "input 'mask' dim 1 (seq)",
};

static int text_shapes(const int64_t *const *in, int64_t *const *out, KilnRunError *e) {
    for (int i = 0; i < 2; i++) {
        for (int d = 0; d < 2; d++) {
            const KilnSymbol *s = &text_syms[d];
            if (in[i][d] < s->min || in[i][d] > s->max) {
                *e = (KilnRunError){
                    .kind = KILN_CHECK_DIM_RANGE, .value = in[i][d], .lo = s->min, .hi = s->max};
                return 1 + 2 * i + d;
            }
            if (i == 1 && in[1][d] != in[0][d]) {
                *e = (KilnRunError){
                    .kind = KILN_CHECK_DIM_MATCH, .value = in[1][d], .size = in[0][d]};
                return 3 + d;
            }
        }
    }
    if (out) {
        out[0][0] = out[1][0] = in[0][0];
        out[0][1] = in[0][1];
        out[1][1] = in[0][1] * 2;
    }
    return 0;
}

static size_t text_workspace_size(const int64_t *const *in) {
    KilnRunError e;
    return text_shapes(in, NULL, &e) ? SIZE_MAX : KILN_RUN_ERROR_BYTES;
}

static int text_run(const void *const *inputs, const int64_t *const *in, void *const *outputs,
                    int64_t *const *out_shapes, void *workspace, KilnThreadPool *pool) {
    (void)pool;
    if ((uintptr_t)workspace % 64 != 0) return 99;
    KilnRunError e;
    int rc = text_shapes(in, out_shapes, &e);
    if (rc != 0) {
        *(KilnRunError *)workspace = e;
        return rc;
    }
    const int64_t *tokens = inputs[0];
    const float *mask = inputs[1];
    float *masked = outputs[0], *twice = outputs[1];
    for (int64_t i = 0; i < in[0][0] * in[0][1]; i++) {
        masked[i] = (float)tokens[i] * mask[i];
        twice[2 * i] = twice[2 * i + 1] = masked[i];
    }
    return 0;
}

const KilnModel fake_text_model = {
    .abi_version = KILN_ABI_VERSION,
    .name = "text",
    .version = "2",
    .sha256 = "",
    .build_info = "{}",
    .n_inputs = 2,
    .n_outputs = 2,
    .inputs = text_inputs,
    .outputs = text_outputs,
    .n_syms = 2,
    .syms = text_syms,
    .shapes = text_shapes,
    .workspace_size = text_workspace_size,
    .run = text_run,
    .n_checks = 4,
    .checks = text_checks,
};
