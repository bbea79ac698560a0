#!/usr/bin/python3
"""Crafted hostile models through `kiln compile`: each must end with exit 1
and a message naming the file and the node or tensor at fault, never a
signal, a hang, exit 3 or a silent success (issue 8).

Every model is a few hundred bytes built here with onnx.helper (or by hand,
for protobuf nesting onnx.helper cannot build quickly); none is checked with
onnx.checker, since they are invalid on purpose.
"""
import os
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kiln_e2e  # noqa: E402
from kiln_e2e import Suite, describe, parse_args, require  # noqa: E402

args = parse_args(__doc__)
suite = Suite("hostile")
tmp = suite.tmp
F = TensorProto.FLOAT
I64 = TensorProto.INT64


def model(nodes, inputs, outputs, inits=(), opset=17, name="m"):
    g = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    path = os.path.join(tmp, name + ".onnx")
    with open(path, "wb") as f:
        f.write(m.SerializeToString())
    return path


def vi(name, dims, t=F):
    return helper.make_tensor_value_info(name, t, dims)


def tensor(name, dims, t=F):
    """A TensorProto with dims and no data (helper.make_tensor checks the count)."""
    p = TensorProto()
    p.name, p.data_type = name, t
    p.dims.extend(dims)
    return p


def i64(name, vals):
    return helper.make_tensor(name, I64, [len(vals)], vals)


def compile_fails(path, *needles, timeout=120):
    """kiln compile exits 1 (no signal, no exit 3) and stderr has every needle."""
    exe = os.path.join(tmp, "out")
    r = kiln_e2e.run([args.kiln, "compile", path, "-o", exe], timeout=timeout)
    require(r.returncode == 1, "expected exit 1: " + describe(*r))
    for s in (os.path.basename(path),) + needles:
        require(s in r.stderr, f"stderr lacks {s!r}: " + describe(*r))
    require("out of memory" not in r.stderr, "a model's fault is not exit 3: " + r.stderr)
    return r


# --- 0. opsets ----------------------------------------------------------------------------


@suite.check("an opset newer than kiln knows (or below 1) is refused, not read as an old one")
def _():
    for opset in (999, 0, 2**40):
        p = model([helper.make_node("Relu", ["x"], ["y"], name="r")], [vi("x", [1, 4])],
                  [vi("y", [1, 4])], opset=opset, name=f"opset_{opset}")
        compile_fails(p, f"imports ONNX opset {opset}", "opset_version=")


# --- 1. arity and required inputs ----------------------------------------------------------


@suite.check("a Relu whose one input is '' is diagnosed, naming node, op and position")
def _():
    p = model([helper.make_node("Relu", [""], ["y"], name="r1")], [vi("x", [1, 4])],
              [vi("y", [1, 4])], name="relu_empty")
    compile_fails(p, "node 'r1' (Relu)", "input 0")


@suite.check("a Relu with no inputs at all is diagnosed as having too few inputs")
def _():
    p = model([helper.make_node("Relu", [], ["y"], name="r0")], [vi("x", [1, 4])],
              [vi("y", [1, 4])], name="relu_none")
    compile_fails(p, "node 'r0' (Relu)", "has 0 inputs")


@suite.check("an Add with three inputs is diagnosed as having too many")
def _():
    p = model([helper.make_node("Add", ["x", "x", "x"], ["y"], name="a3")], [vi("x", [1, 4])],
              [vi("y", [1, 4])], name="add3")
    compile_fails(p, "node 'a3' (Add)", "has 3 inputs")


@suite.check("an omitted input of a variadic op (Concat) is diagnosed")
def _():
    p = model([helper.make_node("Concat", ["x", ""], ["y"], name="c", axis=0)],
              [vi("x", [1, 4])], [vi("y", [1, 4])], name="concat_empty")
    compile_fails(p, "node 'c' (Concat)", "input 1")


@suite.check("an omitted optional input (Clip's min) still compiles")
def _():
    mx = helper.make_tensor("mx", F, [], [1.0])
    p = model([helper.make_node("Clip", ["x", "", "mx"], ["y"], name="clip")],
              [vi("x", [1, 4])], [vi("y", [1, 4])], inits=[mx], name="clip_opt")
    exe = os.path.join(tmp, "clip")
    r = kiln_e2e.run([args.kiln, "compile", p, "-o", exe], timeout=300)
    require(r.returncode == 0, describe(*r))


