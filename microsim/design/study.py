"""What a design study is: its variables, their units and ranges, and the list of points.

A study is a base design (every variable at a value) plus a grid (Cartesian product
of value lists) and/or a list of explicit points that change some variables, each
point run with every seed. Values are SI inside; at the file boundary a length, a
current density or an area resistance may be written with its unit (``"4um"``,
``"10mA/cm2"``, ``"150ohmcm2"``), a bare number being SI.

Study file (TOML, or the same structure as JSON)::

    name = "cam_fraction"
    seeds = [1, 2]
    axes = [0]          # transport axes reported per point ("all" or a list)
    slabs = 4           # through-thickness slabs of the cell model's profile
    max_rows = 100000   # optional: the most (point, seed) rows accepted (default MAX_ROWS)

    [microstructure]
    shape = [64, 64, 64]
    voxel_size = "0.5um"
    cam_fraction = 0.75

    [cell]
    parameter_set = "improved"
    thickness = "100um"
    current_density = "10mA/cm2"
    R_CT = "150ohmcm2"  # any cell parameter by name (microsim cell --param)
    temperature = "80C"  # also 353.15K, or a bare number of kelvin; sweep it in [grid]

    [grid]
    cam_fraction = [0.55, 0.65, 0.75, 0.85]

    [[points]]          # explicit points, on top of the grid
    cam_fraction = 0.7
    cam_gradient = 0.2

A study needs a grid or points: one without either (an empty file, an empty
``[grid]``) is refused; a single empty ``[[points]]`` table runs the base design alone.
A study of more than ``max_rows`` rows is refused before its points are built, with
an estimate of its time (:func:`row_seconds`) and memory (:func:`row_bytes`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from microsim import units
from microsim.errors import InputFileError, InvalidInputError

STUDY_FORMAT = 1  # bumped when the meaning of a column changes

MAX_ROWS = 100_000
"""Default limit of a study's (point, seed) rows; a study may raise it (``max_rows``)."""

# Cost of one (point, seed) on one core, fitted to evaluate() of sintered 32^3 to 160^3
# points (AMG, one thread; this repository's 2-core test machine, 2024):
# 3.3-3.6 us per voxel with axis 0 alone, 5.8-6.6 us with all three axes.
ROW_SECONDS_PER_VOXEL = 2.0e-6
"""Seconds per voxel of one row: generation, morphology and the cell model."""
ROW_SECONDS_PER_VOXEL_AXIS = 1.5e-6
"""Seconds per voxel and reported axis of one row: the SE and CAM solves."""
ROW_SECONDS_FIXED = 0.1
"""Seconds of one row that do not grow with its voxels (the cell model's time steps)."""
ROW_BYTES_PER_VOXEL = 300
"""Peak memory of one row per voxel [bytes]: measured 250-290 B at 96^3-160^3 (the labels,
distance maps, the conductance network and the AMG hierarchy of one solve), rounded up."""
WORKER_BYTES = 128 << 20
"""Memory of a worker process before its first row [bytes] (Python, numpy, scipy, pyamg)."""


def row_seconds(voxels: int, axes: int = 1) -> float:
    """Estimated seconds of one (point, seed) with ``voxels`` voxels and ``axes`` reported axes, on one core."""
    return ROW_SECONDS_FIXED + voxels * (ROW_SECONDS_PER_VOXEL + axes * ROW_SECONDS_PER_VOXEL_AXIS)


def row_bytes(voxels: int) -> int:
    """Estimated peak memory of a worker process running one (point, seed) of ``voxels`` voxels [bytes]."""
    return WORKER_BYTES + voxels * ROW_BYTES_PER_VOXEL


def format_bytes(n: float) -> str:
    """``n`` bytes as GB (or MB under one GB)."""
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


def format_hours(seconds: float) -> str:
    """A duration as hours (minutes or seconds when it is short)."""
    if seconds >= 3600:
        return f"{seconds / 3600:,.1f} h"
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


