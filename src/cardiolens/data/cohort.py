"""Cohorts (one record per subject) and patient-level splitting.

A *subject* is one study (an ACDC patient, an EMIDEC case, a PTB-XL ECG); a
*patient* may own several subjects (PTB-XL has several ECGs per patient), so
every split groups by ``patient_id`` and no patient is ever on both sides.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cardiolens.errors import UsageError


@dataclass
class SubjectRecord:
    """What a layout scan knows about one subject without loading its images.

    Attributes:
        subject_id: unique within the cohort.
        patient_id: the person; defaults to ``subject_id``.
        label: class label (diagnosis group, case label...) or None.
        paths: named files of this subject (e.g. {"cine": ..., "ed_gt": ...}).
        attributes: tabular extras (height_cm, weight_kg, spacing_known, fold...).
    """

    subject_id: str
    label: str | None = None
    patient_id: str = ""
    paths: dict[str, Path] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.patient_id = self.patient_id or self.subject_id


@dataclass
class BadCase:
    """A subject a batch reader could not use, with the reason (names the file)."""

    subject_id: str
    path: str
    problem: str


@dataclass
class Cohort:
    """A scanned dataset: its layout, root folder, records and bad cases."""

    layout: str
    root: Path
    records: list[SubjectRecord]
    bad_cases: list[BadCase] = field(default_factory=list)
    simulated: bool = False

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, subject_id: str) -> SubjectRecord:
        for record in self.records:
            if record.subject_id == subject_id:
                return record
        raise KeyError(subject_id)

    @property
    def subject_ids(self) -> list[str]:
        return [r.subject_id for r in self.records]

    @property
    def n_patients(self) -> int:
        return len({r.patient_id for r in self.records})

    def class_counts(self) -> dict[str, int]:
        """Subjects per label, sorted by label (unlabelled subjects are not counted)."""
        counts = Counter(r.label for r in self.records if r.label is not None)
        return dict(sorted(counts.items()))

    def subset(self, subject_ids: list[str] | set[str]) -> Cohort:
        wanted = set(subject_ids)
        return Cohort(
            layout=self.layout,
            root=self.root,
            records=[r for r in self.records if r.subject_id in wanted],
            simulated=self.simulated,
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per subject: ids, label and attributes."""
        rows = [
            {"subject_id": r.subject_id, "patient_id": r.patient_id, "label": r.label, **r.attributes}
            for r in self.records
        ]
        return pd.DataFrame(rows)


@dataclass(frozen=True)
class Split:
    """One train/test partition, as subject ids."""

    train: tuple[str, ...]
    test: tuple[str, ...]


def _arrays(records: list[SubjectRecord]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ids = np.array([r.subject_id for r in records])
    groups = np.array([r.patient_id for r in records])
    labels = np.array(["" if r.label is None else str(r.label) for r in records])
    return ids, groups, labels


def patient_kfold(
    records: list[SubjectRecord], n_splits: int = 5, seed: int = 0, stratify: bool = True
) -> list[Split]:
    """Stratified k-fold by patient: every patient's subjects fall in one test fold.

    Stratification balances labels across folds as far as patient grouping
    allows (scikit-learn's StratifiedGroupKFold). Deterministic for a seed.
    """
    if n_splits < 2:
        raise UsageError(f"n_splits must be at least 2, got {n_splits}")
    ids, groups, labels = _arrays(records)
    n_patients = len(set(groups))
    if n_patients < n_splits:
        raise UsageError(f"{n_patients} patients cannot be split into {n_splits} folds")
    y = labels if stratify else np.zeros(len(ids), dtype=int)
    from sklearn.model_selection import StratifiedGroupKFold  # lazy: scikit-learn import costs ~2.5 s

    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return [
        Split(train=tuple(ids[train]), test=tuple(ids[test]))
        for train, test in splitter.split(ids, y, groups)
    ]


def can_stratify(records: list[SubjectRecord], test_fraction: float) -> bool:
    """Whether :func:`patient_train_test_split` can stratify: every subject labelled and every class
    holding at least one subject per fold of its k = round(1 / test_fraction)-fold split."""
    labels = [r.label for r in records]
    n_splits = max(2, round(1 / test_fraction))
    return None not in labels and all(labels.count(label) >= n_splits for label in set(labels))


def patient_train_test_split(
    records: list[SubjectRecord], test_fraction: float = 0.2, seed: int = 0, stratify: bool = True
) -> Split:
    """One patient-disjoint split with about ``test_fraction`` of the subjects in test.

    With ``stratify`` the split is the first fold of a stratified group k-fold
    with k = round(1 / test_fraction), which keeps class proportions; without it
    patients are shuffled into the test side.
    """
    if not 0 < test_fraction < 1:
        raise UsageError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if stratify:
        n_splits = max(2, round(1 / test_fraction))
        return patient_kfold(records, n_splits=n_splits, seed=seed, stratify=True)[0]
    ids, groups, _ = _arrays(records)
    from sklearn.model_selection import GroupShuffleSplit

    splitter = GroupShuffleSplit(n_splits=1, test_size=test_fraction, random_state=seed)
    train, test = next(splitter.split(ids, groups=groups))
    return Split(train=tuple(ids[train]), test=tuple(ids[test]))


def validation_split(records: list[SubjectRecord], val_fraction: float, seed: int = 0) -> tuple[list[str], list[str], str]:
    """(training ids, validation ids, method text): the systems' early-stopping split.

    Patient-disjoint, stratified on the records' labels whenever
    :func:`can_stratify` allows; the method text records what was done.
    """
    stratify = can_stratify(records, val_fraction)
    split = patient_train_test_split(records, val_fraction, seed=seed, stratify=stratify)
    method = f"patient_train_test_split(test_fraction={val_fraction}, seed={seed}, stratify={stratify})"
    return list(split.train), list(split.test), method
