/* emit_control.c: If, Loop and Scan regions (compiler/ir/ops_control.def)
 * as branches and loops of the function being emitted.
 *
 * Each begin node opens blocks, the region's nodes are emitted into them
 * as usual, and the end node closes them (Codegen.regions keeps the open
 * ones). Every value has its own buffer for the whole run
 * (passes/plan_memory.c keeps a loop's values alive across its
 * iterations), so a loop's state moves between iterations by copies: the
 * body's results into its inputs' buffers, each scan output's slice into
 * its place in the stacked output.
 *
 *     If:   if (cond) { then nodes; outs = then results } else { else nodes; outs = else results }
 *     Loop: v_in = v_initial; iter = 0; cond_in = cond (or 1);
 *           while ((no M || iter < M) && cond_in) {
 *               body nodes; scan_out[k][iter] = slice; v_in = v_out; cond_in = cond_out; iter++
 *           }
 *           v_final = v_in
 *     Scan: the same over i < the scanned length, without M or cond: the
 *           body's slices are read from, and written to, position i (or
 *           length-1-i in reverse) along each scan axis.
 */
#include <assert.h>

#include "cg.h"

static struct CgRegion *region_push(Codegen *cg, const Node *n) {
    assert(cg->n_regions < (int)(sizeof cg->regions / sizeof cg->regions[0]));
    struct CgRegion *r = &cg->regions[cg->n_regions++];
    *r = (struct CgRegion){.begin = n};
    return r;
}

static struct CgRegion *region_top(Codegen *cg, OpKind begin) {
    assert(cg->n_regions > 0 && cg->regions[cg->n_regions - 1].begin->op == begin);
    (void)begin;
    return &cg->regions[cg->n_regions - 1];
}

static LLVMBasicBlockRef block_new(Codegen *cg, const char *name) {
    LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(cg->builder));
    return LLVMAppendBasicBlockInContext(cg->ctx, fn, name);
}

/* The i1 of a bool tensor's first element. */
static LLVMValueRef load_bool(Codegen *cg, const Value *v) {
    LLVMValueRef b = LLVMBuildLoad2(cg->builder, cg->i8, cg_addr(cg, v), "");
    return LLVMBuildICmp(cg->builder, LLVMIntNE, b, LLVMConstInt(cg->i8, 0, 0), "");
}

static void copy_into(Codegen *cg, const Value *from, const Value *to) {
    if (from != to) cg_copy_value(cg, from, cg_addr(cg, to));
}

static LLVMValueRef byte_offset(Codegen *cg, LLVMValueRef base, LLVMValueRef off) {
    return LLVMBuildGEP2(cg->builder, cg->i8, base, &off, 1, "");
}

/* A counted loop: for (i = 0; i < n; i++) { ... }, with the builder in
 * its body once counted_open returns i; counted_close ends it. */
struct Counted {
    LLVMValueRef slot;
    LLVMBasicBlockRef head, done;
};

static LLVMValueRef counted_open(Codegen *cg, struct Counted *c, LLVMValueRef n, const char *name) {
    LLVMBuilderRef b = cg->builder;
    c->slot = LLVMBuildAlloca(cg->entry, cg->i64, name);
    LLVMBuildStore(b, cg_i64(cg, 0), c->slot);
    c->head = block_new(cg, "count_head");
    LLVMBasicBlockRef body = block_new(cg, "count_body");
    c->done = block_new(cg, "count_done");
    LLVMBuildBr(b, c->head);
    LLVMPositionBuilderAtEnd(b, c->head);
    LLVMValueRef i = LLVMBuildLoad2(b, cg->i64, c->slot, name);
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, i, n, ""), body, c->done);
    LLVMPositionBuilderAtEnd(b, body);
    return i;
}

static void counted_close(Codegen *cg, struct Counted *c) {
    LLVMBuilderRef b = cg->builder;
    LLVMValueRef i = LLVMBuildLoad2(b, cg->i64, c->slot, "");
    LLVMBuildStore(b, LLVMBuildAdd(b, i, cg_i64(cg, 1), ""), c->slot);
    LLVMBuildBr(b, c->head);
    LLVMPositionBuilderAtEnd(b, c->done);
}

