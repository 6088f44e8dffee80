from pathlib import Path

import pytest

from cardiolens.data import (
    Cohort,
    SubjectRecord,
    patient_kfold,
    patient_train_test_split,
)
from cardiolens.errors import UsageError


def _records():
    # 30 patients, some with several subjects (like PTB-XL), 3 classes
    records = []
    for p in range(30):
        for k in range(1 + p % 3):
            records.append(SubjectRecord(f"s{p}_{k}", label="ABC"[p % 3], patient_id=f"p{p}"))
    return records


def test_kfold_is_patient_disjoint_and_covers_everyone_once():
    records = _records()
    folds = patient_kfold(records, n_splits=5, seed=1)
    patient_of = {r.subject_id: r.patient_id for r in records}
    tested = []
    for fold in folds:
        train_patients = {patient_of[s] for s in fold.train}
        test_patients = {patient_of[s] for s in fold.test}
        assert not train_patients & test_patients
        assert set(fold.train) | set(fold.test) == set(patient_of)
        tested += fold.test
    assert sorted(tested) == sorted(patient_of)


def test_kfold_stratifies_and_is_deterministic():
    records = _records()
    label = {r.subject_id: r.label for r in records}
    folds = patient_kfold(records, n_splits=5, seed=3)
    for fold in folds:
        assert {label[s] for s in fold.test} == {"A", "B", "C"}
    assert folds == patient_kfold(records, n_splits=5, seed=3)
    assert folds != patient_kfold(records, n_splits=5, seed=4)


def test_train_test_split_fraction_and_disjoint():
    records = _records()
    split = patient_train_test_split(records, test_fraction=0.2, seed=0)
    patient_of = {r.subject_id: r.patient_id for r in records}
    assert not {patient_of[s] for s in split.train} & {patient_of[s] for s in split.test}
    assert 0.1 < len({patient_of[s] for s in split.test}) / 30 < 0.3
    unstratified = patient_train_test_split(records, test_fraction=0.3, seed=0, stratify=False)
    assert not {patient_of[s] for s in unstratified.train} & {patient_of[s] for s in unstratified.test}


def test_split_usage_errors():
    with pytest.raises(UsageError):
        patient_kfold(_records()[:3], n_splits=5)
    with pytest.raises(UsageError):
        patient_train_test_split(_records(), test_fraction=1.5)


def test_cohort_counts_and_subset():
    cohort = Cohort("x", root=Path("."), records=_records())
    assert cohort.n_patients == 30
    assert cohort.class_counts() == {"A": 10, "B": 20, "C": 30}  # 1, 2, 3 subjects per patient
    sub = cohort.subset({"s0_0", "s1_0"})
    assert sub.subject_ids == ["s0_0", "s1_0"]
    assert list(cohort.to_frame().columns[:3]) == ["subject_id", "patient_id", "label"]
