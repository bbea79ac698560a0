/* ir.h: the graph IR.
 *
 * A Graph is an array of Nodes in topological order. Each Node has an
 * OpKind, input Values, output Values and attributes. Values are tensors:
 * graph inputs, initializers (Value.data != NULL) and node outputs. All IR
 * memory comes from the Arena passed to ir_graph_create() and lives until
 * that arena is destroyed; nothing in the IR is freed on its own. Passes
 * delete a node by setting `dead` and calling ir_graph_compact().
 *
 * Shapes: a dimension is a Dim (dim.h): a size >= 0, or < 0 an expression
 * over the model's symbols (its dynamic dims: `batch`, `seq`), each with
 * bounds. Shape.rank is -1 while unknown. Element types use the
 * ONNX TensorProto.DataType numbering, as runtime/kiln_model.h does.
 *
 * Text form (ir_graph_print, used by --dump-after and golden tests; read
 * back by ir_graph_parse):
 *
 *     graph main_graph opset 17 (fraud.onnx)
 *       input  %input: f32[N,30]
 *       init   %fc1.weight: f32[64,30]
 *       init   %fc1.bias: f32[2] = {0.5 -1}
 *       %x1: f32[N,64] = Gemm 'fc1' (%input, %fc1.weight, %fc1.bias) {transB=1} +relu
 *       output %x1
 *
 * A type is dtype then shape: `?` an unknown dtype, `[?]` an unknown
 * rank, `[]` a scalar, symbolic dims in dim.h's text form (`batch`,
 * `seq*8`, `(h-1)/2+1`). Initializers of at most 16
 * elements show their values (floats in the shortest form that reads back
 * exactly, f16/bf16 as bit patterns); larger ones only their type. A node
 * line lists outputs, op, name, inputs (`_` for an omitted one),
 * attributes in `{...}` (ints `3`, floats always with a point or exponent
 * `1.0`, strings `"s"` with C escapes, lists `[1,2]`, tensors `<i64[1] =
 * {0}>`) and fused state as `+word` or `+word(args)` markers (`+relu`).
 * Lines starting with `#` are comments for the reader.
 */
#ifndef IR_H
#define IR_H

#include <stdint.h>
#include <stdio.h>

#include "arena.h"
#include "diag.h"
#include "dim.h"
#include "model_limits.h" /* IR_MAX_RANK and every other limit on models */

#define KILN_MAX_OPSET 17
/* The ONNX-ML domain (compiler/ir/ops_ml.def) and its newest opset kiln knows. */
#define KILN_DOMAIN_ML "ai.onnx.ml"
#define KILN_MAX_ML_OPSET 3

/* Element types: one row each in runtime/kiln_dtypes.def, which also
 * generates the runtime's KILN_DT_* constants with the same values. */
typedef enum {
    DT_UNDEF = 0,
#define KILN_DTYPE(ir, abi, onnx, ...) DT_##ir = onnx,
#include "../../runtime/kiln_dtypes.def"
#undef KILN_DTYPE
} DType;

const char *dtype_name(DType t);      /* "f32", "i64", ...; "?" for unknown */
const char *dtype_onnx_name(DType t); /* "float", "int64", ... as ONNX spells them */
size_t dtype_size(DType t);           /* bytes per element; 0 for strings and unknown */

typedef enum {
#define OP(e, ...) OP_##e,
#include "ops.def"
#undef OP
    OP_COUNT,
    OP_UNKNOWN = OP_COUNT, /* imported but not supported: kept so `check` can list them all */
} OpKind;