def op_table():
    """(name, in_min, in_max, out_min) of every op, from compiler/ir/ops*.def."""
    import glob
    import re
    rows = []
    for f in sorted(glob.glob(os.path.join(args.source_dir, "compiler", "ir", "ops*.def"))):
        for line in open(f):
            m = re.match(r'OP\(\s*\w+,\s*"(\w+)",\s*(\d+),\s*(\d+),\s*(\d+),\s*(\d+),', line)
            if m:
                rows.append((m[1], int(m[3]), int(m[4]), int(m[5])))
    return rows


@suite.check("every op with each input omitted in turn: exit 0 or 1, never a signal")
def _():
    # `kiln inspect` runs import, every pass, FLOPs and the memory plan (no LLVM).
    bad = []
    count = 0
    for op, lo, hi, out_min in op_table():
        if op == "Constant":
            continue
        for j in range(min(hi, 6)):
            ins = ["x"] * min(hi, 6)
            ins[j] = ""
            outs = [f"y{k}" for k in range(max(out_min, 1))]
            p = model([helper.make_node(op, ins, outs, name="n")], [vi("x", [1, 2, 4, 4])],
                      [vi(o, None) for o in outs], name="omit")
            r = kiln_e2e.run([args.kiln, "inspect", p], timeout=60, echo=False)
            count += 1
            if r.returncode not in (0, 1) or (j < lo and r.returncode != 1):
                bad.append(f"{op} input {j} omitted: exit {r.returncode}: {r.stderr[-300:]}")
    print(f"        {count} models")
    require(not bad, "\n        ".join(bad))


# --- 2. nesting ----------------------------------------------------------------------------


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def ld(field, payload):
    """A length-delimited protobuf field."""
    return varint(field << 3 | 2) + varint(len(payload)) + payload


@suite.check("subgraphs nested 5000 deep are refused before protobuf decoding")
def _():
    # GraphProto{node: NodeProto{op_type "If", attribute: AttributeProto{name, g: GraphProto...}}}
    g = b""
    for _ in range(5000):
        attr = ld(1, b"then_branch") + varint(20 << 3 | 0) + varint(5) + ld(6, g)
        node = ld(4, b"If") + ld(5, attr)
        g = ld(1, node)
    m = varint(1 << 3 | 0) + varint(8) + ld(8, ld(1, b"") + varint(2 << 3) + varint(17)) + ld(7, g)
    p = os.path.join(tmp, "deep_graphs.onnx")
    with open(p, "wb") as f:
        f.write(m)
    compile_fails(p, "nest", "limit")


@suite.check("types nested 20000 deep (sequence of sequence ...) are refused")
def _():
    t = ld(1, varint(1 << 3) + varint(1))  # TypeProto{tensor_type{elem_type FLOAT}}
    for _ in range(20000):
        t = ld(4, ld(1, t))  # TypeProto{sequence_type{elem_type t}}
    vinfo = ld(1, b"x") + ld(2, t)
    g = ld(11, vinfo)
    m = varint(1 << 3 | 0) + varint(8) + ld(8, ld(1, b"") + varint(2 << 3) + varint(17)) + ld(7, g)
    p = os.path.join(tmp, "deep_types.onnx")
    with open(p, "wb") as f:
        f.write(m)
    compile_fails(p, "nest", "limit")


# --- 3./4. tensor sizes and external data ---------------------------------------------------


@suite.check("an initializer whose element count wraps 64 bits is refused")
def _():
    w = tensor("w", [2**62, 2**62, 16])
    w.raw_data = b"\0" * 16
    p = model([helper.make_node("Relu", ["w"], ["y"], name="r")], [], [vi("y", [1])],
              inits=[w], name="wrap_init")
    compile_fails(p, "initializer 'w'")


@suite.check("an initializer with a zero dim but huge others is refused")
def _():
    w = tensor("w", [0, 2**62, 2**62])
    w.raw_data = b""
    p = model([helper.make_node("Relu", ["w"], ["y"], name="r")], [], [vi("y", [1])],
              inits=[w], name="zero_huge")
    compile_fails(p, "initializer 'w'", "limit")


def external(name, dims, length, offset=0, location="w.bin", data=b"\0" * 64):
    t = tensor(name, dims)
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", str(offset)), ("length", str(length))):
        e = t.external_data.add()
        e.key, e.value = k, v
    with open(os.path.join(tmp, "w.bin"), "wb") as f:
        f.write(data)
    return t


