"""``nicm``: every variant fits and predicts, model directories round-trip, the CLI flow works end to end, no leakage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from cardiolens.errors import UsageError
from cardiolens.systems.nicm.config import DEEP_VARIANTS, VARIANTS, NicmConfig
from cardiolens.systems.nicm.features import SERIES_CHANNELS, StudyFeatures
from cardiolens.systems.nicm.fitting import FittedNicm, fit_variant

CLASSES = ["A", "B"]
TINY = {"epochs": 2, "patience": 2, "batch_size": 4, "width": 4, "feature_dim": 8, "lstm_hidden": 4, "series_hidden": (8,),
        "head_hidden": 8, "n_frames": 4, "n_phases": 8, "crop_px": 32, "vgg_classifier_width": 16, "num_threads": 1}


def _features(n: int, seed: int = 0) -> tuple[dict[str, StudyFeatures], dict[str, str]]:
    """Random studies whose class shows in one classical feature, the series and the images."""
    rng = np.random.default_rng(seed)
    features, labels = {}, {}
    for i in range(n):
        label = CLASSES[i % 2]
        shift = 1.0 if label == "B" else 0.0
        sid = f"S{i:03d}"
        frames = rng.random((4, 3, 32, 32)).astype(np.float32) * 0.5 + 0.5 * shift
        features[sid] = StudyFeatures(
            subject_id=sid, frames=frames, ed_es_image=frames[0].copy(),
            series=(rng.normal(size=(len(SERIES_CHANNELS), 8)) + 2 * shift).astype(np.float32), cycle_pct=np.linspace(0, 96, 8),
            classical={"lv_ef": 0.6 - 0.3 * shift + rng.normal(0, 0.02), "rv_lv_edv_ratio": rng.normal(1, 0.1)},
            radiomics={"ed_lv_cavity_shape3d_Sphericity": 0.7 + 0.1 * shift + rng.normal(0, 0.01), "ed_lv_cavity_glcm_Contrast": rng.random()},
            artefacts={"spacing_known": float(rng.random() < 0.5), "intensity_max_raw": float(rng.integers(200, 4000))},
            ivpg_features={"rms_cycle_mmhg": rng.normal(1 + shift, 0.1)}, frame_indices=np.arange(4), crop_box={},
        )
        labels[sid] = label
    return features, labels


def test_unknown_variant_is_refused() -> None:
    with pytest.raises(UsageError, match="unknown nicm variant"):
        NicmConfig(variant="transformer")


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_fits_predicts_and_round_trips(variant: str, tmp_path: Path) -> None:
    features, labels = _features(16)
    config = NicmConfig(variant=variant, **TINY)
    ids = sorted(features)
    fitted = fit_variant(features, labels, ids[:12], config, CLASSES)
    proba = fitted.predict_proba([features[s] for s in ids[12:]])
    assert proba.shape == (4, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert (fitted.network is not None) == (variant in DEEP_VARIANTS)
    fitted.save(tmp_path)
    loaded = FittedNicm.load(tmp_path, config, CLASSES, len(SERIES_CHANNELS), 3)
    np.testing.assert_allclose(loaded.predict_proba([features[s] for s in ids[12:]]), proba, atol=1e-5)


def test_a_deep_fit_depends_on_its_seed_not_on_what_ran_before() -> None:
    features, labels = _features(16)
    ids = sorted(features)

    def fit_and_predict(seed: int) -> np.ndarray:
        fitted = fit_variant(features, labels, ids[:12], NicmConfig(variant="fused", seed=seed, **TINY), CLASSES)
        return fitted.predict_proba([features[s] for s in ids[12:]])

    first = fit_and_predict(0)
    torch.rand(1000)  # other work in the same process moves the global random state
    np.testing.assert_array_equal(fit_and_predict(0), first)
    assert not np.array_equal(fit_and_predict(1), first)


def test_classical_route_learns_a_separable_feature() -> None:
    features, labels = _features(30, seed=1)
    ids = sorted(features)
    fitted = fit_variant(features, labels, ids[:20], NicmConfig(variant="classical_rf", **TINY), CLASSES)
    predicted = [CLASSES[i] for i in fitted.predict_proba([features[s] for s in ids[20:]]).argmax(axis=1)]
    assert predicted == [labels[s] for s in ids[20:]]


def test_labels_outside_the_class_names_are_refused() -> None:
    features, labels = _features(8)
    with pytest.raises(UsageError, match="not among the class names"):
        fit_variant(features, labels, sorted(features), NicmConfig(variant="classical_rf", **TINY), ["A"])


# --------------------------------------------------------------------------- the whole flow on simulated cohorts


@pytest.fixture(scope="module")
def nicm_model(sim_train_cohort: Path, tiny_seg_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cardiolens.systems.nicm.training import train

    config = NicmConfig(seg_model=str(tiny_seg_model), **{**TINY, "crop_px": 32})
    return train(sim_train_cohort, tmp_path_factory.mktemp("nicm") / "model", config)


def test_training_writes_a_self_contained_model_directory(nicm_model: Path) -> None:
    card = json.loads((nicm_model / "model.json").read_text())
    assert card["system"] == "nicm" and card["class_names"] == ["DCM", "HCM", "MINF", "NOR", "RV"]
    assert len(card["trained_subject_ids"]) == 10 and card["simulated_training_data"] is True
    assert (nicm_model / "seg" / "model.json").is_file()  # the cine-seg model travels with it
    assert {"weights.pt", "normalisation.json", "model.onnx", "fit.json"} <= {p.name for p in nicm_model.iterdir()}


def test_evaluate_refuses_overlap_and_reports_metrics_with_cis(nicm_model: Path, sim_train_cohort: Path, sim_test_cohort: Path,
                                                               tmp_path: Path) -> None:
    from cardiolens.systems.nicm.evaluation import evaluate

    with pytest.raises(UsageError, match="used to train"):
        evaluate(nicm_model, sim_train_cohort, tmp_path / "overlap")
    document = json.loads((evaluate(nicm_model, sim_test_cohort, tmp_path / "eval") / "metrics.json").read_text())
    metrics = document["metrics"]
    for key in ("accuracy", "balanced_accuracy", "macro_auc", "recall_DCM", "precision_RV", "auc_NOR"):
        assert key in metrics
    assert metrics["accuracy"]["ci"] is not None and metrics["macro_auc"]["ci"] is not None
    matrix = np.asarray(document["confusion_matrix"]["rows_true_columns_predicted"])
    assert matrix.shape == (5, 5) and matrix.sum() == 5 and (matrix.sum(axis=1) == 1).all()
    table = pd.read_csv(tmp_path / "eval" / "predictions.csv")
    assert metrics["accuracy"]["value"] == pytest.approx((table["label"] == table["predicted"]).mean())


def test_predict_and_explain(nicm_model: Path, sim_test_cohort: Path, tmp_path: Path) -> None:
    from cardiolens.systems.nicm.explanation import explain
    from cardiolens.systems.nicm.prediction import predict

    out = predict(nicm_model, [str(sim_test_cohort / "SIM0011"), str(tmp_path / "nothing_here")], tmp_path / "pred")
    table = pd.read_csv(out / "predictions.csv")
    assert table["error"].isna().tolist() == [True, False] and "nothing_here" in table["error"][1]
    p = table.loc[0, [f"p_{c}" for c in ["DCM", "HCM", "MINF", "NOR", "RV"]]].to_numpy(float)
    assert p.sum() == pytest.approx(1.0, abs=1e-4)
    out = explain(nicm_model, str(sim_test_cohort / "SIM0011"), tmp_path / "explain")
    summary = json.loads((out / "explanation.json").read_text())
    with Image.open(out / "gradcam.gif") as gif:
        assert gif.n_frames == TINY["n_frames"]
    assert len(summary["temporal_profile"]) == TINY["n_frames"] and sum(summary["temporal_profile"]) == pytest.approx(1.0, abs=1e-3)
    assert summary["series_saliency_peak"]["channel"] in SERIES_CHANNELS
    assert all((out / name).stat().st_size > 0 for name in summary["files"])


def test_crossval_folds_are_patient_disjoint_and_models_never_see_their_test_patients(sim_train_cohort: Path, tmp_path: Path) -> None:
    from cardiolens.systems.cine_seg.config import CineSegConfig
    from cardiolens.systems.nicm.cross_validation import cross_validate

    seg = CineSegConfig(channels=(4, 8, 16), patch_px=32, epochs=1, batch_size=8, num_threads=1, val_fraction=0.25)
    config = NicmConfig(folds=2, **TINY)
    out = cross_validate(sim_train_cohort, tmp_path / "cv", config, variants=("fused", "classical_rf"), seg_config=seg)
    document = json.loads((out / "metrics.json").read_text())
    folds = document["folds"]
    tests = [set(f["test"]) for f in folds]
    assert not tests[0] & tests[1] and tests[0] | tests[1] == {f"SIM{i:04d}" for i in range(1, 11)}
    for k, fold in enumerate(folds):
        assert not set(fold["train"]) & set(fold["test"])
        seg_card = json.loads((out / "folds" / str(k) / "seg" / "model.json").read_text())
        assert not set(seg_card["trained_subject_ids"]) & set(fold["test"])  # held-out Dice and features are honest
    table = pd.read_csv(out / "predictions.csv")
    assert table.groupby("variant")["subject_id"].apply(lambda s: s.is_unique and len(s) == 10).all()
    assert "classical_rf" in document["comparisons_vs_fused"]
    assert {"accuracy", "macro_auc", "classical_rf_accuracy", "dice_lv", "dice_myo", "dice_rv"} <= set(document["metrics"])
    assert all(document["timings_s"][f"fold{k}_cine_seg_train_s"] > 0 for k in range(2))
    # A resumed run reuses the fold models, re-extracts a stale cache entry and still reports the segmentation time.
    stale = next((out / "folds" / "0").glob("features_*")) / "SIM0001.npz"
    stale.write_bytes(b"written by an older version")
    resumed = json.loads((cross_validate(sim_train_cohort, tmp_path / "cv", config, variants=("classical_rf",), seg_config=seg)
                          / "metrics.json").read_text())
    assert resumed["bad_cases"] == document["bad_cases"] and resumed["timings_s"]["fold0_cine_seg_train_s"] == document["timings_s"]["fold0_cine_seg_train_s"]
    assert StudyFeatures.from_npz(stale).subject_id == "SIM0001"
