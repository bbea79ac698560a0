/* oci.c: the OCI image of a service binary (package.h).
 *
 * The image is built bottom up, each blob named by its digest: the layer
 * (a gzip tarball of bin/NAME), the config (which names the layer by the
 * digest of its uncompressed tar, rootfs.diff_ids), the manifest (config
 * and layer descriptors), and index.json (the manifest, tagged). Every JSON
 * text is dumped compact with sorted keys, so equal inputs give equal
 * digests. */
#include "package.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"

#define OCI_USER "65532:65532" /* numeric: the image needs no /etc/passwd */
#define OCI_PORT "8080"        /* the service's default --port */

#define MT_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_LAYER "application/vnd.oci.image.layer.v1.tar+gzip"

/* The image's architecture (Go's GOARCH names, as the spec asks) for a
 * target triple; NULL if kiln builds no image for it. */
static const char *oci_arch(const char *triple, const char **variant) {
    size_t n = strcspn(triple, "-");
    *variant = NULL;
    if (!strstr(triple, "-linux")) return NULL;
    if ((n == 6 && !strncmp(triple, "x86_64", n)) || (n == 5 && !strncmp(triple, "amd64", n)))
        return "amd64";
    if ((n == 7 && !strncmp(triple, "aarch64", n)) || (n == 5 && !strncmp(triple, "arm64", n))) {
        *variant = "v8";
        return "arm64";
    }
    return NULL;
}

static int is_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* A tag as Docker and the OCI distribution spec take it:
 * [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. */
static int tag_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 128 || s[0] == '.' || s[0] == '-') return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-') return 0;
    return 1;
}

int pkg_release_version_check(const char *version, Diag *d) {
    if (tag_ok(version)) return 0;
    diag_usage(d,
               "--model-version '%s' cannot name a release (the archive's NAME-VERSION/ "
               "directory and the image tag)",
               version);
    diag_hint(d, "use up to 128 letters, digits, '_', '.' and '-', not starting with '.' or "
                 "'-' (e.g. --model-version 1.2)");
    return -1;
}

/* NAME as a Docker repository name, [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*:
 * lower case, any other run of separators becomes '-', none at the ends;
 * "model" if nothing is left. malloc'd. */
static char *repo_name(const char *name) {
    char *r = malloc(strlen(name) + sizeof "model");
    if (!r) kiln_oom("image name");
    size_t n = 0;
    for (const char *p = name; *p;) {
        if (is_alnum(*p)) {
            r[n++] = (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : *p;
            p++;
            continue;
        }
        const char *q = p;
        int dashes = 1;
        while (*q && !is_alnum(*q))
            dashes &= *q++ == '-';
        size_t run = (size_t)(q - p);
        if (n > 0 && *q) { /* between two alphanumerics */
            if (dashes || (run == 1 && (*p == '.' || *p == '_')) ||
                (run == 2 && !strncmp(p, "__", 2))) {
                memcpy(r + n, p, run);
                n += run;
            } else {
                r[n++] = '-';
            }
        }
        p = q;
    }
    if (n == 0) {
        strcpy(r, "model");
        n = strlen(r);
    }
    r[n] = 0;
    return r;
}

int pkg_oci_check(const char *name, const char *version, const char *triple, Diag *d) {
    int rc = 0;
    const char *variant;
    if (!name[0] || !strcmp(name, ".") || !strcmp(name, "..")) {
        diag_usage(d, "--emit oci: the model name '%s' cannot name the image's binary", name);
        diag_hint(d, "give one with --name, e.g. --name fraud");
        rc = -1;
    }
    if (pkg_release_version_check(version, d)) rc = -1;
    if (!oci_arch(triple, &variant)) {
        diag_usage(d, "--emit oci: no OCI image for target '%s'", triple);
        diag_hint(d, "images are built for Linux on x86_64 and aarch64; choose --target "
                     "x86_64-linux-gnu or aarch64-linux-gnu, or --emit exe");
        rc = -1;
    }
    return rc;
}

/* --- pieces ------------------------------------------------------------------------ */

/* j as compact text with sorted keys (malloc'd); releases j. NULL j or a
 * failed dump can only be jansson out of memory. */
static char *json_bytes(json_t *j) {
    char *s = j ? json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s) kiln_oom("image JSON");
    return s;
}

