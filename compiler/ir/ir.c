#include "ir.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* --- element types and shapes ------------------------------------------- */

const char *dtype_name(DType t) {
    switch (t) {
#define KILN_DTYPE(ir, abi, onnx, name, ...)                                                       \
    case DT_##ir:                                                                                  \
        return #name;
#include "../../runtime/kiln_dtypes.def"
#undef KILN_DTYPE
    default:
        return "?";
    }
}

const char *dtype_onnx_name(DType t) {
    switch (t) {
#define KILN_DTYPE(ir, abi, onnx, name, size, onnx_name, ...)                                      \
    case DT_##ir:                                                                                  \
        return onnx_name;
#include "../../runtime/kiln_dtypes.def"
#undef KILN_DTYPE
    default:
        return "undefined";
    }
}

size_t dtype_size(DType t) {
    switch (t) {
#define KILN_DTYPE(ir, abi, onnx, name, size, ...)                                                 \
    case DT_##ir:                                                                                  \
        return size;
#include "../../runtime/kiln_dtypes.def"
#undef KILN_DTYPE
    default:
        return 0;
    }
}

int64_t shape_numel(const Shape *s) {
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++)
        if (s->dims[i] >= 0 && __builtin_mul_overflow(n, s->dims[i], &n)) {
            assert(!"shape_numel: a shape outside the limits reached the IR");
            return INT64_MAX;
        }
    return n;
}

Dim shape_prod(const Shape *s, int from, int to) {
    Dim p = 1;
    for (int i = from; i < to; i++)
        p = dim_mul(p, s->dims[i]);
    return p;
}

Dim shape_count(const Shape *s) {
    return shape_prod(s, 0, s->rank);
}

int shape_bytes_check(const Shape *s, DType t, int64_t *bytes) {
    int64_t es = (int64_t)(dtype_size(t) ? dtype_size(t) : 1);
    int64_t room = KILN_MAX_TENSOR_BYTES / es;
    int64_t p = 1, hi_bytes = es;
    int empty = 0;
    if (s->rank < 0 || s->rank > IR_MAX_RANK) return -1;
    for (int i = 0; i < s->rank; i++) {
        int64_t dim = s->dims[i], lo, hi;
        if (dim == DIM_INVALID || dim_bounds(dim, &lo, &hi)) return -1;
        if (hi > KILN_MAX_DIM) return -1;
        if (hi == 0) empty = 1;
        if (!empty && __builtin_mul_overflow(hi_bytes, hi, &hi_bytes)) hi_bytes = INT64_MAX;
        if (dim < 0) continue;
        if (dim == 0) {
            empty = 1;
            continue;
        }
        if (dim > room / p) return -1; /* p * dim > room, without overflow */
        p *= dim;
    }
    if (!empty && hi_bytes > KILN_MAX_DYN_BYTES) return -1;
    *bytes = empty ? 0 : p * es;
    return 0;
}

int shape_is_dynamic(const Shape *s) {
    for (int i = 0; i < s->rank; i++)
        if (s->dims[i] < 0) return 1;
    return 0;
}

int shape_equal(const Shape *a, const Shape *b) {
    if (a->rank != b->rank) return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i]) return 0;
    return 1;
}

char *shape_str(const Shape *s, char *buf, size_t len) {
    size_t o = 0;
    if (s->rank < 0) {
        snprintf(buf, len, "[?]");
        return buf;
    }
    o += (size_t)snprintf(buf + o, len - o, "[");
    for (int i = 0; i < s->rank && o < len; i++) {
        char d[96];
        o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? "," : "",
                              dim_str(s->dims[i], d, sizeof d));
    }
    if (o < len) snprintf(buf + o, len - o, "]");
    return buf;
}

/* --- building ------------------------------------------------------------ */

#define GROW(a, arr, n, cap)                                                                       \
    do {                                                                                           \
        if ((n) == (cap)) {                                                                        \
            int ncap = (cap) ? 2 * (cap) : 16;                                                     \
            void *p = arena_alloc((a), sizeof(*(arr)) * (size_t)ncap);                             \
            if (n) memcpy(p, (arr), sizeof(*(arr)) * (size_t)(n));                                 \
            (arr) = p;                                                                             \
            (cap) = ncap;                                                                          \
        }                                                                                          \
    } while (0)

