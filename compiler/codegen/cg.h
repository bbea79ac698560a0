/* cg.h: state shared by codegen.c (module, target, JIT) and emit.c (one
 * kernel call per node). Private to compiler/codegen. */
#ifndef CG_H
#define CG_H

#include <llvm-c/Core.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/TargetMachine.h>

#include "codegen.h"

/* The cpuid feature words of runtime/kiln_cpu.def, in its order. */
enum {
#define KILN_CPU_WORD(word, ...) CG_CPU_W_##word,
#include "kiln_cpu.def"
    CG_CPU_N_WORDS
};

enum { CG_MAX_VARIANTS = 8 };

/* One CPU of --cpu: a copy of kiln_model_run compiled for it. */
typedef struct CgVariant {
    char *cpu, *features;          /* what LLVM gets (owned); features "" unless native */
    char *needs;                   /* KilnCpuVariant.needs (owned) */
    int n_needs;                   /* features in needs */
    uint32_t mask[CG_CPU_N_WORDS]; /* the cpuid bits of needs, by word */
    char suffix[48];               /* of its function names: "" or "_x86_64_v3" */
    LLVMValueRef run;              /* its kiln_model_run */
} CgVariant;

struct Codegen {
    CodegenOptions opts;
    const char *symbol; /* the exported KilnModel; NULL: "kiln_model" */
    /* The target machine's CPU and features, which the kernels get too: the
     * least demanding variant's, so that they inline into every variant. */
    char *triple, *cpu, *features;       /* owned, malloc'd */
    char *cpu_list;                      /* the variants' CPUs, comma separated (owned) */
    int x86;                             /* the target is x86-64: variants are checked */
    CgVariant variants[CG_MAX_VARIANTS]; /* from the least demanding */
    int n_variants;
    const char *fn_cpu, *fn_features; /* what fn_begin (emit.c) gives a function */
    LLVMTargetMachineRef tm;
    LLVMOrcThreadSafeContextRef tsc; /* owns ctx */
    LLVMContextRef ctx;
    LLVMModuleRef mod; /* NULL once handed to the JIT */
    LLVMOrcLLJITRef jit;
    LLVMBuilderRef builder;
    LLVMTypeRef i8, i32, i64, f32, ptr, void_t;
    /* While emitting kiln_model_run: */
    const Graph *g;
    Diag *d;
    /* The function being emitted: kiln_model_run itself, or one of the
     * chunk functions a large graph is split into (see cg_emit_run). */
    LLVMValueRef syms;       /* its symbol values argument: i64[n_syms] */
    LLVMValueRef ws;         /* its workspace argument */
    LLVMValueRef pool;       /* its KilnThreadPool * argument (may be null at run time) */
    LLVMValueRef fn_inputs;  /* its inputs argument */
    LLVMValueRef fn_outputs; /* its outputs argument */
    LLVMBuilderRef entry;    /* at the end of its entry block: value addresses go there */
    int fn_id;               /* numbers the functions emitted so far */
    int n_task_fns;          /* kiln_model_task_N functions emitted (emit_parallel.c) */
    struct CgTask *tasks;    /* their dedupe keys (emit_parallel.c; malloc'd) */
    int cap_tasks;
    LLVMValueRef *vals; /* address of each Value, by id (malloc'd) */
    int *vals_fn;       /* fn_id that vals[id] was computed in; 0: none (malloc'd) */
    int sym_overflow;   /* a size of the node being emitted overflowed int64 */
    int dim_here;       /* cg_dim_value_here is computing: no entry block, no cache */
    /* cg_dim_value's cache: the value of Dim -1 - id in function dimv_fn[id]
     * (malloc'd, grown on demand). */
    LLVMValueRef *dimv;
    int *dimv_fn;
    int64_t cap_dimv;
    /* The check sites (kiln_model.h), by site - 1, from g's arena; the
     * model's KilnModel.checks table is made from them. */
    const char **checks;
    int n_checks, cap_checks;
    /* emit_control.c: the control-flow regions open at the builder,
     * innermost last (their nesting is bounded by KILN_MAX_NESTING). */
    struct CgRegion {
        const Node *begin;            /* the If, Loop or Scan node */
        LLVMBasicBlockRef head, exit; /* Loop, Scan: the test block and the one after;
                                         If: the else branch and the block after */
        LLVMBasicBlockRef then_end;   /* If: where the then branch ended */
        LLVMValueRef counter, len;    /* Scan: its i64 iteration slot and count */
    } regions[2 * KILN_MAX_NESTING + 2];
    int n_regions;
};

LLVMValueRef cg_const_bytes(Codegen *cg, const void *data, size_t size, unsigned align,
                            const char *name);
/* Gives function f target-cpu `cpu` and target-features `features`
 * ("": none), replacing what it had. */
void cg_fn_retarget(Codegen *cg, LLVMValueRef f, const char *cpu, const char *features);

