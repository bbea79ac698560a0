/* test_rt_cli.c: the service binary's command line (rt_cli_main) on the
 * fake model, with temporary files for the request, stdout and stderr. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "fake_model.h"
#include "kiln_model.h"

typedef struct Run {
    int rc;
    char out[16384]; /* what the command wrote to stdout */
    char err[16384]; /* and to stderr */
} Run;

static void file_read_all(FILE *f, char *buf, size_t n) {
    rewind(f);
    size_t len = fread(buf, 1, n - 1, f);
    buf[len] = '\0';
    fclose(f);
}

static const KilnModel *cli_model = &kiln_model; /* the model CLI_RUN runs */

static void cli_run_argv(Run *r, int argc, const char **argv) {
    FILE *out = tmpfile(), *err = tmpfile();
    assert_non_null(out);
    assert_non_null(err);
    r->rc = rt_cli_main(cli_model, argc, (char **)argv, out, err);
    file_read_all(out, r->out, sizeof r->out);
    file_read_all(err, r->err, sizeof r->err);
}

#define CLI_RUN(r, ...)                                                                            \
    do {                                                                                           \
        const char *argv_[] = {"/opt/bin/fakesvc", __VA_ARGS__};                                   \
        cli_run_argv((r), (int)(sizeof argv_ / sizeof argv_[0]), argv_);                           \
    } while (0)

/* Writes text to a new temporary file; its path goes into path[64]. */
static void request_file(char path[64], const char *text) {
    strcpy(path, "/tmp/test_rt_cli_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static const char good_request[] =
    "{\"id\":\"r1\",\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP32\","
    "\"data\":[1,2,3]},{\"name\":\"scale\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[0.5]}]}";

static void test_cli_predict_prints_the_response_and_exits_0(void **state) {
    (void)state;
    char path[64];
    Run r;
    request_file(path, good_request);
    CLI_RUN(&r, "predict", "--input", path);
    unlink(path);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.err, "");
    assert_string_equal(r.out, "{\"model_name\":\"fake\",\"model_version\":\"3\",\"id\":\"r1\","
                               "\"outputs\":[{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[1,3],"
                               "\"data\":[1.5,2,2.5]},{\"name\":\"rowsum\",\"datatype\":\"FP32\","
                               "\"shape\":[1,1],\"data\":[6]},{\"name\":\"argmax\",\"datatype\":"
                               "\"INT64\",\"shape\":[1],\"data\":[2]},{\"name\":\"pairs\","
                               "\"datatype\":\"FP32\",\"shape\":[1,1],\"data\":[3.5]}]}\n");
}

static void test_cli_predict_names_the_input_at_fault_and_exits_1(void **state) {
    (void)state;
    char path[64], want[256];
    Run r;
    request_file(path, "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP32\","
                       "\"data\":[1,2]},{\"name\":\"scale\",\"shape\":[1],\"datatype\":\"FP32\","
                       "\"data\":[0.5]}]}");
    CLI_RUN(&r, "predict", "--input", path);
    unlink(path);
    assert_int_equal(r.rc, 1);
    assert_string_equal(r.out, "");
    snprintf(want, sizeof want,
             "fakesvc: predict: %s: input 'x': expected 3 values for shape [1,3], got 2\n", path);
    assert_string_equal(r.err, want);
}

static void test_cli_predict_reports_an_unreadable_file_and_exits_1(void **state) {
    (void)state;
    Run r;
    CLI_RUN(&r, "predict", "--input=/nonexistent/req.json");
    assert_int_equal(r.rc, 1);
    assert_string_equal(
        r.err,
        "fakesvc: predict: cannot open '/nonexistent/req.json': No such file or directory\n");
}

static void test_cli_predict_jsonl_answers_every_line_in_order(void **state) {
    (void)state;
    char path[64], text[1024];
    Run r;
    snprintf(text, sizeof text, "%s\n\n{\"inputs\":[]}\n%s\n", good_request, good_request);
    request_file(path, text);
    CLI_RUN(&r, "predict", "--jsonl", "--input", path);
    unlink(path);
    assert_int_equal(r.rc, 1);
    char *line2 = strchr(r.out, '\n') + 1;
    char *line3 = strchr(line2, '\n') + 1;
    assert_memory_equal(r.out, "{\"model_name\":\"fake\"", 20);
    assert_memory_equal(line2, "{\"error\":\"missing input 'x' (FP32 [batch,len])\"}\n", 49);
    assert_memory_equal(line3, "{\"model_name\":\"fake\"", 20);
    assert_non_null(strstr(r.err, ":3: missing input 'x'"));
}

static void test_cli_info_json_prints_v2_metadata(void **state) {
    (void)state;
    Run r;
    CLI_RUN(&r, "info", "--json");
    assert_int_equal(r.rc, 0);
    json_t *meta = json_loads(r.out, 0, NULL);
    assert_non_null(meta);
    assert_string_equal(json_string_value(json_object_get(meta, "name")), "fake");
    assert_string_equal(json_string_value(json_array_get(json_object_get(meta, "versions"), 0)),
                        "3");
    assert_string_equal(json_string_value(json_object_get(meta, "platform")), "kiln");
    json_t *x = json_array_get(json_object_get(meta, "inputs"), 0);
    assert_string_equal(json_string_value(json_object_get(x, "datatype")), "FP32");
    assert_int_equal(json_integer_value(json_array_get(json_object_get(x, "shape"), 0)), -1);
    assert_int_equal(json_array_size(json_object_get(meta, "outputs")), 4);
    json_t *batch = json_array_get(json_object_get(meta, "symbols"), 0);
    assert_string_equal(json_string_value(json_object_get(batch, "name")), "batch");
    assert_int_equal(json_integer_value(json_object_get(batch, "max")), 64);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(meta, "build"), "target")),
        "x86_64-linux-gnu");
    json_decref(meta);
}

