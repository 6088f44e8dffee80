"""Simulated A4C echo clips: determinism, sector, WMA visibility and label-independent nuisance."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cardiolens.data import EchoClip
from cardiolens.errors import UsageError
from cardiolens.synth.echo import WMA_SEGMENTS, simulate_echo


def _clip(seed: int, **kwargs: object) -> EchoClip:
    params: dict = {"wma": False}
    params.update(kwargs)
    return simulate_echo(np.random.default_rng(seed), **params)


def test_same_seed_same_clip_and_different_seed_differs() -> None:
    a, b, c = _clip(1), _clip(1), _clip(2)
    np.testing.assert_array_equal(a.frames, b.frames)
    assert a.metadata == b.metadata
    assert not np.array_equal(a.frames, c.frames)


def test_shape_dtype_rate_spacing_and_metadata() -> None:
    clip = simulate_echo(np.random.default_rng(3), "E7", wma=True, n_frames=32, matrix=96, fps=40.0)
    assert clip.frames.shape == (32, 96, 96) and clip.frames.dtype == np.uint8
    assert clip.fps == 40.0 and clip.view == "A4C" and clip.subject_id == "E7"
    row_mm, col_mm = clip.pixel_spacing_mm
    assert row_mm == col_mm and 0.8 <= row_mm * 96 / 112 <= 1.3
    meta = clip.metadata
    assert meta["simulated"] is True and meta["wma"] is True
    assert meta["wma_segment"] in WMA_SEGMENTS and meta["wma_kind"] in ("hypokinetic", "akinetic")
    assert 15.0 < meta["ef_pct"] < 80.0 and meta["edv_ml"] > meta["esv_ml"] > 0
    assert 55.0 <= meta["heart_rate_bpm"] <= 95.0
    assert _clip(3).metadata["wma_segment"] is None
    json.dumps(meta)  # plain types, so writers can store it


def test_sector_mask_leaves_corners_black_and_the_fan_bright() -> None:
    frames = _clip(4).frames
    for corner in (frames[:, :4, :4], frames[:, :4, -4:], frames[:, -4:, :4], frames[:, -4:, -4:]):
        assert not corner.any()
    rows = frames.shape[1]
    fan_centre = frames[:, rows // 3 : 2 * rows // 3, rows // 2 - 5 : rows // 2 + 5]
    assert fan_centre.mean() > 20
    assert (frames[0] > 0).mean() > 0.4  # the fan covers much of the image


def test_walls_are_bright_around_a_dark_cavity_and_they_move() -> None:
    clip = _clip(5)
    ed, es = clip.metadata["ed_frames"][0], clip.metadata["es_frames"][0]
    diff = np.abs(clip.frames[ed].astype(int) - clip.frames[es].astype(int))
    assert diff.mean() > 5  # the heart moves between ED and ES
    # Intensity histogram has dark (blood) and bright (wall/pericardium) populations inside the fan.
    inside = clip.frames[ed][clip.frames[ed] > 0]
    assert np.percentile(inside, 10) < 40 and np.percentile(inside, 90) > 150


@pytest.mark.parametrize("seed", [6, 7, 8, 9, 10, 11])
def test_wma_segment_moves_much_less_than_in_the_same_heart_without_wma(seed: int) -> None:
    with_wma, without = _clip(seed, wma=True), _clip(seed, wma=False)
    segment = with_wma.metadata["wma_segment"]
    moved = with_wma.metadata["segment_excursion_mm"][segment]
    normal = without.metadata["segment_excursion_mm"][segment]
    assert moved <= 0.5 * normal
    assert with_wma.metadata["ef_pct"] < without.metadata["ef_pct"]
    assert normal > 2.0  # mm: a normal segment visibly moves
    # Only that segment changes: the others keep their excursion.
    for other in set(WMA_SEGMENTS) - {segment}:
        assert with_wma.metadata["segment_excursion_mm"][other] == without.metadata["segment_excursion_mm"][other]
    # The abnormality is in the motion: twins agree near end-diastole and differ at end-systole.
    ed, es = without.metadata["ed_frames"], without.metadata["es_frames"]
    if ed and es:
        def change(frame: int) -> float:
            return float(np.abs(with_wma.frames[frame].astype(int) - without.frames[frame].astype(int)).mean())

        assert change(es[0]) > 3 * change(ed[0]) + 0.2


def test_wma_segments_are_smaller_over_a_population() -> None:
    affected, normal = [], []
    for seed in range(20):
        clip = _clip(100 + seed, wma=bool(seed % 2), n_frames=8, matrix=48)
        excursion = clip.metadata["segment_excursion_mm"]
        if clip.metadata["wma"]:
            affected.append(excursion[clip.metadata["wma_segment"]])
        else:
            normal.extend(excursion.values())
    assert np.median(affected) < 0.5 * np.median(normal)
    assert {_clip(200 + s, wma=True, n_frames=2, matrix=32).metadata["wma_segment"] for s in range(30)} == set(
        WMA_SEGMENTS
    )


def test_tissue_labels_change_nothing_at_zero_effect() -> None:
    plain = _clip(12)
    labelled = _clip(12, tissue_abnormal={"lge": True, "t1": True, "t2": True, "ecv": True})
    np.testing.assert_array_equal(plain.frames, labelled.frames)


def test_tissue_effect_is_a_small_myocardial_brightening() -> None:
    plain = _clip(13, tissue_abnormal={"lge": True}, tissue_effect=0.0)
    shifted = _clip(13, tissue_abnormal={"lge": True}, tissue_effect=0.1)
    delta = shifted.frames.astype(int) - plain.frames.astype(int)
    # Brighter on the whole; single pixels may darken (coherent speckle sums interfere).
    assert delta.mean() > 0 and (delta > 0).sum() > 2 * (delta < 0).sum()
    assert 0.0 < (delta != 0).mean() < 0.4  # only the myocardium changes
    assert delta.mean() < 2.0  # grey levels: hardly visible
    # A label that is False does nothing even with an effect.
    np.testing.assert_array_equal(plain.frames, _clip(13, tissue_abnormal={"lge": False}, tissue_effect=0.1).frames)


def test_nuisance_does_not_depend_on_labels() -> None:
    a = _clip(14, wma=False)
    b = _clip(14, wma=True)
    assert a.pixel_spacing_mm == b.pixel_spacing_mm
    assert a.metadata["heart_rate_bpm"] == b.metadata["heart_rate_bpm"]
    np.testing.assert_array_equal(a.frames[:, :3], b.frames[:, :3])  # sector top, far from any wall


def test_bad_arguments_raise_usage_errors() -> None:
    with pytest.raises(UsageError, match="tissue_abnormal"):
        _clip(0, tissue_abnormal={"scar": True})
    with pytest.raises(UsageError, match="n_frames"):
        _clip(0, n_frames=1)
    with pytest.raises(UsageError, match="fps"):
        _clip(0, fps=0.0)
