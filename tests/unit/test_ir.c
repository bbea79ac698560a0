/* test_ir.c: the graph IR (compiler/ir/ir.c, ops.c, arena.c).
 *
 * Graphs are built by hand with the helpers in graph_builder.h; messages
 * from ir_graph_verify() and the text of ir_graph_print() are captured in
 * memory and compared exactly.
 */
#include "fixture.h"

/* --- values and nodes ------------------------------------------------------ */

static void test_ir_value_add_copies_the_name_and_starts_unshaped(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    char name[8] = "x";
    Value *x = ir_value_add(g, name, DT_F32);
    name[0] = 'z'; /* the IR keeps its own copy */
    assert_string_equal(x->name, "x");
    assert_int_equal(x->dtype, DT_F32);
    assert_int_equal(x->shape.rank, -1);
    assert_int_equal(x->input_index, -1);
    assert_int_equal(x->output_index, -1);
    assert_null(x->producer);
    assert_null(x->data);
    assert_int_equal(x->id, 0);
    Value *y = ir_value_add(g, "y", DT_I64);
    assert_int_equal(y->id, 1);
    assert_int_equal(g->n_values, 2);
    assert_ptr_equal(g->values[1], y);
}

static void test_ir_value_find_returns_the_value_or_null(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    /* More values than the first capacity, so the array grows. */
    char name[16];
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof name, "v%d", i);
        ir_value_add(g, name, DT_F32);
    }
    assert_int_equal(g->n_values, 40);
    assert_int_equal(ir_value_find(g, "v0")->id, 0);
    assert_int_equal(ir_value_find(g, "v39")->id, 39);
    assert_null(ir_value_find(g, "v40"));
    assert_null(ir_value_find(g, ""));
}

static void test_ir_node_add_sets_producers_opset_and_default_op_type(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 13);
    Value *x = gb_input(g, "x", DT_F32, SHP(2));
    Value *y = ir_value_add(g, "y", DT_UNDEF);
    Node *n = ir_node_add(g, OP_RELU, NULL, "r", 1, &x, 1, &y);
    assert_ptr_equal(y->producer, n);
    assert_null(x->producer);
    assert_int_equal(n->opset, 13);
    assert_string_equal(n->op_type, "Relu");
    assert_string_equal(n->domain, "");
    assert_int_equal(n->index, 0);
    assert_ptr_equal(n->graph, g);
    assert_int_equal(n->epilogue, EPI_NONE);
    assert_ptr_equal(n->inputs[0], x);
    assert_ptr_equal(g->nodes[0], n);
    Node *m = gb_node(g, OP_TANH, "t", "z", 1, y);
    assert_int_equal(m->index, 1);
    assert_ptr_equal(ir_node_find(g, "t"), m);
    assert_ptr_equal(ir_node_find(g, "r"), n);
    assert_null(ir_node_find(g, "nope"));
}

static void test_ir_node_add_copies_the_input_array(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    Value *a = gb_input(g, "a", DT_F32, SHP(2)), *b = gb_input(g, "b", DT_F32, SHP(2));
    Value *y = ir_value_add(g, "y", DT_UNDEF);
    Value *ins[2] = {a, b};
    Node *n = ir_node_add(g, OP_ADD, NULL, "add", 2, ins, 1, &y);
    ins[0] = ins[1] = NULL;
    assert_ptr_equal(n->inputs[0], a);
    assert_ptr_equal(n->inputs[1], b);
}

static void test_ir_node_insert_before_keeps_topological_order(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    Value *x = gb_input(g, "x", DT_F32, SHP(2));
    Node *r = gb_node(g, OP_RELU, "r", "y", 1, x);
    Node *t = gb_node(g, OP_TANH, "t", "z", 1, gb_out(r));
    Value *w = ir_value_add(g, "w", DT_UNDEF);
    Node *m = ir_node_insert_before(g, t, OP_SIGMOID, NULL, "s", 1, &x, 1, &w);
    assert_int_equal(g->n_nodes, 3);
    assert_ptr_equal(g->nodes[0], r);
    assert_ptr_equal(g->nodes[1], m);
    assert_ptr_equal(g->nodes[2], t);
    assert_ptr_equal(w->producer, m);
    Value *v = ir_value_add(g, "v", DT_UNDEF);
    Node *first = ir_node_insert_before(g, r, OP_RELU, NULL, "first", 1, &x, 1, &v);
    assert_ptr_equal(g->nodes[0], first);
    assert_int_equal(g->n_nodes, 4);
}

