#include "frontends.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx.pb-c.h"
#include "proto_depth.h"
#include "tensor_proto.h"

/* --- a string -> pointer map for tensor names ------------------------------ */

/* Open addressing over arena memory. Keys are not copied: they point into
 * the protobuf message or the arena, both of which outlive the import. */
typedef struct NameMap {
    Arena *a;
    const char **keys;
    void **vals;
    size_t cap, n;                /* cap is 0 or a power of two */
    const struct NameMap *parent; /* a subgraph's enclosing scope, searched after this one */
} NameMap;

static uint64_t name_hash(const char *s) {
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static void *map_get(const NameMap *m, const char *key) {
    for (; m; m = m->parent) {
        if (!m->cap) continue;
        for (size_t i = name_hash(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
            if (!m->keys[i]) break;
            if (strcmp(m->keys[i], key) == 0) return m->vals[i];
        }
    }
    return NULL;
}

static void map_put(NameMap *m, const char *key, void *val) {
    if (2 * (m->n + 1) > m->cap) {
        NameMap bigger = {m->a, NULL, NULL, m->cap ? 2 * m->cap : 64, 0, m->parent};
        bigger.keys = arena_alloc_array(m->a, bigger.cap, sizeof(char *));
        bigger.vals = arena_alloc_array(m->a, bigger.cap, sizeof(void *));
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i]) map_put(&bigger, m->keys[i], m->vals[i]);
        *m = bigger;
    }
    size_t i = name_hash(key) & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], key) != 0)
        i = (i + 1) & (m->cap - 1);
    if (!m->keys[i]) m->n++;
    m->keys[i] = key;
    m->vals[i] = val;
}

/* --- the importer ----------------------------------------------------------- */

typedef struct Importer {
    Arena *a;
    Diag *d;
    const char *path; /* the .onnx file, for messages and external data */
    const Onnx__ModelProto *m;
    const Onnx__GraphProto *gp;
    Graph *g;
    int n_errors;            /* problems reported so far */
    NameMap values;          /* tensor name -> Value *, as defined so far */
    NameMap producers;       /* tensor name -> (index + 1) of the NodeProto producing it */
    NameMap failed;          /* tensors whose definition was reported bad: their uses
                                are not reported again */
    const char **node_names; /* per NodeProto: its name, or "<op_type>_<index>" */
    int64_t tensor_bytes;    /* decoded so far (initializers, constants, tensor attributes) */
    /* Subgraphs (If, Loop, Scan bodies) are imported in place, each in a
     * scope of its own: values and producers are then the subgraph's,
     * values' parent the enclosing scope's (import_scope_enter). */
    int depth;              /* 0 in the main graph */
    const char *prefix;     /* for the names of unnamed subgraph nodes: "loop_1/" */
    NameMap ir_names;       /* every value's IR name: a subgraph's may need a fresh one */
    NameMap main_producers; /* the main graph's producers (never added to after
                               collect_producers): names a subgraph's values must not
                               take, since the main graph's come later */
} Importer;

static const char *str(const char *s) {
    return s ? s : "";
}

static int is_default_domain(const char *domain) {
    return !domain || !*domain || strcmp(domain, "ai.onnx") == 0;
}

/* The opset version the model imports for a domain; 0 if it imports none. */
static int domain_opset(const Importer *im, const char *domain) {
    if (is_default_domain(domain)) return im->g->opset;
    for (size_t i = 0; i < im->m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = im->m->opset_import[i];
        if (strcmp(str(o->domain), domain) == 0) return (int)o->version;
    }
    return 0;
}

static Value *value_new(Importer *im, const char *name, DType t) {
    /* Two scopes may use one name (both branches of an If naming their
     * output "y", or a body naming a value as the main graph names a later
     * one): the IR value of a subgraph's then gets a fresh name, and the
     * scope maps the model's name to it. */
    const char *ir_name = name;
    for (int k = 2;
         im->depth && (map_get(&im->ir_names, ir_name) || map_get(&im->main_producers, ir_name));
         k++)
        ir_name = arena_printf(im->a, "%s_%d", name, k);
    Value *v = ir_value_add(im->g, ir_name, t);
    map_put(&im->values, ir_name == name ? v->name : arena_strdup(im->a, name), v);
    map_put(&im->ir_names, v->name, v);
    return v;
}

/* An initializer (or a Constant's output) holding the decoded tensor t. */
static void value_from_tensor(Importer *im, const char *name, const OnnxTensor *t) {
    Value *v = value_new(im, name, t->dtype);
    v->shape = t->shape;
    v->data = t->data;
}

/* An unused id for a value, to name outputs the model leaves unnamed. */
static const char *unique_name(Importer *im, const char *base) {
    const char *name = base;
    for (int k = 2; map_get(&im->values, name) || map_get(&im->producers, name); k++)
        name = arena_printf(im->a, "%s_%d", base, k);
    return name;
}

/* --- limits (model_limits.h) -------------------------------------------------------- */

/* At most the first 40 bytes of a name, for a message about its length. */
static const char *name_head(Importer *im, const char *s) {
    return strlen(s) <= 40 ? s : arena_printf(im->a, "%.40s...", s);
}

/* 0 if s (NULL counts as "") is at most KILN_MAX_NAME_LEN bytes; else reports it. */
static int name_ok(Importer *im, const char *s, const char *what) {
    size_t n = s ? strnlen(s, KILN_MAX_NAME_LEN + 1) : 0;
    if (n <= KILN_MAX_NAME_LEN) return 0;
    diag_file(im->d, im->path, "%s '%s' is %zu bytes long, above kiln's limit of %d bytes", what,
              name_head(im, s), strlen(s), KILN_MAX_NAME_LEN);
    diag_hint(im->d, "give it a shorter name (onnx.helper, or rename it in the exporter)");
    im->n_errors++;
    return -1;
}

/* "<what> <n> <noun>, above kiln's limit of <limit>", e.g. "the graph has
 * 2000000 nodes, above kiln's limit of 1048576". */
static void count_exceeded(Importer *im, const char *what, size_t n, const char *noun,
                           long long limit, const char *hint) {
    diag_file(im->d, im->path, "%s %zu %s, above kiln's limit of %lld", what, n, noun, limit);
    diag_hint(im->d, "%s", hint);
    im->n_errors++;
}

/* One node's names, arity and attribute sizes. */
static void check_node_limits(Importer *im, size_t idx) {
    const Onnx__NodeProto *np = im->gp->node[idx];
    if (name_ok(im, np->name, "node name") || name_ok(im, np->op_type, "op type") ||
        name_ok(im, np->domain, "domain"))
        return;
    const char *node = arena_printf(
        im->a, "node '%s' (%s)",
        np->name && *np->name ? np->name : arena_printf(im->a, "%s_%zu", str(np->op_type), idx),
        str(np->op_type));
    if (np->n_input > KILN_MAX_NODE_IO || np->n_output > KILN_MAX_NODE_IO) {
        count_exceeded(im, arena_printf(im->a, "%s has", node),
                       np->n_input > np->n_output ? np->n_input : np->n_output, "inputs or outputs",
                       KILN_MAX_NODE_IO, "no ONNX op takes this many; the model is corrupt");
        return;
    }
    for (size_t j = 0; j < np->n_input; j++)
        if (name_ok(im, np->input[j], arena_printf(im->a, "%s: input %zu", node, j))) return;
    for (size_t j = 0; j < np->n_output; j++)
        if (name_ok(im, np->output[j], arena_printf(im->a, "%s: output %zu", node, j))) return;
    for (size_t j = 0; j < np->n_attribute; j++) {
        const Onnx__AttributeProto *ap = np->attribute[j];
        if (name_ok(im, ap->name, arena_printf(im->a, "%s: attribute", node))) return;
        const char *what = arena_printf(im->a, "%s: attribute '%s' has", node, str(ap->name));
        size_t n = ap->n_ints > ap->n_floats ? ap->n_ints : ap->n_floats;
        if (ap->n_strings > n) n = ap->n_strings;
        if (n > KILN_MAX_ATTR_ELEMS) {
            count_exceeded(im, what, n, "elements", KILN_MAX_ATTR_ELEMS,
                           "store large data as an initializer, not an attribute");
            return;
        }
        int long_str = ap->has_s && ap->s.len > KILN_MAX_STRING_LEN;
        for (size_t k = 0; k < ap->n_strings; k++)
            if (ap->strings[k].len > KILN_MAX_STRING_LEN) long_str = 1;
        if (long_str) {
            diag_file(im->d, im->path,
                      "%s: attribute '%s' holds a string above kiln's limit of %d bytes", node,
                      str(ap->name), KILN_MAX_STRING_LEN);
            diag_hint(im->d, "no op kiln supports takes such a string; the model is corrupt");
            im->n_errors++;
            return;
        }
    }
}

