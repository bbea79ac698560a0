#include "frontends.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx.pb-c.h"
#include "onnx/tensor_proto.h"

/* --- .npy element types ------------------------------------------------------ */

/* numpy's type codes after the byte-order character (NULL: numpy has no such type). */
static const struct {
    const char *code;
    DType dtype;
} npy_types[] = {
#define KILN_DTYPE(ir, abi, onnx, name, size, onnx_name, v2, triton, npy) {npy, DT_##ir},
#include "../runtime/kiln_dtypes.def"
#undef KILN_DTYPE
};

static DType npy_dtype(const char *code) {
    for (size_t i = 0; i < sizeof npy_types / sizeof *npy_types; i++)
        if (npy_types[i].code && strcmp(npy_types[i].code, code) == 0) return npy_types[i].dtype;
    return DT_UNDEF;
}

static const char *npy_code(DType t) {
    for (size_t i = 0; i < sizeof npy_types / sizeof *npy_types; i++)
        if (npy_types[i].dtype == t) return npy_types[i].code; /* NULL if none */
    return NULL;
}

/* --- .npy header: a Python dict literal ---------------------------------------- */

/* The header holds exactly
 *     {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 * in any key order, with any spacing. The parser accepts that and nothing
 * else; every step checks its bounds, and the text is NUL-terminated. */
typedef struct NpyHeader {
    char descr[16];
    int fortran_order;
    Shape shape;
    int have_descr, have_order, have_shape;
} NpyHeader;

