/* Tests of the release archive (compiler/package/archive.c, manifest.c,
 * verify.c) on a fake binary: the manifest and SBOM say what the release
 * is, the archive's bytes depend on nothing else, and verify passes it
 * and catches a change. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "package.h"

#define MODEL_SHA "047f2adf6d4ddeb260f850026f335855dcc48ce608fe42ad35549ef61dd3f194"

static const int64_t in_dims[] = {-1, 30}, out_dims[] = {-1, 2};
static const PkgTensor ins[] = {{"transaction", "float", 2, in_dims}};
static const PkgTensor outs[] = {{"probabilities", "float", 2, out_dims}};
static const PkgOpset opsets[] = {{"", 13}, {"ai.onnx.ml", 3}};
static const char *const command[] = {"kiln", "compile", "fraud.onnx", "--emit", "archive"};
static const char *const cpus[] = {"x86-64-v2", "x86-64-v3"};
/* A "binary" that embeds the model digest, as KilnModel.sha256 does. */
static char binary[] = "\x7f"
                       "ELF fake service binary; model " MODEL_SHA " end";

static PkgRelease release(void) {
    PkgRelease r = {.name = "fraud",
                    .version = "1.2",
                    .model_file = "fraud.onnx",
                    .model_sha256 = MODEL_SHA,
                    .model_size = 17812,
                    .inputs = ins,
                    .outputs = outs,
                    .n_inputs = 1,
                    .n_outputs = 1,
                    .opsets = opsets,
                    .n_opsets = 2,
                    .command = command,
                    .n_command = 5,
                    .triple = "x86_64-pc-linux-gnu",
                    .cpus = cpus,
                    .n_cpus = 2,
                    .binary = binary,
                    .binary_len = sizeof binary,
                    .epoch = 1700000000};
    return r;
}

static json_t *parse(char *text) {
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    if (!j) fail_msg("not JSON (line %d: %s):\n%s", err.line, err.text, text);
    assert_int_equal(text[strlen(text) - 1], '\n');
    free(text);
    return j;
}

static void test_manifest_names_the_model_its_signature_opsets_target_and_time(void **state) {
    (void)state;
    PkgRelease r = release();
    json_t *m = parse(pkg_manifest_json(&r));
    assert_string_equal(json_string_value(json_object_get(m, "name")), "fraud");
    assert_string_equal(json_string_value(json_object_get(m, "version")), "1.2");
    json_t *model = json_object_get(m, "model");
    assert_string_equal(json_string_value(json_object_get(model, "sha256")), MODEL_SHA);
    assert_int_equal(json_integer_value(json_object_get(model, "size")), 17812);
    json_t *in = json_array_get(json_object_get(m, "inputs"), 0);
    assert_string_equal(json_string_value(json_object_get(in, "name")), "transaction");
    assert_int_equal(json_integer_value(json_array_get(json_object_get(in, "shape"), 0)), -1);
    json_t *ops = json_object_get(m, "opsets");
    assert_int_equal(json_integer_value(json_object_get(ops, "ai.onnx")), 13);
    assert_int_equal(json_integer_value(json_object_get(ops, "ai.onnx.ml")), 3);
    assert_int_equal(json_array_size(json_object_get(json_object_get(m, "target"), "cpus")), 2);
    json_t *build = json_object_get(m, "build");
    assert_string_equal(json_string_value(json_object_get(build, "time")), "2023-11-14T22:13:20Z");
    assert_int_equal(json_integer_value(json_object_get(build, "source_date_epoch")), 1700000000);
    json_decref(m);
}

static void test_sbom_serial_number_follows_the_binary(void **state) {
    (void)state;
    PkgRelease r = release();
    json_t *a = parse(pkg_sbom_json(&r)), *b = parse(pkg_sbom_json(&r));
    const char *sa = json_string_value(json_object_get(a, "serialNumber"));
    assert_string_equal(sa, json_string_value(json_object_get(b, "serialNumber")));
    assert_int_equal(strlen(sa), 45); /* urn:uuid: + 36 */
    assert_int_equal(sa[23], '5');    /* version 5 */
    binary[1] ^= 1;
    json_t *c = parse(pkg_sbom_json(&r));
    binary[1] ^= 1;
    assert_string_not_equal(sa, json_string_value(json_object_get(c, "serialNumber")));
    assert_string_equal(json_string_value(json_object_get(a, "specVersion")), "1.5");
    json_t *model = json_array_get(json_object_get(a, "components"), 0);
    assert_string_equal(json_string_value(json_object_get(model, "type")),
                        "machine-learning-model");
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

/* The archive of r, written to a temporary file whose path goes in path. */
static void archive_to(const PkgRelease *r, char path[64]) {
    strcpy(path, "/tmp/kiln-test-release-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    Diag d;
    diag_init(&d, stderr);
    assert_int_equal(pkg_archive_write(r, fd, path, &d), 0);
    close(fd);
}

static unsigned char *slurp(const char *path, long *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = ftell(f);
    rewind(f);
    unsigned char *b = malloc((size_t)*n);
    assert_int_equal(fread(b, 1, (size_t)*n, f), (size_t)*n);
    fclose(f);
    return b;
}

static void test_archive_is_reproducible_and_verifies(void **state) {
    (void)state;
    PkgRelease r = release();
    char p1[64], p2[64];
    archive_to(&r, p1);
    archive_to(&r, p2);
    long n1, n2;
    unsigned char *b1 = slurp(p1, &n1), *b2 = slurp(p2, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(b1, b2, (size_t)n1);
    Diag d;
    diag_init(&d, stderr);
    FILE *out = tmpfile();
    assert_int_equal(pkg_archive_verify(p1, out, &d), 0);
    rewind(out);
    char line[256] = "";
    assert_non_null(fgets(line, sizeof line, out));
    assert_non_null(strstr(line, "verified 6 files"));
    fclose(out);
    free(b1);
    free(b2);
    unlink(p1);
    unlink(p2);
}

static void test_verify_refuses_a_binary_without_the_manifests_model(void **state) {
    (void)state;
    PkgRelease r = release();
    r.model_sha256 = "1111111111111111111111111111111111111111111111111111111111111111";
    char p[64];
    archive_to(&r, p);
    Diag d;
    diag_init(&d, fopen("/dev/null", "w"));
    assert_int_equal(pkg_archive_verify(p, stdout, &d), -1);
    assert_int_equal(d.exit_code, EXIT_MODEL);
    fclose(d.out);
    unlink(p);
}

static void test_yaml_quotes_the_version(void **state) {
    (void)state;
    PkgRelease r = release();
    r.version = "1\"; rm";
    char *k = pkg_kubernetes_yaml(&r), *s = pkg_kserve_yaml(&r);
    assert_non_null(strstr(k, "image: \"fraud:1\\\"; rm\""));
    assert_non_null(strstr(s, "runAsUser: 65532"));
    assert_non_null(strstr(k, "path: /v2/health/ready"));
    free(k);
    free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_manifest_names_the_model_its_signature_opsets_target_and_time),
        cmocka_unit_test(test_sbom_serial_number_follows_the_binary),
        cmocka_unit_test(test_archive_is_reproducible_and_verifies),
        cmocka_unit_test(test_verify_refuses_a_binary_without_the_manifests_model),
        cmocka_unit_test(test_yaml_quotes_the_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
