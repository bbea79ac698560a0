#!/usr/bin/python3
"""End to end through the command line, on the committed fraud sample (no
notebook run: this one also runs under the sanitizers).

The references are torch's outputs saved by the notebook
(samples/fraud-detection/ref_*.npy), not anything kiln produced.
Tolerance: rtol 1e-4, atol 1e-5.
"""
import json
import os
import subprocess
import tempfile
import sys
from functools import partial

import numpy as np
from onnx import helper, numpy_helper, TensorProto
import onnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kiln_e2e  # noqa: E402
from kiln_e2e import Suite, parse_args, static_link, v2_request  # noqa: E402

args = parse_args(__doc__)
SAMPLE = os.path.join(args.source_dir, "samples", "fraud-detection")
MODEL = os.path.join(SAMPLE, "fraud.onnx")
RTOL, ATOL = 1e-4, 1e-5
suite = Suite("cli")
tmp = suite.tmp
check = suite.expect
run = partial(kiln_e2e.run, timeout=300)


def kiln(*a, **kw):
    return run([args.kiln, *a], **kw)


def request(x, name="transaction"):
    return v2_request(x, "t", name)


# --- compile -------------------------------------------------------------------
exe = os.path.join(tmp, "fraud")
r = kiln("compile", MODEL, "-o", exe)
check("compile exits 0", r.returncode == 0, r.stderr)
ok, how = static_link(exe)
check("the service binary is statically linked", ok, how)
print(f"        binary size {os.path.getsize(exe)} bytes")

# --- predict against torch's outputs ---------------------------------------------
for b in (1, 256):
    x = np.load(os.path.join(SAMPLE, f"ref_input_b{b}.npy"))
    want = np.load(os.path.join(SAMPLE, f"ref_output_b{b}.npy"))
    req = os.path.join(tmp, f"req{b}.json")
    json.dump(request(x), open(req, "w"))
    r = run([exe, "predict", "--input", req])
    ok = r.returncode == 0
    detail = r.stderr
    if ok:
        resp = json.loads(r.stdout)
        out = resp["outputs"][0]
        got = np.array(out["data"], dtype=np.float32).reshape(out["shape"])
        ok = (out["datatype"] == "FP32" and list(got.shape) == list(want.shape)
              and np.allclose(got, want, rtol=RTOL, atol=ATOL) and resp["id"] == "t")
        detail = f"max abs err {np.abs(got - want).max() if got.shape == want.shape else 'shape'}"
    check(f"predict batch {b} matches torch", ok, detail)

# stdin works too
x = np.load(os.path.join(SAMPLE, "ref_input_b1.npy"))
r = run([exe, "predict"], stdin=json.dumps(request(x)))
check("predict reads the request from stdin", r.returncode == 0, r.stderr)

# --- kiln run (JIT) ------------------------------------------------------------
x = np.load(os.path.join(SAMPLE, "ref_input_b256.npy"))
want = np.load(os.path.join(SAMPLE, "ref_output_b256.npy"))
outdir = os.path.join(tmp, "out")
inp = os.path.join(SAMPLE, "ref_input_b256.npy")
r = kiln("run", MODEL, "--input", f"transaction={inp}", "--out-dir", outdir)
ok = r.returncode == 0 and os.path.exists(os.path.join(outdir, "probabilities.npy"))
if ok:
    got = np.load(os.path.join(outdir, "probabilities.npy"))
    ok = np.allclose(got, want, rtol=RTOL, atol=ATOL)
check("kiln run writes outputs equal to torch's", ok, r.stderr)

# A TensorProto .pb input, by position.
pb = os.path.join(tmp, "x.pb")
open(pb, "wb").write(numpy_helper.from_array(x[:3], "transaction").SerializeToString())
r = kiln("run", MODEL, "--input", pb, "--out-dir", outdir)
ok = r.returncode == 0 and np.allclose(np.load(os.path.join(outdir, "probabilities.npy")),
                                      want[:3], rtol=RTOL, atol=ATOL)
check("kiln run takes a TensorProto .pb input by position", ok, r.stderr)

