#!/bin/sh
# bench/run.sh [KILN] : kiln against ONNX Runtime, same models, same inputs,
# runs interleaved (kiln, ort, kiln, ort, ...), the median of the rounds'
# medians reported with the ratio ort/kiln (> 1: kiln is faster).
# Both run in-process and single-threaded (ORT intraOpNumThreads=1).
# Not a test: nothing fails on a time.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
kiln=${1:-$root/build/kiln}
work=${BENCH_WORK:-$root/build/bench}
rounds=${BENCH_ROUNDS:-5}
mkdir -p "$work"

if [ ! -d "$here/node_modules/onnxruntime-node" ]; then
    (cd "$here" && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund >/dev/null)
fi

models=${BENCH_MODELS:-"$root/samples/fraud-detection/fraud.onnx $work/mlp784.onnx"}
[ -f "$work/mlp784.onnx" ] || /usr/bin/python3 "$here/make_models.py" "$work"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '%-14s %6s %12s %12s %8s\n' model batch kiln_us ort_us ort/kiln
for model in $models; do
    stem=$(basename "$model" .onnx)
    "$kiln" compile "$model" --emit obj -o "$work/$stem.o"
    # --emit obj exports kiln_model_<name> (its header says which), not kiln_model.
    sym=$(sed -n 's/^extern const KilnModel \([A-Za-z0-9_]*\);$/\1/p' "$work/$stem.h")
    cc -O2 -I"$root/runtime" -Dkiln_model="$sym" "$here/kiln_bench.c" "$work/$stem.o" -lm \
        -o "$work/$stem.bench"
    for batch in 1 64 256; do
        iters=$((batch >= 64 ? 2000 : 20000))
        k="" o=""
        r=0
        while [ $r -lt "$rounds" ]; do
            k="$k $("$work/$stem.bench" $batch $iters | sed 's/.*"median_us": \([0-9.]*\).*/\1/')"
            o="$o $(node "$here/ort_bench.js" "$model" $batch $iters 1 | sed 's/.*"median_us":\([0-9.]*\).*/\1/')"
            r=$((r + 1))
        done
        km=$(echo $k | tr ' ' '\n' | median)
        om=$(echo $o | tr ' ' '\n' | median)
        printf '%-14s %6d %12.2f %12.2f %8.2f\n' "$stem" $batch "$km" "$om" \
            "$(echo "$om $km" | awk '{print $1/$2}')"
    done
done
