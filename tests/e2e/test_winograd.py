#!/usr/bin/python3
"""3x3 stride-1 convolutions by Winograd's F(2x2, 3x3) (runtime/kernels/wino.c).

Codegen sends a dense 2-D Conv with a 3x3 kernel, strides and dilations 1
and at least 8 input and 16 output channels per group to
kiln_conv_wino_f32 (kiln_conv_wino_ok, runtime/kiln_kernel_abi.h), with
its weights transformed at compile time; every other Conv stays on
kiln_conv_f32. Torch modules with seeded weights, exported with a dynamic
batch and dynamic height and width (opset 13), checked against torch in
float64 within rtol 1e-4, atol 1e-5:
  - `--emit llvm` (kernels kept out of line) calls F(2x2, 3x3) for the
    eligible convs of a model with dynamic sizes, F(4x4, 3x3) for the same
    model at a static 30x30, and only the direct kernel for a model of
    ineligible convs (stride 2, dilation 2, 1x1, 5x5, 4 input or 8 output
    channels);
  - `kiln run` at odd and even sizes, batch 1 and 2, an image wider than
    one block of tiles, with pads 0, 1, 2 and an uneven Pad folded in,
    groups, a residual Add and Relu, Clip and SiLU fused;
  - F(4x4) at 30x30, batch 1 and 3;
  - 600 input channels (blocks of 16 tiles);
  - the ineligible convs still match;
  - `--conv direct` calls only the direct kernel and matches torch; an
    unknown method is a usage error (exit 2);
  - -O0 matches torch;
  - a service binary with 2 threads per request answers bitwise what it
    answers with 1, at batch 1 (bands and channel chunks) and batch 2, by
    both tiles.

    /usr/bin/python3 tests/e2e/test_winograd.py --kiln BUILD/kiln \
        --build-dir BUILD --source-dir SRC
"""
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kiln_e2e import (Suite, compare, describe, kiln_compile, parse_args,  # noqa: E402
                      predict_threads, require, run, write_json)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

RTOL, ATOL = 1e-4, 1e-5

args = parse_args(__doc__)
suite = Suite("winograd")
check = suite.check
TMP = suite.tmp
STATE = {}


