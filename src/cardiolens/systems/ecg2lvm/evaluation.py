"""Evaluate an ``ecg2lvm`` model: the CNN against the ECG voltage rules, LV-mass agreement, outcomes.

What is computed (METHODS.md sections 4 and 5):

* Voltage rules per ECG (:func:`rule_table`): :func:`cardiolens.measure.ecg.measure_ecg`
  then :func:`cardiolens.measure.ecg_lvh.lvh_criteria` (Sokolow-Lyon, Cornell voltage,
  Cornell product, aVL, Peguero-Lo Presti, any rule). An ECG that cannot be measured
  gets NaN values and its error in ``rule_error``; it never stops the evaluation.
* LVH discrimination (:func:`compare_with_rules`): ROC-AUC with DeLong 95% CIs
  (DeLong 1988, fast algorithm of Sun & Xu 2014) of the CNN probability and of each
  rule's continuous voltage; the paired DeLong test CNN vs each rule on the subjects
  that rule could be computed for; sensitivity/specificity (Wilson CIs) of each rule
  flag at its published threshold and of the CNN at the lowest probability threshold
  whose specificity reaches the rule's (sensitivity at matched specificity).
  Sex-specific thresholds (Cornell voltage, Peguero) are scored as the margin over the
  subject's own threshold so men and women share one scale; the Cornell product
  already carries the female add-on and one threshold (244 mV*ms).
  ``any_rule`` is binary: its AUC equals (sensitivity + specificity) / 2.
* LV mass (:func:`mass_metrics`): Pearson r (Fisher z CI), Bland-Altman bias and
  limits of agreement (Bland & Altman, Lancet 1986), mean absolute error (t CI).
* Outcomes (:func:`outcome_models`): Cox proportional-hazards models (Breslow partial
  likelihood via lifelines; HR = exp(b), Wald CI exp(b +/- 1.96 SE); Schoenfeld
  proportional-hazards test) adjusted for age and sex, one on predicted LVH and one on
  predicted LV mass per SD; Harrell's C; Kaplan-Meier by predicted LVH with log-rank p.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from cardiolens.data.labels import sex_code
from cardiolens.errors import CardiolensError, UsageError
from cardiolens.measure.ecg import measure_ecg
from cardiolens.measure.ecg_lvh import (
    CORNELL_VOLTAGE_MV,
    LVH_RULES,
    PEGUERO_MV,
    lvh_criteria,
)
from cardiolens.stats.agreement import bland_altman, pearson
from cardiolens.stats.auc import delong_test, roc_auc_ci
from cardiolens.stats.diagnostic import (
    diagnostic_metrics,
    diagnostic_metrics_at_threshold,
    threshold_at_specificity,
)
from cardiolens.stats.estimate import Estimate
from cardiolens.stats.survival import fit_cox, kaplan_meier, plot_kaplan_meier

SYSTEM: Final[str] = "ecg2lvm"

#: Rule -> the continuous score column used for its AUC (higher = more LVH-like).
RULE_SCORES: Final[Mapping[str, str]] = {
    "sokolow_lyon": "sokolow_lyon_mv",
    "cornell_voltage": "cornell_voltage_margin_mv",
    "cornell_product": "cornell_product_mv_ms",
    "avl": "ravl_mv",
    "peguero": "peguero_margin_mv",
}
#: Probability at or above which the CNN calls LVH in the outcome models.
LVH_PROBABILITY_CUTOFF: Final[float] = 0.5
_OUTCOME_TIME = re.compile(r"^(?P<name>.+)_time_days$")

Metrics = dict[str, Estimate | float]


# ----------------------------------------------------------------------------- rules


def _sex_or_none(value: object) -> str | None:
    try:
        return sex_code(value)
    except UsageError:
        return None


def rule_table(dataset: Any) -> pd.DataFrame:
    """Measure every ECG of ``dataset`` and evaluate the LVH voltage rules.

    Args:
        dataset: an ``EcgDataset`` (``subject_ids``, ``ecgs`` as read, ``table`` with a
            ``sex`` column of "M"/"F" spellings; unknown sex leaves the sex-specific rules NaN).

    Returns:
        One row per subject: ``subject_id``; voltages ``sokolow_lyon_mv``,
        ``cornell_voltage_mv``, ``cornell_voltage_margin_mv`` (RaVL + SV3 minus the
        sex threshold 2.8/2.0 mV), ``cornell_product_mv_ms``, ``ravl_mv``, ``peguero_mv``,
        ``peguero_margin_mv`` (minus 2.8/2.3 mV), ``qrs_duration_ms``; one 0/1 flag
        column per rule and ``any_rule`` (NaN when not evaluable); ``rule_error`` (the
        error message of an ECG that could not be measured, else empty).
    """
    sexes = _table_column(dataset, "sex")
    rows: list[dict[str, Any]] = []
    for i, (subject_id, ecg) in enumerate(zip(dataset.subject_ids, dataset.ecgs, strict=True)):
        sex = _sex_or_none(sexes[i]) if sexes is not None else None
        rows.append(_rule_row(str(subject_id), ecg, sex))
    columns = ["subject_id", *_RULE_VALUE_COLUMNS, *LVH_RULES, "any_rule", "rule_error"]
    return pd.DataFrame(rows, columns=columns)


_RULE_VALUE_COLUMNS: Final[tuple[str, ...]] = (
    "sokolow_lyon_mv",
    "cornell_voltage_mv",
    "cornell_voltage_margin_mv",
    "cornell_product_mv_ms",
    "ravl_mv",
    "peguero_mv",
    "peguero_margin_mv",
    "qrs_duration_ms",
)


def _flag(value: bool | None) -> float:
    return math.nan if value is None else float(value)


def _rule_row(subject_id: str, ecg: Any, sex: str | None) -> dict[str, Any]:
    row: dict[str, Any] = {"subject_id": subject_id, "rule_error": ""}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # neurokit2 warns on short or noisy records
            measured = measure_ecg(ecg, sex=sex)
        criteria = lvh_criteria(measured, sex)
    except CardiolensError as exc:
        row.update({name: math.nan for name in (*_RULE_VALUE_COLUMNS, *LVH_RULES, "any_rule")})
        row["rule_error"] = str(exc)
        return row
    product = criteria.cornell_product_mv_ms
    row.update(
        sokolow_lyon_mv=criteria.sokolow_lyon_mv,
        cornell_voltage_mv=criteria.cornell_voltage_mv,
        cornell_voltage_margin_mv=(
            criteria.cornell_voltage_mv - CORNELL_VOLTAGE_MV[sex] if sex is not None else math.nan
        ),
        cornell_product_mv_ms=math.nan if product is None else product,
        ravl_mv=criteria.ravl_mv,
        peguero_mv=criteria.peguero_mv,
        peguero_margin_mv=criteria.peguero_mv - PEGUERO_MV[sex] if sex is not None else math.nan,
        qrs_duration_ms=measured.qrs_duration_ms,
        any_rule=_flag(criteria.any_rule),
        **{rule: _flag(flag) for rule, flag in criteria.flags().items()},
    )
    # A rule on an unreliable lead has no flag; its voltage is not trusted either.
    for rule, column in RULE_SCORES.items():
        if math.isnan(row[rule]):
            row[column] = math.nan
    return row


# ----------------------------------------------------------------------------- discrimination


def _clean_pairs(y_true: Any, score: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=float)
    s = np.asarray(score, dtype=float)
    if y.ndim != 1 or s.shape != y.shape:
        raise UsageError(f"y_true_lvh and cnn_probability must be 1-D of equal length, got {y.shape} and {s.shape}")
    return y, s


def _both_classes(y: np.ndarray) -> bool:
    return y.size > 0 and 0 < int(y.sum()) < y.size


def compare_with_rules(
    y_true_lvh: Sequence[float] | np.ndarray,
    cnn_probability: Sequence[float] | np.ndarray,
    rules: pd.DataFrame,
    *,
    n_resamples: int = 500,
    seed: int = 0,
) -> tuple[Metrics, pd.DataFrame]:
    """LVH discrimination of the CNN against each voltage rule (DeLong AUCs, paired tests, matched specificity).

    Subjects with an unknown label or CNN probability are dropped everywhere; a subject
    whose rule value is missing drops out of that rule's comparison only (its ``n``).

    Args:
        y_true_lvh: reference LVH per subject (0/1; NaN = unknown), e.g. CMR LV mass index
            above the sex-specific upper limit.
        cnn_probability: CNN LVH probability per subject (higher = more likely LVH).
        rules: :func:`rule_table` rows in the same subject order (score columns of
            :data:`RULE_SCORES`, 0/1 flag columns per rule and ``any_rule``).
        n_resamples, seed: bootstrap settings of the balanced accuracy inside
            :func:`cardiolens.stats.diagnostic.diagnostic_metrics`.

    Returns:
        ``(metrics, table)``. Metrics: ``auc_cnn``; per rule R (the five rules and
        ``any_rule``) ``auc_R`` (DeLong CI), ``auc_cnn_vs_R`` (the CNN on the same
        subjects), ``delong_p_R``, ``sens_R``/``spec_R`` (Wilson CIs, rule at its own
        threshold), ``sens_cnn_at_spec_R``/``spec_cnn_at_spec_R`` and ``n_R``.
        ``auc_any_rule`` is the AUC of a binary score, i.e. (sensitivity + specificity) / 2.
        Table: one row per rule with the same numbers for the report.
    """
    y_all, p_all = _clean_pairs(y_true_lvh, cnn_probability)
    if len(rules) != y_all.size:
        raise UsageError(f"rules has {len(rules)} rows but there are {y_all.size} subjects")
    known = np.isfinite(y_all) & np.isfinite(p_all)
    y, p = y_all[known], p_all[known]
    metrics: Metrics = {}
    if not _both_classes(y):
        raise UsageError(f"LVH comparison needs both classes among the {y.size} labelled subjects")
    metrics["auc_cnn"] = roc_auc_ci(y, p)
    rows: list[dict[str, Any]] = [_cnn_row(metrics["auc_cnn"], y)]  # type: ignore[arg-type]
    for rule in (*LVH_RULES, "any_rule"):
        score_column = RULE_SCORES.get(rule, "any_rule")
        score = rules[score_column].to_numpy(dtype=float)[known] if score_column in rules else np.full(y.size, np.nan)
        flags = rules[rule].to_numpy(dtype=float)[known] if rule in rules else np.full(y.size, np.nan)
        rule_metrics, row = _compare_one(rule, y, p, score, flags, n_resamples, seed)
        metrics.update(rule_metrics)
        rows.append(row)
    return metrics, pd.DataFrame(rows)


def _cnn_row(auc: Estimate, y: np.ndarray) -> dict[str, Any]:
    return {
        "score": "CNN probability",
        "n": y.size,
        "n_lvh": int(y.sum()),
        "auc": auc.value,
        "auc_ci_low": auc.ci_low,
        "auc_ci_high": auc.ci_high,
    }


def _compare_one(
    rule: str, y: np.ndarray, p: np.ndarray, score: np.ndarray, flags: np.ndarray, n_resamples: int, seed: int
) -> tuple[Metrics, dict[str, Any]]:
    metrics: Metrics = {}
    label = rule if rule == "any_rule" else f"{rule} ({RULE_SCORES[rule]})"
    row: dict[str, Any] = {"score": label}
    usable = np.isfinite(score)
    yr, pr, sr = y[usable], p[usable], score[usable]
    metrics[f"n_{rule}"] = float(yr.size)
    row.update(n=int(yr.size), n_lvh=int(yr.sum()))
    if not _both_classes(yr):
        row["note"] = "one class only among subjects with this rule"
        for name in (f"auc_{rule}", f"delong_p_{rule}", f"sens_{rule}", f"spec_{rule}", f"sens_cnn_at_spec_{rule}"):
            metrics[name] = math.nan
        return metrics, row
    test = delong_test(yr, pr, sr)
    metrics[f"auc_{rule}"] = test.auc_b
    metrics[f"auc_cnn_vs_{rule}"] = test.auc_a
    metrics[f"delong_p_{rule}"] = test.p_value
    row.update(
        auc=test.auc_b.value,
        auc_ci_low=test.auc_b.ci_low,
        auc_ci_high=test.auc_b.ci_high,
        auc_cnn_same_subjects=test.auc_a.value,
        delong_p=test.p_value,
    )
    flag_known = np.isfinite(flags)
    yf, ff, pf = y[flag_known], flags[flag_known], p[flag_known]
    if not _both_classes(yf):
        return metrics, row
    at_rule = diagnostic_metrics(yf, ff.astype(bool), n_resamples=n_resamples, seed=seed)
    threshold = threshold_at_specificity(yf, pf, at_rule.specificity.value)
    cnn = diagnostic_metrics_at_threshold(yf, pf, threshold, n_resamples=n_resamples, seed=seed)
    metrics[f"sens_{rule}"] = at_rule.sensitivity
    metrics[f"spec_{rule}"] = at_rule.specificity
    metrics[f"sens_cnn_at_spec_{rule}"] = cnn.sensitivity
    metrics[f"spec_cnn_at_spec_{rule}"] = cnn.specificity
    row.update(
        sensitivity=at_rule.sensitivity.value,
        specificity=at_rule.specificity.value,
        cnn_threshold=threshold,
        cnn_sensitivity_at_matched_spec=cnn.sensitivity.value,
        cnn_specificity=cnn.specificity.value,
    )
    return metrics, row


# ----------------------------------------------------------------------------- mass


def _mean_abs_error(errors: np.ndarray) -> Estimate:
    n = errors.size
    value = float(errors.mean())
    if n < 2:
        return Estimate(value, None, None, "mean absolute error (CI undefined: n < 2)", n)
    half = float(scipy_stats.t.ppf(0.975, n - 1) * errors.std(ddof=1) / math.sqrt(n))
    return Estimate(value, max(0.0, value - half), value + half, "mean absolute error, t-based CI", n)


def mass_metrics(
    true_values: Sequence[float] | np.ndarray,
    predicted: Sequence[float] | np.ndarray,
    *,
    prefix: str = "lv_mass",
    unit: str = "g",
) -> Metrics:
    """Agreement of predicted and reference LV mass (pairs with a NaN are dropped).

    Methods: Pearson r with a Fisher z 95% CI; Bland-Altman bias and 95% limits of
    agreement of predicted minus reference (Bland & Altman, Lancet 1986; CIs after
    Bland & Altman 1999); mean absolute error with a t-based CI.

    Returns:
        ``{prefix}_pearson_r``, ``{prefix}_bias_{unit}``, ``{prefix}_loa_low_{unit}``,
        ``{prefix}_loa_high_{unit}``, ``{prefix}_mae_{unit}`` and ``{prefix}_n``;
        empty when fewer than 3 complete pairs exist.
    """
    truth, pred = _clean_pairs(true_values, predicted)
    ok = np.isfinite(truth) & np.isfinite(pred)
    truth, pred = truth[ok], pred[ok]
    if truth.size < 3:
        return {}
    agreement = bland_altman(pred, truth, unit=unit)
    metrics: Metrics = {
        f"{prefix}_bias_{unit}": agreement.bias,
        f"{prefix}_loa_low_{unit}": agreement.loa_low,
        f"{prefix}_loa_high_{unit}": agreement.loa_high,
        f"{prefix}_mae_{unit}": _mean_abs_error(np.abs(pred - truth)),
        f"{prefix}_n": float(truth.size),
    }
    if np.ptp(truth) > 0 and np.ptp(pred) > 0:
        metrics[f"{prefix}_pearson_r"] = pearson(pred, truth)
    return metrics


# ----------------------------------------------------------------------------- outcomes


def outcome_names_in(table: pd.DataFrame) -> list[str]:
    """Outcome names ``o`` with both ``{o}_time_days`` and ``{o}_event`` columns in ``table``."""
    names = []
    for column in table.columns:
        match = _OUTCOME_TIME.match(str(column))
        if match and f"{match['name']}_event" in table.columns:
            names.append(match["name"])
    return names


def _male(values: pd.Series) -> pd.Series:
    """1.0 for men, 0.0 for women, NaN when unknown ("M"/"F" spellings)."""
    codes = values.map(_sex_or_none)
    return codes.map({"M": 1.0, "F": 0.0}).astype(float)


def predicted_lvh(table: pd.DataFrame) -> tuple[pd.Series, str]:
    """Predicted LVH (0/1) per subject and how it was defined.

    The CNN LVH probability >= 0.5 when an ``lvh_probability`` column exists and the
    cut-off splits the subjects into two groups; otherwise (no LVH head, or a head
    that calls everybody the same) the top tertile of predicted LV mass
    (``lv_mass_g_pred`` >= its 2/3 quantile), so both groups exist for Cox and KM.
    """
    if "lvh_probability" in table:
        probability = table["lvh_probability"].astype(float)
        called = (probability >= LVH_PROBABILITY_CUTOFF).astype(float).where(probability.notna())
        if called.nunique(dropna=True) == 2:
            return called, f"CNN LVH probability >= {LVH_PROBABILITY_CUTOFF}"
    if "lv_mass_g_pred" not in table:
        raise UsageError("predicted LVH needs an lvh_probability or lv_mass_g_pred column")
    mass = table["lv_mass_g_pred"].astype(float)
    cut = float(mass.quantile(2.0 / 3.0))
    return (mass >= cut).astype(float).where(mass.notna()), f"top tertile of predicted LV mass (>= {cut:.1f} g)"


def outcome_models(
    table_with_predictions: pd.DataFrame,
    outcome_names: Sequence[str] | None = None,
    *,
    plot_dir: str | Path | None = None,
    n_resamples: int = 200,
    seed: int = 0,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Age- and sex-adjusted Cox models of outcomes on predicted LVH and on predicted LV mass per SD.

    For each outcome ``o`` with ``{o}_time_days`` and ``{o}_event`` columns: model 1 is
    Cox(predicted LVH [see :func:`predicted_lvh`], age, male), model 2 is
    Cox(predicted LV mass, age, male) with the mass HR reported per SD. Age or sex is
    left out (and said so) when it is constant or missing for everybody. Subjects with
    a missing value in a model's columns drop out of that model. Kaplan-Meier curves
    by predicted LVH with the log-rank test are computed and, with ``plot_dir``,
    written as ``km_{o}.png``.

    Args:
        table_with_predictions: one row per subject with ``lv_mass_g_pred`` and/or
            ``lvh_probability``, ``age``, ``sex`` ("M"/"F") and the outcome columns.
        outcome_names: outcomes to model; None = every pair present.
        plot_dir: folder for the KM PNGs (None = no plots).
        n_resamples, seed: bootstrap of the C-index CI.

    Returns:
        ``(metrics, table)``: metrics ``cox_hr_{o}_pred_lvh``, ``cox_hr_{o}_per_sd_mass``
        (Estimates), ``c_index_{o}`` (Harrell C of the mass model's linear predictor,
        apparent), ``c_index_{o}_pred_lvh``, ``cox_p_{o}_pred_lvh``, ``cox_p_{o}_per_sd_mass``,
        ``ph_p_{o}_pred_lvh``/``ph_p_{o}_per_sd_mass`` (Schoenfeld test of the exposure),
        ``logrank_p_{o}``; ``metrics["km_plots"]`` maps outcome to PNG path and
        ``metrics["pred_lvh_definition"]`` says how predicted LVH was defined.
        Table: one row per outcome and model.
    """
    frame = table_with_predictions.copy()
    names = list(outcome_names) if outcome_names is not None else outcome_names_in(frame)
    missing = [o for o in names if f"{o}_time_days" not in frame or f"{o}_event" not in frame]
    if missing:
        raise UsageError(f"outcome column(s) missing for {', '.join(missing)} (need <o>_time_days and <o>_event)")
    frame["pred_lvh"], definition = predicted_lvh(frame)
    frame["male"] = _male(frame["sex"]) if "sex" in frame else math.nan
    frame["age"] = frame["age"].astype(float) if "age" in frame else math.nan
    metrics: dict[str, Any] = {"pred_lvh_definition": definition, "km_plots": {}}
    rows: list[dict[str, Any]] = []
    for outcome in names:
        time, event = f"{outcome}_time_days", f"{outcome}_event"
        data = frame.copy()
        data[event] = data[event].astype(float)
        for exposure, tag in (("pred_lvh", "pred_lvh"), ("lv_mass_g_pred", "per_sd_mass")):
            row, found = _cox_row(data, outcome, exposure, tag, time, event, n_resamples, seed)
            metrics.update(found)
            rows.append(row)
        km_p, plot = _kaplan_meier(data, outcome, time, event, plot_dir)
        metrics[f"logrank_p_{outcome}"] = km_p
        if plot is not None:
            metrics["km_plots"][outcome] = str(plot)
    return metrics, pd.DataFrame(rows)


