"""lge end to end on tiny simulated HCM cohorts: train, evaluate, predict (NIfTI and DICOM SEG), explain, crossval, CLI."""

import json

import numpy as np
import pandas as pd
import pytest

from cardiolens.cli.app import main
from cardiolens.errors import DataError, UsageError
from cardiolens.io.nifti import read_nifti
from cardiolens.systems import lge

torch = pytest.importorskip("torch")

TINY = ["inplane_px=32", "channels=[4,8,16]", "epochs=2", "patience=2", "num_threads=1", "dropout=0"]


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory):
    from cardiolens.synth.lge_cohort import write_lge_cohort

    root = tmp_path_factory.mktemp("lge")
    return (write_lge_cohort(root / "train", n=6, seed=0, matrix=32, n_slices=5),
            write_lge_cohort(root / "test", n=5, seed=1, first_index=10, matrix=32, n_slices=5))  # one whole block: a scar-free case too


@pytest.fixture(scope="module", params=["unet3d", "unet2d"])
def model_dir(request, cohorts, tmp_path_factory):
    torch.set_num_threads(1)
    config = lge.make_config(sets=[*TINY, f"variant={request.param}"])
    return lge.train(cohorts[0], tmp_path_factory.mktemp("m") / request.param, config)


def test_training_writes_a_model_directory_with_an_onnx_twin(model_dir):
    card = json.loads((model_dir / "model.json").read_text())
    assert card["system"] == "lge" and card["simulated_training_data"] is True
    assert len(card["trained_subject_ids"]) == 6 and card["class_names"][3] == "infarct"
    assert (model_dir / "weights.pt").is_file() and (model_dir / "model.onnx").is_file()
    split = json.loads((model_dir / "split.json").read_text())
    assert not set(split["train"]) & set(split["val"])
    from cardiolens.systems.lge.model import load_segmenter

    image = np.random.default_rng(0).normal(size=(3, 40, 36)).astype(np.float32)
    eager, onnx = load_segmenter(model_dir, "torch").probabilities(image), load_segmenter(model_dir, "onnx").probabilities(image)
    assert eager.shape == (5, 3, 40, 36) and np.allclose(eager.sum(axis=0), 1, atol=1e-5)
    assert np.abs(eager - onnx).max() < 1e-3


def test_evaluate_writes_metrics_with_cis_and_refuses_training_subjects(model_dir, cohorts, tmp_path):
    out = lge.evaluate(model_dir, cohorts[1], tmp_path / "e")
    document = json.loads((out / "metrics.json").read_text())
    metrics = document["metrics"]
    for key in ("dice_myocardium", "dice_scar", "hd95_myocardium", "pct_lge_pearson_r", "pct_lge_bias",
                "burden_over_15pct_accuracy", "case_mi_auc"):
        assert key in metrics, key
    assert metrics["dice_myocardium"]["ci"] is not None and 0 <= metrics["dice_myocardium"]["value"] <= 1
    assert document["units"]["hd95"].startswith("mm") and document["units"]["scar_volume"] == "mL"  # simulated spacing is known
    assert document["simulated_data"] is True and document["data"]["n_subjects"] == 5
    table = pd.read_csv(out / "predictions.csv")
    assert len(table) == 5 and {"dice_scar", "pct_lge_predicted", "pct_lge_reference"} <= set(table.columns)
    with pytest.raises(UsageError, match="used to train"):
        lge.evaluate(model_dir, cohorts[0], tmp_path / "leak")


def test_threshold_variant_in_the_manual_myocardium_scores_the_myocardium_perfectly(cohorts, tmp_path):
    model = lge.train(cohorts[0], tmp_path / "nsd", lge.make_config(sets=["variant=fwhm"]))
    assert not (model / "weights.pt").exists()
    document = json.loads((lge.evaluate(model, cohorts[1], tmp_path / "e") / "metrics.json").read_text())
    assert document["myocardium_from_study_labels"] is True
    assert document["metrics"]["dice_myocardium"]["value"] == pytest.approx(1.0)
    manifest = pd.read_csv(cohorts[1] / "manifest.csv")
    predictions = pd.read_csv(tmp_path / "e" / "predictions.csv").merge(manifest, on="subject_id")
    assert np.allclose(predictions["pct_lge_reference"], predictions["pct_lge"], atol=1e-6)  # reference %LGE = simulated truth


