/* emit_shape.c: kernel calls for the data movement and shape ops
 * (compiler/ir/ops_shape.def).
 *
 * Most of these ops are one strided copy: the output walked densely, the
 * input read through per-axis strides (a transpose permutes them, a slice
 * scales them by the step and starts at an offset, a broadcast sets them
 * to 0). emit_strided() merges the axes both sides walk contiguously, so a
 * Concat or Slice of whole rows becomes a few long memcpy-like loops.
 * Kernels are chosen by element size (runtime/kernels/movement.h).
 * Transpose, Slice, Pad and Resize read the plans their shape functions
 * left on the node (ir.h); nothing here resolves an attribute form again.
 */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "cg.h"
#include "movement.h"

#define MAX_COPY_DIMS 6

static const char *size_suffix(DType t) {
    switch (dtype_size(t)) {
    case 1:
        return "b1";
    case 2:
        return "b2";
    case 4:
        return "b4";
    case 8:
        return "b8";
    default:
        return NULL;
    }
}

/* Calls kernel `name`, or checked kernel `name` with check site `site`
 * unless that is NULL. */
static void call_maybe_checked(Codegen *cg, const char *name, LLVMValueRef *args, unsigned n_args,
                               const char *site) {
    if (site)
        cg_call_checked(cg, name, args, n_args, site);
    else
        cg_call(cg, name, args, n_args);
}

/* kiln_<base>_<b1|b2|b4|b8>(args), the kernel for t's element size
 * (checked with `site` unless NULL); -1 with cg_call_typed's diagnostic
 * for types without one (strings). */
static int call_sized(Codegen *cg, const Node *n, const char *base, DType t, LLVMValueRef *args,
                      unsigned n_args, const char *site) {
    const char *sfx = size_suffix(t);
    if (!sfx) return cg_call_typed(cg, n, base, t, NULL, 0);
    char name[64];
    snprintf(name, sizeof name, "kiln_%s_%s", base, sfx);
    call_maybe_checked(cg, name, args, n_args, site);
    return 0;
}

/* The text of a check site of node n: "node 'n' (Op): " and the rest. */
static const char *site_text(Codegen *cg, const Node *n, const char *what, const Value *idx,
                             const char *into) {
    return arena_printf(cg->g->arena, "node '%s' (%s): %s from %s into %s", n->name, n->op_type,
                        what, cg_value_origin(cg, idx), into);
}

static LLVMValueRef offset_addr(Codegen *cg, LLVMValueRef base, Sym elems, DType t) {
    LLVMValueRef off = cg_sym_value(cg, cg_sym_mul(elems, cg_sym((int64_t)dtype_size(t))));
    return LLVMBuildGEP2(cg->builder, cg->i8, base, &off, 1, "");
}

/* Dense strides of shape s, in elements. */
static void dense_strides(const Shape *s, Sym *st) {
    Sym acc = cg_sym(1);
    for (int i = s->rank - 1; i >= 0; i--) {
        st[i] = acc;
        acc = cg_sym_mul(acc, cg_sym_dim(s->dims[i]));
    }
}

/* y[i...] (strides ys) = x[i...] (strides xs) over dims; x and y already
 * point at the first element. */
static int emit_strided(Codegen *cg, const Node *n, DType t, int rank, const Sym *dims,
                        const Sym *xs, const Sym *ys, LLVMValueRef x, LLVMValueRef y) {
    Sym D[2 * IR_MAX_RANK], X[2 * IR_MAX_RANK], Y[2 * IR_MAX_RANK];
    int r = 0;
    for (int i = 0; i < rank; i++) {
        if (cg_sym_is(dims[i], 0)) return 0; /* nothing to copy */
        if (cg_sym_is(dims[i], 1)) continue;
        if (r > 0 && cg_sym_eq(X[r - 1], cg_sym_mul(xs[i], dims[i])) &&
            cg_sym_eq(Y[r - 1], cg_sym_mul(ys[i], dims[i]))) {
            D[r - 1] = cg_sym_mul(D[r - 1], dims[i]);
            X[r - 1] = xs[i];
            Y[r - 1] = ys[i];
            continue;
        }
        D[r] = dims[i];
        X[r] = xs[i];
        Y[r] = ys[i];
        r++;
    }
    if (r == 1 && cg_sym_is(X[0], 1) && cg_sym_is(Y[0], 1)) {
        LLVMValueRef args[] = {cg_sym_value(cg, cg_sym_mul(D[0], cg_sym((int64_t)dtype_size(t)))),
                               x, y};
        cg_call(cg, "kiln_copy", args, 3);
        return 0;
    }
    if (r > MAX_COPY_DIMS && D[0] >= 0 && D[0] <= 64) {
        /* Peel the outermost axis into separate calls (a Tile of rank 4). */
        for (int64_t i = 0; i < D[0]; i++)
            if (emit_strided(cg, n, t, r - 1, D + 1, X + 1, Y + 1,
                             offset_addr(cg, x, cg_sym_mul(cg_sym(i), X[0]), t),
                             offset_addr(cg, y, cg_sym_mul(cg_sym(i), Y[0]), t)))
                return -1;
        return 0;
    }
    if (r > MAX_COPY_DIMS) {
        diag_node(cg->d, n, "data movement over %d distinct axes is not supported (at most %d)", r,
                  MAX_COPY_DIMS);
        return -1;
    }
    const char *sfx = size_suffix(t);
    if (!sfx) {
        diag_node(cg->d, n, "element type %s is not supported by this op", dtype_onnx_name(t));
        return -1;
    }
    LLVMValueRef args[20];
    int pad = MAX_COPY_DIMS - r;
    for (int i = 0; i < MAX_COPY_DIMS; i++) {
        args[i] = cg_sym_value(cg, i < pad ? cg_sym(1) : D[i - pad]);
        args[7 + i] = cg_sym_value(cg, i < pad ? cg_sym(0) : X[i - pad]);
        args[14 + i] = cg_sym_value(cg, i < pad ? cg_sym(0) : Y[i - pad]);
    }
    args[6] = x;
    args[13] = y;
    char name[64];
    snprintf(name, sizeof name, "kiln_strided_copy_%s", sfx);
    cg_call(cg, name, args, 20);
    return 0;
}

