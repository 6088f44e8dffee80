"""Simulated 12-lead ECGs from a dipole (vectorcardiographic) model, with LV-mass-driven voltages.

Method
------
The heart is one time-varying current dipole ``d(t)`` in Frank coordinates
(x = patient's left, y = inferior, z = posterior; mV). Every wave is a sum of
Gaussian lobes, each with a direction, amplitude, centre and width (the 3-D
extension of McSharry's ECGSYN, as in Sameni et al., IEEE TBME 2007):

- P: a right-atrial lobe (inferior, anterior) then a left-atrial lobe (leftward, posterior);
- QRS: septal (rightward-anterior, gives q in V6 and r in V1), apical/anterior,
  LV free wall (leftward-posterior, the largest; deep S in V1-V3, tall R in V5-V6)
  and terminal basal forces (rightward-superior-posterior);
- T: two lobes of one direction (a broad rise and a steeper fall), QT adapting to RR
  (Bazett, QT = QTc * sqrt(RR s)).

Leads I, II and V1-V6 are projections of ``d(t)`` on the lead vectors of the
Dower transform (Dower et al., J Electrocardiol 1988;21 Suppl:S182). III, aVR,
aVL and aVF are derived from I and II, so Einthoven's and Goldberger's laws
hold exactly (III = II - I, aVR = -(I + II)/2, aVL = I - II/2, aVF = II - I/2).
Noise is generated per electrode (RA, LA, LL, V1-V6) and combined the way an
electrocardiograph does (limb leads as differences, precordial leads against
Wilson's central terminal), so the identities hold with noise too.

LV mass and voltage
-------------------
Amplitude of the ventricular (QRS) lobes::

    gain = (lv_mass_g / 150 g) ** 0.8          # QRS_MASS_EXPONENT, QRS_REFERENCE_MASS_G
           * 0.85 if female                    # breast tissue, smaller torso
           * exp(-0.006 * (age_years - 50))    # about -6 % per decade
           * habitus                           # log-normal, sd 0.22 (body build, lung, fat)

The LV free-wall and apical lobes take the full gain; septal and terminal lobes
take gain ** 0.5. Lobe directions vary between subjects (electrical axis,
heart position), so Sokolow-Lyon and Cornell voltages follow LV mass but
imperfectly (Pearson r about 0.55-0.75 over a cohort with masses 80-300 g).
QRS duration: ``86 ms + 0.05 ms/g * (mass - 130 g) + 4 ms if male + N(0, 6 ms)``,
clipped to 70-140 ms; heavy hearts (> 220 g) get a mild repolarisation "strain"
(T vector turned away from the QRS).

Ground truth (``metadata["truth"]``) is measured on one isolated noise-free
template beat (no respiratory modulation): R = maximum above baseline inside the
QRS, S = depth below baseline after the R peak (0 when none), per lead, in mV;
QRS duration = from 2.5 sd before the first QRS lobe to 2.5 sd after the last.
Individual beats vary by about +-3 % (respiration).
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np

from cardiolens.data.ecg import ECG12
from cardiolens.data.labels import STANDARD_LEADS, sex_code
from cardiolens.errors import UsageError

#: Dower lead vectors (rows I, II, V1..V6; columns Frank x, y, z).
DOWER_LEAD_VECTORS: Final[np.ndarray] = np.array(
    [
        [0.632, -0.235, 0.059],
        [0.235, 1.066, -0.132],
        [-0.515, 0.157, -0.917],
        [0.044, 0.164, -1.387],
        [0.882, 0.098, -1.277],
        [1.213, 0.127, -0.601],
        [1.125, 0.127, -0.086],
        [0.831, 0.076, 0.230],
    ]
)

QRS_REFERENCE_MASS_G: Final[float] = 150.0
QRS_MASS_EXPONENT: Final[float] = 0.8
FEMALE_VOLTAGE_FACTOR: Final[float] = 0.85
AGE_VOLTAGE_SLOPE_PER_YEAR: Final[float] = 0.006
HABITUS_LOG_SD: Final[float] = 0.22

# QRS lobes: (name, centre and sd as fractions of QRS duration, direction x/y/z, amplitude mV,
# full mass gain?). The first lobe starts at 0 and the last ends at 1 (+-2.5 sd).
_QRS_LOBES: Final[tuple[tuple[str, float, float, tuple[float, float, float], float, bool], ...]] = (
    ("septal", 0.16, 0.064, (-0.45, 0.25, -0.85), 0.25, False),
    ("apical", 0.38, 0.085, (0.70, 0.55, -0.45), 0.75, True),
    ("free_wall", 0.54, 0.090, (0.68, 0.12, 0.72), 1.45, True),
    ("terminal", 0.80, 0.080, (-0.45, -0.55, 0.70), 0.30, False),
)
_TRUTH_LEADS: Final[tuple[str, ...]] = STANDARD_LEADS


def normalise_sex(sex: str) -> str:
    """Return "M" or "F" for spellings such as "m", "male", "Female"; raise UsageError otherwise."""
    code = sex_code(sex)
    if code is None:
        raise UsageError(f"sex must be 'M' or 'F', got {sex!r}")
    return code


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector, axis=-1, keepdims=True)


def _jitter_direction(rng: np.random.Generator, direction: tuple[float, float, float], sd: float) -> np.ndarray:
    """A unit vector near ``direction`` (isotropic perturbation with about ``sd`` rad)."""
    return _unit(_unit(np.asarray(direction, float)) + rng.normal(0.0, sd, 3))


def _rotation(rng: np.random.Generator, sd_rad: float) -> np.ndarray:
    """A small random 3-D rotation (heart position/axis), Rodrigues' formula."""
    axis_angle = rng.normal(0.0, sd_rad, 3)
    angle = float(np.linalg.norm(axis_angle))
    if angle == 0.0:
        return np.eye(3)
    k = axis_angle / angle
    skew = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * skew + (1 - np.cos(angle)) * skew @ skew


