"""Time-to-event statistics: Harrell's C, Cox proportional hazards, Kaplan–Meier and log-rank.

Built on lifelines. Every function takes a pandas DataFrame with a time column
(any unit, >= 0; the unit only labels outputs), an event column (1/True =
event, 0/False = censored) and covariate columns, with configurable names.
Bad tables raise :class:`~cardiolens.errors.MalformedTableError` naming the
table: set ``frame.attrs["source"] = path`` after reading a CSV so the error
names the file (otherwise it reads ``<DataFrame>``). Bad arguments raise
:class:`~cardiolens.errors.UsageError`.

Methods (METHODS.md §5):

- Harrell's C (Harrell et al., JAMA 1982;247:2543) via
  :func:`lifelines.utils.concordance_index`. Risk scores here mean *higher =
  shorter survival* (a hazard, a predicted LV mass); lifelines expects higher =
  longer survival, so the score is negated before the call. 95% CI: bootstrap
  percentile over subjects (B = 2000, seeded; Harrell ties count 1/2).
- Cox model (Cox 1972) via :class:`lifelines.CoxPHFitter` (Efron ties):
  HR = exp(β), CI = exp(β ± 1.96·SE). Per-SD HR of a continuous covariate =
  exp(β·SD) with CI exp((β ± 1.96·SE)·SD) — the HR a fit on the standardised
  covariate gives, since the Cox partial likelihood is scale-equivariant.
- Proportional hazards check: Schoenfeld-residual test (Grambsch & Therneau,
  Biometrika 1994;81:515) with rank-transformed time,
  :func:`lifelines.statistics.proportional_hazard_test`; a covariate is
  flagged when p < ``ph_alpha``.
- Kaplan–Meier (Kaplan & Meier 1958) with Greenwood exponential ("log-log")
  95% CIs via :class:`lifelines.KaplanMeierFitter`; log-rank test (Mantel 1966)
  via :func:`lifelines.statistics.multivariate_logrank_test`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cardiolens.errors import MalformedTableError, UsageError
from cardiolens.io.atomic import atomic_path
from cardiolens.stats.estimate import Estimate

_Z95 = 1.959963984540054
#: A log-hazard-ratio SE at or above this marks a fit without a finite optimum (separation).
_MAX_LOG_HR_SE = 5.0


def _source(frame: pd.DataFrame) -> str:
    return str(frame.attrs.get("source", "<DataFrame>"))


def _check_frame(
    frame: pd.DataFrame, time: str, event: str, columns: Sequence[str] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """Validate time/event (and numeric, finite ``columns``); return time (float) and event (bool)."""
    if not isinstance(frame, pd.DataFrame):
        raise UsageError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    source = _source(frame)
    wanted = [time, event, *columns]
    missing = [c for c in dict.fromkeys(wanted) if c not in frame.columns]
    if missing:
        raise MalformedTableError(
            source, f"missing column(s) {', '.join(map(repr, missing))}; has {', '.join(map(str, frame.columns))}"
        )
    if len(frame) == 0:
        raise MalformedTableError(source, "table has no rows")
    for name in (time, *columns):
        values = frame[name]
        if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
            raise MalformedTableError(source, f"column {name!r} must be numeric (encode categories as 0/1), got {values.dtype}")
        bad = ~np.isfinite(values.to_numpy(dtype=float))
        if bad.any():
            raise MalformedTableError(
                source, f"column {name!r} has {int(bad.sum())} missing or non-finite value(s), first at row {frame.index[bad][0]!r}"
            )
    times = frame[time].to_numpy(dtype=float)
    if (times < 0).any():
        first = frame.index[times < 0][0]
        raise MalformedTableError(source, f"column {time!r} has {int((times < 0).sum())} negative time(s), first at row {first!r}")
    raw_event = frame[event]
    try:
        events = raw_event.to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise MalformedTableError(source, f"column {event!r} must hold 0/1 or True/False, got {raw_event.dtype}") from None
    non_binary = ~np.isin(events, (0.0, 1.0))
    if non_binary.any():
        example = raw_event[non_binary].iloc[0]
        raise MalformedTableError(
            source, f"column {event!r} must hold 0/1 or True/False; {int(non_binary.sum())} value(s) are not (e.g. {example!r})"
        )
    return times, events.astype(bool)


def _harrell_c(times: np.ndarray, events: np.ndarray, risk: np.ndarray) -> float:
    from lifelines.utils import concordance_index

    # lifelines scores higher = longer survival; our risk is higher = shorter survival.
    return float(concordance_index(times, -risk, events))


def _bootstrap_c(
    times: np.ndarray, events: np.ndarray, risk: np.ndarray, n_resamples: int, seed: int
) -> tuple[float | None, float | None, int]:
    """Percentile CI of Harrell's C over subject resamples; resamples with no comparable pair are skipped."""
    rng = np.random.default_rng(seed)
    n = len(times)
    values: list[float] = []
    for _ in range(n_resamples):
        idx = rng.integers(0, n, n)
        try:
            values.append(_harrell_c(times[idx], events[idx], risk[idx]))
        except ZeroDivisionError:  # lifelines: "No admissable pairs in the dataset."
            continue
    if len(values) < max(10, n_resamples // 2):
        return None, None, len(values)
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high), len(values)