/* Every op's emit function, named in compiler/ir/ops.def: emits the kernel
 * calls for node n into kiln_model_run at the builder's position. 0 ok, -1
 * with a diagnostic naming the node (an unsupported attribute combination,
 * never wrong code). */
#define OP(e, name, since, imin, imax, omin, omax, st, flags, shape, flops, emit, kernel)          \
    int emit(Codegen *cg, const Node *n);
#include "ops.def"
#undef OP

/* A size as codegen computes with it: a Dim (dim.h), a number or an
 * expression over the model's symbols. Products are checked: one that
 * overflows is CG_SYM_OVERFLOW (DIM_INVALID), which sticks through later
 * products, equals no other Sym, and whose cg_sym_value() fails the node
 * being emitted with a diagnostic naming it (never a wrapped size in the
 * code). Equal sizes are the same Dim. */
typedef Dim Sym;
#define CG_SYM_OVERFLOW DIM_INVALID

static inline Sym cg_sym(int64_t c) {
    return dim_const(c);
}
static inline Sym cg_sym_dim(int64_t d) {
    return d;
}
static inline Sym cg_sym_mul(Sym a, Sym b) {
    return dim_mul(a, b);
}
static inline int cg_sym_eq(Sym a, Sym b) {
    return a == b && a != DIM_INVALID;
}
static inline int cg_sym_is(Sym a, int64_t c) {
    return a == c;
}
/* Product of s's dims [from, to). */
Sym cg_sym_prod(const Shape *s, int from, int to);
/* The i64 value of a Sym at the run's symbol values. An overflowed Sym gives
 * 0 and sets Codegen.sym_overflow, which fails the node being emitted. */
LLVMValueRef cg_sym_value(Codegen *cg, Sym s);
/* The i64 value of d in the function being emitted, computed once per
 * function in its entry block from its syms argument (cg->syms). */
LLVMValueRef cg_dim_value(Codegen *cg, Dim d);
/* d's value computed at the builder's position, caching nothing: for the
 * shape functions, which store symbols in their body before reading them. */
LLVMValueRef cg_dim_value_here(Codegen *cg, Dim d);
/* A new check site with this text (from g's arena); returns its number. */
int cg_check_site_add(Codegen *cg, const char *text);
LLVMValueRef cg_i32(Codegen *cg, int v);
LLVMValueRef cg_i64(Codegen *cg, int64_t v);
LLVMValueRef cg_f32(Codegen *cg, float v);
LLVMValueRef cg_f64(Codegen *cg, double v);
/* Address of a value's data (input, output, workspace or constant). */
LLVMValueRef cg_addr(Codegen *cg, const Value *v);
/* Address of node n's scratch buffer (Node.scratch, planned by
 * pass_plan_memory); a null pointer if it has none. */
LLVMValueRef cg_scratch(Codegen *cg, const Node *n);
/* Calls kernel `name` from the bitcode (asserted to exist). */
void cg_call(Codegen *cg, const char *name, LLVMValueRef *args, unsigned n);
/* Calls checked kernel `name` (returns int32_t, 0 ok; kiln_kernel_abi.h)
 * with args plus, appended, the address of the run's KilnRunError, and
 * emits `if (status) return site;` where site is a new check site with
 * text `site_text` (kiln_model.h: "node 'x' (Gather): indices from input
 * 'ids' into axis 0 of 'emb'"). The return is from the function being
 * emitted, LLVMGetBasicBlockParent(LLVMGetInsertBlock(builder)), which
 * must return i32; the KilnRunError is found from cg->ws and cg->batch,
 * which must belong to that function. Returns the site. */
int cg_call_checked(Codegen *cg, const char *name, LLVMValueRef *args, unsigned n,
                    const char *site_text);
/* Kernels split over threads (emit_parallel.c). A splittable kernel's
 * last two parameters are (int64_t task, int64_t n_tasks): it computes part
 * `task` of n_tasks, (0, 1) being all of it. cg_call_split calls `kernel`
 * with args (nargs of them, the two not included): as one task when run()
 * has no pool, the pool has one thread, or work (multiply-adds, or
 * elements times their cost in about that unit) is below
 * CG_SPLIT_MIN_WORK (decided at compile time when work is a number, else
 * at run time); otherwise on the pool as pool->n_threads *
 * CG_TASKS_PER_THREAD tasks. Both go through an outlined task function in
 * which the constant args stay constants, shared by calls that differ only
 * in run-time values and weights; a call that is small at some sizes runs
 * its one task inline instead, and one small at all sizes is only an
 * inline call. cg_call_split_typed is cg_call_typed's
 * counterpart ("kiln_<base>_<suffix of t>"; -1 with a diagnostic if the
 * bitcode has no such kernel). */
