"""Effective conductivity, tortuosity factor and Bruggeman exponent of voxel volumes.

Notes
-----
For the chosen axis t the potential is 1 V on the inlet face and 0 V on the outlet
face; the total current I through the outlet gives

    sigma_eff = I L_t / (A_t dphi)                 (L_t box length, A_t cross-section)
    tau       = eps sigma_0 / sigma_eff           (TauFactor's tortuosity factor)
    beta      = ln(sigma_eff / sigma_0) / ln(eps) (so sigma_eff = eps^beta sigma_0)
    N_M       = sigma_0 / sigma_eff               (MacMullin number)

with eps the volume fraction of the conducting phase(s) in the whole box. When
several phases conduct at once, eps is their summed fraction and sigma_0 their
volume-weighted mean conductivity, so that eps sigma_0 is the parallel (Wiener)
upper bound and tau >= 1 still holds.

References
----------
Cooper et al., "TauFactor: An open-source application for calculating tortuosity
factors from tomographic data", SoftwareX 5 (2016) 203, doi:10.1016/j.softx.2016.09.002
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
import warnings
from collections.abc import Mapping

import numpy as np

from microsim.errors import InvalidInputError, PercolationWarning
from microsim.microstructure import Microstructure
from microsim.transport.axis_solve import (
    AxisSolve,
    TransportFields,
    check_axes,
    check_memory,
    currents_and_fields,
    dissipation,
    linear_guess,
    plane_currents,
)
from microsim.transport.backends import get_solver
from microsim.transport.network import build_network, check_conductivities
from microsim.transport.solvers import (
    BALANCE_TOLERANCE,
    SolveInfo,
    relative_residual,
    require_converged,
    solve_to_balance,
)

log = logging.getLogger(__name__)

@dataclasses.dataclass(frozen=True, eq=False)
class TransportResult:
    """Effective transport of one phase (or set of phases) along one axis.

    Attributes
    ----------
    phase : str
        Conducting phase, or phases joined by ``+`` when several conduct at once.
    axis : int
        Transport direction (array axis 0, 1 or 2).
    volume_fraction : float
        eps, fraction of the box occupied by the conducting phase(s).
    percolating : bool
        Whether a connected path joins the inlet and outlet faces.
    connected_fraction : float
        Fraction of the phase's voxels connected to both faces (0 when not percolating).
    sigma_bulk : float [S/m]
        sigma_0, bulk conductivity (volume-weighted mean over several phases).
    sigma_eff : float [S/m]
        Effective conductivity of the box along ``axis`` (0 when not percolating).
    tortuosity_factor : float
        tau = eps sigma_0 / sigma_eff (inf when not percolating).
    bruggeman_exponent : float or None
        beta = ln(sigma_eff/sigma_0) / ln(eps); inf when not percolating, None when
        eps = 1 (undefined).
    macmullin_number : float
        N_M = sigma_0 / sigma_eff (inf when not percolating).
    current_in, current_out : float [A]
        Current through the inlet and outlet faces for 1 V across the box.
    current_balance_error : float
        |I_in - I_out| / I_out.
    iterations : int
    residual : float
        Final relative residual ||b - A x|| / ||b||.
    converged : bool
    unknowns : int
        Voxels solved for.
    seconds, assembly_seconds, setup_seconds, solve_seconds : float [s]
        Wall time: total, and per stage.
    solver : str
    ranks : int
        MPI ranks that shared the solve (1 for the in-process backends).
    fields : TransportFields or None
        Potential and current density, when asked for.
    """

    phase: str
    axis: int
    volume_fraction: float
    percolating: bool
    connected_fraction: float
    sigma_bulk: float
    sigma_eff: float
    tortuosity_factor: float
    bruggeman_exponent: float | None
    macmullin_number: float
    current_in: float
    current_out: float
    current_balance_error: float
    iterations: int
    residual: float
    converged: bool
    unknowns: int
    seconds: float
    assembly_seconds: float
    setup_seconds: float
    solve_seconds: float
    solver: str
    ranks: int = 1
    fields: TransportFields | None = None

    def to_dict(self) -> dict:
        """JSON-ready record (the ``transport`` entries of the report); inf becomes None."""

        def finite(value):
            return None if value is None or not math.isfinite(value) else float(value)

        return {
            "phase": self.phase,
            "axis": self.axis,
            "volume_fraction": self.volume_fraction,
            "percolating": self.percolating,
            "connected_fraction": self.connected_fraction,
            "sigma_bulk_S_per_m": self.sigma_bulk,
            "sigma_eff_S_per_m": self.sigma_eff,
            "tortuosity_factor": finite(self.tortuosity_factor),
            "bruggeman_exponent": finite(self.bruggeman_exponent),
            "macmullin_number": finite(self.macmullin_number),
            "current_in_A": self.current_in,
            "current_out_A": self.current_out,
            "current_balance_error": self.current_balance_error,
            "iterations": self.iterations,
            "residual": self.residual,
            "converged": self.converged,
            "unknowns": self.unknowns,
            "seconds": self.seconds,
            "assembly_seconds": self.assembly_seconds,
            "setup_seconds": self.setup_seconds,
            "solve_seconds": self.solve_seconds,
            "solver": self.solver,
            "ranks": self.ranks,
        }


def check_fits(micro: Microstructure, conductivities) -> None:
    """:func:`check_memory` for an in-process solve of ``conductivities`` on ``micro`` (the
    conducting voxels taken from the volume fractions), before anything is allocated."""
    table = check_conductivities(micro, conductivities)
    fractions = micro.volume_fractions()
    eps = sum(fractions[name] for name, sigma in table.items() if sigma > 0)
    check_memory(micro.labels.size, int(round(eps * micro.labels.size)))


def solve_transport(
    micro: Microstructure,
    conductivities,
    *,
    axes="all",
    periodic: bool = False,
    grain_boundary_resistance: Mapping[str, float] | None = None,
    interface_resistance: Mapping[tuple[str, str], float] | None = None,
    solver=None,
    rtol: float = 1e-6,
    return_fields: bool = False,
) -> tuple[TransportResult, ...]:
    """Solve steady conduction along one or more axes and return effective properties.

    Parameters
    ----------
    micro : Microstructure
    conductivities : str or mapping phase -> sigma [S/m]
        A phase name (that phase alone, sigma_0 = 1 S/m) or the conductivity of each
        conducting phase; several phases may conduct at once. Unlisted phases block.
    axes : int, sequence of int, or "all"
        Transport direction(s). The conductivity map and connected components are
        computed once and shared by all axes.
    periodic : bool
        Periodic side faces instead of zero flux.
    grain_boundary_resistance : mapping phase -> R [Ohm m^2], optional
        Resistance of faces between different grains of a phase (needs ``micro.grains``).
    interface_resistance : mapping (phase, phase) -> R [Ohm m^2], optional
        Resistance of faces between two named phases.
    solver : None, "pyamg", "direct", "petsc", a :class:`~microsim.transport.distributed.PETScSolver` or a callable
        Linear solver (see :mod:`microsim.transport.solvers`); default AMG-CG (pyamg).
        The PETSc backend solves on every rank of ``MPI.COMM_WORLD``, each rank
        assembling its own slab of axis 0 (see :mod:`microsim.transport.distributed`);
        call it on every rank with the same arguments.
    rtol : float
        Relative residual tolerance of iterative solvers. The default 1e-6 gave
        sigma_eff within 5e-9 of the converged value on a tau = 11 volume (96^3, 38 %
        spheres; sigma_eff is the dissipation, whose error is quadratic in the
        solver's); 1e-5 gives ~7e-7 and 1e-4 ~6e-5.
    return_fields : bool
        Attach potential and current-density fields to each result.

    Returns
    -------
    tuple of TransportResult, one per axis in the order given.

    Raises
    ------
    InvalidInputError
        Unknown phase, negative or non-finite conductivity or resistance, bad axis.
    ConvergenceError
        The iterative solver missed ``rtol``.
    ResourceError
        The volume would not fit in the available memory.

    Warns
    -----
    PercolationWarning
        A phase has no path joining the two faces of an axis (sigma_eff = 0, tau = inf).

    Examples
    --------
    >>> import numpy as np
    >>> from microsim import Microstructure
    >>> m = Microstructure(np.full((8, 8, 8), 2, np.uint8), 1e-6)
    >>> r, = solve_transport(m, {"LLZO": 0.08}, axes=0)
    >>> round(r.tortuosity_factor, 6)
    1.0
    """
    table = check_conductivities(micro, conductivities)
    axis_list = check_axes(axes)
    if not (isinstance(rtol, (int, float)) and 0 < rtol < 1):
        raise InvalidInputError(f"rtol must be in (0, 1), got {rtol!r}")
    solve = get_solver(solver)
    solver_name = getattr(solve, "name", type(solve).__name__)
    conducting = [name for name in micro.phases if table.get(name, 0.0) > 0]
    fractions = micro.volume_fractions()
    eps = sum(fractions[name] for name in conducting)
    sigma_0 = sum(fractions[name] * table[name] for name in conducting) / eps if eps > 0 else max(table.values())
    phase_name = "+".join(conducting)
    problem = dict(
        grain_boundary_resistance=grain_boundary_resistance,
        interface_resistance=interface_resistance,
        periodic=periodic,
    )
    if getattr(solve, "distributed", False):
        axis_solves = solve.solve_axes(micro, table, axis_list, rtol=rtol, return_fields=return_fields,
                                 what=phase_name, **problem)
    else:
        check_fits(micro, table)
        axis_solves = _solve_axes(micro, table, axis_list, solve, rtol=rtol, return_fields=return_fields,
                                  what=phase_name, **problem)
    results = []
    for record in axis_solves:
        if record.unknowns == 0:
            warnings.warn(
                f"phase {phase_name} does not percolate along axis {record.axis}: sigma_eff = 0, tau = inf",
                PercolationWarning,
                stacklevel=2,
            )
        results.append(_result(micro, record, phase_name, eps, sigma_0, solver_name))
    return tuple(results)


def _result(micro: Microstructure, record: AxisSolve, phase: str, eps: float, sigma_0: float,
            solver: str) -> TransportResult:
    """The effective properties of one axis from its raw solve."""
    common = dict(
        phase=phase, axis=record.axis, volume_fraction=eps, sigma_bulk=sigma_0,
        iterations=record.iterations, residual=record.residual, converged=record.converged,
        unknowns=record.unknowns, seconds=record.seconds, assembly_seconds=record.assembly_seconds,
        setup_seconds=record.setup_seconds, solve_seconds=record.solve_seconds, solver=solver,
        ranks=record.ranks, fields=record.fields,
    )
    if record.unknowns == 0:
        return TransportResult(
            percolating=False, connected_fraction=0.0, sigma_eff=0.0, tortuosity_factor=math.inf,
            bruggeman_exponent=math.inf if 0 < eps < 1 else None, macmullin_number=math.inf,
            current_in=0.0, current_out=0.0, current_balance_error=0.0, **common,
        )
    axis = record.axis
    length = micro.size_m[axis]
    area = micro.size_m[(axis + 1) % 3] * micro.size_m[(axis + 2) % 3]
    sigma_eff = record.power * length / area  # P = I V with V = 1 V
    return TransportResult(
        percolating=True, connected_fraction=record.connected_fraction, sigma_eff=sigma_eff,
        tortuosity_factor=eps * sigma_0 / sigma_eff,
        bruggeman_exponent=math.log(sigma_eff / sigma_0) / math.log(eps) if eps < 1 else None,
        macmullin_number=sigma_0 / sigma_eff, current_in=record.current_in, current_out=record.current_out,
        current_balance_error=abs(record.current_in - record.current_out) / abs(record.current_out), **common,
    )


def _solve_axes(micro: Microstructure, table: Mapping[str, float], axis_list, solve, *, rtol: float,
                return_fields: bool, what: str, **problem) -> list[AxisSolve]:
    """The in-process backend: one network, then assemble and solve each axis in turn."""
    start = time.perf_counter()
    network = build_network(micro, table, **problem)
    shared_seconds = time.perf_counter() - start
    log.info("conductance network of %s: %d voxels, %.2f s", what, micro.labels.size, shared_seconds)
    phase_voxels = network.conducting_voxels
    # resistive faces (grain boundaries, interfaces) can span 10^9 against the bulk: those
    # solves stop on their current balance, not on the residual
    resistive = any(any(v > 0 for v in dict(problem.get(key) or {}).values())
                    for key in ("grain_boundary_resistance", "interface_resistance"))
    records = []
    for axis in axis_list:
        t0 = time.perf_counter() - (shared_seconds if not records else 0.0)
        keep = network.spanning_mask(axis)
        unknowns = int(np.count_nonzero(keep))
        if unknowns == 0:
            fields = None
            if return_fields:
                fields = TransportFields(np.zeros(micro.shape), np.zeros(micro.shape + (3,), np.float32), keep)
            records.append(AxisSolve(axis, 0, 0.0, seconds=time.perf_counter() - t0, fields=fields))
            continue
        t1 = time.perf_counter()
        system = network.assemble(axis, keep)
        assembly = time.perf_counter() - t1
        log.info("axis %d: %d unknowns assembled in %.2f s", axis, unknowns, assembly)
        if resistive:
            info, power = _balanced_solve(network, system, solve, rtol=rtol, what=f"{what} along axis {axis}")
            current_in, current_out, fields = currents_and_fields(network, system, info.x, return_fields)
        else:
            info = solve(system.matrix, system.rhs, x0=linear_guess(system), rtol=rtol)
            require_converged(info, rtol, f"{what} along axis {axis}")
            current_in, current_out, fields = currents_and_fields(network, system, info.x, return_fields)
            power = dissipation(float(info.x @ (system.matrix @ info.x)), float(system.rhs @ info.x),
                                float(system.rhs.sum()))
        log.info(
            "axis %d: %d iterations, residual %.1e, setup %.2f s, solve %.2f s",
            axis, info.iterations, info.residual, info.setup_seconds, info.solve_seconds,
        )
        del system
        records.append(AxisSolve(
            axis, unknowns, unknowns / phase_voxels, current_in, current_out, power, info.iterations, info.residual,
            info.converged, time.perf_counter() - t0, assembly, info.setup_seconds, info.solve_seconds,
            fields=fields,
        ))
    return records


def _balanced_solve(network, system, solve, *, rtol: float, what: str) -> tuple[SolveInfo, float]:
    """A solve of a network with resistive faces that stops when the inlet, the outlet
    and every plane of faces between carry one current to :data:`BALANCE_TOLERANCE`, and
    the current has stopped moving
    (:func:`~microsim.transport.solvers.solve_to_balance`); the power is that current
    (1 V across), good to the same tolerance."""
    axis, keep = system.axis, system.keep
    dirichlet = np.zeros(keep.shape)
    for side in (0, -1):
        face, g = network.boundary_conductance(axis, side)
        dirichlet[face] += np.where(keep[face], g, 0.0)

    def check(x):
        current_in, current_out, _ = currents_and_fields(network, system, x, False)
        if not current_out > 0:
            return math.inf, current_out
        planes = plane_currents(network, keep, x, axis)
        worst = max(abs(current_in - current_out), float(np.max(np.abs(planes - current_out), initial=0.0)))
        return worst / current_out, current_out

    started = time.perf_counter()
    x, iterations, _, current = solve_to_balance(system.matrix, system.rhs, solve, check, x0=linear_guess(system),
                                                 rtol=rtol, tolerance=BALANCE_TOLERANCE, boundary=dirichlet[keep],
                                                 what=what)
    info = SolveInfo(x, iterations, relative_residual(system.matrix, x, system.rhs), True, 0.0,
                     time.perf_counter() - started)
    return info, current


def effective_conductivity(micro: Microstructure, conductivities, *, axis: int = 0, **options) -> TransportResult:
    """:func:`solve_transport` along one axis; returns its :class:`TransportResult`.

    Examples
    --------
    >>> import numpy as np
    >>> from microsim import Microstructure
    >>> labels = np.zeros((6, 6, 6), np.uint8); labels[:, :3, :] = 1
    >>> r = effective_conductivity(Microstructure(labels, 1e-6), "CAM", axis=0)
    >>> round(r.sigma_eff, 6)  # straight channels: eps * sigma_0
    0.5
    """
    (result,) = solve_transport(micro, conductivities, axes=check_axes(axis)[:1], **options)
    return result


def tortuosity_factor(micro: Microstructure, phase: str, *, axis: int = 0, **options) -> float:
    """Tortuosity factor tau = eps sigma_0 / sigma_eff of one phase along one axis (inf if blocked)."""
    return effective_conductivity(micro, phase, axis=axis, **options).tortuosity_factor


__all__ = [
    "TransportFields",
    "TransportResult",
    "effective_conductivity",
    "solve_transport",
    "tortuosity_factor",
]