/* OpInfo.flags: what passes may do with an op (the flags column of ops.def). */
enum {
    OPF_FOLD = 1 << 0,         /* pass_fold_constants may compute it on the host */
    OPF_SENTINEL = 1 << 1,     /* folded symbolic dims (fold_constants.h) pass through it */
    OPF_SENTINEL_I64 = 1 << 2, /* the same, when its input and output are int64 (Cast) */
    /* Control flow (ops_control.def): an If, Loop or Scan is a region of
     * the node list, opened by its BEGIN node, closed by its END node
     * (and an If's two branches parted by its ELSE node); regions nest.
     * Passes keep these nodes and never move a node across one. */
    OPF_REGION_BEGIN = 1 << 3,
    OPF_REGION_ELSE = 1 << 4,
    OPF_REGION_END = 1 << 5,
    OPF_STRING_IN = 1 << 6, /* its kernel reads string tensors (pass_check_types lets them in) */
    OPF_SCRATCH_KEEP =
        1 << 7, /* its outputs point into its scratch, which lives to the run's end */
    /* made by passes only (ops_fused.def): not in models, not listed */
    OPF_INTERNAL = 1 << 8,
};

/* OpInfo.kernel: the element-wise kernel an op calls (the kernel column of
 * ops.def), as both codegen and constant folding call it. */
typedef enum { KERNEL_NONE, KERNEL_UNARY, KERNEL_BINARY } KernelKind;
typedef struct OpKernel {
    KernelKind kind;
    int op;                 /* KILN_UN_* or KILN_BIN_* (runtime/kiln_kernel_abi.h); -1 for none */
    const char *alpha_name; /* unary ops: the attribute that becomes alpha, NULL if none, */
    float alpha;            /* and its default */
    const char *beta_name;  /* likewise for beta */
    float beta;
} OpKernel;

typedef struct OpInfo {
    const char *name;   /* ONNX op_type */
    const char *domain; /* "" (the default domain) or KILN_DOMAIN_ML */
    int since;          /* first opset of its domain kiln supports, */
    int until;          /* and the last */
    int in_min, in_max, out_min, out_max;
    unsigned static_inputs; /* bit i: input i must be a compile-time constant */
    unsigned flags;         /* OPF_* */
    OpKernel kernel;        /* kind KERNEL_NONE unless element-wise math */
} OpInfo;

const OpInfo *op_info(OpKind op);
OpKind op_lookup(const char *onnx_name); /* default domain; OP_UNKNOWN if unsupported */
/* The op `onnx_name` of ONNX domain `domain` ("" and "ai.onnx" are the
 * default one, so op_lookup_domain("", x) is op_lookup(x)); OP_UNKNOWN if
 * kiln does not support it there: a default-domain "Scaler" is unknown. */
OpKind op_lookup_domain(const char *domain, const char *onnx_name);

typedef struct Shape {
    int rank;              /* -1 while unknown */
    Dim dims[IR_MAX_RANK]; /* sizes or symbolic expressions */
} Shape;

/* Elements with every symbolic dim counted as 1: the count of a static
 * shape. Every value's shape passes shape_bytes_check() (the importer and
 * the shape pass see to it), so this cannot overflow on the IR; it
 * saturates at INT64_MAX rather than wrap. */
int64_t shape_numel(const Shape *s);
/* Elements as a Dim (the product of the dims); DIM_INVALID on overflow. */
Dim shape_count(const Shape *s);
/* The product of dims [from, to) as a Dim. */
Dim shape_prod(const Shape *s, int from, int to);
/* The checked form, for shapes not yet known to be in limits: sets *bytes
 * to the bytes of the tensor with its symbolic dims at 1 (0 if a dim is 0)
 * and returns 0, or returns -1 if a constant dim is outside [0,
 * KILN_MAX_DIM], a symbolic one may exceed KILN_MAX_DIM, the product of
 * the constant dims times the element size exceeds KILN_MAX_TENSOR_BYTES,
 * or the bytes at the symbols' upper bounds exceed KILN_MAX_DYN_BYTES. */
int shape_bytes_check(const Shape *s, DType t, int64_t *bytes);
int shape_is_dynamic(const Shape *s); /* 1 if some dim is symbolic */
int shape_equal(const Shape *a, const Shape *b);
/* "[batch,30]" into buf; returns buf. */
char *shape_str(const Shape *s, char *buf, size_t len);

