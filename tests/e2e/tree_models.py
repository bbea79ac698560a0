"""tree_models.py: TreeEnsemble models for tests/e2e/test_trees.py and bench/trees.py.

- ensemble(...): a seeded random ensemble of complete trees (or any shape
  given as lists), as the attribute dict of a TreeEnsembleClassifier or
  TreeEnsembleRegressor node.
- model(op, attrs, n_features, ...): the one-node ai.onnx.ml model around it.
- big_model(seed, n_trees, depth, n_features, missing): the same for a
  large regressor of complete trees, built with numpy (10,000 trees of
  depth 8 in seconds), for compile-time benchmarks and tests.
- Ort: runs a model in ONNX Runtime through onnxruntime-node (bench/ or
  tests/ node_modules), the reference kiln did not write; None if absent.
"""
import json
import os
import struct
import subprocess
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper

ML_OPSET = 3


def complete_tree(rng, depth, n_features, modes=("BRANCH_LEQ",), missing=None, cats=None):
    """One complete tree of `depth` as node lists (BFS numbering: node i's
    children are 2i+1, 2i+2). missing: None (attribute absent), or a
    probability that a branch sends NaN to its true child. cats: for
    BRANCH_EQ/NEQ nodes, thresholds are drawn from range(cats)."""
    n = 2 ** (depth + 1) - 1
    n_branch = 2 ** depth - 1
    t = {
        "nodeids": list(range(n)),
        "featureids": [int(f) for f in rng.integers(0, n_features, n_branch)] + [0] * (n - n_branch),
        "modes": [str(m) for m in rng.choice(modes, n_branch)] + ["LEAF"] * (n - n_branch),
        "truenodeids": [2 * i + 1 for i in range(n_branch)] + [0] * (n - n_branch),
        "falsenodeids": [2 * i + 2 for i in range(n_branch)] + [0] * (n - n_branch),
    }
    vals = rng.uniform(-1, 1, n_branch).astype(np.float32)
    if cats:
        eq = np.isin(np.array(t["modes"][:n_branch]), ["BRANCH_EQ", "BRANCH_NEQ"])
        vals = np.where(eq, rng.integers(0, cats, n_branch).astype(np.float32), vals)
    t["values"] = [float(v) for v in vals] + [0.0] * (n - n_branch)
    if missing is not None:
        t["missing"] = [int(v) for v in (rng.random(n_branch) < missing)] + [0] * (n - n_branch)
    t["leaves"] = list(range(n_branch, n))
    return t


def ensemble(seed, n_trees, depth, n_features, n_targets=1, classifier=False, modes=("BRANCH_LEQ",),
             missing=None, weights_per_leaf=1, positive=False, cats=None, one_id=None, trees=None):
    """Attributes of a random ensemble. Each leaf gets weights_per_leaf
    weights for random targets (or all targets if weights_per_leaf is
    "all"; the single id one_id if given). trees: prebuilt tree dicts."""
    rng = np.random.default_rng(seed)
    trees = trees or [complete_tree(rng, depth, n_features, modes, missing, cats)
                      for _ in range(n_trees)]
    a = {k: [] for k in ("treeids", "nodeids", "featureids", "modes", "values", "truenodeids",
                         "falsenodeids")}
    has_missing = any("missing" in t for t in trees)
    if has_missing:
        a["missing_value_tracks_true"] = []
    w = {k: [] for k in ("treeids", "nodeids", "ids", "weights")}
    for tid, t in enumerate(trees):
        n = len(t["nodeids"])
        a["treeids"] += [tid] * n
        for k in ("nodeids", "featureids", "modes", "values", "truenodeids", "falsenodeids"):
            a[k] += t[k]
        if has_missing:
            a["missing_value_tracks_true"] += t.get("missing", [0] * n)
        for leaf in t["leaves"]:
            if one_id is not None:
                ids = [one_id]
            elif weights_per_leaf == "all":
                ids = list(range(n_targets))
            else:
                ids = [int(i) for i in rng.integers(0, n_targets, weights_per_leaf)]
            for i in ids:
                v = float(rng.uniform(0, 1) if positive else rng.normal())
                w["treeids"].append(tid)
                w["nodeids"].append(t["nodeids"][leaf])
                w["ids"].append(i)
                w["weights"].append(v)
    prefix = "class" if classifier else "target"
    attrs = {"nodes_" + k: v for k, v in a.items()}
    attrs.update({f"{prefix}_{k}": v for k, v in w.items()})
    if classifier:
        attrs["classlabels_int64s"] = list(range(n_targets))
    else:
        attrs["n_targets"] = n_targets
    return attrs


