/* shapes_signal.c: shape functions of the signal, sampling and string ops
 * (compiler/ir/ops_signal.def, ops_string.def).
 *
 * The window functions and MelWeightMatrix depend only on their static
 * inputs: their outputs are computed here, in double as the spec's
 * formulas are written, and stored as the node's PLAN_CONST (codegen
 * copies them, as for Range). DFT and STFT run kernels whose scratch (the
 * transform's buffers, signal_kernels.h) is reserved here.
 */
#include <math.h>
#include <string.h>

#include "shapes.h"
#include "signal_ops.h"

/* The largest window or mel matrix computed at compile time. */
#define SIGNAL_MAX_CONST_ELEMS ((int64_t)1 << 24)

static int check_f32(Node *n, const Value *x, Diag *d) {
    if (x->dtype == DT_F32) return 0;
    diag_node(d, n, "input '%s' has element type %s; kiln supports float for this op", x->name,
              dtype_onnx_name(x->dtype));
    diag_hint(d, "cast the input to float");
    return -1;
}

/* Static scalar input i as a double: -1 with a diagnostic if it is not a
 * constant number. */
static int const_scalar(Node *n, int i, double *out, Diag *d) {
    Value *x = shapes_in(n, i);
    if (!x || !x->data || shape_numel(&x->shape) != 1) {
        diag_node(d, n, "input %d ('%s') must be a constant scalar", i, x ? x->name : "");
        diag_hint(d, "kiln computes this op's sizes at compile time; export it as an initializer");
        return -1;
    }
    switch (x->dtype) {
    case DT_F32:
        *out = *(const float *)x->data;
        return 0;
    case DT_F64:
        *out = *(const double *)x->data;
        return 0;
    case DT_I32:
        *out = *(const int32_t *)x->data;
        return 0;
    case DT_I64:
        if (ir_dim_in_data(*(const int64_t *)x->data)) break;
        *out = (double)*(const int64_t *)x->data;
        return 0;
    default:
        break;
    }
    diag_node(d, n, "input '%s' must be a constant int32, int64, float or double scalar", x->name);
    return -1;
}

