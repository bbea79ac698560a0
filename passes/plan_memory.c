/* plan_memory.c: workspace offsets for intermediate tensors.
 *
 * Greedy first fit over lifetimes (definition to last use, in node order),
 * planned with every symbolic size at its upper bound: a tensor goes at
 * the lowest offset not used by any tensor live at the same time, so
 * tensors whose lifetimes do not overlap share bytes. Outputs are placed
 * while the node's inputs are still live, so they never alias.
 *
 * Offsets are Dims. Where sizes are symbolic, a tensor's offset is not the
 * number found at the upper bounds but the largest end (offset + size) of
 * the live tensors placed below it there, as an expression: at any sizes
 * the bounds allow, every pair of tensors alive at once stays disjoint, and
 * a call at small sizes needs a small workspace. With static shapes every
 * offset is a number, as before.
 */
#include <assert.h>

#include "passes.h"

typedef struct Slot {
    Dim off, size;        /* bytes, 64-aligned */
    int64_t off_hi, hi;   /* the same at the upper bounds */
    int last;             /* index of the last node that reads it */
} Slot;

static Dim align64(Dim x) {
    return dim_mul(dim_ceildiv(x, 64), 64);
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

/* Places a slot of `size` among the live ones; -1 if the plan outgrows the
 * limits. */
static int place(Slot *live, int n_live, Slot *s, Dim size, int last) {
    int64_t hi = upper(size);
    if (size == DIM_INVALID || hi > KILN_MAX_DYN_BYTES) return -1;
    int64_t off = 0;
    Dim o = 0;
    for (int moved = 1; moved;) {
        moved = 0;
        for (int i = 0; i < n_live; i++)
            if (off < live[i].off_hi + live[i].hi && live[i].off_hi < off + hi) {
                off = live[i].off_hi + live[i].hi;
                moved = 1;
            }
        if (moved) continue;
        o = 0;
        for (int i = 0; i < n_live; i++)
            if (live[i].off_hi + live[i].hi <= off)
                o = dim_max(o, dim_add(live[i].off, live[i].size));
        if (o == DIM_INVALID) return -1;
        /* A slot above this one at the upper bounds must stay above it at
         * every size: one whose offset shrinks with the symbols (a tensor
         * after an N-sized one) may come down onto it, so go past it. */
        Dim end = dim_add(o, size);
        for (int i = 0; i < n_live && !moved; i++)
            if (live[i].off_hi >= off + hi && !dim_provably_le(end, live[i].off)) {
                off = live[i].off_hi + live[i].hi;
                moved = 1;
            }
    }
    if (o == DIM_INVALID || off > KILN_MAX_DYN_WORKSPACE_BYTES - hi) return -1;
    *s = (Slot){o, size, off, hi, last};
    return 0;
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

    Slot *live = arena_alloc(g->arena, sizeof(Slot) * (size_t)(g->n_values + 2));
    int n_live = 0;
    Dim top = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        Node *n = g->nodes[i];
        for (int j = 0; j < n->n_outputs; j++) {
            Value *v = n->outputs[j];
            /* Graph outputs live in the caller's buffers. */
            if (!v || v->output_index >= 0) continue;
            Dim size = align64(dim_mul(shape_count(&v->shape), (int64_t)dtype_size(v->dtype)));
            Slot *s = &live[n_live];
            if (place(live, n_live, s, size, last[v->id] < i ? i : last[v->id]))
                return too_large(n, d);
            n_live++;
            v->ws_offset = s->off;
            top = dim_max(top, dim_add(s->off, s->size));
        }
        /* Scratch lives while the node runs, beside its inputs and outputs. */
        if (n->scratch != 0) {
            Slot *s = &live[n_live];
            if (place(live, n_live, s, align64(n->scratch), i)) return too_large(n, d);
            n_live++;
            n->scratch_offset = s->off;
            top = dim_max(top, dim_add(s->off, s->size));
        }
        /* Free what this node was the last to read (and unused outputs). */
        int k = 0;
        for (int s = 0; s < n_live; s++)
            if (live[s].last > i) live[k++] = live[s];
        n_live = k;
    }
    int64_t c;
    if (top == DIM_INVALID || (dim_value(top, &c) && c > KILN_MAX_WORKSPACE_BYTES) ||
        upper(top) > KILN_MAX_DYN_WORKSPACE_BYTES)
        return too_large(g->n_nodes ? g->nodes[g->n_nodes - 1] : NULL, d);
    g->ws_size = top;
    return 0;
}
