/* emit_parallel.c: kernel calls split over the threads run() is lent.
 *
 * A splittable kernel takes (task, n_tasks) as its last two arguments and
 * computes only part `task` of n_tasks (kernels.h). For a call whose work
 * can reach CG_SPLIT_MIN_WORK, cg_call_split() emits
 *
 *     ctx = {run-time args..., n_tasks};
 *     if (pool && pool->n_threads > 1 && work >= CG_SPLIT_MIN_WORK)
 *         ctx.n_tasks = pool->n_threads * CG_TASKS_PER_THREAD,
 *         pool->parallel(pool, kiln_model_task_N, &ctx, ctx.n_tasks);
 *     else
 *         ctx.n_tasks = 1, kiln_model_task_N(&ctx, 0);
 *
 * where kiln_model_task_N(ctx, task) is an internal function that calls
 * the kernel with (task, n_tasks). The kernel is inlined there, and only
 * there: one copy of its code whatever the thread count. Its constant
 * arguments (sizes known at compile time, attribute values, small
 * constants) stay constants in it, so the kernel is specialised as it is
 * inline; the run-time values (buffer addresses, dynamic sizes), the
 * addresses of large constants (weights) and n_tasks go through ctx, a
 * struct on run()'s stack. Calls that differ only in those share one task
 * function: resnet18's same-shape convolutions are compiled once.
 *
 * A call whose work is small even at the symbols' upper bounds stays a
 * plain inline call with (0, 1); one that is small at some sizes (a
 * dynamic batch of 1) keeps that inline call for its one-task path too.
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Target.h>

#include "cg.h"

/* A constant pointer to a global larger than this goes through ctx, so
 * that calls on different weights share code; smaller ones (scalars a
 * kernel may fold) stay constants. */
enum { SHARED_CONST_MIN_BYTES = 64 };

/* A task function and what it was made for (cg->tasks). */
struct CgTask {
    char *key;       /* kernel, target, constant args: see task_key */
    LLVMValueRef fn; /* kiln_model_task_N */
};

void cg_tasks_free(Codegen *cg) {
    for (int i = 0; i < cg->n_task_fns; i++)
        free(cg->tasks[i].key);
    free(cg->tasks);
    cg->tasks = NULL;
    cg->n_task_fns = cg->cap_tasks = 0;
}

/* KilnThreadPool (kiln_model.h) as LLVM sees it: { i32 n_threads, ptr parallel }. */
static LLVMTypeRef pool_type(Codegen *cg) {
    LLVMTypeRef f[] = {cg->i32, cg->ptr};
    return LLVMStructTypeInContext(cg->ctx, f, 2, 0);
}

static LLVMValueRef kernel_find(Codegen *cg, const char *kernel) {
    LLVMValueRef fn = LLVMGetNamedFunction(cg->mod, kernel);
    if (!fn) {
        fprintf(stderr, "kiln: internal error: kernel %s missing from the bitcode\n", kernel);
        abort();
    }
    return fn;
}

/* Whether arg is the address of a large constant global (weights). */
static int is_shared_const(Codegen *cg, LLVMValueRef arg) {
    if (!LLVMIsAGlobalVariable(arg) || !LLVMGetInitializer(arg)) return 0;
    LLVMTargetDataRef td = LLVMGetModuleDataLayout(cg->mod);
    return LLVMABISizeOfType(td, LLVMGlobalGetValueType(arg)) > SHARED_CONST_MIN_BYTES;
}

/* Whether arg goes through ctx rather than into the task function. */
static int is_passed(Codegen *cg, LLVMValueRef arg) {
    return !LLVMIsConstant(arg) || is_shared_const(cg, arg);
}

/* Appends to buf (size cap, at *len) what the task function makes of arg. */
static void key_arg(Codegen *cg, LLVMValueRef arg, char *buf, size_t cap, size_t *len) {
    char t[64];
    if (is_passed(cg, arg))
        snprintf(t, sizeof t, is_shared_const(cg, arg) ? ",g" : ",v");
    else if (LLVMIsAConstantInt(arg))
        snprintf(t, sizeof t, ",i%lld", LLVMConstIntGetSExtValue(arg));
    else if (LLVMIsAConstantFP(arg)) {
        LLVMBool lost;
        snprintf(t, sizeof t, ",f%a", LLVMConstRealGetDouble(arg, &lost));
    } else if (LLVMIsNull(arg))
        snprintf(t, sizeof t, ",0");
    else /* a small global or another uniqued constant: by identity */
        snprintf(t, sizeof t, ",p%p", (void *)arg);
    size_t n = strlen(t);
    if (*len + n < cap) memcpy(buf + *len, t, n + 1);
    *len += n;
}

