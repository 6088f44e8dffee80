"""Checks every reader runs before parsing a file."""

from __future__ import annotations

import os
from pathlib import Path

from cardiolens.errors import EmptyFileError, MissingDataError


def require_file(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` as a Path; raise if it is missing, not a file or 0 bytes."""
    p = Path(path)
    if not p.exists():
        raise MissingDataError(p, "file does not exist")
    if not p.is_file():
        raise MissingDataError(p, "expected a file, found a folder")
    if p.stat().st_size == 0:
        raise EmptyFileError(p, "file is empty (0 bytes)")
    return p


def require_dir(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if not p.is_dir():
        raise MissingDataError(p, "folder does not exist")
    return p
