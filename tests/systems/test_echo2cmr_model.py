"""echo2cmr clips, paired dataset, network loss, training, ONNX export, predictor and prediction."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from cardiolens.errors import DataError, UnreadableVideoError, UsageError
from cardiolens.systems.echo2cmr.clips import (
    ClipAugmenter,
    clip_indices,
    eval_clip_batch,
    eval_starts,
    normalise_clip,
    resize_frames,
)
from cardiolens.systems.echo2cmr.config import LABELS, Echo2CmrConfig
from cardiolens.systems.echo2cmr.data import PairedEchoDataset, load_paired_dataset
from cardiolens.systems.echo2cmr.model import (
    ID_KEY_FILE,
    build_network,
    check_onnx,
    export_onnx,
    label_pos_weight,
    load_predictor,
    masked_bce,
)
from cardiolens.systems.echo2cmr.prediction import predict
from cardiolens.systems.echo2cmr.training import VideoClipDataset, split_pairs, train, view_samples
from cardiolens.systems.model_dir import read_card

torch.set_num_threads(1)

#: Small enough to train in a few seconds on one core.
TINY = Echo2CmrConfig(width=4, image_size=32, clip_frames=8, eval_clips=2, epochs=1, batch_size=4,
                      val_fraction=0.25, num_threads=1, mc_samples=3, dropout=0.3)
KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 simulated subjects as echo-cmr tables (24 frames of 48 x 48 pixels per video)."""
    from cardiolens.synth.echo_cohort import write_paired_echo_cohort

    return write_paired_echo_cohort(tmp_path_factory.mktemp("echo") / "cohort", n=16, seed=0, n_frames=24, matrix=48)


@pytest.fixture(scope="module")
def dataset(cohort: Path) -> PairedEchoDataset:
    return load_paired_dataset(cohort, TINY, KEY)


