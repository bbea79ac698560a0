#!/bin/sh
# test.sh: every test, from scratch. Installs the dependencies, builds
# kiln twice (plain, and with AddressSanitizer + UndefinedBehaviorSanitizer
# and assertions, so every assert() holds and the graph is verified after
# every pass) and runs ctest in each: unit tests, golden diagnostics, end to
# end. Then it fuzzes every parser of hostile input for a bounded time
# (scripts/fuzz.sh: clang-19 libFuzzer harnesses, FUZZ_SECONDS each; the
# build-fuzz corpus is kept from run to run; FUZZ_HARNESSES picks some).
# The sanitizer build skips the tests that execute notebooks (torch under
# ASan is slow and not our code) and the conformance suite (947 models; the
# plain build runs it).
set -eu
cd "$(dirname "$0")/.."

scripts/install-deps.sh

echo "== plain build"
rm -rf build-test
scripts/build.sh build-test
ctest --test-dir build-test --output-on-failure -j2

echo "== ASan + UBSan + assertions build"
rm -rf build-asan
scripts/build.sh build-asan -DENABLE_ASAN=ON -DENABLE_UBSAN=ON -DKILN_ASSERTS=ON
ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build-asan --output-on-failure -j2 -LE "notebook|conformance"

echo "== fuzz (libFuzzer + ASan + UBSan, ${FUZZ_SECONDS:-45}s per harness)"
# shellcheck disable=SC2086
scripts/fuzz.sh ${FUZZ_HARNESSES:-}
