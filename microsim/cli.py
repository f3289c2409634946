"""The ``microsim`` command: thin wrappers that parse, call the API and write files.

Every user error ends in one line on stderr and exit status 1; never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

from microsim.errors import InvalidInputError, MicrosimError, OutputExistsError, PercolationWarning
from microsim.microstructure import Microstructure, load_microstructure, save_microstructure
from microsim.units import (
    parse_area_resistance,
    parse_conductivity,
    parse_current_density,
    parse_length,
    parse_voxel_size,
)

log = logging.getLogger("microsim")

#: The demo: ``microsim run`` on the bundled real X-ray CT crop of a calendered NMC
#: electrode (NREL, MIT licence; see data/README.md), segmented into pore / carbon-binder
#: / NMC. Its parent scan is reported at 398 nm voxels. Ionic tortuosity through the
#: (electrolyte-filled) pores and electronic conduction through the NMC.
DEMO = {
    "file": "nrel_nmc1cal_gray_75.tif",
    "classes": "pore,CBD,NMC",
    "voxel_size": "0.398um",
    "sigma": ["pore=1S/m", "NMC=4.54e-2S/cm"],
    "min_size": "8",
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


def _add_import_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--voxel-size", help="voxel size with unit: 0.4um or 10nm,10nm,20nm (axis 0,1,2); "
                                             "overrides the file's metadata")
    parser.add_argument("--crop", metavar="Z0:Z1,Y0:Y1,X0:X1", help="region of interest in voxels, e.g. 0:100,,20:")
    parser.add_argument("--downsample", type=int, default=1, metavar="K", help="integer downsampling factor")


def _add_segment_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument("--classes", required=required, metavar="DARK,...,BRIGHT",
                        help="phase names in grey order, dark to bright, e.g. pore,CBD,NMC")
    parser.add_argument("--denoise", choices=["none", "median", "gaussian", "nlm"], default="none",
                        help="denoising before thresholding (default none)")
    parser.add_argument("--thresholds", metavar="T1,T2,...",
                        help="manual grey-value thresholds instead of multi-Otsu")
    parser.add_argument("--min-size", type=int, default=0, metavar="N",
                        help="merge isolated specks smaller than N voxels into their surroundings")


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
    parser.add_argument("--solver", default="pyamg", choices=["pyamg", "direct"],
                        help="in-process linear solver of the pyamg backend (direct: sparse LU, small volumes)")
    parser.add_argument("--backend", default="pyamg", choices=["pyamg", "petsc"],
                        help="pyamg (default, in-process) or petsc: CG + AMG on PETSc, the volume split into "
                             "slabs over the ranks of mpiexec -n N (needs petsc4py and mpi4py)")
    parser.add_argument("--pc", default="auto", choices=["auto", "hypre", "gamg"],
                        help="preconditioner of the petsc backend: hypre BoomerAMG, PETSc GAMG, or hypre where "
                             "available (default)")
    parser.add_argument("--rtol", type=float, default=1e-6,
                        help="relative residual tolerance of CG (default 1e-6: sigma_eff to ~1e-8)")
    parser.add_argument("--json", metavar="PATH|-", help="write the JSON report to PATH, or to stdout with -")
    parser.add_argument("--force", action="store_true", help="overwrite existing output files")
    parser.add_argument("--allow-nonpercolating", action="store_true",
                        help="exit 0 even when a phase has no spanning path")
    parser.add_argument("--no-morphology", action="store_true",
                        help="skip the morphology (areas, connectivity, local thickness) in the report")


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

    gen = sub.add_parser("generate", parents=[quiet], help="write a random composite-cathode volume (labelled TIFF)")
    gen.add_argument("--shape", required=True, help="voxels along axes 0,1,2, e.g. 128,128,128")
    gen.add_argument("--voxel-size", required=True, help="isotropic voxel edge with unit, e.g. 0.5um")
    gen.add_argument("--fractions", required=True, action="append", metavar="PHASE=F,...",
                     help="target volume fractions, e.g. CAM=0.75,LLZO=0.25 (phases not named are pore)")
    gen.add_argument("--radius", required=True, action="append", metavar="PHASE=LENGTH,...|LENGTH",
                     help="particle radius per phase, e.g. CAM=3um,LLZO=1.5um, or one length for all")
    gen.add_argument("--spread", action="append", default=[], metavar="PHASE=S,...",
                     help="log-normal sizes: standard deviation of ln(d), e.g. CAM=0.3 (--radius is the median)")
    gen.add_argument("--packing", choices=["overlapping", "sintered"], default="overlapping",
                     help="overlapping spheres (Boolean model, fast) or sintered (random sequential addition "
                          "with contact necks, gaps filled by growth)")
    gen.add_argument("--overlap", type=float, default=0.2,
                     help="sintered: allowed interpenetration as a share of the sum of radii (default 0.2)")
    gen.add_argument("--matrix", help="overlapping: the phase that fills the space between the spheres")
    gen.add_argument("--gradient", metavar="PHASE=F_IN:...:F_OUT",
                     help="fraction of a phase from the inlet to the outlet face of axis 0, e.g. CAM=0.67:0.33")
    gen.add_argument("--gradient-mode", choices=["linear", "layers"], default="linear",
                     help="linear between the values, or one uniform layer per value")
    gen.add_argument("--separator", help="dense LLZO slab at the inlet face of axis 0, e.g. 10um")
    gen.add_argument("--grain-size", help="split LLZO into Voronoi grains of this mean diameter, e.g. 2um")
    gen.add_argument("--periodic", action="store_true", help="particles wrap around the box faces")
    gen.add_argument("--seed", type=int, help="random seed (default: a fresh one, printed)")
    gen.add_argument("-o", "--output", required=True, help="output labelled volume (.tif or .npz)")
    gen.add_argument("--force", action="store_true", help="overwrite an existing output file")
    gen.add_argument("--uncompressed", action="store_true",
                     help="uncompressed TIFF: memory-mapped when read, each MPI rank of --backend petsc reads its slab")

    seg = sub.add_parser("segment", parents=[quiet], help="segment a grey-value stack into named phases")
    seg.add_argument("input", help="grey-value stack: .tif/.tiff, a folder of 2-D slices, .npy or .npz")
    _add_segment_options(seg, required=True)
    _add_import_options(seg)
    seg.add_argument("-o", "--output", required=True, help="labelled TIFF (or .npz) to write")
    seg.add_argument("--force", action="store_true", help="overwrite an existing output file")
    seg.add_argument("--uncompressed", action="store_true",
                     help="uncompressed TIFF: memory-mapped when read, each MPI rank of --backend petsc reads its slab")

    run = sub.add_parser("run", parents=[quiet],
                         help="the whole pipeline: import, segment, morphology, transport, report, ParaView")
    run.add_argument("input", help="grey-value or labelled stack: .tif/.tiff, slice folder, .npy or .npz")
    _add_segment_options(run, required=False)
    _add_import_options(run)
    run.add_argument("--phases", help="label table of a labelled input, e.g. 0=pore,1=CAM,2=LLZO")
    run.add_argument("--vti", help="write phases, potentials and current densities as ParaView .vti")
    run.add_argument("--png", help="write a PNG of the middle slice (phases and a potential)")
    run.add_argument("--rct", help="also compute the cathode ASR with this charge-transfer resistance "
                                   "(e.g. 150ohmcm2; needs --sigma for LLZO and CAM; separator = first face of axis 0)")
    run.add_argument("--rsp", default="0ohmcm2", help="resistive interphase for --rct (default 0)")
    _add_transport_options(run)

    asr = sub.add_parser("asr", parents=[quiet],
                         help="microstructure-resolved cathode ASR: ions in the SE, electrons in the CAM, "
                              "charge transfer at every CAM|SE face")
    asr.add_argument("input", help="labelled volume: .tif/.tiff, slice folder, .npy or .npz")
    asr.add_argument("--voxel-size", help="voxel size with unit, e.g. 1um (overrides the file's)")
    asr.add_argument("--phases", help="label table, e.g. 0=pore,1=CAM,2=LLZO")
    asr.add_argument("--sigma", action="append", default=[], metavar="SE=VALUE,CAM=VALUE",
                     help="conductivities with units, e.g. LLZO=8e-4S/cm,CAM=4.54e-2S/cm")
    asr.add_argument("--se", default="LLZO", help="electrolyte phase name (default LLZO)")
    asr.add_argument("--cam", default="CAM", help="active-material phase name (default CAM)")
    asr.add_argument("--rct", required=True, help="charge-transfer resistance, e.g. 150ohmcm2")
    asr.add_argument("--rsp", default="0ohmcm2", help="resistive interphase in series, e.g. 2600ohmcm2")
    asr.add_argument("--current", help="solve Butler-Volmer at this current density (e.g. 10mA/cm2) "
                                       "instead of the linearised kinetics")
    asr.add_argument("--thickness-axis", type=int, default=0,
                     help="axis from the separator (first face) to the current collector (last face)")
    asr.add_argument("--no-compare", action="store_true",
                     help="skip the homogenised (reduced-P2D) comparison and the electrode tortuosity")
    asr.add_argument("--vti", help="write potentials, current densities and reaction currents as .vti")
    asr.add_argument("--png", help="write a PNG of the reaction current on the middle slice")
    asr.add_argument("--json", metavar="PATH|-", help="write the JSON result to PATH, or to stdout with -")
    asr.add_argument("--force", action="store_true", help="overwrite existing output files")

    cell = sub.add_parser("cell", parents=[quiet], help="energy of a Li | LLZO | composite-cathode cell (reduced P2D)")
    cell.add_argument("--set", default="improved",
                      help="parameter set: improved, state_of_the_art, or a JSON file like data/parameters/*.json")
    cell.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                      help="override a parameter, with a unit where it has one, e.g. R_CT=150ohmcm2, "
                           "sigma_SE=1e-2S/cm, D_CAM=2.5e-11cm2/s, d50_CAM=0.1um, beta_tort=1.5 (repeatable)")
    cell.add_argument("--thickness", help="cathode thickness, e.g. 50um (default: the set's, 50 um)")
    cell.add_argument("--current", default="1mA/cm2", help="discharge current density, e.g. 1mA/cm2")
    cell.add_argument("--protocol", choices=["discharge", "charge-discharge"], default="discharge",
                      help="discharge from the charged rested state, or charge from the as-built state first")
    cell.add_argument("--theoretical", action="store_true",
                      help="theoretical figures only (full capacity at the nominal voltage, no simulation)")
    cell.add_argument("--report", help="JSON report of microsim analyze: sigma_eff, kappa_eff, a and fractions")
    cell.add_argument("--axis", type=int, default=0, help="thickness axis of the analysed volume (default 0)")
    cell.add_argument("--beta", type=float, help="total Bruggeman exponent of the SE (beta_tort; beta_GB = 0)")
    cell.add_argument("--sigma-eff", help="effective ionic conductivity of the cathode, e.g. 1e-4S/cm")
    cell.add_argument("--kappa-eff", help="effective electronic conductivity of the cathode, e.g. 2.3e-3S/cm")
    cell.add_argument("--li-excess", type=float, default=0.0,
                      help="Li metal on the anode, multiple of the cathode capacity (default 0: anode-free)")
    cell.add_argument("--current-collectors", action="store_true", help="count Al and Cu foils in mass and volume")
    cell.add_argument("--curve", help="write the voltage curve as CSV to this path")
    cell.add_argument("--profiles", help="write x-profiles (phi_e, reaction current, lithiation) per step as CSV")
    cell.add_argument("--json", metavar="PATH|-", help="write the JSON result to PATH, or to stdout with -")
    cell.add_argument("--force", action="store_true", help="overwrite existing output files")

    study = sub.add_parser("cell-study", parents=[quiet],
                           help="Fig. 9-style studies: sensitivity, development path, Ragone (CSV + PNG)")
    study.add_argument("study", choices=["sensitivity", "path", "ragone", "all"])
    study.add_argument("--out", default="microsim-cell-study", help="output folder")
    study.add_argument("--protocol", choices=["discharge", "charge-discharge"], default="discharge")
    study.add_argument("--no-plot", action="store_true", help="CSV only")
    study.add_argument("--force", action="store_true", help="overwrite existing output files")

    design = sub.add_parser("study", parents=[quiet],
                            help="virtual design study from a TOML/JSON file: one CSV row per (point, seed), resumable")
    design.add_argument("file", metavar="STUDY.toml", help="study file (see examples/cam_fraction.toml)")
    design.add_argument("-o", "--output", required=True, metavar="RESULTS.csv",
                        help="results table; an existing one of the same study is resumed (only missing rows run)")
    design.add_argument("--workers", type=int, help="local worker processes (default: every core)")
    design.add_argument("--scheduler", metavar="ADDRESS",
                        help="run on a Dask distributed cluster, e.g. tcp://10.0.0.1:8786 (pip install 'microsim[dask]')")
    design.add_argument("--retry-failed", action="store_true",
                        help="run the table's failed rows again (by default a failed row is a finished one)")
    design.add_argument("--no-plots", action="store_true", help="skip the PNG plots (CSV only)")
    design.add_argument("--force", action="store_true", help="start the table over and overwrite its summary and plots")

    rev = sub.add_parser("rev", parents=[quiet],
                         help="representative volume: sigma_eff/sigma0 and tau of a phase against sub-volume size")
    rev.add_argument("input", help="labelled volume (.tif/.tiff, .npy, .npz)")
    rev.add_argument("--phase", required=True, help="the conducting phase, e.g. LLZO")
    rev.add_argument("--voxel-size", help="voxel size with unit, e.g. 0.4um (needed if the file has none)")
    rev.add_argument("--phases", help="label table, e.g. 0=pore,1=CAM,2=LLZO")
    rev.add_argument("--axis", type=int, default=0, choices=[0, 1, 2], help="transport axis (default 0)")
    rev.add_argument("--sizes", help="sub-volume edges in voxels, e.g. 16,24,32,48 (default: 5 sizes up to the box)")
    rev.add_argument("--samples", type=int, default=4, help="random sub-volumes per size (default 4)")
    rev.add_argument("--tolerance", type=float, default=0.05,
                     help="relative tolerance of the settled size (mean vs whole volume, and spread; default 0.05)")
    rev.add_argument("--seed", type=int, default=0, help="seed of the sub-volume positions")
    rev.add_argument("--csv", help="write one row per size to this CSV")
    rev.add_argument("--json", metavar="PATH|-", help="write the JSON result to PATH, or to stdout with -")
    rev.add_argument("--force", action="store_true", help="overwrite existing output files")

    demo = sub.add_parser("demo", parents=[quiet], help="run the pipeline on the bundled real CT crop")
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


def _stage(name: str, started: float) -> None:
    log.info("%s done in %.2f s", name, time.perf_counter() - started)


def run_analysis(micro: Microstructure, args, *, source: str, extra: dict | None = None) -> int:
    """Solve every job of ``args`` on ``micro``, print the table, write the JSON report
    (and the ``.vti`` fields and PNG slice when ``args`` asks for them)."""
    from microsim.morphology import measure_morphology
    from microsim.report import analysis_report, morphology_table, report_json, transport_table, write_report
    from microsim.transport import solve_transport
    from microsim.transport.effective import _check_axes

    vti, png = getattr(args, "vti", None), getattr(args, "png", None)
    for path in (args.json, vti, png):
        if path and path != "-" and Path(path).exists() and not args.force:
            raise InvalidInputError(f"{path} exists already; pass --force to overwrite it")
    jobs = _transport_jobs(micro, args)
    solver, rank = _solver(args), 0
    if args.backend == "pyamg":  # a volume too large is refused now, not after the morphology
        from microsim.transport.effective import check_fits

        for job in jobs:
            check_fits(micro, job)
    if args.backend == "petsc":
        from microsim.transport.distributed import mpi_ranks

        rank, ranks = mpi_ranks()
        log.info("petsc backend on %d MPI rank(s), preconditioner %s", ranks, args.pc)
    options = dict(
        axes=_axes(args.axis),
        periodic=args.periodic,
        grain_boundary_resistance=dict(_name_value(s, "--gb-resistance", parse_area_resistance)
                                       for s in args.gb_resistance),
        interface_resistance=_interface_resistances(args.interface_resistance),
        solver=solver,
        rtol=args.rtol,
    )
    morphology = None
    if not args.no_morphology and rank == 0:  # the whole volume: measured once, by rank 0
        log.info("measuring the morphology")
        started = time.perf_counter()
        morphology = measure_morphology(micro)
        _stage("morphology", started)
    results = []
    with contextlib.ExitStack() as stack, warnings.catch_warnings():
        warnings.simplefilter("ignore", PercolationWarning)
        fields = None
        if vti and rank == 0:  # streamed: each solve's fields go to the file (a spill beside it), then are dropped
            from microsim.io import VtiWriter

            fields = stack.enter_context(VtiWriter(vti, micro, force=args.force))
        for job in jobs:
            log.info("solving %s", "+".join(job))
            started = time.perf_counter()
            if not (vti or png):
                results.extend(solve_transport(micro, job, **options))
            else:  # one axis at a time, so that one solve's fields are in memory at once
                for axis in _check_axes(options["axes"]):
                    (result,) = solve_transport(micro, job, return_fields=True, **{**options, "axes": axis})
                    if fields is not None:
                        fields.add_result(result)
                    png_slice = png and result.percolating and not any(r.fields for r in results)
                    results.append(result if png_slice else dataclasses.replace(result, fields=None))
            _stage("transport of " + "+".join(job), started)
        if fields is not None:
            started = time.perf_counter()
            fields.close()
            stack.pop_all()
            _stage(f"ParaView fields written to {vti};", started)

    settings = {
        "conductivities_S_per_m": jobs,
        "axes": list(options["axes"]) if options["axes"] != "all" else [0, 1, 2],
        "periodic": args.periodic,
        "grain_boundary_resistance_ohm_m2": options["grain_boundary_resistance"],
        "interface_resistance_ohm_m2": {f"{a}/{b}": r for (a, b), r in options["interface_resistance"].items()},
        "solver": args.solver if args.backend == "pyamg" else f"petsc ({solver.resolved_preconditioner()})",
        "rtol": args.rtol,
        "command": "microsim " + " ".join(sys.argv[1:]) if sys.argv else "",
    }
    report = analysis_report(micro, results, source=source, settings=settings, morphology=morphology)
    report.update(extra or {})
    if rank != 0:  # the other ranks shared the solves; rank 0 alone prints and writes
        return _exit_status(results, args, quiet=True)
    to_stdout = args.json == "-"
    table = transport_table(results) if morphology is None else morphology_table(morphology) + "\n\n" + transport_table(results)
    print(table, file=sys.stderr if to_stdout else sys.stdout)
    if to_stdout:
        sys.stdout.write(report_json(report))
    elif args.json:
        write_report(report, args.json, force=args.force)
        log.info("report written to %s", args.json)
    if png:
        from microsim.io import write_slice_png

        write_slice_png(png, micro, results, force=args.force)
        log.info("mid-slice snapshot written to %s", png)

    return _exit_status(results, args)


def _exit_status(results, args, *, quiet: bool = False) -> int:
    """1 when a phase does not span and --allow-nonpercolating is not given (with a line saying so), else 0."""
    blocked = [r for r in results if not r.percolating]
    if blocked and not args.allow_nonpercolating:
        which = ", ".join(f"{r.phase} along axis {r.axis}" for r in blocked)
        if not quiet:
            print(f"microsim: no spanning path for {which}: sigma_eff = 0, tau = inf "
                  "(report written; --allow-nonpercolating exits 0)", file=sys.stderr)
        return 1
    return 0


def _solver(args):
    """The solver of --backend/--solver/--pc (the petsc backend is loaded here: a missing one fails first)."""
    if args.backend == "pyamg":
        if args.pc != "auto":
            raise InvalidInputError("--pc chooses the preconditioner of --backend petsc")
        return args.solver
    if args.solver != "pyamg":
        raise InvalidInputError(f"--solver {args.solver} is a solver of the pyamg backend; drop it with --backend petsc")
    from microsim.transport.distributed import PETScSolver, load_petsc

    load_petsc()
    return PETScSolver(preconditioner=args.pc)


def _analyze(args) -> int:
    voxel_size = parse_voxel_size(args.voxel_size) if args.voxel_size else None
    phases = _phase_table(args.phases) if args.phases else None
    log.info("reading %s", args.input)
    micro = load_microstructure(args.input, voxel_size=voxel_size, phases=phases)
    log.info("%s voxels, voxel size %s m, phases %s", "x".join(map(str, micro.shape)), micro.voxel_size,
             dict(micro.phases))
    return run_analysis(micro, args, source=str(args.input))


def _name_values(items: Sequence[str], option: str, parse) -> dict[str, float]:
    pairs = (_name_value(part, option, parse) for item in items for part in item.split(",") if part.strip())
    return dict(pairs)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InvalidInputError(f"expected a number, got {text!r}") from None


def _generate(args) -> int:
    import numpy as np

    from microsim.generate import Gradient, LogNormal, generate

    if Path(args.output).exists() and not args.force:
        raise InvalidInputError(f"{args.output} exists already; pass --force to overwrite it")
    try:
        shape = tuple(int(n) for n in args.shape.split(","))
    except ValueError:
        raise InvalidInputError(f"--shape expects three integers like 128,128,128, got {args.shape!r}") from None
    voxel = parse_voxel_size(args.voxel_size)
    fractions = _name_values(args.fractions, "--fractions", _number)
    if len(args.radius) == 1 and "=" not in args.radius[0]:
        radius = parse_length(args.radius[0])
        radius = {name: radius for name in ("pore", "CAM", "LLZO")}
    else:
        radius = _name_values(args.radius, "--radius", parse_length)
    for name, spread in _name_values(args.spread, "--spread", _number).items():
        if name not in radius:
            raise InvalidInputError(f"--spread names {name}, which has no --radius")
        radius[name] = LogNormal(2 * radius[name], spread)
    gradient = None
    if args.gradient:
        name, sep, values = args.gradient.partition("=")
        if not sep or not values:
            raise InvalidInputError(f"--gradient expects PHASE=F_IN:F_OUT, got {args.gradient!r}")
        gradient = Gradient(name.strip(), tuple(_number(v) for v in values.split(":")), mode=args.gradient_mode)
    seed = args.seed if args.seed is not None else int(np.random.SeedSequence().entropy % 2**32)
    log.info("generating %s voxels of %.3g m, seed %d", "x".join(map(str, shape)), voxel[0], seed)
    micro = generate(
        shape, fractions, radius, voxel_size=voxel, packing=args.packing, overlap=args.overlap, matrix=args.matrix,
        gradient=gradient, separator=parse_length(args.separator) if args.separator else 0.0,
        grain_size=parse_length(args.grain_size) if args.grain_size else None, periodic=args.periodic, seed=seed,
    )
    save_microstructure(micro, args.output, force=args.force, compress=not args.uncompressed)
    achieved = ", ".join(f"{name} {f:.4f}" for name, f in micro.volume_fractions().items())
    grains = f", {int(micro.grains.max())} LLZO grains" if micro.grains is not None else ""
    print(f"wrote {args.output}: {'x'.join(map(str, micro.shape))} voxels, volume fractions {achieved}{grains}, "
          f"seed {seed}")
    return 0


def _asr(args) -> int:
    from microsim.report import report_json, software_versions, write_report
    from microsim.transport.electrochem import cathode_asr, electrode_tortuosity_factor, homogenised_comparison

    for path in (args.json, args.vti, args.png):
        if path and path != "-" and Path(path).exists() and not args.force:
            raise InvalidInputError(f"{path} exists already; pass --force to overwrite it")
    voxel_size = parse_voxel_size(args.voxel_size) if args.voxel_size else None
    phases = _phase_table(args.phases) if args.phases else None
    micro = load_microstructure(args.input, voxel_size=voxel_size, phases=phases)
    sigma = _name_values(args.sigma, "--sigma", parse_conductivity)
    missing = [p for p in (args.se, args.cam) if p not in sigma]
    if missing:
        raise InvalidInputError(f"--sigma needs a conductivity for {' and '.join(missing)}, e.g. "
                                f"--sigma {args.se}=8e-4S/cm,{args.cam}=4.54e-2S/cm")
    r_ct, r_sp = parse_area_resistance(args.rct), parse_area_resistance(args.rsp)
    current = parse_current_density(args.current) if args.current else None
    axis = args.thickness_axis
    started = time.perf_counter()
    result = cathode_asr(micro, sigma[args.se], sigma[args.cam], r_ct, r_sp, se=args.se, cam=args.cam, axis=axis,
                         current_density=current, return_fields=bool(args.vti or args.png))
    _stage("cathode ASR", started)
    out = {"input": str(args.input), **result.to_dict()}
    if result.connected and not args.no_compare:
        started = time.perf_counter()
        out["homogenised"] = homogenised_comparison(micro, sigma[args.se], sigma[args.cam], r_ct, r_sp, se=args.se,
                                                    cam=args.cam, axis=axis)
        through = _through_tortuosity(micro, args.se, axis)
        try:
            out["electrode_tortuosity_factor"] = electrode_tortuosity_factor(micro, se=args.se, cam=args.cam,
                                                                             axis=axis)
        except InvalidInputError:
            out["electrode_tortuosity_factor"] = None
        out["tortuosity_factor"] = through
        _stage("homogenised comparison and electrode tortuosity", started)
    out["settings"] = {"sigma_S_per_m": sigma, "R_CT_ohm_m2": r_ct, "R_SP_ohm_m2": r_sp,
                       "phases": dict(micro.phases), "voxel_size_m": list(micro.voxel_size), "shape": list(micro.shape)}
    out["software"] = software_versions()
    stream = sys.stderr if args.json == "-" else sys.stdout
    if result.connected:
        print(f"cathode ASR {out['asr_ohm_cm2']:.4g} ohm cm2 = ionic {out['asr_ionic_ohm_cm2']:.4g} + electronic "
              f"{out['asr_electronic_ohm_cm2']:.4g} + interface {out['asr_interface_ohm_cm2']:.4g}; active CAM "
              f"{result.active_cam_fraction:.3f}", file=stream)
        if "homogenised" in out and out["homogenised"]["homogenised_asr_ohm_cm2"] is not None:
            h = out["homogenised"]
            print(f"homogenised (reduced P2D, same sigma_eff, kappa_eff, a): {h['homogenised_asr_ohm_cm2']:.4g} ohm cm2 "
                  f"({100 * h['relative_difference']:+.1f} %)", file=stream)
    if args.json == "-":
        sys.stdout.write(report_json(out))
    elif args.json:
        write_report(out, args.json, force=args.force)
    if result.connected and args.vti:
        from microsim.io import write_vti

        write_vti(args.vti, micro, extra={"potential_V": result.fields.potential,
                                          "current_density_A_per_m2": result.fields.current_density,
                                          "reaction_current_A_per_m3": result.reaction_field}, force=args.force)
    if result.connected and args.png:
        from microsim.io import write_slice_png

        write_slice_png(args.png, micro, field=result.reaction_field,
                        field_title="reaction current [A/m³] into CAM", force=args.force)
    if not result.connected:
        print(f"microsim: broken network: {result.note}", file=sys.stderr)
        return 1
    return 0


def _through_tortuosity(micro: Microstructure, phase: str, axis: int) -> float | None:
    from microsim.transport import solve_transport

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PercolationWarning)
        (result,) = solve_transport(micro, {phase: 1.0}, axes=axis)
    return result.tortuosity_factor if result.percolating else None


def _cell_parameters(args):
    from microsim.cell import get_parameter_set, parameters_from_report
    from microsim.cell.parameters import parse_parameter

    params = get_parameter_set(args.set)
    values = {}
    for item in args.param:
        name, value = _name_value(item, "--param", str)
        values[name] = parse_parameter(name, value)
    if args.thickness:
        values["L_cat"] = parse_length(args.thickness)
    if args.beta is not None:
        values.update(beta_tort=args.beta, beta_GB=0.0)
    if args.sigma_eff:
        values["sigma_eff"] = parse_conductivity(args.sigma_eff)
    if args.kappa_eff:
        values["kappa_eff"] = parse_conductivity(args.kappa_eff)
    values.update(li_excess=args.li_excess, current_collectors=args.current_collectors)
    params = params.with_values(**values)
    if args.report:
        params = parameters_from_report(args.report, params, axis=args.axis)
    return params.with_values(name=args.set)


def _cell(args) -> int:
    from microsim.cell import simulate, theoretical_energy
    from microsim.report import report_json, software_versions, write_report

    for path in (args.json, args.curve, args.profiles):
        if path and path != "-" and Path(path).exists() and not args.force:
            raise InvalidInputError(f"{path} exists already; pass --force to overwrite it")
    params = _cell_parameters(args)
    current = parse_current_density(args.current)
    if args.theoretical:
        theory = theoretical_energy(params)
        out = {
            "mode": "theoretical",
            "specific_energy_Wh_per_kg": theory.specific_energy_Wh_per_kg,
            "energy_density_Wh_per_L": theory.energy_density_Wh_per_L,
            "utilisation": 1.0,
            "capacity_mAh_per_cm2": theory.capacity_C_per_m2 / 36000.0,
            **theory.to_dict(),
            "parameters": params.to_dict(),
        }
        result = None
    else:
        log.info("simulating %s at %.3g mA/cm2, %s um (%s)", args.protocol, current / 10, round(params.L_cat * 1e6, 6), args.set)
        result = simulate(params, current, protocol=args.protocol, profiles=bool(args.profiles))
        out = {"mode": "simulated", **result.to_dict()}
    out["software"] = software_versions()
    out["command"] = "microsim " + " ".join(sys.argv[1:]) if sys.argv else ""
    summary = (f"{out['specific_energy_Wh_per_kg']:.1f} Wh/kg, {out['energy_density_Wh_per_L']:.0f} Wh/L, "
               f"utilisation {out['utilisation']:.3f}, {out['capacity_mAh_per_cm2']:.3f} mAh/cm2 "
               f"(theoretical {out['theoretical_specific_energy_Wh_per_kg']:.1f} Wh/kg; {out['mass_accounting']})")
    print(summary, file=sys.stderr if args.json == "-" else sys.stdout)
    if result is not None:
        losses = ", ".join(f"{k} {v:.1f}" for k, v in out["overpotentials_mV"].items() if k != "open_circuit")
        print(f"mean overpotentials [mV]: {losses}", file=sys.stderr if args.json == "-" else sys.stdout)
        if result.note:
            print(f"microsim: {result.note}", file=sys.stderr)
    if args.json == "-":
        sys.stdout.write(report_json(out))
    elif args.json:
        write_report(out, args.json, force=args.force)
    if args.curve and result is not None:
        from microsim.io import write_csv

        rows = [{"time_s": t, "capacity_mAh_per_cm2": q / 36000.0, "voltage_V": v}
                for t, q, v in zip(result.time, result.capacity, result.voltage)]
        write_csv(rows, args.curve, force=args.force)
    if args.profiles and result is not None and result.profiles is not None:
        from microsim.io import write_csv

        prof = result.profiles
        rows = [{"time_s": t, "x_um": x * 1e6, "phi_e_V": pe, "reaction_current_A_per_m2": j, "lithiation": th}
                for k, t in enumerate(prof["time"])
                for x, pe, j, th in zip(prof["x"], prof["phi_e"][k], prof["reaction_current"][k], prof["lithiation"][k])]
        write_csv(rows, args.profiles, force=args.force)
    return 0


def _cell_study(args) -> int:
    from microsim.cell.studies import STUDIES
    from microsim.io import write_csv

    out = Path(args.out)
    names = list(STUDIES) if args.study == "all" else [args.study]
    planned = [out / f"{n}.{ext}" for n in names for ext in (("csv",) if args.no_plot else ("csv", "png"))]
    for path in planned:
        if path.exists() and not args.force:
            raise InvalidInputError(f"{path} exists already; pass --force to overwrite it")
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        run, plot = STUDIES[name]
        log.info("study %s (%s)", name, args.protocol)
        def progress(done: int, total: int) -> None:
            if done == total or done % max(1, total // 4) == 0:
                log.info("  %s: %d of %d cells simulated", name, done, total)

        rows = run(protocol=args.protocol, progress=progress)
        write_csv(rows, out / f"{name}.csv", force=args.force)
        if not args.no_plot:
            plot(rows, out / f"{name}.png", force=args.force)
        print(f"wrote {out / name}.csv" + ("" if args.no_plot else f" and {name}.png"))
    return 0


def _read_input(args):
    from microsim.io import parse_crop, read_volume

    crop = parse_crop(args.crop) if args.crop else None
    started = time.perf_counter()
    volume = read_volume(args.input, crop=crop, downsample_by=args.downsample,
                         labels=bool(getattr(args, "phases", None)))
    _stage(f"import of {args.input} ({'x'.join(map(str, volume.data.shape))} voxels, {volume.data.dtype})", started)
    voxel_size = parse_voxel_size(args.voxel_size) if args.voxel_size else volume.voxel_size
    return volume, voxel_size


def _segmentation(volume, args):
    from microsim.segment import segment

    thresholds = [_number(t) for t in args.thresholds.split(",")] if args.thresholds else None
    started = time.perf_counter()
    result = segment(volume.data, args.classes.split(","), denoise_method=args.denoise, thresholds=thresholds,
                     min_size=args.min_size)
    _stage("segmentation (" + ", ".join(f"{k} {v:.3f}" for k, v in result.fractions().items()) + ")", started)
    return result


def _segment(args) -> int:
    from microsim.io import write_labels

    if Path(args.output).exists() and not args.force:
        raise InvalidInputError(f"{args.output} exists already; pass --force to overwrite it")
    volume, voxel_size = _read_input(args)
    if volume.is_labelled:
        raise InvalidInputError(f"{args.input} is already labelled ({', '.join(volume.phases)})")
    result = _segmentation(volume, args)
    write_labels(args.output, result.labels, phases=result.phases, voxel_size=voxel_size, force=args.force,
                 compress=not args.uncompressed)
    fractions = ", ".join(f"{k} {v:.4f}" for k, v in result.fractions().items())
    thresholds = ", ".join(f"{t:.6g}" for t in result.thresholds)
    print(f"wrote {args.output}: labels {result.phases}; volume fractions {fractions}; "
          f"thresholds {thresholds} ({result.method}, denoise {result.denoise})")
    if voxel_size is None:
        log.info("no voxel size known: give --voxel-size when analysing %s", args.output)
    return 0


def _run(args) -> int:
    volume, voxel_size = _read_input(args)
    extra = {}
    if volume.is_labelled or args.phases:
        if args.classes:
            raise InvalidInputError(f"{args.input} is labelled already; drop --classes (or segment a grey stack)")
        labels = volume.data
        phases = _phase_table(args.phases) if args.phases else volume.phases
    elif args.classes:
        result = _segmentation(volume, args)
        labels, phases = result.labels, result.phases
        extra["segmentation"] = result.to_dict()
    else:
        raise InvalidInputError(
            f"{args.input} holds grey values: give --classes (dark to bright, e.g. pore,CBD,NMC) to segment it, "
            "or --phases for a labelled stack"
        )
    if voxel_size is None:
        raise InvalidInputError(f"{args.input} does not store a voxel size; give it with --voxel-size (e.g. 0.4um)")
    micro = Microstructure(labels, voxel_size, phases, volume.grains)
    log.info("%s voxels of %s m, phases %s", "x".join(map(str, micro.shape)), micro.voxel_size, dict(micro.phases))
    if args.rct:
        from microsim.transport.electrochem import cathode_asr

        sigma = dict(_name_value(s, "--sigma", parse_conductivity) for s in args.sigma)
        if not {"LLZO", "CAM"} <= set(sigma):
            raise InvalidInputError("--rct needs --sigma LLZO=... and --sigma CAM=... for the cathode ASR")
        started = time.perf_counter()
        asr = cathode_asr(micro, sigma["LLZO"], sigma["CAM"], parse_area_resistance(args.rct),
                          parse_area_resistance(args.rsp))
        _stage("cathode ASR" + (f" ({asr.asr * 1e4:.4g} ohm cm2)" if asr.connected else f": {asr.note}"), started)
        extra["asr"] = asr.to_dict()
    return run_analysis(micro, args, source=str(args.input), extra=extra)


def _demo_input() -> Path:
    """The bundled CT crop: in the checkout, in the installed share folder, or under ./data."""
    name = DEMO["file"]
    candidates = [
        Path(__file__).resolve().parents[1] / "data" / name,
        Path(sys.prefix) / "share" / "microsim" / "data" / name,
        Path.cwd() / "data" / name,
    ]
    for path in candidates:
        if path.is_file():
            return path
    raise InvalidInputError(f"the demo stack {name} was not found (looked in {', '.join(map(str, candidates))})")


def _demo(args) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stack = _demo_input()
    argv = ["run", str(stack), "--classes", DEMO["classes"], "--voxel-size", DEMO["voxel_size"],
            "--min-size", DEMO["min_size"], "--json", str(out / "demo_report.json"),
            "--vti", str(out / "demo_fields.vti")]
    argv += [f"--sigma={item}" for item in DEMO["sigma"]]
    if args.force:
        argv.append("--force")
    log.info("demo: microsim %s", " ".join(argv))
    return _run(build_parser().parse_args(argv))


def _rev(args) -> int:
    from microsim.io import write_csv
    from microsim.design.rev import representative_volume
    from microsim.report import report_json, write_report

    for path in (args.csv, args.json):
        if path and path != "-" and Path(path).exists() and not args.force:
            raise OutputExistsError(f"{path} exists already; pass --force to overwrite it")
    try:
        sizes = [int(n) for n in args.sizes.split(",")] if args.sizes else None
    except ValueError:
        raise InvalidInputError(f"--sizes expects integers like 16,24,32, got {args.sizes!r}") from None
    voxel_size = parse_voxel_size(args.voxel_size) if args.voxel_size else None
    micro = load_microstructure(args.input, voxel_size=voxel_size,
                                phases=_phase_table(args.phases) if args.phases else None)
    log.info("REV of %s along axis %d in %s (%s voxels)", args.phase, args.axis, args.input,
             "x".join(map(str, micro.shape)))
    result = representative_volume(micro, args.phase, sizes=sizes, axis=args.axis, samples=args.samples,
                                   tolerance=args.tolerance, seed=args.seed,
                                   progress=lambda done, total: log.info("sub-volume %d of %d", done, total))
    print(result.table(), file=sys.stderr if args.json == "-" else sys.stdout)  # stdout: the JSON alone
    if args.csv:
        write_csv(result.rows(), args.csv, force=args.force)
    if args.json:
        record = {"input": str(args.input), **result.to_dict()}
        if args.json == "-":
            sys.stdout.write(report_json(record))
        else:
            write_report(record, args.json, force=args.force)
    return 0


def _study_outputs(table: Path) -> dict[str, Path]:
    stem = table.with_suffix("")
    return {"summary": Path(f"{stem}.summary.csv"), "energy": Path(f"{stem}.energy.png"),
            "bruggeman": Path(f"{stem}.bruggeman.png")}


def _study(args) -> int:
    from microsim.io import write_csv
    from microsim.design import StudyInterrupted, load_study, run_study
    from microsim.design.analysis import plot_bruggeman, plot_energy, summarise, summary_table
    from microsim.design.runner import input_columns, progress_log, read_table
    from microsim.design.study import lookup

    study = load_study(args.file)
    table = Path(args.output)
    outputs = _study_outputs(table)
    if not table.exists() and not args.force:  # derived files of another table: keep them
        for path in outputs.values():
            if path.exists():
                raise OutputExistsError(f"{path} exists already; pass --force to overwrite it")
    tasks = len(study.tasks())
    log.info("study %s (%s): %d points x %d seeds = %d rows -> %s", study.name, study.id(),
             len(study.design_points()), len(study.seeds), tasks, table)
    try:
        run = run_study(study, table, workers=args.workers, scheduler=args.scheduler, force=args.force,
                        retry_failed=args.retry_failed, progress=progress_log())
    except StudyInterrupted as exc:
        print(f"microsim: {exc}", file=sys.stderr)
        return 130
    rows = read_table(table)
    inputs = [lookup(name).column for name in study.swept]
    summary = summarise(rows, input_columns(study))
    write_csv(summary, outputs["summary"], force=True)
    print(summary_table(summary, inputs))
    written = [table, outputs["summary"]]
    ok_rows = [r for r in rows if r["status"] == "ok"]
    if not args.no_plots and ok_rows:
        written.append(plot_energy(summary, study.swept or ["cam_fraction"], outputs["energy"], force=True))
        path, fitted = plot_bruggeman(ok_rows, outputs["bruggeman"], force=True)
        written.append(path)
        print("Bruggeman fit over every seed and axis: "
              + ", ".join(f"{phase} beta = {beta:.2f}" for phase, beta in fitted.items()))
    log.info("%d rows run (%d ok, %d failed), %d already there, %.1f s; wrote %s", run.ok + run.failed, run.ok,
             run.failed, run.skipped, run.seconds, ", ".join(map(str, written)))
    failed = sum(r["status"] != "ok" for r in rows)
    if failed:
        log.warning("%d of %d rows failed: see their error column", failed, len(rows))
    return 1 if rows and failed == len(rows) else 0


def _error(message: str, quiet_rank: bool, *, shared: bool) -> None:
    """Print the one error line. Under MPI an error every rank shares is printed by rank 0
    alone; one rank's own error is printed with its rank, and the job is aborted so that no
    rank waits for it."""
    from microsim.transport.distributed import abort_other_ranks, mpi_ranks

    rank, size = mpi_ranks()
    if size > 1 and not shared:
        print(f"microsim: error: rank {rank}: {message}", file=sys.stderr)
        abort_other_ranks()
    if not quiet_rank:
        print(f"microsim: error: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``microsim`` command; return the exit status."""
    from microsim.transport.distributed import launched_rank

    quiet_rank = launched_rank() != 0  # under mpiexec every rank runs this; rank 0 speaks for them
    try:
        args = build_parser().parse_args(argv)
    except MicrosimError as exc:
        _error(str(exc), quiet_rank, shared=True)
        return 1
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("microsim: %(message)s"))
    package_log = logging.getLogger("microsim")
    package_log.handlers[:] = [handler]
    package_log.setLevel(logging.ERROR if quiet_rank else logging.WARNING if args.quiet else logging.INFO)
    package_log.propagate = False
    try:
        handlers = {"analyze": _analyze, "generate": _generate, "segment": _segment, "run": _run, "asr": _asr,
                    "cell": _cell, "cell-study": _cell_study, "study": _study, "rev": _rev, "demo": _demo}
        return handlers[args.command](args)
    except MicrosimError as exc:
        # bad input is met alike by every rank; other errors (a file, memory) may be one rank's own
        _error(str(exc), quiet_rank, shared=getattr(exc, "shared_by_ranks", False) or isinstance(exc, InvalidInputError))
        return 1
    except MemoryError:
        _error("out of memory; crop or downsample the volume, or spread it over machines with --backend petsc",
               quiet_rank, shared=False)
        return 1
    except KeyboardInterrupt:
        print("microsim: interrupted", file=sys.stderr)
        return 130
    finally:
        package_log.removeHandler(handler)


if __name__ == "__main__":
    sys.exit(main())
