"""Cycle phases and features of an IVPG curve (peaks, RMS, impulses, times to peak)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
from scipy import signal

#: ES = first sample within this fraction of the stroke volume above the minimum volume.
_ES_PLATEAU_FRACTION: Final[float] = 0.01


@dataclass(frozen=True)
class CyclePhases:
    """Cycle landmarks from the fitted LV volume, in ms after ED (NaN when not found)."""

    es_ms: float
    e_peak_ms: float
    a_peak_ms: float
    e_a_mid_ms: float
    peak_ejection_rate_ml_s: float
    peak_e_filling_rate_ml_s: float
    peak_a_filling_rate_ml_s: float


@dataclass(frozen=True)
class IVPGFeatures:
    """Features of the apex-to-base pressure-difference curve (mmHg, ms, % of RR from ED).

    Windows: systole [ED, ES]; late-systolic reversal = minimum between the
    systolic peak and ES; early-diastolic suction = minimum in [ES, E peak
    filling]; E-deceleration = maximum in [E peak, midpoint of E and A
    peaks]; A-wave = minimum in [that midpoint, A peak filling] (atrial
    acceleration). RMS and impulses (∫ΔP dt, mmHg·s) over the cycle, systole
    [ED, ES) and diastole [ES, next ED), early diastole [ES, E/A midpoint)
    and late diastole. ``convective_share_pct`` = 100·RMS(convective) /
    (RMS(inertial) + RMS(convective)). Segment features use the same windows.
    """

    peak_systolic_mmhg: float
    peak_systolic_time_ms: float
    peak_systolic_time_pct: float
    late_systolic_reversal_mmhg: float
    late_systolic_reversal_time_ms: float
    late_systolic_reversal_time_pct: float
    early_diastolic_suction_mmhg: float
    early_diastolic_suction_time_ms: float
    early_diastolic_suction_time_pct: float
    e_deceleration_mmhg: float
    e_deceleration_time_ms: float
    e_deceleration_time_pct: float
    a_wave_mmhg: float
    a_wave_time_ms: float
    a_wave_time_pct: float
    rms_cycle_mmhg: float
    rms_systole_mmhg: float
    rms_diastole_mmhg: float
    impulse_systole_mmhg_s: float
    impulse_diastole_mmhg_s: float
    impulse_early_diastole_mmhg_s: float
    impulse_late_diastole_mmhg_s: float
    inertial_rms_mmhg: float
    convective_rms_mmhg: float
    inertial_peak_abs_mmhg: float
    convective_peak_abs_mmhg: float
    convective_share_pct: float
    apical_peak_systolic_mmhg: float
    apical_early_diastolic_suction_mmhg: float
    apical_rms_mmhg: float
    mid_peak_systolic_mmhg: float
    mid_early_diastolic_suction_mmhg: float
    mid_rms_mmhg: float
    basal_peak_systolic_mmhg: float
    basal_early_diastolic_suction_mmhg: float
    basal_rms_mmhg: float



def _window(t: np.ndarray, lo: float, hi: float, *, closed: bool = True) -> np.ndarray:
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return np.zeros(t.shape, dtype=bool)
    return (t >= lo) & ((t <= hi) if closed else (t < hi))


def _extreme(curve: np.ndarray, t: np.ndarray, sel: np.ndarray, kind: str) -> tuple[float, float]:
    if not sel.any():
        return math.nan, math.nan
    idx = np.flatnonzero(sel)
    j = idx[np.argmax(curve[idx]) if kind == "max" else np.argmin(curve[idx])]
    return float(curve[j]), float(t[j])


def _rms(curve: np.ndarray, sel: np.ndarray) -> float:
    return float(np.sqrt(np.mean(curve[sel] ** 2))) if sel.any() else math.nan


def _phases(t: np.ndarray, volume: np.ndarray, rate: np.ndarray, rr: float) -> tuple[CyclePhases, list[str]]:
    """ES = argmin V; E and A = the two largest filling-rate (dV/dt) peaks after ES.

    Isovolumic relaxation leaves V flat after ES, where the argmin of a fitted
    curve is arbitrary; ES is the first sample of that plateau (V within
    ``_ES_PLATEAU_FRACTION`` of the stroke volume above its minimum).
    """
    notes: list[str] = []
    i_min = int(np.argmin(volume))
    tolerance = _ES_PLATEAU_FRACTION * float(volume.max() - volume.min())
    i_es = i_min
    while i_es > 0 and volume[i_es - 1] <= volume[i_min] + tolerance:
        i_es -= 1
    es = float(t[i_es])
    # wrap one sample so a filling peak on the last sample is still a peak
    diastolic = np.concatenate([rate[i_es:], rate[:1]])
    scale = float(np.max(np.abs(rate))) or 1.0
    peaks, _ = signal.find_peaks(diastolic, height=0.0, prominence=0.05 * scale)
    peaks = peaks[diastolic[peaks] > 0]
    top = np.sort(peaks[np.argsort(diastolic[peaks])[::-1][:2]])
    times = [float(t[(i_es + p) % t.size]) if i_es + p < t.size else rr for p in top]
    e_peak = times[0] if times else math.nan
    a_peak = times[1] if len(times) > 1 else math.nan
    if not times:
        notes.append("no diastolic filling peak found: diastolic features are NaN")
    elif len(times) == 1:
        notes.append("one diastolic filling peak only (E and A merged?): A-wave features are NaN")
    return CyclePhases(
        es_ms=es,
        e_peak_ms=e_peak,
        a_peak_ms=a_peak,
        e_a_mid_ms=0.5 * (e_peak + a_peak) if len(times) > 1 else rr,
        peak_ejection_rate_ml_s=float(-rate[: i_es + 1].min()) if i_es > 0 else math.nan,
        peak_e_filling_rate_ml_s=float(diastolic[top[0]]) if times else math.nan,
        peak_a_filling_rate_ml_s=float(diastolic[top[1]]) if len(times) > 1 else math.nan,
    ), notes


def _features(
    t: np.ndarray,
    rr: float,
    total: np.ndarray,
    inertial: np.ndarray,
    convective: np.ndarray,
    segments: dict[str, np.ndarray],
    ph: CyclePhases,
) -> IVPGFeatures:
    dt_s = rr / t.size / 1000.0
    systole = _window(t, 0.0, ph.es_ms)
    peak_sys, t_sys = _extreme(total, t, systole, "max")
    reversal, t_rev = _extreme(total, t, _window(t, t_sys, ph.es_ms), "min")
    suction_window = _window(t, ph.es_ms, ph.e_peak_ms)
    suction, t_suc = _extreme(total, t, suction_window, "min")
    e_dec, t_edec = _extreme(total, t, _window(t, ph.e_peak_ms, ph.e_a_mid_ms), "max")
    a_wave, t_a = _extreme(total, t, _window(t, ph.e_a_mid_ms, ph.a_peak_ms), "min")
    sys_open = _window(t, 0.0, ph.es_ms, closed=False)
    dia = ~sys_open
    early = _window(t, ph.es_ms, ph.e_a_mid_ms, closed=False)
    late = dia & ~early
    everything = np.ones(t.shape, dtype=bool)

    def pct(time_ms: float) -> float:
        return 100.0 * time_ms / rr

    rms_i, rms_c = _rms(inertial, everything), _rms(convective, everything)
    values: dict[str, float] = {
        "peak_systolic_mmhg": peak_sys,
        "peak_systolic_time_ms": t_sys,
        "peak_systolic_time_pct": pct(t_sys),
        "late_systolic_reversal_mmhg": reversal,
        "late_systolic_reversal_time_ms": t_rev,
        "late_systolic_reversal_time_pct": pct(t_rev),
        "early_diastolic_suction_mmhg": suction,
        "early_diastolic_suction_time_ms": t_suc,
        "early_diastolic_suction_time_pct": pct(t_suc),
        "e_deceleration_mmhg": e_dec,
        "e_deceleration_time_ms": t_edec,
        "e_deceleration_time_pct": pct(t_edec),
        "a_wave_mmhg": a_wave,
        "a_wave_time_ms": t_a,
        "a_wave_time_pct": pct(t_a),
        "rms_cycle_mmhg": _rms(total, everything),
        "rms_systole_mmhg": _rms(total, sys_open),
        "rms_diastole_mmhg": _rms(total, dia),
        "impulse_systole_mmhg_s": float(total[sys_open].sum() * dt_s),
        "impulse_diastole_mmhg_s": float(total[dia].sum() * dt_s),
        "impulse_early_diastole_mmhg_s": float(total[early].sum() * dt_s) if early.any() else math.nan,
        "impulse_late_diastole_mmhg_s": float(total[late].sum() * dt_s),
        "inertial_rms_mmhg": rms_i,
        "convective_rms_mmhg": rms_c,
        "inertial_peak_abs_mmhg": float(np.abs(inertial).max()),
        "convective_peak_abs_mmhg": float(np.abs(convective).max()),
        "convective_share_pct": 100.0 * rms_c / (rms_i + rms_c) if rms_i + rms_c > 0 else math.nan,
    }
    for name, curve in segments.items():
        values[f"{name}_peak_systolic_mmhg"] = _extreme(curve, t, systole, "max")[0]
        values[f"{name}_early_diastolic_suction_mmhg"] = _extreme(curve, t, suction_window, "min")[0]
        values[f"{name}_rms_mmhg"] = _rms(curve, everything)
    return IVPGFeatures(**values)


__all__ = ["CyclePhases", "IVPGFeatures"]
