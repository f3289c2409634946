"""The ``microsim`` command: it parses, calls the library, prints.

Every value is parsed once, here, by argparse ``type=`` functions built on
:mod:`microsim.units`, so the handlers get SI numbers and checked tables; the work is
done by :mod:`microsim.pipeline` (``run``, ``analyze``, ``asr``, ``cell``, ``demo``)
and the design and cell-study modules. Every user error ends in one line on stderr
and exit status 1; never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from microsim import units
from microsim.errors import InvalidInputError, MicrosimError, MicrosimWarning

log = logging.getLogger("microsim")

#: the largest voxel edge and conductivity microsim takes (a value past them is a typo)
VOXEL_RANGE_M = (1e-10, 1e-2)
CONDUCTIVITY_RANGE_S_PER_M = (1e-20, 1e10)


class UsageError(InvalidInputError):
    """A command line that argparse cannot parse."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line and exit 1, like every other user error
        raise UsageError(f"{self.prog}: {message} (see --help)")


# -- argparse types: text -> checked SI value ------------------------------------------
def _type(parse: Callable[[str], object], name: str) -> Callable[[str], object]:
    """An argparse type whose error message is the parser's own line."""
    def convert(text: str):
        try:
            return parse(text)
        except MicrosimError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    convert.__name__ = name
    return convert


def _in_range(value: float, bounds: tuple[float, float], what: str, text: str, unit: str) -> float:
    lo, hi = bounds
    if value != 0 and not lo <= value <= hi:
        raise InvalidInputError(f"{what} {text!r} is outside the range microsim takes ({lo:g} to {hi:g} {unit})")
    return value


def _temperature(text: str) -> float:
    """A temperature with its unit (80C, 80°C, 353.15K) in K, within the range the cell model takes."""
    from microsim.cell.parameters import TEMPERATURE_RANGE_K, celsius

    kelvin = units.parse_temperature(text)
    lo, hi = TEMPERATURE_RANGE_K
    if not lo <= kelvin <= hi:
        raise InvalidInputError(f"temperature {text!r} ({kelvin:g} K) is outside the range the cell model takes: "
                                f"{lo:g} to {hi:g} K ({celsius(lo):g} to {celsius(hi):g} °C)")
    return kelvin


def _temperatures(text: str) -> tuple[float, ...]:
    values = tuple(_temperature(t) for t in str(text).split(","))
    if len(set(values)) != len(values):
        raise InvalidInputError(f"temperatures must differ, got {text!r}")
    return values


def _voxel_size(text: str) -> tuple[float, float, float]:
    sizes = units.parse_voxel_size(text)
    for s in sizes:
        _in_range(s, VOXEL_RANGE_M, "voxel size", text, "m")
    return sizes


def _conductivity(text: str) -> float:
    return _in_range(units.parse_conductivity(text), CONDUCTIVITY_RANGE_S_PER_M, "conductivity", text, "S/m")


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InvalidInputError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise InvalidInputError(f"expected a finite number, got {text!r}")
    return value


