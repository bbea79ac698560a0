/* test_pool_kernels.c: the global pooling kernel (runtime/kernels/nn.c),
 * whose average sums a plane in interleaved lanes, against a sum in
 * double precision, and its maximum against a plain loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kiln_kernel_abi.h"
#include "nn.h"

static float frand(uint32_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return (float)(*s % 2001) / 1000.0f - 1.0f;
}

/* Plane sizes around the lane count (16), the nets' 7x7, 8x8 and 13x13,
 * and one element. Tolerance: float rounding of a sum of S terms of
 * magnitude <= 1 (an offset of 3 keeps the mean away from 0). */
static void test_global_average_matches_a_double_sum(void **state) {
    (void)state;
    const int64_t sizes[] = {1, 2, 15, 16, 17, 31, 32, 33, 49, 64, 169, 1000};
    uint32_t seed = 7;
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        int64_t S = sizes[k], NC = 5;
        float *x = malloc((size_t)(NC * S) * sizeof(float)), y[5];
        for (int64_t i = 0; i < NC * S; i++)
            x[i] = 3.0f + frand(&seed);
        kiln_global_pool_f32(KILN_GLOBAL_AVG, NC, S, x, y);
        for (int64_t c = 0; c < NC; c++) {
            double sum = 0;
            for (int64_t j = 0; j < S; j++)
                sum += x[c * S + j];
            double want = sum / (double)S;
            assert_true(fabs(y[c] - want) <= 1e-6 * 4.0 * (double)(S < 16 ? S : 16) + 1e-6);
        }
        free(x);
    }
}

static void test_global_max_is_the_largest_element(void **state) {
    (void)state;
    uint32_t seed = 3;
    for (int64_t S = 1; S <= 40; S++) {
        float *x = malloc((size_t)(2 * S) * sizeof(float)), y[2];
        for (int64_t i = 0; i < 2 * S; i++)
            x[i] = frand(&seed);
        kiln_global_pool_f32(KILN_GLOBAL_MAX, 2, S, x, y);
        for (int c = 0; c < 2; c++) {
            float m = x[c * S];
            for (int64_t j = 1; j < S; j++)
                m = x[c * S + j] > m ? x[c * S + j] : m;
            assert_true(y[c] == m);
        }
        free(x);
    }
}

/* A constant plane averages to exactly that constant at any size
 * (every partial sum is an exact multiple of a power of two). */
static void test_global_average_of_a_constant_is_exact(void **state) {
    (void)state;
    for (int64_t S = 1; S <= 300; S += 7) {
        float *x = malloc((size_t)S * sizeof(float)), y;
        for (int64_t i = 0; i < S; i++)
            x[i] = 0.5f;
        kiln_global_pool_f32(KILN_GLOBAL_AVG, 1, S, x, &y);
        assert_true(y == 0.5f);
        free(x);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_global_average_matches_a_double_sum),
        cmocka_unit_test(test_global_max_is_the_largest_element),
        cmocka_unit_test(test_global_average_of_a_constant_is_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
