"""Material functions (issue 16 item 4): NMC622 OCV, D(θ) and κ(θ) of NMC811, selectable by name.

Each function against its source, the constant path reproduced, lithium conserved per
step with D varying over decades, first order in time of the lagged properties, and the
names through JSON and the CLI.
"""

import json
import math

import numpy as np
import pytest

from microsim.cell import CellParameters, Grid, get_ocv, get_parameter_set, improved, simulate, state_of_the_art
from microsim.cell.ocv import _MSMR_NMC622, verbrugge2017_nmc622
from microsim.cell.p2d import FARADAY, LOSSES, _Cell, default_grid
from microsim.cell.parameters import get_material
from microsim.cell.properties import (
    CONDUCTIVITY,
    DIFFUSIVITY,
    MaterialFunction,
    amin2016_nmc_conductivity,
    get_conductivity,
    get_diffusivity,
    oregan2022_nmc811_diffusivity,
)
from microsim.cli import main
from microsim.errors import InvalidInputError

MA_CM2 = 10.0  # A/m^2 in 1 mA/cm^2


# -- NMC622 open-circuit potential ---------------------------------------------------------

def test_nmc622_ocv_is_the_msmr_isotherm_of_verbrugge_2017():
    # Table 1 of Verbrugge et al. (2017): four galleries whose shares X_j sum to 1; at U = U0_j
    # gallery j is half full. The fit inverts x(U); it must reproduce the isotherm to round-off.
    u0, shares, omega = _MSMR_NMC622
    assert shares.sum() == pytest.approx(1.0, abs=1e-12)
    f = 96485.33212 / (8.314462618 * 298.15)

    def isotherm(u):
        return float(np.sum(shares / (1 + np.exp(f * (u - u0) / omega))))

    for u in (3.2, 3.6227, 3.75, 3.9, 4.1, 4.2296, 4.3):
        assert float(verbrugge2017_nmc622(isotherm(u))) == pytest.approx(u, abs=1e-9)
    ocv = get_ocv("NMC622")
    # the window: 4.3 V to 3.0 V on the isotherm, the wall adds ±0.05 ln 2 V at its ends
    assert float(ocv(0.0)) == pytest.approx(4.3 + 0.05 * math.log(2), abs=1e-9)
    assert float(ocv(1.0)) == pytest.approx(3.0 - 0.05 * math.log(2), abs=1e-9)
    theta = np.linspace(-0.01, 1.01, 203)
    assert np.all(np.diff(ocv(theta)) < 0)
    h = 1e-7
    numeric = (ocv(theta + h) - ocv(theta - h)) / (2 * h)
    assert np.allclose(ocv.derivative(theta), numeric, rtol=1e-5, atol=1e-4)


def test_nmc622_material_entry():
    m = get_material("NMC622")
    # nominal voltage = the fit's mean over the window (as NMC811's 3.86 V is its window mean)
    assert m.nominal_voltage == pytest.approx(get_ocv("NMC622").mean_voltage(), abs=5e-4)
    # molar mass of LiNi0.6Mn0.2Co0.2O2 from the standard atomic masses
    molar = 6.94 + 0.6 * 58.693 + 0.2 * 54.938 + 0.2 * 58.933 + 2 * 15.999
    assert m.molar_mass * 1e3 == pytest.approx(molar, abs=0.01)
    # X-ray density of the R-3m cell: Z = 3 formula units in sqrt(3)/2 a^2 c
    a, c = 2.867e-10, 14.216e-10
    density = 3 * molar * 1e-3 / 6.02214076e23 / (math.sqrt(3) / 2 * a**2 * c)
    assert m.density == pytest.approx(density, rel=2e-3)
    assert m.capacity_mAh_per_g == pytest.approx(187.0)
    assert m.ocv == "NMC622"


