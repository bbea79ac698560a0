"""rnn_models.py: torch sequence models for the recurrent ops (issue 12).

tests/e2e/test_rnn.py (small sizes) and bench/rnn.py (bench sizes) import it:

    m = module("lstm_clf", SIZES["test"])      # a torch module, eval mode
    export("lstm_clf", m, path)                 # opset 17, dynamic batch and seq
    x = clf_input("lstm_clf", sizes, b, s, seed)

Models:
  lstm_clf  x [batch, seq, I] -> logits [batch, 5]: a two-layer
            bidirectional LSTM (batch_first), a Linear on the last step.
  gru_clf   x [seq, batch, I] -> logits [batch, 4]: a one-layer GRU, a
            Linear on its last state.
  stateful  (x [batch, seq, 8], h, c [1, batch, 24]) -> (y [batch, seq, 3],
            h_out, c_out): a streaming LSTM a service calls chunk by chunk.
"""
import numpy as np

OPSET = 17

# name -> {model: (input size, hidden size)}
SIZES = {
    "test": {"lstm_clf": (16, 32), "gru_clf": (12, 48), "stateful": (8, 24)},
    "bench": {"lstm_clf": (64, 128), "gru_clf": (64, 128), "stateful": (8, 24)},
}


def _torch():
    import warnings
    import torch
    warnings.filterwarnings("ignore", category=UserWarning)
    return torch


def module(name, sizes):
    torch = _torch()
    torch.manual_seed(0)
    I, H = sizes[name]

    class LSTMClassifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.LSTM(I, H, num_layers=2, bidirectional=True, batch_first=True)
            self.fc = torch.nn.Linear(2 * H, 5)

        def forward(self, x):
            y, _ = self.rnn(x)
            return self.fc(y[:, -1, :])

    class GRUClassifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.GRU(I, H)
            self.fc = torch.nn.Linear(H, 4)

        def forward(self, x):
            _, h = self.rnn(x)
            return self.fc(h[-1])

    class StatefulLSTM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.LSTM(I, H, batch_first=True)
            self.fc = torch.nn.Linear(H, 3)

        def forward(self, x, h, c):
            y, (h2, c2) = self.rnn(x, (h, c))
            return self.fc(y), h2, c2

    cls = {"lstm_clf": LSTMClassifier, "gru_clf": GRUClassifier, "stateful": StatefulLSTM}
    return cls[name]().eval()


def input_name_shape(name, sizes, b, s):
    """The classifiers' input: (name, shape) at batch b, length s."""
    I = sizes[name][0]
    return "x", ((b, s, I) if name == "lstm_clf" else (s, b, I))


def clf_input(name, sizes, b, s, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(input_name_shape(name, sizes, b, s)[1]).astype(np.float32)


def torch_run(m, *xs):
    """m on numpy inputs: a list of numpy outputs."""
    torch = _torch()
    with torch.no_grad():
        out = m(*[torch.from_numpy(x) for x in xs])
    if not isinstance(out, tuple):
        out = (out,)
    return [o.numpy() for o in out]


def export(name, m, sizes, path):
    """torch.onnx.export with dynamic batch and seq, checked by onnx.checker."""
    torch = _torch()
    import onnx
    I, H = sizes[name]
    if name == "stateful":
        ins = (torch.zeros(2, 5, I), torch.zeros(1, 2, H), torch.zeros(1, 2, H))
        names, outs = ["x", "h", "c"], ["y", "h_out", "c_out"]
        dyn = {"x": {0: "batch", 1: "seq"}, "h": {1: "batch"}, "c": {1: "batch"},
               "y": {0: "batch", 1: "seq"}, "h_out": {1: "batch"}, "c_out": {1: "batch"}}
    else:
        ins = (torch.from_numpy(clf_input(name, sizes, 2, 5, 0)),)
        names, outs = ["x"], ["logits"]
        seq_axis = 1 if name == "lstm_clf" else 0
        dyn = {"x": {1 - seq_axis: "batch", seq_axis: "seq"}, "logits": {0: "batch"}}
    torch.onnx.export(m, ins, path, input_names=names, output_names=outs, dynamic_axes=dyn,
                      opset_version=OPSET, do_constant_folding=True)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    return path
