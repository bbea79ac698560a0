/* model_format.c: which importer reads a model file (frontends.h). */
#include "frontends.h"

/* A JSON model starts with '{' after optional whitespace ('[' is taken as
 * JSON too, to be refused as "not an object"). An ONNX ModelProto never
 * does: '{' (0x7b) and '[' (0x5b) would be fields 15 and 11 as groups, and
 * the JSON whitespace bytes are tags ModelProto does not use with that
 * wire type, which protobuf decoding refuses anyway. */
ModelFormat model_format_detect(const uint8_t *buf, size_t len) {
    size_t i = 0;
    while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\n' || buf[i] == '\r'))
        i++;
    return i < len && (buf[i] == '{' || buf[i] == '[') ? MODEL_XGBOOST_JSON : MODEL_ONNX;
}

int model_load(Arena *a, const char *path, const uint8_t *buf, size_t len,
               const OnnxShapeFlags *flags, Graph **out, Diag *d) {
    if (model_format_detect(buf, len) == MODEL_XGBOOST_JSON)
        return xgb_load(a, path, buf, len, flags, out, d);
    return onnx_load(a, path, buf, len, flags, out, d);
}
