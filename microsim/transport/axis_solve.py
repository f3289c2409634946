"""What one axis solve leaves behind, whichever backend ran it: the fields, the face
currents, the dissipation, and the memory model that decides whether it fits.

Both backends (in-process in :mod:`microsim.transport.effective`, PETSc in
:mod:`microsim.transport.distributed`) build :class:`AxisSolve` records from these
pieces, and :func:`microsim.transport.solve_transport` turns them into results.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from microsim.errors import InvalidInputError, ResourceError
from microsim.resources import available_memory_bytes
from microsim.transport.network import ConductanceNetwork, LinearSystem

#: Peak memory model of one solve [bytes]: per voxel of the box (labels, components,
#: masks, index) and per unknown (matrix, float32 hierarchy, CG vectors); fitted with
#: ~10 % margin to the peaks of whole analyze commands in benchmarks/RESULTS.md
#: (memory block: 202 B per unknown over 25 B per voxel at 512^3, 225 at 256^3).
BYTES_PER_VOXEL = 25
BYTES_PER_UNKNOWN = 250


@dataclasses.dataclass(frozen=True, eq=False)
class TransportFields:
    """Fields of one solve, on the full voxel grid.

    Attributes
    ----------
    potential : (n0, n1, n2) float64 ndarray [V]
        Potential for 1 V across the box; 0 in voxels that carry no current
        (blocking, or not connected to both faces: see ``connected``).
    current_density : (n0, n1, n2, 3) float32 ndarray [A/m^2]
        Cell-centred current density (mean of the two face fluxes along each axis).
    connected : (n0, n1, n2) bool ndarray
        Voxels that were solved for (conducting and connected to both faces).
    """

    potential: np.ndarray
    current_density: np.ndarray
    connected: np.ndarray


def check_axes(axes) -> tuple[int, ...]:
    if isinstance(axes, str):
        if axes != "all":
            raise InvalidInputError(f"axis must be 0, 1, 2 or 'all', got {axes!r}")
        return (0, 1, 2)
    values = (axes,) if isinstance(axes, (int, np.integer)) else tuple(axes)
    if not values or any(isinstance(a, bool) or a not in (0, 1, 2) for a in values):
        raise InvalidInputError(f"axis must be 0, 1, 2 or 'all', got {axes!r}")
    return tuple(int(a) for a in values)


def check_memory(n_voxels: int, n_conducting: int) -> None:
    """Raise :class:`ResourceError` when a solve would not fit in the available memory."""
    need = n_voxels * BYTES_PER_VOXEL + n_conducting * BYTES_PER_UNKNOWN
    free = available_memory_bytes()
    if free is not None and need > free:
        raise ResourceError(
            f"a transport solve on {n_voxels} voxels ({n_conducting} conducting) needs about "
            f"{need / 2**30:.1f} GiB; "
            f"only {free / 2**30:.1f} GiB are available (crop or downsample the volume, or spread it over "
            "several machines with --backend petsc under mpiexec)"
        )


def linear_guess(system: LinearSystem) -> np.ndarray:
    """phi = 1 - (k + 1/2)/n along the transport axis: the exact answer for a uniform slab."""
    n = system.keep.shape[system.axis]
    shape = [1, 1, 1]
    shape[system.axis] = n
    profile = (1.0 - (np.arange(n) + 0.5) / n).reshape(shape)
    return np.broadcast_to(profile, system.keep.shape)[system.keep]


def _face_potential(keep: np.ndarray, x: np.ndarray, axis: int, side: int) -> np.ndarray:
    """Potential on the face ``side`` (0 or -1) of ``axis``, shaped as that face's slice of
    the volume (0 off ``keep``); ``x`` is numbered in C order over ``keep``. Works a plane
    of axis 0 at a time, so nothing of the volume's size is allocated."""
    shape = list(keep.shape)
    shape[axis] = 1
    values = np.zeros(shape, dtype=np.asarray(x).dtype)
    last = keep.shape[0] - 1
    start = 0
    for z in range(keep.shape[0]):
        plane = keep[z]
        count = int(np.count_nonzero(plane))
        if axis != 0 or z == (0 if side == 0 else last):
            phi = np.zeros(plane.shape, dtype=values.dtype)
            phi[plane] = x[start:start + count]  # C order inside the plane is x's order
            values[0 if axis == 0 else z] = phi if axis == 0 else np.take(phi, [side], axis=axis - 1)
        start += count
    return values


