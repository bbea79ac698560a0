#!/usr/bin/python3
"""Cross compilation: `kiln compile --target aarch64-linux-gnu` builds an
arm64 static service binary, and it answers correctly under qemu-aarch64.

    /usr/bin/python3 tests/e2e/test_cross.py --kiln BUILD/kiln \
        --build-dir BUILD --source-dir SRC

Checks (each prints PASS/FAIL; the last line is "N passed, M failed"):

  1. fraud.onnx compiles for aarch64; file(1) says ARM aarch64, statically linked;
  2. `qemu-aarch64 -cpu cortex-a53 OUT predict` (ARMv8.0-A: the default
     --cpu generic runs on any arm64) matches ref_output_b1.npy (rtol 1e-5, atol 1e-6);
  3. `qemu-aarch64 OUT info --json` names the model and the aarch64 target;
  4. `qemu-aarch64 OUT serve` on 127.0.0.1, port 0, answers one v2 infer request;
  5. classifier.onnx (convolutions) for aarch64 matches its torch references;
  6. --emit obj, asm and llvm write aarch64 code;
  7. a missing cross linker is an environment fault (3) naming gcc-aarch64-linux-gnu;
  8. two compiles in different directories give the same bytes.

Without qemu-aarch64 or aarch64-linux-gnu-gcc (scripts/install-deps.sh
installs both) every check is skipped with a SKIP line that says what to
install, unless CI=true: CI installs them, so there a missing tool fails.
qemu runs are slow; the checks keep them to a handful.
"""
import json
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kiln_e2e import (Server, Suite, compare, describe, parse_args, parse_v2_response,  # noqa: E402
                      require, run, static_link, v2_request, write_json)

TARGET = "aarch64-linux-gnu"
RTOL, ATOL = 1e-5, 1e-6            # fraud: aarch64 vs torch
CONV_RTOL, CONV_ATOL = 1e-3, 1e-4  # classifier: the tolerance of its own sample test

args = parse_args(__doc__)
KILN = args.kiln
SAMPLES = os.path.join(args.source_dir, "samples")

missing = [t for t in ("qemu-aarch64", "aarch64-linux-gnu-gcc") if not shutil.which(t)]
if missing:
    if os.environ.get("CI") == "true":
        print(f"FAIL  {', '.join(missing)} not installed, and CI must run the cross tests\n"
              "        hint: scripts/install-deps.sh installs qemu-user and gcc-aarch64-linux-gnu")
        print("0 passed, 1 failed")
        sys.exit(1)
    print(f"SKIP  test_cross: {', '.join(missing)} not installed "
          "(scripts/install-deps.sh installs qemu-user and gcc-aarch64-linux-gnu)")
    print("0 passed, 0 failed, 8 skipped")
    sys.exit(0)

suite = Suite("cross")
TMP = suite.tmp


def qemu_wrapper(exe):
    """A script that runs exe under qemu-aarch64, for helpers that exec a binary."""
    path = exe + "-qemu"
    with open(path, "w") as f:
        f.write(f"#!/bin/sh\nexec {' '.join(QEMU)} '{exe}' \"$@\"\n")
    os.chmod(path, 0o755)
    return path


def cross_compile(model, out, *extra, env=None):
    rc, so, se = run([KILN, "compile", model, "--target", TARGET, "-o", out, *extra], timeout=300,
                     env=env)
    require(rc == 0, "kiln compile --target: " + describe(rc, so, se))
    return out


# qemu's default CPU ("max") has every extension; a Cortex-A53 has only
# ARMv8.0-A, so passing there shows the default --cpu generic code runs on
# any 64-bit ARM Linux machine.
QEMU = ["qemu-aarch64", "-cpu", "cortex-a53"]


def predict_qemu(exe, x, name, what):
    req = write_json(os.path.join(TMP, "request.json"), v2_request(x, "cross-1", name))
    rc, so, se = run([*QEMU, exe, "predict", "--input", req], timeout=120)
    require(rc == 0, f"{what}: " + describe(rc, so, se))
    resp, got = parse_v2_response(so, what)
    require(resp.get("id") == "cross-1", f"{what}: response id {resp.get('id')!r}")
    return got


FRAUD = os.path.join(TMP, "fraud")
FRAUD_ONNX = os.path.join(SAMPLES, "fraud-detection", "fraud.onnx")


@suite.check("1. fraud.onnx --target aarch64-linux-gnu: an ARM aarch64 static executable")
def _():
    cross_compile(FRAUD_ONNX, FRAUD)
    rc, so, se = run(["file", FRAUD], timeout=30)
    require(rc == 0 and "ARM aarch64" in so, f"file says: {so.strip()}")
    ok, why = static_link(FRAUD)
    require(ok, why)
    print(f"        {os.path.getsize(FRAUD)} bytes")


@suite.check("2. qemu-aarch64 OUT predict matches ref_output_b1.npy (rtol 1e-5, atol 1e-6)")
def _():
    d = os.path.join(SAMPLES, "fraud-detection")
    got = predict_qemu(FRAUD, np.load(os.path.join(d, "ref_input_b1.npy")), "transaction",
                       "predict under qemu")
    compare("aarch64 predict vs torch", got, np.load(os.path.join(d, "ref_output_b1.npy")), RTOL,
            ATOL)


