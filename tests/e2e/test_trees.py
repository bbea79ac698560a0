"""test_trees.py: TreeEnsembleClassifier/Regressor compiled to native code.

References kiln did not produce: scikit-learn's predict/predict_proba (models
converted by samples/credit-risk/convert_trees.py; scores within 1e-5,
labels exactly), through `kiln run`, `OUT predict` and `OUT serve`; and ONNX
Runtime (onnxruntime-node, when installed under bench/ or tests/) on
hand-built ensembles covering every node mode, both missing-value rules,
every aggregate and post_transform, base values and the binary-classifier
rules. Edge cases: NaN features, single-leaf trees, depth 20,
1 feature, 1,000 features, BRANCH_EQ categorical splits, string labels,
double input; crafted bad attributes exit 1 naming the node.
"""
import json
import os
import sys

import numpy as np
from onnx import TensorProto

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kiln_e2e as E  # noqa: E402
import tree_models as tm  # noqa: E402

args = E.parse_args(__doc__)
sys.path.insert(0, os.path.join(args.source_dir, "samples", "credit-risk"))
import convert_trees  # noqa: E402

suite = E.Suite("trees")
T = suite.tmp
ort = tm.Ort.find(args.source_dir, T)
RTOL = ATOL = 1e-5
MODES = ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"]
POSTS = ["NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO", "PROBIT"]


def kiln_run(model_path, x, what, form="auto"):
    """{output: array} from `kiln run MODEL --input x.npy --trees FORM`."""
    base = os.path.splitext(model_path)[0]
    xp = base + ".x.npy"
    np.save(xp, x)
    od = base + "." + form + ".out"
    rc, out, err = E.run([args.kiln, "run", model_path, "--input", xp, "--out-dir", od,
                          "--trees", form], timeout=300, echo=False)
    E.require(rc == 0, f"{what}: kiln run: " + E.describe(rc, out, err))
    return {f[:-4]: np.load(os.path.join(od, f), allow_pickle=True)
            for f in os.listdir(od) if f.endswith(".npy")}


def same(what, got, want, tol=None):
    if want.dtype.kind == "f":
        E.require(got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}")
        ok = np.isclose(got, want, rtol=tol or RTOL, atol=tol or ATOL, equal_nan=True)
        if not ok.all():
            i = tuple(np.argwhere(~ok)[0])
            raise E.CheckFailed(f"{what}: {int((~ok).sum())} values differ; first at {list(i)}: "
                                f"got {got[i]!r}, expected {want[i]!r}")
    else:
        E.require(got.shape == want.shape and (got == want).all(),
                  f"{what}: got {got.ravel()[:10]}, expected {want.ravel()[:10]}")


def rows(seed, n, f, nan=0.0, cats=None):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, f)).astype(np.float32)
    if cats:
        x[:, : f // 2] = rng.integers(0, cats, (n, f // 2))
    if nan:
        x[rng.random(x.shape) < nan] = np.nan
    return x


# --- scikit-learn -------------------------------------------------------------------------

def sk_models():
    from sklearn.ensemble import (GradientBoostingClassifier, GradientBoostingRegressor,
                                  RandomForestClassifier, RandomForestRegressor)
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 8)).astype(np.float32)
    y2 = (X[:, 0] + X[:, 1] * X[:, 2] > 0.2).astype(int)
    y3 = np.digitize(X[:, 0] + 0.5 * X[:, 3], [-0.5, 0.5])
    yr = X[:, 0] * 2 + np.sin(X[:, 1]) + 0.1 * rng.normal(size=400)
    yr2 = np.stack([yr, X[:, 2] - X[:, 4]], axis=1)
    return X, [
        ("DecisionTreeClassifier binary", DecisionTreeClassifier(max_depth=6, random_state=0), y2),
        ("DecisionTreeClassifier 3 classes", DecisionTreeClassifier(max_depth=8, random_state=0), y3),
        ("RandomForestClassifier binary", RandomForestClassifier(15, max_depth=6, random_state=0), y2),
        ("RandomForestClassifier 3 classes", RandomForestClassifier(15, max_depth=6, random_state=0), y3),
        ("GradientBoostingClassifier binary", GradientBoostingClassifier(n_estimators=40, random_state=0), y2),
        ("GradientBoostingClassifier 3 classes", GradientBoostingClassifier(n_estimators=30, random_state=0), y3),
        ("GradientBoostingClassifier string labels",
         GradientBoostingClassifier(n_estimators=20, random_state=0), np.array(["bad", "good", "ok"])[y3]),
        ("DecisionTreeRegressor", DecisionTreeRegressor(max_depth=10, random_state=0), yr),
        ("DecisionTreeRegressor 2 outputs", DecisionTreeRegressor(max_depth=6, random_state=0), yr2),
        ("RandomForestRegressor", RandomForestRegressor(10, max_depth=6, random_state=0), yr),
        ("GradientBoostingRegressor", GradientBoostingRegressor(n_estimators=60, random_state=0), yr),
        ("GradientBoostingRegressor huber, init zero",
         GradientBoostingRegressor(n_estimators=20, loss="huber", init="zero", random_state=0), yr),
    ]


