import pytest

from microsim.errors import UnitError
from microsim.units import (
    length_unit_scale,
    parse_area_resistance,
    parse_conductivity,
    parse_current_density,
    parse_diffusivity,
    parse_length,
    parse_voxel_size,
)

L, SIGMA, R, J, D = parse_length, parse_conductivity, parse_area_resistance, parse_current_density, parse_diffusivity

# (parser, text, SI value) -- units as SI writes them, case-sensitively
VALID = [
    (SIGMA, "11MS/m", 1.1e7),
    (SIGMA, "1kS/m", 1e3),
    (SIGMA, "3S/m", 3.0),
    (SIGMA, "0S/m", 0.0),
    (SIGMA, "8e-4S/cm", 0.08),
    (SIGMA, "1mS/cm", 0.1),
    (SIGMA, "1 mS/cm", 0.1),
    (SIGMA, "2mS/m", 2e-3),
    (SIGMA, "5µS/cm", 5e-4),
    (SIGMA, "5uS/cm", 5e-4),
    (SIGMA, "5μS/cm", 5e-4),  # Greek mu as well as the micro sign
    (J, "1MA/cm2", 1e10),
    (J, "1mA/cm2", 10.0),
    (J, "10 mA/cm²", 100.0),
    (J, "1mA/cm^2", 10.0),
    (J, "1A/cm2", 1e4),
    (J, "3A/m2", 3.0),
    (J, "1µA/cm2", 1e-2),
    (J, "1uA/cm2", 1e-2),
    (L, "1Mm", 1e6),
    (L, "1mm", 1e-3),
    (L, "2.5mm", 2.5e-3),
    (L, "1e-3m", 1e-3),
    (L, "1cm", 1e-2),
    (L, "0.4um", 4e-7),
    (L, "0.4µm", 4e-7),
    (L, "0.4 µm", 4e-7),
    (L, "0.4μm", 4e-7),
    (L, ".5um", 5e-7),
    (L, "2micron", 2e-6),
    (L, "10nm", 1e-8),
    (L, "50 nm", 5e-8),
    (L, "3Å", 3e-10),
    (R, "10ohmcm2", 1e-3),
    (R, "10ohm*cm2", 1e-3),
    (R, "10Ωcm2", 1e-3),
    (R, "2 Ω·cm2", 2e-4),
    (R, "2 Ohm cm^2", 2e-4),
    (R, "1e-4ohmm2", 1e-4),
    (R, "1ohm*m2", 1.0),
    (R, "1Ωm2", 1.0),
    (R, "1kΩcm2", 0.1),
    (R, "1mΩcm2", 1e-7),
    (D, "2.5e-11cm2/s", 2.5e-15),
    (D, "1m2/s", 1.0),
    (D, "1µm2/s", 1e-12),
]


@pytest.mark.parametrize("parse, text, si", VALID, ids=[t for _, t, _ in VALID])
def test_units_as_si_writes_them(parse, text, si):
    assert parse(text) == pytest.approx(si, rel=1e-12, abs=0)


# (parser, text, substring of the message)
INVALID = [
    (SIGMA, "1ms/cm", "did you mean 'mS/cm'"),
    (SIGMA, "1ms/cm", "case-sensitive"),
    (SIGMA, "1s/cm", "did you mean 'S/cm'?"),
    (SIGMA, "1s/m", "did you mean 'S/m'?"),
    (SIGMA, "1MS/CM", "unknown unit 'MS/CM' for conductivity in '1MS/CM': units are case-sensitive"),
    (SIGMA, "1mS/CM", "did you mean 'mS/cm'"),
    (SIGMA, "1xS/m", "unknown unit 'xS/m' for conductivity"),
    (SIGMA, "1mA/cm2", "'mA/cm2' is a unit of current density"),
    (SIGMA, "1cS/m", "unknown unit 'cS/m'"),  # centi only in lengths
    (SIGMA, "8e-4", "no unit"),
    (SIGMA, "-1S/m", ">= 0"),
    (SIGMA, "1e999S/m", ">= 0"),
    (J, "1ma/cm2", "did you mean 'mA/cm2'"),
    (J, "1MA/CM2", "did you mean 'MA/cm2'"),
    (J, "1mA", "unknown unit 'mA' for current density"),
    (J, "0mA/cm2", "> 0"),
    (L, "1UM", "did you mean 'um'?"),
    (L, "1NM", "did you mean 'nm'?"),
    (L, "1MM", "did you mean 'Mm' or 'mm'?"),
    (L, "1Micron", "did you mean 'micron'?"),
    (L, "1furlong", "unknown unit 'furlong' for length in '1furlong'; known units: m"),
    (L, "0.4", "no unit"),
    (L, "0um", "> 0"),
    (L, "-1um", "> 0"),
    (L, "abc", "number"),
    (R, "10OHMcm2", "did you mean 'Ohmcm2' or 'ohmcm2'?"),
    (R, "10ωcm2", "did you mean 'Ωcm2'?"),  # a lower-case omega is not an ohm
    (R, "10ohmCM2", "did you mean 'ohmcm2'"),
    (R, "10ohm", "unknown unit 'ohm' for area resistance"),
    (D, "2.5e-11cm2/S", "did you mean 'cm2/s'?"),
    (D, "2.5e-11CM2/s", "did you mean 'cm2/s'?"),
    (D, "1cm/s", "unknown unit 'cm/s' for diffusivity"),
]


@pytest.mark.parametrize("parse, text, match", INVALID, ids=[f"{t}:{m[:12]}" for _, t, m in INVALID])
def test_bad_units_are_named(parse, text, match):
    with pytest.raises(UnitError) as caught:
        parse(text)
    assert match in str(caught.value)


def test_unit_error_is_a_value_error():
    with pytest.raises(ValueError, match="case-sensitive"):
        parse_conductivity("11ms/m")


def test_voxel_size_isotropic_and_per_axis():
    assert parse_voxel_size("0.4um") == pytest.approx((4e-7,) * 3)
    assert parse_voxel_size("10nm,10nm,20nm") == pytest.approx((1e-8, 1e-8, 2e-8))
    assert parse_voxel_size("1µm, 1µm, 2µm") == pytest.approx((1e-6, 1e-6, 2e-6))


def test_voxel_size_needs_one_or_three():
    with pytest.raises(UnitError, match="one length or three"):
        parse_voxel_size("1um,2um")
    with pytest.raises(UnitError, match="did you mean 'nm'"):
        parse_voxel_size("10nm,10nm,20NM")


@pytest.mark.parametrize(
    "unit, metres",
    [("um", 1e-6), ("µm", 1e-6), ("μm", 1e-6), ("\\u00B5m", 1e-6), ("micron", 1e-6), ("Microns", 1e-6),
     ("UM", 1e-6), ("nanometer", 1e-9), ("nm", 1e-9), ("mm", 1e-3), ("cm", 1e-2), ("m", 1.0), ("Å", 1e-10),
     ("pixel", None), ("", None), (None, None)],
)
def test_metadata_length_units_are_lenient(unit, metres):
    # image metadata are not typed on a command line: case is ignored there
    assert length_unit_scale(unit) == metres
