#!/usr/bin/python3
"""ONNX-ML ops (ai.onnx.ml opsets 1-3) other than the tree ensembles:
each built with onnx.helper, run with `kiln run`, compared with
scikit-learn where an estimator exists (within 1e-5, labels exactly) and
with ONNX Runtime (onnxruntime-node, when bench/node_modules or
$KILN_ORT_NODE_MODULES has it); one pipeline compiled and served through
`OUT predict` (probabilities FP32, labels INT64); NaN features; bad
indices and categories fail with a message naming the node.

    /usr/bin/python3 tests/e2e/test_ml_ops.py --kiln BUILD/kiln \
        --build-dir BUILD --source-dir SRC

Only processes this script started are ended, by PID; every wait is bounded.
"""
import json
import os
import sys
import warnings

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as oh
from onnx import numpy_helper as nh

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kiln_e2e import Suite, compare, describe, parse_args, require, run, write_json  # noqa: E402

args = parse_args(__doc__)
KILN = args.kiln
suite = Suite("ml_ops")
check = suite.check
TMP = suite.tmp
TOL = 1e-5
sys.path.insert(0, os.path.join(args.source_dir, "samples", "credit-risk"))

from sklearn import impute, linear_model, preprocessing  # noqa: E402  (python3-sklearn)

RNG = np.random.default_rng(7)


def vi(name, t, shape):
    return oh.make_tensor_value_info(name, t, shape)


def save(name, nodes, inputs, outputs, ml=1, inits=()):
    g = oh.make_graph(nodes, name, inputs, outputs, list(inits))
    m = oh.make_model(g, opset_imports=[oh.make_opsetid("", 17), oh.make_opsetid("ai.onnx.ml", ml)])
    m.ir_version = 8
    path = os.path.join(TMP, name + ".onnx")
    onnx.save(m, path)
    return path


def ml(op, ins, outs, **attrs):
    return oh.make_node(op, ins, outs, domain="ai.onnx.ml", name=op.lower(), **attrs)


def kiln_run(model, **inputs):
    out = os.path.join(TMP, "out_" + os.path.basename(model))
    cmd = [KILN, "run", model, "--out-dir", out]
    for k, a in inputs.items():
        p = os.path.join(TMP, k + ".npy")
        np.save(p, a)
        cmd += ["--input", f"{k}={p}"]
    rc, o, err = run(cmd, timeout=120)
    got = {}
    if rc == 0:
        for f in os.listdir(out):
            got[f[:-4]] = np.load(os.path.join(out, f))
    return rc, err, got


def kiln_outputs(model, **inputs):
    rc, err, got = kiln_run(model, **inputs)
    require(rc == 0, f"kiln run {os.path.basename(model)}: exit {rc}: {err.strip()[-600:]}")
    return got


# --- ONNX Runtime through node ------------------------------------------------------------

def find_ort():
    for d in (os.environ.get("KILN_ORT_NODE_MODULES"),
              os.path.join(args.source_dir, "bench", "node_modules")):
        if d and os.path.isdir(os.path.join(d, "onnxruntime-node")):
            return d
    return None


ORT_MODULES = find_ort()
ORT_JS = os.path.join(TMP, "ort_run.js")
with open(ORT_JS, "w") as f:
    f.write("""
const ort = require('onnxruntime-node');
const fs = require('fs');
async function main() {
  const [model, inPath, outPath] = process.argv.slice(2);
  const spec = JSON.parse(fs.readFileSync(inPath));
  const s = await ort.InferenceSession.create(model, {intraOpNumThreads: 1});
  const feeds = {};
  for (const [k, v] of Object.entries(spec)) {
    const data = v.type === 'int64' ? BigInt64Array.from(v.data.map(BigInt))
                                    : Float32Array.from(v.data.map(x => x === null ? NaN : x));
    feeds[k] = new ort.Tensor(v.type, data, v.shape);
  }
  const r = await s.run(feeds);
  const out = {};
  for (const [k, t] of Object.entries(r)) {
    if (t.type === undefined || !t.dims) { out[k] = null; continue; }
    out[k] = {dims: t.dims, type: t.type,
              data: Array.from(t.data, x => typeof x === 'bigint' ? Number(x) : (Number.isNaN(x) ? null : x))};
  }
  fs.writeFileSync(outPath, JSON.stringify(out));
}
main().catch(e => { console.error(String(e)); process.exit(1); });
""")


