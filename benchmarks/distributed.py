"""Strong and weak scaling of the PETSc backend over MPI ranks, and its memory per voxel.

Each case runs ``solve_transport`` along axis 0 in fresh processes: the pyamg backend
in one process, the PETSc backend under ``mpiexec -n R`` (hypre BoomerAMG and GAMG).
Every rank reports its peak resident memory (VmHWM) over its resident memory before
the volume was read, and the slowest rank's stage times are kept.

* strong scaling: one volume, 1 and 2 ranks
* weak scaling: 128 planes of 128 x 128 per rank (128^3 on 1 rank, 256 x 128^2 on 2)

Run from the repository root in an environment with petsc4py and mpi4py (the
README's Debian route); mpiexec must be on PATH:

    PETSC_DIR=... .venv-petsc/bin/python benchmarks/distributed.py            # appends to RESULTS.md
    .venv-petsc/bin/python benchmarks/distributed.py --strong 96 --weak 64 --no-write
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _results import publish  # noqa: E402

MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", "OMPI_MCA_rmaps_base_oversubscribe": "1"}
CASE = {"fractions": {"CAM": 0.45, "pore": 0.15}, "radius_vox": 4, "matrix": "LLZO", "phase": "LLZO"}


def _memory_mb(field: str) -> float:
    """VmRSS or VmHWM of this process [MB]."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def child(path: str, backend: str, preconditioner: str) -> None:
    """One solve on every rank of this job; rank 0 prints a JSON line."""
    import numpy as np

    sys.path.insert(0, str(HERE.parent))
    from microsim import Microstructure
    from microsim.transport import solve_transport
    from microsim.transport.distributed import PETScSolver, load_petsc

    comm = None
    if backend == "petsc":
        _, MPI = load_petsc()
        comm = MPI.COMM_WORLD
    base = _memory_mb("VmRSS")
    start = time.perf_counter()
    labels = np.load(path, mmap_mode="r")
    micro = Microstructure(labels, 1e-6)
    solver = PETScSolver(preconditioner) if backend == "petsc" else "pyamg"
    (r,) = solve_transport(micro, {CASE["phase"]: 1.0}, axes=0, solver=solver)
    total = time.perf_counter() - start
    peak = _memory_mb("VmHWM") - base
    mine = {"peak_mb": peak, "total_s": total}
    everyone = comm.gather(mine, root=0) if comm is not None else [mine]
    if comm is None or comm.Get_rank() == 0:
        print(json.dumps({
            "voxels": int(labels.size), "unknowns": r.unknowns, "iterations": r.iterations, "ranks": r.ranks,
            "sigma_eff": r.sigma_eff, "assembly_s": r.assembly_seconds, "setup_s": r.setup_seconds,
            "solve_s": r.solve_seconds, "total_s": max(e["total_s"] for e in everyone),
            "peak_mb_per_rank": [e["peak_mb"] for e in everyone],
        }))


def run(path: Path, backend: str, ranks: int, preconditioner: str = "auto") -> dict:
    command = [sys.executable, __file__, "--child", str(path), backend, preconditioner]
    if backend == "petsc":
        command = ["mpiexec", "-n", str(ranks), *command]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **MPI_ENV})
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def volume(tmp: str, shape: tuple[int, int, int], seed: int) -> Path:
    import numpy as np

    sys.path.insert(0, str(HERE.parent))
    from microsim.generate import generate

    micro = generate(shape, CASE["fractions"], CASE["radius_vox"] * 1e-6, voxel_size=1e-6, matrix=CASE["matrix"],
                     seed=seed)
    path = Path(tmp) / ("x".join(map(str, shape)) + ".npy")
    np.save(path, micro.labels)
    return path


def row(kind: str, shape, backend: str, pc: str, result: dict) -> dict:
    return {"kind": kind, "shape": "×".join(map(str, shape)), "backend": backend if backend == "pyamg" else
            f"petsc {pc}", **result}


def markdown(rows: list[dict], command: str) -> list[str]:
    import numpy as np
    import scipy

    lines = [
        "# PETSc backend: scaling over MPI ranks and memory",
        "",
        f"Command: `{command}`  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, numpy "
        f"{np.__version__}, scipy {scipy.__version__}; one solve of LLZO along axis 0 (three-phase spheres, "
        "ε ≈ 0.40), rtol 1e-6. Times of the slowest rank; peak = VmHWM over the memory before reading the volume, "
        "per rank.",
        "",
        "| study | volume | backend | ranks | unknowns | iterations | assembly [s] | AMG setup [s] | CG [s] | "
        "total [s] | peak per rank [MB] | peak [B/voxel] | sigma_eff/sigma0 |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        peaks = r["peak_mb_per_rank"]
        per_voxel = sum(peaks) * 2**20 / r["voxels"]
        lines.append(
            f"| {r['kind']} | {r['shape']} | {r['backend']} | {r['ranks']} | {r['unknowns']:,} | {r['iterations']} | "
            f"{r['assembly_s']:.2f} | {r['setup_s']:.2f} | {r['solve_s']:.2f} | {r['total_s']:.2f} | "
            f"{' / '.join(f'{p:.0f}' for p in peaks)} | {per_voxel:.0f} | {r['sigma_eff']:.6f} |"
        )
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strong", type=int, default=160, help="edge of the strong-scaling cube (default 160)")
    parser.add_argument("--weak", type=int, default=128, help="edge of each rank's cube in weak scaling (128)")
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        shape = (args.strong,) * 3
        path = volume(tmp, shape, args.seed)
        rows.append(row("strong", shape, "pyamg", "", run(path, "pyamg", 1)))
        print(rows[-1], flush=True)
        for pc in ("hypre", "gamg"):
            for ranks in args.ranks:
                rows.append(row("strong", shape, "petsc", pc, run(path, "petsc", ranks, pc)))
                print(rows[-1], flush=True)
        for ranks in args.ranks:
            shape = (args.weak * ranks, args.weak, args.weak)
            path = volume(tmp, shape, args.seed)
            for pc in ("hypre", "gamg"):
                rows.append(row("weak", shape, "petsc", pc, run(path, "petsc", ranks, pc)))
                print(rows[-1], flush=True)
    command = "python benchmarks/distributed.py " + " ".join(argv if argv is not None else sys.argv[1:])
    publish(markdown(rows, command.strip()), "<!-- distributed: start -->", "<!-- distributed: end -->",
            write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
