"""Parameter studies in the style of Ren, Danner et al. 2023, Fig. 9.

* :func:`sensitivity` (Fig. 9a/b): from ``improved``, one group of parameters at a
  time back to ``state_of_the_art``;
* :func:`development_path` (Fig. 9d): from ``state_of_the_art``, the improvements
  added one after the other;
* :func:`ragone`: specific energy against current density.

Each returns rows (dicts with units in the keys) for :func:`microsim.export.write_csv`; the ``plot_*``
functions draw them (matplotlib, imported on use).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from microsim.cell.p2d import Grid, simulate
from microsim.cell.parameters import CellParameters, improved, state_of_the_art
from microsim.export.plots import pyplot, save_png

log = logging.getLogger(__name__)

#: Parameter groups of Fig. 9, in the order the development path adds them.
GROUPS: dict[str, tuple[str, ...]] = {
    "LLZO ionic conductivity": ("sigma_SE",),
    "LLZO tortuosity": ("beta_tort",),
    "LLZO secondary phases (beta_GB)": ("beta_GB",),
    "resistive interphase (R_SP)": ("R_SP",),
    "charge transfer (R_CT)": ("R_CT",),
    "CAM diffusion length (D, d50)": ("D_CAM", "d50_CAM"),
    "electronic conductivity": ("kappa_CAM",),
}
THICKNESSES = (50e-6, 100e-6)
CURRENTS = (10.0, 100.0)  # A/m^2: 1 and 10 mA/cm^2


def _row(label: str, params: CellParameters, current: float, protocol: str, grid: Grid | None) -> dict:
    result = simulate(params, current, protocol=protocol, grid=grid)
    return {
        "case": label,
        "thickness_um": round(params.L_cat * 1e6, 6),
        "current_mA_per_cm2": current / 10.0,
        "protocol": protocol,
        "specific_energy_Wh_per_kg": result.specific_energy_Wh_per_kg,
        "energy_density_Wh_per_L": result.energy_density_Wh_per_L,
        "theoretical_specific_energy_Wh_per_kg": result.theoretical_specific_energy_Wh_per_kg,
        "utilisation": result.utilisation,
        "mean_voltage_V": result.mean_voltage,
    }


def _grid_rows(cases: list[tuple[str, CellParameters]], thicknesses, currents, protocol, grid, progress) -> list[dict]:
    rows = []
    total = len(cases) * len(thicknesses) * len(currents)
    for label, params in cases:
        for thickness in thicknesses:
            for current in currents:
                rows.append(_row(label, params.with_values(L_cat=thickness), current, protocol, grid))
                if progress:
                    progress(len(rows), total)
    return rows


def sensitivity(
    *,
    thicknesses: Sequence[float] = THICKNESSES,
    currents: Sequence[float] = CURRENTS,
    protocol: str = "discharge",
    grid: Grid | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[dict]:
    """Specific energy with one group at a time set back to the state of the art.

    Rows ``case`` = ``"improved"`` (the reference) and one per group of :data:`GROUPS`,
    for every thickness [m] and current density [A/m^2].
    """
    base, old = improved(), state_of_the_art()
    cases = [("improved", base)]
    for label, names in GROUPS.items():
        cases.append((label, base.with_values(**{n: getattr(old, n) for n in names})))
    return _grid_rows(cases, thicknesses, currents, protocol, grid, progress)


def development_path(
    *,
    thicknesses: Sequence[float] = THICKNESSES,
    currents: Sequence[float] = CURRENTS,
    protocol: str = "discharge",
    grid: Grid | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[dict]:
    """From the state of the art, the improvements of :data:`GROUPS` added in turn."""
    params, new = state_of_the_art(), improved()
    cases = [("state of the art", params)]
    for label, names in GROUPS.items():
        params = params.with_values(**{n: getattr(new, n) for n in names})
        cases.append((f"+ {label}", params))
    return _grid_rows(cases, thicknesses, currents, protocol, grid, progress)


def ragone(
    *,
    thicknesses: Sequence[float] = THICKNESSES,
    currents: Sequence[float] | None = None,
    sets: Sequence[str] = ("state_of_the_art", "improved"),
    protocol: str = "discharge",
    grid: Grid | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[dict]:
    """Specific energy against current density [A/m^2] (default 0.1–30 mA/cm^2)."""
    from microsim.cell.parameters import get_parameter_set

    currents = np.geomspace(1.0, 300.0, 13) if currents is None else currents
    cases = [(name, get_parameter_set(name)) for name in sets]
    return _grid_rows(cases, thicknesses, currents, protocol, grid, progress)


def _conditions(rows):
    return sorted({(r["thickness_um"], r["current_mA_per_cm2"]) for r in rows})


def plot_sensitivity(rows: Sequence[dict], path: str | Path, *, force: bool = False) -> Path:
    """Radar chart: specific energy per reverted group, one polygon per condition."""
    plt = pyplot()
    groups = [c for c in dict.fromkeys(r["case"] for r in rows) if c != "improved"]
    angles = np.linspace(0, 2 * math.pi, len(groups), endpoint=False)
    fig, ax = plt.subplots(figsize=(7, 7), subplot_kw={"projection": "polar"})
    for thickness, current in _conditions(rows):
        values = [next(r["specific_energy_Wh_per_kg"] for r in rows if r["case"] == g
                       and r["thickness_um"] == thickness and r["current_mA_per_cm2"] == current) for g in groups]
        closed = np.append(values, values[0])
        ax.plot(np.append(angles, angles[0]), closed, marker="o", label=f"{thickness:g} µm, {current:g} mA/cm²")
    ax.set_xticks(angles)
    ax.set_xticklabels([g.replace(" (", "\n(") for g in groups], fontsize=8)
    ax.tick_params(axis="x", pad=14)
    ax.set_title("Specific energy [Wh/kg] with one group at the state of the art\n(all others improved)")
    ax.legend(loc="lower left", bbox_to_anchor=(-0.2, -0.2), fontsize=8)
    return save_png(fig, path, force=force)


def plot_development_path(rows: Sequence[dict], path: str | Path, *, force: bool = False) -> Path:
    """Grouped bars: specific energy after each improvement, per condition."""
    plt = pyplot()
    cases = list(dict.fromkeys(r["case"] for r in rows))
    conditions = _conditions(rows)
    width = 0.8 / len(conditions)
    fig, ax = plt.subplots(figsize=(10, 5))
    for k, (thickness, current) in enumerate(conditions):
        values = [next(r["specific_energy_Wh_per_kg"] for r in rows if r["case"] == c
                       and r["thickness_um"] == thickness and r["current_mA_per_cm2"] == current) for c in cases]
        ax.bar(np.arange(len(cases)) + k * width, values, width, label=f"{thickness:g} µm, {current:g} mA/cm²")
    ax.set_xticks(np.arange(len(cases)) + 0.4 - width / 2)
    ax.set_xticklabels(cases, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("specific energy [Wh/kg]")
    ax.legend(fontsize=8)
    return save_png(fig, path, force=force)


def plot_ragone(rows: Sequence[dict], path: str | Path, *, force: bool = False) -> Path:
    """Specific energy [Wh/kg] against current density [mA/cm^2], log x."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 5))
    for case in dict.fromkeys(r["case"] for r in rows):
        for thickness in sorted({r["thickness_um"] for r in rows}):
            sel = [r for r in rows if r["case"] == case and r["thickness_um"] == thickness]
            ax.plot([r["current_mA_per_cm2"] for r in sel], [r["specific_energy_Wh_per_kg"] for r in sel],
                    marker="o", label=f"{case}, {thickness:g} µm")
    ax.set_xscale("log")
    ax.set_xlabel("current density [mA/cm²]")
    ax.set_ylabel("specific energy [Wh/kg]")
    ax.legend(fontsize=8)
    return save_png(fig, path, force=force)


STUDIES = {
    "sensitivity": (sensitivity, plot_sensitivity),
    "path": (development_path, plot_development_path),
    "ragone": (ragone, plot_ragone),
}
