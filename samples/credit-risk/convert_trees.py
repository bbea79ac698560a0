"""convert_trees.py: fitted scikit-learn tree models -> ONNX TreeEnsemble nodes.

skl2onnx is not packaged in Debian, so the sample carries this small
converter. It handles DecisionTree{Classifier,Regressor},
RandomForest{Classifier,Regressor} and GradientBoosting{Classifier,Regressor}
(binary and multi-class), and writes one ai.onnx.ml TreeEnsembleClassifier
or TreeEnsembleRegressor node (ml opset 3, float attributes):

    import convert_trees
    onnx.save(convert_trees.convert(fitted_model, n_features), "model.onnx")

The graph has one input `input` float[N, n_features]. A classifier has the
outputs `label` int64[N] (string labels: string[N]) and `probabilities`
float[N, n_classes] (what predict_proba gives); a regressor has `prediction`
float[N, n_outputs] (predict, as a column).

How sklearn's arithmetic maps onto the operator:
- A split is `x[f] <= threshold` with x in float32 and the threshold a
  double. ONNX compares in float, so the threshold is rounded *down* to the
  float32 at or below it: for a float32 x the two tests then agree exactly.
- Forests average their trees: classifier leaves carry the leaf's class
  probabilities divided by the number of trees (summed); regressor forests
  use aggregate_function AVERAGE.
- Gradient boosting: leaves carry value * learning_rate; base_values are the
  init estimator's raw prediction, as sklearn computes it
  (`_raw_predict_init`: the log-odds of the class prior for a binary
  classifier, the log priors for multi-class, the mean for squared error);
  the post_transform is LOGISTIC (binary) or SOFTMAX (multi-class).
- Binary classifiers give their leaves one weight, class 1's score, under
  class id 0 (ONNX Runtime's "binary case"): the scores are then [1 - p, p]
  for probability leaves and [logistic(-s), logistic(s)] for boosted ones,
  and the label is class 1 exactly when sklearn's argmax picks it.
"""
import numpy as np
import onnx
from onnx import TensorProto, helper

ML_OPSET = 3
ONNX_OPSET = 17


def _threshold(t):
    """The largest float32 <= the double t (see the module docstring)."""
    f = np.float32(t)
    if float(f) > float(t):
        f = np.nextafter(f, np.float32(-np.inf))
    return float(f)


class _Nodes:
    """The nodes_* and the weight lists of the ensemble, tree by tree."""

    def __init__(self):
        self.a = {k: [] for k in ("treeids", "nodeids", "featureids", "modes", "values",
                                  "truenodeids", "falsenodeids")}
        self.w = {k: [] for k in ("treeids", "nodeids", "ids", "weights")}

    def add_tree(self, tree_id, tree, leaf_weights):
        """tree: an sklearn Tree (tree_); leaf_weights(node) -> [(id, weight)]."""
        t = tree
        for i in range(t.node_count):
            leaf = t.children_left[i] < 0
            self.a["treeids"].append(tree_id)
            self.a["nodeids"].append(i)
            self.a["featureids"].append(0 if leaf else int(t.feature[i]))
            self.a["modes"].append("LEAF" if leaf else "BRANCH_LEQ")
            self.a["values"].append(0.0 if leaf else _threshold(t.threshold[i]))
            self.a["truenodeids"].append(0 if leaf else int(t.children_left[i]))
            self.a["falsenodeids"].append(0 if leaf else int(t.children_right[i]))
            if leaf:
                for k, w in leaf_weights(i):
                    self.w["treeids"].append(tree_id)
                    self.w["nodeids"].append(i)
                    self.w["ids"].append(int(k))
                    self.w["weights"].append(float(w))

    def attrs(self, prefix):
        d = {"nodes_" + k: v for k, v in self.a.items()}
        d.update({f"{prefix}_{k}": v for k, v in self.w.items()})
        return d


def _labels(classes):
    classes = np.asarray(classes)
    if classes.dtype.kind in "iub":
        return {"classlabels_int64s": [int(c) for c in classes]}, TensorProto.INT64
    if classes.dtype.kind == "f" and np.all(classes == np.round(classes)):
        return {"classlabels_int64s": [int(c) for c in classes]}, TensorProto.INT64
    return {"classlabels_strings": [str(c) for c in classes]}, TensorProto.STRING


