"""Reduced pseudo-2D model of a Li | SE separator | composite cathode cell.

Doyle–Fuller–Newman (J. Electrochem. Soc. 140 (1993) 1526) reduced for a single-ion
solid electrolyte (transference number 1: no salt gradient, the electrolyte is a
resistor). Discharge current ``I > 0`` [A/m^2]; ``x`` runs from the separator face
of the cathode (0) to the current collector (``L_cat``).

* ions: ``i_e = -σ_eff ∂φ_e/∂x``, ``∂i_e/∂x = -a j``; electrons: ``i_s = -κ_eff ∂φ_s/∂x``,
  ``i_s + i_e = I`` (``i_e = I`` at x = 0, ``i_s = I`` at x = L_cat);
* interface (``j`` > 0 lithiates the CAM): ``U(θ_surf) - (φ_s - φ_e) = j R_SP + η``,
  ``j = 2 i0 sinh(F η / 2RT)`` with ``i0 = RT / (F R_CT)`` (Butler–Volmer, α = 1/2);
* particles: spheres of radius ``R_p``, ``∂θ/∂t = D r⁻² ∂/∂r (r² ∂θ/∂r)``, with
  ``D ∂θ/∂r = f j / (F c_max)`` at ``r = R_p`` (θ = lithiation of the capacity window),
  where ``f = a R_p / (3 ε_CAM)`` spreads the interface current over the whole sphere
  surface, so the CAM takes exactly the charge ``a j`` per volume also when ``a`` is a
  measured CAM|SE area rather than ``3 ε_CAM / R_p`` (then ``f = 1``);
* graded cathodes (``CellParameters.profile``): ε, σ_eff, κ_eff and ``a`` per cell;
* separator: ohmic, ``σ_SE`` (dense); Li anode: Butler–Volmer with
  ``i0 = RT/(F R_Li)`` (ideal when ``R_Li = 0``); cell voltage
  ``V = φ_s(L_cat) - φ_Li`` with ``φ_e(0) = φ_Li - η_Li - I L_sep / σ_SE``;
* temperature: σ_SE, σ_eff, κ, D, R_CT, R_SP and R_Li are the parameter set's
  Arrhenius values at ``CellParameters.temperature`` (``*_at_T``,
  :meth:`~microsim.cell.parameters.CellParameters.at_temperature`), and RT/F is taken
  at that temperature; the OCV has no entropic term.

Numerics: cell-centred finite volumes in x (``n_x`` cells, fine over the front depth
at the limiting side) and r (``n_r`` shells, stretched towards the surface), backward Euler in time.
Each step eliminates the (linear) diffusion exactly — the surface lithiation is an
affine function of the cell's reaction current — and the potentials, which are linear in the reaction currents
(cumulative-sum resistance matrices); what is left is ``n_x + 1`` nonlinear
equations (``j`` per cell and the solid potential level), solved by Newton with a
dense Jacobian. Steps start at ``first_step`` × the nominal step and double up to
``t_nominal / n_t``; the cut-off is found by linear interpolation in the last step.

Overpotential breakdown: the discrete power balance
``I V = Σ a j Δx U(θ_avg) - P_diffusion - P_CT - P_SP - P_e - P_s - I (η_Li + I L_sep/σ)``
holds exactly; each loss divided by ``I`` is reported in volts (time-averaged over
the discharge), and they add up to ``U_eff - V``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.linalg
import scipy.optimize

from microsim.cell.energy import TheoreticalEnergy, cell_stack, theoretical_energy, window_capacity, window_energy
from microsim.cell.ocv import get_ocv
from microsim.cell.properties import get_conductivity, get_diffusivity
from microsim.constants import FARADAY, GAS_CONSTANT, J_PER_WH, mAh_per_cm2
from microsim.cell.parameters import CellParameters, celsius, get_material
from microsim.errors import ConvergenceError, InvalidInputError

PROTOCOLS = ("discharge", "charge-discharge")
LOSSES = ("separator_ionic", "cathode_ionic", "electronic", "charge_transfer", "interphase",
          "solid_diffusion", "anode")


@dataclass(frozen=True)
class Grid:
    """Discretisation: cells in x, shells in r, nominal steps per full capacity.

    ``stretch`` (β) maps the shells so that they grow geometrically from the particle
    surface inwards: the distance of face ``k`` from the surface is
    ``R (exp(β k/n_r) - 1) / (exp(β) - 1)`` (``β = 0``: equal shells; ``None``: chosen
    from the diffusion length, see :func:`default_grid`). Doubling ``n_r`` at a fixed
    β halves every shell, so the mesh converges at second order.

    In x, the cells are fine and equal over the zone next to the side of the smaller
    effective conductivity (the separator when ions limit, the collector when electrons
    do), where the reaction starts and a limited discharge's front runs, and grow
    geometrically beyond it: ``x_fine`` is that zone's share of ``L_cat`` and
    ``x_fine_cells`` the share of the ``n_x`` cells in it (``x_fine = x_fine_cells = 1``:
    equal cells; ``x_fine = None``: the physics' choice, see :func:`default_grid`; always
    equal cells in a graded cathode). The mapping is fixed by the two shares, so doubling
    ``n_x`` halves every cell, as in r. ``adaptive``: steps also limited to a voltage
    change of ``(v_max - v_min) / n_t`` (off: the step sequence depends on ``n_t`` and
    ``first_step`` only, as a convergence study in x or r wants).
    """

    n_x: int = 20
    n_r: int = 10
    n_t: int = 100
    first_step: float = 1e-3
    stretch: float | None = 0.0
    adaptive: bool = True
    x_fine: float | None = 1.0
    x_fine_cells: float = 1.0

    def __post_init__(self):
        counts = (self.n_x, self.n_r, self.n_t)
        shares = (self.x_fine_cells,) if self.x_fine is None else (self.x_fine, self.x_fine_cells)
        if (not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in counts)
                or min(counts) < 1 or not 0 < self.first_step <= 1
                or not (self.stretch is None or (math.isfinite(self.stretch) and self.stretch >= 0))
                or not all(0 < share <= 1 for share in shares)):
            raise InvalidInputError(f"grid needs integers n_x, n_r, n_t >= 1, 0 < first_step <= 1, a stretch >= 0 "
                                    f"or None and fine-zone shares in (0, 1], got {self}")

    def refined(self, factor: float) -> "Grid":
        """Every count scaled by ``factor`` (at least 1), the same stretch and first step."""
        return replace(self, n_x=max(1, round(self.n_x * factor)), n_r=max(1, round(self.n_r * factor)),
                       n_t=max(1, round(self.n_t * factor)))

    def resolved(self, params: CellParameters, current_density: float) -> "Grid":
        """This grid with a stretch of ``None`` replaced by the physics' choice."""
        grid = self
        if grid.stretch is None:
            grid = replace(grid, stretch=_stretch(params, current_density))
        if grid.x_fine is None:
            chosen = default_grid(params, current_density)
            grid = replace(grid, x_fine=chosen.x_fine, x_fine_cells=chosen.x_fine_cells)
        return grid


