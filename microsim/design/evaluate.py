"""One design point with one seed: generate → solve → cell model, as one table row.

The chain for a point:

1. ``generate`` a sintered (or overlapping) CAM/SE/pore volume with the point's
   fractions, particle sizes, CAM gradient along axis 0 and SE grains;
2. take it through :func:`microsim.pipeline.run`: solve the SE (σ_SE of the parameter
   set, grain boundaries resolved when the point has them) and the CAM (κ_CAM) along
   the reported axes; cut the volume into ``slabs`` along axis 0 (the thickness) with
   their fractions, CAM|SE areas and local conductivities
   (:mod:`microsim.transport.profile`);
3. run the reduced P2D on that profile, stretched to the cell's cathode thickness (the
   volume is a representative element of the cathode, not the cathode itself), with
   the point's particle size (``couple_particle_size``) rather than the volume's local
   thickness: the point states the size it generated.
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np

from microsim.constants import S_PER_M_PER_S_PER_CM, mAh_per_cm2
from microsim.design.study import DesignPoint
from microsim.microstructure import Microstructure

log = logging.getLogger(__name__)

SE, CAM, PORE = "LLZO", "CAM", "pore"
S_PER_CM = 1 / S_PER_M_PER_S_PER_CM  # S/cm in one S/m


def generate_point(point: DesignPoint, seed: int) -> Microstructure:
    """The point's microstructure for ``seed`` (axis 0 = thickness, separator side at index 0)."""
    from microsim.generate import Gradient, LogNormal, generate

    v = point.values
    solid = 1.0 - v["porosity"]
    radius = {CAM: LogNormal(v["cam_d50"], v["cam_spread"]) if v["cam_spread"] > 0 else v["cam_d50"] / 2,
              SE: LogNormal(v["se_d50"], v["se_spread"]) if v["se_spread"] > 0 else v["se_d50"] / 2}
    fractions = {CAM: v["cam_fraction"], SE: solid - v["cam_fraction"]}
    gradient = Gradient(CAM, point.cam_profile) if v["cam_gradient"] != 0 else None
    return generate(v["shape"], fractions, radius, voxel_size=v["voxel_size"], packing=v["packing"],
                    overlap=v["overlap"], gradient=gradient, grain_size=v["grain_size"], seed=seed)


def cell_parameters(point: DesignPoint):
    """The point's cell parameters (set, overrides, thickness, particle size) before the
    volume is coupled in, and the names the point gives."""
    from microsim.cell.parameters import get_parameter_set, parameter_names

    v = point.values
    values = {k: v[k] for k in parameter_names() if k in v}
    values["L_cat"] = v["thickness"]
    if v["couple_particle_size"]:
        values["d50_CAM"] = v["cam_d50"]
    return get_parameter_set(v["parameter_set"]).with_values(**values), frozenset(values)


