#!/usr/bin/python3
"""bench/rnn.py: the recurrent ops (issue 12) against ONNX Runtime.

    /usr/bin/python3 bench/rnn.py [--kiln build/kiln] [--rounds 5] [--seq 100] [--work DIR]

The LSTM classifier (two bidirectional layers) and the GRU classifier of
tests/e2e/rnn_models.py at bench sizes (input 64, hidden 128), exported
with dynamic batch and seq and compiled once without --shape, as a
service would be; timed at batch 1 and 64 and one sequence length, kiln
(bench/kiln_bench.c on `kiln compile --emit obj`) and ORT
(bench/ort_bench.js, intraOpNumThreads 1) alternated round by round, each
in its own process, on one thread. Prints the medians of the rounds'
medians and ORT/kiln (> 1: kiln is faster). Not a test: nothing fails on
a time. Helpers are bench/dynamic.py's.
"""
import argparse
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
sys.path.insert(0, HERE)
import dynamic  # noqa: E402  (Build, ort_time, iters_for)
import rnn_models  # noqa: E402

MODELS = ["lstm_clf", "gru_clf"]
BATCHES = [1, 64]


def main():
    ap = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    ap.add_argument("--kiln", default=os.path.join(ROOT, "build", "kiln"))
    ap.add_argument("--work", default=os.path.join(ROOT, "build", "bench-rnn"))
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", "5")))
    ap.add_argument("--seq", type=int, default=100)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    if not os.path.isdir(os.path.join(HERE, "node_modules", "onnxruntime-node")):
        subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=HERE, check=True,
                       env=dict(os.environ, ONNXRUNTIME_NODE_INSTALL="skip"),
                       stdout=subprocess.DEVNULL)
    sizes = rnn_models.SIZES["bench"]
    rows = []
    for name in MODELS:
        path = os.path.join(a.work, name + ".onnx")
        rnn_models.export(name, rnn_models.module(name, sizes), sizes, path)
        build = dynamic.Build(a.kiln, path, a.work, "dynamic", [])
        for b in BATCHES:
            inp, shape = rnn_models.input_name_shape(name, sizes, b, a.seq)
            shapes = {inp: shape}
            it_k = dynamic.iters_for(build.time(shapes, 5))
            it_o = dynamic.iters_for(dynamic.ort_time(path, shapes, 5))
            t = {"kiln": [], "ort": []}
            for _ in range(a.rounds):
                t["kiln"].append(build.time(shapes, it_k))
                t["ort"].append(dynamic.ort_time(path, shapes, it_o))
            med = {k: statistics.median(v) for k, v in t.items()}
            rows.append((name, b, shape, med))
            print(f"# {name} b{b}: " + ", ".join(f"{k} {v}" for k, v in t.items()),
                  file=sys.stderr, flush=True)
    I, H = sizes["lstm_clf"]
    print(f"{a.rounds} rounds, one thread, seq {a.seq}, input {I}, hidden {H}; "
          "times are medians in microseconds\n")
    print("| model | batch | input shape | kiln µs | ORT µs | ORT/kiln |")
    print("|---|---|---|---|---|---|")
    for name, b, shape, med in rows:
        print(f"| {name} | {b} | {'x'.join(map(str, shape))} | {med['kiln']:.1f} "
              f"| {med['ort']:.1f} | {med['ort'] / med['kiln']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
