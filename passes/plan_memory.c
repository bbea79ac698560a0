/* plan_memory.c: workspace offsets for intermediate tensors.
 *
 * The workspace has two regions: tensors of fixed size first, then tensors
 * that scale with the batch, planned in bytes per batch item. A value's
 * address is ws + ws_offset + ws_batch_offset * batch, so one plan serves
 * every batch size. Within a region, greedy first fit over lifetimes
 * (definition to last use, in node order): a tensor is placed at the
 * lowest offset not used by any tensor live at the same time. Outputs are
 * placed while the node's inputs are still live, so they never alias.
 */
#include <assert.h>
#include "passes.h"

typedef struct Slot {
    int64_t off, size; /* in the region's units */
    int last;          /* index of the last node that reads it */
    int region;        /* 0 fixed, 1 per batch item */
} Slot;

static int64_t align64(int64_t x) {
    return (x + 63) & ~(int64_t)63;
}

/* Lowest offset in `region` where `size` fits between the live slots. */
static int64_t first_fit(Slot *live, int n_live, int region, int64_t size) {
    int64_t off = 0;
    for (;;) {
        int moved = 0;
        for (int i = 0; i < n_live; i++) {
            Slot *s = &live[i];
            if (s->region != region) continue;
            if (off < s->off + s->size && s->off < off + size) {
                off = s->off + s->size;
                moved = 1;
            }
        }
        if (!moved) return off;
    }
}

/* Bytes per element in the workspace: a string tensor (ONNX-ML labels)
 * holds pointers to the model's constant strings (kiln_model.h). */
static int64_t elem_bytes(DType t) {
    return t == DT_STRING ? (int64_t)sizeof(const char *) : (int64_t)dtype_size(t);
}

/* Every planned tensor and scratch area is 64-byte aligned and inside its
 * region: the fixed one [0, ws_static), the per-item one starting at
 * ws_static and ws_per_batch bytes per item. */
static void plan_check(const Graph *g) {
    for (int i = 0; i < g->n_nodes; i++) {
        const Node *n = g->nodes[i];
        for (int j = 0; j < n->n_outputs; j++) {
            const Value *v = n->outputs[j];
            if (!v || v->output_index >= 0) continue;
            int64_t size = shape_numel(&v->shape) * elem_bytes(v->dtype);
            assert(v->ws_offset % 64 == 0 && v->ws_batch_offset % 64 == 0);
            if (shape_has_batch(&v->shape))
                assert(v->ws_offset == g->ws_static &&
                       v->ws_batch_offset + size <= g->ws_per_batch);
            else
                assert(v->ws_batch_offset == 0 && v->ws_offset + size <= g->ws_static);
            (void)size;
        }
        if (n->scratch_per_batch > 0)
            assert(n->scratch_offset == g->ws_static &&
                   n->scratch_batch_offset + n->scratch + n->scratch_per_batch <= g->ws_per_batch);
        else if (n->scratch > 0)
            assert(n->scratch_batch_offset == 0 && n->scratch_offset + n->scratch <= g->ws_static);
        assert(n->scratch_offset % 64 == 0 && n->scratch_batch_offset % 64 == 0);
    }
}

/* Every size is at most KILN_MAX_TENSOR_BYTES (the shape pass checks
 * them) and every offset stays below KILN_MAX_WORKSPACE_BYTES, so no sum
 * here overflows. */
static int too_large(const Node *n, Diag *d) {
    diag_node(d, n,
              "the model needs more than kiln's limit of %lld bytes of working memory (batched "
              "tensors counted per item)",
              (long long)KILN_MAX_WORKSPACE_BYTES);
    diag_hint(d, "the model's intermediate tensors are too large to serve; check the shapes the "
                 "nodes compute (`kiln inspect`)");
    return -1;
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
    int64_t top[2] = {0, 0};
    for (int i = 0; i < g->n_nodes; i++) {
        Node *n = g->nodes[i];
        for (int j = 0; j < n->n_outputs; j++) {
            Value *v = n->outputs[j];
            /* Graph outputs live in the caller's buffers. */
            if (!v || v->output_index >= 0) continue;
            int region = shape_has_batch(&v->shape);
            int64_t size = align64(shape_numel(&v->shape) * elem_bytes(v->dtype));
            int64_t off = first_fit(live, n_live, region, size);
            live[n_live++] = (Slot){off, size, last[v->id] < i ? i : last[v->id], region};
            v->ws_offset = region ? 0 : off;
            v->ws_batch_offset = region ? off : 0;
            if (off > KILN_MAX_WORKSPACE_BYTES - size) return too_large(n, d);
            if (off + size > top[region]) top[region] = off + size;
        }
        /* Scratch lives while the node runs, beside its inputs and outputs.
         * One with a per-item part goes in the per-item region, sized for
         * both parts per item (simple, and such scratch is small). */
        if (n->scratch > 0 || n->scratch_per_batch > 0) {
            int region = n->scratch_per_batch > 0;
            int64_t size = align64(n->scratch + n->scratch_per_batch);
            int64_t off = first_fit(live, n_live, region, size);
            live[n_live++] = (Slot){off, size, i, region};
            n->scratch_offset = region ? 0 : off;
            n->scratch_batch_offset = region ? off : 0;
            if (off > KILN_MAX_WORKSPACE_BYTES - size) return too_large(n, d);
            if (off + size > top[region]) top[region] = off + size;
        }
        /* Free what this node was the last to read (and unused outputs). */
        int k = 0;
        for (int s = 0; s < n_live; s++)
            if (live[s].last > i) live[k++] = live[s];
        n_live = k;
    }
    /* The per-batch region starts where the fixed one ends. */
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i]->n_outputs; j++) {
            Value *v = g->nodes[i]->outputs[j];
            if (v && v->output_index < 0 && shape_has_batch(&v->shape)) v->ws_offset = top[0];
        }
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->scratch_per_batch > 0) g->nodes[i]->scratch_offset = top[0];
    g->ws_static = top[0];
    g->ws_per_batch = top[1];
    plan_check(g);
    return 0;
}