int emit_transpose(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0], *y = n->outputs[0];
    assert(n->plan_kind == PLAN_PERM);
    const int64_t *perm = n->plan.perm;
    int r = x->shape.rank;
    Sym xs[IR_MAX_RANK], ys[IR_MAX_RANK], dims[IR_MAX_RANK], ps[IR_MAX_RANK];
    dense_strides(&x->shape, xs);
    dense_strides(&y->shape, ys);
    for (int i = 0; i < r; i++) {
        ps[i] = xs[perm[i]];
        dims[i] = cg_sym_dim(y->shape.dims[i]);
    }
    return emit_strided(cg, n, x->dtype, r, dims, ps, ys, cg_addr(cg, x), cg_addr(cg, y));
}

/* Whether v lives in the workspace (cg_addr), at its ws_offset. */
static int in_workspace(const Value *v) {
    return !v->data && v->input_index < 0 && v->producer && v->output_index < 0;
}

/* Concat and Split: the parts lie end to end along the node's axis of
 * the whole; each is copied into its place (Concat, `into` set) or out of
 * it (Split). An omitted part (NULL) takes no place. A Concat part that
 * the memory plan put in its place already (passes/plan_memory.c) is not
 * copied: its producer wrote it there. */
static int emit_pieces(Codegen *cg, const Node *n, const Value *whole, Value *const *parts,
                       int n_parts, int into) {
    int64_t axis = ir_attr_int(n, "axis", 0);
    if (axis < 0) axis += whole->shape.rank;
    Sym ws[IR_MAX_RANK], ps[IR_MAX_RANK], dims[IR_MAX_RANK];
    dense_strides(&whole->shape, ws);
    Sym at = cg_sym(0);
    for (int i = 0; i < n_parts; i++) {
        const Value *p = parts[i];
        if (!p) continue;
        dense_strides(&p->shape, ps);
        for (int k = 0; k < p->shape.rank; k++)
            dims[k] = cg_sym_dim(p->shape.dims[k]);
        Sym elems = cg_sym_mul(at, ws[axis]);
        if (into && in_workspace(p) && in_workspace(whole) &&
            p->ws_offset ==
                dim_add(whole->ws_offset, dim_mul(elems, (int64_t)dtype_size(whole->dtype)))) {
            at = dim_add(at, p->shape.dims[axis]);
            continue;
        }
        LLVMValueRef place = offset_addr(cg, cg_addr(cg, whole), elems, whole->dtype);
        int rc = into ? emit_strided(cg, n, whole->dtype, p->shape.rank, dims, ps, ws,
                                     cg_addr(cg, p), place)
                      : emit_strided(cg, n, whole->dtype, p->shape.rank, dims, ws, ps, place,
                                     cg_addr(cg, p));
        if (rc) return -1;
        at = dim_add(at, p->shape.dims[axis]);
    }
    return 0;
}

int emit_concat(Codegen *cg, const Node *n) {
    return emit_pieces(cg, n, n->outputs[0], n->inputs, n->n_inputs, 1);
}

int emit_split(Codegen *cg, const Node *n) {
    return emit_pieces(cg, n, n->inputs[0], n->outputs, n->n_outputs, 0);
}

int emit_slice(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0], *y = n->outputs[0];
    assert(n->plan_kind == PLAN_SLICE);
    const int64_t *start = n->plan.slice->start, *step = n->plan.slice->step;
    Sym xs[IR_MAX_RANK], ys[IR_MAX_RANK], dims[IR_MAX_RANK];
    dense_strides(&x->shape, xs);
    dense_strides(&y->shape, ys);
    LLVMValueRef src = cg_addr(cg, x);
    for (int k = 0; k < x->shape.rank; k++) {
        if (start[k]) src = offset_addr(cg, src, cg_sym_mul(start[k], xs[k]), x->dtype);
        xs[k] = cg_sym_mul(xs[k], cg_sym(step[k]));
        dims[k] = cg_sym_dim(y->shape.dims[k]);
    }
    return emit_strided(cg, n, x->dtype, x->shape.rank, dims, xs, ys, src, cg_addr(cg, y));
}

int emit_expand(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0], *y = n->outputs[0];
    Sym xs[IR_MAX_RANK], ys[IR_MAX_RANK], dims[IR_MAX_RANK];
    cg_broadcast_strides(&x->shape, &y->shape, xs);
    dense_strides(&y->shape, ys);
    for (int k = 0; k < y->shape.rank; k++)
        dims[k] = cg_sym_dim(y->shape.dims[k]);
    return emit_strided(cg, n, x->dtype, y->shape.rank, dims, xs, ys, cg_addr(cg, x),
                        cg_addr(cg, y));
}

