/* emit_dyn.c: kernel calls of the ops whose output size depends on the
 * data (compiler/ir/ops_dyn.def; design in passes/shapes_dyn.c), and the
 * run-time k of TopK (cg_dyn_count).
 *
 * Each kernel (runtime/kernels/dyn.c) gets the address of its size's slot
 * in the run's syms array (cg->syms) and writes the size there before it
 * returns. cg_dim_value computes every size that depends on such a symbol
 * at the point of use (emit.c), so the nodes emitted after this one read
 * the size the kernel wrote, while workspace offsets, planned at the
 * bounds, never depend on it.
 */
#include <string.h>

#include "cg.h"
#include "dyn.h"

/* Where the kernel writes the size d: its symbol's slot in syms if d is a
 * data-dependent symbol, else (the output is not used, or is fixed) a
 * slot on the stack that nothing reads. */
static LLVMValueRef count_slot(Codegen *cg, Dim d) {
    int s = dim_sym_of(d);
    if (s < 0 || dim_sym_data_bound(s) == DIM_INVALID)
        return LLVMBuildAlloca(cg->entry, cg->i64, "unused_count");
    LLVMValueRef idx = cg_i64(cg, s);
    return LLVMBuildGEP2(cg->builder, cg->i64, cg->syms, &idx, 1, dim_sym_name(s));
}

static LLVMValueRef addr_or_null(Codegen *cg, const Node *n, int i, int out) {
    const Value *v =
        out ? (i < n->n_outputs ? n->outputs[i] : NULL) : (i < n->n_inputs ? n->inputs[i] : NULL);
    return v ? cg_addr(cg, v) : LLVMConstPointerNull(cg->ptr);
}

/* The axis attribute normalised (shape inference checked it), -1 if absent. */
static int opt_axis(const Node *n, int rank) {
    if (!ir_attr(n, "axis")) return -1;
    int64_t a = ir_attr_int(n, "axis", 0);
    return (int)(a < 0 ? a + rank : a);
}

/* x viewed as [outer, len, inner] around axis (flat if axis < 0). */
static void split(const Shape *s, int axis, Sym *outer, Sym *len, Sym *inner) {
    if (axis < 0) {
        *outer = *inner = 1;
        *len = cg_sym_prod(s, 0, s->rank);
        return;
    }
    *outer = cg_sym_prod(s, 0, axis);
    *len = cg_sym_dim(s->dims[axis]);
    *inner = cg_sym_prod(s, axis + 1, s->rank);
}

int emit_nonzero(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0], *y = n->outputs[0];
    int r = x->shape.rank;
    LLVMValueRef dims = LLVMBuildAlloca(cg->entry, LLVMArrayType2(cg->i64, (uint64_t)r), "dims");
    for (int k = 0; k < r; k++) {
        LLVMValueRef idx = cg_i64(cg, k);
        LLVMBuildStore(cg->builder, cg_sym_value(cg, x->shape.dims[k]),
                       LLVMBuildGEP2(cg->builder, cg->i64, dims, &idx, 1, ""));
    }
    LLVMValueRef args[] = {cg_sym_value(cg, cg_sym_prod(&x->shape, 0, r)),
                           cg_i32(cg, r),
                           dims,
                           cg_addr(cg, x),
                           cg_addr(cg, y),
                           count_slot(cg, y->shape.dims[1])};
    return cg_call_typed(cg, n, "nonzero", x->dtype, args, 6);
}

int emit_compress(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0], *c = n->inputs[1], *y = n->outputs[0];
    int axis = opt_axis(n, x->shape.rank);
    Sym outer, len, inner;
    split(&x->shape, axis, &outer, &len, &inner);
    size_t es = dtype_size(x->dtype);
    if (!es) {
        diag_node(cg->d, n, "element type %s is not supported by this op",
                  dtype_onnx_name(x->dtype));
        return -1;
    }
    LLVMValueRef args[] = {cg_sym_value(cg, outer),
                           cg_sym_value(cg, len),
                           cg_sym_value(cg, inner),
                           cg_i64(cg, (int64_t)es),
                           cg_addr(cg, c),
                           cg_sym_value(cg, c->shape.dims[0]),
                           cg_addr(cg, x),
                           cg_addr(cg, y),
                           count_slot(cg, y->shape.dims[axis < 0 ? 0 : axis])};
    cg_call(cg, "kiln_compress", args, 9);
    return 0;
}