def test_nmc622_cell_simulates_and_stores_less_energy_than_nmc811():
    e622 = simulate(improved().with_values(cam="NMC622"), 1 * MA_CM2)
    e811 = simulate(improved(), 1 * MA_CM2)
    assert 0.99 < e622.utilisation <= 1 + 1e-9
    assert e622.mean_voltage == pytest.approx(3.835, abs=0.01)
    # lower capacity (187 vs 218.66 mAh/g) and lower voltage: less energy per kg
    assert e622.specific_energy_Wh_per_kg < 0.9 * e811.specific_energy_Wh_per_kg
    assert e622.specific_energy_Wh_per_kg <= e622.theoretical_specific_energy_Wh_per_kg


def test_the_ocv_field_overrides_the_materials_curve():
    p = improved().with_values(ocv="NMC622")  # NMC811's capacity on the NMC622 curve
    assert p.ocv_name == "NMC622" and improved().ocv_name == "NMC811"
    r = simulate(p, 1 * MA_CM2, error_estimate=False)
    assert r.mean_voltage == pytest.approx(3.835, abs=0.01)


# -- D(θ) and κ(θ) against their sources -------------------------------------------------

def test_oregan2022_diffusivity_is_the_published_fit():
    # the published form, evaluated by hand at the centres of its three Gaussians (x = b_i)
    # and between them: a transcription check (round-off tolerance)
    coefficients = ((-0.9231, 0.3216, 0.002534), (-0.4066, 0.4532, 0.003926), (-0.993, 0.8098, 0.09924))
    for x in (0.3216, 0.4532, 0.6, 0.8098, 0.9):
        log_d = -13.96 + sum(a * math.exp(-(x - b) ** 2 / c) for a, b, c in coefficients)
        assert float(oregan2022_nmc811_diffusivity(x)) == pytest.approx(2.7 * 10**log_d, rel=1e-12)
    d = get_diffusivity("oregan2022")
    assert d.material == "NMC811" and d.unit == "m^2/s" and "10.1016/j.electacta.2022.140700" in d.source
    # θ maps through the NMC811 (Chen 2020, the same LG M50 material) window
    ocv = get_ocv("NMC811")
    theta = (0.3216 - ocv.x_charged) / (ocv.x_discharged - ocv.x_charged)
    assert float(d(theta)) == pytest.approx(float(oregan2022_nmc811_diffusivity(0.3216)), rel=1e-12)
    low, high = d.extremes()
    assert 2.5e-15 < low < 3.0e-15 and 1.5e-14 < high < 1.7e-14  # m^2/s, a factor ~6 over the window


def test_amin2016_conductivity_has_the_stated_ends():
    # Amin & Chiang (2016): ~1e-7 S/cm fully lithiated, ~1e-2 S/cm at Li0.25; the fit is
    # log-linear between exactly these two ends (exact there, held outside)
    assert float(amin2016_nmc_conductivity(1.0)) == pytest.approx(1e-7 * 100, rel=1e-12)
    assert float(amin2016_nmc_conductivity(0.25)) == pytest.approx(1e-2 * 100, rel=1e-12)
    assert float(amin2016_nmc_conductivity(0.1)) == pytest.approx(1.0, rel=1e-12)
    k = get_conductivity("amin2016")
    assert k.unit == "S/m" and "10.1149/2.0131608jes" in k.source
    theta = np.linspace(0, 1, 11)
    assert np.all(np.diff(k(theta)) < 0)  # lithiating the CAM makes it insulating
    assert float(k(0.0)) / float(k(1.0)) > 1e4


def test_unknown_or_mismatched_function_names_are_refused():
    with pytest.raises(InvalidInputError, match="unknown D_CAM_function 'ruess2020'; known: oregan2022"):
        improved().with_values(D_CAM_function="ruess2020")
    with pytest.raises(InvalidInputError, match="unknown kappa_CAM_function 'x'; known: amin2016"):
        improved().with_values(kappa_CAM_function="x")
    with pytest.raises(InvalidInputError, match="no open-circuit potential for 'NMC999'; known: NMC811, LCO, NMC622"):
        improved().with_values(ocv="NMC999")
    with pytest.raises(InvalidInputError, match="a fit for NMC811, not for the cam"):
        improved().with_values(cam="LCO", D_CAM_function="oregan2022")
    with pytest.raises(InvalidInputError, match="must be a name"):
        improved().with_values(ocv=3)


