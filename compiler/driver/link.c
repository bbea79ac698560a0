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
extern const char kiln_embed_kilnrt_aarch64[], kiln_embed_kilnrt_aarch64_end[];

#ifndef KILN_AARCH64_SYSROOT
#define KILN_AARCH64_SYSROOT "/opt/kiln/sysroot-aarch64"
#endif
#ifndef KILN_AARCH64_LIBDIR
#define KILN_AARCH64_LIBDIR "/usr/lib/aarch64-linux-gnu"
#endif
#define AARCH64_EVENT KILN_AARCH64_SYSROOT "/usr/lib/aarch64-linux-gnu/"

/* The targets kiln links service binaries for: the host, and aarch64
 * through the Debian cross toolchain, the arm64 libevent that
 * scripts/install-deps.sh unpacks into KILN_AARCH64_SYSROOT and the
 * multiarch arm64 jansson. Static libraries are named by path there, so
 * that the host's are never picked up. */
typedef struct LinkTarget {
    const char *arch;           /* a triple's first field; NULL: the host */
    const char *cc;             /* the C compiler driver that links */
    const char *cc_env;         /* environment variable that overrides cc */
    const char *cc_package;     /* the Debian package that has cc */
    const char *lib_packages;   /* ... and those that have the libraries */
    const char *rt, *rt_end;    /* the embedded libkilnrt.a; empty if not built */
    const char *const libs[8];  /* after libkilnrt.a, NULL-terminated */
    const char *const files[4]; /* libraries that must exist, NULL-terminated */
} LinkTarget;

static const LinkTarget link_targets[] = {
    {NULL,
     "cc",
     "KILN_CC",
     "build-essential",
     "libevent-dev, libjansson-dev and libc6-dev",
     kiln_embed_kilnrt,
     kiln_embed_kilnrt_end,
     {"-levent_extra", "-levent_pthreads", "-levent_core", "-ljansson", "-lm", "-lpthread", NULL},
     {NULL}},
    {"aarch64",
     "aarch64-linux-gnu-gcc",
     "KILN_CC_AARCH64",
     "gcc-aarch64-linux-gnu",
     "libc6-dev-arm64-cross, libjansson-dev:arm64 and libevent-dev:arm64 unpacked "
     "into " KILN_AARCH64_SYSROOT,
     kiln_embed_kilnrt_aarch64,
     kiln_embed_kilnrt_aarch64_end,
     {AARCH64_EVENT "libevent_extra.a", AARCH64_EVENT "libevent_pthreads.a",
      AARCH64_EVENT "libevent_core.a", KILN_AARCH64_LIBDIR "/libjansson.a", "-lm", "-lpthread",
      NULL},
     {AARCH64_EVENT "libevent_core.a", KILN_AARCH64_LIBDIR "/libjansson.a", NULL}},
};

static int triple_is_host_arch(const char *triple, size_t n) {
#if defined(__x86_64__)
    return n == 6 && strncmp(triple, "x86_64", 6) == 0;
#elif defined(__aarch64__)
    return n == 7 && strncmp(triple, "aarch64", 7) == 0;
#else
    (void)triple, (void)n;
    return 0;
#endif
}

/* The entry for triple (NULL: the host). NULL with a usage diagnostic for
 * a target kiln cannot link executables for. */
static const LinkTarget *link_target_find(const char *triple, Diag *d) {
    if (!triple) return &link_targets[0];
    size_t n = strcspn(triple, "-");
    if (strstr(triple, "-linux")) {
        if (triple_is_host_arch(triple, n)) return &link_targets[0];
        for (size_t i = 1; i < sizeof link_targets / sizeof *link_targets; i++)
            if (strlen(link_targets[i].arch) == n && !strncmp(triple, link_targets[i].arch, n))
                return &link_targets[i];
    }
    diag_usage(d,
               "--target %s: kiln links service executables only for Linux on this "
               "machine's architecture and aarch64-linux-gnu",
               triple);
    diag_hint(d,
              "leave out --target for this machine; for another, --emit obj and link it yourself");
    return NULL;
}