class Eligible(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(8, 16, 3, padding=1)                 # + Relu
        self.b = nn.Conv2d(16, 20, 3, padding=2)                # M past a block of 8
        self.c = nn.Conv2d(20, 32, 3, padding=0)                # after an uneven Pad
        self.d = nn.Conv2d(32, 32, 3, padding=1, groups=2)      # 16 -> 16 per group
        self.e = nn.Conv2d(32, 32, 3, padding=1)                # + residual, Relu
        self.f = nn.Conv2d(32, 24, 3, padding=1, bias=False)    # + Clip(0, 6)
        self.g = nn.Conv2d(24, 16, 3, padding=1)                # + SiLU

    def forward(self, x):
        h = F.relu(self.a(x))
        h = self.b(h)
        h = self.c(F.pad(h, (1, 0, 0, 1)))
        h = self.d(h)
        h = F.relu(self.e(h) + h)
        h = torch.clamp(self.f(h), 0, 6)
        return F.silu(self.g(h))


class Ineligible(nn.Module):
    def __init__(self):
        super().__init__()
        self.s2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.dil = nn.Conv2d(16, 16, 3, padding=2, dilation=2)
        self.pw = nn.Conv2d(16, 16, 1)
        self.k5 = nn.Conv2d(16, 16, 5, padding=2)
        self.c4 = nn.Conv2d(4, 16, 3, padding=1)                # 4 input channels
        self.m8 = nn.Conv2d(16, 8, 3, padding=1)                # 8 output channels

    def forward(self, x):
        h = self.k5(self.pw(self.dil(self.s2(x))))
        return self.m8(h + self.c4(h[:, :4]))


class Wide(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(600, 16, 3, padding=1)

    def forward(self, x):
        return self.a(x)


def export(name, net, channels, size=None):
    torch.manual_seed(5)
    for m in net.modules():  # outputs of unit scale, so that rtol is what counts
        if isinstance(m, nn.Conv2d):
            fan_in = m.weight[0].numel()
            m.weight.data.normal_(0, fan_in ** -0.5)
            if m.bias is not None:
                m.bias.data.uniform_(-0.1, 0.1)
    net = net.eval().double()
    path = os.path.join(TMP, name + ".onnx")
    x = torch.zeros(1, channels, *(size or (12, 12)), dtype=torch.float64)
    dyn = {0: "N"} if size else {0: "N", 2: "H", 3: "W"}
    torch.onnx.export(net.float(), x.float(), path, input_names=["x"], output_names=["y"],
                      opset_version=13, dynamic_axes={"x": dyn, "y": dyn})
    STATE[name] = (net.double(), path)


def want(name, x):
    with torch.no_grad():
        return STATE[name][0](torch.from_numpy(x).double()).numpy()


def kiln_run(name, x, extra=()):
    xp = os.path.join(TMP, f"in_{name}.npy")
    np.save(xp, x)
    out_dir = os.path.join(TMP, "out_" + name)
    rc, out, err = run([args.kiln, "run", STATE[name][1], "--input", f"x={xp}", "--out-dir",
                        out_dir, *extra], timeout=300)
    require(rc == 0, f"{name}: kiln run: " + describe(rc, out, err))
    return np.load(os.path.join(out_dir, "y.npy"))


def calls(name, extra=()):
    """Call sites of F(2x2), F(4x4) and the direct conv in `--emit llvm`,
    kernels out of line."""
    ll = os.path.join(TMP, name + ".ll")
    env = dict(os.environ, KILN_NOINLINE_KERNELS="1")
    rc, out, err = run([args.kiln, "compile", STATE[name][1], "--emit", "llvm", "-o", ll,
                        *extra], env=env, timeout=300)
    require(rc == 0, f"{name}: kiln compile --emit llvm: " + describe(rc, out, err))
    text = open(ll).read()
    return tuple(len(re.findall(rf"call (?:fastcc )?void @{k}\(", text))
                 for k in ("kiln_conv_wino_f32", "kiln_conv_wino4_f32", "kiln_conv_f32"))


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@check("torch exports the test modules")
def _():
    export("eligible", Eligible(), 8)
    export("static", Eligible(), 8, (30, 30))
    export("ineligible", Ineligible(), 8)
    export("wide", Wide(), 600)


@check("the eligible convs call a Winograd kernel (F(4x4) on static sizes from 11x11), "
       "the ineligible ones only the direct one")
def _():
    w2, w4, direct = calls("eligible")
    require(w2 >= 7 and w4 == 0 and direct == 0,
            f"eligible, dynamic sizes: {w2} F(2x2) calls, {w4} F(4x4), {direct} direct")
    w2, w4, direct = calls("static")
    require(w4 >= 7 and w2 == 0 and direct == 0,
            f"eligible, 30x30: {w2} F(2x2) calls, {w4} F(4x4), {direct} direct")
    w2, w4, direct = calls("ineligible")
    require(w2 == 0 and w4 == 0 and direct >= 6,
            f"ineligible: {w2} F(2x2) calls, {w4} F(4x4), {direct} direct")


@check("kiln run matches torch at odd and even sizes, batch 1 and 2, and a wide image")
def _():
    for i, shape in enumerate([(1, 8, 17, 23), (2, 8, 10, 12), (1, 8, 5, 5), (1, 8, 6, 300)]):
        x = rand(*shape, seed=i)
        compare(f"eligible {shape}", kiln_run("eligible", x), want("eligible", x), RTOL, ATOL)


@check("--conv direct: no Winograd kernel, and the outputs match torch")
def _():
    w2, w4, direct = calls("static", ["--conv", "direct"])
    require(w2 == 0 and w4 == 0 and direct >= 7,
            f"--conv direct: {w2} F(2x2) calls, {w4} F(4x4), {direct} direct")
    x = rand(2, 8, 30, 30, seed=8)
    compare("static, --conv direct", kiln_run("static", x, ["--conv", "direct"]),
            want("static", x), RTOL, ATOL)
    rc, out, err = run([args.kiln, "compile", STATE["static"][1], "--conv", "fast", "-o",
                        os.path.join(TMP, "never")])
    require(rc == 2 and "--conv 'fast'" in err, "--conv fast: " + describe(rc, out, err))


@check("F(4x4) on static sizes matches torch, batch 1 and 3")
def _():
    for n in (1, 3):
        x = rand(n, 8, 30, 30, seed=n)
        compare(f"static, batch {n}", kiln_run("static", x), want("static", x), RTOL, ATOL)


@check("600 input channels match torch")
def _():
    x = rand(1, 600, 9, 11, seed=9)
    compare("wide", kiln_run("wide", x), want("wide", x), RTOL, ATOL)


@check("the ineligible convs match torch")
def _():
    x = rand(2, 8, 15, 16, seed=3)
    compare("ineligible", kiln_run("ineligible", x), want("ineligible", x), RTOL, ATOL)


@check("-O0 matches torch")
def _():
    x = rand(1, 8, 13, 9, seed=4)
    compare("eligible -O0", kiln_run("eligible", x, ["-O0"]), want("eligible", x), RTOL, ATOL)


@check("a service binary: 2 threads per request bitwise equal to 1, batch 1 and 2")
def _():
    for name, shape in [("eligible", (1, 8, 56, 56)), ("eligible", (2, 8, 28, 30)),
                        ("eligible", (1, 8, 14, 14)), ("static", (1, 8, 30, 30)),
                        ("static", (2, 8, 30, 30))]:
        exe = os.path.join(TMP, name)
        if not os.path.exists(exe):
            kiln_compile(args.kiln, STATE[name][1], exe)
        x = rand(*shape, seed=shape[2])
        req = write_json(os.path.join(TMP, "req.json"),
                         {"inputs": [{"name": "x", "shape": list(shape), "datatype": "FP32",
                                      "data": [float(v) for v in x.ravel()]}]})
        outs = predict_threads(exe, req)
        y = want(name, x)
        require(np.abs(y).max() > 0.5, f"{shape}: outputs of {np.abs(y).max():.2g} at most")
        compare(f"{shape}, 1 thread", outs[1], y, RTOL, ATOL)
        require(np.array_equal(outs[1].view(np.uint32), outs[2].view(np.uint32)),
                f"{shape}: 2 threads gave other bits than 1")


sys.exit(suite.finish())
