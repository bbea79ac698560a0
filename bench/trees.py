"""trees.py: kiln vs ONNX Runtime on TreeEnsemble models, one thread.

usage: /usr/bin/python3 bench/trees.py [--kiln build/kiln] [--rounds 5]

Builds two seeded TreeEnsembleRegressor models with tests/e2e/tree_models.py
(100 trees of depth 6 and 500 trees of depth 8, 32 features, BRANCH_LEQ,
with missing-value tracking), compiles each with `kiln compile --emit obj`,
links it into kiln_bench.c and runs it alternately with ort_bench.js
(onnxruntime-node, intraOpNumThreads=1) on the same inputs, at batch 1 and
1024: kiln, ORT, kiln, ORT, ... for --rounds rounds. Prints the median of
the rounds' medians and ORT time / kiln time (> 1: kiln is faster), and
the compile time of each model.

Then compile time and peak memory (the compiler's maximum resident set
size) of `kiln compile -o EXE` (a service binary, linking included) on
1,000 and 10,000 complete trees of depth 8 (tree_models.big_model; --big
'' skips them).
"""
import argparse
import json
import os
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
sys.path.insert(0, os.path.join(root, "tests", "e2e"))
import tree_models as tm  # noqa: E402


def median(v):
    v = sorted(v)
    return v[len(v) // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kiln", default=os.path.join(root, "build", "kiln"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--work", default=os.path.join(root, "build", "bench-trees"))
    ap.add_argument("--big", default="1000,10000", help="tree counts for the compile-time table")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    print(f"{'model':<18} {'batch':>5} {'kiln_us':>10} {'ort_us':>10} {'ort/kiln':>8}")
    for n_trees, depth in ((100, 6), (500, 8)):
        stem = f"trees{n_trees}_d{depth}"
        onnx_path = tm.save(tm.model("TreeEnsembleRegressor",
                                     tm.ensemble(1, n_trees, depth, 32, missing=0.5), 32),
                            os.path.join(a.work, stem + ".onnx"))
        obj, exe = os.path.join(a.work, stem + ".o"), os.path.join(a.work, stem + ".bench")
        t0 = time.time()
        subprocess.run([a.kiln, "compile", onnx_path, "--emit", "obj", "-o", obj], check=True)
        t_compile = time.time() - t0
        # --emit obj exports kiln_model_<stem>; kiln_bench.c calls kiln_model.
        subprocess.run(["cc", "-O2", f"-Dkiln_model=kiln_model_{stem}", "-I" + os.path.join(root, "runtime"),
                        os.path.join(here, "kiln_bench.c"), obj, "-lm", "-o", exe], check=True)
        for batch in (1, 1024):
            iters = 2000 if batch == 1 else 30
            k, o = [], []
            for _ in range(a.rounds):
                out = subprocess.run([exe, str(batch), str(iters)], check=True,
                                     capture_output=True, text=True).stdout
                k.append(json.loads(out)["median_us"])
                out = subprocess.run(["node", os.path.join(here, "ort_bench.js"), onnx_path,
                                      str(batch), str(iters), "1"], check=True,
                                     capture_output=True, text=True).stdout
                o.append(json.loads(out)["median_us"])
            km, om = median(k), median(o)
            print(f"{stem:<18} {batch:>5} {km:>10.2f} {om:>10.2f} {om / km:>8.2f}", flush=True)
        print(f"{stem:<18} compile (kiln compile --emit obj): {t_compile:.1f} s", flush=True)
    for n_trees in [int(v) for v in a.big.split(",") if v]:
        path = tm.save(tm.big_model(1, n_trees, 8, 32), os.path.join(a.work, f"big{n_trees}.onnx"))
        t0 = time.time()
        p = subprocess.Popen([a.kiln, "compile", path, "-o", os.path.join(a.work, f"big{n_trees}")])
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.time() - t0
        if status:
            sys.exit(f"kiln compile of {n_trees} trees failed: {status}")
        mb = os.path.getsize(path) / 1e6
        print(f"{n_trees} trees of depth 8 ({mb:.0f} MB of ONNX): kiln compile {wall:.1f} s, "
              f"peak RSS {ru.ru_maxrss / 1024:.0f} MB", flush=True)


if __name__ == "__main__":
    main()
