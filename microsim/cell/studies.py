"""Parameter studies in the style of Ren, Danner et al. 2023, Fig. 9.

* :func:`sensitivity` (Fig. 9a/b): from ``improved``, one group of parameters at a
  time back to ``state_of_the_art``; :func:`sensitivity_radar` selects what the radars
  draw (one per thickness, the rim at the theoretical value);
* :func:`development_path` (Fig. 9d): from ``state_of_the_art``, the improvements
  added one after the other;
* :func:`ragone`: specific energy against current density;
* :func:`temperature_study`: specific energy against temperature (Arrhenius laws).

Each returns rows (dicts with units in the keys) for :func:`microsim.export.write_csv`; the ``plot_*``
functions draw them (matplotlib, imported on use), each naming its protocol.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from microsim.cell.p2d import Grid, simulate
from microsim.cell.parameters import CellParameters, improved, state_of_the_art
from microsim.errors import InvalidInputError
from microsim.cell.parameters import celsius  # the temperature study
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
        # the grid's own convergence (|E - E(grid halved)| / E, issue 22): the coarse solve is not wasted
        "energy_relative_error_estimate": (None if result.energy_error is None or result.energy <= 0
                                           else result.energy_error / result.energy),
        "grid": f"{result.grid.n_x},{result.grid.n_r},{result.grid.n_t}",
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


#: The axes of the seed's radars (Fig. 9a/b), in its order: the groups of :data:`GROUPS`
#: the seed draws. It has no tortuosity axis; :func:`sensitivity` still reverts β_tort on
#: its own (a row of the CSV), and ``plot_sensitivity(..., groups=tuple(GROUPS))`` draws it.
RADAR_GROUPS: tuple[str, ...] = (
    "LLZO ionic conductivity",
    "LLZO secondary phases (beta_GB)",
    "resistive interphase (R_SP)",
    "charge transfer (R_CT)",
    "CAM diffusion length (D, d50)",
    "electronic conductivity",
)

#: How a parameter is written beside a radar axis: symbol, factor from SI, unit.
_SHOWN = {
    "sigma_SE": ("σ_SE", 10.0, "mS/cm"),  # S/m -> mS/cm
    "beta_tort": ("β_tort", 1.0, ""),
    "beta_GB": ("β_GB", 1.0, ""),
    "R_SP": ("R_SP", 1e4, "Ω·cm²"),  # Ohm m^2 -> Ohm cm^2
    "R_CT": ("R_CT", 1e4, "Ω·cm²"),
    "D_CAM": ("D", 1e4, "cm²/s"),  # m^2/s -> cm^2/s
    "d50_CAM": ("d50", 1e6, "µm"),
    "kappa_CAM": ("κ", 10.0, "mS/cm"),
}
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _number(value: float) -> str:
    """Three significant figures, whole numbers up to 99999, a power of ten outside 1e-3..1e5."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    exponent = math.floor(math.log10(abs(value)))
    if -3 <= exponent <= 4:
        return f"{value:.{max(3, exponent + 1)}g}"
    mantissa = f"{value / 10.0**exponent:.3g}"
    return ("" if mantissa == "1" else f"{mantissa}×") + "10" + str(exponent).translate(_SUPERSCRIPT)


def parameter_label(name: str, value: float) -> str:
    """A parameter [SI] as written beside a radar axis, in the field's units.

    Examples
    --------
    >>> parameter_label("sigma_SE", 0.08), parameter_label("D_CAM", 2.54e-16)
    ('σ_SE 0.8 mS/cm', 'D 2.54×10⁻¹² cm²/s')
    """
    symbol, factor, unit = _SHOWN.get(name, (name, 1.0, ""))
    return f"{symbol} {_number(value * factor)}" + (f" {unit}" if unit else "")


def group_values(group: str, params: CellParameters | None = None) -> list[str]:
    """The values of a group of :data:`GROUPS` in ``params`` (default the state of the art),
    one label per parameter (:func:`parameter_label`)."""
    if group not in GROUPS:
        raise InvalidInputError(f"unknown group {group!r}; groups are {', '.join(GROUPS)}")
    params = state_of_the_art() if params is None else params
    return [parameter_label(name, getattr(params, name)) for name in GROUPS[group]]


