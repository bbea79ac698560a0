#!/usr/bin/python3
"""Same-shape layers share one task function (issue 11, compile time).

A kernel call large enough to be split over threads is compiled once, in
a task function kiln_model_task_N, and calls that differ only in their
run-time buffers and their weights share it (compiler/codegen/
emit_parallel.c). The model here, built with torch, has five 3x3 convs:
three of 32 -> 32 channels followed by Relu (the same shape, different
weights: one task function), one of them with a residual Add (another),
and one 32 -> 16 (a third). What is checked:
  - `--emit llvm` defines exactly 3 task functions for the 5 convs, and
    each conv's kernel is inlined in one of them only (no kiln_conv_f32
    or kiln_conv_wino_f32 left in kiln_model_run);
  - `OUT predict` matches torch (float64) within rtol 1e-4, atol 1e-5, and
    `OUT predict --threads-per-request 2` gives bitwise the same outputs.

    /usr/bin/python3 tests/e2e/test_shared_tasks.py --kiln BUILD/kiln \
        --build-dir BUILD --source-dir SRC
"""
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kiln_e2e import (Suite, compare, describe, kiln_compile, parse_args,  # noqa: E402
                      predict, require, run)

import torch  # noqa: E402

RTOL, ATOL = 1e-4, 1e-5

args = parse_args(__doc__)
suite = Suite("shared_tasks")
check = suite.check
TMP = suite.tmp
STATE = {}


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Conv2d(32, 32, 3, padding=1)
        self.b = torch.nn.Conv2d(32, 32, 3, padding=1)
        self.c = torch.nn.Conv2d(32, 32, 3, padding=1)
        self.d = torch.nn.Conv2d(32, 32, 3, padding=1)
        self.e = torch.nn.Conv2d(32, 16, 3, padding=1)

    def forward(self, x):
        h = torch.relu(self.a(x))
        h = torch.relu(self.b(h))
        h = torch.relu(self.c(h))
        h = torch.relu(self.d(h) + x)  # the residual Add: a different kernel call
        return self.e(h)


@check("model exports")
def _():
    torch.manual_seed(3)
    net = Net().eval()
    path = os.path.join(TMP, "convs.onnx")
    torch.onnx.export(net, torch.zeros(1, 32, 40, 40), path, input_names=["x"],
                      output_names=["y"], opset_version=13)
    STATE["net"], STATE["onnx"] = net, path


@check("--emit llvm: 5 convs, 3 task functions, no second copy in run()")
def _():
    require("onnx" in STATE, "no model")
    ll = os.path.join(TMP, "convs.ll")
    rc, out, err = run([args.kiln, "compile", STATE["onnx"], "--emit", "llvm", "-o", ll])
    require(rc == 0, describe(rc, out, err))
    text = open(ll).read()
    tasks = re.findall(r"^define internal void @kiln_model_task_\d+\(", text, re.M)
    require(len(tasks) == 3, f"{len(tasks)} task functions, expected 3")
    # Each conv is one call of its task function from run() (the pool's
    # path passes its address): 5 direct calls.
    calls = re.findall(r"call void @kiln_model_task_\d+\(", text)
    require(len(calls) == 5, f"{len(calls)} direct calls of task functions, expected 5")
    for kernel in ("@kiln_conv_f32", "@kiln_conv_wino_f32"):  # 3x3 stride 1: Winograd's
        require(kernel not in text, f"a conv kernel ({kernel}) was left out of line")


@check("predict matches torch; 2 threads bitwise equal to 1")
def _():
    require("onnx" in STATE, "no model")
    exe = kiln_compile(args.kiln, STATE["onnx"], os.path.join(TMP, "convs"))
    x = np.random.default_rng(7).standard_normal((1, 32, 40, 40)).astype(np.float32)
    with torch.no_grad():
        net64 = STATE["net"].double()
        want = net64(torch.from_numpy(x).double()).numpy()
    req = os.path.join(TMP, "req.json")
    _, got1 = predict(exe, x, "r1", req, "1 thread", "x")
    compare("1 thread", np.asarray(got1, dtype=np.float32).reshape(want.shape), want, RTOL, ATOL)
    rc, out, err = run([exe, "predict", "--threads-per-request", "2", "--input", req])
    require(rc == 0, "2 threads: " + describe(rc, out, err))
    rc1, out1, err1 = run([exe, "predict", "--input", req])
    require(rc1 == 0, "1 thread: " + describe(rc1, out1, err1))
    require(out == out1, "2 threads gave other bits than 1")


sys.exit(suite.finish())
