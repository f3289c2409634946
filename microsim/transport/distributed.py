"""The PETSc backend: the voxel volume cut into slabs along axis 0, one per MPI rank.

Run the same ``solve_transport`` (or ``microsim analyze ... --backend petsc``) on every
rank of ``mpiexec -n N``. Rank r owns the planes ``[z0, z1)`` of axis 0 and touches
only those, plus one ghost plane on each side (the wrapped neighbour too when the side
faces are periodic):

1. **Connectivity**: each rank labels the conducting voxels of its slab
   (6-connected, ``scipy.ndimage.label``) and numbers them after the lower ranks'
   components. The labels of touching voxels across each slab face, the periodic
   faces, and the components on the inlet and outlet faces go to rank 0, which merges
   them (a sparse graph's connected components) and sends each rank the mask of its
   own components that join the two faces. Nothing of size N voxels is gathered.
2. **Assembly**: unknowns are numbered in global C order (rank r's after rank r-1's),
   the same numbering as the in-process backend. Each rank assembles the rows of its
   own voxels with :meth:`ConductanceNetwork.assemble` on its slab plus ghost planes,
   maps the columns to global numbers and hands its rows to PETSc (MPIAIJ). No rank
   holds more than its own rows of the matrix.
3. **Solve**: conjugate gradients (unpreconditioned residual norm, the same
   ||b - A x|| <= rtol ||b|| test as the pyamg backend) preconditioned by hypre
   BoomerAMG when PETSc has hypre, else PETSc's own smoothed-aggregation GAMG.
4. **Result**: the dissipation (from which sigma_eff comes) and the face currents,
   reduced over the ranks; every rank returns the same numbers. Fields
   (``return_fields``) are gathered on rank 0 only.

Errors raised inside a collective step are shared: every rank raises the same one,
so a bad input or a failed rank ends every process instead of leaving the others
waiting. ``PETSC_OPTIONS`` tunes the solver (e.g. ``-ksp_monitor``).
"""

from __future__ import annotations

import dataclasses
import glob
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Mapping

import numpy as np
import scipy.sparse as sp
from scipy import ndimage
from scipy.sparse import csgraph

from microsim.errors import ConvergenceError, InvalidInputError, MicrosimError, MissingDependencyError, ResourceError
from microsim.microstructure import Microstructure
from microsim.transport.axis_solve import (
    AxisSolve,
    TransportFields,
    available_memory_bytes,
    currents_and_fields,
    dissipation,
)
from microsim.transport.network import ConductanceNetwork, LinearSystem, build_network
from microsim.transport.solvers import BALANCE_TOLERANCE, SolveInfo, relative_residual

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "the petsc backend needs petsc4py and mpi4py: on Debian/Ubuntu run "
    "`apt-get install python3-petsc4py python3-mpi4py openmpi-bin` and use a virtual environment made with "
    "`/usr/bin/python3 -m venv --system-site-packages` (numpy<2); on a cluster load the site's PETSc module; "
    "see the README, 'Large volumes and clusters'"
)

#: Peak memory of the PETSc backend per voxel of a rank's slab (labels and their
#: ghost copy, component ids, keep masks, global index) and per unknown, by
#: preconditioner (the scipy rows before PETSc copies them, the MPIAIJ matrix, hypre's
#: own copy of it or GAMG's hierarchy, the Krylov vectors) [bytes]. Measured at 256^3
#: (benchmarks/RESULTS.md): 345 / 375 B per unknown with hypre on 1 / 2 ranks, 438 / 730
#: with GAMG; about 12 % margin on the larger.
BYTES_PER_VOXEL = 16
BYTES_PER_UNKNOWN = {"hypre": 420, "gamg": 820}

PRECONDITIONERS = ("auto", "hypre", "gamg")


def _debian_petsc_paths() -> list[str]:
    """petsc4py folders of Debian's python3-petsc4py, which only PETSC_DIR would put on sys.path."""
    return sorted(glob.glob("/usr/lib/petscdir/petsc*/*-real/lib/python3/dist-packages"))