/* The counts and sizes model_limits.h bounds, checked before anything is built
 * from them. Returns -1 if any is exceeded (each reported). */
static int check_limits(Importer *im) {
    const Onnx__GraphProto *gp = im->gp;
    int before = im->n_errors;
    const char *hint = "kiln compiles models up to these sizes; split the model";
    if (gp->n_node > KILN_MAX_NODES)
        count_exceeded(im, "the graph has", gp->n_node, "nodes", KILN_MAX_NODES, hint);
    if (gp->n_initializer > KILN_MAX_INITIALIZERS)
        count_exceeded(im, "the graph has", gp->n_initializer, "initializers",
                       KILN_MAX_INITIALIZERS, hint);
    if (gp->n_input > KILN_MAX_INITIALIZERS || gp->n_output > KILN_MAX_INITIALIZERS)
        count_exceeded(im, "the graph has", gp->n_input > gp->n_output ? gp->n_input : gp->n_output,
                       "inputs or outputs", KILN_MAX_INITIALIZERS, hint);
    if (im->n_errors > before) return -1;
    name_ok(im, gp->name, "graph name");
    for (size_t i = 0; i < gp->n_initializer; i++)
        name_ok(im, gp->initializer[i]->name, "initializer");
    for (size_t i = 0; i < gp->n_input; i++)
        name_ok(im, gp->input[i]->name, "graph input");
    for (size_t i = 0; i < gp->n_output; i++)
        name_ok(im, gp->output[i]->name, "graph output");
    for (size_t i = 0; i < gp->n_node && im->n_errors - before < 20; i++)
        check_node_limits(im, i);
    return im->n_errors > before ? -1 : 0;
}

/* onnx_tensor_decode(), counting the bytes against KILN_MAX_MODEL_TENSOR_BYTES
 * before decoding: external data lets many tensors share one region of one
 * file, so a small model could ask for far more memory than it and its
 * data files hold. */
static int tensor_decode(Importer *im, const Onnx__TensorProto *t, const char *what,
                         OnnxTensor *out) {
    /* Once over the limit (reported once), nothing more is decoded. */
    if (im->tensor_bytes > KILN_MAX_MODEL_TENSOR_BYTES) return -1;
    /* The declared size, when the dims are valid (else decoding reports
     * them), counted before anything is allocated. */
    Shape s = {.rank = t->n_dims <= IR_MAX_RANK ? (int)t->n_dims : -1};
    int64_t bytes = 0;
    for (int i = 0; i < s.rank; i++)
        s.dims[i] = t->dims[i] < 0 ? INT64_MAX : t->dims[i];
    DType dt = dtype_size((DType)t->data_type) ? (DType)t->data_type : DT_U8;
    if (shape_bytes_check(&s, dt, &bytes) == 0 &&
        im->tensor_bytes + bytes > KILN_MAX_MODEL_TENSOR_BYTES) {
        diag_file(im->d, im->path,
                  "%s: the model's tensors hold more than kiln's limit of %lld bytes in all", what,
                  (long long)KILN_MAX_MODEL_TENSOR_BYTES);
        diag_hint(im->d, "check that external data entries do not repeat one file region; kiln "
                         "embeds every weight into the service binary");
        im->tensor_bytes += bytes;
        return -1;
    }
    if (onnx_tensor_decode(im->a, t, im->path, what, out, im->d) != 0) return -1;
    im->tensor_bytes += (int64_t)out->nbytes; /* each at most KILN_MAX_TENSOR_BYTES */
    return 0;
}

/* --- model header: opsets --------------------------------------------------- */

static void import_opsets(Importer *im) {
    /* Models older than IR version 3 import no opset: they meant opset 1. */
    im->g->opset = 1;
    for (size_t i = 0; i < im->m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = im->m->opset_import[i];
        if (!is_default_domain(o->domain)) continue;
        /* An op's meaning changes between opsets (opset 18 moved Reduce's
         * axes into an input), so a newer opset than kiln knows could be
         * read wrong without a word. */
        if (o->version < 1 || o->version > KILN_MAX_OPSET) {
            diag_file(im->d, im->path,
                      "the model imports ONNX opset %lld; kiln knows opsets 1 to %d",
                      (long long)o->version, KILN_MAX_OPSET);
            diag_hint(im->d,
                      "export it again with opset_version=%d (torch.onnx.export) or "
                      "target_opset=%d (skl2onnx)",
                      KILN_MAX_OPSET, KILN_MAX_OPSET);
            im->n_errors++;
            continue;
        }
        im->g->opset = (int)o->version;
    }
}

/* --- initializers ------------------------------------------------------------ */

static void import_initializers(Importer *im) {
    const Onnx__GraphProto *gp = im->gp;
    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *t = gp->initializer[i];
        const char *name = str(t->name);
        if (!*name) {
            diag_file(im->d, im->path, "initializer %zu has no name", i);
            im->n_errors++;
            continue;
        }
        if (map_get(&im->values, name)) {
            diag_file(im->d, im->path, "initializer '%s' is defined twice", name);
            im->n_errors++;
            continue;
        }
        OnnxTensor ot;
        const char *what = arena_printf(im->a, "initializer '%s'", name);
        if (tensor_decode(im, t, what, &ot) != 0) {
            map_put(&im->failed, name, im);
            im->n_errors++;
            continue;
        }
        value_from_tensor(im, name, &ot);
    }
    if (gp->n_sparse_initializer) {
        diag_file(im->d, im->path,
                  "the graph has %zu sparse initializers, which kiln does not "
                  "support",
                  gp->n_sparse_initializer);
        diag_hint(im->d, "store them as dense initializers (onnx.numpy_helper)");
        im->n_errors++;
    }
}

/* --- graph inputs and --shape pins ---------------------------------------------- */

/* The tensor type of a ValueInfo, or NULL if it is not a tensor. */
static const Onnx__TypeProto__Tensor *tensor_type(const Onnx__ValueInfoProto *vi) {
    const Onnx__TypeProto *tp = vi->type;
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE) return NULL;
    return tp->tensor_type;
}

static DType elem_dtype(const Onnx__TypeProto__Tensor *tt) {
    DType t = (DType)tt->elem_type;
    return dtype_size(t) ? t : DT_UNDEF;
}

/* Fills v->shape from the model: a dim_value >= 0 is that size (0 is a
 * real, empty size, as ONNX defines it); any other dim is dynamic: the
 * symbol its dim_param names, or a fresh one (no dim_param, or the -1 some
 * old exporters wrote). A pin replaces dims as OnnxPin says; its bounds go
 * to the symbol (sym_lo/sym_hi, by symbol number), intersected with those
 * of other pins of the same symbol. */
