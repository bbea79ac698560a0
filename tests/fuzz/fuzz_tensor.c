/* fuzz_tensor.c: the tensor files `kiln run --input` reads
 * (frontends/tensor_io.c): bytes that start with numpy's magic are read
 * as a .npy file, any others as a .pb (a serialized ONNX TensorProto).
 *
 * Contract checked: tensor_parse() returns 0 with a tensor whose dims,
 * dtype and byte count agree (every data byte readable, bools 0 or 1;
 * strings an array of pointers to NUL-terminated strings), or -1 after
 * exactly one diagnostic of exit class 1.
 */
#include <string.h>

#include "frontends.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int npy = size >= 6 && memcmp(data, "\x93NUMPY", 6) == 0;
    /* A directory that does not exist: no .pb reaches the file system for external data. */
    const char *path = npy ? "/nonexistent-kiln-fuzz/t.npy" : "/nonexistent-kiln-fuzz/t.pb";
    Diag d;
    diag_init(&d, fuzz_diag_sink());
    Arena *a = arena_create(1 << 16);
    HostTensor t;
    memset(&t, 0xa5, sizeof t);
    int rc = tensor_parse(a, path, data, size, &t, &d);
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc == 0) {
        FUZZ_CHECK(diag_count(&d) == 0);
        FUZZ_CHECK(t.rank >= 0 && t.rank <= IR_MAX_RANK && t.data != NULL);
        size_t elem = t.dtype == DT_STRING ? sizeof(char *) : dtype_size(t.dtype), n = 1;
        FUZZ_CHECK(elem > 0);
        for (int i = 0; i < t.rank; i++) {
            FUZZ_CHECK(t.dims[i] >= 0);
            FUZZ_CHECK(!__builtin_mul_overflow(n, (size_t)t.dims[i], &n));
        }
        FUZZ_CHECK(!__builtin_mul_overflow(n, elem, &n) && n == t.nbytes);
        unsigned sum = 0; /* reads every byte: ASan knows how many there are */
        for (size_t i = 0; i < t.nbytes; i++) {
            uint8_t b = ((const uint8_t *)t.data)[i];
            FUZZ_CHECK(t.dtype != DT_BOOL || b <= 1);
            sum += b;
        }
        if (t.dtype == DT_STRING)
            for (size_t i = 0; i < n / elem; i++)
                sum += (unsigned)strlen(((const char *const *)t.data)[i]);
        (void)sum;
        if (npy) FUZZ_CHECK(t.name == NULL);
    } else {
        FUZZ_CHECK(diag_count(&d) == 1 && d.exit_code == EXIT_MODEL);
    }
    arena_destroy(a);
    return 0;
}
