/* diag.h: user-facing diagnostics.
 *
 * A Diag collects the errors of one run of kiln and prints each as it is
 * reported, in the form
 *
 *     fraud.onnx: node 'fc1' (Gemm): input 'B' has rank 3, expected 2
 *       hint: re-export the model with opset >= 11
 *
 * Errors carry the exit code the driver should end with (1 the model or
 * input is at fault, 2 bad usage, 3 the environment); the worst one wins.
 * A phase reports every error it finds, then the driver checks
 * diag_count() and stops. Diag owns nothing but its counters.
 */
#ifndef DIAG_H
#define DIAG_H

#include <stdint.h>
#include <stdio.h>

typedef struct Node Node;

enum { EXIT_OK = 0, EXIT_MODEL = 1, EXIT_USAGE = 2, EXIT_ENV = 3 };

typedef struct Diag {
    FILE *out;     /* where messages go; stderr by default */
    int n_errors;  /* errors reported so far */
    int exit_code; /* worst EXIT_* seen */
} Diag;

void diag_init(Diag *d, FILE *out);
int diag_count(const Diag *d);

/* "PATH: message". Exit code 1 (the model or an input file is at fault). */
void diag_file(Diag *d, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "SOURCE: node 'NAME' (OP): message", the source file taken from the node's graph. */
void diag_node(Diag *d, const Node *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "kiln: message" with exit code 2 (bad flags or arguments). */
void diag_usage(Diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "kiln: message" with exit code 3 (no linker, disk full, out of temp space). */
void diag_env(Diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "  hint: message" under the last error. */
void diag_hint(Diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* --- reading the files kiln is given (file.c) -------------------------------
 *
 * Every file kiln reads (model, external data, tensor files) goes through
 * these, so none can hang on a FIFO or a device: the file is opened with
 * O_NONBLOCK and anything but a regular file is refused at once. */

/* Reads the whole regular file at path into a malloc'd buffer of *len
 * bytes plus a terminating 0 byte; the caller frees it. Returns NULL after
 * one diagnostic naming path: exit class 1 (missing, unreadable, not a
 * regular file), 3 out of memory. */
uint8_t *file_read(const char *path, size_t *len, Diag *d);
/* Opens the regular file at path read-only (flags adds e.g. O_NOFOLLOW),
 * blocking mode restored, and sets *size. Returns the descriptor, or -1
 * with *why saying why in words ("No such file or directory", "is a
 * directory", "is a FIFO (named pipe), not a regular file"). */
int file_open_regular(const char *path, int flags, uint64_t *size, const char **why);
/* Reads exactly n bytes at offset off: 0, or -1 with errno set (EIO: the
 * file ended first). */
int file_read_at(int fd, void *dst, size_t n, uint64_t off);

#endif
