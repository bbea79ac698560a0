#!/usr/bin/python3
"""Dense and depthwise Conv through kiln against torch, on odd shapes and
with every fused epilogue: kernel sizes 1..7, strides 1..3, dilations,
asymmetric pads, groups, channel counts that are not a multiple of the
8-channel tile, pixel counts that are not a multiple of the 48-pixel tile,
K large enough to be cut into blocks, 1-D and 3-D, batch 2; followed by
Relu, Clip, Sigmoid, Tanh, LeakyRelu, HardSigmoid, HardSwish, x*Sigmoid(x)
(SiLU), a residual Add and Add -> Relu.

All cases are one ONNX model (so the test compiles twice, not a hundred
times): its one input x is a flat vector that each case slices and
reshapes into its own input (and residual), and its one output is every
case's result flattened and concatenated. The model is compiled at -O3
(where the fusions must happen: `--dump-after fuse-conv-activation` shows
them) and at -O0 (no fusion), and asked with `OUT predict`; both must
match torch (float64) within rtol 1e-4, atol 1e-5.

    /usr/bin/python3 tests/e2e/test_conv_kernels.py --kiln BUILD/kiln \
        --build-dir BUILD --source-dir SRC
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kiln_e2e import Suite, compare, describe, parse_args, predict, require, run  # noqa: E402

import onnx  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

RTOL, ATOL = 1e-4, 1e-5

args = parse_args(__doc__)
KILN = args.kiln
suite = Suite("conv_kernels")
TMP = suite.tmp


class Case:
    """One Conv: input [N, C, *spatial], M output channels, kernel, strides,
    dilations, pads (begins then ends), group, and what follows it."""

    def __init__(self, name, N, C, M, spatial, k, s=None, d=None, pads=None, group=1,
                 epi="none", bias=True):
        r = len(spatial)
        self.name, self.N, self.C, self.M, self.spatial = name, N, C, M, list(spatial)
        self.k = list(k) if isinstance(k, (list, tuple)) else [k] * r
        self.s = list(s) if s else [1] * r
        self.d = list(d) if d else [1] * r
        self.pads = list(pads) if pads else [0] * (2 * r)
        self.group, self.epi, self.bias = group, epi, bias
        self.out = [(spatial[i] + self.pads[i] + self.pads[r + i] - self.d[i] * (self.k[i] - 1) - 1)
                    // self.s[i] + 1 for i in range(r)]
        assert all(o > 0 for o in self.out), name


CASES = []
# Kernel sizes 1..7 with strides 1..3 and pads of every kind.
for k in range(1, 8):
    s = 1 + k % 3
    p = k // 2
    CASES.append(Case(f"k{k}_s{s}", 1, 3, 5 + k, [13, 12], k, s=[s, s], pads=[p, p, p, max(p - 1, 0)]))
CASES += [
    Case("k3_asym_pads", 1, 4, 9, [9, 11], 3, pads=[0, 2, 1, 0]),
    Case("k3_dil2", 1, 5, 8, [15, 14], 3, d=[2, 2], pads=[2, 2, 2, 2]),
    Case("k2x5_dil3_s2", 1, 3, 7, [17, 19], [2, 5], s=[2, 1], d=[3, 2], pads=[1, 0, 0, 3]),
    Case("groups2", 1, 6, 10, [10, 10], 3, pads=[1, 1, 1, 1], group=2),
    Case("groups3_1x1", 1, 9, 12, [7, 8], 1, group=3),
    Case("c1_m1_no_bias", 1, 1, 1, [6, 7], 3, bias=False),
    Case("m33_c17", 1, 17, 33, [11, 9], 3, pads=[1, 1, 1, 1]),
    # 1x1 stride 1: read in place, with a tail that is packed.
    Case("pw_p49", 1, 17, 21, [7, 7], 1),
    Case("pw_p144", 1, 16, 8, [12, 12], 1),
    Case("pw_p1600", 1, 5, 11, [40, 40], 1, epi="relu"),
    Case("pw_s2", 1, 8, 16, [13, 13], 1, s=[2, 2]),
    # K = 200*9 = 1800: several K blocks; 400 pixels: two pixel blocks.
    Case("bigk", 1, 200, 20, [20, 20], 3, pads=[1, 1, 1, 1], epi="residual_relu"),
    Case("bigk_pw", 1, 600, 9, [6, 6], 1, epi="residual"),
    Case("batch2", 2, 3, 10, [9, 8], 3, s=[2, 2], pads=[1, 1, 1, 1], epi="residual"),
    Case("conv1d", 2, 4, 6, [37], 3, s=[2], pads=[1, 0]),
    Case("conv3d", 1, 3, 5, [5, 6, 7], [2, 3, 3], pads=[0, 1, 1, 1, 0, 1]),
    Case("conv3d_pw", 1, 4, 9, [3, 4, 5], 1, epi="silu"),
    # Pixel tails at the shapes of resnet18's late layers (P = 1, 7, 49,
    # 50, 196: a 1-pixel or 4-pixel last sub-panel), channel counts that
    # are not a multiple of 8 or 16, several K blocks with the residual.
    Case("tail_p1", 1, 40, 13, [1, 1], 3, pads=[1, 1, 1, 1], epi="residual_relu"),
    Case("tail_p7", 1, 9, 20, [1, 7], 3, pads=[1, 1, 1, 1], epi="relu"),
    Case("tail_p49_bigk", 1, 48, 19, [7, 7], 3, pads=[1, 1, 1, 1], epi="residual_relu"),
    Case("tail_p49_s2", 1, 24, 17, [14, 14], 3, s=[2, 2], pads=[1, 1, 1, 1], epi="clip"),
    Case("tail_p50", 1, 6, 25, [5, 10], 3, pads=[1, 1, 1, 1], epi="residual"),
    Case("tail_p196", 1, 50, 11, [14, 14], 3, pads=[1, 1, 1, 1], epi="residual_relu"),
    Case("tail_p196_pw", 1, 31, 23, [14, 14], 1, epi="residual"),
    Case("tail_p49_pw_bigk", 1, 450, 10, [7, 7], 1),
    # 3 and 4 pixels past a full tile, with the epilogues applied by a loop.
    Case("tail_p51_silu", 1, 7, 16, [3, 17], 3, pads=[1, 1, 1, 1], epi="silu"),
    Case("tail_p52_pw_sigmoid", 1, 12, 9, [4, 13], 1, epi="sigmoid"),
    # Epilogues.
    Case("epi_relu", 1, 3, 9, [8, 8], 3, epi="relu"),
    Case("epi_clip", 1, 3, 9, [8, 8], 3, epi="clip"),
    Case("epi_sigmoid", 1, 3, 9, [8, 8], 3, epi="sigmoid"),
    Case("epi_tanh", 1, 3, 9, [8, 8], 3, epi="tanh"),
    Case("epi_leaky", 1, 3, 9, [8, 8], 3, epi="leaky_relu"),
    Case("epi_hardsigmoid", 1, 3, 9, [8, 8], 3, epi="hardsigmoid"),
    Case("epi_hardswish", 1, 3, 9, [8, 8], 3, epi="hardswish"),
    Case("epi_silu", 1, 3, 9, [8, 8], 3, epi="silu"),
    Case("epi_residual", 1, 3, 9, [8, 8], 3, pads=[1, 1, 1, 1], epi="residual"),
    Case("epi_residual_relu", 1, 8, 8, [8, 8], 3, pads=[1, 1, 1, 1], epi="residual_relu"),
    # Depthwise: Relu and Clip fuse; the others stay separate ops.
    Case("dw_relu", 1, 8, 8, [9, 9], 3, pads=[1, 1, 1, 1], group=8, epi="relu"),
    Case("dw_clip", 1, 8, 8, [9, 9], 3, s=[2, 2], pads=[1, 1, 1, 1], group=8, epi="clip"),
    Case("dw_sigmoid", 1, 6, 6, [7, 7], 5, pads=[2, 2, 2, 2], group=6, epi="sigmoid"),
    Case("dw_residual", 1, 6, 6, [7, 7], 3, pads=[1, 1, 1, 1], group=6, epi="residual"),
]

# The fusions -O3 must make: (marker in the IR dump, how many cases).
EXPECTED_MARKERS = {
    "+residual": sum(c.epi.startswith("residual") for c in CASES if c.group == 1),
    "+silu": sum(c.epi == "silu" for c in CASES),
    "+hardswish": 1, "+hardsigmoid(": 1, "+leaky_relu(": 1, "+tanh": 1,
    # The depthwise kernel applies every activation (dw_sigmoid's too).
    "+sigmoid": sum(c.epi == "sigmoid" for c in CASES),
}


def torch_ref(c, x, w, b, res):
    """Case c in float64: explicit padding, then torch's conv."""
    r = len(c.spatial)
    xt = torch.from_numpy(x.astype(np.float64))
    pad = []
    for i in reversed(range(r)):
        pad += [c.pads[i], c.pads[r + i]]
    xt = F.pad(xt, pad)
    conv = [None, F.conv1d, F.conv2d, F.conv3d][r]
    y = conv(xt, torch.from_numpy(w.astype(np.float64)),
             torch.from_numpy(b.astype(np.float64)) if b is not None else None,
             stride=c.s, dilation=c.d, groups=c.group)
    e = c.epi
    if e == "relu":
        y = F.relu(y)
    elif e == "clip":
        y = y.clamp(0.0, 6.0 / 10)
    elif e == "sigmoid":
        y = torch.sigmoid(y)
    elif e == "tanh":
        y = torch.tanh(y)
    elif e == "leaky_relu":
        y = F.leaky_relu(y, 0.1)
    elif e == "hardsigmoid":
        y = (0.3 * y + 0.4).clamp(0.0, 1.0)
    elif e == "hardswish":
        y = y * (y / 6 + 0.5).clamp(0.0, 1.0)
    elif e == "silu":
        y = y * torch.sigmoid(y)
    elif e.startswith("residual"):
        y = y + torch.from_numpy(res.astype(np.float64))
        if e == "residual_relu":
            y = F.relu(y)
    return y.numpy()


