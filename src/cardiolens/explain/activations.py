"""Activation (feature) maps of intermediate layers: what a layer responds to, without a target class.

For each named layer, the output (1, K, h, w) is averaged over its K channels,
upsampled bilinearly to the input's (H, W) (pixel centres aligned, as
``torch.nn.functional.interpolate(..., align_corners=False)``) and min-max
scaled to [0, 1] (a constant map becomes all zeros). This is the "feature map
visualisation" compared with LGE in scar-pattern studies; unlike Grad-CAM it
does not depend on the class.

torch is imported inside the function (``import cardiolens.explain`` stays light).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np

from cardiolens.errors import UsageError

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["activation_maps"]


def activation_maps(model: nn.Module, layers: Mapping[str, nn.Module], x: torch.Tensor) -> dict[str, np.ndarray]:
    """Channel-mean activation of each of ``layers`` for one image ``x`` (1, C, H, W): name -> (H, W) float64 in [0, 1].

    The model runs once, without gradients and in eval mode (BatchNorm uses
    its running statistics and is not updated; dropout is off); its previous
    train/eval mode is restored. Forward hooks are removed afterwards, also on
    error. A layer that runs several times in one forward keeps its last output.

    Raises:
        UsageError: ``x`` is not (1, C, H, W); a layer is not used by the
            forward or does not output (1, K, h, w); non-finite activations.
    """
    import torch
    from torch.nn import functional as F

    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[0] != 1:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise UsageError(f"activation maps need one image of shape (1, C, H, W), got {shape}")
    if not layers:
        raise UsageError("no layers given for activation maps")
    means: dict[str, torch.Tensor] = {}

    def hook_for(name: str) -> Callable[[nn.Module, object, object], None]:
        def on_forward(_module: nn.Module, _inputs: object, output: object) -> None:
            if not isinstance(output, torch.Tensor) or output.ndim != 4:
                shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
                raise UsageError(f"layer {name!r} must output (N, K, h, w) feature maps, got {shape}")
            # Reduce at once: a later in-place op (ReLU(inplace=True)) cannot alter the kept copy.
            means[name] = output.detach().float().mean(dim=1, keepdim=True)

        return on_forward

    handles = [module.register_forward_hook(hook_for(name)) for name, module in layers.items()]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    unused = [name for name in layers if name not in means]
    if unused:
        raise UsageError(f"layers not used by the model's forward: {', '.join(unused)}")
    size = tuple(int(s) for s in x.shape[2:])
    maps: dict[str, np.ndarray] = {}
    for name in layers:
        resized = F.interpolate(means[name], size=size, mode="bilinear", align_corners=False)[0, 0]
        values = resized.double().cpu().numpy()
        if not np.all(np.isfinite(values)):
            raise UsageError(f"layer {name!r} produced NaN or Inf activations")
        low, high = float(values.min()), float(values.max())
        maps[name] = (values - low) / (high - low) if high > low else np.zeros_like(values)
    return maps
