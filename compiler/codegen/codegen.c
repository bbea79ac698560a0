/* codegen.c: LLVM setup, the model module, object emission and the JIT.
 * Per-op code is in emit.c. */
#include "codegen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/BitReader.h>
#include <llvm-c/Core.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include "cg.h"

/* The kernel bitcode, embedded by compiler/codegen/embed_kernels.S: the
 * host's and aarch64's (empty when kiln was built without it). */
extern const char kiln_embed_kernels_bc[], kiln_embed_kernels_bc_end[];
extern const char kiln_embed_kernels_aarch64_bc[], kiln_embed_kernels_aarch64_bc_end[];

static char *xstrdup(const char *s) {
    char *p = strdup(s);
    if (!p) kiln_oom("codegen options");
    return p;
}

/* LLVM takes an unknown CPU or feature name with only a warning on stderr
 * ("'x' is not a recognized processor for this target (ignoring
 * processor)") and may abort later, in code generation. So the target
 * machine is created with stderr sent to a temporary file, and a warning
 * there is the user's error: -1 with the offending line in why[]. */
static LLVMTargetMachineRef target_machine_create(LLVMTargetRef target, const Codegen *cg,
                                                  LLVMCodeGenOptLevel lvl, char why[256]) {
    why[0] = 0;
    FILE *cap = tmpfile();
    int saved = cap ? dup(2) : -1;
    fflush(stderr);
    if (saved >= 0) dup2(fileno(cap), 2);
    LLVMTargetMachineRef tm = LLVMCreateTargetMachine(target, cg->triple, cg->cpu, cg->features,
                                                      lvl, LLVMRelocPIC, LLVMCodeModelDefault);
    if (saved >= 0) {
        fflush(stderr);
        dup2(saved, 2);
        close(saved);
        rewind(cap);
        char line[256];
        while (fgets(line, sizeof line, cap))
            if (strstr(line, "is not a recognized") && !why[0]) {
                line[strcspn(line, "\n")] = 0;
                char *ign = strstr(line, " (ignoring");
                if (ign) *ign = 0;
                snprintf(why, 256, "%s", line);
            }
    }
    if (cap) fclose(cap);
    if (tm && why[0]) {
        LLVMDisposeTargetMachine(tm);
        tm = NULL;
    }
    return tm;
}

Codegen *codegen_create(const CodegenOptions *o, Diag *d) {
    LLVMInitializeAllTargetInfos();
    LLVMInitializeAllTargets();
    LLVMInitializeAllTargetMCs();
    LLVMInitializeAllAsmPrinters();

    Codegen *cg = calloc(1, sizeof(Codegen));
    if (!cg) kiln_oom("codegen");
    cg->opts = *o;
    int host = !o->triple;
    if (host) {
        char *t = LLVMGetDefaultTargetTriple();
        cg->triple = xstrdup(t);
        LLVMDisposeMessage(t);
    } else {
        char *t = LLVMNormalizeTargetTriple(o->triple);
        cg->triple = xstrdup(t);
        LLVMDisposeMessage(t);
    }
    if (!o->cpu || strcmp(o->cpu, "native") == 0) {
        if (!host) {
            cg->cpu = xstrdup("generic");
            cg->features = xstrdup("");
        } else {
            char *c = LLVMGetHostCPUName(), *f = LLVMGetHostCPUFeatures();
            cg->cpu = xstrdup(c);
            cg->features = xstrdup(f);
            LLVMDisposeMessage(c);
            LLVMDisposeMessage(f);
        }
    } else {
        cg->cpu = xstrdup(o->cpu);
        cg->features = xstrdup("");
    }

    char *err = NULL;
    LLVMTargetRef target;
    if (LLVMGetTargetFromTriple(cg->triple, &target, &err)) {
        diag_usage(d, "unknown target '%s': %s", cg->triple, err);
        diag_hint(d, "use a triple such as x86_64-linux-gnu or aarch64-linux-gnu");
        LLVMDisposeMessage(err);
        codegen_destroy(cg);
        return NULL;
    }
    static const LLVMCodeGenOptLevel levels[] = {LLVMCodeGenLevelNone, LLVMCodeGenLevelLess,
                                                 LLVMCodeGenLevelDefault,
                                                 LLVMCodeGenLevelAggressive};
    int lvl = o->opt_level < 0 ? 0 : o->opt_level > 3 ? 3 : o->opt_level;
    char why[256];
    cg->tm = target_machine_create(target, cg, levels[lvl], why);
    if (!cg->tm) {
        if (strstr(why, "feature"))
            diag_usage(d, "target '%s' with CPU '%s': %s", cg->triple, cg->cpu, why);
        else
            diag_usage(d, "--cpu '%s' is not a CPU of target '%s'", cg->cpu, cg->triple);
        diag_hint(d, "`llc-19 -mtriple=%s -mcpu=help` lists them; or leave out --cpu", cg->triple);
        codegen_destroy(cg);
        return NULL;
    }
    cg->tsc = LLVMOrcCreateNewThreadSafeContext();
    cg->ctx = LLVMOrcThreadSafeContextGetContext(cg->tsc);
    return cg;
}