static void test_ir_graph_add_input_and_output_record_their_positions(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    Value *a = gb_input(g, "a", DT_F32, SHP(2));
    Value *b = gb_input(g, "b", DT_F32, SHP(2));
    assert_int_equal(a->input_index, 0);
    assert_int_equal(b->input_index, 1);
    assert_int_equal(g->n_inputs, 2);
    Node *n = gb_node(g, OP_ADD, "add", "y", 2, a, b);
    ir_graph_add_output(g, gb_out(n));
    ir_graph_add_output(g, gb_out(n)); /* listed twice: keeps its first position */
    assert_int_equal(g->n_outputs, 2);
    assert_int_equal(gb_out(n)->output_index, 0);
    assert_ptr_equal(g->outputs[1], gb_out(n));
}

/* --- attributes ---------------------------------------------------------- */

static void test_ir_attr_lookup_returns_values_or_the_defaults(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    Value *x = gb_input(g, "x", DT_F32, SHP(2, 3));
    Node *n = gb_node(g, OP_GEMM, "fc", "y", 2, x, x);
    gb_attr_int(n, "transB", 1);
    gb_attr_float(n, "alpha", 0.5f);
    ir_attr_add(n, "mode", ATTR_STRING)->s = "fast";
    Attr *ints = ir_attr_add(n, "perm", ATTR_INTS);
    ints->n = 2;
    ints->ints = arena_alloc(s->a, 2 * sizeof(int64_t));

    assert_int_equal(n->n_attrs, 4);
    assert_non_null(ir_attr(n, "perm"));
    assert_int_equal(ir_attr(n, "perm")->kind, ATTR_INTS);
    assert_null(ir_attr(n, "transA"));
    assert_int_equal(ir_attr_int(n, "transB", 0), 1);
    assert_int_equal(ir_attr_int(n, "transA", 7), 7);
    assert_float_equal(ir_attr_float(n, "alpha", 1.0f), 0.5f, 0);
    assert_float_equal(ir_attr_float(n, "beta", 2.5f), 2.5f, 0);
    /* An int attribute read as float converts; other kinds give the default. */
    assert_float_equal(ir_attr_float(n, "transB", 0.0f), 1.0f, 0);
    assert_float_equal(ir_attr_float(n, "mode", 3.0f), 3.0f, 0);
    assert_int_equal(ir_attr_int(n, "alpha", 42), 42);
    assert_string_equal(ir_attr_str(n, "mode", "slow"), "fast");
    assert_string_equal(ir_attr_str(n, "transB", "dflt"), "dflt");
    assert_string_equal(ir_attr_str(n, "absent", "dflt"), "dflt");
    assert_null(ir_attr_str(n, "absent", NULL));
}

/* --- rewriting ----------------------------------------------------------- */

static void test_ir_value_replace_uses_rewrites_node_inputs_and_graph_outputs(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    Value *x = gb_input(g, "x", DT_F32, SHP(2));
    Node *id = gb_node(g, OP_IDENTITY, "id", "y", 1, x);
    Value *y = gb_out(id);
    Node *add = gb_node(g, OP_ADD, "add", "z", 2, y, y);
    Node *r = gb_node(g, OP_RELU, "r", "w", 1, x);
    ir_graph_add_output(g, gb_out(r));
    ir_graph_add_output(g, y);
    Value *v = ir_value_add(g, "v", DT_F32);
    Node *t = ir_node_add(g, OP_TANH, NULL, "t", 1, &x, 1, &v);
    (void)t;

    ir_value_replace_uses(g, y, v);
    assert_ptr_equal(add->inputs[0], v);
    assert_ptr_equal(add->inputs[1], v);
    assert_ptr_equal(id->inputs[0], x); /* unrelated inputs untouched */
    assert_ptr_equal(g->outputs[0], gb_out(r));
    assert_ptr_equal(g->outputs[1], v);
    assert_int_equal(v->output_index, 1);
    assert_int_equal(y->output_index, -1);
    ir_graph_recount(g);
    assert_int_equal(y->n_uses, 0);
    assert_int_equal(v->n_uses, 3); /* two Add operands and one graph output */
}

