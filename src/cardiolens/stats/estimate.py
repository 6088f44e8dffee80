"""The value type every statistic returns: a point estimate with its 95% CI."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a 95% confidence interval and how it was obtained.

    Attributes:
        value: the estimate.
        ci_low, ci_high: bounds of the 95% CI, or None when no CI exists
            (e.g. too few subjects); never silently replaced by the value.
        method: how the CI was computed, e.g. "DeLong", "Wilson",
            "bootstrap percentile, 2000 stratified resamples".
        n: number of subjects (or pairs) the estimate rests on.
    """

    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    method: str = ""
    n: int | None = None

    @property
    def ci(self) -> tuple[float, float] | None:
        if self.ci_low is None or self.ci_high is None:
            return None
        return (self.ci_low, self.ci_high)

    def to_metric(self) -> dict[str, Any]:
        """The ``metrics.json`` form: ``{"value": v, "ci": [low, high] or null}``."""
        def clean(x: float | None) -> float | None:
            return None if x is None or not math.isfinite(x) else float(x)

        ci = self.ci
        return {"value": clean(self.value), "ci": None if ci is None else [clean(ci[0]), clean(ci[1])]}

    def __str__(self) -> str:
        ci = self.ci
        return f"{self.value:.3g}" + ("" if ci is None else f" (95% CI {ci[0]:.3g}-{ci[1]:.3g})")