/* The loop nest of an element-wise kernel call (kiln_binary_* and the
 * like, runtime/kiln_kernel_abi.h) computing out from k <= LOOP_NEST_MAX_OPERANDS broadcast
 * operands: out's axes in four groups, one loop each. Size-1 axes are
 * dropped, and neighbouring axes along which every operand is contiguous
 * (or broadcast) share a loop. Group g covers axes [first[g], end[g]) of
 * out; unused leading groups are empty. Codegen and constant folding both
 * take trip counts (the product of out's dims over a group) and strides
 * (loop_nest_operand) from it, so they lay a call out alike. Returns the
 * number of groups needed; ln is filled only if that is at most 4. */
#define LOOP_NEST_MAX_OPERANDS 6 /* k; kiln.Chain has the most */
typedef struct LoopNest {
    int first[4], end[4];
} LoopNest;
int loop_nest_build(const Shape *out, const Shape *const *ins, int k, LoopNest *ln);
/* Operand in's stride in group g: 0 if in is broadcast along it, else 1
 * with the stride being the product of in's dims [*from, *to). */
int loop_nest_operand(const LoopNest *ln, int g, const Shape *out, const Shape *in, int *from,
                      int *to);

typedef struct Graph Graph;
typedef struct Node Node;

/* A symbolic Dim inside int64 tensor data (a shape vector folded from the
 * input shapes, passes/fold_constants.h): IR_DIM_DATA_BASE + its id ("KILN"
 * in the high bits, far from any real size or index). */
#define IR_DIM_DATA_BASE (INT64_MIN + (INT64_C(0x4b494c4e) << 31))
#define IR_DIM_DATA_SPAN (INT64_C(1) << 31)
static inline int ir_dim_in_data(int64_t v) {
    return v >= IR_DIM_DATA_BASE && v < IR_DIM_DATA_BASE + IR_DIM_DATA_SPAN;
}
/* A Dim as an int64 element: sizes as themselves, symbolic Dims encoded. */
static inline int64_t ir_dim_encode(Dim d) {
    return d >= 0 ? d : IR_DIM_DATA_BASE + (-1 - d);
}
/* An int64 element as a Dim: sizes >= 0 and encoded Dims; DIM_INVALID for
 * any other negative number. */
static inline Dim ir_dim_decode(int64_t v) {
    if (v >= 0) return v;
    if (ir_dim_in_data(v)) return -1 - (v - IR_DIM_DATA_BASE);
    return DIM_INVALID;
}

/* A requirement on the symbols that shape inference cannot prove from
 * their bounds. */
typedef enum {
    DIMCHECK_EQUAL, /* a == b: two sizes an op requires equal (matrix inner dims,
                       broadcast dims), b what a must be */
    DIMCHECK_MIN,   /* a >= b (b a constant): a size that must not fall below b */
} DimCheckKind;
typedef struct DimCheck {
    DimCheckKind kind;
    Dim a, b;
    const char *what; /* "node 'conv1' (Conv): output 'y' dim 2", from the graph's arena */
} DimCheck;
/* Adds a check unless the same one is there already, or it is proved by the
 * bounds. -1 with nothing added if it is false for every value of the
 * symbols (the caller reports that). */
int ir_graph_add_dim_check(Graph *g, DimCheckKind kind, Dim a, Dim b, const char *what);

typedef struct Value {
    const char *name; /* ONNX tensor name (unique in the graph) */
    DType dtype;      /* DT_UNDEF until known */
    Shape shape;      /* rank -1 until inferred */
    Node *producer;   /* NULL for graph inputs and initializers */
    void *data;       /* initializer contents, dense row-major; NULL otherwise */
    int input_index;  /* position among graph inputs, -1 if not one */
    int output_index; /* position among graph outputs, -1 if not one */
    int n_uses;       /* consuming node inputs, kept by ir_graph_recount() */
    Dim ws_offset;    /* memory plan: byte offset in the workspace (an expression
                         where sizes are symbolic) */
    int id;           /* index in Graph.values */
    DType decl_dtype; /* graph outputs: the type the model declares (DT_UNDEF if none), */
    Shape decl_shape; /* checked against the inferred one by pass_infer_shapes */
} Value;