int emit_unique(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0];
    int axis = opt_axis(n, x->shape.rank);
    Sym outer, len, inner;
    split(&x->shape, axis, &outer, &len, &inner);
    /* The count: dim `axis` of Y, or dim 0 of indices or counts. */
    Dim count = 0;
    if (n->outputs[0])
        count = n->outputs[0]->shape.dims[axis < 0 ? 0 : axis];
    else if (n->n_outputs > 1 && n->outputs[1])
        count = n->outputs[1]->shape.dims[0];
    else if (n->n_outputs > 3 && n->outputs[3])
        count = n->outputs[3]->shape.dims[0];
    LLVMValueRef args[] = {cg_i32(cg, (int)ir_attr_int(n, "sorted", 1)),
                           cg_sym_value(cg, outer),
                           cg_sym_value(cg, len),
                           cg_sym_value(cg, inner),
                           cg_addr(cg, x),
                           addr_or_null(cg, n, 0, 1),
                           addr_or_null(cg, n, 1, 1),
                           addr_or_null(cg, n, 2, 1),
                           addr_or_null(cg, n, 3, 1),
                           cg_scratch(cg, n),
                           count_slot(cg, count)};
    return cg_call_typed(cg, n, "unique", x->dtype, args, 11);
}

int emit_nms(Codegen *cg, const Node *n) {
    const Shape *b = &n->inputs[0]->shape, *s = &n->inputs[1]->shape;
    LLVMValueRef args[] = {cg_i32(cg, (int)ir_attr_int(n, "center_point_box", 0)),
                           cg_sym_value(cg, b->dims[0]),
                           cg_sym_value(cg, s->dims[1]),
                           cg_sym_value(cg, b->dims[1]),
                           cg_addr(cg, n->inputs[0]),
                           cg_addr(cg, n->inputs[1]),
                           addr_or_null(cg, n, 2, 0),
                           addr_or_null(cg, n, 3, 0),
                           addr_or_null(cg, n, 4, 0),
                           cg_scratch(cg, n),
                           cg_addr(cg, n->outputs[0]),
                           count_slot(cg, n->outputs[0]->shape.dims[0])};
    cg_call(cg, "kiln_nms", args, 12);
    return 0;
}

LLVMValueRef cg_dyn_count(Codegen *cg, const Node *n, const Value *k, Sym max, Dim count) {
    LLVMValueRef args[] = {cg_addr(cg, k), cg_sym_value(cg, max), count_slot(cg, count)};
    const char *what = arena_printf(cg->g->arena, "node '%s' (%s): %s, the number to keep", n->name,
                                    n->op_type ? n->op_type : "", cg_value_origin(cg, k));
    cg_call_checked(cg, "kiln_count_check", args, 3, what);
    return cg_sym_value(cg, count);
}

/* StringNormalizer (design in passes/shapes_dyn.c): the kernel writes the
 * kept strings' count into the output's data-dependent symbol, if it has
 * one (stopwords), and fails a check on a string too long to change. */
int emit_string_normalizer(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0], *y = n->outputs[0];
    const Attr *stop = ir_attr(n, "stopwords");
    const char *act = ir_attr_str(n, "case_change_action", "NONE");
    int action = strcmp(act, "LOWER") == 0 ? 1 : strcmp(act, "UPPER") == 0 ? 2 : 0;
    int last = x->shape.rank - 1;
    int has_stop = stop && stop->n > 0;
    LLVMValueRef args[] = {cg_sym_value(cg, cg_sym_dim(x->shape.dims[last])),
                           cg_addr(cg, x),
                           has_stop ? cg_ml_label_table(cg, stop) : LLVMConstPointerNull(cg->ptr),
                           cg_i64(cg, has_stop ? stop->n : 0),
                           cg_i32(cg, (int)ir_attr_int(n, "is_case_sensitive", 0)),
                           cg_i32(cg, action),
                           cg_i64(cg, KILN_STRING_CASE_BYTES),
                           action ? cg_scratch(cg, n) : LLVMConstPointerNull(cg->ptr),
                           cg_addr(cg, y),
                           count_slot(cg, y->shape.dims[last])};
    const char *what = arena_printf(cg->g->arena, "node '%s' (%s): the case change of %s", n->name,
                                    n->op_type ? n->op_type : "", cg_value_origin(cg, x));
    cg_call_checked(cg, "kiln_string_normalizer", args, 10, what);
    return 0;
}
