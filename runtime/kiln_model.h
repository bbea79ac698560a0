/* kiln_model.h: the ABI between code kiln generates and everything that
 * runs it (the service runtime, `kiln run`, programs that embed a model).
 *
 * A compiled model exports one constant KilnModel named `kiln_model`. Its
 * tables are static data owned by the model object; callers never free
 * them. run() reads the inputs, writes the outputs and uses the caller's
 * workspace for every intermediate tensor: it never allocates, never
 * prints and never exits.
 *
 * Tensors are dense, row-major, with the element type given by `dtype`,
 * which uses the ONNX TensorProto.DataType numbering (1 = float32, 7 =
 * int64, ...).
 *
 * Shapes (version 4). A dimension is either fixed at compile time or
 * dynamic: a symbol (`batch`, `seq`, `height`: the model's ONNX dim_param
 * names) with a range [min, max], or, for an output, an expression over
 * symbols. KilnTensorInfo.shape holds -1 for every dynamic dim and
 * min/max its bounds. Every call passes the actual input shapes
 * (in_shapes[i] has inputs[i].rank entries); shapes() checks them against
 * the bounds and against each other (one symbol, one value) and computes
 * the output shapes. The caller allocates outputs of those shapes and a
 * workspace of workspace_size(in_shapes) bytes, then calls run(). A model
 * with no dynamic dim has n_syms 0 and ignores in_shapes' values (they
 * must still match).
 *
 * Sizes the data decides (NonZero's count, Unique's values, a TopK whose
 * k is an input): such an output dim is dynamic (shape -1, min 0, max its
 * bound at the largest inputs, sym -1, dims its name: "nonzero_1").
 * shapes() gives its upper bound at these input shapes, so outputs
 * allocated as it says always suffice; run() writes the actual size into
 * out_shapes, and the output is dense at that size (read out_shapes after
 * run(), not before).
 *
 * Run errors. Some values are only known at run time: a Gather index
 * read from an input, an integer divisor. Each place in the model that
 * checks one is a check site, numbered from 1; checks[site - 1] says in
 * words what it checks. run() returns 0, or the site of the first check
 * that failed (the outputs are then unspecified); the failing kernel has
 * written what it found into the KilnRunError that is the first
 * KILN_RUN_ERROR_BYTES bytes of the workspace (kiln_run_error() finds it,
 * kiln_run_error_format() turns it into a message). A failed check is the
 * caller's input at fault (HTTP 400, exit 1); any other nonzero value is
 * a bug. Version 1 had no checks.
 *
 * CPU variants (version 3). On x86-64 the model's code is compiled for one
 * or more CPUs (`kiln compile --cpu x86-64-v2,x86-64-v3,x86-64-v4`): one
 * copy of run() per CPU, sharing the weights. variants[] lists them from
 * the least demanding, each with the CPU features its code needs (LLVM's
 * names: "sse4.2,popcnt,avx2,..."). run() and variant() are compiled for
 * baseline x86-64: on its first call variant() picks, with cpuid, the last
 * variant whose features this CPU has, and run() calls it; on a CPU that
 * has none of them run() returns KILN_RUN_NO_CPU instead of faulting. A
 * program that wants to say why checks variants[0].needs itself at start
 * (the service binary does: it exits 3 naming the missing features).
 * Other targets have no variants (n_variants 0, variant NULL).
 *
 * Threads (version 5). run() splits its large kernels (matrix products
 * first) into tasks on the KilnThreadPool it is given; with a NULL pool or
 * one of one thread it runs them on the calling thread as before. Earlier
 * versions ignored the pool. Results are the same at every thread count
 * (bitwise, for the kernels split so far). runtime/service/pool.h is a
 * pool that fits.
 */
#ifndef KILN_MODEL_H
#define KILN_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define KILN_ABI_VERSION 5

/* Bytes of workspace for each string StringNormalizer changes the case of,
 * its NUL included (see kiln_dtype_size). */
#define KILN_STRING_CASE_BYTES 256
/* Bytes of workspace for each string a Cast to string writes, its NUL
 * included: the longest is a double's 17 digits with sign, point and
 * exponent ("-1.2345678901234567e-308", 24 bytes). */