typedef enum {
    ATTR_FLOAT,
    ATTR_INT,
    ATTR_STRING,
    ATTR_TENSOR,
    ATTR_FLOATS,
    ATTR_INTS,
    ATTR_STRINGS
} AttrKind;

typedef struct Attr {
    const char *name;
    AttrKind kind;
    float f;
    int64_t i;
    const char *s;
    Value *t; /* ATTR_TENSOR: a Value with data, not in Graph.values */
    int n;    /* length of the list kinds */
    float *floats;
    int64_t *ints;
    const char **strings;
} Attr;

/* Activation fused into a node's output by passes (bias+activation
 * epilogues); codegen passes it to the kernel as an enum whose values
 * runtime/kiln_kernel_abi.h repeats as KILN_EPI_* (static_assert in
 * compiler/codegen/emit.c) and kiln_epilogue_f32 (runtime/kernels/kmath.h)
 * evaluates. Node.epi_a and epi_b are its parameters: CLAMP's bounds
 * [a, b], LEAKY_RELU's alpha (a), HARDSIGMOID's max(0, min(1, a*x + b)).
 * HARDSWISH is x * hardsigmoid(x) with ONNX's 1/6 and 0.5, SILU x *
 * sigmoid(x), GELU x/2 * (1 + erf(x/sqrt 2)) and GELU_TANH its tanh
 * approximation. Which kernels take which is each kernel's business (the
 * fusion passes only fuse what the consumer's kernel applies). The text
 * form shows it after the attributes: +relu, +sigmoid, +tanh, +hardswish,
 * +silu, +gelu, +gelu_tanh, and with parameters +clamp(lo,hi),
 * +leaky_relu(alpha,0), +hardsigmoid(alpha,beta). */
typedef enum {
    EPI_NONE,
    EPI_RELU,
    EPI_SIGMOID,
    EPI_TANH,
    EPI_CLAMP,
    EPI_LEAKY_RELU,
    EPI_HARDSIGMOID,
    EPI_HARDSWISH,
    EPI_SILU,
    EPI_GELU,
    EPI_GELU_TANH,
    EPI_COUNT
} Epilogue;

/* Op plans: an op's parameters as its shape function resolved them (from
 * attributes, constant inputs, defaults and each opset's spelling), stored
 * on the node so that codegen and folding read one form and never resolve
 * them again. A plan lives in the graph's arena; every run of the shape
 * function rewrites it. Plans are not printed: the attributes and inputs
 * that are printed determine them, and infer-shapes recomputes them. */
typedef enum {
    PLAN_NONE,
    PLAN_SLICE,  /* Slice */
    PLAN_PAD,    /* Pad */
    PLAN_RESIZE, /* Resize, Upsample */
    PLAN_CONV,   /* Conv, ConvTranspose, MaxPool, AveragePool */
    PLAN_CONST,  /* Range: the output computed at compile time */
    PLAN_REDUCE, /* the reduce family (ops_reduce.def) but the losses */
    PLAN_CLIP,   /* Clip */
    PLAN_PERM,   /* Transpose: output axis i is input axis perm[i] */
    PLAN_TREE,   /* TreeEnsemble*: the checked ensemble (tree_plan.h) */
    PLAN_LOOP,   /* Loop (its begin node): the bound on its iterations */
} PlanKind;

/* Slice: output index i of axis k reads input index start[k] + i * step[k]. */
typedef struct SlicePlan {
    int64_t start[IR_MAX_RANK]; /* 0 on axes not sliced (and on empty ones) */
    int64_t step[IR_MAX_RANK];  /* 1 on axes not sliced; negative walks backwards */
} SlicePlan;

typedef enum { PAD_CONSTANT, PAD_EDGE, PAD_REFLECT } PadMode;

typedef struct PadPlan {
    PadMode mode;
    int64_t begin[IR_MAX_RANK]; /* elements added before each axis; negative crops */
    int64_t end[IR_MAX_RANK];   /* elements added after it */
    uint64_t fill;              /* PAD_CONSTANT: the value's bits in the data's element type */
} PadPlan;

