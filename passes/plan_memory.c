/* plan_memory.c: workspace offsets for intermediate tensors.
 *
 * Each tensor (and each node's scratch) is a slot that lives from the
 * node that defines it to the last node that reads it, in node order.
 * Slots live at the same time get disjoint bytes; a node's outputs never
 * share its inputs' bytes, except in place: an element-wise op's output
 * takes the bytes of an input of the same size that dies at that node
 * (Relu, Add, Mul, Sigmoid...: the kernel reads element k of it only to
 * write element k), so the two are one slot. Symbolic sizes are placed at
 * their upper bounds.
 *
 * Placement is offline: every slot is known first, then placed in a few
 * orders (largest first, fixed sizes first, longest-lived first...), each
 * slot at the smallest gap among the slots live with it that holds it
 * (best fit); the plan keeps the order of the smallest peak. Graph.ws_lower
 * is the most bytes live at one time: no plan of these lifetimes needs
 * less. On the bench and e2e models the plan is within 1.12x of it
 * (ViT-tiny; resnet18 1.06x), most of them exactly at it.
 *
 * Offsets are Dims. With static shapes every offset is the number the
 * placement found. Where some size is symbolic, the placement at the upper
 * bounds only gives an order: a tensor's offset is the largest end
 * (offset + size, an expression) of the tensors below it there whose
 * lifetimes overlap its own. Every two tensors alive at once then stay
 * disjoint at any sizes the bounds allow (the lower one ends before the
 * upper one starts), and a call at small sizes needs a small workspace.
 *
 * A size that a kernel computes at run time (a data-dependent symbol,
 * dim.h: NonZero's count) is planned at its bound (dim_at_bound), so no
 * offset depends on it: the kernel writes the symbol while the offsets
 * computed from the input sizes stay valid.
 *
 * A Concat along its outer axis (every dim before the axis 1) is written
 * in place: a part whose only reader is the Concat takes the bytes of its
 * slice of the output, whose slot then lives from the first such part's
 * producer on, and the Concat copies only the other parts (emit_shape.c
 * skips a part already in its place). A part qualifies when its producer
 * is a node writing the workspace (not a graph input, constant or graph
 * output), not another Concat, and keeps no scratch; the output must not
 * be a graph output, all the shapes static, each slice 64-byte aligned,
 * and the graph without control flow. Along an inner axis the slices are
 * strided and nothing is in place.
 *
 * Control flow (compiler/ir/ops_control.def): a Loop or Scan runs the
 * nodes of its region again and again, so whatever they read from before
 * the region, and the begin node's outputs (the body's inputs), live until
 * the end node; and the end node's outputs, which it writes during the
 * iterations (a scan output slice by slice), are placed at the begin node.
 * An If needs nothing more: only one of its branches runs, so values of
 * the two may share bytes, and the end node reads both branches' results.
 */
#include <assert.h>
#include <stdlib.h>

#include "passes.h"

typedef struct Slot {
    Dim size;           /* bytes, 64-aligned */
    int64_t off_hi, hi; /* offset and size at the upper bounds */
    int first, last;    /* the nodes that define it and last read it */
    int seq;            /* creation order, the tie-break of the orders */
    int64_t key[2];     /* the sort keys of the order being placed */
    Dim *offset;        /* where its offset goes: Value.ws_offset or Node.scratch_offset */
} Slot;

/* An in-place output: it takes the bytes of an input's slot (a Concat
 * part: of its output's slot, add bytes in). */
typedef struct Alias {
    Value *v;
    const Slot *slot;
    int64_t add;
} Alias;

/* A Concat part written in place: into the output of the Concat at node
 * index at, add bytes in. */
typedef struct Part {
    const Node *concat; /* NULL: the value is not one */
    int at;
    int64_t add;
} Part;

static Dim align64(Dim x) {
    return dim_mul(dim_ceildiv(x, 64), 64);
}

/* Bytes per element in the workspace: a string tensor (ONNX-ML labels)
 * holds pointers to the model's constant strings (kiln_model.h). */
static int64_t elem_bytes(DType t) {
    return t == DT_STRING ? (int64_t)sizeof(const char *) : (int64_t)dtype_size(t);
}

static int64_t upper(Dim x) {
    int64_t lo, hi;
    return dim_bounds(x, &lo, &hi) ? INT64_MAX : hi;
}

