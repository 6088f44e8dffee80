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

from pathlib import Path
from typing import Protocol

from cardiolens.data.cohort import Cohort, SubjectRecord


class Layout(Protocol):
    NAME: str

    def looks_like(self, root: Path) -> bool: ...

    def scan(self, root: Path) -> Cohort: ...

    def load(self, record: SubjectRecord) -> object: ...
