/* emit_reduce.c: kernel calls for the reduce family (ops_reduce.def).
 *
 * An op that works along one axis sees its input as [outer, len, inner]
 * (dims before, at and after the axis, each a Sym so the batch can be any
 * of them). Reductions over several axes first drop size-1 dims and merge
 * neighbouring dims that are both reduced or both kept: one reduced group
 * is again [outer, len, inner]; more go to the strided kiln_reduce_any_*.
 * Shape functions (passes/shapes_reduce.c) have checked axes and types
 * and left them on the node as a ReducePlan; nothing here reads an axis
 * attribute or input again.
 */
#include <assert.h>
#include <string.h>

#include "cg.h"
#include "reduce.h"

/* x viewed as [outer, len, inner] around dim `axis`. */
static void reduce_split(const Shape *s, int axis, Sym *outer, Sym *len, Sym *inner) {
    *outer = cg_sym_prod(s, 0, axis);
    *len = cg_sym_dim(s->dims[axis]);
    *inner = cg_sym_prod(s, axis + 1, s->rank);
}

/* A Sym as a double (ReduceMean's divisor). */
static LLVMValueRef reduce_sym_double(Codegen *cg, Sym s) {
    LLVMTypeRef f64 = LLVMDoubleTypeInContext(cg->ctx);
    if (s >= 0) return cg_f64(cg, (double)s);
    return LLVMBuildSIToFP(cg->builder, cg_sym_value(cg, s), f64, "");
}

/* n's plan, as its shape function left it. */
static const ReducePlan *reduce_plan_of(const Node *n) {
    assert(n->plan_kind == PLAN_REDUCE);
    return n->plan.reduce;
}

/* The one-axis kernels: kernel(params..., outer, len, inner, x, the
 * first n_out outputs), with x viewed as [outer, len, inner] around the
 * plan's axis (all 1 for a scalar). */
static int reduce_along_axis(Codegen *cg, const Node *n, const char *kernel,
                             const LLVMValueRef *params, int n_params, int n_out) {
    const Value *x = n->inputs[0];
    Sym outer = 1, len = 1, inner = 1;
    if (x->shape.rank > 0) reduce_split(&x->shape, reduce_plan_of(n)->axis, &outer, &len, &inner);
    LLVMValueRef args[12];
    int k = 0;
    for (int i = 0; i < n_params; i++)
        args[k++] = params[i];
    args[k++] = cg_sym_value(cg, outer);
    args[k++] = cg_sym_value(cg, len);
    args[k++] = cg_sym_value(cg, inner);
    args[k++] = cg_addr(cg, x);
    for (int i = 0; i < n_out; i++)
        args[k++] = cg_addr(cg, n->outputs[i]);
    return cg_call_typed(cg, n, kernel, x->dtype, args, (unsigned)k);
}

/* --- Reduce* -------------------------------------------------------------------- */

/* Dims of x merged into alternating kept/reduced groups, size-1 dims
 * dropped. Returns the group count. */
typedef struct Group {
    Sym size;
    int reduced;
} Group;

static int reduce_groups(const Shape *s, unsigned mask, Group *g) {
    int n = 0;
    for (int i = 0; i < s->rank; i++) {
        Sym d = cg_sym_dim(s->dims[i]);
        int r = (int)(mask >> i & 1);
        if (cg_sym_is(d, 1)) continue;
        if (n > 0 && g[n - 1].reduced == r)
            g[n - 1].size = cg_sym_mul(g[n - 1].size, d);
        else
            g[n++] = (Group){d, r};
    }
    return n;
}

/* Strided views of up to four kept and four reduced groups, for
 * kiln_reduce_any_* and kiln_mvn_*: args[0..16) = k0..k3, ks0..ks3, r0..r3,
 * rs0..rs3 (unused slots have size 1, stride 0). -1 with a diagnostic if
 * there are more groups. */