static int input_shape_from_model(Importer *im, Value *v, const Onnx__TensorShapeProto *sp,
                                  const OnnxPin *pin, int64_t *sym_lo, int64_t *sym_hi) {
    if (sp->n_dim > IR_MAX_RANK) {
        diag_file(im->d, im->path, "graph input '%s' has rank %zu, above kiln's limit of %d",
                  v->name, sp->n_dim, IR_MAX_RANK);
        im->n_errors++;
        return -1;
    }
    if (pin && (size_t)pin->rank != sp->n_dim) {
        diag_usage(im->d, "--shape %s: gives %d dims, but input '%s' has rank %zu in %s", pin->name,
                   pin->rank, pin->name, sp->n_dim, im->path);
        im->n_errors++;
        return -1;
    }
    Shape s = {.rank = (int)sp->n_dim};
    for (int i = 0; pin && i < pin->rank; i++)
        if (!(pin->lo[i] == -1 && pin->hi[i] == -1) &&
            (pin->lo[i] < 1 || pin->hi[i] < pin->lo[i] || pin->hi[i] > KILN_MAX_DIM)) {
            diag_usage(im->d,
                       "--shape %s: dim %d must be a size from 1 to %lld or a range "
                       "MIN..MAX of them",
                       pin->name, i, (long long)KILN_MAX_DIM);
            im->n_errors++;
            return -1;
        }
    for (size_t i = 0; i < sp->n_dim; i++) {
        const Onnx__TensorShapeProto__Dimension *dim = sp->dim[i];
        int64_t lo = pin ? pin->lo[i] : -1, hi = pin ? pin->hi[i] : -1;
        if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
            dim->dim_value >= 0) {
            s.dims[i] = dim->dim_value;
            if (lo >= 0 && lo < hi) {
                diag_usage(im->d,
                           "--shape %s: dim %zu is fixed at %lld in %s; a range needs a dynamic "
                           "dim",
                           pin->name, i, (long long)dim->dim_value, im->path);
                im->n_errors++;
                return -1;
            }
            if (lo >= 0) s.dims[i] = lo; /* a pin overrides the model's size */
            continue;
        }
        const char *param = dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM
                                ? str(dim->dim_param)
                                : "";
        Dim sym = *param ? dim_sym(param) : dim_fresh();
        if (sym == DIM_INVALID) {
            diag_file(im->d, im->path, "graph input '%s': more than %d distinct dynamic dims",
                      v->name, DIM_MAX_SYMS);
            im->n_errors++;
            return -1;
        }
        int k = dim_sym_of(sym);
        if (lo >= 0) {
            if (lo > sym_lo[k]) sym_lo[k] = lo;
            if (hi < sym_hi[k]) sym_hi[k] = hi;
            if (sym_lo[k] > sym_hi[k]) {
                diag_usage(im->d, "--shape %s: dim %zu ('%s') gets bounds that exclude each other",
                           pin->name, i, dim_sym_name(k));
                diag_hint(im->d, "the symbol appears in more than one --shape flag; make them "
                                 "agree");
                im->n_errors++;
                return -1;
            }
        }
        s.dims[i] = sym;
    }
    v->shape = s;
    return 0;
}

/* Symbols pinned to one size become that size; then every input must be in
 * kiln's limits at its bounds. */
static void input_shape_finish(Importer *im, Value *v, int pinned) {
    for (int i = 0; i < v->shape.rank; i++) {
        int k = dim_sym_of(v->shape.dims[i]);
        int64_t lo, hi;
        if (k < 0) continue;
        dim_sym_bounds(k, &lo, &hi);
        if (lo == hi) v->shape.dims[i] = lo;
    }
    int64_t bytes;
    if (shape_bytes_check(&v->shape, v->dtype, &bytes)) {
        char buf[200];
        shape_str(&v->shape, buf, sizeof buf);
        const char *fmt = "graph input '%s' has shape %s of %s, above kiln's limits (dims up to "
                          "%lld, at most %lld bytes with the dynamic dims at 1, %lld at their "
                          "upper bounds)";
        if (pinned)
            diag_usage(im->d,
                       "--shape %s: dims up to %lld and at most %lld bytes (%lld with the "
                       "dynamic dims at their upper bounds) are supported; %s of %s is larger",
                       v->name, (long long)KILN_MAX_DIM, (long long)KILN_MAX_TENSOR_BYTES,
                       (long long)KILN_MAX_DYN_BYTES, buf, dtype_onnx_name(v->dtype));
        else
            diag_file(im->d, im->path, fmt, v->name, buf, dtype_onnx_name(v->dtype),
                      (long long)KILN_MAX_DIM, (long long)KILN_MAX_TENSOR_BYTES,
                      (long long)KILN_MAX_DYN_BYTES);
        diag_hint(im->d,
                  "the declared shape is corrupt or too large to serve; re-export the model "
                  "or bound its dims with --shape %s=... or --dim NAME=MIN..MAX",
                  v->name);
        im->n_errors++;
    }
}

