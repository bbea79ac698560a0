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
    if (n < sizeof more) { /* too small for anything useful */
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

static int tensor_check(const KilnTensorInfo *t, const char *kind, int i, char err[RT_ERR_LEN]) {
    if (!t->name) {
        snprintf(err, RT_ERR_LEN, "model %s %d has no name", kind, i);
        return -1;
    }
    /* Strings are served as outputs only (ONNX-ML labels): requests carry numbers. */
    int string_input = t->dtype == KILN_DT_STRING && strcmp(kind, "input") == 0;
    if (!rt_dtype_name(t->dtype) || kiln_dtype_size(t->dtype) == 0 || string_input) {
        snprintf(err, RT_ERR_LEN, "model %s '%s' has dtype %d, which this runtime cannot serve",
                 kind, t->name, t->dtype);
        return -1;
    }
    if (t->rank < 0 || (t->rank > 0 && !t->shape)) {
        snprintf(err, RT_ERR_LEN, "model %s '%s' has an invalid rank %d", kind, t->name, t->rank);
        return -1;
    }
    for (int d = 0; d < t->rank; d++) {
        if (t->shape[d] < -1) {
            snprintf(err, RT_ERR_LEN, "model %s '%s' has an invalid dim %lld", kind, t->name,
                     (long long)t->shape[d]);
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
    if (!m->name || !m->version || !m->run || !m->workspace_size || m->n_inputs < 0 ||
        m->n_outputs < 0) {
        snprintf(err, RT_ERR_LEN, "model table is incomplete (name, version, run or counts)");
        return -1;
    }
    for (int i = 0; i < m->n_inputs; i++)
        if (tensor_check(&m->inputs[i], "input", i, err) != 0) return -1;
    for (int i = 0; i < m->n_outputs; i++)
        if (tensor_check(&m->outputs[i], "output", i, err) != 0) return -1;
    return 0;
}

static json_t *tensors_json(const KilnTensorInfo *t, int n) {
    json_t *arr = json_array();
    for (int i = 0; arr && i < n; i++) {
        json_t *shape = json_array();
        for (int d = 0; shape && d < t[i].rank; d++)
            json_array_append_new(shape, json_integer(t[i].shape[d]));
        const char *dt = rt_dtype_name(t[i].dtype);
        json_t *obj = json_pack("{s:s, s:s, s:o}", "name", t[i].name, "datatype", dt ? dt : "",
                                "shape", shape);
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
    return meta;
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
