"""Theoretical energy against cathode thickness (seed Fig. 8c,d): hand calculations,
limits, bounds, material ordering, agreement with the cell model's own figure, the CLI."""

import csv

import pytest

from microsim.cell import improved, simulate, theoretical_energy
from microsim.cell.theoretical import (
    ADDITIVE_FRACTION,
    BOUNDS,
    CAMS,
    CONVERSION,
    THICKNESSES,
    active_material,
    theoretical,
    theoretical_point,
)
from microsim.cli import main
from microsim.errors import InvalidInputError

COLUMNS = ["cam", "thickness_um", "bound", "specific_energy_Wh_per_kg", "energy_density_Wh_per_L"]
F = 96485.33212  # C/mol (CODATA 2018, as scipy.constants)


@pytest.fixture(scope="module")
def rows():
    return theoretical()


def pick(rows, cam, bound):
    return sorted((r for r in rows if r["cam"] == cam and r["bound"] == bound), key=lambda r: r["thickness_um"])


def composite_limit(cam, *, carbon=0.0):
    """Wh/kg and Wh/L of the cathode composite alone (infinite thickness), by hand:
    Q x U over the mass (volume) of CAM + LLZO (+ carbon) per cathode volume."""
    m = active_material(cam)
    eps = 0.75 - carbon
    energy = eps * m.density * m.specific_capacity * m.nominal_voltage  # J/m^3
    mass = eps * m.density + 0.25 * 5077.0 + carbon * 2000.0  # kg/m^3
    return energy / mass / 3600.0, energy / 3600.0 / 1000.0


@pytest.mark.parametrize("cam", CAMS)
@pytest.mark.parametrize("bound", BOUNDS)
def test_infinite_thickness_tends_to_the_composite_energy(cam, bound):
    carbon = ADDITIVE_FRACTION if bound == "lower" else 0.0
    per_kg, per_l = composite_limit(cam, carbon=carbon)
    far = theoretical_point(cam, 1.0, bound=bound)  # 1 m of cathode on 10 µm of separator
    # The separator is 1e-5 of the stack and LLZO (5.08 g/cm^3) is at most 2.1 x as dense
    # as the lightest cathode (Li2S + LLZO, 2.51 g/cm^3): the deficit is <= 2.1e-5 per kg
    # and exactly 1e-5 per litre; 3e-5 bounds both.
    assert far["specific_energy_Wh_per_kg"] == pytest.approx(per_kg, rel=3e-5)
    assert far["energy_density_Wh_per_L"] == pytest.approx(per_l, rel=3e-5)
    assert far["specific_energy_Wh_per_kg"] < per_kg and far["energy_density_Wh_per_L"] < per_l
    # ... and the approach is 1/L: ten times thicker, a tenth of the deficit (the deficit
    # is c/(bL + c), so the ratio is 10 to within c/(bL) ~ 2e-5 of it; 1e-3 is loose).
    near = theoretical_point(cam, 0.1, bound=bound)
    ratio = (1 - near["specific_energy_Wh_per_kg"] / per_kg) / (1 - far["specific_energy_Wh_per_kg"] / per_kg)
    assert ratio == pytest.approx(10.0, rel=1e-3)


