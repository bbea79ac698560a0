#!/usr/bin/python3
"""Benchmark models kiln and ONNX Runtime both run: an MNIST-sized MLP
(784-512-512-10, Gemm+Relu, Softmax) with seeded weights."""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
rng = np.random.default_rng(7)
inits, nodes, prev = [], [], "x"
sizes = [784, 512, 512, 10]
for i in range(3):
    w = (rng.standard_normal((sizes[i + 1], sizes[i])) / np.sqrt(sizes[i])).astype(np.float32)
    b = (rng.standard_normal(sizes[i + 1]) * 0.1).astype(np.float32)
    inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
    nodes.append(helper.make_node("Gemm", [prev, f"w{i}", f"b{i}"], [f"g{i}"], transB=1))
    prev = f"g{i}"
    if i < 2:
        nodes.append(helper.make_node("Relu", [prev], [f"r{i}"]))
        prev = f"r{i}"
nodes.append(helper.make_node("Softmax", [prev], ["probs"], axis=1))
g = helper.make_graph(nodes, "mlp784",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 784])],
                      [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", 10])],
                      inits)
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
onnx.checker.check_model(m)
onnx.save(m, os.path.join(out, "mlp784.onnx"))
