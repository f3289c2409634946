"""The solver backends by name: the in-process solvers and the PETSc backend.

``get_solver(name)`` turns a name into a solver callable; the error lists the valid
names. A backend whose solver has ``distributed = True`` also solves whole axes across
MPI ranks (its ``solve_axes`` method), which :func:`microsim.transport.solve_transport`
calls instead of assembling on one process. The registry lives above both the
in-process solvers and the PETSc module, so neither imports the other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from microsim.errors import InvalidInputError
from microsim.transport.solvers import AMGSolver, DirectSolver


def _petsc_solver():
    from microsim.transport.distributed import PETScSolver, load_petsc

    load_petsc()  # a missing petsc4py is reported here, before any work, with the install hint
    return PETScSolver()


SOLVERS: dict[str, Callable[[], Any]] = {"pyamg": AMGSolver, "direct": DirectSolver, "petsc": _petsc_solver}


def get_solver(solver=None):
    """Return a solver callable from ``None`` (default AMG), a name, or a callable."""
    if solver is None:
        return AMGSolver()
    if isinstance(solver, str):
        try:
            return SOLVERS[solver]()
        except KeyError:
            raise InvalidInputError(f"unknown solver {solver!r}; valid: {', '.join(SOLVERS)}") from None
    if callable(solver):
        return solver
    raise InvalidInputError(f"solver must be a name ({', '.join(SOLVERS)}) or a callable, got {solver!r}")
