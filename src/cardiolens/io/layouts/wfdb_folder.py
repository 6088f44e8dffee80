"""Generic WFDB layout: any folder of 12-lead WFDB records (``*.hea`` + signal files).

Headers are searched in the folder and up to two levels of subfolders
(``ROOT/*.hea``, ``ROOT/a/*.hea``, ``ROOT/a/b/*.hea``); hidden folders and files
(e.g. the staging folders of an unfinished :func:`write_wfdb`) are skipped.
One subject per record; ``subject_id`` is the record's path relative to the root
without ``.hea`` ("E07505", or "georgia/E07505" in a subfolder).

Labels come from CinC 2021 style ``# Dx:`` comments (SNOMED CT codes): "LVH" when
164873001 (left ventricular hypertrophy) is listed, "no_LVH" when Dx lists other
codes only, None when there is no Dx.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from cardiolens.data.cohort import BadCase, Cohort, SubjectRecord
from cardiolens.data.ecg import ECG12
from cardiolens.errors import DataError, MissingDataError
from cardiolens.io.files import require_dir
from cardiolens.io.wfdb_io import read_wfdb, read_wfdb_header

NAME = "wfdb"
#: Subfolder levels searched below the root.
MAX_DEPTH = 2
#: SNOMED CT code of left ventricular hypertrophy (CinC 2021 label set).
LVH_SNOMED = "164873001"


def _iter_headers(root: Path) -> Iterator[Path]:
    for depth in range(MAX_DEPTH + 1):
        pattern = "/".join(["*"] * depth + ["*.hea"])
        for path in sorted(root.glob(pattern)):
            relative = path.relative_to(root).parts
            if not any(part.startswith(".") for part in relative) and path.is_file():
                yield path


def find_headers(root: Path) -> list[Path]:
    """Every ``*.hea`` in ``root`` and up to :data:`MAX_DEPTH` subfolder levels, sorted."""
    return sorted(_iter_headers(Path(root)))


def looks_like(root: Path) -> bool:
    """True when ``root`` (or a subfolder up to two levels down) holds a ``.hea`` file."""
    root = Path(root)
    return root.is_dir() and next(_iter_headers(root), None) is not None


def _label(dx: list[str] | None) -> str | None:
    if not dx:
        return None
    return "LVH" if LVH_SNOMED in dx else "no_LVH"


def _scan_record(root: Path, header_path: Path) -> SubjectRecord:
    header = read_wfdb_header(header_path)
    leads = header.require_standard_leads()
    # Name a missing signal file at scan time rather than failing later at load time.
    for file_name in dict.fromkeys(header.signal_files[c] for c in leads.values()):
        if not (header_path.parent / file_name).is_file():
            raise MissingDataError(
                header_path.parent / file_name, f"signal file named in {header_path.name} does not exist"
            )
    meta = header.metadata
    return SubjectRecord(
        subject_id=header_path.relative_to(root).with_suffix("").as_posix(),
        label=_label(meta.get("dx")),
        paths={"header": header_path},
        attributes={
            "age": meta.get("age"),
            "sex": meta.get("sex"),
            "dx": meta.get("dx"),
            "fs_hz": header.fs_hz,
            "n_samples": header.n_samples,
        },
    )


def scan(root: Path) -> Cohort:
    """One record per WFDB header; headers that cannot be used go to ``bad_cases``.

    Attributes: ``age`` (years), ``sex`` ("M"/"F"), ``dx`` (SNOMED CT codes or
    None), ``fs_hz`` and ``n_samples`` from the header. A header that cannot be
    parsed, lacks one of the 12 standard leads, or names a missing signal file is
    a bad case (signals are not read, so truncated data surfaces at load time).
    """
    root = require_dir(root)
    records: list[SubjectRecord] = []
    bad: list[BadCase] = []
    for header_path in find_headers(root):
        subject_id = header_path.relative_to(root).with_suffix("").as_posix()
        try:
            records.append(_scan_record(root, header_path))
        except DataError as exc:
            bad.append(BadCase(subject_id, exc.path, exc.problem))
    return Cohort(layout=NAME, root=root, records=records, bad_cases=bad)


def load(record: SubjectRecord) -> ECG12:
    """The record's :class:`ECG12` (mV, standard lead order), with ``subject_id`` from the scan."""
    ecg = read_wfdb(record.paths["header"])
    ecg.subject_id = record.subject_id
    ecg.metadata["label"] = record.label
    return ecg