typedef enum { RESIZE_NEAREST, RESIZE_LINEAR, RESIZE_CUBIC } ResizeMode;

/* How one axis of a Resize reads its input: output j is the sum over
 * t < taps of w[j*4 + t] * x[idx[j*4 + t]]. */
typedef struct ResizeTaps {
    int identity; /* every output reads its own position with weight 1: nothing to do */
    int taps;     /* 2 (nearest, linear) or 4 (cubic) */
    int64_t *idx; /* [4 * out] clamped input positions; idx[j*4] = -1 where
                     tf_crop_and_resize extrapolates; NULL on identity axes of
                     dynamic size and on axes whose taps the model computes at
                     run time (a dynamic input or output size) */
    double *w;    /* [4 * out] weights; NULL likewise */
} ResizeTaps;

/* Resize and Upsample, opset 7 to 17, normalised. */
typedef struct ResizePlan {
    ResizeMode mode;
    const char *ctm;          /* coordinate_transformation_mode */
    const char *nearest_mode; /* round_prefer_floor, round_prefer_ceil, floor, ceil */
    int ctm_k, nearest_k;     /* the same as KILN_CTM_*, KILN_NEAREST_* (runtime/kiln_resize.h) */
    double cubic_a;
    int exclude_outside;
    float extrapolation;
    int rank;
    double scale[IR_MAX_RANK];   /* as the ONNX reference uses it */
    double given[IR_MAX_RANK];   /* the scale given (kiln_resize_scale's sc), 0 for sizes */
    double out_w[IR_MAX_RANK];   /* scale * input size, as the reference computes it */
    double roi[2 * IR_MAX_RANK]; /* starts then ends (tf_crop_and_resize) */
    Shape out;
    ResizeTaps axis[IR_MAX_RANK];
} ResizePlan;

#define IR_MAX_SPATIAL 3

/* Sliding-window geometry of convolutions and pools, per spatial axis,
 * with auto_pad and output_shape resolved into explicit pads. */
typedef struct ConvPlan {
    int rank;      /* spatial axes: 1, 2 or 3 */
    int64_t group; /* 1 for pools */
    int64_t kernel[IR_MAX_SPATIAL], stride[IR_MAX_SPATIAL], dilation[IR_MAX_SPATIAL];
    int64_t pad_begin[IR_MAX_SPATIAL], pad_end[IR_MAX_SPATIAL]; /* ConvTranspose: may be < 0 */
    int64_t out[IR_MAX_SPATIAL];                                /* output spatial sizes */
} ConvPlan;

/* The reduce family: the axes an op works along, normalised to [0, rank)
 * of input 0, with each opset's defaults and spelling (attribute or
 * constant input) resolved. */
typedef struct ReducePlan {
    unsigned mask; /* Reduce*, MeanVarianceNormalization: bit i set if dim i is
                      reduced; 0 if none is (noop_with_empty_axes, a scalar) */
    int noop;      /* Reduce*: nothing to reduce, the output is a copy of the input */
    int keepdims;  /* Reduce*, ArgMax/ArgMin: reduced dims stay, with size 1 */
    int axis;      /* ArgMax/ArgMin, Softmax family, LayerNormalization,
                      LpNormalization, CumSum, TopK: the one axis; 0 for a scalar.
                      Softmax family: -1 if out of range, which codegen reports */
    int64_t asked; /* Softmax family: the axis as the node gave or defaulted it */
    int flatten;   /* Softmax family before opset 13: the input is coerced to
                      2-D at axis, [outer, rest], and the op runs along rest */
    int64_t k;     /* TopK: how many elements it keeps; -1: input K, read at run time */
} ReducePlan;

/* A Loop's iterations as shape inference bounded them
 * (passes/shapes_control.c): at most `bound`, from its trip count M when
 * that is known when compiling, else from --loop-bound or kiln's default;
 * run() then checks each iteration against it (`checked`). The body reads
 * its iteration number as the data-dependent symbol `iter` (dim.h), so
 * that sizes computed from it (a Slice from i to i + 1) are Dims. */
