/* dim.c: symbolic dimensions (dim.h).
 *
 * One process-wide table of hash-consed expressions: node id is Dim
 * -1 - id. A node is interned by its key (kind and operands, a polynomial
 * by its terms, a symbol by its name) in an open-addressing hash table, so
 * building an expression costs its terms times their factors, never a scan
 * of the table. Each node keeps the bounds it was built with, computed
 * from its operands' bounds by interval arithmetic in which INT64_MIN as a
 * lower bound stands for -inf and INT64_MAX as an upper bound for +inf.
 *
 * Polynomials are built in a scratch Poly (terms appended, then sorted and
 * merged) and interned once canonical. Terms are sorted by a monomial
 * order (degree first, then atoms by id), so the leading term of a sorted
 * polynomial is term 0 and exact division is the textbook algorithm.
 */
#include "dim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h" /* kiln_oom */

#define POLY_CAP (DIM_MAX_TERMS * DIM_MAX_TERMS) /* a product before it is merged */
#define MAX_EXP 64                               /* beyond that every size overflows */
#define MAX_DEPTH 1000                           /* dim_parse's nesting */
#define NEG_INF INT64_MIN
#define POS_INF INT64_MAX

typedef struct Node {
    DimExpr e;
    uint64_t hash;
    char *name; /* DIMK_SYM */
    int used;   /* DIMK_SYM: its bounds were read to build something */
    int val_ok; /* dim_eval's memo: val holds if gen is the current one */
    uint64_t gen;
    int64_t val;
    DimTerm terms[]; /* DIMK_POLY */
} Node;

static struct {
    Node **nodes; /* by id */
    int n, cap;
    int32_t *slots; /* node ids by hash, -1 empty */
    uint32_t mask;  /* number of slots - 1 */
    Dim syms[DIM_MAX_SYMS];
    int n_syms;
    int fresh; /* the last unk_N tried */
    uint64_t gen;
} T;

typedef struct {
    int64_t lo, hi;
} Iv;

typedef struct {
    int n, cap;
    DimTerm *t;
} Poly;

static Node *node(Dim d) {
    if (d >= 0 || d == DIM_INVALID || -1 - d >= T.n) return NULL;
    return T.nodes[-1 - d];
}

static int ok(Dim d) {
    return d >= 0 || node(d);
}

int dim_is_data(Dim d);

/* --- interval arithmetic ------------------------------------------------- */

static int64_t x_add(int64_t a, int64_t b, int hi) {
    int64_t inf = hi ? POS_INF : NEG_INF, r;
    if (a == inf || b == inf) return inf;
    if (__builtin_add_overflow(a, b, &r)) return a < 0 ? NEG_INF : POS_INF;
    return r;
}

static int64_t x_mul(int64_t a, int64_t b) {
    int64_t r;
    if (a == 0 || b == 0) return 0;
    if (a == NEG_INF || a == POS_INF || b == NEG_INF || b == POS_INF ||
        __builtin_mul_overflow(a, b, &r))
        return (a < 0) != (b < 0) ? NEG_INF : POS_INF;
    return r;
}

/* floor(x / y) and ceil(x / y) for y >= 1; y == POS_INF is "very large". */
static int64_t x_fdiv(int64_t x, int64_t y, int hi) {
    if (x == (hi ? POS_INF : NEG_INF)) return x;
    if (y == POS_INF) return x >= 0 ? 0 : -1;
    return x / y - (x % y != 0 && x < 0);
}

static int64_t x_cdiv(int64_t x, int64_t y, int hi) {
    if (x == (hi ? POS_INF : NEG_INF)) return x;
    if (y == POS_INF) return x > 0;
    return x / y + (x % y != 0 && x > 0);
}

static int64_t min64(int64_t a, int64_t b) {
    return a < b ? a : b;
}
static int64_t max64(int64_t a, int64_t b) {
    return a > b ? a : b;
}

static Iv iv_add(Iv a, Iv b) {
    return (Iv){x_add(a.lo, b.lo, 0), x_add(a.hi, b.hi, 1)};
}

static Iv iv_mul(Iv a, Iv b) {
    int64_t p[4] = {x_mul(a.lo, b.lo), x_mul(a.lo, b.hi), x_mul(a.hi, b.lo), x_mul(a.hi, b.hi)};
    Iv r = {p[0], p[0]};
    for (int i = 1; i < 4; i++)
        r.lo = min64(r.lo, p[i]), r.hi = max64(r.hi, p[i]);
    return r;
}

static Iv iv_pow(Iv a, int e) {
    Iv r = {1, 1};
    while (e-- > 0)
        r = iv_mul(r, a);
    return r;
}

/* Requires b.lo >= 1. The extremes lie at the corners. */
static Iv iv_floordiv(Iv a, Iv b) {
    return (Iv){x_fdiv(a.lo, a.lo < 0 ? b.lo : b.hi, 0), x_fdiv(a.hi, a.hi >= 0 ? b.lo : b.hi, 1)};
}

static Iv iv_ceildiv(Iv a, Iv b) {
    return (Iv){x_cdiv(a.lo, a.lo < 0 ? b.lo : b.hi, 0), x_cdiv(a.hi, a.hi > 0 ? b.lo : b.hi, 1)};
}

static Iv iv_mod(Iv a, Iv b) {
    Iv r = {0, b.hi == POS_INF ? POS_INF : b.hi - 1};
    if (a.lo >= 0) r.hi = min64(r.hi, a.hi);
    return r;
}

static int iv_const(Iv v) {
    return v.lo == v.hi && v.lo != NEG_INF && v.lo != POS_INF;
}

/* d's bounds inside an operation: reading a symbol's marks it used. */
static Iv dim_iv(Dim d) {
    Node *nd = node(d);
    if (!nd) return (Iv){d, d};
    if (nd->e.kind == DIMK_SYM) nd->used = 1;
    return (Iv){nd->e.lo, nd->e.hi};
}