static int reduce_strided_args(Codegen *cg, const Node *n, const Group *g, int ng,
                               LLVMValueRef *args) {
    Sym k[4], ks[4], r[4], rs[4], stride = 1;
    int nk = 0, nr = 0;
    for (int i = 0; i < ng; i++)
        (g[i].reduced ? &nr : &nk)[0]++;
    if (nk > 4 || nr > 4) {
        diag_node(cg->d, n, "reduces %d separate groups of dims; at most 4 are supported", nr);
        diag_hint(cg->d, "reduce in several nodes, or transpose the reduced dims together");
        return -1;
    }
    for (int i = 0; i < 4; i++)
        k[i] = r[i] = 1, ks[i] = rs[i] = 0;
    /* Fill from the innermost group, right-aligned so the last loop of the
     * kernel walks the innermost dims. */
    int ik = 4, ir = 4;
    for (int i = ng - 1; i >= 0; i--) {
        if (g[i].reduced)
            r[--ir] = g[i].size, rs[ir] = stride;
        else
            k[--ik] = g[i].size, ks[ik] = stride;
        stride = cg_sym_mul(stride, g[i].size);
    }
    for (int i = 0; i < 4; i++) {
        args[i] = cg_sym_value(cg, k[i]);
        args[4 + i] = cg_sym_value(cg, ks[i]);
        args[8 + i] = cg_sym_value(cg, r[i]);
        args[12 + i] = cg_sym_value(cg, rs[i]);
    }
    return 0;
}

int emit_reduce(Codegen *cg, const Node *n) {
    static const struct {
        int op, post;
    } kinds[OP_COUNT] = {
        [OP_REDUCE_SUM] = {KILN_RED_SUM, KILN_RED_POST_NONE},
        [OP_REDUCE_MEAN] = {KILN_RED_SUM, KILN_RED_POST_DIV},
        [OP_REDUCE_MAX] = {KILN_RED_MAX, KILN_RED_POST_NONE},
        [OP_REDUCE_MIN] = {KILN_RED_MIN, KILN_RED_POST_NONE},
        [OP_REDUCE_PROD] = {KILN_RED_PROD, KILN_RED_POST_NONE},
        [OP_REDUCE_L1] = {KILN_RED_ASUM, KILN_RED_POST_NONE},
        [OP_REDUCE_L2] = {KILN_RED_SUMSQ, KILN_RED_POST_SQRT},
        [OP_REDUCE_LOG_SUM] = {KILN_RED_SUM, KILN_RED_POST_LOG},
        [OP_REDUCE_LOG_SUM_EXP] = {KILN_RED_LOGSUMEXP, KILN_RED_POST_NONE},
        [OP_REDUCE_SUM_SQUARE] = {KILN_RED_SUMSQ, KILN_RED_POST_NONE},
    };
    const Value *x = n->inputs[0];
    const Shape *s = &x->shape;
    const ReducePlan *p = reduce_plan_of(n);
    unsigned mask = p->mask;
    if (p->noop) { /* noop_with_empty_axes, or a scalar */
        cg_copy_value(cg, x, cg_addr(cg, n->outputs[0]));
        return 0;
    }
    Group g[IR_MAX_RANK];
    int ng = reduce_groups(s, mask, g), n_red = 0, first = -1;
    Sym count = 1;
    for (int i = 0; i < ng; i++)
        if (g[i].reduced) {
            n_red++;
            count = cg_sym_mul(count, g[i].size);
            if (first < 0) first = i;
        }
    LLVMValueRef args[22];
    args[0] = cg_i32(cg, kinds[n->op].op);
    args[1] = cg_i32(cg, kinds[n->op].post);
    args[2] = reduce_sym_double(cg, count);
    if (n_red <= 1) {
        /* One reduced group (or none left: every reduced dim had size 1,
         * and the op still applies its element and post functions). */
        Sym outer = 1, len = 1, inner = 1;
        for (int i = 0; i < ng; i++) {
            if (g[i].reduced)
                len = g[i].size;
            else if (first < 0 || i < first)
                outer = cg_sym_mul(outer, g[i].size);
            else
                inner = cg_sym_mul(inner, g[i].size);
        }
        args[3] = cg_sym_value(cg, outer);
        args[4] = cg_sym_value(cg, len);
        args[5] = cg_sym_value(cg, inner);
        args[6] = cg_addr(cg, x);
        args[7] = cg_addr(cg, n->outputs[0]);
        return cg_call_typed(cg, n, "reduce", x->dtype, args, 8);
    }
    if (reduce_strided_args(cg, n, g, ng, args + 3)) return -1;
    args[19] = cg_addr(cg, x);
    args[20] = cg_addr(cg, n->outputs[0]);
    return cg_call_typed(cg, n, "reduce_any", x->dtype, args, 21);
}

