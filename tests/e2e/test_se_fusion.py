#!/usr/bin/python3
"""The squeeze-and-excitation fold (passes/fuse_se.c) against torch.

Conv(x * s), s one factor per image and channel, becomes kiln.ConvScaled:
the convolution's weights are scaled per image and the Mul goes away.
Small torch modules with seeded random weights, exported in eval mode
(opset 13, dynamic batch), run by `kiln run` at batches 1 and 3 and by a
compiled service binary; every output must match torch within rtol 1e-4,
atol 1e-5. What is checked:
  - an EfficientNet block (depthwise + SiLU, SE with SiLU and Sigmoid, the
    projection Conv with a residual Add) folds, with and without the fold
    (KILN_SKIP_PASSES=fuse-se) it matches torch;
  - a MobileNetV3 gate (ReLU, HardSigmoid) and a 3x3 padded Conv after the
    scale fold too;
  - a scale that is not one per channel (a spatial map, a constant [1,C,1,1]
    under a dynamic batch) and a product read twice do not fold; one scale
    shared by two products and convolutions folds into both;
  - a convolution with more output channels than the pixels pay for keeps
    the Mul (the fold is only made where it saves work);
  - -O0 (no fusions) matches torch;
  - 2 threads give bitwise what one thread gives, folded.

    /usr/bin/python3 tests/e2e/test_se_fusion.py --kiln BUILD/kiln \
        --build-dir BUILD --source-dir SRC
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kiln_e2e import (Suite, compare, describe, kiln_compile, parse_args, require,  # noqa: E402
                      run, write_json)

RTOL, ATOL = 1e-4, 1e-5

args = parse_args(__doc__)
KILN = args.kiln
suite = Suite("se-fusion")
check = suite.check
TMP = suite.tmp

EXPORT = r'''
import sys, warnings
import numpy as np, torch
import torch.nn as nn, torch.nn.functional as F
warnings.filterwarnings("ignore")
out = sys.argv[1]
torch.manual_seed(0)

class SE(nn.Module):
    def __init__(self, c, s, act=F.silu, gate=torch.sigmoid):
        super().__init__()
        self.fc1, self.fc2, self.act, self.gate = nn.Conv2d(c, s, 1), nn.Conv2d(s, c, 1), act, gate
    def forward(self, x):
        return self.gate(self.fc2(self.act(self.fc1(F.adaptive_avg_pool2d(x, 1)))))

class Effnet(nn.Module):  # MBConv: expand, depthwise, SE, project, residual
    def __init__(self):
        super().__init__()
        self.expand = nn.Conv2d(8, 32, 1)
        self.dw = nn.Conv2d(32, 32, 3, 1, 1, groups=32)
        self.se = SE(32, 8)
        self.proj = nn.Conv2d(32, 8, 1)
    def forward(self, x):
        h = F.silu(self.dw(F.silu(self.expand(x))))
        return x + self.proj(h * self.se(h))

class Mobile(nn.Module):  # ReLU and HardSigmoid gate; a 3x3 padded Conv after the scale
    def __init__(self):
        super().__init__()
        self.se = SE(16, 4, F.relu, F.hardsigmoid)
        self.conv = nn.Conv2d(16, 6, 3, 1, 1)
    def forward(self, x):
        return self.conv(self.se(x) * x)

class NoFold(nn.Module):
    def __init__(self):
        super().__init__()
        self.att = nn.Conv2d(16, 1, 1)              # a spatial map [N, 1, H, W]
        self.c1, self.c2, self.c3 = nn.Conv2d(16, 8, 1), nn.Conv2d(16, 8, 1), nn.Conv2d(16, 8, 1)
        self.k = nn.Parameter(torch.rand(1, 16, 1, 1) + 0.5)
        self.se = SE(16, 4)
        self.wide = nn.Conv2d(16, 200, 1)           # 2 * 200 > 18 * 18 pixels: not worth it
    def forward(self, x):
        a = self.c1(x * torch.sigmoid(self.att(x)))
        b = self.c2(x * self.k)                     # constant scale, dynamic batch
        p = x * self.se(x)
        c = self.c3(p) + p[:, :8]                   # the product is read twice
        d = self.wide(torch.tanh(x) * self.se(x)).mean(1, keepdim=True)
        return torch.cat([a, b, c, d], 1)

class Shared(nn.Module):  # one scale, two products, two convolutions
    def __init__(self):
        super().__init__()
        self.se = SE(16, 4)
        self.c1, self.c2 = nn.Conv2d(16, 8, 1), nn.Conv2d(16, 8, 3, 1, 1)
    def forward(self, x):
        s = self.se(x)
        return self.c1(x * s) + self.c2(torch.tanh(x) * s)

class Big(nn.Module):  # enough work to split over threads
    def __init__(self):
        super().__init__()
        self.se = SE(64, 16)
        self.proj = nn.Conv2d(64, 32, 1)
    def forward(self, x):
        return self.proj(x * self.se(x))

rng = np.random.default_rng(0)
for name, m, shape in [("effnet", Effnet(), (3, 8, 20, 20)), ("mobile", Mobile(), (3, 16, 18, 18)),
                       ("nofold", NoFold(), (3, 16, 18, 18)), ("shared", Shared(), (3, 16, 18, 18)),
                       ("big", Big(), (2, 64, 40, 40))]:
    m = m.eval()
    x = torch.from_numpy(rng.standard_normal(shape).astype(np.float32))
    torch.onnx.export(m, x[:1], f"{out}/{name}.onnx", opset_version=13, input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
    with torch.no_grad():
        y = m(x)
    np.save(f"{out}/{name}_x.npy", x.numpy())
    np.save(f"{out}/{name}_y.npy", y.numpy())
'''


def export():
    script = os.path.join(TMP, "export.py")
    with open(script, "w") as f:
        f.write(EXPORT)
    rc, out, err = run(["/usr/bin/python3", script, TMP], timeout=300)
    require(rc == 0, "torch export: " + describe(rc, out, err))


def path(name):
    return os.path.join(TMP, name + ".onnx")


def ref(name):
    return np.load(os.path.join(TMP, name + "_x.npy")), np.load(os.path.join(TMP, name + "_y.npy"))


def kiln_run(name, x, env=None):
    xp = os.path.join(TMP, f"in_{name}.npy")
    np.save(xp, x)
    out_dir = os.path.join(TMP, "out_" + name)
    e = dict(os.environ, **(env or {}))
    rc, out, err = run([KILN, "run", path(name), "--input", f"x={xp}", "--out-dir", out_dir],
                       timeout=300, env=e)
    require(rc == 0, f"{name}: kiln run: " + describe(rc, out, err))
    return np.load(os.path.join(out_dir, "y.npy"))


def dump(name, env=None):
    """The IR after the fusions, and its count of kiln.ConvScaled and Mul nodes."""
    e = dict(os.environ, **(env or {}))
    rc, out, err = run([KILN, "compile", path(name), "--dump-after", "dce", "--emit", "obj",
                        "-o", os.path.join(TMP, "dump.o")], timeout=300, env=e)
    require(rc == 0, f"{name}: kiln compile --dump-after dce: " + describe(rc, out, err))
    lines = out.splitlines()
    return (out, sum(" = kiln.ConvScaled " in l for l in lines),
            sum(" = Mul " in l for l in lines))


def matches(name, env=None):
    x, y = ref(name)
    compare(f"{name} at batch {len(x)}", kiln_run(name, x, env), y, RTOL, ATOL)
    compare(f"{name} at batch 1", kiln_run(name, x[:1], env), y[:1], RTOL, ATOL)


def predict(exe, x, threads):
    req = write_json(os.path.join(TMP, "req.json"),
                     {"inputs": [{"name": "x", "shape": list(x.shape), "datatype": "FP32",
                                  "data": [float(v) for v in x.ravel()]}]})
    rc, out, err = run([exe, "predict", "--input", req, "--threads-per-request", str(threads)],
                       timeout=120, echo=False)
    require(rc == 0, f"predict --threads-per-request {threads}: " + describe(rc, out, err))
    o = json.loads(out)["outputs"][0]
    return np.array(o["data"], np.float32).reshape(o["shape"])


@check("torch exports the SE test modules")
def _():
    export()


@check("an EfficientNet block folds its SE scale (1 kiln.ConvScaled, no Mul) and matches torch")
def _():
    text, scaled, muls = dump("effnet")
    require(scaled == 1 and muls == 0, f"{scaled} kiln.ConvScaled, {muls} Mul:\n{text[-3000:]}")
    require("+residual" in [l for l in text.splitlines() if "kiln.ConvScaled" in l][0],
            "the folded Conv lost its residual:\n" + text[-3000:])
    matches("effnet")


@check("the same block without the fold (KILN_SKIP_PASSES=fuse-se) matches torch")
def _():
    env = {"KILN_SKIP_PASSES": "fuse-se"}
    text, scaled, muls = dump("effnet", env)
    require(scaled == 0 and muls == 1, f"{scaled} kiln.ConvScaled, {muls} Mul:\n{text[-3000:]}")
    matches("effnet", env)


@check("ReLU / HardSigmoid gate and a 3x3 padded Conv after the scale: folds, matches torch")
def _():
    text, scaled, muls = dump("mobile")
    require(scaled == 1 and muls == 0, f"{scaled} kiln.ConvScaled, {muls} Mul:\n{text[-3000:]}")
    matches("mobile")


@check("spatial map, constant scale, product read twice, too many channels: no fold, matches")
def _():
    text, scaled, muls = dump("nofold")
    require(scaled == 0, f"{scaled} kiln.ConvScaled, expected none:\n{text[-3000:]}")
    # The fourth product (tanh(x) * s, kept) joins a kiln.Chain with its Tanh.
    require(muls == 3 and "'/Tanh../Mul_3'" in text, f"{muls} Mul nodes, expected 3 and a "
            f"chain:\n{text[-3000:]}")
    matches("nofold")


@check("one scale shared by two products: both fold, matches torch")
def _():
    text, scaled, muls = dump("shared")
    require(scaled == 2 and muls == 0, f"{scaled} kiln.ConvScaled, {muls} Mul:\n{text[-3000:]}")
    matches("shared")


@check("-O0 (no fusions) matches torch")
def _():
    x, y = ref("effnet")
    exe = os.path.join(TMP, "effnet_o0")
    rc, out, err = run([KILN, "compile", path("effnet"), "-O0", "-o", exe], timeout=300)
    require(rc == 0, "kiln compile -O0: " + describe(rc, out, err))
    compare("-O0", predict(exe, x, 1), y, RTOL, ATOL)


@check("folded, 2 threads give bitwise what one thread gives, and match torch")
def _():
    text, scaled, _m = dump("big")
    require(scaled == 1, f"{scaled} kiln.ConvScaled:\n{text[-3000:]}")
    x, y = ref("big")
    exe = os.path.join(TMP, "big")
    kiln_compile(KILN, path("big"), exe)
    one, two = predict(exe, x, 1), predict(exe, x, 2)
    compare("1 thread", one, y, RTOL, ATOL)
    require(one.tobytes() == two.tobytes(), "2 threads differ from 1")


sys.exit(suite.finish())