typedef struct LoopPlan {
    Dim bound;   /* at most this many iterations; DIM_INVALID: unbounded */
    int checked; /* the bound is not M's: each iteration is checked against it */
    Dim iter;    /* the iteration number's symbol, bounded by bound - 1; DIM_INVALID: none */
} LoopPlan;

/* Clip's bounds: attributes before opset 11, resolved here; from 11 on
 * the optional inputs 1 (min) and 2 (max), which the kernel reads at run
 * time since they may be computed. */
typedef struct ClipPlan {
    int from_inputs;      /* the bounds are inputs 1 and 2 (each may be omitted) */
    int has_min, has_max; /* !from_inputs: the attribute is present */
    float min, max;       /* !from_inputs: its value */
} ClipPlan;

struct Node {
    const char *name;    /* ONNX node name, or "<op>_<index>" when the model left it empty */
    const char *op_type; /* as written in the model (kept for unknown ops) */
    const char *domain;  /* "" for the default ONNX domain */
    OpKind op;
    int opset; /* opset version of the node's domain */
    int n_inputs, n_outputs;
    Value **inputs; /* an entry is NULL for an omitted optional input */
    Value **outputs;
    int n_attrs;
    Attr *attrs;
    Epilogue epilogue;
    float epi_a, epi_b; /* the epilogue's parameters (see Epilogue) */
    int gemm_packed_b;  /* Gemm: B (input 1) is packed into [P, K, 32] panels by
                           pass_fuse, transB absorbed; printed as +packed */
    int conv_residual;  /* Conv: input 3 is a residual added before the epilogue
                           (pass_fuse_conv_activation); printed as +residual */
    PlanKind plan_kind; /* which member of plan the shape function set */
    union {
        SlicePlan *slice;
        PadPlan *pad;
        ResizePlan *resize;
        ConvPlan *conv;
        ReducePlan *reduce;
        ClipPlan *clip;
        const int64_t *perm;         /* PLAN_PERM: [rank], the default reversal resolved */
        const void *bytes;           /* PLAN_CONST: the output's contents, dense */
        const struct TreePlan *tree; /* PLAN_TREE */
        LoopPlan *loop;              /* PLAN_LOOP */
    } plan;
    /* Workspace bytes the node's kernels need while it runs (an im2col
     * buffer, say), set by its shape function (0: none); pass_plan_memory
     * places it (scratch_offset, as for Values) and codegen hands it out
     * with cg_scratch(). */
    Dim scratch;
    Dim scratch_offset;
    int dead;  /* set by passes; removed by ir_graph_compact() */
    int index; /* position at import, for messages */
    Graph *graph;
};

struct Graph {
    Arena *arena;
    const char *source_path; /* the .onnx file, for messages */
    const char *name;
    int opset;    /* default-domain opset */
    Node **nodes; /* topological order */
    int n_nodes, cap_nodes;
    Value **values; /* every tensor, including initializers */
    int n_values, cap_values;
    Value **inputs; /* graph inputs that are not initializers, in order */
    int n_inputs;
    Value **outputs; /* graph outputs, in order */
    int n_outputs;
    Dim ws_size;      /* memory plan: workspace bytes */
    int64_t ws_lower; /* memory plan: the most bytes live at once, at the upper bounds */
    /* What the input shapes must satisfy beyond their bounds, found by
     * shape inference (a size that must not be negative, two symbolic
     * sizes an op needs equal); the compiled model checks each before it
     * runs (KilnModel.shapes), in order. */
    DimCheck *dim_checks;
    int n_dim_checks, cap_dim_checks;
};

Graph *ir_graph_create(Arena *a, const char *source_path);
/* A new value; name must be unique (asserted). */
Value *ir_value_add(Graph *g, const char *name, DType t);
/* A new value for a pass to create: named `base`, or `base_2`, `base_3`,
 * ... if the model already uses that name. */
