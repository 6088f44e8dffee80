"""lge building blocks: config, networks, crop geometry, post-processing, thresholds on a phantom, quantification, scores."""

import math

import numpy as np
import pandas as pd
import pytest

from cardiolens.data.labels import LGE_LABELS
from cardiolens.data.volume import CMRVolume
from cardiolens.errors import DataError, UsageError
from cardiolens.synth.lge import simulate_lge
from cardiolens.systems.lge.classic import threshold_labels
from cardiolens.systems.lge.config import LGEConfig
from cardiolens.systems.lge.cross_validation import paired_comparison, variant_entries
from cardiolens.systems.lge.data import centre_crop, normalise_stack, uncrop, with_spacing
from cardiolens.systems.lge.evaluation import hd95_in_plane_px, score_case, summarise
from cardiolens.systems.lge.model import SCAR_LABELS, postprocess
from cardiolens.systems.lge.quantification import quantification_row

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def test_config_checks_variants_compare_and_spacing():
    with pytest.raises(UsageError, match="variant"):
        LGEConfig(variant="unet4d")
    with pytest.raises(UsageError, match="compare"):
        LGEConfig(compare=("unet2d:manual",))  # :manual is for the threshold routes only
    with pytest.raises(UsageError, match="multiple of 16"):
        LGEConfig(inplane_px=100)
    with pytest.raises(UsageError, match="spacing_mm"):
        LGEConfig(spacing_mm=(8.0, 1.5))
    with pytest.raises(UsageError, match="tta_transforms"):
        LGEConfig(tta_transforms=3)
    assert LGEConfig(compare="unet2d, nsd:manual").compare == ("unet2d", "nsd:manual")
    assert variant_entries(LGEConfig(variant="nsd", compare=("unet2d",))) == ["unet2d", "nsd"]  # networks first: nsd needs one


@pytest.mark.parametrize("variant", ["unet3d", "unet2d"])
def test_networks_keep_the_slice_count_and_give_five_classes(variant):
    from cardiolens.systems.lge.model import build_network

    config = LGEConfig(variant=variant, channels=(4, 8, 16), inplane_px=32)
    net = build_network(config).eval()
    with torch.no_grad():
        if variant == "unet3d":
            for slices in (5, 7):  # odd slice counts work: the slice axis is never downsampled
                assert net(torch.zeros(1, 1, slices, 32, 32)).shape == (1, 5, slices, 32, 32)
        else:
            assert net(torch.zeros(6, 1, 32, 32)).shape == (6, 5, 32, 32)


@pytest.mark.parametrize("variant", ["unet3d", "unet2d"])
def test_test_time_augmentation_makes_the_prediction_follow_the_image(variant):
    from cardiolens.systems.lge.model import StackSegmenter, build_network

    torch.manual_seed(0)
    config = LGEConfig(variant=variant, channels=(4, 8, 16), inplane_px=32)
    network = build_network(config)  # random weights: not equivariant by itself
    image = np.random.default_rng(0).random((5, 32, 32)).astype(np.float32)

    def follows(tta: int, change) -> bool:
        segmenter = StackSegmenter(network, LGEConfig(variant=variant, channels=(4, 8, 16), inplane_px=32, tta_transforms=tta))
        plain = segmenter.probabilities(image)
        assert np.allclose(plain.sum(axis=0), 1.0, atol=1e-5)
        return np.allclose(segmenter.probabilities(np.ascontiguousarray(change(image))), change(plain), atol=1e-5)

    def turn(a):
        return np.rot90(a, 1, axes=(-2, -1))

    def flip(a):
        return a[..., ::-1]

    assert not follows(1, turn) and not follows(1, flip)  # without TTA the random network is not equivariant
    assert follows(2, flip) and not follows(2, turn)
    assert follows(4, turn)
    assert follows(8, turn) and follows(8, flip)


def test_centre_crop_pads_small_and_crops_large_and_uncrop_inverts():
    big = np.arange(2 * 10 * 12, dtype=float).reshape(2, 10, 12)
    cropped = centre_crop(big, 4)
    assert np.array_equal(cropped, big[:, 3:7, 4:8])
    back = uncrop(cropped, (10, 12))
    assert np.array_equal(back[:, 3:7, 4:8], cropped) and back.sum() == cropped.sum()
    small = np.ones((1, 3, 5))
    padded = centre_crop(small, 8)
    assert padded.shape == (1, 8, 8) and padded.sum() == 15 and np.array_equal(uncrop(padded, (3, 5)), small)