def load_petsc():
    """Import and initialise petsc4py and mpi4py; return ``(PETSc, MPI)``.

    Raises MissingDependencyError with the install hint when either is missing.
    Debian's petsc4py is found without PETSC_DIR.
    """
    try:
        import petsc4py  # noqa: F401
    except ImportError:
        for path in _debian_petsc_paths()[-1:]:
            sys.path.append(path)
        try:
            import petsc4py  # noqa: F401
        except ImportError:
            raise MissingDependencyError(INSTALL_HINT) from None
    try:
        from mpi4py import MPI
    except ImportError:
        raise MissingDependencyError(INSTALL_HINT) from None
    try:
        petsc4py.init(sys.argv[:1])
        from petsc4py import PETSc
    except (ImportError, RuntimeError) as exc:  # e.g. built against another numpy ABI
        raise MissingDependencyError(f"petsc4py does not load ({exc}); {INSTALL_HINT}") from None
    return PETSc, MPI


def mpi_ranks() -> tuple[int, int]:
    """``(rank, size)`` of MPI.COMM_WORLD when mpi4py is already loaded, else ``(0, 1)``.

    Used by the CLI to let rank 0 alone print and write; it never starts MPI itself.
    """
    if "mpi4py.MPI" not in sys.modules:
        return 0, 1
    MPI = sys.modules["mpi4py.MPI"]
    if not MPI.Is_initialized() or MPI.Is_finalized():
        return 0, 1
    return MPI.COMM_WORLD.Get_rank(), MPI.COMM_WORLD.Get_size()


def launched_rank() -> int:
    """This process's rank as the MPI launcher announced it (0 when not under mpiexec/srun)."""
    for name in ("OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"):
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 0


def abort_other_ranks() -> None:
    """End every rank of the job (MPI_Abort) when MPI is running with more than one; else nothing."""
    rank, size = mpi_ranks()
    if size > 1:
        sys.stderr.flush()
        sys.modules["mpi4py.MPI"].COMM_WORLD.Abort(1)


