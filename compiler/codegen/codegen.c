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
static LLVMTargetMachineRef target_machine_create(LLVMTargetRef target, const char *triple,
                                                  const char *cpu, const char *features,
                                                  LLVMCodeGenOptLevel lvl, char why[256]) {
    why[0] = 0;
    FILE *cap = tmpfile();
    int saved = cap ? dup(2) : -1;
    fflush(stderr);
    if (saved >= 0) dup2(fileno(cap), 2);
    LLVMTargetMachineRef tm = LLVMCreateTargetMachine(target, triple, cpu, features, lvl,
                                                      LLVMRelocPIC, LLVMCodeModelDefault);
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

/* --- CPU variants ---------------------------------------------------------------- */

/* The x86-64 psABI level a named CPU has at least (its features are then
 * checked at start); a CPU not listed is checked for baseline x86-64 only.
 * `native` needs no row: the host's features are known exactly. */
static const struct {
    const char *cpu;
    int level;
} cpu_levels[] = {
    {"x86-64", 1},        {"generic", 1},        {"x86-64-v2", 2},
    {"x86-64-v3", 3},     {"x86-64-v4", 4},      {"nehalem", 2},
    {"corei7", 2},        {"westmere", 2},       {"sandybridge", 2},
    {"corei7-avx", 2},    {"ivybridge", 2},      {"core-avx-i", 2},
    {"silvermont", 2},    {"goldmont", 2},       {"goldmont-plus", 2},
    {"tremont", 2},       {"btver2", 2},         {"bdver1", 2},
    {"bdver2", 2},        {"bdver3", 2},         {"bdver4", 3},
    {"haswell", 3},       {"core-avx2", 3},      {"broadwell", 3},
    {"skylake", 3},       {"alderlake", 3},      {"raptorlake", 3},
    {"meteorlake", 3},    {"gracemont", 3},      {"znver1", 3},
    {"znver2", 3},        {"znver3", 3},         {"skylake-avx512", 4},
    {"skx", 4},           {"cascadelake", 4},    {"cooperlake", 4},
    {"cannonlake", 4},    {"icelake-client", 4}, {"icelake-server", 4},
    {"tigerlake", 4},     {"rocketlake", 4},     {"sapphirerapids", 4},
    {"emeraldrapids", 4}, {"graniterapids", 4},  {"znver4", 4},
    {"znver5", 4},
};

static const struct {
    const char *llvm;
    int word, bit;
    uint32_t xcr0;
    int level;
} cpu_features[] = {
#define KILN_CPU_FEATURE(llvm, shown, word, bit, xcr0, level)                                      \
    {llvm, CG_CPU_W_##word, bit, xcr0, level},
#include "kiln_cpu.def"
};
enum { N_CPU_FEATURES = sizeof cpu_features / sizeof *cpu_features };

/* Does the comma list `list` hold `name` (with a leading '+' when plus)? */
static int list_has(const char *list, const char *name, int plus) {
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (plus ? len == n + 1 && p[0] == '+' && !strncmp(p + 1, name, n)
                 : len == n && !strncmp(p, name, n))
            return 1;
        p += len + (e != NULL);
    }
    return 0;
}

/* v->needs and v->mask: the features of the host string (native), or of the
 * CPU's psABI level. */
static void variant_needs(CgVariant *v) {
    int level = 1;
    for (size_t i = 0; i < sizeof cpu_levels / sizeof *cpu_levels; i++)
        if (!strcmp(cpu_levels[i].cpu, v->cpu)) level = cpu_levels[i].level;
    size_t cap = 1;
    for (int i = 0; i < N_CPU_FEATURES; i++)
        cap += strlen(cpu_features[i].llvm) + 1;
    v->needs = calloc(1, cap);
    if (!v->needs) kiln_oom("cpu variant");
    for (int i = 0; i < N_CPU_FEATURES; i++) {
        int need = v->features[0] ? list_has(v->features, cpu_features[i].llvm, 1)
                                  : cpu_features[i].level >= 2 && cpu_features[i].level <= level;
        if (!need) continue;
        if (v->n_needs++) strcat(v->needs, ",");
        strcat(v->needs, cpu_features[i].llvm);
        v->mask[cpu_features[i].word] |= 1u << cpu_features[i].bit;
        v->mask[CG_CPU_W_XCR0] |= cpu_features[i].xcr0;
    }
}

static int mask_covers(const uint32_t *big, const uint32_t *small) {
    for (int w = 0; w < CG_CPU_N_WORDS; w++)
        if ((big[w] & small[w]) != small[w]) return 0;
    return 1;
}

/* Resolves one --cpu element into cg->variants (validated against the
 * target). 0 ok, -1 with a diagnostic. */
static int variant_add(Codegen *cg, LLVMTargetRef target, const char *name, size_t len, int host,
                       Diag *d) {
    char want[128];
    if (len == 0 || len >= sizeof want) {
        diag_usage(d, "--cpu '%s': %s", cg->opts.cpu,
                   len ? "a CPU name is too long" : "an empty CPU name");
        diag_hint(d, "give CPU names separated by commas, like x86-64-v2,x86-64-v3,x86-64-v4");
        return -1;
    }
    memcpy(want, name, len);
    want[len] = 0;
    if (cg->n_variants == CG_MAX_VARIANTS) {
        diag_usage(d, "--cpu '%s': more than %d CPUs", cg->opts.cpu, CG_MAX_VARIANTS);
        diag_hint(d, "x86-64-v2,x86-64-v3,x86-64-v4 covers every x86-64 CPU since 2009");
        return -1;
    }
    CgVariant *v = &cg->variants[cg->n_variants];
    if (strcmp(want, "native") != 0) {
        v->cpu = xstrdup(want);
        v->features = xstrdup("");
    } else if (!host) {
        v->cpu = xstrdup("generic");
        v->features = xstrdup("");
    } else {
        char *c = LLVMGetHostCPUName(), *f = LLVMGetHostCPUFeatures();
        v->cpu = xstrdup(c);
        v->features = xstrdup(f);
        LLVMDisposeMessage(c);
        LLVMDisposeMessage(f);
    }
    cg->n_variants++;
    for (int i = 0; i + 1 < cg->n_variants; i++)
        if (!strcmp(cg->variants[i].cpu, v->cpu) &&
            !strcmp(cg->variants[i].features, v->features)) {
            diag_usage(d, "--cpu '%s': CPU '%s' is listed twice", cg->opts.cpu, want);
            diag_hint(d, "list each CPU once");
            return -1;
        }
    char why[256];
    LLVMTargetMachineRef tm =
        target_machine_create(target, cg->triple, v->cpu, v->features, LLVMCodeGenLevelNone, why);
    if (!tm) {
        if (strstr(why, "feature"))
            diag_usage(d, "target '%s' with CPU '%s': %s", cg->triple, v->cpu, why);
        else
            diag_usage(d, "--cpu '%s' is not a CPU of target '%s'", want, cg->triple);
        diag_hint(d, "`llc-19 -mtriple=%s -mcpu=help` lists them; or leave out --cpu", cg->triple);
        return -1;
    }
    LLVMDisposeTargetMachine(tm);
    if (cg->x86) variant_needs(v);
    return 0;
}

/* cg->variants from --cpu (a comma list; NULL: native), ordered from the
 * least demanding; cg->cpu/features, the kernels' and the target
 * machine's, are the first variant's if every other has its features, else
 * baseline x86-64. 0 ok, -1 with a diagnostic. */
static int variants_create(Codegen *cg, LLVMTargetRef target, int host, Diag *d) {
    const char *list = cg->opts.cpu ? cg->opts.cpu : "native";
    for (const char *p = list;;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (variant_add(cg, target, p, len, host, d)) return -1;
        if (!e) break;
        p = e + 1;
    }
    if (cg->n_variants > 1 && !cg->x86) {
        diag_usage(d, "--cpu '%s': a list of CPUs is for x86-64 targets; '%s' takes one", list,
                   cg->triple);
        diag_hint(d, "give one --cpu, or leave it out for a generic CPU");
        return -1;
    }
    /* Insertion sort by the number of features needed; stable. */
    for (int i = 1; i < cg->n_variants; i++)
        for (int j = i; j > 0 && cg->variants[j - 1].n_needs > cg->variants[j].n_needs; j--) {
            CgVariant t = cg->variants[j];
            cg->variants[j] = cg->variants[j - 1];
            cg->variants[j - 1] = t;
        }
    int chain = 1;
    for (int i = 1; i < cg->n_variants; i++)
        chain &= mask_covers(cg->variants[i].mask, cg->variants[0].mask);
    size_t n = 1;
    for (int i = 0; i < cg->n_variants; i++)
        n += strlen(cg->variants[i].cpu) + 1;
    cg->cpu_list = calloc(1, n);
    if (!cg->cpu_list) kiln_oom("cpu list");
    for (int i = 0; i < cg->n_variants; i++) {
        CgVariant *v = &cg->variants[i];
        if (i) strcat(cg->cpu_list, ",");
        strcat(cg->cpu_list, v->cpu);
        if (cg->n_variants > 1) {
            snprintf(v->suffix, sizeof v->suffix, "_%s", v->cpu);
            for (char *c = v->suffix; *c; c++)
                if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                      (*c >= '0' && *c <= '9')))
                    *c = '_';
        }
    }
    int common = chain || !cg->x86;
    cg->cpu = xstrdup(common ? cg->variants[0].cpu : "x86-64");
    cg->features = xstrdup(common ? cg->variants[0].features : "");
    return 0;
}

