#!/usr/bin/python3
"""Element-wise chains (passes/fuse_elementwise.c): kiln with the fusion,
kiln without it (KILN_SKIP_PASSES=fuse-elementwise) and ONNX Runtime, one
thread, alternated rounds, medians.

    /usr/bin/python3 bench/chains.py [--kiln build/kiln] [--rounds 5] [--work DIR]

Models (onnx.helper, seeded): Mish x*Tanh(Softplus(x)) on [64, 8192];
standardisation Relu((x - mean) / std * g + b) on [512, 1024]; GELU spelled
out (Div, Erf, Add, Mul, Mul) on [128, 3072].
"""
import argparse
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nets  # noqa: E402

rng = np.random.default_rng(3)


def const(name, a):
    return numpy_helper.from_array(np.asarray(a, np.float32), name)


def model(path, nodes, shape, inits):
    g = helper.make_graph(nodes, "chain",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


def build(work):
    c = 1024
    return {
        "Mish [64, 8192]": model(os.path.join(work, "mish.onnx"), [
            helper.make_node("Softplus", ["x"], ["s"]), helper.make_node("Tanh", ["s"], ["t"]),
            helper.make_node("Mul", ["x", "t"], ["y"])], [64, 8192], []),
        "standardise [512, 1024]": model(os.path.join(work, "std.onnx"), [
            helper.make_node("Sub", ["x", "m"], ["a"]), helper.make_node("Div", ["a", "s"], ["b"]),
            helper.make_node("Mul", ["b", "g"], ["c"]), helper.make_node("Add", ["c", "h"], ["d"]),
            helper.make_node("Relu", ["d"], ["y"])], [512, c],
            [const("m", rng.standard_normal(c)), const("s", rng.uniform(0.5, 2, c)),
             const("g", rng.standard_normal(c)), const("h", rng.standard_normal(c))]),
        "GELU by hand [128, 3072]": model(os.path.join(work, "gelu.onnx"), [
            helper.make_node("Div", ["x", "r"], ["a"]), helper.make_node("Erf", ["a"], ["b"]),
            helper.make_node("Add", ["b", "one"], ["c"]), helper.make_node("Mul", ["x", "c"], ["d"]),
            helper.make_node("Mul", ["d", "half"], ["y"])], [128, 3072],
            [const("r", 1.4142135), const("one", 1.0), const("half", 0.5)]),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", default="build/kiln")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--work", default="build/bench-chains")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    print(f"{'model':26} {'fused us':>10} {'unfused us':>11} {'ORT us':>10} {'unfused/fused':>14}"
          f" {'ORT/fused':>10}")
    for label, path in build(a.work).items():
        fused = nets.Kiln(a.kiln, path, a.work)
        os.environ["KILN_SKIP_PASSES"] = "fuse-elementwise"
        plain_dir = os.path.join(a.work, "unfused")
        os.makedirs(plain_dir, exist_ok=True)
        plain = nets.Kiln(a.kiln, path, plain_dir)
        del os.environ["KILN_SKIP_PASSES"]
        it = nets.iters_for(fused.time(1, 5, 1, {}))
        t = {"f": [], "p": [], "o": []}
        for _ in range(a.rounds):
            t["f"].append(fused.time(1, it, 1, {}))
            t["p"].append(plain.time(1, it, 1, {}))
            t["o"].append(nets.ort_time(path, 1, it, 1, {}))
        f, p, o = (float(np.median(t[k])) for k in "fpo")
        print(f"{label:26} {f:10.1f} {p:11.1f} {o:10.1f} {p / f:14.2f} {o / f:10.2f}", flush=True)


if __name__ == "__main__":
    main()
