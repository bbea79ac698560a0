/* test_rt_auth.c: the bearer token (auth.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"

static void file_write(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_auth_equal_compares_whole_tokens(void **state) {
    (void)state;
    assert_int_equal(rt_auth_equal("abc", 3, "abc"), 1);
    assert_int_equal(rt_auth_equal("abd", 3, "abc"), 0);
    assert_int_equal(rt_auth_equal("ab", 2, "abc"), 0);
    assert_int_equal(rt_auth_equal("abcd", 4, "abc"), 0);
    assert_int_equal(rt_auth_equal("", 0, "abc"), 0);
    assert_int_equal(rt_auth_equal("abc", 2, "ab"), 1); /* only n bytes are given */
}

static void test_auth_bearer_check_reads_the_authorization_header(void **state) {
    (void)state;
    assert_int_equal(rt_auth_bearer_check("Bearer s3cret", "s3cret"), 1);
    assert_int_equal(rt_auth_bearer_check("bearer s3cret ", "s3cret"), 1);
    assert_int_equal(rt_auth_bearer_check("Bearer s3cre", "s3cret"), 0);
    assert_int_equal(rt_auth_bearer_check("Basic s3cret", "s3cret"), 0);
    assert_int_equal(rt_auth_bearer_check("s3cret", "s3cret"), 0);
    assert_int_equal(rt_auth_bearer_check(NULL, "s3cret"), 0);
}

static void test_auth_token_load_trims_and_refuses_empty_or_missing_files(void **state) {
    (void)state;
    char path[] = "/tmp/kiln-test-token-XXXXXX", token[RT_TOKEN_MAX], err[RT_ERR_LEN];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    file_write(path, "  tok-123\n\n");
    assert_int_equal(rt_auth_token_load(path, token, err), 0);
    assert_string_equal(token, "tok-123");
    file_write(path, " \n\t");
    assert_int_equal(rt_auth_token_load(path, token, err), -2);
    assert_non_null(strstr(err, "empty"));
    unlink(path);
    assert_int_equal(rt_auth_token_load(path, token, err), -1);
    assert_non_null(strstr(err, "cannot read"));
}

static void test_auth_token_load_refuses_a_file_over_the_limit(void **state) {
    (void)state;
    char path[] = "/tmp/kiln-test-token-XXXXXX", token[RT_TOKEN_MAX], err[RT_ERR_LEN];
    static char text[RT_TOKEN_MAX + 200];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    /* Leading blanks made the old reader keep a cut token: the read
     * stopped at RT_TOKEN_MAX + 1 bytes, inside the token. */
    memset(text, ' ', 100);
    memset(text + 100, 'A', RT_TOKEN_MAX + 50);
    file_write(path, text);
    assert_int_equal(rt_auth_token_load(path, token, err), -2);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "4095"));
    assert_string_equal(token, "");
    memset(text, 'A', RT_TOKEN_MAX);
    text[RT_TOKEN_MAX] = '\0'; /* 4096 bytes of token: one too many */
    file_write(path, text);
    assert_int_equal(rt_auth_token_load(path, token, err), -2);
    text[RT_TOKEN_MAX - 1] = '\n'; /* 4095 bytes and a newline: the longest token */
    file_write(path, text);
    assert_int_equal(rt_auth_token_load(path, token, err), 0);
    assert_int_equal(strlen(token), RT_TOKEN_MAX - 1);
    unlink(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth_equal_compares_whole_tokens),
        cmocka_unit_test(test_auth_bearer_check_reads_the_authorization_header),
        cmocka_unit_test(test_auth_token_load_trims_and_refuses_empty_or_missing_files),
        cmocka_unit_test(test_auth_token_load_refuses_a_file_over_the_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
