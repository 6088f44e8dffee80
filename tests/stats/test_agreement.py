"""Agreement statistics against hand-computed tables, Shrout & Fleiss (1979) and a coverage simulation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from cardiolens.errors import UsageError
from cardiolens.stats.agreement import BlandAltman, bland_altman, icc, pearson, spearman
from cardiolens.stats.estimate import Estimate

T_975_DF4 = 2.7764451051977987  # Student t 97.5% quantile, 4 df (tables: 2.776)
Z_975 = 1.959963984540054

# Shrout & Fleiss (1979) Table 2: 6 targets x 4 judges.
SHROUT_FLEISS = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]


def test_bland_altman_hand_computed_table() -> None:
    a = [10.0, 12.0, 14.0, 16.0, 18.0]
    b = [9.0, 12.0, 15.0, 14.0, 17.0]
    # By hand: d = a - b = [1, 0, -1, 2, 1]; mean 0.6; sum of squared deviations 5.2;
    # SD = sqrt(5.2 / 4) = sqrt(1.3); LoA = 0.6 -/+ 1.96 sqrt(1.3).
    sd = math.sqrt(1.3)
    result = bland_altman(a, b, unit="ml")
    assert isinstance(result, BlandAltman) and result.n == 5
    assert result.bias.value == pytest.approx(0.6)
    assert result.sd_diff == pytest.approx(sd)
    assert result.loa_low.value == pytest.approx(0.6 - 1.96 * sd)
    assert result.loa_high.value == pytest.approx(0.6 + 1.96 * sd)
    # Bias CI: 0.6 +/- t(4) SD / sqrt(5).
    half = T_975_DF4 * sd / math.sqrt(5)
    assert result.bias.ci == pytest.approx((0.6 - half, 0.6 + half))
    # LoA CI (Bland & Altman 1999): LoA +/- t(4) sqrt(3 SD^2 / n) = sqrt(0.78).
    half_loa = T_975_DF4 * math.sqrt(0.78)
    assert result.loa_low.ci == pytest.approx((result.loa_low.value - half_loa, result.loa_low.value + half_loa))
    assert result.loa_high.ci == pytest.approx((result.loa_high.value - half_loa, result.loa_high.value + half_loa))
    # Proportional bias: pair means [9.5, 12, 14.5, 15, 17.5]; Sxy = 1.4, Sxx = 37.3.
    assert result.proportional_bias_slope.value == pytest.approx(1.4 / 37.3)
    low, high = result.proportional_bias_slope.ci
    assert low < 1.4 / 37.3 < high
    assert 0 < result.proportional_bias_p < 1


def test_bland_altman_detects_proportional_bias_and_serialises() -> None:
    rng = np.random.default_rng(3)
    truth = rng.uniform(50, 250, 200)
    pred = 1.2 * truth + rng.normal(0, 2, 200)  # 20% overestimate that grows with size
    result = bland_altman(pred, truth, unit="ml")
    assert result.proportional_bias_p < 1e-6
    # d = 0.2 t, m = 1.1 t, so the slope of d on m is 0.2 / 1.1.
    assert result.proportional_bias_slope.value == pytest.approx(0.2 / 1.1, abs=0.01)
    record = result.to_dict()
    assert set(record) >= {"bias_ml", "loa_low_ml", "loa_high_ml", "sd_diff_ml", "proportional_bias_slope"}
    assert record["bias_ml"]["value"] == pytest.approx(result.bias.value)
    json.dumps(record, allow_nan=False)


def test_pearson_hand_value_and_fisher_ci() -> None:
    x = [1.0, 2.0, 3.0, 4.0, 5.0]
    y = [2.0, 4.0, 5.0, 4.0, 5.0]
    # Sxy = 6, Sxx = 10, Syy = 6 -> r = 6 / sqrt(60).
    r = 6 / math.sqrt(60)
    est = pearson(x, y)
    assert isinstance(est, Estimate) and est.n == 5
    assert est.value == pytest.approx(r)
    se = 1 / math.sqrt(5 - 3)
    assert est.ci == pytest.approx((math.tanh(math.atanh(r) - Z_975 * se), math.tanh(math.atanh(r) + Z_975 * se)))
    assert "Fisher" in est.method


def test_pearson_ci_coverage_over_seeded_simulations() -> None:
    rng = np.random.default_rng(2024)
    rho, n, n_sims = 0.6, 12, 2000
    samples = rng.multivariate_normal([0.0, 0.0], [[1.0, rho], [rho, 1.0]], size=(n_sims, n))
    covered = 0
    for sample in samples:
        low, high = pearson(sample[:, 0], sample[:, 1]).ci
        covered += low <= rho <= high
    # Nominal 95% (binomial SD over 2000 simulations ~0.5 points). A small n makes a wrong SE
    # visible: 1/sqrt(n) instead of 1/sqrt(n - 3) covers only ~91% here.
    assert 0.935 <= covered / n_sims <= 0.965


def test_pearson_with_three_pairs_has_no_ci() -> None:
    est = pearson([1.0, 2.0, 3.0], [1.0, 3.0, 2.0])
    assert est.value == pytest.approx(0.5)
    assert est.ci is None


def test_spearman_value_and_bonett_wright_ci() -> None:
    x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    y = [1.0, 3.0, 2.0, 5.0, 4.0, 8.0, 6.0, 7.0]
    # No ties: rho = 1 - 6 sum(d^2) / (n (n^2 - 1)); d = [0,-1,1,-1,1,-2,1,1], sum d^2 = 10.
    rho = 1 - 6 * 10 / (8 * 63)
    est = spearman(x, y)
    assert est.value == pytest.approx(rho)
    se = math.sqrt((1 + rho**2 / 2) / (8 - 3))
    z = math.atanh(rho)
    assert est.ci == pytest.approx((math.tanh(z - Z_975 * se), math.tanh(z + Z_975 * se)))
    # The Bonett-Wright CI is wider than Pearson's 1/sqrt(n-3) one at the same value.
    assert est.ci[1] - est.ci[0] > math.tanh(z + Z_975 / math.sqrt(5)) - math.tanh(z - Z_975 / math.sqrt(5))
    # Rank-based: any monotone transform of y leaves rho unchanged.
    assert spearman(x, np.exp(y)).value == pytest.approx(rho)


def test_icc_shrout_fleiss_worked_example() -> None:
    agreement = icc(SHROUT_FLEISS, "agreement")
    consistency = icc(SHROUT_FLEISS, "consistency")
    # Shrout & Fleiss (1979): ICC(2,1) = 0.29, ICC(3,1) = 0.71.
    assert round(agreement.value, 2) == 0.29
    assert round(consistency.value, 2) == 0.71
    assert agreement.n == consistency.n == 6
    # 95% CIs as printed by R psych::ICC on the same table: ICC2 0.019-0.761, ICC3 0.342-0.946.
    assert agreement.ci == pytest.approx((0.019, 0.761), abs=6e-4)
    assert consistency.ci == pytest.approx((0.342, 0.946), abs=6e-4)


def test_icc_agreement_penalises_a_rater_offset_but_consistency_does_not() -> None:
    rng = np.random.default_rng(7)
    truth = rng.normal(120, 30, 40)
    ratings = np.column_stack([truth + rng.normal(0, 5, 40), truth + rng.normal(0, 5, 40)])
    shifted = ratings + np.array([0.0, 25.0])  # rater 2 reads 25 units high
    assert icc(shifted, "consistency").value == pytest.approx(icc(ratings, "consistency").value)
    assert icc(shifted, "agreement").value < icc(ratings, "agreement").value - 0.2
    assert icc(ratings, "agreement").value > 0.9


def test_bad_inputs_raise_usage_errors() -> None:
    with pytest.raises(UsageError, match="differ in length"):
        bland_altman([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(UsageError, match="NaN"):
        pearson([1.0, 2.0, math.nan, 4.0], [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(UsageError, match="at least 3"):
        spearman([1.0, 2.0], [2.0, 1.0])
    with pytest.raises(UsageError, match="constant"):
        pearson([1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(UsageError, match="2-D"):
        icc([1.0, 2.0, 3.0])
    with pytest.raises(UsageError, match="form"):
        icc(SHROUT_FLEISS, "absolute")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="NaN"):
        icc([[1.0, 2.0], [math.nan, 3.0], [2.0, 2.5]])