def _integer(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise InvalidInputError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise InvalidInputError(f"expected an integer >= {minimum}, got {text!r}")
        return value
    return _type(parse, f"integer >= {minimum}")


def _grid(text: str):
    from microsim.cell import Grid

    parts = text.split(",")
    try:
        counts = [int(v) for v in parts]
    except ValueError:
        counts = []
    if len(counts) != 3 or min(counts) < 1:
        raise InvalidInputError(f"expected three integers >= 1 as n_x,n_r,n_t, got {text!r}")
    return Grid(*counts, stretch=None, x_fine=None)


def _unit_interval(text: str) -> float:
    value = _number(text)
    if not 0 < value < 1:
        raise InvalidInputError(f"expected a number in (0, 1), got {text!r}")
    return value


def _axes(text: str):
    if text == "all":
        return "all"
    if text in ("0", "1", "2"):
        return int(text)
    raise InvalidInputError(f"the axis must be 0, 1, 2 or all, got {text!r}")


def _phase_table(text: str) -> dict[str, int]:
    table: dict[str, int] = {}
    for item in text.split(","):
        label, sep, name = item.partition("=")
        label, name = label.strip(), name.strip()
        if not sep or not label.isdigit() or not name:
            raise InvalidInputError(f"--phases expects LABEL=NAME pairs like 0=pore,1=CAM,2=LLZO, got {text!r}")
        if name in table:
            raise InvalidInputError(f"--phases names {name} twice (labels {table[name]} and {label})")
        if int(label) in table.values():
            raise InvalidInputError(f"--phases gives label {label} twice")
        table[name] = int(label)
    return table


def _crop(text: str):
    from microsim.reading import check_crop, parse_crop

    return check_crop(parse_crop(text))


def _thresholds(text: str) -> tuple[float, ...]:
    return tuple(_number(t) for t in text.split(","))


def _classes(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(","))
    if len(names) < 2 or not all(names):
        raise InvalidInputError(f"--classes expects two or more names, dark to bright, e.g. pore,CBD,NMC; got {text!r}")
    if len(set(names)) != len(names):
        raise InvalidInputError(f"--classes names a class twice: {text!r}")
    return names


def _split_pairs(text: str, parse: Callable[[str], object], option: str) -> list[tuple[str, object]]:
    """NAME=VALUE[,NAME=VALUE...] -> [(name, value)]."""
    out = []
    for part in text.split(","):
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            raise InvalidInputError(f"{option} expects NAME=VALUE, got {text!r}")
        out.append((name.strip(), parse(value.strip())))
    return out


def _pairs(parse: Callable[[str], object], option: str) -> Callable[[str], list[tuple[str, object]]]:
    """The argparse type of NAME=VALUE lists; merged (duplicates refused) by _Merge."""
    return _type(lambda text: _split_pairs(text, parse, option), option)


class _Merge(argparse.Action):
    """Collect NAME=VALUE pairs of a repeatable option into one dict; a name given twice is an error."""

    def __call__(self, parser, namespace, values, option_string=None):
        table = dict(getattr(namespace, self.dest) or {})
        for name, value in values:
            if name in table:
                parser.error(f"{option_string} gives {name} twice")
            table[name] = value
        setattr(namespace, self.dest, table)


def _merged(parser, *flags, parse, metavar, help, option=None, **kw):
    parser.add_argument(*flags, type=_pairs(parse, option or flags[0]), action=_Merge, default={}, metavar=metavar,
                        help=help, **kw)


LENGTH = _type(units.parse_length, "length")
VOXEL = _type(_voxel_size, "voxel size")
CONDUCTIVITY = _type(_conductivity, "conductivity")
AREA_RESISTANCE = _type(units.parse_area_resistance, "area resistance")
TEMPERATURE = _type(_temperature, "temperature")
CURRENT = _type(units.parse_current_density, "current density")
NUMBER = _type(_number, "number")
FRACTION = _type(_unit_interval, "number in (0, 1)")
AXES = _type(_axes, "axis")
PHASES = _type(_phase_table, "phase table")
CROP = _type(_crop, "crop")
THRESHOLDS = _type(_thresholds, "thresholds")
CLASSES = _type(_classes, "classes")


def _nonempty(text: str) -> str:
    if not text.strip():
        raise InvalidInputError("expected a path, got an empty string")
    return text


PATH = _type(_nonempty, "path")


# -- the parser -------------------------------------------------------------------------
def _add_import_options(parser) -> None:
    parser.add_argument("--voxel-size", type=VOXEL, help="voxel size with unit: 0.4um or 10nm,10nm,20nm (axis 0,1,2); "
                                                         "overrides the file's metadata (before --downsample)")
    parser.add_argument("--crop", type=CROP, metavar="Z0:Z1,Y0:Y1,X0:X1",
                        help="region of interest in voxel indices START:STOP, e.g. 0:100,,20: (indices >= 0, inside the volume; "
                             "negative bounds and ranges outside the volume are refused, never clipped)")
    parser.add_argument("--downsample", type=_integer(1), default=1, metavar="K",
                        help="integer downsampling factor, whole K^3 blocks (the voxel size grows by K; "
                             "a partial block at the end of an axis is dropped)")


def _add_segment_options(parser, *, required: bool) -> None:
    parser.add_argument("--classes", type=CLASSES, required=required, metavar="DARK,...,BRIGHT",
                        help="phase names in grey order, dark to bright, e.g. pore,CBD,NMC; with --scribbles in "
                             "scribble order (scribble k marks the k-th name)")
    parser.add_argument("--scribbles", type=PATH, metavar="LABELS.tif",
                        help="train a random forest on these scribbles (0 unlabelled, k = the k-th --classes name), "
                             "drawn on the stack as stored; a single non-spatial axis of the stack's z length "
                             "(ilastik's OME T axis) is taken as z")
    parser.add_argument("--folds", type=_integer(0), default=3, metavar="K",
                        help="--scribbles: slabs of the cross-validated accuracy (default 3; 0 skips it)")
    parser.add_argument("--trees", type=_integer(1), default=100, metavar="N",
                        help="--scribbles: trees of the random forest (default 100)")
    parser.add_argument("--seed", type=_integer(0), default=0, help="--scribbles: seed of the forest (default 0)")
    parser.add_argument("--cbd", type=FRACTION, metavar="FRACTION",
                        help="assign a carbon-binder phase CBD of this volume fraction, grown from the solid into the "
                             "pore space, necks and contacts first (for X-ray data where the binder is invisible)")
    parser.add_argument("--cbd-between", type=CLASSES, metavar="SOLID,PORE",
                        help="--cbd: the class the binder grows from and the class it fills "
                             "(default: the last and the first --classes name)")
    parser.add_argument("--chunk-memory", type=_integer(1), default=1024, metavar="MiB",
                        help="--scribbles: memory budget of one chunk of features in MiB (default 1024; a chunk "
                             "keeps at least its halo's depth of slices); "
                             "the stack is predicted chunk by chunk along axis 0")
    parser.add_argument("--denoise", choices=["none", "median", "gaussian", "nlm"], default="none",
                        help="denoising before thresholding (default none)")
    parser.add_argument("--thresholds", type=THRESHOLDS, metavar="T1,T2,...",
                        help="manual grey-value thresholds instead of multi-Otsu")
    parser.add_argument("--min-size", type=_integer(0), default=0, metavar="N",
                        help="merge isolated specks smaller than N voxels into their surroundings")


def _add_transport_options(parser) -> None:
    _merged(parser, "--sigma", parse=_conductivity, metavar="PHASE=VALUE",
            help="bulk conductivity with unit, e.g. LLZO=8e-4S/cm (repeatable); default: each named non-pore phase "
                 "alone at 1 S/m (with --cell: the set's values)")
    parser.add_argument("--combined", action="store_true",
                        help="solve the --sigma phases together as one multi-phase conductor")
    parser.add_argument("--axis", type=AXES, default="all", help="transport axis 0, 1, 2 or all (default all)")
    parser.add_argument("--periodic", action="store_true", help="periodic side faces instead of zero flux")
    _merged(parser, "--gb-resistance", parse=units.parse_area_resistance, metavar="PHASE=VALUE",
            help="grain-boundary resistance, e.g. LLZO=10ohmcm2 (needs grain ids in the input)")
    _merged(parser, "--interface-resistance", parse=units.parse_area_resistance, metavar="A/B=VALUE",
            help="resistance of faces between phases A and B, e.g. CAM/LLZO=1ohmcm2")
    parser.add_argument("--solver", default="pyamg", choices=["pyamg", "direct"],
                        help="in-process linear solver of the pyamg backend (direct: sparse LU, small volumes)")
    parser.add_argument("--backend", default="pyamg", choices=["pyamg", "petsc"],
                        help="pyamg (default, in-process) or petsc: CG + AMG on PETSc, the volume split into "
                             "slabs over the ranks of mpiexec -n N (needs petsc4py and mpi4py)")
    parser.add_argument("--pc", default="auto", choices=["auto", "hypre", "gamg"],
                        help="preconditioner of the petsc backend (default: hypre where available)")
    parser.add_argument("--rtol", type=FRACTION, default=1e-6,
                        help="relative residual tolerance of CG (default 1e-6: sigma_eff to ~1e-8)")
    parser.add_argument("--json", type=PATH, metavar="PATH|-", help="write the JSON report to PATH, or to stdout with -")
    parser.add_argument("--force", action="store_true", help="overwrite existing output files")
    parser.add_argument("--allow-nonpercolating", action="store_true",
                        help="exit 0 even when a phase has no spanning path")
    parser.add_argument("--no-morphology", action="store_true",
                        help="skip the morphology (areas, connectivity, local thickness) in the report")


def _add_cell_options(parser, *, with_current: bool = True) -> None:
    parser.add_argument("--param", type=_pairs(str, "--param"), action=_Merge, default={}, metavar="NAME=VALUE",
                        help="set a cell parameter, with a unit where it has one, e.g. R_CT=150ohmcm2, "
                             "D_CAM=2.5e-11cm2/s (repeatable)")
    parser.add_argument("--thickness", type=LENGTH, help="cathode thickness, e.g. 50um (default: the set's)")
    parser.add_argument("--temperature", type=TEMPERATURE,
                        help="cell temperature with its unit: 80C, 80°C or 353.15K (200-500 K; default 25C, where the "
                             "set's values hold; Arrhenius laws carry sigma, R_CT, R_SP, D and kappa to it)")
    if with_current:
        parser.add_argument("--current", type=CURRENT, default=10.0, help="discharge current density (default 1mA/cm2)")
    parser.add_argument("--protocol", choices=["discharge", "charge-discharge"], default="discharge",
                        help="discharge from the charged rested state, or charge from the as-built state first")
    parser.add_argument("--keep-particle-size", action="store_true",
                        help="keep the set's d50_CAM instead of the volume's CAM local thickness")
    parser.add_argument("--slabs", type=_integer(1), default=4,
                        help="slabs of the through-thickness profile handed to the cell model (default 4)")
    parser.add_argument("--grid", type=_type(_grid, "grid"), metavar="N_X,N_R,N_T",
                        help="cells in x, shells in r, nominal steps per capacity (default: chosen from the physics; "
                             "the shells keep the physics' stretch towards the surface)")


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
    analyze.add_argument("input", type=PATH, help="labelled volume: .tif/.tiff stack, .npy or .npz")
    analyze.add_argument("--phases", type=PHASES, help="label table, e.g. 0=pore,1=CAM,2=LLZO")
    _add_import_options(analyze)
    _add_transport_options(analyze)

    gen = sub.add_parser("generate", parents=[quiet], help="write a random composite-cathode volume (labelled TIFF)")
    gen.add_argument("--shape", required=True, type=_type(_shape, "shape"), help="voxels along axes 0,1,2, e.g. 128,128,128")
    gen.add_argument("--voxel-size", required=True, type=VOXEL, help="isotropic voxel edge with unit, e.g. 0.5um")
    _merged(gen, "--fractions", parse=_number, metavar="PHASE=F,...", required=True,
            help="target volume fractions, e.g. CAM=0.75,LLZO=0.25 (phases not named are pore)")
    gen.add_argument("--radius", required=True, action="append", metavar="PHASE=LENGTH,...|LENGTH",
                     help="particle radius per phase, e.g. CAM=3um,LLZO=1.5um, or one length for all")
    _merged(gen, "--spread", parse=_number, metavar="PHASE=S,...",
            help="log-normal sizes: standard deviation of ln(d), e.g. CAM=0.3 (--radius is the median)")
    gen.add_argument("--packing", choices=["overlapping", "sintered"], default="overlapping",
                     help="overlapping spheres (Boolean model, fast) or sintered (random sequential addition "
                          "with contact necks, gaps filled by growth)")
    gen.add_argument("--overlap", type=NUMBER, default=0.2,
                     help="sintered: allowed interpenetration as a share of the sum of radii (default 0.2)")
    gen.add_argument("--matrix", help="overlapping: the phase that fills the space between the spheres")
    gen.add_argument("--gradient", metavar="PHASE=F_IN:...:F_OUT",
                     help="fraction of a phase from the inlet to the outlet face of axis 0, e.g. CAM=0.67:0.33")
    gen.add_argument("--gradient-mode", choices=["linear", "layers"], default="linear",
                     help="linear between the values, or one uniform layer per value")
    gen.add_argument("--separator", type=LENGTH, help="dense LLZO slab at the inlet face of axis 0, e.g. 10um")
    gen.add_argument("--grain-size", type=LENGTH, help="split LLZO into Voronoi grains of this mean diameter, e.g. 2um")
    gen.add_argument("--periodic", action="store_true",
                     help="particles wrap around the box faces (axes 1 and 2 only with --gradient or --separator)")
    gen.add_argument("--seed", type=_integer(0), help="random seed >= 0 (default: a fresh one, printed)")
    gen.add_argument("-o", "--output", type=PATH, required=True, help="output labelled volume (.tif or .npz)")
    gen.add_argument("--force", action="store_true", help="overwrite an existing output file")
    gen.add_argument("--uncompressed", action="store_true",
                     help="uncompressed TIFF: memory-mapped when read, each MPI rank of --backend petsc reads its slab")

    seg = sub.add_parser("segment", parents=[quiet], help="segment a grey-value stack into named phases")
    seg.add_argument("input", type=PATH, help="grey-value stack: .tif/.tiff, a folder of 2-D slices, .npy or .npz")
    _add_segment_options(seg, required=True)
    _add_import_options(seg)
    seg.add_argument("-o", "--output", type=PATH, required=True, help="labelled TIFF (or .npz) to write")
    seg.add_argument("--probabilities", type=PATH, metavar="PATH.npy|PATH.tif",
                     help="--scribbles: write the class probabilities (float32, classes x z x y x x)")
    seg.add_argument("--json", type=PATH, metavar="PATH|-",
                     help="write the segmentation report (fractions, histogram modes, accuracy) as JSON")
    seg.add_argument("--force", action="store_true", help="overwrite an existing output file")
    seg.add_argument("--uncompressed", action="store_true",
                     help="uncompressed TIFF: memory-mapped when read, each MPI rank of --backend petsc reads its slab")

    run = sub.add_parser("run", parents=[quiet],
                         help="the whole pipeline: import, segment, morphology, transport, ASR, cell energy, files")
    run.add_argument("input", type=PATH, help="grey-value or labelled stack: .tif/.tiff, slice folder, .npy or .npz")
    _add_segment_options(run, required=False)
    _add_import_options(run)
    run.add_argument("--phases", type=PHASES, help="label table of a labelled input, e.g. 0=pore,1=CAM,2=LLZO")
    run.add_argument("--vti", type=PATH, help="write phases, potentials and current densities as ParaView .vti "
                                              "(and a ParaView script beside it)")
    run.add_argument("--png", type=PATH, help="write a PNG of the middle slice (phases and a potential)")
    run.add_argument("--rct", type=AREA_RESISTANCE,
                     help="also compute the cathode ASR with this charge-transfer resistance (e.g. 150ohmcm2; "
                          "needs --sigma for LLZO and CAM, or --cell; separator = first face of axis 0)")
    run.add_argument("--rsp", type=AREA_RESISTANCE, default=0.0, help="resistive interphase for --rct (default 0)")
    run.add_argument("--cell", metavar="SET",
                     help="feed the reduced P2D cell model with what was measured: parameter set improved, "
                          "state_of_the_art or a JSON file; adds a cell block (Wh/kg, Wh/L, losses)")
    _add_cell_options(run)
    _add_transport_options(run)

    asr = sub.add_parser("asr", parents=[quiet],
                         help="microstructure-resolved cathode ASR: ions in the SE, electrons in the CAM, "
                              "charge transfer at every CAM|SE face")
    asr.add_argument("input", type=PATH, help="labelled volume: .tif/.tiff, slice folder, .npy or .npz")
    asr.add_argument("--phases", type=PHASES, help="label table, e.g. 0=pore,1=CAM,2=LLZO")
    _add_import_options(asr)
    _merged(asr, "--sigma", parse=_conductivity, metavar="SE=VALUE,CAM=VALUE",
            help="conductivities with units, e.g. LLZO=8e-4S/cm,CAM=4.54e-2S/cm")
    asr.add_argument("--se", default="LLZO", help="electrolyte phase name (default LLZO)")
    asr.add_argument("--cam", default="CAM", help="active-material phase name (default CAM)")
    asr.add_argument("--rct", type=AREA_RESISTANCE, required=True, help="charge-transfer resistance, e.g. 150ohmcm2")
    asr.add_argument("--rsp", type=AREA_RESISTANCE, default=0.0, help="resistive interphase in series, e.g. 2600ohmcm2")
    asr.add_argument("--current", type=CURRENT, help="solve Butler-Volmer at this current density (e.g. 10mA/cm2) "
                                                     "instead of the linearised kinetics")
    asr.add_argument("--thickness-axis", type=int, choices=[0, 1, 2], default=0,
                     help="axis from the separator (first face) to the current collector (last face)")
    asr.add_argument("--no-compare", action="store_true",
                     help="skip the homogenised (reduced-P2D) comparison and the electrode tortuosity")
    asr.add_argument("--vti", type=PATH, help="write potentials, current densities and reaction currents as .vti")
    asr.add_argument("--png", type=PATH, help="write a PNG of the reaction current on the middle slice")
    asr.add_argument("--json", type=PATH, metavar="PATH|-", help="write the JSON result to PATH, or to stdout with -")
    asr.add_argument("--force", action="store_true", help="overwrite existing output files")

    cell = sub.add_parser("cell", parents=[quiet], help="energy of a Li | LLZO | composite-cathode cell (reduced P2D)")
    cell.add_argument("--set", default="improved",
                      help="parameter set: improved, state_of_the_art, or a JSON file like data/parameters/*.json")
    _add_cell_options(cell)
    cell.add_argument("--theoretical", action="store_true",
                      help="theoretical figures only (full capacity at the nominal voltage, no simulation)")
    cell.add_argument("--report", type=PATH, help="JSON report of microsim run/analyze: sigma_eff, kappa_eff, a, "
                                                  "fractions, particle size and profile")
    cell.add_argument("--axis", type=int, choices=[0, 1, 2],
                      help="thickness axis of the analysed volume (with --report; default 0)")
    cell.add_argument("--beta", type=NUMBER, help="total Bruggeman exponent of the SE (beta_tort; beta_GB = 0)")
    cell.add_argument("--sigma-eff", type=CONDUCTIVITY, help="effective ionic conductivity of the cathode, e.g. 1e-4S/cm")
    cell.add_argument("--kappa-eff", type=CONDUCTIVITY,
                      help="effective electronic conductivity of the cathode, e.g. 2.3e-3S/cm")
    cell.add_argument("--li-excess", type=NUMBER, default=0.0,
                      help="Li metal on the anode, multiple of the cathode capacity (default 0: anode-free)")
    cell.add_argument("--current-collectors", action="store_true", help="count Al and Cu foils in mass and volume")
    cell.add_argument("--curve", type=PATH, help="write the voltage curve as CSV to this path")
    cell.add_argument("--profiles", type=PATH, help="write x-profiles (phi_e, reaction current, lithiation) per step as CSV")
    cell.add_argument("--json", type=PATH, metavar="PATH|-", help="write the JSON result to PATH, or to stdout with -")
    cell.add_argument("--force", action="store_true", help="overwrite existing output files")

    study = sub.add_parser("cell-study", parents=[quiet],
                           help="Fig. 8/9-style studies: sensitivity, development path, Ragone, temperature, "
                                "theoretical energy (CSV + PNG)")
    study.add_argument("study", choices=["sensitivity", "path", "ragone", "temperature", "theoretical", "all"])
    study.add_argument("--temperature", type=_type(_temperatures, "temperatures"), metavar="T,...",
                       help="the temperature study's temperatures with their unit, e.g. 25C,60C,100C "
                            "(default 25, 40, 60, 80, 100 °C); the other studies run at the sets' 25 °C")
    study.add_argument("--out", type=PATH, default="microsim-cell-study", help="output folder")
    study.add_argument("--protocol", choices=["discharge", "charge-discharge"], default="discharge")
    study.add_argument("--no-plot", action="store_true", help="CSV only")
    study.add_argument("--grid", type=_type(_grid, "grid"), metavar="N_X,N_R,N_T",
                       help="one cell grid for every cell of the study (default: each chosen from its physics)")
    study.add_argument("--force", action="store_true", help="overwrite existing output files")

    design = sub.add_parser("study", parents=[quiet],
                            help="virtual design study from a TOML/JSON file: one CSV row per (point, seed), resumable")
    design.add_argument("file", type=PATH, metavar="STUDY.toml", help="study file (see examples/cam_fraction.toml)")
    design.add_argument("-o", "--output", type=PATH, required=True, metavar="RESULTS.csv",
                        help="results table; an existing one of the same study is resumed (only missing rows run)")
    design.add_argument("--workers", type=_integer(1), help="local worker processes (default: every core)")
    design.add_argument("--scheduler", metavar="ADDRESS",
                        help="run on a Dask distributed cluster, e.g. tcp://10.0.0.1:8786 (pip install 'microsim[dask]')")
    design.add_argument("--retry-failed", action="store_true",
                        help="run the table's failed rows again (by default a failed row is a finished one)")
    design.add_argument("--no-plots", action="store_true", help="skip the PNG plots (CSV only)")
    design.add_argument("--grid", type=_type(_grid, "grid"), metavar="N_X,N_R,N_T",
                        help="one cell grid for every point (the study's cell_grid; part of the study's identity; "
                             "default: each chosen from its physics)")
    design.add_argument("--force", action="store_true", help="start the table over and overwrite its summary and plots")

    rev = sub.add_parser("rev", parents=[quiet],
                         help="representative volume: sigma_eff/sigma0 and tau of a phase against sub-volume size")
    rev.add_argument("input", type=PATH, help="labelled volume (.tif/.tiff, .npy, .npz)")
    rev.add_argument("--phase", required=True, help="the conducting phase, e.g. LLZO")
    rev.add_argument("--voxel-size", type=VOXEL, help="voxel size with unit, e.g. 0.4um (needed if the file has none)")
    rev.add_argument("--phases", type=PHASES, help="label table, e.g. 0=pore,1=CAM,2=LLZO")
    rev.add_argument("--axis", type=int, default=0, choices=[0, 1, 2], help="transport axis (default 0)")
    rev.add_argument("--sizes", type=_type(_sizes, "sizes"),
                     help="sub-volume edges in voxels, e.g. 16,24,32,48 (default: 5 sizes up to the box)")
    rev.add_argument("--samples", type=_integer(1), default=4, help="random sub-volumes per size (default 4)")
    rev.add_argument("--tolerance", type=FRACTION, default=0.05,
                     help="relative tolerance of the settled size (mean vs whole volume, and spread; default 0.05)")
    rev.add_argument("--seed", type=_integer(0), default=0, help="seed of the sub-volume positions (>= 0)")
    rev.add_argument("--csv", type=PATH, help="write one row per size to this CSV")
    rev.add_argument("--json", type=PATH, metavar="PATH|-", help="write the JSON result to PATH, or to stdout with -")
    rev.add_argument("--force", action="store_true", help="overwrite existing output files")

    eis = sub.add_parser("eis", parents=[quiet],
                         help="impedance spectrum of a labelled volume: bulk R||C, grain boundaries R_GB||C_GB, "
                              "CAM|SE faces R_SP + R_CT||C_dl; Nyquist and Bode plots, circuit fit, DRT")
    eis.add_argument("input", type=PATH, help="labelled volume: .tif/.tiff, slice folder, .npy or .npz")
    eis.add_argument("--phases", type=PHASES, help="label table, e.g. 0=pore,1=CAM,2=LLZO")
    _add_import_options(eis)
    _merged(eis, "--sigma", parse=_conductivity, metavar="PHASE=VALUE",
            help="bulk conductivity of each conducting phase, e.g. LLZO=8e-4S/cm (repeatable; required)")
    _merged(eis, "--permittivity", parse=_permittivity, metavar="PHASE=EPS_R",
            help="relative permittivity of a phase's bulk, e.g. LLZO=60 (default 1)")
    eis.add_argument("--axis", type=int, choices=[0, 1, 2], default=0,
                     help="axis from the first (separator) to the last (collector) face (default 0)")
    eis.add_argument("--periodic", action="store_true", help="periodic side faces instead of zero flux")
    _merged(eis, "--gb-resistance", parse=units.parse_area_resistance, metavar="PHASE=VALUE",
            help="grain-boundary resistance, e.g. LLZO=10ohmcm2 (needs grain ids in the input)")
    _merged(eis, "--gb-capacitance", parse=units.parse_area_capacitance, metavar="PHASE=VALUE",
            help="grain-boundary capacitance in parallel with its --gb-resistance, e.g. LLZO=1uF/cm2")
    eis.add_argument("--rct", type=AREA_RESISTANCE,
                     help="a composite cathode: charge-transfer resistance at every CAM|SE face, e.g. 150ohmcm2 "
                          "(ions enter the SE at the first face, electrons leave the CAM at the last)")
    eis.add_argument("--rsp", type=AREA_RESISTANCE, default=0.0, help="resistive interphase in series with --rct")
    eis.add_argument("--cdl", type=AREA_CAPACITANCE, help="double-layer capacitance parallel to --rct, e.g. 10uF/cm2")
    eis.add_argument("--se", default="LLZO", help="electrolyte phase of --rct (default LLZO)")
    eis.add_argument("--cam", default="CAM", help="active-material phase of --rct (default CAM)")
    eis.add_argument("--electrodes", choices=["reversible", "blocking"], default="reversible",
                     help="reversible (the faces conduct; default) or blocking (a capacitance in series)")
    eis.add_argument("--electrode-capacitance", type=AREA_CAPACITANCE, default=0.1,
                     help="capacitance of a blocking electrode (default 10uF/cm2)")
    eis.add_argument("--frequencies", type=FREQUENCIES, default="1:1e8:5", metavar="FMIN:FMAX:PER_DECADE",
                     help="log-spaced frequencies in Hz, e.g. 1:1e8:5 (default) or 1mHz:100MHz:5")
    eis.add_argument("--solver", choices=["pyamg", "direct"], default="pyamg",
                     help="GMRES with AMG (default) or sparse LU per frequency (small volumes)")
    eis.add_argument("--no-fit", action="store_true", help="skip the circuit fit, Kramers-Kronig check and DRT")
    eis.add_argument("--json", type=PATH, metavar="PATH|-", help="write the JSON result to PATH, or to stdout with -")
    eis.add_argument("--csv", type=PATH, help="write the spectrum as CSV")
    eis.add_argument("--png", type=PATH, help="write Nyquist and Bode plots as PNG")
    eis.add_argument("--force", action="store_true", help="overwrite existing output files")

    demo = sub.add_parser("demo", parents=[quiet],
                          help="the whole way on built-in data: a generated NMC811/LLZO composite to Wh/kg, "
                               "and the bundled real CT crop through transport")
    demo.add_argument("--out", type=PATH, default="microsim-demo", help="output folder (default ./microsim-demo)")
    demo.add_argument("--force", action="store_true", help="overwrite existing output files")
    return parser


def _shape(text: str) -> tuple[int, int, int]:
    try:
        shape = tuple(int(n) for n in text.split(","))
    except ValueError:
        raise InvalidInputError(f"--shape expects three integers like 128,128,128, got {text!r}") from None
    if len(shape) != 3 or min(shape) < 1:
        raise InvalidInputError(f"--shape expects three integers >= 1 like 128,128,128, got {text!r}")
    return shape


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(n) for n in text.split(",")]
    except ValueError:
        raise InvalidInputError(f"--sizes expects integers like 16,24,32, got {text!r}") from None
    if min(sizes) < 2:
        raise InvalidInputError(f"--sizes expects edges of at least 2 voxels, got {text!r}")
    return sizes


