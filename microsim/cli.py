"""The ``microsim`` command: thin wrappers that parse, call the API and write files.

Every user error ends in one line on stderr and exit status 1; never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from microsim.errors import InvalidInputError, MicrosimError, PercolationWarning
from microsim.microstructure import Microstructure, load_microstructure, save_microstructure
from microsim.units import parse_area_resistance, parse_conductivity, parse_voxel_size

log = logging.getLogger("microsim")

#: The demo volume: 55 vol% CAM spheres, 10 vol% pores, LLZO (35 vol%) filling the rest.
DEMO = {
    "shape": (64, 64, 64),
    "voxel_size_m": 0.5e-6,
    "fractions": {"CAM": 0.55, "pore": 0.10},
    "radius_m": {"CAM": 2.5e-6, "pore": 1.5e-6},
    "seed": 2026,
    # State-of-the-art bulk conductivities (Ren, Danner et al., Adv. Energy Mater. 2023, Table 3).
    "sigma_S_per_m": {"CAM": 4.54, "LLZO": 0.08},
}


class UsageError(InvalidInputError):
    """A command line that argparse cannot parse."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line and exit 1, like every other user error
        raise UsageError(f"{self.prog}: {message} (see --help)")


def _phase_table(text: str) -> dict[str, int]:
    table: dict[str, int] = {}
    for item in text.split(","):
        label, sep, name = item.partition("=")
        if not sep or not label.strip().isdigit() or not name.strip():
            raise InvalidInputError(f"--phases expects LABEL=NAME pairs like 0=pore,1=CAM,2=LLZO, got {text!r}")
        table[name.strip()] = int(label)
    return table


def _name_value(text: str, option: str, parse) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise InvalidInputError(f"{option} expects PHASE=VALUE, got {text!r}")
    return name.strip(), parse(value)


def _axes(text: str):
    if text == "all":
        return "all"
    if text in ("0", "1", "2"):
        return (int(text),)
    raise InvalidInputError(f"--axis must be 0, 1, 2 or all, got {text!r}")


def _add_transport_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sigma", action="append", default=[], metavar="PHASE=VALUE",
                        help="bulk conductivity with unit, e.g. LLZO=8e-4S/cm (repeatable); "
                             "default: each named non-pore phase alone at 1 S/m")
    parser.add_argument("--combined", action="store_true",
                        help="solve the --sigma phases together as one multi-phase conductor")
    parser.add_argument("--axis", default="all", help="transport axis 0, 1, 2 or all (default all)")
    parser.add_argument("--periodic", action="store_true", help="periodic side faces instead of zero flux")
    parser.add_argument("--gb-resistance", action="append", default=[], metavar="PHASE=VALUE",
                        help="grain-boundary resistance, e.g. LLZO=10ohmcm2 (needs grain ids in the input)")
    parser.add_argument("--interface-resistance", action="append", default=[], metavar="A/B=VALUE",
                        help="resistance of faces between phases A and B, e.g. CAM/LLZO=1ohmcm2")
    parser.add_argument("--solver", default="pyamg", choices=["pyamg", "direct"], help="linear solver")
    parser.add_argument("--rtol", type=float, default=1e-6,
                        help="relative residual tolerance of CG (default 1e-6: sigma_eff to ~1e-5)")
    parser.add_argument("--json", metavar="PATH|-", help="write the JSON report to PATH, or to stdout with -")
    parser.add_argument("--force", action="store_true", help="overwrite existing output files")
    parser.add_argument("--allow-nonpercolating", action="store_true",
                        help="exit 0 even when a phase has no spanning path")


def build_parser() -> argparse.ArgumentParser:
    from microsim import __version__

    parser = _Parser(prog="microsim", description="Microstructure-resolved transport for solid-state batteries.")
    parser.add_argument("--version", action="version", version=f"microsim {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    quiet = _Parser(add_help=False)
    quiet.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                       help="no progress lines on stderr")
    analyze = sub.add_parser("analyze", parents=[quiet],
                             help="effective conductivity and tortuosity of a labelled volume")
    analyze.add_argument("input", help="labelled volume: .tif/.tiff stack, .npy or .npz")
    analyze.add_argument("--voxel-size", help="voxel size with unit: 0.4um or 10nm,10nm,20nm (axis 0,1,2)")
    analyze.add_argument("--phases", help="label table, e.g. 0=pore,1=CAM,2=LLZO")
    _add_transport_options(analyze)

    demo = sub.add_parser("demo", parents=[quiet], help="analyse the built-in composite-cathode volume")
    demo.add_argument("--out", default="microsim-demo", help="output folder (default ./microsim-demo)")
    demo.add_argument("--force", action="store_true", help="overwrite existing output files")
    return parser


def _transport_jobs(micro: Microstructure, args) -> list[dict[str, float]]:
    sigmas = dict(_name_value(s, "--sigma", parse_conductivity) for s in args.sigma)
    for name in sigmas:
        micro.label_of(name)
    if not sigmas:
        if args.combined:
            raise InvalidInputError("--combined needs the phases and conductivities given with --sigma")
        present = {n for n, f in micro.volume_fractions().items() if f > 0}
        names = [n for n in micro.phases if n != "pore" and n in present]
        if not names:
            raise InvalidInputError("the volume holds no conducting phase (only pore); give --sigma PHASE=VALUE")
        return [{name: 1.0} for name in names]
    for name, sigma in sigmas.items():
        if micro.volume_fraction(name) == 0:
            raise InvalidInputError(f"phase {name!r} is empty in this volume (volume fraction 0)")
        if sigma == 0 and not args.combined:
            raise InvalidInputError(f"--sigma {name}=0 gives nothing to solve; drop it or use --combined")
    return [sigmas] if args.combined else [{n: s} for n, s in sigmas.items()]


