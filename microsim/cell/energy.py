"""Mass, volume and theoretical energy of a Li | SE separator | composite cathode stack.

Default accounting (the one that reproduces the reference paper's 519 Wh/kg at
50 µm and 567 Wh/kg at 100 µm): mass and volume of the composite cathode (CAM + SE,
pores weightless) and the dense SE separator; the lithium is inside the CAM as built
(anode-free), no current collectors. Options add a Li-metal excess (a multiple of the
cathode capacity) and Al/Cu current-collector foils. Every result carries the
accounting it used as text.
"""

from __future__ import annotations

from dataclasses import dataclass

from microsim.cell.parameters import CellParameters, get_material
from microsim.constants import J_PER_WH, mAh_per_cm2



@dataclass(frozen=True)
class Stack:
    """Per unit electrode area: capacity [C/m^2], mass [kg/m^2], thickness [m]."""

    capacity: float
    mass: float
    thickness: float
    components: dict[str, float]
    accounting: str


def cell_stack(p: CellParameters) -> Stack:
    """Areal capacity, mass and thickness of the stack under ``p``'s accounting options."""
    cam, se, li = get_material(p.cam), get_material(p.electrolyte), get_material("Li")
    capacity = p.eps_CAM * p.L_cat * cam.volumetric_capacity
    parts = {
        f"{p.cam} (cathode)": p.eps_CAM * p.L_cat * cam.density,
        f"{p.electrolyte} (cathode)": p.eps_SE * p.L_cat * se.density,
        f"{p.electrolyte} (separator)": p.L_sep * se.density,
    }
    thickness = p.L_cat + p.L_sep
    text = [f"cathode ({p.cam} + {p.electrolyte}, pores weightless) + {p.electrolyte} separator"]
    if p.li_excess > 0:
        li_mass = p.li_excess * capacity / li.specific_capacity
        parts["Li metal (excess)"] = li_mass
        thickness += li_mass / li.density
        text.append(f"Li metal excess {p.li_excess:g} x the cathode capacity")
    else:
        text.append("Li counted inside the CAM (anode-free as built)")
    if p.current_collectors:
        for foil, length in (("Al", p.L_cc_Al), ("Cu", p.L_cc_Cu)):
            parts[f"{foil} current collector"] = length * get_material(foil).density
            thickness += length
        text.append(f"Al {p.L_cc_Al * 1e6:g} um + Cu {p.L_cc_Cu * 1e6:g} um current collectors")
    else:
        text.append("no current collectors")
    return Stack(capacity, sum(parts.values()), thickness, parts, "; ".join(text))


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
    stack = cell_stack(p)
    voltage = get_material(p.cam).nominal_voltage
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
