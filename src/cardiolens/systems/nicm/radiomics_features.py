"""Scale-invariant radiomics of one cine frame for the ``nicm`` radiomics+SVM baseline.

Features come from pyradiomics (module ``radiomics``, package
``pyradiomics-bhklab``), called through its feature classes on SimpleITK
images whose spacing is set to (1, 1, 1): half of ACDC has no real voxel
spacing, so nothing may depend on it. For the same reason only dimensionless
shape features are kept:

- per label (1 RV cavity, 2 LV myocardium, 3 LV cavity): 3-D Sphericity,
  Elongation and Flatness on the voxel grid, and the 2-D (per short-axis
  slice) Sphericity and Elongation averaged over the slices holding the label;
- inside the myocardium: first-order statistics and in-plane GLCM texture
  (``force2D``: cine slices are 5-10x thicker than the in-plane pixel) of the
  image the caller has normalised per study to [0, 1], with ``binWidth``
  1/32 (32 grey levels over [0, 1]). Energy and TotalEnergy are left out: they
  grow with the voxel count, i.e. with the in-plane resolution.

Shapes on the voxel grid are spacing-invariant (they never read the recorded
spacing) but not resolution-invariant: anisotropic voxels change a 3-D
sphericity, which is why the 2-D per-slice forms are given as well.
An empty (or degenerate) label gives NaN features, never an error.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable
from typing import Any, Final

import numpy as np

from cardiolens.data.labels import CINE_LABELS
from cardiolens.errors import UsageError

#: Label value -> name used in the feature keys.
RADIOMICS_LABELS: Final[dict[int, str]] = {
    CINE_LABELS["rv_cavity"]: "rv_cavity",
    CINE_LABELS["lv_myocardium"]: "lv_myocardium",
    CINE_LABELS["lv_cavity"]: "lv_cavity",
}
#: Grey-level bin width for the [0, 1]-normalised image (32 levels, within pyradiomics' advised 30-130).
BIN_WIDTH: Final[float] = 1.0 / 32.0
SHAPE3D_FEATURES: Final[tuple[str, ...]] = ("Sphericity", "Elongation", "Flatness")
SHAPE2D_FEATURES: Final[tuple[str, ...]] = ("Sphericity", "Elongation")
FIRSTORDER_FEATURES: Final[tuple[str, ...]] = (
    "Mean", "Median", "10Percentile", "90Percentile", "InterquartileRange", "Range",
    "MeanAbsoluteDeviation", "RobustMeanAbsoluteDeviation", "RootMeanSquared",
    "StandardDeviation", "Variance", "Skewness", "Kurtosis", "Entropy", "Uniformity",
)  # fmt: skip
GLCM_FEATURES: Final[tuple[str, ...]] = (
    "Autocorrelation", "JointAverage", "ClusterProminence", "ClusterShade", "ClusterTendency",
    "Contrast", "Correlation", "DifferenceAverage", "DifferenceEntropy", "DifferenceVariance",
    "Id", "Idm", "Idmn", "Idn", "Imc1", "Imc2", "InverseVariance", "JointEnergy", "JointEntropy",
    "MaximumProbability", "SumEntropy", "SumSquares",
)  # fmt: skip
_TEXTURE_LABEL: Final[int] = CINE_LABELS["lv_myocardium"]


def radiomics_feature_names(phase: str) -> list[str]:
    """Every key :func:`radiomics_features` returns for ``phase``, in order."""
    names = []
    for name in RADIOMICS_LABELS.values():
        names += [f"{phase}_{name}_shape3d_{f}" for f in SHAPE3D_FEATURES]
        names += [f"{phase}_{name}_shape2d_{f}" for f in SHAPE2D_FEATURES]
    texture = RADIOMICS_LABELS[_TEXTURE_LABEL]
    names += [f"{phase}_{texture}_firstorder_{f}" for f in FIRSTORDER_FEATURES]
    names += [f"{phase}_{texture}_glcm_{f}" for f in GLCM_FEATURES]
    return names


def _quiet_radiomics() -> None:
    """pyradiomics logs every degenerate ROI at WARNING; a batch of studies does not need that."""
    logging.getLogger("radiomics").setLevel(logging.ERROR)


def _run(
    feature_class: Callable[..., Any], image: Any, mask: Any, names: tuple[str, ...], **settings: Any
) -> dict[str, float]:
    """Run one pyradiomics feature class; any failure on a degenerate ROI gives NaN."""
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            extractor = feature_class(image, mask, label=1, **settings)
            for name in names:
                extractor.enableFeatureByName(name)
            values = extractor.execute()
    except Exception:  # noqa: BLE001 - pyradiomics raises assorted types on degenerate ROIs
        return {name: math.nan for name in names}
    out = {}
    for name in names:
        value = float(np.asarray(values.get(name, math.nan)).real)
        out[name] = value if math.isfinite(value) else math.nan
    return out


def radiomics_features(image_zyx: np.ndarray, labels_zyx: np.ndarray, phase: str) -> dict[str, float]:
    """Scale-invariant shape and myocardial texture features of one frame (see the module docstring).

    Args:
        image_zyx: the frame, normalised per study to [0, 1] (values outside
            are clipped); shape (z, y, x).
        labels_zyx: cine labels (1 RV cavity, 2 LV myocardium, 3 LV cavity), same shape.
        phase: key prefix, e.g. "ed" or "es".

    Returns:
        ``{f"{phase}_{label_name}_{class}_{feature}": value}`` with the keys of
        :func:`radiomics_feature_names`; NaN where a label is empty or degenerate.
    """
    import SimpleITK as sitk  # heavy: only the systems import this module
    from radiomics import firstorder, glcm, shape, shape2D

    _quiet_radiomics()
    image = np.clip(np.asarray(image_zyx, dtype=np.float64), 0.0, 1.0)
    labels = np.asarray(labels_zyx)
    if image.ndim != 3 or labels.shape != image.shape:
        raise UsageError(
            f"radiomics_features needs a 3-D image and labels of one shape, got {image.shape} and {labels.shape}"
        )

    def itk(array: np.ndarray) -> Any:
        out = sitk.GetImageFromArray(array)
        out.SetSpacing((1.0,) * array.ndim)  # the recorded spacing must not matter (see above)
        return out

    out: dict[str, float] = {}
    image_itk = itk(image)
    for value, name in RADIOMICS_LABELS.items():
        mask = labels == value
        prefix = f"{phase}_{name}"
        shape3d = (
            _run(shape.RadiomicsShape, image_itk, itk(mask.astype(np.uint8)), SHAPE3D_FEATURES)
            if mask.any()
            else dict.fromkeys(SHAPE3D_FEATURES, math.nan)
        )
        out.update({f"{prefix}_shape3d_{k}": v for k, v in shape3d.items()})
        per_slice = [
            _run(shape2D.RadiomicsShape2D, itk(image[z]), itk(mask[z].astype(np.uint8)), SHAPE2D_FEATURES)
            for z in range(mask.shape[0])
            if mask[z].any()
        ]
        for feature in SHAPE2D_FEATURES:
            values = np.array([s[feature] for s in per_slice], dtype=float)
            finite = values[np.isfinite(values)]
            out[f"{prefix}_shape2d_{feature}"] = float(finite.mean()) if finite.size else math.nan

    myo = labels == _TEXTURE_LABEL
    prefix = f"{phase}_{RADIOMICS_LABELS[_TEXTURE_LABEL]}"
    if myo.any():
        myo_itk = itk(myo.astype(np.uint8))
        first = _run(firstorder.RadiomicsFirstOrder, image_itk, myo_itk, FIRSTORDER_FEATURES, binWidth=BIN_WIDTH)
        texture = _run(
            glcm.RadiomicsGLCM, image_itk, myo_itk, GLCM_FEATURES,
            binWidth=BIN_WIDTH, force2D=True, force2Ddimension=0,
        )  # fmt: skip
    else:
        first = dict.fromkeys(FIRSTORDER_FEATURES, math.nan)
        texture = dict.fromkeys(GLCM_FEATURES, math.nan)
    out.update({f"{prefix}_firstorder_{k}": v for k, v in first.items()})
    out.update({f"{prefix}_glcm_{k}": v for k, v in texture.items()})
    return out