def ort_outputs(model, **inputs):
    """ONNX Runtime's outputs, or None when onnxruntime-node is not installed."""
    if not ORT_MODULES:
        return None
    spec = {}
    for k, a in inputs.items():
        a = np.asarray(a)
        t = "int64" if a.dtype == np.int64 else "float32"
        spec[k] = {"type": t, "shape": list(a.shape),
                   "data": [None if (t == "float32" and np.isnan(v)) else (int(v) if t == "int64" else float(v))
                            for v in a.ravel()]}
    inp, outp = os.path.join(TMP, "ort_in.json"), os.path.join(TMP, "ort_out.json")
    write_json(inp, spec)
    env = dict(os.environ, NODE_PATH=ORT_MODULES)
    rc, o, err = run(["node", ORT_JS, model, inp, outp], timeout=120, env=env)
    require(rc == 0, "onnxruntime-node: " + describe(rc, o, err))
    with open(outp) as f:
        res = json.load(f)
    out = {}
    for k, v in res.items():
        if v is None:
            continue
        if v["type"] == "string":
            out[k] = np.array(v["data"], dtype=object).reshape(v["dims"])
            continue
        dt = np.int64 if v["type"] == "int64" else np.float32
        out[k] = np.array([np.nan if x is None else x for x in v["data"]], dtype=dt).reshape(v["dims"])
    return out


def strs(a):
    """Text of a string tensor: kiln run writes numpy bytes (|S), ORT gives str."""
    return [x.decode() if isinstance(x, bytes) else str(x) for x in np.asarray(a).ravel()]


def against(what, got, want, exact=False):
    if np.asarray(got).dtype.kind in "SO" or np.asarray(want).dtype.kind in "SUO":
        require(strs(got) == strs(want), f"{what}: {strs(got)[:6]} != {strs(want)[:6]}")
        print(f"        {what}: equal")
        return
    if exact:
        require(np.array_equal(np.asarray(got), np.asarray(want)),
                f"{what}: {np.asarray(got).ravel()[:8]} != {np.asarray(want).ravel()[:8]}")
        print(f"        {what}: equal")
    else:
        got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
        require(got.shape == want.shape, f"{what}: shape {list(got.shape)}, expected {list(want.shape)}")
        require(np.array_equal(np.isnan(got), np.isnan(want)), f"{what}: NaN in different places")
        ok = ~np.isnan(want)
        compare(what, got[ok], want[ok], rtol=TOL, atol=TOL)


def against_ort(model, got, **inputs):
    ref = ort_outputs(model, **inputs)
    if ref is None:
        print("        (onnxruntime-node not installed: ORT comparison skipped)")
        return
    for k, v in ref.items():
        require(k in got, f"kiln gave no output {k!r}")
        against(f"{k} vs ONNX Runtime", got[k], v, exact=v.dtype != np.float32)


X = RNG.normal(size=(16, 4)).astype(np.float32)
PIPE = {}  # models later checks reuse


# --- preprocessing -------------------------------------------------------------------------

@check("Scaler matches StandardScaler and ONNX Runtime")
def _():
    sc = preprocessing.StandardScaler().fit(X * 3 + 1)
    m = save("scaler", [ml("Scaler", ["X"], ["Y"], offset=sc.mean_.astype(np.float32).tolist(),
                           scale=(1 / sc.scale_).astype(np.float32).tolist())],
             [vi("X", T.FLOAT, ["N", 4])], [vi("Y", T.FLOAT, ["N", 4])])
    got = kiln_outputs(m, X=X)
    against("Y vs scikit-learn", got["Y"], sc.transform(X))
    against_ort(m, got, X=X)


@check("Normalizer MAX, L1 and L2 match scikit-learn (L1, L2) and ONNX Runtime (all)")
def _():
    for norm in ("MAX", "L1", "L2"):
        m = save("normalizer_" + norm, [ml("Normalizer", ["X"], ["Y"], norm=norm)],
                 [vi("X", T.FLOAT, ["N", 4])], [vi("Y", T.FLOAT, ["N", 4])])
        x = np.vstack([X, np.zeros((1, 4), np.float32)])  # a zero row is copied
        got = kiln_outputs(m, X=x)
        if norm != "MAX":  # sklearn's max norm divides by max |x|, ONNX-ML's by max x
            against(f"{norm} vs scikit-learn", got["Y"], preprocessing.Normalizer(norm=norm.lower()).transform(x))
        against_ort(m, got, X=x)