@dataclass(frozen=True)
class Variable:
    """A design variable: its section, default, parser, check, and how it is tabulated.

    ``scale`` converts the SI value into the table's unit (``column`` names it).
    """

    name: str
    section: str
    default: object
    parse: Callable[[object], object]
    check: Callable[[object], str | None]
    column: str
    scale: float = 1.0
    description: str = ""
    #: False for a variable added after tables were written: at its default it stays out
    #: of the point and study ids, so those tables still resume
    in_id_at_default: bool = True


def _number(value) -> float:
    if isinstance(value, bool):
        raise InvalidInputError(f"expected a number, got {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"expected a number, got {value!r}") from None
    if not math.isfinite(out):
        raise InvalidInputError(f"expected a finite number, got {value!r}")
    return out


def _with_unit(parser) -> Callable[[object], float]:
    def parse(value):
        return parser(value) if isinstance(value, str) else _number(value)

    return parse


def _optional(parse) -> Callable[[object], object]:
    return lambda value: None if value in (None, "", "none") else parse(value)


def _shape(value) -> tuple[int, int, int]:
    dims = [value] * 3 if isinstance(value, (int, float)) else list(value) if isinstance(value, (list, tuple)) else None
    if dims is None or len(dims) != 3 or any(not isinstance(n, (int, float)) or isinstance(n, bool) or int(n) != n
                                             for n in dims):
        raise InvalidInputError(f"expected one integer or three (axis 0, 1, 2), got {value!r}")
    return tuple(int(n) for n in dims)


def _cell_grid(value) -> tuple[int, int, int]:
    """``"n_x,n_r,n_t"`` or three integers: the cell model's grid."""
    parts = value.split(",") if isinstance(value, str) else value if isinstance(value, (list, tuple)) else None
    try:
        counts = [int(p) if isinstance(p, str) else p for p in parts] if parts is not None else []
    except ValueError:
        counts = []
    if len(counts) != 3 or any(isinstance(n, bool) or not isinstance(n, int) for n in counts):
        raise InvalidInputError(f"expected three integers n_x,n_r,n_t, got {value!r}")
    return tuple(counts)


def _check_cell_grid(v) -> str | None:
    return None if v is None or all(1 <= n <= 100_000 for n in v) else "needs counts from 1 to 100000"


def _text(value) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(f"expected a text, got {value!r}")
    return value


def _flag(value) -> bool:
    if not isinstance(value, bool):
        raise InvalidInputError(f"expected true or false, got {value!r}")
    return value


def _within(lo: float, hi: float, *, open_lo=False, open_hi=False) -> Callable[[object], str | None]:
    def check(v):
        if v is None:
            return None
        ok = (v > lo if open_lo else v >= lo) and (v < hi if open_hi else v <= hi)
        return None if ok else f"must lie in {'(' if open_lo else '['}{lo:g}, {hi:g}{')' if open_hi else ']'}"

    return check


def _one_of(*options) -> Callable[[object], str | None]:
    return lambda v: None if v in options else f"must be one of {', '.join(map(str, options))}"


def _check_shape(v) -> str | None:
    return None if all(8 <= n <= 2048 for n in v) else "needs 8 to 2048 voxels per axis"


_LENGTH = _with_unit(units.parse_length)
_MICRO = 1e6

VARIABLES: dict[str, Variable] = {v.name: v for v in (
    Variable("shape", "microstructure", (64, 64, 64), _shape, _check_shape, "shape_voxels",
             description="voxels along axes 0 (thickness), 1, 2"),
    Variable("voxel_size", "microstructure", 0.5e-6, _LENGTH, _within(1e-9, 1e-3, open_lo=True), "voxel_size_um",
             _MICRO, "isotropic voxel edge"),
    Variable("packing", "microstructure", "sintered", _text, _one_of("sintered", "overlapping"), "packing"),
    Variable("overlap", "microstructure", 0.2, _number, _within(0.0, 0.9), "overlap",
             description="sintered packing: allowed interpenetration, share of the sum of radii"),
    Variable("cam_fraction", "microstructure", 0.75, _number, _within(0.0, 1.0, open_lo=True, open_hi=True),
             "cam_fraction", description="mean CAM volume fraction of the composite"),
    Variable("porosity", "microstructure", 0.0, _number, _within(0.0, 0.6), "porosity",
             description="pore volume fraction; the SE fills the rest"),
    Variable("cam_d50", "microstructure", 4e-6, _LENGTH, _within(0.0, 1e-3, open_lo=True), "cam_d50_um", _MICRO,
             "median CAM particle diameter (also the cell model's d50_CAM unless couple_particle_size = false)"),
    Variable("se_d50", "microstructure", 2e-6, _LENGTH, _within(0.0, 1e-3, open_lo=True), "se_d50_um", _MICRO,
             "median SE particle diameter"),
    Variable("cam_spread", "microstructure", 0.0, _number, _within(0.0, 1.0), "cam_spread",
             description="standard deviation of ln d of the CAM particles (0: one size)"),
    Variable("se_spread", "microstructure", 0.0, _number, _within(0.0, 1.0), "se_spread"),
    Variable("cam_gradient", "microstructure", 0.0, _number, _within(-1.0, 1.0), "cam_gradient",
             description="CAM fraction at the collector minus at the separator, linear, same mean"),
    Variable("grain_size", "microstructure", None, _optional(_LENGTH), _within(0.0, 1e-3, open_lo=True),
             "grain_size_um", _MICRO, "mean SE grain diameter (Voronoi grains); none: no grains"),
    Variable("gb_resistance", "microstructure", 0.0, _with_unit(units.parse_area_resistance), _within(0.0, 1.0),
             "gb_resistance_ohm_cm2", 1e4, "SE grain-boundary resistance, resolved in the solve (needs grain_size)"),
    Variable("parameter_set", "cell", "improved", _text, lambda v: None, "parameter_set",
             description="cell parameter set: improved, state_of_the_art or a JSON file"),
    Variable("thickness", "cell", 100e-6, _LENGTH, _within(1e-6, 2e-3), "thickness_um", _MICRO, "cathode thickness"),
    Variable("current_density", "cell", 100.0, _with_unit(units.parse_current_density),
             _within(0.0, 1e4, open_lo=True), "current_density_mA_per_cm2", 0.1, "discharge current density"),
    Variable("protocol", "cell", "discharge", _text, _one_of("discharge", "charge-discharge"), "protocol"),
    Variable("couple_particle_size", "cell", True, _flag, lambda v: None, "couple_particle_size",
             description="the cell model's CAM particle diameter is the microstructure's cam_d50"),
    Variable("cell_grid", "cell", None, _optional(_cell_grid), _check_cell_grid, "cell_grid",
             description="the cell model's n_x,n_r,n_t (none: chosen from the physics of each point)",
             in_id_at_default=False),
)}


def cell_parameter_variable(name: str) -> Variable:
    """A cell parameter (``R_CT``, ``sigma_SE``, ...) as a design variable, tabulated in SI."""
    from microsim.cell.parameters import parameter_names, parse_parameter

    if name not in parameter_names() or name in ("L_cat", "eps_CAM", "eps_SE"):
        raise InvalidInputError(f"unknown study key {name!r}")

    def parse(value):
        if isinstance(value, str):
            return parse_parameter(name, value)
        return value if isinstance(value, bool) else _number(value)  # a bare number is SI

    if name == "temperature":  # "80C", "353.15K" or a bare number of kelvin (SI)
        from microsim.cell.parameters import TEMPERATURE_RANGE_K

        return Variable(name, "cell", None, parse, _within(*TEMPERATURE_RANGE_K), "cell_temperature_K",
                        description="cell temperature (the set's values hold at 298.15 K; Arrhenius laws)")
    return Variable(name, "cell", None, parse, lambda v: None, f"cell_{name}_SI")


def lookup(name: str) -> Variable:
    """The variable called ``name`` (``section.name`` accepted); an unknown one lists the known ones."""
    key = name.split(".", 1)[1] if "." in name else name
    section = name.split(".", 1)[0] if "." in name else None
    if key in VARIABLES and section in (None, VARIABLES[key].section):
        return VARIABLES[key]
    if section in (None, "cell"):
        try:
            return cell_parameter_variable(key)
        except InvalidInputError:
            pass
    raise InvalidInputError(f"unknown study key {name!r}; keys are {', '.join(VARIABLES)} "
                            f"and cell parameters by name (R_CT, sigma_SE, ...)")


@dataclass(frozen=True)
class DesignPoint:
    """One design: every variable at a value (SI), checked as a whole.

    ``values`` maps variable names to values; :meth:`id` is a short hash of them.
    """

    values: Mapping[str, object]

    def __post_init__(self):
        values = {name: v.default for name, v in VARIABLES.items()}
        for name, raw in dict(self.values).items():
            var = lookup(name)
            try:
                value = var.parse(raw)
            except (TypeError, ValueError) as exc:  # InvalidInputError is a ValueError too
                raise InvalidInputError(f"{var.name}: {exc}") from None
            problem = var.check(value)
            if problem:
                raise InvalidInputError(f"{var.name} = {raw!r} {problem}")
            if isinstance(value, float):  # "50um" and 50e-6 are the same design (and id)
                value = float(f"{value:.12g}")
            values[var.name] = value
        object.__setattr__(self, "values", values)
        self._check_together()

    def __getitem__(self, name: str):
        return self.values[name]

    def _check_together(self) -> None:
        v = self.values
        lo, hi = self.cam_profile
        if not (0 < lo and hi < 1 - v["porosity"]):
            raise InvalidInputError(
                f"cam_fraction {v['cam_fraction']:g} with cam_gradient {v['cam_gradient']:g} and porosity "
                f"{v['porosity']:g} gives CAM fractions {lo:.3g} to {hi:.3g}: each must lie in (0, 1 - porosity)")
        if v["couple_particle_size"] and "d50_CAM" in v:
            raise InvalidInputError("d50_CAM is the microstructure's cam_d50 while couple_particle_size = true")
        if v["gb_resistance"] > 0 and v["grain_size"] is None:
            raise InvalidInputError("gb_resistance needs grain_size (the grains the boundaries lie between)")
        for key in ("cam_d50", "se_d50"):
            if v[key] / 2 < 0.75 * v["voxel_size"]:
                raise InvalidInputError(f"{key} = {v[key]:.3g} m is under 1.5 voxels of {v['voxel_size']:.3g} m")
            if v[key] > 0.5 * min(v["shape"]) * v["voxel_size"]:
                raise InvalidInputError(f"{key} = {v[key]:.3g} m is over half the box "
                                        f"({min(v['shape'])} voxels of {v['voxel_size']:.3g} m)")
        from microsim.cell.parameters import get_parameter_set

        get_parameter_set(v["parameter_set"])  # an unknown set lists the valid ones

    @property
    def cam_profile(self) -> tuple[float, float]:
        """CAM fraction at the separator and at the collector side."""
        half = self.values["cam_fraction"], self.values["cam_gradient"] / 2
        return half[0] - half[1], half[0] + half[1]

    def key_values(self) -> dict:
        """JSON-ready values (tuples as lists) in variable order."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.values.items()
                if VARIABLES.get(k) is None or VARIABLES[k].in_id_at_default or v != VARIABLES[k].default}

    def id(self) -> str:
        return _digest(self.key_values())

    def row(self) -> dict:
        """The point's inputs as table columns, in the table's units."""
        out = {}
        for name, value in self.values.items():
            var = lookup(name)
            if isinstance(value, tuple):
                out[var.column] = "x".join(map(str, value))
            elif isinstance(value, float) and var.scale != 1.0:
                out[var.column] = float(f"{value * var.scale:.12g}")
            else:
                out[var.column] = value
        return out


def _digest(payload) -> str:
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Study:
    """A design study: named base values, swept values, seeds and solve options.

    Parameters
    ----------
    name : str
    base : mapping variable -> value
        Values that every point shares (units as in a study file, or SI numbers).
    grid : mapping variable -> list of values, optional
        Every combination is a point (Cartesian product, in the order given).
    points : list of mappings, optional
        Explicit points (changes to ``base``), run after the grid's.
    seeds : sequence of int
        Every point is generated and solved once per seed.
    axes : "all" or sequence of int
        Transport axes reported per point (axis 0, the thickness, always feeds the cell).
    slabs : int
        Through-thickness slabs of the profile handed to the cell model.
    max_rows : int
        The most (point, seed) rows accepted (default :data:`MAX_ROWS`); a larger study
        is refused before its points are built. Not part of the study's identity.
    source : path, optional
        The study file it was read from (:func:`load_study` sets it): :func:`run_study`
        refuses to write its table over it. Not part of the study's identity.

    Raises
    ------
    InvalidInputError
        A bad value; no grid and no points; more rows than ``max_rows``.
    """

    name: str
    base: Mapping[str, object] = dataclasses.field(default_factory=dict)
    grid: Mapping[str, Sequence] = dataclasses.field(default_factory=dict)
    points: Sequence[Mapping[str, object]] = ()
    seeds: Sequence[int] = (1,)
    axes: object = (0,)
    slabs: int = 4
    max_rows: int = MAX_ROWS
    source: Path | None = dataclasses.field(default=None, compare=False, repr=False)
    _points: tuple = dataclasses.field(default=(), init=False, compare=False, repr=False)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise InvalidInputError(f"a study needs a name, got {self.name!r}")
        seeds = self.seeds if isinstance(self.seeds, (list, tuple)) else [self.seeds]
        if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds) \
                or len(set(seeds)) != len(seeds):
            raise InvalidInputError(f"seeds must be distinct non-negative integers, got {self.seeds!r}")
        object.__setattr__(self, "seeds", tuple(seeds))
        axes = (0, 1, 2) if self.axes == "all" else self.axes
        axes = (axes,) if isinstance(axes, int) else axes
        if not isinstance(axes, (list, tuple)) or not axes or any(a not in (0, 1, 2) for a in axes) \
                or len(set(axes)) != len(axes):
            raise InvalidInputError(f"axes must be 'all' or distinct axes among 0, 1, 2, got {self.axes!r}")
        object.__setattr__(self, "axes", tuple(sorted(int(a) for a in axes)))
        if isinstance(self.slabs, bool) or not isinstance(self.slabs, int) or not 1 <= self.slabs <= 64:
            raise InvalidInputError(f"slabs must be an integer from 1 to 64, got {self.slabs!r}")
        for name, values in dict(self.grid).items():
            lookup(name)
            if not isinstance(values, (list, tuple)) or not values:
                raise InvalidInputError(f"grid entry {name!r} must be a non-empty list of values, got {values!r}")
        if not isinstance(self.points, (list, tuple)) or any(not isinstance(p, Mapping) for p in self.points):
            raise InvalidInputError("points must be a list of tables (variable = value)")
        for key in self.base:
            lookup(key)
        if isinstance(self.max_rows, bool) or not isinstance(self.max_rows, int) or self.max_rows < 1:
            raise InvalidInputError(f"max_rows must be a positive integer, got {self.max_rows!r}")
        if not self.grid and not self.points:
            raise InvalidInputError("the study has no design point: give a [grid] of values or [[points]] "
                                    "(an empty [grid] is none; one empty [[points]] table runs the base design)")
        self._check_size()
        object.__setattr__(self, "_points", tuple(self._build_points()))

    def _check_size(self) -> None:
        """Refuse more than ``max_rows`` rows from their count alone, before any point is built."""
        points = math.prod(len(v) for v in self.grid.values()) if self.grid else 0
        points += len(self.points)
        rows = points * len(self.seeds)
        if rows <= self.max_rows:
            return
        shapes = list(self.grid.get("shape", [])) or [self.base.get("shape", VARIABLES["shape"].default)]
        try:
            voxels = sum(math.prod(_shape(s)) for s in shapes) / len(shapes)
        except InvalidInputError:
            voxels = math.prod(VARIABLES["shape"].default)
        seconds = rows * row_seconds(int(voxels), len(self.axes))
        cores = os.cpu_count() or 1
        raise InvalidInputError(
            f"the study has {rows:,} rows ({points:,} points x {len(self.seeds)} seeds), over the limit of "
            f"{self.max_rows:,}: about {format_hours(seconds)} on one core, {format_hours(seconds / cores)} on "
            f"this machine's {cores}, and {format_bytes(row_bytes(int(voxels)))} per worker (estimates); split the "
            f"grid into several studies or reduce the seeds, or set max_rows = {rows} in the study file to run it")

    def design_points(self) -> list[DesignPoint]:
        """Every design point, grid first, duplicates removed, each checked (bad ones raise)."""
        return list(self._points)

    def _build_points(self) -> list[DesignPoint]:
        names = list(self.grid)
        changes = [dict(zip(names, combo)) for combo in itertools.product(*self.grid.values())] if names else []
        changes += [dict(p) for p in self.points]
        out, seen = [], set()
        for change in changes:
            try:
                point = DesignPoint({**dict(self.base), **change})
            except InvalidInputError as exc:
                where = ", ".join(f"{k}={v!r}" for k, v in change.items()) or "the base design"
                raise InvalidInputError(f"design point {where}: {exc}") from None
            if point.id() not in seen:
                seen.add(point.id())
                out.append(point)
        return out

    @property
    def swept(self) -> list[str]:
        """Canonical names of the variables that the grid or the points change."""
        keys = list(self.grid) + [k for p in self.points for k in p]
        return list(dict.fromkeys(lookup(k).name for k in keys))

    def id(self) -> str:
        """Hash of what every row of this study shares: the base values of the variables
        no point changes, which variables are swept, the axes, the slabs and the format.
        Rows of a grid extended with more values or seeds belong to the same study."""
        swept = set(self.swept)
        base = {k: v for k, v in DesignPoint(self.base).key_values().items() if k not in swept}
        return _digest({"name": self.name, "base": base, "swept": sorted(swept), "axes": self.axes,
                        "slabs": self.slabs, "format": STUDY_FORMAT})

    def tasks(self) -> list[tuple[DesignPoint, int]]:
        """Every (point, seed) to run, points outer."""
        return [(p, s) for p in self.design_points() for s in self.seeds]


_STUDY_KEYS = {"name", "seeds", "axes", "slabs", "max_rows", "microstructure", "cell", "grid", "points"}


def study_from_dict(data: Mapping, *, default_name: str = "study", source: str | Path | None = None) -> Study:
    """A :class:`Study` from the structure of a study file; unknown keys are refused.

    ``source`` is the file it was read from (kept as :attr:`Study.source`)."""
    if not isinstance(data, Mapping):
        raise InvalidInputError("a study file must hold a table of keys")
    unknown = set(data) - _STUDY_KEYS
    if unknown:
        raise InvalidInputError(f"unknown study key(s) {', '.join(sorted(unknown))}; "
                                f"a study file has {', '.join(sorted(_STUDY_KEYS))}")
    base = {}
    for section in ("microstructure", "cell"):
        table = data.get(section, {})
        if not isinstance(table, Mapping):
            raise InvalidInputError(f"[{section}] must be a table of variable = value")
        for key, value in table.items():
            var = lookup(f"{section}.{key}")
            base[var.name] = value
    grid = data.get("grid", {})
    if not isinstance(grid, Mapping):
        raise InvalidInputError("[grid] must be a table of variable = [values]")
    return Study(name=str(data.get("name", default_name)), base=base, grid=dict(grid),
                 points=list(data.get("points", [])), seeds=data.get("seeds", [1]),
                 axes=data.get("axes", [0]), slabs=data.get("slabs", 4), max_rows=data.get("max_rows", MAX_ROWS),
                 source=None if source is None else Path(source))


def load_study(path: str | Path) -> Study:
    """Read a study file (``.toml``, or ``.json`` with the same structure)."""
    path = Path(path)
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise InputFileError(f"study file {path} does not exist") from None
    except OSError as exc:
        raise InputFileError(f"cannot read study file {path}: {exc}") from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                import tomli as tomllib
            data = tomllib.loads(text.decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputFileError(f"study file {path} is not valid {path.suffix.lstrip('.') or 'TOML'}: {exc}") from None
    if isinstance(data, Mapping) and not data:
        raise InvalidInputError(f"study file {path} is empty: it needs a [grid] of values or [[points]] "
                                f"(see examples/cam_fraction.toml)")
    return study_from_dict(data, default_name=path.stem, source=path)