/* Static integer scalar input i in [lo, hi]. */
static int const_int_in(Node *n, int i, int64_t lo, int64_t hi, int64_t *out, Diag *d) {
    double v;
    if (const_scalar(n, i, &v, d)) return -1;
    /* Integer types only: emit_signal.c reads these as int32 or int64. */
    DType t = shapes_in(n, i)->dtype;
    if (t != DT_I32 && t != DT_I64) {
        diag_node(d, n, "input '%s' is %s; this size must be int32 or int64", shapes_in(n, i)->name,
                  dtype_onnx_name(t));
        return -1;
    }
    if (!(v >= (double)lo && v <= (double)hi) || v != floor(v)) {
        diag_node(d, n, "input '%s' is %g; it must be an integer in [%lld, %lld]",
                  shapes_in(n, i)->name, v, (long long)lo, (long long)hi);
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

/* The output_datatype attribute of the window ops and MelWeightMatrix:
 * float or double. */
static int out_dtype(Node *n, DType *t, Diag *d) {
    int64_t v = ir_attr_int(n, "output_datatype", DT_F32);
    if (v != DT_F32 && v != DT_F64) {
        diag_node(d, n, "output_datatype %lld is not supported", (long long)v);
        diag_hint(d, "kiln computes this op in float (1) or double (11)");
        return -1;
    }
    *t = (DType)v;
    return 0;
}

/* Stores vals[cnt] (double) as the node's constant output of type t. */
static void set_const(Node *n, DType t, const Shape *s, const double *vals, int64_t cnt) {
    void *out = arena_alloc_aligned(n->graph->arena, (size_t)cnt * dtype_size(t) + 1, 64);
    for (int64_t i = 0; i < cnt; i++) {
        if (t == DT_F64)
            ((double *)out)[i] = vals[i];
        else
            ((float *)out)[i] = (float)vals[i];
    }
    n->plan_kind = PLAN_CONST;
    n->plan.bytes = out;
    shapes_set(n, 0, t, s);
}

/* HannWindow, HammingWindow, BlackmanWindow: the generalised cosine window
 * a0 - a1 cos(2 pi k / N) + a2 cos(4 pi k / N), N the size (periodic) or
 * size - 1 (symmetric). */
int shape_window(Node *n, Diag *d) {
    int64_t size;
    DType t;
    if (const_int_in(n, 0, 0, SIGNAL_MAX_CONST_ELEMS, &size, d) || out_dtype(n, &t, d)) return -1;
    double a0, a1, a2 = 0;
    if (n->op == OP_HANN_WINDOW) {
        a0 = a1 = 0.5;
    } else if (n->op == OP_HAMMING_WINDOW) {
        a0 = 25.0 / 46.0;
        a1 = 21.0 / 46.0;
    } else {
        a0 = 0.42, a1 = 0.5, a2 = 0.08;
    }
    int64_t N = ir_attr_int(n, "periodic", 1) ? size : size - 1;
    double *v = arena_alloc(n->graph->arena, (size_t)(size + 1) * sizeof(double));
    for (int64_t k = 0; k < size; k++) {
        double x = N > 0 ? 2.0 * M_PI * (double)k / (double)N : 0.0;
        v[k] = N > 0 ? a0 - a1 * cos(x) + a2 * cos(2 * x) : 1.0;
    }
    Shape s = {1, {size}};
    set_const(n, t, &s, v, size);
    return 0;
}

/* MelWeightMatrix as the ONNX test computes it (its mel step divides by
 * num_mel_bins + 2), [dft_length/2 + 1, num_mel_bins]. */
int shape_mel_weight_matrix(Node *n, Diag *d) {
    int64_t bins, dft, rate;
    double lo, hi;
    DType t;
    if (const_int_in(n, 0, 1, KILN_MAX_DIM, &bins, d) ||
        const_int_in(n, 1, 1, KILN_MAX_DIM, &dft, d) ||
        const_int_in(n, 2, 1, INT64_C(1) << 40, &rate, d) || const_scalar(n, 3, &lo, d) ||
        const_scalar(n, 4, &hi, d) || out_dtype(n, &t, d))
        return -1;
    int64_t spec = dft / 2 + 1;
    if (spec > SIGNAL_MAX_CONST_ELEMS / bins) {
        diag_node(d, n,
                  "the matrix would have %lld x %lld elements; kiln computes it at compile "
                  "time, for at most %lld",
                  (long long)spec, (long long)bins, (long long)SIGNAL_MAX_CONST_ELEMS);
        return -1;
    }
    if (!(lo >= 0 && hi > lo && isfinite(hi))) {
        diag_node(d, n, "the band [%g, %g] Hz is empty or not finite", lo, hi);
        diag_hint(d, "lower_edge_hertz must be >= 0 and below upper_edge_hertz");
        return -1;
    }
    double lo_mel = 2595 * log10(1 + lo / 700), hi_mel = 2595 * log10(1 + hi / 700);
    double step = (hi_mel - lo_mel) / (double)(bins + 2);
    int64_t *f = arena_alloc(n->graph->arena, (size_t)(bins + 2) * sizeof(int64_t));
    for (int64_t i = 0; i < bins + 2; i++) {
        double hz = 700 * (pow(10, ((double)i * step + lo_mel) / 2595) - 1);
        double b = floor((double)(dft + 1) * hz / (double)rate);
        f[i] = b > (double)(INT64_C(1) << 40) ? INT64_C(1) << 40 : (int64_t)b;
    }
    double *v = arena_alloc(n->graph->arena, (size_t)(spec * bins + 1) * sizeof(double));
    memset(v, 0, (size_t)(spec * bins + 1) * sizeof(double));
    for (int64_t i = 0; i < bins; i++) {
        int64_t l = f[i], c = f[i + 1], r = f[i + 2];
        if (c == l) {
            if (c < spec) v[c * bins + i] = 1;
        } else {
            for (int64_t j = l; j <= c && j < spec; j++)
                v[j * bins + i] = (double)(j - l) / (double)(c - l);
        }
        for (int64_t j = c; j < r && j < spec; j++)
            v[j * bins + i] = (double)(r - j) / (double)(r - c);
    }
    Shape s = {2, {spec, bins}};
    set_const(n, t, &s, v, spec * bins);
    return 0;
}

/* A transform length: a size, at least 1 when symbolic (checked at run time). */
static int check_len(Node *n, Dim len, const char *what, Diag *d) {
    if (len == 0 || shapes_dim_min(n, len, 1, what)) {
        diag_node(d, n, "%s is 0", what);
        return -1;
    }
    return 0;
}

/* The transform's buffers, at most KILN_MAX_TENSOR_BYTES for a fixed length
 * (8M points); a symbolic one is bounded by the workspace limits. */
static int reserve_scratch(Node *n, Dim points, Diag *d) {
    if (points >= 0 && points > KILN_MAX_TENSOR_BYTES / SIGNAL_SCRATCH_BYTES_PER_POINT) {
        diag_node(d, n, "a transform of %lld points is above kiln's limit of %lld",
                  (long long)points,
                  (long long)(KILN_MAX_TENSOR_BYTES / SIGNAL_SCRATCH_BYTES_PER_POINT));
        return -1;
    }
    n->scratch = dim_mul(points, SIGNAL_SCRATCH_BYTES_PER_POINT);
    if (n->scratch == DIM_INVALID) {
        diag_node(d, n, "the transform's scratch size overflows");
        return -1;
    }
    return 0;
}

/* The last dim of a signal: 1 (real) or 2 (complex); 0 with a diagnostic. */
static int signal_channels(Node *n, const Value *x, Diag *d) {
    Dim c = x->shape.dims[x->shape.rank - 1];
    if (c == 1 || c == 2) return (int)c;
    char buf[160];
    diag_node(d, n, "signal '%s' has shape %s; its last dim must be 1 (real) or 2 (complex)",
              x->name, shapes_str(&x->shape, buf));
    return 0;
}

/* DFT (opset 17): [..., len (axis), ..., 1|2] -> [..., n_out, ..., 2]. */
int shape_dft(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0);
    if (check_f32(n, x, d)) return -1;
    int r = x->shape.rank;
    if (r < 2) {
        diag_node(d, n, "signal '%s' has rank %d; DFT needs at least 2", x->name, r);
        return -1;
    }
    int cin = signal_channels(n, x, d);
    if (!cin) return -1;
    int64_t axis;
    if (signal_dft_axis(n, r, &axis)) {
        diag_node(d, n, "axis %lld is out of range for rank %d (the last dim holds real, imag)",
                  (long long)ir_attr_int(n, "axis", 1), r);
        return -1;
    }
    Dim len = x->shape.dims[axis];
    if (shapes_in(n, 1)) {
        int64_t v;
        if (const_int_in(n, 1, 1, KILN_MAX_DIM, &v, d)) return -1;
        len = v;
    }
    if (check_len(n, len, "the DFT length", d)) return -1;
    int onesided = ir_attr_int(n, "onesided", 0) != 0, inverse = ir_attr_int(n, "inverse", 0) != 0;
    if (onesided && (cin == 2 || inverse)) {
        diag_node(d, n, "onesided=1 needs a real signal and a forward transform");
        diag_hint(d, "the one-sided form only exists for real input; drop onesided");
        return -1;
    }
    Shape s = x->shape;
    s.dims[axis] = onesided ? dim_add(dim_floordiv(len, 2), 1) : len;
    s.dims[r - 1] = 2;
    if (reserve_scratch(n, len, d)) return -1;
    shapes_set(n, 0, DT_F32, &s);
    return 0;
}

/* STFT (opset 17): signal [batch, siglen, 1|2], frame_step, window, frame_length
 * -> [batch, frames, bins, 2]. */
int shape_stft(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0), *w = shapes_in(n, 2);
    if (check_f32(n, x, d) || (w && check_f32(n, w, d))) return -1;
    if (x->shape.rank != 3) {
        char buf[160];
        diag_node(d, n, "signal '%s' has shape %s; STFT needs [batch, length, 1 or 2]", x->name,
                  shapes_str(&x->shape, buf));
        return -1;
    }
    int cin = signal_channels(n, x, d);
    if (!cin) return -1;
    int64_t step, flen = -1;
    if (const_int_in(n, 1, 1, KILN_MAX_DIM, &step, d)) return -1;
    if (shapes_in(n, 3) && const_int_in(n, 3, 1, KILN_MAX_DIM, &flen, d)) return -1;
    if (w) {
        Dim wl = w->shape.rank == 1 ? w->shape.dims[0] : DIM_INVALID;
        if (wl < 0 || (flen >= 0 && wl != flen)) {
            char buf[160];
            diag_node(d, n, "window '%s' has shape %s; it must be [frame_length]", w->name,
                      shapes_str(&w->shape, buf));
            return -1;
        }
        flen = wl;
    }
    if (flen < 1) {
        diag_node(d, n, "STFT needs a window or a frame_length of at least 1");
        return -1;
    }
    int onesided = ir_attr_int(n, "onesided", 1) != 0;
    if (onesided && cin == 2) {
        diag_node(d, n, "onesided=1 needs a real signal; this one is complex");
        diag_hint(d, "set onesided=0 for complex signals");
        return -1;
    }
    Dim siglen = x->shape.dims[1];
    const char *what = arena_printf(n->graph->arena, "node '%s' (STFT): the signal length of '%s'",
                                    n->name, x->name);
    if ((siglen >= 0 && siglen < flen) || shapes_dim_min(n, siglen, flen, what)) {
        diag_node(d, n, "the signal is shorter than one frame (%lld)", (long long)flen);
        return -1;
    }
    Shape s = {4,
               {x->shape.dims[0], dim_add(dim_floordiv(dim_sub(siglen, flen), step), 1),
                onesided ? flen / 2 + 1 : flen, 2}};
    if (s.dims[1] == DIM_INVALID) {
        diag_node(d, n, "the frame count is not computable");
        return -1;
    }
    if (reserve_scratch(n, flen, d)) return -1;
    shapes_set(n, 0, DT_F32, &s);
    return 0;
}

