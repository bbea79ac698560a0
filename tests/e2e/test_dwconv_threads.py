#!/usr/bin/python3
"""Depthwise convolutions (runtime/kernels/dwconv.c) against torch, on 1
and 2 threads.

A chain of depthwise layers with seeded random weights, exported in eval
mode (opset 13, dynamic batch): 3x3 stride 1 with ReLU6, 5x5 stride 2 with
SiLU on an 80-wide plane (40 outputs a row: the deinterleaved stride-2
path, in bands of rows), 3x3 stride 2 with HardSwish, 5x5 stride 1 with a
channel multiplier of 2 and ReLU, 7x7 stride 2 at 10x20, and a 3x3 stride-1
layer on 5x10 planes (small planes, rows in overlapping fours). What is
checked, within rtol 1e-4 and atol 1e-5 of torch:
  - every layer's activation is fused into its convolution, except the
    HardSwish, which stays one kiln.Activation node (HardSigmoid * x is
    made one only after the convolutions took their activations);
  - `kiln run` at batches 1 and 3 matches torch;
  - a compiled service binary at batches 1 and 2 matches torch, and 2
    threads give bitwise what one thread gives (the layers are big enough
    to be split over the pool at batch 2).

    /usr/bin/python3 tests/e2e/test_dwconv_threads.py --kiln BUILD/kiln \
        --build-dir BUILD --source-dir SRC
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kiln_e2e import (Suite, compare, describe, kiln_compile, parse_args,  # noqa: E402
                      predict_threads, require, run, v2_request, write_json)

RTOL, ATOL = 1e-4, 1e-5

args = parse_args(__doc__)
KILN = args.kiln
suite = Suite("dwconv-threads")
check = suite.check
TMP = suite.tmp

EXPORT = r'''
import sys, warnings
import numpy as np, torch
import torch.nn as nn, torch.nn.functional as F
warnings.filterwarnings("ignore")
out = sys.argv[1]
torch.manual_seed(0)

def dw(c, k, s, m=1):
    conv = nn.Conv2d(c, c * m, k, s, k // 2, groups=c)
    with torch.no_grad():
        conv.weight.mul_(2.0)
        conv.bias.uniform_(-0.5, 0.5)
    return conv

class Chain(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = dw(16, 3, 1), dw(16, 5, 2), dw(16, 3, 2)
        self.d, self.e, self.f = dw(16, 5, 1, 2), dw(32, 7, 2), dw(32, 3, 1)
        self.relu6 = nn.ReLU6()
    def forward(self, x):
        h = self.relu6(self.a(x))       # 40x80 (nn.ReLU6: Clip 0..6)
        h = F.silu(self.b(h))           # 20x40: stride 2, 5x5, 40 outputs a row
        h = F.hardswish(self.c(h))      # 10x20
        h = F.relu(self.d(h))           # 10x20, multiplier 2
        h = self.e(h)                   # 5x10, 7x7 stride 2
        return torch.sigmoid(self.f(h)) # 5x10

m = Chain().eval()
x = torch.from_numpy(np.random.default_rng(0).standard_normal((3, 16, 40, 80)).astype(np.float32))
torch.onnx.export(m, x[:1], f"{out}/chain.onnx", opset_version=13, input_names=["x"],
                  output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
with torch.no_grad():
    y = m(x)
np.save(f"{out}/chain_x.npy", x.numpy())
np.save(f"{out}/chain_y.npy", y.numpy())
'''

MODEL = os.path.join(TMP, "chain.onnx")


def ref():
    return np.load(os.path.join(TMP, "chain_x.npy")), np.load(os.path.join(TMP, "chain_y.npy"))


def kiln_run(x):
    xp = os.path.join(TMP, "in.npy")
    np.save(xp, x)
    out_dir = os.path.join(TMP, "out")
    rc, out, err = run([KILN, "run", MODEL, "--input", f"x={xp}", "--out-dir", out_dir],
                       timeout=300)
    require(rc == 0, "kiln run: " + describe(rc, out, err))
    return np.load(os.path.join(out_dir, "y.npy"))


@check("torch exports the depthwise chain")
def _():
    script = os.path.join(TMP, "export.py")
    with open(script, "w") as f:
        f.write(EXPORT)
    rc, out, err = run(["/usr/bin/python3", script, TMP], timeout=300)
    require(rc == 0, "torch export: " + describe(rc, out, err))


@check("the activations are fused into the depthwise convolutions (HardSwish apart)")
def _():
    rc, out, err = run([KILN, "compile", MODEL, "--dump-after", "dce", "--emit", "obj", "-o",
                        os.path.join(TMP, "dump.o")], timeout=300)
    require(rc == 0, "kiln compile --dump-after dce: " + describe(rc, out, err))
    lines = out.splitlines()
    convs = [l for l in lines if " = Conv " in l]
    rest = [l for l in lines if any(f" = {op} " in l for op in
                                    ("Clip", "Sigmoid", "Mul", "HardSwish", "HardSigmoid", "Relu",
                                     "kiln.Activation"))]
    fused = [l.split()[-1] if l.split()[-1].startswith("+") else "-" for l in convs]
    require(len(convs) == 6 and len(rest) == 1 and "+hardswish" in rest[0] and
            fused == ["+clamp(0,6)", "+silu", "-", "+relu", "-", "+sigmoid"],
            f"{len(convs)} Conv nodes ({fused}), left over {rest}:\n{out}")


@check("kiln run at batches 1 and 3 matches torch")
def _():
    x, y = ref()
    compare("batch 3", kiln_run(x), y, RTOL, ATOL)
    compare("batch 1", kiln_run(x[:1]), y[:1], RTOL, ATOL)


@check("the service binary matches torch at batches 1 and 2; 2 threads bitwise equal 1")
def _():
    x, y = ref()
    exe = os.path.join(TMP, "chain")
    kiln_compile(KILN, MODEL, exe)
    for n in (1, 2):
        req = write_json(os.path.join(TMP, f"req{n}.json"), v2_request(x[:n], f"b{n}", "x"))
        outs = predict_threads(exe, req)
        compare(f"batch {n}, 1 thread", outs[1], y[:n], RTOL, ATOL)
        require(outs[1].tobytes() == outs[2].tobytes(),
                f"batch {n}: 2 threads differ from 1 (max |diff| "
                f"{float(np.max(np.abs(outs[1] - outs[2])))})")


sys.exit(suite.finish())
