"""The two tables of an echo–CMR paired dataset: ``cmr.csv`` and ``echo.csv``.

``cmr.csv``: one row per CMR study::

    subject_id, cmr_date, [wma], [lge_present | lge], [native_t1_ms], [t2_ms], [ecv_pct]

``echo.csv``: one row per echo file (several rows of one subject on one date
form one echo *study*)::

    subject_id, echo_date, file, [view]

Cells are read as text, so subject IDs stay strings ("007" is not 7).
Dates are ISO ``yyyy-mm-dd``; a time part (after ``T`` or a space, with or
without a UTC offset) is accepted and dropped, since pairing works in whole
days (the local calendar date as written is kept). An empty cell (or ``NA``, ``N/A``,
``NaN``) is missing: a missing date is kept as NaT (pairing excludes and counts
it), a missing value is NaN (unknown label). Booleans are 0/1, true/false,
yes/no (any case; ``1.0``/``0.0`` as pandas writes them are accepted).
``native_t1_ms`` and ``t2_ms`` must be positive, ``ecv_pct`` within 0-100.
``file`` is relative to the table's folder (an absolute path is kept);
``view`` is upper-cased, "UNKNOWN" when empty or absent. Other columns are
ignored. Anything malformed raises :class:`MalformedTableError` naming the
table and the line.
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path

import pandas as pd

from cardiolens.errors import MalformedTableError
from cardiolens.io.files import require_file

CMR_TABLE = "cmr.csv"
ECHO_TABLE = "echo.csv"
#: CMR value columns in output order (booleans first, then measurements).
BOOLEAN_COLUMNS: tuple[str, ...] = ("wma", "lge_present")
#: Measurement column -> (lowest, highest) plausible value (exclusive low bound when 0).
NUMBER_COLUMNS: dict[str, tuple[float, float]] = {
    "native_t1_ms": (0.0, math.inf),
    "t2_ms": (0.0, math.inf),
    "ecv_pct": (0.0, 100.0),
}
CMR_VALUE_COLUMNS: tuple[str, ...] = (*BOOLEAN_COLUMNS, *NUMBER_COLUMNS)
#: Alternative header names accepted for a column.
COLUMN_ALIASES: dict[str, str] = {"lge": "lge_present"}
UNKNOWN_VIEW = "UNKNOWN"

_MISSING = {"", "na", "n/a", "nan"}
_TRUE = {"1", "true", "yes"}
_FALSE = {"0", "false", "no"}
_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?")

Row = dict[str, str]


def read_table_rows(
    path: str | os.PathLike[str], required: Iterable[str], any_of: Iterable[str] = ()
) -> list[tuple[int, Row]]:
    """(line number, row) of every non-blank row; headers stripped, aliases applied.

    Args:
        required: columns that must all be present.
        any_of: columns of which at least one must be present (none: no check).

    Raises:
        MissingDataError / EmptyFileError: missing or 0-byte table.
        MalformedTableError: unreadable CSV, a missing or duplicated column,
            or a row with more or fewer fields than the header.
    """
    p = require_file(path)
    try:
        with p.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = [COLUMN_ALIASES.get(c.strip(), c.strip()) for c in next(reader, [])]
            _check_header(p, header, tuple(required), tuple(any_of))
            rows: list[tuple[int, Row]] = []
            for fields in reader:
                if not any(f.strip() for f in fields):
                    continue  # blank line
                if len(fields) != len(header):
                    raise MalformedTableError(
                        p, f"line {reader.line_num}: {len(fields)} fields, the header has {len(header)}"
                    )
                rows.append((reader.line_num, {k: v.strip() for k, v in zip(header, fields)}))
            return rows
    except (UnicodeDecodeError, csv.Error) as exc:
        raise MalformedTableError(p, f"cannot parse CSV ({exc})") from exc


def _check_header(path: Path, header: list[str], required: tuple[str, ...], any_of: tuple[str, ...]) -> None:
    found = ", ".join(header) or "none"
    missing = [c for c in required if c not in header]
    if missing:
        raise MalformedTableError(path, f"missing required column(s) {', '.join(missing)}; found {found}")
    if any_of and not set(any_of) & set(header):
        raise MalformedTableError(path, f"needs at least one of the columns {', '.join(any_of)}; found {found}")
    repeated = sorted({c for c in header if c and header.count(c) > 1})
    if repeated:
        raise MalformedTableError(path, f"column(s) given twice: {', '.join(repeated)}")


def parse_date(path: Path, line: int, column: str, text: str) -> pd.Timestamp | None:
    """An ISO date cell as a midnight Timestamp (any time of day dropped); None when empty."""
    if text.lower() in _MISSING:
        return None
    match = _DATE.fullmatch(text)
    try:
        if match is None:
            raise ValueError("not yyyy-mm-dd")
        return pd.Timestamp(date.fromisoformat(match.group(1)))
    except ValueError:
        raise MalformedTableError(path, f"line {line}: {column} {text!r} is not a date (yyyy-mm-dd)") from None


def parse_boolean(path: Path, line: int, column: str, text: str) -> float:
    """A 0/1/true/false/yes/no cell as 1.0 / 0.0; NaN when empty."""
    value = text.lower()
    if value in _MISSING:
        return math.nan
    if value in _TRUE:
        return 1.0
    if value in _FALSE:
        return 0.0
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if number in (0.0, 1.0):
        return number
    raise MalformedTableError(path, f"line {line}: {column} {text!r} is not 0/1, true/false or yes/no")


def parse_number(path: Path, line: int, column: str, text: str) -> float:
    """A measurement cell as a float within the column's plausible range; NaN when empty."""
    if text.lower() in _MISSING:
        return math.nan
    try:
        value = float(text)
    except ValueError:
        raise MalformedTableError(path, f"line {line}: {column} {text!r} is not a number") from None
    low, high = NUMBER_COLUMNS[column]
    if not math.isfinite(value) or value <= low or value > high:
        bound = f"between {low:g} and {high:g}" if math.isfinite(high) else "positive"
        raise MalformedTableError(path, f"line {line}: {column} {text!r} must be a finite number {bound}")
    return value