Codegen *codegen_create(const CodegenOptions *o, Diag *d) {
    LLVMInitializeAllTargetInfos();
    LLVMInitializeAllTargets();
    LLVMInitializeAllTargetMCs();
    LLVMInitializeAllAsmPrinters();
    LLVMInitializeAllAsmParsers(); /* the variant dispatcher's cpuid is inline asm */

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
    cg->x86 = !strncmp(cg->triple, "x86_64-", 7);

    char *err = NULL;
    LLVMTargetRef target;
    if (LLVMGetTargetFromTriple(cg->triple, &target, &err)) {
        diag_usage(d, "unknown target '%s': %s", cg->triple, err);
        diag_hint(d, "use a triple such as x86_64-linux-gnu or aarch64-linux-gnu");
        LLVMDisposeMessage(err);
        codegen_destroy(cg);
        return NULL;
    }
    if (variants_create(cg, target, host, d)) {
        codegen_destroy(cg);
        return NULL;
    }
    static const LLVMCodeGenOptLevel levels[] = {LLVMCodeGenLevelNone, LLVMCodeGenLevelLess,
                                                 LLVMCodeGenLevelDefault,
                                                 LLVMCodeGenLevelAggressive};
    int lvl = o->opt_level < 0 ? 0 : o->opt_level > 3 ? 3 : o->opt_level;
    char why[256];
    cg->tm = target_machine_create(target, cg->triple, cg->cpu, cg->features, levels[lvl], why);
    if (!cg->tm) {
        diag_env(d, "internal error: no target machine for CPU '%s': %s", cg->cpu, why);
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
    free(cg->dimv);
    free(cg->dimv_fn);
    cg_tasks_free(cg);
    free(cg->triple);
    free(cg->cpu);
    free(cg->features);
    free(cg->cpu_list);
    for (int i = 0; i < cg->n_variants; i++) {
        free(cg->variants[i].cpu);
        free(cg->variants[i].features);
        free(cg->variants[i].needs);
    }
    free(cg);
}

const char *codegen_triple(const Codegen *cg) {
    return cg->triple;
}
const char *codegen_cpu(const Codegen *cg) {
    return cg->cpu_list;
}
void codegen_set_build_info(Codegen *cg, const char *build_info) {
    cg->opts.build_info = build_info;
}

void codegen_set_symbol(Codegen *cg, const char *symbol) {
    cg->symbol = symbol;
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

/* The ABI's symbols are those some graph input has (a symbol pinned by
 * --shape or --dim is a number everywhere): abi_sym[s] is symbol s's index
 * in KilnModel.syms, -1 if it has none; returns their count. */
static int abi_syms(const Graph *g, int *abi_sym) {
    int syms[DIM_MAX_SYMS], n = ir_graph_syms(g, syms);
    for (int s = 0; s < dim_n_syms(); s++)
        abi_sym[s] = -1;
    for (int i = 0; i < n; i++)
        abi_sym[syms[i]] = i;
    return n;
}

static LLVMValueRef i64_array(Codegen *cg, const int64_t *v, int n, const char *name) {
    return cg_const_bytes(cg, v, sizeof(int64_t) * (size_t)(n ? n : 1), 8, name);
}

/* const KilnTensorInfo name[n] for the graph's inputs or outputs. */
static LLVMValueRef tensor_infos(Codegen *cg, const Graph *g, Value *const *vs, int n,
                                 const char *name) {
    int abi_sym[DIM_MAX_SYMS];
    abi_syms(g, abi_sym);
    LLVMTypeRef info_t = LLVMStructTypeInContext(
        cg->ctx,
        (LLVMTypeRef[]){cg->ptr, cg->i32, cg->i32, cg->ptr, cg->ptr, cg->ptr, cg->ptr, cg->ptr}, 8,
        0);
    LLVMValueRef *elems = calloc((size_t)n + 1, sizeof(LLVMValueRef));
    if (!elems) kiln_oom("tensor info table");
    for (int i = 0; i < n; i++) {
        const Value *v = vs[i];
        int r = v->shape.rank;
        int64_t dims[IR_MAX_RANK] = {0}, lo[IR_MAX_RANK] = {0}, hi[IR_MAX_RANK] = {0};
        int32_t sym[IR_MAX_RANK] = {0};
        LLVMValueRef text[IR_MAX_RANK];
        for (int k = 0; k < r; k++) {
            Dim d = v->shape.dims[k];
            char buf[256];
            dims[k] = d >= 0 ? d : -1;
            dim_bounds(d, &lo[k], &hi[k]);
            if (lo[k] < 0) lo[k] = 0;
            sym[k] = dim_sym_of(d) >= 0 ? abi_sym[dim_sym_of(d)] : -1;
            text[k] = const_str(cg, dim_str(d, buf, sizeof buf));
        }
        LLVMValueRef tg = LLVMConstPointerNull(cg->ptr);
        if (r) {
            LLVMValueRef texts = LLVMConstArray2(cg->ptr, text, (uint64_t)r);
            tg = LLVMAddGlobal(cg->mod, LLVMTypeOf(texts), "dims");
            LLVMSetInitializer(tg, texts);
            LLVMSetGlobalConstant(tg, 1);
            LLVMSetLinkage(tg, LLVMPrivateLinkage);
        }
        LLVMValueRef fields[8] = {
            const_str(cg, v->name),
            i32c(cg, v->dtype),
            i32c(cg, r),
            i64_array(cg, dims, r, "shape"),
            i64_array(cg, lo, r, "dim_min"),
            i64_array(cg, hi, r, "dim_max"),
            cg_const_bytes(cg, sym, sizeof(int32_t) * (size_t)(r ? r : 1), 4, "dim_sym"),
            tg,
        };
        elems[i] = LLVMConstStructInContext(cg->ctx, fields, 8, 0);
    }
    LLVMValueRef arr = LLVMConstArray2(info_t, elems, (uint64_t)n);
    free(elems);
    LLVMValueRef gv = LLVMAddGlobal(cg->mod, LLVMTypeOf(arr), name);
    LLVMSetInitializer(gv, arr);
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetLinkage(gv, LLVMPrivateLinkage);
    return gv;
}

/* Input dims that carry the symbols of d, as text for a check site:
 * "input 'image' dim 2 (height), input 'image' dim 3 (width)". */
static void dim_syms_of(Dim d, unsigned char *used) {
    const DimExpr *x = dim_expr(d);
    if (!x) return;
    if (x->kind == DIMK_SYM) used[x->sym] = 1;
    if (x->kind == DIMK_POLY)
        for (int t = 0; t < x->n_terms; t++)
            for (int f = 0; f < x->terms[t].n; f++)
                dim_syms_of(x->terms[t].atom[f], used);
    if (x->kind >= DIMK_FLOORDIV) {
        dim_syms_of(x->a, used);
        dim_syms_of(x->b, used);
    }
}

static const char *dim_sources(const Graph *g, Dim d) {
    unsigned char used[DIM_MAX_SYMS] = {0};
    dim_syms_of(d, used);
    const char *s = "";
    for (int i = 0; i < g->n_inputs; i++)
        for (int k = 0; k < g->inputs[i]->shape.rank; k++) {
            int y = dim_sym_of(g->inputs[i]->shape.dims[k]);
            if (y < 0 || !used[y]) continue;
            used[y] = 0;
            s = arena_printf(g->arena, "%s%sinput '%s' dim %d (%s)", s, *s ? ", " : "",
                             g->inputs[i]->name, k, dim_sym_name(y));
        }
    return s;
}

/* const KilnSymbol kiln_syms[n_syms]: the inputs' symbols (abi_syms). */
static LLVMValueRef sym_table(Codegen *cg, const Graph *g) {
    int abi_sym[DIM_MAX_SYMS];
    int n = abi_syms(g, abi_sym);
    if (!n) return LLVMConstPointerNull(cg->ptr);
    LLVMTypeRef t =
        LLVMStructTypeInContext(cg->ctx, (LLVMTypeRef[]){cg->ptr, cg->i64, cg->i64}, 3, 0);
    LLVMValueRef *elems = calloc((size_t)n, sizeof(LLVMValueRef));
    if (!elems) kiln_oom("symbol table");
    for (int i = 0; i < dim_n_syms(); i++) {
        int64_t lo, hi;
        if (abi_sym[i] < 0) continue;
        dim_sym_bounds(i, &lo, &hi);
        LLVMValueRef f[] = {const_str(cg, dim_sym_name(i)), cg_i64(cg, lo), cg_i64(cg, hi)};
        elems[abi_sym[i]] = LLVMConstStructInContext(cg->ctx, f, 3, 0);
    }
    LLVMValueRef arr = LLVMConstArray2(t, elems, (uint64_t)n);
    free(elems);
    LLVMValueRef gv = LLVMAddGlobal(cg->mod, LLVMTypeOf(arr), "kiln_syms");
    LLVMSetInitializer(gv, arr);
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetLinkage(gv, LLVMPrivateLinkage);
    return gv;
}

/* --- the ABI's shape functions (kiln_model.h, version 4) ------------------------- */

/* Starts an internal function of the shape machinery: the entry block
 * (where cg_dim_value computes dims from cg->syms) and a body. */
static LLVMValueRef abi_fn_begin(Codegen *cg, const char *name, LLVMTypeRef ret,
                                 LLVMTypeRef *params, unsigned n, LLVMBasicBlockRef *body) {
    LLVMValueRef fn = LLVMAddFunction(cg->mod, name, LLVMFunctionType(ret, params, n, 0));
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    cg_fn_retarget(cg, fn, cg->fn_cpu, cg->fn_features);
    LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry");
    *body = LLVMAppendBasicBlockInContext(cg->ctx, fn, "body");
    LLVMPositionBuilderAtEnd(cg->entry, entry);
    LLVMPositionBuilderAtEnd(cg->builder, *body);
    cg->fn_id++;
    return fn;
}

/* Field k of the KilnRunError at err (kiln_model.h's layout). */
static void err_store(Codegen *cg, LLVMValueRef err, int field, LLVMValueRef v) {
    static const int offs[] = {0, 8, 16, 24, 32, 40}; /* value position size lo hi kind */
    LLVMValueRef o = cg_i64(cg, offs[field]);
    LLVMValueRef p = LLVMBuildGEP2(cg->builder, cg->i8, err, &o, 1, "");
    LLVMBuildStore(cg->builder, field == 5 ? LLVMBuildTrunc(cg->builder, v, cg->i32, "") : v, p);
}

/* if (!ok) { *err = {value, at, size, lo, hi, kind}; return site; } */
static void abi_check(Codegen *cg, LLVMValueRef fn, LLVMValueRef ok, LLVMValueRef err,
                      const char *text, int kind, LLVMValueRef value, int64_t at, LLVMValueRef size,
                      int64_t lo, int64_t hi) {
    LLVMBasicBlockRef fail = LLVMAppendBasicBlockInContext(cg->ctx, fn, "shape_bad");
    LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(cg->ctx, fn, "shape_ok");
    LLVMBuildCondBr(cg->builder, ok, next, fail);
    LLVMPositionBuilderAtEnd(cg->builder, fail);
    err_store(cg, err, 0, value);
    err_store(cg, err, 1, cg_i64(cg, at));
    err_store(cg, err, 2, size ? size : cg_i64(cg, 0));
    err_store(cg, err, 3, cg_i64(cg, lo));
    err_store(cg, err, 4, cg_i64(cg, hi));
    err_store(cg, err, 5, cg_i64(cg, kind));
    LLVMBuildRet(cg->builder, i32c(cg, cg_check_site_add(cg, text)));
    LLVMPositionBuilderAtEnd(cg->builder, next);
}

static LLVMValueRef load_at(Codegen *cg, LLVMTypeRef t, LLVMValueRef base, int64_t i) {
    LLVMValueRef idx = cg_i64(cg, i);
    return LLVMBuildLoad2(cg->builder, t, LLVMBuildGEP2(cg->builder, t, base, &idx, 1, ""), "");
}

static void store_at(Codegen *cg, LLVMTypeRef t, LLVMValueRef base, int64_t i, LLVMValueRef v) {
    LLVMValueRef idx = cg_i64(cg, i);
    LLVMBuildStore(cg->builder, v, LLVMBuildGEP2(cg->builder, t, base, &idx, 1, ""));
}

/* i32 kiln_model_syms(in_shapes, syms, err): each input dim against the
 * model (a fixed size, a symbol's bounds, the value an earlier input gave
 * the symbol), the symbols into syms. */
static LLVMValueRef emit_syms_fn(Codegen *cg, const Graph *g) {
    LLVMBasicBlockRef body;
    LLVMValueRef fn = abi_fn_begin(cg, "kiln_model_syms", cg->i32,
                                   (LLVMTypeRef[]){cg->ptr, cg->ptr, cg->ptr}, 3, &body);
    LLVMValueRef in_shapes = LLVMGetParam(fn, 0), syms = LLVMGetParam(fn, 1),
                 err = LLVMGetParam(fn, 2);
    int n = dim_n_syms();
    LLVMValueRef *got = calloc((size_t)n + 1, sizeof(LLVMValueRef));
    const char **from = calloc((size_t)n + 1, sizeof(char *));
    if (!got || !from) kiln_oom("symbol table");
    for (int i = 0; i < g->n_inputs; i++) {
        const Value *v = g->inputs[i];
        LLVMValueRef shape = load_at(cg, cg->ptr, in_shapes, i);
        for (int k = 0; k < v->shape.rank; k++) {
            Dim d = v->shape.dims[k];
            LLVMValueRef x = load_at(cg, cg->i64, shape, k);
            int s = dim_sym_of(d);
            const char *at = arena_printf(g->arena, "input '%s' dim %d", v->name, k);
            if (d >= 0 || s < 0) {
                LLVMValueRef want = cg_i64(cg, d >= 0 ? d : 0);
                abi_check(cg, fn, LLVMBuildICmp(cg->builder, LLVMIntEQ, x, want, ""), err, at,
                          KILN_CHECK_DIM_MATCH, x, k, want, 0, 0);
            } else if (!got[s]) {
                int64_t lo, hi;
                dim_sym_bounds(s, &lo, &hi);
                LLVMValueRef ok = LLVMBuildAnd(
                    cg->builder, LLVMBuildICmp(cg->builder, LLVMIntSGE, x, cg_i64(cg, lo), ""),
                    LLVMBuildICmp(cg->builder, LLVMIntSLE, x, cg_i64(cg, hi), ""), "");
                abi_check(cg, fn, ok, err, arena_printf(g->arena, "%s (%s)", at, dim_sym_name(s)),
                          KILN_CHECK_DIM_RANGE, x, k, NULL, lo, hi);
                store_at(cg, cg->i64, syms, s, x);
                got[s] = x;
                from[s] = at;
            } else {
                abi_check(
                    cg, fn, LLVMBuildICmp(cg->builder, LLVMIntEQ, x, got[s], ""), err,
                    arena_printf(g->arena, "%s (%s, which %s gives)", at, dim_sym_name(s), from[s]),
                    KILN_CHECK_DIM_MATCH, x, k, got[s], 0, 0);
            }
        }
    }
    /* Symbols pinned away, or in no input; a data-dependent one (dim.h) is
     * at its bound until its kernel writes it, so that shapes() reports and
     * workspace_size() plans the bound. A bound's symbols come before it. */
    cg->syms = syms;
    for (int s = 0; s < n; s++)
        if (!got[s] && dim_sym_data_bound(s) != DIM_INVALID) {
            store_at(cg, cg->i64, syms, s, cg_dim_value_here(cg, dim_sym_data_bound(s)));
        } else if (!got[s]) {
            int64_t lo, hi;
            dim_sym_bounds(s, &lo, &hi);
            store_at(cg, cg->i64, syms, s, cg_i64(cg, lo));
        }
    LLVMBuildRet(cg->builder, i32c(cg, 0));
    LLVMBuildBr(cg->entry, body);
    free(got);
    free(from);
    return fn;
}

/* i32 kiln_model_dim_checks(syms, err): what shape inference left to run
 * time (Graph.dim_checks). */
static LLVMValueRef emit_dim_checks_fn(Codegen *cg, const Graph *g) {
    LLVMBasicBlockRef body;
    LLVMValueRef fn = abi_fn_begin(cg, "kiln_model_dim_checks", cg->i32,
                                   (LLVMTypeRef[]){cg->ptr, cg->ptr}, 2, &body);
    cg->syms = LLVMGetParam(fn, 0);
    LLVMValueRef err = LLVMGetParam(fn, 1);
    for (int i = 0; i < g->n_dim_checks; i++) {
        const DimCheck *c = &g->dim_checks[i];
        LLVMValueRef a = cg_dim_value(cg, c->a), b = cg_dim_value(cg, c->b);
        const char *from = dim_sources(g, dim_add(c->a, c->b));
        const char *what = *from ? arena_printf(g->arena, "%s, from %s", c->what, from) : c->what;
        if (c->kind == DIMCHECK_EQUAL) {
            abi_check(cg, fn, LLVMBuildICmp(cg->builder, LLVMIntEQ, a, b, ""), err, what,
                      KILN_CHECK_DIM_MATCH, a, 0, b, 0, 0);
        } else {
            int64_t lo = 0;
            dim_value(c->b, &lo);
            abi_check(cg, fn, LLVMBuildICmp(cg->builder, LLVMIntSGE, a, b, ""), err, what,
                      KILN_CHECK_DIM_SIZE, a, 0, NULL, lo, 0);
        }
    }
    LLVMBuildRet(cg->builder, i32c(cg, 0));
    LLVMBuildBr(cg->entry, body);
    return fn;
}

/* void kiln_model_out_shapes(syms, out_shapes). */
static LLVMValueRef emit_out_shapes_fn(Codegen *cg, const Graph *g) {
    LLVMBasicBlockRef body;
    LLVMValueRef fn = abi_fn_begin(cg, "kiln_model_out_shapes", cg->void_t,
                                   (LLVMTypeRef[]){cg->ptr, cg->ptr}, 2, &body);
    cg->syms = LLVMGetParam(fn, 0);
    LLVMValueRef out = LLVMGetParam(fn, 1);
    for (int i = 0; i < g->n_outputs; i++) {
        const Value *v = g->outputs[i];
        LLVMValueRef shape = load_at(cg, cg->ptr, out, i);
        for (int k = 0; k < v->shape.rank; k++)
            store_at(cg, cg->i64, shape, k, cg_dim_value(cg, v->shape.dims[k]));
    }
    LLVMBuildRetVoid(cg->builder);
    LLVMBuildBr(cg->entry, body);
    return fn;
}

/* i64 kiln_model_ws_bytes(syms): the KilnRunError, then the plan. */
static LLVMValueRef emit_ws_bytes_fn(Codegen *cg, const Graph *g) {
    LLVMBasicBlockRef body;
    LLVMValueRef fn =
        abi_fn_begin(cg, "kiln_model_ws_bytes", cg->i64, (LLVMTypeRef[]){cg->ptr}, 1, &body);
    cg->syms = LLVMGetParam(fn, 0);
    LLVMValueRef ws = cg_dim_value(cg, g->ws_size);
    LLVMBuildRet(cg->builder, LLVMBuildAdd(cg->builder, ws, cg_i64(cg, KILN_RUN_ERROR_BYTES), ""));
    LLVMBuildBr(cg->entry, body);
    return fn;
}

static LLVMValueRef call(Codegen *cg, LLVMValueRef fn, LLVMValueRef *args, unsigned n) {
    return LLVMBuildCall2(cg->builder, LLVMGlobalGetValueType(fn), fn, args, n, "");
}

/* The symbol values of one call, on the stack (in the entry block). */
static LLVMValueRef syms_alloca(Codegen *cg) {
    int n = dim_n_syms();
    return LLVMBuildAlloca(cg->entry, LLVMArrayType2(cg->i64, (uint64_t)(n ? n : 1)), "syms");
}

/* if (rc) return ret (rc itself if ret is NULL). */
static void return_if(Codegen *cg, LLVMValueRef fn, LLVMValueRef rc, LLVMValueRef ret) {
    LLVMBasicBlockRef fail = LLVMAppendBasicBlockInContext(cg->ctx, fn, "fail");
    LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(cg->ctx, fn, "next");
    LLVMBuildCondBr(cg->builder, LLVMBuildICmp(cg->builder, LLVMIntNE, rc, i32c(cg, 0), ""), fail,
                    next);
    LLVMPositionBuilderAtEnd(cg->builder, fail);
    LLVMBuildRet(cg->builder, ret ? ret : rc);
    LLVMPositionBuilderAtEnd(cg->builder, next);
}

/* if (shapes) kiln_model_out_shapes(syms, shapes); then the builder is past it. */
static void write_out_shapes(Codegen *cg, LLVMValueRef fn, LLVMValueRef out_shapes_fn,
                             LLVMValueRef syms, LLVMValueRef shapes) {
    LLVMBasicBlockRef write = LLVMAppendBasicBlockInContext(cg->ctx, fn, "write");
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(cg->ctx, fn, "done");
    LLVMBuildCondBr(cg->builder, LLVMBuildIsNull(cg->builder, shapes, ""), done, write);
    LLVMPositionBuilderAtEnd(cg->builder, write);
    call(cg, out_shapes_fn, (LLVMValueRef[]){syms, shapes}, 2);
    LLVMBuildBr(cg->builder, done);
    LLVMPositionBuilderAtEnd(cg->builder, done);
}

typedef struct AbiFns {
    LLVMValueRef shapes, workspace_size, run; /* what KilnModel points to */
} AbiFns;

/* shapes(), workspace_size() and run() of kiln_model.h over the model's
 * own run (inner_run: inputs, outputs, ws, syms, pool). Emitted after the
 * run functions, so that their check sites follow the run's. */
static void emit_abi_fns(Codegen *cg, const Graph *g, LLVMValueRef inner_run, AbiFns *f) {
    LLVMValueRef syms_fn = emit_syms_fn(cg, g), checks_fn = emit_dim_checks_fn(cg, g);
    LLVMValueRef out_fn = emit_out_shapes_fn(cg, g), ws_fn = emit_ws_bytes_fn(cg, g);
    LLVMBasicBlockRef body;

    LLVMValueRef fn = abi_fn_begin(cg, "kiln_model_shapes", cg->i32,
                                   (LLVMTypeRef[]){cg->ptr, cg->ptr, cg->ptr}, 3, &body);
    LLVMValueRef syms = syms_alloca(cg), err = LLVMGetParam(fn, 2);
    return_if(cg, fn, call(cg, syms_fn, (LLVMValueRef[]){LLVMGetParam(fn, 0), syms, err}, 3), NULL);
    return_if(cg, fn, call(cg, checks_fn, (LLVMValueRef[]){syms, err}, 2), NULL);
    write_out_shapes(cg, fn, out_fn, syms, LLVMGetParam(fn, 1));
    LLVMBuildRet(cg->builder, i32c(cg, 0));
    LLVMBuildBr(cg->entry, body);
    f->shapes = fn;

    fn = abi_fn_begin(cg, "kiln_model_workspace_size", cg->i64, (LLVMTypeRef[]){cg->ptr}, 1, &body);
    syms = syms_alloca(cg);
    err = LLVMBuildAlloca(cg->entry, LLVMArrayType2(cg->i8, KILN_RUN_ERROR_BYTES), "err");
    LLVMValueRef huge = LLVMConstAllOnes(cg->i64);
    return_if(cg, fn, call(cg, syms_fn, (LLVMValueRef[]){LLVMGetParam(fn, 0), syms, err}, 3), huge);
    return_if(cg, fn, call(cg, checks_fn, (LLVMValueRef[]){syms, err}, 2), huge);
    LLVMBuildRet(cg->builder, call(cg, ws_fn, &syms, 1));
    LLVMBuildBr(cg->entry, body);
    f->workspace_size = fn;

    fn = abi_fn_begin(cg, "kiln_model_run_abi", cg->i32,
                      (LLVMTypeRef[]){cg->ptr, cg->ptr, cg->ptr, cg->ptr, cg->ptr, cg->ptr}, 6,
                      &body);
    syms = syms_alloca(cg);
    LLVMValueRef ws = LLVMGetParam(fn, 4);
    return_if(cg, fn, call(cg, syms_fn, (LLVMValueRef[]){LLVMGetParam(fn, 1), syms, ws}, 3), NULL);
    return_if(cg, fn, call(cg, checks_fn, (LLVMValueRef[]){syms, ws}, 2), NULL);
    LLVMValueRef rc = call(
        cg, inner_run,
        (LLVMValueRef[]){LLVMGetParam(fn, 0), LLVMGetParam(fn, 2), ws, syms, LLVMGetParam(fn, 5)},
        5);
    write_out_shapes(cg, fn, out_fn, syms, LLVMGetParam(fn, 3));
    LLVMBuildRet(cg->builder, rc);
    LLVMBuildBr(cg->entry, body);
    f->run = fn;
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

/* const KilnCpuVariant kiln_variants[n_variants]. */
static LLVMValueRef variant_table(Codegen *cg) {
    if (!cg->x86) return LLVMConstPointerNull(cg->ptr);
    LLVMTypeRef t = LLVMStructTypeInContext(cg->ctx, (LLVMTypeRef[]){cg->ptr, cg->ptr}, 2, 0);
    LLVMValueRef elems[CG_MAX_VARIANTS];
    for (int i = 0; i < cg->n_variants; i++) {
        LLVMValueRef f[] = {const_str(cg, cg->variants[i].cpu),
                            const_str(cg, cg->variants[i].needs)};
        elems[i] = LLVMConstStructInContext(cg->ctx, f, 2, 0);
    }
    LLVMValueRef arr = LLVMConstArray2(t, elems, (uint64_t)cg->n_variants);
    LLVMValueRef gv = LLVMAddGlobal(cg->mod, LLVMTypeOf(arr), "kiln_variants");
    LLVMSetInitializer(gv, arr);
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetLinkage(gv, LLVMPrivateLinkage);
    return gv;
}

/* const KilnModel kiln_model = {...} (or codegen_set_symbol's name): the
 * one exported symbol. */
static void emit_model_struct(Codegen *cg, const Graph *g, const AbiFns *f,
                              LLVMValueRef variant_fn) {
    const CodegenOptions *o = &cg->opts;
    LLVMValueRef fields[] = {
        i32c(cg, KILN_ABI_VERSION),
        const_str(cg, o->name ? o->name : "model"),
        const_str(cg, o->version ? o->version : "1"),
        const_str(cg, o->sha256 ? o->sha256 : ""),
        const_str(cg, o->build_info ? o->build_info : "{}"),
        i32c(cg, g->n_inputs),
        i32c(cg, g->n_outputs),
        tensor_infos(cg, g, g->inputs, g->n_inputs, "kiln_inputs"),
        tensor_infos(cg, g, g->outputs, g->n_outputs, "kiln_outputs"),
        i32c(cg, abi_syms(g, (int[DIM_MAX_SYMS]){0})),
        sym_table(cg, g),
        f->shapes,
        f->workspace_size,
        f->run,
        i32c(cg, cg->n_checks),
        check_table(cg),
        i32c(cg, cg->x86 ? cg->n_variants : 0),
        variant_table(cg),
        variant_fn ? variant_fn : LLVMConstPointerNull(cg->ptr),
    };
    LLVMValueRef init =
        LLVMConstStructInContext(cg->ctx, fields, sizeof fields / sizeof *fields, 0);
    LLVMValueRef gv =
        LLVMAddGlobal(cg->mod, LLVMTypeOf(init), cg->symbol ? cg->symbol : "kiln_model");
    LLVMSetInitializer(gv, init);
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetAlignment(gv, 8);
}

/* --- the variant dispatcher (x86-64) --------------------------------------------- */

/* Register reg of cpuid(leaf, sub). */
static LLVMValueRef cpuid(Codegen *cg, uint32_t leaf, uint32_t sub, int reg) {
    LLVMTypeRef rt =
        LLVMStructTypeInContext(cg->ctx, (LLVMTypeRef[]){cg->i32, cg->i32, cg->i32, cg->i32}, 4, 0);
    LLVMTypeRef ft = LLVMFunctionType(rt, (LLVMTypeRef[]){cg->i32, cg->i32}, 2, 0);
    static const char cons[] = "={ax},={bx},={cx},={dx},{ax},{cx}";
    LLVMValueRef asm_ =
        LLVMGetInlineAsm(ft, "cpuid", 5, cons, sizeof cons - 1, 1, 0, LLVMInlineAsmDialectATT, 0);
    LLVMValueRef args[] = {LLVMConstInt(cg->i32, leaf, 0), LLVMConstInt(cg->i32, sub, 0)};
    LLVMValueRef r = LLVMBuildCall2(cg->builder, ft, asm_, args, 2, "cpuid");
    return LLVMBuildExtractValue(cg->builder, r, (unsigned)reg, "");
}

/* int kiln_model_variant(void), compiled for baseline x86-64: on its first
 * call reads the cpuid words of kiln_cpu.def (as runtime/service/cpu.c
 * does) and caches the last variant whose masks they cover, -1 if none. */
static LLVMValueRef emit_variant_fn(Codegen *cg) {
    LLVMValueRef cache = LLVMAddGlobal(cg->mod, cg->i32, "kiln_model_variant_cache");
    LLVMSetInitializer(cache, LLVMConstInt(cg->i32, (unsigned long long)-2, 1));
    LLVMSetLinkage(cache, LLVMInternalLinkage);
    LLVMSetAlignment(cache, 4);

    LLVMTypeRef ft = LLVMFunctionType(cg->i32, NULL, 0, 0);
    LLVMValueRef fn = LLVMAddFunction(cg->mod, "kiln_model_variant", ft);
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    cg_fn_retarget(cg, fn, cg->fn_cpu, cg->fn_features);
    LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry");
    LLVMBasicBlockRef probe = LLVMAppendBasicBlockInContext(cg->ctx, fn, "probe");
    LLVMBasicBlockRef xgetbv = LLVMAppendBasicBlockInContext(cg->ctx, fn, "xgetbv");
    LLVMBasicBlockRef pick = LLVMAppendBasicBlockInContext(cg->ctx, fn, "pick");
    LLVMBuilderRef b = cg->builder;

    LLVMPositionBuilderAtEnd(b, entry);
    LLVMValueRef got = LLVMBuildLoad2(b, cg->i32, cache, "cached");
    LLVMSetOrdering(got, LLVMAtomicOrderingMonotonic);
    LLVMSetAlignment(got, 4);
    LLVMBasicBlockRef ret_cached = LLVMAppendBasicBlockInContext(cg->ctx, fn, "cached");
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntEQ, got, i32c(cg, -2), ""), probe, ret_cached);
    LLVMPositionBuilderAtEnd(b, ret_cached);
    LLVMBuildRet(b, got);

    /* A leaf above the CPU's highest reads as 0 (cpuid would answer with
     * another leaf's bits). */
    LLVMPositionBuilderAtEnd(b, probe);
    LLVMValueRef max_basic = cpuid(cg, 0, 0, 0), max_ext = cpuid(cg, 0x80000000u, 0, 0);
    LLVMValueRef w[CG_CPU_N_WORDS];
    int i = 0;
#define KILN_CPU_WORD(word, leaf, sub, reg)                                                        \
    if (CG_CPU_W_##word != CG_CPU_W_XCR0) {                                                        \
        LLVMValueRef top = (uint32_t)(leaf) >= 0x80000000u ? max_ext : max_basic;                  \
        LLVMValueRef ok = LLVMBuildICmp(b, LLVMIntUGE, top, LLVMConstInt(cg->i32, leaf, 0), "");   \
        w[i] = LLVMBuildSelect(b, ok, cpuid(cg, leaf, sub, reg), i32c(cg, 0), "");                 \
    }                                                                                              \
    i++;
#include "kiln_cpu.def"
    /* xgetbv faults unless the OS has set OSXSAVE (cpuid 1 ecx bit 27). */
    LLVMValueRef osx = LLVMBuildAnd(b, w[CG_CPU_W_1ECX], i32c(cg, 1 << 27), "");
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntNE, osx, i32c(cg, 0), ""), xgetbv, pick);
    LLVMPositionBuilderAtEnd(b, xgetbv);
    LLVMTypeRef xt =
        LLVMFunctionType(LLVMStructTypeInContext(cg->ctx, (LLVMTypeRef[]){cg->i32, cg->i32}, 2, 0),
                         (LLVMTypeRef[]){cg->i32}, 1, 0);
    static const char xcons[] = "={ax},={dx},{cx}";
    LLVMValueRef xasm = LLVMGetInlineAsm(xt, "xgetbv", 6, xcons, sizeof xcons - 1, 1, 0,
                                         LLVMInlineAsmDialectATT, 0);
    LLVMValueRef zero = i32c(cg, 0);
    LLVMValueRef xr =
        LLVMBuildExtractValue(b, LLVMBuildCall2(b, xt, xasm, &zero, 1, "xgetbv"), 0, "");
    LLVMBuildBr(b, pick);
    LLVMPositionBuilderAtEnd(b, pick);
    LLVMValueRef xcr0 = LLVMBuildPhi(b, cg->i32, "xcr0");
    LLVMValueRef in_v[] = {xr, zero};
    LLVMBasicBlockRef in_b[] = {xgetbv, probe};
    LLVMAddIncoming(xcr0, in_v, in_b, 2);
    w[CG_CPU_W_XCR0] = xcr0;

    LLVMValueRef best = i32c(cg, -1);
    for (int k = 0; k < cg->n_variants; k++) {
        LLVMValueRef ok = LLVMConstInt(LLVMInt1TypeInContext(cg->ctx), 1, 0);
        for (int j = 0; j < CG_CPU_N_WORDS; j++) {
            uint32_t m = cg->variants[k].mask[j];
            if (!m) continue;
            LLVMValueRef mv = LLVMConstInt(cg->i32, m, 0);
            ok = LLVMBuildAnd(
                b, ok, LLVMBuildICmp(b, LLVMIntEQ, LLVMBuildAnd(b, w[j], mv, ""), mv, ""), "");
        }
        best = LLVMBuildSelect(b, ok, i32c(cg, k), best, "");
    }
    LLVMValueRef st = LLVMBuildStore(b, best, cache);
    LLVMSetOrdering(st, LLVMAtomicOrderingMonotonic);
    LLVMSetAlignment(st, 4);
    LLVMBuildRet(b, best);
    return fn;
}

