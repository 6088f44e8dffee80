"""Agreement and correlation between two measurements: Bland–Altman, Pearson, Spearman, ICC.

Every statistic returns :class:`~cardiolens.stats.estimate.Estimate` (value,
95% CI, method, n) or a small dataclass of them. Inputs are paired 1-D
sequences of finite numbers (or, for the ICC, a targets × raters table);
anything else raises :class:`~cardiolens.errors.UsageError`.

Methods:

- Bland–Altman (Bland & Altman, Lancet 1986;327:307): bias = mean(a − b),
  limits of agreement (LoA) = bias ± 1.96·SD(a − b). 95% CIs: bias ± t·SD/√n;
  each LoA ± t·√(3·SD²/n), the approximate SE of Bland & Altman, Stat Methods
  Med Res 1999;8:135 (t with n − 1 df). Proportional bias: OLS slope of
  (a − b) on (a + b)/2 with its t-based CI (n − 2 df).
- Pearson r with the Fisher z CI: tanh(atanh r ± 1.96/√(n − 3)) (Fisher 1921).
- Spearman ρ with a Fisher z CI using the Bonett & Wright (Psychometrika
  2000;65:23) SE √((1 + ρ²/2)/(n − 3)).
- ICC from the two-way ANOVA mean squares (rows = targets, columns = raters),
  single measures (Shrout & Fleiss, Psychol Bull 1979;86:420; McGraw & Wong,
  Psychol Methods 1996;1:30): ICC(2,1) absolute agreement (ICC(A,1)) and
  ICC(3,1) consistency (ICC(C,1)), with their F-distribution 95% CIs
  (McGraw & Wong 1996; the agreement CI uses their Satterthwaite df).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats

from cardiolens.errors import UsageError
from cardiolens.stats.estimate import Estimate

_Z95 = stats.norm.ppf(0.975)
_LOA_Z = 1.96  # Bland & Altman's limits of agreement use 1.96 SD by definition


def _paired(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, min_n: int) -> tuple[np.ndarray, np.ndarray]:
    """Two finite 1-D float arrays of equal length >= min_n."""
    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    if x.ndim != 1 or y.ndim != 1:
        raise UsageError(f"expected two 1-D sequences, got shapes {x.shape} and {y.shape}")
    if len(x) != len(y):
        raise UsageError(f"paired measurements differ in length: {len(x)} vs {len(y)}")
    n_bad = int((~np.isfinite(x) | ~np.isfinite(y)).sum())
    if n_bad:
        raise UsageError(f"{n_bad} of {len(x)} pairs hold NaN/Inf; drop or impute them first")
    if len(x) < min_n:
        raise UsageError(f"need at least {min_n} pairs, got {len(x)}")
    return x, y


def _ci(value: float, low: float, high: float, method: str, n: int) -> Estimate:
    return Estimate(value=float(value), ci_low=float(low), ci_high=float(high), method=method, n=n)


@dataclass(frozen=True)
class BlandAltman:
    """Bland–Altman agreement of method a against method b (differences a − b).

    Attributes:
        bias: mean difference with its t-based 95% CI.
        loa_low, loa_high: lower/upper limit of agreement with 95% CIs
            (Bland & Altman 1999 approximate SE).
        sd_diff: SD of the differences (ddof = 1).
        proportional_bias_slope: OLS slope of the difference on the pair mean,
            95% CI; 0 means no proportional bias.
        proportional_bias_p: two-sided p of that slope being 0.
        n: number of pairs.
        unit: unit of the measurements (e.g. "ml"); it suffixes the keys of
            :meth:`to_dict`.
    """

    bias: Estimate
    loa_low: Estimate
    loa_high: Estimate
    sd_diff: float
    proportional_bias_slope: Estimate
    proportional_bias_p: float
    n: int
    unit: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values; measurement-unit keys end in ``_{unit}`` (e.g. ``bias_ml``)."""
        u = f"_{self.unit}" if self.unit else ""
        return {
            f"bias{u}": self.bias.to_metric(),
            f"loa_low{u}": self.loa_low.to_metric(),
            f"loa_high{u}": self.loa_high.to_metric(),
            f"sd_diff{u}": float(self.sd_diff),
            "proportional_bias_slope": self.proportional_bias_slope.to_metric(),
            "proportional_bias_p": float(self.proportional_bias_p),
            "n": self.n,
        }