#define KILN_CAST_STRING_BYTES 32

/* Element types, one row each in kiln_dtypes.def (the compiler's DType
 * has the same values). */
enum {
#define KILN_DTYPE(ir, abi, onnx, ...) KILN_DT_##abi = onnx,
#include "kiln_dtypes.def"
#undef KILN_DTYPE
};

/* A task of a parallel loop: fn(ctx, task) for task in [0, n_tasks). */
typedef void (*KilnTaskFn)(void *ctx, int64_t task);

/* Threads the caller lends run() (NULL: run() uses the calling thread
 * only). parallel(pool, fn, ctx, n_tasks) calls fn(ctx, t) once for every t
 * in [0, n_tasks), on the pool's threads and the calling one, and returns
 * when every call has returned; it never allocates and never fails. A
 * pool runs one parallel loop at a time: the caller (one request's run())
 * owns it for the duration of run(). n_threads counts the calling thread:
 * run() splits its work into about that many parts or a multiple. Tasks
 * may run in any order and on any of the threads, the calling one too. */
typedef struct KilnThreadPool KilnThreadPool;
struct KilnThreadPool {
    int n_threads;
    void (*parallel)(KilnThreadPool *pool, KilnTaskFn fn, void *ctx, int64_t n_tasks);
};

typedef struct KilnTensorInfo {
    const char *name;        /* the ONNX graph input or output name */
    int dtype;               /* KILN_DT_* */
    int rank;                /* number of dimensions */
    const int64_t *shape;    /* length rank; -1 where the dim is dynamic */
    const int64_t *min;      /* length rank: each dim's bounds, both equal */
    const int64_t *max;      /*   to shape[d] where the dim is fixed */
    const int *sym;          /* length rank: the KilnModel.syms index of a dim that
                                is one symbol, else -1 (fixed, or an expression) */
    const char *const *dims; /* length rank: each dim as text ("batch", "seq*8",
                                "(h-3)/2+1", "224"), for messages and metadata */
} KilnTensorInfo;

/* A dynamic dimension's symbol: every input dim that is dynamic is one. */
typedef struct KilnSymbol {
    const char *name; /* the ONNX dim_param, or "unk_N" where the model named none */
    int64_t min, max; /* its bounds: --shape/--dim, or kiln's defaults */
} KilnSymbol;

typedef struct KilnCpuVariant {
    const char *cpu;   /* the CPU it is compiled for: "x86-64-v3", "znver4" */
    const char *needs; /* the CPU features its code needs, comma separated */
} KilnCpuVariant;

/* run()'s result on a CPU that lacks the features of every variant. */
#define KILN_RUN_NO_CPU (-1)

/* What a failed check found, written by the kernel that checks (or by
 * run()'s own shape checks). It lives in the workspace rather than in a
 * run() argument: the workspace is already the per-call, caller-owned
 * scratch, so concurrent runs do not share it. It is the workspace's first
 * KILN_RUN_ERROR_BYTES; the model's tensors follow. */