Graph *ir_graph_create(Arena *a, const char *source_path) {
    Graph *g = arena_alloc(a, sizeof(Graph));
    g->arena = a;
    g->source_path = arena_strdup(a, source_path ? source_path : "<memory>");
    g->name = "main";
    dim_reset();
    return g;
}

int ir_value_has_dims(const Value *v) {
    if (!v || !v->data || v->dtype != DT_I64 || shape_is_dynamic(&v->shape)) return 0;
    for (int64_t i = 0; i < shape_numel(&v->shape); i++)
        if (ir_dim_in_data(((const int64_t *)v->data)[i])) return 1;
    return 0;
}

int ir_graph_syms(const Graph *g, int *syms) {
    int n = 0;
    for (int i = 0; i < g->n_inputs; i++)
        for (int k = 0; k < g->inputs[i]->shape.rank; k++) {
            int s = dim_sym_of(g->inputs[i]->shape.dims[k]), seen = 0;
            for (int j = 0; j < n; j++)
                seen |= syms[j] == s;
            if (s >= 0 && !seen && n < DIM_MAX_SYMS) syms[n++] = s;
        }
    return n;
}

int ir_graph_add_dim_check(Graph *g, DimCheckKind kind, Dim a, Dim b, const char *what) {
    int64_t lo, hi;
    if (kind == DIMCHECK_EQUAL) {
        if (a == b) return 0;
        Dim diff = dim_sub(a, b);
        if (diff == DIM_INVALID || dim_bounds(diff, &lo, &hi)) return -1;
        if (lo > 0 || hi < 0) return -1;
    } else {
        if (dim_bounds(a, &lo, &hi) || dim_value(b, &lo) == 0) return -1;
        int64_t alo;
        dim_bounds(a, &alo, &hi);
        if (alo >= lo) return 0;
        if (hi < lo) return -1;
    }
    for (int i = 0; i < g->n_dim_checks; i++)
        if (g->dim_checks[i].kind == kind && g->dim_checks[i].a == a && g->dim_checks[i].b == b)
            return 0;
    GROW(g->arena, g->dim_checks, g->n_dim_checks, g->cap_dim_checks);
    g->dim_checks[g->n_dim_checks++] = (DimCheck){kind, a, b, arena_strdup(g->arena, what)};
    return 0;
}

Value *ir_value_add(Graph *g, const char *name, DType t) {
    assert(!ir_value_find(g, name));
    Value *v = arena_alloc(g->arena, sizeof(Value));
    v->name = arena_strdup(g->arena, name);
    v->dtype = t;
    v->shape.rank = -1;
    v->decl_shape.rank = -1;
    v->input_index = v->output_index = -1;
    GROW(g->arena, g->values, g->n_values, g->cap_values);
    v->id = g->n_values;
    g->values[g->n_values++] = v;
    return v;
}

Value *ir_value_add_fresh(Graph *g, const char *base, DType t) {
    const char *name = base;
    for (int k = 2; ir_value_find(g, name); k++)
        name = arena_printf(g->arena, "%s_%d", base, k);
    return ir_value_add(g, name, t);
}

Value *ir_value_find(const Graph *g, const char *name) {
    for (int i = 0; i < g->n_values; i++)
        if (strcmp(g->values[i]->name, name) == 0) return g->values[i];
    return NULL;
}