@suite.check("a tensor of 2^40 floats is refused at the tensor bytes limit")
def _():
    t = external("w", [2**40], 4 * 2**40)
    p = model([helper.make_node("Relu", ["w"], ["y"], name="r")], [], [vi("y", [1])],
              inits=[t], name="ext_huge")
    compile_fails(p, "initializer 'w'", "limit")


@suite.check("external data declaring 1 GiB in a 64-byte file is exit 1, before allocating")
def _():
    t = external("w", [2**28], 4 * 2**28)
    p = model([helper.make_node("Relu", ["w"], ["y"], name="r")], [], [vi("y", [1])],
              inits=[t], name="ext_big")
    compile_fails(p, "initializer 'w'", "w.bin")


@suite.check("external data with no length, a 64-byte file and a huge shape is exit 1")
def _():
    t = tensor("w", [2**28])
    t.data_location = TensorProto.EXTERNAL
    e = t.external_data.add()
    e.key, e.value = "location", "w.bin"
    with open(os.path.join(tmp, "w.bin"), "wb") as f:
        f.write(b"\0" * 64)
    p = model([helper.make_node("Relu", ["w"], ["y"], name="r")], [], [vi("y", [1])],
              inits=[t], name="ext_nolen")
    compile_fails(p, "initializer 'w'", "w.bin")


@suite.check("external data at ../ or an absolute path is refused")
def _():
    for loc in ("../w.bin", "/etc/passwd"):
        t = external("w", [4], 16, location=loc)
        p = model([helper.make_node("Relu", ["w"], ["y"], name="r")], [], [vi("y", [4])],
                  inits=[t], name="ext_path")
        compile_fails(p, "initializer 'w'", "outside")


@suite.check("external data through a symlink leaving the model's directory is refused")
def _():
    link = os.path.join(tmp, "escape.bin")
    if not os.path.lexists(link):
        os.symlink("/etc/hostname", link)
    t = external("w", [1], 4, location="escape.bin")
    p = model([helper.make_node("Relu", ["w"], ["y"], name="r")], [], [vi("y", [1])],
              inits=[t], name="ext_link")
    compile_fails(p, "initializer 'w'", "symlink")


# --- 5. limits -------------------------------------------------------------------------------


@suite.check("a graph input with a dim of 2^62 is refused, naming the input and the limit")
def _():
    p = model([helper.make_node("Relu", ["x"], ["y"], name="r")], [vi("x", [1, 2**62])],
              [vi("y", [1, 2**62])], name="input_huge")
    compile_fails(p, "graph input 'x'", "limit")


@suite.check("a graph input of 2^20 x 2^20 floats per item is refused (tensor bytes limit)")
def _():
    p = model([helper.make_node("Relu", ["x"], ["y"], name="r")], [vi("x", ["N", 2**20, 2**20])],
              [vi("y", ["N", 2**20, 2**20])], name="input_bytes")
    compile_fails(p, "graph input 'x'", "limit")


@suite.check("an attribute with too many ints is refused, naming node and limit")
def _():
    n = helper.make_node("Transpose", ["x"], ["y"], name="t")
    a = n.attribute.add()  # 2^24 + 1 ints (make_attribute converts one at a time)
    a.name, a.type = "perm", onnx.AttributeProto.INTS
    a.ints.extend([0] * ((1 << 24) + 1))
    p = model([n], [vi("x", [1, 4])], [vi("y", [4, 1])], name="attr_ints")
    compile_fails(p, "node 't' (Transpose)", "limit")


@suite.check("a 100 kB tensor name is refused, naming the limit")
def _():
    nm = "x" * 100000
    p = model([helper.make_node("Relu", [nm], ["y"], name="r")], [vi(nm, [1, 4])],
              [vi("y", [1, 4])], name="long_name")
    compile_fails(p, "limit")


# --- 6. shape arithmetic ---------------------------------------------------------------------


@suite.check("Tile by 2^62 is refused, naming node and limit")
def _():
    p = model([helper.make_node("Tile", ["x", "r"], ["y"], name="tile")], [vi("x", [1, 4])],
              [vi("y", None)], inits=[i64("r", [2**62, 1])], name="tile_huge")
    compile_fails(p, "node 'tile' (Tile)", "repeat", "limit")


@suite.check("Expand to [2^32+1, 2^32-1] then ReduceSum is refused, not 0.0")
def _():
    p = model([helper.make_node("Expand", ["x", "s"], ["e"], name="ex"),
               helper.make_node("ReduceSum", ["e"], ["y"], name="rs", keepdims=0)],
              [vi("x", [1, 1])], [vi("y", [])], inits=[i64("s", [2**32 + 1, 2**32 - 1])],
              name="expand_huge")
    compile_fails(p, "node 'ex' (Expand)", "'e'")