static Iv term_iv(const DimTerm *t) {
    Iv r = {t->coef, t->coef};
    for (int i = 0; i < t->n; i++)
        r = iv_mul(r, iv_pow(dim_iv(t->atom[i]), t->exp[i]));
    return r;
}

/* Bounds of a sum of terms: the sum of the terms' bounds, narrowed by a
 * Horner step x^m * P1 + P0 on the atom x of term 0 that most terms share,
 * so that a*b - a is a*(b-1) and provably >= 0. */
static Iv terms_iv(const DimTerm *t, int n, int depth) {
    Iv r = {0, 0};
    for (int i = 0; i < n; i++)
        r = iv_add(r, term_iv(&t[i]));
    if (n < 2 || depth > 8 || t[0].n == 0) return r;
    Dim x = 0;
    int best = 0, m = MAX_EXP;
    for (int f = 0; f < t[0].n; f++) {
        int cnt = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < t[i].n; j++)
                cnt += t[i].atom[j] == t[0].atom[f];
        if (cnt > best) best = cnt, x = t[0].atom[f];
    }
    if (best < 2) return r;
    DimTerm *p = malloc(2 * (size_t)n * sizeof *p);
    if (!p) kiln_oom("dim bounds");
    int n1 = 0, n0 = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < t[i].n; j++)
            if (t[i].atom[j] == x) m = t[i].exp[j] < m ? t[i].exp[j] : m;
    for (int i = 0; i < n; i++) {
        int j = 0;
        while (j < t[i].n && t[i].atom[j] != x)
            j++;
        if (j == t[i].n) {
            p[n + n0++] = t[i];
            continue;
        }
        DimTerm *q = &p[n1++];
        *q = t[i];
        if ((q->exp[j] -= m) == 0) {
            memmove(&q->atom[j], &q->atom[j + 1], (size_t)(q->n - j - 1) * sizeof q->atom[0]);
            memmove(&q->exp[j], &q->exp[j + 1], (size_t)(q->n - j - 1) * sizeof q->exp[0]);
            q->n--;
        }
    }
    Iv h = iv_add(iv_mul(iv_pow(dim_iv(x), m), terms_iv(p, n1, depth + 1)),
                  terms_iv(p + n, n0, depth + 1));
    free(p);
    if (max64(r.lo, h.lo) <= min64(r.hi, h.hi)) r = (Iv){max64(r.lo, h.lo), min64(r.hi, h.hi)};
    return r;
}

/* --- the table ------------------------------------------------------------- */

static uint64_t mix(uint64_t h, uint64_t v) {
    h ^= v + 0x9e3779b97f4a7c15u + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdu;
}

static int term_eq(const DimTerm *x, const DimTerm *y) {
    if (x->coef != y->coef || x->n != y->n) return 0;
    for (int i = 0; i < x->n; i++)
        if (x->atom[i] != y->atom[i] || x->exp[i] != y->exp[i]) return 0;
    return 1;
}

static uint64_t key_hash(const DimExpr *e, const char *name) {
    uint64_t h = mix(0, (uint64_t)e->kind);
    if (e->kind == DIMK_SYM)
        for (const char *c = name; *c; c++)
            h = mix(h, (unsigned char)*c);
    else if (e->kind == DIMK_CONST)
        h = mix(h, (uint64_t)e->value);
    else if (e->kind == DIMK_POLY)
        for (int i = 0; i < e->n_terms; i++) {
            h = mix(mix(h, (uint64_t)e->terms[i].coef), (uint64_t)e->terms[i].n);
            for (int j = 0; j < e->terms[i].n; j++)
                h = mix(mix(h, (uint64_t)e->terms[i].atom[j]), (uint64_t)e->terms[i].exp[j]);
        }
    else
        h = mix(mix(h, (uint64_t)e->a), (uint64_t)e->b);
    return h;
}

static int key_eq(const Node *nd, const DimExpr *e, const char *name) {
    const DimExpr *f = &nd->e;
    if (f->kind != e->kind) return 0;
    switch (e->kind) {
    case DIMK_SYM:
        return strcmp(nd->name, name) == 0;
    case DIMK_CONST:
        return f->value == e->value;
    case DIMK_POLY:
        if (f->n_terms != e->n_terms) return 0;
        for (int i = 0; i < e->n_terms; i++)
            if (!term_eq(&f->terms[i], &e->terms[i])) return 0;
        return 1;
    default:
        return f->a == e->a && f->b == e->b;
    }
}

/* The node with e's key, or -1. */
static int find(const DimExpr *e, const char *name, uint64_t h) {
    if (!T.slots) return -1;
    for (uint32_t i = (uint32_t)h & T.mask;; i = (i + 1) & T.mask) {
        int32_t id = T.slots[i];
        if (id < 0) return -1;
        if (T.nodes[id]->hash == h && key_eq(T.nodes[id], e, name)) return id;
    }
}

static void slot_put(int32_t id) {
    uint32_t i = (uint32_t)T.nodes[id]->hash & T.mask;
    while (T.slots[i] >= 0)
        i = (i + 1) & T.mask;
    T.slots[i] = id;
}

/* The Dim of e (and name, for a symbol), created if new; a new polynomial
 * gets its bounds here, every other kind brings them in e. */