/* Copies slice idx along `axis` of a tensor of shape s and elements of
 * es bytes (address big_p) to or from the dense slice at small_p: for
 * each outer index o, the inner bytes at (o * len + idx) * inner of the
 * tensor and o * inner of the slice. */
static void slice_copy(Codegen *cg, const Shape *s, size_t es, LLVMValueRef big_p, int axis,
                       LLVMValueRef idx, LLVMValueRef small_p, int to_big) {
    Sym outer = cg_sym_prod(s, 0, axis), len = cg_sym_dim(s->dims[axis]);
    Sym inner = cg_sym_mul(cg_sym_prod(s, axis + 1, s->rank), (int64_t)es);
    LLVMBuilderRef b = cg->builder;
    LLVMValueRef inner_v = cg_sym_value(cg, inner), len_v = cg_sym_value(cg, len);
    LLVMValueRef o = cg_i64(cg, 0);
    struct Counted c;
    int looped = !cg_sym_is(outer, 1);
    if (looped) o = counted_open(cg, &c, cg_sym_value(cg, outer), "slice_o");
    LLVMValueRef at =
        LLVMBuildMul(b, LLVMBuildAdd(b, LLVMBuildMul(b, o, len_v, ""), idx, ""), inner_v, "");
    LLVMValueRef bp = byte_offset(cg, big_p, at);
    LLVMValueRef sp = byte_offset(cg, small_p, LLVMBuildMul(b, o, inner_v, ""));
    LLVMValueRef args[] = {inner_v, to_big ? sp : bp, to_big ? bp : sp};
    cg_call(cg, "kiln_copy", args, 3);
    if (looped) counted_close(cg, &c);
}

/* --- If ------------------------------------------------------------------------------ */

int emit_if(Codegen *cg, const Node *n) {
    struct CgRegion *r = region_push(cg, n);
    LLVMBasicBlockRef then_bb = block_new(cg, "then");
    r->head = block_new(cg, "else");
    r->exit = block_new(cg, "endif");
    LLVMBuildCondBr(cg->builder, load_bool(cg, n->inputs[0]), then_bb, r->head);
    LLVMPositionBuilderAtEnd(cg->builder, then_bb);
    return 0;
}

int emit_if_else(Codegen *cg, const Node *n) {
    (void)n;
    struct CgRegion *r = region_top(cg, OP_IF);
    r->then_end = LLVMGetInsertBlock(cg->builder); /* its copies follow in emit_if_end */
    LLVMPositionBuilderAtEnd(cg->builder, r->head);
    return 0;
}

int emit_if_end(Codegen *cg, const Node *n) {
    struct CgRegion *r = region_top(cg, OP_IF);
    int k = n->n_outputs;
    for (int i = 0; i < k; i++)
        copy_into(cg, n->inputs[k + i], n->outputs[i]);
    LLVMBuildBr(cg->builder, r->exit);
    LLVMPositionBuilderAtEnd(cg->builder, r->then_end);
    for (int i = 0; i < k; i++)
        copy_into(cg, n->inputs[i], n->outputs[i]);
    LLVMBuildBr(cg->builder, r->exit);
    LLVMPositionBuilderAtEnd(cg->builder, r->exit);
    cg->n_regions--;
    return 0;
}

/* --- Loop and Scan ----------------------------------------------------------------------- */

/* The body's results moved into its inputs' buffers for the next
 * iteration: from[i] into to[i], skipping those that are already there.
 * A result that is another input of the body, overwritten earlier in
 * this order (carried values passed round in a cycle), is refused. */
static int carry(Codegen *cg, const Node *n, Value *const *from, Value *const *to, int count) {
    for (int i = 0; i < count; i++) {
        for (int j = 0; j < i; j++)
            if (from[i] == to[j] && from[j] != to[j]) {
                diag_node(cg->d, n,
                          "the body passes loop-carried value '%s' on as another carried value, "
                          "in a cycle; kiln does not compile that",
                          to[j]->name);
                diag_hint(cg->d, "add an Identity of each value before passing them round");
                return -1;
            }
        copy_into(cg, from[i], to[i]);
    }
    return 0;
}

