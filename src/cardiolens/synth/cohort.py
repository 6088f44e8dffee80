"""The simulated cohort: one subject = cine, LGE, parametric maps, echo, ECG and outcomes.

Each subject is simulated from its own random stream ``default_rng([seed, index])``
and its classes are assigned by index, so subject ``SIM0003`` is identical
whether 5 or 500 subjects are simulated. Labels come from the simulated
anatomy and physiology:

- ``cine_group`` (NOR, DCM, HCM, MINF, RV) drives the cine geometry and motion;
- ``lge_pattern`` follows the group: infarcts (subendocardial/transmural) in
  MINF, mid-wall/subepicardial/patchy scar in some DCM and HCM, none otherwise;
- ``scar_pattern`` (healthy, ischaemic, non_ischaemic, oedema) of the
  oxygenation-sensitive/mapping substudy is assigned independently (balanced),
  as in a separate OS-CMR study;
- ``wma`` (echo wall-motion abnormality) is present in MINF and rarely elsewhere;
- the ECG's QRS voltages follow the cine's true LV mass; outcomes follow LV
  mass, age and sex.

Everything here is simulated and says so (``SIMULATED_NOTICE``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from cardiolens import SIMULATED_NOTICE
from cardiolens.data import CINE_GROUPS, SCAR_PATTERNS
from cardiolens.errors import UsageError
from cardiolens.io.atomic import atomic_dir
from cardiolens.io.layouts.synthetic import MANIFEST_FILE, NOTICE_FILE, Format, SyntheticStudy, write_cohort
from cardiolens.synth.cine import simulate_cine
from cardiolens.synth.ecg import simulate_ecg
from cardiolens.synth.echo import simulate_echo
from cardiolens.synth.lge import simulate_lge
from cardiolens.synth.maps import simulate_parametric_maps
from cardiolens.synth.outcomes import simulate_outcomes

#: LGE patterns drawn for each cine group, with probabilities.
LGE_PATTERN_BY_GROUP: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    "NOR": (("none",), (1.0,)),
    "DCM": (("none", "midwall", "subepicardial"), (0.5, 0.35, 0.15)),
    "HCM": (("none", "patchy", "midwall"), (0.3, 0.45, 0.25)),
    "MINF": (("subendocardial", "transmural"), (0.5, 0.5)),
    "RV": (("none", "midwall"), (0.85, 0.15)),
}

#: Probability of an echo wall-motion abnormality by cine group.
WMA_PROBABILITY: dict[str, float] = {"NOR": 0.03, "DCM": 0.15, "HCM": 0.05, "MINF": 0.9, "RV": 0.05}

#: Local normal ranges used to label abnormal CMR tissue values (mean + 2 SD).
NATIVE_T1_UPPER_MS = 950.0 + 2 * 21.0  # 1.5 T MOLLI (Dabir 2014, METHODS.md §6)
T2_UPPER_MS = 50.0 + 2 * 4.0
ECV_UPPER_PCT = 30.0


def subject_id_for(index: int) -> str:
    return f"SIM{index + 1:04d}"


def _demographics(rng: np.random.Generator) -> dict[str, Any]:
    sex = "M" if rng.random() < 0.55 else "F"
    height_cm = rng.normal(176 if sex == "M" else 163, 7)
    bmi = float(np.clip(rng.normal(26, 4), 18, 42))
    weight_kg = bmi * (height_cm / 100) ** 2
    return {
        "sex": sex,
        "age_years": round(float(np.clip(rng.normal(58, 13), 20, 90)), 1),
        "height_cm": round(float(height_cm), 1),
        "weight_kg": round(float(weight_kg), 1),
    }


def _myocardial_mean(map_truth: dict[str, Any]) -> float:
    """Mean map value over the whole myocardium (normal and abnormal regions by voxel share)."""
    fraction = float(map_truth["abnormal_fraction"])
    parts = [(map_truth["mean_by_region"]["normal_myocardium"], 1 - fraction), (map_truth["mean_by_region"]["abnormal_myocardium"], fraction)]
    return float(sum(mean * share for mean, share in parts if mean is not None))


def simulate_subject(index: int, seed: int = 0) -> SyntheticStudy:
    """Simulate subject number ``index`` (0-based) of the cohort with ``seed``."""
    rng = np.random.default_rng([seed, index])
    sid = subject_id_for(index)
    group = CINE_GROUPS[index % len(CINE_GROUPS)]
    scar_pattern = SCAR_PATTERNS[index % len(SCAR_PATTERNS)]
    attrs: dict[str, Any] = {"subject_id": sid, "cine_group": group, "scar_pattern": scar_pattern}
    attrs.update(_demographics(rng))

    cine = simulate_cine(group, rng, sid, matrix=96, n_slices=10)  # adult-sized LV at 1.3-2 mm pixels
    patterns, probs = LGE_PATTERN_BY_GROUP[group]
    lge_pattern = str(rng.choice(patterns, p=probs))
    target = None if lge_pattern == "none" else float(rng.uniform(3, 40 if group == "HCM" else 30))
    lge = simulate_lge(lge_pattern, rng, sid, target_pct_lge=target)
    maps = simulate_parametric_maps(scar_pattern, rng, sid)
    wma = bool(rng.random() < WMA_PROBABILITY[group])

    truth = cine.metadata.get("truth", {})
    lv_mass_g = float(truth["lv_mass_g"])
    pct_lge = float(lge.metadata.get("truth", {}).get("pct_lge", 0.0))
    native_t1_ms = _myocardial_mean(maps["t1"].metadata["truth"])
    t2_ms = _myocardial_mean(maps["t2"].metadata["truth"])
    ecv_pct = float(rng.normal(25.6, 3) + 0.25 * pct_lge)
    tissue = {
        "lge": lge_pattern != "none",
        "t1": native_t1_ms > NATIVE_T1_UPPER_MS,
        "t2": t2_ms > T2_UPPER_MS,
        "ecv": ecv_pct > ECV_UPPER_PCT,
    }
    echo = simulate_echo(rng, sid, wma=wma, tissue_abnormal=tissue, n_frames=64)  # >= one full cycle at 55 bpm
    ecg = simulate_ecg(rng, lv_mass_g=lv_mass_g, sex=attrs["sex"], age_years=attrs["age_years"], subject_id=sid)
    outcomes = simulate_outcomes(
        rng, np.array([lv_mass_g]), np.array([attrs["age_years"]]), np.array([attrs["sex"]])
    ).iloc[0]

    cmr_date = date(2020, 1, 1) + timedelta(days=int(rng.integers(0, 3 * 365)))
    # Most echoes fall within the default ±30-day pairing window; some do not.
    echo_offset_days = int(rng.integers(-25, 26)) if rng.random() < 0.85 else int(rng.choice([-1, 1]) * rng.integers(31, 120))
    attrs.update(
        lge_pattern=lge_pattern,
        wma=wma,
        wma_segment=echo.metadata.get("wma_segment"),
        lge_present=tissue["lge"],
        native_t1_ms=round(native_t1_ms, 1),
        t2_ms=round(t2_ms, 1),
        ecv_pct=round(ecv_pct, 1),
        cmr_date=cmr_date.isoformat(),
        echo_date=(cmr_date + timedelta(days=echo_offset_days)).isoformat(),
        spacing_in_plane_mm=round(float(cine.spacing_mm[1]), 4),
        heart_rate_bpm=cine.metadata.get("heart_rate_bpm"),
        **{k: (round(float(v), 3) if isinstance(v, (int, float, np.floating)) else v) for k, v in truth.items()},
        pct_lge=round(pct_lge, 3),
        burden_over_15pct=pct_lge > 15.0,
        **outcomes.to_dict(),
    )
    return SyntheticStudy(sid, cine, lge, maps, echo, ecg, attrs)


def simulate_cohort(n: int = 20, seed: int = 0, first_index: int = 0) -> tuple[list[SyntheticStudy], pd.DataFrame]:
    """Simulate subjects ``first_index .. first_index + n - 1``; returns them and the manifest (one row per subject).

    A second call with ``first_index=n`` gives new, independent subjects (a
    separate test cohort with no subject in common).
    """
    if n < 1 or first_index < 0:
        raise UsageError(f"the cohort needs at least 1 subject and first_index >= 0, got n={n}, first_index={first_index}")
    subjects = [simulate_subject(i, seed) for i in range(first_index, first_index + n)]
    manifest = pd.DataFrame([s.attributes for s in subjects])
    manifest.insert(1, "simulated", True)
    return subjects, manifest


def write_simulated_cohort(out_dir: str | Path, n: int = 20, seed: int = 0, fmt: Format = "nifti", first_index: int = 0) -> Path:
    """Simulate ``n`` subjects (from ``first_index``) and write them in the synthetic layout (NIfTI or DICOM images)."""
    studies, manifest = simulate_cohort(n, seed, first_index)
    return write_cohort(studies, manifest, out_dir, fmt)


Payload = TypeVar("Payload")


def write_subject_folders(
    out_dir: str | Path,
    n: int,
    first_index: int,
    simulate: Callable[[int], tuple[dict[str, Any], Payload]],
    write_subject: Callable[[Path, Payload], None],
) -> Path:
    """Write a single-modality simulated cohort in the synthetic layout, atomically.

    ``simulate(index)`` gives a subject's manifest row (with ``subject_id``)
    and its data; ``write_subject(folder, data)`` writes the data into the
    subject's folder. The cohort folder appears only when complete.
    """
    if n < 1 or first_index < 0:
        raise UsageError(f"the cohort needs at least 1 subject and first_index >= 0, got n={n}, first_index={first_index}")
    target = Path(out_dir)
    with atomic_dir(target) as tmp:
        (tmp / NOTICE_FILE).write_text(SIMULATED_NOTICE + "\n", encoding="utf-8")
        rows = []
        for index in range(first_index, first_index + n):
            row, data = simulate(index)
            folder = tmp / str(row["subject_id"])
            folder.mkdir()
            write_subject(folder, data)
            rows.append(row)
        pd.DataFrame(rows).to_csv(tmp / MANIFEST_FILE, index=False)
    return target


__all__ = [
    "SIMULATED_NOTICE",
    "SyntheticStudy",
    "simulate_cohort",
    "simulate_subject",
    "subject_id_for",
    "write_simulated_cohort",
    "write_subject_folders",
]