static void import_inputs(Importer *im, const OnnxShapeFlags *flags) {
    const Onnx__GraphProto *gp = im->gp;
    const OnnxPin *pins = flags ? flags->pins : NULL;
    int n_pins = flags ? flags->n_pins : 0;
    char *pin_used = arena_alloc(im->a, (size_t)n_pins + 1);
    int64_t *sym_lo = arena_alloc_array(im->a, DIM_MAX_SYMS, sizeof(int64_t));
    int64_t *sym_hi = arena_alloc_array(im->a, DIM_MAX_SYMS, sizeof(int64_t));
    for (int k = 0; k < DIM_MAX_SYMS; k++)
        sym_lo[k] = -1, sym_hi[k] = INT64_MAX;
    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        const char *name = str(vi->name);
        /* Exporters before IR version 4 also list initializers as inputs. */
        Value *old = map_get(&im->values, name);
        if (old && old->data) continue;
        if (!*name) {
            diag_file(im->d, im->path, "graph input %zu has no name", i);
            im->n_errors++;
            continue;
        }
        if (old) {
            diag_file(im->d, im->path, "graph input '%s' is listed twice", name);
            im->n_errors++;
            continue;
        }
        const OnnxPin *pin = NULL;
        for (int k = 0; k < n_pins; k++)
            if (strcmp(pins[k].name, name) == 0) {
                pin = &pins[k];
                pin_used[k] = 1;
            }
        const Onnx__TypeProto__Tensor *tt = tensor_type(vi);
        /* String inputs too: ops that do not take them are refused by
         * pass_check_types, naming the node. */
        DType dt = !tt || !tt->has_elem_type    ? DT_UNDEF
                   : tt->elem_type == DT_STRING ? DT_STRING
                                                : elem_dtype(tt);
        if (!tt || !dt) {
            diag_file(im->d, im->path, "graph input '%s' is %s, which kiln does not support", name,
                      !tt ? "not a tensor (a sequence, map or optional)"
                          : "a tensor of an element type without fixed size");
            diag_hint(im->d, "kiln compiles models whose inputs are numeric or bool tensors");
            map_put(&im->failed, name, im);
            im->n_errors++;
            continue;
        }
        Value *v = value_new(im, name, dt);
        ir_graph_add_input(im->g, v);
        if (tt->shape) {
            input_shape_from_model(im, v, tt->shape, pin, sym_lo, sym_hi);
        } else if (pin) {
            /* No shape in the model: the pin is the whole shape. */
            Onnx__TensorShapeProto sp = ONNX__TENSOR_SHAPE_PROTO__INIT;
            Onnx__TensorShapeProto__Dimension dims[IR_MAX_RANK], *dp[IR_MAX_RANK];
            sp.n_dim = (size_t)(pin->rank > IR_MAX_RANK ? IR_MAX_RANK : pin->rank);
            sp.dim = dp;
            for (size_t k = 0; k < sp.n_dim; k++) {
                onnx__tensor_shape_proto__dimension__init(&dims[k]);
                dp[k] = &dims[k];
            }
            input_shape_from_model(im, v, &sp, pin, sym_lo, sym_hi);
        } else {
            diag_file(im->d, im->path, "graph input '%s' has no shape", name);
            diag_hint(im->d, "give it one with --shape %s=DIMS, e.g. --shape %s=1..64x3x224x224",
                      name, name);
            im->n_errors++;
        }
    }
    for (int k = 0; k < n_pins; k++) {
        if (pin_used[k]) continue;
        Value *v = map_get(&im->values, pins[k].name);
        for (int j = 0; j < k; j++)
            if (strcmp(pins[j].name, pins[k].name) == 0) v = NULL, pin_used[k] = 2;
        if (pin_used[k] == 2) continue; /* a repeat of a pin reported above */
        if (v)
            diag_usage(im->d, "--shape %s: '%s' is an initializer in %s, not a graph input",
                       pins[k].name, pins[k].name, im->path);
        else
            diag_usage(im->d, "--shape %s: %s has no graph input named '%s'", pins[k].name,
                       im->path, pins[k].name);
        const char *names = "";
        for (int i = 0; i < im->g->n_inputs; i++)
            names = arena_printf(im->a, "%s%s%s", names, i ? ", " : "", im->g->inputs[i]->name);
        diag_hint(im->d, "the graph inputs are: %s", *names ? names : "(none)");
        im->n_errors++;
    }
    /* --dim flags, by symbol name. */
    for (int j = 0; flags && j < flags->n_dims; j++) {
        const OnnxDimBound *b = &flags->dims[j];
        int k = -1;
        for (int s = 0; s < dim_n_syms(); s++)
            if (strcmp(dim_sym_name(s), b->name) == 0) k = s;
        if (k < 0) {
            diag_usage(im->d, "--dim %s: %s has no dynamic dim named '%s'", b->name, im->path,
                       b->name);
            const char *names = "";
            for (int s = 0; s < dim_n_syms(); s++)
                names = arena_printf(im->a, "%s%s%s", names, s ? ", " : "", dim_sym_name(s));
            diag_hint(im->d, "its dynamic dims are: %s", *names ? names : "(none)");
            im->n_errors++;
            continue;
        }
        if (b->lo > sym_lo[k]) sym_lo[k] = b->lo;
        if (b->hi < sym_hi[k]) sym_hi[k] = b->hi;
        if (sym_lo[k] > sym_hi[k]) {
            diag_usage(im->d, "--dim %s: the bounds exclude those --shape gives it", b->name);
            im->n_errors++;
        }
    }
    for (int k = 0; k < dim_n_syms(); k++) {
        int64_t lo, hi;
        dim_sym_bounds(k, &lo, &hi);
        if (sym_lo[k] >= 0) lo = sym_lo[k];
        if (sym_hi[k] != INT64_MAX) hi = sym_hi[k];
        if (lo > hi) hi = lo; /* a pin below the default's lower bound */
        dim_sym_set_bounds(k, lo, hi);
    }
    for (int i = 0; i < im->g->n_inputs; i++) {
        int pinned = 0;
        for (int k = 0; k < n_pins; k++)
            pinned |= strcmp(pins[k].name, im->g->inputs[i]->name) == 0;
        if (im->g->inputs[i]->shape.rank >= 0) input_shape_finish(im, im->g->inputs[i], pinned);
    }
}

/* --- node order ------------------------------------------------------------------ */

/* Names every NodeProto and records which one produces each tensor,
 * reporting tensors defined twice. */
static void collect_producers(Importer *im) {
    const Onnx__GraphProto *gp = im->gp;
    im->node_names = arena_alloc_array(im->a, gp->n_node + 1, sizeof(char *));
    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        im->node_names[i] = np->name && *np->name
                                ? arena_strdup(im->a, np->name)
                                : arena_printf(im->a, "%s%s_%zu", im->prefix, str(np->op_type), i);
        for (size_t j = 0; j < np->n_output; j++) {
            const char *out = np->output[j];
            if (!*out) continue;
            uintptr_t other = (uintptr_t)map_get(&im->producers, out);
            if (other || map_get(&im->values, out)) {
                diag_file(im->d, im->path, "node '%s' (%s): output '%s' is already defined by %s",
                          im->node_names[i], str(np->op_type), out,
                          other ? arena_printf(im->a, "node '%s'", im->node_names[other - 1])
                                : "a graph input or initializer");
                diag_hint(im->d, "every tensor name in an ONNX graph must be assigned once");
                im->n_errors++;
                continue;
            }
            map_put(&im->producers, out, (void *)(uintptr_t)(i + 1));
        }
    }
}

static int producer_of(const Importer *im, const char *name) {
    return (int)(uintptr_t)map_get(&im->producers, name) - 1;
}

/* 1 if a tensor is undefined because of a problem reported already: a bad
 * initializer or Constant, or a producer on a cycle. */
static int already_reported(const Importer *im, const char *name) {
    return map_get(&im->failed, name) || producer_of(im, name) >= 0;
}

/* 1 if every node comes after the producers of its inputs. */
static int nodes_are_sorted(Importer *im) {
    const Onnx__GraphProto *gp = im->gp;
    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        for (size_t j = 0; j < np->n_input; j++) {
            int p = *np->input[j] ? producer_of(im, np->input[j]) : -1;
            if (p >= (int)i) return 0;
        }
    }
    return 1;
}

/* The order to import NodeProtos in. ONNX requires topological order, but
 * some tools write graphs that are not, so we sort them (Kahn's algorithm,
 * FIFO, so the result is deterministic) rather than refuse. A graph that is
 * already sorted keeps its order. Nodes on a cycle are reported and left
 * out; *n_order says how many made it. */
static int *order_nodes(Importer *im, int *n_order) {
    const Onnx__GraphProto *gp = im->gp;
    int n = (int)gp->n_node;
    int *order = arena_alloc_array(im->a, (size_t)n + 1, sizeof(int));
    if (nodes_are_sorted(im)) {
        for (int i = 0; i < n; i++)
            order[i] = i;
        *n_order = n;
        return order;
    }
    /* Edges producer -> consumer, one per input naming a node output, in
     * compressed rows: consumers of node p are edge[first[p] .. first[p+1]). */
    int *indeg = arena_alloc_array(im->a, (size_t)n + 1, sizeof(int));
    int *first = arena_alloc_array(im->a, (size_t)n + 2, sizeof(int));
    int n_edges = 0;
    for (int i = 0; i < n; i++)
        for (size_t j = 0; j < gp->node[i]->n_input; j++) {
            const char *in = gp->node[i]->input[j];
            int p = *in ? producer_of(im, in) : -1;
            if (p < 0) continue;
            first[p + 1]++;
            indeg[i]++;
            n_edges++;
        }
    for (int p = 0; p < n; p++)
        first[p + 1] += first[p];
    int *fill = arena_alloc_array(im->a, (size_t)n + 1, sizeof(int));
    int *edge = arena_alloc_array(im->a, (size_t)n_edges + 1, sizeof(int));
    for (int i = 0; i < n; i++)
        for (size_t j = 0; j < gp->node[i]->n_input; j++) {
            const char *in = gp->node[i]->input[j];
            int p = *in ? producer_of(im, in) : -1;
            if (p >= 0) edge[first[p] + fill[p]++] = i;
        }
    int head = 0, tail = 0; /* order[] doubles as the queue */
    for (int i = 0; i < n; i++)
        if (indeg[i] == 0) order[tail++] = i;
    while (head < tail) {
        int p = order[head++];
        for (int e = first[p]; e < first[p + 1]; e++)
            if (--indeg[edge[e]] == 0) order[tail++] = edge[e];
    }
    for (int i = 0; i < n; i++)
        if (indeg[i] > 0) {
            diag_file(im->d, im->path,
                      "node '%s' (%s): is on a cycle, or depends on one: its inputs are never "
                      "all available",
                      im->node_names[i], str(gp->node[i]->op_type));
            diag_hint(im->d, "ONNX graphs must be acyclic; loops belong in a Loop node");
            im->n_errors++;
        }
    *n_order = tail;
    return order;
}

