"""Virtual microstructures: random overlapping-sphere packings (Boolean model).

Sphere phases are placed one after another into the space the earlier phases left;
the matrix phase fills the rest. Each phase hits its target volume fraction to
within one sphere: spheres are drawn as a Poisson sequence, every voxel records the
first sphere of the sequence that covers it, and the sequence is cut where the
covered fraction reaches the target.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from microsim.errors import InvalidInputError
from microsim.microstructure import DEFAULT_PHASES, Microstructure, check_voxel_size


def _first_cover(shape, radius_vox: float, count: int, rng: np.random.Generator, periodic: bool) -> np.ndarray:
    """Index of the first of ``count`` random spheres covering each voxel (``count`` if none)."""
    order = np.full(shape, count, dtype=np.int32 if count < 2**31 - 1 else np.int64)
    centres = rng.random((count, 3)) * np.asarray(shape)
    reach = int(math.ceil(radius_vox))
    offsets = np.arange(-reach, reach + 1)
    for index in range(count - 1, -1, -1):
        centre = centres[index]
        axes = []
        for a in range(3):
            coords = np.floor(centre[a]).astype(int) + offsets
            if not periodic:
                coords = coords[(coords >= 0) & (coords < shape[a])]
            axes.append(coords)
        d2 = sum(
            ((axes[a] + 0.5 - centre[a]) ** 2).reshape([-1 if b == a else 1 for b in range(3)]) for a in range(3)
        )
        inside = d2 <= radius_vox**2
        block = np.ix_(*(c % shape[a] for a, c in enumerate(axes)))
        view = order[block]
        view[inside] = index
        order[block] = view
    return order


def overlapping_spheres(
    shape: tuple[int, int, int],
    fractions: Mapping[str, float],
    radius: Mapping[str, float] | float,
    *,
    voxel_size=1e-6,
    matrix: str = "LLZO",
    phases: Mapping[str, int] | None = None,
    periodic: bool = False,
    seed: int | np.random.Generator | None = None,
) -> Microstructure:
    """Random overlapping spheres of each phase in ``fractions``; ``matrix`` fills the rest.

    Parameters
    ----------
    shape : 3 ints
        Voxels along axes 0, 1, 2.
    fractions : mapping phase -> volume fraction
        Target fractions of the sphere phases, placed in the given order; their sum
        must stay below 1 (the matrix phase gets the rest).
    radius : float or mapping phase -> float [m]
        Sphere radius (per phase).
    voxel_size : float or 3 floats [m]
        Only isotropic voxels are supported by the generator.
    matrix : str
        Phase filling the space no sphere covers.
    phases : mapping name -> label, optional
        Phase table (default pore 0, CAM 1, LLZO 2).
    periodic : bool
        Spheres wrap around the box faces.
    seed : int, Generator or None
        Random seed; the same seed gives the same volume.

    Returns
    -------
    Microstructure

    Examples
    --------
    >>> m = overlapping_spheres((32, 32, 32), {"CAM": 0.5}, 3e-6, voxel_size=1e-6, seed=1)
    >>> abs(m.volume_fraction("CAM") - 0.5) < 0.01
    True
    """
    table = dict(DEFAULT_PHASES if phases is None else phases)
    size = check_voxel_size(voxel_size)
    if len(set(size)) != 1:
        raise InvalidInputError(f"the sphere generator needs isotropic voxels, got {size}")
    if len(shape) != 3 or any(int(n) < 1 for n in shape):
        raise InvalidInputError(f"shape must be three positive integers, got {shape!r}")
    shape = tuple(int(n) for n in shape)
    for name in list(fractions) + [matrix]:
        if name not in table:
            raise InvalidInputError(f"unknown phase {name!r}; phases are {', '.join(table)}")
    if matrix in fractions:
        raise InvalidInputError(f"the matrix phase {matrix!r} fills the rest; give it no target fraction")
    total = sum(float(f) for f in fractions.values())
    if any(not 0 <= float(f) < 1 for f in fractions.values()) or total >= 1:
        raise InvalidInputError(f"sphere fractions must be in [0, 1) and sum below 1, got {dict(fractions)}")

    rng = np.random.default_rng(seed)
    labels = np.full(shape, table[matrix], dtype=np.uint8)
    free = np.ones(shape, dtype=bool)
    n_voxels = labels.size
    for name, target in fractions.items():
        target = float(target)
        if target == 0:
            continue
        r = (radius[name] if isinstance(radius, Mapping) else radius) / size[0]
        if r < 0.5:
            raise InvalidInputError(f"radius of {name} is below half a voxel ({r:.2f} voxels)")
        available = np.count_nonzero(free) / n_voxels
        cover = target / available
        if cover >= 1:
            raise InvalidInputError(f"no room left for {target:.3f} of {name}")
        expected = -math.log(1.0 - cover) * n_voxels / (4.0 / 3.0 * math.pi * r**3)
        count = max(8, int(1.5 * expected + 10 * math.sqrt(expected) + 8))
        order = _first_cover(shape, r, count, rng, periodic)
        candidates = np.sort(order[free])
        need = int(round(target * n_voxels))
        if need > candidates.size or candidates[need - 1] >= count:
            raise InvalidInputError(f"could not place {target:.3f} of {name}: spheres too large for the box")
        cut = candidates[need - 1]
        claim = free & (order <= cut)
        labels[claim] = table[name]
        free &= ~claim
    return Microstructure(labels, size, table)
