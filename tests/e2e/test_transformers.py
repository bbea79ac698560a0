#!/usr/bin/python3
"""End to end for transformers (issue 11): a ViT-tiny and a
TransformerEncoder text model exported from torch here, and the fusions
kiln makes in them (passes/fuse_transformer.c, passes/simplify.c) on small
synthetic graphs.

    /usr/bin/python3 tests/e2e/test_transformers.py --kiln BUILD/kiln \
        --build-dir BUILD --source-dir SRC

Models (seeded, eval mode, exported in a child process):
  * ViT-tiny: torchvision VisionTransformer(image_size=224, patch_size=16,
    num_layers=12, num_heads=3, hidden_dim=192, mlp_dim=768), its zero-
    initialised head given random weights (else every logit is 0), opset 17
    (LayerNormalization as one op), input 1x3x224x224;
  * text: Embedding(8000, 256) + TransformerEncoder(d_model=256, nhead=4,
    dim_feedforward=1024, 4 layers, batch_first, GELU) + mean pool +
    Linear(2), int64 tokens with dynamic batch and seq, at opset 14
    (LayerNorm spelled out in ReduceMean..Add) and 17; each compiled once
    and served at [1,128], [1,37] and [2,16].
Outputs must match torch within rtol 1e-4, atol 1e-5, and the IR after the
pipeline must show the fusions (one LayerNormalization per LayerNorm, GELU
as a Gemm epilogue, no Erf left).

Synthetic graphs (onnx.helper), run with `kiln run` against numpy: GELU
in its erf forms and its tanh form after MatMul+Add (fused) and near
misses that must not fuse (another constant, the pre-activation also a
graph output); LayerNorm spelled out over the last axis (fused) and over
another axis or with another exponent (not fused). Every check prints
PASS/FAIL; the last line is "N passed, M failed"; exit 1 if any failed.
"""
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kiln_e2e import Server, Suite, compare, describe, parse_args, require, run  # noqa: E402

RTOL, ATOL = 1e-4, 1e-5
TEXT_SHAPES = [(1, 128), (1, 37), (2, 16)]

args = parse_args(__doc__)
KILN = args.kiln
suite = Suite("transformers")
check = suite.check
TMP = suite.tmp

EXPORT = r'''
import sys, warnings
import numpy as np, torch, torch.nn as nn, torchvision
warnings.filterwarnings("ignore")
out = sys.argv[1]
shapes = [tuple(int(v) for v in s.split("x")) for s in sys.argv[2:]]


class Text(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(8000, 256)
        layer = nn.TransformerEncoderLayer(d_model=256, nhead=4, dim_feedforward=1024,
                                           dropout=0.0, activation="gelu", batch_first=True)
        self.enc = nn.TransformerEncoder(layer, 4, enable_nested_tensor=False)
        self.fc = nn.Linear(256, 2)

    def forward(self, tokens):
        return self.fc(self.enc(self.emb(tokens)).mean(dim=1))


torch.manual_seed(0)
vit = torchvision.models.VisionTransformer(image_size=224, patch_size=16, num_layers=12,
                                           num_heads=3, hidden_dim=192, mlp_dim=768).eval()
nn.init.normal_(vit.heads.head.weight, std=0.05)
nn.init.normal_(vit.heads.head.bias, std=0.05)
x = torch.randn(1, 3, 224, 224)
torch.onnx.export(vit, x, f"{out}/vit.onnx", opset_version=17, input_names=["image"],
                  output_names=["logits"])
torch.manual_seed(0)
text = Text().eval()
tok = torch.randint(0, 8000, (1, 128))
for opset in (14, 17):
    torch.onnx.export(text, tok, f"{out}/text{opset}.onnx", opset_version=opset,
                      input_names=["tokens"], output_names=["logits"],
                      dynamic_axes={"tokens": {0: "batch", 1: "seq"}, "logits": {0: "batch"}})
with torch.no_grad():
    np.save(f"{out}/vit_x.npy", x.numpy())
    np.save(f"{out}/vit_y.npy", vit(x).numpy())
    for k, s in enumerate(shapes):
        t = torch.randint(0, 8000, s)
        np.save(f"{out}/text_x{k}.npy", t.numpy())
        np.save(f"{out}/text_y{k}.npy", text(t).numpy())
'''


