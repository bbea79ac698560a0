#!/usr/bin/python3
"""End to end for dynamic shapes (issue 9): torch exports whose batch,
sequence, length, height and width are symbolic, each compiled once
without --shape and served at several shapes, compared with torch.

    /usr/bin/python3 tests/e2e/test_dynamic.py --kiln BUILD/kiln \
        --build-dir BUILD --source-dir SRC

The models come from tests/e2e/dynamic_models.py (exported into the temp
dir; checked there against ONNX Runtime when onnxruntime-node is under
bench/node_modules). What is checked, against the contract of issue 9:
  - `kiln inspect --json` lists the symbols (dim_param names; "unk_N" for
    unnamed dims) with their bounds (default [1, 4096]; --shape A..B and
    --dim SYM=A..B set them, --dim SYM=N pins one) and the memory planned
    at the upper bounds, which shrinks with the bounds;
  - one binary per model serves every in-bounds shape, batch and
    sequence changing at once, JSON and binary tensors, in any order and
    concurrently; outputs have the actual shapes and match torch (rtol
    1e-4, atol 1e-5); metadata reports -1 for dynamic dims;
  - a dim outside its bounds, inputs that disagree on a symbol, a wrong
    fixed dim, an input too small for the convolutions: 400 whose error
    names the input, the dim, the symbol and the range; the server goes on;
  - `kiln run` specialises to the .npy files' shapes; `OUT predict` takes
    any in-bounds shape;
  - a build pinned with --shape is static and gives the same numbers.
Every check prints PASS/FAIL; the last line is "N passed, M failed" and the
exit status is 1 if any failed. Only processes this script started are
ended, by PID. Every wait is bounded.
"""
import json
import os
import sys
import traceback
from concurrent.futures import ThreadPoolExecutor

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dynamic_models  # noqa: E402
from kiln_e2e import (CheckFailed, Server, Suite, compare, describe, parse_args,  # noqa: E402
                      require, run, write_json)

RTOL, ATOL = 1e-4, 1e-5
DEFAULT_LO, DEFAULT_HI = 1, 4096

args = parse_args(__doc__)
KILN = args.kiln
suite = Suite("dynamic")
check = suite.check
TMP = suite.tmp
MD = os.path.join(TMP, "models")
MANS = {}
EXES = {}     # build name -> binary, once `kiln compile` succeeded
SERVERS = {}  # build name -> Server
NO_SERVER = {}  # build name -> why its server did not start


def range_text(lo, hi):
    """How an error message shows a symbol's range (the contract's example:
    "input 'tokens' dim 1 (seq) is 600, outside the model's range [1, 512]")."""
    return f"[{lo}, {hi}]"


def model_path(name):
    return os.path.join(MD, name + ".onnx")


def case_arrays(name, k):
    """(inputs, outputs) of case k of model name: {tensor name: ndarray}."""
    c = MANS[name]["cases"][k]
    load = lambda d: {n: np.load(os.path.join(MD, f)) for n, f in d.items()}
    return load(c["inputs"]), load(c["outputs"])


def case_index(name, label):
    for k, c in enumerate(MANS[name]["cases"]):
        if c["label"] == label:
            return k
    raise CheckFailed(f"{name} has no case {label}")


def need_models():
    require(MANS, "the models were not exported (first check failed)")


def server(build):
    """The server of build (started on first use); fails the check if the
    build did not compile."""
    if build in SERVERS:
        return SERVERS[build]
    require(build not in NO_SERVER, f"{build}: {NO_SERVER.get(build)}")
    exe = EXES.get(build)
    require(exe is not None, f"no binary for {build}: its `kiln compile` check failed")
    try:
        SERVERS[build] = Server(exe, "--workers", "2")
    except CheckFailed as e:
        NO_SERVER[build] = f"`serve` did not start: {e}"  # not retried by every later check
        raise
    return SERVERS[build]


