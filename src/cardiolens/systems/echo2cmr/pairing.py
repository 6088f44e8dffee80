"""Pair each CMR study with the closest echo study of the same subject, and derive its labels.

Data: the echo–CMR tables (``cmr.csv`` + ``echo.csv``, parsed by
:mod:`cardiolens.io.echo_cmr_tables`) or the full simulated cohort's
``manifest.csv`` (one CMR and one echo per subject, ``SIMxxxx/echo_a4c.avi``
or ``.dcm``, view A4C).

Pairing (:func:`pair_studies`): an echo *study* is every echo file of one
subject on one date (several files and views). A candidate pair is a CMR study
and an echo study of the same subject, both dated, at most ``window_days``
apart (the boundary is included). Candidates are taken greedily, closest
first, each CMR study and each echo study at most once, so the overall gap
stays small and no echo serves two CMR studies. Ties in |gap| go to the echo
*before* the CMR (an echo after the CMR may already reflect its findings or
treatment), then to the earlier CMR, then to table order.

Labels (:func:`derive_labels`): ``wma`` and ``lge`` as recorded; ``t1``,
``t2``, ``ecv`` are abnormal above the config's cut-off (an explicit
``*_cutoff_*`` or the normal mean + ``abnormal_sd`` SD; config docstring has
the references). Unknown stays unknown (NaN).

Privacy: :class:`PairingResult` ``stats`` and ``excluded`` hold counts, day
differences and keyed pseudonyms only (no identifiers, no dates), so they can
be written to outputs; ``pairs`` holds identifiers and dates for loading and
must not be written as it is. :func:`pseudonym` is a keyed HMAC-SHA256, so a
pseudonym cannot be reversed by hashing candidate IDs without the key.
"""

from __future__ import annotations

import hmac
import math
import os
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cardiolens.errors import UnknownLayoutError, UsageError
from cardiolens.io import echo_cmr_tables as tables
from cardiolens.io.files import require_dir
from cardiolens.io.layouts import split_layout_prefix
from cardiolens.systems.echo2cmr.config import LABELS, Echo2CmrConfig

#: Why a CMR study has no echo pair (keys of ``stats["excluded"]``).
EXCLUSION_REASONS: tuple[str, ...] = (
    "missing CMR date",
    "no echo of this subject",
    "no echo within window",
    "echo already paired",
)
#: CMR value columns carried into the pairs (see :mod:`cardiolens.io.echo_cmr_tables`).
CMR_VALUE_COLUMNS: tuple[str, ...] = tables.CMR_VALUE_COLUMNS
PAIR_COLUMNS: tuple[str, ...] = (
    "subject_id", "cmr_date", "echo_date", "days_offset", "files", "views", *CMR_VALUE_COLUMNS,
)
EXCLUDED_COLUMNS: tuple[str, ...] = ("subject_key", "reason", "nearest_echo_days")
SYNTHETIC_MANIFEST = "manifest.csv"
SYNTHETIC_NOTICE = "SIMULATED_DATA.txt"
SYNTHETIC_ECHO_NAMES: tuple[str, ...] = ("echo_a4c.dcm", "echo_a4c.avi")


def read_cmr_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """``cmr.csv`` as a typed table (see :func:`cardiolens.io.echo_cmr_tables.read_cmr_table`)."""
    return tables.read_cmr_table(path)


def read_echo_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """``echo.csv`` as a typed table (see :func:`cardiolens.io.echo_cmr_tables.read_echo_table`)."""
    return tables.read_echo_table(path)


def tables_from_directory(root: str | os.PathLike[str]) -> tuple[pd.DataFrame, pd.DataFrame, str, bool]:
    """The CMR and echo tables of a data folder in either supported format.

    Args:
        root: a folder with ``cmr.csv`` + ``echo.csv`` (layout "echo-cmr") or
            a simulated cohort (layout "synthetic"); ``echo-cmr:PATH`` or
            ``synthetic:PATH`` forces the format.

    Returns:
        (cmr, echo, layout name, simulated): the tables as
        :func:`read_cmr_table` / :func:`read_echo_table` return them; for the
        simulated cohort one A4C echo per subject (``echo_a4c.dcm`` when
        present, else ``echo_a4c.avi``, which may not exist: loading reports it).

    Raises:
        UnknownLayoutError: the folder is in neither format.
        MalformedTableError: a table is malformed (names the table and line).
    """
    forced, folder = split_layout_prefix(root)
    folder = require_dir(folder)
    if forced not in (None, "echo-cmr", "synthetic"):
        raise UsageError(f"echo2cmr reads the echo-cmr or synthetic layout, not {forced!r}")
    has_tables = (folder / tables.CMR_TABLE).is_file() and (folder / tables.ECHO_TABLE).is_file()
    has_manifest = (folder / SYNTHETIC_MANIFEST).is_file() and (folder / SYNTHETIC_NOTICE).is_file()
    simulated = (folder / SYNTHETIC_NOTICE).is_file()
    if forced == "echo-cmr" or (forced is None and has_tables):
        cmr = read_cmr_table(folder / tables.CMR_TABLE)
        return cmr, read_echo_table(folder / tables.ECHO_TABLE), "echo-cmr", simulated
    if forced == "synthetic" or has_manifest:
        cmr, echo = _synthetic_tables(folder)
        return cmr, echo, "synthetic", True
    raise UnknownLayoutError(
        folder,
        f"expected {tables.CMR_TABLE} + {tables.ECHO_TABLE} (echo-cmr tables) or a simulated cohort "
        f"({SYNTHETIC_MANIFEST} + {SYNTHETIC_NOTICE}); EchoNet videos can be listed in {tables.ECHO_TABLE}",
    )


