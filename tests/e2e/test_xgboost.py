#!/usr/bin/python3
"""XGBoost JSON models through kiln (frontends/xgboost/xgb_import.c),
checked against XGBoost's own predictions and ONNX Runtime.

    /usr/bin/python3 tests/e2e/test_xgboost.py --kiln BUILD/kiln \
        --build-dir BUILD --source-dir SRC

Seeded synthetic data (600 rows, 6 features, 15% NaN) trains one model per
objective kiln takes (binary:logistic, multi:softprob, multi:softmax,
reg:squarederror, reg:logistic), a dart booster and a boosted forest
(num_parallel_tree 4), 12 rounds of depth 4,
saved with save_model("*.json"). Checks:

  1. the same mapping written in python (samples/credit-risk/xgb_to_onnx.py)
     as an ONNX TreeEnsemble model, run by ONNX Runtime (onnxruntime-node
     under bench/node_modules; skipped if absent), matches xgboost's
     predict within 1e-5, labels exactly;
  2. kiln's IR after import (`kiln compile --dump-after=import`) has exactly
     that mapping's op, attributes, inputs and outputs;
  3. crafted JSON (wrong types, lengths that disagree, children out of
     range, cycles, huge counts, deep nesting, unsupported objectives and
     boosters, categorical splits) exits 1 naming the file and the field;
  4. once kiln compiles tree ensembles (`kiln check` passes), `kiln run`,
     `OUT predict` and `OUT serve` (binary tensors, NaN features) match
     xgboost's predict / predict_proba within 1e-5, labels exactly.
     Skipped while `kiln check` reports the op as unsupported.

reg:logistic becomes a TreeEnsembleRegressor (post_transform NONE) and a
Sigmoid: ONNX Runtime 1.30 ignores post_transform LOGISTIC on a one-target
TreeEnsembleRegressor (it applies only PROBIT there).
"""
import copy
import json
import os
import re
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kiln_e2e import (Server, Suite, compare, describe, parse_args, require, run,  # noqa: E402
                      write_json)

args = parse_args(__doc__)
KILN = args.kiln
sys.path.insert(0, os.path.join(args.source_dir, "samples", "credit-risk"))
from xgb_to_onnx import xgb_json_attributes, xgb_json_to_onnx  # noqa: E402

import xgboost as xgb  # noqa: E402

suite = Suite("xgboost")
TMP = suite.tmp
TOL = 1e-5
ORT_MODULES = os.path.join(args.source_dir, "bench", "node_modules")
ORT_RUN = os.path.join(args.source_dir, "tests", "e2e", "ort_rows.js")

rng = np.random.default_rng(20261201)
N, F = 600, 6
X = rng.normal(size=(N, F)).astype(np.float32)
X[rng.random(X.shape) < 0.15] = np.nan
z = np.nan_to_num(X[:, 0]) + 0.5 * np.nan_to_num(X[:, 1]) - np.isnan(X[:, 2]) + 0.3 * rng.normal(size=N)
Y = {"binary": (z > 0).astype(int), "multi": np.digitize(z, [-0.5, 0.5]), "reg": z,
     "prob": 1 / (1 + np.exp(-z))}
CASES = {  # name: (params, labels)
    "binary": ({"objective": "binary:logistic"}, "binary"),
    "softprob": ({"objective": "multi:softprob", "num_class": 3}, "multi"),
    "softmax": ({"objective": "multi:softmax", "num_class": 3}, "multi"),
    "squarederror": ({"objective": "reg:squarederror", "base_score": 0.25}, "reg"),
    "reglogistic": ({"objective": "reg:logistic"}, "prob"),
    "dart": ({"objective": "binary:logistic", "booster": "dart", "rate_drop": 0.2}, "binary"),
    "forest": ({"objective": "binary:logistic", "num_parallel_tree": 4, "subsample": 0.8,
                "colsample_bynode": 0.8}, "binary"),  # trees of a round are summed too
}
XT = X[:200].copy()
XT[0, :] = np.nan  # a row with every feature missing
MODELS = {}


