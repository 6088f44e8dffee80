"""Input-gradient saliency, temporal importance profiles and frame occlusion.

- :func:`input_gradient`: |d y^c / d x| for the pre-softmax class logit y^c
  (vanilla gradient, Simonyan et al., arXiv:1312.6034, 2014), optionally
  averaged over noisy copies of the input (SmoothGrad, Smilkov et al.,
  arXiv:1706.03825, 2017).
- :func:`temporal_profile`: which cine frames a per-frame Grad-CAM points at.
- :func:`occlusion_profile`: a model-agnostic check of that profile — the drop
  of the class probability when one frame is replaced by a baseline frame.

MONAI's ``VanillaGrad``/``SmoothGrad`` call a one-input module (the nicm
network takes frames, curves and images) and its SmoothGrad averages squared
gradients; here a closure picks the input and the mean of |gradient| is kept.

torch is imported inside the functions (``import cardiolens.explain`` stays light).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

import numpy as np

from cardiolens.errors import UsageError

if TYPE_CHECKING:
    import torch


def _class_logit(logits: torch.Tensor, class_index: int) -> torch.Tensor:
    if logits.ndim != 2:
        raise UsageError(f"forward must return logits of shape (batch, n_classes), got {tuple(logits.shape)}")
    if not 0 <= class_index < logits.shape[1]:
        raise UsageError(f"class_index {class_index} out of range for {logits.shape[1]} classes")
    # Summing over the batch is harmless: in eval mode each sample's logit depends only on its own input.
    return logits[:, class_index].sum()


def input_gradient(
    forward: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    class_index: int,
    *,
    smooth_samples: int = 0,
    noise_std: float = 0.1,
    seed: int = 0,
) -> np.ndarray:
    """Saliency |d logit_c / d x|, same shape as ``x`` (float64).

    Args:
        forward: maps an input shaped like ``x`` to logits (batch, n_classes);
            a closure, so other inputs of a multi-input model stay fixed
            (e.g. ``lambda s: net(frames, s)`` for the IVPG curves).
        x: the input (not modified).
        class_index: the class whose (pre-softmax) logit is explained.
        smooth_samples: 0 = the vanilla gradient; n > 0 = SmoothGrad, the mean
            of |gradient| over n copies of ``x`` plus Gaussian noise.
        noise_std: SmoothGrad noise SD as a fraction of the input's range
            (max - min), the scale-free form of Smilkov et al.
        seed: seeds the noise (deterministic output).

    Reduce over channels (e.g. max) for display if needed. Put the model in
    eval mode first; model parameters' ``.grad`` are not touched.
    """
    import torch

    if smooth_samples < 0 or noise_std < 0:
        raise UsageError(f"smooth_samples and noise_std must be >= 0, got {smooth_samples}, {noise_std}")
    base = x.detach()

    def abs_grad(inp: torch.Tensor) -> torch.Tensor:
        inp = inp.clone().requires_grad_(True)
        logit = _class_logit(forward(inp), class_index)
        (grad,) = torch.autograd.grad(logit, inp, allow_unused=True)
        return torch.zeros_like(inp) if grad is None else grad.abs()

    with torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):  # cuDNN LSTM: no backward in eval mode
        if smooth_samples == 0:
            saliency = abs_grad(base)
        else:
            generator = torch.Generator(device="cpu").manual_seed(seed)
            sigma = noise_std * float(base.max() - base.min())
            saliency = torch.zeros_like(base)
            for _ in range(smooth_samples):
                noise = torch.randn(base.shape, generator=generator, dtype=base.dtype).to(base.device) * sigma
                saliency += abs_grad(base + noise)
            saliency /= smooth_samples
    return saliency.detach().double().cpu().numpy()


def temporal_profile(cam_per_frame: np.ndarray) -> np.ndarray:
    """Per-frame importance from per-frame maps (T, ...): each frame's share of the total CAM.

    importance_t = E_t / sum_s E_s with E_t = sum of frame t's CAM values (the
    CAM "energy"; METHODS.md §7: per-frame sum of the jointly normalised maps;
    any joint scaling cancels). Sums to 1; all-zero maps give the uniform
    profile 1/T (no frame preferred). Negative values (not produced by
    Grad-CAM) raise UsageError.
    """
    cam = np.asarray(cam_per_frame, dtype=np.float64)
    if cam.ndim < 2 or cam.shape[0] == 0:
        raise UsageError(f"expected per-frame maps (T, ...), got shape {cam.shape}")
    if not np.all(np.isfinite(cam)):
        raise UsageError("per-frame maps contain NaN or Inf")
    if cam.min() < 0:
        raise UsageError(f"per-frame maps must be >= 0, found {cam.min():.3g}")
    energy = cam.reshape(cam.shape[0], -1).sum(axis=1)
    total = energy.sum()
    if total <= 0:
        return np.full(cam.shape[0], 1.0 / cam.shape[0])
    return energy / total


def _probability(logits: torch.Tensor, class_index: int) -> float:
    import torch

    if logits.ndim != 2 or logits.shape[0] != 1:
        raise UsageError(f"forward must return logits of shape (1, n_classes), got {tuple(logits.shape)}")
    if logits.shape[1] == 1:  # one binary logit: sigmoid (class 0 = the positive class)
        if class_index != 0:
            raise UsageError(f"class_index {class_index} out of range for a single-logit model")
        return float(torch.sigmoid(logits[0, 0]))
    if not 0 <= class_index < logits.shape[1]:
        raise UsageError(f"class_index {class_index} out of range for {logits.shape[1]} classes")
    return float(torch.softmax(logits[0].double(), dim=0)[class_index])


def occlusion_profile(
    forward: Callable[[torch.Tensor], torch.Tensor],
    frames: torch.Tensor,
    class_index: int,
    baseline: Literal["mean", "zero"] = "mean",
    *,
    time_axis: int = 1,
) -> np.ndarray:
    """Probability drop p_c(frames) - p_c(frames with frame t replaced), for each frame t: (T,) float64.

    Args:
        forward: maps frames to logits (1, n_classes) (softmax; a single
            logit uses the sigmoid).
        frames: one subject's frames, time along ``time_axis`` (default 1,
            i.e. (1, T, C, H, W) as :class:`~cardiolens.nn.cnn_lstm.NicmNet` takes).
        class_index: the explained class.
        baseline: ``"mean"`` replaces a frame by the mean frame of the clip
            (keeps anatomy, removes the frame's own motion phase); ``"zero"``
            by zeros.

    Positive values: the frame supports the class. Runs T + 1 forward passes
    without gradients.
    """
    import torch

    if baseline not in ("mean", "zero"):
        raise UsageError(f"baseline must be 'mean' or 'zero', got {baseline!r}")
    if not -frames.ndim <= time_axis < frames.ndim:
        raise UsageError(f"time_axis {time_axis} out of range for frames of shape {tuple(frames.shape)}")
    axis = time_axis % frames.ndim
    frames = frames.detach()
    n_frames = frames.shape[axis]
    with torch.no_grad():
        reference = _probability(forward(frames), class_index)
        fill = frames.mean(dim=axis, keepdim=True) if baseline == "mean" else torch.zeros_like(frames.narrow(axis, 0, 1))
        drops = np.empty(n_frames)
        for t in range(n_frames):
            occluded = frames.clone()
            occluded.narrow(axis, t, 1).copy_(fill)
            drops[t] = reference - _probability(forward(occluded), class_index)
    return drops