/* --- attributes ---------------------------------------------------------------- */

/* A tensor attribute becomes a Value outside Graph.values. */
static Value *tensor_value(Importer *im, const Onnx__TensorProto *t, const char *what) {
    OnnxTensor ot;
    if (tensor_decode(im, t, what, &ot) != 0) return NULL;
    Value *v = arena_alloc(im->a, sizeof(Value));
    v->name = arena_strdup(im->a, str(t->name));
    v->dtype = ot.dtype;
    v->shape = ot.shape;
    v->data = ot.data;
    v->input_index = v->output_index = v->id = -1;
    return v;
}

/* len bytes from src copied into the arena, with a NUL after them. */
static void *mem_dup(Arena *a, const void *src, size_t len) {
    char *s = arena_alloc(a, len + 1);
    if (len) memcpy(s, src, len);
    return s;
}

static char *bytes_dup(Arena *a, ProtobufCBinaryData b) {
    return mem_dup(a, b.data, b.len);
}

/* IR version 1 models have no AttributeProto.type: tell it from the field
 * that is set. */
static Onnx__AttributeProto__AttributeType attr_type(const Onnx__AttributeProto *ap) {
    if (ap->has_type && ap->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED)
        return ap->type;
    if (ap->has_f) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    if (ap->has_i) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    if (ap->has_s) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
    if (ap->t) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
    if (ap->g) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH;
    if (ap->n_floats) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
    if (ap->n_ints) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    if (ap->n_strings) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS;
    return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED;
}

static const char *attr_type_name(Onnx__AttributeProto__AttributeType t) {
    switch (t) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH:
        return "a graph";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS:
        return "a list of graphs";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS:
        return "a list of tensors";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR:
        return "a sparse tensor";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSORS:
        return "a list of sparse tensors";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTO:
        return "a type";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTOS:
        return "a list of types";
    default:
        return "of no known type";
    }
}

/* Attribute kinds Attr cannot hold (subgraphs, sparse tensors, types) are
 * dropped. Only ops that kiln supports need their attributes, so for them
 * that is an error; an unsupported op is reported by the driver anyway. */
static void import_attr(Importer *im, Node *n, const Onnx__AttributeProto *ap) {
    Arena *a = im->a;
    const char *name = str(ap->name);
    Onnx__AttributeProto__AttributeType type = attr_type(ap);
    Attr *at;
    switch (type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT:
        ir_attr_add(n, name, ATTR_FLOAT)->f = ap->f;
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT:
        ir_attr_add(n, name, ATTR_INT)->i = ap->i;
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING:
        ir_attr_add(n, name, ATTR_STRING)->s = bytes_dup(a, ap->s);
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR: {
        if (!ap->t) goto bad_kind;
        const char *what =
            arena_printf(a, "node '%s' (%s): attribute '%s'", n->name, n->op_type, name);
        Value *v = tensor_value(im, ap->t, what);
        if (!v) {
            im->n_errors++;
            return;
        }
        ir_attr_add(n, name, ATTR_TENSOR)->t = v;
        break;
    }
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
        at = ir_attr_add(n, name, ATTR_FLOATS);
        at->n = (int)ap->n_floats;
        at->floats = mem_dup(a, ap->floats, sizeof(float) * ap->n_floats);
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
        at = ir_attr_add(n, name, ATTR_INTS);
        at->n = (int)ap->n_ints;
        at->ints = mem_dup(a, ap->ints, sizeof(int64_t) * ap->n_ints);
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS:
        at = ir_attr_add(n, name, ATTR_STRINGS);
        at->n = (int)ap->n_strings;
        at->strings = arena_alloc_array(a, ap->n_strings + 1, sizeof(char *));
        for (size_t i = 0; i < ap->n_strings; i++)
            at->strings[i] = bytes_dup(a, ap->strings[i]);
        break;
    default:
    bad_kind:
        if (n->op == OP_UNKNOWN) return;
        diag_node(im->d, n, "attribute '%s' is %s, which kiln does not support", name,
                  attr_type_name(type));
        im->n_errors++;
        break;
    }
}

/* --- nodes ------------------------------------------------------------------------ */

/* A Constant node becomes an initializer named after its output. */
/* Constant's value_float(s) and value_int(s) as a tensor: a scalar (rank
 * 0) or a list (rank 1) of n elements of type dt from src. */
static void constant_list(Arena *a, OnnxTensor *t, DType dt, int rank, const void *src, size_t n) {
    t->dtype = dt;
    t->shape.rank = rank;
    t->shape.dims[0] = (int64_t)n;
    t->nbytes = n * dtype_size(dt);
    t->data = arena_alloc_aligned(a, t->nbytes + 1, 64);
    if (n) memcpy(t->data, src, t->nbytes);
}

static void import_constant(Importer *im, int idx) {
    const Onnx__NodeProto *np = im->gp->node[idx];
    const char *name = im->node_names[idx];
    if (np->n_output != 1 || !*np->output[0] || np->n_attribute != 1) {
        diag_file(im->d, im->path,
                  "node '%s' (Constant): needs exactly one output and one value attribute, "
                  "has %zu and %zu",
                  name, np->n_output, np->n_attribute);
        im->n_errors++;
        return;
    }
    const char *out = np->output[0];
    if (producer_of(im, out) != idx) return; /* a duplicate name, reported already */
    const Onnx__AttributeProto *ap = np->attribute[0];
    const char *attr = str(ap->name);
    const char *what = arena_printf(im->a, "node '%s' (Constant): attribute '%s'", name, attr);
    OnnxTensor t = {0};
    if (strcmp(attr, "value") == 0 && ap->t) {
        if (tensor_decode(im, ap->t, what, &t) != 0) {
            map_put(&im->failed, out, im);
            im->n_errors++;
            return;
        }
    } else if (strcmp(attr, "value_float") == 0) {
        constant_list(im->a, &t, DT_F32, 0, &ap->f, 1);
    } else if (strcmp(attr, "value_floats") == 0) {
        constant_list(im->a, &t, DT_F32, 1, ap->floats, ap->n_floats);
    } else if (strcmp(attr, "value_int") == 0) {
        constant_list(im->a, &t, DT_I64, 0, &ap->i, 1);
    } else if (strcmp(attr, "value_ints") == 0) {
        constant_list(im->a, &t, DT_I64, 1, ap->ints, ap->n_ints);
    } else {
        int known = strcmp(attr, "sparse_value") == 0 || strcmp(attr, "value_string") == 0 ||
                    strcmp(attr, "value_strings") == 0;
        diag_file(im->d, im->path, "%s is %s", what,
                  known ? "not supported" : "not a Constant attribute");
        if (known)
            diag_hint(im->d, "kiln supports dense numeric constants (value, value_float(s), "
                             "value_int(s))");
        map_put(&im->failed, out, im);
        im->n_errors++;
        return;
    }
    value_from_tensor(im, out, &t);
}

/* The ops.def convention: an op whose in-max is at least this is variadic
 * (Sum, Max, Concat). */
#define VARIADIC_IN_MAX 64

/* Input and output counts against the op's row in ops.def, and the
 * inputs it cannot do without: the first in_min, or every one of a
 * variadic op (Sum, Concat, ...), whose inputs ONNX never lets be omitted.
 * Shape functions rely on this: they read required inputs unchecked. */
