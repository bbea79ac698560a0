#!/usr/bin/python3
"""Writes the ONNX backend conformance tests of Debian's python3-onnx into a
directory, one folder per test:

    OUT_DIR/<test name>/model.onnx
    OUT_DIR/<test name>/meta.json            op, inputs, outputs, data files
    OUT_DIR/<test name>/data_<k>/input_<i>.npy    (or .pb, see below)
    OUT_DIR/<test name>/data_<k>/output_<i>.npy
    OUT_DIR/.stamp                           written last: what made the folder

The tests are every node test (onnx.backend.test.case.node) and the 'simple'
model tests (onnx.backend.test.case.model; the 'real' ones are downloads
and are left out). Numeric tensors are stored as .npy, the format
`kiln run --input` reads. Tensors numpy cannot hold (strings, bfloat16)
and sequences or optionals are stored as serialized ONNX protos in .pb
files, as onnx's own `backend-test-tools generate-data` writes them.

The "op" of a test, which the pass table groups by:
- a node test: the op_type of its single node;
- an `_expanded` node test (the op's function body, several nodes): the op
  of the test it expands, so test_softmax_axis_0_expanded counts under
  Softmax with `expanded: true`;
- a model test: the op_type of its last node, the one the model leads up
  to (test_sequence_model4 counts under ConcatFromSequence,
  test_gradient_of_add under Gradient).

The output is deterministic: numpy's global generator is seeded before each
collection, and a second run writes byte-identical files.

Usage: /usr/bin/python3 generate.py OUT_DIR
"""
import hashlib
import json
import os
import shutil
import sys

import numpy as np

# onnx 1.12's test generators use numpy names removed in numpy 1.24.
for _name, _value in (("bool", bool), ("object", object), ("int", int), ("float", float),
                      ("complex", complex), ("str", str)):
    if _name not in np.__dict__:
        setattr(np, _name, _value)

import onnx  # noqa: E402  (after the aliases above, which its generators need)
from onnx import TensorProto, numpy_helper  # noqa: E402

TRAINING_DOMAIN = "ai.onnx.preview.training"


