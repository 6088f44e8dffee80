"""12-lead ECG voltages, QRS duration and the LVH voltage criteria.

Method (METHODS.md section 4)
-----------------------------
1. R peaks: every lead is cleaned with ``nk.ecg_clean`` and searched with
   ``nk.ecg_peaks``; the lead whose beats agree best with their own median
   (template correlation over the QRS, the idea behind NeuroKit's "averageQRS"
   quality) supplies the R-peak times, which are shared by all leads.
2. Median beat: the amplitude path filters each lead with a zero-phase 0.5 Hz
   high-pass (the first stage of ``nk.ecg_clean``), a 150 Hz low-pass where the
   sampling rate allows it (AHA diagnostic bandwidth, Kligfield et al.,
   Circulation 2007;115:1306) and 50/60 Hz notches. The second stage of
   ``nk.ecg_clean`` (a 50 Hz moving average run forwards and backwards, i.e. a
   ~40 ms triangular smoother) is left out because it cuts R amplitudes by
   0.2-0.5 mV on simulated ECGs with known truth. Beats are cut from -250 to
   +400 ms around R, beats that do not match the others (ectopics, artefacts)
   are dropped, and the sample-wise median gives one beat per lead.
3. QRS bounds: ``nk.ecg_delineate(method="dwt")`` (Martinez et al., IEEE TBME
   2004;51:570) per lead on the record; per lead the median over beats, then
   leads that disagree with the consensus are dropped and QRS onset = earliest
   remaining onset, offset = latest remaining offset (global QRS, as in the
   CSE measurement convention). When too few leads give usable bounds, the
   bounds come from the spatial velocity of the median beats instead (the
   root-sum-square slope over all leads falling below a fraction of its peak)
   and ``delineation_ok`` is False.
4. Amplitudes in mV on each median beat: baseline = median of the last 20 ms
   before QRS onset (end of the PR segment); R = maximum - baseline inside the
   QRS (0 if the QRS stays below the baseline); S = baseline - minimum after
   the R peak inside the QRS (0 if none).

LVH criteria (amplitudes in mV, QRS duration in ms)
---------------------------------------------------
- Sokolow-Lyon: SV1 + max(RV5, RV6) >= 3.5 mV (Sokolow & Lyon, Am Heart J 1949;37:161).
- Cornell voltage: RaVL + SV3 > 2.8 mV (men) / > 2.0 mV (women) (Casale et al.,
  Circulation 1987;75:565).
- Cornell product: (RaVL + SV3, + 0.6 mV in women) x QRSd > 244 mV*ms
  (Molloy et al., JACC 1992;20:1180); the female add-on is configurable (some
  tables use 0.8 mV).
- aVL: RaVL > 1.1 mV (AHA/ACCF/HRS recommendations, Hancock et al., Circulation 2009;119:e251).
- Peguero-Lo Presti: S_deepest (any lead, V4 included) + SV4 >= 2.8 mV (men) /
  >= 2.3 mV (women) (Peguero et al., JACC 2017;69:1694).
Rules that need sex give None when sex is unknown; they are never guessed.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import neurokit2 as nk
import numpy as np
import scipy.signal

from cardiolens.data.ecg import ECG12
from cardiolens.data.labels import STANDARD_LEADS
from cardiolens.errors import LeadConfigurationError, MissingDataError, UsageError

# --- measurement settings -------------------------------------------------------------
#: Beat window around the R peak, ms (METHODS.md section 4).
BEAT_START_MS: Final[float] = -250.0
BEAT_END_MS: Final[float] = 400.0
#: Lowest sampling rate at which a QRS can still be measured (PTB-XL's low-rate records).
MIN_FS_HZ: Final[float] = 100.0
#: Fewest beats a median beat may rest on.
MIN_BEATS: Final[int] = 3
#: Template correlation below which a lead's R peaks are not trusted (pure noise gives < 0.4).
MIN_PEAK_QUALITY: Final[float] = 0.6
#: Beats correlating less than this with the median beat (ectopics, artefacts) are dropped.
MIN_BEAT_CORRELATION: Final[float] = 0.8
#: Peak-to-peak range (mV) below which a lead counts as flat (disconnected electrode).
FLAT_LEAD_MV: Final[float] = 0.02
#: Heart rates accepted from the R-peak detector, bpm.
HEART_RATE_RANGE_BPM: Final[tuple[float, float]] = (20.0, 250.0)
#: Baseline = median of this many ms before QRS onset (end of the PR segment).
BASELINE_WINDOW_MS: Final[float] = 20.0
#: A lead's QRS bound is used only within this many ms of the median over leads.
DELINEATION_CONSENSUS_MS: Final[float] = 30.0
#: Fewest leads that must give usable QRS bounds for the dwt result to be used.
MIN_DELINEATED_LEADS: Final[int] = 3
#: Plausible QRS bounds relative to the R peak, ms, and plausible QRS durations, ms.
QRS_ONSET_RANGE_MS: Final[tuple[float, float]] = (-150.0, -5.0)
QRS_OFFSET_RANGE_MS: Final[tuple[float, float]] = (5.0, 200.0)
QRS_DURATION_RANGE_MS: Final[tuple[float, float]] = (40.0, 220.0)
#: Spatial-velocity fallback: QRS = where the slope magnitude exceeds this fraction of its peak.
SPATIAL_VELOCITY_FRACTION: Final[float] = 0.1

# --- LVH thresholds (mV, or mV*ms for the Cornell product) -------------------------------
SOKOLOW_LYON_MV: Final[float] = 3.5
CORNELL_VOLTAGE_MV: Final[Mapping[str, float]] = {"M": 2.8, "F": 2.0}
CORNELL_PRODUCT_MV_MS: Final[float] = 244.0
CORNELL_PRODUCT_FEMALE_ADD_MV: Final[float] = 0.6
AVL_MV: Final[float] = 1.1
PEGUERO_MV: Final[Mapping[str, float]] = {"M": 2.8, "F": 2.3}
#: Rule names in the order they are reported.
LVH_RULES: Final[tuple[str, ...]] = ("sokolow_lyon", "cornell_voltage", "cornell_product", "avl", "peguero")
_SEX_RULES: Final[frozenset[str]] = frozenset({"cornell_voltage", "cornell_product", "peguero"})
#: Voltages are compared after rounding to this many decimals (1 nV) so that a value entered
#: at a threshold (1.2 + 2.3 mV) is not flipped by binary floating point.
_COMPARE_DECIMALS: Final[int] = 6


def _lead_key(lead: str) -> str:
    """'aVL' -> 'avl', 'V5' -> 'v5' (used in to_dict keys such as ``ravl_mv``)."""
    return lead.lower()


@dataclass(frozen=True, eq=False)
class ECGMeasurements:
    """Median-beat measurements of one 12-lead ECG.

    Attributes:
        subject_id, source: identity of the ECG measured.
        sex: "M", "F" or None (unknown), as given to :func:`measure_ecg`.
        fs_hz: sampling rate of the record, Hz.
        r_amplitude_mv, s_amplitude_mv: R and S amplitude per lead (STANDARD_LEADS
            names), mV, both >= 0.
        qrs_duration_ms: global QRS duration (earliest onset to latest offset), ms.
        qrs_onset_ms, qrs_offset_ms: global QRS bounds on the median-beat time axis, ms
            (0 = R peak).
        heart_rate_bpm: 60 / median RR interval, beats per minute.
        n_beats: beats the median beat rests on (after dropping mismatching beats).
        rpeak_lead: lead whose R peaks were shared across leads.
        rpeak_quality: that lead's template correlation (0-1).
        delineation_method: "dwt" (``nk.ecg_delineate``) or "spatial_velocity" (fallback).
        delineation_ok: False when the dwt bounds were unusable and the fallback was used.
        delineated_leads: leads whose dwt bounds entered the global QRS bounds.
        median_beats_mv: median beat per lead, shape (12, n_samples), mV, rows in
            STANDARD_LEADS order, filtered but not baseline-corrected.
        time_ms: time axis of ``median_beats_mv``, ms relative to the R peak.
        notes: warnings about the measurement (flat leads, dropped beats, fallbacks).
    """

    subject_id: str
    source: str
    sex: str | None
    fs_hz: float
    r_amplitude_mv: dict[str, float]
    s_amplitude_mv: dict[str, float]
    qrs_duration_ms: float
    qrs_onset_ms: float
    qrs_offset_ms: float
    heart_rate_bpm: float
    n_beats: int
    rpeak_lead: str
    rpeak_quality: float
    delineation_method: str
    delineation_ok: bool
    delineated_leads: tuple[str, ...]
    median_beats_mv: np.ndarray
    time_ms: np.ndarray
    notes: tuple[str, ...] = ()
    lead_names: tuple[str, ...] = field(default=STANDARD_LEADS)

    def r(self, lead: str) -> float:
        """R amplitude of ``lead``, mV."""
        return self.r_amplitude_mv[lead]

    def s(self, lead: str) -> float:
        """S amplitude of ``lead``, mV."""
        return self.s_amplitude_mv[lead]

    def to_dict(self, *, include_median_beats: bool = False) -> dict[str, Any]:
        """JSON-able values with units in the keys (``rv5_mv``, ``sv1_mv``, ``qrs_ms``...).

        Per lead ``r<lead>_mv`` and ``s<lead>_mv`` (``ri_mv``, ``ravl_mv``, ``sv1_mv``...).
        ``include_median_beats`` adds ``median_beats_mv`` (lists per lead) and ``time_ms``.
        """
        out: dict[str, Any] = {"subject_id": self.subject_id, "source": self.source, "sex": self.sex}
        for lead in self.lead_names:
            out[f"r{_lead_key(lead)}_mv"] = round(self.r_amplitude_mv[lead], 4)
        for lead in self.lead_names:
            out[f"s{_lead_key(lead)}_mv"] = round(self.s_amplitude_mv[lead], 4)
        out.update(
            qrs_ms=round(self.qrs_duration_ms, 2),
            qrs_onset_ms=round(self.qrs_onset_ms, 2),
            qrs_offset_ms=round(self.qrs_offset_ms, 2),
            heart_rate_bpm=round(self.heart_rate_bpm, 2),
            fs_hz=self.fs_hz,
            n_beats=self.n_beats,
            rpeak_lead=self.rpeak_lead,
            rpeak_quality=round(self.rpeak_quality, 4),
            delineation_method=self.delineation_method,
            delineation_ok=self.delineation_ok,
            delineated_leads=list(self.delineated_leads),
            notes=list(self.notes),
        )
        if include_median_beats:
            out["median_beats_mv"] = {
                lead: [round(float(v), 5) for v in self.median_beats_mv[j]] for j, lead in enumerate(self.lead_names)
            }
            out["time_ms"] = [round(float(t), 3) for t in self.time_ms]
        return out


@dataclass(frozen=True)
class LVHCriteria:
    """ECG-LVH voltage criteria of one ECG: continuous voltages and one flag per rule.

    A flag is None when the rule needs sex and sex is unknown, or when the rule is
    not enabled. ``any_rule`` is the OR of the enabled rules in three-valued logic:
    True if any rule is True, False if all are False, None if none is True and at
    least one could not be evaluated.

    Attributes:
        sex: "M", "F" or None.
        sokolow_lyon_mv: SV1 + max(RV5, RV6), mV.
        cornell_voltage_mv: RaVL + SV3, mV.
        cornell_product_mv_ms: (RaVL + SV3 [+ female add-on]) x QRSd, mV*ms; None without sex.
        ravl_mv: R amplitude in aVL, mV.
        peguero_mv: deepest S (any lead) + SV4, mV.
        sokolow_lyon, cornell_voltage, cornell_product, avl, peguero: rule flags.
        any_rule: OR of the enabled rules.
        enabled_rules: rule names that were evaluated.
        cornell_product_female_add_mv: add-on used for women, mV.
        notes: why a flag is None.
    """

    sex: str | None
    sokolow_lyon_mv: float
    cornell_voltage_mv: float
    cornell_product_mv_ms: float | None
    ravl_mv: float
    peguero_mv: float
    sokolow_lyon: bool | None
    cornell_voltage: bool | None
    cornell_product: bool | None
    avl: bool | None
    peguero: bool | None
    any_rule: bool | None
    enabled_rules: tuple[str, ...]
    cornell_product_female_add_mv: float = CORNELL_PRODUCT_FEMALE_ADD_MV
    notes: tuple[str, ...] = ()

    def flags(self) -> dict[str, bool | None]:
        """Rule name -> flag, for every rule in :data:`LVH_RULES`."""
        return {rule: getattr(self, rule) for rule in LVH_RULES}

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values: voltages with units in the keys, one boolean (or null) per rule."""

        def rounded(x: float | None, digits: int) -> float | None:
            return None if x is None else round(x, digits)

        return {
            "sex": self.sex,
            "sokolow_lyon_mv": rounded(self.sokolow_lyon_mv, 4),
            "cornell_voltage_mv": rounded(self.cornell_voltage_mv, 4),
            "cornell_product_mv_ms": rounded(self.cornell_product_mv_ms, 2),
            "ravl_mv": rounded(self.ravl_mv, 4),
            "peguero_mv": rounded(self.peguero_mv, 4),
            **self.flags(),
            "any_rule": self.any_rule,
            "enabled_rules": list(self.enabled_rules),
            "cornell_product_female_add_mv": self.cornell_product_female_add_mv,
            "notes": list(self.notes),
        }


