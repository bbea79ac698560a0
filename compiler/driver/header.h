/* header.h: the C header that comes with an embeddable model.
 *
 * `kiln compile --emit obj|lib` writes a header beside the object or
 * library. It is self-contained C (and C++, through extern "C"): the text
 * of runtime/kiln_model.h, embedded in kiln at build time
 * (compiler/driver/embed_abi.S), then this model's declarations: the
 * exported KilnModel `kiln_model_<ident>` and, per input and output,
 * macros with its name, dtype, rank, shape (-1 for the batch dimension)
 * and elements per batch item, so that a program can fill its inputs
 * without reading the metadata at run time. The caller owns the FILE.
 */
#ifndef HEADER_H
#define HEADER_H

#include <stdio.h>

#include "ir.h"

/* What the header says about the model besides its graph. */
typedef struct HeaderModel {
    const char *name;    /* KilnModel.name (--name) */
    const char *version; /* KilnModel.version */
    const char *ident;   /* name as a C identifier: the symbol is kiln_model_<ident> */
} HeaderModel;

/* name made a C identifier: every byte outside [A-Za-z0-9_] becomes '_'.
 * From a. */
char *header_ident(Arena *a, const char *name);

/* Writes the header for graph g (after the pass pipeline) to f. 0 ok, -1
 * if writing failed (errno says why). */
int header_write(FILE *f, const Graph *g, const HeaderModel *m);

#endif
