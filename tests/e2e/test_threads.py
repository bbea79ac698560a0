#!/usr/bin/python3
"""End to end for threads (issue 11): one request's kernels split over N
threads with `--threads-per-request N`.

    /usr/bin/python3 tests/e2e/test_threads.py --kiln BUILD/kiln \
        --build-dir BUILD --source-dir SRC

Models, built here with seeded weights: an MLP (Gemm+Relu, dynamic batch),
a [1024,1024] x constant [1024,1024] MatMul, a small conv net exported from
torch (dynamic batch; at batch 40 its MaxPool is split too), and a dynamic-shape model (a [batch, seq, 96] x
[96, 128] MatMul, Tanh, a batched MatMul of two inputs and a broadcast
Add). What is checked:
  - `OUT serve --threads-per-request N` for N = 1, 2, 3 gives the same
    outputs, bitwise (the matrix-product splits keep every element's
    summation order), and they match numpy / torch (rtol 1e-4, atol 1e-5);
  - `OUT predict --threads-per-request 2` and `OUT bench
    --threads-per-request 2` run and say so;
  - 16 concurrent clients on a server with --threads-per-request 2 each get
    the right answer to every request;
  - --workers defaults to max(1, cores / N); more workers than that is
    allowed but logged once as a "warning" line; /metrics gives the layout;
  - --threads-per-request 0, 257 and junk are usage errors (exit 2) on
    serve, predict and bench.
Every check prints PASS/FAIL; the last line is "N passed, M failed". Only
processes this script started are ended, by PID. Every wait is bounded.
"""
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kiln_e2e import (Server, Suite, compare, describe, kiln_compile,  # noqa: E402
                      parse_args, require, run, write_json)

RTOL, ATOL = 1e-4, 1e-5
THREADS = (1, 2, 3)

args = parse_args(__doc__)
suite = Suite("threads")
check = suite.check
TMP = suite.tmp
rng = np.random.default_rng(11)
EXES = {}


def save(model, name):
    path = os.path.join(TMP, name + ".onnx")
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def vi(name, dims):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)


def graph_model(nodes, name, ins, outs, inits):
    m = helper.make_model(helper.make_graph(nodes, name, ins, outs, inits),
                          opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m


# --- the models and their references ---------------------------------------------------

W = {}


def build_mlp():
    sizes = [256, 512, 512, 10]
    nodes, inits, prev = [], [], "x"
    for i in range(3):
        w = (rng.standard_normal((sizes[i], sizes[i + 1])) / np.sqrt(sizes[i])).astype(np.float32)
        b = (rng.standard_normal(sizes[i + 1]) * 0.1).astype(np.float32)
        W[f"mlp_w{i}"], W[f"mlp_b{i}"] = w, b
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        nodes.append(helper.make_node("Gemm", [prev, f"w{i}", f"b{i}"], [f"g{i}"]))
        prev = f"g{i}"
        if i < 2:
            nodes.append(helper.make_node("Relu", [prev], [f"r{i}"]))
            prev = f"r{i}"
    nodes.append(helper.make_node("Identity", [prev], ["y"]))
    return save(graph_model(nodes, "mlp", [vi("x", ["batch", 256])], [vi("y", ["batch", 10])],
                            inits), "mlp")


def ref_mlp(x):
    h = x.astype(np.float64)
    for i in range(3):
        h = h @ W[f"mlp_w{i}"] + W[f"mlp_b{i}"]
        if i < 2:
            h = np.maximum(h, 0)
    return {"y": h}


def build_mm1024():
    w = (rng.standard_normal((1024, 1024)) / 32).astype(np.float32)
    W["mm_w"] = w
    return save(graph_model([helper.make_node("MatMul", ["x", "w"], ["y"])], "mm1024",
                            [vi("x", [1024, 1024])], [vi("y", [1024, 1024])],
                            [numpy_helper.from_array(w, "w")]), "mm1024")


def ref_mm1024(x):
    return {"y": x.astype(np.float64) @ W["mm_w"]}


def build_dyn():
    w = (rng.standard_normal((96, 128)) / 10).astype(np.float32)
    c = rng.standard_normal(128).astype(np.float32)
    W["dyn_w"], W["dyn_c"] = w, c
    nodes = [helper.make_node("MatMul", ["a", "w"], ["p"]),
             helper.make_node("Tanh", ["p"], ["t"]),
             helper.make_node("MatMul", ["t", "b"], ["q"]),
             helper.make_node("Add", ["t", "c"], ["r"])]
    return save(graph_model(nodes, "dyn", [vi("a", ["batch", "seq", 96]),
                                           vi("b", ["batch", 128, 80])],
                            [vi("p", ["batch", "seq", 128]), vi("q", ["batch", "seq", 80]),
                             vi("r", ["batch", "seq", 128])],
                            [numpy_helper.from_array(w, "w"), numpy_helper.from_array(c, "c")]),
                "dyn")


def ref_dyn(a, b):
    p = a.astype(np.float64) @ W["dyn_w"]
    t = np.tanh(p)
    return {"p": p, "q": t @ b.astype(np.float64), "r": t + W["dyn_c"]}


def build_cnn():
    import torch
    torch.manual_seed(5)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(64 * 8 * 8, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 10)).eval()
    W["cnn"] = net
    path = os.path.join(TMP, "cnn.onnx")
    torch.onnx.export(net, torch.zeros(1, 3, 32, 32), path, input_names=["image"],
                      output_names=["logits"], dynamic_axes={"image": {0: "batch"},
                                                             "logits": {0: "batch"}},
                      opset_version=13)
    return path


