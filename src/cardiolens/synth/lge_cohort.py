"""An LGE-only simulated HCM cohort for ``lge``: scar burdens of 0-40 % with known truth.

Exercises the >15 % LGE burden flag (Chan et al., Circulation 2014;130:484)
against known truth: mid-wall and patchy (non-ischaemic, HCM-type) scar and
scar-free hearts, with burdens on both sides of the cut-off. Written in the
*synthetic layout* (:mod:`cardiolens.io.layouts.synthetic`), so ``scan``
labels each subject with its ``lge_pattern`` and ``load`` returns its LGE
:class:`~cardiolens.data.volume.CMRVolume`::

    SIMULATED_DATA.txt
    manifest.csv      subject_id, simulated, lge_pattern, target_pct_lge, pct_lge,
                      burden_over_15pct, scar_voxels, mvo_voxels, myocardium_voxels,
                      scar_volume_ml, myocardium_volume_ml, n_slices,
                      spacing_in_plane_mm, slice_thickness_mm
    SIMxxxx/lge.nii.gz, lge_seg.nii.gz (LGE_LABELS), subject.json (kind "lge")

Design (subject ``index`` from its own stream ``default_rng([seed, index, 19])``,
so a subject is the same whatever ``n`` and ``first_index``):

- each block of 5 consecutive indices (0-4, 5-9, ...) holds 2 ``midwall``,
  2 ``patchy`` and 1 ``none`` subject; of each scarred pair one draws its
  target burden below the cut-off (uniform 1-15 %) and one above (uniform
  15-39 %), so about half of the scarred subjects are over 15 % and the
  pattern does not predict the burden. The order within a block comes from
  ``default_rng([seed, block, 23])``;
- the stack comes from :func:`cardiolens.synth.lge.simulate_lge` (anatomy,
  contrast, noise; MVO only occurs in ischaemic patterns, so it is 0 here);
- the truth columns are the *realised* values counted from the labels
  (``metadata["truth"]``), which equal the target to within a voxel unless the
  pattern runs out of room (mid-wall scar on small matrices can cap near
  25-30 %); ``burden_over_15pct`` is ``pct_lge >= LGE_BURDEN_CUTOFF_PCT``, the
  same rule as :func:`cardiolens.measure.lge.quantify_scar`.

HCM phenotype: every heart has asymmetric septal hypertrophy (13-22 mm;
``simulate_lge(..., hypertrophy_probability=1.0)``). SIMULATED DATA.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import numpy as np

from cardiolens.data.labels import LGE_BURDEN_CUTOFF_PCT
from cardiolens.data.volume import CMRVolume
from cardiolens.errors import UsageError
from cardiolens.io.layouts.synthetic import write_sidecar
from cardiolens.io.nifti import write_nifti
from cardiolens.synth.cohort import subject_id_for, write_subject_folders
from cardiolens.synth.lge import simulate_lge

#: One block of subjects: (pattern, burden stratum); each block is a seeded permutation of it.
BLOCK: Final[tuple[tuple[str, str], ...]] = (
    ("midwall", "low"),
    ("midwall", "high"),
    ("patchy", "low"),
    ("patchy", "high"),
    ("none", "none"),
)
#: Target %LGE range (low, high) drawn uniformly for each burden stratum.
#: The top stays below 40 so the realised burden (target to within a voxel) does too.
TARGET_PCT_RANGES: Final[dict[str, tuple[float, float]]] = {
    "low": (1.0, LGE_BURDEN_CUTOFF_PCT),
    "high": (LGE_BURDEN_CUTOFF_PCT, 39.0),
}
_SUBJECT_STREAM: Final[int] = 19
_BLOCK_STREAM: Final[int] = 23


def slot_for(index: int, seed: int = 0) -> tuple[str, str]:
    """(LGE pattern, burden stratum "low" / "high" / "none") of subject ``index`` (0-based)."""
    block, position = divmod(index, len(BLOCK))
    order = np.random.default_rng([seed, block, _BLOCK_STREAM]).permutation(len(BLOCK))
    return BLOCK[int(order[position])]


def pattern_for(index: int, seed: int = 0) -> str:
    """LGE pattern of subject ``index``: "midwall", "patchy" or "none"."""
    return slot_for(index, seed)[0]


def simulate_lge_subject(
    index: int, seed: int = 0, matrix: int = 96, n_slices: int = 10
) -> tuple[dict[str, Any], CMRVolume]:
    """Subject ``index`` (0-based): its manifest row and its LGE volume (labels in LGE_LABELS).

    Args:
        index: subject index; the subject id is ``SIM{index + 1:04d}``.
        seed: cohort seed.
        matrix: in-plane size in pixels (>= 32).
        n_slices: short-axis slices from base to apex (>= 4).

    Returns:
        The manifest row (truth in %, voxels, mL and mm; see the module
        docstring) and the volume (modality "lge", a.u., spacing in mm).
    """
    if index < 0:
        raise UsageError(f"subject index must be >= 0, got {index}")
    rng = np.random.default_rng([seed, index, _SUBJECT_STREAM])
    sid = subject_id_for(index)
    pattern, stratum = slot_for(index, seed)
    target = float(rng.uniform(*TARGET_PCT_RANGES[stratum])) if stratum in TARGET_PCT_RANGES else 0.0
    volume = simulate_lge(pattern, rng, sid, target_pct_lge=target, n_slices=n_slices, matrix=matrix, hypertrophy_probability=1.0)
    truth = volume.metadata["truth"]
    pct = float(truth["pct_lge"])
    row: dict[str, Any] = {
        "subject_id": sid,
        "simulated": True,
        "lge_pattern": pattern,
        "target_pct_lge": round(target, 4),
        "pct_lge": round(pct, 4),
        "burden_over_15pct": bool(pct >= LGE_BURDEN_CUTOFF_PCT),  # from the unrounded value, as quantify_scar does
        "scar_voxels": int(truth["scar_voxels"]),
        "mvo_voxels": int(truth["mvo_voxels"]),
        "myocardium_voxels": int(truth["myocardium_voxels"]),
        "scar_volume_ml": round(float(truth["scar_volume_ml"]), 4),
        "myocardium_volume_ml": round(float(truth["myocardium_volume_ml"]), 4),
        "n_slices": n_slices,
        "spacing_in_plane_mm": round(float(volume.spacing_mm[1]), 4),
        "slice_thickness_mm": round(float(volume.spacing_mm[0]), 4),
    }
    return row, volume


def _write_subject(folder: Path, volume: CMRVolume) -> None:
    write_nifti(folder / "lge_seg.nii.gz", np.asarray(volume.labels, np.uint8), volume.spacing_mm, volume.affine)
    write_nifti(folder / "lge.nii.gz", volume.image.astype(np.float32), volume.spacing_mm, volume.affine)
    write_sidecar(folder, "nifti", kind="lge", lge={"metadata": volume.metadata})


def write_lge_cohort(
    out_dir: str | Path, n: int = 40, seed: int = 0, first_index: int = 0, matrix: int = 96, n_slices: int = 10
) -> Path:
    """Write ``n`` simulated LGE subjects (``first_index`` .. ``first_index + n - 1``) in the synthetic layout.

    Args:
        out_dir: the cohort folder; it appears only when complete (replacing an old one).
        n: number of subjects (>= 1); a multiple of 5 starting at a multiple
            of 5 gives exactly balanced patterns and burden strata.
        seed: random seed; the same seed gives identical files.
        first_index: index of the first subject (``SIM{first_index + 1:04d}``);
            a later index gives new, independent subjects.
        matrix: in-plane size in pixels (>= 32).
        n_slices: short-axis slices from base to apex (>= 4).

    Returns:
        The cohort folder.
    """
    return write_subject_folders(out_dir, n, first_index, lambda i: simulate_lge_subject(i, seed, matrix=matrix, n_slices=n_slices), _write_subject)


__all__ = ["BLOCK", "TARGET_PCT_RANGES", "pattern_for", "simulate_lge_subject", "slot_for", "write_lge_cohort"]
