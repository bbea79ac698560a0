/* emit_tree.c: tree ensembles (TreeEnsembleClassifier/Regressor) as
 * native code.
 *
 * Every tree becomes compare-and-branch code over the row's features: a
 * branch node is a load of its feature, one fcmp against its threshold
 * (an immediate) and a conditional branch; NaN goes where the node's
 * missing-value rule says through the choice of an ordered or unordered
 * predicate, so there is no separate NaN test. Each tree ends in a join
 * block whose phis carry the reached leaf's weights into the row's
 * accumulators (doubles in memory: one load, add and store per tree).
 *
 * The trees are emitted into functions `void tree(row, acc)` of at most
 * TREE_FN_NODES branch nodes each, called in turn for each row by a loop
 * in the run function: LLVM never sees one giant function and compile time
 * stays linear in the ensemble's size. The tree functions are already in
 * their final form (no memory but the feature loads, constants inline),
 * so they skip the IR optimiser (optnone), which on 100,000-block
 * functions is slow and finds nothing to improve. The row loop then
 * stores the raw sums into the scores tensor and kiln_tree_rows_finish
 * (runtime/kernels/tree.c) applies base values, aggregation, the
 * post_transform and the labels.
 *
 * LLVM's code generation costs about 100 us per branch, so compare-and-
 * branch code is only for ensembles of up to TREE_CODE_BRANCHES branches.
 * Every ensemble also gets the table form (tree.h's KilnTreeTable):
 * constant arrays, which cost nothing to compile, walked by
 * kiln_tree_table_rows 32 rows or trees at a time, branchlessly over
 * complete trees where padding the trees to complete ones costs at most
 * TREE_PAD times their nodes. A block of TREE_TABLE_ROWS rows or more runs
 * the table (the walks of 32 rows overlap, and code's branches mispredict
 * on half the nodes), fewer rows the code when there is any: on 100 trees
 * of depth 6, code takes 0.37 us a row at 1 row, the table 0.64; at 32
 * rows, code 0.72 us a row, the table 0.57. --trees code|table
 * (CodegenOptions.trees) forces one form.
 */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"
#include "tree.h"
#include "tree_plan.h"

static_assert((int)TREE_POST_NONE == KILN_TREE_POST_NONE &&
                  (int)TREE_POST_SOFTMAX == KILN_TREE_POST_SOFTMAX &&
                  (int)TREE_POST_LOGISTIC == KILN_TREE_POST_LOGISTIC &&
                  (int)TREE_POST_SOFTMAX_ZERO == KILN_TREE_POST_SOFTMAX_ZERO &&
                  (int)TREE_POST_PROBIT == KILN_TREE_POST_PROBIT,
              "TreePost (tree_plan.h) and KILN_TREE_POST_* (tree.h) differ");
static_assert((int)TREE_AGG_SUM == KILN_TREE_SUM && (int)TREE_AGG_AVERAGE == KILN_TREE_AVERAGE &&
                  (int)TREE_AGG_MIN == KILN_TREE_MIN && (int)TREE_AGG_MAX == KILN_TREE_MAX,
              "TreeAggregate (tree_plan.h) and KILN_TREE_* (tree.h) differ");

/* Branch nodes per tree function: LLVM's code generation is superlinear in
 * a function's size (200 trees of depth 6 compile in 3.5 s in functions of
 * 32,768 branches, 1.5 s in functions of 4,096). */
enum { TREE_FN_NODES = 4096 };

/* Ensembles of more branches get no code (at 100 us a branch, 1.6 s), the
 * padding a complete table may add, its deepest trees, and the rows from
 * which a block runs the table rather than the code. */
enum { TREE_CODE_BRANCHES = 16384, TREE_PAD = 4, TREE_COMPLETE_DEPTH = 16, TREE_TABLE_ROWS = 32 };

typedef struct TreeEmit {
    Codegen *cg;
    const TreePlan *p;
    LLVMBuilderRef b;
    LLVMTypeRef f64;
    LLVMValueRef fn, row, acc;   /* the tree function and its arguments */
    LLVMBasicBlockRef cur_block; /* where the next tree starts */
    LLVMValueRef *cur;           /* [n_targets] accumulator value, NULL until loaded */
    /* Per tree, reused: */
    int32_t *stack;           /* [n_nodes] nodes whose block is to be emitted */
    LLVMBasicBlockRef *block; /* [n_nodes] block of a branch node (NULL: not yet made) */
    int32_t *touched;         /* [2 n_targets] slots: targets the tree's leaves give weights
                                 to, then n_targets + t for each whose has-count it needs */
    int32_t *slot;            /* [2 n_targets] index in touched, -1 if not */
    int32_t *count, *mark;    /* [n_targets] leaves touching a slot; last leaf counted */
    uint8_t *sure;            /* [n_targets] some tree of the function scores it on every path */
    int n_touched;
    double *vals; /* [n_targets] a leaf's combined weights, by slot */
} TreeEmit;

