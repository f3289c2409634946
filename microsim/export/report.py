"""Reports of an analysis: the JSON document users' scripts read, and the text table.

The JSON layout is a contract (see README): top-level ``microsim_version``, ``input``,
``shape``, ``voxel_size_m``, ``phases``, ``volume_fractions``, ``backend``, ``ranks`` and ``transport`` (one
record per phase and axis, SI units in the key names). It never holds NaN or
Infinity: undefined or infinite figures are ``null``.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path

from microsim.export.files import atomic_output
from microsim.microstructure import Microstructure
from microsim.morphology import Morphology
from microsim.transport import TransportResult


def software_versions() -> dict[str, str]:
    """Versions of microsim and the packages its numbers depend on."""
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for package in ("microsim", "numpy", "scipy", "pyamg"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "unknown"
    if "petsc4py.PETSc" in sys.modules:  # the PETSc backend ran: its library and MPI too
        PETSc = sys.modules["petsc4py.PETSc"]
        versions["petsc"] = ".".join(map(str, PETSc.Sys.getVersion()))
        versions["petsc4py"] = sys.modules["petsc4py"].__version__
        versions["mpi"] = sys.modules["mpi4py.MPI"].Get_library_version().splitlines()[0].strip(" \x00")
    return versions


def analysis_report(
    micro: Microstructure,
    results: Sequence[TransportResult],
    *,
    source: str,
    settings: dict | None = None,
    morphology: Morphology | None = None,
) -> dict:
    """The JSON-ready report of a transport analysis of ``micro`` (and its morphology).

    ``backend`` is "petsc" when the PETSc backend solved, else "pyamg" (the embedded
    one, whichever in-process solver ran); ``ranks`` is how many MPI ranks shared it.
    """
    from microsim import __version__

    backend = "petsc" if any(r.solver == "petsc" for r in results) else "pyamg"
    return {
        "backend": backend,
        "ranks": max((r.ranks for r in results), default=1),
        "microsim_version": __version__,
        "input": source,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "software": software_versions(),
        "shape": list(micro.shape),
        "voxel_size_m": list(micro.voxel_size),
        "box_size_m": list(micro.size_m),
        "phases": dict(micro.phases),
        "volume_fractions": micro.volume_fractions(),
        "settings": settings or {},
        "morphology": None if morphology is None else morphology.to_dict(),
        "transport": [r.to_dict() for r in results],
    }


def report_json(report: dict) -> str:
    """Serialise a report; NaN or Infinity raise ValueError rather than give invalid JSON."""
    return json.dumps(report, indent=2, allow_nan=False) + "\n"


def write_report(report: dict, path: str | os.PathLike, *, force: bool = False) -> Path:
    """Write ``report`` as JSON atomically; an existing file is replaced only with ``force``."""
    text = report_json(report)
    with atomic_output(path, force=force) as tmp:
        tmp.write_text(text)
    return Path(path)


def transport_table(results: Sequence[TransportResult]) -> str:
    """A fixed-width text table of transport results, units in the column names."""
    header = (
        f"{'phase':<12}{'axis':>5}{'eps':>8}{'connected':>10}{'sigma0 [S/cm]':>15}"
        f"{'sigma_eff [S/cm]':>18}{'tau':>10}{'beta':>8}{'N_M':>10}{'iter':>6}{'time [s]':>10}"
    )
    lines = [header, "-" * len(header)]

    def num(value, fmt):
        if value is None:
            return "n/a"
        if math.isinf(value):
            return "inf"
        return format(value, fmt)

    for r in results:
        lines.append(
            f"{r.phase:<12}{r.axis:>5}{r.volume_fraction:>8.3f}{r.connected_fraction:>10.3f}"
            f"{r.sigma_bulk / 100:>15.3e}{r.sigma_eff / 100:>18.3e}{num(r.tortuosity_factor, '.3f'):>10}"
            f"{num(r.bruggeman_exponent, '.2f'):>8}{num(r.macmullin_number, '.2f'):>10}"
            f"{r.iterations:>6}{r.seconds:>10.2f}"
        )
        if not r.percolating:
            lines[-1] += "   (not percolating)"
    return "\n".join(lines)


def morphology_table(morphology: Morphology) -> str:
    """Per-phase morphology in a fixed-width table: fractions, areas [1/µm], sizes [µm]."""
    header = (
        f"{'phase':<12}{'eps':>8}{'S_v [1/um]':>12}{'spanning 0/1/2':>18}{'isolated':>10}"
        f"{'d50 [um]':>10}{'mean [um]':>11}"
    )
    lines = [header, "-" * len(header)]
    v = morphology.box_volume_m3
    for phase, eps in morphology.volume_fractions.items():
        span = "/".join(f"{f:.2f}" for f in morphology.spanning_fraction[phase])
        size = morphology.thickness[phase] if morphology.thickness else None
        lines.append(
            f"{phase:<12}{eps:>8.3f}{morphology.surface_area_m2[phase] / v * 1e-6:>12.4f}{span:>18}"
            f"{morphology.isolated_fraction[phase]:>10.3f}"
            f"{'n/a' if size is None else format(size.d50 * 1e6, '.3f'):>10}"
            f"{'n/a' if size is None else format(size.mean * 1e6, '.3f'):>11}"
        )
    pairs = ", ".join(f"{k} {a / v * 1e-6:.4f}" for k, a in morphology.interface_area_m2.items() if a > 0)
    lines.append(f"interface area per volume [1/um]: {pairs or 'none'}")
    if morphology.grains:
        g = morphology.grains
        lines.append(f"grains: {g['count']}, mean equivalent diameter {g['mean_diameter_m'] * 1e6:.3f} um")
    return "\n".join(lines)
