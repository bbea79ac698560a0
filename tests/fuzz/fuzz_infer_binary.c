/* fuzz_infer_binary.c: a request with the binary tensor extension through
 * rt_infer_run(), on the model of infer_model.h, binary outputs allowed.
 *
 * The input is the JSON header, a NUL byte, then the binary tail (no NUL:
 * all JSON), so that mutations keep the two parts apart. The harness
 * passes header and tail as one exact-size buffer with header_len where
 * the NUL was, as the HTTP server does with Inference-Header-Content-Length.
 */
#include <jansson.h>
#include <string.h>

#include "fuzz.h"
#include "infer_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int seeded;
    if (!seeded) {
        json_object_seed(1);
        seeded = 1;
    }
    const uint8_t *nul = memchr(data, '\0', size);
    size_t header_len = nul ? (size_t)(nul - data) : size;
    size_t len = nul ? size - 1 : size;
    char *body = malloc(len ? len : 1);
    FUZZ_CHECK(body != NULL);
    memcpy(body, data, header_len);
    if (nul) memcpy(body + header_len, nul + 1, size - header_len - 1);
    fuzz_infer_finite_floats = 0; /* binary inputs may carry NaN and infinity */
    char err[RT_ERR_LEN];
    RtInferResult res;
    int st = rt_infer_run(&fuzz_infer_model, body, len, header_len, 1, &res, err);
    fuzz_infer_check(st, &res, err);
    free(res.body);
    free(body);
    return 0;
}
