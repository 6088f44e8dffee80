"""``echo2cmr`` end to end: evaluation outputs, the leakage guard, explanation files, the CLI, the AUC statistics."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.stats import norm

from cardiolens import SIMULATED_NOTICE
from cardiolens.cli.app import main
from cardiolens.errors import UsageError
from cardiolens.stats.estimate import Estimate
from cardiolens.systems import echo2cmr
from cardiolens.systems.echo2cmr.config import LABELS, Echo2CmrConfig
from cardiolens.systems.echo2cmr.evaluation import (
    above_chance,
    calibration_metrics,
    chance_sentence,
    discrimination_metrics,
    label_auc,
    study_probabilities,
)

#: A network that trains in a few seconds on 2 cores; its AUCs mean nothing, the pipeline must still hold.
TINY = ["width=4", "image_size=32", "clip_frames=8", "clip_stride=2", "eval_clips=2", "epochs=1", "bootstrap_resamples=200",
        "batch_size=4", "num_threads=1", "augment=false"]
N_TRAIN, N_EVAL = 16, 10
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two disjoint simulated paired cohorts (ECH00001-16 for training, ECH00017-26 for evaluation)."""
    from cardiolens.synth.echo_cohort import write_paired_echo_cohort

    root = tmp_path_factory.mktemp("echo2cmr_data")
    train = write_paired_echo_cohort(root / "train", n=N_TRAIN, seed=0, n_frames=16, matrix=48)
    evaluation = write_paired_echo_cohort(root / "eval", n=N_EVAL, seed=0, first_index=N_TRAIN, n_frames=16, matrix=48)
    return train, evaluation