@check("Binarizer matches scikit-learn; a NaN feature fails naming the node")
def _():
    m = save("binarizer", [ml("Binarizer", ["X"], ["Y"], threshold=0.25)],
             [vi("X", T.FLOAT, ["N", 4])], [vi("Y", T.FLOAT, ["N", 4])])
    got = kiln_outputs(m, X=X)
    against("Y vs scikit-learn", got["Y"], preprocessing.Binarizer(threshold=0.25).transform(X))
    against_ort(m, got, X=X)
    x = X.copy()
    x[1, 2] = np.nan
    rc, err, _ = kiln_run(m, X=x)
    require(rc == 1 and "binarizer" in err and "NaN" in err, f"exit {rc}: {err.strip()[-300:]}")


@check("Imputer replaces NaN (SimpleImputer) and a float or int64 value (ONNX Runtime)")
def _():
    x = X.copy()
    x[RNG.random(x.shape) < 0.25] = np.nan
    imp = impute.SimpleImputer(strategy="mean").fit(x)
    m = save("imputer", [ml("Imputer", ["X"], ["Y"], imputed_value_floats=imp.statistics_.astype(np.float32).tolist(),
                            replaced_value_float=float("nan"))],
             [vi("X", T.FLOAT, ["N", 4])], [vi("Y", T.FLOAT, ["N", 4])])
    got = kiln_outputs(m, X=x)
    against("NaN imputed vs scikit-learn", got["Y"], imp.transform(x))
    against_ort(m, got, X=x)
    m2 = save("imputer_value", [ml("Imputer", ["X"], ["Y"], imputed_value_floats=[9.0], replaced_value_float=0.0)],
              [vi("X", T.FLOAT, ["N", 4])], [vi("Y", T.FLOAT, ["N", 4])])
    x2 = np.where(X > 0.5, 0.0, X).astype(np.float32)
    got = kiln_outputs(m2, X=x2)
    against("value 0 imputed", got["Y"], np.where(x2 == 0, 9.0, x2))
    against_ort(m2, got, X=x2)
    m3 = save("imputer_i64", [ml("Imputer", ["X"], ["Y"], imputed_value_int64s=[7, 8, 9], replaced_value_int64=-1)],
              [vi("X", T.INT64, ["N", 3])], [vi("Y", T.INT64, ["N", 3])])
    xi = RNG.integers(-1, 3, size=(10, 3)).astype(np.int64)
    got = kiln_outputs(m3, X=xi)
    against("int64 imputed", got["Y"], np.where(xi == -1, np.array([7, 8, 9]), xi), exact=True)
    against_ort(m3, got, X=xi)


@check("OneHotEncoder on int64 matches scikit-learn; an unknown category with zeros=0 fails")
def _():
    cats = [3, 1, 7, 5]
    xi = RNG.choice(cats, size=(12, 1)).astype(np.int64)
    m = save("onehot", [ml("OneHotEncoder", ["X"], ["Y"], cats_int64s=cats, zeros=1)],
             [vi("X", T.INT64, ["N", 1])], [vi("Y", T.FLOAT, ["N", 1, 4])])
    got = kiln_outputs(m, X=xi)
    enc = preprocessing.OneHotEncoder(categories=[sorted(cats)]).fit(xi)  # sklearn wants them sorted
    sk = enc.transform(xi).toarray()[:, [sorted(cats).index(c) for c in cats]]
    against("Y vs scikit-learn", got["Y"].reshape(12, 4), sk)
    against_ort(m, got, X=xi)
    xu = xi.copy()
    xu[4, 0] = 2
    got = kiln_outputs(m, X=xu)
    require(not got["Y"][4].any(), "an unknown category with zeros=1 is not all zeros")
    m0 = save("onehot_strict", [ml("OneHotEncoder", ["X"], ["Y"], cats_int64s=cats, zeros=0)],
              [vi("X", T.INT64, ["N", 1])], [vi("Y", T.FLOAT, ["N", 1, 4])])
    rc, err, _ = kiln_run(m0, X=xu)
    require(rc == 1 and "onehotencoder" in err and "value 2" in err, f"exit {rc}: {err.strip()[-300:]}")


