"""The one finite-volume assembly behind every transport problem in microsim.

Steady conduction  div(sigma grad phi) = 0  on a voxel grid, 7-point stencil. Two
face-neighbours i, j along axis a (face area A_a, spacing h_a) are joined by

    G_ij = A_a / (h_a / (2 sigma_i) + h_a / (2 sigma_j) + R_ij)        [S]

with R_ij [Ohm m^2] an optional interface resistance: a grain boundary (same phase,
different grain ids) or a named phase pair. sigma = 0 blocks. A voxel on the inlet
(outlet) face of the transport axis is joined to phi = 1 (0) at the face, half a voxel
away: G_b = 2 sigma A_t / h_t. Side faces carry no flux, or are periodic on request.

Ionic, electronic, grain-boundary and multi-phase problems differ only in the
label -> conductivity map and the resistances handed in here; there is no second
stencil anywhere in the package.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp
from scipy import ndimage
from scipy.sparse import csgraph

from microsim.errors import InvalidInputError
from microsim.microstructure import Microstructure

def _axis_slices(axis: int, lo: int | None, hi: int | None) -> tuple[slice, ...]:
    index = [slice(None)] * 3
    index[axis] = slice(lo, hi)
    return tuple(index)


def check_conductivities(micro: Microstructure, conductivities) -> dict[str, float]:
    """Normalise a conductivity specification to ``{phase: sigma [S/m]}``.

    Accepts a phase name (that phase alone at sigma = 1 S/m) or a mapping
    name -> sigma; every name must be a phase of ``micro`` and every sigma finite and
    >= 0. At least one listed phase must have sigma > 0.
    """
    spec = {conductivities: 1.0} if isinstance(conductivities, str) else conductivities
    if not isinstance(spec, Mapping) or not spec:
        raise InvalidInputError(
            f"conductivities must be a phase name or a mapping phase -> sigma [S/m], got {conductivities!r}"
        )
    table: dict[str, float] = {}
    for name, value in spec.items():
        micro.label_of(name)
        table[name] = non_negative(value, f"conductivity of {name!r}", "S/m")
    if not any(v > 0 for v in table.values()):
        raise InvalidInputError(f"no phase conducts: every conductivity in {table} is 0")
    return table


def non_negative(value, what: str, unit: str) -> float:
    """``value`` as a finite float >= 0, or InvalidInputError naming ``what`` and its unit."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{what} must be a number [{unit}], got {value!r}") from None
    if not np.isfinite(number) or number < 0:
        raise InvalidInputError(f"{what} must be finite and >= 0 {unit}, got {value!r}")
    return number