# Output names become safe file names.
g = helper.make_graph([helper.make_node("Relu", ["x"], ["a/b:c"])], "g",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])],
                      [helper.make_tensor_value_info("a/b:c", TensorProto.FLOAT, ["n", 3])])
odd = os.path.join(tmp, "odd.onnx")
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), odd)
np.save(os.path.join(tmp, "x3.npy"), np.array([[-1, 0, 2]], np.float32))
r = kiln("run", odd, "--input", os.path.join(tmp, "x3.npy"), "--out-dir", outdir)
ok = r.returncode == 0 and np.array_equal(np.load(os.path.join(outdir, "a_b_c.npy")),
                                          np.array([[0, 0, 2]], np.float32))
check("kiln run names output files with [A-Za-z0-9._-] only", ok, r.stderr + r.stdout)

# --- info, inspect, check, ops --------------------------------------------------
r = run([exe, "info", "--json"])
ok = r.returncode == 0
if ok:
    meta = json.loads(r.stdout)
    ok = (meta["name"] == "fraud" and meta["inputs"][0]["name"] == "transaction"
          and meta["inputs"][0]["datatype"] == "FP32" and meta["inputs"][0]["shape"] == [-1, 30]
          and len(meta["sha256"]) == 64)
check("info --json gives the v2 metadata with the batch dim as -1", ok, r.stdout + r.stderr)
if ok:
    b = meta.get("build") or {}
    ok = (list(b) == ["kiln_version", "source", "target", "cpu", "opt_level", "build_time", "flags"]
          and b["source"] == "fraud.onnx" and isinstance(b["opt_level"], int)
          and isinstance(b["build_time"], int) and b["flags"] == ["compile", MODEL, "-o", exe])
check("the embedded build info is JSON with its keys in order", ok, r.stdout)

r = kiln("inspect", MODEL, "--json")
ok = r.returncode == 0
if ok:
    info = json.loads(r.stdout)
    ok = info["params"] > 0 and info["flops"] > 0 and info["ops"].get("Gemm", 0) >= 1
check("inspect --json reports params, FLOPs and ops", ok, r.stdout + r.stderr)
if ok:
    ok = list(info) == ["model", "sha256", "graph", "opset", "inputs", "outputs", "symbols",
                        "ops", "params", "param_bytes", "flops", "workspace"]
    ok = ok and info["inputs"][0] == {"name": "transaction", "dtype": "float", "shape": [-1, 30],
                                      "dims": ["batch", "30"]}
    ok = ok and info["symbols"] == [{"name": "batch", "min": 1, "max": 4096}]
    ok = ok and info["workspace"].keys() == {"min_bytes", "max_bytes", "bytes",
                                             "lower_bound_bytes"}
    ok = ok and isinstance(info["workspace"]["min_bytes"], int)
    ok = ok and 0 < info["workspace"]["min_bytes"] < info["workspace"]["max_bytes"]
    # The most bytes live at once (at the upper bounds): the plan cannot need less.
    ok = ok and 0 < info["workspace"]["lower_bound_bytes"] <= info["workspace"]["max_bytes"]
check("inspect --json has its keys in order, with their types", ok, r.stdout + r.stderr)
odd_name = os.path.join(tmp, "bad\udcff\x01name.onnx")  # not UTF-8 on disk
with open(MODEL, "rb") as src, open(os.fsencode(odd_name), "wb") as dst:
    dst.write(src.read())
r = subprocess.run([args.kiln, "inspect", os.fsencode(odd_name), "--json"], capture_output=True)
try:
    ok = r.returncode == 0 and json.loads(r.stdout)["model"].endswith("bad?\x01name.onnx")
except ValueError:
    ok = False
check("inspect --json stays valid JSON for a file name that is not UTF-8", ok, r.stdout)
r = kiln("check", MODEL)
check("check passes the sample", r.returncode == 0 and "ok" in r.stdout, r.stderr)
r = kiln("ops", "--json")
ok = r.returncode == 0 and any(o["op"] == "Gemm" for o in json.loads(r.stdout))
ok = ok and all(list(o) == ["op", "domain", "since", "until"] for o in json.loads(r.stdout))
check("ops --json lists Gemm", ok, r.stdout)

