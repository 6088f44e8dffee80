"""PTB-XL layout: 12-lead ECGs with SCP-ECG statements, in the original PhysioNet layout.

::

    ROOT/ptbxl_database.csv                    one row per ECG (ecg_id, patient_id, scp_codes, ...)
    ROOT/scp_statements.csv                    optional: statement -> diagnostic class
    ROOT/records100/NNNNN/NNNNN_lr.{hea,dat}   100 Hz WFDB records (filename_lr)
    ROOT/records500/NNNNN/NNNNN_hr.{hea,dat}   500 Hz WFDB records (filename_hr)

One subject per ECG (``subject_id`` = ecg_id as 5 digits, e.g. "00001"); a patient
may own several ECGs, so ``patient_id`` is the PTB-XL patient id and every split
must group by it (the official ``strat_fold`` already does). The label is the
SCP statement ``LVH`` (present with any likelihood -> "LVH", else "no_LVH"): an
ECG-statement proxy, not an imaging-based LV mass.
"""

from __future__ import annotations

import ast
import math
from pathlib import Path
from typing import Any

import pandas as pd

from cardiolens.data.cohort import BadCase, Cohort, SubjectRecord
from cardiolens.data.ecg import ECG12
from cardiolens.errors import MalformedTableError, MissingDataError
from cardiolens.io.files import require_dir, require_file
from cardiolens.io.wfdb_io import read_wfdb

NAME = "ptbxl"
DATABASE_FILE = "ptbxl_database.csv"
STATEMENTS_FILE = "scp_statements.csv"
REQUIRED_COLUMNS = ("ecg_id", "patient_id", "scp_codes", "strat_fold", "filename_lr", "filename_hr")
LVH_STATEMENT = "LVH"
#: PTB-XL sex codes.
SEX_BY_CODE = {0: "M", 1: "F"}
#: Record path key -> (CSV column, sampling rate in Hz), highest rate first.
RECORD_COLUMNS = {"record_hr": ("filename_hr", 500.0), "record_lr": ("filename_lr", 100.0)}


class _RowProblem(Exception):
    """A row that cannot be used; becomes a BadCase."""


def looks_like(root: Path) -> bool:
    """True when ``root`` holds ``ptbxl_database.csv``."""
    return (Path(root) / DATABASE_FILE).is_file()


