#!/usr/bin/python3
"""The mobile-net fusions (passes/fuse_mobile.c) on a small torch module.

The module has what EfficientNet and MobileNetV3 blocks have: a Conv with
BatchNorm and SiLU, a depthwise Conv with SiLU, a squeeze-and-excitation
layer (GlobalAveragePool, 1x1 Conv, SiLU, 1x1 Conv, Sigmoid, channel Mul),
x * HardSigmoid(x) (HardSwish as torch writes it by hand), SiLU and
HardSwish after an Add (not after a Conv), and a Linear head. It is
exported with seeded random weights in eval mode (opset 13, dynamic
batch); `kiln run` at batch 3 must match torch within rtol 1e-4, atol
1e-5, and `--dump-after fuse-mobile` must show that the fusions happened
(kiln.Activation +silu and +hardswish, kiln.ConvVec for both SE convs).

    /usr/bin/python3 tests/e2e/test_mobile_fusions.py --kiln BUILD/kiln \
        --build-dir BUILD --source-dir SRC
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kiln_e2e import Suite, compare, describe, parse_args, require, run  # noqa: E402

RTOL, ATOL = 1e-4, 1e-5

args = parse_args(__doc__)
KILN = args.kiln
suite = Suite("mobile-fusions")
TMP = suite.tmp

EXPORT = r'''
import sys, warnings
import numpy as np, torch
import torch.nn as nn, torch.nn.functional as F
warnings.filterwarnings("ignore")
out = sys.argv[1]
torch.manual_seed(0)

class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.dw = nn.Conv2d(16, 16, 5, 1, 2, groups=16)
        self.fc1 = nn.Conv2d(16, 4, 1)
        self.fc2 = nn.Conv2d(4, 16, 1)
        self.pw = nn.Conv2d(16, 8, 1)
        self.head = nn.Linear(8, 5)
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.data.uniform_(0.5, 1.5)
    def forward(self, x):
        x = F.silu(self.bn(self.stem(x)))
        x = F.silu(self.dw(x))
        s = F.adaptive_avg_pool2d(x, 1)
        s = torch.sigmoid(self.fc2(F.silu(self.fc1(s))))
        x = x * s
        x = x * F.hardsigmoid(x)
        y = self.pw(x)
        y = y + 0.5
        y = F.silu(y) + y * F.hardsigmoid(y)
        return self.head(y.mean(dim=(2, 3)))

m = Block().eval()
x = torch.randn(3, 3, 20, 24)
torch.onnx.export(m, x[:1], f"{out}/mobile.onnx", opset_version=13, input_names=["x"],
                  output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
with torch.no_grad():
    y = m(x)
np.save(f"{out}/x.npy", x.numpy())
np.save(f"{out}/y.npy", y.numpy())
'''


def export():
    script = os.path.join(TMP, "export.py")
    with open(script, "w") as f:
        f.write(EXPORT)
    rc, out, err = run(["/usr/bin/python3", script, TMP], timeout=180)
    require(rc == 0, "export: " + describe(rc, out, err))


def check_numbers():
    out_dir = f"{TMP}/out"
    rc, out, err = run([KILN, "run", f"{TMP}/mobile.onnx", "--input", f"x={TMP}/x.npy",
                        "--out-dir", out_dir], timeout=300)
    require(rc == 0, "kiln run: " + describe(rc, out, err))
    compare("y", np.load(f"{out_dir}/y.npy"), np.load(f"{TMP}/y.npy"), RTOL, ATOL)


def check_fused():
    rc, out, err = run([KILN, "compile", f"{TMP}/mobile.onnx", "--dump-after", "fuse-mobile",
                        "-o", f"{TMP}/mobile.o", "--emit", "obj"], timeout=300)
    require(rc == 0, "kiln compile --dump-after fuse-mobile: " + describe(rc, out, err))
    text = out + err
    lines = text.splitlines()
    silu = sum("kiln.Activation" in l and "+silu" in l for l in lines)
    hswish = sum("kiln.Activation" in l and "+hardswish" in l for l in lines)
    vec = sum("kiln.ConvVec" in l for l in lines)
    print(f"        kiln.Activation +silu: {silu}, +hardswish: {hswish}; kiln.ConvVec: {vec}")
    # SiLU: after the stem (BatchNorm folded), the depthwise conv, fc1 and
    # the Add: a kiln.Activation, or the epilogue of the (Vec) conv before it.
    require(sum("+silu" in l for l in lines) >= 4,
            "expected four SiLUs fused:\n" + text[-3000:])
    require(hswish >= 2, "expected x*HardSigmoid(x) twice as kiln.Activation +hardswish:\n" + text[-3000:])
    require(vec == 2, "expected the two SE convolutions as kiln.ConvVec:\n" + text[-3000:])


def check_internal_ops_refused():
    """kiln's own ops are not ONNX's: a model naming one gets the unsupported-op error."""
    import onnx
    from onnx import TensorProto, helper
    for op in ("kiln.Activation", "kiln.ConvVec"):
        g = helper.make_graph([helper.make_node(op, ["x"], ["y"], name="n0")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 1, 1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 1, 1])])
        path = f"{TMP}/internal.onnx"
        onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)
        rc, out, err = run([KILN, "check", path])
        require(rc == 1 and op in err, f"kiln check of a model using {op}: " + describe(rc, out, err))
        rc, out, err = run([KILN, "ops"])
        require(rc == 0 and op not in out, f"kiln ops lists {op}: " + describe(rc, out, err))


def main():
    suite.check("the module exports")(export)
    suite.check("kiln run matches torch at batch 3")(check_numbers)
    suite.check("the SiLU, HardSwish and SE convolutions are fused")(check_fused)
    suite.check("a model using kiln's internal ops is refused")(check_internal_ops_refused)
    return suite.finish()


if __name__ == "__main__":
    sys.exit(main())
