/* infer_model.c: the request harnesses' model (infer_model.h). */
#include "infer_model.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

#include "fuzz.h"

int fuzz_infer_finite_floats;

enum { BATCH, W };
enum { BATCH_MAX = 1 << 20, W_MAX = 8 };

static const KilnSymbol syms[] = {{"batch", 1, BATCH_MAX}, {"w", 1, W_MAX}};

static const int64_t shape_x[] = {-1, -1}, min_x[] = {1, 1}, max_x[] = {BATCH_MAX, W_MAX};
static const int sym_x[] = {BATCH, W};
static const char *const dims_x[] = {"batch", "w"};
static const int64_t shape_ids[] = {-1, 2, 2}, min_ids[] = {1, 2, 2}, max_ids[] = {BATCH_MAX, 2, 2};
static const int sym_ids[] = {BATCH, -1, -1};
static const char *const dims_ids[] = {"batch", "2", "2"};
static const int64_t shape_rows[] = {-1}, min_rows[] = {1}, max_rows[] = {BATCH_MAX};
static const int sym_rows[] = {BATCH};
static const char *const dims_rows[] = {"batch"};
static const int64_t shape_h[] = {2};
static const int no_sym[] = {-1, -1};
static const char *const dims_h[] = {"2"};
static const int64_t shape_u[] = {1, 2};
static const char *const dims_u[] = {"1", "2"};

static const KilnTensorInfo inputs[] = {
    {"x", KILN_DT_FLOAT, 2, shape_x, min_x, max_x, sym_x, dims_x},
    {"ids", KILN_DT_INT64, 3, shape_ids, min_ids, max_ids, sym_ids, dims_ids},
    {"mask", KILN_DT_BOOL, 1, shape_rows, min_rows, max_rows, sym_rows, dims_rows},
    {"h", KILN_DT_FLOAT16, 1, shape_h, shape_h, shape_h, no_sym, dims_h},
    {"s", KILN_DT_INT8, 0, NULL, NULL, NULL, NULL, NULL},
    {"u", KILN_DT_UINT64, 2, shape_u, shape_u, shape_u, no_sym, dims_u},
};

static const KilnTensorInfo outputs[] = {
    {"y", KILN_DT_FLOAT, 2, shape_x, min_x, max_x, sym_x, dims_x},
    {"n", KILN_DT_INT64, 1, shape_rows, min_rows, max_rows, sym_rows, dims_rows},
    {"m", KILN_DT_BOOL, 1, shape_rows, min_rows, max_rows, sym_rows, dims_rows},
    {"hh", KILN_DT_FLOAT16, 1, shape_h, shape_h, shape_h, no_sym, dims_h},
    {"uu", KILN_DT_UINT64, 2, shape_u, shape_u, shape_u, no_sym, dims_u},
};

/* What the runtime promises before it calls the model (infer.h): every
 * fixed dim as the model has it, every dynamic one within its bounds, one
 * value per symbol. A request that breaks it is a finding. */
static void shapes_promised(const int64_t *const *in) {
    for (size_t i = 0; i < sizeof inputs / sizeof *inputs; i++)
        for (int d = 0; d < inputs[i].rank; d++) {
            const KilnTensorInfo *t = &inputs[i];
            FUZZ_CHECK(in[i][d] >= t->min[d] && in[i][d] <= t->max[d]);
            FUZZ_CHECK(t->shape[d] == -1 || in[i][d] == t->shape[d]);
        }
    FUZZ_CHECK(in[1][0] == in[0][0] && in[2][0] == in[0][0]);
}

static int shapes(const int64_t *const *in, int64_t *const *out, KilnRunError *err) {
    (void)err;
    shapes_promised(in);
    if (out) {
        out[0][0] = out[1][0] = out[2][0] = in[0][0];
        out[0][1] = in[0][1];
        out[3][0] = 2;
        out[4][0] = 1, out[4][1] = 2;
    }
    return 0;
}

