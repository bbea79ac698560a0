/* fixture.h: the cmocka fixture every compiler unit test uses.
 *
 * Include it instead of cmocka.h: it brings cmocka, graph_builder.h and
 * codegen.h. setup() gives each test a State: an arena for everything the
 * test builds (IR, protobuf messages, paths), diagnostics captured in
 * memory, and an empty temporary directory. teardown() releases all of
 * it: the Codegens the test registered (JIT-compiled models die with
 * them), the capture, the directory with everything in it, the arena.
 * Header-only; every function is static inline, so a test that needs
 * only part of it gets no unused-function warnings.
 */
#ifndef FIXTURE_H
#define FIXTURE_H

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "codegen.h"
#include "graph_builder.h"
#include "kiln_model.h"

#define FIXTURE_MAX_CG 4

typedef struct State {
    Arena *a;                    /* everything the test allocates */
    DiagCapture c;               /* diagnostics, word for word */
    Codegen *cg[FIXTURE_MAX_CG]; /* destroyed by teardown */
    int n_cg;
    char dir[64]; /* temporary directory, removed by teardown */
} State;

static inline int setup(void **state) {
    State *s = calloc(1, sizeof(State));
    if (!s) return -1;
    s->a = arena_create(1 << 16);
    capture_open(&s->c);
    strcpy(s->dir, "/tmp/kiln-unit-XXXXXX");
    *state = s;
    return mkdtemp(s->dir) ? 0 : -1;
}

/* Removes path and, for a directory, everything below it (no symlinks followed). */
static inline void fixture_remove_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        for (struct dirent *e; d && (e = readdir(d));) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            char sub[4096];
            if (snprintf(sub, sizeof sub, "%s/%s", path, e->d_name) < (int)sizeof sub)
                fixture_remove_tree(sub);
        }
        if (d) closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static inline int teardown(void **state) {
    State *s = *state;
    for (int i = 0; i < s->n_cg; i++)
        codegen_destroy(s->cg[i]);
    capture_close(&s->c);
    fixture_remove_tree(s->dir); /* a no-op if mkdtemp failed */
    arena_destroy(s->a);
    free(s);
    return 0;
}

/* --- files in the temporary directory ------------------------------------------ */

/* "<dir>/<file>", in the arena. */
static inline const char *path_in(State *s, const char *file) {
    return arena_printf(s->a, "%s/%s", s->dir, file);
}

static inline void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* --- diagnostics ------------------------------------------------------------ */

/* Fails unless the diagnostics so far contain `want`. */
static inline void assert_diag(State *s, const char *want) {
    const char *text = capture_text(&s->c);
    if (!strstr(text, want)) {
        print_error("expected diagnostic containing\n  %s\ngot\n%s\n", want,
                    *text ? text : "(nothing)");
        fail();
    }
}

static inline void assert_no_diag(State *s) {
    const char *text = capture_text(&s->c);
    if (*text) {
        print_error("unexpected diagnostics:\n%s\n", text);
        fail();
    }
}

/* --- shape inference ------------------------------------------------------------ */

/* "[N,3,4]" for comparisons that print the shape on failure; eight calls
 * may be live at once. */
static inline const char *str(const Value *v) {
    static char buf[8][160];
    static int k;
    k = (k + 1) % 8;
    return shape_str(&v->shape, buf[k], sizeof buf[k]);
}

/* Runs the pass and expects it to succeed without messages. */
static inline void infer_ok(State *s, Graph *g) {
    int rc = pass_infer_shapes(g, &s->c.d);
    assert_string_equal(capture_text(&s->c), "");
    assert_int_equal(rc, 0);
}

/* Runs the pass and expects it to fail; returns the messages. */
static inline const char *infer_fails(State *s, Graph *g) {
    assert_int_equal(pass_infer_shapes(g, &s->c.d), -1);
    return capture_text(&s->c);
}

/* --- codegen and the JIT ------------------------------------------------------- */

/* A Codegen that teardown destroys. */
static inline Codegen *fixture_codegen(State *s, const CodegenOptions *o) {
    assert_true(s->n_cg < FIXTURE_MAX_CG);
    Codegen *cg = codegen_create(o, &s->c.d);
    assert_non_null(cg);
    s->cg[s->n_cg++] = cg;
    return cg;
}

/* The driver's pipeline, codegen and JIT; the model lives until teardown. */
static inline const KilnModel *fixture_compile(State *s, Graph *g, const CodegenOptions *o) {
    if (gb_run_pipeline(g, &s->c.d)) fail_msg("pipeline failed:\n%s", capture_text(&s->c));
    Codegen *cg = fixture_codegen(s, o);
    if (codegen_build(cg, g, &s->c.d)) fail_msg("codegen failed:\n%s", capture_text(&s->c));
    const KilnModel *m = NULL;
    if (codegen_jit(cg, &m, &s->c.d)) fail_msg("jit failed:\n%s", capture_text(&s->c));
    assert_non_null(m);
    return m;
}

