#!/usr/bin/python3
"""End to end from the notebook: samples/image-classifier/classifier.ipynb
is executed headless into a temporary directory, the CNN it exports is
compiled with kiln, and kiln's answers are compared with the reference
outputs torch computed in the notebook.

    /usr/bin/python3 tests/e2e/test_image_classifier_sample.py --kiln BUILD/kiln \
        --build-dir BUILD --source-dir SRC

Checks (each prints PASS/FAIL with what differed; the last line is
"N passed, M failed"; the exit status is 1 if any check failed):

  1. the notebook runs headless and reproduces the committed references;
  2. kiln compile exits 0 (Conv, BatchNormalization folded, Relu, MaxPool,
     GlobalAveragePool, Flatten, Gemm; dynamic batch);
  3. OUT predict, batch 1 and 8, matches torch (rtol 1e-3, atol 1e-4);
  4. kiln run (JIT) writes OUTDIR/logits.npy matching torch;
  5. the committed request.json is answered with the classes torch gives
     (a circle, then a triangle).

Every subprocess runs in its own process group with a timeout, killed if
it overruns (nbconvert starts a kernel). The temporary directory is removed
at the end unless KILN_E2E_KEEP=1.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

import numpy as np

RTOL, ATOL = 1e-3, 1e-4  # kiln vs torch
REPRO_RTOL, REPRO_ATOL = 1e-4, 1e-5  # notebook re-run vs committed references
INPUT, OUTPUT = "image", "logits"
ARTIFACTS = ["classifier.onnx", "ref_input_b1.npy", "ref_output_b1.npy", "ref_input_b8.npy",
             "ref_output_b8.npy", "request.json"]

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--kiln", required=True)
ap.add_argument("--build-dir", required=True)
ap.add_argument("--source-dir", required=True)
args = ap.parse_args()

KILN = os.path.abspath(args.kiln)
SAMPLE = os.path.join(os.path.abspath(args.source_dir), "samples", "image-classifier")
TMP = tempfile.mkdtemp(prefix="kiln-e2e-classifier-")
NB_OUT = os.path.join(TMP, "notebook")
EXE = os.path.join(TMP, "classifier")
state = {"artifacts": None}


class CheckFailed(Exception):
    pass


def require(cond, msg):
    if not cond:
        raise CheckFailed(msg)


def run(cmd, timeout=120, env=None, cwd=None):
    """Runs cmd in its own process group; kills that group (the command and,
    for nbconvert, its kernel) if it overruns. Returns (rc, stdout, stderr)."""
    t0 = time.time()
    try:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env, cwd=cwd, start_new_session=True)
    except OSError as e:
        raise CheckFailed(f"cannot run {cmd[0]}: {e}")
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = p.communicate()
        raise CheckFailed(f"timed out after {timeout} s: {' '.join(cmd)}\nstderr: {err[-2000:]}")
    print(f"        $ {' '.join(cmd)}  -> exit {p.returncode} ({time.time() - t0:.1f} s)")
    return p.returncode, out, err


def describe(rc, out, err):
    return f"exit {rc}\n        stdout: {out[-1500:].strip()}\n        stderr: {err[-1500:].strip()}"


def compare(what, got, want, rtol, atol):
    got, want = np.asarray(got), np.asarray(want)
    require(got.shape == want.shape, f"{what}: shape {list(got.shape)}, expected {list(want.shape)}")
    err = float(np.abs(got.astype(np.float64) - want.astype(np.float64)).max()) if got.size else 0.0
    if not np.allclose(got, want, rtol=rtol, atol=atol):
        bad = np.argwhere(~np.isclose(got, want, rtol=rtol, atol=atol))
        i = tuple(bad[0])
        raise CheckFailed(f"{what}: {len(bad)} of {got.size} values differ (rtol {rtol}, atol {atol}); "
                          f"max abs err {err:.3g}; first at {list(i)}: got {got[i]!r}, expected {want[i]!r}")
    print(f"        {what}: max abs err {err:.3g}")


def v2_request(x, rid):
    x = np.asarray(x, dtype=np.float32)
    return {"id": rid, "inputs": [{"name": INPUT, "shape": list(x.shape), "datatype": "FP32",
                                   "data": [float(v) for v in x.ravel()]}]}


def parse_v2_response(text, what):
    try:
        resp = json.loads(text)
    except ValueError as e:
        raise CheckFailed(f"{what}: stdout is not JSON ({e}): {text[:500]!r}")
    outs = resp.get("outputs") if isinstance(resp, dict) else None
    require(isinstance(outs, list) and outs, f"{what}: no \"outputs\" array in {text[:500]!r}")
    out = outs[0]
    require(out.get("name") == OUTPUT, f"{what}: output name {out.get('name')!r}, expected {OUTPUT!r}")
    require(out.get("datatype") == "FP32", f"{what}: datatype {out.get('datatype')!r}, expected FP32")
    return resp, np.array(out["data"], dtype=np.float32).reshape(out["shape"])


# --- the checks -----------------------------------------------------------------

def check_notebook():
    """1. the notebook runs headless into a temp dir and reproduces the committed references."""
    nb = os.path.join(SAMPLE, "classifier.ipynb")
    require(os.path.exists(nb), f"{nb} is missing")
    os.makedirs(NB_OUT)
    env = dict(os.environ, KILN_SAMPLE_OUT=NB_OUT,
               JUPYTER_RUNTIME_DIR=os.path.join(TMP, "jupyter-runtime"),
               IPYTHONDIR=os.path.join(TMP, "ipython"),
               PYDEVD_DISABLE_FILE_VALIDATION="1")
    rc, out, err = run([sys.executable, "-m", "nbconvert", "--to", "notebook", "--execute",
                        "--ExecutePreprocessor.timeout=300", "--output-dir", NB_OUT, nb],
                       timeout=600, env=env, cwd=TMP)
    require(rc == 0, "nbconvert --execute failed: " + describe(rc, out, err))
    missing = [a for a in ARTIFACTS if not os.path.exists(os.path.join(NB_OUT, a))]
    require(not missing, f"the notebook did not write {missing} into KILN_SAMPLE_OUT={NB_OUT}")
    state["artifacts"] = NB_OUT
    for a in ARTIFACTS:
        if a.endswith(".npy"):
            got, want = np.load(os.path.join(NB_OUT, a)), np.load(os.path.join(SAMPLE, a))
            require(got.dtype == np.float32, f"{a}: dtype {got.dtype}, expected float32")
            compare(f"{a} re-run vs committed", got, want, REPRO_RTOL, REPRO_ATOL)
    with open(os.path.join(NB_OUT, "request.json")) as f1, open(os.path.join(SAMPLE, "request.json")) as f2:
        r1, r2 = json.load(f1), json.load(f2)
    require(r1["inputs"][0]["shape"] == r2["inputs"][0]["shape"], "request.json: shape differs from committed")
    compare("request.json data re-run vs committed", np.float32(r1["inputs"][0]["data"]),
            np.float32(r2["inputs"][0]["data"]), REPRO_RTOL, REPRO_ATOL)


def art(name):
    if state["artifacts"] is None:
        print(f"        (check 1 failed: using the committed artifacts in {SAMPLE})")
        state["artifacts"] = SAMPLE
    return os.path.join(state["artifacts"], name)


def require_exe():
    require(os.path.exists(EXE), "no service binary (check 2 failed)")
    return EXE


def check_compile():
    """2. kiln compile builds the service binary."""
    rc, out, err = run([KILN, "compile", art("classifier.onnx"), "-o", EXE], timeout=300)
    require(rc == 0, "kiln compile: " + describe(rc, out, err))
    require(os.access(EXE, os.X_OK), f"{EXE} is not an executable")


def check_predict():
    """3. OUT predict on batches of 1 and 8 matches torch's outputs."""
    exe = require_exe()
    for b in (1, 8):
        x, want = np.load(art(f"ref_input_b{b}.npy")), np.load(art(f"ref_output_b{b}.npy"))
        req = os.path.join(TMP, f"request_b{b}.json")
        with open(req, "w") as f:
            json.dump(v2_request(x, f"batch-{b}"), f)
        rc, out, err = run([exe, "predict", "--input", req], timeout=60)
        require(rc == 0, f"predict batch {b}: " + describe(rc, out, err))
        resp, got = parse_v2_response(out, f"predict batch {b}")
        require(resp.get("id") == f"batch-{b}", f"predict batch {b}: response id {resp.get('id')!r}")
        compare(f"predict batch {b} vs torch", got, want, RTOL, ATOL)


