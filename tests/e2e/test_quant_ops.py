#!/usr/bin/python3
"""Quantised models and Einsum end to end: a QuantizeLinear -> QLinearConv
-> QLinearMatMul -> DequantizeLinear model built with onnx.helper (uint8
activations, int8 per-channel weights, int32 bias, real-looking scales and
zero points) and a DynamicQuantizeLinear -> MatMulInteger model, compared
exactly with numpy references written here (ONNX's integer arithmetic:
round half to even, saturation); Einsum equations as torch.onnx.export
writes them, compared with torch (rtol 1e-5, atol 1e-6). Both also with
ONNX Runtime (tests/e2e/ort_run.js, when onnxruntime-node is in
bench/node_modules or $KILN_ORT_NODE_MODULES): quantised outputs within one
quantisation step (ORT may round an accumulator the other way), Einsum
within rtol 1e-5. Bad indices (MaxUnpool, ReverseSequence) fail with exit
1 and a message naming the node, and so does an Einsum too large to run.

    /usr/bin/python3 tests/e2e/test_quant_ops.py --kiln BUILD/kiln \
        --build-dir BUILD --source-dir SRC

Only processes this script started are ended, by PID; every wait is bounded.
"""
import json
import os
import shutil
import sys
import warnings

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as oh
from onnx import numpy_helper as nh

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kiln_e2e import (Suite, compare, describe, kiln_compile, parse_args,  # noqa: E402
                      predict_threads, require, run)

args = parse_args(__doc__)
KILN = args.kiln
suite = Suite("quant_ops")
check = suite.check
TMP = suite.tmp
RNG = np.random.default_rng(12)
ORT_RUN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ort_run.js")


def save(name, nodes, inputs, outputs, inits=(), opset=13):
    g = oh.make_graph(nodes, name, inputs, outputs, list(inits))
    m = oh.make_model(g, opset_imports=[oh.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    path = os.path.join(TMP, name + ".onnx")
    onnx.save(m, path)
    return path


def kiln_run(model, **inputs):
    out = os.path.join(TMP, "out_" + os.path.basename(model))
    cmd = [KILN, "run", model, "--out-dir", out]
    for k, a in inputs.items():
        p = os.path.join(TMP, k + ".npy")
        np.save(p, a)
        cmd += ["--input", f"{k}={p}"]
    rc, o, err = run(cmd, timeout=120)
    got = {}
    if rc == 0:
        for f in os.listdir(out):
            got[f[:-4]] = np.load(os.path.join(out, f))
    return rc, err, got


def kiln_outputs(model, **inputs):
    rc, err, got = kiln_run(model, **inputs)
    require(rc == 0, f"kiln run {os.path.basename(model)}: exit {rc}: {err.strip()[-600:]}")
    return got


def find_ort():
    for d in (os.environ.get("KILN_ORT_NODE_MODULES"),
              os.path.join(args.source_dir, "bench", "node_modules")):
        if d and os.path.isdir(os.path.join(d, "onnxruntime-node")) and shutil.which("node"):
            return d
    return None


ORT_MODULES = find_ort()


def ort_outputs(model, **inputs):
    """ONNX Runtime's outputs (float32 inputs and outputs), or None without it."""
    if not ORT_MODULES:
        return None
    out = os.path.join(TMP, "ort_" + os.path.basename(model))
    os.makedirs(out, exist_ok=True)
    cmd = ["node", ORT_RUN, model, out]
    for k, a in inputs.items():
        p = os.path.join(TMP, "ort_" + k + ".npy")
        np.save(p, a)
        cmd.append(f"{k}={p}")
    rc, o, err = run(cmd, timeout=120, env=dict(os.environ, NODE_PATH=ORT_MODULES))
    require(rc == 0, "onnxruntime-node: " + describe(rc, o, err))
    return {f[:-4]: np.load(os.path.join(out, f)) for f in os.listdir(out)}


# --- numpy references of ONNX's integer arithmetic ---------------------------------------

def quantize(x, scale, zp, lo, hi):
    return np.clip(np.rint(x / scale) + zp, lo, hi)


def conv2d_int(x, w, pads, strides):
    """x [N,C,H,W] and w [M,C,kh,kw] as int64, zero points already removed."""
    n, c, h, wd = x.shape
    m, _, kh, kw = w.shape
    xp = np.zeros((n, c, h + 2 * pads, wd + 2 * pads), np.int64)
    xp[:, :, pads:pads + h, pads:pads + wd] = x
    oh_ = (h + 2 * pads - kh) // strides + 1
    ow = (wd + 2 * pads - kw) // strides + 1
    y = np.zeros((n, m, oh_, ow), np.int64)
    for i in range(oh_):
        for j in range(ow):
            patch = xp[:, :, i * strides:i * strides + kh, j * strides:j * strides + kw]
            y[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3]))
    return y


