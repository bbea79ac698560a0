/* verify.c: `kiln verify ARCHIVE` (package.h). Reads a release archive
 * into memory and checks, naming every member at fault:
 *   - each file SHA256SUMS lists is there and has that SHA-256, and every
 *     other file is listed (SHA256SUMS itself aside);
 *   - manifest.json's binary SHA-256 is the binary's, and the model SHA-256
 *     it gives is the one the binary embeds (KilnModel.sha256);
 *   - sbom.cdx.json's service component hashes to the binary and its
 *     machine-learning-model component to the manifest's model. */
#include "package.h"

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

typedef struct Member {
    char *name;    /* as stored, e.g. "fraud-1/bin/fraud" */
    uint8_t *data; /* malloc'd */
    size_t len;
    int listed; /* named by SHA256SUMS */
} Member;

typedef struct Archive {
    const char *path; /* as given, for messages */
    Member *m;
    int n, cap;
    char top[256]; /* "NAME-VERSION", the first entry's directory */
} Archive;

static void members_free(Archive *ar) {
    for (int i = 0; i < ar->n; i++) {
        free(ar->m[i].name);
        free(ar->m[i].data);
    }
    free(ar->m);
}

/* The member top/rel, or NULL. */
static Member *member_find(Archive *ar, const char *rel) {
    size_t n = strlen(ar->top);
    for (int i = 0; i < ar->n; i++) {
        const char *s = ar->m[i].name;
        if (!strncmp(s, ar->top, n) && s[n] == '/' && !strcmp(s + n + 1, rel)) return &ar->m[i];
    }
    return NULL;
}

/* Reads every regular file of the archive (buf, len) into ar. 0 ok; -1
 * with a diagnostic when it is not a readable archive. */
static int members_read(Archive *ar, const void *buf, size_t len, Diag *d) {
    struct archive *a = archive_read_new();
    if (!a) kiln_oom("libarchive");
    archive_read_support_filter_all(a);
    archive_read_support_format_all(a);
    int rc = -1;
    if (archive_read_open_memory(a, buf, len) != ARCHIVE_OK) {
        diag_file(d, ar->path, "not a release archive: %s", archive_error_string(a));
        diag_hint(d, "`kiln compile MODEL -o OUT.tar.gz --emit archive` writes one");
        goto out;
    }
    struct archive_entry *e;
    for (;;) {
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF) break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            diag_file(d, ar->path, "not a release archive: %s", archive_error_string(a));
            diag_hint(d, "`kiln compile MODEL -o OUT.tar.gz --emit archive` writes one");
            goto out;
        }
        const char *name = archive_entry_pathname(e);
        if (!name) name = "";
        if (!ar->top[0]) snprintf(ar->top, sizeof ar->top, "%.*s", (int)strcspn(name, "/"), name);
        if (archive_entry_filetype(e) == AE_IFDIR) continue;
        if (ar->n == ar->cap) {
            ar->cap = ar->cap ? 2 * ar->cap : 16;
            ar->m = realloc(ar->m, (size_t)ar->cap * sizeof *ar->m);
            if (!ar->m) kiln_oom("archive members");
        }
        Member *m = &ar->m[ar->n++];
        memset(m, 0, sizeof *m);
        m->name = strdup(name);
        if (!m->name) kiln_oom("archive member");
        size_t cap = 0;
        for (;;) {
            if (m->len == cap) {
                cap = cap ? 2 * cap : 65536;
                m->data = realloc(m->data, cap);
                if (!m->data) kiln_oom("archive member");
            }
            la_ssize_t got = archive_read_data(a, m->data + m->len, cap - m->len);
            if (got < 0) {
                diag_file(d, ar->path, "%s is damaged: %s", name, archive_error_string(a));
                goto out;
            }
            if (got == 0) break;
            m->len += (size_t)got;
        }
    }
    rc = 0;
out:
    archive_read_free(a);
    return rc;
}

/* Parses SHA256SUMS and checks every file it lists. Returns the number of
 * files that matched. */
static int check_sums(Archive *ar, const Member *sums, Diag *d) {
    int ok = 0, line_no = 0;
    const char *p = (const char *)sums->data, *end = p + sums->len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        line_no++;
        char line[1024];
        snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line ? n : sizeof line - 1), p);
        p += n + 1;
        if (!line[0]) continue;
        int hex_ok = strspn(line, "0123456789abcdef") == 64 && line[64] == ' ' &&
                     (line[65] == ' ' || line[65] == '*') && line[66];
        if (!hex_ok) {
            diag_file(d, ar->path, "%s: line %d is not 'SHA256  FILE'", sums->name, line_no);
            continue;
        }
        const char *rel = line + 66;
        Member *m = member_find(ar, rel);
        if (!m) {
            diag_file(d, ar->path, "%s/%s is listed in SHA256SUMS but missing", ar->top, rel);
            continue;
        }
        m->listed = 1;
        char hex[65];
        pkg_sha256_hex(m->data, m->len, hex);
        if (strncmp(hex, line, 64) != 0) {
            diag_file(d, ar->path, "%s differs: its SHA-256 is %s, SHA256SUMS says %.64s", m->name,
                      hex, line);
            continue;
        }
        ok++;
    }
    return ok;
}

