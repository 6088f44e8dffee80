"""Truncated Fourier fit of a periodic cycle: values and analytic derivatives."""

from __future__ import annotations

import numpy as np
import pytest

from cardiolens.errors import UsageError
from cardiolens.measure.fourier import fit_periodic, max_harmonics

PERIOD_MS = 850.0


def _signal(t):
    """A 3-harmonic periodic test function and its first two derivatives (closed form)."""
    w = 2 * np.pi / PERIOD_MS
    f = 2.0 + 1.5 * np.sin(w * t) - 0.7 * np.cos(3 * w * t + 0.4) + 0.2 * np.sin(5 * w * t)
    df = 1.5 * w * np.cos(w * t) + 0.7 * 3 * w * np.sin(3 * w * t + 0.4) + 0.2 * 5 * w * np.cos(5 * w * t)
    d2f = (
        -1.5 * w**2 * np.sin(w * t)
        + 0.7 * (3 * w) ** 2 * np.cos(3 * w * t + 0.4)
        - 0.2 * (5 * w) ** 2 * np.sin(5 * w * t)
    )
    return f, df, d2f


def test_derivatives_of_a_band_limited_function_are_exact():
    t = np.arange(25) * PERIOD_MS / 25
    fit = fit_periodic(_signal(t)[0], 8, period=PERIOD_MS)
    dense = np.linspace(0, PERIOD_MS, 301)
    f, df, d2f = _signal(dense)
    np.testing.assert_allclose(fit.evaluate(dense), f, atol=1e-10)
    np.testing.assert_allclose(fit.derivative(dense), df, atol=1e-12)
    np.testing.assert_allclose(fit.derivative(dense, order=2), d2f, atol=1e-13)
    assert fit.n_harmonics == 8 and not fit.clipped


def test_non_uniform_sample_times_and_columns_are_fitted():
    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0, PERIOD_MS, 30))
    f = _signal(t)[0]
    values = np.stack([f, 3 * f, -f], axis=1)  # three independent columns
    fit = fit_periodic(values, 6, times=t, period=PERIOD_MS)
    dense = np.linspace(0, PERIOD_MS, 50)
    expected = _signal(dense)[1]
    got = fit.derivative(dense)
    assert got.shape == (50, 3)
    np.testing.assert_allclose(got[:, 1], 3 * expected, atol=1e-9)
    np.testing.assert_allclose(got[:, 2], -expected, atol=1e-9)


def test_truncation_low_passes_a_non_band_limited_cycle():
    # a square wave: 9 harmonics keep only its odd harmonics 1, 3, 5, 7, 9 (amplitude 4/(pi k))
    t = np.arange(64) / 64
    square = np.where(t < 0.5, 1.0, -1.0)
    fit = fit_periodic(square, 9)
    assert abs(float(fit.mean)) < 1e-12
    assert fit.sin_coef[0] == pytest.approx(4 / np.pi, rel=0.02)
    assert fit.sin_coef[2] == pytest.approx(4 / (3 * np.pi), rel=0.05)
    assert abs(fit.sin_coef[1]) < 1e-12  # even harmonics vanish by symmetry


def test_harmonics_are_clipped_to_what_the_samples_determine():
    assert max_harmonics(12) == 5 and max_harmonics(13) == 6
    fit = fit_periodic(np.sin(2 * np.pi * np.arange(12) / 12), 8)
    assert fit.n_harmonics == 5 and fit.n_harmonics_requested == 8 and fit.clipped
    # with 2H+1 samples the series interpolates the samples exactly
    t = np.arange(11) / 11
    y = np.random.default_rng(1).normal(size=11)
    np.testing.assert_allclose(fit_periodic(y, 5).evaluate(t), y, atol=1e-10)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"values": np.ones(2), "n_harmonics": 1},
        {"values": np.ones(10), "n_harmonics": 0},
        {"values": np.ones(10), "n_harmonics": 2, "period": 0.0},
        {"values": np.array([1.0, np.nan, 2.0, 3.0]), "n_harmonics": 1},
        {"values": np.ones(10), "n_harmonics": 2, "times": np.arange(9.0)},
    ],
)
def test_bad_arguments_raise_usage_error(kwargs):
    with pytest.raises(UsageError):
        fit_periodic(**kwargs)


def test_negative_derivative_order_is_rejected():
    fit = fit_periodic(np.sin(2 * np.pi * np.arange(10) / 10), 2)
    with pytest.raises(UsageError):
        fit.derivative(0.1, order=-1)
