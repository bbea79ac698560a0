/* fuzz.h: what the libFuzzer harnesses in tests/fuzz share.
 *
 * Each harness is one LLVMFuzzerTestOneInput() over one parser. It is
 * linked two ways: with clang's -fsanitize=fuzzer into a fuzzer
 * (KILN_FUZZ=ON, scripts/fuzz.sh), and with replay.c into a plain program
 * that ctest runs on the committed seeds and regressions, in every build.
 * A harness checks the parser's contract as well as surviving it, and
 * breaks that contract loudly with FUZZ_CHECK, which aborts in both.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts with the broken condition: a finding, like a sanitizer report. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Where diagnostics go: /dev/null, or stderr when KILN_FUZZ_VERBOSE is set
 * (to read what a saved input makes kiln say). */
static inline FILE *fuzz_diag_sink(void) {
    static FILE *sink;
    if (!sink) sink = getenv("KILN_FUZZ_VERBOSE") ? stderr : fopen("/dev/null", "w");
    if (!sink) sink = stderr;
    return sink;
}

#endif
