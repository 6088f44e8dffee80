"""Stratified bootstrap: index structure, reproducibility, percentile CIs and paired differences."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cardiolens.errors import UsageError
from cardiolens.stats import bootstrap
from cardiolens.stats.bootstrap import (
    bootstrap_ci,
    bootstrap_indices,
    bootstrap_replicates,
    paired_bootstrap_difference,
    percentile_ci,
)


def test_stratified_indices_draw_within_each_stratum_and_keep_its_size() -> None:
    strata = np.array(["a", "b", "a", "c", "b", "b", "a", "a"])
    index = bootstrap_indices(strata.size, strata=strata, n_resamples=500, seed=3)
    assert index.shape == (500, strata.size)
    # Column j only ever holds subjects from the stratum of subject j.
    assert (strata[index] == strata[None, :]).all()
    # Sampling is with replacement: some resample repeats a subject.
    assert any(np.unique(row).size < row.size for row in index)


def test_unstratified_indices_cover_all_subjects_uniformly() -> None:
    index = bootstrap_indices(10, n_resamples=4000, seed=0)
    counts = np.bincount(index.ravel(), minlength=10) / index.size
    assert np.allclose(counts, 0.1, atol=0.01)


def test_same_seed_same_resamples_and_different_seed_differs() -> None:
    a = bootstrap_indices(50, strata=np.arange(50) % 2, n_resamples=100, seed=7)
    b = bootstrap_indices(50, strata=np.arange(50) % 2, n_resamples=100, seed=7)
    c = bootstrap_indices(50, strata=np.arange(50) % 2, n_resamples=100, seed=8)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_chunked_indices_match_whole_matrix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bootstrap, "_MAX_CHUNK_ELEMENTS", 70)  # 7 rows per chunk for n = 10
    chunks = list(bootstrap.iter_bootstrap_indices(10, n_resamples=30, seed=1))
    assert [c.shape[0] for c in chunks] == [7, 7, 7, 7, 2]
    x = np.random.default_rng(0).normal(size=10)
    looped = bootstrap_replicates(np.mean, x, n_resamples=30, seed=1)
    vectorised = bootstrap_replicates(lambda v: v.mean(axis=1), x, n_resamples=30, seed=1, vectorized=True)
    assert np.allclose(looped, vectorised)


def test_percentile_ci_of_known_replicates() -> None:
    low, high, undefined = percentile_ci(np.arange(101.0))
    assert (float(low), float(high), int(undefined)) == pytest.approx((2.5, 97.5, 0))
    # Non-finite replicates are dropped and counted.
    low, high, undefined = percentile_ci(np.concatenate([np.arange(101.0), [np.nan, np.inf]]))
    assert (float(low), float(high), int(undefined)) == pytest.approx((2.5, 97.5, 2))


def test_bootstrap_ci_of_mean_matches_normal_theory() -> None:
    rng = np.random.default_rng(42)
    x = rng.normal(10.0, 2.0, size=400)
    estimate = bootstrap_ci(np.mean, x, n_resamples=2000, seed=0)
    standard_error = x.std(ddof=1) / math.sqrt(x.size)
    assert estimate.value == pytest.approx(x.mean())
    assert estimate.ci_low == pytest.approx(x.mean() - 1.96 * standard_error, abs=0.15 * standard_error)
    assert estimate.ci_high == pytest.approx(x.mean() + 1.96 * standard_error, abs=0.15 * standard_error)
    assert estimate.n == 400
    assert estimate.method == "bootstrap percentile, 2000 resamples"


def test_vectorised_and_looped_statistics_agree() -> None:
    rng = np.random.default_rng(1)
    x = rng.exponential(size=60)
    strata = rng.integers(0, 2, size=60)
    looped = bootstrap_ci(np.median, x, strata=strata, n_resamples=300, seed=5)
    vectorised = bootstrap_ci(
        lambda v: np.median(v, axis=-1), x, strata=strata, n_resamples=300, seed=5, vectorized=True
    )
    assert looped == vectorised
    assert looped.method == "bootstrap percentile, 300 stratified resamples"


def test_paired_difference_uses_the_same_resamples() -> None:
    rng = np.random.default_rng(2)
    a = rng.normal(size=80)
    b = a + rng.normal(0.3, 0.1, size=80)  # strongly correlated with a
    paired = paired_bootstrap_difference(np.mean, (a,), (b,), n_resamples=1000, seed=4)
    direct = bootstrap_ci(np.mean, a - b, n_resamples=1000, seed=4)
    # mean(a) - mean(b) on the same indices is mean(a - b): identical replicates.
    assert paired.value == pytest.approx(direct.value)
    assert paired.ci_low == pytest.approx(direct.ci_low)
    assert paired.ci_high == pytest.approx(direct.ci_high)
    # Pairing removes the shared variation: far narrower than the spread of either mean.
    assert paired.ci_high - paired.ci_low < 0.1


def test_undefined_resamples_are_dropped_and_reported() -> None:
    x = np.array([1.0, 0.0, 0.0, 0.0, 0.0, 0.0])

    def ratio(v: np.ndarray) -> float:
        return float(v.sum() / v.sum()) if v.sum() else math.nan

    estimate = bootstrap_ci(ratio, x, n_resamples=400, seed=0)
    assert estimate.value == 1.0
    assert estimate.ci == (1.0, 1.0)
    assert "undefined resamples dropped" in estimate.method

    never = bootstrap_ci(lambda v: math.nan, x, n_resamples=20, seed=0)
    assert never.ci is None


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: bootstrap_ci(np.mean, np.ones(3), np.ones(4)), "same number of subjects"),
        (lambda: bootstrap_ci(np.mean, np.ones(3), strata=[0, 1]), "strata must be"),
        (lambda: bootstrap_ci(np.mean, np.ones(3), n_resamples=0), "n_resamples"),
        (lambda: bootstrap_ci(np.mean, np.ones(0)), "empty"),
        (lambda: bootstrap_ci(np.mean), "at least one data array"),
        (lambda: bootstrap_ci(lambda v: v, np.ones(3)), "scalar statistic"),
        (lambda: paired_bootstrap_difference(np.mean, (np.ones(3),), (np.ones(4),)), "same subjects"),
    ],
)
def test_bad_arguments_raise_usage_error(call, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        call()
