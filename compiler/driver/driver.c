/* driver.c: the kiln commands, from model file to result. */
#include "driver.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "codegen.h"
#include "header.h"
#include "link.h"
#include "package.h"
#include "passes.h"

#include <jansson.h>

/* Room for "import", the passes and the NULL at the end. */
#define MAX_PASSES 30

const char *const *driver_pass_names(void) {
    static const char *names[MAX_PASSES + 2];
    int n;
    const PassInfo *pipeline = passes_pipeline(&n);
    assert(n <= MAX_PASSES);
    names[0] = "import";
    for (int i = 0; i < n; i++)
        names[i + 1] = pipeline[i].name;
    return names;
}

/* Runs the pipeline up to and including the pass named `until` (NULL:
 * all). A pass has failed if it returned -1 or reported an error; one that
 * returns -1 without saying why is kiln's bug, reported as an internal
 * error (exit 3) rather than a silent failure. */
/* --loop-bound: each Loop's bound as its attribute kiln_loop_bound, which
 * shape inference reads (passes/shapes_control.c); a flag with a NODE
 * overrides one without. -1 (exit 2) if a NODE names no Loop. */
static int apply_loop_bounds(Graph *g, const DriverOptions *o, Diag *d) {
    int rc = 0;
    for (int named = 0; named < 2; named++)
        for (int f = 0; f < o->n_loop_bounds; f++) {
            const DriverLoopBound *lb = &o->loop_bounds[f];
            if ((lb->node != NULL) != named) continue;
            int found = 0;
            for (int i = 0; i < g->n_nodes; i++) {
                Node *n = g->nodes[i];
                if (n->op != OP_LOOP || (lb->node && strcmp(n->name, lb->node) != 0)) continue;
                ir_attr_set(n, "kiln_loop_bound", ATTR_INT)->i = lb->n;
                found = 1;
            }
            if (lb->node && !found) {
                diag_usage(d, "--loop-bound: the model has no Loop node named '%s'", lb->node);
                diag_hint(d, "`kiln check MODEL --dump-after import` shows the nodes by name");
                rc = -1;
            }
        }
    return rc;
}

/* Whether name is an entry of the comma-separated list. */
static int pass_listed(const char *list, const char *name) {
    size_t len = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == len && strncmp(p, name, len) == 0) return 1;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

static int run_pipeline(Graph *g, const DriverOptions *o, const char *until, Diag *d) {
    if (apply_loop_bounds(g, o, d)) return -1;
    if (o->dump_after && strcmp(o->dump_after, "import") == 0) ir_graph_print(g, stdout);
    int n;
    const PassInfo *pipeline = passes_pipeline(&n);
    /* KILN_SKIP_PASSES=a,b (a developer's aid, like KILN_NOINLINE_KERNELS):
     * leaves out those optimisation passes, to measure what one buys.
     * Analysis passes always run. */
    const char *skip = getenv("KILN_SKIP_PASSES");
    for (int i = 0; i < n; i++) {
        if (skip && !pipeline[i].analysis && pass_listed(skip, pipeline[i].name)) continue;
        int before = diag_count(d);
        int rc = pipeline[i].fn(g, d);
        /* A pass that reports an error returns -1 (and is treated as failed
         * here even if it did not). */
        assert(rc == -1 || (rc == 0 && diag_count(d) == before));
        if (rc != 0 && diag_count(d) == before)
            diag_env(d, "internal error: pass '%s' failed without a diagnostic", pipeline[i].name);
        if (diag_count(d) > before && !pipeline[i].analysis) return -1;
        if (diag_count(d) && !(i + 1 < n && pipeline[i + 1].analysis)) return -1;
#ifndef NDEBUG
        if (ir_graph_verify(g, d)) {
            fprintf(stderr, "kiln: internal error: graph invalid after pass '%s'\n",
                    pipeline[i].name);
            abort();
        }
#endif
        if (o->dump_after && strcmp(o->dump_after, pipeline[i].name) == 0)
            ir_graph_print(g, stdout);
        if (until && strcmp(until, pipeline[i].name) == 0) break;
    }
    return 0;
}

static int exit_code(const Diag *d, int rc) {
    if (rc == 0 && diag_count(d) == 0) return EXIT_OK;
    return d->exit_code ? d->exit_code : EXIT_MODEL;
}

/* --- small helpers ---------------------------------------------------------------- */

/* A JSON string for s. jansson takes only UTF-8, while paths and names are
 * bytes: in a string that is not UTF-8 every byte over 0x7f becomes '?'. */
static json_t *json_text(const char *s) {
    if (!s) s = "";
    json_t *j = json_string(s);
    if (j) return j;
    char *t = strdup(s);
    for (char *p = t; p && *p; p++)
        if ((unsigned char)*p >= 0x80) *p = '?';
    j = t ? json_string(t) : NULL;
    free(t);
    return j;
}

/* j as text (malloc'd), laid out as Python's json.dumps does: ", " and
 * ": " separators, keys in insertion order. Releases j. A NULL j or a
 * failed dump is jansson running out of memory: exit 3 like the arena. */
