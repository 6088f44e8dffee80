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


def nicm_acdc_folds(cohort: Any) -> list[Any]:
    """The 5-fold patient-level stratified split of ``benchmarks/nicm_acdc.py`` (nicm's default folds and seed)."""
    from cardiolens.data.cohort import patient_kfold
    from cardiolens.systems.nicm.config import NicmConfig
    from cardiolens.systems.nicm.pipeline import labelled_records

    defaults = NicmConfig()
    return patient_kfold(labelled_records(cohort, defaults), defaults.folds, defaults.seed, stratify=True)
