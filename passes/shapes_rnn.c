/* shapes_rnn.c: shape functions of the recurrent ops RNN, GRU and LSTM.
 *
 * One function serves the three: they differ in their gate count G (1, 3,
 * 4), their activations per direction (1, 2, 3) and LSTM's extra inputs
 * (initial_c, P) and output (Y_c). Inputs: X, W, R, B, sequence_lens,
 * initial_h, initial_c, P. W, R, B and P are constants (the op's static
 * mask), which codegen packs; the sequence length and batch of X may be
 * symbolic; the input and hidden sizes are not. `layout` 1 (opset 14)
 * puts the batch first in X, Y and the states.
 *
 * Each node reserves scratch for one direction at a time
 * (kiln_rnn_scratch_floats in runtime/kiln_rnn.h, here on Dims).
 */
#include <string.h>

#include "kiln_rnn.h"
#include "shapes.h"

typedef struct Act {
    const char *name;
} Act;

static const Act acts[] = {
#define ACT_ROW(e, name, ...) {name},
    KILN_RNN_ACTIVATIONS(ACT_ROW)
#undef ACT_ROW
};

/* Gate count, activations per direction. */
static void cell_info(const Node *n, int *G, int *n_act) {
    *G = n->op == OP_LSTM ? 4 : n->op == OP_GRU ? 3 : 1;
    *n_act = n->op == OP_LSTM ? 3 : n->op == OP_GRU ? 2 : 1;
}

/* Input i, if present, must be a float constant of shape [d0, d1]. */
static int check_weight(Node *n, Diag *d, int i, const char *what, int64_t d0, int64_t d1,
                        int64_t d2) {
    Value *v = shapes_in(n, i);
    char b[160];
    if (!v) return 0;
    int rank = d2 < 0 ? 2 : 3;
    int ok = v->shape.rank == rank && v->shape.dims[0] == d0 && v->shape.dims[1] == d1 &&
             (rank == 2 || v->shape.dims[2] == d2);
    if (!ok) {
        if (rank == 3)
            diag_node(d, n, "%s '%s' has shape %s, expected [%lld,%lld,%lld]", what, v->name,
                      shapes_str(&v->shape, b), (long long)d0, (long long)d1, (long long)d2);
        else
            diag_node(d, n, "%s '%s' has shape %s, expected [%lld,%lld]", what, v->name,
                      shapes_str(&v->shape, b), (long long)d0, (long long)d1);
        diag_hint(d, "ONNX lays out %s per direction, gates stacked", what);
        return -1;
    }
    if (v->dtype != DT_F32) {
        diag_node(d, n, "%s '%s' is %s; kiln's %s takes float only", what, v->name,
                  dtype_onnx_name(v->dtype), n->op_type);
        return -1;
    }
    if (!v->data) {
        diag_node(d, n, "%s '%s' must be a constant (an initializer)", what, v->name);
        diag_hint(d, "kiln packs the weights at compile time; export them as initializers");
        return -1;
    }
    return 0;
}

/* A state input [D, B, H] (layout 1: [B, D, H]) whose batch must be X's. */
static int check_state(Node *n, Diag *d, int i, const char *what, int layout, int64_t D, Dim batch,
                       int64_t H) {
    Value *v = shapes_in(n, i);
    char b[160];
    if (!v) return 0;
    const Dim *s = v->shape.dims;
    Dim vb = layout ? s[0] : s[1], u;
    if (v->shape.rank != 3 || (layout ? s[1] : s[0]) != D || s[2] != H ||
        shapes_unify(n, vb, batch, &u, "the batch of X and of the initial state")) {
        diag_node(d, n, "%s '%s' has shape %s, expected [%s,%lld] with X's batch", what, v->name,
                  shapes_str(&v->shape, b), layout ? "batch,directions" : "directions,batch",
                  (long long)H);
        return -1;
    }
    if (v->dtype != DT_F32) {
        diag_node(d, n, "%s '%s' is %s but X is float", what, v->name, dtype_onnx_name(v->dtype));
        return -1;
    }
    return 0;
}

static int check_flag(Node *n, Diag *d, const char *name) {
    int64_t v = ir_attr_int(n, name, 0);
    if (v == 0 || v == 1) return 0;
    diag_node(d, n, "attribute '%s' is %lld, expected 0 or 1", name, (long long)v);
    return -1;
}

/* activations, activation_alpha, activation_beta, clip. */
static int check_activations(Node *n, Diag *d, int64_t D, int n_act) {
    const Attr *a, *al, *be;
    if (shapes_attr(n, "activations", ATTR_STRINGS, &a, d) ||
        shapes_attr(n, "activation_alpha", ATTR_FLOATS, &al, d) ||
        shapes_attr(n, "activation_beta", ATTR_FLOATS, &be, d))
        return -1;
    if (a) {
        if (a->n != D * n_act) {
            diag_node(d, n,
                      "attribute 'activations' has %d names, expected %lld (%d per direction)",
                      a->n, (long long)(D * n_act), n_act);
            return -1;
        }
        for (int i = 0; i < a->n; i++) {
            size_t k = 0;
            while (k < sizeof acts / sizeof *acts && strcmp(acts[k].name, a->strings[i]) != 0)
                k++;
            if (k == sizeof acts / sizeof *acts) {
                diag_node(d, n, "activation '%s' is not one ONNX defines for %s", a->strings[i],
                          n->op_type);
                diag_hint(d, "use Relu, Tanh, Sigmoid, Affine, LeakyRelu, ThresholdedRelu, "
                             "ScaledTanh, HardSigmoid, Elu, Softsign or Softplus");
                return -1;
            }
        }
    }
    const Attr *clip = ir_attr(n, "clip");
    if (clip && (clip->kind != ATTR_FLOAT || !(clip->f > 0.0f))) {
        diag_node(d, n, "attribute 'clip' must be a positive float");
        return -1;
    }
    return 0;
}