void codegen_destroy(Codegen *cg) {
    if (!cg) return;
    if (cg->jit) LLVMOrcDisposeLLJIT(cg->jit);
    if (cg->builder) LLVMDisposeBuilder(cg->builder);
    if (cg->entry) LLVMDisposeBuilder(cg->entry);
    if (cg->mod) LLVMDisposeModule(cg->mod); /* NULL once the JIT owns it */
    if (cg->tsc) LLVMOrcDisposeThreadSafeContext(cg->tsc);
    if (cg->tm) LLVMDisposeTargetMachine(cg->tm);
    free(cg->vals);
    free(cg->vals_fn);
    free(cg->triple);
    free(cg->cpu);
    free(cg->features);
    free(cg);
}

const char *codegen_triple(const Codegen *cg) {
    return cg->triple;
}
const char *codegen_cpu(const Codegen *cg) {
    return cg->cpu;
}
void codegen_set_build_info(Codegen *cg, const char *build_info) {
    cg->opts.build_info = build_info;
}

/* --- module pieces ---------------------------------------------------------- */

/* A private constant global holding `size` raw bytes. */
LLVMValueRef cg_const_bytes(Codegen *cg, const void *data, size_t size, unsigned align,
                            const char *name) {
    LLVMValueRef init = LLVMConstStringInContext2(cg->ctx, data, size, 1);
    LLVMValueRef gv = LLVMAddGlobal(cg->mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(gv, init);
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetLinkage(gv, LLVMPrivateLinkage);
    LLVMSetUnnamedAddress(gv, LLVMGlobalUnnamedAddr);
    LLVMSetAlignment(gv, align);
    return gv;
}

static LLVMValueRef const_str(Codegen *cg, const char *s) {
    return cg_const_bytes(cg, s, strlen(s) + 1, 1, "str");
}

static LLVMValueRef i32c(Codegen *cg, int v) {
    return LLVMConstInt(cg->i32, (unsigned long long)v, 1);
}

/* const KilnTensorInfo name[n] for the graph's inputs or outputs. */
static LLVMValueRef tensor_infos(Codegen *cg, Value *const *vs, int n, const char *name) {
    LLVMTypeRef info_t =
        LLVMStructTypeInContext(cg->ctx, (LLVMTypeRef[]){cg->ptr, cg->i32, cg->i32, cg->ptr}, 4, 0);
    LLVMValueRef *elems = calloc((size_t)n + 1, sizeof(LLVMValueRef));
    if (!elems) kiln_oom("tensor info table");
    for (int i = 0; i < n; i++) {
        const Value *v = vs[i];
        int64_t dims[IR_MAX_RANK];
        for (int k = 0; k < v->shape.rank; k++)
            dims[k] = v->shape.dims[k];
        LLVMValueRef shape = cg_const_bytes(
            cg, dims, sizeof(int64_t) * (size_t)(v->shape.rank ? v->shape.rank : 1), 8, "shape");
        LLVMValueRef fields[4] = {const_str(cg, v->name), i32c(cg, v->dtype),
                                  i32c(cg, v->shape.rank), shape};
        elems[i] = LLVMConstStructInContext(cg->ctx, fields, 4, 0);
    }
    LLVMValueRef arr = LLVMConstArray2(info_t, elems, (uint64_t)n);
    free(elems);
    LLVMValueRef gv = LLVMAddGlobal(cg->mod, LLVMTypeOf(arr), name);
    LLVMSetInitializer(gv, arr);
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetLinkage(gv, LLVMPrivateLinkage);
    return gv;
}

/* a op b through llvm.<name>.with.overflow.i64; *ovf gets the i1 flag. */
static LLVMValueRef op_checked(Codegen *cg, const char *name, LLVMValueRef a, LLVMValueRef b,
                               LLVMValueRef *ovf) {
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(cg->mod, id, &cg->i64, 1);
    LLVMValueRef args[] = {a, b};
    LLVMValueRef r = LLVMBuildCall2(cg->builder, LLVMIntrinsicGetType(cg->ctx, id, &cg->i64, 1), fn,
                                    args, 2, "");
    *ovf = LLVMBuildExtractValue(cg->builder, r, 1, "");
    return LLVMBuildExtractValue(cg->builder, r, 0, "");
}

/* size_t kiln_model_workspace_size(int64_t batch): ws_static + ws_per_batch
 * * batch, then the KilnRunError (kiln_model.h) if the model checks
 * anything, so that a model without check sites needs no more than its
 * plan; SIZE_MAX when that does not fit (a negative batch counts as a huge
 * one). Emitted after kiln_model_run, which counts the sites. */
static LLVMValueRef emit_workspace_fn(Codegen *cg, const Graph *g) {
    LLVMTypeRef ft = LLVMFunctionType(cg->i64, (LLVMTypeRef[]){cg->i64}, 1, 0);
    LLVMValueRef fn = LLVMAddFunction(cg->mod, "kiln_model_workspace_size", ft);
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    LLVMPositionBuilderAtEnd(cg->builder, LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry"));
    LLVMValueRef o1, o2;
    LLVMValueRef per =
        op_checked(cg, "llvm.umul.with.overflow", LLVMGetParam(fn, 0),
                   LLVMConstInt(cg->i64, (unsigned long long)g->ws_per_batch, 0), &o1);
    LLVMValueRef sum = op_checked(
        cg, "llvm.uadd.with.overflow", per,
        LLVMConstInt(cg->i64,
                     (unsigned long long)(g->ws_static + (cg->n_checks ? KILN_RUN_ERROR_BYTES : 0)),
                     0),
        &o2);
    LLVMValueRef bad = LLVMBuildOr(cg->builder, o1, o2, "");
    LLVMBuildRet(cg->builder,
                 LLVMBuildSelect(cg->builder, bad, LLVMConstAllOnes(cg->i64), sum, "size"));
    return fn;
}

/* const char *const checks[n_checks], the check sites' texts. */
static LLVMValueRef check_table(Codegen *cg) {
    if (!cg->n_checks) return LLVMConstPointerNull(cg->ptr);
    LLVMValueRef *elems = calloc((size_t)cg->n_checks, sizeof(LLVMValueRef));
    if (!elems) kiln_oom("check site table");
    for (int i = 0; i < cg->n_checks; i++)
        elems[i] = const_str(cg, cg->checks[i]);
    LLVMValueRef arr = LLVMConstArray2(cg->ptr, elems, (uint64_t)cg->n_checks);
    free(elems);
    LLVMValueRef gv = LLVMAddGlobal(cg->mod, LLVMTypeOf(arr), "kiln_checks");
    LLVMSetInitializer(gv, arr);
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetLinkage(gv, LLVMPrivateLinkage);
    return gv;
}

/* const KilnModel kiln_model = {...}: the one exported symbol. */
static void emit_model_struct(Codegen *cg, const Graph *g, LLVMValueRef ws_fn,
                              LLVMValueRef run_fn) {
    const CodegenOptions *o = &cg->opts;
    LLVMValueRef fields[] = {
        i32c(cg, KILN_ABI_VERSION),
        const_str(cg, o->name ? o->name : "model"),
        const_str(cg, o->version ? o->version : "1"),
        const_str(cg, o->sha256 ? o->sha256 : ""),
        const_str(cg, o->build_info ? o->build_info : "{}"),
        i32c(cg, g->n_inputs),
        i32c(cg, g->n_outputs),
        tensor_infos(cg, g->inputs, g->n_inputs, "kiln_inputs"),
        tensor_infos(cg, g->outputs, g->n_outputs, "kiln_outputs"),
        ws_fn,
        run_fn,
        i32c(cg, cg->n_checks),
        check_table(cg),
    };
    LLVMValueRef init =
        LLVMConstStructInContext(cg->ctx, fields, sizeof fields / sizeof *fields, 0);
    LLVMValueRef gv = LLVMAddGlobal(cg->mod, LLVMTypeOf(init), "kiln_model");
    LLVMSetInitializer(gv, init);
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetAlignment(gv, 8);
}

/* Every function gets the target's CPU and features: a kernel left with
 * the bitcode's baseline x86-64 attributes would be vectorised for SSE2
 * only, and could not be inlined into a caller with more features. */
static void retarget_functions(Codegen *cg) {
    unsigned fi = (unsigned)LLVMAttributeFunctionIndex;
    LLVMAttributeRef cpu =
        LLVMCreateStringAttribute(cg->ctx, "target-cpu", 10, cg->cpu, (unsigned)strlen(cg->cpu));
    LLVMAttributeRef feat = LLVMCreateStringAttribute(cg->ctx, "target-features", 15, cg->features,
                                                      (unsigned)strlen(cg->features));
    for (LLVMValueRef f = LLVMGetFirstFunction(cg->mod); f; f = LLVMGetNextFunction(f)) {
        if (LLVMIsDeclaration(f)) continue;
        LLVMRemoveStringAttributeAtIndex(f, fi, "target-cpu", 10);
        LLVMRemoveStringAttributeAtIndex(f, fi, "target-features", 15);
        LLVMRemoveStringAttributeAtIndex(f, fi, "tune-cpu", 8);
        LLVMAddAttributeAtIndex(f, fi, cpu);
        if (cg->features[0]) LLVMAddAttributeAtIndex(f, fi, feat);
    }
}

/* The kernels are inlined into kiln_model_run (or its chunks, which keep
 * their noinline) and then disappear. */
static void internalize_kernels(Codegen *cg, LLVMValueRef keep1, LLVMValueRef keep2) {
    unsigned fi = (unsigned)LLVMAttributeFunctionIndex;
    unsigned always = LLVMGetEnumAttributeKindForName("alwaysinline", 12);
    unsigned noinline = LLVMGetEnumAttributeKindForName("noinline", 8);
    unsigned optnone = LLVMGetEnumAttributeKindForName("optnone", 7);
    for (LLVMValueRef f = LLVMGetFirstFunction(cg->mod); f; f = LLVMGetNextFunction(f)) {
        if (LLVMIsDeclaration(f) || f == keep1 || f == keep2) continue;
        size_t len;
        if (!strncmp(LLVMGetValueName2(f, &len), "kiln_model_chunk_", 17)) continue;
        LLVMSetLinkage(f, LLVMInternalLinkage);
        LLVMRemoveEnumAttributeAtIndex(f, fi, noinline);
        LLVMRemoveEnumAttributeAtIndex(f, fi, optnone);
        LLVMAddAttributeAtIndex(f, fi, LLVMCreateEnumAttribute(cg->ctx, always, 0));
    }
}

/* The architecture of a triple: its first field. */
static size_t triple_arch_len(const char *triple) {
    return strcspn(triple, "-");
}

/* The kernel bitcode for cg's architecture (the triple's first field), so
 * that the kernels' ABI lowering (argument extension, struct passing) and
 * data layout are the target's: the host's bitcode for the host's
 * architecture, else the cross one. 0 ok; -1 with a diagnostic: exit 2 for
 * an architecture kiln has no kernels for, 3 when this kiln was built
 * without them. */
static int kernel_bitcode_find(const Codegen *cg, const char **bc, size_t *len, Diag *d) {
    char *host = LLVMGetDefaultTargetTriple();
    size_t n = triple_arch_len(cg->triple);
    int is_host = n == triple_arch_len(host) && strncmp(cg->triple, host, n) == 0;
    LLVMDisposeMessage(host);
    if (is_host) {
        *bc = kiln_embed_kernels_bc;
        *len = (size_t)(kiln_embed_kernels_bc_end - kiln_embed_kernels_bc);
        return 0;
    }
    if (n == 7 && strncmp(cg->triple, "aarch64", 7) == 0) {
        *bc = kiln_embed_kernels_aarch64_bc;
        *len = (size_t)(kiln_embed_kernels_aarch64_bc_end - kiln_embed_kernels_aarch64_bc);
        if (*len) return 0;
        diag_env(d, "--target %s: this kiln was built without the aarch64 kernels", cg->triple);
        diag_hint(d, "install libc6-dev-arm64-cross and gcc-aarch64-linux-gnu "
                     "(scripts/install-deps.sh), then rebuild kiln");
        return -1;
    }
    diag_usage(d, "--target %s: kiln has no kernels for the '%.*s' architecture", cg->triple,
               (int)n, cg->triple);
    diag_hint(d, "kiln compiles for this machine's architecture and for aarch64-linux-gnu");
    return -1;
}

int codegen_build(Codegen *cg, const Graph *g, Diag *d) {
    const char *bc;
    size_t bc_len;
    if (kernel_bitcode_find(cg, &bc, &bc_len, d)) return -1;
    LLVMMemoryBufferRef buf = LLVMCreateMemoryBufferWithMemoryRange(bc, bc_len, "kernels.bc", 0);
    if (LLVMParseBitcodeInContext2(cg->ctx, buf, &cg->mod)) {
        LLVMDisposeMemoryBuffer(buf);
        diag_env(d, "the embedded kernel bitcode does not load; this kiln build is broken");
        return -1;
    }
    LLVMDisposeMemoryBuffer(buf);
    LLVMSetTarget(cg->mod, cg->triple);
    LLVMTargetDataRef td = LLVMCreateTargetDataLayout(cg->tm);
    LLVMSetModuleDataLayout(cg->mod, td);
    LLVMDisposeTargetData(td);
    LLVMSetModuleIdentifier(cg->mod, cg->opts.name ? cg->opts.name : "model",
                            strlen(cg->opts.name ? cg->opts.name : "model"));

    cg->i8 = LLVMInt8TypeInContext(cg->ctx);
    cg->i32 = LLVMInt32TypeInContext(cg->ctx);
    cg->i64 = LLVMInt64TypeInContext(cg->ctx);
    cg->f32 = LLVMFloatTypeInContext(cg->ctx);
    cg->ptr = LLVMPointerTypeInContext(cg->ctx, 0);
    cg->void_t = LLVMVoidTypeInContext(cg->ctx);
    cg->builder = LLVMCreateBuilderInContext(cg->ctx);
    cg->g = g;
    cg->d = d;

    LLVMValueRef run_fn = cg_emit_run(cg, g);
    if (!run_fn) return -1;
    LLVMValueRef ws_fn = emit_workspace_fn(cg, g); /* after run: it counts the check sites */
    emit_model_struct(cg, g, ws_fn, run_fn);
    internalize_kernels(cg, ws_fn, run_fn);
    retarget_functions(cg);

    char *err = NULL;
    if (LLVMVerifyModule(cg->mod, LLVMReturnStatusAction, &err)) {
        diag_env(d, "internal error: generated LLVM module is invalid: %s", err);
        LLVMDisposeMessage(err);
        return -1;
    }
    LLVMDisposeMessage(err);

    char pipeline[32];
    snprintf(pipeline, sizeof pipeline, "default<O%d>", cg->opts.opt_level);
    LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
    LLVMErrorRef e = LLVMRunPasses(cg->mod, pipeline, cg->tm, po);
    LLVMDisposePassBuilderOptions(po);
    if (e) {
        char *msg = LLVMGetErrorMessage(e);
        diag_env(d, "internal error: LLVM passes failed: %s", msg);
        LLVMDisposeErrorMessage(msg);
        return -1;
    }
    return 0;
}

int codegen_emit_file(Codegen *cg, const char *path, CodegenFileKind kind, Diag *d) {
    char *err = NULL;
    int bad;
    if (kind == CG_FILE_LLVM)
        bad = LLVMPrintModuleToFile(cg->mod, path, &err);
    else
        bad = LLVMTargetMachineEmitToFile(
            cg->tm, cg->mod, path, kind == CG_FILE_ASM ? LLVMAssemblyFile : LLVMObjectFile, &err);
    if (bad) {
        diag_env(d, "cannot write '%s': %s", path, err ? err : "unknown error");
        LLVMDisposeMessage(err);
        return -1;
    }
    return 0;
}

static int jit_error(Diag *d, LLVMErrorRef e, const char *what) {
    char *msg = LLVMGetErrorMessage(e);
    diag_env(d, "JIT %s failed: %s", what, msg);
    LLVMDisposeErrorMessage(msg);
    return -1;
}

int codegen_jit(Codegen *cg, const KilnModel **out, Diag *d) {
    LLVMOrcLLJITBuilderRef jb = LLVMOrcCreateLLJITBuilder();
    /* The JIT takes the target machine; a fresh one stays with cg. */
    LLVMTargetRef target = LLVMGetTargetMachineTarget(cg->tm);
    LLVMTargetMachineRef jtm = LLVMCreateTargetMachine(target, cg->triple, cg->cpu, cg->features,
                                                       LLVMCodeGenLevelAggressive, LLVMRelocDefault,
                                                       LLVMCodeModelJITDefault);
    LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(
        jb, LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(jtm));
    LLVMErrorRef e = LLVMOrcCreateLLJIT(&cg->jit, jb);
    if (e) return jit_error(d, e, "setup");

    /* Kernels may call libm and memcpy: resolve them in this process. */
    LLVMOrcDefinitionGeneratorRef gen;
    e = LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(
        &gen, LLVMOrcLLJITGetGlobalPrefix(cg->jit), NULL, NULL);
    if (e) return jit_error(d, e, "symbol search");
    LLVMOrcJITDylibRef main_jd = LLVMOrcLLJITGetMainJITDylib(cg->jit);
    LLVMOrcJITDylibAddGenerator(main_jd, gen);

    LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(cg->mod, cg->tsc);
    cg->mod = NULL; /* owned by the JIT now */
    e = LLVMOrcLLJITAddLLVMIRModule(cg->jit, main_jd, tsm);
    if (e) {
        LLVMOrcDisposeThreadSafeModule(tsm);
        return jit_error(d, e, "add module");
    }
    LLVMOrcExecutorAddress addr = 0;
    e = LLVMOrcLLJITLookup(cg->jit, &addr, "kiln_model");
    if (e) return jit_error(d, e, "lookup");
    *out = (const KilnModel *)(uintptr_t)addr;
    return 0;
}