def _check_resamples(n_resamples: int) -> None:
    if int(n_resamples) != n_resamples or n_resamples < 0:
        raise UsageError(f"n_resamples must be a non-negative integer, got {n_resamples}")


def concordance(
    frame: pd.DataFrame,
    risk: str,
    *,
    time: str = "time",
    event: str = "event",
    n_resamples: int = 2000,
    seed: int = 0,
) -> Estimate:
    """Harrell's C of a risk score (higher = higher risk, i.e. shorter survival).

    Args:
        frame: one row per subject.
        risk: column with the risk score (e.g. predicted LV mass in g, a linear predictor).
        time, event: names of the follow-up time and event (1 = event) columns.
        n_resamples: bootstrap resamples for the 95% percentile CI (0 = no CI).
        seed: bootstrap seed.

    Returns:
        C in [0, 1] (0.5 = chance; 1 = every comparable pair ordered correctly).
    """
    _check_resamples(n_resamples)
    times, events = _check_frame(frame, time, event, [risk])
    scores = frame[risk].to_numpy(dtype=float)
    try:
        value = _harrell_c(times, events, scores)
    except ZeroDivisionError:
        raise MalformedTableError(_source(frame), "no comparable pairs (no events, or every event at the last time)") from None
    if n_resamples == 0:
        return Estimate(value, None, None, "Harrell C (no CI requested)", len(times))
    low, high, used = _bootstrap_c(times, events, scores, n_resamples, seed)
    method = f"Harrell C, bootstrap percentile CI, {used} resamples (seed {seed})"
    return Estimate(value, low, high, method, len(times))


