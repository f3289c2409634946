"""Speed of the reduced P2D cell model: one full discharge, and the whole studies.

Each figure is the median of ``--repeat`` runs in this process (the model is
single-threaded numpy; a run is far below a second, so process start-up would dwarf
it). Default grid: 20 cells in x, 10 shells in r, 100 nominal steps.

    python benchmarks/cell.py                 # writes the cell block of RESULTS.md
    python benchmarks/cell.py --no-write
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _results import publish  # noqa: E402

START, END = "<!-- cell: start -->", "<!-- cell: end -->"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE.parent))
    from microsim.cell import get_parameter_set, simulate
    from microsim.cell.studies import STUDIES

    rows = []
    for name in ("improved", "state_of_the_art"):
        for thickness in (50e-6, 100e-6):
            for current in (10.0, 100.0):
                for protocol in ("discharge", "charge-discharge"):
                    params = get_parameter_set(name).with_values(L_cat=thickness)
                    times = []
                    for _ in range(args.repeat):
                        t0 = time.perf_counter()
                        result = simulate(params, current, protocol=protocol)
                        times.append(time.perf_counter() - t0)
                    rows.append((name, thickness * 1e6, current / 10, protocol, statistics.median(times),
                                 result.steps, result.specific_energy_Wh_per_kg))
                    print(*rows[-1], flush=True)
    studies = []
    for study, (run, _) in STUDIES.items():
        t0 = time.perf_counter()
        n = len(run())
        studies.append((study, n, time.perf_counter() - t0))
        print(*studies[-1], flush=True)

    lines = [
        "## Cell model",
        "",
        f"`python benchmarks/cell.py {' '.join(argv if argv is not None else sys.argv[1:])}`".replace(" `", "`"),
        "",
        f"Default grid (20 x-cells, 10 r-shells, 100 nominal steps), median of {args.repeat} runs; "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, one thread.",
        "",
        "| set | cathode [µm] | current [mA/cm²] | protocol | seconds | steps | specific energy [Wh/kg] |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for name, thickness, current, protocol, seconds, steps, energy in rows:
        lines.append(f"| {name} | {thickness:g} | {current:g} | {protocol} | {seconds:.3f} | {steps} | {energy:.1f} |")
    lines += ["", "| study | simulations | seconds |", "| --- | ---: | ---: |"]
    lines += [f"| {s} | {n} | {sec:.1f} |" for s, n, sec in studies]
    publish(lines, START, END, write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