for emit, magic in (("obj", b"\x7fELF"), ("llvm", b"; ModuleID"), ("asm", b"\t.text")):
    out = os.path.join(tmp, "m." + emit)
    r = kiln("compile", MODEL, "--emit", emit, "-o", out)
    ok = r.returncode == 0 and open(out, "rb").read(64).find(magic) >= 0
    check(f"--emit {emit} writes the right kind of file", ok, r.stderr)

# --- exit codes and messages -------------------------------------------------------
r = kiln("compile", os.path.join(tmp, "nope.onnx"), "-o", os.path.join(tmp, "x"))
check("a missing model exits 1 naming the file", r.returncode == 1 and "nope.onnx" in r.stderr,
      r.stderr)
r = kiln("compile", MODEL)
check("compile without -o is bad usage (2)", r.returncode == 2, r.stderr)
r = kiln("compile", MODEL, "-o", os.path.join(tmp, "x"), "--emit", "png")
check("an unknown --emit is bad usage (2)", r.returncode == 2 and "png" in r.stderr, r.stderr)
r = kiln("frobnicate")
check("an unknown command is bad usage (2)", r.returncode == 2, r.stderr)
r = kiln("compile", MODEL, "-o", os.path.join(tmp, "x"), "--shape", "transaction=1xq")
check("a malformed --shape is bad usage (2)", r.returncode == 2, r.stderr)
for cmd in ("compile", "run", "inspect", "check", "ops"):
    for flag in ("--help", "-h"):
        r = kiln(cmd, flag)
        check(f"kiln {cmd} {flag} prints its usage line to stdout and exits 0",
              r.returncode == 0 and r.stdout.startswith(f"usage: kiln {cmd} ") and not r.stderr,
              r.stdout + r.stderr)
r = kiln("help", "inspect")
check("kiln help inspect prints inspect's usage", r.returncode == 0
      and r.stdout.startswith("usage: kiln inspect "), r.stdout + r.stderr)
r = kiln("help")
check("kiln help prints the usage of every command", r.returncode == 0
      and all(f"kiln {c} " in r.stdout for c in ("compile", "run", "inspect", "check", "ops")),
      r.stdout)
for bad_args, want in ((("compile", MODEL, "--bogus"), "unknown option '--bogus'"),
                       (("compile", MODEL, "-o"), "-o needs a value"),
                       (("run", MODEL, "--input"), "--input needs a value"),
                       (("compile", MODEL, "-O4", "-o", "x"), "unknown option '-O4'"),
                       (("inspect", MODEL, "--json=1"), "--json takes no value"),
                       (("check", MODEL, MODEL), "unexpected argument"),
                       (("check",), "check needs a model file")):
    r = kiln(*bad_args)
    check(f"kiln {' '.join(bad_args[:1] + bad_args[2:])} is bad usage (2) with a hint",
          r.returncode == 2 and r.stderr.startswith("kiln: ") and want in r.stderr
          and f"  hint: `kiln {bad_args[0]} --help` shows the usage" in r.stderr, r.stderr)
r = kiln("frobnicate")
check("an unknown command hints at kiln help", "  hint: `kiln help` shows the usage" in r.stderr,
      r.stderr)
# Options before or after the model, -O levels, a repeated --shape, "--" before the model.
ll = os.path.join(tmp, "o.ll")
r = kiln("compile", "-O1", "--emit", "llvm", MODEL, "-o", ll, "-O2")
check("compile takes -O levels and options on both sides of the model",
      r.returncode == 0 and os.path.getsize(ll) > 0, r.stderr)
r = kiln("inspect", "--shape", "transaction=Nx30", MODEL, "--json", "--shape", "transaction=4x30")
check("--shape repeats, before and after the model (the last pin wins)",
      r.returncode == 0 and json.loads(r.stdout)["inputs"][0]["shape"] == [4, 30], r.stderr)
r = kiln("inspect", "--json", "--", MODEL)
check("-- ends the options", r.returncode == 0 and json.loads(r.stdout)["model"] == MODEL, r.stderr)
two = os.path.join(tmp, "two.onnx")
g = helper.make_graph([helper.make_node("Add", ["a", "b"], ["c"])], "g",
                      [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2]) for n in "ab"],
                      [helper.make_tensor_value_info("c", TensorProto.FLOAT, [2])])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), two)
