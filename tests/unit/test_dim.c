/* test_dim.c: symbolic dimensions (compiler/ir/dim.c).
 *
 * Each test starts from an empty table and resets it at the end, so the
 * ASan build checks that dim_reset() frees everything. Random expressions
 * are checked against a direct C evaluation of the same tree over every
 * value of their symbols in small ranges, and through the text form.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dim.h"

static int teardown(void **state) {
    (void)state;
    dim_reset();
    return 0;
}

static const char *str(Dim d) {
    static char buf[4][256];
    static int i;
    i = (i + 1) % 4;
    return dim_str(d, buf[i], sizeof buf[i]);
}

/* Parses all of s; DIM_INVALID unless it is one whole expression. */
static Dim parse(const char *s) {
    const char *p = s;
    Dim d = dim_parse(&p);
    if (d == DIM_INVALID) assert_ptr_equal(p, s);
    while (*p == ' ')
        p++;
    return *p ? DIM_INVALID : d;
}

/* parse(str(d)) is d, unless d's text is too long to check. */
static void assert_round_trip(Dim d) {
    char buf[4096];
    dim_str(d, buf, sizeof buf);
    if (strlen(buf) < sizeof buf - 1 && parse(buf) != d)
        fail_msg("'%s' parses as '%s'", buf, str(parse(buf)));
}

static Dim sym(const char *name, int64_t lo, int64_t hi) {
    Dim d = dim_sym(name);
    assert_int_equal(dim_sym_set_bounds(dim_sym_of(d), lo, hi), 0);
    return d;
}

static void assert_bounds(Dim d, int64_t lo, int64_t hi) {
    int64_t l = 0, h = 0;
    assert_int_equal(dim_bounds(d, &l, &h), 0);
    assert_true(l == lo);
    assert_true(h == hi);
}

static void test_dim_constants_are_sizes_and_negative_ones_expressions(void **state) {
    (void)state;
    int64_t v = 0;
    assert_true(dim_const(5) == 5);
    assert_true(dim_add(2, 3) == 5 && dim_mul(4, 6) == 24 && dim_sub(7, 7) == 0);
    Dim m = dim_sub(2, 3);
    assert_true(m < 0 && m != DIM_INVALID);
    assert_true(m == dim_const(-1));
    assert_int_equal(dim_expr(m)->kind, DIMK_CONST);
    assert_int_equal(dim_value(m, &v), 1);
    assert_true(v == -1);
    assert_int_equal(dim_value(12, &v), 1);
    assert_true(v == 12);
    assert_string_equal(str(m), "-1");
    assert_true(dim_add(m, 1) == 0);
    assert_true(dim_floordiv(7, 2) == 3 && dim_floordiv(dim_const(-7), 2) == dim_const(-4));
    assert_true(dim_ceildiv(7, 2) == 4 && dim_ceildiv(dim_const(-7), 2) == dim_const(-3));
    assert_true(dim_mod(dim_const(-7), 3) == 2 && dim_mod(7, 3) == 1);
    assert_true(dim_min(3, 5) == 3 && dim_max(dim_const(-3), 5) == 5);
    assert_null(dim_expr(5));
    assert_null(dim_expr(DIM_INVALID));
}

static void test_dim_symbols_are_named_once_and_fresh_ones_skip_used_names(void **state) {
    (void)state;
    int64_t lo = 0, hi = 0;
    Dim b = dim_sym("batch");
    assert_true(b < 0 && dim_sym("batch") == b);
    assert_int_equal(dim_sym_of(b), 0);
    assert_true(dim_sym_dim(0) == b);
    assert_string_equal(dim_sym_name(0), "batch");
    assert_int_equal(dim_expr(b)->kind, DIMK_SYM);
    dim_sym_bounds(0, &lo, &hi);
    assert_true(lo == DIM_DEFAULT_LO && hi == DIM_DEFAULT_HI);
    dim_sym("unk_2");
    assert_string_equal(str(dim_fresh()), "unk_1");
    assert_string_equal(str(dim_fresh()), "unk_3");
    assert_int_equal(dim_n_syms(), 4);
    assert_int_equal(dim_sym_of(dim_add(b, 1)), -1);
    assert_true(dim_sym(NULL) == DIM_INVALID && dim_sym("") == DIM_INVALID);
    assert_null(dim_sym_name(4));
    assert_true(dim_sym_dim(-1) == DIM_INVALID);
}