def model(op, attrs, n_features, in_type=TensorProto.FLOAT, name="trees", n_rows="N"):
    """The one-node model: input `input` [n_rows, n_features]; outputs
    `label`, `probabilities` (classifier) or `prediction` (regressor)."""
    classifier = op == "TreeEnsembleClassifier"
    if classifier:
        n = len(attrs.get("classlabels_int64s") or attrs.get("classlabels_strings"))
        lt = TensorProto.STRING if "classlabels_strings" in attrs else TensorProto.INT64
        outs = [helper.make_tensor_value_info("label", lt, [n_rows]),
                helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [n_rows, n])]
    else:
        outs = [helper.make_tensor_value_info("prediction", TensorProto.FLOAT,
                                              [n_rows, attrs.get("n_targets", 1)])]
    node = helper.make_node(op, ["input"], [o.name for o in outs], name=name, domain="ai.onnx.ml",
                            **attrs)
    g = helper.make_graph([node], name, [helper.make_tensor_value_info("input", in_type,
                                                                       [n_rows, n_features])], outs)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17),
                                            helper.make_opsetid("ai.onnx.ml", ML_OPSET)])
    m.ir_version = 8
    return m


def model_many(nodes, n_features, in_type=TensorProto.FLOAT, n_rows="N"):
    """One model of several ensembles over the same input: nodes is
    [(tag, op, attrs)]; node `tag`'s outputs are `tag.label` and
    `tag.probabilities`, or `tag.prediction`."""
    ns, outs = [], []
    for tag, op, attrs in nodes:
        one = model(op, attrs, n_features, in_type, name=tag, n_rows=n_rows).graph
        for o in one.output:
            o.name = f"{tag}.{o.name}"
        nd = one.node[0]
        for i in range(len(nd.output)):
            nd.output[i] = f"{tag}.{nd.output[i]}"
        ns.append(nd)
        outs += list(one.output)
    g = helper.make_graph(ns, "trees", [helper.make_tensor_value_info("input", in_type,
                                                                      [n_rows, n_features])], outs)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17),
                                            helper.make_opsetid("ai.onnx.ml", ML_OPSET)])
    m.ir_version = 8
    return m


def big_model(seed, n_trees, depth, n_features, missing=0.5):
    """A TreeEnsembleRegressor of n_trees complete trees of `depth` over
    input [N, n_features], BRANCH_LEQ, NaN to the true child with
    probability `missing`; its list attributes are filled from numpy
    arrays (make_node's per-element conversion takes minutes at this size)."""
    rng = np.random.default_rng(seed)
    per, n_branch = 2 ** (depth + 1) - 1, 2 ** depth - 1
    n = n_trees * per
    node = np.tile(np.arange(per, dtype=np.int64), n_trees)
    branch = node < n_branch
    lists = {
        "nodes_treeids": np.repeat(np.arange(n_trees, dtype=np.int64), per),
        "nodes_nodeids": node,
        "nodes_featureids": np.where(branch, rng.integers(0, n_features, n), 0),
        "nodes_truenodeids": np.where(branch, 2 * node + 1, 0),
        "nodes_falsenodeids": np.where(branch, 2 * node + 2, 0),
        "nodes_missing_value_tracks_true": np.where(branch, rng.random(n) < missing, 0).astype(np.int64),
        "target_treeids": np.repeat(np.arange(n_trees, dtype=np.int64), per - n_branch),
        "target_nodeids": np.tile(np.arange(n_branch, per, dtype=np.int64), n_trees),
        "target_ids": np.zeros(n_trees * (per - n_branch), dtype=np.int64),
    }
    floats = {
        "nodes_values": np.where(branch, rng.uniform(-1, 1, n), 0).astype(np.float32),
        "target_weights": (rng.uniform(-1, 1, n_trees * (per - n_branch)) / n_trees).astype(np.float32),
    }
    node_p = helper.make_node("TreeEnsembleRegressor", ["input"], ["prediction"], name="trees",
                              domain="ai.onnx.ml", n_targets=1)
    for k, v in lists.items():
        a = node_p.attribute.add()
        a.name, a.type = k, onnx.AttributeProto.INTS
        a.ints.extend(v.tolist())
    for k, v in floats.items():
        a = node_p.attribute.add()
        a.name, a.type = k, onnx.AttributeProto.FLOATS
        a.floats.extend(v.tolist())
    a = node_p.attribute.add()
    a.name, a.type = "nodes_modes", onnx.AttributeProto.STRINGS
    a.strings.extend([b"BRANCH_LEQ" if b else b"LEAF" for b in branch[:per]] * n_trees)
    g = helper.make_graph([node_p], "trees",
                          [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", n_features])],
                          [helper.make_tensor_value_info("prediction", TensorProto.FLOAT, ["N", 1])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17),
                                            helper.make_opsetid("ai.onnx.ml", ML_OPSET)])
    m.ir_version = 8
    return m


