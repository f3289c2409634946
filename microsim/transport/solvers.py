"""Linear solvers for the SPD conductance systems: pluggable callables.

A solver is any callable ``solver(matrix, rhs, *, x0=None, rtol=...) -> SolveInfo``.
Three ship with microsim:

* :class:`AMGSolver` (default): conjugate gradients preconditioned by a pyamg
  smoothed-aggregation V-cycle, tuned for 7-point voxel conductance matrices.
* :class:`DirectSolver`: sparse LU (SuperLU through SciPy), for small volumes and
  as the reference in tests.
* :class:`~microsim.transport.distributed.PETScSolver` ("petsc"): CG with hypre
  BoomerAMG or GAMG on PETSc; inside :func:`~microsim.transport.solve_transport` it
  is the distributed (MPI) backend.

``microsim.transport.backends.get_solver(name)`` turns a name into a solver.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import math
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from microsim.errors import ConvergenceError, InvalidInputError, MissingDependencyError


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
    rtol: float = 1e-6,
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
        del q  # the vectors of the last iteration go before the next ones are made (peak memory)
        if float(np.linalg.norm(r)) <= target:
            return x, iteration, True
        del z
        z = preconditioner(r)
        rz_new = float(r @ z)
        p *= rz_new / rz
        p += z
        rz = rz_new
    return x, maxiter, False


@dataclasses.dataclass(frozen=True, eq=False)
class Level:
    """One level of a multigrid hierarchy: operator A and restriction R = P^T.

    Only R is stored, as CSR; the prolongator P is its transpose view (CSC), which
    SciPy multiplies faster than a CSR copy of P would, at no extra memory.
    """

    A: sp.csr_matrix
    R: sp.csr_matrix

    @property
    def P(self):
        return self.R.T


@dataclasses.dataclass(frozen=True, eq=False)
class Hierarchy:
    """Smoothed-aggregation hierarchy: fine-to-coarse levels and a Cholesky factor of the coarsest."""

    levels: tuple[Level, ...]
    coarse: Any
    coarse_size: int

    @property
    def operator_complexity(self) -> float:
        """Sum of nonzeros over all levels divided by the fine-level nonzeros."""
        fine = self.levels[0].A.nnz if self.levels else 1
        return (sum(level.A.nnz for level in self.levels) + self.coarse_size**2) / fine

    def __len__(self) -> int:
        return len(self.levels) + 1


def _absolute_row_sums(matrix: sp.csr_matrix) -> np.ndarray:
    """sum_j |a_ij| per row (the Gershgorin radii plus the diagonal)."""
    sums = np.add.reduceat(np.abs(matrix.data), matrix.indptr[:-1]).astype(matrix.dtype)
    sums[np.diff(matrix.indptr) == 0] = 0.0
    return sums


def _row_blocks(n: int, rows_per_block: int, workers: int) -> list[slice]:
    """Contiguous row blocks of at most ``rows_per_block`` rows, a multiple of ``workers`` of them."""
    count = -(-n // rows_per_block)
    count = -(-count // workers) * workers
    edges = np.linspace(0, n, count + 1).astype(np.int64)
    return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def smoothed_aggregation(
    matrix,
    *,
    theta: float = 0.0,
    omega: float = 1.6,
    max_coarse: int = 1000,
    max_levels: int = 20,
    workers: int = 1,
    rows_per_block: int = 1 << 19,
) -> Hierarchy:
    """Build a smoothed-aggregation AMG hierarchy with pyamg's strength and aggregation kernels.

    Per level: symmetric strength of connection (``theta``), pyamg standard
    aggregation, tentative prolongator T fitted to the constant vector, and one
    Jacobi smoothing step P = (I - omega W A) T with the row weights
    W_ii = 1 / sum_j |a_ij| (Gershgorin: a local bound of the spectral radius of
    D^-1 A, as pyamg's "local" weighting, for free where pyamg's default runs Arnoldi
    iterations and its "local" option is slow on BSR matrices); Galerkin coarse operator
    P^T A P. Everything stays CSR (pyamg keeps 1x1-block BSR, whose
    products are several times slower in SciPy).

    The sparse products run over blocks of rows, on ``workers`` threads (SciPy's
    sparse kernels release the GIL): the smoothed prolongator by blocks of
    ``rows_per_block`` fine rows, the coarse operator by the matching blocks of coarse
    rows, R_I (A P) = (R_I A) P, which are disjoint and simply stacked (no partial
    sums of the coarse size per block to add up).

    References
    ----------
    Vanek, Mandel, Brezina, "Algebraic multigrid by smoothed aggregation for second
    and fourth order elliptic problems", Computing 56 (1996) 179, doi:10.1007/BF02238511
    """
    try:
        from pyamg.aggregation import fit_candidates, standard_aggregation
        from pyamg.strength import symmetric_strength_of_connection
    except ImportError:  # pragma: no cover - pyamg is a core dependency
        raise MissingDependencyError("the AMG solver needs pyamg: pip install pyamg") from None

    A = sp.csr_matrix(matrix)
    candidates = np.ones((A.shape[0], 1), dtype=A.dtype)
    levels: list[Level] = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        while A.shape[0] > max_coarse and len(levels) < max_levels - 1:
            # theta = 0 keeps every off-diagonal entry, so A's own pattern is the
            # strength graph (same aggregates; pyamg's strength pass costs more than the rest)
            strength = A if theta == 0 else symmetric_strength_of_connection(A, theta)
            aggregates, _ = standard_aggregation(strength)
            del strength
            if aggregates.shape[1] in (0, A.shape[0]):
                break
            tentative, candidates = fit_candidates(aggregates, candidates)
            tentative = sp.csr_matrix(tentative)
            del aggregates
            weights = omega / _absolute_row_sums(A)
            blocks = _row_blocks(A.shape[0], rows_per_block, max(1, workers))

            def smoothed(block: slice, A=A, tentative=tentative, weights=weights) -> sp.csr_matrix:
                product = A[block] @ tentative
                product.data *= np.repeat(weights[block], np.diff(product.indptr))
                return (tentative[block] - product).tocsr()

            prolongator = sp.vstack(list(pool.map(smoothed, blocks)), format="csr")
            del tentative, weights

            restriction = prolongator.T.tocsr()
            coarse_blocks = _row_blocks(
                restriction.shape[0], max(1, rows_per_block * restriction.shape[0] // A.shape[0]), max(1, workers)
            )

            def galerkin(block: slice, A=A, prolongator=prolongator, restriction=restriction) -> sp.csr_matrix:
                return ((restriction[block] @ A) @ prolongator).tocsr()

            levels.append(Level(A, restriction))
            A = sp.vstack(list(pool.map(galerkin, coarse_blocks)), format="csr")
            del prolongator, restriction
    dense = A.toarray().astype(np.float64)
    try:
        factor = ("cholesky", scipy.linalg.cho_factor(dense))
    except np.linalg.LinAlgError:  # round-off made the single-precision coarse matrix semi-definite
        factor = ("pseudo-inverse", scipy.linalg.pinvh(dense))
    return Hierarchy(tuple(levels), factor, A.shape[0])


def v_cycle(hierarchy: Hierarchy, rhs: np.ndarray, level: int = 0, *, sweeps: int = 1) -> np.ndarray:
    """One V-cycle from a zero initial guess: an SPD approximation of A^-1 rhs.

    Forward Gauss-Seidel before and backward Gauss-Seidel after the coarse-grid
    correction, so the cycle is a symmetric operator (as CG needs) at the cost of one
    sweep each way.
    """
    from pyamg.relaxation.relaxation import gauss_seidel

    if level == len(hierarchy.levels):
        kind, factor = hierarchy.coarse
        solution = scipy.linalg.cho_solve(factor, rhs.astype(np.float64)) if kind == "cholesky" else factor @ rhs
        return solution.astype(rhs.dtype)
    current = hierarchy.levels[level]
    x = np.zeros_like(rhs)
    gauss_seidel(current.A, x, rhs, sweep="forward", iterations=sweeps)
    coarse_rhs = current.R @ (rhs - current.A @ x)
    x += current.P @ v_cycle(hierarchy, coarse_rhs, level + 1, sweeps=sweeps)
    gauss_seidel(current.A, x, rhs, sweep="backward", iterations=sweeps)
    return x


@dataclasses.dataclass(frozen=True)
class AMGSolver:
    """CG preconditioned by a smoothed-aggregation AMG V-cycle (pyamg kernels).

    Parameters
    ----------
    rtol : float
        Default relative residual tolerance (a call's ``rtol`` overrides it).
    maxiter : int
        Most CG iterations before the result is marked not converged.
    float32 : bool
        Build and apply the multigrid hierarchy in single precision while CG runs in
        double precision: half the memory and memory traffic per V-cycle. The
        preconditioner only has to be a fixed SPD approximation of A^-1, so CG still
        reaches double-precision tolerances.
    theta : float
        Strength-of-connection threshold (0 keeps every connection: right for
        conductance matrices, whose couplings are all of one sign).
    omega : float
        Prolongator smoothing weight (scaled by the Gershgorin bound of D^-1 A).
    max_coarse : int
        Size below which the coarsest level is solved by dense Cholesky.
    sweeps : int
        Gauss-Seidel sweeps before (forward) and after (backward) each coarse correction.
    workers : int or None
        Threads for the sparse products (default: every CPU available to the process).
    """

    rtol: float = 1e-6
    maxiter: int = 500
    float32: bool = True
    theta: float = 0.0
    omega: float = 1.6
    max_coarse: int = 1000
    sweeps: int = 1
    workers: int | None = None

    name = "pyamg"

    @property
    def worker_count(self) -> int:
        """Threads for the sparse products: ``workers``, else the CPUs this process may use."""
        if self.workers is not None:
            return max(1, int(self.workers))
        try:
            return len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not on Linux
            return os.cpu_count() or 1

    def setup(self, matrix) -> Callable[[np.ndarray], np.ndarray]:
        """Build the multigrid hierarchy of ``matrix``; return r -> V-cycle(r)."""
        work = matrix
        if self.float32:  # single-precision values, the index arrays shared with the float64 matrix
            work = sp.csr_matrix((matrix.data.astype(np.float32), matrix.indices, matrix.indptr), shape=matrix.shape)
        hierarchy = smoothed_aggregation(
            work, theta=self.theta, omega=self.omega, max_coarse=self.max_coarse, workers=self.worker_count
        )
        dtype = work.dtype

        def apply(residual: np.ndarray) -> np.ndarray:
            return v_cycle(hierarchy, residual.astype(dtype), sweeps=self.sweeps).astype(np.float64)

        apply.levels = len(hierarchy)  # type: ignore[attr-defined]
        apply.hierarchy = hierarchy  # type: ignore[attr-defined]
        return apply

    def __call__(self, matrix, rhs, *, x0=None, rtol: float | None = None) -> SolveInfo:
        tol = self.rtol if rtol is None else rtol
        start = time.perf_counter()
        apply = self.setup(matrix)
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

    def __call__(self, matrix, rhs, *, x0=None, rtol: float | None = None) -> SolveInfo:
        if matrix.shape[0] > self.max_unknowns:
            raise InvalidInputError(
                f"the direct solver is meant for <= {self.max_unknowns} unknowns, got {matrix.shape[0]}; use the AMG solver"
            )
        start = time.perf_counter()
        x = spla.spsolve(sp.csc_matrix(matrix), rhs)
        elapsed = time.perf_counter() - start
        return SolveInfo(np.asarray(x, float), 0, relative_residual(matrix, x, rhs), True, 0.0, elapsed)


#: the tightest relative residual a balanced solve goes to before it gives up
RTOL_FLOOR = 1e-24
#: default agreement of the currents a balanced solve reports (relative), and the largest
#: move of its result between two checks
BALANCE_TOLERANCE = 1e-6


def solve_to_balance(
    matrix,
    rhs: np.ndarray,
    solver,
    check: Callable[[np.ndarray], tuple[float, float]],
    *,
    x0: np.ndarray | None = None,
    rtol: float = 1e-6,
    tolerance: float = 1e-6,
    what: str = "solve",
    boundary: np.ndarray | None = None,
    preconditioner: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, int, float, float]:
    """Solve until the reported figure and its own balance have converged, not the residual.

    The relative residual alone says little when face conductances span 10⁹: it is
    tiny long before the potentials across a resistive interface are right. Here the
    solve is repeated from its last answer at a residual 100 times smaller until
    ``check(x)`` returns a balance error ``<= tolerance`` (e.g. the currents through the
    inlet, the outlet and the reaction faces, relative) and a reported value (e.g. the
    ASR) that moved by ``<= tolerance`` (relative) since the previous check.

    An AMG solver with a ``setup`` method is set up once and reused for every tightening
    (or not at all: ``preconditioner``, a hierarchy of this matrix already built, r ->
    V-cycle(r)).
    ``boundary`` (the Dirichlet conductance of each unknown, when the matrix is a
    conductance Laplacian) lets the residual be formed face by face, ``Σ g_ij (x_i -
    x_j)``, instead of through a diagonal where a metal's 10^11 swallows an interface's 1.

    Returns
    -------
    (x, iterations, balance_error, value)

    Raises
    ------
    ConvergenceError
        The balance or the value has not converged at a residual of :data:`RTOL_FLOOR`;
        the message gives both figures.
    """
    # (symmetric diagonal scaling of the corrections was measured and dropped: with the
    # smoothed-aggregation AMG it tripled the iterations and broke down at σR/h = 10^11)
    setup = getattr(solver, "setup", None)
    apply = preconditioner if preconditioner is not None else setup(matrix) if setup is not None else None
    maxiter = min(getattr(solver, "maxiter", 500), 500)  # a correction that needs more is a stalled one
    # iterative refinement: the answer and its residual in extended precision, each
    # correction solved in double. Bulk drops 10^9 times smaller than the drop across an
    # interface are then still resolved where double precision would round them away.
    wide = np.longdouble
    matrix_wide = sp.csr_matrix((matrix.data.astype(wide), matrix.indices, matrix.indptr), shape=matrix.shape)
    rhs_wide = np.asarray(rhs, dtype=wide)
    if boundary is not None:  # A x = (Σ_j g_ij) x_i - Σ_j g_ij x_j + g_b,i x_i, each part in extended precision
        off = matrix_wide.copy()
        off.setdiag(0)
        off.eliminate_zeros()
        row_sum = -np.asarray(off.sum(axis=1)).ravel().astype(wide)
        boundary_wide = np.asarray(boundary, dtype=wide)

        def apply_wide(x):
            return (row_sum + boundary_wide) * x + off @ x
    else:
        def apply_wide(x):
            return matrix_wide @ x
    x = np.zeros(rhs.shape, dtype=wide) if x0 is None else np.asarray(x0, dtype=wide)
    norm_b = float(np.linalg.norm(rhs))
    iterations, previous, tol = 0, None, rtol
    best, stalled = math.inf, 0
    while True:
        residual = rhs_wide - apply_wide(x)
        r64 = residual.astype(np.float64)
        target = tol * norm_b / max(float(np.linalg.norm(r64)), 1e-300)  # relative to this correction
        if target < 1:
            # each round gains 10x at least, so a move of the value by m bounds its remaining
            # error by m/9 (and the rounds after a met balance only confirm: 10x each)
            inner = min(max(target, 1e-10), 0.1)
            if apply is not None:
                dx, used, _ = conjugate_gradient(matrix, r64, apply, rtol=inner, maxiter=maxiter)
            else:
                info = solver(matrix, r64, rtol=inner)
                dx, used = info.x, info.iterations
            iterations += used
            x = x + dx.astype(wide)
        balance, value = check(x)
        if math.isnan(balance) or math.isnan(value):
            raise ConvergenceError(f"{what}: the linear solver broke down (the currents came out NaN); the "
                                   "conductances may span more than its preconditioner handles")
        moved = math.inf if previous is None else abs(value - previous) / max(abs(value), 1e-300)
        if balance <= tolerance and moved <= tolerance:
            return x.astype(np.float64), iterations, balance, value
        stalled = 0 if balance < 0.5 * best else stalled + 1
        best = min(best, balance)
        if tol <= RTOL_FLOOR or stalled >= 3:  # at the floor, or three tightenings without progress
            raise ConvergenceError(
                f"{what} did not converge: current balance {balance:.2e} and change {moved:.2e} of the result "
                f"at relative residual {tol:.0e} (tolerance {tolerance:.0e}); the conductances span more than "
                "the solver resolves")
        previous, tol = value, max(tol * (0.1 if balance <= tolerance else 1e-2), RTOL_FLOOR)


class ReusedPreconditioner:
    """Inexact-Newton corrections: solves of a sequence of nearby SPD systems (the tangents
    of a Newton iteration) with one multigrid hierarchy, rebuilt only when it stops paying.

    The tangents of the Butler-Volmer ASR differ from each other only on the interface
    faces, so the hierarchy of the first is a good preconditioner for the next ones:
    CG needs a few more iterations, and the set-up (most of a solve's time) is made once.
    The hierarchy is rebuilt for the next solve when one needs more than
    ``rebuild_after`` times the iterations of the first solve on it or stops at
    ``maxiter``. A correction that stopped short is still returned: the caller's Newton
    residual and current balance decide convergence, not this solve. A solver without
    ``setup`` is called as it is. ``apply``: a hierarchy already built for a nearby
    matrix (e.g. the linear start's), used first.
    """

    def __init__(self, solver, *, rebuild_after: float = 3.0, apply=None):
        self.solver, self.rebuild_after = solver, rebuild_after
        self._setup = getattr(solver, "setup", None)
        self._maxiter = getattr(solver, "maxiter", 500)
        self._apply, self._first = (apply if self._setup is not None else None), None
        self.setups = 0

    def solve(self, matrix, rhs: np.ndarray, rtol: float) -> tuple[np.ndarray, int]:
        """``(x, CG iterations)``, ``x`` an approximation of ``matrix^-1 rhs`` to ``rtol``."""
        if self._setup is None:
            info = self.solver(matrix, rhs, x0=np.zeros_like(rhs), rtol=rtol)
            return info.x, info.iterations
        if self._apply is None:
            self._apply, self._first = self._setup(matrix), None
            self.setups += 1
        x, used, converged = conjugate_gradient(matrix, rhs, self._apply, rtol=rtol, maxiter=self._maxiter)
        if self._first is None and converged:
            self._first = max(used, 1)
        if not converged or (self._first is not None and used > self.rebuild_after * self._first):
            self._apply = None
        return x, used


def require_converged(info: SolveInfo, rtol: float, what: str) -> None:
    """Raise :class:`ConvergenceError` when ``info`` missed the tolerance."""
    if not info.converged:
        raise ConvergenceError(
            f"{what}: CG stopped after {info.iterations} iterations at relative residual "
            f"{info.residual:.2e} > rtol {rtol:.1e}"
        )
