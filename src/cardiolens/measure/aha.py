"""AHA 17-segment model of the left ventricle on short-axis masks.

Method: Cerqueira et al., Circulation 2002;105:539 (doi:10.1161/hc0402.102975),
with the angle convention of ukbb_cardiac (``METHODS.md`` section 3):

- Slices holding LV cavity ("ring slices") are split, in base-to-apex order,
  into basal, mid and apical thirds (``numpy.array_split`` sizes, so a stack
  of 8 gives 3/3/2; a single ring slice counts as mid). Basal and mid slices
  get 6 segments (1-6, 7-12), apical slices 4 (13-16). Myocardium on slices
  beyond the last ring slice towards the apex is the apical cap, segment 17.
  Myocardium on slices without cavity on the basal side (or in a gap) takes
  the level of the nearest ring slice.
- About the LV centre of each slice (cavity centroid), the AHA angle is
  ``theta = atan2(septal component, anterior component)``: 0 anterior,
  +90 deg septal, +-180 deg inferior, -90 deg lateral. Basal/mid segments are
  60 deg sectors starting at anterior [-30, 30) -> 1/7, anteroseptal [30, 90)
  -> 2/8, inferoseptal [90, 150) -> 3/9, inferior -> 4/10, inferolateral
  [-150, -90) -> 5/11, anterolateral [-90, -30) -> 6/12. Apical segments are
  90 deg sectors: anterior [-45, 45) -> 13, septal -> 14, inferior -> 15,
  lateral [-135, -45) -> 16.

Image-plane conventions used throughout this module:

- A *septal angle* is the direction from the LV centre to the septal midpoint
  as ``atan2(dy, dx)`` in image coordinates (dy along rows, i.e. down; dx
  along columns, i.e. right), in mm when a spacing is known. The usual
  display (RV on the image left) has septal angle pi
  (:data:`SEPTUM_IMAGE_LEFT_RAD`).
- ``clockwise`` says how anterior relates to septum on screen (rows drawn
  downwards): False (default) is the standard short-axis display seen from
  the apex, anterior up and septum left, where turning from anterior to
  septum is counter-clockwise. The direction cannot be known from a mask
  alone; :func:`clockwise_from_affine` derives it from a real patient-space
  affine.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final, Literal

import numpy as np
from scipy import ndimage

from cardiolens.errors import UsageError

Level = Literal["basal", "mid", "apical"]

#: Septal angle of the usual short-axis display (RV and septum on the image left).
SEPTUM_IMAGE_LEFT_RAD: Final[float] = math.pi

#: Names of the 17 segments (Cerqueira 2002).
SEGMENT_NAMES: Final[dict[int, str]] = {
    1: "basal anterior",
    2: "basal anteroseptal",
    3: "basal inferoseptal",
    4: "basal inferior",
    5: "basal inferolateral",
    6: "basal anterolateral",
    7: "mid anterior",
    8: "mid anteroseptal",
    9: "mid inferoseptal",
    10: "mid inferior",
    11: "mid inferolateral",
    12: "mid anterolateral",
    13: "apical anterior",
    14: "apical septal",
    15: "apical inferior",
    16: "apical lateral",
    17: "apex",
}

#: Septal segments (the ones bordering the RV).
SEPTAL_SEGMENTS: Final[tuple[int, ...]] = (2, 3, 8, 9, 14)

APICAL_CAP: Final[int] = 17

# Insertion points are ambiguous when their arc (seen from the LV centre) is
# narrower or wider than these, or when its bisector is far from the RV
# centroid direction. On the ACDC ground truth (924 slices) the arcs span
# 21-189 deg and the bisector lies within 42 deg of the centroid direction.
_MIN_ARC_RAD = math.radians(10.0)
_MAX_ARC_RAD = math.radians(200.0)
_MAX_DISAGREEMENT_RAD = math.radians(45.0)
_EIGHT_NEIGHBOURS = np.ones((3, 3), dtype=bool)


def wrap_angle_rad(angle: np.ndarray | float) -> np.ndarray:
    """Wrap angles (rad) into [-pi, pi)."""
    return (np.asarray(angle, dtype=float) + np.pi) % (2 * np.pi) - np.pi


def _spacing(spacing_yx_mm: Sequence[float] | None) -> tuple[float, float]:
    if spacing_yx_mm is None:
        return (1.0, 1.0)
    sy, sx = (float(v) for v in spacing_yx_mm)
    if not (math.isfinite(sy) and math.isfinite(sx) and sy > 0 and sx > 0):
        raise UsageError(f"spacing_yx_mm must be two positive numbers, got {tuple(spacing_yx_mm)}")
    return (sy, sx)


def _centroid_yx(mask: np.ndarray) -> tuple[float, float] | None:
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return None
    return float(rows.mean()), float(cols.mean())


def _image_angles(mask: np.ndarray, centre_yx: tuple[float, float], spacing: tuple[float, float]) -> np.ndarray:
    """``atan2(dy, dx)`` (mm) of every pixel of ``mask`` about ``centre_yx`` (pixels)."""
    rows, cols = np.nonzero(mask)
    return np.arctan2((rows - centre_yx[0]) * spacing[0], (cols - centre_yx[1]) * spacing[1])


def _arc_bisector(angles: np.ndarray) -> tuple[float, float]:
    """(bisector, width) of the smallest arc holding all ``angles`` (rad).

    The arc is the complement of the largest empty gap between sorted angles.
    """
    ordered = np.sort(wrap_angle_rad(angles))
    gaps = np.diff(np.concatenate([ordered, ordered[:1] + 2 * np.pi]))
    widest = int(np.argmax(gaps))
    start = ordered[(widest + 1) % ordered.size]  # first angle after the largest gap
    width = 2 * np.pi - float(gaps[widest])
    return float(wrap_angle_rad(start + width / 2)), width


def septal_angle_rad(
    lv_cavity_yx: np.ndarray,
    myocardium_yx: np.ndarray,
    rv_cavity_yx: np.ndarray | None,
    *,
    spacing_yx_mm: Sequence[float] | None = None,
) -> float | None:
    """Direction (rad, image ``atan2(dy, dx)``) from the LV centre to the septal midpoint of one slice.

    The RV insertion points are the two angular extremes, seen from the LV
    centre (cavity centroid, else myocardium centroid), of the myocardium
    pixels 8-adjacent to the RV cavity; the septal midpoint lies halfway
    between them (ukbb_cardiac; ``METHODS.md`` section 3). When the
    insertion points are ambiguous (fewer than 2 contact pixels, an arc under
    10 deg or over 200 deg, where the RV wraps round the LV, or a bisector
    more than 45 deg from the RV centroid direction) the direction from the
    LV centre to the RV centroid is used instead.

    Args:
        lv_cavity_yx, myocardium_yx, rv_cavity_yx: boolean masks (y, x) of one slice.
        spacing_yx_mm: in-plane pixel spacing; angles are taken in mm when given.

    Returns:
        The angle in [-pi, pi), or None when the slice has no RV cavity (or no LV).
    """
    if rv_cavity_yx is None:
        return None
    cavity, myo, rv = (np.asarray(m, dtype=bool) for m in (lv_cavity_yx, myocardium_yx, rv_cavity_yx))
    if not (cavity.shape == myo.shape == rv.shape) or cavity.ndim != 2:
        raise UsageError(
            f"septal_angle_rad needs three 2-D masks of one shape, got {cavity.shape}, {myo.shape}, {rv.shape}"
        )
    spacing = _spacing(spacing_yx_mm)
    if not rv.any():
        return None
    centre = _centroid_yx(cavity) or _centroid_yx(myo)
    if centre is None:
        return None
    rv_centre = _centroid_yx(rv)
    assert rv_centre is not None
    towards_rv = math.atan2((rv_centre[0] - centre[0]) * spacing[0], (rv_centre[1] - centre[1]) * spacing[1])
    contact = myo & ndimage.binary_dilation(rv, structure=_EIGHT_NEIGHBOURS)
    if np.count_nonzero(contact) >= 2:
        bisector, width = _arc_bisector(_image_angles(contact, centre, spacing))
        agrees = abs(float(wrap_angle_rad(bisector - towards_rv))) <= _MAX_DISAGREEMENT_RAD
        if _MIN_ARC_RAD <= width <= _MAX_ARC_RAD and agrees:
            return bisector
    return float(wrap_angle_rad(towards_rv))


def clockwise_from_affine(affine: np.ndarray, *, base_to_apex: bool = True) -> bool | None:
    """Handedness of the image plane (see module docstring) from a voxel -> RAS+ affine.

    Seen from the apex with anterior up, the septum is on the viewer's left,
    so ``anterior x septal`` points from base to apex. With column direction
    ``c`` and row direction ``r`` (affine columns 0 and 1) and the base-to-apex
    direction ``n`` (affine column 2, negated when the stack runs apex to
    base), the standard display (``clockwise=False``) has ``(c x r) . n < 0``.

    Returns:
        True/False, or None when the affine carries no usable orientation:
        an axis-aligned matrix (a placeholder such as ``diag(spacing)``: a
        short-axis plane is double oblique) or one whose apex direction points
        superior (impossible anatomy: a placeholder or the wrong slice order).
    """
    matrix = np.asarray(affine, dtype=float)
    if matrix.shape != (4, 4) or not np.isfinite(matrix).all():
        raise UsageError(f"affine must be a finite 4x4 matrix, got shape {matrix.shape}")
    columns = matrix[:3, :3]
    norms = np.linalg.norm(columns, axis=0)
    if np.any(norms == 0):
        raise UsageError("affine has a zero column: it maps voxels to a plane")
    unit = columns / norms
    if np.all(np.isclose(np.abs(unit).max(axis=0), 1.0, atol=1e-3)):
        return None
    apex = unit[:, 2] if base_to_apex else -unit[:, 2]
    if apex[2] > 0:  # RAS: +z is superior
        return None
    return bool(np.dot(np.cross(unit[:, 0], unit[:, 1]), apex) > 0)


def slice_levels(
    lv_cavity_zyx: np.ndarray, myocardium_zyx: np.ndarray, *, base_to_apex: bool = True
) -> list[Level | Literal["cap"] | None]:
    """AHA level of each slice: "basal", "mid", "apical", "cap" (segment 17) or None (no myocardium).

    Ring slices (with LV cavity) are split into thirds from the base; see the
    module docstring for the rules on slices without cavity.
    """
    cavity = np.asarray(lv_cavity_zyx, dtype=bool)
    myo = np.asarray(myocardium_zyx, dtype=bool)
    n_slices = cavity.shape[0]
    order = list(range(n_slices)) if base_to_apex else list(range(n_slices - 1, -1, -1))
    ring = [z for z in order if cavity[z].any()]
    levels: list[Level | Literal["cap"] | None] = [None] * n_slices
    if not ring:
        return levels
    names: tuple[Level, ...] = ("basal", "mid", "apical")
    if len(ring) == 1:
        levels[ring[0]] = "mid"
    else:
        for name, group in zip(names, np.array_split(np.array(ring), 3)):
            for z in group.tolist():
                levels[z] = name
    position = {z: i for i, z in enumerate(order)}
    last_ring = position[ring[-1]]
    for z in range(n_slices):
        if levels[z] is not None or not myo[z].any():
            continue
        if position[z] > last_ring:
            levels[z] = "cap"
        else:  # basal side or a gap: the nearest ring slice's level
            nearest = min(ring, key=lambda r: (abs(position[r] - position[z]), position[r]))
            levels[z] = levels[nearest]
    return levels


def segment_from_theta(theta_rad: np.ndarray, level: Level) -> np.ndarray:
    """AHA segment numbers (int) for AHA angles ``theta_rad`` on a slice at ``level``."""
    theta = wrap_angle_rad(theta_rad) + 1e-9  # a boundary angle (e.g. 30 deg) opens the next sector
    if level == "apical":
        index = np.floor((theta + np.pi / 4) / (np.pi / 2)).astype(int) % 4
        return 13 + index
    if level not in ("basal", "mid"):
        raise UsageError(f"level must be 'basal', 'mid' or 'apical', got {level!r}")
    index = np.floor((theta + np.pi / 6) / (np.pi / 3)).astype(int) % 6
    return index + (1 if level == "basal" else 7)


def aha_theta(image_angle_rad: np.ndarray | float, septal_angle: float, *, clockwise: bool = False) -> np.ndarray:
    """AHA angle (0 anterior, +pi/2 septal) of image directions ``atan2(dy, dx)``.

    The septal direction maps to +pi/2; anterior lies 90 deg from it,
    counter-clockwise on screen when ``clockwise`` is False.
    """
    sign = -1.0 if clockwise else 1.0
    return wrap_angle_rad(np.pi / 2 - sign * (np.asarray(image_angle_rad, dtype=float) - septal_angle))


def _per_slice_angles(septal_angles_rad: float | Sequence[float | None] | None, n_slices: int) -> list[float | None]:
    if septal_angles_rad is None:
        return [None] * n_slices
    if np.isscalar(septal_angles_rad):
        value = float(septal_angles_rad)  # type: ignore[arg-type]
        if not math.isfinite(value):
            raise UsageError(f"septal_angles_rad must be finite, got {value}")
        return [value] * n_slices
    angles = list(septal_angles_rad)  # type: ignore[arg-type]
    if len(angles) != n_slices:
        raise UsageError(f"septal_angles_rad has {len(angles)} values for {n_slices} slices")
    out: list[float | None] = []
    for value in angles:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            out.append(None)
        elif not math.isfinite(float(value)):
            raise UsageError(f"septal_angles_rad holds a non-finite value {value}")
        else:
            out.append(float(value))
    return out


def _circular_mean(angles: Sequence[float]) -> float:
    return float(math.atan2(sum(math.sin(a) for a in angles), sum(math.cos(a) for a in angles)))


def aha_segment_map(
    myocardium_zyx: np.ndarray,
    lv_cavity_zyx: np.ndarray,
    rv_cavity_zyx: np.ndarray | None = None,
    *,
    base_to_apex: bool = True,
    septal_angles_rad: float | Sequence[float | None] | None = None,
    clockwise: bool | None = None,
    affine: np.ndarray | None = None,
    spacing_yx_mm: Sequence[float] | None = None,
    default_septal_angle_rad: float | None = SEPTUM_IMAGE_LEFT_RAD,
) -> np.ndarray:
    """AHA 17-segment label map (Cerqueira 2002) of a short-axis stack.

    Args:
        myocardium_zyx, lv_cavity_zyx: boolean masks (z, y, x).
        rv_cavity_zyx: optional RV cavity mask; locates the septum per slice
            with :func:`septal_angle_rad`.
        base_to_apex: True when slice index 0 is the base.
        septal_angles_rad: septal direction(s) in image ``atan2(dy, dx)`` (see
            the module docstring): one float for every slice, or one value per
            slice (None entries are filled from the RV). Given values win over
            the RV.
        clockwise: image handedness (module docstring). None: from ``affine``
            when it carries a usable orientation (:func:`clockwise_from_affine`),
            else False (the standard display, anterior up and septum left).
        affine: voxel (x, y, z, 1) -> RAS+ mm matrix; gives the handedness
            (when ``clockwise`` is None) and the in-plane spacing for angles
            (when ``spacing_yx_mm`` is None).
        spacing_yx_mm: in-plane spacing for angles in mm (default: from the
            affine, else isotropic pixels).
        default_septal_angle_rad: septal direction used when neither an RV
            mask nor septal angles locate the septum on any slice (e.g. LGE
            without an RV label). Default :data:`SEPTUM_IMAGE_LEFT_RAD`, the
            usual display with the septum on the image left; pass None to get
            a :class:`UsageError` instead of an assumed orientation.

    Slices with a septal angle neither given nor found (e.g. apical slices
    past the RV) use the circular mean of the other slices' septal angles.

    Returns:
        int array (z, y, x): 0 outside the myocardium, 1..17 inside.

    Raises:
        UsageError: masks of different shapes or not 3-D, bad angles, a
            myocardium without any LV cavity (levels undefined), or no way to
            locate the septum with ``default_septal_angle_rad=None``.
    """
    myo = np.asarray(myocardium_zyx, dtype=bool)
    cavity = np.asarray(lv_cavity_zyx, dtype=bool)
    rv = None if rv_cavity_zyx is None else np.asarray(rv_cavity_zyx, dtype=bool)
    shapes = [myo.shape, cavity.shape] + ([] if rv is None else [rv.shape])
    if myo.ndim != 3 or any(s != myo.shape for s in shapes):
        raise UsageError(f"aha_segment_map needs 3-D (z, y, x) masks of one shape, got {shapes}")
    segments = np.zeros(myo.shape, dtype=np.int16)
    if not myo.any():
        return segments
    if not cavity.any():
        raise UsageError("no LV cavity on any slice: the AHA levels (basal/mid/apical) cannot be defined")

    if spacing_yx_mm is None and affine is not None:
        norms = np.linalg.norm(np.asarray(affine, dtype=float)[:3, :2], axis=0)  # x then y columns
        spacing_yx_mm = (float(norms[1]), float(norms[0]))
    spacing = _spacing(spacing_yx_mm)
    if clockwise is None:
        derived = None if affine is None else clockwise_from_affine(affine, base_to_apex=base_to_apex)
        clockwise = bool(derived) if derived is not None else False

    # Work inside the box holding every label (plus a margin for the RV contact test).
    any_label = (myo | cavity if rv is None else myo | cavity | rv).any(axis=0)
    rows, cols = np.flatnonzero(any_label.any(axis=1)), np.flatnonzero(any_label.any(axis=0))
    box = (
        slice(None),
        slice(max(rows[0] - 2, 0), rows[-1] + 3),
        slice(max(cols[0] - 2, 0), cols[-1] + 3),
    )
    myo, cavity = myo[box], cavity[box]
    rv = None if rv is None else rv[box]
    cropped = segments[box]  # a view: writing into it fills ``segments``

    levels = slice_levels(cavity, myo, base_to_apex=base_to_apex)
    n_slices = myo.shape[0]
    angles = _per_slice_angles(septal_angles_rad, n_slices)
    if rv is not None:
        for z in range(n_slices):
            if angles[z] is None and levels[z] not in (None, "cap"):
                angles[z] = septal_angle_rad(cavity[z], myo[z], rv[z], spacing_yx_mm=spacing)
    known = [a for a in angles if a is not None]
    if known:
        fallback = _circular_mean(known)
    elif default_septal_angle_rad is not None:
        fallback = float(default_septal_angle_rad)
    else:
        raise UsageError(
            "cannot locate the septum: no RV cavity mask and no septal_angles_rad; pass septal_angles_rad "
            "(e.g. SEPTUM_IMAGE_LEFT_RAD for the usual display) or default_septal_angle_rad"
        )

    for z, level in enumerate(levels):
        if level is None:
            continue
        if level == "cap":
            cropped[z][myo[z]] = APICAL_CAP
            continue
        centre = _centroid_yx(cavity[z]) or _centroid_yx(myo[z])
        assert centre is not None
        septal = angles[z] if angles[z] is not None else fallback
        theta = aha_theta(_image_angles(myo[z], centre, spacing), septal, clockwise=clockwise)
        cropped[z][myo[z]] = segment_from_theta(theta, level)
    return segments
