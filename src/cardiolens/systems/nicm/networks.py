"""Networks of the deep ``nicm`` variants and one calling convention for all of them.

Every network is called as ``network(frames, series, ed_es)`` through
:class:`VariantNetwork`, so training, evaluation, ONNX export and
explanation share one code path whatever the variant reads.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from cardiolens.systems.nicm.config import NicmConfig


class VariantNetwork(nn.Module):
    """Wraps a variant's network: ``forward(frames, series, ed_es) -> logits``.

    ``inner`` is the NicmNet (fused / cine / ivpg: reads frames and series) or
    the image CNN (resnet50 / vgg16: reads the 3-channel ED/ES crop).
    """

    def __init__(self, variant: str, inner: nn.Module) -> None:
        super().__init__()
        self.variant = variant
        self.inner = inner

    @property
    def reads_image(self) -> bool:
        return self.variant in ("resnet50", "vgg16")

    def forward(self, frames: torch.Tensor, series: torch.Tensor, ed_es: torch.Tensor) -> torch.Tensor:
        if self.reads_image:
            return self.inner(ed_es)
        return self.inner(frames, series)


def build_network(config: NicmConfig, n_classes: int, n_series_channels: int, frame_channels: int) -> VariantNetwork:
    """The network of ``config.variant`` (deep variants only)."""
    if config.variant in ("fused", "cine", "ivpg"):
        from cardiolens.nn.cnn_lstm import NicmNet

        inner: nn.Module = NicmNet(
            n_classes, config.variant, n_series_channels=n_series_channels, n_phases=config.n_phases,  # type: ignore[arg-type]
            frame_channels=frame_channels, width=config.width, feature_dim=config.feature_dim, lstm_hidden=config.lstm_hidden,
            series_hidden=config.series_hidden, head_hidden=config.head_hidden, dropout=config.dropout,
        )
    elif config.variant == "resnet50":
        from monai.networks.nets import resnet50

        # From scratch (no offline weights for MONAI ResNets); stride-2 stem is ~4x faster on CPU.
        inner = resnet50(spatial_dims=2, n_input_channels=3, num_classes=n_classes, pretrained=False, conv1_t_stride=2)
    elif config.variant == "vgg16":
        from cardiolens.nn.vgg import vgg16

        inner = vgg16(num_classes=n_classes, in_channels=3, classifier_width=config.vgg_classifier_width, dropout=config.dropout, batch_norm=True)
    else:
        raise ValueError(f"{config.variant!r} is not a deep variant")
    return VariantNetwork(config.variant, inner)


def grad_cam_layer(network: VariantNetwork) -> nn.Module:
    """The convolution whose activations Grad-CAM explains for this variant."""
    inner: Any = network.inner
    if network.variant in ("fused", "cine"):
        return inner.cine_encoder.frame_encoder.last_conv
    if network.variant == "vgg16":
        from cardiolens.nn.vgg import last_conv

        return last_conv(inner)
    if network.variant == "resnet50":
        return inner.layer4
    raise ValueError(f"variant {network.variant!r} has no image path to explain")
