#!/usr/bin/python3
"""Writes the committed seed inputs of the fuzz harnesses into
tests/fuzz/seeds/<harness>/: requests for the model of infer_model.h and
small tensor files. Deterministic; rerun it (with Debian's /usr/bin/python3)
after changing infer_model.h and commit the result.

scripts/fuzz.sh adds what the repository already holds: samples/*/*.onnx,
tests/golden/*.onnx and the conformance models (generated), the samples'
request.json and .npy files, the conformance .npy and .pb files.
"""
import json
import os
import shutil

import numpy as np
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


def inputs(batch=1, nested=False):
    """Every input of infer_model.h, for `batch` rows."""
    x = [[0.5 * i - 1 for i in range(3)] for _ in range(batch)]
    ids = [[[b, -1], [2**40, 7]] for b in range(batch)]
    mask = [b % 2 == 0 for b in range(batch)]

    def flat(v):
        return np.array(v).reshape(-1).tolist()
    return [
        {"name": "x", "shape": [batch, 3], "datatype": "FP32", "data": x if nested else flat(x)},
        {"name": "ids", "shape": [batch, 2, 2], "datatype": "INT64",
         "data": ids if nested else flat(ids)},
        {"name": "mask", "shape": [batch], "datatype": "BOOL", "data": mask},
        {"name": "h", "shape": [2], "datatype": "FP16", "data": [65504, -6.1e-5]},
        {"name": "s", "shape": [], "datatype": "INT8", "data": [-128]},
        {"name": "u", "shape": [1, 2], "datatype": "UINT64",
         "data": [[0, 9223372036854775807]] if nested else [0, 9223372036854775807]},
    ]


def json_seeds():
    yield "flat", {"id": "r1", "inputs": inputs()}
    yield "nested_batch3", {"inputs": inputs(3, nested=True)}
    yield "outputs_subset", {"id": "r2", "parameters": {}, "inputs": inputs(2),
                             "outputs": [{"name": "uu"}, {"name": "y", "parameters": {}}]}
    bad = inputs()
    bad[0]["data"] = [1e39, 0, 0]
    yield "float_out_of_range", {"inputs": bad}
    bad = inputs(2, nested=True)
    bad[1]["data"][1] = [[1, 2]]
    yield "ragged", {"inputs": bad}
    bad = inputs()
    bad[2]["shape"] = [2]
    yield "batch_mismatch", {"inputs": bad}


def binary_seeds():
    """JSON header, NUL, tail: the split fuzz_infer_binary.c makes."""
    for batch in (1, 2):
        ins = inputs(batch)
        tail = b""
        for t in ins:
            if t["name"] in ("x", "ids", "h"):
                dt = {"FP32": np.float32, "INT64": np.int64, "FP16": np.float16}[t["datatype"]]
                raw = np.array(t.pop("data"), dtype=dt).tobytes()
                t["parameters"] = {"binary_data_size": len(raw)}
                tail += raw
        req = {"inputs": ins, "outputs": [{"name": "y", "parameters": {"binary_data": True}},
                                          {"name": "n"}]}
        if batch == 2:
            req = {"inputs": ins, "parameters": {"binary_data_output": True}}
        yield f"binary_b{batch}", json.dumps(req).encode() + b"\0" + tail
    yield "json_only", json.dumps({"inputs": inputs()}).encode()
    ins = inputs()
    ins[0].pop("data")
    ins[0]["parameters"] = {"binary_data_size": 12}
    yield "tail_too_short", json.dumps({"inputs": ins}).encode() + b"\0" + b"\1" * 8


def npy_bytes(arr, version):
    hdr = repr({"descr": np.lib.format.dtype_to_descr(arr.dtype), "fortran_order": False,
                "shape": arr.shape}).encode()
    pre = 10 if version == 1 else 12
    pad = (64 - (pre + len(hdr) + 1) % 64) % 64
    hdr += b" " * pad + b"\n"
    size = len(hdr).to_bytes(2 if version == 1 else 4, "little")
    return b"\x93NUMPY" + bytes([version, 0]) + size + hdr + arr.tobytes()


def tensor_seeds():
    yield "f32_2x3.npy", npy_bytes(np.arange(6, dtype=np.float32).reshape(2, 3), 1)
    yield "bool_v2.npy", npy_bytes(np.array([True, False, True]), 2)
    yield "f16_scalar_v3.npy", npy_bytes(np.array(1.5, dtype=np.float16), 3)
    yield "i64_empty.npy", npy_bytes(np.zeros((0, 4), dtype=np.int64), 1)
    yield "u8_rank8.npy", npy_bytes(np.ones((1, 2, 1, 2, 1, 2, 1, 2), dtype=np.uint8), 1)
    a = np.arange(4, dtype=np.float32).reshape(2, 2)
    yield "f32_raw.pb", numpy_helper.from_array(a, "t").SerializeToString()
    yield "i64_typed.pb", helper.make_tensor("i", TensorProto.INT64, [3], [1, -2, 3]).SerializeToString()
    yield "f64_typed.pb", helper.make_tensor("d", TensorProto.DOUBLE, [2], [0.5, 2]).SerializeToString()
    yield "bool_typed.pb", helper.make_tensor("b", TensorProto.BOOL, [2], [1, 0]).SerializeToString()
    yield "f16_typed.pb", helper.make_tensor("h", TensorProto.FLOAT16, [2], [1.0, -2.0]).SerializeToString()
    yield "u64_typed.pb", helper.make_tensor("u", TensorProto.UINT64, [1], [2**63]).SerializeToString()
    yield "string.pb", helper.make_tensor("s", TensorProto.STRING, [1], [b"x"]).SerializeToString()
    ext = numpy_helper.from_array(a, "e")
    ext.ClearField("raw_data")
    ext.data_location = TensorProto.EXTERNAL
    ext.external_data.add(key="location", value="data.bin")
    yield "external.pb", ext.SerializeToString()


def write(harness, items, suffix=""):
    d = os.path.join(HERE, "seeds", harness)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for name, data in items:
        if not isinstance(data, bytes):
            data = json.dumps(data).encode()
        with open(os.path.join(d, name + suffix), "wb") as f:
            f.write(data)


write("infer_json", json_seeds(), ".json")
write("infer_binary", binary_seeds(), ".bin")
write("tensor", tensor_seeds())