X, SK = sk_models()
XT = np.random.default_rng(7).normal(size=(257, 8)).astype(np.float32)
fitted = {}

for title, est, y in SK:
    @suite.check(f"scikit-learn {title}: kiln run equals predict/predict_proba")
    def _():
        est.fit(X, y)
        path = tm.save(convert_trees.convert(est), os.path.join(T, title.replace(" ", "_") + ".onnx"))
        fitted[title] = (est, path)
        got = kiln_run(path, XT, title)
        if hasattr(est, "predict_proba"):
            same("probabilities", got["probabilities"], est.predict_proba(XT).astype(np.float32))
            want = est.predict(XT)
            lab = np.array([b.decode() if isinstance(b, bytes) else b for b in got["label"]])
            E.require(lab.shape == want.shape and [str(a) for a in lab] == [str(b) for b in want],
                      f"labels differ: got {lab[:8]}, expected {want[:8]}")
        else:
            want = est.predict(XT).astype(np.float32).reshape(len(XT), -1)
            same("prediction", got["prediction"], want)
        if ort:
            r = ort.run(path, XT)
            for k, v in r.items():
                if v.dtype.kind == "f":
                    same(f"{k} vs ONNX Runtime", got[k], v)


# --- through the service -------------------------------------------------------------------

@suite.check("`OUT predict` and `OUT serve` give scikit-learn's answers (INT64 labels, FP32 scores)")
def _():
    est, path = fitted["GradientBoostingClassifier 3 classes"]
    import shutil
    shutil.copy(path, os.path.join(T, "gb3.onnx"))
    exe = E.kiln_compile(args.kiln, os.path.join(T, "gb3.onnx"), os.path.join(T, "gb3"))
    x = XT[:16]
    req = E.write_json(os.path.join(T, "req.json"), E.v2_request(x, "r1", "input"))
    rc, out, err = E.run([exe, "predict", "--input", req], timeout=60)
    E.require(rc == 0, "predict: " + E.describe(rc, out, err))
    outs = {o["name"]: o for o in json.loads(out)["outputs"]}
    E.require(outs["label"]["datatype"] == "INT64", f"label datatype {outs['label']['datatype']}")
    E.require(outs["label"]["data"] == [int(v) for v in est.predict(x)], "predict: labels differ")
    same("predict probabilities", np.float32(outs["probabilities"]["data"]).reshape(16, 3),
         est.predict_proba(x).astype(np.float32))
    srv = E.Server(exe)
    try:
        for binary in (False, True):
            r, got = srv.client.infer("gb3", {"input": x}, binary=binary)
            E.require(r.status == 200, f"serve: HTTP {r.status}: {r.body[:300]!r}")
            E.require([int(v) for v in got["label"]] == [int(v) for v in est.predict(x)],
                      "serve: labels differ")
            same("serve probabilities", got["probabilities"], est.predict_proba(x).astype(np.float32))
    finally:
        srv.stop()


@suite.check("string class labels come out of `OUT predict` as BYTES")
def _():
    est, path = fitted["GradientBoostingClassifier string labels"]
    exe = E.kiln_compile(args.kiln, path, os.path.join(T, "gbs"))
    x = XT[:8]
    req = E.write_json(os.path.join(T, "reqs.json"), E.v2_request(x, "s1", "input"))
    rc, out, err = E.run([exe, "predict", "--input", req], timeout=60)
    E.require(rc == 0, "predict: " + E.describe(rc, out, err))
    outs = {o["name"]: o for o in json.loads(out)["outputs"]}
    E.require(outs["label"]["datatype"] == "BYTES", f"label datatype {outs['label']['datatype']}")
    E.require(outs["label"]["data"] == [str(v) for v in est.predict(x)],
              f"labels {outs['label']['data']}, expected {list(est.predict(x))}")


