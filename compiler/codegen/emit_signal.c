/* emit_signal.c: kernel calls for the signal and sampling ops
 * (compiler/ir/ops_signal.def) and TfIdfVectorizer (ops_string.def); the
 * kernels are runtime/kernels/signal_kernels.h. The windows and MelWeightMatrix
 * are constants (emit_folded). */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"
#include "signal_kernels.h"
#include "signal_ops.h"

static_assert(KILN_GS_BILINEAR == 0 && KILN_GS_NEAREST == 1 && KILN_GS_BICUBIC == 2,
              "signal_grid_mode (signal_ops.h) numbers the modes as the kernel");
static_assert(KILN_GS_ZEROS == 0 && KILN_GS_BORDER == 1 && KILN_GS_REFLECTION == 2,
              "signal_grid_padding (signal_ops.h) numbers the paddings as the kernel");

static_assert(SIGNAL_SCRATCH_BYTES_PER_POINT == 8 * KILN_DFT_SCRATCH_DOUBLES(1),
              "shape_dft reserves the scratch the transform kernels use");

static LLVMValueRef dimv(Codegen *cg, Dim d) {
    return cg_sym_value(cg, d);
}

static LLVMValueRef prodv(Codegen *cg, const Shape *s, int from, int to) {
    return cg_sym_value(cg, cg_sym_prod(s, from, to));
}

static const char *site(Codegen *cg, const Node *n, const char *what) {
    return arena_printf(cg->g->arena, "node '%s' (%s): %s", n->name, n->op_type, what);
}

int emit_dft(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0], *y = n->outputs[0];
    int r = x->shape.rank;
    int64_t axis;
    if (signal_dft_axis(n, r, &axis)) return -1; /* the shape function reported it */
    /* The transform length: dft_length (static), else the axis' size. */
    Dim n_fft = x->shape.dims[axis];
    if (n->n_inputs > 1 && n->inputs[1]) {
        const Value *l = n->inputs[1];
        n_fft = l->dtype == DT_I32 ? *(const int32_t *)l->data : *(const int64_t *)l->data;
    }
    LLVMValueRef args[] = {prodv(cg, &x->shape, 0, (int)axis),
                           dimv(cg, x->shape.dims[axis]),
                           prodv(cg, &x->shape, (int)axis + 1, r - 1),
                           cg_i32(cg, (int)x->shape.dims[r - 1]),
                           cg_addr(cg, x),
                           dimv(cg, n_fft),
                           dimv(cg, y->shape.dims[axis]),
                           cg_i32(cg, ir_attr_int(n, "inverse", 0) != 0),
                           cg_addr(cg, y),
                           cg_scratch(cg, n)};
    cg_call(cg, "kiln_dft_f32", args, 10);
    return 0;
}

int emit_stft(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0], *y = n->outputs[0];
    const Value *step = n->inputs[1], *w = n->n_inputs > 2 ? n->inputs[2] : NULL;
    int64_t st =
        step->dtype == DT_I32 ? *(const int32_t *)step->data : *(const int64_t *)step->data;
    int64_t flen;
    if (w) {
        flen = w->shape.dims[0];
    } else {
        const Value *l = n->inputs[3];
        flen = l->dtype == DT_I32 ? *(const int32_t *)l->data : *(const int64_t *)l->data;
    }
    LLVMValueRef args[] = {dimv(cg, x->shape.dims[0]),
                           dimv(cg, x->shape.dims[1]),
                           cg_i32(cg, (int)x->shape.dims[2]),
                           cg_addr(cg, x),
                           cg_i64(cg, st),
                           w ? cg_addr(cg, w) : LLVMConstPointerNull(cg->ptr),
                           cg_i64(cg, flen),
                           dimv(cg, y->shape.dims[1]),
                           dimv(cg, y->shape.dims[2]),
                           cg_addr(cg, y),
                           cg_scratch(cg, n)};
    cg_call(cg, "kiln_stft_f32", args, 11);
    return 0;
}

int emit_grid_sample(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0], *g = n->inputs[1], *y = n->outputs[0];
    int mode = signal_grid_mode(n), pad = signal_grid_padding(n);
    if (mode < 0 || pad < 0) return -1; /* the shape function reported it */
    LLVMValueRef args[] = {dimv(cg, y->shape.dims[0]),
                           dimv(cg, x->shape.dims[1]),
                           dimv(cg, x->shape.dims[2]),
                           dimv(cg, x->shape.dims[3]),
                           dimv(cg, g->shape.dims[1]),
                           dimv(cg, g->shape.dims[2]),
                           cg_i32(cg, mode),
                           cg_i32(cg, pad),
                           cg_i32(cg, ir_attr_int(n, "align_corners", 0) != 0),
                           cg_addr(cg, x),
                           cg_addr(cg, g),
                           cg_addr(cg, y)};
    cg_call(cg, "kiln_grid_sample_f32", args, 12);
    return 0;
}

