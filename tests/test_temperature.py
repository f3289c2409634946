"""Temperature: Arrhenius factors, nothing changes at 298.15 K, the cell's response to T,
the --temperature option, study files with a temperature (issue 16, item 5).

Tolerances: the Arrhenius factors and the scaled values are closed forms, checked to
1e-12 relative (a few ulps of exp and of the series formula). At 298.15 K every factor is
exactly 1.0, so the cell must be bitwise the one without activation energies (same
process, same arithmetic). The stored room-temperature energies were recorded before the
temperature code existed; they are compared to 1e-9 relative, not bitwise, because a
Newton solve ending at a 1e-10 residual may round differently on another BLAS.
"""

import csv
import json
import math

import pytest

from microsim.cell import simulate
from microsim.cell.coupling import parameters_from_report
from microsim.cell.parameters import (
    ACTIVATION_ENERGIES,
    ACTIVATION_ENERGY_NAMES,
    REFERENCE_TEMPERATURE,
    arrhenius_factor,
    improved,
    parse_parameter,
    state_of_the_art,
)
from microsim.cell.studies import STUDIES, temperature_study
from microsim.cli import main
from microsim.design import Study
from microsim.errors import InvalidInputError, UnitError
from microsim import units

R = 6.02214076e23 * 1.380649e-23  # J/(mol K) = N_A k, exact in the 2019 SI
F = 6.02214076e23 * 1.602176634e-19  # C/mol = N_A e, exact
NO_EA = dict.fromkeys(ACTIVATION_ENERGY_NAMES, 0.0)


def one_error_line(capsys, match):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("microsim: error: ") and match in err[0], err


# -- the laws --------------------------------------------------------------------------
def test_arrhenius_factor_against_hand_values():
    # exp(-Ea/R (1/T - 1/T_ref)) worked by hand: 30 kJ/mol from 298.15 K to 353.15 K,
    # 1/353.15 - 1/298.15 = -5.223584989591653e-4 /K, times -30e3/R -> 1.8847586053920653
    assert arrhenius_factor(30e3, 353.15) == pytest.approx(math.exp(1.8847586053920653), rel=1e-12)
    assert arrhenius_factor(30e3, 353.15) == pytest.approx(6.584764723449283, rel=1e-12)
    x = -0.3 * F / R * (1 / 250.0 - 1 / 298.15)  # 0.3 eV down to 250 K: the factor < 1
    assert arrhenius_factor(0.3 * F, 250.0) == pytest.approx(math.exp(x), rel=1e-12) and math.exp(x) < 0.2
    assert arrhenius_factor(48e3, REFERENCE_TEMPERATURE) == 1.0 and arrhenius_factor(0.0, 400.0) == 1.0
    assert arrhenius_factor(48e3, 310.0, reference=310.0) == 1.0


def test_scaled_values_follow_their_own_activation_energy():
    p = state_of_the_art().with_values(temperature=353.15)
    f = {name: math.exp(-getattr(p, name) / R * (1 / 353.15 - 1 / 298.15)) for name in ACTIVATION_ENERGY_NAMES}
    assert p.sigma_SE_at_T == pytest.approx(p.sigma_SE * f["Ea_sigma_SE"], rel=1e-12)
    assert p.kappa_CAM_at_T == pytest.approx(p.kappa_CAM * f["Ea_kappa_CAM"], rel=1e-12)
    assert p.D_CAM_at_T == pytest.approx(p.D_CAM * f["Ea_D_CAM"], rel=1e-12)
    assert p.R_CT_at_T == pytest.approx(p.R_CT / f["Ea_CT"], rel=1e-12)
    assert p.R_SP_at_T == p.R_SP and p.R_Li_at_T == p.R_Li  # no cited Ea: held
    # the composite's ionic path: bulk share eps^beta_GB with the bulk law, the rest with the GB law
    share = 0.25**1.39
    ref = p.sigma_SE * 0.25 ** (2.31 + 1.39)
    expected = ref / (share / f["Ea_sigma_SE"] + (1 - share) / f["Ea_GB"])
    assert p.sigma_eff_SE == pytest.approx(expected, rel=1e-12)
    assert p.kappa_eff_CAM == pytest.approx(p.kappa_CAM * 0.75**2.3 * f["Ea_kappa_CAM"], rel=1e-12)
    # no grain-boundary share (improved: beta_GB = 0): the bulk law alone
    q = improved().with_values(temperature=353.15)
    assert q.sigma_eff_SE == pytest.approx(improved().sigma_eff_SE * f["Ea_sigma_SE"], rel=1e-12)
    # a given sigma_eff is taken at 298.15 K and scaled alike
    given = p.with_values(sigma_eff=1e-3)
    assert given.sigma_eff_SE == pytest.approx(1e-3 * expected / ref, rel=1e-12)
    at = p.at_temperature()
    assert at["temperature_C"] == 80.0 and at["R_CT_ohm_m2"] == p.R_CT_at_T
    assert at["factors"]["cathode_ionic"] == pytest.approx(expected / ref, rel=1e-12)
    assert at["activation_energies_eV"]["Ea_GB"] == pytest.approx(0.70, rel=1e-12)


