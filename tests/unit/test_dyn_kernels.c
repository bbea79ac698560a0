/* test_dyn_kernels.c: the kernels of the data-dependent ops (runtime/
 * kernels/dyn.c), natively compiled, against hand-worked cases: the size
 * each writes into its count and the outputs dense at that size. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dyn.h"

static void test_nonzero_writes_the_count_then_one_row_per_dim(void **state) {
    (void)state;
    float x[6] = {0, 1.5f, 0, -2, 0, 3}; /* [2, 3] */
    int64_t dims[2] = {2, 3}, out[12], n = -1;
    kiln_nonzero_f32(6, 2, dims, x, out, &n);
    assert_int_equal(n, 3);
    int64_t want[6] = {0, 1, 1, 1, 0, 2}; /* rows [0 1 1], cols [1 0 2] */
    assert_memory_equal(out, want, sizeof want);
    uint8_t none[4] = {0};
    kiln_nonzero_bool(4, 1, (int64_t[]){4}, none, out, &n);
    assert_int_equal(n, 0);
}

static void test_compress_keeps_the_slices_the_condition_selects(void **state) {
    (void)state;
    int32_t x[6] = {1, 2, 3, 4, 5, 6}; /* [2, 3], along axis 1 */
    uint8_t cond[2] = {0, 1};          /* shorter than the axis: the rest is dropped */
    int32_t out[6] = {0};
    int64_t n = -1;
    kiln_compress(2, 3, 1, 4, cond, 2, (const uint8_t *)x, (uint8_t *)out, &n);
    assert_int_equal(n, 1);
    assert_int_equal(out[0], 2);
    assert_int_equal(out[1], 5);
}

static void test_unique_sorted_and_by_first_occurrence(void **state) {
    (void)state;
    float x[6] = {2, 1, 1, 3, 4, 3};
    float y[6];
    int64_t first[6], inv[6], cnt[6], scratch[7 * 6], n = -1;
    kiln_unique_f32(1, 1, 6, 1, x, y, first, inv, cnt, scratch, &n);
    assert_int_equal(n, 4);
    float ys[4] = {1, 2, 3, 4};
    int64_t fs[4] = {1, 0, 3, 4}, is[6] = {1, 0, 0, 2, 3, 2}, cs[4] = {2, 1, 2, 1};
    assert_memory_equal(y, ys, sizeof ys);
    assert_memory_equal(first, fs, sizeof fs);
    assert_memory_equal(inv, is, sizeof is);
    assert_memory_equal(cnt, cs, sizeof cs);
    kiln_unique_f32(0, 1, 6, 1, x, y, first, inv, NULL, scratch, &n);
    float yu[4] = {2, 1, 3, 4};
    int64_t fu[4] = {0, 1, 3, 4}, iu[6] = {0, 1, 1, 2, 3, 2};
    assert_int_equal(n, 4);
    assert_memory_equal(y, yu, sizeof yu);
    assert_memory_equal(first, fu, sizeof fu);
    assert_memory_equal(inv, iu, sizeof iu);
}

static void test_unique_along_an_axis_compares_whole_slices(void **state) {
    (void)state;
    /* [2, 3] along axis 1: columns (1,4) (0,5) (1,4) */
    int64_t x[6] = {1, 0, 1, 4, 5, 4}, y[6], first[3], inv[3], cnt[3], scratch[21], n = -1;
    kiln_unique_i64(1, 2, 3, 1, x, y, first, inv, cnt, scratch, &n);
    assert_int_equal(n, 2);
    int64_t ys[4] = {0, 1, 5, 4}, fs[2] = {1, 0}, is[3] = {1, 0, 1}, cs[2] = {1, 2};
    assert_memory_equal(y, ys, sizeof ys);
    assert_memory_equal(first, fs, sizeof fs);
    assert_memory_equal(inv, is, sizeof is);
    assert_memory_equal(cnt, cs, sizeof cs);
}

