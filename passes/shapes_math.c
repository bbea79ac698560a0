/* shapes_math.c: shape functions of the math family (compiler/ir/ops_math.def):
 * elementwise math, activations, comparison, logic, Where, Clip and Cast.
 *
 * Besides shapes, these functions own the element-type rules: the
 * kernels exist for every element type, so an op applied to a type ONNX
 * does not define it for (Exp of an int32) must be refused here, or it
 * would compute nonsense. Ops that need intermediate tensors (mixed-type
 * Pow, Sum/Mean/Max/Min of three or more inputs) reserve node scratch.
 */
#include <string.h>

#include "kiln_model.h"
#include "shapes.h"

/* Element type classes. */
enum {
    TY_FLOAT = 1 << 0,    /* float, double, float16 */
    TY_SIGNED = 1 << 1,   /* int8 .. int64 */
    TY_UNSIGNED = 1 << 2, /* uint8 .. uint64 */
    TY_BOOL = 1 << 3,
    TY_I32_I64 = 1 << 4, /* int32 and int64 only (Pow's base) */
    TY_NUMERIC = TY_FLOAT | TY_SIGNED | TY_UNSIGNED,
};

static unsigned type_class(DType t) {
    switch (t) {
    case DT_F32:
    case DT_F64:
    case DT_F16:
        return TY_FLOAT;
    case DT_I32:
    case DT_I64:
        return TY_SIGNED | TY_I32_I64;
    case DT_I8:
    case DT_I16:
        return TY_SIGNED;
    case DT_U8:
    case DT_U16:
    case DT_U32:
    case DT_U64:
        return TY_UNSIGNED;
    case DT_BOOL:
        return TY_BOOL;
    default:
        return 0; /* strings, bfloat16: no kernels */
    }
}

/* The element types each op takes (its input T constraint in the ONNX
 * schema, restricted to the types kiln has kernels for). */
static unsigned op_types(OpKind op) {
    switch (op) {
    case OP_RELU:
    case OP_ABS:
    case OP_SIGN:
    case OP_SHRINK:
    case OP_MAX:
    case OP_MIN:
    case OP_MOD:
    case OP_PRELU:
    case OP_LESS:
    case OP_GREATER:
    case OP_LESS_OR_EQUAL:
    case OP_GREATER_OR_EQUAL:
    case OP_CLIP:
        return op == OP_RELU ? TY_FLOAT | TY_SIGNED : TY_NUMERIC;
    case OP_NEG:
        return TY_FLOAT | TY_SIGNED;
    case OP_EQUAL:
        return TY_NUMERIC | TY_BOOL;
    case OP_BITSHIFT:
        return TY_UNSIGNED;
    case OP_AND:
    case OP_OR:
    case OP_XOR:
    case OP_NOT:
        return TY_BOOL;
    default:
        return TY_FLOAT;
    }
}

static const char *types_str(unsigned mask) {
    switch (mask) {
    case TY_FLOAT:
        return "float, double or float16";
    case TY_FLOAT | TY_SIGNED:
        return "a float or signed integer type";
    case TY_NUMERIC:
        return "a numeric type";
    case TY_NUMERIC | TY_BOOL:
        return "a numeric type or bool";
    case TY_UNSIGNED:
        return "an unsigned integer type";
    case TY_BOOL:
        return "bool";
    case TY_FLOAT | TY_I32_I64:
        return "float, double, float16, int32 or int64";
    default:
        return "another type";
    }
}

/* -1 with a diagnostic unless input i's element type is in mask. */
static int check_type(Node *n, int i, unsigned mask, Diag *d) {
    Value *v = shapes_in(n, i);
    /* Strings and bfloat16 have no kernels at all: pass_check_types,
     * which runs next, reports them for every op alike. */
    if (!type_class(v->dtype) || (type_class(v->dtype) & mask)) return 0;
    diag_node(d, n, "input '%s' has element type %s; %s takes %s", v->name,
              dtype_onnx_name(v->dtype), n->op_type, types_str(mask));
    return -1;
}

/* Binary ops before opset 7 could broadcast along `axis` (broadcast=1);
 * numpy broadcasting replaced that. */
static int check_legacy_broadcast(Node *n, Diag *d) {
    if (!ir_attr_int(n, "broadcast", 0) || !ir_attr(n, "axis")) return 0;
    diag_node(d, n, "legacy broadcast with 'axis' (opset < 7) is not supported");
    diag_hint(d, "re-export the model with opset >= 7");
    return -1;
}

/* Numpy broadcasting of inputs [from, n_inputs) into *out, or -1 with a
 * diagnostic naming the first input that does not fit. */
