#include "diag.h"

#include <stdarg.h>

#include "ir.h"

void diag_init(Diag *d, FILE *out) {
    d->out = out ? out : stderr;
    d->n_errors = 0;
    d->exit_code = EXIT_OK;
}

int diag_count(const Diag *d) {
    return d ? d->n_errors : 0;
}

static void note_error(Diag *d, int code) {
    d->n_errors++;
    if (code > d->exit_code) d->exit_code = code;
}

/* A NULL Diag is allowed (unit tests, speculative checks): messages are
 * dropped. */
#define EMIT(d, code, ...)                                                                         \
    do {                                                                                           \
        if (!(d)) return;                                                                          \
        note_error(d, code);                                                                       \
        fprintf((d)->out, __VA_ARGS__);                                                            \
    } while (0)

static void vline(FILE *out, const char *fmt, va_list ap) {
    vfprintf(out, fmt, ap);
    fputc('\n', out);
}

void diag_file(Diag *d, const char *path, const char *fmt, ...) {
    EMIT(d, EXIT_MODEL, "%s: ", path ? path : "kiln");
    va_list ap;
    va_start(ap, fmt);
    vline(d->out, fmt, ap);
    va_end(ap);
}

void diag_node(Diag *d, const Node *n, const char *fmt, ...) {
    EMIT(d, EXIT_MODEL, "%s: node '%s' (%s): ", n->graph->source_path, n->name, n->op_type);
    va_list ap;
    va_start(ap, fmt);
    vline(d->out, fmt, ap);
    va_end(ap);
}

void diag_usage(Diag *d, const char *fmt, ...) {
    EMIT(d, EXIT_USAGE, "kiln: ");
    va_list ap;
    va_start(ap, fmt);
    vline(d->out, fmt, ap);
    va_end(ap);
}

void diag_env(Diag *d, const char *fmt, ...) {
    EMIT(d, EXIT_ENV, "kiln: ");
    va_list ap;
    va_start(ap, fmt);
    vline(d->out, fmt, ap);
    va_end(ap);
}

void diag_hint(Diag *d, const char *fmt, ...) {
    if (!d) return;
    fputs("  hint: ", d->out);
    va_list ap;
    va_start(ap, fmt);
    vline(d->out, fmt, ap);
    va_end(ap);
}
