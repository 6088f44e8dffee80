"""Loading pretrained weights by parameter name, with a report of what was loaded, adapted or skipped.

Shared by the in-house networks whose names follow another library (VGG as
torchvision, EfficientNet-Lite0 as its PyPI wheel) and by the MONAI backbones.
Files are read with ``torch.load(weights_only=True)`` (no arbitrary code);
nested ``{"state_dict": ...}`` checkpoints and ``nn.DataParallel``'s
``module.`` prefixes are accepted. Nothing is ever downloaded.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from cardiolens.errors import CorruptFileError, MissingDataError
from cardiolens.io.files import require_file

WeightsSource = str | os.PathLike[str] | Mapping[str, Tensor]


@dataclass
class LoadReport:
    """What a by-name load did with each parameter.

    Attributes:
        loaded: model keys filled from the source.
        adapted: keys loaded after a documented change (the first convolution
            for another input channel count); also listed in ``loaded``.
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


def read_state_dict(source: WeightsSource) -> tuple[str, dict[str, Tensor]]:
    """(name for messages, state dict) from a file or a mapping.

    Raises:
        MissingDataError / EmptyFileError: a missing or 0-byte file; content that is not a state dict.
        CorruptFileError: a file torch cannot read.
    """
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
    return name, {k.removeprefix("module."): v for k, v in obj.items()}


def adapt_first_conv(weight: Tensor, in_channels: int) -> Tensor:
    """RGB filters (out, 3, k, k) -> (out, in_channels, k, k): their mean, repeated and scaled by 3 / in_channels.

    A grey image copied to every channel then gives the response the grey RGB image gave (the usual practice, e.g. timm's ``adapt_input_conv``).
    """
    return weight.mean(dim=1, keepdim=True).repeat(1, in_channels, 1, 1) * (3.0 / in_channels)


def load_by_name(
    model: nn.Module,
    state: Mapping[str, Tensor],
    *,
    name: str,
    what: str,
    first_conv: str,
    include: Callable[[str], bool] = lambda key: True,
) -> LoadReport:
    """Copy the entries of ``state`` into the ``model`` keys of the same name and shape (those ``include`` accepts).

    ``first_conv``'s 3-channel weight is adapted to the model's channel count
    (:func:`adapt_first_conv`). Keys of another shape are skipped and reported,
    never silently dropped.

    Raises:
        MissingDataError: no parameter matches in name and shape (names ``name``, says ``what`` was expected).
    """
    target = {k: v for k, v in model.state_dict().items() if include(k)}
    report = LoadReport()
    to_load: dict[str, Tensor] = {}
    for key, current in target.items():
        if key not in state:
            report.missing.append(key)
            continue
        value = state[key]
        adapted = key == first_conv and value.ndim == 4 and value.shape[1] == 3 and current.shape[1] != 3
        if adapted:
            value = adapt_first_conv(value, current.shape[1])
        if tuple(value.shape) != tuple(current.shape):
            report.skipped[key] = f"shape {tuple(value.shape)} vs {tuple(current.shape)}"
            continue
        if adapted:
            report.adapted.append(key)
        to_load[key] = value.to(dtype=current.dtype)
        report.loaded.append(key)
    report.unexpected = [k for k in state if k not in target]
    if not report.loaded:
        raise MissingDataError(name, f"no parameter matches {what} in name and shape ({report.summary()})")
    model.load_state_dict(to_load, strict=False)
    return report
