/* fold_constants.c: shape subgraphs folded into constants.
 *
 * Exporters compute shapes at run time: torch's x.view(x.size(0), -1)
 * becomes Shape -> Gather -> Unsqueeze -> Concat -> Reshape. kiln compiles
 * shapes ahead of time, so this pass evaluates such chains on the host, in
 * topological order, inferring each node's shape just before (the shape
 * functions run silently here; pass_infer_shapes runs afterwards and
 * reports what is still wrong). How the batch dim is carried through a
 * folded shape vector is described in fold_constants.h.
 */
#include <math.h>
#include <string.h>

#include "fold_constants.h"
#include "shapes.h"

/* Folded outputs larger than this stay run-time computations: folding is
 * for shape vectors, not for weights. */
#define FOLD_MAX_ELEMS (1 << 16)

static int is_float(DType t) {
    return t == DT_F32 || t == DT_F64 || t == DT_F16;
}

static double load_f(const Value *v, int64_t i) {
    const void *p = v->data;
    switch (v->dtype) {
    case DT_F32:
        return ((const float *)p)[i];
    case DT_F64:
        return ((const double *)p)[i];
    case DT_I8:
        return ((const int8_t *)p)[i];
    case DT_U8:
    case DT_BOOL:
        return ((const uint8_t *)p)[i];
    case DT_I16:
        return ((const int16_t *)p)[i];
    case DT_U16:
        return ((const uint16_t *)p)[i];
    case DT_I32:
        return ((const int32_t *)p)[i];
    case DT_U32:
        return ((const uint32_t *)p)[i];
    case DT_I64:
        return (double)((const int64_t *)p)[i];
    case DT_U64:
        return (double)((const uint64_t *)p)[i];
    default:
        return 0;
    }
}

static int64_t load_i(const Value *v, int64_t i) {
    switch (v->dtype) {
    case DT_I64:
        return ((const int64_t *)v->data)[i];
    case DT_U64:
        return (int64_t)((const uint64_t *)v->data)[i];
    case DT_F32:
    case DT_F64:
        return (int64_t)load_f(v, i);
    default:
        return (int64_t)load_f(v, i);
    }
}

static void store(DType t, void *p, int64_t i, double f, int64_t k, int as_float) {
    switch (t) {
    case DT_F32:
        ((float *)p)[i] = as_float ? (float)f : (float)k;
        break;
    case DT_F64:
        ((double *)p)[i] = as_float ? f : (double)k;
        break;
    case DT_I8:
        ((int8_t *)p)[i] = (int8_t)(as_float ? (int64_t)f : k);
        break;
    case DT_U8:
        ((uint8_t *)p)[i] = (uint8_t)(as_float ? (int64_t)f : k);
        break;
    case DT_BOOL:
        ((uint8_t *)p)[i] = as_float ? f != 0 : k != 0;
        break;
    case DT_I16:
        ((int16_t *)p)[i] = (int16_t)(as_float ? (int64_t)f : k);
        break;
    case DT_U16:
        ((uint16_t *)p)[i] = (uint16_t)(as_float ? (int64_t)f : k);
        break;
    case DT_I32:
        ((int32_t *)p)[i] = (int32_t)(as_float ? (int64_t)f : k);
        break;
    case DT_U32:
        ((uint32_t *)p)[i] = (uint32_t)(as_float ? (int64_t)f : k);
        break;
    case DT_I64:
        ((int64_t *)p)[i] = as_float ? (int64_t)f : k;
        break;
    case DT_U64:
        ((uint64_t *)p)[i] = (uint64_t)(as_float ? (int64_t)f : k);
        break;
    default:
        break;
    }
}

static int has_sentinel(const Value *v) {
    if (!v || !v->data || v->dtype != DT_I64 || shape_has_batch(&v->shape)) return 0;
    for (int64_t i = 0; i < shape_numel(&v->shape); i++)
        if (((const int64_t *)v->data)[i] == FOLD_DIM_BATCH) return 1;
    return 0;
}

/* Flat offset into s (broadcast to out's rank) of out's multi-index at. */
static int64_t bcast_offset(const Shape *s, const Shape *out, const int64_t *at) {
    int64_t off = 0, acc = 1;
    for (int i = out->rank - 1, k = s->rank - 1; k >= 0; i--, k--) {
        if (s->dims[k] != 1) off += at[i] * acc;
        acc *= s->dims[k];
    }
    return off;
}

static void index_next(const Shape *s, int64_t *at) {
    for (int r = s->rank - 1; r >= 0 && ++at[r] == s->dims[r]; r--)
        at[r] = 0;
}

/* The foldable math ops (OPF_FOLD in ops_math.def): one element at a
 * time in double and in int64, stored as the output's type wants. */