/* The key of a call: kernel, the target its task function is compiled
 * for, and each argument's constant value or what passes it. Malloc'd. */
static char *task_key(Codegen *cg, const char *kernel, LLVMValueRef *args, unsigned nargs) {
    size_t cap = 256;
    for (;;) {
        char *buf = malloc(cap);
        if (!buf) kiln_oom("task key");
        /* The target by its strings' addresses: each variant has its own. */
        int head = snprintf(buf, cap, "%s|%p|%p", kernel, (const void *)cg->fn_cpu,
                            (const void *)cg->fn_features);
        size_t len = head < 0 ? 0 : (size_t)head;
        for (unsigned i = 0; i < nargs && len < cap; i++)
            key_arg(cg, args[i], buf, cap, &len);
        if (len < cap) return buf;
        free(buf);
        cap = 2 * len + 1;
    }
}

/* Marks the load of a weights address as non-null and aligned as the
 * global is, which the kernel knew of the constant. */
static void load_mark(Codegen *cg, LLVMValueRef load, LLVMValueRef gv) {
    unsigned nonnull = LLVMGetMDKindIDInContext(cg->ctx, "nonnull", 7);
    LLVMSetMetadata(load, nonnull,
                    LLVMMetadataAsValue(cg->ctx, LLVMMDNodeInContext2(cg->ctx, NULL, 0)));
    unsigned align = LLVMGetAlignment(gv);
    if (align > 1) {
        LLVMMetadataRef a = LLVMValueAsMetadata(LLVMConstInt(cg->i64, align, 0));
        LLVMSetMetadata(load, LLVMGetMDKindIDInContext(cg->ctx, "align", 5),
                        LLVMMetadataAsValue(cg->ctx, LLVMMDNodeInContext2(cg->ctx, &a, 1)));
    }
}

/* Emits `void kiln_model_task_N(ctx, task)` calling kernel with args (the
 * constant ones as they are, each passed one loaded from the next field
 * of ctx, of type ctx_t, in order), then task and n_tasks (ctx's last
 * field). */
static LLVMValueRef task_fn_emit(Codegen *cg, LLVMValueRef kfn, LLVMValueRef *args, unsigned nargs,
                                 LLVMTypeRef ctx_t) {
    LLVMTypeRef params[] = {cg->ptr, cg->i64};
    LLVMTypeRef ft = LLVMFunctionType(cg->void_t, params, 2, 0);
    char name[64];
    snprintf(name, sizeof name, "kiln_model_task_%d", cg->n_task_fns + 1);
    LLVMValueRef f = LLVMAddFunction(cg->mod, name, ft);
    LLVMSetLinkage(f, LLVMInternalLinkage);
    cg_fn_retarget(cg, f, cg->fn_cpu, cg->fn_features);
    /* Else LLVM may inline it into run(), a second copy of the kernel. */
    unsigned noinline = LLVMGetEnumAttributeKindForName("noinline", 8);
    LLVMAddAttributeAtIndex(f, (unsigned)LLVMAttributeFunctionIndex,
                            LLVMCreateEnumAttribute(cg->ctx, noinline, 0));
    LLVMBuilderRef b = LLVMCreateBuilderInContext(cg->ctx);
    LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(cg->ctx, f, "entry"));
    LLVMValueRef ctx = LLVMGetParam(f, 0);
    LLVMValueRef *call = malloc(sizeof(LLVMValueRef) * (nargs + 2));
    if (!call) kiln_oom("task function");
    unsigned field = 0;
    for (unsigned i = 0; i < nargs; i++) {
        if (!is_passed(cg, args[i])) {
            call[i] = args[i];
            continue;
        }
        LLVMValueRef p = LLVMBuildStructGEP2(b, ctx_t, ctx, field, "");
        call[i] = LLVMBuildLoad2(b, LLVMTypeOf(args[i]), p, "");
        if (is_shared_const(cg, args[i])) load_mark(cg, call[i], args[i]);
        field++;
    }
    call[nargs] = LLVMGetParam(f, 1);
    call[nargs + 1] =
        LLVMBuildLoad2(b, cg->i64, LLVMBuildStructGEP2(b, ctx_t, ctx, field, ""), "n_tasks");
    LLVMBuildCall2(b, LLVMGlobalGetValueType(kfn), kfn, call, nargs + 2, "");
    LLVMBuildRetVoid(b);
    LLVMDisposeBuilder(b);
    free(call);
    return f;
}

