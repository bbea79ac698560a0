#!/usr/bin/python3
"""Concat written in place by the memory plan (passes/plan_memory.c): the
producers of a Concat's parts write straight into their slices of its
output, which the Concat then does not copy. Each model here is built with
onnx.helper, run with `kiln run` (the planned code), and compared with
numpy or torch (rtol 1e-5, atol 1e-6), in the cases where the plan must
take care:

- a squeezenet fire module (Conv 1x1 and 3x3 into one Concat, Relu fused,
  then an in-place Relu over the Concat's output), against torch;
- parts that are a graph input, a constant, and a computed value;
- a value read by two Concats, and one also read by another node;
- a Concat along an inner axis (strided slices: nothing in place);
- a dynamic batch; a static Concat in a graph whose other sizes are
  dynamic (offsets are expressions); a Concat output that is a graph output;
- a Concat of a Concat, and parts that are in-place element-wise outputs;
- slices not 64-byte aligned (only the first part can be in place).

The fire module's code must copy nothing (kernels kept out of line, the
LLVM IR has no call of a copy kernel); with unaligned slices only the
first part is in place, so two copies remain.

    /usr/bin/python3 tests/e2e/test_concat_plan.py --kiln BUILD/kiln \\
        --build-dir BUILD --source-dir SRC

One check per case (PASS/FAIL with what differed); the last line is
"N passed, M failed"; the exit status is 1 if any failed.
"""
import os
import re
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kiln_e2e import Suite, describe, parse_args, require, run  # noqa: E402

RTOL, ATOL = 1e-5, 1e-6

args = parse_args(__doc__)
KILN = args.kiln
suite = Suite("concat_plan")
TMP = suite.tmp
RNG = np.random.default_rng(11)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def save_model(name, nodes, inputs, outputs, inits=()):
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outputs],
        [numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = os.path.join(TMP, name + ".onnx")
    onnx.save(model, path)
    return path


def kiln_run(path, feeds, extra=()):
    out_dir = path[:-5] + "_out"
    os.makedirs(out_dir, exist_ok=True)
    cmd = [KILN, "run", path, "--out-dir", out_dir, *extra]
    for k, v in feeds.items():
        f = os.path.join(TMP, f"{os.path.basename(path)[:-5]}_{k}.npy")
        np.save(f, v.astype(np.float32))
        cmd += ["--input", f"{k}={f}"]
    rc, out, err = run(cmd)
    require(rc == 0, f"kiln run {path}: " + describe(rc, out, err))
    return out_dir


def check_outputs(path, feeds, want, extra=()):
    out_dir = kiln_run(path, feeds, extra)
    for name, w in want.items():
        got = np.load(os.path.join(out_dir, name + ".npy"))
        require(got.shape == w.shape, f"{name}: shape {list(got.shape)}, expected {list(w.shape)}")
        err = float(np.abs(got - w).max()) if w.size else 0.0
        require(np.allclose(got, w, rtol=RTOL, atol=ATOL),
                f"{name}: differs from the reference (max abs err {err:.3g})")


def copies(path):
    """The kernel calls that copy data in the model's code (kernels kept
    out of line, so each copy of a part is one call)."""
    ll = path[:-5] + ".ll"
    env = dict(os.environ, KILN_NOINLINE_KERNELS="1")
    rc, out, err = run([KILN, "compile", path, "--emit", "llvm", "-o", ll], env=env)
    require(rc == 0, f"kiln compile {path}: " + describe(rc, out, err))
    with open(ll) as f:
        return len(re.findall(r"call [^\n]*@kiln_(strided_)?copy", f.read()))


def fire_module():
    import torch
    import torch.nn.functional as F
    x = RNG.standard_normal((1, 8, 12, 12)).astype(np.float32)
    ws = RNG.standard_normal((4, 8, 1, 1)).astype(np.float32) * 0.3
    w1 = RNG.standard_normal((16, 4, 1, 1)).astype(np.float32) * 0.3
    w3 = RNG.standard_normal((16, 4, 3, 3)).astype(np.float32) * 0.3
    b1 = RNG.standard_normal(16).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "ws"], ["s0"], name="squeeze"),
        helper.make_node("Relu", ["s0"], ["s"], name="squeeze_relu"),
        helper.make_node("Conv", ["s", "w1", "b1"], ["e10"], name="expand1x1"),
        helper.make_node("Relu", ["e10"], ["e1"], name="expand1x1_relu"),
        helper.make_node("Conv", ["s", "w3"], ["e30"], name="expand3x3", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["e30"], ["e3"], name="expand3x3_relu"),
        helper.make_node("Concat", ["e1", "e3"], ["cat"], name="cat", axis=1),
        helper.make_node("Sigmoid", ["cat"], ["sg"], name="after"),
        helper.make_node("Conv", ["sg", "ws2"], ["y"], name="next"),
    ]
    ws2 = RNG.standard_normal((4, 32, 1, 1)).astype(np.float32) * 0.3
    path = save_model("fire", nodes, [("x", [1, 8, 12, 12])], ["y"],
                      [("ws", ws), ("w1", w1), ("w3", w3), ("b1", b1), ("ws2", ws2)])
    t = torch.from_numpy
    with torch.no_grad():
        s = F.relu(F.conv2d(t(x), t(ws)))
        e1 = F.relu(F.conv2d(s, t(w1), t(b1)))
        e3 = F.relu(F.conv2d(s, t(w3), padding=1))
        y = F.conv2d(torch.sigmoid(torch.cat([e1, e3], 1)), t(ws2)).numpy()
    check_outputs(path, {"x": x}, {"y": y})
    n = copies(path)
    require(n == 0, f"{n} copies in the code: the Concat's parts were not written in place")


