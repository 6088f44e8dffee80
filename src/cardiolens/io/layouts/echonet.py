"""EchoNet-Dynamic layout: apical four-chamber echo videos with EF and volumes.

Expected files under the root::

    FileList.csv        FileName, EF, ESV, EDV, FrameHeight, FrameWidth, FPS,
                        NumberOfFrames, Split (one row per video)
    VolumeTracings.csv  FileName, X1, Y1, X2, Y2, Frame (optional; LV tracings
                        of two frames per video, in pixels)
    Videos/<FileName>.avi

FileName may be written with or without ``.avi`` (the public FileList.csv omits
it, VolumeTracings.csv includes it). EF is in %, ESV/EDV in mL, FPS in
frames/s. ``Frame`` in VolumeTracings.csv is a 0-based frame index; each traced
frame has one row per segment: in the public data the first row is the long
axis and the others are chords across the ventricle.
"""

from __future__ import annotations

import csv
import functools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cardiolens.data.cohort import BadCase, Cohort, SubjectRecord
from cardiolens.data.echo import EchoClip
from cardiolens.errors import DataError, MalformedTableError, MissingDataError
from cardiolens.io.files import require_file
from cardiolens.io.video import read_video

NAME = "echonet"
FILE_LIST = "FileList.csv"
TRACINGS = "VolumeTracings.csv"
VIDEO_DIR = "Videos"

#: FileList column -> (attribute name, type) for the numbers every row must carry.
NUMERIC_COLUMNS: dict[str, tuple[str, type]] = {
    "EF": ("ef_pct", float),
    "ESV": ("esv_ml", float),
    "EDV": ("edv_ml", float),
    "FPS": ("fps", float),
    "NumberOfFrames": ("n_frames", int),
}
#: Optional FileList columns, parsed when present.
OPTIONAL_COLUMNS: dict[str, tuple[str, type]] = {
    "FrameHeight": ("frame_height_px", int),
    "FrameWidth": ("frame_width_px", int),
}
REQUIRED_COLUMNS: tuple[str, ...] = ("FileName", *NUMERIC_COLUMNS, "Split")
TRACING_COLUMNS: tuple[str, ...] = ("FileName", "X1", "Y1", "X2", "Y2", "Frame")


def looks_like(root: Path) -> bool:
    """True when ``root`` holds FileList.csv and a Videos/ folder."""
    root = Path(root)
    return (root / FILE_LIST).is_file() and (root / VIDEO_DIR).is_dir()


def video_id(file_name: str) -> str:
    """Subject id from a FileName cell: strip spaces and a trailing ``.avi`` (any case)."""
    name = file_name.strip()
    return name[:-4] if name.lower().endswith(".avi") else name


def scan(root: Path) -> Cohort:
    """Read FileList.csv into one record per video (no decoding).

    Records carry ``paths["video"]`` (and ``paths["tracings"]`` when
    VolumeTracings.csv exists) and attributes ``ef_pct``, ``esv_ml``,
    ``edv_ml``, ``fps`` (frames/s), ``n_frames``, ``split`` (as written, e.g.
    "TRAIN"), plus ``frame_height_px`` / ``frame_width_px`` when present.
    Rows with unparseable numbers, duplicate names or a missing/empty video
    become bad cases.

    Raises:
        MalformedTableError: FileList.csv (or VolumeTracings.csv) lacks a
            required column or is not a readable CSV.
    """
    root = Path(root)
    file_list = require_file(root / FILE_LIST)
    tracings = root / TRACINGS
    if tracings.exists():
        _require_columns(require_file(tracings), _read_header(tracings), TRACING_COLUMNS)
    records: list[SubjectRecord] = []
    bad_cases: list[BadCase] = []
    seen: set[str] = set()
    for line, row in _read_rows(file_list):
        subject_id = video_id(row.get("FileName") or "")
        try:
            attributes = _parse_row(file_list, line, row, subject_id, seen)
            video = _video_path(root, row["FileName"].strip(), subject_id)
            require_file(video)
        except DataError as exc:
            name = subject_id or f"<line {line}>"
            bad_cases.append(BadCase(subject_id=name, path=exc.path, problem=exc.problem))
            continue
        seen.add(subject_id)
        paths = {"video": video}
        if tracings.exists():
            paths["tracings"] = tracings
        records.append(SubjectRecord(subject_id=subject_id, label=None, paths=paths, attributes=attributes))
    return Cohort(layout=NAME, root=root, records=records, bad_cases=bad_cases)


def load(record: SubjectRecord) -> EchoClip:
    """Decode one video as an A4C :class:`EchoClip`.

    ``metadata`` holds ``ef_pct``, ``edv_ml``, ``esv_ml``, ``split``,
    ``fps_filelist`` (the FileList value; ``clip.fps`` is the video's own
    rate) and, when VolumeTracings.csv is present, ``volume_tracings``:
    {frame index: float array (n_segments, 4) of x1, y1, x2, y2 in pixels}
    for the traced frames (empty if the video has none).
    """
    clip = read_video(record.paths["video"], view="A4C")
    clip.subject_id = record.subject_id
    attrs = record.attributes
    clip.metadata.update(
        ef_pct=attrs.get("ef_pct"),
        edv_ml=attrs.get("edv_ml"),
        esv_ml=attrs.get("esv_ml"),
        split=attrs.get("split"),
        fps_filelist=attrs.get("fps"),
    )
    tracings = record.paths.get("tracings")
    if tracings is not None:
        clip.metadata["volume_tracings"] = read_tracings(tracings, record.subject_id)
    return clip


