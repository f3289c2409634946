"""Materials and the two parameter sets of the reference paper (SI units inside).

Reference: Y. Ren, T. Danner, A. Moy, M. Finsterbusch, T. Hamann, J. Dippell,
T. Fuchs, M. Müller, R. Hoft, A. Weber, L. A. Curtiss, P. Zapol, M. Klenk,
A. T. Ngo, P. Barai, B. C. Wood, R. Shi, L. F. Wan, T. W. Heo, M. Engels, J. Nanda,
F. H. Richter, A. Latz, V. Srinivasan, J. Janek, J. Sakamoto, E. D. Wachsman,
D. Fattakhova-Rohlfing, "Oxide-based solid-state batteries: a perspective on
composite cathode architecture", Adv. Energy Mater. 13 (2023) 2201939,
doi:10.1002/aenm.202201939, Table 3 ("state of the art" and "improved").

``get_parameter_set(name)`` returns a frozen :class:`CellParameters`; change values
with ``dataclasses.replace`` or :meth:`CellParameters.with_values`, save and load them
as JSON (``to_dict`` / ``from_dict``) to keep a set as editable data.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from microsim.constants import C_PER_KG_PER_MAH_PER_G
from microsim.errors import InvalidInputError



@dataclass(frozen=True)
class Material:
    """A battery material.

    Attributes
    ----------
    name : str
    density : float [kg/m^3]
    specific_capacity : float [C/kg]
        Capacity used in the voltage window (0 for an electrolyte).
    molar_mass : float [kg/mol]
    nominal_voltage : float [V]
        Mean voltage vs Li over the window (theoretical energy).
    ocv : str
        Name of the open-circuit potential in :mod:`microsim.cell.ocv` ("" if none).
    source : str
    """

    name: str
    density: float
    specific_capacity: float = 0.0
    molar_mass: float = 0.0
    nominal_voltage: float = 0.0
    ocv: str = ""
    source: str = ""

    @property
    def capacity_mAh_per_g(self) -> float:
        return self.specific_capacity / C_PER_KG_PER_MAH_PER_G

    @property
    def volumetric_capacity(self) -> float:
        """Capacity per volume of material [C/m^3]."""
        return self.specific_capacity * self.density


_PAPER = "Ren, Danner et al., Adv. Energy Mater. 13 (2023) 2201939, Table 3"

MATERIALS = {
    "NMC811": Material("NMC811", 4870.0, 218.66 * C_PER_KG_PER_MAH_PER_G, 97.28e-3, 3.86, "NMC811", _PAPER),
    # LiCoO2 between x = 0.5 and the 3.0 V end of the Ramadass fit (x = 0.9967):
    # 0.4967 x 274 mAh/g; density of the crystal 5.06 g/cm^3; mean voltage of that fit
    # over the window.
    "LCO": Material("LCO", 5060.0, 136.1 * C_PER_KG_PER_MAH_PER_G, 97.87e-3, 3.95, "LCO",
                    "Ramadass et al., J. Electrochem. Soc. 151 (2004) A196 (OCV); crystal density 5.06 g/cm3"),
    # LiNi0.6Mn0.2Co0.2O2 (no OCV fit here: theoretical studies only). 187 mAh/g between
    # 3.0 and 4.3 V at 0.1C and a mean discharge voltage of 3.8 V (Noh, Youn, Yoon, Sun,
    # J. Power Sources 233 (2013) 121, doi:10.1016/j.jpowsour.2013.01.063); density: the
    # X-ray density of the R-3m cell, a = 2.868 A, c = 14.21 A, Z = 3, M = 96.93 g/mol:
    # 4.77 g/cm^3.
    "NMC622": Material("NMC622", 4770.0, 187.0 * C_PER_KG_PER_MAH_PER_G, 96.93e-3, 3.8, "",
                       "Noh et al., J. Power Sources 233 (2013) 121 (capacity, voltage); X-ray density"),
    "LLZO": Material("LLZO", 5077.0, source=_PAPER),
    "Li": Material("Li", 534.0, 3861.3 * C_PER_KG_PER_MAH_PER_G, 6.941e-3, source=_PAPER),
    # current-collector foils (only with the current-collector accounting option)
    "Al": Material("Al", 2700.0, source="handbook density"),
    "Cu": Material("Cu", 8960.0, source="handbook density"),
}


@dataclass(frozen=True)
class ThicknessProfile:
    """Composite-cathode properties that vary through the thickness.

    The cathode is cut into ``len(eps_CAM)`` slabs of equal thickness, listed from the
    separator side (x = 0) to the current collector; each slab is uniform.

    Attributes
    ----------
    eps_CAM, eps_SE : tuple of float
        Volume fractions per slab.
    sigma_eff, kappa_eff : tuple of float [S/m], optional
        Effective ionic and electronic conductivity per slab (default: the Bruggeman
        forms of the parameter set on each slab's fractions).
    area_per_volume : tuple of float [1/m], optional
        CAM|SE interface area per volume per slab (default ``3 eps_CAM / R_p``).

    Examples
    --------
    >>> ThicknessProfile((0.8, 0.6), (0.2, 0.4)).slab_of(4).tolist()
    [0, 0, 1, 1]
    """

    eps_CAM: tuple[float, ...]
    eps_SE: tuple[float, ...]
    sigma_eff: tuple[float, ...] | None = None
    kappa_eff: tuple[float, ...] | None = None
    area_per_volume: tuple[float, ...] | None = None

    def __post_init__(self):
        n = None
        for f in dataclasses.fields(self):
            values = getattr(self, f.name)
            if values is None:
                continue
            try:
                values = tuple(float(v) for v in values)
            except (TypeError, ValueError):
                raise InvalidInputError(f"profile {f.name} must be a sequence of numbers, got {values!r}") from None
            if not values or (n is not None and len(values) != n):
                raise InvalidInputError(f"every profile needs the same number (>= 1) of slabs; {f.name} has {len(values)}")
            if any(not (math.isfinite(v) and v >= 0) for v in values):
                raise InvalidInputError(f"profile {f.name} must hold finite values >= 0, got {values}")
            n = len(values)
            object.__setattr__(self, f.name, values)
        for a, b in zip(self.eps_CAM, self.eps_SE):
            if not (0 < a < 1 and 0 < b < 1 and a + b <= 1 + 1e-12):
                raise InvalidInputError(f"profile fractions need 0 < eps_CAM, eps_SE < 1 and a sum <= 1, got {a}, {b}")

    @property
    def slabs(self) -> int:
        return len(self.eps_CAM)

    def slab_of(self, n_cells: int) -> np.ndarray:
        """Slab index of each of ``n_cells`` equal cells (by the cell centre)."""
        return np.minimum(((np.arange(n_cells) + 0.5) / n_cells * self.slabs).astype(int), self.slabs - 1)


def get_material(name: str) -> Material:
    """The named :class:`Material`; an unknown name lists the known ones."""
    try:
        return MATERIALS[name]
    except KeyError:
        raise InvalidInputError(f"unknown material {name!r}; known materials: {', '.join(MATERIALS)}") from None


@dataclass(frozen=True)
class CellParameters:
    """Li metal | dense SE separator | composite cathode, SI units.

    The first thirteen names are the contract of ``microsim cell --param``.

    Attributes
    ----------
    sigma_SE : float [S/m]
        Bulk ionic conductivity of the solid electrolyte (separator and cathode).
    beta_tort, beta_GB : float
        SE effective conductivity ``sigma_SE * eps_SE**(beta_tort + beta_GB)``.
    kappa_CAM : float [S/m]
        Electronic conductivity of the CAM.
    beta_CAM : float
        ``kappa_eff = kappa_CAM * eps_CAM**beta_CAM``.
    D_CAM : float [m^2/s]
        Chemical diffusion coefficient of Li in the CAM.
    d50_CAM : float [m]
        CAM particle diameter (spheres of radius ``d50_CAM / 2``).
    R_CT : float [Ohm m^2]
        Charge-transfer resistance of the CAM|SE interface: ``i0 = RT / (F R_CT)``.
    R_SP : float [Ohm m^2]
        Resistive interphase (secondary phases) in series with the charge transfer.
    eps_CAM, eps_SE : float
        Volume fractions in the composite cathode (the rest is pore).
    L_sep, L_cat : float [m]
        Separator and cathode thickness.
    cam, electrolyte : str
        Material names (:data:`MATERIALS`).
    R_Li : float [Ohm m^2]
        Charge-transfer resistance of the Li|SE interface (0: ideal anode).
    temperature : float [K]
    v_min, v_max : float [V]
        Discharge and charge cut-off voltages.
    sigma_eff, kappa_eff : float [S/m] or None
        Effective conductivities that replace the Bruggeman forms (e.g. from the
        transport solver).
    area_per_volume : float [1/m] or None
        CAM|SE interface area per cathode volume; default ``3 eps_CAM / R_p``.
    li_excess : float
        Li metal on the anode as a multiple of the cathode capacity (0: anode-free).
    current_collectors : bool
        Count an Al foil on the cathode and a Cu foil on the anode in mass and volume.
    L_cc_Al, L_cc_Cu : float [m]
        Their thicknesses.
    coverage : float or None
        Share θ of the CAM surface in contact with the SE (the seed's partial contact and
        contact loss): the interface area is ``θ · 3 eps_CAM / R_p`` when no area is set
        or measured (None: full contact). A given coverage also replaces a measured area.
    profile : ThicknessProfile, optional
        Graded cathode: fractions, conductivities and area per slab. ``eps_CAM`` and
        ``eps_SE`` must then be the profile's means (:meth:`with_profile` sets them);
        ``sigma_eff_SE``, ``kappa_eff_CAM`` and ``interface_area`` become the
        series-equivalent conductivities and the mean area.
    """

    sigma_SE: float
    beta_tort: float
    beta_GB: float
    kappa_CAM: float
    beta_CAM: float
    D_CAM: float
    d50_CAM: float
    R_CT: float
    R_SP: float
    eps_CAM: float = 0.75
    eps_SE: float = 0.25
    L_sep: float = 10e-6
    L_cat: float = 50e-6
    cam: str = "NMC811"
    electrolyte: str = "LLZO"
    R_Li: float = 0.0
    temperature: float = 298.15
    v_min: float = 3.0
    v_max: float = 4.3
    sigma_eff: float | None = None
    kappa_eff: float | None = None
    area_per_volume: float | None = None
    li_excess: float = 0.0
    current_collectors: bool = False
    L_cc_Al: float = 10e-6
    L_cc_Cu: float = 6e-6
    coverage: float | None = None
    profile: ThicknessProfile | None = None
    name: str = field(default="custom", compare=False)

    def __post_init__(self):
        def need(ok: bool, what: str, value):
            if not ok:
                raise InvalidInputError(f"{what}, got {value!r}")

        for key in ("sigma_SE", "kappa_CAM", "D_CAM", "d50_CAM", "L_sep", "L_cat", "temperature"):
            value = getattr(self, key)
            need(isinstance(value, (int, float)) and math.isfinite(value) and value > 0,
                 f"{key} must be a positive number (SI units)", value)
        for key in ("beta_tort", "beta_GB", "beta_CAM", "R_CT", "R_SP", "R_Li", "li_excess", "L_cc_Al", "L_cc_Cu"):
            value = getattr(self, key)
            need(isinstance(value, (int, float)) and math.isfinite(value) and value >= 0,
                 f"{key} must be a non-negative number (SI units)", value)
        for key in ("eps_CAM", "eps_SE"):
            value = getattr(self, key)
            need(isinstance(value, (int, float)) and 0 < value < 1, f"{key} must lie in (0, 1)", value)
        need(self.eps_CAM + self.eps_SE <= 1 + 1e-12, "eps_CAM + eps_SE must not exceed 1",
             (self.eps_CAM, self.eps_SE))
        need(0 < self.v_min < self.v_max, "cut-offs need 0 < v_min < v_max", (self.v_min, self.v_max))
        need(self.coverage is None or (isinstance(self.coverage, (int, float)) and 0 < self.coverage <= 1),
             "coverage (the share of the CAM surface in contact) must lie in (0, 1]", self.coverage)
        for key in ("sigma_eff", "kappa_eff", "area_per_volume"):
            value = getattr(self, key)
            need(value is None or (math.isfinite(value) and value >= 0), f"{key} must be >= 0 or None", value)
        if isinstance(self.profile, dict):  # from JSON
            object.__setattr__(self, "profile", ThicknessProfile(**self.profile))
        if self.profile is not None:
            need(isinstance(self.profile, ThicknessProfile), "profile must be a ThicknessProfile", self.profile)
            means = (float(np.mean(self.profile.eps_CAM)), float(np.mean(self.profile.eps_SE)))
            need(abs(means[0] - self.eps_CAM) < 1e-9 and abs(means[1] - self.eps_SE) < 1e-9,
                 "eps_CAM and eps_SE must equal the means of the profile (use with_profile)",
                 ((self.eps_CAM, self.eps_SE), means))
        cam = get_material(self.cam)
        need(cam.specific_capacity > 0 and bool(cam.ocv), "cam must be an active material (NMC811, LCO)", self.cam)
        get_material(self.electrolyte)

    # -- derived -------------------------------------------------------------------
    @property
    def particle_radius(self) -> float:
        return self.d50_CAM / 2

    @property
    def sigma_eff_SE(self) -> float:
        """Effective ionic conductivity of the cathode [S/m] (series-equivalent when graded)."""
        return _series(self.cell_values(self._slabs)["sigma_eff"])

    @property
    def kappa_eff_CAM(self) -> float:
        """Effective electronic conductivity of the cathode [S/m] (series-equivalent when graded)."""
        return _series(self.cell_values(self._slabs)["kappa_eff"])

    @property
    def interface_area(self) -> float:
        """CAM|SE area per cathode volume ``a`` [1/m] (the mean when graded)."""
        return float(np.mean(self.cell_values(self._slabs)["area_per_volume"]))

    @property
    def _slabs(self) -> int:
        return 1 if self.profile is None else self.profile.slabs

    def cell_values(self, n_cells: int) -> dict[str, np.ndarray]:
        """Fractions, effective conductivities [S/m] and area [1/m] in ``n_cells`` equal cells.

        Without a profile every cell has the scalar values; with one, each cell takes
        its slab's value, and what the profile leaves out follows from the slab's
        fractions: ``sigma_SE eps_SE**(beta_tort + beta_GB)``, ``kappa_CAM
        eps_CAM**beta_CAM`` and ``3 eps_CAM / R_p`` (unless the scalar ``sigma_eff``,
        ``kappa_eff`` or ``area_per_volume`` is set, which then holds everywhere).
        """
        prof = self.profile
        take = (lambda v: np.asarray(v, dtype=float)[prof.slab_of(n_cells)]) if prof else None
        eps_cam = take(prof.eps_CAM) if prof else np.full(n_cells, self.eps_CAM)
        eps_se = take(prof.eps_SE) if prof else np.full(n_cells, self.eps_SE)

        def pick(name: str, default: np.ndarray) -> np.ndarray:
            if prof is not None and getattr(prof, name) is not None:
                return take(getattr(prof, name))
            if getattr(self, name) is not None:
                return np.full(n_cells, float(getattr(self, name)))
            return default

        return {
            "eps_CAM": eps_cam,
            "eps_SE": eps_se,
            "sigma_eff": pick("sigma_eff", self.sigma_SE * eps_se ** (self.beta_tort + self.beta_GB)),
            "kappa_eff": pick("kappa_eff", self.kappa_CAM * eps_cam**self.beta_CAM),
            "area_per_volume": pick("area_per_volume",
                                    (1.0 if self.coverage is None else self.coverage) * 3 * eps_cam / self.particle_radius),
        }

    def with_profile(self, profile: ThicknessProfile | None) -> "CellParameters":
        """A copy graded by ``profile``, with ``eps_CAM``/``eps_SE`` set to its means."""
        if profile is None:
            return dataclasses.replace(self, profile=None)
        return dataclasses.replace(self, profile=profile, eps_CAM=float(np.mean(profile.eps_CAM)),
                                   eps_SE=float(np.mean(profile.eps_SE)))

    def with_values(self, **values) -> "CellParameters":
        """A copy with some values replaced (validated)."""
        unknown = set(values) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise InvalidInputError(f"unknown parameter(s) {', '.join(sorted(unknown))}; "
                                    f"parameters are {', '.join(parameter_names())}")
        return dataclasses.replace(self, **values)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "CellParameters":
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise InvalidInputError(f"unknown parameter(s) {', '.join(sorted(unknown))}")
        return cls(**values)


def _series(values: np.ndarray) -> float:
    """Conductivity of equal slabs in series (0 when any slab blocks)."""
    return 0.0 if np.any(values <= 0) else float(len(values) / np.sum(1.0 / values))


def parameter_names() -> list[str]:
    """Names of the scalar parameters (``--param NAME=VALUE``)."""
    return [f.name for f in dataclasses.fields(CellParameters) if f.name not in ("name", "profile")]


def parse_parameter(name: str, text: str):
    """A parameter value given as text, in SI: parsed with its unit where it has one."""
    from microsim import units

    parsers = {
        "sigma_SE": units.parse_conductivity, "kappa_CAM": units.parse_conductivity,
        "sigma_eff": units.parse_conductivity, "kappa_eff": units.parse_conductivity,
        "D_CAM": units.parse_diffusivity, "d50_CAM": units.parse_length, "L_sep": units.parse_length,
        "L_cat": units.parse_length, "L_cc_Al": units.parse_length, "L_cc_Cu": units.parse_length,
        "R_CT": units.parse_area_resistance, "R_SP": units.parse_area_resistance,
        "R_Li": units.parse_area_resistance,
    }
    if name not in parameter_names():
        raise InvalidInputError(f"unknown parameter {name!r}; parameters are {', '.join(parameter_names())}")
    if name in ("cam", "electrolyte"):
        return text
    if name == "current_collectors":
        return str(text).lower() in ("1", "true", "yes")
    if name in parsers:
        return parsers[name](text)
    try:
        return float(text)
    except (TypeError, ValueError):
        raise InvalidInputError(f"parameter {name} must be a number, got {text!r}") from None


def state_of_the_art() -> CellParameters:
    """Table 3, "state of the art" (Ren, Danner et al. 2023).

    κ: the table's 4.54e-2 S/cm with β_CAM = 2.3 from the paper's text, so
    κ_eff = 0.75^2.3 × 4.54e-2 = 2.3e-2 S/cm. The paper also quotes κ_eff = 2.3e-3 S/cm
    (which its "≈ 50 mV at 10 mA/cm² in 100 µm" matches); give ``kappa_eff=0.23``
    [S/m] to use that one.
    """
    return CellParameters(
        sigma_SE=8e-4 * 100,  # 8e-4 S/cm
        beta_tort=2.31,
        beta_GB=1.39,
        kappa_CAM=4.54e-2 * 100,  # 4.54e-2 S/cm
        beta_CAM=2.3,
        D_CAM=2.54e-12 * 1e-4,  # 2.54e-12 cm^2/s
        d50_CAM=10e-6,
        R_CT=2600e-4,  # 2600 Ohm cm^2
        R_SP=2600e-4,
        name="state_of_the_art",
    )


def improved() -> CellParameters:
    """Table 3, "improved" (Ren, Danner et al. 2023)."""
    return CellParameters(
        sigma_SE=1e-2 * 100,  # 1e-2 S/cm
        beta_tort=1.5,
        beta_GB=0.0,
        kappa_CAM=3.15 * 100,  # 3.15 S/cm
        beta_CAM=2.3,
        D_CAM=2.54e-11 * 1e-4,  # 2.54e-11 cm^2/s
        d50_CAM=0.1e-6,
        R_CT=150e-4,  # 150 Ohm cm^2
        R_SP=0.0,
        name="improved",
    )


PARAMETER_SETS = {"state_of_the_art": state_of_the_art, "improved": improved}


def get_parameter_set(name: str) -> CellParameters:
    """One of :data:`PARAMETER_SETS` by name, or a set saved as JSON (a path ending in .json).

    An unknown name lists the valid ones. ``data/parameters/`` holds both sets as JSON
    (SI units) to copy and edit.

    Examples
    --------
    >>> round(get_parameter_set("state_of_the_art").sigma_eff_SE * 0.01, 7)  # S/cm
    4.7e-06
    """
    if str(name).endswith(".json"):
        return load_parameters(name)
    try:
        return PARAMETER_SETS[name]()
    except KeyError:
        raise InvalidInputError(
            f"unknown parameter set {name!r}; valid sets: {', '.join(PARAMETER_SETS)} (or a .json file)"
        ) from None


def load_parameters(path) -> CellParameters:
    """A :class:`CellParameters` from a JSON file of SI values (``CellParameters.to_dict``)."""
    import json
    from pathlib import Path

    from microsim.errors import InputFileError

    try:
        values = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputFileError(f"parameter file {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise InputFileError(f"cannot read parameter file {path}: {exc}") from None
    if not isinstance(values, dict):
        raise InvalidInputError(f"parameter file {path} must hold one JSON object")
    values = {k: v for k, v in values.items() if not k.startswith("_")}  # "_source", "_units": notes
    return CellParameters.from_dict(values)