def slab_bounds(n0: int, ranks: int) -> list[tuple[int, int]]:
    """Planes ``[z0, z1)`` of axis 0 owned by each of ``ranks`` ranks: contiguous, sizes differing by at most 1."""
    if ranks > n0:
        raise InvalidInputError(f"{ranks} MPI ranks for {n0} planes along axis 0: use at most {n0} ranks")
    edges = [n0 * r // ranks for r in range(ranks + 1)]
    return list(zip(edges[:-1], edges[1:]))


class RankFailure(MicrosimError, RuntimeError):
    """Another MPI rank failed in a collective step; the message names it and its error."""


def on_every_rank(error: MicrosimError) -> MicrosimError:
    """Mark an error that every rank raises alike (from numbers they all share): the CLI
    prints it once, from rank 0, instead of aborting the job."""
    error.shared_by_ranks = True
    return error


def collective(comm, step: Callable, *args, **kwargs):
    """Run ``step`` on every rank, then share failures: if any rank raised, every rank raises.

    A rank's microsim error is re-raised everywhere as it was (the CLI prints one line);
    anything else becomes :class:`RankFailure` naming the rank.
    """
    try:
        value, failure = step(*args, **kwargs), None
    except Exception as exc:  # noqa: BLE001 - shared with the other ranks, then raised
        value, failure = None, exc
    failures = comm.allgather(None if failure is None else (type(failure).__name__, str(failure),
                                                             isinstance(failure, MicrosimError)))
    for rank, item in enumerate(failures):
        if item is None:
            continue
        if failure is not None and isinstance(failure, MicrosimError) and item[2]:
            raise on_every_rank(failure)  # the same kind of error on this rank: keep its class and message
        kind, message, ours = item
        prefix = "" if comm.Get_size() == 1 else f"rank {rank}: "
        raise on_every_rank(RankFailure(f"{prefix}{message}" if ours else f"{prefix}{kind}: {message}")) from failure
    return value


@dataclasses.dataclass(frozen=True)
class PETScSolver:
    """CG with an algebraic-multigrid preconditioner on PETSc, distributed over MPI.

    Parameters
    ----------
    preconditioner : "auto", "hypre" or "gamg"
        hypre BoomerAMG, PETSc's smoothed-aggregation GAMG, or hypre where PETSc has it.
    rtol : float
        Default relative residual tolerance (a call's ``rtol`` overrides it).
    maxiter : int
        Most CG iterations before the result is marked not converged.

    As a plain solver callable (``solver(matrix, rhs)``, e.g. from the cathode ASR)
    it solves a SciPy matrix on this process alone. Inside :func:`solve_transport` it
    is the distributed backend: every rank of ``MPI.COMM_WORLD`` takes a slab.
    """

    preconditioner: str = "auto"
    rtol: float = 1e-6
    maxiter: int = 1000

    name = "petsc"
    distributed = True

    def __post_init__(self) -> None:
        if self.preconditioner not in PRECONDITIONERS:
            raise InvalidInputError(
                f"unknown PETSc preconditioner {self.preconditioner!r}; valid: {', '.join(PRECONDITIONERS)}"
            )

    def solve_axes(self, micro: Microstructure, table: Mapping[str, float], axis_list, **options) -> list[AxisSolve]:
        """Solve every axis of ``axis_list`` across the MPI ranks (see :func:`solve_axes`)."""
        return solve_axes(micro, table, axis_list, self, **options)

    def resolved_preconditioner(self, PETSc=None) -> str:
        """"hypre" or "gamg": what ``auto`` means with this PETSc."""
        if PETSc is None:
            PETSc = load_petsc()[0]
        if self.preconditioner != "auto":
            if self.preconditioner == "hypre" and not PETSc.Sys.hasExternalPackage("hypre"):
                raise MissingDependencyError("this PETSc was built without hypre; use --pc gamg")
            return self.preconditioner
        return "hypre" if PETSc.Sys.hasExternalPackage("hypre") else "gamg"

    def ksp(self, PETSc, matrix, comm, rtol: float):
        """A configured KSP: CG on ``matrix``, AMG preconditioner, ||r|| <= rtol ||b||."""
        kind = self.resolved_preconditioner(PETSc)
        options = PETSc.Options()
        # BoomerAMG for 3-D 7-point stencils: HMIS coarsening, extended+i interpolation
        # with at most 4 entries per row, aggressive coarsening on the first level.
        # Measured at 128^3 on one rank (benchmarks/RESULTS.md notes): 3.1 s against 4.6 s
        # with hypre's defaults and 5.3 s without the aggressive level, and 30 % less memory.
        defaults = {"pc_hypre_boomeramg_coarsen_type": "HMIS",
                    "pc_hypre_boomeramg_interp_type": "ext+i",
                    "pc_hypre_boomeramg_P_max": 4,
                    "pc_hypre_boomeramg_agg_nl": 1,
                    "pc_gamg_threshold": 0.0}
        for key, value in defaults.items():
            if not options.hasName(key):
                options[key] = value
        ksp = PETSc.KSP().create(comm=comm)
        ksp.setOperators(matrix)
        ksp.setType("cg")
        ksp.setNormType(PETSc.KSP.NormType.UNPRECONDITIONED)
        ksp.setTolerances(rtol=rtol, atol=0.0, max_it=self.maxiter)
        ksp.setInitialGuessNonzero(True)
        pc = ksp.getPC()
        pc.setType(kind)
        if kind == "hypre":
            pc.setHYPREType("boomeramg")
        ksp.setFromOptions()
        return ksp

    def __call__(self, matrix, rhs, *, x0=None, rtol: float | None = None) -> SolveInfo:
        PETSc, _ = load_petsc()
        tol = self.rtol if rtol is None else rtol
        csr = sp.csr_matrix(matrix)
        int_type = PETSc.IntType
        A = PETSc.Mat().createAIJ(size=csr.shape, comm=PETSc.COMM_SELF,
                                  csr=(csr.indptr.astype(int_type), csr.indices.astype(int_type), csr.data))
        b = A.createVecLeft()
        b.array[:] = rhs
        x = A.createVecRight()
        x.array[:] = 0.0 if x0 is None else x0
        start = time.perf_counter()
        ksp = self.ksp(PETSc, A, PETSc.COMM_SELF, tol)
        ksp.setUp()
        setup = time.perf_counter() - start
        start = time.perf_counter()
        ksp.solve(b, x)
        elapsed = time.perf_counter() - start
        solution = x.array.copy()
        info = SolveInfo(solution, ksp.getIterationNumber(), relative_residual(csr, solution, rhs),
                         ksp.getConvergedReason() > 0, setup, elapsed)
        for obj in (ksp, x, b, A):
            obj.destroy()
        return info


# -- the slab of one rank -------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class Slab:
    """One rank's planes ``[z0, z1)`` of axis 0 and its neighbours in the ring of ranks."""

    comm: object
    z0: int
    z1: int
    n0: int

    @property
    def rank(self) -> int:
        return self.comm.Get_rank()

    @property
    def size(self) -> int:
        return self.comm.Get_size()

    def exchange(self, first, last, *, wrap: bool):
        """Send this slab's first plane down and its last plane up; return what arrives
        ``(from below, from above)`` (None at the ends of the volume unless ``wrap``)."""
        below = self.rank - 1 if self.rank > 0 else (self.size - 1 if wrap else None)
        above = self.rank + 1 if self.rank < self.size - 1 else (0 if wrap else None)
        if self.size == 1:
            return (last if wrap else None), (first if wrap else None)
        # two shifts along the ring of ranks: last planes up, first planes down
        return _shift(self.comm, last, above, below), _shift(self.comm, first, below, above)


def _shift(comm, payload, dest: int | None, source: int | None):
    """Send ``payload`` to ``dest`` and return what ``source`` sends (a rank at an open end only sends or receives)."""
    if dest is not None and source is not None:
        return comm.sendrecv(payload, dest=dest, source=source)
    if dest is not None:
        comm.send(payload, dest=dest)
    elif source is not None:
        return comm.recv(source=source)
    return None


def _wraps_axis0(periodic: bool, axis: int, n0: int) -> bool:
    """Whether the faces normal to axis 0 are periodic for transport along ``axis`` (as the serial rule)."""
    return periodic and axis != 0 and n0 > 2


def _merge_faces_periodic(periodic: bool, axis: int, n0: int) -> bool:
    """Whether components merge across the axis-0 faces (serial: side axes of at least 2 voxels)."""
    return periodic and axis != 0 and n0 >= 2


def _spanning_hits(slab: Slab, comp: np.ndarray, counts: list[int], offset: int, faces: tuple,
                   axis: int, periodic: bool, pairs_across: np.ndarray) -> np.ndarray:
    """Per local component id (0 = none): whether it joins the inlet and outlet faces of ``axis``.

    Rank 0 merges every rank's face pairs into one graph of the components; each rank
    gets back the flags of its own ids only.
    """
    comm = slab.comm
    pairs = [pairs_across]
    for side in (1, 2):  # periodic side faces inside the slab (as the in-process spanning_mask)
        if periodic and side != axis and comp.shape[side] >= 2:
            first = np.take(comp, 0, axis=side).ravel()
            last = np.take(comp, -1, axis=side).ravel()
            both = (first > 0) & (last > 0)
            pairs.append(np.stack([first[both], last[both]]).astype(np.int64) + offset)
    inlet, outlet = faces
    gathered = comm.gather((np.concatenate(pairs, axis=1), inlet, outlet), root=0)
    parts = None
    if slab.rank == 0:
        total = int(sum(counts))
        edges = np.concatenate([g[0] for g in gathered], axis=1)
        graph = sp.coo_matrix((np.ones(edges.shape[1], np.int8), (edges[0], edges[1])), shape=(total + 1,) * 2)
        _, root = csgraph.connected_components(graph, directed=False)
        inlet_all = np.unique(np.concatenate([g[1] for g in gathered]))
        outlet_all = np.unique(np.concatenate([g[2] for g in gathered]))
        spanning = np.intersect1d(root[inlet_all], root[outlet_all])
        spanning = spanning[spanning != root[0]]
        hit = np.isin(root, spanning)
        hit[0] = False
        starts = np.concatenate([[0], np.cumsum(counts)])
        parts = [np.concatenate([[False], hit[1 + starts[r]: 1 + starts[r + 1]]]) for r in range(slab.size)]
    return comm.scatter(parts, root=0)


def _face_ids(comp: np.ndarray, offset: int, axis: int, side: int) -> np.ndarray:
    """Global ids of the components on one face of the slab (side 0 or -1 along ``axis``)."""
    ids = np.unique(np.take(comp, side, axis=axis))
    ids = ids[ids > 0]
    return ids.astype(np.int64) + offset


def _labels_with_ghosts(array: np.ndarray, slab: Slab, wrap: bool):
    """``array`` (labels or grains) of the slab with its ghost planes; and how many ghost planes lie below."""
    z0, z1, n0 = slab.z0, slab.z1, slab.n0
    below = z0 - 1 if z0 > 0 else (n0 - 1 if wrap else None)
    above = z1 if z1 < n0 else (0 if wrap else None)
    parts = ([array[below:below + 1]] if below is not None else []) + [array[z0:z1]]
    parts += [array[above:above + 1]] if above is not None else []
    return np.concatenate(parts, axis=0), int(below is not None)


def _check_fits(comm, slab_voxels: int, unknowns: int, preconditioner: str) -> None:
    """Refuse (on every rank) when the ranks sharing a machine would need more than it has."""
    from mpi4py import MPI

    node = comm.Split_type(MPI.COMM_TYPE_SHARED)
    need = node.allreduce(slab_voxels * BYTES_PER_VOXEL + unknowns * BYTES_PER_UNKNOWN[preconditioner])
    ranks_here = node.Get_size()
    node.Free()
    free = available_memory_bytes()
    if free is not None and need > free:
        raise ResourceError(
            f"the {ranks_here} rank(s) on this machine need about {need / 2**30:.1f} GiB for their slabs, "
            f"only {free / 2**30:.1f} GiB are available: run on more machines (fewer ranks per machine) "
            "or crop the volume"
        )


def solve_axes(micro: Microstructure, table: Mapping[str, float], axis_list, solver: PETScSolver, *,
               rtol: float, return_fields: bool, what: str, grain_boundary_resistance=None,
               interface_resistance=None, periodic: bool = False) -> list[AxisSolve]:
    """The PETSc backend of :func:`~microsim.transport.solve_transport` (call it on every rank)."""
    PETSc, MPI = load_petsc()
    comm = MPI.COMM_WORLD
    n0 = micro.shape[0]
    z0, z1 = collective(comm, lambda: slab_bounds(n0, comm.Get_size())[comm.Get_rank()])
    slab = Slab(comm, z0, z1, n0)
    started = time.perf_counter()

    # the conductance rules, checked exactly as the in-process backend does, on a one-plane network
    def rules() -> ConductanceNetwork:
        probe = Microstructure(micro.labels[z0:z0 + 1], micro.voxel_size, micro.phases,
                               None if micro.grains is None else micro.grains[z0:z0 + 1])
        return build_network(probe, table, grain_boundary_resistance=grain_boundary_resistance,
                             interface_resistance=interface_resistance, periodic=periodic)

    template = collective(comm, rules)

    def components():
        conducting = (template.conductivity > 0)[micro.labels[z0:z1]]
        structure = ndimage.generate_binary_structure(3, 1)
        comp, count = ndimage.label(conducting, structure=structure, output=np.int32)
        return comp, int(count), int(np.count_nonzero(conducting))

    comp, count, conducting_here = collective(comm, components)
    counts = comm.allgather(count)
    offset = int(sum(counts[: slab.rank]))
    total = int(sum(counts))
    phase_voxels = comm.allreduce(conducting_here)
    # touching conducting voxels across slab faces, as (global id below, global id above)
    first = comp[0].astype(np.int64) + offset * (comp[0] > 0)
    last = comp[-1].astype(np.int64) + offset * (comp[-1] > 0)
    from_below, _ = slab.exchange(first, last, wrap=False)
    pairs_across = np.zeros((2, 0), np.int64)
    if from_below is not None:
        both = (from_below > 0) & (first > 0)
        pairs_across = np.stack([from_below[both], first[both]])
    wrap_below = slab.exchange(first, last, wrap=True)[0] if periodic else None
    faces = {}
    for axis in axis_list:
        if axis == 0:
            faces[0] = (_face_ids(comp, offset, 0, 0) if z0 == 0 else np.zeros(0, np.int64),
                        _face_ids(comp, offset, 0, -1) if z1 == n0 else np.zeros(0, np.int64))
        else:
            faces[axis] = (_face_ids(comp, offset, axis, 0), _face_ids(comp, offset, axis, -1))
    setup_seconds = time.perf_counter() - started
    log.info("slabs of %s on %d ranks: %d components merged in %.2f s", what, slab.size, total, setup_seconds)

    resistive = any(any(v > 0 for v in dict(r or {}).values()) for r in (grain_boundary_resistance,
                                                                        interface_resistance))
    records = []
    for axis in axis_list:
        t0 = time.perf_counter() - (setup_seconds if not records else 0.0)
        pairs = pairs_across
        if _merge_faces_periodic(periodic, axis, n0) and z0 == 0 and wrap_below is not None:
            both = (wrap_below > 0) & (first > 0)
            pairs = np.concatenate([pairs, np.stack([wrap_below[both], first[both]])], axis=1)
        hits = _spanning_hits(slab, comp, counts, offset, faces[axis], axis, periodic, pairs)
        keep = hits[comp]
        n_here = int(np.count_nonzero(keep))
        unknowns = comm.allreduce(n_here)
        if unknowns == 0:
            fields = None
            if return_fields and slab.rank == 0:
                fields = TransportFields(np.zeros(micro.shape), np.zeros(micro.shape + (3,), np.float32),
                                         np.zeros(micro.shape, bool))
            records.append(AxisSolve(axis, 0, 0.0, seconds=time.perf_counter() - t0, ranks=slab.size,
                                     fields=fields))
            continue
        collective(comm, _check_fits, comm, keep.size, n_here, solver.resolved_preconditioner(PETSc))
        record = _solve_axis(PETSc, slab, micro, template, axis, keep, n_here, unknowns,
                             solver, rtol=rtol, periodic=periodic, return_fields=return_fields)
        if resistive:  # resistive faces: stop on the current balance, not on the residual
            record = _balanced(lambda tol: _solve_axis(PETSc, slab, micro, template, axis, keep, n_here, unknowns,
                                                       solver, rtol=tol, periodic=periodic,
                                                       return_fields=return_fields), record, rtol,
                               f"{what} along axis {axis}")
        if not record.converged:
            raise on_every_rank(ConvergenceError(
                f"{what} along axis {axis}: CG stopped after {record.iterations} iterations at relative residual "
                f"{record.residual:.2e} > rtol {rtol:.1e}"
            ))
        log.info("axis %d: %d unknowns on %d ranks, %d iterations, residual %.1e, assembly %.2f s, setup %.2f s, "
                 "solve %.2f s", axis, unknowns, slab.size, record.iterations, record.residual,
                 record.assembly_seconds, record.setup_seconds, record.solve_seconds)
        records.append(dataclasses.replace(record, connected_fraction=unknowns / phase_voxels,
                                           seconds=time.perf_counter() - t0))
    return records


def _balanced(solve_at: Callable[[float], AxisSolve], record: AxisSolve, rtol: float, what: str) -> AxisSolve:
    """Solve again at a residual 100 times smaller until the inlet and outlet currents agree
    to :data:`BALANCE_TOLERANCE` and the current has stopped moving (the same rule as the
    in-process backend; the currents are sums over every rank, so every rank takes the
    same decision). Each round is a fresh solve (the PETSc side keeps no extended
    precision): a balance that the floor of 1e-14 cannot reach is a ConvergenceError."""
    tol, previous = rtol, None
    while True:
        out = record.current_out
        balance = abs(record.current_in - out) / out if out > 0 else math.inf
        moved = math.inf if previous is None else abs(out - previous) / max(abs(out), 1e-300)
        if balance <= BALANCE_TOLERANCE and moved <= BALANCE_TOLERANCE:
            return dataclasses.replace(record, power=out)  # the current: good to the balance
        if tol <= 1e-14:
            raise on_every_rank(ConvergenceError(
                f"{what} did not converge: current balance {balance:.2e} and change {moved:.2e} at relative "
                f"residual {tol:.0e} (tolerance {BALANCE_TOLERANCE:.0e})"))
        previous, tol = out, max(tol * 1e-2, 1e-14)
        record = solve_at(tol)


def _solve_axis(PETSc, slab: Slab, micro: Microstructure, template: ConductanceNetwork, axis: int,
                keep: np.ndarray, n_here: int, unknowns: int, solver: PETScSolver, *, rtol: float,
                periodic: bool, return_fields: bool) -> AxisSolve:
    """Assemble this rank's rows for transport along ``axis``, solve on every rank, sum the face currents."""
    comm, z0, z1, n0 = slab.comm, slab.z0, slab.z1, slab.n0
    started = time.perf_counter()
    int_type = np.dtype(PETSc.IntType)
    if unknowns >= np.iinfo(int_type).max:
        raise on_every_rank(ResourceError(f"{unknowns} unknowns need a PETSc built with --with-64-bit-indices "
                                          f"(this one has {int_type.itemsize * 8}-bit indices)"))
    start = comm.exscan(n_here) or 0  # rank 0 gets None
    index = np.full(keep.shape, -1, dtype=int_type)
    index[keep] = np.arange(start, start + n_here, dtype=int_type)
    wrap = _wraps_axis0(periodic, axis, n0) and slab.size > 1
    ghost_below, ghost_above = slab.exchange(index[0], index[-1], wrap=wrap)

    def rows():
        """This rank's rows: CSR over global columns, and their right-hand side (local work only)."""
        labels, below = _labels_with_ghosts(micro.labels, slab, wrap)
        grains = None if micro.grains is None else _labels_with_ghosts(micro.grains, slab, wrap)[0]
        keep_parts, number_parts = [keep], [index[keep]]
        if ghost_below is not None:
            keep_parts.insert(0, ghost_below[None] >= 0)
            number_parts.insert(0, ghost_below[ghost_below >= 0])
        if ghost_above is not None:
            keep_parts.append(ghost_above[None] >= 0)
            number_parts.append(ghost_above[ghost_above >= 0])
        keep_ext = np.concatenate(keep_parts, axis=0)
        numbers = np.concatenate(number_parts)
        rows_below = int(number_parts[0].size) if below else 0
        network = dataclasses.replace(template, labels=labels, grains=grains, components=keep_ext.view(np.uint8),
                                      n_components=1, unwrapped_axes=(0,) if slab.size > 1 else ())
        system = network.assemble(axis, keep_ext)
        matrix = system.matrix
        a, b = matrix.indptr[rows_below], matrix.indptr[rows_below + n_here]
        indptr = (matrix.indptr[rows_below: rows_below + n_here + 1] - a).astype(int_type)
        indices = numbers[matrix.indices[a:b]]
        data = matrix.data[a:b]
        rhs = system.rhs[rows_below: rows_below + n_here]
        if wrap:  # the wrapped ghost's global numbers break the column order of the edge rows
            local = sp.csr_matrix((data, indices, indptr), shape=(n_here, unknowns))
            local.has_sorted_indices = False
            local.sort_indices()
            data, indices, indptr = local.data, local.indices.astype(int_type), local.indptr.astype(int_type)
        return indptr, indices, data, rhs

    indptr, indices, data, rhs = collective(comm, rows)
    A = PETSc.Mat().createAIJ(size=((n_here, unknowns), (n_here, unknowns)), csr=(indptr, indices, data),
                              comm=comm)
    A.assemble()
    del data, indices, indptr
    b_vec = A.createVecLeft()
    b_vec.array[:] = rhs
    x_vec = A.createVecRight()
    n_t = micro.shape[axis]
    coordinate = np.arange(z0, z1) if axis == 0 else np.arange(n_t)
    shape = [1, 1, 1]
    shape[axis] = coordinate.size
    profile = (1.0 - (coordinate + 0.5) / n_t).reshape(shape)  # exact for a uniform slab, as in-process
    x_vec.array[:] = np.broadcast_to(profile, keep.shape)[keep]
    assembly = time.perf_counter() - started

    started = time.perf_counter()
    ksp = solver.ksp(PETSc, A, comm, rtol)
    ksp.setUp()
    setup = time.perf_counter() - started
    started = time.perf_counter()
    ksp.solve(b_vec, x_vec)
    solve = time.perf_counter() - started
    iterations, converged = ksp.getIterationNumber(), ksp.getConvergedReason() > 0
    r_vec = b_vec.duplicate()
    A.mult(x_vec, r_vec)
    power = dissipation(x_vec.dot(r_vec), b_vec.dot(x_vec), b_vec.sum())
    r_vec.aypx(-1.0, b_vec)  # r = b - A x
    norm_b = b_vec.norm()
    residual = r_vec.norm() / norm_b if norm_b > 0 else r_vec.norm()
    potential = x_vec.getArray().copy()
    for obj in (ksp, r_vec, x_vec, b_vec, A):
        obj.destroy()

    def face_current(side: int) -> float:
        """Current [A] through this rank's part of the inlet (side 0) or outlet (-1) face."""
        if axis == 0 and not (z0 == 0 if side == 0 else z1 == n0):
            return 0.0
        on_face = np.take(keep, side, axis=axis)
        phi = potential[np.take(index, side, axis=axis)[on_face] - start]
        sigma = template.conductivity[np.take(micro.labels[z0:z1], side, axis=axis)[on_face]]
        g = 2.0 * sigma * template.face_area(axis) / template.voxel_size[axis]
        return float(np.sum(g * (1.0 - phi))) if side == 0 else float(np.sum(g * phi))

    current_in = comm.allreduce(face_current(0))
    current_out = comm.allreduce(face_current(-1))
    fields = None
    if return_fields:
        volume = np.zeros(keep.shape)
        volume[keep] = potential
        gathered = comm.gather((volume, keep), root=0)
        if slab.rank == 0:
            full = np.concatenate([g[0] for g in gathered], axis=0)
            keep_full = np.concatenate([g[1] for g in gathered], axis=0)
            network = dataclasses.replace(template, labels=micro.labels, grains=micro.grains,
                                          components=keep_full.view(np.uint8), n_components=1)
            system = LinearSystem(matrix=None, rhs=None, keep=keep_full, axis=axis)
            fields = currents_and_fields(network, system, full[keep_full], True)[2]
    return AxisSolve(axis, unknowns, 0.0, current_in, current_out, power, iterations, residual, converged,
                     assembly_seconds=assembly, setup_seconds=setup, solve_seconds=solve, ranks=slab.size,
                     fields=fields)
