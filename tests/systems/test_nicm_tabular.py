"""nicm tabular classifiers: feature tables per variant, pipelines, fit/predict, joblib round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cardiolens.data.labels import CINE_GROUPS
from cardiolens.errors import CorruptFileError, UsageError
from cardiolens.synth.cine import simulate_cine
from cardiolens.systems.nicm.features import StudyFeatures, extract_features
from cardiolens.systems.nicm.tabular_models import (
    TABULAR_VARIANTS,
    align_features,
    feature_table,
    fit_tabular_model,
    load_tabular_model,
    make_tabular_model,
    save_tabular_model,
)


@pytest.fixture(scope="module")
def cohort() -> tuple[list[StudyFeatures], list[str]]:
    """5 classes x 4 small simulated studies."""
    features, labels = [], []
    for group in CINE_GROUPS:
        for seed in range(4):
            cine = simulate_cine(
                group, np.random.default_rng(200 + seed), f"{group}-{seed}", n_frames=12, n_slices=6, matrix=48
            )
            masks = np.stack([cine.segmentations[t] for t in range(cine.n_frames)])
            features.append(extract_features(cine, masks))
            labels.append(group)
    return features, labels


def test_feature_tables_hold_only_their_variant(cohort: tuple[list[StudyFeatures], list[str]]) -> None:
    features, _ = cohort
    artefact_keys = set(features[0].artefacts)
    tables = {variant: feature_table(features, variant) for variant in TABULAR_VARIANTS}
    for table in tables.values():
        assert list(table.index) == [f.subject_id for f in features] and table.index.name == "subject_id"
        assert all(dtype == np.float64 for dtype in table.dtypes)
    classical = tables["classical_rf"]
    assert {"lv_ef", "rv_lv_edv_ratio", "lv_thickness_cv", "ivpg_peak_systolic_mmhg_lnorm"} <= set(classical.columns)
    # The shortcut control: no artefact reaches the real classifiers, and they reach the control only.
    assert not artefact_keys & set(classical.columns) and not artefact_keys & set(tables["radiomics_svm"].columns)
    assert set(tables["artefact_control"].columns) == artefact_keys
    assert set(tables["radiomics_svm"].columns) == set(features[0].radiomics)
    assert classical.loc["DCM-0", "lv_ef"] == pytest.approx(features[4].classical["lv_ef"])


def test_feature_table_errors(cohort: tuple[list[StudyFeatures], list[str]]) -> None:
    features, _ = cohort
    with pytest.raises(UsageError, match="unknown tabular variant"):
        feature_table(features, "deep_magic")
    with pytest.raises(UsageError, match="duplicate subject ids"):
        feature_table([features[0], features[0]], "classical_rf")


def test_pipelines_have_the_documented_settings() -> None:
    rf = make_tabular_model("classical_rf", seed=7)
    forest = rf.named_steps["forest"]
    assert forest.n_estimators == 500 and forest.class_weight == "balanced" and forest.random_state == 7
    assert rf.named_steps["impute"].strategy == "median"
    svm = make_tabular_model("radiomics_svm", seed=3)
    assert list(svm.named_steps) == ["impute", "drop_constant", "scale", "svm"]
    calibrated = svm.named_steps["svm"]
    assert calibrated.method == "sigmoid" and calibrated.estimator.kernel == "rbf"  # Platt-scaled RBF SVM
    assert calibrated.estimator.class_weight == "balanced" and calibrated.estimator.random_state == 3
    assert make_tabular_model("artefact_control").named_steps["forest"].class_weight == "balanced"
    with pytest.raises(UsageError):
        make_tabular_model("resnet50")


def test_classical_rf_fits_and_beats_chance(cohort: tuple[list[StudyFeatures], list[str]]) -> None:
    features, labels = cohort
    table = feature_table(features, "classical_rf")
    model, columns = fit_tabular_model(table, labels, "classical_rf", seed=0)
    proba = model.predict_proba(align_features(table, columns))
    assert proba.shape == (20, 5)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert sorted(model.classes_) == sorted(CINE_GROUPS)
    accuracy = np.mean(model.predict(align_features(table, columns)) == np.array(labels))
    assert accuracy > 0.5  # chance is 0.2


@pytest.mark.parametrize("variant", ["radiomics_svm", "artefact_control"])
def test_other_variants_fit_and_predict(cohort: tuple[list[StudyFeatures], list[str]], variant: str) -> None:
    features, labels = cohort
    table = feature_table(features, variant)
    model, columns = fit_tabular_model(table, labels, variant)
    proba = model.predict_proba(align_features(table, columns))
    assert proba.shape == (20, 5) and np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    if variant == "radiomics_svm":
        assert model.named_steps["svm"].cv == 4  # 4 studies per class: calibration folds reduced from 5


def test_all_nan_columns_are_dropped_before_fitting(cohort: tuple[list[StudyFeatures], list[str]]) -> None:
    features, labels = cohort
    table = feature_table(features, "classical_rf").assign(never_measured=np.nan)
    _, columns = fit_tabular_model(table, labels, "classical_rf")
    assert "never_measured" not in columns and "lv_ef" in columns
    with pytest.raises(UsageError, match="two classes"):
        fit_tabular_model(table, ["NOR"] * len(table), "classical_rf")


def test_save_load_round_trip_uses_the_stored_columns(
    cohort: tuple[list[StudyFeatures], list[str]], tmp_path: Path
) -> None:
    features, labels = cohort
    table = feature_table(features, "classical_rf")
    model, columns = fit_tabular_model(table, labels, "classical_rf")
    path = save_tabular_model(model, columns, tmp_path / "model" / "classical_rf.joblib")
    assert [p.name for p in path.parent.iterdir()] == ["classical_rf.joblib"]
    loaded, loaded_columns = load_tabular_model(path)
    assert loaded_columns == columns
    # Columns shuffled, an unknown extra one and a missing one: the stored order still applies.
    shuffled = table[columns[::-1]].assign(extra=1.0).drop(columns=[columns[-1]])
    expected = model.predict_proba(align_features(table.assign(**{columns[-1]: np.nan}), columns))
    np.testing.assert_allclose(loaded.predict_proba(align_features(shuffled, loaded_columns)), expected)
    assert isinstance(align_features(shuffled, loaded_columns), pd.DataFrame)


def test_loading_a_bad_model_file_names_it(tmp_path: Path) -> None:
    bad = tmp_path / "broken.joblib"
    bad.write_bytes(b"definitely not a pickle")
    with pytest.raises(CorruptFileError, match="broken.joblib"):
        load_tabular_model(bad)
    import joblib

    joblib.dump({"something": "else"}, tmp_path / "other.joblib")
    with pytest.raises(CorruptFileError, match="not a cardiolens nicm tabular model"):
        load_tabular_model(tmp_path / "other.joblib")
