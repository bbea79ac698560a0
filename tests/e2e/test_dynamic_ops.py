#!/usr/bin/python3
"""End to end for the data movement ops on dynamic dims (issue 9): Resize
(F.interpolate by scale_factor 2, nearest and bilinear with align_corners
False and True, and to another tensor's size), Pad (constant, reflect,
replicate) on a dynamic length, Tile (repeat), Trilu and Concat on dynamic
axes, DepthToSpace, SpaceToDepth and Split on dynamic height and width.

    /usr/bin/python3 tests/e2e/test_dynamic_ops.py --kiln BUILD/kiln \
        --build-dir BUILD --source-dir SRC

Each model is a torch export made here (opset 17, dynamic_axes), compiled
once without --shape and served at several shapes (odd ones too), each
output compared with torch (rtol 1e-4, atol 1e-5); then compiled with
every dim pinned by --shape (the static path, constant taps) and compared
at that shape. Every check prints PASS/FAIL; the last line is "N passed, M
failed" and the exit status is 1 if any failed. Only processes this
script started are ended, by PID; every wait is bounded.
"""
import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kiln_e2e import (CheckFailed, Server, Suite, compare, describe, parse_args,  # noqa: E402
                      require, run)

RTOL, ATOL = 1e-4, 1e-5

args = parse_args(__doc__)
suite = Suite("dynamic-ops")
check = suite.check
TMP = suite.tmp


def modules():
    import torch
    nn, F = torch.nn, torch.nn.functional
    warnings.filterwarnings("ignore", category=UserWarning)

    class Fpn(nn.Module):
        """An FPN / U-Net-like decoder: strided convs down, upsampling back."""

        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(3, 8, 3, padding=1)
            self.c2 = nn.Conv2d(8, 8, 3, stride=2, padding=1)
            self.c3 = nn.Conv2d(8, 8, 3, stride=2, padding=1)
            self.lat = nn.Conv2d(8, 8, 1)

        def forward(self, image):
            c1 = torch.relu(self.c1(image))
            c2 = torch.relu(self.c2(c1))
            c3 = torch.relu(self.c3(c2))
            p2 = self.lat(c2) + F.interpolate(c3, size=c2.shape[2:], mode="nearest")
            up_n = F.interpolate(c3, scale_factor=2.0, mode="nearest")
            up_b = F.interpolate(p2, scale_factor=2.0, mode="bilinear", align_corners=False)
            up_a = F.interpolate(p2, scale_factor=2.0, mode="bilinear", align_corners=True)
            full = F.interpolate(c3, size=image.shape[2:], mode="bilinear", align_corners=False)
            return p2, up_n, up_b, up_a, full

    class Pads(nn.Module):
        def forward(self, signal):
            return (F.pad(signal, (2, 3), "constant", 0.5), F.pad(signal, (3, 1), "reflect"),
                    F.pad(signal, (1, 2), "replicate"))

    class Shuffle(nn.Module):
        def forward(self, x):
            # Pads the batch and the width, not the channels between them.
            return F.pixel_shuffle(x, 2), F.pad(x, (1, 1, 0, 0, 0, 0, 2, 1), "constant", -1.0)

    class Tiles(nn.Module):
        def forward(self, x):
            g = x @ x.transpose(1, 2)
            return (x.repeat(1, 2, 1), x.repeat(2, 1, 3), torch.triu(g, 1), torch.tril(g),
                    torch.cat([x, 2 * x], dim=1))

    torch.manual_seed(0)
    return {
        "fpn": (Fpn(), "image", {0: "batch", 2: "height", 3: "width"},
                ["p2", "up_n", "up_b", "up_a", "full"],
                [(1, 3, 32, 40), (2, 3, 33, 47), (1, 3, 17, 9), (3, 3, 8, 64)]),
        "pads": (Pads(), "signal", {0: "batch", 2: "length"}, ["const", "reflect", "edge"],
                 [(2, 4, 16), (1, 4, 5), (3, 4, 33)]),
        "shuffle": (Shuffle(), "x", {0: "batch", 2: "height", 3: "width"}, ["d2s", "mid"],
                    [(1, 8, 6, 4), (2, 8, 5, 7), (1, 8, 1, 33)]),
        "tiles": (Tiles(), "x", {0: "batch", 1: "seq"}, ["rep1", "rep2", "triu", "tril", "cat"],
                  [(2, 5, 3), (1, 1, 3), (3, 17, 3)]),
    }


MODELS = {}   # name -> (module, input name, output names, shapes)
ONNX = {}     # name -> path


def torch_outputs(name, x):
    import torch
    m, _, outs, _ = MODELS[name]
    with torch.no_grad():
        ys = m(torch.from_numpy(x))
    return {n: y.numpy() for n, y in zip(outs, ys)}


def inputs_of(shape, k):
    return np.random.default_rng(100 + k).standard_normal(shape).astype(np.float32)