def read_tracings(path: str | Path, subject_id: str) -> dict[int, np.ndarray]:
    """One video's LV tracings: {0-based frame: (n, 4) array of x1, y1, x2, y2 in pixels}.

    The whole table is parsed once per file version and cached, since loading
    a cohort asks for it once per video.

    Raises:
        MalformedTableError: missing columns, or unparseable numbers in this
            video's rows.
    """
    p = require_file(path)
    stat = p.stat()
    table = _tracings_table(str(p), stat.st_mtime_ns, stat.st_size)
    rows = table.get(subject_id)
    if rows is None:
        return {}
    if not np.isfinite(rows).all():
        raise MalformedTableError(p, f"unparseable numbers in the tracing rows of {subject_id}")
    frames = rows[:, 4].astype(int)
    return {int(f): rows[frames == f, :4].copy() for f in dict.fromkeys(frames.tolist())}


@functools.lru_cache(maxsize=2)
def _tracings_table(path: str, mtime_ns: int, size: int) -> dict[str, np.ndarray]:
    """Video id -> float array (rows, 5) of X1, Y1, X2, Y2, Frame (NaN where unparseable)."""
    del mtime_ns, size  # only part of the cache key
    try:
        df = pd.read_csv(path, dtype={"FileName": str}, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise MalformedTableError(path, f"cannot parse CSV ({exc})") from exc
    df.columns = [str(c).strip() for c in df.columns]
    _require_columns(Path(path), list(df.columns), TRACING_COLUMNS)
    # Columns the C parser read as numbers are used as they are; a column with
    # text in it is coerced, the text becoming NaN (reported per video on use).
    values = np.column_stack([_numeric(df[c]) for c in TRACING_COLUMNS[1:]])
    df["FileName"] = df["FileName"].fillna("")
    # A fractional frame index is as unusable as text.
    values[:, 4][values[:, 4] != np.round(values[:, 4])] = np.nan
    ids = df["FileName"].map(video_id).to_numpy()
    order = np.argsort(ids, kind="stable")
    ids, values = ids[order], values[order]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if len(ids) else np.array([], int)
    bounds = np.r_[starts, len(ids)]
    return {str(ids[a]): values[a:b] for a, b in zip(bounds[:-1], bounds[1:])}


def _numeric(column: pd.Series) -> np.ndarray:
    if column.dtype == object:
        column = column.astype(str).str.strip()
    return pd.to_numeric(column, errors="coerce").to_numpy(float)


def _read_header(path: Path) -> list[str]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return [c.strip() for c in next(csv.reader(handle), [])]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise MalformedTableError(path, f"cannot parse CSV header ({exc})") from exc


def _require_columns(path: Path, found: list[str], required: tuple[str, ...]) -> None:
    missing = [c for c in required if c not in found]
    if missing:
        raise MalformedTableError(
            path, f"missing required column(s) {', '.join(missing)}; found {', '.join(found) or 'none'}"
        )


def _read_rows(path: Path) -> list[tuple[int, dict[str, str | None]]]:
    """(line number, row) pairs; a row with too many or too few fields is kept for per-row checks."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = [c.strip() for c in (reader.fieldnames or [])]
            _require_columns(path, header, REQUIRED_COLUMNS)
            reader.fieldnames = header
            rows = []
            for row in reader:
                if not any((v or "").strip() for k, v in row.items() if k is not None) and None not in row:
                    continue  # blank line
                rows.append((reader.line_num, row))
            return rows
    except (UnicodeDecodeError, csv.Error) as exc:
        raise MalformedTableError(path, f"cannot parse CSV ({exc})") from exc


def _parse_row(
    path: Path, line: int, row: dict[str, Any], subject_id: str, seen: set[str]
) -> dict[str, Any]:
    if None in row:
        raise MalformedTableError(path, f"line {line}: more fields than columns")
    if not subject_id:
        raise MalformedTableError(path, f"line {line}: empty FileName")
    if subject_id in seen:
        raise MalformedTableError(path, f"line {line}: duplicate FileName {subject_id}")
    attributes: dict[str, Any] = {}
    for columns, required in ((NUMERIC_COLUMNS, True), (OPTIONAL_COLUMNS, False)):
        for column, (name, kind) in columns.items():
            if column not in row:
                continue
            text = (row[column] or "").strip()
            if not text and not required:
                continue
            attributes[name] = _number(path, line, subject_id, column, text, kind)
    if attributes["fps"] <= 0 or attributes["n_frames"] < 1:
        raise MalformedTableError(
            path, f"line {line} ({subject_id}): FPS and NumberOfFrames must be positive"
        )
    attributes["split"] = (row.get("Split") or "").strip()
    return attributes


def _number(path: Path, line: int, subject_id: str, column: str, text: str, kind: type) -> float | int:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or (kind is int and value != round(value)):
        expected = "an integer" if kind is int else "a number"
        raise MalformedTableError(path, f"line {line} ({subject_id}): {column}={text!r} is not {expected}")
    return int(round(value)) if kind is int else value


def _video_path(root: Path, file_name: str, subject_id: str) -> Path:
    """Videos/<id>.avi, or the FileName as written when that exists (other extensions)."""
    as_written = root / VIDEO_DIR / file_name
    if Path(file_name).suffix and as_written.is_file():
        return as_written
    candidate = root / VIDEO_DIR / f"{subject_id}.avi"
    if not candidate.exists():
        raise MissingDataError(candidate, f"video of {subject_id} listed in {FILE_LIST} does not exist")
    return candidate