static Dim intern(const DimExpr *e, const char *name) {
    uint64_t h = key_hash(e, name);
    int id = find(e, name, h);
    if (id >= 0) return -1 - (Dim)id;
    if (T.n >= INT32_MAX / 4) return DIM_INVALID;
    if ((uint64_t)(T.n + 1) * 2 > (uint64_t)T.mask + 1 || !T.slots) {
        uint32_t n_slots = T.slots ? (T.mask + 1) * 2 : 256;
        free(T.slots);
        T.slots = malloc(n_slots * sizeof *T.slots);
        if (!T.slots) kiln_oom("dim table");
        memset(T.slots, 0xff, n_slots * sizeof *T.slots);
        T.mask = n_slots - 1;
        for (int32_t i = 0; i < T.n; i++)
            slot_put(i);
    }
    if (T.n == T.cap) {
        T.cap = T.cap ? 2 * T.cap : 256;
        T.nodes = realloc(T.nodes, (size_t)T.cap * sizeof *T.nodes);
        if (!T.nodes) kiln_oom("dim table");
    }
    size_t nt = e->kind == DIMK_POLY ? (size_t)e->n_terms : 0;
    Node *nd = calloc(1, sizeof *nd + nt * sizeof(DimTerm));
    if (!nd || (name && !(nd->name = strdup(name)))) kiln_oom("dim table");
    nd->e = *e;
    nd->hash = h;
    if (e->kind == DIMK_POLY) {
        nd->e.data = 0;
        for (size_t i = 0; i < nt; i++)
            for (int j = 0; j < e->terms[i].n; j++)
                nd->e.data |= dim_is_data(e->terms[i].atom[j]);
    } else if (e->kind >= DIMK_FLOORDIV) {
        nd->e.data = dim_is_data(e->a) || dim_is_data(e->b);
    }
    if (nt) {
        memcpy(nd->terms, e->terms, nt * sizeof(DimTerm));
        nd->e.terms = nd->terms;
        Iv b = terms_iv(nd->terms, (int)nt, 0);
        nd->e.lo = b.lo, nd->e.hi = b.hi;
    }
    T.nodes[T.n] = nd;
    slot_put(T.n);
    return -1 - (Dim)T.n++;
}

static Dim atom(DimKind k, Dim a, Dim b, Iv v) {
    DimExpr e = {.kind = k, .a = a, .b = b, .lo = v.lo, .hi = v.hi};
    return intern(&e, NULL);
}

void dim_reset(void) {
    for (int i = 0; i < T.n; i++)
        free(T.nodes[i]->name), free(T.nodes[i]);
    free(T.nodes);
    free(T.slots);
    memset(&T, 0, sizeof T);
}

/* --- symbols ----------------------------------------------------------------- */

static Dim sym_find(const char *name) {
    DimExpr e = {.kind = DIMK_SYM};
    int id = find(&e, name, key_hash(&e, name));
    return id < 0 ? DIM_INVALID : -1 - (Dim)id;
}

Dim dim_sym(const char *name) {
    if (!name || !*name) return DIM_INVALID;
    Dim d = sym_find(name);
    if (d != DIM_INVALID || T.n_syms == DIM_MAX_SYMS) return d;
    DimExpr e = {.kind = DIMK_SYM, .sym = T.n_syms, .lo = DIM_DEFAULT_LO, .hi = DIM_DEFAULT_HI};
    d = intern(&e, name);
    if (d != DIM_INVALID) T.syms[T.n_syms++] = d;
    return d;
}

Dim dim_fresh(void) {
    char name[32];
    do
        snprintf(name, sizeof name, "unk_%d", ++T.fresh);
    while (sym_find(name) != DIM_INVALID);
    return dim_sym(name);
}

int dim_n_syms(void) {
    return T.n_syms;
}

Dim dim_sym_dim(int sym) {
    return sym >= 0 && sym < T.n_syms ? T.syms[sym] : DIM_INVALID;
}

const char *dim_sym_name(int sym) {
    return sym >= 0 && sym < T.n_syms ? node(T.syms[sym])->name : NULL;
}

int dim_sym_of(Dim d) {
    Node *nd = node(d);
    return nd && nd->e.kind == DIMK_SYM ? nd->e.sym : -1;
}

void dim_sym_bounds(int sym, int64_t *lo, int64_t *hi) {
    Node *nd = node(dim_sym_dim(sym));
    *lo = nd ? nd->e.lo : 0;
    *hi = nd ? nd->e.hi : 0;
}

int dim_sym_set_bounds(int sym, int64_t lo, int64_t hi) {
    Node *nd = node(dim_sym_dim(sym));
    if (!nd || nd->used || nd->e.data || lo < 0 || lo > hi) return -1;
    nd->e.lo = lo, nd->e.hi = hi;
    return 0;
}

/* --- data-dependent symbols ------------------------------------------------ */

Dim dim_sym_data(const char *base, Dim bound) {
    int64_t lo, hi;
    char name[96];
    if (!base || !*base || strlen(base) > 64 || dim_bounds(bound, &lo, &hi) || lo < 0)
        return DIM_INVALID;
    if (T.n_syms == DIM_MAX_SYMS) return DIM_INVALID;
    int k = 0;
    do
        snprintf(name, sizeof name, "%s_%d", base, ++k);
    while (sym_find(name) != DIM_INVALID);
    DimExpr e = {.kind = DIMK_SYM, .sym = T.n_syms, .lo = 0, .hi = hi, .data = 1, .bound = bound};
    Dim d = intern(&e, name);
    if (d != DIM_INVALID) T.syms[T.n_syms++] = d;
    return d;
}

Dim dim_sym_data_bound(int sym) {
    Node *nd = node(dim_sym_dim(sym));
    return nd && nd->e.data ? nd->e.bound : DIM_INVALID;
}

int dim_is_data(Dim d) {
    Node *nd = node(d);
    return nd && nd->e.data;
}

