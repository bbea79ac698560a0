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
    wide = inputs(2)
    wide[0]["shape"] = [2, 5]
    wide[0]["data"] = [0.25 * i for i in range(10)]
    yield "x_w5", {"inputs": wide}
    # One seed per error the parser reports: each is the flat request with one change.
    for name, change in HOSTILE:
        req = {"id": "h", "inputs": inputs()}
        change(req, req["inputs"])
        yield "bad_" + name, req
    yield "bad_not_an_object", [1]


def _set(i, key, value):
    def change(req, ins):
        ins[i][key] = value
    return change


def _req(key, value):
    def change(req, ins):
        req[key] = value
    return change


HOSTILE = [
    ("id_not_string", _req("id", 7)),
    ("parameters_not_object", _req("parameters", [])),
    ("inputs_not_array", _req("inputs", {})),
    ("input_not_object", lambda r, ins: ins.__setitem__(0, "x")),
    ("input_without_name", lambda r, ins: ins[0].pop("name")),
    ("unknown_input", _set(0, "name", "nope")),
    ("duplicate_input", lambda r, ins: ins.append(dict(ins[0]))),
    ("missing_input", lambda r, ins: ins.pop()),
    ("no_datatype", lambda r, ins: ins[0].pop("datatype")),
    ("wrong_datatype", _set(0, "datatype", "FP64")),
    ("input_parameters_not_object", _set(0, "parameters", 1)),
    ("shape_not_array", _set(0, "shape", "1,3")),
    ("wrong_rank", _set(0, "shape", [3])),
    ("negative_dim", _set(0, "shape", [1, -3])),
    ("fixed_dim_mismatch", _set(1, "shape", [1, 3, 2])),
    ("dim_out_of_range", _set(0, "shape", [1, 9])),
    ("batch_over_max", _set(0, "shape", [2**21, 3])),
    ("batch_zero", _set(0, "shape", [0, 3])),
    ("shape_overflow", _set(0, "shape", [2**63 - 1, 3])),
    ("over_tensor_limit", _set(0, "shape", [2**40, 3])),
    ("data_not_array", _set(0, "data", 1.5)),
    ("data_count", _set(0, "data", [1, 2])),
    ("nested_too_deep", _set(5, "data", [[[0], [1]]])),
    ("nested_not_array", _set(1, "data", [[[1, 2], 3]])),
    ("float_is_string", _set(0, "data", ["1", 2, 3])),
    ("bool_is_int", _set(2, "data", [1])),
    ("int8_out_of_range", _set(4, "data", [200])),
    ("int64_is_float", _set(1, "data", [0.5, 1, 2, 3])),
    ("uint64_negative", _set(5, "data", [-1, 0])),
    ("fp16_out_of_range", _set(3, "data", [70000, 0])),
    ("outputs_not_array", _req("outputs", {"name": "y"})),
    ("output_not_object", _req("outputs", ["y"])),
    ("unknown_output", _req("outputs", [{"name": "z"}])),
    ("output_twice", _req("outputs", [{"name": "y"}, {"name": "y"}])),
    ("too_many_outputs", _req("outputs", [{"name": n} for n in "y n m hh uu y".split()])),
    ("binary_output_in_json", _req("outputs", [{"name": "y", "parameters": {"binary_data": True}}])),
    ("binary_data_not_bool", _req("outputs", [{"name": "y", "parameters": {"binary_data": 1}}])),
    ("output_parameters_not_object", _req("outputs", [{"name": "y", "parameters": 2}])),
    ("binary_data_output_not_bool", _req("parameters", {"binary_data_output": "yes"})),
]


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
    for name, params, tail in [
            ("size_negative", {"binary_data_size": -1}, b""),
            ("size_not_int", {"binary_data_size": "12"}, b""),
            ("size_mismatch", {"binary_data_size": 8}, b"\0" * 8),
            ("bytes_left_over", {"binary_data_size": 12}, b"\0" * 20),
            ("nan_and_inf", {"binary_data_size": 12},
             np.array([np.nan, np.inf, -0.0], dtype=np.float32).tobytes())]:
        ins = inputs()
        ins[0].pop("data")
        ins[0]["parameters"] = params
        yield "bad_" + name, json.dumps({"inputs": ins}).encode() + b"\0" + tail
    ins = inputs()
    ins[0]["parameters"] = {"binary_data_size": 12}
    yield "bad_data_and_binary", json.dumps({"inputs": ins}).encode() + b"\0" + b"\0" * 12
    ins = inputs(2)
    ins[2].pop("data")
    ins[2]["parameters"] = {"binary_data_size": 2}
    yield "bool_bytes_not_0_or_1", json.dumps({"inputs": ins}).encode() + b"\0" + b"\x07\xff"


def npy_bytes(arr, version, fortran=False):
    hdr = repr({"descr": np.lib.format.dtype_to_descr(arr.dtype), "fortran_order": fortran,
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
    yield "f64_fortran.npy", npy_bytes(np.zeros((2, 2)), 1, fortran=True)
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


def xgboost_seeds():
    """Small XGBoost JSON models, one per objective kiln takes and a dart
    booster (seeded: xgboost 1.7 writes the same bytes every run)."""
    import xgboost as xgb
    rng = np.random.default_rng(7)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    x[rng.random(x.shape) < 0.2] = np.nan
    z = np.nan_to_num(x[:, 0]) - np.nan_to_num(x[:, 1])
    cases = [
        ("binary", {"objective": "binary:logistic"}, (z > 0).astype(int)),
        ("softprob", {"objective": "multi:softprob", "num_class": 3}, np.digitize(z, [-0.5, 0.5])),
        ("softmax", {"objective": "multi:softmax", "num_class": 3}, np.digitize(z, [-0.5, 0.5])),
        ("squarederror", {"objective": "reg:squarederror"}, z),
        ("reglogistic", {"objective": "reg:logistic"}, 1 / (1 + np.exp(-z))),
        ("dart", {"objective": "binary:logistic", "booster": "dart", "rate_drop": 0.3}, (z > 0).astype(int)),
    ]
    tmp = os.path.join(HERE, "seeds", ".xgb.json")
    for name, params, y in cases:
        bst = xgb.train({"max_depth": 2, "nthread": 1, "seed": 0, **params},
                        xgb.DMatrix(x, label=y, missing=np.nan), num_boost_round=2)
        bst.save_model(tmp)
        with open(tmp, "rb") as f:
            yield name, f.read()
    os.remove(tmp)


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
write("xgboost", list(xgboost_seeds()), ".json")
