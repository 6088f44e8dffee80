"""ONNX Runtime sessions for the systems' exported networks (CPU provider, thread count set)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def cpu_session(path: str | Path, num_threads: int) -> Any:
    """An ``onnxruntime.InferenceSession`` on the CPU with ``num_threads`` intra-op threads (one inter-op thread)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, int(num_threads))
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
