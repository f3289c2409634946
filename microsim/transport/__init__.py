"""Steady conduction on voxels: assembly, solvers and effective properties."""

from microsim.transport.effective import (
    TransportFields,
    TransportResult,
    effective_conductivity,
    solve_transport,
    tortuosity_factor,
)
from microsim.transport.network import build_network, check_conductivities
from microsim.transport.solvers import AMGSolver, DirectSolver, SolveInfo, get_solver

__all__ = [
    "AMGSolver",
    "DirectSolver",
    "SolveInfo",
    "TransportFields",
    "TransportResult",
    "build_network",
    "check_conductivities",
    "effective_conductivity",
    "get_solver",
    "solve_transport",
    "tortuosity_factor",
]
