#!/usr/bin/python3
"""Depthwise convolutions through kiln against torch.

One ONNX model (opset 17, built with onnx.helper, random weights) holds
every case as its own output: depthwise Conv (one input channel per
group) at 3x3 and 5x5, strides 1, 2 and 3, symmetric, asymmetric and no
pads, auto_pad, dilation, channel multipliers 2 and 3 (group = C, MC
outputs), without bias, on 1-D, 2-D and 3-D data, on planes of side 1,
2, 7, 14, 15 and one 70 wide, at batch 1 and 2, each alone
and followed by every activation kiln can fuse into a convolution (Relu,
Clip, HardSwish, HardSigmoid, Sigmoid, x*Sigmoid(x), LeakyRelu, Tanh).
`kiln run` (the JIT, the same code as a compiled model) computes all
outputs at -O3 and at -O0; torch (F.pad + F.conv1d/2d/3d and its activations, in float64)
is the reference, within rtol 1e-4, atol 1e-5.

    /usr/bin/python3 tests/e2e/test_depthwise.py --kiln BUILD/kiln \
        --build-dir BUILD --source-dir SRC

One check per output, the last line "N passed, M failed"; exit status 1
if any failed.
"""
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kiln_e2e import Suite, compare, describe, parse_args, require, run  # noqa: E402

RTOL, ATOL = 1e-4, 1e-5

args = parse_args(__doc__)
KILN = args.kiln
suite = Suite("depthwise")
TMP = suite.tmp
rng = np.random.default_rng(0)

# Inputs by rank: name -> shape [N, C, spatial...].
INPUTS = {"x1": [2, 4, 41], "x2": [2, 6, 13, 29], "x3": [2, 3, 5, 6, 11],
          # Planes of side 1, 2, 7, 14 and 15 (the kernel's padded-plane
          # path, outputs up to 32 wide) and one 70 wide (the row path).
          "p1": [1, 3, 1, 1], "p2": [1, 3, 2, 2], "p7": [2, 5, 7, 7], "p14": [1, 4, 14, 14],
          "p15": [1, 4, 15, 15], "xw": [1, 3, 9, 70]}

