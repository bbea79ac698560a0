#!/usr/bin/python3
"""End to end for control flow (issue 12): If, Loop and Scan with subgraphs
that read values of the enclosing graph.

    /usr/bin/python3 tests/e2e/test_control_flow.py --kiln BUILD/kiln \
        --build-dir BUILD --source-dir SRC

- a torch.jit.script loop whose trip count is a request input, clamped to
  at most 8 (exported to Loop with a run-time M and carried values),
  compiled once and served at several trip counts (0, 1, 5 and 100, which
  the model clamps) and batch sizes;
- a VAD-style If that picks a branch by a sample-rate input (torch.jit.script,
  exported to Equal -> If), served with both rates;
- an If whose condition is computed from a static input shape: folded
  when compiled (no If left after fold-control), the branch inlined;
- a Loop with a constant trip count and scan outputs, and a Scan (opset 9)
  in reverse along axis 1, both from onnx.helper;
- torch.jit.script loops that build lists (exported as SequenceEmpty,
  SequenceInsert and ConcatFromSequence, which kiln compiles to scan
  outputs): a for over x.shape[1] with torch.stack and torch.cat, compiled
  once with dynamic batch and length and served at several lengths, and a
  while loop whose condition the data decides, served at 1 to 9
  iterations;
- a Loop whose trip count is a request input, with a scan output: bounded
  by --loop-bound, a request past the bound gets a 400 naming the Loop
  node, and bad --loop-bound flags exit 2;
- malformed subgraphs (a missing else_branch, a body with the wrong output
  count): exit 1 with an error naming the node.

Every output is compared with torch or numpy (rtol 1e-5, atol 1e-6) and,
when node and bench/node_modules/onnxruntime-node are there, with ONNX
Runtime too (tests/e2e/ort_run.js); without them that comparison is
skipped, and said so. The last line is "N passed, M failed". Only
processes this script started are ended, by PID; every wait is bounded.
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
suite = Suite("control-flow")
check = suite.check
TMP = suite.tmp


def ort_available():
    if not shutil.which("node"):
        return False, "node is not installed"
    mod = os.path.join(args.source_dir, "bench", "node_modules", "onnxruntime-node")
    if not os.path.isdir(mod):
        return False, f"{mod} is missing (npm install in bench/, see bench/README.md)"
    return True, ""


ORT_OK, ORT_WHY = ort_available()


def ort_outputs(model, runs):
    """ONNX Runtime's outputs of model for each {input name: array} in runs."""
    cmd = ["node", os.path.join(HERE, "ort_run.js"), model]
    dirs = []
    for k, inputs in enumerate(runs):
        d = os.path.join(TMP, f"ort-{os.path.basename(model)}-{k}")
        os.makedirs(d, exist_ok=True)
        files = []
        for n, a in inputs.items():
            p = os.path.join(d, f"in-{n}.npy")
            np.save(p, a)
            files.append(f"{n}={p}")
        cmd += (["--"] if k else []) + [d] + files
        dirs.append(d)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    require(p.returncode == 0, f"ort_run.js: exit {p.returncode}: {p.stderr[-800:]}")
    names = json.loads(p.stdout)["outputs"]
    return [{n: np.load(os.path.join(d, n + ".npy")) for n in names} for d in dirs]


def kiln_compile(model, exe, name):
    rc, out, err = run([args.kiln, "compile", model, "-o", exe, "--name", name], timeout=300)
    require(rc == 0, f"kiln compile {name}: " + describe(rc, out, err))


def serve_and_compare(model, exe, name, cases):
    """cases: [(label, {input: array}, {output: expected})]; also against ORT."""
    srv = Server(exe, "--workers", "1")
    got = []
    try:
        for label, inputs, want in cases:
            r, outs = srv.client.infer(name, inputs)
            require(r.status == 200, f"{name} {label}: status {r.status}: {r.body[:400]!r}")
            for n, w in want.items():
                compare(f"{name} {label} {n} vs torch", outs[n], w, RTOL, ATOL)
            got.append(outs)
    finally:
        srv.stop()
    if not ORT_OK:
        print(f"        ONNX Runtime comparison skipped: {ORT_WHY}")
        return
    for (label, _, want), ref, outs in zip(cases, ort_outputs(model, [c[1] for c in cases]), got):
        for n in want:
            compare(f"{name} {label} {n} vs ORT", outs[n], ref[n], RTOL, ATOL)


def save_model(graph, name, opset=17):
    import onnx
    from onnx import helper
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    path = os.path.join(TMP, name + ".onnx")
    onnx.save(m, path)
    return path