/* Output viewed as [rep0, d0, rep1, d1, ...]: the repeats read stride 0. */
int emit_tile(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0], *y = n->outputs[0];
    int r = x->shape.rank;
    Sym xs[IR_MAX_RANK], ys[IR_MAX_RANK], D[2 * IR_MAX_RANK], X[2 * IR_MAX_RANK],
        Y[2 * IR_MAX_RANK];
    dense_strides(&x->shape, xs);
    dense_strides(&y->shape, ys);
    for (int k = 0; k < r; k++) {
        Sym d = cg_sym_dim(x->shape.dims[k]);
        int64_t rep = 1;
        if (x->shape.dims[k] > 0)
            rep = y->shape.dims[k] / x->shape.dims[k];
        else if (x->shape.dims[k] < 0 && !dim_value(dim_exact_div(y->shape.dims[k], d), &rep)) {
            diag_node(cg->d, n, "the repeat of axis %d is not a constant", k);
            return -1;
        }
        D[2 * k] = cg_sym(rep);
        X[2 * k] = cg_sym(0);
        Y[2 * k] = cg_sym_mul(d, ys[k]);
        D[2 * k + 1] = d;
        X[2 * k + 1] = xs[k];
        Y[2 * k + 1] = ys[k];
    }
    return emit_strided(cg, n, x->dtype, 2 * r, D, X, Y, cg_addr(cg, x), cg_addr(cg, y));
}

/* DepthToSpace and SpaceToDepth walk the output as 6 axes. */
static int emit_blocks(Codegen *cg, const Node *n, int to_space) {
    const Value *x = n->inputs[0], *y = n->outputs[0];
    int64_t b = ir_attr_int(n, "blocksize", 1);
    const int64_t *xd = x->shape.dims;
    Sym N = cg_sym_dim(xd[0]), C = cg_sym(xd[1]), H = cg_sym_dim(xd[2]), W = cg_sym_dim(xd[3]);
    Sym B = cg_sym(b), HW = cg_sym_mul(H, W), CHW = cg_sym_mul(C, HW);
    Sym D[6], X[6], Y[6];
    if (to_space) {
        Sym c2 = cg_sym(xd[1] / (b * b));
        int crd = !strcmp(ir_attr_str(n, "mode", "DCR"), "CRD");
        /* y [N, C', H, b1, W, b2] */
        Sym dd[6] = {N, c2, H, B, W, B};
        Sym xs_dcr[6] = {
            CHW, HW, W, cg_sym_mul(cg_sym_mul(B, c2), HW), cg_sym(1), cg_sym_mul(c2, HW)};
        Sym xs_crd[6] = {CHW, cg_sym_mul(cg_sym(b * b), HW), W, cg_sym_mul(B, HW), cg_sym(1), HW};
        memcpy(D, dd, sizeof D);
        memcpy(X, crd ? xs_crd : xs_dcr, sizeof X);
    } else {
        /* y [N, b1, b2, C, H', W'] */
        Sym dd[6] = {N, B, B, C, cg_sym_dim(y->shape.dims[2]), cg_sym_dim(y->shape.dims[3])};
        Sym xs[6] = {CHW, W, cg_sym(1), HW, cg_sym_mul(B, W), B};
        memcpy(D, dd, sizeof D);
        memcpy(X, xs, sizeof X);
    }
    Sym acc = cg_sym(1);
    for (int i = 5; i >= 0; i--) {
        Y[i] = acc;
        acc = cg_sym_mul(acc, D[i]);
    }
    return emit_strided(cg, n, x->dtype, 6, D, X, Y, cg_addr(cg, x), cg_addr(cg, y));
}

int emit_depth_to_space(Codegen *cg, const Node *n) {
    return emit_blocks(cg, n, 1);
}
int emit_space_to_depth(Codegen *cg, const Node *n) {
    return emit_blocks(cg, n, 0);
}

/* --- table gathers: Pad and nearest Resize ---------------------------------------------------- */

/* 1 if the table of axis k holds sizes known only at run time: the axis's
 * input or output size, or the input's stride there, is dynamic. The
 * shape functions (passes/shapes_shape.c gather_table_bytes) reserve
 * scratch for exactly these tables, in axis order. */
static int table_dynamic(const Shape *x, const Shape *y, int k) {
    if (y->dims[k] < 0) return 1;
    for (int i = k; i < x->rank; i++)
        if (x->dims[i] < 0) return 1;
    return 0;
}

/* Fills axis k's table (a table_dynamic one) at dst at run time: input
 * element offsets, the positions read times `stride`. */
typedef void (*TableFill)(Codegen *cg, const Node *n, int k, LLVMValueRef stride, LLVMValueRef dst);

/* kiln_pad_table(in, out, begin, mode, stride, dst): also the identity's
 * table (begin 0, in == out). */
static void pad_table_call(Codegen *cg, Sym in, Sym out, int64_t begin, int mode,
                           LLVMValueRef stride, LLVMValueRef dst) {
    LLVMValueRef args[] = {cg_sym_value(cg, in),
                           cg_sym_value(cg, out),
                           cg_i64(cg, begin),
                           cg_i32(cg, mode),
                           stride,
                           dst};
    cg_call(cg, "kiln_pad_table", args, 6);
}

