"""Parsing of quantities with units at the command-line boundary.

Inside microsim everything is SI; strings such as ``"0.4um"``, ``"10nm,10nm,20nm"``
or ``"8e-4S/cm"`` are turned into metres and siemens per metre here, and only here.

Units are read as SI writes them, case-sensitively: ``M`` is mega and ``m`` milli,
``S`` siemens and ``s`` second, so ``"11MS/m"`` is 1.1e7 S/m and ``"1mS/cm"`` 0.1 S/m.
Prefixes: ``M`` (1e6), ``k`` (1e3), ``m`` (1e-3), ``µ`` = ``μ`` = ``u`` (1e-6), ``n``
(1e-9), ``p`` (1e-12); ``c`` (1e-2) only in lengths (``cm``, ``cm2``). A unit that
is valid only in another case (``"ms/cm"``, ``"MA/CM2"``) is refused with the
spelling it may have meant, never guessed.

Temperatures are kelvin (``"353.15K"``) or degrees Celsius (``"80C"``, ``"80°C"``);
a bare number is refused (K or °C cannot be told apart), and so are ``"80c"`` and
``"353k"`` (``k`` is kilo), each with the spelling it may have meant. Activation
energies are J/mol, kJ/mol, eV or meV (``"0.3eV"`` is 28.9 kJ/mol).
"""

from __future__ import annotations

import math
import re

from microsim.constants import FARADAY, ZERO_CELSIUS
from microsim.errors import UnitError

_PREFIXES = {"M": 1e6, "k": 1e3, "": 1.0, "m": 1e-3, "µ": 1e-6, "μ": 1e-6, "u": 1e-6, "n": 1e-9, "p": 1e-12}
_METRE = {"m": 1.0, "cm": 1e-2, "mm": 1e-3}  # lengths in denominators and areas


def _prefixed(symbol: str, scale: float = 1.0) -> dict[str, float]:
    return {p + symbol: f * scale for p, f in _PREFIXES.items()}


def _per(numerators: dict[str, float], denominators: dict[str, float]) -> dict[str, float]:
    return {f"{n}/{d}": a / b for n, a in numerators.items() for d, b in denominators.items()}


_LENGTH_UNITS = {**_prefixed("m"), "cm": 1e-2, "micron": 1e-6, "microns": 1e-6, "Å": 1e-10, "angstrom": 1e-10}
_AREAS = {f"{u}2": f * f for u, f in _METRE.items()}
_CONDUCTIVITY_UNITS = _per(_prefixed("S"), _METRE)
_CURRENT_DENSITY_UNITS = _per(_prefixed("A"), _AREAS)
_DIFFUSIVITY_UNITS = _per({f"{u}2": f * f for u, f in _LENGTH_UNITS.items() if u.endswith("m")}, {"s": 1.0})
_RESISTANCE_AREA_UNITS = {
    f"{r}{a}": f * g for ohm in ("Ω", "ohm", "Ohm") for r, f in _prefixed(ohm).items() for a, g in _AREAS.items()
}
_ACTIVATION_ENERGY_UNITS = {"J/mol": 1.0, "kJ/mol": 1e3, "eV": FARADAY, "meV": FARADAY * 1e-3}
_AREA_CAPACITANCE_UNITS = _per(_prefixed("F"), _AREAS)
_FREQUENCY_UNITS = _prefixed("Hz")
_KINDS = {  # what the unit tables hold, for the messages: the kind, its base forms, an example
    "length": (_LENGTH_UNITS, "m (with a prefix: nm, µm or um, mm, ...), cm, micron, Å", "0.4um"),
    "conductivity": (_CONDUCTIVITY_UNITS, "S/m, S/cm, S/mm (with a prefix: mS/cm, µS/cm, kS/m, MS/m, ...)",
                     "8e-4S/cm"),
    "area resistance": (_RESISTANCE_AREA_UNITS, "Ωm2, Ωcm2 (or ohm, with an optional * or ·: ohm*cm2; "
                        "with a prefix: mΩcm2, kΩcm2, ...)", "10ohmcm2"),
    "current density": (_CURRENT_DENSITY_UNITS, "A/m2, A/cm2 (with a prefix: mA/cm2, µA/cm2, kA/m2, ...)",
                        "1mA/cm2"),
    "diffusivity": (_DIFFUSIVITY_UNITS, "m2/s, cm2/s (or mm2/s, µm2/s, nm2/s)", "2.5e-11cm2/s"),
    "activation energy": (_ACTIVATION_ENERGY_UNITS, "J/mol, kJ/mol, eV, meV", "0.3eV"),
    "area capacitance": (_AREA_CAPACITANCE_UNITS, "F/m2, F/cm2 (with a prefix: µF/cm2 or uF/cm2, nF/cm2, mF/m2, ...)",
                         "1uF/cm2"),
    "frequency": (_FREQUENCY_UNITS, "Hz (with a prefix: mHz, kHz, MHz, ...)", "10kHz"),
}
#: temperature units: name -> (scale, offset) to kelvin
_TEMPERATURE_UNITS = {"K": (1.0, 0.0), "C": (1.0, ZERO_CELSIUS), "°C": (1.0, ZERO_CELSIUS),
                      "degC": (1.0, ZERO_CELSIUS)}
