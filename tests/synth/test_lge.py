"""Simulated LGE: determinism, labels, %LGE targets, pattern anatomy, MVO and image contrast."""

from __future__ import annotations

import numpy as np
import pytest

from cardiolens.data.labels import LGE_LABELS
from cardiolens.errors import UsageError
from cardiolens.synth.lge import LGE_PATTERNS, simulate_lge

from .adjacency import touching

CAV, NORMAL, INFARCT, MVO = (LGE_LABELS[k] for k in ("lv_cavity", "normal_myocardium", "infarct", "mvo"))
SCAR_PATTERNS_LGE = [p for p in LGE_PATTERNS if p != "none"]


def scar_of(labels: np.ndarray) -> np.ndarray:
    return (labels == INFARCT) | (labels == MVO)


def test_same_seed_gives_identical_arrays_and_another_seed_differs() -> None:
    a = simulate_lge("transmural", np.random.default_rng(1), target_pct_lge=20)
    b = simulate_lge("transmural", np.random.default_rng(1), target_pct_lge=20)
    c = simulate_lge("transmural", np.random.default_rng(2), target_pct_lge=20)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.labels, b.labels)
    assert a.metadata["truth"] == b.metadata["truth"]
    assert not np.array_equal(a.image, c.image) and not np.array_equal(a.labels, c.labels)


def test_container_and_metadata() -> None:
    volume = simulate_lge("patchy", np.random.default_rng(3), "P1")
    assert volume.modality == "lge" and volume.label_scheme == "lge" and volume.subject_id == "P1"
    assert volume.image.shape == (10, 96, 96) and volume.image.dtype == np.float32
    assert set(np.unique(volume.labels)) <= set(LGE_LABELS.values())
    dz, dy, dx = volume.spacing_mm
    assert 8.0 <= dz <= 10.0 and dy == dx and 1.2 <= dy <= 1.8
    assert volume.metadata["simulated"] is True and volume.metadata["pattern"] == "patchy"
    assert np.allclose(np.linalg.norm(volume.affine[:3, :3], axis=0), [dx, dy, dz])
    labels = volume.labels
    assert not labels[:, [0, -1], :].any() and not labels[:, :, [0, -1]].any()
    # the cavity is enclosed by myocardium on every slice
    cavity = labels == CAV
    assert not np.any(touching(cavity) & (labels < NORMAL))


@pytest.mark.parametrize("pattern", SCAR_PATTERNS_LGE)
def test_realised_burden_is_near_the_target(pattern: str) -> None:
    for seed, target in enumerate((0.0, 3.0, 16.0, 28.0, 40.0)):
        volume = simulate_lge(pattern, np.random.default_rng([seed, 11]), target_pct_lge=target)
        assert volume.metadata["truth"]["pct_lge"] == pytest.approx(target, abs=2.0)
        assert volume.metadata["truth"]["target_pct_lge"] == target


def test_truth_equals_a_recount_from_the_labels() -> None:
    volume = simulate_lge("transmural", np.random.default_rng(5), target_pct_lge=25, with_mvo=True)
    labels, truth = volume.labels, volume.metadata["truth"]
    n_infarct, n_mvo, n_normal = (int(np.sum(labels == v)) for v in (INFARCT, MVO, NORMAL))
    myocardium = n_normal + n_infarct + n_mvo
    assert n_mvo > 0
    assert truth["scar_voxels"] == n_infarct + n_mvo
    assert truth["mvo_voxels"] == n_mvo
    assert truth["myocardium_voxels"] == myocardium
    assert truth["pct_lge"] == pytest.approx(100 * (n_infarct + n_mvo) / myocardium)
    assert truth["scar_volume_ml"] == pytest.approx((n_infarct + n_mvo) * volume.voxel_volume_ml)


def test_no_scar_pattern_has_no_scar() -> None:
    volume = simulate_lge("none", np.random.default_rng(4))
    assert not scar_of(volume.labels).any()
    assert volume.metadata["truth"]["pct_lge"] == 0.0
    assert (volume.labels == NORMAL).any() and (volume.labels == CAV).any()