/* The task function for this call: an earlier one with the same key, or
 * a new one. */
static LLVMValueRef task_fn_get(Codegen *cg, const char *kernel, LLVMValueRef kfn,
                                LLVMValueRef *args, unsigned nargs, LLVMTypeRef ctx_t) {
    char *key = task_key(cg, kernel, args, nargs);
    for (int i = 0; i < cg->n_task_fns; i++)
        if (!strcmp(cg->tasks[i].key, key)) {
            free(key);
            return cg->tasks[i].fn;
        }
    if (cg->n_task_fns == cg->cap_tasks) {
        int cap = cg->cap_tasks ? 2 * cg->cap_tasks : 16;
        struct CgTask *t = realloc(cg->tasks, sizeof *t * (size_t)cap);
        if (!t) kiln_oom("task functions");
        cg->tasks = t;
        cg->cap_tasks = cap;
    }
    LLVMValueRef fn = task_fn_emit(cg, kfn, args, nargs, ctx_t);
    cg->tasks[cg->n_task_fns++] = (struct CgTask){key, fn};
    return fn;
}

/* Stores the passed args into ctx at the builder; returns the address
 * of its n_tasks field. */
static LLVMValueRef ctx_fill(Codegen *cg, LLVMValueRef ctx, LLVMTypeRef ctx_t, LLVMValueRef *args,
                             unsigned nargs) {
    LLVMBuilderRef b = cg->builder;
    unsigned field = 0;
    for (unsigned i = 0; i < nargs; i++)
        if (is_passed(cg, args[i]))
            LLVMBuildStore(b, args[i], LLVMBuildStructGEP2(b, ctx_t, ctx, field++, ""));
    return LLVMBuildStructGEP2(b, ctx_t, ctx, field, "");
}