/* kiln_model_run_dispatch(...), run() of a model with variants: calls the
 * variant kiln_model_variant() picks, or returns KILN_RUN_NO_CPU. */
static LLVMValueRef emit_dispatch_fn(Codegen *cg, LLVMValueRef variant_fn) {
    LLVMTypeRef ft = LLVMGlobalGetValueType(cg->variants[0].run);
    LLVMValueRef fn = LLVMAddFunction(cg->mod, "kiln_model_run_dispatch", ft);
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    cg_fn_retarget(cg, fn, cg->fn_cpu, cg->fn_features);
    LLVMBuilderRef b = cg->builder;
    LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry"));
    LLVMValueRef k = LLVMBuildCall2(b, LLVMGlobalGetValueType(variant_fn), variant_fn, NULL, 0, "");
    LLVMBasicBlockRef none = LLVMAppendBasicBlockInContext(cg->ctx, fn, "no_cpu");
    LLVMValueRef sw = LLVMBuildSwitch(b, k, none, (unsigned)cg->n_variants);
    LLVMValueRef args[5];
    for (unsigned a = 0; a < 5; a++)
        args[a] = LLVMGetParam(fn, a);
    unsigned noinline = LLVMGetEnumAttributeKindForName("noinline", 8);
    for (int v = 0; v < cg->n_variants; v++) {
        LLVMBasicBlockRef bb = LLVMAppendBasicBlockInContext(cg->ctx, fn, "variant");
        LLVMAddCase(sw, i32c(cg, v), bb);
        LLVMPositionBuilderAtEnd(b, bb);
        /* A variant must not be inlined into baseline code. */
        LLVMAddAttributeAtIndex(cg->variants[v].run, (unsigned)LLVMAttributeFunctionIndex,
                                LLVMCreateEnumAttribute(cg->ctx, noinline, 0));
        LLVMBuildRet(b, LLVMBuildCall2(b, ft, cg->variants[v].run, args, 5, ""));
    }
    LLVMPositionBuilderAtEnd(b, none);
    LLVMBuildRet(b, i32c(cg, KILN_RUN_NO_CPU));
    return fn;
}