static void test_dim_bounds_are_set_only_before_the_symbol_is_used(void **state) {
    (void)state;
    Dim s = dim_sym("seq");
    assert_int_equal(dim_sym_set_bounds(0, 2, 1), -1);
    assert_int_equal(dim_sym_set_bounds(0, -1, 3), -1);
    assert_int_equal(dim_sym_set_bounds(0, 1, 512), 0);
    assert_int_equal(dim_sym_set_bounds(0, 1, 256), 0);
    Dim e = dim_mul(s, 2);
    assert_bounds(e, 2, 512);
    assert_int_equal(dim_sym_set_bounds(0, 1, 1024), -1);
    assert_bounds(s, 1, 256);
    assert_int_equal(dim_sym_set_bounds(7, 1, 2), -1);
}

static void test_dim_canonical_form_is_independent_of_construction_order(void **state) {
    (void)state;
    Dim a = dim_sym("a"), b = dim_sym("b"), c = dim_sym("c");
    assert_true(dim_add(a, b) == dim_add(b, a));
    assert_true(dim_mul(dim_mul(a, b), c) == dim_mul(a, dim_mul(b, c)));
    assert_true(dim_mul(dim_mul(c, b), a) == dim_mul(a, dim_mul(b, c)));
    assert_true(dim_sub(dim_add(a, 1), 1) == a);
    assert_true(dim_sub(dim_mul(a, b), dim_mul(b, a)) == 0);
    assert_true(dim_mul(dim_add(a, b), dim_sub(a, b)) == dim_sub(dim_mul(a, a), dim_mul(b, b)));
    assert_true(dim_add(dim_add(a, 3), dim_add(b, 4)) == dim_add(dim_add(b, a), 7));
    assert_true(dim_mul(a, 1) == a && dim_mul(a, 0) == 0 && dim_add(a, 0) == a);
    assert_string_equal(str(dim_mul(dim_mul(8, a), b)), "a*b*8");
    assert_string_equal(str(dim_sub(dim_mul(a, a), dim_mul(b, 2))), "a*a-b*2");
    assert_string_equal(str(dim_sub(1, a)), "-a+1");
    const DimExpr *e = dim_expr(dim_add(dim_mul(b, dim_mul(a, 3)), dim_mul(a, a)));
    assert_int_equal(e->kind, DIMK_POLY);
    assert_int_equal(e->n_terms, 2);
    assert_true(e->terms[0].coef == 1 && e->terms[0].n == 1 && e->terms[0].atom[0] == a);
    assert_int_equal(e->terms[0].exp[0], 2);
    assert_true(e->terms[1].coef == 3 && e->terms[1].n == 2 && e->terms[1].atom[1] == b);
    assert_true(dim_min(a, b) == dim_min(b, a) && dim_max(a, b) == dim_max(b, a));
    assert_true(dim_min(a, dim_min(a, b)) == dim_min(a, b));
    assert_true(dim_min(dim_min(a, b), c) == dim_min(a, dim_min(c, b)));
    assert_true(dim_max(dim_max(c, 7), dim_max(b, a)) == dim_max(a, dim_max(b, dim_max(c, 7))));
    assert_true(dim_min(dim_min(a, b), dim_add(a, 1)) == dim_min(a, b));
    assert_string_equal(str(dim_min(dim_min(c, 9), dim_min(b, a))), "min(a,min(b,min(c,9)))");
}

static void test_dim_floordiv_simplifies_what_divides(void **state) {
    (void)state;
    Dim x = dim_sym("x"), h = dim_sym("h"), w = dim_sym("w");
    assert_true(dim_floordiv(dim_mul(x, 8), 8) == x);
    assert_true(dim_floordiv(x, 1) == x);
    assert_true(dim_floordiv(dim_add(dim_mul(h, 2), 1), 2) == h);
    assert_true(dim_floordiv(dim_mul(dim_mul(x, h), 8), dim_mul(h, 8)) == x);
    assert_true(dim_floordiv(dim_mul(dim_add(h, 3), w), w) == dim_add(h, 3));
    assert_true(dim_floordiv(dim_add(h, dim_mul(w, 8)), 8) == dim_add(w, dim_floordiv(h, 8)));
    assert_true(dim_floordiv(dim_mul(h, 2), 4) == dim_floordiv(h, 2));
    assert_true(dim_floordiv(dim_add(h, 5), 2) == dim_add(dim_floordiv(dim_add(h, 1), 2), 2));
    assert_true(dim_floordiv(h, 5000) == 0); /* h <= 4096 */
    assert_string_equal(str(dim_floordiv(dim_add(dim_mul(h, 8), 3), h)), "3/h+8");
    assert_string_equal(str(dim_floordiv(h, w)), "h/w");
    assert_true(dim_floordiv(dim_floordiv(h, 2), 3) == dim_floordiv(h, 6));
    assert_true(dim_floordiv(dim_floordiv(h, w), 2) == dim_floordiv(h, dim_mul(w, 2)));
    /* Two stride-2 convs. */
    assert_true(dim_floordiv(dim_add(dim_floordiv(dim_add(h, 1), 2), 1), 2) ==
                dim_floordiv(dim_add(h, 3), 4));
    Dim v = sym("v", 1, 4), nest = dim_floordiv(dim_sub(dim_floordiv(h, w), 1), v);
    assert_true(nest == dim_floordiv(dim_sub(h, w), dim_mul(w, v)));
    for (int64_t vals[4] = {0, 1, 1, 1}; vals[1] <= 20; vals[1]++)
        for (vals[2] = 1; vals[2] <= 5; vals[2]++)
            for (vals[3] = 1; vals[3] <= 4; vals[3]++) {
                int64_t got = 0, q = vals[1] / vals[2] - 1;
                assert_int_equal(dim_eval(nest, vals, &got), 0);
                assert_true(got == (q >= 0 ? q / vals[3] : -((-q + vals[3] - 1) / vals[3])));
            }
    assert_true(dim_floordiv(h, dim_sub(w, 1)) == DIM_INVALID); /* w-1 may be 0 */
    assert_true(dim_floordiv(h, 0) == DIM_INVALID);
}