# -- the particle operator with D(θ) -------------------------------------------------------

def _register(monkeypatch, table, name, fit):
    monkeypatch.setitem(table, name, MaterialFunction(name, "NMC811", "test", "SI", fit, "test"))


def test_a_constant_valued_d_function_reproduces_the_constant_path(monkeypatch):
    p = improved().with_values(d50_CAM=4e-6, L_cat=100e-6, sigma_SE=0.08)
    _register(monkeypatch, DIFFUSIVITY, "flat", lambda x: np.full(np.shape(x), p.D_CAM))
    _register(monkeypatch, CONDUCTIVITY, "flat", lambda x: np.full(np.shape(x), p.kappa_CAM))
    # one grid for all (a κ(θ) cathode's default x-mesh is equal cells, see default_grid)
    grid = default_grid(p, 10 * MA_CM2)
    base = simulate(p, 10 * MA_CM2, grid=grid, error_estimate=False)
    for change in ({"D_CAM_function": "flat"}, {"kappa_CAM_function": "flat"},
                   {"D_CAM_function": "flat", "kappa_CAM_function": "flat"}):
        r = simulate(p.with_values(**change), 10 * MA_CM2, grid=grid, error_estimate=False)
        assert r.energy == pytest.approx(base.energy, rel=1e-10), change
        assert r.steps == base.steps and np.allclose(r.voltage, base.voltage, rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", ["decades", "oregan2022"])
def test_every_step_conserves_lithium_with_d_of_theta(monkeypatch, name):
    # D over four decades (1e-17 .. 1e-13 m^2/s across the window): the flux form keeps
    # charge passed == lithium added to the CAM, per step, to round-off
    _register(monkeypatch, DIFFUSIVITY, "decades", lambda x: 1e-17 * 10 ** (4 * (x - 0.26) / 0.65))
    p = state_of_the_art().with_values(D_CAM_function=name, d50_CAM=4e-6)
    grid = default_grid(p, 10.0)
    cell = _Cell(p, grid)
    rng = np.random.default_rng(7)
    theta = np.sort(rng.uniform(0, 0.9, (grid.n_x, grid.n_r)), axis=1)  # a state that varies in r and x
    current = 10.0
    guess = (np.full(grid.n_x, current / cell.a_dx.sum()), 4.0)
    for dt in (1e-3, 1.0, 100.0, 1e4):
        new, j, phi, _ = cell.step(theta, dt, current, guess)
        lithium = (new - theta) @ cell.shell_volume * cell.c_max * FARADAY * (cell.a_dx / cell.surface)
        assert lithium.sum() == pytest.approx(current * dt, rel=1e-9)
        theta, guess = new, (j, phi)
    d = cell._diffusivity(theta)
    if name == "decades":
        assert d.max() / d.min() > 100  # the state spans two or more decades of D


def test_the_lagged_properties_converge_at_first_order_in_time():
    # uniform steps (first_step = 1): the time points nest when n_t doubles, so the voltage at
    # t = 0.2 t_nominal measures the time error; the lag (state at the step start) keeps
    # backward Euler's first order. Measured: D(θ) 1.17, 1.10; κ(θ) 0.89, 0.94
    cases = [(improved().with_values(d50_CAM=4e-6, D_CAM_function="oregan2022"), 100.0),
             (improved().with_values(kappa_CAM_function="amin2016"), 10.0)]
    for p, current in cases:
        volts, energies = [], []
        for n in (50, 100, 200, 400):
            grid = Grid(n_x=20, n_r=20, n_t=n, first_step=1.0, adaptive=False, stretch=None)
            r = simulate(p, current, grid=grid, error_estimate=False)
            volts.append(r.voltage[n // 5])
            energies.append(r.energy)
        d = np.abs(np.diff(volts))
        orders = np.log2(d[:-1] / d[1:])
        assert np.all(np.abs(orders - 1) < 0.3), orders
        steps = np.abs(np.diff(energies))
        assert steps[-1] < steps[0]  # halving dt moves the energy less and less


# -- κ(θ) in the cell ----------------------------------------------------------------------

def test_the_electronic_loss_rises_where_kappa_drops():
    p = improved().with_values(kappa_CAM_function="amin2016")
    grid = Grid(n_x=40, n_r=4)
    current = 1 * MA_CM2
    losses = []
    for lithiation in (0.1, 0.3, 0.5, 0.7, 0.9):
        for params in (p, improved()):
            cell = _Cell(params, grid)
            theta = np.full((grid.n_x, grid.n_r), lithiation)
            guess = (np.full(grid.n_x, current / cell.a_dx.sum()), 3.9)
            new, j, phi, (surf, phi_e_left) = cell.step(theta, 1e-6, current, guess)
            found = cell.losses(new, j, surf, phi_e_left, current)
            v = cell.voltage(j, phi, current)
            assert found["open_circuit"] - sum(found[k] for k in LOSSES) == pytest.approx(v, abs=1e-9)
            losses.append(found["electronic"])
    with_kappa, constant = np.array(losses[0::2]), np.array(losses[1::2])
    assert np.all(np.diff(with_kappa) > 0) and with_kappa[-1] > 100 * with_kappa[0]
    assert np.ptp(constant) < 1e-2 * constant.mean()  # a constant κ barely cares (the OCV slope shifts j: 0.3 %)
    assert np.all(with_kappa > constant)  # the bare CAM conducts worse than the improved set's 3.15 S/cm
    r = simulate(p, 1 * MA_CM2, error_estimate=False)
    base = simulate(improved(), 1 * MA_CM2, error_estimate=False)
    assert r.overpotentials["electronic"] > 10 * base.overpotentials["electronic"]
    assert r.utilisation < base.utilisation


def test_a_measured_kappa_eff_is_scaled_by_kappa_of_theta():
    # the rule: kappa_eff(θ) = kappa_eff · κ(θ) / kappa_CAM (kappa_eff set or measured)
    p = improved().with_values(kappa_CAM_function="amin2016", kappa_eff=50.0)
    cell = _Cell(p, Grid(n_x=10, n_r=3))
    theta = np.full((10, 3), 0.4)
    cell._lag_conductivity(theta)
    kappa = float(get_conductivity("amin2016")(0.4)) * 50.0 / p.kappa_CAM
    assert cell.r_s_right == pytest.approx(p.L_cat / 10 / (2 * kappa), rel=1e-12)


# -- selectable as data --------------------------------------------------------------------

def test_a_parameter_file_with_function_names_round_trips_and_simulates(tmp_path):
    p = improved().with_values(D_CAM_function="oregan2022", kappa_CAM_function="amin2016", name="custom")
    path = tmp_path / "materials.json"
    path.write_text(json.dumps(p.to_dict()))
    loaded = get_parameter_set(str(path))
    assert loaded == p and CellParameters.from_dict(p.to_dict()) == p
    assert loaded.D_CAM_function == "oregan2022" and loaded.kappa_CAM_function == "amin2016"
    r = simulate(loaded, 1 * MA_CM2, error_estimate=False)
    assert 0 < r.utilisation < 1 and r.to_dict()["parameters"]["D_CAM_function"] == "oregan2022"


def test_cli_takes_function_names_and_refuses_unknown_ones_in_one_line(tmp_path, capsys):
    out = tmp_path / "cell.json"
    assert main(["cell", "--set", "improved", "--current", "1mA/cm2", "--param", "D_CAM_function=oregan2022",
                 "--param", "cam=NMC811", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["parameters"]["D_CAM_function"] == "oregan2022"
    capsys.readouterr()
    assert main(["cell", "--set", "improved", "--param", "kappa_CAM_function=noh2013"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown kappa_CAM_function 'noh2013'; known: amin2016" in err[0]