@suite.check("Reshape to [2^62, 4] is refused")
def _():
    p = model([helper.make_node("Reshape", ["x", "s"], ["y"], name="rh")], [vi("x", [1, 4])],
              [vi("y", None)], inits=[i64("s", [2**62, 2**62, 0])], name="reshape_huge")
    compile_fails(p, "node 'rh' (Reshape)")


@suite.check("Pad by 2^62 is refused")
def _():
    p = model([helper.make_node("Pad", ["x", "p"], ["y"], name="pad")], [vi("x", [1, 4])],
              [vi("y", None)], inits=[i64("p", [0, 2**62, 0, 2**62])], name="pad_huge")
    compile_fails(p, "node 'pad' (Pad)")


@suite.check("Conv with pads of 2^62 is refused")
def _():
    w = helper.make_tensor("w", F, [1, 1, 1, 1], [1.0])
    n = helper.make_node("Conv", ["x", "w"], ["y"], name="conv", pads=[2**62, 0, 2**62, 0])
    p = model([n], [vi("x", [1, 1, 4, 4])], [vi("y", None)], inits=[w], name="conv_huge")
    compile_fails(p, "node 'conv' (Conv)")


@suite.check("Conv with dilation 2^62 is refused")
def _():
    w = helper.make_tensor("w", F, [1, 1, 3, 3], [1.0] * 9)
    n = helper.make_node("Conv", ["x", "w"], ["y"], name="conv", dilations=[2**62, 1])
    p = model([n], [vi("x", [1, 1, 4, 4])], [vi("y", None)], inits=[w], name="conv_dil")
    compile_fails(p, "node 'conv' (Conv)")


@suite.check("Range with 2^62 elements is refused")
def _():
    s = helper.make_tensor("s", I64, [], [0])
    e = helper.make_tensor("e", I64, [], [2**62])
    d = helper.make_tensor("d", I64, [], [1])
    p = model([helper.make_node("Range", ["s", "e", "d"], ["y"], name="rg")], [],
              [vi("y", None, I64)], inits=[s, e, d], name="range_huge")
    compile_fails(p, "node 'rg' (Range)")


@suite.check("Range from INT64_MIN to INT64_MAX is refused")
def _():
    s = helper.make_tensor("s", I64, [], [-2**63])
    e = helper.make_tensor("e", I64, [], [2**63 - 1])
    d = helper.make_tensor("d", I64, [], [1])
    p = model([helper.make_node("Range", ["s", "e", "d"], ["y"], name="rg")], [],
              [vi("y", None, I64)], inits=[s, e, d], name="range_wrap")
    compile_fails(p, "node 'rg' (Range)")


@suite.check("Concat whose summed axis wraps is refused")
def _():
    p = model([helper.make_node("Concat", ["x", "x"], ["y"], name="cc", axis=1)],
              [vi("x", [1, 2**31 - 1])], [vi("y", None)], name="concat_sum")
    compile_fails(p, "limit")


@suite.check("ConstantOfShape [2^31, 2^31] is refused")
def _():
    p = model([helper.make_node("ConstantOfShape", ["s"], ["y"], name="cos")], [],
              [vi("y", None)], inits=[i64("s", [2**31, 2**31])], name="cos_huge")
    compile_fails(p, "node 'cos' (ConstantOfShape)")


# --- 7. attributes used as indices -----------------------------------------------------------


@suite.check("Gemm with transA=7 is refused, naming the node")
def _():
    b = helper.make_tensor("b", F, [4, 2], [0.0] * 8)
    p = model([helper.make_node("Gemm", ["x", "b"], ["y"], name="gemm", transA=7)],
              [vi("x", [1, 4])], [vi("y", [1, 2])], inits=[b], name="gemm_trans")
    compile_fails(p, "node 'gemm' (Gemm)", "transA")


@suite.check("Gemm with transB=-1 is refused")
def _():
    b = helper.make_tensor("b", F, [4, 2], [0.0] * 8)
    p = model([helper.make_node("Gemm", ["x", "b"], ["y"], name="gemm", transB=-1)],
              [vi("x", [1, 4])], [vi("y", [1, 2])], inits=[b], name="gemm_transb")
    compile_fails(p, "node 'gemm' (Gemm)", "transB")


