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
  ``V = φ_s(L_cat) - φ_Li`` with ``φ_e(0) = φ_Li - η_Li - I L_sep / σ_SE``.

Numerics: cell-centred finite volumes in x (``n_x`` cells) and r (``n_r`` shells of
equal thickness), backward Euler in time. Each step eliminates the (linear)
diffusion exactly — the surface lithiation is an affine function of the cell's
reaction current — and the potentials, which are linear in the reaction currents
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
from dataclasses import dataclass, field

import numpy as np

from microsim.cell.energy import TheoreticalEnergy, cell_stack, theoretical_energy
from microsim.cell.ocv import get_ocv
from microsim.constants import FARADAY, GAS_CONSTANT, J_PER_WH, mAh_per_cm2
from microsim.cell.parameters import CellParameters, get_material
from microsim.errors import ConvergenceError, InvalidInputError

PROTOCOLS = ("discharge", "charge-discharge")
LOSSES = ("separator_ionic", "cathode_ionic", "electronic", "charge_transfer", "interphase",
          "solid_diffusion", "anode")


@dataclass(frozen=True)
class Grid:
    """Discretisation: cells in x, shells in r, nominal steps per full capacity."""

    n_x: int = 20
    n_r: int = 10
    n_t: int = 100
    first_step: float = 1e-3

    def __post_init__(self):
        if min(self.n_x, self.n_r, self.n_t) < 1 or not 0 < self.first_step <= 1:
            raise InvalidInputError(f"grid needs n_x, n_r, n_t >= 1 and 0 < first_step <= 1, got {self}")


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
        Delivered / theoretical capacity.
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

    @property
    def mean_voltage(self) -> float:
        return self.energy / self.delivered_capacity if self.delivered_capacity > 0 else 0.0

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
            "charge_capacity_mAh_per_cm2": None if self.charge_capacity is None else mAh_per_cm2(self.charge_capacity),
            **self.theoretical.to_dict(),
            "overpotentials_mV": {k: v * 1e3 for k, v in self.overpotentials.items()},
            "effective_properties": {
                "sigma_eff_SE_S_per_m": p.sigma_eff_SE,
                "kappa_eff_CAM_S_per_m": p.kappa_eff_CAM,
                "interface_area_per_volume_per_m": p.interface_area,
            },
            "curve": {
                "capacity_mAh_per_cm2": mAh_per_cm2(self.capacity[take]).tolist(),
                "voltage_V": self.voltage[take].tolist(),
            },
            "note": self.note,
            "grid": {"n_x": self.grid.n_x, "n_r": self.grid.n_r, "n_t": self.grid.n_t},
            "steps": self.steps,
            "seconds": self.seconds,
            "parameters": p.to_dict(),
        }


