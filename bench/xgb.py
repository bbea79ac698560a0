#!/usr/bin/python3
"""bench/xgb.py: an XGBoost model three ways, single-threaded, same inputs:
kiln (the JSON compiled with `kiln compile --emit obj`, linked into
kiln_bench.c, in-process), XGBoost's own predict (Booster.inplace_predict,
and predict on a DMatrix built per call, nthread=1) and ONNX Runtime
(onnxruntime-node, intraOpNumThreads=1) on the same model converted to an
ONNX TreeEnsembleClassifier by samples/credit-risk/xgb_to_onnx.py.

    /usr/bin/python3 bench/xgb.py [--kiln build/kiln] [--rounds 5]

Models: binary:logistic on 20 features uniform in [-1, 1) (seeded), 100
trees of depth 6 and 500 trees of depth 8 (the issue's sizes). Inputs:
the generator kiln_bench.c and ort_bench.js share, so all three see the same
rows. Batches 1 and 1024. Each round runs kiln, ORT and XGBoost one after
the other; the table gives the median over rounds of each run's median
latency (µs per call) and the ratios (> 1: kiln is faster). kiln is "n/a"
while it cannot compile the model (its message is printed). Not a test:
nothing fails on a time.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import xgboost as xgb

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "samples", "credit-risk"))
from xgb_to_onnx import xgb_json_to_onnx  # noqa: E402

F = 20


def lcg_inputs(n):
    """kiln_bench.c's and ort_bench.js's inputs: seed 12345, x = ((seed >> 8) & 0xffff) / 32768 - 1."""
    out = np.empty(n, dtype=np.float32)
    seed = 12345
    for k in range(n):
        seed = (seed * 1103515245 + 12345) & 0xFFFFFFFF
        out[k] = ((seed >> 8) & 0xFFFF) / 32768.0 - 1.0
    return out


def train(work, trees, depth):
    path = os.path.join(work, f"xgb_{trees}x{depth}.json")
    if os.path.exists(path):
        return path
    rng = np.random.default_rng(trees * 100 + depth)
    x = rng.uniform(-1, 1, size=(20000, F)).astype(np.float32)
    z = x[:, 0] * x[:, 1] + np.sin(3 * x[:, 2]) + x[:, 3] ** 2 - 0.5 * x[:, 4] + 0.3 * rng.normal(size=len(x))
    bst = xgb.train({"objective": "binary:logistic", "max_depth": depth, "eta": 0.1, "nthread": 2,
                     "seed": 0, "tree_method": "hist"},
                    xgb.DMatrix(x, label=(z > 0.3).astype(int)), num_boost_round=trees)
    bst.save_model(path)
    return path


def median_of(cmd, env=None):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()[:300]}")
    return json.loads(r.stdout.strip().splitlines()[-1].replace('"median_us":', '"median_us": '))["median_us"]


def xgb_median(bst, x, iters, dmatrix):
    t = []
    for i in range(iters + 10):
        t0 = time.perf_counter_ns()
        if dmatrix:
            bst.predict(xgb.DMatrix(x, nthread=1))
        else:
            bst.inplace_predict(x)
        if i >= 10:
            t.append((time.perf_counter_ns() - t0) / 1e3)
    return statistics.median(t)


def main():
    ap = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    ap.add_argument("--kiln", default=os.path.join(ROOT, "build", "kiln"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--work", default=os.path.join(ROOT, "build", "bench"))
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    import onnx
    node_env = dict(os.environ, NODE_PATH=os.path.join(HERE, "node_modules"))
    have_ort = os.path.isdir(os.path.join(HERE, "node_modules", "onnxruntime-node"))
    print(f"xgboost {xgb.__version__}, {args.rounds} rounds, one thread each; µs per call (median)")
    rows = []
    for trees, depth in ((100, 6), (500, 8)):
        path = train(args.work, trees, depth)
        stem = os.path.splitext(os.path.basename(path))[0]
        onnx_path = os.path.join(args.work, stem + ".onnx")
        onnx.save(xgb_json_to_onnx(path), onnx_path)
        bench_exe = os.path.join(args.work, stem + ".bench")
        r = subprocess.run([args.kiln, "compile", path, "--emit", "obj", "-o", bench_exe + ".o"],
                           capture_output=True, text=True)
        t_compile = None
        if r.returncode == 0:
            t0 = time.time()
            subprocess.run([args.kiln, "compile", path, "--emit", "obj", "-o", bench_exe + ".o"], check=True)
            t_compile = time.time() - t0
            # --emit obj exports kiln_model_<name>; kiln_bench.c reads kiln_model.
            subprocess.run(["cc", "-O2", "-I" + os.path.join(ROOT, "runtime"), f"-Dkiln_model=kiln_model_{stem}",
                            os.path.join(HERE, "kiln_bench.c"), bench_exe + ".o", "-lm", "-o", bench_exe],
                           check=True)
        else:
            print(f"{stem}: kiln: {r.stderr.strip().splitlines()[0][:200]}")
            bench_exe = None
        bst = xgb.Booster()
        bst.load_model(path)
        bst.set_param({"nthread": 1})
        for batch in (1, 1024):
            x = lcg_inputs(batch * F).reshape(batch, F)
            iters = 20000 if batch == 1 else 300
            xiters = 3000 if batch == 1 else 300
            res = {"kiln": [], "ort": [], "xgb_inplace": [], "xgb_dmatrix": []}
            for _ in range(args.rounds):
                if bench_exe:
                    res["kiln"].append(median_of([bench_exe, str(batch), str(iters)]))
                if have_ort:
                    res["ort"].append(median_of(["node", os.path.join(HERE, "ort_bench.js"), onnx_path,
                                                 str(batch), str(iters), "1"], env=node_env))
                res["xgb_inplace"].append(xgb_median(bst, x, xiters, False))
                res["xgb_dmatrix"].append(xgb_median(bst, x, xiters, True))
            med = {k: statistics.median(v) if v else None for k, v in res.items()}
            rows.append((stem, batch, med, t_compile))
    print("\n| model | batch | kiln µs | ORT µs | XGBoost inplace µs | XGBoost DMatrix µs "
          "| ORT/kiln | XGB inplace/kiln | XGB inplace/ORT |")
    print("|---|---|---|---|---|---|---|---|---|")
    fmt = lambda v: "n/a" if v is None else f"{v:.2f}"  # noqa: E731
    ratio = lambda a, b: "n/a" if a is None or b is None else f"{a / b:.2f}"  # noqa: E731
    for stem, batch, m, _ in rows:
        print(f"| {stem} | {batch} | {fmt(m['kiln'])} | {fmt(m['ort'])} | {fmt(m['xgb_inplace'])} | "
              f"{fmt(m['xgb_dmatrix'])} | {ratio(m['ort'], m['kiln'])} | {ratio(m['xgb_inplace'], m['kiln'])} "
              f"| {ratio(m['xgb_inplace'], m['ort'])} |")
    for stem, _, _, tc in rows[::2]:
        print(f"{stem}: kiln compile --emit obj {'n/a' if tc is None else f'{tc:.2f} s'}")


if __name__ == "__main__":
    main()