static Node *node_new(Graph *g, OpKind op, const char *op_type, const char *name, int n_in,
                      Value *const *in, int n_out, Value *const *out) {
    Node *n = arena_alloc(g->arena, sizeof(Node));
    n->op = op;
    n->op_type = arena_strdup(g->arena, op_type ? op_type : op_info(op)->name);
    n->domain = op_info(op)->domain;
    n->name = arena_strdup(g->arena, name);
    n->opset = n->domain[0] ? 0 : g->opset; /* another domain's opset: unknown here */
    n->graph = g;
    n->n_inputs = n_in;
    n->n_outputs = n_out;
    n->inputs = arena_alloc(g->arena, sizeof(Value *) * (size_t)(n_in ? n_in : 1));
    n->outputs = arena_alloc(g->arena, sizeof(Value *) * (size_t)(n_out ? n_out : 1));
    for (int i = 0; i < n_in; i++)
        n->inputs[i] = in[i];
    for (int i = 0; i < n_out; i++) {
        n->outputs[i] = out[i];
        if (out[i]) out[i]->producer = n;
    }
    n->index = g->n_nodes;
    return n;
}

Node *ir_node_add(Graph *g, OpKind op, const char *op_type, const char *name, int n_in,
                  Value *const *in, int n_out, Value *const *out) {
    Node *n = node_new(g, op, op_type, name, n_in, in, n_out, out);
    GROW(g->arena, g->nodes, g->n_nodes, g->cap_nodes);
    g->nodes[g->n_nodes++] = n;
    return n;
}

Node *ir_node_insert_before(Graph *g, Node *before, OpKind op, const char *op_type,
                            const char *name, int n_in, Value *const *in, int n_out,
                            Value *const *out) {
    Node *n = node_new(g, op, op_type, name, n_in, in, n_out, out);
    GROW(g->arena, g->nodes, g->n_nodes, g->cap_nodes);
    int at = 0;
    while (at < g->n_nodes && g->nodes[at] != before)
        at++;
    assert(at < g->n_nodes);
    memmove(&g->nodes[at + 1], &g->nodes[at], sizeof(Node *) * (size_t)(g->n_nodes - at));
    g->nodes[at] = n;
    g->n_nodes++;
    return n;
}

Node *ir_node_find(const Graph *g, const char *name) {
    for (int i = 0; i < g->n_nodes; i++)
        if (strcmp(g->nodes[i]->name, name) == 0) return g->nodes[i];
    return NULL;
}

void ir_graph_add_input(Graph *g, Value *v) {
    Value **p = arena_alloc(g->arena, sizeof(Value *) * (size_t)(g->n_inputs + 1));
    if (g->n_inputs) memcpy(p, g->inputs, sizeof(Value *) * (size_t)g->n_inputs);
    v->input_index = g->n_inputs;
    p[g->n_inputs++] = v;
    g->inputs = p;
}

void ir_graph_add_output(Graph *g, Value *v) {
    Value **p = arena_alloc(g->arena, sizeof(Value *) * (size_t)(g->n_outputs + 1));
    if (g->n_outputs) memcpy(p, g->outputs, sizeof(Value *) * (size_t)g->n_outputs);
    if (v->output_index < 0) v->output_index = g->n_outputs;
    p[g->n_outputs++] = v;
    g->outputs = p;
}

/* --- attributes ---------------------------------------------------------- */

const Attr *ir_attr(const Node *n, const char *name) {
    for (int i = 0; i < n->n_attrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0) return &n->attrs[i];
    return NULL;
}

int64_t ir_attr_int(const Node *n, const char *name, int64_t dflt) {
    const Attr *a = ir_attr(n, name);
    return a && a->kind == ATTR_INT ? a->i : dflt;
}

float ir_attr_float(const Node *n, const char *name, float dflt) {
    const Attr *a = ir_attr(n, name);
    if (!a) return dflt;
    if (a->kind == ATTR_FLOAT) return a->f;
    if (a->kind == ATTR_INT) return (float)a->i;
    return dflt;
}

const char *ir_attr_str(const Node *n, const char *name, const char *dflt) {
    const Attr *a = ir_attr(n, name);
    return a && a->kind == ATTR_STRING ? a->s : dflt;
}

Attr *ir_attr_add(Node *n, const char *name, AttrKind kind) {
    Arena *a = n->graph->arena;
    Attr *p = arena_alloc(a, sizeof(Attr) * (size_t)(n->n_attrs + 1));
    if (n->n_attrs) memcpy(p, n->attrs, sizeof(Attr) * (size_t)n->n_attrs);
    n->attrs = p;
    Attr *at = &p[n->n_attrs++];
    at->name = arena_strdup(a, name);
    at->kind = kind;
    return at;
}