@pytest.fixture(scope="module")
def model_dir(cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train(cohort, tmp_path_factory.mktemp("model") / "echo2cmr", TINY)


# ---------------------------------------------------------------- clips


def test_clip_indices_follow_stride_and_frame_rate() -> None:
    config = Echo2CmrConfig(clip_frames=4, clip_stride=2, reference_fps=50.0)
    assert clip_indices(100, 50.0, 3, config).tolist() == [3, 5, 7, 9]
    assert clip_indices(100, 25.0, 3, config).tolist() == [3, 4, 5, 6]  # half the rate: every frame
    assert clip_indices(100, 100.0, 0, config).tolist() == [0, 4, 8, 12]  # double the rate: stride 4
    assert clip_indices(100, 75.0, 0, config).tolist() == [0, 3, 6, 9]
    assert clip_indices(8, 50.0, 4, config).tolist() == [4, 6, 7, 7]  # clamped at the last frame


def test_eval_starts_are_evenly_spaced_and_the_last_clip_fits() -> None:
    config = Echo2CmrConfig(clip_frames=8, clip_stride=2, eval_clips=3)
    starts = eval_starts(100, 50.0, config)
    assert starts[0] == 0 and len(starts) == 3
    assert clip_indices(100, 50.0, starts[-1], config)[-1] == 99  # the last clip ends on the last frame
    assert abs((starts[1] - starts[0]) - (starts[2] - starts[1])) <= 1
    assert eval_starts(10, 50.0, config) == [0]  # shorter than one clip
    assert eval_starts(100, 50.0, replace(config, eval_clips=1)) == [0]


def test_resize_pads_to_a_centred_square() -> None:
    frames = np.full((2, 10, 20), 200, dtype=np.uint8)
    same = resize_frames(frames, 20)
    assert same.shape == (2, 20, 20) and same.dtype == np.uint8
    assert (same[:, :5] == 0).all() and (same[:, 15:] == 0).all() and (same[:, 5:15] == 200).all()
    half = resize_frames(frames, 10)  # area averaging: the row straddling the border is half grey
    assert half.shape == (2, 10, 10)
    assert (half[:, 0] == 0).all() and (half[:, 5] == 200).all() and (half[:, 2] == 100).all()
    wide16 = resize_frames(np.full((2, 8, 8), 4000, dtype=np.uint16), 16)  # 16-bit scaled into 0..255
    assert wide16.dtype == np.uint8 and wide16.max() == 255


def test_normalise_clip_is_a_z_score() -> None:
    clip = np.random.default_rng(0).integers(0, 256, (8, 16, 16)).astype(np.uint8)
    z = normalise_clip(clip)
    assert z.dtype == np.float32
    assert abs(float(z.mean())) < 1e-5 and float(z.std()) == pytest.approx(1.0, abs=1e-4)
    assert (normalise_clip(np.full((4, 8, 8), 7, np.uint8)) == 0).all()


def test_eval_clip_batch_shape() -> None:
    frames = np.random.default_rng(1).integers(0, 256, (40, 32, 32)).astype(np.uint8)
    batch = eval_clip_batch(frames, 50.0, replace(TINY, eval_clips=3))
    assert batch.shape == (3, TINY.clip_frames, 32, 32) and batch.dtype == np.float32


def test_augmentation_applies_one_transform_to_every_frame() -> None:
    rng = np.random.default_rng(0)
    frame = np.zeros((32, 32), np.uint8)
    frame[8:24, 12:20] = rng.integers(60, 255, (16, 8))
    clip = np.repeat(frame[None], 6, axis=0)
    changed = 0
    for seed in range(4):
        out = ClipAugmenter(32, seed=seed)(clip)
        assert out.shape == clip.shape and out.dtype == np.float32
        assert np.allclose(out, out[0:1], atol=1e-5)  # identical frames stay identical
        changed += not np.allclose(out[0], frame, atol=1.0)
        again = ClipAugmenter(32, seed=seed)(clip)
        assert np.array_equal(out, again)  # same seed, same transform
    assert changed >= 2  # probability 0.8 per transform: most draws change the clip


# ---------------------------------------------------------------- dataset


def test_paired_dataset_is_pseudonymous_and_labelled(cohort: Path, dataset: PairedEchoDataset) -> None:
    cmr = pd.read_csv(cohort / "cmr.csv", dtype=str)
    pairs = dataset.pairs
    assert len(pairs) == dataset.pairing.stats["n_pairs"] > 0
    assert list(pairs.columns) == ["pair_id", "subject_key", "days_offset", "views", "n_videos", *LABELS]
    text = pairs.to_csv()
    assert not any(sid in text for sid in cmr["subject_id"])  # no identifiers
    assert all(p.startswith("P") for p in pairs["pair_id"]) and all(s.startswith("S") for s in pairs["subject_key"])
    assert (pairs["days_offset"].abs() <= TINY.window_days).all()
    assert set(np.unique(dataset.label_matrix()[np.isfinite(dataset.label_matrix())])) <= {0.0, 1.0}
    assert dataset.label_matrix().shape == (len(pairs), len(LABELS))
    for pair_id, n in zip(pairs["pair_id"], pairs["n_videos"]):
        videos = dataset.videos[pair_id]
        assert len(videos) == n
        assert all(v.frames.shape[1:] == (32, 32) and v.frames.dtype == np.uint8 and v.view == "A4C" for v in videos)
        assert all(v.fps == pytest.approx(50.0) for v in videos)
    records = dataset.records()
    assert [r.subject_id for r in records] == list(pairs["pair_id"])
    assert [r.label for r in records] == [str(int(w)) for w in pairs["wma"]]
    other = load_paired_dataset(cohort, TINY, "another-key")
    assert set(other.pairs["pair_id"]).isdisjoint(pairs["pair_id"])  # the key changes every pseudonym
    sub = dataset.subset(list(pairs["pair_id"][:3]))
    assert len(sub) == 3 and set(sub.videos) == set(pairs["pair_id"][:3])


def test_undecodable_video_is_a_bad_case_and_the_batch_continues(cohort: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "cohort"
    shutil.copytree(cohort, copy)
    good = load_paired_dataset(copy, TINY, KEY)
    # a pair with one video loses its pair; a pair with two keeps the other
    single = next(pid for pid, n in zip(good.pairs["pair_id"], good.pairs["n_videos"]) if n == 1)
    double = next((pid for pid, n in zip(good.pairs["pair_id"], good.pairs["n_videos"]) if n == 2), None)
    broken = [good.videos[single][0].source]
    if double is not None:
        broken.append(good.videos[double][0].source)
    for path in broken:
        path.write_bytes(b"not a video at all" * 10)
    loaded = load_paired_dataset(copy, TINY, KEY)
    bad_files = {Path(b.path) for b in loaded.bad_cases}
    assert set(broken) <= bad_files
    assert any(b.subject_id == single and "pair dropped" in b.problem for b in loaded.bad_cases)
    assert single not in set(loaded.pairs["pair_id"])
    assert len(loaded) == len(good) - 1
    if double is not None:
        assert int(loaded.pairs.set_index("pair_id").at[double, "n_videos"]) == 1


# ---------------------------------------------------------------- loss and network


def test_masked_bce_ignores_unknown_labels() -> None:
    logits = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5]], requires_grad=True)
    targets = torch.tensor([[1.0, float("nan"), 0.0], [0.0, 1.0, float("nan")]])
    loss = masked_bce(logits, targets)
    known = torch.isfinite(targets)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits[known], targets[known])
    assert loss.item() == pytest.approx(expected.item())
    loss.backward()
    grad = logits.grad
    assert grad is not None and torch.isfinite(grad).all()
    assert grad[0, 1] == 0 and grad[1, 2] == 0  # NaN entries steer nothing
    assert (grad[known] != 0).all()
    weighted = masked_bce(logits.detach(), targets, torch.tensor([3.0, 1.0, 1.0]))
    assert weighted.item() > loss.item()  # the positive of label 0 weighs 3x
    none_known = masked_bce(logits, torch.full((2, 3), float("nan")))
    assert none_known.item() == 0.0