# --- the quantised pipeline ------------------------------------------------------------------

C, M, H = 3, 4, 8
x_scale, x_zp = np.float32(0.02), np.uint8(128)
w_scale = np.array([0.004, 0.006, 0.005, 0.003], np.float32)
w_zp = np.zeros(M, np.int8)
c_scale, c_zp = np.float32(0.05), np.uint8(100)
b_scale, b_zp = np.float32(0.01), np.uint8(120)
y_scale, y_zp = np.float32(0.1), np.uint8(128)
W = RNG.integers(-127, 128, (M, C, 3, 3)).astype(np.int8)
BIAS = RNG.integers(-2000, 2000, M).astype(np.int32)
B = RNG.integers(0, 256, (H * H, 10)).astype(np.uint8)


def pipeline_model():
    inits = [nh.from_array(np.array(v), n) for n, v in [
        ("x_scale", x_scale), ("x_zp", x_zp), ("c_scale", c_scale), ("c_zp", c_zp),
        ("b_scale", b_scale), ("b_zp", b_zp), ("y_scale", y_scale), ("y_zp", y_zp)]]
    inits += [nh.from_array(w_scale, "w_scale"), nh.from_array(w_zp, "w_zp"),
              nh.from_array(W, "w"), nh.from_array(BIAS, "bias"), nh.from_array(B, "b"),
              nh.from_array(np.array([M, H * H], np.int64), "shape2d")]
    nodes = [
        oh.make_node("QuantizeLinear", ["x", "x_scale", "x_zp"], ["xq"], name="quant"),
        oh.make_node("QLinearConv", ["xq", "x_scale", "x_zp", "w", "w_scale", "w_zp", "c_scale",
                                     "c_zp", "bias"], ["cq"], name="qconv", pads=[1, 1, 1, 1],
                     kernel_shape=[3, 3]),
        oh.make_node("Reshape", ["cq", "shape2d"], ["cq2"], name="flat"),
        oh.make_node("QLinearMatMul", ["cq2", "c_scale", "c_zp", "b", "b_scale", "b_zp", "y_scale",
                                       "y_zp"], ["yq"], name="qmatmul"),
        oh.make_node("DequantizeLinear", ["yq", "y_scale", "y_zp"], ["y"], name="dequant"),
    ]
    return save("pipeline", nodes, [oh.make_tensor_value_info("x", T.FLOAT, [1, C, H, H])],
                [oh.make_tensor_value_info("y", T.FLOAT, [M, 10])], inits)


def pipeline_reference(x):
    xq = quantize(x, x_scale, x_zp, 0, 255).astype(np.int64)
    acc = conv2d_int(xq - int(x_zp), W.astype(np.int64) - w_zp[:, None, None, None], 1, 1)
    acc = acc + BIAS[None, :, None, None]
    mult = (x_scale * w_scale / c_scale).astype(np.float32)[None, :, None, None]
    cq = quantize((acc.astype(np.float32) * mult).astype(np.float32), 1, int(c_zp), 0, 255)
    cq = cq.astype(np.int64).reshape(M, H * H)
    acc2 = (cq - int(c_zp)) @ (B.astype(np.int64) - int(b_zp))
    yq = quantize(acc2.astype(np.float32) * np.float32(c_scale * b_scale / y_scale), 1,
                  int(y_zp), 0, 255)
    return ((yq - int(y_zp)) * y_scale).astype(np.float32)


@check("QuantizeLinear -> QLinearConv -> QLinearMatMul -> DequantizeLinear matches numpy exactly")
def _():
    model = pipeline_model()
    for k in range(3):
        x = (RNG.standard_normal((1, C, H, H)) * (1 + k)).astype(np.float32)
        got = kiln_outputs(model, x=x)["y"]
        want = pipeline_reference(x)
        compare(f"pipeline, draw {k}", got, want, 0, 1e-6)
        ort = ort_outputs(model, x=x)
        if ort is not None:
            # One quantisation step: ORT may round a tie or its float
            # multiplier differently on a few codes.
            err = np.abs(ort["y"] - got)
            require(err.max() <= y_scale * 1.001 and (err > 1e-6).mean() < 0.05,
                    f"ORT differs by up to {err.max()} on {(err > 1e-6).sum()} values")