static int broadcast_inputs(Node *n, int from, Shape *out, Diag *d) {
    *out = shapes_in(n, from)->shape;
    for (int i = from + 1; i < n->n_inputs; i++) {
        Shape s;
        if (shapes_broadcast(n, out, &shapes_in(n, i)->shape, &s)) {
            char b1[160], b2[160];
            diag_node(d, n, "shape %s of '%s' does not broadcast with %s",
                      shapes_str(&shapes_in(n, i)->shape, b1), shapes_in(n, i)->name,
                      shapes_str(out, b2));
            return -1;
        }
        *out = s;
    }
    return 0;
}

/* Reserves scratch for one tensor of shape s and type t (see
 * math_scratch_regions in emit_math.c, which lays out the same regions in
 * the same order). */
static int add_scratch(Node *n, const Shape *s, DType t, Diag *d) {
    Dim bytes = dim_mul(shape_count(s), (int64_t)dtype_size(t));
    n->scratch = dim_add(n->scratch, bytes);
    if (n->scratch == DIM_INVALID) {
        diag_node(d, n, "an intermediate of this op is too large");
        return -1;
    }
    return 0;
}

int shape_math_unary(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0);
    if (check_type(n, 0, op_types(n->op), d)) return -1;
    shapes_set(n, 0, x->dtype, &x->shape);
    return 0;
}

int shape_math_binary(Node *n, Diag *d) {
    if (check_legacy_broadcast(n, d) || shapes_same_dtype(n, 0, 1, d) ||
        check_type(n, 0, op_types(n->op), d))
        return -1;
    DType t = shapes_in(n, 0)->dtype;
    if (n->op == OP_MOD && type_class(t) == TY_FLOAT && !ir_attr_int(n, "fmod", 0)) {
        diag_node(d, n, "Mod of %s needs fmod=1 (the ONNX spec defines only that for floats)",
                  dtype_onnx_name(t));
        return -1;
    }
    if (n->op == OP_BITSHIFT) {
        const char *dir = ir_attr_str(n, "direction", "");
        if (strcmp(dir, "LEFT") != 0 && strcmp(dir, "RIGHT") != 0) {
            diag_node(d, n, "direction is '%s', expected \"LEFT\" or \"RIGHT\"", dir);
            return -1;
        }
    }
    Shape s;
    if (broadcast_inputs(n, 0, &s, d)) return -1;
    shapes_set(n, 0, t, &s);
    return 0;
}

/* Pow: from opset 12 the exponent may have another type than the base;
 * emit_pow converts through scratch: the exponent to the base's type
 * (float base), or base and result through the exponent's float type
 * (integer base, float exponent). */
int shape_math_pow(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0), *y = shapes_in(n, 1);
    if (check_legacy_broadcast(n, d) || check_type(n, 0, TY_FLOAT | TY_I32_I64, d) ||
        check_type(n, 1, TY_NUMERIC, d))
        return -1;
    Shape s;
    if (broadcast_inputs(n, 0, &s, d)) return -1;
    n->scratch = 0;
    if (x->dtype != y->dtype) {
        if (type_class(x->dtype) != TY_FLOAT && type_class(y->dtype) == TY_FLOAT) {
            if (add_scratch(n, &x->shape, y->dtype, d) || add_scratch(n, &s, y->dtype, d))
                return -1;
        } else if (add_scratch(n, &y->shape, x->dtype, d))
            return -1;
    }
    shapes_set(n, 0, x->dtype, &s);
    return 0;
}

/* PRelu: slope broadcasts to X (unidirectionally); Y has X's shape. */
int shape_math_prelu(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0), *slope = shapes_in(n, 1);
    if (shapes_same_dtype(n, 0, 1, d) || check_type(n, 0, op_types(n->op), d)) return -1;
    Shape s;
    if (shapes_broadcast(n, &x->shape, &slope->shape, &s) || !shape_equal(&s, &x->shape)) {
        char b1[160], b2[160];
        diag_node(d, n, "slope '%s' of shape %s does not broadcast to X's shape %s", slope->name,
                  shapes_str(&slope->shape, b1), shapes_str(&x->shape, b2));
        return -1;
    }
    shapes_set(n, 0, x->dtype, &x->shape);
    return 0;
}

/* Sum, Mean, Max, Min: any number of inputs, broadcast together (from
 * opset 8; before, they had to have one shape, which broadcasting
 * accepts too). More than one step needs an intermediate of the output's
 * shape. */
int shape_math_variadic(Node *n, Diag *d) {
    for (int i = 0; i < n->n_inputs; i++)
        if (!shapes_in(n, i)) {
            diag_node(d, n, "input %d is omitted; every input of %s must be given", i, n->op_type);
            return -1;
        }
    unsigned types = n->op == OP_SUM || n->op == OP_MEAN ? TY_FLOAT : TY_NUMERIC;
    if (check_type(n, 0, types, d)) return -1;
    for (int i = 1; i < n->n_inputs; i++)
        if (shapes_same_dtype(n, 0, i, d)) return -1;
    Shape s;
    if (broadcast_inputs(n, 0, &s, d)) return -1;
    int steps = n->n_inputs - 1 + (n->op == OP_MEAN && n->n_inputs > 1);
    n->scratch = 0;
    if (steps > 1 && add_scratch(n, &s, shapes_in(n, 0)->dtype, d)) return -1;
    shapes_set(n, 0, shapes_in(n, 0)->dtype, &s);
    return 0;
}