/* y = x through per-axis offset tables: tab[k] (out->dims[k] entries, input
 * positions, -1 for the fill value) where the sizes are static, else
 * computed at run time into scratch by dyn(). Leading axes whose table is
 * the identity and trailing ones likewise are merged; at most 4 axes may
 * remain. */
static int emit_table_gather(Codegen *cg, const Node *n, const Value *x, const Value *y,
                             int64_t **tab, const int *ident, uint64_t fill, TableFill dyn) {
    int r = y->shape.rank, first = 0;
    while (first < r && ident[first])
        first++;
    if (first == r) {
        cg_copy_value(cg, x, cg_addr(cg, y));
        return 0;
    }
    Sym outer = cg_sym_prod(&y->shape, 0, first);
    Sym x_os = cg_sym_prod(&x->shape, first, r);
    Sym xs[IR_MAX_RANK];
    dense_strides(&x->shape, xs);
    /* Merge a trailing run of identity axes into one. */
    int last = r;
    while (last > first + 1 && ident[last - 1])
        last--;
    Sym tail = cg_sym_prod(&y->shape, last, r);
    int m = last - first + (last < r);
    if (m > 4) {
        diag_node(cg->d, n, "padding or resizing %d axes at once is not supported (at most 4)", m);
        return -1;
    }
    LLVMValueRef tables[4], dims[4], scratch = NULL;
    Sym at = cg_sym(0); /* bytes of scratch used by the run-time tables */
    int k = 0;
    for (int a = first; a < last; a++, k++) {
        Sym len = cg_sym_dim(y->shape.dims[a]);
        dims[k] = cg_sym_value(cg, len);
        if (table_dynamic(&x->shape, &y->shape, a)) {
            if (!scratch) scratch = cg_scratch(cg, n);
            tables[k] = offset_addr(cg, scratch, at, DT_U8);
            if (ident[a])
                pad_table_call(cg, len, len, 0, 0, cg_sym_value(cg, xs[a]), tables[k]);
            else
                dyn(cg, n, a, cg_sym_value(cg, xs[a]), tables[k]);
            at = dim_add(at, dim_mul(len, 8));
            continue;
        }
        int64_t n_len = y->shape.dims[a], stride = xs[a];
        int64_t *t = arena_alloc(cg->g->arena, sizeof(int64_t) * (size_t)(n_len + 1));
        for (int64_t j = 0; j < n_len; j++) {
            int64_t i = ident[a] ? j : tab[a][j];
            t[j] = i < 0 ? KILN_TABLE_FILL : i * stride;
        }
        tables[k] =
            cg_const_bytes(cg, t, sizeof(int64_t) * (size_t)(n_len ? n_len : 1), 64, "table");
    }
    if (last < r) {
        dims[k] = cg_sym_value(cg, tail);
        if (tail < 0) {
            if (!scratch) scratch = cg_scratch(cg, n);
            tables[k] = offset_addr(cg, scratch, at, DT_U8);
            pad_table_call(cg, tail, tail, 0, 0, cg_i64(cg, 1), tables[k]);
        } else {
            int64_t *t = arena_alloc(cg->g->arena, sizeof(int64_t) * (size_t)(tail + 1));
            for (int64_t j = 0; j < tail; j++)
                t[j] = j;
            tables[k] =
                cg_const_bytes(cg, t, sizeof(int64_t) * (size_t)(tail ? tail : 1), 64, "table");
        }
        k++;
    }
    int64_t zero = 0;
    while (k < 4) {
        memmove(tables + 1, tables, sizeof(LLVMValueRef) * (size_t)k);
        memmove(dims + 1, dims, sizeof(LLVMValueRef) * (size_t)k);
        tables[0] = cg_const_bytes(cg, &zero, sizeof zero, 64, "table");
        dims[0] = cg_i64(cg, 1);
        k++;
    }
    const char *sfx = size_suffix(x->dtype);
    if (!sfx) {
        diag_node(cg->d, n, "element type %s is not supported by this op",
                  dtype_onnx_name(x->dtype));
        return -1;
    }
    LLVMValueRef args[] = {cg_sym_value(cg, outer),
                           cg_sym_value(cg, x_os),
                           dims[0],
                           dims[1],
                           dims[2],
                           dims[3],
                           tables[0],
                           tables[1],
                           tables[2],
                           tables[3],
                           LLVMConstInt(cg->i64, fill, 0),
                           cg_addr(cg, x),
                           cg_addr(cg, y)};
    char name[64];
    snprintf(name, sizeof name, "kiln_table_gather_%s", sfx);
    cg_call(cg, name, args, 13);
    return 0;
}

static void pad_fill(Codegen *cg, const Node *n, int k, LLVMValueRef stride, LLVMValueRef dst) {
    const PadPlan *p = n->plan.pad;
    pad_table_call(cg, cg_sym_dim(n->inputs[0]->shape.dims[k]),
                   cg_sym_dim(n->outputs[0]->shape.dims[k]), p->begin[k], (int)p->mode, stride,
                   dst);
}