def test_normalise_stack_uses_whole_stack_percentiles():
    stack = np.stack([np.full((4, 4), 10.0), np.full((4, 4), 20.0)])
    out = normalise_stack(stack, (0, 100))
    assert out[0].max() == 0.0 and out[1].min() == 1.0  # one scale for the stack, not per slice
    assert not normalise_stack(np.ones((2, 3, 3))).any()


def test_postprocess_drops_far_objects_and_small_scar_islands():
    labels = np.zeros((3, 20, 20), np.uint8)
    labels[:, 4:12, 4:12] = LGE_LABELS["normal_myocardium"]
    labels[:, 6:10, 6:10] = LGE_LABELS["lv_cavity"]
    labels[:, 4:6, 4:12] = LGE_LABELS["infarct"]  # 48-voxel scar, kept
    labels[1, 11, 11] = LGE_LABELS["infarct"]  # a 1-voxel island
    labels[0, 17:19, 17:19] = LGE_LABELS["normal_myocardium"]  # a stray object away from the heart
    out = postprocess(labels, min_scar_voxels=10)
    assert out[0, 17:19, 17:19].sum() == 0
    assert out[1, 11, 11] == LGE_LABELS["normal_myocardium"]
    assert np.count_nonzero(np.isin(out, SCAR_LABELS)) == 48


@pytest.mark.parametrize("method", ["nsd", "fwhm"])
def test_thresholds_recover_a_phantom_scar_inside_the_manual_myocardium(method):
    volume = simulate_lge("transmural", np.random.default_rng(3), "P", target_pct_lge=25.0, with_mvo=False, n_slices=6, matrix=64)
    truth = volume.labels
    out = threshold_labels(volume.image, truth, method, n_sd=2.0)
    myocardium = np.isin(truth, (2, 3, 4))
    assert np.array_equal(np.isin(out, (2, 3, 4)), myocardium)  # the myocardium is taken as given
    scar, true_scar = np.isin(out, SCAR_LABELS), np.isin(truth, SCAR_LABELS)
    dice = 2 * np.count_nonzero(scar & true_scar) / (scar.sum() + true_scar.sum())
    assert dice > 0.6
    pct = 100 * scar.sum() / myocardium.sum()
    assert abs(pct - volume.metadata["truth"]["pct_lge"]) < 12
    # no scar at all is found in a scar-free phantom at 5SD
    normal = simulate_lge("none", np.random.default_rng(4), "N", n_slices=6, matrix=64)
    assert np.count_nonzero(np.isin(threshold_labels(normal.image, normal.labels, method, n_sd=5.0), SCAR_LABELS)) < 0.02 * np.isin(normal.labels, (2, 3, 4)).sum()


def _emidec_like(spacing_known=False):
    labels = np.zeros((4, 24, 24), np.uint8)
    labels[:, 6:18, 6:18] = 2
    labels[:, 9:15, 9:15] = 1
    labels[:2, 6:9, 6:18] = 3
    labels[0, 7, 10:12] = 4
    image = np.where(np.isin(labels, (3, 4)), 200.0, 40.0).astype(np.float32)
    return CMRVolume(image, "lge", (1.0, 1.0, 1.0), spacing_known, labels=labels, label_scheme="lge", subject_id="X", source="x")


def test_quantification_reports_voxels_without_spacing_and_ml_with_given_spacing():
    volume = _emidec_like()
    row = quantification_row(volume, volume.labels, segments=False)
    scar = int(np.isin(volume.labels, (3, 4)).sum())
    myocardium = int(np.isin(volume.labels, (2, 3, 4)).sum())
    assert row["volume_unit"] == "voxels" and row["scar_volume_ml"] is None
    assert row["scar_voxels"] == scar and row["mvo_voxels"] == 2
    assert row["pct_lge"] == pytest.approx(100 * scar / myocardium) and row["burden_over_15pct"] is True
    given = with_spacing(volume, (8.0, 1.5, 1.5))
    assert given.spacing_known and "given by the user" in given.metadata["spacing_note"]
    row_ml = quantification_row(given, volume.labels, segments=False)
    assert row_ml["volume_unit"] == "mL" and row_ml["scar_volume_ml"] == pytest.approx(scar * 8 * 1.5 * 1.5 / 1000)
    assert with_spacing(given, (1.0, 1.0, 1.0)).spacing_mm == (8.0, 1.5, 1.5)  # a known spacing is never overridden
    with pytest.raises(DataError, match="no myocardium"):
        quantification_row(volume, np.zeros_like(volume.labels))


