/* ops.c: the op table, expanded from ops.def (see its header comment). */
#include <string.h>

#include "ir.h"
#include "kiln_kernel_abi.h"

// clang-format off
#define UN(k)                  {KERNEL_UNARY, KILN_UN_##k, NULL, 0, NULL, 0}
#define UN_A(k, an, a)         {KERNEL_UNARY, KILN_UN_##k, an, a, NULL, 0}
#define UN_AB(k, an, a, bn, b) {KERNEL_UNARY, KILN_UN_##k, an, a, bn, b}
#define BIN(k)                 {KERNEL_BINARY, KILN_BIN_##k, NULL, 0, NULL, 0}
#define NONE                   {KERNEL_NONE, -1, NULL, 0, NULL, 0}
static const OpInfo op_table[OP_COUNT] = {
#define OP(e, name, since, imin, imax, omin, omax, st, flags, shape, flops, emit, kernel) \
    [OP_##e] = {name, OP_DOMAIN, since, OP_UNTIL, imin, imax, omin, omax, st, flags, kernel},
#include "ops.def"
#undef OP
};
#undef UN
#undef UN_A
#undef UN_AB
#undef BIN
#undef NONE

/* ops.def and the kernels' unary table agree: every KILN_UN_ op is the
 * kernel op of exactly one row (as many UN rows as ops, and each op used). */
#define OP(e, name, since, imin, imax, omin, omax, st, flags, shape, flops, emit, kernel) kernel
#define BIN(k)
#define NONE
#define UN(k)                  + 1
#define UN_A(k, an, a)         UN(k)
#define UN_AB(k, an, a, bn, b) UN(k)
enum {
    UNARY_ROWS = 0
#include "ops.def"
};
#undef UN
#define UN(k) | 1ull << KILN_UN_##k
_Static_assert(KILN_UN_COUNT < 64, "the check below keeps one bit per unary op");
_Static_assert((int)UNARY_ROWS == (int)KILN_UN_COUNT &&
               (0ull
#include "ops.def"
               ) == (1ull << KILN_UN_COUNT) - 1,
               "each KILN_UN_ op (runtime/kiln_kernel_abi.h) needs exactly one UN row in ops.def");
#undef OP
#undef UN
#undef UN_A
#undef UN_AB
#undef BIN
#undef NONE
// clang-format on

static const OpInfo op_unknown = {
    "?", "", 0, 0, 0, 1 << 20, 0, 1 << 20, 0, 0, {KERNEL_NONE, -1, NULL, 0, NULL, 0}};

const OpInfo *op_info(OpKind op) {
    return op < OP_COUNT ? &op_table[op] : &op_unknown;
}

OpKind op_lookup_domain(const char *domain, const char *onnx_name) {
    if (!domain || strcmp(domain, "ai.onnx") == 0) domain = "";
    for (int i = 0; i < OP_COUNT; i++)
        if (strcmp(op_table[i].name, onnx_name) == 0 && strcmp(op_table[i].domain, domain) == 0)
            return (OpKind)i;
    return OP_UNKNOWN;
}

OpKind op_lookup(const char *onnx_name) {
    return op_lookup_domain("", onnx_name);
}