static void check_arity(Importer *im, Node *n, const Onnx__NodeProto *np) {
    const OpInfo *info = op_info(n->op);
    int variadic = info->in_max >= VARIADIC_IN_MAX;
    if (np->n_input < (size_t)info->in_min || np->n_input > (size_t)info->in_max) {
        diag_node(im->d, n, "has %zu inputs, %s takes %d to %d", np->n_input, n->op_type,
                  info->in_min, info->in_max);
        diag_hint(im->d, "the model is malformed; check it with onnx.checker.check_model");
        im->n_errors++;
        return;
    }
    if (np->n_output < (size_t)info->out_min || np->n_output > (size_t)info->out_max) {
        diag_node(im->d, n, "has %zu outputs, %s gives %d to %d", np->n_output, n->op_type,
                  info->out_min, info->out_max);
        diag_hint(im->d, "the model is malformed; check it with onnx.checker.check_model");
        im->n_errors++;
        return;
    }
    for (size_t j = 0; j < np->n_input; j++)
        if (!*np->input[j] && (variadic || j < (size_t)info->in_min)) {
            diag_node(im->d, n, "input %zu is omitted (''), but %s requires it", j, n->op_type);
            diag_hint(im->d, "only optional inputs may be left out; the model is malformed");
            im->n_errors++;
        }
}

static void import_control(Importer *im, int idx, OpKind op);

static void import_node(Importer *im, int idx) {
    const Onnx__NodeProto *np = im->gp->node[idx];
    const char *op_type = str(np->op_type);
    int default_domain = is_default_domain(np->domain);
    OpKind op = op_lookup_domain(default_domain ? "" : np->domain, op_type);
    /* If.else and the like are the IR's own, not ops a model may use. */
    if (op_info(op)->flags & (OPF_REGION_ELSE | OPF_REGION_END | OPF_INTERNAL)) op = OP_UNKNOWN;
    if (op == OP_CONSTANT) {
        import_constant(im, idx);
        return;
    }
    if (op != OP_UNKNOWN && (op_info(op)->flags & OPF_REGION_BEGIN)) {
        import_control(im, idx, op);
        return;
    }

    /* Inputs: "" is an omitted optional input. A name nobody defines is
     * reported once the node exists, so the message can name it. */
    Value **in = arena_alloc_array(im->a, np->n_input + 1, sizeof(Value *));
    const char **missing = arena_alloc_array(im->a, np->n_input + 1, sizeof(char *));
    int n_missing = 0;
    for (size_t j = 0; j < np->n_input; j++) {
        const char *name = np->input[j];
        if (!*name) continue;
        in[j] = map_get(&im->values, name);
        if (!in[j] && !already_reported(im, name)) missing[n_missing++] = name;
    }
    /* Outputs: every one gets a Value; optional outputs the model skipped
     * ("") get a fresh name, since a NULL output would have no buffer. */
    Value **out = arena_alloc_array(im->a, np->n_output + 1, sizeof(Value *));
    int n_out = 0;
    for (size_t j = 0; j < np->n_output; j++) {
        const char *name = np->output[j];
        /* A duplicate, reported: of another node's output, or of this one's. */
        if (*name && (producer_of(im, name) != idx || map_get(&im->values, name))) continue;
        if (!*name)
            name = unique_name(im, arena_printf(im->a, "%s.unused%zu", im->node_names[idx], j));
        out[n_out++] = value_new(im, name, DT_UNDEF);
    }
    Node *n =
        ir_node_add(im->g, op, op_type, im->node_names[idx], (int)np->n_input, in, n_out, out);
    n->domain = default_domain ? "" : arena_strdup(im->a, np->domain);
    n->opset = domain_opset(im, n->domain);
    if (op != OP_UNKNOWN) check_arity(im, n, np);
    for (int k = 0; k < n_missing; k++) {
        diag_node(im->d, n, "input '%s' is not produced by any node, initializer or graph input",
                  missing[k]);
        im->n_errors++;
    }
    if (n_missing)
        diag_hint(im->d, "the model is incomplete; check the export (onnx.checker.check_model)");
    for (size_t j = 0; j < np->n_attribute; j++)
        import_attr(im, n, np->attribute[j]);
}

/* --- control flow: If, Loop, Scan ------------------------------------------------------ */

/* The importer's state of one scope, saved while a subgraph is imported. */
typedef struct Scope {
    const Onnx__GraphProto *gp;
    NameMap values, producers;
    const char **node_names;
    const char *prefix;
} Scope;

/* Enters subgraph gp of node `node`: a fresh scope whose values' parent is
 * the current one (outer values are visible, the subgraph's are not seen
 * outside). */
static void import_scope_enter(Importer *im, const Onnx__GraphProto *gp, const char *node,
                               Scope *saved) {
    *saved = (Scope){im->gp, im->values, im->producers, im->node_names, im->prefix};
    im->gp = gp;
    im->values = (NameMap){.a = im->a, .parent = &saved->values};
    im->producers = (NameMap){.a = im->a};
    im->prefix = arena_printf(im->a, "%s/", node);
    im->depth++;
}

static void import_scope_leave(Importer *im, const Scope *saved) {
    im->gp = saved->gp;
    im->values = saved->values;
    im->producers = saved->producers;
    im->node_names = saved->node_names;
    im->prefix = saved->prefix;
    im->depth--;
}

/* The subgraph's inputs as new values of its scope, into params. */
static void import_scope_params(Importer *im, const char *node, const char *op, const char *attr,
                                Value **params) {
    for (size_t i = 0; i < im->gp->n_input; i++) {
        const char *name = str(im->gp->input[i]->name);
        if (!*name) {
            diag_file(im->d, im->path, "node '%s' (%s): %s input %zu has no name", node, op, attr,
                      i);
            im->n_errors++;
            name = unique_name(im, arena_printf(im->a, "%s.param%zu", node, i));
        }
        params[i] = value_new(im, name, DT_UNDEF);
    }
}

/* The subgraph's initializers and nodes, appended to the graph in order. */
static void import_scope_nodes(Importer *im) {
    if (check_limits(im)) return;
    import_initializers(im);
    collect_producers(im);
    int n_order = 0;
    int *order = order_nodes(im, &n_order);
    for (int i = 0; i < n_order; i++)
        import_node(im, order[i]);
}

/* The subgraph's outputs, looked up in its scope (or an outer one). */
static void import_scope_results(Importer *im, const char *node, const char *op, const char *attr,
                                 Value **results) {
    for (size_t i = 0; i < im->gp->n_output; i++) {
        const char *name = str(im->gp->output[i]->name);
        results[i] = map_get(&im->values, name);
        if (results[i] || already_reported(im, name)) continue;
        diag_file(im->d, im->path,
                  "node '%s' (%s): %s output '%s' is not produced by any node of the subgraph or "
                  "a value of an enclosing graph",
                  node, op, attr, name);
        diag_hint(im->d, "the model is malformed; check it with onnx.checker.check_model");
        im->n_errors++;
    }
}

/* Attribute `attr` of NodeProto np as a subgraph; NULL with a diagnostic
 * if it is missing or not a graph. */
static const Onnx__GraphProto *graph_attr(Importer *im, const Onnx__NodeProto *np, const char *node,
                                          const char *attr) {
    for (size_t i = 0; i < np->n_attribute; i++) {
        const Onnx__AttributeProto *ap = np->attribute[i];
        if (strcmp(str(ap->name), attr) != 0) continue;
        if (attr_type(ap) == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH && ap->g) return ap->g;
        diag_file(im->d, im->path, "node '%s' (%s): attribute '%s' is not a graph", node,
                  str(np->op_type), attr);
        diag_hint(im->d, "the model is malformed; check it with onnx.checker.check_model");
        im->n_errors++;
        return NULL;
    }
    diag_file(im->d, im->path, "node '%s' (%s): the subgraph attribute '%s' is missing", node,
              str(np->op_type), attr);
    diag_hint(im->d, "the model is malformed; check it with onnx.checker.check_model");
    im->n_errors++;
    return NULL;
}

