"""Linear solvers for the SPD conductance systems: pluggable callables.

A solver is any callable ``solver(matrix, rhs, *, x0=None, rtol=...) -> SolveInfo``.
Two ship with microsim:

* :class:`AMGSolver` (default): conjugate gradients preconditioned by a pyamg
  smoothed-aggregation V-cycle, tuned for 7-point voxel conductance matrices.
* :class:`DirectSolver`: sparse LU (SuperLU through SciPy), for small volumes and
  as the reference in tests.

``get_solver(name)`` turns a name into a solver; the error lists the valid names.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from microsim.errors import ConvergenceError, InvalidInputError, MissingDependencyError

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, eq=False)
class SolveInfo:
    """What a linear solve returns.

    Attributes
    ----------
    x : (n,) float64 ndarray
        The solution.
    iterations : int
        Krylov iterations (0 for a direct solve).
    residual : float
        Final relative residual ||b - A x|| / ||b||, recomputed from ``x``.
    converged : bool
    setup_seconds, solve_seconds : float
        Preconditioner (or factorisation) set-up and iteration wall time [s].
    levels : int
        Multigrid levels (0 for a direct solve).
    """

    x: np.ndarray
    iterations: int
    residual: float
    converged: bool
    setup_seconds: float
    solve_seconds: float
    levels: int = 0


def relative_residual(matrix, x: np.ndarray, rhs: np.ndarray) -> float:
    """||rhs - matrix @ x|| / ||rhs|| (0 for a zero right-hand side solved exactly)."""
    norm_b = float(np.linalg.norm(rhs))
    r = float(np.linalg.norm(rhs - matrix @ x))
    return r / norm_b if norm_b > 0 else r


def conjugate_gradient(
    matrix,
    rhs: np.ndarray,
    preconditioner: Callable[[np.ndarray], np.ndarray],
    *,
    x0: np.ndarray | None = None,
    rtol: float = 1e-8,
    maxiter: int = 500,
) -> tuple[np.ndarray, int, bool]:
    """Preconditioned conjugate gradients to ||b - A x|| <= rtol ||b||.

    Returns the solution, the number of iterations and whether the tolerance was met.
    """
    x = np.zeros_like(rhs) if x0 is None else np.array(x0, dtype=float, copy=True)
    r = rhs - matrix @ x
    target = rtol * float(np.linalg.norm(rhs))
    if float(np.linalg.norm(r)) <= target:
        return x, 0, True
    z = preconditioner(r)
    p = z.copy()
    rz = float(r @ z)
    for iteration in range(1, maxiter + 1):
        q = matrix @ p
        alpha = rz / float(p @ q)
        x += alpha * p
        r -= alpha * q
        if float(np.linalg.norm(r)) <= target:
            return x, iteration, True
        z = preconditioner(r)
        rz_new = float(r @ z)
        p *= rz_new / rz
        p += z
        rz = rz_new
    return x, maxiter, False


def v_cycle(hierarchy, rhs: np.ndarray, level: int = 0) -> np.ndarray:
    """One multigrid V-cycle from a zero initial guess: an SPD approximation of A^-1 rhs.

    Written here rather than calling ``hierarchy.solve`` so that applying the
    preconditioner costs no residual norms and no extra fine-level products.
    """
    if len(hierarchy.levels) == 1:
        return np.asarray(hierarchy.coarse_solver(hierarchy.levels[0].A, rhs), dtype=rhs.dtype)
    current = hierarchy.levels[level]
    x = np.zeros_like(rhs)
    current.presmoother(current.A, x, rhs)
    coarse_rhs = current.R @ (rhs - current.A @ x)
    if level == len(hierarchy.levels) - 2:
        coarse_x = hierarchy.coarse_solver(hierarchy.levels[-1].A, coarse_rhs)
    else:
        coarse_x = v_cycle(hierarchy, coarse_rhs, level + 1)
    x += current.P @ coarse_x
    current.postsmoother(current.A, x, rhs)
    return x


@dataclasses.dataclass(frozen=True)
class AMGSolver:
    """CG preconditioned by a pyamg smoothed-aggregation V-cycle.

    Parameters
    ----------
    rtol : float
        Default relative residual tolerance (a call's ``rtol`` overrides it).
    maxiter : int
        Most CG iterations before :class:`ConvergenceError`.
    float32 : bool
        Build and apply the multigrid hierarchy in single precision while CG runs
        in double precision: half the memory traffic per V-cycle. The preconditioner
        only has to be a fixed SPD approximation of A^-1, so CG still reaches
        double-precision tolerances.
    strength, aggregate, smooth, presmoother, postsmoother, improve_candidates, max_coarse :
        Passed to :func:`pyamg.smoothed_aggregation_solver`; the defaults are tuned
        for voxel conductance matrices (see benchmarks/RESULTS.md).
    """

    rtol: float = 1e-8
    maxiter: int = 500
    float32: bool = True
    strength: Any = ("symmetric", {"theta": 0.0})
    aggregate: Any = "standard"
    smooth: Any = ("jacobi", {"omega": 4.0 / 3.0, "filter_entries": False})
    presmoother: Any = ("gauss_seidel", {"sweep": "symmetric"})
    postsmoother: Any = ("gauss_seidel", {"sweep": "symmetric"})
    improve_candidates: Any = None
    max_coarse: int = 500

    name = "pyamg"

    def setup(self, matrix) -> Callable[[np.ndarray], np.ndarray]:
        """Build the multigrid hierarchy of ``matrix``; return x -> V-cycle(x)."""
        try:
            import pyamg
        except ImportError:  # pragma: no cover - pyamg is a core dependency
            raise MissingDependencyError("the AMG solver needs pyamg: pip install pyamg") from None
        work = matrix.astype(np.float32) if self.float32 else matrix
        hierarchy = pyamg.smoothed_aggregation_solver(
            work,
            B=np.ones((work.shape[0], 1), dtype=work.dtype),
            strength=self.strength,
            aggregate=self.aggregate,
            smooth=self.smooth,
            presmoother=self.presmoother,
            postsmoother=self.postsmoother,
            improve_candidates=self.improve_candidates,
            max_coarse=self.max_coarse,
        )
        dtype = work.dtype

        def apply(residual: np.ndarray) -> np.ndarray:
            return v_cycle(hierarchy, residual.astype(dtype)).astype(np.float64)

        apply.levels = len(hierarchy.levels)  # type: ignore[attr-defined]
        apply.hierarchy = hierarchy  # type: ignore[attr-defined]
        return apply

    def __call__(self, matrix, rhs, *, x0=None, rtol: float | None = None, preconditioner=None) -> SolveInfo:
        tol = self.rtol if rtol is None else rtol
        start = time.perf_counter()
        apply = preconditioner if preconditioner is not None else self.setup(matrix)
        setup = time.perf_counter() - start
        start = time.perf_counter()
        x, iterations, converged = conjugate_gradient(matrix, rhs, apply, x0=x0, rtol=tol, maxiter=self.maxiter)
        solve = time.perf_counter() - start
        residual = relative_residual(matrix, x, rhs)
        return SolveInfo(x, iterations, residual, converged, setup, solve, getattr(apply, "levels", 0))


@dataclasses.dataclass(frozen=True)
class DirectSolver:
    """Sparse LU factorisation (SciPy SuperLU): exact to round-off, for small systems."""

    max_unknowns: int = 300_000

    name = "direct"

    def __call__(self, matrix, rhs, *, x0=None, rtol: float | None = None, preconditioner=None) -> SolveInfo:
        if matrix.shape[0] > self.max_unknowns:
            raise InvalidInputError(
                f"the direct solver is meant for <= {self.max_unknowns} unknowns, got {matrix.shape[0]}; use the AMG solver"
            )
        start = time.perf_counter()
        x = spla.spsolve(sp.csc_matrix(matrix), rhs)
        elapsed = time.perf_counter() - start
        return SolveInfo(np.asarray(x, float), 0, relative_residual(matrix, x, rhs), True, 0.0, elapsed)


SOLVERS: dict[str, Callable[[], Any]] = {"pyamg": AMGSolver, "direct": DirectSolver}


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


def require_converged(info: SolveInfo, rtol: float, what: str) -> None:
    """Raise :class:`ConvergenceError` when ``info`` missed the tolerance."""
    if not info.converged:
        raise ConvergenceError(
            f"{what}: CG stopped after {info.iterations} iterations at relative residual "
            f"{info.residual:.2e} > rtol {rtol:.1e}"
        )