def rng_floats(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


try:
    import torch
    warnings.filterwarnings("ignore")

    class Steps(torch.nn.Module):
        def forward(self, x, n):
            h = x
            for _ in range(int(n.clamp(0, 8))):
                h = torch.tanh(h * 0.9 + 0.1)
            return h

    class Vad(torch.nn.Module):
        """Picks its branch by the sample rate, as stateful VADs do."""

        def __init__(self):
            super().__init__()
            self.a = torch.nn.Linear(3, 4)
            self.b = torch.nn.Linear(3, 4)

        def forward(self, x, sr):
            if bool(sr == 16000):
                y = torch.sigmoid(self.a(x))
            else:
                y = torch.relu(self.b(x)) - 1.0
            return y

    class ForList(torch.nn.Module):
        """A recurrence over x.shape[1] collecting every step in two lists."""

        def forward(self, x):
            h = torch.zeros(x.shape[0], x.shape[2])
            ys = []
            zs = []
            for i in range(x.shape[1]):
                h = torch.tanh(h * 0.5 + x[:, i])
                ys.append(h)
                zs.append(h * 2.0 - x[:, i])
            return torch.stack(ys, 1), torch.cat(zs, 0), h

    class WhileList(torch.nn.Module):
        """Grows h until it is large: the data decides the iterations."""

        def forward(self, x):
            h = x
            ys = []
            while bool(h.abs().sum() < 100.0):
                h = h * 1.5 + 0.25
                ys.append(h)
            return torch.stack(ys), h

    torch.manual_seed(0)
    steps, vad = torch.jit.script(Steps()), torch.jit.script(Vad())
    for_list, while_list = torch.jit.script(ForList()), torch.jit.script(WhileList())

    @check("torch.jit.script loop with a run-time trip count (clamped to 8): exported to Loop, "
           "compiled once, served at trip counts 0, 1, 5, 100 and two batch sizes; matches torch "
           "and ORT")
    def _():
        path = os.path.join(TMP, "steps.onnx")
        torch.onnx.export(steps, (torch.from_numpy(rng_floats(2, 3)), torch.tensor([5])), path, opset_version=17,
                          input_names=["x", "n"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}})
        import onnx
        require(any(n.op_type == "Loop" for n in onnx.load(path).graph.node), "no Loop exported")
        exe = os.path.join(TMP, "steps")
        kiln_compile(path, exe, "steps")
        cases = []
        for k, (b, n) in enumerate([(2, 5), (1, 0), (3, 1), (2, 100)]):
            x = rng_floats(b, 3, seed=k)
            with torch.no_grad():
                want = steps(torch.from_numpy(x), torch.tensor([n])).numpy()
            cases.append((f"b{b} n={n}", {"x": x, "n": np.array([n], dtype=np.int64)}, {"y": want}))
        serve_and_compare(path, exe, "steps", cases)

    @check("VAD-style If on a sample-rate input (torch.jit.script): both branches compiled, "
           "the branch picked per request; matches torch and ORT")
    def _():
        path = os.path.join(TMP, "vad.onnx")
        torch.onnx.export(vad, (torch.from_numpy(rng_floats(2, 3)), torch.tensor([16000])), path, opset_version=17,
                          input_names=["x", "sr"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}})
        exe = os.path.join(TMP, "vad")
        kiln_compile(path, exe, "vad")
        cases = []
        for k, (b, sr) in enumerate([(2, 16000), (3, 8000), (1, 16000)]):
            x = rng_floats(b, 3, seed=10 + k)
            with torch.no_grad():
                want = vad(torch.from_numpy(x), torch.tensor([sr])).numpy()
            cases.append((f"b{b} sr={sr}", {"x": x, "sr": np.array([sr], dtype=np.int64)},
                          {"y": want}))
        serve_and_compare(path, exe, "vad", cases)

    @check("torch.jit.script for over x.shape[1] appending to lists (torch.stack on axis 1, "
           "torch.cat on axis 0): compiled once with dynamic batch and length, served at "
           "lengths 1, 5, 17 and 40; matches torch and ORT")
    def _():
        import onnx
        path = os.path.join(TMP, "for_list.onnx")
        torch.onnx.export(for_list, (torch.from_numpy(rng_floats(2, 5, 3)),), path,
                          opset_version=17, input_names=["x"], output_names=["ys", "zs", "h"],
                          dynamic_axes={"x": {0: "batch", 1: "seq"}})
        ops = {n.op_type for n in onnx.load(path).graph.node}
        require({"Loop", "SequenceEmpty", "ConcatFromSequence"} <= ops,
                f"the export has no list in a Loop: {sorted(ops)}")
        exe = os.path.join(TMP, "for_list")
        kiln_compile(path, exe, "for_list")
        cases = []
        for k, (b, t) in enumerate([(2, 5), (1, 1), (3, 17), (1, 40)]):
            x = rng_floats(b, t, 3, seed=20 + k)
            with torch.no_grad():
                ys, zs, h = for_list(torch.from_numpy(x))
            cases.append((f"b{b} seq={t}", {"x": x},
                          {"ys": ys.numpy(), "zs": zs.numpy(), "h": h.numpy()}))
        serve_and_compare(path, exe, "for_list", cases)

    @check("torch.jit.script while loop whose condition the data decides, appending to a "
           "list: served at 1 to 9 iterations (the stacked output's length is the count); "
           "matches torch and ORT")
    def _():
        path = os.path.join(TMP, "while_list.onnx")
        torch.onnx.export(while_list, (torch.from_numpy(rng_floats(2, 3)),), path,
                          opset_version=17, input_names=["x"], output_names=["ys", "h"],
                          dynamic_axes={"x": {0: "batch"}})
        exe = os.path.join(TMP, "while_list")
        kiln_compile(path, exe, "while_list")
        cases, counts = [], []
        for k, (b, scale) in enumerate([(2, 0.01), (1, 80.0), (3, 1.0), (2, 20.0)]):
            r = rng_floats(b, 3, seed=30 + k)
            x = (r * np.float32(scale / np.abs(r).sum())).astype(np.float32)  # sum |x| = scale
            with torch.no_grad():
                ys, h = while_list(torch.from_numpy(x))
            counts.append(ys.shape[0])
            cases.append((f"b{b} x*{scale}", {"x": x}, {"ys": ys.numpy(), "h": h.numpy()}))
        require(len(set(counts)) >= 3 and min(counts) == 1,
                f"the cases do not vary the iterations enough: {counts}")
        print(f"        iterations per case: {counts}")
        serve_and_compare(path, exe, "while_list", cases)
