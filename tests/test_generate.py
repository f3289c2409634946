import numpy as np
import pytest

from microsim.errors import InvalidInputError
from microsim.generate import overlapping_spheres


@pytest.mark.parametrize("periodic", [False, True])
def test_fractions_are_hit_within_one_sphere(periodic):
    m = overlapping_spheres(
        (40, 40, 40), {"CAM": 0.45, "pore": 0.1}, {"CAM": 4e-6, "pore": 2e-6}, voxel_size=1e-6,
        periodic=periodic, seed=4,
    )
    f = m.volume_fractions()
    sphere = {"CAM": 4 / 3 * np.pi * 4**3 / 40**3, "pore": 4 / 3 * np.pi * 2**3 / 40**3}
    assert 0 <= f["CAM"] - 0.45 <= sphere["CAM"]
    assert 0 <= f["pore"] - 0.1 <= sphere["pore"]
    assert f["LLZO"] == pytest.approx(1 - f["CAM"] - f["pore"])


def test_same_seed_same_volume():
    a = overlapping_spheres((16, 16, 16), {"CAM": 0.3}, 2e-6, voxel_size=1e-6, seed=9)
    b = overlapping_spheres((16, 16, 16), {"CAM": 0.3}, 2e-6, voxel_size=1e-6, seed=9)
    c = overlapping_spheres((16, 16, 16), {"CAM": 0.3}, 2e-6, voxel_size=1e-6, seed=10)
    assert np.array_equal(a.labels, b.labels) and not np.array_equal(a.labels, c.labels)


@pytest.mark.parametrize(
    "fractions, options, match",
    [
        ({"CAM": 0.7, "pore": 0.4}, {}, "sum below 1"),
        ({"SE": 0.3}, {}, "unknown phase 'SE'"),
        ({"LLZO": 0.3}, {}, "fills the rest"),
        ({"CAM": 0.3}, {"voxel_size": (1e-6, 1e-6, 2e-6)}, "isotropic"),
        ({"CAM": 0.3}, {"radius": 1e-7}, "below half a voxel"),
    ],
)
def test_impossible_requests_are_refused(fractions, options, match):
    kwargs = {"voxel_size": 1e-6, "radius": 2e-6, **options}
    radius = kwargs.pop("radius")
    with pytest.raises(InvalidInputError, match=match):
        overlapping_spheres((8, 8, 8), fractions, radius, **kwargs)