/* The C compiler driver for t: $<cc_env> or t->cc. */
static const char *link_target_cc(const LinkTarget *t) {
    const char *cc = getenv(t->cc_env);
    return cc && *cc ? cc : t->cc;
}

/* Whether name is an executable in $PATH (or a path to one). */
static int program_exists(const char *name) {
    if (strchr(name, '/')) return access(name, X_OK) == 0;
    const char *path = getenv("PATH");
    if (!path) path = "/usr/bin:/bin";
    char buf[PATH_MAX];
    for (const char *p = path; *p;) {
        size_t n = strcspn(p, ":");
        if (snprintf(buf, sizeof buf, "%.*s/%s", (int)n, n ? p : ".", name) < (int)sizeof buf &&
            access(buf, X_OK) == 0)
            return 1;
        p += n;
        if (*p == ':') p++;
    }
    return 0;
}

int link_target_check(const char *triple, Diag *d) {
    const LinkTarget *t = link_target_find(triple, d);
    if (!t) return -1;
    if (t == &link_targets[0]) return 0; /* the host: a missing cc is reported when it runs */
    if (t->rt == t->rt_end) {
        diag_env(d, "--target %s: this kiln was built without the %s runtime", triple, t->arch);
        diag_hint(d, "install %s and %s (scripts/install-deps.sh), then rebuild kiln",
                  t->cc_package, t->lib_packages);
        return -1;
    }
    const char *cc = link_target_cc(t);
    if (!program_exists(cc)) {
        diag_env(d, "--target %s: the cross linker '%s' is not installed", triple, cc);
        diag_hint(d, "install %s (scripts/install-deps.sh), or set %s", t->cc_package, t->cc_env);
        return -1;
    }
    for (int i = 0; t->files[i]; i++)
        if (access(t->files[i], R_OK) != 0) {
            diag_env(d, "--target %s: the static library '%s' is missing", triple, t->files[i]);
            diag_hint(d, "it comes from %s; run scripts/install-deps.sh", t->lib_packages);
            return -1;
        }
    return 0;
}

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

/* Waits for the tool kiln ran (the linker, ar): 0 if it succeeded, else
 * its exit status (-1 for a signal) after copying its output, log_path,
 * to the diagnostics. */
static int child_wait(pid_t pid, const char *log_path, Diag *d) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) break;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
    FILE *log = fopen(log_path, "r");
    if (log) {
        char line[1024];
        while (fgets(line, sizeof line, log))
            fputs(line, d->out ? d->out : stderr);
        fclose(log);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int link_service(const char *tmpdir, const char *obj, const char *path, const char *shown,
                 const char *triple, Diag *d) {
    const LinkTarget *t = link_target_find(triple, d);
    if (!t) return -1;
    char lib[PATH_MAX];
    snprintf(lib, sizeof lib, "%s/libkilnrt.a", tmpdir);
    if (write_file(lib, t->rt, (size_t)(t->rt_end - t->rt), d)) return -1;
    const char *cc = link_target_cc(t);
    /* -static: no shared libraries at run time; -s: no symbol tables in
     * the shipped binary; --gc-sections drops unused runtime code. */
    char *argv[8 + sizeof t->libs / sizeof *t->libs] = {
        (char *)cc, "-static", "-s", "-Wl,--gc-sections", "-o", (char *)path, (char *)obj, lib};
    for (int i = 0; t->libs[i]; i++)
        argv[8 + i] = (char *)t->libs[i];
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
        diag_hint(d, "install a C toolchain (apt-get install %s) or set %s", t->cc_package,
                  t->cc_env);
        return -1;
    }
    int status = child_wait(pid, log_path, d);
    if (status) {
        diag_env(d, "linking '%s' failed (%s exited with status %d)", shown, cc, status);
        diag_hint(d, "the static libraries come from %s; run scripts/install-deps.sh",
                  t->lib_packages);
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
    int status = child_wait(pid, log_path, d);
    if (status) {
        diag_env(d, "writing the library '%s' failed (%s exited with status %d)", shown, ar,
                 status);
        diag_hint(d, "KILN_AR must name an ar that takes `rcsD` (binutils' ar, llvm-ar-19)");
        return -1;
    }
    return copy_file(lib, path, d);
}
