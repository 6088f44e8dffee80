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
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor, nn

from cardiolens.errors import CorruptFileError, MissingDataError, UsageError
from cardiolens.io.files import require_file

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


@dataclass
class LoadReport:
    """What :func:`load_torchvision_state_dict` did with each parameter.

    Attributes:
        loaded: model keys filled from the source.
        adapted: keys loaded after a documented change (the first convolution
            for ``in_channels != 3``); also listed in ``loaded``.
        skipped: model key -> reason, e.g. ``"shape (1000, 4096) vs (5, 64)"``
            (source shape vs model shape); these keep their initial values.
        missing: model keys absent from the source (keep their initial values).
        unexpected: source keys the model does not have (ignored).
    """

    loaded: list[str] = field(default_factory=list)
    adapted: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for logs."""
        parts = [f"{len(self.loaded)} loaded"]
        if self.adapted:
            parts.append(f"{len(self.adapted)} adapted ({', '.join(self.adapted)})")
        if self.skipped:
            parts.append("skipped: " + "; ".join(f"{k} {v}" for k, v in self.skipped.items()))
        if self.missing:
            parts.append(f"{len(self.missing)} missing")
        if self.unexpected:
            parts.append(f"{len(self.unexpected)} unexpected")
        return ", ".join(parts)


def _read_state_dict(source: str | os.PathLike[str] | Mapping[str, Tensor]) -> tuple[str, dict[str, Tensor]]:
    if isinstance(source, Mapping):
        name, obj = "<state dict>", source
    else:
        path = require_file(source)
        name = str(path)
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises several types for foreign or damaged files
            raise CorruptFileError(path, f"not a PyTorch file loadable with weights_only=True ({type(exc).__name__}: {exc})") from exc
    # Training checkpoints often nest the weights (Lightning: "state_dict").
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(k, str) and isinstance(v, Tensor) for k, v in obj.items()):
        raise MissingDataError(name, f"not a state dict (a mapping of parameter names to tensors); found {type(obj).__name__}")
    # nn.DataParallel prefixes every key with "module.".
    state = {k.removeprefix("module."): v for k, v in obj.items()}
    if not any(k.startswith(("features.", "classifier.")) for k in state):
        raise MissingDataError(name, "no VGG parameters (features.N.* / classifier.N.*) in the state dict")
    return name, state


def _adapt_first_conv(weight: Tensor, in_channels: int) -> Tensor:
    # Average the RGB filters and spread them over the new channels, scaled by 3 / in_channels
    # so a grey image copied to every channel gives the same response as the grey RGB image did.
    mean = weight.mean(dim=1, keepdim=True)
    return mean.repeat(1, in_channels, 1, 1) * (3.0 / in_channels)


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
    name, source = _read_state_dict(path_or_state_dict)
    target = model.state_dict()
    report = LoadReport()
    to_load: dict[str, Tensor] = {}
    for key, current in target.items():
        if key not in source:
            report.missing.append(key)
            continue
        value = source[key]
        if key == _FIRST_CONV and value.ndim == 4 and value.shape[1] == 3 and current.shape[1] != 3:
            value = _adapt_first_conv(value, current.shape[1])
            report.adapted.append(key)
        if tuple(value.shape) != tuple(current.shape):
            report.skipped[key] = f"shape {tuple(value.shape)} vs {tuple(current.shape)}"
            if key in report.adapted:
                report.adapted.remove(key)
            continue
        to_load[key] = value.to(dtype=current.dtype)
        report.loaded.append(key)
    report.unexpected = [k for k in source if k not in target]
    if not report.loaded:
        raise MissingDataError(name, f"no parameter matches this VGG{model.depth} in name and shape ({report.summary()})")
    model.load_state_dict(to_load, strict=False)
    return report