static int eval_elementwise(const Node *n, void *out) {
    const Value *y = n->outputs[0];
    int64_t cnt = shape_numel(&y->shape), at[IR_MAX_RANK] = {0};
    int nin = n->n_inputs, fl = 0;
    if ((n->op == OP_MIN || n->op == OP_MAX) && nin != 2) return -1;
    for (int j = 0; j < nin; j++)
        if (n->op == OP_WHERE ? j > 0 && is_float(n->inputs[j]->dtype)
                              : is_float(n->inputs[j]->dtype))
            fl = 1;
    for (int64_t i = 0; i < cnt; i++, index_next(&y->shape, at)) {
        int64_t o[3];
        for (int j = 0; j < nin && j < 3; j++)
            o[j] = bcast_offset(&n->inputs[j]->shape, &y->shape, at);
        const Value *a = n->inputs[0], *b = nin > 1 ? n->inputs[1] : NULL;
        double fa = load_f(a, o[0]), fb = b ? load_f(b, o[1]) : 0, fr = 0;
        int64_t ia = load_i(a, o[0]), ib = b ? load_i(b, o[1]) : 0, ir = 0;
        int rf = fl;
        switch (n->op) {
        case OP_ADD:
            fr = fa + fb, ir = (int64_t)((uint64_t)ia + (uint64_t)ib);
            break;
        case OP_SUB:
            fr = fa - fb, ir = (int64_t)((uint64_t)ia - (uint64_t)ib);
            break;
        case OP_MUL:
            fr = fa * fb, ir = (int64_t)((uint64_t)ia * (uint64_t)ib);
            break;
        case OP_DIV:
            fr = fa / fb;
            /* Integer division truncates toward zero in ONNX Runtime. */
            ir = ib ? ia / ib : 0;
            break;
        case OP_NEG:
            fr = -fa, ir = -ia;
            break;
        case OP_ABS:
            fr = fabs(fa), ir = ia < 0 ? -ia : ia;
            break;
        case OP_MIN:
            fr = fa < fb ? fa : fb, ir = ia < ib ? ia : ib;
            break;
        case OP_MAX:
            fr = fa > fb ? fa : fb, ir = ia > ib ? ia : ib;
            break;
        case OP_EQUAL:
            ir = fl ? fa == fb : ia == ib, rf = 0;
            break;
        case OP_LESS:
            ir = fl ? fa < fb : ia < ib, rf = 0;
            break;
        case OP_GREATER:
            ir = fl ? fa > fb : ia > ib, rf = 0;
            break;
        case OP_NOT:
            ir = !ia, rf = 0;
            break;
        case OP_CAST:
            fr = fa, ir = ia, rf = is_float(a->dtype);
            break;
        case OP_WHERE: {
            const Value *c = n->inputs[2];
            double fc = load_f(c, o[2]);
            int64_t ic = load_i(c, o[2]);
            fr = ia ? fb : fc;
            ir = ia ? ib : ic;
            break;
        }
        default:
            return -1; /* flagged OPF_FOLD, but no evaluator here */
        }
        store(y->dtype, out, i, fr, ir, rf);
    }
    return 0;
}

