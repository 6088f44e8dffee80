"""Gradient saliency of ``ecg2lvm`` over the full record and the median beat.

Saliency is the absolute input gradient ``|d y / d x|`` per lead and time
sample (Simonyan et al., "Deep inside convolutional networks", arXiv:1312.6034,
2013), computed for the LVH logit and for the (standardised log) mass output
of the eager network. Drawn two ways, as PNGs written atomically:

- ``saliency_record_{lvh,mass}.png``: the 12 leads of the full record (at the
  model's rate) with the saliency as a colour band behind each trace;
- ``saliency_median_beat_{lvh,mass}.png``: the median beats of
  :func:`cardiolens.measure.ecg.measure_ecg`, with the saliency averaged over
  beats aligned on the R peaks (found by neurokit2 on measure_ecg's R-peak lead)
  and interpolated onto the median-beat time axis.

``saliency.npz`` holds the arrays (``lvh``, ``mass``: (12, n_samples)).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cardiolens.data.labels import STANDARD_LEADS
from cardiolens.errors import DataError
from cardiolens.io.atomic import atomic_dir
from cardiolens.systems.ecg2lvm.data import EcgDataset
from cardiolens.systems.ecg2lvm.prediction import _read_input, eager_network, load_model

OUTPUTS = ("lvh", "mass")


def saliency_maps(model_dir: str | Path, dataset: EcgDataset, index: int = 0) -> dict[str, np.ndarray]:
    """``{"lvh": (12, n), "mass": (12, n)}``: |gradient| of each output w.r.t. subject ``index``'s input."""
    import torch

    model = load_model(model_dir)
    network = eager_network(model)
    ecg = torch.from_numpy(dataset.signals[index : index + 1].astype(np.float32)).requires_grad_(True)
    tabular = torch.from_numpy(model.norm.tabular(dataset.table.iloc[index : index + 1]))
    maps: dict[str, np.ndarray] = {}
    for position, name in enumerate(("mass", "lvh")):
        ecg.grad = None
        outputs = network(ecg, tabular if model.config.use_tabular else None)
        outputs[position].sum().backward()
        maps[name] = ecg.grad[0].abs().numpy().copy()  # type: ignore[union-attr]
    return maps


def beat_saliency(saliency: np.ndarray, rpeaks: np.ndarray, fs_hz: float, time_ms: np.ndarray) -> np.ndarray:
    """Mean saliency over beats aligned on ``rpeaks`` (samples at ``fs_hz``), sampled at ``time_ms`` (ms from R).

    Beats whose window leaves the record are skipped; returns (12, len(time_ms)), zeros without beats.
    """
    n = saliency.shape[1]
    offsets = np.round(np.asarray(time_ms) * fs_hz / 1000.0).astype(int)
    lo, hi = offsets.min(), offsets.max()
    windows = []
    for peak in np.asarray(rpeaks, dtype=int):
        if peak + lo >= 0 and peak + hi < n:
            # Linear interpolation at the exact median-beat times (not rounded to the grid).
            t = peak + np.asarray(time_ms) * fs_hz / 1000.0
            windows.append(np.stack([np.interp(t, np.arange(n), lead) for lead in saliency]))
    if not windows:
        return np.zeros((saliency.shape[0], len(time_ms)))
    return np.mean(windows, axis=0)


def _rpeaks(signal: np.ndarray, fs_hz: float) -> np.ndarray:
    import neurokit2 as nk

    _, info = nk.ecg_peaks(nk.ecg_clean(signal, sampling_rate=round(fs_hz)), sampling_rate=round(fs_hz))
    return np.asarray(info["ECG_R_Peaks"], dtype=int)


def _plot_leads(path: Path, time: np.ndarray, traces: np.ndarray, saliency: np.ndarray, title: str, xlabel: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(12, 1, figsize=(12, 14), sharex=True)
    top = float(saliency.max()) or 1.0
    for j, ax in enumerate(axes):
        low, high = float(traces[j].min()) - 0.1, float(traces[j].max()) + 0.1
        ax.imshow(
            saliency[j][None, :] / top, aspect="auto", cmap="Reds", vmin=0, vmax=1,
            extent=(float(time[0]), float(time[-1]), low, high), origin="lower", alpha=0.8,
        )
        ax.plot(time, traces[j], color="black", linewidth=0.7)
        ax.set_ylim(low, high)
        ax.set_ylabel(f"{STANDARD_LEADS[j]}\nmV", rotation=0, ha="right", va="center", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[-1].set_xlabel(xlabel)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def explain(model_dir: str | Path, input: str, out: str | Path) -> Path:
    """Saliency PNGs (and ``saliency.npz``) for the first record of ``input`` in folder ``out``.

    ``input`` is a WFDB record, an aECG file or a dataset folder (first subject).
    The median-beat figures are skipped (with ``median_beat_error.txt``) when the
    ECG cannot be measured. Returns ``out``.
    """
    from cardiolens.measure.ecg import measure_ecg

    model = load_model(model_dir)
    dataset = _read_input(input, model.config)
    maps = saliency_maps(model_dir, dataset, 0)
    fs = model.config.fs_hz
    signal = dataset.signals[0]
    time_s = np.arange(signal.shape[1]) / fs
    sid = dataset.subject_ids[0]
    # without LV mass labels the mass head is untrained: explain only the LVH output
    outputs = OUTPUTS if model.card.data.get("n_lv_mass_known") else tuple(o for o in OUTPUTS if o != "mass")
    with atomic_dir(out) as tmp:
        np.savez_compressed(tmp / "saliency.npz", **maps)
        for name in outputs:
            _plot_leads(tmp / f"saliency_record_{name}.png", time_s, signal, maps[name],
                        f"{sid}: |d {name} / d ECG| over the record", "time (s)")
        try:
            ecg = dataset.ecgs[0]
            measured = measure_ecg(ecg, sex=dataset.table["sex"].iloc[0])
            lead = STANDARD_LEADS.index(measured.rpeak_lead) if measured.rpeak_lead in STANDARD_LEADS else 1
            peaks = _rpeaks(signal[lead].astype(float), fs)
            for name in outputs:
                beat = beat_saliency(maps[name], peaks, fs, measured.time_ms)
                _plot_leads(tmp / f"saliency_median_beat_{name}.png", measured.time_ms, measured.median_beats_mv, beat,
                            f"{sid}: |d {name} / d ECG| over the median beat ({len(peaks)} R peaks)", "time from R peak (ms)")
        except (DataError, ValueError) as exc:
            (tmp / "median_beat_error.txt").write_text(f"median beat not drawn: {exc}\n", encoding="utf-8")
    return Path(out)
