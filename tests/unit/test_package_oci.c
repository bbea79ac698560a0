/* Tests of compiler/package/oci.c and hash.c: which names, tags and targets
 * make an image, the architecture and Docker tag an image gets, and equal
 * inputs giving equal bytes. The end-to-end side (skopeo, umoci, running
 * the binary) is tests/e2e/test_oci.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "package.h"

static const char SHA[] = "047f2adf6d4ddeb260f850026f335855dcc48ce608fe42ad35549ef61dd3f194";

static int check(const char *name, const char *version, const char *triple) {
    Diag d;
    FILE *sink = fopen("/dev/null", "w");
    diag_init(&d, sink);
    int rc = pkg_oci_check(name, version, triple, &d);
    assert_int_equal(d.exit_code, rc ? EXIT_USAGE : EXIT_OK);
    fclose(sink);
    return rc;
}

/* The image tarball of a small fake binary, as bytes (malloc'd). */
static char *image(const char *name, const char *triple, size_t *len) {
    static const char binary[] = "\x7f"
                                 "ELF fake service";
    PkgOciImage img = {name, "1", SHA, triple, 1700000000, binary, sizeof binary};
    FILE *f = tmpfile();
    assert_non_null(f);
    Diag d;
    diag_init(&d, stderr);
    assert_int_equal(pkg_oci_write(&img, fileno(f), "image.tar", &d), 0);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return b;
}

static int contains(const char *b, size_t len, const char *s) {
    size_t n = strlen(s);
    for (size_t i = 0; i + n <= len; i++)
        if (!memcmp(b + i, s, n)) return 1;
    return 0;
}

static void test_oci_check_takes_linux_x86_64_and_aarch64_only(void **state) {
    (void)state;
    assert_int_equal(check("fraud", "1", "x86_64-pc-linux-gnu"), 0);
    assert_int_equal(check("fraud", "1", "x86_64-unknown-linux-musl"), 0);
    assert_int_equal(check("fraud", "1", "aarch64-unknown-linux-gnu"), 0);
    assert_int_equal(check("fraud", "1", "riscv64-unknown-linux-gnu"), -1);
    assert_int_equal(check("fraud", "1", "x86_64-apple-darwin"), -1);
    assert_int_equal(check("fraud", "1", "x86_64"), -1);
}

static void test_oci_check_refuses_versions_that_are_not_image_tags(void **state) {
    (void)state;
    char long_tag[130];
    memset(long_tag, 'a', 129);
    long_tag[129] = 0;
    assert_int_equal(check("fraud", "1.2.3-rc_1", "x86_64-pc-linux-gnu"), 0);
    assert_int_equal(check("fraud", "", "x86_64-pc-linux-gnu"), -1);
    assert_int_equal(check("fraud", "1 beta", "x86_64-pc-linux-gnu"), -1);
    assert_int_equal(check("fraud", ".1", "x86_64-pc-linux-gnu"), -1);
    assert_int_equal(check("fraud", "-1", "x86_64-pc-linux-gnu"), -1);
    assert_int_equal(check("fraud", "1/2", "x86_64-pc-linux-gnu"), -1);
    assert_int_equal(check("fraud", long_tag, "x86_64-pc-linux-gnu"), -1);
    long_tag[128] = 0;
    assert_int_equal(check("fraud", long_tag, "x86_64-pc-linux-gnu"), 0);
    assert_int_equal(check("..", "1", "x86_64-pc-linux-gnu"), -1);
    assert_int_equal(check(".", "1", "x86_64-pc-linux-gnu"), -1);
}

static void test_oci_image_architecture_follows_the_triple(void **state) {
    (void)state;
    size_t n;
    char *b = image("fraud", "aarch64-unknown-linux-gnu", &n);
    assert_true(contains(b, n, "\"architecture\":\"arm64\""));
    assert_true(contains(b, n, "\"variant\":\"v8\""));
    free(b);
    b = image("fraud", "x86_64-pc-linux-gnu", &n);
    assert_true(contains(b, n, "\"architecture\":\"amd64\""));
    assert_false(contains(b, n, "\"variant\""));
    assert_true(contains(b, n, "\"RepoTags\":[\"fraud:1\"]"));
    assert_true(contains(b, n, "\"org.opencontainers.image.ref.name\":\"1\""));
    assert_true(contains(b, n, "\"User\":\"65532:65532\""));
    assert_true(contains(b, n, "\"Entrypoint\":[\"/bin/fraud\",\"serve\"]"));
    assert_true(contains(b, n, "\"created\":\"2023-11-14T22:13:20Z\""));
    free(b);
}

static void test_oci_docker_tag_is_a_lowercase_repository_name(void **state) {
    (void)state;
    static const struct {
        const char *name, *tag;
    } cases[] = {
        {"Fraud_Detect..X", "\"RepoTags\":[\"fraud_detect-x:1\"]"},
        {"a__b--c.d", "\"RepoTags\":[\"a__b--c.d:1\"]"},
        {"-_.x_", "\"RepoTags\":[\"x:1\"]"},
        {"___", "\"RepoTags\":[\"model:1\"]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t n;
        char *b = image(cases[i].name, "x86_64-pc-linux-gnu", &n);
        assert_true(contains(b, n, cases[i].tag));
        free(b);
    }
}

static void test_oci_image_bytes_are_a_function_of_the_inputs(void **state) {
    (void)state;
    size_t n1, n2;
    char *a = image("fraud", "x86_64-pc-linux-gnu", &n1);
    char *b = image("fraud", "x86_64-pc-linux-gnu", &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, n1);
    free(a);
    free(b);
}

static void test_pkg_sha256_hex_matches_fips(void **state) {
    (void)state;
    char hex[65];
    pkg_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    pkg_sha256_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oci_check_takes_linux_x86_64_and_aarch64_only),
        cmocka_unit_test(test_oci_check_refuses_versions_that_are_not_image_tags),
        cmocka_unit_test(test_oci_image_architecture_follows_the_triple),
        cmocka_unit_test(test_oci_docker_tag_is_a_lowercase_repository_name),
        cmocka_unit_test(test_oci_image_bytes_are_a_function_of_the_inputs),
        cmocka_unit_test(test_pkg_sha256_hex_matches_fips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