@check("DynamicQuantizeLinear -> MatMulInteger matches numpy exactly, saturating")
def _():
    inits = [nh.from_array(RNG.integers(-128, 128, (16, 5)).astype(np.int8), "b"),
             nh.from_array(np.array(3, np.int8), "b_zp")]
    nodes = [oh.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"], name="dq"),
             oh.make_node("MatMulInteger", ["xq", "b", "xz", "b_zp"], ["acc"], name="mmi")]
    model = save("dynamic", nodes, [oh.make_tensor_value_info("x", T.FLOAT, [4, 16])],
                 [oh.make_tensor_value_info(n, t, s) for n, t, s in [
                     ("xq", T.UINT8, [4, 16]), ("xs", T.FLOAT, []), ("xz", T.UINT8, []),
                     ("acc", T.INT32, [4, 5])]], inits)
    b = nh.to_array(inits[0]).astype(np.int64)
    for x in (RNG.standard_normal((4, 16)).astype(np.float32) * 3,
              np.abs(RNG.standard_normal((4, 16))).astype(np.float32),  # min 0: zp 0
              np.full((4, 16), 0.0, np.float32)):                       # scale 0
        got = kiln_outputs(model, x=x)
        # float32 throughout, as ONNX's reference and ORT compute it.
        lo, hi = np.minimum(np.float32(0), x.min()), np.maximum(np.float32(0), x.max())
        s = np.float32(hi - lo) / np.float32(255)
        zp = 0 if s == 0 else int(np.clip(np.rint(np.float32(0 - lo) / s), 0, 255))
        xq = np.zeros_like(x, np.int64) if s == 0 else quantize(x, s, zp, 0, 255).astype(np.int64)
        require(got["xs"] == s and got["xz"] == zp, f"scale/zp {got['xs']}/{got['xz']}, want {s}/{zp}")
        require(np.array_equal(got["xq"], xq), "xq differs")
        require(got["acc"].dtype == np.int32 and
                np.array_equal(got["acc"], (xq - zp) @ (b - 3)), "MatMulInteger differs")


# --- Einsum from torch -------------------------------------------------------------------

# (equation, input shapes, ORT runs it): ORT 1.30 rejects ellipses that
# broadcast ("Ellipsis represents incompatible dimensions"); torch and
# numpy take them.
EQUATIONS = [("bhqd,bhkd->bhqk", [(2, 3, 5, 8), (2, 3, 6, 8)], True),
             ("ij,jk->ik", [(7, 4), (4, 9)], True),
             ("bii->bi", [(3, 5, 5)], True),
             ("...ij,...jk", [(2, 1, 3, 4), (5, 4, 2)], False),
             # Products big enough for the register tiles (8 rows by 32
             # columns) with rows and columns left over, B transposed
             # (copied row-major first) or not, A transposed.
             ("bhqd,bhkd->bhqk", [(1, 4, 40, 24), (1, 4, 70, 24)], True),
             ("bqd,bkd->bqk", [(3, 17, 33), (3, 65, 33)], True),
             ("ij,kj->ik", [(19, 10), (45, 10)], True),
             ("ki,kj->ij", [(12, 20), (12, 40)], True),
             ("bhqk,bhkd->bhqd", [(2, 2, 16, 48), (2, 2, 48, 40)], True)]


@check("Einsum as torch.onnx.export writes it matches torch and ORT")
def _():
    import torch  # python3-torch

    warnings.filterwarnings("ignore")
    for k, (eq, shapes, with_ort) in enumerate(EQUATIONS):
        class E(torch.nn.Module):
            def forward(self, *xs):
                return torch.einsum(eq, *xs)

        xs = [torch.randn(*s, generator=torch.Generator().manual_seed(k + i))
              for i, s in enumerate(shapes)]
        names = [f"x{i}" for i in range(len(xs))]
        path = os.path.join(TMP, f"einsum{k}.onnx")
        torch.onnx.export(E(), tuple(xs), path, input_names=names, output_names=["y"],
                          opset_version=13)
        ops = {n.op_type for n in onnx.load(path).graph.node}
        require("Einsum" in ops, f"{eq}: torch exported {ops}, no Einsum")
        feeds = {n: x.numpy() for n, x in zip(names, xs)}
        got = kiln_outputs(path, **feeds)["y"]
        want = torch.einsum(eq, *xs).numpy()
        # Sums of 20 to 50 products of N(0, 1) values differ in their
        # last bits by the order of the additions: 1e-5 there.
        atol = 1e-6 if max(max(s) for s in shapes) < 16 else 1e-5
        compare(f"einsum '{eq}' against torch", got, want, 1e-5, atol)
        require(np.allclose(got, np.einsum(eq, *feeds.values()), rtol=1e-5, atol=atol),
                f"einsum '{eq}' differs from numpy")
        ort = ort_outputs(path, **feeds) if with_ort else None
        if ort is not None:
            compare(f"einsum '{eq}' against ORT", got, ort["y"], 1e-5, atol)


