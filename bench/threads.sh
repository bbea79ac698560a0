#!/bin/sh
# bench/threads.sh [KILN] : kiln at 1 and 2 threads (KILN_THREADS, the
# service's pool) against ONNX Runtime at 1 and 2 threads (intraOpNumThreads),
# on a [1024,1024] x constant [1024,1024] MatMul and on the fraud sample at
# batch 1 and 256. Runs are interleaved (kiln 1, kiln 2, ort 1, ort 2, ...),
# the median of the rounds' medians is reported, with kiln's 2-thread speedup
# and the ratios ort/kiln (> 1: kiln is faster). Not a test: nothing fails on
# a time. On a shared machine the 2-thread figures need two idle cores.
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
[ -f "$work/matmul1024.onnx" ] || /usr/bin/python3 - "$work/matmul1024.onnx" <<'EOF'
import sys
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
w = (np.random.default_rng(1).standard_normal((1024, 1024)) / 32).astype(np.float32)
g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "matmul1024",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1024, 1024])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1024, 1024])],
                      [numpy_helper.from_array(w, "w")])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
m.ir_version = 8
onnx.save(m, sys.argv[1])
EOF

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
kiln_us() { KILN_THREADS=$2 "$work/$1.bench" $3 $4 | sed 's/.*"median_us": \([0-9.]*\).*/\1/'; }
ort_us() { node "$here/ort_bench.js" "$1" $2 $3 $4 | sed 's/.*"median_us":\([0-9.]*\).*/\1/'; }

printf '%-12s %5s %11s %11s %8s %11s %11s %9s %9s\n' model batch kiln1_us kiln2_us speedup \
    ort1_us ort2_us ort1/k1 ort2/k2
for model in "$work/matmul1024.onnx" "$root/samples/fraud-detection/fraud.onnx"; do
    stem=$(basename "$model" .onnx)
    "$kiln" compile "$model" --emit obj -o "$work/$stem.o"
    sym=$(sed -n 's/^extern const KilnModel \([A-Za-z0-9_]*\);$/\1/p' "$work/$stem.h")
    cc -O2 -I"$root/runtime" -Dkiln_model="$sym" "$here/kiln_bench.c" "$work/$stem.o" -lm \
        -o "$work/$stem.bench"
    batches="1 256"
    [ "$stem" = matmul1024 ] && batches=1
    for batch in $batches; do
        iters=$([ "$stem" = matmul1024 ] && echo 20 || { [ "$batch" = 1 ] && echo 20000 || echo 2000; })
        k1="" k2="" o1="" o2=""
        r=0
        while [ $r -lt "$rounds" ]; do
            k1="$k1 $(kiln_us "$stem" 1 $batch $iters)"
            k2="$k2 $(kiln_us "$stem" 2 $batch $iters)"
            o1="$o1 $(ort_us "$model" $batch $iters 1)"
            o2="$o2 $(ort_us "$model" $batch $iters 2)"
            r=$((r + 1))
        done
        k1=$(echo $k1 | tr ' ' '\n' | median)
        k2=$(echo $k2 | tr ' ' '\n' | median)
        o1=$(echo $o1 | tr ' ' '\n' | median)
        o2=$(echo $o2 | tr ' ' '\n' | median)
        printf '%-12s %5d %11.2f %11.2f %8.2f %11.2f %11.2f %9.2f %9.2f\n' "$stem" "$batch" \
            "$k1" "$k2" "$(echo "$k1 $k2" | awk '{print $1/$2}')" "$o1" "$o2" \
            "$(echo "$o1 $k1" | awk '{print $1/$2}')" "$(echo "$o2 $k2" | awk '{print $1/$2}')"
    done
done
