/* model_limits.h: every limit kiln puts on the models it reads, in one place.
 *
 * A model is untrusted input: it may be crafted so that a size wraps, a
 * recursion runs out of stack or an allocation asks for terabytes. kiln
 * therefore refuses, with exit 1 and a message naming the file, the node or
 * tensor, the limit and what to do, anything beyond the limits below. They
 * sit far above what real models use (the largest public ONNX models have
 * ~10^5 nodes, names of a few hundred bytes and no subgraphs nested more
 * than 3 deep), so no real model meets them; each comment says why the
 * value is what it is.
 *
 * Where each is checked: the nesting depths by onnx_load() on the raw
 * bytes, before protobuf decoding (frontends/onnx/proto_depth.c); counts,
 * names, attributes and tensor sizes by the importer and by
 * onnx_tensor_decode(); the byte size of every value by the shape pass
 * (shapes_node() checks every output a shape function sets).
 */
#ifndef MODEL_LIMITS_H
#define MODEL_LIMITS_H

#include <stdint.h>

/* Dimensions per tensor. Shape holds them inline (ir.h), and the kernel ABI
 * passes at most this many. */
#define IR_MAX_RANK 8

/* Subgraphs inside subgraphs (If/Loop/Scan bodies, GRAPH and GRAPHS
 * attributes), and types inside types (a sequence of a map of ...).
 * protobuf-c decodes recursively without a limit of its own, so a deeper
 * file would overflow the stack; 32 levels cost a few kB of stack. */
#define KILN_MAX_NESTING 32

/* NodeProtos in the graph, and initializers. Node and value indices are
 * ints, and a million nodes is ten times the largest exported model. */
#define KILN_MAX_NODES (1 << 20)
#define KILN_MAX_INITIALIZERS (1 << 20)

/* Inputs or outputs of one node. Known ops take at most 1024 (Sum, Max);
 * the bound keeps edge counts of the node sort within an int. */
#define KILN_MAX_NODE_IO 4096

/* One dimension. Codegen and the kernels may index a dim with 32 bits. */
#define KILN_MAX_DIM INT64_C(0x7fffffff)

/* Bytes of one tensor for one batch item (the batch dim counted as 1, any
 * zero dim ignored so that strides stay small too). 2 GiB: protobuf cannot
 * hold a larger initializer inline, x86-64's default code model cannot
 * address a larger constant in the service binary, and with every value
 * below it, sums and products over a graph's values fit int64 easily. */
#define KILN_MAX_TENSOR_BYTES (INT64_C(1) << 31)

/* Bytes of one tensor with its symbolic dims at their upper bounds, and
 * of the whole workspace so. The memory of a real request is bounded by
 * the service (it answers 400 when one needs more); these keep every size
 * and offset the compiled model computes at run time from its (checked)
 * input dims far from int64 overflow, so the generated code needs no
 * overflow checks of its own. */
#define KILN_MAX_DYN_BYTES (INT64_C(1) << 48)
#define KILN_MAX_DYN_WORKSPACE_BYTES (INT64_C(1) << 60)

/* Working memory of the whole model (the memory plan's fixed region, and
 * its per-item region): with every tensor below KILN_MAX_TENSOR_BYTES,
 * this keeps every offset of the plan, and codegen's address arithmetic,
 * far from int64 overflow. 1 TiB is more than any machine serves from. */
#define KILN_MAX_WORKSPACE_BYTES (INT64_C(1) << 40)

/* Output size of one axis of a Resize or Upsample: the compiler
 * precomputes 64 bytes of interpolation taps per output position (1 GiB of
 * compile-time memory at this limit; images are a few thousand wide). */
#define KILN_MAX_RESIZE_DIM (1 << 24)

/* Bytes of all the tensors of one model together (initializers, Constant
 * nodes, tensor attributes), as decoded into memory. External data lets
 * many tensors name one region of one file; this bounds what a small
 * model can make kiln allocate. kiln embeds the weights into the service
 * binary, where more than a few GiB is impractical anyway. */
#define KILN_MAX_MODEL_TENSOR_BYTES (INT64_C(1) << 34)

/* Elements of one list attribute (ints, floats, strings). Attr.n is an
 * int. Most ops' lists (pads, perm, scales) have a few dozen; a tree
 * ensemble's node lists have one element per node: 10,000 trees of depth
 * 8 have 5 million. Every element takes at least a byte of the file, so
 * memory stays proportional to the file's size. Constant's
 * value_floats/value_ints are tensors and fall under KILN_MAX_TENSOR_BYTES
 * instead. */
#define KILN_MAX_ATTR_ELEMS (1 << 24)

/* Bytes of a name (node, tensor, attribute, graph) and of one string
 * attribute. Names are printed in every diagnostic and embedded in the
 * service's metadata. */
#define KILN_MAX_NAME_LEN 4096
#define KILN_MAX_STRING_LEN (1 << 16)

#endif