static void test_nms_keeps_by_score_and_suppresses_by_iou(void **state) {
    (void)state;
    /* One batch, one class: boxes 0 and 1 overlap (IoU 0.81), box 2 apart. */
    float boxes[12] = {0, 0, 10, 10, 0, 1, 10, 11, 20, 20, 30, 30};
    float scores[3] = {0.9f, 0.95f, 0.3f};
    int64_t max_out = 3, scratch[9], out[9], n = -1;
    float iou = 0.5f, thr = 0.0f;
    kiln_nms(0, 1, 1, 3, boxes, scores, &max_out, &iou, &thr, scratch, out, &n);
    assert_int_equal(n, 2);
    int64_t want[6] = {0, 0, 1, 0, 0, 2};
    assert_memory_equal(out, want, sizeof want);
    /* the score threshold drops box 2; max_out 0 keeps none; no inputs: none */
    thr = 0.5f;
    kiln_nms(0, 1, 1, 3, boxes, scores, &max_out, &iou, &thr, scratch, out, &n);
    assert_int_equal(n, 1);
    max_out = 0;
    kiln_nms(0, 1, 1, 3, boxes, scores, &max_out, &iou, &thr, scratch, out, &n);
    assert_int_equal(n, 0);
    kiln_nms(0, 1, 1, 3, boxes, scores, NULL, NULL, NULL, scratch, out, &n);
    assert_int_equal(n, 0);
    /* centre format: the same boxes as (xc, yc, w, h) give the same answer */
    float centre[12] = {5, 5, 10, 10, 6, 5, 10, 10, 25, 25, 10, 10};
    max_out = 3, thr = 0.0f;
    kiln_nms(1, 1, 1, 3, centre, scores, &max_out, &iou, &thr, scratch, out, &n);
    assert_int_equal(n, 2);
    assert_memory_equal(out, want, sizeof want);
}

static void test_count_check_takes_zero_to_max_and_refuses_the_rest(void **state) {
    (void)state;
    KilnRunError e = {0};
    int64_t count = -1;
    assert_int_equal(kiln_count_check((int64_t[]){0}, 5, &count, &e), 0);
    assert_int_equal(count, 0);
    assert_int_equal(kiln_count_check((int64_t[]){5}, 5, &count, &e), 0);
    assert_int_equal(count, 5);
    assert_int_equal(kiln_count_check((int64_t[]){6}, 5, &count, &e), 1);
    assert_int_equal(e.kind, KILN_CHECK_COUNT);
    assert_int_equal(e.value, 6);
    assert_int_equal(e.size, 5);
    assert_int_equal(count, 5);
    assert_int_equal(kiln_count_check((int64_t[]){-1}, 5, &count, &e), 1);
}

static void test_string_normalizer_drops_stopwords_then_changes_case(void **state) {
    (void)state;
    const char *x[4] = {"The", "Cat", "the", "ON"}, *stop[2] = {"the", "on"}, *y[4];
    char bytes[4 * 8];
    KilnRunError e = {0};
    int64_t count = -1;
    /* Case-insensitive stopwords, then upper case into the bytes. */
    assert_int_equal(kiln_string_normalizer(4, x, stop, 2, 0, 2, 8, bytes, y, &count, &e), 0);
    assert_int_equal(count, 1);
    assert_string_equal(y[0], "CAT");
    assert_ptr_equal(y[0], bytes + 1 * 8);
    /* Case-sensitive: "The" and "ON" stay; no case change points into x. */
    assert_int_equal(kiln_string_normalizer(4, x, stop, 2, 1, 0, 8, NULL, y, &count, &e), 0);
    assert_int_equal(count, 3);
    assert_ptr_equal(y[0], x[0]);
    assert_ptr_equal(y[1], x[1]);
    assert_ptr_equal(y[2], x[3]);
    /* Only stopwords: one empty string. */
    assert_int_equal(kiln_string_normalizer(1, x + 2, stop, 2, 0, 1, 8, bytes, y, &count, &e), 0);
    assert_int_equal(count, 1);
    assert_string_equal(y[0], "");
    /* A string of cap bytes or more fails the length check, naming it. */
    const char *l[2] = {"abc", "abcdefgh"};
    assert_int_equal(kiln_string_normalizer(2, l, NULL, 0, 0, 1, 8, bytes, y, &count, &e), 1);
    assert_int_equal(e.kind, KILN_CHECK_LENGTH);
    assert_int_equal(e.position, 1);
    assert_int_equal(e.value, 8);
    assert_int_equal(e.size, 7);
    l[1] = "abcdefg"; /* 7 bytes and the NUL fit */
    assert_int_equal(kiln_string_normalizer(2, l, NULL, 0, 0, 2, 8, bytes, y, &count, &e), 0);
    assert_string_equal(y[1], "ABCDEFG");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nonzero_writes_the_count_then_one_row_per_dim),
        cmocka_unit_test(test_compress_keeps_the_slices_the_condition_selects),
        cmocka_unit_test(test_unique_sorted_and_by_first_occurrence),
        cmocka_unit_test(test_unique_along_an_axis_compares_whole_slices),
        cmocka_unit_test(test_nms_keeps_by_score_and_suppresses_by_iou),
        cmocka_unit_test(test_count_check_takes_zero_to_max_and_refuses_the_rest),
        cmocka_unit_test(test_string_normalizer_drops_stopwords_then_changes_case),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
