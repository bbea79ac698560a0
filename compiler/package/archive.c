/* archive.c: the release archive (package.h): NAME-VERSION/ with the
 * service binary, its manifest and SBOM (manifest.c), the deployment
 * files and README written here, and SHA256SUMS over all of them, through
 * the reproducible tarball writer (tar.c). */
#include "package.h"

#include <nettle/sha2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

/* --- growing text ---------------------------------------------------------------- */

typedef struct Text {
    char *s;
    size_t len, cap;
} Text;

static void text_printf(Text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_printf(Text *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) kiln_oom("text");
    if (t->len + (size_t)n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 1024;
        while (cap < t->len + (size_t)n + 1)
            cap *= 2;
        char *s = realloc(t->s, cap);
        if (!s) kiln_oom("text");
        t->s = s;
        t->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(t->s + t->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

char *pkg_release_dir(const PkgRelease *r) {
    Text t = {0};
    text_printf(&t, "%s-%s", r->name, r->version);
    return t.s;
}

/* --- deploy/ ------------------------------------------------------------------------ */

/* A YAML value that needs no quoting rules: the version may be anything
 * the user typed, so it is always double-quoted with \ and " escaped.
 * Names are [A-Za-z0-9._-] (main.c checks --name). */
static void yaml_quoted(Text *t, const char *s) {
    text_printf(t, "\"");
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            text_printf(t, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            text_printf(t, "\\x%02x", (unsigned char)*s);
        else
            text_printf(t, "%c", *s);
    }
    text_printf(t, "\"");
}

/* A Kubernetes object name: lower case letters, digits and '-', starting
 * and ending with an alphanumeric (RFC 1123 label), at most 63 bytes. */
static void k8s_name(const char *name, char out[64]) {
    size_t n = 0;
    for (const char *p = name; *p && n < 63; p++) {
        char c = *p;
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) c = '-';
        if (c == '-' && (n == 0 || out[n - 1] == '-')) continue;
        out[n++] = c;
    }
    while (n && out[n - 1] == '-')
        n--;
    if (!n) out[n++] = 'm';
    out[n] = 0;
}

/* The container both files run: the image's /bin/NAME serve, the v2
 * health probes, a non-root user and a locked-down security context. */
static void yaml_container(Text *t, const PkgRelease *r, const char *ind) {
    const char *in = ind;
    text_printf(t, "%s- name: %s\n", in, r->name);
    text_printf(t, "%s  image: ", in);
    Text img = {0};
    text_printf(&img, "%s:%s", r->name, r->version);
    yaml_quoted(t, img.s);
    free(img.s);
    /* The command is spelled out rather than left to the image's
     * entrypoint (oci.c: /bin/NAME serve), so the args cannot repeat it. */
    text_printf(t, "\n%s  command: [", in);
    Text cmd = {0};
    text_printf(&cmd, "/bin/%s", r->name);
    yaml_quoted(t, cmd.s);
    free(cmd.s);
    text_printf(t, ", \"serve\"]\n%s  args: [\"--port\", \"8080\"]\n", in);
    text_printf(t,
                "%s  ports:\n%s    - name: http\n%s      containerPort: 8080\n"
                "%s      protocol: TCP\n",
                in, in, in, in);
    static const char *const probes[2][2] = {{"livenessProbe", "/v2/health/live"},
                                             {"readinessProbe", "/v2/health/ready"}};
    for (int i = 0; i < 2; i++)
        text_printf(t,
                    "%s  %s:\n%s    httpGet:\n%s      path: %s\n%s      port: 8080\n"
                    "%s    initialDelaySeconds: 1\n%s    periodSeconds: 10\n",
                    in, probes[i][0], in, in, probes[i][1], in, in, in);
    text_printf(t,
                "%s  resources:\n%s    requests:\n%s      cpu: \"1\"\n%s      memory: 256Mi\n"
                "%s    limits:\n%s      cpu: \"2\"\n%s      memory: 1Gi\n",
                in, in, in, in, in, in, in);
    text_printf(t,
                "%s  securityContext:\n%s    runAsNonRoot: true\n%s    runAsUser: 65532\n"
                "%s    runAsGroup: 65532\n%s    readOnlyRootFilesystem: true\n"
                "%s    allowPrivilegeEscalation: false\n%s    capabilities:\n"
                "%s      drop: [\"ALL\"]\n%s    seccompProfile:\n%s      type: RuntimeDefault\n",
                in, in, in, in, in, in, in, in, in, in);
}

static void yaml_labels(Text *t, const PkgRelease *r, const char *k8s, const char *ind) {
    text_printf(t, "%sapp.kubernetes.io/name: %s\n", ind, k8s);
    text_printf(t, "%sapp.kubernetes.io/version: ", ind);
    yaml_quoted(t, r->version);
    text_printf(t, "\n%sapp.kubernetes.io/managed-by: kiln\n", ind);
}

char *pkg_kubernetes_yaml(const PkgRelease *r) {
    char k8s[64];
    k8s_name(r->name, k8s);
    Text t = {0};
    text_printf(&t, "# The model '%s' version ", r->name);
    yaml_quoted(&t, r->version);
    text_printf(&t,
                " as a Deployment and a Service (generated by kiln %s).\n"
                "# Push the image %s:%s first (`kiln compile --emit oci`).\n",
                KILN_VERSION, r->name, r->version);
    text_printf(&t, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: %s\n  labels:\n",
                k8s);
    yaml_labels(&t, r, k8s, "    ");
    text_printf(&t,
                "spec:\n  replicas: 2\n  selector:\n    matchLabels:\n"
                "      app.kubernetes.io/name: %s\n  template:\n    metadata:\n      labels:\n",
                k8s);
    yaml_labels(&t, r, k8s, "        ");
    text_printf(&t, "    spec:\n      automountServiceAccountToken: false\n"
                    "      securityContext:\n        runAsNonRoot: true\n"
                    "        runAsUser: 65532\n        runAsGroup: 65532\n"
                    "        seccompProfile:\n          type: RuntimeDefault\n"
                    "      containers:\n");
    yaml_container(&t, r, "        ");
    text_printf(&t, "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: %s\n  labels:\n", k8s);
    yaml_labels(&t, r, k8s, "    ");
    text_printf(&t,
                "spec:\n  selector:\n    app.kubernetes.io/name: %s\n  ports:\n"
                "    - name: http\n      port: 80\n      targetPort: http\n      protocol: TCP\n",
                k8s);
    return t.s;
}

char *pkg_kserve_yaml(const PkgRelease *r) {
    char k8s[64];
    k8s_name(r->name, k8s);
    Text t = {0};
    text_printf(&t, "# The model '%s' version ", r->name);
    yaml_quoted(&t, r->version);
    text_printf(&t,
                " as a KServe InferenceService with a custom container\n"
                "# (generated by kiln %s). The container speaks the Open Inference Protocol\n"
                "# (KServe v2: /v2/models/NAME/infer) on port 8080.\n",
                KILN_VERSION);
    text_printf(&t,
                "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata:\n"
                "  name: %s\n  labels:\n",
                k8s);
    yaml_labels(&t, r, k8s, "    ");
    text_printf(&t, "spec:\n  predictor:\n    minReplicas: 1\n    securityContext:\n"
                    "      runAsNonRoot: true\n      runAsUser: 65532\n      runAsGroup: 65532\n"
                    "      seccompProfile:\n        type: RuntimeDefault\n    containers:\n");
    yaml_container(&t, r, "      ");
    return t.s;
}

/* --- README.md --------------------------------------------------------------------- */

static char *readme(const PkgRelease *r, const char *dir) {
    Text t = {0};
    text_printf(&t, "# %s version %s\n\n", r->name, r->version);
    text_printf(&t,
                "The ONNX model `%s` compiled by kiln %s into one static service binary\n"
                "for %s. It serves the Open Inference Protocol (KServe v2) over HTTP and\n"
                "needs no other files at run time.\n\n",
                r->model_file, KILN_VERSION, r->triple);
    text_printf(&t,
                "## What is inside\n\n"
                "| file | what |\n|---|---|\n"
                "| `bin/%s` | the service binary (statically linked) |\n"
                "| `manifest.json` | name, version, model SHA-256, inputs and outputs, opsets,"
                " target, the kiln command line, build time |\n"
                "| `sbom.cdx.json` | CycloneDX 1.5 SBOM: the binary, the model and every library"
                " linked in, with Debian package versions |\n"
                "| `deploy/kubernetes.yaml` | a Deployment and a Service |\n"
                "| `deploy/kserve.yaml` | a KServe InferenceService (v2 protocol) |\n"
                "| `SHA256SUMS` | the SHA-256 of every other file |\n\n",
                r->name);
    text_printf(
        &t,
        "## Verify\n\n"
        "```sh\n"
        "tar xzf ARCHIVE.tar.gz && cd %s\n"
        "sha256sum -c SHA256SUMS\n"
        "kiln verify ARCHIVE.tar.gz    # also checks the manifest and SBOM against the "
        "binary\n"
        "```\n\n"
        "The archive is reproducible: the same model, kiln and flags with the same\n"
        "`SOURCE_DATE_EPOCH` give the same bytes; `manifest.json` has the command line.\n\n",
        dir);
    text_printf(&t,
                "## Run\n\n"
                "```sh\n"
                "bin/%s info                    # the inputs and outputs\n"
                "bin/%s predict --input request.json\n"
                "bin/%s serve --port 8080       # GET /v2/health/ready, POST "
                "/v2/models/%s/infer\n"
                "bin/%s help\n"
                "```\n\n",
                r->name, r->name, r->name, r->name, r->name);
    text_printf(&t,
                "## Deploy\n\n"
                "Build the image `%s:%s` (`kiln compile MODEL --emit oci`, then load it with\n"
                "`docker load` or push it with `skopeo`), then:\n\n"
                "```sh\n"
                "kubectl apply -f deploy/kubernetes.yaml   # plain Kubernetes\n"
                "kubectl apply -f deploy/kserve.yaml       # or KServe\n"
                "```\n\n"
                "Both run the binary as user 65532 with a read-only root file system, no\n"
                "capabilities and the runtime's default seccomp profile, and probe\n"
                "`/v2/health/live` and `/v2/health/ready` on port 8080.\n",
                r->name, r->version);
    return t.s;
}

/* --- the archive ------------------------------------------------------------------- */

int pkg_archive_write(const PkgRelease *r, int fd, const char *shown, Diag *d) {
    char *dir = pkg_release_dir(r);
    struct {
        const char *name; /* under dir/ */
        char *data;       /* malloc'd, or NULL for the binary */
        int mode;
    } files[] = {
        {"README.md", readme(r, dir), 0644},
        {"bin/", NULL, 0755}, /* the binary goes in by hand */
        {"deploy/kserve.yaml", pkg_kserve_yaml(r), 0644},
        {"deploy/kubernetes.yaml", pkg_kubernetes_yaml(r), 0644},
        {"manifest.json", pkg_manifest_json(r), 0644},
        {"sbom.cdx.json", pkg_sbom_json(r), 0644},
    };
    int n_files = (int)(sizeof files / sizeof *files);
    PkgTar *t = pkg_tar_create(1, r->epoch);
    Text path = {0}, sums = {0};
    char hex[65];
    text_printf(&path, "%s/", dir);
    pkg_tar_add_dir(t, path.s, 0755);
    /* SHA256SUMS lists the files in the order `sort` would (bytewise). */
    for (int i = 0; i < n_files; i++) {
        path.len = 0;
        if (!files[i].data) {
            text_printf(&path, "%s/bin/", dir);
            pkg_tar_add_dir(t, path.s, 0755);
            path.len = 0;
            text_printf(&path, "%s/bin/%s", dir, r->name);
            pkg_tar_add_file(t, path.s, r->binary, r->binary_len, 0755);
            pkg_sha256_hex(r->binary, r->binary_len, hex);
            text_printf(&sums, "%s  bin/%s\n", hex, r->name);
            continue;
        }
        if (!strcmp(files[i].name, "deploy/kserve.yaml")) { /* the first under deploy/ */
            text_printf(&path, "%s/deploy/", dir);
            pkg_tar_add_dir(t, path.s, 0755);
            path.len = 0;
        }
        text_printf(&path, "%s/%s", dir, files[i].name);
        size_t len = strlen(files[i].data);
        pkg_tar_add_file(t, path.s, files[i].data, len, files[i].mode);
        pkg_sha256_hex(files[i].data, len, hex);
        text_printf(&sums, "%s  %s\n", hex, files[i].name);
    }
    path.len = 0;
    text_printf(&path, "%s/SHA256SUMS", dir);
    pkg_tar_add_file(t, path.s, sums.s, sums.len, 0644);
    int rc = pkg_tar_write(t, fd, shown, d);
    pkg_tar_free(t);
    for (int i = 0; i < n_files; i++)
        free(files[i].data);
    free(path.s);
    free(sums.s);
    free(dir);
    return rc;
}
