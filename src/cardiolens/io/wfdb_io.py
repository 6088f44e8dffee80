"""WFDB (PhysioNet) ECG records read into, and written from, :class:`ECG12`.

Reading and writing go through the ``wfdb`` package. CinC 2021 records (a ``.hea``
header with a MATLAB v4 ``.mat`` signal file) need no special case: their headers
declare format 16 with a 24-byte offset into the ``.mat`` file, so ``wfdb`` reads
the samples directly (checked against ``scipy.io.loadmat`` on the challenge
samples).

Header comments are parsed into ``ECG12.metadata``: CinC 2021 style ``# Age:``,
``# Sex:`` and ``# Dx:`` (SNOMED CT codes) and PTB style ``# age:`` / ``# sex:``.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import wfdb

from cardiolens.data.ecg import ECG12, normalise_lead_name
from cardiolens.data.labels import STANDARD_LEADS
from cardiolens.errors import (
    CorruptFileError,
    EmptyFileError,
    LeadConfigurationError,
    MissingDataError,
    NonFiniteValueError,
    UsageError,
)
from cardiolens.io.files import require_file

#: ADC gain (digital units per mV) used by :func:`write_wfdb`: 1 unit = 1 uV, so
#: the round-trip error is at most 0.5 uV for leads within +-32.767 mV.
WFDB_GAIN_ADU_PER_MV = 1000.0

#: Largest magnitude format 16 stores; -32768 is WFDB's "invalid sample" marker.
_FMT16_MAX = 32767

#: Physical-unit spellings -> factor to mV.
_UNIT_TO_MV = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "v": 1e3, "nv": 1e-6}

#: Bytes per sample of the fixed-size WFDB storage formats (for the truncation check).
_BYTES_PER_SAMPLE = {
    "8": 1.0, "16": 2.0, "61": 2.0, "80": 1.0, "160": 2.0, "24": 3.0, "32": 4.0,
    "212": 1.5, "310": 4 / 3, "311": 4 / 3,
}

#: Comment keys written by :func:`write_wfdb` from structured metadata.
_STRUCTURED_KEYS = ("age", "sex", "dx")
_SIMULATED_COMMENT = "SIMULATED (cardiolens synthetic data, not from a patient)"
_RECORD_NAME = re.compile(r"^[-\w]+$")


@dataclass
class WfdbHeader:
    """What a WFDB header says, without reading any samples.

    Attributes:
        header_path: the ``.hea`` file.
        fs_hz: sampling frequency in Hz.
        n_samples: samples per signal declared in the header (0 when not declared).
        signal_names: signal names as written (e.g. ``i``, ``AVR``, ``vx``).
        units: physical unit of each signal (``mV`` when the header gives none).
        signal_files: signal file name of each signal (relative to the header's folder).
        metadata: parsed comments (see :func:`parse_header_comments`).
        formats, byte_offsets, samples_per_frame: per-signal storage details.
    """

    header_path: Path
    fs_hz: float
    n_samples: int
    signal_names: tuple[str, ...]
    units: tuple[str, ...]
    signal_files: tuple[str, ...]
    metadata: dict[str, Any] = field(default_factory=dict)
    formats: tuple[str, ...] = ()
    byte_offsets: tuple[int, ...] = ()
    samples_per_frame: tuple[int, ...] = ()

    @property
    def record_path(self) -> Path:
        """The record path without suffix (what ``wfdb`` takes)."""
        return self.header_path.with_suffix("")

    def standard_lead_channels(self) -> dict[str, int]:
        """Standard lead name -> channel index, for the standard leads present (first wins)."""
        found: dict[str, int] = {}
        for index, name in enumerate(self.signal_names):
            lead = normalise_lead_name(name)
            if lead in STANDARD_LEADS and lead not in found:
                found[lead] = index
        return found

    def require_standard_leads(self) -> dict[str, int]:
        """:meth:`standard_lead_channels`, raising if any of the 12 is missing."""
        found = self.standard_lead_channels()
        missing = [lead for lead in STANDARD_LEADS if lead not in found]
        if missing:
            raise LeadConfigurationError(
                self.header_path,
                f"found {len(found)} of the 12 standard leads (signals: {', '.join(self.signal_names)});"
                f" missing {', '.join(missing)}",
            )
        return found


def _header_path(record_path: str | os.PathLike[str]) -> Path:
    """Accept ``rec``, ``rec.hea`` (or the signal file ``rec.dat``/``rec.mat``) -> ``rec.hea``."""
    path = Path(record_path)
    if path.suffix.lower() in {".hea", ".dat", ".mat"}:
        path = path.with_suffix("")
    return path.with_name(path.name + ".hea")


def _parse_age(text: str) -> float | None:
    try:
        age = float(text)
    except ValueError:
        return None
    return age if math.isfinite(age) and age >= 0 else None


def _parse_sex(text: str) -> str | None:
    value = text.strip().upper()
    if value.startswith("M"):
        return "M"
    if value.startswith("F"):
        return "F"
    return None


def parse_header_comments(comments: Sequence[str]) -> dict[str, Any]:
    """Header comments -> metadata.

    Returns a dict with ``age`` (years, float or None), ``sex`` ("M"/"F"/None),
    ``dx`` (list of SNOMED CT code strings from ``Dx:``, or None when there is no
    ``Dx:`` line), ``simulated`` (a comment starts with ``SIMULATED``),
    ``header_fields`` (every ``Key: value`` comment) and ``comments`` (raw lines).
    Keys are matched case-insensitively, so PTB's ``age:``/``sex:`` work too.
    """
    fields: dict[str, str] = {}
    for line in comments:
        key, sep, value = line.partition(":")
        if sep and key.strip():
            fields.setdefault(key.strip(), value.strip())
    by_lower: dict[str, str] = {}
    for key, value in fields.items():
        by_lower.setdefault(key.lower(), value)
    dx_text = by_lower.get("dx")
    return {
        "age": _parse_age(by_lower["age"]) if "age" in by_lower else None,
        "sex": _parse_sex(by_lower["sex"]) if "sex" in by_lower else None,
        "dx": None if dx_text is None else [c.strip() for c in dx_text.split(",") if c.strip()],
        "simulated": any(line.strip().upper().startswith("SIMULATED") for line in comments),
        "header_fields": fields,
        "comments": list(comments),
    }


def read_wfdb_header(record_path: str | os.PathLike[str]) -> WfdbHeader:
    """Read and check a WFDB header (``rec`` or ``rec.hea``); no samples are read.

    Raises:
        MissingDataError / EmptyFileError: no header, or a 0-byte one.
        CorruptFileError: a header ``wfdb`` cannot parse, or one that declares more
            signals than it describes.
        LeadConfigurationError: a multi-segment record (not supported).
    """
    header_path = require_file(_header_path(record_path))
    try:
        header = wfdb.rdheader(str(header_path.with_suffix("")))
    except Exception as exc:  # wfdb raises assorted types for bad syntax
        raise CorruptFileError(header_path, f"unreadable WFDB header ({exc})") from exc
    if isinstance(header, wfdb.MultiRecord):
        raise LeadConfigurationError(header_path, "multi-segment WFDB records are not supported")
    n_sig = int(header.n_sig or 0)
    names = list(header.sig_name or [])
    if n_sig == 0:
        raise LeadConfigurationError(header_path, "record has no signals")
    if len(names) != n_sig:
        raise CorruptFileError(
            header_path, f"header declares {n_sig} signal(s) but describes {len(names)}"
        )
    fs_hz = float(header.fs) if header.fs is not None else float("nan")
    if not math.isfinite(fs_hz) or fs_hz <= 0:
        raise CorruptFileError(header_path, f"invalid sampling frequency {header.fs!r}")
    units = tuple(u if u else "mV" for u in (header.units or ["mV"] * n_sig))
    return WfdbHeader(
        header_path=header_path,
        fs_hz=fs_hz,
        n_samples=int(header.sig_len or 0),
        signal_names=tuple(str(n) for n in names),
        units=units,
        signal_files=tuple(str(f) for f in header.file_name),
        metadata=parse_header_comments(header.comments or []),
        formats=tuple(str(f) for f in header.fmt),
        byte_offsets=tuple(int(b or 0) for b in (header.byte_offset or [0] * n_sig)),
        samples_per_frame=tuple(int(s or 1) for s in (header.samps_per_frame or [1] * n_sig)),
    )


def _unit_factor(header: WfdbHeader, channel: int) -> float:
    unit = header.units[channel].strip()
    factor = _UNIT_TO_MV.get(unit.lower())
    if factor is None:
        raise LeadConfigurationError(
            header.header_path,
            f"lead {header.signal_names[channel]} has unit {unit!r}; expected mV, uV or V",
        )
    return factor


def _check_signal_files(header: WfdbHeader, channels: Sequence[int]) -> None:
    """Missing, empty and truncated signal files, named before ``wfdb`` fails on them."""
    folder = header.header_path.parent
    for file_name in dict.fromkeys(header.signal_files[c] for c in channels):
        path = folder / file_name
        if not path.is_file():
            raise MissingDataError(path, f"signal file named in {header.header_path.name} does not exist")
        size = path.stat().st_size
        if size == 0:
            raise EmptyFileError(path, "signal file is empty (0 bytes)")
        in_file = [i for i, f in enumerate(header.signal_files) if f == file_name]
        bytes_per_sample = _BYTES_PER_SAMPLE.get(header.formats[in_file[0]])
        if bytes_per_sample is None or header.n_samples == 0:
            continue  # compressed/unknown format or undeclared length: let wfdb judge
        values_per_frame = sum(header.samples_per_frame[i] for i in in_file)
        expected = header.byte_offsets[in_file[0]] + math.ceil(
            header.n_samples * values_per_frame * bytes_per_sample
        )
        if size < expected:
            raise CorruptFileError(
                path,
                f"truncated signal file: {size} bytes, but {header.header_path.name} declares"
                f" {header.n_samples} samples x {len(in_file)} signal(s) in format"
                f" {header.formats[in_file[0]]} ({expected} bytes)",
            )


def read_wfdb(record_path: str | os.PathLike[str], expected_fs_hz: float | None = None) -> ECG12:
    """Read a 12-lead WFDB record into an :class:`ECG12` (signals in mV).

    Args:
        record_path: the record with or without ``.hea`` (``.../00001_lr``).
        expected_fs_hz: if given, the header's sampling rate (Hz) must match it.

    Lead names are normalised (``i``, ``AVL``, ``avl`` -> ``I``, ``aVL``) and the
    columns reordered to the standard 12; other signals (e.g. the Frank leads
    vx/vy/vz of the PTB diagnostic database) are not read. Physical units mV, uV
    and V are converted to mV.

    Raises:
        LeadConfigurationError: fewer than the 12 standard leads (names the leads
            found), an unknown unit, or a sampling rate other than ``expected_fs_hz``.
        NonFiniteValueError: NaN samples (WFDB invalid-sample markers).
        CorruptFileError: unreadable header, or truncated/corrupt signal file.
        MissingDataError / EmptyFileError: missing or 0-byte header or signal file.
    """
    header = read_wfdb_header(record_path)
    leads = header.require_standard_leads()
    if expected_fs_hz is not None and not math.isclose(header.fs_hz, expected_fs_hz, rel_tol=1e-6):
        raise LeadConfigurationError(
            header.header_path,
            f"sampling rate is {header.fs_hz:g} Hz, expected {expected_fs_hz:g} Hz",
        )
    channels = [leads[lead] for lead in STANDARD_LEADS]
    factors = np.array([_unit_factor(header, c) for c in channels])
    _check_signal_files(header, channels)
    signal_file = header.header_path.parent / header.signal_files[channels[0]]
    try:
        record = wfdb.rdrecord(str(header.record_path), channels=channels, physical=True)
    except Exception as exc:  # wfdb reports short/corrupt data as ValueError and friends
        raise CorruptFileError(signal_file, f"unreadable signal data ({exc})") from exc
    signal = np.asarray(record.p_signal, dtype=np.float64)
    if signal.shape[1] != 12 or (header.n_samples and signal.shape[0] != header.n_samples):
        raise CorruptFileError(
            signal_file,
            f"read {signal.shape[0]} samples x {signal.shape[1]} leads, header declares"
            f" {header.n_samples} x 12",
        )
    bad = ~np.isfinite(signal)
    if bad.any():
        per_lead = {STANDARD_LEADS[i]: int(n) for i, n in enumerate(bad.sum(axis=0)) if n}
        detail = ", ".join(f"{lead}: {n}" for lead, n in per_lead.items())
        raise NonFiniteValueError(signal_file, f"NaN/invalid samples in lead(s) {detail}")
    return ECG12(
        signal_mv=signal * factors,
        fs_hz=header.fs_hz,
        subject_id=header.record_path.name,
        source=str(header.header_path),
        metadata=dict(header.metadata),
    )


def _comments_for(metadata: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if metadata.get("simulated"):
        lines.append(_SIMULATED_COMMENT)
    age = metadata.get("age")
    if age is not None:
        lines.append(f"Age: {float(age):g}")
    sex = metadata.get("sex")
    if sex in ("M", "F"):
        lines.append(f"Sex: {'Male' if sex == 'M' else 'Female'}")
    dx = metadata.get("dx")
    if dx:
        lines.append("Dx: " + ",".join(str(code) for code in dx))
    # Keep other free-text comments of a record that was read, minus the lines rebuilt above.
    for line in metadata.get("comments") or []:
        key = str(line).partition(":")[0].strip().lower()
        if key in _STRUCTURED_KEYS or str(line).strip().upper().startswith("SIMULATED"):
            continue
        lines.append(str(line))
    return [" ".join(line.splitlines()) for line in lines]


def _gains(signal_mv: np.ndarray) -> list[float]:
    """Per-lead gain: :data:`WFDB_GAIN_ADU_PER_MV`, lowered only for leads beyond +-32.767 mV."""
    peak = np.abs(signal_mv).max(axis=0)
    limit = _FMT16_MAX / WFDB_GAIN_ADU_PER_MV
    return [WFDB_GAIN_ADU_PER_MV if p <= limit else float(_FMT16_MAX / p) for p in peak]


def write_wfdb(ecg: ECG12, record_path: str | os.PathLike[str]) -> Path:
    """Write ``ecg`` as a WFDB record (format 16, units mV); returns the ``.hea`` path.

    The gain is :data:`WFDB_GAIN_ADU_PER_MV` = 1000 adu/mV (1 uV per unit, so values
    round-trip within 0.5 uV) with baseline 0; a lead whose peak exceeds 32.767 mV
    gets the largest gain that fits instead. Lead names are the 12 standard names.
    Comments: ``SIMULATED`` when ``metadata["simulated"]``, then ``Age:``, ``Sex:``
    and ``Dx:`` from metadata, then other comments of a record that was read.

    Both files are written into a temporary folder beside the target and moved in
    place only after both are complete: the ``.dat`` first, the ``.hea`` last, so a
    header never points at missing samples.
    """
    header_path = _header_path(record_path)
    name = header_path.with_suffix("").name
    if not _RECORD_NAME.match(name):
        raise UsageError(f"WFDB record names may hold only letters, digits, '_' and '-': {name!r}")
    folder = header_path.parent
    folder.mkdir(parents=True, exist_ok=True)
    signal = np.asarray(ecg.signal_mv, dtype=np.float64)
    if signal.shape[0] == 0:
        raise LeadConfigurationError(ecg.source, "cannot write an ECG with no samples")
    gains = _gains(signal)
    digital = np.clip(np.round(signal * np.array(gains)), -_FMT16_MAX, _FMT16_MAX).astype(np.int16)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=folder))
    try:
        wfdb.wrsamp(
            name,
            fs=float(ecg.fs_hz),
            units=["mV"] * 12,
            sig_name=list(STANDARD_LEADS),
            d_signal=digital,
            fmt=["16"] * 12,
            adc_gain=gains,
            baseline=[0] * 12,
            comments=_comments_for(ecg.metadata),
            write_dir=str(staging),
        )
        os.replace(staging / f"{name}.dat", folder / f"{name}.dat")
        os.replace(staging / f"{name}.hea", header_path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return header_path
