#!/usr/bin/python3
"""End to end for outputs sized by the data (issue 12): torch.nonzero,
boolean-mask indexing x[x > 0] (NonZero then GatherND), torch.unique
(sorted, inverse and counts), torchvision.ops.nms (NonMaxSuppression) and
TopK whose k is an input, each compiled once and served over HTTP.

    /usr/bin/python3 tests/e2e/test_data_dependent.py --kiln BUILD/kiln \
        --build-dir BUILD --source-dir SRC

Each model is a torch export made here (opset 17; the TopK one is written
with onnx.helper, since torch traces k into a constant), with a dynamic
batch. Every request's response must carry the actual shape, which the
data decides, and its values must match torch exactly (integers: indices,
counts) or within rtol 1e-5, atol 1e-6 (floats, which are copies); ONNX
Runtime (tests/e2e/ort_run.js, when onnxruntime-node is installed under
bench/) is run on the same inputs and must agree with torch too. `kiln
inspect` must show each data-dependent size with its bound, the v2
metadata -1 for it, and a k out of range must be a 400 that names K.
Every check prints PASS/FAIL; the last line is "N passed, M failed" and the
exit status is 1 if any failed. Only processes this script started are
ended, by PID; every wait is bounded.
"""
import json
import os
import shutil
import subprocess
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kiln_e2e import (CheckFailed, Server, Suite, compare, describe, parse_args,  # noqa: E402
                      require, run)

RTOL, ATOL = 1e-5, 1e-6
HERE = os.path.dirname(os.path.abspath(__file__))

args = parse_args(__doc__)
suite = Suite("data-dependent")
check = suite.check
TMP = suite.tmp


def ort_usable():
    mod = os.path.join(args.source_dir, "bench", "node_modules", "onnxruntime-node")
    return shutil.which("node") and os.path.isdir(mod)


def ort_run(model, feeds):
    """ONNX Runtime's outputs for each {name: ndarray} of feeds."""
    cmd = ["node", os.path.join(HERE, "ort_run.js"), model]
    dirs = []
    for k, feed in enumerate(feeds):
        d = os.path.join(TMP, f"ort-{os.path.basename(model)}-{k}")
        os.makedirs(d, exist_ok=True)
        paths = []
        for n, a in feed.items():
            p = os.path.join(d, f"in_{n}.npy")
            np.save(p, a)
            paths.append(f"{n}={p}")
        cmd += (["--"] if k else []) + [d] + paths
        dirs.append(d)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    require(p.returncode == 0, f"ort_run.js: exit {p.returncode}: {p.stderr[-800:]}")
    names = json.loads(p.stdout)["outputs"]
    return [{n: np.load(os.path.join(d, n + ".npy")) for n in names} for d in dirs]


def exact_or_close(what, got, want):
    require(got is not None, f"{what}: missing from the response")
    require(list(got.shape) == list(want.shape),
            f"{what}: shape {list(got.shape)}, expected {list(want.shape)}")
    if np.issubdtype(want.dtype, np.integer) or want.dtype == np.bool_:
        require(np.array_equal(got, want), f"{what}: differs: {got.ravel()[:20]} vs "
                                           f"{want.ravel()[:20]}")
    else:
        compare(what, got, want, RTOL, ATOL)


def rng(k):
    return np.random.default_rng(500 + k)


# name -> {"path", "inputs": [names], "outputs": [names], "feeds": [{name: ndarray}],
#          "torch": fn(feed) -> {output: ndarray}}
MODELS = {}


def export(name, module, example, inputs, outputs, dynamic):
    import onnx
    import torch
    path = os.path.join(TMP, name + ".onnx")
    warnings.filterwarnings("ignore")
    torch.onnx.export(module, tuple(torch.from_numpy(a) for a in example), path,
                      opset_version=17, input_names=inputs, output_names=outputs,
                      dynamic_axes=dynamic)
    onnx.checker.check_model(onnx.load(path))
    return path


def torch_fn(module, inputs, outputs):
    def fn(feed):
        import torch
        with torch.no_grad():
            ys = module(*(torch.from_numpy(feed[n]) for n in inputs))
        ys = ys if isinstance(ys, (tuple, list)) else (ys,)
        return {n: y.numpy() for n, y in zip(outputs, ys)}
    return fn