static void test_ir_graph_recount_counts_graph_outputs_as_uses(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    Value *x = gb_input(g, "x", DT_F32, SHP(2));
    Node *r = gb_node(g, OP_RELU, "r", "y", 1, x);
    gb_node(g, OP_ADD, "add", "z", 2, x, gb_out(r));
    ir_graph_add_output(g, gb_out(r));
    ir_graph_recount(g);
    assert_int_equal(x->n_uses, 2);
    assert_int_equal(gb_out(r)->n_uses, 2);
    assert_int_equal(ir_value_find(g, "z")->n_uses, 0);
}

static void test_ir_graph_compact_removes_dead_nodes_and_orphan_values(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    Value *x = gb_input(g, "x", DT_F32, SHP(2));
    Value *unused_in = gb_input(g, "unused_in", DT_F32, SHP(2));
    static const float w[2] = {1, 2};
    Value *unused_w = gb_init_f32(g, "unused_w", SHP(2), w);
    Value *used_w = gb_init_f32(g, "used_w", SHP(2), w);
    Node *a = gb_node(g, OP_ADD, "a", "y", 2, x, used_w);
    Node *dead = gb_node(g, OP_RELU, "dead", "d", 1, gb_out(a));
    Node *t = gb_node(g, OP_TANH, "t", "z", 1, gb_out(a));
    ir_graph_add_output(g, gb_out(t));
    Value *stray = ir_value_add(g, "stray", DT_F32); /* no producer, no use */
    (void)stray;
    dead->dead = 1;

    ir_graph_compact(g);
    assert_int_equal(g->n_nodes, 2);
    assert_ptr_equal(g->nodes[0], a);
    assert_ptr_equal(g->nodes[1], t);
    assert_null(ir_node_find(g, "dead"));
    assert_null(ir_value_find(g, "d"));
    assert_null(ir_value_find(g, "unused_w"));
    assert_null(ir_value_find(g, "stray"));
    /* Graph inputs stay even when unused: they are the signature. */
    assert_ptr_equal(ir_value_find(g, "unused_in"), unused_in);
    assert_ptr_equal(ir_value_find(g, "used_w"), used_w);
    assert_non_null(ir_value_find(g, "y"));
    assert_non_null(ir_value_find(g, "z"));
    (void)unused_w;
    /* Ids are renumbered to the new positions. */
    for (int i = 0; i < g->n_values; i++)
        assert_int_equal(g->values[i]->id, i);
    assert_int_equal(g->n_values, 5);
    assert_int_equal(ir_graph_verify(g, &s->c.d), 0);
    assert_int_equal(gb_out(a)->n_uses, 1);
}

static void test_ir_value_sole_user_finds_the_one_reader_or_null(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    Value *x = gb_input(g, "x", DT_F32, SHP(2));
    Node *a = gb_node(g, OP_RELU, "a", "y", 1, x);
    Node *b = gb_node(g, OP_TANH, "b", "z", 1, gb_out(a));
    gb_node(g, OP_ADD, "c", "w", 2, x, x);
    ir_graph_add_output(g, gb_out(b));
    ir_graph_recount(g);
    assert_ptr_equal(ir_value_sole_user(g, gb_out(a)), b);
    assert_null(ir_value_sole_user(g, x));                     /* read three times */
    assert_null(ir_value_sole_user(g, gb_out(b)));             /* a graph output */
    assert_null(ir_value_sole_user(g, ir_value_find(g, "w"))); /* nobody reads it */
    b->dead = 1;                                               /* dead readers do not count */
    assert_null(ir_value_sole_user(g, gb_out(a)));
}

static void test_ir_node_absorb_hands_over_the_output_and_kills_the_reader(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    Value *x = gb_input(g, "x", DT_F32, SHP(2));
    Node *a = gb_node(g, OP_RELU, "a", "y", 1, x);
    Node *b = gb_node(g, OP_TANH, "b", "z", 1, gb_out(a));
    Value *z = gb_out(b);
    ir_graph_add_output(g, z);
    ir_graph_recount(g);
    ir_node_absorb(a, b);
    assert_ptr_equal(gb_out(a), z);
    assert_ptr_equal(z->producer, a);
    assert_true(b->dead);
    ir_graph_compact(g);
    assert_int_equal(g->n_nodes, 1);
    assert_null(ir_value_find(g, "y"));
    assert_int_equal(ir_graph_verify(g, &s->c.d), 0);
}