static double neutral(const TreePlan *p) {
    return p->aggregate == TREE_AGG_MIN ? INFINITY : p->aggregate == TREE_AGG_MAX ? -INFINITY : 0.0;
}

/* A leaf's weight for each touched slot, combined (a leaf may give one
 * target several weights) the way the aggregate combines trees. Slot ids
 * n_targets + t count the trees that gave target t a weight (ONNX Runtime
 * tells a target no tree scored from one scored 0). */
static void leaf_values(TreeEmit *te, const TreeNode *leaf) {
    const TreePlan *p = te->p;
    for (int i = 0; i < te->n_touched; i++)
        te->vals[i] = te->touched[i] < p->n_targets ? neutral(p) : 0.0;
    for (int32_t j = leaf->w_first; j < leaf->w_first + leaf->n_w; j++) {
        int32_t t = p->w_target[j];
        double *v = &te->vals[te->slot[t]];
        double w = p->w_value[j];
        if (p->aggregate == TREE_AGG_MIN)
            *v = w < *v ? w : *v;
        else if (p->aggregate == TREE_AGG_MAX)
            *v = w > *v ? w : *v;
        else
            *v += w;
        if (te->slot[p->n_targets + t] >= 0) te->vals[te->slot[p->n_targets + t]] = 1.0;
    }
}

static LLVMRealPredicate node_pred(const TreeNode *t) {
    int m = t->missing_true; /* unordered predicates are true on NaN */
    switch (t->mode) {
    case TREE_BRANCH_LEQ:
        return m ? LLVMRealULE : LLVMRealOLE;
    case TREE_BRANCH_LT:
        return m ? LLVMRealULT : LLVMRealOLT;
    case TREE_BRANCH_GTE:
        return m ? LLVMRealUGE : LLVMRealOGE;
    case TREE_BRANCH_GT:
        return m ? LLVMRealUGT : LLVMRealOGT;
    case TREE_BRANCH_EQ:
        return m ? LLVMRealUEQ : LLVMRealOEQ;
    default:
        return LLVMRealUNE; /* NEQ: NaN != t is true either way */
    }
}

/* Adds the leaf's values as the incoming values of the join phis from the
 * current block. */
static void phi_add(TreeEmit *te, LLVMValueRef *phis, const TreeNode *leaf,
                    LLVMBasicBlockRef from) {
    leaf_values(te, leaf);
    for (int i = 0; i < te->n_touched; i++) {
        LLVMValueRef v = LLVMConstReal(te->f64, te->vals[i]);
        LLVMAddIncoming(phis[i], &v, &from, 1);
    }
}

/* The accumulators live in memory between trees (a load, an add and a
 * store at each tree's end): values kept in registers across thousands of
 * blocks make LLVM's greedy register allocator quadratic in the function. */
static void acc_combine(TreeEmit *te, LLVMBuilderRef entry, int32_t t, LLVMValueRef v) {
    (void)entry;
    LLVMBuilderRef b = te->b;
    LLVMValueRef idx = LLVMConstInt(te->cg->i64, (unsigned long long)t, 0);
    LLVMValueRef addr = LLVMBuildGEP2(b, te->f64, te->acc, &idx, 1, "");
    LLVMValueRef a = LLVMBuildLoad2(b, te->f64, addr, "acc");
    switch (t >= te->p->n_targets ? TREE_AGG_SUM : te->p->aggregate) {
    case TREE_AGG_MIN:
        te->cur[t] = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOLT, v, a, ""), v, a, "min");
        break;
    case TREE_AGG_MAX:
        te->cur[t] = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGT, v, a, ""), v, a, "max");
        break;
    default:
        te->cur[t] = LLVMBuildFAdd(b, a, v, "sum");
    }
    LLVMBuildStore(b, te->cur[t], addr);
    te->cur[t] = NULL; /* stored */
}

