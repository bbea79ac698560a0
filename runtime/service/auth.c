/* auth.c: the bearer token (auth.h). */
#include "auth.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

int rt_auth_token_load(const char *path, char out[RT_TOKEN_MAX], char err[RT_ERR_LEN]) {
    out[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, RT_ERR_LEN, "cannot read the token file '%s': %s", path, strerror(errno));
        return -1;
    }
    char buf[RT_TOKEN_MAX + 1];
    size_t len = fread(buf, 1, sizeof buf, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        snprintf(err, RT_ERR_LEN, "cannot read the token file '%s'", path);
        return -1;
    }
    if (len == sizeof buf) { /* more in the file: refuse rather than cut the token */
        snprintf(err, RT_ERR_LEN,
                 "the token file '%s' holds more than %d bytes; a token is at most %d bytes "
                 "(with surrounding whitespace): use a shorter token",
                 path, RT_TOKEN_MAX, RT_TOKEN_MAX - 1);
        return -2;
    }
    size_t start = 0;
    while (start < len && is_space(buf[start]))
        start++;
    while (len > start && is_space(buf[len - 1]))
        len--;
    if (len - start >= RT_TOKEN_MAX) {
        snprintf(err, RT_ERR_LEN, "the token in '%s' is longer than %d bytes: use a shorter token",
                 path, RT_TOKEN_MAX - 1);
        return -2;
    }
    if (len == start) {
        snprintf(err, RT_ERR_LEN, "the token file '%s' is empty; put a secret token in it", path);
        return -2;
    }
    if (memchr(buf + start, '\0', len - start)) {
        snprintf(err, RT_ERR_LEN, "the token in '%s' contains a NUL byte", path);
        return -2;
    }
    memcpy(out, buf + start, len - start);
    out[len - start] = '\0';
    return 0;
}

int rt_auth_equal(const char *given, size_t n, const char *want) {
    size_t want_len = strlen(want);
    /* Every byte of want is visited whatever given holds; bytes of given
     * past want's length only make the lengths differ. */
    unsigned diff = n != want_len;
    for (size_t i = 0; i < want_len; i++) {
        unsigned char g = i < n ? (unsigned char)given[i] : 0;
        diff |= g ^ (unsigned char)want[i];
    }
    return diff == 0;
}

int rt_auth_bearer_check(const char *header, const char *token) {
    if (!header || strncasecmp(header, "Bearer ", 7) != 0) return 0;
    const char *given = header + 7;
    while (*given == ' ')
        given++;
    size_t n = strlen(given);
    while (n > 0 && is_space(given[n - 1]))
        n--;
    return rt_auth_equal(given, n, token);
}
