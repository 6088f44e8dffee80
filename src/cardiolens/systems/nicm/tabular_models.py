"""Tabular ``nicm`` classifiers: classical features + random forest, radiomics + SVM, artefact control.

- ``classical_rf``: the spacing-invariant ratios of
  :attr:`StudyFeatures.classical` plus the length-normalised IVPG features,
  median imputation, a 500-tree random forest with balanced class weights
  (the route of the ACDC diagnosis winners, Isensee et al. and Khened et al.,
  in ratio form).
- ``radiomics_svm``: the scale-invariant pyradiomics features, median
  imputation, constant columns dropped, standardised, RBF SVM whose scores
  are turned into probabilities by Platt (sigmoid) calibration on internal
  cross-validation folds (``CalibratedClassifierCV(ensemble=False)``, the
  replacement scikit-learn gives for ``SVC(probability=True)``). ``C=1`` and ``gamma="scale"`` (= 1 / (n_features x variance),
  i.e. 1 / n_features after standardising): with a few hundred correlated
  features and cohorts of tens to hundreds of studies, the default margin
  regularisation keeps the SVM from memorising the training set, and the
  kernel width follows the feature count instead of being tuned on the
  evaluation data.
- ``artefact_control``: only :attr:`StudyFeatures.artefacts` (spacing known,
  raw intensity range, matrix). Its accuracy is how much of a result the
  dataset artefacts alone could explain; it is never a diagnostic model.

A fitted model is stored with its feature columns (joblib, written
atomically); :func:`align_features` puts a new table into that order (missing
columns become NaN and are imputed) so prediction always sees the training
columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_selection import VarianceThreshold
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from cardiolens.errors import CorruptFileError, UsageError
from cardiolens.io.atomic import atomic_path
from cardiolens.io.files import require_file
from cardiolens.systems.nicm.features import StudyFeatures

__all__ = [
    "TABULAR_VARIANTS",
    "align_features",
    "feature_table",
    "fit_tabular_model",
    "load_tabular_model",
    "make_tabular_model",
    "save_tabular_model",
]

TabularVariant = Literal["classical_rf", "radiomics_svm", "artefact_control"]
TABULAR_VARIANTS: Final[tuple[str, ...]] = ("classical_rf", "radiomics_svm", "artefact_control")
N_TREES: Final[int] = 500
SVM_C: Final[float] = 1.0
#: Folds of the Platt (sigmoid) calibration of the SVM; fewer when a class has fewer studies.
CALIBRATION_FOLDS: Final[int] = 5
_FORMAT: Final[str] = "cardiolens.nicm.tabular/1"


def _check_variant(variant: str) -> None:
    if variant not in TABULAR_VARIANTS:
        raise UsageError(f"unknown tabular variant {variant!r}; choose one of {', '.join(TABULAR_VARIANTS)}")


def _row(features: StudyFeatures, variant: str) -> dict[str, float]:
    if variant == "classical_rf":
        return {**features.classical, **features.ivpg_features}
    if variant == "radiomics_svm":
        return dict(features.radiomics)
    return dict(features.artefacts)


def feature_table(features: Sequence[StudyFeatures], variant: str) -> pd.DataFrame:
    """One row per study (index ``subject_id``), the columns of ``variant`` (float, NaN when missing).

    Raises:
        UsageError: unknown variant, duplicate subject ids, or (radiomics_svm)
            studies extracted without radiomics.
    """
    _check_variant(variant)
    ids = [f.subject_id for f in features]
    duplicated = sorted({s for s in ids if ids.count(s) > 1})
    if duplicated:
        raise UsageError(f"duplicate subject ids in the feature table: {', '.join(duplicated[:5])}")
    rows = [_row(f, variant) for f in features]
    if variant == "radiomics_svm" and any(not r for r in rows):
        missing = [f.subject_id for f, r in zip(features, rows) if not r]
        raise UsageError(f"no radiomics features for {', '.join(missing[:5])}: extract with radiomics=True")
    columns = list(dict.fromkeys(key for row in rows for key in row))  # first-seen order, stable
    table = pd.DataFrame.from_records(rows, index=pd.Index(ids, name="subject_id"), columns=columns)
    return table.astype(float)


def make_tabular_model(variant: str, seed: int = 0) -> Pipeline:
    """An unfitted scikit-learn pipeline for ``variant`` (see the module docstring)."""
    _check_variant(variant)
    if variant == "radiomics_svm":
        svm = SVC(kernel="rbf", C=SVM_C, gamma="scale", class_weight="balanced", random_state=seed)
        return Pipeline(
            [
                ("impute", SimpleImputer(strategy="median")),
                ("drop_constant", VarianceThreshold(0.0)),
                ("scale", StandardScaler()),
                ("svm", CalibratedClassifierCV(svm, method="sigmoid", cv=CALIBRATION_FOLDS, ensemble=False)),
            ]
        )
    forest = RandomForestClassifier(n_estimators=N_TREES, class_weight="balanced", random_state=seed, n_jobs=1)
    return Pipeline([("impute", SimpleImputer(strategy="median")), ("forest", forest)])


def align_features(table: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """``table`` with exactly ``columns`` in that order (absent ones NaN, extra ones dropped)."""
    return table.reindex(columns=list(columns)).astype(float)


def fit_tabular_model(
    table: pd.DataFrame, labels: Sequence[Any], variant: str, seed: int = 0
) -> tuple[Pipeline, list[str]]:
    """Fit :func:`make_tabular_model` on ``table``; returns the model and its column order.

    Columns that are NaN for every study are dropped first (nothing to learn, and
    the imputer would drop them silently, shifting the columns). The SVM's
    calibration uses min(5, smallest class size) folds.
    """
    if len(table) != len(labels):
        raise UsageError(f"{len(table)} feature rows but {len(labels)} labels")
    if len(set(labels)) < 2:
        raise UsageError("a classifier needs at least two classes in the training labels")
    columns = [c for c in table.columns if table[c].notna().any()]
    if not columns:
        raise UsageError(f"no usable feature column for {variant}")
    model = make_tabular_model(variant, seed)
    if variant == "radiomics_svm":
        smallest = int(pd.Series(list(labels)).value_counts().min())
        if smallest < 2:
            raise UsageError("the SVM's probability calibration needs at least 2 studies of every class")
        model.set_params(svm__cv=min(CALIBRATION_FOLDS, smallest))
    model.fit(align_features(table, columns), np.asarray(labels))
    return model, columns


def save_tabular_model(model: Pipeline, columns: Sequence[str], path: str | Path) -> Path:
    """Write the fitted pipeline and its column order with joblib (atomically)."""
    import joblib
    import sklearn

    payload = {"format": _FORMAT, "model": model, "columns": list(columns), "sklearn_version": sklearn.__version__}
    with atomic_path(path) as tmp:
        joblib.dump(payload, tmp)
    return Path(path)


def load_tabular_model(path: str | Path) -> tuple[Pipeline, list[str]]:
    """Read a model written by :func:`save_tabular_model`: (pipeline, column order).

    Only load files you trust: joblib files can run code when loaded.
    """
    import joblib

    p = require_file(path)
    try:
        payload = joblib.load(p)
    except Exception as exc:  # unpickling raises many types on a bad file
        raise CorruptFileError(p, f"not a readable joblib model ({type(exc).__name__}: {exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise CorruptFileError(p, "not a cardiolens nicm tabular model")
    return payload["model"], list(payload["columns"])