static void test_dim_exact_div_divides_by_constants_monomials_and_polynomials(void **state) {
    (void)state;
    Dim batch = dim_sym("batch"), seq = dim_sym("seq"), a = dim_sym("a"), b = dim_sym("b");
    Dim all = dim_mul(dim_mul(batch, seq), 512);
    assert_true(dim_exact_div(all, dim_mul(batch, 512)) == seq);
    assert_true(dim_exact_div(all, 512) == dim_mul(batch, seq));
    assert_true(dim_exact_div(all, dim_mul(batch, 1024)) == DIM_INVALID);
    assert_true(dim_exact_div(all, dim_mul(a, 512)) == DIM_INVALID);
    assert_true(dim_exact_div(dim_add(dim_mul(a, b), a), dim_add(b, 1)) == a);
    Dim p = dim_mul(dim_add(a, 2), dim_sub(b, 3));
    assert_true(dim_exact_div(p, dim_sub(b, 3)) == dim_add(a, 2));
    assert_true(dim_exact_div(p, dim_add(b, 3)) == DIM_INVALID);
    assert_true(dim_exact_div(all, 0) == DIM_INVALID);
    assert_true(dim_exact_div(12, 4) == 3 && dim_exact_div(12, 5) == DIM_INVALID);
    assert_true(dim_exact_div(dim_const(-12), 4) == dim_const(-3));
}

static void test_dim_mod_and_ceildiv_simplify(void **state) {
    (void)state;
    Dim h = dim_sym("h"), w = dim_sym("w");
    assert_true(dim_mod(dim_add(dim_mul(h, 2), 1), 2) == 1);
    assert_true(dim_mod(dim_add(dim_mul(h, 4), 6), 4) == 2);
    assert_true(dim_mod(h, 1) == 0 && dim_mod(dim_mul(h, w), w) == 0);
    assert_true(dim_mod(dim_add(h, 8), 8) == dim_mod(h, 8));
    assert_true(dim_mod(dim_mod(h, 8), 4) == dim_mod(h, 4));
    assert_true(dim_ceildiv(dim_ceildiv(h, w), 2) == dim_ceildiv(h, dim_mul(w, 2)));
    assert_string_equal(str(dim_mod(dim_mul(h, 2), 6)), "h%3*2");
    assert_true(dim_ceildiv(h, 2) == dim_floordiv(dim_add(h, 1), 2));
    assert_true(dim_ceildiv(dim_mul(h, 8), 8) == h);
    assert_string_equal(str(dim_ceildiv(h, w)), "cdiv(h,w)");
    Dim s = sym("s", 0, 5);
    assert_true(dim_mod(s, 8) == s);
    assert_true(dim_mod(dim_add(s, 8), 8) == s);
}

