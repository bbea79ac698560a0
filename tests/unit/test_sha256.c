/* test_sha256.c: the model digest (driver_sha256_hex, nettle's SHA-256)
 * against the FIPS 180-4 / NIST example vectors; the chunked cases feed
 * nettle's streaming interface, which driver_sha256_hex wraps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <nettle/sha2.h>

#include "driver.h"

static void sha256_hex(const void *data, size_t len, char out[65]) {
    memset(out, 'x', 65);
    driver_sha256_hex(data, len, out);
}

static void hex_of(const unsigned char d[32], char out[65]) {
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* Digest of `len` bytes of data fed in pieces of `chunk` bytes. */
static void digest_in_chunks(const void *data, size_t len, size_t chunk, char out[65]) {
    struct sha256_ctx s;
    unsigned char d[SHA256_DIGEST_SIZE];
    sha256_init(&s);
    const unsigned char *p = data;
    for (size_t off = 0; off < len; off += chunk)
        sha256_update(&s, len - off < chunk ? len - off : chunk, p + off);
    sha256_digest(&s, sizeof d, d);
    hex_of(d, out);
}

static void test_sha256_of_the_empty_string_matches_fips(void **state) {
    (void)state;
    char hex[65];
    sha256_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_sha256_of_abc_matches_fips(void **state) {
    (void)state;
    char hex[65];
    sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_sha256_of_the_448_bit_message_matches_fips(void **state) {
    (void)state;
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    char hex[65];
    sha256_hex(m, strlen(m), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_sha256_of_the_896_bit_message_matches_fips(void **state) {
    (void)state;
    const char *m =
        "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
        "klmnopqrlmnopqrsmnopqrstnopqrstu";
    char hex[65];
    sha256_hex(m, strlen(m), hex);
    assert_string_equal(hex, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

static void test_sha256_of_a_million_a_fed_in_odd_chunks_matches_fips(void **state) {
    (void)state;
    static char a[1000000];
    memset(a, 'a', sizeof a);
    const char *want = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
    char hex[65];
    /* Chunk sizes that straddle the 64-byte block boundary differently. */
    static const size_t chunks[] = {1000000, 1000, 64, 63, 65, 7};
    for (size_t i = 0; i < sizeof chunks / sizeof *chunks; i++) {
        digest_in_chunks(a, sizeof a, chunks[i], hex);
        assert_string_equal(hex, want);
    }
    /* ... and in one piece through the helper the driver uses. */
    sha256_hex(a, sizeof a, hex);
    assert_string_equal(hex, want);
}

static void test_sha256_pads_messages_at_the_block_boundaries_correctly(void **state) {
    (void)state;
    /* 55 bytes leave exactly room for the length; 56..63 need a second
     * block (digests from Python's hashlib). */
    static const struct {
        size_t n;
        const char *hex;
    } cases[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
        {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
    };
    char a[128];
    memset(a, 'a', sizeof a);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char hex[65];
        sha256_hex(a, cases[i].n, hex);
        assert_string_equal(hex, cases[i].hex);
    }
}

static void test_sha256_of_the_same_bytes_does_not_depend_on_chunking(void **state) {
    (void)state;
    /* Lengths around the padding boundaries (55, 56, 63, 64, 119, 120). */
    unsigned char buf[200];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 31 + 7);
    for (size_t len = 0; len <= sizeof buf; len++) {
        char one[65], bytewise[65];
        sha256_hex(buf, len, one);
        digest_in_chunks(buf, len, 1, bytewise);
        assert_string_equal(one, bytewise);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_of_the_empty_string_matches_fips),
        cmocka_unit_test(test_sha256_of_abc_matches_fips),
        cmocka_unit_test(test_sha256_of_the_448_bit_message_matches_fips),
        cmocka_unit_test(test_sha256_of_the_896_bit_message_matches_fips),
        cmocka_unit_test(test_sha256_of_a_million_a_fed_in_odd_chunks_matches_fips),
        cmocka_unit_test(test_sha256_pads_messages_at_the_block_boundaries_correctly),
        cmocka_unit_test(test_sha256_of_the_same_bytes_does_not_depend_on_chunking),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