static int too_large(const Node *n, Diag *d) {
    diag_node(d, n,
              "the model needs more than kiln's limit of %lld bytes of working memory (%lld with "
              "its dynamic dims at their upper bounds)",
              (long long)KILN_MAX_WORKSPACE_BYTES, (long long)KILN_MAX_DYN_WORKSPACE_BYTES);
    diag_hint(d, "the model's intermediate tensors are too large to serve; check the shapes the "
                 "nodes compute (`kiln inspect`), or give smaller bounds with --shape or --dim");
    return -1;
}

static int live_together(const Slot *a, const Slot *b) {
    return a->first <= b->last && b->first <= a->last;
}

static int by_offset(const void *a, const void *b) {
    const Slot *x = *(Slot *const *)a, *y = *(Slot *const *)b;
    return x->off_hi < y->off_hi ? -1 : x->off_hi > y->off_hi;
}

/* Best fit of s at the upper bounds: the smallest gap between the placed
 * slots live together with it that holds it, else just above them all.
 * conflict is scratch room for n_placed pointers. -1 if the plan outgrows
 * the limits. */
static int place(Slot *const *placed, int n_placed, Slot **conflict, Slot *s) {
    int n = 0;
    for (int i = 0; i < n_placed; i++)
        if (live_together(placed[i], s)) conflict[n++] = placed[i];
    qsort(conflict, (size_t)n, sizeof *conflict, by_offset);
    int64_t end = 0, best = -1, best_gap = INT64_MAX;
    for (int i = 0; i < n; i++) {
        int64_t gap = conflict[i]->off_hi - end;
        if (gap >= s->hi && gap < best_gap) best = end, best_gap = gap;
        if (conflict[i]->off_hi + conflict[i]->hi > end)
            end = conflict[i]->off_hi + conflict[i]->hi;
    }
    int64_t off = best >= 0 ? best : end;
    if (off > KILN_MAX_DYN_WORKSPACE_BYTES - s->hi) return -1;
    s->off_hi = off;
    return 0;
}

/* The placement orders tried (the plan keeps the one with the smallest
 * peak at the upper bounds, the earlier on a tie). Largest first packs
 * best, as the big tensors leave gaps the small ones fill; fixed sizes
 * before symbolic ones keep their offsets constants below the tensors
 * that scale; longest-lived first, and largest size x lifetime first,
 * help where long-lived tensors (a transformer's residual stream) would
 * otherwise split the free bytes; node order is the plain first-come
 * plan. */
enum { ORDER_FIXED_FIRST, ORDER_LARGEST, ORDER_LONGEST, ORDER_AREA, ORDER_NODES, N_ORDERS };

static void order_keys(Slot *s, int kind) {
    int64_t span = s->last - s->first + 1, area;
    s->key[0] = kind == ORDER_FIXED_FIRST ? s->size >= 0
                : kind == ORDER_LARGEST   ? s->hi
                : kind == ORDER_LONGEST   ? span
                : kind == ORDER_AREA
                    ? (__builtin_mul_overflow(s->hi, span, &area) ? INT64_MAX : area)
                    : 0;
    s->key[1] = kind == ORDER_NODES ? 0 : s->hi;
}