# --- ONNX Runtime on hand-built ensembles --------------------------------------------------

def ort_group(tag, cases):
    """The cases (tag, op, attrs, n_features, x) that share n_features and x
    run as one model: one `kiln run` and one ONNX Runtime session."""
    f, x = cases[0][3], cases[0][4]
    path = tm.save(tm.model_many([(c[0], c[1], c[2]) for c in cases], f,
                                 in_type=TensorProto.DOUBLE if x.dtype == np.float64
                                 else TensorProto.FLOAT), os.path.join(T, tag + ".onnx"))
    # Both forms (compare-and-branch code, the table), which must agree
    # exactly: the same sums in the same order.
    got = kiln_run(path, x, tag, "code")
    table = kiln_run(path, x, tag, "table")
    for k, v in got.items():
        E.require(v.dtype == table[k].dtype and v.shape == table[k].shape and
                  (v.dtype.kind in "OSU" and (v == table[k]).all() or
                   v.dtype.kind not in "OSU" and np.array_equal(v, table[k], equal_nan=True)),
                  f"{tag} {k}: --trees table differs from --trees code")
    want = ort.run(path, x)
    for k, v in want.items():
        g = got[k]
        if g.dtype.kind in "OSU":
            g = np.array([b.decode() if isinstance(b, bytes) else str(b) for b in g.ravel()],
                         dtype=object).reshape(g.shape)
        # ORT rounds its float erfinv differently near p = 0.5: 1e-3 for PROBIT.
        tol = 1e-3 if "PROBIT" in k else None
        same(k, g, v, tol)


def ort_check(title, cases):
    @suite.check(title)
    def _():
        if not ort:
            print("        SKIP: onnxruntime-node is not installed under bench/ or tests/")
            return
        groups = {}
        for c in cases():
            key = (c[3], id(c[4]))
            groups.setdefault(key, []).append(c)
        for i, g in enumerate(groups.values()):
            ort_group(f"{title[:12].replace(' ', '_')}_{i}", g)


XN = rows(1, 97, 6, nan=0.1)


XC = rows(2, 97, 6, 0.1, 3)


def mode_cases():
    for m in MODES:
        for miss in (None, 0.5):
            yield (f"mode_{m}_{miss}", "TreeEnsembleRegressor",
                   tm.ensemble(2, 5, 3, 6, modes=(m,), missing=miss, cats=3), 6, XC)


def reg_cases():
    for agg in ["SUM", "AVERAGE", "MIN", "MAX"]:
        for nt in (1, 3):
            for post in POSTS:
                for nb in sorted({0, nt}):
                    a = tm.ensemble(3, 7, 3, 6, n_targets=nt, missing=0.3)
                    a["aggregate_function"], a["post_transform"] = agg, post
                    if nb:
                        a["base_values"] = [0.25 * (i + 1) for i in range(nb)]
                    if post == "PROBIT":
                        a["target_weights"] = [abs(w) / 20 for w in a["target_weights"]]
                    yield f"reg_{agg}_{nt}_{post}_{nb}", "TreeEnsembleRegressor", a, 6, XN


def cls_cases():
    for nc in (3, 2):
        for post in POSTS:
            for nb in sorted({0, nc} | ({1} if nc == 2 else set())):
                for wpl in (1, "all"):
                    for pos in (False, True):
                        a = tm.ensemble(4, 6, 3, 6, n_targets=nc, classifier=True,
                                        weights_per_leaf=wpl, positive=pos, missing=0.3)
                        a["post_transform"] = post
                        if post == "PROBIT":
                            a["class_weights"] = [abs(w) / 20 for w in a["class_weights"]]
                        if nb:
                            a["base_values"] = [0.1 * (i + 1) for i in range(nb)]
                        yield f"cls_{nc}_{post}_{nb}_{wpl}_{pos}", "TreeEnsembleClassifier", a, 6, XN


def binary_cases():
    for cid in (0, 1):
        for post in POSTS:
            for nb in (0, 1, 2):
                for pos in (False, True):
                    a = tm.ensemble(5, 6, 3, 6, n_targets=2, classifier=True, one_id=cid,
                                    positive=pos, missing=0.3)
                    a["post_transform"] = post
                    if post == "PROBIT":
                        a["class_weights"] = [abs(w) / 20 for w in a["class_weights"]]
                    if nb:
                        a["base_values"] = [0.1 * (i + 1) for i in range(nb)]
                    yield f"bin_{cid}_{post}_{nb}_{pos}", "TreeEnsembleClassifier", a, 6, XN