/* A problem with the node's or its subgraphs' arity: reported, and the
 * node's outputs marked as failed so that their readers are not reported
 * too. */
static int control_malformed(Importer *im, const Onnx__NodeProto *np, const char *node,
                             const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int control_malformed(Importer *im, const Onnx__NodeProto *np, const char *node,
                             const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    diag_file(im->d, im->path, "node '%s' (%s): %s", node, str(np->op_type), msg);
    diag_hint(im->d, "the model is malformed; check it with onnx.checker.check_model");
    im->n_errors++;
    for (size_t j = 0; j < np->n_output; j++)
        if (*np->output[j]) map_put(&im->failed, np->output[j], im);
    return -1;
}

/* The node's inputs from the current scope ("" omitted: NULL); 0, or -1
 * with each undefined one reported. */
static int control_inputs(Importer *im, const Onnx__NodeProto *np, const char *node, Value **in) {
    int bad = 0;
    for (size_t j = 0; j < np->n_input; j++) {
        const char *name = np->input[j];
        if (!*name) continue;
        if ((in[j] = map_get(&im->values, name))) continue;
        if (!already_reported(im, name)) {
            diag_file(im->d, im->path,
                      "node '%s' (%s): input '%s' is not produced by any node, initializer or "
                      "graph input",
                      node, str(np->op_type), name);
            im->n_errors++;
        }
        bad = 1;
    }
    return bad ? -1 : 0;
}

/* The node's outputs as new values of the current scope. */
static Value **control_outputs(Importer *im, int idx, int *n_out) {
    const Onnx__NodeProto *np = im->gp->node[idx];
    Value **out = arena_alloc_array(im->a, np->n_output + 1, sizeof(Value *));
    *n_out = 0;
    for (size_t j = 0; j < np->n_output; j++) {
        const char *name = np->output[j];
        if (*name && (producer_of(im, name) != idx || map_get(&im->values, name))) continue;
        if (!*name)
            name = unique_name(im, arena_printf(im->a, "%s.unused%zu", im->node_names[idx], j));
        out[(*n_out)++] = value_new(im, name, DT_UNDEF);
    }
    return out;
}

static Node *control_node_add(Importer *im, OpKind op, const Onnx__NodeProto *np, const char *node,
                              int n_in, Value **in, int n_out, Value **out) {
    Node *n = ir_node_add(im->g, op, str(np->op_type), node, n_in, in, n_out, out);
    n->opset = im->g->opset;
    return n;
}

/* The node's attributes but its subgraphs, onto n. */
static void control_attrs(Importer *im, Node *n, const Onnx__NodeProto *np) {
    for (size_t j = 0; j < np->n_attribute; j++)
        if (attr_type(np->attribute[j]) != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH)
            import_attr(im, n, np->attribute[j]);
}

/* Subgraph gp of NodeProto np (attribute `attr`), imported in a scope of
 * its own: with begin_op (OP_LOOP, OP_SCAN) its inputs first become the
 * outputs of a begin node of that op taking in[0..n_in); a branch
 * (OP_UNKNOWN) has none. Then its nodes, in place; its outputs go into
 * results. */
static void import_subgraph(Importer *im, const Onnx__GraphProto *gp, const Onnx__NodeProto *np,
                            const char *node, const char *attr, OpKind begin_op, Value **in,
                            int n_in, Value **results) {
    Scope saved;
    import_scope_enter(im, gp, node, &saved);
    if (begin_op != OP_UNKNOWN) {
        Value **params = arena_alloc_array(im->a, gp->n_input + 1, sizeof(Value *));
        import_scope_params(im, node, str(np->op_type), attr, params);
        Node *b = control_node_add(im, begin_op, np, node, n_in, in, (int)gp->n_input, params);
        control_attrs(im, b, np);
    }
    import_scope_nodes(im);
    import_scope_results(im, node, str(np->op_type), attr, results);
    import_scope_leave(im, &saved);
}

static int import_if(Importer *im, int idx) {
    const Onnx__NodeProto *np = im->gp->node[idx];
    const char *node = im->node_names[idx];
    const Onnx__GraphProto *then_g = graph_attr(im, np, node, "then_branch");
    const Onnx__GraphProto *else_g = graph_attr(im, np, node, "else_branch");
    if (!then_g || !else_g) return control_malformed(im, np, node, "cannot be compiled");
    if (np->n_input != 1 || !*np->input[0])
        return control_malformed(im, np, node, "has %zu inputs; If takes one, the condition",
                                 np->n_input);
    const Onnx__GraphProto *br[2] = {then_g, else_g};
    const char *names[2] = {"then_branch", "else_branch"};
    for (int b = 0; b < 2; b++) {
        if (br[b]->n_output != np->n_output)
            return control_malformed(im, np, node,
                                     "%s has %zu outputs, but the node has %zu: each branch must "
                                     "give one value per output of the If",
                                     names[b], br[b]->n_output, np->n_output);
        if (br[b]->n_input)
            return control_malformed(im, np, node,
                                     "%s has %zu inputs; If branches take none (they read the "
                                     "enclosing graph's values by name)",
                                     names[b], br[b]->n_input);
    }
    Value *cond = NULL;
    if (control_inputs(im, np, node, &cond)) return control_malformed(im, np, node, "has no input");
    size_t k = np->n_output;
    Value **results = arena_alloc_array(im->a, 2 * k + 1, sizeof(Value *));
    control_node_add(im, OP_IF, np, node, 1, &cond, 0, NULL);
    import_subgraph(im, then_g, np, node, "then_branch", OP_UNKNOWN, NULL, 0, results);
    control_node_add(im, OP_IF_ELSE, np, node, 0, NULL, 0, NULL);
    import_subgraph(im, else_g, np, node, "else_branch", OP_UNKNOWN, NULL, 0, results + k);
    int n_out;
    Value **out = control_outputs(im, idx, &n_out);
    if (n_out == (int)k)
        control_node_add(im, OP_IF_END, np, node, (int)(2 * k), results, n_out, out);
    return 0;
}

static int import_loop(Importer *im, int idx) {
    const Onnx__NodeProto *np = im->gp->node[idx];
    const char *node = im->node_names[idx];
    const Onnx__GraphProto *body = graph_attr(im, np, node, "body");
    if (!body) return control_malformed(im, np, node, "cannot be compiled without its body");
    if (np->n_input < 2)
        return control_malformed(im, np, node,
                                 "has %zu inputs; Loop takes M, cond (either may be '') and the "
                                 "loop-carried values",
                                 np->n_input);
    size_t n = np->n_input - 2;
    if (np->n_output < n)
        return control_malformed(im, np, node,
                                 "has %zu outputs but %zu loop-carried values: a Loop gives each "
                                 "carried value's final value, then its scan outputs",
                                 np->n_output, n);
    size_t k = np->n_output - n;
    if (body->n_input != n + 2 || body->n_output != n + 1 + k)
        return control_malformed(im, np, node,
                                 "the body has %zu inputs and %zu outputs; with %zu loop-carried "
                                 "values and %zu scan outputs it needs %zu inputs (iteration "
                                 "number, condition, carried values) and %zu outputs (condition, "
                                 "carried values, scan outputs)",
                                 body->n_input, body->n_output, n, k, n + 2, n + 1 + k);
    Value **in = arena_alloc_array(im->a, np->n_input + 1, sizeof(Value *));
    if (control_inputs(im, np, node, in)) return control_malformed(im, np, node, "is skipped");
    for (size_t j = 2; j < np->n_input; j++)
        if (!in[j])
            return control_malformed(im, np, node,
                                     "loop-carried value %zu is omitted (''); only M and cond may "
                                     "be",
                                     j - 2);
    Value **results = arena_alloc_array(im->a, body->n_output + 1, sizeof(Value *));
    import_subgraph(im, body, np, node, "body", OP_LOOP, in, (int)np->n_input, results);
    int n_out;
    Value **out = control_outputs(im, idx, &n_out);
    if (n_out == (int)np->n_output)
        control_node_add(im, OP_LOOP_END, np, node, (int)body->n_output, results, n_out, out);
    return 0;
}

static int import_scan(Importer *im, int idx) {
    const Onnx__NodeProto *np = im->gp->node[idx];
    const char *node = im->node_names[idx];
    const Onnx__GraphProto *body = graph_attr(im, np, node, "body");
    if (!body) return control_malformed(im, np, node, "cannot be compiled without its body");
    int64_t m = -1;
    for (size_t j = 0; j < np->n_attribute; j++)
        if (strcmp(str(np->attribute[j]->name), "num_scan_inputs") == 0) m = np->attribute[j]->i;
    /* Opset 8's Scan takes sequence_lens first and has a batch axis: kiln
     * compiles it without sequence_lens (every sequence whole) and with a
     * batch of 1 (shape_scan). */
    size_t first = im->g->opset < 9;
    if (first && np->n_input && *np->input[0])
        return control_malformed(im, np, node,
                                 "sequence_lens is given; kiln compiles an opset 8 Scan only "
                                 "without it (every sequence scanned whole)");
    if (m < 1 || (size_t)m + first > np->n_input)
        return control_malformed(im, np, node,
                                 "num_scan_inputs is %lld, but the node has %zu inputs: it must "
                                 "be from 1 to the number of inputs",
                                 (long long)m, np->n_input);
    size_t n = np->n_input - first - (size_t)m;
    if (np->n_output < n)
        return control_malformed(im, np, node,
                                 "has %zu outputs but %zu state variables: a Scan gives each "
                                 "state's final value, then its scan outputs",
                                 np->n_output, n);
    size_t k = np->n_output - n;
    if (body->n_input != n + (size_t)m || body->n_output != n + k)
        return control_malformed(im, np, node,
                                 "the body has %zu inputs and %zu outputs; with %zu states, %lld "
                                 "scan inputs and %zu scan outputs it needs %zu and %zu",
                                 body->n_input, body->n_output, n, (long long)m, k, n + (size_t)m,
                                 n + k);
    Value **in = arena_alloc_array(im->a, np->n_input + 1, sizeof(Value *));
    if (control_inputs(im, np, node, in)) return control_malformed(im, np, node, "is skipped");
    for (size_t j = first; j < np->n_input; j++)
        if (!in[j])
            return control_malformed(im, np, node, "input %zu is omitted (''); Scan needs all", j);
    Value **results = arena_alloc_array(im->a, body->n_output + 1, sizeof(Value *));
    import_subgraph(im, body, np, node, "body", OP_SCAN, in + first, (int)(np->n_input - first),
                    results);
    int n_out;
    Value **out = control_outputs(im, idx, &n_out);
    if (n_out != (int)np->n_output) return 0;
    Node *e = control_node_add(im, OP_SCAN_END, np, node, (int)body->n_output, results, n_out, out);
    control_attrs(im, e, np);
    return 0;
}

/* An If, Loop or Scan becomes a region of the node list (ops_control.def):
 * its begin node, its subgraphs' nodes in place, its end node. */
static void import_control(Importer *im, int idx, OpKind op) {
    if (op == OP_IF)
        (void)import_if(im, idx);
    else if (op == OP_LOOP)
        (void)import_loop(im, idx);
    else
        (void)import_scan(im, idx);
}

/* --- graph outputs ------------------------------------------------------------------- */

/* Takes the declared type of an output when it is fully expressible: the
 * leading dim may be symbolic (the batch), no other. */
static void output_type_from_model(Value *v, const Onnx__ValueInfoProto *vi) {
    const Onnx__TypeProto__Tensor *tt = tensor_type(vi);
    if (!tt || v->data || v->input_index >= 0) return;
    if (v->dtype == DT_UNDEF && tt->has_elem_type) v->dtype = elem_dtype(tt);
    v->decl_dtype = v->dtype;
    const Onnx__TensorShapeProto *sp = tt->shape;
    if (!sp || sp->n_dim > IR_MAX_RANK || v->shape.rank >= 0) return;
    Shape s = {.rank = (int)sp->n_dim};
    int fixed = 1;
    for (size_t i = 0; i < sp->n_dim; i++) {
        const Onnx__TensorShapeProto__Dimension *dim = sp->dim[i];
        if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
            dim->dim_value >= 0)
            s.dims[i] = dim->dim_value;
        else
            s.dims[i] = DIM_INVALID, fixed = 0;
    }
    if (fixed) v->shape = s;
    v->decl_shape = s;
}

