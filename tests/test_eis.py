"""Impedance spectra on the voxel network, against exact references.

Tolerances:
* 1e-6 on the exact series cases: the solve stops when the complex inlet, outlet and
  plane currents agree to 1e-6 (relative) and Z has moved by less than 1e-6, so Z is
  good to that; the network of a uniform column is the series circuit exactly (the
  half voxels add up to L/σ*), so nothing else separates them.
* 1e-6 on the DC limit against the steady solvers: both stop at a current balance of
  1e-6.
* 1 % on the Kramers–Kronig residuals (the issue's criterion); a spectrum with Z''
  doubled must fail it.
* 1e-4 on the circuit fit of the column: the fitted model contains the exact one, so
  it is limited by the optimiser's tolerance and by the 1e-6 of the spectrum.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

from microsim import ChargeTransfer, Microstructure, save_microstructure, spectrum
from microsim.cli import main
from microsim.constants import VACUUM_PERMITTIVITY as E0
from microsim.errors import InvalidInputError, PercolationWarning
from microsim.generate import generate
from microsim.transport import solve_transport
from microsim.transport.eis_fit import kramers_kronig
from microsim.transport.electrochem import cathode_asr
from microsim.transport.impedance import frequency_grid, impedance_spectrum

SIGMA, EPS_R = 0.05, 60.0  # S/m, LLZO-like bulk: tau_bulk = eps0 eps_r / sigma = 1.06e-8 s
R_GB, C_GB = 1e-4, 1e-2  # 1 ohm cm2, 1 uF/cm2: tau_GB = 1e-6 s
FREQS = frequency_grid(1e-3, 1e8, 1)  # 12 frequencies, 1 mHz to 100 MHz


def column(axis: int, n_grains: int = 4, grain: int = 3, voxel=(1e-6, 2e-6, 0.5e-6)) -> Microstructure:
    """LLZO grains stacked along ``axis`` (each ``grain`` voxels thick), 3x2 voxels across."""
    n = n_grains * grain
    shape = [3, 2]
    shape.insert(axis, n)
    view = [1, 1, 1]
    view[axis] = n
    grains = np.broadcast_to((np.arange(n) // grain + 1).reshape(view), shape).astype(np.int32).copy()
    return Microstructure(np.full(shape, 2, np.uint8), voxel, grains=grains)


def exact_column(micro: Microstructure, axis: int, freqs, n_boundaries: int) -> np.ndarray:
    w = 2 * np.pi * np.asarray(freqs)
    return micro.size_m[axis] / (SIGMA + 1j * w * E0 * EPS_R) + n_boundaries * R_GB / (1 + 1j * w * R_GB * C_GB)


def relative_error(z, exact) -> float:
    return float(np.max(np.abs(z - exact) / np.abs(exact)))


@pytest.mark.parametrize("axis, periodic", [(0, False), (2, True)])
def test_grain_column_is_the_series_of_bulk_and_boundaries(axis, periodic):
    micro = column(axis)
    result = spectrum(micro, {"LLZO": SIGMA}, FREQS, axis=axis, periodic=periodic, permittivity={"LLZO": EPS_R},
                      grain_boundary_resistance={"LLZO": R_GB}, grain_boundary_capacitance={"LLZO": C_GB},
                      analyse=False)
    assert relative_error(result.impedance, exact_column(micro, axis, FREQS, 3)) < 1e-6
    assert np.all(result.impedance.imag < 0)  # capacitive arcs below the real axis
    assert result.current_balance_error.max() <= 1e-6
    assert result.dc_limit == pytest.approx(micro.size_m[axis] / SIGMA + 3 * R_GB, rel=1e-6)


def test_blocking_electrodes_add_their_capacitance_in_series():
    micro, c_el = column(0), 0.2
    result = spectrum(micro, {"LLZO": SIGMA}, FREQS, permittivity={"LLZO": EPS_R},
                      grain_boundary_resistance={"LLZO": R_GB}, grain_boundary_capacitance={"LLZO": C_GB},
                      electrodes="blocking", electrode_capacitance=c_el, analyse=False)
    exact = exact_column(micro, 0, FREQS, 3) + 2 / (1j * 2 * np.pi * FREQS * c_el)
    assert relative_error(result.impedance, exact) < 1e-6
    assert math.isinf(result.dc_limit)


def test_se_cam_bilayer_with_charge_transfer_and_double_layer():
    labels = np.full((10, 3, 3), 2, np.uint8)
    labels[4:] = 1  # 4 voxels of LLZO at the separator, 6 of CAM at the collector
    micro = Microstructure(labels, 1e-6)
    kappa, eps_cam, r_ct, r_sp, c_dl = 2.0, 20.0, 2e-3, 5e-4, 0.1  # 20 ohm cm2, 5 ohm cm2, 10 uF/cm2
    transfer = ChargeTransfer(r_ct, r_sp, c_dl)
    result = spectrum(micro, {"LLZO": SIGMA, "CAM": kappa}, FREQS, permittivity={"LLZO": EPS_R, "CAM": eps_cam},
                      charge_transfer=transfer, analyse=False)
    w = 2 * np.pi * FREQS
    exact = (4e-6 / (SIGMA + 1j * w * E0 * EPS_R) + 6e-6 / (kappa + 1j * w * E0 * eps_cam) + r_sp
             + r_ct / (1 + 1j * w * r_ct * c_dl))
    assert relative_error(result.impedance, exact) < 1e-6
    assert result.mode == "cathode"
    steady = cathode_asr(micro, SIGMA, kappa, r_ct, r_sp)
    assert result.dc_limit == pytest.approx(steady.asr, rel=1e-6)


def test_blocking_bilayer_and_a_blocked_composite_at_1_mhz(random_three_phase):
    labels = np.full((10, 3, 3), 2, np.uint8)
    labels[4:] = 1
    kappa, r_ct, c_dl, c_el = 2.0, 2e-3, 0.1, 0.1
    result = spectrum(Microstructure(labels, 1e-6), {"LLZO": SIGMA, "CAM": kappa}, FREQS,
                      permittivity={"LLZO": EPS_R}, charge_transfer=ChargeTransfer(r_ct, c_dl=c_dl),
                      electrodes="blocking", electrode_capacitance=c_el, analyse=False)
    w = 2 * np.pi * FREQS
    exact = (4e-6 / (SIGMA + 1j * w * E0 * EPS_R) + 6e-6 / (kappa + 1j * w * E0) + r_ct / (1 + 1j * w * r_ct * c_dl)
             + 2 / (1j * w * c_el))
    assert relative_error(result.impedance, exact) < 1e-6
    # state-of-the-art kinetics behind blocking electrodes: the potential floats at ~0.5 V with
    # drops 1e-8 of that across the bulk at 1 mHz, and must still balance
    micro = Microstructure(random_three_phase.labels[:12, :10, :10], 1e-6, random_three_phase.phases)
    blocked = spectrum(micro, {"LLZO": 0.08, "CAM": 4.54}, [1e-3], charge_transfer=ChargeTransfer(0.26, 0.26, 0.1),
                       electrodes="blocking", analyse=False)
    assert blocked.current_balance_error.max() <= 1e-6
    assert -blocked.impedance[0].imag > 100 * blocked.impedance[0].real > 0


@pytest.fixture(scope="module")
def grained_volume() -> Microstructure:
    """12^3 LLZO (80 %) with pores, in Voronoi grains of 4 um."""
    return generate((12, 12, 12), {"pore": 0.2}, 1.5e-6, voxel_size=1e-6, matrix="LLZO", grain_size=4e-6, seed=1)


@pytest.fixture(scope="module")
def grained_spectrum(grained_volume):
    return spectrum(grained_volume, {"LLZO": SIGMA}, frequency_grid(1e2, 1e9, 5), permittivity={"LLZO": EPS_R},
                    grain_boundary_resistance={"LLZO": R_GB}, grain_boundary_capacitance={"LLZO": C_GB})


def test_computed_spectrum_is_kramers_kronig_consistent(grained_spectrum):
    kk = grained_spectrum.kramers_kronig
    assert kk is not None and kk.max_residual < 1e-2
    z = grained_spectrum.impedance
    assert kramers_kronig(grained_spectrum.frequencies, z.real + 2j * z.imag).max_residual > 1e-2


def test_dc_limit_is_the_steady_effective_conductivity(grained_volume, grained_spectrum):
    (steady,) = solve_transport(grained_volume, {"LLZO": SIGMA}, axes=0, grain_boundary_resistance={"LLZO": R_GB})
    assert grained_spectrum.dc_limit == pytest.approx(grained_volume.size_m[0] / steady.sigma_eff, rel=1e-6)
    assert grained_spectrum.fit is not None and grained_spectrum.relaxation_times is not None


def test_dc_limit_of_a_composite_cathode_is_its_asr(random_three_phase):
    micro = Microstructure(random_three_phase.labels[:12, :10, :10], 1e-6, random_three_phase.phases)
    result = spectrum(micro, {"LLZO": SIGMA, "CAM": 2.0}, [1e3, 1e5], charge_transfer=ChargeTransfer(2e-3, 0.0, 0.1),
                      analyse=False)
    steady = cathode_asr(micro, SIGMA, 2.0, 2e-3)
    assert steady.connected and result.dc_limit == pytest.approx(steady.asr, rel=1e-6)
    assert np.all(np.abs(result.impedance) < result.dc_limit)  # the double layer shorts part of R_CT


def test_fit_and_drt_recover_the_column():
    micro = column(0)
    freqs = frequency_grid(1e2, 1e10, 5)
    result = spectrum(micro, {"LLZO": SIGMA}, freqs, permittivity={"LLZO": EPS_R},
                      grain_boundary_resistance={"LLZO": R_GB}, grain_boundary_capacitance={"LLZO": C_GB})
    arcs = {a.name: a for a in result.fit.arcs}
    assert arcs["bulk"].resistance == pytest.approx(micro.size_m[0] / SIGMA, rel=1e-4)
    assert arcs["bulk"].capacitance == pytest.approx(E0 * EPS_R / micro.size_m[0], rel=1e-4)
    assert arcs["GB"].resistance == pytest.approx(3 * R_GB, rel=1e-4)
    assert arcs["GB"].capacitance == pytest.approx(C_GB / 3, rel=1e-4)
    assert arcs["GB"].n == pytest.approx(1.0, abs=1e-4)
    peaks = result.relaxation_times.peaks
    assert len(peaks) == 2  # one grid step is 10^0.1: each peak within it of the true time constant
    for (tau, r), (tau_exact, r_exact) in zip(peaks, [(E0 * EPS_R / SIGMA, micro.size_m[0] / SIGMA),
                                                      (R_GB * C_GB, 3 * R_GB)]):
        assert abs(math.log10(tau / tau_exact)) <= 0.1
        assert r == pytest.approx(r_exact, rel=0.05)


def test_no_spanning_path_is_a_result_with_a_note():
    labels = np.full((6, 3, 3), 2, np.uint8)
    labels[3] = 0  # a pore layer cuts the LLZO
    result = spectrum(Microstructure(labels, 1e-6), {"LLZO": SIGMA}, FREQS)
    assert not result.connected and np.all(np.isinf(result.impedance.real)) and math.isinf(result.dc_limit)
    assert "no path" in result.note
    assert result.to_dict()["Z_real_ohm_cm2"][0] is None


@pytest.mark.parametrize("options, match", [
    ({"frequencies": [0.0]}, "frequency must be finite and > 0"),
    ({"frequencies": [float("nan")]}, "frequency must be finite and > 0"),
    ({"permittivity": {"LLZO": 0.0}}, "permittivity"),
    ({"permittivity": {"LLZO": float("inf")}}, "permittivity"),
    ({"grain_boundary_resistance": {"LLZO": R_GB}, "grain_boundary_capacitance": {"LLZO": -1.0}}, "capacitance"),
    ({"grain_boundary_capacitance": {"LLZO": C_GB}}, "needs its grain-boundary resistance"),
    ({"electrodes": "ohmic"}, "electrodes must be"),
])
def test_bad_input_is_refused(options, match):
    micro = column(0)
    options = {"frequencies": FREQS, **options}
    with pytest.raises(InvalidInputError, match=match):
        impedance_spectrum(micro, {"LLZO": SIGMA}, options.pop("frequencies"), **options)


def test_capacitances_that_have_nothing_to_act_on_are_refused():
    plain = Microstructure(np.full((4, 2, 2), 2, np.uint8), 1e-6)
    with pytest.raises(InvalidInputError, match="needs grain ids"):
        spectrum(plain, {"LLZO": SIGMA}, FREQS, grain_boundary_resistance={"LLZO": R_GB},
                 grain_boundary_capacitance={"LLZO": C_GB})
    with pytest.raises(InvalidInputError, match="CAM\\|LLZO faces"):
        spectrum(plain, {"LLZO": SIGMA, "CAM": 1.0}, FREQS, charge_transfer=ChargeTransfer(1e-3, c_dl=0.1))
    with pytest.raises(InvalidInputError, match="low to high"):
        frequency_grid(1e3, 1.0, 5)


# -- the command line ------------------------------------------------------------------
@pytest.fixture
def column_file(tmp_path):
    return save_microstructure(column(0, voxel=1e-6), tmp_path / "column.tif")


def one_error_line(capsys, match):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert match in err[0], err[0]


def test_cli_writes_json_csv_and_png(tmp_path, column_file, capsys):
    out = tmp_path / "eis.json"
    args = ["eis", str(column_file), "--sigma", "LLZO=0.5mS/cm", "--permittivity", "LLZO=60",
            "--gb-resistance", "LLZO=1ohmcm2", "--gb-capacitance", "LLZO=1uF/cm2", "--frequencies", "1kHz:1e9:3",
            "--json", str(out), "--csv", str(tmp_path / "eis.csv"), "--png", str(tmp_path / "eis.png"), "-q"]
    assert main(args) == 0
    report = json.loads(out.read_text())
    for key in ("frequencies_Hz", "Z_real_ohm_cm2", "Z_imag_ohm_cm2", "dc_limit_ohm_cm2", "fit"):
        assert key in report
    assert report["dc_limit_ohm_cm2"] == pytest.approx(12e-6 / SIGMA * 1e4 + 3.0, rel=1e-6)
    assert report["fit"]["R_GB_ohm_cm2"] == pytest.approx(3.0, rel=1e-3)
    rows = (tmp_path / "eis.csv").read_text().splitlines()
    assert rows[0].startswith("frequency_Hz,Z_real_ohm_cm2") and len(rows) == 1 + len(report["frequencies_Hz"])
    assert (tmp_path / "eis.png").stat().st_size > 0
    capsys.readouterr()
    assert main(args) == 1  # never over existing files without --force
    one_error_line(capsys, "exists already")


@pytest.mark.parametrize("extra, match", [
    (["--frequencies", "0:1e3:5"], "frequency must be finite and > 0"),
    (["--frequencies", "1e3:1:5"], "low to high"),
    (["--frequencies", "1:1e3"], "FMIN:FMAX:PER_DECADE"),
    (["--permittivity", "LLZO=-3"], "permittivity must be > 0"),
    (["--permittivity", "LLZO=nan"], "finite"),
    (["--gb-resistance", "LLZO=1ohmcm2", "--gb-capacitance", "LLZO=0uF/cm2"], "must be finite and > 0"),
    (["--gb-resistance", "LLZO=1ohmcm2", "--gb-capacitance", "LLZO=1uf/cm2"], "did you mean 'uF/cm2'"),
    (["--cdl", "10uF/cm2"], "give --rct with it"),
])
def test_cli_bad_input_is_one_line_and_exit_1(column_file, capsys, extra, match):
    assert main(["eis", str(column_file), "--sigma", "LLZO=0.5mS/cm", "--frequencies", "1:1e3:1", *extra]) == 1
    one_error_line(capsys, match)


def test_cli_refuses_capacitances_without_their_faces(tmp_path, capsys):
    plain = save_microstructure(Microstructure(np.full((4, 2, 2), 2, np.uint8), 1e-6), tmp_path / "plain.tif")
    base = ["eis", str(plain), "--frequencies", "1:1e3:1", "-q"]
    assert main([*base, "--sigma", "LLZO=0.5mS/cm", "--gb-resistance", "LLZO=1ohmcm2",
                 "--gb-capacitance", "LLZO=1uF/cm2"]) == 1
    one_error_line(capsys, "needs grain ids")
    assert main([*base, "--sigma", "LLZO=0.5mS/cm,CAM=1S/m", "--rct", "10ohmcm2", "--cdl", "10uF/cm2"]) == 1
    one_error_line(capsys, "faces; this volume has none")


def test_cli_broken_network_writes_the_result_and_exits_1(tmp_path, capsys):
    labels = np.full((6, 3, 3), 2, np.uint8)
    labels[3] = 0
    path = save_microstructure(Microstructure(labels, 1e-6), tmp_path / "cut.tif")
    out = tmp_path / "cut.json"
    with warnings.catch_warnings():
        warnings.simplefilter("error", PercolationWarning)
        assert main(["eis", str(path), "--sigma", "LLZO=0.5mS/cm", "--frequencies", "1:1e3:1", "--json", str(out),
                     "-q"]) == 1
    one_error_line(capsys, "broken network")
    report = json.loads(out.read_text())
    assert report["Z_real_ohm_cm2"] == [None] * 4 and report["dc_limit_ohm_cm2"] is None
