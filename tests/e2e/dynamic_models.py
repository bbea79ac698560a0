#!/usr/bin/python3
"""dynamic_models.py: torch exports with dynamic dims, for issue 9's tests and bench.

    /usr/bin/python3 tests/e2e/dynamic_models.py OUT_DIR [--no-ort] [--models a,b]

Writes into OUT_DIR, for every model below, NAME.onnx (torch.onnx.export,
opset 17, dynamic_axes, seeded weights, eval mode) and NAME.json (the
manifest: inputs, outputs, their symbolic dims, and reference cases), and
for each case the inputs and torch's outputs as NAME.cK.INPUT.npy and
NAME.cK.OUTPUT.npy. Every export is checked with onnx.checker (full
check, with shape inference), and, if node and bench/node_modules/
onnxruntime-node are there, run with ONNX Runtime on every case and
compared with torch (rtol 1e-4, atol 1e-5; tests/e2e/ort_run.js).
Without node only that comparison is skipped, and said so.

The models (inputs named as below, symbols are the ONNX dim_param names):
  text       tokens int64 [batch, seq] -> logits [batch, 3]
             nn.Embedding(1000, 64), TransformerEncoder (d_model 64, 4 heads,
             2 layers, ff 128, batch_first, dropout 0), mean over seq, Linear(64, 3)
  text_mask  the same plus attention_mask int64 [batch, seq] (1 keep, 0 pad),
             used as src_key_padding_mask and for a masked mean: two inputs
             sharing batch and seq
  cnn1d      signal float [batch, 8, length] -> logits [batch, 4]
             Conv1d(8, 16, 5, pad 2), ReLU, MaxPool1d(2), Conv1d(16, 32, 3,
             stride 2, pad 1), ReLU, mean over length, Linear(32, 4)
  cnn1d_frames  the same without the mean: per-frame logits [batch, 4, frames]
             (a 1x1 Conv1d(32, 4)); frames = (length/2 - 1)/2 + 1
  conv2d     image float [batch, 3, height, width] -> logits [batch, 10]
             Conv2d(3, 16, 3, stride 2, pad 1), BatchNorm2d, ReLU, MaxPool2d(2),
             depthwise Conv2d(16, 16, 3, pad 1, groups 16), ReLU, Conv2d(16, 32, 1),
             ReLU, AdaptiveAvgPool2d(1), Linear(32, 10)
  fcn        the same without the pooling and Linear: a 1x1 Conv2d(32, 5),
             output heatmap [batch, 5, out_h, out_w]

The test (test_dynamic.py) and the benchmark (bench/dynamic.py) import this
module: export_all(out_dir) returns the manifests.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

import numpy as np

OPSET = 17
RTOL, ATOL = 1e-4, 1e-5
HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(os.path.dirname(HERE))
ORT_RUN = os.path.join(HERE, "ort_run.js")


# --- the models -----------------------------------------------------------------------------


def _torch():
    import warnings
    import torch
    # torch 1.13's exporter warns about prim::Constant shape inference on
    # every TransformerEncoder: noise, not a problem of the export.
    warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.onnx")
    return torch


def _text_module(with_mask):
    torch = _torch()
    nn = torch.nn

    class TextClassifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(1000, 64)
            layer = nn.TransformerEncoderLayer(d_model=64, nhead=4, dim_feedforward=128,
                                               dropout=0.0, batch_first=True)
            # enable_nested_tensor=False: the padded-batch fast path is not exportable.
            self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
            self.head = nn.Linear(64, 3)

        def forward(self, tokens, attention_mask=None):
            x = self.emb(tokens)
            if attention_mask is None:
                x = self.encoder(x)
                return self.head(x.mean(dim=1))
            pad = attention_mask == 0
            x = self.encoder(x, src_key_padding_mask=pad)
            keep = attention_mask.unsqueeze(-1).to(x.dtype)
            pooled = (x * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1.0)
            return self.head(pooled)

    if not with_mask:
        return TextClassifier()

    class WithMask(TextClassifier):
        def forward(self, tokens, attention_mask):
            return super().forward(tokens, attention_mask)

    return WithMask()


def _cnn1d_module(frames):
    torch = _torch()
    nn = torch.nn

    class Cnn1d(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv1d(8, 16, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2),
                nn.Conv1d(16, 32, 3, stride=2, padding=1), nn.ReLU())
            if frames:
                self.head = nn.Conv1d(32, 4, 1)
            else:
                self.head = nn.Linear(32, 4)

        def forward(self, signal):
            x = self.features(signal)
            if frames:
                return self.head(x)
            return self.head(x.mean(dim=2))

    return Cnn1d()


def _conv2d_module(fcn):
    torch = _torch()
    nn = torch.nn

    class ConvNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.ReLU(),
                nn.Conv2d(16, 32, 1), nn.ReLU())
            if fcn:
                self.head = nn.Conv2d(32, 5, 1)
            else:
                self.pool = nn.AdaptiveAvgPool2d(1)
                self.head = nn.Linear(32, 10)

        def forward(self, image):
            x = self.features(image)
            if fcn:
                return self.head(x)
            return self.head(torch.flatten(self.pool(x), 1))

    m = ConvNet()
    # Non-trivial running statistics, so that BatchNorm is not the identity.
    g = torch.Generator().manual_seed(7)
    bn = m.features[1]
    with torch.no_grad():
        bn.running_mean.copy_(torch.rand(16, generator=g) * 0.4 - 0.2)
        bn.running_var.copy_(torch.rand(16, generator=g) * 0.5 + 0.75)
        bn.weight.copy_(torch.rand(16, generator=g) + 0.5)
        bn.bias.copy_(torch.rand(16, generator=g) * 0.2 - 0.1)
    return m


def _tokens(rng, b, s):
    return rng.integers(0, 1000, size=(b, s), dtype=np.int64)


def _mask(rng, b, s):
    """1 for the first n tokens of each row, n in [1, s]; row 0 keeps all."""
    m = np.zeros((b, s), dtype=np.int64)
    for i in range(b):
        n = s if i == 0 else int(rng.integers(1, s + 1))
        m[i, :n] = 1
    return m


def _floats(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


# name: (module factory, inputs [(name, dtype, dims)], outputs [(name, dims)], cases)
# dims: an int is fixed, a str is a dim_param (inputs: the symbols; outputs:
# the names torch writes into the model for the output's dynamic dims).
# cases: (label, {symbol: value}).
MODELS = {
    "text": (
        lambda: _text_module(False),
        [("tokens", "int64", ["batch", "seq"])],
        [("logits", ["batch", 3])],
        [("b1_s7", {"batch": 1, "seq": 7}), ("b3_s16", {"batch": 3, "seq": 16}),
         ("b2_s128", {"batch": 2, "seq": 128}), ("b2_s16", {"batch": 2, "seq": 16}),
         ("b5_s1", {"batch": 5, "seq": 1}), ("b1_s300", {"batch": 1, "seq": 300})]),
    "text_mask": (
        lambda: _text_module(True),
        [("tokens", "int64", ["batch", "seq"]), ("attention_mask", "int64", ["batch", "seq"])],
        [("logits", ["batch", 3])],
        [("b1_s7", {"batch": 1, "seq": 7}), ("b3_s16", {"batch": 3, "seq": 16}),
         ("b2_s128", {"batch": 2, "seq": 128}), ("b4_s33", {"batch": 4, "seq": 33})]),
    "cnn1d": (
        lambda: _cnn1d_module(False),
        [("signal", "float32", ["batch", 8, "length"])],
        [("logits", ["batch", 4])],
        [("b1_l9", {"batch": 1, "length": 9}), ("b2_l64", {"batch": 2, "length": 64}),
         ("b3_l333", {"batch": 3, "length": 333}), ("b1_l4", {"batch": 1, "length": 4})]),
    "cnn1d_frames": (
        lambda: _cnn1d_module(True),
        [("signal", "float32", ["batch", 8, "length"])],
        [("frame_logits", ["batch", 4, "frames"])],
        [("b1_l9", {"batch": 1, "length": 9}), ("b2_l64", {"batch": 2, "length": 64}),
         ("b3_l333", {"batch": 3, "length": 333})]),
    "conv2d": (
        lambda: _conv2d_module(False),
        [("image", "float32", ["batch", 3, "height", "width"])],
        [("logits", ["batch", 10])],
        [("b1_32x32", {"batch": 1, "height": 32, "width": 32}),
         ("b2_48x80", {"batch": 2, "height": 48, "width": 80}),
         ("b3_97x61", {"batch": 3, "height": 97, "width": 61}),
         ("b1_4x4", {"batch": 1, "height": 4, "width": 4})]),
    "fcn": (
        lambda: _conv2d_module(True),
        [("image", "float32", ["batch", 3, "height", "width"])],
        [("heatmap", ["batch", 5, "out_h", "out_w"])],
        [("b1_32x32", {"batch": 1, "height": 32, "width": 32}),
         ("b2_48x80", {"batch": 2, "height": 48, "width": 80}),
         ("b3_97x61", {"batch": 3, "height": 97, "width": 61})]),
}


def make_inputs(name, vals, seed):
    """The inputs of model `name` at symbol values vals: {input: ndarray}."""
    rng = np.random.default_rng(seed)
    _, ins, _, _ = MODELS[name]
    out = {}
    for iname, dtype, dims in ins:
        shape = [d if isinstance(d, int) else vals[d] for d in dims]
        if iname == "tokens":
            out[iname] = _tokens(rng, *shape)
        elif iname == "attention_mask":
            out[iname] = _mask(rng, *shape)
        else:
            out[iname] = _floats(rng, *shape)
    return out


def module(name):
    """The torch module of model `name`, seeded, in eval mode."""
    torch = _torch()
    torch.manual_seed(1234)
    m = MODELS[name][0]()
    m.eval()
    return m


def torch_outputs(m, name, inputs):
    torch = _torch()
    _, ins, outs, _ = MODELS[name]
    # Not under no_grad: there TransformerEncoderLayer takes its fused fast
    # path, which the export cannot take; the references use the exported path.
    y = m(*[torch.from_numpy(inputs[i[0]]) for i in ins])
    y = y if isinstance(y, tuple) else (y,)
    return {o[0]: t.detach().numpy().astype(np.float32) for o, t in zip(outs, y)}


def export(name, out_dir):
    """Exports model `name` with its reference cases; returns its manifest."""
    torch = _torch()
    import onnx
    _, ins, outs, cases = MODELS[name]
    m = module(name)
    path = os.path.join(out_dir, name + ".onnx")
    sample = make_inputs(name, cases[0][1], seed=0)
    dyn = {}
    for n, dims in [(i[0], i[2]) for i in ins] + [(o[0], o[1]) for o in outs]:
        dyn[n] = {k: d for k, d in enumerate(dims) if isinstance(d, str)}
    # Not under no_grad either (see torch_outputs).
    torch.onnx.export(m, tuple(torch.from_numpy(sample[i[0]]) for i in ins), path,
                      input_names=[i[0] for i in ins], output_names=[o[0] for o in outs],
                      dynamic_axes=dyn, opset_version=OPSET, do_constant_folding=True)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    man = {"model": name + ".onnx", "name": name,
           "inputs": [{"name": i[0], "dtype": i[1], "dims": i[2]} for i in ins],
           "outputs": [{"name": o[0], "dims": o[1]} for o in outs], "cases": []}
    for k, (label, vals) in enumerate(cases):
        x = make_inputs(name, vals, seed=100 + k)
        y = torch_outputs(m, name, x)
        case = {"label": label, "symbols": vals, "inputs": {}, "outputs": {}}
        for kind, arrays in (("inputs", x), ("outputs", y)):
            for n, a in arrays.items():
                f = f"{name}.c{k}.{n}.npy"
                np.save(os.path.join(out_dir, f), a)
                case[kind][n] = f
        man["cases"].append(case)
    with open(os.path.join(out_dir, name + ".json"), "w") as f:
        json.dump(man, f, indent=1)
    return man


# --- ONNX Runtime ---------------------------------------------------------------------------


def ort_available():
    """(usable, why not): node on PATH and onnxruntime-node under bench/node_modules."""
    if not shutil.which("node"):
        return False, "node is not installed"
    mod = os.path.join(SOURCE_DIR, "bench", "node_modules", "onnxruntime-node")
    if not os.path.isdir(mod):
        return False, f"{mod} is missing (npm install in bench/, see bench/README.md)"
    return True, ""


def ort_run(model, runs, timeout=300):
    """Runs model with ONNX Runtime (one thread, one session) once per
    (out_dir, {input name: .npy path}) of runs, writing out_dir/OUTPUT.npy
    for every output. Returns [{output: ndarray}] in the order of runs."""
    cmd = ["node", ORT_RUN, model]
    for k, (out_dir, inputs) in enumerate(runs):
        cmd += (["--"] if k else []) + [out_dir] + [f"{n}={p}" for n, p in inputs.items()]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)[:300]}...: exit {p.returncode}: {p.stderr[-1500:]}")
    names = json.loads(p.stdout)["outputs"]
    return [{n: np.load(os.path.join(d, n + ".npy")) for n in names} for d, _ in runs]


def check_with_ort(man, out_dir):
    """Every case of manifest man through ONNX Runtime, against torch.
    Returns a list of problems (empty: all agree)."""
    problems = []
    model = os.path.join(out_dir, man["model"])
    runs = [(os.path.join(out_dir, "ort", f"{man['name']}.c{k}"),
             {n: os.path.join(out_dir, f) for n, f in case["inputs"].items()})
            for k, case in enumerate(man["cases"])]
    for case, got in zip(man["cases"], ort_run(model, runs)):
        for n, f in case["outputs"].items():
            want = np.load(os.path.join(out_dir, f))
            g = got.get(n)
            if g is None or g.shape != want.shape:
                problems.append(f"{man['name']} {case['label']} {n}: ORT shape "
                                f"{None if g is None else list(g.shape)}, torch {list(want.shape)}")
            elif not np.allclose(g, want, rtol=RTOL, atol=ATOL):
                err = float(np.abs(g.astype(np.float64) - want).max())
                problems.append(f"{man['name']} {case['label']} {n}: ORT and torch differ, "
                                f"max abs err {err:.3g}")
    return problems


def export_all(out_dir, names=None, ort=True, log=print):
    """Exports the models (all, or names) into out_dir; with ort, checks each
    against ONNX Runtime where it is installed. Returns {name: manifest};
    raises RuntimeError if ORT disagrees with torch."""
    os.makedirs(out_dir, exist_ok=True)
    mans = {n: export(n, out_dir) for n in (names or MODELS)}
    if ort:
        ok, why = ort_available()
        if not ok:
            log(f"NOTE ONNX Runtime comparison skipped: {why}")
        else:
            problems = []
            for man in mans.values():
                problems += check_with_ort(man, out_dir)
            if problems:
                raise RuntimeError("ONNX Runtime disagrees with torch:\n  " + "\n  ".join(problems))
            log(f"ONNX Runtime agrees with torch on every case of {', '.join(mans)} "
                f"(rtol {RTOL}, atol {ATOL})")
    return mans


def main():
    ap = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--no-ort", action="store_true", help="skip the ONNX Runtime comparison")
    ap.add_argument("--models", help="comma-separated subset of " + ",".join(MODELS))
    a = ap.parse_args()
    names = a.models.split(",") if a.models else None
    for n in names or []:
        if n not in MODELS:
            ap.error(f"unknown model {n!r}; known: {', '.join(MODELS)}")
    try:
        mans = export_all(a.out_dir, names, ort=not a.no_ort)
    except RuntimeError as e:
        print(f"dynamic_models.py: {e}", file=sys.stderr)
        return 1
    for man in mans.values():
        print(f"{os.path.join(a.out_dir, man['model'])}: {len(man['cases'])} cases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
