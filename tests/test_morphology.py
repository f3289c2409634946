"""Morphology: areas against spheres and planes, cluster fractions, local thickness, grains."""

import math

import numpy as np
import pytest

from microsim.microstructure import Microstructure
from microsim.morphology import face_areas, grain_statistics, local_thickness, measure_morphology
from tests.conftest import layered


def ball(n: int, radius: float, centre=None) -> np.ndarray:
    c = np.asarray(centre if centre is not None else (n / 2 + 0.31, n / 2 - 0.17, n / 2 + 0.08))
    z, y, x = np.indices((n, n, n)) + 0.5
    return ((z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2) <= radius**2


@pytest.mark.parametrize("radius", [10, 12.5, 16])
def test_sphere_area_within_3_percent(radius):
    # the acceptance: a single sphere of radius >= 10 voxels within 3 % of 4 pi r^2
    h = 0.2e-6
    labels = ball(int(2 * radius + 8), radius).astype(np.uint8)
    m = measure_morphology(Microstructure(labels, h), thickness=False)
    exact = 4 * math.pi * (radius * h) ** 2
    assert m.surface_area_m2["CAM"] == pytest.approx(exact, rel=0.03)
    assert m.interface_area_m2["pore|CAM"] == m.surface_area_m2["CAM"] == m.surface_area_m2["pore"]


def test_sphere_area_with_anisotropic_voxels():
    # the same sphere sampled on 1 x 1 x 2 voxels: each axis's faces carry their own area
    z, y, x = np.indices((40, 40, 20)) + 0.5
    labels = ((z - 20.2) ** 2 + (y - 19.9) ** 2 + (2 * x - 20.1) ** 2 <= 12**2).astype(np.uint8)
    m = measure_morphology(Microstructure(labels, (1e-6, 1e-6, 2e-6)), thickness=False)
    assert m.surface_area_m2["CAM"] == pytest.approx(4 * math.pi * 144e-12, rel=0.03)


def test_planar_interfaces_counted_exactly_in_raw_faces():
    # layers normal to axis 0: the raw face area is exact; the isotropic estimate is 2/3 of it
    m = measure_morphology(Microstructure(layered(0, [3, 3, 2], [1, 2, 0], other=(8, 8)), 1e-6), thickness=False)
    cross = 8 * 8 * 1e-12
    assert m.face_area_m2["CAM|LLZO"] == pytest.approx(cross)
    assert m.face_area_m2["pore|LLZO"] == pytest.approx(cross)
    assert m.face_area_m2["pore|CAM"] == 0
    assert m.interface_area_m2["CAM|LLZO"] == pytest.approx(2 / 3 * cross)
    assert m.surface_area_m2["LLZO"] == pytest.approx(4 / 3 * cross)
    assert m.interface_area_per_volume("LLZO", "CAM") == pytest.approx(2 / 3 * cross / (8 * 8 * 8e-18))


def test_face_areas_of_three_phases_add_up():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, (10, 11, 12))
    faces = face_areas(labels)
    differing = sum(np.count_nonzero(np.diff(labels, axis=a)) for a in range(3))
    assert sum(faces.values()) == differing
    assert set(faces) == {(0, 1), (0, 2), (1, 2)}


def test_cluster_fractions():
    labels = np.zeros((10, 10, 10), np.uint8)
    labels[:, 4:6, 4:6] = 1  # a rod along axis 0
    labels[2:4, 0:2, 0:2] = 1  # touches faces 1 and 2 low sides only
    labels[6:8, 7:9, 4:6] = 2  # an enclosed LLZO inclusion
    m = measure_morphology(Microstructure(labels, 1e-6), thickness=False)
    rod, corner = 40, 8
    assert m.spanning_fraction["CAM"] == pytest.approx([rod / (rod + corner), 0, 0])
    assert m.connected_fraction["CAM"] == pytest.approx([rod / 48, corner / 48, corner / 48])
    assert m.isolated_fraction["CAM"] == 0
    assert m.isolated_fraction["LLZO"] == 1 and m.spanning_fraction["LLZO"] == [0, 0, 0]
    assert m.spanning_fraction["pore"] == [1, 1, 1]


def test_local_thickness_of_slabs_within_half_a_voxel():
    for n in (3, 4, 7, 8):
        slab = np.zeros((n + 6, 30, 30), bool)
        slab[3:3 + n] = True
        t = local_thickness(slab, spacing=(0.5, 1, 1))
        core = t[3:3 + n, 8:-8, 8:-8]  # away from the box edges, which bound the slab too
        assert np.allclose(core, 0.5 * (n + (0.5 if n % 2 else -0.5)))


@pytest.mark.parametrize("radius", [10, 20])
def test_local_thickness_of_a_sphere(radius):
    # digitised spheres: the median diameter within 10 % of 2r, never above it
    s = ball(2 * radius + 6, radius)
    d50 = np.median(local_thickness(s)[s])
    assert 0.9 * 2 * radius <= d50 <= 2 * radius


def test_size_distribution_separates_two_particle_sizes():
    small = ball(40, 4, (10.2, 10.1, 10.3))
    large = ball(40, 10, (25.1, 25.3, 24.8))
    m = measure_morphology(Microstructure((small | large).astype(np.uint8), 1e-6))
    size = m.thickness["CAM"]
    assert size.d10 < 9e-6 < size.d50  # most of the volume is in the large sphere
    assert size.d90 <= 20e-6


def test_grain_statistics():
    grains = np.zeros((4, 4, 4), np.int32)
    grains[:2] = 1
    grains[2:, :2] = 3  # ids need not be contiguous
    stats = grain_statistics(grains, spacing=(1e-6,) * 3)
    assert stats["count"] == 2
    assert stats["mean_volume_m3"] == pytest.approx(24e-18)
    assert stats["mean_diameter_m"] == pytest.approx((6 * 24e-18 / math.pi) ** (1 / 3))
