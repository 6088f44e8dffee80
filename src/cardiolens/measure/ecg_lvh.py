"""ECG left-ventricular-hypertrophy voltage criteria from measured R/S amplitudes and QRS duration.

Measure the ECG first with :func:`cardiolens.measure.ecg.measure_ecg`.

LVH criteria (amplitudes in mV, QRS duration in ms)
---------------------------------------------------
- Sokolow-Lyon: SV1 + max(RV5, RV6) >= 3.5 mV (Sokolow & Lyon, Am Heart J 1949;37:161).
- Cornell voltage: RaVL + SV3 > 2.8 mV (men) / > 2.0 mV (women) (Casale et al.,
  Circulation 1987;75:565).
- Cornell product: (RaVL + SV3, + 0.6 mV in women) x QRSd > 244 mV*ms
  (Molloy et al., JACC 1992;20:1180); the female add-on is configurable (some
  tables use 0.8 mV).
- aVL: RaVL > 1.1 mV (AHA/ACCF/HRS recommendations, Hancock et al., Circulation 2009;119:e251).
- Peguero-Lo Presti: S_deepest (any lead, V4 included) + SV4 >= 2.8 mV (men) /
  >= 2.3 mV (women) (Peguero et al., JACC 2017;69:1694).
Rules that need sex give None when sex is unknown; they are never guessed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from cardiolens.data.labels import STANDARD_LEADS, sex_code
from cardiolens.errors import UsageError
from cardiolens.measure.ecg import ECGMeasurements

# --- LVH thresholds (mV, or mV*ms for the Cornell product) -------------------------------
SOKOLOW_LYON_MV: Final[float] = 3.5
CORNELL_VOLTAGE_MV: Final[Mapping[str, float]] = {"M": 2.8, "F": 2.0}
CORNELL_PRODUCT_MV_MS: Final[float] = 244.0
CORNELL_PRODUCT_FEMALE_ADD_MV: Final[float] = 0.6
AVL_MV: Final[float] = 1.1
PEGUERO_MV: Final[Mapping[str, float]] = {"M": 2.8, "F": 2.3}
#: Rule names in the order they are reported.
LVH_RULES: Final[tuple[str, ...]] = ("sokolow_lyon", "cornell_voltage", "cornell_product", "avl", "peguero")
_SEX_RULES: Final[frozenset[str]] = frozenset({"cornell_voltage", "cornell_product", "peguero"})
#: Leads each rule reads (a rule on an unreliable lead gives None).
_RULE_LEADS: Final[Mapping[str, tuple[str, ...]]] = {
    "sokolow_lyon": ("V1", "V5", "V6"),
    "cornell_voltage": ("aVL", "V3"),
    "cornell_product": ("aVL", "V3"),
    "avl": ("aVL",),
    "peguero": ("V4",),
}
#: Voltages are compared after rounding to this many decimals (1 nV) so that a value entered
#: at a threshold (1.2 + 2.3 mV) is not flipped by binary floating point.
_COMPARE_DECIMALS: Final[int] = 6



@dataclass(frozen=True)
class LVHCriteria:
    """ECG-LVH voltage criteria of one ECG: continuous voltages and one flag per rule.

    A flag is None when the rule needs sex and sex is unknown, or when the rule is
    not enabled. ``any_rule`` is the OR of the enabled rules in three-valued logic:
    True if any rule is True, False if all are False, None if none is True and at
    least one could not be evaluated.

    Attributes:
        sex: "M", "F" or None.
        sokolow_lyon_mv: SV1 + max(RV5, RV6), mV.
        cornell_voltage_mv: RaVL + SV3, mV.
        cornell_product_mv_ms: (RaVL + SV3 [+ female add-on]) x QRSd, mV*ms; None without sex.
        ravl_mv: R amplitude in aVL, mV.
        peguero_mv: deepest S (any lead) + SV4, mV.
        sokolow_lyon, cornell_voltage, cornell_product, avl, peguero: rule flags.
        any_rule: OR of the enabled rules.
        enabled_rules: rule names that were evaluated.
        cornell_product_female_add_mv: add-on used for women, mV.
        notes: why a flag is None, or what it rests on.
    """

    sex: str | None
    sokolow_lyon_mv: float
    cornell_voltage_mv: float
    cornell_product_mv_ms: float | None
    ravl_mv: float
    peguero_mv: float
    sokolow_lyon: bool | None
    cornell_voltage: bool | None
    cornell_product: bool | None
    avl: bool | None
    peguero: bool | None
    any_rule: bool | None
    enabled_rules: tuple[str, ...]
    cornell_product_female_add_mv: float = CORNELL_PRODUCT_FEMALE_ADD_MV
    notes: tuple[str, ...] = ()

    def flags(self) -> dict[str, bool | None]:
        """Rule name -> flag, for every rule in :data:`LVH_RULES`."""
        return {rule: getattr(self, rule) for rule in LVH_RULES}

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values: voltages with units in the keys, one boolean (or null) per rule."""

        def rounded(x: float | None, digits: int) -> float | None:
            return None if x is None else round(float(x), digits)

        return {
            "sex": self.sex,
            "sokolow_lyon_mv": rounded(self.sokolow_lyon_mv, 4),
            "cornell_voltage_mv": rounded(self.cornell_voltage_mv, 4),
            "cornell_product_mv_ms": rounded(self.cornell_product_mv_ms, 2),
            "ravl_mv": rounded(self.ravl_mv, 4),
            "peguero_mv": rounded(self.peguero_mv, 4),
            **self.flags(),
            "any_rule": self.any_rule,
            "enabled_rules": list(self.enabled_rules),
            "cornell_product_female_add_mv": self.cornell_product_female_add_mv,
            "notes": list(self.notes),
        }