int shape_math_compare(Node *n, Diag *d) {
    if (check_legacy_broadcast(n, d) || shapes_same_dtype(n, 0, 1, d) ||
        check_type(n, 0, op_types(n->op), d))
        return -1;
    Shape s;
    if (broadcast_inputs(n, 0, &s, d)) return -1;
    shapes_set(n, 0, DT_BOOL, &s);
    return 0;
}

int shape_math_where(Node *n, Diag *d) {
    if (check_type(n, 0, TY_BOOL, d) || shapes_same_dtype(n, 1, 2, d) ||
        check_type(n, 1, TY_NUMERIC | TY_BOOL, d))
        return -1;
    Shape s;
    if (broadcast_inputs(n, 0, &s, d)) return -1;
    shapes_set(n, 0, shapes_in(n, 1)->dtype, &s);
    return 0;
}

int shape_math_classify(Node *n, Diag *d) {
    if (check_type(n, 0, TY_FLOAT, d)) return -1;
    shapes_set(n, 0, DT_BOOL, &shapes_in(n, 0)->shape);
    return 0;
}

/* Clip: attributes min/max before opset 11 (floats only), optional
 * scalar inputs from 11 on (any numeric type from 12). */
int shape_math_clip(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0);
    if (check_type(n, 0, n->opset && n->opset < 11 ? TY_FLOAT : TY_NUMERIC, d)) return -1;
    if (n->opset && n->opset < 11 && n->n_inputs > 1) {
        diag_node(d, n, "Clip before opset 11 takes min and max as attributes, not inputs");
        return -1;
    }
    for (int i = 1; i < n->n_inputs; i++) {
        Value *b = shapes_in(n, i);
        if (!b) continue;
        if (shapes_same_dtype(n, 0, i, d)) return -1;
        int batch;
        if (shapes_product(&b->shape, 0, b->shape.rank, &batch) != 1 || batch) {
            char buf[160];
            diag_node(d, n, "%s '%s' has shape %s, expected a scalar", i == 1 ? "min" : "max",
                      b->name, shapes_str(&b->shape, buf));
            return -1;
        }
    }
    ClipPlan *p = arena_alloc(n->graph->arena, sizeof *p);
    p->from_inputs = !(n->opset && n->opset < 11);
    p->has_min = !p->from_inputs && ir_attr(n, "min");
    p->has_max = !p->from_inputs && ir_attr(n, "max");
    p->min = ir_attr_float(n, "min", 0);
    p->max = ir_attr_float(n, "max", 0);
    n->plan_kind = PLAN_CLIP;
    n->plan.clip = p;
    shapes_set(n, 0, x->dtype, &x->shape);
    return 0;
}

/* Cast (to = attribute) and CastLike (to = input 1's element type). */
int shape_math_cast(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0);
    DType to;
    if (n->op == OP_CAST_LIKE) {
        to = shapes_in(n, 1)->dtype;
    } else {
        const Attr *a = ir_attr(n, "to");
        if (!a || a->kind != ATTR_INT) {
            diag_node(d, n, "attribute 'to' must be an integer element type");
            diag_hint(d, "Cast-1 named the type as a string; re-export with opset >= 6");
            return -1;
        }
        to = (DType)a->i;
    }
    /* bfloat16 converts to and from float only (kiln_cast_bf16_f32 and
     * kiln_cast_f32_bf16, runtime/kernels/misc.c). */
    int bf16 = (x->dtype == DT_BF16 && (to == DT_F32 || to == DT_BF16)) ||
               (to == DT_BF16 && x->dtype == DT_F32);
    /* Strings convert to and from float, double and the integers
     * (kiln_cast_to_string, kiln_cast_from_string in runtime/kernels/misc.c);
     * the texts written live in the node's scratch, to the end of the run. */
    DType num = x->dtype == DT_STRING ? to : x->dtype;
    int str = (x->dtype == DT_STRING) != (to == DT_STRING) && num != DT_BOOL && num != DT_F16 &&
              type_class(num);
    if (!bf16 && !str && !(x->dtype == DT_STRING && to == DT_STRING) &&
        (!type_class(x->dtype) || !type_class(to))) {
        diag_node(d, n, "cast from %s to %s is not supported", dtype_onnx_name(x->dtype),
                  dtype_onnx_name(to));
        diag_hint(d, "kiln casts between numeric types and bool, bfloat16 to and from float, and "
                     "strings to and from float, double and the integer types");
        return -1;
    }
    n->scratch = to == DT_STRING && x->dtype != DT_STRING
                     ? dim_mul(shape_count(&x->shape), KILN_CAST_STRING_BYTES)
                     : 0;
    shapes_set(n, 0, to, &x->shape);
    return 0;
}
