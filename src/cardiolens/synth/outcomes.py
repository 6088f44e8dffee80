"""Simulated incident outcomes (AF, MI, HF, ventricular arrhythmia) from a proportional-hazards model.

Model (one independent event time per subject and outcome; competing death is
not simulated)::

    h(t | x) = h0(t) * exp(b_mass * z_mass + b_age * (age - 60 y) / 10 y + b_male * male)
    h0(t)    = lam * k * t ** (k - 1)            # Weibull baseline, shape k = 1.2, t in days
    z_mass   = (lv_mass_g - 130 g) / 35 g        # LV_MASS_REFERENCE_G

``lam`` is set so that a 60-year-old woman with reference mass has the
cumulative 5-year risk in :data:`BASELINE_5Y_RISK`. The true hazard ratios
``exp(b)`` are :data:`HR_PER_SD_MASS` (per 35 g of LV mass),
:data:`HR_PER_10Y_AGE` (per decade) and :data:`HR_MALE` (male vs female):

=======  ===============  ===========  ====  ============
outcome  HR per 35 g LVM  HR per 10 y  male  5-y risk ref
=======  ===============  ===========  ====  ============
af       1.35             1.90         1.50  0.10
mi       1.20             1.50         2.00  0.06
hf       1.80             1.80         1.40  0.08
va       1.50             1.30         1.80  0.04
=======  ===============  ===========  ====  ============

A Cox model on (lv_mass_g / 35 g, age / 10 y, male) estimates these
directly; fitted on sample-standardised mass it estimates
``HR ** (sample_sd_g / 35 g)``. Follow-up ends at ``follow_up_days``
(administrative censoring) or at an exponential drop-out time (2 % per year,
shared by all outcomes of a subject), whichever comes first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import pandas as pd

from cardiolens.errors import UsageError
from cardiolens.synth.ecg import normalise_sex

OUTCOMES: Final[tuple[str, ...]] = ("af", "mi", "hf", "va")
BASELINE_5Y_RISK: Final[dict[str, float]] = {"af": 0.10, "mi": 0.06, "hf": 0.08, "va": 0.04}
HR_PER_SD_MASS: Final[dict[str, float]] = {"af": 1.35, "mi": 1.20, "hf": 1.80, "va": 1.50}
HR_PER_10Y_AGE: Final[dict[str, float]] = {"af": 1.90, "mi": 1.50, "hf": 1.80, "va": 1.30}
HR_MALE: Final[dict[str, float]] = {"af": 1.50, "mi": 2.00, "hf": 1.40, "va": 1.80}
#: (mean, SD) in g used to standardise LV mass; HR_PER_SD_MASS is per this SD.
LV_MASS_REFERENCE_G: Final[tuple[float, float]] = (130.0, 35.0)
REFERENCE_AGE_YEARS: Final[float] = 60.0
WEIBULL_SHAPE: Final[float] = 1.2
DROPOUT_PER_YEAR: Final[float] = 0.02
_RISK_HORIZON_DAYS: Final[float] = 1825.0
_DAYS_PER_YEAR: Final[float] = 365.25


def _as_vector(values: object, name: str) -> np.ndarray:
    array = np.atleast_1d(np.asarray(values))
    if array.ndim != 1:
        raise UsageError(f"{name} must be a scalar or a 1-D sequence, got shape {array.shape}")
    return array


def _check_hazard_ratios(overrides: dict[str, float] | None, outcomes: Sequence[str]) -> dict[str, float]:
    ratios = {name: HR_PER_SD_MASS[name] for name in outcomes}
    for name, value in (overrides or {}).items():
        if name not in ratios:
            raise UsageError(f"hr_per_sd_mass names outcome {name!r}, which is not simulated ({', '.join(outcomes)})")
        if not np.isfinite(value) or value <= 0:
            raise UsageError(f"hazard ratio for {name!r} must be positive, got {value}")
        ratios[name] = float(value)
    return ratios


def simulate_outcomes(
    rng: np.random.Generator,
    lv_mass_g: Sequence[float] | np.ndarray | float,
    age_years: Sequence[float] | np.ndarray | float,
    sex: Sequence[str] | np.ndarray | str,
    *,
    follow_up_days: float = 1825.0,
    outcomes: Sequence[str] = OUTCOMES,
    hr_per_sd_mass: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Simulate right-censored event times for each subject and outcome.

    Args:
        rng: the random stream; the same stream state gives the same table.
        lv_mass_g: LV mass per subject in g.
        age_years: age at baseline per subject in years.
        sex: "M"/"F" per subject.
        follow_up_days: administrative end of follow-up in days.
        outcomes: which of "af", "mi", "hf", "va" to simulate.
        hr_per_sd_mass: replace the true hazard ratio per 35 g of LV mass for
            some outcomes (e.g. {"hf": 1.0} for a null effect).

    Returns:
        One row per subject (same order as the inputs) with columns
        ``{outcome}_time_days`` (float, > 0, <= follow_up_days) and
        ``{outcome}_event`` (bool; False = censored). ``DataFrame.attrs`` holds
        ``simulated`` (True) and ``true_hazard_ratios``
        ({outcome: {"lv_mass_per_35g", "age_per_10y", "male"}}).
    """
    if not isinstance(rng, np.random.Generator):
        raise UsageError(f"rng must be a numpy Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    if not np.isfinite(follow_up_days) or follow_up_days <= 0:
        raise UsageError(f"follow_up_days must be positive, got {follow_up_days}")
    outcomes = tuple(outcomes)
    unknown = [name for name in outcomes if name not in OUTCOMES]
    if unknown or not outcomes or len(set(outcomes)) != len(outcomes):
        raise UsageError(f"outcomes must be distinct names among {', '.join(OUTCOMES)}, got {outcomes}")
    mass_ratios = _check_hazard_ratios(hr_per_sd_mass, outcomes)

    mass = _as_vector(lv_mass_g, "lv_mass_g").astype(float)
    age = _as_vector(age_years, "age_years").astype(float)
    male = np.array([normalise_sex(s) == "M" for s in _as_vector(sex, "sex")], dtype=bool)
    if not len(mass) == len(age) == len(male):
        raise UsageError(f"lv_mass_g, age_years and sex differ in length ({len(mass)}, {len(age)}, {len(male)})")
    if not (np.isfinite(mass).all() and (mass > 0).all()):
        raise UsageError("lv_mass_g must be positive and finite for every subject")
    if not np.isfinite(age).all():
        raise UsageError("age_years must be finite for every subject")

    mass_mean_g, mass_sd_g = LV_MASS_REFERENCE_G
    z_mass = (mass - mass_mean_g) / mass_sd_g
    age_decades = (age - REFERENCE_AGE_YEARS) / 10.0
    dropout_rate_per_day = -np.log1p(-DROPOUT_PER_YEAR) / _DAYS_PER_YEAR
    # One drop-out time per subject: someone lost to follow-up is lost for every outcome.
    dropout_days = rng.exponential(1.0 / dropout_rate_per_day, size=len(mass))
    end_days = np.minimum(dropout_days, follow_up_days)

    columns: dict[str, np.ndarray] = {}
    true_ratios: dict[str, dict[str, float]] = {}
    for name in outcomes:
        log_hr = (
            np.log(mass_ratios[name]) * z_mass
            + np.log(HR_PER_10Y_AGE[name]) * age_decades
            + np.log(HR_MALE[name]) * male
        )
        lam = -np.log1p(-BASELINE_5Y_RISK[name]) / _RISK_HORIZON_DAYS**WEIBULL_SHAPE
        # Inverse of the cumulative hazard H(t) = lam * t**k * exp(log_hr) at an Exp(1) draw.
        unit_exp = rng.standard_exponential(len(mass))
        event_days = (unit_exp / (lam * np.exp(log_hr))) ** (1.0 / WEIBULL_SHAPE)
        event_days = np.maximum(event_days, 1e-3)  # keep times strictly positive
        event = event_days <= end_days
        columns[f"{name}_time_days"] = np.where(event, event_days, end_days)
        columns[f"{name}_event"] = event
        true_ratios[name] = {
            "lv_mass_per_35g": mass_ratios[name],
            "age_per_10y": HR_PER_10Y_AGE[name],
            "male": HR_MALE[name],
        }

    frame = pd.DataFrame(columns)
    frame.attrs.update(
        simulated=True,
        true_hazard_ratios=true_ratios,
        lv_mass_reference_g=LV_MASS_REFERENCE_G,
        follow_up_days=float(follow_up_days),
    )
    return frame


__all__ = [
    "BASELINE_5Y_RISK",
    "DROPOUT_PER_YEAR",
    "HR_MALE",
    "HR_PER_10Y_AGE",
    "HR_PER_SD_MASS",
    "LV_MASS_REFERENCE_G",
    "OUTCOMES",
    "WEIBULL_SHAPE",
    "simulate_outcomes",
]
