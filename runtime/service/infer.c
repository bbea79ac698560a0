/* infer.c: a v2 JSON inference request, from text to text (infer.h).
 *
 * The path is a straight line: parse, feed each input (check name,
 * datatype, shape against the model's fixed dims, bounds and symbols, then
 * the data's structure and count, and only then allocate and convert),
 * let the model check the shapes and compute the output shapes, pick the
 * outputs, allocate outputs and workspace, run, write. Every step fails into the caller's err
 * buffer and returns a status; request_free() releases whatever was acquired.
 */
#include "infer.h"

#include <assert.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "meta.h"

#define ALIGN 64 /* what kiln_model.h promises the generated code */

/* One request in flight; request_free() releases everything it holds. */
typedef struct Request {
    const KilnModel *m;    /* passed rt_meta_check() */
    KilnThreadPool *pool;  /* lent to run(); NULL: the calling thread only */
    json_t *root;          /* the parsed body; strings below point into it */
    const char *id;        /* the request's "id", NULL if absent */
    int64_t *sym_val;      /* n_syms: each symbol's value, once an input set it */
    int *sym_in, *sym_dim; /* the input (-1: none yet) and dim that set it, for messages */
    int64_t **in_shape;    /* n_inputs shapes, from the request */
    int64_t **out_shape;   /* n_outputs shapes, from the model's shapes() */
    void **in;             /* n_inputs buffers, NULL until fed */
    void **out;            /* n_outputs buffers */
    size_t *out_numel;     /* elements in each output */
    int *sel;              /* outputs to return, in response order */
    int n_sel;             /* length of sel */
    int *sel_binary;       /* sel[s] is sent as raw bytes after the JSON */
    int binary_ok;         /* the caller can send binary outputs */
    const char *bin;       /* binary input bytes after the JSON header */
    size_t bin_len;        /* bytes at bin */
    size_t bin_used;       /* bytes of bin taken by inputs so far */
    void *ws;              /* the workspace */
    size_t json_len;       /* bytes of JSON at the start of the response */
    uint64_t run_ns;       /* time spent in run() */
    char *err;             /* the caller's RT_ERR_LEN bytes */
} Request;

/* One input of the request being converted. */
typedef struct Feed {
    const KilnTensorInfo *t;
    const int64_t *shape; /* the request's shape, already checked */
    int nested;           /* data nests arrays to the shape's depth */
    size_t numel;         /* product of shape */
    void *dst;            /* the input's buffer */
    size_t i;             /* next element to store */
} Feed;

static int fail(Request *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(Request *r, int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, RT_ERR_LEN, fmt, ap);
    va_end(ap);
    return status;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A 64-byte aligned buffer of at least n bytes (at least 64, so that a
 * zero-sized tensor still gets a valid pointer). NULL if out of memory. */
static void *buffer_alloc(size_t n) {
    if (n > SIZE_MAX - ALIGN) return NULL;
    size_t size = n ? (n + ALIGN - 1) / ALIGN * ALIGN : ALIGN;
    return aligned_alloc(ALIGN, size);
}

/* The product of a shape into *out. -1 if a dim is negative or the
 * product does not fit in size_t. */
static int shape_numel(const int64_t *shape, int rank, size_t *out) {
    size_t n = 1;
    for (int d = 0; d < rank; d++) {
        int64_t dim = shape[d];
        if (dim < 0 || (uint64_t)dim > SIZE_MAX || __builtin_mul_overflow(n, (size_t)dim, &n))
            return -1;
    }
    *out = n;
    return 0;
}

/* "batch = 2, seq = 7": the symbols' values in this request, for messages
 * about sizes; "the model's fixed sizes" for a model without symbols. */
static char *sizes_format(char *out, size_t n, const Request *r) {
    const KilnModel *m = r->m;
    size_t len = 0;
    snprintf(out, n, "the model's fixed sizes");
    for (int i = 0; i < m->n_syms && len < n; i++) {
        int k = snprintf(out + len, n - len, "%s%s = %lld", i ? ", " : "", m->syms[i].name,
                         (long long)r->sym_val[i]);
        if (k < 0) break;
        len += (size_t)k;
    }
    return out;
}

/* "a, b, c": the names of a tensor table, for "expected one of" messages. */
static char *names_format(char *out, size_t n, const KilnTensorInfo *t, int count) {
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < count && len < n; i++) {
        int k = snprintf(out + len, n - len, "%s%s", i ? ", " : "", t[i].name);
        if (k < 0) break;
        len += (size_t)k;
    }
    if (count == 0) snprintf(out, n, "(none)");
    return out;
}