def bland_altman(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, unit: str = ""
) -> BlandAltman:
    """Bland–Altman bias and limits of agreement of a against b, with 95% CIs.

    Args:
        a, b: paired measurements of the same subjects (same unit), e.g.
            predicted and reference LV EDV in mL.
        unit: the measurements' unit, used only to name the ``to_dict`` keys.

    Needs at least 3 pairs (the proportional-bias slope has n − 2 df).
    """
    x, y = _paired(a, b, min_n=3)
    n = len(x)
    diff = x - y
    mean_pair = (x + y) / 2.0
    bias = float(diff.mean())
    sd = float(diff.std(ddof=1))
    t = stats.t.ppf(0.975, n - 1)
    se_bias = sd / math.sqrt(n)
    se_loa = math.sqrt(3.0 * sd**2 / n)
    low, high = bias - _LOA_Z * sd, bias + _LOA_Z * sd
    ci_method = "t-based, Bland & Altman 1999 SE sqrt(3 SD^2/n)"

    if np.ptp(mean_pair) > 0:
        fit = stats.linregress(mean_pair, diff)
        t_slope = stats.t.ppf(0.975, n - 2)
        slope = Estimate(
            float(fit.slope), float(fit.slope - t_slope * fit.stderr), float(fit.slope + t_slope * fit.stderr),
            "OLS of difference on mean, t-based CI", n,
        )
        slope_p = float(fit.pvalue)
    else:
        # All pairs share one mean: the slope is undefined, not zero.
        slope, slope_p = Estimate(math.nan, None, None, "OLS of difference on mean (undefined)", n), math.nan

    return BlandAltman(
        bias=_ci(bias, bias - t * se_bias, bias + t * se_bias, "t-based", n),
        loa_low=_ci(low, low - t * se_loa, low + t * se_loa, ci_method, n),
        loa_high=_ci(high, high - t * se_loa, high + t * se_loa, ci_method, n),
        sd_diff=sd,
        proportional_bias_slope=slope,
        proportional_bias_p=slope_p,
        n=n,
        unit=unit,
    )


def _fisher_ci(r: float, se: float, method: str, n: int) -> Estimate:
    if not math.isfinite(se):
        return Estimate(float(r), None, None, method, n)
    z = math.atanh(min(max(r, -1.0 + 1e-15), 1.0 - 1e-15))  # |r| = 1 would give an infinite z
    return _ci(r, math.tanh(z - _Z95 * se), math.tanh(z + _Z95 * se), method, n)


def _require_variation(x: np.ndarray, y: np.ndarray, what: str) -> None:
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        raise UsageError(f"{what} is undefined when one input is constant")


