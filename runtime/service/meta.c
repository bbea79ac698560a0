/* meta.c: v2 datatype names and model metadata (meta.h). */
#include "meta.h"

#include <stdio.h>
#include <string.h>

#include "cpu.h"

#ifndef KILN_VERSION
#define KILN_VERSION "unknown"
#endif

/* Open Inference Protocol spellings, from kiln_dtypes.def (NULL: not served). */
static const struct {
    int dtype;        /* KILN_DT_* (ONNX TensorProto numbering) */
    const char *name; /* v2 datatype, NULL if the service cannot carry the type */
} dtype_names[] = {
#define KILN_DTYPE(ir, abi, onnx, name, size, onnx_name, v2, ...) {KILN_DT_##abi, v2},
#include "kiln_dtypes.def"
#undef KILN_DTYPE
};

#define N_DTYPE_NAMES (sizeof dtype_names / sizeof dtype_names[0])

const char *rt_dtype_name(int dtype) {
    for (size_t i = 0; i < N_DTYPE_NAMES; i++)
        if (dtype_names[i].dtype == dtype) return dtype_names[i].name;
    return NULL;
}

int rt_dtype_from_name(const char *name) {
    for (size_t i = 0; i < N_DTYPE_NAMES; i++)
        if (dtype_names[i].name && strcmp(dtype_names[i].name, name) == 0)
            return dtype_names[i].dtype;
    return 0;
}

char *rt_shape_format(char *out, size_t n, const int64_t *shape, int rank) {
    static const char more[] = "...]";
    size_t len = 0;
    if (n <= sizeof more) { /* too small for anything useful */
        if (n) out[0] = '\0';
        return out;
    }
    out[len++] = '[';
    for (int i = 0; i < rank; i++) {
        char dim[24];
        int k = snprintf(dim, sizeof dim, "%s%lld", i ? "," : "", (long long)shape[i]);
        if (len + (size_t)k + 1 >= n - (sizeof more - 1)) { /* keep room for "...]" */
            memcpy(out + len, more, sizeof more);
            return out;
        }
        memcpy(out + len, dim, (size_t)k);
        len += (size_t)k;
    }
    out[len++] = ']';
    out[len] = '\0';
    return out;
}

char *rt_dims_format(char *out, size_t n, const KilnTensorInfo *t) {
    static const char more[] = "...]";
    size_t len = 0;
    if (n <= sizeof more) {
        if (n) out[0] = '\0';
        return out;
    }
    out[len++] = '[';
    for (int i = 0; i < t->rank; i++) {
        char num[24];
        const char *text = t->dims && t->dims[i] ? t->dims[i] : NULL;
        if (!text) {
            snprintf(num, sizeof num, "%lld", (long long)t->shape[i]);
            text = num;
        }
        size_t k = strlen(text);
        if (len + k + 2 >= n - (sizeof more - 1)) { /* keep room for "...]" */
            memcpy(out + len, more, sizeof more);
            return out;
        }
        if (i) out[len++] = ',';
        memcpy(out + len, text, k);
        len += k;
    }
    out[len++] = ']';
    out[len] = '\0';
    return out;
}

char *rt_syms_format(char *out, size_t n, const KilnModel *m) {
    size_t len = 0;
    if (n) out[0] = '\0';
    if (m->n_syms == 0) snprintf(out, n, "none");
    for (int i = 0; i < m->n_syms && len < n; i++) {
        int k = snprintf(out + len, n - len, "%s%s [%lld, %lld]", i ? ", " : "", m->syms[i].name,
                         (long long)m->syms[i].min, (long long)m->syms[i].max);
        if (k < 0) break;
        len += (size_t)k;
    }
    return out;
}

int rt_meta_batch_sym(const KilnModel *m) {
    int s = -1;
    for (int i = 0; i < m->n_inputs; i++) {
        const KilnTensorInfo *t = &m->inputs[i];
        if (t->rank < 1 || t->shape[0] != -1) continue; /* not batched: a weight, a scale */
        if (t->sym[0] < 0 || (s >= 0 && t->sym[0] != s)) return -1;
        s = t->sym[0];
    }
    return s;
}

