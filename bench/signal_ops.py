"""signal_ops.py: kiln vs ONNX Runtime on the signal and sampling ops, one thread.

usage: /usr/bin/python3 bench/signal_ops.py [--kiln build/kiln] [--rounds 5]

Builds onnx.helper models of one second of 16 kHz audio through STFT (a
HannWindow, hop 160, frames of 400 points: Bluestein, and of 512: radix-2),
a one-sided DFT of 1000 points, and GridSample (bilinear and bicubic,
[B, 16, 64, 64] sampled at a 64x64 grid), compiles each with `kiln compile
--emit obj`, links it into kiln_bench.c and runs it alternately with
ort_bench.js (onnxruntime-node, intraOpNumThreads=1) on the same inputs
(values in [-1, 1)), at batch 1 and 8: kiln, ORT, kiln, ORT, ... for
--rounds rounds. Prints the median of the rounds' medians and ORT time /
kiln time (> 1: kiln is faster).
"""
import argparse
import json
import os
import subprocess

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)


def median(v):
    v = sorted(v)
    return v[len(v) // 2]


def i64(name, v):
    return numpy_helper.from_array(np.array(v, np.int64), name)


def models():
    F = TensorProto.FLOAT
    out = {}
    for flen in (400, 512):
        nodes = [helper.make_node("HannWindow", ["wsize"], ["window"], name="hann"),
                 helper.make_node("STFT", ["signal", "step", "window"], ["spec"], name="stft")]
        g = helper.make_graph(nodes, f"stft{flen}",
                              [helper.make_tensor_value_info("signal", F, ["batch", 16000, 1])],
                              [helper.make_tensor_value_info("spec", F, None)],
                              [i64("wsize", flen), i64("step", 160)])
        out[f"stft{flen}"] = g
    g = helper.make_graph([helper.make_node("DFT", ["x"], ["y"], name="rfft", axis=1, onesided=1)],
                          "rfft1000", [helper.make_tensor_value_info("x", F, ["batch", 1000, 1])],
                          [helper.make_tensor_value_info("y", F, None)])
    out["rfft1000"] = g
    for mode in ("bilinear", "bicubic"):
        g = helper.make_graph(
            [helper.make_node("GridSample", ["x", "grid"], ["y"], name="gs", mode=mode)],
            f"grid_{mode}", [helper.make_tensor_value_info("x", F, ["batch", 16, 64, 64]),
                             helper.make_tensor_value_info("grid", F, ["batch", 64, 64, 2])],
            [helper.make_tensor_value_info("y", F, None)])
        out[f"grid_{mode}"] = g
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kiln", default=os.path.join(root, "build", "kiln"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--work", default=os.path.join(root, "build", "bench-signal"))
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    print(f"{'model':<15} {'batch':>5} {'kiln_us':>10} {'ort_us':>10} {'ort/kiln':>8}")
    for stem, g in models().items():
        onnx_path = os.path.join(a.work, stem + ".onnx")
        onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), onnx_path)
        obj, exe = os.path.join(a.work, stem + ".o"), os.path.join(a.work, stem + ".bench")
        subprocess.run([a.kiln, "compile", onnx_path, "--emit", "obj", "-o", obj], check=True)
        subprocess.run(["cc", "-O2", f"-Dkiln_model=kiln_model_{stem}",
                        "-I" + os.path.join(root, "runtime"), os.path.join(here, "kiln_bench.c"),
                        obj, "-lm", "-o", exe], check=True)
        for batch in (1, 8):
            iters = 50 if batch == 1 else 10
            k, o = [], []
            for _ in range(a.rounds):
                out = subprocess.run([exe, str(batch), str(iters)], check=True,
                                     capture_output=True, text=True).stdout
                k.append(json.loads(out)["median_us"])
                out = subprocess.run(["node", os.path.join(here, "ort_bench.js"), onnx_path,
                                      str(batch), str(iters), "1"], check=True,
                                     capture_output=True, text=True).stdout
                o.append(json.loads(out)["median_us"])
            km, om = median(k), median(o)
            print(f"{stem:<15} {batch:>5} {km:>10.1f} {om:>10.1f} {om / km:>8.2f}", flush=True)


if __name__ == "__main__":
    main()
