/* buf.c: the growable byte buffer of buf.h. */
#include "buf.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rt_buf_init(RtBuf *b) {
    memset(b, 0, sizeof *b);
}

void rt_buf_free(RtBuf *b) {
    free(b->data);
    rt_buf_init(b);
}

char *rt_buf_take(RtBuf *b, size_t *len_out) {
    char *s = NULL;
    if (!b->oom) {
        rt_buf_put(b, "", 0); /* makes sure there is a NUL, even when empty */
        s = b->oom ? NULL : b->data;
        if (s && len_out) *len_out = b->len;
    }
    if (!s) free(b->data);
    rt_buf_init(b);
    return s;
}

/* Makes room for `extra` more bytes plus the NUL. 0 if there is room. */
static int buf_reserve(RtBuf *b, size_t extra) {
    if (b->oom) return -1;
    assert(b->data ? b->len < b->cap : b->len == 0 && b->cap == 0);
    if (extra < b->cap - b->len) return 0; /* cap - len > extra: the NUL fits too */
    size_t need = b->len + extra + 1;
    if (need < b->len) goto fail; /* overflow */
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) goto fail;
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p) goto fail;
    b->data = p;
    b->cap = cap;
    return 0;
fail:
    b->oom = 1;
    return -1;
}

void rt_buf_put(RtBuf *b, const void *p, size_t n) {
    if (buf_reserve(b, n) != 0) return;
    assert(b->len + n < b->cap);
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void rt_buf_puts(RtBuf *b, const char *s) {
    rt_buf_put(b, s, strlen(s));
}

void rt_buf_putc(RtBuf *b, char c) {
    rt_buf_put(b, &c, 1);
}

void rt_buf_printf(RtBuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_reserve(b, (size_t)n) != 0) return;
    assert(b->len + (size_t)n < b->cap);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Bytes of the well-formed UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, at most U+10FFFF), or 0 if it is not one. */
static size_t utf8_len(const unsigned char *s) {
    unsigned char c = s[0];
    size_t n;
    unsigned lo = 0x80, hi = 0xbf; /* the range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else {
        return 0;
    }
    if (s[1] < lo || s[1] > hi) return 0; /* also stops at the NUL */
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf) return 0;
    return n;
}

void rt_buf_put_json_string(RtBuf *b, const char *s) {
    static const char hex[] = "0123456789abcdef";
    rt_buf_putc(b, '"');
    const char *run = s; /* start of the bytes not yet copied */
    while (*s) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            s++;
            continue;
        }
        if (c >= 0x80) {
            size_t n = utf8_len((const unsigned char *)s);
            if (n) {
                s += n;
                continue;
            }
        }
        rt_buf_put(b, run, (size_t)(s - run));
        s++;
        run = s;
        switch (c) {
        case '"':
            rt_buf_puts(b, "\\\"");
            break;
        case '\\':
            rt_buf_puts(b, "\\\\");
            break;
        case '\n':
            rt_buf_puts(b, "\\n");
            break;
        case '\r':
            rt_buf_puts(b, "\\r");
            break;
        case '\t':
            rt_buf_puts(b, "\\t");
            break;
        default:
            if (c >= 0x80) { /* one byte of invalid UTF-8: U+FFFD, the replacement character */
                rt_buf_puts(b, "\\ufffd");
            } else {
                char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                rt_buf_put(b, esc, sizeof esc);
            }
        }
    }
    rt_buf_put(b, run, (size_t)(s - run));
    rt_buf_putc(b, '"');
}

void rt_buf_put_u64(RtBuf *b, uint64_t v) {
    char tmp[20]; /* UINT64_MAX has 20 digits */
    char *p = tmp + sizeof tmp;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    rt_buf_put(b, p, (size_t)(tmp + sizeof tmp - p));
}

void rt_buf_put_i64(RtBuf *b, int64_t v) {
    if (v < 0) {
        rt_buf_putc(b, '-');
        rt_buf_put_u64(b, -(uint64_t)v); /* well defined for INT64_MIN too */
    } else {
        rt_buf_put_u64(b, (uint64_t)v);
    }
}

int rt_buf_put_float(RtBuf *b, double v, int digits) {
    if (!isfinite(v)) {
        rt_buf_puts(b, "null");
        return 1;
    }
    /* "%.17g" is at most 24 bytes: sign, 17 digits, '.', "e-308". */
    assert(digits > 0 && digits <= 17);
    if (buf_reserve(b, 32) != 0) return 0;
    int n = snprintf(b->data + b->len, 32, "%.*g", digits, v);
    assert(n > 0 && n < 32);
    if (n > 0 && n < 32) b->len += (size_t)n;
    return 0;
}
