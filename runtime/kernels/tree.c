/* tree.c: the tail of a tree ensemble, after its compiled trees (tree.h).
 *
 * The arithmetic is ONNX Runtime's, which is the reference the ONNX-ML
 * operators are checked against: float math, its softmax (max-subtracted)
 * and softmax-zero, its logistic, and PROBIT as sqrt(2) * erfinv(2p - 1)
 * with Winitzki's closed-form erfinv (a = 0.147), which is what it
 * computes. Its binary-classifier rules (a 2-class model whose weights are
 * for one class only) decide which of [1 - p, p], [-s, s] or
 * [logistic(-s), logistic(s)] the two scores are, and the label.
 */
#include "tree.h"

#include <stdint.h>

#include "kmath.h"

static float tree_logistic(float v) {
    float a = v < 0 ? -v : v;
    float s = 1.0f / (1.0f + kiln_expf(-a));
    return v < 0 ? 1.0f - s : s;
}

static float tree_erfinv(float x) {
    float sgn = x < 0 ? -1.0f : 1.0f;
    float l = __builtin_logf((1.0f - x) * (1.0f + x));
    float v = 2.0f / (3.14159f * 0.147f) + 0.5f * l;
    float v2 = 1.0f / 0.147f * l;
    float v3 = -v + __builtin_sqrtf(v * v - v2);
    return sgn * __builtin_sqrtf(v3);
}

static float tree_probit(float p) {
    if (!(p > 0 && p < 1)) return __builtin_nanf(""); /* as ONNX Runtime gives */
    return 1.41421356f * tree_erfinv(p * 2.0f - 1.0f);
}

static void tree_softmax(float *z, int32_t n, int zero) {
    float mx = -3.40282347e38f;
    for (int32_t k = 0; k < n; k++)
        if (z[k] > mx) mx = z[k];
    float sum = 0, e0 = kiln_expf(-mx);
    for (int32_t k = 0; k < n; k++) {
        if (zero && z[k] <= 1e-7f && z[k] >= -1e-7f) {
            z[k] = z[k] * e0;
        } else {
            z[k] = kiln_expf(z[k] - mx);
            sum += z[k];
        }
    }
    for (int32_t k = 0; k < n; k++)
        z[k] = z[k] / sum;
}

/* post_transform over the n >= 2 scores of a row. */
static void tree_post(float *z, int32_t n, int32_t post) {
    switch (post) {
    case KILN_TREE_POST_SOFTMAX:
    case KILN_TREE_POST_SOFTMAX_ZERO:
        tree_softmax(z, n, post == KILN_TREE_POST_SOFTMAX_ZERO);
        break;
    case KILN_TREE_POST_LOGISTIC:
        for (int32_t k = 0; k < n; k++)
            z[k] = tree_logistic(z[k]);
        break;
    case KILN_TREE_POST_PROBIT:
        for (int32_t k = 0; k < n; k++)
            z[k] = tree_probit(z[k]);
        break;
    default:
        break;
    }
}

/* has(k): some tree gave target k a weight in this row. */
#define HAS(k) (acc[n + (k)] != 0)

static void tree_regressor_row(const double *acc, int32_t n, int32_t aggregate, int32_t post,
                               int32_t n_trees, int32_t n_base, const float *base, float *z) {
    for (int32_t t = 0; t < n; t++) {
        float v = (float)acc[t];
        if (!HAS(t))
            v = 0;
        else if (aggregate == KILN_TREE_AVERAGE)
            v = v / (float)n_trees;
        if (n_base == n && HAS(t)) v += base[t];
        z[t] = v;
    }
    if (n == 1) {
        if (post == KILN_TREE_POST_PROBIT) z[0] = tree_probit(z[0]);
    } else {
        tree_post(z, n, post);
    }
}

