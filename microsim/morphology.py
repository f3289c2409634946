"""Morphology of a voxel microstructure: areas, connectivity, sizes, grains.

Areas come from counted voxel faces with the stereological correction for
isotropic surfaces: a surface whose normals are uniformly distributed shows, per
axis, a projected area of half its true area, so the faces counted along the three
axes add up to 3/2 of it (Cauchy-Crofton). ``area = 2/3 · Σ_axis faces · face
area`` is unbiased for any size and curvature of isotropic features (a sphere of
radius 3 voxels is within 1.5 %, radius 10 within 0.6 %); surfaces aligned with the
voxel axes (layers, straight channels) are underestimated by 1/3 -- the raw face
area is reported too. Marching cubes on a smoothed indicator was the alternative;
it shrinks small particles (-25 % on a radius of 3 voxels with a 1-voxel Gaussian),
which is why it is not used.

Local thickness (Hildebrand & Rüegsegger, J. Microsc. 185 (1997) 67,
doi:10.1046/j.1365-2818.1997.1340694.x) is the diameter of the largest ball inside
the phase that contains the voxel; its volume-weighted distribution is the particle
(or pore) size distribution.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from microsim.balls import ball_hits
from microsim.microstructure import Microstructure

ISOTROPIC_AREA_FACTOR = 2.0 / 3.0
AREA_ESTIMATOR = "voxel faces x 2/3 (Cauchy-Crofton correction for isotropic surfaces)"


def face_areas(labels: np.ndarray, *, spacing=(1.0, 1.0, 1.0)) -> dict[tuple[int, int], float]:
    """Total area of the voxel faces between each pair of different labels.

    Parameters
    ----------
    labels : (n0, n1, n2) integer ndarray
    spacing : 3 floats
        Voxel edge lengths; the area of a face normal to axis ``a`` is the product of
        the two other edges.

    Returns
    -------
    dict (label_a, label_b) -> area, with ``label_a < label_b``
        Faces on the box boundary are not interfaces and are not counted.

    Examples
    --------
    >>> {k: float(v) for k, v in face_areas(np.array([[[0, 1], [1, 1]]])).items()}
    {(0, 1): 2.0}
    """
    labels = np.asarray(labels)
    n = int(labels.max()) + 1 if labels.size else 1
    h = np.asarray(spacing, dtype=float)
    total: dict[tuple[int, int], float] = {}
    for a in range(labels.ndim):
        lo = np.moveaxis(labels, a, 0)[:-1].astype(np.int64)
        hi = np.moveaxis(labels, a, 0)[1:].astype(np.int64)
        differ = lo != hi
        pair = np.minimum(lo[differ], hi[differ]) * n + np.maximum(lo[differ], hi[differ])
        counts = np.bincount(pair, minlength=n * n)
        face = float(np.prod(np.delete(h, a))) if labels.ndim == 3 else 1.0
        for code in np.flatnonzero(counts):
            key = (int(code // n), int(code % n))
            total[key] = total.get(key, 0.0) + counts[code] * face
    return total


def pair_area_per_slice(labels: np.ndarray, a: int, b: int, *, axis: int = 0,
                        spacing=(1.0, 1.0, 1.0)) -> np.ndarray:
    """Raw voxel-face area between labels ``a`` and ``b`` in each slice along ``axis``.

    Faces inside a slice count for it; a face between two slices counts half for each,
    so the slices add up to the total of :func:`face_areas` for the pair.

    Examples
    --------
    >>> labels = np.zeros((2, 2, 2), np.uint8); labels[:, :, 1] = 1
    >>> pair_area_per_slice(labels, 0, 1).tolist()
    [2.0, 2.0]
    """
    moved = np.moveaxis(np.asarray(labels), axis, 0)
    h = np.asarray(spacing, dtype=float)
    h = np.array([h[axis], *np.delete(h, axis)])
    per_slice = np.zeros(moved.shape[0])
    for k in (1, 2):
        lo = np.take(moved, np.arange(moved.shape[k] - 1), axis=k)
        hi = np.take(moved, np.arange(1, moved.shape[k]), axis=k)
        pair = ((lo == a) & (hi == b)) | ((lo == b) & (hi == a))
        per_slice += pair.sum(axis=(1, 2)) * (h[0] * h[3 - k])
    between = ((moved[:-1] == a) & (moved[1:] == b)) | ((moved[:-1] == b) & (moved[1:] == a))
    across = between.sum(axis=(1, 2)) * (h[1] * h[2]) / 2
    per_slice[:-1] += across
    per_slice[1:] += across
    return per_slice


def local_thickness(mask: np.ndarray, *, spacing=(1.0, 1.0, 1.0)) -> np.ndarray:
    """Local thickness [units of ``spacing``] of the True voxels (0 elsewhere).

    Each voxel gets the diameter of the largest ball that contains it and fits in the
    phase. Balls are centred on the ridge of the Euclidean distance map (its local
    maxima); the ball centred on voxel ``v`` holds the voxels within ``dt(v) + h(v)/2``,
    ``dt`` being the distance to the nearest voxel centre outside, and its diameter is
    counted as ``2·dt(v) - h(v)/2``: a slab of ``n`` voxels measures ``(n ± 1/2)·h`` (+
    for odd, - for even ``n``: the digital ridge is one voxel or two). On digitised
    spheres the lattice puts the nearest outside centre closer than the radius: the
    median thickness of a sphere of radius 10 (20) voxels comes out 8 % (3 %) low.

    Parameters
    ----------
    mask : (n0, n1, n2) bool ndarray
    spacing : 3 floats
        Voxel edge lengths per array axis.

    Returns
    -------
    (n0, n1, n2) float32 ndarray

    Notes
    -----
    ``h(v)`` is the voxel edge along the direction measured, the unit vector ``u``
    from ``v`` to its nearest outside voxel centre: ``h(v) = sqrt(Σ_i (u_i h_i)²)``, the
    width along ``u`` of the ellipsoid inscribed in a voxel. It is the edge ``h_i``
    itself when ``u`` is along axis ``i`` (a slab normal to axis ``i`` reads ``(n ±
    1/2)·h_i`` whatever the other edges) and ``h`` on cubic voxels, whatever ``u``. On
    anisotropic voxels the nearest outside voxel is found with the distance map's
    indices (about 30 more bytes per voxel while it runs).

    Examples
    --------
    >>> slab = np.zeros((9, 9, 9), bool); slab[2:7] = True
    >>> float(local_thickness(slab)[4, 4, 4])
    5.5
    >>> wide = np.zeros((9, 20, 20), bool); wide[2:7] = True  # 5 voxels of 2 across
    >>> float(local_thickness(wide, spacing=(2, 1, 1))[4, 10, 10])
    11.0
    """
    mask = np.asarray(mask, dtype=bool)
    h = np.asarray(spacing, dtype=float)
    out = np.zeros(mask.shape, dtype=np.float32)
    if not mask.any():
        return out
    # pad with background so the box faces do not count as inside
    padded = np.pad(mask, 1)
    if np.all(h == h[0]):
        dt = ndimage.distance_transform_edt(padded, sampling=h)[1:-1, 1:-1, 1:-1]
        edge = np.broadcast_to(h[0], mask.shape)  # the old rule, h/2, unchanged on cubic voxels
    else:
        dt, edge = _nearest_outside(padded, h)
    dt = np.where(mask, dt, 0).astype(np.float32)
    out[mask] = 2 * dt[mask] - edge[mask] / 2
    ridge = mask & (dt >= ndimage.maximum_filter(dt, size=3)) & (dt > h.min())
    centres = np.argwhere(ridge) + 0.5
    reach = dt[ridge].astype(float) + edge[ridge] / 2
    diameter = (2 * dt[ridge] - edge[ridge] / 2).astype(np.float32)
    flat_out = out.ravel()
    for flat, ball, _ in ball_hits(mask.shape, centres, reach, spacing=h):
        np.maximum.at(flat_out, flat, diameter[ball])
    out[~mask] = 0
    return out


def _nearest_outside(padded: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance to the nearest outside voxel centre and the voxel edge along it.

    ``padded`` is the mask with one background voxel around it; both results have the
    shape of the mask (0 outside it). The edge along the unit vector ``u`` to the
    nearest outside centre is ``sqrt(Σ_i (u_i h_i)²)``. Where several outside centres
    are nearest (a slab meeting the box face), the one with the longest edge along it
    is taken, the one that bounds the ball most: the metric of the feature transform
    is shortened by 1e-6 relative along the long edges.
    """
    tie_break = h * np.sqrt(1 - 1e-6 * (h / h.max()) ** 2)
    nearest = ndimage.distance_transform_edt(padded, sampling=tie_break, return_distances=False,
                                             return_indices=True)
    inner = (slice(1, -1),) * 3
    length2 = np.zeros(padded[inner].shape)
    edge2 = np.zeros(padded[inner].shape)
    for i in range(3):
        position = np.arange(1, padded.shape[i] - 1).reshape([-1 if j == i else 1 for j in range(3)])
        step = (nearest[i][inner] - position) * h[i]  # physical offset along axis i
        length2 += step**2
        edge2 += (step * h[i]) ** 2
    del nearest
    distance = np.sqrt(length2)  # > 0 inside: a True voxel is never its own nearest outside
    edge = np.sqrt(np.divide(edge2, length2, out=np.zeros_like(edge2), where=length2 > 0))
    return distance, edge.astype(np.float32)