Dim dim_at_bound(Dim d) {
    Node *nd = node(d);
    if (!ok(d)) return DIM_INVALID;
    if (!nd || !nd->e.data) return d;
    const DimExpr *e = &nd->e;
    switch (e->kind) {
    case DIMK_SYM:
        return dim_at_bound(e->bound);
    case DIMK_POLY: {
        Dim sum = 0;
        for (int i = 0; i < e->n_terms && sum != DIM_INVALID; i++) {
            const DimTerm *t = &e->terms[i];
            Dim p = dim_const(t->coef);
            int data = 0;
            for (int j = 0; j < t->n; j++) {
                Dim a = dim_at_bound(t->atom[j]);
                data |= dim_is_data(t->atom[j]);
                for (int k = 0; k < t->exp[j]; k++)
                    p = dim_mul(p, a);
            }
            sum = data && t->coef < 0 ? DIM_INVALID : dim_add(sum, p);
        }
        return sum;
    }
    case DIMK_FLOORDIV:
    case DIMK_CEILDIV:
        if (dim_is_data(e->b)) return DIM_INVALID;
        return e->kind == DIMK_FLOORDIV ? dim_floordiv(dim_at_bound(e->a), e->b)
                                        : dim_ceildiv(dim_at_bound(e->a), e->b);
    case DIMK_MIN:
        return dim_min(dim_at_bound(e->a), dim_at_bound(e->b));
    case DIMK_MAX:
        return dim_max(dim_at_bound(e->a), dim_at_bound(e->b));
    default: /* DIMK_MOD: not monotone */
        return DIM_INVALID;
    }
}

/* --- reading ------------------------------------------------------------------- */

const DimExpr *dim_expr(Dim d) {
    Node *nd = node(d);
    return nd ? &nd->e : NULL;
}

int dim_value(Dim d, int64_t *v) {
    Node *nd = node(d);
    if (d < 0 && (!nd || nd->e.kind != DIMK_CONST)) return 0;
    *v = nd ? nd->e.value : d;
    return 1;
}

int dim_bounds(Dim d, int64_t *lo, int64_t *hi) {
    Node *nd = node(d);
    if (!ok(d)) return -1;
    *lo = nd ? nd->e.lo : d;
    *hi = nd ? nd->e.hi : d;
    return 0;
}

static int fdiv(int64_t a, int64_t b, int64_t *q) {
    if (b == 0 || (a == INT64_MIN && b == -1)) return -1;
    *q = a / b - (a % b != 0 && (a < 0) != (b < 0));
    return 0;
}

static int eval(Dim d, const int64_t *vals, int64_t *out) {
    Node *nd = node(d);
    if (d >= 0) return *out = d, 0;
    if (!nd) return -1;
    if (nd->gen == T.gen) return nd->val_ok ? (*out = nd->val, 0) : -1;
    const DimExpr *e = &nd->e;
    int64_t v = 0, x, y, q;
    int rc = 0;
    if (e->kind == DIMK_CONST) {
        v = e->value;
    } else if (e->kind == DIMK_SYM) {
        rc = vals ? (v = vals[e->sym], 0) : -1;
    } else if (e->kind == DIMK_POLY) {
        for (int i = 0; i < e->n_terms && !rc; i++) {
            const DimTerm *t = &e->terms[i];
            int64_t p = t->coef;
            for (int j = 0; j < t->n && !rc; j++) {
                rc = eval(t->atom[j], vals, &x);
                for (int k = 0; k < t->exp[j] && !rc; k++)
                    rc = __builtin_mul_overflow(p, x, &p);
            }
            rc = rc || __builtin_add_overflow(v, p, &v);
        }
    } else if (!(rc = eval(e->a, vals, &x) || eval(e->b, vals, &y))) {
        switch (e->kind) {
        case DIMK_FLOORDIV:
            rc = fdiv(x, y, &v);
            break;
        case DIMK_CEILDIV:
            rc = x == INT64_MIN || fdiv(-x, y, &v) || (v = -v, 0);
            break;
        case DIMK_MOD:
            rc = fdiv(x, y, &q) || __builtin_mul_overflow(q, y, &q) ||
                 __builtin_sub_overflow(x, q, &v);
            break;
        case DIMK_MIN:
            v = min64(x, y);
            break;
        default:
            v = max64(x, y);
            break;
        }
    }
    nd->gen = T.gen, nd->val = v, nd->val_ok = !rc;
    if (!rc) *out = v;
    return rc ? -1 : 0;
}

int dim_eval(Dim d, const int64_t *vals, int64_t *out) {
    T.gen++;
    return eval(d, vals, out);
}

/* --- text ------------------------------------------------------------------------ */

enum { P_SUM, P_MUL, P_ATOM }; /* what may stand unparenthesised: a sum, a product, an atom */

typedef struct {
    char *s;
    size_t len, pos;
} Out;

static void out_s(Out *o, const char *s) {
    while (*s && o->pos + 1 < o->len)
        o->s[o->pos++] = *s++;
    o->s[o->pos] = 0;
}

static void out_i(Out *o, int64_t v) {
    char b[24];
    snprintf(b, sizeof b, "%lld", (long long)v);
    out_s(o, b);
}

static void print(Out *o, Dim d, int prec);

static void print_term(Out *o, const DimTerm *t, int first) {
    int64_t c = t->coef < 0 ? -t->coef : t->coef; /* never INT64_MIN */
    int k = 0;
    out_s(o, t->coef < 0 ? "-" : first ? "" : "+");
    for (int i = 0; i < t->n; i++)
        for (int j = 0; j < t->exp[i]; j++) {
            if (k++) out_s(o, "*");
            /* "-x/2" would read as (-x)/2 */
            print(o, t->atom[i], k == 1 && !(first && t->coef < 0) ? P_MUL : P_ATOM);
        }
    if (c != 1 || !k) {
        if (k) out_s(o, "*");
        out_i(o, c);
    }
}

