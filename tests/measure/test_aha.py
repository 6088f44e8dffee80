"""AHA 17-segment model: analytic rings, handedness from the affine, simulated and ACDC masks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from cardiolens.errors import UsageError
from cardiolens.measure.aha import (
    SEPTAL_SEGMENTS,
    SEPTUM_IMAGE_LEFT_RAD,
    aha_segment_map,
    aha_theta,
    clockwise_from_affine,
    segment_from_theta,
    septal_angle_rad,
    slice_levels,
    wrap_angle_rad,
)

N = 96
CENTRE = (48.0, 48.0)
R_ENDO, R_EPI = 14.0, 21.0


def _polar(centre=CENTRE):
    yy, xx = np.mgrid[:N, :N].astype(float)
    dy, dx = yy - centre[0], xx - centre[1]
    return np.hypot(dy, dx), np.arctan2(dy, dx)


def _ring_slice(rv_angle: float | None = math.pi, rv_half_width_deg: float = 40.0):
    """LV annulus; RV = an annular sector hugging the epicardium centred on ``rv_angle`` (image atan2(dy, dx))."""
    r, psi = _polar()
    cavity = r < R_ENDO
    myo = (r >= R_ENDO) & (r < R_EPI)
    rv = np.zeros_like(cavity)
    if rv_angle is not None:
        near = np.abs(wrap_angle_rad(psi - rv_angle)) < math.radians(rv_half_width_deg)
        rv = near & (r >= R_EPI) & (r < R_EPI + 10)
    return cavity, myo, rv


def _stack(n_ring: int = 6, cap: bool = True, rv_angle: float | None = math.pi):
    cavity, myo, rv = _ring_slice(rv_angle)
    cavities, myos, rvs = [cavity] * n_ring, [myo] * n_ring, [rv] * n_ring
    if cap:  # solid myocardium disc past the cavity: the apical cap
        r, _ = _polar()
        cavities.append(np.zeros_like(cavity))
        myos.append(r < 10)
        rvs.append(np.zeros_like(rv))
    return np.stack(myos), np.stack(cavities), np.stack(rvs)


def _segment_at(segments_yx: np.ndarray, image_angle: float, radius: float = (R_ENDO + R_EPI) / 2) -> int:
    y = round(CENTRE[0] + radius * math.sin(image_angle))
    x = round(CENTRE[1] + radius * math.cos(image_angle))
    return int(segments_yx[y, x])


# --------------------------------------------------------------------------- angles and sectors


def test_segment_from_theta_follows_the_ukbb_table():
    deg = np.radians
    basal = segment_from_theta(deg(np.array([0, 29.9, 30, 89, 90, 149, 150, -179, -150, -91, -90, -31, -30])), "basal")
    assert basal.tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 1]
    assert segment_from_theta(deg(np.array([0.0, 60.0, 120.0])), "mid").tolist() == [7, 8, 9]
    apical = segment_from_theta(deg(np.array([0, 44, 45, 134, 135, -136, -135, -46, -45])), "apical")
    assert apical.tolist() == [13, 13, 14, 14, 15, 15, 16, 16, 13]
    with pytest.raises(UsageError):
        segment_from_theta(np.zeros(1), "cap")  # type: ignore[arg-type]


def test_aha_theta_puts_the_septum_at_90_degrees_and_anterior_at_0():
    septum = SEPTUM_IMAGE_LEFT_RAD  # septum on the image left
    up, left, down = -math.pi / 2, math.pi, math.pi / 2
    assert math.degrees(aha_theta(left, septum)) == pytest.approx(90.0)
    assert math.degrees(aha_theta(up, septum)) == pytest.approx(0.0, abs=1e-9)  # display: anterior up
    assert abs(math.degrees(aha_theta(down, septum))) == pytest.approx(180.0)
    assert math.degrees(aha_theta(down, septum, clockwise=True)) == pytest.approx(0.0, abs=1e-9)  # mirror


# --------------------------------------------------------------------------- septal angle


@pytest.mark.parametrize("rv_angle_deg", [180.0, 135.0, -60.0, 10.0])
def test_septal_angle_is_the_midpoint_of_the_insertion_points(rv_angle_deg):
    cavity, myo, rv = _ring_slice(math.radians(rv_angle_deg))
    angle = septal_angle_rad(cavity, myo, rv)
    assert angle is not None
    assert abs(math.degrees(wrap_angle_rad(angle - math.radians(rv_angle_deg)))) < 3.0


def test_septal_angle_uses_insertion_points_not_the_rv_centroid():
    # RV hugging the wall from 150 to 230 deg, plus a big bulge beyond the 230 deg end:
    # the centroid moves towards the bulge, the insertion points do not.
    cavity, myo, rv = _ring_slice(math.radians(190.0))
    r, _ = _polar()
    bulge_centre = (CENTRE[0] + 33 * math.sin(math.radians(235)), CENTRE[1] + 33 * math.cos(math.radians(235)))
    r_bulge, _ = _polar(bulge_centre)
    rv = (rv | (r_bulge < 10)) & (r >= R_EPI + 1)
    rv_y, rv_x = np.nonzero(rv)
    centroid_deg = math.degrees(math.atan2(rv_y.mean() - CENTRE[0], rv_x.mean() - CENTRE[1])) % 360
    assert centroid_deg > 200  # the fallback would be far off
    angle = septal_angle_rad(cavity, myo, rv)
    assert abs(math.degrees(wrap_angle_rad(angle - math.radians(190.0)))) < 4.0


def test_septal_angle_falls_back_to_the_rv_centroid_when_the_rv_wraps_round():
    cavity, myo, _ = _ring_slice(None)
    r, psi = _polar()
    rv = (r >= R_EPI) & (r < R_EPI + 6)  # touches the whole ring: insertion points undefined
    rv |= (r >= R_EPI) & (r < R_EPI + 20) & (np.abs(wrap_angle_rad(psi - 0.5)) < 0.4)  # bulk on one side
    angle = septal_angle_rad(cavity, myo, rv)
    assert abs(math.degrees(wrap_angle_rad(angle - 0.5))) < 10.0


def test_septal_angle_is_none_without_rv_and_checks_shapes():
    cavity, myo, rv = _ring_slice(None)
    assert septal_angle_rad(cavity, myo, rv) is None
    assert septal_angle_rad(cavity, myo, None) is None
    with pytest.raises(UsageError):
        septal_angle_rad(cavity, myo, rv[:10])


def test_septal_angle_is_measured_in_mm_with_anisotropic_pixels():
    # insertion points at 110 and 160 deg in pixels; rows of 2 mm and columns of 1 mm move them
    cavity, myo, rv = _ring_slice(math.radians(135.0), rv_half_width_deg=25)
    in_px = septal_angle_rad(cavity, myo, rv)
    in_mm = septal_angle_rad(cavity, myo, rv, spacing_yx_mm=(2.0, 1.0))
    assert math.degrees(in_px) == pytest.approx(135.0, abs=3)
    ends_mm = [math.atan2(2 * math.sin(math.radians(a)), math.cos(math.radians(a))) for a in (110, 160)]
    assert math.degrees(in_mm) == pytest.approx(math.degrees(sum(ends_mm) / 2), abs=3)
    assert abs(math.degrees(in_mm) - 135.0) > 10


# --------------------------------------------------------------------------- levels and the full map


def test_levels_split_ring_slices_into_thirds_and_mark_the_cap():
    myo, cavity, _ = _stack(n_ring=8)
    levels = slice_levels(cavity, myo)
    assert levels == ["basal"] * 3 + ["mid"] * 3 + ["apical"] * 2 + ["cap"]
    reverse = slice_levels(cavity[::-1], myo[::-1], base_to_apex=False)
    assert reverse == levels[::-1]
    single = slice_levels(cavity[:1], myo[:1])
    assert single == ["mid"]


def test_basal_myocardium_without_cavity_takes_the_basal_level():
    myo, cavity, _ = _stack(n_ring=6)
    cavity = np.concatenate([np.zeros_like(cavity[:1]), cavity])
    myo = np.concatenate([myo[:1], myo])  # an LVOT-like ring slice without cavity label above the base
    assert slice_levels(cavity, myo)[0] == "basal"


def test_segments_run_in_order_round_the_ring_with_septal_segments_at_the_rv():
    myo, cavity, rv = _stack(n_ring=6, rv_angle=math.pi)
    segments = aha_segment_map(myo, cavity, rv)
    assert segments.dtype.kind == "i"
    assert (segments[~myo] == 0).all() and (segments[myo] > 0).all()
    assert set(np.unique(segments[6][myo[6]])) == {17}
    # standard display: anterior up, then counter-clockwise on screen through the septum (left)
    up = -math.pi / 2
    for z, first, count in ((0, 1, 6), (2, 7, 6), (4, 13, 4)):
        step = 2 * math.pi / count
        found = [_segment_at(segments[z], up - k * step) for k in range(count)]
        assert found == list(range(first, first + count)), (z, found)
    touching = myo & ndimage.binary_dilation(rv, structure=np.ones((1, 3, 3), bool))
    assert set(np.unique(segments[touching])) <= set(SEPTAL_SEGMENTS)
    for z, wanted in ((0, {2, 3}), (2, {8, 9}), (4, {14})):
        assert set(np.unique(segments[z][touching[z]])) == wanted


def test_clockwise_mirrors_anterior_and_inferior_but_keeps_the_septum():
    myo, cavity, rv = _stack(n_ring=6)
    standard = aha_segment_map(myo, cavity, rv)
    mirrored = aha_segment_map(myo, cavity, rv, clockwise=True)
    up = -math.pi / 2
    assert _segment_at(standard[0], up) == 1 and _segment_at(mirrored[0], up) == 4
    assert _segment_at(mirrored[0], math.pi / 2) == 1  # anterior now at the bottom
    left = math.pi
    assert {_segment_at(standard[0], left + 0.3), _segment_at(mirrored[0], left + 0.3)} == {2, 3}


def test_septal_angles_replace_or_stand_in_for_the_rv():
    myo, cavity, rv = _stack(n_ring=6, rv_angle=math.pi)
    with_rv = aha_segment_map(myo, cavity, rv)
    given = aha_segment_map(myo, cavity, None, septal_angles_rad=math.pi)
    agreement = np.mean(with_rv[myo] == given[myo])
    assert agreement > 0.97
    default = aha_segment_map(myo, cavity)  # no RV, no angles: septum assumed on the image left
    assert np.mean(default[myo] == with_rv[myo]) > 0.97
    rotated = aha_segment_map(myo, cavity, None, septal_angles_rad=[0.0] * myo.shape[0])  # septum right
    assert _segment_at(rotated[0], 0.0 + 0.3) in (2, 3) and _segment_at(rotated[0], math.pi) in (5, 6)
    per_slice = aha_segment_map(myo, cavity, rv, septal_angles_rad=[0.0] + [None] * (myo.shape[0] - 1))
    assert _segment_at(per_slice[0], 0.3) in (2, 3) and _segment_at(per_slice[1], math.pi + 0.3) in (2, 3)


def test_missing_septum_raises_when_no_default_is_allowed():
    myo, cavity, _ = _stack(n_ring=3)
    with pytest.raises(UsageError, match="septum"):
        aha_segment_map(myo, cavity, None, default_septal_angle_rad=None)


def test_bad_inputs_raise_usage_errors():
    myo, cavity, rv = _stack(n_ring=3)
    with pytest.raises(UsageError):
        aha_segment_map(myo, cavity[:2], rv)
    with pytest.raises(UsageError):
        aha_segment_map(myo[0], cavity[0])
    with pytest.raises(UsageError, match="cavity"):
        aha_segment_map(myo, np.zeros_like(cavity), rv)
    with pytest.raises(UsageError):
        aha_segment_map(myo, cavity, rv, septal_angles_rad=[0.0, 1.0])
    assert not aha_segment_map(np.zeros_like(myo), cavity).any()


# --------------------------------------------------------------------------- handedness from the affine


def _anatomical_affine(mirror: bool) -> np.ndarray:
    """A short-axis stack in RAS+ mm: apex left-anterior-inferior, RV (septum) to the patient's right.

    Displayed as seen from the apex (anterior up, septum on the viewer's left),
    columns run septum -> lateral and rows anterior -> inferior; ``mirror``
    flips the columns.
    """
    apex = np.array([-1.0, 1.0, -1.0]) / math.sqrt(3)  # left, anterior, inferior
    septal = np.array([1.0, 0.0, 0.0])  # towards the patient's right, where the RV lies
    septal -= septal.dot(apex) * apex
    septal /= np.linalg.norm(septal)
    anterior = np.cross(septal, apex)
    assert anterior[1] > 0 and anterior[2] > 0  # the anterior wall faces the chest, above the apex
    column, row = (-septal, -anterior) if not mirror else (septal, -anterior)
    affine = np.eye(4)
    affine[:3, 0], affine[:3, 1], affine[:3, 2] = column * 1.5, row * 1.5, apex * 8.0
    return affine


def test_handedness_from_a_real_orientation():
    standard = _anatomical_affine(mirror=False)
    assert clockwise_from_affine(standard) is False
    assert clockwise_from_affine(_anatomical_affine(mirror=True)) is True
    # the same stack stored apex first: reverse the slice axis and say so
    reversed_stack = standard.copy()
    reversed_stack[:3, 2] *= -1
    assert clockwise_from_affine(reversed_stack, base_to_apex=False) is False


def test_placeholder_affines_carry_no_orientation():
    assert clockwise_from_affine(np.diag([1.5, 1.5, 8.0, 1.0])) is None
    assert clockwise_from_affine(np.diag([-1.0, -1.0, 1.0, 1.0])) is None  # ACDC's placeholder sform
    upside_down = _anatomical_affine(mirror=False)
    upside_down[:3, 2] *= -1  # apex pointing superior: impossible
    assert clockwise_from_affine(upside_down) is None
    with pytest.raises(UsageError):
        clockwise_from_affine(np.eye(3))


def test_segment_map_takes_handedness_and_spacing_from_the_affine():
    myo, cavity, rv = _stack(n_ring=6)
    standard = aha_segment_map(myo, cavity, rv)
    assert np.array_equal(aha_segment_map(myo, cavity, rv, affine=_anatomical_affine(False)), standard)
    mirrored = aha_segment_map(myo, cavity, rv, affine=_anatomical_affine(True))
    assert np.array_equal(mirrored, aha_segment_map(myo, cavity, rv, clockwise=True))
    assert np.array_equal(aha_segment_map(myo, cavity, rv, affine=np.diag([1.5, 1.5, 8, 1])), standard)
    # an explicit clockwise wins over the affine
    assert np.array_equal(aha_segment_map(myo, cavity, rv, affine=_anatomical_affine(True), clockwise=False), standard)


# --------------------------------------------------------------------------- simulated and real masks


def test_segments_match_the_simulated_heart_axes():
    from cardiolens.synth.cine import simulate_cine

    for seed, group in ((0, "NOR"), (1, "HCM"), (2, "RV")):
        cine = simulate_cine(group, np.random.default_rng(seed), n_frames=4)
        labels = cine.segmentations[0]
        myo, cavity, rv = labels == 2, labels == 3, labels == 1
        # the generator draws anterior 90 deg clockwise (on screen) from the septum: the standard display
        segments = aha_segment_map(myo, cavity, rv, affine=cine.affine, spacing_yx_mm=cine.spacing_mm[1:])
        septal = np.array(cine.metadata["anatomy"]["septal_direction_yx"])
        anterior = np.array(cine.metadata["anatomy"]["anterior_direction_yx"])
        levels = slice_levels(cavity, myo)
        agree = total = 0
        for z, level in enumerate(levels):
            if level not in ("basal", "mid", "apical"):
                continue
            rows, cols = np.nonzero(cavity[z])
            y, x = np.nonzero(myo[z])
            dy, dx = y - rows.mean(), x - cols.mean()
            theta = np.arctan2(dy * septal[0] + dx * septal[1], dy * anterior[0] + dx * anterior[1])
            truth = segment_from_theta(theta, level)
            agree += int(np.count_nonzero(truth == segments[z][myo[z]]))
            total += truth.size
        assert agree / total > 0.85, (group, agree / total)


@pytest.mark.real_data
def test_acdc_rv_contact_lies_in_septal_segments(shared_data):
    from cardiolens.io.layouts import load, scan

    cohort = scan(shared_data / "acdc")
    fractions = []
    for record in cohort.records[::3]:
        study = load(cohort, record.subject_id)
        labels = study.ed.labels
        myo, cavity, rv = labels == 2, labels == 3, labels == 1
        segments = aha_segment_map(myo, cavity, rv, spacing_yx_mm=study.ed.spacing_mm[1:])
        assert (segments[~myo] == 0).all() and set(np.unique(segments[myo])) <= set(range(1, 18))
        contact = myo & ndimage.binary_dilation(rv, structure=np.ones((1, 3, 3), bool))
        fractions.append(np.isin(segments[contact], SEPTAL_SEGMENTS).mean())
    assert len(fractions) == 20
    assert np.mean(fractions) > 0.9 and min(fractions) > 0.7