def build_models():
    import torch
    nn = torch.nn

    class NonZero(nn.Module):
        """Downstream of the count: GatherND (x[x > 0]), a Reshape by a constant,
        and one by a shape computed from the count (Shape, Gather, Concat)."""

        def forward(self, x):
            idx = torch.nonzero(x > 0.5)
            return idx, x[x > 0], idx.reshape(-1) * 2, idx.reshape(idx.shape[0], 1, 2) + 1

    class Uniq(nn.Module):
        def forward(self, ids):
            y, inv, cnt = torch.unique(ids, sorted=True, return_inverse=True,
                                       return_counts=True)
            return y, inv, cnt

    def sparse(shape, k):
        x = rng(k).standard_normal(shape).astype(np.float32)
        x[rng(k + 50).random(shape) < 0.4] = 0
        return x

    m = NonZero()
    feeds = [{"x": sparse((2, 6), 1)}, {"x": sparse((5, 6), 2)}, {"x": np.zeros((1, 6), np.float32)},
             {"x": np.ones((3, 6), np.float32)}]
    outs = ["idx", "pos", "flat", "again"]
    MODELS["nonzero"] = dict(path=export("nonzero", m, [feeds[0]["x"]], ["x"], outs,
                                         {"x": {0: "batch"}}),
                             inputs=["x"], outputs=outs, feeds=feeds, torch=torch_fn(m, ["x"], outs))
    m = Uniq()
    feeds = [{"ids": rng(k).integers(0, 9, (n,)).astype(np.int64)}
             for k, n in enumerate((12, 1, 40, 7))]
    MODELS["unique"] = dict(path=export("unique", m, [feeds[0]["ids"]], ["ids"],
                                        ["values", "inverse", "counts"], {"ids": {0: "n"}}),
                            inputs=["ids"], outputs=["values", "inverse", "counts"], feeds=feeds,
                            torch=torch_fn(m, ["ids"], ["values", "inverse", "counts"]))
    try:
        import torchvision

        class Nms(nn.Module):
            def forward(self, boxes, scores):
                return torchvision.ops.nms(boxes, scores, 0.4)

        def boxes_of(n, k):
            xy = rng(k).random((n, 2)).astype(np.float32) * 20
            wh = rng(k + 9).random((n, 2)).astype(np.float32) * 8 + 1
            return np.concatenate([xy, xy + wh], 1), rng(k + 3).random(n).astype(np.float32)

        feeds = [dict(zip(("boxes", "scores"), boxes_of(n, k))) for k, n in enumerate((30, 5, 64))]
        m = Nms()
        MODELS["nms"] = dict(path=export("nms", m, [feeds[0]["boxes"], feeds[0]["scores"]],
                                         ["boxes", "scores"], ["keep"],
                                         {"boxes": {0: "n"}, "scores": {0: "n"}}),
                             inputs=["boxes", "scores"], outputs=["keep"], feeds=feeds,
                             torch=torch_fn(m, ["boxes", "scores"], ["keep"]))
    except ImportError:
        print("note: torchvision is not installed: no NMS model")


def topk_model():
    """TopK of [batch, 10] with k a graph input, and the indices gathered back."""
    import onnx
    from onnx import TensorProto, helper
    g = helper.make_graph(
        [helper.make_node("TopK", ["x", "k"], ["values", "indices"], name="topk", axis=1),
         helper.make_node("GatherElements", ["x", "indices"], ["again"], name="gather", axis=1)],
        "topk",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 10]),
         helper.make_tensor_value_info("k", TensorProto.INT64, [1])],
        [helper.make_tensor_value_info(n, t, None) for n, t in
         (("values", TensorProto.FLOAT), ("indices", TensorProto.INT64),
          ("again", TensorProto.FLOAT))])
    path = os.path.join(TMP, "topk.onnx")
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)

    def fn(feed):
        import torch
        v, i = torch.topk(torch.from_numpy(feed["x"]), int(feed["k"][0]), dim=1)
        return {"values": v.numpy(), "indices": i.numpy(), "again": v.numpy()}
    feeds = [{"x": rng(k).standard_normal((b, 10)).astype(np.float32),
              "k": np.array([kk], np.int64)} for k, (b, kk) in enumerate(((2, 3), (1, 10), (4, 0),
                                                                           (3, 1)))]
    MODELS["topk"] = dict(path=path, inputs=["x", "k"], outputs=["values", "indices", "again"],
                          feeds=feeds, torch=fn)


def compile_model(name):
    exe = os.path.join(TMP, name)
    rc, out, err = run([args.kiln, "compile", MODELS[name]["path"], "-o", exe, "--name", name],
                       timeout=300)
    require(rc == 0, f"kiln compile {name}: " + describe(rc, out, err))
    return exe