int emit_roi_align(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0], *rois = n->inputs[1], *bi = n->inputs[2];
    const Value *y = n->outputs[0];
    int half = signal_roi_half_pixel(n);
    if (half < 0) return -1; /* the shape function reported it */
    LLVMValueRef args[] = {dimv(cg, x->shape.dims[0]),
                           dimv(cg, x->shape.dims[1]),
                           dimv(cg, x->shape.dims[2]),
                           dimv(cg, x->shape.dims[3]),
                           dimv(cg, y->shape.dims[0]),
                           dimv(cg, y->shape.dims[2]),
                           dimv(cg, y->shape.dims[3]),
                           cg_i64(cg, ir_attr_int(n, "sampling_ratio", 0)),
                           cg_f32(cg, ir_attr_float(n, "spatial_scale", 1.0f)),
                           cg_i32(cg, half),
                           cg_i32(cg, !strcmp(ir_attr_str(n, "mode", "avg"), "max")),
                           cg_addr(cg, x),
                           cg_addr(cg, rois),
                           cg_addr(cg, bi),
                           cg_addr(cg, y)};
    const char *what = arena_printf(cg->g->arena, "batch_indices from %s into the batch of '%s'",
                                    cg_value_origin(cg, bi), x->name);
    cg_call_checked(cg, "kiln_roi_align_f32", args, 15, site(cg, n, what));
    return 0;
}

/* --- TfIdfVectorizer ------------------------------------------------------------- */

/* One token of one pool n-gram at one trie level, for the level's sort. */
typedef struct TfEdge {
    int64_t parent, key; /* the prefix's node, the token */
    int64_t gram;        /* the n-gram, -1 if it goes on past this level */
    int64_t seq;         /* which n-gram (its position in the pool), for a stable order */
} TfEdge;

