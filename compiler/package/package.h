/* package.h: release artifacts built from a compiled service binary.
 *
 * The layer after codegen, used by the driver: byte-for-byte reproducible
 * tarballs (tar.c), the release archive with its manifest, SBOM and
 * deployment files, and `kiln verify` (archive.c and its neighbours), and
 * the OCI image (oci.c). Everything written is a function of its inputs
 * and SOURCE_DATE_EPOCH only: no paths, clocks, user names or hosts.
 */
#ifndef PACKAGE_H
#define PACKAGE_H

#include <stddef.h>
#include <stdint.h>

#include "diag.h"

/* --- reproducible tarballs (tar.c) ------------------------------------------ */

/* A tarball assembled in memory and written in one go. Entries are written
 * sorted by name (bytewise), as ustar/pax with uid/gid 0, no user or group
 * names, the given mode, and mtime min(their time, the tarball's); gzip
 * output has no name and no timestamp. So equal entries give equal bytes
 * whatever the order they were added in. */
typedef struct PkgTar PkgTar;

/* An empty tarball; gzip: compress it. mtime: seconds since the epoch for
 * every entry (SOURCE_DATE_EPOCH; pkg_source_date_epoch()). */
PkgTar *pkg_tar_create(int gzip, int64_t mtime);
/* Adds a regular file (the data is copied) or a directory ("a/b/"). The
 * name is relative, without "./", "..", or a leading "/". */
void pkg_tar_add_file(PkgTar *t, const char *name, const void *data, size_t len, int mode);
void pkg_tar_add_dir(PkgTar *t, const char *name, int mode);
/* Writes the tarball to the open file descriptor fd (not closed); `shown`
 * names it in messages. 0 ok; -1 with an environment diagnostic. */
int pkg_tar_write(PkgTar *t, int fd, const char *shown, Diag *d);
void pkg_tar_free(PkgTar *t);

/* SOURCE_DATE_EPOCH from the environment: 0 ok with *out set (0 when the
 * variable is unset: the artifacts are then dated 1970-01-01, still
 * reproducible); -1 with a usage diagnostic when it is not a number of
 * seconds. */
int pkg_source_date_epoch(int64_t *out, Diag *d);

/* --- digests (hash.c) ------------------------------------------------------- */

/* The SHA-256 of data as 64 lowercase hex digits and a NUL. */
void pkg_sha256_hex(const void *data, size_t len, char hex[65]);

/* The model version both release kinds are named by (the archive's
 * NAME-VERSION/ directory, the image tag): up to 128 of [A-Za-z0-9_.-],
 * not starting with '.' or '-'. 0 ok; -1 with a usage diagnostic naming
 * --model-version. */
int pkg_release_version_check(const char *version, Diag *d);

/* --- the release archive (archive.c, manifest.c, verify.c) --------------------- */

/* One graph input or output as the manifest shows it. */
typedef struct PkgTensor {
    const char *name;    /* the ONNX name */
    const char *dtype;   /* ONNX spelling: "float", "int64", ... */
    int rank;            /* number of dims */
    const int64_t *dims; /* length rank; -1 for the batch dimension */
} PkgTensor;

/* An operator set the model uses. */
typedef struct PkgOpset {
    const char *domain; /* "" for the default domain (ai.onnx) */
    int version;
} PkgOpset;

/* Everything a release archive says about one compiled model. The caller
 * owns every pointer; nothing is kept after the call. */
typedef struct PkgRelease {
    const char *name, *version;        /* --name, --model-version */
    const char *model_file;            /* the model's base name ("fraud.onnx") */
    const char *model_sha256;          /* 64 hex digits */
    uint64_t model_size;               /* bytes */
    const PkgTensor *inputs, *outputs; /* in graph order */
    int n_inputs, n_outputs;
    const PkgOpset *opsets; /* default domain first */
    int n_opsets;
    const char *const *command; /* the reproducible command line (no paths, no -o) */
    int n_command;
    const char *triple;      /* the target triple */
    const char *const *cpus; /* the CPU levels the binary carries code for */
    int n_cpus;
    const void *binary; /* the service binary's bytes */
    size_t binary_len;
    int64_t epoch; /* SOURCE_DATE_EPOCH: the build time */
} PkgRelease;

/* The archive's top directory, "NAME-VERSION", malloc'd. */
char *pkg_release_dir(const PkgRelease *r);

/* manifest.json and sbom.cdx.json (CycloneDX 1.5) of r as text, malloc'd,
 * two-space indented with a final newline. Every value comes from r and
 * the Debian package versions recorded when kiln was built. */
char *pkg_manifest_json(const PkgRelease *r);
char *pkg_sbom_json(const PkgRelease *r);
/* deploy/kubernetes.yaml and deploy/kserve.yaml, malloc'd. */
char *pkg_kubernetes_yaml(const PkgRelease *r);
char *pkg_kserve_yaml(const PkgRelease *r);

/* Writes the release archive of r as a gzipped tarball to fd (not closed):
 * NAME-VERSION/ with bin/NAME, manifest.json, sbom.cdx.json, deploy/,
 * README.md and SHA256SUMS over all of those. The bytes are a function of
 * r alone. `shown` names the output in messages. 0 ok; -1 with a
 * diagnostic. */
int pkg_archive_write(const PkgRelease *r, int fd, const char *shown, Diag *d);

/* `kiln verify`: reads the archive at path and checks SHA256SUMS against
 * every member, and the manifest, the SBOM and the binary against each
 * other. Prints "PATH: verified N files" to out and returns 0, or reports
 * each member that differs, is missing or is extra through d and returns
 * -1 (exit class 1; also when path is not a readable archive). */
int pkg_archive_verify(const char *path, FILE *out, Diag *d);

/* --- the OCI image (oci.c) --------------------------------------------------- */

/* An OCI image layout (image-spec 1.1) as one uncompressed tarball:
 * `oci-layout`, `index.json` (one manifest, tagged VERSION by the
 * org.opencontainers.image.ref.name annotation) and blobs/sha256/ (config,
 * manifest, one gzip layer holding bin/NAME alone, mode 0755), plus
 * Docker's `manifest.json` (RepoTags ["REPO:VERSION"], REPO being NAME in
 * lower case) so that `docker load` takes it as well as
 * `skopeo copy oci-archive:PATH:VERSION ...`. The image runs as user
 * 65532:65532 with entrypoint [/bin/NAME, serve] and cmd [--port, 8080],
 * exposing 8080/tcp; its config labels carry the model's name, version and
 * sha256 and kiln's version. */
typedef struct PkgOciImage {
    const char *name;         /* the model name: the binary's file name */
    const char *version;      /* the model version: the image tag */
    const char *model_sha256; /* 64 hex digits */
    const char *triple;       /* the target triple; gives the image's architecture */
    int64_t created;          /* SOURCE_DATE_EPOCH: the image's creation time */
    const void *binary;       /* the static service binary */
    size_t binary_len;
} PkgOciImage;

/* 0 if an image can be made for this name, version and triple; -1 with a
 * usage diagnostic naming --name, --model-version or --target otherwise.
 * The driver calls it before compiling, so a bad flag fails fast. */
int pkg_oci_check(const char *name, const char *version, const char *triple, Diag *d);
/* Writes img's image tarball to the open descriptor fd (not closed);
 * `shown` names it in messages. 0 ok; -1 with a diagnostic. */
int pkg_oci_write(const PkgOciImage *img, int fd, const char *shown, Diag *d);

#endif