int fold_node_eval(const Node *n, void *out) {
    const Value *y = n->outputs[0], *x = n->n_inputs ? n->inputs[0] : NULL;
    size_t es = dtype_size(y->dtype);
    int64_t cnt = shape_numel(&y->shape);
    if (!es || shape_has_batch(&y->shape) || !(op_info(n->op)->flags & OPF_FOLD)) return -1;
    switch (n->op) {
    case OP_SHAPE: {
        int64_t from = ir_attr_int(n, "start", 0), to = ir_attr_int(n, "end", x->shape.rank);
        int r = x->shape.rank;
        if (from < 0) from += r;
        if (to < 0) to += r;
        from = from < 0 ? 0 : from > r ? r : from;
        for (int64_t k = from; k < from + cnt; k++)
            ((int64_t *)out)[k - from] =
                x->shape.dims[k] == DIM_BATCH ? FOLD_DIM_BATCH : x->shape.dims[k];
        return 0;
    }
    case OP_SIZE:
        if (shape_has_batch(&x->shape)) return -1;
        *(int64_t *)out = shape_numel(&x->shape);
        return 0;
    case OP_CONSTANT_OF_SHAPE: {
        const Attr *a = ir_attr(n, "value");
        char v[8] = {0};
        if (a && a->kind == ATTR_TENSOR && a->t && a->t->data) memcpy(v, a->t->data, es);
        for (int64_t i = 0; i < cnt; i++)
            memcpy((char *)out + i * es, v, es);
        return 0;
    }
    case OP_RANGE: /* computed by its shape function */
        if (n->plan_kind != PLAN_CONST) return -1;
        memcpy(out, n->plan.bytes, (size_t)cnt * es);
        return 0;
    default:
        break;
    }
    for (int j = 0; j < n->n_inputs; j++)
        if (n->inputs[j] && !n->inputs[j]->data) return -1;
    switch (n->op) {
    case OP_IDENTITY:
    case OP_RESHAPE:
    case OP_FLATTEN:
    case OP_SQUEEZE:
    case OP_UNSQUEEZE:
        memcpy(out, x->data, (size_t)cnt * es);
        return 0;
    case OP_GATHER: {
        const Value *ix = n->inputs[1];
        int64_t axis = ir_attr_int(n, "axis", 0);
        if (axis < 0) axis += x->shape.rank;
        int b;
        int64_t outer = shapes_product(&x->shape, 0, (int)axis, &b), len = x->shape.dims[axis];
        int64_t inner = shapes_product(&x->shape, (int)axis + 1, x->shape.rank, &b);
        int64_t ni = shape_numel(&ix->shape);
        for (int64_t o = 0; o < outer; o++)
            for (int64_t j = 0; j < ni; j++) {
                int64_t k = load_i(ix, j);
                if (k < 0) k += len;
                if (k < 0 || k >= len) return -1;
                memcpy((char *)out + (o * ni + j) * inner * (int64_t)es,
                       (const char *)x->data + (o * len + k) * inner * (int64_t)es,
                       (size_t)inner * es);
            }
        return 0;
    }
    case OP_CONCAT: {
        int64_t axis = ir_attr_int(n, "axis", 0);
        if (axis < 0) axis += y->shape.rank;
        int b;
        int64_t outer = shapes_product(&y->shape, 0, (int)axis, &b),
                ylen = shapes_product(&y->shape, (int)axis, y->shape.rank, &b);
        int64_t at = 0;
        for (int j = 0; j < n->n_inputs; j++) {
            const Value *v = n->inputs[j];
            if (!v) continue;
            int64_t len = shapes_product(&v->shape, (int)axis, v->shape.rank, &b);
            for (int64_t o = 0; o < outer; o++)
                memcpy((char *)out + (o * ylen + at) * (int64_t)es,
                       (const char *)v->data + o * len * (int64_t)es, (size_t)len * es);
            at += len;
        }
        return 0;
    }
    case OP_SLICE: {
        int64_t at[IR_MAX_RANK] = {0}, xs[IR_MAX_RANK];
        if (n->plan_kind != PLAN_SLICE) return -1;
        const int64_t *start = n->plan.slice->start, *step = n->plan.slice->step;
        for (int k = x->shape.rank - 1, acc = 1; k >= 0; k--) {
            xs[k] = acc;
            acc *= (int)x->shape.dims[k];
        }
        for (int64_t i = 0; i < cnt; i++, index_next(&y->shape, at)) {
            int64_t off = 0;
            for (int k = 0; k < x->shape.rank; k++)
                off += (start[k] + at[k] * step[k]) * xs[k];
            memcpy((char *)out + i * (int64_t)es, (const char *)x->data + off * (int64_t)es, es);
        }
        return 0;
    }
    case OP_EXPAND: {
        int64_t at[IR_MAX_RANK] = {0};
        for (int64_t i = 0; i < cnt; i++, index_next(&y->shape, at))
            memcpy((char *)out + i * (int64_t)es,
                   (const char *)x->data + bcast_offset(&x->shape, &y->shape, at) * (int64_t)es,
                   es);
        return 0;
    }
    default:
        break;
    }
    /* Arithmetic never sees the batch sentinel: it has no value. */
    for (int j = 0; j < n->n_inputs; j++)
        if (has_sentinel(n->inputs[j])) return -1;
    return eval_elementwise(n, out);
}

/* Data movement keeps the sentinel, and so does Cast from int64 to int64
 * (the OPF_SENTINEL flags in ops.def). */
static int passes_sentinel(const Node *n) {
    unsigned f = op_info(n->op)->flags;
    return (f & OPF_SENTINEL) || ((f & OPF_SENTINEL_I64) && n->outputs[0]->dtype == DT_I64 &&
                                  n->inputs[0]->dtype == DT_I64);
}

/* Slots that read a shape vector and understand the sentinel. */
static int accepts_sentinel(const Node *n, int slot) {
    return (n->op == OP_EXPAND && slot == 1) || (n->op == OP_CONSTANT_OF_SHAPE && slot == 0);
}

/* Reshape's target with the batch sentinel: "copy the input's dim" (0)
 * where the input has its batch dim at that position. */