_TEMPERATURE_FORMS = "80C, 80°C or 353.15K (K kelvin, C or °C degrees Celsius)"
_NUMBER = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")
_METADATA_LENGTHS = {  # image metadata spell lengths freely; compared in lower case
    "m": 1.0, "cm": 1e-2, "mm": 1e-3, "um": 1e-6, "micron": 1e-6, "microns": 1e-6, "nm": 1e-9,
    "micrometer": 1e-6, "micrometre": 1e-6, "nanometer": 1e-9, "nanometre": 1e-9, "millimeter": 1e-3,
    "millimetre": 1e-3, "å": 1e-10, "angstrom": 1e-10,
}


def length_unit_scale(unit) -> float | None:
    """Metres in one ``unit`` as image metadata spell it (``um``, ``µm``, ``micron``,
    ``nanometer``, ...), or None when it is not a length unit.

    Metadata are not typed by people, so case is ignored here (``"UM"`` is a
    micrometre), unlike on the command line.

    Examples
    --------
    >>> length_unit_scale("\\\\u00B5m"), length_unit_scale("Micron"), length_unit_scale("pixel")
    (1e-06, 1e-06, None)
    """
    key = str(unit or "").strip().replace("\\u00B5", "u").replace("µ", "u").replace("μ", "u")
    return _METADATA_LENGTHS.get(key.replace("\u212b", "Å").lower())


def _normalise(unit: str) -> str:
    """Spacing, multiplication signs and exponent spellings removed; case kept."""
    key = re.sub(r"\s+", "", unit).replace("·", "").replace("*", "").replace("\u22c5", "")
    return key.replace("^2", "2").replace("²", "2").replace("\u212b", "Å").replace("\u2126", "Ω")


def _suggestions(key: str, units: dict[str, float]) -> list[str]:
    """Units equal to ``key`` but for case, those changing the fewest letters first."""
    same = [u for u in units if u.lower() == key.lower() and len(u) == len(key)]
    return sorted(same, key=lambda u: (sum(a != b for a, b in zip(u, key)), u.swapcase()))


def _unknown_unit(unit: str, key: str, text: str, what: str) -> UnitError:
    units, known, _ = _KINDS[what]
    close = _suggestions(key, units)
    if close:
        meant = " or ".join(repr(u) for u in close[:3])
        return UnitError(f"unknown unit {unit!r} for {what} in {text!r}: units are case-sensitive, as SI writes "
                         f"them (M mega, m milli, S siemens, s second, A ampere); did you mean {meant}?")
    other = [kind for kind, (table, _, _) in _KINDS.items() if kind != what and key in table]
    hint = f" ({unit!r} is a unit of {other[0]})" if other else ""
    return UnitError(f"unknown unit {unit!r} for {what} in {text!r}{hint}; known units: {known}")


def _parse(text: str, what: str, *, positive: bool) -> float:
    units, _, example = _KINDS[what]
    match = _NUMBER.match(str(text))
    if match is None:
        raise UnitError(f"expected {what} as a number with a unit (e.g. {example}), got {text!r}")
    number, unit = match.groups()
    if not unit:
        raise UnitError(f"{what} {text!r} has no unit; write it with one, e.g. {example}")
    key = _normalise(unit)
    if key not in units:
        raise _unknown_unit(unit, key, str(text), what)
    value = float(number) * units[key]
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise UnitError(f"{what} must be finite and {bound}, got {text!r}")
    return value


def parse_length(text: str) -> float:
    """Parse a length such as ``"0.4um"`` or ``"50 nm"`` into metres (> 0).

    Examples
    --------
    >>> parse_length("0.4um"), parse_length("2.5 mm")
    (4e-07, 0.0025)
    """
    return _parse(text, "length", positive=True)


