/* link.h: the service binary, from the model object and the runtime.
 *
 * The runtime library libkilnrt.a is embedded in kiln (compiler/driver/embed_rt.S);
 * link_service() writes it next to the object in a private temporary
 * directory and runs the system's C compiler driver (`cc`, or $KILN_CC)
 * to link everything statically. For --target aarch64-linux-gnu the
 * embedded aarch64 runtime is linked by aarch64-linux-gnu-gcc (or
 * $KILN_CC_AARCH64) with the arm64 libraries scripts/install-deps.sh puts
 * in place.
 *
 * Every file kiln compile writes appears atomically: link_output_begin()
 * names a temporary file next to the output, the caller writes that, and
 * link_output_commit() renames it into place; on any failure the caller
 * unlinks the temporary, so the output is either complete or untouched.
 */
#ifndef LINK_H
#define LINK_H

#include <limits.h>

#include "diag.h"

/* Creates a private temporary directory (under $TMPDIR or /tmp) into dir.
 * 0 ok; -1 with an environment diagnostic. */
int link_tempdir_create(char dir[PATH_MAX], Diag *d);
/* Removes the directory and the files kiln put in it. */
void link_tempdir_remove(const char *dir);

/* Creates an empty temporary file in out's directory and puts its name in
 * tmp. An existing `out` that is not a regular file (/dev/null, a FIFO, a
 * symlink) is written in place instead: tmp gets "" and nothing is
 * renamed over it. 0 ok; -1 with an environment diagnostic. */
int link_output_begin(const char *out, char tmp[PATH_MAX], Diag *d);
/* Renames tmp (from link_output_begin, not "") to out. 0 ok; -1 with a
 * diagnostic. Either way tmp no longer exists afterwards. */
int link_output_commit(const char *tmp, const char *out, Diag *d);

/* Whether kiln can link a service executable for triple (NULL: the host):
 * a target it knows, whose runtime this kiln embeds and whose cross
 * linker and static libraries are installed. 0 ok; -1 with a usage (2) or
 * environment (3) diagnostic naming the packages. Cheap: the driver calls
 * it before code generation. */
int link_target_check(const char *triple, Diag *d);

/* Links obj (inside tmpdir) with the embedded runtime for triple (NULL:
 * the host) into the static executable `path`; messages call it `shown`
 * (the output's real name). 0 ok; -1 with a diagnostic (exit class 3 when
 * no linker can be run). */
int link_service(const char *tmpdir, const char *obj, const char *path, const char *shown,
                 const char *triple, Diag *d);

/* Puts obj (inside tmpdir) into a static library with `ar rcsD` ($KILN_AR,
 * default ar from binutils; D: zero timestamps, uids and modes, so the
 * library is a function of the object) and copies it to `path`; messages
 * call it `shown`. The model object needs only libc and libm, so it is
 * the library's one member. 0 ok; -1 with a diagnostic (exit class 3
 * when ar cannot be run). */
int link_archive(const char *tmpdir, const char *obj, const char *path, const char *shown, Diag *d);

#endif