# -- handlers: parse -> library -> print ------------------------------------------------
def _out(args):
    """stdout for tables, unless stdout carries the JSON."""
    return sys.stderr if getattr(args, "json", None) == "-" else sys.stdout


def _solve_step(args, micro_phases=None):
    from microsim.pipeline import Solve

    sigmas = dict(args.sigma)
    if args.combined:
        if not sigmas:
            raise InvalidInputError("--combined needs the phases and conductivities given with --sigma")
        jobs = (sigmas,)
    else:
        jobs = tuple({name: value} for name, value in sigmas.items())
    interface = {}
    for pair, value in args.interface_resistance.items():
        a, sep, b = pair.partition("/")
        if not sep or not a or not b:
            raise InvalidInputError(f"--interface-resistance expects A/B=VALUE, got {pair!r}")
        interface[(a, b)] = value
    return Solve(conductivities=jobs, axes=args.axis, periodic=args.periodic,
                 grain_boundary_resistance=args.gb_resistance, interface_resistance=interface,
                 solver=_solver(args), rtol=args.rtol)


def _solver(args):
    """The solver of --backend/--solver/--pc (the petsc backend is loaded here: a missing one fails first)."""
    if args.backend == "pyamg":
        if args.pc != "auto":
            raise InvalidInputError("--pc chooses the preconditioner of --backend petsc")
        return args.solver
    if args.solver != "pyamg":
        raise InvalidInputError(f"--solver {args.solver} is a solver of the pyamg backend; drop it with --backend petsc")
    from microsim.transport.distributed import PETScSolver, load_petsc, mpi_ranks

    load_petsc()
    solver = PETScSolver(preconditioner=args.pc)
    log.info("petsc backend on %d MPI rank(s), preconditioner %s", mpi_ranks()[1], args.pc)
    return solver