def pearson(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> Estimate:
    """Pearson correlation r with the Fisher z 95% CI tanh(atanh r ± 1.96/√(n − 3)).

    Needs at least 3 pairs; with exactly 3 the CI is None (SE undefined).
    """
    x, y = _paired(a, b, min_n=3)
    _require_variation(x, y, "Pearson r")
    n = len(x)
    r = float(stats.pearsonr(x, y).statistic)
    se = 1.0 / math.sqrt(n - 3) if n > 3 else math.inf
    return _fisher_ci(r, se, "Fisher z", n)


def spearman(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> Estimate:
    """Spearman ρ with a Fisher z 95% CI using the Bonett–Wright SE √((1 + ρ²/2)/(n − 3)).

    Needs at least 3 pairs; with exactly 3 the CI is None.
    """
    x, y = _paired(a, b, min_n=3)
    _require_variation(x, y, "Spearman rho")
    n = len(x)
    rho = float(stats.spearmanr(x, y).statistic)
    se = math.sqrt((1.0 + rho**2 / 2.0) / (n - 3)) if n > 3 else math.inf
    return _fisher_ci(rho, se, "Fisher z, Bonett-Wright SE", n)


@dataclass(frozen=True)
class _MeanSquares:
    n: int  # targets
    k: int  # raters
    msr: float  # between targets
    msc: float  # between raters
    mse: float  # residual


def _mean_squares(ratings: Sequence[Sequence[float]] | np.ndarray) -> _MeanSquares:
    table = np.asarray(ratings, dtype=float)
    if table.ndim != 2:
        raise UsageError(f"ratings must be a 2-D table (targets x raters), got shape {table.shape}")
    n, k = table.shape
    if n < 2 or k < 2:
        raise UsageError(f"ICC needs at least 2 targets and 2 raters, got {n} x {k}")
    if not np.isfinite(table).all():
        raise UsageError(f"ratings hold {int((~np.isfinite(table)).sum())} NaN/Inf value(s); the ICC needs a complete table")
    grand = table.mean()
    ss_rows = k * ((table.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((table.mean(axis=0) - grand) ** 2).sum()
    ss_err = ((table - grand) ** 2).sum() - ss_rows - ss_cols
    mse = ss_err / ((n - 1) * (k - 1))
    if mse <= 0:
        raise UsageError("ICC is undefined: the ratings have no residual variance (perfectly additive table)")
    return _MeanSquares(n, k, ss_rows / (n - 1), ss_cols / (k - 1), mse)


def _icc_consistency(ms: _MeanSquares) -> Estimate:
    n, k = ms.n, ms.k
    value = (ms.msr - ms.mse) / (ms.msr + (k - 1) * ms.mse)
    df1, df2 = n - 1, (n - 1) * (k - 1)
    f_obs = ms.msr / ms.mse
    f_low = f_obs / stats.f.ppf(0.975, df1, df2)
    f_high = f_obs * stats.f.ppf(0.975, df2, df1)
    low = (f_low - 1) / (f_low + k - 1)
    high = (f_high - 1) / (f_high + k - 1)
    return _ci(value, low, high, "ICC(3,1) consistency, F-based CI (McGraw & Wong 1996)", n)


def _icc_agreement(ms: _MeanSquares) -> Estimate:
    n, k = ms.n, ms.k
    value = (ms.msr - ms.mse) / (ms.msr + (k - 1) * ms.mse + k * (ms.msc - ms.mse) / n)
    # Satterthwaite df for the linear combination of MSC and MSE (McGraw & Wong 1996).
    a = k * value / (n * (1 - value))
    b = 1 + k * value * (n - 1) / (n * (1 - value))
    v = (a * ms.msc + b * ms.mse) ** 2 / ((a * ms.msc) ** 2 / (k - 1) + (b * ms.mse) ** 2 / ((n - 1) * (k - 1)))
    f_low = stats.f.ppf(0.975, n - 1, v)
    f_high = stats.f.ppf(0.975, v, n - 1)
    spread = k * ms.msc + (k * n - k - n) * ms.mse
    low = n * (ms.msr - f_low * ms.mse) / (f_low * spread + n * ms.msr)
    high = n * (f_high * ms.msr - ms.mse) / (spread + n * f_high * ms.msr)
    return _ci(value, low, high, "ICC(2,1) absolute agreement, F-based CI (McGraw & Wong 1996)", n)


def icc(
    ratings: Sequence[Sequence[float]] | np.ndarray,
    form: Literal["agreement", "consistency"] = "agreement",
) -> Estimate:
    """Single-measures intraclass correlation from a complete targets × raters table.

    Args:
        ratings: shape (n_targets, k_raters), e.g. ``np.column_stack([pred, truth])``.
        form: "agreement" → ICC(2,1) (two-way random, absolute agreement);
            "consistency" → ICC(3,1) (two-way mixed, consistency).

    Returns:
        The ICC with its F-distribution 95% CI; ``n`` is the number of targets.
    """
    ms = _mean_squares(ratings)
    if form == "agreement":
        return _icc_agreement(ms)
    if form == "consistency":
        return _icc_consistency(ms)
    raise UsageError(f"ICC form must be 'agreement' or 'consistency', got {form!r}")


__all__ = ["BlandAltman", "bland_altman", "icc", "pearson", "spearman"]
