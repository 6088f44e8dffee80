"""Grad-CAM: localisation on toy models, agreement with a hand computation, frames, 3-D, hooks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from cardiolens.errors import UsageError
from cardiolens.explain.gradcam import grad_cam, normalise_cam, upsample_cam
from cardiolens.nn.cnn_lstm import NicmNet
from cardiolens.nn.vgg import last_conv, vgg16

torch.set_num_threads(1)


class Quadrants(nn.Module):
    """Logit 0 depends only on the top-left quadrant, logit 1 only on the rest.

    A fixed positional layer splits the image into channel 0 = top-left part
    and channel 1 = the rest; ``conv`` (the target, identity 1x1) keeps them;
    each logit sums one channel.
    """

    def __init__(self, size: int = 8, dims: int = 2) -> None:
        super().__init__()
        top_left = torch.zeros((size,) * dims)
        top_left[(slice(0, size // 2),) * dims] = 1.0
        self.register_buffer("mask", torch.stack([top_left, 1 - top_left]))
        conv = nn.Conv2d if dims == 2 else nn.Conv3d
        self.conv = conv(2, 2, 1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.eye(2).reshape(2, 2, *([1] * dims)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.conv(x * self.mask)  # x: (N, 1, ...) broadcast over the two masks
        return a.flatten(2).sum(-1)


def image(size: int = 8, dims: int = 2, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 0.5 + 0.5 * torch.rand((1, 1) + (size,) * dims, generator=g)


@pytest.mark.parametrize("dims", [2, 3])
def test_cam_peaks_where_the_class_logit_looks(dims: int) -> None:
    model = Quadrants(dims=dims).eval()
    x = image(dims=dims)
    cam0 = grad_cam(lambda: model(x), model.conv, 0)
    cam1 = grad_cam(lambda: model(x), model.conv, 1)
    assert cam0.shape == (1,) + (8,) * dims and cam0.dtype == np.float64
    quadrant = (0,) + (slice(0, 4),) * dims
    outside = cam0.copy()
    outside[quadrant] = 0
    assert cam0[quadrant].min() > 0.4 and outside.max() == 0  # only the top-left quadrant
    assert cam1[quadrant].max() == 0 and cam1.max() > 0.4
    # alpha_0 = 1 (gradient 1 everywhere on channel 0), alpha_1 = 0: the CAM is channel 0 itself.
    np.testing.assert_allclose(cam0[0], (x[0, 0] * model.mask[0]).numpy(), rtol=1e-6)


def test_matches_a_hand_computation_on_a_random_cnn() -> None:
    torch.manual_seed(0)
    body = nn.Sequential(nn.Conv2d(2, 6, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(6, 5, 3, padding=1))
    head = nn.Sequential(nn.ReLU(inplace=True), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(5 * 4 * 4, 3))
    model = nn.Sequential(body, head).eval()
    x = torch.randn(1, 2, 8, 8)
    cam = grad_cam(lambda: model(x), body[2], 2)
    a = body(x).detach().requires_grad_(True)
    (g,) = torch.autograd.grad(head(a.clone())[0, 2], a)
    expected = torch.relu((g.mean(dim=(2, 3), keepdim=True) * a).sum(1)).detach().numpy()
    np.testing.assert_allclose(cam, expected, rtol=1e-5, atol=1e-7)
    assert cam.max() > 0
    assert all(p.grad is None for p in model.parameters())  # autograd.grad: no .grad side effects


def test_frozen_model_under_no_grad_gives_the_same_map() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 2)).eval()
    x = torch.randn(1, 1, 6, 6)
    ref = grad_cam(lambda: model(x), model[0], 1)
    for p in model.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        frozen = grad_cam(lambda: model(x), model[0], 1)
    np.testing.assert_allclose(frozen, ref, rtol=1e-6)


def test_one_map_per_cine_frame_of_the_nicm_network() -> None:
    torch.manual_seed(0)
    net = NicmNet(3, "fused", n_series_channels=7, n_phases=10, width=4, feature_dim=8, lstm_hidden=4,
                  series_hidden=(8,), head_hidden=8).eval()
    frames, series = torch.randn(1, 4, 3, 32, 32), torch.randn(1, 7, 10)
    assert net.cine_encoder is not None
    layer = net.cine_encoder.frame_encoder.last_conv
    cam = grad_cam(lambda: net(frames, series), layer, 1)
    assert cam.shape == (4, 4, 4)  # T frames; 32 px after 3 of the 4 poolings
    assert np.all(np.isfinite(cam)) and np.all(cam >= 0)


def test_vgg_last_conv_with_inplace_free_relu() -> None:
    torch.manual_seed(0)
    model = vgg16(num_classes=2, in_channels=1, classifier_width=8).eval()
    cam = grad_cam(lambda: model(torch.randn(1, 1, 32, 32)), last_conv(model), 0)
    assert cam.shape == (1, 2, 2)


def test_hooks_are_removed_after_errors() -> None:
    model = Quadrants().eval()
    x = image()

    def failing() -> torch.Tensor:
        model(x)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        grad_cam(failing, model.conv, 0)
    assert not model.conv._forward_hooks
    with pytest.raises(UsageError, match=r"\(1, n_classes\)"):
        grad_cam(lambda: model(torch.cat([x, x])), model.conv, 0)
    assert not model.conv._forward_hooks
    with pytest.raises(UsageError, match="out of range"):
        grad_cam(lambda: model(x), model.conv, 5)
    with pytest.raises(UsageError, match="not used"):
        grad_cam(lambda: model(x), nn.Conv2d(1, 1, 1), 0)
    # After all that the model still runs without hooks, and Grad-CAM still works.
    assert grad_cam(lambda: model(x), model.conv, 0).max() > 0
    assert not model.conv._forward_hooks


def test_normalise_keeps_contrast_between_frames() -> None:
    cam = np.array([[[0.0, 2.0]], [[1.0, 4.0]]])
    norm = normalise_cam(cam)
    np.testing.assert_allclose(norm, cam / 4.0)
    assert norm[0].max() == 0.5  # not stretched per frame
    np.testing.assert_array_equal(normalise_cam(np.zeros((3, 2, 2))), np.zeros((3, 2, 2)))
    with pytest.raises(UsageError):
        normalise_cam(np.array([[[np.nan]]]))


def test_upsample_keeps_location_and_shape() -> None:
    cam = np.zeros((2, 2, 2))
    cam[0, 0, 0] = 1.0
    cam[1] = 0.3
    up = upsample_cam(cam, (8, 8))
    assert up.shape == (2, 8, 8)
    assert np.unravel_index(np.argmax(up[0]), (8, 8)) == (0, 0)
    assert up[0, :4, :4].mean() > 3 * up[0, 4:, 4:].mean()
    np.testing.assert_allclose(up[1], 0.3)  # a constant map stays constant
    up3 = upsample_cam(np.ones((1, 2, 3, 3)), (4, 6, 6))
    assert up3.shape == (1, 4, 6, 6)
    np.testing.assert_allclose(up3, 1.0)
    with pytest.raises(UsageError, match="cannot upsample"):
        upsample_cam(cam, (4, 4, 4))
