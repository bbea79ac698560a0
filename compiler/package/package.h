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

/* --- the release archive (archive.c, manifest.c, sbom.c, verify.c) ---------- */

/* --- the OCI image (oci.c) --------------------------------------------------- */

#endif