def save(m, path):
    onnx.save(m, path)
    return path


# --- ONNX Runtime, through onnxruntime-node ---------------------------------------------

ORT_JS = r"""
const ort = require(process.argv[2]);
const fs = require('fs');
async function main() {
  const [, , , model, input, dtype, shapeS, out] = process.argv;
  const shape = JSON.parse(shapeS);
  const buf = fs.readFileSync(input);
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length);
  const data = dtype === 'float64' ? new Float64Array(ab) : new Float32Array(ab);
  const s = await ort.InferenceSession.create(model, {intraOpNumThreads: 1, interOpNumThreads: 1});
  const feeds = {}; feeds[s.inputNames[0]] = new ort.Tensor(dtype, data, shape);
  const r = await s.run(feeds);
  const res = {};
  for (const k of Object.keys(r)) {
    const t = r[k];
    let d = Array.from(t.data, v => typeof v === 'bigint' ? Number(v) : v);
    if (t.type === 'float32' || t.type === 'float64') d = d.map(v => Number.isNaN(v) ? 'nan' : v);
    res[k] = {dims: Array.from(t.dims), type: t.type, data: d};
  }
  fs.writeFileSync(out, JSON.stringify(res));
}
main().catch(e => { console.error(String(e)); process.exit(1); });
"""


class Ort:
    """ONNX Runtime via `node`; Ort.find(source_dir) is None if onnxruntime-node
    is not installed under bench/ or tests/."""

    def __init__(self, module, tmp):
        self.module, self.tmp = module, tmp
        self.js = os.path.join(tmp, "ort_run.js")
        with open(self.js, "w") as f:
            f.write(ORT_JS)

    @staticmethod
    def find(source_dir, tmp):
        for d in ("bench", "tests"):
            p = os.path.join(source_dir, d, "node_modules", "onnxruntime-node")
            if os.path.isdir(p) and shutil_which("node"):
                return Ort(p, tmp)
        return None

    def run(self, model_path, x, timeout=120):
        """{output name: array} of the model on x (float32 or float64 [N, F])."""
        x = np.ascontiguousarray(x)
        fd, inp = tempfile.mkstemp(dir=self.tmp, suffix=".bin")
        os.close(fd)
        x.tofile(inp)
        out = inp + ".json"
        p = subprocess.run(["node", self.js, self.module, model_path, inp, str(x.dtype),
                            json.dumps(list(x.shape)), out], capture_output=True, text=True,
                           timeout=timeout)
        if p.returncode != 0:
            raise RuntimeError(f"onnxruntime-node failed on {model_path}: {p.stderr[-2000:]}")
        with open(out) as f:
            res = json.load(f)
        os.unlink(inp)
        os.unlink(out)
        arrs = {}
        for k, v in res.items():
            d = v["data"]
            if v["type"].startswith("float"):
                a = np.array([np.nan if e == "nan" else e for e in d], dtype=np.float32)
            elif v["type"] == "string":
                a = np.array(d, dtype=object)
            else:
                a = np.array(d, dtype=np.int64)
            arrs[k] = a.reshape(v["dims"])
        return arrs


def shutil_which(name):
    import shutil
    return shutil.which(name)