def test_both_sets_carry_the_cited_activation_energies():
    for p in (improved(), state_of_the_art()):
        for name, ea in ACTIVATION_ENERGIES.items():
            assert getattr(p, name) == ea.value and ea.source
        assert p.temperature == REFERENCE_TEMPERATURE
    assert ACTIVATION_ENERGIES["Ea_GB"].eV > ACTIVATION_ENERGIES["Ea_sigma_SE"].eV  # boundaries apart, higher


def test_resolved_grain_boundaries_follow_the_bulk_law():
    report = {"volume_fractions": {"pore": 0.05, "CAM": 0.7, "LLZO": 0.25},
              "settings": {"grain_boundary_resistance_ohm_m2": {"LLZO": 1e-6}},
              "transport": [{"phase": "LLZO", "axis": 0, "sigma_eff_S_per_m": 0.1, "sigma_bulk_S_per_m": 1.0}],
              "morphology": {"interface_area_per_volume_per_m": {"CAM|LLZO": 3e5}}}
    base = state_of_the_art()
    cold = parameters_from_report(report, base)
    hot = parameters_from_report(report, base.with_values(temperature=353.15))
    assert cold.beta_GB == 0.0 and cold.sigma_eff_SE == pytest.approx(0.1 * base.sigma_SE, rel=1e-12)
    assert hot.sigma_eff_SE / cold.sigma_eff_SE == pytest.approx(hot.factor("Ea_sigma_SE"), rel=1e-12)
    report["settings"] = {}  # not resolved: the set's beta_GB share with the GB law
    assert parameters_from_report(report, base.with_values(temperature=353.15)).sigma_eff_SE \
        / parameters_from_report(report, base).sigma_eff_SE == pytest.approx(base.with_values(temperature=353.15).ionic_factor(0.25), rel=1e-12)


# -- the cell --------------------------------------------------------------------------
def test_nothing_changes_at_the_reference_temperature():
    # bitwise: every factor is exactly 1.0 at 298.15 K
    for make, current in ((improved, 10.0), (state_of_the_art, 10.0)):
        a = simulate(make(), current, error_estimate=False)
        b = simulate(make().with_values(**NO_EA), current, error_estimate=False)
        assert a.energy == b.energy and a.delivered_capacity == b.delivered_capacity
        assert (a.voltage == b.voltage).all() and a.overpotentials == b.overpotentials
    # and the energies recorded before temperature existed (see the module notes: 1e-9), on
    # that time's default grid (equal cells in x, 39 and 20 of them)
    import dataclasses

    from microsim.cell.p2d import default_grid

    def then(params, n_x):
        grid = dataclasses.replace(default_grid(params, 10.0), n_x=n_x, x_fine=1.0, x_fine_cells=1.0)
        return simulate(params, 10.0, grid=grid, error_estimate=False).energy

    assert then(improved(), 39) == pytest.approx(558451.8335895401, rel=1e-9)
    assert then(state_of_the_art(), 20) == pytest.approx(218841.69261279347, rel=1e-9)


