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
from microsim.cell.theoretical import plot_theoretical, theoretical
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


def load_development_path(path: str | Path | None = None) -> dict:
    """The development path as data: the seed's Fig. 9d (``development_path.json`` beside
    this module) or a JSON file of the same form (``start`` set, cumulative ``steps``
    with ``case``, ``colour`` and the parameters ``set``, in SI)."""
    import json

    from microsim.errors import InputFileError

    source = Path(path) if path is not None else Path(__file__).with_name("development_path.json")
    try:
        return json.loads(source.read_text())
    except (OSError, ValueError) as exc:
        raise InputFileError(f"cannot read the development path {source}: {exc}") from None


def development_path(
    *,
    thicknesses: Sequence[float] = THICKNESSES,
    currents: Sequence[float] = CURRENTS,
    protocol: str = "discharge",
    grid: Grid | None = None,
    progress: Callable[[int, int], None] | None = None,
    path: str | Path | None = None,
) -> list[dict]:
    """From the state of the art, the steps of the development path added in turn
    (cumulative, in the seed's order: :func:`load_development_path`); one row per step,
    thickness [m] and current [A/m^2], ``case`` naming the step, ``step`` its number."""
    from microsim.cell.parameters import get_parameter_set

    plan = load_development_path(path)
    params = get_parameter_set(plan["start"])
    cases = []
    for step in plan["steps"]:
        params = params.with_values(**step["set"])
        cases.append((f"{step['step']} {step['case']}", params))
    rows = _grid_rows(cases, thicknesses, currents, protocol, grid, progress)
    for row in rows:
        row["step"] = int(row["case"].split(" ", 1)[0])
    return rows


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
    """Fig. 9d: specific energy after each cumulative step, in the seed's colours, one
    panel per condition, the theoretical limit as a purple bar; the protocol in the title."""
    plt = pyplot()
    plan = load_development_path()
    colours = {f"{s['step']} {s['case']}": s["colour"] for s in plan["steps"]}
    cases = list(dict.fromkeys(r["case"] for r in rows))
    conditions = _conditions(rows)
    fig, axes = plt.subplots(1, len(conditions), figsize=(3.2 * len(conditions) + 1, 4.8), sharey=True,
                             squeeze=False)
    for ax, (thickness, current) in zip(axes[0], conditions):
        sel = {r["case"]: r for r in rows if r["thickness_um"] == thickness and r["current_mA_per_cm2"] == current}
        values = [sel[c]["specific_energy_Wh_per_kg"] for c in cases]
        limit = max(sel[c]["theoretical_specific_energy_Wh_per_kg"] for c in cases)
        ax.bar(range(len(cases)), values, color=[colours.get(c, "grey") for c in cases])
        ax.bar(len(cases), limit, color=plan["limit"]["colour"])
        ax.set_xticks(range(len(cases) + 1))
        ax.set_xticklabels([c.split(" ", 1)[0] for c in cases] + ["limit"], fontsize=8)
        ax.set_title(f"{thickness:g} µm, {current:g} mA/cm²", fontsize=9)
    axes[0, 0].set_ylabel("specific energy [Wh/kg]")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours.get(c, "grey")) for c in cases]
    handles.append(plt.Rectangle((0, 0), 1, 1, color=plan["limit"]["colour"]))
    fig.legend(handles, cases + [plan["limit"]["case"]], loc="lower center", ncol=2, fontsize=7,
               bbox_to_anchor=(0.5, -0.12))
    protocol = rows[0].get("protocol", "discharge") if rows else "discharge"
    fig.suptitle(f"development path (Fig. 9d), cumulative; protocol: {protocol}", fontsize=10)
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
    "theoretical": (theoretical, plot_theoretical),
}