def generator_stamp():
    """What the generated folder depends on: a changed onnx, numpy or
    generator makes the runner regenerate it."""
    with open(os.path.abspath(__file__), "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    return {"onnx": onnx.__version__, "numpy": np.__version__, "generator_sha256": digest}


def collect_cases():
    from onnx.backend.test.case import model as model_cases
    from onnx.backend.test.case import node as node_cases

    np.random.seed(0)
    nodes = list(node_cases.collect_testcases(None))
    np.random.seed(0)
    models = [c for c in model_cases.collect_testcases() if c.kind != "real"]
    return nodes, models


def value_kind(vi):
    """'tensor', 'string', 'bfloat16', 'sequence', 'optional' or 'map': how
    a graph input or output is stored and compared."""
    field = vi.type.WhichOneof("value")
    if field == "tensor_type":
        elem = vi.type.tensor_type.elem_type
        if elem == TensorProto.STRING:
            return "string"
        if elem == TensorProto.BFLOAT16:
            return "bfloat16"
        return "tensor"
    return {"sequence_type": "sequence", "optional_type": "optional",
            "map_type": "map"}.get(field, field or "unknown")


def write_value(path_stem, value, vi):
    """Writes one input or output; returns the file name it chose."""
    kind = value_kind(vi)
    if kind == "tensor":
        arr = np.asarray(value)
        np.save(path_stem + ".npy", arr, allow_pickle=False)
        return os.path.basename(path_stem) + ".npy"
    if kind == "bfloat16":
        # The generators hold bfloat16 as its uint16 bit patterns.
        bits = np.asarray(value)
        assert bits.dtype == np.uint16, f"bfloat16 data of type {bits.dtype}"
        proto = TensorProto(name=vi.name, data_type=TensorProto.BFLOAT16,
                            dims=list(bits.shape), raw_data=bits.astype("<u2").tobytes())
    elif kind == "string":
        proto = numpy_helper.from_array(np.asarray(value, dtype=object), vi.name)
    elif kind == "sequence":
        proto = numpy_helper.from_list(value, vi.name)
    elif kind == "optional":
        proto = numpy_helper.from_optional(value, vi.name)
    elif kind == "map":
        proto = numpy_helper.from_dict(value, vi.name)
    else:
        raise ValueError(f"{vi.name}: cannot store a value of type {kind}")
    with open(path_stem + ".pb", "wb") as f:
        f.write(proto.SerializeToString())
    return os.path.basename(path_stem) + ".pb"


def op_name(node):
    return node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"


def is_training(case):
    """A training op, BatchNormalization with training_mode=1, or a Dropout
    whose training_mode input is true in some data set."""
    graph = case.model.graph
    input_index = {vi.name: i for i, vi in enumerate(graph.input)}
    for node in graph.node:
        if node.domain == TRAINING_DOMAIN:
            return True
        if node.op_type == "BatchNormalization":
            for a in node.attribute:
                if a.name == "training_mode" and a.i != 0:
                    return True
        if node.op_type == "Dropout" and len(node.input) > 2 and node.input[2]:
            i = input_index.get(node.input[2])
            if i is not None and any(bool(np.asarray(ins[i]).any()) for ins, _ in case.data_sets):
                return True
    return False


def write_case(out_dir, case, kind, base_ops):
    graph = case.model.graph
    expanded = kind == "node" and case.name.endswith("_expanded")
    if expanded:
        op = base_ops[case.name[: -len("_expanded")]]
    else:
        op = graph.node[-1].op_type
    meta = {
        "name": case.name,
        "kind": kind,
        "op": op,
        "expanded": expanded,
        "ops": sorted({op_name(n) for n in graph.node}),
        "training": is_training(case),
        "inputs": [{"name": vi.name, "kind": value_kind(vi)} for vi in graph.input],
        "outputs": [{"name": vi.name, "kind": value_kind(vi)} for vi in graph.output],
        "data_sets": [],
    }
    test_dir = os.path.join(out_dir, case.name)
    os.makedirs(test_dir)
    with open(os.path.join(test_dir, "model.onnx"), "wb") as f:
        f.write(case.model.SerializeToString())
    for k, (inputs, outputs) in enumerate(case.data_sets):
        data_dir = os.path.join(test_dir, f"data_{k}")
        os.makedirs(data_dir)
        assert len(inputs) <= len(graph.input) and len(outputs) <= len(graph.output), case.name
        files = {"inputs": [], "outputs": []}
        for i, value in enumerate(inputs):
            name = write_value(os.path.join(data_dir, f"input_{i}"), value, graph.input[i])
            files["inputs"].append(f"data_{k}/{name}")
        for i, value in enumerate(outputs):
            name = write_value(os.path.join(data_dir, f"output_{i}"), value, graph.output[i])
            files["outputs"].append(f"data_{k}/{name}")
        meta["data_sets"].append(files)
    with open(os.path.join(test_dir, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
        f.write("\n")


def rename_duplicates(cases):
    """onnx 1.12 has two pairs of different tests under one name
    (test_reduce_sum_negative_axes_keepdims_random, whose second case has
    empty axes and noop_with_empty_axes=1, and test_resize_tf_crop_and_resize,
    whose second has extrapolation_value=10). onnx's own generate-data keeps
    only the last of each; we keep both and give the n-th case with a name
    the suffix `_<n>` (n >= 2), in collection order."""
    seen = {}
    for case in cases:
        seen[case.name] = seen.get(case.name, 0) + 1
        if seen[case.name] > 1:
            case.name = f"{case.name}_{seen[case.name]}"
    names = [c.name for c in cases]
    assert len(set(names)) == len(names), "a renamed test collides with another name"


def generate(out_dir):
    nodes, models = collect_cases()
    rename_duplicates(nodes + models)
    base_ops = {c.name: c.model.graph.node[0].op_type for c in nodes
                if not c.name.endswith("_expanded")}
    # Build next to the target and rename at the end, so an interrupted run
    # never leaves a folder that looks complete.
    tmp = out_dir.rstrip("/") + f".tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    for case in nodes:
        write_case(tmp, case, "node", base_ops)
    for case in models:
        write_case(tmp, case, "model", base_ops)
    with open(os.path.join(tmp, ".stamp"), "w") as f:
        json.dump(generator_stamp(), f, sort_keys=True)
        f.write("\n")
    shutil.rmtree(out_dir, ignore_errors=True)
    os.rename(tmp, out_dir)
    return len(nodes), len(models)


def main():
    if len(sys.argv) != 2 or sys.argv[1].startswith("-"):
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    n_nodes, n_models = generate(os.path.abspath(sys.argv[1]))
    print(f"generate: {n_nodes} node tests, {n_models} model tests in {sys.argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