/* Keys descending, then creation order. */
static int by_keys(const void *a, const void *b) {
    const Slot *x = *(Slot *const *)a, *y = *(Slot *const *)b;
    for (int k = 0; k < 2; k++)
        if (x->key[k] != y->key[k]) return x->key[k] > y->key[k] ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Places every slot in the order kind, setting off_hi; the peak at the
 * upper bounds, or -1 if the plan outgrows the limits. */
static int64_t plan_order(Slot *slots, int n_slots, Slot **order, Slot **conflict, int kind) {
    for (int i = 0; i < n_slots; i++) {
        order_keys(&slots[i], kind);
        order[i] = &slots[i];
    }
    qsort(order, (size_t)n_slots, sizeof *order, by_keys);
    int64_t peak = 0;
    for (int i = 0; i < n_slots; i++) {
        if (place(order, i, conflict, order[i])) return -1;
        if (order[i]->off_hi + order[i]->hi > peak) peak = order[i]->off_hi + order[i]->hi;
    }
    return peak;
}

/* The most bytes live at one time at the upper bounds: no plan of these
 * lifetimes needs less. */
static int64_t lower_bound(const Graph *g, const Slot *slots, int n_slots) {
    int64_t *delta = arena_alloc_array(g->arena, (size_t)g->n_nodes + 2, sizeof(int64_t));
    for (int i = 0; i < n_slots; i++) {
        delta[slots[i].first] += slots[i].hi;
        delta[slots[i].last + 1] -= slots[i].hi;
    }
    int64_t live = 0, most = 0;
    for (int i = 0; i <= g->n_nodes; i++) {
        live += delta[i];
        if (live > most) most = live;
    }
    return most;
}

/* The input of n whose bytes its output v may take, or -1: an element-wise
 * kernel (the kernel column of ops.def) reads element k of an input of
 * the output's size only to write element k of the output, so the output
 * may overwrite such an input that dies at n. Not Sum/Max/Min/Mean of
 * more than two inputs, whose steps write the output before reading the
 * third; not an input a broadcast reads more than once (a smaller count).
 * In place, the kernels' restrict pointers alias, which C leaves
 * undefined; it is safe for these loops, where each output element is
 * computed from the same input element, read once, before its store. */
static int inplace_input(const Node *n, const Value *v, int i, Slot *const *slot_of) {
    const OpInfo *info = op_info(n->op);
    int n_cand = info->kernel.kind == KERNEL_UNARY    ? 1
                 : info->kernel.kind == KERNEL_BINARY ? (n->n_inputs == 2 ? 2 : 0)
                                                      : 0;
    if (n->n_outputs != 1) return -1;
    for (int k = 0; k < n_cand && k < n->n_inputs; k++) {
        const Value *in = n->inputs[k];
        if (!in || !slot_of[in->id] || slot_of[in->id]->last != i) continue;
        if (!in->producer || (op_info(in->producer->op)->flags & OPF_SCRATCH_KEEP)) continue;
        if (elem_bytes(in->dtype) != elem_bytes(v->dtype) || v->dtype == DT_STRING) continue;
        Dim a = shape_count(&in->shape), b = shape_count(&v->shape);
        if (a == DIM_INVALID || a != b || dim_is_data(a)) continue;
        return k;
    }
    return -1;
}

/* The index of the end node of the region node i opens. */
static int region_end_index(const Graph *g, int i) {
    int depth = 0;
    for (int k = i + 1; k < g->n_nodes; k++) {
        unsigned f = op_info(g->nodes[k]->op)->flags;
        if (f & OPF_REGION_BEGIN) depth++;
        if ((f & OPF_REGION_END) && depth-- == 0) return k;
    }
    return -1; /* none: not a verified graph (ir_graph_verify checks the nesting) */
}

/* Lifetimes across the loops (see the header): last[] extended, and
 * early[b] = the end node whose outputs are placed at loop begin node b,
 * late[e] = 1 for that end node. */
static void loops_extend(const Graph *g, int *last, Node **early, char *late) {
    int *def = arena_alloc_array(g->arena, (size_t)g->n_values + 1, sizeof(int));
    for (int i = 0; i < g->n_values; i++)
        def[i] = -1;
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i]->n_outputs; j++)
            if (g->nodes[i]->outputs[j]) def[g->nodes[i]->outputs[j]->id] = i;
    for (int b = 0; b < g->n_nodes; b++) {
        const Node *n = g->nodes[b];
        if (!(op_info(n->op)->flags & OPF_REGION_BEGIN) || n->op == OP_IF) continue;
        int e = region_end_index(g, b);
        if (e < 0) continue;
        early[b] = g->nodes[e];
        late[e] = 1;
        for (int j = 0; j < n->n_outputs; j++)
            if (n->outputs[j] && last[n->outputs[j]->id] < e) last[n->outputs[j]->id] = e;
        for (int j = 0; j < g->nodes[e]->n_outputs; j++) {
            const Value *v = g->nodes[e]->outputs[j];
            if (v && last[v->id] < e) last[v->id] = e;
        }
        for (int k = b + 1; k <= e; k++)
            for (int j = 0; j < g->nodes[k]->n_inputs; j++) {
                const Value *v = g->nodes[k]->inputs[j];
                if (v && def[v->id] <= b && last[v->id] < e) last[v->id] = e;
            }
    }
}

static int is_static(const Shape *s) {
    for (int k = 0; k < s->rank; k++)
        if (s->dims[k] < 0) return 0;
    return s->rank >= 0;
}

