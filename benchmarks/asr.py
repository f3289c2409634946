"""Speed and memory of the microstructure-resolved cathode ASR, next to a single-phase
tortuosity solve of the same volume.

Generated sintered 75/25 CAM/LLZO composites (radii 6 and 3 voxels, 0.5 µm voxels),
state-of-the-art conductivities (LLZO 8e-4 S/cm, CAM 4.54e-2 S/cm), R_CT = 150 Ω·cm².
Each solve runs in a fresh process so its peak resident memory (VmHWM) is its own.

    python benchmarks/asr.py                  # 128 200, writes the block in RESULTS.md
    python benchmarks/asr.py --sizes 64 --no-write
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
from _results import peak_mb, publish  # noqa: E402

START, END = "<!-- asr: start -->", "<!-- asr: end -->"


def child(path: str, kind: str, current: str) -> dict:
    sys.path.insert(0, str(HERE.parent))
    import numpy as np

    from microsim.microstructure import Microstructure
    from microsim.transport import solve_transport
    from microsim.transport.electrochem import cathode_asr

    micro = Microstructure(np.load(path), 0.5e-6)
    base = peak_mb()
    t0 = time.perf_counter()
    if kind == "tortuosity":
        (r,) = solve_transport(micro, {"LLZO": 0.08}, axes=0)
        out = {"iterations": r.iterations, "value": r.tortuosity_factor}
    else:
        j = None if current == "none" else float(current)
        r = cathode_asr(micro, 0.08, 4.54, 150e-4, current_density=j)
        out = {"iterations": r.iterations, "newton": r.newton_iterations, "value": r.asr * 1e4,
               "active_cam": r.active_cam_fraction}
    out.update(seconds=time.perf_counter() - t0, peak_mb=peak_mb() - base)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 200])
    parser.add_argument("--bv-max", type=int, default=128, help="largest size for the Butler-Volmer solve")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0
    sys.path.insert(0, str(HERE.parent))
    import numpy as np

    from microsim.generate import generate

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            micro = generate((n, n, n), {"CAM": 0.75, "LLZO": 0.25}, {"CAM": 3e-6, "LLZO": 1.5e-6}, voxel_size=0.5e-6,
                             packing="sintered", seed=1)
            path = os.path.join(tmp, f"v{n}.npy")
            np.save(path, micro.labels)
            for kind, current in (("tortuosity", "none"), ("asr", "none"), ("asr", "100")):
                if current != "none" and n > args.bv_max:
                    continue
                done = subprocess.run([sys.executable, __file__, "--child", path, kind, current],
                                      capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    raise RuntimeError(done.stderr[-2000:])
                row = {"n": n, "kind": kind, "current": current, **json.loads(done.stdout.strip().splitlines()[-1])}
                rows.append(row)
                print(row, flush=True)
    lines = [
        "## Cathode ASR (microstructure-resolved)",
        "",
        f"`python benchmarks/asr.py {' '.join(argv if argv is not None else sys.argv[1:])}`".replace(" `", "`"),
        "",
        "Sintered 75/25 CAM/LLZO, radii 6 and 3 voxels, thickness along axis 0; σ_LLZO 8e-4 S/cm, κ_CAM "
        f"4.54e-2 S/cm, R_CT 150 Ω·cm²; {platform.processor() or platform.machine()}, Python "
        f"{platform.python_version()}. Peak MB above the process start (VmHWM).",
        "",
        "| voxels | solve | seconds | peak [MB] | CG iterations | Newton steps | result |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        what = {"tortuosity": "LLZO tortuosity (one phase)", "asr": "cathode ASR, linear kinetics"}[r["kind"]]
        if r["kind"] == "asr" and r["current"] != "none":
            what = f"cathode ASR, Butler-Volmer at {float(r['current']) / 10:g} mA/cm²"
        result = f"τ = {r['value']:.3f}" if r["kind"] == "tortuosity" else \
            f"{r['value']:.2f} Ω·cm², active CAM {r['active_cam']:.3f}"
        lines.append(f"| {r['n']}³ | {what} | {r['seconds']:.1f} | {r['peak_mb']:.0f} | {r['iterations']} | "
                     f"{r.get('newton', '-')} | {result} |")
    publish(lines, START, END, write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