/* How a JSON value looks in a message: "a string", "null", "2.5", ... */
static char *json_describe(char *out, size_t n, const json_t *v) {
    static const char *const kinds[] = {
        [JSON_OBJECT] = "an object", [JSON_ARRAY] = "an array", [JSON_STRING] = "a string",
        [JSON_TRUE] = "true",        [JSON_FALSE] = "false",    [JSON_NULL] = "null",
    };
    if (json_is_integer(v)) {
        snprintf(out, n, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) { /* the shortest text that reads back as the same double */
        for (int digits = 1; digits <= 17; digits++) {
            snprintf(out, n, "%.*g", digits, json_real_value(v));
            if (strtod(out, NULL) == json_real_value(v)) break;
        }
    } else {
        snprintf(out, n, "%s", kinds[json_typeof(v)]);
    }
    return out;
}

/* "[1][0]": the indices idx[0..depth) of a place in nested data. */
static char *path_format(char *out, size_t n, const size_t *idx, int depth) {
    size_t len = 0;
    out[0] = '\0';
    for (int d = 0; d < depth && len < n; d++) {
        int k = snprintf(out + len, n - len, "[%zu]", idx[d]);
        if (k < 0) break;
        len += (size_t)k;
    }
    return out;
}

/* Where element i of an input sits in its "data": "[7]" for flat data,
 * "[2][1]" for nested data. */
static char *where_format(char *out, size_t n, const Feed *f) {
    size_t i = f->i;
    int rank = f->nested ? f->t->rank : 1;
    size_t idx[64];
    if (rank > 64) rank = 1; /* such deep nesting is checked elsewhere; keep the message simple */
    if (rank == 1 || !f->nested) {
        idx[0] = i;
        rank = 1;
    } else {
        for (int d = rank - 1; d >= 0; d--) {
            size_t dim = (size_t)f->shape[d];
            idx[d] = dim ? i % dim : 0;
            i = dim ? i / dim : 0;
        }
    }
    return path_format(out, n, idx, rank);
}

/* --- converting values --------------------------------------------------- */

/* IEEE binary16 from binary32, rounding to nearest even (F. Giesen's
 * float_to_half_fast3_rtne). */
static uint16_t half_from_float(float f) {
    const uint32_t f32_inf = 255u << 23, f16_max = (127u + 16u) << 23;
    const uint32_t denorm_magic = ((127u - 15u) + (23u - 10u) + 1u) << 23;
    uint32_t u;
    uint16_t o;
    memcpy(&u, &f, 4);
    uint32_t sign = u & 0x80000000u;
    u ^= sign;
    if (u >= f16_max) {
        o = u > f32_inf ? 0x7e00 : 0x7c00; /* NaN stays NaN, the rest is infinity */
    } else if (u < (113u << 23)) {         /* becomes a subnormal or zero */
        float fu, magic;
        memcpy(&fu, &u, 4);
        memcpy(&magic, &denorm_magic, 4);
        fu += magic;
        memcpy(&u, &fu, 4);
        o = (uint16_t)(u - denorm_magic);
    } else {
        uint32_t mant_odd = (u >> 13) & 1;
        u += ((uint32_t)(15 - 127) << 23) + 0xfff;
        u += mant_odd;
        o = (uint16_t)(u >> 13);
    }
    return (uint16_t)(o | (sign >> 16));
}

static float half_to_float(uint16_t h) {
    int exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    float f;
    if (exp == 0)
        f = ldexpf((float)mant, -24);
    else if (exp == 31)
        f = mant ? NAN : INFINITY;
    else
        f = ldexpf((float)(mant | 0x400), exp - 25);
    return (h & 0x8000) ? -f : f;
}

static const struct {
    int dtype;    /* an integer KILN_DT_* */
    long long lo; /* smallest value it holds */
    long long hi; /* largest value; UINT64 stops at 2^63 - 1: jansson's integers are signed */
} int_ranges[] = {
    {KILN_DT_INT8, INT8_MIN, INT8_MAX},    {KILN_DT_UINT8, 0, UINT8_MAX},
    {KILN_DT_INT16, INT16_MIN, INT16_MAX}, {KILN_DT_UINT16, 0, UINT16_MAX},
    {KILN_DT_INT32, INT32_MIN, INT32_MAX}, {KILN_DT_UINT32, 0, UINT32_MAX},
    {KILN_DT_INT64, INT64_MIN, INT64_MAX}, {KILN_DT_UINT64, 0, INT64_MAX},
};

static int int_range(int dtype, long long *lo, long long *hi) {
    for (size_t k = 0; k < sizeof int_ranges / sizeof int_ranges[0]; k++) {
        if (int_ranges[k].dtype == dtype) {
            *lo = int_ranges[k].lo;
            *hi = int_ranges[k].hi;
            return 0;
        }
    }
    return -1;
}

static int value_type_error(Request *r, const Feed *f, const json_t *v, const char *expected) {
    char where[64], what[40], shape[96];
    if (json_is_array(v))
        return fail(r, RT_STATUS_BAD_REQUEST,
                    "input '%s': data%s is an array; send a flat array of %zu values or "
                    "arrays nested to match shape %s",
                    f->t->name, where_format(where, sizeof where, f), f->numel,
                    rt_shape_format(shape, sizeof shape, f->shape, f->t->rank));
    return fail(r, RT_STATUS_BAD_REQUEST, "input '%s': data%s is %s, expected %s (%s)", f->t->name,
                where_format(where, sizeof where, f), json_describe(what, sizeof what, v), expected,
                rt_dtype_name(f->t->dtype));
}

static int value_range_error(Request *r, const Feed *f, const json_t *v, const char *range) {
    char where[64], what[40];
    return fail(r, RT_STATUS_BAD_REQUEST, "input '%s': data%s is %s, out of range for %s%s",
                f->t->name, where_format(where, sizeof where, f),
                json_describe(what, sizeof what, v), rt_dtype_name(f->t->dtype), range);
}

/* Stores v as element f->i of the input and advances f->i. */
static int value_store(Request *r, Feed *f, const json_t *v) {
    size_t i = f->i;
    assert(f->dst && i < f->numel); /* nested_check counted the values */
    int dtype = f->t->dtype;
    if (dtype == KILN_DT_STRING) {
        /* BYTES: the element points into the request's JSON, which lives
         * until the response is written (request_free). Its strings hold no
         * NUL: json_loadb refuses \u0000 without JSON_ALLOW_NUL. */
        if (!json_is_string(v)) return value_type_error(r, f, v, "a string");
        ((const char **)f->dst)[i] = json_string_value(v);
    } else if (dtype == KILN_DT_FLOAT || dtype == KILN_DT_DOUBLE || dtype == KILN_DT_FLOAT16) {
        if (!json_is_number(v)) return value_type_error(r, f, v, "a number");
        double d = json_number_value(v);
        if (dtype == KILN_DT_DOUBLE) {
            ((double *)f->dst)[i] = d;
        } else if (dtype == KILN_DT_FLOAT) {
            /* Halfway between FLT_MAX and the next power of two rounds to infinity. */
            if (fabs(d) >= 0x1.ffffffp127) return value_range_error(r, f, v, "");
            ((float *)f->dst)[i] = (float)d;
        } else {
            if (fabs(d) >= 65520.0) return value_range_error(r, f, v, " [-65504, 65504]");
            ((uint16_t *)f->dst)[i] = half_from_float((float)d);
        }
    } else if (dtype == KILN_DT_BOOL) {
        if (!json_is_boolean(v)) return value_type_error(r, f, v, "true or false");
        ((uint8_t *)f->dst)[i] = json_is_true(v);
    } else {
        long long lo, hi, x;
        if (int_range(dtype, &lo, &hi) != 0)
            return fail(r, RT_STATUS_INTERNAL_ERROR, "input '%s': dtype %d is not supported",
                        f->t->name, dtype);
        if (!json_is_integer(v)) return value_type_error(r, f, v, "an integer");
        x = json_integer_value(v);
        if (x < lo || x > hi) {
            char range[64];
            snprintf(range, sizeof range, " [%lld, %lld]", lo, hi);
            return value_range_error(r, f, v, range);
        }
        switch (dtype) {
        case KILN_DT_INT8:
            ((int8_t *)f->dst)[i] = (int8_t)x;
            break;
        case KILN_DT_UINT8:
            ((uint8_t *)f->dst)[i] = (uint8_t)x;
            break;
        case KILN_DT_INT16:
            ((int16_t *)f->dst)[i] = (int16_t)x;
            break;
        case KILN_DT_UINT16:
            ((uint16_t *)f->dst)[i] = (uint16_t)x;
            break;
        case KILN_DT_INT32:
            ((int32_t *)f->dst)[i] = (int32_t)x;
            break;
        case KILN_DT_UINT32:
            ((uint32_t *)f->dst)[i] = (uint32_t)x;
            break;
        case KILN_DT_INT64:
            ((int64_t *)f->dst)[i] = (int64_t)x;
            break;
        case KILN_DT_UINT64:
            ((uint64_t *)f->dst)[i] = (uint64_t)x;
            break;
        }
    }
    f->i++;
    return RT_STATUS_OK;
}

/* --- checking and feeding one input --------------------------------------- */

/* Checks that nested data matches the shape from `level` down: an array
 * of exactly shape[level] items at every level above the rank, and no
 * array at the rank. Allocates nothing; recursion is at most rank deep,
 * and messages are formatted only on failure, as this visits every value. */
static int nested_check(Request *r, const Feed *f, const json_t *node, int level, size_t *idx) {
    const KilnTensorInfo *t = f->t;
    char path[256], shape[96];
    if (!json_is_array(node))
        return fail(r, RT_STATUS_BAD_REQUEST,
                    "input '%s': data%s is not an array; nested data must follow shape %s", t->name,
                    path_format(path, sizeof path, idx, level),
                    rt_shape_format(shape, sizeof shape, f->shape, t->rank));
    size_t n = json_array_size(node);
    if ((uint64_t)f->shape[level] != n)
        return fail(r, RT_STATUS_BAD_REQUEST,
                    "input '%s': data%s has %zu items, expected %lld (shape %s)", t->name,
                    path_format(path, sizeof path, idx, level), n, (long long)f->shape[level],
                    rt_shape_format(shape, sizeof shape, f->shape, t->rank));
    for (size_t k = 0; k < n; k++) {
        const json_t *child = json_array_get(node, k);
        idx[level] = k;
        if (level + 1 < t->rank) {
            int st = nested_check(r, f, child, level + 1, idx);
            if (st != RT_STATUS_OK) return st;
        } else if (json_is_array(child)) {
            return fail(r, RT_STATUS_BAD_REQUEST,
                        "input '%s': data%s is nested deeper than the input's rank %d (shape %s)",
                        t->name, path_format(path, sizeof path, idx, level + 1), t->rank,
                        rt_shape_format(shape, sizeof shape, f->shape, t->rank));
        }
    }
    return RT_STATUS_OK;
}

static int nested_store(Request *r, Feed *f, const json_t *node, int level) {
    if (level == f->t->rank) return value_store(r, f, node);
    for (size_t k = 0; k < json_array_size(node); k++) {
        int st = nested_store(r, f, json_array_get(node, k), level + 1);
        if (st != RT_STATUS_OK) return st;
    }
    return RT_STATUS_OK;
}

/* The name of input k's dim d in messages: its symbol, else its text. */
static const char *dim_label(const KilnModel *m, const KilnTensorInfo *t, int d) {
    if (t->sym[d] >= 0) return m->syms[t->sym[d]].name;
    return t->dims && t->dims[d] ? t->dims[d] : "dynamic";
}

/* Checks "shape" against the model's shape of input k and fills shape[]:
 * the rank, each fixed dim, each dynamic dim's bounds, and each symbol
 * against the value an earlier input (or dim) gave it. What the model
 * derives from the dims (an output size that must be positive) is left
 * to its shapes(). */
static int shape_check(Request *r, int k, const json_t *jshape, int64_t *shape) {
    const KilnModel *m = r->m;
    const KilnTensorInfo *t = &m->inputs[k];
    char want[160];
    rt_dims_format(want, sizeof want, t);
    if (!json_is_array(jshape))
        return fail(r, RT_STATUS_BAD_REQUEST,
                    "input '%s': \"shape\" must be an array of %d dims like %s", t->name, t->rank,
                    want);
    size_t rank = json_array_size(jshape);
    if (rank != (size_t)t->rank)
        return fail(r, RT_STATUS_BAD_REQUEST,
                    "input '%s': shape has rank %zu, expected rank %d (model shape %s)", t->name,
                    rank, t->rank, want);
    for (int d = 0; d < t->rank; d++) {
        const json_t *jd = json_array_get(jshape, (size_t)d);
        if (!json_is_integer(jd) || json_integer_value(jd) < 0)
            return fail(r, RT_STATUS_BAD_REQUEST,
                        "input '%s': shape[%d] must be a non-negative integer (model shape %s)",
                        t->name, d, want);
        shape[d] = json_integer_value(jd);
    }
    for (int d = 0; d < t->rank; d++) {
        long long v = (long long)shape[d];
        if (t->shape[d] != -1) {
            if (shape[d] != t->shape[d])
                return fail(r, RT_STATUS_BAD_REQUEST,
                            "input '%s' dim %d is %lld, the model expects %lld", t->name, d, v,
                            (long long)t->shape[d]);
            continue;
        }
        const char *label = dim_label(m, t, d);
        if (shape[d] < t->min[d] || shape[d] > t->max[d])
            return fail(r, RT_STATUS_BAD_REQUEST,
                        "input '%s' dim %d (%s) is %lld, outside the model's range [%lld, %lld]",
                        t->name, d, label, v, (long long)t->min[d], (long long)t->max[d]);
        int s = t->sym[d];
        if (s < 0) continue;
        if (r->sym_in[s] >= 0 && r->sym_val[s] != shape[d])
            return fail(r, RT_STATUS_BAD_REQUEST,
                        "input '%s' dim %d (%s) is %lld, but input '%s' dim %d gives %s = %lld",
                        t->name, d, label, v, m->inputs[r->sym_in[s]].name, r->sym_dim[s], label,
                        (long long)r->sym_val[s]);
        if (r->sym_in[s] >= 0) continue; /* messages name the first input that set it */
        r->sym_val[s] = shape[d];
        r->sym_in[s] = k;
        r->sym_dim[s] = d;
    }
    return RT_STATUS_OK;
}

/* Feeds input k from the binary section: the next binary_data_size bytes,
 * which must be exactly the tensor's size and present in the body. */
static int binary_feed(Request *r, int k, Feed *f, const json_t *bsize, const json_t *data,
                       const char *got_shape) {
    const KilnTensorInfo *t = f->t;
    size_t elem = kiln_dtype_size(t->dtype);
    if (!json_is_integer(bsize) || json_integer_value(bsize) < 0)
        return fail(r, RT_STATUS_BAD_REQUEST,
                    "input '%s': \"binary_data_size\" must be a non-negative integer", t->name);
    if (data)
        return fail(r, RT_STATUS_BAD_REQUEST,
                    "input '%s': has both \"data\" and \"binary_data_size\"; send one", t->name);
    if (t->dtype == KILN_DT_STRING)
        return fail(r, RT_STATUS_BAD_REQUEST,
                    "input '%s': BYTES inputs are read from JSON only; send \"data\" as an "
                    "array of strings",
                    t->name);
    uint64_t size = (uint64_t)json_integer_value(bsize);
    if (f->numel > RT_TENSOR_MAX_BYTES / elem || size != f->numel * elem)
        return fail(r, RT_STATUS_BAD_REQUEST,
                    "input '%s': binary_data_size %llu, expected %zu bytes (%zu %s values for "
                    "shape %s)",
                    t->name, (unsigned long long)size, f->numel * elem, f->numel,
                    rt_dtype_name(t->dtype), got_shape);
    size_t left = r->bin_len - r->bin_used;
    if (size > left)
        return fail(r, RT_STATUS_BAD_REQUEST,
                    "input '%s': binary_data_size %llu, but only %zu bytes of binary data are "
                    "left in the body",
                    t->name, (unsigned long long)size, left);
    /* Sized by the bytes actually received, which the check above proves. */
    f->dst = r->in[k] = buffer_alloc((size_t)size);
    if (!f->dst)
        return fail(r, RT_STATUS_INTERNAL_ERROR, "out of memory for input '%s' (%llu bytes)",
                    t->name, (unsigned long long)size);
    memcpy(f->dst, r->bin + r->bin_used, (size_t)size);
    r->bin_used += (size_t)size;
    assert(r->bin_used <= r->bin_len);
    if (t->dtype == KILN_DT_BOOL) { /* any non-zero byte is true, as in numpy */
        uint8_t *b = f->dst;
        for (size_t i = 0; i < f->numel; i++)
            b[i] = b[i] != 0;
    }
    return RT_STATUS_OK;
}

/* Feeds the request input `obj` (inputs[pos] of the request). */
static int input_feed(Request *r, size_t pos, const json_t *obj) {
    const KilnModel *m = r->m;
    if (!json_is_object(obj))
        return fail(r, RT_STATUS_BAD_REQUEST,
                    "inputs[%zu] must be an object with \"name\", \"shape\", \"datatype\" and "
                    "\"data\"",
                    pos);
    const char *name = json_string_value(json_object_get(obj, "name"));
    if (!name) return fail(r, RT_STATUS_BAD_REQUEST, "inputs[%zu] has no \"name\" string", pos);
    int k = 0;
    while (k < m->n_inputs && strcmp(m->inputs[k].name, name) != 0)
        k++;
    if (k == m->n_inputs) {
        char names[256];
        return fail(r, RT_STATUS_BAD_REQUEST, "unknown input '%s'; the model's inputs are: %s",
                    name, names_format(names, sizeof names, m->inputs, m->n_inputs));
    }
    if (r->in[k]) return fail(r, RT_STATUS_BAD_REQUEST, "duplicate input '%s'", name);

    const KilnTensorInfo *t = &m->inputs[k];
    const char *want = rt_dtype_name(t->dtype);
    const char *dt = json_string_value(json_object_get(obj, "datatype"));
    if (!dt)
        return fail(r, RT_STATUS_BAD_REQUEST, "input '%s': no \"datatype\" string, expected \"%s\"",
                    name, want);
    if (strcmp(dt, want) != 0)
        return fail(r, RT_STATUS_BAD_REQUEST, "input '%s': datatype %s, expected %s", name, dt,
                    want);
    const json_t *params = json_object_get(obj, "parameters");
    if (params && !json_is_object(params))
        return fail(r, RT_STATUS_BAD_REQUEST, "input '%s': \"parameters\" must be an object", name);

    /* Kept until the request ends: shapes(), workspace_size() and run() read it. */
    int64_t *shape = r->in_shape[k] = malloc(sizeof *shape * ((size_t)t->rank + 1));
    if (!shape) return fail(r, RT_STATUS_INTERNAL_ERROR, "out of memory");
    Feed f = {.t = t, .shape = shape};
    char got_shape[96];
    int st = shape_check(r, k, json_object_get(obj, "shape"), shape);
    if (st != RT_STATUS_OK) return st;
    rt_shape_format(got_shape, sizeof got_shape, shape, t->rank);
    if (shape_numel(shape, t->rank, &f.numel) != 0)
        return fail(r, RT_STATUS_BAD_REQUEST, "input '%s': shape %s has too many elements", name,
                    got_shape);

    const json_t *bsize = json_object_get(params, "binary_data_size");
    if (bsize) return binary_feed(r, k, &f, bsize, json_object_get(obj, "data"), got_shape);

    /* Count what the JSON holds before allocating anything sized by the shape. */
    const json_t *data = json_object_get(obj, "data");
    if (!json_is_array(data))
        return fail(r, RT_STATUS_BAD_REQUEST,
                    "input '%s': \"data\" must be an array of %zu values (shape %s)", name, f.numel,
                    got_shape);
    f.nested = t->rank > 1 && json_array_size(data) > 0 && json_is_array(json_array_get(data, 0));
    if (f.nested) {
        size_t *idx = calloc((size_t)t->rank + 1, sizeof *idx);
        if (!idx) return fail(r, RT_STATUS_INTERNAL_ERROR, "out of memory");
        st = nested_check(r, &f, data, 0, idx);
        free(idx);
        if (st != RT_STATUS_OK) return st;
    } else if (json_array_size(data) != f.numel) {
        return fail(r, RT_STATUS_BAD_REQUEST,
                    "input '%s': expected %zu values for shape %s, got %zu", name, f.numel,
                    got_shape, json_array_size(data));
    }
    size_t elem = kiln_dtype_size(t->dtype);
    if (f.numel > RT_TENSOR_MAX_BYTES / elem)
        return fail(r, RT_STATUS_BAD_REQUEST,
                    "input '%s': shape %s is %zu values of %s, over the %zu MiB limit of a tensor",
                    name, got_shape, f.numel, want, RT_TENSOR_MAX_BYTES >> 20);
    f.dst = r->in[k] = buffer_alloc(f.numel * elem);
    if (!f.dst)
        return fail(r, RT_STATUS_INTERNAL_ERROR, "out of memory for input '%s' (%zu bytes)", name,
                    f.numel * elem);
    if (f.nested) {
        st = nested_store(r, &f, data, 0);
    } else {
        for (size_t i = 0; i < f.numel && st == RT_STATUS_OK; i++)
            st = value_store(r, &f, json_array_get(data, i));
    }
    assert(st != RT_STATUS_OK || f.i == f.numel); /* every element written */
    return st;
}

/* --- outputs, run, response ------------------------------------------------- */

/* Whether an output is sent as binary: its "binary_data" parameter, else
 * the request's "binary_data_output", else no. */
static int binary_wanted(Request *r, const char *name, const json_t *params, int dflt, int *out) {
    const json_t *b = json_object_get(params, "binary_data");
    if (params && !json_is_object(params))
        return fail(r, RT_STATUS_BAD_REQUEST, "output '%s': \"parameters\" must be an object",
                    name);
    if (b && !json_is_boolean(b))
        return fail(r, RT_STATUS_BAD_REQUEST, "output '%s': \"binary_data\" must be true or false",
                    name);
    *out = b ? json_is_true(b) : dflt;
    if (*out && !r->binary_ok)
        return fail(r, RT_STATUS_BAD_REQUEST,
                    "output '%s': binary_data needs the HTTP binary tensor extension; this "
                    "command writes JSON only",
                    name);
    return RT_STATUS_OK;
}

static int outputs_select(Request *r, const json_t *want) {
    const KilnModel *m = r->m;
    const json_t *dflt =
        json_object_get(json_object_get(r->root, "parameters"), "binary_data_output");
    if (dflt && !json_is_boolean(dflt))
        return fail(r, RT_STATUS_BAD_REQUEST,
                    "\"parameters\": \"binary_data_output\" must be true or false");
    int all_binary = json_is_true(dflt);
    if (want && !json_is_array(want))
        return fail(r, RT_STATUS_BAD_REQUEST,
                    "\"outputs\" must be an array of {\"name\": ...} objects");
    if (json_array_size(want) == 0) {
        for (int k = 0; k < m->n_outputs; k++) {
            int st =
                binary_wanted(r, m->outputs[k].name, NULL, all_binary, &r->sel_binary[r->n_sel]);
            if (st != RT_STATUS_OK) return st;
            r->sel[r->n_sel++] = k;
        }
        return RT_STATUS_OK;
    }
    if (json_array_size(want) > (size_t)m->n_outputs)
        return fail(r, RT_STATUS_BAD_REQUEST, "\"outputs\" asks for %zu outputs, the model has %d",
                    json_array_size(want), m->n_outputs);
    for (size_t i = 0; i < json_array_size(want); i++) {
        const json_t *o = json_array_get(want, i);
        const char *name = json_string_value(json_object_get(o, "name"));
        if (!json_is_object(o) || !name)
            return fail(r, RT_STATUS_BAD_REQUEST, "outputs[%zu] must be an object with a \"name\"",
                        i);
        int k = 0;
        while (k < m->n_outputs && strcmp(m->outputs[k].name, name) != 0)
            k++;
        if (k == m->n_outputs) {
            char names[256];
            return fail(r, RT_STATUS_BAD_REQUEST,
                        "unknown output '%s'; the model's outputs are: %s", name,
                        names_format(names, sizeof names, m->outputs, m->n_outputs));
        }
        for (int j = 0; j < r->n_sel; j++)
            if (r->sel[j] == k)
                return fail(r, RT_STATUS_BAD_REQUEST, "output '%s' is requested twice", name);
        int st = binary_wanted(r, name, json_object_get(o, "parameters"), all_binary,
                               &r->sel_binary[r->n_sel]);
        if (st != RT_STATUS_OK) return st;
        r->sel[r->n_sel++] = k;
    }
    return RT_STATUS_OK;
}

/* The message for shapes() or run() having returned rc, into r's err: 400
 * if rc is a check site (the request's fault), else 500. e is what the
 * check found; it is read only for a check site. */
static int model_fail(Request *r, int rc, const KilnRunError *e) {
    static const KilnRunError none;
    char msg[RT_ERR_LEN];
    int site = rc >= 1 && rc <= r->m->n_checks;
    int input = kiln_run_error_format(r->m, rc, site ? e : &none, msg, sizeof msg);
    return fail(r, input ? RT_STATUS_BAD_REQUEST : RT_STATUS_INTERNAL_ERROR, "%s", msg);
}

/* Lets the model check the input shapes (what it derives from them) and
 * compute the output shapes into r->out_shape. */
static int shapes_compute(Request *r) {
    const KilnModel *m = r->m;
    for (int k = 0; k < m->n_outputs; k++) {
        r->out_shape[k] = calloc((size_t)m->outputs[k].rank + 1, sizeof *r->out_shape[k]);
        if (!r->out_shape[k]) return fail(r, RT_STATUS_INTERNAL_ERROR, "out of memory");
    }
    KilnRunError e = {0};
    int rc = m->shapes((const int64_t *const *)r->in_shape, r->out_shape, &e);
    if (rc != 0) return model_fail(r, rc, &e);
    for (int k = 0; k < m->n_outputs; k++) /* the model's promise, checked: a dim is a size */
        for (int d = 0; d < m->outputs[k].rank; d++)
            if (r->out_shape[k][d] < 0)
                return fail(r, RT_STATUS_INTERNAL_ERROR,
                            "model '%s' computed dim %d of output '%s' as %lld (a bug in the "
                            "model)",
                            m->name, d, m->outputs[k].name, (long long)r->out_shape[k][d]);
    return RT_STATUS_OK;
}

/* Allocates outputs of the computed shapes and the workspace, and runs
 * the model. */
static int model_run(Request *r) {
    const KilnModel *m = r->m;
    const int64_t *const *in_shapes = (const int64_t *const *)r->in_shape;
    char sizes[256];
    for (int k = 0; k < m->n_outputs; k++) {
        const KilnTensorInfo *t = &m->outputs[k];
        size_t elem = kiln_dtype_size(t->dtype), n;
        if (shape_numel(r->out_shape[k], t->rank, &n) != 0 || n > RT_TENSOR_MAX_BYTES / elem) {
            char shape[96];
            return fail(r, RT_STATUS_BAD_REQUEST,
                        "output '%s' would have shape %s, over the %zu MiB limit of a tensor; "
                        "send smaller inputs",
                        t->name, rt_shape_format(shape, sizeof shape, r->out_shape[k], t->rank),
                        RT_TENSOR_MAX_BYTES >> 20);
        }
        r->out_numel[k] = n;
        r->out[k] = buffer_alloc(n * elem);
        if (!r->out[k])
            return fail(r, RT_STATUS_INTERNAL_ERROR, "out of memory for output '%s' (%zu bytes)",
                        t->name, n * elem);
    }
    size_t ws = m->workspace_size(in_shapes);
    if (ws == SIZE_MAX) /* kiln_model.h: the size does not fit */
        return fail(r, RT_STATUS_BAD_REQUEST,
                    "at %s the model needs more working memory than fits in memory; send smaller "
                    "inputs",
                    sizes_format(sizes, sizeof sizes, r));
    if (ws > RT_WORKSPACE_MAX_BYTES)
        return fail(r, RT_STATUS_BAD_REQUEST,
                    "at %s the model needs %zu MiB of working memory, over the %zu MiB limit of "
                    "a request; send smaller inputs",
                    sizes_format(sizes, sizeof sizes, r), (ws >> 20) + 1,
                    RT_WORKSPACE_MAX_BYTES >> 20);
    r->ws = buffer_alloc(ws);
    if (!r->ws)
        return fail(r, RT_STATUS_INTERNAL_ERROR,
                    "out of memory for the workspace (%zu bytes at %s)", ws,
                    sizes_format(sizes, sizeof sizes, r));
    for (int k = 0; k < m->n_inputs; k++)
        assert(r->in[k]); /* input_feed fed every input */
    uint64_t t0 = now_ns();
    int rc = m->run((const void *const *)r->in, in_shapes, r->out, r->out_shape, r->ws, r->pool);
    r->run_ns = now_ns() - t0;
    if (rc != 0) { /* a failed check is the request's fault; anything else is a bug */
        int site = rc >= 1 && rc <= m->n_checks;
        return model_fail(r, rc, site ? kiln_run_error(m, r->ws, in_shapes) : NULL);
    }
    /* run() wrote the actual shapes: an output sized by the data (NonZero)
     * is at most what shapes() gave, which its buffer holds. */
    for (int k = 0; k < m->n_outputs; k++) {
        size_t n;
        if (shape_numel(r->out_shape[k], m->outputs[k].rank, &n) != 0 || n > r->out_numel[k])
            return fail(r, RT_STATUS_INTERNAL_ERROR,
                        "model '%s' wrote output '%s' larger than it planned (a bug in the model)",
                        m->name, m->outputs[k].name);
        r->out_numel[k] = n;
    }
    return RT_STATUS_OK;
}

/* Writes n elements of dtype as JSON numbers (or true/false) separated by
 * commas. Returns how many were NaN or infinite and written as null. */
static size_t data_write(RtBuf *b, int dtype, const void *p, size_t n) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (i) rt_buf_putc(b, ',');
        switch (dtype) {
        case KILN_DT_FLOAT:
            bad += (size_t)rt_buf_put_float(b, ((const float *)p)[i], 9);
            break;
        case KILN_DT_DOUBLE:
            bad += (size_t)rt_buf_put_float(b, ((const double *)p)[i], 17);
            break;
        case KILN_DT_FLOAT16:
            bad += (size_t)rt_buf_put_float(b, half_to_float(((const uint16_t *)p)[i]), 5);
            break;
        case KILN_DT_BOOL:
            rt_buf_puts(b, ((const uint8_t *)p)[i] ? "true" : "false");
            break;
        case KILN_DT_INT8:
            rt_buf_put_i64(b, ((const int8_t *)p)[i]);
            break;
        case KILN_DT_UINT8:
            rt_buf_put_u64(b, ((const uint8_t *)p)[i]);
            break;
        case KILN_DT_INT16:
            rt_buf_put_i64(b, ((const int16_t *)p)[i]);
            break;
        case KILN_DT_UINT16:
            rt_buf_put_u64(b, ((const uint16_t *)p)[i]);
            break;
        case KILN_DT_INT32:
            rt_buf_put_i64(b, ((const int32_t *)p)[i]);
            break;
        case KILN_DT_UINT32:
            rt_buf_put_u64(b, ((const uint32_t *)p)[i]);
            break;
        case KILN_DT_INT64:
            rt_buf_put_i64(b, ((const int64_t *)p)[i]);
            break;
        case KILN_DT_UINT64:
            rt_buf_put_u64(b, ((const uint64_t *)p)[i]);
            break;
        }
        if (b->oom) break;
    }
    return bad;
}

