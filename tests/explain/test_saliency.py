"""Input-gradient saliency, SmoothGrad, temporal profiles and frame occlusion on toy models."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from cardiolens.errors import UsageError
from cardiolens.explain.gradcam import grad_cam, normalise_cam
from cardiolens.explain.saliency import (
    input_gradient,
    occlusion_profile,
    temporal_profile,
)
from cardiolens.nn.cnn_lstm import NicmNet

torch.set_num_threads(1)

T, KEY_FRAME = 6, 2


class TopLeft(nn.Module):
    """Logit 0 = weighted sum of the top-left quadrant (through a fixed 3x3 conv), logit 1 = 0."""

    def __init__(self, size: int = 8, nonlinear: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1, bias=False)
        with torch.no_grad():
            self.conv.weight.fill_(1.0 / 9)
        mask = torch.zeros(size, size)
        mask[: size // 2, : size // 2] = 1.0
        self.register_buffer("mask", mask)
        self.nonlinear = nonlinear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.conv(x)[:, 0]
        if self.nonlinear:
            a = a**2
        logit = (a * self.mask).sum(dim=(1, 2))
        return torch.stack([logit, torch.zeros_like(logit)], dim=1)


class OneFrameMatters(nn.Module):
    """CNN-LSTM-like toy on (1, T, 1, H, W): a per-frame CNN, but the logit reads only frame KEY_FRAME."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, padding=1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.rand(3, 1, 3, 3, generator=torch.Generator().manual_seed(0)) + 0.1)
            self.conv.bias.zero_()
        readout = torch.zeros(T)
        readout[KEY_FRAME] = 1.0
        self.register_buffer("readout", readout)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        b, t = frames.shape[:2]
        features = torch.relu(self.conv(frames.flatten(0, 1))).mean(dim=(2, 3)).unflatten(0, (b, t))  # (B, T, 3)
        logit = 0.1 * (features.sum(-1) * self.readout).sum(-1)  # small: keep softmax off saturation
        return torch.stack([logit, -logit], dim=1)


def cine(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    frames = 0.5 + 0.2 * torch.rand(1, T, 1, 8, 8, generator=g)
    frames[:, KEY_FRAME] += 0.5  # the key frame is brighter than the clip's mean frame
    return frames


def test_input_gradient_is_nonzero_only_where_the_logit_looks() -> None:
    model = TopLeft().eval()
    x = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    before = x.clone()
    sal = input_gradient(model, x, 0)
    assert sal.shape == (1, 1, 8, 8) and sal.dtype == np.float64
    assert torch.equal(x, before) and x.grad is None
    # The 3x3 conv spreads the quadrant by one pixel: rows/cols 0-4 can matter, 5-7 cannot.
    assert sal[0, 0, :4, :4].min() > 0
    assert sal[0, 0, 5:, :].max() == 0 and sal[0, 0, :, 5:].max() == 0
    assert np.unravel_index(np.argmax(sal[0, 0]), (8, 8))[0] < 4
    np.testing.assert_allclose(input_gradient(model, x, 1), 0.0)  # the constant class has no saliency


def test_smoothgrad_is_seeded_and_averages_noisy_gradients() -> None:
    x = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    linear = TopLeft().eval()
    # A linear model has the same gradient everywhere, so SmoothGrad equals the vanilla gradient.
    np.testing.assert_allclose(input_gradient(linear, x, 0, smooth_samples=4), input_gradient(linear, x, 0), rtol=1e-6)
    square = TopLeft(nonlinear=True).eval()
    a = input_gradient(square, x, 0, smooth_samples=8, noise_std=0.3, seed=1)
    b = input_gradient(square, x, 0, smooth_samples=8, noise_std=0.3, seed=1)
    c = input_gradient(square, x, 0, smooth_samples=8, noise_std=0.3, seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert not np.allclose(a, input_gradient(square, x, 0))
    assert a[0, 0, 5:, 5:].max() == 0  # noise does not move the region the logit reads
    with pytest.raises(UsageError):
        input_gradient(square, x, 0, smooth_samples=-1)


def test_series_saliency_of_the_nicm_network() -> None:
    torch.manual_seed(0)
    net = NicmNet(3, "ivpg", n_series_channels=7, n_phases=10, series_hidden=(8,), head_hidden=8).eval()
    frames, series = torch.zeros(1, 2, 3, 32, 32), torch.randn(1, 7, 10)
    sal = input_gradient(lambda s: net(frames, s), series, 1)
    assert sal.shape == (1, 7, 10) and sal.max() > 0


def test_temporal_profile_definition() -> None:
    cams = np.array([[[1.0, 1.0]], [[2.0, 0.0]], [[0.0, 4.0]]])
    np.testing.assert_allclose(temporal_profile(cams), [0.25, 0.25, 0.5])
    np.testing.assert_allclose(temporal_profile(normalise_cam(cams)), [0.25, 0.25, 0.5])  # joint scaling cancels
    np.testing.assert_allclose(temporal_profile(np.zeros((4, 3, 3))), 0.25)
    with pytest.raises(UsageError, match=">= 0"):
        temporal_profile(-cams)
    with pytest.raises(UsageError, match="per-frame"):
        temporal_profile(np.ones(3))


def test_temporal_profile_picks_the_frame_that_carries_the_signal() -> None:
    model = OneFrameMatters().eval()
    frames = cine()
    cams = grad_cam(lambda: model(frames), model.conv, 0)
    assert cams.shape == (T, 8, 8)
    profile = temporal_profile(cams)
    assert profile.shape == (T,)
    assert profile.sum() == pytest.approx(1.0)
    assert int(np.argmax(profile)) == KEY_FRAME
    assert profile[KEY_FRAME] == pytest.approx(1.0)  # the other frames get no gradient


def test_occlusion_profile_is_largest_at_the_key_frame() -> None:
    model = OneFrameMatters().eval()
    frames = cine()
    drops = occlusion_profile(model, frames, 0)
    assert drops.shape == (T,)
    assert int(np.argmax(drops)) == KEY_FRAME and drops[KEY_FRAME] > 0.05
    np.testing.assert_allclose(np.delete(drops, KEY_FRAME), 0.0, atol=1e-12)
    # The other class gains what class 0 loses.
    np.testing.assert_allclose(occlusion_profile(model, frames, 1), -drops, atol=1e-12)
    zero = occlusion_profile(model, frames, 0, baseline="zero")
    assert int(np.argmax(zero)) == KEY_FRAME
    # Time on another axis: (T, 1, H, W) frames with a wrapper that adds the batch axis.
    moved = occlusion_profile(lambda f: model(f[None]), frames[0], 0, time_axis=0)
    np.testing.assert_allclose(moved, drops, atol=1e-12)
    with pytest.raises(UsageError, match="baseline"):
        occlusion_profile(model, frames, 0, baseline="blur")  # type: ignore[arg-type]
