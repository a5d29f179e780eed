"""The span head in torch: transformer layers over the cross-encoder's hidden rows at the
tap, and a linear layer giving each position a start and an end logit."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from bot.ranking.e5file import E5File
from bot.training.reranker.torch_encoder import attention_bias, load_encoder


class SpanHead(nn.Module):
    """`layers` transformer blocks, initialised from multilingual-e5-small's blocks at the
    tap (the ones the cross-encoder itself runs there), then start and end logits."""

    def __init__(self, file: E5File, tap: int, layers: int) -> None:
        super().__init__()
        encoder = load_encoder(file)
        self.layers = nn.ModuleList(encoder.layers[tap : tap + layers])
        self.out = nn.Linear(file.header.hidden, 2)

    def forward(
        self, hidden: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """hidden: (batch, length, hidden) rows at the tap; mask: (batch, length) 1 for tokens.
        Returns start and end logits, each (batch, length)."""
        bias = attention_bias(mask, hidden.dtype)
        x = hidden
        for layer in self.layers:
            x = layer(x, bias)
        logits = self.out(x)
        return logits[..., 0], logits[..., 1]


def export_reader(model: SpanHead, path: Path) -> None:
    """Write the head as an ONNX graph: hidden rows and mask in, start and end logits out."""
    model = model.eval()
    h = model.out.in_features
    hidden = torch.zeros((1, 16, h), dtype=torch.float32)
    mask = torch.ones((1, 16), dtype=torch.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.onnx")
    torch.onnx.export(
        model,
        (hidden, mask),
        str(tmp),
        input_names=["hidden", "mask"],
        output_names=["start", "end"],
        opset_version=17,
        dynamo=False,
        dynamic_axes={
            "hidden": {0: "batch", 1: "length"},
            "mask": {0: "batch", 1: "length"},
            "start": {0: "batch", 1: "length"},
            "end": {0: "batch", 1: "length"},
        },
    )
    tmp.replace(path)