except ImportError as e:
    suite.expect("torch is importable", False, str(e))


@check("If whose condition comes from a static input shape: folded at compile time (no If "
       "left after fold-control), the taken branch's result")
def _():
    from onnx import TensorProto, helper
    i64 = TensorProto.INT64
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "one"], ["cols"], axis=0),
        helper.make_node("Equal", ["cols", "four"], ["is4"]),
        helper.make_node("If", ["is4"], ["y"], name="pick",
                         then_branch=helper.make_graph(
                             [helper.make_node("Add", ["x", "x"], ["twice"])], "then", [],
                             [helper.make_tensor_value_info("twice", TensorProto.FLOAT, None)]),
                         else_branch=helper.make_graph(
                             [helper.make_node("Neg", ["x"], ["neg"])], "else", [],
                             [helper.make_tensor_value_info("neg", TensorProto.FLOAT, None)])),
    ]
    g = helper.make_graph(nodes, "constif",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])],
                          [helper.make_tensor("one", i64, [], [1]),
                           helper.make_tensor("four", i64, [], [4])])
    path = save_model(g, "constif")
    x = rng_floats(2, 4, seed=3)
    np.save(os.path.join(TMP, "cx.npy"), x)
    out = os.path.join(TMP, "constif-out")
    rc, so, se = run([args.kiln, "run", path, "--input", f"x={TMP}/cx.npy", "--out-dir", out,
                      "--dump-after", "fold-control"], timeout=120)
    require(rc == 0, "kiln run constif: " + describe(rc, so, se))
    dump = so + se
    require("Identity 'pick'" in dump and " If " not in dump and "If.end" not in dump,
            f"the If is not folded:\n{dump[-1500:]}")
    compare("constif y", np.load(os.path.join(out, "y.npy")), x + x, 0, 0)


@check("Loop with a constant trip count and a scan output, reading an outer value, and a "
       "reverse Scan along axis 1 (opset 9): match numpy and ORT")