/* A content descriptor for the blob of len bytes; digest gets "sha256:HEX". */
static json_t *descriptor(const char *media_type, const void *blob, size_t len, char digest[72]) {
    char hex[65];
    pkg_sha256_hex(blob, len, hex);
    snprintf(digest, 72, "sha256:%s", hex);
    return json_pack("{s:s, s:s, s:I}", "mediaType", media_type, "digest", digest, "size",
                     (json_int_t)len);
}

/* The layer tarball (gzip or not) as bytes, malloc'd. pkg_tar_write wants
 * a descriptor, so it goes through an unnamed temporary file. */
static uint8_t *layer_bytes(const PkgOciImage *img, const char *bin_path, int gzip, size_t *len,
                            Diag *d) {
    uint8_t *buf = NULL;
    FILE *f = tmpfile();
    if (!f) {
        diag_env(d, "cannot create a temporary file for the image layer: %s", strerror(errno));
        diag_hint(d, "check that /tmp is writable and not full");
        return NULL;
    }
    PkgTar *t = pkg_tar_create(gzip, img->created);
    pkg_tar_add_dir(t, "bin/", 0755);
    pkg_tar_add_file(t, bin_path, img->binary, img->binary_len, 0755);
    int fd = fileno(f);
    if (pkg_tar_write(t, fd, "the image layer (a temporary file)", d)) goto out;
    off_t end = lseek(fd, 0, SEEK_END);
    if (end < 0 || !(buf = malloc((size_t)end + 1)) || file_read_at(fd, buf, (size_t)end, 0)) {
        diag_env(d, "cannot read back the image layer: %s", strerror(errno));
        free(buf);
        buf = NULL;
        goto out;
    }
    *len = (size_t)end;
out:
    pkg_tar_free(t);
    fclose(f);
    return buf;
}

/* The labels (config) and annotations (manifest): the same set. */
static json_t *labels(const PkgOciImage *img, const char *created) {
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "org.opencontainers.image.title",
                     img->name, "org.opencontainers.image.version", img->version,
                     "org.opencontainers.image.created", created,
                     "org.opencontainers.image.description",
                     "a KServe v2 inference service compiled by kiln", "dev.kiln.model.name",
                     img->name, "dev.kiln.model.version", img->version, "dev.kiln.model.sha256",
                     img->model_sha256, "dev.kiln.version", KILN_VERSION);
}

static json_t *config_json(const PkgOciImage *img, const char *created, const char *entry,
                           const char *diff_id) {
    const char *variant, *arch = oci_arch(img->triple, &variant);
    json_t *c = json_pack(
        "{s:s, s:s, s:s,"
        " s:{s:s, s:[s, s], s:[s, s], s:{s:{}}, s:s, s:o},"
        " s:{s:s, s:[s]}, s:[{s:s, s:s, s:s}]}",
        "created", created, "architecture", arch, "os", "linux", "config", "User", OCI_USER,
        "Entrypoint", entry, "serve", "Cmd", "--port", OCI_PORT, "ExposedPorts", OCI_PORT "/tcp",
        "WorkingDir", "/", "Labels", labels(img, created), "rootfs", "type", "layers", "diff_ids",
        diff_id, "history", "created", created, "created_by",
        "kiln " KILN_VERSION " compile --emit oci", "comment", "the model's service binary");
    if (c && variant) json_object_set_new(c, "variant", json_string(variant));
    return c;
}

/* --- the image ----------------------------------------------------------------------- */

/* Adds blob `data` to the layout as blobs/sha256/HEX; digest is "sha256:HEX". */
static void blob_add(PkgTar *t, const char *digest, const void *data, size_t len) {
    char name[96];
    snprintf(name, sizeof name, "blobs/sha256/%s", digest + 7);
    pkg_tar_add_file(t, name, data, len, 0644);
}