def test_pos_weight_is_negatives_over_positives_clipped() -> None:
    labels = np.array([[1, 1, 0, np.nan]] + [[0, 1, 0, 0]] * 3 + [[0, 0, 0, 1]] * 0, dtype=float)
    assert label_pos_weight(labels).tolist() == [3.0, 1.0, 1.0, 1.0]
    many = np.array([[1.0]] + [[0.0]] * 30)
    assert label_pos_weight(many).tolist() == [10.0]


def test_training_steps_reduce_the_loss_on_a_fixed_batch() -> None:
    torch.manual_seed(0)
    network = build_network(replace(TINY, dropout=0.0))
    clips = torch.randn(4, 1, 4, 16, 16)
    labels = torch.tensor([[1, 0, float("nan"), 0, 1], [0, 1, 0, float("nan"), 0], [1, 1, 1, 0, 0], [0, 0, 0, 1, 1]])
    optimiser = torch.optim.AdamW(network.parameters(), lr=1e-2)
    losses = []
    for _ in range(10):  # batch norm on 4 clips makes single steps noisy: compare the last three with the first
        optimiser.zero_grad()
        loss = masked_bce(network(clips), labels)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert sum(losses[-3:]) / 3 < losses[0]


def test_onnx_export_agrees_with_eager(tmp_path: Path) -> None:
    import onnxruntime as ort

    torch.manual_seed(0)
    network = build_network(TINY).eval()
    path = export_onnx(network, TINY, tmp_path / "model.onnx")
    clips = torch.randn(3, 1, TINY.clip_frames, TINY.image_size, TINY.image_size).numpy()
    assert check_onnx(network, path, clips) <= 1e-4
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["clip"] and [o.name for o in session.get_outputs()] == ["logits"]
    assert session.run(["logits"], {"clip": clips[:1]})[0].shape == (1, len(LABELS))  # dynamic batch


