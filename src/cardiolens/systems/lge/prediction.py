"""``predict lge``: segment and quantify LGE studies with a trained model.

Outputs (atomic) in ``out``: ``predictions.csv`` (one row per study: volumes
in mL when the spacing is known or given, else voxels, with ``volume_unit``
saying which; %LGE, the >15 % flag, MI call and per-AHA-segment scar %; an
``error`` column for studies that could not be read), and per study
``SUBJECT/lge_seg.nii.gz`` (labels: 1 LV cavity, 2 normal myocardium,
3 infarct, 4 MVO), ``SUBJECT/measurements.json`` and, for DICOM input,
``SUBJECT/lge_seg.dcm`` (DICOM Segmentation referencing the source images).
A bad study is reported and the batch continues; when none can be read the
first error is raised (exit code 2).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from cardiolens.data.volume import CMRVolume
from cardiolens.errors import DataError, UsageError
from cardiolens.io.atomic import write_text_atomic
from cardiolens.io.lge_study import read_lge_study
from cardiolens.io.nifti import write_nifti
from cardiolens.measure.lge import LGEMeasurements
from cardiolens.systems.lge.pipeline import LGEPipeline, load_pipeline
from cardiolens.systems.lge.quantification import measure_labels, measurement_row


def _write_case(pipeline: LGEPipeline, volume: CMRVolume, labels: Any, measured: LGEMeasurements, folder: Path) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {"mask_nifti": str(write_nifti(folder / "lge_seg.nii.gz", labels.astype("uint8"), volume.spacing_mm, volume.affine))}
    if volume.metadata.get("input_format") == "dicom":
        from cardiolens import __version__
        from cardiolens.io.dicom_seg import LGE_SEGMENTS, read_source_datasets, write_dicom_seg

        sources = read_source_datasets(Path(volume.metadata["input_path"]), labels.shape[0])
        files["mask_dicom_seg"] = str(write_dicom_seg(labels, sources, folder / "lge_seg.dcm", LGE_SEGMENTS,
                                                      algorithm_name=f"cardiolens lge {pipeline.config.variant}",
                                                      algorithm_version=__version__))
    document = {"subject_id": volume.subject_id, "source": volume.source, "variant": pipeline.config.variant,
                "spacing_known": volume.spacing_known, "spacing_mm": list(volume.spacing_mm) if volume.spacing_known else None,
                "measurements": measured.to_dict(), "files": files}
    write_text_atomic(folder / "measurements.json", json.dumps(document, indent=1, default=str))
    return files


def predict_study(pipeline: LGEPipeline, path: str, out: Path) -> dict[str, Any]:
    """Segment, quantify and write one study; returns its row."""
    volume = pipeline.prepare(read_lge_study(path))
    start = time.perf_counter()
    labels = pipeline.segment(volume)
    seconds = time.perf_counter() - start
    row: dict[str, Any] = {"input": path, "subject_id": volume.subject_id, "variant": pipeline.config.variant,
                           "n_slices": int(volume.image.shape[0]), "segmentation_s": round(seconds, 4)}
    measured = measure_labels(volume, labels)
    row.update(measurement_row(measured))
    row.update(_write_case(pipeline, volume, labels, measured, out / (volume.subject_id or Path(path).name)))
    return row


def predict(model_dir: str | Path, inputs: Sequence[str], out: str | Path, *, backend: str = "onnx") -> Path:
    """Segment and quantify every input study; write the outputs above into ``out``; returns ``out``.

    Raises:
        UsageError: no inputs.
        DataError: an unusable model directory, or no readable input (the first error, naming its file).
    """
    if not inputs:
        raise UsageError("predict needs at least one LGE study (EMIDEC case folder, NIfTI, or DICOM series)")
    pipeline = load_pipeline(model_dir, backend)
    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    errors: list[DataError] = []
    for path in inputs:
        try:
            rows.append(predict_study(pipeline, path, target))
        except DataError as exc:  # report the bad study, go on with the others
            errors.append(exc)
            rows.append({"input": path, "error": str(exc)})
    if not any("error" not in row for row in rows):
        raise errors[0]
    write_text_atomic(target / "predictions.csv", pd.DataFrame(rows).to_csv(index=False, float_format="%.6g"))
    return target
