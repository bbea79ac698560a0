/* test_signal_shapes.c: the shape functions of the signal, sampling and
 * string ops (passes/shapes_signal.c) and the string-input rule of
 * pass_check_types: output shapes on static and symbolic dims, the scratch
 * the transforms reserve, the windows computed at compile time, and the
 * diagnostics for what kiln refuses. */
#include "fixture.h"
#include "signal_ops.h"

#define N DIM_N

static void test_dft_one_sided_output_and_scratch_follow_dft_length(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    Value *x = gb_input(g, "x", DT_F32, SHP(GB_N, 10, 3, 1));
    static const int64_t len = 16;
    Value *l = gb_init(g, "len", DT_I64, SHP0, &len);
    Node *n = gb_node(g, OP_DFT, "dft", "y", 2, x, l);
    gb_attr_int(n, "onesided", 1);
    assert_int_equal(pass_infer_shapes(g, &s->c.d), 0);
    assert_string_equal(capture_text(&s->c), "");
    const Shape *y = &gb_out(n)->shape;
    assert_int_equal(y->rank, 4);
    assert_true(y->dims[0] == N && y->dims[1] == 9 && y->dims[2] == 3 && y->dims[3] == 2);
    assert_int_equal(n->scratch, 16 * SIGNAL_SCRATCH_BYTES_PER_POINT);
}

static void test_dft_refuses_onesided_complex_input_and_the_last_axis(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    Value *x = gb_input(g, "x", DT_F32, SHP(1, 8, 2));
    Node *a = gb_node(g, OP_DFT, "complex", "y", 1, x);
    gb_attr_int(a, "onesided", 1);
    Node *b = gb_node(g, OP_DFT, "last", "z", 1, x);
    gb_attr_int(b, "axis", -1);
    assert_int_equal(pass_infer_shapes(g, &s->c.d), -1);
    const char *text = capture_text(&s->c);
    assert_non_null(strstr(text, "node 'complex' (DFT): onesided=1 needs a real signal"));
    assert_non_null(strstr(text, "node 'last' (DFT): axis -1 is out of range for rank 3"));
}

static void test_stft_frames_a_symbolic_length(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    Dim len = dim_sym("len");
    Value *x = gb_input(g, "x", DT_F32, SHP(2, len, 1));
    static const int64_t step = 4, flen = 16;
    Value *st = gb_init(g, "step", DT_I64, SHP0, &step),
          *fl = gb_init(g, "flen", DT_I64, SHP0, &flen);
    Node *n = gb_node(g, OP_STFT, "stft", "y", 4, x, st, NULL, fl);
    assert_int_equal(pass_infer_shapes(g, &s->c.d), 0);
    const Shape *y = &gb_out(n)->shape;
    assert_true(y->dims[0] == 2 && y->dims[2] == 9 && y->dims[3] == 2);
    assert_true(y->dims[1] == dim_add(dim_floordiv(dim_sub(len, 16), 4), 1));
    assert_true(g->n_dim_checks >= 1); /* len >= 16 is checked at run time */
}

static void test_hann_window_is_computed_at_compile_time(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    static const int32_t size = 4;
    Value *sz = gb_init(g, "size", DT_I32, SHP0, &size);
    Node *n = gb_node(g, OP_HANN_WINDOW, "hann", "w", 1, sz);
    assert_int_equal(pass_infer_shapes(g, &s->c.d), 0);
    assert_int_equal(n->plan_kind, PLAN_CONST);
    const float *w = n->plan.bytes; /* periodic: 0.5 - 0.5 cos(2 pi k / 4) */
    assert_float_equal(w[0], 0.0f, 1e-7);
    assert_float_equal(w[1], 0.5f, 1e-7);
    assert_float_equal(w[2], 1.0f, 1e-7);
    assert_float_equal(w[3], 0.5f, 1e-7);
}