static void print(Out *o, Dim d, int prec) {
    static const char *const fn[] = {
        [DIMK_CEILDIV] = "cdiv(", [DIMK_MIN] = "min(", [DIMK_MAX] = "max("};
    Node *nd = node(d);
    if (o->pos + 1 >= o->len) return; /* full: stop before a shared subtree blows up */
    if (!nd) {
        if (d >= 0)
            out_i(o, d);
        else
            out_s(o, "?");
        return;
    }
    const DimExpr *e = &nd->e;
    int paren = 0;
    switch (e->kind) {
    case DIMK_CONST:
        paren = prec == P_ATOM;
        out_s(o, paren ? "(" : "");
        out_i(o, e->value);
        break;
    case DIMK_SYM:
        out_s(o, nd->name);
        break;
    case DIMK_POLY:
        paren = prec == P_ATOM || (prec == P_MUL && e->n_terms > 1);
        out_s(o, paren ? "(" : "");
        for (int i = 0; i < e->n_terms; i++)
            print_term(o, &e->terms[i], i == 0);
        break;
    case DIMK_FLOORDIV:
    case DIMK_MOD:
        paren = prec == P_ATOM;
        out_s(o, paren ? "(" : "");
        print(o, e->a, P_MUL);
        out_s(o, e->kind == DIMK_MOD ? "%" : "/");
        print(o, e->b, P_ATOM);
        break;
    default:
        out_s(o, fn[e->kind]);
        print(o, e->a, P_SUM);
        out_s(o, ",");
        print(o, e->b, P_SUM);
        out_s(o, ")");
    }
    out_s(o, paren ? ")" : "");
}

char *dim_str(Dim d, char *buf, size_t len) {
    Out o = {buf, len, 0};
    if (!len) return buf;
    buf[0] = 0;
    print(&o, d, P_SUM);
    return buf;
}

typedef struct {
    const char *s;
    int depth;
} Parser;

static Dim p_expr(Parser *p);

static void p_skip(Parser *p) {
    while (*p->s == ' ' || *p->s == '\t')
        p->s++;
}

static int p_eat(Parser *p, char c) {
    p_skip(p);
    return *p->s == c ? (p->s++, 1) : 0;
}

static int is_name(char c, int first) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (!first && c >= '0' && c <= '9');
}

static Dim p_primary(Parser *p) {
    p_skip(p);
    const char *s = p->s;
    if (p_eat(p, '(')) {
        Dim d = p_expr(p);
        return p_eat(p, ')') ? d : DIM_INVALID;
    }
    if (*s >= '0' && *s <= '9') {
        int64_t v = 0;
        for (; *s >= '0' && *s <= '9'; s++)
            if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *s - '0', &v))
                return DIM_INVALID;
        p->s = s;
        return v;
    }
    char name[128];
    size_t n = 0;
    while (is_name(s[n], n == 0))
        if (++n == sizeof name) return DIM_INVALID;
    if (!n) return DIM_INVALID;
    memcpy(name, s, n);
    name[n] = 0;
    p->s = s + n;
    int f = !strcmp(name, "cdiv") ? 1 : !strcmp(name, "min") ? 2 : !strcmp(name, "max") ? 3 : 0;
    if (!f || !p_eat(p, '(')) return dim_sym(name);
    Dim a = p_expr(p), b = p_eat(p, ',') ? p_expr(p) : DIM_INVALID;
    if (!p_eat(p, ')')) return DIM_INVALID;
    return f == 1 ? dim_ceildiv(a, b) : f == 2 ? dim_min(a, b) : dim_max(a, b);
}

static Dim p_unary(Parser *p) {
    if (!p_eat(p, '-')) return p_primary(p);
    if (++p->depth > MAX_DEPTH) return DIM_INVALID;
    Dim d = dim_sub(0, p_unary(p));
    p->depth--;
    return d;
}

static Dim p_term(Parser *p) {
    Dim d = p_unary(p);
    for (;;) {
        p_skip(p);
        char c = *p->s;
        if (d == DIM_INVALID || (c != '*' && c != '/' && c != '%')) return d;
        p->s++;
        Dim r = p_unary(p);
        d = c == '*' ? dim_mul(d, r) : c == '/' ? dim_floordiv(d, r) : dim_mod(d, r);
    }
}

static Dim p_expr(Parser *p) {
    if (++p->depth > MAX_DEPTH) return DIM_INVALID;
    Dim d = p_term(p);
    for (;;) {
        p_skip(p);
        char c = *p->s;
        if (d == DIM_INVALID || (c != '+' && c != '-')) break;
        p->s++;
        Dim r = p_term(p);
        d = c == '+' ? dim_add(d, r) : dim_sub(d, r);
    }
    p->depth--;
    return d;
}

Dim dim_parse(const char **s) {
    Parser p = {*s, 0};
    Dim d = p_expr(&p);
    if (d != DIM_INVALID) *s = p.s;
    return d;
}

/* --- polynomials ------------------------------------------------------------------ */

static int64_t atom_id(Dim d) {
    return -1 - d;
}

static int degree(const DimTerm *t) {
    int d = 0;
    for (int i = 0; i < t->n; i++)
        d += t->exp[i];
    return d;
}

/* The monomial order: higher degree first, then by the atoms' ids. */
static int mono_cmp(const DimTerm *x, const DimTerm *y) {
    int dx = degree(x), dy = degree(y);
    if (dx != dy) return dx > dy ? -1 : 1;
    for (int i = 0; i < x->n && i < y->n; i++) {
        if (x->atom[i] != y->atom[i]) return atom_id(x->atom[i]) < atom_id(y->atom[i]) ? -1 : 1;
        if (x->exp[i] != y->exp[i]) return x->exp[i] > y->exp[i] ? -1 : 1;
    }
    return 0;
}

static int mono_qcmp(const void *x, const void *y) {
    return mono_cmp(x, y);
}

