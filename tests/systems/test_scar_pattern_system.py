"""scar-pattern end to end on tiny simulated cohorts: train, evaluate, predict, explain, crossval, CLI, guards."""

import json

import numpy as np
import pandas as pd
import pytest

from cardiolens.cli.app import main
from cardiolens.errors import DataError, UsageError
from cardiolens.systems import scar_pattern
from cardiolens.systems.scar_pattern.config import ScarPatternConfig
from cardiolens.systems.scar_pattern.model import aggregate_cases, case_aggregation
from cardiolens.systems.scar_pattern.training import class_weights

torch = pytest.importorskip("torch")

TINY = ["image_size=32", "warmup_epochs=1", "epochs=1", "batch_size=8", "bootstrap_resamples=200", "num_threads=1"]


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory):
    from cardiolens.synth.maps_cohort import write_maps_cohort

    root = tmp_path_factory.mktemp("maps")
    return write_maps_cohort(root / "train", n=16, seed=0, matrix=48), write_maps_cohort(root / "test", n=8, seed=1, first_index=16, matrix=48)


@pytest.fixture(scope="module")
def model_dir(cohorts, tmp_path_factory):
    torch.set_num_threads(1)
    config = scar_pattern.make_config(sets=[*TINY, "channels=[\"os_dsi\", \"t2\"]"])
    return scar_pattern.train(cohorts[0], tmp_path_factory.mktemp("m") / "model", config)


def test_config_rejects_what_the_study_did_not_define():
    with pytest.raises(UsageError, match="rotation_deg"):
        ScarPatternConfig(rotation_deg=30)
    with pytest.raises(UsageError, match="backbone"):
        ScarPatternConfig(backbone="vgg11")
    with pytest.raises(UsageError, match="compare entry"):
        ScarPatternConfig(compare=("resnet18",))
    assert ScarPatternConfig(compare="vgg19, efficientnet-lite0:scratch").compare == ("vgg19", "efficientnet-lite0:scratch")


def test_case_aggregation_mean_and_max():
    p = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]])
    ids = ["a", "a", "b", "b"]
    names, mean = aggregate_cases(p, ids, "mean")
    assert names == ["a", "b"] and np.allclose(mean, [[0.55, 0.45], [0.65, 0.35]])
    _, top = aggregate_cases(p, ids, "max")
    assert np.allclose(top, [[0.2, 0.8], [0.6, 0.4]])  # a case is MI when any slice is
    assert case_aggregation(ScarPatternConfig(), "emidec", 2) == "max"
    assert case_aggregation(ScarPatternConfig(slice_labels="case"), "emidec", 2) == "mean"
    assert case_aggregation(ScarPatternConfig(), "synthetic", 4) == "mean"
    with pytest.raises(UsageError, match="two classes"):
        case_aggregation(ScarPatternConfig(case_aggregation="max"), "synthetic", 4)


def test_class_weights_balance_the_classes():
    w = class_weights(np.array([0, 0, 0, 1]), 3)
    assert w[2] == 0 and w[1] == pytest.approx(3 * w[0]) and w[:2].mean() == pytest.approx(1.0)


def test_train_writes_a_card_with_weights_origin_and_subjects(model_dir, cohorts):
    card = json.loads((model_dir / "model.json").read_text())
    assert card["system"] == "scar-pattern" and card["class_names"] == ["healthy", "ischaemic", "non_ischaemic", "oedema"]
    assert card["data"]["channels"] == ["os_dsi", "t2"] and card["simulated_training_data"] is True
    assert len(card["trained_subject_ids"]) == 16
    weights = card["data"]["weights"]
    assert "imagenet" in weights["source"] and weights["sanity"]["passed"] is True
    assert set(card["data"]["training"]["phases"]) == {"warmup", "finetune"}


def test_evaluate_reports_metrics_with_cis_and_alignment(model_dir, cohorts, tmp_path):
    out = scar_pattern.evaluate(model_dir, cohorts[1], tmp_path / "eval")
    doc = json.loads((out / "metrics.json").read_text())
    metrics = doc["metrics"]
    for key in ("accuracy", "macro_auc", "precision", "recall", "case_accuracy", "scar_pointing_game", "scar_top_fraction_iou"):
        assert key in metrics, key
    assert metrics["accuracy"]["ci"][0] <= metrics["accuracy"]["value"] <= metrics["accuracy"]["ci"][1]
    assert sum(map(sum, doc["confusion_matrix"]["rows_true_columns_predicted"])) == 8
    # healthy subjects have no abnormal myocardium: only the others are scored
    assert doc["alignment"]["grad_cam"]["n"] == 6
    table = pd.read_csv(out / "predictions.csv")
    assert len(table) == 8 and np.allclose(table.filter(like="p_").sum(axis=1), 1.0)
    assert (out / "report.html").read_text().count("SIMULATED") >= 1


