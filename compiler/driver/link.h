/* link.h: the service binary, from the model object and the runtime.
 *
 * The runtime library libkilnrt.a is embedded in kiln (compiler/driver/embed_rt.S);
 * link_service() writes it next to the object in a private temporary
 * directory and runs the system's C compiler driver (`cc`, or $KILN_CC)
 * to link everything statically. The output appears atomically: it is
 * linked under a temporary name and renamed into place.
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

/* Links obj (inside tmpdir) with the embedded runtime into the static
 * executable `out`. 0 ok; -1 with a diagnostic (exit class 3 when no
 * linker can be run). */
int link_service(const char *tmpdir, const char *obj, const char *out, Diag *d);

#endif
