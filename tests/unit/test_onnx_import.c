/* test_onnx_import.c: ONNX model -> IR (frontends/onnx).
 *
 * Each test builds a tiny ModelProto with the protobuf-c API, writes it to
 * a temporary directory and loads it with onnx_load(), capturing the
 * diagnostics in memory so messages can be checked word for word.
 */
#include "fixture.h"
#include "frontends.h"
#include "onnx/onnx.pb-c.h"

/* --- building models ------------------------------------------------------- */

/* "x,,y" -> {"x", "", "y"}; "" -> nothing. */
static char **split(Arena *a, const char *list, size_t *n) {
    *n = 0;
    if (!*list) return NULL;
    size_t cap = 1;
    for (const char *p = list; *p; p++)
        cap += *p == ',';
    char **items = arena_alloc(a, sizeof(char *) * cap);
    char *copy = arena_strdup(a, list), *p = copy;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma) *comma = '\0';
        items[(*n)++] = p;
        if (!comma) break;
        p = comma + 1;
    }
    return items;
}

static int is_number(const char *s) {
    if (!*s) return 0;
    for (s += *s == '-'; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

/* A tensor ValueInfo; dims "N,4": numbers are dim_value, "?" has no value,
 * anything else is a dim_param. dims NULL: no shape at all. */
static Onnx__ValueInfoProto *vi(Arena *a, const char *name, int elem, const char *dims) {
    Onnx__ValueInfoProto *v = arena_alloc(a, sizeof *v);
    Onnx__TypeProto *tp = arena_alloc(a, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = arena_alloc(a, sizeof *tt);
    *v = (Onnx__ValueInfoProto)ONNX__VALUE_INFO_PROTO__INIT;
    *tp = (Onnx__TypeProto)ONNX__TYPE_PROTO__INIT;
    *tt = (Onnx__TypeProto__Tensor)ONNX__TYPE_PROTO__TENSOR__INIT;
    v->name = arena_strdup(a, name);
    v->type = tp;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    tt->has_elem_type = 1;
    tt->elem_type = elem;
    if (!dims) return v;
    Onnx__TensorShapeProto *sp = arena_alloc(a, sizeof *sp);
    *sp = (Onnx__TensorShapeProto)ONNX__TENSOR_SHAPE_PROTO__INIT;
    tt->shape = sp;
    char **items = split(a, dims, &sp->n_dim);
    sp->dim = arena_alloc(a, sizeof(void *) * (sp->n_dim + 1));
    for (size_t i = 0; i < sp->n_dim; i++) {
        Onnx__TensorShapeProto__Dimension *d = arena_alloc(a, sizeof *d);
        *d = (Onnx__TensorShapeProto__Dimension)ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
        if (is_number(items[i])) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = atoll(items[i]);
        } else if (strcmp(items[i], "?") != 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = items[i];
        }
        sp->dim[i] = d;
    }
    return v;
}

/* A TensorProto with name, type and dims "4,4" (or "" for a scalar), no data. */
static Onnx__TensorProto *tensor(Arena *a, const char *name, int dtype, const char *dims) {
    Onnx__TensorProto *t = arena_alloc(a, sizeof *t);
    *t = (Onnx__TensorProto)ONNX__TENSOR_PROTO__INIT;
    t->name = arena_strdup(a, name);
    t->has_data_type = 1;
    t->data_type = dtype;
    char **items = split(a, dims, &t->n_dims);
    t->dims = arena_alloc(a, sizeof(int64_t) * (t->n_dims + 1));
    for (size_t i = 0; i < t->n_dims; i++)
        t->dims[i] = atoll(items[i]);
    return t;
}

static Onnx__TensorProto *tensor_raw(Arena *a, const char *name, int dtype, const char *dims,
                                     const void *bytes, size_t n) {
    Onnx__TensorProto *t = tensor(a, name, dtype, dims);
    t->has_raw_data = 1;
    t->raw_data.len = n;
    t->raw_data.data = arena_alloc(a, n + 1);
    memcpy(t->raw_data.data, bytes, n);
    return t;
}

static Onnx__TensorProto *tensor_floats(Arena *a, const char *name, const char *dims,
                                        const float *v, size_t n) {
    Onnx__TensorProto *t = tensor(a, name, 1, dims);
    t->n_float_data = n;
    t->float_data = arena_alloc(a, sizeof(float) * (n + 1));
    memcpy(t->float_data, v, sizeof(float) * n);
    return t;
}

static void tensor_external(Arena *a, Onnx__TensorProto *t, const char *location,
                            const char *offset, const char *length) {
    const char *kv[][2] = {{"location", location}, {"offset", offset}, {"length", length}};
    t->has_data_location = 1;
    t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    t->external_data = arena_alloc(a, sizeof(void *) * 3);
    for (int i = 0; i < 3; i++) {
        if (!kv[i][1]) continue;
        Onnx__StringStringEntryProto *e = arena_alloc(a, sizeof *e);
        *e = (Onnx__StringStringEntryProto)ONNX__STRING_STRING_ENTRY_PROTO__INIT;
        e->key = arena_strdup(a, kv[i][0]);
        e->value = arena_strdup(a, kv[i][1]);
        t->external_data[t->n_external_data++] = e;
    }
}

/* A node "Op" named name (NULL: unnamed) with comma-separated inputs and
 * outputs, "" items being omitted ones. */
static Onnx__NodeProto *node(Arena *a, const char *op, const char *name, const char *ins,
                             const char *outs) {
    Onnx__NodeProto *n = arena_alloc(a, sizeof *n);
    *n = (Onnx__NodeProto)ONNX__NODE_PROTO__INIT;
    n->op_type = arena_strdup(a, op);
    n->name = name ? arena_strdup(a, name) : NULL;
    n->input = split(a, ins, &n->n_input);
    n->output = split(a, outs, &n->n_output);
    return n;
}

static Onnx__AttributeProto *attr(Arena *a, Onnx__NodeProto *n, const char *name,
                                  Onnx__AttributeProto__AttributeType type) {
    Onnx__AttributeProto **list = arena_alloc(a, sizeof(void *) * (n->n_attribute + 1));
    if (n->n_attribute) memcpy(list, n->attribute, sizeof(void *) * n->n_attribute);
    Onnx__AttributeProto *at = arena_alloc(a, sizeof *at);
    *at = (Onnx__AttributeProto)ONNX__ATTRIBUTE_PROTO__INIT;
    at->name = arena_strdup(a, name);
    at->has_type = 1;
    at->type = type;
    at->has_f = type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    at->has_i = type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    list[n->n_attribute++] = at;
    n->attribute = list;
    return at;
}

typedef struct TestModel {
    Onnx__ModelProto m;
    Onnx__GraphProto g;
    Onnx__OperatorSetIdProto opset[2], *opsets[2];
    Onnx__NodeProto *nodes[16];
    Onnx__TensorProto *inits[16];
    Onnx__ValueInfoProto *inputs[8], *outputs[8];
} TestModel;

static TestModel *model_new(Arena *a) {
    TestModel *tm = arena_alloc(a, sizeof *tm);
    tm->m = (Onnx__ModelProto)ONNX__MODEL_PROTO__INIT;
    tm->g = (Onnx__GraphProto)ONNX__GRAPH_PROTO__INIT;
    tm->m.has_ir_version = 1;
    tm->m.ir_version = 8;
    tm->m.graph = &tm->g;
    tm->g.name = "test_graph";
    tm->opset[0] = (Onnx__OperatorSetIdProto)ONNX__OPERATOR_SET_ID_PROTO__INIT;
    tm->opset[0].domain = "";
    tm->opset[0].has_version = 1;
    tm->opset[0].version = 17;
    tm->opsets[0] = &tm->opset[0];
    tm->m.opset_import = tm->opsets;
    tm->m.n_opset_import = 1;
    tm->g.node = tm->nodes;
    tm->g.initializer = tm->inits;
    tm->g.input = tm->inputs;
    tm->g.output = tm->outputs;
    return tm;
}

static Onnx__NodeProto *add_node(TestModel *tm, Onnx__NodeProto *n) {
    return tm->nodes[tm->g.n_node++] = n;
}
static void add_init(TestModel *tm, Onnx__TensorProto *t) {
    tm->inits[tm->g.n_initializer++] = t;
}
static void add_input(TestModel *tm, Onnx__ValueInfoProto *v) {
    tm->inputs[tm->g.n_input++] = v;
}
static void add_output(TestModel *tm, Onnx__ValueInfoProto *v) {
    tm->outputs[tm->g.n_output++] = v;
}

static const char *model_write(State *s, TestModel *tm, const char *file) {
    size_t n = onnx__model_proto__get_packed_size(&tm->m);
    uint8_t *buf = arena_alloc(s->a, n + 1);
    assert_int_equal(onnx__model_proto__pack(&tm->m, buf), n);
    const char *path = path_in(s, file);
    write_bytes(path, buf, n);
    return path;
}

/* onnx_load with fresh diagnostics, so each load's messages stand alone. */
static int load_flags(State *s, const char *path, const OnnxShapeFlags *flags, Graph **g) {
    capture_reset(&s->c);
    /* As the driver does it: read the file once, import the bytes. */
    size_t len = 0;
    uint8_t *buf = file_read(path, &len, &s->c.d);
    int rc = buf ? onnx_load(s->a, path, buf, len, flags, g, &s->c.d) : -1;
    free(buf);
    return rc;
}

static int load(State *s, const char *path, const OnnxPin *pins, int n_pins, Graph **g) {
    OnnxShapeFlags flags = {pins, n_pins, NULL, 0};
    return load_flags(s, path, &flags, g);
}

/* Fails unless d is the bare symbol `name` with bounds [lo, hi]. */
static void assert_sym(Dim d, const char *name, int64_t lo, int64_t hi) {
    int k = dim_sym_of(d);
    if (k < 0) fail_msg("dim %lld is not a symbol (want '%s')", (long long)d, name);
    assert_string_equal(dim_sym_name(k), name);
    int64_t l, h;
    dim_sym_bounds(k, &l, &h);
    if (l != lo || h != hi)
        fail_msg("symbol '%s' has bounds [%lld, %lld], want [%lld, %lld]", name, (long long)l,
                 (long long)h, (long long)lo, (long long)hi);
}

/* A pin: the dims as lo[] and hi[] (lo == hi pins, -1 keeps the model's). */
#define PIN(name, rank, lo, hi) ((OnnxPin){name, rank, lo, hi})
#define DIMS(...)                                                                                  \
    { __VA_ARGS__ }

/* x[N,4] -> Gemm(fc1: raw weight, typed bias) -> Relu -> Gemm(fc2: typed) -> y[N,2] */
static TestModel *mlp(State *s) {
    Arena *a = s->a;
    TestModel *tm = model_new(a);
    float w1[3 * 4], b1[3] = {0.5f, -1, 2}, w2[2 * 3];
    for (int i = 0; i < 12; i++)
        w1[i] = (float)i;
    for (int i = 0; i < 6; i++)
        w2[i] = (float)-i;
    add_input(tm, vi(a, "x", 1, "N,4"));
    add_output(tm, vi(a, "y", 1, "N,2"));
    add_init(tm, tensor_raw(a, "fc1.weight", 1, "3,4", w1, sizeof w1));
    add_init(tm, tensor_floats(a, "fc1.bias", "3", b1, 3));
    add_init(tm, tensor_floats(a, "fc2.weight", "2,3", w2, 6));
    Onnx__NodeProto *n = add_node(tm, node(a, "Gemm", "fc1", "x,fc1.weight,fc1.bias", "h"));
    attr(a, n, "transB", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT)->i = 1;
    attr(a, n, "alpha", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT)->f = 0.5f;
    add_node(tm, node(a, "Relu", "relu1", "h", "hr"));
    n = add_node(tm, node(a, "Gemm", "fc2", "hr,fc2.weight", "y"));
    attr(a, n, "transB", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT)->i = 1;
    return tm;
}

/* --- a well-formed model ------------------------------------------------------ */

static void test_mlp_imports_with_shapes_attributes_and_initializers(void **state) {
    State *s = *state;
    Graph *g = NULL;
    assert_int_equal(load(s, model_write(s, mlp(s), "mlp.onnx"), NULL, 0, &g), 0);
    assert_no_diag(s);
    assert_non_null(g);
    assert_int_equal(g->opset, 17);
    assert_string_equal(g->name, "test_graph");
    assert_non_null(strstr(g->source_path, "mlp.onnx"));

    assert_int_equal(g->n_inputs, 1);
    Value *x = g->inputs[0];
    assert_string_equal(x->name, "x");
    assert_int_equal(x->dtype, DT_F32);
    assert_int_equal(x->shape.rank, 2);
    assert_sym(x->shape.dims[0], "N", DIM_DEFAULT_LO, DIM_DEFAULT_HI); /* its dim_param */
    assert_int_equal(x->shape.dims[1], 4);

    Value *w1 = ir_value_find(g, "fc1.weight");
    assert_non_null(w1);
    assert_non_null(w1->data);
    assert_int_equal((uintptr_t)w1->data % 64, 0);
    assert_int_equal(w1->shape.rank, 2);
    assert_int_equal(w1->shape.dims[0], 3);
    assert_int_equal(w1->shape.dims[1], 4);
    assert_true(((float *)w1->data)[11] == 11.0f);
    Value *b1 = ir_value_find(g, "fc1.bias");
    assert_true(((float *)b1->data)[0] == 0.5f && ((float *)b1->data)[2] == 2.0f);
    assert_int_equal(b1->input_index, -1);

    assert_int_equal(g->n_nodes, 3);
    Node *fc1 = g->nodes[0];
    assert_int_equal(fc1->op, OP_GEMM);
    assert_string_equal(fc1->name, "fc1");
    assert_string_equal(fc1->domain, "");
    assert_int_equal(fc1->opset, 17);
    assert_int_equal(fc1->n_inputs, 3);
    assert_ptr_equal(fc1->inputs[0], x);
    assert_ptr_equal(fc1->inputs[1], w1);
    assert_int_equal(ir_attr_int(fc1, "transB", 0), 1);
    assert_true(ir_attr_float(fc1, "alpha", 1) == 0.5f);
    assert_int_equal(g->nodes[1]->op, OP_RELU);
    assert_ptr_equal(g->nodes[1]->inputs[0], fc1->outputs[0]);
    assert_ptr_equal(fc1->outputs[0]->producer, fc1);

    assert_int_equal(g->n_outputs, 1);
    Value *y = g->outputs[0];
    assert_ptr_equal(y, g->nodes[2]->outputs[0]);
    assert_int_equal(y->dtype, DT_F32); /* declared by the model */
    /* The declared shape has a dynamic dim: shape inference computes the
     * shape and checks it against the declared one, whose dynamic dim is
     * unknown (DIM_INVALID). */
    assert_int_equal(y->shape.rank, -1);
    assert_int_equal(y->decl_shape.rank, 2);
    assert_true(y->decl_shape.dims[0] == DIM_INVALID);
    assert_int_equal(y->decl_shape.dims[1], 2);
    assert_int_equal(ir_graph_verify(g, &s->c.d), 0);
}

static void test_attributes_of_every_kind_are_kept(void **state) {
    State *s = *state;
    Arena *a = s->a;
    TestModel *tm = model_new(a);
    add_input(tm, vi(a, "x", 1, "2"));
    add_output(tm, vi(a, "y", 1, NULL));
    Onnx__NodeProto *n = add_node(tm, node(a, "Fancy", "f", "x", "y"));
    Onnx__AttributeProto *at = attr(a, n, "mode", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    at->has_s = 1;
    at->s.data = (uint8_t *)"linear";
    at->s.len = 6;
    at = attr(a, n, "pads", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    int64_t pads[] = {1, 2, 3, 4};
    at->ints = pads, at->n_ints = 4;
    at = attr(a, n, "scales", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS);
    float scales[] = {1.5f, 2.5f};
    at->floats = scales, at->n_floats = 2;
    at = attr(a, n, "names", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS);
    ProtobufCBinaryData names[] = {{1, (uint8_t *)"a"}, {2, (uint8_t *)"bc"}};
    at->strings = names, at->n_strings = 2;
    int64_t seven = 7;
    at = attr(a, n, "table", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR);
    at->t = tensor_raw(a, "", 7, "1", &seven, 8);
    /* A subgraph: Attr cannot hold it, and the op is unsupported anyway. */
    at = attr(a, n, "body", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH);
    Onnx__GraphProto *body = arena_alloc(a, sizeof *body);
    *body = (Onnx__GraphProto)ONNX__GRAPH_PROTO__INIT;
    at->g = body;
    /* IR version 1 style: no type, told by the field. */
    at = attr(a, n, "axis", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED);
    at->has_type = 0;
    at->has_i = 1;
    at->i = -1;

    Graph *g = NULL;
    assert_int_equal(load(s, model_write(s, tm, "attrs.onnx"), NULL, 0, &g), 0);
    assert_no_diag(s);
    Node *f = g->nodes[0];
    assert_int_equal(f->op, OP_UNKNOWN);
    assert_string_equal(ir_attr_str(f, "mode", ""), "linear");
    const Attr *p = ir_attr(f, "pads");
    assert_int_equal(p->kind, ATTR_INTS);
    assert_int_equal(p->n, 4);
    assert_int_equal(p->ints[3], 4);
    p = ir_attr(f, "scales");
    assert_true(p->kind == ATTR_FLOATS && p->n == 2 && p->floats[1] == 2.5f);
    p = ir_attr(f, "names");
    assert_true(p->kind == ATTR_STRINGS && p->n == 2);
    assert_string_equal(p->strings[1], "bc");
    p = ir_attr(f, "table");
    assert_int_equal(p->kind, ATTR_TENSOR);
    assert_int_equal(p->t->dtype, DT_I64);
    assert_int_equal(*(int64_t *)p->t->data, 7);
    assert_int_equal(p->t->id, -1);
    assert_null(ir_value_find(g, "")); /* not added to the graph */
    assert_null(ir_attr(f, "body"));
    assert_int_equal(ir_attr_int(f, "axis", 0), -1);
}

static void test_subgraph_attribute_on_a_supported_op_is_reported(void **state) {
    State *s = *state;
    Arena *a = s->a;
    TestModel *tm = model_new(a);
    add_input(tm, vi(a, "x", 1, "2"));
    add_output(tm, vi(a, "y", 1, NULL));
    Onnx__NodeProto *n = add_node(tm, node(a, "Relu", "r", "x", "y"));
    Onnx__AttributeProto *at = attr(a, n, "body", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH);
    Onnx__GraphProto *body = arena_alloc(a, sizeof *body);
    *body = (Onnx__GraphProto)ONNX__GRAPH_PROTO__INIT;
    at->g = body;
    Graph *g = NULL;
    assert_int_equal(load(s, model_write(s, tm, "sub.onnx"), NULL, 0, &g), -1);
    assert_diag(s, "node 'r' (Relu): attribute 'body' is a graph, which kiln does not support");
}

static void test_constant_nodes_become_initializers(void **state) {
    State *s = *state;
    Arena *a = s->a;
    TestModel *tm = model_new(a);
    add_input(tm, vi(a, "x", 1, "N,2"));
    add_output(tm, vi(a, "y", 1, NULL));
    float cv[] = {1, 2};
    Onnx__NodeProto *c = add_node(tm, node(a, "Constant", "c1", "", "c"));
    attr(a, c, "value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR)->t =
        tensor_floats(a, "", "2", cv, 2);
    Onnx__NodeProto *k = add_node(tm, node(a, "Constant", NULL, "", "shape"));
    int64_t shape[] = {-1, 2};
    Onnx__AttributeProto *at =
        attr(a, k, "value_ints", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    at->ints = shape, at->n_ints = 2;
    Onnx__NodeProto *f = add_node(tm, node(a, "Constant", NULL, "", "half"));
    attr(a, f, "value_float", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT)->f = 0.5f;
    add_node(tm, node(a, "Add", "add", "x,c", "s"));
    add_node(tm, node(a, "Reshape", "rs", "s,shape", "t"));
    add_node(tm, node(a, "Mul", "mul", "t,half", "y"));

    Graph *g = NULL;
    assert_int_equal(load(s, model_write(s, tm, "const.onnx"), NULL, 0, &g), 0);
    assert_no_diag(s);
    assert_int_equal(g->n_nodes, 3);
    assert_int_equal(g->nodes[0]->op, OP_ADD);
    Value *cval = ir_value_find(g, "c");
    assert_non_null(cval->data);
    assert_null(cval->producer);
    assert_true(cval->dtype == DT_F32 && cval->shape.rank == 1 && cval->shape.dims[0] == 2);
    assert_true(((float *)cval->data)[1] == 2.0f);
    Value *sh = ir_value_find(g, "shape");
    assert_true(sh->dtype == DT_I64 && sh->shape.rank == 1 && sh->shape.dims[0] == 2);
    assert_int_equal(((int64_t *)sh->data)[0], -1);
    Value *h = ir_value_find(g, "half");
    assert_true(h->dtype == DT_F32 && h->shape.rank == 0 && *(float *)h->data == 0.5f);
    assert_ptr_equal(g->nodes[0]->inputs[1], cval);
    assert_ptr_equal(g->nodes[1]->inputs[1], sh);
}

static void test_constant_with_a_string_value_is_unsupported(void **state) {
    State *s = *state;
    Arena *a = s->a;
    TestModel *tm = model_new(a);
    add_output(tm, vi(a, "c", 8, NULL));
    Onnx__NodeProto *c = add_node(tm, node(a, "Constant", "c1", "", "c"));
    Onnx__AttributeProto *at =
        attr(a, c, "value_string", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    at->has_s = 1;
    at->s.data = (uint8_t *)"hi";
    at->s.len = 2;
    Graph *g = NULL;
    assert_int_equal(load(s, model_write(s, tm, "cs.onnx"), NULL, 0, &g), -1);
    assert_null(g);
    assert_diag(s, "node 'c1' (Constant): attribute 'value_string' is not supported");
    assert_null(strstr(capture_text(&s->c), "graph output 'c'")); /* no follow-up noise */
}

/* --- typed data ------------------------------------------------------------------ */

static void test_typed_fields_of_every_fixed_size_type_decode(void **state) {
    State *s = *state;
    Arena *a = s->a;
    TestModel *tm = model_new(a);
    int32_t i32[] = {-1, 300, 0, 7};
    Onnx__TensorProto *t;
    static const int narrow[] = {3 /* i8 */,   2 /* u8 */,   5 /* i16 */,   4 /* u16 */,
                                 9 /* bool */, 10 /* f16 */, 16 /* bf16 */, 6 /* i32 */};
    for (size_t k = 0; k < sizeof narrow / sizeof *narrow; k++) {
        t = tensor(a, arena_printf(a, "t%d", narrow[k]), narrow[k], "2,2");
        t->int32_data = i32, t->n_int32_data = 4;
        add_init(tm, t);
    }
    int64_t i64[] = {INT64_MIN, 5};
    t = tensor(a, "t7", 7, "2");
    t->int64_data = i64, t->n_int64_data = 2;
    add_init(tm, t);
    double f64[] = {0.25, -3};
    t = tensor(a, "t11", 11, "2");
    t->double_data = f64, t->n_double_data = 2;
    add_init(tm, t);
    uint64_t u64[] = {UINT64_MAX, 0x100000002ull};
    t = tensor(a, "t13", 13, "2");
    t->uint64_data = u64, t->n_uint64_data = 2;
    add_init(tm, t);
    t = tensor(a, "t12", 12, "2");
    t->uint64_data = u64, t->n_uint64_data = 2;
    add_init(tm, t);
    float one = 1;
    add_init(tm, tensor_floats(a, "scalar", "", &one, 1));
    add_init(tm, tensor(a, "empty", 1, "0,3"));
    add_input(tm, vi(a, "x", 1, "1"));
    add_output(tm, vi(a, "x", 1, "1"));

    Graph *g = NULL;
    assert_int_equal(load(s, model_write(s, tm, "typed.onnx"), NULL, 0, &g), 0);
    assert_no_diag(s);
    int8_t *i8 = ir_value_find(g, "t3")->data;
    assert_true(i8[0] == -1 && i8[1] == 44 && i8[3] == 7);
    uint8_t *b = ir_value_find(g, "t9")->data;
    assert_true(b[0] == 1 && b[1] == 1 && b[2] == 0 && b[3] == 1);
    uint16_t *h = ir_value_find(g, "t10")->data;
    assert_true(h[0] == 0xffff && h[1] == 300);
    assert_int_equal(ir_value_find(g, "t16")->dtype, DT_BF16);
    assert_int_equal(((int32_t *)ir_value_find(g, "t6")->data)[1], 300);
    assert_true(((int64_t *)ir_value_find(g, "t7")->data)[0] == INT64_MIN);
    assert_true(((double *)ir_value_find(g, "t11")->data)[0] == 0.25);
    assert_true(((uint64_t *)ir_value_find(g, "t13")->data)[0] == UINT64_MAX);
    assert_int_equal(((uint32_t *)ir_value_find(g, "t12")->data)[1], 2);
    Value *sc = ir_value_find(g, "scalar");
    assert_true(sc->shape.rank == 0 && *(float *)sc->data == 1.0f);
    Value *e = ir_value_find(g, "empty");
    assert_true(e->data != NULL && e->shape.dims[0] == 0);
}

static void test_wrong_byte_count_names_tensor_shape_and_sizes(void **state) {
    State *s = *state;
    Arena *a = s->a;
    TestModel *tm = model_new(a);
    char bytes[12] = {0};
    add_init(tm, tensor_raw(a, "w", 1, "4,4", bytes, sizeof bytes));
    float f[3] = {0};
    add_init(tm, tensor_floats(a, "b", "4", f, 3));
    add_input(tm, vi(a, "x", 1, "4"));
    add_output(tm, vi(a, "x", 1, "4"));
    Graph *g = NULL;
    assert_int_equal(load(s, model_write(s, tm, "bytes.onnx"), NULL, 0, &g), -1);
    assert_null(g);
    assert_diag(s, "bytes.onnx: initializer 'w': 12 bytes of data for shape [4,4] of float (64 "
                   "bytes)");
    /* Both problems are reported, not just the first. */
    assert_diag(s, "initializer 'b': 3 values in float_data for shape [4] of float (4 values)");
    assert_int_equal(s->c.d.n_errors, 2);
    assert_int_equal(s->c.d.exit_code, EXIT_MODEL);
}

static void test_string_initializer_is_rejected_naming_its_type(void **state) {
    State *s = *state;
    Arena *a = s->a;
    TestModel *tm = model_new(a);
    add_init(tm, tensor(a, "labels", 8, "2"));
    add_node(tm, node(a, "Identity", "id", "labels", "y"));
    add_output(tm, vi(a, "y", 8, "2"));
    Graph *g = NULL;
    assert_int_equal(load(s, model_write(s, tm, "str.onnx"), NULL, 0, &g), -1);
    assert_diag(s, "initializer 'labels': data type string (8) is not supported");
    assert_int_equal(s->c.d.n_errors, 1); /* the Identity's input is not reported again */
}

static void test_negative_initializer_dim_is_rejected(void **state) {
    State *s = *state;
    Arena *a = s->a;
    TestModel *tm = model_new(a);
    add_init(tm, tensor(a, "w", 1, "2,-3"));
    add_input(tm, vi(a, "x", 1, "4"));
    add_output(tm, vi(a, "x", 1, "4"));
    Graph *g = NULL;
    assert_int_equal(load(s, model_write(s, tm, "neg.onnx"), NULL, 0, &g), -1);
    assert_diag(s, "initializer 'w': dim 1 is -3");
}

/* --- inputs, batch and pins -------------------------------------------------------- */

static TestModel *relu_model(State *s, const char *dims) {
    TestModel *tm = model_new(s->a);
    add_input(tm, vi(s->a, "x", 1, dims));
    add_output(tm, vi(s->a, "y", 1, NULL));
    add_node(tm, node(s->a, "Relu", "r", "x", "y"));
    return tm;
}

static void test_symbolic_leading_dim_becomes_a_symbol_named_by_its_dim_param(void **state) {
    State *s = *state;
    Graph *g = NULL;
    assert_int_equal(load(s, model_write(s, relu_model(s, "batch,3,8"), "b.onnx"), NULL, 0, &g), 0);
    assert_sym(g->inputs[0]->shape.dims[0], "batch", DIM_DEFAULT_LO, DIM_DEFAULT_HI);
    assert_int_equal(dim_n_syms(), 1);
    assert_int_equal(g->inputs[0]->shape.dims[2], 8);
    /* A leading dim without any value is a symbol too, named by kiln. */
    assert_int_equal(load(s, model_write(s, relu_model(s, "?,3"), "b2.onnx"), NULL, 0, &g), 0);
    assert_sym(g->inputs[0]->shape.dims[0], "unk_1", DIM_DEFAULT_LO, DIM_DEFAULT_HI);
}

static void test_symbolic_inner_dims_are_symbols_too(void **state) {
    State *s = *state;
    Graph *g = NULL;
    const char *path = model_write(s, relu_model(s, "batch,seq,8"), "seq.onnx");
    assert_int_equal(load(s, path, NULL, 0, &g), 0);
    assert_no_diag(s);
    Shape *sh = &g->inputs[0]->shape;
    assert_sym(sh->dims[0], "batch", DIM_DEFAULT_LO, DIM_DEFAULT_HI);
    assert_sym(sh->dims[1], "seq", DIM_DEFAULT_LO, DIM_DEFAULT_HI);
    assert_int_equal(sh->dims[2], 8);
    assert_int_equal(dim_n_syms(), 2);
    char buf[64];
    assert_string_equal(shape_str(sh, buf, sizeof buf), "[batch,seq,8]");
    /* Two unnamed dims are two symbols. */
    assert_int_equal(load(s, model_write(s, relu_model(s, "?,?,8"), "q.onnx"), NULL, 0, &g), 0);
    sh = &g->inputs[0]->shape;
    assert_sym(sh->dims[0], "unk_1", DIM_DEFAULT_LO, DIM_DEFAULT_HI);
    assert_sym(sh->dims[1], "unk_2", DIM_DEFAULT_LO, DIM_DEFAULT_HI);
}

static void test_pin_fixes_every_dim_of_an_input(void **state) {
    State *s = *state;
    Graph *g = NULL;
    const char *path = model_write(s, relu_model(s, "batch,seq,8"), "pin.onnx");
    OnnxPin pin = PIN("x", 3, DIMS(2, 16, 8), DIMS(2, 16, 8));
    assert_int_equal(load(s, path, &pin, 1, &g), 0);
    assert_no_diag(s);
    Shape *sh = &g->inputs[0]->shape;
    assert_true(sh->rank == 3 && sh->dims[0] == 2 && sh->dims[1] == 16 && sh->dims[2] == 8);
    /* The pin may keep the batch dynamic. */
    OnnxPin batch = PIN("x", 3, DIMS(-1, 16, 8), DIMS(-1, 16, 8));
    assert_int_equal(load(s, path, &batch, 1, &g), 0);
    assert_sym(g->inputs[0]->shape.dims[0], "batch", DIM_DEFAULT_LO, DIM_DEFAULT_HI);
    assert_int_equal(g->inputs[0]->shape.dims[1], 16);
}

static void test_pin_ranges_bound_the_symbols(void **state) {
    State *s = *state;
    Graph *g = NULL;
    const char *path = model_write(s, relu_model(s, "batch,seq,8"), "range.onnx");
    OnnxPin pin = PIN("x", 3, DIMS(1, 16, -1), DIMS(64, 512, -1));
    assert_int_equal(load(s, path, &pin, 1, &g), 0);
    assert_no_diag(s);
    Shape *sh = &g->inputs[0]->shape;
    assert_sym(sh->dims[0], "batch", 1, 64);
    assert_sym(sh->dims[1], "seq", 16, 512);
    assert_int_equal(sh->dims[2], 8);
    /* A pin of the fixed dim to its own size is fine; one of seq makes it a size. */
    OnnxPin same = PIN("x", 3, DIMS(-1, 4, 8), DIMS(-1, 4, 8));
    assert_int_equal(load(s, path, &same, 1, &g), 0);
    assert_sym(g->inputs[0]->shape.dims[0], "batch", DIM_DEFAULT_LO, DIM_DEFAULT_HI);
    assert_int_equal(g->inputs[0]->shape.dims[1], 4);
}

static void test_dim_flags_bound_or_pin_a_symbol_by_name(void **state) {
    State *s = *state;
    Graph *g = NULL;
    const char *path = model_write(s, relu_model(s, "batch,seq,8"), "dim.onnx");
    OnnxDimBound dims[] = {{"seq", 8, 128}};
    OnnxShapeFlags flags = {NULL, 0, dims, 1};
    assert_int_equal(load_flags(s, path, &flags, &g), 0);
    assert_no_diag(s);
    assert_sym(g->inputs[0]->shape.dims[0], "batch", DIM_DEFAULT_LO, DIM_DEFAULT_HI);
    assert_sym(g->inputs[0]->shape.dims[1], "seq", 8, 128);
    /* One size pins the symbol: the dim becomes that size. */
    OnnxDimBound pin[] = {{"batch", 3, 3}, {"seq", 1, 1024}};
    flags = (OnnxShapeFlags){NULL, 0, pin, 2};
    assert_int_equal(load_flags(s, path, &flags, &g), 0);
    assert_int_equal(g->inputs[0]->shape.dims[0], 3);
    assert_sym(g->inputs[0]->shape.dims[1], "seq", 1, 1024);
    /* With --shape too: the bounds intersect. */
    OnnxPin p = PIN("x", 3, DIMS(1, -1, -1), DIMS(64, -1, -1));
    OnnxDimBound b[] = {{"batch", 32, 256}};
    flags = (OnnxShapeFlags){&p, 1, b, 1};
    assert_int_equal(load_flags(s, path, &flags, &g), 0);
    assert_sym(g->inputs[0]->shape.dims[0], "batch", 32, 64);
    /* Bounds that exclude each other are a usage error. */
    OnnxDimBound far[] = {{"batch", 100, 200}};
    flags = (OnnxShapeFlags){&p, 1, far, 1};
    assert_int_equal(load_flags(s, path, &flags, &g), -1);
    assert_null(g);
    assert_diag(s, "kiln: --dim batch: the bounds exclude those --shape gives it");
    assert_int_equal(s->c.d.exit_code, EXIT_USAGE);
}

static void test_dim_flag_for_an_unknown_symbol_is_a_usage_error_listing_the_symbols(void **state) {
    State *s = *state;
    Graph *g = NULL;
    const char *path = model_write(s, relu_model(s, "batch,seq,8"), "unkdim.onnx");
    OnnxDimBound dims[] = {{"nope", 1, 8}};
    OnnxShapeFlags flags = {NULL, 0, dims, 1};
    assert_int_equal(load_flags(s, path, &flags, &g), -1);
    assert_null(g);
    assert_diag(s,
                arena_printf(s->a, "kiln: --dim nope: %s has no dynamic dim named 'nope'", path));
    assert_diag(s, "hint: its dynamic dims are: batch, seq");
    assert_int_equal(s->c.d.exit_code, EXIT_USAGE);
    /* A model without dynamic dims says so. */
    path = model_write(s, relu_model(s, "2,8"), "static.onnx");
    assert_int_equal(load_flags(s, path, &flags, &g), -1);
    assert_diag(s, "hint: its dynamic dims are: (none)");
}

static void test_range_on_a_fixed_dim_is_a_usage_error(void **state) {
    State *s = *state;
    Graph *g = NULL;
    const char *path = model_write(s, relu_model(s, "batch,seq,8"), "fixed.onnx");
    OnnxPin pin = PIN("x", 3, DIMS(-1, -1, 1), DIMS(-1, -1, 16));
    assert_int_equal(load(s, path, &pin, 1, &g), -1);
    assert_null(g);
    assert_diag(s, arena_printf(s->a,
                                "kiln: --shape x: dim 2 is fixed at 8 in %s; a range needs a "
                                "dynamic dim",
                                path));
    assert_int_equal(s->c.d.exit_code, EXIT_USAGE);
}

/* x [batch,4] and z [batch,4]: one symbol, wherever it appears. */
static TestModel *two_input_model(State *s) {
    TestModel *tm = model_new(s->a);
    add_input(tm, vi(s->a, "x", 1, "batch,4"));
    add_input(tm, vi(s->a, "z", 1, "batch,4"));
    add_output(tm, vi(s->a, "y", 1, NULL));
    add_node(tm, node(s->a, "Add", "add", "x,z", "y"));
    return tm;
}

static void test_two_inputs_share_a_symbol_and_its_pins(void **state) {
    State *s = *state;
    Graph *g = NULL;
    const char *path = model_write(s, two_input_model(s), "two.onnx");
    assert_int_equal(load(s, path, NULL, 0, &g), 0);
    assert_int_equal(g->n_inputs, 2);
    assert_sym(g->inputs[0]->shape.dims[0], "batch", DIM_DEFAULT_LO, DIM_DEFAULT_HI);
    assert_true(g->inputs[0]->shape.dims[0] == g->inputs[1]->shape.dims[0]);
    assert_int_equal(dim_n_syms(), 1);
    /* A pin on one input pins the symbol in the other too. */
    OnnxPin pin = PIN("x", 2, DIMS(5, -1), DIMS(5, -1));
    assert_int_equal(load(s, path, &pin, 1, &g), 0);
    assert_int_equal(g->inputs[0]->shape.dims[0], 5);
    assert_int_equal(g->inputs[1]->shape.dims[0], 5);
    /* Ranges on both intersect. */
    OnnxPin both[] = {PIN("x", 2, DIMS(1, -1), DIMS(64, -1)),
                      PIN("z", 2, DIMS(16, -1), DIMS(128, -1))};
    assert_int_equal(load(s, path, both, 2, &g), 0);
    assert_sym(g->inputs[1]->shape.dims[0], "batch", 16, 64);
    assert_true(g->inputs[0]->shape.dims[0] == g->inputs[1]->shape.dims[0]);
    /* Pins that disagree are a usage error. */
    OnnxPin clash[] = {PIN("x", 2, DIMS(2, -1), DIMS(2, -1)),
                       PIN("z", 2, DIMS(3, -1), DIMS(3, -1))};
    assert_int_equal(load(s, path, clash, 2, &g), -1);
    assert_null(g);
    assert_diag(s, "kiln: --shape z: dim 0 ('batch') gets bounds that exclude each other");
    assert_diag(s, "hint: the symbol appears in more than one --shape flag; make them agree");
    assert_int_equal(s->c.d.exit_code, EXIT_USAGE);
}

static void test_pin_with_the_wrong_rank_is_a_usage_error(void **state) {
    State *s = *state;
    Graph *g = NULL;
    const char *path = model_write(s, relu_model(s, "N,4"), "rank.onnx");
    OnnxPin pin = PIN("x", 3, DIMS(1, 4, 4), DIMS(1, 4, 4));
    assert_int_equal(load(s, path, &pin, 1, &g), -1);
    assert_diag(s, "kiln: --shape x: gives 3 dims, but input 'x' has rank 2");
    assert_int_equal(s->c.d.exit_code, EXIT_USAGE);
}

static void test_pin_of_size_zero_is_a_usage_error(void **state) {
    State *s = *state;
    Graph *g = NULL;
    const char *path = model_write(s, relu_model(s, "N,4"), "zero.onnx");
    OnnxPin zero = PIN("x", 2, DIMS(1, 0), DIMS(1, 0));
    assert_int_equal(load(s, path, &zero, 1, &g), -1);
    assert_diag(s, "--shape x: dim 1 must be a size from 1 to");
    assert_int_equal(s->c.d.exit_code, EXIT_USAGE);
}

static void test_pin_for_an_unknown_input_is_a_usage_error_listing_inputs(void **state) {
    State *s = *state;
    Graph *g = NULL;
    const char *path = model_write(s, relu_model(s, "N,4"), "unk.onnx");
    OnnxPin pin = PIN("nope", 1, DIMS(4), DIMS(4));
    assert_int_equal(load(s, path, &pin, 1, &g), -1);
    assert_diag(s, "has no graph input named 'nope'");
    assert_diag(s, "hint: the graph inputs are: x");
    assert_int_equal(s->c.d.exit_code, EXIT_USAGE);
}

static void test_input_listed_as_initializer_stays_an_initializer(void **state) {
    State *s = *state;
    Arena *a = s->a;
    TestModel *tm = relu_model(s, "N,4");
    float w[4] = {1, 2, 3, 4};
    add_input(tm, vi(a, "w", 1, "4"));
    add_init(tm, tensor_floats(a, "w", "4", w, 4));
    add_node(tm, node(a, "Add", "add", "y,w", "z"));
    tm->outputs[0] = vi(a, "z", 1, NULL);
    Graph *g = NULL;
    assert_int_equal(load(s, model_write(s, tm, "old.onnx"), NULL, 0, &g), 0);
    assert_int_equal(g->n_inputs, 1);
    assert_string_equal(g->inputs[0]->name, "x");
    assert_int_equal(ir_value_find(g, "w")->input_index, -1);
    assert_non_null(ir_value_find(g, "w")->data);
}

/* --- nodes ---------------------------------------------------------------------------- */

static void test_unknown_ops_are_kept_as_op_unknown_without_diagnostics(void **state) {
    State *s = *state;
    Arena *a = s->a;
    TestModel *tm = relu_model(s, "N,4");
    tm->opset[1] = (Onnx__OperatorSetIdProto)ONNX__OPERATOR_SET_ID_PROTO__INIT;
    tm->opset[1].domain = "com.example";
    tm->opset[1].has_version = 1;
    tm->opset[1].version = 3;
    tm->opsets[1] = &tm->opset[1];
    tm->m.n_opset_import = 2;
    add_node(tm, node(a, "Foo", "foo1", "y", "f"));
    Onnx__NodeProto *bar = add_node(tm, node(a, "Relu", "bar1", "f", "z"));
    bar->domain = "com.example"; /* a known name in another domain is still unknown */
    tm->outputs[0] = vi(a, "z", 1, NULL);
    Graph *g = NULL;
    assert_int_equal(load(s, model_write(s, tm, "unk_op.onnx"), NULL, 0, &g), 0);
    assert_no_diag(s);
    assert_int_equal(g->n_nodes, 3);
    assert_int_equal(g->nodes[1]->op, OP_UNKNOWN);
    assert_string_equal(g->nodes[1]->op_type, "Foo");
    assert_int_equal(g->nodes[1]->opset, 17);
    assert_int_equal(g->nodes[2]->op, OP_UNKNOWN);
    assert_string_equal(g->nodes[2]->op_type, "Relu");
    assert_string_equal(g->nodes[2]->domain, "com.example");
    assert_int_equal(g->nodes[2]->opset, 3);
}

static void test_missing_inputs_are_all_reported_by_node(void **state) {
    State *s = *state;
    Arena *a = s->a;
    TestModel *tm = relu_model(s, "N,4");
    add_node(tm, node(a, "Add", "add1", "y,ghost", "z"));
    add_node(tm, node(a, "Mul", NULL, "z,phantom", "w"));
    tm->outputs[0] = vi(a, "w", 1, NULL);
    Graph *g = NULL;
    assert_int_equal(load(s, model_write(s, tm, "miss.onnx"), NULL, 0, &g), -1);
    assert_null(g);
    assert_diag(s, "miss.onnx: node 'add1' (Add): input 'ghost' is not produced by any node, "
                   "initializer or graph input");
    assert_diag(s, "node 'Mul_2' (Mul): input 'phantom' is not produced by any node");
    assert_int_equal(s->c.d.n_errors, 2);
}

static void test_omitted_inputs_are_null_and_unnamed_outputs_get_fresh_names(void **state) {
    State *s = *state;
    Arena *a = s->a;
    TestModel *tm = relu_model(s, "N,4");
    add_node(tm, node(a, "Split3", NULL, "y,,x", "p,,q"));
    tm->outputs[0] = vi(a, "q", 1, NULL);
    Graph *g = NULL;
    assert_int_equal(load(s, model_write(s, tm, "opt.onnx"), NULL, 0, &g), 0);
    Node *n = g->nodes[1];
    assert_string_equal(n->name, "Split3_1");
    assert_int_equal(n->n_inputs, 3);
    assert_null(n->inputs[1]);
    assert_int_equal(n->n_outputs, 3);
    assert_non_null(n->outputs[1]);
    assert_string_equal(n->outputs[1]->name, "Split3_1.unused1");
    assert_ptr_equal(n->outputs[1]->producer, n);
}

static void test_nodes_out_of_order_are_sorted_topologically(void **state) {
    State *s = *state;
    Arena *a = s->a;
    TestModel *tm = model_new(a);
    add_input(tm, vi(a, "x", 1, "N,4"));
    add_output(tm, vi(a, "z", 1, NULL));
    add_node(tm, node(a, "Relu", "third", "b", "z"));
    add_node(tm, node(a, "Tanh", "second", "a1", "b"));
    add_node(tm, node(a, "Sigmoid", "first", "x", "a1"));
    Graph *g = NULL;
    assert_int_equal(load(s, model_write(s, tm, "order.onnx"), NULL, 0, &g), 0);
    assert_no_diag(s);
    assert_string_equal(g->nodes[0]->name, "first");
    assert_string_equal(g->nodes[1]->name, "second");
    assert_string_equal(g->nodes[2]->name, "third");
    assert_int_equal(ir_graph_verify(g, &s->c.d), 0);
}

static void test_cycle_is_reported_for_each_node_on_it(void **state) {
    State *s = *state;
    Arena *a = s->a;
    TestModel *tm = model_new(a);
    add_input(tm, vi(a, "x", 1, "N,4"));
    add_output(tm, vi(a, "z", 1, NULL));
    add_node(tm, node(a, "Add", "a", "x,c", "b"));
    add_node(tm, node(a, "Relu", "b", "b", "c"));
    add_node(tm, node(a, "Relu", "out", "c", "z"));
    Graph *g = NULL;
    assert_int_equal(load(s, model_write(s, tm, "cycle.onnx"), NULL, 0, &g), -1);
    assert_diag(s, "node 'a' (Add): is on a cycle");
    assert_diag(s, "node 'b' (Relu): is on a cycle");
    assert_int_equal(s->c.d.n_errors, 3); /* 'out' depends on the cycle: on it too */
}

static void test_tensor_defined_twice_is_reported(void **state) {
    State *s = *state;
    Arena *a = s->a;
    TestModel *tm = relu_model(s, "N,4");
    add_node(tm, node(a, "Tanh", "again", "x", "y"));
    Graph *g = NULL;
    assert_int_equal(load(s, model_write(s, tm, "dup.onnx"), NULL, 0, &g), -1);
    assert_diag(s, "node 'again' (Tanh): output 'y' is already defined by node 'r'");
}

static void test_undefined_graph_output_is_reported(void **state) {
    State *s = *state;
    TestModel *tm = relu_model(s, "N,4");
    add_output(tm, vi(s->a, "nowhere", 1, NULL));
    Graph *g = NULL;
    assert_int_equal(load(s, model_write(s, tm, "out.onnx"), NULL, 0, &g), -1);
    assert_diag(s,
                "graph output 'nowhere' is not produced by any node, initializer or graph input");
}

/* --- files ---------------------------------------------------------------------------- */

static void test_missing_file_names_the_reason(void **state) {
    State *s = *state;
    Graph *g = NULL;
    assert_int_equal(load(s, path_in(s, "absent.onnx"), NULL, 0, &g), -1);
    assert_diag(s, "absent.onnx: cannot read: No such file or directory");
    assert_diag(s, "hint: ");
    assert_int_equal(load(s, s->dir, NULL, 0, &g), -1);
    assert_diag(s, "cannot read: is a directory");
}

static void test_fifo_and_device_models_are_refused_at_once(void **state) {
    State *s = *state;
    Graph *g = NULL;
    /* No writer on the FIFO: a blocking open() would wait for ever. */
    const char *fifo = path_in(s, "pipe.onnx");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(load(s, fifo, NULL, 0, &g), -1);
    assert_diag(s, "pipe.onnx: cannot read: is a FIFO (named pipe), not a regular file");
    assert_diag(s, "hint: pass the path of a regular file");
    assert_int_equal(s->c.d.exit_code, EXIT_MODEL);
    assert_int_equal(load(s, "/dev/zero", NULL, 0, &g), -1);
    assert_diag(s, "/dev/zero: cannot read: is a character device, not a regular file");
    assert_null(g);
}

static void test_file_read_returns_the_bytes_and_a_terminating_zero(void **state) {
    State *s = *state;
    const char *path = path_in(s, "bytes.bin");
    write_bytes(path, "ab\0c", 4);
    Diag d;
    diag_init(&d, stderr);
    size_t len = 99;
    uint8_t *buf = file_read(path, &len, &d);
    assert_non_null(buf);
    assert_int_equal(len, 4);
    assert_memory_equal(buf, "ab\0c\0", 5);
    free(buf);
    write_bytes(path, "", 0);
    buf = file_read(path, &len, &d);
    assert_non_null(buf);
    assert_int_equal(len, 0);
    assert_int_equal(buf[0], 0);
    free(buf);
    assert_int_equal(diag_count(&d), 0);
}

static void test_truncated_file_is_not_a_valid_model(void **state) {
    State *s = *state;
    size_t n = onnx__model_proto__get_packed_size(&mlp(s)->m);
    uint8_t *buf = arena_alloc(s->a, n);
    onnx__model_proto__pack(&mlp(s)->m, buf);
    const char *path = path_in(s, "half.onnx");
    write_bytes(path, buf, n / 2);
    Graph *g = NULL;
    assert_int_equal(load(s, path, NULL, 0, &g), -1);
    assert_null(g);
    assert_diag(s, "half.onnx: not a valid ONNX model (protobuf decode failed)");
    assert_diag(s, "hint: the file is truncated");
}

static void test_garbage_file_is_not_a_valid_model(void **state) {
    State *s = *state;
    const char *path = path_in(s, "text.onnx");
    const char *text = "this is not an onnx model\n";
    write_bytes(path, text, strlen(text));
    Graph *g = NULL;
    assert_int_equal(load(s, path, NULL, 0, &g), -1);
    assert_diag(s, "text.onnx: not a valid ONNX model");
    /* Bytes that decode as an empty protobuf: no graph. */
    write_bytes(path, "", 0);
    assert_int_equal(load(s, path, NULL, 0, &g), -1);
    assert_diag(s, "not a valid ONNX model (it has no graph)");
    /* Pseudo-random bytes must never crash the decoder. */
    uint8_t junk[4096];
    uint32_t x = 12345;
    for (int round = 0; round < 50; round++) {
        for (size_t i = 0; i < sizeof junk; i++)
            junk[i] = (uint8_t)((x = x * 1103515245 + 12345) >> 16);
        write_bytes(path, junk, sizeof junk);
        assert_int_equal(load(s, path, NULL, 0, &g), -1);
    }
}

/* --- external data ------------------------------------------------------------------- */

static TestModel *external_model(State *s, const char *location, const char *offset,
                                 const char *length) {
    Arena *a = s->a;
    TestModel *tm = model_new(a);
    add_input(tm, vi(a, "x", 1, "N,2"));
    add_output(tm, vi(a, "y", 1, NULL));
    Onnx__TensorProto *w = tensor(a, "w", 1, "2,2");
    tensor_external(a, w, location, offset, length);
    add_init(tm, w);
    add_node(tm, node(a, "MatMul", "mm", "x,w", "y"));
    return tm;
}

static void test_external_data_is_read_from_the_model_directory(void **state) {
    State *s = *state;
    float data[6] = {-1, -1, 1, 2, 3, 4};
    mkdir(path_in(s, "weights"), 0755);
    write_bytes(path_in(s, "weights/w.bin"), data, sizeof data);
    Graph *g = NULL;
    const char *path = model_write(s, external_model(s, "weights/w.bin", "8", "16"), "ext.onnx");
    assert_int_equal(load(s, path, NULL, 0, &g), 0);
    assert_no_diag(s);
    float *w = ir_value_find(g, "w")->data;
    assert_true(w[0] == 1 && w[3] == 4);
    assert_int_equal((uintptr_t)w % 64, 0);
    /* Without a length, the rest of the file from the offset. */
    path = model_write(s, external_model(s, "weights/w.bin", "8", NULL), "ext2.onnx");
    assert_int_equal(load(s, path, NULL, 0, &g), 0);
}

static void test_external_data_outside_the_model_directory_is_rejected(void **state) {
    State *s = *state;
    float data[4] = {0};
    write_bytes(path_in(s, "w.bin"), data, sizeof data);
    mkdir(path_in(s, "sub"), 0755);
    write_bytes(path_in(s, "sub/w.bin"), data, sizeof data);
    const char *bad[] = {"../x", "/etc/passwd", "sub/../../x", "./../w.bin", "a/../w.bin"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        Graph *g = NULL;
        const char *path = model_write(s, external_model(s, bad[i], "0", "16"), "trav.onnx");
        assert_int_equal(load(s, path, NULL, 0, &g), -1);
        assert_diag(s, arena_printf(s->a,
                                    "trav.onnx: initializer 'w': external data location '%s' "
                                    "points outside the model's directory",
                                    bad[i]));
        assert_int_equal(s->c.d.n_errors, 1);
    }
    /* A symlink in the model directory that leads out of it. */
    assert_int_equal(symlink("/etc/passwd", path_in(s, "link.bin")), 0);
    Graph *g = NULL;
    const char *path = model_write(s, external_model(s, "link.bin", "0", "16"), "link.onnx");
    assert_int_equal(load(s, path, NULL, 0, &g), -1);
    assert_diag(s, "external data location 'link.bin' is a symlink that leads outside");
    /* A model in sub/ may not reach its parent through a symlink either. */
    assert_int_equal(symlink("../w.bin", path_in(s, "sub/up.bin")), 0);
    path = model_write(s, external_model(s, "up.bin", "0", "16"), "sub/up.onnx");
    assert_int_equal(load(s, path, NULL, 0, &g), -1);
    assert_diag(s, "is a symlink that leads outside");
    /* ... but a symlink that stays inside is fine. */
    assert_int_equal(symlink("w.bin", path_in(s, "sub/in.bin")), 0);
    path = model_write(s, external_model(s, "in.bin", "0", "16"), "sub/in.onnx");
    assert_int_equal(load(s, path, NULL, 0, &g), 0);
}

static void test_external_data_file_too_short_is_reported(void **state) {
    State *s = *state;
    float data[3] = {0};
    write_bytes(path_in(s, "short.bin"), data, sizeof data);
    Graph *g = NULL;
    const char *path = model_write(s, external_model(s, "short.bin", "0", "16"), "short.onnx");
    assert_int_equal(load(s, path, NULL, 0, &g), -1);
    assert_diag(s, "initializer 'w': external data 'short.bin' is too short: wanted 16 bytes at "
                   "offset 0, the file has 12");
    path = model_write(s, external_model(s, "short.bin", "40", NULL), "short2.onnx");
    assert_int_equal(load(s, path, NULL, 0, &g), -1);
    assert_diag(s, "external data offset 40 is past the end of 'short.bin' (12 bytes)");
    path = model_write(s, external_model(s, "short.bin", "-4", "16"), "short3.onnx");
    assert_int_equal(load(s, path, NULL, 0, &g), -1);
    assert_diag(s, "is not a number");
    path = model_write(s, external_model(s, "nothere.bin", "0", "16"), "short4.onnx");
    assert_int_equal(load(s, path, NULL, 0, &g), -1);
    assert_diag(s, "cannot open external data 'nothere.bin': No such file or directory");
    /* Neither a FIFO nor a directory is read as external data. */
    assert_int_equal(mkfifo(path_in(s, "fifo.bin"), 0600), 0);
    path = model_write(s, external_model(s, "fifo.bin", "0", "16"), "short5.onnx");
    assert_int_equal(load(s, path, NULL, 0, &g), -1);
    assert_diag(s, "cannot open external data 'fifo.bin': is a FIFO (named pipe), not a regular "
                   "file");
    mkdir(path_in(s, "dir.bin"), 0755);
    path = model_write(s, external_model(s, "dir.bin", "0", "16"), "short6.onnx");
    assert_int_equal(load(s, path, NULL, 0, &g), -1);
    assert_diag(s, "cannot open external data 'dir.bin': is a directory");
}

/* --- the golden bad models ------------------------------------------------------------- */

static void test_golden_bad_models_fail_at_import_with_their_messages(void **state) {
    State *s = *state;
    static const struct {
        const char *file, *message;
    } cases[] = {
        {"missing_input.onnx", "node 'add1' (Add): input 'ghost' is not produced by any node, "
                               "initializer or graph input"},
        {"truncated.onnx", "not a valid ONNX model (protobuf decode failed)"},
        {"not_onnx.onnx", "not a valid ONNX model"},
        {"bad_dtype.onnx", "initializer 'labels': data type string (8) is not supported"},
        {"external_traversal.onnx",
         "initializer 'w': external data location '../../etc/passwd' points outside"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        Graph *g = NULL;
        const char *path = arena_printf(s->a, "%s/tests/golden/%s", KILN_SOURCE_DIR, cases[i].file);
        assert_int_equal(load(s, path, NULL, 0, &g), -1);
        assert_diag(s, cases[i].message);
    }
    /* These import; the driver and shape inference report the last two. A
     * symbolic inner dim, once refused, is a symbol like the batch. */
    Graph *sg = NULL;
    assert_int_equal(load(s, KILN_SOURCE_DIR "/tests/golden/symbolic_dim.onnx", NULL, 0, &sg), 0);
    assert_sym(sg->inputs[0]->shape.dims[0], "batch", DIM_DEFAULT_LO, DIM_DEFAULT_HI);
    assert_sym(sg->inputs[0]->shape.dims[1], "seq", DIM_DEFAULT_LO, DIM_DEFAULT_HI);
    Graph *g = NULL;
    const char *path = KILN_SOURCE_DIR "/tests/golden/unknown_op.onnx";
    assert_int_equal(load(s, path, NULL, 0, &g), 0);
    int n_unknown = 0;
    for (int i = 0; i < g->n_nodes; i++)
        n_unknown += g->nodes[i]->op == OP_UNKNOWN;
    assert_int_equal(n_unknown, 2);
    assert_int_equal(load(s, KILN_SOURCE_DIR "/tests/golden/wrong_rank.onnx", NULL, 0, &g), 0);
    assert_int_equal(ir_value_find(g, "fc.weight")->shape.rank, 3);
}

/* --- hostile models (issue 8): arity, limits, external data sizes ------------------------ */

static void test_required_input_omitted_is_reported_naming_node_op_and_position(void **state) {
    State *s = *state;
    Arena *a = s->a;
    TestModel *tm = model_new(a);
    add_input(tm, vi(a, "x", 1, "1,4"));
    add_output(tm, vi(a, "y", 1, "1,4"));
    add_node(tm, node(a, "Relu", "r1", ",x", "y")); /* Relu takes 1 input: too many */
    Graph *g = NULL;
    assert_int_equal(load(s, model_write(s, tm, "arity.onnx"), NULL, 0, &g), -1);
    assert_diag(s, "arity.onnx: node 'r1' (Relu): has 2 inputs, Relu takes 1 to 1");
    tm->nodes[0] = node(a, "Relu", "r1", "", "y");
    assert_int_equal(load(s, model_write(s, tm, "arity.onnx"), NULL, 0, &g), -1);
    assert_diag(s, "node 'r1' (Relu): has 0 inputs, Relu takes 1 to 1");
    /* An empty name where Add needs both operands. */
    tm->nodes[0] = node(a, "Add", "a1", "x,", "y");
    assert_int_equal(load(s, model_write(s, tm, "arity.onnx"), NULL, 0, &g), -1);
    assert_diag(s, "node 'a1' (Add): input 1 is omitted (''), but Add requires it");
    /* ... while Clip's optional min may be left out. */
    tm->nodes[0] = node(a, "Clip", "c1", "x,,x", "y");
    assert_int_equal(load(s, model_write(s, tm, "arity.onnx"), NULL, 0, &g), 0);
    assert_null(g->nodes[0]->inputs[1]);
}

static void test_node_with_too_many_outputs_is_reported(void **state) {
    State *s = *state;
    Arena *a = s->a;
    TestModel *tm = model_new(a);
    add_input(tm, vi(a, "x", 1, "1,4"));
    add_output(tm, vi(a, "y", 1, "1,4"));
    add_node(tm, node(a, "Relu", "r1", "x", "y,z"));
    Graph *g = NULL;
    assert_int_equal(load(s, model_write(s, tm, "outs.onnx"), NULL, 0, &g), -1);
    assert_diag(s, "node 'r1' (Relu): has 2 outputs, Relu gives 1 to 1");
}

static void test_initializer_beyond_the_tensor_limits_is_refused(void **state) {
    State *s = *state;
    Arena *a = s->a;
    TestModel *tm = model_new(a);
    add_output(tm, vi(a, "w", 1, "1"));
    /* 2^62 * 2^62 * 0 has no elements, but its strides would wrap. */
    add_init(tm, tensor_raw(a, "w", 1, "0,4611686018427387904,4611686018427387904", "", 0));
    Graph *g = NULL;
    assert_int_equal(load(s, model_write(s, tm, "big.onnx"), NULL, 0, &g), -1);
    assert_diag(s, "big.onnx: initializer 'w': shape [0,4611686018427387904,4611686018427387904] "
                   "of float is above kiln's limits (dims up to 2147483647, at most 2147483648 "
                   "bytes per tensor)");
    /* 2^29 floats are 2 GiB: at the limit; one more element is over it. */
    tm->inits[0] = tensor(a, "w", 1, "536870913");
    assert_int_equal(load(s, model_write(s, tm, "big.onnx"), NULL, 0, &g), -1);
    assert_diag(s, "above kiln's limits");
}

static void test_graph_input_beyond_the_dim_limit_is_refused(void **state) {
    State *s = *state;
    Arena *a = s->a;
    TestModel *tm = model_new(a);
    add_input(tm, vi(a, "x", 1, "N,4611686018427387904"));
    add_output(tm, vi(a, "y", 1, "N,4"));
    add_node(tm, node(a, "Relu", "r1", "x", "y"));
    Graph *g = NULL;
    assert_int_equal(load(s, model_write(s, tm, "in.onnx"), NULL, 0, &g), -1);
    assert_diag(s, "in.onnx: graph input 'x' has shape [N,4611686018427387904] of float, above "
                   "kiln's limits");
    /* The batch dim is counted once: N x 2^29 floats is within the limit. */
    tm->inputs[0] = vi(a, "x", 1, "N,536870912");
    assert_int_equal(load(s, model_write(s, tm, "in.onnx"), NULL, 0, &g), 0);
}

static void test_external_data_with_a_lying_shape_is_refused_before_allocating(void **state) {
    State *s = *state;
    Arena *a = s->a;
    float data[4] = {0};
    write_bytes(path_in(s, "w.bin"), data, sizeof data);
    TestModel *tm = model_new(a);
    add_input(tm, vi(a, "x", 1, "1,2"));
    add_output(tm, vi(a, "y", 1, "1,2"));
    /* 1 GiB declared, 16 bytes present: a diagnostic (exit 1), no allocation. */
    Onnx__TensorProto *w = tensor(a, "w", 1, "268435456");
    tensor_external(a, w, "w.bin", "0", "1073741824");
    add_init(tm, w);
    add_node(tm, node(a, "Relu", "r1", "x", "y"));
    Graph *g = NULL;
    assert_int_equal(load(s, model_write(s, tm, "lie.onnx"), NULL, 0, &g), -1);
    assert_diag(s, "lie.onnx: initializer 'w': external data 'w.bin' is too short: wanted "
                   "1073741824 bytes at offset 0, the file has 16");
    assert_int_equal(s->c.d.exit_code, EXIT_MODEL);
    /* Without a length the rest of the file is meant, which is not the shape's size. */
    w = tensor(a, "w", 1, "268435456");
    tensor_external(a, w, "w.bin", "0", NULL);
    tm->inits[0] = w;
    assert_int_equal(load(s, model_write(s, tm, "lie.onnx"), NULL, 0, &g), -1);
    assert_diag(s, "initializer 'w': 16 bytes of external data in 'w.bin' for shape [268435456] "
                   "of float (1073741824 bytes)");
}

static void test_too_long_names_and_attribute_lists_are_refused(void **state) {
    State *s = *state;
    Arena *a = s->a;
    TestModel *tm = model_new(a);
    char *name = arena_alloc(a, KILN_MAX_NAME_LEN + 2);
    memset(name, 'n', KILN_MAX_NAME_LEN + 1);
    add_input(tm, vi(a, "x", 1, "1,4"));
    add_output(tm, vi(a, "y", 1, "1,4"));
    add_node(tm, node(a, "Relu", name, "x", "y"));
    Graph *g = NULL;
    assert_int_equal(load(s, model_write(s, tm, "names.onnx"), NULL, 0, &g), -1);
    assert_diag(s, "names.onnx: node name 'nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn...' is 4097 "
                   "bytes long, above kiln's limit of 4096 bytes");
    Onnx__NodeProto *n = node(a, "Transpose", "t", "x", "y");
    Onnx__AttributeProto *at = attr(a, n, "perm", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    at->n_ints = KILN_MAX_ATTR_ELEMS + 1;
    at->ints = arena_alloc(a, sizeof(int64_t) * at->n_ints);
    tm->nodes[0] = n;
    assert_int_equal(load(s, model_write(s, tm, "names.onnx"), NULL, 0, &g), -1);
    assert_diag(s, "node 't' (Transpose): attribute 'perm' has 16777217 elements, above kiln's "
                   "limit of 16777216");
}

/* A ModelProto nesting `depth` If nodes, each holding the next graph as its
 * then_branch, written as raw protobuf bytes. */
static uint8_t *nested_model(Arena *a, int depth, size_t *len) {
    size_t cap = (size_t)depth * 40 + 64;
    uint8_t *buf = arena_alloc(a, cap), *tmp = arena_alloc(a, cap);
    size_t n = 0;
    for (int i = 0; i < depth; i++) {
        /* attr = {name "g" (1), type GRAPH (20), g (6) = graph}; node = {op_type "If" (4),
         * attribute (5)}; graph = {node (1)}. Lengths here stay below 2^14: two-byte varints. */
        size_t m = 0;
        uint8_t head[32];
        size_t h = 0;
        head[h++] = 0x0a, head[h++] = 1, head[h++] = 'g';
        head[h++] = 0xa0, head[h++] = 0x01, head[h++] = 5;
        head[h++] = 0x32;
        head[h++] = (uint8_t)(0x80 | (n & 0x7f)), head[h++] = (uint8_t)(n >> 7);
        size_t attr_len = h + n;
        uint8_t node_head[16];
        size_t nh = 0;
        node_head[nh++] = 0x22, node_head[nh++] = 2, node_head[nh++] = 'I', node_head[nh++] = 'f';
        node_head[nh++] = 0x2a;
        node_head[nh++] = (uint8_t)(0x80 | (attr_len & 0x7f)),
        node_head[nh++] = (uint8_t)(attr_len >> 7);
        size_t node_len = nh + attr_len;
        tmp[m++] = 0x0a;
        tmp[m++] = (uint8_t)(0x80 | (node_len & 0x7f)), tmp[m++] = (uint8_t)(node_len >> 7);
        memcpy(tmp + m, node_head, nh), m += nh;
        memcpy(tmp + m, head, h), m += h;
        memcpy(tmp + m, buf, n), m += n;
        memcpy(buf, tmp, m);
        n = m;
    }
    /* model = {ir_version 8 (1), graph (7)} */
    memmove(buf + 4, buf, n);
    buf[0] = 0x08, buf[1] = 8, buf[2] = 0x3a;
    buf[3] = 0; /* patched below: graphs here are < 128 bytes only at depth 0 */
    assert_true(n < 128 || depth > 0);
    if (n >= 128) {
        memmove(buf + 5, buf + 4, n);
        buf[3] = (uint8_t)(0x80 | (n & 0x7f)), buf[4] = (uint8_t)(n >> 7);
        *len = n + 5;
    } else {
        buf[3] = (uint8_t)n;
        *len = n + 4;
    }
    return buf;
}

static void test_deeply_nested_subgraphs_are_refused_before_decoding(void **state) {
    State *s = *state;
    size_t len;
    /* The top graph plus KILN_MAX_NESTING - 1 nested ones: decoded (and
     * then refused for having no outputs, which is beside the point). */
    uint8_t *ok = nested_model(s->a, KILN_MAX_NESTING - 1, &len);
    const char *path = path_in(s, "nest_ok.onnx");
    write_bytes(path, ok, len);
    Graph *g = NULL;
    assert_int_equal(load(s, path, NULL, 0, &g), -1);
    assert_diag(s, "nest_ok.onnx: the graph has no outputs");
    uint8_t *deep = nested_model(s->a, KILN_MAX_NESTING, &len);
    path = path_in(s, "nest_deep.onnx");
    write_bytes(path, deep, len);
    assert_int_equal(load(s, path, NULL, 0, &g), -1);
    assert_diag(s, "nest_deep.onnx: subgraphs (If/Loop/Scan bodies) are nested more than 32 deep, "
                   "above kiln's limit");
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        T(test_mlp_imports_with_shapes_attributes_and_initializers),
        T(test_attributes_of_every_kind_are_kept),
        T(test_subgraph_attribute_on_a_supported_op_is_reported),
        T(test_constant_nodes_become_initializers),
        T(test_constant_with_a_string_value_is_unsupported),
        T(test_typed_fields_of_every_fixed_size_type_decode),
        T(test_wrong_byte_count_names_tensor_shape_and_sizes),
        T(test_string_initializer_is_rejected_naming_its_type),
        T(test_negative_initializer_dim_is_rejected),
        T(test_symbolic_leading_dim_becomes_a_symbol_named_by_its_dim_param),
        T(test_symbolic_inner_dims_are_symbols_too),
        T(test_pin_ranges_bound_the_symbols),
        T(test_dim_flags_bound_or_pin_a_symbol_by_name),
        T(test_dim_flag_for_an_unknown_symbol_is_a_usage_error_listing_the_symbols),
        T(test_range_on_a_fixed_dim_is_a_usage_error),
        T(test_two_inputs_share_a_symbol_and_its_pins),
        T(test_pin_fixes_every_dim_of_an_input),
        T(test_pin_with_the_wrong_rank_is_a_usage_error),
        T(test_pin_of_size_zero_is_a_usage_error),
        T(test_pin_for_an_unknown_input_is_a_usage_error_listing_inputs),
        T(test_input_listed_as_initializer_stays_an_initializer),
        T(test_unknown_ops_are_kept_as_op_unknown_without_diagnostics),
        T(test_missing_inputs_are_all_reported_by_node),
        T(test_omitted_inputs_are_null_and_unnamed_outputs_get_fresh_names),
        T(test_nodes_out_of_order_are_sorted_topologically),
        T(test_cycle_is_reported_for_each_node_on_it),
        T(test_tensor_defined_twice_is_reported),
        T(test_undefined_graph_output_is_reported),
        T(test_missing_file_names_the_reason),
        T(test_fifo_and_device_models_are_refused_at_once),
        T(test_file_read_returns_the_bytes_and_a_terminating_zero),
        T(test_truncated_file_is_not_a_valid_model),
        T(test_garbage_file_is_not_a_valid_model),
        T(test_external_data_is_read_from_the_model_directory),
        T(test_external_data_outside_the_model_directory_is_rejected),
        T(test_external_data_file_too_short_is_reported),
        T(test_golden_bad_models_fail_at_import_with_their_messages),
        T(test_required_input_omitted_is_reported_naming_node_op_and_position),
        T(test_node_with_too_many_outputs_is_reported),
        T(test_initializer_beyond_the_tensor_limits_is_refused),
        T(test_graph_input_beyond_the_dim_limit_is_refused),
        T(test_external_data_with_a_lying_shape_is_refused_before_allocating),
        T(test_too_long_names_and_attribute_lists_are_refused),
        T(test_deeply_nested_subgraphs_are_refused_before_decoding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
