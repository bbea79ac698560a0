#!/usr/bin/python3
"""bench/nets.py: issue 11's benchmark table, kiln against ONNX Runtime.

    /usr/bin/python3 bench/nets.py [--kiln build/kiln] [--rounds 5] [--threads 1,2]
                                   [--models a,b] [--work build/bench]

Every model of the set is exported (or copied) into the work dir: the
fraud sample (samples/fraud-detection, batch 1 and 256), the CNN sample
(samples/image-classifier, batch 1), torchvision resnet18, mobilenet_v2,
efficientnet_b0 and squeezenet1_1, a ViT-tiny, a TransformerEncoder text
model (int64 tokens [1, 128]) and a 1024 MatMul ([1024, 1024] input times a
constant [1024, 1024]) -- the torch ones by bench/export_models.py in a
child process (opset 13, batch 1, seeded weights, nothing downloaded).
Each is compiled with `kiln compile --emit obj` (wall time reported) and
linked with bench/kiln_bench.c, then at each thread count timed against
bench/ort_bench.js (onnxruntime-node, intraOpNumThreads = the thread
count) on the same inputs, runs interleaved (kiln, ORT, kiln, ORT, ...),
each in its own process; the median of the rounds' medians, and ORT/kiln
(> 1: kiln is faster). kiln_bench runs its model with KILN_THREADS threads
where it reads that variable; where it does not, kiln runs one thread at
every count and the table says so. Then the geometric mean of ORT/kiln over
the models at batch 1 per thread count, kiln's speed-up from one thread to
more, and this machine's single-core FP32 FMA peak (bench/peak.c, built
with -march=native) with the 1024 MatMul's share of it. --models picks
rows by name (see MODELS; `fraud` is both fraud rows). Prints a markdown
table ready for bench/README.md; progress goes to stderr. Not a test:
nothing fails on a time.
"""
import argparse
import datetime
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TARGET_S = 0.25  # wall time of one timed run, for choosing its iterations

# name: (label, source, batch, input shapes for both benches, FLOPs of one run or 0).
# source "sample:<path>" is a file of the repository; anything else is a
# name bench/export_models.py builds.
MODELS = {
    "fraud_b1": ("fraud MLP (30-64-32-2)", "sample:samples/fraud-detection/fraud.onnx", 1, {}, 0),
    "fraud_b256": ("fraud MLP", "sample:samples/fraud-detection/fraud.onnx", 256, {}, 0),
    "classifier": ("CNN sample (1x32x32)", "sample:samples/image-classifier/classifier.onnx", 1,
                   {}, 0),
    "resnet18": ("resnet18", "resnet18", 1, {}, 0),
    "mobilenet_v2": ("mobilenet_v2", "mobilenet_v2", 1, {}, 0),
    "efficientnet_b0": ("efficientnet_b0", "efficientnet_b0", 1, {}, 0),
    "squeezenet1_1": ("squeezenet1_1", "squeezenet1_1", 1, {}, 0),
    "vit_tiny": ("ViT-tiny (224, patch 16)", "vit_tiny", 1, {}, 0),
    "text_encoder": ("TransformerEncoder text (4x256, seq 128)", "text_encoder", 1,
                     {"tokens": (1, 128)}, 0),
    "matmul1024": ("MatMul 1024x1024x1024", "matmul1024", 1, {}, 2 * 1024**3),
}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def sh(cmd, env=None, timeout=1800):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if p.returncode != 0:
        raise SystemExit(f"nets.py: {' '.join(cmd)}: exit {p.returncode}\n{p.stderr[-2000:]}")
    return p.stdout


def median_us(out):
    return float(re.search(r'"median_us":\s*([0-9.eE+-]+)', out).group(1))


def shape_args(shapes):
    return [f"{n}={'x'.join(str(d) for d in s)}" for n, s in shapes.items()]


def kiln_reads_threads():
    with open(os.path.join(HERE, "kiln_bench.c")) as f:
        return "KILN_THREADS" in f.read()