def _():
    from onnx import TensorProto, helper
    f32, i64, b = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL
    body = helper.make_graph(
        [helper.make_node("Mul", ["acc_in", "w"], ["prod"]),
         helper.make_node("Cast", ["i"], ["fi"], to=f32),
         helper.make_node("Add", ["prod", "fi"], ["acc_out"]),
         helper.make_node("Identity", ["c_in"], ["c_out"]),
         helper.make_node("Identity", ["acc_out"], ["scan"])],
        "body", [helper.make_tensor_value_info("i", i64, []),
                 helper.make_tensor_value_info("c_in", b, []),
                 helper.make_tensor_value_info("acc_in", f32, None)],
        [helper.make_tensor_value_info(n, t, None) for n, t in
         (("c_out", b), ("acc_out", f32), ("scan", f32))])
    loop = helper.make_graph(
        [helper.make_node("Loop", ["M", "", "x"], ["final", "stack"], name="steps", body=body)],
        "loop", [helper.make_tensor_value_info("x", f32, [3]),
                 helper.make_tensor_value_info("w", f32, [3])],
        [helper.make_tensor_value_info("final", f32, None),
         helper.make_tensor_value_info("stack", f32, None)],
        [helper.make_tensor("M", i64, [], [4])])
    sbody = helper.make_graph(
        [helper.make_node("Add", ["s_in", "col"], ["s_out"]),
         helper.make_node("Mul", ["s_out", "col"], ["y"])],
        "sbody", [helper.make_tensor_value_info("s_in", f32, None),
                  helper.make_tensor_value_info("col", f32, None)],
        [helper.make_tensor_value_info("s_out", f32, None),
         helper.make_tensor_value_info("y", f32, None)])
    scan = helper.make_graph(
        [helper.make_node("Scan", ["s0", "m"], ["s_final", "ys"], name="cols", body=sbody,
                          num_scan_inputs=1, scan_input_axes=[1], scan_input_directions=[1],
                          scan_output_axes=[1])],
        "scan", [helper.make_tensor_value_info("s0", f32, [2]),
                 helper.make_tensor_value_info("m", f32, [2, 5])],
        [helper.make_tensor_value_info("s_final", f32, None),
         helper.make_tensor_value_info("ys", f32, None)])
    x, w = rng_floats(3, seed=5), rng_floats(3, seed=6)
    s0, m = rng_floats(2, seed=7), rng_floats(2, 5, seed=8)
    acc, stack = x.copy(), []
    for i in range(4):
        acc = acc * w + np.float32(i)
        stack.append(acc)
    s, ys = s0.copy(), [None] * 5
    for j in reversed(range(5)):
        s = s + m[:, j]
        ys[4 - j] = s * m[:, j]
    for name, g, inputs, want in [
            ("loop", loop, {"x": x, "w": w}, {"final": acc, "stack": np.stack(stack)}),
            ("scan", scan, {"s0": s0, "m": m}, {"s_final": s, "ys": np.stack(ys, axis=1)})]:
        path = save_model(g, name, opset=11 if name == "loop" else 9)
        out = os.path.join(TMP, name + "-out")
        cmd = [args.kiln, "run", path, "--out-dir", out]
        for n, a in inputs.items():
            np.save(os.path.join(TMP, f"{name}-{n}.npy"), a)
            cmd += ["--input", f"{n}={TMP}/{name}-{n}.npy"]
        rc, so, se = run(cmd, timeout=120)
        require(rc == 0, f"kiln run {name}: " + describe(rc, so, se))
        got = {n: np.load(os.path.join(out, n + ".npy")) for n in want}
        for n, v in want.items():
            compare(f"{name} {n} vs numpy", got[n], v, RTOL, ATOL)
        if ORT_OK:
            for n, v in ort_outputs(path, [inputs])[0].items():
                compare(f"{name} {n} vs ORT", got[n], v, RTOL, ATOL)
        else:
            print(f"        ONNX Runtime comparison skipped: {ORT_WHY}")


@check("Loop with a request-time trip count and a scan output, --loop-bound L=6: served at "
       "M = 0, 3 and 6 (matches numpy); M = 7 gets a 400 naming the Loop node and the bound, "
       "and the server goes on serving; bad --loop-bound flags exit 2")
