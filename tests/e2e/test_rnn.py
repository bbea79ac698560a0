#!/usr/bin/python3
"""End to end for the recurrent ops (issue 12): torch exports of an LSTM and
a GRU sequence classifier and of a stateful LSTM, each compiled ONCE
without --shape (batch and sequence length dynamic) and served over v2
HTTP, compared with torch (rtol 1e-4, atol 1e-5) and, when
onnxruntime-node is under bench/node_modules, with ONNX Runtime too.

    test_rnn.py --kiln BUILD/kiln --build-dir BUILD --source-dir SRC

What is checked:
  - the exports (opset 17, dynamic_axes batch and seq) pass onnx.checker;
  - the classifiers answer at lengths 1, 7, 64, 300 and several batches;
  - the stateful model (x, h, c -> y, h', c'), fed its own state back over
    10 calls of 1 to 12 steps, gives what torch gives on the whole sequence;
  - hand-built LSTM, GRU and RNN nodes with sequence_lens (per-row lengths),
    initial states, every direction, clip, linear_before_reset 0 and 1 and
    other activations agree with ONNX Runtime, at layout 0 and (the same
    weights, inputs transposed) layout 1, which ONNX Runtime lacks;
  - a length past the sequence is a 400 that names the node and the
    input, not a crash.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dynamic_models  # noqa: E402
import rnn_models  # noqa: E402
from kiln_e2e import Server, Suite, compare, describe, parse_args, require, run  # noqa: E402

RTOL, ATOL = 1e-4, 1e-5
SZ = rnn_models.SIZES["test"]

args = parse_args(__doc__)
KILN = args.kiln
suite = Suite("rnn")
check = suite.check
TMP = suite.tmp
MODELS = {}   # name -> (onnx path, torch module)
EXES = {}     # name -> binary
SERVERS = {}  # name -> Server
ORT_OK, ORT_WHY = dynamic_models.ort_available()

# Lengths and batches the classifiers are served at: (batch, seq).
CASES = [(1, 1), (3, 7), (2, 64), (1, 300), (8, 300), (5, 1)]


def clf_input(name, b, s, seed):
    return rnn_models.clf_input(name, SZ, b, s, seed)


def torch_run(m, *xs):
    return rnn_models.torch_run(m, *xs)


def server(name):
    if name not in SERVERS:
        require(name in EXES, f"no binary for {name}: its `kiln compile` check failed")
        SERVERS[name] = Server(EXES[name], "--workers", "2")
    return SERVERS[name]


def infer(name, inputs, what):
    r, outs = server(name).client.infer(name, inputs, binary=True)
    require(r.status == 200, f"{what}: status {r.status}: {r.body[:400]!r}")
    return outs


def ort_outputs(path, tag, runs):
    """ONNX Runtime on each {input: array} of runs: [{output: array}]."""
    specs = []
    for k, inputs in enumerate(runs):
        d = os.path.join(TMP, "ort", f"{tag}.{k}")
        os.makedirs(d, exist_ok=True)
        files = {}
        for n, a in inputs.items():
            files[n] = os.path.join(d, "in." + n + ".npy")
            np.save(files[n], a)
        specs.append((d, files))
    return dynamic_models.ort_run(path, specs)


@check("torch exports (opset 17, dynamic batch and seq) pass onnx.checker")
def _():
    for name in ("lstm_clf", "gru_clf", "stateful"):
        m = rnn_models.module(name, SZ)
        MODELS[name] = (rnn_models.export(name, m, SZ, os.path.join(TMP, name + ".onnx")), m)


@check("each model compiles once, without --shape")
def _():
    require(MODELS, "the models were not exported")
    for name, (path, _) in MODELS.items():
        exe = os.path.join(TMP, name)
        rc, out, err = run([KILN, "compile", path, "--name", name, "-o", exe], timeout=300)
        require(rc == 0, f"kiln compile {name}: " + describe(rc, out, err))
        EXES[name] = exe


for _name in ("lstm_clf", "gru_clf"):
    @check(f"{_name} served at lengths 1, 7, 64, 300 and batches 1 to 8 matches torch")
    def _(name=_name):
        _, m = MODELS[name]
        for k, (b, s) in enumerate(CASES):
            x = clf_input(name, b, s, 10 + k)
            got = infer(name, {"x": x}, f"{name} b{b} s{s}")
            compare(f"{name} b{b} s{s} logits", got["logits"], torch_run(m, x)[0], RTOL, ATOL)


@check("the stateful LSTM fed its own state over 10 calls matches torch on the whole sequence")
def _():
    _, m = MODELS["stateful"]
    rng = np.random.default_rng(7)
    b = 3
    lens = [1, 5, 12, 2, 7, 1, 9, 3, 4, 6]
    chunks = [rng.standard_normal((b, n, 8)).astype(np.float32) for n in lens]
    h = np.zeros((1, b, 24), np.float32)
    c = np.zeros((1, b, 24), np.float32)
    ys = []
    for k, x in enumerate(chunks):
        out = infer("stateful", {"x": x, "h": h, "c": c}, f"call {k}")
        ys.append(out["y"])
        h, c = out["h_out"], out["c_out"]
    want_y, want_h, want_c = torch_run(m, np.concatenate(chunks, axis=1),
                                       np.zeros((1, b, 24), np.float32),
                                       np.zeros((1, b, 24), np.float32))
    compare("y over 10 calls", np.concatenate(ys, axis=1), want_y, RTOL, ATOL)
    compare("h after 10 calls", h, want_h, RTOL, ATOL)
    compare("c after 10 calls", c, want_c, RTOL, ATOL)


@check("the torch exports agree with ONNX Runtime at lengths 1, 64 and 300")
def _():
    if not ORT_OK:
        print(f"        skipped: {ORT_WHY}")
        return
    for name in ("lstm_clf", "gru_clf"):
        path, _ = MODELS[name]
        runs = [{"x": clf_input(name, b, s, 50 + s)} for b, s in ((1, 1), (4, 64), (2, 300))]
        for inputs, want in zip(runs, ort_outputs(path, name, runs)):
            what = f"{name} {list(inputs['x'].shape)}"
            got = infer(name, inputs, what)
            compare(what + " vs ORT", got["logits"], want["logits"], RTOL, ATOL)


# Hand-built nodes with what torch does not export: (name, op, gates,
# attributes). Each is compiled at layout 0 and 1 from the same weights;
# ONNX Runtime (layout 0 only) is the reference for both.
NODES = [
    ("lstm_bi", "LSTM", 4, dict(direction="bidirectional", clip=3.0)),
    ("gru_rev", "GRU", 3, dict(direction="reverse", linear_before_reset=0, clip=2.5)),
    ("gru_bi_lbr", "GRU", 3, dict(direction="bidirectional", linear_before_reset=1)),
    ("rnn_bi", "RNN", 1, dict(direction="bidirectional", activations=["Relu", "Tanh"])),
    ("lstm_acts", "LSTM", 4, dict(direction="forward", input_forget=1,
                                  activations=["HardSigmoid", "LeakyRelu", "Softsign"],
                                  activation_alpha=[0.3, 0.05], activation_beta=[0.4])),
    ("gru_acts", "GRU", 3, dict(direction="bidirectional",
                                activations=["Sigmoid", "ScaledTanh", "HardSigmoid", "Elu"],
                                activation_alpha=[0.9, 0.25, 0.8], activation_beta=[1.1, 0.45])),
]
I, H = 5, 6


def node_model(path, op, gates, attrs, layout):
    """One `op` node with sequence_lens, initial states (LSTM: peepholes
    too) as inputs, every output present; batch and seq symbolic."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(3)
    D = 2 if attrs["direction"] == "bidirectional" else 1
    shapes = [("W", (D, gates * H, I)), ("R", (D, gates * H, H)), ("B", (D, 2 * gates * H))]
    if op == "LSTM":
        shapes.append(("P", (D, 3 * H)))
    inits = [numpy_helper.from_array(rng.uniform(-0.5, 0.5, s).astype(np.float32), n)
             for n, s in shapes]
    st = ["batch", D, H] if layout else [D, "batch", H]
    f = TensorProto.FLOAT
    ins = [helper.make_tensor_value_info("X", f, ["batch", "seq", I] if layout else
                                         ["seq", "batch", I]),
           helper.make_tensor_value_info("lens", TensorProto.INT32, ["batch"]),
           helper.make_tensor_value_info("h0", f, st)]
    outs = [helper.make_tensor_value_info("Y", f, ["batch", "seq", D, H] if layout else
                                          ["seq", D, "batch", H]),
            helper.make_tensor_value_info("Y_h", f, st)]
    names = ["X", "W", "R", "B", "lens", "h0"]
    if op == "LSTM":
        ins.append(helper.make_tensor_value_info("c0", f, st))
        outs.append(helper.make_tensor_value_info("Y_c", f, st))
        names += ["c0", "P"]
    node = helper.make_node(op, names, [o.name for o in outs], name="rec", hidden_size=H,
                            layout=layout, **attrs)
    g = helper.make_graph([node], "rec", ins, outs, inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)


