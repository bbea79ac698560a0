/* ir_read.c: the IR text form (ir.h, printed by ir_graph_print) read back
 * into a Graph, so pass tests can be written as text in, text out.
 *
 * One line at a time, each with a cursor; nothing backtracks further than
 * a token. Names end where the printer puts a separator after them (": "
 * after a definition, ", " or ")" in an input list), so names holding
 * those are not supported; everything else ONNX allows (`/net/Relu`,
 * `onnx::Conv_39`) is. Values must be defined before they are used, as
 * the printer writes them.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

typedef struct Reader {
    Arena *a;
    Graph *g;
    Diag *d;
    const char *path;
    int line;      /* 1-based, for messages */
    const char *p; /* cursor in the current line */
    int bad;       /* an error was reported */
    uint32_t fill; /* xorshift state for initializers printed without values */
} Reader;

/* Reports "path:line: message". */
static void fail(Reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(Reader *r, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    diag_file(r->d, arena_printf(r->a, "%s:%d", r->path, r->line), "%s", msg);
    r->bad = 1;
}

/* --- tokens ---------------------------------------------------------------- */

static int eat(Reader *r, const char *s) {
    size_t n = strlen(s);
    if (strncmp(r->p, s, n) != 0) return 0;
    r->p += n;
    return 1;
}

static int expect(Reader *r, const char *s) {
    if (eat(r, s)) return 0;
    fail(r, "expected '%s'", s);
    return -1;
}

static void skip_spaces(Reader *r) {
    while (*r->p == ' ' || *r->p == '\t')
        r->p++;
}

/* The text up to (not including) the first occurrence of any of the
 * `stops` strings, or to the end of the line; the cursor moves past it. */
static char *until(Reader *r, const char *const *stops, int n_stops) {
    const char *end = r->p + strlen(r->p);
    for (int i = 0; i < n_stops; i++) {
        const char *q = strstr(r->p, stops[i]);
        if (q && q < end) end = q;
    }
    size_t len = (size_t)(end - r->p);
    char *s = arena_alloc(r->a, len + 1);
    memcpy(s, r->p, len);
    r->p = end;
    return s;
}

/* A run of characters that can make up a number, `nan` or `inf`. */
static char *number_token(Reader *r) {
    size_t len = strspn(r->p, "+-.0123456789abcdefinxABCDEFINX");
    char *s = arena_alloc(r->a, len + 1);
    memcpy(s, r->p, len);
    r->p += len;
    return s;
}

static int is_int_token(const char *s) {
    return *s && strspn(s, "+-0123456789") == strlen(s);
}

static int parse_int(Reader *r, const char *tok, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(tok, &end, 0);
    if (!*tok || *end || errno) {
        fail(r, "'%s' is not an integer", tok);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_double(Reader *r, const char *tok, double *out) {
    char *end;
    *out = strtod(tok, &end);
    if (!*tok || *end) {
        fail(r, "'%s' is not a number", tok);
        return -1;
    }
    return 0;
}

static int parse_float(Reader *r, const char *tok, float *out) {
    char *end;
    *out = strtof(tok, &end); /* not via double: that could round twice */
    if (!*tok || *end) {
        fail(r, "'%s' is not a number", tok);
        return -1;
    }
    return 0;
}

/* "..." with the printer's escapes (\" \\ \xNN). */
static char *parse_string(Reader *r) {
    if (expect(r, "\"")) return NULL;
    char *s = arena_alloc(r->a, strlen(r->p) + 1), *o = s;
    while (*r->p && *r->p != '"') {
        if (*r->p != '\\') {
            *o++ = *r->p++;
            continue;
        }
        r->p++;
        if (*r->p == 'x' && r->p[1] && r->p[2]) {
            char hex[3] = {r->p[1], r->p[2], 0};
            *o++ = (char)strtol(hex, NULL, 16);
            r->p += 3;
        } else if (*r->p) {
            *o++ = *r->p++;
        }
    }
    if (expect(r, "\"")) return NULL;
    return s;
}

/* --- types and values ---------------------------------------------------------- */

static int parse_dtype(Reader *r, DType *out) {
    size_t len = strcspn(r->p, "[");
    if (len == 1 && *r->p == '?') {
        *out = DT_UNDEF;
        r->p++;
        return 0;
    }
    for (int t = 1; t <= DT_BF16; t++) {
        const char *name = dtype_name((DType)t);
        if (strcmp(name, "?") != 0 && strlen(name) == len && strncmp(r->p, name, len) == 0) {
            *out = (DType)t;
            r->p += len;
            return 0;
        }
    }
    fail(r, "unknown element type at '%s'", r->p);
    return -1;
}

/* "[batch,30]", "[]" (a scalar) or "[?]" (unknown rank); symbolic dims in
 * dim.h's text form. */
static int parse_shape(Reader *r, Shape *s) {
    if (expect(r, "[")) return -1;
    s->rank = 0;
    if (eat(r, "?]")) {
        s->rank = -1;
        return 0;
    }
    while (!eat(r, "]")) {
        if (s->rank && expect(r, ",")) return -1;
        if (s->rank == IR_MAX_RANK) {
            fail(r, "more than %d dims", IR_MAX_RANK);
            return -1;
        }
        skip_spaces(r);
        const char *at = r->p;
        Dim v = dim_parse(&r->p);
        if (v == DIM_INVALID) {
            fail(r, "bad dim at '%s'", at);
            return -1;
        }
        int64_t c;
        if (dim_value(v, &c) && c < 0) {
            fail(r, "negative dim at '%s'", at);
            return -1;
        }
        s->dims[s->rank++] = v;
    }
    return 0;
}

static int parse_type(Reader *r, DType *t, Shape *s) {
    if (parse_dtype(r, t)) return -1;
    return parse_shape(r, s);
}

/* "{1 2 3}": exactly numel values of v's dtype into v->data. */
static int parse_data(Reader *r, Value *v) {
    int64_t n = shape_numel(&v->shape);
    size_t es = dtype_size(v->dtype);
    if (v->shape.rank < 0 || shape_is_dynamic(&v->shape) || !es) {
        fail(r, "values given for '%s', which has no static shape or numeric type", v->name);
        return -1;
    }
    if (expect(r, "{")) return -1;
    char *data = arena_alloc_aligned(r->a, (size_t)n * es + 1, 64);
    int64_t i = 0;
    for (;; i++) {
        skip_spaces(r);
        if (eat(r, "}")) break;
        if (i == n) {
            fail(r, "more values than the shape of '%s' holds", v->name);
            return -1;
        }
        const char *tok = number_token(r);
        void *p = data + (size_t)i * es;
        int64_t iv = 0;
        double dv = 0;
        float fv = 0;
        switch (v->dtype) {
        case DT_F32:
            if (parse_float(r, tok, &fv)) return -1;
            memcpy(p, &fv, 4);
            break;
        case DT_F64:
            if (parse_double(r, tok, &dv)) return -1;
            memcpy(p, &dv, 8);
            break;
        case DT_U64: {
            char *end;
            unsigned long long u = strtoull(tok, &end, 0);
            if (!*tok || *end) {
                fail(r, "'%s' is not an integer", tok);
                return -1;
            }
            memcpy(p, &u, 8);
            break;
        }
        default: /* integers, bool, and f16/bf16 as bit patterns */
            if (parse_int(r, tok, &iv)) return -1;
            if (es == 1) *(uint8_t *)p = (uint8_t)iv;
            if (es == 2) *(uint16_t *)p = (uint16_t)iv;
            if (es == 4) *(uint32_t *)p = (uint32_t)iv;
            if (es == 8) *(int64_t *)p = iv;
            break;
        }
    }
    if (i != n) {
        fail(r, "fewer values than the shape of '%s' holds", v->name);
        return -1;
    }
    v->data = data;
    return 0;
}

/* A deterministic stand-in for an initializer printed without values:
 * floats in [-1, 1), everything else zero. */
static void fill_data(Reader *r, Value *v) {
    int64_t n = shape_numel(&v->shape);
    size_t es = dtype_size(v->dtype);
    char *data = arena_alloc_aligned(r->a, (size_t)n * es + 1, 64);
    v->data = data;
    if (v->dtype != DT_F32 && v->dtype != DT_F64) return;
    for (int64_t i = 0; i < n; i++) {
        uint32_t x = r->fill;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        r->fill = x;
        double f = (double)(x >> 8) / (double)(1u << 23) - 1.0;
        if (v->dtype == DT_F32)
            ((float *)data)[i] = (float)f;
        else
            ((double *)data)[i] = f;
    }
}

/* "%name" up to the first of `stops`. */
static char *parse_name(Reader *r, const char *const *stops, int n_stops) {
    if (expect(r, "%")) return NULL;
    char *name = until(r, stops, n_stops);
    if (!*name) fail(r, "a value needs a name");
    return *name ? name : NULL;
}

static Value *define(Reader *r, const char *name, DType t, const Shape *s) {
    if (ir_value_find(r->g, name)) {
        fail(r, "value '%s' is defined twice", name);
        return NULL;
    }
    Value *v = ir_value_add(r->g, name, t);
    v->shape = *s;
    return v;
}

static Value *use(Reader *r, const char *name) {
    Value *v = ir_value_find(r->g, name);
    if (!v) fail(r, "value '%s' is used before it is defined", name);
    return v;
}

/* --- lines --------------------------------------------------------------------- */

static const char *const colon[] = {": "};

/* "%name: type" of an input or initializer. */
static Value *parse_definition(Reader *r) {
    char *name = parse_name(r, colon, 1);
    DType t;
    Shape s;
    if (!name || expect(r, ": ") || parse_type(r, &t, &s)) return NULL;
    return define(r, name, t, &s);
}

static void line_input(Reader *r) {
    skip_spaces(r);
    Value *v = parse_definition(r);
    if (v) ir_graph_add_input(r->g, v);
}

static void line_init(Reader *r) {
    skip_spaces(r);
    Value *v = parse_definition(r);
    if (!v) return;
    if (v->shape.rank < 0 || shape_is_dynamic(&v->shape)) {
        fail(r, "initializer '%s' needs a static shape", v->name);
        return;
    }
    if (eat(r, " = "))
        parse_data(r, v);
    else
        fill_data(r, v);
}

static void line_output(Reader *r) {
    skip_spaces(r);
    if (expect(r, "%")) return;
    char *name = until(r, NULL, 0);
    size_t n = strlen(name);
    while (n && (name[n - 1] == ' ' || name[n - 1] == '\t'))
        name[--n] = 0;
    Value *v = use(r, name);
    if (v) ir_graph_add_output(r->g, v);
}

/* One attribute value after "name=". */
static int parse_attr(Reader *r, Node *n, const char *name) {
    if (*r->p == '"') {
        char *s = parse_string(r);
        if (!s) return -1;
        ir_attr_add(n, name, ATTR_STRING)->s = s;
        return 0;
    }
    if (eat(r, "<")) {
        Attr *at = ir_attr_add(n, name, ATTR_TENSOR);
        if (eat(r, "tensor>")) return 0;
        Value *t = arena_alloc(r->a, sizeof(Value));
        t->name = arena_printf(r->a, "%s.%s", n->name, name);
        t->input_index = t->output_index = -1;
        t->decl_shape.rank = -1;
        if (parse_type(r, &t->dtype, &t->shape)) return -1;
        if (eat(r, " = ")) {
            if (parse_data(r, t)) return -1;
        } else if (t->shape.rank >= 0 && !shape_is_dynamic(&t->shape) && dtype_size(t->dtype)) {
            fill_data(r, t);
        }
        at->t = t;
        return expect(r, ">");
    }
    if (eat(r, "[")) {
        /* Strings, else floats if any element is written as one, else ints;
         * an empty list reads as ints. */
        int cap = 8, count = 0, floats = 0, strings = *r->p == '"';
        char **toks = arena_alloc(r->a, sizeof(char *) * (size_t)cap);
        while (!eat(r, "]")) {
            if (count && expect(r, ",")) return -1;
            if (count == cap) {
                char **more = arena_alloc(r->a, sizeof(char *) * (size_t)(cap *= 2));
                memcpy(more, toks, sizeof(char *) * (size_t)count);
                toks = more;
            }
            char *tok = strings ? parse_string(r) : number_token(r);
            if (!tok) return -1;
            if (!strings && !*tok) {
                fail(r, "bad list element at '%s'", r->p);
                return -1;
            }
            floats |= !strings && !is_int_token(tok);
            toks[count++] = tok;
        }
        Attr *at = ir_attr_add(n, name, strings ? ATTR_STRINGS : floats ? ATTR_FLOATS : ATTR_INTS);
        at->n = count;
        if (strings) {
            at->strings = (const char **)toks;
            return 0;
        }
        if (floats) at->floats = arena_alloc(r->a, sizeof(float) * (size_t)(count + 1));
        if (!floats) at->ints = arena_alloc(r->a, sizeof(int64_t) * (size_t)(count + 1));
        for (int i = 0; i < count; i++) {
            int bad = floats ? parse_float(r, toks[i], &at->floats[i])
                             : parse_int(r, toks[i], &at->ints[i]);
            if (bad) return -1;
        }
        return 0;
    }
    char *tok = number_token(r);
    if (is_int_token(tok)) {
        int64_t v;
        if (parse_int(r, tok, &v)) return -1;
        ir_attr_add(n, name, ATTR_INT)->i = v;
        return 0;
    }
    float f;
    if (parse_float(r, tok, &f)) return -1;
    ir_attr_add(n, name, ATTR_FLOAT)->f = f;
    return 0;
}

/* "+relu", "+packed", "+residual", "+clamp(0,6)": fused state printed after the
 * attributes. The activation epilogues are read; other words are accepted
 * and skipped, so dumps with markers this reader does not know yet still
 * load (a test comparing the reprint will show what was dropped). */
static int parse_marker(Reader *r, Node *n) {
    size_t len = strspn(r->p, "abcdefghijklmnopqrstuvwxyz0123456789_");
    if (!len) {
        fail(r, "expected a marker word after '+' at '%s'", r->p);
        return -1;
    }
    char *word = arena_alloc(r->a, len + 1);
    memcpy(word, r->p, len);
    r->p += len;
    const char *args = NULL;
    if (eat(r, "(")) {
        args = r->p;
        const char *close = strchr(r->p, ')');
        if (!close) {
            fail(r, "marker '+%s(' has no ')'", word);
            return -1;
        }
        r->p = close + 1;
    }
    if (strcmp(word, "packed") == 0) {
        n->gemm_packed_b = 1;
        return 0;
    }
    if (strcmp(word, "residual") == 0) {
        n->conv_residual = 1;
        return 0;
    }
    Epilogue e = ir_epilogue_lookup(word);
    if (e == EPI_COUNT) return 0;
    n->epilogue = e;
    if (!ir_epilogue_has_params(e)) return 0;
    /* "+clamp(lo,hi)": the parameters as the printer writes them. */
    char *end = NULL;
    float a = args ? strtof(args, &end) : 0.0f;
    if (!args || *end != ',') {
        fail(r, "expected '+%s(A,B)'", word);
        return -1;
    }
    float b = strtof(end + 1, &end);
    if (*end != ')') {
        fail(r, "expected '+%s(A,B)'", word);
        return -1;
    }
    n->epi_a = a;
    n->epi_b = b;
    return 0;
}

/* "%y: f32[N,2], %m: ?[?] = Op 'name' (%a, _) {k=v, ...} +marker" */
static void line_node(Reader *r) {
    /* Every output slot after the first starts with ", ". */
    Value **outs = arena_alloc(r->a, sizeof(Value *) * (strlen(r->p) / 2 + 1));
    int n_out = 0;
    static const char *const out_stops[] = {": ", ", ", " = "};
    /* Outputs: slots separated by ", ", an empty slot is an omitted output. */
    while (!eat(r, " = ") && !eat(r, "= ")) {
        if (n_out && expect(r, ", ")) return;
        if (*r->p != '%') {
            outs[n_out++] = NULL;
            continue;
        }
        char *name = parse_name(r, out_stops, 3);
        DType t;
        Shape s;
        if (!name || expect(r, ": ") || parse_type(r, &t, &s)) return;
        if (!(outs[n_out++] = define(r, name, t, &s))) return;
    }
    static const char *const space[] = {" "};
    char *op_type = until(r, space, 1);
    char *name;
    static const char *const quote_paren[] = {"' ("};
    if (expect(r, " '") || !*(name = until(r, quote_paren, 1)) || expect(r, "' (")) return;

    /* Each input takes at least two characters ("_" and ", "). */
    Value **ins = arena_alloc(r->a, sizeof(Value *) * (strlen(r->p) / 2 + 1));
    int n_in = 0;
    static const char *const in_stops[] = {", ", ")"};
    while (!eat(r, ")")) {
        if (n_in && expect(r, ", ")) return;
        if (eat(r, "_")) {
            ins[n_in++] = NULL;
            continue;
        }
        char *in = parse_name(r, in_stops, 2);
        if (!in || !(ins[n_in++] = use(r, in))) return;
    }
    OpKind op = op_lookup(op_type); /* the text form names no domain; ONNX-ML names are distinct */
    if (op == OP_UNKNOWN) op = op_lookup_domain(KILN_DOMAIN_ML, op_type);
    Node *n = ir_node_add(r->g, op, op_type, name, n_in, ins, n_out, outs);

    if (eat(r, " {")) {
        static const char *const eq[] = {"="};
        while (!eat(r, "}")) {
            if (n->n_attrs && expect(r, ", ")) return;
            char *attr = until(r, eq, 1);
            if (!*attr || expect(r, "=") || parse_attr(r, n, attr)) return;
        }
    }
    while (eat(r, " +"))
        if (parse_marker(r, n)) return;
    skip_spaces(r);
    if (*r->p) fail(r, "unexpected '%s' at the end of the line", r->p);
}

/* "graph NAME opset N (SOURCE)" */
static void line_graph(Reader *r) {
    static const char *const opset[] = {" opset "};
    char *name = until(r, opset, 1);
    int64_t v = 0;
    if (!*name || expect(r, " opset ") || parse_int(r, number_token(r), &v) || expect(r, " ("))
        return;
    const char *close = strrchr(r->p, ')');
    if (!close) {
        fail(r, "expected ')'");
        return;
    }
    char *src = arena_alloc(r->a, (size_t)(close - r->p) + 1);
    memcpy(src, r->p, (size_t)(close - r->p));
    r->g = ir_graph_create(r->a, src);
    r->g->name = name;
    r->g->opset = (int)v;
}

int ir_graph_parse(Arena *a, const char *text, const char *path, Graph **out, Diag *d) {
    Reader r = {.a = a, .d = d, .path = path ? path : "<text>", .fill = 0x2545f491u};
    *out = NULL;
    for (const char *line = text; *line;) {
        size_t len = strcspn(line, "\n");
        char *buf = arena_alloc(a, len + 1);
        memcpy(buf, line, len);
        if (len && buf[len - 1] == '\r') buf[len - 1] = 0;
        line += len + (line[len] == '\n');
        r.line++;
        r.p = buf;
        skip_spaces(&r);
        if (!*r.p || *r.p == '#') continue;
        if (!r.g) {
            if (eat(&r, "graph "))
                line_graph(&r);
            else
                fail(&r, "expected 'graph NAME opset N (SOURCE)', got '%s'", r.p);
            if (!r.g) return -1;
            continue;
        }
        if (eat(&r, "input "))
            line_input(&r);
        else if (eat(&r, "init "))
            line_init(&r);
        else if (eat(&r, "output "))
            line_output(&r);
        else if (*r.p == '%' || *r.p == '=' || *r.p == ',')
            line_node(&r);
        else
            fail(&r, "expected input, init, output or a node, got '%s'", r.p);
    }
    if (!r.g) {
        fail(&r, "no 'graph' line");
        return -1;
    }
    if (r.bad) return -1;
    ir_graph_recount(r.g);
    *out = r.g;
    return 0;
}