class Kiln:
    """One model compiled with --emit obj and linked into kiln_bench.c."""

    def __init__(self, kiln, model, work):
        stem = os.path.join(work, os.path.basename(model)[:-5])
        t0 = time.perf_counter()
        sh([kiln, "compile", model, "--emit", "obj", "-o", stem + ".o"])
        self.compile_s = time.perf_counter() - t0
        with open(stem + ".h") as f:  # the object's symbol: kiln_model_<name>
            sym = re.search(r"extern const KilnModel (\w+);", f.read()).group(1)
        self.bench = stem + ".bench"
        sh(["cc", "-O2", "-I" + os.path.join(ROOT, "runtime"), f"-Dkiln_model={sym}",
            os.path.join(HERE, "kiln_bench.c"), stem + ".o", "-lm", "-lpthread", "-o",
            self.bench])

    def time(self, batch, iters, threads, shapes):
        env = dict(os.environ, KILN_THREADS=str(threads))
        return median_us(sh([self.bench, str(batch), str(iters), *shape_args(shapes)], env=env))


def ort_time(model, batch, iters, threads, shapes):
    return median_us(sh(["node", os.path.join(HERE, "ort_bench.js"), model, str(batch),
                         str(iters), str(threads), *shape_args(shapes)]))


def iters_for(us):
    return max(5, min(20000, int(TARGET_S * 1e6 / max(us, 0.01))))


def prepare(names, work):
    """The .onnx path of each model, exporting the torch ones in one child."""
    paths, export = {}, []
    for name in names:
        src = MODELS[name][1]
        if src.startswith("sample:"):
            paths[name] = os.path.join(ROOT, src[len("sample:"):])
        else:
            paths[name] = os.path.join(work, src + ".onnx")
            if not os.path.exists(paths[name]) and src not in export:
                export.append(src)
    if export:
        log(f"# exporting {' '.join(export)} (torch, in a child process)")
        sh(["/usr/bin/python3", os.path.join(HERE, "export_models.py"), work, *export])
    return paths


def peak(work):
    exe = os.path.join(work, "peak")
    sh(["cc", "-O2", "-march=native", os.path.join(HERE, "peak.c"), "-o", exe])
    return json.loads(sh([exe, "1"]))


def cpu_name():
    try:
        out = sh(["lscpu"])
        m = re.search(r"Model name:\s*(.+)", out)
        return m.group(1).strip() if m else "unknown CPU"
    except (OSError, SystemExit):
        return "unknown CPU"


def ort_version():
    try:
        with open(os.path.join(HERE, "node_modules", "onnxruntime-node", "package.json")) as f:
            return json.load(f)["version"]
    except (OSError, ValueError, KeyError):
        return "?"


