/* flops.c: floating-point operations per batch item, one function per op
 * family, named in the flops column of compiler/ir/ops.def.
 *
 * What each family counts (per batch item: the batch dim counts as 1):
 *   Conv             2 per multiply-add: 2 * out elems * (C_in / group) *
 *                    prod(kernel), every tap counted (padding taps too),
 *                    + 1 per output element for the bias.
 *   ConvTranspose    the same seen from the input: 2 * in elems *
 *                    (C_out / group) * prod(kernel), + the bias.
 *   Gemm, MatMul     2 * M * N * K (+ M * N bias adds for Gemm's C); the
 *                    alpha/beta scalings are not counted.
 *   elementwise      1 per output element (arithmetic, comparison, logic,
 *                    Where, Clip, the piecewise-linear activations, Sqrt).
 *   transcendental   FLOPS_TRANSCENDENTAL per output element (Exp, Log,
 *                    Pow, trigonometric, Erf, Sigmoid, Tanh, Elu, Softplus).
 *   Sum/Mean/Max/Min (inputs - 1) per output element, Mean 1 more.
 *   pools            prod(kernel_shape) per output element; global pools 1
 *                    per input element.
 *   reductions       1 per input element (also ArgMax, CumSum, TopK,
 *                    Hardmax, NegativeLogLikelihoodLoss).
 *   Softmax          FLOPS_SOFTMAX per input element (also LogSoftmax and
 *                    SoftmaxCrossEntropyLoss).
 *   BatchNorm        FLOPS_BATCHNORM per element (inference: a per-channel
 *                    scale and shift).
 *   other norms      FLOPS_NORM per element (Instance-, Layer-, LpNorm, MVN).
 *   LRN              2 * size + 2 + FLOPS_TRANSCENDENTAL per element.
 *   Resize           nearest 0; linear 2 * 2^k, cubic 2 * 4^k per output
 *                    element, k the number of axes whose size changes.
 *   data movement    0 (Reshape, Transpose, Gather, Pad, Cast, ...).
 */
#include <string.h>

#include "shapes.h"

#define FLOPS_TRANSCENDENTAL 4                   /* exp, log, tanh, ...: a small polynomial */
#define FLOPS_SOFTMAX (4 + FLOPS_TRANSCENDENTAL) /* max, subtract, exp, sum, divide */
#define FLOPS_BATCHNORM 2
#define FLOPS_NORM 7 /* mean 1, variance 3, normalise with scale and shift 3 */

static int64_t numel_in(const Node *n, int i) {
    const Value *v = shapes_in(n, i);
    return v && v->shape.rank >= 0 ? shape_numel(&v->shape) : 0;
}

static int64_t numel_out(const Node *n) {
    return shape_numel(&n->outputs[0]->shape);
}

/* A dim as a count per batch item. */
/* Counts saturate at INT64_MAX: shapes are within model_limits.h, but a
 * product of two of their sizes and an attribute (LRN's size, a pool's
 * window) need not fit int64. */
static int64_t mul(int64_t a, int64_t b) {
    int64_t r;
    return __builtin_mul_overflow(a, b, &r) ? INT64_MAX : r;
}

static int64_t add(int64_t a, int64_t b) {
    int64_t r;
    return __builtin_add_overflow(a, b, &r) ? INT64_MAX : r;
}

/* A dim for counting: symbolic ones at their lower bound (the FLOPs of
 * the smallest call; `kiln inspect` says so). */
static int64_t dim(int64_t d) {
    int64_t lo, hi;
    if (d >= 0) return d;
    if (dim_bounds(d, &lo, &hi) || lo < 1) return 1;
    return lo;
}

static int64_t flops_zero(const Node *n) {
    (void)n;
    return 0;
}

static int64_t flops_elementwise(const Node *n) {
    return numel_out(n);
}

static int64_t flops_transcendental(const Node *n) {
    return mul(FLOPS_TRANSCENDENTAL, numel_out(n));
}

/* kiln.Chain: each step as its op alone would count. */
static int64_t flops_chain(const Node *n) {
    const Attr *steps = ir_attr(n, "steps");
    return mul(FLOPS_TRANSCENDENTAL, mul(steps ? steps->n : 1, numel_out(n)));
}

static int64_t flops_variadic(const Node *n) {
    return mul(n->n_inputs - 1 + (n->op == OP_MEAN), numel_out(n));
}

static int64_t flops_per_input(const Node *n) {
    return numel_in(n, 0);
}

static int64_t flops_softmax(const Node *n) {
    return mul(FLOPS_SOFTMAX, numel_in(n, 0));
}

static int64_t flops_batchnorm(const Node *n) {
    return mul(FLOPS_BATCHNORM, numel_in(n, 0));
}

static int64_t flops_norm(const Node *n) {
    return mul(FLOPS_NORM, numel_in(n, 0));
}