static void import_outputs(Importer *im) {
    const Onnx__GraphProto *gp = im->gp;
    if (gp->n_output == 0) {
        diag_file(im->d, im->path, "the graph has no outputs");
        im->n_errors++;
    }
    for (size_t i = 0; i < gp->n_output; i++) {
        const char *name = str(gp->output[i]->name);
        Value *v = map_get(&im->values, name);
        if (!v) {
            if (already_reported(im, name)) continue;
            diag_file(im->d, im->path,
                      "graph output '%s' is not produced by any node, initializer or graph input",
                      name);
            im->n_errors++;
            continue;
        }
        ir_graph_add_output(im->g, v);
        output_type_from_model(v, gp->output[i]);
    }
}

/* --- entry point ---------------------------------------------------------------------- */

static int import_model(Arena *a, const char *path, const Onnx__ModelProto *m,
                        const OnnxShapeFlags *flags, Graph **out, Diag *d) {
    Importer im = {.a = a, .d = d, .path = path, .m = m, .gp = m->graph, .prefix = ""};
    im.values.a = im.producers.a = im.failed.a = im.ir_names.a = a;
    im.g = ir_graph_create(a, path);
    if (m->graph->name && *m->graph->name) im.g->name = arena_strdup(a, m->graph->name);
    if (check_limits(&im)) return -1;
    import_opsets(&im);
    import_initializers(&im);
    import_inputs(&im, flags);
    collect_producers(&im);
    im.main_producers = im.producers;
    int n_order = 0;
    int *order = order_nodes(&im, &n_order);
    for (int i = 0; i < n_order; i++)
        import_node(&im, order[i]);
    import_outputs(&im);
    if (im.n_errors) return -1;
    *out = im.g;
    return 0;
}

int onnx_load(Arena *a, const char *path, const uint8_t *buf, size_t len,
              const OnnxShapeFlags *flags, Graph **out, Diag *d) {
    int rc = -1;
    Onnx__ModelProto *m = NULL;
    *out = NULL;
    /* Before protobuf-c, whose recursive decoder has no depth limit. */
    ProtoDepth depth = onnx_proto_depth_check(buf, len);
    if (depth == PROTO_DEPTH_GRAPHS || depth == PROTO_DEPTH_TYPES) {
        diag_file(d, path, "%s are nested more than %d deep, above kiln's limit",
                  depth == PROTO_DEPTH_GRAPHS ? "subgraphs (If/Loop/Scan bodies)"
                                              : "types (sequence, map or optional types)",
                  KILN_MAX_NESTING);
        diag_hint(d, "no real model nests this deep; the file is corrupt or crafted");
        return -1;
    }
    if (depth == PROTO_DEPTH_OK) m = onnx__model_proto__unpack(NULL, len, buf);
    if (!m || !m->graph) {
        diag_file(d, path, "not a valid ONNX model (%s)",
                  m ? "it has no graph" : "protobuf decode failed");
        diag_hint(d, "the file is truncated or is not an .onnx model; export it again with "
                     "torch.onnx.export or onnx.save");
        goto out;
    }
    rc = import_model(a, path, m, flags, out, d);
out:
    if (m) onnx__model_proto__free_unpacked(m, NULL); /* the graph holds copies only */
    return rc;
}