def build():
    """The model, its input and torch's output."""
    rng = np.random.default_rng(0)
    nodes, inits, xs, refs = [], [], [], []
    offset = [0]

    def take(shape, tag):
        """Nodes that slice x[offset : offset + prod(shape)] into shape; the value's name."""
        n = int(np.prod(shape))
        lo, hi = offset[0], offset[0] + n
        offset[0] = hi
        xs.append(rng.uniform(-1, 1, n).astype(np.float32))
        for nm, v in ((f"{tag}_lo", [lo]), (f"{tag}_hi", [hi]), (f"{tag}_shape", list(shape))):
            inits.append(numpy_helper.from_array(np.array(v, dtype=np.int64), nm))
        nodes.append(helper.make_node("Slice", ["x", f"{tag}_lo", f"{tag}_hi"], [f"{tag}_flat"]))
        nodes.append(helper.make_node("Reshape", [f"{tag}_flat", f"{tag}_shape"], [tag]))
        return xs[-1].reshape(shape)

    outs = []
    for c in CASES:
        t = c.name
        x = take([c.N, c.C] + c.spatial, f"{t}_x")
        res = take([c.N, c.M] + c.out, f"{t}_r") if c.epi.startswith("residual") else None
        K = c.C // c.group * int(np.prod(c.k))
        w = (rng.uniform(-1, 1, [c.M, c.C // c.group] + c.k) / np.sqrt(K)).astype(np.float32)
        b = rng.uniform(-0.5, 0.5, c.M).astype(np.float32) if c.bias else None
        inits.append(numpy_helper.from_array(w, f"{t}_w"))
        ins = [f"{t}_x", f"{t}_w"]
        if b is not None:
            inits.append(numpy_helper.from_array(b, f"{t}_b"))
            ins.append(f"{t}_b")
        nodes.append(helper.make_node("Conv", ins, [f"{t}_y"], name=f"{t}_conv", kernel_shape=c.k,
                                      strides=c.s, dilations=c.d, pads=c.pads, group=c.group))
        y, e = f"{t}_y", c.epi
        if e in ("relu", "sigmoid", "tanh"):
            op = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh"}[e]
            nodes.append(helper.make_node(op, [y], [f"{t}_a"]))
        elif e == "clip":
            inits.append(numpy_helper.from_array(np.array(0.0, np.float32), f"{t}_min"))
            inits.append(numpy_helper.from_array(np.array(0.6, np.float32), f"{t}_max"))
            nodes.append(helper.make_node("Clip", [y, f"{t}_min", f"{t}_max"], [f"{t}_a"]))
        elif e == "leaky_relu":
            nodes.append(helper.make_node("LeakyRelu", [y], [f"{t}_a"], alpha=0.1))
        elif e == "hardsigmoid":
            nodes.append(helper.make_node("HardSigmoid", [y], [f"{t}_a"], alpha=0.3, beta=0.4))
        elif e == "hardswish":
            nodes.append(helper.make_node("HardSwish", [y], [f"{t}_a"]))
        elif e == "silu":
            nodes.append(helper.make_node("Sigmoid", [y], [f"{t}_sig"]))
            nodes.append(helper.make_node("Mul", [y, f"{t}_sig"], [f"{t}_a"]))
        elif e.startswith("residual"):
            nodes.append(helper.make_node("Add", [f"{t}_r", y], [f"{t}_sum"]))
            if e == "residual_relu":
                nodes.append(helper.make_node("Relu", [f"{t}_sum"], [f"{t}_a"]))
            else:
                nodes.append(helper.make_node("Identity", [f"{t}_sum"], [f"{t}_a"]))
        else:
            nodes.append(helper.make_node("Identity", [y], [f"{t}_a"]))
        inits.append(numpy_helper.from_array(np.array([-1], np.int64), f"{t}_m1"))
        nodes.append(helper.make_node("Reshape", [f"{t}_a", f"{t}_m1"], [f"{t}_out"]))
        outs.append(f"{t}_out")
        refs.append(torch_ref(c, x, w, b, res).ravel())
    nodes.append(helper.make_node("Concat", outs, ["y"], axis=0))
    total = sum(r.size for r in refs)
    g = helper.make_graph(nodes, "conv_kernels",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [offset[0]])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [total])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    path = os.path.join(TMP, "conv_kernels.onnx")
    onnx.save(m, path)
    return path, np.concatenate(xs), refs


MODEL, X, REFS = build()


def check_case_by_case(got, what):
    require(got.shape == (sum(r.size for r in REFS),), f"{what}: output shape {list(got.shape)}")
    at = 0
    for c, want in zip(CASES, REFS):
        compare(f"{what} {c.name}", got[at:at + want.size], want, RTOL, ATOL)
        at += want.size


def check_level(level):
    exe = os.path.join(TMP, f"conv{level}")
    rc, out, err = run([KILN, "compile", MODEL, level, "-o", exe], timeout=300)
    require(rc == 0, f"kiln compile {level}: " + describe(rc, out, err))
    _, got = predict(exe, X, f"conv{level}", os.path.join(TMP, f"request{level}.json"),
                     f"predict {level}", "x", timeout=120)
    check_case_by_case(got, level)


def check_fusions():
    rc, out, err = run([KILN, "compile", MODEL, "--dump-after", "fuse-conv-activation", "-o",
                        os.path.join(TMP, "dump.out")], timeout=300)
    require(rc == 0, "kiln compile --dump-after: " + describe(rc, out, err))
    dump = out + err
    for marker, want in EXPECTED_MARKERS.items():
        got = dump.count(marker)
        require(got == want, f"the IR after fuse-conv-activation has {got} '{marker}', expected {want}")
    for line in dump.splitlines():
        if "'dw_" in line and "Conv" in line:
            require("+residual" not in line,
                    f"a depthwise Conv took a residual its kernel does not apply: {line.strip()}")
        if "'dw_sigmoid_conv'" in line:
            require("+sigmoid" in line, f"dw_sigmoid's Sigmoid was not fused: {line.strip()}")
        if "'dw_relu_conv'" in line:
            require("+relu" in line, f"dw_relu's Relu was not fused: {line.strip()}")
        if "'dw_clip_conv'" in line:
            require("+clamp(" in line, f"dw_clip's Clip was not fused: {line.strip()}")
    print(f"        markers: {EXPECTED_MARKERS}")


def main():
    suite.check("-O3 fuses every epilogue it can")(check_fusions)
    suite.check("-O3 matches torch on every case")(lambda: check_level("-O3"))
    suite.check("-O0 matches torch on every case")(lambda: check_level("-O0"))
    return suite.finish()


if __name__ == "__main__":
    sys.exit(main())
