/* emit_parallel.c: kernel calls split over the threads run() is lent.
 *
 * A splittable kernel takes (task, n_tasks) as its last two arguments and
 * computes only part `task` of n_tasks (kernels.h). cg_call_split() emits
 *
 *     if (pool && pool->n_threads > 1 && work >= CG_SPLIT_MIN_WORK)
 *         pool->parallel(pool, kiln_model_task_N, &ctx, pool->n_threads * CG_TASKS_PER_THREAD);
 *     else
 *         kernel(args..., 0, 1);
 *
 * where kiln_model_task_N(ctx, task) is an internal function that calls
 * the kernel with (task, n_tasks). Its constant arguments (sizes known at
 * compile time, the weights' addresses, attribute values) stay constants
 * in it, so the kernel is specialised there as it is inline; only the
 * run-time values (buffer addresses, dynamic sizes) and n_tasks go through
 * ctx, a struct on run()'s stack. The inline call with (0, 1) is the code
 * kiln emitted before threads, so one thread costs nothing new.
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"

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

/* Emits `void kiln_model_task_N(ctx, task)` calling kernel with args (the
 * constant ones as they are, each other one loaded from field i of ctx,
 * of type ctx_t, in order), then task and n_tasks (ctx's last field). */
static LLVMValueRef task_fn_emit(Codegen *cg, LLVMValueRef kfn, LLVMValueRef *args, unsigned nargs,
                                 LLVMTypeRef ctx_t) {
    LLVMTypeRef params[] = {cg->ptr, cg->i64};
    LLVMTypeRef ft = LLVMFunctionType(cg->void_t, params, 2, 0);
    char name[64];
    snprintf(name, sizeof name, "kiln_model_task_%d", ++cg->n_task_fns);
    LLVMValueRef f = LLVMAddFunction(cg->mod, name, ft);
    LLVMSetLinkage(f, LLVMInternalLinkage);
    cg_fn_retarget(cg, f, cg->fn_cpu, cg->fn_features);
    LLVMBuilderRef b = LLVMCreateBuilderInContext(cg->ctx);
    LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(cg->ctx, f, "entry"));
    LLVMValueRef ctx = LLVMGetParam(f, 0);
    LLVMValueRef *call = malloc(sizeof(LLVMValueRef) * (nargs + 2));
    if (!call) kiln_oom("task function");
    unsigned field = 0;
    for (unsigned i = 0; i < nargs; i++) {
        if (LLVMIsConstant(args[i])) {
            call[i] = args[i];
            continue;
        }
        LLVMValueRef p = LLVMBuildStructGEP2(b, ctx_t, ctx, field, "");
        call[i] = LLVMBuildLoad2(b, LLVMTypeOf(args[i]), p, "");
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

void cg_call_split(Codegen *cg, Sym work, const char *kernel, LLVMValueRef *args, unsigned nargs) {
    LLVMValueRef kfn = kernel_find(cg, kernel);
    LLVMTypeRef kt = LLVMGlobalGetValueType(kfn);
    assert(LLVMCountParamTypes(kt) == nargs + 2);
    LLVMValueRef *all = malloc(sizeof(LLVMValueRef) * (nargs + 2));
    if (!all) kiln_oom("kernel call");
    memcpy(all, args, sizeof(LLVMValueRef) * nargs);
    all[nargs] = cg_i64(cg, 0);
    all[nargs + 1] = cg_i64(cg, 1);
    /* Small work is not worth waking threads for: when it is small even
     * at the symbols' upper bounds, the call is the plain inline one, with
     * no test of the pool and no task function (which would double the
     * kernel's code: a 20,000-node chain of small dynamic nodes would take
     * minutes to compile). Large at its lower bounds, it needs no test. */
    int64_t lo = 0, hi = INT64_MAX;
    if (work == CG_SYM_OVERFLOW || dim_bounds(work, &lo, &hi) != 0) lo = hi = INT64_MAX;
    if (hi < CG_SPLIT_MIN_WORK) {
        LLVMBuildCall2(cg->builder, kt, kfn, all, nargs + 2, "");
        free(all);
        return;
    }

    LLVMTypeRef *fields = malloc(sizeof(LLVMTypeRef) * (nargs + 1));
    if (!fields) kiln_oom("kernel call");
    unsigned n_fields = 0;
    for (unsigned i = 0; i < nargs; i++)
        if (!LLVMIsConstant(args[i])) fields[n_fields++] = LLVMTypeOf(args[i]);
    fields[n_fields++] = cg->i64; /* n_tasks */
    LLVMTypeRef ctx_t = LLVMStructTypeInContext(cg->ctx, fields, n_fields, 0);
    LLVMValueRef task = task_fn_emit(cg, kfn, args, nargs, ctx_t);

    LLVMBuilderRef b = cg->builder;
    LLVMValueRef here = LLVMGetBasicBlockParent(LLVMGetInsertBlock(b));
    LLVMBasicBlockRef check = LLVMAppendBasicBlockInContext(cg->ctx, here, "split_check");
    LLVMBasicBlockRef par = LLVMAppendBasicBlockInContext(cg->ctx, here, "split_parallel");
    LLVMBasicBlockRef one = LLVMAppendBasicBlockInContext(cg->ctx, here, "split_inline");
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
    LLVMValueRef ctx = LLVMBuildAlloca(cg->entry, ctx_t, "split_ctx");
    unsigned field = 0;
    for (unsigned i = 0; i < nargs; i++)
        if (!LLVMIsConstant(args[i]))
            LLVMBuildStore(b, args[i], LLVMBuildStructGEP2(b, ctx_t, ctx, field++, ""));
    LLVMValueRef n_tasks = LLVMBuildMul(b, LLVMBuildSExt(b, nthr, cg->i64, ""),
                                        cg_i64(cg, CG_TASKS_PER_THREAD), "n_tasks");
    LLVMBuildStore(b, n_tasks, LLVMBuildStructGEP2(b, ctx_t, ctx, field, ""));
    LLVMValueRef parallel =
        LLVMBuildLoad2(b, cg->ptr, LLVMBuildStructGEP2(b, pt, pool, 1, ""), "parallel");
    LLVMTypeRef pparams[] = {cg->ptr, cg->ptr, cg->ptr, cg->i64};
    LLVMTypeRef pft = LLVMFunctionType(cg->void_t, pparams, 4, 0);
    LLVMValueRef pargs[] = {pool, task, ctx, n_tasks};
    LLVMBuildCall2(b, pft, parallel, pargs, 4, "");
    LLVMBuildBr(b, done);

    LLVMPositionBuilderAtEnd(b, one);
    LLVMBuildCall2(b, kt, kfn, all, nargs + 2, "");
    LLVMBuildBr(b, done);

    LLVMPositionBuilderAtEnd(b, done);
    free(fields);
    free(all);
}

int cg_call_split_typed(Codegen *cg, const Node *n, const char *base, DType t, Sym work,
                        LLVMValueRef *args, unsigned n_args) {
    char name[96];
    if (cg_kernel_name(cg, n, base, t, name, sizeof name)) return -1;
    cg_call_split(cg, work, name, args, n_args);
    return 0;
}