/* One tree at the builder's position, which it leaves at the tree's join. */
static void tree_emit(TreeEmit *te, LLVMBuilderRef entry, int32_t root) {
    const TreePlan *p = te->p;
    Codegen *cg = te->cg;
    LLVMBuilderRef b = te->b;
    LLVMPositionBuilderAtEnd(b, te->cur_block);
    /* The targets the tree's leaves touch, and those some leaf does not:
     * their has-counts are slots too. */
    int32_t sp = 0, n_leaves = 0;
    te->n_touched = 0;
    te->stack[sp++] = root;
    while (sp) {
        const TreeNode *t = &p->nodes[te->stack[--sp]];
        if (t->mode != TREE_LEAF) {
            te->stack[sp++] = t->child[0];
            te->stack[sp++] = t->child[1];
            continue;
        }
        n_leaves++;
        for (int32_t j = t->w_first; j < t->w_first + t->n_w; j++) {
            int32_t id = p->w_target[j];
            if (te->slot[id] < 0) {
                te->slot[id] = te->n_touched;
                te->count[te->n_touched] = 0;
                te->touched[te->n_touched++] = id;
            }
            /* Count each leaf once per target: weights of a leaf are contiguous
             * by leaf, so the last leaf counted is in mark. */
            if (te->mark[id] != t - p->nodes + 1) {
                te->mark[id] = (int32_t)(t - p->nodes + 1);
                te->count[te->slot[id]]++;
            }
        }
    }
    for (int i = 0, n0 = te->n_touched; i < n0; i++) {
        int32_t id = te->touched[i];
        if (te->count[i] == n_leaves) {
            te->sure[id] = 1;
        } else {
            te->slot[p->n_targets + id] = te->n_touched;
            te->touched[te->n_touched++] = p->n_targets + id;
        }
    }
    if (p->nodes[root].mode == TREE_LEAF) {
        leaf_values(te, &p->nodes[root]);
        for (int i = 0; i < te->n_touched; i++)
            acc_combine(te, entry, te->touched[i], LLVMConstReal(te->f64, te->vals[i]));
    } else {
        LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(cg->ctx, te->fn, "join");
        LLVMPositionBuilderAtEnd(b, join);
        LLVMValueRef *phis = malloc(sizeof(LLVMValueRef) * ((size_t)te->n_touched + 1));
        if (!phis) kiln_oom("tree phis");
        for (int i = 0; i < te->n_touched; i++)
            phis[i] = LLVMBuildPhi(b, te->f64, "leaf");
        te->block[root] = te->cur_block; /* the root's test goes in the current block */
        sp = 0;
        te->stack[sp++] = root;
        while (sp) {
            int32_t k = te->stack[--sp];
            const TreeNode *t = &p->nodes[k];
            LLVMBasicBlockRef here = te->block[k];
            LLVMPositionBuilderAtEnd(b, here);
            LLVMValueRef idx = LLVMConstInt(cg->i64, (unsigned long long)t->feature, 0);
            LLVMValueRef x = LLVMBuildLoad2(
                b, cg->f32, LLVMBuildInBoundsGEP2(b, cg->f32, te->row, &idx, 1, ""), "x");
            LLVMValueRef c =
                LLVMBuildFCmp(b, node_pred(t), x, LLVMConstReal(cg->f32, t->threshold), "");
            const TreeNode *kid[2] = {&p->nodes[t->child[0]], &p->nodes[t->child[1]]};
            if (kid[0]->mode == TREE_LEAF && kid[1]->mode == TREE_LEAF) {
                /* Both children are leaves: selects, one edge to the join. */
                double *v0 = malloc(sizeof(double) * ((size_t)te->n_touched + 1));
                if (!v0) kiln_oom("tree leaves");
                leaf_values(te, kid[0]);
                memcpy(v0, te->vals, sizeof(double) * (size_t)te->n_touched);
                leaf_values(te, kid[1]);
                for (int i = 0; i < te->n_touched; i++) {
                    LLVMValueRef v = v0[i] == te->vals[i]
                                         ? LLVMConstReal(te->f64, v0[i])
                                         : LLVMBuildSelect(b, c, LLVMConstReal(te->f64, v0[i]),
                                                           LLVMConstReal(te->f64, te->vals[i]), "");
                    LLVMAddIncoming(phis[i], &v, &here, 1);
                }
                free(v0);
                LLVMBuildBr(b, join);
                continue;
            }
            LLVMBasicBlockRef to[2];
            for (int s = 0; s < 2; s++) {
                if (kid[s]->mode == TREE_LEAF) {
                    to[s] = join;
                    phi_add(te, phis, kid[s], here);
                } else {
                    to[s] = te->block[t->child[s]] =
                        LLVMAppendBasicBlockInContext(cg->ctx, te->fn, "n");
                    te->stack[sp++] = t->child[s];
                }
            }
            LLVMBuildCondBr(b, c, to[0], to[1]);
        }
        LLVMPositionBuilderAtEnd(b, join);
        te->cur_block = join;
        for (int i = 0; i < te->n_touched; i++)
            acc_combine(te, entry, te->touched[i], phis[i]);
        free(phis);
    }
    for (int i = 0; i < te->n_touched; i++)
        te->slot[te->touched[i]] = -1;
}

static int32_t tree_branches(const TreePlan *p, int32_t root, int32_t *stack) {
    int32_t sp = 0, n = 0;
    stack[sp++] = root;
    while (sp) {
        const TreeNode *t = &p->nodes[stack[--sp]];
        if (t->mode == TREE_LEAF) continue;
        n++;
        stack[sp++] = t->child[0];
        stack[sp++] = t->child[1];
    }
    return n;
}

