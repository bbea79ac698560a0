#!/bin/sh
# fuzz.sh [HARNESS...]: builds the libFuzzer harnesses of tests/fuzz with
# clang-19 (AddressSanitizer, UndefinedBehaviorSanitizer, assertions) into
# its own build dir and runs each for a bounded time. Exits 1 if any
# harness found something (a crash, sanitizer report, leak, timeout or
# memory blow-up); the input that did it is kept under
# BUILD_DIR/findings/<harness>/ and the script prints how to replay it.
#
#   HARNESS         model infer_json infer_binary tensor xgboost (default: all)
#   FUZZ_SECONDS    seconds per harness (default 45)
#   FUZZ_BUILD_DIR  default build-fuzz; its corpus/ grows from run to run
#
# Seeds: tests/fuzz/seeds/<harness>, the samples' models, requests and
# .npy files, tests/golden/*.onnx and the conformance models and tensors
# (generated into BUILD_DIR/conformance by tests/conformance/generate.py).
set -eu
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-45}
dir=${FUZZ_BUILD_DIR:-build-fuzz}
harnesses=${*:-model infer_json infer_binary tensor xgboost}

echo "== fuzz build ($dir, clang-19)"
CC=clang-19 cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKILN_FUZZ=ON \
    -DKILN_ASSERTS=ON >/dev/null
targets=""
for h in $harnesses; do targets="$targets fuzz_$h"; done
# shellcheck disable=SC2086
cmake --build "$dir" -j"$(nproc)" --target $targets

conf="$dir/conformance"
if [ ! -f "$conf/.stamp" ]; then
    echo "== generating the conformance tests (seeds)"
    /usr/bin/python3 tests/conformance/generate.py "$conf" >/dev/null
fi

# seeds HARNESS: fills $dir/seeds/HARNESS (rebuilt every run) from the repo.
seeds() {
    s="$dir/seeds/$1"
    rm -rf "$s"
    mkdir -p "$s"
    cp tests/fuzz/seeds/"$1"/* "$s"/ 2>/dev/null || true
    case $1 in
    model)
        for f in samples/*/*.onnx tests/golden/*.onnx; do cp "$f" "$s/$(basename "$f")"; done
        for f in "$conf"/*/model.onnx; do t=${f%/model.onnx}; cp "$f" "$s/${t##*/}.onnx"; done ;;
    infer_json)
        for f in samples/*/request.json; do cp "$f" "$s/$(basename "$(dirname "$f")").json"; done ;;
    xgboost)
        for f in samples/*/*xgb*.json; do [ ! -f "$f" ] || cp "$f" "$s/$(basename "$f")"; done ;;
    tensor)
        for f in samples/*/*.npy; do cp "$f" "$s/$(basename "$(dirname "$f")")_$(basename "$f")"; done
        for f in "$conf"/*/data_0/*.pb "$conf"/*/data_0/input_0.npy; do
            [ -f "$f" ] || continue
            t=${f%/data_0/*}; cp "$f" "$s/${t##*/}_$(basename "$f")"
        done ;;
    esac
}

# Largest input each harness is given: the biggest seed of its kind fits.
max_len() {
    case $1 in
    model) echo 131072 ;;
    infer_json) echo 65536 ;;
    infer_binary) echo 16384 ;;
    tensor) echo 65536 ;;
    xgboost) echo 262144 ;;
    esac
}

symbolizer=/usr/lib/llvm-19/bin/llvm-symbolizer
[ -x "$symbolizer" ] && export ASAN_SYMBOLIZER_PATH="$symbolizer"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

# triage HARNESS FILE: one line saying what FILE does to the harness: the
# first sanitizer, assertion or check message and the first frame in kiln.
triage() {
    out=$(KILN_FUZZ_VERBOSE=1 timeout 60 "$dir/tests/fuzz/fuzz_$1" -timeout=10 \
        -rss_limit_mb=2048 "$2" 2>&1 || true)
    what=$(printf '%s\n' "$out" | grep -m 1 -E "Assertion|runtime error|fuzz check failed|ERROR: (Address|Leak)Sanitizer|ERROR: libFuzzer: (out-of-memory|timeout)" |
        sed -E -e "s|$PWD/||g" -e 's/^.*(Assertion|fuzz check failed|ERROR)/\1/')
    where=$(printf '%s\n' "$out" | grep -E "^    #[0-9]+ .* in .* $PWD/" |
        grep -v -E "tests/fuzz/(fuzz_|replay)" | head -n 1 | sed -E "s|.* in ([^ ]+) $PWD/|\1 |")
    echo "  ${2##*/}: $what${where:+ at $where}"
}

# Tokens for the mutator: the request harnesses' keys and names, .npy headers.
dict_of() {
    case $1 in
    infer_*) echo "-dict=tests/fuzz/infer.dict" ;;
    tensor) echo "-dict=tests/fuzz/npy.dict" ;;
    xgboost) echo "-dict=tests/fuzz/xgb.dict" ;;
    esac
}

# -fork=1 runs the fuzzing in a child process and carries on after a
# finding (every one is kept), so one known bug does not hide the others.
failed=""
for h in $harnesses; do
    seeds "$h"
    rm -rf "$dir/findings/$h"
    mkdir -p "$dir/corpus/$h" "$dir/findings/$h"
    echo "== fuzz_$h: ${secs}s, $(find "$dir/seeds/$h" -type f | wc -l) seeds"
    rc=0
    dict=$(dict_of "$h")
    "$dir/tests/fuzz/fuzz_$h" -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len="$(max_len "$h")" \
        ${dict:+"$dict"} -artifact_prefix="$dir/findings/$h/" "$dir/corpus/$h" "$dir/seeds/$h" \
        >"$dir/fuzz_$h.log" 2>&1 || rc=$?
    grep -E "^#[0-9]+: cov:" "$dir/fuzz_$h.log" | tail -n 1
    n=$(find "$dir/findings/$h" -type f | wc -l)
    if [ "$rc" -ne 0 ] || [ "$n" -gt 0 ]; then
        failed="$failed $h"
        echo "!! fuzz_$h: exit $rc, $n finding(s) kept in $dir/findings/$h/ (log $dir/fuzz_$h.log):"
        find "$dir/findings/$h" -type f | sort | head -n 10 | while read -r f; do triage "$h" "$f"; done
        echo "  replay one: KILN_FUZZ_VERBOSE=1 $dir/tests/fuzz/fuzz_$h FILE"
        echo "  fixed: add FILE under tests/fuzz/regressions/$h/ (tests/fuzz/README.md)"
    fi
done
if [ -n "$failed" ]; then
    echo "fuzz: findings in:$failed"
    exit 1
fi
echo "fuzz: no findings"