def test_a_cell_limited_by_its_electrolyte_gains_energy_with_temperature():
    # only sigma_SE activated, a poor SE (1e-4 S/cm) and a thick separator at 10 mA/cm^2:
    # the separator loss is I L_sep / sigma_SE(T) exactly, and the energy rises with T
    base = improved().with_values(**{**NO_EA, "Ea_sigma_SE": ACTIVATION_ENERGIES["Ea_sigma_SE"].value},
                                  sigma_SE=1e-2, L_sep=50e-6)
    energies, losses = [], []
    for t in (298.15, 323.15, 353.15, 373.15):
        r = simulate(base.with_values(temperature=t), 100.0, error_estimate=False)
        energies.append(r.energy)
        losses.append(r.overpotentials["separator_ionic"])
        assert losses[-1] == pytest.approx(100.0 * 50e-6 / (1e-2 * arrhenius_factor(base.Ea_sigma_SE, t)), rel=1e-12)
    assert all(b > a for a, b in zip(energies, energies[1:])), energies
    # the state of the art at 1 mA/cm^2: energy rises with T (grain boundaries, R_CT, D)
    cold = simulate(state_of_the_art(), 10.0, error_estimate=False)
    warm = simulate(state_of_the_art().with_values(temperature=333.15), 10.0, error_estimate=False)
    assert warm.specific_energy_Wh_per_kg > 1.5 * cold.specific_energy_Wh_per_kg
    assert warm.to_dict()["at_temperature"]["temperature_C"] == 60.0


def test_temperature_range_is_checked():
    for t in (199.0, 501.0):
        with pytest.raises(InvalidInputError, match="temperature must lie in 200 to 500 K"):
            improved().with_values(temperature=t)
    with pytest.raises(InvalidInputError, match="Ea_CT must be a non-negative"):
        improved().with_values(Ea_CT=-1.0)


# -- parsing and the command line ------------------------------------------------------
def test_temperature_and_activation_energy_units():
    assert units.parse_temperature("80C") == units.parse_temperature("80°C") == units.parse_temperature(
        "353.15K") == units.parse_temperature("80 °C") == 353.15
    assert units.parse_temperature("-20C") == 253.15
    for text, match in (("80c", "did you mean 'C'"), ("353k", "did you mean 'K'"), ("80", "has no unit"),
                        ("80F", "unknown unit 'F'"), ("-300C", "absolute zero")):
        with pytest.raises(UnitError, match=match):
            units.parse_temperature(text)
    assert units.parse_activation_energy("48kJ/mol") == 48e3
    assert parse_parameter("Ea_CT", "0.5eV") == pytest.approx(0.5 * F, rel=1e-12)
    assert parse_parameter("temperature", "60C") == 333.15
    with pytest.raises(UnitError, match="did you mean 'eV'"):
        units.parse_activation_energy("0.5ev")


