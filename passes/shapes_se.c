/* shapes_se.c: the shape function of kiln.ConvScaled (ops_se.def).
 *
 * pass_fuse_se makes the node from a Conv whose shapes were inferred; this
 * recomputes them as shape_conv does (on the node seen without its scale
 * input), checks the scale and adds the scaled weights' scratch. */
#include "kiln_kernel_abi.h"
#include "shapes.h"

/* kiln.ConvScaled (x, W, B, R, s): the Conv's shapes; s [N, C, 1...] with
 * x's N and C, float; group 1. Scratch: one copy of the scaled packed
 * weights per task before the convolution's own. */
int shape_conv_scaled(Node *n, Diag *d) {
    Value *s = shapes_in(n, 4), *x = shapes_in(n, 0), *w = shapes_in(n, 1);
    if (!s || !x || !w) {
        diag_node(d, n, "needs its input, weights and scale");
        return -1;
    }
    int n_in = n->n_inputs;
    n->n_inputs = n->inputs[3] ? 4 : 3; /* the Conv as shape_conv knows it */
    int rc = shape_conv(n, d);
    n->n_inputs = n_in;
    if (rc) return -1;
    const ConvPlan *p = n->plan.conv;
    int ok = p->group == 1 && s->dtype == DT_F32 && s->shape.rank == x->shape.rank &&
             s->shape.dims[0] == x->shape.dims[0] && s->shape.dims[1] == x->shape.dims[1];
    for (int i = 2; ok && i < s->shape.rank; i++)
        ok = s->shape.dims[i] == 1;
    if (!ok) {
        char b1[160], b2[160];
        diag_node(d, n, "scale '%s' %s is not one float per image and channel of '%s' %s", s->name,
                  shapes_str(&s->shape, b1), x->name, shapes_str(&x->shape, b2));
        return -1;
    }
    int64_t taps = 1;
    for (int i = 0; i < p->rank; i++)
        taps *= p->kernel[i]; /* bounded: W's dims passed shapes_check_outputs at import */
    int64_t C = x->shape.dims[1], M = w->shape.dims[0];
    int64_t floats = kiln_conv_scaled_scratch_floats(1, C, M, taps);
    Dim bytes = dim_add(n->scratch, dim_mul(floats, (int64_t)sizeof(float)));
    int64_t lo, hi;
    if (bytes == DIM_INVALID || dim_bounds(bytes, &lo, &hi) || hi > KILN_MAX_DYN_BYTES) {
        diag_node(d, n, "the convolution needs more than kiln's limit of %lld bytes of scratch",
                  (long long)KILN_MAX_DYN_BYTES);
        return -1;
    }
    n->scratch = bytes;
    return 0;
}