def test_hd95_in_plane_pools_slice_distances():
    a = np.zeros((2, 20, 20), bool)
    a[:, 5:10, 5:10] = True
    b = np.roll(a, 3, axis=2)  # every slice shifted 3 px in x
    assert hd95_in_plane_px(a, b) == pytest.approx(3.0)
    assert math.isnan(hd95_in_plane_px(np.zeros_like(a), np.zeros_like(a)))
    c = a.copy()
    c[1] = False  # drawn on a slice the other misses
    assert math.isinf(hd95_in_plane_px(c, a))


def test_scores_of_a_perfect_and_an_empty_prediction():
    volume = _emidec_like()
    perfect = score_case(volume.labels, volume, spacing_3d=False)
    assert perfect["dice_myocardium"] == 1 and perfect["dice_scar"] == 1 and perfect["hd95_myocardium"] == 0
    assert perfect["pct_lge_predicted"] == perfect["pct_lge_reference"]
    no_scar = volume.labels.copy()
    no_scar[np.isin(no_scar, (3, 4))] = 2
    missed = score_case(no_scar, volume, spacing_3d=False)
    assert missed["dice_scar"] == 0 and missed["mi_predicted_predicted"] is False and missed["dice_myocardium"] == 1


def test_summary_keys_and_case_level_calls():
    rows = []
    rng = np.random.default_rng(0)
    for i in range(12):
        has_scar = i % 3 != 0
        ref = float(rng.uniform(5, 35)) if has_scar else 0.0
        pred = ref + float(rng.normal(0, 2)) if has_scar else float(rng.uniform(0, 1)) * (i % 2)
        rows.append({"subject_id": f"S{i}", "spacing_known": False, "truth_has_scar": has_scar, "truth_has_mvo": i == 1,
                     "dice_myocardium": 0.8, "dice_scar": 0.6 if has_scar else float(pred == 0), "dice_mvo": 0.3, "dice_cavity": 0.9,
                     "hd95_myocardium": 3.0, "hd95_scar": 5.0, "pct_lge_predicted": pred, "pct_lge_reference": ref,
                     "scar_voxels_predicted": pred * 10, "scar_voxels_reference": ref * 10,
                     "burden_over_15pct_predicted": pred >= 15, "burden_over_15pct_reference": ref >= 15,
                     "mi_predicted_predicted": pred > 0})
    metrics, details = summarise(pd.DataFrame(rows))
    for key in ("dice_myocardium", "dice_scar", "hd95_myocardium", "pct_lge_pearson_r", "pct_lge_bias", "burden_over_15pct_accuracy", "case_mi_auc"):
        assert metrics[key].ci is not None, key
    assert metrics["dice_scar"].value == pytest.approx(0.6)  # over the 8 scarred cases only
    assert metrics["pct_lge_pearson_r"].value > 0.9
    assert "bias_pct" in details["pct_lge"] and "bias_voxels" in details["scar_volume"]
    normals_called = sum(1 for r in rows if not r["truth_has_scar"] and r["mi_predicted_predicted"])
    assert metrics["case_mi_specificity"].value == pytest.approx(1 - normals_called / 4)


def test_paired_comparison_signs_and_tests_per_case_dice():
    base = pd.DataFrame({"subject_id": [f"S{i}" for i in range(8)], "truth_has_scar": [True] * 6 + [False] * 2,
                         "dice_myocardium": np.linspace(0.7, 0.9, 8), "dice_scar": np.linspace(0.4, 0.7, 8)})
    better = base.assign(dice_myocardium=base["dice_myocardium"] + 0.05, dice_scar=base["dice_scar"] + np.linspace(0.05, 0.1, 8))
    result = paired_comparison(base, better)
    assert result["dice_myocardium"]["mean_difference"]["value"] == pytest.approx(0.05)
    assert result["dice_scar"]["n"] == 6  # scar compared on the cases with manual scar
    assert result["dice_scar"]["wilcoxon_p"] < 0.05
    assert paired_comparison(base, base)["dice_myocardium"]["wilcoxon_p"] == 1.0


def test_breakdown_by_vendor_only_when_the_cohort_records_one():
    from cardiolens.systems.lge.evaluation import breakdown

    rows = pd.DataFrame({"subject_id": ["a", "b", "c"], "truth_has_scar": [True, False, True],
                         "dice_myocardium": [0.8, 0.6, 0.9], "dice_scar": [0.5, 1.0, 0.7]})
    table = breakdown(rows, {"a": {"vendor": "GE"}, "b": {"vendor": "GE"}, "c": {"vendor": "Siemens"}})
    assert set(table) == {"vendor"}
    assert table["vendor"]["GE"] == {"n": 2, "dice_myocardium": pytest.approx(0.7), "dice_scar": 0.5}
    assert table["vendor"]["Siemens"]["dice_scar"] == pytest.approx(0.7)
    assert breakdown(rows, {}) == {}
