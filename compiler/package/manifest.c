/* manifest.c: the release archive's manifest.json and its CycloneDX 1.5
 * SBOM, sbom.cdx.json (package.h). Both are jansson objects built in a
 * fixed key order and dumped with two-space indentation, so the text is a
 * function of the PkgRelease alone. */
#include "package.h"

#include <jansson.h>
#include <nettle/sha1.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "deb_versions.h"

/* A JSON string for s. jansson takes only UTF-8, while ONNX names are
 * bytes: in a string that is not UTF-8 every byte over 0x7f becomes '?'. */
static json_t *text(const char *s) {
    if (!s) s = "";
    json_t *j = json_string(s);
    if (j) return j;
    char *t = strdup(s);
    if (!t) kiln_oom("json");
    for (char *p = t; *p; p++)
        if ((unsigned char)*p >= 0x80) *p = '?';
    j = json_string(t);
    free(t);
    if (!j) kiln_oom("json");
    return j;
}

/* j as indented text with a final newline (malloc'd); releases j. */
static char *dump(json_t *j) {
    char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    if (!s) kiln_oom("json");
    size_t n = strlen(s);
    char *t = realloc(s, n + 2);
    if (!t) kiln_oom("json");
    t[n] = '\n';
    t[n + 1] = 0;
    return t;
}

static void set(json_t *o, const char *key, json_t *v) {
    if (!v || json_object_set_new(o, key, v)) kiln_oom("json");
}

/* "2023-11-14T22:13:20Z" for epoch seconds. */
static void rfc3339(int64_t epoch, char buf[32]) {
    time_t t = (time_t)epoch;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *tensors(const PkgTensor *ts, int n) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++) {
        json_t *t = json_object(), *shape = json_array();
        for (int k = 0; k < ts[i].rank; k++)
            json_array_append_new(shape, json_integer(ts[i].dims[k]));
        set(t, "name", text(ts[i].name));
        set(t, "dtype", text(ts[i].dtype));
        set(t, "shape", shape);
        json_array_append_new(a, t);
    }
    return a;
}

static json_t *strings(const char *const *s, int n) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, text(s[i]));
    return a;
}

char *pkg_manifest_json(const PkgRelease *r) {
    char bin_sha[65], when[32];
    pkg_sha256_hex(r->binary, r->binary_len, bin_sha);
    rfc3339(r->epoch, when);
    json_t *m = json_object(), *model = json_object(), *bin = json_object(),
           *opsets = json_object(), *target = json_object(), *built = json_object();
    set(m, "format", json_string("kiln-release/1"));
    set(m, "name", text(r->name));
    set(m, "version", text(r->version));
    set(model, "file", text(r->model_file));
    set(model, "sha256", json_string(r->model_sha256));
    set(model, "size", json_integer((json_int_t)r->model_size));
    set(m, "model", model);
    set(bin, "path", json_pack("s+", "bin/", r->name));
    set(bin, "sha256", json_string(bin_sha));
    set(bin, "size", json_integer((json_int_t)r->binary_len));
    set(m, "binary", bin);
    set(m, "inputs", tensors(r->inputs, r->n_inputs));
    set(m, "outputs", tensors(r->outputs, r->n_outputs));
    for (int i = 0; i < r->n_opsets; i++)
        set(opsets, r->opsets[i].domain[0] ? r->opsets[i].domain : "ai.onnx",
            json_integer(r->opsets[i].version));
    set(m, "opsets", opsets);
    set(m, "kiln_version", json_string(KILN_VERSION));
    set(m, "command", strings(r->command, r->n_command));
    set(target, "triple", text(r->triple));
    set(target, "cpus", strings(r->cpus, r->n_cpus));
    set(m, "target", target);
    set(built, "time", json_string(when));
    set(built, "source_date_epoch", json_integer((json_int_t)r->epoch));
    set(m, "build", built);
    return dump(m);
}

/* --- the SBOM ------------------------------------------------------------------ */

/* A name-based UUID (RFC 4122 version 5: SHA-1 over a namespace and the
 * name) in the URL namespace, so the same binary always gets the same
 * serial number while different ones never share it. */
static void uuid_v5(const char *name, char out[37]) {
    static const uint8_t url_ns[16] = {0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1,
                                       0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8};
    struct sha1_ctx c;
    uint8_t h[SHA1_DIGEST_SIZE];
    sha1_init(&c);
    sha1_update(&c, sizeof url_ns, url_ns);
    sha1_update(&c, strlen(name), (const uint8_t *)name);
    sha1_digest(&c, sizeof h, h);
    h[6] = (uint8_t)((h[6] & 0x0f) | 0x50);
    h[8] = (uint8_t)((h[8] & 0x3f) | 0x80);
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) *p++ = '-';
        p += sprintf(p, "%02x", h[i]);
    }
}