class _Cell:
    """Discretised cell: matrices that do not change between steps."""

    def __init__(self, p: CellParameters, grid: Grid):
        self.p, self.grid = p, grid
        cam = get_material(p.cam)
        self.ocv = get_ocv(cam.ocv)
        self.c_max = cam.volumetric_capacity / FARADAY  # mol/m^3 of CAM over the window
        self.capacity = cell_stack(p).capacity  # C/m^2
        self.rt_f = GAS_CONSTANT * p.temperature / FARADAY
        n = grid.n_x
        dx = p.L_cat / n
        values = p.cell_values(n)
        sigma, kappa, area = values["sigma_eff"], values["kappa_eff"], values["area_per_volume"]
        self.a_dx = area * dx
        # each cell's interface current, spread over the surface of its spheres: the CAM
        # takes a j per volume, a sphere's surface/volume is 3/R_p
        self.flux_factor = area * p.particle_radius / (3.0 * values["eps_CAM"])
        r_e = dx / (2 * sigma[:-1]) + dx / (2 * sigma[1:])
        r_s = dx / (2 * kappa[:-1]) + dx / (2 * kappa[1:])
        self.r_e_left, self.r_s_right = dx / (2 * sigma[0]), dx / (2 * kappa[-1])
        self.r_e, self.r_s = r_e, r_s
        cum_e = np.concatenate([[0.0], np.cumsum(r_e)])
        cum_s = np.concatenate([[0.0], np.cumsum(r_s)])
        i, m = np.indices((n, n))
        self.p_e = self.r_e_left + cum_e[np.minimum(i, m)]
        self.p_s = cum_s[np.maximum(i, m)] - cum_s[m]
        self.coupling = (self.p_s - self.p_e) * self.a_dx[None, :]
        # particle shells
        radius, nr = p.particle_radius, grid.n_r
        faces = np.linspace(0.0, radius, nr + 1)
        self.shell_volume = 4.0 / 3.0 * math.pi * (faces[1:] ** 3 - faces[:-1] ** 3)
        self.surface = 4.0 * math.pi * radius**2
        dr = radius / nr
        g = p.D_CAM * 4.0 * math.pi * faces[1:-1] ** 2 / dr
        lap = np.zeros((nr, nr))
        idx = np.arange(nr - 1)
        lap[idx, idx] += g
        lap[idx + 1, idx + 1] += g
        lap[idx, idx + 1] -= g
        lap[idx + 1, idx] -= g
        self.laplacian = lap
        self.surface_gap = dr / (2 * p.D_CAM * FARADAY * self.c_max)  # θ_surf - θ_N per unit j
        self._dt = None

    def _prepare(self, dt: float) -> None:
        if dt == self._dt:
            return
        inverse = np.linalg.inv(np.diag(self.shell_volume / dt) + self.laplacian)
        self._carry = inverse * (self.shell_volume / dt)[None, :]  # θ_new = θ_old @ carry.T + j w
        self._w = inverse[:, -1] * self.surface / (FARADAY * self.c_max)
        self._g = (self._w[-1] + self.surface_gap) * self.flux_factor  # θ_surf per unit j, per cell
        self._dt = dt

    def anode(self, current: float) -> float:
        if self.p.R_Li == 0:
            return 0.0
        return 2 * self.rt_f * math.asinh(current * self.p.R_Li / (2 * self.rt_f))

    def _charge_transfer(self, j):
        if self.p.R_CT == 0:
            return np.zeros_like(j), np.zeros_like(j)
        k = self.p.R_CT / (2 * self.rt_f)
        return 2 * self.rt_f * np.arcsinh(k * j), 2 * self.rt_f * k / np.sqrt(1 + (k * j) ** 2)

    def step(self, theta: np.ndarray, dt: float, current: float, guess: tuple[np.ndarray, float]):
        """Advance one backward-Euler step; return (theta, j, phi_s1, details)."""
        self._prepare(dt)
        base = theta @ self._carry.T
        s0 = base[:, -1]
        p = self.p
        phi_e_left = -self.anode(current) - current * p.L_sep / p.sigma_SE
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
            res[:n] = self.ocv(surf) - delta - p.R_SP * j - eta
            res[n] = (self.a_dx @ j - current) / scale
            return res, surf, deta

        res, surf, deta = residual(j, phi_s1)
        for _ in range(60):
            jac[:n, :n] = self.coupling
            jac[np.arange(n), np.arange(n)] += self.ocv.derivative(surf) * self._g - p.R_SP - deta
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
            if np.max(np.abs(res)) < 1e-10 and np.max(np.abs(step * update[:n])) <= 1e-9 * (np.max(np.abs(j)) + 1e-12):
                break
        else:
            raise ConvergenceError(f"the cell model did not converge in a step of {dt:.3g} s at {current:.3g} A/m^2")
        theta_new = base + (self.flux_factor * j)[:, None] * self._w[None, :]
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
            "separator_ionic": current * self.p.L_sep / self.p.sigma_SE,
            "cathode_ionic": p_e / current,
            "electronic": p_s / current,
            "charge_transfer": float(s @ eta / current),
            "interphase": float(s @ (self.p.R_SP * j) / current),
            "solid_diffusion": float(s @ (u_avg - u_surf) / current),
            "anode": self.anode(current),
        }