def _cell_values(args) -> dict:
    from microsim.cell.parameters import parse_parameter

    values = {name: parse_parameter(name, text) for name, text in args.param.items()}
    if args.thickness is not None:
        if "L_cat" in values:
            raise InvalidInputError("the cathode thickness is given twice (--thickness and --param L_cat)")
        values["L_cat"] = args.thickness
    if getattr(args, "temperature", None) is not None:
        if "temperature" in values:
            raise InvalidInputError("the temperature is given twice (--temperature and --param temperature)")
        values["temperature"] = args.temperature
    if getattr(args, "beta", None) is not None:
        values.update(beta_tort=args.beta, beta_GB=0.0)
    for flag, name in (("sigma_eff", "sigma_eff"), ("kappa_eff", "kappa_eff")):
        if getattr(args, flag, None) is not None:
            values[name] = getattr(args, flag)
    if getattr(args, "li_excess", 0.0):
        values["li_excess"] = args.li_excess
    if getattr(args, "current_collectors", False):
        values["current_collectors"] = True
    return values


def _cell_step(args, parameter_set: str, *, currents: Sequence[float] | None = None):
    """The Cell step(s) of the command line: the set with the given values, validated once."""
    from microsim.cell import get_parameter_set
    from microsim.pipeline import Cell

    values = _cell_values(args)
    params = get_parameter_set(parameter_set).with_values(**values)
    params = params.with_values(name=Path(parameter_set).stem if parameter_set.endswith(".json") else parameter_set)
    steps = [Cell(params, current, given=frozenset(values), protocol=args.protocol,
                  axis=args.axis if args.command == "cell" and args.axis is not None else 0,  # run: axis 0
                  slabs=args.slabs, couple_particle_size=not args.keep_particle_size, grid=args.grid)
             for current in (currents or [args.current])]
    return steps


