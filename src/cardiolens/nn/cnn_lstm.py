"""The ``nicm`` dual-path network: a CNN-LSTM over cine frames and an MLP over IVPG curves, fused.

Paths (the design of the nicm study: a CNN-LSTM on LV-centred cine frames and
a dense network on intraventricular pressure-gradient time series, fused by
concatenation and classified by dense layers):

- cine: :class:`CineLSTMEncoder` — a small 2-D CNN (:class:`FrameEncoder`)
  encodes every frame of (B, T, C, H, W) on its own, an LSTM runs over the
  T frame features, and the LSTM outputs are averaged over time;
- series: :class:`SeriesMLP` — the IVPG curves (B, n_channels, n_phases),
  resampled to a fixed number of cardiac phases, flattened into an MLP;
- head: concatenated path features -> Linear-ReLU-Dropout-Linear -> logits.

:class:`NicmNet` always takes both inputs, so every mode exports to ONNX with
the same signature; the single-path modes (``"cine"``, ``"ivpg"``) are the
ablations and ignore the other input.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from cardiolens.errors import UsageError

NicmMode = Literal["fused", "cine", "ivpg"]
MODES: tuple[str, ...] = ("fused", "cine", "ivpg")


def _conv_bn_relu(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU()]


class FrameEncoder(nn.Module):
    """2-D CNN: (N, C, H, W) frames -> (N, feature_dim) features.

    ``n_blocks`` blocks of two conv3x3-BatchNorm-ReLU layers and a 2x2
    max-pool; the channel count starts at ``width`` and doubles every block;
    then global average pooling and a linear layer. H and W must be at least
    ``2 ** n_blocks`` pixels. ``last_conv`` is the last convolution (the
    Grad-CAM target: its maps are at 1 / 2 ** (n_blocks - 1) of the input size).
    """

    def __init__(self, in_channels: int, width: int = 16, feature_dim: int = 64, n_blocks: int = 4) -> None:
        super().__init__()
        if min(in_channels, width, feature_dim, n_blocks) < 1:
            raise UsageError(
                f"in_channels, width, feature_dim and n_blocks must be >= 1, got {in_channels}, {width}, {feature_dim}, {n_blocks}"
            )
        layers: list[nn.Module] = []
        channels = in_channels
        for i in range(n_blocks):
            out = width * 2**i
            layers += _conv_bn_relu(channels, out) + _conv_bn_relu(out, out) + [nn.MaxPool2d(2)]
            channels = out
        self.blocks = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, feature_dim)
        self.feature_dim = feature_dim
        self.last_conv: nn.Conv2d = [m for m in self.blocks if isinstance(m, nn.Conv2d)][-1]

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(torch.flatten(self.pool(self.blocks(x)), 1))


class CineLSTMEncoder(nn.Module):
    """(B, T, C, H, W) cine frames -> (B, out_dim): frame CNN, LSTM over time, mean over time.

    ``out_dim`` = ``hidden`` (x2 when bidirectional). The frame CNN sees all
    B*T frames as one batch, so Grad-CAM on ``frame_encoder.last_conv`` gives
    one map per frame (frame-major within each subject).
    """

    def __init__(
        self, in_channels: int, width: int = 16, feature_dim: int = 64, hidden: int = 32, bidirectional: bool = True
    ) -> None:
        super().__init__()
        if hidden < 1:
            raise UsageError(f"LSTM hidden size must be >= 1, got {hidden}")
        self.frame_encoder = FrameEncoder(in_channels, width=width, feature_dim=feature_dim)
        self.lstm = nn.LSTM(feature_dim, hidden, batch_first=True, bidirectional=bidirectional)
        self._out_dim = hidden * (2 if bidirectional else 1)

    @property
    def out_dim(self) -> int:
        """Width of the output features."""
        return self._out_dim

    def forward(self, frames: Tensor) -> Tensor:
        if frames.ndim != 5:
            raise UsageError(f"cine frames must be (batch, time, channels, y, x), got shape {tuple(frames.shape)}")
        b, t = frames.shape[0], frames.shape[1]
        features = self.frame_encoder(frames.flatten(0, 1))  # (B*T, F)
        sequence, _ = self.lstm(features.unflatten(0, (b, t)))  # (B, T, out_dim)
        return sequence.mean(dim=1)


class SeriesMLP(nn.Module):
    """(B, n_channels, n_phases) curves -> (B, hidden[-1]): flatten, then Linear-ReLU-Dropout layers."""

    def __init__(self, n_channels: int, n_phases: int, hidden: tuple[int, ...] = (64, 64), dropout: float = 0.2) -> None:
        super().__init__()
        if n_channels < 1 or n_phases < 1 or not hidden or min(hidden) < 1:
            raise UsageError(f"SeriesMLP needs n_channels, n_phases and hidden widths >= 1, got {n_channels}, {n_phases}, {hidden}")
        self.n_channels, self.n_phases = n_channels, n_phases
        layers: list[nn.Module] = [nn.Flatten(1)]
        width = n_channels * n_phases
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
            width = h
        self.mlp = nn.Sequential(*layers)
        self.out_dim = width

    def forward(self, series: Tensor) -> Tensor:
        if series.ndim != 3 or series.shape[1] != self.n_channels or series.shape[2] != self.n_phases:
            raise UsageError(
                f"series must be (batch, {self.n_channels}, {self.n_phases}), got shape {tuple(series.shape)}"
            )
        return self.mlp(series)


class NicmNet(nn.Module):
    """Cardiomyopathy classifier: CNN-LSTM (cine) + MLP (IVPG curves), fused; logits (B, n_classes).

    Args:
        n_classes: output classes.
        mode: ``"fused"`` (both paths), ``"cine"`` (CNN-LSTM only; ``series``
            is ignored) or ``"ivpg"`` (MLP only; ``frames`` is ignored).
        n_series_channels, n_phases: shape of one subject's curves (e.g. the
            total/inertial/convective/apical/mid/basal IVPG in mmHg at
            ``n_phases`` points of the cycle). Required, keyword-only.
        frame_channels: channels per cine frame (e.g. 3 adjacent slices, or 1).
        width, feature_dim: frame CNN width and output features.
        lstm_hidden: LSTM units per direction (bidirectional).
        series_hidden: MLP widths.
        head_hidden: hidden units of the dense head.
        dropout: dropout in the MLP and the head.

    ``forward(frames, series)``: frames (B, T, frame_channels, H, W), series
    (B, n_series_channels, n_phases). Both are always passed so that the three
    modes share one call (and ONNX) signature; the values of the ignored
    input are never read (in eager mode only its batch size matters) and it
    stays an input of an ONNX export, with the shape of the export example. ``cine_encoder`` is None in
    ``"ivpg"`` mode and ``series_encoder`` is None in ``"cine"`` mode.
    """

    def __init__(
        self,
        n_classes: int,
        mode: NicmMode = "fused",
        *,
        n_series_channels: int,
        n_phases: int,
        frame_channels: int = 3,
        width: int = 16,
        feature_dim: int = 64,
        lstm_hidden: int = 32,
        series_hidden: tuple[int, ...] = (64, 64),
        head_hidden: int = 64,
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        if mode not in MODES:
            raise UsageError(f"NicmNet mode must be one of {MODES}, got {mode!r}")
        if n_classes < 1 or head_hidden < 1:
            raise UsageError(f"n_classes and head_hidden must be >= 1, got {n_classes}, {head_hidden}")
        self.mode = mode
        self.n_classes = n_classes
        self.cine_encoder: CineLSTMEncoder | None = None
        self.series_encoder: SeriesMLP | None = None
        fused_dim = 0
        if mode in ("fused", "cine"):
            self.cine_encoder = CineLSTMEncoder(frame_channels, width=width, feature_dim=feature_dim, hidden=lstm_hidden)
            fused_dim += self.cine_encoder.out_dim
        if mode in ("fused", "ivpg"):
            self.series_encoder = SeriesMLP(n_series_channels, n_phases, hidden=series_hidden, dropout=dropout)
            fused_dim += self.series_encoder.out_dim
        self.head = nn.Sequential(
            nn.Linear(fused_dim, head_hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(head_hidden, n_classes)
        )

    def embed(self, frames: Tensor, series: Tensor) -> Tensor:
        """The concatenated path features fed to the head, (B, fused_dim)."""
        parts = []
        if self.cine_encoder is not None:
            parts.append(self.cine_encoder(frames))
        if self.series_encoder is not None:
            parts.append(self.series_encoder(series))
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)

    def forward(self, frames: Tensor, series: Tensor) -> Tensor:
        logits = self.head(self.embed(frames, series))
        if self.mode != "fused":
            # Tie the ignored input to the output through its batch size only (exact zeros, even
            # for NaN input) so an ONNX export keeps it as a graph input: one signature for all modes.
            ignored = series if self.mode == "cine" else frames
            logits = logits + ignored.new_zeros(ignored.shape[0], 1)
        return logits
