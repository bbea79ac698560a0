/* codegen.h: from an optimised Graph to native code, through LLVM.
 *
 * A Codegen owns one LLVM context, module and target machine (and, after
 * codegen_jit(), the JIT that runs the module); codegen_destroy() releases
 * them all. codegen_build() links the embedded kernel bitcode into a fresh
 * module, emits the weights as constant globals and `kiln_model_run` as one
 * kernel call per node with every shape and offset a constant, marks the
 * kernels internal and always-inline, retargets every function to the
 * target CPU and runs `default<O<n>>`. A graph of more than 256 nodes is
 * emitted as chunk functions of 64 nodes that run calls in turn, and its
 * small nodes call their kernels out of line, so that compile time stays
 * linear in the graph's size. The module then exports the
 * KilnModel `kiln_model` (runtime/kiln_model.h).
 *
 * CPU variants (x86-64): kiln_model_run is emitted once per CPU of the
 * --cpu list, each copy with that CPU's target attributes, all reading the
 * same weight globals; the kernels get the least demanding CPU's
 * attributes so that they inline into every copy. run() is a dispatcher
 * compiled for baseline x86-64 that picks, by cpuid on its first call, the
 * most demanding copy this CPU can run (KilnModel.variant). Each copy
 * records the features it needs (runtime/kiln_cpu.def names them) for the
 * runtime's start check. A single CPU is one variant, with a dispatcher
 * too; other targets have no variants.
 */
#ifndef CODEGEN_H
#define CODEGEN_H

#include "ir.h"
#include "kiln_model.h"

typedef struct CodegenOptions {
    const char *triple;     /* NULL: the host's */
    const char *cpu;        /* CPU list, "x86-64-v2,x86-64-v3"; NULL or "native": the host's */
    int opt_level;          /* 0 to 3 */
    const char *name;       /* KilnModel.name */
    const char *version;    /* KilnModel.version */
    const char *sha256;     /* hex digest of the source model */
    const char *build_info; /* JSON object text for KilnModel.build_info */
    int trees;              /* CG_TREES_*: tree ensembles' form (compiler/codegen/emit_tree.c) */
    int conv;               /* CG_CONV_*: how convolutions are computed (emit_nn.c) */
} CodegenOptions;

/* Tree ensembles as compare-and-branch code for small batches and a table
 * for large ones, the code only (whatever its compile time), or the table
 * only. */
enum { CG_TREES_AUTO, CG_TREES_CODE, CG_TREES_TABLE };

/* 3x3 stride-1 convolutions by Winograd's method where it pays
 * (kiln_conv_wino_tile), or every convolution as the direct sum, whose
 * weights take the model's size, not up to four times it. */
enum { CG_CONV_AUTO, CG_CONV_DIRECT };

typedef enum { CG_FILE_OBJECT, CG_FILE_ASM, CG_FILE_LLVM } CodegenFileKind;

typedef struct Codegen Codegen;

/* NULL on failure (unknown target or CPU), with a diagnostic. */
Codegen *codegen_create(const CodegenOptions *o, Diag *d);
void codegen_destroy(Codegen *cg);
/* The target triple and the CPUs compiled for, comma separated (for
 * manifests). Owned by cg. */
const char *codegen_triple(const Codegen *cg);
const char *codegen_cpu(const Codegen *cg);

/* Replaces CodegenOptions.build_info (which may name the target, known
 * only once cg exists). The string must outlive cg. */
void codegen_set_build_info(Codegen *cg, const char *build_info);

/* Names the exported KilnModel `symbol` instead of `kiln_model`, before
 * codegen_build(): an object meant for embedding exports
 * `kiln_model_<name>`, so that two models link into one program. The
 * string must outlive cg. */
void codegen_set_symbol(Codegen *cg, const char *symbol);

/* Builds and optimises the module for g. Requires: the full pass pipeline
 * has run (shapes inferred, memory planned). 0 ok, -1 with diagnostics. */
int codegen_build(Codegen *cg, const Graph *g, Diag *d);
int codegen_emit_file(Codegen *cg, const char *path, CodegenFileKind kind, Diag *d);
/* Hands the module to LLJIT and returns the model it defines. The model
 * stays valid until codegen_destroy(). Only for the host target. */
int codegen_jit(Codegen *cg, const KilnModel **out, Diag *d);

#endif