static void test_dim_min_max_simplify_by_bounds(void **state) {
    (void)state;
    Dim seq = sym("seq", 1, 512), a = dim_sym("a"), b = dim_sym("b");
    assert_true(dim_min(seq, 512) == seq && dim_max(seq, 512) == 512);
    assert_true(dim_min(512, seq) == seq);
    assert_true(dim_max(a, a) == a && dim_min(a, a) == a);
    assert_true(dim_max(dim_mul(a, b), a) == dim_mul(a, b));
    assert_true(dim_min(dim_add(a, 1), a) == a);
    assert_true(dim_max(a, 0) == a);
    Dim m = dim_min(a, b);
    assert_int_equal(dim_expr(m)->kind, DIMK_MIN);
    assert_string_equal(str(dim_min(seq, 100)), "min(seq,100)");
    assert_bounds(dim_min(seq, 100), 1, 100);
    assert_bounds(dim_max(seq, 100), 100, 512);
    assert_int_equal(dim_provably_le(seq, 512), 1);
    assert_int_equal(dim_provably_le(seq, 511), 0);
    assert_int_equal(dim_provably_le(a, dim_mul(a, b)), 1);
    assert_int_equal(dim_provably_le(DIM_INVALID, 3), 0);
    /* What the bounds of the difference miss. */
    Dim h = dim_sym("h");
    assert_true(dim_min(dim_floordiv(h, 2), h) == dim_floordiv(h, 2));
    assert_true(dim_max(dim_floordiv(dim_add(h, 1), 2), h) == h);
    assert_int_equal(dim_provably_le(dim_ceildiv(h, a), h), 1);
    assert_int_equal(dim_provably_le(dim_floordiv(dim_add(h, 1), 2), dim_floordiv(h, 2)), 0);
    assert_int_equal(dim_provably_le(dim_mod(h, 8), 7), 1);
    assert_int_equal(dim_provably_le(dim_min(a, b), dim_max(a, h)), 1);
    assert_int_equal(dim_provably_le(dim_max(a, b), dim_add(a, b)), 1);
    assert_int_equal(dim_provably_le(dim_max(a, b), a), 0);
}

static void test_dim_conv_output_size_prints_evaluates_and_bounds_right(void **state) {
    (void)state;
    Dim h = dim_sym("h");
    Dim out = dim_add(dim_floordiv(dim_sub(dim_add(h, 2), 3), 2), 1);
    assert_string_equal(str(out), "(h+1)/2");
    assert_bounds(out, 1, 2048);
    for (int64_t v = 1; v <= 64; v++) {
        int64_t got = -1;
        assert_int_equal(dim_eval(out, &v, &got), 0);
        assert_true(got == (v + 2 - 3) / 2 + 1);
    }
    Dim valid = dim_add(dim_floordiv(dim_sub(h, 3), 2), 1); /* no padding */
    assert_string_equal(str(valid), "(h+1)/2-1");
    assert_bounds(valid, 0, 2047);
    assert_true(parse(str(valid)) == valid && parse("(h-3)/2+1") == valid);
}

static void test_dim_bounds_follow_interval_arithmetic(void **state) {
    (void)state;
    Dim h = sym("h", 1, 10), w = sym("w", 0, 3);
    assert_bounds(dim_sub(dim_mul(h, 2), 1), 1, 19);
    assert_bounds(dim_sub(h, w), -2, 10);
    assert_bounds(dim_mul(h, w), 0, 30);
    assert_bounds(dim_sub(dim_mul(h, w), h), -10, 20);
    assert_bounds(dim_floordiv(dim_sub(h, 4), 3), -1, 2);
    assert_bounds(dim_ceildiv(h, dim_add(w, 1)), 1, 10);
    assert_bounds(dim_mod(h, dim_add(w, 2)), 0, 4);
    assert_bounds(7, 7, 7);
    int64_t lo, hi;
    assert_int_equal(dim_bounds(DIM_INVALID, &lo, &hi), -1);
    Dim big = sym("big", 0, INT64_MAX);
    assert_bounds(dim_mul(big, 2), 0, INT64_MAX);
    assert_bounds(dim_sub(0, dim_mul(big, 2)), INT64_MIN, 0);
}

