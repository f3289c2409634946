"""Small shared fixtures (<= 32^3 voxels, fixed seeds)."""

import numpy as np
import pytest

from microsim import Microstructure
from microsim.generate import generate


@pytest.fixture
def random_two_phase() -> Microstructure:
    """24^3 overlapping CAM spheres (40 %) in pore; CAM percolates on every axis."""
    return generate((24, 24, 24), {"CAM": 0.4}, 3e-6, voxel_size=1e-6, seed=7)


@pytest.fixture
def random_three_phase() -> Microstructure:
    """32^3 CAM/pore spheres in an LLZO matrix, anisotropic voxels set afterwards."""
    micro = generate((32, 32, 32), {"CAM": 0.45, "pore": 0.15}, 3e-6, voxel_size=1e-6, matrix="LLZO", seed=11)
    return micro


def layered(axis: int, thicknesses, labels, *, other=(6, 5)) -> np.ndarray:
    """Label volume made of slabs normal to ``axis`` with the given thicknesses (voxels)."""
    profile = np.repeat(np.asarray(labels, dtype=np.uint8), thicknesses)
    shape = [other[0], other[1]]
    shape.insert(axis, profile.size)
    view = [1, 1, 1]
    view[axis] = profile.size
    return np.broadcast_to(profile.reshape(view), shape).copy()
