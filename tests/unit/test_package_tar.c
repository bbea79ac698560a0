/* Tests of compiler/package/tar.c: the same entries give the same bytes,
 * whatever their order, and read back as written. */
#include <archive.h>
#include <archive_entry.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "package.h"

/* Writes t to a temporary file and returns its bytes (malloc'd). */
static unsigned char *tar_bytes(PkgTar *t, size_t *len) {
    FILE *f = tmpfile();
    assert_non_null(f);
    Diag d;
    diag_init(&d, stderr);
    assert_int_equal(pkg_tar_write(t, fileno(f), "t.tar", &d), 0);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    unsigned char *b = malloc((size_t)n);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static PkgTar *sample(int gzip, int reversed) {
    PkgTar *t = pkg_tar_create(gzip, 1700000000);
    if (reversed) {
        pkg_tar_add_file(t, "x-1.0/manifest.json", "{}\n", 3, 0644);
        pkg_tar_add_file(t, "x-1.0/bin/x",
                         "\x7f"
                         "ELF",
                         4, 0755);
        pkg_tar_add_dir(t, "x-1.0/bin/", 0755);
        pkg_tar_add_dir(t, "x-1.0/", 0755);
    } else {
        pkg_tar_add_dir(t, "x-1.0/", 0755);
        pkg_tar_add_dir(t, "x-1.0/bin/", 0755);
        pkg_tar_add_file(t, "x-1.0/bin/x",
                         "\x7f"
                         "ELF",
                         4, 0755);
        pkg_tar_add_file(t, "x-1.0/manifest.json", "{}\n", 3, 0644);
    }
    return t;
}

static void test_tar_bytes_do_not_depend_on_the_order_entries_are_added(void **state) {
    (void)state;
    for (int gzip = 0; gzip < 2; gzip++) {
        PkgTar *a = sample(gzip, 0), *b = sample(gzip, 1);
        size_t na, nb;
        unsigned char *ba = tar_bytes(a, &na), *bb = tar_bytes(b, &nb);
        assert_int_equal(na, nb);
        assert_memory_equal(ba, bb, na);
        if (gzip) { /* no name, no timestamp: MTIME bytes 4..7 are 0 */
            assert_int_equal(ba[0], 0x1f);
            assert_int_equal(ba[3] & 0x08, 0);
            assert_int_equal(ba[4] | ba[5] | ba[6] | ba[7], 0);
        }
        free(ba);
        free(bb);
        pkg_tar_free(a);
        pkg_tar_free(b);
    }
}

static void test_tar_reads_back_sorted_with_uid_0_and_the_given_modes(void **state) {
    (void)state;
    PkgTar *t = sample(1, 1);
    size_t n;
    unsigned char *b = tar_bytes(t, &n);
    struct archive *a = archive_read_new();
    archive_read_support_filter_gzip(a);
    archive_read_support_format_tar(a);
    assert_int_equal(archive_read_open_memory(a, b, n), ARCHIVE_OK);
    const char *want[] = {"x-1.0/", "x-1.0/bin/", "x-1.0/bin/x", "x-1.0/manifest.json"};
    const int modes[] = {0755, 0755, 0755, 0644};
    struct archive_entry *e;
    int i = 0;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        assert_true(i < 4);
        assert_string_equal(archive_entry_pathname(e), want[i]);
        assert_int_equal(archive_entry_perm(e), modes[i]);
        assert_int_equal(archive_entry_uid(e), 0);
        assert_int_equal(archive_entry_gid(e), 0);
        const char *user = archive_entry_uname(e);
        assert_true(!user || !*user);
        assert_int_equal(archive_entry_mtime(e), 1700000000);
        i++;
    }
    assert_int_equal(i, 4);
    archive_read_free(a);
    free(b);
    pkg_tar_free(t);
}

static void test_source_date_epoch_is_read_and_checked(void **state) {
    (void)state;
    Diag d;
    diag_init(&d, stderr);
    int64_t v = -1;
    unsetenv("SOURCE_DATE_EPOCH");
    assert_int_equal(pkg_source_date_epoch(&v, &d), 0);
    assert_int_equal(v, 0);
    setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
    assert_int_equal(pkg_source_date_epoch(&v, &d), 0);
    assert_int_equal(v, 1700000000);
    FILE *sink = tmpfile();
    diag_init(&d, sink);
    setenv("SOURCE_DATE_EPOCH", "yesterday", 1);
    assert_int_equal(pkg_source_date_epoch(&v, &d), -1);
    assert_int_equal(d.exit_code, EXIT_USAGE);
    fclose(sink);
    unsetenv("SOURCE_DATE_EPOCH");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tar_bytes_do_not_depend_on_the_order_entries_are_added),
        cmocka_unit_test(test_tar_reads_back_sorted_with_uid_0_and_the_given_modes),
        cmocka_unit_test(test_source_date_epoch_is_read_and_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
