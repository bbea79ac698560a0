"""convert_linear.py: scikit-learn StandardScaler + LogisticRegression
pipelines to ONNX-ML, with onnx.helper alone (skl2onnx is not packaged in
Debian).

    from convert_linear import pipeline_model
    model = pipeline_model(scaler, clf, n_features=12)   # an onnx.ModelProto
    onnx.save(model, "credit_linear.onnx")

The model takes `input` (float [N, n_features]) and gives `label` (int64
[N], what clf.predict gives) and `probabilities` (float [N, n_classes],
what clf.predict_proba gives), as ONNX Runtime and kiln compute them:

- StandardScaler -> Scaler(offset=mean_, scale=1/scale_);
- binary LogisticRegression -> LinearClassifier with its one score and
  post_transform LOGISTIC: the columns are (1 - p, p), p = logistic(score);
- multinomial LogisticRegression -> LinearClassifier with SOFTMAX;
- one-vs-rest (multi_class="ovr") -> LOGISTIC per class, then
  Normalizer(L1), as sklearn normalises the per-class probabilities.

The functions return NodeProtos, so a caller can compose them with other
nodes; pipeline_model() wraps them into a model (default opset 17,
ai.onnx.ml opset 1).
"""
import numpy as np
from onnx import TensorProto, helper

ML = "ai.onnx.ml"


def scaler_node(scaler, input_name, output_name, name="scaler"):
    """A Scaler node doing what StandardScaler.transform does. A scaler
    fitted with with_mean/with_std False has mean_/scale_ None: offset 0,
    scale 1 then."""
    n = scaler.n_features_in_
    mean = scaler.mean_ if scaler.mean_ is not None else np.zeros(n)
    scale = scaler.scale_ if scaler.scale_ is not None else np.ones(n)
    return helper.make_node("Scaler", [input_name], [output_name], name=name, domain=ML,
                            offset=np.asarray(mean, np.float32).tolist(),
                            scale=(1.0 / np.asarray(scale, np.float64)).astype(np.float32).tolist())


def logistic_regression_nodes(clf, input_name, label_name, proba_name, name="logreg"):
    """The nodes of clf.predict (label_name) and clf.predict_proba
    (proba_name). Class labels must be integers (clf.classes_)."""
    classes = np.asarray(clf.classes_)
    if not np.issubdtype(classes.dtype, np.integer):
        raise ValueError("convert_linear: class labels must be integers, got %s" % classes.dtype)
    coef = np.asarray(clf.coef_, np.float32)
    icpt = np.asarray(clf.intercept_, np.float32)
    labels = classes.astype(np.int64).tolist()
    ovr = len(labels) > 2 and getattr(clf, "multi_class", "auto") == "ovr"
    post = "LOGISTIC" if len(labels) == 2 or ovr else "SOFTMAX"
    scores = proba_name + "_ovr" if ovr else proba_name
    nodes = [helper.make_node("LinearClassifier", [input_name], [label_name, scores], name=name,
                              domain=ML, coefficients=coef.ravel().tolist(),
                              intercepts=icpt.tolist(), classlabels_ints=labels,
                              post_transform=post, multi_class=0)]
    if ovr:
        nodes.append(helper.make_node("Normalizer", [scores], [proba_name], name=name + "_norm",
                                      domain=ML, norm="L1"))
    return nodes


def pipeline_model(scaler, clf, n_features, input_name="input", opset=17, ml_opset=1):
    """A model of scaler then clf: `input_name` -> `label`, `probabilities`."""
    nodes = [scaler_node(scaler, input_name, "scaled")]
    nodes += logistic_regression_nodes(clf, "scaled", "label", "probabilities")
    n_classes = len(clf.classes_)
    graph = helper.make_graph(
        nodes, "credit_linear",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", n_features])],
        [helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
         helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", n_classes])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset),
                                                    helper.make_opsetid(ML, ml_opset)],
                              producer_name="convert_linear.py")
    model.ir_version = 8  # what onnx 1.12 and ONNX Runtime 1.x both read
    return model
