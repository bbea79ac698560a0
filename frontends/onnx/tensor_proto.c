#include "tensor_proto.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* raw_data and external data are little-endian; we copy them as they are. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "kiln's ONNX frontend assumes a little-endian host"
#endif

/* --- element types -------------------------------------------------------- */

/* The ONNX data types kiln can hold: those with a fixed element size. */
static DType dtype_from_onnx(int32_t t) {
    return t > 0 && dtype_size((DType)t) ? (DType)t : DT_UNDEF;
}

static const char *onnx_type_name(int32_t t) {
    switch (t) {
    case 0:
        return "undefined";
    case 8:
        return "string";
    case 14:
        return "complex64";
    case 15:
        return "complex128";
    default:
        return dtype_from_onnx(t) ? dtype_onnx_name((DType)t) : "unknown";
    }
}

/* --- external data ---------------------------------------------------------- */

/* Strict unsigned decimal: digits only, no sign, no overflow. */
static int parse_u64(const char *s, uint64_t *out) {
    uint64_t v = 0;
    if (!s || !*s) return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return -1;
        if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10) return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

/* 1 if the relative path has a ".." component. */
static int has_dotdot(const char *p) {
    while (*p) {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.') return 1;
        p += n;
        while (*p == '/')
            p++;
    }
    return 0;
}