void cg_call_split(Codegen *cg, Sym work, const char *kernel, LLVMValueRef *args, unsigned nargs) {
    LLVMValueRef kfn = kernel_find(cg, kernel);
    LLVMTypeRef kt = LLVMGlobalGetValueType(kfn);
    assert(LLVMCountParamTypes(kt) == nargs + 2);
    /* Small work is not worth waking threads for: when it is small even
     * at the symbols' upper bounds, the call is the plain inline one, with
     * no test of the pool and no task function (a 20,000-node chain of
     * small dynamic nodes would take minutes to compile as calls). Large
     * at its lower bounds, it needs no test of the work. */
    int64_t lo = 0, hi = INT64_MAX;
    if (work == CG_SYM_OVERFLOW || dim_bounds(work, &lo, &hi) != 0) lo = hi = INT64_MAX;
    if (hi < CG_SPLIT_MIN_WORK) {
        LLVMValueRef *all = malloc(sizeof(LLVMValueRef) * (nargs + 2));
        if (!all) kiln_oom("kernel call");
        memcpy(all, args, sizeof(LLVMValueRef) * nargs);
        all[nargs] = cg_i64(cg, 0);
        all[nargs + 1] = cg_i64(cg, 1);
        LLVMBuildCall2(cg->builder, kt, kfn, all, nargs + 2, "");
        free(all);
        return;
    }

    LLVMTypeRef *fields = malloc(sizeof(LLVMTypeRef) * (nargs + 1));
    if (!fields) kiln_oom("kernel call");
    unsigned n_fields = 0;
    for (unsigned i = 0; i < nargs; i++)
        if (is_passed(cg, args[i])) fields[n_fields++] = LLVMTypeOf(args[i]);
    fields[n_fields++] = cg->i64; /* n_tasks */
    LLVMTypeRef ctx_t = LLVMStructTypeInContext(cg->ctx, fields, n_fields, 0);
    LLVMValueRef task = task_fn_get(cg, kernel, kfn, args, nargs, ctx_t);

    LLVMBuilderRef b = cg->builder;
    LLVMValueRef ctx = LLVMBuildAlloca(cg->entry, ctx_t, "split_ctx");

    LLVMValueRef here = LLVMGetBasicBlockParent(LLVMGetInsertBlock(b));
    LLVMBasicBlockRef check = LLVMAppendBasicBlockInContext(cg->ctx, here, "split_check");
    LLVMBasicBlockRef par = LLVMAppendBasicBlockInContext(cg->ctx, here, "split_parallel");
    LLVMBasicBlockRef one = LLVMAppendBasicBlockInContext(cg->ctx, here, "split_one");
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(cg->ctx, here, "split_done");
    LLVMValueRef pool = cg->pool;
    LLVMBuildCondBr(b, LLVMBuildIsNull(b, pool, ""), one, check);

    LLVMPositionBuilderAtEnd(b, check);
    LLVMTypeRef pt = pool_type(cg);
    LLVMValueRef nthr = LLVMBuildLoad2(b, cg->i32, LLVMBuildStructGEP2(b, pt, pool, 0, ""), "");
    LLVMValueRef go = LLVMBuildICmp(b, LLVMIntSGT, nthr, cg_i32(cg, 1), "");
    if (lo < CG_SPLIT_MIN_WORK) /* it depends on the run's sizes: decide at run time */
        go = LLVMBuildAnd(
            b, go,
            LLVMBuildICmp(b, LLVMIntSGE, cg_sym_value(cg, work), cg_i64(cg, CG_SPLIT_MIN_WORK), ""),
            "");
    LLVMBuildCondBr(b, go, par, one);

    LLVMPositionBuilderAtEnd(b, par);
    LLVMValueRef n_tasks = LLVMBuildMul(b, LLVMBuildSExt(b, nthr, cg->i64, ""),
                                        cg_i64(cg, CG_TASKS_PER_THREAD), "n_tasks");
    LLVMBuildStore(b, n_tasks, ctx_fill(cg, ctx, ctx_t, args, nargs));
    LLVMValueRef parallel =
        LLVMBuildLoad2(b, cg->ptr, LLVMBuildStructGEP2(b, pt, pool, 1, ""), "parallel");
    LLVMTypeRef pparams[] = {cg->ptr, cg->ptr, cg->ptr, cg->i64};
    LLVMTypeRef pft = LLVMFunctionType(cg->void_t, pparams, 4, 0);
    LLVMValueRef pargs[] = {pool, task, ctx, n_tasks};
    LLVMBuildCall2(b, pft, parallel, pargs, 4, "");
    LLVMBuildBr(b, done);

    LLVMPositionBuilderAtEnd(b, one);
    if (lo < CG_SPLIT_MIN_WORK) {
        /* Small at some sizes (a dynamic batch of 1): there the kernel
         * inline, with all it knows of run()'s buffers, is worth its
         * second copy (the fraud sample ran 15% slower through ctx). */
        LLVMValueRef *all = malloc(sizeof(LLVMValueRef) * (nargs + 2));
        if (!all) kiln_oom("kernel call");
        memcpy(all, args, sizeof(LLVMValueRef) * nargs);
        all[nargs] = cg_i64(cg, 0);
        all[nargs + 1] = cg_i64(cg, 1);
        LLVMBuildCall2(b, kt, kfn, all, nargs + 2, "");
        free(all);
    } else {
        LLVMBuildStore(b, cg_i64(cg, 1), ctx_fill(cg, ctx, ctx_t, args, nargs));
        LLVMValueRef targs[] = {ctx, cg_i64(cg, 0)};
        LLVMBuildCall2(b, LLVMGlobalGetValueType(task), task, targs, 2, "");
    }
    LLVMBuildBr(b, done);

    LLVMPositionBuilderAtEnd(b, done);
    free(fields);
}

int cg_call_split_typed(Codegen *cg, const Node *n, const char *base, DType t, Sym work,
                        LLVMValueRef *args, unsigned n_args) {
    char name[96];
    if (cg_kernel_name(cg, n, base, t, name, sizeof name)) return -1;
    cg_call_split(cg, work, name, args, n_args);
    return 0;
}