def _exit_status(result, args) -> int:
    """1 when a phase does not span and --allow-nonpercolating is not given (with a line saying so), else 0."""
    blocked = [r for r in result.transport if not r.percolating]
    if blocked and not args.allow_nonpercolating:
        if result.rank == 0:
            which = ", ".join(f"{r.phase} along axis {r.axis}" for r in blocked)
            print(f"microsim: no spanning path for {which}: sigma_eff = 0, tau = inf "
                  "(report written; --allow-nonpercolating exits 0)", file=sys.stderr)
        return 1
    return 0


def _print_result(result, args) -> None:
    from microsim.export.report import morphology_table, report_json, transport_table

    stream = _out(args)
    if result.segmentation is not None:
        _print_segmentation(result.segmentation, stream)
    tables = [morphology_table(result.morphology)] if result.morphology is not None else []
    tables.append(transport_table(result.transport))
    print("\n\n".join(tables), file=stream)
    if result.asr is not None:
        _print_asr(result.asr, stream)
    for outcome in (result.cell or {}).values():
        _print_cell(outcome.to_dict(), stream)
    if args.json == "-":
        sys.stdout.write(report_json(result.report()))


def _print_asr(record: dict, stream) -> None:
    if record["asr_ohm_cm2"] is None:
        print(f"cathode ASR: broken network: {record['note']}", file=stream)
        return
    at = ("linear kinetics" if record["current_density_mA_per_cm2"] is None
          else f"Butler-Volmer at {record['current_density_mA_per_cm2']:g} mA/cm2")
    print(f"cathode ASR ({at}) {record['asr_ohm_cm2']:.4g} ohm cm2 = ionic {record['asr_ionic_ohm_cm2']:.4g} + "
          f"electronic {record['asr_electronic_ohm_cm2']:.4g} + interface {record['asr_interface_ohm_cm2']:.4g}; "
          f"active CAM {record['active_cam_fraction']:.3f}", file=stream)
    if record.get("linear_asr_ohm_cm2") is not None:
        print(f"cathode ASR (linear kinetics) {record['linear_asr_ohm_cm2']:.4g} ohm cm2", file=stream)
    homog = record.get("homogenised") or {}
    if homog.get("homogenised_asr_ohm_cm2") is not None:
        print(f"homogenised ({homog['kinetics']}, same current; reduced P2D, same sigma_eff, kappa_eff, a): "
              f"{homog['homogenised_asr_ohm_cm2']:.4g} ohm cm2 (voxel {100 * homog['relative_difference']:+.1f} %)",
              file=stream)


