/* hash.c: content digests for the artifacts (package.h). */
#include "package.h"

#include <nettle/sha2.h>
#include <stdio.h>

void pkg_sha256_hex(const void *data, size_t len, char hex[65]) {
    struct sha256_ctx ctx;
    uint8_t digest[SHA256_DIGEST_SIZE];
    sha256_init(&ctx);
    sha256_update(&ctx, len, data);
    sha256_digest(&ctx, sizeof digest, digest);
    for (int i = 0; i < SHA256_DIGEST_SIZE; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
}
