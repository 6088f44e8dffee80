"""IVPG input from ED/ES masks only: real ED/ES geometry moved along a canonical volume-time template.

Used where only ED and ES are segmented (ACDC ground truth). See
:func:`ed_es_template_areas`; the result is not a measured time course.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from cardiolens.data.cine import CineCMR
from cardiolens.data.volume import CMRVolume
from cardiolens.errors import (
    InconsistentGeometryError,
    MissingDataError,
    UsageError,
)
from cardiolens.measure.ivpg import (
    _LV_CAVITY,
    DEFAULT_TEMPLATE_RR_MS,
    SectionAreas,
    SliceOrder,
    _orient,
    _pixel_area_mm2,
)

# --------------------------------------------------------------------------- ED/ES template


@dataclass(frozen=True)
class VolumeTemplate:
    """Canonical normalised LV volume-time course, as phases (fractions of RR from ED).

    The ejected fraction f(phase) is 0 at ED and 1 at ES. Each interval moves
    f along a regularised incomplete beta function I_x(a, b) (smooth, zero
    flow at both ends; skewed shapes put peak flow early in ejection and in
    the E wave, as in normal Doppler inflow):

    - isovolumic contraction [0, ``ejection_start``): f = 0
    - ejection [``ejection_start``, ``es``]: 0 -> 1, I_x(2, 3)
    - isovolumic relaxation (``es``, ``filling_start``): f = 1
    - rapid filling (E wave) [``filling_start``, ``diastasis_start``]: refills
      ``early_fraction`` of the stroke volume, I_x(2, 3)
    - diastasis [``diastasis_start``, ``atrial_start``]: ``diastasis_fraction``, I_x(2, 2)
    - atrial kick (A wave) [``atrial_start``, 1]: the rest, I_x(2, 2)

    Defaults (ES at 35 % of RR, E/A peak filling-rate ratio about 2) describe a normal
    adult at rest; they are a documented assumption, not a measurement.
    """

    ejection_start: float = 0.05
    es: float = 0.35
    filling_start: float = 0.42
    diastasis_start: float = 0.64
    atrial_start: float = 0.84
    early_fraction: float = 0.65
    diastasis_fraction: float = 0.07

    def __post_init__(self) -> None:
        edges = (0.0, self.ejection_start, self.es, self.filling_start, self.diastasis_start, self.atrial_start, 1.0)
        if any(b <= a for a, b in itertools.pairwise(edges)):
            raise UsageError(f"template phases must increase within (0, 1), got {edges[1:-1]}")
        fractions_ok = self.early_fraction > 0 and self.diastasis_fraction >= 0
        if not (fractions_ok and self.early_fraction + self.diastasis_fraction < 1):
            raise UsageError("template filling fractions must be positive and sum to less than 1")

    def ejected_fraction(self, phase: np.ndarray | float) -> np.ndarray:
        """f(phase): fraction of the stroke volume ejected (0 at ED, 1 at ES); phase taken mod 1."""
        p = np.mod(np.asarray(phase, dtype=float), 1.0)

        def ramp(a: float, b: float, shape: tuple[float, float]) -> np.ndarray:
            return special.betainc(shape[0], shape[1], np.clip((p - a) / (b - a), 0.0, 1.0))

        late = 1.0 - self.early_fraction - self.diastasis_fraction
        return (
            ramp(self.ejection_start, self.es, (2, 3))
            - self.early_fraction * ramp(self.filling_start, self.diastasis_start, (2, 3))
            - self.diastasis_fraction * ramp(self.diastasis_start, self.atrial_start, (2, 2))
            - late * ramp(self.atrial_start, 1.0, (2, 2))
        )


def _labels_of(volume: CMRVolume, source: str) -> np.ndarray:
    if volume.labels is None:
        raise MissingDataError(volume.source or source, "ED/ES volume has no label mask")
    return np.asarray(volume.labels)


def ed_es_template_areas(
    cine: CineCMR,
    *,
    rr_interval_ms: float = DEFAULT_TEMPLATE_RR_MS,
    n_frames: int = 30,
    ed: CMRVolume | None = None,
    es: CMRVolume | None = None,
    template: VolumeTemplate | None = None,
    slice_order: SliceOrder = "auto",
) -> SectionAreas:
    """Section areas A_k(t) from real ED and ES masks moved along a canonical volume template.

    **This is not a measured time course.** It combines the real ED/ES
    geometry (each slice's LV cavity area at ED and at ES, from the
    ground-truth masks) with an assumed timing: every slice's area moves
    between its ED and ES value along the same :class:`VolumeTemplate`,
    A_k(t) = A_k^ED + (A_k^ES − A_k^ED)·f(t), over an assumed RR interval
    (default 60000/70 ms = 70 bpm). Regional asynchrony, the real filling
    pattern (E/A, relaxation) and the heart rate are therefore *not* in the
    result; the IVPG it gives is a geometry-driven estimate. True per-frame
    curves need segmentations on every frame (cine-seg, a later issue) and
    :func:`compute_ivpg`.

    Args:
        cine: the cine whose ``segmentations`` hold the ED and ES masks at
            ``ed_index`` / ``es_index`` (e.g. ACDC's ground truth), and whose
            spacing is used. Used for its masks only when ``ed``/``es`` are not given.
        rr_interval_ms: assumed RR interval (ms); recorded in ``timing_source``.
        n_frames: frames sampled evenly over the cycle from ED (>= 5).
        ed, es: optional full-coverage ED and ES volumes with label masks
            (e.g. ``AcdcStudy.ed``/``.es``, whose stacks are complete where the
            shared ACDC cine is cropped); their spacing is used.
        template: the volume-time course (default :class:`VolumeTemplate`).
        slice_order: as in :func:`cine_section_areas`.

    Raises:
        MissingDataError: no ES index, a missing ED/ES mask or no LV cavity.
        InconsistentGeometryError: ED and ES masks of different shapes.
        UsageError: a bad ``rr_interval_ms``/``n_frames``, or only one of ``ed``/``es``.
    """
    if not (math.isfinite(rr_interval_ms) and rr_interval_ms > 0):
        raise UsageError(f"rr_interval_ms must be positive, got {rr_interval_ms!r}")
    if int(n_frames) != n_frames or n_frames < 5:
        raise UsageError(f"n_frames must be an integer >= 5, got {n_frames!r}")
    template = template or VolumeTemplate()
    if (ed is None) != (es is None):
        raise UsageError("give both ed and es volumes, or neither")
    if ed is not None and es is not None:
        ed_mask, es_mask = _labels_of(ed, cine.source), _labels_of(es, cine.source)
        spacing, known, source = ed.spacing_mm, ed.spacing_known, ed.source
        mask_origin = "full ED/ES volumes"
    else:
        if cine.es_index is None:
            raise MissingDataError(cine.source, "no end-systolic frame index (es_index) for the ED/ES template")
        for name, index in (("ED", cine.ed_index), ("ES", cine.es_index)):
            if index not in cine.segmentations:
                raise MissingDataError(cine.source, f"no {name} mask (frame {index}) in the cine segmentations")
        ed_mask, es_mask = cine.segmentations[cine.ed_index], cine.segmentations[cine.es_index]
        spacing, known, source = cine.spacing_mm, cine.spacing_known, cine.source
        mask_origin = "cine ED/ES masks"
    if ed_mask.shape != es_mask.shape:
        raise InconsistentGeometryError(source, f"ED mask {ed_mask.shape} and ES mask {es_mask.shape} differ in shape")
    pixel = _pixel_area_mm2(spacing, known)
    a_ed = (ed_mask == _LV_CAVITY).sum(axis=(1, 2)) * pixel
    a_es = (es_mask == _LV_CAVITY).sum(axis=(1, 2)) * pixel
    if not a_ed.any():
        raise MissingDataError(source, "the ED mask holds no LV cavity (label 3)")
    f = template.ejected_fraction(np.arange(n_frames) / n_frames)
    areas = a_ed[:, None] + (a_es - a_ed)[:, None] * f[None, :]
    areas, how = _orient(areas, slice_order, cine.metadata.get("slice_order"), source)
    return SectionAreas(
        areas_mm2=areas,
        slice_spacing_mm=float(spacing[0]) if known else 1.0,
        rr_interval_ms=float(rr_interval_ms),
        times_ms=None,
        spacing_known=known,
        timing_source=(
            f"ED/ES template: real {mask_origin} geometry, canonical volume-time template "
            f"(ES at {100 * template.es:.0f} % of RR), assumed RR {rr_interval_ms:.1f} ms"
        ),
        subject_id=cine.subject_id,
        source=source,
        notes=(how, "template time course, not measured per frame: geometry-driven estimate"),
    )


__all__ = ["VolumeTemplate", "ed_es_template_areas"]
