"""Cathode ASR before and after the exactness work (issue 20), paired in one run.

    python benchmarks/asr_exact.py N BEFORE_TREE [AFTER_TREE] [--repeats K]

BEFORE_TREE and AFTER_TREE are checkouts (``git worktree add /tmp/before 6205b88``;
AFTER defaults to this one). A sintered N³ CAM/LLZO composite (70/30, CAM r = 2 µm,
LLZO r = 1 µm, 0.5 µm voxels, seed 1; generated once, by this tree, and handed to both)
with the improved set: ``cathode_asr`` linear
and Butler–Volmer at 10 mA/cm², each tree in its own process, the trees alternating
K times (the machine is shared: pairs, not separate runs). The references are the
after tree's solves at a current balance of 1e-10 (linear and Butler–Volmer). Prints
one JSON line per tree and run, then a Markdown table of medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

WORKER = r"""
import json, sys, time
import numpy as np
tree, volume, reference = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
sys.path.insert(0, tree)
import microsim
assert microsim.__file__.startswith(tree), microsim.__file__
from microsim.cell import get_parameter_set
from microsim.microstructure import Microstructure
from microsim.transport.electrochem import cathode_asr
m = Microstructure(np.load(volume), (0.5e-6,) * 3, {"CAM": 1, "LLZO": 2})
p = get_parameter_set("improved")
out = {}
for mode, current in (("linear", None), ("bv", 100.0)):
    extra = {"balance_tolerance": 1e-10, "rtol": 1e-10} if reference else {}
    t = time.perf_counter()
    a = cathode_asr(m, p.sigma_SE, p.kappa_CAM, p.R_CT, p.R_SP, current_density=current, **extra)
    out[mode] = {"seconds": time.perf_counter() - t, "iterations": a.iterations, "newton": a.newton_iterations,
                 "asr_ohm_cm2": a.asr * 1e4, "balance": a.current_balance_error}
print(json.dumps(out))
"""


def run(tree: str, volume: Path, reference: bool = False) -> dict:
    done = subprocess.run([sys.executable, "-c", WORKER, tree, str(volume), "1" if reference else "0"],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("n", type=int)
    parser.add_argument("before")
    parser.add_argument("after", nargs="?", default=str(HERE.parent))
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args(argv)
    trees = {"before": str(Path(args.before).resolve()), "after": str(Path(args.after).resolve())}
    # one volume for both trees (the generator changes between versions), made by this tree
    sys.path.insert(0, str(HERE.parent))
    import numpy as np

    from microsim.generate import generate

    m = generate((args.n,) * 3, {"CAM": 0.7, "LLZO": 0.3}, {"CAM": 2e-6, "LLZO": 1e-6}, voxel_size=0.5e-6,
                 packing="sintered", seed=1)
    with tempfile.TemporaryDirectory() as scratch:
        volume = Path(scratch) / "volume.npy"
        np.save(volume, np.where(m.labels == m.label_of("CAM"), 1, np.where(m.labels == m.label_of("LLZO"), 2, 0))
                .astype(np.uint8))
        runs = {name: [] for name in trees}
        for _ in range(args.repeats):
            for name, tree in trees.items():
                runs[name].append(run(tree, volume))
                print(name, json.dumps(runs[name][-1]), flush=True)
        reference = run(trees["after"], volume, reference=True)
    print("reference", json.dumps(reference), flush=True)
    print(f"\n| {args.n}³ | time linear [s] | CG iterations | ASR error | current balance "
          "| time BV [s] | BV CG iterations | BV error | BV balance |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, results in runs.items():
        cells = []
        for mode in ("linear", "bv"):
            last = results[-1][mode]
            error = abs(last["asr_ohm_cm2"] / reference[mode]["asr_ohm_cm2"] - 1)
            cells += [f"{statistics.median(r[mode]['seconds'] for r in results):.2f}", str(last["iterations"]),
                      f"{error:.1e}", f"{last['balance']:.1e}"]
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