/* The Concat parts written in place (see the header). */
static void concat_parts(const Graph *g, Part *part) {
    for (int i = 0; i < g->n_nodes; i++)
        if (op_info(g->nodes[i]->op)->flags & (OPF_REGION_BEGIN | OPF_REGION_END)) return;
    for (int i = 0; i < g->n_nodes; i++) {
        const Node *n = g->nodes[i];
        const Value *y = n->n_outputs == 1 ? n->outputs[0] : NULL;
        if (n->op != OP_CONCAT || !y || y->output_index >= 0 || y->dtype == DT_STRING ||
            !is_static(&y->shape))
            continue;
        int64_t axis = ir_attr_int(n, "axis", 0), outer = 1, add = 0;
        if (axis < 0) axis += y->shape.rank;
        for (int k = 0; k < axis && k < y->shape.rank; k++)
            outer *= y->shape.dims[k];
        if (axis < 0 || axis >= y->shape.rank || outer != 1) continue;
        for (int j = 0; j < n->n_inputs; j++) {
            const Value *x = n->inputs[j];
            if (!x) continue;
            int64_t bytes;
            if (!is_static(&x->shape) || x->dtype != y->dtype ||
                __builtin_mul_overflow(shape_numel(&x->shape), elem_bytes(x->dtype), &bytes))
                break;
            const Node *p = x->producer;
            if (p && !x->data && x->input_index < 0 && x->output_index < 0 && x->n_uses == 1 &&
                p->op != OP_CONCAT && !(op_info(p->op)->flags & OPF_SCRATCH_KEEP) && add % 64 == 0)
                part[x->id] = (Part){n, i, add};
            if (__builtin_add_overflow(add, bytes, &add)) break;
        }
    }
}