enum { CG_SPLIT_MIN_WORK = 1 << 20, CG_TASKS_PER_THREAD = 4 };
void cg_call_split(Codegen *cg, Sym work, const char *kernel, LLVMValueRef *args, unsigned nargs);
/* Frees cg's table of task functions (codegen_destroy). */
void cg_tasks_free(Codegen *cg);
int cg_call_split_typed(Codegen *cg, const Node *n, const char *base, DType t, Sym work,
                        LLVMValueRef *args, unsigned n_args);
/* "input 'x'", "constant 'w'" or "tensor 't'": how a check site's text
 * names where a value comes from (from g's arena). */
const char *cg_value_origin(Codegen *cg, const Value *v);
/* The kernel "kiln_<base>_<suffix of t>" (e.g. kiln_binary_i64) into
 * name[size]: 0, or -1 with a diagnostic on n when the bitcode has no such
 * kernel (the op does not support that element type). */
int cg_kernel_name(Codegen *cg, const Node *n, const char *base, DType t, char *name, size_t size);
/* Calls "kiln_<base>_<suffix of t>", e.g. kiln_binary_i64. -1 with a
 * diagnostic on n when the bitcode has no such kernel (the op does not
 * support that element type). */
int cg_call_typed(Codegen *cg, const Node *n, const char *base, DType t, LLVMValueRef *args,
                  unsigned n_args);
/* Kernel name suffix of an element type: f32 f64 f16 bf16 i8 i16 i32 i64
 * u8 u16 u32 u64 bool; NULL for strings. */
const char *cg_dtype_suffix(DType t);
/* Copies all of `from` to dst. */
void cg_copy_value(Codegen *cg, const Value *from, LLVMValueRef dst);
/* Strides that read operand shape s at every index of out (numpy
 * broadcasting: 0 along broadcast dims), out->rank entries. */
void cg_broadcast_strides(const Shape *s, const Shape *out, Sym *st);
/* Emits the graph's constants as globals, once: every variant of
 * kiln_model_run reads the same ones. Call before cg_emit_run. */
void cg_emit_constants(Codegen *cg, const Graph *g);
/* Emits `int kiln_model_run<suffix>(inputs, outputs, ws, syms, pool)`,
 * its functions with target cpu fn_cpu and features fn_features; NULL with
 * diagnostics if some node cannot be lowered. A large graph is emitted as
 * chunk functions of the same signature that run calls in order; every
 * function that emits nodes returns an i32 status, 0 ok, and run returns
 * the first nonzero one. The check sites are numbered from 1 again on each
 * call (every variant has the same ones). */
LLVMValueRef cg_emit_run(Codegen *cg, const Graph *g, const char *suffix);

/* A count that node n reads at run time from the one-element int64 tensor
 * k (TopK's K; emit_dyn.c): checked to lie in [0, max] (else run() fails
 * with a check site naming k), stored as the data-dependent symbol count
 * (dim.h) in the run's syms, and returned as an i64. */
LLVMValueRef cg_dyn_count(Codegen *cg, const Node *n, const Value *k, Sym max, Dim count);

/* ONNX-ML classifiers (emit_ml.c; the kernels are runtime/kernels/ml.h,
 * whose comments give the exact, ONNX Runtime-compatible semantics).
 *
 * cg_ml_post_transform: KILN_ML_POST_* of n's post_transform attribute
 * (default NONE); -1 with a diagnostic on n if ONNX-ML has no such one.
 *
 * cg_ml_write_scores: emits kiln_ml_write_scores: scores in ([rows,
 * classes] f32) to out (rows of out_stride floats) under `transform`;
 * with classes == 1, `second` (KILN_ML_SECOND_*) or the i32-per-row array
 * second_by_row (NULL: none) says how one score makes two columns.
 *
 * cg_ml_label_table: a constant holding labels (ATTR_INTS: int64_t[n];
 * ATTR_STRINGS: const char *[n], the string-tensor ABI).
 *
 * cg_ml_labels: emits the label of each row into out (int64 or string
 * tensor, as labels' kind): with classes >= 2 labels[first argmax of the
 * row] (stride: floats between rows of scores); with classes == 1
 * labels[score > threshold] (labels has 2 entries). */
int cg_ml_post_transform(Codegen *cg, const Node *n);
void cg_ml_write_scores(Codegen *cg, LLVMValueRef rows, int64_t classes, int transform, int second,
                        LLVMValueRef second_by_row, LLVMValueRef in, LLVMValueRef out,
                        int64_t out_stride);
LLVMValueRef cg_ml_label_table(Codegen *cg, const Attr *labels);
void cg_ml_labels(Codegen *cg, LLVMValueRef rows, int64_t classes, LLVMValueRef scores,
                  int64_t stride, float threshold, const Attr *labels, LLVMValueRef out);

/* A Conv with one input channel per group and G > 1 groups (any number of
 * output channels per group), f32 with constant weights: the depthwise
 * kernel, with n's epilogue (emit_dwconv.c). */
int emit_conv_depthwise(Codegen *cg, const Node *n);

#endif