@check("LabelEncoder int64->int64, int64->float, float->int64 (opset 2) match LabelEncoder and ORT")
def _():
    classes = np.array([10, 20, 30, 40], np.int64)
    le = preprocessing.LabelEncoder().fit(classes)
    xi = RNG.choice(classes, size=(9,)).astype(np.int64)
    m = save("label_ii", [ml("LabelEncoder", ["X"], ["Y"], keys_int64s=classes.tolist(),
                             values_int64s=list(range(4)), default_int64=-1)],
             [vi("X", T.INT64, ["N"])], [vi("Y", T.INT64, ["N"])], ml=2)
    got = kiln_outputs(m, X=np.append(xi, 99))
    against("int64->int64 vs scikit-learn", got["Y"][:-1], le.transform(xi), exact=True)
    require(got["Y"][-1] == -1, f"unknown key gave {got['Y'][-1]}, expected default -1")
    against_ort(m, got, X=np.append(xi, 99))
    m2 = save("label_if", [ml("LabelEncoder", ["X"], ["Y"], keys_int64s=[5, 1, 3], values_floats=[0.5, 1.5, 2.5],
                              default_float=-2.0)],
              [vi("X", T.INT64, ["N"])], [vi("Y", T.FLOAT, ["N"])], ml=2)
    xi2 = np.array([1, 3, 5, 4], np.int64)
    got = kiln_outputs(m2, X=xi2)
    against("int64->float", got["Y"], np.array([1.5, 2.5, 0.5, -2.0], np.float32))
    against_ort(m2, got, X=xi2)
    m3 = save("label_fi", [ml("LabelEncoder", ["X"], ["Y"], keys_floats=[0.5, -1.0, 2.0], values_int64s=[1, 2, 3])],
              [vi("X", T.FLOAT, ["N"])], [vi("Y", T.INT64, ["N"])], ml=2)
    xf = np.array([2.0, 0.5, -1.0, 7.0, np.nan], np.float32)
    got = kiln_outputs(m3, X=xf)
    against("float->int64 (NaN and 7 -> default -1)", got["Y"], np.array([3, 1, 2, -1, -1]), exact=True)
    got = kiln_outputs(m3, X=xf[:4])  # ORT's NaN handling of opset-2 float keys is its map's
    against_ort(m3, got, X=xf[:4])


@check("ArrayFeatureExtractor and FeatureVectorizer match numpy and ONNX Runtime; a bad index fails")
def _():
    idx = np.array([3, 0, 2], np.int64)
    m = save("afe", [ml("ArrayFeatureExtractor", ["X", "idx"], ["Y"])],
             [vi("X", T.FLOAT, ["N", 4])], [vi("Y", T.FLOAT, ["N", 3])], inits=[nh.from_array(idx, "idx")])
    got = kiln_outputs(m, X=X)
    against("AFE vs numpy", got["Y"], X[:, idx], exact=True)
    against_ort(m, got, X=X)
    m2 = save("afe_input", [ml("ArrayFeatureExtractor", ["X", "idx"], ["Y"])],
              [vi("X", T.FLOAT, ["N", 4]), vi("idx", T.INT64, [2])], [vi("Y", T.FLOAT, ["N", 2])])
    rc, err, _ = kiln_run(m2, X=X, idx=np.array([1, 4], np.int64))
    require(rc == 1 and "arrayfeatureextractor" in err and "value 4" in err and "[0, 4)" in err,
            f"exit {rc}: {err.strip()[-300:]}")
    m3 = save("fv", [ml("FeatureVectorizer", ["A", "B"], ["Y"], inputdimensions=[2, 4])],
              [vi("A", T.FLOAT, ["N", 3]), vi("B", T.FLOAT, ["N", 2])], [vi("Y", T.FLOAT, ["N", 6])])
    a, b = X[:, :3].copy(), X[:, 2:].copy()
    got = kiln_outputs(m3, A=a, B=b)
    want = np.hstack([a[:, :2], b, np.zeros((16, 2), np.float32)])
    against("FeatureVectorizer vs numpy (columns cut and padded)", got["Y"], want, exact=True)
    against_ort(m3, got, A=a, B=b)
    m4 = save("fv_i64", [ml("FeatureVectorizer", ["A", "B"], ["Y"], inputdimensions=[1, 2])],
              [vi("A", T.INT64, ["N", 1]), vi("B", T.INT64, ["N", 2])], [vi("Y", T.FLOAT, ["N", 3])])
    ai, bi = RNG.integers(-5, 9, size=(16, 1)), RNG.integers(0, 9, size=(16, 2))
    got = kiln_outputs(m4, A=ai, B=bi)
    against("int64 FeatureVectorizer vs numpy", got["Y"], np.hstack([ai, bi]).astype(np.float32), exact=True)
    against_ort(m4, got, A=ai, B=bi)


# --- linear models -------------------------------------------------------------------------

def y_of(x, k):
    w = RNG.normal(size=(4, k))
    return x @ w