def check_run():
    """4. kiln run (JIT) writes OUTDIR/logits.npy matching torch."""
    outdir = os.path.join(TMP, "out")
    rc, out, err = run([KILN, "run", art("classifier.onnx"), "--input",
                        f"{INPUT}={art('ref_input_b8.npy')}", "--out-dir", outdir], timeout=300)
    require(rc == 0, "kiln run: " + describe(rc, out, err))
    path = os.path.join(outdir, OUTPUT + ".npy")
    require(os.path.exists(path), f"kiln run exited 0 but wrote no {path}")
    compare("kiln run batch 8 vs torch", np.load(path), np.load(art("ref_output_b8.npy")), RTOL, ATOL)


def check_example_request():
    """5. the committed request.json is answered: a circle, then a triangle."""
    exe = require_exe()
    rc, out, err = run([exe, "predict", "--input", os.path.join(SAMPLE, "request.json")], timeout=60)
    require(rc == 0, "predict request.json: " + describe(rc, out, err))
    _, got = parse_v2_response(out, "predict request.json")
    require(got.shape == (2, 3), f"predict request.json: output shape {list(got.shape)}, expected [2, 3]")
    classes = got.argmax(axis=1).tolist()
    require(classes == [0, 2], f"predict request.json: classes {classes}, expected [0, 2] (circle, triangle)")
    print("        request.json -> circle, triangle")


CHECKS = [check_notebook, check_compile, check_predict, check_run, check_example_request]


def main():
    passed = failed = 0
    try:
        for check in CHECKS:
            title = check.__doc__.strip().split("\n")[0]
            try:
                check()
                print(f"PASS  {title}")
                passed += 1
            except CheckFailed as e:
                print(f"FAIL  {title}\n        {e}")
                failed += 1
            except Exception:
                print(f"FAIL  {title}: unexpected error\n{traceback.format_exc()}")
                failed += 1
    finally:
        if os.environ.get("KILN_E2E_KEEP") == "1":
            print(f"kept {TMP}")
        else:
            shutil.rmtree(TMP, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