def expected(name, bst, x):
    """What xgboost says for rows x: {output name: array}."""
    obj = CASES[name][0]["objective"]
    dm = xgb.DMatrix(x, missing=np.nan)
    p = bst.predict(dm)
    if obj == "binary:logistic":
        return {"label": (p > 0.5).astype(np.int64), "probabilities": np.stack([1 - p, p], 1)}
    if obj == "multi:softprob":
        return {"label": p.argmax(1).astype(np.int64), "probabilities": p}
    if obj == "multi:softmax":  # predict gives labels; probabilities are softmax of the margins
        m = bst.predict(dm, output_margin=True)
        e = np.exp(m - m.max(1, keepdims=True))
        return {"label": p.astype(np.int64), "probabilities": e / e.sum(1, keepdims=True)}
    return {"prediction": p.reshape(-1, 1)}


def train():
    for name, (params, ykey) in CASES.items():
        p = {"max_depth": 4, "eta": 0.3, "nthread": 1, "seed": 0, **params}
        bst = xgb.train(p, xgb.DMatrix(X, label=Y[ykey], missing=np.nan), num_boost_round=12)
        path = os.path.join(TMP, f"{name}.json")
        bst.save_model(path)
        MODELS[name] = (path, bst)


def compare_outputs(what, got, want):
    for k, w in want.items():
        require(k in got, f"{what}: no output {k!r} (got {sorted(got)})")
        g = np.asarray(got[k])
        if k == "label":
            require(g.shape == w.shape, f"{what}: label shape {list(g.shape)}, expected {list(w.shape)}")
            bad = np.flatnonzero(g != w)
            require(bad.size == 0, f"{what}: {bad.size} labels differ, first row {bad[:1].tolist()}: "
                                   f"got {g[bad[:1]].tolist()}, expected {w[bad[:1]].tolist()}")
            print(f"        {what}: {g.size} labels equal")
        else:
            compare(f"{what} {k}", g.astype(np.float32), w.astype(np.float32), rtol=0, atol=TOL)


def ort_run(model_path, x, prefix):
    xin = prefix + ".in.f32"
    np.ascontiguousarray(x, dtype=np.float32).tofile(xin)
    env = dict(os.environ, NODE_PATH=ORT_MODULES)
    rc, out, err = run(["node", ORT_RUN, model_path, "input", str(x.shape[0]), str(x.shape[1]), xin,
                        prefix], timeout=120, env=env, echo=False)
    require(rc == 0, "ort_rows.js: " + describe(rc, out, err))
    with open(prefix + ".json") as f:
        meta = json.load(f)
    return {k: np.fromfile(f"{prefix}.{k}.bin", dtype=np.int64 if v["type"] == "int64" else np.float32)
            .reshape(v["dims"]) for k, v in meta.items()}


def check_ort():
    """1. the python mapping as ONNX, run by ONNX Runtime, matches xgboost."""
    import onnx
    if not os.path.isdir(os.path.join(ORT_MODULES, "onnxruntime-node")) or not shutil.which("node"):
        print(f"        SKIP: no onnxruntime-node under {ORT_MODULES} (bench/run.sh installs it)")
        return
    for name, (path, bst) in MODELS.items():
        m = xgb_json_to_onnx(path)
        onnx.checker.check_model(m)
        onnx_path = path[:-5] + ".onnx"
        onnx.save(m, onnx_path)
        got = ort_run(onnx_path, XT, os.path.join(TMP, "ort_" + name))
        compare_outputs(f"ORT {name}", got, expected(name, bst, XT))


# --- the IR text (ir.h) ---------------------------------------------------------------------


def split_top(s):
    """s split at the commas outside brackets and quotes."""
    parts, depth, quote, cur = [], 0, False, ""
    for i, ch in enumerate(s):
        if quote:
            cur += ch
            if ch == '"' and s[i - 1] != "\\":
                quote = False
            continue
        if ch == '"':
            quote = True
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
            continue
        cur += ch
    if cur.strip():
        parts.append(cur.strip())
    return parts