def _print_cell(block: dict, stream) -> None:
    measured = [k for k, v in block["parameters"].items() if v["source"] == "measured"]
    warm = "" if block.get("temperature_C", 25.0) == 25.0 else f", {block['temperature_C']:g} °C"
    print(f"cell ({block['parameter_set']}, {block['protocol']}, {block['current_density_mA_per_cm2']:.3g} mA/cm2, "
          f"{block['thickness_um']:.4g} um{warm}): {block['specific_energy_Wh_per_kg']:.1f} Wh/kg, "
          f"{block['energy_density_Wh_per_L']:.0f} Wh/L, utilisation {block['utilisation']:.3f} "
          f"(theoretical {block['theoretical_specific_energy_Wh_per_kg']:.1f} Wh/kg)", file=stream)
    losses = ", ".join(f"{k} {v:.1f}" for k, v in block["overpotentials_mV"].items() if k != "open_circuit")
    print(f"  mean overpotentials [mV]: {losses}", file=stream)
    if measured:
        print(f"  measured on the volume: {', '.join(measured)}", file=stream)
    if block.get("note"):
        print(f"  note: {block['note']}", file=stream)


def _load_step(args, *, labels: bool = False):
    from microsim.pipeline import Load

    return Load(args.input, voxel_size=args.voxel_size, phases=getattr(args, "phases", None), crop=args.crop,
                downsample=args.downsample, labels=labels)


def _command() -> str:
    return "microsim " + " ".join(sys.argv[1:]) if sys.argv else ""


def _analyze(args) -> int:
    from microsim.pipeline import Export, run

    result = run(_load_step(args, labels=True), measure=not args.no_morphology, solve=_solve_step(args),
                 export=Export(json=args.json, force=args.force), settings={"command": _command()})
    if result.rank == 0:
        _print_result(result, args)
    return _exit_status(result, args)


def _run(args) -> int:
    from microsim.pipeline import Asr, Export, Segment, run

    segmentation = None
    if args.classes:
        segmentation = _segment_step(args)
    elif args.scribbles:
        raise InvalidInputError("--scribbles needs --classes (the names scribble 1, 2, ... mark)")
    cells = _cell_step(args, args.cell) if args.cell else None
    asr = None
    if args.rct is not None:
        sigma = {**({"LLZO": cells[0].parameters.sigma_SE, "CAM": cells[0].parameters.kappa_CAM} if cells else {}),
                 **args.sigma}
        if not {"LLZO", "CAM"} <= set(sigma):
            raise InvalidInputError("--rct needs --sigma LLZO=... and --sigma CAM=... (or --cell SET) for the cathode ASR")
        asr = Asr(sigma["LLZO"], sigma["CAM"], args.rct, args.rsp)
    if cells is None:
        for flag in ("thickness", "temperature", "keep_particle_size"):
            if getattr(args, flag) not in (None, False):
                raise InvalidInputError(f"--{flag.replace('_', '-')} sets the cell model: give --cell SET with it")
        if args.param:
            raise InvalidInputError("--param sets the cell model: give --cell SET with it")
    result = run(_load_step(args), segmentation=segmentation, measure=not args.no_morphology, solve=_solve_step(args),
                 asr=asr, cell=cells, export=Export(json=args.json, vti=args.vti, png=args.png, force=args.force),
                 settings={"command": _command()})
    if result.rank == 0:
        _print_result(result, args)
    return _exit_status(result, args)


def _asr(args) -> int:
    from microsim.export import check_outputs, report_json, software_versions, write_report
    from microsim.pipeline import Asr, Export, run

    files = Export(vti=args.vti, png=args.png, force=args.force)
    check_outputs([args.json, *files.paths], inputs=[args.input], force=args.force)  # all of them, before any work
    missing = [p for p in (args.se, args.cam) if p not in args.sigma]
    if missing:
        raise InvalidInputError(f"--sigma needs a conductivity for {' and '.join(missing)}, e.g. "
                                f"--sigma {args.se}=8e-4S/cm,{args.cam}=4.54e-2S/cm")
    step = Asr(args.sigma[args.se], args.sigma[args.cam], args.rct, args.rsp, se=args.se, cam=args.cam,
               axis=args.thickness_axis, current_density=args.current, compare=not args.no_compare)
    result = run(_load_step(args, labels=True), measure=False, solve=None, asr=step, export=files)
    record = {"input": str(args.input), **result.asr, "software": software_versions(), "command": _command()}
    _print_asr(record, _out(args))
    if args.json == "-":
        sys.stdout.write(report_json(record))
    elif args.json:
        write_report(record, args.json, force=args.force)
    if not result.asr_result.connected:
        print(f"microsim: broken network: {record['note']}", file=sys.stderr)
        return 1
    return 0


def _cell(args) -> int:
    from microsim.cell import theoretical_energy
    from microsim.constants import mAh_per_cm2
    from microsim.export import check_outputs, report_json, software_versions, write_csv, write_report
    from microsim.pipeline import cell_from_report, simulate_cell

    check_outputs([args.json, args.curve, args.profiles], inputs=[args.report], force=args.force)
    if args.axis is not None and not args.report:
        raise InvalidInputError("--axis is the thickness axis of an analysed volume: give --report with it")
    if args.report is None and (args.keep_particle_size or args.slabs != 4):
        raise InvalidInputError("--keep-particle-size and --slabs couple the cell to a volume: give --report with them")
    (step,) = _cell_step(args, args.set)
    if args.theoretical:
        if args.report:
            raise InvalidInputError("--theoretical takes no --report: the limit does not depend on the volume")
        params = step.parameters
        theory = theoretical_energy(params)
        out = {"mode": "theoretical", "specific_energy_Wh_per_kg": theory.specific_energy_Wh_per_kg,
               "energy_density_Wh_per_L": theory.energy_density_Wh_per_L, "utilisation": 1.0,
               "capacity_mAh_per_cm2": mAh_per_cm2(theory.capacity_C_per_m2), **theory.to_dict(),
               "parameters": params.to_dict()}
        outcome = None
        print(f"{out['specific_energy_Wh_per_kg']:.1f} Wh/kg, {out['energy_density_Wh_per_L']:.0f} Wh/L "
              f"(theoretical; {out['mass_accounting']})", file=_out(args))
    else:
        wants_profiles = bool(args.profiles)
        outcome = (cell_from_report(args.report, step, profiles=wants_profiles) if args.report
                   else simulate_cell(step, profiles=wants_profiles))
        block = outcome.to_dict()
        _print_cell(block, _out(args))
        out = {"mode": "simulated", **block, "parameters": outcome.result.parameters.to_dict(),
               "parameter_sources": {k: v["source"] for k, v in block["parameters"].items()}}
    out["software"] = software_versions()
    out["command"] = _command()
    if args.json == "-":
        sys.stdout.write(report_json(out))
    elif args.json:
        write_report(out, args.json, force=args.force)
    if outcome is not None:
        result = outcome.result
        if args.curve:
            rows = [{"time_s": t, "capacity_mAh_per_cm2": mAh_per_cm2(q), "voltage_V": v}
                    for t, q, v in zip(result.time, result.capacity, result.voltage)]
            write_csv(rows, args.curve, force=args.force)
        if args.profiles and result.profiles is not None:
            prof = result.profiles
            rows = [{"time_s": t, "x_um": x * 1e6, "phi_e_V": pe, "reaction_current_A_per_m2": j, "lithiation": th}
                    for k, t in enumerate(prof["time"])
                    for x, pe, j, th in zip(prof["x"], prof["phi_e"][k], prof["reaction_current"][k],
                                            prof["lithiation"][k])]
            write_csv(rows, args.profiles, force=args.force)
    return 0


