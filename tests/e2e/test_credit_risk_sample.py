#!/usr/bin/python3
"""End to end from the notebook: samples/credit-risk/credit.ipynb is executed
headless into a temporary directory; its three models (a scikit-learn
GradientBoostingClassifier and StandardScaler + LogisticRegression as ONNX,
an XGBoost classifier as XGBoost JSON) are checked against the references
scikit-learn and XGBoost computed in the notebook (never anything kiln
produced).

    /usr/bin/python3 tests/e2e/test_credit_risk_sample.py --kiln BUILD/kiln \
        --build-dir BUILD --source-dir SRC

Checks:

  1. the notebook runs headless and reproduces the committed references and
     models byte for byte (skipped, with the committed files used instead,
     while the sample's converters are not in the tree);
  2. ONNX Runtime (onnxruntime-node under bench/, if installed) on the two
     ONNX models and on the XGBoost model converted by xgb_to_onnx.py
     matches predict_proba within 1e-5, labels exactly;
  3. for each model kiln compiles (`kiln check` passes; the others are
     skipped with kiln's message): `OUT serve` answers the 256 reference rows
     sent as a binary tensor (NaN included) and request_missing.bin, `kiln
     run` writes the same probabilities, `OUT predict request.json` ranks the
     two example applicants; all within 1e-5 of predict_proba, labels exactly.
"""
import json
import os
import sys
import urllib.request

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kiln_e2e import (Sample, Server, Suite, compare, describe, parse_args, require,  # noqa: E402
                      run, run_notebook)

args = parse_args(__doc__)
KILN = args.kiln
SAMPLE_DIR = os.path.join(args.source_dir, "samples", "credit-risk")
sys.path.insert(0, SAMPLE_DIR)
TOL = 1e-5
MODELS = {"gb": "credit_gb.onnx", "linear": "credit_linear.onnx", "xgb": "credit_xgb.json"}
ARTIFACTS = list(MODELS.values()) + ["ref_input.npy", "ref_gb_proba.npy", "ref_linear_proba.npy",
                                     "ref_xgb_proba.npy", "request.json", "request_missing.bin"]
ORT_MODULES = os.path.join(args.source_dir, "bench", "node_modules")
ORT_RUN = os.path.join(args.source_dir, "tests", "e2e", "ort_rows.js")

suite = Suite("credit")
TMP = suite.tmp
sample = Sample(suite, SAMPLE_DIR, "credit.ipynb", ARTIFACTS)
art = sample.art


def check_notebook():
    """1. the notebook runs headless and reproduces the committed files."""
    missing = [c for c in ("convert_trees.py", "convert_linear.py")
               if not os.path.exists(os.path.join(SAMPLE_DIR, c))]
    if missing:
        print(f"        SKIP: {missing} not in {SAMPLE_DIR} yet; using the committed artifacts")
        sample.fresh = SAMPLE_DIR
        return
    committed = [a for a in ARTIFACTS if os.path.exists(os.path.join(SAMPLE_DIR, a))]
    # Byte for byte (the inputs hold NaN, which no tolerance compare takes as equal).
    rc, out, err = run_notebook(os.path.join(SAMPLE_DIR, "credit.ipynb"), sample.out, TMP)
    require(rc == 0, "nbconvert --execute failed: " + describe(rc, out, err))
    for a in committed:
        require(os.path.exists(os.path.join(sample.out, a)), f"the notebook did not write {a}")
        with open(os.path.join(sample.out, a), "rb") as f1, open(os.path.join(SAMPLE_DIR, a), "rb") as f2:
            require(f1.read() == f2.read(), f"{a}: the re-run differs from the committed file")
    sample.fresh = sample.out
    print(f"        {len(committed)} artifacts byte-identical to the committed ones")


def present(f):
    """The sample's models are committed once kiln compiles them (the golden test
    compiles every samples/*/*.onnx); a missing one is skipped, saying so."""
    if os.path.exists(art(f)):
        return True
    print(f"        SKIP {f}: not in {os.path.dirname(art(f))}")
    return False


def ref(name):
    p = np.load(art(f"ref_{name}_proba.npy"))
    return {"probabilities": p, "label": p.argmax(1).astype(np.int64)}


def compare_outputs(what, got, want):
    for k, w in want.items():
        require(k in got, f"{what}: no output {k!r} (got {sorted(got)})")
        g = np.asarray(got[k])
        if k == "label":
            require(g.shape == w.shape and (g == w).all(),
                    f"{what}: labels differ in {int((g != w).sum()) if g.shape == w.shape else 'shape'} rows")
        else:
            compare(f"{what} {k}", g.astype(np.float32), w, rtol=0, atol=TOL)


