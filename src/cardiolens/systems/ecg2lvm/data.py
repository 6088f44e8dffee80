"""Datasets for ``ecg2lvm``: ECGs at a fixed rate and length plus one table row per subject.

:func:`load_dataset` reads a PTB-XL folder, a simulated-cohort folder, any WFDB
folder (through :mod:`cardiolens.io.layouts`) or a user CSV table. Each ECG is
resampled to ``config.fs_hz`` with :func:`scipy.signal.resample_poly` and cut
(first ``duration_s`` seconds) or zero-padded at the end. Voltages stay in mV:
QRS voltage is the signal an LV-mass model needs, so records are not z-scored;
they are only clipped to +-``config.clip_mv`` (electrode spikes).

Folds: PTB-XL's ``strat_fold``; other data get a deterministic patient-level
fold 1-10 from a CRC32 hash of ``patient_id`` (all subjects of a patient share it).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.signal import resample_poly

from cardiolens.data.cohort import BadCase, SubjectRecord
from cardiolens.data.ecg import ECG12
from cardiolens.errors import (
    DataError,
    LeadConfigurationError,
    MalformedTableError,
    UsageError,
)
from cardiolens.io.files import require_file
from cardiolens.io.layouts import scan
from cardiolens.io.wfdb_io import read_wfdb
from cardiolens.measure.cine import bsa_mosteller_m2
from cardiolens.systems.ecg2lvm.config import Ecg2LvmConfig

#: Records shorter than this fraction of ``duration_s`` are refused (too much padding).
MIN_DURATION_FRACTION = 0.5
#: Table columns every dataset has (outcome pairs are added when present).
BASE_COLUMNS = ("subject_id", "patient_id", "age", "sex", "bmi", "bsa_m2", "lv_mass_g", "lvh", "fold")
CSV_REQUIRED = ("record",)


@dataclass
class EcgDataset:
    """ECGs ready for the network and the subject table.

    Attributes:
        subject_ids, patient_ids: one per subject, same order as ``signals``.
        ecgs: the ECGs as read (original sampling rate, mV).
        signals: (n, 12, n_samples) float32 in mV at ``config.fs_hz``.
        table: one row per subject (see :data:`BASE_COLUMNS`; ``sex`` "M"/"F"/None,
            ``age`` years, ``bmi`` kg/m^2, ``bsa_m2`` Mosteller m^2, ``lv_mass_g`` g
            (NaN unknown), ``lvh`` 0/1/NaN, ``fold``) plus ``*_time_days``/``*_event``.
        layout: "ptbxl", "synthetic", "wfdb", "csv" or "records".
        path: where the data came from.
        bad_cases: records that could not be loaded (skipped).
        simulated: True for the simulated cohort.
    """

    subject_ids: list[str]
    patient_ids: list[str]
    ecgs: list[ECG12]
    signals: np.ndarray
    table: pd.DataFrame
    layout: str
    path: Path
    bad_cases: list[BadCase] = field(default_factory=list)
    simulated: bool = False

    def __len__(self) -> int:
        return len(self.subject_ids)

    def subset(self, subject_ids: list[str] | tuple[str, ...] | set[str]) -> EcgDataset:
        """The subjects in ``subject_ids`` (dataset order kept)."""
        wanted = set(subject_ids)
        idx = [i for i, s in enumerate(self.subject_ids) if s in wanted]
        return EcgDataset(
            subject_ids=[self.subject_ids[i] for i in idx],
            patient_ids=[self.patient_ids[i] for i in idx],
            ecgs=[self.ecgs[i] for i in idx],
            signals=self.signals[idx],
            table=self.table.iloc[idx].reset_index(drop=True),
            layout=self.layout,
            path=self.path,
            bad_cases=list(self.bad_cases),
            simulated=self.simulated,
        )

    def records(self) -> list[SubjectRecord]:
        """Subject records (ids, patient ids, LVH label) for the cohort split helpers."""
        labels = self.table["lvh"].tolist()
        return [
            SubjectRecord(sid, label=None if _missing(lab) else str(int(lab)), patient_id=pid)
            for sid, pid, lab in zip(self.subject_ids, self.patient_ids, labels)
        ]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


def prepare_signal(ecg: ECG12, config: Ecg2LvmConfig) -> np.ndarray:
    """One ECG as a (12, n_samples) float32 array in mV at ``config.fs_hz``.

    Raises:
        LeadConfigurationError: (naming ``ecg.source``) a sampling rate below the
            model's (the missing bandwidth cannot be recovered) or a record shorter
            than half of ``config.duration_s``.
    """
    fs_in, fs_out = float(ecg.fs_hz), float(config.fs_hz)
    if fs_in < fs_out * (1 - 1e-6):
        raise LeadConfigurationError(
            ecg.source, f"sampled at {fs_in:g} Hz, below the model's {fs_out:g} Hz; cannot use it"
        )
    if ecg.duration_s < MIN_DURATION_FRACTION * config.duration_s:
        raise LeadConfigurationError(
            ecg.source, f"record lasts {ecg.duration_s:.2f} s; the model needs at least "
            f"{MIN_DURATION_FRACTION * config.duration_s:.1f} s of {config.duration_s:g} s"
        )
    signal = ecg.signal_mv.astype(np.float64).T
    if not math.isclose(fs_in, fs_out, rel_tol=1e-6):
        ratio = Fraction(fs_out / fs_in).limit_denominator(1000)
        signal = resample_poly(signal, ratio.numerator, ratio.denominator, axis=1)
    n = config.n_samples
    out = np.zeros((12, n), dtype=np.float32)
    take = min(n, signal.shape[1])
    out[:, :take] = signal[:, :take]
    return np.clip(out, -config.clip_mv, config.clip_mv)


def patient_fold(patient_id: str, n_folds: int = 10) -> int:
    """Deterministic fold 1..n_folds of a patient (CRC32 of the id; stable across runs and machines)."""
    return 1 + zlib.crc32(str(patient_id).encode("utf-8")) % n_folds


def bsa_m2(height_cm: float, weight_kg: float) -> float:
    """Mosteller body surface area in m^2 (:func:`bsa_mosteller_m2`); NaN when either is unknown."""
    if not (height_cm > 0 and weight_kg > 0):
        return math.nan
    return bsa_mosteller_m2(height_cm, weight_kg)


def _sex(value: Any) -> str | None:
    if isinstance(value, str) and value.strip().upper()[:1] in ("M", "F"):
        return value.strip().upper()[:1]
    return None


def _row(subject_id: str, patient_id: str, attrs: dict[str, Any]) -> dict[str, Any]:
    height, weight = _number(attrs.get("height_cm")), _number(attrs.get("weight_kg"))
    age = _number(attrs.get("age"))
    if age > 120:  # PTB-XL codes ages over 89 as 300
        age = 90.0
    bmi = weight / (height / 100) ** 2 if height > 0 and weight > 0 else math.nan
    return {
        "subject_id": subject_id,
        "patient_id": patient_id,
        "age": age,
        "sex": _sex(attrs.get("sex")),
        "bmi": bmi,
        "bsa_m2": bsa_m2(height, weight),
        "lv_mass_g": _number(attrs.get("lv_mass_g")),
        "lvh": _number(attrs.get("lvh")),
        "fold": attrs.get("fold"),
    }


def lvh_from_mass(row: dict[str, Any], config: Ecg2LvmConfig) -> float:
    """1/0 LVH from the LV mass (index when BSA is known); NaN when mass or sex is unknown."""
    mass, sex = row["lv_mass_g"], row["sex"]
    if math.isnan(mass) or sex is None:
        return math.nan
    if not math.isnan(row["bsa_m2"]):
        limit = config.lvh_threshold_g_m2_male if sex == "M" else config.lvh_threshold_g_m2_female
        return float(mass / row["bsa_m2"] > limit)
    limit = config.lvh_threshold_g_male if sex == "M" else config.lvh_threshold_g_female
    return float(mass > limit)


def _outcomes(attrs: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        if key.endswith("_time_days") and f"{key[: -len('_time_days')]}_event" in attrs:
            name = key[: -len("_time_days")]
            out[key] = _number(value)
            event = attrs[f"{name}_event"]
            out[f"{name}_event"] = _number(event) if not isinstance(event, str) else float(event.strip().lower() in ("1", "true", "yes"))
    return out


def _assemble(
    items: list[tuple[str, str, dict[str, Any], Any]],
    loader: Any,
    config: Ecg2LvmConfig,
    layout: str,
    path: Path,
    bad: list[BadCase],
    simulated: bool = False,
) -> EcgDataset:
    """Load each item with ``loader(item_source)``; DataErrors become bad cases."""
    ecgs: list[ECG12] = []
    signals: list[np.ndarray] = []
    rows: list[dict[str, Any]] = []
    for subject_id, patient_id, attrs, source in items:
        try:
            ecg = loader(source)
            signal = prepare_signal(ecg, config)
        except DataError as exc:
            bad.append(BadCase(subject_id, exc.path, exc.problem))
            continue
        ecg.subject_id = subject_id
        row = _row(subject_id, patient_id, attrs)
        if math.isnan(row["lvh"]):
            row["lvh"] = lvh_from_mass(row, config)
        if row["fold"] is None or _missing(row["fold"]):
            row["fold"] = patient_fold(patient_id)
        row["fold"] = int(row["fold"])
        row.update(_outcomes(attrs))
        ecgs.append(ecg)
        signals.append(signal)
        rows.append(row)
    table = pd.DataFrame(rows, columns=None if rows else list(BASE_COLUMNS))
    stacked = np.stack(signals) if signals else np.zeros((0, 12, config.n_samples), np.float32)
    return EcgDataset(
        subject_ids=[r["subject_id"] for r in rows],
        patient_ids=[r["patient_id"] for r in rows],
        ecgs=ecgs,
        signals=stacked,
        table=table,
        layout=layout,
        path=path,
        bad_cases=bad,
        simulated=simulated,
    )


def _from_csv(path: Path, config: Ecg2LvmConfig, limit: int | None) -> EcgDataset:
    require_file(path)
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise MalformedTableError(path, f"cannot read CSV ({exc})") from exc
    missing = [c for c in CSV_REQUIRED if c not in table.columns]
    if missing:
        raise MalformedTableError(path, f"missing column(s) {', '.join(missing)}")
    items = []
    for i, row in enumerate(table.to_dict(orient="records")):
        record = str(row["record"])
        sid = str(row.get("subject_id", Path(record).name)) if "subject_id" in table.columns else Path(record).with_suffix("").as_posix()
        pid = str(row["patient_id"]) if "patient_id" in table.columns and not _missing(row["patient_id"]) else sid
        items.append((sid, pid, row, path.parent / record))
        if limit is not None and len(items) >= limit:
            break
    return _assemble(items, read_wfdb, config, "csv", path, [])


def _lvh_from_label(label: str | None) -> float:
    return math.nan if label is None else float(label == "LVH")


def load_dataset(path: str | Path, config: Ecg2LvmConfig | None = None, *, limit: int | None = None) -> EcgDataset:
    """Read a dataset for ``ecg2lvm``.

    Args:
        path: a PTB-XL folder, a simulated-cohort folder, a WFDB folder (layout
            auto-detected, or forced with ``ptbxl:PATH``...), or a ``.csv`` table
            with a ``record`` column (WFDB record path relative to the CSV) and
            optional ``subject_id``, ``patient_id``, ``lv_mass_g``, ``lvh`` (0/1),
            ``age``, ``sex``, ``height_cm``, ``weight_kg``, ``*_time_days``/``*_event``.
        config: sampling rate, duration and LVH thresholds (defaults if None).
        limit: read only the first ``limit`` subjects (quick looks, tests).

    Records that fail to load go to ``bad_cases`` (file and problem) and are skipped.

    Raises:
        UsageError: a layout ecg2lvm cannot use (e.g. cine-only data) or no usable record.
        cardiolens.errors.DataError: an unreadable table or folder.
    """
    config = config or Ecg2LvmConfig()
    text = str(path)
    if text.lower().endswith(".csv"):
        dataset = _from_csv(Path(text), config, limit)
    else:
        cohort = scan(path)
        records = cohort.records[:limit] if limit is not None else cohort.records
        bad = list(cohort.bad_cases)
        if cohort.layout == "ptbxl":
            from cardiolens.io.layouts import ptbxl

            items = [
                (r.subject_id, r.patient_id, {**r.attributes, "lvh": _lvh_from_label(r.label), "fold": r.attributes.get("strat_fold")}, r)
                for r in records
            ]
            dataset = _assemble(items, ptbxl.load, config, "ptbxl", cohort.root, bad)
        elif cohort.layout == "synthetic":
            from cardiolens.io.layouts.synthetic import load_ecg

            items = [(r.subject_id, r.patient_id, {**r.attributes, "age": r.attributes.get("age_years")}, r) for r in records]
            dataset = _assemble(items, load_ecg, config, "synthetic", cohort.root, bad, simulated=True)
        elif cohort.layout == "wfdb":
            from cardiolens.io.layouts import wfdb_folder

            items = [(r.subject_id, r.patient_id, {**r.attributes, "lvh": _lvh_from_label(r.label)}, r) for r in records]
            dataset = _assemble(items, wfdb_folder.load, config, "wfdb", cohort.root, bad)
        else:
            raise UsageError(f"{path}: layout {cohort.layout!r} has no ECGs; ecg2lvm reads ptbxl, synthetic, wfdb or a CSV table")
    if len(dataset) == 0:
        problems = "; ".join(f"{b.path}: {b.problem}" for b in dataset.bad_cases[:3])
        raise UsageError(f"{path}: no usable ECG record" + (f" ({problems})" if problems else ""))
    return dataset


def dataset_from_ecgs(
    ecgs: list[ECG12], config: Ecg2LvmConfig, attributes: list[dict[str, Any]] | None = None, path: str | Path = "<memory>"
) -> EcgDataset:
    """A dataset from ECGs already in memory (single records given to ``predict``, simulations).

    ``attributes`` (one dict per ECG) may hold ``age``, ``sex``, ``height_cm``,
    ``weight_kg``, ``lv_mass_g``, ``lvh``, ``patient_id`` and outcome pairs;
    by default ``age``/``sex`` come from ``ecg.metadata``. Bad records are skipped
    into ``bad_cases``.
    """
    attributes = attributes or [dict(e.metadata) for e in ecgs]
    items = []
    for i, (ecg, attrs) in enumerate(zip(ecgs, attributes)):
        sid = ecg.subject_id or f"record{i + 1:04d}"
        items.append((sid, str(attrs.get("patient_id") or sid), attrs, ecg))
    return _assemble(items, lambda e: e, config, "records", Path(path), [])
