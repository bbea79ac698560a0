/* dim.h: symbolic dimensions.
 *
 * A Dim is an int64_t, as Shape.dims holds it: a value >= 0 is that size;
 * a value < 0 names an expression over symbols, -1 - id, in the current
 * dim table. Symbols are the model's dynamic dims (the ONNX dim_param
 * names, "unk_1" and so on where the model names none), each with bounds
 * [lo, hi] that every size computed from it is checked against.
 *
 * Expressions are kept in one canonical form, so that two equal
 * expressions are one Dim and `a == b` compares them: a polynomial with
 * int64 coefficients over atoms (sorted terms, each a coefficient times
 * sorted atom powers). An atom is a symbol or an operation the polynomial
 * cannot express: floor and ceiling division, modulo, min and max of two
 * expressions. So batch*seq*8 / (batch*8) is seq, (s+1)-1 is s, and
 * max(a*b, a) with b >= 1 is a*b: operations simplify by what the bounds
 * prove. Divisions are normalised further: a constant leaves a floor
 * division ((h-3)/2+1 is (h+1)/2-1), ceil by a constant is a floor
 * (cdiv(h,2) is (h+1)/2), nested divisions are one ((h/2)/3 is h/6), and
 * min and max chains are flattened and sorted. The form is canonical
 * enough for shapes, not complete: h - h%2 and h/2*2 are two Dims. A
 * constant expression below 0 (2 - 3) is an expression too, since a
 * negative Dim is not a size: dim_value() reads it.
 *
 * Every operation is checked: one whose result could not be represented
 * (a coefficient overflowing int64, division by zero, more than
 * DIM_MAX_TERMS terms) returns DIM_INVALID, which every operation passes
 * on. The table is process-wide: ir_graph_create() resets it (dim_reset),
 * so one graph's dims are alive at a time; its memory is its own (freed by
 * the next reset).
 *
 * Text form (shape_str, ir_graph_print, ir_graph_parse): symbols by name;
 * `+ - *` as usual; `a/b` floor division, `a%b` modulo, `cdiv(a,b)`
 * ceiling division, `min(a,b)`, `max(a,b)`; parentheses where precedence
 * needs them; terms in canonical order: "batch*seq*8", "(h+1)/2-1",
 * "min(seq,512)". dim_parse(dim_str(d)) is d.
 *
 * Data-dependent symbols (dim_sym_data): a size that only the kernel
 * knows, at run time (NonZero's count, Unique's number of values, a TopK
 * whose k is an input), within an upper bound known at compile time, a Dim
 * over the other symbols (NonZero of an [batch, 10] tensor: <= batch*10).
 * Its bounds are [0, hi of the bound]. Memory is planned at the bound
 * (dim_at_bound); the value lives in the run's syms array once the kernel
 * has written it there, so sizes computed from it afterwards are the
 * actual ones. DimExpr.data marks every expression that depends on one.
 * Such symbols are not graph input symbols (ir_graph_syms) and their text
 * form is their name; dim_parse makes a plain symbol of it.
 */
#ifndef DIM_H
#define DIM_H

#include <stddef.h>
#include <stdint.h>

typedef int64_t Dim;

#define DIM_INVALID INT64_MIN /* the result of an operation that failed */
#define DIM_MAX_TERMS 16      /* terms of one polynomial */
#define DIM_MAX_FACTORS 8     /* atoms in one term */
#define DIM_MAX_SYMS 256      /* symbols in one model */

/* Bounds a symbol gets when the user gives none (--shape, --dim). */
#define DIM_DEFAULT_LO 1
#define DIM_DEFAULT_HI 4096

typedef enum {
    DIMK_CONST,    /* a constant below 0 (constants >= 0 are plain Dims) */
    DIMK_SYM,      /* symbol number `sym` */
    DIMK_POLY,     /* sum of terms */
    DIMK_FLOORDIV, /* floor(a / b), b > 0 */
    DIMK_CEILDIV,  /* ceil(a / b), b > 0 */
    DIMK_MOD,      /* a - b * floor(a / b), b > 0 */
    DIMK_MIN,
    DIMK_MAX,
} DimKind;

/* One term of a polynomial: coef * atom[0]^exp[0] * ... (n == 0: coef). */
typedef struct DimTerm {
    int64_t coef;
    int n;
    Dim atom[DIM_MAX_FACTORS]; /* sorted by id, each a symbol or an operation atom */
    int exp[DIM_MAX_FACTORS];  /* each >= 1 */
} DimTerm;

