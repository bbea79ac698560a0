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
    char *text = NULL;
    size_t len = 0;
    int st = rt_infer_json(&fuzz_infer_model, (const char *)data, size, &text, &len, err);
    FUZZ_CHECK(st != RT_STATUS_OK || (text && text[len] == '\0')); /* NUL-terminated */
    RtInferResult res = {.body = text, .len = len, .json_len = len, .batch = 1};
    fuzz_infer_check(st, &res, err);
    free(text);
    return 0;
}
