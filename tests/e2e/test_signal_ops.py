#!/usr/bin/python3
"""End to end for the signal, sampling and text ops (issue 12): STFT with a
HannWindow, DFT (one-sided real, complex forward and inverse, power-of-two
and other lengths), the window ops and MelWeightMatrix, GridSample (every
mode, padding and align_corners), RoiAlign (avg and max, aligned or not)
and TfIdfVectorizer (TF, IDF, TFIDF, skip-grams; integer and string
tokens, the latter served as BYTES inputs).

    /usr/bin/python3 tests/e2e/test_signal_ops.py --kiln BUILD/kiln \
        --build-dir BUILD --source-dir SRC

torch 1.13 exports neither torch.stft nor torch.fft at opset 17, so the
signal models are onnx.helper graphs compared with torch.stft, torch.fft
and numpy; GridSample is a torch export (F.grid_sample, opset 17) and
RoiAlign a torchvision export (ops.roi_align, opset 16), each compared with
the module that was exported. Models with a dynamic batch or signal length
are compiled once and served at several shapes. Where node and
onnxruntime-node (bench/node_modules) are there, ONNX Runtime runs the
same models too. Tolerances: rtol 1e-4 with an atol scaled to the data
(float32 transforms of up to 512 points: atol 1e-4 times the largest
magnitude); TfIdf counts exactly. Only processes this script started are
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

args = parse_args(__doc__)
suite = Suite("signal-ops")
check = suite.check
TMP = suite.tmp
HERE = os.path.dirname(os.path.abspath(__file__))
RTOL = 1e-4


def rng(k):
    return np.random.default_rng(500 + k)


def compile_model(path, name, *opts):
    exe = os.path.join(TMP, name)
    rc, out, err = run([args.kiln, "compile", path, "-o", exe, "--name", name, *opts], timeout=300)
    require(rc == 0, f"kiln compile {name}: " + describe(rc, out, err))
    return exe


def serve(exe, name, cases):
    """[(inputs)] -> [{output: array}], one server for all."""
    srv = Server(exe, "--workers", "1")
    try:
        got = []
        for k, inputs in enumerate(cases):
            r, outs = srv.client.infer(name, inputs)
            require(r.status == 200, f"{name} case {k}: status {r.status}: {r.body[:400]!r}")
            got.append(outs)
        return got
    finally:
        srv.stop()


def ort_available():
    if not shutil.which("node"):
        return False
    return os.path.isdir(os.path.join(args.source_dir, "bench", "node_modules",
                                      "onnxruntime-node"))


def ort_run(model, cases):
    """ONNX Runtime over each case ({input: array}); [{output: array}]."""
    cmd = ["node", os.path.join(HERE, "ort_run.js"), model]
    dirs = []
    for k, inputs in enumerate(cases):
        d = os.path.join(TMP, "ort", f"{os.path.basename(model)}.{k}")
        os.makedirs(d, exist_ok=True)
        files = []
        for n, v in inputs.items():
            p = os.path.join(d, f"in_{n}.npy")
            np.save(p, v)
            files.append(f"{n}={p}")
        cmd += (["--"] if k else []) + [d] + files
        dirs.append(d)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    require(p.returncode == 0, f"ort_run: exit {p.returncode}: {p.stderr[-800:]}")
    names = json.loads(p.stdout)["outputs"]
    return [{n: np.load(os.path.join(d, n + ".npy")) for n in names} for d in dirs]


ORT = ort_available()
ORT_CHECKED = []


def also_ort(model, cases, got, tol):
    """kiln's outputs against ONNX Runtime's, when it is installed."""
    if not ORT:
        return
    for k, ref in enumerate(ort_run(model, cases)):
        for n, w in ref.items():
            rtol, atol = tol(n, w)
            compare(f"{os.path.basename(model)} case {k} {n} vs ORT", got[k][n], w, rtol, atol)
    ORT_CHECKED.append(os.path.basename(model))


def atol_of(w):
    return 1e-4 * max(1.0, float(np.max(np.abs(w))) if w.size else 1.0)


def complex_out(z):
    return np.stack([z.real, z.imag], axis=-1).astype(np.float32)


try:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def save(nodes, inputs, outputs, inits, name, opset=17):
        g = helper.make_graph(nodes, name, inputs, outputs, inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
        onnx.checker.check_model(m) if all(o.type.tensor_type.HasField("shape") for o in outputs) else None
        path = os.path.join(TMP, name + ".onnx")
        onnx.save(m, path)
        return path

    def val(name, t, shape):
        return helper.make_tensor_value_info(name, t, shape)

    def i64(name, v):
        return numpy_helper.from_array(np.array(v, np.int64), name)

    @check("STFT (HannWindow 64, step 16) and DFT (rfft 400 and 512, complex fft and ifft) on a "
           "dynamic batch and length: one binary, several lengths, match torch and numpy")
    def _():
        import torch
        F = TensorProto.FLOAT
        nodes = [
            helper.make_node("HannWindow", ["wsize"], ["window"], name="hann"),
            helper.make_node("STFT", ["signal", "step", "window"], ["spec"], name="stft"),
            helper.make_node("DFT", ["signal"], ["rfft"], name="rfft", axis=1, onesided=1),
            helper.make_node("DFT", ["signal", "n512"], ["rfft512"], name="rfft512", axis=1,
                             onesided=1),
            helper.make_node("DFT", ["z"], ["fft"], name="fft", axis=1),
            helper.make_node("DFT", ["z"], ["ifft"], name="ifft", axis=1, inverse=1),
        ]
        inits = [i64("wsize", 64), i64("step", 16), i64("n512", 512)]
        path = save(nodes, [val("signal", F, ["batch", "length", 1]),
                            val("z", F, ["batch", 48, 2])],
                    [val(n, F, None) for n in ("window", "spec", "rfft", "rfft512", "fft", "ifft")],
                    inits, "signal")
        exe = compile_model(path, "signal")
        cases = []
        for k, (b, n) in enumerate([(2, 400), (1, 257), (3, 64)]):
            cases.append({"signal": rng(k).standard_normal((b, n, 1)).astype(np.float32),
                          "z": rng(10 + k).standard_normal((b, 48, 2)).astype(np.float32)})
        got = serve(exe, "signal", cases)
        win = torch.hann_window(64, periodic=True)
        for k, c in enumerate(cases):
            x = c["signal"][..., 0]
            z = c["z"][..., 0] + 1j * c["z"][..., 1]
            want = {
                "window": win.numpy(),
                "spec": torch.view_as_real(torch.stft(torch.from_numpy(x), 64, 16, window=win,
                                                      center=False, return_complex=True))
                .numpy().transpose(0, 2, 1, 3),
                "rfft": torch.view_as_real(torch.fft.rfft(torch.from_numpy(x), dim=1)).numpy(),
                "rfft512": complex_out(np.fft.rfft(x, n=512, axis=1)),
                "fft": complex_out(np.fft.fft(z, axis=1)),
                "ifft": complex_out(np.fft.ifft(z, axis=1)),
            }
            for n, w in want.items():
                compare(f"signal {list(x.shape)} {n}", got[k][n], w, RTOL, atol_of(w))
        also_ort(path, cases, got, lambda n, w: (RTOL, atol_of(w)))

    @check("HannWindow, HammingWindow, BlackmanWindow (periodic and symmetric, float and double) "
           "match torch; MelWeightMatrix matches the ONNX formula")
    def _():
        import torch
        nodes, outs, want = [], [], {}
        for op, fn in (("HannWindow", torch.hann_window), ("HammingWindow", torch.hamming_window),
                       ("BlackmanWindow", torch.blackman_window)):
            for periodic in (1, 0):
                for dt, tt in ((TensorProto.FLOAT, torch.float32),
                               (TensorProto.DOUBLE, torch.float64)):
                    y = f"{op}_{periodic}_{dt}"
                    nodes.append(helper.make_node(op, ["size"], [y], name=y, periodic=periodic,
                                                  output_datatype=dt))
                    outs.append(val(y, dt, [37]))
                    if op == "HammingWindow":  # ONNX's alpha 25/46, torch's 0.54
                        w = fn(37, periodic=bool(periodic), alpha=25 / 46, beta=21 / 46,
                               dtype=tt)
                    else:
                        w = fn(37, periodic=bool(periodic), dtype=tt)
                    want[y] = w.numpy()
        nodes.append(helper.make_node("MelWeightMatrix", ["bins", "dft", "rate", "lo", "hi"],
                                      ["mel"], name="mel"))
        outs.append(val("mel", TensorProto.FLOAT, None))
        inits = [i64("size", 37), numpy_helper.from_array(np.array(20, np.int32), "bins"),
                 numpy_helper.from_array(np.array(512, np.int32), "dft"),
                 numpy_helper.from_array(np.array(16000, np.int32), "rate"),
                 numpy_helper.from_array(np.array(20.0, np.float32), "lo"),
                 numpy_helper.from_array(np.array(7600.0, np.float32), "hi")]
        # The formula of onnx's own test (its mel step divides by bins + 2).
        bins, dft, rate = 20, 512, 16000
        lo_mel, hi_mel = 2595 * np.log10(1 + 20.0 / 700), 2595 * np.log10(1 + 7600.0 / 700)
        f = np.arange(bins + 2) * (hi_mel - lo_mel) / (bins + 2) + lo_mel
        f = (((dft + 1) * (700 * (np.power(10, f / 2595) - 1))) // rate).astype(int)
        mel = np.zeros((dft // 2 + 1, bins))
        for i in range(bins):
            lo, c, hi = f[i], f[i + 1], f[i + 2]
            if c == lo:
                mel[c, i] = 1
            else:
                for j in range(lo, c + 1):
                    mel[j, i] = (j - lo) / (c - lo)
            for j in range(c, hi):
                mel[j, i] = (hi - j) / (hi - c)
        want["mel"] = mel.astype(np.float32)
        path = save(nodes, [val("unused", TensorProto.FLOAT, [1])], outs, inits, "windows")
        exe = compile_model(path, "windows")
        got = serve(exe, "windows", [{"unused": np.zeros(1, np.float32)}])[0]
        for n, w in want.items():
            compare(f"windows {n}", got[n], w, 1e-6 if w.dtype == np.float64 else 1e-5, 1e-7)
        also_ort(path, [{"unused": np.zeros(1, np.float32)}], [got], lambda n, w: (1e-5, 1e-6))

    @check("GridSample (torch export: bilinear, nearest, bicubic x zeros, border, reflection x "
           "align_corners) on a dynamic batch and grid size matches torch")
    def _():
        import torch
        Fn = torch.nn.functional
        warnings.filterwarnings("ignore")
        combos = [(m, p, a) for m in ("bilinear", "nearest", "bicubic")
                  for p in ("zeros", "border", "reflection") for a in (False, True)]

        class G(torch.nn.Module):
            def forward(self, x, grid):
                return tuple(Fn.grid_sample(x, grid, mode=m, padding_mode=p, align_corners=a)
                             for m, p, a in combos)

        names = [f"{m}_{p}_{int(a)}" for m, p, a in combos]
        x0 = torch.randn(1, 3, 7, 9)
        g0 = torch.rand(1, 5, 6, 2) * 2.4 - 1.2
        path = os.path.join(TMP, "grid.onnx")
        torch.onnx.export(G(), (x0, g0), path, opset_version=17, input_names=["x", "grid"],
                          output_names=names,
                          dynamic_axes={"x": {0: "batch"}, "grid": {0: "batch", 1: "ho", 2: "wo"}})
        exe = compile_model(path, "grid")
        cases = []
        for k, (b, ho, wo) in enumerate([(1, 5, 6), (2, 11, 3), (3, 1, 17)]):
            r = rng(20 + k)
            grid = (r.random((b, ho, wo, 2)) * 2.6 - 1.3).astype(np.float32)
            grid[0, 0, 0] = [1.0, -1.0]  # exact corners
            cases.append({"x": r.standard_normal((b, 3, 7, 9)).astype(np.float32), "grid": grid})
        got = serve(exe, "grid", cases)
        for k, c in enumerate(cases):
            with torch.no_grad():
                want = G()(torch.from_numpy(c["x"]), torch.from_numpy(c["grid"]))
            for n, w in zip(names, want):
                compare(f"grid case {k} {n}", got[k][n], w.numpy(), RTOL, 1e-5)
        also_ort(path, cases, got, lambda n, w: (RTOL, 1e-5))

    @check("RoiAlign (torchvision exports: aligned at opset 16, not aligned at opset 11; "
           "sampling_ratio 2 and adaptive) on a dynamic roi count matches torchvision")
    def _():
        import torch
        import torchvision
        warnings.filterwarnings("ignore")
        ops = torchvision.ops

        # torchvision 0.14 exports roi_align with its opset-11 symbolic, which
        # writes no coordinate_transformation_mode: at opset 16 that means
        # half_pixel (aligned=True), at opset 11 output_half_pixel (aligned=False).
        class Aligned(torch.nn.Module):
            def forward(self, x, boxes):
                return (ops.roi_align(x, boxes, (5, 4), 0.5, 2, aligned=True),
                        ops.roi_align(x, boxes, (2, 6), 1.0, -1, aligned=True))

        class Unaligned(torch.nn.Module):
            def forward(self, x, boxes):
                return (ops.roi_align(x, boxes, (3, 3), 0.25, 0, aligned=False),
                        ops.roi_align(x, boxes, (4, 2), 1.0, 3, aligned=False))

        x0 = torch.randn(2, 4, 16, 20)
        b0 = torch.tensor([[0, 1.0, 2.0, 20.0, 14.0], [1, 0.0, 0.0, 39.0, 31.0]])
        cases = []
        for k, nr in enumerate([2, 7, 1]):
            r = rng(30 + k)
            xy = r.random((nr, 2)) * 30
            wh = r.random((nr, 2)) * 12 + 0.5
            boxes = np.concatenate([r.integers(0, 2, (nr, 1)), xy, xy + wh], 1).astype(np.float32)
            cases.append({"x": r.standard_normal((2, 4, 16, 20)).astype(np.float32),
                          "boxes": boxes})
        for mod, opset in ((Aligned(), 16), (Unaligned(), 11)):
            name = f"roi{opset}"
            names = [f"{name}_a", f"{name}_b"]
            path = os.path.join(TMP, name + ".onnx")
            torch.onnx.export(mod, (x0, b0), path, opset_version=opset,
                              input_names=["x", "boxes"], output_names=names,
                              dynamic_axes={"boxes": {0: "rois"}})
            exe = compile_model(path, name)
            got = serve(exe, name, cases)
            for k, c in enumerate(cases):
                with torch.no_grad():
                    want = mod(torch.from_numpy(c["x"]), torch.from_numpy(c["boxes"]))
                for n, w in zip(names, want):
                    compare(f"{name} case {k} {n}", got[k][n], w.numpy(), RTOL, 1e-5)
            also_ort(path, cases, got, lambda n, w: (RTOL, 1e-5))

    @check("RoiAlign with a batch index out of range is a 400 naming the node; max mode (ORT's "
           "weighted corners) at one sample a bin; inverted and huge rois answer without a crash")
    def _():
        F = TensorProto.FLOAT
        nodes = [helper.make_node("RoiAlign", ["x", "rois", "bi"], ["avg"], name="pool_avg",
                                  output_height=2, output_width=2, sampling_ratio=1),
                 helper.make_node("RoiAlign", ["x", "rois", "bi"], ["max"], name="pool_max",
                                  mode="max", output_height=2, output_width=2, sampling_ratio=1)]
        path = save(nodes, [val("x", F, [2, 1, 4, 4]), val("rois", F, ["r", 4]),
                            val("bi", TensorProto.INT64, ["r"])],
                    [val("avg", F, None), val("max", F, None)], [], "roi_hostile", opset=16)
        exe = compile_model(path, "roi_hostile")
        x = np.arange(32, dtype=np.float32).reshape(2, 1, 4, 4)
        srv = Server(exe, "--workers", "1")
        try:
            rois = np.array([[0, 0, 3, 3]], np.float32)
            r, out = srv.client.infer("roi_hostile", {"x": x, "rois": rois,
                                                      "bi": np.array([1], np.int64)})
            require(r.status == 200, f"status {r.status}: {r.body[:300]!r}")
            # sampling_ratio 1, half_pixel: one sample per bin, at (0.25 + 1.5 i, 0.25 +
            # 1.5 j). avg is that bilinear sample; max is ONNX Runtime's: the largest of
            # the four weighted corners (w * pixel), not of the samples.
            img = x[1, 0]
            want_avg, want_max = np.zeros((2, 2), np.float32), np.zeros((2, 2), np.float32)
            for i in range(2):
                for j in range(2):
                    yy, xx = 0.25 + 1.5 * i, 0.25 + 1.5 * j
                    y0, x0 = int(yy), int(xx)
                    ly, lx = yy - y0, xx - x0
                    taps = [((1 - ly) * (1 - lx), img[y0, x0]), ((1 - ly) * lx, img[y0, x0 + 1]),
                            (ly * (1 - lx), img[y0 + 1, x0]), (ly * lx, img[y0 + 1, x0 + 1])]
                    want_avg[i, j] = sum(w * v for w, v in taps)
                    want_max[i, j] = max(w * v for w, v in taps)
            compare("roi avg, one sample a bin", out["avg"][0, 0], want_avg, 1e-6, 1e-5)
            compare("roi max, one sample a bin", out["max"][0, 0], want_max, 1e-6, 1e-5)
            r, _ = srv.client.infer("roi_hostile", {"x": x, "rois": rois,
                                                    "bi": np.array([2], np.int64)})
            require(r.status == 400, f"batch index 2: status {r.status}, expected 400")
            msg = r.json().get("error", "")
            for w in ("pool_avg", "RoiAlign", "'bi'"):
                require(w in msg, f"error {msg!r} does not mention {w!r}")
            print(f"        batch index 2: {msg}")
            bad = np.array([[3, 3, 0, 0], [-1e30, -1e30, 1e30, 1e30]], np.float32)
            r, out = srv.client.infer("roi_hostile", {"x": x, "rois": bad,
                                                      "bi": np.array([0, 1], np.int64)})
            require(r.status == 200, f"hostile rois: status {r.status}: {r.body[:300]!r}")
        finally:
            srv.stop()

    @check("TfIdfVectorizer (int64 and int32 tokens; TF, IDF, TFIDF; 1- to 3-grams, skips 0 and "
           "2) on a dynamic batch and length matches a brute-force count")
    def _():
        pool = [2, 3, 5, 4,          # unigrams
                5, 6, 7, 8, 6, 7,    # bigrams (5,6) (7,8) (6,7)
                2, 3, 4]             # trigram (2,3,4)
        counts = [0, 4, 10]
        grams = [(2,), (3,), (5,), (4,), (5, 6), (7, 8), (6, 7), (2, 3, 4)]
        idx = [7, 6, 5, 4, 3, 2, 1, 0]
        weights = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0]
        configs = [("TF", 1, 3, 0), ("TF", 2, 3, 2), ("IDF", 1, 2, 2), ("TFIDF", 1, 3, 2)]
        nodes, outs = [], []
        for k, (mode, lo, hi, skip) in enumerate(configs):
            for x in ("x", "x32"):
                nodes.append(helper.make_node(
                    "TfIdfVectorizer", [x], [f"{x}_{k}"], name=f"tfidf_{x}_{k}", mode=mode,
                    min_gram_length=lo, max_gram_length=hi, max_skip_count=skip,
                    ngram_counts=counts, ngram_indexes=idx, pool_int64s=pool,
                    **({"weights": weights} if mode != "TF" else {})))
                outs.append(val(f"{x}_{k}", TensorProto.FLOAT, None))
        path = save(nodes, [val("x", TensorProto.INT64, ["batch", "len"]),
                            val("x32", TensorProto.INT32, ["batch", "len"])], outs, [], "tfidf")
        exe = compile_model(path, "tfidf")

        def reference(row, mode, lo, hi, skip):
            """Counts by brute force: each n-gram (n >= 2) once per start and skip
            distance; unigrams once per position."""
            out = np.zeros(8, np.float32)
            for g, gram in enumerate(grams):
                n = len(gram)
                if not lo <= n <= hi:
                    continue
                cnt = 0
                for d in ([1] if n == 1 else range(1, skip + 2)):
                    for s in range(len(row)):
                        if s + d * (n - 1) < len(row) and all(
                                row[s + d * j] == gram[j] for j in range(n)):
                            cnt += 1
                w = weights[g] if mode != "TF" else 1.0
                out[idx[g]] = cnt if mode == "TF" else (w if cnt else 0) if mode == "IDF" \
                    else cnt * w
            return out

        cases = []
        for k, (b, n) in enumerate([(2, 12), (1, 3), (4, 30)]):
            t = rng(40 + k).integers(2, 9, (b, n))
            cases.append({"x": t.astype(np.int64), "x32": t.astype(np.int32)})
        got = serve(exe, "tfidf", cases)
        for k, c in enumerate(cases):
            for j, cfg in enumerate(configs):
                want = np.stack([reference(list(r), *cfg) for r in c["x"]])
                for x in ("x", "x32"):
                    compare(f"tfidf case {k} {x}_{j} {cfg}", got[k][f"{x}_{j}"], want, 0, 0)
        also_ort(path, cases, got, lambda n, w: (0, 0))

    @check("TfIdfVectorizer over string tokens (pool_strings; BYTES inputs as JSON strings) on "
           "a dynamic batch and length matches the integer-token model; bad BYTES are 400s")
    def _():
        words = ["the", "cat", "sat", "on", "mat", "a", "dog", "ran", "éclair", ""]
        pool = ["cat", "dog", "the", "mat", "", "éclair",   # unigrams
                "the", "cat", "on", "the", "cat", "sat"]     # bigrams
        counts = [0, 6]
        idx = [0, 1, 2, 3, 4, 5, 6, 7, 8]
        nodes = [helper.make_node("TfIdfVectorizer", ["text"], ["tf"], name="tfidf_text",
                                  mode="TFIDF", min_gram_length=1, max_gram_length=2,
                                  max_skip_count=1, ngram_counts=counts, ngram_indexes=idx,
                                  pool_strings=pool, weights=[1.0 + k for k in idx])]
        path = save(nodes, [val("text", TensorProto.STRING, ["batch", "len"])],
                    [val("tf", TensorProto.FLOAT, None)], [], "tfidf_text", opset=9)
        # The same model over integer ids (each word its index in `words`).
        ipool = [words.index(w) for w in pool]
        inodes = [helper.make_node("TfIdfVectorizer", ["ids"], ["tf"], name="tfidf_ids",
                                   mode="TFIDF", min_gram_length=1, max_gram_length=2,
                                   max_skip_count=1, ngram_counts=counts, ngram_indexes=idx,
                                   pool_int64s=ipool, weights=[1.0 + k for k in idx])]
        ipath = save(inodes, [val("ids", TensorProto.INT64, ["batch", "len"])],
                     [val("tf", TensorProto.FLOAT, None)], [], "tfidf_ids", opset=9)
        exe, iexe = compile_model(path, "tfidf_text"), compile_model(ipath, "tfidf_ids")
        cases = [rng(50 + k).integers(0, len(words), shape) for k, shape in
                 enumerate([(2, 9), (1, 1), (3, 25)])]
        want = serve(iexe, "tfidf_ids", [{"ids": c.astype(np.int64)} for c in cases])
        srv = Server(exe, "--workers", "1")
        try:
            for k, c in enumerate(cases):
                req = {"inputs": [{"name": "text", "shape": list(c.shape), "datatype": "BYTES",
                                   "data": [words[i] for i in c.reshape(-1)]}]}
                r = srv.client.post_json("/v2/models/tfidf_text/infer", req)
                require(r.status == 200, f"case {k}: status {r.status}: {r.body[:300]!r}")
                out = r.json()["outputs"][0]
                got = np.array(out["data"], np.float32).reshape(out["shape"])
                compare(f"tfidf_text case {k}", got, want[k]["tf"], 0, 0)
                require(got.sum() > 0 or k == 1, f"case {k}: nothing counted")
            for data, what in (([1, "cat"], "'text'"), (["ca\u0000t", "x"], "u0000")):
                req = {"inputs": [{"name": "text", "shape": [1, 2], "datatype": "BYTES",
                                   "data": data}]}
                r = srv.client.post_json("/v2/models/tfidf_text/infer", req)
                msg = r.json().get("error", "") if r.status == 400 else ""
                require(r.status == 400 and what in msg,
                        f"{data!r}: status {r.status}, error {r.body[:300]!r}")
                print(f"        {data!r}: {msg}")
        finally:
            srv.stop()
        if ORT:
            ref = ort_run(ipath, [{"ids": c.astype(np.int64)} for c in cases])
            for k in range(len(cases)):
                compare(f"tfidf_ids case {k} vs ORT", want[k]["tf"], ref[k]["tf"], 0, 0)
            ORT_CHECKED.append("tfidf_ids.onnx")

    print(f"        ONNX Runtime: {'checked ' + ', '.join(ORT_CHECKED) if ORT_CHECKED else 'not installed (bench/node_modules), skipped'}")
except CheckFailed as e:
    suite.record("setup", False, str(e))

sys.exit(suite.finish())
