/* test_rt_buf.c: the JSON text buffer (escaping and number formatting). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

static char *take(RtBuf *b) {
    char *s = rt_buf_take(b, NULL);
    assert_non_null(s);
    return s;
}

static void test_buf_take_returns_an_empty_string_for_an_empty_buffer(void **state) {
    (void)state;
    RtBuf b;
    rt_buf_init(&b);
    size_t len = 99;
    char *s = rt_buf_take(&b, &len);
    assert_string_equal(s, "");
    assert_int_equal(len, 0);
    free(s);
}

static void test_buf_grows_past_its_first_allocation(void **state) {
    (void)state;
    RtBuf b;
    rt_buf_init(&b);
    for (int i = 0; i < 10000; i++)
        rt_buf_printf(&b, "%04d", i % 10000);
    assert_int_equal(b.len, 40000);
    char *s = take(&b);
    assert_memory_equal(s + 39996, "9999", 4);
    free(s);
}

static void test_buf_escapes_json_strings(void **state) {
    (void)state;
    RtBuf b;
    rt_buf_init(&b);
    rt_buf_put_json_string(&b, "a\"b\\c\n\t\x01\x1f \xc3\xa9");
    char *s = take(&b);
    assert_string_equal(s, "\"a\\\"b\\\\c\\n\\t\\u0001\\u001f \xc3\xa9\"");
    free(s);
}

static void test_buf_writes_integers_exactly(void **state) {
    (void)state;
    RtBuf b;
    rt_buf_init(&b);
    rt_buf_put_i64(&b, INT64_MIN);
    rt_buf_putc(&b, ' ');
    rt_buf_put_i64(&b, INT64_MAX);
    rt_buf_putc(&b, ' ');
    rt_buf_put_i64(&b, 0);
    rt_buf_putc(&b, ' ');
    rt_buf_put_u64(&b, UINT64_MAX);
    char *s = take(&b);
    assert_string_equal(s, "-9223372036854775808 9223372036854775807 0 18446744073709551615");
    free(s);
}

static void test_buf_writes_floats_that_read_back_exactly(void **state) {
    (void)state;
    const float values[] = {0.1f, 1.0f / 3, FLT_MAX, FLT_MIN, 1e-45f, -0.0f, 16777216.0f};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        RtBuf b;
        rt_buf_init(&b);
        assert_int_equal(rt_buf_put_float(&b, values[i], 9), 0);
        char *s = take(&b);
        assert_true(strtof(s, NULL) == values[i]);
        free(s);
    }
    RtBuf b;
    rt_buf_init(&b);
    rt_buf_put_float(&b, 0.1, 17);
    char *s = take(&b);
    assert_true(strtod(s, NULL) == 0.1);
    free(s);
}

static void test_buf_writes_non_finite_floats_as_null(void **state) {
    (void)state;
    RtBuf b;
    rt_buf_init(&b);
    assert_int_equal(rt_buf_put_float(&b, NAN, 9), 1);
    rt_buf_putc(&b, ',');
    assert_int_equal(rt_buf_put_float(&b, -INFINITY, 9), 1);
    char *s = take(&b);
    assert_string_equal(s, "null,null");
    free(s);
}

static void test_buf_json_strings_are_valid_utf8_whatever_the_bytes(void **state) {
    (void)state;
    RtBuf b;
    rt_buf_init(&b);
    /* a lone continuation byte, a cut 2-byte sequence, an overlong '/',
     * a UTF-16 surrogate, past U+10FFFF, DEL and ESC; then valid 2, 3 and
     * 4 byte sequences, copied as they are */
    rt_buf_put_json_string(&b, "\x80|\xc3|\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80|\x7f\x1b|"
                               "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    char *s = take(&b);
    assert_string_equal(s, "\"\\ufffd|\\ufffd|\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd|"
                           "\\ufffd\\ufffd\\ufffd\\ufffd|\\u007f\\u001b|"
                           "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    free(s);
    rt_buf_init(&b);
    rt_buf_put_json_string(&b, "\xe2\x82"); /* cut short by the end of the string */
    s = take(&b);
    assert_string_equal(s, "\"\\ufffd\\ufffd\"");
    free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_take_returns_an_empty_string_for_an_empty_buffer),
        cmocka_unit_test(test_buf_grows_past_its_first_allocation),
        cmocka_unit_test(test_buf_escapes_json_strings),
        cmocka_unit_test(test_buf_json_strings_are_valid_utf8_whatever_the_bytes),
        cmocka_unit_test(test_buf_writes_integers_exactly),
        cmocka_unit_test(test_buf_writes_floats_that_read_back_exactly),
        cmocka_unit_test(test_buf_writes_non_finite_floats_as_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
