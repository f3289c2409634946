"""Mass, volume and theoretical energy of a Li | SE separator | composite cathode stack.

Default accounting (the one that reproduces the reference paper's 519 Wh/kg at
50 µm and 567 Wh/kg at 100 µm): mass and volume of the composite cathode (CAM + SE,
pores weightless) and the dense SE separator; the lithium is inside the CAM as built
(anode-free), no current collectors. Options add a Li-metal excess (a multiple of the
cathode capacity) and Al/Cu current-collector foils. Every result carries the
accounting it used as text. :func:`composite_stack` builds the stack from materials
directly (any active material, additives such as carbon; the theoretical study of
:mod:`microsim.cell.theoretical`), :func:`cell_stack` from a :class:`CellParameters`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from microsim.cell.ocv import get_ocv
from microsim.cell.parameters import CellParameters, Material, get_material
from microsim.constants import J_PER_WH, mAh_per_cm2



@dataclass(frozen=True)
class Stack:
    """Per unit electrode area: capacity [C/m^2], mass [kg/m^2], thickness [m]."""

    capacity: float
    mass: float
    thickness: float
    components: dict[str, float]
    accounting: str


def composite_stack(
    cam: Material,
    electrolyte: Material,
    *,
    eps_CAM: float,
    eps_SE: float,
    L_cat: float,
    L_sep: float,
    additives: Sequence[tuple[Material, float]] = (),
    li_excess: float = 0.0,
    plated_li: bool = False,
    current_collectors: bool = False,
    L_cc_Al: float = 10e-6,
    L_cc_Cu: float = 6e-6,
) -> Stack:
    """Areal capacity, mass and thickness of Li | SE separator | composite cathode.

    Parameters
    ----------
    cam, electrolyte : Material
        The active material as built (its lithiated, discharged phase: the Li is inside
        it) and the solid electrolyte of the cathode and the separator.
    eps_CAM, eps_SE : float
        Their volume fractions in the cathode.
    L_cat, L_sep : float [m]
        Cathode and separator thickness.
    additives : sequence of (Material, float)
        Further solid phases in the cathode and their volume fractions (e.g. a
        conductive carbon): mass, no capacity.
    li_excess : float
        Li metal on the anode as a multiple of the cathode capacity (mass and volume).
    plated_li : bool
        Count the volume of the Li metal that a full charge plates on the anode,
        ``Q / (q_Li rho_Li)`` (the charged state of an anode-free cell); its mass is
        already inside the CAM, so only the thickness grows.
    current_collectors : bool
        Count an Al foil (``L_cc_Al`` [m]) and a Cu foil (``L_cc_Cu`` [m]).

    Notes
    -----
    ``Q = eps_CAM L_cat rho_CAM q_CAM``; mass: CAM, SE and additives of the cathode
    (pores weightless), the dense SE separator, then the options; thickness
    ``L_cat + L_sep`` plus the options.
    """
    li = get_material("Li")
    capacity = eps_CAM * L_cat * cam.volumetric_capacity
    parts = {
        f"{cam.name} (cathode)": eps_CAM * L_cat * cam.density,
        f"{electrolyte.name} (cathode)": eps_SE * L_cat * electrolyte.density,
    }
    for material, fraction in additives:
        parts[f"{material.name} (cathode)"] = fraction * L_cat * material.density
    parts[f"{electrolyte.name} (separator)"] = L_sep * electrolyte.density
    thickness = L_cat + L_sep
    solids = " + ".join([cam.name, electrolyte.name, *(m.name for m, _ in additives)])
    text = [f"cathode ({solids}, pores weightless) + {electrolyte.name} separator"]
    if li_excess > 0:
        li_mass = li_excess * capacity / li.specific_capacity
        parts["Li metal (excess)"] = li_mass
        thickness += li_mass / li.density
        text.append(f"Li metal excess {li_excess:g} x the cathode capacity")
    else:
        text.append("Li counted inside the CAM (anode-free as built)")
    if plated_li:
        thickness += capacity / li.specific_capacity / li.density
        text.append("volume of the Li metal plated on charge counted")
    if current_collectors:
        for foil, length in (("Al", L_cc_Al), ("Cu", L_cc_Cu)):
            parts[f"{foil} current collector"] = length * get_material(foil).density
            thickness += length
        text.append(f"Al {L_cc_Al * 1e6:g} um + Cu {L_cc_Cu * 1e6:g} um current collectors")
    else:
        text.append("no current collectors")
    return Stack(capacity, sum(parts.values()), thickness, parts, "; ".join(text))


def cell_stack(p: CellParameters) -> Stack:
    """Areal capacity, mass and thickness of the stack under ``p``'s accounting options
    (:func:`composite_stack` with ``p``'s materials, fractions and thicknesses)."""
    return composite_stack(
        get_material(p.cam), get_material(p.electrolyte), eps_CAM=p.eps_CAM, eps_SE=p.eps_SE, L_cat=p.L_cat,
        L_sep=p.L_sep, li_excess=p.li_excess, current_collectors=p.current_collectors, L_cc_Al=p.L_cc_Al,
        L_cc_Cu=p.L_cc_Cu,
    )


@dataclass(frozen=True)
class TheoreticalEnergy:
    """Theoretical figures: full capacity at the CAM's nominal voltage."""

    capacity_C_per_m2: float
    specific_energy_Wh_per_kg: float
    energy_density_Wh_per_L: float
    nominal_voltage_V: float
    mass_kg_per_m2: float
    thickness_m: float
    mass_accounting: str

    def to_dict(self) -> dict:
        return {
            "theoretical_specific_energy_Wh_per_kg": self.specific_energy_Wh_per_kg,
            "theoretical_energy_density_Wh_per_L": self.energy_density_Wh_per_L,
            "theoretical_capacity_mAh_per_cm2": mAh_per_cm2(self.capacity_C_per_m2),
            "nominal_voltage_V": self.nominal_voltage_V,
            "mass_g_per_cm2": self.mass_kg_per_m2 * 0.1,
            "stack_thickness_um": self.thickness_m * 1e6,
            "mass_accounting": self.mass_accounting,
        }


def theoretical_energy(p: CellParameters) -> TheoreticalEnergy:
    """Theoretical specific energy [Wh/kg] and energy density [Wh/L] of the stack.

    ``E = Q · U_nom`` with ``Q`` the CAM capacity of the cathode, divided by the mass
    (or volume) of the stack under the accounting of :func:`cell_stack`.

    Examples
    --------
    >>> from microsim.cell.parameters import improved
    >>> round(theoretical_energy(improved()).specific_energy_Wh_per_kg)
    519
    """
    return stack_energy(cell_stack(p), get_material(p.cam).nominal_voltage)


def stack_energy(stack: Stack, voltage: float) -> TheoreticalEnergy:
    """Theoretical figures of ``stack``: its full capacity at ``voltage`` [V], over its
    mass [Wh/kg] and its thickness [Wh/L]."""
    energy = stack.capacity * voltage  # J/m^2
    return TheoreticalEnergy(
        capacity_C_per_m2=stack.capacity,
        specific_energy_Wh_per_kg=energy / stack.mass / J_PER_WH,
        energy_density_Wh_per_L=energy / stack.thickness / J_PER_WH / 1000.0,
        nominal_voltage_V=voltage,
        mass_kg_per_m2=stack.mass,
        thickness_m=stack.thickness,
        mass_accounting=stack.accounting,
    )


def _level(u, value: float, lo: float, hi: float) -> float:
    """θ in [lo, hi] with the decreasing ``u(θ) = value`` (bisection)."""
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if float(u(mid)) > value:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _window(p: CellParameters, start: str) -> tuple[float, float]:
    """Lithiation at the start of the window and at the discharge cut-off on the OCV."""
    if start not in ("charged", "v_max"):
        raise ValueError(f"start must be 'charged' or 'v_max', got {start!r}")
    u = get_ocv(p.ocv_name)
    end = _level(u, p.v_min, 0.0, 1.1)
    begin = 0.0 if start == "charged" else _level(u, p.v_max, -0.1, end)
    return begin, end


def window_capacity(p: CellParameters, *, start: str = "charged") -> float:
    """Charge of the window a simulation uses [C/m^2]: the capacity between the start
    state and the cut-off on the OCV (a little more than the nominal capacity: the wall
    lies past θ = 1). The utilisation is the delivered charge over it, so never above 1.

    >>> from microsim.cell.parameters import improved
    >>> 1.0 <= window_capacity(improved()) / cell_stack(improved()).capacity < 1.05
    True
    """
    begin, end = _window(p, start)
    return cell_stack(p).capacity * (end - begin)


def window_energy(p: CellParameters, *, start: str = "charged") -> float:
    """Open-circuit energy of the window a simulation uses [J/m^2].

    ``Q ∫ U(θ) dθ`` from the start state to the discharge cut-off, ``U(θ_end) = v_min``
    (a little past θ = 1, on the OCV's wall). ``start``: ``"charged"`` — the rested,
    fully charged state θ = 0 of the discharge protocol; ``"v_max"`` — ``U(θ) = v_max``,
    where the charge of the charge-discharge protocol stops at vanishing current. A
    discharge delivers at most this: its losses and the capacity left at the cut-off
    make up the difference.

    Examples
    --------
    >>> from microsim.cell.parameters import improved
    >>> p = improved()
    >>> 3.85 < window_energy(p) / cell_stack(p).capacity < 3.9  # V, the window's mean
    True
    """
    u = get_ocv(p.ocv_name)
    begin, end = _window(p, start)
    theta = np.linspace(begin, end, 40001)
    values = u(theta)
    mean = float(np.sum(values[1:] + values[:-1]) / 2 * (theta[1] - theta[0]))
    return cell_stack(p).capacity * mean