/* Emits trees [from, to) as `void name(const float *row, double *acc)`. */
static LLVMValueRef tree_fn_emit(TreeEmit *te, const char *name, int32_t from, int32_t to) {
    Codegen *cg = te->cg;
    LLVMTypeRef params[] = {cg->ptr, cg->ptr};
    LLVMValueRef fn = LLVMAddFunction(cg->mod, name, LLVMFunctionType(cg->void_t, params, 2, 0));
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    cg_fn_retarget(cg, fn, cg->fn_cpu, cg->fn_features);
    static const char *const attrs[] = {"noinline", "optnone", "nounwind", "nofree", "nosync"};
    for (size_t i = 0; i < sizeof attrs / sizeof *attrs; i++) {
        unsigned kind = LLVMGetEnumAttributeKindForName(attrs[i], strlen(attrs[i]));
        LLVMAddAttributeAtIndex(fn, (unsigned)LLVMAttributeFunctionIndex,
                                LLVMCreateEnumAttribute(cg->ctx, kind, 0));
    }
    te->fn = fn;
    te->row = LLVMGetParam(fn, 0);
    te->acc = LLVMGetParam(fn, 1);
    LLVMBasicBlockRef eb = LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry");
    te->cur_block = LLVMAppendBasicBlockInContext(cg->ctx, fn, "trees");
    LLVMBuilderRef entry = LLVMCreateBuilderInContext(cg->ctx);
    LLVMPositionBuilderAtEnd(entry, eb);
    for (int32_t t = 0; t < 2 * te->p->n_targets; t++)
        te->cur[t] = NULL;
    memset(te->sure, 0, (size_t)te->p->n_targets);
    for (int32_t t = from; t < to; t++)
        tree_emit(te, entry, te->p->roots[t]);
    LLVMPositionBuilderAtEnd(te->b, te->cur_block);
    for (int32_t t = 0; t < 2 * te->p->n_targets; t++) {
        int sure = t >= te->p->n_targets && te->sure[t - te->p->n_targets];
        if (!te->cur[t] && !sure) continue;
        LLVMValueRef idx = LLVMConstInt(cg->i64, (unsigned long long)t, 0);
        LLVMBuildStore(te->b, sure ? LLVMConstReal(te->f64, 1.0) : te->cur[t],
                       LLVMBuildGEP2(te->b, te->f64, te->acc, &idx, 1, ""));
    }
    LLVMBuildRetVoid(te->b);
    LLVMBuildBr(entry, LLVMGetNextBasicBlock(eb));
    LLVMDisposeBuilder(entry);
    return fn;
}

static LLVMValueRef const_global(Codegen *cg, const void *data, size_t size, const char *name) {
    return cg_const_bytes(cg, data, size ? size : 1, 8, name);
}

/* The table form (tree.h), built from the plan. */
typedef struct TreeTable {
    const TreePlan *p;
    int32_t depth; /* complete: levels; 0: generic */
    int simple;
    KilnTreeNode *cnodes;
    KilnTreeGNode *gnodes;
    int32_t n_gnodes;
    uint32_t *leaves;
    int64_t n_leaves;
    int32_t *roots, *targets;
    uint8_t *has;
    int32_t *w_first, *w_target;
    float *w_value;
    int32_t n_records, n_w;
    int32_t *record; /* [n_nodes] a leaf's record or generic slot, -1 until made */
} TreeTable;

/* tree.c's tree_keys for a threshold: x <= NaN never holds, and the
 * smallest key is a NaN that goes left (which is then left of it). */
static int32_t float_key(float t) {
    if (isnan(t)) return INT32_MIN;
    union {
        float f;
        int32_t i;
    } u = {t + 0.0f};
    return u.i >= 0 ? u.i : u.i ^ 0x7fffffff;
}

static float float_below(float t) {
    if (isnan(t) || t == -INFINITY) return NAN; /* nothing is below: x <= NaN never holds */
    return nextafterf(t, -INFINITY);
}

/* A leaf's table entry: its weight's bits (simple) or its record. */
static uint32_t table_leaf(TreeTable *tt, int32_t k) {
    const TreePlan *p = tt->p;
    const TreeNode *t = &p->nodes[k];
    if (tt->simple) {
        union {
            float f;
            uint32_t u;
        } w = {t->n_w ? p->w_value[t->w_first] : 0.0f};
        return w.u;
    }
    if (tt->record[k] < 0) {
        tt->record[k] = tt->n_records;
        for (int32_t j = t->w_first; j < t->w_first + t->n_w; j++) {
            tt->w_target[tt->n_w] = p->w_target[j];
            tt->w_value[tt->n_w++] = p->w_value[j];
        }
        tt->w_first[++tt->n_records] = tt->n_w;
    }
    return (uint32_t)tt->record[k];
}