# --- helpers ---------------------------------------------------------------------------


def _normalise_sex(sex: object) -> str | None:
    """"M"/"F" for the usual spellings, None for unknown (None, "", "unknown", NaN)."""
    if sex is None:
        return None
    if isinstance(sex, float) and math.isnan(sex):
        return None
    key = str(sex).strip().upper()
    if key in {"M", "MALE", "MAN"}:
        return "M"
    if key in {"F", "FEMALE", "WOMAN"}:
        return "F"
    if key in {"", "U", "UNKNOWN", "NONE", "NAN", "NA"}:
        return None
    raise UsageError(f"sex must be 'M', 'F' or None (unknown), got {sex!r}")


def _record_name(ecg: ECG12) -> str:
    """What an error names: the file, with the subject id when the ECG has no file."""
    if ecg.source and ecg.source != "<memory>":
        return ecg.source if not ecg.subject_id else f"{ecg.source} (subject {ecg.subject_id})"
    return ecg.subject_id or ecg.source or "<memory>"


def _measurement_filter(signal_mv: np.ndarray, fs_hz: float) -> np.ndarray:
    """Zero-phase 0.5 Hz high-pass (+150 Hz low-pass where possible) and 50/60 Hz notches."""
    highcut = 150.0 if fs_hz > 2.5 * 150.0 else None
    out = np.empty(signal_mv.shape, dtype=float)
    for j in range(signal_mv.shape[1]):
        out[:, j] = nk.signal_filter(
            signal_mv[:, j].astype(float), sampling_rate=fs_hz, lowcut=0.5, highcut=highcut, method="butterworth", order=5
        )
    for mains_hz in (50.0, 60.0):
        if mains_hz < 0.45 * fs_hz:  # a notch at or near Nyquist would eat the QRS
            b, a = scipy.signal.iirnotch(mains_hz, Q=30.0, fs=fs_hz)
            out = scipy.signal.filtfilt(b, a, out, axis=0)
    return out