def _at_least(value: float, threshold: float) -> bool:
    return round(value, _COMPARE_DECIMALS) >= threshold


def _above(value: float, threshold: float) -> bool:
    return round(value, _COMPARE_DECIMALS) > threshold


def lvh_criteria(
    measurements: ECGMeasurements,
    sex: str | None,
    *,
    cornell_product_female_add_mv: float = CORNELL_PRODUCT_FEMALE_ADD_MV,
    rules: Iterable[str] = LVH_RULES,
) -> LVHCriteria:
    """Evaluate the ECG-LVH voltage criteria (METHODS.md section 4; references in the module docstring).

    Args:
        measurements: from :func:`measure_ecg` (pass ``measurements.sex`` to reuse its sex).
        sex: "M", "F" or None (unknown): sex-specific rules then give None, never a guess.
        cornell_product_female_add_mv: mV added to RaVL + SV3 in women before multiplying by
            QRSd (Molloy 1992: 0.6; some tables use 0.8).
        rules: the rules to evaluate and OR into ``any_rule`` (subset of :data:`LVH_RULES`).

    Returns:
        LVHCriteria with continuous voltages (mV, mV*ms) and one flag per rule.

    Raises:
        UsageError: an unknown rule name or sex spelling, or a negative female add-on.
    """
    enabled = tuple(rules)
    unknown = [rule for rule in enabled if rule not in LVH_RULES]
    if unknown:
        raise UsageError(f"unknown LVH rule(s) {', '.join(unknown)}; known: {', '.join(LVH_RULES)}")
    if not math.isfinite(cornell_product_female_add_mv) or cornell_product_female_add_mv < 0:
        raise UsageError(f"cornell_product_female_add_mv must be >= 0 mV, got {cornell_product_female_add_mv}")
    subject_sex = sex_code(sex)
    r, s = measurements.r_amplitude_mv, measurements.s_amplitude_mv
    unreliable = set(measurements.noisy_leads)
    notes: list[str] = []

    sokolow = s["V1"] + max(r["V5"], r["V6"])
    cornell = r["aVL"] + s["V3"]
    # Deepest S among trustworthy leads: a noisy lead's "S" is noise, not depolarisation.
    deepest_leads = [lead for lead in STANDARD_LEADS if lead not in unreliable] or list(STANDARD_LEADS)
    peguero = max(s[lead] for lead in deepest_leads) + s["V4"]
    if len(deepest_leads) < len(STANDARD_LEADS) and "peguero" in enabled:
        notes.append(f"peguero: deepest S taken over reliable leads only (not {', '.join(sorted(unreliable))})")
    product: float | None = None
    if subject_sex is not None:
        add_mv = cornell_product_female_add_mv if subject_sex == "F" else 0.0
        product = (cornell + add_mv) * measurements.qrs_duration_ms

    flags: dict[str, bool | None] = {
        "sokolow_lyon": _at_least(sokolow, SOKOLOW_LYON_MV),
        "avl": _above(r["aVL"], AVL_MV),
        "cornell_voltage": None,
        "cornell_product": None,
        "peguero": None,
    }
    if subject_sex is not None:
        flags["cornell_voltage"] = _above(cornell, CORNELL_VOLTAGE_MV[subject_sex])
        flags["cornell_product"] = _above(product, CORNELL_PRODUCT_MV_MS)  # type: ignore[arg-type]
        flags["peguero"] = _at_least(peguero, PEGUERO_MV[subject_sex])
    elif any(rule in _SEX_RULES for rule in enabled):
        missing = [rule for rule in enabled if rule in _SEX_RULES]
        notes.append(f"sex unknown: {', '.join(missing)} not evaluated (sex-specific thresholds)")
    for rule in LVH_RULES:
        bad_leads = sorted(set(_RULE_LEADS[rule]) & unreliable)
        if rule not in enabled:
            flags[rule] = None
        elif bad_leads and flags[rule] is not None:
            flags[rule] = None
            notes.append(f"{rule} not evaluated: unreliable lead(s) {', '.join(bad_leads)}")
    if not measurements.delineation_ok and "cornell_product" in enabled:
        notes.append(f"QRS duration from a fallback delineation ({measurements.delineation_method})")

    evaluated = [flags[rule] for rule in enabled]
    any_rule: bool | None
    if any(flag is True for flag in evaluated):
        any_rule = True
    elif evaluated and all(flag is False for flag in evaluated):
        any_rule = False
    else:
        any_rule = None

    return LVHCriteria(
        sex=subject_sex,
        sokolow_lyon_mv=sokolow,
        cornell_voltage_mv=cornell,
        cornell_product_mv_ms=product,
        ravl_mv=r["aVL"],
        peguero_mv=peguero,
        sokolow_lyon=flags["sokolow_lyon"],
        cornell_voltage=flags["cornell_voltage"],
        cornell_product=flags["cornell_product"],
        avl=flags["avl"],
        peguero=flags["peguero"],
        any_rule=any_rule,
        enabled_rules=enabled,
        cornell_product_female_add_mv=cornell_product_female_add_mv,
        notes=tuple(notes),
    )



__all__ = ["AVL_MV", "CORNELL_PRODUCT_FEMALE_ADD_MV", "CORNELL_PRODUCT_MV_MS", "CORNELL_VOLTAGE_MV", "LVH_RULES", "PEGUERO_MV", "SOKOLOW_LYON_MV", "LVHCriteria", "lvh_criteria"]