/* String outputs (BYTES; kiln_model.h: an array of `const char *`): JSON
 * strings, or in the binary extension each element as a 4-byte
 * little-endian length and its bytes. bytes_size() is the latter's size. */
static void strings_write(RtBuf *b, const void *p, size_t n) {
    const char *const *s = p;
    for (size_t i = 0; i < n && !b->oom; i++) {
        if (i) rt_buf_putc(b, ',');
        rt_buf_put_json_string(b, s[i]);
    }
}

static size_t bytes_size(const void *p, size_t n) {
    const char *const *s = p;
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += 4 + strlen(s[i]);
    return total;
}

static void bytes_put(RtBuf *b, const void *p, size_t n) {
    const char *const *s = p;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(s[i]);
        unsigned char le[4] = {(unsigned char)l, (unsigned char)(l >> 8), (unsigned char)(l >> 16),
                               (unsigned char)(l >> 24)};
        rt_buf_put(b, le, 4);
        rt_buf_put(b, s[i], l);
    }
}

static int response_write(Request *r, char **text, size_t *len) {
    const KilnModel *m = r->m;
    RtBuf b;
    rt_buf_init(&b);
    rt_buf_puts(&b, "{\"model_name\":");
    rt_buf_put_json_string(&b, m->name);
    rt_buf_puts(&b, ",\"model_version\":");
    rt_buf_put_json_string(&b, m->version);
    if (r->id) {
        rt_buf_puts(&b, ",\"id\":");
        rt_buf_put_json_string(&b, r->id);
    }
    rt_buf_puts(&b, ",\"outputs\":[");
    for (int s = 0; s < r->n_sel; s++) {
        int k = r->sel[s];
        const KilnTensorInfo *t = &m->outputs[k];
        rt_buf_puts(&b, s ? ",{\"name\":" : "{\"name\":");
        rt_buf_put_json_string(&b, t->name);
        rt_buf_puts(&b, ",\"datatype\":");
        rt_buf_put_json_string(&b, rt_dtype_name(t->dtype));
        rt_buf_puts(&b, ",\"shape\":[");
        for (int d = 0; d < t->rank; d++) {
            if (d) rt_buf_putc(&b, ',');
            rt_buf_put_i64(&b, r->out_shape[k][d]);
        }
        if (r->sel_binary[s]) {
            rt_buf_puts(&b, "],\"parameters\":{\"binary_data_size\":");
            rt_buf_put_u64(&b, t->dtype == KILN_DT_STRING
                                   ? bytes_size(r->out[k], r->out_numel[k])
                                   : r->out_numel[k] * kiln_dtype_size(t->dtype));
            rt_buf_puts(&b, "}}");
            continue;
        }
        rt_buf_puts(&b, "],\"data\":[");
        size_t bad = 0;
        if (t->dtype == KILN_DT_STRING)
            strings_write(&b, r->out[k], r->out_numel[k]);
        else
            bad = data_write(&b, t->dtype, r->out[k], r->out_numel[k]);
        rt_buf_putc(&b, ']');
        if (bad) {
            rt_buf_puts(&b, ",\"parameters\":{\"non_finite_values\":");
            rt_buf_put_u64(&b, bad);
            rt_buf_putc(&b, '}');
        }
        rt_buf_putc(&b, '}');
    }
    rt_buf_puts(&b, "]}");
    r->json_len = b.len;
    for (int s = 0; s < r->n_sel; s++) {
        int k = r->sel[s];
        if (r->sel_binary[s] && m->outputs[k].dtype == KILN_DT_STRING)
            bytes_put(&b, r->out[k], r->out_numel[k]);
        else if (r->sel_binary[s])
            rt_buf_put(&b, r->out[k], r->out_numel[k] * kiln_dtype_size(m->outputs[k].dtype));
    }
    *text = rt_buf_take(&b, len);
    if (!*text) return fail(r, RT_STATUS_INTERNAL_ERROR, "out of memory writing the response");
    return RT_STATUS_OK;
}

