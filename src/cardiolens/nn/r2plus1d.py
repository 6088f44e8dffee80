"""R(2+1)D-18 video network with a configurable width (torchvision is not importable on CPU torch here).

The layout follows Tran et al., "A closer look at spatiotemporal convolutions
for action recognition", CVPR 2018: every 3x3x3 convolution is factorised into
a 1x3x3 spatial convolution, batch norm + ReLU, and a 3x1x1 temporal
convolution, with the intermediate width chosen so that the factorised pair
has about as many parameters as the full 3-D kernel. Blocks and strides are
those of ResNet-18 (2-2-2-2 basic blocks; layers 2-4 halve time and space).
``width`` scales every stage (the published network is ``width=64``:
64-128-256-512 channels); the echo model uses a narrower one so it trains on
a laptop CPU. Module names mirror torchvision's ``r2plus1d_18`` (``stem``,
``layer1``..``layer4``, ``fc``).
"""

from __future__ import annotations

import torch
from torch import nn

from cardiolens.errors import UsageError


def factorised_width(in_channels: int, out_channels: int, kernel_t: int = 3, kernel_s: int = 3) -> int:
    """Intermediate channels M of a (2+1)D pair matching a full t x d x d kernel's parameter count.

    M = floor(t d^2 N_in N_out / (d^2 N_in + t N_out)) (Tran et al. 2018, eq. 5).
    """
    return max(1, (kernel_t * kernel_s**2 * in_channels * out_channels) // (kernel_s**2 * in_channels + kernel_t * out_channels))


class Conv2Plus1D(nn.Sequential):
    """1x3x3 spatial conv -> BN -> ReLU -> 3x1x1 temporal conv (strides split between the two)."""

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int, stride: int = 1) -> None:
        super().__init__(
            nn.Conv3d(in_channels, mid_channels, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False),
            nn.BatchNorm3d(mid_channels),
            nn.ReLU(inplace=True),
            nn.Conv3d(mid_channels, out_channels, (3, 1, 1), stride=(stride, 1, 1), padding=(1, 0, 0), bias=False),
        )


class BasicBlock(nn.Module):
    """Two (2+1)D convolutions with a residual connection (projected when the shape changes)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        mid = factorised_width(in_channels, out_channels)
        self.conv1 = nn.Sequential(Conv2Plus1D(in_channels, out_channels, mid, stride), nn.BatchNorm3d(out_channels), nn.ReLU(inplace=True))
        # Both convolutions use the first one's intermediate width, as torchvision's r2plus1d_18 does.
        self.conv2 = nn.Sequential(Conv2Plus1D(out_channels, out_channels, mid), nn.BatchNorm3d(out_channels))
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv3d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm3d(out_channels)
            )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv2(self.conv1(x)) + identity)


class R2Plus1D18(nn.Module):
    """R(2+1)D-18 over (batch, channels, time, y, x) clips -> (batch, n_outputs) logits.

    Args:
        in_channels: 1 for greyscale echo.
        n_outputs: number of logits (one per label of a multi-label head).
        width: channels of the first stage (64 in the published network); the
            stages have width x (1, 2, 4, 8).
        dropout: dropout before the linear head (also used for Monte-Carlo
            dropout at inference).

    Time and space are each reduced 8x by the strided stages (plus 2x in
    space by the stem), then averaged, so any clip of at least 1 frame and
    16 x 16 pixels is accepted.
    """

    def __init__(self, in_channels: int = 1, n_outputs: int = 1, width: int = 64, dropout: float = 0.0) -> None:
        super().__init__()
        if width < 4 or in_channels < 1 or n_outputs < 1:
            raise UsageError(f"R2Plus1D18 needs width >= 4, in_channels >= 1, n_outputs >= 1; got {width}, {in_channels}, {n_outputs}")
        stem_mid = max(1, round(width * 45 / 64))  # 45 channels in the published stem
        self.stem = nn.Sequential(
            nn.Conv3d(in_channels, stem_mid, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
            nn.BatchNorm3d(stem_mid),
            nn.ReLU(inplace=True),
            nn.Conv3d(stem_mid, width, (3, 1, 1), padding=(1, 0, 0), bias=False),
            nn.BatchNorm3d(width),
            nn.ReLU(inplace=True),
        )
        widths = [width, 2 * width, 4 * width, 8 * width]
        stages, previous = [], width
        for index, channels in enumerate(widths):
            stride = 1 if index == 0 else 2
            stages.append(nn.Sequential(BasicBlock(previous, channels, stride), BasicBlock(channels, channels)))
            previous = channels
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(widths[-1], n_outputs)
        self.n_features = widths[-1]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's feature maps (batch, 8 width, t', y', x') (the Grad-CAM layer)."""
        return self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5:
            raise UsageError(f"R2Plus1D18 expects (batch, channels, time, y, x), got shape {tuple(x.shape)}")
        pooled = self.avgpool(self.features(x)).flatten(1)
        return self.fc(self.dropout(pooled))


class WithMotionChannel(nn.Module):
    """Feeds a video network the clip plus a motion channel: each frame minus the clip's temporal mean.

    The motion channel is scaled to unit SD per clip. Anatomy that does not
    move cancels in it, so moving walls and valves stand out and a segment
    that moves less is visible as a gap. On the simulated cohort this is what
    lets a small network learn wall motion from a few hundred clips (the
    plain single-channel network stayed near chance in the same time).
    Parameter-free, so it exports to ONNX with the backbone.

    Args:
        backbone: a network taking (batch, 2, time, y, x).
    """

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    @staticmethod
    def motion(x: torch.Tensor) -> torch.Tensor:
        """(batch, 1, t, y, x) -> the unit-SD deviation of each frame from the temporal mean, same shape."""
        deviation = x - x.mean(dim=2, keepdim=True)
        # Floor on the SD: a still clip's rounding noise must stay ~0, not be blown up to unit SD
        # (inputs are z-scored clips, so real motion has an SD of order 0.1-1).
        sd = deviation.flatten(1).std(dim=1).clamp_min(1e-3)
        return deviation / sd.view(-1, 1, 1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5 or x.shape[1] != 1:
            raise UsageError(f"WithMotionChannel expects (batch, 1, time, y, x), got shape {tuple(x.shape)}")
        return self.backbone(torch.cat([x, self.motion(x)], dim=1))


__all__ = ["BasicBlock", "Conv2Plus1D", "R2Plus1D18", "WithMotionChannel", "factorised_width"]
