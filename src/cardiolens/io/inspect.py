"""Describe any supported path: a dataset folder, a DICOM series folder or a single file.

The result is a JSON-able dict so the CLI can print it as tables or JSON and
scripts can use it directly.
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from cardiolens.data import ECG12, CineCMR, CMRVolume, EchoClip
from cardiolens.data.cohort import Cohort
from cardiolens.errors import DataError, UnknownLayoutError
from cardiolens.io.files import require_file
from cardiolens.io.layouts import detect_layout, layout_module, split_layout_prefix

_VIDEO_SUFFIXES = {".avi", ".mp4", ".mov", ".mkv"}
_MAX_DISTINCT = 12  # attributes with more distinct values than this are not tabulated


def _rounded(values: Any) -> list[float]:
    return [round(float(v), 4) for v in values]


def describe(obj: Any) -> dict[str, Any]:
    """Shapes, geometry and units of a container (or a dataclass grouping containers)."""
    if isinstance(obj, CineCMR):
        labels = sorted({int(v) for m in obj.segmentations.values() for v in np.unique(m)})
        return {
            "type": "cine",
            "shape_tzyx": list(obj.image.shape),
            "spacing_mm_zyx": _rounded(obj.spacing_mm),
            "spacing_known": obj.spacing_known,
            "ed_index": obj.ed_index,
            "es_index": obj.es_index,
            "rr_interval_ms": None if obj.rr_interval_ms is None else round(obj.rr_interval_ms, 1),
            "segmented_frames": sorted(obj.segmentations),
            "label_values": labels,
        }
    if isinstance(obj, CMRVolume):
        return {
            "type": obj.modality,
            "unit": obj.unit,
            "shape_zyx": list(obj.image.shape),
            "spacing_mm_zyx": _rounded(obj.spacing_mm),
            "spacing_known": obj.spacing_known,
            "value_range": _rounded([obj.image.min(), obj.image.max()]),
            "label_values": None if obj.labels is None else [int(v) for v in np.unique(obj.labels)],
        }
    if isinstance(obj, ECG12):
        return {
            "type": "ecg",
            "leads": list(obj.lead_names),
            "fs_hz": obj.fs_hz,
            "n_samples": obj.n_samples,
            "duration_s": round(obj.duration_s, 3),
        }
    if isinstance(obj, EchoClip):
        return {
            "type": "echo",
            "shape_tyx": list(obj.frames.shape),
            "fps": round(obj.fps, 3),
            "pixel_spacing_mm": None if obj.pixel_spacing_mm is None else _rounded(obj.pixel_spacing_mm),
            "view": obj.view,
        }
    if isinstance(obj, dict):
        return {str(k): describe(v) for k, v in obj.items()}
    if dataclasses.is_dataclass(obj):
        parts = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
        return {k: describe(v) for k, v in parts.items() if isinstance(v, (CineCMR, CMRVolume, ECG12, EchoClip, dict))}
    return {"type": type(obj).__name__}


def summarise_attributes(cohort: Cohort) -> dict[str, dict[str, int]]:
    """Counts of the categorical attributes (booleans, small sets of values, lists of tags)."""
    counters: dict[str, Counter[str]] = {}
    for record in cohort.records:
        for key, value in record.attributes.items():
            if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
                counters.setdefault(key, Counter()).update(value)
            elif isinstance(value, (bool, str, np.bool_)) or (isinstance(value, (int, np.integer)) and key.endswith(("fold", "split"))):
                counters.setdefault(key, Counter())[str(value)] += 1
    return {k: dict(sorted(c.items())) for k, c in counters.items() if 1 <= len(c) <= _MAX_DISTINCT}


def _inspect_dataset(root: Path, layout: str, n_load: int) -> dict[str, Any]:
    module = layout_module(layout)
    cohort: Cohort = module.scan(root)
    bad = [dataclasses.asdict(b) for b in cohort.bad_cases]
    examples: dict[str, Any] = {}
    for record in cohort.records[:n_load]:
        try:
            examples[record.subject_id] = describe(module.load(record))
        except DataError as exc:
            bad.append({"subject_id": record.subject_id, "path": exc.path, "problem": exc.problem})
    return {
        "path": str(root),
        "kind": "dataset",
        "layout": layout,
        "simulated": cohort.simulated,
        "n_subjects": len(cohort),
        "n_patients": cohort.n_patients,
        "classes": cohort.class_counts(),
        "attributes": summarise_attributes(cohort),
        "examples": examples,
        "bad_cases": bad,
    }


def _has_dicom_files(folder: Path) -> bool:
    return any(p.suffix.lower() == ".dcm" or (p.is_file() and p.suffix == "") for p in folder.iterdir())


def _inspect_file(path: Path) -> dict[str, Any]:
    name = path.name.lower()
    obj: Any
    if name.endswith((".nii", ".nii.gz")):
        from cardiolens.io.nifti import read_nifti

        img = read_nifti(path)
        return {
            "path": str(path),
            "kind": "nifti",
            "shape": list(img.array.shape),
            "axes": "t, z, y, x" if img.array.ndim == 4 else "z, y, x",
            "spacing_mm_zyx": _rounded(img.spacing_mm),
            "dtype": str(img.array.dtype),
        }
    if path.suffix.lower() in {".hea", ".dat", ".mat"}:
        from cardiolens.io.wfdb_io import read_wfdb

        obj, kind = read_wfdb(path.with_suffix("")), "wfdb"
    elif path.suffix.lower() == ".xml":
        from cardiolens.io.aecg import read_aecg

        obj, kind = read_aecg(path), "hl7-aecg"
    elif path.suffix.lower() in _VIDEO_SUFFIXES:
        from cardiolens.io.video import read_video

        obj, kind = read_video(path), "video"
    else:
        from cardiolens.io.dicom_echo import read_dicom_echo

        obj, kind = read_dicom_echo(path), "dicom-ultrasound"
    return {"path": str(path), "kind": kind, **describe(obj)}


def inspect_path(path: str | os.PathLike[str], n_load: int = 3) -> dict[str, Any]:
    """Detect what ``path`` is and describe it (``acdc:PATH`` forces a layout).

    For a dataset, every subject is scanned from tables and file names and the
    first ``n_load`` subjects are fully loaded to report shapes and spacing;
    subjects that fail are listed under ``bad_cases`` with the file and reason.
    """
    forced, p = split_layout_prefix(path)
    if p.is_dir():
        try:
            layout = forced or detect_layout(p)
        except UnknownLayoutError:
            if not _has_dicom_files(p):
                raise
            from cardiolens.io.dicom_read import read_dicom_series

            return {"path": str(p), "kind": "dicom-series", **describe(read_dicom_series(p))}
        return _inspect_dataset(p, layout, n_load)
    return _inspect_file(require_file(p))
