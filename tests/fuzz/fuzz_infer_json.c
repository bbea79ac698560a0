/* fuzz_infer_json.c: a v2 inference request in JSON through
 * rt_infer_json(), the path `OUT predict` and POST /v2/.../infer share,
 * on the model of infer_model.h. */
#include <jansson.h>

#include "fuzz.h"
#include "infer_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int seeded;
    if (!seeded) { /* as the server does: the same hash order on every run */
        json_object_seed(1);
        seeded = 1;
    }
    fuzz_infer_finite_floats = 1;
    char err[RT_ERR_LEN];
    RtInferResult res;
    int st = rt_infer_run(&fuzz_infer_model, (const char *)data, size, size, 0, &res, err);
    fuzz_infer_check(st, &res, err);
    free(res.body);
    return 0;
}
