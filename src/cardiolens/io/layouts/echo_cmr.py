"""Echo–CMR table layout: CMR studies and the echo files of the same subjects.

Expected files under the root::

    cmr.csv              subject_id, cmr_date, and any of wma, lge_present (or lge),
                         native_t1_ms, t2_ms, ecv_pct (one row per CMR study)
    echo.csv             subject_id, echo_date, file, view (one row per echo file;
                         file relative to the root: a video or a DICOM file)
    SIMULATED_DATA.txt   optional: marks simulated data

The tables are parsed by :mod:`cardiolens.io.echo_cmr_tables` (formats and
errors there). Pairing CMR with echo studies belongs to the system that uses
them (``echo2cmr``); this layout lists, per subject, the echo files on disk.
"""

from __future__ import annotations

from pathlib import Path

from cardiolens.data.cohort import BadCase, Cohort, SubjectRecord
from cardiolens.data.echo import EchoClip
from cardiolens.errors import DataError
from cardiolens.io.echo_cmr_tables import (
    CMR_TABLE,
    ECHO_TABLE,
    UNKNOWN_VIEW,
    read_cmr_table,
    read_echo_table,
)
from cardiolens.io.echo_files import read_echo_file
from cardiolens.io.files import require_file

NAME = "echo-cmr"
NOTICE_FILE = "SIMULATED_DATA.txt"


def looks_like(root: Path) -> bool:
    """True when ``root`` holds both cmr.csv and echo.csv."""
    root = Path(root)
    return (root / CMR_TABLE).is_file() and (root / ECHO_TABLE).is_file()


def scan(root: Path) -> Cohort:
    """One record per subject of cmr.csv (first-appearance order), without decoding any file.

    Records carry ``paths["echo_<k>"]`` (k = 0, 1, ... over the subject's
    usable echo files, in echo.csv order) and attributes ``n_cmr_studies``,
    ``n_echo_files`` (usable files) and ``views`` (one per ``echo_<k>``).
    An echo file that is missing, a folder or 0 bytes is a bad case (the
    subject keeps its other files); echo rows of subjects absent from cmr.csv
    are bad cases too. ``label`` is None (a subject may have several studies).

    Raises:
        MalformedTableError: a table lacks a required column or holds
            unparseable cells (see :mod:`cardiolens.io.echo_cmr_tables`).
    """
    root = Path(root)
    cmr = read_cmr_table(root / CMR_TABLE)
    echo = read_echo_table(root / ECHO_TABLE)
    bad_cases: list[BadCase] = []
    files_of: dict[str, list[tuple[Path, str]]] = {}
    known = set(cmr["subject_id"])
    for row in echo.itertuples(index=False):
        if row.subject_id not in known:
            bad_cases.append(BadCase(row.subject_id, str(row.file), f"listed in {ECHO_TABLE} but not in {CMR_TABLE}"))
            continue
        try:
            require_file(row.file)
        except DataError as exc:
            bad_cases.append(BadCase(row.subject_id, exc.path, exc.problem))
            continue
        files_of.setdefault(row.subject_id, []).append((row.file, row.view))
    studies = cmr.groupby("subject_id", sort=False).size()
    records = []
    for subject_id, n_studies in studies.items():
        files = files_of.get(str(subject_id), [])
        records.append(
            SubjectRecord(
                subject_id=str(subject_id),
                paths={f"echo_{k}": file for k, (file, _) in enumerate(files)},
                attributes={
                    "n_cmr_studies": int(n_studies),
                    "n_echo_files": len(files),
                    "views": [view for _, view in files],
                },
            )
        )
    return Cohort(layout=NAME, root=root, records=records, bad_cases=bad_cases, simulated=(root / NOTICE_FILE).is_file())


def load(record: SubjectRecord) -> dict[str, EchoClip]:
    """Decode every echo file of a subject: {"echo_<k>": EchoClip} (view from echo.csv when given).

    Raises:
        DataError subclass naming the file that cannot be decoded.
    """
    views = list(record.attributes.get("views", []))
    clips: dict[str, EchoClip] = {}
    for key, file in _echo_paths(record):
        k = int(key.split("_", 1)[1])
        view = views[k] if k < len(views) else UNKNOWN_VIEW
        clip = read_echo_file(file, view=None if view == UNKNOWN_VIEW else view)
        clip.subject_id = record.subject_id
        clips[key] = clip
    return clips


def _echo_paths(record: SubjectRecord) -> list[tuple[str, Path]]:
    keys = [k for k in record.paths if k.startswith("echo_") and k[5:].isdigit()]
    return [(k, Path(record.paths[k])) for k in sorted(keys, key=lambda k: int(k[5:]))]


__all__ = ["NAME", "load", "looks_like", "scan"]
