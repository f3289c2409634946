"""microsim: microstructure-resolved 3-D transport for oxide solid-state batteries.

Data flows generate/import -> segment -> analyse/solve -> cell model -> export; the
public API of each stage is re-exported here.
"""

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
from microsim.microstructure import DEFAULT_PHASES, Microstructure, load_microstructure, save_microstructure
from microsim.transport import (
    TransportResult,
    effective_conductivity,
    solve_transport,
    tortuosity_factor,
)

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_PHASES",
    "ConvergenceError",
    "InputFileError",
    "InvalidInputError",
    "InvalidMicrostructureError",
    "Microstructure",
    "MicrosimError",
    "MicrosimWarning",
    "OutputExistsError",
    "PercolationWarning",
    "ResourceError",
    "TransportResult",
    "UnitError",
    "__version__",
    "effective_conductivity",
    "load_microstructure",
    "save_microstructure",
    "solve_transport",
    "tortuosity_factor",
]
