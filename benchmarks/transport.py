"""Speed and memory of the transport solver on seeded random sphere volumes.

Each measurement runs in a fresh Python process so that its peak resident memory
(ru_maxrss) belongs to that solve alone. Cases: two-phase (CAM spheres in pore,
conducting fraction ~0.38, close enough to the percolation threshold to be hard) and
three-phase (CAM and pore spheres in an LLZO matrix; LLZO is solved). Side by side,
on the same volume and the same matrix:

* microsim   : network + assembly + AMG set-up + CG solve (the whole analysis of one axis)
* pyamg SA   : ``pyamg.smoothed_aggregation_solver(A).solve(b, tol, accel="cg")``,
               the straightforward use of pyamg on microsim's matrix
* TauFactor  : ``taufactor.Solver(img, device="cpu").solve()`` (its default
               convergence), when ``--taufactor-python`` names a Python that has it

Run from the repository root:

    python benchmarks/transport.py                      # 64 128 200 256, writes RESULTS.md
    python benchmarks/transport.py --sizes 64 --no-write
    python benchmarks/transport.py --taufactor-python /path/to/venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RTOL = 1e-6
NOTES_MARKER = "<!-- notes: kept when the tables above are rewritten -->"
CASES = {
    "two-phase": {"fractions": {"CAM": 0.38}, "radius_vox": 4, "matrix": "pore", "phase": "CAM", "label": 1},
    "three-phase": {
        "fractions": {"CAM": 0.45, "pore": 0.15}, "radius_vox": 4, "matrix": "LLZO", "phase": "LLZO", "label": 2,
    },
}


def _memory_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process [MB]. Unlike ru_maxrss, VmHWM
    starts afresh in a new program, so a child does not inherit its parent's peak."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _rss_mb() -> float:
    return _memory_mb("VmRSS")


def _peak_mb() -> float:
    return _memory_mb("VmHWM")


def child_microsim(path: str, phase: str, axis: int) -> dict:
    import numpy as np

    from microsim import Microstructure
    from microsim.transport import AMGSolver
    from microsim.transport.axis_solve import linear_guess as _linear_guess
    from microsim.transport.network import build_network

    base = _rss_mb()
    labels = np.load(path)
    micro = Microstructure(labels, 1e-6)
    t0 = time.perf_counter()
    network = build_network(micro, {phase: 1.0})
    keep = network.spanning_mask(axis)
    system = network.assemble(axis, keep)
    t1 = time.perf_counter()
    info = AMGSolver()(system.matrix, system.rhs, x0=_linear_guess(system), rtol=RTOL)
    t2 = time.perf_counter()
    face, g = network.boundary_conductance(axis, -1)
    potential = np.zeros(keep.shape)
    potential[keep] = info.x
    current = float(np.where(keep[face], g * potential[face], 0.0).sum())
    n = labels.shape[axis]
    sigma_eff = current * n / (labels.size / n) / 1e-6
    eps = network.conducting_voxels / labels.size
    return {
        "unknowns": int(system.matrix.shape[0]), "eps": eps, "assembly_s": t1 - t0,
        "setup_s": info.setup_seconds, "solve_s": info.solve_seconds, "iterations": info.iterations,
        "total_s": t2 - t0, "sigma_eff": sigma_eff, "tau": eps / sigma_eff, "levels": info.levels,
        "peak_mb": _peak_mb() - base,
    }


def child_pyamg(path: str, phase: str, axis: int) -> dict:
    import numpy as np
    import pyamg

    from microsim import Microstructure
    from microsim.transport.network import build_network

    labels = np.load(path)
    network = build_network(Microstructure(labels, 1e-6), {phase: 1.0})
    system = network.assemble(axis, network.spanning_mask(axis))
    base = _rss_mb()
    t0 = time.perf_counter()
    hierarchy = pyamg.smoothed_aggregation_solver(system.matrix)
    t1 = time.perf_counter()
    residuals: list[float] = []
    hierarchy.solve(system.rhs, tol=RTOL, accel="cg", residuals=residuals, maxiter=500)
    t2 = time.perf_counter()
    return {"setup_s": t1 - t0, "solve_s": t2 - t1, "total_s": t2 - t0, "iterations": len(residuals) - 1,
            "peak_mb_over_matrix": _peak_mb() - base}


def child_taufactor(path: str, label: int) -> dict:
    import numpy as np
    import taufactor
    import torch

    image = (np.load(path) == label).astype(np.uint8)
    base = _rss_mb()
    t0 = time.perf_counter()
    solver = taufactor.Solver(image, device="cpu")
    solver.solve(verbose=False)
    t1 = time.perf_counter()
    return {"total_s": t1 - t0, "tau": float(np.ravel(solver.tau)[0]), "iterations": int(solver.iter),
            "threads": torch.get_num_threads(), "version": taufactor.__version__ if hasattr(taufactor, "__version__")
            else "?", "peak_mb": _peak_mb() - base}


def run_child(python: str, *args: str) -> dict:
    done = subprocess.run([python, __file__, "--child", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 200, 256])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-baseline", action="store_true", help="skip the straightforward pyamg solve")
    parser.add_argument("--baseline-max", type=int, default=256, help="largest size for the pyamg baseline")
    parser.add_argument("--taufactor-python", help="a Python interpreter with taufactor installed")
    parser.add_argument("--taufactor-max", type=int, default=200, help="largest size for TauFactor")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        kind, path, *rest = args.child
        if kind == "microsim":
            out = child_microsim(path, rest[0], int(rest[1]))
        elif kind == "pyamg":
            out = child_pyamg(path, rest[0], int(rest[1]))
        else:
            out = child_taufactor(path, int(rest[0]))
        print(json.dumps(out))
        return 0

    sys.path.insert(0, str(HERE.parent))
    import numpy as np

    from microsim.generate import generate

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.cases:
            spec = CASES[case]
            for n in args.sizes:
                micro = generate((n, n, n), spec["fractions"], spec["radius_vox"] * 1e-6, voxel_size=1e-6,
                                 matrix=spec["matrix"], seed=args.seed)
                path = os.path.join(tmp, f"{case}-{n}.npy")
                np.save(path, micro.labels)
                row = {"case": case, "n": n, "voxels": n**3,
                       "ours": run_child(sys.executable, "microsim", path, spec["phase"], "0")}
                if not args.no_baseline and n <= args.baseline_max:
                    row["pyamg"] = run_child(sys.executable, "pyamg", path, spec["phase"], "0")
                if args.taufactor_python and n <= args.taufactor_max:
                    row["taufactor"] = run_child(args.taufactor_python, "taufactor", path, str(spec["label"]))
                rows.append(row)
                print(format_row(row), flush=True)

    text = results_markdown(rows, argv if argv is not None else sys.argv[1:])
    print(text)
    if not args.no_write:
        results = HERE / "RESULTS.md"
        old = results.read_text() if results.exists() else ""
        notes = old[old.index(NOTES_MARKER):] if NOTES_MARKER in old else ""
        results.write_text(text + ("\n" + notes if notes else ""))
    return 0


def format_row(row: dict) -> str:
    o = row["ours"]
    line = (f"{row['case']:<12} {row['n']:>4}^3 ours {o['total_s']:7.2f} s (asm {o['assembly_s']:.2f}, setup "
            f"{o['setup_s']:.2f}, solve {o['solve_s']:.2f}, {o['iterations']} it) tau {o['tau']:.4f} "
            f"peak {o['peak_mb']:.0f} MB = {o['peak_mb'] * 2**20 / row['voxels']:.0f} B/voxel")
    if "pyamg" in row:
        p = row["pyamg"]
        line += f" | pyamg SA {p['total_s']:.2f} s ({p['iterations']} it)"
    if "taufactor" in row:
        t = row["taufactor"]
        line += f" | TauFactor {t['total_s']:.2f} s tau {t['tau']:.4f}"
    return line


def results_markdown(rows: list[dict], argv: list[str]) -> str:
    import numpy
    import pyamg
    import scipy

    command = "python benchmarks/transport.py " + " ".join(argv)
    lines = [
        "# Transport benchmark",
        "",
        f"Command: `{command.strip()}`  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"numpy {numpy.__version__}, scipy {scipy.__version__}, pyamg {pyamg.__version__}.  ",
        f"Solve along axis 0, relative residual tolerance {RTOL:g} for both pyamg solves, 1 V across the box, "
        "voxel 1 µm, seeded overlapping spheres of radius 4 voxels.",
        "",
    ]

    def ours_cells(row):
        o = row["ours"]
        return [f"{row['n']}³ = {row['voxels']:,}", f"{o['unknowns']:,}", f"{o['eps']:.3f}",
                f"{o['assembly_s']:.2f}", f"{o['setup_s']:.2f}", f"{o['solve_s']:.2f}", str(o["iterations"]),
                f"{o['total_s']:.2f}", f"{o['peak_mb']:.0f}", f"{o['peak_mb'] * 2**20 / row['voxels']:.0f}",
                f"{o['sigma_eff']:.5g}", f"{o['tau']:.4f}"]

    def pyamg_cells(row):
        p, ours = row["pyamg"], row["ours"]["setup_s"] + row["ours"]["solve_s"]
        return [f"{row['n']}³", f"{p['setup_s']:.2f}", f"{p['solve_s']:.2f}", str(p["iterations"]),
                f"{p['total_s']:.2f}", f"{ours:.2f}", f"{p['total_s'] / ours:.1f}×"]

    def taufactor_cells(row):
        t, o = row["taufactor"], row["ours"]
        return [f"{row['n']}³", f"{t['total_s']:.2f}", str(t["iterations"]), str(t["threads"]), f"{t['tau']:.4f}",
                f"{o['tau']:.4f}", f"{100 * (o['tau'] / t['tau'] - 1):+.3f} %", f"{o['total_s']:.2f}",
                f"{t['total_s'] / o['total_s']:.1f}×"]

    sections = [
        ("microsim", None, ours_cells,
         ["voxels", "unknowns", "eps", "network+assembly [s]", "AMG setup [s]", "CG solve [s]", "iterations",
          "total [s]", "peak [MB]", "peak [B/voxel]", "sigma_eff/sigma0", "tau"]),
        ("Against a straightforward pyamg smoothed-aggregation + CG solve of the same matrix", "pyamg", pyamg_cells,
         ["voxels", "pyamg setup [s]", "pyamg solve [s]", "iterations", "pyamg total [s]",
          "microsim setup+solve [s]", "speed-up"]),
        ("Against TauFactor (CPU solver, default convergence criterion)", "taufactor", taufactor_cells,
         ["voxels", "TauFactor [s]", "TauFactor iterations", "torch threads", "tau TauFactor", "tau microsim",
          "difference", "microsim total [s]", "speed-up"]),
    ]
    for title, needs, cells, columns in sections:
        chosen = [row for row in rows if needs is None or needs in row]
        if not chosen:
            continue
        if lines[-1] != "":
            lines.append("")
        lines += [f"## {title}", "", "| case | " + " | ".join(columns) + " |",
                  "| --- |" + " ---: |" * len(columns)]
        lines += [f"| {row['case']} | " + " | ".join(cells(row)) + " |" for row in chosen]
    lines += ["", "## Against the targets (computed from the tables above)", ""] + verdicts(rows)
    return "\n".join(lines) + "\n"


def verdicts(rows: list[dict]) -> list[str]:
    """One line per target of the transport issue, judged on this run's numbers."""
    out = []
    for row in rows:
        o = row["ours"]
        where = f"{row['case']} {row['n']}³"
        if "taufactor" in row:
            t = row["taufactor"]
            diff = abs(o["tau"] / t["tau"] - 1)
            out.append(f"- {where}: tau differs from TauFactor's by {100 * diff:.3f} % (target ≤ 0.3 %: "
                       f"{'met' if diff <= 0.003 else 'NOT met'})")
            if row["n"] == 200:
                speed = t["total_s"] / o["total_s"]
                out.append(f"- {where}: {speed:.1f}× faster than TauFactor (target ≥ 5×: "
                           f"{'met' if speed >= 5 else 'NOT met'})")
        if "pyamg" in row and row["n"] == 200:
            speed = row["pyamg"]["total_s"] / (o["setup_s"] + o["solve_s"])
            out.append(f"- {where}: {speed:.1f}× faster than straightforward pyamg SA + CG on the same matrix "
                       f"(target ≥ 3×: {'met' if speed >= 3 else 'NOT met'})")
        per_voxel = o["peak_mb"] * 2**20 / row["voxels"]
        if row["n"] >= 200:
            out.append(f"- {where}: peak {per_voxel:.0f} bytes per voxel of the box (target ≤ 150: "
                       f"{'met' if per_voxel <= 150 else 'NOT met'}); at this rate a 512³ volume needs "
                       f"{per_voxel * 512**3 / 2**30:.1f} GiB")
        if row["n"] == 512:
            out.append(f"- {where}: solved on this machine in {o['total_s']:.0f} s with a peak of "
                       f"{o['peak_mb'] / 1024:.1f} GiB")
    return out


if __name__ == "__main__":
    sys.exit(main())