def _synthetic_tables(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    manifest = folder / SYNTHETIC_MANIFEST
    rows = tables.read_table_rows(manifest, ("subject_id", "cmr_date", "echo_date"), any_of=CMR_VALUE_COLUMNS)
    cmr = tables.cmr_frame(manifest, rows)
    echo_rows = []
    for line, row in rows:
        subject = folder / row["subject_id"]
        file = next((subject / n for n in SYNTHETIC_ECHO_NAMES if (subject / n).is_file()), subject / "echo_a4c.avi")
        echo_rows.append((line, {"subject_id": row["subject_id"], "echo_date": row["echo_date"], "file": str(file), "view": "A4C"}))
    return cmr, tables.echo_frame(manifest, echo_rows, folder.absolute())


def label_cutoffs(config: Echo2CmrConfig) -> dict[str, float]:
    """Abnormality cut-offs: {"t1": ms, "t2": ms, "ecv": %} (explicit value, else normal mean + abnormal_sd * SD)."""
    k = float(config.abnormal_sd)

    def cutoff(explicit: float | None, mean: float, sd: float) -> float:
        return float(explicit) if explicit is not None else float(mean + k * sd)

    return {
        "t1": cutoff(config.native_t1_cutoff_ms, config.native_t1_normal_mean_ms, config.native_t1_normal_sd_ms),
        "t2": cutoff(config.t2_cutoff_ms, config.t2_normal_mean_ms, config.t2_normal_sd_ms),
        "ecv": cutoff(config.ecv_cutoff_pct, config.ecv_normal_mean_pct, config.ecv_normal_sd_pct),
    }


def derive_labels(cmr: pd.DataFrame, config: Echo2CmrConfig) -> pd.DataFrame:
    """Binary CMR labels per row of ``cmr`` (same index): columns :data:`LABELS`, float 1/0/NaN.

    ``wma`` from ``wma``, ``lge`` from ``lge_present``; ``t1``/``t2``/``ecv``
    are 1 when ``native_t1_ms``/``t2_ms``/``ecv_pct`` exceed
    :func:`label_cutoffs` (strictly), 0 otherwise, NaN when unknown or when
    the column is absent.
    """
    cutoffs = label_cutoffs(config)
    sources = {"wma": ("wma", None), "lge": ("lge_present", None), "t1": ("native_t1_ms", cutoffs["t1"]),
               "t2": ("t2_ms", cutoffs["t2"]), "ecv": ("ecv_pct", cutoffs["ecv"])}
    out = pd.DataFrame(index=cmr.index)
    for label in LABELS:
        column, cutoff = sources[label]
        if column not in cmr:
            out[label] = np.nan
            continue
        values = pd.to_numeric(cmr[column], errors="coerce").astype(float)
        if cutoff is None:
            out[label] = values.where(values.isna(), (values > 0.5).astype(float))
        else:
            out[label] = values.where(values.isna(), (values > cutoff).astype(float))
    return out


def pseudonym(text: str, key: str, prefix: str = "S") -> str:
    """``prefix`` + the first 12 hex digits of HMAC-SHA256(key, text): stable for a key, unlinkable without it."""
    if not key:
        raise UsageError("the pseudonym key must not be empty (make one with new_id_key())")
    return prefix + hmac.new(key.encode("utf-8"), str(text).encode("utf-8"), sha256).hexdigest()[:12]


def new_id_key() -> str:
    """A fresh random pseudonym key (32 hex digits)."""
    return secrets.token_hex(16)


@dataclass
class PairingResult:
    """CMR–echo study pairs, the unpaired CMR studies and identifier-free statistics.

    Attributes:
        pairs: one row per pair: ``subject_id``, ``cmr_date``, ``echo_date``,
            ``days_offset`` (echo minus CMR, whole days; negative = echo
            first), ``files`` (list[Path], every file of the echo study),
            ``views`` (list[str], ``views[i]`` is the view of ``files[i]``) and
            the CMR value columns. Holds identifiers and dates: do not write it out.
        excluded: one row per unpaired CMR study: ``subject_key`` (keyed
            pseudonym of the subject), ``reason`` (one of
            :data:`EXCLUSION_REASONS`), ``nearest_echo_days`` (|days| to the
            subject's nearest dated echo study; NaN when none).
        stats: counts and day differences only (see :func:`pair_studies`).
    """

    pairs: pd.DataFrame
    excluded: pd.DataFrame
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _EchoStudy:
    subject_id: str
    date: pd.Timestamp
    files: tuple[Path, ...]
    views: tuple[str, ...]


def _echo_studies(echo: pd.DataFrame) -> list[_EchoStudy]:
    """Dated echo rows grouped by (subject, date); files in table order."""
    grouped: dict[tuple[str, pd.Timestamp], list[tuple[Path, str]]] = {}
    for row in echo.itertuples(index=False):
        if pd.isna(row.echo_date):
            continue
        view = str(row.view) if "view" in echo and not pd.isna(row.view) else tables.UNKNOWN_VIEW
        grouped.setdefault((str(row.subject_id), pd.Timestamp(row.echo_date).normalize()), []).append((Path(row.file), view))
    return [
        _EchoStudy(sid, date, tuple(f for f, _ in items), tuple(v for _, v in items))
        for (sid, date), items in sorted(grouped.items())
    ]


def pair_studies(
    cmr: pd.DataFrame, echo: pd.DataFrame, window_days: int, *, id_key: str | None = None
) -> PairingResult:
    """Pair CMR studies with echo studies (greedy, closest first; see the module docstring).

    Args:
        cmr: one row per CMR study (``subject_id``, ``cmr_date`` and value
            columns, as :func:`read_cmr_table` returns).
        echo: one row per echo file (``subject_id``, ``echo_date``, ``file``,
            ``view``, as :func:`read_echo_table` returns).
        window_days: largest |echo date - CMR date| in days that may pair.
        id_key: key of the pseudonyms in ``excluded`` (use the dataset's key
            to link them to its ``subject_key``s); None: a fresh random key.

    Returns:
        :class:`PairingResult`; ``stats`` holds ``window_days``,
        ``n_cmr_studies``, ``n_cmr_subjects``, ``n_cmr_missing_date``,
        ``n_echo_files``, ``n_echo_files_missing_date``, ``n_echo_studies``
        (dated), ``n_echo_studies_multi_file``, ``n_pairs``,
        ``n_pairs_echo_before_cmr`` / ``_same_day`` / ``_echo_after_cmr``,
        ``excluded`` ({reason: count} over :data:`EXCLUSION_REASONS`),
        ``n_echo_studies_unused``, ``abs_gap_days`` ({median, q1, q3, max}
        of the pairs' |days_offset|; None without pairs) and ``n_tie_breaks``
        (pairs chosen over a competing candidate with the same |gap|).
    """
    if int(window_days) != window_days or window_days < 0:
        raise UsageError(f"window_days must be a whole number of days >= 0, got {window_days}")
    window_days = int(window_days)
    cmr = cmr.reset_index(drop=True)
    for column in ("subject_id", "cmr_date"):
        if column not in cmr:
            raise UsageError(f"the CMR table needs a {column!r} column")
    for column in ("subject_id", "echo_date", "file"):
        if column not in echo:
            raise UsageError(f"the echo table needs a {column!r} column")
    subjects = cmr["subject_id"].astype(str).tolist()
    # Whole calendar days: a time of day in a hand-made frame must not shift a gap by one.
    cmr_dates = [None if pd.isna(d) else pd.Timestamp(d).normalize() for d in cmr["cmr_date"]]
    studies = _echo_studies(echo)
    studies_of: dict[str, list[int]] = defaultdict(list)
    for j, study in enumerate(studies):
        studies_of[study.subject_id].append(j)

    # Candidates sorted by (|gap|, echo after CMR, CMR date, CMR row, echo date).
    candidates: list[tuple[int, bool, pd.Timestamp, int, int, int]] = []
    for i, (sid, cmr_date) in enumerate(zip(subjects, cmr_dates)):
        if cmr_date is None:
            continue
        for j in studies_of.get(sid, []):
            gap = int((studies[j].date - cmr_date).days)
            if abs(gap) <= window_days:
                candidates.append((abs(gap), gap > 0, cmr_date, i, j, gap))
    candidates.sort(key=lambda c: (c[0], c[1], c[2], c[3], studies[c[4]].date))

    echo_of: dict[int, tuple[int, int]] = {}  # CMR row -> (echo study, gap)
    used_echo: set[int] = set()
    n_tie_breaks = 0
    for position, (abs_gap, _, _, i, j, gap) in enumerate(candidates):
        if i in echo_of or j in used_echo:
            continue
        # A tie-break: a later candidate at the same |gap|, still free, loses this CMR or this echo.
        for later in range(position + 1, len(candidates)):
            other = candidates[later]
            if other[0] != abs_gap:
                break
            if (other[3] == i and other[4] not in used_echo) or (other[4] == j and other[3] not in echo_of):
                n_tie_breaks += 1
                break
        echo_of[i] = (j, gap)
        used_echo.add(j)

    has_candidate = {c[3] for c in candidates}
    key = id_key or new_id_key()
    pair_rows, excluded_rows = [], []
    for i, (sid, cmr_date) in enumerate(zip(subjects, cmr_dates)):
        if i in echo_of:
            j, gap = echo_of[i]
            values = {c: (float(cmr.at[i, c]) if c in cmr else math.nan) for c in CMR_VALUE_COLUMNS}
            pair_rows.append({"subject_id": sid, "cmr_date": cmr_date, "echo_date": studies[j].date, "days_offset": gap,
                              "files": list(studies[j].files), "views": list(studies[j].views), **values})
            continue
        gaps = [abs(int((studies[j].date - cmr_date).days)) for j in studies_of.get(sid, [])] if cmr_date is not None else []
        if cmr_date is None:
            reason = "missing CMR date"
        elif not studies_of.get(sid):
            reason = "no echo of this subject"
        elif i not in has_candidate:
            reason = "no echo within window"
        else:
            reason = "echo already paired"
        excluded_rows.append({"subject_key": pseudonym(sid, key), "reason": reason,
                              "nearest_echo_days": float(min(gaps)) if gaps else math.nan})

    pairs = pd.DataFrame(pair_rows, columns=list(PAIR_COLUMNS))
    pairs["days_offset"] = pairs["days_offset"].astype(int)
    for column in CMR_VALUE_COLUMNS:
        pairs[column] = pairs[column].astype(float)
    pairs["cmr_date"] = pd.to_datetime(pairs["cmr_date"]).astype("datetime64[ns]")
    pairs["echo_date"] = pd.to_datetime(pairs["echo_date"]).astype("datetime64[ns]")
    excluded = pd.DataFrame(excluded_rows, columns=list(EXCLUDED_COLUMNS))
    excluded["nearest_echo_days"] = excluded["nearest_echo_days"].astype(float)
    offsets = pairs["days_offset"].to_numpy(int)
    stats = _stats(cmr, echo, studies, offsets, excluded, window_days, n_tie_breaks)
    return PairingResult(pairs=pairs, excluded=excluded, stats=stats)


def _stats(
    cmr: pd.DataFrame,
    echo: pd.DataFrame,
    studies: list[_EchoStudy],
    offsets: np.ndarray,
    excluded: pd.DataFrame,
    window_days: int,
    n_tie_breaks: int,
) -> dict[str, Any]:
    gaps = np.abs(offsets)
    if len(gaps):
        q1, median, q3 = (float(v) for v in np.percentile(gaps, [25, 50, 75]))
        abs_gap: dict[str, float | int | None] = {"median": median, "q1": q1, "q3": q3, "max": int(gaps.max())}
    else:
        abs_gap = {"median": None, "q1": None, "q3": None, "max": None}
    reasons = excluded["reason"].value_counts()
    return {
        "window_days": window_days,
        "n_cmr_studies": len(cmr),
        "n_cmr_subjects": int(cmr["subject_id"].nunique()),
        "n_cmr_missing_date": int(cmr["cmr_date"].isna().sum()),
        "n_echo_files": len(echo),
        "n_echo_files_missing_date": int(echo["echo_date"].isna().sum()),
        "n_echo_studies": len(studies),
        "n_echo_studies_multi_file": sum(len(s.files) > 1 for s in studies),
        "n_pairs": len(offsets),
        "n_pairs_echo_before_cmr": int((offsets < 0).sum()),
        "n_pairs_same_day": int((offsets == 0).sum()),
        "n_pairs_echo_after_cmr": int((offsets > 0).sum()),
        "excluded": {reason: int(reasons.get(reason, 0)) for reason in EXCLUSION_REASONS},
        "n_echo_studies_unused": len(studies) - len(offsets),
        "abs_gap_days": abs_gap,
        "n_tie_breaks": n_tie_breaks,
    }


__all__ = [
    "CMR_VALUE_COLUMNS",
    "EXCLUSION_REASONS",
    "PairingResult",
    "derive_labels",
    "label_cutoffs",
    "new_id_key",
    "pair_studies",
    "pseudonym",
    "read_cmr_table",
    "read_echo_table",
    "tables_from_directory",
]