def _diffusion_length_ratio(params: CellParameters, current_density: float) -> float:
    """sqrt(D t_nominal) / R_p, with t_nominal the time to pass the full capacity
    (D: the smallest of a D(θ) function over the window)."""
    t_nominal = cell_stack(params).capacity / abs(current_density)
    d = params.D_CAM_at_T  # the smallest of a D(θ) function over the window, at the temperature
    if params.D_CAM_function:
        d *= get_diffusivity(params.D_CAM_function).extremes()[0] / params.D_CAM
    return math.sqrt(d * t_nominal) / params.particle_radius


def _stretch(params: CellParameters, current_density: float) -> float:
    # the geometric part of the mesh reaches up to ~ℓ/50 under the surface: a discharge
    # that ends at a few % of its capacity (diffusion length ℓ √u) is still resolved
    return math.log1p(50.0 / _diffusion_length_ratio(params, current_density))


#: equal cells across the depth a limited discharge reaches (:func:`front_depth`); the
#: energy moves in steps as the front crosses cell faces, by ~0.1 % at 40 cells and
#: ~0.03 % at 80 (benchmarks/cell_convergence.py)
FRONT_CELLS = 80
#: beyond that depth each cell is at most this factor wider than its neighbour
TAIL_GROWTH = 1.1
#: cells in x at most
MAX_CELLS = 400


def front_depth(params: CellParameters, current_density: float) -> float:
    """How deep a discharge limited by the smaller effective conductivity reaches [m].

    Behind the front the CAM is full and the whole current crosses it, so the front
    stops where the ohmic drop ``|I| δ / σ_lim`` takes up the margin of the mean OCV
    above the lower cut-off: ``δ = (Ū - v_min) σ_lim / |I|``, with ``σ_lim`` the smaller
    of σ_eff and κ_eff at the cell's temperature (κ_eff at the least of a κ(θ)). ``inf``
    at zero current. A discharge that is not limited reaches further: ``δ > L_cat``.
    """
    p = params
    values = p.cell_values(1)
    sigma, kappa = float(values["sigma_eff"][0]), float(values["kappa_eff"][0])
    if p.kappa_CAM_function:
        kappa *= get_conductivity(p.kappa_CAM_function).extremes()[0] / p.kappa_CAM
    margin = float(np.mean(get_ocv(p.ocv_name)(np.linspace(0.0, 1.0, 201)))) - p.v_min
    if current_density == 0:
        return math.inf
    return max(margin, 0.01) * min(sigma, kappa) / abs(current_density)  # a margin of at least 10 mV


def _tail_rate(fine: float, fine_cells: float) -> float:
    """The growth rate ``g`` per unit of the cell index fraction beyond the fine zone:
    cells of width ``h0 exp(g (s - s_f))``, ``h0 = fine / fine_cells``, fill the rest of
    the cathode exactly (``g < 0`` where they must shrink)."""
    h0, rest, span = fine / fine_cells, 1.0 - fine, 1.0 - fine_cells

    def excess(g):
        z = g * span
        return h0 * span * (math.expm1(z) / z if abs(z) > 1e-12 else 1.0) - rest

    if abs(excess(0.0)) < 1e-14:
        return 0.0
    lo, hi = (0.0, 1.0) if excess(0.0) < 0 else (-1.0, 0.0)
    while excess(hi) < 0:
        hi *= 2.0
    while excess(lo) > 0:
        lo *= 2.0
    return scipy.optimize.brentq(excess, lo, hi, xtol=1e-14, rtol=1e-14)


def x_faces(params: CellParameters, grid: Grid) -> np.ndarray:
    """The ``n_x + 1`` cell faces in x [m], 0 (separator) to ``L_cat`` (see :class:`Grid`;
    ``grid`` resolved: :meth:`Grid.resolved`)."""
    if grid.x_fine is None:
        raise ValueError("x_faces needs a resolved grid: Grid.resolved(params, current_density)")
    fine, cells = grid.x_fine, grid.x_fine_cells
    s = np.arange(grid.n_x + 1) / grid.n_x
    if fine >= 1.0 or cells >= 1.0:
        x = s
    else:
        h0, g = fine / cells, _tail_rate(fine, cells)
        u = np.maximum(s - cells, 0.0)
        tail = h0 * u if g == 0 else h0 * np.expm1(g * u) / g
        x = np.where(s <= cells, h0 * s, fine + tail)
    faces = params.L_cat * x
    if params.sigma_eff_SE > params.kappa_eff_CAM:  # electrons limit: fine at the collector
        faces = params.L_cat - faces[::-1]
    faces[0], faces[-1] = 0.0, params.L_cat
    return faces


