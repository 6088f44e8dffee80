"""Helpers the benchmark scripts share: where the shared data lives and how a metric with its 95 % CI is printed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def shared_dataset(name: str) -> Path:
    """``$CARDIOLENS_SHARED_DATA/<name>``, else ``<repo>/../shared/data/<name>``."""
    root = os.environ.get("CARDIOLENS_SHARED_DATA")
    return (Path(root) if root else REPO.parent / "shared" / "data") / name


def format_metric(entry: dict[str, Any] | None) -> str:
    """A ``metrics.json`` entry as ``value (low-high)``, ``value`` without a CI, or ``n/a``."""
    if not entry or entry.get("value") is None:
        return "n/a"
    ci = entry.get("ci")
    return f"{entry['value']:.3f} ({ci[0]:.3f}-{ci[1]:.3f})" if ci else f"{entry['value']:.3f}"
