/* plan_memory.c: workspace offsets for intermediate tensors.
 *
 * Greedy first fit over lifetimes (definition to last use, in node order):
 * a tensor goes at the lowest offset not used by any tensor live at the
 * same time, so tensors whose lifetimes do not overlap share bytes.
 * Outputs are placed while the node's inputs are still live, so they never
 * alias. Symbolic sizes are placed at their upper bounds.
 *
 * Offsets are Dims. With static shapes every offset is the number first
 * fit found. Where some size is symbolic, the placement at the upper
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
    Dim *offset;        /* where its offset goes: Value.ws_offset or Node.scratch_offset */
} Slot;

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

/* First fit of s at the upper bounds among the live slots; -1 if the plan
 * outgrows the limits. */
static int place(Slot *const *live, int n_live, Slot *s) {
    int64_t off = 0;
    if (s->size == DIM_INVALID || s->hi > KILN_MAX_DYN_BYTES) return -1;
    for (int moved = 1; moved;) {
        moved = 0;
        for (int i = 0; i < n_live; i++)
            if (off < live[i]->off_hi + live[i]->hi && live[i]->off_hi < off + s->hi) {
                off = live[i]->off_hi + live[i]->hi;
                moved = 1;
            }
    }
    if (off > KILN_MAX_DYN_WORKSPACE_BYTES - s->hi) return -1;
    s->off_hi = off;
    return 0;
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

static int by_offset(const void *a, const void *b) {
    const Slot *x = *(Slot *const *)a, *y = *(Slot *const *)b;
    return x->off_hi < y->off_hi ? -1 : x->off_hi > y->off_hi;
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

    /* At most one slot per value and one per node. */
    int cap = g->n_values + g->n_nodes + 1, n_slots = 0, n_live = 0, symbolic = 0;
    Slot *slots = arena_alloc_array(g->arena, (size_t)cap, sizeof(Slot));
    Slot **live = arena_alloc_array(g->arena, (size_t)cap, sizeof(Slot *));
    for (int i = 0; i < g->n_nodes; i++) {
        Node *n = g->nodes[i];
        int n_out = late[i] ? 0 : n->n_outputs, n_early = early[i] ? early[i]->n_outputs : 0;
        for (int j = 0; j <= n_out + n_early; j++) {
            Slot *s = &slots[n_slots];
            if (j < n_out + n_early) {
                Value *v = j < n_out ? n->outputs[j] : early[i]->outputs[j - n_out];
                /* Graph outputs live in the caller's buffers. */
                if (!v || v->output_index >= 0) continue;
                s->size =
                    align64(dim_mul(dim_at_bound(shape_count(&v->shape)), elem_bytes(v->dtype)));
                s->last = last[v->id] < i ? i : last[v->id];
                s->offset = &v->ws_offset;
            } else {
                /* Scratch lives while the node runs, beside its inputs and
                 * outputs, or to the end if the outputs point into it. */
                if (n->scratch == 0) continue;
                s->size = align64(dim_at_bound(n->scratch));
                s->last = op_info(n->op)->flags & OPF_SCRATCH_KEEP ? g->n_nodes : i;
                s->offset = &n->scratch_offset;
            }
            s->first = i;
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
            if (place(live, n_live, s)) return too_large(n, d);
            symbolic |= s->size < 0;
            live[n_live++] = s;
            n_slots++;
        }
        /* Free what this node was the last to read (and unused outputs). */
        int k = 0;
        for (int s = 0; s < n_live; s++)
            if (live[s]->last > i) live[k++] = live[s];
        n_live = k;
    }
    Dim top = 0;
    if (!symbolic) {
        for (int i = 0; i < n_slots; i++) {
            *slots[i].offset = slots[i].off_hi;
            top = dim_max(top, slots[i].off_hi + slots[i].hi);
        }
    } else {
        Slot **order = live; /* free now */
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
    return 0;
}