int emit_pad(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0], *y = n->outputs[0];
    assert(n->plan_kind == PLAN_PAD);
    const PadPlan *p = n->plan.pad;
    int r = x->shape.rank, ident[IR_MAX_RANK];
    int64_t *tab[IR_MAX_RANK];
    for (int k = 0; k < r; k++) {
        ident[k] = p->begin[k] == 0 && p->end[k] == 0;
        tab[k] = NULL;
        if (ident[k] || table_dynamic(&x->shape, &y->shape, k)) continue;
        int64_t len = y->shape.dims[k], in = x->shape.dims[k];
        tab[k] = arena_alloc(cg->g->arena, sizeof(int64_t) * (size_t)(len + 1));
        for (int64_t j = 0; j < len; j++) {
            int64_t i = j - p->begin[k];
            if (i < 0 || i >= in) {
                if (p->mode == PAD_CONSTANT)
                    i = -1;
                else if (p->mode == PAD_EDGE)
                    i = i < 0 ? 0 : in - 1;
                else if (in == 1)
                    i = 0;
                else {
                    int64_t period = 2 * (in - 1);
                    i = ((i % period) + period) % period;
                    if (i >= in) i = period - i;
                }
            }
            tab[k][j] = i;
        }
    }
    return emit_table_gather(cg, n, x, y, tab, ident, p->fill, pad_fill);
}

/* --- Resize ----------------------------------------------------------------------------------- */

/* kiln_resize_taps for axis k of n at its run-time sizes in and out. */
static void resize_taps_call(Codegen *cg, const Node *n, int k, Sym in, Sym out, int taps,
                             LLVMValueRef stride, LLVMValueRef idx, LLVMValueRef w) {
    const ResizePlan *p = n->plan.resize;
    LLVMValueRef args[] = {cg_i32(cg, (int)p->mode),
                           cg_i32(cg, p->ctm_k),
                           cg_i32(cg, p->nearest_k),
                           cg_i32(cg, p->exclude_outside),
                           cg_f64(cg, p->cubic_a),
                           cg_f64(cg, p->given[k]),
                           cg_f64(cg, p->roi[k]),
                           cg_f64(cg, p->roi[k + p->rank]),
                           cg_sym_value(cg, in),
                           cg_sym_value(cg, out),
                           cg_i32(cg, taps),
                           stride,
                           idx,
                           w ? w : LLVMConstPointerNull(cg->ptr)};
    cg_call(cg, "kiln_resize_taps", args, 14);
}

static void resize_fill(Codegen *cg, const Node *n, int k, LLVMValueRef stride, LLVMValueRef dst) {
    resize_taps_call(cg, n, k, cg_sym_dim(n->inputs[0]->shape.dims[k]),
                     cg_sym_dim(n->outputs[0]->shape.dims[k]), 0, stride, dst, NULL);
}

int emit_resize(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0], *y = n->outputs[0];
    assert(n->plan_kind == PLAN_RESIZE);
    const ResizePlan *p = n->plan.resize;
    int r = x->shape.rank, ident[IR_MAX_RANK], taps[IR_MAX_RANK];
    const int64_t *idx[IR_MAX_RANK];
    const double *w[IR_MAX_RANK];
    int64_t *tab[IR_MAX_RANK];
    for (int k = 0; k < r; k++) {
        ident[k] = p->axis[k].identity;
        idx[k] = p->axis[k].idx;
        w[k] = p->axis[k].w;
        taps[k] = p->axis[k].taps;
    }
    if (p->mode == RESIZE_NEAREST) {
        for (int k = 0; k < r; k++) {
            tab[k] = NULL;
            if (ident[k] || table_dynamic(&x->shape, &y->shape, k)) continue;
            tab[k] = arena_alloc(cg->g->arena, sizeof(int64_t) * (size_t)(y->shape.dims[k] + 1));
            for (int64_t j = 0; j < y->shape.dims[k]; j++) {
                const int64_t *ij = idx[k] + 4 * j;
                const double *wj = w[k] + 4 * j;
                tab[k][j] = ij[0] < 0 ? -1 : wj[0] != 0 ? ij[0] : ij[1];
            }
        }
        uint64_t fill = 0;
        if (x->dtype == DT_F32) memcpy(&fill, &p->extrapolation, 4);
        return emit_table_gather(cg, n, x, y, tab, ident, fill, resize_fill);
    }
    /* Linear and cubic: one pass per resized axis, ping-ponging between the
     * two halves of the scratch buffer; the last pass writes y. Taps the
     * model computes (dynamic sizes) follow the two halves, in axis order
     * (passes/shapes_shape.c shape_resize reserves them). */
    int last = -1, passes = 0;
    for (int k = 0; k < r; k++)
        if (!ident[k]) last = k;
    if (last < 0) {
        cg_copy_value(cg, x, cg_addr(cg, y));
        return 0;
    }
    Sym half = cg_sym(0);
    {
        Sym big = cg_sym(0);
        Shape cur = x->shape;
        for (int k = 0; k < r; k++) {
            cur.dims[k] = y->shape.dims[k];
            Sym c = cg_sym_prod(&cur, 0, r);
            big = dim_max(big, c);
        }
        half = cg_sym_mul(big, cg_sym(4));
    }
    LLVMValueRef scratch = cg_scratch(cg, n);
    LLVMValueRef bufs[2] = {scratch, offset_addr(cg, scratch, half, DT_U8)};
    Sym at = cg_sym_mul(half, cg_sym(2));
    LLVMValueRef src = cg_addr(cg, x);
    Shape cur = x->shape;
    for (int k = 0; k < r; k++) {
        if (ident[k]) {
            cur.dims[k] = y->shape.dims[k];
            continue;
        }
        int64_t out = y->shape.dims[k], in = cur.dims[k];
        int t = taps[k];
        LLVMValueRef it_v, wt_v;
        if (in < 0 || out < 0) {
            Sym n_taps = cg_sym_mul(cg_sym_dim(out), cg_sym(t));
            it_v = offset_addr(cg, scratch, at, DT_U8);
            at = dim_add(at, dim_mul(n_taps, 8));
            wt_v = offset_addr(cg, scratch, at, DT_U8);
            at = dim_add(at, dim_mul(n_taps, 4));
            resize_taps_call(cg, n, k, in, out, t, cg_i64(cg, 1), it_v, wt_v);
        } else {
            int64_t *it = arena_alloc(cg->g->arena, sizeof(int64_t) * (size_t)(t * out + 1));
            float *wt = arena_alloc(cg->g->arena, sizeof(float) * (size_t)(t * out + 1));
            for (int64_t j = 0; j < out; j++)
                for (int q = 0; q < t; q++) {
                    it[j * t + q] = idx[k][4 * j + q];
                    wt[j * t + q] = (float)w[k][4 * j + q];
                }
            it_v = cg_const_bytes(cg, it, sizeof(int64_t) * (size_t)(t * out > 0 ? t * out : 1), 64,
                                  "taps");
            wt_v = cg_const_bytes(cg, wt, sizeof(float) * (size_t)(t * out > 0 ? t * out : 1), 64,
                                  "weights");
        }
        LLVMValueRef dst = k == last ? cg_addr(cg, y) : bufs[passes & 1];
        LLVMValueRef args[] = {cg_sym_value(cg, cg_sym_prod(&cur, 0, k)),
                               cg_sym_value(cg, cg_sym_dim(in)),
                               cg_sym_value(cg, cg_sym_dim(out)),
                               cg_sym_value(cg, cg_sym_prod(&cur, k + 1, r)),
                               cg_i32(cg, t),
                               it_v,
                               wt_v,
                               cg_f32(cg, p->extrapolation),
                               src,
                               dst};
        if (cg_call_typed(cg, n, "resize_axis", x->dtype, args, 10)) return -1;
        src = dst;
        passes++;
        cur.dims[k] = out;
    }
    return 0;
}