static int push(Poly *p, const DimTerm *t, int64_t sign) {
    if (p->n == p->cap) return -1;
    p->t[p->n] = *t;
    p->t[p->n++].coef *= sign; /* coefficients are never INT64_MIN */
    return 0;
}

/* Appends sign * d's terms. */
static int push_dim(Poly *p, Dim d, int64_t sign) {
    Node *nd = node(d);
    DimTerm t = {.coef = d, .n = 0};
    if (!ok(d)) return -1;
    if (!nd) return d ? push(p, &t, sign) : 0;
    if (nd->e.kind == DIMK_POLY) {
        for (int i = 0; i < nd->e.n_terms; i++)
            if (push(p, &nd->e.terms[i], sign)) return -1;
        return 0;
    }
    if (nd->e.kind == DIMK_CONST)
        t.coef = nd->e.value;
    else
        t = (DimTerm){.coef = 1, .n = 1, .atom = {d}, .exp = {1}};
    return push(p, &t, sign);
}

/* Sorts and merges the terms, dropping zeros; -1 on overflow. */
static int poly_norm(Poly *p) {
    int w = 0;
    qsort(p->t, (size_t)p->n, sizeof *p->t, mono_qcmp);
    for (int i = 0; i < p->n; i++) {
        if (w > 0 && mono_cmp(&p->t[w - 1], &p->t[i]) == 0) {
            if (__builtin_add_overflow(p->t[w - 1].coef, p->t[i].coef, &p->t[w - 1].coef) ||
                p->t[w - 1].coef == INT64_MIN)
                return -1;
        } else {
            p->t[w++] = p->t[i];
        }
    }
    p->n = 0;
    for (int i = 0; i < w; i++)
        if (p->t[i].coef) p->t[p->n++] = p->t[i];
    return 0;
}

static Dim poly_dim(Poly *p) {
    if (poly_norm(p)) return DIM_INVALID;
    if (p->n == 0) return 0;
    DimTerm *t = &p->t[0];
    if (p->n == 1 && t->n == 0) return dim_const(t->coef);
    if (p->n == 1 && t->n == 1 && t->coef == 1 && t->exp[0] == 1) return t->atom[0];
    if (p->n > DIM_MAX_TERMS) return DIM_INVALID;
    DimExpr e = {.kind = DIMK_POLY, .n_terms = p->n, .terms = p->t};
    return intern(&e, NULL);
}

static int term_mul(const DimTerm *x, const DimTerm *y, DimTerm *r) {
    int i = 0, j = 0, n = 0;
    if (__builtin_mul_overflow(x->coef, y->coef, &r->coef) || r->coef == INT64_MIN) return -1;
    while (i < x->n || j < y->n) {
        if (n == DIM_MAX_FACTORS) return -1;
        if (j == y->n || (i < x->n && x->atom[i] > y->atom[j])) { /* ids ascending */
            r->atom[n] = x->atom[i], r->exp[n++] = x->exp[i++];
        } else if (i == x->n || y->atom[j] > x->atom[i]) {
            r->atom[n] = y->atom[j], r->exp[n++] = y->exp[j++];
        } else {
            r->atom[n] = x->atom[i], r->exp[n] = x->exp[i++] + y->exp[j++];
            if (r->exp[n++] > MAX_EXP) return -1;
        }
    }
    r->n = n;
    return 0;
}

/* x / y if y divides x (coefficient and every atom power), else -1. */
static int term_div(const DimTerm *x, const DimTerm *y, DimTerm *r) {
    int j = 0;
    if (y->coef == 0 || x->coef % y->coef) return -1;
    r->coef = x->coef / y->coef;
    r->n = 0;
    for (int i = 0; i < x->n; i++) {
        int e = x->exp[i];
        if (j < y->n && y->atom[j] == x->atom[i]) e -= y->exp[j++];
        if (e < 0) return -1;
        if (e > 0) r->atom[r->n] = x->atom[i], r->exp[r->n++] = e;
    }
    return j == y->n ? 0 : -1; /* else y has an atom that x lacks */
}

/* --- building ------------------------------------------------------------------------ */

Dim dim_const(int64_t v) {
    if (v >= 0 || v == DIM_INVALID) return v;
    DimExpr e = {.kind = DIMK_CONST, .value = v, .lo = v, .hi = v};
    return intern(&e, NULL);
}

static Dim add(Dim a, Dim b, int64_t sign) {
    DimTerm buf[2 * DIM_MAX_TERMS];
    Poly p = {0, 2 * DIM_MAX_TERMS, buf};
    if (push_dim(&p, a, 1) || push_dim(&p, b, sign)) return DIM_INVALID;
    return poly_dim(&p);
}

Dim dim_add(Dim a, Dim b) {
    return add(a, b, 1);
}
Dim dim_sub(Dim a, Dim b) {
    return add(a, b, -1);
}

Dim dim_mul(Dim a, Dim b) {
    DimTerm ab[DIM_MAX_TERMS + 1], bb[DIM_MAX_TERMS + 1], buf[POLY_CAP];
    Poly pa = {0, DIM_MAX_TERMS + 1, ab}, pb = {0, DIM_MAX_TERMS + 1, bb}, p = {0, POLY_CAP, buf};
    if (push_dim(&pa, a, 1) || push_dim(&pb, b, 1)) return DIM_INVALID;
    for (int i = 0; i < pa.n; i++)
        for (int j = 0; j < pb.n; j++)
            if (term_mul(&pa.t[i], &pb.t[j], &p.t[p.n++])) return DIM_INVALID;
    return poly_dim(&p);
}

/* The textbook division: the leading term of a divided by that of b goes
 * to the quotient until nothing remains (exact) or a term does not divide.
 * A remainder that grows past its room counts as not exact. */
