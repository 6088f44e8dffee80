"""Slices for ``scar-pattern``: loading, labelling and preprocessing (EMIDEC LGE and simulated maps).

Training/evaluation data (:func:`load_slice_set`) come from a dataset folder:

- EMIDEC (``emidec`` layout): one LGE channel; classes ``normal`` and ``MI``.
  With ``slice_labels="mask"`` a slice is MI only when its manual mask holds
  infarct (3) or MVO (4), so an MI case's remote slices count as normal and a
  normal case's slices are always normal; ``"case"`` gives every slice its
  case's label. Scar mask = infarct + MVO.
- the simulated cohort (``synthetic`` layout, full or maps-only): channels
  among ``os_dsi`` (%ΔSI), ``t1`` and ``t2`` (ms) stacked in the configured
  order; every slice gets its subject's ``label_column`` class (the 4
  :data:`~cardiolens.data.labels.SCAR_PATTERNS`). Scar mask = abnormal
  myocardium (:data:`~cardiolens.data.labels.MAP_LABELS` 3).

Preprocessing (:func:`preprocess_stack`, MONAI array transforms): a centred
square crop of ``crop_fraction`` of the shorter side (default per layout,
:data:`LAYOUT_CROP_FRACTION`: 0.6 keeps all EMIDEC myocardium, rows 83-173 and
columns 67-185 of 256; the simulated heart needs 0.75: at 0.6 one subject in
five loses some myocardium, measured on 200 subjects),
resized to ``image_size`` pixels (area averaging when shrinking, bilinear when
enlarging), then z-scored per slice and channel. Masks get the same crop and a
nearest-neighbour resize, so they stay on the image grid.

Single studies for ``predict``/``explain`` (:func:`read_input_study`): an
EMIDEC case folder, a folder with one ``{channel}.nii.gz`` per channel (a
simulated subject), a PNG slice, a 2-D/3-D NIfTI image or a DICOM series.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cardiolens.data._checks import require_finite
from cardiolens.data.cohort import BadCase, Cohort, SubjectRecord
from cardiolens.data.labels import LGE_LABELS, MAP_LABELS, SCAR_PATTERNS
from cardiolens.errors import (
    CorruptFileError,
    DataError,
    InconsistentGeometryError,
    MalformedTableError,
    MissingDataError,
    UsageError,
)
from cardiolens.io.files import require_file
from cardiolens.io.layouts import emidec, scan, synthetic
from cardiolens.systems.scar_pattern.config import ScarPatternConfig

#: Channels each layout can provide (the first ones are the default).
LAYOUT_CHANNELS: dict[str, tuple[str, ...]] = {"emidec": ("lge",), "synthetic": synthetic.MAP_KINDS}
#: Default centre-crop fraction per layout (config ``crop_fraction=None``).
LAYOUT_CROP_FRACTION: dict[str, float] = {"emidec": 0.6, "synthetic": 0.75}
_DEFAULT_CHANNELS: dict[str, tuple[str, ...]] = {"emidec": ("lge",), "synthetic": ("os_dsi",)}
_CLASS_NAMES: dict[str, tuple[str, ...]] = {"emidec": ("normal", "MI"), "synthetic": SCAR_PATTERNS}
#: Mask values counted as scar: EMIDEC infarct + MVO; simulated abnormal myocardium.
EMIDEC_SCAR_LABELS: tuple[int, ...] = (LGE_LABELS["infarct"], LGE_LABELS["mvo"])
MAP_SCAR_LABEL: int = MAP_LABELS["abnormal_myocardium"]
_CASE_RE = re.compile(r"^Case_([A-Za-z])\d+$")


@dataclass
class SliceSet:
    """Preprocessed slices of a cohort with their labels and scar masks.

    Attributes:
        images: (N, C, H, W) float32, cropped, resized to ``image_size`` and
            z-scored per slice and channel.
        labels: (N,) int64 slice class, an index into ``class_names``.
        subject_ids: the subject of each slice.
        slice_index: (N,) index of each slice in its subject's stack.
        scar_masks: (N, H, W) bool on the image grid, or None when the data have no masks.
        class_names: class of each label index.
        case_labels: subject -> case class index.
        channels: name of each image channel.
        layout: ``"emidec"`` or ``"synthetic"``.
        simulated: True for the simulated cohort.
    """

    images: np.ndarray
    labels: np.ndarray
    subject_ids: list[str]
    slice_index: np.ndarray
    scar_masks: np.ndarray | None
    class_names: tuple[str, ...]
    case_labels: dict[str, int]
    channels: tuple[str, ...]
    layout: str
    simulated: bool

    def __post_init__(self) -> None:
        n = len(self.images)
        lengths = {len(self.labels), len(self.subject_ids), len(self.slice_index)}
        if self.scar_masks is not None:
            lengths.add(len(self.scar_masks))
        if lengths != {n}:
            raise UsageError(f"SliceSet parts disagree in length: images {n}, others {sorted(lengths)}")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def subjects(self) -> list[str]:
        """Distinct subjects in slice order."""
        return list(dict.fromkeys(self.subject_ids))

    def subset(self, subject_ids: Sequence[str]) -> SliceSet:
        """All slices of these subjects, in their current order."""
        wanted = set(subject_ids)
        unknown = sorted(wanted - set(self.subject_ids))
        if unknown:
            raise UsageError(f"subject(s) not in this slice set: {', '.join(unknown[:5])}")
        keep = np.array([s in wanted for s in self.subject_ids], dtype=bool)
        return dataclasses.replace(
            self,
            images=self.images[keep],
            labels=self.labels[keep],
            subject_ids=[s for s, k in zip(self.subject_ids, keep) if k],
            slice_index=self.slice_index[keep],
            scar_masks=None if self.scar_masks is None else self.scar_masks[keep],
            case_labels={s: c for s, c in self.case_labels.items() if s in wanted},
        )


def default_channels(layout: str) -> tuple[str, ...]:
    """The channels used when the config names none: ``("lge",)`` on EMIDEC, ``("os_dsi",)`` simulated."""
    if layout not in _DEFAULT_CHANNELS:
        raise UsageError(f"scar-pattern reads the emidec and synthetic layouts, not {layout!r}")
    return _DEFAULT_CHANNELS[layout]


def class_names_for(layout: str) -> tuple[str, ...]:
    """Class names of a layout: ``("normal", "MI")`` on EMIDEC, the 4 scar patterns simulated."""
    if layout not in _CLASS_NAMES:
        raise UsageError(f"scar-pattern reads the emidec and synthetic layouts, not {layout!r}")
    return _CLASS_NAMES[layout]


def resolve_channels(layout: str, channels: Sequence[str]) -> tuple[str, ...]:
    """The configured channels (or the layout's default), checked against what the layout holds."""
    chosen = tuple(channels) or default_channels(layout)
    available = LAYOUT_CHANNELS[layout]
    unknown = [c for c in chosen if c not in available]
    if unknown or len(set(chosen)) != len(chosen):
        raise UsageError(
            f"channels {list(chosen)} are not distinct channels of the {layout} layout (available: {', '.join(available)})"
        )
    return chosen


# --------------------------------------------------------------------------- preprocessing


def resolve_crop_fraction(layout: str, crop_fraction: float | None) -> float:
    """``crop_fraction``, or the layout's default when None (1.0 for a layout without one)."""
    return float(crop_fraction) if crop_fraction is not None else LAYOUT_CROP_FRACTION.get(layout, 1.0)


def _crop_size(shape_yx: tuple[int, int], crop_fraction: float) -> int:
    """Side of the centred square crop: ``crop_fraction`` of the shorter side (keeps the aspect ratio)."""
    if not 0.0 < crop_fraction <= 1.0:
        raise UsageError(f"crop_fraction must be in (0, 1], got {crop_fraction}")
    return max(1, math.ceil(crop_fraction * min(shape_yx)))


def preprocess_stack(
    stack: np.ndarray, crop_fraction: float, image_size: int, *, source: str = "<array>"
) -> np.ndarray:
    """Crop, resize and z-score slices.

    Args:
        stack: (S, C, Y, X) raw values (any unit).
        crop_fraction: side of the centred square crop as a fraction of the shorter side.
        image_size: output side, pixels.
        source: the file or folder the stack came from (named in errors).

    Returns:
        (S, C, image_size, image_size) float32; each slice and channel has
        mean 0 and SD 1 (a constant one is all zeros).

    Raises:
        NonFiniteValueError: NaN or Inf in ``stack`` (names ``source``).
        InconsistentGeometryError: ``stack`` is not 4-D.
    """
    from monai.transforms import CenterSpatialCrop, NormalizeIntensity, Resize
    from monai.utils import convert_to_numpy

    array = np.asarray(stack, dtype=np.float32)
    if array.ndim != 4:
        raise InconsistentGeometryError(source, f"expected slices as (S, C, Y, X), got shape {array.shape}")
    require_finite(array, str(source), "image")
    n_slices, n_channels, ny, nx = array.shape
    side = _crop_size((ny, nx), crop_fraction)
    flat = array.reshape(n_slices * n_channels, ny, nx)  # MONAI treats axis 0 as channels: one pass for all
    cropped = CenterSpatialCrop(roi_size=(side, side))(flat)
    mode = "area" if side >= image_size else "bilinear"  # average when shrinking, interpolate when enlarging
    resized = Resize((image_size, image_size), mode=mode)(cropped)
    normalised = NormalizeIntensity(channel_wise=True, nonzero=False)(resized)
    out = convert_to_numpy(normalised, dtype=np.float32)
    return out.reshape(n_slices, n_channels, image_size, image_size)


def preprocess_mask(masks: np.ndarray, crop_fraction: float, image_size: int) -> np.ndarray:
    """The crop of :func:`preprocess_stack` and a nearest-neighbour resize of (S, Y, X) masks -> (S, H, W) bool."""
    from monai.transforms import CenterSpatialCrop, Resize
    from monai.utils import convert_to_numpy

    array = np.asarray(masks, dtype=bool)
    if array.ndim != 3:
        raise UsageError(f"masks must be (S, Y, X), got shape {array.shape}")
    side = _crop_size(array.shape[1:], crop_fraction)  # type: ignore[arg-type]
    cropped = CenterSpatialCrop(roi_size=(side, side))(array.astype(np.float32))
    # nearest-exact samples pixel centres the way area/bilinear (align_corners=False) place them
    resized = Resize((image_size, image_size), mode="nearest-exact")(cropped)
    return convert_to_numpy(resized) > 0.5


# --------------------------------------------------------------------------- cohorts


@dataclass
class _Slices:
    """One subject's raw slices before preprocessing."""

    stack: np.ndarray  # (S, C, Y, X)
    scar: np.ndarray  # (S, Y, X) bool
    labels: np.ndarray  # (S,) int
    case_label: int
    source: str


def _emidec_slices(record: SubjectRecord, config: ScarPatternConfig, class_names: tuple[str, ...]) -> _Slices:
    if record.label not in class_names:
        raise MissingDataError(record.paths["folder"], f"case label {record.label!r} is not one of {', '.join(class_names)}")
    volume = emidec.load(record)
    case = class_names.index(record.label)
    scar = np.isin(np.asarray(volume.labels), EMIDEC_SCAR_LABELS)
    if config.slice_labels == "mask":
        positive = class_names.index("MI")
        labels = np.where(scar.any(axis=(1, 2)) & (case == positive), positive, class_names.index("normal"))
    else:
        labels = np.full(len(scar), case)
    return _Slices(volume.image[:, None], scar, labels, case, volume.source)


def _synthetic_slices(
    record: SubjectRecord, config: ScarPatternConfig, channels: tuple[str, ...], class_names: tuple[str, ...], manifest: Path
) -> _Slices:
    name = record.attributes.get(config.label_column)
    if name not in class_names:
        raise MalformedTableError(
            manifest, f"{record.subject_id}: {config.label_column} {name!r} is not one of {', '.join(class_names)}"
        )
    try:
        maps = synthetic.load_maps(record)
    except KeyError as exc:
        raise MalformedTableError(record.paths["folder"] / "subject.json", f"missing field {exc}") from exc
    stack = np.stack([maps[c].image for c in channels], axis=1)
    scar = np.asarray(maps[channels[0]].labels) == MAP_SCAR_LABEL
    case = class_names.index(str(name))
    return _Slices(stack, scar, np.full(len(stack), case), case, str(record.paths["folder"]))


def _select(cohort: Cohort, subject_ids: Sequence[str] | None) -> tuple[list[SubjectRecord], list[BadCase]]:
    if subject_ids is None:
        return list(cohort.records), list(cohort.bad_cases)
    wanted = list(dict.fromkeys(subject_ids))
    known = set(cohort.subject_ids) | {b.subject_id for b in cohort.bad_cases}
    unknown = [s for s in wanted if s not in known]
    if unknown:
        raise UsageError(f"{cohort.root}: subject(s) not in the data: {', '.join(unknown[:5])}")
    chosen = set(wanted)
    return [r for r in cohort.records if r.subject_id in chosen], [b for b in cohort.bad_cases if b.subject_id in chosen]


def load_slice_set(
    data: str | Path, config: ScarPatternConfig, subject_ids: Sequence[str] | None = None
) -> tuple[SliceSet, list[BadCase]]:
    """Load, label and preprocess every slice of a dataset (or of ``subject_ids`` only).

    Args:
        data: an EMIDEC or simulated-cohort folder (``emidec:PATH`` forces the layout).
        config: channels, label settings, crop and size.
        subject_ids: load only these subjects (all when None).

    Returns:
        The slices, and the subjects that could not be used (from the scan or
        from loading: each names the file and the problem).

    Raises:
        UsageError: another layout, channels the layout lacks, or unknown subject ids.
        MalformedTableError: the simulated manifest lacks ``config.label_column``.
        MissingDataError: no slice at all could be loaded (names the data folder).
    """
    cohort = scan(data)
    layout = cohort.layout
    if layout not in _CLASS_NAMES:
        raise UsageError(f"{cohort.root}: scar-pattern reads the emidec and synthetic layouts, found {layout!r}")
    channels = resolve_channels(layout, config.channels)
    class_names = class_names_for(layout)
    manifest = cohort.root / synthetic.MANIFEST_FILE
    if layout == "synthetic" and cohort.records and not any(config.label_column in r.attributes for r in cohort.records):
        raise MalformedTableError(manifest, f"missing column {config.label_column!r} (config label_column)")
    records, bad = _select(cohort, subject_ids)
    crop_fraction = resolve_crop_fraction(layout, config.crop_fraction)

    parts: list[tuple[str, _Slices, np.ndarray, np.ndarray]] = []
    for record in records:
        try:
            if layout == "emidec":
                one = _emidec_slices(record, config, class_names)
            else:
                one = _synthetic_slices(record, config, channels, class_names, manifest)
            images = preprocess_stack(one.stack, crop_fraction, config.image_size, source=one.source)
            masks = preprocess_mask(one.scar, crop_fraction, config.image_size)
        except DataError as exc:
            bad.append(BadCase(record.subject_id, exc.path, exc.problem))
            continue
        parts.append((record.subject_id, one, images, masks))
    if not parts:
        first = f"; first: {bad[0].path}: {bad[0].problem}" if bad else ""
        raise MissingDataError(cohort.root, f"no slice could be loaded ({len(bad)} bad case(s){first})")

    slice_set = SliceSet(
        images=np.concatenate([p[2] for p in parts]),
        labels=np.concatenate([p[1].labels for p in parts]).astype(np.int64),
        subject_ids=[sid for sid, one, _, _ in parts for _ in range(len(one.labels))],
        slice_index=np.concatenate([np.arange(len(p[1].labels)) for p in parts]),
        scar_masks=np.concatenate([p[3] for p in parts]),
        class_names=class_names,
        case_labels={sid: one.case_label for sid, one, _, _ in parts},
        channels=channels,
        layout=layout,
        simulated=cohort.simulated,
    )
    return slice_set, bad


# --------------------------------------------------------------------------- single studies


@dataclass
class InputStudy:
    """One study to predict or explain, before preprocessing.

    Attributes:
        subject_id: from the folder or file name.
        source: the file or folder read.
        stack: (S, C, Y, X) float32 raw values.
        scar_masks: (S, Y, X) bool scar masks when the input carries them, else None.
        channels: name of each channel.
        case_label: the case's class name when the input says it (EMIDEC case
            letter, simulated ``subject.json``), else None.
    """

    subject_id: str
    source: str
    stack: np.ndarray
    scar_masks: np.ndarray | None
    channels: tuple[str, ...]
    case_label: str | None = None


def _single_channel(path: Path, channels: tuple[str, ...]) -> None:
    if len(channels) != 1:
        raise UsageError(
            f"{path}: one image has one channel, the model needs {len(channels)} ({', '.join(channels)}); "
            "give a folder holding one NIfTI file per channel ({channel}.nii.gz)"
        )


def _png_study(path: Path, channels: tuple[str, ...]) -> InputStudy:
    _single_channel(path, channels)
    image = emidec.read_png(path, "image").astype(np.float32)
    mask_path = path.with_name(f"{path.stem}_gt.png")
    masks = None
    if mask_path.is_file():  # EMIDEC convention: a sibling label mask, scar = infarct + MVO
        mask = emidec.read_png(mask_path, "mask")
        if mask.shape != image.shape:
            raise InconsistentGeometryError(mask_path, f"mask size {mask.shape} differs from image {path.name} {image.shape}")
        masks = np.isin(mask, EMIDEC_SCAR_LABELS)[None]
    return InputStudy(path.stem, str(path), image[None, None], masks, channels)


def _nifti_slices(path: Path) -> np.ndarray:
    """(z, y, x) float32 from a 2-D or 3-D NIfTI file."""
    import gzip
    import zlib

    import nibabel as nib

    from cardiolens.io.nifti import read_nifti

    require_file(path)
    damaged = (OSError, EOFError, ValueError, zlib.error, gzip.BadGzipFile, nib.filebasedimages.ImageFileError)
    try:
        image = nib.load(str(path))
        ndim = len(image.shape)  # header only
        if ndim == 2:  # read_nifti handles 3-D/4-D only; a single slice is (x, y) on disk
            return np.ascontiguousarray(np.asarray(image.dataobj, dtype=np.float32).T[None])
    except damaged as exc:
        raise CorruptFileError(path, f"cannot read NIfTI ({exc})") from exc
    if ndim != 3:
        raise InconsistentGeometryError(path, f"expected a 2-D or 3-D image (slices), got {ndim}-D")
    return read_nifti(path, dtype=np.float32).array


def _nifti_study(path: Path, channels: tuple[str, ...]) -> InputStudy:
    _single_channel(path, channels)
    array = _nifti_slices(path)
    require_finite(array, str(path), "image")
    return InputStudy(path.name.split(".")[0], str(path), array[:, None], None, channels)


def _case_label_from_sidecar(folder: Path) -> str | None:
    try:
        side = json.loads((folder / "subject.json").read_text(encoding="utf-8"))
        return str(next(iter(side["maps"].values()))["metadata"]["pattern"])
    except (OSError, ValueError, KeyError, TypeError, StopIteration):
        return None  # the label is optional for prediction


def _maps_folder_study(folder: Path, channels: tuple[str, ...]) -> InputStudy:
    arrays: list[np.ndarray] = []
    for channel in channels:
        path = folder / f"{channel}.nii.gz"
        if not path.exists() and (folder / f"{channel}.nii").exists():
            path = folder / f"{channel}.nii"
        array = _nifti_slices(path)
        require_finite(array, str(path), "image")
        if arrays and array.shape != arrays[0].shape:
            raise InconsistentGeometryError(path, f"shape {array.shape} differs from {channels[0]} {arrays[0].shape}")
        arrays.append(array)
    masks = None
    seg = folder / "maps_seg.nii.gz"
    if seg.exists():
        labels = _nifti_slices(seg)
        if labels.shape != arrays[0].shape:
            raise InconsistentGeometryError(seg, f"mask shape {labels.shape} differs from the images {arrays[0].shape}")
        masks = np.rint(labels) == MAP_SCAR_LABEL
    return InputStudy(folder.name, str(folder), np.stack(arrays, axis=1), masks, channels, _case_label_from_sidecar(folder))


def _emidec_case_study(folder: Path, channels: tuple[str, ...]) -> InputStudy:
    _single_channel(folder, channels)
    match = _CASE_RE.match(folder.name)
    label = emidec.LABEL_BY_LETTER.get(match.group(1).upper()) if match else None
    volume = emidec.load(SubjectRecord(subject_id=folder.name, label=label, paths={"folder": folder}))
    masks = np.isin(np.asarray(volume.labels), EMIDEC_SCAR_LABELS)
    return InputStudy(folder.name, str(folder), volume.image[:, None].astype(np.float32), masks, channels, label)


def _dicom_study(path: Path, channels: tuple[str, ...]) -> InputStudy:
    from cardiolens.data.cine import CineCMR
    from cardiolens.io.dicom_read import read_dicom_series

    _single_channel(path, channels)
    series = read_dicom_series(path)
    if isinstance(series, CineCMR):
        raise DataError(path, f"a cine series ({series.n_frames} frames per slice); scar-pattern needs one image per slice")
    require_finite(series.image, str(path), "image")
    return InputStudy(path.stem if path.is_file() else path.name, str(path), series.image[:, None].astype(np.float32), None, channels)


def read_input_study(path: str | Path, channels: Sequence[str]) -> InputStudy:
    """Read one study for prediction or explanation.

    Accepted inputs:

    - a folder with ``{channel}.nii.gz`` for every channel (a simulated
      subject folder, or a user's map folder); ``maps_seg.nii.gz`` (MAP_LABELS)
      gives the scar masks and ``subject.json`` the case label when present;
    - an EMIDEC case folder (``slice_SSS.png`` + ``slice_SSS_gt.png``);
    - one PNG slice (scar mask from a sibling ``NAME_gt.png`` with EMIDEC labels);
    - a 2-D or 3-D NIfTI image (3-D: slices along z);
    - a DICOM series folder or a single (enhanced multi-frame) DICOM file.

    Single-image inputs carry one channel, so a multi-channel model needs a folder.

    Raises:
        UsageError: a single-channel input for a multi-channel model.
        DataError (subclass): a missing, empty, corrupt, non-finite or
            inconsistent file, naming it.
    """
    p = Path(path)
    chosen = tuple(channels)
    if not chosen:
        raise UsageError("read_input_study needs the model's channel names")
    if p.is_dir():
        if (p / "subject.json").is_file() or any((p / f"{c}.nii.gz").exists() or (p / f"{c}.nii").exists() for c in chosen):
            return _maps_folder_study(p, chosen)
        if any(p.glob("slice_*.png")):
            return _emidec_case_study(p, chosen)
        return _dicom_study(p, chosen)
    require_file(p)
    name = p.name.lower()
    if name.endswith(".png"):
        return _png_study(p, chosen)
    if name.endswith((".nii", ".nii.gz")):
        return _nifti_study(p, chosen)
    return _dicom_study(p, chosen)


__all__ = [
    "EMIDEC_SCAR_LABELS",
    "LAYOUT_CHANNELS",
    "MAP_SCAR_LABEL",
    "InputStudy",
    "SliceSet",
    "class_names_for",
    "default_channels",
    "load_slice_set",
    "preprocess_mask",
    "preprocess_stack",
    "read_input_study",
    "resolve_channels",
]