def test_training_clips_are_reproducible(dataset: PairedEchoDataset) -> None:
    videos, labels = view_samples(dataset, "A4C")
    config = replace(TINY, augment=True)
    first = VideoClipDataset(videos, labels, config, train=True, seed=3)
    second = VideoClipDataset(videos, labels, config, train=True, seed=3)
    a = [first[i][0] for i in range(4)]
    b = [second[i][0] for i in range(4)]
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert a[0].shape == (1, TINY.clip_frames, 32, 32)
    val = VideoClipDataset(videos, labels, config, train=False)
    assert torch.equal(val[0][0], val[0][0])  # validation: first eval clip, unaugmented
    assert torch.allclose(val[0][0][0], torch.from_numpy(eval_clip_batch(videos[0].frames, videos[0].fps, config)[0]))


# ---------------------------------------------------------------- training and the model directory


def test_training_writes_a_complete_model_directory(model_dir: Path, cohort: Path) -> None:
    card = read_card(model_dir)
    assert card.system == "echo2cmr" and card.class_names == list(LABELS)
    assert card.simulated_training_data is True
    assert card.data["views"] == ["A4C"] and card.data["layout"] == "echo-cmr"
    for name in ("weights.pt", "model.onnx", "logs/metrics.csv"):
        assert (model_dir / "views" / "A4C" / name).is_file(), name
    assert card.data["per_view"]["A4C"]["onnx_max_abs_diff"] <= 1e-4
    assert len(card.data["per_view"]["A4C"]["pos_weight"]) == len(LABELS)
    assert card.data["pairing"]["n_pairs"] == card.data["n_pairs"]
    # the trained subjects are the pseudonymous keys of the training + validation pairs
    key = (model_dir / ID_KEY_FILE).read_text(encoding="utf-8").strip()
    reloaded = load_paired_dataset(cohort, TINY, key)
    split = json.loads((model_dir / "split.json").read_text(encoding="utf-8"))
    keys = dict(zip(reloaded.pairs["pair_id"], reloaded.pairs["subject_key"]))
    assert sorted({keys[p] for p in split["train"] + split["val"]}) == card.trained_subject_ids
    assert set(split["train"]).isdisjoint(split["val"])
    cmr_ids = set(pd.read_csv(cohort / "cmr.csv", dtype=str)["subject_id"])
    assert cmr_ids.isdisjoint(card.trained_subject_ids)
    metrics = pd.read_csv(model_dir / "views" / "A4C" / "logs" / "metrics.csv")
    assert "val_loss" in metrics.columns and metrics["val_loss"].notna().any()


def test_training_refuses_when_no_view_has_both_wma_classes(dataset: PairedEchoDataset, tmp_path: Path) -> None:
    normal = dataset.subset([p for p, w in zip(dataset.pairs["pair_id"], dataset.pairs["wma"]) if w == 0])
    with pytest.raises(UsageError, match="no echo view can be trained"):
        train(normal, tmp_path / "model", TINY)
    assert not (tmp_path / "model").exists()


# ---------------------------------------------------------------- predictor and prediction


def test_predictor_backends_agree_and_shapes(model_dir: Path, dataset: PairedEchoDataset) -> None:
    onnx = load_predictor(model_dir, prefer_onnx=True)
    eager = load_predictor(model_dir, prefer_onnx=False)
    assert onnx.uses_onnx and not eager.uses_onnx
    assert onnx.views == ["A4C"] and onnx.config.image_size == 32 and onnx.id_key
    video = dataset.all_videos()[0][1]
    clips = onnx.eval_clips(video)
    a, b = onnx.clip_logits("A4C", clips), eager.clip_logits("A4C", clips)
    assert a.shape == (len(clips), len(LABELS))
    assert np.max(np.abs(a - b)) <= 1e-4
    assert onnx.video_logits(video).shape == (len(LABELS),)
    np.testing.assert_allclose(onnx.video_logits(video), a.mean(axis=0), atol=1e-6)
    assert onnx.notes == []
    onnx.clip_logits("PLAX", clips)  # unseen view: falls back to the first trained view, and says so
    assert any("PLAX" in note and "A4C" in note for note in onnx.notes)
    assert not onnx.network("A4C").training