/* Node k of the plan at heap position i (level l) of complete tree `tree`. */
static void table_fill(TreeTable *tt, int64_t tree, int32_t k, uint32_t i, int32_t l) {
    const TreeNode *t = &tt->p->nodes[k];
    uint32_t inner = (1u << tt->depth) - 1;
    if (l == tt->depth) {
        assert(t->mode == TREE_LEAF);
        tt->leaves[tree * (inner + 1) + i - inner] = table_leaf(tt, k);
        return;
    }
    KilnTreeNode *e = &tt->cnodes[tree * inner + i];
    if (t->mode == TREE_LEAF) { /* padding: both sides reach the leaf */
        e->key = 0;
        e->column = 0;
        table_fill(tt, tree, k, 2 * i + 1, l + 1);
        table_fill(tt, tree, k, 2 * i + 2, l + 1);
        return;
    }
    /* Rewritten as "x <= threshold goes left". */
    int swap = t->mode == TREE_BRANCH_GTE || t->mode == TREE_BRANCH_GT;
    float th = t->threshold;
    if (t->mode == TREE_BRANCH_LT || t->mode == TREE_BRANCH_GTE) th = float_below(th);
    if (swap && isnan(t->threshold)) th = INFINITY; /* x >= NaN never holds: always left */
    int nan_left = swap ? !t->missing_true : t->missing_true;
    e->key = float_key(th);
    e->column = (uint32_t)(t->feature + (nan_left ? tt->p->n_features : 0));
    table_fill(tt, tree, t->child[swap ? 1 : 0], 2 * i + 1, l + 1);
    table_fill(tt, tree, t->child[swap ? 0 : 1], 2 * i + 2, l + 1);
}

/* Generic: tree `root` depth first, left first; returns its root's node
 * index or ~leaf. stack: [2 n_nodes] scratch. */
static int32_t table_generic(TreeTable *tt, int32_t root, int32_t *stack) {
    static const uint32_t modes[] = {
        [TREE_BRANCH_LEQ] = KILN_TREE_MODE_LEQ, [TREE_BRANCH_LT] = KILN_TREE_MODE_LT,
        [TREE_BRANCH_GTE] = KILN_TREE_MODE_GTE, [TREE_BRANCH_GT] = KILN_TREE_MODE_GT,
        [TREE_BRANCH_EQ] = KILN_TREE_MODE_EQ,   [TREE_BRANCH_NEQ] = KILN_TREE_MODE_NEQ,
    };
    int32_t first = -1, sp = 0;
    /* Entries: a plan node and where its index goes (a parent's child slot
     * as g * 2 + side, or -1 for the root). */
    stack[sp++] = root;
    stack[sp++] = -1;
    while (sp) {
        int32_t slot = stack[--sp], k = stack[--sp];
        const TreeNode *t = &tt->p->nodes[k];
        int32_t id;
        if (t->mode == TREE_LEAF) {
            tt->leaves[tt->n_leaves] = table_leaf(tt, k);
            id = ~(int32_t)tt->n_leaves++;
        } else {
            id = tt->n_gnodes++;
            KilnTreeGNode *e = &tt->gnodes[id];
            e->threshold = t->threshold;
            e->feature = (uint32_t)t->feature | modes[t->mode] << KILN_TREE_MODE_SHIFT |
                         (t->missing_true ? KILN_TREE_NAN_TRUE : 0);
            stack[sp++] = t->child[1];
            stack[sp++] = id * 2 + 1;
            stack[sp++] = t->child[0];
            stack[sp++] = id * 2;
        }
        if (slot < 0)
            first = id;
        else
            tt->gnodes[slot / 2].child[slot % 2] = id;
    }
    return first;
}

static void *table_alloc(size_t n, size_t size) {
    void *v = calloc(n ? n : 1, size);
    if (!v) kiln_oom("tree table");
    return v;
}

/* Builds the table and emits it as a constant KilnTreeTable; NULL if the
 * trees do not fit one (a column beyond KILN_TREE_COLUMN). */