@check("LinearRegressor matches LinearRegression and multi-target Ridge")
def _():
    y = y_of(X, 1).ravel() + 0.5
    lr = linear_model.LinearRegression().fit(X, y)
    m = save("linreg", [ml("LinearRegressor", ["X"], ["Y"], coefficients=lr.coef_.astype(np.float32).tolist(),
                           intercepts=[float(lr.intercept_)])],
             [vi("X", T.FLOAT, ["N", 4])], [vi("Y", T.FLOAT, ["N", 1])])
    got = kiln_outputs(m, X=X)
    against("LinearRegression", got["Y"].ravel(), lr.predict(X))
    against_ort(m, got, X=X)
    y3 = y_of(X, 3)
    rd = linear_model.Ridge(alpha=0.3).fit(X, y3)
    m3 = save("ridge", [ml("LinearRegressor", ["X"], ["Y"], coefficients=rd.coef_.astype(np.float32).ravel().tolist(),
                           intercepts=rd.intercept_.astype(np.float32).tolist(), targets=3)],
              [vi("X", T.FLOAT, ["N", 4])], [vi("Y", T.FLOAT, ["N", 3])])
    got = kiln_outputs(m3, X=X)
    against("multi-target Ridge", got["Y"], rd.predict(X))
    against_ort(m3, got, X=X)


def logreg_model(name, clf, post, labels=None):
    """LinearClassifier of a fitted LogisticRegression, written here
    directly (convert_linear.py is tested separately)."""
    coef, icpt = clf.coef_.astype(np.float32), clf.intercept_.astype(np.float32)
    k = coef.shape[0]
    labels = labels if labels is not None else clf.classes_.astype(np.int64).tolist()
    node = ml("LinearClassifier", ["X"], ["label", "probabilities"], coefficients=coef.ravel().tolist(),
              intercepts=icpt.tolist(), classlabels_ints=labels, post_transform=post, multi_class=int(k > 1))
    return save(name, [node], [vi("X", T.FLOAT, ["N", 4])],
                [vi("label", T.INT64, ["N"]), vi("probabilities", T.FLOAT, ["N", max(k, 2)])])


@check("LinearClassifier multi-class (SOFTMAX) matches LogisticRegression's predict and predict_proba")
def _():
    y = np.argmax(y_of(X, 3) + RNG.normal(size=(16, 3)) * 0.1, axis=1) * 10 + 5
    clf = linear_model.LogisticRegression(max_iter=1000).fit(X, y)
    m = logreg_model("logreg_multi", clf, "SOFTMAX")
    got = kiln_outputs(m, X=X)
    against("label vs predict", got["label"], clf.predict(X), exact=True)
    against("probabilities vs predict_proba", got["probabilities"], clf.predict_proba(X))
    against_ort(m, got, X=X)


@check("LinearClassifier binary: labels match LogisticRegression; scores as ONNX Runtime computes them")
def _():
    y = (y_of(X, 1).ravel() > 0).astype(np.int64)
    clf = linear_model.LogisticRegression().fit(X, y)
    for post in ("NONE", "LOGISTIC"):
        m = logreg_model("logreg_bin_" + post, clf, post)
        got = kiln_outputs(m, X=X)
        against(f"{post}: label vs predict", got["label"], clf.predict(X), exact=True)
        s = (X @ clf.coef_.T + clf.intercept_).ravel()
        # One score and two labels: (1 - t, t), t = logistic(s) under LOGISTIC (ORT 1.30).
        t = 1 / (1 + np.exp(-s)) if post == "LOGISTIC" else s
        against(f"{post}: probabilities as ORT", got["probabilities"], np.stack([1 - t, t], axis=1))
        if post == "LOGISTIC":
            against("LOGISTIC: probabilities vs predict_proba", got["probabilities"], clf.predict_proba(X))
        against_ort(m, got, X=X)


