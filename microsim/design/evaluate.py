"""One design point with one seed: generate → solve → cell model, as one table row.

The chain for a point:

1. ``generate`` a sintered (or overlapping) CAM/SE/pore volume with the point's
   fractions, particle sizes, CAM gradient along axis 0 and SE grains;
2. solve the SE (σ_SE of the parameter set, grain boundaries resolved when the point
   has them) and the CAM (κ_CAM) along the reported axes; the CAM|SE area by voxel
   faces × 2/3;
3. cut the volume into ``slabs`` along axis 0 (the thickness) and give each slab its
   fractions, interface area and local conductivities. The local conductivity of a
   slab comes from the same solve: the plane-mean potential drops across the slab
   by ΔP_k = I R_k, so ``σ_k = L_k / (A R_k)``; the slab resistances add up to the
   volume's exactly, so a uniform volume keeps its σ_eff and a graded one gets its
   profile;
4. run the reduced P2D (``microsim.cell``) on that profile, stretched to the cell's
   cathode thickness (the volume is a representative element of the cathode, not
   the cathode itself).
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np

from microsim.design.study import DesignPoint
from microsim.errors import InvalidInputError, PercolationWarning
from microsim.microstructure import Microstructure
from microsim.morphology import ISOTROPIC_AREA_FACTOR

SE, CAM, PORE = "LLZO", "CAM", "pore"
S_PER_CM = 0.01  # S/cm in one S/m


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


def slab_bounds(n: int, slabs: int) -> np.ndarray:
    """First slice of each of ``slabs`` slabs along an axis of ``n`` slices, and ``n``."""
    if n < 4 * slabs:
        raise InvalidInputError(f"{slabs} slabs need at least {4 * slabs} slices along axis 0, the volume has {n}")
    return np.round(np.linspace(0, n, slabs + 1)).astype(int)


def slab_conductivity_factors(result, micro: Microstructure, bounds: np.ndarray) -> np.ndarray:
    """σ_k / σ_bulk of each slab along axis 0 from a solve with fields (0 if not percolating)."""
    if not result.percolating:
        return np.zeros(len(bounds) - 1)
    phi, keep = result.fields.potential, result.fields.connected
    counts = keep.sum(axis=(1, 2))
    plane = phi.sum(axis=(1, 2)) / np.maximum(counts, 1)
    # potential at each slab face: the Dirichlet values at the box faces, the mean of
    # the two planes next to an inner face
    faces = np.array([1.0] + [0.5 * (plane[s - 1] + plane[s]) for s in bounds[1:-1]] + [0.0])
    drops = -np.diff(faces)
    h = micro.voxel_size
    area = micro.shape[1] * h[1] * micro.shape[2] * h[2]
    conductance = result.sigma_eff * area / (micro.shape[0] * h[0])  # the volume's, S (1 V across it)
    resistance = drops / conductance  # Ω for the slab, sum = the volume's
    lengths = np.diff(bounds) * h[0]
    with np.errstate(divide="ignore"):
        sigma = np.where(drops > 0, lengths / (area * resistance), np.inf)
    return sigma / result.sigma_bulk


def slab_fractions_and_area(micro: Microstructure, bounds: np.ndarray) -> dict[str, np.ndarray]:
    """Per slab along axis 0: CAM and SE fractions, CAM|SE area per volume [1/m]."""
    labels = micro.labels
    cam, se = micro.label_of(CAM), micro.label_of(SE)
    h = micro.voxel_size
    per_slice = np.zeros(labels.shape[0])
    for a in (1, 2):
        lo = np.take(labels, np.arange(labels.shape[a] - 1), axis=a)
        hi = np.take(labels, np.arange(1, labels.shape[a]), axis=a)
        pair = ((lo == cam) & (hi == se)) | ((lo == se) & (hi == cam))
        per_slice += pair.sum(axis=(1, 2)) * (h[0] * h[3 - a])
    between = ((labels[:-1] == cam) & (labels[1:] == se)) | ((labels[:-1] == se) & (labels[1:] == cam))
    across = between.sum(axis=(1, 2)) * (h[1] * h[2]) / 2  # half to each neighbouring slice
    per_slice[:-1] += across
    per_slice[1:] += across
    voxel_volume = float(np.prod(h))
    cam_count = (labels == cam).sum(axis=(1, 2))
    se_count = (labels == se).sum(axis=(1, 2))
    out = {"eps_CAM": [], "eps_SE": [], "area_per_volume": []}
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        voxels = (hi - lo) * labels.shape[1] * labels.shape[2]
        out["eps_CAM"].append(cam_count[lo:hi].sum() / voxels)
        out["eps_SE"].append(se_count[lo:hi].sum() / voxels)
        out["area_per_volume"].append(ISOTROPIC_AREA_FACTOR * per_slice[lo:hi].sum() / (voxels * voxel_volume))
    return {k: np.array(v) for k, v in out.items()}


def cell_parameters(point: DesignPoint):
    """The point's cell parameters (set, overrides, thickness, particle size), before the profile."""
    from microsim.cell.parameters import get_parameter_set, parameter_names

    v = point.values
    values = {k: v[k] for k in parameter_names() if k in v}
    values["L_cat"] = v["thickness"]
    if v["couple_particle_size"]:
        values["d50_CAM"] = v["cam_d50"]
    return get_parameter_set(v["parameter_set"]).with_values(**values)


