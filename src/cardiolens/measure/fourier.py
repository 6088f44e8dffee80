"""Truncated Fourier series of one periodic cycle, with analytic time derivatives.

A cine covers one cardiac cycle, so any per-frame quantity (a slice area, the
LV volume) is a sample of a periodic function. Differentiating a least-squares
fit of a truncated Fourier series

    f(t) = a_0 + sum_{k=1..H} [a_k cos(k w t) + b_k sin(k w t)],   w = 2 pi / T,

is far less noisy than differencing frames: the derivative is exact for the
fitted series and the truncation at H harmonics is the low-pass filter
(METHODS.md §1 item 8: 8-10 harmonics for IVPG). With uniform samples over the
cycle the least-squares fit equals the truncated discrete Fourier transform;
non-uniform sample times (e.g. prospective gating) are fitted by least squares
just the same.

Time may be in any unit (ms, s, or cycle fractions with ``period=1``):
``times`` and ``period`` share it, and derivatives are per that unit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cardiolens.errors import UsageError

__all__ = ["PeriodicFit", "fit_periodic", "max_harmonics"]


def max_harmonics(n_samples: int) -> int:
    """Most harmonics a fit to ``n_samples`` points per cycle can determine: (n - 1) // 2.

    2H + 1 coefficients need at least 2H + 1 samples; the Nyquist cosine of an
    even sample count is left out because its sine partner is unobservable.
    """
    return max((int(n_samples) - 1) // 2, 0)


@dataclass(frozen=True, eq=False)
class PeriodicFit:
    """A fitted truncated Fourier series (one per trailing column of the data).

    Attributes:
        period: the cycle length T (same unit as the fitted ``times``).
        mean: the constant term a_0, shape of one sample (``values.shape[1:]``).
        cos_coef, sin_coef: a_k and b_k for k = 1..H, shape (H, *sample_shape).
        n_harmonics: H actually used (the request clipped to what the samples determine).
        n_harmonics_requested: H asked for.
    """

    period: float
    mean: np.ndarray
    cos_coef: np.ndarray
    sin_coef: np.ndarray
    n_harmonics: int
    n_harmonics_requested: int

    @property
    def clipped(self) -> bool:
        """True when fewer harmonics were used than requested (too few samples)."""
        return self.n_harmonics < self.n_harmonics_requested

    def evaluate(self, times: np.ndarray | float) -> np.ndarray:
        """f(t) at ``times``; returns shape ``(*np.shape(times), *sample_shape)``."""
        return self.derivative(times, order=0)

    def derivative(self, times: np.ndarray | float, order: int = 1) -> np.ndarray:
        """d^order f / dt^order at ``times`` (value unit per time unit^order).

        Exact for the series: d/dt of cos(k w t) is -k w sin(k w t), so each
        harmonic picks up (k w)^order and a phase shift of order * 90 degrees.
        """
        if order < 0 or int(order) != order:
            raise UsageError(f"derivative order must be a non-negative integer, got {order!r}")
        t = np.asarray(times, dtype=float)
        sample_shape = self.mean.shape
        out_shape = (*t.shape, *sample_shape)
        flat_t = t.reshape(-1)
        omega = 2.0 * np.pi / self.period
        k = np.arange(1, self.n_harmonics + 1, dtype=float)
        angle = np.outer(flat_t, k * omega) + order * np.pi / 2  # shift by the derivative order
        scale = (k * omega) ** order
        basis_cos = np.cos(angle) * scale  # d^n cos(x) = cos(x + n pi/2)
        basis_sin = np.sin(angle) * scale  # d^n sin(x) = sin(x + n pi/2)
        a = self.cos_coef.reshape(self.n_harmonics, -1)
        b = self.sin_coef.reshape(self.n_harmonics, -1)
        result = basis_cos @ a + basis_sin @ b
        if order == 0:
            result = result + self.mean.reshape(1, -1)
        return result.reshape(out_shape)


def fit_periodic(
    values: np.ndarray,
    n_harmonics: int,
    *,
    times: np.ndarray | None = None,
    period: float = 1.0,
) -> PeriodicFit:
    """Least-squares fit of a truncated Fourier series to samples of one cycle.

    Args:
        values: samples, shape (n_samples, ...) with time on axis 0; every
            trailing column is fitted independently (e.g. one column per slice).
        n_harmonics: H, the number of harmonics (>= 1). Clipped to
            :func:`max_harmonics` of the sample count; the fit records both.
        times: sample times, shape (n_samples,), in the unit of ``period``;
            default: uniform over one cycle starting at 0 (``arange(n) / n * period``).
        period: cycle length T (> 0), e.g. the RR interval in ms.

    Returns:
        A :class:`PeriodicFit`; ``fit.derivative(t, order)`` gives exact
        derivatives of the fitted series in value unit per ``period`` unit^order.

    Raises:
        UsageError: fewer than 3 samples, a bad ``n_harmonics`` or ``period``,
            ``times`` of the wrong shape, or NaN/Inf values.
    """
    y = np.asarray(values, dtype=float)
    if y.ndim == 0 or y.shape[0] < 3:
        raise UsageError(f"a periodic fit needs at least 3 samples per cycle, got shape {y.shape}")
    if int(n_harmonics) != n_harmonics or n_harmonics < 1:
        raise UsageError(f"n_harmonics must be a positive integer, got {n_harmonics!r}")
    if not (np.isfinite(period) and period > 0):
        raise UsageError(f"period must be positive and finite, got {period!r}")
    if not np.isfinite(y).all():
        raise UsageError("values to fit hold NaN/Inf")
    n = y.shape[0]
    t = np.arange(n) * (period / n) if times is None else np.asarray(times, dtype=float)
    if t.shape != (n,) or not np.isfinite(t).all():
        raise UsageError(f"times must be {n} finite values, got shape {t.shape}")

    h = min(int(n_harmonics), max_harmonics(n))
    k = np.arange(1, h + 1, dtype=float)
    angle = np.outer(t, k * (2.0 * np.pi / period))
    design = np.hstack([np.ones((n, 1)), np.cos(angle), np.sin(angle)])
    flat = y.reshape(n, -1)
    coef, *_ = np.linalg.lstsq(design, flat, rcond=None)
    sample_shape = y.shape[1:]
    return PeriodicFit(
        period=float(period),
        mean=coef[0].reshape(sample_shape),
        cos_coef=coef[1 : h + 1].reshape((h, *sample_shape)),
        sin_coef=coef[h + 1 :].reshape((h, *sample_shape)),
        n_harmonics=h,
        n_harmonics_requested=int(n_harmonics),
    )
