#!/usr/bin/python3
"""bench/conv_layers.py: a conv net's Conv layers one by one, kiln against ORT.

    /usr/bin/python3 bench/conv_layers.py MODEL.onnx [--kiln build/kiln]
                                          [--rounds 3] [--work DIR] [--kiln2 OTHER/kiln]

Every distinct Conv of MODEL (by input shape, weight shape and attributes)
becomes a model of its own: that Conv with the net's weights (random ones
of the same shape where the weights are computed, not stored) followed by
a Relu, input the Conv's input shape (from ONNX shape inference). Each is
compiled with `kiln compile --emit obj`, linked with bench/kiln_bench.c and
timed at one thread against bench/ort_bench.js, runs interleaved (kiln,
ORT, kiln, ORT, ...), each in its own process; the median of the rounds'
medians. Prints one row per layer: shapes, K = C*kh*kw, P = output pixels,
how often the net has it, MFLOP, both times, GFLOP/s and ORT/kiln (> 1:
kiln is faster), then the sums weighted by the count. --kiln2 times a
second kiln build in the same interleaving (kiln2/kiln: > 1: kiln2 is
slower), for comparing a kernel change against its base.

One-layer models are not the whole net: ORT reorders a lone Conv into and
out of its blocked layout, which a chain of Convs does only once, so its
times here are an upper bound for that layer in the net (on some layers,
like a 3-channel first Conv, far above). Compare layers of kiln builds
with --kiln2; compare with ORT by ratio, on the bigger layers. Not a test.
"""
import argparse
import os
import statistics
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper, shape_inference

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nets import Kiln, iters_for, log, ort_time  # noqa: E402


def layers(path, work):
    """(name, description, count, MFLOP, model path) per distinct Conv."""
    m = shape_inference.infer_shapes(onnx.load(path))
    g = m.graph
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(g.value_info) + list(g.input) + list(g.output)}
    consts = {t.name: t for t in g.initializer}
    for n in g.node:
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
            t = onnx.TensorProto()
            t.CopyFrom(n.attribute[0].t)
            t.name = n.output[0]
            consts[n.output[0]] = t
    rng = np.random.default_rng(0)
    seen, order = {}, []
    stem = os.path.splitext(os.path.basename(path))[0]
    for i, n in enumerate(g.node):
        if n.op_type != "Conv":
            continue
        xs, ys = shapes.get(n.input[0]), shapes.get(n.output[0])
        if not xs or not ys or 0 in xs or 0 in ys:
            log(f"# {n.name or n.op_type}: shapes not known, skipped")
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        group = attrs.get("group", 1)
        w = consts.get(n.input[1])
        wshape = list(w.dims) if w is not None else [ys[1], xs[1] // group] + shapes[n.input[1]][2:]
        key = (tuple(xs), tuple(wshape), repr(sorted(attrs.items())))
        if key in seen:
            seen[key][2] += 1
            continue
        name = f"{stem}_conv{i:03d}"
        inits = [w if w is not None else numpy_helper.from_array(
            (rng.standard_normal(wshape) * 0.05).astype(np.float32), n.input[1])]
        ins = ["x", n.input[1]]
        if len(n.input) > 2 and n.input[2]:
            b = consts.get(n.input[2])
            inits.append(b if b is not None else numpy_helper.from_array(
                rng.standard_normal(ys[1]).astype(np.float32), n.input[2]))
            ins.append(n.input[2])
        graph = helper.make_graph(
            [helper.make_node("Conv", ins, ["c"], **attrs), helper.make_node("Relu", ["c"], ["y"])],
            name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, xs)],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, ys)], inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        out = os.path.join(work, name + ".onnx")
        onnx.save(model, out)
        K, P = int(np.prod(wshape[1:])), int(np.prod(ys[2:]))
        desc = (f"{'x'.join(map(str, xs[1:]))} -> {ys[1]} k{'x'.join(map(str, wshape[2:]))}"
                f" s{attrs.get('strides', [1])[0]}" + (f" g{group}" if group > 1 else ""))
        mflop = 2.0 * ys[0] * ys[1] * K * P / 1e6
        seen[key] = [name, desc, 1, mflop, out, K, P]
        order.append(key)
    return [seen[k] for k in order]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--kiln", default="build/kiln")
    ap.add_argument("--kiln2")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--work", default="build/bench-layers")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    rows = layers(a.model, a.work)
    head = "| layer | K | P | n | MFLOP | kiln us | ORT us | kiln GFLOP/s | ORT/kiln |"
    if a.kiln2:
        head += " kiln2 us | kiln2/kiln |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    tot = {"k": 0.0, "o": 0.0, "k2": 0.0}
    for name, desc, count, mflop, path, K, P in rows:
        log(f"# {name}: {desc}")
        kb = Kiln(a.kiln, path, a.work)
        k2 = None
        if a.kiln2:
            d2 = os.path.join(a.work, "kiln2")
            os.makedirs(d2, exist_ok=True)
            k2 = Kiln(a.kiln2, path, d2)
        iters = iters_for(kb.time(1, 5, 1, {}))
        ks, os_, k2s = [], [], []
        for _ in range(a.rounds):
            ks.append(kb.time(1, iters, 1, {}))
            os_.append(ort_time(path, 1, iters, 1, {}))
            if k2:
                k2s.append(k2.time(1, iters, 1, {}))
        k, o = statistics.median(ks), statistics.median(os_)
        tot["k"] += count * k
        tot["o"] += count * o
        row = (f"| {desc} | {K} | {P} | {count} | {mflop:.1f} | {k:.0f} | {o:.0f}"
               f" | {mflop / k * 1e3:.1f} | {o / k:.2f} |")
        if k2:
            k2m = statistics.median(k2s)
            tot["k2"] += count * k2m
            row += f" {k2m:.0f} | {k2m / k:.2f} |"
        print(row, flush=True)
    row = f"| all, weighted by n | | | | | {tot['k']:.0f} | {tot['o']:.0f} | | {tot['o'] / tot['k']:.2f} |"
    if a.kiln2:
        row += f" {tot['k2']:.0f} | {tot['k2'] / tot['k']:.2f} |"
    print(row)


if __name__ == "__main__":
    main()