static void test_dim_overflow_gives_invalid_which_propagates(void **state) {
    (void)state;
    Dim x = dim_sym("x");
    assert_true(dim_add(INT64_MAX, 1) == DIM_INVALID);
    assert_true(dim_mul(INT64_C(1) << 40, INT64_C(1) << 40) == DIM_INVALID);
    assert_true(dim_const(INT64_MIN) == DIM_INVALID);
    Dim big = dim_mul(x, INT64_C(1) << 62);
    assert_true(big != DIM_INVALID && dim_mul(big, 4) == DIM_INVALID);
    assert_true(dim_add(big, big) == DIM_INVALID);
    assert_true(dim_add(DIM_INVALID, 1) == DIM_INVALID && dim_mul(x, DIM_INVALID) == DIM_INVALID);
    assert_true(dim_floordiv(DIM_INVALID, 2) == DIM_INVALID);
    assert_true(dim_min(x, DIM_INVALID) == DIM_INVALID);
    assert_true(dim_add(-12345, 1) == DIM_INVALID); /* not a Dim of this table */
    /* More than DIM_MAX_TERMS terms. */
    Dim s = 0;
    char name[16];
    for (int i = 0; i < DIM_MAX_TERMS; i++) {
        snprintf(name, sizeof name, "s%d", i);
        s = dim_add(s, dim_sym(name));
    }
    assert_true(s != DIM_INVALID && dim_add(s, 1) == DIM_INVALID);
    Dim p = x;
    for (int i = 0; i < 5; i++)
        p = dim_mul(p, p); /* x^32 */
    assert_true(p != DIM_INVALID && dim_mul(p, dim_mul(p, p)) == DIM_INVALID);
    int64_t v = 1 << 20, out;
    assert_int_equal(dim_eval(big, &v, &out), -1);
    assert_int_equal(dim_eval(DIM_INVALID, &v, &out), -1);
    assert_int_equal(dim_eval(x, NULL, &out), -1);
    /* Values outside the bounds: division by zero is an error, not a trap. */
    Dim y = dim_sym("y");
    int64_t xy[DIM_MAX_SYMS] = {5};
    xy[dim_sym_of(y)] = 0;
    assert_int_equal(dim_eval(dim_floordiv(x, y), xy, &out), -1);
    assert_int_equal(dim_eval(dim_mod(x, y), xy, &out), -1);
    assert_int_equal(dim_eval(dim_ceildiv(x, y), xy, &out), -1);
    xy[dim_sym_of(y)] = -2;
    assert_int_equal(dim_eval(dim_floordiv(x, y), xy, &out), 0);
    assert_true(out == -3);
    char buf[8];
    assert_string_equal(dim_str(DIM_INVALID, buf, sizeof buf), "?");
}

/* --- random expressions against a direct evaluation ------------------------- */

typedef struct Ast {
    int op; /* 0 leaf, else + - * / or c (ceil), m (mod), n (min), x (max) */
    int64_t k;
    int sym; /* leaf: symbol number or -1 for k */
    struct Ast *a, *b;
} Ast;

static uint64_t rng = 88172645463325252u;

static uint32_t rnd(uint32_t n) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static Ast pool[4096];
static int n_pool;

static Ast *leaf(int s, int64_t k) {
    Ast *t = &pool[n_pool++];
    *t = (Ast){0, k, s, NULL, NULL};
    return t;
}

static Ast *gen(int depth, int positive);

/* A divisor: >= 1 for every value of the symbols (a in [1,4], c in [2,5]). */
static Ast *divisor(int depth) {
    switch (rnd(4)) {
    case 0:
        return leaf(-1, 1 + rnd(5));
    case 1:
        return leaf(rnd(2) ? 0 : 2, 0);
    case 2: {
        Ast *t = &pool[n_pool++];
        *t = (Ast){'+', 0, 0, gen(depth, 1), leaf(-1, 1 + rnd(3))};
        return t;
    }
    default: {
        Ast *t = &pool[n_pool++];
        *t = (Ast){'x', 0, 0, gen(depth, 0), leaf(-1, 1 + rnd(3))};
        return t;
    }
    }
}

/* positive: >= 0 (then divisor() can add to it). */
static Ast *gen(int depth, int positive) {
    if (depth == 0 || rnd(4) == 0)
        return rnd(3) ? leaf((int)rnd(3), 0) : leaf(-1, (int64_t)rnd(7) - (positive ? 0 : 3));
    static const char ops[] = "+-*/cmnx", pos_ops[] = "+*/cmnx";
    int op = positive ? pos_ops[rnd(7)] : ops[rnd(8)];
    Ast *t = &pool[n_pool++];
    *t = (Ast){op, 0, 0, gen(depth - 1, positive), NULL};
    if (op == '/' || op == 'c' || op == 'm') {
        t->b = divisor(depth - 1);
    } else {
        t->b = gen(depth - 1, positive);
    }
    return t;
}