@suite.check("Transpose with perm [0, 9], [0, 0], [0, 2^62] or [0, 1, 2] is refused")
def _():
    for perm in ([0, 9], [0, 0], [0, 2**62], [0, 1, 2]):
        p = model([helper.make_node("Transpose", ["x"], ["y"], name="tp", perm=perm)],
                  [vi("x", [1, 4])], [vi("y", None)], name="perm_bad")
        compile_fails(p, "node 'tp' (Transpose)")


@suite.check("Split with negative or huge sizes is refused")
def _():
    for sizes in ([-1, 5], [2**62, 4 - 2**62]):
        p = model([helper.make_node("Split", ["x", "s"], ["y", "z"], name="sp", axis=1)],
                  [vi("x", [1, 4])], [vi("y", None), vi("z", None)], inits=[i64("s", sizes)],
                  name="split_bad")
        compile_fails(p, "node 'sp' (Split)")


@suite.check("a list attribute of the wrong kind (Transpose perm as floats) is refused")
def _():
    n = helper.make_node("Transpose", ["x"], ["y"], name="tp")
    n.attribute.append(helper.make_attribute("perm", [1.0, 0.0]))
    p = model([n], [vi("x", [1, 4])], [vi("y", None)], name="perm_floats")
    compile_fails(p, "node 'tp' (Transpose)", "attribute 'perm' is floats, expected ints")


@suite.check("Upsample-7 with integer scales is refused, not read as floats")
def _():
    n = helper.make_node("Upsample", ["x"], ["y"], name="up")
    n.attribute.append(helper.make_attribute("scales", [1, 1, 2, 2]))
    p = model([n], [vi("x", [1, 1, 2, 2])], [vi("y", None)], opset=7, name="upsample_ints")
    compile_fails(p, "node 'up' (Upsample)", "attribute 'scales'")


@suite.check("Resize by a scale of 1e30 (or NaN) is refused")
def _():
    for v in (1e30, float("nan")):
        sc = helper.make_tensor("sc", F, [4], [1.0, 1.0, v, 1.0])
        n = helper.make_node("Resize", ["x", "", "sc"], ["y"], name="rz")
        p = model([n], [vi("x", [1, 1, 2, 2])], [vi("y", None)], inits=[sc], name="resize_huge")
        compile_fails(p, "node 'rz' (Resize)", "scale")


@suite.check("Resize to sizes of 2^62 is refused")
def _():
    sz = i64("sz", [1, 1, 2**62, 2])
    n = helper.make_node("Resize", ["x", "", "", "sz"], ["y"], name="rz")
    p = model([n], [vi("x", [1, 1, 2, 2])], [vi("y", None)], inits=[sz], name="resize_sizes")
    compile_fails(p, "node 'rz' (Resize)", "size")


@suite.check("DepthToSpace and SpaceToDepth with blocksize 2^40 are refused")
def _():
    for op in ("DepthToSpace", "SpaceToDepth"):
        n = helper.make_node(op, ["x"], ["y"], name="blk", blocksize=2**40)
        p = model([n], [vi("x", [1, 4, 2, 2])], [vi("y", None)], name="block_huge")
        compile_fails(p, f"node 'blk' ({op})", "blocksize")


@suite.check("ConvTranspose with output_padding or output_shape of 2^62 is refused")
def _():
    w = helper.make_tensor("w", F, [1, 1, 1, 1], [1.0])
    for attrs in ({"output_padding": [2**62, 0]}, {"output_shape": [2**62, 4]}):
        n = helper.make_node("ConvTranspose", ["x", "w"], ["y"], name="ct", **attrs)
        p = model([n], [vi("x", [1, 1, 4, 4])], [vi("y", None)], inits=[w], name="convt_huge")
        compile_fails(p, "node 'ct' (ConvTranspose)")


@suite.check("a depthwise Conv with huge pads and strides reads only inside its input")
def _():
    # The depthwise kernel never materialises the padded plane (it once
    # needed one of 2^64 floats here and refused): with pads and strides of
    # 2^31-1 the 3x3 output has only its centre inside the input, x[c, 0, 0].
    w = helper.make_tensor("w", F, [2, 1, 1, 1], [1.0, 2.0])
    n = helper.make_node("Conv", ["x", "w"], ["y"], name="dw", group=2,
                         strides=[2**31 - 1, 2**31 - 1], pads=[2**31 - 1] * 4)
    p = model([n], [vi("x", [1, 2, 4, 4])], [vi("y", None)], inits=[w], name="conv_dw")
    x = np.arange(1, 33, dtype=np.float32).reshape(1, 2, 4, 4)
    np.save(os.path.join(tmp, "conv_dw_x.npy"), x)
    out = os.path.join(tmp, "conv_dw_out")
    r = kiln_e2e.run([args.kiln, "run", p, "--input", "x=" + os.path.join(tmp, "conv_dw_x.npy"),
                      "--out-dir", out])
    require(r.returncode == 0, "kiln run: " + describe(*r))
    want = np.zeros((1, 2, 3, 3), np.float32)
    want[0, :, 1, 1] = x[0, :, 0, 0] * np.array([1.0, 2.0], np.float32)
    got = np.load(os.path.join(out, "y.npy"))
    require(got.shape == want.shape and np.array_equal(got, want),
            f"y is {got.tolist()}, expected {want.tolist()}")


