/* test_pass_goldens.c: passes as text in, text out (tests/passes/NAME.ir).
 *
 * Each file is one case:
 *
 *     # passes: infer-shapes fuse dce
 *     # any other comment lines
 *     graph main opset 17 (test.onnx)
 *       ... the input IR (ir.h's text form, read by ir_graph_parse) ...
 *     ---
 *     graph main opset 17 (test.onnx)
 *       ... the IR after the passes, as ir_graph_print writes it ...
 *
 * The passes run in the order named, through passes.h, stopping at the
 * first that fails, with ir_graph_verify after each, as the driver does.
 * After the printed graph come `# diag:` lines with whatever the passes
 * reported and, when plan-memory ran, `# plan:` lines with the workspace
 * offsets (which the text form does not show). UPDATE_GOLDEN=1 rewrites
 * the part after `---` instead of comparing: review the diff like code.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "graph_builder.h"

#define SEPARATOR "\n---\n"

static const struct {
    const char *name;
    PassFn fn;
} passes[] = {
    {"check-ops", pass_check_ops},
    {"fold-constants", pass_fold_constants},
    {"fold-control", pass_fold_control},
    {"infer-shapes", pass_infer_shapes},
    {"check-types", pass_check_types},
    {"fold-batchnorm", pass_fold_batchnorm},
    {"fuse-conv-activation", pass_fuse_conv_activation},
    {"fuse", pass_fuse},
    {"dce", pass_dce},
    {"plan-memory", pass_plan_memory},
};

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    buf[len] = '\0';
    fclose(f);
    return buf;
}

static PassFn pass_find(const char *name) {
    for (size_t i = 0; i < sizeof passes / sizeof *passes; i++)
        if (strcmp(passes[i].name, name) == 0) return passes[i].fn;
    fail_msg("unknown pass '%s' in '# passes:'", name);
    return NULL;
}

/* "# plan:" lines: the workspace size, then each planned tensor and
 * scratch area at its offset, each a Dim in dim.h's text form ("64",
 * "(N*64+63)/64*64"). */
static void plan_print(const Graph *g, FILE *out) {
    char b1[256], b2[256];
    fprintf(out, "# plan: workspace %s bytes\n", dim_str(g->ws_size, b1, sizeof b1));
    for (int i = 0; i < g->n_nodes; i++) {
        const Node *n = g->nodes[i];
        for (int j = 0; j < n->n_outputs; j++) {
            const Value *v = n->outputs[j];
            if (!v) continue;
            if (v->output_index >= 0)
                fprintf(out, "# plan: %%%s: graph output\n", v->name);
            else
                fprintf(out, "# plan: %%%s: %s\n", v->name, dim_str(v->ws_offset, b1, sizeof b1));
        }
        if (n->scratch)
            fprintf(out, "# plan: scratch of '%s' (%s bytes): %s\n", n->name,
                    dim_str(n->scratch, b1, sizeof b1), dim_str(n->scratch_offset, b2, sizeof b2));
    }
}

/* The IR a pass printed reads back and prints the same: the reader and
 * printer agree on everything the passes produce. */
static void round_trip_check(Arena *a, const char *name, const char *got) {
    DiagCapture c;
    capture_open(&c);
    Graph *g = NULL;
    if (ir_graph_parse(a, got, name, &g, &c.d) != 0)
        fail_msg("%s: the output does not parse back:\n%s", name, capture_text(&c));
    char *again = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&again, &len);
    ir_graph_print(g, out);
    fclose(out);
    const char *comments = strstr(got, "\n# ");
    size_t ir_len = comments ? (size_t)(comments - got) + 1 : strlen(got);
    if (strlen(again) != ir_len || memcmp(again, got, ir_len) != 0)
        fail_msg("%s: the output reprints differently:\n%s", name, again);
    free(again);
    capture_close(&c);
}

/* Runs the case's passes over its input; returns the text to compare. */
static char *case_run(Arena *a, const char *name, const char *input) {
    const char *header = strstr(input, "# passes:");
    if (!header) fail_msg("%s: no '# passes:' line", name);
    header += strlen("# passes:");
    size_t header_len = strcspn(header, "\n");
    char *list = arena_alloc(a, header_len + 1);
    memcpy(list, header, header_len);

    DiagCapture c;
    capture_open(&c);
    Graph *g = NULL;
    if (ir_graph_parse(a, input, name, &g, &c.d) != 0)
        fail_msg("%s: the input does not parse:\n%s", name, capture_text(&c));
    int planned = 0;
    for (char *save = NULL, *p = strtok_r(list, " \t", &save); p;
         p = strtok_r(NULL, " \t", &save)) {
        int before = diag_count(&c.d);
        int rc = pass_find(p)(g, &c.d);
        if (rc != 0 && diag_count(&c.d) == before) fail_msg("%s: pass %s failed silently", name, p);
        if (ir_graph_verify(g, &c.d) != 0)
            fail_msg("%s: graph invalid after %s:\n%s", name, p, capture_text(&c));
        if (rc != 0) break;
        planned |= strcmp(p, "plan-memory") == 0;
    }

    char *got = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&got, &len);
    ir_graph_print(g, out);
    const char *diags = capture_text(&c);
    for (const char *line = diags; *line;) {
        size_t n = strcspn(line, "\n");
        fprintf(out, "# diag: %.*s\n", (int)n, line);
        line += n + (line[n] == '\n');
    }
    if (planned) plan_print(g, out);
    fclose(out);
    capture_close(&c);
    round_trip_check(a, name, got);
    return got;
}

static void test_pass_golden(void **state) {
    const char *file = *state;
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/passes/%s", KILN_SOURCE_DIR, file);
    char *text = read_text(path);
    char *sep = strstr(text, SEPARATOR);
    if (!sep) fail_msg("%s: no line '---' between the input and the expected output", file);
    sep[1] = '\0'; /* the input, up to and including its last newline */
    const char *want = sep + strlen(SEPARATOR);

    Arena *a = arena_create(1 << 16);
    char *got = case_run(a, file, text);
    const char *update = getenv("UPDATE_GOLDEN");
    if (update && strcmp(update, "1") == 0) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fprintf(f, "%s---\n%s", text, got);
        fclose(f);
        printf("updated tests/passes/%s\n", file);
    } else {
        if (strcmp(got, want) != 0) print_error("%s: expected\n%s--- got\n%s", file, want, got);
        assert_string_equal(got, want);
    }
    free(got);
    arena_destroy(a);
    free(text);
}

static int by_name(const void *x, const void *y) {
    return strcmp(*(char *const *)x, *(char *const *)y);
}

int main(void) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/passes", KILN_SOURCE_DIR);
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "cannot open %s\n", dir);
        return 1;
    }
    char **files = NULL;
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len < 4 || strcmp(e->d_name + len - 3, ".ir") != 0) continue;
        files = realloc(files, sizeof *files * (n + 1));
        files[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (!n) {
        fprintf(stderr, "no cases in %s\n", dir);
        return 1;
    }
    qsort(files, n, sizeof *files, by_name);
    struct CMUnitTest *tests = calloc(n, sizeof *tests);
    for (size_t i = 0; i < n; i++) {
        tests[i].name = files[i];
        tests[i].test_func = test_pass_golden;
        tests[i].initial_state = files[i];
    }
    int rc = _cmocka_run_group_tests("pass_goldens", tests, n, NULL, NULL);
    for (size_t i = 0; i < n; i++)
        free(files[i]);
    free(files);
    free(tests);
    return rc;
}
