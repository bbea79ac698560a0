/* emit_rnn.c: RNN, GRU and LSTM as calls of kiln_rnn_f32, one per
 * direction (runtime/kernels/rnn.h).
 *
 * Everything constant is prepared here, at compile time: W^T and R^T of
 * each direction packed into the GEMM kernel's 32-column panels, the two
 * biases summed into one vector for the input projection, the peepholes
 * split by direction, and the activations resolved to their enums and
 * alpha/beta. The sequence length and the batch may be symbolic: they,
 * and the strides that depend on them, are run-time values.
 */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"
#include "rnn.h"

typedef struct ActRow {
    const char *name;
    int takes_alpha, takes_beta;
    float alpha, beta;
} ActRow;

static const ActRow act_rows[] = {
#define ACT_ROW(e, name, ta, da, tb, db) {name, ta, tb, da, db},
    KILN_RNN_ACTIVATIONS(ACT_ROW)
#undef ACT_ROW
};

typedef struct Act {
    int kind;
    float alpha, beta;
} Act;

/* The activations of every direction, n_act per direction, into out:
 * ONNX's defaults when the attribute is absent; alpha and beta taken in
 * order from activation_alpha/beta by those that use them (as ONNX
 * Runtime does), each one's default when the list runs out. */
static void resolve_acts(const Node *n, int D, int n_act, Act *out) {
    static const char *const defaults[3][3] = {
        {"Tanh"}, {"Sigmoid", "Tanh"}, {"Sigmoid", "Tanh", "Tanh"}};
    const Attr *a = ir_attr(n, "activations"), *al = ir_attr(n, "activation_alpha"),
               *be = ir_attr(n, "activation_beta");
    int ia = 0, ib = 0;
    for (int i = 0; i < D * n_act; i++) {
        const char *name = a && a->kind == ATTR_STRINGS && i < a->n
                               ? a->strings[i]
                               : defaults[n_act - 1][i % n_act];
        int k = 0;
        while (k < KILN_RNN_ACT_COUNT && strcmp(act_rows[k].name, name) != 0)
            k++;
        assert(k < KILN_RNN_ACT_COUNT); /* shape_rnn checked the names */
        out[i].kind = k;
        out[i].alpha = act_rows[k].alpha;
        out[i].beta = act_rows[k].beta;
        if (act_rows[k].takes_alpha && al && al->kind == ATTR_FLOATS && ia < al->n)
            out[i].alpha = al->floats[ia++];
        if (act_rows[k].takes_beta && be && be->kind == ATTR_FLOATS && ib < be->n)
            out[i].beta = be->floats[ib++];
    }
}

/* Rows [r0, r1) of the row-major [*, K] matrix src, transposed to
 * B(k, j) = src[r0 + j][k] and packed as Bp[p][k][0..32), zero past the
 * last row, appended to dst at *at floats. */
static void pack_rows(const float *src, int64_t K, int64_t r0, int64_t r1, float *dst,
                      int64_t *at) {
    int64_t N = r1 - r0, P = (N + KILN_RNN_PANEL - 1) / KILN_RNN_PANEL;
    for (int64_t p = 0; p < P; p++)
        for (int64_t k = 0; k < K; k++)
            for (int64_t j = 0; j < KILN_RNN_PANEL; j++) {
                int64_t c = p * KILN_RNN_PANEL + j;
                dst[*at + (p * K + k) * KILN_RNN_PANEL + j] = c < N ? src[(r0 + c) * K + k] : 0.0f;
            }
    *at += P * K * KILN_RNN_PANEL;
}

static int64_t panel_floats(int64_t N, int64_t K) {
    return (N + KILN_RNN_PANEL - 1) / KILN_RNN_PANEL * KILN_RNN_PANEL * K;
}

static LLVMValueRef const_floats(Codegen *cg, const float *p, int64_t count, const Node *n,
                                 const char *what, int dir) {
    char name[256];
    snprintf(name, sizeof name, "%s.%s%d", n->name, what, dir);
    return cg_const_bytes(cg, p, (size_t)count * sizeof(float), 64, name);
}

/* base + off floats. */
static LLVMValueRef fptr(Codegen *cg, LLVMValueRef base, Sym off) {
    LLVMValueRef idx = cg_sym_value(cg, off);
    return LLVMBuildGEP2(cg->builder, cg->f32, base, &idx, 1, "");
}