static LLVMValueRef table_emit(Codegen *cg, const TreePlan *p, int32_t n_branches) {
    if (p->n_features > KILN_TREE_COLUMN / 2) return NULL;
    TreeTable tt = {.p = p};
    /* Simple: every leaf has one weight, the same target in all of a tree's
     * leaves, and the trees sum. */
    int32_t *target = table_alloc((size_t)p->n_trees, sizeof(int32_t));
    int32_t *stack = table_alloc(2 * (size_t)p->n_nodes, sizeof(int32_t));
    int eq = 0;
    tt.simple = p->aggregate == TREE_AGG_SUM || p->aggregate == TREE_AGG_AVERAGE;
    for (int32_t k = 0; k < p->n_trees; k++) {
        int32_t sp = 0;
        target[k] = -1;
        stack[sp++] = p->roots[k];
        while (sp) {
            const TreeNode *t = &p->nodes[stack[--sp]];
            if (t->mode == TREE_BRANCH_EQ || t->mode == TREE_BRANCH_NEQ) eq = 1;
            if (t->mode != TREE_LEAF) {
                stack[sp++] = t->child[0];
                stack[sp++] = t->child[1];
                continue;
            }
            if (t->n_w != 1 || (target[k] >= 0 && target[k] != p->w_target[t->w_first]))
                tt.simple = 0;
            else
                target[k] = p->w_target[t->w_first];
        }
    }
    int64_t leaves = (int64_t)p->n_nodes - n_branches;
    int64_t padded =
        p->max_depth <= TREE_COMPLETE_DEPTH ? (int64_t)p->n_trees << p->max_depth : INT64_MAX;
    if (!eq && p->max_depth > 0 && padded <= TREE_PAD * (int64_t)p->n_nodes + 65536) {
        tt.depth = p->max_depth;
        uint32_t inner = (1u << tt.depth) - 1;
        tt.cnodes = table_alloc((size_t)p->n_trees * inner, sizeof(KilnTreeNode));
        tt.n_leaves = padded;
    } else {
        tt.gnodes = table_alloc((size_t)n_branches, sizeof(KilnTreeGNode));
        tt.roots = table_alloc((size_t)p->n_trees, sizeof(int32_t));
        tt.n_leaves = leaves;
    }
    tt.leaves = table_alloc((size_t)tt.n_leaves, sizeof(uint32_t));
    if (!tt.simple) {
        tt.record = table_alloc((size_t)p->n_nodes, sizeof(int32_t));
        for (int32_t k = 0; k < p->n_nodes; k++)
            tt.record[k] = -1;
        tt.w_first = table_alloc((size_t)leaves + 1, sizeof(int32_t));
        tt.w_target = table_alloc((size_t)p->n_weights, sizeof(int32_t));
        tt.w_value = table_alloc((size_t)p->n_weights, sizeof(float));
    } else {
        tt.has = table_alloc((size_t)p->n_targets, 1);
        for (int32_t k = 0; k < p->n_trees; k++)
            if (target[k] >= 0) tt.has[target[k]] = 1;
    }
    if (tt.depth) {
        for (int32_t k = 0; k < p->n_trees; k++)
            table_fill(&tt, k, p->roots[k], 0, 0);
    } else {
        tt.n_leaves = 0;
        for (int32_t k = 0; k < p->n_trees; k++)
            tt.roots[k] = table_generic(&tt, p->roots[k], stack);
    }
    free(stack);

    uint32_t inner = tt.depth ? (1u << tt.depth) - 1 : 0;
    LLVMValueRef null = LLVMConstPointerNull(cg->ptr);
#define BYTES(ptr, n, size, name)                                                                  \
    ((ptr) ? const_global(cg, (ptr), (size_t)(n) * (size), name) : null)
    LLVMValueRef fields[] = {
        cg_i32(cg, tt.depth),
        cg_i32(cg, p->n_trees),
        cg_i32(cg, tt.simple),
        cg_i32(cg, p->aggregate),
        tt.depth ? BYTES(tt.cnodes, (int64_t)p->n_trees * inner, sizeof(KilnTreeNode), "tree_nodes")
                 : BYTES(tt.gnodes, tt.n_gnodes, sizeof(KilnTreeGNode), "tree_nodes"),
        BYTES(tt.leaves, tt.n_leaves, sizeof(uint32_t), "tree_leaves"),
        BYTES(tt.roots, p->n_trees, sizeof(int32_t), "tree_roots"),
        tt.simple ? BYTES(target, p->n_trees, sizeof(int32_t), "tree_targets") : null,
        BYTES(tt.has, p->n_targets, 1, "tree_has"),
        BYTES(tt.w_first, tt.n_records + 1, sizeof(int32_t), "tree_w_first"),
        BYTES(tt.w_target, tt.n_w, sizeof(int32_t), "tree_w_target"),
        BYTES(tt.w_value, tt.n_w, sizeof(float), "tree_w_value"),
    };
#undef BYTES
    LLVMValueRef init =
        LLVMConstStructInContext(cg->ctx, fields, sizeof fields / sizeof *fields, 0);
    LLVMValueRef gv = LLVMAddGlobal(cg->mod, LLVMTypeOf(init), "tree_table");
    LLVMSetInitializer(gv, init);
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetLinkage(gv, LLVMPrivateLinkage);
    LLVMSetAlignment(gv, 8);
    free(target);
    free(tt.cnodes);
    free(tt.gnodes);
    free(tt.leaves);
    free(tt.roots);
    free(tt.has);
    free(tt.w_first);
    free(tt.w_target);
    free(tt.w_value);
    free(tt.record);
    return gv;
}

