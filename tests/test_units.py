import pytest

from microsim.errors import UnitError
from microsim.units import parse_area_resistance, parse_conductivity, parse_length, parse_voxel_size


@pytest.mark.parametrize(
    "text, metres",
    [("0.4um", 4e-7), ("0.4 µm", 4e-7), ("50nm", 5e-8), ("1e-3m", 1e-3), ("2.5mm", 2.5e-3), (".5um", 5e-7)],
)
def test_lengths(text, metres):
    assert parse_length(text) == pytest.approx(metres, rel=1e-12)


def test_voxel_size_isotropic_and_per_axis():
    assert parse_voxel_size("0.4um") == pytest.approx((4e-7,) * 3)
    assert parse_voxel_size("10nm,10nm,20nm") == pytest.approx((1e-8, 1e-8, 2e-8))


@pytest.mark.parametrize(
    "text, match",
    [("0.4", "no unit"), ("0um", "> 0"), ("-1um", "> 0"), ("1furlong", "unknown unit"), ("abc", "number")],
)
def test_bad_lengths(text, match):
    with pytest.raises(UnitError, match=match):
        parse_length(text)


def test_voxel_size_needs_one_or_three():
    with pytest.raises(UnitError, match="one length or three"):
        parse_voxel_size("1um,2um")


def test_conductivity_units():
    assert parse_conductivity("8e-4S/cm") == pytest.approx(0.08)
    assert parse_conductivity("1 mS/cm") == pytest.approx(0.1)
    assert parse_conductivity("3S/m") == 3.0
    assert parse_conductivity("0S/m") == 0.0
    with pytest.raises(UnitError, match="no unit"):
        parse_conductivity("8e-4")
    with pytest.raises(UnitError, match=">= 0"):
        parse_conductivity("-1S/m")
    with pytest.raises(UnitError, match=">= 0"):
        parse_conductivity("1e999S/m")


def test_area_resistance_units():
    assert parse_area_resistance("10ohmcm2") == pytest.approx(1e-3)
    assert parse_area_resistance("2 Ω·cm2") == pytest.approx(2e-4)
    assert parse_area_resistance("1e-4ohmm2") == pytest.approx(1e-4)