def graph_input_and_constant():
    x = RNG.standard_normal((1, 16)).astype(np.float32)
    c = RNG.standard_normal((1, 16)).astype(np.float32)
    nodes = [helper.make_node("Sigmoid", ["x"], ["sx"]),
             helper.make_node("Concat", ["x", "c", "sx"], ["cat"], axis=1),
             helper.make_node("Tanh", ["cat"], ["y"])]
    path = save_model("inputs", nodes, [("x", [1, 16])], ["y"], [("c", c)])
    check_outputs(path, {"x": x}, {"y": np.tanh(np.concatenate([x, c, sigmoid(x)], 1))})


def two_concats_and_another_reader():
    x = RNG.standard_normal((1, 32)).astype(np.float32)
    nodes = [helper.make_node("Tanh", ["x"], ["t"]),
             helper.make_node("Sigmoid", ["x"], ["s"]),
             helper.make_node("Exp", ["x"], ["e"]),
             helper.make_node("Neg", ["x"], ["n"]),
             helper.make_node("Concat", ["t", "s"], ["c1"], axis=1),
             helper.make_node("Concat", ["e", "t"], ["c2"], axis=1),
             helper.make_node("Concat", ["n", "s", "n"], ["c3"], axis=0),
             helper.make_node("Add", ["c1", "c2"], ["y"]),
             helper.make_node("Mul", ["n", "n"], ["z"]),
             helper.make_node("Abs", ["c3"], ["w"])]
    path = save_model("shared", nodes, [("x", [1, 32])], ["y", "z", "w"])
    t, s, e, n = np.tanh(x), sigmoid(x), np.exp(x), -x
    check_outputs(path, {"x": x}, {"y": np.concatenate([t, s], 1) + np.concatenate([e, t], 1),
                                   "z": n * n, "w": np.abs(np.concatenate([n, s, n], 0))})


def inner_axis():
    x = RNG.standard_normal((2, 3, 16)).astype(np.float32)
    nodes = [helper.make_node("Tanh", ["x"], ["t"]),
             helper.make_node("Sigmoid", ["x"], ["s"]),
             helper.make_node("Concat", ["t", "s"], ["c1"], axis=1),
             helper.make_node("Concat", ["t", "s"], ["c2"], axis=-1),
             helper.make_node("Exp", ["c1"], ["y1"]),
             helper.make_node("Exp", ["c2"], ["y2"])]
    path = save_model("inner", nodes, [("x", [2, 3, 16])], ["y1", "y2"])
    t, s = np.tanh(x), sigmoid(x)
    check_outputs(path, {"x": x}, {"y1": np.exp(np.concatenate([t, s], 1)),
                                   "y2": np.exp(np.concatenate([t, s], 2))})


def dynamic_batch():
    nodes = [helper.make_node("Tanh", ["x"], ["t"]),
             helper.make_node("Sigmoid", ["x"], ["s"]),
             helper.make_node("Concat", ["t", "s"], ["c0"], axis=0),
             helper.make_node("Concat", ["t", "s"], ["c1"], axis=1),
             helper.make_node("Neg", ["c0"], ["y0"]),
             helper.make_node("Neg", ["c1"], ["y1"])]
    path = save_model("dynamic", nodes, [("x", ["batch", 16])], ["y0", "y1"])
    for b in (1, 3):
        x = RNG.standard_normal((b, 16)).astype(np.float32)
        t, s = np.tanh(x), sigmoid(x)
        check_outputs(path, {"x": x}, {"y0": -np.concatenate([t, s], 0),
                                       "y1": -np.concatenate([t, s], 1)})


