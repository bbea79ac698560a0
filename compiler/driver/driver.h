/* driver.h: what each kiln command does, given parsed options.
 *
 * main.c parses the command line into DriverOptions; each driver_* function
 * runs one command from model file to result and returns the process exit
 * code (0 ok, 1 the model or input is at fault, 2 bad usage, 3 the
 * environment). Every function owns its Arena, Codegen and files and
 * releases them before returning.
 */
#ifndef DRIVER_H
#define DRIVER_H

#include "frontends.h"

/* The --cpu of release artifacts (archive, oci): one code variant per
 * x86-64 psABI level, so that the binary runs on any x86-64 CPU since
 * 2009 and at full speed on AVX2 and AVX-512 ones. Binaries (--emit exe)
 * default to the host CPU instead. */
#define DRIVER_PORTABLE_CPUS "x86-64-v2,x86-64-v3,x86-64-v4"

#define DRIVER_MAX_PINS 32
#define DRIVER_MAX_INPUTS 64
#define DRIVER_PIN_NAME_MAX 256

/* One --loop-bound [NODE=]N: at most N iterations of Loop NODE (NULL:
 * of every Loop that no flag names), passes/shapes_control.c. */
typedef struct DriverLoopBound {
    const char *node;
    int64_t n;
} DriverLoopBound;

typedef struct DriverOptions {
    const char *model;      /* the .onnx path */
    const char *out;        /* compile: -o, exact output path; run: --out-dir */
    const char *emit;       /* exe, obj, llvm, asm, archive */
    const char *name;       /* --name; default the model file's stem */
    const char *version;    /* --model-version; default "1" */
    const char *triple;     /* --target; NULL for the host */
    const char *cpu;        /* --cpu, a comma list; NULL for the host CPU */
    const char *dump_after; /* --dump-after PASS */
    int opt_level;          /* -O0..-O3, default 3 */
    int json;               /* --json */
    int trees;              /* --trees: CG_TREES_* (codegen.h), 0 auto */
    int conv;               /* --conv: CG_CONV_* (codegen.h), 0 auto */
    OnnxPin pins[DRIVER_MAX_PINS];
    char pin_names[DRIVER_MAX_PINS][DRIVER_PIN_NAME_MAX]; /* storage for pins[i].name */
    int n_pins;
    OnnxDimBound dims[DRIVER_MAX_PINS]; /* --dim SYM=A..B */
    char dim_names[DRIVER_MAX_PINS][DRIVER_PIN_NAME_MAX];
    int n_dims;
    DriverLoopBound loop_bounds[DRIVER_MAX_PINS]; /* --loop-bound [NODE=]N */
    char loop_bound_names[DRIVER_MAX_PINS][DRIVER_PIN_NAME_MAX];
    int n_loop_bounds;
    const char *inputs[DRIVER_MAX_INPUTS]; /* run: [NAME=]FILE */
    int n_inputs;
    int argc; /* the command line, for manifests */
    char **argv;
} DriverOptions;

int driver_compile(const DriverOptions *o);
int driver_run(const DriverOptions *o);
int driver_inspect(const DriverOptions *o);
int driver_check(const DriverOptions *o);
int driver_ops(const DriverOptions *o);
/* `kiln verify ARCHIVE` (o->model is the archive): 0 if every member
 * checks out, 1 naming each that does not. */
int driver_verify(const DriverOptions *o);

/* The SHA-256 of data (nettle's) as 64 lowercase hex digits and a NUL: the
 * model digest every compiled binary and `kiln inspect` carry. */
void driver_sha256_hex(const void *data, size_t len, char hex[65]);

/* The pipeline's pass names, NULL-terminated, for --dump-after checks. */
const char *const *driver_pass_names(void);

#endif