def edge_cases():
    rng = np.random.default_rng(9)
    # single-leaf trees mixed with real ones
    leaf = {"nodeids": [0], "featureids": [0], "modes": ["LEAF"], "values": [0.0],
            "truenodeids": [0], "falsenodeids": [0], "leaves": [0]}
    trees = [leaf, tm.complete_tree(rng, 2, 4), dict(leaf)]
    yield "single_leaf", "TreeEnsembleRegressor", tm.ensemble(1, 0, 0, 4, trees=trees), 4, rows(3, 33, 4)
    # depth 20: a random spine, each branch has one leaf child
    n, t = 20, {"nodeids": [], "featureids": [], "modes": [], "values": [], "truenodeids": [],
                "falsenodeids": [], "leaves": []}
    for i in range(n):
        b, lf = 2 * i, 2 * i + 1
        nxt = 2 * i + 2
        t["nodeids"] += [b, lf]
        t["featureids"] += [int(rng.integers(0, 5)), 0]
        t["modes"] += ["BRANCH_LT", "LEAF"]
        t["values"] += [float(np.float32(rng.uniform(-0.9, 0.9))), 0.0]
        left = rng.random() < 0.5
        t["truenodeids"] += [lf if left else nxt, 0]
        t["falsenodeids"] += [nxt if left else lf, 0]
        t["leaves"].append(len(t["nodeids"]) - 1)
    t["nodeids"].append(2 * n)
    for k, v in (("featureids", 0), ("modes", "LEAF"), ("values", 0.0), ("truenodeids", 0),
                 ("falsenodeids", 0)):
        t[k].append(v)
    t["leaves"].append(len(t["nodeids"]) - 1)
    yield "depth20", "TreeEnsembleRegressor", tm.ensemble(1, 0, 0, 5, trees=[t]), 5, rows(4, 200, 5, 0.05)
    yield ("one_feature", "TreeEnsembleRegressor", tm.ensemble(6, 20, 4, 1, missing=0.5), 1,
           rows(5, 64, 1, 0.1))
    yield ("thousand_features", "TreeEnsembleClassifier",
           tm.ensemble(7, 20, 5, 1000, n_targets=4, classifier=True, weights_per_leaf="all"), 1000,
           rows(6, 16, 1000, 0.01))
    yield ("categorical_eq", "TreeEnsembleClassifier",
           dict(tm.ensemble(8, 30, 4, 6, n_targets=3, classifier=True, modes=("BRANCH_EQ", "BRANCH_LEQ"),
                            cats=5), post_transform="SOFTMAX"), 6, rows(7, 80, 6, 0.05, 5))
    yield ("double_input", "TreeEnsembleRegressor", tm.ensemble(9, 10, 4, 6, n_targets=2), 6,
           rows(8, 40, 6, 0.05).astype(np.float64))
    a = tm.ensemble(10, 10, 3, 6, n_targets=3, classifier=True, weights_per_leaf="all")
    del a["classlabels_int64s"]
    a["classlabels_strings"] = ["cat", "dog", "emu"]
    yield "string_labels", "TreeEnsembleClassifier", a, 6, XN


def special_cases():
    # Thresholds and features at the float edges (infinities, both zeros,
    # denormals, FLT_MAX and the floats next to a threshold), where the
    # table's integer keys and its x < t as x <= below(t) rewriting must
    # agree with float comparison; NaN features too.
    rng = np.random.default_rng(11)
    edges = np.array([-np.inf, np.inf, 0.0, -0.0, 1e-45, -1e-45, 1.2e-38, 3.4028235e38,
                      -3.4028235e38, 0.5, np.nextafter(np.float32(0.5), np.float32(1)),
                      np.nextafter(np.float32(0.5), np.float32(0))], dtype=np.float32)
    x = rng.choice(np.append(edges, np.nan), (128, 6)).astype(np.float32)
    for m in MODES[:4]:
        for miss in (None, 0.5):
            a = tm.ensemble(12, 8, 3, 6, modes=(m,), missing=miss)
            a["nodes_values"] = [float(v) for v in rng.choice(edges, len(a["nodes_values"]))]
            yield f"edge_{m}_{miss}", "TreeEnsembleRegressor", a, 6, x


