"""EMIDEC layout: short-axis LGE slices with infarct masks (MICCAI 2020), as PNG files.

::

    ROOT/Case_Xnnn/slice_SSS.png      8-bit greyscale LGE slice (X = N normal, P infarct)
    ROOT/Case_Xnnn/slice_SSS_gt.png   its mask: 0 bg, 1 LV cavity, 2 normal myocardium, 3 infarct, 4 MVO
    ROOT/manifest.csv                 optional: case, label (normal | MI), n_slices, label_values ("0;1;2")

The PNG copy carries no pixel spacing, slice thickness or documented slice
direction: volumes get a (1, 1, 1) placeholder spacing with
``spacing_known=False`` and slices are stacked in file-number order.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from cardiolens.data.cohort import BadCase, Cohort, SubjectRecord
from cardiolens.data.labels import LGE_LABELS
from cardiolens.data.volume import CMRVolume
from cardiolens.errors import (
    CorruptFileError,
    InconsistentGeometryError,
    MalformedTableError,
    MissingDataError,
)
from cardiolens.io.files import require_dir, require_file
from cardiolens.io.layouts.base import records_from_folders
from cardiolens.io.tables import read_csv_rows

NAME = "emidec"
MANIFEST_FILE = "manifest.csv"
MANIFEST_COLUMNS = ("case", "label", "n_slices", "label_values")
#: Case letter -> label (EMIDEC naming: N = normal MRI, P = myocardial infarction).
LABEL_BY_LETTER = {"N": "normal", "P": "MI"}
MVO_LABEL = LGE_LABELS["mvo"]

_CASE_RE = re.compile(r"^Case_([A-Za-z])\d+$")
_SLICE_RE = re.compile(r"^slice_(\d+)\.png$")
_MAX_LABEL = max(LGE_LABELS.values())


def looks_like(root: Path) -> bool:
    """True when ``root`` holds ``Case_*/slice_*.png`` files."""
    root = Path(root)
    return root.is_dir() and any(root.glob("Case_*/slice_*.png"))


def slice_files(case_dir: Path) -> list[tuple[Path, Path]]:
    """(image, mask) paths of a case in file-number order.

    Raises:
        MissingDataError: no slices, a gap in the numbering (names the first
            missing slice file) or a slice without its ``_gt`` mask (names the mask).
    """
    numbered = sorted(
        (int(m.group(1)), p)
        for p in case_dir.iterdir()
        if (m := _SLICE_RE.match(p.name)) is not None and p.is_file()
    )
    if not numbered:
        raise MissingDataError(case_dir, "no slice_SSS.png files")
    numbers = [n for n, _ in numbered]
    for expected, (number, path) in zip(range(numbers[0], numbers[-1] + 1), numbered):
        if number != expected:
            width = len(path.name) - len("slice_.png")
            missing = case_dir / f"slice_{expected:0{width}d}.png"
            raise MissingDataError(missing, "slice file missing (gap in the slice numbering)")
    pairs = []
    for _, image in numbered:
        mask = image.with_name(f"{image.stem}_gt.png")
        if not mask.is_file():
            raise MissingDataError(mask, f"mask for {image.name} does not exist")
        pairs.append((image, mask))
    return pairs


def _read_manifest(path: Path) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Rows by case, plus the case names of duplicate rows."""
    rows = read_csv_rows(path, MANIFEST_COLUMNS)
    by_case: dict[str, dict[str, str]] = {}
    duplicates = []
    for row in rows:
        case = (row["case"] or "").strip()
        if case in by_case:
            duplicates.append(case)
        by_case[case] = row
    return by_case, duplicates


def _parse_row(path: Path, case: str, row: dict[str, str]) -> tuple[str, int, bool]:
    """(label, n_slices, has_mvo) from one manifest row."""
    label = (row.get("label") or "").strip()
    if label not in LABEL_BY_LETTER.values():
        raise MalformedTableError(path, f"row {case}: label {label!r} is not 'normal' or 'MI'")
    try:
        n_slices = int((row.get("n_slices") or "").strip())
        values = {int(v) for v in (row.get("label_values") or "").split(";") if v.strip()}
    except ValueError as exc:
        raise MalformedTableError(path, f"row {case}: unparseable n_slices or label_values ({exc})") from exc
    if n_slices < 1:
        raise MalformedTableError(path, f"row {case}: n_slices must be at least 1, got {n_slices}")
    if not values <= set(LGE_LABELS.values()):
        raise MalformedTableError(path, f"row {case}: label_values {sorted(values)} outside 0..{_MAX_LABEL}")
    return label, n_slices, MVO_LABEL in values