static void test_ir_attr_set_replaces_or_adds(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    Value *x = gb_input(g, "x", DT_F32, SHP(2));
    Node *n = gb_node(g, OP_GEMM, "g", "y", 2, x, x);
    ir_attr_add(n, "beta", ATTR_INT)->i = 3;
    ir_attr_set(n, "beta", ATTR_FLOAT)->f = 1.0f;
    ir_attr_set(n, "transB", ATTR_INT)->i = 1;
    assert_int_equal(n->n_attrs, 2);
    assert_true(ir_attr_float(n, "beta", 0.0f) == 1.0f);
    assert_int_equal(ir_attr(n, "beta")->kind, ATTR_FLOAT);
    assert_int_equal(ir_attr_int(n, "transB", 0), 1);
}

/* --- verification ---------------------------------------------------------- */

static void test_ir_graph_verify_accepts_a_well_formed_graph(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    Value *x = gb_input(g, "x", DT_F32, SHP(2));
    Node *r = gb_node(g, OP_RELU, "r", "y", 1, x);
    Value *yy[2] = {ir_value_add(g, "o", DT_UNDEF), ir_value_add(g, "mask", DT_UNDEF)};
    Value *in[3] = {gb_out(r), NULL, NULL}; /* omitted optional inputs are NULL */
    ir_node_add(g, OP_DROPOUT, NULL, "drop", 3, in, 2, yy);
    ir_graph_add_output(g, yy[0]);
    assert_int_equal(ir_graph_verify(g, &s->c.d), 0);
    assert_string_equal(capture_text(&s->c), "");
}

static void test_ir_graph_verify_reports_use_before_definition(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    Value *x = gb_input(g, "x", DT_F32, SHP(2));
    Value *y = ir_value_add(g, "y", DT_UNDEF), *z = ir_value_add(g, "z", DT_UNDEF);
    ir_node_add(g, OP_RELU, NULL, "first", 1, &z, 1, &y); /* reads z before 'second' makes it */
    ir_node_add(g, OP_TANH, NULL, "second", 1, &x, 1, &z);
    ir_graph_add_output(g, y);
    assert_int_equal(ir_graph_verify(g, &s->c.d), -1);
    assert_string_equal(capture_text(&s->c),
                        "test.onnx: node 'first' (Relu): input 'z' is used before it is defined\n");
    assert_int_equal(diag_count(&s->c.d), 1);
}

static void test_ir_graph_verify_reports_every_arity_error(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    Value *x = gb_input(g, "x", DT_F32, SHP(2));
    gb_node(g, OP_ADD, "add1", "y", 1, x);            /* Add takes 2 inputs */
    gb_node(g, OP_GEMM, "gemm4", "z", 4, x, x, x, x); /* Gemm takes 2 to 3 */
    Value *outs[3] = {ir_value_add(g, "o1", DT_UNDEF), ir_value_add(g, "o2", DT_UNDEF),
                      ir_value_add(g, "o3", DT_UNDEF)};
    ir_node_add(g, OP_DROPOUT, NULL, "drop", 1, &x, 3, outs); /* Dropout has 1 to 2 outputs */
    Value *u = ir_value_add(g, "u", DT_UNDEF);
    ir_node_add(g, OP_UNKNOWN, "Fancy", "fancy", 5, (Value *[]){x, x, x, x, x}, 1, &u);
    assert_int_equal(ir_graph_verify(g, &s->c.d), -1);
    assert_string_equal(capture_text(&s->c),
                        "test.onnx: node 'add1' (Add): has 1 inputs, expected 2 to 2\n"
                        "test.onnx: node 'gemm4' (Gemm): has 4 inputs, expected 2 to 3\n"
                        "test.onnx: node 'drop' (Dropout): has 3 outputs, expected 1 to 2\n");
    assert_int_equal(diag_count(&s->c.d), 3);
}

static void test_ir_graph_verify_reports_outputs_nobody_produces(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    gb_input(g, "x", DT_F32, SHP(2));
    Value *ghost = ir_value_add(g, "ghost", DT_F32);
    ir_graph_add_output(g, ghost);
    assert_int_equal(ir_graph_verify(g, &s->c.d), -1);
    assert_string_equal(capture_text(&s->c),
                        "test.onnx: graph output 'ghost' is not produced by any node\n");
}

