#!/usr/bin/python3
"""compile_time.py: how long `kiln compile` takes as a graph grows.

Builds chains of 1,000, 5,000 and 20,000 nodes (Relu only, and Add/Mul/Relu
with a constant operand each) over an [N, 4] float input, compiles each with
`kiln compile -o OUT` (a service binary, linking included) and prints the
wall and CPU seconds and the peak memory. Compile time should grow linearly
with the node count.

usage: bench/compile_time.py [--kiln build/kiln] [--sizes 1000,5000,20000]
Needs /usr/bin/python3 with onnx and numpy.
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
from onnx import TensorProto, helper, save


def chain(n, mixed):
    """A chain of n nodes; with mixed, Add, Mul and Relu in turn."""
    nodes, inits, prev = [], [], "x"
    for i in range(n):
        out, op = f"v{i}", ("Add", "Mul", "Relu")[i % 3] if mixed else "Relu"
        ins = [prev]
        if op != "Relu":
            c = f"c{i}"
            inits.append(helper.make_tensor(c, TensorProto.FLOAT, [4],
                                            np.full(4, 0.5 + 0.001 * (i % 7), np.float32)))
            ins.append(c)
        nodes.append(helper.make_node(op, ins, [out], name=f"n{i}"))
        prev = out
    g = helper.make_graph(nodes, "chain",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                          [helper.make_tensor_value_info(prev, TensorProto.FLOAT, ["N", 4])],
                          inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kiln", default=os.path.join(here, "..", "build", "kiln"))
    p.add_argument("--sizes", default="1000,5000,20000")
    a = p.parse_args()
    print(f"{'model':<18} {'nodes':>6} {'wall s':>7} {'cpu s':>7} {'peak MB':>8}")
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in a.sizes.split(",")):
            for mixed in (False, True):
                name = f"{'add-mul-relu' if mixed else 'relu'}-{n}"
                model, out = os.path.join(tmp, name + ".onnx"), os.path.join(tmp, name)
                save(chain(n, mixed), model)
                t0 = time.monotonic()
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                r = subprocess.run([a.kiln, "compile", model, "-o", out],
                                   capture_output=True, text=True)
                wall = time.monotonic() - t0
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
                if r.returncode != 0:
                    bad = 1
                    print(f"{name:<18} {n:>6} failed (exit {r.returncode}): {r.stderr.strip()}")
                    continue
                print(f"{name:<18} {n:>6} {wall:>7.2f} {cpu:>7.2f} {after.ru_maxrss / 1024:>8.0f}")
    return bad


if __name__ == "__main__":
    sys.exit(main())