def check_ort():
    """2. ONNX Runtime on the models matches predict_proba."""
    import onnx
    from xgb_to_onnx import xgb_json_to_onnx
    if not os.path.isdir(os.path.join(ORT_MODULES, "onnxruntime-node")):
        print(f"        SKIP: no onnxruntime-node under {ORT_MODULES}")
        return
    x = np.load(art("ref_input.npy"))
    xin = os.path.join(TMP, "x.f32")
    x.tofile(xin)
    for name, f in MODELS.items():
        if not present(f):
            continue
        path = art(f)
        if f.endswith(".json"):
            path = os.path.join(TMP, "credit_xgb_converted.onnx")
            onnx.save(xgb_json_to_onnx(art(f)), path)
        prefix = os.path.join(TMP, "ort_" + name)
        rc, out, err = run(["node", ORT_RUN, path, "input", str(x.shape[0]), str(x.shape[1]), xin, prefix],
                           timeout=120, env=dict(os.environ, NODE_PATH=ORT_MODULES), echo=False)
        require(rc == 0, f"ORT {name}: " + describe(rc, out, err))
        got = {"probabilities": np.fromfile(prefix + ".probabilities.bin", dtype=np.float32).reshape(-1, 2),
               "label": np.fromfile(prefix + ".label.bin", dtype=np.int64)}
        compare_outputs(f"ORT {f}", got, ref(name))


def post(port, model, body, header_len):
    """A binary-extension request as README's curl sends it; the JSON response's outputs."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v2/models/{model}/infer", data=body,
                                 headers={"Inference-Header-Content-Length": str(header_len),
                                          "Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(req, timeout=30) as r:
        resp = json.loads(r.read())
    return {o["name"]: np.array(o["data"]).reshape(o["shape"]) for o in resp["outputs"]}


def infer_binary(port, model, x):
    raw = np.ascontiguousarray(x, dtype="<f4").tobytes()
    header = json.dumps({"inputs": [{"name": "input", "shape": list(x.shape), "datatype": "FP32",
                                     "parameters": {"binary_data_size": len(raw)}}]}).encode()
    return post(port, model, header + raw, len(header))


def check_kiln():
    """3. every model kiln compiles: serve (binary, NaN), kiln run and predict match predict_proba."""
    x = np.load(art("ref_input.npy"))
    xin = os.path.join(TMP, "ref_input.npy")
    np.save(xin, x)
    with open(art("request_missing.bin"), "rb") as f:
        missing_req = f.read()
    # Its header is one JSON object; the float32 rows follow (README says 194 bytes).
    hl = len(missing_req) - 2 * 20 * 4
    json.loads(missing_req[:hl])
    for name, f in MODELS.items():
        if not present(f):
            continue
        rc, out, err = run([KILN, "check", art(f)], timeout=120, echo=False)
        if rc != 0 and "not supported" in err:
            print(f"        SKIP {f}: {err.strip().splitlines()[0][len(os.path.dirname(art(f))) + 1:][:150]}")
            continue
        require(rc == 0, f"kiln check {f}: " + describe(rc, out, err))
        want = ref(name)
        exe = os.path.join(TMP, f"credit_{name}")
        rc, out, err = run([KILN, "compile", art(f), "-o", exe], timeout=300, echo=False)
        require(rc == 0, f"kiln compile {f}: " + describe(rc, out, err))
        srv = Server(exe)
        try:
            compare_outputs(f"serve {f} (binary, NaN)", infer_binary(srv.port, f"credit_{name}", x), want)
            p = post(srv.port, f"credit_{name}", missing_req, hl)["probabilities"]
            require(p[0, 1] < 0.5 < p[1, 1], f"request_missing.bin: P(default) {p[:, 1].tolist()}, "
                                             "expected low-risk < 0.5 < high-risk")
            print(f"        request_missing.bin (header {hl} bytes): P(default) {p[0, 1]:.4f}, {p[1, 1]:.4f}")
        finally:
            srv.stop()
        outdir = os.path.join(TMP, "run_" + name)
        rc, out, err = run([KILN, "run", art(f), "--input", f"input={xin}", "--out-dir", outdir],
                           timeout=300, echo=False)
        require(rc == 0, f"kiln run {f}: " + describe(rc, out, err))
        compare_outputs(f"kiln run {f}", {k: np.load(os.path.join(outdir, k + ".npy")) for k in want}, want)
        rc, out, err = run([exe, "predict", "--input", art("request.json")], timeout=60, echo=False)
        require(rc == 0, "predict request.json: " + describe(rc, out, err))
        outs = {o["name"]: o for o in json.loads(out)["outputs"]}
        p = np.array(outs["probabilities"]["data"]).reshape(2, 2)
        require(outs["label"]["datatype"] == "INT64" and outs["label"]["data"] == [0, 1],
                f"predict request.json: labels {outs['label']}, expected INT64 [0, 1]")
        print(f"        predict request.json: P(default) {p[0, 1]:.4f}, {p[1, 1]:.4f}")


CHECKS = [check_notebook, check_ort, check_kiln]


def main():
    print(f"kiln {KILN}\nsample {SAMPLE_DIR}\ntmp {TMP}")
    suite.run(CHECKS)
    return suite.finish()


if __name__ == "__main__":
    sys.exit(main())
