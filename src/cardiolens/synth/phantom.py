"""Shared LV/RV geometry and image helpers for the simulated imaging cohorts.

Geometry model (used by the cine, LGE and mapping generators):

- The LV is a truncated prolate-ellipsoid shell. ``s`` is the distance (mm)
  along the long axis from the end-diastolic base plane towards the apex and
  ``u = (s - base_mm) / cavity_length_mm`` the normalised long-axis position
  (0 at the base plane, 1 at the endocardial apex). The cavity radius at a level
  is ``endo_eq_mm * cavity_profile(u)``; the wall has a constant in-plane
  thickness so that short-axis wall thickness means the same on every ring
  slice, and beyond the endocardial apex a solid cap closes the shell.
- In-plane angles follow the AHA convention of ``METHODS.md``:
  ``theta = atan2(septal component, anterior component)`` about the LV centre,
  so 0 = anterior, +90 deg = septal, +-180 deg = inferior, -90 deg = lateral.
- The RV is an ellipse offset towards the septum, minus the LV; what is left is
  a crescent wrapped on the septal side whose ends are the insertion points.

Images are built from these masks, never the other way round, so every label
comes from the simulated anatomy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, NamedTuple

import numpy as np
from scipy import ndimage

from cardiolens.errors import UsageError

#: Coronary territories: centre angle (deg, AHA convention above), half-width
#: (deg) and long-axis extent (u range; u > 1 reaches the apical cap).
TERRITORIES: Final[dict[str, tuple[float, float, float, float]]] = {
    "LAD": (30.0, 60.0, 0.30, 1.30),  # anterior + anteroseptal walls, mid to apex
    "RCA": (150.0, 55.0, -0.10, 0.80),  # inferoseptal + inferior walls, base to mid
    "LCX": (-90.0, 55.0, -0.10, 0.85),  # anterolateral + inferolateral walls
}
#: How often each territory is the culprit (LAD infarcts are the commonest).
TERRITORY_PROBABILITIES: Final[tuple[float, float, float]] = (0.5, 0.3, 0.2)

#: In-plane spacing ranges are stated for a 96-pixel matrix; smaller matrices
#: get proportionally coarser pixels so that the heart still fits in the image.
REFERENCE_MATRIX: Final[int] = 96


def check_rng(rng: object) -> np.random.Generator:
    """Return ``rng`` if it is a numpy Generator, else raise :class:`UsageError`."""
    if not isinstance(rng, np.random.Generator):
        raise UsageError(
            f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}"
        )
    return rng


def check_size(name: str, value: int, minimum: int) -> int:
    """Validate an integer size argument (number of slices, frames, matrix)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise UsageError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def draw_in_plane_spacing_mm(rng: np.random.Generator, low_mm: float, high_mm: float, matrix: int) -> float:
    """Isotropic in-plane pixel spacing (mm), uniform in [low, high] at a 96-pixel matrix.

    Below 96 pixels the range is scaled by 96/matrix: the field of view (not
    the pixel size) is what must hold a dilated heart.
    """
    scale = max(1.0, REFERENCE_MATRIX / matrix)
    return float(rng.uniform(low_mm, high_mm) * scale)


def log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    """A draw whose logarithm is uniform: used for the arbitrary global intensity scale."""
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


# --- angles and in-plane coordinates -------------------------------------------------