/* Opens the loop: br head; head: if (ok(i)) body else exit, with the
 * builder in body. ok is computed by test(). */
static void loop_open(Codegen *cg, struct CgRegion *r) {
    r->head = block_new(cg, "loop_head");
    r->exit = block_new(cg, "loop_exit");
    LLVMBuildBr(cg->builder, r->head);
    LLVMPositionBuilderAtEnd(cg->builder, r->head);
}

/* The slot in the run's syms array of data-dependent symbol d (dim.h),
 * or NULL if d is not one. */
static LLVMValueRef sym_slot(Codegen *cg, Dim d) {
    int s = dim_sym_of(d);
    if (s < 0 || dim_sym_data_bound(s) == DIM_INVALID) return NULL;
    LLVMValueRef idx = cg_i64(cg, s);
    return LLVMBuildGEP2(cg->builder, cg->i64, cg->syms, &idx, 1, dim_sym_name(s));
}

/* The symbol counting the iterations of the Loop that ends at e (its scan
 * outputs' length, when only the run knows it), or NULL. */
static LLVMValueRef count_slot(Codegen *cg, const Node *e, int carried) {
    for (int s = carried; e && s < e->n_outputs; s++)
        if (e->outputs[s] && e->outputs[s]->shape.rank > 0)
            return sym_slot(cg, e->outputs[s]->shape.dims[0]);
    return NULL;
}

/* At the start of iteration i of Loop n (plan p): the iteration count
 * i + 1 checked against a bound M does not give, and written where the
 * scan outputs' length is read; the iteration number written where the
 * body reads it as a symbol. */
static int loop_iteration(Codegen *cg, const Node *n, const LoopPlan *p, LLVMValueRef i) {
    LLVMBuilderRef b = cg->builder;
    int carried = n->n_outputs - 2;
    LLVMValueRef count = count_slot(cg, ir_region_end(cg->g, n), carried);
    if (p && p->iter != DIM_INVALID) LLVMBuildStore(b, i, sym_slot(cg, p->iter));
    LLVMValueRef next = LLVMBuildAdd(b, i, cg_i64(cg, 1), "");
    if (p && p->checked) {
        LLVMValueRef k = LLVMBuildAlloca(cg->entry, cg->i64, "iterations");
        LLVMBuildStore(b, next, k);
        char bound[96];
        dim_str(p->bound, bound, sizeof bound);
        const char *what = arena_printf(
            cg->g->arena,
            "node '%s' (Loop): its number of iterations, which kiln planned for at most %s "
            "(compile with --loop-bound '%s'=N for more)",
            n->name, bound, n->name);
        LLVMValueRef args[] = {k, cg_sym_value(cg, p->bound),
                               count ? count : LLVMBuildAlloca(cg->entry, cg->i64, "unused")};
        cg_call_checked(cg, "kiln_count_check", args, 3, what);
    } else if (count) {
        LLVMBuildStore(b, next, count);
    }
    return 0;
}

int emit_loop(Codegen *cg, const Node *n) {
    LLVMBuilderRef b = cg->builder;
    const Value *m = n->inputs[0], *c = n->inputs[1];
    const LoopPlan *p = n->plan_kind == PLAN_LOOP ? n->plan.loop : NULL;
    int carried = n->n_outputs - 2;
    for (int k = 0; k < carried; k++)
        copy_into(cg, n->inputs[2 + k], n->outputs[2 + k]);
    LLVMValueRef count = count_slot(cg, ir_region_end(cg->g, n), carried);
    if (count) LLVMBuildStore(b, cg_i64(cg, 0), count);
    LLVMValueRef iter = cg_addr(cg, n->outputs[0]), cond = cg_addr(cg, n->outputs[1]);
    LLVMBuildStore(b, cg_i64(cg, 0), iter);
    LLVMValueRef c0 =
        c ? LLVMBuildZExt(b, load_bool(cg, c), cg->i8, "") : LLVMConstInt(cg->i8, 1, 0);
    LLVMBuildStore(b, c0, cond);
    LLVMValueRef mv = m ? LLVMBuildLoad2(b, cg->i64, cg_addr(cg, m), "M") : NULL;
    struct CgRegion *r = region_push(cg, n);
    loop_open(cg, r);
    LLVMValueRef ok = load_bool(cg, n->outputs[1]);
    LLVMValueRef i = LLVMBuildLoad2(b, cg->i64, iter, "i");
    if (mv) ok = LLVMBuildAnd(b, ok, LLVMBuildICmp(b, LLVMIntSLT, i, mv, ""), "");
    LLVMBasicBlockRef body = block_new(cg, "loop_body");
    LLVMBuildCondBr(b, ok, body, r->exit);
    LLVMPositionBuilderAtEnd(b, body);
    return loop_iteration(cg, n, p, i);
}