def geomean(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    ap.add_argument("--kiln", default=os.path.join(ROOT, "build", "kiln"))
    ap.add_argument("--work", default=os.path.join(ROOT, "build", "bench"))
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", "5")))
    ap.add_argument("--threads", default="1,2", help="thread counts, comma-separated")
    ap.add_argument("--models", default="", help="model names, comma-separated (default all)")
    a = ap.parse_args()
    threads = [int(t) for t in a.threads.split(",") if t]
    names = list(MODELS)
    if a.models:
        want = [m for m in a.models.split(",") if m]
        names = [n for n in MODELS if n in want or ("fraud" in want and n.startswith("fraud_"))]
        unknown = [m for m in want if m not in MODELS and m != "fraud"]
        if unknown:
            print(f"nets.py: unknown model(s) {', '.join(unknown)}; known: "
                  f"{', '.join(MODELS)}", file=sys.stderr)
            return 2
    if not threads or any(t < 1 for t in threads) or a.rounds < 1:
        print("nets.py: --threads takes counts >= 1 and --rounds a count >= 1", file=sys.stderr)
        return 2
    if not os.access(a.kiln, os.X_OK):
        print(f"nets.py: {a.kiln}: no kiln binary there; build it (scripts/build.sh build) or "
              "give --kiln", file=sys.stderr)
        return 2
    os.makedirs(a.work, exist_ok=True)
    if not os.path.isdir(os.path.join(HERE, "node_modules", "onnxruntime-node")):
        subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=HERE, check=True,
                       env=dict(os.environ, ONNXRUNTIME_NODE_INSTALL="skip"),
                       stdout=subprocess.DEVNULL)
    paths = prepare(names, a.work)
    threaded = kiln_reads_threads()

    builds, rows = {}, []
    for name in names:
        label, _, batch, shapes, flops = MODELS[name]
        path = paths[name]
        if path not in builds:
            log(f"# compiling {os.path.basename(path)}")
            builds[path] = Kiln(a.kiln, path, a.work)
        k = builds[path]
        for t in threads:
            # One short run of each to choose the iterations, then the rounds.
            it_k = iters_for(k.time(batch, 3, t, shapes))
            it_o = iters_for(ort_time(path, batch, 3, t, shapes))
            kt, ot = [], []
            for _ in range(a.rounds):
                kt.append(k.time(batch, it_k, t, shapes))
                ot.append(ort_time(path, batch, it_o, t, shapes))
            km, om = statistics.median(kt), statistics.median(ot)
            rows.append({"name": name, "label": label, "batch": batch, "threads": t,
                         "kiln_us": km, "ort_us": om, "compile_s": k.compile_s, "flops": flops})
            log(f"# {name} b{batch} t{t}: kiln {km:.2f} us, ORT {om:.2f} us, "
                f"ORT/kiln {om / km:.2f}")

    pk = peak(a.work)
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"{date}, {cpu_name()}, {os.cpu_count()} cores; ONNX Runtime {ort_version()} "
          f"(onnxruntime-node); {a.rounds} interleaved rounds, medians in microseconds.")
    if not threaded:
        print("kiln_bench.c does not read KILN_THREADS yet: kiln runs ONE thread in every row; "
              "the threads column is ORT's.")
    print()
    print("| model | batch | threads | kiln µs | ORT µs | ORT/kiln | compile s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['label']} | {r['batch']} | {r['threads']} | {r['kiln_us']:.2f} "
              f"| {r['ort_us']:.2f} | {r['ort_us'] / r['kiln_us']:.2f} | {r['compile_s']:.2f} |")
    print()
    for t in threads:
        at = [r["ort_us"] / r["kiln_us"] for r in rows if r["threads"] == t and r["batch"] == 1]
        if at:
            print(f"- geomean ORT/kiln at batch 1, {t} thread{'s' if t > 1 else ''}: "
                  f"{geomean(at):.2f} over {len(at)} models (lowest "
                  f"{min(at):.2f}, highest {max(at):.2f})")
    base = {(r["name"]): r["kiln_us"] for r in rows if r["threads"] == threads[0]}
    for t in threads[1:] if threaded else []:
        sp = [(r["label"], base[r["name"]] / r["kiln_us"]) for r in rows
              if r["threads"] == t and r["name"] in base]
        if sp:
            print(f"- kiln {threads[0]} -> {t} threads: " +
                  ", ".join(f"{lbl} {s:.2f}x" for lbl, s in sp))
    print(f"- FP32 FMA peak of one core (bench/peak.c): {pk['gflops_512']:.1f} GFLOP/s on "
          f"512-bit vectors, {pk['gflops_256']:.1f} on 256-bit")
    for r in rows:
        if r["flops"]:
            g = r["flops"] / r["kiln_us"] * 1e-3
            print(f"- {r['label']}, {r['threads']} thread{'s' if r['threads'] > 1 else ''}: "
                  f"kiln {g:.1f} GFLOP/s = {100 * g / pk['peak_gflops']:.0f}% of one core's "
                  f"peak; ORT {r['flops'] / r['ort_us'] * 1e-3:.1f} GFLOP/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