int pass_plan_memory(Graph *g, Diag *d) {
    for (int i = 0; i < g->n_values; i++) /* Requires: shapes inferred */
        assert(g->values[i]->shape.rank >= 0 || !g->values[i]->producer);
    ir_graph_recount(g);
    int *last = arena_alloc(g->arena, sizeof(int) * (size_t)(g->n_values + 1));
    for (int i = 0; i < g->n_values; i++)
        last[i] = -1;
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i]->n_inputs; j++)
            if (g->nodes[i]->inputs[j]) last[g->nodes[i]->inputs[j]->id] = i;
    Node **early = arena_alloc_array(g->arena, (size_t)g->n_nodes + 1, sizeof(Node *));
    char *late = arena_alloc(g->arena, (size_t)g->n_nodes + 1); /* outputs placed early */
    loops_extend(g, last, early, late);

    /* At most one slot per value and one per node; an in-place output
     * extends its input's slot instead of taking one. */
    int cap = g->n_values + g->n_nodes + 1, n_slots = 0, n_alias = 0, symbolic = 0;
    Slot *slots = arena_alloc_array(g->arena, (size_t)cap, sizeof(Slot));
    Slot **slot_of = arena_alloc_array(g->arena, (size_t)g->n_values + 1, sizeof(Slot *));
    Alias *alias = arena_alloc_array(g->arena, (size_t)g->n_values + 1, sizeof(Alias));
    Part *part = arena_alloc_array(g->arena, (size_t)g->n_values + 1, sizeof(Part));
    concat_parts(g, part);
    for (int i = 0; i < g->n_nodes; i++) {
        Node *n = g->nodes[i];
        int n_out = late[i] ? 0 : n->n_outputs, n_early = early[i] ? early[i]->n_outputs : 0;
        for (int j = 0; j <= n_out + n_early; j++) {
            Slot *s = &slots[n_slots];
            if (j < n_out + n_early) {
                Value *v = j < n_out ? n->outputs[j] : early[i]->outputs[j - n_out];
                /* Graph outputs live in the caller's buffers. */
                if (!v || v->output_index >= 0) continue;
                /* A Concat's output already placed by a part; a part goes
                 * into the output's slot, made here for the first. */
                if (slot_of[v->id]) continue;
                const Part *pt = &part[v->id];
                if (pt->concat) {
                    Value *y = pt->concat->outputs[0];
                    alias[n_alias] = (Alias){v, NULL, pt->add};
                    if (slot_of[y->id]) {
                        alias[n_alias++].slot = slot_of[y->id];
                        slot_of[v->id] = slot_of[y->id];
                        continue;
                    }
                    alias[n_alias++].slot = s;
                    slot_of[v->id] = s;
                    v = y;
                }
                int k = j < n_out && !pt->concat ? inplace_input(n, v, i, slot_of) : -1;
                if (k >= 0) {
                    Slot *in = slot_of[n->inputs[k]->id];
                    in->last = last[v->id] < i ? i : last[v->id];
                    slot_of[v->id] = in;
                    alias[n_alias++] = (Alias){v, in, 0};
                    continue;
                }
                s->size =
                    align64(dim_mul(dim_at_bound(shape_count(&v->shape)), elem_bytes(v->dtype)));
                s->last = last[v->id] < i ? i : last[v->id];
                if (pt->concat && s->last < pt->at) s->last = pt->at;
                s->offset = &v->ws_offset;
                slot_of[v->id] = s;
            } else {
                /* Scratch lives while the node runs, beside its inputs and
                 * outputs, or to the end if the outputs point into it. */
                if (n->scratch == 0) continue;
                s->size = align64(dim_at_bound(n->scratch));
                s->last = op_info(n->op)->flags & OPF_SCRATCH_KEEP ? g->n_nodes : i;
                s->offset = &n->scratch_offset;
            }
            s->first = i;
            s->seq = n_slots;
            if (s->size == DIM_INVALID && j < n->n_outputs &&
                dim_is_data(shape_count(&n->outputs[j]->shape))) {
                char buf[160];
                diag_node(d, n,
                          "output '%s' has shape %s, whose size kiln cannot bound from the "
                          "sizes computed at run time in it",
                          n->outputs[j]->name, shape_str(&n->outputs[j]->shape, buf, sizeof buf));
                diag_hint(d, "kiln plans such sizes at their upper bounds; keep them to sums and "
                             "products of the sizes");
                return -1;
            }
            s->hi = upper(s->size);
            if (s->size == DIM_INVALID || s->hi > KILN_MAX_DYN_BYTES) return too_large(n, d);
            symbolic |= s->size < 0;
            n_slots++;
        }
    }

    /* Every order, then the best one again (the offsets are the last
     * placement's). Each placement costs n_slots^2: a huge graph gets
     * only the first order. */
    Slot **order = arena_alloc_array(g->arena, (size_t)n_slots + 1, sizeof(Slot *));
    Slot **conflict = arena_alloc_array(g->arena, (size_t)n_slots + 1, sizeof(Slot *));
    int best = 0, n_orders = n_slots > 8192 ? 1 : N_ORDERS;
    int64_t best_peak = -1;
    for (int kind = 0; kind < n_orders; kind++) {
        int64_t peak = plan_order(slots, n_slots, order, conflict, kind);
        if (peak >= 0 && (best_peak < 0 || peak < best_peak)) best = kind, best_peak = peak;
    }
    if (best_peak < 0 ||
        (best != n_orders - 1 && plan_order(slots, n_slots, order, conflict, best) < 0))
        return too_large(g->n_nodes ? g->nodes[g->n_nodes - 1] : NULL, d);
    g->ws_lower = lower_bound(g, slots, n_slots);

    Dim top = 0;
    if (!symbolic) {
        for (int i = 0; i < n_slots; i++) {
            *slots[i].offset = slots[i].off_hi;
            top = dim_max(top, slots[i].off_hi + slots[i].hi);
        }
    } else {
        for (int i = 0; i < n_slots; i++)
            order[i] = &slots[i];
        qsort(order, (size_t)n_slots, sizeof *order, by_offset);
        for (int i = 0; i < n_slots; i++) {
            Slot *s = order[i];
            Dim off = 0;
            for (int j = 0; j < i; j++) {
                const Slot *b = order[j];
                if (b->first <= s->last && s->first <= b->last)
                    off = dim_max(off, dim_add(*b->offset, b->size));
            }
            *s->offset = off;
            top = dim_max(top, dim_add(off, s->size));
        }
    }
    int64_t c;
    if (top == DIM_INVALID || (dim_value(top, &c) && c > KILN_MAX_WORKSPACE_BYTES) ||
        upper(top) > KILN_MAX_DYN_WORKSPACE_BYTES)
        return too_large(g->n_nodes ? g->nodes[g->n_nodes - 1] : NULL, d);
    g->ws_size = top;
    for (int i = 0; i < n_alias; i++)
        alias[i].v->ws_offset = dim_add(*alias[i].slot->offset, alias[i].add);
    return 0;
}