/* Dims that a kernel reads from (an image's height, width) must not be 0. */
static int dim_at_least_1(Node *n, const Value *x, int i, Diag *d) {
    const char *what = arena_printf(n->graph->arena, "node '%s' (%s): dim %d of '%s'", n->name,
                                    n->op_type, i, x->name);
    if (x->shape.dims[i] == 0 || shapes_dim_min(n, x->shape.dims[i], 1, what)) {
        diag_node(d, n, "dim %d of '%s' is 0; the op samples from it", i, x->name);
        return -1;
    }
    return 0;
}

static int check_rank(Node *n, const Value *x, int r, const char *form, Diag *d) {
    if (x->shape.rank == r) return 0;
    char buf[160];
    diag_node(d, n, "input '%s' has shape %s; expected %s", x->name, shapes_str(&x->shape, buf),
              form);
    return -1;
}

/* GridSample (opset 16): X [N, C, H, W], grid [N, Ho, Wo, 2] -> [N, C, Ho, Wo]. */
int shape_grid_sample(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0), *g = shapes_in(n, 1);
    if (check_f32(n, x, d) || check_f32(n, g, d)) return -1;
    if (check_rank(n, x, 4, "[N, C, H, W]", d) || check_rank(n, g, 4, "[N, H_out, W_out, 2]", d))
        return -1;
    if (g->shape.dims[3] != 2) {
        diag_node(d, n, "grid '%s' must end in a dim of 2 (x, y)", g->name);
        return -1;
    }
    const char *mode = ir_attr_str(n, "mode", "bilinear");
    const char *pad = ir_attr_str(n, "padding_mode", "zeros");
    if (signal_grid_mode(n) < 0 || signal_grid_padding(n) < 0) {
        diag_node(d, n, "mode '%s' / padding_mode '%s' is not one GridSample defines", mode, pad);
        diag_hint(d, "mode: bilinear, nearest, bicubic; padding_mode: zeros, border, reflection");
        return -1;
    }
    Dim batch;
    if (shapes_unify(n, x->shape.dims[0], g->shape.dims[0], &batch, "the batch of X and grid")) {
        diag_node(d, n, "X and grid have different batch sizes");
        return -1;
    }
    if (dim_at_least_1(n, x, 2, d) || dim_at_least_1(n, x, 3, d)) return -1;
    Shape s = {4, {batch, x->shape.dims[1], g->shape.dims[1], g->shape.dims[2]}};
    shapes_set(n, 0, DT_F32, &s);
    return 0;
}