@check("LinearClassifier post_transforms LOGISTIC, SOFTMAX_ZERO, PROBIT and NONE on 3 classes match ORT")
def _():
    y = np.argmax(y_of(X, 3), axis=1)
    clf = linear_model.LogisticRegression(max_iter=1000).fit(X, y)
    x = np.vstack([X, np.zeros((1, 4), np.float32)])
    for post in ("NONE", "LOGISTIC", "SOFTMAX_ZERO", "PROBIT"):
        c = linear_model.LogisticRegression()
        c.coef_, c.intercept_, c.classes_ = clf.coef_ / 8, np.array([0.0, 0.1, -0.1]), clf.classes_
        if post == "SOFTMAX_ZERO":
            c.intercept_ = np.zeros(3)  # the zero row's scores are exactly 0
        m = logreg_model("logreg_" + post, c, post)
        got = kiln_outputs(m, X=x)
        s = x @ c.coef_.T.astype(np.float32) + c.intercept_.astype(np.float32)
        against(f"{post}: label = first argmax", got["label"], c.classes_[np.argmax(s, axis=1)], exact=True)
        if post == "LOGISTIC":
            against(f"{post}: probabilities", got["probabilities"], 1 / (1 + np.exp(-s)))
        if post == "PROBIT":  # probit(0) is -inf here; ORT's build gives NaN: compare the rest
            got = kiln_outputs(m, X=X)
            against_ort(m, got, X=X)
        else:
            against_ort(m, got, X=x)


@check("string labels: LinearClassifier classlabels_strings and LabelEncoder int64->string match sklearn/ORT")
def _():
    names = np.array(["bad", "fair", "good"])
    y = names[np.argmax(y_of(X, 3), axis=1)]
    clf = linear_model.LogisticRegression(max_iter=1000).fit(X, y)
    node = ml("LinearClassifier", ["X"], ["label", "probabilities"],
              coefficients=clf.coef_.astype(np.float32).ravel().tolist(),
              intercepts=clf.intercept_.astype(np.float32).tolist(),
              classlabels_strings=clf.classes_.tolist(), post_transform="SOFTMAX")
    m = save("logreg_strings", [node], [vi("X", T.FLOAT, ["N", 4])],
             [vi("label", T.STRING, ["N"]), vi("probabilities", T.FLOAT, ["N", 3])])
    got = kiln_outputs(m, X=X)
    against("string label vs predict", got["label"], clf.predict(X))
    against("probabilities vs predict_proba", got["probabilities"], clf.predict_proba(X))
    against_ort(m, got, X=X)
    PIPE["strings"] = (m, clf)
    yb = np.where(y_of(X, 1).ravel() > 0, "yes", "no")
    cb = linear_model.LogisticRegression().fit(X, yb)
    node = ml("LinearClassifier", ["X"], ["label", "probabilities"],
              coefficients=cb.coef_.astype(np.float32).ravel().tolist(),
              intercepts=cb.intercept_.astype(np.float32).tolist(),
              classlabels_strings=cb.classes_.tolist(), post_transform="LOGISTIC")
    mb = save("logreg_strings_bin", [node], [vi("X", T.FLOAT, ["N", 4])],
              [vi("label", T.STRING, ["N"]), vi("probabilities", T.FLOAT, ["N", 2])])
    got = kiln_outputs(mb, X=X)
    against("binary string label vs predict", got["label"], cb.predict(X))
    against("binary probabilities vs predict_proba", got["probabilities"], cb.predict_proba(X))
    against_ort(mb, got, X=X)
    m2 = save("label_is", [ml("LabelEncoder", ["X"], ["Y"], keys_int64s=[2, 0, 1], values_strings=["c", "a", "b"],
                              default_string="?")],
              [vi("X", T.INT64, ["N"])], [vi("Y", T.STRING, ["N"])], ml=2)
    xi = np.array([0, 1, 2, 7, 1], np.int64)
    got = kiln_outputs(m2, X=xi)
    against("int64->string (opset 2)", got["Y"], np.array(["a", "b", "c", "?", "b"]))
    against_ort(m2, got, X=xi)
    m1 = save("label_is1", [ml("LabelEncoder", ["X"], ["Y"], classes_strings=["x", "y"])],
              [vi("X", T.INT64, ["N"])], [vi("Y", T.STRING, ["N"])], ml=1)
    got = kiln_outputs(m1, X=np.array([1, 0, 5], np.int64))
    against("int64->string (opset 1, classes_strings)", got["Y"], np.array(["y", "x", "_Unused"]))
    against_ort(m1, got, X=np.array([1, 0, 5], np.int64))


@check("NaN features: Scaler, LinearRegressor and LinearClassifier carry NaN as ONNX Runtime does")
def _():
    x = X.copy()
    x[2, 1] = np.nan
    m = os.path.join(TMP, "scaler.onnx")
    got = kiln_outputs(m, X=x)
    require(np.isnan(got["Y"][2, 1]) and not np.isnan(np.delete(got["Y"].ravel(), 2 * 4 + 1)).any(),
            "NaN did not stay in its place")
    against_ort(m, got, X=x)
    for name in ("linreg", "logreg_multi", "logreg_bin_LOGISTIC"):
        m = os.path.join(TMP, name + ".onnx")
        got = kiln_outputs(m, X=x)
        if "label" in got:  # NaN scores: no class beats the first, as in ORT
            attrs = {a.name: a for a in onnx.load(m).graph.node[0].attribute}
            first = attrs["classlabels_ints"].ints[0]
            require(got["label"][2] == first, f"{name}: the NaN row's label {got['label'][2]}, not {first}")
        against_ort(m, got, X=x)