def _beat_window(fs_hz: float) -> tuple[int, int]:
    """Samples before and after R covered by the beat window."""
    return int(round(-BEAT_START_MS * fs_hz / 1000.0)), int(round(BEAT_END_MS * fs_hz / 1000.0))


def _qrs_window(fs_hz: float) -> tuple[int, int]:
    """Samples before and after R used to compare beats (+-100 ms, the QRS and its edges)."""
    half = max(2, int(round(0.1 * fs_hz)))
    return half, half


def _template_quality(signal: np.ndarray, peaks: np.ndarray, fs_hz: float) -> tuple[float, np.ndarray]:
    """Mean correlation of each beat's QRS with the median QRS (0-1), and the usable peaks."""
    before, after = _qrs_window(fs_hz)
    usable = peaks[(peaks - before >= 0) & (peaks + after < signal.shape[0])]
    if usable.size < MIN_BEATS:
        return 0.0, usable
    segments = np.stack([signal[p - before : p + after + 1] for p in usable])
    template = np.median(segments, axis=0)
    corr = [_correlation(s, template) for s in segments]
    return float(np.mean(corr)), usable


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a = np.ravel(a) - np.mean(a)
    b = np.ravel(b) - np.mean(b)
    denom = float(np.sqrt(np.dot(a, a) * np.dot(b, b)))
    return float(np.dot(a, b) / denom) if denom > 0 else 0.0