@pytest.fixture(scope="module")
def model_dir(cohorts: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    torch.set_num_threads(1)
    return echo2cmr.train(cohorts[0], tmp_path_factory.mktemp("echo2cmr_model") / "model", echo2cmr.make_config(sets=TINY))


@pytest.fixture(scope="module")
def evaluation(model_dir: Path, cohorts: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return echo2cmr.evaluate(model_dir, cohorts[1], tmp_path_factory.mktemp("echo2cmr_eval") / "out")


def _subject_ids(folder: Path) -> list[str]:
    return pd.read_csv(folder / "cmr.csv")["subject_id"].astype(str).tolist()


# ----------------------------------------------------------------------------- evaluate


def test_evaluate_writes_metrics_with_bootstrap_cis(evaluation: Path, cohorts: tuple[Path, Path]) -> None:
    document = json.loads((evaluation / "metrics.json").read_text())
    assert document["system"] == "echo2cmr" and document["data"]["layout"] == "echo-cmr"
    assert document["simulated"] is True
    for label in LABELS:
        entry = document["metrics"][f"auc_{label}"]
        if entry["value"] is None:  # one class among the evaluation pairs: a note, not a crash
            assert f"auc_{label}" in document["metric_notes"]
            continue
        low, high = entry["ci"]
        assert 0.0 <= low <= entry["value"] <= high <= 1.0
        assert "200 stratified resamples" in document["metric_methods"][f"auc_{label}"]
        assert f"auc_{label}_A4C" in document["metrics"]  # per view
        assert document["above_chance"][label] == (low > 0.5)
    predictions = pd.read_csv(evaluation / "predictions.csv")
    assert document["n_pairs"] == len(predictions) == document["metrics"]["n_pairs"]["value"]
    assert 0 < len(predictions) <= document["pairing"]["n_cmr_studies"] <= N_EVAL
    assert document["metrics"]["prevalence_wma"]["value"] == pytest.approx(predictions["wma_true"].mean())
    for name in ("brier_wma", "calibration_slope_wma", "calibration_intercept_wma"):
        assert name in document["metrics"]
    assert set(document["calibration"]["reliability"]) == set(LABELS)
    assert "abs_gap_days" in document["pairing"] and "excluded" in document["pairing"]
    assert document["bad_cases"] == []


def test_predictions_hold_no_subject_ids_or_dates(evaluation: Path, cohorts: tuple[Path, Path]) -> None:
    predictions = pd.read_csv(evaluation / "predictions.csv")
    assert list(predictions.columns[:5]) == ["pair_id", "subject_key", "days_offset", "views", "n_videos"]
    for label in LABELS:
        assert predictions[f"{label}_probability"].between(0, 1).all()
        assert set(predictions[f"{label}_true"].dropna()) <= {0.0, 1.0}
    assert predictions["pair_id"].is_unique and predictions["days_offset"].abs().max() <= 30
    text = (evaluation / "predictions.csv").read_text()
    assert not DATE.search(text)
    for subject_id in _subject_ids(cohorts[1]):
        assert subject_id not in text
        assert subject_id not in (evaluation / "metrics.json").read_text()
    # the truth columns are the evaluation cohort's CMR labels, in some pair order
    cmr = pd.read_csv(cohorts[1] / "cmr.csv")
    assert predictions["wma_true"].sum() <= cmr["wma"].sum()


def test_report_is_labelled_simulated_and_says_which_labels_are_above_chance(evaluation: Path) -> None:
    html = (evaluation / "report.html").read_text()
    assert SIMULATED_NOTICE in html
    assert "Above chance (95% CI lower bound &gt; 0.5)" in html
    assert "1,453 patients" in html and "not clinical performance" in html
    assert html.count("<img") >= 2  # ROC curves and reliability diagram
    assert "Pairing of echo and CMR studies" in html


def test_evaluate_refuses_the_training_subjects(model_dir: Path, cohorts: tuple[Path, Path], tmp_path: Path) -> None:
    from cardiolens.systems.model_dir import read_card

    n_trained = len(read_card(model_dir).trained_subject_ids)
    assert 0 < n_trained <= N_TRAIN
    with pytest.raises(UsageError, match=rf"^{n_trained} subject\(s\) of .*train were used to train this model"):
        echo2cmr.evaluate(model_dir, cohorts[0], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_untrained_view_falls_back_and_gets_its_own_metrics(model_dir: Path, cohorts: tuple[Path, Path], tmp_path: Path) -> None:
    data = tmp_path / "two_views"
    data.mkdir()
    (data / "videos").symlink_to(cohorts[1] / "videos")
    (data / "cmr.csv").write_text((cohorts[1] / "cmr.csv").read_text())
    cmr = pd.read_csv(cohorts[1] / "cmr.csv", parse_dates=["cmr_date"])
    echo = pd.read_csv(cohorts[1] / "echo.csv", parse_dates=["echo_date"])
    # give three paired echo studies a second file (another subject's video) labelled PLAX, a view not trained
    merged = echo.merge(cmr[["subject_id", "cmr_date"]], on="subject_id")
    paired = merged[(merged["echo_date"] - merged["cmr_date"]).dt.days.abs() <= 20].drop_duplicates("subject_id").head(3)
    extra = paired[["subject_id", "echo_date"]].assign(file=list(echo["file"].iloc[-3:]), view="PLAX")
    pd.concat([echo, extra]).to_csv(data / "echo.csv", index=False, date_format="%Y-%m-%d")
    out = echo2cmr.evaluate(model_dir, data, tmp_path / "out")
    document = json.loads((out / "metrics.json").read_text())
    assert {"auc_wma_A4C", "auc_wma_PLAX"} <= set(document["metrics"])
    assert document["views"] == ["A4C", "PLAX"]
    assert any("PLAX" in note and "A4C network" in note for note in document["notes"])
    predictions = pd.read_csv(out / "predictions.csv")
    assert "wma_probability_PLAX" in predictions and "note" in predictions
    both = predictions[predictions["views"] == "A4C;PLAX"]
    assert len(both) == 3 and (both["note"].str.contains("PLAX")).all()
    for label in LABELS:  # a two-view study's probability is the mean of its two views'
        expected = (both[f"{label}_probability_A4C"] + both[f"{label}_probability_PLAX"]) / 2
        np.testing.assert_allclose(both[f"{label}_probability"], expected, rtol=1e-9)
    assert predictions["wma_probability_PLAX"].notna().sum() == 3


# ----------------------------------------------------------------------------- explain


def test_explain_writes_gif_profile_and_summary(model_dir: Path, cohorts: tuple[Path, Path], tmp_path: Path) -> None:
    video = cohorts[1] / pd.read_csv(cohorts[1] / "echo.csv")["file"].iloc[0]
    out = echo2cmr.explain(model_dir, str(video), tmp_path / "explain")
    with Image.open(out / "saliency_wma.gif") as gif:
        assert gif.n_frames == 8 and gif.size == (32, 32)  # clip_frames at the model's image size
    assert (out / "temporal_profile.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((out / "explanation.json").read_text())
    assert summary["view"] == "UNKNOWN" and summary["view_used"] == "A4C" and "A4C" in summary["note"]
    assert summary["clip"]["source_frames"] == [0, 2, 4, 6, 8, 10, 12, 14]  # stride 2 at the 50 fps reference
    shares = summary["saliency"]["per_frame_share"]
    sums = np.array(summary["saliency"]["per_frame_sum"]["wma"])
    np.testing.assert_allclose(sums / sums.sum(), shares["wma"], atol=1e-3)
    assert set(shares) == set(LABELS)
    for label, share in shares.items():
        assert len(share) == 8 and sum(share) == pytest.approx(1.0, abs=1e-3)
        assert summary["saliency"]["peak_frame"][label]["clip_frame"] == int(np.argmax(share))
    # the explained probabilities are the ones predict gives for the same file
    predicted = pd.read_csv(echo2cmr.predict(model_dir, [str(video)], tmp_path / "predict") / "predictions.csv")
    for label in LABELS:
        assert summary["probabilities"][label] == pytest.approx(predicted[f"{label}_probability"].iloc[0], abs=1e-3)


# ----------------------------------------------------------------------------- CLI


def test_cli_train_evaluate_predict_explain(
    cohorts: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train_dir, eval_dir = cohorts
    model = tmp_path / "model"
    sets = [item for pair in (("--set", s) for s in TINY) for item in pair]
    assert main(["train", "echo2cmr", "--data", str(train_dir), "--out", str(model), *sets]) == 0
    assert (model / "model.json").is_file() and (model / "id_key.txt").is_file()
    assert main(["evaluate", "echo2cmr", "--model", str(model), "--data", str(eval_dir), "--out", str(tmp_path / "ev")]) == 0
    assert {"metrics.json", "predictions.csv", "report.html"} <= {p.name for p in (tmp_path / "ev").iterdir()}
    capsys.readouterr()
    assert main(["evaluate", "echo2cmr", "--model", str(model), "--data", str(train_dir), "--out", str(tmp_path / "leak")]) == 2
    assert "were used to train this model" in capsys.readouterr().err

    video = eval_dir / pd.read_csv(eval_dir / "echo.csv")["file"].iloc[0]
    broken = tmp_path / "broken.avi"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00AVI not really a video")
    assert main(["predict", "echo2cmr", str(video), str(broken), "--model", str(model), "--out", str(tmp_path / "pr")]) == 0
    result = json.loads((tmp_path / "pr" / "predictions.json").read_text())
    assert len(result["predictions"]) == 1 and result["bad_inputs"][0]["input"] == "broken.avi"
    capsys.readouterr()
    assert main(["predict", "echo2cmr", str(broken), "--model", str(model), "--out", str(tmp_path / "pr2")]) == 2
    assert "broken.avi" in capsys.readouterr().err
    assert main(["explain", "echo2cmr", str(video), "--model", str(model), "--out", str(tmp_path / "ex")]) == 0
    assert (tmp_path / "ex" / "saliency_wma.gif").is_file()
    assert main(["explain", "echo2cmr", str(broken), "--model", str(model), "--out", str(tmp_path / "ex2")]) == 2


# ----------------------------------------------------------------------------- statistics


def test_bootstrap_auc_ci_covers_the_true_auc() -> None:
    rng = np.random.default_rng(3)
    n = 300
    y = np.r_[np.zeros(n), np.ones(n)]
    separation = 1.0  # unit-variance normal scores: true AUC = Phi(d / sqrt(2))
    p = np.r_[rng.normal(0, 1, n), rng.normal(separation, 1, n)]
    true_auc = float(norm.cdf(separation / math.sqrt(2)))
    config = Echo2CmrConfig(bootstrap_resamples=1000, seed=0)
    estimate, reason = label_auc(y, p, config)
    assert reason is None and estimate is not None
    assert estimate.ci_low < true_auc < estimate.ci_high
    assert estimate.ci_high - estimate.ci_low < 0.12
    assert "1000 stratified resamples" in estimate.method and estimate.n == 2 * n
    # unknown labels are dropped, not counted as negatives
    with_unknown, _ = label_auc(np.r_[y, [np.nan] * 5], np.r_[p, [5.0] * 5], config)
    assert with_unknown == estimate
    assert label_auc(np.zeros(10), rng.random(10), config) == (None, "one class only: all 10 known pairs negative")


def test_one_class_labels_give_none_with_a_note() -> None:
    index = pd.Index([f"P{i}" for i in range(12)])
    truth = pd.DataFrame({label: np.tile([0.0, 1.0], 6) for label in LABELS}, index=index)
    truth["t2"] = 0.0
    truth["ecv"] = np.nan
    probabilities = pd.DataFrame({label: np.linspace(0.1, 0.9, 12) for label in LABELS}, index=index)
    config = Echo2CmrConfig(bootstrap_resamples=200)
    metrics, notes = discrimination_metrics(truth, probabilities, config)
    assert metrics["auc_t2"] is None and "one class only" in notes["auc_t2"]
    assert metrics["auc_ecv"] is None and notes["auc_ecv"] == "no pair with this label known"
    assert isinstance(metrics["auc_wma"], Estimate) and set(notes) == {"auc_t2", "auc_ecv"}
    calibration, calibration_notes, reliability = calibration_metrics(truth, probabilities, config)
    assert calibration["calibration_slope_t2"] is None and "calibration_slope_t2" in calibration_notes
    assert calibration["prevalence_t2"].value == 0.0 and calibration["n_ecv"] == 0
    assert isinstance(calibration["brier_t2"], Estimate) and reliability["ecv"] is None


def test_study_probability_is_the_mean_of_view_means() -> None:
    videos = pd.DataFrame({
        "pair_id": ["P1", "P1", "P1", "P2"],
        "view": ["A4C", "A4C", "A2C", "A4C"],
        **{label: [0.2, 0.4, 0.9, 0.5] for label in LABELS},
    })
    study, per_view = study_probabilities(videos)
    assert study.loc["P1", "wma"] == pytest.approx((0.3 + 0.9) / 2)  # not the mean of the three videos
    assert study.loc["P2", "wma"] == pytest.approx(0.5)
    assert per_view["A4C"].loc["P1", "lge"] == pytest.approx(0.3)
    assert list(per_view["A2C"].index) == ["P1"]


def test_above_chance_needs_the_ci_lower_bound_above_half() -> None:
    assert above_chance(Estimate(0.70, 0.51, 0.85)) is True
    assert above_chance(Estimate(0.70, 0.50, 0.85)) is False
    assert above_chance(Estimate(0.70)) is None and above_chance(None) is None
    sentence = chance_sentence({"auc_wma": Estimate(0.9, 0.8, 0.95), "auc_lge": Estimate(0.6, 0.45, 0.7), "auc_t1": None,
                                "auc_t2": Estimate(0.5, 0.4, 0.6), "auc_ecv": Estimate(0.52, 0.41, 0.63)})
    assert sentence.startswith("Above chance (95% CI lower bound > 0.5): WMA.")
    assert "Not shown to be above chance: LGE, T2, ECV." in sentence and "T1" in sentence.split("No AUC")[1]
