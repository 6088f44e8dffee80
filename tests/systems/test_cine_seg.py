"""``cine-seg``: normalisation, patches, a tiny training run, evaluation, prediction and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from cardiolens.errors import DataError, UsageError
from cardiolens.io.layouts import scan
from cardiolens.systems.cine_seg.config import CineSegConfig
from cardiolens.systems.cine_seg.data import ground_truth_frames, read_cine_input
from cardiolens.systems.cine_seg.evaluation import evaluate
from cardiolens.systems.cine_seg.model import keep_largest_components, load_segmenter, normalise_slices, pad_to_multiple
from cardiolens.systems.cine_seg.prediction import predict
from cardiolens.systems.cine_seg.training import SlicePatches, mean_foreground_dice


def test_normalisation_removes_the_intensity_scale_per_slice() -> None:
    rng = np.random.default_rng(0)
    slices = rng.gamma(2.0, 100.0, size=(3, 20, 20)).astype(np.float32)
    scaled = slices * np.array([1.0, 10.0, 0.01], dtype=np.float32)[:, None, None]  # 0-255 vs scanner integers
    a, b = normalise_slices(slices), normalise_slices(scaled)
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert a.min() == 0.0 and a.max() == 1.0
    assert not normalise_slices(np.full((1, 4, 4), 7.0)).any()  # a flat slice carries no contrast


def test_padding_reaches_the_multiple_and_keeps_the_image() -> None:
    padded, (y, x) = pad_to_multiple(np.ones((2, 100, 95)), 16)
    assert padded.shape == (2, 112, 96) and (y, x) == (100, 95)
    assert padded[:, :100, :95].all() and not padded[:, 100:, :].any()


def test_largest_component_drops_islands_but_keeps_the_ring_and_cavity() -> None:
    labels = np.zeros((3, 30, 30), dtype=np.uint8)
    labels[:, 10:20, 10:20] = 2
    labels[:, 13:17, 13:17] = 3
    labels[:, 10:20, 2:6] = 1
    labels[0, 0:2, 27:29] = 3  # a stray LV island
    labels[2, 27:29, 0:2] = 1  # a stray RV island
    cleaned = keep_largest_components(labels)
    assert cleaned[0, 0, 27] == 0 and cleaned[2, 27, 0] == 0
    assert (cleaned[:, 13:17, 13:17] == 3).all() and (cleaned[:, 10:20, 2:6] == 1).all()


def test_mean_foreground_dice_is_one_for_a_perfect_prediction_and_lower_otherwise() -> None:
    import torch

    labels = torch.zeros(1, 8, 8, dtype=torch.long)
    labels[0, 2:6, 2:6] = 3
    labels[0, 0, :] = 1
    perfect = torch.nn.functional.one_hot(labels, 4).permute(0, 3, 1, 2).float()
    assert float(mean_foreground_dice(perfect, labels)) == pytest.approx(1.0)
    wrong = torch.nn.functional.one_hot(torch.zeros_like(labels), 4).permute(0, 3, 1, 2).float()
    assert float(mean_foreground_dice(wrong, labels)) == pytest.approx(1 / 3)  # only the absent myocardium "agrees"


def test_training_patches_have_the_patch_size_and_valid_labels(sim_train_cohort: Path) -> None:
    frames = ground_truth_frames(scan(sim_train_cohort), "SIM0001")
    assert [f.phase for f in frames] == ["ed", "es"]
    patches = SlicePatches(frames, CineSegConfig(patch_px=32))
    assert len(patches) == sum(f.image_zyx.shape[0] for f in frames)
    image, label = patches[3]
    assert tuple(image.shape) == (1, 32, 32) and tuple(label.shape) == (1, 32, 32)
    assert set(np.unique(label.numpy())) <= {0, 1, 2, 3}
    assert float(image.min()) >= -0.5 and float(image.max()) <= 1.5  # [0, 1] plus augmentation noise


def test_tiny_training_writes_a_complete_model_directory(tiny_seg_model: Path) -> None:
    card = json.loads((tiny_seg_model / "model.json").read_text())
    assert card["system"] == "cine-seg" and len(card["trained_subject_ids"]) == 10
    assert card["class_names"] == ["background", "rv_cavity", "lv_myocardium", "lv_cavity"]
    assert {"weights.pt", "model.onnx", "split.json"} <= {p.name for p in tiny_seg_model.iterdir()}
    split = json.loads((tiny_seg_model / "split.json").read_text())
    assert not set(split["train"]) & set(split["val"])


def test_onnx_and_torch_backends_agree(tiny_seg_model: Path, sim_test_cohort: Path) -> None:
    cine = read_cine_input(sim_test_cohort / "SIM0011")
    volume = cine.image[0, :3]
    onnx = load_segmenter(tiny_seg_model, "onnx").probabilities(volume)
    eager = load_segmenter(tiny_seg_model, "torch").probabilities(volume)
    assert onnx.shape == (3, 4) + volume.shape[1:]
    np.testing.assert_allclose(onnx, eager, atol=1e-3)
    with pytest.raises(UsageError):
        load_segmenter(tiny_seg_model, "tensorrt")


def test_evaluate_refuses_training_subjects(tiny_seg_model: Path, sim_train_cohort: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="used to train"):
        evaluate(tiny_seg_model, sim_train_cohort, tmp_path / "eval")
    assert not (tmp_path / "eval" / "metrics.json").exists()


def test_evaluate_on_an_external_cohort(tiny_seg_model: Path, sim_test_cohort: Path, tmp_path: Path) -> None:
    out = evaluate(tiny_seg_model, sim_test_cohort, tmp_path / "eval")
    document = json.loads((out / "metrics.json").read_text())
    assert document["system"] == "cine-seg" and document["data"]["n_subjects"] == 5
    for key in ("dice_lv", "dice_myo", "dice_rv"):
        entry = document["metrics"][key]
        assert 0.0 <= entry["value"] <= 1.0 and entry["ci"][0] <= entry["value"] <= entry["ci"][1]
    assert "lv_ef_pct" in document["bland_altman"]
    table = pd.read_csv(out / "predictions.csv")
    assert sorted(table["subject_id"]) == [f"SIM00{i}" for i in range(11, 16)]
    # The rows' per-subject Dice average to the reported mean.
    assert document["metrics"]["dice_lv"]["value"] == pytest.approx(table["dice_lv"].mean())


def test_predict_segments_every_frame_and_reports_bad_inputs(tiny_seg_model: Path, sim_test_cohort: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(b"not a nifti file")
    out = predict(tiny_seg_model, [str(sim_test_cohort / "SIM0012"), str(broken)], tmp_path / "pred")
    table = pd.read_csv(out / "predictions.csv")
    assert table["error"].isna().tolist() == [True, False]
    assert "broken.nii.gz" in table["error"][1]
    cine = read_cine_input(sim_test_cohort / "SIM0012")
    masks = nib.load(str(out / "SIM0012" / "masks.nii.gz"))
    assert masks.shape == cine.image.shape[::-1]  # (x, y, z, t) on disk
    assert set(np.unique(np.asarray(masks.dataobj))) <= {0, 1, 2, 3}
    curves = pd.read_csv(out / "SIM0012" / "curves.csv")
    assert {"ivpg_total_mmhg", "lv_cavity_voxels", "cycle_pct"} <= set(curves.columns)
    assert (out / "SIM0012" / "measurements.json").is_file() and (out / "SIM0012" / "ivpg.json").is_file()


def test_read_cine_input_names_the_file_for_non_cine_input(tmp_path: Path) -> None:
    path = tmp_path / "volume.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 3), np.float32), np.eye(4)), str(path))
    with pytest.raises(DataError, match="volume.nii.gz"):
        read_cine_input(path)
    with pytest.raises(DataError, match="missing.nii.gz"):
        read_cine_input(tmp_path / "missing.nii.gz")


def test_the_rv_kept_is_the_one_next_to_the_lv_not_the_largest() -> None:
    labels = np.zeros((2, 60, 60), dtype=np.uint8)
    labels[:, 20:30, 20:30] = 2
    labels[:, 23:27, 23:27] = 3
    labels[:, 20:30, 31:36] = 1  # the true RV, beside the LV wall
    labels[:, 45:58, 2:20] = 1  # a larger RV-labelled structure far away
    cleaned = keep_largest_components(labels)
    assert (cleaned[:, 20:30, 31:36] == 1).all() and not (cleaned[:, 45:58, 2:20] == 1).any()


def test_both_architectures_segment_any_padded_size() -> None:
    import torch

    from cardiolens.systems.cine_seg.model import SliceSegmenter, build_unet

    for config in (CineSegConfig(channels=(4, 8, 16)), CineSegConfig(architecture="segresnet", channels=(8,))):
        segmenter = SliceSegmenter(build_unet(config), config)
        with torch.no_grad():
            labels = segmenter.segment_volume(np.random.default_rng(0).random((2, 37, 50)).astype(np.float32))
        assert labels.shape == (2, 37, 50) and labels.dtype == np.uint8
    assert CineSegConfig(architecture="segresnet").size_multiple == 8 and CineSegConfig().size_multiple == 16
    with pytest.raises(UsageError, match="architecture"):
        CineSegConfig(architecture="transunet")


def test_test_time_augmentation_makes_the_slice_probabilities_follow_the_image(tiny_seg_model: Path) -> None:
    slices = np.random.default_rng(1).random((3, 32, 48)).astype(np.float32)  # rectangular: turned views swap y and x

    def follows(tta: int, change) -> bool:
        segmenter = load_segmenter(tiny_seg_model, "onnx", tta_transforms=tta)
        plain = segmenter.probabilities(slices)
        assert plain.shape == (3, 4, 32, 48) and np.allclose(plain.sum(axis=1), 1.0, atol=1e-5)
        return np.allclose(segmenter.probabilities(np.ascontiguousarray(change(slices))), change(plain), atol=1e-4)

    def turn(a):
        return np.rot90(a, 1, axes=(-2, -1))

    def flip(a):
        return a[..., ::-1]

    assert not follows(1, flip) and not follows(1, turn)  # the tiny trained network is not symmetric by itself
    assert follows(2, flip) and not follows(2, turn)
    assert follows(8, turn) and follows(8, flip)
    with pytest.raises(UsageError, match="tta_transforms"):
        CineSegConfig(tta_transforms=3)