static void test_ir_graph_verify_reports_an_output_with_another_producer(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    Value *x = gb_input(g, "x", DT_F32, SHP(2));
    Node *a = gb_node(g, OP_RELU, "a", "y", 1, x);
    Node *b = ir_node_add(g, OP_TANH, NULL, "b", 1, &x, 1, &a->outputs[0]); /* steals y */
    (void)b;
    assert_int_equal(ir_graph_verify(g, &s->c.d), -1);
    assert_string_equal(capture_text(&s->c),
                        "test.onnx: node 'a' (Relu): output 'y' names another producer\n");
}

/* --- shapes, types and the op table -------------------------------------- */

static void test_shape_helpers_treat_the_batch_dim_as_one(void **state) {
    (void)state;
    char buf[64];
    Shape s = SHP(DIM_N, 3, 4);
    assert_int_equal(shape_numel(&s), 12);
    assert_true(shape_is_dynamic(&s));
    assert_string_equal(shape_str(&s, buf, sizeof buf), "[N,3,4]");
    Shape t = SHP(3, 4);
    assert_false(shape_is_dynamic(&t));
    assert_false(shape_equal(&s, &t));
    assert_true(shape_equal(&s, &SHP(DIM_N, 3, 4)));
    assert_string_equal(shape_str(&SHP0, buf, sizeof buf), "[]");
    assert_int_equal(shape_numel(&SHP0), 1);
    assert_string_equal(shape_str(&(Shape){-1, {0}}, buf, sizeof buf), "[?]");
    /* A short buffer truncates instead of overflowing. */
    char small[5];
    shape_str(&SHP(1000, 2000), small, sizeof small);
    assert_int_equal(strlen(small), 4);
}

static void test_dtype_tables_follow_the_onnx_numbering(void **state) {
    (void)state;
    assert_string_equal(dtype_name(DT_F32), "f32");
    assert_string_equal(dtype_name(DT_I64), "i64");
    assert_string_equal(dtype_name((DType)99), "?");
    assert_string_equal(dtype_onnx_name(DT_F32), "float");
    assert_string_equal(dtype_onnx_name(DT_I32), "int32");
    assert_string_equal(dtype_onnx_name(DT_UNDEF), "undefined");
    assert_int_equal(dtype_size(DT_F32), 4);
    assert_int_equal(dtype_size(DT_I64), 8);
    assert_int_equal(dtype_size(DT_BOOL), 1);
    assert_int_equal(dtype_size(DT_F16), 2);
    assert_int_equal(dtype_size(DT_STRING), 0);
    assert_int_equal(DT_F32, 1);
    assert_int_equal(DT_I64, 7);
}

static void test_op_lookup_finds_every_op_in_the_table_and_nothing_else(void **state) {
    (void)state;
    for (int i = 0; i < OP_COUNT; i++)
        assert_int_equal(op_lookup_domain(op_info((OpKind)i)->domain, op_info((OpKind)i)->name), i);
    assert_int_equal(op_lookup("Gemm"), OP_GEMM);
    assert_int_equal(op_lookup("gemm"), OP_UNKNOWN); /* ONNX names are case sensitive */
    assert_int_equal(op_lookup("Conv2D"), OP_UNKNOWN);
    /* ONNX-ML ops are found only under their domain, and default ops only under theirs. */
    assert_int_equal(op_lookup("Scaler"), OP_UNKNOWN);
    assert_int_equal(op_lookup_domain("", "Scaler"), OP_UNKNOWN);
    assert_int_equal(op_lookup_domain("ai.onnx.ml", "Scaler"), OP_SCALER);
    assert_int_equal(op_lookup_domain("ai.onnx.ml", "TreeEnsembleClassifier"),
                     OP_TREE_ENSEMBLE_CLASSIFIER);
    assert_int_equal(op_lookup_domain("ai.onnx.ml", "Gemm"), OP_UNKNOWN);
    assert_int_equal(op_lookup_domain("ai.onnx", "Gemm"), OP_GEMM);
    assert_string_equal(op_info(OP_SCALER)->domain, "ai.onnx.ml");
    assert_int_equal(op_info(OP_SCALER)->until, KILN_MAX_ML_OPSET);
    assert_int_equal(op_info(OP_GEMM)->until, KILN_MAX_OPSET);
    assert_int_equal(op_info(OP_GEMM)->in_min, 2);
    assert_int_equal(op_info(OP_GEMM)->in_max, 3);
    assert_string_equal(op_info(OP_UNKNOWN)->name, "?");
}