enum {
    KILN_CHECK_INDEX = 1,     /* value is not in [-size, size - 1] */
    KILN_CHECK_DIVISOR = 2,   /* an integer divisor is 0 */
    KILN_CHECK_CLASS = 3,     /* a loss target is not in [0, size) nor ignore_index */
    KILN_CHECK_DIM_RANGE = 4, /* an input dim is not in [lo, hi] */
    KILN_CHECK_DIM_MATCH = 5, /* a dim is value where it must be size (a fixed dim, a
                                 symbol another input set, two sizes an op equates) */
    KILN_CHECK_DIM_SIZE = 6,  /* a size computed from the input dims is value, below lo
                                 (a convolution's output; the inputs are too small) */
    KILN_CHECK_RANGE = 7,     /* value is not in [0, size) (ONNX-ML feature indices) */
    KILN_CHECK_NAN = 8,       /* an element is NaN where the op has no answer for it */
    KILN_CHECK_CATEGORY = 9,  /* value is none of the op's categories (OneHotEncoder zeros=0) */
    KILN_CHECK_COUNT = 10,    /* a count read at run time (TopK's k) is not in [0, size] */
    KILN_CHECK_LENGTH = 11,   /* a string at position is value bytes long, above size
                                 (StringNormalizer's case change: KILN_STRING_CASE_BYTES) */
    KILN_CHECK_NUMBER = 12,   /* the string at position is not a number of the type cast to
                                 (or is outside its range) */
};
typedef struct KilnRunError {
    int64_t value;    /* the offending index or divisor */
    int64_t position; /* its flat (row-major) position in its tensor */
    int64_t size;     /* KILN_CHECK_INDEX, _CLASS: the length of the indexed axis;
                         _DIM_MATCH: the size the dim must have */
    int64_t lo, hi;   /* KILN_CHECK_DIM_RANGE: the bounds; _DIM_SIZE: lo */
    int32_t kind;     /* KILN_CHECK_* */
} KilnRunError;
/* workspace_size() always includes these bytes; 64 keeps the alignment of
 * the tensors that follow. */
#define KILN_RUN_ERROR_BYTES 64
_Static_assert(sizeof(KilnRunError) <= KILN_RUN_ERROR_BYTES, "KilnRunError outgrew its bytes");

typedef struct KilnModel {
    int abi_version;               /* KILN_ABI_VERSION */
    const char *name, *version;    /* --name and --model-version */
    const char *sha256;            /* hex sha256 of the source .onnx */
    const char *build_info;        /* JSON object: kiln version, target, flags */
    int n_inputs, n_outputs;       /* counts of the two tables */
    const KilnTensorInfo *inputs;  /* in graph order */
    const KilnTensorInfo *outputs; /* in graph order */
    int n_syms;                    /* symbols of the dynamic dims; 0: all static */
    const KilnSymbol *syms;
    /* Checks the input shapes and writes each output's shape into
     * out_shapes[i] (outputs[i].rank entries; out_shapes may be NULL to
     * only check). 0 ok, else the check site that failed (1..n_checks),
     * with what it found in *err: a dim outside its bounds, two inputs
     * that disagree on a symbol, sizes the model cannot take (a
     * convolution's input smaller than its kernel). The caller's fault. */
    int (*shapes)(const int64_t *const *in_shapes, int64_t *const *out_shapes, KilnRunError *err);
    /* Bytes of workspace for one run at these input shapes (which passed
     * shapes()); SIZE_MAX if they did not. */
    size_t (*workspace_size)(const int64_t *const *in_shapes);
    /* 0 on success. inputs[i] / outputs[i] point to dense buffers of the
     * shapes in_shapes[i] and of the shapes shapes() computes; workspace
     * holds at least workspace_size(in_shapes) bytes aligned to 64. run()
     * checks the shapes itself too (the same result as shapes(), the error
     * then in the workspace) and writes out_shapes unless it is NULL. */
    int (*run)(const void *const *inputs, const int64_t *const *in_shapes, void *const *outputs,
               int64_t *const *out_shapes, void *workspace, KilnThreadPool *pool);
    int n_checks;                   /* check sites; run() returns 0 or one of 1..n_checks */
    const char *const *checks;      /* by site - 1: "node 'emb' (Gather): indices from input ..." */
    int n_variants;                 /* CPU variants of run(); 0: any CPU of the target */
    const KilnCpuVariant *variants; /* from the least demanding */
    int (*variant)(void);           /* the one run() uses on this CPU; -1: none fits */
} KilnModel;

/* Size in bytes of one element of dtype in run()'s buffers, 0 if the type
 * has none. A string tensor is an array of `const char *`, each a
 * NUL-terminated UTF-8 string. The strings of an input are the caller's
 * and run() never writes them. A string output's pointers point into the
 * model's constants (ONNX-ML class labels; they live as long as the
 * model), into the inputs' strings (StringNormalizer's kept strings) or
 * into the workspace (its case-changed strings, at most
 * KILN_STRING_CASE_BYTES - 1 bytes each, longer ones fail a
 * KILN_CHECK_LENGTH check): read the outputs before the inputs or the
 * workspace are freed or reused. */