def ir_scalar(tok):
    if tok.startswith('"'):
        return json.loads(tok)
    if re.fullmatch(r"-?\d+", tok):
        return int(tok)
    return float(tok)


def ir_node(text):
    """(op, outputs, inputs, attributes) of the one tree-ensemble node line in the dump."""
    lines = [ln for ln in text.splitlines() if " = TreeEnsemble" in ln]
    require(len(lines) == 1, f"the dump has {len(lines)} tree nodes, expected 1:\n{text[:2000]}")
    ln = lines[0]
    m = re.match(r"\s*(.*?) = (\w+) '([^']*)' \(([^)]*)\) \{(.*)\}\s*$", ln)
    require(m, f"cannot read the node line: {ln[:300]}")
    outs = [o.split(":")[0].strip().lstrip("%") for o in split_top(m.group(1))]
    ins = [i.strip().lstrip("%") for i in m.group(4).split(",")]
    attrs = {}
    for part in split_top(m.group(5)):
        k, v = part.split("=", 1)
        attrs[k] = [ir_scalar(t) for t in split_top(v[1:-1])] if v.startswith("[") else ir_scalar(v)
    return m.group(2), outs, ins, attrs, text


def kiln_import(path):
    rc, out, err = run([KILN, "compile", path, "-o", os.path.join(TMP, "unused"),
                        "--dump-after=import"], timeout=120, echo=False)
    require("graph " in out, "kiln compile --dump-after=import printed no graph: " + describe(rc, out, err))
    return ir_node(out)


def check_ir():
    """2. kiln's IR after import equals the python mapping, attribute by attribute."""
    for name, (path, _) in MODELS.items():
        op, outs, ins, attrs, text = kiln_import(path)
        want_op, want, nf, k, sigmoid = xgb_json_attributes(path)
        require(op == want_op, f"{name}: op {op}, expected {want_op}")
        want_outs = (["label", "probabilities"] if op == "TreeEnsembleClassifier" else
                     ["margin"] if sigmoid else ["prediction"])
        if sigmoid:
            require("%prediction: f32[batch,1] = Sigmoid 'sigmoid' (%margin)" in text,
                    f"{name}: no Sigmoid after the trees:\n{text[:300]}")
        require(outs == want_outs and ins == ["input"], f"{name}: {outs} = {op}({ins}), expected "
                                                        f"{want_outs} = {op}(['input'])")
        require(f"input  %input: f32[batch,{nf}]" in text, f"{name}: the input is not f32[batch,{nf}]:\n{text[:300]}")
        require(sorted(attrs) == sorted(want), f"{name}: attributes {sorted(attrs)}, expected {sorted(want)}")
        for a, w in want.items():
            g = attrs[a]
            if isinstance(w, list) and w and isinstance(w[0], float):
                same = len(g) == len(w) and np.array_equal(np.float32(g), np.float32(w))
            else:
                same = g == w
            require(same, f"{name}: attribute {a}: kiln {str(g)[:200]}, expected {str(w)[:200]}")
        print(f"        {name}: {op}, {len(attrs)} attributes, {len(want['nodes_nodeids'])} nodes equal")


# --- crafted files ----------------------------------------------------------------------------


