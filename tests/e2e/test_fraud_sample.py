#!/usr/bin/python3
"""End to end from the notebook: samples/fraud-detection/fraud.ipynb is
executed headless into a temporary directory, the model it exports is
compiled with kiln, and the service binary's answers are compared with the
reference outputs that torch computed in the notebook (never with anything
kiln produced).

    /usr/bin/python3 tests/e2e/test_fraud_sample.py --kiln BUILD/kiln \
        --build-dir BUILD --source-dir SRC

Checks (each prints PASS/FAIL with what differed; the last line is
"N passed, M failed"; the exit status is 1 if any check failed):

  1. the notebook runs headless and reproduces the committed references
     (and those agree with a numpy forward pass over the ONNX initializers);
  2. kiln compile exits 0 and the service binary is statically linked;
  3. OUT predict, batch 1 and 256, matches torch (rtol 1e-4, atol 1e-5);
  4. kiln run (JIT) writes OUTDIR/<output>.npy matching torch;
  5. OUT info --json describes the model (name, input name/datatype/shape);
  6. the committed request.json is answered: 2 rows of probabilities summing to 1;
  7. a request with 29 values in a row exits 1 and names the input.

Every subprocess runs in its own process group with a timeout, and that
group is killed if it overruns (nbconvert starts a kernel). The temporary
directory is removed at the end unless KILN_E2E_KEEP=1.
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kiln_e2e import (CheckFailed, Sample, Suite, compare, describe, kiln_compile,  # noqa: E402
                      parse_args, parse_v2_response, predict, require, run, static_link,
                      v2_request, write_json)

RTOL, ATOL = 1e-4, 1e-5   # kiln vs torch
REPRO_ATOL = 1e-6         # notebook re-run vs committed references
N_FEATURES = 30
INPUT = "transaction"
ARTIFACTS = ["fraud.onnx", "ref_input_b1.npy", "ref_output_b1.npy",
             "ref_input_b256.npy", "ref_output_b256.npy", "request.json"]

args = parse_args(__doc__)
KILN = args.kiln
suite = Suite("fraud")
TMP = suite.tmp
EXE = os.path.join(TMP, "fraud")
sample = Sample(suite, os.path.join(args.source_dir, "samples", "fraud-detection"), "fraud.ipynb",
                ARTIFACTS)
SAMPLE = sample.dir
art = sample.art


def numpy_forward(onnx_path, x):
    """The exported graph evaluated in float64 numpy from its initializers: an
    independent check that torch's reference outputs belong to this file."""
    import onnx
    from onnx import numpy_helper
    m = onnx.load(onnx_path)
    env = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in m.graph.initializer}
    env[m.graph.input[0].name] = np.asarray(x, dtype=np.float64)
    for n in m.graph.node:
        a = [env[i] if i else None for i in n.input]
        at = {k.name: onnx.helper.get_attribute_value(k) for k in n.attribute}
        op = n.op_type
        if op == "Constant":
            r = numpy_helper.to_array(at["value"]).astype(np.float64)
        elif op in ("Identity", "Dropout"):
            r = a[0]
        elif op in ("Add", "Sub", "Mul", "Div"):
            r = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op](a[0], a[1])
        elif op == "Relu":
            r = np.maximum(a[0], 0.0)
        elif op == "Sigmoid":
            r = 1.0 / (1.0 + np.exp(-a[0]))
        elif op == "Tanh":
            r = np.tanh(a[0])
        elif op == "MatMul":
            r = a[0] @ a[1]
        elif op == "Gemm":
            A = a[0].T if at.get("transA", 0) else a[0]
            B = a[1].T if at.get("transB", 0) else a[1]
            r = at.get("alpha", 1.0) * (A @ B)
            if len(a) > 2 and a[2] is not None:
                r = r + at.get("beta", 1.0) * a[2]
        elif op == "Softmax":
            ax = at.get("axis", -1)
            e = np.exp(a[0] - a[0].max(axis=ax, keepdims=True))
            r = e / e.sum(axis=ax, keepdims=True)
        elif op == "Flatten":
            ax = at.get("axis", 1)
            r = a[0].reshape(int(np.prod(a[0].shape[:ax])), -1)
        elif op == "Reshape":
            shape = [a[0].shape[i] if d == 0 else int(d) for i, d in enumerate(a[1].astype(np.int64))]
            r = a[0].reshape(shape)
        else:
            raise CheckFailed(f"numpy_forward: op {op} (node {n.name}) is not one kiln supports")
        env[n.output[0]] = r
    return env[m.graph.output[0].name], m.graph.output[0].name


# --- the checks -----------------------------------------------------------------

state = {"output_name": "probabilities", "exe": None}


def check_notebook():
    """1. the notebook runs headless into a temp dir and reproduces the committed references."""
    sample.rerun(rtol=1e-5, atol=REPRO_ATOL)
    NB_OUT = sample.out
    same = open(os.path.join(NB_OUT, "fraud.onnx"), "rb").read() == open(os.path.join(SAMPLE, "fraud.onnx"), "rb").read()
    print(f"        fraud.onnx re-run is {'byte-identical to' if same else 'NOT byte-identical to (weights within tolerance)'} the committed one")
    # The references really are this graph's outputs (independent of torch and kiln).
    for b in (1, 256):
        x = np.load(os.path.join(NB_OUT, f"ref_input_b{b}.npy"))
        want = np.load(os.path.join(NB_OUT, f"ref_output_b{b}.npy"))
        got, name = numpy_forward(os.path.join(NB_OUT, "fraud.onnx"), x)
        state["output_name"] = name
        compare(f"numpy forward of fraud.onnx vs torch reference, batch {b}", got, want, rtol=RTOL, atol=ATOL)