static void request_free(Request *r) {
    for (int k = 0; r->in && k < r->m->n_inputs; k++)
        free(r->in[k]);
    for (int k = 0; r->in_shape && k < r->m->n_inputs; k++)
        free(r->in_shape[k]);
    for (int k = 0; r->out && k < r->m->n_outputs; k++)
        free(r->out[k]);
    for (int k = 0; r->out_shape && k < r->m->n_outputs; k++)
        free(r->out_shape[k]);
    free(r->in);
    free(r->in_shape);
    free(r->out);
    free(r->out_shape);
    free(r->sym_val);
    free(r->sym_in);
    free(r->sym_dim);
    free(r->out_numel);
    free(r->sel);
    free(r->sel_binary);
    free(r->ws);
    json_decref(r->root);
}

int rt_infer_run(const KilnModel *m, const char *body, size_t len, size_t header_len,
                 int binary_outputs, RtInferResult *res, char err[RT_ERR_LEN]) {
    return rt_infer_run_pool(m, body, len, header_len, binary_outputs, NULL, res, err);
}

int rt_infer_run_pool(const KilnModel *m, const char *body, size_t len, size_t header_len,
                      int binary_outputs, KilnThreadPool *pool, RtInferResult *res,
                      char err[RT_ERR_LEN]) {
    Request r = {.m = m, .err = err, .binary_ok = binary_outputs, .pool = pool};
    uint64_t t0 = now_ns();
    json_error_t jerr;
    int st;

    memset(res, 0, sizeof *res);
    err[0] = '\0';
    if (!body) {
        body = "";
        len = header_len = 0;
    }
    if (header_len > len) {
        st = fail(&r, RT_STATUS_BAD_REQUEST,
                  "Inference-Header-Content-Length is %zu, but the body has only %zu bytes",
                  header_len, len);
        goto out;
    }
    r.bin = body + header_len;
    r.bin_len = len - header_len;
    r.in = calloc((size_t)m->n_inputs + 1, sizeof *r.in);
    r.out = calloc((size_t)m->n_outputs + 1, sizeof *r.out);
    r.out_numel = calloc((size_t)m->n_outputs + 1, sizeof *r.out_numel);
    r.sel = calloc((size_t)m->n_outputs + 1, sizeof *r.sel);
    r.sel_binary = calloc((size_t)m->n_outputs + 1, sizeof *r.sel_binary);
    r.in_shape = calloc((size_t)m->n_inputs + 1, sizeof *r.in_shape);
    r.out_shape = calloc((size_t)m->n_outputs + 1, sizeof *r.out_shape);
    r.sym_val = calloc((size_t)m->n_syms + 1, sizeof *r.sym_val);
    r.sym_in = malloc(sizeof *r.sym_in * ((size_t)m->n_syms + 1));
    r.sym_dim = calloc((size_t)m->n_syms + 1, sizeof *r.sym_dim);
    if (!r.in || !r.out || !r.out_numel || !r.sel || !r.sel_binary || !r.in_shape || !r.out_shape ||
        !r.sym_val || !r.sym_in || !r.sym_dim) {
        st = fail(&r, RT_STATUS_INTERNAL_ERROR, "out of memory");
        goto out;
    }
    for (int s = 0; s < m->n_syms; s++)
        r.sym_in[s] = -1;

    r.root = json_loadb(body, header_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!r.root) {
        st = fail(&r, RT_STATUS_BAD_REQUEST, "request is not valid JSON: %s (line %d, column %d)",
                  jerr.text, jerr.line, jerr.column);
        goto out;
    }
    if (!json_is_object(r.root)) {
        st = fail(&r, RT_STATUS_BAD_REQUEST,
                  "request must be a JSON object with an \"inputs\" array");
        goto out;
    }
    const json_t *id = json_object_get(r.root, "id");
    if (id && !json_is_string(id)) {
        st = fail(&r, RT_STATUS_BAD_REQUEST, "\"id\" must be a string");
        goto out;
    }
    r.id = json_string_value(id);
    if (r.id) snprintf(res->id, sizeof res->id, "%s", r.id);
    const json_t *params = json_object_get(r.root, "parameters");
    if (params && !json_is_object(params)) {
        st = fail(&r, RT_STATUS_BAD_REQUEST, "\"parameters\" must be an object");
        goto out;
    }
    const json_t *inputs = json_object_get(r.root, "inputs");
    if (!json_is_array(inputs)) {
        st = fail(&r, RT_STATUS_BAD_REQUEST,
                  "request has no \"inputs\" array; expected {\"inputs\": [{\"name\", \"shape\", "
                  "\"datatype\", \"data\"}, ...]}");
        goto out;
    }
    for (size_t i = 0; i < json_array_size(inputs); i++) {
        st = input_feed(&r, i, json_array_get(inputs, i));
        if (st != RT_STATUS_OK) goto out;
    }
    for (int k = 0; k < m->n_inputs; k++) {
        if (!r.in[k]) {
            const KilnTensorInfo *t = &m->inputs[k];
            char shape[160];
            st = fail(&r, RT_STATUS_BAD_REQUEST, "missing input '%s' (%s %s)", t->name,
                      rt_dtype_name(t->dtype), rt_dims_format(shape, sizeof shape, t));
            goto out;
        }
    }
    if (r.bin_used != r.bin_len) {
        st = fail(&r, RT_STATUS_BAD_REQUEST,
                  "%zu bytes of binary data after the JSON belong to no input; give each binary "
                  "input \"parameters\": {\"binary_data_size\": N}",
                  r.bin_len - r.bin_used);
        goto out;
    }
    st = shapes_compute(&r);
    if (st == RT_STATUS_OK) st = outputs_select(&r, json_object_get(r.root, "outputs"));
    if (st == RT_STATUS_OK) {
        res->parse_ns = now_ns() - t0;
        st = model_run(&r);
    }
    if (st == RT_STATUS_OK) st = response_write(&r, &res->body, &res->len);
    if (st == RT_STATUS_OK) {
        res->json_len = r.json_len;
        int b = rt_meta_batch_sym(m);
        res->batch = b >= 0 ? r.sym_val[b] : 1;
        res->compute_ns = r.run_ns;
    }
out:
    request_free(&r);
    return st;
}

int rt_infer_json(const KilnModel *m, const char *body, size_t len, char **response_out,
                  size_t *response_len, char err[RT_ERR_LEN]) {
    RtInferResult res;
    int st = rt_infer_run(m, body, len, body ? len : 0, 0, &res, err);
    *response_out = res.body;
    if (st == RT_STATUS_OK && response_len) *response_len = res.len;
    return st;
}

char *rt_infer_error_json(const char *msg, size_t *len_out) {
    RtBuf b;
    rt_buf_init(&b);
    rt_buf_puts(&b, "{\"error\":");
    rt_buf_put_json_string(&b, msg);
    rt_buf_putc(&b, '}');
    return rt_buf_take(&b, len_out);
}