try:
    @check("torch exports of nonzero (reshaped after), x[x > 0], unique and torchvision nms pass onnx.checker; "
           "the TopK model with k an input too")
    def _():
        build_models()
        topk_model()

    if not MODELS:
        raise CheckFailed("no models: cannot go on")

    for name in list(MODELS):
        @check(f"{name}: compiled once, served at several batches; each response has the "
               f"shape the data gives and matches torch")
        def _():
            mdl = MODELS[name]
            srv = Server(compile_model(name), "--workers", "1")
            try:
                for k, feed in enumerate(mdl["feeds"]):
                    want = mdl["torch"](feed)
                    r, got = srv.client.infer(name, feed)
                    require(r.status == 200, f"{name} case {k}: status {r.status}: {r.body[:300]!r}")
                    for n, w in want.items():
                        shape = [o["shape"] for o in r.json()["outputs"] if o["name"] == n]
                        require(shape == [list(w.shape)],
                                f"{name} case {k} {n}: response shape {shape}, torch {list(w.shape)}")
                        exact_or_close(f"{name} case {k} {n}", got[n].reshape(shape[0]), w)
                    # binary outputs carry the actual size too
                    r, got = srv.client.infer(name, feed, binary_outputs=True)
                    require(r.status == 200, f"{name} case {k} binary: status {r.status}")
                    for n, w in want.items():
                        exact_or_close(f"{name} case {k} {n} (binary)", got[n], w)
            finally:
                srv.stop()

        @check(f"{name}: ONNX Runtime agrees with torch on the same inputs")
        def _():
            if not ort_usable():
                print("        (skipped: node or bench/node_modules/onnxruntime-node missing)")
                return
            mdl = MODELS[name]
            for k, (feed, got) in enumerate(zip(mdl["feeds"], ort_run(mdl["path"], mdl["feeds"]))):
                for n, w in mdl["torch"](feed).items():
                    exact_or_close(f"ORT {name} case {k} {n}", got[n], w)

    @check("kiln inspect shows each data-dependent size with its bound; the v2 metadata has -1")
    def _():
        rc, out, err = run([args.kiln, "inspect", MODELS["nonzero"]["path"]], timeout=60)
        require(rc == 0, "kiln inspect: " + describe(rc, out, err))
        require("by data    nonzero_1 <= batch*6 (max 24576)" in out, f"inspect: {out}")
        rc, out, err = run([args.kiln, "inspect", "--json", MODELS["unique"]["path"]], timeout=60)
        require(rc == 0, "kiln inspect --json: " + describe(rc, out, err))
        dd = json.loads(out)["data_dependent"]
        require(dd == [{"name": "unique_1", "max": 4096, "bound": "n"}], f"data_dependent: {dd}")
        srv = Server(os.path.join(TMP, "unique"), "--workers", "1")
        try:
            r = srv.client.get("/v2/models/unique")
            outs = {o["name"]: o["shape"] for o in r.json()["outputs"]}
            require(outs == {"values": [-1], "inverse": [-1], "counts": [-1]}, f"metadata: {outs}")
        finally:
            srv.stop()

    @check("topk: k above the axis's length or below 0 is a 400 that names K")
    def _():
        srv = Server(os.path.join(TMP, "topk"), "--workers", "1")
        try:
            x = rng(1).standard_normal((2, 10)).astype(np.float32)
            for k in (11, -1):
                r, _ = srv.client.infer("topk", {"x": x, "k": np.array([k], np.int64)})
                msg = r.json().get("error", "") if r.status == 400 else ""
                require(r.status == 400 and "input 'k'" in msg and f"is {k}, not in [0, 10]" in msg,
                        f"k={k}: status {r.status}: {r.body[:300]!r}")
            r, _ = srv.client.infer("topk", {"x": x, "k": np.array([4], np.int64)})
            require(r.status == 200, f"after the 400s: status {r.status}")
        finally:
            srv.stop()
    @check("two sizes computed by different nodes that must be equal: a clear compile error "
           "(exit 1) naming the node")
    def _():
        import onnx
        from onnx import TensorProto, helper
        g = helper.make_graph(
            [helper.make_node("Compress", ["x", "a"], ["xa"], name="pick_a", axis=0),
             helper.make_node("Compress", ["x", "b"], ["xb"], name="pick_b", axis=0),
             helper.make_node("Add", ["xa", "xb"], ["y"], name="add")],
            "two_masks",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [8]),
             helper.make_tensor_value_info("a", TensorProto.BOOL, [8]),
             helper.make_tensor_value_info("b", TensorProto.BOOL, [8])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
        path = os.path.join(TMP, "two_masks.onnx")
        onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
        rc, out, err = run([args.kiln, "compile", path, "-o", os.path.join(TMP, "two_masks")],
                           timeout=120)
        require(rc == 1 and "node 'add' (Add)" in err and "computes at run time" in err,
                "kiln compile: " + describe(rc, out, err))
except CheckFailed as e:
    suite.record("setup", False, str(e))

sys.exit(suite.finish())
