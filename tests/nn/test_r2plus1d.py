"""R(2+1)D-18: output shapes, the factorised width of Tran et al. 2018, width scaling and gradient flow."""

from __future__ import annotations

import pytest
import torch

from cardiolens.errors import UsageError
from cardiolens.nn.r2plus1d import Conv2Plus1D, R2Plus1D18, factorised_width

torch.set_num_threads(1)


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(("t", "s"), [(8, 32), (5, 17), (1, 16), (9, 33), (16, 24)])
def test_output_shape_for_odd_and_even_clip_sizes(t: int, s: int) -> None:
    torch.manual_seed(0)
    net = R2Plus1D18(in_channels=1, n_outputs=5, width=4).eval()
    with torch.no_grad():
        out = net(torch.randn(2, 1, t, s, s))
    assert out.shape == (2, 5)
    assert torch.isfinite(out).all()


def test_features_are_the_last_stage_at_eight_times_the_width() -> None:
    net = R2Plus1D18(in_channels=1, n_outputs=3, width=4).eval()
    with torch.no_grad():
        feats = net.features(torch.randn(1, 1, 8, 32, 32))
    # stem halves space; layers 2-4 halve time and space: 8 frames -> 1, 32 px -> 2
    assert feats.shape == (1, 32, 1, 2, 2)
    assert net.n_features == 32


def test_factorised_width_matches_the_papers_example_and_parameter_budget() -> None:
    assert factorised_width(64, 64) == 144  # Tran et al. 2018: M = 144 for N_in = N_out = 64
    pair = Conv2Plus1D(64, 64, factorised_width(64, 64))
    convs = [m for m in pair.modules() if isinstance(m, torch.nn.Conv3d)]
    factorised = sum(c.weight.numel() for c in convs)
    assert factorised == 3 * 3 * 3 * 64 * 64  # exactly the full 3x3x3 kernel's count here
    assert factorised_width(1, 45) >= 1 and factorised_width(3, 64) == (27 * 3 * 64) // (9 * 3 + 3 * 64)


def test_parameter_count_scales_about_four_fold_with_double_width() -> None:
    with torch.device("meta"):  # no memory for the full-width network
        wide, narrow = R2Plus1D18(width=64), R2Plus1D18(width=32)
    ratio = n_params(wide) / n_params(narrow)
    assert 3.6 < ratio < 4.1
    with torch.device("meta"):
        published = R2Plus1D18(in_channels=3, n_outputs=400, width=64)
    assert n_params(published) == 31_505_325  # torchvision's r2plus1d_18 (Kinetics-400 head)


def test_gradient_reaches_the_stem() -> None:
    torch.manual_seed(0)
    net = R2Plus1D18(in_channels=1, n_outputs=2, width=4)
    net(torch.randn(2, 1, 4, 16, 16)).sum().backward()
    stem_grad = net.stem[0].weight.grad
    assert stem_grad is not None and float(stem_grad.abs().sum()) > 0


def test_bad_shapes_and_widths_are_usage_errors() -> None:
    net = R2Plus1D18(width=4)
    with pytest.raises(UsageError, match="batch, channels, time"):
        net(torch.randn(1, 8, 32, 32))
    with pytest.raises(UsageError, match="width"):
        R2Plus1D18(width=2)


def test_motion_channel_cancels_static_content_and_keeps_motion() -> None:
    from cardiolens.nn.r2plus1d import WithMotionChannel

    static = torch.rand(1, 1, 1, 8, 8).expand(2, 1, 6, 8, 8).clone()
    assert WithMotionChannel.motion(static).abs().max() < 1e-3
    moving = static.clone()
    moving[1, 0, 3:, 2:4, 2:4] += 1.0  # a "wall" that moves in the second half of clip 1
    motion = WithMotionChannel.motion(moving)
    assert motion[0].abs().max() < 1e-3
    assert motion[1].std() == pytest.approx(1.0, rel=1e-4)
    assert motion[1, 0, :, 2:4, 2:4].abs().min() > 0 and motion[1, 0, :, 5:, 5:].abs().max() < 1e-5
    seen: list[torch.Tensor] = []
    backbone = R2Plus1D18(in_channels=2, n_outputs=3, width=4)
    backbone.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    out = WithMotionChannel(backbone)(moving)
    assert out.shape == (2, 3) and seen[0].shape == (2, 2, 6, 8, 8)
    assert torch.equal(seen[0][:, :1], moving)