/* A classifier row: the class chosen, an index. */
static int64_t tree_classifier_row(const double *acc, int32_t n, int32_t flags, int32_t post,
                                   int32_t n_base, const float *base, float *z) {
    for (int32_t k = 0; k < n; k++)
        z[k] = HAS(k) ? (float)acc[k] : 0;
    if (n != 2) {
        int64_t best = -1;
        for (int32_t k = 0; k < n; k++) {
            if (k < n_base) z[k] += base[k];
            if ((HAS(k) || k < n_base) && (best < 0 || z[k] > z[best])) best = k;
        }
        tree_post(z, n, post);
        return best < 0 ? 0 : best;
    }
    int has0 = HAS(0), has1 = HAS(1);
    int size = 2, extra = -1;
    if (n_base == 2) {
        if (has1) {
            /* ORT's rule: base_values[0] is not used, and the scores are
             * [-s, s] with s = base_values[1] + class 0's sum. */
            z[1] = base[1] + z[0];
            z[0] = -z[1];
        } else {
            z[1] += base[1];
            z[0] += base[0];
        }
    } else if (n_base == 1) {
        z[0] += base[0];
        if (!has1) size = 1;
    } else {
        extra = 3;
        if (!has1) size = 1;
    }
    float pos = size == 2 && has1 ? z[1] : has0 ? z[0] : 0;
    int64_t label = pos > 0;
    if (flags & KILN_TREE_BINARY) {
        if (flags & KILN_TREE_ALL_POSITIVE) {
            label = pos > 0.5f;
            extra = pos > 0.5f ? 0 : 1;
        } else {
            extra = pos > 0 ? 2 : 3;
        }
    }
    /* A class no tree scored reads 0. */
    if (!has0) z[0] = 0;
    if (!has1) z[1] = 0;
    if (size == 2) {
        tree_post(z, 2, post);
        return label;
    }
    /* One score s: the two are [1 - s, s] (probability leaves) or [-s, s],
     * [logistic(-s), logistic(s)] under LOGISTIC, [probit(s), 0] under
     * PROBIT; SOFTMAX leaves the one score alone (ONNX Runtime 1.30). */
    float s = z[0];
    if (post == KILN_TREE_POST_PROBIT) {
        z[0] = tree_probit(s);
        z[1] = 0;
    } else if (extra < 0) {
        z[1] = 0; /* one base value and a row without class 1: the score as it is */
    } else if (post == KILN_TREE_POST_LOGISTIC) {
        z[0] = tree_logistic(-s);
        z[1] = tree_logistic(s);
    } else if (extra == 0 || extra == 1) {
        z[0] = 1.0f - s;
        z[1] = s;
    } else if (extra == 2 || extra == 3) {
        z[0] = -s;
        z[1] = s;
    }
    return label;
}

void kiln_tree_row_finish(const double *acc, int32_t n, int32_t flags, int32_t aggregate,
                          int32_t post, int32_t n_trees, int32_t n_base, const float *base,
                          const void *label_values, float *z, void *label) {
    if (!(flags & KILN_TREE_CLASSIFIER)) {
        tree_regressor_row(acc, n, aggregate, post, n_trees, n_base, base, z);
        return;
    }
    int64_t c = tree_classifier_row(acc, n, flags, post, n_base, base, z);
    if (!label) return;
    if (flags & KILN_TREE_STRING_LABELS)
        *(const char **)label = ((const char *const *)label_values)[c];
    else
        *(int64_t *)label = label_values ? ((const int64_t *)label_values)[c] : c;
}

void kiln_tree_row_begin(double *acc, int32_t n, double init) {
    for (int32_t t = 0; t < n; t++) {
        acc[t] = init;
        acc[n + t] = 0;
    }
}

void kiln_tree_row_f64(const double *x, int64_t n, float *row) {
    for (int64_t i = 0; i < n; i++)
        row[i] = (float)x[i];
}

void kiln_tree_rows_begin(double *acc, int32_t n, double init, int64_t rows) {
    for (int64_t r = 0; r < rows; r++)
        kiln_tree_row_begin(acc + r * 2 * n, n, init);
}

void kiln_tree_fn_rows(void (*fn)(const float *, double *), const float *x, int64_t f, double *acc,
                       int32_t n, int64_t rows) {
    for (int64_t r = 0; r < rows; r++)
        fn(x + r * f, acc + r * 2 * n);
}

void kiln_tree_rows_finish(const double *acc, int32_t n, int32_t flags, int32_t aggregate,
                           int32_t post, int32_t n_trees, int32_t n_base, const float *base,
                           const void *label_values, float *z, void *label, int64_t rows) {
    for (int64_t r = 0; r < rows; r++)
        kiln_tree_row_finish(acc + r * 2 * n, n, flags, aggregate, post, n_trees, n_base, base,
                             label_values, z + r * n, label ? (char *)label + r * 8 : 0);
}

/* The table form (tree.h). */

static double tree_combine(int32_t aggregate, double a, double w) {
    if (aggregate == KILN_TREE_MIN) return w < a ? w : a;
    if (aggregate == KILN_TREE_MAX) return w > a ? w : a;
    return a + w;
}

/* Adds leaf j of tree k into one row's accumulators. */
static inline void tree_leaf_add(const KilnTreeTable *t, int32_t k, uint32_t leaf, double *acc,
                                 int32_t n) {
    if (t->simple) {
        union {
            uint32_t u;
            float f;
        } w = {leaf};
        acc[t->targets[k]] += w.f;
        return;
    }
    for (int32_t i = t->w_first[leaf]; i < t->w_first[leaf + 1]; i++) {
        int32_t c = t->w_target[i];
        acc[c] = tree_combine(t->aggregate, acc[c], t->w_value[i]);
        acc[n + c] = 1;
    }
}

/* Complete trees compare integer keys: a float's bits, mapped so that
 * integer order is float order (-0 as +0), computed once per row for both
 * NaN rules: row r's keys are keys[r * 2f, r * 2f + f) with NaN as the
 * largest key (NaN goes right) and then f more with NaN as the smallest
 * (goes left); a node's column says which half it reads. */
static void tree_keys(const float *x, int64_t f, int64_t rows, int32_t *keys) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < f; c++) {
            float v = x[r * f + c];
            union {
                float f;
                int32_t i;
            } u = {v + 0.0f}; /* -0 + 0 is +0 */
            int32_t k = u.i >= 0 ? u.i : u.i ^ 0x7fffffff;
            int nan = v != v;
            keys[r * 2 * f + c] = nan ? INT32_MAX : k;
            keys[r * 2 * f + f + c] = nan ? INT32_MIN : k;
        }
}

