"""The through-thickness profile of a volume, as the cell model takes it.

The volume is cut into ``slabs`` along its thickness axis (separator side first).
Each slab gets its CAM and SE fractions, its CAM|SE interface area per volume
(voxel faces × 2/3, as the morphology) and its local conductivity factors. The local
conductivity of a slab comes from the whole volume's solve: the plane-mean
potential drops across the slab by ΔP_k = I R_k, so ``σ_k = L_k / (A R_k)``. The slab
resistances add up to the volume's exactly, so a uniform volume keeps its σ_eff and
a graded one gets its profile.
"""

from __future__ import annotations

import numpy as np

from microsim.errors import InvalidInputError
from microsim.microstructure import Microstructure
from microsim.morphology import ISOTROPIC_AREA_FACTOR, pair_area_per_slice
from microsim.transport.effective import TransportResult


def slab_bounds(n: int, slabs: int) -> np.ndarray:
    """First slice of each of ``slabs`` slabs along an axis of ``n`` slices, and ``n``.

    >>> slab_bounds(16, 4).tolist()
    [0, 4, 8, 12, 16]
    """
    if not (isinstance(slabs, (int, np.integer)) and slabs >= 1):
        raise InvalidInputError(f"the profile needs an integer number of slabs >= 1, got {slabs!r}")
    if n < 4 * slabs:
        raise InvalidInputError(f"{slabs} slabs need at least {4 * slabs} slices along the thickness, the volume has {n}")
    return np.round(np.linspace(0, n, slabs + 1)).astype(int)


def slab_conductivity_factors(result: TransportResult, micro: Microstructure, bounds: np.ndarray) -> np.ndarray:
    """σ_k / σ_bulk of each slab along the result's axis, from a solve with fields
    (0 everywhere when the phase does not percolate; ``inf`` for a slab with no drop)."""
    if not result.percolating:
        return np.zeros(len(bounds) - 1)
    if result.fields is None:
        raise InvalidInputError("the slab profile needs the solve's fields (return_fields=True)")
    axis = result.axis
    others = tuple(a for a in range(3) if a != axis)
    phi, keep = result.fields.potential, result.fields.connected
    counts = keep.sum(axis=others)
    plane = phi.sum(axis=others) / np.maximum(counts, 1)
    # potential at each slab face: the Dirichlet values at the box faces, the mean of
    # the two planes next to an inner face
    faces = np.array([1.0] + [0.5 * (plane[s - 1] + plane[s]) for s in bounds[1:-1]] + [0.0])
    drops = -np.diff(faces)
    h = micro.voxel_size
    area = float(np.prod([micro.shape[a] * h[a] for a in others]))
    conductance = result.sigma_eff * area / (micro.shape[axis] * h[axis])  # the volume's, S (1 V across it)
    resistance = drops / conductance  # Ω for the slab, sum = the volume's
    lengths = np.diff(bounds) * h[axis]
    with np.errstate(divide="ignore"):
        sigma = np.where(drops > 0, lengths / (area * resistance), np.inf)
    return sigma / result.sigma_bulk


def slab_fractions_and_area(micro: Microstructure, bounds: np.ndarray, *, cam: str, se: str,
                            axis: int = 0) -> dict[str, np.ndarray]:
    """Per slab along ``axis``: CAM and SE fractions, CAM|SE area per volume [1/m]."""
    labels = micro.labels
    a, b = micro.label_of(cam), micro.label_of(se)
    per_slice = pair_area_per_slice(labels, a, b, axis=axis, spacing=micro.voxel_size)
    others = tuple(k for k in range(3) if k != axis)
    cam_count = (labels == a).sum(axis=others)
    se_count = (labels == b).sum(axis=others)
    cross = labels.shape[others[0]] * labels.shape[others[1]]
    voxel_volume = float(np.prod(micro.voxel_size))
    out: dict[str, list] = {"eps_CAM": [], "eps_SE": [], "area_per_volume": []}
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        voxels = (hi - lo) * cross
        out["eps_CAM"].append(cam_count[lo:hi].sum() / voxels)
        out["eps_SE"].append(se_count[lo:hi].sum() / voxels)
        out["area_per_volume"].append(ISOTROPIC_AREA_FACTOR * per_slice[lo:hi].sum() / (voxels * voxel_volume))
    return {k: np.array(v, dtype=float) for k, v in out.items()}


def thickness_profile(micro: Microstructure, ionic: TransportResult, electronic: TransportResult, *,
                      slabs: int, cam: str, se: str) -> dict:
    """The JSON-ready profile of ``micro`` along the solves' axis (the report's ``profile``).

    ``ionic`` is the SE alone and ``electronic`` the CAM alone, both solved with fields
    along the thickness axis. Keys: ``axis``, ``cam``, ``se``, ``slab_bounds`` (voxel
    indices), ``eps_CAM``, ``eps_SE``, ``area_per_volume_per_m``, ``sigma_factor_SE``
    and ``kappa_factor_CAM`` (σ_k/σ_bulk of each slab; ``null`` for a slab with no
    potential drop).
    """
    if ionic.axis != electronic.axis:
        raise InvalidInputError("the profile needs the SE and CAM solved along the same axis")
    bounds = slab_bounds(micro.shape[ionic.axis], slabs)
    local = slab_fractions_and_area(micro, bounds, cam=cam, se=se, axis=ionic.axis)

    def listed(values: np.ndarray) -> list:
        return [None if not np.isfinite(v) else float(v) for v in values]

    return {
        "axis": ionic.axis,
        "cam": cam,
        "se": se,
        "slab_bounds": bounds.tolist(),
        "eps_CAM": local["eps_CAM"].tolist(),
        "eps_SE": local["eps_SE"].tolist(),
        "area_per_volume_per_m": local["area_per_volume"].tolist(),
        "sigma_factor_SE": listed(slab_conductivity_factors(ionic, micro, bounds)),
        "kappa_factor_CAM": listed(slab_conductivity_factors(electronic, micro, bounds)),
    }