/* 1 if `path` (canonical) is `dir` (canonical) or lies below it. */
static int path_is_inside(const char *path, const char *dir) {
    size_t n = strlen(dir);
    if (strcmp(dir, "/") == 0) return 1;
    return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* Reads `want` bytes of external data for t into *dst, allocated from a
 * only once location, offset and length are checked against the real file,
 * so that a lying declaration is a diagnostic, never a huge allocation. */
static int external_read(Arena *a, const Onnx__TensorProto *t, const char *file, const char *what,
                         size_t want, const char *shape_desc, void **dst, Diag *d) {
    const char *location = NULL, *offset_s = NULL, *length_s = NULL;
    for (size_t i = 0; i < t->n_external_data; i++) {
        const Onnx__StringStringEntryProto *e = t->external_data[i];
        if (!e->key) continue;
        if (strcmp(e->key, "location") == 0) location = e->value;
        if (strcmp(e->key, "offset") == 0) offset_s = e->value;
        if (strcmp(e->key, "length") == 0) length_s = e->value;
    }
    uint64_t offset = 0, length = 0;
    if (!location || !*location) {
        diag_file(d, file, "%s: external data has no location", what);
        return -1;
    }
    if (location[0] == '/' || has_dotdot(location)) {
        diag_file(d, file, "%s: external data location '%s' points outside the model's directory",
                  what, location);
        diag_hint(d, "external data must be a relative path inside the model's directory, "
                     "without '..'; re-save the model with onnx.save(..., location=\"x.bin\")");
        return -1;
    }
    if ((offset_s && parse_u64(offset_s, &offset) != 0) ||
        (length_s && parse_u64(length_s, &length) != 0)) {
        diag_file(d, file, "%s: external data offset '%s' or length '%s' is not a number", what,
                  offset_s ? offset_s : "", length_s ? length_s : "");
        return -1;
    }

    int rc = -1, fd = -1;
    char *dir = strdup(file), *full = NULL, *real_dir = NULL, *real_full = NULL;
    if (!dir) goto oom;
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        strcpy(dir, ".");
    size_t n = strlen(dir) + strlen(location) + 2;
    if (!(full = malloc(n))) goto oom;
    snprintf(full, n, "%s/%s", dir, location);

    /* Canonicalise both and compare, so that a symlink in the model
     * directory cannot lead outside it. */
    real_dir = realpath(dir, NULL);
    real_full = realpath(full, NULL);
    if (!real_dir || !real_full) {
        diag_file(d, file, "%s: cannot open external data '%s': %s", what, location,
                  strerror(errno));
        diag_hint(d, "keep the external data file next to the .onnx file");
        goto out;
    }
    if (!path_is_inside(real_full, real_dir)) {
        diag_file(d, file,
                  "%s: external data location '%s' is a symlink that leads outside the "
                  "model's directory",
                  what, location);
        diag_hint(d, "copy the data file into the model's directory instead of linking it");
        goto out;
    }
    uint64_t size = 0;
    const char *why = NULL;
    fd = file_open_regular(real_full, O_NOFOLLOW, &size, &why);
    if (fd < 0) {
        diag_file(d, file, "%s: cannot open external data '%s': %s", what, location, why);
        goto out;
    }
    if (offset > size) {
        diag_file(d, file, "%s: external data offset %llu is past the end of '%s' (%llu bytes)",
                  what, (unsigned long long)offset, location, (unsigned long long)size);
        goto out;
    }
    if (!length_s) length = size - offset;
    if (length != want) {
        diag_file(d, file, "%s: %llu bytes of external data in '%s' for %s (%zu bytes)", what,
                  (unsigned long long)length, location, shape_desc, want);
        diag_hint(d, "the data file or the tensor's declared shape is corrupt; re-export the "
                     "model");
        goto out;
    }
    if (length > size - offset) {
        diag_file(d, file,
                  "%s: external data '%s' is too short: wanted %llu bytes at offset %llu, the "
                  "file has %llu",
                  what, location, (unsigned long long)length, (unsigned long long)offset,
                  (unsigned long long)size);
        diag_hint(d, "the data file is truncated or belongs to another model");
        goto out;
    }
    *dst = arena_alloc_aligned(a, want ? want : 1, 64);
    if (file_read_at(fd, *dst, want, offset) != 0) {
        diag_file(d, file, "%s: cannot read external data '%s': %s", what, location,
                  strerror(errno));
        goto out;
    }
    rc = 0;
    goto out;
oom:
    kiln_oom("external data path");
out:
    if (fd >= 0) close(fd);
    free(dir);
    free(full);
    free(real_dir);
    free(real_full);
    return rc;
}

/* --- typed fields --------------------------------------------------------- */

/* Copies n typed values into dst as elements of `size` bytes. int32_data
 * carries the bits of every type narrower than 32 bits (float16 and
 * bfloat16 as uint16 bit patterns); uint64_data carries uint32 too. */
static void typed_copy(DType t, const Onnx__TensorProto *p, void *dst, size_t n) {
    switch (t) {
    case DT_F32:
        memcpy(dst, p->float_data, n * 4);
        break;
    case DT_F64:
        memcpy(dst, p->double_data, n * 8);
        break;
    case DT_I32:
        memcpy(dst, p->int32_data, n * 4);
        break;
    case DT_I64:
        memcpy(dst, p->int64_data, n * 8);
        break;
    case DT_U64:
        memcpy(dst, p->uint64_data, n * 8);
        break;
    case DT_U32:
        for (size_t i = 0; i < n; i++)
            ((uint32_t *)dst)[i] = (uint32_t)p->uint64_data[i];
        break;
    case DT_BOOL:
        for (size_t i = 0; i < n; i++)
            ((uint8_t *)dst)[i] = p->int32_data[i] != 0;
        break;
    case DT_I8:
    case DT_U8:
        for (size_t i = 0; i < n; i++)
            ((uint8_t *)dst)[i] = (uint8_t)p->int32_data[i];
        break;
    case DT_I16:
    case DT_U16:
    case DT_F16:
    case DT_BF16:
        for (size_t i = 0; i < n; i++)
            ((uint16_t *)dst)[i] = (uint16_t)p->int32_data[i];
        break;
    default:
        break;
    }
}

/* How many values the typed field for t holds, and its name. */
static size_t typed_count(DType t, const Onnx__TensorProto *p, const char **field) {
    switch (t) {
    case DT_F32:
        *field = "float_data";
        return p->n_float_data;
    case DT_F64:
        *field = "double_data";
        return p->n_double_data;
    case DT_I64:
        *field = "int64_data";
        return p->n_int64_data;
    case DT_U32:
    case DT_U64:
        *field = "uint64_data";
        return p->n_uint64_data;
    default:
        *field = "int32_data";
        return p->n_int32_data;
    }
}

/* --- decoding -------------------------------------------------------------- */

int onnx_tensor_decode(Arena *a, const Onnx__TensorProto *t, const char *file, const char *what,
                       OnnxTensor *out, Diag *d) {
    DType dt = dtype_from_onnx(t->data_type);
    if (!dt) {
        diag_file(d, file, "%s: data type %s (%d) is not supported", what,
                  onnx_type_name(t->data_type), (int)t->data_type);
        diag_hint(d, "kiln supports numeric and bool tensors; strings and complex numbers "
                     "must stay outside the model");
        return -1;
    }
    if (t->n_dims > IR_MAX_RANK) {
        diag_file(d, file, "%s: rank %zu is above kiln's limit of %d", what, t->n_dims,
                  IR_MAX_RANK);
        return -1;
    }
    if (t->segment) {
        diag_file(d, file, "%s: is a segment of a larger tensor, which kiln does not support",
                  what);
        return -1;
    }
    Shape shape = {.rank = (int)t->n_dims};
    size_t esize = dtype_size(dt);
    for (size_t i = 0; i < t->n_dims; i++) {
        int64_t dim = t->dims[i];
        if (dim < 0) {
            diag_file(d, file, "%s: dim %zu is %lld; initializer dims must be >= 0", what, i,
                      (long long)dim);
            return -1;
        }
        shape.dims[i] = dim;
    }
    char sbuf[200], desc[240];
    shape_str(&shape, sbuf, sizeof sbuf);
    snprintf(desc, sizeof desc, "shape %s of %s", sbuf, dtype_onnx_name(dt));
    /* Bounds every size below (and every stride of the tensor later):
     * numel and nbytes are at most KILN_MAX_TENSOR_BYTES, so nothing wraps. */
    int64_t bytes = 0;
    if (shape_bytes_check(&shape, dt, &bytes)) {
        diag_file(d, file,
                  "%s: %s is above kiln's limits (dims up to %lld, at most %lld bytes per tensor)",
                  what, desc, (long long)KILN_MAX_DIM, (long long)KILN_MAX_TENSOR_BYTES);
        diag_hint(d, "the tensor's dims are corrupt, or it is too large for kiln to embed");
        return -1;
    }
    size_t nbytes = (size_t)bytes, numel = nbytes / esize;

    /* Every check on the source's size comes before the allocation, so a
     * hostile shape cannot make us allocate more than the data present. */
    void *data = NULL;
    int external =
        t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    if (external) {
        if (external_read(a, t, file, what, nbytes, desc, &data, d) != 0) return -1;
    } else if (t->has_raw_data) {
        if (t->raw_data.len != nbytes) {
            diag_file(d, file, "%s: %zu bytes of data for %s (%zu bytes)", what, t->raw_data.len,
                      desc, nbytes);
            diag_hint(d, "the model file is corrupt; re-export it");
            return -1;
        }
        data = arena_alloc_aligned(a, nbytes ? nbytes : 1, 64);
        if (nbytes) memcpy(data, t->raw_data.data, nbytes);
    } else {
        const char *field;
        size_t n = typed_count(dt, t, &field);
        if (n != numel) {
            if (n == 0)
                diag_file(d, file, "%s: no data for %s", what, desc);
            else
                diag_file(d, file, "%s: %zu values in %s for %s (%zu values)", what, n, field, desc,
                          numel);
            diag_hint(d, "the model file is corrupt; re-export it");
            return -1;
        }
        data = arena_alloc_aligned(a, nbytes ? nbytes : 1, 64);
        if (numel) typed_copy(dt, t, data, numel);
    }
    /* Raw and external bytes of a bool tensor may hold any value; the
     * kernels (Where, Not, And...) read 0 or 1, as numpy's bool does. */
    if (dt == DT_BOOL)
        for (size_t i = 0; i < nbytes; i++)
            ((uint8_t *)data)[i] = ((uint8_t *)data)[i] != 0;
    out->dtype = dt;
    out->shape = shape;
    out->data = data;
    out->nbytes = nbytes;
    return 0;
}