@suite.check("Reshape whose target product wraps 64 bits onto an empty input is refused")
def _():
    n = helper.make_node("Reshape", ["x", "s"], ["y"], name="rh", allowzero=1)
    p = model([n], [vi("x", [0, 4])], [vi("y", None)],
              inits=[i64("s", [2**32, 2**32, 0])], name="reshape_wrap")
    compile_fails(p, "node 'rh' (Reshape)")


@suite.check("600 live tensors of 2 GiB each (over 1 TiB of working memory) are refused")
def _():
    k = 600
    nodes = [helper.make_node("Expand", ["x", "s"], [f"e{i}"], name=f"ex{i}") for i in range(k)]
    nodes.append(helper.make_node("Sum", [f"e{i}" for i in range(k)], ["y"], name="sum"))
    p = model(nodes, [vi("x", [1])], [vi("y", None)], inits=[i64("s", [2**29])], name="ws_huge")
    compile_fails(p, "working memory", "limit")


@suite.check("LRN with size 2^62 is refused")
def _():
    n = helper.make_node("LRN", ["x"], ["y"], name="lrn", size=2**62)
    p = model([n], [vi("x", [1, 2, 4, 4])], [vi("y", None)], name="lrn_huge")
    compile_fails(p, "node 'lrn' (LRN)", "size")


@suite.check("--shape pinning an input above the tensor bytes limit is a usage error (exit 2)")
def _():
    p = model([helper.make_node("Relu", ["x"], ["y"], name="r")], [vi("x", ["N", 4])],
              [vi("y", ["N", 4])], name="pin_big")
    r = kiln_e2e.run([args.kiln, "compile", p, "-o", os.path.join(tmp, "out"),
                      "--shape", "x=65536x65536"], timeout=60)
    require(r.returncode == 2 and "--shape x: dims up to" in r.stderr, describe(*r))


@suite.check("Slice with steps of 2^63-1 and -2^63 is computed without overflow: one element")
def _():
    for step, start, end in ((2**63 - 1, 0, 2**63 - 1), (-2**63, -1, -2**63)):
        n = helper.make_node("Slice", ["x", "st", "en", "ax", "sp"], ["y"], name="sl")
        p = model([n], [vi("x", [1, 4])], [vi("y", [1, 1])],
                  inits=[i64("st", [start]), i64("en", [end]), i64("ax", [1]), i64("sp", [step])],
                  name="slice_step")
        r = kiln_e2e.run([args.kiln, "compile", p, "-o", os.path.join(tmp, "slice")], timeout=300)
        require(r.returncode == 0, describe(*r))


@suite.check("Resize tf_crop_and_resize with a NaN roi extrapolates, and an empty axis is refused")
def _():
    roi = helper.make_tensor("roi", F, [8], [0, 0, float("nan"), 0, 1, 1, 1, 1])
    sz = i64("sz", [1, 1, 4, 4])
    n = helper.make_node("Resize", ["x", "roi", "", "sz"], ["y"], name="rz", mode="linear",
                         coordinate_transformation_mode="tf_crop_and_resize")
    p = model([n], [vi("x", [1, 1, 2, 2])], [vi("y", [1, 1, 4, 4])], inits=[roi, sz],
              name="resize_nan")
    r = kiln_e2e.run([args.kiln, "compile", p, "-o", os.path.join(tmp, "rz")], timeout=300)
    require(r.returncode == 0, describe(*r))
    n = helper.make_node("Resize", ["x", "", "", "sz"], ["y"], name="rz")
    p = model([n], [vi("x", [1, 1, 0, 2])], [vi("y", None)], inits=[sz], name="resize_empty")
    compile_fails(p, "node 'rz' (Resize)", "axis 2 is empty")


sys.exit(suite.finish())
