/* proto_depth.h: how deeply an ONNX file nests, read from its bytes.
 *
 * protobuf-c decodes sub-messages recursively and has no depth limit, so a
 * few hundred kB of subgraphs inside subgraphs (If/Loop/Scan bodies) or of
 * types inside types (sequence of sequence of ...) overflow the stack of
 * onnx__model_proto__unpack(). onnx_proto_depth_check() walks the protobuf
 * wire format of a ModelProto first, following only the fields that can
 * recurse, with its own bounded recursion, and stops as soon as a depth
 * passes KILN_MAX_NESTING (model_limits.h). It allocates nothing and reads each
 * byte at most once.
 */
#ifndef PROTO_DEPTH_H
#define PROTO_DEPTH_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    PROTO_DEPTH_OK,        /* within the limits */
    PROTO_DEPTH_MALFORMED, /* not valid protobuf wire format: protobuf-c would refuse it too */
    PROTO_DEPTH_GRAPHS,    /* subgraphs nested deeper than KILN_MAX_NESTING */
    PROTO_DEPTH_TYPES,     /* types nested deeper than KILN_MAX_NESTING */
} ProtoDepth;

/* Checks the serialized ModelProto buf[0..len). */
ProtoDepth onnx_proto_depth_check(const uint8_t *buf, size_t len);

#endif