@dataclass(frozen=True)
class HeartAxes:
    """Unit vectors (dy, dx) in the image plane: towards the septum and towards anterior."""

    septal_yx: tuple[float, float]
    anterior_yx: tuple[float, float]

    @classmethod
    def from_rotation(cls, rotation_rad: float) -> HeartAxes:
        """Axes of a heart rotated by ``rotation_rad`` from the display convention.

        With no rotation the septum (and RV) is on the image left and anterior is
        up (row 0), as short-axis stacks are usually displayed.
        """
        sept = np.pi + rotation_rad
        ant = sept + np.pi / 2
        return cls((float(np.sin(sept)), float(np.cos(sept))), (float(np.sin(ant)), float(np.cos(ant))))

    def components(self, dy: np.ndarray, dx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(septal, anterior) components (mm) of in-plane offsets from the LV centre."""
        xi = dy * self.septal_yx[0] + dx * self.septal_yx[1]
        eta = dy * self.anterior_yx[0] + dx * self.anterior_yx[1]
        return xi, eta

    def offset(self, theta: np.ndarray, radius_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(dy, dx) of the point at AHA angle ``theta`` and distance ``radius_mm`` from the centre."""
        xi, eta = radius_mm * np.sin(theta), radius_mm * np.cos(theta)
        dy = xi * self.septal_yx[0] + eta * self.anterior_yx[0]
        dx = xi * self.septal_yx[1] + eta * self.anterior_yx[1]
        return dy, dx


def aha_angle(xi: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """AHA angle (rad) from septal and anterior components: 0 anterior, +pi/2 septal."""
    return np.arctan2(xi, eta)


def wrap_angle(angle: np.ndarray | float) -> np.ndarray:
    """Wrap angles (rad) into [-pi, pi)."""
    return (np.asarray(angle) + np.pi) % (2 * np.pi) - np.pi


def sector_weight(theta: np.ndarray, centre_rad: float, half_width_rad: float, edge_rad: float = 0.35) -> np.ndarray:
    """1 inside a sector, 0 outside, with a raised-cosine edge of width ``edge_rad``."""
    distance = np.abs(wrap_angle(theta - centre_rad))
    x = np.clip((distance - (half_width_rad - edge_rad / 2)) / edge_rad, 0.0, 1.0)
    return 0.5 * (1.0 + np.cos(np.pi * x))


def band_weight(u: np.ndarray, low: float, high: float, edge: float = 0.15) -> np.ndarray:
    """1 for ``low <= u <= high`` with raised-cosine edges: a long-axis extent."""
    below = np.clip((low - u) / edge, 0.0, 1.0)
    above = np.clip((u - high) / edge, 0.0, 1.0)
    return 0.5 * (1.0 + np.cos(np.pi * np.maximum(below, above)))


def angular_noise(theta: np.ndarray, rng: np.random.Generator, n_harmonics: int = 4) -> np.ndarray:
    """A smooth random periodic function of angle, zero mean and about unit SD."""
    orders = np.arange(1, n_harmonics + 1)
    amplitudes = rng.normal(size=n_harmonics) / np.sqrt(orders)
    phases = rng.uniform(0, 2 * np.pi, n_harmonics)
    out = np.zeros_like(theta, dtype=float)
    for k, a, p in zip(orders, amplitudes, phases):
        out = out + a * np.cos(k * theta + p)
    return out * np.sqrt(2.0 / max(np.sum(amplitudes**2), 1e-9))


@dataclass(frozen=True)
class Territory:
    """A coronary territory: name, centre and half-width (rad, AHA), long-axis extent (u)."""

    name: str
    centre_rad: float
    half_width_rad: float
    u_low: float
    u_high: float

    def weight(self, theta: np.ndarray, u: np.ndarray) -> np.ndarray:
        """0..1 membership of the territory (smooth edges)."""
        return sector_weight(theta, self.centre_rad, self.half_width_rad) * band_weight(u, self.u_low, self.u_high)

    def score(self, theta: np.ndarray, u: np.ndarray) -> np.ndarray:
        """0 at the territory core, falling quadratically outside: ranks growth of an infarct."""
        angle = wrap_angle(theta - self.centre_rad) / self.half_width_rad
        below = np.clip(self.u_low - u, 0.0, None)
        above = np.clip(u - self.u_high, 0.0, None)
        return -(angle**2) - ((below + above) / 0.3) ** 2

    def as_dict(self) -> dict[str, float | str]:
        return {
            "name": self.name,
            "centre_deg": float(np.degrees(self.centre_rad)),
            "half_width_deg": float(np.degrees(self.half_width_rad)),
            "u_low": self.u_low,
            "u_high": self.u_high,
        }


def draw_territory(rng: np.random.Generator) -> Territory:
    """A culprit coronary territory with jittered centre and width."""
    names = list(TERRITORIES)
    name = names[int(rng.choice(len(names), p=TERRITORY_PROBABILITIES))]
    centre, half, low, high = TERRITORIES[name]
    return Territory(
        name=name,
        centre_rad=float(np.radians(centre + rng.uniform(-12, 12))),
        half_width_rad=float(np.radians(half * rng.uniform(0.75, 1.1))),
        u_low=low,
        u_high=high,
    )


# --- LV shell and RV crescent ----------------------------------------------------------


def cavity_profile(u: np.ndarray, equator_u: float) -> np.ndarray:
    """Relative cavity radius along the long axis: a prolate ellipse, 0 at and beyond u = 1.

    ``equator_u`` (< 0 puts the equator above the base plane) sets how much the
    base is narrower than the widest level. Returns 0 above the base (u < 0).
    """
    x = (u - equator_u) / (1.0 - equator_u)
    profile = np.sqrt(np.clip(1.0 - x**2, 0.0, None))
    return np.where((u >= 0) & (u <= 1), profile, 0.0)


class LVShell(NamedTuple):
    """Masks and coordinates of an LV shell on a grid (same broadcast shape)."""

    cavity: np.ndarray  # bool
    myocardium: np.ndarray  # bool
    depth: np.ndarray  # 0 at the endocardium .. 1 at the epicardium (meaningful in the myocardium)
    u: np.ndarray  # normalised long-axis position
    endo_radius_mm: np.ndarray
    epi_radius_mm: np.ndarray


def lv_shell(
    r_mm: np.ndarray,
    endo_eq_mm: np.ndarray,
    wall_mm: np.ndarray,
    s_mm: np.ndarray,
    base_mm: np.ndarray | float,
    cavity_length_mm: np.ndarray | float,
    apex_wall_mm: np.ndarray | float,
    equator_u: float,
) -> LVShell:
    """Rasterise the LV shell: cavity, myocardium and transmural depth.

    Args:
        r_mm: in-plane distance of each voxel from the LV centre of its slice.
        endo_eq_mm: equatorial endocardial radius along each voxel's angle.
        wall_mm: in-plane wall thickness along each voxel's angle.
        s_mm: long-axis position of each voxel's slice (mm from the ED base plane).
        base_mm: current base-plane position (moves apically in systole).
        cavity_length_mm: current base-to-endocardial-apex length.
        apex_wall_mm: thickness of the apical cap beyond the endocardial apex.
        equator_u: see :func:`cavity_profile`.
    All arguments broadcast together.
    """
    u = (s_mm - base_mm) / cavity_length_mm
    endo = endo_eq_mm * cavity_profile(u, equator_u)
    in_ring = (u >= 0) & (u <= 1)
    beyond = np.clip((s_mm - (base_mm + cavity_length_mm)) / apex_wall_mm, 0.0, None)
    cap_radius = wall_mm * np.sqrt(np.clip(1.0 - beyond**2, 0.0, None))
    epi = np.where(in_ring, endo + wall_mm, np.where(u > 1, cap_radius, 0.0))
    cavity = in_ring & (r_mm < endo)
    myocardium = (u >= 0) & (r_mm < epi) & ~cavity
    ring_depth = (r_mm - endo) / wall_mm
    cap_depth = np.maximum(r_mm / np.maximum(epi, 1e-6), beyond)
    depth = np.clip(np.where(in_ring, ring_depth, cap_depth), 0.0, 1.0)
    return LVShell(cavity, myocardium, depth, u, endo, epi)


def rv_crescent(
    xi: np.ndarray,
    eta: np.ndarray,
    septal_epi_mm: np.ndarray,
    thickness_mm: np.ndarray,
    offset_fraction: float,
    perp_scale: np.ndarray | float,
    free_wall_mm: float,
) -> tuple[np.ndarray, np.ndarray]:
    """RV region (cavity before removing the LV) and its free-wall band.

    The RV outline is an ellipse centred ``offset_fraction * septal_epi_mm``
    towards the septum; along the septal direction it reaches ``thickness_mm``
    beyond the septal epicardium, across it it spans
    ``perp_scale * septal_epi_mm + 0.3 * thickness_mm`` either side (which sets
    where the horns end). The caller removes the LV from both masks.
    """
    present = thickness_mm > 0.5
    centre = offset_fraction * septal_epi_mm
    a_par = np.maximum(septal_epi_mm + thickness_mm - centre, 1e-3)
    a_perp = np.maximum(perp_scale * septal_epi_mm + 0.3 * thickness_mm, 1e-3)
    rho = np.sqrt(((xi - centre) / a_par) ** 2 + (eta / a_perp) ** 2)
    cavity = present & (rho < 1.0)
    wall = present & ~cavity & (rho < 1.0 + free_wall_mm / np.minimum(a_par, a_perp))
    return cavity, wall


# --- label hygiene and measurement ------------------------------------------------------


def touching4(mask: np.ndarray) -> np.ndarray:
    """Pixels 4-adjacent in-plane (last two axes) to ``mask``, excluding ``mask`` itself."""
    grown = np.zeros_like(mask)
    grown[..., 1:, :] |= mask[..., :-1, :]
    grown[..., :-1, :] |= mask[..., 1:, :]
    grown[..., :, 1:] |= mask[..., :, :-1]
    grown[..., :, :-1] |= mask[..., :, 1:]
    return grown & ~mask


def enclose_cavity(cavity: np.ndarray, myocardium: np.ndarray) -> np.ndarray:
    """Myocardium grown so that no cavity pixel is 4-adjacent to anything but myocardium.

    Rasterising a thin wall on coarse pixels can leave diagonal gaps; a real
    ring is closed, so the gap pixels become myocardium.
    """
    return myocardium | touching4(cavity)


def max_wall_thickness_mm(cavity: np.ndarray, myocardium: np.ndarray, spacing_yx_mm: tuple[float, float]) -> float:
    """Largest wall thickness (mm) over the slices (z, y, x) that hold both cavity and myocardium.

    For every endocardial pixel (myocardium 4-adjacent to cavity), the thickness is
    the distance from its centre to the nearest pixel outside the LV (neither
    cavity nor myocardium): a wall k pixels thick measures k pixel spacings.
    """
    best = 0.0
    for cav, myo in zip(cavity, myocardium):
        if not cav.any() or not myo.any():
            continue
        inside = np.pad(cav | myo, 1)  # pad so the image border counts as outside
        distance = ndimage.distance_transform_edt(inside, sampling=spacing_yx_mm)[1:-1, 1:-1]
        endocardium = myo & touching4(cav)
        if endocardium.any():
            best = max(best, float(distance[endocardium].max()))
    return best


def select_top(score: np.ndarray, eligible: np.ndarray, n_voxels: int) -> np.ndarray:
    """Mask of the ``n_voxels`` eligible voxels with the highest score (fewer if not enough)."""
    out = np.zeros(score.shape, dtype=bool)
    index = np.flatnonzero(eligible)
    n = min(int(n_voxels), index.size)
    if n <= 0:
        return out
    values = score.ravel()[index]
    top = index[np.argpartition(-values, n - 1)[:n]]
    out.ravel()[top] = True
    return out


# --- textures, bias, noise ------------------------------------------------------------


def smooth_field(shape: tuple[int, ...], sigma_vox: tuple[float, ...], rng: np.random.Generator) -> np.ndarray:
    """Gaussian-smoothed white noise, rescaled to zero mean and unit SD."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma_vox, mode="wrap", truncate=3.0)
    return (field - field.mean()) / max(float(field.std()), 1e-12)


def bias_field(shape_zyx: tuple[int, int, int], rng: np.random.Generator, amplitude: float) -> np.ndarray:
    """Smooth multiplicative coil-sensitivity field (z, y, x), about ``1 +- amplitude``."""
    z, y, x = (np.linspace(-1, 1, n) for n in shape_zyx)
    zz, yy, xx = np.meshgrid(z, y, x, indexing="ij")
    terms = (yy, xx, yy * xx, yy**2 - 1 / 3, xx**2 - 1 / 3, 0.3 * zz)
    log_field = sum(c * t for c, t in zip(rng.normal(size=len(terms)), terms))
    log_field = log_field / max(float(np.abs(log_field).max()), 1e-9)
    return np.exp(amplitude * log_field)


def rician(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Magnitude of the image plus complex Gaussian noise (SD ``sigma`` per channel)."""
    dtype = np.float32 if image.dtype == np.float32 else np.float64
    real = image + np.asarray(sigma, dtype) * rng.standard_normal(image.shape, dtype=dtype)
    imag = np.asarray(sigma, dtype) * rng.standard_normal(image.shape, dtype=dtype)
    return np.hypot(real, imag)


class Background(NamedTuple):
    """Tissue outside the heart (z, y, x): lung, liver and fat masks and a soft-tissue texture."""

    lung: np.ndarray
    liver: np.ndarray
    fat: np.ndarray
    texture: np.ndarray

    def compose(self, lung: float, liver: float, fat: float, soft: float, texture_gain: float) -> np.ndarray:
        """One modality's values: lung and fat flat, liver and soft tissue textured."""
        textured = np.where(self.liver, liver, soft) * (1 + texture_gain * self.texture)
        return np.where(self.lung, lung, np.where(self.fat, fat, textured))


def tissue_background(
    shape_zyx: tuple[int, int, int],
    spacing_zyx_mm: tuple[float, float, float],
    axes: HeartAxes,
    rng: np.random.Generator,
) -> Background:
    """Lung (lateral and anterior of the heart), liver (inferior, towards the apex), fat, soft tissue.

    The fractions and the texture are drawn per subject; they are nuisance and
    carry no class information.
    """
    nz, ny, nx = shape_zyx

    def sigma(mm: float) -> tuple[float, ...]:
        return tuple(max(mm / sp, 0.3) for sp in spacing_zyx_mm)

    yy = (np.arange(ny) - (ny - 1) / 2) / (ny / 2)
    xx = (np.arange(nx) - (nx - 1) / 2) / (nx / 2)
    xi, eta = axes.components(yy[:, None], xx[None, :])
    # lungs: large regions lateral (away from the RV) and anterior of the heart
    trend = -1.5 * xi + 0.7 * eta + rng.uniform(-0.3, 0.3)
    lung_score = smooth_field(shape_zyx, sigma(18.0), rng) + 2.5 * trend[None]
    lung = lung_score > np.quantile(lung_score, 1.0 - rng.uniform(0.12, 0.3))
    # liver: below the inferior wall, more of it in apical slices
    apical = np.linspace(0.0, 1.0, nz)[:, None, None]
    liver_score = 0.6 * smooth_field(shape_zyx, sigma(15.0), rng) - 2.5 * eta[None] + 1.2 * apical
    liver = (liver_score > np.quantile(liver_score, 1.0 - rng.uniform(0.06, 0.18))) & ~lung
    fat_score = smooth_field(shape_zyx, sigma(6.0), rng)
    fat = (fat_score > np.quantile(fat_score, 1.0 - rng.uniform(0.02, 0.06))) & ~lung & ~liver
    texture = 0.7 * smooth_field(shape_zyx, sigma(2.5), rng) + 0.7 * smooth_field(shape_zyx, sigma(8.0), rng)
    return Background(lung, liver, fat, texture)


# --- geometry in patient space -----------------------------------------------------------


def sax_affine(
    spacing_zyx_mm: tuple[float, float, float], shape_zyx: tuple[int, int, int], axes: HeartAxes
) -> np.ndarray:
    """Voxel (x, y, z, 1) -> RAS+ mm affine of an oblique short-axis stack (indicative).

    The slice direction (base to apex) points left, anterior and inferior; the
    in-plane axes follow the heart's septal and anterior directions as drawn
    in the image, mapped onto the true anatomical directions (the septum
    towards the patient's right, anterior towards +A). A base-to-apex stack
    shown in the standard way is therefore left-handed, as real ones are; the
    DICOM reader may return such a stack apex-to-base (same geometry), so the
    simulated layout re-aligns it with its masks. The FOV centre of the first
    slice sits at the RAS origin.
    """
    long_axis = np.array([-0.6, 0.5, -0.62])
    long_axis /= np.linalg.norm(long_axis)
    septal = np.array([1.0, 0.3, 0.0])  # the RV lies right-anterior of the LV
    septal -= septal.dot(long_axis) * long_axis
    septal /= np.linalg.norm(septal)
    anterior = np.array([0.0, 1.0, 0.0])  # RAS +A, made orthogonal to the long axis and the septal direction
    anterior -= anterior.dot(long_axis) * long_axis + anterior.dot(septal) * septal
    anterior /= np.linalg.norm(anterior)
    # image axes in (septal, anterior) components, from the in-plane unit vectors
    col_dir = septal * axes.septal_yx[1] + anterior * axes.anterior_yx[1]
    row_dir = septal * axes.septal_yx[0] + anterior * axes.anterior_yx[0]
    dz, dy, dx = spacing_zyx_mm
    nz, ny, nx = shape_zyx
    affine = np.eye(4)
    affine[:3, 0] = col_dir * dx
    affine[:3, 1] = row_dir * dy
    affine[:3, 2] = long_axis * dz
    affine[:3, 3] = -(affine[:3, 0] * (nx - 1) / 2 + affine[:3, 1] * (ny - 1) / 2)
    return affine


# --- a static heart (one phase) for LGE and parametric maps --------------------------------


@dataclass(frozen=True)
class StaticHeart:
    """A rasterised LV (with RV and epicardial fat for the image) at one cardiac phase.

    Arrays are (z, y, x). ``theta`` is the AHA angle (rad) about each slice's LV
    centre, ``u`` the normalised long-axis position, ``depth`` the transmural
    depth (0 endocardium .. 1 epicardium), ``wall_mm`` the local wall thickness.
    """

    cavity: np.ndarray
    myocardium: np.ndarray
    rv_cavity: np.ndarray
    rv_wall: np.ndarray
    epicardial_fat: np.ndarray
    papillary: np.ndarray
    theta: np.ndarray
    u: np.ndarray
    depth: np.ndarray
    wall_mm: np.ndarray
    axes: HeartAxes
    spacing_mm: tuple[float, float, float]
    centre_px: np.ndarray  # (z, 2): LV centre (row, column) of each slice, in pixels

    @property
    def outside(self) -> np.ndarray:
        """Neither LV cavity nor LV myocardium."""
        return ~(self.cavity | self.myocardium)

    def anatomy_dict(self) -> dict[str, object]:
        """JSON-friendly description of the frame of reference (for tests and AHA sectors)."""
        return {
            "lv_centre_yx_px": [[round(float(c), 3) for c in row] for row in self.centre_px],
            "septal_direction_yx": self.axes.septal_yx,
            "anterior_direction_yx": self.axes.anterior_yx,
            "angle_convention": "AHA: atan2(septal, anterior); 0 anterior, +90 septal, -90 lateral",
        }


def draw_static_heart(
    rng: np.random.Generator,
    *,
    n_slices: int,
    matrix: int,
    in_plane_range_mm: tuple[float, float],
    coverage: str,
    hypertrophy_probability: float,
) -> StaticHeart:
    """Draw and rasterise one LV shell (plus RV, fat and papillary muscles for the image).

    ``coverage="full"`` places the stack from the base to the apex (LGE);
    ``"mid"`` centres it on the mid ventricle (maps, OS-CMR). Shape, size,
    hypertrophy, spacing, position and rotation are drawn here and are the
    same for every class of the caller.
    """
    u = rng.uniform
    endo_eq, ovality, ovality_rad = u(22, 30), u(0, 0.06), u(0, np.pi)
    wall = u(7.0, 10.5)
    hyp_mm, hyp_centre, hyp_half = 0.0, np.radians(90.0), np.radians(60.0)
    if rng.random() < hypertrophy_probability:  # asymmetric septal hypertrophy (HCM-like)
        hyp_mm, hyp_centre, hyp_half = u(13, 22) - wall, np.radians(u(60, 115)), np.radians(u(45, 75))
    irregular = (u(0, 0.6), u(0, 2 * np.pi), u(0, 0.4), u(0, 2 * np.pi))
    equator_u = u(0.0, 0.25)
    dz = u(8.0, 10.0)
    dxy = draw_in_plane_spacing_mm(rng, *in_plane_range_mm, matrix)
    axes = HeartAxes.from_rotation(u(-np.radians(25), np.radians(25)))
    jitter = u(-4.0, 4.0, 2)
    tilt = u(-0.06, 0.06, 2)

    apex_wall = float(np.clip(0.8 * wall, 5.0, 10.0))
    if coverage == "full":
        first = u(0.25, 0.6) * dz
        s_mm = first + dz * np.arange(n_slices)
        epi_length = min(u(80.0, 100.0), s_mm[-1] + u(0.0, 0.5) * dz)
    elif coverage == "mid":
        epi_length = u(75.0, 95.0)
        if n_slices > 1:
            dz = min(dz, 0.55 * epi_length / (n_slices - 1))  # keep every slice on the mid ventricle
        s_mm = (epi_length - apex_wall) * u(0.4, 0.6) + dz * (np.arange(n_slices) - (n_slices - 1) / 2)
    else:
        raise UsageError(f"coverage must be 'full' or 'mid', got {coverage!r}")
    length = epi_length - apex_wall

    coords = (np.arange(matrix) - (matrix - 1) / 2) * dxy
    centre = jitter - 0.25 * (u(18, 30) * np.asarray(axes.septal_yx))  # make a little room for the RV
    centre_y = centre[0] + tilt[0] * (s_mm - s_mm.mean())
    centre_x = centre[1] + tilt[1] * (s_mm - s_mm.mean())
    dy = coords[None, :, None] - centre_y[:, None, None]
    dx = coords[None, None, :] - centre_x[:, None, None]
    xi, eta = axes.components(dy, dx)
    r = np.hypot(dy, dx)
    theta = aha_angle(xi, eta)
    s3 = s_mm[:, None, None]

    def endo_at(angle: np.ndarray) -> np.ndarray:
        return endo_eq * (1 + ovality * np.cos(2 * (angle - ovality_rad)))

    def wall_at(angle: np.ndarray) -> np.ndarray:
        amp1, ph1, amp2, ph2 = irregular
        return (
            wall
            + amp1 * np.cos(3 * angle + ph1)
            + amp2 * np.cos(5 * angle + ph2)
            + hyp_mm * sector_weight(angle, hyp_centre, hyp_half, 0.6)
        )

    wall_mm = wall_at(theta)
    shell = lv_shell(r, endo_at(theta), wall_mm, s3, 0.0, length, apex_wall, equator_u)
    myocardium = enclose_cavity(shell.cavity, shell.myocardium)

    septal = np.full(s3.shape, np.pi / 2)
    septal_epi = lv_shell(np.zeros(1), endo_at(septal), wall_at(septal), s3, 0.0, length, apex_wall, equator_u)
    rv_thickness = u(18, 30) * cavity_profile(s3 / (u(0.72, 0.88) * length), 0.1) ** 0.7
    rv, rv_wall = rv_crescent(xi, eta, septal_epi.epi_radius_mm, rv_thickness, u(0.3, 0.42), u(0.8, 0.95), u(2.5, 4.0))
    lv = shell.cavity | myocardium
    rv &= ~lv
    rv_wall &= ~lv

    fat_width = np.clip(2.0 + 2.5 * angular_noise(theta, rng), 0, 6.0)
    epi = shell.epi_radius_mm
    fat = (epi > 0) & (r >= epi) & (r < epi + fat_width) & ~lv & ~rv & ~rv_wall

    papillary = np.zeros_like(shell.cavity)
    for angle in (np.radians(u(-70, -30)), np.radians(u(-160, -120))):
        endo_p = endo_at(np.array(angle)) * cavity_profile(s3 / length, equator_u)
        py, px = axes.offset(np.array(angle), u(0.55, 0.7) * endo_p)
        papillary |= ((dy - py) ** 2 + (dx - px) ** 2 < u(2.0, 3.5) ** 2) & (endo_p > 12.0) & shell.cavity

    centre_px = np.stack([centre_y / dxy + (matrix - 1) / 2, centre_x / dxy + (matrix - 1) / 2], axis=1)
    return StaticHeart(
        cavity=shell.cavity,
        myocardium=myocardium,
        rv_cavity=rv,
        rv_wall=rv_wall,
        epicardial_fat=fat,
        papillary=papillary,
        theta=theta,
        u=shell.u,
        depth=shell.depth,
        wall_mm=np.broadcast_to(wall_mm, r.shape),
        axes=axes,
        spacing_mm=(float(dz), float(dxy), float(dxy)),
        centre_px=centre_px,
    )
