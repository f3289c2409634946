"""microsim: microstructure-resolved 3-D transport for oxide solid-state batteries.

Data flows generate/import -> segment -> analyse/solve -> cell model -> export; the
public API of each stage is re-exported here (the generator itself is
``microsim.generate.generate``: the module keeps its name).
"""

__version__ = "0.1.0"  # first: modules imported below read it

from microsim.errors import (
    ConvergenceError,
    InputFileError,
    InvalidInputError,
    InvalidMicrostructureError,
    MicrosimError,
    MicrosimWarning,
    OutputExistsError,
    PercolationWarning,
    ResourceError,
    UnitError,
)
from microsim.generate import Gradient, LogNormal
from microsim.export.labels import save_microstructure
from microsim.microstructure import DEFAULT_PHASES, Microstructure
from microsim.morphology import Morphology, measure_morphology
from microsim.reading import load_microstructure
from microsim.transport import (
    TransportResult,
    effective_conductivity,
    solve_transport,
    tortuosity_factor,
)
from microsim.transport.impedance import ChargeTransfer, ImpedanceResult, spectrum

__all__ = [
    "ChargeTransfer",
    "DEFAULT_PHASES",
    "ConvergenceError",
    "Gradient",
    "ImpedanceResult",
    "InputFileError",
    "InvalidInputError",
    "InvalidMicrostructureError",
    "LogNormal",
    "Microstructure",
    "MicrosimError",
    "MicrosimWarning",
    "Morphology",
    "OutputExistsError",
    "PercolationWarning",
    "ResourceError",
    "TransportResult",
    "UnitError",
    "__version__",
    "effective_conductivity",
    "load_microstructure",
    "measure_morphology",
    "save_microstructure",
    "solve_transport",
    "spectrum",
    "tortuosity_factor",
]
