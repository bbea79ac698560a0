#include <string.h>

#include "ir.h"

static const OpInfo op_table[OP_COUNT] = {
#define OP(e, name, since, imin, imax, omin, omax, st, flags, shape, flops, emit, kernel)          \
    [OP_##e] = {name, since, imin, imax, omin, omax, st, flags},
#include "ops.def"
#undef OP
};

static const OpInfo op_unknown = {"?", 0, 0, 1 << 20, 0, 1 << 20, 0, 0};

const OpInfo *op_info(OpKind op) {
    return op < OP_COUNT ? &op_table[op] : &op_unknown;
}

OpKind op_lookup(const char *onnx_name) {
    for (int i = 0; i < OP_COUNT; i++)
        if (strcmp(op_table[i].name, onnx_name) == 0) return (OpKind)i;
    return OP_UNKNOWN;
}