/* What a Dim < 0 stands for (dim_expr). */
typedef struct DimExpr {
    DimKind kind;
    int64_t value; /* DIMK_CONST */
    int sym;       /* DIMK_SYM */
    Dim a, b;      /* the operations' operands */
    int n_terms;   /* DIMK_POLY, terms sorted, at least two or one that is not a
                      bare atom */
    const DimTerm *terms;
    int64_t lo, hi; /* its bounds over the symbols' bounds (saturated at the int64
                       range): every value it takes lies in [lo, hi] */
    int data;       /* depends on a data-dependent symbol (for DIMK_SYM: is one) */
    Dim bound;      /* a data-dependent DIMK_SYM: its upper bound, a Dim >= 0 */
} DimExpr;

/* Forgets every expression and symbol. */
void dim_reset(void);

/* --- symbols --------------------------------------------------------------- */

/* The symbol named `name`, created with the default bounds on first use;
 * DIM_INVALID if DIM_MAX_SYMS symbols exist already. */
Dim dim_sym(const char *name);
/* A new symbol named "unk_1", "unk_2"... (skipping names in use). */
Dim dim_fresh(void);
int dim_n_syms(void);
Dim dim_sym_dim(int sym);          /* the Dim of symbol number sym */
const char *dim_sym_name(int sym); /* owned by the table */
int dim_sym_of(Dim d);             /* symbol number if d is a bare symbol, else -1 */
void dim_sym_bounds(int sym, int64_t *lo, int64_t *hi);
/* Sets symbol sym's bounds (0 <= lo <= hi): only before any expression over
 * it is built (or any operation, dim_provably_le included, has read its
 * bounds), since expressions keep the bounds they were built with;
 * returns -1 (and changes nothing) otherwise. */
int dim_sym_set_bounds(int sym, int64_t lo, int64_t hi);

/* A new data-dependent symbol (see above) with upper bound `bound` (a Dim
 * whose lower bound is >= 0), named base_1, base_2... (the first free
 * one; base must be a symbol name); DIM_INVALID if bound is not such a Dim
 * or the table is full. */
Dim dim_sym_data(const char *base, Dim bound);
/* Symbol sym's upper bound if it is data-dependent, else DIM_INVALID. */
Dim dim_sym_data_bound(int sym);
/* 1 if d depends on a data-dependent symbol. */
int dim_is_data(Dim d);
/* d with every data-dependent symbol replaced by its bound (recursively:
 * a bound may itself be data-dependent), so an upper bound of d for
 * planning: d itself if it depends on none. DIM_INVALID if d is not
 * provably nondecreasing in those symbols (a negative coefficient on a
 * term with one, a modulo of one, a division by one). */
Dim dim_at_bound(Dim d);

/* --- reading ------------------------------------------------------------------ */

/* d's expression; NULL for d >= 0 and DIM_INVALID. */
const DimExpr *dim_expr(Dim d);
/* 1 and *v if d is a constant (a size >= 0 or a DIMK_CONST), else 0. */
int dim_value(Dim d, int64_t *v);
/* d's bounds: [d, d] for a size; 0, or -1 for DIM_INVALID. */
int dim_bounds(Dim d, int64_t *lo, int64_t *hi);
/* d's value with the symbols at vals[0..n_syms): 0 and *out, or -1 if an
 * operation overflows or divides by zero. */
int dim_eval(Dim d, const int64_t *vals, int64_t *out);
/* Text form of d into buf (always terminated, "?" for DIM_INVALID); returns buf. */
char *dim_str(Dim d, char *buf, size_t len);
/* Parses one expression of the text form at *s, advancing *s past it;
 * DIM_INVALID (and *s unchanged) on a syntax error or an operation that
 * fails (h/(h-1)). Unknown names ([A-Za-z_][A-Za-z0-9_]*) become symbols,
 * even when the parse then fails. */
Dim dim_parse(const char **s);

/* --- building --------------------------------------------------------------- */

Dim dim_const(int64_t v); /* v itself if >= 0, else a DIMK_CONST */
Dim dim_add(Dim a, Dim b);
Dim dim_sub(Dim a, Dim b);
Dim dim_mul(Dim a, Dim b);
/* floor(a / b), ceil(a / b), a mod b: b must be provably >= 1 by its
 * bounds, else DIM_INVALID. Exact when the polynomial divides (every
 * coefficient by a constant, every term by a monomial): batch*seq*8 / 8
 * is batch*seq. */
Dim dim_floordiv(Dim a, Dim b);
Dim dim_ceildiv(Dim a, Dim b);
Dim dim_mod(Dim a, Dim b);
Dim dim_min(Dim a, Dim b);
Dim dim_max(Dim a, Dim b);
/* a / b if b divides a exactly as polynomials (Reshape's -1: the input's
 * elements over the target's known dims), else DIM_INVALID. */
Dim dim_exact_div(Dim a, Dim b);
/* 1 if a <= b for every value of the symbols (by the bounds of b - a, and
 * through the atoms on either side: h/2 <= h), 0 if not provably. */
int dim_provably_le(Dim a, Dim b);

#endif