@pytest.mark.parametrize("seed", range(3))
def test_pattern_anatomy_relative_to_the_wall(seed: int) -> None:
    for target in (5.0, 20.0):
        def labels_of(pattern: str) -> np.ndarray:
            return simulate_lge(pattern, np.random.default_rng([seed, 3]), target_pct_lge=target).labels

        labels = labels_of("subendocardial")
        assert np.any(touching(labels == CAV) & scar_of(labels)), "subendocardial scar must reach the endocardium"

        labels = labels_of("midwall")
        scar = scar_of(labels)
        assert scar.any()
        assert not np.any(touching(labels == CAV) & scar), "mid-wall scar touches the endocardium"
        assert not np.any(touching(labels == 0) & scar), "mid-wall scar touches the epicardium"

        labels = labels_of("subepicardial")
        scar = scar_of(labels)
        assert np.any(touching(labels == 0) & scar), "subepicardial scar must reach the epicardium"
        assert not np.any(touching(labels == CAV) & scar)

        labels = labels_of("transmural")
        scar = scar_of(labels)
        # transmural: some scar reaches both borders on the same slice
        both = [z for z in range(labels.shape[0]) if np.any(touching(labels[z] == CAV) & scar[z])]
        assert any(np.any(touching(labels[z] == 0) & scar[z]) for z in both)


@pytest.mark.parametrize("pattern", ["subendocardial", "transmural"])
def test_ischaemic_scar_is_centred_on_its_territory(pattern: str) -> None:
    for seed in range(4):
        volume = simulate_lge(pattern, np.random.default_rng([seed, 5]), target_pct_lge=12)
        anatomy = volume.metadata["anatomy"]
        territory = anatomy["scar"]["territory"]
        septal = np.array(anatomy["septal_direction_yx"])
        anterior = np.array(anatomy["anterior_direction_yx"])
        z, y, x = np.nonzero(scar_of(volume.labels))
        centre = np.array(anatomy["lv_centre_yx_px"])[z]
        offset = np.stack([y - centre[:, 0], x - centre[:, 1]], axis=1)
        angle = np.arctan2(offset @ septal, offset @ anterior)
        mean_angle = np.angle(np.mean(np.exp(1j * angle)))
        distance = abs((mean_angle - np.radians(territory["centre_deg"]) + np.pi) % (2 * np.pi) - np.pi)
        assert distance < np.radians(territory["half_width_deg"])


def test_mvo_lies_inside_the_scar() -> None:
    for seed in range(4):
        volume = simulate_lge("transmural", np.random.default_rng(seed), target_pct_lge=20, with_mvo=True)
        labels = volume.labels
        mvo = labels == MVO
        assert mvo.any()
        neighbours = touching(mvo)
        assert set(np.unique(labels[neighbours])) <= {CAV, INFARCT}, "MVO must be wrapped in infarct"
        assert volume.metadata["with_mvo"] is True


def test_mvo_can_be_forbidden_and_is_only_ischaemic() -> None:
    volume = simulate_lge("transmural", np.random.default_rng(0), target_pct_lge=30, with_mvo=False)
    assert volume.metadata["truth"]["mvo_voxels"] == 0
    with pytest.raises(UsageError, match="ischaemic"):
        simulate_lge("midwall", np.random.default_rng(0), with_mvo=True)


@pytest.mark.parametrize(
    "pattern, kwargs",
    [
        ("scarry", {}),
        ("none", {"target_pct_lge": 5}),
        ("patchy", {"target_pct_lge": 75}),
        ("patchy", {"target_pct_lge": -1}),
        ("patchy", {"n_slices": 2}),
        ("patchy", {"matrix": 8}),
    ],
)
def test_bad_arguments_raise_usage_error(pattern: str, kwargs: dict) -> None:
    with pytest.raises(UsageError):
        simulate_lge(pattern, np.random.default_rng(0), **kwargs)


def test_default_burdens_follow_the_pattern() -> None:
    burden = {
        p: [simulate_lge(p, np.random.default_rng([s, 9])).metadata["truth"]["pct_lge"] for s in range(4)]
        for p in ("transmural", "midwall")
    }
    assert np.median(burden["transmural"]) > np.median(burden["midwall"])
    assert all(0 < b <= 30.5 for values in burden.values() for b in values)


def test_scar_is_brighter_than_remote_and_thresholds_are_imperfect() -> None:
    """A 2-SD threshold tracks the true burden (r > 0.8) without reproducing it exactly."""
    estimated, true = [], []
    for seed in range(10):
        pattern = SCAR_PATTERNS_LGE[seed % len(SCAR_PATTERNS_LGE)]
        target = float(np.random.default_rng(seed).uniform(3, 35))
        volume = simulate_lge(pattern, np.random.default_rng([seed, 1]), target_pct_lge=target)
        image, labels = volume.image, volume.labels
        remote = image[labels == NORMAL]
        assert image[labels == INFARCT].mean() > remote.mean() + 2 * remote.std()
        threshold = remote.mean() + 2 * remote.std()
        myocardium = labels >= NORMAL
        estimated.append(100 * np.mean(image[myocardium] > threshold))
        true.append(volume.metadata["truth"]["pct_lge"])
    estimated, true = np.array(estimated), np.array(true)
    assert np.corrcoef(estimated, true)[0, 1] > 0.8
    assert np.mean(np.abs(estimated - true)) > 0.5