def evaluate(point: DesignPoint, seed: int, *, axes=(0,), slabs: int = 4, solver=None) -> dict:
    """Generate, solve and simulate one design point; return the output columns.

    The point's volume goes through :func:`microsim.pipeline.run` (solve → cell), the
    same chain as ``microsim run --cell``.

    Parameters
    ----------
    point : DesignPoint
    seed : int
    axes : sequence of int
        Transport axes reported (axis 0 is always solved: it feeds the cell model).
    slabs : int
        Slabs of the through-thickness profile handed to the cell model.
    solver : optional
        Linear solver for :func:`microsim.transport.solve_transport`.

    Returns
    -------
    dict
        Column name -> value: achieved fractions, per-axis σ_eff [S/cm], τ and β of the
        SE and the CAM, the CAM|SE area [1/µm], the cell's energy figures and the
        seconds of each stage. τ and β are ``inf`` for a phase that does not
        percolate (σ_eff = 0); a cell without an ionic path delivers 0 Wh/kg.
    """
    from microsim.cell import Grid
    from microsim.pipeline import Cell, Solve, run
    from microsim.transport.electrochem import transmission_line_asr

    started = time.perf_counter()
    params, given = cell_parameters(point)
    micro = generate_point(point, seed)
    generated = time.perf_counter()
    v = point.values
    gb = {SE: v["gb_resistance"]} if v["gb_resistance"] > 0 else {}
    grid = None if v["cell_grid"] is None else Grid(*v["cell_grid"], stretch=None, x_fine=None)
    cell_step = Cell(params, v["current_density"], given=given, protocol=v["protocol"], axis=0, slabs=slabs,
                     couple_particle_size=False, grid=grid)
    result = run(micro, measure=False, solve=Solve(axes=tuple(axes), grain_boundary_resistance=gb, solver=solver),
                 cell=cell_step, progress=log.debug)
    cell = result.cell[cell_step.current_density].result
    solved = time.perf_counter() - cell.seconds
    out: dict = {f"eps_{name}": micro.volume_fraction(name) for name in (CAM, SE, PORE)}
    out.update({f"sigma_bulk_{SE}_S_per_cm": params.sigma_SE * S_PER_CM,
                f"kappa_bulk_{CAM}_S_per_cm": params.kappa_CAM * S_PER_CM})
    for r in result.transport:
        if r.axis not in axes:
            continue
        symbol = "sigma_eff" if r.phase == SE else "kappa_eff"
        out[f"{symbol}_{r.phase}_axis{r.axis}_S_per_cm"] = r.sigma_eff * S_PER_CM
        out[f"tau_{r.phase}_axis{r.axis}"] = r.tortuosity_factor
        out[f"beta_{r.phase}_axis{r.axis}"] = r.bruggeman_exponent  # None when eps = 1
    areas = result.profile["area_per_volume_per_m"]
    out["area_CAM_LLZO_per_um"] = float(np.mean(areas)) * 1e-6
    coupled = cell.parameters
    r_interface = coupled.R_CT_at_T + coupled.R_SP_at_T  # at the cell's temperature, as the cell used them
    if min(coupled.sigma_eff_SE, coupled.kappa_eff_CAM, coupled.interface_area) > 0:
        asr = transmission_line_asr(coupled.sigma_eff_SE, coupled.kappa_eff_CAM, coupled.interface_area,
                                    r_interface, coupled.L_cat) * 1e4
    else:
        asr = math.inf
    out.update({
        "beta_GB_applied": 0.0 if gb else params.beta_GB,
        "sigma_eff_cell_S_per_cm": coupled.sigma_eff_SE * S_PER_CM,
        "kappa_eff_cell_S_per_cm": coupled.kappa_eff_CAM * S_PER_CM,
        "specific_energy_Wh_per_kg": cell.specific_energy_Wh_per_kg,
        "energy_density_Wh_per_L": cell.energy_density_Wh_per_L,
        "theoretical_specific_energy_Wh_per_kg": cell.theoretical_specific_energy_Wh_per_kg,
        "utilisation": cell.utilisation,
        "capacity_mAh_per_cm2": mAh_per_cm2(cell.delivered_capacity),
        "mean_voltage_V": cell.mean_voltage,
        "cell_energy_error_estimate": (None if cell.energy_error is None or cell.energy <= 0
                                       else cell.energy_error / cell.energy),
        "cathode_asr_ohm_cm2": asr,
        "cell_note": cell.note,
        "generate_seconds": generated - started,
        "transport_seconds": solved - generated,
        "cell_seconds": cell.seconds,
    })
    return out


def output_columns(axes) -> list[str]:
    """The output columns of :func:`evaluate` for these axes, in table order."""
    cols = [f"eps_{name}" for name in (CAM, SE, PORE)]
    cols += [f"sigma_bulk_{SE}_S_per_cm", f"kappa_bulk_{CAM}_S_per_cm"]
    for phase, symbol in ((SE, "sigma_eff"), (CAM, "kappa_eff")):
        for axis in axes:
            cols += [f"{symbol}_{phase}_axis{axis}_S_per_cm", f"tau_{phase}_axis{axis}", f"beta_{phase}_axis{axis}"]
    return cols + ["area_CAM_LLZO_per_um", "beta_GB_applied", "sigma_eff_cell_S_per_cm", "kappa_eff_cell_S_per_cm",
                   "specific_energy_Wh_per_kg", "energy_density_Wh_per_L", "theoretical_specific_energy_Wh_per_kg",
                   "utilisation", "capacity_mAh_per_cm2", "mean_voltage_V", "cell_energy_error_estimate",
                   "cathode_asr_ohm_cm2", "cell_note",
                   "generate_seconds", "transport_seconds", "cell_seconds"]