def test_mc_dropout_gives_spread_and_restores_eval_mode(model_dir: Path, dataset: PairedEchoDataset) -> None:
    predictor = load_predictor(model_dir, prefer_onnx=False)
    clips = predictor.eval_clips(dataset.all_videos()[0][1])
    draws = predictor.mc_dropout_logits("A4C", clips, 5)
    assert draws.shape == (5, len(clips), len(LABELS))
    assert float(draws.std(axis=0).max()) > 0  # dropout 0.3: the draws differ
    assert np.array_equal(draws, predictor.mc_dropout_logits("A4C", clips, 5))  # seeded
    network = predictor.network("A4C")
    assert not any(m.training for m in network.modules())


def test_predict_on_avi_and_dicom_with_a_bad_input(model_dir: Path, cohort: Path, tmp_path: Path) -> None:
    from cardiolens.io.dicom_echo import write_dicom_echo
    from cardiolens.synth.echo import simulate_echo

    avi = min((cohort / "videos").glob("*.avi"))
    clip = simulate_echo(np.random.default_rng(5), "DCM1", wma=True, n_frames=24, matrix=48)
    dcm = write_dicom_echo(clip, tmp_path / "echo.dcm")
    bad = tmp_path / "broken.avi"
    bad.write_bytes(b"\x00" * 64)
    out = predict(model_dir, [str(avi), str(dcm), str(bad)], tmp_path / "pred")
    table = pd.read_csv(out / "predictions.csv")
    assert list(table["input"]) == [avi.name, "echo.dcm"]
    assert list(table["view"]) == ["UNKNOWN", "A4C"]  # the DICOM file names its view
    assert list(table["view_model"]) == ["A4C", "A4C"]
    for label in LABELS:
        p = table[f"{label}_probability"]
        assert ((p > 0) & (p < 1)).all()
        assert (table[f"{label}_probability_sd"] >= 0).all()
    assert (table["n_clips"] >= 1).all()
    document = json.loads((out / "predictions.json").read_text(encoding="utf-8"))
    assert document["labels"] == list(LABELS) and document["simulated_training_data"] is True
    assert len(document["predictions"]) == 2
    assert len(document["bad_inputs"]) == 1 and document["bad_inputs"][0]["file"] == str(bad)
    assert any("UNKNOWN" in note for note in document["notes"])
    assert math.isclose(document["predictions"][0]["wma_probability"], table["wma_probability"][0], rel_tol=1e-5)


def test_predict_raises_when_nothing_can_be_read(model_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"garbage" * 20)
    with pytest.raises(UnreadableVideoError) as info:
        predict(model_dir, [str(bad)], tmp_path / "pred")
    assert str(bad) in str(info.value)
    assert isinstance(info.value, DataError)
    assert not (tmp_path / "pred" / "predictions.csv").exists()
    with pytest.raises(UsageError):
        predict(model_dir, [], tmp_path / "pred")


def test_split_depends_on_the_data_and_seed_not_on_the_pseudonym_key(cohort: Path, dataset: PairedEchoDataset) -> None:
    other = load_paired_dataset(cohort, TINY, "another-key")
    assert set(other.pair_ids).isdisjoint(dataset.pair_ids)  # the pseudonyms differ ...

    def sides(data: PairedEchoDataset) -> tuple[set[str], set[str]]:
        train_ids, val_ids, _ = split_pairs(data, TINY)
        return {data.subject_ids[p] for p in train_ids}, {data.subject_ids[p] for p in val_ids}

    first, second = sides(dataset), sides(other)
    assert first == second and first[1] and not first[0] & first[1]  # ... the split of subjects does not