/* RoiAlign: X [N, C, H, W], rois [R, 4], batch_indices [R] -> [R, C, oh, ow]. */
int shape_roi_align(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0), *rois = shapes_in(n, 1), *bi = shapes_in(n, 2);
    if (check_f32(n, x, d) || check_f32(n, rois, d)) return -1;
    if (check_rank(n, x, 4, "[N, C, H, W]", d) || check_rank(n, rois, 2, "[num_rois, 4]", d) ||
        check_rank(n, bi, 1, "[num_rois]", d))
        return -1;
    if (bi->dtype != DT_I64) {
        diag_node(d, n, "batch_indices '%s' must be int64, is %s", bi->name,
                  dtype_onnx_name(bi->dtype));
        return -1;
    }
    if (rois->shape.dims[1] != 4) {
        diag_node(d, n, "rois '%s' must be [num_rois, 4] (x1, y1, x2, y2)", rois->name);
        return -1;
    }
    Dim r;
    if (shapes_unify(n, rois->shape.dims[0], bi->shape.dims[0], &r,
                     "the roi count of rois and batch_indices")) {
        diag_node(d, n, "rois and batch_indices have different lengths");
        return -1;
    }
    int64_t oh = ir_attr_int(n, "output_height", 1), ow = ir_attr_int(n, "output_width", 1);
    int64_t sr = ir_attr_int(n, "sampling_ratio", 0);
    if (oh < 1 || ow < 1 || oh > KILN_MAX_DIM || ow > KILN_MAX_DIM || sr < 0 || sr > 1024) {
        diag_node(d, n,
                  "output_height %lld, output_width %lld must be >= 1 and sampling_ratio "
                  "%lld in [0, 1024]",
                  (long long)oh, (long long)ow, (long long)sr);
        return -1;
    }
    const char *mode = ir_attr_str(n, "mode", "avg");
    const char *ctm = ir_attr_str(n, "coordinate_transformation_mode", "half_pixel");
    if ((strcmp(mode, "avg") && strcmp(mode, "max")) || signal_roi_half_pixel(n) < 0) {
        diag_node(d, n, "mode '%s' / coordinate_transformation_mode '%s' is not supported", mode,
                  ctm);
        diag_hint(d, "mode: avg or max; coordinate_transformation_mode: half_pixel or "
                     "output_half_pixel");
        return -1;
    }
    if (dim_at_least_1(n, x, 2, d) || dim_at_least_1(n, x, 3, d)) return -1;
    Shape s = {4, {r, x->shape.dims[1], oh, ow}};
    shapes_set(n, 0, DT_F32, &s);
    return 0;
}