def default_grid(params: CellParameters, current_density: float) -> Grid:
    """The grid :func:`simulate` uses when none is given: converged to ~0.1 % in energy.

    * r: shells stretched towards the surface (:class:`Grid`) with
      ``β = ln(1 + 50 R / ℓ)``, ``ℓ = sqrt(D Q / I)`` the diffusion length over a full
      discharge, and ``n_r = max(20, 12 β)``: about 12 shells per e-fold of depth from
      ℓ/50 to R, however thin ℓ is;
    * x: a discharge limited by the smaller effective conductivity reaches the depth
      ``δ`` (:func:`front_depth`), and its energy moves in steps as the front crosses
      cell faces. Where ``δ`` is under half the cathode, ``FRONT_CELLS`` equal cells
      (more where the reaction zone ``λ`` is thinner than ``δ / 16``, up to
      ``MAX_CELLS / 2``) fill the depth ``δ`` from the limiting side, and beyond it each
      cell grows by ``TAIL_GROWTH``, so that a cell there is about a tenth of its
      distance from that side. Otherwise all cells are equal: ``FRONT_CELLS L / δ`` of
      them, or 5 per reaction zone ``λ = sqrt(R_k / (a (1/σ + 1/κ)))`` (``R_k`` the
      linearised interface resistance) up to 120, whichever is more, and at least 20.
      A graded cathode keeps equal cells (its slabs are whole cells): ``5 L / λ`` of
      them, 20 to 120, rounded up to whole slabs; so does a κ(θ) cathode, whose
      limiting side and front depth move as κ falls with the lithiation (λ at the least
      κ; with the front's cells instead, 50 µm of the improved set at 1 mA/cm² moved
      2 % on doubling the grid, with these 0.1 %);
    * t: 200 nominal steps per full capacity, and a step never lets the voltage move by
      more than ``(v_max - v_min) / n_t`` (see :func:`simulate`).

    The x-meshes before this one, equal cells and cells growing by exp(1.5) from end
    to end, moved the worst energy of the convergence sweep by 5.1 % and 0.58 % on
    doubling the grid (benchmarks/cell_convergence.py; this mesh: benchmarks/RESULTS.md).

    Examples
    --------
    >>> from microsim.cell.parameters import state_of_the_art
    >>> g = default_grid(state_of_the_art(), 10.0)
    >>> g.n_r > 10 and g.stretch > 1
    True
    """
    p = params
    beta = _stretch(p, current_density)
    n_r = max(20, math.ceil(12 * beta))
    grid = Grid(n_x=20, n_r=n_r, n_t=200, stretch=beta)
    r_k = p.R_CT_at_T + p.R_SP_at_T  # Butler–Volmer: the small-signal resistance is at most R_CT
    values = p.cell_values(1)
    sigma, kappa, area = float(values["sigma_eff"][0]), float(values["kappa_eff"][0]), float(values["area_per_volume"][0])
    if p.kappa_CAM_function:  # the reaction zone is thinnest where κ(θ) is least
        kappa *= get_conductivity(p.kappa_CAM_function).extremes()[0] / p.kappa_CAM
    reaction = math.inf
    if sigma > 0 and kappa > 0 and area > 0 and r_k > 0:
        reaction = math.sqrt(r_k / (area * (1 / sigma + 1 / kappa)))
    length = p.L_cat
    if p.profile is not None and p.profile.slabs > 1:
        n_x = min(120, max(20, math.ceil(5 * length / reaction)))
        return replace(grid, n_x=p.profile.slabs * math.ceil(n_x / p.profile.slabs))
    if min(sigma, kappa) <= 0:
        return grid  # nothing flows (simulate says so)
    by_reaction = min(120, math.ceil(5 * length / reaction)) if math.isfinite(reaction) else 20
    if p.kappa_CAM_function:  # the limiting side and depth move with κ(θ): equal cells
        return replace(grid, n_x=max(20, by_reaction))
    depth = front_depth(p, current_density)
    if depth >= 0.5 * length:  # no front to follow: equal cells
        by_front = math.ceil(FRONT_CELLS * length / depth)
        return replace(grid, n_x=min(MAX_CELLS, max(20, by_front, by_reaction)))
    n_fine = min(MAX_CELLS // 2, max(FRONT_CELLS, math.ceil(5 * depth / reaction)))
    fine = depth
    finest = fine / n_fine
    n_tail = math.ceil(math.log1p((length - fine) * (TAIL_GROWTH - 1) / finest) / math.log(TAIL_GROWTH))
    n_tail = min(MAX_CELLS - n_fine, max(n_tail, 1))
    n_x = n_fine + n_tail
    return replace(grid, n_x=n_x, x_fine=fine / length, x_fine_cells=n_fine / n_x)


@dataclass(frozen=True)
class CellResult:
    """A simulated protocol; curves and figures of the final discharge.

    Attributes (SI unless the name says otherwise)
    ----------
    time, voltage, capacity : ndarray
        Discharge curve: seconds, volts, delivered charge [C/m^2].
    delivered_capacity : float [C/m^2]
    energy : float [J/m^2]
    utilisation : float
        Delivered charge over the charge of the window the simulation uses (start state
        to the cut-off on the OCV, :func:`~microsim.cell.energy.window_capacity`): <= 1.
    overpotentials : dict name -> V
        Time-averaged losses of the discharge (``LOSSES``) and ``open_circuit``.
    """

    protocol: str
    current_density: float
    time: np.ndarray
    voltage: np.ndarray
    capacity: np.ndarray
    delivered_capacity: float
    energy: float
    utilisation: float
    specific_energy_Wh_per_kg: float
    energy_density_Wh_per_L: float
    theoretical: TheoreticalEnergy
    overpotentials: dict[str, float]
    parameters: CellParameters
    charge_capacity: float | None = None
    profiles: dict[str, np.ndarray] | None = None
    steps: int = 0
    seconds: float = 0.0
    note: str = ""
    grid: Grid = field(default_factory=Grid)
    window_energy: float | None = None
    loss_energy: dict[str, float] | None = None
    coarse_energy: float | None = None

    @property
    def mean_voltage(self) -> float | None:
        """Energy / capacity [V]; None when nothing was delivered."""
        return self.energy / self.delivered_capacity if self.delivered_capacity > 0 else None

    @property
    def energy_error(self) -> float | None:
        """Estimated discretisation error of ``energy`` [J/m^2]: ``|E - E_coarse|``
        (first-order Richardson from the solve on the grid halved in every count)."""
        return None if self.coarse_energy is None else abs(self.energy - self.coarse_energy)

    def _per_kg(self, joules: float) -> float:
        return joules / cell_stack(self.parameters).mass / J_PER_WH

    def _numerics(self) -> dict:
        g = self.grid
        error = self.energy_error
        return {
            "grid": {"n_x": g.n_x, "n_r": g.n_r, "n_t": g.n_t, "first_step": g.first_step, "stretch": g.stretch,
                     "x_fine": g.x_fine, "x_fine_cells": g.x_fine_cells},
            "coarse_grid": None if error is None else dict(zip(("n_x", "n_r", "n_t"), (
                (c := g.refined(0.5)).n_x, c.n_r, c.n_t))),
            "energy_error_estimate_Wh_per_kg": None if error is None else self._per_kg(error),
            "energy_relative_error_estimate": (None if error is None or self.energy <= 0
                                               else error / self.energy),
            "method": "finite volumes in x (equal fine cells over the front depth at the limiting side, growing beyond) and r (shells stretched towards the "
                      "surface), backward Euler with "
                      "voltage-limited steps, last step ending on the cut-off; error = |E - E(grid halved)|",
        }

    @property
    def theoretical_specific_energy_Wh_per_kg(self) -> float:
        """The theoretical energy on the simulation's own window (the nominal-voltage
        figure when no window was integrated) [Wh/kg]: delivered never exceeds it."""
        if self.window_energy is None:
            return self.theoretical.specific_energy_Wh_per_kg
        return self._per_kg(self.window_energy)

    def _accounting(self) -> dict:
        """Theoretical energy on the simulation's own window, and where the rest went."""
        nominal = self.theoretical
        if self.window_energy is None:
            return {}
        stack = cell_stack(self.parameters)
        return {
            "theoretical_specific_energy_Wh_per_kg": self._per_kg(self.window_energy),
            "theoretical_energy_density_Wh_per_L": self.window_energy / stack.thickness / J_PER_WH / 1000.0,
            "theoretical_nominal_specific_energy_Wh_per_kg": nominal.specific_energy_Wh_per_kg,
            "theoretical_nominal_energy_density_Wh_per_L": nominal.energy_density_Wh_per_L,
            "theoretical_accounting": "open-circuit potential integrated over the lithiation window the simulation "
                                      "uses (from its start state to the discharge cut-off); 'nominal': full capacity "
                                      "x the CAM's nominal voltage",
            "losses_Wh_per_kg": {k: self._per_kg(v) for k, v in (self.loss_energy or {}).items()},
        }

    def to_dict(self, *, curve_points: int = 200) -> dict:
        """JSON-ready record (mA/cm², mAh/cm², Wh/kg, Wh/L, mV in the key names)."""
        take = np.unique(np.linspace(0, len(self.time) - 1, min(curve_points, len(self.time))).astype(int))
        p = self.parameters
        return {
            "protocol": self.protocol,
            "current_density_mA_per_cm2": self.current_density / 10.0,
            "thickness_um": round(p.L_cat * 1e6, 9),
            "parameter_set": p.name,
            "specific_energy_Wh_per_kg": self.specific_energy_Wh_per_kg,
            "energy_density_Wh_per_L": self.energy_density_Wh_per_L,
            "utilisation": self.utilisation,
            "capacity_mAh_per_cm2": mAh_per_cm2(self.delivered_capacity),
            "energy_mWh_per_cm2": mAh_per_cm2(self.energy),
            "mean_voltage_V": self.mean_voltage,
            "open_circuit_voltage_V": self.overpotentials.get("open_circuit") if self.delivered_capacity > 0 else None,
            "charge_capacity_mAh_per_cm2": None if self.charge_capacity is None else mAh_per_cm2(self.charge_capacity),
            **self.theoretical.to_dict(),
            **self._accounting(),
            "overpotentials_mV": {k: v * 1e3 for k, v in self.overpotentials.items()},
            "effective_properties": {
                "sigma_eff_SE_S_per_m": p.sigma_eff_SE,
                "kappa_eff_CAM_S_per_m": p.kappa_eff_CAM,
                "interface_area_per_volume_per_m": p.interface_area,
            },
            "temperature_C": celsius(p.temperature),
            "at_temperature": p.at_temperature(),
            "curve": {
                "capacity_mAh_per_cm2": mAh_per_cm2(self.capacity[take]).tolist(),
                "voltage_V": self.voltage[take].tolist(),
            },
            "note": self.note,
            "grid": {"n_x": self.grid.n_x, "n_r": self.grid.n_r, "n_t": self.grid.n_t},
            "numerics": self._numerics(),
            "steps": self.steps,
            "seconds": self.seconds,
            "parameters": p.to_dict(),
        }


def _depths(radius: float, n: int, stretch: float) -> np.ndarray:
    """Depths of the ``n + 1`` shell faces under the surface, 0 to ``radius``."""
    k = np.arange(n + 1) / n
    if stretch < 1e-8:
        return radius * k
    return radius * np.expm1(stretch * k) / math.expm1(stretch)


class _Cell:
    """Discretised cell: the matrices of a step.

    With constant D and κ they do not change between steps (the particle operator
    depends on the step length only). With ``D_CAM_function`` each cell's shells get
    their own conductances and with ``kappa_CAM_function`` the electronic resistances
    follow each cell's mean lithiation; both are lagged — evaluated at the state at the
    start of the step — so the step stays linear in the shells and first order in
    time, like backward Euler itself.
    """

    def __init__(self, p: CellParameters, grid: Grid):
        self.p, self.grid = p, grid
        cam = get_material(p.cam)
        self.ocv = get_ocv(p.ocv_name)
        self.c_max = cam.volumetric_capacity / FARADAY  # mol/m^3 of CAM over the window
        self.capacity = cell_stack(p).capacity  # C/m^2
        self.rt_f = GAS_CONSTANT * p.temperature / FARADAY
        # the set's values at the cell's temperature (Arrhenius; the same at 298.15 K)
        self.sigma_sep, self.r_ct, self.r_sp, self.r_li = p.sigma_SE_at_T, p.R_CT_at_T, p.R_SP_at_T, p.R_Li_at_T
        d_cam = p.D_CAM_at_T
        n = grid.n_x
        self.x_faces = x_faces(p, grid)
        dx = np.diff(self.x_faces)  # cell widths [m]
        values = p.cell_values(n)
        sigma, kappa, area = values["sigma_eff"], values["kappa_eff"], values["area_per_volume"]
        self.a_dx = area * dx
        # each cell's interface current, spread over the surface of its spheres: the CAM
        # takes a j per volume, a sphere's surface/volume is 3/R_p
        self.flux_factor = area * p.particle_radius / (3.0 * values["eps_CAM"])
        r_e = dx[:-1] / (2 * sigma[:-1]) + dx[1:] / (2 * sigma[1:])
        self.r_e_left = dx[0] / (2 * sigma[0])
        self.r_e = r_e
        cum_e = np.concatenate([[0.0], np.cumsum(r_e)])
        i, m = np.indices((n, n))
        self.p_e = self.r_e_left + cum_e[np.minimum(i, m)]
        self._kappa_eff = kappa  # at the set's kappa_CAM; κ(θ) scales it per step
        self._kappa_function = get_conductivity(p.kappa_CAM_function) if p.kappa_CAM_function else None
        self._electronic(kappa)
        # particle shells, from the centre (0) to the surface (n_r - 1)
        radius, nr = p.particle_radius, grid.n_r
        faces = radius - _depths(radius, nr, grid.stretch)[::-1]
        faces[0], faces[-1] = 0.0, radius
        self.faces = faces
        self.shell_volume = 4.0 / 3.0 * math.pi * (faces[1:] ** 3 - faces[:-1] ** 3)
        self.surface = 4.0 * math.pi * radius**2
        centres = 0.5 * (faces[1:] + faces[:-1])
        # conductance of each inner face [m^3/s]: flux = g (θ_k - θ_k+1)
        self.conductance = d_cam * 4.0 * math.pi * faces[1:-1] ** 2 / np.diff(centres)
        # θ_surf - θ_last per unit interface current [A/m^2] on the sphere surface
        self.surface_gap = (radius - centres[-1]) / (d_cam * FARADAY * self.c_max)
        self.source = self.surface / (FARADAY * self.c_max)  # d(V θ)/dt of the last shell per unit current
        self._dt = None
        # D(θ): the same conductances per unit D, evaluated per face, cell and step
        self._diffusivity = None
        if p.D_CAM_function:  # D(θ, T) = D_function(θ) · the Arrhenius factor of D_CAM
            function, arrhenius = get_diffusivity(p.D_CAM_function), p.D_CAM_at_T / p.D_CAM
            self._diffusivity = lambda theta: function(theta) * arrhenius
        self._geometry = 4.0 * math.pi * faces[1:-1] ** 2 / np.diff(centres)  # [m]
        self._gap_length = (radius - centres[-1]) / (FARADAY * self.c_max)

    def _electronic(self, kappa: np.ndarray) -> None:
        """Electronic resistances and the coupling matrix for per-cell ``kappa`` [S/m]."""
        n, dx = len(kappa), np.diff(self.x_faces)
        r_s = dx[:-1] / (2 * kappa[:-1]) + dx[1:] / (2 * kappa[1:])
        self.r_s_right = dx[-1] / (2 * kappa[-1])
        self.r_s = r_s
        cum_s = np.concatenate([[0.0], np.cumsum(r_s)])
        i, m = np.indices((n, n))
        self.p_s = cum_s[np.maximum(i, m)] - cum_s[m]
        self.coupling = (self.p_s - self.p_e) * self.a_dx[None, :]

    def _lag_conductivity(self, theta: np.ndarray) -> None:
        """κ_eff per cell from κ(θ) at each cell's mean lithiation at the step start:
        ``kappa_eff · κ(θ_cell) / kappa_CAM`` (see :class:`CellParameters`)."""
        mean = theta @ self.shell_volume / self.shell_volume.sum()
        self._electronic(self._kappa_eff * self._kappa_function(mean) / self.p.kappa_CAM)

    def _prepare(self, dt: float) -> None:
        """Flux form of one backward-Euler step of the shells (never an inverse).

        The unknowns are the fluxes ``F`` through the inner faces; the shells follow as
        ``θ_new = θ_old + dt/V (F_in - F_out + source)``, so the lithium each step adds
        is the source to round-off however stiff the diffusion is. ``F`` solves the
        symmetric tridiagonal system ``(1/g + dt/V_k + dt/V_k+1) F_f - dt/V_k F_f-1 -
        dt/V_k+1 F_f+1 = θ_old,k - θ_old,k+1 (- dt source / V_last on the last face)``,
        which is diagonally dominant in both limits (slow diffusion: 1/g; fast: dt/V).
        """
        if dt == self._dt:
            return
        if self._diffusivity is not None:
            raise RuntimeError("a D(θ) cell prepares its step from the state: call _prepare_lagged")
        v, nr = self.shell_volume, self.grid.n_r
        self._dt = dt
        if nr == 1:
            self._bands = None
            self._w = np.array([dt * self.source / v[0]])
        else:
            bands = np.zeros((3, nr - 1))
            bands[1] = 1.0 / self.conductance + dt / v[:-1] + dt / v[1:]
            bands[0, 1:] = -dt / v[1:-1]  # super-diagonal: F_f+1 enters face f with -dt/V_f+1
            bands[2, :-1] = -dt / v[1:-1]  # sub-diagonal: F_f-1 enters face f with -dt/V_f
            self._bands = bands
            rhs = np.zeros(nr - 1)
            rhs[-1] = -dt * self.source / v[-1]
            flux = scipy.linalg.solve_banded((1, 1), bands, rhs)
            w = self._divergence(flux) * dt / v
            w[-1] += dt * self.source / v[-1]
            self._w = w  # θ_new - θ_base per unit current on the sphere surface
        self._g = (self._w[-1] + self.surface_gap) * self.flux_factor  # θ_surf per unit j, per cell

    def _prepare_lagged(self, dt: float, theta: np.ndarray) -> None:
        """:meth:`_prepare` with D(θ): every cell its own tridiagonal system.

        The conductance of a face uses D at the mean of its two shells' θ, the surface
        gap (half a shell to the surface) D at the surface shell, both at the step start
        (lagged: the step stays linear; first order in time). The flux form is kept, so
        the lithium each step adds is the source to round-off for any conductances. The
        ``n_x`` systems are one block-diagonal banded system (zero couplings between the
        blocks), solved by one LAPACK call (:func:`scipy.linalg.solve_banded`).

        ``self._diffusivity(θ)`` carries the temperature: ``D(θ, T) = D_function(θ) ·
        arrhenius(T)``, the factor of ``D_CAM`` on the constant path.
        """
        v, (n, nr) = self.shell_volume, theta.shape
        self._dt = None
        gap = self._gap_length / self._diffusivity(theta[:, -1])
        if nr == 1:
            self._bands = None
            self._w = np.array([dt * self.source / v[0]])
        else:
            conductance = self._diffusivity(0.5 * (theta[:, :-1] + theta[:, 1:])) * self._geometry
            bands = np.zeros((3, n * (nr - 1)))
            bands[1] = (1.0 / conductance + dt / v[:-1] + dt / v[1:]).ravel()
            coupling = -dt / v[1:-1]
            bands[0] = np.tile(np.concatenate([[0.0], coupling]), n)  # nothing couples across a block start
            bands[2] = np.tile(np.concatenate([coupling, [0.0]]), n)  # ... nor across a block end
            self._bands = bands
            rhs = np.zeros((n, nr - 1))
            rhs[:, -1] = -dt * self.source / v[-1]
            flux = scipy.linalg.solve_banded((1, 1), bands, rhs.ravel()).reshape(n, nr - 1)
            w = self._divergence(flux) * (dt / v)
            w[:, -1] += dt * self.source / v[-1]
            self._w = w  # per cell: θ_new - θ_base per unit current on the sphere surface
        self._g = (self._w[..., -1] + gap) * self.flux_factor

    @staticmethod
    def _divergence(flux: np.ndarray) -> np.ndarray:
        """Net inflow of each shell from the inner-face fluxes (last axis: faces)."""
        pad = [(0, 0)] * (flux.ndim - 1)
        return np.pad(flux, [*pad, (1, 0)]) - np.pad(flux, [*pad, (0, 1)])

    def _base(self, theta: np.ndarray, dt: float) -> np.ndarray:
        """Shells after a step without interface current (pure redistribution)."""
        if self._bands is None:
            return theta.copy()
        if self._diffusivity is not None:  # one block-diagonal system (see _prepare_lagged)
            flux = scipy.linalg.solve_banded((1, 1), self._bands, (theta[:, :-1] - theta[:, 1:]).ravel())
            return theta + self._divergence(flux.reshape(theta.shape[0], -1)) * (dt / self.shell_volume)
        flux = scipy.linalg.solve_banded((1, 1), self._bands, (theta[:, :-1] - theta[:, 1:]).T).T
        return theta + self._divergence(flux) * (dt / self.shell_volume)

    def anode(self, current: float) -> float:
        if self.r_li == 0:
            return 0.0
        return 2 * self.rt_f * math.asinh(current * self.r_li / (2 * self.rt_f))

    def _charge_transfer(self, j):
        if self.r_ct == 0:
            return np.zeros_like(j), np.zeros_like(j)
        k = self.r_ct / (2 * self.rt_f)
        return 2 * self.rt_f * np.arcsinh(k * j), 2 * self.rt_f * k / np.sqrt(1 + (k * j) ** 2)

    def step(self, theta: np.ndarray, dt: float, current: float, guess: tuple[np.ndarray, float]):
        """Advance one backward-Euler step; return (theta, j, phi_s1, details)."""
        if self._diffusivity is None:
            self._prepare(dt)
        else:
            self._prepare_lagged(dt, theta)
        if self._kappa_function is not None:
            self._lag_conductivity(theta)
        base = self._base(theta, dt)
        s0 = base[:, -1]
        p = self.p
        phi_e_left = -self.anode(current) - current * p.L_sep / self.sigma_sep
        j, phi_s1 = guess[0].copy(), guess[1]
        n = len(j)
        jac = np.zeros((n + 1, n + 1))
        jac[:n, n] = -1.0
        jac[n, :n] = self.a_dx
        scale = max(abs(current), 1e-12)

        def residual(j, phi_s1):
            eta, deta = self._charge_transfer(j)
            surf = s0 + self._g * j
            delta = phi_s1 - self.coupling @ j - phi_e_left  # φ_s - φ_e per cell
            res = np.empty(n + 1)
            res[:n] = self.ocv(surf) - delta - self.r_sp * j - eta
            res[n] = (self.a_dx @ j - current) / scale
            return res, surf, deta

        res, surf, deta = residual(j, phi_s1)
        last_moved = math.inf
        for _ in range(60):
            jac[:n, :n] = self.coupling
            jac[np.arange(n), np.arange(n)] += self.ocv.derivative(surf) * self._g - self.r_sp - deta
            jac[n, :n] = self.a_dx / scale
            update = np.linalg.solve(jac, -res)
            norm = np.max(np.abs(res))
            step = 1.0
            while True:  # damped Newton: never accept a larger residual
                j_new, phi_new = j + step * update[:n], phi_s1 + step * update[n]
                res_new, surf_new, deta_new = residual(j_new, phi_new)
                if np.max(np.abs(res_new)) <= norm or step < 1e-4:
                    break
                step /= 2
            j, phi_s1, res, surf, deta = j_new, phi_new, res_new, surf_new, deta_new
            moved = np.max(np.abs(step * update[:n]))
            if np.max(np.abs(res)) < 1e-10 and (moved <= 1e-9 * (np.max(np.abs(j)) + 1e-12)
                                                or moved >= 0.5 * last_moved):
                break  # converged, or at round-off: the residual is 1e-10 and the steps no longer shrink
            last_moved = moved
        else:
            raise ConvergenceError(f"the cell model did not converge in a step of {dt:.3g} s at {current:.3g} A/m^2")
        theta_new = base + (self.flux_factor * j)[:, None] * self._w  # _w: one row for all cells, or one per cell
        return theta_new, j, phi_s1, (surf, phi_e_left)

    def voltage(self, j, phi_s1, current) -> float:
        s = self.a_dx * j
        phi_s_last = phi_s1 - (self.p_s[-1] @ s)
        return phi_s_last - self.r_s_right * current

    def losses(self, theta, j, surf, phi_e_left, current) -> dict[str, float]:
        """Power losses divided by the current [V] (see the module notes)."""
        s = self.a_dx * j
        theta_avg = theta @ self.shell_volume / self.shell_volume.sum()
        u_avg, u_surf = self.ocv(theta_avg), self.ocv(surf)
        i_e = np.cumsum(s[::-1])[::-1]  # ionic current entering each cell from the left
        i_s = np.cumsum(s)  # electronic current leaving each cell to the right
        p_e = self.r_e_left * i_e[0] ** 2 + np.sum(self.r_e * i_e[1:] ** 2)
        p_s = np.sum(self.r_s * i_s[:-1] ** 2) + self.r_s_right * current**2
        eta, _ = self._charge_transfer(j)
        return {
            "open_circuit": float(s @ u_avg / current),
            "separator_ionic": current * self.p.L_sep / self.sigma_sep,
            "cathode_ionic": p_e / current,
            "electronic": p_s / current,
            "charge_transfer": float(s @ eta / current),
            "interphase": float(s @ (self.r_sp * j) / current),
            "solid_diffusion": float(s @ (u_avg - u_surf) / current),
            "anode": self.anode(current),
        }


@dataclass
class _Run:
    """One constant-current leg: curve, final state and its time integrals."""

    curve: tuple[np.ndarray, np.ndarray, np.ndarray]
    theta: np.ndarray
    energies: dict[str, float]  # J/m^2: "delivered", "open_circuit" and each of LOSSES
    steps: int
    profiles: dict | None
    at_once: dict[str, float] | None = None  # load-on voltage and losses [V] when the cut-off is reached at once


def _run(cell: _Cell, theta, current, cutoff, record: bool) -> _Run:
    """Constant current until ``cutoff``; the last step is shortened to end on it.

    Every figure is one quadrature of the backward-Euler steps: the step-end voltage,
    open-circuit potential and losses times the charge of the step. Their power balance
    holds in every step, so the mean open circuit minus the mean voltage is the sum of
    the mean losses to the Newton tolerance. Steps start at ``first_step`` × the
    nominal step, at most double, never exceed ``t_nominal / n_t`` and never let the
    voltage move by more than ``(v_max - v_min) / n_t``.
    """
    grid, p = cell.grid, cell.p
    t_nominal = cell.capacity / abs(current)
    dt_max = t_nominal / grid.n_t
    dv_max = (p.v_max - p.v_min) / grid.n_t
    dt = dt_max * grid.first_step
    guess = (np.full(grid.n_x, current / cell.a_dx.sum()), float(cell.ocv(theta[:, -1]).mean()))
    times, volts, charge = [0.0], [float(cell.ocv(theta[:, -1]).mean())], [0.0]
    sums = dict.fromkeys(("delivered", "open_circuit", *LOSSES), 0.0)
    profiles = {"phi_e": [], "reaction_current": [], "lithiation": [], "time": []} if record else None
    outside = (lambda v: v < cutoff) if current > 0 else (lambda v: v > cutoff)
    magnitude = abs(current)

    def attempt(tau):
        try:
            out = cell.step(theta, tau, current, guess)
        except ConvergenceError:
            return None, None
        return out, cell.voltage(out[1], out[2], current)

    at_once = None
    steps = 0
    for steps in range(1, 50 * grid.n_t + 200):
        out, v = attempt(dt)
        crossed = v is None or outside(v)
        tau = dt
        if crossed:
            if steps == 1:  # the loaded voltage at the first instant
                lo = dt * 1e-9
                out_lo, v_lo = attempt(lo)
                if v_lo is None or outside(v_lo):
                    at_once = {"voltage": v_lo}
                    if out_lo is not None:
                        at_once.update(cell.losses(out_lo[0], out_lo[1], *out_lo[3], current))
                    break
            else:
                lo, v_lo = 0.0, volts[-1]
            hi, v_hi = dt, v
            for _ in range(60):  # regula falsi (Illinois) on the step length, bisection without a voltage
                if v_hi is None:
                    tau = 0.5 * (lo + hi)
                else:
                    tau = hi - (v_hi - cutoff) * (hi - lo) / (v_hi - v_lo)
                    tau = min(max(tau, lo + 1e-3 * (hi - lo)), hi - 1e-3 * (hi - lo))
                out, v = attempt(tau)
                if v is not None and abs(v - cutoff) < 1e-7:
                    break
                if v is not None and lo == 0.0 and tau < 1e-9 * dt:
                    # lagged D(θ) or κ(θ): the voltage jumps by O(dt) from one step's end to the
                    # next step's start; the cut-off lay inside that jump, so the leg ends here
                    break
                if v is None or outside(v):
                    hi, v_hi = tau, v
                    if v_hi is not None:
                        v_lo = cutoff + 0.5 * (v_lo - cutoff)  # Illinois: halve the kept end's weight
                else:
                    lo, v_lo = tau, v
                    if v_hi is not None:
                        v_hi = cutoff + 0.5 * (v_hi - cutoff)
            else:
                raise ConvergenceError(f"the cut-off {cutoff} V was not located at {current:.3g} A/m^2")
        theta_new, j, phi_s1, (surf, phi_e_left) = out
        for name, value in cell.losses(theta_new, j, surf, phi_e_left, current).items():
            sums[name] += value * magnitude * tau
        sums["delivered"] += v * magnitude * tau
        times.append(times[-1] + tau)
        volts.append(float(v))
        charge.append(charge[-1] + magnitude * tau)
        if record:
            profiles["time"].append(times[-1])
            profiles["phi_e"].append(phi_e_left - (cell.p_e @ (cell.a_dx * j)))
            profiles["reaction_current"].append(j.copy())
            profiles["lithiation"].append(theta_new @ cell.shell_volume / cell.shell_volume.sum())
        if crossed:
            theta = theta_new
            break
        factor = 2.0
        if grid.adaptive and steps > 1 and volts[-1] != volts[-2]:
            factor = min(2.0, max(0.25, dv_max / abs(volts[-1] - volts[-2])))
        theta, guess = theta_new, (j, phi_s1)
        dt = min(dt * factor, dt_max)
    else:
        raise ConvergenceError(f"no cut-off after {steps} steps at {current:.3g} A/m^2")
    curve = (np.array(times), np.array(volts), np.array(charge))
    return _Run(curve, theta, sums, steps, profiles, at_once)


def simulate(
    params: CellParameters,
    current_density: float,
    *,
    protocol: str = "discharge",
    grid: Grid | None = None,
    profiles: bool = False,
    error_estimate: bool = True,
) -> CellResult:
    """Simulate a constant-current protocol and return energy figures and curves.

    Parameters
    ----------
    params : CellParameters
    current_density : float [A/m^2]
        Magnitude of the discharge (and charge) current; 10 A/m^2 = 1 mA/cm^2.
    protocol : ``"discharge"`` or ``"charge-discharge"``
        ``discharge``: from the fully charged, rested state (θ = 0) to ``v_min``.
        ``charge-discharge``: from the as-built lithiated state (θ = 1), constant-current
        charge to ``v_max``, then at once the discharge to ``v_min``.
    grid : Grid, optional
        Default :func:`default_grid` (converged); a stretch of ``None`` takes the physics' one.
    profiles : bool
        Keep x-profiles of φ_e [V], reaction current j [A/m^2] and mean lithiation per
        step in ``result.profiles`` (with ``x`` [m] and ``time`` [s]).
    error_estimate : bool
        Solve once more on the grid halved in every count; ``to_dict()["numerics"]``
        then carries ``|E - E_coarse|`` as the (first-order Richardson) error estimate.

    Returns
    -------
    CellResult
        A cell with no ionic or electronic path (σ_eff or κ_eff = 0) is a result with
        zero capacity and energy and a ``note`` saying why.

    Examples
    --------
    >>> from microsim.cell.parameters import improved
    >>> r = simulate(improved(), 10.0)          # 1 mA/cm^2, 50 µm
    >>> r.utilisation > 0.98
    True
    """
    if protocol not in PROTOCOLS:
        raise InvalidInputError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    try:
        current = float(current_density)
    except (TypeError, ValueError):
        raise InvalidInputError(f"current density must be a number in A/m^2, got {current_density!r}") from None
    if not (math.isfinite(current) and current > 0):
        raise InvalidInputError(
            f"current density must be positive (its magnitude; the protocol sets the sign), got {current_density!r}"
        )
    grid = grid or default_grid(params, current)
    started = time.perf_counter()
    theory = theoretical_energy(params)
    stack = cell_stack(params)
    if params.sigma_eff_SE <= 0 or params.kappa_eff_CAM <= 0 or params.interface_area <= 0:
        which = ("ionic (SE) path" if params.sigma_eff_SE <= 0 else
                 "electronic (CAM) path" if params.kappa_eff_CAM <= 0 else "CAM|SE interface")
        empty = np.zeros(1)
        return CellResult(
            protocol, current, empty, np.full(1, params.v_min), empty, 0.0, 0.0, 0.0, 0.0, 0.0, theory,
            dict.fromkeys(("open_circuit", *LOSSES), 0.0), params, profiles=None, grid=grid,
            note=f"no {which} in the cathode (effective conductivity or area 0): the cell delivers nothing",
            seconds=time.perf_counter() - started,
            window_energy=(window := window_energy(params, start=_start(protocol))),
            loss_energy={**dict.fromkeys(LOSSES, 0.0), "capacity_unused": window},
        )
    grid = grid.resolved(params, current)
    result = _simulate(params, current, protocol, grid, profiles, theory, stack, started)
    if error_estimate and result.delivered_capacity > 0:
        coarse = _simulate(params, current, protocol, grid.refined(0.5), False, theory, stack, time.perf_counter())
        result = replace(result, coarse_energy=coarse.energy, seconds=time.perf_counter() - started)
    return result


def _simulate(params, current, protocol, grid, profiles, theory, stack, started) -> CellResult:
    cell = _Cell(params, grid)
    charge_capacity = None
    steps = 0
    notes = []
    if protocol == "charge-discharge":
        theta = np.ones((grid.n_x, grid.n_r))
        leg = _run(cell, theta, -current, params.v_max, False)
        theta, steps = leg.theta, leg.steps
        charge_capacity = float(leg.curve[2][-1])
        if leg.at_once is not None:
            notes.append(_at_once_note("charge", params.v_max, leg.at_once))
    else:
        theta = np.zeros((grid.n_x, grid.n_r))
    leg = _run(cell, theta, current, params.v_min, profiles)
    t, v, q = leg.curve
    delivered = float(q[-1])
    sums = {k: float(v) for k, v in leg.energies.items()}
    energy = sums["delivered"]
    if delivered > 0:
        losses = {k: sums[k] / delivered for k in ("open_circuit", *LOSSES)}
    else:
        losses = dict.fromkeys(("open_circuit", *LOSSES), 0.0)
    if leg.at_once is not None:
        notes.append(_at_once_note("discharge", params.v_min, leg.at_once))
    window = window_energy(params, start=_start(protocol))
    loss_energy = {k: sums[k] for k in LOSSES}
    loss_energy["capacity_unused"] = window - sums["open_circuit"]
    out_profiles = None
    if leg.profiles is not None:
        faces = x_faces(params, grid)
        out_profiles = {k: np.array(val) for k, val in leg.profiles.items()}
        out_profiles["x"] = 0.5 * (faces[1:] + faces[:-1])
    return CellResult(
        protocol=protocol,
        current_density=current,
        time=t,
        voltage=v,
        capacity=q,
        delivered_capacity=delivered,
        energy=energy,
        utilisation=delivered / window_capacity(params, start=_start(protocol)),
        specific_energy_Wh_per_kg=energy / stack.mass / J_PER_WH,
        energy_density_Wh_per_L=energy / stack.thickness / J_PER_WH / 1000.0,
        theoretical=theory,
        overpotentials=losses,
        parameters=params,
        charge_capacity=charge_capacity,
        profiles=out_profiles,
        steps=steps + leg.steps,
        seconds=time.perf_counter() - started,
        note="; ".join(notes),
        grid=grid,
        window_energy=window,
        loss_energy=loss_energy,
    )


def _start(protocol: str) -> str:
    return "v_max" if protocol == "charge-discharge" else "charged"


def _at_once_note(leg: str, cutoff: float, at_once: dict) -> str:
    v = at_once.get("voltage")
    named = {k: at_once[k] for k in LOSSES if k in at_once}
    text = f"the {leg} reaches its {cutoff:g} V cut-off as soon as the current flows"
    if v is not None and named:
        largest = max(named, key=lambda k: abs(named[k]))
        text += f" (load-on voltage {v:.3f} V; largest loss {largest} {named[largest]:.3f} V)"
    return text + ": nothing delivered" if leg == "discharge" else text + ": nothing charged"