void cg_fn_retarget(Codegen *cg, LLVMValueRef f, const char *cpu, const char *features) {
    unsigned fi = (unsigned)LLVMAttributeFunctionIndex;
    LLVMRemoveStringAttributeAtIndex(f, fi, "target-cpu", 10);
    LLVMRemoveStringAttributeAtIndex(f, fi, "target-features", 15);
    LLVMRemoveStringAttributeAtIndex(f, fi, "tune-cpu", 8);
    LLVMAddAttributeAtIndex(
        f, fi, LLVMCreateStringAttribute(cg->ctx, "target-cpu", 10, cpu, (unsigned)strlen(cpu)));
    if (features[0])
        LLVMAddAttributeAtIndex(f, fi,
                                LLVMCreateStringAttribute(cg->ctx, "target-features", 15, features,
                                                          (unsigned)strlen(features)));
}

/* Our own functions (kiln_model_*) got their targets when emitted. */
static int is_model_fn(LLVMValueRef f) {
    size_t len;
    return !strncmp(LLVMGetValueName2(f, &len), "kiln_model_", 11);
}

/* Every kernel gets the target machine's CPU and features: a kernel left
 * with the bitcode's baseline x86-64 attributes would be vectorised for
 * SSE2 only, and could not be inlined into a caller with more features.
 * With several variants these are the least demanding one's, which every
 * other variant has, so the kernels inline into each variant and are
 * optimised there for its CPU; kernels called out of line (light nodes of
 * a chunked graph) are shared by the variants and run at that level. */