static size_t workspace_size(const int64_t *const *in) {
    return (size_t)in[0][0] * sizeof(int64_t);
}

static int run(const void *const *in, const int64_t *const *in_shapes, void *const *out,
               int64_t *const *out_shapes, void *workspace, KilnThreadPool *pool) {
    (void)pool, (void)out_shapes;
    shapes_promised(in_shapes);
    int64_t batch = in_shapes[0][0], w = in_shapes[0][1];
    FUZZ_CHECK((uintptr_t)workspace % 64 == 0);
    const float *x = in[0];
    const int64_t *ids = in[1];
    const uint8_t *mask = in[2];
    const uint16_t *h = in[3];
    const int8_t *s = in[4];
    const uint64_t *u = in[5];
    int64_t *sums = workspace;
    for (int64_t b = 0; b < batch; b++) {
        for (int64_t j = 0; j < w; j++) {
            FUZZ_CHECK(!fuzz_infer_finite_floats || isfinite(x[b * w + j]));
            ((float *)out[0])[b * w + j] = x[b * w + j];
        }
        uint64_t sum = 0; /* unsigned: ids may be anything */
        for (int j = 0; j < 4; j++)
            sum += (uint64_t)ids[b * 4 + j];
        sums[b] = (int64_t)sum;
        FUZZ_CHECK(mask[b] <= 1);
        ((uint8_t *)out[2])[b] = mask[b];
    }
    memcpy(out[1], sums, (size_t)batch * sizeof *sums);
    for (int j = 0; j < 2; j++) {
        FUZZ_CHECK(!fuzz_infer_finite_floats || (h[j] & 0x7c00) != 0x7c00);
        ((uint16_t *)out[3])[j] = h[j];
        ((uint64_t *)out[4])[j] = u[j] + (uint64_t)(int64_t)*s;
    }
    return 0;
}

const KilnModel fuzz_infer_model = {
    .abi_version = KILN_ABI_VERSION,
    .name = "fuzz",
    .version = "1",
    .sha256 = "0000000000000000000000000000000000000000000000000000000000000000",
    .build_info = "{}",
    .n_inputs = sizeof inputs / sizeof *inputs,
    .n_outputs = sizeof outputs / sizeof *outputs,
    .inputs = inputs,
    .outputs = outputs,
    .n_syms = sizeof syms / sizeof *syms,
    .syms = syms,
    .shapes = shapes,
    .workspace_size = workspace_size,
    .run = run,
};

void fuzz_infer_check(int status, const RtInferResult *res, const char *err) {
    FUZZ_CHECK(memchr(err, '\0', RT_ERR_LEN) != NULL);
    if (getenv("KILN_FUZZ_VERBOSE")) fprintf(stderr, "status %d: %s\n", status, err);
    if (status != RT_STATUS_OK) {
        FUZZ_CHECK(status == RT_STATUS_BAD_REQUEST);
        FUZZ_CHECK(res->body == NULL && err[0] != '\0');
        return;
    }
    FUZZ_CHECK(res->body != NULL && res->json_len <= res->len && res->batch >= 1);
    json_error_t jerr;
    /* as reals: UINT64 outputs may be over jansson's INT64 limit */
    json_t *j = json_loadb(res->body, res->json_len, JSON_DECODE_INT_AS_REAL, &jerr);
    FUZZ_CHECK(j != NULL && json_is_array(json_object_get(j, "outputs")));
    size_t binary = 0; /* the bytes the outputs' binary_data_size promise */
    for (size_t i = 0; i < json_array_size(json_object_get(j, "outputs")); i++) {
        json_t *o = json_array_get(json_object_get(j, "outputs"), i);
        json_t *size = json_object_get(json_object_get(o, "parameters"), "binary_data_size");
        if (size) binary += (size_t)json_number_value(size);
    }
    FUZZ_CHECK(res->json_len + binary == res->len);
    json_decref(j);
}
