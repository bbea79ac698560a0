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
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kiln_e2e import (Sample, Suite, compare, describe, kiln_compile, parse_args,  # noqa: E402
                      parse_v2_response, predict, require, run)

RTOL, ATOL = 1e-3, 1e-4  # kiln vs torch
REPRO_RTOL, REPRO_ATOL = 1e-4, 1e-5  # notebook re-run vs committed references
INPUT, OUTPUT = "image", "logits"
ARTIFACTS = ["classifier.onnx", "ref_input_b1.npy", "ref_output_b1.npy", "ref_input_b8.npy",
             "ref_output_b8.npy", "request.json"]

args = parse_args(__doc__)
KILN = args.kiln
suite = Suite("classifier")
TMP = suite.tmp
EXE = os.path.join(TMP, "classifier")
sample = Sample(suite, os.path.join(args.source_dir, "samples", "image-classifier"),
                "classifier.ipynb", ARTIFACTS)
SAMPLE = sample.dir
art = sample.art


# --- the checks -----------------------------------------------------------------

def check_notebook():
    """1. the notebook runs headless into a temp dir and reproduces the committed references."""
    sample.rerun(REPRO_RTOL, REPRO_ATOL)


def require_exe():
    require(os.path.exists(EXE), "no service binary (check 2 failed)")
    return EXE


def check_compile():
    """2. kiln compile builds the service binary."""
    kiln_compile(KILN, art("classifier.onnx"), EXE)


def check_predict():
    """3. OUT predict on batches of 1 and 8 matches torch's outputs."""
    exe = require_exe()
    for b in (1, 8):
        x, want = np.load(art(f"ref_input_b{b}.npy")), np.load(art(f"ref_output_b{b}.npy"))
        resp, got = predict(exe, x, f"batch-{b}", os.path.join(TMP, f"request_b{b}.json"),
                            f"predict batch {b}", INPUT, output=OUTPUT)
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
    _, got = parse_v2_response(out, "predict request.json", OUTPUT)
    require(got.shape == (2, 3), f"predict request.json: output shape {list(got.shape)}, expected [2, 3]")
    classes = got.argmax(axis=1).tolist()
    require(classes == [0, 2], f"predict request.json: classes {classes}, expected [0, 2] (circle, triangle)")
    print("        request.json -> circle, triangle")


CHECKS = [check_notebook, check_compile, check_predict, check_run, check_example_request]


def main():
    suite.run(CHECKS)
    return suite.finish()


if __name__ == "__main__":
    sys.exit(main())