/* --- Gather family, Scatter ------------------------------------------------------------------- */

/* A stack array of n i64 values, for kernels that take dims by pointer;
 * after inlining, SROA turns its loads back into constants. */
static LLVMValueRef sym_array(Codegen *cg, const Sym *v, int n) {
    LLVMTypeRef at = LLVMArrayType2(cg->i64, (uint64_t)(n ? n : 1));
    LLVMValueRef arr = LLVMBuildAlloca(cg->builder, at, "dims");
    for (int i = 0; i < n; i++) {
        LLVMValueRef idx = cg_i64(cg, i);
        LLVMValueRef slot = LLVMBuildGEP2(cg->builder, cg->i64, arr, &idx, 1, "");
        LLVMBuildStore(cg->builder, cg_sym_value(cg, v[i]), slot);
    }
    return arr;
}

static int typed2(Codegen *cg, const Node *n, const char *base, DType elem, DType index,
                  LLVMValueRef *args, unsigned na, const char *site) {
    const char *sfx = size_suffix(elem);
    char name[64];
    snprintf(name, sizeof name, "kiln_%s_%s_%s", base, sfx ? sfx : "none",
             index == DT_I32 ? "i32" : "i64");
    if (!sfx || !LLVMGetNamedFunction(cg->mod, name)) {
        diag_node(cg->d, n, "element type %s is not supported by this op", dtype_onnx_name(elem));
        return -1;
    }
    call_maybe_checked(cg, name, args, na, site);
    return 0;
}

int emit_gather(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0], *i = n->inputs[1], *y = n->outputs[0];
    int64_t axis = ir_attr_int(n, "axis", 0);
    if (axis < 0) axis += x->shape.rank;
    LLVMValueRef args[] = {cg_sym_value(cg, cg_sym_prod(&x->shape, 0, (int)axis)),
                           cg_sym_value(cg, cg_sym_prod(&i->shape, 0, i->shape.rank)),
                           cg_sym_value(cg, cg_sym_prod(&x->shape, (int)axis + 1, x->shape.rank)),
                           cg_sym_value(cg, cg_sym_dim(x->shape.dims[axis])),
                           cg_addr(cg, x),
                           cg_addr(cg, i),
                           cg_addr(cg, y)};
    const char *into = arena_printf(cg->g->arena, "axis %d of '%s'", (int)axis, x->name);
    return typed2(cg, n, "gather", x->dtype, i->dtype, args, 7,
                  site_text(cg, n, "indices", i, into));
}

int emit_gather_elements(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0], *i = n->inputs[1], *y = n->outputs[0];
    int r = x->shape.rank;
    int64_t axis = ir_attr_int(n, "axis", 0);
    if (axis < 0) axis += r;
    Sym dims[IR_MAX_RANK], xs[IR_MAX_RANK];
    dense_strides(&x->shape, xs);
    for (int k = 0; k < r; k++)
        dims[k] = cg_sym_dim(i->shape.dims[k]);
    LLVMValueRef args[] = {cg_i32(cg, r),
                           sym_array(cg, dims, r),
                           sym_array(cg, xs, r),
                           cg_i32(cg, (int)axis),
                           cg_sym_value(cg, cg_sym_dim(x->shape.dims[axis])),
                           cg_addr(cg, x),
                           cg_addr(cg, i),
                           cg_addr(cg, y)};
    const char *into = arena_printf(cg->g->arena, "axis %d of '%s'", (int)axis, x->name);
    return typed2(cg, n, "gather_elements", x->dtype, i->dtype, args, 8,
                  site_text(cg, n, "indices", i, into));
}