def _cluster_fractions(mask: np.ndarray) -> tuple[list[float], list[float], float]:
    """Per axis: share of the True voxels touching both / either face; share touching none."""
    count = np.count_nonzero(mask)
    if count == 0:
        return [0.0] * 3, [0.0] * 3, 0.0
    clusters, n = ndimage.label(mask, structure=ndimage.generate_binary_structure(3, 1))
    sizes = np.bincount(clusters.ravel(), minlength=n + 1)
    sizes[0] = 0
    spanning, connected = [], []
    touching_any = np.zeros(n + 1, dtype=bool)
    for a in range(3):
        first = np.zeros(n + 1, dtype=bool)
        last = np.zeros(n + 1, dtype=bool)
        first[np.moveaxis(clusters, a, 0)[0]] = True
        last[np.moveaxis(clusters, a, 0)[-1]] = True
        first[0] = last[0] = False
        spanning.append(float(sizes[first & last].sum() / count))
        connected.append(float(sizes[first | last].sum() / count))
        touching_any |= first | last
    return spanning, connected, float(sizes[~touching_any].sum() / count)


@dataclass(frozen=True)
class SizeDistribution:
    """Volume-weighted local-thickness statistics of a phase [m]."""

    mean: float
    d10: float
    d50: float
    d90: float

    def to_dict(self) -> dict[str, float]:
        return {"mean_m": self.mean, "d10_m": self.d10, "d50_m": self.d50, "d90_m": self.d90}