Value *ir_value_add_fresh(Graph *g, const char *base, DType t);
Value *ir_value_find(const Graph *g, const char *name); /* NULL if none */
/* A node appended at the end; inputs and outputs are copied. */
Node *ir_node_add(Graph *g, OpKind op, const char *op_type, const char *name, int n_in,
                  Value *const *in, int n_out, Value *const *out);
/* Same, inserted just before `before` in topological order. */
Node *ir_node_insert_before(Graph *g, Node *before, OpKind op, const char *op_type,
                            const char *name, int n_in, Value *const *in, int n_out,
                            Value *const *out);
Node *ir_node_find(const Graph *g, const char *name); /* NULL if none */
void ir_graph_add_input(Graph *g, Value *v);
void ir_graph_add_output(Graph *g, Value *v);

/* Attribute lookup by name; NULL if absent. The _or helpers return dflt
 * when absent. */
const Attr *ir_attr(const Node *n, const char *name);
int64_t ir_attr_int(const Node *n, const char *name, int64_t dflt);
float ir_attr_float(const Node *n, const char *name, float dflt);
const char *ir_attr_str(const Node *n, const char *name, const char *dflt);

/* Whether epilogue e's text form carries its parameters "(a,b)"; the
 * epilogue a marker word names (EPI_COUNT: none). */
int ir_epilogue_has_params(Epilogue e);
Epilogue ir_epilogue_lookup(const char *word);
Attr *ir_attr_add(Node *n, const char *name, AttrKind kind);
/* The attribute `name` with its kind set to `kind`, added if absent: the
 * caller then writes its value. */
Attr *ir_attr_set(Node *n, const char *name, AttrKind kind);
/* Replaces every use of `from` (node inputs and graph outputs) by `to`. */
void ir_value_replace_uses(Graph *g, Value *from, Value *to);
/* The one live node reading v, or NULL if v has other readers, none, or
 * is a graph output. Requires: uses counted (ir_graph_recount). */
Node *ir_value_sole_user(const Graph *g, const Value *v);
/* Node n takes over the output of c, a single-output node that is the
 * sole reader of n's one output (uses counted): n now produces c's
 * output, and c is marked dead. n's old output has no producer left, so
 * ir_graph_compact() drops it. */
void ir_node_absorb(Node *n, Node *c);

/* 1 if v is static int64 data holding encoded Dims (a shape vector folded
 * from symbolic dims, which the compiled model computes per call). */
int ir_value_has_dims(const Value *v);

/* The symbols of the graph inputs' dims, in order of first appearance
 * (into syms[0..DIM_MAX_SYMS)): the model's dynamic dims. A symbol pinned
 * to one size is a number in every dim and is not among them. Returns
 * their count. */
int ir_graph_syms(const Graph *g, int *syms);

/* The node opening the region that node `end` (an OPF_REGION_END or
 * _ELSE node of g) closes or parts; NULL if there is none. */
Node *ir_region_begin(const Graph *g, const Node *end);
/* The OPF_REGION_END node closing the region that `begin` opens; NULL if
 * there is none. */
Node *ir_region_end(const Graph *g, const Node *begin);

/* Removes dead nodes and values nothing refers to; recounts uses. */
void ir_graph_compact(Graph *g);
/* Recomputes Value.n_uses (graph outputs count as a use). */
void ir_graph_recount(Graph *g);
/* Checks the invariants (topological order, producers, arity). 0 if well
 * formed; otherwise reports each problem and returns -1. */
int ir_graph_verify(const Graph *g, Diag *d);
void ir_graph_print(const Graph *g, FILE *out);
/* Reads the text form above into a new graph in arena a; `path` names the
 * text in messages ("path:line: ..."). Initializers printed without values
 * get a deterministic fill (floats in [-1, 1), integers 0). 0 on success,
 * else reports each problem and returns -1 (*out is then NULL). */
int ir_graph_parse(Arena *a, const char *text, const char *path, Graph **out, Diag *d);

#endif