def _cox_row(
    data: pd.DataFrame, outcome: str, exposure: str, tag: str, time: str, event: str, n_resamples: int, seed: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    row: dict[str, Any] = {"outcome": outcome, "exposure": tag}
    found: dict[str, Any] = {f"cox_hr_{outcome}_{tag}": math.nan}
    if exposure not in data:
        row["note"] = f"no {exposure} column"
        return row, found
    covariates = [exposure]
    subset = data.dropna(subset=[exposure, time, event])
    for adjust in ("age", "male"):
        # Adjust only where the covariate is known and varies: a constant cannot enter a Cox model.
        values = subset[adjust].dropna()
        if len(values) == len(subset) and values.nunique() > 1:
            covariates.append(adjust)
        else:
            row.setdefault("note", "")
            row["note"] += f"not adjusted for {adjust} (missing or constant); "
    subset = subset.dropna(subset=covariates)
    row.update(n=len(subset), n_events=int(subset[event].sum()) if len(subset) else 0, adjusted_for=", ".join(covariates[1:]))
    try:
        result = fit_cox(
            subset, covariates, time=time, event=event,
            per_sd=[exposure] if tag == "per_sd_mass" else [], n_resamples=n_resamples, seed=seed,
        )
    except CardiolensError as exc:
        row["note"] = row.get("note", "") + str(exc)
        return row, found
    hr = result.hazard_ratios_per_sd[exposure] if tag == "per_sd_mass" else result.hazard_ratios[exposure]
    c_name = f"c_index_{outcome}" if tag == "per_sd_mass" else f"c_index_{outcome}_{tag}"
    found.update({
        f"cox_hr_{outcome}_{tag}": hr,
        f"cox_p_{outcome}_{tag}": result.p_values[exposure],
        f"ph_p_{outcome}_{tag}": result.ph_p_values.get(exposure, math.nan),
        c_name: result.c_index,
    })
    row.update(
        hr=hr.value, hr_ci_low=hr.ci_low, hr_ci_high=hr.ci_high, p=result.p_values[exposure],
        c_index=result.c_index.value, ph_p=result.ph_p_values.get(exposure, math.nan),
        ph_ok=result.proportional_hazards_ok,
    )
    return row, found


def _kaplan_meier(
    data: pd.DataFrame, outcome: str, time: str, event: str, plot_dir: str | Path | None
) -> tuple[float, Path | None]:
    subset = data.dropna(subset=["pred_lvh", time, event]).copy()
    if subset.empty:
        return math.nan, None
    subset["predicted LVH"] = subset["pred_lvh"].map({1.0: "yes", 0.0: "no"})
    try:
        km = kaplan_meier(subset, group="predicted LVH", time=time, event=event)
    except CardiolensError:
        return math.nan, None
    plot = None
    if plot_dir is not None:
        plot = plot_kaplan_meier(km, Path(plot_dir) / f"km_{outcome}.png", title=f"{outcome} by predicted LVH")
    return (math.nan if km.logrank_p is None else km.logrank_p), plot


# ----------------------------------------------------------------------------- figures


def roc_figure(y_true_lvh: np.ndarray, scores: Mapping[str, np.ndarray]) -> bytes:
    """PNG of ROC curves (one per score; NaN scores dropped per curve) on the same labels."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from sklearn.metrics import roc_curve

    fig = Figure(figsize=(5.5, 5), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for name, score in scores.items():
        ok = np.isfinite(score) & np.isfinite(y_true_lvh)
        if not _both_classes(y_true_lvh[ok]):
            continue
        fpr, tpr, _ = roc_curve(y_true_lvh[ok].astype(int), score[ok])
        ax.plot(fpr, tpr, label=name, lw=2.0 if name.startswith("CNN") else 1.2)
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", title="LVH: CNN vs ECG voltage rules")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


# ----------------------------------------------------------------------------- evaluate


def _table_column(dataset: Any, name: str) -> list[Any] | None:
    table = getattr(dataset, "table", None)
    if table is None or name not in table:
        return None
    return table[name].tolist()


def _config_from_card(card_config: Mapping[str, Any]) -> Any:
    from cardiolens.systems.ecg2lvm.config import Ecg2LvmConfig

    return Ecg2LvmConfig.from_dict(dict(card_config))


def _has(frame: pd.DataFrame, column: str) -> bool:
    return column in frame and frame[column].notna().any()


def evaluate(model_dir: str | Path, data: str | Path, out: str | Path, *, n_resamples: int = 500) -> Path:
    """Evaluate an ``ecg2lvm`` model on ``data`` and write ``metrics.json``, ``predictions.csv``, ``report.html``.

    Steps: read the model card (must be an ``ecg2lvm`` model); load the data with the
    card's config; refuse subjects the model was trained on; predict; measure the
    voltage rules; compare the CNN with the rules when LVH labels of both classes
    exist; LV-mass agreement when reference masses exist (indexed by BSA when
    predicted indexed mass exists); outcome models when outcome columns exist.
    Records that fail to load are listed in the report's "Bad cases" section.

    Args:
        model_dir: a model directory written by ``ecg2lvm`` training.
        data: PTB-XL folder, simulated-cohort folder, WFDB folder or CSV table.
        out: output folder (created).
        n_resamples: bootstrap resamples for balanced-accuracy and C-index CIs.

    Returns:
        ``out``.
    """
    from cardiolens.report.html import HtmlReport
    from cardiolens.systems.ecg2lvm.data import load_dataset
    from cardiolens.systems.ecg2lvm.prediction import predict_dataset
    from cardiolens.systems.evaluation import metrics_document, metrics_table, write_evaluation
    from cardiolens.systems.model_dir import (
        read_card,
        refuse_trained_subjects,
        require_system,
    )

    card = read_card(model_dir)
    require_system(card, SYSTEM, model_dir)
    config = _config_from_card(card.config)
    dataset = load_dataset(data, config)
    if dataset.layout == "ptbxl":  # report on the held-out folds only (see Ecg2LvmConfig)
        folds = dataset.table["fold"].to_numpy()
        dataset = dataset.subset([s for s, f in zip(dataset.subject_ids, folds, strict=True) if f in config.test_folds])
    refuse_trained_subjects(card, dataset.subject_ids, data)
    # "simulated" describes the evaluation data; the card records whether training data was simulated.
    simulated = dataset.layout == "synthetic" or bool(getattr(dataset, "simulated", False))

    predictions = predict_dataset(model_dir, dataset)
    rules = rule_table(dataset)
    table = dataset.table.copy()
    table["subject_id"] = table["subject_id"].astype(str)
    merged = table.merge(predictions, on="subject_id", how="left").merge(rules, on="subject_id", how="left")

    metrics: Metrics = {}
    report = HtmlReport(f"ecg2lvm evaluation: {Path(data).name}", simulated=simulated)
    report.paragraph(
        f"Data {data} (layout {dataset.layout}, {len(dataset.subject_ids)} subjects, "
        f"{len(dataset.bad_cases)} bad records). Model {model_dir}."
    )
    notes: list[str] = []

    if _has(merged, "lvh") and _has(merged, "lvh_probability"):
        y = merged["lvh"].to_numpy(dtype=float)
        p = merged["lvh_probability"].to_numpy(dtype=float)
        known = np.isfinite(y) & np.isfinite(p)
        if _both_classes(y[known]):
            found, comparison = compare_with_rules(y, p, merged, n_resamples=n_resamples)
            metrics.update(found)
            report.heading("LVH: CNN vs ECG voltage rules")
            report.paragraph(
                "AUC with DeLong 95% CI; p = paired DeLong test against the CNN on the subjects the rule "
                "could be computed for. Sensitivity/specificity at each rule's published threshold, and "
                "the CNN's sensitivity at the probability threshold matching the rule's specificity. "
                "Cornell voltage and Peguero are scored as the margin over the sex-specific threshold; "
                "any_rule is binary, so its AUC equals (sensitivity + specificity) / 2."
            )
            report.table(comparison)
            scores = {"CNN probability": p, **{r: merged[c].to_numpy(dtype=float) for r, c in RULE_SCORES.items()}}
            report.figure(roc_figure(y, scores), "ROC curves of the CNN LVH probability and the rule voltages")
        else:
            notes.append("LVH comparison skipped: the labelled subjects hold only one class")
    else:
        notes.append("LVH comparison skipped: no LVH labels")

    if _has(merged, "lv_mass_g") and _has(merged, "lv_mass_g_pred"):
        found = mass_metrics(merged["lv_mass_g"], merged["lv_mass_g_pred"], prefix="lv_mass", unit="g")
        if _has(merged, "lv_mass_index_g_m2_pred") and _has(merged, "bsa_m2"):
            true_index = merged["lv_mass_g"].astype(float) / merged["bsa_m2"].astype(float)
            found.update(
                mass_metrics(true_index, merged["lv_mass_index_g_m2_pred"], prefix="lv_mass_index", unit="g_m2")
            )
        metrics.update(found)
        if found:
            report.heading("LV mass: predicted vs reference")
            report.table(metrics_table(found))

    outcomes = outcome_names_in(merged)
    km_figures: dict[str, Path] = {}
    if outcomes:
        with tempfile.TemporaryDirectory() as plot_dir:
            found_outcomes, outcome_rows = outcome_models(merged, outcomes, plot_dir=plot_dir, n_resamples=n_resamples)
            km_figures = {o: Path(p) for o, p in found_outcomes.pop("km_plots").items()}
            definition = found_outcomes.pop("pred_lvh_definition")
            metrics.update({k: v for k, v in found_outcomes.items()})
            report.heading("Outcomes: age/sex-adjusted Cox models")
            report.paragraph(
                f"Predicted LVH = {definition}. Mass HR per SD of predicted LV mass. C-index = apparent Harrell C "
                "of the mass model; ph_p = Schoenfeld test of the exposure."
            )
            report.table(outcome_rows)
            for outcome, png in km_figures.items():
                report.figure(png.read_bytes(), f"Kaplan-Meier: {outcome} by predicted LVH")
    for note in notes:
        report.paragraph(note)

    if dataset.bad_cases:
        report.heading("Bad cases")
        report.table(pd.DataFrame([dataclasses.asdict(b) for b in dataset.bad_cases]))
    failed = rules[rules["rule_error"] != ""]
    if not failed.empty:
        report.heading("ECGs the voltage rules could not measure")
        report.table(failed[["subject_id", "rule_error"]])

    extra: dict[str, Any] = {
        "simulated": simulated,
        "n_bad_cases": len(dataset.bad_cases),
        "bad_cases": [dataclasses.asdict(b) for b in dataset.bad_cases],
        "notes": notes,
    }
    model_info = {"path": str(model_dir), "system": card.system, "created_utc": card.created_utc,
                  "config": card.config, "trained_on": card.data,
                  "n_trained_subjects": len(card.trained_subject_ids),
                  "simulated_training_data": card.simulated_training_data}
    document = metrics_document(
        SYSTEM, data, dataset.layout, len(dataset.subject_ids), model_info,
        {k: v for k, v in metrics.items() if isinstance(v, (Estimate, int, float)) or v is None}, extra,
    )
    return write_evaluation(out, document, merged, report)


__all__ = [
    "RULE_SCORES",
    "compare_with_rules",
    "evaluate",
    "mass_metrics",
    "outcome_models",
    "outcome_names_in",
    "predicted_lvh",
    "roc_figure",
    "rule_table",
]
