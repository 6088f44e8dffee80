"""From a cohort to ``nicm`` inputs: labels, every-frame segmentation by ``cine-seg``, features (cached)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from pathlib import Path

from cardiolens.data.cohort import Cohort, SubjectRecord
from cardiolens.errors import DataError, MissingDataError
from cardiolens.systems.cine_seg.data import study_cine
from cardiolens.systems.cine_seg.model import SliceSegmenter
from cardiolens.systems.nicm.config import NicmConfig
from cardiolens.systems.nicm.features import NicmFeatureSpec, StudyFeatures, extract_features


def feature_spec(config: NicmConfig) -> NicmFeatureSpec:
    return NicmFeatureSpec(n_frames=config.n_frames, n_phases=config.n_phases, crop_px=config.crop_px, crop_scale=config.crop_scale)


def subject_label(record: SubjectRecord, config: NicmConfig) -> str | None:
    """The class of a subject: the layout's label, or the ``label_column`` attribute."""
    value = record.attributes.get(config.label_column) if config.label_column else record.label
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def labelled_records(cohort: Cohort, config: NicmConfig) -> list[SubjectRecord]:
    """Records that carry a label; raises when none does."""
    records = [r for r in cohort.records if subject_label(r, config) is not None]
    if not records:
        where = f"column {config.label_column!r}" if config.label_column else "the layout's label"
        raise MissingDataError(cohort.root, f"no subject has a class label ({where})")
    return records


def cohort_features(
    cohort: Cohort,
    subject_ids: Sequence[str],
    segmenter: SliceSegmenter,
    config: NicmConfig,
    *,
    cache_dir: Path | None = None,
    radiomics: bool = True,
) -> tuple[dict[str, StudyFeatures], list[dict[str, str]]]:
    """Features of each subject (cached as ``cache_dir/<id>.npz`` for one segmentation model); bad cases listed, not raised.

    A cache entry that cannot be read, or was written by another feature version, is extracted again and replaced.
    """
    spec = feature_spec(config)
    features: dict[str, StudyFeatures] = {}
    bad: list[dict[str, str]] = []
    for sid in subject_ids:
        cached = cache_dir / f"{sid}.npz" if cache_dir is not None else None
        try:
            if cached is not None and cached.is_file():
                with contextlib.suppress(DataError):  # a stale (other feature version) or damaged entry is extracted again
                    features[sid] = StudyFeatures.from_npz(cached)
                    continue
            cine = study_cine(cohort, sid)
            features[sid] = extract_features(cine, segmenter.segment_cine(cine.image), spec, radiomics=radiomics)
            if cached is not None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                features[sid].to_npz(cached)
        except DataError as exc:  # one bad study must not stop the cohort
            bad.append({"subject_id": sid, "error": str(exc)})
    return features, bad