def require_exe():
    require(state["exe"] is not None, f"no service binary: check 2 (kiln compile) failed")
    return state["exe"]


def check_compile():
    """2. kiln compile exits 0 and the result is a statically linked executable."""
    kiln_compile(KILN, art("fraud.onnx"), EXE)
    state["exe"] = EXE
    ok, how = static_link(EXE)
    require(ok, f"{EXE} is not statically linked: {how}")
    print(f"        {how}")
    print(f"        binary size {os.path.getsize(EXE)} bytes ({os.path.getsize(EXE) / 1024:.0f} KiB)")


def check_predict():
    """3. OUT predict on batches of 1 and 256 matches torch's outputs."""
    exe = require_exe()
    for b in (1, 256):
        x = np.load(art(f"ref_input_b{b}.npy"))
        want = np.load(art(f"ref_output_b{b}.npy"))
        require(x.shape == (b, N_FEATURES), f"ref_input_b{b}.npy has shape {x.shape}")
        resp, got = predict(exe, x, f"batch-{b}", os.path.join(TMP, f"req_b{b}.json"),
                            f"predict batch {b}", INPUT, output=state["output_name"])
        compare(f"predict batch {b} vs torch", got, want, RTOL, ATOL)


def check_run():
    """4. kiln run (JIT) writes OUTDIR/<output name>.npy matching torch."""
    outdir = os.path.join(TMP, "out")
    rc, out, err = run([KILN, "run", art("fraud.onnx"), "--input", f"{INPUT}={art('ref_input_b256.npy')}",
                        "--out-dir", outdir], timeout=300)
    require(rc == 0, "kiln run: " + describe(rc, out, err))
    path = os.path.join(outdir, state["output_name"] + ".npy")
    require(os.path.exists(path), f"kiln run exited 0 but wrote no {path} (dir has {sorted(os.listdir(outdir)) if os.path.isdir(outdir) else 'nothing'})")
    got = np.load(path)
    require(got.dtype == np.float32, f"{path}: dtype {got.dtype}, expected float32")
    compare("kiln run batch 256 vs torch", got, np.load(art("ref_output_b256.npy")), RTOL, ATOL)


def check_info():
    """5. OUT info --json: the model's name and signature."""
    exe = require_exe()
    rc, out, err = run([exe, "info", "--json"], timeout=30)
    require(rc == 0, "info --json: " + describe(rc, out, err))
    try:
        meta = json.loads(out)
    except ValueError as e:
        raise CheckFailed(f"info --json: not JSON ({e}): {out[:500]!r}")
    require(meta.get("name") == "fraud", f"info: name {meta.get('name')!r}, expected 'fraud'")
    ins, outs = meta.get("inputs") or [], meta.get("outputs") or []
    require(len(ins) == 1, f"info: {len(ins)} inputs, expected 1")
    want = {"name": INPUT, "datatype": "FP32", "shape": [-1, N_FEATURES]}
    got = {k: ins[0].get(k) for k in want}
    require(got == want, f"info: inputs[0] is {got}, expected {want}")
    want = {"name": state["output_name"], "datatype": "FP32", "shape": [-1, 2]}
    got = {k: (outs[0] if outs else {}).get(k) for k in want}
    require(got == want, f"info: outputs[0] is {got}, expected {want}")
    print(f"        {INPUT} FP32 [-1,{N_FEATURES}] -> {state['output_name']} FP32 [-1,2]")


def check_example_request():
    """6. the committed request.json is answered with 2 rows of probabilities."""
    exe = require_exe()
    req = os.path.join(SAMPLE, "request.json")
    rc, out, err = run([exe, "predict", "--input", req], timeout=60)
    require(rc == 0, "predict request.json: " + describe(rc, out, err))
    resp, got = parse_v2_response(out, "predict request.json")
    require(got.shape == (2, 2), f"predict request.json: output shape {list(got.shape)}, expected [2, 2]")
    require(np.all((got >= 0) & (got <= 1)), f"predict request.json: values outside [0, 1]: {got.tolist()}")
    sums = got.astype(np.float64).sum(axis=1)
    require(np.allclose(sums, 1.0, atol=1e-5), f"predict request.json: rows sum to {sums.tolist()}, expected 1")
    require(got[0, 1] < 0.5 < got[1, 1],
            f"predict request.json: P(fraud) {got[:, 1].tolist()}, expected the first (legit) < 0.5 < the second (fraud)")
    print(f"        P(fraud): legit example {got[0, 1]:.4f}, fraudulent example {got[1, 1]:.4f}")


def check_bad_input():
    """7. a row of 29 values: exit 1 and stderr names the input."""
    exe = require_exe()
    row = np.load(art("ref_input_b1.npy"))[:, :29]
    short_data = v2_request(row, "bad-2", INPUT)
    short_data["inputs"][0]["shape"] = [1, N_FEATURES]
    cases = {"shape [1,29]": v2_request(row, "bad-1", INPUT), "shape [1,30] with 29 values": short_data}
    for what, body in cases.items():
        req = write_json(os.path.join(TMP, "bad.json"), body)
        rc, out, err = run([exe, "predict", "--input", req], timeout=60)
        require(rc == 1, f"bad input ({what}): exit {rc}, expected 1\n        stderr: {err.strip()[:500]}")
        require(INPUT in err, f"bad input ({what}): stderr does not name '{INPUT}': {err.strip()[:500]!r}")
        print(f"        {what}: exit 1, stderr: {err.strip()[:200]}")


CHECKS = [check_notebook, check_compile, check_predict, check_run, check_info,
          check_example_request, check_bad_input]


def main():
    print(f"kiln {KILN}\nsample {SAMPLE}\ntmp {TMP}")
    suite.run(CHECKS)
    return suite.finish()


if __name__ == "__main__":
    sys.exit(main())