def crafted_cases():
    """(what, file bytes or JSON object, the field the message must name)."""
    with open(MODELS["binary"][0]) as f:
        base = json.load(f)

    def mut(fn):
        j = copy.deepcopy(base)
        fn(j)
        return j

    def tree(j, i=0):
        return j["learner"]["gradient_booster"]["model"]["trees"][i]

    def set_(path, v):
        def fn(j):
            o = j
            for p in path[:-1]:
                o = o[p]
            o[path[-1]] = v
        return fn

    L = ["learner"]
    GM = L + ["gradient_booster", "model"]
    T0 = GM + ["trees", 0]
    n0 = len(tree(base)["left_children"])
    internal = [i for i, c in enumerate(tree(base)["left_children"]) if c >= 0]

    def cycle(j):
        t = tree(j)
        t["left_children"][internal[-1]] = 0  # back to the root

    def shared(j):
        t = tree(j)
        t["right_children"][0] = t["left_children"][0]

    def one_child(j):
        tree(j)["right_children"][internal[0]] = -1

    def deep(n):
        return ("[" * n + "]" * n).encode()

    return [
        ("not JSON", b"{\"learner\": ", "not valid JSON"),
        ("a NaN literal", json.dumps(base).replace('"base_score": "5E-1"', '"base_score": NaN').encode(),
         "not valid JSON"),
        ("JSON nested 100000 deep", b'{"learner": ' + deep(100000) + b"}", "not valid JSON"),
        ("duplicate keys", b'{"learner": {}, "learner": {}}', "not valid JSON"),
        ("the top level an array", b"[1, 2]", None),
        ("learner a string", mut(set_(L, "x")), "learner: is a string"),
        ("no version", mut(lambda j: j.pop("version")), "version: missing"),
        ("version 9", mut(set_(["version"], [9, 0, 0])), "version[0]"),
        ("objective rank:pairwise", mut(set_(L + ["objective", "name"], "rank:pairwise")),
         "learner.objective.name"),
        ("booster gblinear", mut(set_(L + ["gradient_booster", "name"], "gblinear")),
         "learner.gradient_booster.name"),
        ("num_feature huge", mut(set_(L + ["learner_model_param", "num_feature"], "99999999999999")),
         "learner.learner_model_param.num_feature"),
        ("num_feature not a number", mut(set_(L + ["learner_model_param", "num_feature"], "6x")),
         "learner.learner_model_param.num_feature"),
        ("base_score 1 for a logistic objective", mut(set_(L + ["learner_model_param", "base_score"], "1")),
         "learner.learner_model_param.base_score"),
        ("num_class 3 for binary:logistic", mut(set_(L + ["learner_model_param", "num_class"], "3")),
         "learner.learner_model_param.num_class"),
        ("num_trees disagrees", mut(set_(GM + ["gbtree_model_param", "num_trees"], "13")),
         "learner.gradient_booster.model.trees"),
        ("tree_info too short", mut(lambda j: j["learner"]["gradient_booster"]["model"]["tree_info"].pop()),
         "learner.gradient_booster.model.tree_info"),
        ("tree_info class 5", mut(lambda j: j["learner"]["gradient_booster"]["model"]["tree_info"].__setitem__(0, 5)),
         "learner.gradient_booster.model.tree_info[0]"),
        ("num_nodes huge", mut(set_(T0 + ["tree_param", "num_nodes"], "4000000000")),
         "trees[0].tree_param.num_nodes"),
        ("num_nodes disagrees", mut(set_(T0 + ["tree_param", "num_nodes"], str(n0 + 1))),
         "trees[0].left_children"),
        ("split_conditions shorter", mut(lambda j: tree(j)["split_conditions"].pop()),
         "trees[0].split_conditions"),
        ("left child out of range", mut(lambda j: tree(j)["left_children"].__setitem__(0, n0)),
         "trees[0].left_children[0]"),
        ("left child a string", mut(lambda j: tree(j)["left_children"].__setitem__(0, "1")),
         "trees[0].left_children[0]"),
        ("split value 1e300", mut(lambda j: tree(j)["split_conditions"].__setitem__(0, 1e300)),
         "trees[0].split_conditions[0]"),
        ("feature out of range", mut(lambda j: tree(j)["split_indices"].__setitem__(0, 6)),
         "trees[0].split_indices[0]"),
        ("a cycle", mut(cycle), "trees[0]"),
        ("a shared subtree", mut(shared), "trees[0]"),
        ("a node with one child", mut(one_child), "trees[0]"),
        ("a categorical split", mut(lambda j: tree(j)["split_type"].__setitem__(0, 1)),
         "trees[0].split_type[0]"),
        ("default_left 2", mut(lambda j: tree(j)["default_left"].__setitem__(0, 2)),
         "trees[0].default_left[0]"),
        ("trees an object", mut(set_(GM + ["trees"], {})), "learner.gradient_booster.model.trees"),
    ]