@dataclass(frozen=True)
class Morphology:
    """Morphology of a microstructure. Areas per volume are per volume of the whole box.

    Attributes
    ----------
    volume_fractions : phase -> fraction
    surface_area_m2 : phase -> area [m^2] (isotropic face-count estimate)
    interface_area_m2 : "A|B" -> area [m^2] (isotropic face-count estimate)
    face_area_m2 : "A|B" -> raw counted face area [m^2]
    box_volume_m3 : float
    spanning_fraction : phase -> [axis0, axis1, axis2]
        Share of the phase in clusters touching both faces normal to the axis.
    connected_fraction : phase -> [axis0, axis1, axis2]
        Share in clusters touching at least one of those faces (spanning + dead ends).
    isolated_fraction : phase -> share in clusters touching no face of the box.
    thickness : phase -> SizeDistribution, or None when not computed
    grains : dict or None
        ``count``, ``mean_volume_m3`` and ``mean_diameter_m`` (equivalent sphere).
    """

    volume_fractions: dict[str, float]
    surface_area_m2: dict[str, float]
    interface_area_m2: dict[str, float]
    face_area_m2: dict[str, float]
    box_volume_m3: float
    spanning_fraction: dict[str, list[float]]
    connected_fraction: dict[str, list[float]]
    isolated_fraction: dict[str, float]
    thickness: dict[str, SizeDistribution] | None = None
    grains: dict[str, float] | None = None
    area_estimator: str = field(default=AREA_ESTIMATOR)

    def specific_surface_area(self, phase: str) -> float:
        """Surface area of ``phase`` per box volume [1/m]."""
        return self.surface_area_m2[phase] / self.box_volume_m3

    def interface_area_per_volume(self, a: str, b: str) -> float:
        """Interface area between ``a`` and ``b`` per box volume [1/m] (e.g. the cell model's ``a``)."""
        key = f"{a}|{b}" if f"{a}|{b}" in self.interface_area_m2 else f"{b}|{a}"
        return self.interface_area_m2.get(key, 0.0) / self.box_volume_m3

    def to_dict(self) -> dict:
        """JSON-ready record; sizes and areas in SI with the unit in the key."""
        v = self.box_volume_m3
        return {
            "volume_fractions": self.volume_fractions,
            "area_estimator": self.area_estimator,
            "specific_surface_area_per_m": {p: a / v for p, a in self.surface_area_m2.items()},
            "interface_area_per_volume_per_m": {k: a / v for k, a in self.interface_area_m2.items()},
            "face_area_per_volume_per_m": {k: a / v for k, a in self.face_area_m2.items()},
            "spanning_fraction": self.spanning_fraction,
            "connected_fraction": self.connected_fraction,
            "isolated_fraction": self.isolated_fraction,
            "local_thickness": None if self.thickness is None else {p: s.to_dict() for p, s in self.thickness.items()},
            "grains": self.grains,
        }