def test_evaluate_refuses_training_subjects(model_dir, cohorts, tmp_path):
    with pytest.raises(UsageError, match="used to train"):
        scar_pattern.evaluate(model_dir, cohorts[0], tmp_path / "eval")


def test_predict_batch_reports_bad_input_and_continues(model_dir, cohorts, tmp_path):
    import shutil

    subject = min(p for p in cohorts[1].iterdir() if p.is_dir())
    broken = tmp_path / "broken"
    shutil.copytree(subject, broken)
    (broken / "t2.nii.gz").write_bytes(b"not a nifti file")
    out = scar_pattern.predict(model_dir, [str(subject), str(broken)], tmp_path / "pred")
    doc = json.loads((out / "predictions.json").read_text())
    assert len(doc["predictions"]) == 1 and doc["predictions"][0]["predicted_class"] in doc["classes"]
    assert doc["bad_inputs"][0]["file"].endswith("t2.nii.gz")
    slices = pd.read_csv(out / "slice_predictions.csv")
    assert len(slices) == doc["predictions"][0]["n_slices"]
    with pytest.raises(DataError, match="t2.nii.gz"):
        scar_pattern.predict(model_dir, [str(broken)], tmp_path / "pred2")


def test_mc_dropout_gives_spread(model_dir, cohorts):
    from cardiolens.systems.scar_pattern.backbones import build_scar_net
    from cardiolens.systems.scar_pattern.data import load_slice_set
    from cardiolens.systems.scar_pattern.model import ScarPredictor

    predictor = ScarPredictor.load(model_dir)
    # a fresh network: one epoch at 32 px can leave every pooled feature at 0, and dropout of zeros has no spread
    torch.manual_seed(0)
    predictor.network = build_scar_net("efficientnet-lite0", 2, 4, pretrained=False)[0].eval()
    slices, _ = load_slice_set(cohorts[1], ScarPatternConfig(channels=("os_dsi", "t2"), image_size=32))
    draws = predictor.mc_probabilities(slices.images[:4], n=5)
    assert draws.shape == (5, 4, 4) and draws.std(axis=0).max() > 0
    assert np.allclose(draws, predictor.mc_probabilities(slices.images[:4], n=5))  # seeded
    assert not any(m.training for m in predictor.network.modules())  # eval mode restored


def test_explain_writes_overlays_activations_and_alignment(model_dir, cohorts, tmp_path):
    manifest = pd.read_csv(cohorts[1] / "manifest.csv")
    sick = manifest.loc[manifest["scar_pattern"] != "healthy", "subject_id"].iloc[0]
    out = scar_pattern.explain(model_dir, str(cohorts[1] / sick), tmp_path / "explain")
    doc = json.loads((out / "explanation.json").read_text())
    assert (out / "gradcam_slice_00.png").exists() and (out / "activations.png").exists()
    alignment = doc["slices"][0]["scar_alignment"]
    assert isinstance(alignment["grad_cam_pointing_hit"], bool) and 0.0 <= alignment["grad_cam_top_fraction_iou"] <= 1.0


def test_crossval_compares_pretrained_with_scratch_on_the_same_folds(cohorts, tmp_path):
    config = scar_pattern.make_config(sets=[*TINY, "folds=2", "compare=efficientnet-lite0:scratch"])
    out = scar_pattern.crossval(cohorts[0], tmp_path / "cv", config)
    doc = json.loads((out / "metrics.json").read_text())
    assert list(doc["variants"]) == ["efficientnet-lite0", "efficientnet-lite0:scratch"]
    assert doc["data"]["n_subjects"] == 16 and doc["split"]["n_splits"] == 2
    comparison = doc["comparisons"]["efficientnet-lite0 vs efficientnet-lite0:scratch"]
    assert set(comparison["delong_per_class"]) == {"healthy", "ischaemic", "non_ischaemic", "oedema"}
    assert doc["folds"]["efficientnet-lite0:scratch"][0]["weights"]["source"].startswith("none")
    cases = pd.read_csv(out / "predictions.csv")
    assert len(cases) == 32 and cases.groupby("variant")["subject_id"].nunique().tolist() == [16, 16]


def test_holdout_split_tests_only_its_test_side(cohorts, tmp_path):
    config = scar_pattern.make_config(sets=[*TINY, "folds=1", "test_fraction=0.25"])
    doc = json.loads((scar_pattern.crossval(cohorts[0], tmp_path / "cv", config) / "metrics.json").read_text())
    assert doc["data"]["n_subjects"] == 4 and doc["split"]["n_splits"] == 1


def test_cli_exit_codes(model_dir, cohorts, tmp_path):
    assert main(["predict", "scar-pattern", "--model", str(model_dir), str(tmp_path / "missing.png"), "--out", str(tmp_path / "p")]) == 2
    assert main(["train", "scar-pattern", "--data", str(cohorts[0]), "--out", str(tmp_path / "m"), "--set", "backbone=alexnet"]) == 2