int emit_loop_end(Codegen *cg, const Node *n) {
    struct CgRegion *r = region_top(cg, OP_LOOP);
    const Node *bn = r->begin;
    LLVMBuilderRef b = cg->builder;
    int carried = bn->n_outputs - 2, k = n->n_outputs - carried;
    LLVMValueRef iter = cg_addr(cg, bn->outputs[0]);
    LLVMValueRef i = LLVMBuildLoad2(b, cg->i64, iter, "i");
    /* Scan outputs: i stays below their planned length (shape_loop_end;
     * loop_iteration checks a bound M does not give). */
    for (int s = 0; s < k; s++) {
        const Value *y = n->inputs[1 + carried + s];
        Sym bytes =
            cg_sym_mul(cg_sym_prod(&y->shape, 0, y->shape.rank), (int64_t)dtype_size(y->dtype));
        LLVMValueRef at = LLVMBuildMul(b, i, cg_sym_value(cg, bytes), "");
        cg_copy_value(cg, y, byte_offset(cg, cg_addr(cg, n->outputs[carried + s]), at));
    }
    /* The carried values, then the condition, into the body's inputs. */
    Value **from = arena_alloc_array(cg->g->arena, (size_t)carried + 2, sizeof(Value *));
    Value **to = arena_alloc_array(cg->g->arena, (size_t)carried + 2, sizeof(Value *));
    for (int j = 0; j < carried; j++)
        from[j] = n->inputs[1 + j], to[j] = bn->outputs[2 + j];
    from[carried] = n->inputs[0], to[carried] = bn->outputs[1];
    int rc = carry(cg, n, from, to, carried + 1);
    LLVMBuildStore(b, LLVMBuildAdd(b, i, cg_i64(cg, 1), ""), iter);
    LLVMBuildBr(b, r->head);
    LLVMPositionBuilderAtEnd(b, r->exit);
    for (int j = 0; j < carried; j++)
        copy_into(cg, bn->outputs[2 + j], n->outputs[j]);
    cg->n_regions--;
    return rc;
}

/* Loop.concat (ops_control.def): slice j of x [n, ...] goes to index j
 * along `axis` of y seen with the n slices stacked there ([.., n, s_axis,
 * ..] for new_axis 0 has the bytes of y [.., n * s_axis, ..]). */
int emit_loop_concat(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0], *y = n->outputs[0];
    int64_t axis = ir_attr_int(n, "axis", 0);
    if (axis < 0) axis += y->shape.rank;
    Shape st = {.rank = x->shape.rank}; /* y's shape with the slices stacked at axis */
    for (int i = 0, j = 1; i < st.rank; i++)
        st.dims[i] = i == axis ? x->shape.dims[0] : x->shape.dims[j++];
    size_t es = dtype_size(x->dtype);
    Sym slice = cg_sym_mul(cg_sym_prod(&x->shape, 1, x->shape.rank), (int64_t)es);
    struct Counted c;
    LLVMValueRef j = counted_open(cg, &c, cg_sym_value(cg, cg_sym_dim(x->shape.dims[0])), "j");
    LLVMValueRef src =
        byte_offset(cg, cg_addr(cg, x), LLVMBuildMul(cg->builder, j, cg_sym_value(cg, slice), ""));
    slice_copy(cg, &st, es, cg_addr(cg, y), (int)axis, j, src, 1);
    counted_close(cg, &c);
    return 0;
}