/* --- string ops (ops_string.def) ------------------------------------------------- */

/* TfIdfVectorizer over int32/int64 tokens (pool_int64s) or strings
 * (pool_strings): x [C] or [N, C] -> [n_out] or [N, n_out], n_out =
 * max(ngram_indexes) + 1. The pool's layout is checked here; emit_tfidf
 * builds the n-gram trie from it. String tokens are first looked up in
 * the pool's vocabulary, into int64 ids in the node's scratch. */
int shape_tfidf(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0);
    int str = x->dtype == DT_STRING;
    if (x->dtype != DT_I32 && x->dtype != DT_I64 && !str) {
        diag_node(d, n,
                  "input '%s' has element type %s; TfIdfVectorizer takes int32, int64 or "
                  "string tokens",
                  x->name, dtype_onnx_name(x->dtype));
        return -1;
    }
    if (x->shape.rank != 1 && x->shape.rank != 2) {
        char buf[160];
        diag_node(d, n, "input '%s' has shape %s; expected [C] or [N, C]", x->name,
                  shapes_str(&x->shape, buf));
        return -1;
    }
    const Attr *counts, *idx, *pool, *w;
    if (shapes_attr(n, "ngram_counts", ATTR_INTS, &counts, d) ||
        shapes_attr(n, "ngram_indexes", ATTR_INTS, &idx, d) ||
        shapes_attr(n, str ? "pool_strings" : "pool_int64s", str ? ATTR_STRINGS : ATTR_INTS, &pool,
                    d) ||
        shapes_attr(n, "weights", ATTR_FLOATS, &w, d))
        return -1;
    if (!pool) {
        diag_node(d, n, "input '%s' holds %s tokens, but the node has no %s", x->name,
                  str ? "string" : "integer", str ? "pool_strings" : "pool_int64s");
        diag_hint(d, "the pool's type must match the input's: strings with pool_strings, "
                     "integers with pool_int64s");
        return -1;
    }
    const char *mode = ir_attr_str(n, "mode", "");
    int64_t lo = ir_attr_int(n, "min_gram_length", 0), hi = ir_attr_int(n, "max_gram_length", 0);
    int64_t skip = ir_attr_int(n, "max_skip_count", 0);
    if ((strcmp(mode, "TF") && strcmp(mode, "IDF") && strcmp(mode, "TFIDF")) || lo < 1 || hi < lo ||
        hi > 64 || skip < 0 || skip > KILN_MAX_DIM) {
        diag_node(d, n,
                  "mode '%s', gram lengths [%lld, %lld], max_skip_count %lld: expected TF, IDF or "
                  "TFIDF and 1 <= min_gram_length <= max_gram_length <= 64",
                  mode, (long long)lo, (long long)hi, (long long)skip);
        return -1;
    }
    if (!counts || !idx || counts->n < 1 || counts->n > 64) {
        diag_node(d, n, "ngram_counts (1 to 64 entries) and ngram_indexes are required");
        return -1;
    }
    int64_t grams = 0;
    for (int i = 0; i < counts->n; i++) {
        int64_t start = counts->ints[i], end = i + 1 < counts->n ? counts->ints[i + 1] : pool->n;
        if ((i == 0 && start != 0) || start < 0 || end < start || end > pool->n ||
            (end - start) % (i + 1)) {
            diag_node(d, n, "ngram_counts[%d] = %lld does not split the pool of %d into %d-grams",
                      i, (long long)start, pool->n, i + 1);
            return -1;
        }
        grams += (end - start) / (i + 1);
    }
    if (idx->n != grams || (w && w->n != grams)) {
        diag_node(d, n, "the pool holds %lld n-grams, but ngram_indexes has %d%s", (long long)grams,
                  idx->n, w && w->n != grams ? " (or weights a different count)" : "");
        return -1;
    }
    int64_t n_out = 0;
    for (int i = 0; i < idx->n; i++) {
        if (idx->ints[i] < 0 || idx->ints[i] >= KILN_MAX_DIM) {
            diag_node(d, n, "ngram_indexes[%d] = %lld is out of range", i, (long long)idx->ints[i]);
            return -1;
        }
        if (idx->ints[i] + 1 > n_out) n_out = idx->ints[i] + 1;
    }
    n->scratch = str ? dim_mul(shape_count(&x->shape), 8) : 0;
    if (n->scratch == DIM_INVALID) {
        diag_node(d, n, "the token ids of '%s' overflow the scratch size", x->name);
        return -1;
    }
    Shape s = x->shape;
    s.dims[s.rank - 1] = n_out;
    shapes_set(n, 0, DT_F32, &s);
    return 0;
}