static void test_window_sizes_must_be_integer_constants(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    static const float size = 4.0f;
    Value *sz = gb_init(g, "size", DT_F32, SHP0, &size);
    gb_node(g, OP_HANN_WINDOW, "hann", "w", 1, sz);
    Value *in = gb_input(g, "n", DT_I64, SHP0);
    gb_node(g, OP_BLACKMAN_WINDOW, "black", "b", 1, in);
    assert_int_equal(pass_infer_shapes(g, &s->c.d), -1);
    const char *text = capture_text(&s->c);
    assert_non_null(strstr(text, "node 'hann' (HannWindow): input 'size' is float; this size must "
                                 "be int32 or int64"));
    assert_non_null(strstr(text, "node 'black' (BlackmanWindow): input 0 ('n') must be a constant "
                                 "scalar"));
}

static void test_check_types_lets_strings_into_tfidf_only(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 9);
    Value *x = gb_input(g, "text", DT_STRING, SHP(GB_N, 5));
    Node *t = gb_node(g, OP_TFIDF_VECTORIZER, "tfidf", "y", 1, x);
    ir_attr_add(t, "mode", ATTR_STRING)->s = "TF";
    gb_attr_int(t, "min_gram_length", 1);
    gb_attr_int(t, "max_gram_length", 1);
    gb_attr_ints(t, "ngram_counts", 1, (const int64_t[]){0});
    gb_attr_ints(t, "ngram_indexes", 2, (const int64_t[]){0, 1});
    Attr *pool = ir_attr_add(t, "pool_strings", ATTR_STRINGS);
    static const char *words[] = {"cat", "dog"};
    pool->n = 2, pool->strings = words;
    assert_int_equal(pass_infer_shapes(g, &s->c.d), 0);
    assert_int_equal(pass_check_types(g, &s->c.d), 0);
    assert_string_equal(capture_text(&s->c), "");
    assert_int_equal(gb_out(t)->dtype, DT_F32);
    assert_true(gb_out(t)->shape.dims[1] == 2);
    assert_true(t->scratch == dim_mul(N, 5 * 8)); /* the token ids */
    /* The same input into an op that takes no strings is refused. */
    gb_node(g, OP_IDENTITY, "copy", "z", 1, x);
    assert_int_equal(pass_infer_shapes(g, &s->c.d), 0);
    assert_int_equal(pass_check_types(g, &s->c.d), -1);
    assert_non_null(strstr(capture_text(&s->c), "node 'copy' (Identity): input 'text' has element "
                                                "type string, which kiln does not support"));
}

static void test_grid_sample_and_roi_align_shapes(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 16);
    Value *x = gb_input(g, "x", DT_F32, SHP(GB_N, 3, 8, 9));
    Value *grid = gb_input(g, "grid", DT_F32, SHP(GB_N, 5, 6, 2));
    Node *gs = gb_node(g, OP_GRID_SAMPLE, "gs", "y", 2, x, grid);
    Dim r = dim_sym("rois");
    Value *rois = gb_input(g, "rois", DT_F32, SHP(r, 4)), *bi = gb_input(g, "bi", DT_I64, SHP(r));
    Node *ra = gb_node(g, OP_ROI_ALIGN, "ra", "z", 3, x, rois, bi);
    gb_attr_int(ra, "output_height", 2);
    gb_attr_int(ra, "output_width", 7);
    assert_int_equal(pass_infer_shapes(g, &s->c.d), 0);
    const Shape *y = &gb_out(gs)->shape, *z = &gb_out(ra)->shape;
    assert_true(y->dims[0] == N && y->dims[1] == 3 && y->dims[2] == 5 && y->dims[3] == 6);
    assert_true(z->dims[0] == r && z->dims[1] == 3 && z->dims[2] == 2 && z->dims[3] == 7);
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_dft_one_sided_output_and_scratch_follow_dft_length),
        T(test_dft_refuses_onesided_complex_input_and_the_last_axis),
        T(test_stft_frames_a_symbolic_length),
        T(test_hann_window_is_computed_at_compile_time),
        T(test_window_sizes_must_be_integer_constants),
        T(test_check_types_lets_strings_into_tfidf_only),
        T(test_grid_sample_and_roi_align_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