def test_nmc811_at_50um_by_hand_from_table3():
    # Table 3: NMC811 4.87 g/cm^3, 218.66 mAh/g, 3.86 V; LLZO 5.077 g/cm^3; 75/25 vol%,
    # 10 µm separator. Lower bound: 10 vol% carbon (2.0 g/cm^3) in place of CAM.
    # Only floating-point rounding separates the two computations: 1e-9 relative.
    L, sep = 50e-6, 10e-6
    for bound, eps_cam, carbon in (("upper", 0.75, 0.0), ("lower", 0.65, 0.10)):
        q = eps_cam * L * 4870.0 * 218.66 * 3.6e3  # C/m^2
        energy = q * 3.86 / 3600.0  # Wh/m^2
        mass = eps_cam * L * 4870.0 + 0.25 * L * 5077.0 + carbon * L * 2000.0 + sep * 5077.0  # kg/m^2
        row = theoretical_point("NMC811", L, bound=bound)
        assert row["specific_energy_Wh_per_kg"] == pytest.approx(energy / mass, rel=1e-9)
        assert row["energy_density_Wh_per_L"] == pytest.approx(energy / (L + sep) / 1000.0, rel=1e-9)
        assert row["capacity_mAh_per_cm2"] == pytest.approx(q / 36000.0, rel=1e-9)
        # with the Li plated on charge: + Q / (3861.3 mAh/g x 0.534 g/cm^3) of thickness
        li = q / (3861.3 * 3.6e3) / 534.0
        assert row["energy_density_with_plated_Li_Wh_per_L"] == pytest.approx(energy / (L + sep + li) / 1000.0,
                                                                              rel=1e-9)
    # the seed's figure (Ren, Danner et al. 2023): 519 Wh/kg at 50 µm
    assert theoretical_point("NMC811", L)["specific_energy_Wh_per_kg"] == pytest.approx(519.0, abs=0.5)


def test_conversion_data_from_the_stoichiometry():
    # n F / M of the charged phase: S 1672 mAh/g, FeF3 712 mAh/g (Amatucci & Pereira 2007);
    # per discharged mass, Li2S 1167 and Li2O2 1168 mAh/g. 1e-3: the atomic weights are
    # rounded to 4-5 digits.
    assert CONVERSION["S"].charged_capacity / 3600 == pytest.approx(1672, rel=1e-3)
    assert CONVERSION["FeF3"].charged_capacity / 3600 == pytest.approx(712, rel=1e-3)
    assert active_material("S").capacity_mAh_per_g == pytest.approx(2 * F / 45.95 / 3.6, rel=1e-3)
    assert active_material("Li-air").capacity_mAh_per_g == pytest.approx(2 * F / 45.88 / 3.6, rel=1e-3)
    # Fe + 3 LiF: (55.845 + 3 x 25.939) g over (55.845/7.874 + 3 x 25.939/2.64) cm^3
    assert active_material("FeF3").density == pytest.approx(133.662 / (55.845 / 7.874 + 3 * 25.939 / 2.64) * 1e3,
                                                            rel=1e-4)
    # conversion cathodes shrink on charge: S to 56 % of Li2S, FeF3 to 80 % of Fe + 3 LiF,
    # Li2O2 to nothing (O2 back to the air); the void is that share of eps_CAM
    assert 0.5 < CONVERSION["S"].volume_ratio < 0.6 and 0.75 < CONVERSION["FeF3"].volume_ratio < 0.85
    assert CONVERSION["Li-air"].volume_ratio == 0.0
    assert theoretical_point("Li-air", 50e-6)["charged_void_fraction"] == pytest.approx(0.75)


def test_lower_bound_below_upper_everywhere(rows):
    for cam in CAMS:
        for upper, lower in zip(pick(rows, cam, "upper"), pick(rows, cam, "lower")):
            assert upper["thickness_um"] == lower["thickness_um"]
            for key in COLUMNS[3:] + ["energy_density_with_plated_Li_Wh_per_L"]:
                assert lower[key] < upper[key], (cam, upper["thickness_um"], key)


def test_energy_rises_with_thickness_and_saturates(rows):
    for cam in CAMS:
        for bound in BOUNDS:
            limit = composite_limit(cam, carbon=ADDITIVE_FRACTION if bound == "lower" else 0.0)[0]
            values = [r["specific_energy_Wh_per_kg"] for r in pick(rows, cam, bound)]
            steps = [b - a for a, b in zip(values, values[1:])]
            assert all(s > 0 for s in steps) and all(b < a for a, b in zip(steps, steps[1:]))  # concave
            assert values[-1] < limit