/* Output i's address, or null when nothing reads it. */
static LLVMValueRef out_addr(Codegen *cg, const Node *n, int i) {
    if (i >= n->n_outputs || !n->outputs[i] || n->outputs[i]->n_uses == 0)
        return LLVMConstPointerNull(cg->ptr);
    return cg_addr(cg, n->outputs[i]);
}

static LLVMValueRef in_addr(Codegen *cg, const Node *n, int i) {
    return i < n->n_inputs && n->inputs[i] ? cg_addr(cg, n->inputs[i])
                                           : LLVMConstPointerNull(cg->ptr);
}

static int is_null(LLVMValueRef v) {
    return LLVMIsNull(v);
}

int emit_rnn(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0], *w = n->inputs[1], *r = n->inputs[2];
    int cell = n->op == OP_LSTM  ? KILN_RNN_CELL_LSTM
               : n->op == OP_GRU ? KILN_RNN_CELL_GRU
                                 : KILN_RNN_CELL_RNN;
    int64_t G = cell == KILN_RNN_CELL_LSTM ? 4 : cell == KILN_RNN_CELL_GRU ? 3 : 1;
    int n_act = cell == KILN_RNN_CELL_LSTM ? 3 : cell == KILN_RNN_CELL_GRU ? 2 : 1;
    int64_t D = w->shape.dims[0], I = w->shape.dims[2], H = r->shape.dims[2], GH = G * H;
    int layout = n->opset >= 14 ? (int)ir_attr_int(n, "layout", 0) : 0;
    int reverse_only = strcmp(ir_attr_str(n, "direction", "forward"), "reverse") == 0;
    int lbr = cell == KILN_RNN_CELL_GRU && ir_attr_int(n, "linear_before_reset", 0);
    int split = cell == KILN_RNN_CELL_GRU && !lbr;
    int input_forget = cell == KILN_RNN_CELL_LSTM && ir_attr_int(n, "input_forget", 0);
    float clip = ir_attr_float(n, "clip", INFINITY);
    Sym T = cg_sym_dim(x->shape.dims[layout ? 1 : 0]);
    Sym Bt = cg_sym_dim(x->shape.dims[layout ? 0 : 1]);
    const Value *bias = n->n_inputs > 3 ? n->inputs[3] : NULL;
    const Value *lens = n->n_inputs > 4 ? n->inputs[4] : NULL;
    const Value *peep = cell == KILN_RNN_CELL_LSTM && n->n_inputs > 7 ? n->inputs[7] : NULL;
    assert(w->data && r->data && (!bias || bias->data) && (!peep || peep->data));
    Act acts[6];
    resolve_acts(n, (int)D, n_act, acts);

    if (lens) {
        LLVMValueRef args[] = {cg_sym_value(cg, Bt), cg_sym_value(cg, T), cg_addr(cg, lens)};
        const char *site = arena_printf(cg->g->arena, "node '%s' (%s): sequence_lens from %s",
                                        n->name, n->op_type, cg_value_origin(cg, lens));
        cg_call_checked(cg, "kiln_rnn_check_lens", args, 3, site);
    }

    LLVMValueRef X = cg_addr(cg, x), Y = out_addr(cg, n, 0), Yh = out_addr(cg, n, 1);
    LLVMValueRef Yc =
        cell == KILN_RNN_CELL_LSTM ? out_addr(cg, n, 2) : LLVMConstPointerNull(cg->ptr);
    LLVMValueRef h0 = in_addr(cg, n, 5);
    LLVMValueRef c0 =
        cell == KILN_RNN_CELL_LSTM ? in_addr(cg, n, 6) : LLVMConstPointerNull(cg->ptr);
    LLVMValueRef L = lens ? cg_addr(cg, lens) : LLVMConstPointerNull(cg->ptr);
    /* Strides in floats; the state tensors are [D, B, H] or (layout 1) [B, D, H]. */
    Sym y_ts = layout ? cg_sym(D * H) : cg_sym_mul(cg_sym(D * H), Bt);
    Sym y_bs = layout ? cg_sym_mul(T, cg_sym(D * H)) : cg_sym(H);
    Sym st_bs = layout ? cg_sym(D * H) : cg_sym(H);
    Sym x_ts = layout ? cg_sym(1) : Bt, x_bs = layout ? T : cg_sym(1);

    int64_t w_floats = panel_floats(GH, I);
    int64_t r_floats = split ? panel_floats(2 * H, H) + panel_floats(H, H) : panel_floats(GH, H);
    float *wp = malloc(sizeof(float) * (size_t)w_floats);
    float *rp = malloc(sizeof(float) * (size_t)r_floats);
    float *bv = malloc(sizeof(float) * (size_t)(GH + H + 3 * H));
    if (!wp || !rp || !bv) kiln_oom("packed recurrent weights");
    int rc = 0;
    for (int64_t d = 0; d < D; d++) {
        int reverse = reverse_only || d == 1;
        int64_t at = 0;
        pack_rows((const float *)w->data + d * GH * I, I, 0, GH, wp, &at);
        at = 0;
        const float *rd = (const float *)r->data + d * GH * H;
        if (split) {
            pack_rows(rd, H, 0, 2 * H, rp, &at);
            pack_rows(rd, H, 2 * H, 3 * H, rp, &at);
        } else {
            pack_rows(rd, H, 0, GH, rp, &at);
        }
        LLVMValueRef Bv = LLVMConstPointerNull(cg->ptr), Rbh = LLVMConstPointerNull(cg->ptr);
        LLVMValueRef Pv = LLVMConstPointerNull(cg->ptr);
        if (bias) {
            const float *wb = (const float *)bias->data + d * 2 * GH, *rb = wb + GH;
            for (int64_t j = 0; j < GH; j++)
                bv[j] = wb[j] + (lbr && j >= 2 * H ? 0.0f : rb[j]);
            Bv = const_floats(cg, bv, GH, n, "bias", (int)d);
            if (lbr) Rbh = const_floats(cg, rb + 2 * H, H, n, "rbh", (int)d);
        }
        if (peep)
            Pv = const_floats(cg, (const float *)peep->data + d * 3 * H, 3 * H, n, "peep", (int)d);
        const Act *a = acts + d * n_act;
        Act none = {KILN_RNN_ACT_TANH, 0.0f, 0.0f};
        const Act *af = &a[0], *ag = n_act > 1 ? &a[1] : &none, *ah = n_act > 2 ? &a[2] : &none;
        Sym st_off = layout ? cg_sym(d * H) : cg_sym_mul(cg_sym(d * H), Bt);
        LLVMValueRef args[] = {
            cg_i32(cg, cell),
            cg_sym_value(cg, T),
            cg_sym_value(cg, Bt),
            cg_i64(cg, I),
            cg_i64(cg, H),
            cg_i32(cg, reverse),
            X,
            cg_sym_value(cg, x_ts),
            cg_sym_value(cg, x_bs),
            const_floats(cg, wp, w_floats, n, "w", (int)d),
            const_floats(cg, rp, r_floats, n, "r", (int)d),
            Bv,
            Rbh,
            Pv,
            cg_i32(cg, lbr),
            cg_i32(cg, input_forget),
            L,
            is_null(h0) ? h0 : fptr(cg, h0, st_off),
            cg_sym_value(cg, st_bs),
            is_null(c0) ? c0 : fptr(cg, c0, st_off),
            cg_sym_value(cg, st_bs),
            cg_i32(cg, af->kind),
            cg_f32(cg, af->alpha),
            cg_f32(cg, af->beta),
            cg_i32(cg, ag->kind),
            cg_f32(cg, ag->alpha),
            cg_f32(cg, ag->beta),
            cg_i32(cg, ah->kind),
            cg_f32(cg, ah->alpha),
            cg_f32(cg, ah->beta),
            cg_f32(cg, clip),
            is_null(Y) ? Y : fptr(cg, Y, layout ? cg_sym(d * H) : cg_sym_mul(cg_sym(d * H), Bt)),
            cg_sym_value(cg, y_ts),
            cg_sym_value(cg, y_bs),
            is_null(Yh) ? Yh : fptr(cg, Yh, st_off),
            cg_sym_value(cg, st_bs),
            is_null(Yc) ? Yc : fptr(cg, Yc, st_off),
            cg_sym_value(cg, st_bs),
            cg_scratch(cg, n),
        };
        cg_call(cg, "kiln_rnn_f32", args, sizeof args / sizeof *args);
    }
    free(wp);
    free(rp);
    free(bv);
    return rc;
}