def _():
    from onnx import TensorProto, helper
    f32, i64, b = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL
    body = helper.make_graph(
        [helper.make_node("Cast", ["i"], ["fi"], to=f32),
         helper.make_node("Mul", ["acc_in", "fi"], ["scaled"]),
         helper.make_node("Add", ["scaled", "x"], ["acc_out"]),
         helper.make_node("Identity", ["c_in"], ["c_out"]),
         helper.make_node("Identity", ["acc_out"], ["slice"])],
        "body", [helper.make_tensor_value_info("i", i64, []),
                 helper.make_tensor_value_info("c_in", b, []),
                 helper.make_tensor_value_info("acc_in", f32, None)],
        [helper.make_tensor_value_info(n, t, None) for n, t in
         (("c_out", b), ("acc_out", f32), ("slice", f32))])
    g = helper.make_graph(
        [helper.make_node("Loop", ["M", "", "x"], ["final", "stack"], name="L", body=body)],
        "runtime_m", [helper.make_tensor_value_info("M", i64, [1]),
                      helper.make_tensor_value_info("x", f32, ["batch", 4])],
        [helper.make_tensor_value_info("final", f32, None),
         helper.make_tensor_value_info("stack", f32, None)])
    path = save_model(g, "runtime_m", opset=13)
    exe = os.path.join(TMP, "runtime_m")
    rc, out, err = run([args.kiln, "compile", path, "-o", exe, "--name", "runtime_m",
                        "--loop-bound", "L=6"], timeout=300)
    require(rc == 0, "kiln compile --loop-bound L=6: " + describe(rc, out, err))
    srv = Server(exe, "--workers", "1")
    try:
        for k, m in enumerate([3, 0, 6, 7, 2]):
            x = rng_floats(2, 4, seed=40 + k)
            r, outs = srv.client.infer("runtime_m", {"M": np.array([m], dtype=np.int64), "x": x})
            if m > 6:
                body = r.body.decode(errors="replace") if isinstance(r.body, bytes) else r.body
                require(r.status == 400, f"M={m}: status {r.status}, expected 400: {body[:300]}")
                for w in ("'L' (Loop)", "at most 6", "--loop-bound"):
                    require(w in body, f"M={m}: the error does not say {w!r}: {body[:400]}")
                print(f"        M={m}: {body[:200]}")
                continue
            require(r.status == 200, f"M={m}: status {r.status}: {r.body[:300]!r}")
            acc, stack = x.copy(), []
            for i in range(m):
                acc = acc * np.float32(i) + x
                stack.append(acc)
            want = np.stack(stack) if stack else np.zeros((0, 2, 4), np.float32)
            compare(f"M={m} final", outs["final"], acc, RTOL, ATOL)
            require(outs["stack"].shape == want.shape,
                    f"M={m}: stack has shape {outs['stack'].shape}, expected {want.shape}")
            compare(f"M={m} stack", outs["stack"], want, RTOL, ATOL)
    finally:
        srv.stop()
    for flag, words in [("nosuch=3", ("no Loop node named 'nosuch'",)),
                        ("L=-1", ("--loop-bound 'L=-1'", "[NODE=]N")),
                        ("many", ("--loop-bound 'many'",))]:
        rc, so, se = run([args.kiln, "check", path, "--loop-bound", flag], timeout=60)
        require(rc == 2, f"--loop-bound {flag}: exit {rc}, expected 2: {describe(rc, so, se)}")
        for w in words:
            require(w in se, f"--loop-bound {flag}: the error does not say {w!r}:\n{se}")


@check("malformed subgraphs (If without else_branch, a Loop body with the wrong output count): "
       "exit 1, the error names the node")
def _():
    from onnx import TensorProto, helper
    f32, b = TensorProto.FLOAT, TensorProto.BOOL
    one = helper.make_graph([helper.make_node("Neg", ["x"], ["n"])], "then", [],
                            [helper.make_tensor_value_info("n", f32, None)])
    no_else = helper.make_graph(
        [helper.make_node("If", ["c"], ["y"], name="half_if", then_branch=one)], "g",
        [helper.make_tensor_value_info("c", b, []), helper.make_tensor_value_info("x", f32, [2])],
        [helper.make_tensor_value_info("y", f32, None)])
    body = helper.make_graph(
        [helper.make_node("Identity", ["c_in"], ["c_out"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("c_in", b, []),
         helper.make_tensor_value_info("v", f32, None)],
        [helper.make_tensor_value_info("c_out", b, None)])
    short_body = helper.make_graph(
        [helper.make_node("Loop", ["", "c", "x"], ["y"], name="short_loop", body=body)], "g",
        [helper.make_tensor_value_info("c", b, []), helper.make_tensor_value_info("x", f32, [2])],
        [helper.make_tensor_value_info("y", f32, None)])
    for name, g, words in [
            ("no_else", no_else, ("'half_if' (If)", "else_branch", "missing")),
            ("short_body", short_body, ("'short_loop' (Loop)", "body has 3 inputs and 1 outputs",
                                        "2 outputs"))]:
        path = save_model(g, name)
        rc, so, se = run([args.kiln, "check", path], timeout=60)
        require(rc == 1, f"kiln check {name}: exit {rc}, expected 1: {describe(rc, so, se)}")
        for w in words:
            require(w in se, f"{name}: error does not mention {w!r}:\n{se}")
        print(f"        {name}: {se.strip().splitlines()[0]}")


sys.exit(suite.finish())