static int64_t floordiv(int64_t a, int64_t b) {
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static int64_t ast_eval(const Ast *t, const int64_t *v) {
    if (!t->op) return t->sym < 0 ? t->k : v[t->sym];
    int64_t a = ast_eval(t->a, v), b = ast_eval(t->b, v);
    switch (t->op) {
    case '+':
        return a + b;
    case '-':
        return a - b;
    case '*':
        return a * b;
    case '/':
        return floordiv(a, b);
    case 'c':
        return -floordiv(-a, b);
    case 'm':
        return a - b * floordiv(a, b);
    case 'n':
        return a < b ? a : b;
    default:
        return a > b ? a : b;
    }
}

/* The Dim of t, with the operands of + * min max swapped if swap. */
static Dim ast_dim(const Ast *t, int swap) {
    if (!t->op) return t->sym < 0 ? dim_const(t->k) : dim_sym_dim(t->sym);
    Dim a = ast_dim(t->a, swap), b = ast_dim(t->b, swap);
    if (swap && strchr("+*nx", t->op)) {
        Dim c = a;
        a = b, b = c;
    }
    switch (t->op) {
    case '+':
        return dim_add(a, b);
    case '-':
        return dim_sub(a, b);
    case '*':
        return dim_mul(a, b);
    case '/':
        return dim_floordiv(a, b);
    case 'c':
        return dim_ceildiv(a, b);
    case 'm':
        return dim_mod(a, b);
    case 'n':
        return dim_min(a, b);
    default:
        return dim_max(a, b);
    }
}

static void test_dim_random_expressions_evaluate_like_c(void **state) {
    (void)state;
    int n_valid = 0, n_checked = 0;
    for (int iter = 0; iter < 600; iter++) {
        if (iter % 100 == 0) {
            dim_reset();
            sym("a", 1, 4), sym("b", 0, 3), sym("c", 2, 5);
        }
        n_pool = 0;
        Ast *t = gen(4, 0);
        Dim d = ast_dim(t, 0);
        if (d == DIM_INVALID) continue;
        n_valid++;
        assert_true(ast_dim(t, 0) == d); /* built twice, interned once */
        if (ast_dim(t, 1) != d)
            fail_msg("%s built the other way is %s", str(d), str(ast_dim(t, 1)));
        char buf[4096];
        dim_str(d, buf, sizeof buf);
        assert_round_trip(d);
        int64_t lo, hi, v[3];
        assert_int_equal(dim_bounds(d, &lo, &hi), 0);
        for (v[0] = 1; v[0] <= 4; v[0]++)
            for (v[1] = 0; v[1] <= 3; v[1]++)
                for (v[2] = 2; v[2] <= 5; v[2]++) {
                    int64_t want = ast_eval(t, v), got = 0;
                    assert_int_equal(dim_eval(d, v, &got), 0);
                    if (got != want)
                        fail_msg("%s at a=%lld b=%lld c=%lld: %lld, want %lld", buf,
                                 (long long)v[0], (long long)v[1], (long long)v[2], (long long)got,
                                 (long long)want);
                    assert_true(lo <= got && got <= hi);
                    n_checked++;
                }
    }
    assert_true(n_valid > 500);
    assert_true(n_checked > 500 * 64);
}

static Dim op_dim(int op, Dim a, Dim b) {
    return op == '+'   ? dim_add(a, b)
           : op == '*' ? dim_mul(a, b)
           : op == 'n' ? dim_min(a, b)
                       : dim_max(a, b);
}

/* Sums and products are one Dim however they are grouped. So are min and
 * max chains, as far as the bounds prove which operands drop out: z <= c
 * and c <= a*c do not prove z <= a*c, so min(a*c, min(c, z)) may keep a*c
 * where min(min(a*c, c), z) does not. Those must still be equal in value. */
static void test_dim_sums_products_mins_and_maxes_are_associative(void **state) {
    (void)state;
    sym("a", 1, 4), sym("b", 0, 3), sym("c", 2, 5);
    int n_checked = 0, n_same = 0, n_minmax = 0;
    for (int iter = 0; iter < 2000; iter++) {
        n_pool = 0;
        Dim x = ast_dim(gen(2, 0), 0), y = ast_dim(gen(2, 0), 0), z = ast_dim(gen(2, 0), 0);
        int op = "+*nx"[rnd(4)];
        Dim l = op_dim(op, op_dim(op, x, y), z), r = op_dim(op, x, op_dim(op, y, z));
        if (l == DIM_INVALID || r == DIM_INVALID) continue;
        n_checked++;
        if (op == '+' || op == '*') {
            if (l != r) fail_msg("%s is not %s", str(l), str(r));
            continue;
        }
        n_minmax++, n_same += l == r;
        int64_t v[3], lv = 0, rv = 0;
        for (v[0] = 1; v[0] <= 4; v[0]++)
            for (v[1] = 0; v[1] <= 3; v[1]++)
                for (v[2] = 2; v[2] <= 5; v[2]++) {
                    assert_int_equal(dim_eval(l, v, &lv), 0);
                    assert_int_equal(dim_eval(r, v, &rv), 0);
                    if (lv != rv) fail_msg("%s is not %s", str(l), str(r));
                }
    }
    assert_true(n_checked > 1500);
    assert_true(n_same * 100 > n_minmax * 95);
}

/* --- text ----------------------------------------------------------------------- */

static void test_dim_text_form_round_trips(void **state) {
    (void)state;
    static const char *const texts[] = {
        "batch*seq*8", "min(seq,512)", "(h+1)/2", "cdiv(h,w)",  "h%3",         "max(a*b,c+1)",
        "-a+1",        "a*a-b*2",      "h/8+w",   "-(h/2)*3+a", "(a+b)/(c+1)", "(h/2)/w",
        "a*(h/2)",     "-(h%4)",       "h/2*w",   "-h/2",       "min(a,-3)",   "-3",
    };
    sym("h", 1, 100);
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        Dim d = parse(texts[i]);
        if (d == DIM_INVALID) fail_msg("'%s' did not parse", texts[i]);
        if (parse(str(d)) != d) fail_msg("'%s' printed as '%s'", texts[i], str(d));
    }
    assert_true(parse("batch * seq * 8") == parse("8*seq*batch"));
    assert_true(parse("-h/2") == dim_floordiv(dim_sub(0, dim_sym("h")), 2));
    assert_true(parse("2*3+4") == 10 && parse("2-3") == dim_const(-1));
    assert_true(parse("min(7, max(2, 3))") == 3);
    const char *s = "h+1)", *p = s;
    assert_true(dim_parse(&p) == dim_add(dim_sym("h"), 1) && p == s + 3);
    /* 600 levels of nesting print and parse back. */
    Dim a = dim_sym("a"), b = dim_sym("b"), deep = dim_sym("h");
    for (int i = 0; i < 300; i++)
        deep = dim_min(dim_max(deep, b), a);
    static char text[8192];
    dim_str(deep, text, sizeof text);
    assert_true(strlen(text) > 3000 && strlen(text) < sizeof text - 1);
    assert_true(parse(text) == deep);
    char small[6];
    assert_string_equal(dim_str(parse("batch*seq*8"), small, sizeof small), "batch");
}

