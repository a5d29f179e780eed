"""onnxruntime sessions as the query path opens them (imported only when a graph is loaded)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def open_session(path: Path, threads: int) -> Any:
    """A CPU session over the graph at `path` with `threads` intra-op threads, which sleep
    after a run rather than spin: spinning threads would take the cores from the next
    question's embedding."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
