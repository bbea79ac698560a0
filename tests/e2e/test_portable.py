#!/usr/bin/python3
"""Portable binaries: the CPU check at start and --cpu lists (issue 13).

    /usr/bin/python3 tests/e2e/test_portable.py --kiln BUILD/kiln \
        --build-dir BUILD --source-dir SRC

Checks (each prints PASS/FAIL; the last line is "N passed, M failed"):

  1. a binary tuned for this host, run under `qemu-x86_64 -cpu Nehalem`,
     exits 3 naming a missing feature and the --cpu to rebuild with (no
     SIGILL, no core);
  2. `--cpu x86-64-v2,x86-64-v3,x86-64-v4` answers `predict` like torch
     (samples/fraud-detection/ref_output_b1.npy) natively and under qemu
     -cpu Nehalem and Haswell, and `info --json` reports the levels and
     the one it picked (v2 on Nehalem, v3 on Haswell);
  3. `--cpu bogus,x86-64-v3` is a usage error (exit 2) naming 'bogus'.

The qemu parts are skipped, with a SKIP line, only when qemu-x86_64 is
missing (scripts/install-deps.sh installs qemu-user).
"""
import json
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kiln_e2e import (Suite, compare, describe, parse_args, predict, require,  # noqa: E402
                      run)

RTOL, ATOL = 1e-4, 1e-5
INPUT = "transaction"
PORTABLE = "x86-64-v2,x86-64-v3,x86-64-v4"

args = parse_args(__doc__)
suite = Suite("portable")
TMP = suite.tmp
SAMPLE = os.path.join(args.source_dir, "samples", "fraud-detection")
MODEL = os.path.join(SAMPLE, "fraud.onnx")
HOST_EXE = os.path.join(TMP, "fraud_host")
PORT_EXE = os.path.join(TMP, "fraud_portable")
QEMU = shutil.which("qemu-x86_64")
X86 = os.uname().machine == "x86_64"


def compile_to(exe, *flags):
    rc, out, err = run([args.kiln, "compile", MODEL, "-o", exe, *flags], timeout=300)
    require(rc == 0, "kiln compile: " + describe(rc, out, err))


def under(cpu, exe):
    """The command prefix that runs exe on CPU model `cpu` (None: natively)."""
    return [exe] if cpu is None else [QEMU, "-cpu", cpu, exe]


@suite.check("a host-tuned binary under qemu -cpu Nehalem exits 3 naming what is missing")
def _():
    compile_to(HOST_EXE)
    if not (QEMU and X86):
        print("SKIP  qemu-x86_64 is missing (apt-get install qemu-user): the Nehalem run is not tested")
        return
    rc, out, err = run(under("Nehalem", HOST_EXE) + ["info"], timeout=60)
    # The host may itself be no newer than Nehalem: then the binary runs.
    if rc == 0:
        print("        (this host's CPU has nothing Nehalem lacks: the binary runs)")
        return
    require(rc == 3, "expected exit 3: " + describe(rc, out, err))
    msg = err.strip().splitlines()[-1] if err.strip() else ""
    require("this binary needs" in msg and "this CPU lacks" in msg and "--cpu x86-64-v2" in msg,
            f"the message should name the missing features and the --cpu to use: {msg!r}")
    require("core" not in os.listdir(TMP), "a core file was written")


def check_portable(cpu, want_level):
    x = np.load(os.path.join(SAMPLE, "ref_input_b1.npy"))
    want = np.load(os.path.join(SAMPLE, "ref_output_b1.npy"))
    exe = PORT_EXE if cpu is None else os.path.join(TMP, "run_" + cpu)
    if cpu is not None:
        # predict() runs one command: a two-line wrapper puts qemu in front.
        with open(exe, "w") as f:
            f.write(f"#!/bin/sh\nexec {QEMU} -cpu {cpu} {PORT_EXE} \"$@\"\n")
        os.chmod(exe, 0o755)
    _, got = predict(exe, x, "p1", os.path.join(TMP, "req.json"), f"predict on {cpu or 'host'}",
                     INPUT)
    compare(f"portable binary on {cpu or 'this host'} vs torch", got, want, RTOL, ATOL)
    rc, out, err = run([exe, "info", "--json"], timeout=60)
    require(rc == 0, "info --json: " + describe(rc, out, err))
    meta = json.loads(out)
    require((meta.get("build") or {}).get("cpu") == PORTABLE,
            f"build.cpu {(meta.get('build') or {}).get('cpu')!r}, expected {PORTABLE!r}")
    cpu_info = meta.get("cpu") or {}
    require(cpu_info.get("levels") == PORTABLE.split(","),
            f"cpu.levels {cpu_info.get('levels')!r}, expected {PORTABLE.split(',')}")
    sel = cpu_info.get("selected")
    require(sel in PORTABLE.split(","), f"cpu.selected {sel!r} is not one of the levels")
    if want_level:
        require(sel == want_level, f"on {cpu} it picked {sel!r}, expected {want_level!r}")
    print(f"        picked {sel}")


@suite.check(f"--cpu {PORTABLE} predicts like torch on this host")
def _():
    compile_to(PORT_EXE, "--cpu", PORTABLE)
    check_portable(None, None)


for cpu, level in (("Nehalem", "x86-64-v2"), ("Haswell", "x86-64-v3")):
    @suite.check(f"--cpu {PORTABLE} predicts like torch under qemu -cpu {cpu} and picks {level}")
    def _():
        require(os.path.exists(PORT_EXE), "the portable binary was not built (see above)")
        if not (QEMU and X86):
            print(f"SKIP  qemu-x86_64 is missing (apt-get install qemu-user): -cpu {cpu} is not tested")
            return
        check_portable(cpu, level)


@suite.check("--cpu bogus,x86-64-v3 is a usage error naming bogus")
def _():
    rc, out, err = run([args.kiln, "compile", MODEL, "-o", os.path.join(TMP, "bogus"),
                        "--cpu", "bogus,x86-64-v3"], timeout=60)
    require(rc == 2, "expected exit 2: " + describe(rc, out, err))
    require("'bogus'" in err and "--cpu" in err, f"the message should name --cpu 'bogus': {err!r}")
    require(not os.path.exists(os.path.join(TMP, "bogus")), "an output file was left behind")


sys.exit(suite.finish())
