"""Channel-mean activation maps of named layers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from cardiolens.errors import UsageError
from cardiolens.explain.activations import activation_maps

torch.set_num_threads(1)


def small_cnn() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(6, 3),
    )


def test_shapes_range_and_hooks_removed() -> None:
    model = small_cnn().train()
    layers = {"block1": model[2], "block2": model[5]}
    bn = model[1]
    running_mean = bn.running_mean.clone()
    x = torch.randn(1, 2, 20, 24)
    maps = activation_maps(model, layers, x)
    assert list(maps) == ["block1", "block2"]
    for name, value in maps.items():
        assert value.shape == (20, 24) and value.dtype == np.float64, name
        assert value.min() == pytest.approx(0.0) and value.max() == pytest.approx(1.0)
    # Every hook is gone, the mode is restored and BatchNorm was not updated (eval mode inside).
    assert all(not m._forward_hooks for m in model.modules())
    assert model.training and torch.equal(bn.running_mean, running_mean)


def test_map_is_the_upsampled_channel_mean() -> None:
    model = small_cnn().eval()
    x = torch.randn(1, 2, 16, 16)
    with torch.no_grad():
        inner = model[:6](x)  # (1, 6, 8, 8) after the second ReLU
    mean = inner.mean(dim=1, keepdim=True)
    expected = torch.nn.functional.interpolate(mean, size=(16, 16), mode="bilinear", align_corners=False)[0, 0].double().numpy()
    expected = (expected - expected.min()) / (expected.max() - expected.min())
    np.testing.assert_allclose(activation_maps(model, {"deep": model[5]}, x)["deep"], expected, atol=1e-6)


def test_constant_activation_gives_zeros() -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 1), nn.Flatten())
    with torch.no_grad():
        model[0].weight.zero_()
        model[0].bias.fill_(0.5)
    maps = activation_maps(model, {"conv": model[0]}, torch.randn(1, 1, 8, 8))
    assert np.array_equal(maps["conv"], np.zeros((8, 8)))


def test_errors_leave_no_hooks() -> None:
    model = small_cnn()
    with pytest.raises(UsageError, match=r"\(1, C, H, W\)"):
        activation_maps(model, {"a": model[0]}, torch.randn(2, 2, 8, 8))
    with pytest.raises(UsageError, match="feature maps"):
        activation_maps(model, {"flat": model[7]}, torch.randn(1, 2, 8, 8))
    unused = nn.Conv2d(2, 2, 1)
    with pytest.raises(UsageError, match="not used"):
        activation_maps(model, {"unused": unused}, torch.randn(1, 2, 8, 8))
    assert all(not m._forward_hooks for m in [*model.modules(), unused])
    with pytest.raises(UsageError, match="no layers"):
        activation_maps(model, {}, torch.randn(1, 2, 8, 8))