def ir_after_pipeline(model):
    """The IR text after the last pass (`--dump-after plan-memory`)."""
    rc, out, err = run([KILN, "compile", model, "--dump-after", "plan-memory", "-o",
                        os.path.join(TMP, "dump.o"), "--emit", "obj"], timeout=300)
    require(rc == 0, f"kiln compile {model}: " + describe(rc, out, err))
    return out + err


def ops_of(ir):
    """{op: count} of the node lines of an IR dump."""
    ops = {}
    for line in ir.splitlines():
        parts = line.split(" = ", 1)
        if len(parts) == 2 and line.startswith("  %"):
            op = parts[1].split(" ", 1)[0]
            ops[op] = ops.get(op, 0) + 1
    return ops


def expect_ops(ir, what, want):
    ops = ops_of(ir)
    for op, n in want.items():
        got = ops.get(op, 0)
        require(got == n, f"{what}: {got} {op} nodes after the pipeline, expected {n} ({ops})")


def check_exports():
    script = os.path.join(TMP, "export.py")
    with open(script, "w") as f:
        f.write(EXPORT)
    rc, out, err = run(["/usr/bin/python3", script, TMP] +
                       ["x".join(map(str, s)) for s in TEXT_SHAPES], timeout=300)
    require(rc == 0, "export: " + describe(rc, out, err))


def check_vit():
    model = os.path.join(TMP, "vit.onnx")
    ir = ir_after_pipeline(model)
    # 25 LayerNorms (2 per block and the last), 12 GELUs on the first MLP Gemm.
    expect_ops(ir, "vit", {"LayerNormalization": 25, "Erf": 0, "MatMul": 0, "Softmax": 0,
                           "FusedAttention": 12})
    require(ir.count("+gelu") == 12, f"vit: {ir.count('+gelu')} Gemms with +gelu, expected 12")
    exe = os.path.join(TMP, "vit")
    rc, out, err = run([KILN, "compile", model, "-o", exe, "--name", "vit"], timeout=300)
    require(rc == 0, "kiln compile vit: " + describe(rc, out, err))
    x, want = np.load(f"{TMP}/vit_x.npy"), np.load(f"{TMP}/vit_y.npy")
    srv = Server(exe, "--workers", "1")
    try:
        r, outs = srv.client.infer("vit", {"image": x})
        require(r.status == 200, f"vit: status {r.status}: {r.body[:400]!r}")
        compare("vit logits [1,1000]", outs["logits"], want, RTOL, ATOL)
    finally:
        srv.stop()


def check_text(opset):
    model = os.path.join(TMP, f"text{opset}.onnx")
    ir = ir_after_pipeline(model)
    # 8 LayerNorms; the mean pool is the one ReduceMean left.
    expect_ops(ir, f"text{opset}", {"LayerNormalization": 8, "Erf": 0, "ReduceMean": 1,
                                   "MatMul": 0, "Softmax": 0, "FusedAttention": 4,
                                   "Sqrt": 0, "Pow": 0})
    require(ir.count("+gelu") == 4, f"text{opset}: {ir.count('+gelu')} Gemms with +gelu, expected 4")
    exe = os.path.join(TMP, f"text{opset}")
    rc, out, err = run([KILN, "compile", model, "-o", exe, "--name", "text"], timeout=300)
    require(rc == 0, f"kiln compile text{opset}: " + describe(rc, out, err))
    srv = Server(exe, "--workers", "1")
    try:
        for k, s in enumerate(TEXT_SHAPES):
            x, want = np.load(f"{TMP}/text_x{k}.npy"), np.load(f"{TMP}/text_y{k}.npy")
            r, outs = srv.client.infer("text", {"tokens": x})
            require(r.status == 200, f"text{opset} {list(s)}: status {r.status}: {r.body[:400]!r}")
            compare(f"text{opset} tokens {list(s)} logits", outs["logits"], want, RTOL, ATOL)
    finally:
        srv.stop()


# --- synthetic graphs ---------------------------------------------------------------------

def erf(v):
    return np.vectorize(math.erf)(v.astype(np.float64))


