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

/* --- the release archive (archive.c, manifest.c, sbom.c, verify.c) ---------- */

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