static void skip_space(const char **p) {
    while (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r')
        (*p)++;
}

static int expect(const char **p, char c) {
    skip_space(p);
    if (**p != c) return -1;
    (*p)++;
    return 0;
}

/* A quoted string without escapes, at most cap - 1 bytes. */
static int parse_string(const char **p, char *buf, size_t cap) {
    skip_space(p);
    char q = **p;
    if (q != '\'' && q != '"') return -1;
    const char *s = ++*p;
    const char *end = strchr(s, q);
    if (!end || (size_t)(end - s) >= cap) return -1;
    memcpy(buf, s, (size_t)(end - s));
    buf[end - s] = '\0';
    *p = end + 1;
    return 0;
}

static int parse_bool(const char **p, int *out) {
    skip_space(p);
    if (strncmp(*p, "True", 4) == 0) {
        *p += 4;
        *out = 1;
        return 0;
    }
    if (strncmp(*p, "False", 5) == 0) {
        *p += 5;
        *out = 0;
        return 0;
    }
    return -1;
}

/* "()", "(3,)", "(2, 3)", "(2, 3,)". */
static int parse_shape(const char **p, Shape *s) {
    s->rank = 0;
    if (expect(p, '(') != 0) return -1;
    for (;;) {
        skip_space(p);
        if (**p == ')') break;
        if (s->rank == IR_MAX_RANK) return -1;
        if (**p < '0' || **p > '9') return -1;
        int64_t v = 0;
        for (; **p >= '0' && **p <= '9'; (*p)++) {
            if (v > (INT64_MAX - (**p - '0')) / 10) return -1;
            v = v * 10 + (**p - '0');
        }
        s->dims[s->rank++] = v;
        skip_space(p);
        if (**p == ',')
            (*p)++;
        else if (**p != ')')
            return -1;
    }
    (*p)++;
    return 0;
}

static int parse_header(const char *text, NpyHeader *h) {
    const char *p = text;
    if (expect(&p, '{') != 0) return -1;
    for (;;) {
        skip_space(&p);
        if (*p == '}') break;
        char key[32];
        if (parse_string(&p, key, sizeof key) != 0 || expect(&p, ':') != 0) return -1;
        if (strcmp(key, "descr") == 0 && !h->have_descr) {
            skip_space(&p);
            if (*p == '[') return -2; /* a structured dtype */
            if (parse_string(&p, h->descr, sizeof h->descr) != 0) return -1;
            h->have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0 && !h->have_order) {
            if (parse_bool(&p, &h->fortran_order) != 0) return -1;
            h->have_order = 1;
        } else if (strcmp(key, "shape") == 0 && !h->have_shape) {
            if (parse_shape(&p, &h->shape) != 0) return -1;
            h->have_shape = 1;
        } else {
            return -1; /* unknown or repeated key */
        }
        skip_space(&p);
        if (*p == ',')
            p++;
        else if (*p != '}')
            return -1;
    }
    p++;
    skip_space(&p);
    if (*p) return -1;
    return h->have_descr && h->have_order && h->have_shape ? 0 : -1;
}

/* --- .npy reading ------------------------------------------------------------------ */

enum { NPY_MAX_HEADER = 1 << 16 }; /* numpy itself refuses headers over 10000 bytes by default */

/* --- string tensors (an array of `const char *`, kiln_model.h) -------------------- */

/* Element i of n strings: len[i] bytes at at[i]. A string holding a NUL
 * byte cannot be a C string: refused. Copies into the arena. */
static int strings_make(Arena *a, const char *path, size_t n, const uint8_t *const *at,
                        const size_t *len, const Shape *shape, HostTensor *out, Diag *d) {
    const char **v = arena_alloc_aligned(a, sizeof(char *) * (n + 1), 64);
    for (size_t i = 0; i < n; i++) {
        if (len[i] && memchr(at[i], 0, len[i])) {
            diag_file(d, path, "string %zu holds a NUL byte, which kiln's strings cannot", i);
            return -1;
        }
        char *c = arena_alloc(a, len[i] + 1);
        if (len[i]) memcpy(c, at[i], len[i]);
        c[len[i]] = 0;
        v[i] = c;
    }
    out->name = NULL;
    out->dtype = DT_STRING;
    out->rank = shape->rank;
    memcpy(out->dims, shape->dims, sizeof out->dims);
    out->data = v;
    out->nbytes = n * sizeof(char *);
    return 0;
}

/* Elements of a shape, 0 with *n if no more than max, else -1. */
static int strings_numel(const Shape *s, uint64_t max, uint64_t *n) {
    *n = 1;
    for (int i = 0; i < s->rank; i++) {
        uint64_t dim = (uint64_t)s->dims[i];
        if (dim && *n > max / dim) return -1;
        *n *= dim;
    }
    return 0;
}

/* numpy's fixed-width bytes (|S<w>: np.array([b"a", b"bc"])), each
 * element w bytes, NUL-padded. */
static int npy_strings(Arena *a, const char *path, const NpyHeader *h, const uint8_t *data,
                       uint64_t have, HostTensor *out, Diag *d);

static int npy_parse(Arena *a, const char *path, const uint8_t *buf, size_t len, HostTensor *out,
                     Diag *d) {
    int rc = -1;
    char *text = NULL;
    uint64_t size = len;
    uint8_t pre[12] = {0}; /* magic, version, header length (2 or 4 bytes) */
    if (size) memcpy(pre, buf, size < 12 ? size : 12); /* buf may be NULL when len is 0 */
    if (size < 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        diag_file(d, path, "not a .npy file (no \\x93NUMPY magic)");
        diag_hint(d, "write it with numpy.save()");
        goto out;
    }
    int major = pre[6], minor = pre[7];
    if (major < 1 || major > 3 || minor != 0) {
        diag_file(d, path, ".npy format version %d.%d is not supported (1.0, 2.0, 3.0 are)", major,
                  minor);
        goto out;
    }
    uint64_t hstart = major == 1 ? 10 : 12;
    uint64_t hlen = major == 1 ? (uint64_t)(pre[8] | pre[9] << 8)
                               : (uint64_t)pre[8] | (uint64_t)pre[9] << 8 |
                                     (uint64_t)pre[10] << 16 | (uint64_t)pre[11] << 24;
    if (hstart > size || hlen > NPY_MAX_HEADER || hlen > size - hstart) {
        diag_file(d, path, ".npy header of %llu bytes does not fit the file (%llu bytes)",
                  (unsigned long long)hlen, (unsigned long long)size);
        goto out;
    }
    text = malloc(hlen + 1);
    if (!text) kiln_oom(".npy header");
    memcpy(text, buf + hstart, hlen);
    text[hlen] = '\0';
    NpyHeader h = {0};
    int perr = strlen(text) != hlen ? -1 : parse_header(text, &h);
    if (perr == -2) {
        diag_file(d, path, "structured arrays are not supported");
        diag_hint(d, "save one plain numeric array per file");
        goto out;
    }
    if (perr != 0) {
        diag_file(d, path, "malformed .npy header");
        diag_hint(d, "write the file with numpy.save()");
        goto out;
    }
    if (h.fortran_order) {
        diag_file(d, path, "arrays in Fortran order are not supported");
        diag_hint(d, "save np.ascontiguousarray(arr) instead");
        goto out;
    }
    char order = h.descr[0];
    if ((order == '|' || order == '=') && h.descr[1] == 'S') {
        rc = npy_strings(a, path, &h, buf + hstart + hlen, size - hstart - hlen, out, d);
        goto out;
    }
    DType dt = order ? npy_dtype(h.descr + 1) : DT_UNDEF;
    if (strchr("<>=|", order) == NULL || !dt) {
        diag_file(d, path, "array element type '%s' is not supported", h.descr);
        diag_hint(d, "use a numeric or bool array, e.g. np.save(path, arr.astype(np.float32))%s",
                  strchr(h.descr, 'O') ? "; object arrays cannot be loaded safely" : "");
        goto out;
    }
    /* '=' and '|' mean native order, which is little-endian on every host
     * kiln runs on (tensor_proto.c refuses to build otherwise). */
    size_t esize = dtype_size(dt);
    if (order == '>' && esize > 1) {
        diag_file(d, path, "big-endian arrays ('%s') are not supported", h.descr);
        diag_hint(d, "save arr.astype('<%s') instead", h.descr + 1);
        goto out;
    }
    uint64_t numel = 1;
    for (int i = 0; i < h.shape.rank; i++) {
        uint64_t dim = (uint64_t)h.shape.dims[i];
        if (dim && numel > UINT64_MAX / esize / dim) {
            diag_file(d, path, ".npy shape is too large");
            goto out;
        }
        numel *= dim;
    }
    uint64_t nbytes = numel * esize, have = size - hstart - hlen;
    if (have != nbytes) {
        char sbuf[200];
        diag_file(d, path, "%llu bytes of data for shape %s of %s (%llu bytes)",
                  (unsigned long long)have, shape_str(&h.shape, sbuf, sizeof sbuf),
                  dtype_onnx_name(dt), (unsigned long long)nbytes);
        diag_hint(d, "the file is truncated or was not written by numpy.save()");
        goto out;
    }
    /* nbytes <= the file size, so this allocation is bounded by the input. */
    void *data = arena_alloc_aligned(a, (size_t)nbytes + 1, 64);
    memcpy(data, buf + hstart + hlen, (size_t)nbytes);
    if (dt == DT_BOOL)
        for (size_t i = 0; i < nbytes; i++)
            ((uint8_t *)data)[i] = ((uint8_t *)data)[i] != 0;
    out->name = NULL;
    out->dtype = dt;
    out->rank = h.shape.rank;
    memcpy(out->dims, h.shape.dims, sizeof out->dims);
    out->data = data;
    out->nbytes = (size_t)nbytes;
    rc = 0;
out:
    free(text);
    return rc;
}

static int npy_strings(Arena *a, const char *path, const NpyHeader *h, const uint8_t *data,
                       uint64_t have, HostTensor *out, Diag *d) {
    char *end;
    unsigned long w = strtoul(h->descr + 2, &end, 10);
    uint64_t n;
    if (*end || w == 0 || strings_numel(&h->shape, have / w + 1, &n) != 0 || n * w != have) {
        char sbuf[200];
        diag_file(d, path, "%llu bytes of data for a '%s' array of shape %s",
                  (unsigned long long)have, h->descr, shape_str(&h->shape, sbuf, sizeof sbuf));
        diag_hint(d, "the file is truncated or was not written by numpy.save()");
        return -1;
    }
    const uint8_t **at = calloc((size_t)n + 1, sizeof *at);
    size_t *len = calloc((size_t)n + 1, sizeof *len);
    if (!at || !len) kiln_oom(".npy strings");
    for (uint64_t i = 0; i < n; i++) {
        at[i] = data + i * w;
        const uint8_t *z = memchr(at[i], 0, w);
        len[i] = z ? (size_t)(z - at[i]) : w;
    }
    int rc = strings_make(a, path, (size_t)n, at, len, &h->shape, out, d);
    free(at);
    free(len);
    return rc;
}

/* --- .pb (TensorProto) reading ---------------------------------------------------- */

/* A TensorProto of strings (string_data). */
static int pb_strings(Arena *a, const char *path, const Onnx__TensorProto *t, HostTensor *out,
                      Diag *d) {
    Shape shape = {.rank = (int)t->n_dims};
    uint64_t n;
    if (t->n_dims > IR_MAX_RANK) {
        diag_file(d, path, "rank %zu is above kiln's limit of %d", t->n_dims, IR_MAX_RANK);
        return -1;
    }
    for (size_t i = 0; i < t->n_dims; i++) {
        if (t->dims[i] < 0) {
            diag_file(d, path, "dim %zu is %lld; dims must be >= 0", i, (long long)t->dims[i]);
            return -1;
        }
        shape.dims[i] = t->dims[i];
    }
    if (strings_numel(&shape, t->n_string_data, &n) != 0 || n != t->n_string_data) {
        char sbuf[200];
        diag_file(d, path, "%zu strings for shape %s", t->n_string_data,
                  shape_str(&shape, sbuf, sizeof sbuf));
        return -1;
    }
    const uint8_t **at = calloc((size_t)n + 1, sizeof *at);
    size_t *len = calloc((size_t)n + 1, sizeof *len);
    if (!at || !len) kiln_oom(".pb strings");
    for (uint64_t i = 0; i < n; i++) {
        at[i] = t->string_data[i].data;
        len[i] = t->string_data[i].len;
    }
    int rc = strings_make(a, path, (size_t)n, at, len, &shape, out, d);
    free(at);
    free(len);
    return rc;
}

static int pb_parse(Arena *a, const char *path, const uint8_t *buf, size_t len, HostTensor *out,
                    Diag *d) {
    int rc = -1;
    Onnx__TensorProto *t = NULL;
    t = onnx__tensor_proto__unpack(NULL, len, buf);
    if (!t || !t->has_data_type) {
        diag_file(d, path, "not a valid ONNX TensorProto (%s)",
                  t ? "it has no data type" : "protobuf decode failed");
        diag_hint(d, "write it with onnx.numpy_helper.from_array(arr).SerializeToString()");
        goto out;
    }
    const char *name = t->name && *t->name ? arena_strdup(a, t->name) : NULL;
    if (t->data_type == DT_STRING) {
        rc = pb_strings(a, path, t, out, d);
        out->name = name;
        goto out;
    }
    const char *what = name ? arena_printf(a, "tensor '%s'", name) : "tensor";
    OnnxTensor ot;
    if (onnx_tensor_decode(a, t, path, what, &ot, d) != 0) goto out;
    out->name = name;
    out->dtype = ot.dtype;
    out->rank = ot.shape.rank;
    memcpy(out->dims, ot.shape.dims, sizeof out->dims);
    out->data = ot.data;
    out->nbytes = ot.nbytes;
    rc = 0;
out:
    if (t) onnx__tensor_proto__free_unpacked(t, NULL);
    return rc;
}

static int has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int known_suffix(const char *path, Diag *d) {
    if (has_suffix(path, ".npy") || has_suffix(path, ".pb")) return 0;
    diag_file(d, path, "unknown tensor file type");
    diag_hint(d, "use a .npy file (numpy.save) or a .pb file (a serialized ONNX TensorProto)");
    return -1;
}

int tensor_parse(Arena *a, const char *path, const uint8_t *buf, size_t len, HostTensor *out,
                 Diag *d) {
    if (known_suffix(path, d) != 0) return -1;
    if (has_suffix(path, ".npy")) return npy_parse(a, path, buf, len, out, d);
    return pb_parse(a, path, buf, len, out, d);
}

int tensor_read(Arena *a, const char *path, HostTensor *out, Diag *d) {
    if (known_suffix(path, d) != 0) return -1;
    size_t len = 0;
    uint8_t *buf = file_read(path, &len, d);
    if (!buf) return -1;
    int rc = tensor_parse(a, path, buf, len, out, d);
    free(buf);
    return rc;
}

/* --- .npy writing ------------------------------------------------------------------ */

/* t's bytes under a .npy header of dtype descr order+code ("<f4", "|S7"). */
static int npy_write(const char *path, const HostTensor *t, char order, const char *code, Diag *d) {
    /* Header as numpy writes it: dict, spaces, '\n', the whole preamble a
     * multiple of 64 bytes so the data is aligned for memory mapping. */
    char dims[IR_MAX_RANK * 22 + 4] = "", header[512];
    size_t o = 0;
    for (int i = 0; i < t->rank; i++)
        o += (size_t)snprintf(dims + o, sizeof dims - o, "%s%lld", i ? ", " : "",
                              (long long)t->dims[i]);
    if (t->rank == 1) snprintf(dims + o, sizeof dims - o, ",");
    int n =
        snprintf(header + 10, sizeof header - 10,
                 "{'descr': '%c%s', 'fortran_order': False, 'shape': (%s), }", order, code, dims);
    size_t total = (10 + (size_t)n + 1 + 63) / 64 * 64;
    assert(total <= sizeof header && total - 10 <= 0xffff);
    memset(header + 10 + n, ' ', total - 10 - (size_t)n - 1);
    header[total - 1] = '\n';
    memcpy(header, "\x93NUMPY\x01\x00", 8);
    header[8] = (char)((total - 10) & 0xff);
    header[9] = (char)((total - 10) >> 8);

    FILE *f = fopen(path, "wb");
    if (!f) {
        diag_env(d, "cannot write '%s': %s", path, strerror(errno));
        return -1;
    }
    int ok = fwrite(header, 1, total, f) == total;
    if (ok && t->nbytes) ok = fwrite(t->data, 1, t->nbytes, f) == t->nbytes;
    int err = errno;
    if (fclose(f) != 0 && ok) {
        ok = 0;
        err = errno;
    }
    if (!ok) {
        diag_env(d, "cannot write '%s': %s", path, strerror(err));
        return -1;
    }
    return 0;
}

/* A string tensor (an array of `const char *`, kiln_model.h) as numpy's
 * fixed-width bytes, |S<longest>: np.load gives an array of bytes. */
static int write_npy_strings(const char *path, const HostTensor *t, Diag *d) {
    size_t numel = t->nbytes / sizeof(const char *), width = 1;
    const char *const *s = t->data;
    for (size_t i = 0; i < numel; i++)
        if (strlen(s[i]) > width) width = strlen(s[i]);
    char *buf = numel && width > SIZE_MAX / numel ? NULL : calloc(numel ? numel : 1, width);
    if (!buf) {
        diag_env(d, "out of memory writing '%s'", path);
        return -1;
    }
    for (size_t i = 0; i < numel; i++)
        memcpy(buf + i * width, s[i], strlen(s[i]));
    char code[32];
    snprintf(code, sizeof code, "S%zu", width);
    HostTensor b = *t;
    b.dtype = DT_U8; /* one byte per character: written as is, with descr code */
    b.data = buf;
    b.nbytes = numel * width;
    int rc = npy_write(path, &b, '|', code, d);
    free(buf);
    return rc;
}

int tensor_write_npy(const char *path, const HostTensor *t, Diag *d) {
    if (t->dtype == DT_STRING) return write_npy_strings(path, t, d);
    /* numpy has no bfloat16: its bit patterns are written as uint16. */
    const char *code = t->dtype == DT_BF16 ? "u2" : npy_code(t->dtype);
    if (!code) {
        diag_file(d, path, "cannot write a tensor of %s as .npy: numpy has no such type",
                  dtype_onnx_name(t->dtype));
        diag_hint(d, "write it as .pb (an ONNX TensorProto) instead");
        return -1;
    }
    assert(t->rank >= 0 && t->rank <= IR_MAX_RANK);
    size_t numel = 1;
    for (int i = 0; i < t->rank; i++) {
        assert(t->dims[i] >= 0);
        numel *= (size_t)t->dims[i];
    }
    assert(numel * dtype_size(t->dtype) == t->nbytes);
    (void)numel;
    return npy_write(path, t, dtype_size(t->dtype) == 1 ? '|' : '<', code, d);
}
