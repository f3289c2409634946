"""Parsing of quantities with units at the command-line boundary.

Inside microsim everything is SI; strings such as ``"0.4um"``, ``"10nm,10nm,20nm"``
or ``"8e-4S/cm"`` are turned into metres and siemens per metre here, and only here.
"""

from __future__ import annotations

import math
import re

from microsim.errors import UnitError

_LENGTH_UNITS = {
    "m": 1.0,
    "cm": 1e-2,
    "mm": 1e-3,
    "um": 1e-6,
    "µm": 1e-6,
    "μm": 1e-6,
    "micron": 1e-6,
    "nm": 1e-9,
}
_CONDUCTIVITY_UNITS = {
    "s/m": 1.0,
    "s/cm": 1e2,
    "ms/cm": 1e-1,
    "us/cm": 1e-4,
    "µs/cm": 1e-4,
    "ms/m": 1e-3,
}
_CURRENT_DENSITY_UNITS = {
    "a/m2": 1.0,
    "ma/cm2": 10.0,
    "a/cm2": 1e4,
    "ua/cm2": 1e-2,
    "µa/cm2": 1e-2,
}
_DIFFUSIVITY_UNITS = {"m2/s": 1.0, "cm2/s": 1e-4}
_RESISTANCE_AREA_UNITS = {
    "ohmm2": 1.0,
    "ohm*m2": 1.0,
    "ohmcm2": 1e-4,
    "ohm*cm2": 1e-4,
    "ωcm2": 1e-4,
    "ω*cm2": 1e-4,
    "ωm2": 1.0,
}
_NUMBER = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")


def length_unit_scale(unit) -> float | None:
    """Metres in one ``unit`` as image metadata spell it (``um``, ``µm``, ``micron``,
    ``nanometer``, ...), or None when it is not a length unit."""
    key = str(unit or "").strip().replace("\\u00B5", "u").replace("µ", "u").replace("μ", "u")
    key = {"microns": "micron", "micrometer": "um", "micrometre": "um", "nanometer": "nm",
           "nanometre": "nm", "millimeter": "mm", "millimetre": "mm"}.get(key, key)
    return _LENGTH_UNITS.get(key)


def _parse(text: str, units: dict[str, float], what: str, *, positive: bool) -> float:
    match = _NUMBER.match(str(text))
    if match is None:
        raise UnitError(f"expected {what} as a number with a unit (e.g. {_example(what)}), got {text!r}")
    number, unit = match.groups()
    if not unit:
        raise UnitError(f"{what} {text!r} has no unit; write it with one, e.g. {_example(what)}")
    key = unit.replace(" ", "").replace("·", "*").replace("Ω", "ω")
    key = key if key in units else key.lower()
    if key not in units:
        known = ", ".join(sorted({u for u in units if u.isascii()}))
        raise UnitError(f"unknown unit {unit!r} for {what} in {text!r}; known units: {known}")
    value = float(number) * units[key]
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise UnitError(f"{what} must be finite and {bound}, got {text!r}")
    return value


def _example(what: str) -> str:
    return {"length": "0.4um", "conductivity": "8e-4S/cm", "area resistance": "10ohmcm2",
            "current density": "1mA/cm2", "diffusivity": "2.5e-11cm2/s"}[what]


def parse_length(text: str) -> float:
    """Parse a length such as ``"0.4um"`` or ``"50 nm"`` into metres (> 0)."""
    return _parse(text, _LENGTH_UNITS, "length", positive=True)


def parse_voxel_size(text: str) -> tuple[float, float, float]:
    """Parse ``"0.4um"`` (isotropic) or ``"10nm,10nm,20nm"`` (per array axis) into metres."""
    parts = [p for p in str(text).split(",")]
    if len(parts) not in (1, 3):
        raise UnitError(f"voxel size must be one length or three (axis 0,1,2), got {text!r}")
    sizes = tuple(parse_length(p) for p in parts)
    return sizes * 3 if len(sizes) == 1 else sizes  # type: ignore[return-value]


def parse_conductivity(text: str) -> float:
    """Parse a conductivity such as ``"8e-4S/cm"`` into S/m (>= 0; 0 blocks)."""
    return _parse(text, _CONDUCTIVITY_UNITS, "conductivity", positive=False)


def parse_area_resistance(text: str) -> float:
    """Parse an area-specific resistance such as ``"10ohmcm2"`` into Ω·m² (>= 0)."""
    return _parse(text, _RESISTANCE_AREA_UNITS, "area resistance", positive=False)


def parse_current_density(text: str) -> float:
    """Parse a current density such as ``"1mA/cm2"`` into A/m² (> 0)."""
    return _parse(text, _CURRENT_DENSITY_UNITS, "current density", positive=True)


def parse_diffusivity(text: str) -> float:
    """Parse a diffusion coefficient such as ``"2.54e-11cm2/s"`` into m²/s (> 0)."""
    return _parse(text, _DIFFUSIVITY_UNITS, "diffusivity", positive=True)
