/* proto_depth.c: a bounded walk over the protobuf wire format of a
 * ModelProto, counting how deeply graphs and types nest (proto_depth.h). */
#include "proto_depth.h"

#include "model_limits.h"

/* The messages of onnx.proto that can (indirectly) contain themselves, and
 * the fields leading from one to the next; every other field is skipped
 * unread. */
typedef enum {
    MSG_MODEL,
    MSG_FUNCTION,
    MSG_TRAINING,
    MSG_GRAPH,
    MSG_NODE,
    MSG_ATTR,
    MSG_VALUE_INFO,
    MSG_TYPE,
    MSG_TYPE_SEQUENCE,
    MSG_TYPE_MAP,
    MSG_TYPE_OPTIONAL,
} Msg;

/*    message      field  sub-message (field numbers from onnx/onnx.proto) */
static const struct {
    Msg from;
    uint32_t field;
    Msg to;
} edges[] = {
    {MSG_MODEL, 7, MSG_GRAPH},        /* graph */
    {MSG_MODEL, 20, MSG_TRAINING},    /* training_info */
    {MSG_MODEL, 25, MSG_FUNCTION},    /* functions */
    {MSG_TRAINING, 1, MSG_GRAPH},     /* initialization */
    {MSG_TRAINING, 2, MSG_GRAPH},     /* algorithm */
    {MSG_FUNCTION, 7, MSG_NODE},      /* node */
    {MSG_GRAPH, 1, MSG_NODE},         /* node */
    {MSG_GRAPH, 11, MSG_VALUE_INFO},  /* input */
    {MSG_GRAPH, 12, MSG_VALUE_INFO},  /* output */
    {MSG_GRAPH, 13, MSG_VALUE_INFO},  /* value_info */
    {MSG_NODE, 5, MSG_ATTR},          /* attribute */
    {MSG_ATTR, 6, MSG_GRAPH},         /* g */
    {MSG_ATTR, 11, MSG_GRAPH},        /* graphs */
    {MSG_ATTR, 14, MSG_TYPE},         /* tp */
    {MSG_ATTR, 15, MSG_TYPE},         /* type_protos */
    {MSG_VALUE_INFO, 2, MSG_TYPE},    /* type */
    {MSG_TYPE, 4, MSG_TYPE_SEQUENCE}, /* sequence_type */
    {MSG_TYPE, 5, MSG_TYPE_MAP},      /* map_type */
    {MSG_TYPE, 9, MSG_TYPE_OPTIONAL}, /* optional_type */
    {MSG_TYPE_SEQUENCE, 1, MSG_TYPE}, /* elem_type */
    {MSG_TYPE_MAP, 2, MSG_TYPE},      /* value_type */
    {MSG_TYPE_OPTIONAL, 1, MSG_TYPE}, /* elem_type */
};

/* The sub-message type of field `field` of `m`, or -1 if it is not one we follow. */
static int edge_to(Msg m, uint32_t field) {
    for (size_t i = 0; i < sizeof edges / sizeof *edges; i++)
        if (edges[i].from == m && edges[i].field == field) return (int)edges[i].to;
    return -1;
}

/* A varint at *p (at most 10 bytes, before end); -1 if malformed. */
static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (*p >= end) return -1;
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* Walks message m in [p, end). graphs and types are the depths so far. The
 * recursion is at most about 5 * KILN_MAX_NESTING frames deep: each frame
 * enters a graph or a type, or is one of the few messages between two. */
static ProtoDepth walk(Msg m, const uint8_t *p, const uint8_t *end, int graphs, int types) {
    if (m == MSG_GRAPH && ++graphs > KILN_MAX_NESTING) return PROTO_DEPTH_GRAPHS;
    if (m == MSG_TYPE && ++types > KILN_MAX_NESTING) return PROTO_DEPTH_TYPES;
    while (p < end) {
        uint64_t tag, n;
        if (read_varint(&p, end, &tag) != 0) return PROTO_DEPTH_MALFORMED;
        uint32_t field = (uint32_t)(tag >> 3);
        if (field == 0 || tag >> 32) return PROTO_DEPTH_MALFORMED;
        switch (tag & 7) {
        case 0: /* varint */
            if (read_varint(&p, end, &n) != 0) return PROTO_DEPTH_MALFORMED;
            break;
        case 1: /* 64-bit */
            if (end - p < 8) return PROTO_DEPTH_MALFORMED;
            p += 8;
            break;
        case 5: /* 32-bit */
            if (end - p < 4) return PROTO_DEPTH_MALFORMED;
            p += 4;
            break;
        case 2: { /* length-delimited: bytes, a string, a packed list or a message */
            if (read_varint(&p, end, &n) != 0 || n > (uint64_t)(end - p))
                return PROTO_DEPTH_MALFORMED;
            int to = edge_to(m, field);
            if (to >= 0) {
                ProtoDepth r = walk((Msg)to, p, p + n, graphs, types);
                if (r != PROTO_DEPTH_OK) return r;
            }
            p += n;
            break;
        }
        default: /* groups (3, 4) and 6, 7: protobuf-c refuses them too */
            return PROTO_DEPTH_MALFORMED;
        }
    }
    return PROTO_DEPTH_OK;
}

ProtoDepth onnx_proto_depth_check(const uint8_t *buf, size_t len) {
    return walk(MSG_MODEL, buf, buf + len, 0, 0);
}
