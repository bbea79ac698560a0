/* tar.c: reproducible tarballs through libarchive (package.h). */
#include "package.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

typedef struct {
    char *name;
    void *data;
    size_t len;
    int mode, dir;
} TarEntry;

struct PkgTar {
    int gzip;
    int64_t mtime;
    TarEntry *e;
    int n, cap;
};

PkgTar *pkg_tar_create(int gzip, int64_t mtime) {
    PkgTar *t = calloc(1, sizeof *t);
    if (!t) kiln_oom("tarball");
    t->gzip = gzip;
    t->mtime = mtime < 0 ? 0 : mtime;
    return t;
}

static void tar_add(PkgTar *t, const char *name, const void *data, size_t len, int mode, int dir) {
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 16;
        TarEntry *e = realloc(t->e, (size_t)cap * sizeof *e);
        if (!e) kiln_oom("tarball entries");
        t->e = e;
        t->cap = cap;
    }
    TarEntry *e = &t->e[t->n++];
    e->name = strdup(name);
    e->data = len ? malloc(len) : NULL;
    if (!e->name || (len && !e->data)) kiln_oom("tarball entry");
    if (len) memcpy(e->data, data, len);
    e->len = len;
    e->mode = mode;
    e->dir = dir;
}

void pkg_tar_add_file(PkgTar *t, const char *name, const void *data, size_t len, int mode) {
    tar_add(t, name, data, len, mode, 0);
}

void pkg_tar_add_dir(PkgTar *t, const char *name, int mode) {
    tar_add(t, name, NULL, 0, mode, 1);
}

static int entry_cmp(const void *a, const void *b) {
    return strcmp(((const TarEntry *)a)->name, ((const TarEntry *)b)->name);
}

static int tar_fail(struct archive *a, const char *shown, Diag *d) {
    diag_env(d, "cannot write '%s': %s", shown, archive_error_string(a));
    archive_write_free(a);
    return -1;
}

int pkg_tar_write(PkgTar *t, int fd, const char *shown, Diag *d) {
    qsort(t->e, (size_t)t->n, sizeof *t->e, entry_cmp);
    struct archive *a = archive_write_new();
    if (!a) kiln_oom("libarchive");
    if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK) return tar_fail(a, shown, d);
    if (t->gzip && (archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
                    archive_write_set_options(a, "gzip:!timestamp") != ARCHIVE_OK))
        return tar_fail(a, shown, d);
    /* No padding of the last block beyond what tar needs: the size is then
     * a function of the entries alone. */
    archive_write_set_bytes_in_last_block(a, 1);
    if (archive_write_open_fd(a, fd) != ARCHIVE_OK) return tar_fail(a, shown, d);
    struct archive_entry *en = archive_entry_new();
    if (!en) kiln_oom("libarchive entry");
    for (int i = 0; i < t->n; i++) {
        const TarEntry *e = &t->e[i];
        archive_entry_clear(en);
        archive_entry_set_pathname(en, e->name);
        archive_entry_set_filetype(en, e->dir ? AE_IFDIR : AE_IFREG);
        archive_entry_set_perm(en, (mode_t)e->mode);
        archive_entry_set_size(en, e->dir ? 0 : (la_int64_t)e->len);
        archive_entry_set_uid(en, 0);
        archive_entry_set_gid(en, 0);
        archive_entry_set_mtime(en, (time_t)t->mtime, 0);
        if (archive_write_header(a, en) != ARCHIVE_OK ||
            (e->len && archive_write_data(a, e->data, e->len) != (la_ssize_t)e->len)) {
            archive_entry_free(en);
            return tar_fail(a, shown, d);
        }
    }
    archive_entry_free(en);
    if (archive_write_close(a) != ARCHIVE_OK) return tar_fail(a, shown, d);
    archive_write_free(a);
    return 0;
}

void pkg_tar_free(PkgTar *t) {
    if (!t) return;
    for (int i = 0; i < t->n; i++) {
        free(t->e[i].name);
        free(t->e[i].data);
    }
    free(t->e);
    free(t);
}

int pkg_source_date_epoch(int64_t *out, Diag *d) {
    *out = 0;
    const char *s = getenv("SOURCE_DATE_EPOCH");
    if (!s || !*s) return 0;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < 0) {
        diag_usage(d, "SOURCE_DATE_EPOCH is '%s', not a number of seconds since 1970", s);
        diag_hint(d, "set it to the commit's time, e.g. $(git log -1 --format=%%ct)");
        return -1;
    }
    *out = v;
    return 0;
}