/* A member parsed as a JSON object, or NULL after a diagnostic. */
static json_t *member_json(Archive *ar, const char *rel, Diag *d) {
    Member *m = member_find(ar, rel);
    if (!m) {
        diag_file(d, ar->path, "%s/%s is missing", ar->top, rel);
        return NULL;
    }
    json_error_t err;
    json_t *j = json_loadb((const char *)m->data, m->len, 0, &err);
    if (!j || !json_is_object(j)) {
        diag_file(d, ar->path, "%s is not a JSON object (line %d: %s)", m->name, err.line,
                  j ? "not an object" : err.text);
        json_decref(j);
        return NULL;
    }
    return j;
}

static const char *json_str_at(json_t *o, const char *a, const char *b) {
    json_t *v = json_object_get(o, a);
    if (b) v = json_object_get(v, b);
    return json_is_string(v) ? json_string_value(v) : "";
}

/* The SHA-256 content of a CycloneDX component, or "". */
static const char *component_sha256(json_t *c) {
    size_t i;
    json_t *h;
    json_array_foreach(json_object_get(c, "hashes"), i, h) {
        if (!strcmp(json_str_at(h, "alg", NULL), "SHA-256")) return json_str_at(h, "content", NULL);
    }
    return "";
}

/* Whether needle (n bytes) occurs in hay (memmem is a GNU extension). */
static int contains(const uint8_t *hay, size_t len, const char *needle, size_t n) {
    for (size_t i = 0; n && i + n <= len; i++)
        if (hay[i] == (uint8_t)needle[0] && !memcmp(hay + i, needle, n)) return 1;
    return 0;
}

static void check_consistency(Archive *ar, Diag *d) {
    json_t *man = member_json(ar, "manifest.json", d);
    json_t *sbom = member_json(ar, "sbom.cdx.json", d);
    if (!man) goto out;
    const char *bin_path = json_str_at(man, "binary", "path");
    const char *model_sha = json_str_at(man, "model", "sha256");
    char want_top[300];
    snprintf(want_top, sizeof want_top, "%s-%s", json_str_at(man, "name", NULL),
             json_str_at(man, "version", NULL));
    if (strcmp(want_top, ar->top) != 0)
        diag_file(d, ar->path,
                  "%s/manifest.json: name and version say '%s/', the archive has '%s/'", ar->top,
                  want_top, ar->top);
    Member *bin = member_find(ar, bin_path);
    if (!bin) {
        diag_file(d, ar->path, "%s/manifest.json: the binary '%s' is missing", ar->top, bin_path);
        goto out;
    }
    char bin_sha[65];
    pkg_sha256_hex(bin->data, bin->len, bin_sha);
    if (strcmp(bin_sha, json_str_at(man, "binary", "sha256")) != 0)
        diag_file(d, ar->path, "%s/manifest.json: binary sha256 is not that of %s (%s)", ar->top,
                  bin->name, bin_sha);
    /* The binary carries the model's digest as a string (KilnModel.sha256). */
    if (strlen(model_sha) != 64 || !contains(bin->data, bin->len, model_sha, 64))
        diag_file(d, ar->path, "%s/manifest.json: model sha256 '%s' is not the one %s embeds",
                  ar->top, model_sha, bin->name);
    if (!sbom) goto out;
    json_t *meta = json_object_get(sbom, "metadata");
    if (strcmp(component_sha256(json_object_get(meta, "component")), bin_sha) != 0)
        diag_file(d, ar->path, "%s/sbom.cdx.json: metadata.component's SHA-256 is not that of %s",
                  ar->top, bin->name);
    int models = 0;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(sbom, "components"), i, c) {
        if (strcmp(json_str_at(c, "type", NULL), "machine-learning-model") != 0) continue;
        models++;
        if (strcmp(component_sha256(c), model_sha) != 0)
            diag_file(d, ar->path,
                      "%s/sbom.cdx.json: the model component's SHA-256 is not the manifest's",
                      ar->top);
    }
    if (models != 1)
        diag_file(d, ar->path, "%s/sbom.cdx.json: %d machine-learning-model components, expected 1",
                  ar->top, models);
out:
    json_decref(man);
    json_decref(sbom);
}

int pkg_archive_verify(const char *path, FILE *out, Diag *d) {
    int before = diag_count(d);
    size_t len = 0;
    uint8_t *buf = file_read(path, &len, d);
    if (!buf) return -1;
    Archive ar = {.path = path};
    int ok = 0;
    if (members_read(&ar, buf, len, d)) goto out;
    Member *sums = member_find(&ar, "SHA256SUMS");
    if (!sums) {
        diag_file(d, path, "%s/SHA256SUMS is missing", ar.top[0] ? ar.top : "NAME-VERSION");
        diag_hint(d, "`kiln compile MODEL -o OUT.tar.gz --emit archive` writes a release archive");
        goto out;
    }
    sums->listed = 1;
    ok = check_sums(&ar, sums, d);
    for (int i = 0; i < ar.n; i++)
        if (!ar.m[i].listed)
            diag_file(d, path, "%s is not listed in SHA256SUMS (an extra file)", ar.m[i].name);
    check_consistency(&ar, d);
    if (diag_count(d) > before)
        diag_hint(d, "the archive changed after kiln wrote it: get it again from where it was "
                     "built, or rebuild it");
out:
    members_free(&ar);
    free(buf);
    if (diag_count(d) > before) return -1;
    fprintf(out, "%s: verified %d files\n", path, ok);
    return 0;
}
