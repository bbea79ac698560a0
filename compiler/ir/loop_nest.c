/* loop_nest.c: how an element-wise kernel call walks its broadcast
 * operands (ir.h, LoopNest). One implementation for codegen, which emits
 * the call, and constant folding, which makes it on the host.
 *
 * Sizes may be symbolic (dim.h): two strides agree if they are the same
 * Dim, which the canonical form makes a plain comparison.
 */
#include <assert.h>

#include "ir.h"

/* Stride of operand s at each axis of out: 0 where s is broadcast. */
static void strides(const Shape *s, const Shape *out, Dim *st) {
    Dim acc = 1;
    int off = out->rank - s->rank;
    for (int i = out->rank - 1; i >= 0; i--) {
        int k = i - off;
        if (k < 0 || (s->dims[k] == 1 && out->dims[i] != 1)) {
            st[i] = 0;
        } else {
            st[i] = acc;
            acc = dim_mul(acc, s->dims[k]);
        }
    }
}

int loop_nest_build(const Shape *out, const Shape *const *ins, int k, LoopNest *ln) {
    assert(k >= 1 && k <= LOOP_NEST_MAX_OPERANDS);
    Dim st[LOOP_NEST_MAX_OPERANDS][IR_MAX_RANK], last[LOOP_NEST_MAX_OPERANDS];
    int first[IR_MAX_RANK], end[IR_MAX_RANK], r = 0;
    for (int j = 0; j < k; j++)
        strides(ins[j], out, st[j]);
    for (int i = 0; i < out->rank; i++) {
        Dim dd = out->dims[i];
        if (dd == 1) continue;
        int merge = r > 0;
        for (int j = 0; merge && j < k; j++)
            merge = last[j] == dim_mul(st[j][i], dd);
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
