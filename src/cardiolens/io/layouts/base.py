"""What every dataset layout module provides.

A layout module (``acdc``, ``emidec``, ``ptbxl``...) exposes:

- ``NAME``: the layout id used on the CLI (``acdc:PATH`` forces it);
- ``looks_like(root) -> bool``: cheap detection from file names only;
- ``scan(root) -> Cohort``: one :class:`SubjectRecord` per subject, read from
  tables and file names (no image decoding); subjects that cannot be used are
  listed in ``Cohort.bad_cases`` with the file and the problem, and the scan
  continues;
- ``load(record) -> object``: the subject's containers (``CineCMR``,
  ``CMRVolume``, ``ECG12``, ``EchoClip`` or a small dataclass grouping them);
  raises a :class:`cardiolens.errors.DataError` subclass naming the file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from cardiolens.data.cohort import BadCase, Cohort, SubjectRecord
from cardiolens.errors import DataError, MalformedTableError


class Layout(Protocol):
    NAME: str

    def looks_like(self, root: Path) -> bool: ...

    def scan(self, root: Path) -> Cohort: ...

    def load(self, record: SubjectRecord) -> object: ...


def records_from_folders(
    root: Path,
    folders: list[Path],
    manifest: dict[str, Any] | None,
    manifest_path: Path,
    scan_one: Callable[[Path, Path, Any], SubjectRecord],
) -> tuple[list[SubjectRecord], list[BadCase]]:
    """Scan subject folders against an optional manifest, collecting bad cases.

    With a manifest, a folder without a row and a row without a folder are
    both bad cases; ``scan_one(folder, manifest_path, row)`` builds the record
    (``row`` is None without a manifest) and any :class:`DataError` it raises
    becomes a bad case while the scan continues.
    """
    records: list[SubjectRecord] = []
    bad: list[BadCase] = []
    for folder in folders:
        row = manifest.get(folder.name) if manifest is not None else None
        try:
            if manifest is not None and row is None:
                raise MalformedTableError(manifest_path, f"{folder.name} has no row")
            records.append(scan_one(folder, manifest_path, row))
        except DataError as exc:
            bad.append(BadCase(folder.name, exc.path, exc.problem))
    if manifest is not None:
        present = {f.name for f in folders}
        for name in sorted(set(manifest) - present):
            bad.append(BadCase(name, str(root / name), f"listed in {manifest_path.name} but the folder is missing"))
    return records, bad
