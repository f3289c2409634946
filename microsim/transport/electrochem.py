"""Microstructure-resolved cathode resistance: ions in the SE, electrons in the CAM,
charge transfer across every CAM|SE voxel face.

One unknown per voxel — φ_e on SE voxels, φ_s on CAM voxels — on the same
finite-volume network as every other transport problem (:mod:`.network`):

* SE|SE faces conduct with σ_SE, CAM|CAM faces with κ_CAM;
* a CAM|SE face is a series of the two half voxels and the interface,
  ``G = A / (h/2σ + R + h/2κ)`` with ``R = R_CT + R_SP`` (linearised Butler–Volmer
  with a uniform open-circuit potential, which drops out of the linear problem);
* the separator face (first face of the thickness axis) is at φ = 1 V for SE voxels
  only, the current-collector face (last) at 0 V for CAM voxels only; all other
  boundary faces carry no current.

``ASR = A·ΔV / I``, and the dissipation splits it exactly into ionic (SE faces and
SE half voxels), electronic (CAM) and interfacial (``R``) parts. With a current
density given, Butler–Volmer is solved at every interface face: Newton in the voxel
potentials at a fixed voltage — the Jacobian is the same network with each interface
face at its tangent conductance, SPD and solved by the same AMG-preconditioned CG —
inside a secant iteration on the voltage that meets the current.

References: Newman & Tobias, J. Electrochem. Soc. 109 (1962) 1183 (homogenised
porous electrode with linear kinetics); de Levie, Electrochim. Acta 8 (1963) 751;
Nguyen et al., npj Comput. Mater. 6 (2020) 123 (electrode tortuosity factor).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy import ndimage

from microsim.constants import FARADAY, GAS_CONSTANT
from microsim.errors import ConvergenceError, InvalidInputError
from microsim.microstructure import Microstructure
from microsim.transport.axis_solve import TransportFields, check_memory, currents_and_fields, linear_guess
from microsim.transport.backends import get_solver
from microsim.transport.effective import solve_transport
from microsim.transport.network import build_network, non_negative
from microsim.transport.solvers import (BALANCE_TOLERANCE, RTOL_FLOOR, AMGSolver, ReusedPreconditioner,
                                       require_converged, solve_to_balance)


@dataclass(frozen=True)
class AsrResult:
    """Area-specific resistance of a cathode volume [Ω·m²] and how it splits.

    Attributes
    ----------
    asr, asr_ionic, asr_electronic, asr_interface : float [Ohm m^2]
        ``asr`` is ``inf`` when the network is broken (see ``note``).
    current_density : float or None [A/m^2]
        The current the nonlinear solve was run at (None: linear kinetics).
    active_cam_fraction : float
        Share of the CAM volume in particles (6-connected CAM clusters) that carry a
        net reaction current: wired to the collector and touching ion-conducting SE.
    interface_area_per_volume : float [1/m]
        CAM|SE voxel-face area (raw, as the model sees it) per box volume.
    active_interface_area_per_volume : float [1/m]
        The part of it where the SE voxel is wired to the separator through SE and the
        CAM voxel to the collector through CAM (where a net reaction can run; SE pockets
        reached only through CAM float at the CAM's potential, and vice versa).
    reaction_current_mean, reaction_current_cv : float
        Mean reaction current density over the active interface faces [A/m^2] at the
        stated current (linear: at 10 A/m^2) and its coefficient of variation (0 for
        an evenly used interface).
    """

    asr: float
    asr_ionic: float
    asr_electronic: float
    asr_interface: float
    current_density: float | None
    active_cam_fraction: float
    interface_area_per_volume: float
    active_interface_area_per_volume: float
    reaction_current_mean: float
    reaction_current_cv: float
    thickness: float
    axis: int
    iterations: int
    newton_iterations: int
    current_balance_error: float
    seconds: float
    note: str = ""
    fields: TransportFields | None = None
    reaction_field: np.ndarray | None = None

    @property
    def connected(self) -> bool:
        return math.isfinite(self.asr)

    def to_dict(self) -> dict:
        def cm2(x):
            return None if not math.isfinite(x) else x * 1e4

        return {
            "asr_ohm_cm2": cm2(self.asr),
            "asr_ionic_ohm_cm2": cm2(self.asr_ionic),
            "asr_electronic_ohm_cm2": cm2(self.asr_electronic),
            "asr_interface_ohm_cm2": cm2(self.asr_interface),
            "active_cam_fraction": self.active_cam_fraction,
            "current_density_mA_per_cm2": None if self.current_density is None else self.current_density / 10,
            "kinetics": "linear" if self.current_density is None else "Butler-Volmer",
            "interface_area_per_volume_per_m": self.interface_area_per_volume,
            "active_interface_area_per_volume_per_m": self.active_interface_area_per_volume,
            "reaction_current_mean_A_per_m2": self.reaction_current_mean,
            "reaction_current_cv": self.reaction_current_cv,
            "thickness_m": self.thickness,
            "thickness_axis": self.axis,
            "iterations": self.iterations,
            "newton_iterations": self.newton_iterations,
            "current_balance_error": self.current_balance_error,
            "seconds": self.seconds,
            "note": self.note,
        }


def transmission_line_asr(sigma: float, kappa: float, area: float, resistance: float, thickness: float) -> float:
    """ASR [Ω·m²] of a homogenised porous electrode with linear kinetics.

    ``ASR = L/(σ+κ) [1 + (2 + (σ/κ + κ/σ) cosh ν) / (ν sinh ν)]``,
    ``ν = L sqrt(a/R (1/σ + 1/κ))`` (Newman & Tobias 1962): ions enter at x = 0,
    electrons leave at x = L; σ, κ effective conductivities [S/m], ``a`` interface area
    per volume [1/m], ``R`` interface resistance [Ω·m²].

    Examples
    --------
    >>> round(transmission_line_asr(1.0, 1e9, 1e5, 1e-2, 1e-4) * 1e4, 2)  # ≈ R/(aL) + L/(3σ) [Ω·cm²]
    10.33
    """
    if min(sigma, kappa, area, thickness) <= 0 or resistance <= 0:
        raise InvalidInputError("the transmission line needs positive σ, κ, a, R and L")
    nu = thickness * math.sqrt(area / resistance * (1 / sigma + 1 / kappa))
    if nu > 300:  # cosh/sinh -> 1 and the formula's large-ν limit
        ratio = (sigma / kappa + kappa / sigma) / nu
    else:
        ratio = (2 + (sigma / kappa + kappa / sigma) * math.cosh(nu)) / (nu * math.sinh(nu))
    return thickness / (sigma + kappa) * (1 + ratio)


def butler_volmer_line_asr(sigma: float, kappa: float, area: float, r_ct: float, r_sp: float, thickness: float,
                           current_density: float, *, temperature: float = 298.15, cells: int = 400) -> float:
    """ASR [Ω·m²] = V / I of a homogenised porous electrode with Butler–Volmer kinetics.

    The transmission line of :func:`transmission_line_asr` with a nonlinear interface:
    for η = φ_e − φ_s, ``η'' = a j(η) (1/σ + 1/κ)`` with ``η'(0) = −I/σ`` (ions enter at
    x = 0) and ``η'(L) = I/κ`` (electrons leave at x = L); ``η = j R_SP + 2RT/F
    asinh(j R_CT F / 2RT)`` (α = 0.5, the voxel model's kinetics). Finite volumes on
    ``cells`` cells, Newton with a tridiagonal solve. ``V = η(L) + ∫ i_e/σ dx``. At
    small current it is the linear transmission line (test: 1e-6 with 400 cells).
    """
    from scipy.linalg import solve_banded

    if min(sigma, kappa, area, thickness, current_density) <= 0 or r_ct <= 0:
        raise InvalidInputError("the Butler-Volmer line needs positive σ, κ, a, R_CT, L and current")
    rt_f = GAS_CONSTANT * temperature / FARADAY
    k = r_ct / (2 * rt_f)
    dx = thickness / cells
    g = 1 / sigma + 1 / kappa
    current = float(current_density)
    linear = transmission_line_asr(sigma, kappa, area, r_ct + r_sp, thickness)
    eta = np.full(cells, current * linear * 0.5)
    for _ in range(100):
        j = _butler_volmer_current(np.maximum(eta, 0.0), r_sp, r_ct, rt_f)
        slope = 1.0 / (r_sp + 2 * rt_f * k / np.sqrt(1 + (k * j) ** 2))
        # residual of cell i: (η_{i+1} - η_i)/dx - (η_i - η_{i-1})/dx - dx a g j_i, the fluxes at
        # the ends given by the boundary conditions
        flux = np.empty(cells + 1)
        flux[1:-1] = np.diff(eta) / dx
        flux[0], flux[-1] = -current / sigma, current / kappa
        residual = np.diff(flux) - dx * area * g * j
        bands = np.zeros((3, cells))
        bands[0, 1:] = 1 / dx
        bands[2, :-1] = 1 / dx
        bands[1] = -2 / dx
        bands[1, 0] = bands[1, -1] = -1 / dx
        bands[1] -= dx * area * g * slope
        step = solve_banded((1, 1), bands, -residual)
        eta = eta + step
        if np.max(np.abs(step)) <= 1e-13 * max(np.max(np.abs(eta)), 1e-30):
            break
    else:
        raise ConvergenceError("the Butler-Volmer transmission line did not converge")
    j = _butler_volmer_current(np.maximum(eta, 0.0), r_sp, r_ct, rt_f)
    reacted = np.cumsum(area * j * dx)  # ionic current turned electronic up to each cell's end
    if abs(reacted[-1] - current) > 1e-6 * current:
        raise ConvergenceError(f"the Butler-Volmer transmission line does not balance: {reacted[-1]:.6g} of "
                               f"{current:.6g} A/m^2 reacted")
    ionic = current - (reacted - 0.5 * area * j * dx)  # at the cell centres
    # η at x = L from the last centre with the boundary slope, then V = η(L) + ∫ i_e/σ dx
    eta_end = eta[-1] + 0.5 * dx * current / kappa
    return (eta_end + float(np.sum(ionic)) * dx / sigma) / current


#: the CAM is lumped into one unknown per cluster when its resistance through the box is
#: at most this share of the balance tolerance times the interfaces' floor on the ASR
#: (the error lumping makes is below that share of the tolerance)
LUMP_RATIO = 0.1


class _Lumped:
    """The CAM of a network as equipotential clusters: those wired to the collector at 0 V,
    each floating one a single unknown. Exact to :data:`LUMP_RATIO` for a metal-like CAM;
    its internal faces, 10^10 times stronger than the interfaces, leave the system."""

    def __init__(self, cam: np.ndarray, keep: np.ndarray, axis: int):
        clusters, count = ndimage.label(cam & keep)
        last = [slice(None)] * 3
        last[axis] = slice(-1, None)
        wired = np.unique(clusters[tuple(last)])
        wired = wired[wired > 0]
        self.grounded = np.isin(clusters, wired) & (clusters > 0)
        unknowns = int(np.count_nonzero(keep))
        cluster_of = clusters[keep]  # per unknown: 0 for SE, else its CAM cluster
        floating = np.setdiff1d(np.arange(1, count + 1), wired)
        free = cluster_of == 0
        node = np.full(unknowns, -1, dtype=np.int64)  # -1: grounded
        node[free] = np.arange(int(np.count_nonzero(free)))
        slot = np.full(count + 1, -1, dtype=np.int64)
        slot[floating] = int(np.count_nonzero(free)) + np.arange(floating.size)
        node[~free] = slot[cluster_of[~free]]
        self.node, self.nodes = node, int(np.count_nonzero(free)) + floating.size

    def reduce(self, matrix, rhs: np.ndarray, boundary: np.ndarray):
        """The system over the SE unknowns and the floating clusters, and its Dirichlet
        conductances (the collector's, now the faces into grounded CAM)."""
        coo = matrix.tocoo()
        off = coo.row != coo.col
        rows, cols, w = self.node[coo.row[off]], self.node[coo.col[off]], -coo.data[off]
        cross = rows != cols  # faces inside one cluster leave the system
        rows, cols, w = rows[cross], cols[cross], w[cross]
        into_ground = (cols == -1) & (rows >= 0)
        both = (rows >= 0) & (cols >= 0)
        n = self.nodes
        mine = self.node >= 0
        dirichlet = np.zeros(n)
        np.add.at(dirichlet, self.node[mine], boundary[mine] * (self.node[mine] < n))
        np.add.at(dirichlet, rows[into_ground], w[into_ground])
        weights = sp.csr_matrix((w[both], (rows[both], cols[both])), shape=(n, n))
        diagonal = np.asarray(weights.sum(axis=1)).ravel() + dirichlet
        reduced = sp.csr_matrix(sp.diags(diagonal) - weights)
        return reduced, self.restrict(rhs), dirichlet

    def restrict(self, values: np.ndarray) -> np.ndarray:
        """Per-unknown values (currents, residuals) summed onto the reduced unknowns; the
        grounded CAM's rows drop out."""
        mine = self.node >= 0
        out = np.zeros(self.nodes)
        np.add.at(out, self.node[mine], values[mine])
        return out

    def expand(self, y: np.ndarray) -> np.ndarray:
        """Potentials of every unknown of the full network (grounded CAM at 0 V)."""
        y = np.asarray(y)
        x = np.zeros(self.node.size, dtype=y.dtype)
        mine = self.node >= 0
        x[mine] = y[self.node[mine]]
        return x


class _Tangent:
    """The Newton tangent of the Butler-Volmer ASR: the network's matrix with each CAM|SE
    face's conductance replaced by ``area dj/dΔ``.

    Assembled once; every later :meth:`update` rewrites only the interface entries (the
    off-diagonals set, each diagonal rebuilt from its fixed part plus the interface
    conductances, so nothing drifts), not the whole matrix.
    """

    def __init__(self, network, axis: int, keep: np.ndarray, faces, half: dict[int, float]):
        self.network, self.axis, self.keep, self.faces, self.half = network, axis, keep, faces, half
        self.matrix = self.rhs = None

    @staticmethod
    def _slots(matrix, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """Positions in ``matrix.data`` of the entries ``(rows[k], columns[k])``."""
        start, stop = matrix.indptr[rows].astype(np.int64), matrix.indptr[rows + 1].astype(np.int64)
        at = np.full(rows.shape, -1, dtype=np.int64)
        last = len(matrix.indices) - 1
        for k in range(int((stop - start).max(initial=0))):
            slot = start + k
            hit = (at < 0) & (slot < stop) & (matrix.indices[np.minimum(slot, last)] == columns)
            at[hit] = slot[hit]
        return at

    def update(self, conductance: list[np.ndarray]) -> None:
        """Set the interface faces (one array per group of ``faces``) to ``conductance`` [S]."""
        if self.matrix is None:
            resistance = {a: np.zeros(self.network.shape) for a in range(3)}
            for (a, first, second, pick, _), g in zip(self.faces, conductance):
                values = resistance[a][first]  # the face's resistance on top of the two half voxels
                values[pick] = self.network.face_area(a) / g - self.half[a]
            system = dataclasses.replace(self.network, pair_resistance={}, face_resistance=resistance).assemble(
                self.axis, self.keep)
            self.matrix, self.rhs = system.matrix, system.rhs
            n = self.matrix.shape[0]
            index = np.full(self.keep.shape, -1, dtype=np.int64)
            index[self.keep] = np.arange(n)
            self._rows = [(index[first][pick], index[second][pick]) for _, first, second, pick, _ in self.faces]
            self._off = [(self._slots(self.matrix, p, q), self._slots(self.matrix, q, p)) for p, q in self._rows]
            self._diagonal = self._slots(self.matrix, np.arange(n), np.arange(n))
            self._fixed = self.matrix.data[self._diagonal] - self._interface_sum(conductance, n)
            return
        for (pq, qp), g in zip(self._off, conductance):
            self.matrix.data[pq] = -g
            self.matrix.data[qp] = -g
        self.matrix.data[self._diagonal] = self._fixed + self._interface_sum(conductance, self.matrix.shape[0])

    def _interface_sum(self, conductance, n: int) -> np.ndarray:
        total = np.zeros(n)
        for (p, q), g in zip(self._rows, conductance):
            total += np.bincount(p, g, n) + np.bincount(q, g, n)
        return total


def _interface_faces(network, keep, se: int, cam: int):
    """Per axis: (first, second, pick, se_first) of kept CAM|SE faces inside the box."""
    out = []
    for a in range(3):
        if network.shape[a] < 2:
            continue
        first, second = network.face_selection(a)
        l1, l2 = network.labels[first], network.labels[second]
        pick = keep[first] & keep[second] & (((l1 == se) & (l2 == cam)) | ((l1 == cam) & (l2 == se)))
        out.append((a, first, second, pick, (l1 == se)[pick]))
    return out


def _wired(mask: np.ndarray, axis: int, side: int) -> np.ndarray:
    """Voxels of ``mask`` in 6-connected clusters that touch face ``side`` (0 or -1) of ``axis``."""
    clusters, _ = ndimage.label(mask)
    touching = np.unique(np.take(clusters, side, axis=axis))
    return np.isin(clusters, touching[touching > 0])


def _broken_network_note(micro: Microstructure, se: int, cam: int, axis: int, se_name: str, cam_name: str) -> str:
    labels = micro.labels
    first = np.take(labels, 0, axis=axis)
    last = np.take(labels, -1, axis=axis)
    if not np.any(first == se):
        return f"{se_name} does not touch the separator face (first face of axis {axis}): no ion can enter"
    if not np.any(last == cam):
        return f"{cam_name} does not touch the current-collector face (last face of axis {axis}): no electron can leave"
    contact = sum(np.count_nonzero((np.take(labels, range(0, n - 1), a) == se) & (np.take(labels, range(1, n), a) == cam))
                  + np.count_nonzero((np.take(labels, range(0, n - 1), a) == cam)
                                     & (np.take(labels, range(1, n), a) == se))
                  for a, n in enumerate(labels.shape) if n > 1)
    if contact == 0:
        return f"{cam_name} and {se_name} never touch: there is no interface to react at"
    return (f"no path runs from the separator through {se_name}, across a {cam_name}|{se_name} interface and "
            f"through {cam_name} to the collector")


def cathode_asr(
    micro: Microstructure,
    sigma_se: float,
    kappa_cam: float,
    r_ct: float,
    r_sp: float = 0.0,
    *,
    se: str = "LLZO",
    cam: str = "CAM",
    axis: int = 0,
    current_density: float | None = None,
    temperature: float = 298.15,
    solver=None,
    rtol: float = 1e-6,
    balance_tolerance: float = BALANCE_TOLERANCE,
    return_fields: bool = False,
) -> AsrResult:
    """Cathode ASR of a voxel volume, microstructure-resolved.

    Parameters
    ----------
    micro : Microstructure
    sigma_se, kappa_cam : float [S/m]
        Bulk ionic conductivity of the SE, electronic conductivity of the CAM.
    r_ct, r_sp : float [Ω·m²]
        Charge-transfer resistance (``i0 = RT/(F R_CT)``) and the series interphase.
    se, cam : str
        Phase names.
    axis : int
        Thickness axis: separator at its first face, current collector at its last.
    current_density : float [A/m^2], optional
        Solve Butler–Volmer at this current instead of the linearised kinetics.
    temperature : float [K]
    solver, rtol
        Linear solver and its first relative residual (tightened until the currents balance). The default is the AMG solver with
        a strength threshold θ = 0.01: interface conductances can be 10⁶ times
        weaker than the bulk ones, and aggregating across them (θ = 0, the transport
        default) costs 20-60x the iterations; larger θ coarsens slowly and costs set-up
        time (96³, R_CT = 2600 Ω·cm²: θ = 0 1073 iterations 63 s, θ = 0.01 17 in 2.6 s,
        θ = 0.08 12 in 8.2 s).
    balance_tolerance : float
        The currents through the separator face, the collector face and all reaction
        faces must agree to this (relative), and the ASR must move by less than it
        between two checks; else :class:`ConvergenceError` (default 1e-6). The
        relative residual alone is not enough when face conductances span 10⁹.
    return_fields : bool
        Attach the potential (V, at the stated current; linear: at 10 A/m²), current
        density (A/m²) and reaction current per CAM voxel (A/m³).

    Returns
    -------
    AsrResult
        A broken network (no SE at the separator, no CAM at the collector, no
        contact, or no path) is a result with ``asr = inf`` and a ``note`` saying which.
    """
    started = time.perf_counter()
    se_label, cam_label = micro.label_of(se), micro.label_of(cam)
    sigma_se = non_negative(sigma_se, f"conductivity of {se}", "S/m")
    kappa_cam = non_negative(kappa_cam, f"conductivity of {cam}", "S/m")
    r_ct = non_negative(r_ct, "R_CT", "Ohm m^2")
    r_sp = non_negative(r_sp, "R_SP", "Ohm m^2")
    if sigma_se == 0 or kappa_cam == 0:
        raise InvalidInputError(f"{se} and {cam} need positive conductivities, got {sigma_se} and {kappa_cam} S/m")
    if current_density is not None and not (math.isfinite(current_density) and current_density > 0):
        raise InvalidInputError(f"current density must be positive [A/m^2], got {current_density!r}")
    if current_density is not None and r_ct == 0:
        raise InvalidInputError("Butler-Volmer needs R_CT > 0 (i0 = RT/(F R_CT))")
    if axis not in (0, 1, 2):
        raise InvalidInputError(f"thickness axis must be 0, 1 or 2, got {axis!r}")
    n_cross = micro.shape[(axis + 1) % 3] * micro.shape[(axis + 2) % 3]
    area = n_cross * micro.voxel_size[(axis + 1) % 3] * micro.voxel_size[(axis + 2) % 3]
    thickness = micro.shape[axis] * micro.voxel_size[axis]

    network = build_network(micro, {se: sigma_se, cam: kappa_cam},
                            interface_resistance={(se, cam): r_ct + r_sp} if r_ct + r_sp > 0 else None)
    network = dataclasses.replace(network, electrode_labels=(frozenset({se_label}), frozenset({cam_label})))
    keep = network.spanning_mask(axis)
    interface_faces = _interface_faces(network, np.ones(micro.shape, bool), se_label, cam_label)
    face_area_total = sum(network.face_area(a) * np.count_nonzero(pick) for a, _, _, pick, _ in interface_faces)
    a_volume = face_area_total / float(np.prod(micro.size_m))
    if not keep.any():
        note = _broken_network_note(micro, se_label, cam_label, axis, se, cam)
        return AsrResult(math.inf, math.inf, math.inf, math.inf, current_density, 0.0, a_volume, 0.0, 0.0, 0.0,
                         thickness, axis, 0, 0, 0.0, time.perf_counter() - started, note=note)
    check_memory(keep.size, int(np.count_nonzero(keep)))
    solve = AMGSolver(theta=0.01, maxiter=2000) if solver is None else get_solver(solver)
    faces = _interface_faces(network, keep, se_label, cam_label)
    wired = _wired(micro.labels == se_label, axis, 0) | _wired(micro.labels == cam_label, axis, -1)
    a_active = sum(network.face_area(a) * np.count_nonzero(wired[first][pick] & wired[second][pick])
                   for a, first, second, pick, _ in faces) / float(np.prod(micro.size_m))
    rt_f = GAS_CONSTANT * temperature / FARADAY
    half = {a: micro.voxel_size[a] / (2 * sigma_se) + micro.voxel_size[a] / (2 * kappa_cam) for a in range(3)}

    def face_current(drop, a, linear=False):
        """Current density [A/m^2] across interface faces (SE -> CAM) and its slope dj/dΔ."""
        if current_density is None or linear:
            g = 1.0 / (half[a] + r_ct + r_sp)
            return drop * g, np.full(drop.shape, g)
        j = np.sign(drop) * _butler_volmer_current(np.abs(drop), half[a] + r_sp, r_ct, rt_f)
        k = r_ct / (2 * rt_f)
        return j, 1.0 / (half[a] + r_sp + 2 * rt_f * k / np.sqrt(1 + (k * j) ** 2))

    face_in, g_in = network.boundary_conductance(axis, 0)
    face_out, g_out = network.boundary_conductance(axis, -1)

    def currents(x, voltage, linear=False):
        """Currents [A] through the separator face, the collector face and all reaction faces."""
        potential = np.zeros(keep.shape, dtype=np.asarray(x).dtype)
        potential[keep] = x
        i_in = float(np.where(keep[face_in], g_in * (voltage - potential[face_in]), 0.0).sum())
        i_out = float(np.where(keep[face_out], g_out * potential[face_out], 0.0).sum())
        i_rx = grounded = 0.0
        for a, first, second, pick, se_first in faces:
            drop = np.where(se_first, 1, -1) * (potential[first][pick] - potential[second][pick])
            j, _ = face_current(drop, a, linear)
            i_rx += network.face_area(a) * float(j.sum())
            if lumped is not None:  # the collector's current: what enters the CAM wired to it
                cam_side = np.where(se_first, lumped.grounded[second][pick], lumped.grounded[first][pick])
                grounded += network.face_area(a) * float(j[cam_side].sum())
        if lumped is not None:
            i_out = grounded
        return i_in, i_out, i_rx, potential

    def balance_of(i_in, i_out, i_rx):
        if not i_out > 0:
            return math.inf
        return max(abs(i_in - i_out), abs(i_rx - i_out)) / i_out

    def check(x, voltage=1.0):
        i_in, i_out, i_rx, _ = currents(x, voltage, linear=True)
        return balance_of(i_in, i_out, i_rx), (area * voltage / i_out if i_out > 0 else math.inf)

    # a near-perfect electron conductor (Li metal, a current collector, a very fast CAM)
    # is lumped when its resistance through the box is below LUMP_RATIO x the balance
    # tolerance x the smallest ASR the interfaces allow (R x planar / interface area)
    # (Butler-Volmer: R_CT replaced by the secant η(j)/j at the mean interface current,
    # which is smaller than R_CT; the tangents Newton meets are lumped the same way)
    lumped = None
    r_kinetic = r_ct
    if current_density is not None and face_area_total > 0:
        j_mean = current_density * area / face_area_total
        r_kinetic = 2 * rt_f * math.asinh(j_mean * r_ct / (2 * rt_f)) / j_mean
    floor = (r_kinetic + r_sp) * area / face_area_total if face_area_total > 0 else 0.0
    if thickness / kappa_cam <= LUMP_RATIO * balance_tolerance * floor:
        lumped = _Lumped(micro.labels == cam_label, keep, axis)

    # linear solve at 1 V across (the start of the nonlinear one), to a balanced current
    system = network.assemble(axis, keep)
    dirichlet = np.zeros(keep.shape)
    for face, g in ((face_in, g_in), (face_out, g_out)):
        dirichlet[face] += np.where(keep[face], g, 0.0)
    # one multigrid hierarchy for the linear solve and, after it, the Newton tangents (they
    # differ from the linear matrix on the interface faces only)
    setup = getattr(solve, "setup", None)
    if lumped is None:
        hierarchy = setup(system.matrix) if setup is not None else None
        x, iterations, _, _ = solve_to_balance(system.matrix, system.rhs, solve, check, x0=linear_guess(system),
                                               rtol=rtol, tolerance=balance_tolerance, boundary=dirichlet[keep],
                                               what=f"cathode ASR along axis {axis}", preconditioner=hierarchy)
    else:  # one unknown per floating CAM cluster, the CAM wired to the collector at its 0 V
        reduced, rhs, boundary = lumped.reduce(system.matrix, system.rhs, dirichlet[keep])
        hierarchy = setup(reduced) if setup is not None else None
        y, iterations, _, _ = solve_to_balance(reduced, rhs, solve, lambda y: check(lumped.expand(y)),
                                               rtol=rtol, tolerance=balance_tolerance, boundary=boundary,
                                               what=f"cathode ASR along axis {axis}", preconditioner=hierarchy)
        x = lumped.expand(y)
    voltage, newton = 1.0, 0
    _, current_out, _, _ = currents(x, 1.0, linear=True)
    if current_density is not None:
        # Butler-Volmer: Newton in the potentials at a fixed voltage (tangent face
        # conductances keep the matrix SPD), a secant on the voltage for the current;
        # repeated at a tighter Newton tolerance until the currents balance
        target = current_density * area
        # the linear solution scaled to the current, each face's R_CT drop replaced by its
        # Butler-Volmer overpotential at the same current (the dissipation at the linear
        # current distribution): within a few % of the answer, so the secant starts close
        scaled = target / current_out
        relief = 0.0
        potential = np.zeros(keep.shape)
        potential[keep] = x * scaled
        for a, first, second, pick, se_first in faces:
            drop = np.where(se_first, 1, -1) * (potential[first][pick] - potential[second][pick])
            j, _ = face_current(drop, a, linear=True)
            eta = 2 * rt_f * np.arcsinh(j * r_ct / (2 * rt_f))
            relief += network.face_area(a) * float((j * (j * r_ct - eta)).sum())
        voltage = scaled - relief / target
        x = x * voltage
        residual_tol = 1e-11
        newton_step = ReusedPreconditioner(solve, apply=hierarchy)
        tangent = _Tangent(network, axis, keep, faces, half)

        def collector_current(potential):
            return float(np.where(keep[face_out], g_out * potential[face_out], 0.0).sum())

        while True:
            history = []
            for _outer in range(60):
                miss = 0.0  # |I / target - 1| at this voltage after a correction (0: not known yet)
                for _inner in range(50):
                    potential = np.zeros(keep.shape)
                    potential[keep] = x
                    correction = np.zeros(keep.shape)
                    conductance, grounded = [], 0.0
                    for a, first, second, pick, se_first in faces:
                        drop = np.where(se_first, 1, -1) * (potential[first][pick] - potential[second][pick])
                        j, slope = face_current(drop, a)
                        conductance.append(network.face_area(a) * slope)
                        flow = network.face_area(a) * (j - slope * drop) * np.where(se_first, 1, -1)
                        c_first, c_second = correction[first], correction[second]
                        c_first[pick] += flow
                        c_second[pick] -= flow
                        if lumped is not None:  # the collector's current: what enters the CAM wired to it
                            cam_side = np.where(se_first, lumped.grounded[second][pick], lumped.grounded[first][pick])
                            grounded += network.face_area(a) * float(j[cam_side].sum())
                    tangent.update(conductance)
                    residual = tangent.matrix @ x - voltage * tangent.rhs + correction[keep]
                    scale = voltage * tangent.rhs
                    if lumped is not None:  # a cluster's rows balance only in their sum
                        residual, scale = lumped.restrict(residual), lumped.restrict(scale)
                    newton += 1
                    relative = np.linalg.norm(residual) / np.linalg.norm(scale)
                    converged = relative <= residual_tol
                    current_out = grounded if lumped is not None else collector_current(potential)
                    if _inner > 0:  # after a correction at this voltage (a scaled state has the secant's current)
                        miss = abs(current_out / target - 1)
                    # inexact Newton: at a voltage whose current is still far off, stop once the
                    # residual is well below the miss (the secant moves the voltage anyway), and
                    # solve each correction only as far as the residual it has to beat
                    if converged or relative <= 0.05 * miss:
                        break
                    tangent_matrix = tangent.matrix
                    if lumped is not None:
                        tangent_matrix, _, _ = lumped.reduce(tangent.matrix, tangent.rhs, dirichlet[keep])
                    # Eisenstat-Walker-like: the residual's own size while far, and never more
                    # than the last decades to the tolerance
                    forcing = max(RTOL_FLOOR, 0.3 * residual_tol / relative, min(1e-2, relative))
                    dx, used = newton_step.solve(tangent_matrix, -residual, forcing)
                    x = x + (dx if lumped is None else lumped.expand(dx))
                    iterations += used
                else:
                    _, current_out, _, _ = currents(x, voltage)
                history.append((voltage, current_out))
                if converged and abs(current_out - target) <= 0.1 * balance_tolerance * target:
                    break
                # a secant on ln I(V) (nearly linear where the kinetics are exponential),
                # kept inside the bracket of voltages seen so far
                low = max((v for v, i in history if i < target), default=0.0)
                high = min((v for v, i in history if i > target), default=math.inf)
                (v0, i0), (v1, i1) = history[-2] if len(history) > 1 else (0.0, 0.0), history[-1]
                if len(history) < 2 or min(i0, i1) <= 0 or math.log(i0) == math.log(i1):
                    new = voltage * target / current_out if current_out > 0 else 2 * voltage
                else:
                    new = v1 + (math.log(target) - math.log(i1)) * (v1 - v0) / (math.log(i1) - math.log(i0))
                if not low < new < high:
                    new = 0.5 * (low + high) if math.isfinite(high) else 2 * max(low, voltage)
                x = x * (new / voltage)
                voltage = new
            else:
                raise ConvergenceError(f"Butler-Volmer ASR did not reach {current_density:g} A/m^2")
            balance = balance_of(*currents(x, voltage)[:3])
            if balance <= 0.1 * balance_tolerance:  # a margin: the Newton loop runs in double precision
                break
            if residual_tol <= RTOL_FLOOR:
                raise ConvergenceError(
                    f"Butler-Volmer ASR along axis {axis} did not converge: current balance {balance:.2e} "
                    f"(tolerance {balance_tolerance:.0e}) at relative residual {residual_tol:.0e}")
            residual_tol = max(residual_tol * 1e-2, RTOL_FLOOR)

    current_in, current_out, current_rx, potential = currents(x, voltage)
    asr = area * voltage / current_out
    balance = balance_of(current_in, current_out, current_rx)

    # dissipation split (exact: the parts add up to I V) and reaction currents
    ionic = electronic = interfacial = 0.0
    for a in range(3):
        if micro.shape[a] < 2:
            continue
        first, second = network.face_selection(a)
        l1, l2 = network.labels[first], network.labels[second]
        same = keep[first] & keep[second] & (l1 == l2)
        g = network.face_conductance(a, first, second, same)
        power = g * (potential[first][same] - potential[second][same]) ** 2
        ionic += power[l1[same] == se_label].sum()
        electronic += power[l1[same] == cam_label].sum()
    for side, phi in ((0, voltage), (-1, 0.0)):
        face, g = network.boundary_conductance(axis, side)
        p = np.where(keep[face], g * (potential[face] - phi) ** 2, 0.0).sum()
        if side == 0:
            ionic += p
        else:
            electronic += p
    reaction = np.zeros(micro.shape)  # A into each CAM voxel across its SE faces
    face_currents = []
    for a, first, second, pick, se_first in faces:
        drop = np.where(se_first, 1, -1) * (potential[first][pick] - potential[second][pick])
        j, _ = face_current(drop, a)
        face_area = network.face_area(a)
        h = micro.voxel_size[a]
        ionic += face_area * (j**2 * h / (2 * sigma_se)).sum()
        electronic += face_area * (j**2 * h / (2 * kappa_cam)).sum()
        interfacial += face_area * (j * (drop - j * half[a])).sum()
        face_currents.append(j[wired[first][pick] & wired[second][pick]])
        r_first, r_second = reaction[first], reaction[second]
        r_second[pick] += np.where(se_first, face_area * j, 0.0)
        r_first[pick] += np.where(~se_first, face_area * j, 0.0)
    to_asr = area / current_out**2
    scale = 1.0 if current_density is not None else 10.0 * area / current_out
    cam_clusters, n_clusters = ndimage.label(micro.labels == cam_label)
    net = np.bincount(cam_clusters.ravel(), weights=reaction.ravel(), minlength=n_clusters + 1)
    volume = np.bincount(cam_clusters.ravel(), minlength=n_clusters + 1)
    active = (net > 1e-6 * current_out) & (np.arange(n_clusters + 1) > 0)
    cam_total = volume[1:].sum()
    active_fraction = float(volume[active].sum() / cam_total) if cam_total else 0.0
    per_face = np.concatenate(face_currents) * scale if face_currents else np.zeros(0)
    mean = float(per_face.mean()) if per_face.size else 0.0
    cv = float(per_face.std() / abs(mean)) if per_face.size and mean else 0.0

    fields = reaction_field = None
    if return_fields:
        field_net = network
        if current_density is not None:  # the secant resistance of each face reproduces its current
            secant = {a: np.zeros(micro.shape) for a in range(3)}
            for a, first, second, pick, se_first in faces:
                drop = np.where(se_first, 1, -1) * (potential[first][pick] - potential[second][pick])
                j, _ = face_current(drop, a)
                values = secant[a][first]
                with np.errstate(divide="ignore", invalid="ignore"):
                    values[pick] = np.where(j != 0, drop / j - half[a], r_ct + r_sp)
            field_net = dataclasses.replace(network, pair_resistance={}, face_resistance=secant)
        field_system = field_net.assemble(axis, keep)
        _, _, fields = currents_and_fields(field_net, field_system, x * scale, True)
        reaction_field = reaction * scale / float(np.prod(micro.voxel_size))
    return AsrResult(
        asr=asr,
        asr_ionic=ionic * to_asr,
        asr_electronic=electronic * to_asr,
        asr_interface=interfacial * to_asr,
        current_density=current_density,
        active_cam_fraction=active_fraction,
        interface_area_per_volume=a_volume,
        active_interface_area_per_volume=a_active,
        reaction_current_mean=mean,
        reaction_current_cv=cv,
        thickness=thickness,
        axis=axis,
        iterations=iterations,
        newton_iterations=newton,
        current_balance_error=balance,
        seconds=time.perf_counter() - started,
        fields=fields,
        reaction_field=reaction_field,
    )


def _butler_volmer_current(drop, series, r_ct, rt_f):
    """Face current density j ≥ 0 [A/m²] with ``drop = j·series + 2RT/F asinh(j R_CT F / 2RT)``.

    Newton on the monotone scalar equation, vectorised over faces; starts from the
    linear guess ``drop / (series + R_CT)`` which bounds j from below.
    """
    j = drop / (series + r_ct)
    k = r_ct / (2 * rt_f)
    for _ in range(100):
        f = j * series + 2 * rt_f * np.arcsinh(k * j) - drop
        df = series + 2 * rt_f * k / np.sqrt(1 + (k * j) ** 2)
        step = f / df
        j = np.maximum(j - step, 0.0)
        if np.all(np.abs(step) <= 1e-12 * np.maximum(j, 1e-300)):
            break
    return j


def electrode_tortuosity_factor(
    micro: Microstructure,
    *,
    se: str = "LLZO",
    cam: str = "CAM",
    axis: int = 0,
    solver=None,
    rtol: float = 1e-8,
) -> float:
    """Electrode tortuosity factor τ_e of the SE network (Nguyen et al. 2020).

    The blocking-electrolyte limit of :func:`cathode_asr`: the interfaces draw the
    current evenly (per area), the reaction is uniform, and the ionic resistance of
    the SE wired to the separator is ``R_ion = L / (3 σ_eff,e)``. Solved directly:
    those SE voxels, φ = 0 at the separator, every CAM|SE face a sink of equal
    current density; ``R_ion`` from the dissipation, ``τ_e = ε_SE σ0 / σ_eff,e``.
    Unlike the through-thickness τ it counts the dead-end SE branches that serve CAM.
    """
    se_label, cam_label = micro.label_of(se), micro.label_of(cam)
    network = build_network(micro, {se: 1.0})
    network = dataclasses.replace(network, electrode_labels=(frozenset({se_label}), frozenset()))
    comp = network.components
    touching = np.unique(np.take(comp, 0, axis=axis))
    keep = np.isin(comp, touching[touching > 0])
    if not keep.any():
        raise InvalidInputError(f"{se} does not touch the separator face (first face of axis {axis})")
    sink = np.zeros(micro.shape)
    for a in range(3):
        if micro.shape[a] < 2:
            continue
        first, second = network.face_selection(a)
        l1, l2 = micro.labels[first], micro.labels[second]
        face = network.face_area(a)
        s_first, s_second = sink[first], sink[second]  # views: updated in place
        s_first[keep[first] & (l2 == cam_label)] += face
        s_second[keep[second] & (l1 == cam_label)] += face
    if sink.sum() == 0:
        raise InvalidInputError(f"no {cam}|{se} interface is reachable from the separator")
    system = network.assemble(axis, keep)  # inlet held at 1 V; shift to 0 V: rhs of the sinks only
    drawn = sink[keep] / sink.sum()  # 1 A in all, evenly per interface area
    solve = AMGSolver() if solver is None else get_solver(solver)
    info = solve(system.matrix, -drawn, x0=np.zeros_like(drawn), rtol=rtol)
    require_converged(info, rtol, f"electrode tortuosity along axis {axis}")
    power = float(-(info.x @ drawn))  # W for 1 A: Σ (0 - φ) × current drawn
    n_cross = micro.shape[(axis + 1) % 3] * micro.shape[(axis + 2) % 3]
    area = n_cross * micro.voxel_size[(axis + 1) % 3] * micro.voxel_size[(axis + 2) % 3]
    thickness = micro.shape[axis] * micro.voxel_size[axis]
    r_ionic = power * area  # Ω·m² for 1 A through the whole cross-section
    return 3 * micro.volume_fraction(se) * r_ionic / thickness


def homogenised_comparison(micro: Microstructure, sigma_se: float, kappa_cam: float, r_ct: float, r_sp: float = 0.0,
                           *, se: str = "LLZO", cam: str = "CAM", axis: int = 0, solver=None,
                           current_density: float | None = None, voxel: AsrResult | None = None) -> dict:
    """The reduced-P2D (transmission-line) ASR with σ_eff, κ_eff and ``a`` of the same volume,
    compared like with like: linear kinetics with the linear voxel ASR, Butler–Volmer at
    ``current_density`` [A/m²] with the voxel ASR at that current.

    σ_eff and κ_eff come from single-phase solves along ``axis``; ``a`` is the active
    CAM|SE voxel-face area per volume (faces between voxels wired to both electrodes:
    the area the voxel model can react on). ``voxel`` is the voxel result at
    ``current_density`` when the caller has it already (it is solved here otherwise).
    """
    import warnings

    from microsim.errors import PercolationWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PercolationWarning)  # a broken phase is a plain "None" below
        (ionic,) = solve_transport(micro, {se: sigma_se}, axes=axis, solver=solver)
        (electronic,) = solve_transport(micro, {cam: kappa_cam}, axes=axis, solver=solver)
    if voxel is None or voxel.current_density != current_density:
        voxel = cathode_asr(micro, sigma_se, kappa_cam, r_ct, r_sp, se=se, cam=cam, axis=axis, solver=solver,
                            current_density=current_density)
    out = {"sigma_eff_S_per_m": ionic.sigma_eff, "kappa_eff_S_per_m": electronic.sigma_eff,
           "tortuosity_factor_SE": ionic.tortuosity_factor if ionic.percolating else None,
           "interface_area_per_volume_per_m": voxel.interface_area_per_volume,
           "active_interface_area_per_volume_per_m": voxel.active_interface_area_per_volume,
           "kinetics": "linear" if current_density is None else "Butler-Volmer",
           "current_density_mA_per_cm2": None if current_density is None else current_density / 10,
           "voxel_asr_ohm_cm2": voxel.asr * 1e4}
    a = voxel.active_interface_area_per_volume
    if ionic.sigma_eff > 0 and electronic.sigma_eff > 0 and a > 0:
        if current_density is None:
            homog = transmission_line_asr(ionic.sigma_eff, electronic.sigma_eff, a, r_ct + r_sp, voxel.thickness)
        else:
            homog = butler_volmer_line_asr(ionic.sigma_eff, electronic.sigma_eff, a, r_ct, r_sp, voxel.thickness,
                                           current_density)
        out["homogenised_asr_ohm_cm2"] = homog * 1e4
        out["relative_difference"] = (voxel.asr - homog) / homog if math.isfinite(voxel.asr) else None
    else:
        out["homogenised_asr_ohm_cm2"] = None
        out["relative_difference"] = None
    return out
