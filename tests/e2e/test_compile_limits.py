#!/usr/bin/python3
"""kiln compile at its limits: very long graphs, bad target flags, bad
--shape values, and outputs that appear whole or not at all.

The long chains are 20,000 nodes: that size took minutes before kiln split
large graphs into chunk functions, and takes seconds now, so the test is
cheap and would catch a return to superlinear compile time by timing out
(the timeout is generous: a loaded CI machine must not fail it; nothing
here asserts a duration). bench/compile_time.py prints the figures.
"""
import os
import stat
import sys
from functools import partial

import numpy as np
import onnx
from onnx import TensorProto, helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kiln_e2e  # noqa: E402
from kiln_e2e import Suite, parse_args  # noqa: E402

args = parse_args(__doc__)
MODEL = os.path.join(args.source_dir, "samples", "fraud-detection", "fraud.onnx")
suite = Suite("compile_limits")
tmp = suite.tmp
check = suite.expect
run = partial(kiln_e2e.run, timeout=600)


def kiln(*a, **kw):
    return run([args.kiln, *a], **kw)


def chain(n, mixed):
    """n nodes over x [N,4]; with mixed, Add 0.5, Mul 0.5 and Relu in turn."""
    nodes, inits, prev = [], [], "x"
    for i in range(n):
        op = ("Add", "Mul", "Relu")[i % 3] if mixed else "Relu"
        ins = [prev]
        if op != "Relu":
            inits.append(helper.make_tensor(f"c{i}", TensorProto.FLOAT, [4], [0.5] * 4))
            ins.append(f"c{i}")
        nodes.append(helper.make_node(op, ins, [f"v{i}"], name=f"n{i}"))
        prev = f"v{i}"
    g = helper.make_graph(nodes, "chain",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                          [helper.make_tensor_value_info(prev, TensorProto.FLOAT, ["N", 4])],
                          inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def files_in(d):
    return sorted(os.listdir(d))


# --- 20,000-node chains ----------------------------------------------------------
relu = os.path.join(tmp, "relu20000.onnx")
onnx.save(chain(20000, False), relu)
exe = os.path.join(tmp, "relu20000")
r = kiln("compile", relu, "-o", exe)
check("a 20,000-node Relu chain compiles to a service binary",
      r.returncode == 0 and os.access(exe, os.X_OK), r.stderr)

mixed = os.path.join(tmp, "mixed20000.onnx")
onnx.save(chain(20000, True), mixed)
x = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4)
np.save(os.path.join(tmp, "x.npy"), x)
outdir = os.path.join(tmp, "out")
r = kiln("run", mixed, "--input", os.path.join(tmp, "x.npy"), "--out-dir", outdir)
want = x.copy()
for i in range(20000):
    want = want + np.float32(0.5) if i % 3 == 0 else want * np.float32(0.5) if i % 3 == 1 \
        else np.maximum(want, 0)
ok = r.returncode == 0
if ok:
    got = np.load(os.path.join(outdir, "v19999.npy"))
    ok = np.allclose(got, want, rtol=1e-5, atol=1e-6)
check("a 20,000-node Add/Mul/Relu chain runs (kiln run) and matches numpy", ok, r.stderr)

# --- target flags: exit 2 naming the value, never an LLVM abort ------------------
r = kiln("compile", MODEL, "-o", os.path.join(tmp, "c"), "--cpu", "notacpu")
check("--cpu notacpu is bad usage (2) naming it and how to list CPUs",
      r.returncode == 2 and "notacpu" in r.stderr and "-mcpu=help" in r.stderr, r.stderr)
r = kiln("compile", MODEL, "-o", os.path.join(tmp, "c.o"), "--emit", "obj",
         "--target", "aarch64-linux-gnu", "--cpu", "skylake")
check("an x86 --cpu for an aarch64 --target is bad usage (2)",
      r.returncode == 2 and "skylake" in r.stderr and "aarch64" in r.stderr, r.stderr)
r = kiln("compile", MODEL, "-o", os.path.join(tmp, "c.o"), "--emit", "obj",
         "--target", "notatriple")