@dataclasses.dataclass(frozen=True, eq=False)
class ConductanceNetwork:
    """Voxel conductivities, interface resistances and connected components of a volume.

    Built once by :func:`build_network` and shared by the solves along every axis.

    Attributes
    ----------
    conductivity : (n_labels,) float64 ndarray [S/m]
        Conductivity of each label (0 = blocking); a voxel's is ``conductivity[labels]``,
        looked up where needed rather than stored per voxel (8 bytes a voxel saved).
    voxel_size : 3 floats [m]
    labels, grains : (n0, n1, n2) int ndarrays (grains may be None)
    grain_boundary : dict label -> R [Ohm m^2]
        Resistance of a face between different grains of that phase.
    pair_resistance : dict (label, label) -> R [Ohm m^2]
        Resistance of a face between the two phases (both orders stored).
    periodic : bool
        Side faces (those normal to the axes other than the transport axis) wrap.
    components : (n0, n1, n2) int32 ndarray
        6-connected components of the conducting voxels (0 = blocking), before
        periodic merging.
    electrode_labels : (labels or None, labels or None)
        Labels that touch the inlet and the outlet face (None: every conducting
        label). An electrode problem connects the electrolyte to the separator face
        and the active material to the current collector, and nothing else.
    face_resistance : dict axis -> (n0, n1, n2) float ndarray [Ohm m^2], optional
        Extra resistance of each face between a voxel and its +1 neighbour along the
        axis (the last slab holds the periodic faces), e.g. linearised kinetics
        that vary from face to face.
    unwrapped_axes : tuple of int
        Axes never wrapped here even when ``periodic``: the slab axis of one MPI rank's
        part of a distributed volume, whose periodic neighbours arrive as ghost planes.
    """

    conductivity: np.ndarray
    voxel_size: tuple[float, float, float]
    labels: np.ndarray
    grains: np.ndarray | None
    grain_boundary: Mapping[int, float]
    pair_resistance: Mapping[tuple[int, int], float]
    periodic: bool
    components: np.ndarray
    n_components: int
    electrode_labels: tuple = (None, None)
    face_resistance: Mapping[int, np.ndarray] | None = None
    unwrapped_axes: tuple[int, ...] = ()

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.labels.shape  # type: ignore[return-value]

    @property
    def conducting_voxels(self) -> int:
        """Number of voxels with sigma > 0."""
        return int(np.count_nonzero(self.components))

    def face_area(self, axis: int) -> float:
        """Area [m^2] of a voxel face normal to ``axis``."""
        h = self.voxel_size
        return h[(axis + 1) % 3] * h[(axis + 2) % 3]

    # -- connectivity ------------------------------------------------------------
    def spanning_mask(self, axis: int) -> np.ndarray:
        """Conducting voxels connected to both faces normal to ``axis``.

        With ``periodic`` the components are merged across the side faces first.
        """
        comp = self.components
        root = np.arange(self.n_components + 1, dtype=np.int32)
        if self.periodic:
            edges = []
            for side in range(3):
                if side == axis or comp.shape[side] < 2:
                    continue
                first = comp[_axis_slices(side, 0, 1)].ravel()
                last = comp[_axis_slices(side, -1, None)].ravel()
                both = (first > 0) & (last > 0)
                edges.append(np.stack([first[both], last[both]]))
            if edges:
                pairs = np.concatenate(edges, axis=1)
                graph = sp.coo_matrix(
                    (np.ones(pairs.shape[1], np.int8), (pairs[0], pairs[1])),
                    shape=(self.n_components + 1,) * 2,
                )
                _, root = csgraph.connected_components(graph, directed=False)
                root = root.astype(np.int32)
        ends = []
        for side, allowed in zip((_axis_slices(axis, 0, 1), _axis_slices(axis, -1, None)), self.electrode_labels):
            touching = comp[side] if allowed is None else comp[side][np.isin(self.labels[side], list(allowed))]
            ends.append(np.unique(root[touching]))
        inlet, outlet = ends
        spanning = np.intersect1d(inlet, outlet)
        spanning = spanning[spanning != root[0]]
        if spanning.size == 0:
            return np.zeros(comp.shape, dtype=bool)
        hit = np.zeros(self.n_components + 1, dtype=bool)
        hit[spanning] = True
        return hit[root][comp]

    # -- faces -------------------------------------------------------------------
    def face_conductance(self, axis: int, first: tuple, second: tuple, pick: np.ndarray) -> np.ndarray:
        """Conductance [S] of the faces between voxels ``first[pick]`` and ``second[pick]``.

        ``first`` and ``second`` index the volume (slices or arrays) so that the two
        selections are face-neighbours along ``axis``; ``pick`` is a boolean mask
        over those selections.
        """
        h = self.voxel_size[axis]
        l1 = self.labels[first][pick]
        l2 = self.labels[second][pick]
        half = np.full(self.conductivity.shape, np.inf)  # per label; inf for blocking labels
        np.divide(h, 2.0 * self.conductivity, out=half, where=self.conductivity > 0)
        resistance = half[l1] + half[l2]
        if self.grain_boundary and self.grains is not None:
            g1 = self.grains[first][pick]
            g2 = self.grains[second][pick]
            boundary = (l1 == l2) & (g1 != g2)
            for label, r in self.grain_boundary.items():
                resistance += np.where(boundary & (l1 == label), r, 0.0)
        if self.pair_resistance:
            for (a, b), r in self.pair_resistance.items():
                resistance += np.where((l1 == a) & (l2 == b), r, 0.0)
        if self.face_resistance and axis in self.face_resistance:
            resistance += self.face_resistance[axis][first][pick]
        return self.face_area(axis) / resistance

    def boundary_conductance(self, axis: int, side: int) -> tuple[np.ndarray, np.ndarray]:
        """Voxel mask and conductance [S] to the Dirichlet face ``side`` (0 inlet, -1 outlet)."""
        index = _axis_slices(axis, 0, 1) if side == 0 else _axis_slices(axis, -1, None)
        g = 2.0 * self.conductivity[self.labels[index]] * self.face_area(axis) / self.voxel_size[axis]
        allowed = self.electrode_labels[0 if side == 0 else 1]
        if allowed is not None:
            g = np.where(np.isin(self.labels[index], list(allowed)), g, 0.0)
        return index, g

    # -- the system ----------------------------------------------------------------
    def face_axes(self, axis: int) -> tuple[list[int], list[int]]:
        """For transport along ``axis``: the axes with faces inside the box, and those wrapped.

        Side axes wrap when ``periodic`` (and have at least 3 voxels, so that the
        wrapped neighbour is a new one); the transport axis never does.
        """
        inside = [a for a in range(3) if self.shape[a] > 1]
        wrapped = [
            a for a in range(3)
            if self.periodic and a != axis and a not in self.unwrapped_axes and self.shape[a] > 2
        ]
        return inside, wrapped

    @staticmethod
    def face_selection(a: int, *, wrap: bool = False) -> tuple[tuple, tuple]:
        """Selections ``(first, second)`` of the face-neighbour voxels along ``a``.

        Inside the box ``second`` is ``first`` shifted by +1 along ``a``; with ``wrap``
        they are the last and the first slab (the periodic faces).
        """
        if wrap:
            return _axis_slices(a, -1, None), _axis_slices(a, 0, 1)
        return _axis_slices(a, 0, -1), _axis_slices(a, 1, None)

    def _faces(self, a: int, keep: np.ndarray, index: np.ndarray, *, wrap: bool = False):
        """Rows of the two voxels and conductance [S] of every conducting face along ``a``
        (inside the box the first row is always the smaller)."""
        first, second = self.face_selection(a, wrap=wrap)
        pick = keep[first] & keep[second]
        return index[first][pick], index[second][pick], self.face_conductance(a, first, second, pick)

    def assemble(self, axis: int, keep: np.ndarray) -> "LinearSystem":
        """Conductance matrix and right-hand side for phi = 1 / 0 on the faces of ``axis``.

        Only voxels in ``keep`` (normally :meth:`spanning_mask`) are unknowns; each
        must be conducting and connected to both faces, so the matrix is SPD.

        The CSR arrays are filled in place: a first pass counts each row's
        neighbours, a second computes each axis's face conductances once and writes
        them where they belong in column order, so the peak memory is the matrix plus
        the faces of one axis (no COO triplets, no dense slots).
        """
        n = int(np.count_nonzero(keep))
        index = np.full(self.shape, -1, dtype=np.int32)
        index[keep] = np.arange(n, dtype=np.int32)
        inside, wrapped = self.face_axes(axis)

        # pass 1: neighbours below (lower column) and above each row's diagonal
        below = np.zeros(n, dtype=np.int64)
        above = np.zeros(n, dtype=np.int64)
        for a in inside:
            first, second = self.face_selection(a)
            pick = keep[first] & keep[second]
            above += np.bincount(index[first][pick], minlength=n)
            below += np.bincount(index[second][pick], minlength=n)
        wraps = np.zeros(n, dtype=np.int64)
        for a in wrapped:
            first, second = self.face_selection(a, wrap=True)
            pick = keep[first] & keep[second]
            wraps += np.bincount(index[first][pick], minlength=n) + np.bincount(index[second][pick], minlength=n)

        nnz = n + int(below.sum() + above.sum() + wraps.sum())
        indptr = np.zeros(n + 1, dtype=np.int64 if nnz >= 2**31 else np.int32)
        np.cumsum(1 + below + above + wraps, out=indptr[1:])
        data = np.empty(nnz)
        indices = np.empty(nnz, dtype=np.int32)
        # In C order a row's columns increase as: the -axis0, -axis1, -axis2
        # neighbours, the diagonal, +axis2, +axis1, +axis0; periodic partners go
        # last and such rows are sorted afterwards. Lower neighbours fill upwards from
        # the row start, upper ones downwards from the diagonal's far side.
        lower_cursor = indptr[:-1].astype(np.int64)
        diagonal_at = lower_cursor + below
        upper_cursor = diagonal_at + above
        wrap_cursor = upper_cursor + 1
        del below, above, wraps
        diagonal = np.zeros(n)

        def put(at: np.ndarray, columns: np.ndarray, values: np.ndarray) -> None:
            data[at] = values
            indices[at] = columns

        for a in inside:
            low, high, g = self._faces(a, keep, index)
            put(lower_cursor[high], low, -g)
            lower_cursor[high] += 1
            put(upper_cursor[low], high, -g)
            upper_cursor[low] -= 1
            diagonal += np.bincount(low, g, n) + np.bincount(high, g, n)
        for a in wrapped:
            low, high, g = self._faces(a, keep, index, wrap=True)
            for rows, columns in ((low, high), (high, low)):
                put(wrap_cursor[rows], columns, -g)
                wrap_cursor[rows] += 1
            diagonal += np.bincount(low, g, n) + np.bincount(high, g, n)
        del lower_cursor, upper_cursor, wrap_cursor

        rhs = np.zeros(n)
        for side, potential in ((0, 1.0), (-1, 0.0)):
            face, g = self.boundary_conductance(axis, side)
            pick = keep[face]
            rows = index[face][pick]
            diagonal[rows] += g[pick]
            rhs[rows] += g[pick] * potential
        put(diagonal_at, np.arange(n, dtype=np.int32), diagonal)
        del diagonal, diagonal_at

        matrix = sp.csr_matrix((data, indices, indptr), shape=(n, n))
        if wrapped:
            matrix.has_sorted_indices = False
            matrix.sort_indices()
        return LinearSystem(matrix=matrix, rhs=rhs, keep=keep, axis=axis)


