"""Label schemes used across cardiolens (integer values in masks)."""

from __future__ import annotations

from typing import Final

#: Cine short-axis labels (ACDC convention, used for every cine mask in cardiolens).
CINE_LABELS: Final[dict[str, int]] = {
    "background": 0,
    "rv_cavity": 1,
    "lv_myocardium": 2,
    "lv_cavity": 3,
}

#: LGE labels (EMIDEC convention). The whole myocardium is normal + infarct + MVO.
LGE_LABELS: Final[dict[str, int]] = {
    "background": 0,
    "lv_cavity": 1,
    "normal_myocardium": 2,
    "infarct": 3,
    "mvo": 4,
}

#: %LGE at or above which an LGE study carries the >15 % scar burden that doubled sudden-death
#: risk in HCM (Chan et al., Circulation 2014;130:484); shared by the measurement and the simulator.
LGE_BURDEN_CUTOFF_PCT: Final[float] = 15.0

#: Labels of parametric-map / oxygenation-sensitive masks.
MAP_LABELS: Final[dict[str, int]] = {
    "background": 0,
    "lv_cavity": 1,
    "normal_myocardium": 2,
    "abnormal_myocardium": 3,
}

#: Standard 12-lead order used by every ECG container.
STANDARD_LEADS: Final[tuple[str, ...]] = (
    "I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6",
)

#: Class names of the simulated cine cohort (geometry and motion drive them).
CINE_GROUPS: Final[tuple[str, ...]] = ("NOR", "DCM", "HCM", "MINF", "RV")

#: Scar-pattern classes of the oxygenation-sensitive / mapping cohort.
SCAR_PATTERNS: Final[tuple[str, ...]] = ("healthy", "ischaemic", "non_ischaemic", "oedema")


def sex_code(sex: object) -> str | None:
    """'M' or 'F' from the usual spellings ('m', 'Male', ' F '...); None when unknown.

    Unknown means None, NaN, '' or 'unknown'; anything else raises UsageError.
    """
    from cardiolens.errors import UsageError

    if sex is None or (isinstance(sex, float) and sex != sex):  # NaN
        return None
    key = str(sex).strip().upper()
    if key in {"M", "MALE", "MAN"}:
        return "M"
    if key in {"F", "FEMALE", "WOMAN"}:
        return "F"
    if key in {"", "U", "UNKNOWN", "NONE", "NAN", "NA"}:
        return None
    raise UsageError(f"sex must be 'M', 'F' or unknown, got {sex!r}")