static char *json_text_dump(json_t *j) {
    char *s = j ? json_dumps(j, JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    if (!s) {
        fputs("kiln: out of memory\n", stderr);
        exit(EXIT_ENV);
    }
    return s;
}

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* The model name: --name, or the file's stem with anything outside
 * [A-Za-z0-9._-] replaced by '-', since it appears in URLs. */
static const char *model_name(Arena *a, const DriverOptions *o) {
    if (o->name) return o->name;
    char *s = arena_strdup(a, base_name(o->model));
    char *dot = strrchr(s, '.');
    if (dot && dot != s) *dot = 0;
    for (char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            *p = '-';
    return s;
}

void driver_sha256_hex(const void *data, size_t len, char hex[65]) {
    pkg_sha256_hex(data, len, hex);
}

/* Reads the model file once and imports it; sha256 (NULL: not wanted)
 * gets the hex digest of the very bytes imported. */
static int load(Arena *a, const DriverOptions *o, Graph **g, char sha256[65], Diag *d) {
    size_t len = 0;
    uint8_t *buf = file_read(o->model, &len, d);
    *g = NULL;
    if (!buf) return -1;
    if (sha256) driver_sha256_hex(buf, len, sha256);
    OnnxShapeFlags flags = {o->pins, o->n_pins, o->dims, o->n_dims};
    int rc = model_load(a, o->model, buf, len, &flags, g, d); /* ONNX or XGBoost */
    free(buf);
    return rc;
}

/* --- compile ------------------------------------------------------------------------- */

/* A release artifact (--emit archive or oci) is a function of its inputs
 * and SOURCE_DATE_EPOCH alone. */
static int emit_is_release(const char *emit) {
    return strcmp(emit, "archive") == 0 || strcmp(emit, "oci") == 0;
}

/* The class labels of each ZipMap, by its output: kiln serves a ZipMap as
 * the probabilities tensor itself (its column j is the class labels[j]),
 * so the labels travel in the model's metadata. NULL if g has no ZipMap. */
static json_t *zipmap_labels_json(const Graph *g) {
    json_t *all = NULL;
    for (int i = 0; i < g->n_nodes; i++) {
        const Node *n = g->nodes[i];
        if (n->op != OP_ZIP_MAP || n->dead) continue;
        const Attr *li = ir_attr(n, "classlabels_int64s"), *ls = ir_attr(n, "classlabels_strings");
        json_t *labels = json_array();
        for (int k = 0; li && k < li->n; k++)
            json_array_append_new(labels, json_integer(li->ints[k]));
        for (int k = 0; !li && ls && k < ls->n; k++)
            json_array_append_new(labels, json_text(ls->strings[k]));
        if (!all) all = json_object();
        json_object_set_new(all, n->outputs[0]->name, labels);
    }
    return all;
}

/* rel (NULL but for --emit archive|oci) gives the flags and build time: the
 * command line without paths, and SOURCE_DATE_EPOCH even when unset. */
static char *build_info_json(const DriverOptions *o, const Codegen *cg, const PkgRelease *rel,
                             const Graph *g) {
    const char *epoch = getenv("SOURCE_DATE_EPOCH");
    long long t = rel ? rel->epoch : epoch && *epoch ? atoll(epoch) : (long long)time(NULL);
    json_t *flags = json_array();
    for (int i = 1; !rel && i < o->argc; i++)
        json_array_append_new(flags, json_text(o->argv[i]));
    for (int i = 1; rel && i < rel->n_command; i++)
        json_array_append_new(flags, json_text(rel->command[i]));
    json_t *info =
        json_pack("{s:s, s:o, s:o, s:o, s:i, s:I, s:o}", "kiln_version", KILN_VERSION, "source",
                  json_text(base_name(o->model)), "target", json_text(codegen_triple(cg)), "cpu",
                  json_text(codegen_cpu(cg)), "opt_level", o->opt_level, "build_time",
                  (json_int_t)t, "flags", flags);
    json_t *zipmap = zipmap_labels_json(g);
    if (zipmap) json_object_set_new(info, "zipmap_labels", zipmap);
    return json_text_dump(info);
}

static int emit_kind(const char *emit, CodegenFileKind *kind) {
    if (strcmp(emit, "obj") == 0 || strcmp(emit, "exe") == 0 || strcmp(emit, "lib") == 0 ||
        emit_is_release(emit))
        *kind = CG_FILE_OBJECT;
    else if (strcmp(emit, "asm") == 0)
        *kind = CG_FILE_ASM;
    else if (strcmp(emit, "llvm") == 0)
        *kind = CG_FILE_LLVM;
    else
        return -1;
    return 0;
}

/* --emit obj|lib: the header goes next to -o, named like it with its
 * extension (if any) replaced by .h: fraud.o -> fraud.h, libfraud.a ->
 * libfraud.h. 0 ok; -1 with a usage diagnostic when that would be -o
 * itself or too long. */
static int header_path(const char *out, char path[PATH_MAX], Diag *d) {
    const char *base = base_name(out), *dot = strrchr(base, '.');
    int stem = dot && dot != base ? (int)(dot - out) : (int)strlen(out);
    if (snprintf(path, PATH_MAX, "%.*s.h", stem, out) >= PATH_MAX) {
        diag_usage(d, "output path '%s' is too long", out);
        return -1;
    }
    if (strcmp(path, out) == 0) {
        diag_usage(d, "-o '%s': the model's header would be written over it", out);
        diag_hint(d, "name the object NAME.o (or the library libNAME.a); the header is NAME.h");
        return -1;
    }
    return 0;
}

/* Writes the header for g to a temporary beside path (committed by the
 * caller, like -o) and names it in tmp. 0 ok; -1 with a diagnostic. */
static int write_header(const Graph *g, const HeaderModel *m, const char *path, char tmp[PATH_MAX],
                        Diag *d) {
    if (link_output_begin(path, tmp, d)) return -1;
    const char *dest = tmp[0] ? tmp : path;
    FILE *f = fopen(dest, "w");
    if (!f || header_write(f, g, m) || fclose(f) != 0) {
        diag_env(d, "cannot write '%s': %s", path, strerror(errno));
        if (f) fclose(f);
        return -1;
    }
    return 0;
}

/* --- compile --emit archive|oci --------------------------------------------------------- */

/* The command line as the manifest and the binary's build info record it:
 * "kiln", then argv without -o and its path, with the model as its base
 * name, so the archive does not depend on where it was built or written. */
static void release_command(Arena *a, const DriverOptions *o, PkgRelease *rel) {
    const char **cmd = arena_alloc(a, sizeof(char *) * (size_t)(o->argc + 1));
    int n = 0;
    cmd[n++] = "kiln";
    for (int i = 1; i < o->argc; i++) {
        const char *arg = o->argv[i];
        size_t len = strlen(arg);
        if (!strcmp(arg, "-o") || !strcmp(arg, "--out-dir")) {
            i++; /* and its value */
            continue;
        }
        uintptr_t at = (uintptr_t)o->out, from = (uintptr_t)arg; /* -oPATH, --out=PATH */
        if (!strncmp(arg, "-o", 2) || !strncmp(arg, "--out-dir=", 10) ||
            (at >= from && at <= from + len))
            continue;
        if (i + 1 < o->argc && o->out == o->argv[i + 1] && !strncmp(arg, "--", 2)) {
            i++; /* an abbreviation such as --out PATH */
            continue;
        }
        cmd[n++] = arg == o->model ? base_name(arg) : arg;
    }
    rel->command = cmd;
    rel->n_command = n;
}

static PkgTensor *release_tensors(Arena *a, Value **vs, int n) {
    PkgTensor *ts = arena_alloc(a, sizeof(PkgTensor) * (size_t)(n + 1));
    for (int i = 0; i < n; i++)
        ts[i] = (PkgTensor){vs[i]->name, dtype_onnx_name(vs[i]->dtype), vs[i]->shape.rank,
                            vs[i]->shape.dims};
    return ts;
}

/* What the archive says about g and cg, but the binary (see
 * write_release). The model's size is that of the file just imported. */
static void release_describe(Arena *a, const DriverOptions *o, const Graph *g, const Codegen *cg,
                             const char *sha, PkgRelease *rel) {
    struct stat st;
    rel->model_file = base_name(o->model);
    rel->model_sha256 = sha;
    rel->model_size = stat(o->model, &st) == 0 ? (uint64_t)st.st_size : 0;
    rel->inputs = release_tensors(a, g->inputs, g->n_inputs);
    rel->n_inputs = g->n_inputs;
    rel->outputs = release_tensors(a, g->outputs, g->n_outputs);
    rel->n_outputs = g->n_outputs;
    /* The default domain first, then each other domain a node uses. */
    PkgOpset *ops = arena_alloc(a, sizeof(PkgOpset) * (size_t)(g->n_nodes + 1));
    int n_ops = 0;
    ops[n_ops++] = (PkgOpset){"", g->opset};
    for (int i = 0; i < g->n_nodes; i++) {
        const Node *nd = g->nodes[i];
        if (!nd->domain || !nd->domain[0] || !strcmp(nd->domain, "ai.onnx")) continue;
        int k = 1;
        while (k < n_ops && strcmp(ops[k].domain, nd->domain) != 0)
            k++;
        if (k == n_ops) ops[n_ops++] = (PkgOpset){nd->domain, nd->opset};
    }
    rel->opsets = ops;
    rel->n_opsets = n_ops;
    rel->triple = codegen_triple(cg);
    /* codegen_cpu() is one CPU or a comma-separated list of them. */
    char *cpus = arena_strdup(a, codegen_cpu(cg));
    const char **list = arena_alloc(a, sizeof(char *) * (strlen(cpus) + 2));
    int n_cpus = 0;
    for (char *save = NULL, *c = strtok_r(cpus, ",", &save); c; c = strtok_r(NULL, ",", &save))
        list[n_cpus++] = c;
    rel->cpus = list;
    rel->n_cpus = n_cpus;
}

/* The CPUs to compile for: --cpu, else for the release kinds on x86-64
 * the portable levels (they run on machines kiln never saw), else NULL,
 * the build host's CPU (fastest there; on an older CPU the binary exits 3
 * naming what it lacks). */
static const char *release_cpu(const DriverOptions *o) {
    if (o->cpu || !emit_is_release(o->emit)) return o->cpu;
#if defined(__x86_64__)
    int x86 = !o->triple || strncmp(o->triple, "x86_64", 6) == 0;
#else
    int x86 = o->triple && strncmp(o->triple, "x86_64", 6) == 0;
#endif
    return x86 ? DRIVER_PORTABLE_CPUS : NULL;
}

/* --emit archive|oci: links the service as --emit exe does, into tmpdir,
 * and writes the release archive or the OCI image of it to dest (shown as
 * o->out). */
static int write_release(const DriverOptions *o, Codegen *cg, PkgRelease *rel, const char *tmpdir,
                         const char *dest, Diag *d) {
    char obj[PATH_MAX + 16], exe[PATH_MAX + 16];
    snprintf(obj, sizeof obj, "%s/model.o", tmpdir);
    snprintf(exe, sizeof exe, "%s/service", tmpdir);
    if (codegen_emit_file(cg, obj, CG_FILE_OBJECT, d) ||
        link_service(tmpdir, obj, exe, o->out, o->triple ? codegen_triple(cg) : NULL, d))
        return -1;
    size_t len = 0;
    uint8_t *bin = file_read(exe, &len, d);
    unlink(exe);
    if (!bin) return -1;
    rel->binary = bin;
    rel->binary_len = len;
    int rc = -1, fd = open(dest, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (fd < 0) {
        diag_env(d, "cannot write '%s': %s", o->out, strerror(errno));
    } else {
        if (strcmp(o->emit, "archive") == 0) {
            rc = pkg_archive_write(rel, fd, o->out, d);
        } else {
            PkgOciImage img = {rel->name, rel->version, rel->model_sha256, rel->triple, rel->epoch,
                               bin,       len};
            rc = pkg_oci_write(&img, fd, o->out, d);
        }
        if (close(fd) != 0 && rc == 0) {
            diag_env(d, "cannot write '%s': %s", o->out, strerror(errno));
            rc = -1;
        }
    }
    free(bin);
    rel->binary = NULL;
    return rc;
}

/* KILN_TIME_PHASES=1: print how long each compile phase took to stderr. */
static double phase_mark(const char *phase, double since) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double now = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    if (phase && getenv("KILN_TIME_PHASES"))
        fprintf(stderr, "kiln: %-8s %.3f s\n", phase, now - since);
    return now;
}

int driver_compile(const DriverOptions *o) {
    Diag d;
    diag_init(&d, stderr);
    CodegenFileKind kind;
    if (emit_kind(o->emit, &kind)) {
        diag_usage(&d, "unknown --emit '%s'", o->emit);
        diag_hint(&d, "choose one of exe, obj, lib, llvm, asm, archive, oci");
        return EXIT_USAGE;
    }
    int release = emit_is_release(o->emit);
    PkgRelease rel = {0};
    if (release && pkg_source_date_epoch(&rel.epoch, &d)) return exit_code(&d, -1);
    if (release && pkg_release_version_check(o->version ? o->version : "1", &d)) return EXIT_USAGE;
    /* obj and lib are for embedding: they come with a header and export
     * kiln_model_<name>, which two models in one program do not share. */
    int embed = strcmp(o->emit, "obj") == 0 || strcmp(o->emit, "lib") == 0;
    char header[PATH_MAX] = "", tmp_header[PATH_MAX] = "";
    if (embed && header_path(o->out, header, &d)) return EXIT_USAGE;
    Arena *a = arena_create(1 << 20);
    Graph *g = NULL;
    Codegen *cg = NULL;
    char *info = NULL;
    char tmpdir[PATH_MAX] = "", tmp_out[PATH_MAX] = "";
    int rc = -1;
    char sha[65];

    double t = phase_mark(NULL, 0);
    if (load(a, o, &g, sha, &d)) goto out;
    t = phase_mark("import", t);
    if (run_pipeline(g, o, NULL, &d)) goto out;
    t = phase_mark("passes", t);
    CodegenOptions co = {
        o->triple, release_cpu(o), o->opt_level, model_name(a, o), o->version ? o->version : "1",
        sha,       NULL,           o->trees,     o->conv};
    if (!(cg = codegen_create(&co, &d))) goto out;
    if ((strcmp(o->emit, "exe") == 0 || release) &&
        link_target_check(o->triple ? codegen_triple(cg) : NULL, &d))
        goto out;
    if (!strcmp(o->emit, "oci") && pkg_oci_check(co.name, co.version, codegen_triple(cg), &d))
        goto out;
    if (release) {
        rel.name = co.name;
        rel.version = co.version;
        release_command(a, o, &rel);
        release_describe(a, o, g, cg, sha, &rel);
    }
    info = build_info_json(o, cg, release ? &rel : NULL, g);
    codegen_set_build_info(cg, info);
    HeaderModel hm = {co.name, co.version, header_ident(a, co.name)};
    if (embed) codegen_set_symbol(cg, arena_printf(a, "kiln_model_%s", hm.ident));
    if (codegen_build(cg, g, &d)) goto out;
    t = phase_mark("codegen", t);
    /* Written under a temporary name and renamed into place only when
     * complete: a failed compile never leaves a partial -o file. */
    if (link_output_begin(o->out, tmp_out, &d)) goto out;
    const char *dest = tmp_out[0] ? tmp_out : o->out;
    if (release) {
        if (link_tempdir_create(tmpdir, &d) || write_release(o, cg, &rel, tmpdir, dest, &d))
            goto out;
    } else if (strcmp(o->emit, "lib") == 0) {
        char obj[PATH_MAX + 16];
        if (link_tempdir_create(tmpdir, &d)) goto out;
        snprintf(obj, sizeof obj, "%s/model.o", tmpdir);
        if (codegen_emit_file(cg, obj, CG_FILE_OBJECT, &d) ||
            link_archive(tmpdir, obj, dest, o->out, &d))
            goto out;
    } else if (strcmp(o->emit, "exe") != 0) {
        if (codegen_emit_file(cg, dest, kind, &d)) goto out;
        t = phase_mark("emit", t);
    } else {
        char obj[PATH_MAX + 16];
        if (link_tempdir_create(tmpdir, &d)) goto out;
        snprintf(obj, sizeof obj, "%s/model.o", tmpdir);
        if (codegen_emit_file(cg, obj, CG_FILE_OBJECT, &d)) goto out;
        t = phase_mark("emit", t);
        if (link_service(tmpdir, obj, dest, o->out, o->triple ? codegen_triple(cg) : NULL, &d))
            goto out;
        t = phase_mark("link", t);
    }
    if (embed && write_header(g, &hm, header, tmp_header, &d)) goto out;
    if (tmp_out[0]) {
        int committed = link_output_commit(tmp_out, o->out, &d);
        tmp_out[0] = 0;
        if (committed) goto out;
    }
    if (tmp_header[0]) {
        int committed = link_output_commit(tmp_header, header, &d);
        tmp_header[0] = 0;
        if (committed) goto out;
    }
    rc = 0;
out:
    if (tmp_out[0]) unlink(tmp_out);
    if (tmp_header[0]) unlink(tmp_header);
    if (tmpdir[0]) link_tempdir_remove(tmpdir);
    codegen_destroy(cg);
    free(info);
    arena_destroy(a);
    return exit_code(&d, rc);
}

/* --- verify ------------------------------------------------------------------------------ */

int driver_verify(const DriverOptions *o) {
    Diag d;
    diag_init(&d, stderr);
    int rc = pkg_archive_verify(o->model, stdout, &d);
    return exit_code(&d, rc);
}

/* --- run ---------------------------------------------------------------------------------- */

/* Output file name: every character outside [A-Za-z0-9._-] becomes '_'. */
static char *npy_path(Arena *a, const char *dir, const char *name) {
    char *s = arena_strdup(a, name);
    for (char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            *p = '_';
    if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0) s = arena_printf(a, "_%s", s);
    return arena_printf(a, "%s/%s.npy", dir, s);
}

/* Matches the tensors given on the command line to the graph inputs and
 * checks them against the model; pins[i] gets input i's shape. */
static int bind_inputs(Arena *a, const DriverOptions *o, const Graph *g, HostTensor *bound,
                       OnnxPin *pins, Diag *d) {
    int next_pos = 0, bad = 0;
    char *given = arena_alloc(a, (size_t)g->n_inputs + 1);
    for (int i = 0; i < o->n_inputs; i++) {
        const char *arg = o->inputs[i], *file = arg;
        int idx = -1;
        const char *eq = strchr(arg, '=');
        if (eq) {
            char *name = arena_strdup(a, arg);
            name[eq - arg] = 0;
            for (int k = 0; k < g->n_inputs; k++)
                if (strcmp(g->inputs[k]->name, name) == 0) idx = k;
            if (idx >= 0) file = eq + 1;
        }
        if (idx < 0) {
            while (next_pos < g->n_inputs && given[next_pos])
                next_pos++;
            if (next_pos >= g->n_inputs) {
                diag_usage(d, "--input '%s': the model has only %d input(s)", arg, g->n_inputs);
                return -1;
            }
            idx = next_pos;
        }
        if (given[idx]) {
            diag_usage(d, "input '%s' is given twice", g->inputs[idx]->name);
            return -1;
        }
        given[idx] = 1;
        if (tensor_read(a, file, &bound[idx], d)) {
            bad = 1;
            continue;
        }
    }
    if (bad) return -1;
    /* Each symbol takes its size from the first input that has it. */
    int64_t sym_val[DIM_MAX_SYMS];
    const char *sym_from[DIM_MAX_SYMS] = {0};
    for (int k = 0; k < g->n_inputs; k++) {
        const Value *v = g->inputs[k];
        const HostTensor *t = &bound[k];
        char want[160], got[160];
        if (!given[k]) {
            diag_file(d, o->model, "input '%s' (%s%s) is not given", v->name,
                      dtype_onnx_name(v->dtype), shape_str(&v->shape, want, sizeof want));
            diag_hint(d, "pass it with --input %s=FILE.npy", v->name);
            bad = 1;
            continue;
        }
        Shape ts = {t->rank, {0}};
        memcpy(ts.dims, t->dims, sizeof(int64_t) * (size_t)t->rank);
        int ok = t->dtype == v->dtype && t->rank == v->shape.rank;
        for (int j = 0; ok && j < t->rank; j++) {
            int s = dim_sym_of(v->shape.dims[j]);
            if (s < 0) {
                ok = t->dims[j] == v->shape.dims[j];
            } else if (!sym_from[s]) {
                sym_val[s] = t->dims[j];
                sym_from[s] = v->name;
                ok = t->dims[j] >= 1 && t->dims[j] <= KILN_MAX_DIM;
            } else if (t->dims[j] != sym_val[s]) {
                diag_file(d, o->model,
                          "input '%s' dim %d (%s) is %lld, but input '%s' gives %s = %lld", v->name,
                          j, dim_sym_name(s), (long long)t->dims[j], sym_from[s], dim_sym_name(s),
                          (long long)sym_val[s]);
                diag_hint(d, "inputs that share a dynamic dim must agree on its size");
                bad = 1;
                ok = 2;
                break;
            }
        }
        if (!ok) {
            diag_file(d, o->model, "input '%s': got %s%s, expected %s%s", v->name,
                      dtype_onnx_name(t->dtype), shape_str(&ts, got, sizeof got),
                      dtype_onnx_name(v->dtype), shape_str(&v->shape, want, sizeof want));
            bad = 1;
        }
        if (ok == 2) continue;
        /* The pin that specialises the model to this tensor's shape. */
        OnnxPin *p = &pins[k];
        p->name = v->name;
        p->rank = t->rank;
        for (int j = 0; j < t->rank && j < IR_MAX_RANK; j++) /* the dynamic dims only */
            p->lo[j] = p->hi[j] = dim_sym_of(v->shape.dims[j]) >= 0 ? t->dims[j] : -1;
    }
    return bad ? -1 : 0;
}

/* Marks v and, through their producers, the values it is computed from
 * (not through Shape and Size, which read only shapes). */
static void mark_sources(const Graph *g, Value *v, char *mark) {
    Value **stack = arena_alloc_array(g->arena, (size_t)g->n_values + 1, sizeof(Value *));
    int n = 0;
    if (!mark[v->id]) stack[n++] = v, mark[v->id] = 1;
    while (n) {
        const Node *p = stack[--n]->producer;
        if (!p || p->op == OP_SHAPE || p->op == OP_SIZE) continue;
        for (int j = 0; j < p->n_inputs; j++)
            if (p->inputs[j] && !mark[p->inputs[j]->id])
                stack[n++] = p->inputs[j], mark[p->inputs[j]->id] = 1;
    }
}

/* Graph inputs from which a slot that must be known at compile time (a
 * Reshape's shape, Pad's pads, ...) is computed become constants: `kiln
 * run` knows their values, and kiln compiles every shape ahead of time.
 * A Loop's trip count and condition count as such slots: known, they
 * give its scan outputs their length. The rest stay inputs, compacted in
 * order together with their tensors. */
static void freeze_static_inputs(Graph *g, HostTensor *bound) {
    char *mark = arena_alloc(g->arena, (size_t)g->n_values + 1);
    for (int j = 0; j < g->n_nodes; j++) {
        const Node *n = g->nodes[j];
        unsigned mask = op_info(n->op)->static_inputs | (n->op == OP_LOOP ? 0x3u : 0u);
        for (int s = 0; s < n->n_inputs && s < 32; s++)
            if (n->inputs[s] && (mask >> s & 1)) mark_sources(g, n->inputs[s], mark);
    }
    int k = 0;
    for (int i = 0; i < g->n_inputs; i++) {
        Value *v = g->inputs[i];
        if (mark[v->id]) {
            v->data = bound[i].data;
            v->input_index = -1;
            continue;
        }
        bound[k] = bound[i];
        v->input_index = k;
        g->inputs[k++] = v;
    }
    g->n_inputs = k;
}

/* Bytes of a tensor of type dtype and this shape; SIZE_MAX if that overflows. */
static size_t tensor_bytes(int dtype, const int64_t *shape, int rank) {
    size_t n = kiln_dtype_size(dtype);
    for (int i = 0; i < rank; i++)
        if (shape[i] < 0 || __builtin_mul_overflow(n, (size_t)shape[i], &n)) return SIZE_MAX;
    return n;
}

int driver_run(const DriverOptions *o) {
    Diag d;
    diag_init(&d, stderr);
    Arena *a = arena_create(1 << 20);
    Graph *g = NULL;
    Codegen *cg = NULL;
    void *ws = NULL;
    int rc = -1;
    const char *dir = o->out ? o->out : ".";
    HostTensor *bound = NULL;
    const KilnModel *m = NULL;

    /* Import once to match the files to the inputs, then again with every
     * input pinned to its file's shape: kiln run compiles for exactly the
     * sizes it runs. */
    if (load(a, o, &g, NULL, &d)) goto out;
    bound = arena_alloc(a, sizeof(HostTensor) * (size_t)(g->n_inputs + 1));
    OnnxPin *pins = arena_alloc(a, sizeof(OnnxPin) * (size_t)(g->n_inputs + 1));
    if (bind_inputs(a, o, g, bound, pins, &d)) goto out;
    DriverOptions po = *o;
    po.n_dims = 0;
    po.n_pins = 0;
    int n_in = g->n_inputs;
    if (n_in > DRIVER_MAX_PINS) n_in = 0; /* too many to pin: compile as the model says */
    for (int i = 0; i < n_in; i++)
        po.pins[po.n_pins++] = pins[i];
    if (load(a, &po, &g, NULL, &d)) goto out;
    freeze_static_inputs(g, bound);
    if (run_pipeline(g, o, NULL, &d)) goto out;
    CodegenOptions co = {NULL, NULL, o->opt_level, model_name(a, o), "1",
                         "",   "{}", o->trees,     o->conv};
    if (!(cg = codegen_create(&co, &d)) || codegen_build(cg, g, &d) || codegen_jit(cg, &m, &d))
        goto out;

    const void **ins = arena_alloc(a, sizeof(void *) * (size_t)(m->n_inputs + 1));
    void **outs = arena_alloc(a, sizeof(void *) * (size_t)(m->n_outputs + 1));
    const int64_t **in_shapes = arena_alloc(a, sizeof(int64_t *) * (size_t)(m->n_inputs + 1));
    int64_t **out_shapes = arena_alloc(a, sizeof(int64_t *) * (size_t)(m->n_outputs + 1));
    for (int i = 0; i < m->n_inputs; i++) {
        ins[i] = bound[i].data;
        in_shapes[i] = bound[i].dims;
    }
    for (int i = 0; i < m->n_outputs; i++)
        out_shapes[i] = arena_alloc(a, sizeof(int64_t) * (IR_MAX_RANK + 1));
    KilnRunError err;
    char msg[512];
    int st = m->shapes(in_shapes, out_shapes, &err);
    if (st) {
        kiln_run_error_format(m, st, &err, msg, sizeof msg);
        diag_file(&d, o->model, "%s", msg);
        goto out;
    }
    for (int i = 0; i < m->n_outputs; i++) {
        size_t bytes = tensor_bytes(m->outputs[i].dtype, out_shapes[i], m->outputs[i].rank);
        if (bytes > SIZE_MAX / 2) {
            diag_file(&d, o->model, "output '%s' would be too large at these input sizes",
                      m->outputs[i].name);
            diag_hint(&d, "run it with smaller inputs");
            goto out;
        }
        outs[i] = arena_alloc_aligned(a, bytes + 1, 64);
    }
    /* SIZE_MAX: the workspace for these sizes does not fit in a size_t. */
    size_t ws_size = m->workspace_size(in_shapes);
    if (ws_size > SIZE_MAX - 64) {
        diag_file(&d, o->model, "the inputs are too large: the workspace does not fit in memory");
        diag_hint(&d, "run it with smaller inputs");
        goto out;
    }
    ws_size = (ws_size + 63) & ~(size_t)63;
    ws = aligned_alloc(64, ws_size ? ws_size : 64);
    if (!ws) {
        diag_env(&d, "cannot allocate a %zu-byte workspace", ws_size);
        goto out;
    }
    st = m->run(ins, in_shapes, outs, out_shapes, ws, NULL);
    if (st != 0) { /* a failed check names the node and input: the input's fault, exit 1 */
        if (kiln_run_error_format(m, st, kiln_run_error(m, ws, in_shapes), msg, sizeof msg))
            diag_file(&d, o->model, "%s", msg);
        else
            diag_env(&d, "internal error: %s", msg);
        goto out;
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        diag_env(&d, "cannot create output directory '%s': %s", dir, strerror(errno));
        goto out;
    }
    rc = 0;
    for (int i = 0; i < m->n_outputs; i++) {
        const KilnTensorInfo *ti = &m->outputs[i];
        HostTensor t = {ti->name, (DType)ti->dtype,
                        ti->rank, {0},
                        outs[i],  tensor_bytes(ti->dtype, out_shapes[i], ti->rank)};
        for (int j = 0; j < ti->rank; j++)
            t.dims[j] = out_shapes[i][j];
        const char *path = npy_path(a, dir, ti->name);
        if (tensor_write_npy(path, &t, &d)) {
            rc = -1;
            continue;
        }
        Shape s = {t.rank, {0}};
        memcpy(s.dims, t.dims, sizeof(int64_t) * (size_t)t.rank);
        char buf[160];
        printf("%s: %s%s -> %s\n", ti->name, dtype_onnx_name(t.dtype),
               shape_str(&s, buf, sizeof buf), path);
    }
out:
    free(ws);
    codegen_destroy(cg);
    arena_destroy(a);
    return exit_code(&d, rc);
}

/* --- inspect ------------------------------------------------------------------------------ */

typedef struct OpCount {
    const char *op;
    int n;
} OpCount;

/* The data-dependent symbols (dim.h) in d, into syms[*n] (each once). */
static void data_syms_add(Dim d, int *syms, int *n) {
    const DimExpr *x = dim_expr(d);
    if (!x || !x->data) return;
    if (x->kind == DIMK_SYM) {
        for (int i = 0; i < *n; i++)
            if (syms[i] == x->sym) return;
        if (*n < DIM_MAX_SYMS) syms[(*n)++] = x->sym;
    } else if (x->kind == DIMK_POLY) {
        for (int t = 0; t < x->n_terms; t++)
            for (int f = 0; f < x->terms[t].n; f++)
                data_syms_add(x->terms[t].atom[f], syms, n);
    } else {
        data_syms_add(x->a, syms, n);
        data_syms_add(x->b, syms, n);
    }
}

/* The data-dependent symbols of g's outputs: sizes the model computes at
 * run time, within a bound; their count. */
static int output_data_syms(const Graph *g, int *syms) {
    int n = 0;
    for (int i = 0; i < g->n_outputs; i++)
        for (int k = 0; k < g->outputs[i]->shape.rank; k++)
            data_syms_add(g->outputs[i]->shape.dims[k], syms, &n);
    return n;
}

int driver_inspect(const DriverOptions *o) {
    Diag d;
    diag_init(&d, stderr);
    Arena *a = arena_create(1 << 20);
    Graph *g = NULL;
    int rc = -1;
    char sha[65];
    if (load(a, o, &g, sha, &d)) goto out;

    OpCount *ops = arena_alloc(a, sizeof(OpCount) * (size_t)(g->n_nodes + 1));
    int n_ops = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        int k = 0;
        while (k < n_ops && strcmp(ops[k].op, g->nodes[i]->op_type) != 0)
            k++;
        if (k == n_ops) ops[n_ops++].op = g->nodes[i]->op_type;
        ops[k].n++;
    }
    int64_t params = 0, param_bytes = 0;
    for (int i = 0; i < g->n_values; i++)
        if (g->values[i]->data) {
            params += shape_numel(&g->values[i]->shape);
            param_bytes +=
                shape_numel(&g->values[i]->shape) * (int64_t)dtype_size(g->values[i]->dtype);
        }
    if (run_pipeline(g, o, "check-types", &d)) goto out;
    int64_t flops = flops_graph_count(g);
    if (run_pipeline(g, o, NULL, &d)) goto out;

    char buf[160], wsbuf[256];
    int sym[DIM_MAX_SYMS], n_syms = ir_graph_syms(g, sym);
    int dsym[DIM_MAX_SYMS], n_dsyms = output_data_syms(g, dsym);
    int64_t ws_lo, ws_hi;
    dim_bounds(g->ws_size, &ws_lo, &ws_hi);
    FILE *f = stdout;
    if (o->json) {
        json_t *io[2];
        for (int pass = 0; pass < 2; pass++) {
            Value **vs = pass ? g->outputs : g->inputs;
            int nv = pass ? g->n_outputs : g->n_inputs;
            io[pass] = json_array();
            for (int i = 0; i < nv; i++) {
                json_t *shape = json_array(), *dims = json_array();
                for (int j = 0; j < vs[i]->shape.rank; j++) {
                    Dim dm = vs[i]->shape.dims[j];
                    json_array_append_new(shape, json_integer(dm >= 0 ? dm : -1));
                    json_array_append_new(dims, json_string(dim_str(dm, buf, sizeof buf)));
                }
                json_array_append_new(io[pass], json_pack("{s:o, s:s, s:o, s:o}", "name",
                                                          json_text(vs[i]->name), "dtype",
                                                          dtype_onnx_name(vs[i]->dtype), "shape",
                                                          shape, "dims", dims));
            }
        }
        json_t *syms = json_array();
        for (int i = 0; i < n_syms; i++) {
            int64_t lo, hi;
            dim_sym_bounds(sym[i], &lo, &hi);
            json_array_append_new(syms, json_pack("{s:s, s:I, s:I}", "name", dim_sym_name(sym[i]),
                                                  "min", (json_int_t)lo, "max", (json_int_t)hi));
        }
        json_t *dsyms = json_array();
        for (int i = 0; i < n_dsyms; i++) {
            int64_t lo, hi;
            dim_sym_bounds(dsym[i], &lo, &hi);
            json_array_append_new(dsyms,
                                  json_pack("{s:s, s:I, s:s}", "name", dim_sym_name(dsym[i]), "max",
                                            (json_int_t)hi, "bound",
                                            dim_str(dim_sym_data_bound(dsym[i]), buf, sizeof buf)));
        }
        json_t *op_counts = json_object();
        for (int i = 0; i < n_ops; i++) {
            json_t *key = json_text(ops[i].op);
            json_object_set_new(op_counts, json_string_value(key), json_integer(ops[i].n));
            json_decref(key);
        }
        json_t *doc = json_pack(
            "{s:o, s:s, s:o, s:i, s:o, s:o, s:o, s:o, s:I, s:I, s:I, s:{s:I, s:I, s:s, s:I}}",
            "model", json_text(o->model), "sha256", sha, "graph", json_text(g->name), "opset",
            g->opset, "inputs", io[0], "outputs", io[1], "symbols", syms, "ops", op_counts,
            "params", (json_int_t)params, "param_bytes", (json_int_t)param_bytes, "flops",
            (json_int_t)flops, "workspace", "min_bytes", (json_int_t)ws_lo, "max_bytes",
            (json_int_t)ws_hi, "bytes", dim_str(g->ws_size, wsbuf, sizeof wsbuf),
            "lower_bound_bytes", (json_int_t)g->ws_lower);
        json_t *zipmap = zipmap_labels_json(g); /* a key only when the model has a ZipMap */
        if (doc && zipmap) json_object_set_new(doc, "zipmap_labels", zipmap);
        if (doc && n_dsyms) /* a key only when an output is sized by the data */
            json_object_set_new(doc, "data_dependent", dsyms);
        else
            json_decref(dsyms);
        char *text = json_text_dump(doc);
        fprintf(f, "%s\n", text);
        free(text);
    } else {
        fprintf(f, "model      %s\nsha256     %s\ngraph      %s, opset %d\n", o->model, sha,
                g->name, g->opset);
        for (int i = 0; i < g->n_inputs; i++)
            fprintf(f, "input      %s: %s%s\n", g->inputs[i]->name,
                    dtype_onnx_name(g->inputs[i]->dtype),
                    shape_str(&g->inputs[i]->shape, buf, sizeof buf));
        for (int i = 0; i < g->n_outputs; i++)
            fprintf(f, "output     %s: %s%s\n", g->outputs[i]->name,
                    dtype_onnx_name(g->outputs[i]->dtype),
                    shape_str(&g->outputs[i]->shape, buf, sizeof buf));
        fputs("ops       ", f);
        for (int i = 0; i < n_ops; i++)
            fprintf(f, " %s x%d", ops[i].op, ops[i].n);
        fprintf(f, "\nparams     %lld (%lld bytes)\n", (long long)params, (long long)param_bytes);
        if (n_syms) {
            fputs("symbols   ", f);
            for (int i = 0; i < n_syms; i++) {
                int64_t lo, hi;
                dim_sym_bounds(sym[i], &lo, &hi);
                fprintf(f, " %s %lld..%lld%s", dim_sym_name(sym[i]), (long long)lo, (long long)hi,
                        i + 1 < n_syms ? "," : "");
            }
            fputs("  (bound them with --shape or --dim NAME=MIN..MAX)\n", f);
        }
        for (int i = 0; i < n_dsyms; i++) {
            int64_t lo, hi;
            dim_sym_bounds(dsym[i], &lo, &hi);
            fprintf(f, "%s %s <= %s (max %lld)%s", i ? "," : "by data   ", dim_sym_name(dsym[i]),
                    dim_str(dim_sym_data_bound(dsym[i]), buf, sizeof buf), (long long)hi,
                    i + 1 < n_dsyms ? "" : "  (sized at run time; the response has the size)\n");
        }
        fprintf(f, "flops      %lld%s\n", (long long)flops,
                n_syms ? " (dynamic dims at their lower bounds)" : "");
        if (ws_lo == ws_hi)
            fprintf(f, "workspace  %lld bytes (planned peak)\n", (long long)ws_hi);
        else
            fprintf(f, "workspace  %lld bytes at the upper bounds, %lld at the lower (%s)\n",
                    (long long)ws_hi, (long long)ws_lo, dim_str(g->ws_size, wsbuf, sizeof wsbuf));
        /* The planned peak against the most bytes live at once. */
        fprintf(f, "live peak  %lld bytes%s (the plan's lower bound; planned/bound %.3f)\n",
                (long long)g->ws_lower, ws_lo == ws_hi ? "" : " at the upper bounds",
                g->ws_lower ? (double)ws_hi / (double)g->ws_lower : 1.0);
        json_t *zipmap = zipmap_labels_json(g);
        const char *key;
        json_t *labels;
        json_object_foreach(zipmap, key, labels) {
            char *l = json_dumps(labels, JSON_COMPACT);
            fprintf(f,
                    "zipmap     %s: class labels %s (ZipMap served as the probabilities tensor)\n",
                    key, l ? l : "?");
            free(l);
        }
        json_decref(zipmap);
    }
    rc = 0;
out:
    arena_destroy(a);
    return exit_code(&d, rc);
}

/* --- check ----------------------------------------------------------------------------------- */

int driver_check(const DriverOptions *o) {
    Diag d;
    diag_init(&d, stderr);
    Arena *a = arena_create(1 << 20);
    Graph *g = NULL;
    Codegen *cg = NULL;
    int rc = -1;
    if (load(a, o, &g, NULL, &d) || run_pipeline(g, o, NULL, &d)) goto out;
    /* Lowering can still refuse a node (an unsupported broadcast); build
     * the module without optimising to find out. */
    CodegenOptions co = {NULL, NULL, 0, "check", "1", "", "{}", 0, 0};
    if (!(cg = codegen_create(&co, &d)) || codegen_build(cg, g, &d)) goto out;
    printf("%s: ok (%d nodes, %d inputs, %d outputs)\n", o->model, g->n_nodes, g->n_inputs,
           g->n_outputs);
    rc = 0;
out:
    if (diag_count(&d))
        fprintf(stderr, "%s: %d problem%s found\n", o->model, diag_count(&d),
                diag_count(&d) == 1 ? "" : "s");
    codegen_destroy(cg);
    arena_destroy(a);
    return exit_code(&d, rc);
}

/* --- ops -------------------------------------------------------------------------------------- */

int driver_ops(const DriverOptions *o) {
    json_t *list = o->json ? json_array() : NULL;
    for (int i = 0; i < OP_COUNT; i++) {
        const OpInfo *info = op_info((OpKind)i);
        if (info->flags & (OPF_REGION_ELSE | OPF_REGION_END | OPF_INTERNAL))
            continue; /* If.end, kiln.*: not ONNX's */
        if (o->json)
            json_array_append_new(list,
                                  json_pack("{s:s, s:s, s:i, s:i}", "op", info->name, "domain",
                                            info->domain[0] ? info->domain : "ai.onnx", "since",
                                            info->since, "until", info->until));
        else if (info->domain[0]) /* another domain: say which, and its opsets */
            printf("%-14s %s opset %d-%d\n", info->name, info->domain, info->since, info->until);
        else
            printf("%-14s opset %d-%d\n", info->name, info->since, info->until);
    }
    if (o->json) {
        char *text = json_text_dump(list);
        printf("%s\n", text);
        free(text);
    }
    return EXIT_OK;
}