Attr *ir_attr_set(Node *n, const char *name, AttrKind kind) {
    for (int i = 0; i < n->n_attrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0) {
            n->attrs[i].kind = kind;
            return &n->attrs[i];
        }
    return ir_attr_add(n, name, kind);
}

/* --- rewriting ----------------------------------------------------------- */

Node *ir_value_sole_user(const Graph *g, const Value *v) {
    if (v->n_uses != 1 || v->output_index >= 0) return NULL;
    for (int i = 0; i < g->n_nodes; i++) {
        Node *n = g->nodes[i];
        if (n->dead) continue;
        for (int j = 0; j < n->n_inputs; j++)
            if (n->inputs[j] == v) return n;
    }
    return NULL;
}

void ir_node_absorb(Node *n, Node *c) {
    assert(n->n_outputs == 1 && c->n_outputs >= 1 && !c->dead && n->outputs[0]->n_uses == 1);
    for (int i = 1; i < c->n_outputs; i++)
        assert(!c->outputs[i]); /* c has one output in use: the one n takes over */
    n->outputs[0]->producer = NULL;
    n->outputs[0] = c->outputs[0];
    c->outputs[0]->producer = n;
    c->dead = 1;
}

void ir_value_replace_uses(Graph *g, Value *from, Value *to) {
    for (int i = 0; i < g->n_nodes; i++) {
        Node *n = g->nodes[i];
        for (int j = 0; j < n->n_inputs; j++)
            if (n->inputs[j] == from) n->inputs[j] = to;
    }
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == from) {
            g->outputs[i] = to;
            from->output_index = -1;
            if (to->output_index < 0) to->output_index = i;
        }
}

void ir_graph_recount(Graph *g) {
    for (int i = 0; i < g->n_values; i++)
        g->values[i]->n_uses = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        Node *n = g->nodes[i];
        for (int j = 0; j < n->n_inputs; j++)
            if (n->inputs[j]) n->inputs[j]->n_uses++;
    }
    for (int i = 0; i < g->n_outputs; i++)
        g->outputs[i]->n_uses++;
}

static int node_pos(const Graph *g, const Node *n) {
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i] == n) return i;
    return -1;
}

Node *ir_region_begin(const Graph *g, const Node *end) {
    int depth = 0;
    for (int i = node_pos(g, end) - 1; i >= 0; i--) {
        unsigned f = op_info(g->nodes[i]->op)->flags;
        if (f & OPF_REGION_END) depth++;
        if ((f & OPF_REGION_BEGIN) && depth-- == 0) return g->nodes[i];
    }
    return NULL;
}

Node *ir_region_end(const Graph *g, const Node *begin) {
    int depth = 0, i = node_pos(g, begin);
    for (i = i < 0 ? g->n_nodes : i + 1; i < g->n_nodes; i++) {
        unsigned f = op_info(g->nodes[i]->op)->flags;
        if (f & OPF_REGION_BEGIN) depth++;
        if ((f & OPF_REGION_END) && depth-- == 0) return g->nodes[i];
    }
    return NULL;
}

void ir_graph_compact(Graph *g) {
    int k = 0;
    for (int i = 0; i < g->n_nodes; i++)
        if (!g->nodes[i]->dead) g->nodes[k++] = g->nodes[i];
    g->n_nodes = k;
    ir_graph_recount(g);
    /* Drop values nobody produces or uses any more (folded intermediates,
     * unused initializers); graph inputs stay, they are the signature. */
    k = 0;
    for (int i = 0; i < g->n_values; i++) {
        Value *v = g->values[i];
        int live = v->n_uses > 0 || v->input_index >= 0 || (v->producer && !v->producer->dead);
        if (live) {
            v->id = k;
            g->values[k++] = v;
        }
    }
    g->n_values = k;
}

