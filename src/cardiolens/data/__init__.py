"""Typed containers that keep geometry and units, and cohort helpers."""

from cardiolens.data.cine import CineCMR
from cardiolens.data.cohort import (
    BadCase,
    Cohort,
    Split,
    SubjectRecord,
    patient_kfold,
    patient_train_test_split,
)
from cardiolens.data.ecg import ECG12, normalise_lead_name
from cardiolens.data.echo import EchoClip
from cardiolens.data.labels import (
    CINE_GROUPS,
    CINE_LABELS,
    LGE_LABELS,
    MAP_LABELS,
    SCAR_PATTERNS,
    STANDARD_LEADS,
)
from cardiolens.data.volume import MODALITY_UNITS, CMRVolume

__all__ = [
    "BadCase",
    "CINE_GROUPS",
    "CINE_LABELS",
    "CMRVolume",
    "CineCMR",
    "Cohort",
    "ECG12",
    "EchoClip",
    "LGE_LABELS",
    "MAP_LABELS",
    "MODALITY_UNITS",
    "SCAR_PATTERNS",
    "STANDARD_LEADS",
    "Split",
    "SubjectRecord",
    "normalise_lead_name",
    "patient_kfold",
    "patient_train_test_split",
]
