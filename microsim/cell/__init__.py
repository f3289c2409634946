"""Cell model: parameter sets, open-circuit potentials, theoretical energy, reduced P2D.

Li metal | dense solid-electrolyte separator | composite cathode, fed with effective
properties from the transport solver or from Bruggeman forms (DESIGN §5).
"""

from microsim.cell.coupling import coupled_parameters, effective_conductivity, parameters_from_report
from microsim.cell.energy import TheoreticalEnergy, cell_stack, theoretical_energy
from microsim.cell.ocv import get_ocv
from microsim.cell.p2d import LOSSES, PROTOCOLS, CellResult, Grid, simulate
from microsim.cell.properties import get_conductivity, get_diffusivity
from microsim.cell.parameters import (
    MATERIALS,
    PARAMETER_SETS,
    CellParameters,
    Material,
    get_material,
    get_parameter_set,
    improved,
    load_parameters,
    parameter_names,
    state_of_the_art,
)

__all__ = [
    "LOSSES",
    "MATERIALS",
    "PARAMETER_SETS",
    "PROTOCOLS",
    "CellParameters",
    "CellResult",
    "Grid",
    "Material",
    "TheoreticalEnergy",
    "cell_stack",
    "coupled_parameters",
    "effective_conductivity",
    "get_conductivity",
    "get_diffusivity",
    "get_material",
    "get_ocv",
    "get_parameter_set",
    "improved",
    "load_parameters",
    "parameter_names",
    "parameters_from_report",
    "simulate",
    "state_of_the_art",
    "theoretical_energy",
]