/* --- running a compiled model (ABI version 4) ------------------------------------ */

#define FIXTURE_MAX_IO 8

/* The shapes of one call: in[i] and out[i] point into the arrays here. */
typedef struct RunShapes {
    int64_t in_dims[FIXTURE_MAX_IO][IR_MAX_RANK], out_dims[FIXTURE_MAX_IO][IR_MAX_RANK];
    const int64_t *in[FIXTURE_MAX_IO];
    int64_t *out[FIXTURE_MAX_IO];
} RunShapes;

/* m's input shapes with the symbol N at `batch` (the tests' graphs have no
 * other dynamic input dim: asserted), the output shapes left unset. */
static inline void fixture_in_shapes(const KilnModel *m, int64_t batch, RunShapes *rs) {
    assert_true(m->n_inputs <= FIXTURE_MAX_IO && m->n_outputs <= FIXTURE_MAX_IO);
    for (int i = 0; i < m->n_inputs; i++) {
        const KilnTensorInfo *t = &m->inputs[i];
        for (int d = 0; d < t->rank; d++) {
            if (t->shape[d] >= 0) {
                rs->in_dims[i][d] = t->shape[d];
                continue;
            }
            assert_true(t->sym[d] >= 0 && t->sym[d] < m->n_syms);
            assert_string_equal(m->syms[t->sym[d]].name, "N");
            rs->in_dims[i][d] = batch;
        }
        rs->in[i] = rs->in_dims[i];
    }
    for (int i = 0; i < m->n_outputs; i++) {
        for (int d = 0; d < m->outputs[i].rank; d++)
            rs->out_dims[i][d] = -7; /* shapes() must write every dim */
        rs->out[i] = rs->out_dims[i];
    }
}

/* The same, then the output shapes shapes() computes (it must accept them). */
static inline void fixture_shapes(const KilnModel *m, int64_t batch, RunShapes *rs) {
    fixture_in_shapes(m, batch, rs);
    KilnRunError err;
    assert_int_equal(m->shapes(rs->in, rs->out, &err), 0);
    for (int i = 0; i < m->n_outputs; i++)
        for (int d = 0; d < m->outputs[i].rank; d++) {
            int64_t v = rs->out_dims[i][d];
            assert_true(v >= m->outputs[i].min[d] && v <= m->outputs[i].max[d]);
            assert_true(m->outputs[i].shape[d] == -1 || v == m->outputs[i].shape[d]);
        }
}

/* Elements of output i of a call. */
static inline int64_t fixture_out_numel(const KilnModel *m, const RunShapes *rs, int i) {
    int64_t n = 1;
    for (int d = 0; d < m->outputs[i].rank; d++)
        n *= rs->out_dims[i][d];
    return n;
}

/* Runs m at this batch size on inputs, with a workspace of exactly
 * workspace_size() bytes (rounded up to 64) and outputs filled with NaN
 * first, so that reading a byte nobody wrote shows up as a mismatch;
 * outputs[i] is malloc'd (the caller frees each) and the shapes are in
 * *rs. Returns run()'s result, after checking that the shapes it wrote
 * agree with shapes(). */
static inline int fixture_run(const KilnModel *m, int64_t batch, const void *const *inputs,
                              void **outputs, RunShapes *rs) {
    fixture_shapes(m, batch, rs);
    size_t ws_size = m->workspace_size(rs->in);
    assert_true(ws_size >= KILN_RUN_ERROR_BYTES && ws_size != SIZE_MAX);
    void *ws = aligned_alloc(64, (ws_size + 63) / 64 * 64);
    assert_non_null(ws);
    memset(ws, 0xff, ws_size); /* NaN everywhere */
    void *outs[FIXTURE_MAX_IO];
    int64_t got[FIXTURE_MAX_IO][IR_MAX_RANK], *got_p[FIXTURE_MAX_IO];
    for (int i = 0; i < m->n_outputs; i++) {
        size_t bytes = (size_t)fixture_out_numel(m, rs, i) * kiln_dtype_size(m->outputs[i].dtype);
        outputs[i] = malloc(bytes ? bytes : 1);
        memset(outputs[i], 0xff, bytes);
        outs[i] = outputs[i];
        got_p[i] = got[i];
    }
    int rc = m->run(inputs, rs->in, outs, got_p, ws, NULL);
    free(ws);
    for (int i = 0; rc == 0 && i < m->n_outputs; i++)
        for (int d = 0; d < m->outputs[i].rank; d++)
            assert_int_equal(got[i][d], rs->out_dims[i][d]);
    return rc;
}

#endif