ort_check("every node mode, with and without missing_value_tracks_true, equals ONNX Runtime", mode_cases)
ort_check("thresholds and features at infinities, zeros, denormals and neighbours equal ONNX Runtime",
          special_cases)
ort_check("regressors: SUM/AVERAGE/MIN/MAX x every post_transform x base_values equal ONNX Runtime",
          reg_cases)
ort_check("classifiers (2 and 3 classes, every post_transform, base values) equal ONNX Runtime", cls_cases)
ort_check("binary classifiers with one class id's weights: ONNX Runtime's score and label rules",
          binary_cases)
ort_check("edge cases equal ONNX Runtime: single leaves, depth 20, 1 and 1,000 features, BRANCH_EQ, "
          "double input, string labels", edge_cases)


@suite.check("5,000 trees (table only, in seconds) equal ONNX Runtime at 1 and 300 rows")
def _():
    path = tm.save(tm.big_model(13, 5000, 6, 40), os.path.join(T, "big5000.onnx"))
    for n_rows in (1, 300):
        x = rows(14 + n_rows, n_rows, 40, nan=0.05)
        got = kiln_run(path, x, "5,000 trees")
        if ort:
            same(f"5,000 trees at {n_rows} rows vs ONNX Runtime", got["prediction"],
                 ort.run(path, x)["prediction"])
        else:
            print("        SKIP (ORT part): onnxruntime-node is not installed under bench/ or tests/")


# --- crafted attributes --------------------------------------------------------------------

def bad(tag, mutate, expect):
    a = tm.ensemble(12, 3, 2, 4)
    mutate(a)
    path = tm.save(tm.model("TreeEnsembleRegressor", a, 4, name="forest"), os.path.join(T, tag + ".onnx"))
    rc, out, err = E.run([args.kiln, "compile", path, "-o", os.path.join(T, tag)], timeout=60, echo=False)
    E.require(rc == 1, f"{tag}: expected exit 1, got " + E.describe(rc, out, err))
    E.require("'forest'" in err and expect in err, f"{tag}: message does not name the node and "
              f"say {expect!r}: {err.strip()[:400]}")


def set_(k, i, v):
    def f(a):
        a[k][i] = v
    return f


BAD = [
    ("length", lambda a: a["nodes_modes"].pop(), "has 20 entries but nodes_nodeids has 21"),
    ("missing_child", set_("nodes_truenodeids", 0, 99), "is not in the tree"),
    ("self_loop", set_("nodes_falsenodeids", 1, 1), "child of two branches"),
    ("cycle", set_("nodes_truenodeids", 1, 0), "not reachable from the root"),
    ("two_parents", set_("nodes_falsenodeids", 2, 3), "child of two branches"),
    ("feature_range", set_("nodes_featureids", 0, 4), "tests feature 4"),
    ("target_range", set_("target_ids", 0, 5), "there are 1 targets"),
    ("weight_on_branch", set_("target_nodeids", 0, 0), "a branch, not a leaf"),
    ("mode", set_("nodes_modes", 0, "BRANCH_SOMETIMES"), "not an ONNX node mode"),
    ("duplicate", set_("nodes_nodeids", 1, 0), "is defined twice"),
    ("post", lambda a: a.update(post_transform="SIGMOID"), "post_transform 'SIGMOID'"),
    ("aggregate", lambda a: a.update(aggregate_function="MEDIAN"), "aggregate_function 'MEDIAN'"),
    ("base", lambda a: a.update(base_values=[1.0, 2.0]), "base_values has 2 entries"),
    ("no_nodes", lambda a: [a[k].clear() for k in list(a) if k.startswith("nodes_")], "nodes_"),
]


@suite.check("--trees takes auto, code or table; anything else is bad usage (exit 2)")
def _():
    path = tm.save(tm.model("TreeEnsembleRegressor", tm.ensemble(15, 3, 2, 4), 4),
                   os.path.join(T, "forms.onnx"))
    rc, out, err = E.run([args.kiln, "compile", path, "-o", os.path.join(T, "forms"), "--trees",
                          "fast"], timeout=60, echo=False)
    E.require(rc == 2 and "--trees 'fast': expected auto, code or table" in err,
              "--trees fast: " + E.describe(rc, out, err))


@suite.check("crafted attributes: exit 1 with a message naming the node and the problem")
def _():
    for tag, mutate, expect in BAD:
        bad(tag, mutate, expect)


sys.exit(suite.finish())