def _size_distribution(thickness: np.ndarray, mask: np.ndarray) -> SizeDistribution:
    values = thickness[mask]
    if values.size == 0:
        return SizeDistribution(0.0, 0.0, 0.0, 0.0)
    d10, d50, d90 = np.percentile(values, [10, 50, 90])
    return SizeDistribution(float(values.mean()), float(d10), float(d50), float(d90))


def grain_statistics(grains: np.ndarray, *, spacing=(1.0, 1.0, 1.0)) -> dict[str, float]:
    """Number of grains, mean grain volume and its equivalent-sphere diameter (SI in, SI out)."""
    counts = np.bincount(np.asarray(grains).ravel())[1:]
    counts = counts[counts > 0]
    if counts.size == 0:
        return {"count": 0, "mean_volume_m3": 0.0, "mean_diameter_m": 0.0}
    volume = float(counts.mean() * np.prod(spacing))
    return {"count": int(counts.size), "mean_volume_m3": volume, "mean_diameter_m": (6 * volume / math.pi) ** (1 / 3)}


def measure_morphology(micro: Microstructure, *, thickness: bool = True) -> Morphology:
    """Volume fractions, surface and interface areas, connectivity, sizes and grains.

    Parameters
    ----------
    micro : Microstructure
    thickness : bool
        Compute the local-thickness size distributions (the slowest part: one
        distance map and one ball painting per phase).

    Returns
    -------
    Morphology

    Examples
    --------
    >>> labels = np.zeros((4, 4, 4), np.uint8); labels[:, :, 2:] = 1
    >>> m = measure_morphology(Microstructure(labels, 1e-6))
    >>> float(m.face_area_m2["pore|CAM"]), m.spanning_fraction["CAM"]
    (1.6e-11, [1.0, 1.0, 0.0])
    """
    names = {label: name for name, label in micro.phases.items()}
    by_label = sorted(names)
    faces = face_areas(micro.labels, spacing=micro.voxel_size)
    face_named, interface = {}, {}
    for a, b in itertools.combinations(by_label, 2):
        key = f"{names[a]}|{names[b]}"
        face_named[key] = faces.get((a, b), 0.0)
        interface[key] = ISOTROPIC_AREA_FACTOR * face_named[key]
    surface = {names[p]: sum(interface[f"{names[min(p, q)]}|{names[max(p, q)]}"] for q in by_label if q != p)
               for p in by_label}

    spanning, connected, isolated, sizes = {}, {}, {}, {}
    for label in by_label:
        name = names[label]
        mask = micro.labels == label
        spanning[name], connected[name], isolated[name] = _cluster_fractions(mask)
        if thickness:
            sizes[name] = _size_distribution(local_thickness(mask, spacing=micro.voxel_size), mask)
    grains = None if micro.grains is None else grain_statistics(micro.grains, spacing=micro.voxel_size)
    return Morphology(
        volume_fractions=micro.volume_fractions(),
        surface_area_m2=surface,
        interface_area_m2=interface,
        face_area_m2=face_named,
        box_volume_m3=float(np.prod(micro.size_m)),
        spanning_fraction=spanning,
        connected_fraction=connected,
        isolated_fraction=isolated,
        thickness=sizes if thickness else None,
        grains=grains,
    )