def check_crafted():
    """3. crafted JSON exits 1, naming the file and the field, for compile, check and inspect."""
    for i, (what, body, field) in enumerate(crafted_cases()):
        path = os.path.join(TMP, f"crafted_{i}.json")
        with open(path, "wb") as f:
            f.write(body if isinstance(body, bytes) else json.dumps(body).encode())
        for verb in (["check"], ["inspect"], ["compile", "-o", os.path.join(TMP, "crafted")]):
            rc, out, err = run([KILN, verb[0], path, *verb[1:]], timeout=60, echo=False)
            require(rc == 1, f"{what}: kiln {verb[0]} exit {rc}, expected 1: {err.strip()[:300]}")
            require(path in err, f"{what}: kiln {verb[0]}: stderr does not name {path}: {err.strip()[:300]}")
            require(field is None or field in err,
                    f"{what}: kiln {verb[0]}: stderr does not name {field!r}: {err.strip()[:300]}")
        print(f"        {what}: {err.strip().splitlines()[0][len(TMP) + 1:][:150]}")


# --- compiled ----------------------------------------------------------------------------------


def compiles():
    rc, out, err = run([KILN, "check", MODELS["binary"][0]], timeout=120, echo=False)
    if rc != 0 and "not supported" in err:
        print(f"        SKIP: kiln does not compile tree ensembles yet: {err.strip().splitlines()[0][:160]}")
        return False
    require(rc == 0, "kiln check binary.json: " + describe(rc, out, err))
    return True


def check_compiled():
    """4. kiln run, predict and serve (binary tensors, NaN features) match xgboost."""
    if not compiles():
        return
    xin = os.path.join(TMP, "xt.npy")
    np.save(xin, XT)
    for name, (path, bst) in MODELS.items():
        want = expected(name, bst, XT)
        outdir = os.path.join(TMP, "run_" + name)
        rc, out, err = run([KILN, "run", path, "--input", f"input={xin}", "--out-dir", outdir],
                           timeout=300, echo=False)
        require(rc == 0, f"kiln run {name}: " + describe(rc, out, err))
        compare_outputs(f"kiln run {name}", {k: np.load(os.path.join(outdir, k + ".npy")) for k in want}, want)
        exe = os.path.join(TMP, name)
        rc, out, err = run([KILN, "compile", path, "-o", exe], timeout=300, echo=False)
        require(rc == 0, f"kiln compile {name}: " + describe(rc, out, err))
        # predict: JSON has no NaN, so rows without missing values.
        rows = XT[~np.isnan(XT).any(1)][:32]
        req = write_json(os.path.join(TMP, "req.json"), {"id": "t", "inputs": [
            {"name": "input", "shape": list(rows.shape), "datatype": "FP32",
             "data": [float(v) for v in rows.ravel()]}]})
        rc, out, err = run([exe, "predict", "--input", req], timeout=60, echo=False)
        require(rc == 0, f"predict {name}: " + describe(rc, out, err))
        resp = json.loads(out)
        got = {o["name"]: np.array(o["data"]).reshape(o["shape"]) for o in resp["outputs"]}
        compare_outputs(f"predict {name}", got, expected(name, bst, rows))
        srv = Server(exe)
        try:
            r, outs = srv.client.infer(name, {"input": XT}, binary=True)
            require(r.status == 200, f"serve {name}: status {r.status}: {r.body[:300]!r}")
            compare_outputs(f"serve {name} (binary, NaN)", outs, want)
        finally:
            srv.stop()


CHECKS = [check_ort, check_ir, check_crafted, check_compiled]


def main():
    print(f"kiln {KILN}\nxgboost {xgb.__version__}\ntmp {TMP}")
    train()
    suite.run(CHECKS)
    return suite.finish()


if __name__ == "__main__":
    sys.exit(main())
