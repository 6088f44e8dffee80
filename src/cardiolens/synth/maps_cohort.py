"""A maps-only simulated cohort for ``scar-pattern``: %ΔSI, T1 and T2 maps with scar-pattern labels.

Much cheaper than the full cohort (no cine, LGE, echo or ECG: about 20 ms a
subject), so the slice classifier can train on hundreds of subjects. Written
in the *synthetic layout* (:mod:`cardiolens.io.layouts.synthetic`), so
``scan`` and ``load_maps`` read it::

    SIMULATED_DATA.txt
    manifest.csv      subject_id, simulated, scar_pattern, field_strength_t, artefact,
                      abnormal_fraction, abnormal_voxels, myocardium_voxels, n_slices,
                      spacing_in_plane_mm, os_dsi_myocardium_pct, t1_myocardium_ms, t2_myocardium_ms
    SIMxxxx/{os_dsi,t1,t2}.nii.gz, maps_seg.nii.gz (MAP_LABELS), subject.json

Design (subject ``index`` from its own stream ``default_rng([seed, index, 13])``,
so a subject is the same whatever ``n`` and ``first_index``):

- classes are balanced: each block of 4 consecutive indices (0-3, 4-7, ...)
  holds the 4 :data:`~cardiolens.data.labels.SCAR_PATTERNS` in an order drawn
  from ``default_rng([seed, block, 17])``;
- field strength 1.5 T or 3 T with probability 1/2 each (normal T1/T2 shift);
- the maps themselves come from
  :func:`cardiolens.synth.maps.simulate_parametric_maps` (anatomy, values,
  noise and the unlabelled susceptibility artefact are described there).

The ``*_myocardium`` columns are the noise-free mean of each map over the
whole myocardium (normal and abnormal voxels). SIMULATED DATA.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cardiolens.data.labels import SCAR_PATTERNS
from cardiolens.data.volume import CMRVolume
from cardiolens.io.layouts.synthetic import MAP_KINDS, write_sidecar
from cardiolens.io.nifti import write_nifti
from cardiolens.synth.cohort import subject_id_for, write_subject_folders
from cardiolens.synth.maps import simulate_parametric_maps

#: Field strengths drawn for the subjects (T), with equal probability.
FIELD_STRENGTHS_T: tuple[float, ...] = (1.5, 3.0)
_UNIT_SUFFIX = {"os_dsi": "pct", "t1": "ms", "t2": "ms"}


def pattern_for(index: int, seed: int = 0) -> str:
    """Scar pattern of subject ``index`` (0-based): a seeded permutation within its block of 4."""
    block, position = divmod(index, len(SCAR_PATTERNS))
    order = np.random.default_rng([seed, block, 17]).permutation(len(SCAR_PATTERNS))
    return SCAR_PATTERNS[int(order[position])]


def _myocardial_mean(truth: dict[str, Any]) -> float:
    """Noise-free mean over the whole myocardium, weighting the two regions by their voxel share."""
    share = float(truth["abnormal_fraction"])
    means = truth["mean_by_region"]
    parts = [(means["normal_myocardium"], 1.0 - share), (means["abnormal_myocardium"], share)]
    return float(sum(mean * weight for mean, weight in parts if mean is not None))


def simulate_maps_subject(index: int, seed: int = 0, matrix: int = 96, n_slices: int = 1) -> tuple[dict[str, Any], dict[str, CMRVolume]]:
    """Subject ``index``: its manifest row and its ``{"os_dsi", "t1", "t2"}`` volumes."""
    rng = np.random.default_rng([seed, index, 13])
    sid = subject_id_for(index)
    pattern = pattern_for(index, seed)
    field = float(rng.choice(FIELD_STRENGTHS_T))
    maps = simulate_parametric_maps(pattern, rng, sid, n_slices=n_slices, matrix=matrix, field_strength_t=field)
    meta = maps["os_dsi"].metadata
    truth = meta["truth"]
    row: dict[str, Any] = {
        "subject_id": sid,
        "simulated": True,
        "scar_pattern": pattern,
        "field_strength_t": field,
        "artefact": bool(meta["artefact"]),
        "abnormal_fraction": round(float(truth["abnormal_fraction"]), 4),
        "abnormal_voxels": int(truth["abnormal_voxels"]),
        "myocardium_voxels": int(truth["myocardium_voxels"]),
        "n_slices": n_slices,
        "spacing_in_plane_mm": round(float(maps["os_dsi"].spacing_mm[1]), 4),
    }
    for kind in MAP_KINDS:
        row[f"{kind}_myocardium_{_UNIT_SUFFIX[kind]}"] = round(_myocardial_mean(maps[kind].metadata["truth"]), 2)
    return row, maps


def _write_subject(folder: Path, maps: dict[str, CMRVolume]) -> None:
    first = maps[MAP_KINDS[0]]
    write_nifti(folder / "maps_seg.nii.gz", np.asarray(first.labels, np.uint8), first.spacing_mm, first.affine)
    for kind in MAP_KINDS:
        volume = maps[kind]
        write_nifti(folder / f"{kind}.nii.gz", volume.image.astype(np.float32), volume.spacing_mm, volume.affine)
    write_sidecar(folder, "nifti", kind="maps", maps={kind: {"metadata": maps[kind].metadata} for kind in MAP_KINDS})


def write_maps_cohort(
    out: str | Path, n: int, seed: int = 0, first_index: int = 0, matrix: int = 96, n_slices: int = 1
) -> Path:
    """Write ``n`` simulated map subjects (``first_index`` .. ``first_index + n - 1``) in the synthetic layout.

    Args:
        out: the cohort folder; it appears only when complete (replacing an old one).
        n: number of subjects (>= 1); a multiple of 4 starting at a multiple
            of 4 gives exactly balanced classes.
        seed: random seed; the same seed gives identical files.
        first_index: index of the first subject (``SIM{first_index + 1:04d}``);
            a later index gives new, independent subjects.
        matrix: in-plane size in pixels (>= 32).
        n_slices: mid-ventricular short-axis slices per subject (>= 1).

    Returns:
        The cohort folder.
    """
    return write_subject_folders(out, n, first_index, lambda i: simulate_maps_subject(i, seed, matrix=matrix, n_slices=n_slices), _write_subject)


__all__ = ["FIELD_STRENGTHS_T", "pattern_for", "simulate_maps_subject", "write_maps_cohort"]
