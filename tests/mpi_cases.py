"""Cases for tests/test_distributed.py, run under ``mpiexec -n N python tests/mpi_cases.py OUT.json``.

Every rank runs the same solves on the PETSc backend; rank 0 writes, per case, the
value and what it must equal (an analytic result or the in-process pyamg backend).
"""

import json
import sys
import warnings

import numpy as np

from microsim import Microstructure
from microsim.errors import InvalidInputError, MicrosimError
from microsim.generate import generate
from microsim.transport import solve_transport
from microsim.transport.distributed import PETScSolver, collective, load_petsc, mpi_ranks

H = (1e-6, 0.7e-6, 1.3e-6)  # anisotropic voxels [m]


def layers(axis, thickness, labels, other=(6, 5)):
    profile = np.repeat(np.asarray(labels, np.uint8), thickness)
    shape = list(other)
    shape.insert(axis, profile.size)
    view = [1, 1, 1]
    view[axis] = profile.size
    return np.broadcast_to(profile.reshape(view), shape).copy()


def sigma(micro, table, axis, **options):
    (r,) = solve_transport(micro, table, axes=axis, solver=PETScSolver(), rtol=1e-10, **options)
    return r


def main(out):
    cases = []
    load_petsc()
    rank, size = mpi_ranks()
    for axis in (0, 1, 2):
        # series layers along axis 0 cross the slab cuts
        thickness, sig = [3, 5, 2, 4], [1.0, 0.1, 1.0, 0.1]
        m = Microstructure(layers(axis, thickness, [1, 2, 1, 2]), H)
        expected = sum(thickness) / sum(t / s for t, s in zip(thickness, sig))
        cases.append((f"series axis {axis}", sigma(m, {"CAM": 1.0, "LLZO": 0.1}, axis).sigma_eff, expected))
        # grain boundaries in series, one on every slab face when the ranks cut 4 grains of 5 planes
        grains = layers(axis, [5] * 4, [1, 2, 3, 4])
        m = Microstructure(np.full(grains.shape, 2, np.uint8), H, grains=grains)
        r = sigma(m, {"LLZO": 0.08}, axis, grain_boundary_resistance={"LLZO": 2e-5})
        cases.append((f"grain boundaries axis {axis}", 1 / r.sigma_eff, 1 / 0.08 + 3 * 2e-5 / m.size_m[axis]))
    # straight periodic channels along axes 1 and 2: the wrap of axis 0 joins rank 0 and the last rank
    for axis in (1, 2):
        m = Microstructure(layers(0, [2, 3, 3], [1, 0, 1], other=(6, 5)), H)
        r = sigma(m, "CAM", axis, periodic=True)
        cases.append((f"periodic channels axis {axis}", r.tortuosity_factor, 1.0))
    # a channel that spans axis 1 only through the periodic face of axis 0: the U must merge across ranks
    labels = np.zeros((8, 6, 5), np.uint8)
    labels[0, :4, 2] = labels[-1, 3:, 2] = 1  # joined at y = 3 across the periodic face of axis 0
    r = sigma(Microstructure(labels, H), "CAM", 1, periodic=True)
    cases.append(("periodic merge across the ring", r.unknowns, 7))
    # random volumes against the in-process backend, default tolerance
    micro = generate((24, 20, 22), {"CAM": 0.45, "pore": 0.15}, 3e-6, voxel_size=1e-6, matrix="LLZO", seed=11)
    for periodic in (False, True):
        for table in ({"LLZO": 1e-1}, {"CAM": 1.0}, {"CAM": 1.0, "LLZO": 0.1}):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ours = solve_transport(micro, table, periodic=periodic, solver=PETScSolver(), return_fields=True)
                ref = solve_transport(micro, table, periodic=periodic, solver="pyamg", return_fields=True)
            for a, b in zip(ours, ref):
                name = f"{'+'.join(table)} axis {a.axis}{' periodic' if periodic else ''}"
                cases.append((f"sigma_eff {name}", a.sigma_eff, b.sigma_eff))
                cases.append((f"unknowns {name}", a.unknowns, b.unknowns))
                cases.append((f"ranks {name}", a.ranks, size))
                if rank == 0:
                    diff = np.abs(a.fields.potential - b.fields.potential).max()
                    cases.append((f"potential {name}", float(diff), 0.0))
    # a failure on one rank reaches every rank, which all raise
    def fails_on_last_rank():
        if rank == size - 1:
            raise InvalidInputError("bad slab")

    try:
        collective(__import__("mpi4py.MPI").MPI.COMM_WORLD, fails_on_last_rank)
        outcome = "no error"
    except MicrosimError as exc:
        outcome = str(exc)
    cases.append(("shared error", outcome, "bad slab" if size == 1 else f"rank {size - 1}: bad slab"
                  if rank != size - 1 else "bad slab"))
    if rank == 0:
        with open(out, "w") as fh:
            json.dump({"ranks": size, "cases": cases}, fh)


if __name__ == "__main__":
    main(sys.argv[1])