def _interface_resistances(items: Sequence[str]) -> dict[tuple[str, str], float]:
    table = {}
    for text in items:
        pair, value = _name_value(text, "--interface-resistance", parse_area_resistance)
        a, sep, b = pair.partition("/")
        if not sep or not a or not b:
            raise InvalidInputError(f"--interface-resistance expects A/B=VALUE, got {text!r}")
        table[(a, b)] = value
    return table


def run_analysis(micro: Microstructure, args, *, source: str) -> int:
    """Solve every job of ``args`` on ``micro``, print the table, write the JSON report."""
    from microsim.report import analysis_report, report_json, transport_table, write_report
    from microsim.transport import solve_transport

    if args.json and args.json != "-" and Path(args.json).exists() and not args.force:
        raise InvalidInputError(f"{args.json} exists already; pass --force to overwrite it")
    jobs = _transport_jobs(micro, args)
    options = dict(
        axes=_axes(args.axis),
        periodic=args.periodic,
        grain_boundary_resistance=dict(_name_value(s, "--gb-resistance", parse_area_resistance)
                                       for s in args.gb_resistance),
        interface_resistance=_interface_resistances(args.interface_resistance),
        solver=args.solver,
        rtol=args.rtol,
    )
    results = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PercolationWarning)
        for job in jobs:
            log.info("solving %s", "+".join(job))
            results.extend(solve_transport(micro, job, **options))

    settings = {
        "conductivities_S_per_m": jobs,
        "axes": list(options["axes"]) if options["axes"] != "all" else [0, 1, 2],
        "periodic": args.periodic,
        "grain_boundary_resistance_ohm_m2": options["grain_boundary_resistance"],
        "interface_resistance_ohm_m2": {f"{a}/{b}": r for (a, b), r in options["interface_resistance"].items()},
        "solver": args.solver,
        "rtol": args.rtol,
        "command": "microsim " + " ".join(sys.argv[1:]) if sys.argv else "",
    }
    report = analysis_report(micro, results, source=source, settings=settings)
    to_stdout = args.json == "-"
    print(transport_table(results), file=sys.stderr if to_stdout else sys.stdout)
    if to_stdout:
        sys.stdout.write(report_json(report))
    elif args.json:
        write_report(report, args.json, force=args.force)
        log.info("report written to %s", args.json)

    blocked = [r for r in results if not r.percolating]
    if blocked and not args.allow_nonpercolating:
        which = ", ".join(f"{r.phase} along axis {r.axis}" for r in blocked)
        print(f"microsim: no spanning path for {which}: sigma_eff = 0, tau = inf "
              "(report written; --allow-nonpercolating exits 0)", file=sys.stderr)
        return 1
    return 0


def _analyze(args) -> int:
    voxel_size = parse_voxel_size(args.voxel_size) if args.voxel_size else None
    phases = _phase_table(args.phases) if args.phases else None
    log.info("reading %s", args.input)
    micro = load_microstructure(args.input, voxel_size=voxel_size, phases=phases)
    log.info("%s voxels, voxel size %s m, phases %s", "x".join(map(str, micro.shape)), micro.voxel_size,
             dict(micro.phases))
    return run_analysis(micro, args, source=str(args.input))


def _demo(args) -> int:
    from microsim.generate import generate

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    volume_path, report_path = out / "demo_microstructure.tif", out / "demo_report.json"
    for path in (volume_path, report_path):
        if path.exists() and not args.force:
            raise InvalidInputError(f"{path} exists already; pass --force to overwrite it (or --out ANOTHER_FOLDER)")
    log.info("generating the demo composite cathode (%s voxels, seed %d)", DEMO["shape"], DEMO["seed"])
    micro = generate(DEMO["shape"], DEMO["fractions"], DEMO["radius_m"], voxel_size=DEMO["voxel_size_m"],
                     matrix="LLZO", seed=DEMO["seed"])
    save_microstructure(micro, volume_path, force=args.force)
    log.info("volume written to %s", volume_path)
    analyze = build_parser().parse_args(
        ["analyze", str(volume_path), "--json", str(report_path)]
        + [f"--sigma={name}={value}S/m" for name, value in DEMO["sigma_S_per_m"].items()]
        + (["--force"] if args.force else [])
    )
    return run_analysis(micro, analyze, source=str(volume_path))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``microsim`` command; return the exit status."""
    try:
        args = build_parser().parse_args(argv)
    except MicrosimError as exc:
        print(f"microsim: error: {exc}", file=sys.stderr)
        return 1
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("microsim: %(message)s"))
    package_log = logging.getLogger("microsim")
    package_log.handlers[:] = [handler]
    package_log.setLevel(logging.WARNING if args.quiet else logging.INFO)
    package_log.propagate = False
    try:
        return {"analyze": _analyze, "demo": _demo}[args.command](args)
    except MicrosimError as exc:
        print(f"microsim: error: {exc}", file=sys.stderr)
        return 1
    except MemoryError:
        print("microsim: error: out of memory; crop or downsample the volume", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("microsim: interrupted", file=sys.stderr)
        return 130
    finally:
        package_log.removeHandler(handler)


if __name__ == "__main__":
    sys.exit(main())