@dataclasses.dataclass(frozen=True, eq=False)
class LinearSystem:
    """``matrix @ phi = rhs`` for the voxels in ``keep``, numbered in C order."""

    matrix: sp.csr_matrix
    rhs: np.ndarray
    keep: np.ndarray
    axis: int


def build_network(
    micro: Microstructure,
    conductivities: Mapping[str, float],
    *,
    grain_boundary_resistance: Mapping[str, float] | None = None,
    interface_resistance: Mapping[tuple[str, str], float] | None = None,
    periodic: bool = False,
) -> ConductanceNetwork:
    """Voxel conductivities and connected components for ``micro``.

    Parameters
    ----------
    micro : Microstructure
    conductivities : mapping phase -> sigma [S/m]
        Phases not listed do not conduct (already validated by :func:`check_conductivities`).
    grain_boundary_resistance : mapping phase -> R [Ohm m^2], optional
        Resistance of every face between different grains of that phase (needs
        ``micro.grains``).
    interface_resistance : mapping (phase, phase) -> R [Ohm m^2], optional
        Resistance of every face between the two named phases.
    periodic : bool
        Wrap the side faces (those not normal to the transport axis).
    """
    max_label = max(micro.phases.values())
    table = np.zeros(max_label + 1)
    for name, sigma in conductivities.items():
        table[micro.label_of(name)] = sigma

    grain_boundary: dict[int, float] = {}
    for name, r in (grain_boundary_resistance or {}).items():
        grain_boundary[micro.label_of(name)] = non_negative(r, f"grain-boundary resistance of {name!r}", "Ohm m^2")
    if grain_boundary and micro.grains is None:
        raise InvalidInputError("a grain-boundary resistance needs grain ids; this microstructure has none")
    pairs: dict[tuple[int, int], float] = {}
    for key, r in (interface_resistance or {}).items():
        if not (isinstance(key, tuple) and len(key) == 2):
            raise InvalidInputError(f"interface resistances are keyed by a pair of phase names, got {key!r}")
        a, b = micro.label_of(key[0]), micro.label_of(key[1])
        if a == b:
            raise InvalidInputError(f"interface pair {key!r} names one phase twice; use grain_boundary_resistance")
        value = non_negative(r, f"interface resistance {key[0]}|{key[1]}", "Ohm m^2")
        pairs[(a, b)] = pairs[(b, a)] = value

    structure = ndimage.generate_binary_structure(3, 1)
    conducting = (table > 0)[micro.labels]  # a boolean lookup: no float64 copy of the volume
    components, n_components = ndimage.label(conducting, structure=structure, output=np.int32)
    del conducting
    return ConductanceNetwork(
        conductivity=table,
        voxel_size=micro.voxel_size,
        labels=micro.labels,
        grains=micro.grains,
        grain_boundary=grain_boundary,
        pair_resistance=pairs,
        periodic=bool(periodic),
        components=components,
        n_components=int(n_components),
    )
