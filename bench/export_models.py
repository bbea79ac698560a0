#!/usr/bin/python3
"""bench/export_models.py: the torch-built models of bench/nets.py, exported
to ONNX (opset 13, batch 1, seeded random weights: nothing is downloaded).

    /usr/bin/python3 bench/export_models.py OUT_DIR NAME...

nets.py runs it in a child process (torch is slow to import and its
exporter warns). Each NAME becomes OUT_DIR/NAME.onnx; a file already there
is kept. Names:
  resnet18 mobilenet_v2 efficientnet_b0 squeezenet1_1   torchvision, input
      "image" [1, 3, 224, 224]
  vit_tiny      torchvision VisionTransformer (224, patch 16, 12 layers,
                3 heads, hidden 192, MLP 768), input "image"
  text_encoder  Embedding(8000, 256) + 4 TransformerEncoder layers (d 256,
                4 heads, FF 1024, GELU, batch_first) + mean over the
                sequence + Linear(256, 2), input "tokens" int64 [1, 128]
  matmul1024    [1024, 1024] input "x" times a constant [1024, 1024]
"""
import os
import sys
import warnings

import numpy as np
import torch
import torchvision

OPSET = 13
TORCHVISION = ["resnet18", "mobilenet_v2", "efficientnet_b0", "squeezenet1_1"]
NAMES = TORCHVISION + ["vit_tiny", "text_encoder", "matmul1024"]


class TextEncoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(8000, 256)
        layer = torch.nn.TransformerEncoderLayer(d_model=256, nhead=4, dim_feedforward=1024,
                                                 batch_first=True, activation="gelu")
        # enable_nested_tensor=False: the padded-batch fast path is not exportable.
        self.encoder = torch.nn.TransformerEncoder(layer, num_layers=4, enable_nested_tensor=False)
        self.head = torch.nn.Linear(256, 2)

    def forward(self, tokens):
        return self.head(self.encoder(self.embed(tokens)).mean(dim=1))


def build(name):
    """(module, example input, input name, output name)."""
    torch.manual_seed(0)
    image = torch.randn(1, 3, 224, 224)
    if name in TORCHVISION:
        return getattr(torchvision.models, name)(weights=None), image, "image", "logits"
    if name == "vit_tiny":
        m = torchvision.models.VisionTransformer(image_size=224, patch_size=16, num_layers=12,
                                                 num_heads=3, hidden_dim=192, mlp_dim=768)
        return m, image, "image", "logits"
    if name == "text_encoder":
        return TextEncoder(), torch.randint(0, 8000, (1, 128), dtype=torch.int64), "tokens", "logits"
    if name == "matmul1024":
        class MatMul(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.w = torch.nn.Parameter(torch.randn(1024, 1024) / 32)

            def forward(self, x):
                return x @ self.w
        return MatMul(), torch.randn(1024, 1024), "x", "y"
    raise SystemExit(f"export_models.py: unknown model '{name}'; known: {' '.join(NAMES)}")


def export(name, out_dir):
    path = os.path.join(out_dir, name + ".onnx")
    if os.path.exists(path):
        return path
    m, x, iname, oname = build(name)
    m.eval()
    tmp = path + ".tmp"
    # Not under no_grad: there TransformerEncoderLayer takes its fused fast
    # path, which the exporter cannot take.
    torch.onnx.export(m, (x,), tmp, opset_version=OPSET, input_names=[iname],
                      output_names=[oname])
    os.replace(tmp, path)
    return path


def main():
    if len(sys.argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    warnings.filterwarnings("ignore")
    np.random.seed(0)
    for name in sys.argv[2:]:
        print(export(name, sys.argv[1]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