Dim dim_exact_div(Dim a, Dim b) {
    enum { ROOM = 4 * DIM_MAX_TERMS };
    DimTerm bb[DIM_MAX_TERMS + 1], rb[ROOM], qb[ROOM];
    Poly pb = {0, DIM_MAX_TERMS + 1, bb}, r = {0, ROOM, rb}, q = {0, ROOM, qb};
    if (b == 0 || push_dim(&pb, b, 1) || push_dim(&r, a, 1)) return DIM_INVALID;
    while (r.n > 0) {
        DimTerm qt;
        if (q.n == q.cap || term_div(&r.t[0], &pb.t[0], &qt)) return DIM_INVALID;
        q.t[q.n++] = qt;
        for (int j = 0; j < pb.n; j++) {
            if (r.n == r.cap || term_mul(&qt, &pb.t[j], &r.t[r.n])) return DIM_INVALID;
            r.t[r.n++].coef *= -1;
        }
        if (poly_norm(&r)) return DIM_INVALID;
    }
    return poly_dim(&q);
}

static int64_t gcd(int64_t a, int64_t b) {
    while (b) {
        int64_t t = a % b;
        a = b, b = t;
    }
    return a < 0 ? -a : a;
}

/* floor, ceil and mod of a by b (b >= 1). With b one term d, a = d*Q + R
 * where d divides no term of R (for a constant d, R's constant lies in
 * [0, d)), and R and d lose their common factor g: then floor(a/b) is
 * Q + floor(R'/d'), ceil likewise, and a mod b is g * (R' mod d'). What
 * remains is a constant if the bounds say so, else an atom. */
static Dim div_op(DimKind k, Dim a, Dim b) {
    DimTerm qb[DIM_MAX_TERMS + 1], rb[DIM_MAX_TERMS + 1], bb[DIM_MAX_TERMS + 1], ab[DIM_MAX_TERMS];
    Poly q = {0, DIM_MAX_TERMS + 1, qb}, r = {0, DIM_MAX_TERMS + 1, rb};
    Poly pb = {0, DIM_MAX_TERMS + 1, bb}, pa = {0, DIM_MAX_TERMS, ab};
    if (!ok(a) || !ok(b) || dim_iv(b).lo < 1) return DIM_INVALID;
    if (b == 1) return k == DIMK_MOD ? 0 : a;
    Dim x = dim_exact_div(a, b);
    if (x != DIM_INVALID) return k == DIMK_MOD ? 0 : x;
    Dim quo = 0, rem = a, den = b;
    int64_t g = 1;
    push_dim(&pa, a, 1);
    push_dim(&pb, b, 1);
    DimTerm *d = &pb.t[0];
    if (pb.n == 1 && d->coef > 0) {
        for (int i = 0; i < pa.n; i++) {
            DimTerm t = pa.t[i], c = {.coef = 0};
            if (term_div(&t, d, &c) == 0) {
                push(&q, &c, 1);
                continue;
            }
            if (t.n == 0 && d->n == 0) { /* constant by constant */
                int64_t m = t.coef % d->coef;
                m += m < 0 ? d->coef : 0;
                if (__builtin_sub_overflow(t.coef, m, &c.coef)) return DIM_INVALID;
                c.coef /= d->coef;
                t.coef = m;
                push(&q, &c, 1);
            }
            push(&r, &t, 1);
        }
        g = d->coef;
        for (int i = 0; i < r.n; i++)
            g = gcd(g, r.t[i].coef);
        for (int i = 0; i < r.n; i++)
            r.t[i].coef /= g;
        d->coef /= g;
        quo = poly_dim(&q), rem = poly_dim(&r), den = poly_dim(&pb);
        if (quo == DIM_INVALID || rem == DIM_INVALID || den == DIM_INVALID) return DIM_INVALID;
    }
    /* floor((floor(x/m) + c)/n) is floor((x + c*m)/(m*n)), and ceil likewise;
     * (x%m)%n is x%n when n divides m. */
    Node *nr = node(rem);
    const DimExpr *re = nr ? &nr->e : NULL;
    int64_t off = 0, m;
    if (re && re->kind == DIMK_POLY && re->n_terms == 2 && re->terms[1].n == 0 &&
        re->terms[0].coef == 1 && re->terms[0].n == 1 && re->terms[0].exp[0] == 1)
        off = re->terms[1].coef, re = dim_expr(re->terms[0].atom[0]);
    if (re && re->kind == k && k != DIMK_MOD && (x = dim_mul(re->b, den)) != DIM_INVALID)
        return dim_add(quo, div_op(k, dim_add(re->a, dim_mul(dim_const(off), re->b)), x));
    if (re && re->kind == k && !off && dim_value(re->b, &m) && den > 0 && m % den == 0)
        return dim_mul(div_op(k, re->a, den), g);
    /* ceil by a constant: ceil(x/c) is floor((x+c-1)/c), one canonical form */
    if (k == DIMK_CEILDIV && den >= 0)
        return dim_add(quo, div_op(DIMK_FLOORDIV, dim_add(rem, den - 1), den));
    Iv ri = dim_iv(rem), di = dim_iv(den), fi = iv_floordiv(ri, di);
    if (k == DIMK_MOD) {
        x = iv_const(fi) ? dim_sub(rem, dim_mul(dim_const(fi.lo), den))
                         : atom(k, rem, den, iv_mod(ri, di));
        return dim_mul(x, g);
    }
    if (k == DIMK_CEILDIV) fi = iv_ceildiv(ri, di);
    return dim_add(quo, iv_const(fi) ? dim_const(fi.lo) : atom(k, rem, den, fi));
}