@dataclass(frozen=True)
class _Peaks:
    lead: str
    samples: np.ndarray
    quality: float


def _find_rpeaks(ecg: ECG12, name: str) -> tuple[_Peaks, list[str]]:
    """R peaks from the lead with the best template correlation (shared by all leads)."""
    fs = ecg.fs_hz
    notes: list[str] = []
    candidates: list[_Peaks] = []
    flat: list[str] = []
    for j, lead in enumerate(STANDARD_LEADS):
        raw = ecg.signal_mv[:, j].astype(float)
        if float(np.ptp(raw)) < FLAT_LEAD_MV:
            flat.append(lead)
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # NeuroKit warns on short or odd signals; quality decides
            try:
                cleaned = nk.ecg_clean(raw, sampling_rate=fs)
                _, info = nk.ecg_peaks(cleaned, sampling_rate=fs)
            except (ValueError, IndexError, TypeError, ZeroDivisionError) as exc:
                notes.append(f"R-peak detection failed in lead {lead} ({type(exc).__name__})")
                continue
        peaks = np.asarray(info["ECG_R_Peaks"], dtype=int)
        if peaks.size < MIN_BEATS:
            continue
        rate_bpm = 60.0 * fs / float(np.median(np.diff(peaks)))
        if not HEART_RATE_RANGE_BPM[0] <= rate_bpm <= HEART_RATE_RANGE_BPM[1]:
            continue
        quality, _ = _template_quality(cleaned, peaks, fs)
        candidates.append(_Peaks(lead, peaks, quality))
    if flat:
        notes.append(f"flat lead(s) {', '.join(flat)} (peak-to-peak < {FLAT_LEAD_MV} mV)")
    if not candidates:
        raise MissingDataError(
            name,
            f"no R peaks found in any lead (need >= {MIN_BEATS} beats at "
            f"{HEART_RATE_RANGE_BPM[0]:g}-{HEART_RATE_RANGE_BPM[1]:g} bpm)"
            + (f"; flat lead(s): {', '.join(flat)}" if flat else ""),
        )
    best = max(candidates, key=lambda c: c.quality)  # ties keep STANDARD_LEADS order
    if best.quality < MIN_PEAK_QUALITY:
        raise MissingDataError(
            name,
            f"no reliable R peaks: best lead {best.lead} has beat-template correlation "
            f"{best.quality:.2f} < {MIN_PEAK_QUALITY} (noise or no ECG signal)",
        )
    return best, notes


