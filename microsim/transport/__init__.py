"""Steady conduction on voxels: assembly, solvers and effective properties."""

from microsim.transport.backends import get_solver
from microsim.transport.effective import (
    TransportFields,
    TransportResult,
    effective_conductivity,
    solve_transport,
    tortuosity_factor,
)
from microsim.transport.grains import (
    GrainBoundaryBeta,
    brick_layer_beta,
    brick_layer_resistance,
    grain_boundary_beta,
)
from microsim.transport.network import build_network, check_conductivities
from microsim.transport.solvers import AMGSolver, DirectSolver, SolveInfo

__all__ = [
    "AMGSolver",
    "DirectSolver",
    "GrainBoundaryBeta",
    "SolveInfo",
    "TransportFields",
    "TransportResult",
    "brick_layer_beta",
    "brick_layer_resistance",
    "build_network",
    "check_conductivities",
    "effective_conductivity",
    "get_solver",
    "grain_boundary_beta",
    "solve_transport",
    "tortuosity_factor",
]
