"""Measure studies given as paths: dataset folders (batch), image files, DICOM folders, ECG records.

Each function returns one row (a flat-ish dict) per subject; a subject that
cannot be read or measured becomes a row with ``error`` naming the file and
the problem, and the batch goes on. The CLI writes these rows as JSON or CSV.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cardiolens.data import ECG12, CineCMR, CMRVolume
from cardiolens.errors import DataError, MissingDataError, UsageError
from cardiolens.io.layouts import detect_layout, layout_module, split_layout_prefix
from cardiolens.io.nifti import read_nifti

Row = dict[str, Any]


def _error_row(subject_id: str, exc: DataError) -> Row:
    return {"subject_id": subject_id, "error": str(exc)}


def _dataset_items(root: Path, forced: str | None) -> Iterator[tuple[str, Callable[[], object], dict[str, Any]]]:
    module = layout_module(forced or detect_layout(root))
    cohort = module.scan(root)
    for bad in cohort.bad_cases:
        yield bad.subject_id, _raiser(DataError(bad.path, bad.problem)), {}
    for record in cohort.records:
        yield record.subject_id, (lambda r=record: module.load(r)), {"label": record.label, **record.attributes}


def _raiser(exc: DataError) -> Callable[[], object]:
    def raise_it() -> object:
        raise exc

    return raise_it


def _items(path: str | os.PathLike[str], read_single: Callable[[Path], object]) -> Iterator[tuple[str, Callable[[], object], dict[str, Any]]]:
    """Subjects of one path: every subject of a dataset folder, or the one study a file/series holds."""
    forced, p = split_layout_prefix(path)
    if p.is_dir() and (forced or _is_dataset(p)):
        yield from _dataset_items(p, forced)
    else:
        yield p.name, (lambda: read_single(p)), {}


def _is_dataset(folder: Path) -> bool:
    try:
        detect_layout(folder)
    except DataError:
        return False
    return True


def _run(paths: Sequence[str | os.PathLike[str]], read_single: Callable[[Path], object], measure: Callable[[object, dict[str, Any]], Row]) -> list[Row]:
    rows: list[Row] = []
    for path in paths:
        try:
            items = list(_items(path, read_single))
        except DataError as exc:
            rows.append(_error_row(Path(os.fspath(path)).name, exc))
            continue
        for subject_id, load, attributes in items:
            try:
                values = measure(load(), attributes)
                rows.append({"subject_id": subject_id, **{k: v for k, v in values.items() if k != "subject_id"}})
            except DataError as exc:
                rows.append(_error_row(subject_id, exc))
    return rows


# --------------------------------------------------------------------------- cine


def _attach_cine_masks(cine: CineCMR, seg: Path) -> CineCMR:
    labels = read_nifti(seg).array.astype(np.uint8)
    if labels.ndim == 3:  # one labelled frame: take it as ED
        labels = labels[None]
        frames = [cine.ed_index]
    else:
        frames = list(range(labels.shape[0]))
    if labels.shape[1:] != cine.image.shape[1:] or len(frames) not in (1, cine.n_frames):
        raise DataError(seg, f"mask shape {labels.shape} does not match the cine {cine.image.shape}")
    cine.segmentations = {t: labels[i] for i, t in enumerate(frames)}
    return cine


def _read_cine(path: Path) -> CineCMR:
    if path.is_dir():
        from cardiolens.io.dicom_read import read_dicom_series

        study = read_dicom_series(path)
    else:
        img = read_nifti(path, dtype=np.float32)
        if img.array.ndim != 4:
            raise DataError(path, f"a cine needs a 4-D (x, y, z, t) image, got {img.array.ndim}-D")
        study = CineCMR(img.array, img.spacing_mm, affine=img.affine, source=str(path), subject_id=path.name)
    if not isinstance(study, CineCMR):
        raise DataError(path, "not a cine (one frame per slice position)")
    return study


def _cine_of(study: object) -> CineCMR:
    from cardiolens.io.layouts.acdc import AcdcStudy
    from cardiolens.io.layouts.synthetic import SyntheticStudy

    if isinstance(study, AcdcStudy):
        return study.ed_es_cine()  # full-size frames; the shared ACDC cine is cropped
    if isinstance(study, SyntheticStudy):
        return study.cine
    if isinstance(study, CineCMR):
        return study
    raise UsageError(f"cannot measure a cine from {type(study).__name__}")


def _ivpg_row(cine: CineCMR, rr_interval_ms: float | None) -> Row:
    from cardiolens.measure.ivpg import compute_ivpg, ivpg_from_areas
    from cardiolens.measure.ivpg_template import ed_es_template_areas

    if len(cine.segmentations) == cine.n_frames and cine.n_frames > 2:
        result, source = compute_ivpg(cine, rr_interval_ms=rr_interval_ms), "all_frames"
    else:
        kwargs = {} if rr_interval_ms is None else {"rr_interval_ms": rr_interval_ms}
        result, source = ivpg_from_areas(ed_es_template_areas(cine, **kwargs)), "ed_es_template"
    return {"ivpg_source": source, "ivpg": result.to_dict(include_curves=False)}


def measure_cine_studies(
    paths: Sequence[str | os.PathLike[str]],
    *,
    seg: str | os.PathLike[str] | None = None,
    height_cm: float | None = None,
    weight_kg: float | None = None,
    rr_interval_ms: float | None = None,
    ivpg: bool = True,
) -> list[Row]:
    """Volumes, EF, mass, wall thickness (and IVPG features) of each cine study.

    Dataset folders use their ground-truth masks (ACDC: the full ED/ES frames);
    a single cine file or DICOM folder needs ``seg`` (labels 1 RV, 2 LV
    myocardium, 3 LV cavity; 4-D for every frame or 3-D for ED only).
    Height/weight come from the dataset when it has them.
    """
    from cardiolens.measure.cine import measure_cine

    def read(path: Path) -> CineCMR:
        cine = _read_cine(path)
        if seg is None:
            raise UsageError("measuring a single cine needs --seg with its label masks")
        return _attach_cine_masks(cine, Path(seg))

    def measure(study: object, attributes: dict[str, Any]) -> Row:
        cine = _cine_of(study)
        height = height_cm if height_cm is not None else attributes.get("height_cm")
        weight = weight_kg if weight_kg is not None else attributes.get("weight_kg")
        row: Row = {"label": attributes.get("label")}
        row.update(measure_cine(cine, height_cm=height, weight_kg=weight).to_dict())
        if ivpg:
            row.update(_ivpg_row(cine, rr_interval_ms))
        return row

    return _run(paths, read, measure)


# --------------------------------------------------------------------------- LGE


def measure_lge_studies(
    paths: Sequence[str | os.PathLike[str]],
    *,
    seg: str | os.PathLike[str] | None = None,
    method: str = "nsd",
    n_sd: float = 5.0,
) -> list[Row]:
    """Scar volume, %LGE, MVO and the >15% flag of each LGE study.

    A study is a dataset folder, an EMIDEC case folder, a simulated subject
    folder, a NIfTI file or a DICOM series. The myocardium comes from the
    study's own labels or from ``seg`` (LGE labels: 1 LV cavity,
    2 myocardium, 3 scar, 4 MVO), which takes precedence.
    ``method="labels"`` measures the scar of the labels themselves;
    ``"nsd"``/``"fwhm"`` threshold the signal inside the myocardium.
    """
    from cardiolens.measure.lge import measure_lge

    def read(path: Path) -> CMRVolume:
        from cardiolens.io.lge_study import read_lge_study

        volume = read_lge_study(path)
        if seg is not None:
            labels = read_nifti(seg).array.astype(np.uint8)
            if labels.shape != volume.image.shape:
                raise DataError(seg, f"label shape {labels.shape} does not match the image {volume.image.shape}")
            volume.labels, volume.label_scheme = labels, "lge"
        elif volume.labels is None:
            raise MissingDataError(path, "no myocardium/scar labels with this study; give them with --seg")
        return volume

    def measure(study: object, attributes: dict[str, Any]) -> Row:
        volume = getattr(study, "lge", study)
        if not isinstance(volume, CMRVolume):
            raise UsageError(f"cannot measure LGE from {type(study).__name__}")
        result = measure_lge(volume, method=method, n_sd=n_sd)  # type: ignore[arg-type]
        return {"label": attributes.get("label"), **result.to_dict()}

    return _run(paths, read, measure)


# --------------------------------------------------------------------------- ECG


def _read_ecg(path: Path) -> ECG12:
    if path.suffix.lower() == ".xml":
        from cardiolens.io.aecg import read_aecg

        return read_aecg(path)
    from cardiolens.io.wfdb_io import read_wfdb

    return read_wfdb(path)


def measure_ecg_studies(paths: Sequence[str | os.PathLike[str]], *, sex: str | None = None) -> list[Row]:
    """R/S voltages, QRS duration and the LVH voltage criteria of each ECG.

    Sex comes from ``sex`` or the dataset; rules that need it are None when it
    is unknown.
    """
    from cardiolens.measure.ecg import measure_ecg
    from cardiolens.measure.ecg_lvh import lvh_criteria

    def measure(study: object, attributes: dict[str, Any]) -> Row:
        ecg = getattr(study, "ecg", study)
        if not isinstance(ecg, ECG12):
            raise UsageError(f"cannot measure an ECG from {type(study).__name__}")
        subject_sex = sex or attributes.get("sex") or ecg.metadata.get("sex")
        measured = measure_ecg(ecg, sex=subject_sex)
        return {"label": attributes.get("label"), "sex": subject_sex, **measured.to_dict(), **lvh_criteria(measured, subject_sex).to_dict()}

    return _run(paths, _read_ecg, measure)


# --------------------------------------------------------------------------- output


def scalar_columns(rows: list[Row]) -> list[Row]:
    """Rows reduced to scalar values (nested dicts flattened with '.'; lists dropped) for CSV."""
    def flatten(prefix: str, value: Any, out: Row) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
        elif value is None or isinstance(value, (str, bool, int, float, np.generic)):
            out[prefix] = value

    flat = []
    for row in rows:
        out: Row = {}
        flatten("", row, out)
        flat.append(out)
    return flat
