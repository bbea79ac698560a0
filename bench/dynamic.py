#!/usr/bin/python3
"""bench/dynamic.py: what dynamic shapes cost at a fixed shape (issue 9).

    /usr/bin/python3 bench/dynamic.py [--kiln build/kiln] [--rounds 5] [--work DIR]

For the text, 1-D CNN and conv net of tests/e2e/dynamic_models.py (exported
into the work dir), at fixed shapes, times three things in the same run,
interleaved (dynamic, pinned, ORT, dynamic, pinned, ORT, ...), each in its
own process, in-process and on one thread:
  dynamic  the model compiled once without --shape (every dim symbolic),
  pinned   the model compiled with --shape NAME=that shape (static),
  ort      ONNX Runtime (bench/ort_bench.js, intraOpNumThreads 1).
kiln runs through bench/kiln_bench.c linked with `kiln compile
--emit obj`. Reports the median of the rounds' medians, the ratios
dynamic/pinned (issue 9 wants <= 1.25) and ORT/dynamic (> 1: kiln is
faster), and for both builds the `kiln compile` wall time and the size of
the service binary. Not a test: nothing fails on a time.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import dynamic_models  # noqa: E402

# (model, {input: shape}); dynamic builds are shared by a model's rows.
CONFIGS = [
    ("text", {"tokens": (1, 128)}),
    ("text", {"tokens": (8, 128)}),
    ("cnn1d", {"signal": (1, 8, 1000)}),
    ("conv2d", {"image": (1, 3, 224, 224)}),
]
TARGET_S = 0.3  # wall time of one timed run, for choosing its iterations


def sh(cmd, timeout=600):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise SystemExit(f"dynamic.py: {' '.join(cmd)}: exit {p.returncode}\n{p.stderr[-2000:]}")
    return p.stdout


def dims(shape):
    return "x".join(str(d) for d in shape)


def shape_args(shapes):
    return [f"{n}={dims(s)}" for n, s in shapes.items()]


class Build:
    """One kiln build of a model: the service binary (timed, sized) and a
    bench program linked from --emit obj."""

    def __init__(self, kiln, model, work, tag, opts):
        stem = os.path.join(work, f"{os.path.basename(model)[:-5]}.{tag}")
        t0 = time.perf_counter()
        sh([kiln, "compile", model, "-o", stem + ".exe", *opts])
        self.compile_s = time.perf_counter() - t0
        self.size = os.path.getsize(stem + ".exe")
        sh([kiln, "compile", model, "--emit", "obj", "-o", stem + ".o", *opts])
        with open(stem + ".h") as f:  # the object's symbol: kiln_model_<name>
            sym = re.search(r"extern const KilnModel (\w+);", f.read()).group(1)
        self.bench = stem + ".bench"
        sh(["cc", "-O2", "-I" + os.path.join(ROOT, "runtime"), f"-Dkiln_model={sym}",
            os.path.join(HERE, "kiln_bench.c"), stem + ".o", "-lm", "-o", self.bench])

    def time(self, shapes, iters):
        batch = next(iter(shapes.values()))[0]
        out = sh([self.bench, str(batch), str(iters), *shape_args(shapes)])
        return float(out.split('"median_us":')[1].split(",")[0])


def ort_time(model, shapes, iters):
    batch = next(iter(shapes.values()))[0]
    out = sh(["node", os.path.join(HERE, "ort_bench.js"), model, str(batch), str(iters), "1",
              *shape_args(shapes)])
    return float(out.split('"median_us":')[1].split(",")[0])


def iters_for(us):
    return max(20, min(20000, int(TARGET_S * 1e6 / max(us, 0.01))))


def main():
    ap = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    ap.add_argument("--kiln", default=os.path.join(ROOT, "build", "kiln"))
    ap.add_argument("--work", default=os.path.join(ROOT, "build", "bench-dynamic"))
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", "5")))
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    if not os.path.isdir(os.path.join(HERE, "node_modules", "onnxruntime-node")):
        subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=HERE, check=True,
                       env=dict(os.environ, ONNXRUNTIME_NODE_INSTALL="skip"),
                       stdout=subprocess.DEVNULL)
    names = sorted({m for m, _ in CONFIGS})
    dynamic_models.export_all(a.work, names, ort=False, log=lambda s: None)

    dyn = {}
    rows = []
    for model, shapes in CONFIGS:
        path = os.path.join(a.work, model + ".onnx")
        if model not in dyn:
            dyn[model] = Build(a.kiln, path, a.work, "dynamic", [])
        tag = "pinned-" + "-".join(dims(s) for s in shapes.values())
        pinned = Build(a.kiln, path, a.work, tag, [o for x in shape_args(shapes) for o in ("--shape", x)])
        # One short run of each to choose the iterations, then the rounds.
        it_k = iters_for(dyn[model].time(shapes, 20))
        it_o = iters_for(ort_time(path, shapes, 20))
        t = {"dynamic": [], "pinned": [], "ort": []}
        for _ in range(a.rounds):
            t["dynamic"].append(dyn[model].time(shapes, it_k))
            t["pinned"].append(pinned.time(shapes, it_k))
            t["ort"].append(ort_time(path, shapes, it_o))
        med = {k: statistics.median(v) for k, v in t.items()}
        rows.append((model, ",".join(dims(s) for s in shapes.values()), med, dyn[model], pinned))
        print(f"# {model} {rows[-1][1]}: " + ", ".join(f"{k} {v}" for k, v in t.items()),
              file=sys.stderr, flush=True)

    print(f"{a.rounds} rounds, one thread; times are medians in microseconds\n")
    print("| model | shape | dynamic µs | pinned µs | ORT µs | dynamic/pinned | ORT/dynamic "
          "| compile s dyn / pinned | binary KB dyn / pinned |")
    print("|---|---|---|---|---|---|---|---|---|")
    for model, shape, med, d, p in rows:
        print(f"| {model} | {shape} | {med['dynamic']:.2f} | {med['pinned']:.2f} | {med['ort']:.2f} "
              f"| {med['dynamic'] / med['pinned']:.3f} | {med['ort'] / med['dynamic']:.2f} "
              f"| {d.compile_s:.2f} / {p.compile_s:.2f} | {d.size // 1024} / {p.size // 1024} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