def test_ordering_between_materials(rows):
    by = {(r["cam"], r["thickness_um"], r["bound"]): r for r in rows}
    for thickness in {r["thickness_um"] for r in rows}:
        for bound in BOUNDS:
            kg = {cam: by[cam, thickness, bound]["specific_energy_Wh_per_kg"] for cam in CAMS}
            litre = {cam: by[cam, thickness, bound]["energy_density_Wh_per_L"] for cam in CAMS}
            # Per kg the light conversion products beat every oxide, Li2O2 (1168 mAh/g at
            # 2.96 V) all; among the oxides capacity x voltage per mass decides.
            assert kg["Li-air"] == max(kg.values())
            assert min(kg["S"], kg["FeF3"]) > max(kg["NMC811"], kg["NMC622"], kg["LCO"])
            assert kg["NMC811"] > kg["NMC622"] > kg["LCO"]
            assert litre["Li-air"] > litre["FeF3"] > litre["NMC811"] > litre["NMC622"] > litre["LCO"]
    # S and FeF3 cross per kg: FeF3 stores more per area, which wins while the separator
    # dominates the mass; Li2S is lighter, which wins in thick cathodes.
    assert by["FeF3", 10.0, "upper"]["specific_energy_Wh_per_kg"] > by["S", 10.0, "upper"]["specific_energy_Wh_per_kg"]
    assert by["S", 200.0, "upper"]["specific_energy_Wh_per_kg"] > by["FeF3", 200.0, "upper"]["specific_energy_Wh_per_kg"]


def test_nmc811_upper_bound_is_the_cell_models_nominal_figure(rows):
    # Same accounting (cathode + separator, Li inside the CAM, no foils) and one code path
    # (energy.composite_stack): equal to rounding, 1e-12.
    for row in pick(rows, "NMC811", "upper"):
        nominal = theoretical_energy(improved().with_values(L_cat=row["thickness_um"] * 1e-6))
        assert row["specific_energy_Wh_per_kg"] == pytest.approx(nominal.specific_energy_Wh_per_kg, rel=1e-12)
        assert row["energy_density_Wh_per_L"] == pytest.approx(nominal.energy_density_Wh_per_L, rel=1e-12)
    record = simulate(improved().with_values(L_cat=50e-6), 10.0).to_dict()  # 1 mA/cm^2
    row = next(r for r in pick(rows, "NMC811", "upper") if r["thickness_um"] == 50.0)
    assert row["specific_energy_Wh_per_kg"] == pytest.approx(record["theoretical_nominal_specific_energy_Wh_per_kg"],
                                                             rel=1e-12)
    assert row["energy_density_Wh_per_L"] == pytest.approx(record["theoretical_nominal_energy_density_Wh_per_L"],
                                                           rel=1e-12)


def test_study_covers_the_grid(rows):
    assert len(rows) == len(CAMS) * len(THICKNESSES) * len(BOUNDS)
    assert min(THICKNESSES) == pytest.approx(10e-6) and max(THICKNESSES) == pytest.approx(200e-6)
    assert all("discharged state" in r["accounting"] and "anode-free" in r["accounting"] for r in rows)


@pytest.mark.parametrize("call, match", [
    (lambda: theoretical_point("LLZO", 50e-6), "unknown cathode"),
    (lambda: theoretical_point("NMC811", -1e-6), "positive number"),
    (lambda: theoretical_point("NMC811", 50e-6, bound="middle"), "bound must be"),
    (lambda: theoretical_point("NMC811", 50e-6, additive_fraction=0.8), "additive fraction"),
])
def test_bad_input_names_the_expectation(call, match):
    with pytest.raises(InvalidInputError, match=match):
        call()


def test_cli_writes_the_columns_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "fig8"
    assert main(["-q", "cell-study", "theoretical", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["theoretical.csv", "theoretical.png"]
    with open(out / "theoretical.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert list(table[0])[:5] == COLUMNS
    assert len(table) == len(CAMS) * len(THICKNESSES) * 2
    assert {r["cam"] for r in table} == set(CAMS) and {r["bound"] for r in table} == {"upper", "lower"}
    assert (out / "theoretical.png").read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    assert main(["-q", "cell-study", "theoretical", "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("microsim: error: ") and "exists already" in err[0], err
    assert main(["-q", "cell-study", "theoretical", "--out", str(out), "--force"]) == 0
