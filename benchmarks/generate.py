"""Speed and memory of the microstructure generator (and of the morphology it feeds).

The reference composite of Ren, Danner et al. (75 vol% CAM, 25 vol% LLZO, no pores)
at 0.5 µm voxels: CAM radius 3 µm (6 voxels), LLZO radius 1.5 µm (3 voxels). Each
size and packing runs in a fresh Python process so its peak resident memory (VmHWM)
is its own. Columns: generation seconds and peak MB right after it; then LLZO
Voronoi grains of 2 µm; then ``measure_morphology`` (areas, cluster fractions and
local thickness of the three phases).

Run from the repository root:

    python benchmarks/generate.py                       # 128 256 512, writes RESULTS.md
    python benchmarks/generate.py --sizes 128 --no-write
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _results import peak_mb, publish  # noqa: E402

START, END = "<!-- generate: start -->", "<!-- generate: end -->"
RECIPE = {"fractions": {"CAM": 0.75, "LLZO": 0.25}, "radius": {"CAM": 3e-6, "LLZO": 1.5e-6}, "voxel_size": 0.5e-6}


def child(n: int, packing: str, morphology: bool) -> dict:
    sys.path.insert(0, str(HERE.parent))
    from microsim.generate import generate, voronoi_grains
    from microsim.morphology import measure_morphology

    base = peak_mb()
    t0 = time.perf_counter()
    micro = generate((n, n, n), RECIPE["fractions"], RECIPE["radius"], voxel_size=RECIPE["voxel_size"],
                     packing=packing, seed=1)
    t1 = time.perf_counter()
    out = {"generate_s": t1 - t0, "generate_peak_mb": peak_mb() - base,
           "fractions": micro.volume_fractions()}
    grains = voronoi_grains(micro.labels, 2e-6, spacing=RECIPE["voxel_size"], phase_label=2, seed=1)
    t2 = time.perf_counter()
    out.update(grains_s=t2 - t1, grains=int(grains.max()), grains_peak_mb=peak_mb() - base)
    del grains
    if morphology:
        m = measure_morphology(micro)
        out.update(morphology_s=time.perf_counter() - t2, morphology_peak_mb=peak_mb() - base,
                   a_cam_llzo_per_um=m.interface_area_per_volume("CAM", "LLZO") * 1e-6)
    return out


def markdown(rows: list[dict], argv: list[str]) -> list[str]:
    cpu = platform.processor() or platform.machine()
    lines = [
        "## Generator",
        "",
        f"`python benchmarks/generate.py {' '.join(argv)}`".replace(" `", "`"),
        "",
        f"Reference composite 75/25 CAM/LLZO, radii 6 and 3 voxels, seed 1; {cpu}, Python "
        f"{platform.python_version()}. Peak MB are the process's resident high-water mark above "
        "its start (VmHWM), after each stage.",
        "",
        "| voxels | packing | generate [s] | peak [MB] | achieved CAM | 2 µm grains [s] | grains | "
        "peak [MB] | morphology [s] | peak [MB] | a CAM\\|LLZO [1/µm] |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        o = r["out"]
        morph = (f"{o['morphology_s']:.1f} | {o['morphology_peak_mb']:.0f} | {o['a_cam_llzo_per_um']:.3f}"
                 if "morphology_s" in o else "- | - | -")
        lines.append(
            f"| {r['n']}³ | {r['packing']} | {o['generate_s']:.1f} | {o['generate_peak_mb']:.0f} | "
            f"{o['fractions']['CAM']:.4f} | {o['grains_s']:.1f} | {o['grains']} | {o['grains_peak_mb']:.0f} | {morph} |"
        )
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--packings", nargs="+", default=["overlapping", "sintered"])
    parser.add_argument("--morphology-max", type=int, default=512, help="largest size to measure morphology on")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(int(args.child[0]), args.child[1], args.child[2] == "1")))
        return 0

    rows = []
    for n in args.sizes:
        for packing in args.packings:
            flag = "1" if n <= args.morphology_max else "0"
            done = subprocess.run([sys.executable, __file__, "--child", str(n), packing, flag],
                                  capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"{n}^3 {packing} failed:\n{done.stderr[-2000:]}")
            row = {"n": n, "packing": packing, "out": json.loads(done.stdout.strip().splitlines()[-1])}
            rows.append(row)
            print(n, packing, json.dumps(row["out"]), flush=True)
    publish(markdown(rows, argv if argv is not None else sys.argv[1:]), START, END, write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