def node_inputs(op, D, b, s, rng):
    """Layout-0 inputs."""
    x = {"X": rng.standard_normal((s, b, I)).astype(np.float32),
         "lens": rng.integers(1, s + 1, b).astype(np.int32),
         "h0": rng.standard_normal((D, b, H)).astype(np.float32)}
    if op == "LSTM":
        x["c0"] = rng.standard_normal((D, b, H)).astype(np.float32)
    return x


def to_layout1(arrays):
    """Layout 0 arrays as layout 1: X, Y with batch first, states [B, D, H]."""
    out = {}
    for n, a in arrays.items():
        if n == "X":
            out[n] = a.transpose(1, 0, 2)
        elif n == "Y":
            out[n] = a.transpose(2, 0, 1, 3)
        elif n == "lens":
            out[n] = a
        else:
            out[n] = a.transpose(1, 0, 2)
    return {n: np.ascontiguousarray(a) for n, a in out.items()}


for _spec in NODES:
    @check(f"{_spec[0]}: {_spec[1]} with sequence_lens, initial state, "
           f"{', '.join(f'{k}={v}' for k, v in _spec[3].items())} agrees with ONNX Runtime "
           f"at layout 0 and 1")
    def _(spec=_spec):
        name, op, gates, attrs = spec
        D = 2 if attrs["direction"] == "bidirectional" else 1
        for layout in (0, 1):
            path = os.path.join(TMP, f"{name}.l{layout}.onnx")
            node_model(path, op, gates, attrs, layout)
            exe = os.path.join(TMP, f"{name}.l{layout}")
            rc, out, err = run([KILN, "compile", path, "--name", f"{name}_l{layout}", "-o", exe],
                               timeout=300)
            require(rc == 0, f"kiln compile {name} layout {layout}: " + describe(rc, out, err))
            EXES[f"{name}_l{layout}"] = exe
        if not ORT_OK:
            print(f"        skipped the comparison: {ORT_WHY}")
            return
        rng = np.random.default_rng(4)
        runs = [node_inputs(op, D, b, s, rng) for b, s in ((4, 9), (1, 1), (3, 40))]
        refs = ort_outputs(os.path.join(TMP, f"{name}.l0.onnx"), name, runs)
        for k, (inputs, want) in enumerate(zip(runs, refs)):
            for layout in (0, 1):
                ins, ref = (inputs, want) if layout == 0 else (to_layout1(inputs), to_layout1(want))
                got = infer(f"{name}_l{layout}", ins, f"run {k} layout {layout}")
                for n, w in ref.items():
                    compare(f"run {k} layout {layout} {n} {list(w.shape)} vs ORT", got[n], w,
                            RTOL, ATOL)