def error_of(r, status, *words):
    """r must be `status` with a JSON {"error"} containing every word."""
    require(r.status == status, f"status {r.status}, expected {status}: {r.body[:300]!r}")
    try:
        msg = r.json()["error"]
    except Exception:
        raise CheckFailed(f"body is not {{\"error\": ...}}: {r.body[:300]!r}")
    for w in words:
        require(w in msg, f"error {msg!r} does not mention {w!r}")
    print(f"        error: {msg}")
    return msg


def infer_ok(build, model, inputs, want, what, binary=False):
    """POST infer at inputs' shapes; every output must have want's shape
    and values (torch)."""
    r, outs = server(build).client.infer(model, inputs, binary=binary)
    require(r.status == 200, f"{what}: status {r.status}: {r.body[:400]!r}")
    require(set(outs) == set(want), f"{what}: outputs {sorted(outs)}, expected {sorted(want)}")
    for n, w in want.items():
        compare(f"{what} {n} {list(w.shape)}", outs[n], w, RTOL, ATOL)
    return outs


def inspect_json(model, *opts):
    rc, out, err = run([KILN, "inspect", model, "--json", *opts], timeout=60)
    require(rc == 0, "kiln inspect: " + describe(rc, out, err))
    try:
        return json.loads(out)
    except ValueError as e:
        raise CheckFailed(f"kiln inspect --json printed no JSON ({e}): {out[:300]!r}")


def symbols_of(j):
    """{name: (min, max)} of an inspect JSON's "symbols" array."""
    syms = j.get("symbols")
    require(isinstance(syms, list), f"inspect JSON has no \"symbols\" array: keys {sorted(j)}")
    out = {}
    for s in syms:
        require(isinstance(s, dict) and {"name", "min", "max"} <= set(s),
                f"symbol entry {s!r} lacks name/min/max")
        out[s["name"]] = (s["min"], s["max"])
    return out


def workspace_bytes(j):
    """The planned memory of an inspect JSON: its "workspace" (a number, or
    the sum of the numbers in the object)."""
    ws = j.get("workspace")
    if isinstance(ws, int):
        return ws
    require(isinstance(ws, dict) and ws, f"inspect JSON has no \"workspace\": {j.get('workspace')!r}")
    vals = [v for v in ws.values() if isinstance(v, int)]
    require(vals, f"\"workspace\" holds no byte counts: {ws!r}")
    return sum(vals)


def shapes_of(j, kind):
    return {t["name"]: t["shape"] for t in j[kind]}


def compile_build(build, model, *opts):
    exe = os.path.join(TMP, build)
    rc, out, err = run([KILN, "compile", model_path(model), "-o", exe, "--name", model, *opts],
                       timeout=300)
    require(rc == 0, f"kiln compile {' '.join(opts)}: " + describe(rc, out, err))
    require(os.path.isfile(exe) and os.access(exe, os.X_OK), f"{exe} is not an executable")
    EXES[build] = exe


