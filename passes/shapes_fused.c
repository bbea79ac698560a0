/* shapes_fused.c: shape functions of kiln's fused ops (ops_fused.def).
 *
 * pass_fuse_mobile makes these nodes from ones whose shapes were already
 * inferred and checked; the functions here recompute the same shapes, so
 * that inferring again (after a pass, in a test) gives what the fusion
 * kept, and refuse operands the kernels were not written for. */
#include "kiln_kernel_abi.h"
#include "shapes.h"

/* kiln.Activation: the input's shape, float only. */
int shape_activation(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0);
    if (x->dtype != DT_F32) {
        diag_node(d, n, "element type %s is not supported (float only)", dtype_onnx_name(x->dtype));
        return -1;
    }
    shapes_set(n, 0, x->dtype, &x->shape);
    return 0;
}

/* kiln.ConvVec: x [N, C, 1...], W [M, C, 1...] constant, B [M] constant
 * or none; y [N, M, 1...]. No scratch. */
int shape_conv_vec(Node *n, Diag *d) {
    Value *x = shapes_in(n, 0), *w = shapes_in(n, 1);
    Value *b = n->n_inputs > 2 ? shapes_in(n, 2) : NULL;
    int ok = x->dtype == DT_F32 && w->dtype == DT_F32 && w->data && x->shape.rank >= 3 &&
             w->shape.rank == x->shape.rank && w->shape.dims[1] == x->shape.dims[1] &&
             (!b || (b->data && b->dtype == DT_F32 && shape_numel(&b->shape) == w->shape.dims[0]));
    for (int i = 2; ok && i < x->shape.rank; i++)
        ok = x->shape.dims[i] == 1 && w->shape.dims[i] == 1;
    if (!ok) {
        diag_node(d, n, "operands do not fit a 1x1 convolution of 1x1 float data");
        return -1;
    }
    Shape s = x->shape;
    s.dims[1] = w->shape.dims[0];
    shapes_set(n, 0, DT_F32, &s);
    n->scratch = 0;
    return 0;
}

/* kiln.Chain: float operands; y has their broadcast shape. The steps
 * must name ops a chain takes, one per operand list entry. */
int shape_chain(Node *n, Diag *d) {
    const Attr *steps = ir_attr(n, "steps"), *ops = ir_attr(n, "operands");
    const Attr *sides = ir_attr(n, "sides"), *al = ir_attr(n, "alpha"), *be = ir_attr(n, "beta");
    int ns = steps ? steps->n : 0;
    if (!steps || steps->kind != ATTR_STRINGS || ns < 1 || ns > KILN_CHAIN_MAX_STEPS || !ops ||
        ops->kind != ATTR_INTS || ops->n != ns || !sides || sides->kind != ATTR_INTS ||
        sides->n != ns || !al || al->kind != ATTR_FLOATS || al->n != ns || !be ||
        be->kind != ATTR_FLOATS || be->n != ns) {
        diag_node(d, n, "its steps, operands, sides, alpha and beta lists do not agree");
        return -1;
    }
    for (int i = 0; i < ns; i++)
        if (ops->ints[i] < -1 || ops->ints[i] >= n->n_inputs) {
            diag_node(d, n, "step %d reads operand %lld; the node has %d", i,
                      (long long)ops->ints[i], n->n_inputs);
            return -1;
        }
    Shape s = shapes_in(n, 0)->shape;
    for (int i = 0; i < n->n_inputs; i++) {
        Value *x = shapes_in(n, i);
        if (x->dtype != DT_F32) {
            diag_node(d, n, "operand '%s' is %s (float only)", x->name, dtype_onnx_name(x->dtype));
            return -1;
        }
        Shape t = s;
        if (i && shapes_broadcast(n, &t, &x->shape, &s)) {
            diag_node(d, n, "operand '%s' does not broadcast with the others", x->name);
            return -1;
        }
    }
    shapes_set(n, 0, DT_F32, &s);
    n->scratch = 0;
    return 0;
}