static int tensor_check(const KilnModel *m, const KilnTensorInfo *t, const char *kind, int i,
                        char err[RT_ERR_LEN]) {
    if (!t->name) {
        snprintf(err, RT_ERR_LEN, "model %s %d has no name", kind, i);
        return -1;
    }
    /* Strings (BYTES) are served both ways: requests carry them as JSON strings. */
    if (!rt_dtype_name(t->dtype) || kiln_dtype_size(t->dtype) == 0) {
        snprintf(err, RT_ERR_LEN, "model %s '%s' has dtype %d, which this runtime cannot serve",
                 kind, t->name, t->dtype);
        return -1;
    }
    if (t->rank < 0 || (t->rank > 0 && !t->shape)) {
        snprintf(err, RT_ERR_LEN, "model %s '%s' has an invalid rank %d", kind, t->name, t->rank);
        return -1;
    }
    if (t->rank > 0 && (!t->min || !t->max || !t->sym)) {
        snprintf(err, RT_ERR_LEN, "model %s '%s' has no bounds (min, max, sym)", kind, t->name);
        return -1;
    }
    for (int d = 0; d < t->rank; d++) {
        long long v = (long long)t->shape[d], lo = (long long)t->min[d], hi = (long long)t->max[d];
        if (v < -1 || (v >= 0 && (lo != v || hi != v)) || (v == -1 && (lo < 0 || lo > hi)) ||
            t->sym[d] < -1 || t->sym[d] >= m->n_syms || (v >= 0 && t->sym[d] >= 0)) {
            snprintf(err, RT_ERR_LEN,
                     "model %s '%s' has an invalid dim %d: %lld in [%lld, %lld], symbol %d", kind,
                     t->name, d, v, lo, hi, t->sym[d]);
            return -1;
        }
    }
    return 0;
}

int rt_meta_check(const KilnModel *m, char err[RT_ERR_LEN]) {
    if (m->abi_version != KILN_ABI_VERSION) {
        snprintf(err, RT_ERR_LEN,
                 "model ABI version %d, this runtime speaks %d: compile the model and the "
                 "runtime with the same kiln",
                 m->abi_version, KILN_ABI_VERSION);
        return -1;
    }
    if (!m->name || !m->version || !m->run || !m->shapes || !m->workspace_size || m->n_inputs < 0 ||
        m->n_outputs < 0 || m->n_syms < 0 || (m->n_syms > 0 && !m->syms)) {
        snprintf(err, RT_ERR_LEN,
                 "model table is incomplete (name, version, shapes, workspace_size, run, symbols "
                 "or counts)");
        return -1;
    }
    for (int i = 0; i < m->n_syms; i++) {
        const KilnSymbol *s = &m->syms[i];
        if (!s->name || s->min < 0 || s->min > s->max) {
            snprintf(err, RT_ERR_LEN, "model symbol %d ('%s') has invalid bounds [%lld, %lld]", i,
                     s->name ? s->name : "?", (long long)s->min, (long long)s->max);
            return -1;
        }
    }
    for (int i = 0; i < m->n_inputs; i++)
        if (tensor_check(m, &m->inputs[i], "input", i, err) != 0) return -1;
    for (int i = 0; i < m->n_outputs; i++)
        if (tensor_check(m, &m->outputs[i], "output", i, err) != 0) return -1;
    return 0;
}