def test_cli_cell_temperature_in_either_unit(capsys):
    outs = []
    for text in ("80C", "353.15K"):
        assert main(["-q", "cell", "--set", "improved", "--temperature", text, "--json", "-"]) == 0
        outs.append(json.loads(capsys.readouterr().out))
    a, b = outs
    assert a["specific_energy_Wh_per_kg"] == b["specific_energy_Wh_per_kg"]
    assert a["parameters"]["temperature"] == 353.15 and a["parameter_sources"]["temperature"] == "given"
    assert a["parameter_sources"]["R_CT_at_T"] == "arrhenius" and a["temperature_C"] == 80.0
    assert a["at_temperature"]["R_CT_ohm_m2"] == pytest.approx(150e-4 / arrhenius_factor(48e3, 353.15), rel=1e-12)
    assert main(["-q", "cell", "--set", "improved", "--param", "temperature=80C", "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["specific_energy_Wh_per_kg"] == a["specific_energy_Wh_per_kg"]


@pytest.mark.parametrize("argv, match", [
    (["cell", "--temperature", "80c"], "did you mean 'C'"),
    (["cell", "--temperature", "80"], "has no unit"),
    (["cell", "--temperature", "1000C"], "outside the range the cell model takes: 200 to 500 K"),
    (["cell", "--temperature", "80C", "--param", "temperature=90C"], "given twice"),
    (["run", "missing.tif", "--temperature", "80C"], "--temperature sets the cell model"),
    (["cell-study", "ragone", "--temperature", "80C"], "the temperature study's temperatures"),
])
def test_cli_refuses_bad_temperatures_in_one_line(argv, match, capsys, tmp_path):
    if argv[0] == "cell-study":
        argv = [*argv, "--out", str(tmp_path / "s")]
    assert main(argv) == 1
    one_error_line(capsys, match)


def test_temperature_study_rows_and_plot(tmp_path):
    assert "temperature" in STUDIES
    rows = temperature_study(thicknesses=(50e-6,), currents=(100.0,), temperatures=(298.15, 353.15),
                             sets=("improved",))
    assert [r["temperature_C"] for r in rows] == [25.0, 80.0]
    assert list(rows[0])[:6] == ["case", "thickness_um", "current_mA_per_cm2", "protocol", "temperature_C",
                                 "specific_energy_Wh_per_kg"]
    assert rows[1]["specific_energy_Wh_per_kg"] > rows[0]["specific_energy_Wh_per_kg"]  # 10 mA/cm^2: losses fall
    assert rows[1]["R_CT_ohm_cm2"] < rows[0]["R_CT_ohm_cm2"] == pytest.approx(150.0)
    path = STUDIES["temperature"][1](rows, tmp_path / "t.png")
    assert path.stat().st_size > 0


# -- study files ---------------------------------------------------------------------
def test_a_study_file_sweeps_the_temperature(tmp_path):
    study_file = tmp_path / "t.toml"
    study_file.write_text('name = "warm"\nseeds = [1]\n[microstructure]\nshape = [32, 24, 24]\n'
                          'voxel_size = "0.5um"\ncam_d50 = "3um"\nse_d50 = "1.5um"\n'
                          '[cell]\nthickness = "50um"\ncurrent_density = "10mA/cm2"\n'
                          '[grid]\ntemperature = ["25C", 353.15]\n')  # a bare number is SI (K), as in every study file
    out = tmp_path / "warm.csv"
    assert main(["-q", "study", str(study_file), "-o", str(out), "--workers", "1", "--no-plots"]) == 0
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [float(r["cell_temperature_K"]) for r in rows] == [298.15, 353.15]
    assert {r["status"] for r in rows} == {"ok"}
    cold, warm = (float(r["specific_energy_Wh_per_kg"]) for r in rows)
    assert warm > cold
    ratio = float(rows[1]["sigma_eff_cell_S_per_cm"]) / float(rows[0]["sigma_eff_cell_S_per_cm"])
    assert ratio == pytest.approx(arrhenius_factor(ACTIVATION_ENERGIES["Ea_sigma_SE"].value, 353.15), rel=1e-9)
    for value, match in ((1000, r"must lie in \[200, 500\]"), ("80c", "did you mean 'C'")):
        with pytest.raises(InvalidInputError, match=match):
            Study(name="bad", base={"temperature": value}, points=[{}])
    (point,) = Study(name="ok", base={"temperature": "60C"}, points=[{}]).design_points()
    assert point["temperature"] == 333.15



def test_a_diffusivity_function_follows_the_temperature_like_the_constant():
    # D(θ) carries D_CAM's Arrhenius factor. At 80 °C and 1 mA/cm^2 (every other activation
    # energy 0), the state of the art's 10 µm particles lose less to solid diffusion with
    # Ea_D_CAM than without it, by about the factor itself (the loss is ~1/D where it is
    # small against RT/F): 10 %, since the loss is not exactly linear in 1/D
    from microsim.cell.parameters import state_of_the_art

    zero = {name: 0.0 for name in ("Ea_sigma_SE", "Ea_GB", "Ea_CT", "Ea_SP", "Ea_Li", "Ea_kappa_CAM")}
    base = state_of_the_art().with_values(D_CAM_function="oregan2022", L_cat=50e-6, temperature=353.15, **zero)
    with_factor = simulate(base, 10.0, error_estimate=False)
    without = simulate(base.with_values(Ea_D_CAM=0.0), 10.0, error_estimate=False)
    factor = base.D_CAM_at_T / base.D_CAM
    assert factor > 2
    ratio = without.overpotentials["solid_diffusion"] / with_factor.overpotentials["solid_diffusion"]
    assert ratio == pytest.approx(factor, rel=0.1)
    assert with_factor.specific_energy_Wh_per_kg > without.specific_energy_Wh_per_kg