# --- the served pipeline ----------------------------------------------------------------------

def zipmap_output(name):
    """seq(map(int64, float)), as ZipMap declares its output."""
    t = onnx.TypeProto()
    mt = t.sequence_type.elem_type.map_type
    mt.key_type = T.INT64
    mt.value_type.tensor_type.elem_type = T.FLOAT
    v = onnx.ValueInfoProto()
    v.name = name
    v.type.CopyFrom(t)
    return v


def pipeline_model():
    y = np.argmax(y_of(X, 3), axis=1)
    sc = preprocessing.StandardScaler().fit(X)
    clf = linear_model.LogisticRegression(max_iter=1000).fit(sc.transform(X), y)
    nodes = [ml("Scaler", ["X"], ["xs"], offset=sc.mean_.astype(np.float32).tolist(),
                scale=(1 / sc.scale_).astype(np.float32).tolist()),
             ml("LinearClassifier", ["xs"], ["label", "scores"],
                coefficients=clf.coef_.astype(np.float32).ravel().tolist(),
                intercepts=clf.intercept_.astype(np.float32).tolist(),
                classlabels_ints=[0, 1, 2], post_transform="SOFTMAX"),
             ml("ZipMap", ["scores"], ["probabilities"], classlabels_int64s=[0, 1, 2])]
    m = save("pipeline", nodes, [vi("X", T.FLOAT, ["N", 4])],
             [vi("label", T.INT64, ["N"]),
              zipmap_output("probabilities")])
    return m, sc, clf




@check("ZipMap is served as the probabilities tensor; kiln inspect shows its labels")
def _():
    m, sc, clf = pipeline_model()
    PIPE.update(m=m, sc=sc, clf=clf)
    got = kiln_outputs(m, X=X)
    want = clf.predict_proba(sc.transform(X))
    against("probabilities vs predict_proba", got["probabilities"], want)
    against("label vs predict", got["label"], clf.predict(sc.transform(X)), exact=True)
    rc, out, err = run([KILN, "inspect", m], timeout=60)
    require(rc == 0 and "ZipMap" in out and "[0, 1, 2]" in out.replace("[0,1,2]", "[0, 1, 2]"),
            "kiln inspect: " + describe(rc, out, err))


@check("the compiled pipeline's predict answers INT64 labels and FP32 probabilities")
def _():
    m = PIPE["m"]
    exe = os.path.join(TMP, "pipeline_exe")
    rc, out, err = run([KILN, "compile", m, "-o", exe, "--name", "pipeline"], timeout=300)
    require(rc == 0, "kiln compile: " + describe(rc, out, err))
    req = {"id": "r1", "inputs": [{"name": "X", "shape": list(X.shape), "datatype": "FP32",
                                   "data": [float(v) for v in X.ravel()]}]}
    p = write_json(os.path.join(TMP, "req.json"), req)
    rc, out, err = run([exe, "predict", "--input", p], timeout=60)
    require(rc == 0, "predict: " + describe(rc, out, err))
    resp = json.loads(out)
    outs = {o["name"]: o for o in resp["outputs"]}
    require(outs["label"]["datatype"] == "INT64", f"label datatype {outs['label']['datatype']}")
    xs = PIPE["sc"].transform(X)
    against("served label", np.array(outs["label"]["data"]), PIPE["clf"].predict(xs), exact=True)
    require(outs["probabilities"]["datatype"] == "FP32", "probabilities are not FP32")
    against("served probabilities", np.array(outs["probabilities"]["data"], np.float32).reshape(16, 3),
            PIPE["clf"].predict_proba(xs))


