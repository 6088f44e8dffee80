"""Writing an evaluation: ``metrics.json``, ``predictions.csv`` and ``report.html`` (all atomic)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cardiolens.io.atomic import write_text_atomic
from cardiolens.report.html import HtmlReport
from cardiolens.stats.bootstrap import bootstrap_ci
from cardiolens.stats.estimate import Estimate


def mean_ci(values: pd.Series, seed: int = 0) -> Estimate | None:
    """Mean of the finite per-case values with a bootstrap 95 % CI (one case: the value without a CI; none: None)."""
    x = pd.to_numeric(values, errors="coerce").to_numpy(float)
    x = x[np.isfinite(x)]
    if len(x) < 2:
        return Estimate(float(x[0]), None, None, "one case", 1) if len(x) == 1 else None
    return bootstrap_ci(np.mean, x, n_resamples=2000, seed=seed)


def metric_entry(value: Estimate | float | int | None) -> dict[str, Any]:
    """``{"value": v, "ci": [low, high] or None}`` for an Estimate or a bare number."""
    if isinstance(value, Estimate):
        return value.to_metric()
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return {"value": None, "ci": None}
    return {"value": float(value), "ci": None}


def metrics_document(
    system: str,
    data_path: str | Path,
    layout: str,
    n_subjects: int,
    model: Mapping[str, Any],
    metrics: Mapping[str, Estimate | float | int | None],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``metrics.json`` structure of the guide (CIs are 95%)."""
    document: dict[str, Any] = {
        "system": system,
        "data": {"path": str(data_path), "layout": layout, "n_subjects": int(n_subjects)},
        "model": dict(model),
        "metrics": {name: metric_entry(value) for name, value in metrics.items()},
    }
    if extra:
        document.update(extra)
    return document


def write_evaluation(out_dir: str | Path, document: Mapping[str, Any], predictions: pd.DataFrame, report: HtmlReport) -> Path:
    """Write the three evaluation files into ``out_dir`` and return it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "metrics.json", json.dumps(document, indent=1, default=str))
    write_text_atomic(out / "predictions.csv", predictions.to_csv(index=False))
    report.write(out / "report.html")
    return out


def metrics_table(metrics: Mapping[str, Estimate | float | int | None]) -> pd.DataFrame:
    """One row per metric (value, CI bounds) for reports."""
    rows = []
    for name, value in metrics.items():
        entry = metric_entry(value)
        low, high = entry["ci"] or (None, None)
        rows.append({"metric": name, "value": entry["value"], "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows)