def _read_csv(path: Path, **kwargs: Any) -> pd.DataFrame:
    require_file(path)
    try:
        return pd.read_csv(path, **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise MalformedTableError(path, f"cannot read CSV ({exc})") from exc


def read_superclasses(path: Path) -> dict[str, str]:
    """Diagnostic statement -> superclass (NORM, MI, STTC, CD, HYP) from ``scp_statements.csv``.

    Only statements with ``diagnostic == 1`` and a diagnostic class are kept.

    Raises:
        MalformedTableError: unreadable CSV or missing ``diagnostic``/``diagnostic_class`` column.
    """
    table = _read_csv(path, index_col=0)
    missing = [c for c in ("diagnostic", "diagnostic_class") if c not in table.columns]
    if missing:
        raise MalformedTableError(path, f"missing column(s) {', '.join(missing)}")
    diagnostic = pd.to_numeric(table["diagnostic"], errors="coerce") == 1
    classes = table.loc[diagnostic & table["diagnostic_class"].notna(), "diagnostic_class"]
    return {str(code).strip(): str(cls).strip() for code, cls in classes.items()}


def _optional_float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _required_int(value: Any, column: str) -> int:
    number = _optional_float(value)
    if number is None or not number.is_integer():
        raise _RowProblem(f"{column} {value!r} is not an integer")
    return int(number)


def _scp_codes(text: Any) -> dict[str, float]:
    try:
        codes = ast.literal_eval(str(text))
    except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
        raise _RowProblem(f"scp_codes {str(text)[:60]!r} does not parse ({type(exc).__name__})") from exc
    if not isinstance(codes, dict):
        raise _RowProblem(f"scp_codes is a {type(codes).__name__}, expected a dict")
    try:
        return {str(k): float(v) for k, v in codes.items()}
    except (TypeError, ValueError) as exc:
        raise _RowProblem("scp_codes likelihoods must be numbers") from exc


def _record_paths(root: Path, row: pd.Series) -> dict[str, Path]:
    """Header paths of the records whose .hea and .dat both exist."""
    paths: dict[str, Path] = {}
    for key, (column, _) in RECORD_COLUMNS.items():
        name = row[column]
        if not isinstance(name, str) or not name.strip():
            continue
        record = root / name.strip()
        header = record.with_name(record.name + ".hea")
        if header.is_file() and record.with_name(record.name + ".dat").is_file():
            paths[key] = header
    return paths


def _row_record(root: Path, row: pd.Series, superclasses: dict[str, str] | None) -> SubjectRecord:
    ecg_id = _required_int(row["ecg_id"], "ecg_id")
    patient_id = _required_int(row["patient_id"], "patient_id")
    codes = _scp_codes(row["scp_codes"])
    paths = _record_paths(root, row)
    if not paths:
        raise _RowProblem(
            f"no record files found ({row['filename_lr']}.hea/.dat, {row['filename_hr']}.hea/.dat)"
        )
    fold = _optional_float(row["strat_fold"])
    sex_code = _optional_float(row.get("sex"))
    attributes: dict[str, Any] = {
        "age": _optional_float(row.get("age")),
        "sex": SEX_BY_CODE.get(int(sex_code)) if sex_code is not None else None,
        "height_cm": _optional_float(row.get("height")),
        "weight_kg": _optional_float(row.get("weight")),
        "strat_fold": int(fold) if fold is not None else None,
        "lvh_likelihood": codes.get(LVH_STATEMENT),
        "scp_codes": codes,
        "diagnostic_superclasses": (
            sorted({superclasses[c] for c in codes if c in superclasses}) if superclasses is not None else None
        ),
        "fs_hz_available": sorted(RECORD_COLUMNS[key][1] for key in paths),
    }
    return SubjectRecord(
        subject_id=f"{ecg_id:05d}",
        label="LVH" if LVH_STATEMENT in codes else "no_LVH",
        patient_id=str(patient_id),
        paths=paths,
        attributes=attributes,
    )


def scan(root: Path) -> Cohort:
    """One record per row of ``ptbxl_database.csv`` (no signals are read).

    Attributes per ECG: ``age`` (years), ``sex`` ("M"/"F"; PTB-XL codes 0 = male,
    1 = female), ``height_cm``, ``weight_kg`` (None when missing), ``strat_fold``,
    ``lvh_likelihood`` (0-100, None without LVH), ``scp_codes`` (statement ->
    likelihood), ``diagnostic_superclasses`` (sorted; None without
    ``scp_statements.csv``) and ``fs_hz_available``. ``paths`` holds ``record_hr``
    / ``record_lr`` (the ``.hea`` files) only for records present on disk.

    Rows with no record files, an unparseable ``scp_codes``, a non-integer id or a
    repeated ecg_id go to ``bad_cases`` (naming the CSV and the ecg_id).

    Raises:
        MalformedTableError: an unreadable CSV or a missing required column.
    """
    root = require_dir(root)
    database = root / DATABASE_FILE
    table = _read_csv(database, dtype={"filename_lr": str, "filename_hr": str, "scp_codes": str})
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise MalformedTableError(database, f"missing required column(s) {', '.join(missing)}")
    statements = root / STATEMENTS_FILE
    superclasses = read_superclasses(statements) if statements.exists() else None
    records: list[SubjectRecord] = []
    bad: list[BadCase] = []
    seen: set[str] = set()
    for _, row in table.iterrows():
        try:
            record = _row_record(root, row, superclasses)
            if record.subject_id in seen:
                raise _RowProblem("ecg_id appears in more than one row")
        except _RowProblem as exc:
            ecg_id = _optional_float(row["ecg_id"])
            subject_id = f"{int(ecg_id):05d}" if ecg_id is not None and ecg_id.is_integer() else str(row["ecg_id"])
            bad.append(BadCase(subject_id, str(database), f"ecg_id {row['ecg_id']}: {exc}"))
            continue
        seen.add(record.subject_id)
        records.append(record)
    return Cohort(layout=NAME, root=root, records=records, bad_cases=bad)


def load(record: SubjectRecord) -> ECG12:
    """The ECG at 500 Hz when that record is present, else at 100 Hz.

    ``metadata`` gains ``age``, ``sex``, ``patient_id`` and ``label`` from the scan.

    Raises:
        MissingDataError: the record has neither ``record_hr`` nor ``record_lr``.
        cardiolens.errors.DataError: whatever :func:`read_wfdb` raises for the file.
    """
    for key, (_, fs_hz) in RECORD_COLUMNS.items():
        if key in record.paths:
            ecg = read_wfdb(record.paths[key], expected_fs_hz=fs_hz)
            break
    else:
        raise MissingDataError(record.subject_id, "PTB-XL record has no record_hr or record_lr file")
    ecg.subject_id = record.subject_id
    ecg.metadata.update(
        age=record.attributes.get("age"),
        sex=record.attributes.get("sex"),
        patient_id=record.patient_id,
        label=record.label,
    )
    return ecg