def ref_cnn(image):
    import torch
    with torch.no_grad():
        return {"logits": W["cnn"](torch.from_numpy(image)).double().numpy()}


MODELS = {
    # name: (builder, reference, inputs for each case)
    "mlp": (build_mlp, ref_mlp, [
        {"x": rng.standard_normal((1, 256)).astype(np.float32)},
        {"x": rng.standard_normal((200, 256)).astype(np.float32)}]),
    "mm1024": (build_mm1024, ref_mm1024, [
        {"x": rng.uniform(-1, 1, (1024, 1024)).astype(np.float32)}]),
    "cnn": (build_cnn, ref_cnn, [
        {"image": rng.standard_normal((1, 3, 32, 32)).astype(np.float32)},
        {"image": rng.standard_normal((6, 3, 32, 32)).astype(np.float32)},
        # batch 40: the first MaxPool is large enough to be split too
        {"image": rng.standard_normal((40, 3, 32, 32)).astype(np.float32)}]),
    "dyn": (build_dyn, ref_dyn, [
        {"a": rng.standard_normal((1, 3, 96)).astype(np.float32),
         "b": rng.standard_normal((1, 128, 80)).astype(np.float32)},
        {"a": rng.standard_normal((4, 700, 96)).astype(np.float32),
         "b": rng.standard_normal((4, 128, 80)).astype(np.float32)}]),
}

for name, (build, _, _) in MODELS.items():
    @check(f"{name}: builds and compiles")
    def _(name=name, build=build):
        EXES[name] = kiln_compile(args.kiln, build(), os.path.join(TMP, name))


def exe(name):
    require(name in EXES, f"{name} did not compile")
    return EXES[name]


def infer(srv, name, inputs):
    r, outs = srv.client.infer(name, inputs, binary=True)
    require(r.status == 200, f"{name}: HTTP {r.status}: {r.body[:300]!r}")
    return outs


# --- the same numbers at 1, 2 and 3 threads --------------------------------------------------

for name, (_, ref, cases) in MODELS.items():
    @check(f"{name}: --threads-per-request 1, 2, 3 give bitwise the same outputs, matching the "
           "reference")
    def _(name=name, ref=ref, cases=cases):
        got = {}
        for n in THREADS:
            srv = Server(exe(name), "--workers", "1", "--threads-per-request", str(n))
            try:
                got[n] = [infer(srv, name, case) for case in cases]
            finally:
                srv.stop()
        for k, case in enumerate(cases):
            want = ref(**case)
            for out, w in want.items():
                compare(f"{name} case {k} {out} at 1 thread", got[1][k][out], w, RTOL, ATOL)
                for n in THREADS[1:]:
                    a, b = got[1][k][out], got[n][k][out]
                    require(a.shape == b.shape and a.tobytes() == b.tobytes(),
                            f"{name} case {k} {out}: {n} threads differ from 1 thread "
                            f"(max abs diff {float(np.abs(a - b).max()):.3g})")


