"""``predict cine-seg``: segment every frame of each study, then measure volumes, EF, mass and IVPG.

Per study, a folder ``OUT/<subject>/`` (written atomically) with
``masks.nii.gz`` (t, z, y, x labels on the cine grid and geometry),
``measurements.json`` (volumes, EF, mass, AHA thickness, volume-curve rates;
:func:`cardiolens.measure.cine.measure_cine`), ``ivpg.json`` and
``curves.csv`` (per-frame LV/RV volumes and the IVPG curves over one cycle).
``OUT/predictions.csv`` has one row per study; a study that cannot be read
or measured becomes a row with ``error`` and the batch goes on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cardiolens.data.cine import CineCMR
from cardiolens.errors import DataError
from cardiolens.io.atomic import atomic_dir, write_text_atomic
from cardiolens.io.nifti import write_nifti
from cardiolens.measure.cine import measure_cine
from cardiolens.measure.ivpg import IVPGResult, compute_ivpg
from cardiolens.systems.cine_seg.data import read_cine_input
from cardiolens.systems.cine_seg.model import SliceSegmenter, load_segmenter

#: Cycle length assumed when a cine carries no frame timing (ACDC): IVPG then in units of a 1 s cycle.
NOMINAL_RR_MS = 1000.0


def segmented_cine(cine: CineCMR, masks_tzyx: np.ndarray) -> CineCMR:
    """The cine with ``masks_tzyx`` as its segmentation on every frame."""
    return replace(cine, segmentations={t: masks_tzyx[t] for t in range(masks_tzyx.shape[0])})


def cine_ivpg(cine: CineCMR, *, normalise_length: bool | None = None) -> IVPGResult:
    """IVPG of a cine segmented on every frame; a nominal 1 s cycle when it has no timing (noted)."""
    rr = None if cine.trigger_times_ms is not None else NOMINAL_RR_MS
    return compute_ivpg(cine, rr_interval_ms=rr, normalise_length=normalise_length)


def _curves(result: IVPGResult, lv_voxels: np.ndarray, rv_voxels: np.ndarray) -> pd.DataFrame:
    frame_pct = np.arange(len(lv_voxels)) / len(lv_voxels) * 100.0
    table = pd.DataFrame({"cycle_pct": result.cycle_pct, "time_ms": result.time_ms, "ivpg_total_mmhg": result.total_mmhg,
                          "ivpg_apical_mmhg": result.apical_mmhg, "ivpg_mid_mmhg": result.mid_mmhg, "ivpg_basal_mmhg": result.basal_mmhg})
    table["lv_cavity_voxels"] = np.interp(result.cycle_pct, frame_pct, lv_voxels, period=100.0)
    table["rv_cavity_voxels"] = np.interp(result.cycle_pct, frame_pct, rv_voxels, period=100.0)
    return table


def predict_study(segmenter: SliceSegmenter, cine: CineCMR, out_dir: Path) -> dict[str, Any]:
    """Segment, measure and write one study's folder; returns its summary row."""
    start = time.perf_counter()
    masks = segmenter.segment_cine(cine.image)
    seconds_segmentation = time.perf_counter() - start
    segmented = segmented_cine(cine, masks)
    measurements = measure_cine(segmented, phases="volume" if cine.es_index is None else "container").to_dict()
    ivpg = cine_ivpg(segmented)
    lv = (masks == 3).reshape(len(masks), -1).sum(axis=1)
    rv = (masks == 1).reshape(len(masks), -1).sum(axis=1)
    with atomic_dir(out_dir) as tmp:
        frame_ms = None if cine.trigger_times_ms is None or len(cine.trigger_times_ms) < 2 else float(np.median(np.diff(cine.trigger_times_ms)))
        write_nifti(tmp / "masks.nii.gz", masks, cine.spacing_mm, cine.affine, frame_time_ms=frame_ms)
        (tmp / "measurements.json").write_text(json.dumps(measurements, indent=1, default=_json), encoding="utf-8")
        (tmp / "ivpg.json").write_text(json.dumps(ivpg.to_dict(include_curves=False), indent=1, default=_json), encoding="utf-8")
        _curves(ivpg, lv, rv).to_csv(tmp / "curves.csv", index=False)
    features = asdict(ivpg.features)
    row = {"subject_id": cine.subject_id, "source": cine.source, "spacing_known": cine.spacing_known,
           "seconds_segmentation": round(seconds_segmentation, 3), "error": None}
    for key in ("lv_edv_ml", "lv_esv_ml", "lv_ef_pct", "lv_mass_g", "rv_edv_ml", "rv_ef_pct"):
        row[key] = measurements.get(key)
    row.update({f"ivpg_{k}": v for k, v in features.items() if isinstance(v, (int, float)) or v is None})
    return row


def _json(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def _folder_name(cine: CineCMR, path: str, used: set[str]) -> str:
    name = cine.subject_id or Path(path).name.split(".")[0]
    base, k = name, 1
    while name in used:
        k += 1
        name = f"{base}_{k}"
    used.add(name)
    return name


def predict(model_dir: str | Path, inputs: Sequence[str], out: str | Path, *, backend: str = "onnx") -> Path:
    """Segment and measure each input study (ACDC patient folder, simulated subject, 4-D NIfTI, DICOM cine folder)."""
    segmenter = load_segmenter(model_dir, backend)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, used = [], set()
    for path in inputs:
        try:
            cine = read_cine_input(path)
            rows.append(predict_study(segmenter, cine, out_dir / _folder_name(cine, path, used)))
        except DataError as exc:
            rows.append({"subject_id": Path(path).name, "source": str(path), "error": str(exc)})
    write_text_atomic(out_dir / "predictions.csv", pd.DataFrame(rows).to_csv(index=False))
    return out_dir