static void test_cli_info_prints_a_summary(void **state) {
    (void)state;
    Run r;
    CLI_RUN(&r, "info");
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "fake 3 (kiln 9.8.7)\n"));
    assert_non_null(strstr(r.out, "  x       FP32   [batch,len]\n"));
    assert_non_null(strstr(r.out, "  scale   FP32   [1]\n"));
    assert_non_null(strstr(r.out, "  argmax  INT64  [batch]\n"));
    assert_non_null(strstr(r.out, "  pairs   FP32   [batch,len/2]\n"));
    assert_non_null(strstr(r.out, "\nsymbols: batch [1, 64], len [1, 16]\n"));
    cli_model = &fake_static_model;
    CLI_RUN(&r, "info");
    cli_model = &kiln_model;
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "  x     FP32   [2,3]\n"));
    assert_non_null(strstr(r.out, "\nsymbols: none\n"));
}

static void test_cli_bench_sets_symbols_with_batch_and_dim(void **state) {
    (void)state;
    Run r;
    CLI_RUN(&r, "bench", "--batch", "4", "--dim", "len=6", "--iters", "5");
    assert_int_equal(r.rc, 0);
    json_t *doc = json_loads(r.out, 0, NULL);
    assert_non_null(doc);
    assert_int_equal(json_integer_value(json_object_get(doc, "batch")), 4);
    json_t *syms = json_object_get(doc, "symbols");
    assert_int_equal(json_integer_value(json_object_get(syms, "batch")), 4);
    assert_int_equal(json_integer_value(json_object_get(syms, "len")), 6);
    json_decref(doc);
    CLI_RUN(&r, "bench", "--dim=len=17", "--iters", "5");
    assert_int_equal(r.rc, 2);
    assert_true(strncmp(r.err,
                        "fakesvc: bench: --dim len=17: the value must be an integer in the "
                        "model's range [1, 16]\n",
                        88) == 0);
    CLI_RUN(&r, "bench", "--dim", "width=2");
    assert_int_equal(r.rc, 2);
    assert_non_null(strstr(r.err, "NAME one of: batch [1, 64], len [1, 16]"));
    CLI_RUN(&r, "bench", "--dim");
    assert_int_equal(r.rc, 2);
    /* len at its minimum, 1, is too small for pairs: the model says so, exit 1 */
    CLI_RUN(&r, "bench", "--iters", "5");
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "fakesvc: bench: node 'pairs' (Reshape): dim 1 of output "
                                  "'pairs' (len/2) is 0 at these input sizes"));
    CLI_RUN(&r, "bench", "--help");
    assert_non_null(strstr(r.out, "[--dim NAME=VALUE]..."));
    assert_non_null(strstr(r.out, "minimum"));
    cli_model = &fake_static_model;
    CLI_RUN(&r, "bench", "--batch", "2");
    cli_model = &kiln_model;
    assert_int_equal(r.rc, 2);
    assert_non_null(strstr(r.err, "the model has no batch dimension"));
}