int pkg_oci_write(const PkgOciImage *img, int fd, const char *shown, Diag *d) {
    if (pkg_oci_check(img->name, img->version, img->triple, d)) return -1;
    int rc = -1;
    char created[32], hex[65], diff_id[72], cfg_digest[72], layer_digest[72], man_digest[72];
    const char *variant, *arch = oci_arch(img->triple, &variant);
    time_t t = (time_t)img->created;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);

    size_t name_len = strlen(img->name), layer_len = 0;
    char *bin_path = malloc(name_len + 8), *entry = malloc(name_len + 8),
         *repo = repo_name(img->name);
    if (!bin_path || !entry) kiln_oom("image paths");
    snprintf(bin_path, name_len + 8, "bin/%s", img->name);
    snprintf(entry, name_len + 8, "/bin/%s", img->name);
    PkgTar *out = pkg_tar_create(0, img->created);
    pkg_tar_add_dir(out, "blobs/", 0755);
    pkg_tar_add_dir(out, "blobs/sha256/", 0755);

    /* The layer twice: the digest of its plain tar is the config's diff_id,
     * the gzip one is the blob. Each is freed once used: the binary, and so
     * the layer, can be as large as the model's weights. */
    uint8_t *layer = layer_bytes(img, bin_path, 0, &layer_len, d);
    if (!layer) goto out;
    pkg_sha256_hex(layer, layer_len, hex);
    snprintf(diff_id, sizeof diff_id, "sha256:%s", hex);
    free(layer);
    if (!(layer = layer_bytes(img, bin_path, 1, &layer_len, d))) goto out;
    json_t *layer_desc = descriptor(MT_LAYER, layer, layer_len, layer_digest);
    blob_add(out, layer_digest, layer, layer_len);
    free(layer);

    char *config = json_bytes(config_json(img, created, entry, diff_id));
    json_t *cfg_desc = descriptor(MT_CONFIG, config, strlen(config), cfg_digest);
    blob_add(out, cfg_digest, config, strlen(config));
    free(config);

    char *manifest = json_bytes(json_pack("{s:i, s:s, s:o, s:[o], s:o}", "schemaVersion", 2,
                                          "mediaType", MT_MANIFEST, "config", cfg_desc, "layers",
                                          layer_desc, "annotations", labels(img, created)));
    json_t *man_desc = descriptor(MT_MANIFEST, manifest, strlen(manifest), man_digest);
    blob_add(out, man_digest, manifest, strlen(manifest));
    free(manifest);

    size_t tag_len = strlen(repo) + strlen(img->version) + 2;
    char *tag = malloc(tag_len);
    if (!tag) kiln_oom("image tag");
    snprintf(tag, tag_len, "%s:%s", repo, img->version);
    json_t *platform = json_pack("{s:s, s:s}", "architecture", arch, "os", "linux");
    if (platform && variant) json_object_set_new(platform, "variant", json_string(variant));
    /* ref.name is the tag skopeo and umoci look up (oci-archive:PATH:VERSION);
     * containerd (and so `docker load` on its image store) names the image
     * by io.containerd.image.name, as `docker save` writes it. */
    json_t *ann = json_pack("{s:s, s:s+}", "org.opencontainers.image.ref.name", img->version,
                            "io.containerd.image.name", "docker.io/library/", tag);
    if (man_desc) {
        json_object_set_new(man_desc, "platform", platform);
        json_object_set_new(man_desc, "annotations", ann);
    }
    char *index = json_bytes(json_pack("{s:i, s:s, s:[o]}", "schemaVersion", 2, "mediaType",
                                       MT_INDEX, "manifests", man_desc));
    char *docker =
        json_bytes(json_pack("[{s:s+, s:[s], s:[s+]}]", "Config", "blobs/sha256/", cfg_digest + 7,
                             "RepoTags", tag, "Layers", "blobs/sha256/", layer_digest + 7));
    char *layout = json_bytes(json_pack("{s:s}", "imageLayoutVersion", "1.0.0"));
    pkg_tar_add_file(out, "index.json", index, strlen(index), 0644);
    pkg_tar_add_file(out, "manifest.json", docker, strlen(docker), 0644);
    pkg_tar_add_file(out, "oci-layout", layout, strlen(layout), 0644);
    free(index);
    free(docker);
    free(layout);
    free(tag);
    rc = pkg_tar_write(out, fd, shown, d);
out:
    pkg_tar_free(out);
    free(repo);
    free(bin_path);
    free(entry);
    return rc;
}