def static_concat_in_a_dynamic_graph():
    """Offsets are expressions here (the plan's symbolic path); the static
    Concat's parts still go in place."""
    nodes = [helper.make_node("Tanh", ["x"], ["t"]),
             helper.make_node("Sigmoid", ["z"], ["s"]),
             helper.make_node("Exp", ["z"], ["e"]),
             helper.make_node("Concat", ["s", "e"], ["c"], axis=1),
             helper.make_node("Neg", ["c"], ["y"]),
             helper.make_node("Neg", ["t"], ["u"])]
    path = save_model("mixed", nodes, [("x", ["batch", 16]), ("z", [1, 16])], ["y", "u"])
    z = RNG.standard_normal((1, 16)).astype(np.float32)
    for b in (1, 5):
        x = RNG.standard_normal((b, 16)).astype(np.float32)
        check_outputs(path, {"x": x, "z": z},
                      {"y": -np.concatenate([sigmoid(z), np.exp(z)], 1), "u": -np.tanh(x)})
    n = copies(path)
    require(n == 0, f"{n} copies in the code: the Concat's parts were not written in place")


def output_is_graph_output():
    x = RNG.standard_normal((1, 16)).astype(np.float32)
    nodes = [helper.make_node("Tanh", ["x"], ["t"]),
             helper.make_node("Sigmoid", ["x"], ["s"]),
             helper.make_node("Concat", ["t", "s"], ["y"], axis=1)]
    path = save_model("graph_output", nodes, [("x", [1, 16])], ["y"])
    check_outputs(path, {"x": x}, {"y": np.concatenate([np.tanh(x), sigmoid(x)], 1)})


def nested_and_in_place_parts():
    x = RNG.standard_normal((1, 2, 16)).astype(np.float32)
    nodes = [helper.make_node("Tanh", ["x"], ["t"]),
             helper.make_node("Relu", ["t"], ["r"]),       # in place over t
             helper.make_node("Sigmoid", ["x"], ["s"]),
             helper.make_node("Concat", ["r", "s"], ["c1"], axis=1),
             helper.make_node("Exp", ["x"], ["e"]),
             helper.make_node("Concat", ["c1", "e"], ["c2"], axis=1),
             helper.make_node("Relu", ["c2"], ["c3"]),     # in place over the Concat
             helper.make_node("Neg", ["c3"], ["y"])]
    path = save_model("nested", nodes, [("x", [1, 2, 16])], ["y"])
    r, s, e = np.maximum(np.tanh(x), 0), sigmoid(x), np.exp(x)
    check_outputs(path, {"x": x},
                  {"y": -np.maximum(np.concatenate([np.concatenate([r, s], 1), e], 1), 0)})


def unaligned_slices():
    x = RNG.standard_normal((1, 3)).astype(np.float32)
    nodes = [helper.make_node("Tanh", ["x"], ["t"]),
             helper.make_node("Sigmoid", ["x"], ["s"]),
             helper.make_node("Exp", ["x"], ["e"]),
             helper.make_node("Concat", ["t", "s", "e"], ["c"], axis=1),
             helper.make_node("Neg", ["c"], ["y"])]
    path = save_model("unaligned", nodes, [("x", [1, 3])], ["y"])
    check_outputs(path, {"x": x}, {"y": -np.concatenate([np.tanh(x), sigmoid(x), np.exp(x)], 1)})
    n = copies(path)
    require(n == 2, f"{n} copies in the code, expected 2 (the first part alone in place)")


def main():
    suite.check("fire module: Conv parts in place (no copy), matches torch")(fire_module)
    suite.check("parts that are a graph input and a constant")(graph_input_and_constant)
    suite.check("a value read by two Concats, or also by another node")(
        two_concats_and_another_reader)
    suite.check("Concat along an inner axis")(inner_axis)
    suite.check("dynamic batch, outer and inner axis")(dynamic_batch)
    suite.check("a static Concat in a graph with a dynamic batch")(
        static_concat_in_a_dynamic_graph)
    suite.check("the Concat's output is a graph output")(output_is_graph_output)
    suite.check("a Concat of a Concat; in-place element-wise parts and output")(
        nested_and_in_place_parts)
    suite.check("slices not 64-byte aligned")(unaligned_slices)
    return suite.finish()


if __name__ == "__main__":
    sys.exit(main())