static int64_t flops_lrn(const Node *n) {
    int64_t size = ir_attr_int(n, "size", 1);
    return mul(add(mul(2, size < 0 ? 0 : size), 2 + FLOPS_TRANSCENDENTAL), numel_out(n));
}

/* Y = A(M,K) B(K,N) (+ C): K is A's dim 1, or dim 0 under transA. */
static int64_t flops_gemm(const Node *n) {
    const Shape *a = &n->inputs[0]->shape;
    int64_t k = dim(a->dims[ir_attr_int(n, "transA", 0) ? 0 : a->rank - 1]); /* rank > 2: fuse */
    return add(mul(mul(2, numel_out(n)), k), shapes_in(n, 2) ? numel_out(n) : 0);
}

/* FusedAttention: scores and output, 2 * G*Lq*Lk*D each, and a softmax
 * per score. The output is G*Lq*D elements. */
static int64_t flops_attention(const Node *n) {
    const Shape *k = &n->inputs[1]->shape;
    int64_t lk = dim(k->dims[!ir_attr_int(n, "k_lgd", 0)]), d = dim(k->dims[2]);
    int64_t per = add(mul(4, mul(lk, d)), mul(FLOPS_SOFTMAX, lk));
    return mul(d ? numel_out(n) / d : 0, per);
}

/* Every output element is a dot product over A's last dim. */
static int64_t flops_matmul(const Node *n) {
    const Shape *a = &n->inputs[0]->shape;
    return a->rank > 0 ? mul(mul(2, numel_out(n)), dim(a->dims[a->rank - 1])) : 0;
}

/* RNN, GRU, LSTM: per step, direction and row (Y's elements over H), the
 * input and recurrent products 2*GH*(I + H) and an activation and about 3
 * more per gate value. */
static int64_t flops_rnn(const Node *n) {
    const Shape *w = &n->inputs[1]->shape, *r = &n->inputs[2]->shape;
    int64_t gh = dim(w->dims[1]), H = dim(r->dims[2]);
    int64_t per = add(mul(mul(2, gh), add(dim(w->dims[2]), H)), mul(gh, FLOPS_TRANSCENDENTAL + 3));
    return mul(H ? numel_out(n) / H : 0, per);
}

/* Multiply-adds per output (Conv) or input (ConvTranspose) element: the
 * weight's dim 1 (C_in / group, or C_out / group) times the kernel taps. */
static int64_t conv_taps(const Node *n) {
    const Shape *w = &n->inputs[1]->shape;
    int b;
    return shapes_product(w, 1, w->rank, &b);
}

static int64_t flops_conv(const Node *n) {
    return add(mul(mul(2, numel_out(n)), conv_taps(n)), shapes_in(n, 2) ? numel_out(n) : 0);
}

static int64_t flops_conv_transpose(const Node *n) {
    return add(mul(mul(2, numel_in(n, 0)), conv_taps(n)), shapes_in(n, 2) ? numel_out(n) : 0);
}

static int64_t flops_pool(const Node *n) {
    const Attr *k = ir_attr(n, "kernel_shape");
    int64_t taps = 1;
    for (int i = 0; k && k->kind == ATTR_INTS && i < k->n; i++)
        taps = mul(taps, k->ints[i] < 0 ? 0 : k->ints[i]);
    return mul(taps, numel_out(n));
}

static int64_t flops_resize(const Node *n) {
    const char *mode = ir_attr_str(n, "mode", "nearest");
    int64_t taps = !strcmp(mode, "linear") ? 2 : !strcmp(mode, "cubic") ? 4 : 0;
    if (!taps) return 0;
    const Shape *x = &n->inputs[0]->shape, *y = &n->outputs[0]->shape;
    int64_t per = 2;
    for (int i = 0; i < y->rank && i < x->rank; i++)
        if (x->dims[i] != y->dims[i]) per = mul(per, taps);
    return mul(per, numel_out(n));
}

typedef int64_t (*FlopsFn)(const Node *n);

static const FlopsFn flops_fns[OP_COUNT] = {
#define OP(e, name, since, imin, imax, omin, omax, st, flags, shape, flops, emit, kernel)          \
    [OP_##e] = flops,
#include "ops.def"
#undef OP
};

int64_t flops_node_count(const Node *n) {
    if (n->op >= OP_COUNT || n->n_outputs < 1 || !n->outputs[0] || n->outputs[0]->shape.rank < 0)
        return 0;
    for (int i = 0; i < n->n_inputs; i++)
        if (n->inputs[i] && n->inputs[i]->shape.rank < 0) return 0;
    return flops_fns[n->op](n);
}

int64_t flops_graph_count(const Graph *g) {
    int64_t sum = 0;
    for (int i = 0; i < g->n_nodes; i++)
        if (!g->nodes[i]->dead) sum = add(sum, flops_node_count(g->nodes[i]));
    return sum;
}