@check("a sequence length past the sequence is a 400 naming the node and input")
def _():
    x = np.zeros((3, 2, I), np.float32)
    st = np.zeros((2, 2, H), np.float32)
    r, _ = server("lstm_bi_l0").client.infer(
        "lstm_bi_l0", {"X": x, "lens": np.array([3, 4], np.int32), "h0": st, "c0": st})
    require(r.status == 400, f"status {r.status}, expected 400: {r.body[:300]!r}")
    msg = r.json().get("error", "")
    for w in ("rec", "LSTM", "sequence_lens", "lens"):
        require(w in msg, f"error {msg!r} does not mention {w!r}")
    print(f"        error: {msg}")


# Bad nodes: (what, attributes, W as an initializer, W's shape, words the
# diagnostic must hold). Each must be exit 1 with a message naming the node.
BAD = [
    ("W not a constant", {}, False, (1, 16, 3), ["'W'", "constant"]),
    ("unknown activation", dict(activations=["Sigmoid", "Foo", "Tanh"]), True, (1, 16, 3),
     ["'Foo'", "activation"]),
    ("bad direction", dict(direction="sideways"), True, (1, 16, 3), ["sideways"]),
    ("W of the wrong shape", {}, True, (1, 12, 3), ["[1,12,3]", "[1,16,3]"]),
    ("hidden_size against R", dict(hidden_size=5), True, (1, 16, 3), ["hidden_size"]),
    ("negative clip", dict(clip=-1.0), True, (1, 16, 3), ["clip"]),
    ("layout 2", dict(layout=2), True, (1, 16, 3), ["layout"]),
]


@check("malformed LSTM nodes are exit 1 with a diagnostic naming the node, never a crash")
def _():
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    for k, (what, attrs, w_init, w_shape, words) in enumerate(BAD):
        inits = [numpy_helper.from_array(np.zeros((1, 16, 4), np.float32), "R")]
        ins = [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["s", "b", 3])]
        if w_init:
            inits.append(numpy_helper.from_array(np.zeros(w_shape, np.float32), "W"))
        else:
            ins.append(helper.make_tensor_value_info("W", TensorProto.FLOAT, list(w_shape)))
        node = helper.make_node("LSTM", ["X", "W", "R"], ["Y"], name="bad_lstm", **attrs)
        g = helper.make_graph([node], "g", ins,
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], inits)
        path = os.path.join(TMP, f"bad{k}.onnx")
        onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)]), path)
        rc, out, err = run([KILN, "compile", path, "-o", os.path.join(TMP, f"bad{k}")],
                           timeout=120, echo=False)
        require(rc == 1, f"{what}: exit {rc}, expected 1: {err[-400:]!r}")
        for w in ["bad_lstm", "LSTM"] + words:
            require(w in err, f"{what}: diagnostic {err.strip()!r} does not mention {w!r}")
        print(f"        {what}: {err.strip().splitlines()[0]}")


for s in SERVERS.values():
    s.stop()
sys.exit(suite.finish())
