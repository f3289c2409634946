"""The workflow: load → segment → measure → solve → cell → export, as typed steps.

One call, :func:`run`, takes a stack (or a labelled file, or a
:class:`~microsim.microstructure.Microstructure`) through any prefix of the chain and
returns one :class:`PipelineResult`, whose :meth:`~PipelineResult.report` is the JSON
report. The CLI (``run``, ``analyze``, ``asr``, ``demo``), ``cell --report`` and the
design studies all go through here, so a number they print for the same input is
computed by one code path.

Each step is a frozen dataclass of options, validated once on construction and
holding SI values:

- :class:`Load` -- the file, voxel size, phase table, crop and downsampling;
- :class:`Segment` -- grey classes, denoising, thresholds, speck removal; or a random
  forest trained on scribbles (``scribbles=``), with its held-out accuracy;
- measure -- the morphology (``measure=True``);
- :class:`Solve` -- the transport jobs (conductivity tables), axes, resistances, solver;
- :class:`Asr` -- the microstructure-resolved cathode ASR;
- :class:`Cell` -- the reduced P2D fed by what was measured (σ_eff, κ_eff, the CAM|SE
  area, ε, the CAM particle size from the local thickness and the through-thickness
  slab profile), with the source of every parameter;
- :class:`Export` -- JSON report, ``.vti`` (with a ParaView script beside it), PNG.

Examples
--------
>>> import numpy as np
>>> from microsim.microstructure import Microstructure
>>> labels = np.full((8, 8, 8), 2, np.uint8); labels[:, :, 4:] = 1
>>> result = run(Microstructure(labels, 1e-6), measure=False, solve=Solve(axes=0))
>>> [(r.phase, round(r.tortuosity_factor, 6)) for r in result.transport]
[('CAM', 1.0), ('LLZO', 1.0)]
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from microsim.binder import assign_binder
from microsim.cell.coupling import GIVEN, MEASURED, SET, coupled_parameters, read_report
from microsim.cell.p2d import CellResult, Grid, simulate
from microsim.cell.parameters import ACTIVATION_ENERGY_NAMES, CellParameters, parameter_names
from microsim.errors import InvalidInputError, PercolationWarning
from microsim.export import check_outputs, write_report, write_slice_png, write_vti
from microsim.export.paraview import write_paraview_script
from microsim.export.report import analysis_report
from microsim.export.vti import VtiWriter
from microsim.microstructure import DEFAULT_PHASES, Microstructure, check_phases, check_voxel_size
from microsim.morphology import Morphology, measure_morphology
from microsim.reading import Volume, check_crop, read_scribbles, read_volume
from microsim.segment import Segmentation, segment
from microsim.trainable import segment_scribbles
from microsim.transport import TransportResult, solve_transport
from microsim.transport.axis_solve import check_axes
from microsim.transport.distributed import mpi_ranks
from microsim.transport.effective import check_fits
from microsim.transport.electrochem import (
    AsrResult,
    cathode_asr,
    electrode_tortuosity_factor,
    homogenised_comparison,
)
from microsim.transport.network import non_negative
from microsim.transport.profile import thickness_profile

log = logging.getLogger(__name__)

#: units of the cell parameters in the report's ``parameters`` block
PARAMETER_UNITS = {
    "sigma_SE": "S/m", "kappa_CAM": "S/m", "sigma_eff": "S/m", "kappa_eff": "S/m", "D_CAM": "m2/s",
    "d50_CAM": "m", "R_CT": "ohm m2", "R_SP": "ohm m2", "R_Li": "ohm m2", "L_sep": "m", "L_cat": "m",
    "L_cc_Al": "m", "L_cc_Cu": "m", "temperature": "K", "v_min": "V", "v_max": "V", "area_per_volume": "1/m",
    **{name: "J/mol" for name in ACTIVATION_ENERGY_NAMES},
}
#: the Arrhenius-scaled values the cell uses at its temperature, in the ``parameters`` block
AT_TEMPERATURE = {"sigma_SE_at_T": "S/m", "kappa_CAM_at_T": "S/m", "D_CAM_at_T": "m2/s", "R_CT_at_T": "ohm m2",
                  "R_SP_at_T": "ohm m2", "R_Li_at_T": "ohm m2"}
ARRHENIUS = "arrhenius"  # source of a value scaled from 298.15 K to the cell's temperature


def _stage(name: str, started: float) -> None:
    log.info("%s done in %.2f s", name, time.perf_counter() - started)


# -- the steps ----------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Load:
    """Where the volume comes from.

    Attributes
    ----------
    path : str or path-like
        TIFF stack, folder of slices, ``.npy`` or ``.npz``.
    voxel_size : 3 floats [m], optional
        The voxels as stored (before downsampling); overrides the file's metadata.
    phases : dict name -> label, optional
        Label table of a labelled input (the input is then taken as labels).
    crop : 3 slices, optional
    downsample : int
        Integer factor on every axis; the voxel size grows by it, whichever its source.
    labels : bool
        The input is a labelled volume (names: the given, the stored, or the default
        ``0=pore,1=CAM,2=LLZO``), never a grey stack.
    """

    path: str | os.PathLike
    voxel_size: tuple[float, float, float] | None = None
    phases: Mapping[str, int] | None = None
    crop: tuple[slice, slice, slice] | None = None
    downsample: int = 1
    labels: bool = False

    def __post_init__(self):
        if self.voxel_size is not None:
            object.__setattr__(self, "voxel_size", check_voxel_size(self.voxel_size))
        if self.phases is not None:
            object.__setattr__(self, "phases", check_phases(self.phases))
        if self.crop is not None:
            object.__setattr__(self, "crop", check_crop(self.crop))
        if isinstance(self.downsample, bool) or not isinstance(self.downsample, (int, np.integer)) \
                or self.downsample < 1:
            raise InvalidInputError(f"downsampling needs an integer factor >= 1, got {self.downsample!r}")


@dataclasses.dataclass(frozen=True)
class Segment:
    """Grey stack to phases: names dark to bright, and how to threshold; or, with
    ``scribbles``, a random forest trained on them.

    Attributes
    ----------
    classes : tuple of str
        Dark to bright for thresholds; with scribbles, scribble k marks ``classes[k-1]``.
    scribbles : path, optional
        Scribble file drawn on the stack as stored (see
        :func:`microsim.reading.read_scribbles`): the same crop and downsampling apply.
    folds : int
        Slabs of the forest's cross-validation (0: none).
    trees : int
        Trees of the forest.
    seed : int
        Seed of the forest.
    chunk_bytes : int
        Memory budget of one chunk of features (prediction goes chunk by chunk).
    cbd : float, optional
        Carbon-binder volume fraction to assign numerically after segmenting (a new
        class ``CBD``, grown from the solid into the pore space, necks first; see
        :func:`microsim.binder.assign_binder`); in (0, pore fraction).
    cbd_between : (str, str), optional
        The solid the binder grows from and the class it fills; default the last and
        the first of ``classes`` (brightest and darkest for thresholds).
    """

    classes: tuple[str, ...]
    denoise: str = "none"
    thresholds: tuple[float, ...] | None = None
    min_size: int = 0
    scribbles: str | os.PathLike | None = None
    folds: int = 3
    trees: int = 100
    seed: int = 0
    chunk_bytes: int = 1024 * 2**20
    cbd: float | None = None
    cbd_between: tuple[str, str] | None = None

    def __post_init__(self):
        if self.cbd is not None and not (isinstance(self.cbd, (int, float)) and 0 < self.cbd < 1):
            raise InvalidInputError(f"the binder fraction must lie in (0, 1), got {self.cbd!r}")
        if self.cbd_between is not None:
            if self.cbd is None:
                raise InvalidInputError("--cbd-between needs --cbd FRACTION")
            pair = tuple(self.cbd_between)
            if len(pair) != 2 or pair[0] == pair[1] or not set(pair) <= {str(c).strip() for c in self.classes}:
                raise InvalidInputError(f"--cbd-between expects SOLID,PORE, two of the classes "
                                        f"{','.join(self.classes)}; got {','.join(map(str, pair))}")
        if self.cbd is not None and "CBD" in {str(c).strip() for c in self.classes}:
            raise InvalidInputError("--cbd adds a class CBD, and --classes names one already")
        if self.scribbles is not None:
            if self.thresholds is not None:
                raise InvalidInputError("--thresholds and --scribbles exclude each other: the forest sets the classes")
            if self.denoise != "none":
                raise InvalidInputError("--denoise does not apply to --scribbles: the forest's features smooth "
                                        "the stack at every scale already")
            for name, least in (("folds", 0), ("trees", 1), ("seed", 0), ("chunk_bytes", 1)):
                value = getattr(self, name)
                if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
                    raise InvalidInputError(f"{name} must be an integer >= {least}, got {value!r}")
            if self.folds == 1:
                raise InvalidInputError("cross-validation needs 2 or more folds (or 0 for none), got 1")
        classes = tuple(str(c).strip() for c in self.classes)
        if len(classes) < 2 or any(not c for c in classes):
            raise InvalidInputError(f"segmentation needs two or more class names, got {self.classes!r}")
        if len(set(classes)) != len(classes):
            raise InvalidInputError(f"class names must differ, got {','.join(classes)}")
        object.__setattr__(self, "classes", classes)
        if self.thresholds is not None:
            values = tuple(float(t) for t in self.thresholds)
            if any(not math.isfinite(t) for t in values):
                raise InvalidInputError(f"thresholds must be finite numbers, got {self.thresholds!r}")
            if len(values) != len(classes) - 1:
                raise InvalidInputError(f"{len(classes)} classes need {len(classes) - 1} thresholds, got {len(values)}")
            if any(b <= a for a, b in zip(values, values[1:])):
                raise InvalidInputError(f"thresholds must increase, got {values}")
            object.__setattr__(self, "thresholds", values)
        if isinstance(self.min_size, bool) or not isinstance(self.min_size, (int, np.integer)) or self.min_size < 0:
            raise InvalidInputError(f"min_size must be an integer >= 0 voxels, got {self.min_size!r}")


@dataclasses.dataclass(frozen=True)
class Solve:
    """Transport jobs: each table of conductivities [S/m] is one solve (one phase alone,
    or several phases together as one conductor), along each of ``axes``.

    Empty ``conductivities``: every named non-pore phase alone at 1 S/m (with a cell,
    the SE at the set's σ_SE and the CAM at its κ_CAM).
    """

    conductivities: tuple[Mapping[str, float], ...] = ()
    axes: str | int | tuple[int, ...] = "all"
    periodic: bool = False
    grain_boundary_resistance: Mapping[str, float] = dataclasses.field(default_factory=dict)
    interface_resistance: Mapping[tuple[str, str], float] = dataclasses.field(default_factory=dict)
    solver: object = None
    rtol: float = 1e-6

    def __post_init__(self):
        object.__setattr__(self, "axes", check_axes(self.axes))
        jobs = []
        for job in self.conductivities:
            table = {str(k): non_negative(v, f"conductivity of {k}", "S/m") for k, v in dict(job).items()}
            if not table:
                raise InvalidInputError("a transport job needs at least one phase")
            jobs.append(table)
        object.__setattr__(self, "conductivities", tuple(jobs))
        object.__setattr__(self, "grain_boundary_resistance", {
            str(k): non_negative(v, f"grain-boundary resistance of {k}", "ohm m2")
            for k, v in dict(self.grain_boundary_resistance or {}).items()})
        object.__setattr__(self, "interface_resistance", {
            tuple(k): non_negative(v, f"interface resistance of {k}", "ohm m2")
            for k, v in dict(self.interface_resistance or {}).items()})
        if not (isinstance(self.rtol, (int, float)) and 0 < self.rtol < 1):
            raise InvalidInputError(f"rtol must be in (0, 1), got {self.rtol!r}")

    @property
    def distributed(self) -> bool:
        return bool(getattr(self.solver, "distributed", False))


@dataclasses.dataclass(frozen=True)
class Asr:
    """The microstructure-resolved cathode ASR: R_CT and R_SP [Ω·m²] at every CAM|SE face,
    the SE and CAM bulk conductivities [S/m], Butler–Volmer at ``current_density`` [A/m²]
    (None: linear kinetics)."""

    sigma_se: float
    kappa_cam: float
    r_ct: float
    r_sp: float = 0.0
    se: str = "LLZO"
    cam: str = "CAM"
    axis: int = 0
    current_density: float | None = None
    compare: bool = True

    def __post_init__(self):
        for name in ("sigma_se", "kappa_cam", "r_ct", "r_sp"):
            object.__setattr__(self, name, non_negative(getattr(self, name), name, "SI"))
        if self.axis not in (0, 1, 2) or isinstance(self.axis, bool):
            raise InvalidInputError(f"the thickness axis must be 0, 1 or 2, got {self.axis!r}")


@dataclasses.dataclass(frozen=True)
class Cell:
    """The reduced P2D, fed by the volume.

    Attributes
    ----------
    parameters : CellParameters
        The set with the caller's values applied.
    current_density : float [A/m^2]
    given : names
        The parameters the caller gave (they win over the volume's).
    protocol : str
    axis : int
        The volume's thickness axis (separator side at its first face).
    slabs : int
        Slabs of the through-thickness profile (1: uniform).
    couple_particle_size : bool
        ``d50_CAM`` from the CAM's local thickness (default) or the set's.
    grid : Grid, optional
    """

    parameters: CellParameters
    current_density: float
    given: frozenset[str] = frozenset()
    protocol: str = "discharge"
    axis: int = 0
    slabs: int = 4
    couple_particle_size: bool = True
    grid: Grid | None = None

    def __post_init__(self):
        current = self.current_density
        if not (isinstance(current, (int, float)) and math.isfinite(current) and current > 0):
            raise InvalidInputError(f"the cell's current density must be > 0 A/m^2, got {current!r}")
        object.__setattr__(self, "given", frozenset(self.given))
        unknown = self.given - set(parameter_names())
        if unknown:
            raise InvalidInputError(f"unknown given parameter(s) {', '.join(sorted(unknown))}")
        if self.axis not in (0, 1, 2) or isinstance(self.axis, bool):
            raise InvalidInputError(f"the thickness axis must be 0, 1 or 2, got {self.axis!r}")

    @property
    def se(self) -> str:
        return self.parameters.electrolyte

    cam = "CAM"

    def grid_for(self, slabs: int) -> Grid | None:
        """The grid of the solve: the given one, or None for :func:`~microsim.cell.p2d.default_grid`
        (converged, chosen from the physics, whole slabs per cell group)."""
        return self.grid


@dataclasses.dataclass(frozen=True)
class Export:
    """Files to write: JSON report (``"-"``: none here, the caller prints it), ParaView
    ``.vti`` (streamed during the solves, with a ParaView script beside it) and PNG."""

    json: str | os.PathLike | None = None
    vti: str | os.PathLike | None = None
    png: str | os.PathLike | None = None
    paraview_script: bool = True
    force: bool = False

    @property
    def paths(self) -> list:
        script = None
        if self.vti and self.paraview_script:
            script = _script_path(self.vti)
        return [p for p in (self.json if self.json != "-" else None, self.vti, script, self.png) if p]


def _script_path(vti) -> Path:
    vti = Path(vti)
    return vti.with_name(f"{vti.stem}_paraview.py")


# -- results ------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class CellOutcome:
    """A simulated cell and where each of its parameters came from."""

    result: CellResult
    sources: Mapping[str, str]

    def to_dict(self) -> dict:
        """The report's ``cell`` block: energies, utilisation, losses, and ``parameters``
        with the value, unit and ``source`` (measured, set or given) of each; σ_eff,
        κ_eff there and the ``*_at_T`` entries (source ``arrhenius``) are the values
        at the cell's temperature, the others those of 298.15 K."""
        out = self.result.to_dict()
        p = self.result.parameters
        effective = {"sigma_eff": p.sigma_eff_SE, "kappa_eff": p.kappa_eff_CAM, "area_per_volume": p.interface_area}
        params = {}
        for name in parameter_names():
            value = effective.get(name, getattr(p, name))
            params[name] = {"value": value, "unit": PARAMETER_UNITS.get(name, ""), "source": self.sources.get(name, SET)}
        for name, unit in AT_TEMPERATURE.items():  # σ_eff, κ_eff above are already those at the temperature
            params[name] = {"value": getattr(p, name), "unit": unit, "source": ARRHENIUS}
        out["parameters"] = params
        out["parameter_set"] = p.name
        out["graded"] = p.profile is not None
        if p.profile is not None:
            out["profile"] = dataclasses.asdict(p.profile)
        return out


@dataclasses.dataclass(frozen=True, eq=False)
class PipelineResult:
    """Everything one :func:`run` made; :meth:`report` is the JSON report."""

    micro: Microstructure
    source: str
    transport: tuple[TransportResult, ...] = ()
    segmentation: Segmentation | None = None
    morphology: Morphology | None = None
    profile: dict | None = None
    asr: dict | None = None
    asr_result: AsrResult | None = None
    cell: dict[float, CellOutcome] | None = None
    settings: dict = dataclasses.field(default_factory=dict)
    rank: int = 0

    def report(self) -> dict:
        report = analysis_report(self.micro, self.transport, source=self.source, settings=self.settings,
                                 morphology=self.morphology)
        if self.segmentation is not None:
            report["segmentation"] = self.segmentation.to_dict()
        if self.profile is not None:
            report["profile"] = self.profile
        if self.asr is not None:
            report["asr"] = self.asr
        if self.cell:
            outcomes = list(self.cell.values())
            report["cell"] = outcomes[0].to_dict()
            if len(outcomes) > 1:  # the first is ``cell``; ``cells`` holds every current
                report["cells"] = [o.to_dict() for o in outcomes]
        return report


# -- the steps as functions ---------------------------------------------------------
def load(step: Load, *, labels: bool = False) -> Volume:
    """Read the volume of ``step``; the voxel size is the given one (times the
    downsampling) or the file's."""
    started = time.perf_counter()
    volume = read_volume(step.path, crop=step.crop, downsample_by=step.downsample,
                         labels=labels or step.labels or step.phases is not None)
    _stage(f"import of {step.path} ({'x'.join(map(str, volume.data.shape))} voxels, {volume.data.dtype})", started)
    if step.voxel_size is not None:
        volume = dataclasses.replace(volume, voxel_size=tuple(s * step.downsample for s in step.voxel_size))
    return volume


def segment_volume(volume: Volume, step: Segment, load_step: Load | None = None) -> Segmentation:
    """The segmentation of a grey volume (a labelled one is refused). With scribbles,
    ``load_step`` gives the crop and downsampling the scribbles take as the stack did."""
    if volume.is_labelled:
        raise InvalidInputError(f"{volume.source} is labelled already ({', '.join(volume.phases)}); "
                                "drop --classes (or segment a grey stack)")
    started = time.perf_counter()
    if step.scribbles is not None:
        crop = load_step.crop if load_step is not None else None
        factor = load_step.downsample if load_step is not None else 1
        scribbles = read_scribbles(step.scribbles, volume.stored_shape or volume.data.shape, crop=crop,
                                   downsample_by=factor)
        result = segment_scribbles(volume.data, scribbles, step.classes, n_estimators=step.trees, folds=step.folds,
                                   min_size=step.min_size, seed=step.seed, chunk_bytes=step.chunk_bytes)
    else:
        result = segment(volume.data, step.classes, denoise_method=step.denoise, thresholds=step.thresholds,
                         min_size=step.min_size)
    if step.cbd is not None:
        solid, pore = step.cbd_between or (step.classes[-1], step.classes[0])
        phases = result.phases
        labels = assign_binder(result.labels, step.cbd, solid=phases[solid], pore=phases[pore], binder=len(phases))
        result = dataclasses.replace(result, labels=labels, classes=(*result.classes, "CBD"),
                                     binder={"volume_fraction": step.cbd, "grown_from": solid, "into": pore,
                                             "method": "local solid share (necks and contacts first), sigma 3 voxels"})
    _stage("segmentation (" + ", ".join(f"{k} {v:.3f}" for k, v in result.fractions().items()) + ")", started)
    return result


def to_microstructure(volume: Volume, step: Load, segmentation: Segment | None) -> tuple[Microstructure, Segmentation | None]:
    """The labelled volume: segmented when ``segmentation`` is given, else as labels."""
    result = None
    if volume.is_labelled or step.phases is not None or step.labels:
        if segmentation is not None:
            raise InvalidInputError(f"{volume.source} is labelled already; drop --classes (or segment a grey stack)")
        labels, phases = volume.data, step.phases or volume.phases or DEFAULT_PHASES
    elif segmentation is not None:
        result = segment_volume(volume, segmentation, step)
        labels, phases = result.labels, result.phases
    else:
        raise InvalidInputError(
            f"{volume.source} holds grey values: give --classes (dark to bright, e.g. pore,CBD,NMC) to segment it, "
            "or --phases for a labelled stack")
    if volume.voxel_size is None:
        raise InvalidInputError(f"{volume.source} does not store a voxel size; give it with --voxel-size (e.g. 0.4um)")
    micro = Microstructure(labels, volume.voxel_size, phases, volume.grains)
    log.info("%s voxels of %s m, phases %s", "x".join(map(str, micro.shape)), micro.voxel_size, dict(micro.phases))
    return micro, result


def transport_jobs(micro: Microstructure, solve: Solve, cell: Cell | None = None) -> list[dict[str, float]]:
    """The conductivity tables to solve: the given ones (checked against the volume) or the
    defaults; with a cell, the SE and the CAM alone at the set's values when not given."""
    jobs = [dict(job) for job in solve.conductivities]
    for job in jobs:
        for name in job:
            micro.label_of(name)
            if micro.volume_fraction(name) == 0:
                raise InvalidInputError(f"phase {name!r} is empty in this volume (volume fraction 0)")
        if len(job) == 1 and not any(job.values()):
            raise InvalidInputError(f"a conductivity of 0 for {next(iter(job))} gives nothing to solve")
    if not jobs:
        present = {n for n, f in micro.volume_fractions().items() if f > 0}
        names = [n for n in micro.phases if n != "pore" and n in present]
        if not names and cell is None:
            raise InvalidInputError("the volume holds no conducting phase (only pore); give --sigma PHASE=VALUE")
        bulk = {} if cell is None else {cell.se: cell.parameters.sigma_SE, cell.cam: cell.parameters.kappa_CAM}
        jobs = [{name: bulk.get(name, 1.0)} for name in names]
    if cell is not None:
        for name, value in ((cell.se, cell.parameters.sigma_SE), (cell.cam, cell.parameters.kappa_CAM)):
            micro.label_of(name)
            if not any(list(job) == [name] for job in jobs):
                jobs.append({name: value})
    return jobs


def _solve(micro: Microstructure, jobs, solve: Solve, *, cell: Cell | None, vti: VtiWriter | None,
           files: bool, png: bool, progress: Callable[[str], None]) -> tuple[list[TransportResult], dict | None]:
    """Every job along every axis; fields only where a file or the profile needs them.

    ``files`` (fields for a ``.vti`` or PNG) is the same on every MPI rank, so that every
    rank takes part in the same collective solves; only rank 0 holds the writer ``vti``.
    """
    results: list[TransportResult] = []
    for_profile: dict[str, TransportResult] = {}
    options = dict(periodic=solve.periodic, grain_boundary_resistance=solve.grain_boundary_resistance,
                   interface_resistance=solve.interface_resistance, solver=solve.solver, rtol=solve.rtol)
    for job in jobs:
        name = "+".join(job)
        progress(f"solving {name}")
        started = time.perf_counter()
        axes = list(solve.axes)
        alone = next(iter(job)) if len(job) == 1 else None
        profile_axis = cell.axis if cell is not None and alone in (cell.se, cell.cam) else None
        if profile_axis is not None and profile_axis not in axes:
            axes.append(profile_axis)
        if not files and profile_axis is None:
            results.extend(solve_transport(micro, job, axes=tuple(axes), **options))
        else:  # one axis at a time, so that one solve's fields are in memory at once
            for axis in axes:
                fields = files or axis == profile_axis
                (result,) = solve_transport(micro, job, axes=axis, return_fields=fields, **options)
                if vti is not None:
                    vti.add_result(result)
                if axis == profile_axis:
                    for_profile[alone] = result
                keep = png and result.percolating and not any(r.fields for r in results)
                if axis in solve.axes:
                    results.append(result if keep else dataclasses.replace(result, fields=None))
        _stage("transport of " + name, started)
    profile = None
    gathered = cell is not None and all(r.fields is not None or not r.percolating for r in for_profile.values())
    if gathered:  # under MPI the fields are gathered on rank 0 alone, which runs the cell
        profile = thickness_profile(micro, for_profile[cell.se], for_profile[cell.cam], slabs=cell.slabs,
                                    cam=cell.cam, se=cell.se)
    # the transport records the cell reads (its axis) are kept even when not asked for
    if cell is not None:
        for name in (cell.se, cell.cam):
            r = for_profile[name]
            if not any(x.phase == r.phase and x.axis == r.axis for x in results):
                results.append(dataclasses.replace(r, fields=None))
    return results, profile


def resolved_asr(micro: Microstructure, step: Asr, *, solver=None, fields: bool = False) -> tuple[AsrResult, dict]:
    """The cathode ASR and its JSON record (with the homogenised comparison and the
    electrode tortuosity unless ``step.compare`` is False)."""
    started = time.perf_counter()
    result = cathode_asr(micro, step.sigma_se, step.kappa_cam, step.r_ct, step.r_sp, se=step.se, cam=step.cam,
                         axis=step.axis, current_density=step.current_density, return_fields=fields)
    _stage("cathode ASR" + (f" ({result.asr * 1e4:.4g} ohm cm2)" if result.connected else f": {result.note}"), started)
    out = result.to_dict()
    if result.connected and step.compare:
        started = time.perf_counter()
        out["homogenised"] = homogenised_comparison(micro, step.sigma_se, step.kappa_cam, step.r_ct, step.r_sp,
                                                    se=step.se, cam=step.cam, axis=step.axis,
                                                    current_density=step.current_density, voxel=result)
        if step.current_density is not None:  # the linear voxel ASR beside the one at the current, named
            out["linear_asr_ohm_cm2"] = cathode_asr(micro, step.sigma_se, step.kappa_cam, step.r_ct, step.r_sp,
                                                    se=step.se, cam=step.cam, axis=step.axis).asr * 1e4
        out["tortuosity_factor"] = out["homogenised"]["tortuosity_factor_SE"]  # the same SE solve
        try:
            out["electrode_tortuosity_factor"] = electrode_tortuosity_factor(micro, se=step.se, cam=step.cam,
                                                                             axis=step.axis)
        except InvalidInputError:
            out["electrode_tortuosity_factor"] = None
        _stage("homogenised comparison and electrode tortuosity", started)
    out["settings"] = {"sigma_S_per_m": {step.se: step.sigma_se, step.cam: step.kappa_cam}, "R_CT_ohm_m2": step.r_ct,
                       "R_SP_ohm_m2": step.r_sp, "phases": dict(micro.phases), "voxel_size_m": list(micro.voxel_size),
                       "shape": list(micro.shape)}
    return result, out


def simulate_cell(step: Cell, params: CellParameters | None = None, sources: Mapping[str, str] | None = None, *,
                  profiles: bool = False) -> CellOutcome:
    """The cell of ``step`` (with ``params`` coupled to a volume, when given)."""
    params = params or step.parameters
    if sources is None:
        sources = {name: GIVEN if name in step.given else SET for name in parameter_names()}
    slabs = 1 if params.profile is None else params.profile.slabs
    log.info("simulating %s at %.3g mA/cm2, %s um (%s)", step.protocol, step.current_density / 10,
             round(params.L_cat * 1e6, 6), params.name)
    result = simulate(params, step.current_density, protocol=step.protocol, grid=step.grid_for(slabs),
                      profiles=profiles)
    return CellOutcome(result, dict(sources))


def cell_from_report(report: dict | str | os.PathLike, step: Cell, *, profiles: bool = False) -> CellOutcome:
    """The cell fed by a report of ``run``/``analyze``: the one code path of ``run --cell``,
    ``cell --report`` and the design studies (see :func:`microsim.cell.coupled_parameters`)."""
    params, sources = coupled_parameters(read_report(report), step.parameters, given=step.given, axis=step.axis,
                                         couple_particle_size=step.couple_particle_size)
    measured = ", ".join(sorted(k for k, v in sources.items() if v == MEASURED))
    log.info("cell parameters measured on the volume: %s", measured or "none")
    return simulate_cell(step, params, sources, profiles=profiles)


# -- the whole chain ------------------------------------------------------------------
def run(
    source: Load | Microstructure | str | os.PathLike,
    *,
    segmentation: Segment | None = None,
    measure: bool = True,
    solve: Solve | None = Solve(),
    asr: Asr | None = None,
    cell: Cell | Sequence[Cell] | None = None,
    export: Export | None = None,
    settings: Mapping | None = None,
    progress: Callable[[str], None] | None = None,
) -> PipelineResult:
    """Take ``source`` through load → segment → measure → solve → ASR → cell → export.

    Parameters
    ----------
    source : Load, Microstructure or path
        A path is ``Load(path)``; a Microstructure skips loading and segmentation.
    segmentation : Segment, optional
        Needed for a grey stack.
    measure : bool
        Measure the morphology (areas, connectivity, local thickness).
    solve : Solve or None
        The transport step (None: stop before it; a cell needs it).
    asr : Asr, optional
    cell : Cell or several (one per current density), optional
    export : Export, optional
        Files written; every output path is checked (never an input, never two alike,
        writable, ``force`` to overwrite) before anything is read.
    settings : mapping, optional
        Extra report settings (e.g. the command line).
    progress : callable(str), optional
        Receives a line per stage (default: the module's logger).

    Returns
    -------
    PipelineResult
    """
    progress = progress or log.info
    export = export or Export()
    cells = [] if cell is None else [cell] if isinstance(cell, Cell) else list(cell)
    if cells and solve is None:
        raise InvalidInputError("the cell is fed by the transport: it needs the solve step")
    if cells and len({(c.axis, c.slabs, c.se) for c in cells}) > 1:
        raise InvalidInputError("the cells of one run must share their thickness axis, slabs and electrolyte")
    if not isinstance(source, (Load, Microstructure)):
        source = Load(source)
    inputs = [source.path] if isinstance(source, Load) else []
    if segmentation is not None and segmentation.scribbles is not None:
        inputs.append(segmentation.scribbles)
    check_outputs(export.paths, inputs=inputs, force=export.force)
    if export.vti and Path(export.vti).suffix.lower() != ".vti":
        raise InvalidInputError(f"ParaView image data needs a .vti file name, got {Path(export.vti).name}")
    seg_result = None
    if isinstance(source, Load):
        volume = load(source)
        micro, seg_result = to_microstructure(volume, source, segmentation)
        name = str(source.path)
    else:
        micro, name = source, "<in memory>"
    rank = mpi_ranks()[0] if solve is not None and solve.distributed else 0
    jobs = transport_jobs(micro, solve, cells[0] if cells else None) if solve is not None else []
    if solve is not None and not solve.distributed:  # a volume too large is refused now, not after the morphology
        for job in jobs:
            check_fits(micro, job)
    morphology = None
    if measure and rank == 0:  # the whole volume: measured once, by rank 0
        progress("measuring the morphology")
        started = time.perf_counter()
        morphology = measure_morphology(micro)
        _stage("morphology", started)
    results, profile = [], None
    if solve is not None:
        with contextlib.ExitStack() as stack, warnings.catch_warnings():
            warnings.simplefilter("ignore", PercolationWarning)
            vti = None
            if export.vti and rank == 0:  # streamed: each solve's fields go to the file, then are dropped
                vti = stack.enter_context(VtiWriter(export.vti, micro, force=export.force))
            results, profile = _solve(micro, jobs, solve, cell=cells[0] if cells else None, vti=vti,
                                      files=bool(export.vti or export.png), png=bool(export.png), progress=progress)
            if vti is not None:
                started = time.perf_counter()
                vti.close()
                stack.pop_all()
                _stage(f"ParaView fields written to {export.vti};", started)
                if export.paraview_script:
                    script = write_paraview_script(export.vti, _script_path(export.vti), force=export.force,
                                                   arrays=vti.array_names)
                    log.info("ParaView script written to %s (pvpython %s, or paraview --script=%s)",
                             script, script, script)
    asr_result, asr_record = None, None
    if asr is not None:
        asr_files = solve is None and rank == 0 and bool(export.vti or export.png)  # else the transport's own
        asr_result, asr_record = resolved_asr(micro, asr, fields=asr_files)
        if asr_files and asr_result.connected:
            _write_asr_fields(micro, asr_result, export)
    run_settings = {}
    if solve is not None:
        solver_name = solve.solver if isinstance(solve.solver, str) or solve.solver is None else \
            getattr(solve.solver, "name", type(solve.solver).__name__)
        if solve.distributed:
            solver_name = f"petsc ({solve.solver.resolved_preconditioner()})"
        run_settings = {
            "conductivities_S_per_m": jobs,
            "axes": list(solve.axes),
            "periodic": solve.periodic,
            "grain_boundary_resistance_ohm_m2": dict(solve.grain_boundary_resistance),
            "interface_resistance_ohm_m2": {f"{a}/{b}": r for (a, b), r in solve.interface_resistance.items()},
            "solver": solver_name or "pyamg",
            "rtol": solve.rtol,
        }
    run_settings.update(settings or {})
    result = PipelineResult(micro=micro, source=name, transport=tuple(results), segmentation=seg_result,
                            morphology=morphology, profile=profile, asr=asr_record, asr_result=asr_result,
                            settings=run_settings, rank=rank)
    if cells and rank == 0:
        report = result.report()
        outcomes = {}
        for step in cells:
            outcomes[step.current_density] = cell_from_report(report, step)
        result = dataclasses.replace(result, cell=outcomes)
    if rank == 0:
        write_files(result, export)
    return result


def _write_asr_fields(micro: Microstructure, result: AsrResult, export: Export) -> None:
    """The ASR's potential, current density and reaction current as ``.vti`` (with its
    ParaView script) and the reaction current on the middle slice as PNG."""
    if export.vti:
        extra = {"potential_V": result.fields.potential, "current_density_A_per_m2": result.fields.current_density,
                 "reaction_current_A_per_m3": result.reaction_field}
        write_vti(export.vti, micro, extra=extra, force=export.force)
        log.info("ParaView fields written to %s", export.vti)
        if export.paraview_script:
            write_paraview_script(export.vti, _script_path(export.vti), force=export.force,
                                  arrays=["phase", *(["grain"] if micro.grains is not None else []), *extra])
    if export.png:
        write_slice_png(export.png, micro, field=result.reaction_field,
                        field_title="reaction current [A/m³] into CAM", force=export.force)
        log.info("reaction-current snapshot written to %s", export.png)


def write_files(result: PipelineResult, export: Export) -> None:
    """The JSON report and the PNG of ``export`` (the ``.vti`` is streamed by :func:`run`)."""
    if export.json and export.json != "-":
        write_report(result.report(), export.json, force=export.force)
        log.info("report written to %s", export.json)
    if export.png and result.transport:
        write_slice_png(export.png, result.micro, result.transport, force=export.force)
        log.info("mid-slice snapshot written to %s", export.png)


__all__ = [
    "Asr",
    "Cell",
    "CellOutcome",
    "Export",
    "Load",
    "PipelineResult",
    "Segment",
    "Solve",
    "cell_from_report",
    "load",
    "resolved_asr",
    "run",
    "segment_volume",
    "simulate_cell",
    "to_microstructure",
    "transport_jobs",
    "write_files",
]
