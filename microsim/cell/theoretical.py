"""Theoretical energy of Li | LLZO | composite-cathode cells against cathode thickness
(Ren, Danner et al. 2023, Fig. 8c,d) for intercalation and conversion cathodes.

The cell: Li metal anode, dense LLZO separator (the parameter set's ``L_sep``, 10 µm),
composite cathode at the set's fractions (``improved``: 75 vol% active material,
25 vol% LLZO). Two bounds per material and thickness:

* ``upper``: CAM + LLZO only;
* ``lower``: :data:`ADDITIVE_FRACTION` (10 vol%) of the cathode is conductive carbon in
  place of CAM (65 vol% CAM, 25 vol% LLZO, 10 vol% carbon).

Accounting (one for every material, the one of :func:`microsim.cell.energy.cell_stack`
that reproduces the seed's 519 / 567 Wh/kg for NMC811 at 50 / 100 µm; the stack itself
is built by :func:`microsim.cell.energy.composite_stack`, not here):

* **As built and counted in the discharged (lithiated) state, anode-free.** The active
  phase that fills ``eps_CAM`` of the cathode is the lithiated one: LiMO2 for the oxides,
  Li2S for S, Fe + 3 LiF for FeF3, Li2O2 for Li–air. The Li is stoichiometric to the
  cathode capacity and stored inside the cathode, no Li excess, no current collectors.
* **Mass**: the discharged cathode (its active phase includes the Li and, for Li–air,
  the O2 taken up from air: the Li2O2 product is weighed; no O2 tank, no air
  electrode hardware), the LLZO of cathode and separator, the carbon of the lower bound;
  pores are weightless.
* **Volume** (``energy_density_Wh_per_L``): cathode + separator at the discharged state.
  The cathode is sized for the discharged phase, so the volume a conversion cathode
  needs for its expansion is inside it: on charge the phase shrinks (S, FeF3) or vanishes
  (Li2O2, the O2 goes back to the air) and leaves ``charged_void_fraction`` of the
  cathode empty. Like the seed's NMC811 figure this does not count the Li metal that a
  charge plates on the anode; ``energy_density_with_plated_Li_Wh_per_L`` does (each
  electrode at its largest: the discharged cathode plus the charged Li foil, the volume
  a real cell must provide; Bruce et al. 2012 count volume this way).
* **Energy**: full capacity at a nominal (mean) voltage vs Li: no OCV curve, no losses.

The material data of the conversion cathodes are :data:`CONVERSION`, the intercalation
oxides are :data:`microsim.cell.parameters.MATERIALS` entries (``NMC811``, ``NMC622``,
``LCO``). :func:`theoretical` returns the rows, :func:`plot_theoretical` draws panels c
(Wh/kg) and d (Wh/L).

References
----------
Y. Ren, T. Danner et al., Adv. Energy Mater. 13 (2023) 2201939, doi:10.1002/aenm.202201939.
P. G. Bruce, S. A. Freunberger, L. J. Hardwick, J.-M. Tarascon, Nat. Mater. 11 (2012) 19,
doi:10.1038/nmat3191 (Li–S and Li–O2 cell voltages; volume of both electrodes counted).
G. G. Amatucci, N. Pereira, J. Fluorine Chem. 128 (2007) 243,
doi:10.1016/j.jfluchem.2006.11.016 (FeF3: 712 mAh/g, 2.74 V).
W. M. Haynes (ed.), CRC Handbook of Chemistry and Physics, 97th ed. (2016), "Physical
constants of inorganic compounds" (densities of the phases).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from microsim.cell.energy import composite_stack, stack_energy
from microsim.cell.parameters import MATERIALS, Material, get_material, get_parameter_set
from microsim.constants import FARADAY, mAh_per_cm2
from microsim.errors import InvalidInputError
from microsim.export.plots import pyplot, save_png

#: Cathode thicknesses of the study [m]: 10 to 200 µm every 5 µm.
THICKNESSES: tuple[float, ...] = tuple(float(x) * 1e-6 for x in np.arange(10, 201, 5))
#: Share of the cathode volume given to conductive carbon in place of CAM (lower bound).
#: 10 vol% (4.3 wt% of an NMC811 cathode, 7.8 wt% of a Li2S one): a carbon-black network
#: percolates at a few vol% (its aggregates are open; random spheres would need 16 vol%,
#: Scher & Zallen, J. Chem. Phys. 53 (1970) 3759, doi:10.1063/1.1674565), and S, FeF3
#: and Li2O2 are insulators that need the carbon everywhere; 10 vol% is the round
#: figure at the generous end of common practice, so the band is a wide, honest range.
ADDITIVE_FRACTION = 0.10
#: Conductive carbon black: density 2.0 g/cm^3 (amorphous carbon 1.8–2.1 g/cm^3, CRC
#: Handbook, 97th ed.).
CARBON = Material("carbon", 2000.0, source="amorphous carbon 1.8-2.1 g/cm3, CRC Handbook 97th ed.; 2.0 taken")

# Standard atomic weights [kg/mol] (IUPAC conventional values; Li as in the seed's Table 3).
_ATOMIC_MASS = {"Li": 6.941e-3, "O": 15.999e-3, "F": 18.998e-3, "S": 32.06e-3, "Fe": 55.845e-3}
_CRC = "CRC Handbook of Chemistry and Physics, 97th ed. (2016)"


@dataclass(frozen=True)
class Phase:
    """A solid phase: formula (element -> count per formula unit) and density [kg/m^3]."""

    name: str
    formula: Mapping[str, int]
    density: float
    source: str = _CRC

    @property
    def molar_mass(self) -> float:
        """[kg/mol]"""
        return sum(_ATOMIC_MASS[element] * count for element, count in self.formula.items())

    @property
    def molar_volume(self) -> float:
        """[m^3/mol]"""
        return self.molar_mass / self.density


@dataclass(frozen=True)
class ConversionCathode:
    """A conversion reaction ``charged + n Li -> discharged`` per formula unit.

    Attributes
    ----------
    name : str
        The name of the cathode in the study (``S``, ``FeF3``, ``Li-air``).
    charged, discharged : tuple of (Phase, int)
        Solid phases and their counts per formula unit of the reaction; ``charged`` is
        empty for Li–air (the O2 comes from the air and goes back to it).
    electrons : int
        Li (electrons) per formula unit, ``n``.
    nominal_voltage : float [V]
        Mean voltage vs Li (theoretical energy).
    source : str
    """

    name: str
    charged: tuple[tuple[Phase, int], ...]
    discharged: tuple[tuple[Phase, int], ...]
    electrons: int
    nominal_voltage: float
    source: str

    @staticmethod
    def _mass(phases) -> float:
        return sum(p.molar_mass * k for p, k in phases)

    @staticmethod
    def _volume(phases) -> float:
        return sum(p.molar_volume * k for p, k in phases)

    @property
    def charged_capacity(self) -> float:
        """Capacity per mass of the charged phase [C/kg] (``n F / M_charged``; 0 for Li–air)."""
        return self.electrons * FARADAY / self._mass(self.charged) if self.charged else 0.0

    @property
    def volume_ratio(self) -> float:
        """Volume of the charged over the discharged solid phases (0 for Li–air)."""
        return self._volume(self.charged) / self._volume(self.discharged)

    @property
    def material(self) -> Material:
        """The discharged (lithiated) phase as a :class:`Material`: what fills ``eps_CAM``.

        Density ``M_d / V_d`` of the phase mixture, capacity ``n F / M_d`` per mass of it.
        """
        mass, volume = self._mass(self.discharged), self._volume(self.discharged)
        label = " + ".join(p.name if k == 1 else f"{k} {p.name}" for p, k in self.discharged)
        return Material(label, mass / volume, self.electrons * FARADAY / mass, mass, self.nominal_voltage,
                        source=self.source)


_LI2S = Phase("Li2S", {"Li": 2, "S": 1}, 1660.0)
_S = Phase("S", {"S": 1}, 2070.0)  # alpha (orthorhombic) sulfur
_FEF3 = Phase("FeF3", {"Fe": 1, "F": 3}, 3870.0)
_FE = Phase("Fe", {"Fe": 1}, 7874.0)
_LIF = Phase("LiF", {"Li": 1, "F": 1}, 2640.0)
_LI2O2 = Phase("Li2O2", {"Li": 2, "O": 2}, 2310.0)

#: Conversion cathodes: densities from the CRC Handbook (97th ed.), capacities from the
#: stoichiometry (``n F / M``: S 1672 mAh/g, FeF3 713 mAh/g; per discharged mass Li2S
#: 1167, Fe + 3 LiF 602, Li2O2 1168 mAh/g), voltages from the references given.
CONVERSION: dict[str, ConversionCathode] = {
    # S + 2 Li -> Li2S; 2.2 V: the Li–S cell voltage of Bruce et al. 2012 (their
    # 2567 Wh/kg per kg of Li2S = 1167 mAh/g x 2.2 V).
    "S": ConversionCathode("S", ((_S, 1),), ((_LI2S, 1),), 2, 2.2,
                           "Bruce et al., Nat. Mater. 11 (2012) 19 (2.2 V); CRC densities"),
    # FeF3 + 3 Li -> Fe + 3 LiF; 2.74 V: the thermodynamic voltage of the three-electron
    # conversion (Amatucci & Pereira 2007, with 712 mAh/g).
    "FeF3": ConversionCathode("FeF3", ((_FEF3, 1),), ((_FE, 1), (_LIF, 3)), 3, 2.74,
                              "Amatucci & Pereira, J. Fluorine Chem. 128 (2007) 243 (2.74 V); CRC densities"),
    # 2 Li + O2 (air) -> Li2O2; 2.96 V: the Li2O2 formation voltage (Bruce et al. 2012).
    "Li-air": ConversionCathode("Li-air", (), ((_LI2O2, 1),), 2, 2.96,
                                "Bruce et al., Nat. Mater. 11 (2012) 19 (2.96 V); CRC density of Li2O2"),
}
#: The study's cathodes, in the seed's order.
CAMS: tuple[str, ...] = ("LCO", "NMC622", "NMC811", "S", "FeF3", "Li-air")
BOUNDS = ("upper", "lower")


def active_material(name: str) -> Material:
    """The discharged (lithiated) active phase of a cathode of the study, as a Material.

    Intercalation oxides come from :data:`~microsim.cell.parameters.MATERIALS`,
    conversion cathodes from :data:`CONVERSION`; an unknown name lists the known ones.

    >>> active_material("S").name, round(active_material("S").capacity_mAh_per_g)
    ('Li2S', 1167)
    """
    if name in CONVERSION:
        return CONVERSION[name].material
    material = MATERIALS.get(name)
    if material is None or material.specific_capacity <= 0 or material.nominal_voltage <= 0:
        raise InvalidInputError(f"unknown cathode {name!r}; known: {', '.join(CAMS)}")
    return material


def theoretical_point(
    cam: str,
    thickness: float,
    *,
    bound: str = "upper",
    additive_fraction: float = ADDITIVE_FRACTION,
    parameter_set: str = "improved",
) -> dict:
    """One row of the study: the theoretical figures of one cathode at one thickness [m].

    Returns
    -------
    dict
        ``cam``, ``thickness_um``, ``bound``, ``specific_energy_Wh_per_kg``,
        ``energy_density_Wh_per_L``, ``energy_density_with_plated_Li_Wh_per_L``,
        ``capacity_mAh_per_cm2``, ``nominal_voltage_V``, the fractions, the
        discharged phase, ``charged_void_fraction`` (conversion cathodes) and the
        accounting in words.

    Raises
    ------
    InvalidInputError
        An unknown cathode or bound, a thickness that is not a positive number, an
        additive fraction outside [0, eps_CAM).

    Examples
    --------
    >>> round(theoretical_point("NMC811", 50e-6)["specific_energy_Wh_per_kg"])  # the seed's 519
    519
    """
    if bound not in BOUNDS:
        raise InvalidInputError(f"bound must be one of {', '.join(BOUNDS)}, got {bound!r}")
    if not (isinstance(thickness, (int, float)) and math.isfinite(thickness) and thickness > 0):
        raise InvalidInputError(f"cathode thickness must be a positive number [m], got {thickness!r}")
    p = get_parameter_set(parameter_set)
    if not (isinstance(additive_fraction, (int, float)) and 0 <= additive_fraction < p.eps_CAM):
        raise InvalidInputError(f"additive fraction must lie in [0, eps_CAM = {p.eps_CAM:g}), "
                                f"got {additive_fraction!r}")
    material, se = active_material(cam), get_material(p.electrolyte)
    carbon = additive_fraction if bound == "lower" else 0.0
    eps_cam = p.eps_CAM - carbon
    layout = dict(eps_CAM=eps_cam, eps_SE=p.eps_SE, L_cat=thickness, L_sep=p.L_sep,
                  additives=((CARBON, carbon),) if carbon else ())
    stack = composite_stack(material, se, **layout)
    energy = stack_energy(stack, material.nominal_voltage)
    charged = stack_energy(composite_stack(material, se, plated_li=True, **layout), material.nominal_voltage)
    conversion = CONVERSION.get(cam)
    return {
        "cam": cam,
        "thickness_um": round(thickness * 1e6, 6),
        "bound": bound,
        "specific_energy_Wh_per_kg": energy.specific_energy_Wh_per_kg,
        "energy_density_Wh_per_L": energy.energy_density_Wh_per_L,
        "energy_density_with_plated_Li_Wh_per_L": charged.energy_density_Wh_per_L,
        "capacity_mAh_per_cm2": mAh_per_cm2(stack.capacity),
        "nominal_voltage_V": material.nominal_voltage,
        "eps_CAM": eps_cam,
        "eps_SE": p.eps_SE,
        "eps_carbon": carbon,
        "separator_um": round(p.L_sep * 1e6, 6),
        "discharged_phase": material.name,
        "charged_void_fraction": "" if conversion is None else eps_cam * (1 - conversion.volume_ratio),
        "accounting": f"theoretical: full capacity x {material.nominal_voltage:g} V; discharged state; "
                      + energy.mass_accounting,
    }


def theoretical(
    *,
    cams: Sequence[str] = CAMS,
    thicknesses: Sequence[float] = THICKNESSES,
    additive_fraction: float = ADDITIVE_FRACTION,
    parameter_set: str = "improved",
    protocol: str = "discharge",
    grid=None,
    progress: Callable[[int, int], None] | None = None,
) -> list[dict]:
    """Fig. 8c,d: theoretical Wh/kg and Wh/L of each cathode against its thickness [m],
    both bounds (rows of :func:`theoretical_point`).

    ``protocol``, ``grid`` and ``progress`` are accepted like every ``cell-study`` and
    ignored: nothing is simulated (the figures do not depend on them, and the whole
    table takes milliseconds).

    >>> rows = theoretical(cams=("NMC811",), thicknesses=(50e-6, 100e-6))
    >>> [(r["thickness_um"], r["bound"], round(r["specific_energy_Wh_per_kg"])) for r in rows]
    [(50.0, 'upper', 519), (50.0, 'lower', 473), (100.0, 'upper', 568), (100.0, 'lower', 520)]
    """
    del protocol, grid, progress  # theoretical: no simulation
    return [theoretical_point(cam, thickness, bound=bound, additive_fraction=additive_fraction,
                              parameter_set=parameter_set)
            for cam in cams for thickness in thicknesses for bound in BOUNDS]


def plot_theoretical(rows: Sequence[dict], path: str | Path, *, force: bool = False) -> Path:
    """Fig. 8c,d: Wh/kg (c) and Wh/L (d) against cathode thickness [µm], one colour per
    cathode, solid the upper bound (CAM + LLZO), dashed the lower (with carbon), the band
    between them shaded."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    cams = list(dict.fromkeys(r["cam"] for r in rows))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, key, label, panel in (
        (axes[0], "specific_energy_Wh_per_kg", "specific energy [Wh/kg]", "c"),
        (axes[1], "energy_density_Wh_per_L", "energy density [Wh/L]", "d"),
    ):
        for i, cam in enumerate(cams):
            colour = colours[i % len(colours)]
            lines = {}
            for bound in BOUNDS:
                sel = sorted((r for r in rows if r["cam"] == cam and r["bound"] == bound),
                             key=lambda r: r["thickness_um"])
                lines[bound] = ([r["thickness_um"] for r in sel], [r[key] for r in sel])
                ax.plot(*lines[bound], color=colour, linestyle="-" if bound == "upper" else "--",
                        label=cam if bound == "upper" else None)
            if all(lines[b][0] for b in BOUNDS) and lines["upper"][0] == lines["lower"][0]:
                ax.fill_between(lines["upper"][0], lines["lower"][1], lines["upper"][1], color=colour, alpha=0.15)
        ax.set_xlabel("cathode thickness [µm]")
        ax.set_ylabel(label)
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.set_title(f"({panel})", loc="left")
    axes[0].legend(title="cathode", fontsize=8)
    styles = [plt.Line2D([], [], color="black", linestyle="-"), plt.Line2D([], [], color="black", linestyle="--")]
    axes[1].legend(styles, ["upper: CAM + LLZO", "lower: with carbon"], fontsize=8, loc="lower right")
    carbon = max((r.get("eps_carbon", 0.0) or 0.0 for r in rows), default=0.0)
    sep = rows[0].get("separator_um", "") if rows else ""
    fig.suptitle(
        f"theoretical energy (Fig. 8c,d): Li | {sep:g} µm LLZO | composite cathode, discharged state, anode-free "
        f"(Li inside the cathode), pores weightless\nsolid: CAM + LLZO only; dashed: {carbon * 100:g} vol% carbon "
        "in place of CAM; volume without the Li plated on charge" if rows else "theoretical energy",
        fontsize=10)
    return save_png(fig, path, force=force)
