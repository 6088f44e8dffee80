"""EfficientNet-Lite0: shapes, the bundled ImageNet weights and their sanity check, stem adaptation."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cardiolens.errors import CorruptFileError, MissingDataError, UsageError
from cardiolens.nn.efficientnet_lite import (
    SANITY_CLASS,
    EfficientNetLite0,
    bundled_weights_path,
    imagenet_sanity_check,
    load_lite0_weights,
)

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def imagenet_model() -> tuple[EfficientNetLite0, object]:
    model = EfficientNetLite0(num_classes=1000, in_channels=3)
    report = load_lite0_weights(model)
    return model, report


@pytest.mark.parametrize("size_px", [64, 128, 224])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes(size_px: int, channels: int) -> None:
    torch.manual_seed(0)
    model = EfficientNetLite0(num_classes=5, in_channels=channels).eval()
    x = torch.randn(1, channels, size_px, size_px)
    with torch.no_grad():
        assert model(x).shape == (1, 5)
        assert model.features(x).shape == (1, 1280, size_px // 32, size_px // 32)


def test_bundled_weights_load_completely_and_pass_the_sanity_check(imagenet_model) -> None:
    model, report = imagenet_model
    assert bundled_weights_path().stat().st_size > 10_000_000
    assert report.missing == [] and report.skipped == {} and report.adapted == []
    assert len(report.loaded) == len(model.state_dict())
    result = imagenet_sanity_check(model)
    assert result["image"] == "grace_hopper.jpg"
    assert result["passed"] is True
    assert result["top5"][0] == SANITY_CLASS == 652
    assert len(result["top5"]) == 5 and len(set(result["top5"])) == 5
    assert 0.2 < result["top1_probability"] < 0.5  # measured: 0.30


def test_sanity_check_restores_train_mode(imagenet_model) -> None:
    model, _ = imagenet_model
    model.train()
    try:
        assert imagenet_sanity_check(model)["passed"]
        assert model.training
    finally:
        model.eval()


def test_random_weights_fail_the_sanity_check() -> None:
    torch.manual_seed(0)
    result = imagenet_sanity_check(EfficientNetLite0())
    assert result["passed"] is False
    assert result["top5"][0] != SANITY_CLASS
    assert result["top1_probability"] < 0.05


def test_sanity_check_needs_an_imagenet_shaped_model() -> None:
    with pytest.raises(UsageError, match="3 input channels and 1000 classes"):
        imagenet_sanity_check(EfficientNetLite0(in_channels=1))
    with pytest.raises(UsageError, match="1000 classes"):
        imagenet_sanity_check(EfficientNetLite0(num_classes=4))


def test_corrupt_weights_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "lite0.pth"
    bad.write_bytes(b"PK\x03\x04 this is not a torch archive")
    with pytest.raises(CorruptFileError) as info:
        load_lite0_weights(EfficientNetLite0(), bad)
    assert info.value.path == str(bad)


def test_foreign_state_dict_is_rejected(tmp_path: Path) -> None:
    other = tmp_path / "other.pt"
    torch.save({"conv.weight": torch.zeros(2, 2)}, other)
    with pytest.raises(MissingDataError, match="_conv_stem.weight"):
        load_lite0_weights(EfficientNetLite0(), other)


def test_one_channel_stem_keeps_the_response_to_grey_images(imagenet_model) -> None:
    rgb_model, _ = imagenet_model
    grey_model = EfficientNetLite0(num_classes=1000, in_channels=1)
    report = load_lite0_weights(grey_model, rgb_model.state_dict())
    assert report.adapted == ["_conv_stem.weight"]
    assert grey_model._conv_stem.weight.shape == (32, 1, 3, 3)
    torch.manual_seed(1)
    grey = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        adapted = grey_model._conv_stem(grey)
        original = rgb_model._conv_stem(grey.repeat(1, 3, 1, 1))
    assert adapted.abs().max() > 0.1
    torch.testing.assert_close(adapted, original, rtol=1e-4, atol=1e-5)
    # The rest of the network is the ImageNet one.
    torch.testing.assert_close(grey_model._conv_head.weight, rgb_model._conv_head.weight)
