/* file.c: the one way kiln reads a file it is given (model, external data,
 * tensor files). Declared in diag.h, since every failure is a diagnostic. */
#include "diag.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *file_kind(mode_t m) {
    if (S_ISDIR(m)) return "is a directory";
    if (S_ISFIFO(m)) return "is a FIFO (named pipe), not a regular file";
    if (S_ISCHR(m)) return "is a character device, not a regular file";
    if (S_ISBLK(m)) return "is a block device, not a regular file";
    if (S_ISSOCK(m)) return "is a socket, not a regular file";
    return "is not a regular file";
}

/* file_open_regular(), telling apart a file that cannot be opened (-1)
 * from one that is not a regular file (-2). */
static int open_regular(const char *path, int flags, uint64_t *size, const char **why) {
    /* O_NONBLOCK: open() of a FIFO without a writer, or of a tty, returns
     * at once instead of waiting; fstat then tells us what we opened. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | flags);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        *why = strerror(errno);
        if (fd >= 0) close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        *why = file_kind(st.st_mode);
        close(fd);
        return -2;
    }
    /* A regular file never blocks, but leave nothing surprising on the fd. */
    int fl = fcntl(fd, F_GETFL);
    if (st.st_size < 0 || fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        *why = st.st_size < 0 ? "has a negative size" : strerror(errno);
        close(fd);
        return -1;
    }
    *size = (uint64_t)st.st_size;
    return fd;
}

int file_open_regular(const char *path, int flags, uint64_t *size, const char **why) {
    int fd = open_regular(path, flags, size, why);
    return fd < 0 ? -1 : fd;
}

int file_read_at(int fd, void *dst, size_t n, uint64_t off) {
    uint8_t *p = dst;
    while (n > 0) {
        size_t chunk = n > (1u << 30) ? (1u << 30) : n;
        ssize_t got = pread(fd, p, chunk, (off_t)off);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return -1;
        if (got == 0) {
            errno = EIO; /* the file shrank under us */
            return -1;
        }
        p += got;
        n -= (size_t)got;
        off += (uint64_t)got;
    }
    return 0;
}

uint8_t *file_read(const char *path, size_t *len, Diag *d) {
    const char *why = NULL;
    uint64_t size = 0;
    uint8_t *buf = NULL;
    int fd = open_regular(path, 0, &size, &why);
    if (fd < 0) {
        diag_file(d, path, "cannot read: %s", why);
        if (fd == -2)
            diag_hint(d, "pass the path of a regular file; kiln does not read from pipes, "
                         "devices or directories");
        else
            diag_hint(d, "check the path and its permissions");
        return NULL;
    }
    if (size > SIZE_MAX - 1) {
        diag_file(d, path, "cannot read: %llu bytes is too large", (unsigned long long)size);
        goto out;
    }
    buf = malloc((size_t)size + 1); /* +1: a 0-byte file still gets a buffer */
    if (!buf) {
        diag_env(d, "%s: out of memory reading %llu bytes", path, (unsigned long long)size);
        goto out;
    }
    uint8_t extra;
    ssize_t more = 0;
    if (file_read_at(fd, buf, (size_t)size, 0) != 0 ||
        (more = pread(fd, &extra, 1, (off_t)size)) != 0) {
        diag_file(d, path, "cannot read: %s",
                  more > 0 ? "the file grew while it was read" : strerror(errno));
        free(buf);
        buf = NULL;
        goto out;
    }
    buf[size] = 0;
    *len = (size_t)size;
out:
    close(fd);
    return buf;
}
