"""The fine-tuned cross-encoder as an ONNX graph (fp32; optionally an int8 copy to compare)."""

from __future__ import annotations

from pathlib import Path

import torch

from bot.training.reranker.model import CrossEncoder, ExportedScorer


def export_onnx(model: CrossEncoder, path: Path, int8: Path | None = None) -> None:
    """Write the encoder and head (not the word embedding) as ONNX; optionally also a copy
    with int8 dynamically quantised weights (for comparison: `bot.training.reranker.packing`
    makes the shipped graph)."""
    graph = ExportedScorer(model).eval()
    h = model.head.in_features
    words = torch.zeros((2, 16, h), dtype=torch.float32)
    mask = torch.ones((2, 16), dtype=torch.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.onnx")
    torch.onnx.export(
        graph,
        (words, mask),
        str(tmp),
        input_names=["words", "mask"],
        output_names=["scores"],
        opset_version=17,
        dynamo=False,
        dynamic_axes={
            "words": {0: "batch", 1: "length"},
            "mask": {0: "batch", 1: "length"},
            "scores": {0: "batch"},
        },
    )
    tmp.replace(path)
    if int8 is not None:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        tmp8 = int8.with_suffix(".tmp.onnx")
        quantize_dynamic(str(path), str(tmp8), weight_type=QuantType.QInt8)
        tmp8.replace(int8)
