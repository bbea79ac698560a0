#!/usr/bin/python3
"""bench/quant.py: the quantised ops and Einsum against ONNX Runtime (issue 12).

    /usr/bin/python3 bench/quant.py [--kiln build/kiln] [--rounds 5] [--work DIR]

Models built here with onnx.helper (float input and output, so both sides
take the same feeds): QuantizeLinear -> QLinearConv (3x3, per-channel
int8 weights) -> DequantizeLinear; QuantizeLinear -> QLinearMatMul ->
DequantizeLinear; and attention scores as Einsum 'bhqd,bhkd->bhqk'. Each
is timed in the same run, interleaved with ORT (bench/ort_bench.js,
intraOpNumThreads 1), in-process and on one thread (bench/kiln_bench.c
linked with `kiln compile --emit obj`). Reports medians and ORT/kiln
(> 1: kiln is faster). Not a test: nothing fails on a time.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as oh
from onnx import numpy_helper as nh

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RNG = np.random.default_rng(3)
TARGET_S = 0.3


def sh(cmd, timeout=600):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise SystemExit(f"quant.py: {' '.join(cmd)}: exit {p.returncode}\n{p.stderr[-2000:]}")
    return p.stdout


def save(path, nodes, inputs, outputs, inits):
    m = oh.make_model(oh.make_graph(nodes, "bench", inputs, outputs, inits),
                      opset_imports=[oh.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, path)


def scalars(**kv):
    return [nh.from_array(np.array(v), k) for k, v in kv.items()]


def qconv(path, c, m, h):
    inits = scalars(xs=np.float32(0.02), xz=np.uint8(128), ys=np.float32(0.05), yz=np.uint8(100))
    inits += [nh.from_array(RNG.integers(-127, 128, (m, c, 3, 3)).astype(np.int8), "w"),
              nh.from_array(np.full(m, 0.004, np.float32), "ws"),
              nh.from_array(np.zeros(m, np.int8), "wz")]
    nodes = [oh.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
             oh.make_node("QLinearConv", ["xq", "xs", "xz", "w", "ws", "wz", "ys", "yz"], ["yq"],
                          pads=[1, 1, 1, 1]),
             oh.make_node("DequantizeLinear", ["yq", "ys", "yz"], ["y"])]
    save(path, nodes, [oh.make_tensor_value_info("x", T.FLOAT, [1, c, h, h])],
         [oh.make_tensor_value_info("y", T.FLOAT, [1, m, h, h])], inits)
    return {"x": (1, c, h, h)}


def qmatmul(path, mm, k, n):
    inits = scalars(xs=np.float32(0.02), xz=np.uint8(128), bs=np.float32(0.01), bz=np.uint8(120),
                    ys=np.float32(0.1), yz=np.uint8(128))
    inits.append(nh.from_array(RNG.integers(0, 256, (k, n)).astype(np.uint8), "b"))
    nodes = [oh.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
             oh.make_node("QLinearMatMul", ["xq", "xs", "xz", "b", "bs", "bz", "ys", "yz"], ["yq"]),
             oh.make_node("DequantizeLinear", ["yq", "ys", "yz"], ["y"])]
    save(path, nodes, [oh.make_tensor_value_info("x", T.FLOAT, [mm, k])],
         [oh.make_tensor_value_info("y", T.FLOAT, [mm, n])], inits)
    return {"x": (mm, k)}


def einsum(path, b, h, q, d):
    nodes = [oh.make_node("Einsum", ["q", "k"], ["y"], equation="bhqd,bhkd->bhqk")]
    save(path, nodes, [oh.make_tensor_value_info(x, T.FLOAT, [b, h, q, d]) for x in "qk"],
         [oh.make_tensor_value_info("y", T.FLOAT, [b, h, q, q])], [])
    return {"q": (b, h, q, d), "k": (b, h, q, d)}


CONFIGS = [("qconv 16->32 @ 32x32", qconv, (16, 32, 32)),
           ("qmatmul 64x256x256", qmatmul, (64, 256, 256)),
           ("einsum 1x8x128x64", einsum, (1, 8, 128, 64))]


def shape_args(shapes):
    return [f"{n}={'x'.join(map(str, s))}" for n, s in shapes.items()]


def kiln_build(kiln, model):
    stem = model[:-5]
    sh([kiln, "compile", model, "--emit", "obj", "-o", stem + ".o"])
    with open(stem + ".h") as f:
        sym = re.search(r"extern const KilnModel (\w+);", f.read()).group(1)
    sh(["cc", "-O2", "-I" + os.path.join(ROOT, "runtime"), f"-Dkiln_model={sym}",
        os.path.join(HERE, "kiln_bench.c"), stem + ".o", "-lm", "-o", stem + ".bench"])
    return stem + ".bench"


def median_us(out):
    return float(out.split('"median_us":')[1].split(",")[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    ap.add_argument("--kiln", default=os.path.join(ROOT, "build", "kiln"))
    ap.add_argument("--work", default=os.path.join(ROOT, "build", "bench-quant"))
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", "5")))
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    if not os.path.isdir(os.path.join(HERE, "node_modules", "onnxruntime-node")):
        subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=HERE, check=True,
                       env=dict(os.environ, ONNXRUNTIME_NODE_INSTALL="skip"),
                       stdout=subprocess.DEVNULL)
    rows = []
    for name, make, params in CONFIGS:
        model = os.path.join(a.work, re.sub(r"\W+", "_", name) + ".onnx")
        shapes = make(model, *params)
        bench = kiln_build(a.kiln, model)
        kiln = lambda it: median_us(sh([bench, "1", str(it), *shape_args(shapes)]))  # noqa: E731
        ort = lambda it: median_us(sh(["node", os.path.join(HERE, "ort_bench.js"), model, "1",  # noqa: E731
                                       str(it), "1", *shape_args(shapes)]))
        it_k = max(5, min(20000, int(TARGET_S * 1e6 / max(kiln(5), 0.01))))
        it_o = max(5, min(20000, int(TARGET_S * 1e6 / max(ort(5), 0.01))))
        t = {"kiln": [], "ort": []}
        for _ in range(a.rounds):
            t["kiln"].append(kiln(it_k))
            t["ort"].append(ort(it_o))
        med = {k: statistics.median(v) for k, v in t.items()}
        rows.append((name, med))
        print(f"# {name}: {t}", file=sys.stderr, flush=True)
    print(f"{a.rounds} rounds, one thread; times are medians in microseconds\n")
    print("| model | kiln µs | ORT µs | ORT/kiln |")
    print("|---|---|---|---|")
    for name, med in rows:
        print(f"| {name} | {med['kiln']:.1f} | {med['ort']:.1f} | {med['ort'] / med['kiln']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
