#!/usr/bin/python3
"""Writes the small, deliberately broken models in tests/golden/.

Each model exercises one diagnostic; its expected kiln output lives next to
it in <name>.stderr. Run with Debian's python3 (python3-onnx 1.12):

    /usr/bin/python3 tests/golden/make_bad_models.py

The output is deterministic, so rerunning it leaves git clean.
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
F32 = TensorProto.FLOAT


def model(nodes, inputs, outputs, initializers=(), name="bad", opsets=(("", 17),)):
    graph = helper.make_graph(list(nodes), name, list(inputs), list(outputs),
                              initializer=list(initializers))
    m = helper.make_model(graph, producer_name="kiln-golden",
                          opset_imports=[helper.make_opsetid(d, v) for d, v in opsets])
    m.ir_version = 8
    return m


def save(m, name):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(m.SerializeToString() if not isinstance(m, bytes) else m)


def mlp():
    """A valid two-layer MLP: x[N,4] -> Gemm -> Relu -> Gemm -> y[N,2]."""
    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.standard_normal((8, 4)).astype(np.float32), "fc1.weight")
    b1 = numpy_helper.from_array(np.zeros(8, np.float32), "fc1.bias")
    w2 = numpy_helper.from_array(rng.standard_normal((2, 8)).astype(np.float32), "fc2.weight")
    b2 = numpy_helper.from_array(np.zeros(2, np.float32), "fc2.bias")
    return model(
        [helper.make_node("Gemm", ["x", "fc1.weight", "fc1.bias"], ["h"], "fc1", transB=1),
         helper.make_node("Relu", ["h"], ["hr"], "relu1"),
         helper.make_node("Gemm", ["hr", "fc2.weight", "fc2.bias"], ["y"], "fc2", transB=1)],
        [helper.make_tensor_value_info("x", F32, ["N", 4])],
        [helper.make_tensor_value_info("y", F32, ["N", 2])],
        [w1, b1, w2, b2], name="mlp")


def main():
    # Two ops kiln does not know, one in the default domain, one custom:
    # `kiln check` must list both at once.
    save(model(
        [helper.make_node("Relu", ["x"], ["r"], "relu1"),
         helper.make_node("Foo", ["r"], ["f"], "foo1"),
         helper.make_node("Bar", ["f"], ["y"], "bar1", domain="com.example")],
        [helper.make_tensor_value_info("x", F32, ["N", 4])],
        [helper.make_tensor_value_info("y", F32, ["N", 4])],
        opsets=(("", 17), ("com.example", 1))), "unknown_op.onnx")

    # 'ghost' is neither a graph input, an initializer nor a node output.
    save(model(
        [helper.make_node("Add", ["x", "ghost"], ["y"], "add1")],
        [helper.make_tensor_value_info("x", F32, ["N", 4])],
        [helper.make_tensor_value_info("y", F32, ["N", 4])]), "missing_input.onnx")

    # A valid model cut in half: the protobuf decoder must fail cleanly.
    data = mlp().SerializeToString()
    save(data[:len(data) // 2], "truncated.onnx")

    # Plain text.
    save(b"this is not an onnx model, just some text\n", "not_onnx.onnx")

    # A string initializer: kiln holds numeric and bool tensors only.
    labels = helper.make_tensor("labels", TensorProto.STRING, [2], [b"cat", b"dog"])
    save(model(
        [helper.make_node("Identity", ["labels"], ["y"], "id1")],
        [], [helper.make_tensor_value_info("y", TensorProto.STRING, [2])],
        [labels]), "bad_dtype.onnx")

    # Both dims symbolic: once 'seq' needed a pin; since symbolic dims (issue 9)
    # both are symbols and the model checks clean (exit 0, nothing on stderr).
    save(model(
        [helper.make_node("Relu", ["x"], ["y"], "relu1")],
        [helper.make_tensor_value_info("x", F32, ["batch", "seq"])],
        [helper.make_tensor_value_info("y", F32, ["batch", "seq"])]), "symbolic_dim.onnx")

    # External data that tries to escape the model directory.
    wt = TensorProto()
    wt.name = "w"
    wt.data_type = F32
    wt.dims.extend([4, 4])
    wt.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "../../etc/passwd"), ("offset", "0"), ("length", "64")):
        e = wt.external_data.add()
        e.key, e.value = k, v
    save(model(
        [helper.make_node("MatMul", ["x", "w"], ["y"], "mm1")],
        [helper.make_tensor_value_info("x", F32, ["N", 4])],
        [helper.make_tensor_value_info("y", F32, ["N", 4])],
        [wt]), "external_traversal.onnx")

    # Gemm with a rank-3 weight: imports fine, shape inference rejects it.
    w3 = numpy_helper.from_array(np.ones((2, 4, 3), np.float32), "fc.weight")
    save(model(
        [helper.make_node("Gemm", ["x", "fc.weight"], ["y"], "fc1", transB=1)],
        [helper.make_tensor_value_info("x", F32, ["N", 4])],
        [helper.make_tensor_value_info("y", F32, ["N", 3])],
        [w3]), "wrong_rank.onnx")


if __name__ == "__main__":
    main()