static json_t *tensors_json(const KilnTensorInfo *t, int n) {
    json_t *arr = json_array();
    for (int i = 0; arr && i < n; i++) {
        json_t *shape = json_array(), *dims = NULL;
        for (int d = 0; shape && d < t[i].rank; d++) {
            json_array_append_new(shape, json_integer(t[i].shape[d]));
            if (t[i].shape[d] == -1 && !dims) dims = json_array();
        }
        for (int d = 0; dims && d < t[i].rank; d++) {
            char num[24];
            snprintf(num, sizeof num, "%lld", (long long)t[i].shape[d]);
            json_array_append_new(dims,
                                  json_string(t[i].dims && t[i].dims[d] ? t[i].dims[d] : num));
        }
        const char *dt = rt_dtype_name(t[i].dtype);
        json_t *obj = json_pack("{s:s, s:s, s:o}", "name", t[i].name, "datatype", dt ? dt : "",
                                "shape", shape);
        if (obj && dims) json_object_set_new(obj, "dims", dims);
        if (!obj || json_array_append_new(arr, obj) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

json_t *rt_meta_json(const KilnModel *m) {
    json_t *build = m->build_info ? json_loads(m->build_info, JSON_REJECT_DUPLICATES, NULL) : NULL;
    if (build && !json_is_object(build)) {
        json_decref(build);
        build = NULL;
    }
    /* "o" steals the reference and fails on NULL (memory ran out); "o?" and
     * "s?" write a NULL as JSON null. */
    json_t *meta = json_pack(
        "{s:s, s:[s], s:s, s:o, s:o, s:s?, s:o?}", "name", m->name, "versions", m->version,
        "platform", "kiln", "inputs", tensors_json(m->inputs, m->n_inputs), "outputs",
        tensors_json(m->outputs, m->n_outputs), "sha256", m->sha256, "build", build);
    /* The CPU variants compiled and the one this CPU runs (cpu.h). */
    if (meta && m->n_variants > 0 && m->variants) {
        json_t *levels = json_array();
        for (int i = 0; i < m->n_variants; i++)
            json_array_append_new(levels, json_string(m->variants[i].cpu));
        const char *sel = rt_cpu_selected(m);
        json_object_set_new(meta, "cpu",
                            json_pack("{s:o, s:s?}", "levels", levels, "selected", sel));
    }
    /* The symbols of the dynamic dims and their bounds: what a request may send. */
    if (meta && m->n_syms > 0) {
        json_t *syms = json_array();
        for (int i = 0; i < m->n_syms; i++)
            json_array_append_new(syms, json_pack("{s:s, s:I, s:I}", "name", m->syms[i].name, "min",
                                                  (json_int_t)m->syms[i].min, "max",
                                                  (json_int_t)m->syms[i].max));
        json_object_set_new(meta, "symbols", syms);
    }
    return meta;
}

static const char *triton_type(int dtype) {
    switch (dtype) {
#define KILN_DTYPE(ir, abi, onnx, name, size, onnx_name, v2, triton, ...)                          \
    case KILN_DT_##abi:                                                                            \
        return triton ? triton : "TYPE_INVALID";
#include "kiln_dtypes.def"
#undef KILN_DTYPE
    default:
        return "TYPE_INVALID";
    }
}

/* 1 if every tensor's dim 0 is the symbol b. */
static int batch_leading(const KilnTensorInfo *t, int n, int b) {
    for (int i = 0; i < n; i++)
        if (t[i].rank < 1 || t[i].sym[0] != b) return 0;
    return 1;
}

/* Bytes of one batch row of t at its smallest: the product of its other
 * dims' minimums (a fixed dim's minimum is its size). */
static size_t row_bytes(const KilnTensorInfo *t) {
    size_t n = kiln_dtype_size(t->dtype);
    for (int d = 1; d < t->rank; d++)
        if (__builtin_mul_overflow(n, (size_t)t->min[d], &n)) return SIZE_MAX;
    return n;
}

/* Triton's max_batch_size: 0 unless one symbol is dim 0 of every input
 * and output; else that symbol's max, capped at the most rows whose
 * inputs fit in one body in the binary encoding, and whose every input
 * and output fits the per-tensor limit (other dynamic dims at their
 * minimum). */
static int64_t max_batch_size(const KilnModel *m, size_t max_body) {
    int b = rt_meta_batch_sym(m);
    if (b < 0 || !batch_leading(m->inputs, m->n_inputs, b) ||
        !batch_leading(m->outputs, m->n_outputs, b))
        return 0;
    size_t row = 0;
    for (int i = 0; i < m->n_inputs; i++) {
        size_t rb = row_bytes(&m->inputs[i]);
        row = rb > SIZE_MAX - row ? SIZE_MAX : row + rb;
    }
    size_t best = row ? max_body / row : 0;
    if ((uint64_t)m->syms[b].max < best) best = (size_t)m->syms[b].max;
    for (int i = 0; i < m->n_inputs + m->n_outputs; i++) {
        const KilnTensorInfo *t = i < m->n_inputs ? &m->inputs[i] : &m->outputs[i - m->n_inputs];
        size_t rb = row_bytes(t);
        if (rb && RT_TENSOR_MAX_BYTES / rb < best) best = RT_TENSOR_MAX_BYTES / rb;
    }
    return best > INT32_MAX ? INT32_MAX : (int64_t)best;
}

static json_t *config_tensors(const KilnTensorInfo *t, int n, int batched) {
    json_t *arr = json_array();
    for (int i = 0; arr && i < n; i++) {
        json_t *dims = json_array(), *shape = json_array();
        for (int d = 0; dims && shape && d < t[i].rank; d++) {
            json_array_append_new(shape, json_integer(t[i].shape[d]));
            if (!(batched && d == 0)) json_array_append_new(dims, json_integer(t[i].shape[d]));
        }
        json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:o}", "name", t[i].name, "data_type",
                              triton_type(t[i].dtype), "datatype", rt_dtype_name(t[i].dtype),
                              "dims", dims, "shape", shape);
        if (!o || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

json_t *rt_meta_config_json(const KilnModel *m, size_t max_body_bytes, int threads_per_request) {
    int64_t mbs = max_batch_size(m, max_body_bytes);
    return json_pack(
        "{s:s, s:[s], s:s, s:s, s:I, s:o, s:o, s:{s:I, s:i}}", "name", m->name, "versions",
        m->version, "platform", "kiln", "backend", "kiln", "max_batch_size", (json_int_t)mbs,
        "input", config_tensors(m->inputs, m->n_inputs, mbs > 0), "output",
        config_tensors(m->outputs, m->n_outputs, mbs > 0), "parameters", "max_body_bytes",
        (json_int_t)max_body_bytes, "threads_per_request", threads_per_request);
}

char *rt_meta_kiln_version(const KilnModel *m, char *out, size_t n) {
    snprintf(out, n, "%s", KILN_VERSION);
    json_t *build = m->build_info ? json_loads(m->build_info, 0, NULL) : NULL;
    json_t *v = json_object_get(build, "kiln_version");
    if (!json_is_string(v)) v = json_object_get(build, "kiln");
    if (json_is_string(v)) snprintf(out, n, "%s", json_string_value(v));
    json_decref(build);
    return out;
}