@dataclass(frozen=True)
class RadarPanel:
    """What one radar of Fig. 9a/b draws: one cathode thickness, every current.

    Attributes
    ----------
    thickness_um : float
    protocol : str
    groups : tuple of str
        The axes, in order.
    rim_Wh_per_kg : float
        The radius of the rim: the largest theoretical specific energy of the panel's rows.
    improved_Wh_per_kg : dict current [mA/cm^2] -> float
        The reference with every group improved.
    radius_Wh_per_kg : dict current [mA/cm^2] -> tuple of float
        Specific energy with one group (``groups[k]``) at the state of the art.
    theoretical_Wh_per_kg : dict current [mA/cm^2] -> float
    """

    thickness_um: float
    protocol: str
    groups: tuple[str, ...]
    rim_Wh_per_kg: float
    improved_Wh_per_kg: dict[float, float]
    radius_Wh_per_kg: dict[float, tuple[float, ...]]
    theoretical_Wh_per_kg: dict[float, float]

    @property
    def currents_mA_per_cm2(self) -> tuple[float, ...]:
        return tuple(sorted(self.improved_Wh_per_kg))


def _protocols(rows: Sequence[dict]) -> str:
    """The protocol(s) of study rows, as text ("discharge"; several joined by ", ")."""
    protocols = list(dict.fromkeys(str(r["protocol"]) for r in rows if r.get("protocol")))
    if not protocols:
        raise InvalidInputError("the study rows name no protocol (a 'protocol' column is expected)")
    return ", ".join(protocols)


def _protocol_text(rows: Sequence[dict]) -> str:
    return "protocol: " + _protocols(rows)


def sensitivity_radar(rows: Sequence[dict], *, groups: Sequence[str] = RADAR_GROUPS) -> list[RadarPanel]:
    """The radars of Fig. 9a/b from :func:`sensitivity` rows: one :class:`RadarPanel` per
    thickness (ascending), each with every current of the rows.

    The radius of an axis is the specific energy [Wh/kg] with that group at the state of
    the art and every other improved; the rim is the theoretical specific energy (the
    largest of the panel's rows: the simulated window may differ slightly per current),
    so the gap to the rim is the loss.
    """
    groups = tuple(groups)
    if not groups or not rows:
        raise InvalidInputError(f"a radar needs rows and at least one group, got {len(rows)} rows, groups {groups}")
    table = {(r["case"], r["thickness_um"], r["current_mA_per_cm2"]): r for r in rows}
    panels = []
    for thickness in sorted({r["thickness_um"] for r in rows}):
        sel = [r for r in rows if r["thickness_um"] == thickness]
        currents = sorted({r["current_mA_per_cm2"] for r in sel})
        improved_, radius, theory = {}, {}, {}
        for current in currents:
            missing = [c for c in ("improved", *groups) if (c, thickness, current) not in table]
            if missing:
                raise InvalidInputError(f"the sensitivity rows lack {', '.join(map(repr, missing))} at "
                                        f"{thickness:g} µm, {current:g} mA/cm²; rows hold cases "
                                        f"{', '.join(dict.fromkeys(r['case'] for r in rows))}")
            cells = [table[c, thickness, current] for c in ("improved", *groups)]
            improved_[current] = cells[0]["specific_energy_Wh_per_kg"]
            radius[current] = tuple(r["specific_energy_Wh_per_kg"] for r in cells[1:])
            theory[current] = max(r["theoretical_specific_energy_Wh_per_kg"] for r in cells)
        panels.append(RadarPanel(thickness, _protocols(sel), groups, max(theory.values()), improved_, radius,
                                 theory))
    return panels