np.save(os.path.join(tmp, "a.npy"), np.array([1, 2], np.float32))
np.save(os.path.join(tmp, "b.npy"), np.array([10, 20], np.float32))
r = kiln("run", "--input", "b=" + os.path.join(tmp, "b.npy"), two, "-o", outdir,
         "--input", os.path.join(tmp, "a.npy"))
ok = r.returncode == 0 and np.array_equal(np.load(os.path.join(outdir, "c.npy")), [11, 22])
check("--input repeats, by name and by position, around the model; -o names run's out dir",
      ok, r.stderr)
env = dict(os.environ, KILN_CC="/nonexistent/cc")
r = kiln("compile", MODEL, "-o", os.path.join(tmp, "nolinker"), env=env)
check("no linker is an environment fault (3)",
      r.returncode == 3 and "linker" in r.stderr and not os.path.exists(os.path.join(tmp, "nolinker")),
      r.stderr)
r = kiln("run", MODEL, "--input", os.path.join(tmp, "x3.npy"))
check("kiln run with a wrong input shape exits 1 naming the input",
      r.returncode == 1 and "transaction" in r.stderr, r.stderr)
r = kiln("run", MODEL)
check("kiln run without the input exits 1 naming it",
      r.returncode == 1 and "transaction" in r.stderr, r.stderr)

# --- files that are not regular files: exit 1 at once, never a hang --------------
def kiln_quick(*a):
    """kiln with a short timeout; a hang comes back as returncode None."""
    try:
        return kiln(*a, timeout=20)
    except subprocess.TimeoutExpired as e:
        return subprocess.CompletedProcess(e.cmd, None, "", "timed out")


fifo_dir = tempfile.mkdtemp(dir=tmp)
fifo = os.path.join(fifo_dir, "pipe.onnx")
os.mkfifo(fifo)
for cmd in ("compile", "inspect", "check", "run"):
    extra = ("-o", os.path.join(tmp, "fifo-out")) if cmd == "compile" else ()
    r = kiln_quick(cmd, fifo, *extra)
    check(f"{cmd} on a FIFO model exits 1 at once naming the file",
          r.returncode == 1 and "pipe.onnx" in r.stderr and "FIFO" in r.stderr, r.stderr)
for cmd in ("compile", "inspect", "check", "run"):
    extra = ("-o", os.path.join(tmp, "dir-out")) if cmd == "compile" else ()
    r = kiln_quick(cmd, fifo_dir, *extra)
    check(f"{cmd} on a directory as model exits 1 naming it",
          r.returncode == 1 and fifo_dir in r.stderr and "directory" in r.stderr, r.stderr)
os.symlink("/dev/zero", os.path.join(fifo_dir, "zero.npy"))
fifo_npy = os.path.join(fifo_dir, "pipe.npy")
os.mkfifo(fifo_npy)
for dev in ("/dev/null", "/dev/zero", os.path.join(fifo_dir, "zero.npy"), fifo_npy):
    r = kiln_quick("run", MODEL, "--input", f"transaction={dev}", "--out-dir", outdir)
    check(f"kiln run with {os.path.basename(dev)} as --input exits 1 naming it, no hang",
          r.returncode == 1 and os.path.basename(dev) in r.stderr, r.stderr)

bad = request(np.zeros((1, 29), np.float32))
r = run([exe, "predict"], stdin=json.dumps(bad))
check("predict with 29 values exits 1 naming the input",
      r.returncode == 1 and "transaction" in r.stderr, r.stderr)
r = run([exe, "predict"], stdin="{not json")
check("predict with malformed JSON exits 1", r.returncode == 1 and r.stderr, r.stderr)
huge = {"inputs": [{"name": "transaction", "shape": [10**12, 30], "datatype": "FP32",
                    "data": [0.0] * 30}]}
r = run([exe, "predict"], stdin=json.dumps(huge))
check("predict with a huge shape and little data exits 1, no crash",
      r.returncode == 1 and "transaction" in r.stderr, r.stderr)
r = run([exe, "frobnicate"])
check("the service binary rejects an unknown command (2)", r.returncode == 2, r.stderr)

sys.exit(suite.finish())
