"""VGG16 / VGG19 (Simonyan & Zisserman, ICLR 2015, arXiv:1409.1556) with torchvision's parameter names.

torchvision cannot be imported next to the CPU build of torch used here, so the
network is written in-house; its modules are laid out exactly as torchvision's
``vgg16``/``vgg19`` (and the ``_bn`` variants) so that a user-supplied ImageNet
state dict (``features.0.weight`` ... ``classifier.6.bias``) loads unchanged:

- ``features``: 3x3 convolutions (padding 1), each followed by ReLU (or
  BatchNorm + ReLU), with 2x2 max-pooling after each stage;
- ``avgpool``: adaptive average pooling to 7 x 7;
- ``classifier``: Linear(512*7*7, width) ReLU Dropout Linear(width, width)
  ReLU Dropout Linear(width, num_classes), at torchvision's indices 0-6.

ReLUs are not in-place (unlike torchvision): the parameter names are the same,
and hooks used by Grad-CAM on a convolution's output then see the values before
the ReLU instead of a tensor overwritten in place.

Pretrained ImageNet weights expect RGB inputs scaled to [0, 1] and normalised
with :data:`IMAGENET_MEAN` / :data:`IMAGENET_STD`. Nothing is ever downloaded:
:func:`load_torchvision_state_dict` reads a local file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

import torch
from torch import Tensor, nn

from cardiolens.errors import MissingDataError, UsageError
from cardiolens.nn.weights import LoadReport, load_by_name, read_state_dict

#: Per-channel (R, G, B) mean and standard deviation of ImageNet images scaled to [0, 1].
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: Output channels of each convolution, "M" = 2x2 max-pool (torchvision's configurations "D" and "E").
_CONFIGS: dict[int, tuple[int | str, ...]] = {
    16: (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    19: (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"),
}
_FIRST_CONV = "features.0.weight"


def _make_features(config: tuple[int | str, ...], in_channels: int, batch_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    channels = in_channels
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        assert isinstance(item, int)
        layers.append(nn.Conv2d(channels, item, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(item))
        layers.append(nn.ReLU())
        channels = item
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """VGG16 or VGG19 for (N, in_channels, H, W) images; returns logits (N, num_classes).

    Args:
        depth: 16 or 19 weight layers.
        num_classes: output logits.
        in_channels: image channels (3 for ImageNet weights; 1 for greyscale CMR).
        classifier_width: width of the two hidden dense layers (4096 as in
            torchvision; smaller for small data sets or CPU training, in which
            case the ImageNet classifier weights are skipped when loading).
        dropout: dropout probability in the classifier.
        batch_norm: the ``vgg16_bn`` / ``vgg19_bn`` variant.

    Inputs of any size >= 32 x 32 work (five 2x2 poolings, then adaptive pooling to 7 x 7).
    Initialisation follows torchvision: Kaiming-normal (fan-out) convolutions,
    N(0, 0.01) dense layers, zero biases.
    """

    def __init__(
        self,
        depth: Literal[16, 19],
        num_classes: int = 1000,
        in_channels: int = 3,
        classifier_width: int = 4096,
        dropout: float = 0.5,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        if depth not in _CONFIGS:
            raise UsageError(f"VGG depth must be 16 or 19, got {depth}")
        if num_classes < 1 or in_channels < 1 or classifier_width < 1:
            raise UsageError(
                f"num_classes, in_channels and classifier_width must be >= 1, got {num_classes}, {in_channels}, {classifier_width}"
            )
        self.depth = depth
        self.in_channels = in_channels
        self.features = _make_features(_CONFIGS[depth], in_channels, batch_norm)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, classifier_width),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(classifier_width, classifier_width),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(classifier_width, num_classes),
        )
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0.0, 0.01)
                nn.init.zeros_(module.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def vgg16(**kwargs: object) -> VGG:
    """VGG16 (13 convolutions + 3 dense layers); keyword arguments as :class:`VGG`."""
    return VGG(16, **kwargs)  # type: ignore[arg-type]


def vgg19(**kwargs: object) -> VGG:
    """VGG19 (16 convolutions + 3 dense layers); keyword arguments as :class:`VGG`."""
    return VGG(19, **kwargs)  # type: ignore[arg-type]


def last_conv(model: VGG) -> nn.Conv2d:
    """The last convolution of ``model.features``: the usual Grad-CAM target layer."""
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    if not convs:
        raise UsageError("model has no convolution in .features")
    return convs[-1]


def feature_layer_names(model: VGG) -> list[str]:
    """Names (``features.N``) of the convolutions, in order: targets for feature-map visualisation."""
    return [f"features.{i}" for i, m in enumerate(model.features) if isinstance(m, nn.Conv2d)]


def load_torchvision_state_dict(
    model: VGG, path_or_state_dict: str | os.PathLike[str] | Mapping[str, Tensor]
) -> LoadReport:
    """Load torchvision-format VGG weights (e.g. a local ImageNet ``vgg16-*.pth``) into ``model``.

    Keys are matched by name. A key whose shape differs (another class count
    in ``classifier.6``, a smaller ``classifier_width``, the BN variant vs the
    plain one) is skipped and reported, never silently dropped. When the model
    has ``in_channels != 3`` the first convolution's RGB weights (64, 3, 3, 3)
    are averaged over the colour axis and repeated over the input channels
    (scaled by 3 / in_channels, the usual practice, e.g. timm's
    ``adapt_input_conv``); the key is reported in ``adapted``.

    Files are read with ``torch.load(weights_only=True)`` (no arbitrary code);
    nested ``{"state_dict": ...}`` checkpoints and ``module.`` prefixes are
    accepted. Never downloads anything.

    Raises:
        MissingDataError / EmptyFileError: missing or 0-byte file; content that
            is not a state dict or holds no VGG keys.
        CorruptFileError: a file torch cannot read.
    """
    name, source = read_state_dict(path_or_state_dict)
    if not any(k.startswith(("features.", "classifier.")) for k in source):
        raise MissingDataError(name, "no VGG parameters (features.N.* / classifier.N.*) in the state dict")
    return load_by_name(model, source, name=name, what=f"this VGG{model.depth}", first_conv=_FIRST_CONV)
