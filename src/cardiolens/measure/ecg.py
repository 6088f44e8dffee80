"""12-lead ECG voltages and QRS duration from median beats (LVH criteria: measure/ecg_lvh.py).

Measurement (METHODS.md section 4)
----------------------------------
1. R peaks: every lead is cleaned with ``nk.ecg_clean`` and searched with
   ``nk.ecg_peaks``. A lead is trusted when its beats look alike (mean
   correlation of each beat's QRS with the median of the other beats, the idea
   behind NeuroKit's "averageQRS" quality; pure noise scores below 0.7, real
   ECG leads 0.9-0.99) and its peaks sit where the slope of all leads together
   is large (so a lead locked on T waves is not used). The best such lead gives
   the R-peak times, shared by all leads.
2. Median beat: the amplitude path filters each lead with a zero-phase 0.5 Hz
   high-pass (the first stage of ``nk.ecg_clean``), a 150 Hz low-pass where the
   sampling rate allows it (AHA diagnostic bandwidth, Kligfield et al.,
   Circulation 2007;115:1306) and a 50 or 60 Hz notch when mains interference is
   present (spectral peak >= 5x the surrounding band). The second stage of
   ``nk.ecg_clean`` (a 50 Hz moving average run forwards and backwards, i.e. a
   ~40 ms triangular smoother) is left out: it cut R amplitudes by 0.2-0.5 mV on
   simulated ECGs with known truth. Records below 500 Hz are upsampled by an
   integer factor (band-limited, ``scipy.signal.resample_poly``) so beats can be
   aligned finer than one original sample; each beat is then re-aligned on the
   multi-lead QRS template (cross-correlation, +-20 ms). Beats from -250 to
   +400 ms around R that do not match the others (ectopics, artefacts) are
   dropped and the sample-wise median gives one beat per lead.
3. QRS bounds (global QRS: earliest onset to latest offset over the
   simultaneous leads, CSE Working Party, Eur Heart J 1985;6:815), from the
   reliable leads only (a flat or noise-only lead is left out). Default
   ``qrs_method="spatial_velocity"``: the slope magnitude of all median beats
   together, sqrt(sum over leads of (dV/dt)^2), must stay below
   max(5 % of its QRS peak, 3x its 10th percentile) for 10 ms before the onset
   and after the offset; where it never settles (steep ST segments in bundle-
   branch block) the fraction is raised to 10, 15, then 20 %.
   ``qrs_method="dwt"`` uses ``nk.ecg_delineate(method="dwt")`` (Martinez et al.,
   IEEE TBME 2004;51:570) per lead on the record: per lead the median over
   beats, leads off the consensus by > 30 ms dropped, then the earliest onset and
   latest offset. Measured on 40 simulated ECGs with known truth (500 Hz), the
   spatial velocity was within 6 ms of the true QRS duration, NeuroKit's dwt
   bounds were off by +31 ms on average (SD 32 ms: offsets too early in some
   leads, P waves taken for QRS onsets in others); hence the default. When the
   chosen method gives no plausible bounds (40-220 ms) the other one is used
   and ``delineation_ok`` is False.
4. Amplitudes in mV on each median beat: baseline = median of the last 20 ms
   before QRS onset (end of the PR segment); R = maximum - baseline inside the
   QRS (0 if the QRS stays below the baseline); S = baseline - minimum after
   the R peak inside the QRS (0 if none).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import neurokit2 as nk
import numpy as np
import scipy.signal

from cardiolens.data.ecg import ECG12, normalise_lead_name
from cardiolens.data.labels import STANDARD_LEADS, sex_code
from cardiolens.errors import LeadConfigurationError, MissingDataError, UsageError

# --- measurement settings -------------------------------------------------------------
#: Mains frequencies notched when their spectral peak is this many times the nearby band.
MAINS_HZ: Final[tuple[float, ...]] = (50.0, 60.0)
MAINS_PEAK_RATIO: Final[float] = 5.0
#: Beat window around the R peak, ms (METHODS.md section 4).
BEAT_START_MS: Final[float] = -250.0
BEAT_END_MS: Final[float] = 400.0
#: Lowest sampling rate at which a QRS can still be measured (PTB-XL's low-rate records).
MIN_FS_HZ: Final[float] = 100.0
#: Records below this rate are upsampled (integer factor) before beats are aligned.
ANALYSIS_FS_HZ: Final[float] = 500.0
#: Fewest beats a median beat may rest on.
MIN_BEATS: Final[int] = 3
#: Beat-to-beat QRS correlation below which a lead's R peaks are not trusted
#: (12 leads of white noise score at most ~0.7; real leads 0.9-0.99).
MIN_PEAK_QUALITY: Final[float] = 0.8
#: R peaks must sit where the all-lead slope reaches this fraction of its record maximum.
MIN_PEAK_SLOPE_FRACTION: Final[float] = 0.4
#: Beats correlating less than this with the median beat (ectopics, artefacts) are dropped.
MIN_BEAT_CORRELATION: Final[float] = 0.8
#: A lead whose beats correlate less than this with the median of its other beats is unreliable.
MIN_LEAD_CORRELATION: Final[float] = 0.5
#: Peak-to-peak range (mV) below which a lead counts as flat (disconnected electrode).
FLAT_LEAD_MV: Final[float] = 0.02
#: Heart rates accepted from the R-peak detector, bpm.
HEART_RATE_RANGE_BPM: Final[tuple[float, float]] = (20.0, 250.0)
#: Largest re-alignment of a beat on the QRS template, ms.
MAX_ALIGN_SHIFT_MS: Final[float] = 20.0
#: Half-width of the QRS window used to compare and align beats, ms.
QRS_HALF_WINDOW_MS: Final[float] = 100.0
#: Baseline = median of this many ms before QRS onset (end of the PR segment).
BASELINE_WINDOW_MS: Final[float] = 20.0
#: Spatial velocity: threshold as a fraction of the QRS peak (raised step by step when the
#: slope never settles, e.g. steep ST segments in bundle-branch block) and as a multiple of
#: the slope's 10th percentile (residual noise).
SPATIAL_VELOCITY_FRACTIONS: Final[tuple[float, ...]] = (0.05, 0.10, 0.15, 0.20)
SPATIAL_VELOCITY_FLOOR_FACTOR: Final[float] = 3.0
#: The slope must stay below the threshold this long to end the QRS, ms.
SPATIAL_VELOCITY_HOLD_MS: Final[float] = 10.0
#: dwt: a lead's QRS bound is used only within this many ms of the median over leads.
DELINEATION_CONSENSUS_MS: Final[float] = 30.0
#: dwt: fewest leads that must give usable QRS bounds.
MIN_DELINEATED_LEADS: Final[int] = 3
#: Plausible QRS durations, ms.
QRS_DURATION_RANGE_MS: Final[tuple[float, float]] = (40.0, 220.0)
QRS_METHODS: Final[tuple[str, ...]] = ("spatial_velocity", "dwt")

def _lead_key(lead: str) -> str:
    """'aVL' -> 'avl', 'V5' -> 'v5' (used in to_dict keys such as ``ravl_mv``)."""
    return lead.lower()


@dataclass(frozen=True, eq=False)
class ECGMeasurements:
    """Median-beat measurements of one 12-lead ECG.

    Attributes:
        subject_id, source: identity of the ECG measured.
        sex: "M", "F" or None (unknown).
        fs_hz: sampling rate of the record, Hz.
        analysis_fs_hz: sampling rate of the median beats (the record's, or upsampled), Hz.
        r_amplitude_mv, s_amplitude_mv: R and S amplitude per lead (STANDARD_LEADS
            names), mV, both >= 0.
        qrs_duration_ms: global QRS duration (earliest onset to latest offset), ms.
        qrs_onset_ms, qrs_offset_ms: global QRS bounds on the median-beat time axis, ms
            (0 = the shared R peak).
        heart_rate_bpm: 60 / median RR interval, beats per minute.
        n_beats: beats the median beat rests on (after dropping mismatching beats).
        rpeak_lead: lead whose R peaks were shared across leads.
        rpeak_quality: that lead's beat-to-beat QRS correlation (0-1).
        delineation_method: "spatial_velocity" or "dwt": what gave the QRS bounds.
        delineation_ok: False when the requested method failed and the other one
            (or, if both failed, a clamped spatial-velocity result) was used.
        noisy_leads: leads whose beats disagree with their median beat (their
            amplitudes are unreliable); flat leads are listed too.
        median_beats_mv: median beat per lead, shape (12, n_samples), mV, rows in
            STANDARD_LEADS order, filtered but not baseline-corrected.
        time_ms: time axis of ``median_beats_mv``, ms relative to the R peak.
        notes: what went wrong or was worked around.
    """

    subject_id: str
    source: str
    sex: str | None
    fs_hz: float
    analysis_fs_hz: float
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
    noisy_leads: tuple[str, ...]
    median_beats_mv: np.ndarray
    time_ms: np.ndarray
    notes: tuple[str, ...] = ()

    @classmethod
    def from_amplitudes(
        cls,
        r_amplitude_mv: Mapping[str, float],
        s_amplitude_mv: Mapping[str, float],
        qrs_duration_ms: float,
        *,
        sex: str | None = None,
        subject_id: str = "",
        source: str = "<amplitudes>",
    ) -> ECGMeasurements:
        """Measurements from amplitudes taken elsewhere (a vendor's measurement table, a test case).

        Args:
            r_amplitude_mv, s_amplitude_mv: R and S amplitude (mV, >= 0) for all 12 leads;
                lead spellings such as "AVL" are accepted.
            qrs_duration_ms: QRS duration, ms (> 0).
            sex: "M", "F" or None.

        Raises:
            UsageError: a missing lead, a negative or non-finite amplitude, or a bad duration.
        """
        amplitudes: dict[str, dict[str, float]] = {}
        for kind, given in (("R", r_amplitude_mv), ("S", s_amplitude_mv)):
            by_lead = {normalise_lead_name(str(k)): float(v) for k, v in given.items()}
            missing = [lead for lead in STANDARD_LEADS if lead not in by_lead]
            if missing:
                raise UsageError(f"{kind} amplitudes missing for lead(s) {', '.join(missing)}")
            bad = [lead for lead in STANDARD_LEADS if not math.isfinite(by_lead[lead]) or by_lead[lead] < 0]
            if bad:
                raise UsageError(f"{kind} amplitudes must be finite and >= 0 mV; not so for {', '.join(bad)}")
            amplitudes[kind] = {lead: by_lead[lead] for lead in STANDARD_LEADS}
        if not math.isfinite(qrs_duration_ms) or qrs_duration_ms <= 0:
            raise UsageError(f"qrs_duration_ms must be a positive number, got {qrs_duration_ms}")
        return cls(
            subject_id=subject_id,
            source=source,
            sex=sex_code(sex),
            fs_hz=math.nan,
            analysis_fs_hz=math.nan,
            r_amplitude_mv=amplitudes["R"],
            s_amplitude_mv=amplitudes["S"],
            qrs_duration_ms=float(qrs_duration_ms),
            qrs_onset_ms=math.nan,
            qrs_offset_ms=math.nan,
            heart_rate_bpm=math.nan,
            n_beats=0,
            rpeak_lead="",
            rpeak_quality=math.nan,
            delineation_method="given",
            delineation_ok=True,
            noisy_leads=(),
            median_beats_mv=np.empty((12, 0)),
            time_ms=np.empty(0),
        )

    def to_dict(self, *, include_median_beats: bool = False) -> dict[str, Any]:
        """JSON-able values with units in the keys (``rv5_mv``, ``sv1_mv``, ``qrs_ms``...).

        Per lead ``r<lead>_mv`` and ``s<lead>_mv`` (``ri_mv``, ``ravl_mv``, ``sv1_mv``...).
        ``include_median_beats`` adds ``median_beats_mv`` (one list per lead) and ``time_ms``.
        """
        out: dict[str, Any] = {"subject_id": self.subject_id, "source": self.source, "sex": self.sex}
        for prefix, amplitudes in (("r", self.r_amplitude_mv), ("s", self.s_amplitude_mv)):
            for lead in STANDARD_LEADS:
                out[f"{prefix}{_lead_key(lead)}_mv"] = round(float(amplitudes[lead]), 4)
        out.update(
            qrs_ms=round(self.qrs_duration_ms, 2),
            qrs_onset_ms=round(self.qrs_onset_ms, 2),
            qrs_offset_ms=round(self.qrs_offset_ms, 2),
            heart_rate_bpm=round(self.heart_rate_bpm, 2),
            fs_hz=self.fs_hz,
            analysis_fs_hz=self.analysis_fs_hz,
            n_beats=self.n_beats,
            rpeak_lead=self.rpeak_lead,
            rpeak_quality=round(self.rpeak_quality, 4),
            delineation_method=self.delineation_method,
            delineation_ok=self.delineation_ok,
            noisy_leads=list(self.noisy_leads),
            notes=list(self.notes),
        )
        if include_median_beats:
            out["median_beats_mv"] = {
                lead: [round(float(v), 5) for v in self.median_beats_mv[j]] for j, lead in enumerate(STANDARD_LEADS)
            }
            out["time_ms"] = [round(float(t), 3) for t in self.time_ms]
        return out


# --- helpers ---------------------------------------------------------------------------


def _where(ecg: ECG12) -> tuple[str, str]:
    """(path, problem prefix) for errors: the file, with the subject id named in the problem."""
    if ecg.source and ecg.source not in {"<memory>", "<simulated>"}:
        return ecg.source, (f"ECG {ecg.subject_id}: " if ecg.subject_id else "")
    return ecg.subject_id or ecg.source or "<memory>", ""


def _samples(ms: float, fs_hz: float) -> int:
    return round(ms * fs_hz / 1000.0)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a = np.ravel(a) - np.mean(a)
    b = np.ravel(b) - np.mean(b)
    denom = float(np.sqrt(np.dot(a, a) * np.dot(b, b)))
    return float(np.dot(a, b) / denom) if denom > 0 else 0.0


def _mains_present(signal_mv: np.ndarray, fs_hz: float) -> list[float]:
    """Mains frequencies (50/60 Hz) whose spectral peak stands >= 5x above the band around it.

    Only interference that is present is notched: a notch also removes a sliver of
    QRS energy (it lowered R amplitudes by up to 0.03 mV on clean simulated ECGs).
    """
    present: list[float] = []
    n_segment = min(signal_mv.shape[0], int(2 * fs_hz))  # 0.5 Hz resolution
    freqs, power = scipy.signal.welch(signal_mv, fs=fs_hz, nperseg=n_segment, axis=0)
    power = power.mean(axis=1)
    for mains_hz in MAINS_HZ:
        if mains_hz >= 0.45 * fs_hz:  # at or near Nyquist: the recorder's anti-alias filter removed it
            continue
        near = np.abs(freqs - mains_hz)
        peak = power[near <= 1.0]
        reference = power[(near <= 10.0) & (near > 2.0)]
        if peak.size and reference.size and peak.max() >= MAINS_PEAK_RATIO * max(np.median(reference), 1e-20):
            present.append(mains_hz)
    return present


def _measurement_filter(signal_mv: np.ndarray, fs_hz: float) -> np.ndarray:
    """Zero-phase 0.5 Hz high-pass (+150 Hz low-pass where possible) and notches at the mains present."""
    highcut = 150.0 if fs_hz > 2.5 * 150.0 else None
    out = np.empty(signal_mv.shape, dtype=float)
    for j in range(signal_mv.shape[1]):
        out[:, j] = nk.signal_filter(
            signal_mv[:, j].astype(float),
            sampling_rate=fs_hz,
            lowcut=0.5,
            highcut=highcut,
            method="butterworth",
            order=5,
        )
    for mains_hz in _mains_present(out, fs_hz):
        b, a = scipy.signal.iirnotch(mains_hz, Q=30.0, fs=fs_hz)
        out = scipy.signal.filtfilt(b, a, out, axis=0)
    return out


def _slope_magnitude(signal: np.ndarray, fs_hz: float, axis: int) -> np.ndarray:
    """Spatial velocity sqrt(sum over leads of (dV/dt)^2), mV/ms; ``axis`` is the time axis."""
    slope = np.gradient(signal, axis=axis) * fs_hz / 1000.0
    return np.sqrt(np.sum(slope**2, axis=1 - axis))


def _robust_slope(filtered: np.ndarray, fs_hz: float) -> np.ndarray:
    """All-lead slope profile that one artefact-laden lead cannot dominate.

    Each lead's |dV/dt| is scaled by its own 99th percentile, then the median over the
    non-flat leads is taken (a 14 mV electrode artefact in one lead would otherwise
    make every true QRS look small).
    """
    slope = np.abs(np.gradient(filtered, axis=0))
    scale = np.percentile(slope, 99, axis=0)
    live = (np.ptp(filtered, axis=0) >= FLAT_LEAD_MV) & (scale > 0)
    if not live.any():
        return np.zeros(filtered.shape[0])
    return np.median(slope[:, live] / scale[live], axis=1)


def _loo_quality(signal: np.ndarray, peaks: np.ndarray, fs_hz: float) -> float:
    """Mean correlation of each beat's QRS with the median QRS of the other beats (0-1)."""
    half = max(2, _samples(QRS_HALF_WINDOW_MS, fs_hz))
    usable = peaks[(peaks - half >= 0) & (peaks + half < signal.shape[0])]
    if usable.size < MIN_BEATS:
        return 0.0
    segments = np.stack([signal[p - half : p + half + 1] for p in usable])
    # Leave-one-out: with the beat itself in the template even noise correlates well.
    return float(
        np.mean([_correlation(segments[i], np.median(np.delete(segments, i, 0), 0)) for i in range(len(usable))])
    )


@dataclass(frozen=True)
class _Peaks:
    lead: str
    samples: np.ndarray
    quality: float


def _find_rpeaks(ecg: ECG12, filtered: np.ndarray, where: tuple[str, str]) -> _Peaks:
    """R peaks from the most trustworthy lead (shared by all leads); see module docstring, step 1."""
    fs = float(ecg.fs_hz)
    velocity = _robust_slope(filtered, fs)
    velocity_max = float(np.percentile(velocity, 99.5))
    reach = max(1, _samples(60.0, fs))
    candidates: list[_Peaks] = []
    rejected: list[str] = []
    for j, lead in enumerate(STANDARD_LEADS):
        raw = ecg.signal_mv[:, j].astype(float)
        if float(np.ptp(raw)) < FLAT_LEAD_MV:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # NeuroKit warns on odd signals; the checks below decide
            try:
                cleaned = nk.ecg_clean(raw, sampling_rate=fs)
                _, info = nk.ecg_peaks(cleaned, sampling_rate=fs)
            except (ValueError, IndexError, TypeError, ZeroDivisionError) as exc:
                rejected.append(f"{lead} (detector failed: {type(exc).__name__})")
                continue
        peaks = np.asarray(info["ECG_R_Peaks"], dtype=int)
        if peaks.size < MIN_BEATS:
            rejected.append(f"{lead} ({peaks.size} peaks)")
            continue
        rate_bpm = 60.0 * fs / float(np.median(np.diff(peaks)))
        if not HEART_RATE_RANGE_BPM[0] <= rate_bpm <= HEART_RATE_RANGE_BPM[1]:
            rejected.append(f"{lead} ({rate_bpm:.0f} bpm)")
            continue
        local = [velocity[max(0, p - reach) : p + reach + 1].max() for p in peaks]
        slope_fraction = float(np.median(local)) / velocity_max if velocity_max > 0 else 0.0
        if slope_fraction < MIN_PEAK_SLOPE_FRACTION:
            rejected.append(f"{lead} (peaks off the QRS)")
            continue
        quality = _loo_quality(cleaned, peaks, fs)
        if quality < MIN_PEAK_QUALITY:
            rejected.append(f"{lead} (beat correlation {quality:.2f})")
            continue
        candidates.append(_Peaks(lead, peaks, quality))
    if not candidates:
        raise MissingDataError(
            where[0],
            f"{where[1]}no reliable R peaks in any lead (need >= "
            f"{MIN_BEATS} alike beats at {HEART_RATE_RANGE_BPM[0]:g}-{HEART_RATE_RANGE_BPM[1]:g} bpm; "
            f"flat, noise or no ECG signal): {'; '.join(rejected) or 'all leads flat'}",
        )
    return max(candidates, key=lambda c: c.quality)  # ties keep STANDARD_LEADS order


def _cut(signal: np.ndarray, peaks: np.ndarray, before: int, after: int) -> np.ndarray:
    """Segments (beats, before + after + 1, leads) around each peak."""
    return np.stack([signal[p - before : p + after + 1] for p in peaks])


def _realign(signal: np.ndarray, peaks: np.ndarray, fs_hz: float) -> np.ndarray:
    """Shift each beat (<= MAX_ALIGN_SHIFT_MS from its detected R) to best match the median QRS."""
    half = _samples(QRS_HALF_WINDOW_MS, fs_hz)
    max_shift = _samples(MAX_ALIGN_SHIFT_MS, fs_hz)

    def windows(p: int) -> np.ndarray:
        """Zero-mean QRS windows of one beat for every shift: (shifts, samples, leads)."""
        stacked = np.stack([signal[p + k - half : p + k + half + 1] for k in range(-max_shift, max_shift + 1)])
        return stacked - stacked.mean(axis=1, keepdims=True)

    shifts = np.zeros(peaks.size, dtype=int)
    for _ in range(2):  # the second pass matches the sharper template of the first
        template = np.median(_cut(signal, peaks + shifts, half, half), axis=0)
        template = template - template.mean(axis=0)
        shifts = np.array([int(np.argmax(np.einsum("swl,wl->s", windows(p), template))) - max_shift for p in peaks])
    return peaks + shifts


def _align_beats(
    signal: np.ndarray, peaks: np.ndarray, fs_hz: float, where: tuple[str, str], reliable: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Aligned beats (beats, samples, leads) from -250 to +400 ms, mismatching beats dropped.

    Alignment and beat rejection look at the ``reliable`` leads only.
    """
    before, after = _samples(-BEAT_START_MS, fs_hz), _samples(BEAT_END_MS, fs_hz)
    margin = _samples(MAX_ALIGN_SHIFT_MS, fs_hz) + 1
    kept = peaks[(peaks - before - margin >= 0) & (peaks + after + margin < signal.shape[0])]
    if kept.size < MIN_BEATS:
        raise MissingDataError(
            where[0],
            f"{where[1]}only {kept.size} complete beat(s) from {BEAT_START_MS:g} to +{BEAT_END_MS:g} ms around R; "
            f"need >= {MIN_BEATS}",
        )
    kept = _realign(signal[:, reliable], kept, fs_hz)
    beats = _cut(signal, kept, before, after)
    half = _samples(QRS_HALF_WINDOW_MS, fs_hz)
    qrs = beats[:, before - half : before + half + 1, reliable]
    template = np.median(qrs, axis=0)
    corr = np.array([_correlation(b, template) for b in qrs])
    notes: list[str] = []
    good = corr >= MIN_BEAT_CORRELATION
    if good.sum() >= MIN_BEATS and not good.all():
        notes.append(f"dropped {int((~good).sum())} of {good.size} beats unlike the median beat")
        beats, kept = beats[good], kept[good]
    elif not good.all():
        notes.append(f"kept {int((~good).sum())} of {good.size} beats unlike the median beat (too few others)")
    return beats, kept, notes


def _reliable_leads(filtered: np.ndarray, peaks: np.ndarray, fs_hz: float) -> np.ndarray:
    """Mask of leads that carry a repeatable QRS: not flat, beat-to-beat correlation >= 0.5.

    Unreliable leads (a loose electrode, muscle noise) are kept out of beat alignment,
    beat rejection and the QRS bounds, so one bad lead cannot distort the others.
    """
    flat = np.ptp(filtered, axis=0) < FLAT_LEAD_MV
    return np.array(
        [
            not flat[j] and _loo_quality(filtered[:, j], peaks, fs_hz) >= MIN_LEAD_CORRELATION
            for j in range(filtered.shape[1])
        ]
    )


def _bound_limits_ms() -> tuple[float, float]:
    """Earliest QRS onset and latest QRS offset the beat window can hold, ms from R."""
    return BEAT_START_MS + BASELINE_WINDOW_MS, BEAT_END_MS - SPATIAL_VELOCITY_HOLD_MS


def _spatial_velocity_bounds(
    median_beats: np.ndarray, time_ms: np.ndarray, fs_hz: float, fraction: float
) -> tuple[float, float, bool]:
    """QRS (onset_ms, offset_ms, found) from the all-lead slope of the median beats (step 3).

    ``found`` is False when the slope never settles inside the beat window; the bounds
    are then clamped to the window.
    """
    velocity = _slope_magnitude(median_beats, fs_hz, axis=1)
    near_r = np.flatnonzero(np.abs(time_ms) <= QRS_HALF_WINDOW_MS)
    peak = int(near_r[np.argmax(velocity[near_r])])
    threshold = max(
        fraction * float(velocity[peak]),
        SPATIAL_VELOCITY_FLOOR_FACTOR * float(np.percentile(velocity, 10)),
    )
    hold = max(1, _samples(SPATIAL_VELOCITY_HOLD_MS, fs_hz))
    # quiet[k]: the slope stays below threshold on samples k .. k + hold.
    quiet = np.convolve((velocity < threshold).astype(int), np.ones(hold + 1, dtype=int), mode="valid") == hold + 1
    earliest_ms, latest_ms = _bound_limits_ms()
    first = int(np.searchsorted(time_ms, earliest_ms))
    last = int(np.searchsorted(time_ms, latest_ms, side="right")) - 1
    before = np.flatnonzero(quiet[: max(0, peak - hold + 1)])
    before = before[before + hold >= first]
    after = np.flatnonzero(quiet[peak:]) + peak
    after = after[after <= last]
    onset = int(before[-1]) + hold if before.size else first
    offset = int(after[0]) if after.size else last
    return float(time_ms[onset]), float(time_ms[offset]), bool(before.size and after.size)


def _dwt_bounds(filtered: np.ndarray, peaks: np.ndarray, fs_hz: float) -> tuple[float, float, bool]:
    """QRS (onset_ms, offset_ms, found) from ``nk.ecg_delineate`` dwt per lead (step 3)."""
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
    earliest_ms, latest_ms = _bound_limits_ms()
    onset_ok = _consensus(onsets, (earliest_ms, latest_ms))
    offset_ok = _consensus(offsets, (earliest_ms, latest_ms))
    if onset_ok.sum() < MIN_DELINEATED_LEADS or offset_ok.sum() < MIN_DELINEATED_LEADS:
        return math.nan, math.nan, False
    return float(onsets[onset_ok].min()), float(offsets[offset_ok].max()), True


def _consensus(values_ms: np.ndarray, valid_range: tuple[float, float]) -> np.ndarray:
    """Mask of leads whose bound is plausible and within the consensus tolerance."""
    ok = np.isfinite(values_ms) & (values_ms >= valid_range[0]) & (values_ms <= valid_range[1])
    if not ok.any():
        return ok
    centre = float(np.median(values_ms[ok]))
    return ok & (np.abs(values_ms - centre) <= DELINEATION_CONSENSUS_MS)


def _plausible(onset_ms: float, offset_ms: float) -> bool:
    duration_ms = offset_ms - onset_ms
    return math.isfinite(duration_ms) and QRS_DURATION_RANGE_MS[0] <= duration_ms <= QRS_DURATION_RANGE_MS[1]


def _qrs_bounds(
    method: str,
    median_beats: np.ndarray,
    time_ms: np.ndarray,
    fs_a: float,
    dwt_inputs: tuple[np.ndarray, np.ndarray, float],
) -> tuple[float, float, str, bool, list[str]]:
    """(onset_ms, offset_ms, method used, ok, notes): the requested method, then the other one."""
    notes: list[str] = []

    def spatial_velocity() -> tuple[float, float, bool]:
        for fraction in SPATIAL_VELOCITY_FRACTIONS:
            onset, offset, found = _spatial_velocity_bounds(median_beats, time_ms, fs_a, fraction)
            if found and _plausible(onset, offset):
                if fraction != SPATIAL_VELOCITY_FRACTIONS[0]:
                    notes.append(f"spatial-velocity threshold raised to {fraction:.0%} of the QRS peak slope")
                return onset, offset, True
        return math.nan, math.nan, False

    def dwt() -> tuple[float, float, bool]:
        onset, offset, found = _dwt_bounds(*dwt_inputs)
        return onset, offset, found and _plausible(onset, offset)

    runs = {"spatial_velocity": spatial_velocity, "dwt": dwt}
    order = (method, *(other for other in QRS_METHODS if other != method))
    for attempt, used in enumerate(order):
        onset, offset, ok = runs[used]()
        if ok:
            if attempt:
                notes.append(f"{method} gave no plausible QRS bounds; used {used}")
            return onset, offset, used, attempt == 0, notes
    onset, offset, _ = _spatial_velocity_bounds(median_beats, time_ms, fs_a, SPATIAL_VELOCITY_FRACTIONS[-1])
    notes.append("no plausible QRS bounds from either method; spatial-velocity bounds clamped to the beat window")
    return onset, offset, "spatial_velocity", False, notes


def _lead_amplitudes(beat: np.ndarray, time_ms: np.ndarray, onset_ms: float, offset_ms: float) -> tuple[float, float]:
    """(R, S) amplitudes of one median beat in mV (see module docstring, step 4)."""
    in_baseline = (time_ms >= onset_ms - BASELINE_WINDOW_MS) & (time_ms <= onset_ms)
    baseline = float(np.median(beat[in_baseline]))
    qrs = beat[(time_ms >= onset_ms) & (time_ms <= offset_ms)] - baseline
    peak = int(np.argmax(qrs))
    return max(0.0, float(qrs[peak])), max(0.0, -float(qrs[peak:].min()))


# --- public API --------------------------------------------------------------------------


def measure_ecg(ecg: ECG12, *, sex: str | None = None, qrs_method: str = "spatial_velocity") -> ECGMeasurements:
    """Measure R/S amplitudes (mV) per lead and the global QRS duration (ms) of a 12-lead ECG.

    Implements the median-beat pipeline of METHODS.md section 4 as described in the
    module docstring (NeuroKit2 R peaks shared across leads, -250/+400 ms median
    beat, global QRS bounds, PR-segment baseline).

    Args:
        ecg: the record; its leads are in STANDARD_LEADS order (the container checks).
        sex: "M"/"F" (other spellings accepted) or None; None takes
            ``ecg.metadata["sex"]`` when present, else sex stays unknown.
        qrs_method: "spatial_velocity" (default) or "dwt" (``nk.ecg_delineate``); the
            other is the fallback when the chosen one gives implausible bounds.

    Returns:
        ECGMeasurements with the median beats and per-lead amplitudes.

    Raises:
        LeadConfigurationError: sampling rate below :data:`MIN_FS_HZ`.
        MissingDataError: too short a record, or no reliable R peaks in any lead
            (flat or noise-only record); the message names the record.
        UsageError: ``ecg`` is not an ECG12, or ``sex``/``qrs_method`` is not recognised.
    """
    if not isinstance(ecg, ECG12):
        raise UsageError(f"measure_ecg needs an ECG12, got {type(ecg).__name__}")
    if qrs_method not in QRS_METHODS:
        raise UsageError(f"qrs_method must be one of {', '.join(QRS_METHODS)}, got {qrs_method!r}")
    subject_sex = sex_code(sex if sex is not None else ecg.metadata.get("sex"))
    where = _where(ecg)
    fs = float(ecg.fs_hz)
    if fs < MIN_FS_HZ:
        raise LeadConfigurationError(
            where[0], f"{where[1]}sampling rate {fs:g} Hz is below the {MIN_FS_HZ:g} Hz needed to measure QRS"
        )
    if ecg.duration_s * 1000.0 < MIN_BEATS * (BEAT_END_MS - BEAT_START_MS):
        raise MissingDataError(
            where[0], f"{where[1]}record is {ecg.duration_s:.2f} s long; too short for {MIN_BEATS} beats"
        )

    filtered = _measurement_filter(ecg.signal_mv, fs)
    rpeaks = _find_rpeaks(ecg, filtered, where)
    notes: list[str] = []
    reliable = _reliable_leads(filtered, rpeaks.samples, fs)
    reliable[STANDARD_LEADS.index(rpeaks.lead)] = True  # its beats passed a stricter test already
    noisy = tuple(lead for lead, ok in zip(STANDARD_LEADS, reliable) if not ok)
    if noisy:
        notes.append(f"unreliable lead(s) {', '.join(noisy)}: flat, or beats unlike each other")

    factor = max(1, math.ceil(ANALYSIS_FS_HZ / fs - 1e-9))
    fs_a = fs * factor
    analysis = scipy.signal.resample_poly(filtered, factor, 1, axis=0) if factor > 1 else filtered
    beats, kept, beat_notes = _align_beats(analysis, rpeaks.samples * factor, fs_a, where, reliable)
    notes += beat_notes
    median_beats = np.median(beats, axis=0).T  # (leads, samples)
    time_ms = (np.arange(median_beats.shape[1]) - _samples(-BEAT_START_MS, fs_a)) * 1000.0 / fs_a

    onset_ms, offset_ms, method, delineation_ok, bound_notes = _qrs_bounds(
        qrs_method,
        median_beats[reliable],
        time_ms,
        fs_a,
        (filtered[:, reliable], np.round(kept / factor).astype(int), fs),
    )
    notes += bound_notes

    r_mv: dict[str, float] = {}
    s_mv: dict[str, float] = {}
    for j, lead in enumerate(STANDARD_LEADS):
        r_mv[lead], s_mv[lead] = _lead_amplitudes(median_beats[j], time_ms, onset_ms, offset_ms)

    return ECGMeasurements(
        subject_id=ecg.subject_id,
        source=ecg.source,
        sex=subject_sex,
        fs_hz=fs,
        analysis_fs_hz=fs_a,
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
        noisy_leads=noisy,
        median_beats_mv=median_beats,
        time_ms=time_ms,
        notes=tuple(notes),
    )


__all__ = [
    "ECGMeasurements",
    "measure_ecg",
]
