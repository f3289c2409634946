"""Is the bundled NREL CT crop a representative volume?

Segments the bundled 75³ X-ray CT crop of a calendered NMC electrode (398 nm voxels)
by its grey histogram into the dark matter (pore and carbon-binder, which X-ray contrast
hardly separates: the histogram has two modes, so a third "binder" class would be cut from
the partial-volume band) and NMC, as the demo does, then measures the pore (ionic) and NMC (electronic)
microstructure factor σ_eff/σ0 and tortuosity factor in random cubic sub-volumes of
growing edge, against the whole crop. Run:

    python examples/rev_nrel_crop.py [--small] [--tolerance 0.1] [--out rev-study]
"""

import argparse
from pathlib import Path

from microsim import Microstructure
from microsim.export import write_csv
from microsim.design.rev import representative_volume
from microsim.reading import read_volume
from microsim.segment import segment

CROP = Path(__file__).resolve().parents[1] / "data" / "nrel_nmc1cal_gray_75.tif"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="two sizes, two samples (for the tests)")
    parser.add_argument("--tolerance", type=float, default=0.1, help="relative tolerance of the settled size")
    parser.add_argument("--out", default="rev-study", help="output folder")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stack = read_volume(CROP)
    seg = segment(stack.data, ["pore", "NMC"], min_size=8)  # two classes: the histogram's two modes
    micro = Microstructure(seg.labels, 0.398e-6, seg.phases)
    sizes, samples = ([16, 32], 2) if args.small else (None, 6)
    settled, rows = {}, []
    for phase in ("pore", "NMC"):
        for axis in (0,) if args.small else (0, 1, 2):
            rev = representative_volume(micro, phase, sizes=sizes, axis=axis, samples=samples,
                                        tolerance=args.tolerance, seed=1)
            rows += rev.rows()
            settled[f"{phase} axis {axis}"] = rev.settled_edge_m
            print(f"{phase}, axis {axis}:")
            print(rev.table())
    write_csv(rows, out / "rev.csv", force=True)
    return settled


if __name__ == "__main__":
    main()
