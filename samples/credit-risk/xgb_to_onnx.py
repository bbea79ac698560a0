"""xgb_to_onnx.py: an XGBoost JSON model (save_model("m.json")) as an ONNX
ai.onnx.ml TreeEnsembleClassifier / TreeEnsembleRegressor model, built with
onnx.helper. kiln reads the JSON directly (frontends/xgboost/xgb_import.c);
this converter follows the same mapping so that ONNX Runtime can check it
and run it side by side (tests/e2e/test_xgboost.py, bench/xgb.py):

  XGBoost goes left when x[split_indices[i]] < split_conditions[i]:
  nodes_modes BRANCH_LT, the true branch the left child; a missing (NaN)
  feature takes default_left: nodes_missing_value_tracks_true. A leaf's
  value is its split_conditions entry (dart: times weight_drop[tree]).
  base_values = base_score in margin space (logit for the logistic ones).

  binary:logistic   Classifier, labels [0, 1], class_ids 0, LOGISTIC
  multi:softprob/   Classifier, labels 0..K-1, class_ids = tree_info, SOFTMAX
  multi:softmax
  reg:squarederror  Regressor, NONE
  reg:logistic      Regressor (NONE: the margin), then Sigmoid; ONNX
                    Runtime ignores LOGISTIC on a one-target regressor

Graph: input `input` float [N, num_feature]; outputs `label` int64 [N] and
`probabilities` float [N, classes], or `prediction` float [N, 1].

    from xgb_to_onnx import xgb_json_to_onnx
    model = xgb_json_to_onnx("credit_xgb.json")   # an onnx.ModelProto
"""
import json
import math

import numpy as np

OBJECTIVES = ("binary:logistic", "multi:softprob", "multi:softmax", "reg:squarederror",
              "reg:logistic")


def xgb_json_attributes(path):
    """(op_type, attributes dict, num_feature, n_classes, sigmoid after it) for the JSON model at path."""
    with open(path) as f:
        j = json.load(f)
    learner = j["learner"]
    obj = learner["objective"]["name"]
    if obj not in OBJECTIVES:
        raise ValueError(f"{path}: objective {obj!r} is not one of {OBJECTIVES}")
    gb = learner["gradient_booster"]
    drop = None
    if gb["name"] == "dart":
        drop = gb["weight_drop"]
        gb = gb["gbtree"]
    model = gb["model"]
    p = learner["learner_model_param"]
    num_feature = int(p["num_feature"])
    base_score = float(p["base_score"].strip("[]"))
    multi = obj.startswith("multi:")
    k = int(p["num_class"]) if multi else 1
    classifier = obj in OBJECTIVES[:3]
    f32 = np.float32
    nodes = {key: [] for key in ("treeids", "nodeids", "featureids", "values", "modes",
                                 "truenodeids", "falsenodeids", "missing_value_tracks_true")}
    leaves = {key: [] for key in ("treeids", "nodeids", "ids", "weights")}
    for t, (tree, cls) in enumerate(zip(model["trees"], model["tree_info"])):
        left, right = tree["left_children"], tree["right_children"]
        stack = [0]
        while stack:  # preorder, left subtree first (as kiln emits them)
            i = stack.pop()
            leaf = left[i] < 0
            nodes["treeids"].append(t)
            nodes["nodeids"].append(i)
            nodes["featureids"].append(0 if leaf else tree["split_indices"][i])
            nodes["values"].append(0.0 if leaf else float(f32(tree["split_conditions"][i])))
            nodes["modes"].append("LEAF" if leaf else "BRANCH_LT")
            nodes["truenodeids"].append(0 if leaf else left[i])
            nodes["falsenodeids"].append(0 if leaf else right[i])
            nodes["missing_value_tracks_true"].append(0 if leaf else int(tree["default_left"][i]))
            if leaf:
                w = f32(tree["split_conditions"][i])
                if drop is not None:
                    w = f32(drop[t]) * w
                leaves["treeids"].append(t)
                leaves["nodeids"].append(i)
                leaves["ids"].append(int(cls))
                leaves["weights"].append(float(w))
            else:
                stack += [right[i], left[i]]
    logistic = obj in ("binary:logistic", "reg:logistic")
    margin = float(f32(math.log(base_score / (1 - base_score)))) if logistic else float(f32(base_score))
    attrs = {"nodes_" + key: v for key, v in nodes.items()}
    w = "class" if classifier else "target"
    attrs.update({f"{w}_{key}": v for key, v in leaves.items()})
    if classifier:
        attrs["classlabels_int64s"] = list(range(max(k, 2)))
    else:
        attrs["n_targets"] = 1
        attrs["aggregate_function"] = "SUM"
    attrs["base_values"] = [margin] * k
    attrs["post_transform"] = ("LOGISTIC" if obj == "binary:logistic" else
                               "SOFTMAX" if multi else "NONE")
    op = "TreeEnsembleClassifier" if classifier else "TreeEnsembleRegressor"
    return op, attrs, num_feature, (max(k, 2) if classifier else 1), obj == "reg:logistic"


def xgb_json_to_onnx(path):
    from onnx import TensorProto, helper
    op, attrs, nf, k, sigmoid = xgb_json_attributes(path)
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", nf])
    if op == "TreeEnsembleClassifier":
        outs = [helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
                helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", k])]
    else:
        outs = [helper.make_tensor_value_info("prediction", TensorProto.FLOAT, ["N", 1])]
    names = ["margin"] if sigmoid else [o.name for o in outs]
    nodes = [helper.make_node(op, ["input"], names, name="gbtree", domain="ai.onnx.ml", **attrs)]
    if sigmoid:
        nodes.append(helper.make_node("Sigmoid", ["margin"], ["prediction"], name="sigmoid"))
    g = helper.make_graph(nodes, "xgboost", [x], outs)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17),
                                               helper.make_opsetid("ai.onnx.ml", 3)],
                             ir_version=8, producer_name="kiln xgb_to_onnx.py")