def _run(cell: _Cell, theta, current, cutoff, record: bool):
    """Constant current until ``cutoff`` is crossed; returns the curve and the final state."""
    grid = cell.grid
    t_nominal = cell.capacity / abs(current)
    dt_max = t_nominal / grid.n_t
    dt = dt_max * grid.first_step
    guess = (np.full(grid.n_x, current / cell.a_dx.sum()), float(cell.ocv(theta[:, -1]).mean()))
    times, volts, charge = [0.0], [float(cell.ocv(theta[:, -1]).mean())], [0.0]
    sums = dict.fromkeys(("open_circuit", *LOSSES), 0.0)
    profiles = {"phi_e": [], "reaction_current": [], "lithiation": [], "time": []} if record else None
    below = (lambda v: v < cutoff) if current > 0 else (lambda v: v > cutoff)
    steps, fraction = 0, 1.0
    for steps in range(1, 20 * grid.n_t + 100):
        theta_new, j, phi_s1, (surf, phi_e_left) = cell.step(theta, dt, current, guess)
        v = cell.voltage(j, phi_s1, current)
        crossed = below(v)
        fraction = (volts[-1] - cutoff) / (volts[-1] - v) if crossed else 1.0
        fraction = min(max(fraction, 0.0), 1.0)
        for name, value in cell.losses(theta_new, j, surf, phi_e_left, current).items():
            sums[name] += value * dt * fraction
        times.append(times[-1] + dt * fraction)
        volts.append(cutoff if crossed else v)
        charge.append(charge[-1] + abs(current) * dt * fraction)
        if record:
            profiles["time"].append(times[-1])
            profiles["phi_e"].append(phi_e_left - (cell.p_e @ (cell.a_dx * j)))
            profiles["reaction_current"].append(j.copy())
            profiles["lithiation"].append(theta_new @ cell.shell_volume / cell.shell_volume.sum())
        theta, guess = theta_new, (j, phi_s1)
        if crossed:
            break
        dt = min(2 * dt, dt_max)
    else:
        raise ConvergenceError(f"no cut-off after {steps} steps at {current:.3g} A/m^2")
    duration = times[-1]
    averages = {k: (v / duration if duration > 0 else 0.0) for k, v in sums.items()}
    curve = (np.array(times), np.array(volts), np.array(charge))
    return curve, theta, averages, steps, profiles


def simulate(
    params: CellParameters,
    current_density: float,
    *,
    protocol: str = "discharge",
    grid: Grid | None = None,
    profiles: bool = False,
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
    profiles : bool
        Keep x-profiles of φ_e [V], reaction current j [A/m^2] and mean lithiation per
        step in ``result.profiles`` (with ``x`` [m] and ``time`` [s]).

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
    grid = grid or Grid()
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
        )
    cell = _Cell(params, grid)
    charge_capacity = None
    steps = 0
    if protocol == "charge-discharge":
        theta = np.ones((grid.n_x, grid.n_r))
        (_, _, charged), theta, _, steps, _ = _run(cell, theta, -current, params.v_max, False)
        charge_capacity = float(charged[-1])
    else:
        theta = np.zeros((grid.n_x, grid.n_r))
    (t, v, q), theta, losses, n_steps, recorded = _run(cell, theta, current, params.v_min, profiles)
    energy = float(np.sum(0.5 * (v[1:] + v[:-1]) * np.diff(q)))
    delivered = float(q[-1])
    out_profiles = None
    if recorded is not None:
        dx = params.L_cat / grid.n_x
        out_profiles = {k: np.array(val) for k, val in recorded.items()}
        out_profiles["x"] = (np.arange(grid.n_x) + 0.5) * dx
    return CellResult(
        protocol=protocol,
        current_density=current,
        time=t,
        voltage=v,
        capacity=q,
        delivered_capacity=delivered,
        energy=energy,
        utilisation=delivered / cell.capacity,
        specific_energy_Wh_per_kg=energy / stack.mass / J_PER_WH,
        energy_density_Wh_per_L=energy / stack.thickness / J_PER_WH / 1000.0,
        theoretical=theory,
        overpotentials=losses,
        parameters=params,
        charge_capacity=charge_capacity,
        profiles=out_profiles,
        steps=steps + n_steps,
        seconds=time.perf_counter() - started,
        grid=grid,
    )