def plane_currents(network: ConductanceNetwork, keep: np.ndarray, x: np.ndarray, axis: int) -> np.ndarray:
    """Current [A] through each inner plane of voxel faces normal to ``axis`` (1 V
    across), in the precision of ``x``. At the solution every plane carries the
    outlet's current: a balance that no symmetric error can pass."""
    potential = np.zeros(keep.shape, dtype=np.asarray(x).dtype)
    potential[keep] = x
    first, second = network.face_selection(axis)
    pick = keep[first] & keep[second]
    g = network.face_conductance(axis, first, second, pick)
    flux = np.zeros(pick.shape, dtype=potential.dtype)
    flux[pick] = g * (potential[first][pick] - potential[second][pick])
    others = tuple(a for a in range(3) if a != axis)
    return flux.sum(axis=others)


def currents_and_fields(
    network: ConductanceNetwork, system: LinearSystem, x: np.ndarray, want_fields: bool
) -> tuple[float, float, TransportFields | None]:
    """Inlet/outlet currents [A] and, on request, the potential and current-density fields.

    Without fields only the two faces' potentials are looked up (no volume-sized array).
    """
    axis, keep = system.axis, system.keep
    face_in, g_in = network.boundary_conductance(axis, 0)
    face_out, g_out = network.boundary_conductance(axis, -1)
    if want_fields:
        potential = np.zeros(keep.shape)
        potential[keep] = x
        phi_in, phi_out = potential[face_in], potential[face_out]
    else:
        phi_in, phi_out = (_face_potential(keep, x, axis, side) for side in (0, -1))
    flux_in = np.where(keep[face_in], g_in * (1.0 - phi_in), 0.0)
    flux_out = np.where(keep[face_out], g_out * phi_out, 0.0)
    current_in, current_out = float(flux_in.sum()), float(flux_out.sum())
    if not want_fields:
        return current_in, current_out, None

    # the current density is kept in single precision (for ParaView: 12 of the 24 bytes a
    # voxel); each face flux is computed in double precision and rounded once. The
    # potential stays double: slab profiles of design studies take plane means of it
    density = np.zeros(keep.shape + (3,), np.float32)
    inside, wrapped = network.face_axes(axis)
    for a in range(3):
        area = network.face_area(a)
        component = density[..., a]
        pairs = [network.face_selection(a, wrap=wrap) for wrap, axes in ((False, inside), (True, wrapped)) if a in axes]
        for first, second in pairs:
            pick = keep[first] & keep[second]
            g = network.face_conductance(a, first, second, pick)
            half_flux = np.zeros(pick.shape, np.float32)
            half_flux[pick] = 0.5 * g * (potential[first][pick] - potential[second][pick]) / area
            component[first] += half_flux
            component[second] += half_flux
        if a == axis:
            component[face_in] += 0.5 * flux_in / area
            component[face_out] += 0.5 * flux_out / area
    return current_in, current_out, TransportFields(potential, density, keep.copy())


@dataclasses.dataclass(frozen=True, eq=False)
class AxisSolve:
    """What a backend hands back for one transport axis: the raw solve before the effective properties.

    ``current_in`` and ``current_out`` [A] are for 1 V across the box; ``power`` [W] is
    the dissipation of the solved potential (see :func:`dissipation`); ``unknowns`` is 0
    when nothing spans (then no solve ran). Times in seconds.
    """

    axis: int
    unknowns: int
    connected_fraction: float
    current_in: float = 0.0
    current_out: float = 0.0
    power: float = 0.0
    iterations: int = 0
    residual: float = 0.0
    converged: bool = True
    seconds: float = 0.0
    assembly_seconds: float = 0.0
    setup_seconds: float = 0.0
    solve_seconds: float = 0.0
    ranks: int = 1
    fields: TransportFields | None = None


def dissipation(x_a_x: float, b_x: float, b_sum: float) -> float:
    """Power [W] dissipated by a potential x (1 V across the box) in the conductance network.

    With the inlet at 1 V, b = G_in 1 and A = L + diag(G_in + G_out) (L the face
    Laplacian), the sum over faces of g (dphi)^2 is P(x) = x.Ax - 2 b.x + sum(b). At
    the solution P equals the current I, and for any other x (Dirichlet's principle)

        P(x) = I + (x - x*)^T A (x - x*),

    an upper bound whose error is quadratic in the solver's error: with CG at a relative
    residual of 1e-6, sigma_eff = P L / A is exact to ~5e-9 where the face current
    (linear in the error) is off by 2-4e-5 (96^3, tau = 11). So backends with
    different preconditioners report the same sigma_eff to ~1e-8 at the default tolerance.
    """
    return x_a_x - 2.0 * b_x + b_sum