def _cell_study(args) -> int:
    from microsim.cell.studies import STUDIES
    from microsim.export import check_outputs, write_csv

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InvalidInputError(f"--out {out} is a file; give a folder")
    names = list(STUDIES) if args.study == "all" else [args.study]
    if args.temperature is not None and args.study != "temperature":
        raise InvalidInputError("--temperature gives the temperature study's temperatures (cell-study temperature "
                                "--temperature 25C,60C,100C); the other studies run at the sets' 25 °C")
    planned = [out / f"{n}.{ext}" for n in names for ext in (("csv",) if args.no_plot else ("csv", "png"))]
    if not out.is_dir():
        try:
            out.mkdir(parents=True)
        except OSError as exc:
            raise InvalidInputError(f"cannot create the output folder {out}: {exc.strerror or exc}") from None
    check_outputs(planned, force=args.force)
    for name in names:
        run, plot = STUDIES[name]
        log.info("study %s (%s)", name, args.protocol)

        def progress(done: int, total: int, name=name) -> None:
            if done == total or done % max(1, total // 4) == 0:
                log.info("  %s: %d of %d cells simulated", name, done, total)

        extra = {"temperatures": args.temperature} if name == "temperature" and args.temperature else {}
        rows = run(protocol=args.protocol, progress=progress, grid=args.grid, **extra)
        write_csv(rows, out / f"{name}.csv", force=args.force)
        if not args.no_plot:
            plot(rows, out / f"{name}.png", force=args.force)
        print(f"wrote {out / name}.csv" + ("" if args.no_plot else f" and {name}.png"))
    return 0


def _segment_step(args):
    from microsim.pipeline import Segment

    for flag in ("folds", "trees", "seed", "chunk_memory"):
        default = {"folds": 3, "trees": 100, "seed": 0, "chunk_memory": 1024}[flag]
        if not args.scribbles and getattr(args, flag) != default:
            raise InvalidInputError(f"--{flag.replace('_', '-')} sets the forest: give --scribbles with it")
    return Segment(args.classes, denoise=args.denoise, thresholds=args.thresholds, min_size=args.min_size,
                   scribbles=args.scribbles, folds=args.folds, trees=args.trees, seed=args.seed,
                   chunk_bytes=args.chunk_memory * 2**20, cbd=args.cbd, cbd_between=args.cbd_between)


def _print_segmentation(result, stream) -> None:
    """The histogram and (for the forest) the held-out accuracy, one line each."""
    if result.histogram is not None:
        h = result.histogram
        print(f"grey histogram: {len(h.modes)} mode{'s' if len(h.modes) != 1 else ''} at "
              f"{', '.join(f'{m:.6g}' for m in h.modes)}; partial-volume share {h.partial_volume_fraction:.4f}",
              file=stream)
    cv = result.cross_validation
    if cv is not None and cv.get("accuracy") is not None:
        print(f"cross-validated accuracy {cv['accuracy']:.4f} (held-out scribbles, {cv['folds']} slabs along axis "
              f"{cv['axis']}, {cv['scribbled_voxels']} scribbled voxels)", file=stream)


def _write_probabilities(path, probabilities, force: bool) -> None:
    import numpy as np

    from microsim.export import atomic_output

    suffix = Path(path).suffix.lower()
    with atomic_output(path, force=force) as tmp:
        if suffix == ".npy":
            with open(tmp, "wb") as handle:
                np.save(handle, probabilities)
        else:
            import tifffile

            tifffile.imwrite(tmp, probabilities, photometric="minisblack", metadata={"axes": "CZYX"})


def _segment(args) -> int:
    from microsim.export import check_outputs, report_json, write_labels, write_report
    from microsim.pipeline import load, segment_volume

    if args.probabilities and not args.scribbles:
        raise InvalidInputError("--probabilities needs --scribbles (thresholds give no probabilities)")
    if args.probabilities and Path(args.probabilities).suffix.lower() not in (".npy", ".tif", ".tiff"):
        raise InvalidInputError(f"--probabilities writes .npy or .tif, got {Path(args.probabilities).name}")
    inputs = [args.input, *([args.scribbles] if args.scribbles else [])]
    check_outputs([args.output, args.probabilities, args.json], inputs=inputs, force=args.force)
    step = _segment_step(args)
    load_step = _load_step(args)
    volume = load(load_step)
    result = segment_volume(volume, step, load_step)
    write_labels(args.output, result.labels, phases=result.phases, voxel_size=volume.voxel_size, force=args.force,
                 compress=not args.uncompressed)
    if args.probabilities:
        _write_probabilities(args.probabilities, result.probabilities, args.force)
    stream = sys.stderr if args.json == "-" else sys.stdout
    fractions = ", ".join(f"{k} {v:.4f}" for k, v in result.fractions().items())
    if args.scribbles:
        print(f"wrote {args.output}: labels {result.phases}; volume fractions {fractions}; {result.method}",
              file=stream)
    else:
        thresholds = ", ".join(f"{t:.6g}" for t in result.thresholds)
        print(f"wrote {args.output}: labels {result.phases}; volume fractions {fractions}; "
              f"thresholds {thresholds} ({result.method}, denoise {result.denoise})", file=stream)
    _print_segmentation(result, stream)
    if args.json:
        report = {"source": str(args.input), "command": _command(), "segmentation": result.to_dict()}
        if args.json == "-":
            sys.stdout.write(report_json(report))
        else:
            write_report(report, args.json, force=args.force)
    if volume.voxel_size is None:
        log.info("no voxel size known: give --voxel-size when analysing %s", args.output)
    return 0


def _generate(args) -> int:
    import numpy as np

    from microsim.export import check_outputs, save_microstructure
    from microsim.generate import Gradient, LogNormal, generate

    check_outputs([args.output], force=args.force)
    if len(set(args.voxel_size)) != 1:
        raise InvalidInputError("generate makes isotropic voxels: give one --voxel-size")
    if len(args.radius) == 1 and "=" not in args.radius[0]:
        radius = units.parse_length(args.radius[0])
        radius = {name: radius for name in ("pore", "CAM", "LLZO")}
    else:
        radius = {}
        for item in args.radius:
            for name, value in _split_pairs(item, units.parse_length, "--radius"):
                if name in radius:
                    raise InvalidInputError(f"--radius gives {name} twice")
                radius[name] = value
    for name, spread in args.spread.items():
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
    log.info("generating %s voxels of %.3g m, seed %d", "x".join(map(str, args.shape)), args.voxel_size[0], seed)
    micro = generate(
        args.shape, args.fractions, radius, voxel_size=args.voxel_size[0], packing=args.packing, overlap=args.overlap,
        matrix=args.matrix, gradient=gradient, separator=args.separator or 0.0, grain_size=args.grain_size,
        periodic=args.periodic, seed=seed,
    )
    save_microstructure(micro, args.output, force=args.force, compress=not args.uncompressed)
    achieved = ", ".join(f"{name} {f:.4f}" for name, f in micro.volume_fractions().items())
    grains = f", {int(micro.grains.max())} LLZO grains" if micro.grains is not None else ""
    print(f"wrote {args.output}: {'x'.join(map(str, micro.shape))} voxels, volume fractions {achieved}{grains}, "
          f"seed {seed}")
    return 0


def _rev(args) -> int:
    from microsim.design.rev import representative_volume
    from microsim.export import check_outputs, report_json, write_csv, write_report
    from microsim.reading import load_microstructure

    check_outputs([args.csv, args.json], inputs=[args.input], force=args.force)
    micro = load_microstructure(args.input, voxel_size=args.voxel_size, phases=args.phases)
    log.info("REV of %s along axis %d in %s (%s voxels)", args.phase, args.axis, args.input,
             "x".join(map(str, micro.shape)))
    result = representative_volume(micro, args.phase, sizes=args.sizes, axis=args.axis, samples=args.samples,
                                   tolerance=args.tolerance, seed=args.seed,
                                   progress=lambda done, total: log.info("sub-volume %d of %d", done, total))
    print(result.table(), file=_out(args))  # stdout: the JSON alone
    if args.csv:
        write_csv(result.rows(), args.csv, force=args.force)
    if args.json:
        record = {"input": str(args.input), **result.to_dict()}
        if args.json == "-":
            sys.stdout.write(report_json(record))
        else:
            write_report(record, args.json, force=args.force)
    return 0


def _study(args) -> int:
    from microsim.design import StudyInterrupted, load_study, run_study
    from microsim.design.analysis import plot_bruggeman, plot_energy, summarise, summary_table
    from microsim.design.runner import input_columns, progress_log, read_table, study_outputs
    from microsim.design.study import lookup
    from microsim.export import check_outputs, write_csv

    study = load_study(args.file)
    if args.grid is not None:
        if "cell_grid" in study.swept:
            raise InvalidInputError("--grid fixes the cell grid, but the study sweeps cell_grid; give one or the other")
        study = dataclasses.replace(study, base={**study.base, "cell_grid": [args.grid.n_x, args.grid.n_r,
                                                                             args.grid.n_t]})
    table = Path(args.output)
    outputs = study_outputs(table)
    if not table.exists() and not args.force:  # derived files of another table: keep them
        check_outputs(outputs.values(), force=False)
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


def _permittivity(text: str) -> float:
    value = _number(text)
    if not value > 0:
        raise InvalidInputError(f"a relative permittivity must be > 0, got {text!r}")
    return value


def _frequency(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        return units.parse_frequency(text)
    if not (math.isfinite(value) and value > 0):
        raise InvalidInputError(f"a frequency must be finite and > 0 Hz, got {text!r}")
    return value


def _frequencies(text: str):
    from microsim.transport.impedance import frequency_grid

    parts = text.split(":")
    if len(parts) != 3:
        raise InvalidInputError(f"--frequencies expects FMIN:FMAX:PER_DECADE, e.g. 1:1e8:5, got {text!r}")
    f_min, f_max = _frequency(parts[0]), _frequency(parts[1])
    per_decade = _number(parts[2])
    if f_max < f_min:
        raise InvalidInputError(f"--frequencies runs from low to high: {parts[0]} is above {parts[1]}")
    if per_decade <= 0:
        raise InvalidInputError(f"--frequencies needs > 0 frequencies a decade, got {parts[2]!r}")
    return frequency_grid(f_min, f_max, per_decade)


AREA_CAPACITANCE = _type(units.parse_area_capacitance, "area capacitance")
FREQUENCIES = _type(_frequencies, "frequencies")


def _eis(args) -> int:
    from microsim.export import check_outputs, report_json, software_versions, write_csv, write_report
    from microsim.export.plots import write_impedance_png
    from microsim.pipeline import load, to_microstructure
    from microsim.transport.impedance import ChargeTransfer, spectrum

    check_outputs([args.json, args.csv, args.png], inputs=[args.input], force=args.force)  # before any work
    if not args.sigma:
        raise InvalidInputError("--sigma is needed: the conductivity of each conducting phase, e.g. --sigma LLZO=8e-4S/cm")
    if args.rct is None:
        for flag, value in (("--cdl", args.cdl), ("--rsp", args.rsp or None)):
            if value is not None:
                raise InvalidInputError(f"{flag} belongs to the CAM|SE interface: give --rct with it")
    frequencies = args.frequencies
    transfer = None
    if args.rct is not None:
        transfer = ChargeTransfer(args.rct, args.rsp, args.cdl or 0.0, se=args.se, cam=args.cam)
    step = _load_step(args, labels=True)
    micro, _ = to_microstructure(load(step, labels=True), step, None)
    result = spectrum(micro, args.sigma, frequencies, axis=args.axis, permittivity=args.permittivity,
                      grain_boundary_resistance=args.gb_resistance, grain_boundary_capacitance=args.gb_capacitance,
                      charge_transfer=transfer, electrodes=args.electrodes,
                      electrode_capacitance=args.electrode_capacitance, periodic=args.periodic,
                      solver=args.solver, analyse=not args.no_fit)
    record = {"input": str(args.input), **result.to_dict(), "software": software_versions(), "command": _command()}
    stream = _out(args)
    if result.connected:
        dc = record["dc_limit_ohm_cm2"]
        print(f"impedance spectrum ({result.mode}, {result.electrodes} electrodes, axis {result.axis}): "
              f"{frequencies.size} frequencies {frequencies[0]:.3g} to {frequencies[-1]:.3g} Hz, "
              f"{result.unknowns} voxels, {result.seconds:.1f} s; DC limit "
              + (f"{dc:.5g} ohm cm2" if dc is not None else "inf (blocking)"), file=stream)
        fit = record["fit"]
        if fit is not None:
            parts = ", ".join(f"{k.split('_')[1]} {v:.4g}" for k, v in fit.items() if k.startswith("R_") and
                              not k.startswith("R_s"))
            print(f"  fit {fit['model']}: R [ohm cm2] {parts} (rms residual {fit['relative_rms_residual']:.1e})",
                  file=stream)
        if record["kramers_kronig"] is not None:
            print(f"  Kramers-Kronig: max residual {record['kramers_kronig']['max_relative_residual']:.1e}",
                  file=stream)
        if result.note:
            print(f"  note: {result.note}", file=stream)
    if args.json == "-":
        sys.stdout.write(report_json(record))
    elif args.json:
        write_report(record, args.json, force=args.force)
    if args.csv:
        write_csv(result.rows(), args.csv, force=args.force)
    if not result.connected:
        if args.png:
            log.info("no PNG: the spectrum is empty")
        print(f"microsim: broken network: {result.note}", file=sys.stderr)
        return 1
    if args.png:
        write_impedance_png(args.png, result.frequencies, result.impedance * 1e4,
                            fitted=None if result.fit is None else result.fit.impedance(result.frequencies) * 1e4,
                            title=f"{Path(str(args.input)).name}, axis {result.axis}", force=args.force)
    return 0


def _demo(args) -> int:
    from microsim.demo import run_demo

    summary = run_demo(args.out, force=args.force)
    print(summary)
    return 0


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


HANDLERS = {"analyze": _analyze, "generate": _generate, "segment": _segment, "run": _run, "asr": _asr,
            "cell": _cell, "cell-study": _cell_study, "study": _study, "rev": _rev, "demo": _demo,
            "eis": _eis}


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
        with warnings.catch_warnings():
            # microsim's own warnings: one line each on stderr, never a source line or an exception
            warnings.simplefilter("always", MicrosimWarning)
            shown = warnings.showwarning

            def show(message, category, filename, lineno, file=None, line=None):
                if issubclass(category, MicrosimWarning):
                    if not quiet_rank:
                        print(f"microsim: warning: {message}", file=sys.stderr)
                else:
                    shown(message, category, filename, lineno, file, line)

            warnings.showwarning = show
            return HANDLERS[args.command](args)
    except MicrosimError as exc:
        # bad input is met alike by every rank; other errors (a file, memory) may be one rank's own
        _error(str(exc), quiet_rank, shared=getattr(exc, "shared_by_ranks", False) or isinstance(exc, InvalidInputError))
        return 1
    except MemoryError:
        _error("out of memory; crop or downsample the volume, or spread it over machines with --backend petsc",
               quiet_rank, shared=False)
        return 1
    except OSError as exc:  # a file system refusal met while writing (full disk, permissions changed under us)
        _error(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "), quiet_rank, shared=False)
        return 1
    except KeyboardInterrupt:
        print("microsim: interrupted", file=sys.stderr)
        return 130
    finally:
        package_log.removeHandler(handler)


__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