@check("samples/credit-risk/convert_linear.py: StandardScaler + LogisticRegression match predict_proba")
def _():
    import convert_linear
    xs = X * 2 + 1
    cases = [("binary", (y_of(X, 1).ravel() > 0).astype(np.int64) * 3 + 1, {}),
             ("multinomial", np.argmax(y_of(X, 3), axis=1), {}),
             ("ovr", np.argmax(y_of(X, 3), axis=1), {"multi_class": "ovr"})]
    for what, y, kw in cases:
        sc = preprocessing.StandardScaler().fit(xs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ovr is deprecated in newer scikit-learn
            clf = linear_model.LogisticRegression(max_iter=1000, **kw).fit(sc.transform(xs), y)
        p = os.path.join(TMP, f"convert_{what}.onnx")
        onnx.save(convert_linear.pipeline_model(sc, clf, 4), p)
        got = kiln_outputs(p, input=xs)
        against(f"{what}: label vs predict", got["label"], clf.predict(sc.transform(xs)), exact=True)
        against(f"{what}: probabilities vs predict_proba", got["probabilities"],
                clf.predict_proba(sc.transform(xs)))
        against_ort(p, got, input=xs)


@check("served string labels: BYTES as JSON strings and in the binary extension (4-byte length + bytes)")
def _():
    m, clf = PIPE["strings"]
    exe = os.path.join(TMP, "strings_exe")
    rc, out, err = run([KILN, "compile", m, "-o", exe, "--name", "strings"], timeout=300)
    require(rc == 0, "kiln compile: " + describe(rc, out, err))
    want = clf.predict(X).tolist()
    req = {"id": "s1", "inputs": [{"name": "X", "shape": list(X.shape), "datatype": "FP32",
                                   "data": [float(v) for v in X.ravel()]}]}
    p = write_json(os.path.join(TMP, "req_s.json"), req)
    rc, out, err = run([exe, "predict", "--input", p], timeout=60)
    require(rc == 0, "predict: " + describe(rc, out, err))
    outs = {o["name"]: o for o in json.loads(out)["outputs"]}
    require(outs["label"]["datatype"] == "BYTES" and outs["label"]["shape"] == [16],
            f"label is {outs['label']['datatype']} {outs['label']['shape']}")
    require(outs["label"]["data"] == want, f"served labels {outs['label']['data'][:5]} != {want[:5]}")
    from kiln_e2e import Server
    srv = Server(exe)
    try:
        body = dict(req, outputs=[{"name": "label", "parameters": {"binary_data": True}}])
        r = srv.client.request("POST", "/v2/models/strings/infer", json.dumps(body).encode(),
                               {"Content-Type": "application/json"})
        require(r.status == 200, f"status {r.status}: {r.body[:300]!r}")
        n = int(r.headers.get("inference-header-content-length"))
        head, tail = json.loads(r.body[:n]), r.body[n:]
        size = head["outputs"][0]["parameters"]["binary_data_size"]
        require(size == len(tail), f"binary_data_size {size}, {len(tail)} bytes follow")
        got, pos = [], 0
        while pos < len(tail):
            k = int.from_bytes(tail[pos:pos + 4], "little")
            got.append(tail[pos + 4:pos + 4 + k].decode())
            pos += 4 + k
        require(got == want, f"binary labels {got[:5]} != {want[:5]}")
        print(f"        binary BYTES: {size} bytes, {len(got)} labels equal")
    finally:
        srv.stop()


@check("kiln check names an unsupported ml op and a too-new ml opset; default-domain Scaler is unknown")
def _():
    m = save("svm", [ml("SVMClassifier", ["X"], ["label", "scores"])], [vi("X", T.FLOAT, ["N", 4])],
             [vi("label", T.INT64, ["N"]), vi("scores", T.FLOAT, ["N", 2])])
    rc, out, err = run([KILN, "check", m], timeout=60)
    require(rc == 1 and "op 'SVMClassifier' from domain 'ai.onnx.ml' is not supported" in err, err)
    n = oh.make_node("Scaler", ["X"], ["Y"], name="s", offset=[0.0], scale=[1.0])
    m = save("scaler_default_domain", [n], [vi("X", T.FLOAT, ["N", 4])], [vi("Y", T.FLOAT, ["N", 4])])
    rc, out, err = run([KILN, "check", m], timeout=60)
    require(rc == 1 and "op 'Scaler' is not supported" in err, err)
    m = save("scaler_ml4", [ml("Scaler", ["X"], ["Y"], offset=[0.0], scale=[1.0])],
             [vi("X", T.FLOAT, ["N", 4])], [vi("Y", T.FLOAT, ["N", 4])], ml=4)
    rc, out, err = run([KILN, "check", m], timeout=60)
    require(rc == 1 and "ai.onnx.ml opset 4 is newer" in err, err)
    rc, out, err = run([KILN, "ops"], timeout=60)
    require(rc == 0 and "LinearClassifier ai.onnx.ml opset 1-3" in out, out[-500:])


sys.exit(suite.finish())
