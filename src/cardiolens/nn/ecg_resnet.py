"""A small 1-D residual CNN for 12-lead ECGs with an optional tabular branch.

Architecture (a compact member of the 1-D ResNet family used for ECG deep
learning, e.g. Ribeiro et al., Nat Commun 2020, doi:10.1038/s41467-020-15432-4):

- stem: Conv1d(12 -> width, kernel 15, stride 2) + BatchNorm + ReLU;
- ``depth`` residual blocks, each two Conv1d(kernel 7) with BatchNorm, the first
  strided by 2 (downsampling); the shortcut is a strided 1x1 conv when the
  shape changes; the width doubles every second block;
- global average pooling over time;
- optional tabular branch: ``n_tabular`` standardised values (age, sex, BMI)
  followed by one missing-value mask per value (imputed values are 0 = the
  training mean), through a small MLP, concatenated to the pooled ECG features;
- two heads: ``mass`` (the standardised LV mass target, see
  :mod:`cardiolens.systems.ecg2lvm.model`) and ``lvh_logit`` (logit of LVH).

Input: (batch, 12, n_samples) voltages in mV. The model is kept small so a
10 s record at 100 Hz runs in a few ms on 2 CPU cores.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

N_LEADS = 12


class ResidualBlock1d(nn.Module):
    """Two convolutions with a (possibly strided, projected) identity shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, kernel_size: int = 7, dropout: float = 0.1) -> None:
        super().__init__()
        pad = kernel_size // 2
        self.conv1 = nn.Conv1d(in_channels, out_channels, kernel_size, stride=stride, padding=pad, bias=False)
        self.bn1 = nn.BatchNorm1d(out_channels)
        self.conv2 = nn.Conv1d(out_channels, out_channels, kernel_size, padding=pad, bias=False)
        self.bn2 = nn.BatchNorm1d(out_channels)
        self.dropout = nn.Dropout(dropout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv1d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm1d(out_channels)
            )

    def forward(self, x: Tensor) -> Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(self.dropout(y)))
        return torch.relu(y + self.shortcut(x))


class EcgResNet1d(nn.Module):
    """1-D ResNet over (batch, 12, samples) with LV-mass and LVH heads.

    Args:
        width: channels after the stem (doubled every second block).
        depth: number of residual blocks (each halves the time axis).
        n_tabular: tabular values (without masks); 0 disables the tabular branch.
        dropout: dropout inside the blocks and before the heads.

    ``forward(ecg, tabular=None)`` returns ``(mass, lvh_logit)``, each shape
    (batch,). ``tabular`` has shape (batch, 2 * n_tabular): values then masks.
    """

    def __init__(self, width: int = 32, depth: int = 4, n_tabular: int = 3, dropout: float = 0.1) -> None:
        super().__init__()
        if width < 1 or depth < 1:
            raise ValueError(f"width and depth must be >= 1, got {width}, {depth}")
        self.n_tabular = n_tabular
        self.stem = nn.Sequential(
            nn.Conv1d(N_LEADS, width, 15, stride=2, padding=7, bias=False), nn.BatchNorm1d(width), nn.ReLU()
        )
        blocks: list[nn.Module] = []
        channels = width
        for i in range(depth):
            out = width * 2 ** ((i + 1) // 2)
            blocks.append(ResidualBlock1d(channels, out, stride=2, dropout=dropout))
            channels = out
        self.blocks = nn.Sequential(*blocks)
        features = channels
        self.tabular: nn.Module | None = None
        if n_tabular > 0:
            self.tabular = nn.Sequential(nn.Linear(2 * n_tabular, 16), nn.ReLU())
            features += 16
        self.head_dropout = nn.Dropout(dropout)
        self.mass_head = nn.Linear(features, 1)
        self.lvh_head = nn.Linear(features, 1)

    def forward(self, ecg: Tensor, tabular: Tensor | None = None) -> tuple[Tensor, Tensor]:
        z = self.blocks(self.stem(ecg)).mean(dim=-1)  # global average pooling over time
        if self.tabular is not None:
            if tabular is None:
                raise ValueError("this model was built with a tabular branch: pass the tabular inputs")
            z = torch.cat([z, self.tabular(tabular)], dim=1)
        z = self.head_dropout(z)
        return self.mass_head(z).squeeze(-1), self.lvh_head(z).squeeze(-1)