static void test_dim_parse_refuses_malformed_text(void **state) {
    (void)state;
    static const char *const bad[] = {
        "",
        "(",
        "h+",
        "1/0",
        "min(a)",
        "min(a,b",
        "h/(h-1)",
        "*3",
        "a b",
        "cdiv(,)",
        "max(1,2,3)",
        "h%0",
        ")",
        "--",
        "99999999999999999999",
        "9223372036854775807+1",
        "$",
        "a+(b*(c)",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (parse(bad[i]) != DIM_INVALID) fail_msg("'%s' parsed", bad[i]);
    char deep[3000];
    memset(deep, '(', sizeof deep - 1);
    deep[sizeof deep - 1] = 0;
    assert_true(parse(deep) == DIM_INVALID);
    memset(deep, '-', sizeof deep - 1);
    assert_true(parse(deep) == DIM_INVALID);
    /* Random text: no crash, and what parses prints back to itself. */
    static const char alphabet[] = "ab()+-*/%,0123456789 minaxcdv";
    int n_ok = 0;
    for (int iter = 0; iter < 20000; iter++) {
        if (iter % 1000 == 0) dim_reset();
        char text[32];
        int n = (int)rnd(sizeof text);
        for (int i = 0; i < n; i++)
            text[i] = alphabet[rnd(sizeof alphabet - 1)];
        text[n] = 0;
        Dim d = parse(text);
        if (d == DIM_INVALID) continue;
        n_ok++;
        assert_round_trip(d);
    }
    assert_true(n_ok > 100);
}

static void test_dim_reset_forgets_everything(void **state) {
    (void)state;
    Dim x = dim_sym("x");
    Dim e = dim_add(x, 1);
    dim_reset();
    assert_int_equal(dim_n_syms(), 0);
    assert_null(dim_expr(e));
    assert_true(dim_add(e, 1) == DIM_INVALID);
    assert_true(dim_sym("y") == x); /* the first node again */
    assert_string_equal(str(dim_fresh()), "unk_1");
}

static void test_dim_table_interns_many_expressions(void **state) {
    (void)state;
    Dim x = dim_sym("x"), y = dim_sym("y");
    Dim d[3000];
    for (int i = 0; i < 3000; i++)
        d[i] = dim_add(dim_mul(x, i + 2), dim_min(y, i));
    for (int i = 0; i < 3000; i++) {
        assert_true(d[i] != DIM_INVALID);
        assert_true(dim_add(dim_min(i, y), dim_mul(i + 2, x)) == d[i]);
    }
    int64_t v[2] = {5, 7}, out;
    assert_int_equal(dim_eval(d[2999], v, &out), 0);
    assert_true(out == 5 * 3001 + 7);
}

static void test_dim_data_symbols_carry_a_bound_that_planning_uses(void **state) {
    (void)state;
    Dim b = sym("batch", 1, 8);
    Dim bound = dim_mul(b, 10);
    Dim n = dim_sym_data("nonzero", bound), n2 = dim_sym_data("nonzero", 12);
    char buf[64];
    int64_t lo, hi;
    assert_true(n < 0 && n2 < 0 && n != n2);
    assert_string_equal(dim_str(n, buf, sizeof buf), "nonzero_1");
    assert_string_equal(dim_str(n2, buf, sizeof buf), "nonzero_2");
    assert_true(dim_sym_data_bound(dim_sym_of(n)) == bound);
    assert_true(dim_sym_data_bound(dim_sym_of(b)) == DIM_INVALID);
    assert_int_equal(dim_bounds(n, &lo, &hi), 0);
    assert_true(lo == 0 && hi == 80);
    /* hash-consed like any expression, and marked as data-dependent */
    assert_true(dim_mul(n, 4) == dim_mul(4, n));
    assert_true(dim_is_data(dim_add(dim_mul(n, 4), b)) && !dim_is_data(dim_mul(b, 4)));
    assert_true(dim_is_data(dim_floordiv(n, 2)) && dim_is_data(dim_min(n, b)));
    assert_false(dim_is_data(7) || dim_is_data(DIM_INVALID));
    /* planned at the bound, recursively */
    assert_true(dim_at_bound(dim_add(dim_mul(n, 4), 3)) == dim_add(dim_mul(b, 40), 3));
    assert_true(dim_at_bound(dim_mul(n, n2)) == dim_mul(b, 120));
    assert_true(dim_at_bound(b) == b && dim_at_bound(5) == 5);
    Dim m = dim_sym_data("unique", dim_mul(n, 2));
    assert_true(dim_at_bound(m) == dim_mul(b, 20));
    assert_true(dim_at_bound(dim_ceildiv(m, 4)) == dim_ceildiv(dim_mul(b, 20), 4));
    /* not provably nondecreasing: refused */
    assert_true(dim_at_bound(dim_sub(b, n)) == DIM_INVALID);
    assert_true(dim_at_bound(dim_mod(n, 3)) == DIM_INVALID);
    assert_true(dim_at_bound(dim_floordiv(b, dim_add(n, 1))) == DIM_INVALID);
    /* a data symbol is at most its bound */
    assert_true(dim_provably_le(n, bound) && dim_provably_le(n, dim_mul(b, 11)));
    assert_false(dim_provably_le(n, b));
    assert_int_equal(dim_eval(dim_add(n, b), (int64_t[]){3, 5, 0, 0}, &lo), 0);
    assert_true(lo == 8);
    /* bounds are not settable; a bound below 0 or invalid makes none */
    assert_int_equal(dim_sym_set_bounds(dim_sym_of(n), 0, 3), -1);
    assert_true(dim_sym_data("x", dim_sub(b, 2)) == DIM_INVALID);
    assert_true(dim_sym_data("x", DIM_INVALID) == DIM_INVALID);
    assert_true(dim_sym_data("", 3) == DIM_INVALID);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_dim_constants_are_sizes_and_negative_ones_expressions,
                                  teardown),
        cmocka_unit_test_teardown(test_dim_symbols_are_named_once_and_fresh_ones_skip_used_names,
                                  teardown),
        cmocka_unit_test_teardown(test_dim_bounds_are_set_only_before_the_symbol_is_used, teardown),
        cmocka_unit_test_teardown(test_dim_canonical_form_is_independent_of_construction_order,
                                  teardown),
        cmocka_unit_test_teardown(test_dim_floordiv_simplifies_what_divides, teardown),
        cmocka_unit_test_teardown(test_dim_exact_div_divides_by_constants_monomials_and_polynomials,
                                  teardown),
        cmocka_unit_test_teardown(test_dim_mod_and_ceildiv_simplify, teardown),
        cmocka_unit_test_teardown(test_dim_min_max_simplify_by_bounds, teardown),
        cmocka_unit_test_teardown(test_dim_conv_output_size_prints_evaluates_and_bounds_right,
                                  teardown),
        cmocka_unit_test_teardown(test_dim_bounds_follow_interval_arithmetic, teardown),
        cmocka_unit_test_teardown(test_dim_overflow_gives_invalid_which_propagates, teardown),
        cmocka_unit_test_teardown(test_dim_random_expressions_evaluate_like_c, teardown),
        cmocka_unit_test_teardown(test_dim_sums_products_mins_and_maxes_are_associative, teardown),
        cmocka_unit_test_teardown(test_dim_text_form_round_trips, teardown),
        cmocka_unit_test_teardown(test_dim_parse_refuses_malformed_text, teardown),
        cmocka_unit_test_teardown(test_dim_reset_forgets_everything, teardown),
        cmocka_unit_test_teardown(test_dim_table_interns_many_expressions, teardown),
        cmocka_unit_test_teardown(test_dim_data_symbols_carry_a_bound_that_planning_uses, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