static void reshape_resolve_batch(Graph *g, Node *n, Diag *d) {
    Value *x = n->inputs[0], *t = n->n_inputs > 1 ? n->inputs[1] : NULL;
    if (!has_sentinel(t) || ir_attr_int(n, "allowzero", 0)) return;
    int64_t cnt = shape_numel(&t->shape);
    int64_t *want = arena_alloc(g->arena, sizeof(int64_t) * (size_t)(cnt + 1));
    memcpy(want, t->data, sizeof(int64_t) * (size_t)cnt);
    for (int64_t i = 0; i < cnt; i++)
        if (want[i] == FOLD_DIM_BATCH) {
            if (i >= x->shape.rank || x->shape.dims[i] != DIM_BATCH) {
                shapes_batch_unrepresentable(n, d, "this reshape");
                return;
            }
            want[i] = 0;
        }
    Value *c = ir_value_add_fresh(g, arena_printf(g->arena, "%s.shape", n->name), DT_I64);
    c->shape = t->shape;
    c->data = want;
    n->inputs[1] = c;
}

int pass_fold_constants(Graph *g, Diag *d) {
    int before = diag_count(d);
    Node **folded_by = arena_alloc(g->arena, sizeof(Node *) * (size_t)(g->n_values + 1));
    int n_values = g->n_values;
    for (int i = 0; i < g->n_nodes; i++) {
        Node *n = g->nodes[i];
        int ready = n->op != OP_UNKNOWN && n->n_outputs >= 1;
        for (int j = 0; j < n->n_inputs; j++)
            if (n->inputs[j] && n->inputs[j]->shape.rank < 0) ready = 0;
        if (!ready) continue;
        if (n->op == OP_RESHAPE) reshape_resolve_batch(g, n, d);
        if (shapes_node(n, NULL)) {
            for (int j = 0; j < n->n_outputs; j++)
                if (n->outputs[j]) n->outputs[j]->shape.rank = -1;
            continue;
        }
        Value *y = n->outputs[0];
        if (n->n_outputs != 1 || y->output_index >= 0 || y->shape.rank < 0 ||
            shape_has_batch(&y->shape) || shape_numel(&y->shape) > FOLD_MAX_ELEMS ||
            !dtype_size(y->dtype))
            continue;
        int sentinel_in = 0;
        for (int j = 0; j < n->n_inputs; j++)
            sentinel_in |= has_sentinel(n->inputs[j]);
        if (sentinel_in && !passes_sentinel(n)) continue;
        size_t bytes = (size_t)shape_numel(&y->shape) * dtype_size(y->dtype);
        void *buf = arena_alloc_aligned(g->arena, bytes + 1, 64);
        if (fold_node_eval(n, buf)) continue;
        y->data = buf;
        y->producer = NULL;
        if (y->id < n_values) folded_by[y->id] = n;
        n->dead = 1;
    }
    /* A sentinel that reached a slot needing a number: run that chain at
     * run time after all (emit_shape writes the real batch size). */
    for (int changed = 1; changed;) {
        changed = 0;
        for (int i = 0; i < g->n_nodes; i++) {
            Node *n = g->nodes[i];
            if (n->dead) continue;
            for (int j = 0; j < n->n_inputs; j++) {
                Value *v = n->inputs[j];
                if (!has_sentinel(v) || accepts_sentinel(n, j) || v->id >= n_values) continue;
                Node *p = folded_by[v->id];
                if (!p) continue;
                v->data = NULL;
                v->producer = p;
                p->dead = 0;
                folded_by[v->id] = NULL;
                changed = 1;
            }
        }
    }
    /* What now depends on the run-time batch size must not feed a slot
     * that kiln needs at compile time. */
    char *batch_dep = arena_alloc(g->arena, (size_t)n_values + 1);
    for (int i = 0; i < g->n_nodes; i++) {
        Node *n = g->nodes[i];
        if (n->dead) continue;
        int dep = n->op == OP_SHAPE && shape_has_batch(&n->inputs[0]->shape);
        unsigned mask = op_info(n->op)->static_inputs;
        for (int j = 0; j < n->n_inputs; j++) {
            Value *v = n->inputs[j];
            if (!v || v->id >= n_values || !batch_dep[v->id]) continue;
            if (mask >> j & 1) {
                shapes_batch_unrepresentable(n, d, "computing this shape from the batch size");
                break;
            }
            dep = 1;
        }
        for (int j = 0; dep && j < n->n_outputs; j++)
            if (n->outputs[j] && n->outputs[j]->id < n_values) batch_dep[n->outputs[j]->id] = 1;
    }
    ir_graph_compact(g);
    return diag_count(d) > before ? -1 : 0;
}