@dataclass(frozen=True)
class CoxResult:
    """A fitted Cox proportional-hazards model.

    Attributes:
        hazard_ratios: covariate → HR per unit of the covariate (95% Wald CI).
        hazard_ratios_per_sd: continuous covariate → HR per sample SD (95% CI).
        covariate_sd: the sample SD (ddof = 1) used for each per-SD HR, in the covariate's unit.
        p_values: covariate → Wald p of β = 0.
        c_index: apparent (in-sample, hence optimistic) Harrell C of the linear predictor.
        ph_p_values: covariate → p of the Schoenfeld-residual test (rank time).
        ph_violated: covariate → True when its p < ``ph_alpha``.
        ph_alpha: the threshold used for ``ph_violated``.
        n: subjects; n_events: events.
    """

    hazard_ratios: dict[str, Estimate]
    hazard_ratios_per_sd: dict[str, Estimate]
    covariate_sd: dict[str, float]
    p_values: dict[str, float]
    c_index: Estimate
    ph_p_values: dict[str, float]
    ph_violated: dict[str, bool]
    ph_alpha: float
    n: int
    n_events: int
    model: Any = field(default=None, repr=False, compare=False)  # the lifelines CoxPHFitter

    @property
    def proportional_hazards_ok(self) -> bool:
        """True when no covariate is flagged by the Schoenfeld-residual test."""
        return not any(self.ph_violated.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (HRs in the ``metrics.json`` value/CI form)."""
        def clean(x: float) -> float | None:
            return float(x) if math.isfinite(x) else None

        return {
            "hazard_ratios": {k: v.to_metric() for k, v in self.hazard_ratios.items()},
            "hazard_ratios_per_sd": {k: v.to_metric() for k, v in self.hazard_ratios_per_sd.items()},
            "covariate_sd": {k: clean(v) for k, v in self.covariate_sd.items()},
            "p_values": {k: clean(v) for k, v in self.p_values.items()},
            "c_index": self.c_index.to_metric(),
            "ph_p_values": {k: clean(v) for k, v in self.ph_p_values.items()},
            "ph_violated": dict(self.ph_violated),
            "proportional_hazards_ok": self.proportional_hazards_ok,
            "ph_alpha": self.ph_alpha,
            "n": self.n,
            "n_events": self.n_events,
        }


def _is_binary(values: pd.Series) -> bool:
    return bool(np.isin(values.to_numpy(dtype=float), (0.0, 1.0)).all())


def fit_cox(
    frame: pd.DataFrame,
    covariates: Sequence[str],
    *,
    time: str = "time",
    event: str = "event",
    per_sd: Sequence[str] | None = None,
    ph_alpha: float = 0.05,
    penalizer: float = 0.0,
    n_resamples: int = 2000,
    seed: int = 0,
) -> CoxResult:
    """Fit a Cox proportional-hazards model and report HRs, per-SD HRs, C-index and a PH check.

    Args:
        frame: one row per subject; covariates must be numeric (0/1 for binary
            ones such as male sex or predicted LVH).
        covariates: columns entering the model, e.g. ``["lv_mass_pred_g", "age_years", "male"]``.
        time, event: names of the follow-up time and event columns.
        per_sd: covariates to also report per SD; default = every covariate
            that is not 0/1-valued.
        ph_alpha: Schoenfeld-test p below which a covariate is flagged.
        penalizer: lifelines ridge penalty (0 = plain partial likelihood).
        n_resamples, seed: bootstrap for the C-index CI (0 = no CI).
    """
    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceError
    from lifelines.statistics import proportional_hazard_test

    covariates = list(covariates)
    if not covariates or len(set(covariates)) != len(covariates):
        raise UsageError(f"covariates must be a non-empty list of distinct column names, got {covariates}")
    if {time, event, "__time__", "__event__"} & set(covariates):
        raise UsageError("the time and event columns (and the reserved names __time__/__event__) cannot be covariates")
    if not 0 < ph_alpha < 1:
        raise UsageError(f"ph_alpha must be in (0, 1), got {ph_alpha}")
    _check_resamples(n_resamples)
    times, events = _check_frame(frame, time, event, covariates)
    source = _source(frame)
    if not events.any():
        raise MalformedTableError(source, f"column {event!r} has no events; a Cox model needs at least one")
    constant = [c for c in covariates if frame[c].nunique() < 2]
    if constant:
        raise MalformedTableError(source, f"covariate(s) {', '.join(map(repr, constant))} are constant; drop them")
    if per_sd is None:
        per_sd = [c for c in covariates if not _is_binary(frame[c])]
    unknown = [c for c in per_sd if c not in covariates]
    if unknown:
        raise UsageError(f"per_sd names covariate(s) not in the model: {', '.join(unknown)}")

    data = pd.DataFrame({c: frame[c].to_numpy(dtype=float) for c in covariates})
    data["__time__"], data["__event__"] = times, events.astype(int)
    model = CoxPHFitter(penalizer=penalizer)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # lifelines' convergence hints are re-raised below as errors
            model.fit(data, duration_col="__time__", event_col="__event__")
    except ConvergenceError as exc:
        raise MalformedTableError(
            source, f"Cox model did not converge (collinear covariates or complete separation?): {exc}"
        ) from None

    beta, se, p = model.params_, model.standard_errors_, model.summary["p"]
    n = len(data)
    unstable = [str(c) for c in covariates if not (math.isfinite(float(se[c])) and float(se[c]) < _MAX_LOG_HR_SE)]
    if unstable:  # quasi-separation: the likelihood has no finite maximum, the HR means nothing
        raise MalformedTableError(
            source, f"Cox estimates unstable for {', '.join(unstable)} (SE of log HR >= {_MAX_LOG_HR_SE:g}; too few events?)"
        )

    def hr(name: str, scale: float, method: str) -> Estimate:
        b, s = float(beta[name]) * scale, float(se[name]) * scale
        with np.errstate(over="ignore"):  # an enormous per-SD bound becomes inf, not an exception
            low, value, high = np.exp([b - _Z95 * s, b, b + _Z95 * s])
        return Estimate(float(value), float(low), float(high), method, n)

    sds = {c: float(frame[c].std(ddof=1)) for c in per_sd}
    ratios = {c: hr(c, 1.0, "Cox PH, Wald CI exp(b +/- 1.96 SE)") for c in covariates}
    ratios_sd = {c: hr(c, sds[c], "Cox PH per SD, Wald CI") for c in per_sd}

    frame_for_c = pd.DataFrame({"_time": times, "_event": events, "_risk": model.predict_log_partial_hazard(data).to_numpy()})
    c_index = concordance(frame_for_c, "_risk", time="_time", event="_event", n_resamples=n_resamples, seed=seed)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ph = proportional_hazard_test(model, data, time_transform="rank")
    ph_p = {str(name): float(value) for name, value in ph.summary["p"].items()}
    return CoxResult(
        hazard_ratios=ratios,
        hazard_ratios_per_sd=ratios_sd,
        covariate_sd=sds,
        p_values={c: float(p[c]) for c in covariates},
        c_index=c_index,
        ph_p_values=ph_p,
        ph_violated={c: ph_p[c] < ph_alpha for c in covariates},
        ph_alpha=ph_alpha,
        n=n,
        n_events=int(events.sum()),
        model=model,
    )


@dataclass(frozen=True)
class KaplanMeierResult:
    """Kaplan–Meier curves per group and the log-rank test between them.

    Attributes:
        curves: group → table with columns ``time`` (in the input's unit),
            ``survival``, ``ci_low``, ``ci_high`` (95%, Greenwood log-log),
            ``at_risk`` and ``events``; one row per distinct time, starting at 0.
        median_survival: group → median survival time (inf when the curve
            never reaches 0.5).
        logrank_statistic, logrank_p: the log-rank χ² test (None with a single group).
        n: subjects per group; n_events: events per group.
    """

    curves: dict[str, pd.DataFrame]
    median_survival: dict[str, float]
    logrank_statistic: float | None
    logrank_p: float | None
    n: dict[str, int]
    n_events: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form; curves as lists of row records."""
        return {
            "curves": {g: c.to_dict(orient="records") for g, c in self.curves.items()},
            "median_survival": {g: (v if math.isfinite(v) else None) for g, v in self.median_survival.items()},
            "logrank_statistic": self.logrank_statistic,
            "logrank_p": self.logrank_p,
            "n": dict(self.n),
            "n_events": dict(self.n_events),
        }


def kaplan_meier(
    frame: pd.DataFrame,
    *,
    group: str | None = None,
    time: str = "time",
    event: str = "event",
) -> KaplanMeierResult:
    """Kaplan–Meier survival per group with a log-rank test across groups.

    Args:
        frame: one row per subject.
        group: column whose values define the groups (e.g. predicted LVH yes/no);
            None = one curve named "all".
        time, event: names of the follow-up time and event columns.
    """
    from lifelines import KaplanMeierFitter
    from lifelines.statistics import multivariate_logrank_test

    times, events = _check_frame(frame, time, event)
    if group is None:
        labels = np.full(len(times), "all", dtype=object)
    else:
        if group not in frame.columns:
            raise MalformedTableError(_source(frame), f"missing group column {group!r}")
        if frame[group].isna().any():
            raise MalformedTableError(_source(frame), f"group column {group!r} has {int(frame[group].isna().sum())} missing value(s)")
        labels = frame[group].astype(str).to_numpy()

    curves: dict[str, pd.DataFrame] = {}
    medians: dict[str, float] = {}
    sizes: dict[str, int] = {}
    n_events: dict[str, int] = {}
    for name in sorted(set(labels)):
        mask = labels == name
        fitter = KaplanMeierFitter().fit(times[mask], events[mask], label=name)
        table = fitter.event_table
        ci = fitter.confidence_interval_survival_function_
        curves[name] = pd.DataFrame({
            "time": fitter.survival_function_.index.to_numpy(dtype=float),
            "survival": fitter.survival_function_[name].to_numpy(),
            "ci_low": ci.iloc[:, 0].to_numpy(),
            "ci_high": ci.iloc[:, 1].to_numpy(),
            "at_risk": table["at_risk"].to_numpy(dtype=int),
            "events": table["observed"].to_numpy(dtype=int),
        })
        medians[name] = float(fitter.median_survival_time_)
        sizes[name] = int(mask.sum())
        n_events[name] = int(events[mask].sum())

    statistic = p_value = None
    if len(curves) > 1:
        test = multivariate_logrank_test(times, labels, events)
        statistic, p_value = float(test.test_statistic), float(test.p_value)
    return KaplanMeierResult(curves, medians, statistic, p_value, sizes, n_events)


def plot_kaplan_meier(
    result: KaplanMeierResult,
    path: str | PathLike[str],
    *,
    time_label: str = "time (days)",
    title: str = "",
) -> Path:
    """Write the Kaplan–Meier curves (with 95% CI bands) as a PNG, atomically; return the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for name, curve in result.curves.items():
        line = ax.step(curve["time"], curve["survival"], where="post", label=f"{name} (n={result.n[name]})")[0]
        ax.fill_between(curve["time"], curve["ci_low"], curve["ci_high"], step="post", alpha=0.2, color=line.get_color())
    if result.logrank_p is not None:
        title = f"{title}  log-rank p = {result.logrank_p:.3g}".strip()
    ax.set(xlabel=time_label, ylabel="survival probability", ylim=(0, 1.02), title=title)
    ax.legend(loc="lower left")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)


__all__ = [
    "CoxResult",
    "KaplanMeierResult",
    "concordance",
    "fit_cox",
    "kaplan_meier",
    "plot_kaplan_meier",
]