int ir_graph_verify(const Graph *g, Diag *d) {
    int bad = 0;
    /* Every input must be defined before use: mark values as they appear. */
    unsigned char *defined = arena_alloc(g->arena, (size_t)g->n_values + 1);
    for (int i = 0; i < g->n_values; i++) {
        Value *v = g->values[i];
        assert(v->id == i);
        if (v->data || v->input_index >= 0) defined[i] = 1;
    }
    for (int i = 0; i < g->n_values; i++) {
        const Value *v = g->values[i];
        if (v->data && v->producer) {
            diag_file(d, g->source_path, "initializer '%s' also has a producer", v->name);
            bad = 1;
        }
        if (v->shape.rank < -1 || v->shape.rank > IR_MAX_RANK) {
            diag_file(d, g->source_path, "value '%s' has rank %d", v->name, v->shape.rank);
            bad = 1;
        }
    }
    /* Control-flow regions nest: each end (and If's else) closes the
     * innermost open region of its kind. */
    const Node *open[2 * KILN_MAX_NESTING + 2];
    int depth = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const Node *n = g->nodes[i];
        unsigned f = op_info(n->op)->flags;
        int kind = n->op == OP_IF || n->op == OP_IF_ELSE || n->op == OP_IF_END ? OP_IF
                   : n->op == OP_LOOP || n->op == OP_LOOP_END                  ? OP_LOOP
                                                                               : OP_SCAN;
        if (f & OPF_REGION_BEGIN) {
            if (depth == (int)(sizeof open / sizeof *open)) {
                diag_node(d, n, "opens regions nested too deep");
                return -1;
            }
            open[depth++] = n;
        } else if ((f & (OPF_REGION_ELSE | OPF_REGION_END)) &&
                   (!depth || (int)open[depth - 1]->op != kind)) {
            diag_node(d, n, "closes no open %s region", op_info((OpKind)kind)->name);
            return -1;
        } else if (f & OPF_REGION_END) {
            depth--;
        }
    }
    if (depth) {
        diag_node(d, open[depth - 1], "opens a region that is never closed");
        return -1;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        Node *n = g->nodes[i];
        const OpInfo *info = op_info(n->op);
        if (n->dead) {
            diag_node(d, n, "is dead but still in the graph");
            bad = 1;
        }
        for (int j = 0; j < n->n_inputs + n->n_outputs; j++) {
            const Value *v = j < n->n_inputs ? n->inputs[j] : n->outputs[j - n->n_inputs];
            if (v && (v->id < 0 || v->id >= g->n_values || g->values[v->id] != v)) {
                diag_node(d, n, "refers to value '%s', which is not in the graph", v->name);
                return -1; /* the checks below index by id */
            }
        }
        if (n->op != OP_UNKNOWN && (n->n_inputs < info->in_min || n->n_inputs > info->in_max)) {
            diag_node(d, n, "has %d inputs, expected %d to %d", n->n_inputs, info->in_min,
                      info->in_max);
            bad = 1;
        }
        if (n->op != OP_UNKNOWN && (n->n_outputs < info->out_min || n->n_outputs > info->out_max)) {
            diag_node(d, n, "has %d outputs, expected %d to %d", n->n_outputs, info->out_min,
                      info->out_max);
            bad = 1;
        }
        for (int j = 0; j < n->n_inputs; j++) {
            Value *v = n->inputs[j];
            if (v && !defined[v->id]) {
                diag_node(d, n, "input '%s' is used before it is defined", v->name);
                bad = 1;
            }
        }
        for (int j = 0; j < n->n_outputs; j++) {
            Value *v = n->outputs[j];
            if (!v) continue;
            if (v->producer != n) {
                diag_node(d, n, "output '%s' names another producer", v->name);
                bad = 1;
            }
            defined[v->id] = 1;
        }
    }
    for (int i = 0; i < g->n_outputs; i++) {
        const Value *v = g->outputs[i];
        if (v->id < 0 || v->id >= g->n_values || g->values[v->id] != v) {
            diag_file(d, g->source_path, "graph output '%s' is not in the graph", v->name);
            return -1;
        }
    }
    for (int i = 0; i < g->n_outputs; i++)
        if (!defined[g->outputs[i]->id]) {
            diag_file(d, g->source_path, "graph output '%s' is not produced by any node",
                      g->outputs[i]->name);
            bad = 1;
        }
    return bad ? -1 : 0;
}