int emit_gather_nd(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0], *i = n->inputs[1], *y = n->outputs[0];
    int b = (int)ir_attr_int(n, "batch_dims", 0), ri = i->shape.rank;
    int k = (int)i->shape.dims[ri - 1];
    Sym xs[IR_MAX_RANK], dims[IR_MAX_RANK];
    dense_strides(&x->shape, xs);
    for (int q = 0; q < k; q++)
        dims[q] = cg_sym_dim(x->shape.dims[b + q]);
    LLVMValueRef args[] = {cg_sym_value(cg, cg_sym_prod(&x->shape, 0, b)),
                           cg_sym_value(cg, b ? xs[b - 1] : cg_sym(0)),
                           cg_sym_value(cg, cg_sym_prod(&i->shape, b, ri - 1)),
                           cg_i32(cg, k),
                           sym_array(cg, dims, k),
                           sym_array(cg, xs + b, k),
                           cg_sym_value(cg, cg_sym_prod(&x->shape, b + k, x->shape.rank)),
                           cg_addr(cg, x),
                           cg_addr(cg, i),
                           cg_addr(cg, y)};
    const char *into = arena_printf(cg->g->arena, "'%s'", x->name);
    return call_sized(cg, n, "gather_nd", x->dtype, args, 10,
                      site_text(cg, n, "index tuples", i, into));
}

/* kiln_<base>_<suffix of t>, checked with `site`; -1 with cg_call_typed's
 * diagnostic when there is no such kernel. */
static int call_typed_checked(Codegen *cg, const Node *n, const char *base, DType t,
                              LLVMValueRef *args, unsigned n_args, const char *site) {
    const char *sfx = cg_dtype_suffix(t);
    char name[96];
    snprintf(name, sizeof name, "kiln_%s_%s", base, sfx ? sfx : "none");
    if (!sfx || !LLVMGetNamedFunction(cg->mod, name)) return cg_call_typed(cg, n, base, t, NULL, 0);
    cg_call_checked(cg, name, args, n_args, site);
    return 0;
}

static int reduction_of(const Node *n) {
    const char *r = ir_attr_str(n, "reduction", "none");
    return !strcmp(r, "add")   ? KILN_SCATTER_ADD
           : !strcmp(r, "mul") ? KILN_SCATTER_MUL
                               : KILN_SCATTER_NONE;
}

int emit_scatter_elements(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0], *i = n->inputs[1], *u = n->inputs[2], *y = n->outputs[0];
    int r = x->shape.rank;
    int64_t axis = ir_attr_int(n, "axis", 0);
    if (axis < 0) axis += r;
    cg_copy_value(cg, x, cg_addr(cg, y));
    Sym dims[IR_MAX_RANK], ys[IR_MAX_RANK];
    dense_strides(&y->shape, ys);
    for (int k = 0; k < r; k++)
        dims[k] = cg_sym_dim(i->shape.dims[k]);
    LLVMValueRef args[] = {cg_i32(cg, r),
                           sym_array(cg, dims, r),
                           sym_array(cg, ys, r),
                           cg_i32(cg, (int)axis),
                           cg_sym_value(cg, cg_sym_dim(x->shape.dims[axis])),
                           cg_addr(cg, i),
                           cg_addr(cg, u),
                           cg_i32(cg, reduction_of(n)),
                           cg_addr(cg, y)};
    const char *into = arena_printf(cg->g->arena, "axis %d of '%s'", (int)axis, x->name);
    return call_typed_checked(cg, n, "scatter_elements", x->dtype, args, 9,
                              site_text(cg, n, "indices", i, into));
}

int emit_scatter_nd(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0], *i = n->inputs[1], *u = n->inputs[2], *y = n->outputs[0];
    int ri = i->shape.rank, k = (int)i->shape.dims[ri - 1];
    cg_copy_value(cg, x, cg_addr(cg, y));
    Sym dims[IR_MAX_RANK], ys[IR_MAX_RANK];
    dense_strides(&y->shape, ys);
    for (int q = 0; q < k; q++)
        dims[q] = cg_sym_dim(x->shape.dims[q]);
    LLVMValueRef args[] = {cg_sym_value(cg, cg_sym_prod(&i->shape, 0, ri - 1)),
                           cg_i32(cg, k),
                           sym_array(cg, dims, k),
                           sym_array(cg, ys, k),
                           cg_sym_value(cg, cg_sym_prod(&x->shape, k, x->shape.rank)),
                           cg_addr(cg, i),
                           cg_addr(cg, u),
                           cg_i32(cg, reduction_of(n)),
                           cg_addr(cg, y)};
    const char *into = arena_printf(cg->g->arena, "'%s'", x->name);
    return call_typed_checked(cg, n, "scatter_nd", x->dtype, args, 9,
                              site_text(cg, n, "index tuples", i, into));
}

/* --- Shape, Size, ConstantOfShape, EyeLike, Trilu, folded ops ----------------------------------
 */