static void retarget_functions(Codegen *cg) {
    for (LLVMValueRef f = LLVMGetFirstFunction(cg->mod); f; f = LLVMGetNextFunction(f))
        if (!LLVMIsDeclaration(f) && !is_model_fn(f)) cg_fn_retarget(cg, f, cg->cpu, cg->features);
}

/* The kernels are inlined into each kiln_model_run (or its chunks, which
 * keep their noinline) and then disappear. KILN_NOINLINE_KERNELS=1 in the
 * environment keeps them out of line, a developer's aid: `perf report`
 * then times each kernel (slower code, since calls lose the constants). */
static void internalize_kernels(Codegen *cg) {
    unsigned fi = (unsigned)LLVMAttributeFunctionIndex;
    unsigned always = LLVMGetEnumAttributeKindForName("alwaysinline", 12);
    unsigned noinline = LLVMGetEnumAttributeKindForName("noinline", 8);
    unsigned optnone = LLVMGetEnumAttributeKindForName("optnone", 7);
    for (LLVMValueRef f = LLVMGetFirstFunction(cg->mod); f; f = LLVMGetNextFunction(f)) {
        if (LLVMIsDeclaration(f) || is_model_fn(f)) continue;
        int kernel = LLVMGetLinkage(f) == LLVMExternalLinkage; /* not a static helper */
        LLVMSetLinkage(f, LLVMInternalLinkage);
        if (getenv("KILN_NOINLINE_KERNELS")) {
            /* Else LLVM still inlines a kernel with one call site. */
            if (kernel)
                LLVMAddAttributeAtIndex(f, fi, LLVMCreateEnumAttribute(cg->ctx, noinline, 0));
            continue;
        }
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

    /* The shape checks run before the model: one on a size that a kernel
     * computes would see its bound, not its value. */
    for (int i = 0; i < g->n_dim_checks; i++)
        if (dim_is_data(g->dim_checks[i].a) || dim_is_data(g->dim_checks[i].b)) {
            diag_file(d, g->source_path,
                      "%s: requires a check on a size that a node computes at run time "
                      "from the data (two such sizes equal, or one at least a minimum), "
                      "which kiln cannot make yet",
                      g->dim_checks[i].what);
            diag_hint(d, "make both sizes come from one node (one NonZero, one mask), or "
                         "pad to a fixed size in the model");
            return -1;
        }
    cg_emit_constants(cg, g);
    int n_checks = -1;
    for (int i = 0; i < cg->n_variants; i++) {
        CgVariant *v = &cg->variants[i];
        cg->fn_cpu = v->cpu;
        cg->fn_features = v->features;
        if (!(v->run = cg_emit_run(cg, g, v->suffix))) return -1;
        if (n_checks >= 0 && n_checks != cg->n_checks) {
            diag_env(d, "internal error: CPU variants of '%s' have different check sites",
                     cg->opts.name ? cg->opts.name : "model");
            return -1;
        }
        n_checks = cg->n_checks;
    }
    /* What runs before a variant is picked is compiled for baseline x86-64. */
    cg->fn_cpu = cg->x86 ? "x86-64" : cg->cpu;
    cg->fn_features = cg->x86 ? "" : cg->features;
    LLVMValueRef variant_fn = cg->x86 ? emit_variant_fn(cg) : NULL;
    LLVMValueRef run_fn = cg->x86 ? emit_dispatch_fn(cg, variant_fn) : cg->variants[0].run;
    AbiFns abi;
    emit_abi_fns(cg, g, run_fn, &abi);
    emit_model_struct(cg, g, &abi, variant_fn);
    internalize_kernels(cg);
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
    e = LLVMOrcLLJITLookup(cg->jit, &addr, cg->symbol ? cg->symbol : "kiln_model");
    if (e) return jit_error(d, e, "lookup");
    *out = (const KilnModel *)(uintptr_t)addr;
    return 0;
}