@suite.check("3. qemu-aarch64 OUT info --json names the model and the aarch64 target")
def _():
    rc, so, se = run([*QEMU, FRAUD, "info", "--json"], timeout=60)
    require(rc == 0, describe(rc, so, se))
    info = json.loads(so)
    require(info.get("name") == "fraud", f"name {info.get('name')!r}")
    require(info["inputs"][0]["name"] == "transaction", f"inputs {info['inputs']}")
    build = info.get("build", {})
    require(build.get("target") == "aarch64-unknown-linux-gnu" and build.get("cpu") == "generic",
            f"build {build}")


@suite.check("4. qemu-aarch64 OUT serve answers a v2 infer request on 127.0.0.1")
def _():
    d = os.path.join(SAMPLES, "fraud-detection")
    x = np.load(os.path.join(d, "ref_input_b1.npy"))
    srv = Server(qemu_wrapper(FRAUD), ready_timeout=30)
    try:
        r, outs = srv.client.infer("fraud", {"transaction": x})
        require(r.status == 200 and outs, f"HTTP {r.status}: {r.body[:300]!r}")
        compare("aarch64 serve vs torch", outs["probabilities"],
                np.load(os.path.join(d, "ref_output_b1.npy")), RTOL, ATOL)
    finally:
        srv.stop()


@suite.check("5. classifier.onnx (Conv) for aarch64 matches its references under qemu")
def _():
    d = os.path.join(SAMPLES, "image-classifier")
    exe = cross_compile(os.path.join(d, "classifier.onnx"), os.path.join(TMP, "classifier"))
    for b in (1, 8):
        got = predict_qemu(exe, np.load(os.path.join(d, f"ref_input_b{b}.npy")), "image",
                           f"classifier batch {b}")
        compare(f"aarch64 classifier batch {b} vs torch", got,
                np.load(os.path.join(d, f"ref_output_b{b}.npy")), CONV_RTOL, CONV_ATOL)


@suite.check("6. --emit obj, asm and llvm write aarch64 code")
def _():
    obj = cross_compile(FRAUD_ONNX, os.path.join(TMP, "fraud.o"), "--emit", "obj")
    rc, so, se = run(["file", obj], timeout=30)
    require("ARM aarch64" in so and "relocatable" in so, f"file says: {so.strip()}")
    asm = cross_compile(FRAUD_ONNX, os.path.join(TMP, "fraud.s"), "--emit", "asm")
    text = open(asm).read()
    require("fmla" in text or "fmadd" in text, "no aarch64 FMA instruction in the assembly")
    ll = cross_compile(FRAUD_ONNX, os.path.join(TMP, "fraud.ll"), "--emit", "llvm")
    text = open(ll).read()
    require('target triple = "aarch64-unknown-linux-gnu"' in text, "no aarch64 triple in the IR")
    require("x86" not in text.split("\nattributes ", 1)[-1],
            "the IR's function attributes still name x86 features")


@suite.check("7. a missing cross linker is exit 3 naming gcc-aarch64-linux-gnu, writing nothing")
def _():
    out = os.path.join(TMP, "nolinker")
    env = dict(os.environ, KILN_CC_AARCH64="/nonexistent/aarch64-linux-gnu-gcc")
    rc, so, se = run([KILN, "compile", FRAUD_ONNX, "--target", TARGET, "-o", out], env=env)
    require(rc == 3 and "gcc-aarch64-linux-gnu" in se and not os.path.exists(out),
            describe(rc, so, se))
    rc, so, se = run([KILN, "compile", FRAUD_ONNX, "--target", "riscv64-linux-gnu", "-o", out])
    require(rc == 2 and "riscv64" in se and not os.path.exists(out), describe(rc, so, se))



@suite.check("8. the arm64 binary is a function of its inputs and SOURCE_DATE_EPOCH")
def _():
    env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000")
    outs = []
    for d in ("a", "b"):
        wd = os.path.join(TMP, "repro-" + d)
        os.mkdir(wd)
        shutil.copy(FRAUD_ONNX, wd)
        rc, so, se = run([KILN, "compile", "fraud.onnx", "--target", TARGET, "-o", "fraud"],
                         timeout=300, env=env, cwd=wd)
        require(rc == 0, describe(rc, so, se))
        outs.append(open(os.path.join(wd, "fraud"), "rb").read())
    require(outs[0] == outs[1], "two compiles in different directories differ")


@suite.check("9. an aarch64 release archive and image: arm64 binary, SBOM libraries arm64 with versions")
def _():
    import tarfile
    arc = cross_compile(FRAUD_ONNX, os.path.join(TMP, "fraud-arm64.tar.gz"), "--emit", "archive")
    with tarfile.open(arc) as t:
        binary = t.extractfile("fraud-1/bin/fraud").read()
        sbom = json.load(t.extractfile("fraud-1/sbom.cdx.json"))
    require(binary[:4] == b"\x7fELF" and binary[18] == 183, "bin/fraud is not an aarch64 ELF")
    libs = [c for c in sbom["components"] if c.get("purl", "").startswith("pkg:deb/")]
    require(len(libs) == 4, f"SBOM libraries: {libs}")
    for c in libs:
        require(c["purl"].endswith("?arch=arm64") and c["version"] != "unknown"
                and c["name"] != "unknown", f"SBOM library of the arm64 binary: {c}")
    img = cross_compile(FRAUD_ONNX, os.path.join(TMP, "fraud-arm64.oci"), "--emit", "oci")
    with tarfile.open(img) as t:
        index = json.load(t.extractfile("index.json"))
    platform = index["manifests"][0].get("platform", {})
    require(platform.get("architecture") == "arm64", f"image platform {platform}")


sys.exit(suite.finish())