def _align_beats(filtered: np.ndarray, peaks: np.ndarray, fs_hz: float, name: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Beats (beats, samples, leads) cut around R, with mismatching beats dropped."""
    before, after = _beat_window(fs_hz)
    kept = peaks[(peaks - before >= 0) & (peaks + after < filtered.shape[0])]
    if kept.size < MIN_BEATS:
        raise MissingDataError(
            name,
            f"only {kept.size} complete beat(s) from {BEAT_START_MS:g} to +{BEAT_END_MS:g} ms around R; "
            f"need >= {MIN_BEATS}",
        )
    beats = np.stack([filtered[p - before : p + after + 1] for p in kept])
    q_before, q_after = _qrs_window(fs_hz)
    qrs = beats[:, before - q_before : before + q_after + 1, :]
    template = np.median(qrs, axis=0)
    corr = np.array([_correlation(b, template) for b in qrs])
    notes: list[str] = []
    good = corr >= MIN_BEAT_CORRELATION
    if good.sum() >= MIN_BEATS and not good.all():
        notes.append(f"dropped {int((~good).sum())} of {good.size} beats unlike the median beat")
        beats, kept = beats[good], kept[good]
    elif not good.all():
        notes.append(f"{int((~good).sum())} of {good.size} beats unlike the median beat were kept (too few others)")
    return beats, kept, notes


def _dwt_bounds(filtered: np.ndarray, peaks: np.ndarray, fs_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-lead QRS onset and offset (median over beats), ms relative to R; NaN where dwt fails."""
    onsets = np.full(filtered.shape[1], np.nan)
    offsets = np.full(filtered.shape[1], np.nan)
    for j in range(filtered.shape[1]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                _, waves = nk.ecg_delineate(filtered[:, j], rpeaks=peaks, sampling_rate=fs_hz, method="dwt")
            except (ValueError, IndexError, TypeError, ZeroDivisionError, KeyError):
                continue
        for key, out in (("ECG_R_Onsets", onsets), ("ECG_R_Offsets", offsets)):
            points = np.asarray(waves.get(key, []), dtype=float)
            if points.size != peaks.size:
                continue
            relative_ms = (points - peaks) * 1000.0 / fs_hz
            relative_ms = relative_ms[np.isfinite(relative_ms)]
            if relative_ms.size * 2 >= peaks.size:  # at least half the beats delineated
                out[j] = float(np.median(relative_ms))
    return onsets, offsets


def _consensus(values_ms: np.ndarray, valid_range: tuple[float, float]) -> np.ndarray:
    """Mask of leads whose bound is plausible and within the consensus tolerance."""
    ok = np.isfinite(values_ms) & (values_ms >= valid_range[0]) & (values_ms <= valid_range[1])
    if not ok.any():
        return ok
    centre = float(np.median(values_ms[ok]))
    return ok & (np.abs(values_ms - centre) <= DELINEATION_CONSENSUS_MS)


def _spatial_velocity_bounds(median_beats: np.ndarray, time_ms: np.ndarray) -> tuple[float, float]:
    """QRS bounds where the all-lead slope magnitude exceeds a fraction of its QRS peak, ms."""
    velocity = np.sqrt(np.sum(np.gradient(median_beats, axis=1) ** 2, axis=0))
    near_r = np.abs(time_ms) <= 60.0  # the QRS peak slope lies within 60 ms of R
    threshold = SPATIAL_VELOCITY_FRACTION * float(velocity[near_r].max())
    r_index = int(np.argmin(np.abs(time_ms)))
    below = velocity < threshold
    start = r_index
    while start > 0 and not below[start - 1] and time_ms[start - 1] >= QRS_ONSET_RANGE_MS[0]:
        start -= 1
    end = r_index
    while end < velocity.size - 1 and not below[end + 1] and time_ms[end + 1] <= QRS_OFFSET_RANGE_MS[1]:
        end += 1
    return float(time_ms[start]), float(time_ms[end])


def _lead_amplitudes(beat: np.ndarray, time_ms: np.ndarray, onset_ms: float, offset_ms: float) -> tuple[float, float]:
    """(R, S) amplitudes of one median beat in mV (see module docstring, step 4)."""
    in_baseline = (time_ms >= onset_ms - BASELINE_WINDOW_MS) & (time_ms <= onset_ms)
    baseline = float(np.median(beat[in_baseline]))
    qrs = beat[(time_ms >= onset_ms) & (time_ms <= offset_ms)] - baseline
    peak = int(np.argmax(qrs))
    r_mv = max(0.0, float(qrs[peak]))
    s_mv = max(0.0, -float(qrs[peak:].min()))
    return r_mv, s_mv


# --- public API --------------------------------------------------------------------------


def measure_ecg(ecg: ECG12, *, sex: str | None = None) -> ECGMeasurements:
    """Measure R/S amplitudes (mV) per lead and the global QRS duration (ms) of a 12-lead ECG.

    Implements the median-beat pipeline of METHODS.md section 4 (see the module
    docstring: NeuroKit2 R peaks shared across leads, -250/+400 ms median beat,
    ``nk.ecg_delineate`` dwt QRS bounds with a spatial-velocity fallback).

    Args:
        ecg: the record; leads are already in STANDARD_LEADS order (the container checks).
        sex: "M"/"F" (other spellings accepted) or None; None takes
            ``ecg.metadata["sex"]`` when present, else sex stays unknown.

    Returns:
        ECGMeasurements with the median beats and per-lead amplitudes.

    Raises:
        LeadConfigurationError: sampling rate below :data:`MIN_FS_HZ`.
        MissingDataError: too short a record, or no reliable R peaks in any lead
            (flat or pure-noise record); the message names the record.
        UsageError: ``ecg`` is not an ECG12 or ``sex`` is not recognised.
    """
    if not isinstance(ecg, ECG12):
        raise UsageError(f"measure_ecg needs an ECG12, got {type(ecg).__name__}")
    sex_code = _normalise_sex(sex if sex is not None else ecg.metadata.get("sex"))
    name = _record_name(ecg)
    fs = float(ecg.fs_hz)
    if fs < MIN_FS_HZ:
        raise LeadConfigurationError(name, f"sampling rate {fs:g} Hz is below the {MIN_FS_HZ:g} Hz needed to measure QRS")
    before, after = _beat_window(fs)
    if ecg.n_samples < MIN_BEATS * (before + after):
        raise MissingDataError(name, f"record is {ecg.duration_s:.2f} s long; too short for {MIN_BEATS} beats")

    rpeaks, notes = _find_rpeaks(ecg, name)
    filtered = _measurement_filter(ecg.signal_mv, fs)
    beats, kept, beat_notes = _align_beats(filtered, rpeaks.samples, fs, name)
    notes += beat_notes
    median_beats = np.median(beats, axis=0).T  # (leads, samples)
    time_ms = (np.arange(median_beats.shape[1]) - before) * 1000.0 / fs

    onsets, offsets = _dwt_bounds(filtered, kept, fs)
    onset_ok = _consensus(onsets, QRS_ONSET_RANGE_MS)
    offset_ok = _consensus(offsets, QRS_OFFSET_RANGE_MS)
    delineated = onset_ok & offset_ok
    method, delineation_ok = "dwt", True
    if onset_ok.sum() >= MIN_DELINEATED_LEADS and offset_ok.sum() >= MIN_DELINEATED_LEADS:
        onset_ms, offset_ms = float(onsets[onset_ok].min()), float(offsets[offset_ok].max())
        if not QRS_DURATION_RANGE_MS[0] <= offset_ms - onset_ms <= QRS_DURATION_RANGE_MS[1]:
            delineation_ok = False
    else:
        delineation_ok = False
    if not delineation_ok:
        method = "spatial_velocity"
        onset_ms, offset_ms = _spatial_velocity_bounds(median_beats, time_ms)
        delineated = np.zeros(12, dtype=bool)
        notes.append(
            f"dwt delineation usable in {int(onset_ok.sum())} (onset) / {int(offset_ok.sum())} (offset) leads; "
            "QRS bounds from the spatial velocity of the median beats"
        )

    r_mv: dict[str, float] = {}
    s_mv: dict[str, float] = {}
    for j, lead in enumerate(STANDARD_LEADS):
        r_mv[lead], s_mv[lead] = _lead_amplitudes(median_beats[j], time_ms, onset_ms, offset_ms)

    return ECGMeasurements(
        subject_id=ecg.subject_id,
        source=ecg.source,
        sex=sex_code,
        fs_hz=fs,
        r_amplitude_mv=r_mv,
        s_amplitude_mv=s_mv,
        qrs_duration_ms=offset_ms - onset_ms,
        qrs_onset_ms=onset_ms,
        qrs_offset_ms=offset_ms,
        heart_rate_bpm=60.0 * fs / float(np.median(np.diff(rpeaks.samples))),
        n_beats=int(beats.shape[0]),
        rpeak_lead=rpeaks.lead,
        rpeak_quality=rpeaks.quality,
        delineation_method=method,
        delineation_ok=delineation_ok,
        delineated_leads=tuple(lead for lead, ok in zip(STANDARD_LEADS, delineated) if ok),
        median_beats_mv=median_beats,
        time_ms=time_ms,
        notes=tuple(notes),
    )


def _at_least(value: float, threshold: float) -> bool:
    return round(value, _COMPARE_DECIMALS) >= threshold


def _above(value: float, threshold: float) -> bool:
    return round(value, _COMPARE_DECIMALS) > threshold


def lvh_criteria(
    measurements: ECGMeasurements,
    sex: str | None,
    *,
    cornell_product_female_add_mv: float = CORNELL_PRODUCT_FEMALE_ADD_MV,
    rules: Iterable[str] = LVH_RULES,
) -> LVHCriteria:
    """Evaluate the ECG-LVH voltage criteria (METHODS.md section 4; references in the module docstring).

    Args:
        measurements: from :func:`measure_ecg` (pass ``measurements.sex`` to reuse its sex).
        sex: "M", "F" or None (unknown): sex-specific rules then give None, never a guess.
        cornell_product_female_add_mv: mV added to RaVL + SV3 in women before multiplying by
            QRSd (Molloy 1992: 0.6; some tables use 0.8).
        rules: the rules to evaluate and OR into ``any_rule`` (subset of :data:`LVH_RULES`).

    Returns:
        LVHCriteria with continuous voltages (mV, mV*ms) and one flag per rule.

    Raises:
        UsageError: an unknown rule name or sex spelling, or a negative female add-on.
    """
    enabled = tuple(rules)
    unknown = [rule for rule in enabled if rule not in LVH_RULES]
    if unknown:
        raise UsageError(f"unknown LVH rule(s) {', '.join(unknown)}; known: {', '.join(LVH_RULES)}")
    if not math.isfinite(cornell_product_female_add_mv) or cornell_product_female_add_mv < 0:
        raise UsageError(f"cornell_product_female_add_mv must be >= 0 mV, got {cornell_product_female_add_mv}")
    sex_code = _normalise_sex(sex)
    r, s = measurements.r_amplitude_mv, measurements.s_amplitude_mv

    sokolow = s["V1"] + max(r["V5"], r["V6"])
    cornell = r["aVL"] + s["V3"]
    peguero = max(s.values()) + s["V4"]
    product: float | None = None
    if sex_code is not None:
        add_mv = cornell_product_female_add_mv if sex_code == "F" else 0.0
        product = (cornell + add_mv) * measurements.qrs_duration_ms

    flags: dict[str, bool | None] = {
        "sokolow_lyon": _at_least(sokolow, SOKOLOW_LYON_MV),
        "avl": _above(r["aVL"], AVL_MV),
        "cornell_voltage": None,
        "cornell_product": None,
        "peguero": None,
    }
    if sex_code is not None:
        flags["cornell_voltage"] = _above(cornell, CORNELL_VOLTAGE_MV[sex_code])
        flags["cornell_product"] = _above(product, CORNELL_PRODUCT_MV_MS)  # type: ignore[arg-type]
        flags["peguero"] = _at_least(peguero, PEGUERO_MV[sex_code])
    for rule in LVH_RULES:
        if rule not in enabled:
            flags[rule] = None

    notes: list[str] = []
    missing_sex = [rule for rule in enabled if rule in _SEX_RULES and sex_code is None]
    if missing_sex:
        notes.append(f"sex unknown: {', '.join(missing_sex)} not evaluated (sex-specific thresholds)")
    if not measurements.delineation_ok and "cornell_product" in enabled:
        notes.append("QRS duration from the fallback delineation (spatial velocity)")

    evaluated = [flags[rule] for rule in enabled]
    any_rule: bool | None
    if any(flag is True for flag in evaluated):
        any_rule = True
    elif evaluated and all(flag is False for flag in evaluated):
        any_rule = False
    else:
        any_rule = None

    return LVHCriteria(
        sex=sex_code,
        sokolow_lyon_mv=sokolow,
        cornell_voltage_mv=cornell,
        cornell_product_mv_ms=product,
        ravl_mv=r["aVL"],
        peguero_mv=peguero,
        sokolow_lyon=flags["sokolow_lyon"],
        cornell_voltage=flags["cornell_voltage"],
        cornell_product=flags["cornell_product"],
        avl=flags["avl"],
        peguero=flags["peguero"],
        any_rule=any_rule,
        enabled_rules=enabled,
        cornell_product_female_add_mv=cornell_product_female_add_mv,
        notes=tuple(notes),
    )


__all__ = [
    "AVL_MV",
    "CORNELL_PRODUCT_FEMALE_ADD_MV",
    "CORNELL_PRODUCT_MV_MS",
    "CORNELL_VOLTAGE_MV",
    "ECGMeasurements",
    "LVHCriteria",
    "LVH_RULES",
    "PEGUERO_MV",
    "SOKOLOW_LYON_MV",
    "lvh_criteria",
    "measure_ecg",
]