def test_predict_writes_masks_and_rows_and_survives_a_bad_input(model_dir, cohorts, tmp_path):
    first = min(p for p in cohorts[1].iterdir() if p.is_dir())
    bad = tmp_path / "broken.nii.gz"
    bad.write_bytes(b"not a nifti")
    out = lge.predict(model_dir, [str(first), str(bad)], tmp_path / "p")
    table = pd.read_csv(out / "predictions.csv")
    assert len(table) == 2 and "broken.nii.gz" in table.loc[1, "error"]
    row = table.iloc[0]
    assert row["volume_unit"] == "mL" and "aha1_scar_pct" in table.columns
    mask = read_nifti(out / first.name / "lge_seg.nii.gz").array
    image = read_nifti(first / "lge.nii.gz").array
    assert mask.shape == image.shape and set(np.unique(mask)) <= {0, 1, 2, 3, 4}
    assert row["myocardium_voxels"] == np.isin(mask, (2, 3, 4)).sum()
    measured = json.loads((out / first.name / "measurements.json").read_text())
    assert measured["measurements"]["pct_lge"] == pytest.approx(row["pct_lge"], rel=1e-5)  # the CSV keeps 6 significant digits
    # `cardiolens measure lge STUDY --seg SEG` on the written mask gives the same burden
    assert main(["measure", "lge", str(first / "lge.nii.gz"), "--seg", str(out / first.name / "lge_seg.nii.gz"),
                 "--method", "labels", "--out", str(tmp_path / "m.json")]) == 0
    assert json.loads((tmp_path / "m.json").read_text())["pct_lge"] == pytest.approx(row["pct_lge"], rel=1e-5)
    with pytest.raises(DataError, match="broken.nii.gz"):
        lge.predict(model_dir, [str(bad)], tmp_path / "p2")


def test_predict_on_a_dicom_series_writes_a_dicom_seg(model_dir, cohorts, tmp_path):
    from cardiolens.io.dicom_seg import read_dicom_seg_labels
    from cardiolens.io.dicom_write import write_volume_dicom
    from cardiolens.io.layouts import load, scan

    cohort = scan(cohorts[1])
    volume = load(cohort, cohort.subject_ids[0])
    volume = getattr(volume, "lge", volume)
    series = write_volume_dicom(volume, tmp_path / "series")
    out = lge.predict(model_dir, [str(series)], tmp_path / "p")
    case = next(p for p in out.iterdir() if p.is_dir())
    nifti = read_nifti(case / "lge_seg.nii.gz").array
    seg = read_dicom_seg_labels(case / "lge_seg.dcm", series)
    assert np.array_equal(seg, nifti)


def test_explain_writes_a_3d_grad_cam_for_each_slice(model_dir, cohorts, tmp_path):
    first = min(p for p in cohorts[1].iterdir() if p.is_dir())
    out = lge.explain(model_dir, str(first), tmp_path / "x")
    cam = read_nifti(out / "gradcam.nii.gz").array
    assert cam.shape == read_nifti(first / "lge.nii.gz").array.shape
    assert cam.min() >= 0 and cam.max() <= 1 + 1e-6
    document = json.loads((out / "explanation.json").read_text())
    assert len(document["slices"]) == cam.shape[0] and all((out / s["png"]).is_file() for s in document["slices"])


def test_explain_refuses_a_threshold_model(cohorts, tmp_path):
    model = lge.train(cohorts[0], tmp_path / "nsd", lge.make_config(sets=["variant=nsd"]))
    with pytest.raises(UsageError, match="network"):
        lge.explain(model, str(cohorts[1]), tmp_path / "x")