/* One level of a complete tree at heap index i: the child's index. */
static inline uint32_t tree_step(const KilnTreeNode *e, const int32_t *keys, uint32_t i) {
    return 2 * i + 2 - (keys[e->column] <= e->key);
}

/* Rows (or trees) walked together: 32 independent chains of loads hide
 * their latency. Scalar: gathers of 8 or 16 lanes measured slower. */
enum { TREE_LANES = 32 };
#ifdef __clang__
#define TREE_SCALAR _Pragma("clang loop vectorize(disable)")
#else
#define TREE_SCALAR
#endif

static void tree_complete_rows(const KilnTreeTable *t, const float *x, int64_t f, double *acc,
                               int32_t n, int64_t rows, int32_t *keys) {
    const KilnTreeNode *nodes = t->nodes;
    int32_t depth = t->depth;
    uint32_t inner = (1u << depth) - 1;
    int64_t k = 0, f2 = 2 * f;
    tree_keys(x, f, rows, keys);
    if (rows < TREE_LANES) {
        /* Few rows: walk TREE_LANES trees at a time over each row. */
        for (; k + TREE_LANES <= t->n_trees; k += TREE_LANES)
            for (int64_t r = 0; r < rows; r++) {
                const int32_t *row = keys + r * f2;
                uint32_t i[TREE_LANES] = {0};
                for (int32_t l = 0; l < depth; l++)
                    TREE_SCALAR
                for (int j = 0; j < TREE_LANES; j++)
                    i[j] = tree_step(&nodes[(k + j) * inner + i[j]], row, i[j]);
                for (int j = 0; j < TREE_LANES; j++)
                    tree_leaf_add(t, (int32_t)(k + j),
                                  t->leaves[(k + j) * (inner + 1) + i[j] - inner], acc + r * 2 * n,
                                  n);
            }
    }
    /* Each tree over TREE_LANES rows at a time (and the trees left over). */
    for (; k < t->n_trees; k++) {
        const KilnTreeNode *nd = nodes + k * inner;
        const uint32_t *lf = t->leaves + k * (inner + 1) - inner;
        int64_t r = 0;
        for (; r + TREE_LANES <= rows; r += TREE_LANES) {
            uint32_t i[TREE_LANES] = {0};
            for (int32_t l = 0; l < depth; l++)
                TREE_SCALAR
            for (int j = 0; j < TREE_LANES; j++)
                i[j] = tree_step(&nd[i[j]], keys + (r + j) * f2, i[j]);
            for (int j = 0; j < TREE_LANES; j++)
                tree_leaf_add(t, (int32_t)k, lf[i[j]], acc + (r + j) * 2 * n, n);
        }
        for (; r < rows; r++) {
            uint32_t i = 0;
            for (int32_t l = 0; l < depth; l++)
                i = tree_step(&nd[i], keys + r * f2, i);
            tree_leaf_add(t, (int32_t)k, lf[i], acc + r * 2 * n, n);
        }
    }
}

static inline int tree_test(uint32_t mode, float v, float th) {
    switch (mode) {
    case KILN_TREE_MODE_LEQ:
        return v <= th;
    case KILN_TREE_MODE_LT:
        return v < th;
    case KILN_TREE_MODE_GTE:
        return v >= th;
    case KILN_TREE_MODE_GT:
        return v > th;
    case KILN_TREE_MODE_EQ:
        return v == th;
    default:
        return v != th;
    }
}

static void tree_generic_rows(const KilnTreeTable *t, const float *x, int64_t f, double *acc,
                              int32_t n, int64_t rows) {
    const KilnTreeGNode *nodes = t->nodes;
    for (int32_t k = 0; k < t->n_trees; k++)
        for (int64_t r = 0; r < rows; r++) {
            const float *row = x + r * f;
            int32_t i = t->roots[k];
            while (i >= 0) {
                const KilnTreeGNode *e = &nodes[i];
                float v = row[e->feature & KILN_TREE_COLUMN];
                int go = (v != v && (e->feature & KILN_TREE_NAN_TRUE)) ||
                         tree_test((e->feature >> KILN_TREE_MODE_SHIFT) & 7, v, e->threshold);
                i = e->child[go ? 0 : 1];
            }
            tree_leaf_add(t, k, t->leaves[~i], acc + r * 2 * n, n);
        }
}

void kiln_tree_table_rows(const KilnTreeTable *t, const float *x, int64_t f, double *acc, int32_t n,
                          int64_t rows, int32_t *keys) {
    if (t->depth > 0)
        tree_complete_rows(t, x, f, acc, n, rows, keys);
    else
        tree_generic_rows(t, x, f, acc, n, rows);
    if (t->simple)
        for (int64_t r = 0; r < rows; r++)
            for (int32_t c = 0; c < n; c++)
                if (t->has[c]) acc[r * 2 * n + n + c] = 1;
}