def _scan_case(case_dir: Path, manifest_path: Path, row: dict[str, str] | None) -> SubjectRecord:
    pairs = slice_files(case_dir)
    if row is not None:
        label, n_slices, has_mvo = _parse_row(manifest_path, case_dir.name, row)
        if len(pairs) != n_slices:
            raise MissingDataError(
                case_dir, f"{len(pairs)} slice(s) found, manifest.csv lists {n_slices}"
            )
        mvo: bool | None = has_mvo
    else:
        letter = _CASE_RE.match(case_dir.name).group(1).upper()  # type: ignore[union-attr]
        if letter not in LABEL_BY_LETTER:
            raise MissingDataError(
                case_dir, f"case letter {letter!r} is neither N (normal) nor P (MI); label unknown"
            )
        label, n_slices, mvo = LABEL_BY_LETTER[letter], len(pairs), None  # MVO needs the masks
    return SubjectRecord(
        subject_id=case_dir.name,
        label=label,
        paths={"folder": case_dir},
        attributes={"n_slices": n_slices, "has_mvo": mvo},
    )


def scan(root: Path) -> Cohort:
    """One record per ``Case_*`` folder; unusable cases go to ``bad_cases``.

    Labels, slice counts and MVO presence come from ``manifest.csv`` when
    present (a case missing from it, or a slice count that differs from it,
    is a bad case); otherwise the label comes from the case letter and
    ``has_mvo`` is None (it would need the masks decoded).

    Raises:
        MalformedTableError: ``manifest.csv`` exists but cannot be read or lacks a column.
    """
    root = require_dir(root)
    manifest_path = root / MANIFEST_FILE
    manifest: dict[str, dict[str, str]] | None = None
    bad: list[BadCase] = []
    if manifest_path.exists():
        manifest, duplicates = _read_manifest(manifest_path)
        bad += [BadCase(c, str(manifest_path), f"{c} has more than one row") for c in sorted(set(duplicates))]
    duplicated = {b.subject_id for b in bad}
    folders = sorted(p for p in root.iterdir() if p.is_dir() and _CASE_RE.match(p.name) and p.name not in duplicated)
    if manifest is not None:
        manifest = {case: row for case, row in manifest.items() if case not in duplicated}
    records, folder_bad = records_from_folders(root, folders, manifest, manifest_path, _scan_case)
    bad += folder_bad
    return Cohort(layout=NAME, root=root, records=records, bad_cases=bad)


def read_png(path: Path, what: str) -> np.ndarray:
    """Decode a PNG slice (``what`` = "image" or "mask") to a 2-D array; greyscale images keep their values."""
    require_file(path)
    try:
        with Image.open(path) as img:
            img.load()
            if img.format != "PNG":
                raise CorruptFileError(path, f"not a PNG file (found {img.format})")
            if img.mode in ("RGB", "RGBA", "LA") and what == "image":
                img = img.convert("L")
            array = np.asarray(img)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise CorruptFileError(path, f"cannot decode PNG ({exc})") from exc
    if array.ndim != 2:
        raise CorruptFileError(path, f"{what} must be single-channel, got shape {array.shape}")
    return array


def load(record: SubjectRecord) -> CMRVolume:
    """Stack a case's slices into an LGE volume (z, y, x) with its EMIDEC mask.

    Image values are the PNG grey levels (0-255, rescaled by the copy) as
    float32; labels are uint8 with :data:`cardiolens.data.labels.LGE_LABELS`.

    Raises:
        MissingDataError: a missing mask or slice, or a slice count different
            from the manifest (names the file or case folder).
        InconsistentGeometryError: slices of different sizes, or a mask whose
            size differs from its image (names the file).
        CorruptFileError: an undecodable PNG or mask values outside 0..4.
        EmptyFileError: a 0-byte PNG.
    """
    folder = require_dir(record.paths["folder"])
    pairs = slice_files(folder)
    expected = record.attributes.get("n_slices")
    if expected is not None and len(pairs) != int(expected):
        raise MissingDataError(folder, f"{len(pairs)} slice(s) found, manifest.csv lists {expected}")
    images, masks = [], []
    for image_path, mask_path in pairs:
        image = read_png(image_path, "image")
        if images and image.shape != images[0].shape:
            raise InconsistentGeometryError(
                image_path, f"size {image.shape} differs from {pairs[0][0].name} {images[0].shape}"
            )
        mask = read_png(mask_path, "mask")
        if mask.shape != image.shape:
            raise InconsistentGeometryError(
                mask_path, f"mask size {mask.shape} differs from image {image_path.name} {image.shape}"
            )
        if mask.max() > _MAX_LABEL or mask.min() < 0:
            bad = sorted(int(v) for v in np.unique(mask) if not 0 <= v <= _MAX_LABEL)
            raise CorruptFileError(mask_path, f"mask values {bad[:5]} outside the EMIDEC labels 0..{_MAX_LABEL}")
        images.append(image)
        masks.append(mask)
    return CMRVolume(
        image=np.stack(images).astype(np.float32),
        modality="lge",
        spacing_mm=(1.0, 1.0, 1.0),
        spacing_known=False,
        labels=np.stack(masks).astype(np.uint8),
        label_scheme="lge",
        subject_id=record.subject_id,
        source=str(folder),
        metadata={
            "label": record.label,
            "slice_files": [image.name for image, _ in pairs],
            "spacing_note": "undocumented in the PNG copy: (1, 1, 1) placeholder, measure in pixels",
            "slice_order_note": "file-number order of the copy; base/apex direction undocumented",
            "intensity_note": "8-bit grey levels rescaled by the copy (original intensities lost)",
        },
    )