def convert(model, n_features=None, name=None):
    """Returns an onnx.ModelProto computing model's predict/predict_proba."""
    kind = type(model).__name__
    F = int(n_features if n_features is not None else model.n_features_in_)
    nodes = _Nodes()
    attrs = {}
    if kind in ("DecisionTreeClassifier", "RandomForestClassifier", "ExtraTreesClassifier"):
        trees = [model] if kind.startswith("Decision") else list(model.estimators_)
        n_classes = len(model.classes_)
        scale = 1.0 / len(trees)

        def proba(tree, i):
            v = tree.value[i, 0, :].astype(np.float64)
            v = v / v.sum()
            if n_classes == 2:
                return [(0, v[1] * scale)]  # the one score is class 1's (module docstring)
            return [(k, v[k] * scale) for k in range(n_classes)]
        for tid, est in enumerate(trees):
            nodes.add_tree(tid, est.tree_, lambda i, t=est.tree_: proba(t, i))
        op, post, classifier = "TreeEnsembleClassifier", "NONE", True
    elif kind == "GradientBoostingClassifier":
        n_classes = len(model.classes_)
        lr = model.learning_rate
        base = model._raw_predict_init(np.zeros((1, F), dtype=np.float32))[0]
        K = model.estimators_.shape[1]
        tid = 0
        for stage in model.estimators_:
            for k in range(K):
                t = stage[k].tree_
                cls = 0 if K == 1 else k
                nodes.add_tree(tid, t, lambda i, t=t, c=cls: [(c, t.value[i, 0, 0] * lr)])
                tid += 1
        attrs["base_values"] = [float(b) for b in base]
        op, classifier = "TreeEnsembleClassifier", True
        post = "LOGISTIC" if K == 1 else "SOFTMAX"
    elif kind in ("DecisionTreeRegressor", "RandomForestRegressor", "ExtraTreesRegressor"):
        trees = [model] if kind.startswith("Decision") else list(model.estimators_)
        n_out = int(model.n_outputs_)
        for tid, est in enumerate(trees):
            t = est.tree_
            nodes.add_tree(tid, t, lambda i, t=t: [(o, t.value[i, o, 0]) for o in range(n_out)])
        attrs["n_targets"] = n_out
        if len(trees) > 1:
            attrs["aggregate_function"] = "AVERAGE"
        op, post, classifier = "TreeEnsembleRegressor", "NONE", False
    elif kind == "GradientBoostingRegressor":
        lr = model.learning_rate
        base = model._raw_predict_init(np.zeros((1, F), dtype=np.float32))[0]
        for tid, stage in enumerate(model.estimators_):
            t = stage[0].tree_
            nodes.add_tree(tid, t, lambda i, t=t: [(0, t.value[i, 0, 0] * lr)])
        attrs["n_targets"] = 1
        attrs["base_values"] = [float(b) for b in base]
        op, post, classifier = "TreeEnsembleRegressor", "NONE", False
    else:
        raise TypeError(f"convert_trees: {kind} is not a supported tree model")

    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", F])
    if classifier:
        lab, lab_type = _labels(model.classes_)
        attrs.update(lab)
        attrs.update(nodes.attrs("class"))
        outs = ["label", "probabilities"]
        vis = [helper.make_tensor_value_info("label", lab_type, ["N"]),
               helper.make_tensor_value_info("probabilities", TensorProto.FLOAT,
                                             ["N", len(model.classes_)])]
    else:
        attrs.update(nodes.attrs("target"))
        outs = ["prediction"]
        vis = [helper.make_tensor_value_info("prediction", TensorProto.FLOAT,
                                             ["N", attrs["n_targets"]])]
    node = helper.make_node(op, ["input"], outs, name=name or kind, domain="ai.onnx.ml",
                            post_transform=post, **attrs)
    graph = helper.make_graph([node], name or kind, [x], vis)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET),
                                                helper.make_opsetid("ai.onnx.ml", ML_OPSET)],
                          producer_name="kiln convert_trees.py")
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m