def synthetic(name, nodes, inits, x_shape, y_shape, extra_outputs=()):
    """Saves a one-input model: X f32 x_shape -> Y (and extra_outputs)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    ins = [helper.make_tensor_value_info("X", TensorProto.FLOAT, list(x_shape))]
    outs = [helper.make_tensor_value_info("Y", TensorProto.FLOAT, list(y_shape))]
    outs += [helper.make_tensor_value_info(o, TensorProto.FLOAT, list(y_shape)) for o in extra_outputs]
    g = helper.make_graph([helper.make_node(*n[:3], **(n[3] if len(n) > 3 else {}))
                           for n in nodes], name, ins, outs,
                          [numpy_helper.from_array(np.asarray(v, dtype=np.float32), k)
                           for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])
    onnx.checker.check_model(m)
    path = os.path.join(TMP, f"{name}.onnx")
    onnx.save(m, path)
    return path


def run_synthetic(path, x, want, fused_marker, fused):
    """`kiln run` on x: Y must match want; the IR must (not) show fused_marker."""
    ir = ir_after_pipeline(path)
    has = fused_marker in ir
    require(has == fused, f"{os.path.basename(path)}: '{fused_marker}' "
            f"{'missing from' if fused else 'found in'} the IR after the pipeline:\n{ir}")
    xin = os.path.join(TMP, "x.npy")
    np.save(xin, x)
    outdir = os.path.join(TMP, "out_" + os.path.basename(path))
    rc, out, err = run([KILN, "run", path, "--input", f"X={xin}", "--out-dir", outdir])
    require(rc == 0, f"kiln run {path}: " + describe(rc, out, err))
    compare(os.path.basename(path), np.load(os.path.join(outdir, "Y.npy")), want, RTOL, ATOL)


RNG = np.random.default_rng(7)
X = RNG.standard_normal((6, 8)).astype(np.float32) * 2
W = RNG.standard_normal((8, 16)).astype(np.float32) * 0.5
B = RNG.standard_normal(16).astype(np.float32) * 0.5
PRE = (X.astype(np.float64) @ W + B)


def gelu_graph(name, form, c_div=math.sqrt(2.0), also_output=False):
    head = [("MatMul", ["X", "W"], ["m"]), ("Add", ["m", "B"], ["x"])]
    inits = {"W": W, "B": B, "one": 1.0, "half": 0.5}
    if form == "erf":
        inits["c"] = c_div
        body = [("Div", ["x", "c"], ["d"]), ("Erf", ["d"], ["e"]), ("Add", ["e", "one"], ["p"]),
                ("Mul", ["x", "p"], ["xp"]), ("Mul", ["xp", "half"], ["Y"])]
    elif form == "erf-halved":  # x * 0.5 first, the division a multiplication
        inits["c"] = 1.0 / c_div
        body = [("Mul", ["x", "half"], ["h"]), ("Mul", ["x", "c"], ["d"]), ("Erf", ["d"], ["e"]),
                ("Add", ["one", "e"], ["p"]), ("Mul", ["p", "h"], ["Y"])]
    else:  # torch's export of gelu(approximate="tanh")
        inits.update({"k": 0.044715, "s": math.sqrt(2.0 / math.pi)})
        body = [("Mul", ["x", "x"], ["x2"]), ("Mul", ["x", "x2"], ["x3"]),
                ("Mul", ["k", "x3"], ["kx3"]), ("Add", ["x", "kx3"], ["a"]),
                ("Mul", ["s", "a"], ["sa"]), ("Tanh", ["sa"], ["t"]), ("Add", ["one", "t"], ["p"]),
                ("Mul", ["x", "p"], ["xp"]), ("Mul", ["half", "xp"], ["Y"])]
    return synthetic(name, head + body, inits, X.shape, (6, 16), ["x"] if also_output else ())


@check("GELU (erf form, x/sqrt2) after MatMul+Add becomes the Gemm's gelu epilogue")
def _():
    want = 0.5 * PRE * (1 + erf(PRE / math.sqrt(2.0)))
    run_synthetic(gelu_graph("gelu_erf", "erf"), X, want, "+gelu", True)


@check("GELU (erf form, 0.5x * (1 + erf(x * 1/sqrt2))) becomes the gelu epilogue")
def _():
    want = 0.5 * PRE * (1 + erf(PRE / math.sqrt(2.0)))
    run_synthetic(gelu_graph("gelu_erf_halved", "erf-halved"), X, want, "+gelu", True)


@check("GELU (tanh form, torch's export) becomes the gelu_tanh epilogue")
def _():
    want = 0.5 * PRE * (1 + np.tanh(math.sqrt(2 / math.pi) * (PRE + 0.044715 * PRE ** 3)))
    run_synthetic(gelu_graph("gelu_tanh", "tanh"), X, want, "+gelu_tanh", True)


@check("a GELU-like chain with x/1.5 instead of x/sqrt2 is not fused and computes its own numbers")
def _():
    want = 0.5 * PRE * (1 + erf(PRE / 1.5))
    run_synthetic(gelu_graph("gelu_other_const", "erf", c_div=1.5), X, want, "+gelu", False)


@check("GELU whose input is also a graph output is not fused")
def _():
    want = 0.5 * PRE * (1 + erf(PRE / math.sqrt(2.0)))
    run_synthetic(gelu_graph("gelu_shared", "erf", also_output=True), X, want, "+gelu", False)


XL = (RNG.standard_normal((2, 5, 8)) * 3 + 1).astype(np.float32)
GAMMA = RNG.standard_normal(8).astype(np.float32)
BETA = RNG.standard_normal(8).astype(np.float32)


def layer_norm_graph(name, axis=-1, power=2.0):
    nodes = [("ReduceMean", ["X"], ["m"], {"axes": [axis]}), ("Sub", ["X", "m"], ["d"]),
             ("Pow", ["d", "two"], ["p"]), ("ReduceMean", ["p"], ["v"], {"axes": [axis]}),
             ("Add", ["v", "eps"], ["ve"]), ("Sqrt", ["ve"], ["s"]), ("Div", ["d", "s"], ["n"]),
             ("Mul", ["n", "gamma"], ["g"]), ("Add", ["g", "beta"], ["Y"])]
    g = GAMMA if axis in (-1, 2) else GAMMA[:5].reshape(5, 1)
    b = BETA if axis in (-1, 2) else BETA[:5].reshape(5, 1)
    inits = {"two": power, "eps": 1e-5, "gamma": g, "beta": b}
    return synthetic(name, nodes, inits, XL.shape, XL.shape), g, b


def layer_norm_ref(x, axis, power, g, b):
    x = x.astype(np.float64)
    d = x - x.mean(axis=axis, keepdims=True)
    return d / np.sqrt((d ** power).mean(axis=axis, keepdims=True) + 1e-5) * g + b


@check("LayerNorm spelled out over the last axis becomes one LayerNormalization")
def _():
    path, g, b = layer_norm_graph("ln_last")
    run_synthetic(path, XL, layer_norm_ref(XL, -1, 2.0, g, b), "LayerNormalization", True)


@check("the same chain over axis 1 is not fused and computes its own numbers")
def _():
    path, g, b = layer_norm_graph("ln_axis1", axis=1)
    run_synthetic(path, XL, layer_norm_ref(XL, 1, 2.0, g, b), "LayerNormalization", False)


@check("the same chain with Pow(d, 3) is not fused")
def _():
    path, g, b = layer_norm_graph("ln_cube", power=3.0)
    want = layer_norm_ref(XL, -1, 3.0, g, b)
    # Odd powers make the variance negative for some rows (NaN, as numpy).
    xin = os.path.join(TMP, "x.npy")
    ir = ir_after_pipeline(path)
    require("LayerNormalization" not in ir, f"ln_cube was fused:\n{ir}")
    np.save(xin, XL)
    outdir = os.path.join(TMP, "out_ln_cube")
    rc, out, err = run([KILN, "run", path, "--input", f"X={xin}", "--out-dir", outdir])
    require(rc == 0, f"kiln run {path}: " + describe(rc, out, err))
    got = np.load(os.path.join(outdir, "Y.npy"))
    require(np.array_equal(np.isnan(got), np.isnan(want)), "ln_cube: NaNs differ from numpy's")
    ok = ~np.isnan(want)
    compare("ln_cube (non-NaN entries)", got[ok], want[ok], RTOL, ATOL)


@check("torch exports the ViT-tiny and the text model (opsets 14 and 17)")
def _():
    check_exports()


@check("ViT-tiny (opset 17): fused as expected, logits match torch")
def _():
    check_vit()


for _opset in (14, 17):
    @check(f"text TransformerEncoder (opset {_opset}): fused, one compile matches torch at "
           f"{', '.join(str(list(s)) for s in TEXT_SHAPES)}")
    def _():
        check_text(_opset)

sys.exit(suite.finish())
