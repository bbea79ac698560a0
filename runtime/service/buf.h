/* buf.h: a growable byte buffer for writing JSON text quickly.
 *
 * An RtBuf owns its bytes (malloc'd). Appends never fail loudly: when
 * memory runs out the buffer sets `oom`, ignores later writes, and the
 * writer checks `oom` once at the end, so writing code is a straight run
 * of appends. rt_buf_take() hands the NUL-terminated text to the caller,
 * who frees it with free(); rt_buf_free() releases it otherwise.
 *
 * Numbers are written with the C locale's "." (the runtime never calls
 * setlocale). Floats use enough digits to read back bit-exactly: 9
 * significant digits for float32, 17 for float64, 5 for float16. JSON has
 * no NaN or infinity, so rt_buf_put_float() writes those as null and
 * returns 1, and the caller decides how to report them.
 */
#ifndef BUF_H
#define BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct RtBuf {
    char *data; /* NUL-terminated once anything was written */
    size_t len; /* bytes written, without the NUL */
    size_t cap; /* bytes allocated */
    int oom;    /* 1 after an allocation failed; the text is then incomplete */
} RtBuf;

void rt_buf_init(RtBuf *b);
void rt_buf_free(RtBuf *b);
char *rt_buf_take(RtBuf *b, size_t *len_out); /* NULL if oom; leaves b empty */

void rt_buf_put(RtBuf *b, const void *p, size_t n);
void rt_buf_puts(RtBuf *b, const char *s);
void rt_buf_putc(RtBuf *b, char c);
void rt_buf_printf(RtBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* s as a quoted JSON string: '"', '\\', control characters and DEL
 * escaped, well-formed UTF-8 copied as it is, and each byte that is not
 * part of well-formed UTF-8 written as \ufffd. The text is always valid
 * JSON on one line, whatever bytes a client sent. */
void rt_buf_put_json_string(RtBuf *b, const char *s);

void rt_buf_put_i64(RtBuf *b, int64_t v);
void rt_buf_put_u64(RtBuf *b, uint64_t v);

/* v with `digits` significant digits (9 for float32, 17 for float64).
 * Returns 1 if v is NaN or infinite and was written as null, else 0. */
int rt_buf_put_float(RtBuf *b, double v, int digits);

#endif