int emit_shape(Codegen *cg, const Node *n) {
    const Shape *s = &n->inputs[0]->shape;
    int64_t from = ir_attr_int(n, "start", 0), to = ir_attr_int(n, "end", s->rank);
    if (from < 0) from += s->rank;
    if (to < 0) to += s->rank;
    from = from < 0 ? 0 : from > s->rank ? s->rank : from;
    to = to < from ? from : to > s->rank ? s->rank : to;
    for (int64_t k = from; k < to; k++) {
        LLVMValueRef idx = cg_i64(cg, k - from);
        LLVMValueRef slot =
            LLVMBuildGEP2(cg->builder, cg->i64, cg_addr(cg, n->outputs[0]), &idx, 1, "");
        LLVMBuildStore(cg->builder, cg_sym_value(cg, cg_sym_dim(s->dims[k])), slot);
    }
    return 0;
}

int emit_size(Codegen *cg, const Node *n) {
    const Shape *s = &n->inputs[0]->shape;
    LLVMBuildStore(cg->builder, cg_sym_value(cg, cg_sym_prod(s, 0, s->rank)),
                   cg_addr(cg, n->outputs[0]));
    return 0;
}

/* The bits of a one-element tensor, for the fill kernels. */
static uint64_t value_bits(const Value *v) {
    uint64_t bits = 0;
    if (v && v->data) memcpy(&bits, v->data, dtype_size(v->dtype));
    return bits;
}

static int emit_fill(Codegen *cg, const Node *n, uint64_t bits) {
    const Value *y = n->outputs[0];
    LLVMValueRef args[] = {cg_sym_value(cg, cg_sym_prod(&y->shape, 0, y->shape.rank)),
                           LLVMConstInt(cg->i64, bits, 0), cg_addr(cg, y)};
    return call_sized(cg, n, "fill", y->dtype, args, 3, NULL);
}

int emit_constant_of_shape(Codegen *cg, const Node *n) {
    const Attr *a = ir_attr(n, "value");
    return emit_fill(cg, n, a && a->kind == ATTR_TENSOR ? value_bits(a->t) : 0);
}

/* The bits of 1 in element type t. */
static uint64_t one_bits(DType t) {
    uint64_t bits = 0;
    float f = 1.0f;
    double dd = 1.0;
    switch (t) {
    case DT_F32:
        memcpy(&bits, &f, 4);
        break;
    case DT_F64:
        memcpy(&bits, &dd, 8);
        break;
    case DT_F16:
        bits = 0x3c00;
        break;
    case DT_BF16:
        bits = 0x3f80;
        break;
    default:
        bits = 1;
    }
    return bits;
}

int emit_eye_like(Codegen *cg, const Node *n) {
    const Value *y = n->outputs[0];
    LLVMValueRef args[] = {cg_i64(cg, 1),
                           cg_sym_value(cg, cg_sym_dim(y->shape.dims[0])),
                           cg_sym_value(cg, cg_sym_dim(y->shape.dims[1])),
                           cg_i64(cg, ir_attr_int(n, "k", 0)),
                           LLVMConstInt(cg->i64, one_bits(y->dtype), 0),
                           cg_addr(cg, y)};
    return call_sized(cg, n, "eye", y->dtype, args, 6, NULL);
}

int emit_trilu(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0], *y = n->outputs[0];
    const Shape *s = &x->shape;
    int64_t k = 0;
    if (n->n_inputs > 1 && n->inputs[1] && n->inputs[1]->data)
        k = n->inputs[1]->dtype == DT_I32 ? *(const int32_t *)n->inputs[1]->data
                                          : *(const int64_t *)n->inputs[1]->data;
    LLVMValueRef args[] = {cg_sym_value(cg, cg_sym_prod(s, 0, s->rank - 2)),
                           cg_sym_value(cg, cg_sym_dim(s->dims[s->rank - 2])),
                           cg_sym_value(cg, cg_sym_dim(s->dims[s->rank - 1])),
                           cg_i64(cg, k),
                           cg_i32(cg, (int)ir_attr_int(n, "upper", 1)),
                           cg_addr(cg, x),
                           cg_addr(cg, y)};
    return call_sized(cg, n, "trilu", x->dtype, args, 7, NULL);
}

/* Ops whose static inputs determine the whole output (Range): their shape
 * function computed it (PLAN_CONST); copied from a constant. */
int emit_folded(Codegen *cg, const Node *n) {
    const Value *y = n->outputs[0];
    if (n->plan_kind == PLAN_NONE) { /* a Range over dynamic sizes (int64) */
        const Value *start = n->inputs[0], *delta = n->inputs[2];
        LLVMTypeRef i64 = cg->i64;
        LLVMValueRef args[] = {cg_sym_value(cg, shape_count(&y->shape)),
                               LLVMBuildLoad2(cg->builder, i64, cg_addr(cg, start), "start"),
                               LLVMBuildLoad2(cg->builder, i64, cg_addr(cg, delta), "delta"),
                               cg_addr(cg, y)};
        cg_call(cg, "kiln_range_i64", args, 4);
        return 0;
    }
    assert(n->plan_kind == PLAN_CONST);
    size_t bytes = (size_t)shape_numel(&y->shape) * dtype_size(y->dtype);
    LLVMValueRef args[] = {cg_i64(cg, (int64_t)bytes),
                           cg_const_bytes(cg, n->plan.bytes, bytes ? bytes : 1, 64, "folded"),
                           cg_addr(cg, y)};
    cg_call(cg, "kiln_copy", args, 3);
    return 0;
}