def _leads_from_dipole(dipole_mv: np.ndarray) -> np.ndarray:
    """Project an (n, 3) dipole on the 8 independent leads and derive the other 4 exactly."""
    eight = dipole_mv @ DOWER_LEAD_VECTORS.T
    return _twelve_from_eight(eight)


def _twelve_from_eight(eight: np.ndarray) -> np.ndarray:
    lead_i, lead_ii = eight[:, 0], eight[:, 1]
    derived = np.stack(
        [lead_ii - lead_i, -(lead_i + lead_ii) / 2, lead_i - lead_ii / 2, lead_ii - lead_i / 2], axis=1
    )
    return np.concatenate([eight[:, :2], derived, eight[:, 2:]], axis=1)


def _beat_lobes(
    rng: np.random.Generator, lv_mass_g: float, male: bool, age_years: float
) -> tuple[dict[str, Any], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Draw one subject's beat: lobe centres (s, from QRS onset), sds (s), vectors (mV) and QT class.

    Returns (params, centres_s, sds_s, vectors_mv, kinds) where kinds marks the
    lobe family (0 = P, 1 = QRS, 2 = T); T centres/sds are for RR = 1 s.
    """
    qrs_ms = 86.0 + 0.05 * (lv_mass_g - 130.0) + (4.0 if male else 0.0) + rng.normal(0.0, 6.0)
    qrs_s = float(np.clip(qrs_ms, 70.0, 140.0)) / 1000.0
    habitus = float(np.exp(rng.normal(0.0, HABITUS_LOG_SD)))
    gain = (
        (lv_mass_g / QRS_REFERENCE_MASS_G) ** QRS_MASS_EXPONENT
        * (1.0 if male else FEMALE_VOLTAGE_FACTOR)
        * np.exp(-AGE_VOLTAGE_SLOPE_PER_YEAR * (age_years - 50.0))
        * habitus
    )
    heart_rotation = _rotation(rng, 0.25)  # axis/position differences between people

    centres: list[float] = []
    sds: list[float] = []
    vectors: list[np.ndarray] = []
    kinds: list[int] = []
    pr_s = float(np.clip(rng.normal(0.155, 0.018), 0.12, 0.21))
    p_s = float(np.clip(rng.normal(0.100, 0.010), 0.08, min(0.12, pr_s - 0.01)))
    p_amp = float(rng.uniform(0.7, 1.3))
    for centre, sd, direction, amp in (
        (0.35, 0.14, (0.30, 0.75, -0.60), 0.11),
        (0.62, 0.15, (0.75, 0.45, 0.45), 0.10),
    ):
        centres.append(-pr_s + centre * p_s)
        sds.append(sd * p_s)
        vectors.append(amp * p_amp * _jitter_direction(rng, direction, 0.15))
        kinds.append(0)

    qrs_directions: dict[str, np.ndarray] = {}
    for name, centre, sd, direction, amp, full_gain in _QRS_LOBES:
        lobe_gain = gain if full_gain else gain**0.5
        qrs_directions[name] = _jitter_direction(rng, direction, 0.18)
        centres.append(centre * qrs_s)
        sds.append(sd * qrs_s)
        vectors.append(amp * lobe_gain * float(rng.uniform(0.85, 1.15)) * qrs_directions[name])
        kinds.append(1)

    # Strain: heavy hearts turn the T vector away from the main QRS force.
    strain = float(np.clip((lv_mass_g - 220.0) / 150.0, 0.0, 0.7))
    t_dir = _jitter_direction(rng, (0.75, 0.45, -0.45), 0.15)
    t_dir = _unit((1 - strain) * t_dir - strain * qrs_directions["free_wall"])
    t_amp = float(rng.uniform(0.30, 0.45)) * (1.0 if male else 0.85) * (1 - 0.5 * strain)
    qtc_s = float(np.clip(rng.normal(0.405 if male else 0.415, 0.018), 0.36, 0.47))
    # T lobes placed for RR = 1 s (QT = QTc); scaled per beat by sqrt(RR).
    for offset, sd, amp in ((0.120, 0.045, 0.65), (0.070, 0.028, 0.55)):
        centres.append(qtc_s - offset)
        sds.append(sd)
        vectors.append(amp * t_amp * t_dir)
        kinds.append(2)

    vectors_mv = np.asarray(vectors) @ heart_rotation.T
    params = {
        "qrs_duration_ms": qrs_s * 1000.0,
        "qtc_ms": qtc_s * 1000.0,
        "pr_ms": pr_s * 1000.0,
        "qrs_gain": gain,
        "habitus": habitus,
    }
    return params, np.asarray(centres), np.asarray(sds), vectors_mv, np.asarray(kinds)


def _render(
    t_s: np.ndarray,
    onsets_s: np.ndarray,
    rr_s: np.ndarray,
    beat_scale: np.ndarray,
    centres_s: np.ndarray,
    sds_s: np.ndarray,
    vectors_mv: np.ndarray,
    kinds: np.ndarray,
) -> np.ndarray:
    """Sum the Gaussian lobes of every beat: returns the (n, 3) dipole in mV."""
    qt_scale = np.sqrt(rr_s)[:, None]  # T timing follows RR (Bazett)
    is_t = kinds == 2
    centre = np.where(is_t, centres_s * qt_scale, centres_s) + onsets_s[:, None]  # (beats, lobes)
    sd = np.where(is_t, sds_s * qt_scale, sds_s) * np.ones_like(centre)
    amp = np.where(kinds == 1, beat_scale[:, None], 1.0) * np.ones_like(centre)
    dipole = np.zeros((t_s.size, 3))
    # Each beat only touches samples within 6 sd of its lobes: render it on that window.
    starts = np.searchsorted(t_s, (centre - 6 * sd).min(axis=1))
    stops = np.searchsorted(t_s, (centre + 6 * sd).max(axis=1))
    for b, (start, stop) in enumerate(zip(starts, stops)):
        if stop <= start:
            continue
        z = (t_s[start:stop, None] - centre[b]) / sd[b]
        dipole[start:stop] += (np.exp(-0.5 * z * z) * amp[b]) @ vectors_mv
    return dipole


def _template_truth(
    params: dict[str, Any], centres_s: np.ndarray, sds_s: np.ndarray, vectors_mv: np.ndarray, kinds: np.ndarray
) -> dict[str, Any]:
    """R/S amplitudes (mV) per lead and QRS duration (ms) on one isolated noise-free beat."""
    qrs = kinds == 1
    onset = float(np.min(centres_s[qrs] - 2.5 * sds_s[qrs]))
    end = float(np.max(centres_s[qrs] + 2.5 * sds_s[qrs]))
    t_s = np.arange(onset, end, 0.0002)
    dipole = _render(t_s, np.zeros(1), np.ones(1), np.ones(1), centres_s, sds_s, vectors_mv, kinds)
    leads = _leads_from_dipole(dipole)
    baseline = leads[0]  # value at QRS onset (P and T tails are ~0 there)
    r_mv: dict[str, float] = {}
    s_mv: dict[str, float] = {}
    for j, name in enumerate(STANDARD_LEADS):
        trace = leads[:, j] - baseline[j]
        peak = int(np.argmax(trace))
        r_mv[name] = round(max(0.0, float(trace[peak])), 4)
        s_mv[name] = round(max(0.0, -float(trace[peak:].min())), 4)
    sokolow = s_mv["V1"] + max(r_mv["V5"], r_mv["V6"])
    cornell = r_mv["aVL"] + s_mv["V3"]
    return {
        "r_amplitude_mv": {k: r_mv[k] for k in _TRUTH_LEADS},
        "s_amplitude_mv": {k: s_mv[k] for k in _TRUTH_LEADS},
        "qrs_duration_ms": round((end - onset) * 1000.0, 2),
        "sokolow_lyon_mv": round(sokolow, 4),
        "cornell_voltage_mv": round(cornell, 4),
        "qtc_ms": round(params["qtc_ms"], 1),
        "pr_ms": round(params["pr_ms"], 1),
        "qrs_gain": round(float(params["qrs_gain"]), 4),
    }


def _electrode_noise(rng: np.random.Generator, t_s: np.ndarray, fs_hz: float) -> tuple[np.ndarray, float]:
    """Noise at the 9 electrodes (RA, LA, LL, V1-V6), mV: baseline wander, mains, EMG."""
    n = t_s.size
    n_electrodes = 9
    wander = np.zeros((n, n_electrodes))
    for _ in range(2):  # respiration and slow electrode drift, 0.1-0.5 Hz
        freq = rng.uniform(0.1, 0.5)
        phase = rng.uniform(0, 2 * np.pi, n_electrodes)
        amp = rng.uniform(0.0, 0.15, n_electrodes)
        wander += amp * np.sin(2 * np.pi * freq * t_s[:, None] + phase)
    line_hz = float(rng.choice([50.0, 60.0]))
    line_amp = rng.uniform(0.0, 0.03, n_electrodes) * (rng.random() < 0.7)
    line_phase = rng.uniform(0, 2 * np.pi) + rng.normal(0, 0.2, n_electrodes)
    mains = np.zeros((n, n_electrodes))
    if 2 * line_hz < fs_hz:  # a recorder's anti-alias filter removes it otherwise
        mains = line_amp * np.sin(2 * np.pi * line_hz * t_s[:, None] + line_phase)
    emg_sd = rng.uniform(0.003, 0.02) * rng.uniform(0.5, 1.5, n_electrodes)
    emg = rng.normal(0.0, 1.0, (n, n_electrodes)) * emg_sd
    return wander + mains + emg, line_hz


def _leads_from_electrodes(electrodes: np.ndarray) -> np.ndarray:
    """12 leads from RA, LA, LL, V1-V6 potentials (Wilson central terminal for V leads)."""
    ra, la, ll = electrodes[:, 0], electrodes[:, 1], electrodes[:, 2]
    wct = (ra + la + ll) / 3.0
    eight = np.concatenate([(la - ra)[:, None], (ll - ra)[:, None], electrodes[:, 3:] - wct[:, None]], axis=1)
    return _twelve_from_eight(eight)


def simulate_ecg(
    rng: np.random.Generator,
    *,
    lv_mass_g: float,
    sex: str,
    age_years: float,
    subject_id: str = "",
    fs_hz: float = 500.0,
    duration_s: float = 10.0,
    heart_rate_bpm: float | None = None,
    noise: bool = True,
) -> ECG12:
    """Simulate a resting 12-lead ECG (mV) whose QRS voltages follow LV mass, sex and age.

    Args:
        rng: the random stream; the same stream state gives the same ECG.
        lv_mass_g: true LV mass in g (drives QRS amplitude and duration).
        sex: "M" or "F" (women have lower voltage at equal mass).
        age_years: age in years (voltage falls about 6 % per decade).
        subject_id: stored on the ECG.
        fs_hz: sampling frequency in Hz.
        duration_s: record length in s.
        heart_rate_bpm: mean heart rate in bpm that the RR series varies around (+-4 %
            respiratory sinus arrhythmia, 2 % jitter); drawn from N(70, 10) clipped
            to 50-100 bpm when None.
        noise: add baseline wander (0.1-0.5 Hz), mains (50/60 Hz) and EMG noise.
            The same random numbers are drawn either way, so ``noise=False``
            with the same seed gives the clean version of the noisy ECG.

    Returns:
        ECG12 with ``metadata`` holding ``simulated`` (True), ``lv_mass_g``,
        ``sex``, ``age_years``, ``heart_rate_bpm``, ``powerline_hz``, ``noise``,
        ``qrs_onsets_s`` and ``truth`` (noise-free R and S amplitudes per lead
        in mV, ``qrs_duration_ms``, ``sokolow_lyon_mv``, ``cornell_voltage_mv``).
    """
    if not isinstance(rng, np.random.Generator):
        raise UsageError(f"rng must be a numpy Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    for name, value, low in (("lv_mass_g", lv_mass_g, 0.0), ("fs_hz", fs_hz, 0.0), ("duration_s", duration_s, 0.0)):
        if not np.isfinite(value) or value <= low:
            raise UsageError(f"{name} must be a positive number, got {value}")
    if not np.isfinite(age_years) or not 0 <= age_years <= 120:
        raise UsageError(f"age_years must be between 0 and 120, got {age_years}")
    if heart_rate_bpm is not None and (not np.isfinite(heart_rate_bpm) or not 20 <= heart_rate_bpm <= 250):
        raise UsageError(f"heart_rate_bpm must be between 20 and 250, got {heart_rate_bpm}")
    sex_code = normalise_sex(sex)
    male = sex_code == "M"

    drawn_rate = float(np.clip(rng.normal(70.0, 10.0), 50.0, 100.0))
    rate_bpm = float(heart_rate_bpm) if heart_rate_bpm is not None else drawn_rate
    params, centres, sds, vectors, kinds = _beat_lobes(rng, float(lv_mass_g), male, float(age_years))

    # Beat times: respiratory sinus arrhythmia plus random RR jitter; beats start before
    # t = 0 so the record opens mid-rhythm.
    mean_rr_s = 60.0 / rate_bpm
    n_beats = int(np.ceil(duration_s / (mean_rr_s * 0.85))) + 3
    resp_hz = rng.uniform(0.18, 0.32)
    resp_phase = rng.uniform(0, 2 * np.pi)
    jitter = rng.normal(0.0, 0.02, n_beats)
    start = -rng.uniform(0.0, mean_rr_s) - mean_rr_s
    rr = np.empty(n_beats)
    onsets = np.empty(n_beats)
    t_beat = start
    for b in range(n_beats):
        resp = np.sin(2 * np.pi * resp_hz * t_beat + resp_phase)
        rr[b] = mean_rr_s * (1.0 + 0.04 * resp + jitter[b])
        onsets[b] = t_beat
        t_beat += rr[b]
    beat_scale = 1.0 + 0.03 * np.sin(2 * np.pi * resp_hz * onsets + resp_phase + 1.0)

    n_samples = int(round(duration_s * fs_hz))
    t_s = np.arange(n_samples) / fs_hz
    preceding_rr = np.concatenate([rr[:1], rr[:-1]])  # QT follows the RR interval before the beat
    dipole = _render(t_s, onsets, preceding_rr, beat_scale, centres, sds, vectors, kinds)
    signal = _leads_from_dipole(dipole)
    electrode_noise, line_hz = _electrode_noise(rng, t_s, fs_hz)
    if noise:
        signal = signal + _leads_from_electrodes(electrode_noise)

    truth = _template_truth(params, centres, sds, vectors, kinds)
    in_record = (onsets >= 0) & (onsets < duration_s)
    metadata: dict[str, Any] = {
        "simulated": True,
        "lv_mass_g": float(lv_mass_g),
        "sex": sex_code,
        "age_years": float(age_years),
        "heart_rate_bpm": round(rate_bpm, 2),
        "powerline_hz": line_hz,
        "noise": bool(noise),
        "qrs_onsets_s": [round(float(o), 4) for o in onsets[in_record]],
        "truth": truth,
    }
    return ECG12(signal_mv=signal, fs_hz=float(fs_hz), subject_id=subject_id, source="<simulated>", metadata=metadata)


__all__ = [
    "DOWER_LEAD_VECTORS",
    "FEMALE_VOLTAGE_FACTOR",
    "QRS_MASS_EXPONENT",
    "QRS_REFERENCE_MASS_G",
    "normalise_sex",
    "simulate_ecg",
]
