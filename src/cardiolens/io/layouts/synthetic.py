"""The simulated cohort's own layout (written by ``cardiolens data synth``).

::

    ROOT/SIMULATED_DATA.txt        the notice that nothing here is patient data
    ROOT/manifest.csv              one row per subject: labels, demographics, truth, outcomes
                                   (maps-only cohorts hold only the map files below)
    ROOT/SIMxxxx/subject.json      geometry/time extras (trigger times, ED/ES, spacing_known, truth)
    ROOT/SIMxxxx/cine.nii.gz       or cine_dicom/ (one MR file per slice and frame)
    ROOT/SIMxxxx/cine_seg.nii.gz   labels of every frame (CINE_LABELS)
    ROOT/SIMxxxx/lge.nii.gz        or lge_dicom/;   lge_seg.nii.gz (LGE_LABELS)
    ROOT/SIMxxxx/{os_dsi,t1,t2}.nii.gz, maps_seg.nii.gz (MAP_LABELS)
    ROOT/SIMxxxx/echo_a4c.avi      or echo_a4c.dcm (ultrasound multi-frame)
    ROOT/SIMxxxx/ecg.hea + ecg.dat (WFDB, mV)

Masks stay NIfTI in both formats (DICOM SEG is written by the systems that
predict masks).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from cardiolens import SIMULATED_NOTICE
from cardiolens.data import ECG12, CineCMR, CMRVolume, Cohort, EchoClip, SubjectRecord
from cardiolens.data.cohort import BadCase
from cardiolens.errors import MalformedTableError, MissingDataError, UsageError
from cardiolens.io.atomic import atomic_dir, write_text_atomic
from cardiolens.io.nifti import read_nifti, write_nifti
from cardiolens.io.reorient import match_slice_order

NAME = "synthetic"
NOTICE_FILE = "SIMULATED_DATA.txt"
MANIFEST_FILE = "manifest.csv"
MAP_KINDS = ("os_dsi", "t1", "t2")
Format = Literal["nifti", "dicom"]


@dataclass(eq=False)
class SyntheticStudy:
    """All data of one simulated subject plus its manifest attributes."""

    subject_id: str
    cine: CineCMR
    lge: CMRVolume
    maps: dict[str, CMRVolume]
    echo: EchoClip
    ecg: ECG12
    attributes: dict[str, Any] = field(default_factory=dict)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_sidecar(folder: Path, fmt: str, **parts: Any) -> None:
    """Write ``subject.json``: the SIMULATED notice, the file format and the given parts (numpy values made plain JSON)."""
    sidecar = {"simulated": True, "notice": SIMULATED_NOTICE, "format": fmt, **parts}
    write_text_atomic(folder / "subject.json", json.dumps(_jsonable(sidecar), indent=1))


def _write_subject(study: SyntheticStudy, folder: Path, fmt: Format) -> None:
    from cardiolens.io.wfdb_io import write_wfdb

    cine, lge = study.cine, study.lge
    seg = np.stack([cine.segmentations[t] for t in range(cine.n_frames)]).astype(np.uint8)
    frame_ms = float(np.mean(np.diff(cine.trigger_times_ms))) if cine.trigger_times_ms is not None else None
    write_nifti(folder / "cine_seg.nii.gz", seg, cine.spacing_mm, cine.affine, frame_time_ms=frame_ms)
    write_nifti(folder / "lge_seg.nii.gz", np.asarray(lge.labels, np.uint8), lge.spacing_mm, lge.affine)
    first_map = study.maps[MAP_KINDS[0]]
    write_nifti(folder / "maps_seg.nii.gz", np.asarray(first_map.labels, np.uint8), first_map.spacing_mm, first_map.affine)
    for kind in MAP_KINDS:
        m = study.maps[kind]
        write_nifti(folder / f"{kind}.nii.gz", m.image.astype(np.float32), m.spacing_mm, m.affine)
    if fmt == "dicom":
        from cardiolens.io.dicom_echo import write_dicom_echo
        from cardiolens.io.dicom_write import write_cine_dicom, write_volume_dicom

        write_cine_dicom(cine, folder / "cine_dicom", patient_id=study.subject_id)
        write_volume_dicom(lge, folder / "lge_dicom", patient_id=study.subject_id)
        write_dicom_echo(study.echo, folder / "echo_a4c.dcm")
    else:
        from cardiolens.io.video import write_video

        write_nifti(folder / "cine.nii.gz", cine.image.astype(np.float32), cine.spacing_mm, cine.affine, frame_time_ms=frame_ms)
        write_nifti(folder / "lge.nii.gz", lge.image.astype(np.float32), lge.spacing_mm, lge.affine)
        write_video(study.echo, folder / "echo_a4c.avi")
    write_wfdb(study.ecg, folder / "ecg")
    write_sidecar(
        folder,
        fmt,
        cine={
            "trigger_times_ms": cine.trigger_times_ms,
            "ed_index": cine.ed_index,
            "es_index": cine.es_index,
            "slice_thickness_mm": cine.slice_thickness_mm,
            "metadata": cine.metadata,
        },
        lge={"metadata": lge.metadata},
        maps={kind: {"metadata": study.maps[kind].metadata} for kind in MAP_KINDS},
        echo={"pixel_spacing_mm": study.echo.pixel_spacing_mm, "view": study.echo.view, "metadata": study.echo.metadata},
        ecg={"metadata": study.ecg.metadata},
    )


def write_cohort(
    studies: list[SyntheticStudy], manifest: pd.DataFrame, out_dir: str | Path, fmt: Format = "nifti"
) -> Path:
    """Write a simulated cohort in this layout; the folder appears only when complete."""
    if fmt not in ("nifti", "dicom"):
        raise UsageError(f"format must be 'nifti' or 'dicom', got {fmt!r}")
    out = Path(out_dir)
    with atomic_dir(out) as tmp:
        (tmp / NOTICE_FILE).write_text(SIMULATED_NOTICE + "\n", encoding="utf-8")
        for study in studies:
            folder = tmp / study.subject_id
            folder.mkdir()
            _write_subject(study, folder, fmt)
        manifest.to_csv(tmp / MANIFEST_FILE, index=False)
    return out


def looks_like(root: Path) -> bool:
    return (root / NOTICE_FILE).is_file() and (root / MANIFEST_FILE).is_file()


def scan(root: Path) -> Cohort:
    """One record per manifest row (``subject_id`` is required).

    Label = the ``cine_group`` column when present (full cohort), else
    ``scar_pattern`` (the maps-only cohort of :mod:`cardiolens.synth.maps_cohort`),
    else ``lge_pattern`` (the LGE-only cohort of :mod:`cardiolens.synth.lge_cohort`),
    else None.
    """
    path = root / MANIFEST_FILE
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise MalformedTableError(path, f"cannot parse CSV ({exc})") from exc
    if "subject_id" not in table.columns:
        raise MalformedTableError(path, "missing column(s) subject_id")
    label_column = next((c for c in ("cine_group", "scar_pattern", "lge_pattern") if c in table.columns), None)
    records: list[SubjectRecord] = []
    bad: list[BadCase] = []
    for row in table.to_dict(orient="records"):
        sid = str(row["subject_id"])
        folder = root / sid
        if not (folder / "subject.json").is_file():
            bad.append(BadCase(sid, str(folder / "subject.json"), "subject folder or subject.json missing"))
            continue
        attrs = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items() if k != "subject_id"}
        label = None if label_column is None or attrs.get(label_column) is None else str(attrs[label_column])
        records.append(SubjectRecord(subject_id=sid, label=label, paths={"folder": folder}, attributes=attrs))
    return Cohort(layout=NAME, root=root, records=records, bad_cases=bad, simulated=True)


def _sidecar(folder: Path) -> dict[str, Any]:
    path = folder / "subject.json"
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError) as exc:
        raise MalformedTableError(path, f"cannot read subject sidecar ({exc})") from exc


def _volume(folder: Path, name: str, modality: str, labels: np.ndarray | None, scheme: str, sid: str, meta: dict[str, Any]) -> CMRVolume:
    img = read_nifti(folder / f"{name}.nii.gz", dtype=np.float32)
    return CMRVolume(img.array, modality, img.spacing_mm, True, img.affine, labels, scheme, sid, str(img.path), meta)  # type: ignore[arg-type]


def load_cine(record: SubjectRecord, sidecar: dict[str, Any] | None = None) -> CineCMR:
    folder: Path = record.paths["folder"]
    side = (sidecar or _sidecar(folder))["cine"]
    seg_nii = read_nifti(folder / "cine_seg.nii.gz")
    seg = seg_nii.array.astype(np.uint8)
    if (folder / "cine_dicom").is_dir():
        from cardiolens.io.dicom_read import read_dicom_series

        cine = read_dicom_series(folder / "cine_dicom")
        if not isinstance(cine, CineCMR):
            raise MissingDataError(folder / "cine_dicom", "expected a cine series (several trigger times)")
        image, affine = match_slice_order(cine.image, cine.affine, seg_nii.affine)
        spacing, source = cine.spacing_mm, cine.source
    else:
        nii = read_nifti(folder / "cine.nii.gz", dtype=np.float32)
        image, spacing, affine, source = nii.array, nii.spacing_mm, nii.affine, str(nii.path)
    return CineCMR(
        image=image,
        spacing_mm=spacing,
        spacing_known=True,
        affine=affine,
        trigger_times_ms=np.asarray(side["trigger_times_ms"]),
        ed_index=int(side["ed_index"]),
        es_index=side["es_index"],
        segmentations={t: seg[t] for t in range(seg.shape[0])},
        slice_thickness_mm=side.get("slice_thickness_mm"),
        subject_id=record.subject_id,
        source=source,
        metadata=side["metadata"],
    )


def load_lge(record: SubjectRecord, sidecar: dict[str, Any] | None = None) -> CMRVolume:
    folder: Path = record.paths["folder"]
    meta = (sidecar or _sidecar(folder))["lge"]["metadata"]
    labels_nii = read_nifti(folder / "lge_seg.nii.gz")
    labels = labels_nii.array.astype(np.uint8)
    if (folder / "lge_dicom").is_dir():
        from cardiolens.io.dicom_read import read_dicom_series

        vol = read_dicom_series(folder / "lge_dicom", modality="lge")
        if not isinstance(vol, CMRVolume):
            raise MissingDataError(folder / "lge_dicom", "expected a single-phase LGE series")
        image, affine = match_slice_order(vol.image, vol.affine, labels_nii.affine)
        return CMRVolume(image, "lge", vol.spacing_mm, True, affine, labels, "lge", record.subject_id, vol.source, meta)
    return _volume(folder, "lge", "lge", labels, "lge", record.subject_id, meta)


def load_maps(record: SubjectRecord, sidecar: dict[str, Any] | None = None) -> dict[str, CMRVolume]:
    folder: Path = record.paths["folder"]
    side = (sidecar or _sidecar(folder))["maps"]
    labels = read_nifti(folder / "maps_seg.nii.gz").array.astype(np.uint8)
    return {kind: _volume(folder, kind, kind, labels, "map", record.subject_id, side[kind]["metadata"]) for kind in MAP_KINDS}


def load_echo(record: SubjectRecord, sidecar: dict[str, Any] | None = None) -> EchoClip:
    folder: Path = record.paths["folder"]
    side = (sidecar or _sidecar(folder))["echo"]
    spacing = tuple(side["pixel_spacing_mm"]) if side.get("pixel_spacing_mm") else None
    if (folder / "echo_a4c.dcm").is_file():
        from cardiolens.io.dicom_echo import read_dicom_echo

        clip = read_dicom_echo(folder / "echo_a4c.dcm", view=side.get("view", "A4C"))
    else:
        from cardiolens.io.video import read_video

        clip = read_video(folder / "echo_a4c.avi", view=side.get("view", "A4C"), pixel_spacing_mm=spacing)  # type: ignore[arg-type]
    clip.subject_id = record.subject_id
    clip.metadata = {**clip.metadata, **side["metadata"]}
    return clip


def load_ecg(record: SubjectRecord, sidecar: dict[str, Any] | None = None) -> ECG12:
    from cardiolens.io.wfdb_io import read_wfdb

    folder: Path = record.paths["folder"]
    ecg = read_wfdb(folder / "ecg")
    ecg.subject_id = record.subject_id
    ecg.metadata = {**ecg.metadata, **(sidecar or _sidecar(folder))["ecg"]["metadata"]}
    return ecg


def load(record: SubjectRecord) -> SyntheticStudy | dict[str, CMRVolume] | CMRVolume:
    """Every modality of one simulated subject.

    Only its maps (by kind) in a maps-only cohort (``subject.json`` kind
    "maps"); only its LGE volume in an LGE-only cohort (kind "lge").
    """
    side = _sidecar(record.paths["folder"])  # read once for all five parts
    try:
        if side.get("kind") == "maps":
            return load_maps(record, side)
        if side.get("kind") == "lge":
            return load_lge(record, side)
        return SyntheticStudy(
            subject_id=record.subject_id,
            cine=load_cine(record, side),
            lge=load_lge(record, side),
            maps=load_maps(record, side),
            echo=load_echo(record, side),
            ecg=load_ecg(record, side),
            attributes=dict(record.attributes),
        )
    except KeyError as exc:
        raise MalformedTableError(record.paths["folder"] / "subject.json", f"missing field {exc}") from exc


__all__ = [
    "NAME",
    "SyntheticStudy",
    "load",
    "load_cine",
    "load_ecg",
    "load_echo",
    "load_lge",
    "load_maps",
    "looks_like",
    "scan",
    "write_cohort",
]