static void test_cli_version_prints_name_version_and_kiln_version(void **state) {
    (void)state;
    Run r;
    CLI_RUN(&r, "--version");
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.out, "fake 3 (kiln 9.8.7)\n");
}

static void test_cli_help_prints_usage_on_stdout(void **state) {
    (void)state;
    Run r;
    CLI_RUN(&r, "help");
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "usage: fakesvc COMMAND"));
    assert_non_null(strstr(r.out, "predict [--input FILE|-]"));
}

static void test_cli_each_command_help_prints_its_usage_line_and_exits_0(void **state) {
    (void)state;
    static const char *const cmds[] = {"predict", "info", "serve", "bench"};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        char want[64];
        snprintf(want, sizeof want, "usage: fakesvc %s ", cmds[i]);
        Run r;
        CLI_RUN(&r, cmds[i], "--help");
        assert_int_equal(r.rc, 0);
        assert_true(strncmp(r.out, want, strlen(want)) == 0);
        assert_string_equal(r.err, "");
        CLI_RUN(&r, "help", cmds[i]);
        assert_int_equal(r.rc, 0);
        assert_true(strncmp(r.out, want, strlen(want)) == 0);
    }
    Run r;
    CLI_RUN(&r, "serve", "--port", "80", "-h"); /* help wins: nothing is started */
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "usage: fakesvc serve [--host"));
}

static void test_cli_rejects_bad_usage_with_exit_2(void **state) {
    (void)state;
    Run r;
    CLI_RUN(&r, "frobnicate");
    assert_int_equal(r.rc, 2);
    assert_non_null(strstr(r.err, "fakesvc: unknown command 'frobnicate'\n\nusage: fakesvc"));
    assert_string_equal(r.out, "");
    CLI_RUN(&r, "info", "--yaml");
    assert_int_equal(r.rc, 2);
    CLI_RUN(&r, "predict", "--input");
    assert_int_equal(r.rc, 2);
    const char *argv[] = {"fakesvc"};
    cli_run_argv(&r, 1, argv);
    assert_int_equal(r.rc, 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_predict_prints_the_response_and_exits_0),
        cmocka_unit_test(test_cli_predict_names_the_input_at_fault_and_exits_1),
        cmocka_unit_test(test_cli_predict_reports_an_unreadable_file_and_exits_1),
        cmocka_unit_test(test_cli_predict_jsonl_answers_every_line_in_order),
        cmocka_unit_test(test_cli_info_json_prints_v2_metadata),
        cmocka_unit_test(test_cli_info_prints_a_summary),
        cmocka_unit_test(test_cli_bench_sets_symbols_with_batch_and_dim),
        cmocka_unit_test(test_cli_version_prints_name_version_and_kiln_version),
        cmocka_unit_test(test_cli_help_prints_usage_on_stdout),
        cmocka_unit_test(test_cli_each_command_help_prints_its_usage_line_and_exits_0),
        cmocka_unit_test(test_cli_rejects_bad_usage_with_exit_2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
