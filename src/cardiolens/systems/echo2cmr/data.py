"""Paired echo-CMR datasets for ``echo2cmr``: one row per CMR study paired with an echo study.

:func:`load_paired_dataset` reads the tables of either accepted format
(:func:`~cardiolens.systems.echo2cmr.pairing.tables_from_directory`), pairs
each CMR study with the closest echo study of the subject within
``config.window_days`` (:func:`~cardiolens.systems.echo2cmr.pairing.pair_studies`),
derives the CMR labels (:func:`~cardiolens.systems.echo2cmr.pairing.derive_labels`)
and decodes every echo file of every pair once, resized to
``config.image_size`` pixels and kept as uint8 (600 videos x 64 frames x
64 x 64 pixels is about 160 MB).

Identifiers never leave this module in clear: a pair is known by
``pair_id`` (keyed pseudonym of subject id and CMR date) and its person by
``subject_key`` (keyed pseudonym of the subject id), both computed with the
model's ``id_key`` so that evaluation can recognise the subjects a model was
trained on. A video that fails to decode becomes a :class:`BadCase` naming the
file; its pair keeps its other videos or is dropped when none is left, and the
batch continues.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cardiolens.data.cohort import BadCase, SubjectRecord
from cardiolens.errors import DataError
from cardiolens.systems.echo2cmr.clips import resize_frames
from cardiolens.systems.echo2cmr.config import LABELS, Echo2CmrConfig

if TYPE_CHECKING:
    from cardiolens.systems.echo2cmr.pairing import PairingResult

#: Columns of :attr:`PairedEchoDataset.pairs` besides the labels.
PAIR_COLUMNS: tuple[str, ...] = ("pair_id", "subject_key", "days_offset", "views", "n_videos")
UNKNOWN_VIEW = "UNKNOWN"
#: Pseudonym prefixes: P = one CMR study paired with an echo study, S = a subject (person).
PAIR_PREFIX = "P"
SUBJECT_PREFIX = "S"


@dataclass(eq=False)
class EchoVideo:
    """One decoded echo video of a pair.

    Attributes:
        key: pseudonymous name (``<pair_id>_<k>``), safe to write to outputs.
        view: upper-case echo view ("A4C", "PLAX", "UNKNOWN"...).
        frames: (t, S, S) uint8 at ``config.image_size`` pixels (zero-padded to square).
        fps: frame rate in frames per second.
        source: the file it was decoded from (kept in memory only; may name the subject).
    """

    key: str
    view: str
    frames: np.ndarray
    fps: float
    source: Path

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])


@dataclass(eq=False)
class PairedEchoDataset:
    """Paired studies with their decoded videos and derived CMR labels.

    Attributes:
        pairs: one row per usable pair: ``pair_id``, ``subject_key``,
            ``days_offset`` (echo minus CMR, days), ``views`` (";"-joined),
            ``n_videos`` and the :data:`LABELS` columns (float 1/0, NaN unknown).
        videos: ``pair_id`` -> that pair's decoded videos.
        pairing: the pairing result (stats and exclusions hold no identifiers).
        bad_cases: videos that could not be decoded (``subject_id`` = pair_id).
        layout: "echo-cmr" or "synthetic".
        path: the data folder.
        simulated: True for simulated data.
        id_key: the key the pseudonyms were made with (written to the model directory).
        subject_ids: ``pair_id`` -> the data's own subject ID. Kept in memory only (never
            written) so that a split depends on the data and the seed, not on the random
            pseudonym key of a new model.
    """

    pairs: pd.DataFrame
    videos: dict[str, list[EchoVideo]]
    pairing: PairingResult | None
    bad_cases: list[BadCase]
    layout: str
    path: Path
    simulated: bool = False
    id_key: str = ""
    subject_ids: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.pairs)

    @property
    def pair_ids(self) -> list[str]:
        return [str(p) for p in self.pairs["pair_id"]]

    def subset(self, pair_ids: list[str] | tuple[str, ...] | set[str]) -> PairedEchoDataset:
        """The pairs in ``pair_ids`` (dataset order kept); pairing, bad cases and key are shared."""
        wanted = set(pair_ids)
        mask = self.pairs["pair_id"].isin(wanted).to_numpy()
        pairs = self.pairs.loc[mask].reset_index(drop=True)
        return PairedEchoDataset(
            pairs=pairs,
            videos={p: self.videos[p] for p in pairs["pair_id"]},
            pairing=self.pairing,
            bad_cases=list(self.bad_cases),
            layout=self.layout,
            path=self.path,
            simulated=self.simulated,
            id_key=self.id_key,
            subject_ids={p: self.subject_ids[p] for p in pairs["pair_id"] if p in self.subject_ids},
        )

    def records(self) -> list[SubjectRecord]:
        """One record per pair (subject_id = pair_id, patient_id = the subject, label = WMA "0"/"1" or None).

        The patient is the data's own subject ID when known (see ``subject_ids``), else ``subject_key``.
        """
        out = []
        for pair_id, subject_key, wma in zip(self.pairs["pair_id"], self.pairs["subject_key"], self.pairs["wma"]):
            label = None if _missing(wma) else str(int(wma))
            patient = self.subject_ids.get(str(pair_id), str(subject_key))
            out.append(SubjectRecord(str(pair_id), label=label, patient_id=patient))
        return out

    def label_matrix(self) -> np.ndarray:
        """(n_pairs, len(LABELS)) float32 with 1/0 and NaN for unknown."""
        return self.pairs[list(LABELS)].to_numpy(dtype=np.float32).reshape(len(self.pairs), len(LABELS))

    def all_videos(self) -> list[tuple[str, EchoVideo]]:
        """(pair_id, video) for every video, in pair order."""
        return [(pair_id, video) for pair_id in self.pair_ids for video in self.videos[pair_id]]

    def views(self) -> list[str]:
        """Views present, most videos first (ties alphabetical)."""
        counts: dict[str, int] = {}
        for _, video in self.all_videos():
            counts[video.view] = counts.get(video.view, 0) + 1
        return sorted(counts, key=lambda v: (-counts[v], v))


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def normalise_view(view: Any) -> str:
    """Upper-case view name; empty / "unknown" / missing -> "UNKNOWN"."""
    if view is None or (isinstance(view, float) and math.isnan(view)):
        return UNKNOWN_VIEW
    text = str(view).strip().upper()
    return text or UNKNOWN_VIEW


def decode_video(path: str | Path, view: str | None, config: Echo2CmrConfig, key: str) -> EchoVideo:
    """Decode one echo file (video or DICOM) into an :class:`EchoVideo` at ``config.image_size``.

    ``view`` None or "UNKNOWN" takes the file's own view (DICOM view tags) when it has one.

    Raises:
        cardiolens.errors.DataError: the file cannot be read (names the file).
    """
    from cardiolens.io.echo_files import read_echo_file

    wanted = None if view is None or normalise_view(view) == UNKNOWN_VIEW else normalise_view(view)
    clip = read_echo_file(path, view=wanted)
    return EchoVideo(
        key=key,
        view=wanted or normalise_view(clip.view),
        frames=resize_frames(clip.frames, config.image_size),
        fps=float(clip.fps),
        source=Path(path),
    )


def _date_text(value: Any) -> str:
    stamp = pd.Timestamp(value)
    return "" if pd.isna(stamp) else stamp.date().isoformat()


def load_paired_dataset(path: str | Path, config: Echo2CmrConfig, id_key: str) -> PairedEchoDataset:
    """Read, pair, label and decode a paired echo-CMR dataset folder (see the module docstring).

    Args:
        path: an echo-cmr table folder or a simulated cohort (``layout:PATH`` prefixes are accepted).
        config: pairing window, label cut-offs and image size.
        id_key: the pseudonym key (:func:`~cardiolens.systems.echo2cmr.pairing.new_id_key` for new models,
            the model directory's ``id_key.txt`` otherwise).

    Raises:
        cardiolens.errors.DataError: unreadable tables or folder (names the file and problem).
    """
    from cardiolens.io.layouts import split_layout_prefix
    from cardiolens.systems.echo2cmr.pairing import (
        derive_labels,
        pair_studies,
        pseudonym,
        tables_from_directory,
    )

    _, root = split_layout_prefix(path)
    cmr, echo, layout, simulated = tables_from_directory(path)
    pairing = pair_studies(cmr, echo, config.window_days, id_key=id_key)
    table = pairing.pairs.reset_index(drop=True)
    labels = derive_labels(table, config).reset_index(drop=True)
    rows: list[dict[str, Any]] = []
    videos: dict[str, list[EchoVideo]] = {}
    bad: list[BadCase] = []
    subject_ids: dict[str, str] = {}
    for i, pair in table.iterrows():
        subject_id = str(pair["subject_id"])
        # One CMR study per subject and date (the table readers refuse duplicates), so this is unique.
        pair_id = pseudonym(f"{subject_id}|{_date_text(pair['cmr_date'])}", id_key, PAIR_PREFIX)
        decoded: list[EchoVideo] = []
        files, views = list(pair["files"]), list(pair["views"])
        for k, (file, view) in enumerate(zip(files, views)):
            try:
                decoded.append(decode_video(file, view, config, key=f"{pair_id}_{k}"))
            except DataError as exc:
                bad.append(BadCase(pair_id, exc.path, exc.problem))
        if not decoded:
            bad.append(BadCase(pair_id, str(root), f"none of the pair's {len(files)} echo file(s) could be decoded; pair dropped"))
            continue
        videos[pair_id] = decoded
        subject_ids[pair_id] = subject_id
        row: dict[str, Any] = {
            "pair_id": pair_id,
            "subject_key": pseudonym(subject_id, id_key, SUBJECT_PREFIX),
            "days_offset": int(pair["days_offset"]),
            "views": ";".join(sorted({v.view for v in decoded})),
            "n_videos": len(decoded),
        }
        row.update({label: float(labels.at[i, label]) for label in LABELS})
        rows.append(row)
    pairs = pd.DataFrame(rows, columns=[*PAIR_COLUMNS, *LABELS])
    pairs[list(LABELS)] = pairs[list(LABELS)].astype(float)
    return PairedEchoDataset(
        pairs=pairs, videos=videos, pairing=pairing, bad_cases=bad, layout=layout,
        path=Path(root), simulated=bool(simulated), id_key=id_key, subject_ids=subject_ids,
    )


__all__ = ["EchoVideo", "PairedEchoDataset", "decode_video", "load_paired_dataset", "normalise_view"]
