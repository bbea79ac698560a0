/* cg.h: state shared by codegen.c (module, target, JIT) and emit.c (one
 * kernel call per node). Private to compiler/codegen. */
#ifndef CG_H
#define CG_H

#include <llvm-c/Core.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/TargetMachine.h>

#include "codegen.h"

struct Codegen {
    CodegenOptions opts;
    char *triple, *cpu, *features; /* owned, malloc'd */
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
    LLVMValueRef batch; /* the run's batch argument */
    LLVMValueRef *vals; /* address of each Value, by id (malloc'd) */
};

LLVMValueRef cg_const_bytes(Codegen *cg, const void *data, size_t size, unsigned align,
                            const char *name);
/* Emits `int kiln_model_run(inputs, outputs, ws, batch, pool)`; NULL with
 * diagnostics if some node cannot be lowered. */
LLVMValueRef cg_emit_run(Codegen *cg, const Graph *g);

#endif
