"""Tests of the ecg2lvm evaluation: CNN vs voltage rules, mass agreement, outcome models."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from cardiolens.measure.ecg_lvh import LVH_RULES
from cardiolens.stats.estimate import Estimate
from cardiolens.systems.ecg2lvm.evaluation import (
    RULE_SCORES,
    compare_with_rules,
    mass_metrics,
    outcome_models,
    outcome_names_in,
    predicted_lvh,
    rule_table,
)

N_RESAMPLES = 50


def _synthetic_rules(seed: int = 0, n: int = 300) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Labels, a CNN score = label + noise, and rule scores that are pure noise (no information)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(float)
    cnn = y + rng.normal(0.0, 0.5, n)
    rules = pd.DataFrame({"subject_id": [f"s{i}" for i in range(n)]})
    for rule, column in RULE_SCORES.items():
        rules[column] = rng.normal(0.0, 1.0, n)
        rules[rule] = (rules[column] > 1.0).astype(float)
    rules["any_rule"] = rules[list(LVH_RULES)].max(axis=1)
    return y, cnn, rules


def test_cnn_with_signal_beats_random_rules() -> None:
    y, cnn, rules = _synthetic_rules()
    metrics, table = compare_with_rules(y, cnn, rules, n_resamples=N_RESAMPLES)
    assert isinstance(metrics["auc_cnn"], Estimate)
    assert metrics["auc_cnn"].value > 0.85
    for rule in (*LVH_RULES, "any_rule"):
        assert abs(metrics[f"auc_{rule}"].value - 0.5) < 0.12, rule
        assert metrics[f"delong_p_{rule}"] < 0.05, rule
        assert metrics[f"sens_cnn_at_spec_{rule}"].value > metrics[f"sens_{rule}"].value, rule
    required = {"auc_cnn", "auc_any_rule", "delong_p_any_rule", "auc_sokolow_lyon", "auc_cornell_voltage",
                "auc_cornell_product", "auc_avl", "auc_peguero", "sens_cnn_at_spec_any_rule"}
    assert required <= set(metrics)
    assert len(table) == 1 + len(LVH_RULES) + 1


def test_any_rule_auc_is_mean_of_sensitivity_and_specificity() -> None:
    y, cnn, rules = _synthetic_rules(seed=3)
    rules["any_rule"] = np.where(y == 1, np.random.default_rng(1).random(len(y)) < 0.6, np.random.default_rng(2).random(len(y)) < 0.2).astype(float)
    metrics, _ = compare_with_rules(y, cnn, rules, n_resamples=N_RESAMPLES)
    sens, spec = metrics["sens_any_rule"].value, metrics["spec_any_rule"].value
    # Hand-computed sensitivity/specificity of the flag, independent of the code under test.
    flag = rules["any_rule"].to_numpy() == 1
    assert sens == pytest.approx(flag[y == 1].mean())
    assert spec == pytest.approx((~flag[y == 0]).mean())
    assert metrics["auc_any_rule"].value == pytest.approx((sens + spec) / 2.0)


def test_matched_specificity_threshold_reaches_rule_specificity() -> None:
    y, cnn, rules = _synthetic_rules(seed=5)
    metrics, table = compare_with_rules(y, cnn, rules, n_resamples=N_RESAMPLES)
    for rule in (*LVH_RULES, "any_rule"):
        assert metrics[f"spec_cnn_at_spec_{rule}"].value >= metrics[f"spec_{rule}"].value - 1e-12
        row = table[table["score"].str.startswith(rule)].iloc[0]
        called = cnn >= row["cnn_threshold"]
        assert (~called[y == 0]).mean() >= metrics[f"spec_{rule}"].value - 1e-12


def test_missing_rule_values_reduce_n_only_for_that_rule() -> None:
    y, cnn, rules = _synthetic_rules(seed=7)
    rules.loc[:49, ["cornell_voltage_margin_mv", "cornell_voltage"]] = math.nan
    metrics, _ = compare_with_rules(y, cnn, rules, n_resamples=N_RESAMPLES)
    assert metrics["n_cornell_voltage"] == len(y) - 50
    assert metrics["n_sokolow_lyon"] == len(y)
    assert metrics["auc_cnn"].n == len(y)
    assert metrics["auc_cornell_voltage"].n == len(y) - 50
    # The CNN's AUC on the rule's own subjects is the paired comparator.
    assert metrics["auc_cnn_vs_cornell_voltage"].n == len(y) - 50
    assert metrics["auc_cnn_vs_sokolow_lyon"].value == pytest.approx(metrics["auc_cnn"].value)


def test_unknown_labels_are_dropped_and_one_class_is_refused() -> None:
    y, cnn, rules = _synthetic_rules(seed=9)
    y_missing = y.copy()
    y_missing[:10] = math.nan
    metrics, _ = compare_with_rules(y_missing, cnn, rules, n_resamples=N_RESAMPLES)
    assert metrics["auc_cnn"].n == len(y) - 10
    from cardiolens.errors import UsageError

    with pytest.raises(UsageError, match="both classes"):
        compare_with_rules(np.zeros(len(y)), cnn, rules)


def test_perfect_rule_gives_auc_one() -> None:
    y, cnn, rules = _synthetic_rules(seed=11)
    rules["ravl_mv"] = y * 2.0 + 0.1
    metrics, _ = compare_with_rules(y, cnn, rules, n_resamples=N_RESAMPLES)
    assert metrics["auc_avl"].value == pytest.approx(1.0)


def test_mass_metrics_analytic() -> None:
    truth = np.array([100.0, 120.0, 140.0, 160.0, 180.0, 200.0])
    predicted = truth + 10.0 + np.array([1.0, -1.0, 1.0, -1.0, 1.0, -1.0])
    metrics = mass_metrics(truth, predicted)
    assert metrics["lv_mass_bias_g"].value == pytest.approx(10.0)
    assert metrics["lv_mass_mae_g"].value == pytest.approx(np.mean(np.abs(predicted - truth)))
    sd = np.std(predicted - truth, ddof=1)
    assert metrics["lv_mass_loa_high_g"].value == pytest.approx(10.0 + 1.96 * sd)
    assert metrics["lv_mass_pearson_r"].value == pytest.approx(np.corrcoef(truth, predicted)[0, 1])
    assert mass_metrics([1.0, math.nan], [1.0, 2.0]) == {}


def _outcome_table(seed: int = 0, n: int = 400) -> pd.DataFrame:
    """Predicted mass drives the hazard (HR 2 per SD); age and sex vary and do not."""
    rng = np.random.default_rng(seed)
    mass = rng.normal(150.0, 30.0, n)
    z = (mass - 150.0) / 30.0
    hazard = 1e-4 * np.exp(math.log(2.0) * z)
    event_time = rng.exponential(1.0 / hazard)
    censor = rng.uniform(1000.0, 5000.0, n)
    return pd.DataFrame({
        "subject_id": [f"s{i}" for i in range(n)],
        "age": rng.uniform(40.0, 80.0, n),
        "sex": rng.choice(["M", "F"], n),
        "lv_mass_g_pred": mass,
        "lvh_probability": 1.0 / (1.0 + np.exp(-2.0 * (z - 0.5))),
        "hf_time_days": np.minimum(event_time, censor),
        "hf_event": (event_time <= censor).astype(int),
    })


def test_outcome_models_recover_planted_effect(tmp_path) -> None:
    table = _outcome_table()
    assert outcome_names_in(table) == ["hf"]
    metrics, rows = outcome_models(table, ["hf"], plot_dir=tmp_path, n_resamples=20)
    hr_sd = metrics["cox_hr_hf_per_sd_mass"]
    assert isinstance(hr_sd, Estimate)
    assert hr_sd.value > 1.3 and hr_sd.ci_low > 1.0  # planted HR 2 per SD
    assert metrics["cox_hr_hf_pred_lvh"].value > 1.0
    assert metrics["c_index_hf"].value > 0.6
    assert metrics["logrank_p_hf"] < 0.05
    assert (tmp_path / "km_hf.png").read_bytes()[:4] == b"\x89PNG"
    assert set(rows["exposure"]) == {"pred_lvh", "per_sd_mass"}
    assert (rows["adjusted_for"] == "age, male").all()


def test_outcome_models_without_lvh_head_use_top_tertile_and_skip_constant_sex() -> None:
    table = _outcome_table(seed=2).drop(columns=["lvh_probability"])
    table["sex"] = "F"
    called, definition = predicted_lvh(table)
    assert "tertile" in definition
    assert called.mean() == pytest.approx(1.0 / 3.0, abs=0.01)
    metrics, rows = outcome_models(table, n_resamples=0)
    assert metrics["cox_hr_hf_per_sd_mass"].value > 1.0
    assert (rows["adjusted_for"] == "age").all()
    assert rows["note"].str.contains("male").all()


def test_rule_table_records_failures_without_crashing() -> None:
    from dataclasses import replace

    from cardiolens.synth.ecg import simulate_ecg

    good = simulate_ecg(np.random.default_rng(1), lv_mass_g=180.0, sex="M", age_years=55.0, subject_id="good")
    # A flat record has no R peaks: measure_ecg raises, the row must be NaN with the error noted.
    flat = replace(good, signal_mv=np.zeros_like(good.signal_mv), subject_id="flat")
    dataset = SimpleNamespace(
        subject_ids=["good", "flat"], ecgs=[good, flat], table=pd.DataFrame({"subject_id": ["good", "flat"], "sex": ["M", "F"]})
    )
    rules = rule_table(dataset)
    assert list(rules["subject_id"]) == ["good", "flat"]
    assert rules.loc[0, "rule_error"] == ""
    assert math.isfinite(rules.loc[0, "sokolow_lyon_mv"])
    assert rules.loc[0, "cornell_voltage_margin_mv"] == pytest.approx(rules.loc[0, "cornell_voltage_mv"] - 2.8)
    assert rules.loc[1, "rule_error"] != ""
    assert math.isnan(rules.loc[1, "sokolow_lyon_mv"])


def test_voltage_rules_discriminate_ptbxl_lvh_statements(shared_data) -> None:
    """Real data: PTB-XL LVH statements are partly voltage-based, so the rules must beat chance."""
    from cardiolens.systems.ecg2lvm.config import Ecg2LvmConfig
    from cardiolens.systems.ecg2lvm.data import load_dataset

    dataset = load_dataset(shared_data / "ptbxl", Ecg2LvmConfig())
    table = dataset.table
    lvh = np.flatnonzero(table["lvh"].to_numpy() == 1)
    normal = np.flatnonzero(table["lvh"].to_numpy() == 0)[:40]
    keep = np.concatenate([lvh, normal])
    subset = SimpleNamespace(
        subject_ids=[dataset.subject_ids[i] for i in keep],
        ecgs=[dataset.ecgs[i] for i in keep],
        table=table.iloc[keep].reset_index(drop=True),
    )
    rules = rule_table(subset)
    assert (rules["rule_error"] == "").mean() > 0.9
    y = subset.table["lvh"].to_numpy(dtype=float)
    chance = np.random.default_rng(0).random(len(y))
    metrics, _ = compare_with_rules(y, chance, rules, n_resamples=N_RESAMPLES)
    assert len(lvh) >= 10
    assert metrics["auc_sokolow_lyon"].value > 0.7
    assert metrics["auc_any_rule"].value > 0.6


def _write_csv_cohort(folder: Path, rng: np.random.Generator, ids: list[str]) -> Path:
    """Simulated ECGs (WFDB) + a CSV table with masses, demographics and HF outcomes."""
    from cardiolens.io.wfdb_io import write_wfdb
    from cardiolens.synth.ecg import simulate_ecg
    from cardiolens.synth.outcomes import simulate_outcomes

    folder.mkdir(parents=True, exist_ok=True)
    n = len(ids)
    sex = np.where(np.arange(n) % 2 == 0, "M", "F")
    mass = np.where(sex == "M", 150.0, 110.0) * rng.choice([0.8, 1.5], n)
    age = rng.uniform(40.0, 75.0, n)
    rows = []
    for i, sid in enumerate(ids):
        ecg = simulate_ecg(rng, lv_mass_g=mass[i], sex=sex[i], age_years=age[i], subject_id=sid, fs_hz=250.0)
        write_wfdb(ecg, folder / sid)
        rows.append({"subject_id": sid, "record": sid, "lv_mass_g": mass[i], "age": age[i], "sex": sex[i],
                     "height_cm": 170.0 if sex[i] == "M" else 160.0, "weight_kg": 75.0})
    table = pd.DataFrame(rows)
    outcomes = simulate_outcomes(rng, mass, age, sex, outcomes=["hf"], hr_per_sd_mass={"hf": 3.0})
    table = pd.concat([table, outcomes.reset_index(drop=True)], axis=1)
    path = folder / "table.csv"
    table.to_csv(path, index=False)
    return path


def test_evaluate_writes_metrics_and_refuses_training_subjects(tmp_path) -> None:
    import json

    from cardiolens.errors import UsageError
    from cardiolens.systems.ecg2lvm.config import Ecg2LvmConfig
    from cardiolens.systems.ecg2lvm.evaluation import evaluate
    from cardiolens.systems.ecg2lvm.training import train

    rng = np.random.default_rng(0)
    train_csv = _write_csv_cohort(tmp_path / "train", rng, [f"T{i:03d}" for i in range(16)])
    test_csv = _write_csv_cohort(tmp_path / "test", rng, [f"E{i:03d}" for i in range(30)])
    model = train(train_csv, tmp_path / "model", Ecg2LvmConfig(epochs=1, batch_size=8, width=8, depth=2, augment=False))

    out = evaluate(model, test_csv, tmp_path / "eval", n_resamples=20)
    document = json.loads((out / "metrics.json").read_text())
    assert document["system"] == "ecg2lvm"
    assert document["data"]["n_subjects"] == 30
    metrics = document["metrics"]
    for key in ("auc_cnn", "auc_any_rule", "delong_p_any_rule", "auc_sokolow_lyon", "lv_mass_pearson_r",
                "lv_mass_bias_g", "lv_mass_mae_g", "cox_hr_hf_per_sd_mass", "c_index_hf"):
        assert key in metrics, key
        assert set(metrics[key]) == {"value", "ci"}
    assert metrics["auc_cnn"]["ci"] is not None
    predictions = pd.read_csv(out / "predictions.csv")
    assert len(predictions) == 30
    assert {"subject_id", "lv_mass_g_pred", "lvh_probability", "lv_mass_g", "sokolow_lyon_mv", "any_rule"} <= set(predictions.columns)
    html = (out / "report.html").read_text()
    assert "CNN vs ECG voltage rules" in html and "data:image/png;base64" in html

    with pytest.raises(UsageError, match="used to train"):
        evaluate(model, train_csv, tmp_path / "eval_leak")
    assert not (tmp_path / "eval_leak" / "metrics.json").exists()
