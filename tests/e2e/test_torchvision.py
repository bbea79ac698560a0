#!/usr/bin/python3
"""Three torchvision classifiers through kiln: squeezenet1_1, mobilenet_v2
and resnet18 from Debian's python3-torchvision, with seeded random weights
(torch.manual_seed(0), weights=None: nothing is downloaded), exported in
eval mode to ONNX (opset 13, dynamic batch) in a temporary directory,
compiled with `kiln compile` into service binaries, and asked with
`OUT predict` for the logits of one 3x224x224 image, which must match
torch's within rtol 1e-3, atol 1e-4.

    /usr/bin/python3 tests/e2e/test_torchvision.py --kiln BUILD/kiln \
        --build-dir BUILD --source-dir SRC

Between them the models need Conv (3x3, 7x7, 1x1, strided, depthwise),
folded BatchNormalization, Relu and Clip (ReLU6) epilogues, MaxPool with
ceil_mode, GlobalAveragePool, Concat, Add, Flatten/Reshape and Gemm.
For resnet18, `kiln inspect --json` must also report FLOPs within 2% of
those of torch's Conv2d and Linear layers, counted with forward hooks.

One check per model (PASS/FAIL with what differed); the last line is
"N passed, M failed"; the exit status is 1 if any failed. Every subprocess
runs in its own process group with a timeout. The temporary directory is
removed unless KILN_E2E_KEEP=1.
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kiln_e2e import (Suite, describe, export_torchvision, kiln_compile, parse_args,  # noqa: E402
                      predict, require, run)

RTOL, ATOL = 1e-3, 1e-4
MODELS = ["squeezenet1_1", "mobilenet_v2", "resnet18"]

args = parse_args(__doc__)
KILN = args.kiln
suite = Suite("torchvision")
TMP = suite.tmp


# `kiln inspect` must count what torch's layers compute: within 2% of the
# reference export_torchvision writes (the rest is BatchNorm, Relu, pooling and Add), which for
# resnet18 is itself about 3.64e9 (torchvision's 1.8 GFLOPs are multiply-adds).
FLOPS_RTOL = 0.02
FLOPS_EXPECTED = {"resnet18": 3.64e9}


def check_flops(name):
    with open(f"{TMP}/{name}_flops.txt") as f:
        ref = int(f.read())
    rc, out, err = run([KILN, "inspect", "--json", f"{TMP}/{name}.onnx"])
    require(rc == 0, f"kiln inspect {name}: " + describe(rc, out, err))
    got = json.loads(out)["flops"]
    print(f"        {name}: kiln inspect {got:.4g} FLOPs per image, torch layers {ref:.4g}")
    require(abs(got - ref) <= FLOPS_RTOL * ref,
            f"{name}: kiln inspect reports {got} FLOPs per image, torch's conv/linear layers "
            f"{ref} (more than {FLOPS_RTOL:.0%} apart)")
    if name in FLOPS_EXPECTED:
        want = FLOPS_EXPECTED[name]
        require(abs(ref - want) <= FLOPS_RTOL * want,
                f"{name}: the torch reference {ref} is not within {FLOPS_RTOL:.0%} of {want:.3g}")


def check_model(name):
    export_torchvision(TMP, [name], dynamic_batch=True, timeout=180)
    x, want = np.load(f"{TMP}/{name}_x.npy"), np.load(f"{TMP}/{name}_y.npy")
    if name in FLOPS_EXPECTED:
        check_flops(name)
    exe = kiln_compile(KILN, f"{TMP}/{name}.onnx", os.path.join(TMP, name))
    _, got = predict(exe, x, name, os.path.join(TMP, f"{name}_request.json"), f"{name} predict",
                     "image", timeout=120)
    require(got.shape == want.shape, f"{name}: output shape {list(got.shape)}, expected {list(want.shape)}")
    err_max = float(np.abs(got - want).max())
    require(np.allclose(got, want, rtol=RTOL, atol=ATOL),
            f"{name}: logits differ from torch (max abs err {err_max:.3g}, rtol {RTOL}, atol {ATOL})")
    # Randomly initialised mobilenet_v2 has logits near 1e-12, where atol
    # alone says nothing: the error must also be small against their scale.
    scale = float(np.abs(want).max())
    require(err_max <= RTOL * scale,
            f"{name}: max abs err {err_max:.3g} is more than {RTOL} of the logits' scale {scale:.3g}")
    require(int(got.argmax()) == int(want.argmax()), f"{name}: top-1 class differs")
    print(f"        {name}: max abs err {err_max:.3g}")


def main():
    for name in MODELS:
        suite.check(f"{name} matches torch")(lambda: check_model(name))
    return suite.finish()


if __name__ == "__main__":
    sys.exit(main())