# (name, input, kernel, strides, dilations, pads as ONNX [begins..., ends...]
#  or an auto_pad string, channel multiplier, bias).
CASES = [
    ("k3s1", "x2", [3, 3], [1, 1], [1, 1], [1, 1, 1, 1], 1, True),
    ("k3s2", "x2", [3, 3], [2, 2], [1, 1], [1, 1, 1, 1], 1, True),
    ("k5s1", "x2", [5, 5], [1, 1], [1, 1], [2, 2, 2, 2], 1, True),
    ("k5s2", "x2", [5, 5], [2, 2], [1, 1], [2, 2, 2, 2], 1, True),
    ("k3s2_asym", "x2", [3, 3], [2, 2], [1, 1], [0, 0, 1, 1], 1, True),
    ("k5_asym", "x2", [5, 5], [1, 1], [1, 1], [2, 1, 0, 3], 1, True),
    ("k3_nopad", "x2", [3, 3], [1, 1], [1, 1], [0, 0, 0, 0], 1, False),
    ("k3_same_upper", "x2", [3, 3], [2, 2], [1, 1], "SAME_UPPER", 1, True),
    ("k5_same_lower", "x2", [5, 5], [2, 2], [1, 1], "SAME_LOWER", 1, True),
    ("k3_dil2", "x2", [3, 3], [1, 1], [2, 2], [2, 2, 2, 2], 1, True),
    ("k3_s3", "x2", [3, 3], [3, 3], [1, 1], [1, 1, 1, 1], 1, True),
    ("k3_rect", "x2", [3, 5], [1, 2], [1, 1], [1, 2, 1, 2], 1, True),
    ("k3_mult2", "x2", [3, 3], [1, 1], [1, 1], [1, 1, 1, 1], 2, True),
    ("k3s2_mult2", "x2", [3, 3], [2, 2], [1, 1], [1, 1, 1, 1], 2, False),
    ("k5_1d", "x1", [5], [2], [1], [2, 1], 1, True),
    ("k3_3d", "x3", [3, 3, 3], [1, 2, 1], [1, 1, 2], [1, 1, 2, 1, 0, 2], 1, True),
]
for _p in ("p1", "p2", "p7", "p14", "p15", "xw"):
    for _k in (3, 5):
        for _s in (1, 2):
            CASES.append((f"{_p}_k{_k}s{_s}", _p, [_k, _k], [_s, _s], [1, 1], [_k // 2] * 4, 1,
                          True))
    CASES.append((f"{_p}_k3_mult3", _p, [3, 3], [1, 1], [1, 1], [1, 1, 1, 1], 3, True))
    CASES.append((f"{_p}_k5s2_mult2", _p, [5, 5], [2, 2], [1, 1], [2, 2, 2, 2], 2, False))
CASES += [
    ("p7_k3_dil2", "p7", [3, 3], [1, 1], [2, 2], [2, 2, 2, 2], 1, True),
    ("p14_k3_s3", "p14", [3, 3], [3, 3], [1, 1], [1, 1, 1, 1], 1, True),
    ("p15_k5_asym", "p15", [5, 5], [2, 1], [1, 1], [0, 2, 3, 1], 1, True),
    ("p14_k5_bigpad", "p14", [5, 5], [1, 1], [1, 1], [6, 6, 6, 6], 1, True),
    ("xw_k5s2_asym", "xw", [5, 5], [2, 2], [1, 1], [2, 1, 0, 3], 1, True),
]

# Activations after a k3s1 and a k5s2 depthwise conv: ONNX nodes from the
# conv's output t to out, and torch's function of the conv's result.
ACTS = {
    "relu": (lambda t, o: [helper.make_node("Relu", [t], [o])], F.relu),
    "clip6": (lambda t, o: [helper.make_node("Clip", [t, "c0", "c6"], [o])],
              lambda v: v.clamp(0, 6)),
    "hardswish": (lambda t, o: [helper.make_node("HardSwish", [t], [o])], F.hardswish),
    "hardsigmoid": (lambda t, o: [helper.make_node("HardSigmoid", [t], [o], alpha=0.25, beta=0.4)],
                    lambda v: (0.25 * v + 0.4).clamp(0, 1)),
    "sigmoid": (lambda t, o: [helper.make_node("Sigmoid", [t], [o])], torch.sigmoid),
    "silu": (lambda t, o: [helper.make_node("Sigmoid", [t], [t + "_s"]),
                           helper.make_node("Mul", [t, t + "_s"], [o])], F.silu),
    "leakyrelu": (lambda t, o: [helper.make_node("LeakyRelu", [t], [o], alpha=0.1)],
                  lambda v: F.leaky_relu(v, 0.1)),
    "tanh": (lambda t, o: [helper.make_node("Tanh", [t], [o])], torch.tanh),
}


def torch_pads(pads, r):
    """ONNX [b0, b1, .., e0, e1, ..] to F.pad's (last dim first) order."""
    out = []
    for i in reversed(range(r)):
        out += [pads[i], pads[r + i]]
    return out


def auto_pads(mode, size, k, s, d):
    """ONNX auto_pad SAME_UPPER/SAME_LOWER pads for one axis: (begin, end)."""
    out = -(-size // s)
    total = max(0, (out - 1) * s + (k - 1) * d + 1 - size)
    small, big = total // 2, total - total // 2
    return (small, big) if mode == "SAME_UPPER" else (big, small)


def build():
    nodes, inits, outputs, refs = [], [], [], {}
    xs = {name: rng.standard_normal(shape).astype(np.float32) for name, shape in INPUTS.items()}
    inits += [numpy_helper.from_array(np.array(0, np.float32), "c0"),
              numpy_helper.from_array(np.array(6, np.float32), "c6")]
    conv_fn = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}

    def add_conv(name, xname, k, s, d, pads, mult, bias):
        x = xs[xname]
        c, r = x.shape[1], len(k)
        w = rng.standard_normal([c * mult, 1] + k).astype(np.float32)
        b = rng.standard_normal(c * mult).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"{name}_w"))
        ins = [xname, f"{name}_w"]
        if bias:
            inits.append(numpy_helper.from_array(b, f"{name}_b"))
            ins.append(f"{name}_b")
        attrs = dict(kernel_shape=k, strides=s, dilations=d, group=c)
        if isinstance(pads, str):
            attrs["auto_pad"] = pads
            pb = [auto_pads(pads, x.shape[2 + i], k[i], s[i], d[i]) for i in range(r)]
            pads = [p[0] for p in pb] + [p[1] for p in pb]
        else:
            attrs["pads"] = pads
        nodes.append(helper.make_node("Conv", ins, [name], name=name, **attrs))
        xt = F.pad(torch.from_numpy(x).double(), torch_pads(pads, r))
        return conv_fn[r](xt, torch.from_numpy(w).double(),
                          torch.from_numpy(b).double() if bias else None, stride=s, dilation=d,
                          groups=c)

    for name, xname, k, s, d, pads, mult, bias in CASES:
        refs[name] = add_conv(name, xname, k, s, d, pads, mult, bias)
        outputs.append(name)
    for base in ("k3s1", "k5s2", "p7_k5s1", "p14_k3s2"):
        spec = next(c for c in CASES if c[0] == base)
        for act, (make, fn) in ACTS.items():
            t, o = f"{base}_{act}_conv", f"{base}_{act}"
            v = add_conv(t, *spec[1:])
            nodes += make(t, o)
            refs[o] = fn(v)
            outputs.append(o)
    graph = helper.make_graph(
        nodes, "depthwise",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in INPUTS.items()],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, list(refs[o].shape)) for o in outputs], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, f"{TMP}/depthwise.onnx")
    for name, x in xs.items():
        np.save(f"{TMP}/{name}.npy", x)
    return outputs, refs


def main():
    outputs, refs = build()
    # -O3 (fused epilogues, specialised kernels) and -O0 (no fusion).
    for level in ("-O3", "-O0"):
        out_dir = f"{TMP}/out{level}"
        cmd = [KILN, "run", f"{TMP}/depthwise.onnx", "--out-dir", out_dir, level]
        for name in INPUTS:
            cmd += ["--input", f"{name}={TMP}/{name}.npy"]
        rc, out, err = run(cmd, timeout=300)
        suite.expect(f"kiln run {level} compiles and runs the model", rc == 0,
                     describe(rc, out, err))
        if rc == 0:
            for o in outputs:
                def check(o=o, out_dir=out_dir):
                    path = f"{out_dir}/{o}.npy"
                    require(os.path.exists(path), f"kiln run wrote no {path}")
                    compare(o, np.load(path), refs[o].numpy(), RTOL, ATOL)
                suite.check(f"{o} matches torch at {level}")(check)
    return suite.finish()


if __name__ == "__main__":
    sys.exit(main())
