"""Grad-CAM (Selvaraju et al., ICCV 2017, arXiv:1610.02391) for 2-D and 3-D convolution layers.

For the target class logit y^c (pre-softmax) and the target layer's
activations A^k (channel k), the channel weights are the spatially averaged
gradients alpha_k = mean_ij dy^c/dA^k_ij (mean over d, i, j for 3-D layers)
and the map is ReLU(sum_k alpha_k A^k), at the layer's resolution.

Every sample the layer processes gets its own map: for a CNN-LSTM whose frame
CNN sees the T frames of one subject as a batch, that is one map per frame
(METHODS.md §7: per-frame Grad-CAM, normalised jointly over the frames).

MONAI's ``GradCAM`` is not used because it calls a one-input module and
upsamples to that input's spatial shape: it cannot give the per-frame maps of
a (B, T, C, H, W) clip fed to a two-input model, which a closure here can.

torch is imported inside the functions (``import cardiolens.explain`` stays light).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from cardiolens.errors import UsageError

if TYPE_CHECKING:
    import torch
    from torch import nn


def _check_logits(logits: torch.Tensor, class_index: int) -> None:
    if logits.ndim != 2 or logits.shape[0] != 1:
        raise UsageError(f"forward() must return logits of shape (1, n_classes), got {tuple(logits.shape)}")
    if not 0 <= class_index < logits.shape[1]:
        raise UsageError(f"class_index {class_index} out of range for {logits.shape[1]} classes")


def grad_cam(forward: Callable[[], torch.Tensor], target_layer: nn.Module, class_index: int) -> np.ndarray:
    """Grad-CAM maps of ``class_index`` at ``target_layer``: (N_act, h, w) or (N_act, d, h, w), float64 >= 0.

    Args:
        forward: runs the model on one subject and returns the logits (1,
            n_classes); a closure, so models with several inputs work. It is
            called once, with gradients enabled (also under ``torch.no_grad``).
        target_layer: a module whose output is (N_act, K, h, w) or (N_act, K,
            d, h, w), e.g. ``last_conv(vgg)`` or
            ``net.cine_encoder.frame_encoder.last_conv`` (N_act = T frames).
            If the layer runs several times in one forward, the maps of all
            calls are concatenated along the first axis, in call order.
        class_index: the class whose logit is explained.

    The maps are not normalised (see :func:`normalise_cam`) and stay at the
    layer's resolution (see :func:`upsample_cam`). Put the model in eval mode
    first (BatchNorm/Dropout). Hooks are removed even when ``forward`` fails.
    Frozen layers (``requires_grad=False``) work: the layer's output is then
    made a leaf that requires gradients. The parameters' ``.grad`` are not
    touched (gradients come from ``torch.autograd.grad``).
    """
    import torch

    outputs: list[torch.Tensor] = []

    def on_forward(_module: nn.Module, _inputs: object, output: object) -> torch.Tensor:
        if not isinstance(output, torch.Tensor) or output.ndim not in (4, 5):
            shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
            raise UsageError(f"Grad-CAM target layer must output (N, K, h, w) or (N, K, d, h, w), got {shape}")
        if not output.requires_grad:  # frozen layers: differentiate from here on
            output = output.detach().requires_grad_(True)
        outputs.append(output)
        # The model goes on with a copy, so an in-place op after the layer (ReLU(inplace=True))
        # cannot change the kept activations or the tensor the gradient is taken for.
        return output.clone()

    handle = target_layer.register_forward_hook(on_forward)
    try:
        # cuDNN's LSTM cannot run backward in eval mode; attribution does not need cuDNN.
        with torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):
            logits = forward()
            _check_logits(logits, class_index)
            if not outputs:
                raise UsageError("the Grad-CAM target layer was not used by forward()")
            # autograd.grad, not backward(): the parameters' .grad are left untouched.
            grads = torch.autograd.grad(logits[0, class_index], outputs, allow_unused=True)
    finally:
        handle.remove()
    maps = []
    for act, grad in zip(outputs, grads, strict=True):
        act = act.detach()
        grad = torch.zeros_like(act) if grad is None else grad  # a call that does not reach the logit
        weights = grad.mean(dim=tuple(range(2, act.ndim)), keepdim=True)  # alpha_k per sample
        maps.append(torch.relu((weights * act).sum(dim=1)))
    return torch.cat(maps, dim=0).double().cpu().numpy()


def upsample_cam(cam: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Resize maps (N, h, w) to (N, *shape_yx) bilinearly, or (N, d, h, w) to (N, *shape_zyx) trilinearly.

    Pixel centres are aligned as in ``torch.nn.functional.interpolate(...,
    align_corners=False)`` (each map cell covers an equal block of the image),
    and the result is clipped at 0.
    """
    import torch
    from torch.nn import functional as F

    cam = np.asarray(cam, dtype=np.float64)
    spatial = cam.ndim - 1
    if spatial not in (2, 3) or len(shape) != spatial:
        raise UsageError(f"cannot upsample maps of shape {cam.shape} to {tuple(shape)}: need (N, h, w) -> (y, x) or (N, d, h, w) -> (z, y, x)")
    mode = "bilinear" if spatial == 2 else "trilinear"
    resized = F.interpolate(torch.from_numpy(cam)[:, None], size=tuple(int(s) for s in shape), mode=mode, align_corners=False)
    return np.clip(resized[:, 0].numpy(), 0.0, None)


def normalise_cam(cam: np.ndarray) -> np.ndarray:
    """Scale maps to [0, 1] by their global maximum over all frames (keeps the contrast between frames).

    All-zero maps stay zero. Raises UsageError for non-finite or negative values.
    """
    cam = np.asarray(cam, dtype=np.float64)
    if not np.all(np.isfinite(cam)):
        raise UsageError("Grad-CAM maps contain NaN or Inf")
    if cam.size and cam.min() < 0:
        raise UsageError(f"Grad-CAM maps must be >= 0, found {cam.min():.3g}")
    top = float(cam.max()) if cam.size else 0.0
    return cam / top if top > 0 else np.zeros_like(cam)