static int tf_edge_cmp(const void *pa, const void *pb) {
    const TfEdge *a = pa, *b = pb;
    if (a->parent != b->parent) return a->parent < b->parent ? -1 : 1;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static const char *const *tf_strings; /* the pool, while tf_str_cmp sorts indices into it */

static int tf_str_cmp(const void *pa, const void *pb) {
    int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
    int c = strcmp(tf_strings[a], tf_strings[b]);
    return c ? c : (a > b) - (a < b);
}

/* String pools: the sorted distinct strings into *vocab (n_vocab of them)
 * and each pool entry's position among them into tokens[]. */
static int64_t tf_vocab(const Attr *pool, int64_t *tokens, const char **vocab) {
    int64_t n = pool->n, nv = 0;
    int64_t *order = calloc((size_t)n + 1, sizeof(int64_t));
    if (!order) kiln_oom("TfIdfVectorizer vocabulary");
    for (int64_t i = 0; i < n; i++)
        order[i] = i;
    tf_strings = pool->strings;
    qsort(order, (size_t)n, sizeof(int64_t), tf_str_cmp);
    for (int64_t i = 0; i < n; i++) {
        const char *s = pool->strings[order[i]];
        if (nv == 0 || strcmp(vocab[nv - 1], s) != 0) vocab[nv++] = s;
        tokens[order[i]] = nv - 1;
    }
    free(order);
    return nv;
}

/* The trie of the pool's n-grams (signal_kernels.h's layout), built level by level:
 * the edges of level L sorted by (parent, token) and deduplicated become
 * nodes in that order, so edge e leads to node e + 1 and every node's
 * edges are contiguous. An n-gram listed twice keeps its first index. */
int emit_tfidf(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0], *y = n->outputs[0];
    const Attr *counts = ir_attr(n, "ngram_counts"), *idx = ir_attr(n, "ngram_indexes");
    int str = x->dtype == DT_STRING;
    const Attr *pool = ir_attr(n, str ? "pool_strings" : "pool_int64s"), *w = ir_attr(n, "weights");
    int64_t n_out = y->shape.dims[y->shape.rank - 1], grams = idx->n, maxlen = counts->n;
    int64_t *glen = calloc((size_t)grams + 1, sizeof(int64_t));
    int64_t *gstart = calloc((size_t)grams + 1, sizeof(int64_t));
    int64_t *gnode = calloc((size_t)grams + 1, sizeof(int64_t)); /* node of the prefix so far */
    TfEdge *lv = calloc((size_t)grams + 1, sizeof(TfEdge));
    size_t cap = (size_t)pool->n + 1;
    int64_t *first = calloc(cap + 1, sizeof(int64_t)), *count = calloc(cap + 1, sizeof(int64_t));
    int64_t *key = calloc(cap, sizeof(int64_t)), *child = calloc(cap, sizeof(int64_t));
    int64_t *id = calloc(cap, sizeof(int64_t));
    float *wout = calloc((size_t)n_out + 1, sizeof(float));
    int64_t *tokens = calloc(cap, sizeof(int64_t));
    const char **vocab = calloc(cap, sizeof(char *));
    if (!glen || !gstart || !gnode || !lv || !first || !count || !key || !child || !id || !wout ||
        !tokens || !vocab)
        kiln_oom("TfIdfVectorizer trie");
    int64_t n_vocab = 0;
    if (str)
        n_vocab = tf_vocab(pool, tokens, vocab);
    else
        memcpy(tokens, pool->ints, sizeof(int64_t) * (size_t)pool->n);
    for (int64_t g = 0, i = 0; i < maxlen; i++) {
        int64_t start = counts->ints[i], end = i + 1 < maxlen ? counts->ints[i + 1] : pool->n;
        for (int64_t p = start; p < end; p += i + 1, g++)
            glen[g] = i + 1, gstart[g] = p;
    }
    /* Weights by output index (several n-grams may share one; the last wins). */
    for (int64_t g = 0; g < grams; g++)
        wout[idx->ints[g]] = w ? w->floats[g] : 1.0f;
    int64_t n_edges = 0;
    for (int64_t level = 1; level <= maxlen; level++) {
        int64_t k = 0;
        for (int64_t g = 0; g < grams; g++)
            if (glen[g] >= level)
                lv[k++] =
                    (TfEdge){gnode[g], tokens[gstart[g] + level - 1], glen[g] == level ? g : -1, g};
        qsort(lv, (size_t)k, sizeof(TfEdge), tf_edge_cmp);
        for (int64_t j = 0; j < k; j++) {
            int fresh = j == 0 || lv[j].parent != lv[j - 1].parent || lv[j].key != lv[j - 1].key;
            if (fresh) {
                assert((size_t)n_edges < cap);
                key[n_edges] = lv[j].key;
                child[n_edges] = n_edges + 1;
                id[n_edges] = -1;
                if (count[lv[j].parent]++ == 0) first[lv[j].parent] = n_edges;
                n_edges++;
            }
            if (lv[j].gram >= 0 && id[n_edges - 1] < 0) id[n_edges - 1] = idx->ints[lv[j].gram];
            gnode[lv[j].seq] = n_edges; /* the node edge n_edges - 1 leads to */
        }
    }
    const char *mode = ir_attr_str(n, "mode", "TF");
    size_t nodes = (size_t)n_edges + 1, edges = (size_t)(n_edges ? n_edges : 1);
    Attr vattr = {.kind = ATTR_STRINGS, .n = (int)n_vocab, .strings = vocab};
    LLVMValueRef head[] = {prodv(cg, &x->shape, 0, x->shape.rank - 1),
                           dimv(cg, x->shape.dims[x->shape.rank - 1]),
                           cg_addr(cg, x),
                           str ? cg_ml_label_table(cg, &vattr) : NULL,
                           cg_i64(cg, n_vocab),
                           str ? cg_scratch(cg, n) : NULL};
    LLVMValueRef args[] = {
        head[0],
        head[1],
        cg_i64(cg, (int64_t)dtype_size(x->dtype)),
        head[2],
        cg_i64(cg, ir_attr_int(n, "min_gram_length", 1)),
        cg_i64(cg, ir_attr_int(n, "max_gram_length", 1)),
        cg_i64(cg, ir_attr_int(n, "max_skip_count", 0)),
        cg_const_bytes(cg, first, nodes * sizeof(int64_t), 8, "tfidf_first"),
        cg_const_bytes(cg, count, nodes * sizeof(int64_t), 8, "tfidf_count"),
        cg_const_bytes(cg, key, edges * sizeof(int64_t), 8, "tfidf_key"),
        cg_const_bytes(cg, child, edges * sizeof(int64_t), 8, "tfidf_child"),
        cg_const_bytes(cg, id, edges * sizeof(int64_t), 8, "tfidf_id"),
        cg_i64(cg, n_out),
        cg_i32(cg, !strcmp(mode, "IDF")     ? 1
                   : !strcmp(mode, "TFIDF") ? 2
                                            : 0),
        cg_const_bytes(cg, wout, (size_t)(n_out ? n_out : 1) * sizeof(float), 4, "tfidf_w"),
        cg_addr(cg, y)};
    free(glen);
    free(gstart);
    free(gnode);
    free(lv);
    free(first);
    free(count);
    free(key);
    free(child);
    free(id);
    free(wout);
    free(tokens);
    free(vocab);
    if (!str) {
        cg_call(cg, "kiln_tfidf", args, 16);
        return 0;
    }
    /* kiln_tfidf_str: (rows, C, x, vocab, n_vocab, ids) then kiln_tfidf's from min_n on. */
    LLVMValueRef sargs[18];
    for (int i = 0; i < 6; i++)
        sargs[i] = head[i];
    for (int i = 4; i < 16; i++)
        sargs[i + 2] = args[i];
    cg_call(cg, "kiln_tfidf_str", sargs, 18);
    return 0;
}
