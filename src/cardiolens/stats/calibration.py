"""Calibration of predicted probabilities: slope, intercept, Brier score and a reliability table.

Methods:

* Logistic recalibration (Cox, Biometrika 1958;45:562, doi:10.1093/biomet/45.3-4.562;
  Van Calster et al., BMC Med 2019;17:230, doi:10.1186/s12916-019-1466-7):
  with ``lp = logit(p)``,

  - calibration slope ``b`` from ``logit P(y=1) = a + b·lp`` (ideal 1; < 1 means
    predictions too extreme, > 1 too modest);
  - calibration-in-the-large intercept ``a`` from ``logit P(y=1) = a + lp``
    (``lp`` as an offset, slope fixed at 1; ideal 0; < 0 means risks overestimated).

  Both are maximum-likelihood fits by Newton–Raphson with step halving; 95% CIs
  are Wald intervals ``coef ± z·SE`` from the inverse observed information.
  Probabilities are clipped to [1e-12, 1 − 1e-12] before the logit so that
  predictions of exactly 0 or 1 stay finite.
* Brier score ``mean((p − y)²)`` (Brier, Mon. Weather Rev. 1950;78:1) with a
  bootstrap percentile 95% CI (2000 resamples stratified by outcome).
* Reliability table: predictions grouped into bins (equal-width over [0, 1] or
  quantiles); per bin the mean prediction and the observed event fraction with
  its Wilson 95% CI.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import expit, log_expit, logit

from cardiolens.errors import UsageError
from cardiolens.stats import bootstrap
from cardiolens.stats.auc import Z_95, check_binary_outcome, check_scores
from cardiolens.stats.diagnostic import wilson_interval
from cardiolens.stats.estimate import Estimate

PROBABILITY_CLIP: Final[float] = 1e-12
_MAX_ITERATIONS: Final[int] = 100
_TOLERANCE: Final[float] = 1e-10


def _check_probabilities(y_true: ArrayLike, probability: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y = check_binary_outcome(y_true)
    p = check_scores(probability, y.size, "probability")
    if (p < 0.0).any() or (p > 1.0).any():
        raise UsageError(
            f"probability must lie in [0, 1]; got values from {p.min():.4g} to {p.max():.4g} "
            "(pass probabilities, not logits)"
        )
    return y, p


def _log_likelihood(design: np.ndarray, y: np.ndarray, offset: np.ndarray, coef: np.ndarray) -> float:
    eta = design @ coef + offset
    return float(np.sum(np.where(y, log_expit(eta), log_expit(-eta))))


def fit_logistic(
    design: np.ndarray, y: np.ndarray, offset: np.ndarray | None = None, start: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Maximum-likelihood logistic regression by Newton–Raphson (for 1–2 parameter recalibration fits).

    Args:
        design: ``(n, p)`` design matrix (include a column of ones for an intercept).
        y: boolean outcome, length ``n``.
        offset: fixed term added to the linear predictor (coefficient 1), or None.
        start: starting coefficients (default zeros).

    Returns:
        ``(coefficients, covariance, converged)``; the covariance is the inverse
        observed information at the estimate. ``converged`` is False when the
        likelihood has no finite maximum (separation) or the iterations ran out.
    """
    offset = np.zeros(y.size) if offset is None else offset
    coef = np.zeros(design.shape[1]) if start is None else np.asarray(start, dtype=float).copy()
    target = y.astype(float)
    current = _log_likelihood(design, y, offset, coef)
    converged = False
    for _ in range(_MAX_ITERATIONS):
        mu = expit(design @ coef + offset)
        weights = mu * (1.0 - mu)
        gradient = design.T @ (target - mu)
        information = design.T @ (design * weights[:, None])
        try:
            step = np.linalg.solve(information, gradient)
        except np.linalg.LinAlgError:
            break
        # Step halving keeps every iteration an ascent step (Newton can overshoot far from the optimum).
        scale = 1.0
        while scale > 1e-8:
            candidate = coef + scale * step
            value = _log_likelihood(design, y, offset, candidate)
            if value >= current - 1e-12:
                break
            scale /= 2.0
        else:
            break
        coef, current = candidate, value
        if np.max(np.abs(scale * step)) < _TOLERANCE:
            converged = True
            break
    mu = expit(design @ coef + offset)
    information = design.T @ (design * (mu * (1.0 - mu))[:, None])
    try:
        covariance = np.linalg.inv(information)
    except np.linalg.LinAlgError:
        covariance = np.full((design.shape[1],) * 2, np.nan)
        converged = False
    if not np.all(np.isfinite(coef)) or np.max(np.abs(coef)) > 1e6:
        converged = False
    return coef, covariance, converged


