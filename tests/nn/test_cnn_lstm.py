"""nicm dual-path network: shapes, ignored inputs, gradient flow and ONNX export."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from cardiolens.errors import UsageError
from cardiolens.nn.cnn_lstm import CineLSTMEncoder, FrameEncoder, NicmNet, SeriesMLP

torch.set_num_threads(1)

B, T, C, H, W = 2, 4, 3, 32, 32
N_SERIES, N_PHASES = 7, 10
TINY = {"width": 4, "feature_dim": 8, "lstm_hidden": 4, "series_hidden": (8,), "head_hidden": 8}


def net(mode: str, n_classes: int = 3) -> NicmNet:
    torch.manual_seed(0)
    return NicmNet(n_classes, mode, n_series_channels=N_SERIES, n_phases=N_PHASES, **TINY).eval()  # type: ignore[arg-type]


def inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, T, C, H, W, generator=g), torch.randn(B, N_SERIES, N_PHASES, generator=g)


def test_encoders_shapes() -> None:
    enc = FrameEncoder(C, width=4, feature_dim=8, n_blocks=3)
    assert enc(torch.randn(5, C, H, W)).shape == (5, 8)
    assert enc.last_conv is [m for m in enc.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    assert enc.last_conv.out_channels == 16  # width doubles per block: 4, 8, 16
    cine = CineLSTMEncoder(C, width=4, feature_dim=8, hidden=5)
    assert cine.out_dim == 10
    assert cine(torch.randn(B, T, C, H, W)).shape == (B, 10)
    assert CineLSTMEncoder(C, width=4, feature_dim=8, hidden=5, bidirectional=False).out_dim == 5
    mlp = SeriesMLP(N_SERIES, N_PHASES, hidden=(16, 6))
    assert mlp(torch.randn(B, N_SERIES, N_PHASES)).shape == (B, 6)
    with pytest.raises(UsageError, match=r"\(batch, 7, 10\)"):
        mlp(torch.randn(B, N_SERIES, N_PHASES + 1))
    with pytest.raises(UsageError, match="batch, time"):
        cine(torch.randn(B, C, H, W))


def test_cine_encoder_sees_frame_order() -> None:
    # The LSTM makes the clip encoding depend on the order of the frames (a mean of frame features would not).
    torch.manual_seed(0)
    cine = CineLSTMEncoder(C, width=4, feature_dim=8, hidden=4).eval()
    frames, _ = inputs()
    with torch.no_grad():
        assert not torch.allclose(cine(frames), cine(frames.flip(1)), atol=1e-6)


@pytest.mark.parametrize("mode", ["fused", "cine", "ivpg"])
def test_output_shape_and_paths(mode: str) -> None:
    model = net(mode, n_classes=5)
    frames, series = inputs()
    with torch.no_grad():
        assert model(frames, series).shape == (B, 5)
    assert (model.cine_encoder is None) == (mode == "ivpg")
    assert (model.series_encoder is None) == (mode == "cine")


@pytest.mark.parametrize(("mode", "ignored"), [("cine", "series"), ("ivpg", "frames")])
def test_single_path_modes_ignore_the_other_input(mode: str, ignored: str) -> None:
    model = net(mode)
    frames, series = inputs(0)
    other_frames, other_series = inputs(1)
    with torch.no_grad():
        ref = model(frames, series)
        if ignored == "series":
            assert torch.equal(model(frames, other_series), ref)
            assert torch.equal(model(frames, torch.full_like(series, float("nan"))), ref)
            assert not torch.allclose(model(other_frames, series), ref)
        else:
            assert torch.equal(model(other_frames, series), ref)
            assert torch.equal(model(torch.full_like(frames, float("nan")), series), ref)
            assert not torch.allclose(model(frames, other_series), ref)


def test_fused_mode_uses_both_inputs_and_gradients_reach_both_paths() -> None:
    model = net("fused")
    frames, series = inputs(0)
    other_frames, other_series = inputs(1)
    with torch.no_grad():
        ref = model(frames, series)
        assert not torch.allclose(model(other_frames, series), ref)
        assert not torch.allclose(model(frames, other_series), ref)
    model.train()
    model(frames, series).sum().backward()
    assert model.cine_encoder is not None and model.series_encoder is not None
    for name, module in (("cnn", model.cine_encoder.frame_encoder), ("lstm", model.cine_encoder.lstm), ("mlp", model.series_encoder)):
        grads = [p.grad for p in module.parameters()]
        assert all(g is not None for g in grads), name
        assert sum(float(g.abs().sum()) for g in grads) > 0, name


def test_bad_mode() -> None:
    with pytest.raises(UsageError, match="mode"):
        NicmNet(3, "both", n_series_channels=N_SERIES, n_phases=N_PHASES)  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["fused", "ivpg"])
def test_onnx_export_with_dynamic_batch_matches_eager(tmp_path: Path, mode: str) -> None:
    ort = pytest.importorskip("onnxruntime")
    model = net(mode)
    frames, series = inputs()
    path = tmp_path / "nicm.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            model, (frames[:1], series[:1]), str(path), dynamo=False, input_names=["frames", "series"],
            output_names=["logits"], dynamic_axes={"frames": {0: "batch"}, "series": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=17,
        )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["frames", "series"]  # same signature in every mode
    (onnx_out,) = session.run(["logits"], {"frames": frames.numpy(), "series": series.numpy()})  # batch 2, exported with 1
    with torch.no_grad():
        eager = model(frames, series).numpy()
    assert onnx_out.shape == (B, 3)
    np.testing.assert_allclose(onnx_out, eager, atol=1e-4)