/* Scan's attribute `name` at i: the axis (normalised to [0, rank)) or the
 * direction; checked by shape_scan. */
static int64_t scan_attr(const Node *n, const char *name, int i, int rank) {
    const Attr *a = ir_attr(n, name);
    int64_t v = a && a->kind == ATTR_INTS && i < a->n ? a->ints[i] : 0;
    return v < 0 ? v + rank : v;
}

/* i, or len - 1 - i for a reverse direction. */
static LLVMValueRef scan_index(Codegen *cg, const struct CgRegion *r, LLVMValueRef i, int reverse) {
    if (!reverse) return i;
    return LLVMBuildSub(cg->builder, LLVMBuildSub(cg->builder, r->len, cg_i64(cg, 1), ""), i, "");
}

int emit_scan(Codegen *cg, const Node *n) {
    LLVMBuilderRef b = cg->builder;
    int m = (int)ir_attr_int(n, "num_scan_inputs", 0), states = n->n_inputs - m;
    for (int k = 0; k < states; k++)
        copy_into(cg, n->inputs[k], n->outputs[k]);
    const Value *x0 = n->inputs[states];
    int v8 = n->opset < 9; /* a batch axis 0 of size 1, the scan axis 1 (shape_scan) */
    int64_t axis0 = v8 ? 1 : scan_attr(n, "scan_input_axes", 0, x0->shape.rank);
    struct CgRegion *r = region_push(cg, n);
    r->len = cg_sym_value(cg, cg_sym_dim(x0->shape.dims[axis0]));
    r->counter = LLVMBuildAlloca(cg->entry, cg->i64, "scan_i");
    LLVMBuildStore(b, cg_i64(cg, 0), r->counter);
    loop_open(cg, r);
    LLVMValueRef i = LLVMBuildLoad2(b, cg->i64, r->counter, "i");
    LLVMBasicBlockRef body = block_new(cg, "scan_body");
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, i, r->len, ""), body, r->exit);
    LLVMPositionBuilderAtEnd(b, body);
    for (int j = 0; j < m; j++) {
        const Value *x = n->inputs[states + j];
        int axis = v8 ? 1 : (int)scan_attr(n, "scan_input_axes", j, x->shape.rank);
        int rev = scan_attr(n, v8 ? "directions" : "scan_input_directions", j, 1) != 0;
        slice_copy(cg, &x->shape, dtype_size(x->dtype), cg_addr(cg, x), axis,
                   scan_index(cg, r, i, rev), cg_addr(cg, n->outputs[states + j]), 0);
    }
    return 0;
}

int emit_scan_end(Codegen *cg, const Node *n) {
    struct CgRegion *r = region_top(cg, OP_SCAN);
    const Node *bn = r->begin;
    LLVMBuilderRef b = cg->builder;
    int m = (int)ir_attr_int(bn, "num_scan_inputs", 0), states = bn->n_inputs - m;
    int k = n->n_outputs - states;
    LLVMValueRef i = LLVMBuildLoad2(b, cg->i64, r->counter, "i");
    for (int s = 0; s < k; s++) {
        const Value *out = n->outputs[states + s];
        int v8 = n->opset < 9;
        int axis = v8 ? 1 : (int)scan_attr(n, "scan_output_axes", s, out->shape.rank);
        int rev = !v8 && scan_attr(n, "scan_output_directions", s, 1) != 0;
        slice_copy(cg, &out->shape, dtype_size(out->dtype), cg_addr(cg, out), axis,
                   scan_index(cg, r, i, rev), cg_addr(cg, n->inputs[states + s]), 1);
    }
    int rc = carry(cg, n, n->inputs, bn->outputs, states);
    LLVMBuildStore(b, LLVMBuildAdd(b, i, cg_i64(cg, 1), ""), r->counter);
    LLVMBuildBr(b, r->head);
    LLVMPositionBuilderAtEnd(b, r->exit);
    for (int j = 0; j < states; j++)
        copy_into(cg, bn->outputs[j], n->outputs[j]);
    cg->n_regions--;
    return rc;
}