static inline size_t kiln_dtype_size(int dtype) {
    if (dtype == KILN_DT_STRING) return sizeof(const char *);
    switch (dtype) {
#define KILN_DTYPE(ir, abi, onnx, name, size, ...)                                                 \
    case KILN_DT_##abi:                                                                            \
        return size;
#include "kiln_dtypes.def"
#undef KILN_DTYPE
    default:
        return 0;
    }
}

/* The KilnRunError of a run with this workspace (m and in_shapes are
 * kept for callers; it is always the workspace's start). */
static inline const KilnRunError *kiln_run_error(const KilnModel *m, const void *workspace,
                                                 const int64_t *const *in_shapes) {
    (void)m;
    (void)in_shapes;
    return (const KilnRunError *)workspace;
}

/* The message for run() or shapes() having returned rc != 0, with e what
 * it found (kiln_run_error() for run(), shapes()'s err), into buf (always
 * terminated). 1 if rc is a check site (the input's fault), 0 if not (a
 * bug: the message says so). */
static inline int kiln_run_error_format(const KilnModel *m, int rc, const KilnRunError *e,
                                        char *buf, size_t len) {
    if (rc == KILN_RUN_NO_CPU && m->n_variants > 0) {
        snprintf(buf, len, "model '%s' needs CPU features this CPU lacks (%s: %s)", m->name,
                 m->variants[0].cpu, m->variants[0].needs);
        return 0;
    }
    if (rc < 1 || rc > m->n_checks || !m->checks) {
        snprintf(buf, len, "model '%s' failed to run (code %d)", m->name, rc);
        return 0;
    }
    const char *site = m->checks[rc - 1];
    long long v = (long long)e->value, at = (long long)e->position, n = (long long)e->size;
    switch (e->kind) {
    case KILN_CHECK_INDEX:
        snprintf(buf, len, "%s: index %lld at position %lld is out of range [%lld, %lld]", site, v,
                 at, -n, n - 1);
        break;
    case KILN_CHECK_DIVISOR:
        snprintf(buf, len, "division by zero in %s: element %lld is 0", site, at);
        break;
    case KILN_CHECK_CLASS:
        snprintf(buf, len, "%s: target %lld at position %lld is not a class in [0, %lld)", site, v,
                 at, n);
        break;
    case KILN_CHECK_DIM_RANGE:
        snprintf(buf, len, "%s is %lld, outside the model's range [%lld, %lld]", site, v,
                 (long long)e->lo, (long long)e->hi);
        break;
    case KILN_CHECK_DIM_MATCH:
        snprintf(buf, len, "%s is %lld, expected %lld", site, v, n);
        break;
    case KILN_CHECK_DIM_SIZE:
        snprintf(buf, len, "%s is %lld at these input sizes, below %lld: the inputs are too small",
                 site, v, (long long)e->lo);
        break;
    case KILN_CHECK_RANGE:
        snprintf(buf, len, "%s: value %lld at position %lld is not in [0, %lld)", site, v, at, n);
        break;
    case KILN_CHECK_NAN:
        snprintf(buf, len, "%s: element %lld is NaN", site, at);
        break;
    case KILN_CHECK_CATEGORY:
        snprintf(buf, len, "%s: value %lld at position %lld is not one of the %lld categories",
                 site, v, at, n);
        break;
    case KILN_CHECK_COUNT:
        snprintf(buf, len, "%s is %lld, not in [0, %lld]", site, v, n);
        break;
    case KILN_CHECK_LENGTH:
        snprintf(buf, len, "%s: string %lld is %lld bytes, above the limit of %lld", site, at, v,
                 n);
        break;
    case KILN_CHECK_NUMBER:
        snprintf(buf, len,
                 "%s: string %lld is not a number of the type cast to, or is out of its "
                 "range",
                 site, at);
        break;
    default:
        snprintf(buf, len, "%s: check failed", site);
    }
    return 1;
}

extern const KilnModel kiln_model;

#endif
