#include "link.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;
extern const char kiln_embed_kilnrt[], kiln_embed_kilnrt_end[];

/* Names of what link_service() leaves in the temporary directory. */
static const char *const temp_files[] = {"model.o", "libkilnrt.a", "link.log", "model.a", NULL};

int link_tempdir_create(char dir[PATH_MAX], Diag *d) {
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    snprintf(dir, PATH_MAX, "%s/kiln-XXXXXX", base);
    if (!mkdtemp(dir)) {
        diag_env(d, "cannot create a temporary directory in %s: %s", base, strerror(errno));
        diag_hint(d, "set TMPDIR to a writable directory");
        return -1;
    }
    return 0;
}

void link_tempdir_remove(const char *dir) {
    char path[PATH_MAX];
    for (int i = 0; temp_files[i]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, temp_files[i]);
        unlink(path);
    }
    rmdir(dir);
}

static int write_file(const char *path, const void *data, size_t len, Diag *d) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        diag_env(d, "cannot write '%s': %s", path, strerror(errno));
        if (f) fclose(f);
        return -1;
    }
    return 0;
}

int link_output_begin(const char *out, char tmp[PATH_MAX], Diag *d) {
    struct stat st;
    tmp[0] = 0;
    if (lstat(out, &st) == 0 && !S_ISREG(st.st_mode)) return 0;
    const char *slash = strrchr(out, '/');
    int dir_len = slash ? (int)(slash - out + 1) : 0;
    /* O_EXCL with a fresh name: two kiln runs never share a temporary. The
     * mode is 0666 less the umask, as a plain fopen() would give. */
    static unsigned serial;
    for (int tries = 0; tries < 100; tries++) {
        if (snprintf(tmp, PATH_MAX, "%.*s.%s.kiln-tmp-%ld-%u", dir_len, out, out + dir_len,
                     (long)getpid(), serial++) >= PATH_MAX) {
            tmp[0] = 0;
            diag_usage(d, "output path '%s' is too long", out);
            return -1;
        }
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        if (errno != EEXIST) break;
    }
    diag_env(d, "cannot write '%s': %s", out, strerror(errno));
    diag_hint(d, "check that the directory exists and is writable");
    tmp[0] = 0;
    return -1;
}

int link_output_commit(const char *tmp, const char *out, Diag *d) {
    if (rename(tmp, out) == 0) return 0;
    diag_env(d, "cannot write '%s': %s", out, strerror(errno));
    unlink(tmp);
    return -1;
}

int link_service(const char *tmpdir, const char *obj, const char *path, const char *shown,
                 Diag *d) {
    char lib[PATH_MAX];
    snprintf(lib, sizeof lib, "%s/libkilnrt.a", tmpdir);
    if (write_file(lib, kiln_embed_kilnrt, (size_t)(kiln_embed_kilnrt_end - kiln_embed_kilnrt), d))
        return -1;
    const char *cc = getenv("KILN_CC");
    if (!cc || !*cc) cc = "cc";
    /* -static: no shared libraries at run time; -s: no symbol tables in
     * the shipped binary; --gc-sections drops unused runtime code. */
    char *argv[] = {(char *)cc,     "-static",   "-s",  "-Wl,--gc-sections", "-o",
                    (char *)path,   (char *)obj, lib,   "-levent_extra",     "-levent_pthreads",
                    "-levent_core", "-ljansson", "-lm", "-lpthread",         NULL};
    pid_t pid;
    /* The linker's chatter (glibc's warnings about getaddrinfo in static
     * binaries: libevent references it, kiln's server never calls it) goes
     * to a log that is shown only when the link fails. */
    char log_path[PATH_MAX];
    snprintf(log_path, sizeof log_path, "%s/link.log", tmpdir);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err = posix_spawnp(&pid, cc, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (err) {
        diag_env(d, "cannot run the linker '%s': %s", cc, strerror(err));
        diag_hint(d, "install a C toolchain (apt-get install build-essential) or set KILN_CC");
        return -1;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) break;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        FILE *log = fopen(log_path, "r");
        if (log) {
            char line[1024];
            while (fgets(line, sizeof line, log))
                fputs(line, d->out ? d->out : stderr);
            fclose(log);
        }
        diag_env(d, "linking '%s' failed (%s exited with status %d)", shown, cc,
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        diag_hint(d, "the static libraries come from libevent-dev, libjansson-dev and libc6-dev; "
                     "run scripts/install-deps.sh");
        return -1;
    }
    return 0;
}

/* Copies the file src to dst (opened for writing, not replaced: it may be
 * link_output_begin's temporary or a device). */
static int copy_file(const char *src, const char *dst, Diag *d) {
    FILE *in = fopen(src, "rb"), *out = in ? fopen(dst, "wb") : NULL;
    char buf[65536];
    size_t n;
    int rc = in && out ? 0 : -1;
    while (rc == 0 && (n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n) rc = -1;
    if (in && ferror(in)) rc = -1;
    if (out && fclose(out) != 0) rc = -1;
    if (in) fclose(in);
    if (rc) diag_env(d, "cannot write '%s': %s", dst, strerror(errno));
    return rc;
}

int link_archive(const char *tmpdir, const char *obj, const char *path, const char *shown,
                 Diag *d) {
    char lib[PATH_MAX], log_path[PATH_MAX];
    snprintf(lib, sizeof lib, "%s/model.a", tmpdir);
    snprintf(log_path, sizeof log_path, "%s/link.log", tmpdir);
    const char *ar = getenv("KILN_AR");
    if (!ar || !*ar) ar = "ar";
    char *argv[] = {(char *)ar, "rcsD", lib, (char *)obj, NULL};
    pid_t pid;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    int err = posix_spawnp(&pid, ar, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (err) {
        diag_env(d, "cannot run the archiver '%s' to write '%s': %s", ar, shown, strerror(err));
        diag_hint(d, "install binutils (apt-get install binutils) or set KILN_AR, e.g. to "
                     "llvm-ar-19");
        return -1;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) break;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        FILE *log = fopen(log_path, "r");
        if (log) {
            char line[1024];
            while (fgets(line, sizeof line, log))
                fputs(line, d->out ? d->out : stderr);
            fclose(log);
        }
        diag_env(d, "writing the library '%s' failed (%s exited with status %d)", shown, ar,
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        diag_hint(d, "KILN_AR must name an ar that takes `rcsD` (binutils' ar, llvm-ar-19)");
        return -1;
    }
    return copy_file(lib, path, d);
}
