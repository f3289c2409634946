"""Peak memory of whole ``microsim analyze``/``run`` commands, per voxel, against the estimate.

Each command runs in a fresh process on a seeded three-phase volume (CAM and pore
spheres of radius 4 voxels in an LLZO matrix, LLZO ε ≈ 0.40) written as an uncompressed
labelled TIFF; the peak is the child's maximum resident set size (wait4 rusage). The
estimate is what :func:`microsim.transport.effective.check_memory` would refuse against.

Run from the repository root:

    python benchmarks/memory.py                       # 128 256 512, writes RESULTS.md
    python benchmarks/memory.py --sizes 128 --no-write
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from _results import publish  # noqa: E402

MICROSIM = Path(sys.executable).with_name("microsim")


def cases(n: int) -> list[tuple[str, list[str]]]:
    """(label, microsim command and options) measured at edge ``n``."""
    runs = [("analyze, axis 0", ["analyze", "--axis", "0", "--no-morphology"]),
            ("analyze, axis 0 + morphology", ["analyze", "--axis", "0"])]
    if n <= 256:
        runs.append(("run, 3 axes + morphology + .vti", ["run", "--axis", "all", "--vti", "fields.vti"]))
    return runs


def measure(volume: Path, options: list[str], workdir: Path) -> tuple[float, float]:
    """Wall time [s] and peak resident memory [bytes] of one microsim command on ``volume``."""
    command = [str(MICROSIM), "-q", options[0], str(volume), "--sigma", "LLZO=1S/m", "--json",
               str(workdir / "report.json"), "--force", *options[1:]]
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {child.stderr.read().decode()[-2000:]}")
    return elapsed, usage.ru_maxrss * 1024.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    import numpy as np
    import scipy

    from microsim.generate import generate
    from microsim.export import save_microstructure
    from microsim.transport.axis_solve import BYTES_PER_UNKNOWN, BYTES_PER_VOXEL

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for n in args.sizes:
            micro = generate((n, n, n), {"CAM": 0.45, "pore": 0.15}, 4e-6, voxel_size=1e-6, matrix="LLZO",
                             seed=args.seed)
            volume = save_microstructure(micro, work / f"v{n}.tif", compress=False, force=True)
            voxels = micro.labels.size
            eps = micro.volume_fraction("LLZO")
            estimate = voxels * BYTES_PER_VOXEL + eps * voxels * BYTES_PER_UNKNOWN
            del micro
            for label, extra in cases(n):
                seconds, peak = measure(volume, extra, work)
                rows.append((n, voxels, label, seconds, peak, estimate))
                print(f"{n}^3 {label}: {seconds:.1f} s, peak {peak / 2**30:.2f} GiB "
                      f"({peak / voxels:.0f} B/voxel), estimate {estimate / 2**30:.2f} GiB", flush=True)
    lines = [
        "# Peak memory of whole `analyze` and `run` commands",
        "",
        "Command: `" + " ".join(["python benchmarks/memory.py", *(argv if argv is not None else sys.argv[1:])]) + "`  ",
        f"Python {sys.version.split()[0]}, numpy {np.__version__}, scipy {scipy.__version__}; LLZO (ε ≈ 0.40) of the "
        "three-phase sphere volume, read from an uncompressed labelled TIFF; peak = maximum resident set size of "
        "the `microsim` process, interpreter and libraries included (about 0.12 GiB, what a 64³ run peaks at); "
        "estimate = the solve's memory model, which refuses a volume before the solve when it exceeds the memory "
        f"available ({BYTES_PER_VOXEL} B per voxel + {BYTES_PER_UNKNOWN} B per unknown).",
        "",
        "| volume | voxels | command | wall [s] | peak [GiB] | peak [B/voxel] | estimate [GiB] |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for n, voxels, label, seconds, peak, estimate in rows:
        lines.append(f"| {n}³ | {voxels:,} | {label} | {seconds:.1f} | {peak / 2**30:.2f} | {peak / voxels:.0f} | "
                     f"{estimate / 2**30:.2f} |")
    publish(lines, "<!-- memory: start -->", "<!-- memory: end -->", write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