static json_t *sha256_hashes(const char *hex) {
    return json_pack("[{s:s, s:s}]", "alg", "SHA-256", "content", hex);
}

/* One Debian package as a library component. */
static json_t *deb_component(const char *lib, const char *pkg, const char *version,
                             const char *what, const char *arch) {
    char purl[256], ref[128], ver[128];
    /* A Debian epoch's ':' ("1:2.3-1") is percent-encoded in a purl. */
    size_t n = 0;
    for (const char *p = version; *p && n + 4 < sizeof ver; p++) {
        if (*p == ':') {
            memcpy(ver + n, "%3A", 3);
            n += 3;
        } else {
            ver[n++] = *p;
        }
    }
    ver[n] = 0;
    snprintf(purl, sizeof purl, "pkg:deb/debian/%s@%s?arch=%s", pkg, ver, arch);
    snprintf(ref, sizeof ref, "deb:%s", pkg);
    json_t *c = json_object();
    set(c, "type", json_string("library"));
    set(c, "bom-ref", text(ref));
    set(c, "name", text(pkg));
    set(c, "version", text(version));
    set(c, "description", json_pack("s++", lib, ": ", what));
    set(c, "purl", text(purl));
    return c;
}

char *pkg_sbom_json(const PkgRelease *r) {
    char bin_sha[65], when[32], uuid[37], seed[160], serial[64];
    pkg_sha256_hex(r->binary, r->binary_len, bin_sha);
    rfc3339(r->epoch, when);
    snprintf(seed, sizeof seed, "kiln:%s:%s", bin_sha, r->model_sha256);
    uuid_v5(seed, uuid);
    snprintf(serial, sizeof serial, "urn:uuid:%s", uuid);

    json_t *bom = json_object(), *meta = json_object(), *app = json_object();
    set(bom, "bomFormat", json_string("CycloneDX"));
    set(bom, "specVersion", json_string("1.5"));
    set(bom, "serialNumber", json_string(serial));
    set(bom, "version", json_integer(1));

    set(meta, "timestamp", json_string(when));
    json_t *kiln =
        json_pack("{s:s, s:s, s:s, s:s}", "type", "application", "name", "kiln", "version",
                  KILN_VERSION, "description", "the ONNX compiler that built this binary");
    set(meta, "tools", json_pack("{s:[o]}", "components", kiln));
    set(app, "type", json_string("application"));
    set(app, "bom-ref", json_string("service"));
    set(app, "name", text(r->name));
    set(app, "version", text(r->version));
    set(app, "description", json_string("static service binary (KServe v2 protocol)"));
    set(app, "hashes", sha256_hashes(bin_sha));
    set(app, "properties",
        json_pack("[{s:s, s:o}]", "name", "kiln:target", "value", text(r->triple)));
    set(meta, "component", app);
    set(bom, "metadata", meta);

    json_t *comps = json_array(), *deps = json_array(), *app_deps = json_array();
    json_t *model = json_object();
    set(model, "type", json_string("machine-learning-model"));
    set(model, "bom-ref", json_string("model"));
    set(model, "name", text(r->model_file));
    set(model, "version", text(r->version));
    set(model, "description", json_string("ONNX model, compiled into the binary"));
    set(model, "hashes", sha256_hashes(r->model_sha256));
    json_array_append_new(comps, model);
    json_array_append_new(app_deps, json_string("model"));

    json_t *rt = json_object();
    set(rt, "type", json_string("library"));
    set(rt, "bom-ref", json_string("kiln-runtime"));
    set(rt, "name", json_string("kiln-runtime"));
    set(rt, "version", json_string(KILN_VERSION));
    set(rt, "description", json_string("kiln's service runtime (libkilnrt) and kernels"));
    json_array_append_new(comps, rt);
    json_array_append_new(app_deps, json_string("kiln-runtime"));

    /* The libraries of the binary's architecture, not the build host's. */
    int a64 = strncmp(r->triple, "aarch64", 7) == 0;
    const char *arch = a64 ? KILN_DEB_ARCH_AARCH64 : KILN_DEB_ARCH;
#define DEB(lib, pkg, version, what)                                                               \
    json_array_append_new(comps, deb_component(lib, pkg, version, what, arch));                    \
    json_array_append_new(app_deps, json_string("deb:" pkg));
    if (a64) {
        KILN_DEB_PACKAGES_AARCH64(DEB)
    } else {
        KILN_DEB_PACKAGES(DEB)
    }
#undef DEB
    set(bom, "components", comps);

    json_array_append_new(deps, json_pack("{s:s, s:o}", "ref", "service", "dependsOn", app_deps));
    size_t i;
    json_t *c;
    json_array_foreach(comps, i, c) {
        json_array_append_new(
            deps, json_pack("{s:O, s:[]}", "ref", json_object_get(c, "bom-ref"), "dependsOn"));
    }
    set(bom, "dependencies", deps);
    return dump(bom);
}