def compile_model(name, exe, *opts):
    rc, out, err = run([args.kiln, "compile", ONNX[name], "-o", exe, "--name", name, *opts],
                       timeout=300)
    require(rc == 0, f"kiln compile {name} {' '.join(opts)}: " + describe(rc, out, err))


def serve_and_compare(name, exe, shapes):
    _, iname, _, _ = MODELS[name]
    srv = Server(exe, "--workers", "1")
    try:
        for k, shape in enumerate(shapes):
            x = inputs_of(shape, k)
            want = torch_outputs(name, x)
            r, outs = srv.client.infer(name, {iname: x})
            require(r.status == 200, f"{name} {list(shape)}: status {r.status}: {r.body[:400]!r}")
            for n, w in want.items():
                compare(f"{name} {list(shape)} {n} {list(w.shape)}", outs[n], w, RTOL, ATOL)
    finally:
        srv.stop()


try:
    @check("torch exports (opset 17, dynamic_axes) of an FPN, pads, pixel shuffle and tiles pass onnx.checker")
    def _():
        import onnx
        import torch
        for name, (m, iname, dyn, outs, shapes) in modules().items():
            path = os.path.join(TMP, name + ".onnx")
            torch.onnx.export(m, (torch.from_numpy(inputs_of(shapes[0], 0)),), path,
                              opset_version=17, input_names=[iname], output_names=outs,
                              dynamic_axes={iname: dyn})
            onnx.checker.check_model(onnx.load(path))
            MODELS[name] = (m, iname, outs, shapes)
            ONNX[name] = path

    if not MODELS:
        raise CheckFailed("no models: cannot go on")

    for name in ("fpn", "pads", "shuffle", "tiles"):
        @check(f"{name}: compiled once without --shape, served at every shape, matches torch")
        def _():
            exe = os.path.join(TMP, name)
            compile_model(name, exe)
            serve_and_compare(name, exe, MODELS[name][3])

        @check(f"{name}: compiled with the dims pinned by --shape (static), matches torch")
        def _():
            _, iname, _, shapes = MODELS[name]
            shape = shapes[1]
            exe = os.path.join(TMP, name + "-pinned")
            compile_model(name, exe, "--shape", f"{iname}={'x'.join(str(d) for d in shape)}")
            serve_and_compare(name, exe, [shape])

    def blocks_reference(x):
        """SpaceToDepth, DepthToSpace (DCR) and Split into 2 along the height, by the
        ONNX operator documents' numpy formulas."""
        b, c, h, w = x.shape
        s2d = x.reshape(b, c, h // 2, 2, w // 2, 2).transpose(0, 3, 5, 1, 2, 4).reshape(
            b, c * 4, h // 2, w // 2)
        d2s = x.reshape(b, 2, 2, c // 4, h, w).transpose(0, 3, 4, 1, 5, 2).reshape(
            b, c // 4, h * 2, w * 2)
        return {"s2d": s2d, "d2s": d2s, "top": x[:, :, :h // 2], "bottom": x[:, :, h // 2:]}

    @check("SpaceToDepth, DepthToSpace (DCR), Split into equal parts on dynamic height and "
           "width: one binary, several shapes, match numpy; an odd height is a 400")
    def _():
        import onnx
        from onnx import TensorProto, helper
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8, "height", "width"])
        outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None)
                for n in ("s2d", "d2s", "top", "bottom")]
        nodes = [helper.make_node("SpaceToDepth", ["x"], ["s2d"], name="s2d", blocksize=2),
                 helper.make_node("DepthToSpace", ["x"], ["d2s"], name="d2s", blocksize=2,
                                  mode="DCR"),
                 helper.make_node("Split", ["x"], ["top", "bottom"], name="split", axis=2)]
        g = helper.make_graph(nodes, "blocks", [x], outs)
        path = os.path.join(TMP, "blocks.onnx")
        onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
        exe = os.path.join(TMP, "blocks")
        rc, out, err = run([args.kiln, "compile", path, "-o", exe, "--name", "blocks"], timeout=300)
        require(rc == 0, "kiln compile blocks: " + describe(rc, out, err))
        srv = Server(exe, "--workers", "1")
        try:
            for k, shape in enumerate([(1, 8, 4, 6), (2, 8, 10, 34), (1, 8, 2, 2)]):
                xv = inputs_of(shape, k)
                r, got = srv.client.infer("blocks", {"x": xv})
                require(r.status == 200, f"blocks {list(shape)}: status {r.status}: {r.body[:400]!r}")
                for n, w in blocks_reference(xv).items():
                    compare(f"blocks {list(shape)} {n} {list(w.shape)}", got[n], w, 0, 0)
            r, _ = srv.client.infer("blocks", {"x": inputs_of((1, 8, 5, 4), 9)})
            require(r.status == 400, f"odd height: status {r.status}, expected 400: {r.body[:300]!r}")
            msg = r.json().get("error", "")
            for w in ("'s2d'", "SpaceToDepth", "multiple of blocksize 2", "dim 2", "height", "5"):
                require(w in msg, f"odd height: error {msg!r} does not mention {w!r}")
            print(f"        odd height: {msg}")
        finally:
            srv.stop()

    def check_against_pinned(path, name):
        """Compiled once without --shape and pinned at each shape: the same numbers, exactly."""
        exe = os.path.join(TMP, name)
        rc, out, err = run([args.kiln, "compile", path, "-o", exe, "--name", name], timeout=300)
        require(rc == 0, f"kiln compile {name}: " + describe(rc, out, err))
        for k, (h, w) in enumerate([(7, 9), (2, 33), (16, 4)]):
            pinned = os.path.join(TMP, f"{name}-{h}x{w}")
            rc, out, err = run([args.kiln, "compile", path, "-o", pinned, "--name", name,
                                "--shape", f"x=1x2x{h}x{w}"], timeout=300)
            require(rc == 0, f"kiln compile {name} --shape: " + describe(rc, out, err))
            xv = inputs_of((1, 2, h, w), k)
            got = {}
            for which in (exe, pinned):
                srv = Server(which, "--workers", "1")
                try:
                    r, got[which] = srv.client.infer(name, {"x": xv})
                    require(r.status == 200, f"{which} 1x2x{h}x{w}: status {r.status}: "
                                             f"{r.body[:400]!r}")
                finally:
                    srv.stop()
            for n in got[pinned]:
                compare(f"{name} 1x2x{h}x{w} {n}", got[exe][n], got[pinned][n], 0, 0)

    @check("Resize (every mode and coordinate transformation, scales 2 and 0.5, fixed sizes) "
           "and Upsample-9 on dynamic dims: run-time taps give the pinned build's numbers")
    def _():
        import onnx
        from onnx import TensorProto, helper, numpy_helper
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, "height", "width"])
        inits = [numpy_helper.from_array(np.array([1, 1, 2, 0.5], np.float32), "scales"),
                 numpy_helper.from_array(np.array([1, 2, 5, 12], np.int64), "sizes"),
                 numpy_helper.from_array(np.array([0, 0, 0.1, 0.2, 1, 1, 0.9, 0.8], np.float32),
                                         "roi")]
        nodes, outs = [], []
        for mode in ("nearest", "linear", "cubic"):
            for ctm in ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
                        "tf_crop_and_resize"):
                for by in ("scales", "sizes"):
                    y = f"{mode}_{ctm}_{by}"
                    ins = ["x", "roi" if ctm == "tf_crop_and_resize" else ""]
                    ins += ["scales"] if by == "scales" else ["", "sizes"]
                    nodes.append(helper.make_node("Resize", ins, [y], name=y, mode=mode,
                                                  coordinate_transformation_mode=ctm,
                                                  nearest_mode="round_prefer_ceil",
                                                  extrapolation_value=-2.0))
                    outs.append(helper.make_tensor_value_info(y, TensorProto.FLOAT, None))
        g = helper.make_graph(nodes, "modes", [x], outs, initializer=inits)
        path = os.path.join(TMP, "modes.onnx")
        onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
        # Upsample-9 (asymmetric, floor), nearest and linear.
        up = [helper.make_node("Upsample", ["x", "scales"], [f"up_{m}"], name=f"up_{m}", mode=m)
              for m in ("nearest", "linear")]
        g9 = helper.make_graph(up, "upsample", [x],
                               [helper.make_tensor_value_info(f"up_{m}", TensorProto.FLOAT, None)
                                for m in ("nearest", "linear")], initializer=inits[:1])
        path9 = os.path.join(TMP, "upsample.onnx")
        onnx.save(helper.make_model(g9, opset_imports=[helper.make_opsetid("", 9)]), path9)
        check_against_pinned(path, "modes")
        check_against_pinned(path9, "upsample")

    @check("fpn: a scale that is not exact as a dimension is refused, naming the node")
    def _():
        import onnx
        from onnx import helper, TensorProto
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, "h", 4])
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
        sc = helper.make_tensor("scales", TensorProto.FLOAT, [4], [1, 1, 1.3, 1])
        node = helper.make_node("Resize", ["x", "", "scales"], ["y"], name="up", mode="nearest")
        g = helper.make_graph([node], "g", [x], [y], initializer=[sc])
        path = os.path.join(TMP, "odd_scale.onnx")
        onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
        rc, out, err = run([args.kiln, "compile", path, "-o", os.path.join(TMP, "odd")],
                           timeout=60)
        require(rc == 1, f"expected exit 1: " + describe(rc, out, err))
        for w in ("'up'", "Resize", "1.3", "axis 2", "--shape"):
            require(w in err, f"error does not mention {w!r}: {err!r}")
except CheckFailed as e:
    suite.record("setup", False, str(e))

sys.exit(suite.finish())