def _subject(path: Path, line: int, row: Mapping[str, str]) -> str:
    subject_id = row["subject_id"]
    if not subject_id:
        raise MalformedTableError(path, f"line {line}: empty subject_id")
    return subject_id


def cmr_frame(path: Path, rows: list[tuple[int, Row]]) -> pd.DataFrame:
    """CMR study rows (already split into cells) as the typed CMR table (see :func:`read_cmr_table`).

    Value columns absent from the rows are all NaN. Shared by ``cmr.csv`` and
    the simulated cohort's manifest, so both are parsed by the same rules.
    """
    records = []
    seen: dict[tuple[str, pd.Timestamp], int] = {}
    for line, row in rows:
        subject_id = _subject(path, line, row)
        cmr_date = parse_date(path, line, "cmr_date", row["cmr_date"])
        if cmr_date is not None:
            first = seen.setdefault((subject_id, cmr_date), line)
            if first != line:
                raise MalformedTableError(
                    path, f"line {line}: CMR study of {subject_id} on {cmr_date.date()} repeats line {first}"
                )
        record: dict[str, object] = {"subject_id": subject_id, "cmr_date": cmr_date}
        for column in BOOLEAN_COLUMNS:
            record[column] = parse_boolean(path, line, column, row.get(column, ""))
        for column in NUMBER_COLUMNS:
            record[column] = parse_number(path, line, column, row.get(column, ""))
        records.append(record)
    return _typed_cmr(records)


def _typed_cmr(records: list[dict[str, object]]) -> pd.DataFrame:
    table = pd.DataFrame(records, columns=["subject_id", "cmr_date", *CMR_VALUE_COLUMNS])
    table["subject_id"] = table["subject_id"].astype(object)
    table["cmr_date"] = pd.to_datetime(table["cmr_date"]).astype("datetime64[ns]")
    for column in CMR_VALUE_COLUMNS:
        table[column] = table[column].astype(float)
    return table


def read_cmr_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read ``cmr.csv``: one row per CMR study.

    Returns:
        DataFrame with ``subject_id`` (str), ``cmr_date`` (datetime64, NaT =
        missing) and ``wma``, ``lge_present`` (1.0/0.0/NaN), ``native_t1_ms``
        (ms), ``t2_ms`` (ms), ``ecv_pct`` (%) as float with NaN unknown.

    Raises:
        MalformedTableError: missing ``subject_id``/``cmr_date`` or every value
            column, unparseable cells, or a subject's study listed twice on one
            date ("line N: ...").
    """
    p = Path(path)
    return cmr_frame(p, read_table_rows(p, ("subject_id", "cmr_date"), any_of=CMR_VALUE_COLUMNS))


def echo_frame(path: Path, rows: list[tuple[int, Row]], root: Path) -> pd.DataFrame:
    """Echo file rows (split into cells) as the typed echo table (see :func:`read_echo_table`)."""
    records = []
    seen: dict[tuple[str, Path], int] = {}
    for line, row in rows:
        subject_id = _subject(path, line, row)
        echo_date = parse_date(path, line, "echo_date", row["echo_date"])
        cell = row["file"].replace("\\", "/") if os.sep == "/" else row["file"]
        if not cell:
            raise MalformedTableError(path, f"line {line}: empty file")
        # abspath, not resolve(): keep symbolic links as the user wrote them.
        file = Path(os.path.abspath(root / cell))
        first = seen.setdefault((subject_id, file), line)
        if first != line:
            raise MalformedTableError(path, f"line {line}: {row['file']} of {subject_id} repeats line {first}")
        view = row.get("view", "").upper() or UNKNOWN_VIEW
        records.append({"subject_id": subject_id, "echo_date": echo_date, "file": file, "view": view})
    table = pd.DataFrame(records, columns=["subject_id", "echo_date", "file", "view"])
    table["subject_id"] = table["subject_id"].astype(object)
    table["echo_date"] = pd.to_datetime(table["echo_date"]).astype("datetime64[ns]")
    return table


def read_echo_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read ``echo.csv``: one row per echo file.

    Returns:
        DataFrame with ``subject_id`` (str), ``echo_date`` (datetime64, NaT =
        missing), ``file`` (absolute Path; relative cells are taken from the
        table's folder) and ``view`` (upper case, "UNKNOWN" when not given).
        The files are not opened (see the layout's scan for that).

    Raises:
        MalformedTableError: missing ``subject_id``/``echo_date``/``file``
            column, unparseable date, empty file cell, or one file listed twice
            for a subject ("line N: ...").
    """
    p = Path(path)
    return echo_frame(p, read_table_rows(p, ("subject_id", "echo_date", "file")), p.parent.absolute())


__all__ = [
    "BOOLEAN_COLUMNS",
    "CMR_TABLE",
    "CMR_VALUE_COLUMNS",
    "COLUMN_ALIASES",
    "ECHO_TABLE",
    "NUMBER_COLUMNS",
    "UNKNOWN_VIEW",
    "cmr_frame",
    "echo_frame",
    "parse_boolean",
    "parse_date",
    "parse_number",
    "read_cmr_table",
    "read_echo_table",
    "read_table_rows",
]