@check("an attention-score Einsum split over 2 threads gives bitwise what one thread gives")
def _():
    shapes = {"q": [1, 8, 64, 64], "k": [1, 8, 96, 64]}
    path = save("einsum_split", [oh.make_node("Einsum", ["q", "k"], ["y"], name="scores",
                                              equation="bhqd,bhkd->bhqk")],
                [oh.make_tensor_value_info(n, T.FLOAT, s) for n, s in shapes.items()],
                [oh.make_tensor_value_info("y", T.FLOAT, [1, 8, 64, 96])])
    exe = os.path.join(TMP, "einsum_split")
    kiln_compile(KILN, path, exe)
    rng = np.random.default_rng(7)
    xs = {n: rng.standard_normal(s).astype(np.float32) for n, s in shapes.items()}
    req = os.path.join(TMP, "einsum_split.json")
    with open(req, "w") as f:
        json.dump({"inputs": [{"name": n, "shape": list(x.shape), "datatype": "FP32",
                               "data": [float(v) for v in x.ravel()]} for n, x in xs.items()]}, f)
    outs = predict_threads(exe, req)
    want = np.einsum("bhqd,bhkd->bhqk", xs["q"].astype(np.float64), xs["k"].astype(np.float64))
    compare("2 threads against numpy", outs[2], want.astype(np.float32), 1e-5, 1e-5)
    require(outs[1].tobytes() == outs[2].tobytes(), "2 threads differ from 1")


# --- bad indices ---------------------------------------------------------------------------

@check("MaxUnpool and ReverseSequence refuse out-of-range indices with exit 1, naming the node")
def _():
    model = save("unpool", [oh.make_node("MaxUnpool", ["x", "i"], ["y"], name="unpool",
                                         kernel_shape=[2, 2], strides=[2, 2])],
                 [oh.make_tensor_value_info("x", T.FLOAT, [1, 1, 2, 2]),
                  oh.make_tensor_value_info("i", T.INT64, [1, 1, 2, 2])],
                 [oh.make_tensor_value_info("y", T.FLOAT, [1, 1, 4, 4])], opset=11)
    x = np.ones((1, 1, 2, 2), np.float32)
    got = kiln_outputs(model, x=x, i=np.array([0, 5, 10, 15], np.int64).reshape(1, 1, 2, 2))["y"]
    require(got.ravel()[[0, 5, 10, 15]].tolist() == [1, 1, 1, 1] and got.sum() == 4, "unpool")
    rc, err, _ = kiln_run(model, x=x, i=np.array([0, 5, 10, 16], np.int64).reshape(1, 1, 2, 2))
    require(rc == 1 and "node 'unpool' (MaxUnpool)" in err, f"exit {rc}: {err.strip()[-300:]}")
    model = save("revseq", [oh.make_node("ReverseSequence", ["x", "lens"], ["y"], name="rev")],
                 [oh.make_tensor_value_info("x", T.FLOAT, [4, 2, 3]),
                  oh.make_tensor_value_info("lens", T.INT64, [2])],
                 [oh.make_tensor_value_info("y", T.FLOAT, [4, 2, 3])])
    x = RNG.standard_normal((4, 2, 3)).astype(np.float32)
    got = kiln_outputs(model, x=x, lens=np.array([4, 2], np.int64))["y"]
    want = x.copy()
    want[:, 0] = x[::-1, 0]
    want[:2, 1] = x[1::-1, 1]
    require(np.array_equal(got, want), "ReverseSequence differs")
    rc, err, _ = kiln_run(model, x=x, lens=np.array([5, 1], np.int64))
    require(rc == 1 and "node 'rev' (ReverseSequence)" in err, f"exit {rc}: {err.strip()[-300:]}")


@check("an Einsum of 10^18 multiply-adds is refused at compile time with exit 1")
def _():
    model = save("big_einsum", [oh.make_node("Einsum", ["a", "b", "c"], ["y"], name="big",
                                             equation="ij,kl,mn->")],
                 [oh.make_tensor_value_info(x, T.FLOAT, [1000, 1000]) for x in "abc"],
                 [oh.make_tensor_value_info("y", T.FLOAT, [])])
    rc, o, err = run([KILN, "check", model], timeout=60)
    require(rc == 1 and "node 'big' (Einsum)" in err and "limit" in err,
            f"exit {rc}: {err.strip()[-300:]}")


sys.exit(suite.finish())
