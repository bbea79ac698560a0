#!/usr/bin/python3
"""Hostile indices and integer arithmetic: data-dependent indices (Gather,
GatherElements, GatherND, ScatterND, ScatterElements, loss targets) out of
range and integer division by zero make a run fail with a message naming
the node, the input, the bad value and the allowed range: HTTP 400 from
`OUT serve`, exit 1 from `OUT predict` and `kiln run`; folded constants
that divide by zero or index out of range fail the compile (exit 1);
INT_MIN / -1 wraps as numpy does; in-range indices, negative ones too,
still match numpy.

    /usr/bin/python3 tests/e2e/test_hostile_indices.py --kiln BUILD/kiln \
        --build-dir BUILD --source-dir SRC

Models are crafted here with onnx.helper. Only processes this script
started are ended, by PID. Every wait is bounded.
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as oh
from onnx import numpy_helper as nh

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kiln_e2e import CheckFailed, Server, Suite, describe, parse_args, require, run  # noqa: E402

args = parse_args(__doc__)
KILN = args.kiln
suite = Suite("hostile_indices")
check = suite.check
TMP = suite.tmp
I64_MIN = np.iinfo(np.int64).min


def save(name, nodes, inputs, outputs, inits=()):
    g = oh.make_graph(nodes, name, inputs, outputs, list(inits))
    m = oh.make_model(g, opset_imports=[oh.make_opsetid("", 17)])
    path = os.path.join(TMP, name + ".onnx")
    onnx.save(m, path)
    return path


def vi(name, t, shape):
    return oh.make_tensor_value_info(name, t, shape)


def npy(name, a):
    path = os.path.join(TMP, name + ".npy")
    np.save(path, a)
    return path


def kiln_run(model, **inputs):
    """`kiln run` with these inputs: (rc, stderr, {output: ndarray})."""
    out = os.path.join(TMP, "out_" + os.path.basename(model))
    cmd = [KILN, "run", model, "--out-dir", out]
    for k, a in inputs.items():
        cmd += ["--input", f"{k}={npy(k, a)}"]
    rc, o, err = run(cmd, timeout=120)
    got = {}
    if rc == 0:
        for f in os.listdir(out):
            got[f[:-4]] = np.load(os.path.join(out, f))
    return rc, err, got


def run_fails(model, words, **inputs):
    rc, err, _ = kiln_run(model, **inputs)
    require(rc == 1, f"kiln run: exit {rc}, expected 1: {err.strip()[-300:]}")
    for w in words:
        require(w in err, f"kiln run: {err.strip()!r} does not mention {w!r}")


def error_of(r, status, words):
    require(r.status == status, f"status {r.status}, expected {status}: {r.body[:300]!r}")
    msg = r.json()["error"]
    for w in words:
        require(w in msg, f"error {msg!r} does not mention {w!r}")
    return msg


EXES = {}


def compile_exe(model, name):
    exe = os.path.join(TMP, name)
    rc, out, err = run([KILN, "compile", model, "-o", exe, "--name", name], timeout=300)
    require(rc == 0, "kiln compile: " + describe(rc, out, err))
    EXES[name] = exe
    return exe


# --- the models ---------------------------------------------------------------------------

EMB = np.arange(1000 * 4, dtype=np.float32).reshape(1000, 4)
GATHER = save("gather", [oh.make_node("Gather", ["embedding.weight", "tokens"], ["y"], name="emb")],
              [vi("tokens", T.INT64, ["N"])], [vi("y", T.FLOAT, ["N", 4])],
              [nh.from_array(EMB, "embedding.weight")])
GATHER_ELEMENTS = save(
    "gather_elements",
    [oh.make_node("GatherElements", ["x", "idx"], ["y"], name="ge", axis=1)],
    [vi("x", T.FLOAT, [2, 3]), vi("idx", T.INT64, [2, 2])], [vi("y", T.FLOAT, [2, 2])])
ND_X = np.arange(6, dtype=np.float32).reshape(2, 3)
GATHER_ND = save("gather_nd", [oh.make_node("GatherND", ["x", "idx"], ["y"], name="gnd")],
                 [vi("idx", T.INT64, [3, 2])], [vi("y", T.FLOAT, [3])],
                 [nh.from_array(ND_X, "x")])
SCATTER_ND = save("scatter_nd",
                  [oh.make_node("ScatterND", ["data", "idx", "upd"], ["y"], name="snd")],
                  [vi("data", T.FLOAT, [4]), vi("idx", T.INT64, [2, 1]), vi("upd", T.FLOAT, [2])],
                  [vi("y", T.FLOAT, [4])])
SCATTER_ELEMENTS = save(
    "scatter_elements",
    [oh.make_node("ScatterElements", ["data", "idx", "upd"], ["y"], name="sel", axis=0)],
    [vi("data", T.FLOAT, [4]), vi("idx", T.INT64, [2]), vi("upd", T.FLOAT, [2])],
    [vi("y", T.FLOAT, [4])])
DIV64 = save("div64", [oh.make_node("Div", ["x", "z"], ["y"], name="div")],
             [vi("x", T.INT64, [3]), vi("z", T.INT64, [3])], [vi("y", T.INT64, [3])])
MOD32 = save("mod32", [oh.make_node("Mod", ["x", "z"], ["y"], name="mod")],
             [vi("x", T.INT32, [2]), vi("z", T.INT32, [2])], [vi("y", T.INT32, [2])])
FOLD_DIV0 = save("fold_div0",
                 [oh.make_node("Div", ["a", "b"], ["c"], name="div_by_zero"),
                  oh.make_node("Add", ["c", "x"], ["y"], name="add")],
                 [vi("x", T.INT64, [2])], [vi("y", T.INT64, [2])],
                 [nh.from_array(np.array([7, 8], np.int64), "a"),
                  nh.from_array(np.array([1, 0], np.int64), "b")])
FOLD_MIN = save("fold_min",
                [oh.make_node("Div", ["a", "b"], ["c"], name="div_min"),
                 oh.make_node("Add", ["c", "x"], ["y"], name="add")],
                [vi("x", T.INT64, [3])], [vi("y", T.INT64, [3])],
                [nh.from_array(np.array([I64_MIN, 9, -8], np.int64), "a"),
                 nh.from_array(np.array([-1, -3, 2], np.int64), "b")])
FOLD_GATHER = save("fold_gather",
                   [oh.make_node("Gather", ["t", "i"], ["g"], name="fold_emb"),
                    oh.make_node("Add", ["g", "x"], ["y"], name="add")],
                   [vi("x", T.INT64, [1])], [vi("y", T.INT64, [1])],
                   [nh.from_array(np.array([1, 2, 3], np.int64), "t"),
                    nh.from_array(np.array([3], np.int64), "i")])
CONST_INDEX = save("const_index", [oh.make_node("Gather", ["x", "i"], ["y"], name="pick", axis=1)],
                   [vi("x", T.FLOAT, ["N", 3])], [vi("y", T.FLOAT, ["N"])],
                   [nh.from_array(np.array(5, np.int64), "i")])
EXPAND_HUGE = save("expand_huge",
                   [oh.make_node("Expand", ["one", "shape"], ["e"], name="expand"),
                    oh.make_node("Add", ["e", "x"], ["y"], name="add")],
                   [vi("x", T.FLOAT, [1])], [vi("y", T.FLOAT, None)],
                   [nh.from_array(np.array([1.0], np.float32), "one"),
                    nh.from_array(np.array([2**32 + 1, 2**32 - 1], np.int64), "shape")])
NLL = save("nll", [oh.make_node("NegativeLogLikelihoodLoss", ["logp", "target"], ["loss"],
                                name="loss", reduction="none")],
           [vi("logp", T.FLOAT, [2, 3]), vi("target", T.INT64, [2])], [vi("loss", T.FLOAT, [2])])

GATHER_WORDS = ["node 'emb' (Gather)", "input 'tokens'", "'embedding.weight'"]


def gather_rows(tok):
    return EMB[np.asarray(tok)]


# --- kiln run -----------------------------------------------------------------------------

@check("kiln run: Gather with in-range indices, negative ones too, matches numpy")
def _():
    tok = np.array([0, 999, -1, -1000, 5], np.int64)
    rc, err, got = kiln_run(GATHER, tokens=tok)
    require(rc == 0, err)
    require(np.array_equal(got["y"], gather_rows(tok)), f"got {got['y']}")


@check("kiln run: Gather index past the end exits 1 naming node, input, value and range")
def _():
    run_fails(GATHER, GATHER_WORDS + ["index 5000 at position 1", "[-1000, 999]"],
              tokens=np.array([1, 5000, 2], np.int64))


@check("kiln run: Gather index below -n exits 1")
def _():
    run_fails(GATHER, GATHER_WORDS + ["index -1001 at position 0", "[-1000, 999]"],
              tokens=np.array([-1001], np.int64))


@check("kiln run: GatherElements, GatherND, ScatterND, ScatterElements out of range exit 1")
def _():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    run_fails(GATHER_ELEMENTS, ["node 'ge' (GatherElements)", "input 'idx'", "index 3",
                                "[-3, 2]"], x=x, idx=np.array([[0, 1], [3, 0]], np.int64))
    run_fails(GATHER_ND, ["node 'gnd' (GatherND)", "input 'idx'", "index 2 at position 2",
                          "[-2, 1]"], idx=np.array([[0, 0], [2, 0], [1, 1]], np.int64))
    d, u = np.zeros(4, np.float32), np.ones(2, np.float32)
    run_fails(SCATTER_ND, ["node 'snd' (ScatterND)", "input 'idx'", "index -5", "[-4, 3]"],
              data=d, idx=np.array([[1], [-5]], np.int64), upd=u)
    run_fails(SCATTER_ELEMENTS, ["node 'sel' (ScatterElements)", "input 'idx'", "index 4",
                                 "[-4, 3]"], data=d, idx=np.array([4, 0], np.int64), upd=u)


@check("kiln run: in-range GatherElements, GatherND, ScatterND, ScatterElements match numpy")
def _():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    idx = np.array([[0, -1], [2, -3]], np.int64)
    rc, err, got = kiln_run(GATHER_ELEMENTS, x=x, idx=idx)
    require(rc == 0, err)
    require(np.array_equal(got["y"], np.take_along_axis(x, idx % 3, axis=1)), f"{got['y']}")
    t = np.array([[0, 0], [-1, 2], [1, -3]], np.int64)
    rc, err, got = kiln_run(GATHER_ND, idx=t)
    require(rc == 0, err)
    require(np.array_equal(got["y"], np.array([ND_X[0, 0], ND_X[1, 2], ND_X[1, 0]])), f"{got}")
    d, u = np.zeros(4, np.float32), np.array([5, 6], np.float32)
    rc, err, got = kiln_run(SCATTER_ND, data=d, idx=np.array([[1], [-1]], np.int64), upd=u)
    require(rc == 0 and np.array_equal(got["y"], [0, 5, 0, 6]), f"{err} {got}")
    rc, err, got = kiln_run(SCATTER_ELEMENTS, data=d, idx=np.array([-4, 2], np.int64), upd=u)
    require(rc == 0 and np.array_equal(got["y"], [5, 0, 6, 0]), f"{err} {got}")


@check("kiln run: integer Div and Mod by zero exit 1 naming node and divisor input")
def _():
    run_fails(DIV64, ["division by zero in node 'div' (Div)", "input 'z'", "element 2 is 0"],
              x=np.array([1, 2, 3], np.int64), z=np.array([1, 1, 0], np.int64))
    run_fails(MOD32, ["division by zero in node 'mod' (Mod)", "input 'z'", "element 0 is 0"],
              x=np.array([1, 2], np.int32), z=np.array([0, 1], np.int32))


@check("kiln run: INT64_MIN / -1 wraps to INT64_MIN, as numpy does")
def _():
    x = np.array([I64_MIN, 7, -8], np.int64)
    z = np.array([-1, -1, 2], np.int64)
    rc, err, got = kiln_run(DIV64, x=x, z=z)
    require(rc == 0, err)
    with np.errstate(all="ignore"):
        want = x // z  # no remainders: floor and truncation agree
    require(np.array_equal(got["y"], want), f"got {got['y']}, numpy {want}")
    rc, err, got = kiln_run(MOD32, x=np.array([np.iinfo(np.int32).min, 7], np.int32),
                            z=np.array([-1, -3], np.int32))
    require(rc == 0 and np.array_equal(got["y"], [0, 7 % -3]), f"{err} {got}")


@check("kiln run: NegativeLogLikelihoodLoss target that is no class exits 1")
def _():
    run_fails(NLL, ["node 'loss' (NegativeLogLikelihoodLoss)", "input 'target'", "target 3",
                    "[0, 3)"], logp=np.zeros((2, 3), np.float32),
              target=np.array([0, 3], np.int64))


# --- folding ------------------------------------------------------------------------------

@check("folding: integer division by a zero constant fails the compile naming the node")
def _():
    for cmd in ("check", "compile"):
        extra = ["-o", os.path.join(TMP, "never")] if cmd == "compile" else []
        rc, out, err = run([KILN, cmd, FOLD_DIV0, *extra], timeout=120)
        require(rc == 1, f"kiln {cmd}: " + describe(rc, out, err))
        require("node 'div_by_zero' (Div)" in err and "division by zero" in err, err)


@check("folding: INT64_MIN / -1 folds to INT64_MIN, as numpy does")
def _():
    rc, err, got = kiln_run(FOLD_MIN, x=np.zeros(3, np.int64))
    require(rc == 0, err)
    with np.errstate(all="ignore"):
        want = np.array([I64_MIN, 9, -8], np.int64) // np.array([-1, -3, 2], np.int64)
    require(np.array_equal(got["y"], want), f"got {got['y']}, numpy {want}")


@check("folding: a constant Gather index out of range fails the compile naming the node")
def _():
    rc, out, err = run([KILN, "check", FOLD_GATHER], timeout=120)
    require(rc == 1, describe(rc, out, err))
    require("node 'fold_emb' (Gather)" in err and "index 3" in err and "[-3, 2]" in err, err)


@check("a constant Gather index out of range into a run-time tensor fails check and compile")
def _():
    for cmd in ("check", "compile"):
        extra = ["-o", os.path.join(TMP, "never")] if cmd == "compile" else []
        rc, out, err = run([KILN, cmd, CONST_INDEX, *extra], timeout=120)
        require(rc == 1, f"kiln {cmd}: " + describe(rc, out, err))
        require("node 'pick' (Gather)" in err and "index 5" in err and "[-3, 2]" in err, err)


@check("folding: Expand to [2^32+1, 2^32-1] is no crash and no huge allocation")
def _():
    rc, out, err = run([KILN, "check", EXPAND_HUGE], timeout=120)
    require(rc in (0, 1), "kiln check: " + describe(rc, out, err))


# --- the service --------------------------------------------------------------------------

@check("kiln compile builds the service binaries")
def _():
    for model, name in ((GATHER, "gather"), (DIV64, "div64"), (SCATTER_ND, "scatter_nd"),
                        (NLL, "nll")):
        compile_exe(model, name)


@check("service: Gather in range answers 200 with numpy's rows, out of range 400 with the message")
def _():
    srv = Server(EXES["gather"], "--workers", "1")
    try:
        c = srv.client
        tok = np.array([3, -1, -1000, 999], np.int64)
        r, out = c.infer("gather", {"tokens": tok})
        require(r.status == 200, f"{r.status} {r.body[:200]!r}")
        require(np.array_equal(out["y"], gather_rows(tok)), f"{out['y']}")
        r, _ = c.infer("gather", {"tokens": np.array([1, 5000], np.int64)})
        error_of(r, 400, GATHER_WORDS + ["index 5000 at position 1", "[-1000, 999]"])
        r, _ = c.infer("gather", {"tokens": np.array([-1001], np.int64)}, binary=True)
        error_of(r, 400, GATHER_WORDS + ["index -1001", "[-1000, 999]"])
        r, out = c.infer("gather", {"tokens": np.array([2], np.int64)})  # still serving
        require(r.status == 200 and np.array_equal(out["y"], gather_rows([2])), "after a 400")
    finally:
        srv.stop()


@check("service: integer division by zero answers 400; INT64_MIN / -1 matches numpy")
def _():
    srv = Server(EXES["div64"], "--workers", "1")
    try:
        c = srv.client
        r, _ = c.infer("div64", {"x": np.array([1, 2, 3], np.int64),
                                 "z": np.array([0, 1, 1], np.int64)})
        error_of(r, 400, ["division by zero in node 'div' (Div)", "input 'z'", "element 0"])
        x, z = np.array([I64_MIN, 6, -6], np.int64), np.array([-1, 3, -3], np.int64)
        r, out = c.infer("div64", {"x": x, "z": z})
        require(r.status == 200, f"{r.status} {r.body[:200]!r}")
        with np.errstate(all="ignore"):
            require(np.array_equal(out["y"], x // z), f"{out['y']}")
    finally:
        srv.stop()


@check("service: ScatterND and loss targets out of range answer 400")
def _():
    srv = Server(EXES["scatter_nd"], "--workers", "1")
    try:
        r, _ = srv.client.infer("scatter_nd", {"data": np.zeros(4, np.float32),
                                               "idx": np.array([[0], [4]], np.int64),
                                               "upd": np.ones(2, np.float32)})
        error_of(r, 400, ["node 'snd' (ScatterND)", "input 'idx'", "index 4", "[-4, 3]"])
    finally:
        srv.stop()
    srv = Server(EXES["nll"], "--workers", "1")
    try:
        r, _ = srv.client.infer("nll", {"logp": np.zeros((2, 3), np.float32),
                                        "target": np.array([-7, 1], np.int64)})
        error_of(r, 400, ["node 'loss' (NegativeLogLikelihoodLoss)", "target -7", "[0, 3)"])
    finally:
        srv.stop()


@check("OUT predict: a bad index exits 1 with the same message")
def _():
    req = os.path.join(TMP, "bad_tokens.json")
    with open(req, "w") as f:
        json.dump({"inputs": [{"name": "tokens", "shape": [1], "datatype": "INT64",
                               "data": [5000]}]}, f)
    rc, out, err = run([EXES["gather"], "predict", "--input", req], timeout=60)
    require(rc == 1, describe(rc, out, err))
    for w in GATHER_WORDS + ["index 5000", "[-1000, 999]"]:
        require(w in err, f"{err!r} does not mention {w!r}")


sys.exit(suite.finish())