def _separated(lp: np.ndarray, y: np.ndarray) -> bool:
    """True when a threshold on ``lp`` splits the classes perfectly (the slope MLE is then infinite)."""
    return bool(lp[~y].max() < lp[y].min() or lp[y].max() < lp[~y].min())


@dataclass(frozen=True)
class CalibrationFit:
    """Logistic recalibration of predicted probabilities (Cox 1958).

    Attributes:
        slope: calibration slope ``b`` of ``logit P(y) = a + b·logit(p)``, Wald 95% CI (ideal 1).
        intercept: calibration-in-the-large ``a`` of ``logit P(y) = a + logit(p)``, Wald 95% CI (ideal 0).
        slope_model_intercept: the ``a`` of the slope model (not a calibration measure on its own).
        n: subjects.
    """

    slope: Estimate
    intercept: Estimate
    slope_model_intercept: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form; slope and intercept are on the logit scale (unitless)."""
        return {
            "calibration_slope": self.slope.to_metric(),
            "calibration_intercept": self.intercept.to_metric(),
            "slope_model_intercept": self.slope_model_intercept if math.isfinite(self.slope_model_intercept) else None,
            "n": self.n,
        }


def _wald(value: float, variance: float, method: str, n: int) -> Estimate:
    if not (math.isfinite(value) and math.isfinite(variance) and variance >= 0.0):
        return Estimate(value, None, None, method + " (CI undefined)", n)
    half_width = Z_95 * math.sqrt(variance)
    return Estimate(value, value - half_width, value + half_width, method, n)


def calibration_slope_intercept(y_true: ArrayLike, probability: ArrayLike) -> CalibrationFit:
    """Calibration slope and calibration-in-the-large intercept by logistic recalibration.

    Args:
        y_true: observed outcome per subject, boolean or 0/1; both classes must occur.
        probability: predicted probability of the outcome per subject, in [0, 1].

    Returns:
        CalibrationFit. The slope is NaN (no CI) when it has no finite estimate:
        all predictions equal, or the outcome perfectly separated by the prediction.
    """
    y, p = _check_probabilities(y_true, probability)
    positives = int(y.sum())
    if positives in (0, y.size):
        raise UsageError(f"calibration is undefined: y_true holds only one class ({y.size} subjects)")
    lp = logit(np.clip(p, PROBABILITY_CLIP, 1.0 - PROBABILITY_CLIP))
    n = y.size
    ones = np.ones((n, 1))

    coef, cov, converged = fit_logistic(ones, y, offset=lp)
    intercept = _wald(float(coef[0]), float(cov[0, 0]), "logistic recalibration with logit(p) as offset, Wald", n)
    if not converged:
        intercept = Estimate(math.nan, None, None, "logistic recalibration (did not converge)", n)

    method = "logistic recalibration (Cox 1958), Wald"
    if np.ptp(lp) == 0.0:
        slope = Estimate(math.nan, None, None, method + " (undefined: all predictions equal)", n)
        slope_intercept = math.nan
    elif _separated(lp, y):
        slope = Estimate(math.nan, None, None, method + " (undefined: outcome perfectly separated)", n)
        slope_intercept = math.nan
    else:
        # Start from perfect calibration (a, b) = (0, 1): usually a few Newton steps away.
        coef, cov, converged = fit_logistic(np.column_stack([ones, lp]), y, start=np.array([0.0, 1.0]))
        if converged:
            slope = _wald(float(coef[1]), float(cov[1, 1]), method, n)
            slope_intercept = float(coef[0])
        else:
            slope = Estimate(math.nan, None, None, method + " (did not converge)", n)
            slope_intercept = math.nan
    return CalibrationFit(slope=slope, intercept=intercept, slope_model_intercept=slope_intercept, n=n)


def _brier_rowwise(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    return np.mean((p - y) ** 2, axis=-1)


def brier_score(
    y_true: ArrayLike,
    probability: ArrayLike,
    *,
    n_resamples: int = bootstrap.DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Estimate:
    """Brier score ``mean((p − y)²)`` (Brier 1950; 0 is perfect, 0.25 is a constant 0.5) with bootstrap 95% CI.

    The CI is the percentile interval of ``n_resamples`` resamples stratified by outcome
    (plain resamples when only one class occurs).
    """
    y, p = _check_probabilities(y_true, probability)
    one_class = int(y.sum()) in (0, y.size)
    return bootstrap.bootstrap_ci(
        _brier_rowwise,
        y.astype(float),
        p,
        strata=None if one_class else y,
        n_resamples=n_resamples,
        seed=seed,
        vectorized=True,
    )


@dataclass(frozen=True)
class ReliabilityBin:
    """One bin of a reliability table.

    Attributes:
        low, high: bin edges on the probability scale (``low <= p < high``; the last bin includes ``high``).
        n: subjects in the bin.
        mean_predicted: mean predicted probability (NaN when empty).
        observed_fraction: share of subjects with the outcome, with its Wilson 95% CI (NaN, no CI, when empty).
    """

    low: float
    high: float
    n: int
    mean_predicted: float
    observed_fraction: Estimate

    def to_dict(self) -> dict[str, Any]:
        def clean(x: float) -> float | None:
            return float(x) if math.isfinite(x) else None

        observed = self.observed_fraction.to_metric()
        return {
            "bin_low": self.low,
            "bin_high": self.high,
            "n": self.n,
            "mean_predicted": clean(self.mean_predicted),
            "observed_fraction": observed["value"],
            "observed_ci": observed["ci"],
        }


@dataclass(frozen=True)
class ReliabilityTable:
    """Binned observed event fraction versus mean predicted probability.

    Attributes:
        bins: the bins in increasing order of probability.
        strategy: "uniform" (equal-width bins on [0, 1]) or "quantile" (equal-count bins).
        n: subjects.
    """

    bins: tuple[ReliabilityBin, ...]
    strategy: str
    n: int

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "n": self.n, "bins": [b.to_dict() for b in self.bins]}


def reliability_table(
    y_true: ArrayLike,
    probability: ArrayLike,
    *,
    n_bins: int = 10,
    strategy: Literal["uniform", "quantile"] = "uniform",
) -> ReliabilityTable:
    """Reliability (calibration) table of predicted probabilities against observed outcomes.

    Args:
        y_true: observed outcome per subject, boolean or 0/1.
        probability: predicted probability per subject, in [0, 1].
        n_bins: number of bins (quantile bins may merge when predictions tie).
        strategy: "uniform": edges ``linspace(0, 1, n_bins + 1)``, empty bins kept
            (NaN means) so tables line up; "quantile": edges at the quantiles of the
            predictions, so bins hold about equal numbers of subjects.
    """
    y, p = _check_probabilities(y_true, probability)
    if int(n_bins) != n_bins or n_bins < 1:
        raise UsageError(f"n_bins must be a positive integer, got {n_bins!r}")
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, int(n_bins) + 1)
    elif strategy == "quantile":
        edges = np.unique(np.quantile(p, np.linspace(0.0, 1.0, int(n_bins) + 1)))
        if edges.size == 1:  # every prediction equal: one bin
            edges = np.array([edges[0], edges[0]])
    else:
        raise UsageError(f"unknown reliability strategy {strategy!r}; use 'uniform' or 'quantile'")
    # Interior edges only: [low, high) for every bin, the top bin closed at its upper edge.
    which = np.searchsorted(edges[1:-1], p, side="right")
    bins = []
    for k in range(edges.size - 1):
        members = which == k
        count = int(members.sum())
        if count:
            events = int(y[members].sum())
            low, high = wilson_interval(events, count)
            observed = Estimate(events / count, low, high, "Wilson", count)
            mean_predicted = float(p[members].mean())
        else:
            observed = Estimate(math.nan, None, None, "Wilson (empty bin)", 0)
            mean_predicted = math.nan
        bins.append(ReliabilityBin(float(edges[k]), float(edges[k + 1]), count, mean_predicted, observed))
    return ReliabilityTable(tuple(bins), strategy, int(y.size))