try:
    # --- the models ------------------------------------------------------------------------
    @check("torch exports (opset 17, dynamic_axes) pass onnx.checker and agree with ONNX Runtime")
    def _():
        try:
            MANS.update(dynamic_models.export_all(MD, log=lambda s: print("        " + s)))
        except RuntimeError as e:
            raise CheckFailed(str(e))

    if not MANS:
        raise CheckFailed("no models: cannot go on")

    @check("kiln run with every dim pinned by --shape matches torch (the static path)")
    def _():
        # One case per model (the odd sizes: seq 128, length 333, 97x61): each
        # `kiln run` is a JIT compile, seconds under the sanitizers.
        bad = []
        for name, man in MANS.items():
            for k, c in [(2, man["cases"][2])]:
                out_dir = os.path.join(TMP, f"pinned-{name}-{k}")
                cmd = [KILN, "run", model_path(name), "--out-dir", out_dir]
                for n, f in c["inputs"].items():
                    shape = np.load(os.path.join(MD, f), mmap_mode="r").shape
                    cmd += ["--input", f"{n}={os.path.join(MD, f)}",
                            "--shape", f"{n}={'x'.join(str(d) for d in shape)}"]
                rc, out, err = run(cmd, timeout=120, echo=False)
                if rc != 0:
                    bad.append(f"{name} {c['label']}: " + describe(rc, out, err))
                    continue
                for n, f in c["outputs"].items():
                    try:
                        compare(f"{name} {c['label']} {n}", np.load(os.path.join(out_dir, n + ".npy")),
                                np.load(os.path.join(MD, f)), RTOL, ATOL)
                    except CheckFailed as e:
                        bad.append(str(e))
        require(not bad, f"{len(bad)} cases failed:\n        " + "\n        ".join(bad))

    # --- kiln inspect ----------------------------------------------------------------------
    @check("kiln inspect --json: dim_params become symbols with the default bounds [1, 4096]")
    def _():
        j = inspect_json(model_path("text"))
        require(symbols_of(j) == {"batch": (DEFAULT_LO, DEFAULT_HI), "seq": (DEFAULT_LO, DEFAULT_HI)},
                f"symbols {j.get('symbols')}")
        require(shapes_of(j, "inputs") == {"tokens": [-1, -1]}, f"inputs {j['inputs']}")
        require(shapes_of(j, "outputs") == {"logits": [-1, 3]}, f"outputs {j['outputs']}")
        for key in ("model", "sha256", "ops", "params", "workspace"):
            require(key in j, f"inspect JSON lost the key {key!r}: {sorted(j)}")
        require(j["ops"].get("LayerNormalization") == 4, f"ops {j['ops']}")
        j = inspect_json(model_path("fcn"))
        require(symbols_of(j) == {s: (DEFAULT_LO, DEFAULT_HI) for s in ("batch", "height", "width")},
                f"fcn symbols {j.get('symbols')}")
        require(shapes_of(j, "inputs") == {"image": [-1, 3, -1, -1]}, f"fcn inputs {j['inputs']}")
        require(shapes_of(j, "outputs") == {"heatmap": [-1, 5, -1, -1]}, f"fcn outputs {j['outputs']}")
        j = inspect_json(model_path("text_mask"))
        require(set(symbols_of(j)) == {"batch", "seq"},
                f"tokens and attention_mask share batch and seq: symbols {j.get('symbols')}")

    @check("kiln inspect: --shape A..B and --dim bound the symbols; memory is planned at the upper bounds")
    def _():
        wide = inspect_json(model_path("text"))
        j = inspect_json(model_path("text"), "--shape", "tokens=1..8x1..128")
        require(symbols_of(j) == {"batch": (1, 8), "seq": (1, 128)}, f"symbols {j.get('symbols')}")
        j2 = inspect_json(model_path("text"), "--dim", "batch=1..8", "--dim", "seq=1..128")
        require(symbols_of(j2) == {"batch": (1, 8), "seq": (1, 128)},
                f"--dim: symbols {j2.get('symbols')}")
        require(workspace_bytes(j) == workspace_bytes(j2),
                f"the same bounds by --shape and --dim plan {workspace_bytes(j)} and "
                f"{workspace_bytes(j2)} bytes")
        w_wide, w = workspace_bytes(wide), workspace_bytes(j)
        print(f"        workspace: {w_wide} bytes at [1, 4096]^2, {w} at batch<=8, seq<=128")
        require(0 < w < w_wide, f"workspace {w} bytes at batch<=8 seq<=128, {w_wide} at the "
                                "default bounds: expected smaller and > 0")
        # The attention scores are never stored whole (FusedAttention keeps a few
        # rows), but the QKV projection alone is batch*seq*3*64 floats at the bounds.
        require(w >= 8 * 128 * 192 * 4, f"workspace {w} bytes cannot hold the 8x128x192 QKV projection")
        j3 = inspect_json(model_path("cnn1d"), "--dim", "length=64")
        syms = symbols_of(j3)
        require(syms.get("batch") == (DEFAULT_LO, DEFAULT_HI) and syms.get("length", (64, 64)) == (64, 64),
                f"--dim length=64 pins length: symbols {j3.get('symbols')}")
        require(shapes_of(j3, "inputs") == {"signal": [-1, 8, 64]}, f"inputs {j3['inputs']}")
        rc, out, err = run([KILN, "inspect", model_path("text"), "--shape", "tokens=1..8x1..128"],
                           timeout=60)
        require(rc == 0 and "seq" in out and "128" in out and "batch" in out,
                "text inspect should show the symbols and bounds: " + describe(rc, out, err))

    @check("kiln inspect: unnamed dynamic dims become unk_1, unk_2")
    def _():
        import onnx
        m = onnx.load(model_path("cnn1d"))
        for v in list(m.graph.input) + list(m.graph.output):
            for d in v.type.tensor_type.shape.dim:
                if d.dim_param:
                    d.Clear()  # neither dim_value nor dim_param: unknown, unnamed
        path = os.path.join(MD, "cnn1d_unnamed.onnx")
        onnx.save(m, path)
        j = inspect_json(path)
        require(symbols_of(j) == {"unk_1": (DEFAULT_LO, DEFAULT_HI), "unk_2": (DEFAULT_LO, DEFAULT_HI)},
                f"symbols {j.get('symbols')}")
        require(shapes_of(j, "inputs") == {"signal": [-1, 8, -1]}, f"inputs {j['inputs']}")

    @check("kiln inspect: bad bounds are a usage error (exit 2) naming the symbol")
    def _():
        for opts, word in ((["--dim", "seq=9..3"], "seq"), (["--dim", "nosuch=1..8"], "nosuch"),
                           (["--shape", "tokens=1..8x0..x"], "tokens")):
            rc, out, err = run([KILN, "inspect", model_path("text"), *opts], timeout=60)
            require(rc == 2 and word in err, f"{' '.join(opts)}: expected exit 2 naming {word!r}: "
                    + describe(rc, out, err))

    # --- one build per model -----------------------------------------------------------------
    for name in dynamic_models.MODELS:
        @check(f"kiln compile {name}.onnx without --shape")
        def _():
            compile_build(name, name)

    @check("kiln compile text.onnx --shape tokens=1..8x1..128 (bounded)")
    def _():
        compile_build("text_bounded", "text", "--shape", "tokens=1..8x1..128")

    @check("kiln compile text_mask.onnx --dim batch=1..16 --dim seq=1..512 (bounded by symbol)")
    def _():
        compile_build("text_mask_bounded", "text_mask", "--dim", "batch=1..16", "--dim", "seq=1..512")

    @check("kiln compile text.onnx --shape tokens=2x16 (pinned: static)")
    def _():
        compile_build("text_pinned", "text", "--shape", "tokens=2x16")
        j = inspect_json(model_path("text"), "--shape", "tokens=2x16")
        require(not j.get("symbols"), f"a pinned build has no symbols: {j.get('symbols')}")
        require(shapes_of(j, "inputs") == {"tokens": [2, 16]}, f"inputs {j['inputs']}")

    # --- metadata ----------------------------------------------------------------------------
    @check("v2 metadata reports -1 for every dynamic dim, the fixed dims as they are")
    def _():
        want = {"text": ({"tokens": [-1, -1]}, {"logits": [-1, 3]}),
                "text_mask": ({"tokens": [-1, -1], "attention_mask": [-1, -1]}, {"logits": [-1, 3]}),
                "cnn1d": ({"signal": [-1, 8, -1]}, {"logits": [-1, 4]}),
                "cnn1d_frames": ({"signal": [-1, 8, -1]}, {"frame_logits": [-1, 4, -1]}),
                "conv2d": ({"image": [-1, 3, -1, -1]}, {"logits": [-1, 10]}),
                "fcn": ({"image": [-1, 3, -1, -1]}, {"heatmap": [-1, 5, -1, -1]}),
                "text_pinned": ({"tokens": [2, 16]}, {"logits": [2, 3]})}
        bad = []
        for build, (ins, outs) in want.items():
            model = "text" if build == "text_pinned" else build
            r = server(build).client.get(f"/v2/models/{model}")
            require(r.status == 200, f"{build}: GET /v2/models/{model}: {r.status} {r.body[:200]!r}")
            m = r.json()
            got_in = {t["name"]: t["shape"] for t in m["inputs"]}
            got_out = {t["name"]: t["shape"] for t in m["outputs"]}
            if got_in != ins or got_out != outs:
                bad.append(f"{build}: inputs {got_in} outputs {got_out}, expected {ins} {outs}")
            if build == "text":
                require(m["inputs"][0]["datatype"] == "INT64", f"tokens datatype {m['inputs'][0]}")
        require(not bad, "; ".join(bad))

    # --- serving at several shapes -----------------------------------------------------------
    for name in dynamic_models.MODELS:
        @check(f"{name}: one binary serves every case's shape, outputs of the actual shapes match torch")
        def _():
            need_models()
            for k, case in enumerate(MANS[name]["cases"]):
                x, y = case_arrays(name, k)
                # Images go as binary tensors (large); the rest alternate JSON and binary.
                binary = name in ("conv2d", "fcn") or k % 2 == 1
                infer_ok(name, name, x, y, f"{name} {case['label']}", binary=binary)

    @check("text: shapes in any order, back and forth (no state kept from a larger call)")
    def _():
        need_models()
        for label in ("b2_s128", "b1_s7", "b1_s300", "b5_s1", "b3_s16", "b2_s128", "b1_s7"):
            x, y = case_arrays("text", case_index("text", label))
            infer_ok("text", "text", x, y, f"text {label}")

    @check("text, cnn1d_frames: concurrent requests at different shapes each get their own answer")
    def _():
        need_models()
        jobs = []
        for name in ("text", "cnn1d_frames"):
            for k in range(len(MANS[name]["cases"])):
                jobs += [(name, k)] * 3
        srv = {n: server(n) for n in ("text", "cnn1d_frames")}

        def one(job):
            name, k = job
            x, y = case_arrays(name, k)
            r, outs = srv[name].client.infer(name, x, binary=True)
            if r.status != 200:
                return f"{name} case {k}: status {r.status}: {r.body[:200]!r}"
            for n, w in y.items():
                g = outs.get(n)
                if g is None or g.shape != w.shape or not np.allclose(g, w, rtol=RTOL, atol=ATOL):
                    return f"{name} case {k} {n}: wrong answer (shape {None if g is None else g.shape})"
            return None

        with ThreadPoolExecutor(max_workers=6) as ex:
            errs = [e for e in ex.map(one, jobs) if e]
        require(not errs, f"{len(errs)} of {len(jobs)} wrong: {errs[:3]}")

    @check("text_mask: two inputs sharing batch and seq, with padding, match torch (bounded build too)")
    def _():
        need_models()
        for k, case in enumerate(MANS["text_mask"]["cases"]):
            x, y = case_arrays("text_mask", k)
            infer_ok("text_mask_bounded", "text_mask", x, y, f"bounded {case['label']}")

    @check("text_bounded: every shape within --shape tokens=1..8x1..128 matches torch")
    def _():
        need_models()
        for label in ("b1_s7", "b3_s16", "b2_s128", "b5_s1"):
            x, y = case_arrays("text", case_index("text", label))
            infer_ok("text_bounded", "text", x, y, f"bounded {label}")
        # At the bounds themselves.
        m = dynamic_models.module("text")
        for b, s in ((8, 128), (1, 1), (8, 1)):
            x = dynamic_models.make_inputs("text", {"batch": b, "seq": s}, seed=7)
            infer_ok("text_bounded", "text", x, dynamic_models.torch_outputs(m, "text", x),
                     f"bounded b{b}_s{s}", binary=True)

    # --- bad shapes --------------------------------------------------------------------------
    @check("a dim above its bound: 400 naming the input, the dim, the symbol and the range")
    def _():
        need_models()
        tok = np.zeros((1, 600), dtype=np.int64)
        r, _ = server("text_mask_bounded").client.infer(
            "text_mask", {"tokens": tok, "attention_mask": np.ones_like(tok)})
        error_of(r, 400, "'tokens'", "dim 1", "seq", "600", range_text(1, 512))
        r, _ = server("text_bounded").client.infer("text", {"tokens": np.zeros((9, 4), np.int64)})
        error_of(r, 400, "'tokens'", "dim 0", "batch", "9", range_text(1, 8))
        r, _ = server("text").client.infer("text", {"tokens": np.zeros((1, 5000), np.int64)},
                                            binary=True)
        error_of(r, 400, "'tokens'", "dim 1", "seq", "5000", range_text(DEFAULT_LO, DEFAULT_HI))
        r, _ = server("cnn1d").client.infer("cnn1d", {"signal": np.zeros((2, 8, 0), np.float32)},
                                             binary=True)
        error_of(r, 400, "'signal'", "dim 2", "length", "0", range_text(DEFAULT_LO, DEFAULT_HI))
        # Each server still answers.
        x, y = case_arrays("text", 0)
        infer_ok("text", "text", x, y, "text after the 400")
        infer_ok("text_bounded", "text", x, y, "text_bounded after the 400")

    @check("inputs that disagree on a symbol: 400 naming both inputs and the symbol")
    def _():
        need_models()
        tok = np.ones((2, 16), dtype=np.int64)
        for mask, sym in ((np.ones((2, 15), np.int64), "seq"), (np.ones((3, 16), np.int64), "batch")):
            for build in ("text_mask", "text_mask_bounded"):
                r, _ = server(build).client.infer("text_mask", {"tokens": tok, "attention_mask": mask})
                error_of(r, 400, "tokens", "attention_mask", sym)
        x, y = case_arrays("text_mask", 1)
        infer_ok("text_mask", "text_mask", x, y, "text_mask after the 400s")

    @check("a fixed dim of the wrong size, a wrong rank: 400 naming the input and the dim")
    def _():
        need_models()
        c = server("cnn1d").client
        r, _ = c.infer("cnn1d", {"signal": np.zeros((1, 7, 64), np.float32)}, binary=True)
        error_of(r, 400, "'signal'", "dim 1", "7", "8")
        r, _ = c.infer("cnn1d", {"signal": np.zeros((1, 8), np.float32)})
        error_of(r, 400, "'signal'")
        r, _ = server("conv2d").client.infer("conv2d", {"image": np.zeros((1, 4, 32, 32), np.float32)},
                                              binary=True)
        error_of(r, 400, "'image'", "dim 1", "4", "3")
        r, _ = server("text_pinned").client.infer("text", {"tokens": np.zeros((2, 17), np.int64)})
        error_of(r, 400, "'tokens'", "17", "16")

    @check("an input too small for the network's pooling: 400, not a crash, the server goes on")
    def _():
        need_models()
        for build, inputs in (("conv2d", {"image": np.zeros((1, 3, 2, 40), np.float32)}),
                              ("fcn", {"image": np.zeros((2, 3, 40, 1), np.float32)}),
                              ("cnn1d_frames", {"signal": np.zeros((1, 8, 1), np.float32)})):
            r, _ = server(build).client.infer(build, inputs, binary=True)
            error_of(r, 400, "'" + next(iter(inputs)) + "'")
            require(server(build).proc.poll() is None, f"{build}: the server exited")
            x, y = case_arrays(build, 0)
            infer_ok(build, build, x, y, f"{build} after the 400", binary=True)

    # --- pinned ------------------------------------------------------------------------------
    @check("text pinned at 2x16 gives the numbers of torch and of the dynamic build")
    def _():
        need_models()
        x, y = case_arrays("text", case_index("text", "b2_s16"))
        pinned = infer_ok("text_pinned", "text", x, y, "pinned b2_s16")
        dyn = infer_ok("text", "text", x, y, "dynamic b2_s16")
        compare("pinned vs dynamic", pinned["logits"], dyn["logits"], RTOL, ATOL)
        print("        binary sizes: " + ", ".join(f"{b} {os.path.getsize(EXES[b])} bytes"
                                                for b in ("text", "text_pinned")))

    # --- kiln run ----------------------------------------------------------------------------
    @check("kiln run specialises to the .npy inputs' shapes (two shapes, two inputs sharing symbols)")
    def _():
        need_models()
        for name in ("text_mask", "cnn1d_frames"):
            for k in (0, 2):
                c = MANS[name]["cases"][k]
                out_dir = os.path.join(TMP, f"run-{name}-{k}")
                cmd = [KILN, "run", model_path(name), "--out-dir", out_dir]
                for n, f in c["inputs"].items():
                    cmd += ["--input", f"{n}={os.path.join(MD, f)}"]
                rc, out, err = run(cmd, timeout=120)
                require(rc == 0, f"kiln run {name} {c['label']}: " + describe(rc, out, err))
                for n, f in c["outputs"].items():
                    compare(f"kiln run {name} {c['label']} {n}", np.load(os.path.join(out_dir, n + ".npy")),
                            np.load(os.path.join(MD, f)), RTOL, ATOL)

    @check("kiln run with inputs that disagree on a symbol: exit 1 naming both inputs")
    def _():
        need_models()
        a = os.path.join(TMP, "tok_2x16.npy")
        b = os.path.join(TMP, "mask_2x15.npy")
        np.save(a, np.ones((2, 16), np.int64))
        np.save(b, np.ones((2, 15), np.int64))
        rc, out, err = run([KILN, "run", model_path("text_mask"), "--input", f"tokens={a}",
                            "--input", f"attention_mask={b}", "--out-dir", os.path.join(TMP, "run-bad")],
                           timeout=120)
        require(rc == 1 and "tokens" in err and "attention_mask" in err,
                "expected exit 1 naming tokens and attention_mask: " + describe(rc, out, err))

    # --- OUT predict ---------------------------------------------------------------------------
    @check("OUT predict --jsonl: requests at different shapes on stdin, one binary")
    def _():
        need_models()
        exe = EXES.get("conv2d")
        require(exe, "no conv2d binary")
        lines, wants = [], []
        for k in (0, 2, 1):
            x, y = case_arrays("conv2d", k)
            img = x["image"]
            lines.append(json.dumps({"id": f"c{k}", "inputs": [
                {"name": "image", "shape": list(img.shape), "datatype": "FP32",
                 "data": [float(v) for v in img.ravel()]}]}))
            wants.append(y["logits"])
        rc, out, err = run([exe, "predict", "--jsonl"], stdin="\n".join(lines) + "\n", timeout=120)
        require(rc == 0, "predict --jsonl: " + describe(rc, out, err))
        resps = [json.loads(s) for s in out.splitlines() if s.strip()]
        require(len(resps) == 3, f"{len(resps)} responses for 3 requests")
        for k, (resp, want) in zip((0, 2, 1), zip(resps, wants)):
            require(resp.get("id") == f"c{k}", f"response id {resp.get('id')!r}, expected c{k}")
            o = resp["outputs"][0]
            got = np.array(o["data"], np.float32).reshape(o["shape"])
            compare(f"predict c{k} logits", got, want, RTOL, ATOL)
        # Out of bounds on stdin: exit 1, the message on stderr.
        req = write_json(os.path.join(TMP, "too-long.json"), {"inputs": [
            {"name": "tokens", "shape": [1, 5000], "datatype": "INT64", "data": [1] * 5000}]})
        rc, out, err = run([EXES.get("text", "missing"), "predict", "--input", req], timeout=60)
        require(rc == 1 and "tokens" in err and "seq" in err and range_text(DEFAULT_LO, DEFAULT_HI) in err,
                "predict out of bounds: expected exit 1 naming tokens, seq and the range: "
                + describe(rc, out, err))

    @check("OUT info names the symbols and their bounds")
    def _():
        exe = EXES.get("text_mask_bounded")
        require(exe, "no text_mask_bounded binary")
        rc, out, err = run([exe, "info"], timeout=30)
        require(rc == 0 and "seq" in out and "512" in out and "batch" in out and "16" in out,
                "`OUT info` should show batch, seq and their bounds 16, 512: " + describe(rc, out, err))
except CheckFailed as e:
    suite.record("setup", False, str(e))
except Exception:
    suite.record("setup", False, traceback.format_exc())
finally:
    for s in SERVERS.values():
        s.stop()
    if any(s.proc.returncode not in (None, 0, -9) for s in SERVERS.values()):
        print("NOTE a server exited on its own: " + ", ".join(
            f"{b}: {s.proc.returncode}" for b, s in SERVERS.items()))

sys.exit(suite.finish())