static void test_arena_allocations_are_zeroed_and_aligned(void **state) {
    (void)state;
    Arena *a = arena_create(0); /* rounds up to a minimum chunk */
    for (int i = 1; i < 200; i++) {
        unsigned char *p = arena_alloc(a, (size_t)i * 7);
        assert_int_equal((uintptr_t)p % 16, 0);
        for (int j = 0; j < i * 7; j++)
            assert_int_equal(p[j], 0);
        memset(p, 0xab, (size_t)i * 7);
    }
    unsigned char *big = arena_alloc_aligned(a, 1 << 20, 64); /* bigger than a chunk */
    assert_int_equal((uintptr_t)big % 64, 0);
    assert_int_equal(big[(1 << 20) - 1], 0);
    char *p = arena_printf(a, "%s-%d", "node", 12);
    assert_string_equal(p, "node-12");
    assert_string_equal(arena_strdup(a, "abc"), "abc");
    arena_destroy(a);
    arena_destroy(NULL);
}

/* --- printing ------------------------------------------------------------ */

static void test_ir_graph_print_produces_the_documented_text_form(void **state) {
    State *s = *state;
    /* The example at the top of ir.h, plus the bias initializer. */
    Graph *g = ir_graph_create(s->a, "models/fraud.onnx");
    g->name = "main_graph";
    g->opset = 17;
    Value *x = gb_input(g, "input", DT_F32, SHP(DIM_N, 30));
    static float w[64 * 30], b[64];
    Value *wv = gb_init_f32(g, "fc1.weight", SHP(64, 30), w);
    Value *bv = gb_init_f32(g, "fc1.bias", SHP(64), b);
    Node *n = gb_node(g, OP_GEMM, "fc1", "x1", 3, x, wv, bv);
    gb_attr_int(n, "transB", 1);
    n->epilogue = EPI_RELU;
    gb_out(n)->dtype = DT_F32;
    gb_out(n)->shape = SHP(DIM_N, 64);
    ir_graph_add_output(g, gb_out(n));

    ir_graph_print(g, s->c.f);
    assert_string_equal(
        capture_text(&s->c),
        "graph main_graph opset 17 (fraud.onnx)\n"
        "  input  %input: f32[N,30]\n"
        "  init   %fc1.weight: f32[64,30]\n"
        "  init   %fc1.bias: f32[64]\n"
        "  %x1: f32[N,64] = Gemm 'fc1' (%input, %fc1.weight, %fc1.bias) {transB=1} +relu\n"
        "  output %x1\n");
}

static void test_ir_graph_print_shows_attrs_omitted_inputs_and_unknown_ops(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 11);
    Value *x = gb_input(g, "x", DT_F32, SHP(2, 3));
    Node *sm = gb_node(g, OP_SOFTMAX, "sm", "y", 1, x);
    gb_attr_int(sm, "axis", -1);
    gb_attr_float(sm, "alpha", 0.25f);
    ir_attr_add(sm, "mode", ATTR_STRING)->s = "fast";
    Attr *ints = ir_attr_add(sm, "perm", ATTR_INTS);
    ints->n = 2;
    ints->ints = (int64_t[]){1, 0};
    Value *outs[2] = {ir_value_add(g, "d", DT_UNDEF), ir_value_add(g, "m", DT_UNDEF)};
    Value *ins[3] = {gb_out(sm), NULL, NULL};
    ir_node_add(g, OP_DROPOUT, NULL, "drop", 3, ins, 2, outs);
    Value *u = ir_value_add(g, "u", DT_UNDEF);
    ir_node_add(g, OP_UNKNOWN, "FancyOp", "fancy", 1, &outs[0], 1, &u);
    ir_graph_add_output(g, u);

    ir_graph_print(g, s->c.f);
    assert_string_equal(capture_text(&s->c),
                        "graph main opset 11 (test.onnx)\n"
                        "  input  %x: f32[2,3]\n"
                        "  %y: ?[?] = Softmax 'sm' (%x) {axis=-1, alpha=0.25, mode=\"fast\", "
                        "perm=[1,0]}\n"
                        "  %d: ?[?], %m: ?[?] = Dropout 'drop' (%y, _, _)\n"
                        "  %u: ?[?] = FancyOp 'fancy' (%d)\n"
                        "  output %u\n");
}

