/* ir.h: the graph IR.
 *
 * A Graph is an array of Nodes in topological order. Each Node has an
 * OpKind, input Values, output Values and attributes. Values are tensors:
 * graph inputs, initializers (Value.data != NULL) and node outputs. All IR
 * memory comes from the Arena passed to ir_graph_create() and lives until
 * that arena is destroyed; nothing in the IR is freed on its own. Passes
 * delete a node by setting `dead` and calling ir_graph_compact().
 *
 * Shapes: a dimension is a positive size or DIM_BATCH (-1), the model's one
 * runtime batch size. Shape.rank is -1 while unknown. Element types use the
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
 * rank, `[]` a scalar, `N` the batch dim. Initializers of at most 16
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

#define IR_MAX_RANK 8
#define DIM_BATCH (-1)
#define KILN_MAX_OPSET 17

typedef enum {
    DT_UNDEF = 0,
    DT_F32 = 1,
    DT_U8 = 2,
    DT_I8 = 3,
    DT_U16 = 4,
    DT_I16 = 5,
    DT_I32 = 6,
    DT_I64 = 7,
    DT_STRING = 8,
    DT_BOOL = 9,
    DT_F16 = 10,
    DT_F64 = 11,
    DT_U32 = 12,
    DT_U64 = 13,
    DT_BF16 = 16,
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

typedef struct OpInfo {
    const char *name; /* ONNX op_type */
    int since;        /* first opset kiln supports */
    int in_min, in_max, out_min, out_max;
    unsigned static_inputs; /* bit i: input i must be a compile-time constant */
} OpInfo;

const OpInfo *op_info(OpKind op);
OpKind op_lookup(const char *onnx_name); /* OP_UNKNOWN if unsupported */

typedef struct Shape {
    int rank;                  /* -1 while unknown */
    int64_t dims[IR_MAX_RANK]; /* size, or DIM_BATCH */
} Shape;

int64_t shape_numel(const Shape *s); /* elements with the batch dim counted as 1 */
int shape_has_batch(const Shape *s); /* 1 if some dim is DIM_BATCH */
int shape_equal(const Shape *a, const Shape *b);
/* "[N,30]" into buf; returns buf. */
char *shape_str(const Shape *s, char *buf, size_t len);

typedef struct Graph Graph;
typedef struct Node Node;

typedef struct Value {
    const char *name;  /* ONNX tensor name (unique in the graph) */
    DType dtype;       /* DT_UNDEF until known */
    Shape shape;       /* rank -1 until inferred */
    Node *producer;    /* NULL for graph inputs and initializers */
    void *data;        /* initializer contents, dense row-major; NULL otherwise */
    int input_index;   /* position among graph inputs, -1 if not one */
    int output_index;  /* position among graph outputs, -1 if not one */
    int n_uses;        /* consuming node inputs, kept by ir_graph_recount() */
    int64_t ws_offset; /* memory plan: byte offset = ws_offset + ws_batch_offset * batch */
    int64_t ws_batch_offset;
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
 * epilogues); codegen passes it to the kernel as an enum. */
typedef enum { EPI_NONE, EPI_RELU, EPI_SIGMOID, EPI_TANH } Epilogue;

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
    /* Workspace bytes the node's kernels need while it runs (an im2col
     * buffer, say): scratch + scratch_per_batch * batch, set by its shape
     * function; pass_plan_memory places it (scratch_offset/_batch_offset,
     * as for Values) and codegen hands it out with cg_scratch(). */
    int64_t scratch, scratch_per_batch;
    int64_t scratch_offset, scratch_batch_offset;
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
    int64_t ws_static; /* memory plan: workspace bytes = ws_static + ws_per_batch * batch */
    int64_t ws_per_batch;
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
Attr *ir_attr_add(Node *n, const char *name, AttrKind kind);
/* Replaces every use of `from` (node inputs and graph outputs) by `to`. */
void ir_value_replace_uses(Graph *g, Value *from, Value *to);

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
