"""Convergence of the default cell grid: doubling every grid dimension changes the energy by how much?

Sweep: sets improved and state_of_the_art (with D and d50 replaced), cathode 10, 50
and 200 um, 0.1, 1 and 10 mA/cm2, d50 0.1, 2 and 20 um, D 1e-18, 1e-15 and 1e-12
m2/s, discharge protocol. For each point the default grid (``default_grid``) and the
grid with n_x, n_r and n_t doubled (same stretch). Relative change |E2 - E1| / E1 for
cells that deliver > 1 % of their theoretical energy, absolute [Wh/kg] for all.
``--random N`` adds N points drawn log-uniformly from the same ranges (seeded), so
that the grid rule is checked between the sweep's points too.

    python benchmarks/cell_convergence.py            # writes its block of RESULTS.md
    python benchmarks/cell_convergence.py --no-write
    python benchmarks/cell_convergence.py --random 40
"""

from __future__ import annotations

import argparse
import itertools
import math
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _results import publish  # noqa: E402

START, END = "<!-- cell-convergence: start -->", "<!-- cell-convergence: end -->"
THICKNESS_UM = (10, 50, 200)
CURRENT_MA_CM2 = (0.1, 1.0, 10.0)
D50_UM = (0.1, 2.0, 20.0)
D_M2_S = (1e-18, 1e-15, 1e-12)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--random", type=int, default=0, metavar="N",
                        help="also N points drawn log-uniformly from the sweep's ranges (seed 22)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE.parent))
    from microsim.cell import get_parameter_set, simulate
    from microsim.cell.p2d import default_grid

    rows, seconds = [], []
    points = list(itertools.product(("improved", "state_of_the_art"), THICKNESS_UM, CURRENT_MA_CM2, D50_UM, D_M2_S))
    rng = np.random.default_rng(22)

    def draw(values):  # log-uniform between the sweep's ends, 3 significant digits
        return float(f"{math.exp(rng.uniform(math.log(min(values)), math.log(max(values)))):.3g}")

    for _ in range(args.random):
        points.append((str(rng.choice(("improved", "state_of_the_art"))), draw(THICKNESS_UM), draw(CURRENT_MA_CM2),
                       draw(D50_UM), draw(D_M2_S)))
    for name, L, i, d50, D in points:
        p = get_parameter_set(name).with_values(L_cat=L * 1e-6, d50_CAM=d50 * 1e-6, D_CAM=D)
        current = i * 10.0
        grid = default_grid(p, current)
        t0 = time.perf_counter()
        one = simulate(p, current, grid=grid, error_estimate=False)
        seconds.append(time.perf_counter() - t0)
        two = simulate(p, current, grid=grid.refined(2), error_estimate=False)
        theory = one.to_dict()["theoretical_specific_energy_Wh_per_kg"]
        e1, e2 = one.specific_energy_Wh_per_kg, two.specific_energy_Wh_per_kg
        rel = abs(e2 - e1) / e1 if e1 > 0.01 * theory else None
        rows.append((name, L, i, d50, D, e1, e2, rel, grid))
    scored = [r for r in rows if r[7] is not None]
    worst = sorted(scored, key=lambda r: -r[7])[:10]
    worst_abs = max(rows, key=lambda r: abs(r[6] - r[5]))
    lines = [
        "## Cell model: grid convergence (issue 22)",
        "",
        f"`python benchmarks/cell_convergence.py{f' --random {args.random}' if args.random else ''}` — "
        f"{len(rows)} discharges ({platform.processor() or platform.machine()}, Python {platform.python_version()}):"
        " 2 sets x cathode 10/50/200 um x 0.1/1/10 mA/cm2 x d50 0.1/2/20 um x D 1e-18/1e-15/1e-12 m2/s"
        + (f", and {args.random} points drawn log-uniformly from those ranges (seed 22)" if args.random else "")
        + ", default grid against every count doubled.",
        "",
        f"- relative change of the energy, cells delivering > 1 % of theory ({len(scored)} of {len(rows)}): "
        f"worst {100 * worst[0][7]:.3f} %, median {100 * statistics.median(r[7] for r in scored):.4f} %, "
        f"{sum(r[7] > 0.002 for r in scored)} above 0.2 %",
        f"- largest absolute change over all cells: {abs(worst_abs[6] - worst_abs[5]):.3f} Wh/kg "
        f"({worst_abs[0]}, {worst_abs[1]} um, {worst_abs[2]} mA/cm2, d50 {worst_abs[3]} um, D {worst_abs[4]:g})",
        f"- time of one default solve: median {statistics.median(seconds):.3f} s, max {max(seconds):.3f} s "
        "(without the coarse solve of the error estimate, which adds ~30-50 %)",
        "",
        "| set | L [um] | i [mA/cm2] | d50 [um] | D [m2/s] | grid n_x,n_r,n_t | E [Wh/kg] | E (2x grid) | change |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for name, L, i, d50, D, e1, e2, rel, g in worst:
        lines.append(f"| {name} | {L} | {i} | {d50} | {D:g} | {g.n_x},{g.n_r},{g.n_t} | {e1:.3f} | {e2:.3f} | "
                     f"{100 * rel:.3f} % |")
    lines.append("")
    lines.append("(the ten worst relative changes)")
    publish(lines, START, END, write=not args.no_write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