int shape_rnn(Node *n, Diag *d) {
    int G, n_act;
    cell_info(n, &G, &n_act);
    Value *x = shapes_in(n, 0), *w = shapes_in(n, 1), *r = shapes_in(n, 2);
    char b[160];
    if (x->dtype != DT_F32) {
        diag_node(d, n, "X '%s' is %s; kiln's %s takes float only", x->name,
                  dtype_onnx_name(x->dtype), n->op_type);
        return -1;
    }
    int64_t layout = n->opset >= 14 ? ir_attr_int(n, "layout", 0) : 0;
    if (layout != 0 && layout != 1) {
        diag_node(d, n, "attribute 'layout' is %lld, expected 0 or 1", (long long)layout);
        return -1;
    }
    if (x->shape.rank != 3) {
        diag_node(d, n, "X '%s' has shape %s, expected rank 3 (%s)", x->name,
                  shapes_str(&x->shape, b),
                  layout ? "[batch, seq_length, input_size]" : "[seq_length, batch, input_size]");
        return -1;
    }
    const char *dir = ir_attr_str(n, "direction", "forward");
    int64_t D = strcmp(dir, "bidirectional") == 0 ? 2 : 1;
    if (D == 1 && strcmp(dir, "forward") != 0 && strcmp(dir, "reverse") != 0) {
        diag_node(d, n, "direction '%s' is not forward, reverse or bidirectional", dir);
        return -1;
    }
    if (!r || r->shape.rank != 3 || r->shape.dims[2] <= 0) {
        diag_node(d, n, "R must have shape [directions, %d*hidden_size, hidden_size]", G);
        return -1;
    }
    int64_t H = r->shape.dims[2];
    const Attr *hs = ir_attr(n, "hidden_size");
    if (hs && (hs->kind != ATTR_INT || hs->i != H)) {
        diag_node(d, n, "attribute 'hidden_size' is %lld but R '%s' has hidden size %lld",
                  (long long)hs->i, r->name, (long long)H);
        return -1;
    }
    if (H > (INT64_C(1) << 20)) {
        diag_node(d, n, "hidden size %lld is beyond kiln's limit of %lld", (long long)H,
                  (long long)(INT64_C(1) << 20));
        return -1;
    }
    if (!w || w->shape.rank != 3 || w->shape.dims[2] <= 0) {
        diag_node(d, n, "W must have shape [directions, %d*hidden_size, input_size]", G);
        return -1;
    }
    int64_t I = w->shape.dims[2];
    Dim T = x->shape.dims[layout ? 1 : 0], batch = x->shape.dims[layout ? 0 : 1], xi;
    if (shapes_unify(n, x->shape.dims[2], I, &xi, "the input size of X and W")) {
        diag_node(d, n, "X '%s' has input size %lld but W '%s' expects %lld", x->name,
                  (long long)x->shape.dims[2], w->name, (long long)I);
        return -1;
    }
    if (check_weight(n, d, 1, "W", D, G * H, I) || check_weight(n, d, 2, "R", D, G * H, H) ||
        check_weight(n, d, 3, "B", D, 2 * G * H, -1))
        return -1;
    Value *lens = shapes_in(n, 4);
    if (lens) {
        Dim u;
        if (lens->dtype != DT_I32 || lens->shape.rank != 1 ||
            shapes_unify(n, lens->shape.dims[0], batch, &u, "the batch of X and sequence_lens")) {
            diag_node(d, n, "sequence_lens '%s' is %s %s, expected int32 [batch]", lens->name,
                      dtype_onnx_name(lens->dtype), shapes_str(&lens->shape, b));
            return -1;
        }
    }
    if (check_state(n, d, 5, "initial_h", (int)layout, D, batch, H)) return -1;
    if (n->op == OP_LSTM &&
        (check_state(n, d, 6, "initial_c", (int)layout, D, batch, H) ||
         check_weight(n, d, 7, "P", D, 3 * H, -1) || check_flag(n, d, "input_forget")))
        return -1;
    if (n->op == OP_GRU && check_flag(n, d, "linear_before_reset")) return -1;
    if (check_activations(n, d, D, n_act)) return -1;

    Shape y = layout ? (Shape){4, {batch, T, D, H}} : (Shape){4, {T, D, batch, H}};
    Shape st = layout ? (Shape){3, {batch, D, H}} : (Shape){3, {D, batch, H}};
    shapes_set(n, 0, DT_F32, &y);
    shapes_set(n, 1, DT_F32, &st);
    if (n->op == OP_LSTM) shapes_set(n, 2, DT_F32, &st);
    if (shapes_check_outputs(n, d)) return -1;

    /* Scratch: kiln_rnn_scratch_floats on Dims. */
    Dim tb = dim_mul(T, batch), bh = dim_mul(batch, H);
    Dim floats = dim_add(dim_add(dim_mul(tb, G * H), dim_mul(bh, G)), dim_mul(bh, 4));
    Dim bytes = dim_mul(floats, (int64_t)sizeof(float));
    int64_t lo, hi;
    if (bytes == DIM_INVALID || dim_bounds(bytes, &lo, &hi) || hi > KILN_MAX_DYN_BYTES ||
        (bytes >= 0 && bytes > KILN_MAX_TENSOR_BYTES)) {
        diag_node(d, n, "the %s needs more than kiln's limit of %lld bytes of scratch", n->op_type,
                  (long long)KILN_MAX_TENSOR_BYTES);
        diag_hint(d, "bound the sequence length and batch (--dim) or shrink the model");
        return -1;
    }
    n->scratch = bytes;
    return 0;
}