def plot_sensitivity(rows: Sequence[dict], path: str | Path, *, force: bool = False,
                     groups: Sequence[str] = RADAR_GROUPS) -> Path:
    """Fig. 9a/b: one radar per cathode thickness, (a), (b), ... side by side in one PNG.

    Each axis is a group of :data:`GROUPS` (default the seed's six, :data:`RADAR_GROUPS`),
    its state-of-the-art value written beside it; the radius is the specific energy with
    that group at the state of the art and all others improved, one polygon per current
    density, the improved reference (all groups improved) as a dashed ring of the same
    colour, and the rim (radius 0 to rim) the theoretical specific energy, so the gap to
    the rim is the loss. The protocol is in the title.
    """
    plt = pyplot()
    panels = sensitivity_radar(rows, groups=groups)
    groups = panels[0].groups
    sota = state_of_the_art()
    labels = [g.split(" (", 1)[0] + "\n" + "\n".join(group_values(g, sota)) for g in groups]
    angles = np.linspace(0, 2 * math.pi, len(groups), endpoint=False)
    around = np.linspace(0, 2 * math.pi, 361)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, axes = plt.subplots(1, len(panels), figsize=(7.2 * len(panels), 7.0), squeeze=False,
                             subplot_kw={"projection": "polar"})
    for k, (ax, panel) in enumerate(zip(axes[0], panels)):
        ax.set_theta_zero_location("N")
        ax.set_theta_direction(-1)
        rim = panel.rim_Wh_per_kg
        ax.plot(around, np.full_like(around, rim), "-", color="black", lw=2.0, zorder=1,
                label=f"theoretical {rim:.1f} Wh/kg (the rim)")
        for i, current in enumerate(panel.currents_mA_per_cm2):
            colour = colours[i % len(colours)]
            values = np.array(panel.radius_Wh_per_kg[current])
            closed_a, closed_v = np.append(angles, angles[0]), np.append(values, values[0])
            ax.plot(closed_a, closed_v, "-o", color=colour, lw=1.8, ms=5, zorder=3,
                    label=f"{current:g} mA/cm²: one group at the state of the art")
            ax.fill(closed_a, closed_v, color=colour, alpha=0.07, zorder=2)
            for angle, value in zip(angles, values):  # the numbers of the visible losses
                if value < 0.97 * rim:
                    ax.text(angle, value + (0.07 if value < 0.15 * rim else -0.07) * rim, f"{value:.0f}",
                            ha="center", va="center", fontsize=7.5, color=colour, zorder=5,
                            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})
            reference = panel.improved_Wh_per_kg[current]
            ax.plot(around, np.full_like(around, reference), "--", color=colour, lw=1.4, zorder=4,
                    label=f"{current:g} mA/cm²: improved reference {reference:.1f} Wh/kg")
        ax.set_ylim(0, rim)
        step = 100.0 if rim > 250 else 50.0 if rim > 100 else 10.0
        ticks = np.arange(step, rim - 0.25 * step, step)
        ax.set_yticks(ticks)
        ax.set_yticklabels([f"{t:.0f}" for t in ticks], fontsize=7, color="dimgrey")
        gap = 180.0 / len(groups)  # half the angle between two axes [degrees]
        ax.set_rlabel_position(gap * (2 * (len(groups) // 4) + 1))
        ax.set_xticks(angles)
        ax.set_xticklabels([])
        for angle, label in zip(angles, labels):  # beside the axis, away from the rim
            x, y = math.sin(angle), math.cos(angle)
            ax.text(angle, rim * 1.07, label, fontsize=8, linespacing=1.25,
                    ha="left" if x > 0.1 else "right" if x < -0.1 else "center",
                    va="bottom" if y > 0.1 else "top" if y < -0.1 else "center")
        ax.text(math.radians(gap), rim * 1.015, f"theoretical {rim:.0f} Wh/kg", fontsize=7.5, ha="center",
                va="bottom", rotation=-gap, rotation_mode="anchor")
        ax.grid(alpha=0.5)
        ax.set_title(f"({chr(ord('a') + k)}) {panel.thickness_um:g} µm cathode", fontsize=11, pad=30, loc="left")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize=8, frameon=False)
    fig.suptitle("Specific energy [Wh/kg] with one group at its state-of-the-art value (beside its axis), "
                 f"all others improved; rim: theoretical\n{_protocol_text(rows)}", fontsize=11)
    fig.subplots_adjust(wspace=0.6 if len(groups) % 2 == 0 else 0.9, top=0.9)  # odd: an axis points sideways
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
    fig.suptitle(f"development path (Fig. 9d), cumulative; {_protocol_text(rows)}", fontsize=10)
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
    ax.set_title(f"Ragone: specific energy against current density; {_protocol_text(rows)}", fontsize=10)
    ax.legend(fontsize=8)
    return save_png(fig, path, force=force)


STUDIES = {
    "sensitivity": (sensitivity, plot_sensitivity),
    "path": (development_path, plot_development_path),
    "ragone": (ragone, plot_ragone),
    "theoretical": (theoretical, plot_theoretical),
}


# -- temperature -------------------------------------------------------------------
TEMPERATURES = tuple(t + 273.15 for t in (25.0, 40.0, 60.0, 80.0, 100.0))  # K: 25-100 °C


def temperature_study(
    *,
    thicknesses: Sequence[float] = THICKNESSES,
    currents: Sequence[float] = CURRENTS,
    temperatures: Sequence[float] = TEMPERATURES,
    sets: Sequence[str] = ("improved", "state_of_the_art"),
    protocol: str = "discharge",
    grid: Grid | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[dict]:
    """Specific energy against temperature [K] (default 25-100 °C) for each set,
    thickness [m] and current density [A/m^2]: the sets' values hold at 298.15 K and
    their activation energies carry σ_SE (bulk and grain boundaries apart), R_CT, R_SP,
    D_CAM and κ_CAM to each temperature (:meth:`CellParameters.at_temperature`).

    Rows as the other studies', with ``temperature_C`` and the Arrhenius-scaled values
    the cell used (σ_eff of the cathode, R_CT, D_CAM)."""
    from microsim.cell.parameters import get_parameter_set

    rows = []
    total = len(sets) * len(thicknesses) * len(currents) * len(temperatures)
    for name in sets:
        base = get_parameter_set(name)
        for thickness in thicknesses:
            for current in currents:
                for temperature in temperatures:
                    params = base.with_values(L_cat=thickness, temperature=float(temperature))
                    row = _row(name, params, current, protocol, grid)
                    at = params.at_temperature()
                    rows.append({
                        **{k: row[k] for k in ("case", "thickness_um", "current_mA_per_cm2", "protocol")},
                        "temperature_C": celsius(params.temperature),
                        **{k: v for k, v in row.items()
                           if k not in ("case", "thickness_um", "current_mA_per_cm2", "protocol")},
                        "sigma_eff_SE_S_per_cm": at["sigma_eff_SE_S_per_m"] / 100.0,
                        "R_CT_ohm_cm2": at["R_CT_ohm_m2"] * 1e4,
                        "D_CAM_cm2_per_s": at["D_CAM_m2_per_s"] * 1e4,
                    })
                    if progress:
                        progress(len(rows), total)
    return rows


def plot_temperature(rows: Sequence[dict], path: str | Path, *, force: bool = False) -> Path:
    """Specific energy [Wh/kg] against temperature [°C]: one panel per current density,
    one line per set and thickness; the protocol in the title."""
    plt = pyplot()
    currents = sorted({r["current_mA_per_cm2"] for r in rows})
    fig, axes = plt.subplots(1, len(currents), figsize=(5.2 * len(currents), 4.6), sharey=True, squeeze=False)
    styles = {"improved": "-", "state_of_the_art": "--"}
    for ax, current in zip(axes[0], currents):
        for case in dict.fromkeys(r["case"] for r in rows):
            for thickness in sorted({r["thickness_um"] for r in rows}):
                sel = sorted((r for r in rows if r["case"] == case and r["thickness_um"] == thickness
                              and r["current_mA_per_cm2"] == current), key=lambda r: r["temperature_C"])
                if sel:
                    ax.plot([r["temperature_C"] for r in sel], [r["specific_energy_Wh_per_kg"] for r in sel],
                            styles.get(case, "-."), marker="o", label=f"{case}, {thickness:g} µm")
        ax.set_title(f"{current:g} mA/cm²", fontsize=10)
        ax.set_xlabel("temperature [°C]")
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("specific energy [Wh/kg]")
    axes[0, -1].legend(fontsize=8)
    protocol = rows[0].get("protocol", "discharge") if rows else "discharge"
    fig.suptitle(f"specific energy against temperature (Arrhenius, values of 25 °C); protocol: {protocol}",
                 fontsize=10)
    return save_png(fig, path, force=force)


STUDIES["temperature"] = (temperature_study, plot_temperature)