Dim dim_floordiv(Dim a, Dim b) {
    return div_op(DIMK_FLOORDIV, a, b);
}
Dim dim_ceildiv(Dim a, Dim b) {
    return div_op(DIMK_CEILDIV, a, b);
}
Dim dim_mod(Dim a, Dim b) {
    return div_op(DIMK_MOD, a, b);
}

/* a <= b by the bounds of b - a, or, since those miss how an atom relates
 * to its operands, by what an atom on either side means: floor(x/d) <= b
 * iff x <= d*b + d-1, ceil(x/d) <= b iff x <= d*b, a <= floor(y/d) iff
 * a*d <= y, a <= ceil(y/d) iff (a-1)*d + 1 <= y, and min/max by their
 * operands. So h/2 <= h and (h+1)/2 <= h when h >= 1. */
static int le(Dim a, Dim b, int depth) {
    DimTerm buf[2 * DIM_MAX_TERMS];
    Poly p = {0, 2 * DIM_MAX_TERMS, buf};
    const DimExpr *x = dim_expr(a), *y = dim_expr(b);
    if (!ok(a) || !ok(b)) return 0;
    if (!push_dim(&p, b, 1) && !push_dim(&p, a, -1) && !poly_norm(&p) &&
        terms_iv(p.t, p.n, 0).lo >= 0)
        return 1;
    if (depth == 3) return 0;
    depth++;
    if (x && x->kind == DIMK_SYM && x->data && le(x->bound, b, depth)) return 1;
    if (x && x->kind == DIMK_MIN && (le(x->a, b, depth) || le(x->b, b, depth))) return 1;
    if (x && x->kind == DIMK_MAX && le(x->a, b, depth) && le(x->b, b, depth)) return 1;
    if (y && y->kind == DIMK_MAX && (le(a, y->a, depth) || le(a, y->b, depth))) return 1;
    if (y && y->kind == DIMK_MIN && le(a, y->a, depth) && le(a, y->b, depth)) return 1;
    if (x && (x->kind == DIMK_FLOORDIV || x->kind == DIMK_CEILDIV)) {
        Dim r = dim_mul(x->b, b);
        if (le(x->a, x->kind == DIMK_FLOORDIV ? dim_sub(dim_add(r, x->b), 1) : r, depth)) return 1;
    }
    if (y && (y->kind == DIMK_FLOORDIV || y->kind == DIMK_CEILDIV)) {
        Dim l =
            y->kind == DIMK_FLOORDIV ? dim_mul(a, y->b) : dim_add(dim_mul(dim_sub(a, 1), y->b), 1);
        if (le(l, y->a, depth)) return 1;
    }
    return x && x->kind == DIMK_MOD && le(dim_sub(x->b, 1), b, depth);
}

int dim_provably_le(Dim a, Dim b) {
    return le(a, b, 0);
}

enum { MAX_CHAIN = 8 }; /* operands of one min or max chain */

/* Appends d's operands as a chain of k (d itself if not a k) to ops[0..n);
 * -1 if they do not fit. */
static int chain(DimKind k, Dim d, Dim *ops, int n) {
    Node *nd = node(d);
    if (n < 0) return n;
    if (nd && nd->e.kind == k) return chain(k, nd->e.b, ops, chain(k, nd->e.a, ops, n));
    if (n == MAX_CHAIN) return -1;
    ops[n] = d;
    return n + 1;
}

/* beats(k, x, y): x makes y redundant in a min (x <= y) or a max (x >= y). */
static int beats(DimKind k, Dim x, Dim y) {
    return k == DIMK_MIN ? dim_provably_le(x, y) : dim_provably_le(y, x);
}

/* Of two operands that beat each other (equal, in different forms), the
 * one kept: a constant, else the older expression, which is no bigger. */
static int prefer(Dim x, Dim y) {
    return x >= 0 ? y < 0 || x < y : y < 0 && x > y;
}

/* min and max as a chain min(x1, min(x2, ...)) of the operands of a and b,
 * without those another beats, in term order (expressions by id, then
 * constants): one Dim whatever the order of a and b. */
static Dim min_max(DimKind k, Dim a, Dim b) {
    Dim ops[MAX_CHAIN], keep[MAX_CHAIN];
    if (!ok(a) || !ok(b)) return DIM_INVALID;
    int n = chain(k, b, ops, chain(k, a, ops, 0)), w = 0;
    if (n < 0) ops[0] = a, ops[1] = b, n = 2;
    for (int i = 0; i < n; i++) {
        int beaten = 0;
        for (int j = 0; j < n && !beaten; j++)
            beaten = ops[j] != ops[i] && beats(k, ops[j], ops[i]) &&
                     (!beats(k, ops[i], ops[j]) || prefer(ops[j], ops[i]));
        for (int j = 0; j < w && !beaten; j++)
            beaten = keep[j] == ops[i];
        if (!beaten) keep[w++] = ops[i];
    }
    for (int i = 1; i < w; i++)
        for (int j = i; j > 0 && keep[j] < 0 && (keep[j - 1] >= 0 || keep[j] > keep[j - 1]); j--) {
            Dim t = keep[j];
            keep[j] = keep[j - 1], keep[j - 1] = t;
        }
    Dim d = keep[w - 1];
    for (int i = w - 2; i >= 0 && d != DIM_INVALID; i--) {
        Iv x = dim_iv(keep[i]), y = dim_iv(d);
        Iv v = k == DIMK_MIN ? (Iv){min64(x.lo, y.lo), min64(x.hi, y.hi)}
                             : (Iv){max64(x.lo, y.lo), max64(x.hi, y.hi)};
        d = atom(k, keep[i], d, v);
    }
    return d;
}

Dim dim_min(Dim a, Dim b) {
    return min_max(DIMK_MIN, a, b);
}
Dim dim_max(Dim a, Dim b) {
    return min_max(DIMK_MAX, a, b);
}