@check("predict --threads-per-request 2 answers as one thread does")
def _():
    x = MODELS["mlp"][2][1]["x"]
    req = write_json(os.path.join(TMP, "mlp_req.json"),
                     {"inputs": [{"name": "x", "shape": list(x.shape), "datatype": "FP32",
                                  "data": [float(v) for v in x.ravel()]}]})
    outs = {}
    for n in (1, 2):
        rc, out, err = run([exe("mlp"), "predict", "--input", req, "--threads-per-request", str(n)])
        require(rc == 0, "predict: " + describe(rc, out, err))
        o = json.loads(out)["outputs"][0]
        outs[n] = np.array(o["data"], np.float32).reshape(o["shape"])
    compare("predict at 2 threads", outs[2], ref_mlp(x)["y"], RTOL, ATOL)
    require(outs[1].tobytes() == outs[2].tobytes(), "predict: 2 threads differ from 1")


@check("bench --threads-per-request 2 runs and reports 2 threads")
def _():
    rc, out, err = run([exe("mm1024"), "bench", "--iters", "3", "--threads-per-request", "2"])
    require(rc == 0, "bench: " + describe(rc, out, err))
    r = json.loads(out)
    require(r.get("threads_per_request") == 2 and r.get("median_us", 0) > 0,
            f"bench: unexpected report {out[:300]!r}")


# --- serving ----------------------------------------------------------------------------------

@check("16 concurrent clients on --threads-per-request 2 get every answer right")
def _():
    srv = Server(exe("mlp"), "--threads-per-request", "2")
    try:
        def client(i):
            local = np.random.default_rng(100 + i)
            for j in range(6):
                x = local.standard_normal((1 + (i * 7 + j * 13) % 64, 256)).astype(np.float32)
                y = infer(srv, "mlp", {"x": x})["y"]
                compare(f"client {i} request {j}", y, ref_mlp(x)["y"], RTOL, ATOL)
            return True
        with ThreadPoolExecutor(16) as ex:
            results = list(ex.map(client, range(16), timeout=120))
        require(all(results), "a client failed")
    finally:
        srv.stop()


def ready_line(srv):
    return next(line for line in srv.log() if line.get("event") == "ready")


@check("--workers defaults to cores / threads, and /metrics gives the layout; no warning")
def _():
    n = os.cpu_count()
    srv = Server(exe("mlp"), "--threads-per-request", "2")
    try:
        ready = ready_line(srv)
        require(ready["workers"] == max(1, n // 2) and ready["threads_per_request"] == 2,
                f"ready line {ready} for {n} cores")
        r = srv.client.get("/metrics")
        text = r.body.decode()
        require(f"kiln_workers {max(1, n // 2)}" in text and 'threads_per_request="2"' in text,
                f"/metrics lacks the layout: {text[-600:]}")
        require(not [line for line in srv.log() if line.get("event") == "warning"],
                f"unexpected warning: {srv.log()}")
    finally:
        srv.stop()


@check("a worker with --threads-per-request 3 runs 2 more threads than with 1")
def _():
    counts = {}
    for n in (1, 3):
        srv = Server(exe("mlp"), "--workers", "1", "--threads-per-request", str(n))
        try:
            counts[n] = len(os.listdir(f"/proc/{srv.proc.pid}/task"))
        finally:
            srv.stop()
    require(counts[3] == counts[1] + 2, f"threads of the server process: {counts}")


@check("more workers x threads than cores is allowed, with one warning line")
def _():
    n = os.cpu_count()
    srv = Server(exe("mlp"), "--workers", str(n), "--threads-per-request", "2")
    try:
        warnings = [line for line in srv.log() if line.get("event") == "warning"]
        require(len(warnings) == 1, f"expected one warning line, got {warnings}")
        w = warnings[0]
        require(w.get("workers") == n and w.get("threads_per_request") == 2 and
                "cores" in w.get("message", ""), f"warning line {w}")
        y = infer(srv, "mlp", {"x": np.ones((2, 256), np.float32)})["y"]
        compare("oversubscribed answer", y, ref_mlp(np.ones((2, 256), np.float32))["y"], RTOL,
                ATOL)
    finally:
        srv.stop()


@check("--threads-per-request 0, 257, junk and a missing value are usage errors (exit 2)")
def _():
    for cmd in (["serve", "--port", "0"], ["predict"], ["bench", "--iters", "1"]):
        for bad in (["--threads-per-request", "0"], ["--threads-per-request", "257"],
                    ["--threads-per-request", "two"], ["--threads-per-request=1x"],
                    ["--threads-per-request"]):
            rc, out, err = run([exe("mlp"), *cmd, *bad], timeout=30, stdin="")
            require(rc == 2 and "threads-per-request" in err,
                    f"{' '.join(cmd + bad)}: " + describe(rc, out, err))


sys.exit(suite.finish())