int emit_tree_ensemble(Codegen *cg, const Node *n) {
    const TreePlan *p = n->plan.tree;
    assert(n->plan_kind == PLAN_TREE && p);
    const Value *x = n->inputs[0];
    const Value *zv = p->classifier ? (n->n_outputs > 1 ? n->outputs[1] : NULL) : n->outputs[0];
    const Value *lv = p->classifier ? n->outputs[0] : NULL;

    /* The forms (--trees: CodegenOptions.trees). */
    int32_t *stack = malloc(sizeof(int32_t) * (size_t)p->n_nodes);
    if (!stack) kiln_oom("tree ensemble");
    int64_t n_branches = 0;
    for (int32_t t = 0; t < p->n_trees; t++)
        n_branches += tree_branches(p, p->roots[t], stack);
    free(stack);
    int want = cg->opts.trees;
    LLVMValueRef table = want == CG_TREES_CODE ? NULL : table_emit(cg, p, (int32_t)n_branches);
    int code = want == CG_TREES_CODE || !table ||
               (want == CG_TREES_AUTO && n_branches <= TREE_CODE_BRANCHES);

    /* The tree functions. */
    TreeEmit te = {.cg = cg, .p = p, .f64 = LLVMDoubleTypeInContext(cg->ctx)};
    te.b = LLVMCreateBuilderInContext(cg->ctx);
    size_t nt = (size_t)p->n_targets;
    te.cur = calloc(2 * nt, sizeof(LLVMValueRef));
    te.count = malloc(sizeof(int32_t) * 2 * nt);
    te.mark = calloc(nt, sizeof(int32_t));
    te.sure = calloc(nt, 1);
    te.stack = malloc(sizeof(int32_t) * (size_t)p->n_nodes);
    te.block = calloc((size_t)p->n_nodes, sizeof(LLVMBasicBlockRef));
    te.touched = malloc(sizeof(int32_t) * 2 * nt);
    te.slot = malloc(sizeof(int32_t) * 2 * nt);
    te.vals = malloc(sizeof(double) * 2 * nt);
    int max_fns = p->n_trees + 1;
    LLVMValueRef *fns = malloc(sizeof(LLVMValueRef) * (size_t)max_fns);
    if (!te.cur || !te.count || !te.mark || !te.sure || !te.stack || !te.block || !te.touched ||
        !te.slot || !te.vals || !fns)
        kiln_oom("tree ensemble");
    for (int32_t t = 0; t < 2 * p->n_targets; t++)
        te.slot[t] = -1;
    int n_fns = 0;
    int32_t per_fn = TREE_FN_NODES;
    for (int32_t from = 0; code && from < p->n_trees;) {
        int32_t to = from, nodes = 0;
        while (to < p->n_trees && (to == from || nodes < per_fn))
            nodes += tree_branches(p, p->roots[to++], te.stack);
        char name[160];
        /* kiln_model_*: codegen.c keeps their noinline and optnone (kernels get neither) */
        snprintf(name, sizeof name, "kiln_model_trees_%d_%d", cg->fn_id, n_fns);
        fns[n_fns++] = tree_fn_emit(&te, name, from, to);
        from = to;
    }

    /* The loop over blocks of rows, in the run function: each tree function
     * runs over the whole block before the next one. */
    LLVMBuilderRef b = cg->builder;
    int64_t B = p->block_rows, nt2 = 2 * (int64_t)p->n_targets;
    LLVMValueRef rows = cg_sym_value(cg, cg_sym_dim(x->shape.dims[0]));
    LLVMValueRef xa = cg_addr(cg, x);
    LLVMValueRef scratch = cg_scratch(cg, n);
    /* Scratch (shapes_tree.c sizes it): the block's accumulators, its rows
     * in float if the input is double, the table's keys, and the scores if
     * the model drops them. */
    int64_t acc_bytes = B * nt2 * 8, row_bytes = 0, key_bytes = B * p->n_features * 8;
    if (x->dtype == DT_F64) row_bytes = (B * p->n_features * 4 + 63) / 64 * 64;
    LLVMValueRef acc = scratch;
    LLVMValueRef rowbuf =
        LLVMBuildGEP2(b, cg->i8, scratch, (LLVMValueRef[]){cg_i64(cg, acc_bytes)}, 1, "");
    LLVMValueRef z =
        zv ? cg_addr(cg, zv)
           : LLVMBuildGEP2(b, cg->i8, scratch,
                           (LLVMValueRef[]){cg_i64(cg, acc_bytes + row_bytes + key_bytes)}, 1, "");
    LLVMValueRef null = LLVMConstPointerNull(cg->ptr);
    LLVMValueRef base =
        p->n_base ? const_global(cg, p->base, sizeof(float) * (size_t)p->n_base, "tree_base")
                  : null;
    const Attr *la = p->classifier
                         ? ir_attr(n, p->labels_str ? "classlabels_strings" : "classlabels_int64s")
                         : NULL;
    LLVMValueRef labels = la ? cg_ml_label_table(cg, la) : null;
    LLVMValueRef here = LLVMGetBasicBlockParent(LLVMGetInsertBlock(b));
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(b);
    LLVMBasicBlockRef head = LLVMAppendBasicBlockInContext(cg->ctx, here, "rows");
    LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(cg->ctx, here, "row");
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(cg->ctx, here, "rows_done");
    LLVMBuildBr(b, head);
    LLVMPositionBuilderAtEnd(b, head);
    LLVMValueRef r = LLVMBuildPhi(b, cg->i64, "r");
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, r, rows, ""), body, done);
    LLVMPositionBuilderAtEnd(b, body);
    LLVMValueRef left = LLVMBuildSub(b, rows, r, "");
    LLVMValueRef nb = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, left, cg_i64(cg, B), ""),
                                      left, cg_i64(cg, B), "block");
    LLVMValueRef xoff = LLVMBuildMul(b, r, cg_i64(cg, p->n_features), "");
    LLVMValueRef xr;
    if (x->dtype == DT_F64) {
        LLVMValueRef src = LLVMBuildGEP2(b, te.f64, xa, &xoff, 1, "");
        LLVMValueRef a[] = {src, LLVMBuildMul(b, nb, cg_i64(cg, p->n_features), ""), rowbuf};
        cg_call(cg, "kiln_tree_row_f64", a, 3);
        xr = rowbuf;
    } else {
        xr = LLVMBuildGEP2(b, cg->f32, xa, &xoff, 1, "");
    }
    /* acc[0, n): a row's sums; acc[n, 2n): how many trees scored each target. */
    LLVMValueRef ia[] = {acc, cg_i32(cg, p->n_targets), cg_f64(cg, neutral(p)), nb};
    cg_call(cg, "kiln_tree_rows_begin", ia, 4);
    /* The table for blocks of TREE_TABLE_ROWS rows or more (or always),
     * the code for fewer. */
    LLVMBasicBlockRef walked = NULL;
    if (table) {
        LLVMBasicBlockRef walk = LLVMAppendBasicBlockInContext(cg->ctx, here, "trees_table");
        walked = LLVMAppendBasicBlockInContext(cg->ctx, here, "trees_done");
        LLVMBasicBlockRef run_code =
            code ? LLVMAppendBasicBlockInContext(cg->ctx, here, "trees_code") : walk;
        LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSGE, nb, cg_i64(cg, TREE_TABLE_ROWS), ""), walk,
                        run_code);
        LLVMPositionBuilderAtEnd(b, walk);
        LLVMValueRef keys = LLVMBuildGEP2(
            b, cg->i8, scratch, (LLVMValueRef[]){cg_i64(cg, acc_bytes + row_bytes)}, 1, "keys");
        LLVMValueRef a[] = {table, xr,  cg_i64(cg, p->n_features), acc, cg_i32(cg, p->n_targets),
                            nb,    keys};
        cg_call(cg, "kiln_tree_table_rows", a, 7);
        LLVMBuildBr(b, walked);
        LLVMPositionBuilderAtEnd(b, run_code);
    }
    if (code) {
        for (int i = 0; i < n_fns; i++) {
            LLVMValueRef a[] = {
                fns[i], xr, cg_i64(cg, p->n_features), acc, cg_i32(cg, p->n_targets), nb};
            cg_call(cg, "kiln_tree_fn_rows", a, 6);
        }
        if (walked) LLVMBuildBr(b, walked);
    }
    if (walked) LLVMPositionBuilderAtEnd(b, walked);
    LLVMValueRef zoff = LLVMBuildMul(b, r, cg_i64(cg, p->n_targets), "");
    LLVMValueRef zr = LLVMBuildGEP2(b, cg->f32, z, &zoff, 1, "");
    /* Labels are int64 or string pointers: 8 bytes each. */
    LLVMValueRef lr = lv ? LLVMBuildGEP2(b, cg->i64, cg_addr(cg, lv), &r, 1, "") : null;
    int32_t flags = (p->classifier ? KILN_TREE_CLASSIFIER : 0) |
                    (p->binary ? KILN_TREE_BINARY : 0) |
                    (p->all_positive ? KILN_TREE_ALL_POSITIVE : 0) |
                    (p->labels_str ? KILN_TREE_STRING_LABELS : 0);
    LLVMValueRef fa[] = {
        acc,
        cg_i32(cg, p->n_targets),
        cg_i32(cg, flags),
        cg_i32(cg, p->aggregate),
        cg_i32(cg, p->post),
        cg_i32(cg, p->n_trees),
        cg_i32(cg, p->n_base),
        base,
        labels,
        zr,
        lr,
        nb,
    };
    cg_call(cg, "kiln_tree_rows_finish", fa, 12);
    LLVMValueRef r1 = LLVMBuildAdd(b, r, nb, "");
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(b);
    LLVMBuildBr(b, head);
    LLVMValueRef zero = cg_i64(cg, 0);
    LLVMAddIncoming(r, &zero, &pre, 1);
    LLVMAddIncoming(r, &r1, &latch, 1);
    LLVMPositionBuilderAtEnd(b, done);

    free(fns);
    free(te.cur);
    free(te.stack);
    free(te.block);
    free(te.touched);
    free(te.slot);
    free(te.vals);
    free(te.count);
    free(te.mark);
    free(te.sure);
    LLVMDisposeBuilder(te.b);
    return 0;
}
