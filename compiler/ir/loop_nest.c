/* loop_nest.c: how an element-wise kernel call walks its broadcast
 * operands (ir.h, LoopNest). One implementation for codegen, which emits
 * the call, and constant folding, which makes it on the host.
 *
 * Sizes may hold the batch dim, so the merging works on c * batch^e, as
 * codegen's Sym does: two strides agree if their factors and powers do,
 * and any two zero strides agree.
 */
#include <assert.h>

#include "ir.h"

typedef struct Size {
    int64_t c; /* constant factor */
    int e;     /* power of the batch */
} Size;

static Size size_dim(int64_t d) {
    return d == DIM_BATCH ? (Size){1, 1} : (Size){d, 0};
}

static Size size_mul(Size a, Size b) {
    return (Size){a.c * b.c, a.e + b.e};
}

static int size_eq(Size a, Size b) {
    return a.c == b.c && (a.e == b.e || a.c == 0);
}

/* Stride of operand s at each axis of out: 0 where s is broadcast. */
static void strides(const Shape *s, const Shape *out, Size *st) {
    Size acc = {1, 0};
    int off = out->rank - s->rank;
    for (int i = out->rank - 1; i >= 0; i--) {
        int k = i - off;
        if (k < 0 || (s->dims[k] == 1 && out->dims[i] != 1)) {
            st[i] = (Size){0, 0};
        } else {
            st[i] = acc;
            acc = size_mul(acc, size_dim(s->dims[k]));
        }
    }
}

int loop_nest_build(const Shape *out, const Shape *const *ins, int k, LoopNest *ln) {
    assert(k >= 1 && k <= 3);
    Size st[3][IR_MAX_RANK], last[3];
    int first[IR_MAX_RANK], end[IR_MAX_RANK], r = 0;
    for (int j = 0; j < k; j++)
        strides(ins[j], out, st[j]);
    for (int i = 0; i < out->rank; i++) {
        Size dd = size_dim(out->dims[i]);
        if (dd.e == 0 && dd.c == 1) continue;
        int merge = r > 0;
        for (int j = 0; merge && j < k; j++)
            merge = size_eq(last[j], size_mul(st[j][i], dd));
        if (!merge) first[r++] = i;
        end[r - 1] = i + 1;
        for (int j = 0; j < k; j++)
            last[j] = st[j][i];
    }
    if (r > 4) return r;
    for (int g = 0; g < 4; g++) {
        int pad = 4 - r;
        ln->first[g] = g < pad ? 0 : first[g - pad];
        ln->end[g] = g < pad ? 0 : end[g - pad];
    }
    return r;
}

int loop_nest_operand(const LoopNest *ln, int g, const Shape *out, const Shape *in, int *from,
                      int *to) {
    /* Within a group an operand is broadcast along every axis or along
     * none (else the axes would not have merged), and the axes past the
     * group's last non-1 axis have size 1. */
    int off = out->rank - in->rank, a = ln->first[g] - off, b = ln->end[g] - off;
    if (a < 0) a = 0;
    int broadcast = 1;
    for (int i = a; i < b; i++)
        if (in->dims[i] != 1) broadcast = 0;
    if (broadcast) return 0;
    *from = b;
    *to = in->rank;
    return 1;
}
