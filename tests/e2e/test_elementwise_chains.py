#!/usr/bin/python3
"""Element-wise chains fused into one pass (passes/fuse_elementwise.c).

Models built here with onnx.helper and seeded data, each checked with
`kiln run` against numpy in float64 (rtol 1e-5, atol 1e-6: the chain may
contract a multiply and an add into one fused multiply-add), and with
`--dump-after fuse-elementwise` for the kiln.Chain nodes it must make:
  - Mish, x * Tanh(Softplus(x)): the chain reads its own input again;
  - standardisation, Relu((x - mean) / std * g + b), constants broadcast;
  - GELU by hand (Div, Erf, Add, Mul, Mul) with no Gemm before it;
  - 1 - Sigmoid(x) (the value on the right), y * y, Clip with constant
    bounds, Pow by 3, LeakyRelu and HardSigmoid with their attributes;
  - four operands of different broadcasts ([N,1,8], [1,5,8], [N,5,1], [8]);
  - seven operands: the chain stops at six, and the last Add stays itself;
  - 20 unary steps: two chains (at most 16 steps each);
  - a value read twice in the middle: the chain stops there;
  - a dynamic batch served at 1, 3 and 130 rows;
  - a chain big enough to be split: `OUT predict --threads-per-request 1`
    and 2 give bitwise the same numbers.

    /usr/bin/python3 tests/e2e/test_elementwise_chains.py --kiln BUILD/kiln \
        --build-dir BUILD --source-dir SRC
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kiln_e2e import (Suite, compare, describe, kiln_compile, parse_args, require,  # noqa: E402
                      predict_threads, run, write_json)

RTOL, ATOL = 1e-5, 1e-6

args = parse_args(__doc__)
KILN = args.kiln
suite = Suite("elementwise-chains")
check = suite.check
TMP = suite.tmp
rng = np.random.default_rng(5)


def vi(name, dims):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)


def const(name, a):
    return numpy_helper.from_array(np.asarray(a, np.float32), name)


def save(name, nodes, ins, outs, inits=(), opset=13):
    g = helper.make_graph(nodes, name, ins, outs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(m)
    path = os.path.join(TMP, name + ".onnx")
    onnx.save(m, path)
    return path


def kiln_run(path, feeds, what):
    args_ = [KILN, "run", path, "--out-dir", os.path.join(TMP, "out")]
    for k, v in feeds.items():
        p = os.path.join(TMP, f"in_{k}.npy")
        np.save(p, v)
        args_ += ["--input", f"{k}={p}"]
    rc, out, err = run(args_, timeout=300)
    require(rc == 0, f"{what}: kiln run: " + describe(rc, out, err))
    return np.load(os.path.join(TMP, "out", "y.npy"))


def chains(path, what):
    """The kiln.Chain lines of the IR after fuse-elementwise."""
    rc, out, err = run([KILN, "compile", path, "--dump-after", "fuse-elementwise", "--emit", "obj",
                        "-o", os.path.join(TMP, "dump.o")], timeout=300)
    require(rc == 0, f"{what}: kiln compile --dump-after: " + describe(rc, out, err))
    return [l for l in out.splitlines() if "kiln.Chain" in l], out


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def erf(x):
    from math import erf as e
    return np.vectorize(e)(x)


def case(name, nodes, ins, inits, feeds, ref, n_chains, steps=None):
    """Check a model: numbers against ref(feeds) and the chains it makes."""
    @check(f"{name}: kiln run matches numpy and makes {n_chains} kiln.Chain node(s)")
    def _():
        want = ref(**{k: v.astype(np.float64) for k, v in feeds.items()})
        path = save(name, nodes, ins, [vi("y", list(want.shape))], inits)
        got = kiln_run(path, feeds, name)
        compare(name, got, want.astype(np.float32), RTOL, ATOL)
        lines, text = chains(path, name)
        require(len(lines) == n_chains, f"{name}: {len(lines)} kiln.Chain nodes, expected "
                f"{n_chains}:\n{text[-3000:]}")
        if steps:
            for s in steps:
                require(any(s in l for l in lines), f"{name}: no chain with {s!r}:\n{text[-3000:]}")


X64 = rng.standard_normal((7, 64)).astype(np.float32) * 3

case("mish", [helper.make_node("Softplus", ["x"], ["s"]), helper.make_node("Tanh", ["s"], ["t"]),
              helper.make_node("Mul", ["x", "t"], ["y"])],
     [vi("x", [7, 64])], [], {"x": X64}, lambda x: x * np.tanh(np.log1p(np.exp(x))), 1,
     ['["Softplus","Tanh","Mul"]'])

MEAN = rng.standard_normal(64).astype(np.float32)
STD = rng.uniform(0.5, 2, 64).astype(np.float32)
G = rng.standard_normal(64).astype(np.float32)
B = rng.standard_normal(64).astype(np.float32)
case("standardise", [helper.make_node("Sub", ["x", "mean"], ["a"]),
                     helper.make_node("Div", ["a", "std"], ["b"]),
                     helper.make_node("Mul", ["b", "g"], ["c"]),
                     helper.make_node("Add", ["c", "bias"], ["d"]),
                     helper.make_node("Relu", ["d"], ["y"])],
     [vi("x", [7, 64])], [const("mean", MEAN), const("std", STD), const("g", G), const("bias", B)],
     {"x": X64}, lambda x: np.maximum((x - MEAN) / STD * G + B, 0), 1)

X3 = rng.standard_normal((2, 7, 33)).astype(np.float32) * 2
case("gelu", [helper.make_node("Div", ["x", "r2"], ["a"]), helper.make_node("Erf", ["a"], ["b"]),
              helper.make_node("Add", ["b", "one"], ["c"]), helper.make_node("Mul", ["x", "c"], ["d"]),
              helper.make_node("Mul", ["d", "half"], ["y"])],
     [vi("x", [2, 7, 33])], [const("r2", 1.4142135), const("one", 1.0), const("half", 0.5)],
     {"x": X3}, lambda x: x * 0.5 * (1 + erf(x / 1.4142135)), 1)

case("sides", [helper.make_node("Sigmoid", ["x"], ["s"]), helper.make_node("Sub", ["one", "s"], ["a"]),
               helper.make_node("Mul", ["a", "a"], ["b"]),
               helper.make_node("Clip", ["b", "lo", "hi"], ["c"]),
               helper.make_node("Pow", ["c", "three"], ["d"]),
               helper.make_node("LeakyRelu", ["d"], ["e"], alpha=0.3),
               helper.make_node("HardSigmoid", ["e"], ["y"], alpha=0.7, beta=0.1)],
     [vi("x", [7, 64])], [const("one", 1.0), const("lo", 0.05), const("hi", 0.8),
                          const("three", 3.0)],
     {"x": X64},
     lambda x: np.clip(0.7 * np.clip((1 - sigmoid(x)) ** 2, 0.05, 0.8) ** 3 + 0.1, 0, 1), 1,
     ['["Sigmoid","Sub","Mul","Clip","Pow","LeakyRelu","HardSigmoid"]'])

A = rng.standard_normal((3, 1, 8)).astype(np.float32)
Bb = rng.standard_normal((1, 5, 8)).astype(np.float32)
C = rng.standard_normal((3, 5, 1)).astype(np.float32)
D = rng.standard_normal(8).astype(np.float32)
case("broadcasts", [helper.make_node("Add", ["a", "b"], ["s"]), helper.make_node("Tanh", ["s"], ["t"]),
                    helper.make_node("Mul", ["t", "c"], ["u"]),
                    helper.make_node("Max", ["u", "a"], ["v"]),
                    helper.make_node("Sub", ["d", "v"], ["y"])],
     [vi("a", [3, 1, 8]), vi("b", [1, 5, 8]), vi("c", [3, 5, 1])], [const("d", D)],
     {"a": A, "b": Bb, "c": C}, lambda a, b, c: D - np.maximum(np.tanh(a + b) * c, a), 1)

W = [rng.standard_normal(64).astype(np.float32) for _ in range(6)]
case("operands", [helper.make_node(op, [a, f"w{i}"], [b]) for i, (op, a, b) in
                  enumerate([("Add", "x", "a"), ("Mul", "a", "b"), ("Sub", "b", "c"),
                             ("Max", "c", "d"), ("Min", "d", "e"), ("Add", "e", "y")])],
     [vi("x", [7, 64])], [const(f"w{i}", w) for i, w in enumerate(W)], {"x": X64},
     lambda x: np.minimum(np.maximum((x + W[0]) * W[1] - W[2], W[3]), W[4]) + W[5], 1)

UNARY = ["Neg", "Abs", "Sqrt", "Neg", "Exp", "Softsign", "Sin", "Cos"] * 3  # 24 ... take 20
UNARY = UNARY[:20]


def ref_unary(x):
    f = {"Neg": np.negative, "Abs": np.abs, "Sqrt": np.sqrt, "Exp": np.exp,
         "Softsign": lambda v: v / (1 + np.abs(v)), "Sin": np.sin, "Cos": np.cos}
    for op in UNARY:
        x = f[op](x)
    return x


names = ["x"] + [f"u{i}" for i in range(len(UNARY) - 1)] + ["y"]
case("long", [helper.make_node(op, [names[i]], [names[i + 1]]) for i, op in enumerate(UNARY)],
     [vi("x", [7, 64])], [], {"x": X64 / 3}, ref_unary, 2)

# t is read by the Mul and by the Add: the chain Exp, Tanh stops at t, and
# the Mul, Add after it are a second one.
case("shared", [helper.make_node("Exp", ["x"], ["e"]), helper.make_node("Tanh", ["e"], ["t"]),
                helper.make_node("Mul", ["t", "x"], ["m"]), helper.make_node("Add", ["m", "t"], ["y"])],
     [vi("x", [7, 64])], [], {"x": X64 / 3},
     lambda x: np.tanh(np.exp(x)) * x + np.tanh(np.exp(x)), 2, ['["Exp","Tanh"]', '["Mul","Add"]'])


@check("a dynamic batch: one compile served at 1, 3 and 130 rows")
def _():
    path = save("dyn", [helper.make_node("Mul", ["x", "g"], ["a"]),
                        helper.make_node("Add", ["a", "bias"], ["b"]),
                        helper.make_node("Sigmoid", ["b"], ["y"])],
                [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 64])],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 64])],
                [const("g", G), const("bias", B)])
    exe = os.path.join(TMP, "dyn")
    kiln_compile(KILN, path, exe)
    for n in (1, 3, 130):
        x = rng.standard_normal((n, 64)).astype(np.float32)
        req = write_json(os.path.join(TMP, "dyn.json"),
                         {"inputs": [{"name": "x", "shape": [n, 64], "datatype": "FP32",
                                      "data": [float(v) for v in x.ravel()]}]})
        rc, out, err = run([exe, "predict", "--input", req])
        require(rc == 0, f"predict at {n} rows: " + describe(rc, out, err))
        o = json.loads(out)["outputs"][0]
        got = np.array(o["data"], np.float32).reshape(o["shape"])
        compare(f"{n} rows", got, sigmoid(x.astype(np.float64) * G + B).astype(np.float32), RTOL,
                ATOL)


@check("a chain split over 2 threads gives bitwise what one thread gives")
def _():
    shape = [64, 4096]
    path = save("big", [helper.make_node("Mul", ["x", "x"], ["a"]),
                        helper.make_node("Add", ["a", "one"], ["b"]),
                        helper.make_node("Log", ["b"], ["c"]),
                        helper.make_node("Tanh", ["c"], ["y"])],
                [vi("x", shape)], [vi("y", shape)], [const("one", 1.0)])
    exe = os.path.join(TMP, "big")
    kiln_compile(KILN, path, exe)
    x = rng.standard_normal(shape).astype(np.float32)
    req = write_json(os.path.join(TMP, "big.json"),
                     {"inputs": [{"name": "x", "shape": shape, "datatype": "FP32",
                                  "data": [float(v) for v in x.ravel()]}]})
    outs = predict_threads(exe, req)
    x64 = x.astype(np.float64)
    compare("2 threads", outs[2], np.tanh(np.log(x64 * x64 + 1)).astype(np.float32), RTOL, ATOL)
    require(outs[1].tobytes() == outs[2].tobytes(), "2 threads differ from 1")


sys.exit(suite.finish())