/* --- ArgMax, ArgMin --------------------------------------------------------------- */

int emit_arg_reduce(Codegen *cg, const Node *n) {
    LLVMValueRef params[] = {cg_i32(cg, n->op == OP_ARG_MIN),
                             cg_i32(cg, (int)ir_attr_int(n, "select_last_index", 0))};
    return reduce_along_axis(cg, n, "argmax", params, 2, 1);
}

/* --- Softmax, LogSoftmax, Hardmax --------------------------------------------------- */

int emit_softmax(Codegen *cg, const Node *n) {
    static const char *kernels[OP_COUNT] = {
        [OP_SOFTMAX] = "softmax", [OP_LOG_SOFTMAX] = "logsoftmax", [OP_HARDMAX] = "hardmax"};
    const Shape *s = &n->inputs[0]->shape;
    const ReducePlan *p = reduce_plan_of(n);
    if (p->axis < 0) {
        diag_node(cg->d, n, "axis %lld is out of range for rank %d", (long long)p->asked, s->rank);
        return -1;
    }
    Sym outer, len, inner;
    reduce_split(s, p->axis, &outer, &len, &inner);
    if (p->flatten) len = cg_sym_mul(len, inner), inner = 1;
    LLVMValueRef args[] = {cg_sym_value(cg, outer), cg_sym_value(cg, len), cg_sym_value(cg, inner),
                           cg_addr(cg, n->inputs[0]), cg_addr(cg, n->outputs[0])};
    return cg_call_typed(cg, n, kernels[n->op], n->inputs[0]->dtype, args, 5);
}

/* --- normalisations ------------------------------------------------------------------ */

/* Address of optional output i, or a null pointer. */
static LLVMValueRef reduce_opt_out(Codegen *cg, const Node *n, int i) {
    return i < n->n_outputs && n->outputs[i] ? cg_addr(cg, n->outputs[i])
                                             : LLVMConstPointerNull(cg->ptr);
}

int emit_layer_norm(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0], *scale = n->inputs[1];
    const Value *bias = n->n_inputs > 2 ? n->inputs[2] : NULL;
    const Shape *s = &x->shape;
    int axis = reduce_plan_of(n)->axis;
    for (int i = 1; i < 3; i++)
        if (i < n->n_outputs && n->outputs[i] && n->outputs[i]->dtype != x->dtype) {
            diag_node(cg->d, n, "output '%s' in %s with X in %s is not supported",
                      n->outputs[i]->name, dtype_onnx_name(n->outputs[i]->dtype),
                      dtype_onnx_name(x->dtype));
            diag_hint(cg->d, "leave the Mean and InvStdDev outputs unused, or use float X");
            return -1;
        }
    /* A parameter with a single value is broadcast (stride 0). */
    Sym ns = cg_sym_prod(&scale->shape, 0, scale->shape.rank);
    Sym nb = bias ? cg_sym_prod(&bias->shape, 0, bias->shape.rank) : 1;
    LLVMValueRef args[] = {
        cg_sym_value(cg, cg_sym_prod(s, 0, axis)),
        cg_sym_value(cg, cg_sym_prod(s, axis, s->rank)),
        cg_addr(cg, x),
        cg_addr(cg, scale),
        cg_i64(cg, cg_sym_is(ns, 1) ? 0 : 1),
        bias ? cg_addr(cg, bias) : LLVMConstPointerNull(cg->ptr),
        cg_i64(cg, cg_sym_is(nb, 1) ? 0 : 1),
        cg_f32(cg, ir_attr_float(n, "epsilon", 1e-5f)),
        cg_addr(cg, n->outputs[0]),
        reduce_opt_out(cg, n, 1),
        reduce_opt_out(cg, n, 2),
    };
    return cg_call_typed(cg, n, "layernorm", x->dtype, args, 11);
}

int emit_mvn(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0];
    Group g[IR_MAX_RANK];
    int ng = reduce_groups(&x->shape, reduce_plan_of(n)->mask, g);
    LLVMValueRef args[18];
    if (reduce_strided_args(cg, n, g, ng, args)) return -1;
    args[16] = cg_addr(cg, x);
    args[17] = cg_addr(cg, n->outputs[0]);
    return cg_call_typed(cg, n, "mvn", x->dtype, args, 18);
}