/* Groups as [first,end) pairs, leading empty groups left out: "[0,2) [2,3)". */
static const char *loop_nest_str(const Shape *out, const Shape *const *ins, int k) {
    static char buf[128];
    LoopNest ln;
    int r = loop_nest_build(out, ins, k, &ln), at = 0;
    if (r > 4) return "too many";
    buf[0] = 0;
    for (int g = 4 - r; g < 4; g++)
        at += snprintf(buf + at, sizeof buf - (size_t)at, "%s[%d,%d)", at ? " " : "", ln.first[g],
                       ln.end[g]);
    return buf;
}

static void test_loop_nest_merges_contiguous_axes_and_drops_size_1(void **state) {
    (void)state;
    Shape out = SHP(DIM_N, 3, 1, 4), same = out, row = SHP(4), col = SHP(DIM_N, 3, 1, 1);
    const Shape *a[] = {&out, &same}, *b[] = {&out, &row}, *c[] = {&out, &col};
    assert_string_equal(loop_nest_str(&out, a, 2), "[0,4)");
    assert_string_equal(loop_nest_str(&out, b, 2), "[0,2) [3,4)");
    assert_string_equal(loop_nest_str(&out, c, 2), "[0,2) [3,4)");
    LoopNest ln;
    int from, to;
    loop_nest_build(&out, b, 2, &ln);
    assert_int_equal(loop_nest_operand(&ln, 2, &out, &row, &from, &to), 0); /* row: broadcast */
    assert_int_equal(loop_nest_operand(&ln, 3, &out, &row, &from, &to), 1);
    assert_int_equal(from, 1); /* stride: dims [1, 1) of row, i.e. 1 */
    assert_int_equal(to, 1);
    assert_int_equal(loop_nest_operand(&ln, 0, &out, &row, &from, &to), 0); /* empty group */
    Shape o5 = SHP(2, 3, 2, 3, 2), alt = SHP(2, 1, 2, 1, 2);
    const Shape *d[] = {&o5, &alt};
    assert_string_equal(loop_nest_str(&o5, d, 2), "too many");
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_ir_value_add_copies_the_name_and_starts_unshaped),
        T(test_loop_nest_merges_contiguous_axes_and_drops_size_1),
        T(test_ir_value_find_returns_the_value_or_null),
        T(test_ir_node_add_sets_producers_opset_and_default_op_type),
        T(test_ir_node_add_copies_the_input_array),
        T(test_ir_node_insert_before_keeps_topological_order),
        T(test_ir_graph_add_input_and_output_record_their_positions),
        T(test_ir_attr_lookup_returns_values_or_the_defaults),
        T(test_ir_value_replace_uses_rewrites_node_inputs_and_graph_outputs),
        T(test_ir_graph_recount_counts_graph_outputs_as_uses),
        T(test_ir_graph_compact_removes_dead_nodes_and_orphan_values),
        T(test_ir_value_sole_user_finds_the_one_reader_or_null),
        T(test_ir_node_absorb_hands_over_the_output_and_kills_the_reader),
        T(test_ir_attr_set_replaces_or_adds),
        T(test_ir_graph_verify_accepts_a_well_formed_graph),
        T(test_ir_graph_verify_reports_use_before_definition),
        T(test_ir_graph_verify_reports_every_arity_error),
        T(test_ir_graph_verify_reports_outputs_nobody_produces),
        T(test_ir_graph_verify_reports_an_output_with_another_producer),
        T(test_shape_helpers_treat_the_batch_dim_as_one),
        T(test_dtype_tables_follow_the_onnx_numbering),
        T(test_op_lookup_finds_every_op_in_the_table_and_nothing_else),
        T(test_arena_allocations_are_zeroed_and_aligned),
        T(test_ir_graph_print_produces_the_documented_text_form),
        T(test_ir_graph_print_shows_attrs_omitted_inputs_and_unknown_ops),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
