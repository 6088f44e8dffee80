"""Dataset layouts with auto-detection.

``scan("acdc:/data/acdc")`` forces a layout; ``scan("/data/acdc")`` detects it
from the files present. Detection order matters only for folders that could
match several layouts; the most specific layouts are tried first.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

from cardiolens.data.cohort import Cohort, SubjectRecord
from cardiolens.errors import UnknownLayoutError, UsageError
from cardiolens.io.files import require_dir

#: Layout id -> module name under cardiolens.io.layouts, in detection order.
LAYOUT_MODULES: dict[str, str] = {
    "synthetic": "synthetic",
    "acdc": "acdc",
    "emidec": "emidec",
    "ptbxl": "ptbxl",
    "echo-cmr": "echo_cmr",
    "echonet": "echonet",
    "wfdb": "wfdb_folder",
}


def layout_module(name: str) -> ModuleType:
    """The module implementing layout ``name`` (see :mod:`cardiolens.io.layouts.base`)."""
    if name not in LAYOUT_MODULES:
        raise UsageError(f"unknown layout {name!r}; known: {', '.join(LAYOUT_MODULES)}")
    return importlib.import_module(f"cardiolens.io.layouts.{LAYOUT_MODULES[name]}")


def split_layout_prefix(path: str | os.PathLike[str]) -> tuple[str | None, Path]:
    """``"acdc:/x"`` -> ("acdc", Path("/x")); a plain path -> (None, path)."""
    text = os.fspath(path)
    prefix, sep, rest = text.partition(":")
    if sep and prefix in LAYOUT_MODULES:
        return prefix, Path(rest)
    return None, Path(text)


def detect_layout(root: str | os.PathLike[str]) -> str:
    """Name of the first layout whose ``looks_like`` accepts ``root``."""
    folder = require_dir(root)
    for name in LAYOUT_MODULES:
        if layout_module(name).looks_like(folder):
            return name
    raise UnknownLayoutError(
        folder,
        "no known dataset layout found (expected one of: "
        + ", ".join(LAYOUT_MODULES)
        + "); force one with a prefix such as acdc:PATH",
    )


def scan(path: str | os.PathLike[str], layout: str | None = None) -> Cohort:
    """Scan a dataset folder into a :class:`Cohort` (layout forced or detected)."""
    forced, root = split_layout_prefix(path)
    name = layout or forced or detect_layout(root)
    require_dir(root)
    return layout_module(name).scan(root)


def load(cohort: Cohort, subject_id: str) -> object:
    """Load one subject's containers through its cohort's layout."""
    record: SubjectRecord = cohort[subject_id]
    return layout_module(cohort.layout).load(record)