check("an unknown --target is bad usage (2) naming it",
      r.returncode == 2 and "notatriple" in r.stderr, r.stderr)
r = kiln("compile", MODEL, "-o", os.path.join(tmp, "a72.o"), "--emit", "obj",
         "--target", "aarch64-linux-gnu", "--cpu", "cortex-a72")
check("a real CPU of the target still compiles", r.returncode == 0, r.stderr)

# --- --shape values: exit 2 with a reason ---------------------------------------
for bad, why in (("transaction=-1x30", "a size from 1 to"), ("transaction=+5x30", "a size from 1"),
                 ("transaction= 5x30", "a size from 1"), ("transaction=5x", "a size from 1"),
                 ("transaction=0x30", "a size from 1 to 2^31-1"),
                 ("transaction=99999999999999999999x30", "a size from 1 to 2^31-1"),
                 ("transaction=9..3x30", "MIN <= MAX"), ("transaction=1..x30", "MIN..MAX"),
                 ("transaction=1x2x3x4x5x6x7x8x9", "too many"), ("transaction=", "NAME=DIMS"),
                 ("=5", "NAME=DIMS")):
    r = kiln("inspect", MODEL, "--shape", bad)
    check(f"--shape '{bad}' is bad usage (2) saying why",
          r.returncode == 2 and why in r.stderr and bad in r.stderr, r.stderr)

# --- outputs are atomic ----------------------------------------------------------
odir = os.path.join(tmp, "outputs")
os.mkdir(odir)
keep = os.path.join(odir, "svc")
with open(keep, "w") as f:
    f.write("old")
r = kiln("compile", MODEL, "-o", keep, env=dict(os.environ, KILN_CC="false"))
check("a failed link leaves the existing -o file untouched and no temporary file",
      r.returncode == 3 and open(keep).read() == "old" and files_in(odir) == ["svc"], r.stderr)
broken = os.path.join(tmp, "broken.onnx")
with open(broken, "wb") as f:
    f.write(b"not a model")
for emit in ("exe", "obj", "llvm", "asm"):
    r = kiln("compile", broken, "-o", keep, "--emit", emit)
    check(f"a failed --emit {emit} compile leaves -o untouched and no temporary file",
          r.returncode == 1 and open(keep).read() == "old" and files_in(odir) == ["svc"],
          r.stderr)
r = kiln("compile", MODEL, "-o", os.path.join(odir, "m.o"), "--emit", "obj",
         "--target", "aarch64-linux-gnu", "--cpu", "skylake")
check("a compile refused for its flags writes nothing",
      r.returncode == 2 and files_in(odir) == ["svc"], r.stderr)
r = kiln("compile", MODEL, "-o", keep)
check("a successful compile replaces -o with an executable, leaving nothing else",
      r.returncode == 0 and os.access(keep, os.X_OK) and open(keep, "rb").read(4) == b"\x7fELF"
      and files_in(odir) == ["svc"], r.stderr)
r = kiln("compile", MODEL, "-o", os.path.join(odir, "m.ll"), "--emit", "llvm")
mode = os.stat(os.path.join(odir, "m.ll")).st_mode if r.returncode == 0 else 0
umask = os.umask(0)
os.umask(umask)
check("--emit llvm writes the file with the usual mode (0666 less the umask)",
      r.returncode == 0 and stat.S_IMODE(mode) == 0o666 & ~umask
      and files_in(odir) == ["m.ll", "svc"], r.stderr)
r = kiln("compile", MODEL, "-o", os.devnull, "--emit", "llvm")
check("-o /dev/null is written in place, not replaced",
      r.returncode == 0 and stat.S_ISCHR(os.stat(os.devnull).st_mode), r.stderr)
r = kiln("compile", MODEL, "-o", os.path.join(tmp, "no", "such", "dir", "x.o"), "--emit", "obj")
check("-o in a missing directory is an environment fault (3) naming the path",
      r.returncode == 3 and "no/such/dir" in r.stderr, r.stderr)

sys.exit(suite.finish())
