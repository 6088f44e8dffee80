"""Reading small CSV tables (manifests) with clear errors."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from cardiolens.errors import MalformedTableError
from cardiolens.io.files import require_file


def read_csv_rows(path: Path, required_columns: Sequence[str]) -> list[dict[str, str]]:
    """Rows of a CSV as text dicts; a missing column or unreadable file raises MalformedTableError."""
    require_file(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise MalformedTableError(path, f"cannot read CSV ({exc})") from exc
    missing = [c for c in required_columns if c not in columns]
    if missing:
        raise MalformedTableError(path, f"missing column(s) {', '.join(missing)}")
    return rows