def parse_voxel_size(text: str) -> tuple[float, float, float]:
    """Parse ``"0.4um"`` (isotropic) or ``"10nm,10nm,20nm"`` (per array axis) into metres."""
    parts = [p for p in str(text).split(",")]
    if len(parts) not in (1, 3):
        raise UnitError(f"voxel size must be one length or three (axis 0,1,2), got {text!r}")
    sizes = tuple(parse_length(p) for p in parts)
    return sizes * 3 if len(sizes) == 1 else sizes  # type: ignore[return-value]


def parse_conductivity(text: str) -> float:
    """Parse a conductivity such as ``"8e-4S/cm"`` into S/m (>= 0; 0 blocks).

    Examples
    --------
    >>> parse_conductivity("11MS/m"), parse_conductivity("1kS/m")
    (11000000.0, 1000.0)
    """
    return _parse(text, "conductivity", positive=False)


def parse_area_resistance(text: str) -> float:
    """Parse an area-specific resistance such as ``"10ohmcm2"`` or ``"2 Ω·cm²"`` into Ω·m² (>= 0)."""
    return _parse(text, "area resistance", positive=False)


def parse_current_density(text: str) -> float:
    """Parse a current density such as ``"1mA/cm2"`` into A/m² (> 0)."""
    return _parse(text, "current density", positive=True)


def parse_diffusivity(text: str) -> float:
    """Parse a diffusion coefficient such as ``"2.54e-11cm2/s"`` into m²/s (> 0)."""
    return _parse(text, "diffusivity", positive=True)


def parse_activation_energy(text: str) -> float:
    """Parse an activation energy such as ``"0.3eV"`` or ``"48kJ/mol"`` into J/mol (>= 0).

    Examples
    --------
    >>> parse_activation_energy("48kJ/mol"), round(parse_activation_energy("0.3eV"), 1)
    (48000.0, 28945.6)
    """
    return _parse(text, "activation energy", positive=False)


def parse_temperature(text: str) -> float:
    """Parse a temperature such as ``"80C"``, ``"80 °C"`` or ``"353.15K"`` into kelvin (> 0).

    Units are case-sensitive (``K`` kelvin, ``C``/``°C`` Celsius; ``k`` is kilo and
    ``c`` centi): ``"80c"`` and ``"353k"`` are refused with the spelling they may have
    meant, and a bare number is refused because it could be either unit.

    Examples
    --------
    >>> parse_temperature("80C"), parse_temperature("80°C"), parse_temperature("353.15K")
    (353.15, 353.15, 353.15)
    """
    match = _NUMBER.match(str(text))
    if match is None:
        raise UnitError(f"expected a temperature as a number with a unit, {_TEMPERATURE_FORMS}; got {text!r}")
    number, unit = match.groups()
    if not unit:
        raise UnitError(f"temperature {text!r} has no unit (K or °C?); write {_TEMPERATURE_FORMS}")
    key = _normalise(unit).replace("\u2103", "°C").replace("º", "°").replace("˚", "°")
    if key not in _TEMPERATURE_UNITS:
        close = _suggestions(key, _TEMPERATURE_UNITS)
        if close:
            meant = " or ".join(repr(u) for u in close[:3])
            raise UnitError(f"unknown unit {unit!r} for temperature in {text!r}: units are case-sensitive, as SI "
                            f"writes them (K kelvin, C degrees Celsius; k is kilo); did you mean {meant}?")
        raise UnitError(f"unknown unit {unit!r} for temperature in {text!r}; write {_TEMPERATURE_FORMS}")
    scale, offset = _TEMPERATURE_UNITS[key]
    kelvin = float(number) * scale + offset
    if offset:  # Celsius: 0.1 + 273.15 and the like, to the nearest nK
        kelvin = round(kelvin, 9)
    if not (math.isfinite(kelvin) and kelvin > 0):
        raise UnitError(f"temperature {text!r} is at or below absolute zero")
    return kelvin


def parse_area_capacitance(text: str) -> float:
    """Parse a capacitance per area such as ``"1uF/cm2"`` or ``"2 nF/cm²"`` into F/m² (> 0).

    Examples
    --------
    >>> round(parse_area_capacitance("10uF/cm2"), 12), parse_area_capacitance("0.5F/m2")
    (0.1, 0.5)
    """
    return _parse(text, "area capacitance", positive=True)


def parse_frequency(text: str) -> float:
    """Parse a frequency such as ``"10kHz"`` or ``"1 mHz"`` into Hz (> 0); ``MHz`` is mega, ``mHz`` milli.

    Examples
    --------
    >>> parse_frequency("1MHz"), parse_frequency("1mHz")
    (1000000.0, 0.001)
    """
    return _parse(text, "frequency", positive=True)
