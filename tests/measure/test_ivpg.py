"""IVPG (1-D Euler on short-axis sections): analytic flows, invariants, simulated and real LVs."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from cardiolens.data.cine import CineCMR
from cardiolens.errors import (
    DataError,
    MissingDataError,
    NonFiniteValueError,
    UsageError,
)
from cardiolens.measure.fourier import fit_periodic
from cardiolens.measure.ivpg import (
    PA_PER_MMHG,
    RHO_BLOOD_KG_M3,
    SectionAreas,
    compute_ivpg,
    effective_base_m,
    euler_pressure_difference,
    ivpg_from_areas,
)
from cardiolens.measure.ivpg_template import VolumeTemplate, ed_es_template_areas
from cardiolens.synth.cine import simulate_cine

RHO = RHO_BLOOD_KG_M3
RR_MS = 1000.0


# --------------------------------------------------------------------------- helpers


def _uniform_contraction(n_frames=24, n_slices=9, spacing_mm=10.0, v0_ml=120.0, c_ml=40.0):
    """A cylinder of uniform section A(t) = V(t)/L with V(t) = V0 − c·sin(2πt/T)."""
    length_mm = n_slices * spacing_mm
    t_s = np.arange(n_frames) * (RR_MS / 1000.0) / n_frames
    volume_mm3 = (v0_ml - c_ml * np.sin(2 * np.pi * t_s / (RR_MS / 1000.0))) * 1000.0
    areas = np.repeat((volume_mm3 / length_mm)[None, :], n_slices, axis=0)
    return SectionAreas(areas, spacing_mm, RR_MS), length_mm


def _half_ellipsoid_lv(
    edv_ml=150.0, esv_ml=60.0, length_mm=90.0, descent_mm=12.0, spacing_mm=10.0, n_frames=25, rr_ms=60000 / 70
):
    """A truncated prolate half-ellipsoid LV (apex at z=0, base at the equator).

    The base descends by ``descent_mm`` and the radius shrinks so that the
    volume follows the canonical template between EDV and ESV. Slab areas are
    slab averages (thick-slice partial volume): their disc sum is the exact volume.
    """
    f = VolumeTemplate().ejected_fraction(np.arange(n_frames) / n_frames)
    ell = length_mm - descent_mm * f
    r2 = 3 * (edv_ml - (edv_ml - esv_ml) * f) * 1000.0 / (2 * np.pi * ell)
    edges = np.arange(round(length_mm / spacing_mm) + 1) * spacing_mm

    def primitive(z):  # ∫_0^z π r² (2z/ℓ − z²/ℓ²) dz, capped at the base
        z = np.minimum(z[:, None], ell[None, :])
        return np.pi * r2 * (z**2 / ell - z**3 / (3 * ell**2))

    areas = (primitive(edges[1:]) - primitive(edges[:-1])) / spacing_mm
    return SectionAreas(areas, spacing_mm, rr_ms, subject_id="ellipsoid")


def _cine_from_sections(sections: SectionAreas, *, spacing_known=True, trigger=True, base_first=True):
    """A CineCMR whose LV cavity masks reproduce given slab areas as closely as pixels allow."""
    n_slices, n_frames = sections.areas_mm2.shape
    size = 96
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    r2 = yy**2 + xx**2
    order = np.argsort(r2, axis=None)  # fill pixels from the centre outwards: exact pixel counts
    pixel_mm = 1.0
    masks = np.zeros((n_frames, n_slices, size, size), dtype=np.uint8)
    for t in range(n_frames):
        for k in range(n_slices):
            n_px = int(np.rint(sections.areas_mm2[k, t] / pixel_mm**2))
            flat = masks[t, k].reshape(-1)
            flat[order[:n_px]] = 3
    if base_first:
        masks = masks[:, ::-1]
    return CineCMR(
        image=masks.astype(np.float32),
        spacing_mm=(sections.slice_spacing_mm, pixel_mm, pixel_mm) if spacing_known else (1.0, 1.0, 1.0),
        spacing_known=spacing_known,
        trigger_times_ms=np.arange(n_frames) * sections.rr_interval_ms / n_frames if trigger else None,
        segmentations={t: masks[t] for t in range(n_frames)},
        source="<test cine>",
    )


# --------------------------------------------------------------------------- (b) inertial term, analytic


def test_uniform_contraction_matches_closed_form_inertial_and_convective_terms():
    # A(z,t) = A(t) = V(t)/L, V = V0 − c sin ωt. Then V(z,t) = A(t) z, Q = −A'(t) z and
    # u(z,t) = z·cω cos ωt / (V0 − c sin ωt), so (derivation in SI units)
    #   ∂u/∂t = z·cω² (c − V0 sin ωt) / (V0 − c sin ωt)²
    #   inertial ΔP = ρ ∫_0^L ∂u/∂t dz = ρ L²/2 · cω² (c − V0 sin ωt) / (V0 − c sin ωt)²
    #   convective ΔP = ρ u(L)²/2 = ρ/2 · (cωL cos ωt / (V0 − c sin ωt))²
    sections, length_mm = _uniform_contraction()
    result = ivpg_from_areas(sections, n_harmonics=8, dz_mm=1.0)
    t = result.time_ms / 1000.0
    w = 2 * np.pi / (RR_MS / 1000.0)
    v0, c, ell = 120e-6, 40e-6, length_mm / 1000.0
    denominator = v0 - c * np.sin(w * t)
    inertial = RHO * ell**2 / 2 * c * w**2 * (c - v0 * np.sin(w * t)) / denominator**2 / PA_PER_MMHG
    convective = RHO / 2 * (c * w * ell * np.cos(w * t) / denominator) ** 2 / PA_PER_MMHG
    np.testing.assert_allclose(result.inertial_mmhg, inertial, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(result.convective_mmhg, convective, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(result.total_mmhg, inertial + convective, rtol=1e-6, atol=1e-9)
    # at sin ωt = −1: 4.29 kg/m · 1.58e-3 m³/s² · 160e-6 / (160e-6)² m⁻³ = 42 Pa = 0.32 mmHg
    assert result.inertial_mmhg.max() == pytest.approx(0.318, abs=0.005)
    np.testing.assert_allclose(result.base_position_mm, length_mm)  # uniform sections: base never retreats


def test_fourier_derivatives_are_used_not_frame_differences():
    # Frame differences of the same sinusoid would miss the analytic inertial term by
    # O((ω Δt)²) = ~7 % at 12 frames; the Fourier series gets it to rounding.
    sections, length_mm = _uniform_contraction(n_frames=12)
    result = ivpg_from_areas(sections, n_harmonics=5)
    t = result.time_ms / 1000.0
    w = 2 * np.pi
    v0, c, ell = 120e-6, 40e-6, length_mm / 1000.0
    inertial = RHO * ell**2 / 2 * c * w**2 * (c - v0 * np.sin(w * t)) / (v0 - c * np.sin(w * t)) ** 2
    np.testing.assert_allclose(result.inertial_mmhg * PA_PER_MMHG, inertial, rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------------------- (c) convective term, tapered geometry


def test_steady_flow_through_a_tapered_tube_obeys_bernoulli():
    z = np.linspace(0.0, 0.09, 181)
    radius = 0.012 + (0.025 - 0.012) * z / z[-1]
    area = np.pi * radius**2
    flow = np.full_like(z, 300e-6)  # 300 mL/s, steady and the same through every section
    zeros = np.zeros_like(z)
    terms = euler_pressure_difference(z, area, flow, zeros, zeros)
    expected = RHO * 300e-6**2 / 2 * (1 / area[-1] ** 2 - 1 / area[0] ** 2)
    assert terms.inertial_pa == pytest.approx(0.0, abs=1e-12)
    assert terms.convective_pa == pytest.approx(expected, rel=1e-12)
    assert expected < 0  # flow decelerates into the wider section: pressure recovers
    # bounds between nodes interpolate A and Q, so intervals still add up
    half = euler_pressure_difference(z, area, flow, zeros, zeros, bounds_m=(0.0, 0.0333))
    rest = euler_pressure_difference(z, area, flow, zeros, zeros, bounds_m=(0.0333, 0.09))
    assert (half.total_pa + rest.total_pa)[0] == pytest.approx(terms.total_pa[0], rel=1e-12)


def test_tapered_frustum_with_periodic_contraction_matches_closed_form():
    # A(z,t) = s(t)·A0(z), A0 = π(r0 + kz)², s = 1 − ε sin ωt. Then Q = −s'V0(z) and
    # u = g(t)·h(z) with g = −s'/s = εω cos ωt/(1 − ε sin ωt), h = V0/A0, so
    #   inertial = ρ g'(t) ∫_0^L h dz,  g' = εω²(ε − sin ωt)/(1 − ε sin ωt)²,
    #   ∫_0^L h dz = [w²/2 + r0³/w]_{r0}^{rL} / (3k²)  (w = r0 + kz)
    #   convective = ρ g² h(L)² / 2,  h(L) = (rL³ − r0³) / (3k rL²)
    r0, r_l, length, eps = 0.012, 0.025, 0.09, 0.3
    k = (r_l - r0) / length
    spacing_mm, n_frames = 0.5, 30
    centres = (np.arange(round(length * 1000 / spacing_mm)) + 0.5) * spacing_mm / 1000.0
    t_frames = np.arange(n_frames) / n_frames  # s, RR = 1 s
    scale = 1 - eps * np.sin(2 * np.pi * t_frames)
    areas_mm2 = np.pi * (r0 + k * centres[:, None]) ** 2 * scale[None, :] * 1e6
    result = ivpg_from_areas(SectionAreas(areas_mm2, spacing_mm, RR_MS), dz_mm=0.5)
    t = result.time_ms / 1000.0
    w = 2 * np.pi
    g = eps * w * np.cos(w * t) / (1 - eps * np.sin(w * t))
    dg = eps * w**2 * (eps - np.sin(w * t)) / (1 - eps * np.sin(w * t)) ** 2
    integral_h = ((r_l**2 / 2 + r0**3 / r_l) - (r0**2 / 2 + r0**3 / r0)) / (3 * k**2)
    h_l = (r_l**3 - r0**3) / (3 * k * r_l**2)
    inertial = RHO * dg * integral_h / PA_PER_MMHG
    convective = RHO * g**2 * h_l**2 / 2 / PA_PER_MMHG
    # error budget: A0 is interpolated linearly between 0.5 mm slices, and u(L) uses the
    # last slice-centre area, a quarter-mm below L (0.6 % in u(L)²)
    np.testing.assert_allclose(result.inertial_mmhg, inertial, rtol=2e-3, atol=2e-3 * np.abs(inertial).max())
    np.testing.assert_allclose(result.convective_mmhg, convective, rtol=1e-2, atol=1e-5)
    assert np.abs(convective).max() > 0.03  # non-trivial (~0.04 mmHg): u(L) ≠ 0 with the taper


# --------------------------------------------------------------------------- (d) segments, (e) flow


def test_segments_sum_to_the_total():
    result = ivpg_from_areas(_half_ellipsoid_lv())
    segments = result.apical_mmhg + result.mid_mmhg + result.basal_mmhg
    np.testing.assert_allclose(segments, result.total_mmhg, rtol=1e-10, atol=1e-12)
    for curve in (result.apical_mmhg, result.mid_mmhg, result.basal_mmhg):
        assert np.abs(curve).max() > 0.02  # every third carries part of the gradient
    # the apex carries the least flow, so the apical third has the smallest share
    assert np.abs(result.apical_mmhg).max() < np.abs(result.basal_mmhg).max()


def test_base_flow_equals_minus_the_volume_derivative():
    sections = _half_ellipsoid_lv()
    result = ivpg_from_areas(sections, n_harmonics=9)
    volume_fit = fit_periodic(sections.disc_volumes_ml(), 9, period=sections.rr_interval_ms)
    dv_dt_ml_s = volume_fit.derivative(result.time_ms) * 1000.0
    np.testing.assert_allclose(result.base_flow_ml_s, -dv_dt_ml_s, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(result.lv_volume_ml, volume_fit.evaluate(result.time_ms), rtol=1e-9)
    assert result.lv_volume_ml.max() == pytest.approx(150.0, abs=2.0)
    assert result.lv_volume_ml.min() == pytest.approx(60.0, abs=2.0)


# --------------------------------------------------------------------------- (f) simulated LV sign check


def test_sign_check_on_a_simulated_lv():
    """METHODS.md §1 sign check: EDV 150 mL, ESV 60 mL, L 9 cm."""
    result = ivpg_from_areas(_half_ellipsoid_lv())
    f, ph = result.features, result.phases
    assert ph.es_ms == pytest.approx(0.35 * 60000 / 70, abs=10)  # ES = argmin V at the template's 35 %
    assert ph.es_ms < ph.e_peak_ms < ph.a_peak_ms
    assert 0.5 <= f.peak_systolic_mmhg <= 3.0
    assert f.peak_systolic_time_ms < ph.es_ms
    assert -3.0 <= f.late_systolic_reversal_mmhg < 0
    assert -3.0 <= f.early_diastolic_suction_mmhg <= -0.5
    assert ph.es_ms <= f.early_diastolic_suction_time_ms <= ph.e_peak_ms
    assert 0.5 <= f.e_deceleration_mmhg <= 3.0
    assert f.a_wave_mmhg < 0
    assert np.abs(result.total_mmhg).max() < 10.0
    # positive during ejection acceleration, negative while filling accelerates
    acceleration = (result.time_ms > 0.05 * result.rr_interval_ms) & (result.time_ms < 0.12 * result.rr_interval_ms)
    assert (result.total_mmhg[acceleration] > 0).all()
    assert f.impulse_systole_mmhg_s > 0  # net push towards the base over systole
    # flow, and so the gradient, grows from the apex to the base
    assert f.basal_peak_systolic_mmhg > f.mid_peak_systolic_mmhg > f.apical_peak_systolic_mmhg > 0
    assert f.basal_early_diastolic_suction_mmhg < f.mid_early_diastolic_suction_mmhg < 0
    assert 0 < f.convective_share_pct < 50  # inertia dominates


def test_simulated_cine_end_to_end():
    cine = simulate_cine("NOR", np.random.default_rng(0), n_frames=25)
    result = compute_ivpg(cine)
    f = result.features
    assert result.spacing_known and not result.length_normalised
    assert "trigger times" in result.timing_source
    assert f.peak_systolic_mmhg > 0 and f.peak_systolic_time_ms < result.phases.es_ms
    assert f.early_diastolic_suction_mmhg < 0
    assert np.abs(result.total_mmhg).max() < 10.0
    truth = cine.metadata["truth"]
    assert result.lv_volume_ml.max() == pytest.approx(truth["lv_edv_ml"], rel=0.05)
    assert result.lv_volume_ml.min() == pytest.approx(truth["lv_esv_ml"], rel=0.1)
    # the base descends: L(t) retreats during systole
    assert result.base_position_mm.min() < result.extent_length_mm - 5


# --------------------------------------------------------------------------- spacing, timing, orientation


def test_spacing_unknown_gives_the_length_normalised_form():
    sections = _half_ellipsoid_lv()
    known = ivpg_from_areas(sections)
    # the same LV in voxel units with an arbitrary unknown scale (areas in px², slices as units)
    voxel = replace(sections, areas_mm2=sections.areas_mm2 / 2.3, slice_spacing_mm=1.0, spacing_known=False)
    unknown = ivpg_from_areas(voxel)
    assert unknown.length_normalised and not unknown.spacing_known
    assert unknown.lv_volume_ml is None and unknown.extent_length_mm is None
    factor = (90.0 / known.extent_length_mm) ** 2
    np.testing.assert_allclose(unknown.total_mmhg, known.total_mmhg * factor, rtol=1e-9, atol=1e-12)
    forced = ivpg_from_areas(sections, normalise_length=True)
    np.testing.assert_allclose(forced.total_mmhg, unknown.total_mmhg, rtol=1e-9, atol=1e-12)
    d = unknown.to_dict()
    assert "peak_systolic_mmhg_lnorm" in d and "peak_systolic_mmhg" not in d
    assert "impulse_systole_mmhg_s_lnorm" in d
    assert d["length_normalised"] is True and "90 mm" in d["pressure_unit"]
    with pytest.raises(UsageError):
        ivpg_from_areas(voxel, normalise_length=False)
    # through a cine whose header lost its spacing: flagged, and the same normalised curve
    small = _half_ellipsoid_lv(n_frames=20)
    from_cine = compute_ivpg(_cine_from_sections(small, spacing_known=False))
    assert from_cine.length_normalised and any("spacing unknown" in note for note in from_cine.notes)
    reference = ivpg_from_areas(small, normalise_length=True)
    np.testing.assert_allclose(from_cine.total_mmhg, reference.total_mmhg, atol=0.02 * np.abs(reference.total_mmhg).max())


def test_cine_without_trigger_times_needs_an_rr_interval():
    sections = _half_ellipsoid_lv(n_frames=20)
    cine = _cine_from_sections(sections, trigger=False)
    with pytest.raises(MissingDataError, match="<test cine>.*rr_interval_ms"):
        compute_ivpg(cine)
    result = compute_ivpg(cine, rr_interval_ms=sections.rr_interval_ms)
    assert "assumed" in result.timing_source and "rr_interval_ms" in result.timing_source
    with_trigger = compute_ivpg(_cine_from_sections(sections))
    np.testing.assert_allclose(result.total_mmhg, with_trigger.total_mmhg, rtol=1e-9, atol=1e-12)
    # pixel rounding of the masks changes the curve only slightly
    exact = ivpg_from_areas(sections)
    np.testing.assert_allclose(result.total_mmhg, exact.total_mmhg, atol=0.02 * np.abs(exact.total_mmhg).max())


def test_slice_order_is_found_from_the_end_sections():
    sections = _half_ellipsoid_lv(n_frames=20)
    base_first = compute_ivpg(_cine_from_sections(sections, base_first=True))
    apex_first = compute_ivpg(_cine_from_sections(sections, base_first=False))
    np.testing.assert_allclose(base_first.total_mmhg, apex_first.total_mmhg, rtol=1e-12, atol=1e-12)
    assert any("inferred" in note for note in base_first.notes)
    wrong = compute_ivpg(_cine_from_sections(sections, base_first=True), slice_order="apex_to_base")
    assert not np.allclose(wrong.total_mmhg, base_first.total_mmhg, atol=0.05)


def test_too_few_frames_clip_the_harmonics_and_say_so():
    result = ivpg_from_areas(_half_ellipsoid_lv(n_frames=12), n_harmonics=8)
    assert result.n_harmonics == 5
    assert any("only 5 harmonics" in note for note in result.notes)


def test_to_dict_is_json_with_units_in_keys():
    result = ivpg_from_areas(_half_ellipsoid_lv())
    d = json.loads(json.dumps(result.to_dict()))
    for key in ("peak_systolic_mmhg", "peak_systolic_time_ms", "peak_systolic_time_pct",
                "early_diastolic_suction_mmhg", "e_deceleration_mmhg", "a_wave_mmhg", "rms_cycle_mmhg",
                "impulse_systole_mmhg_s", "convective_share_pct", "basal_peak_systolic_mmhg",
                "phase_es_ms", "extent_length_mm", "rr_interval_ms"):
        assert key in d, key
    assert d["peak_systolic_mmhg"] == pytest.approx(result.features.peak_systolic_mmhg)
    assert len(d["curves"]["total_mmhg"]) == len(result.time_ms) == 100
    assert d["curves"]["cycle_pct"][-1] == pytest.approx(99.0)
    assert "curves" not in result.to_dict(include_curves=False)


# --------------------------------------------------------------------------- bad input


def test_missing_frame_masks_name_the_file():
    cine = _cine_from_sections(_half_ellipsoid_lv(n_frames=20))
    del cine.segmentations[3]
    with pytest.raises(MissingDataError, match="<test cine>.*every frame"):
        compute_ivpg(cine)


def test_bad_section_areas_raise_data_errors():
    good = _half_ellipsoid_lv()
    with pytest.raises(NonFiniteValueError, match="bad.nii"):
        SectionAreas(np.where(good.areas_mm2 > 500, np.nan, good.areas_mm2), 10.0, 800.0, source="bad.nii")
    with pytest.raises(DataError, match="bad.nii"):
        SectionAreas(-good.areas_mm2, 10.0, 800.0, source="bad.nii")
    with pytest.raises(MissingDataError):
        SectionAreas(np.zeros((5, 20)), 10.0, 800.0)
    with pytest.raises(DataError):
        SectionAreas(good.areas_mm2, 10.0, 800.0, times_ms=np.linspace(0, 900, 25))  # beyond RR
    with pytest.raises(UsageError):
        ivpg_from_areas(good, dz_mm=3.0)  # METHODS.md: Δz <= 2 mm


def test_template_needs_ed_and_es_masks():
    cine = _cine_from_sections(_half_ellipsoid_lv(n_frames=20))
    ed_only = replace(cine, segmentations={0: cine.segmentations[0]}, es_index=8)
    with pytest.raises(MissingDataError, match="ES mask"):
        ed_es_template_areas(ed_only)
    with pytest.raises(MissingDataError, match="es_index"):
        ed_es_template_areas(replace(cine, es_index=None))


def test_effective_base_interpolates_the_crossing():
    z = np.array([0.0, 1.0, 2.0, 3.0])
    area = np.array([[1.0, 2.0, 2.0, 0.0], [1.0, 2.0, 2.0, 2.0]])
    np.testing.assert_allclose(effective_base_m(z, area, 0.5), [2.5, 3.0])


def test_template_shape():
    template = VolumeTemplate()
    phase = np.linspace(0, 1, 1001)
    f = template.ejected_fraction(phase)
    assert f[0] == 0 and f.max() == pytest.approx(1.0) and phase[np.argmax(f)] == pytest.approx(0.35, abs=0.04)
    assert np.all(np.diff(f[phase <= 0.35]) >= 0) and np.all(np.diff(f[phase >= 0.42]) <= 1e-15)
    assert template.ejected_fraction(0.64) == pytest.approx(1 - 0.65)  # E wave refills 65 %
    with pytest.raises(UsageError):
        VolumeTemplate(es=0.5, filling_start=0.45)


# --------------------------------------------------------------------------- (g) real ACDC


@pytest.fixture(scope="module")
def acdc_studies(shared_data):
    from cardiolens.io.layouts import load, scan

    root = shared_data / "acdc"
    if not root.is_dir():
        pytest.skip("ACDC not in shared data")
    cohort = scan(root)
    assert not cohort.bad_cases
    return [load(cohort, record.subject_id) for record in cohort.records]


@pytest.mark.real_data
def test_acdc_template_ivpg_is_physiological_with_known_spacing(acdc_studies):
    known = [s for s in acdc_studies if s.cine.spacing_known]
    assert len(known) >= 20
    for study in known:
        sections = ed_es_template_areas(study.cine, ed=study.ed, es=study.es)
        result = ivpg_from_areas(sections)
        f, sid = result.features, study.subject_id
        assert result.spacing_known and not result.length_normalised, sid
        assert "template" in result.timing_source and "857.1 ms" in result.timing_source, sid
        assert f.peak_systolic_mmhg > 0 and f.peak_systolic_time_ms < result.phases.es_ms, sid
        assert f.early_diastolic_suction_mmhg < 0, sid
        assert result.phases.es_ms < f.early_diastolic_suction_time_ms, sid
        peak = float(np.abs(result.total_mmhg).max())
        assert 0.2 <= peak <= 6.0, (sid, peak)
        np.testing.assert_allclose(result.apical_mmhg + result.mid_mmhg + result.basal_mmhg, result.total_mmhg,
                                   atol=1e-10)
        # the template moves the real ED/ES volumes: disc-sum EDV and ESV are recovered
        edv = (study.ed.labels == 3).sum() * study.ed.voxel_volume_ml
        assert result.lv_volume_ml.max() == pytest.approx(edv, rel=0.02), sid


@pytest.mark.real_data
def test_acdc_unknown_spacing_is_length_normalised_and_flagged(acdc_studies):
    unknown = [s for s in acdc_studies if not s.cine.spacing_known]
    assert len(unknown) >= 30
    for study in unknown:
        result = ivpg_from_areas(ed_es_template_areas(study.cine, ed=study.ed, es=study.es))
        d = result.to_dict(include_curves=False)
        assert result.length_normalised and d["length_normalised"] is True, study.subject_id
        assert "peak_systolic_mmhg_lnorm" in d and d["extent_length_mm"] is None
        assert any("spacing unknown" in note for note in result.notes)
        assert result.features.peak_systolic_mmhg > 0 > result.features.early_diastolic_suction_mmhg
        assert np.abs(result.total_mmhg).max() < 10.0


@pytest.mark.real_data
def test_acdc_cine_has_masks_at_ed_and_es_only(acdc_studies):
    study = acdc_studies[0]
    with pytest.raises(MissingDataError, match="every frame"):
        compute_ivpg(study.cine, rr_interval_ms=857.0)
    # the cropped cine's own ED/ES masks work too (fewer slices than the full ED/ES volumes)
    from_cine = ed_es_template_areas(study.cine)
    from_full = ed_es_template_areas(study.cine, ed=study.ed, es=study.es)
    assert from_cine.n_slices <= from_full.n_slices
    assert ivpg_from_areas(from_cine).features.peak_systolic_mmhg > 0