/* --- printing ------------------------------------------------------------ */

/* Numbers print in the shortest form that reads back to the same bits
 * (ir_read.c parses them with strtof/strtod), so dumps round-trip. */
static const char *f32_str(float f, char buf[32]) {
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, 32, "%.*g", prec, (double)f);
        float back = strtof(buf, NULL);
        if (memcmp(&back, &f, sizeof f) == 0 || f != f) break;
    }
    return buf;
}

static const char *f64_str(double f, char buf[32]) {
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, 32, "%.*g", prec, f);
        double back = strtod(buf, NULL);
        if (memcmp(&back, &f, sizeof f) == 0 || f != f) break;
    }
    return buf;
}

/* A float attribute always shows it is one ("1.0", not "1"), so the
 * reader can tell it from an int. */
static void print_attr_float(float f, FILE *out) {
    char buf[32];
    f32_str(f, buf);
    fputs(buf, out);
    if (strspn(buf, "-0123456789") == strlen(buf)) fputs(".0", out);
}

static void print_string(const char *s, FILE *out) {
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

/* Tensors of at most this many elements print their values. */
#define IR_PRINT_MAX_ELEMS 16

/* " = {1 2 3}" for a small tensor of a printable type; nothing otherwise. */
static void print_data(const Value *v, FILE *out) {
    int64_t n = shape_numel(&v->shape);
    if (!v->data || v->shape.rank < 0 || shape_is_dynamic(&v->shape) || n > IR_PRINT_MAX_ELEMS ||
        !dtype_size(v->dtype))
        return;
    char buf[32];
    fputs(" = {", out);
    for (int64_t i = 0; i < n; i++) {
        if (i) fputc(' ', out);
        const void *p = (const char *)v->data + (size_t)i * dtype_size(v->dtype);
        switch (v->dtype) {
        case DT_F32:
            fputs(f32_str(*(const float *)p, buf), out);
            break;
        case DT_F64:
            fputs(f64_str(*(const double *)p, buf), out);
            break;
        case DT_I8:
            fprintf(out, "%d", *(const int8_t *)p);
            break;
        case DT_I16:
            fprintf(out, "%d", *(const int16_t *)p);
            break;
        case DT_I32:
            fprintf(out, "%d", *(const int32_t *)p);
            break;
        case DT_I64:
            fprintf(out, "%lld", (long long)*(const int64_t *)p);
            break;
        case DT_U8:
        case DT_BOOL:
            fprintf(out, "%u", *(const uint8_t *)p);
            break;
        case DT_U16:
            fprintf(out, "%u", *(const uint16_t *)p);
            break;
        case DT_U32:
            fprintf(out, "%u", *(const uint32_t *)p);
            break;
        case DT_U64:
            fprintf(out, "%llu", (unsigned long long)*(const uint64_t *)p);
            break;
        /* Half floats as their bit patterns: exact without a converter. */
        case DT_F16:
        case DT_BF16:
            fprintf(out, "0x%04x", *(const uint16_t *)p);
            break;
        default:
            break;
        }
    }
    fputc('}', out);
}

static void print_value_type(const Value *v, FILE *out) {
    char buf[160];
    fprintf(out, "%s%s", dtype_name(v->dtype), shape_str(&v->shape, buf, sizeof buf));
}

static void print_attr(const Attr *a, FILE *out) {
    fprintf(out, "%s=", a->name);
    switch (a->kind) {
    case ATTR_FLOAT:
        print_attr_float(a->f, out);
        break;
    case ATTR_INT:
        fprintf(out, "%lld", (long long)a->i);
        break;
    case ATTR_STRING:
        print_string(a->s, out);
        break;
    case ATTR_TENSOR:
        if (!a->t) {
            fputs("<tensor>", out);
            break;
        }
        fputc('<', out);
        print_value_type(a->t, out);
        print_data(a->t, out);
        fputc('>', out);
        break;
    case ATTR_FLOATS:
        fputc('[', out);
        for (int i = 0; i < a->n; i++) {
            if (i) fputc(',', out);
            print_attr_float(a->floats[i], out);
        }
        fputc(']', out);
        break;
    case ATTR_INTS:
        fputc('[', out);
        for (int i = 0; i < a->n; i++)
            fprintf(out, "%s%lld", i ? "," : "", (long long)a->ints[i]);
        fputc(']', out);
        break;
    case ATTR_STRINGS:
        fputc('[', out);
        for (int i = 0; i < a->n; i++) {
            if (i) fputc(',', out);
            print_string(a->strings[i], out);
        }
        fputc(']', out);
        break;
    }
}

static const char *epilogue_names[] = {"",      "relu",       "sigmoid",     "tanh",
                                       "clamp", "leaky_relu", "hardsigmoid", "hardswish",
                                       "silu",  "gelu",       "gelu_tanh"};
static_assert(sizeof epilogue_names / sizeof *epilogue_names == EPI_COUNT, "one name per Epilogue");

int ir_epilogue_has_params(Epilogue e) {
    return e == EPI_CLAMP || e == EPI_LEAKY_RELU || e == EPI_HARDSIGMOID;
}

Epilogue ir_epilogue_lookup(const char *word) {
    for (int e = 1; e < EPI_COUNT; e++)
        if (strcmp(word, epilogue_names[e]) == 0) return (Epilogue)e;
    return EPI_COUNT;
}

void ir_graph_print(const Graph *g, FILE *out) {
    const char *base = strrchr(g->source_path, '/');
    fprintf(out, "graph %s opset %d (%s)\n", g->name, g->opset, base ? base + 1 : g->source_path);
    for (int i = 0; i < g->n_inputs; i++) {
        fprintf(out, "  input  %%%s: ", g->inputs[i]->name);
        print_value_type(g->inputs[i], out);
        fputc('\n', out);
    }
    for (int i = 0; i < g->n_values; i++) {
        const Value *v = g->values[i];
        if (!v->data || v->input_index >= 0) continue;
        fprintf(out, "  init   %%%s: ", v->name);
        print_value_type(v, out);
        print_data(v, out);
        fputc('\n', out);
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const Node *n = g->nodes[i];
        fputs("  ", out);
        for (int j = 0; j < n->n_outputs; j++) {
            if (j) fputs(", ", out);
            if (!n->outputs[j]) continue;
            fprintf(out, "%%%s: ", n->outputs[j]->name);
            print_value_type(n->outputs[j], out);
        }
        fprintf(out, " = %s '%s' (", n->op == OP_UNKNOWN ? n->op_type : op_info(n->op)->name,
                n->name);
        for (int j = 0; j < n->n_inputs; j++)
            fprintf(out, "%s%s%s", j ? ", " : "", n->inputs[j] ? "%" : "",
                    n->inputs[j] ? n->inputs[j]->name : "_");
        fputc(')', out);
        if (n->n_attrs) {
            fputs(" {", out);
            for (int j = 0; j < n->n_attrs; j++) {
                if (j) fputs(", ", out);
                print_attr(&n->attrs[j], out);
            }
            fputc('}', out);
        }
        if (n->gemm_packed_b) fputs(" +packed", out);
        if (n->conv_residual) fputs(" +residual", out);
        if (n->epilogue) fprintf(out, " +%s", epilogue_names[n->epilogue]);
        if (ir_epilogue_has_params(n->epilogue)) {
            char lo[32], hi[32];
            fprintf(out, "(%s,%s)", f32_str(n->epi_a, lo), f32_str(n->epi_b, hi));
        }
        fputc('\n', out);
    }
    for (int i = 0; i < g->n_outputs; i++)
        fprintf(out, "  output %%%s\n", g->outputs[i]->name);
}