def test_crossval_compares_variants_on_the_same_splits(cohorts, tmp_path):
    config = lge.make_config(sets=[*TINY, "epochs=1", "variant=unet2d", "folds=2", "compare=nsd,nsd:manual"])
    out = lge.crossval(cohorts[0], tmp_path / "cv", config)
    document = json.loads((out / "metrics.json").read_text())
    assert list(document["variants"]) == ["unet2d", "nsd", "nsd:manual"]
    tested = [s for fold in document["test_subjects"] for s in fold]
    assert sorted(tested) == sorted(set(tested)) and len(tested) == 6  # every case tested once
    for entry in ("nsd", "nsd:manual"):
        assert "wilcoxon_p" in document["paired_vs_reference"][entry]["dice_myocardium"]
    assert document["variants"]["nsd:manual"]["metrics"]["dice_myocardium"]["value"] == pytest.approx(1.0)
    timing = document["variants"]["unet2d"]["timings"][0]
    assert timing["torch_s_per_slice"] > 0 and timing["onnx_s_per_slice"] > 0

    weights = out / "fold_0" / "unet2d" / "weights.pt"
    trained_at = weights.stat().st_mtime_ns
    lge.crossval(cohorts[0], tmp_path / "cv", config)  # a rerun resumes: the finished fold networks are reused
    resumed = json.loads((out / "metrics.json").read_text())
    assert weights.stat().st_mtime_ns == trained_at
    recorded = json.loads((out / "fold_0" / "unet2d" / "split.json").read_text())["train_seconds"]
    assert resumed["variants"]["unet2d"]["timings"][0]["train_s"] == recorded > 0
    assert resumed["variants"]["unet2d"]["metrics"] == document["variants"]["unet2d"]["metrics"]

    def network_masks() -> pd.DataFrame:
        table = pd.read_csv(out / "predictions.csv")
        return table.loc[table["variant"] == "unet2d", ["myocardium_voxels_predicted", "scar_voxels_predicted"]]

    plain = network_masks()
    augmented = lge.make_config(sets=[*TINY, "epochs=1", "variant=unet2d", "folds=2", "compare=nsd,nsd:manual", "tta_transforms=2"])
    lge.crossval(cohorts[0], tmp_path / "cv", augmented)  # test-time augmentation is inference only: no retraining
    assert weights.stat().st_mtime_ns == trained_at
    assert not network_masks().equals(plain)  # ... but the reused networks do predict with it


def test_cli_train_measure_and_exit_codes(cohorts, tmp_path):
    assert main(["train", "lge", "--data", str(cohorts[0]), "--out", str(tmp_path / "m"), "--set", "variant=unet4d"]) == 2
    assert main(["train", "lge", "--data", str(cohorts[0]), "--out", str(tmp_path / "nsd"), "--set", "variant=nsd"]) == 0
    assert main(["predict", "lge", "--model", str(tmp_path / "nsd"), str(tmp_path / "missing.nii.gz"), "--out", str(tmp_path / "p")]) == 2


def test_training_skips_an_unreadable_subject_and_says_so(cohorts, tmp_path):
    import shutil

    data = shutil.copytree(cohorts[0], tmp_path / "data")
    broken = min(p for p in data.iterdir() if p.is_dir())
    (broken / "lge.nii.gz").write_bytes(b"truncated")
    model = lge.train(data, tmp_path / "m", lge.make_config(sets=[*TINY, "epochs=1", "variant=unet2d"]))
    card = json.loads((model / "model.json").read_text())
    assert broken.name not in card["trained_subject_ids"] and len(card["trained_subject_ids"]) == 5
    assert any("skipped" in note and "lge.nii.gz" in note for note in card["notes"])


@pytest.mark.real_data
def test_emidec_without_spacing_measures_in_voxels_unless_a_spacing_is_given(shared_data, tmp_path):
    case = shared_data / "emidec" / "Case_P001"
    model = lge.train(shared_data / "emidec", tmp_path / "nsd", lge.make_config(sets=["variant=nsd", "n_sd=2"]))
    row = pd.read_csv(lge.predict(model, [str(case)], tmp_path / "p") / "predictions.csv").iloc[0]
    assert row["volume_unit"] == "voxels" and pd.isna(row["scar_volume_ml"]) and row["scar_voxels"] > 0
    assert "voxel spacing unknown" in row["notes"]
    given = lge.train(shared_data / "emidec", tmp_path / "nsd_mm", lge.make_config(sets=["variant=nsd", "n_sd=2", "spacing_mm=[10,1.5,1.5]"]))
    row_mm = pd.read_csv(lge.predict(given, [str(case)], tmp_path / "p_mm") / "predictions.csv").iloc[0]
    assert row_mm["volume_unit"] == "mL" and row_mm["scar_voxels"] == row["scar_voxels"]
    assert row_mm["scar_volume_ml"] == pytest.approx(row["scar_voxels"] * 10 * 1.5 * 1.5 / 1000, rel=1e-4)
    assert row_mm["pct_lge"] == pytest.approx(row["pct_lge"])