def evaluate(point: DesignPoint, seed: int, *, axes=(0,), slabs: int = 4, solver=None) -> dict:
    """Generate, solve and simulate one design point; return the output columns.

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
    from microsim.cell import simulate
    from microsim.cell.p2d import Grid
    from microsim.cell.parameters import ThicknessProfile
    from microsim.transport import solve_transport
    from microsim.transport.electrochem import transmission_line_asr

    started = time.perf_counter()
    params = cell_parameters(point)
    micro = generate_point(point, seed)
    generated = time.perf_counter()
    bounds = slab_bounds(micro.shape[0], slabs)
    v = point.values
    gb = {SE: v["gb_resistance"]} if v["gb_resistance"] > 0 else None
    bulk = {SE: params.sigma_SE, CAM: params.kappa_CAM}
    out: dict = {f"eps_{name}": micro.volume_fraction(name) for name in (CAM, SE, PORE)}
    out.update({f"sigma_bulk_{SE}_S_per_cm": bulk[SE] * S_PER_CM, f"kappa_bulk_{CAM}_S_per_cm": bulk[CAM] * S_PER_CM})
    factors = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PercolationWarning)  # a plain result here: σ_eff = 0, τ = inf
        for phase in (SE, CAM):
            options = {"grain_boundary_resistance": gb if phase == SE else None, "solver": solver}
            # fields only along the thickness, where the slab profile needs them
            (through,) = solve_transport(micro, {phase: bulk[phase]}, axes=0, return_fields=True, **options)
            factors[phase] = slab_conductivity_factors(through, micro, bounds)
            results = {0: through}
            others = tuple(a for a in axes if a != 0)
            if others:
                results.update(zip(others, solve_transport(micro, {phase: bulk[phase]}, axes=others, **options)))
            symbol = "sigma_eff" if phase == SE else "kappa_eff"
            for axis in axes:
                r = results[axis]
                out[f"{symbol}_{phase}_axis{axis}_S_per_cm"] = r.sigma_eff * S_PER_CM
                out[f"tau_{phase}_axis{axis}"] = r.tortuosity_factor
                out[f"beta_{phase}_axis{axis}"] = r.bruggeman_exponent  # None when eps = 1
    solved = time.perf_counter()
    local = slab_fractions_and_area(micro, bounds)
    out["area_CAM_LLZO_per_um"] = float(np.mean(local["area_per_volume"])) * 1e-6
    beta_gb = 0.0 if gb else params.beta_GB
    profile = ThicknessProfile(
        eps_CAM=tuple(local["eps_CAM"]), eps_SE=tuple(local["eps_SE"]),
        sigma_eff=tuple(factors[SE] * params.sigma_SE * local["eps_SE"] ** beta_gb),
        kappa_eff=tuple(factors[CAM] * params.kappa_CAM),
        area_per_volume=tuple(local["area_per_volume"]),
    )
    params = params.with_profile(profile)
    cell = simulate(params, v["current_density"], protocol=v["protocol"],
                    grid=Grid(n_x=slabs * math.ceil(20 / slabs)))
    r_interface = params.R_CT + params.R_SP
    if min(params.sigma_eff_SE, params.kappa_eff_CAM, params.interface_area) > 0:
        asr = transmission_line_asr(params.sigma_eff_SE, params.kappa_eff_CAM, params.interface_area,
                                    r_interface, params.L_cat) * 1e4
    else:
        asr = math.inf
    out.update({
        "beta_GB_applied": beta_gb,
        "sigma_eff_cell_S_per_cm": params.sigma_eff_SE * S_PER_CM,
        "kappa_eff_cell_S_per_cm": params.kappa_eff_CAM * S_PER_CM,
        "specific_energy_Wh_per_kg": cell.specific_energy_Wh_per_kg,
        "energy_density_Wh_per_L": cell.energy_density_Wh_per_L,
        "theoretical_specific_energy_Wh_per_kg": cell.theoretical.specific_energy_Wh_per_kg,
        "utilisation": cell.utilisation,
        "capacity_mAh_per_cm2": cell.delivered_capacity / 36000.0,
        "mean_voltage_V": cell.mean_voltage,
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
                   "utilisation", "capacity_mAh_per_cm2", "mean_voltage_V", "cathode_asr_ohm_cm2", "cell_note",
                   "generate_seconds", "transport_seconds", "cell_seconds"]
