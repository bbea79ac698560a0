/* graph_builder.h: small helpers for unit tests that build IR by hand.
 *
 * Header-only (every function is static inline), shared by the compiler
 * unit tests. Everything a helper allocates comes from the graph's arena,
 * except DiagCapture, which owns an open_memstream buffer until
 * capture_close(). Shapes are written with SHP(...): SHP(DIM_N, 4) is
 * [N,4], N a symbolic dim (dim.h); SHP0 is a scalar.
 */
#ifndef GRAPH_BUILDER_H
#define GRAPH_BUILDER_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fold_constants.h"
#include "ir.h"
#include "passes.h"

#define SHP(...) ((Shape){(int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), {__VA_ARGS__}})
#define SHP0 ((Shape){0, {0}})

/* The symbol "N", the dynamic batch dim of the tests' graphs. Use it after
 * gb_graph(): ir_graph_create() resets the dim table, and with it every
 * symbol made before. */
#define DIM_N dim_sym("N")
/* The same in a static table, built before any graph exists: a placeholder
 * that gb_input() (gb_shape()) turns into the symbol N. */
#define GB_N (INT64_MIN + 1)

/* s with every GB_N replaced by the symbol N. */
static inline Shape gb_shape(Shape s) {
    for (int d = 0; d < s.rank; d++)
        if (s.dims[d] == GB_N) s.dims[d] = DIM_N;
    return s;
}

/* A graph as the importer leaves it: named, with a default-domain opset. */
static inline Graph *gb_graph(Arena *a, int opset) {
    Graph *g = ir_graph_create(a, "test.onnx");
    g->opset = opset;
    return g;
}

/* d's value with the symbol N at n and every other symbol at 1 (dim_eval);
 * -1 if it does not evaluate. The parts of a size linear in N, as the
 * old plan kept them apart: the fixed part at n = 0, the part per item
 * gb_eval_n(d, 1) - gb_eval_n(d, 0). */
static inline int64_t gb_eval_n(Dim d, int64_t n) {
    int64_t vals[DIM_MAX_SYMS], out;
    for (int i = 0; i < dim_n_syms(); i++)
        vals[i] = strcmp(dim_sym_name(i), "N") == 0 ? n : 1;
    return dim_eval(d, vals, &out) ? -1 : out;
}

/* A graph input of the given type (GB_N in s: the symbol N). */
static inline Value *gb_input(Graph *g, const char *name, DType t, Shape s) {
    Value *v = ir_value_add(g, name, t);
    v->shape = gb_shape(s);
    ir_graph_add_input(g, v);
    return v;
}

/* An initializer; `data` (numel elements of dtype t) is copied into the arena. */
static inline Value *gb_init(Graph *g, const char *name, DType t, Shape s, const void *data) {
    Value *v = ir_value_add(g, name, t);
    v->shape = s;
    size_t bytes = (size_t)shape_numel(&s) * dtype_size(t);
    v->data = arena_alloc_aligned(g->arena, bytes ? bytes : 1, 64);
    if (bytes) memcpy(v->data, data, bytes);
    return v;
}

static inline Value *gb_init_f32(Graph *g, const char *name, Shape s, const float *data) {
    return gb_init(g, name, DT_F32, s, data);
}

/* A 1-D int64 initializer, as Reshape's target shape. */
static inline Value *gb_init_i64(Graph *g, const char *name, int n, const int64_t *data) {
    return gb_init(g, name, DT_I64, SHP(n), data);
}

/* Appends a node with one fresh output value `out` and n_in inputs (Value *
 * varargs, NULL for an omitted optional input). Returns the node. */
static inline Node *gb_node(Graph *g, OpKind op, const char *name, const char *out, int n_in, ...) {
    Value *ins[8];
    va_list ap;
    va_start(ap, n_in);
    for (int i = 0; i < n_in && i < 8; i++)
        ins[i] = va_arg(ap, Value *);
    va_end(ap);
    Value *o = ir_value_add(g, out, DT_UNDEF);
    return ir_node_add(g, op, NULL, name, n_in, ins, 1, &o);
}

/* The output value of gb_node(): gb_out(n) == n->outputs[0]. */
static inline Value *gb_out(const Node *n) {
    return n->outputs[0];
}

static inline void gb_attr_int(Node *n, const char *name, int64_t v) {
    ir_attr_add(n, name, ATTR_INT)->i = v;
}

static inline void gb_attr_float(Node *n, const char *name, float v) {
    ir_attr_add(n, name, ATTR_FLOAT)->f = v;
}

/* An ints attribute; `v` (count values, count may be 0) is copied into the arena. */
static inline void gb_attr_ints(Node *n, const char *name, int count, const int64_t *v) {
    Attr *a = ir_attr_add(n, name, ATTR_INTS);
    a->n = count;
    a->ints = arena_alloc(n->graph->arena, sizeof(int64_t) * (size_t)(count ? count : 1));
    memcpy(a->ints, v, sizeof(int64_t) * (size_t)count);
}

/* The driver's pipeline, in its order; stops at the first failing pass. */
static inline int gb_run_pipeline(Graph *g, Diag *d) {
    static const PassFn passes[] = {
        pass_check_ops,      pass_fold_constants,       pass_infer_shapes, pass_check_types,
        pass_fold_batchnorm, pass_fuse_conv_activation, pass_fuse,         pass_dce,
        pass_plan_memory};
    for (size_t i = 0; i < sizeof passes / sizeof *passes; i++) {
        if (passes[i](g, d)) return -1;
        if (ir_graph_verify(g, d)) return -1;
    }
    return 0;
}

/* Diagnostics written to memory, so tests can compare them word for word. */
typedef struct DiagCapture {
    Diag d;
    FILE *f;
    char *buf;
    size_t len;
} DiagCapture;

static inline void capture_open(DiagCapture *c) {
    c->buf = NULL;
    c->len = 0;
    c->f = open_memstream(&c->buf, &c->len);
    diag_init(&c->d, c->f);
}

/* Everything reported so far, NUL-terminated; valid until the next report. */
static inline const char *capture_text(DiagCapture *c) {
    fflush(c->f);
    return c->buf ? c->buf : "";
}

static inline void capture_close(DiagCapture *c) {
    if (c->f) fclose(c->f);
    free(c->buf);
    c->f = NULL;
    c->buf = NULL;
}

/* Forgets everything reported and starts a fresh Diag (error count 0). */
static inline void capture_reset(DiagCapture *c) {
    capture_close(c);
    capture_open(c);
}

/* Number of lines in s that start with `prefix`. */
static inline int count_lines_starting(const char *s, const char *prefix) {
    int n = 0;
    size_t len = strlen(prefix);
    for (const char *p = s; *p;) {
        if (strncmp(p, prefix, len) == 0) n++;
        const char *nl = strchr(p, '\n');
        if (!nl) break;
        p = nl + 1;
    }
    return n;
}

/* Deterministic uniform floats in [-1, 1) (xorshift32). */
static inline float gb_rand(uint32_t *state) {
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return (float)((double)(x >> 8) / (double)(1u << 23) - 1.0);
}

static inline void gb_fill(float *p, int64_t n, uint32_t *state) {
    for (int64_t i = 0; i < n; i++)
        p[i] = gb_rand(state);
}

#endif