int emit_lp_norm(Codegen *cg, const Node *n) {
    LLVMValueRef params[] = {cg_i32(cg, (int)ir_attr_int(n, "p", 2))};
    return reduce_along_axis(cg, n, "lpnorm", params, 1, 1);
}

/* --- CumSum, TopK --------------------------------------------------------------------- */

int emit_cumsum(Codegen *cg, const Node *n) {
    LLVMValueRef params[] = {cg_i32(cg, (int)ir_attr_int(n, "exclusive", 0)),
                             cg_i32(cg, (int)ir_attr_int(n, "reverse", 0))};
    return reduce_along_axis(cg, n, "cumsum", params, 2, 1);
}

int emit_topk(Codegen *cg, const Node *n) {
    if (n->n_outputs < 2 || !n->outputs[0] || !n->outputs[1]) {
        diag_node(cg->d, n, "TopK needs both its Values and Indices outputs");
        return -1;
    }
    /* sorted=0 allows any order; sorted output is one of them. */
    const ReducePlan *p = reduce_plan_of(n);
    LLVMValueRef k = cg_i64(cg, p->k);
    if (p->k < 0) { /* K read at run time, a data-dependent size of the outputs */
        const Shape *s = &n->inputs[0]->shape;
        k = cg_dyn_count(cg, n, n->inputs[1], s->rank ? s->dims[p->axis] : 1,
                         n->outputs[0]->shape.rank ? n->outputs[0]->shape.dims[p->axis] : 0);
    }
    LLVMValueRef params[] = {cg_i32(cg, (int)ir_attr_int(n, "largest", 1)), k};
    return reduce_along_axis(cg, n, "topk", params, 2, 2);
}

/* --- NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss ---------------------------------- */

int emit_nll_loss(Codegen *cg, const Node *n) {
    const Value *x = n->inputs[0], *t = n->inputs[1];
    const Value *w = n->n_inputs > 2 ? n->inputs[2] : NULL;
    const Shape *s = &x->shape;
    Sym N = cg_sym_dim(s->dims[0]), C = cg_sym_dim(s->dims[1]), D = cg_sym_prod(s, 2, s->rank);
    const char *red = ir_attr_str(n, "reduction", "mean");
    int reduction = strcmp(red, "none") == 0  ? KILN_LOSS_NONE
                    : strcmp(red, "sum") == 0 ? KILN_LOSS_SUM
                                              : KILN_LOSS_MEAN;
    /* No ignore_index: no target is ignored (INT64_MIN is never a class). */
    const Attr *ii = ir_attr(n, "ignore_index");
    LLVMValueRef logp = cg_addr(cg, x);
    if (n->op == OP_SCE_LOSS) {
        /* Log-probabilities along the class axis, into log_prob or scratch. */
        logp = n->n_outputs > 1 && n->outputs[1] ? cg_addr(cg, n->outputs[1]) : cg_scratch(cg, n);
        LLVMValueRef sm[] = {cg_sym_value(cg, N), cg_sym_value(cg, C), cg_sym_value(cg, D),
                             cg_addr(cg, x), logp};
        if (cg_call_typed(cg, n, "logsoftmax", x->dtype, sm, 5)) return -1;
    }
    LLVMValueRef args[] = {cg_i32(cg, reduction),
                           cg_i64(cg, ii ? ii->i : INT64_MIN),
                           cg_sym_value(cg, N),
                           cg_sym_value(cg, C),
                           cg_sym_value(cg, D),
                           logp,
                           cg_addr(cg, t),
                           w ? cg_addr(cg, w) : LLVMConstPointerNull(cg->ptr),
                           cg_addr(cg, n->outputs[0])};
    const char *sfx = cg_dtype_suffix(x->dtype);
    char name[64];
    snprintf(name, sizeof name, "kiln_nllloss_%s", sfx ? sfx : "none");
    if (!sfx || !LLVMGetNamedFunction(cg->mod, name))
        return cg_call_typed(cg, n, "nllloss", x->dtype, NULL, 0); /* its diagnostic */
    const char *site = arena_printf(cg->g->arena, "node '%s' (%s): targets from %s", n->name,
                                    n->op_type, cg_value_origin(cg, t));
    cg_call_checked(cg, name, args, 9, site);
    return 0;
}
