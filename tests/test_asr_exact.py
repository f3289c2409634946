"""The resolved cathode ASR is exact at any contrast, or it says it is not (issue 20).

A planar LLZO | CAM bilayer has the exact ASR ``L_SE/σ + L_CAM/κ + R_CT`` (Dirichlet
faces at half a voxel from the first and last voxel centres, so each layer counts its
full thickness). The sweep covers the contrasts users meet: σ from 1e-4 to 1e3 S/cm
(electrolytes to metals) against R_CT from 1e-2 to 1e4 Ω·cm² (clean contacts to
resistive interphases). Tolerance 1e-6 relative: the stopping rule's own tolerance.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from microsim.microstructure import Microstructure
from microsim.transport.electrochem import cathode_asr

S_PER_CM, OHM_CM2 = 100.0, 1e-4


def bilayer(voxel=(1e-6, 1e-6, 1e-6), n0=20, n=16):
    labels = np.full((n0, n, n), 1, np.uint8)  # CAM at the collector side
    labels[: n0 // 2] = 2  # LLZO at the separator side
    return Microstructure(labels, voxel)


@pytest.mark.parametrize("sigma_cm, r_cm2", list(itertools.product([1e-4, 1e-2, 1.0, 1e2, 1e3], [1e-2, 1.0, 1e2, 1e4])))
def test_planar_bilayer_is_exact_at_any_contrast(sigma_cm, r_cm2):
    micro = bilayer()
    sigma, r_ct = sigma_cm * S_PER_CM, r_cm2 * OHM_CM2
    layer = 10 * micro.voxel_size[0]
    exact = 2 * layer / sigma + r_ct
    result = cathode_asr(micro, sigma, sigma, r_ct)
    assert result.asr == pytest.approx(exact, rel=1e-6)
    assert result.current_balance_error <= 1e-6
    parts = result.asr_ionic + result.asr_electronic + result.asr_interface
    assert parts == pytest.approx(result.asr, rel=1e-6)


@pytest.mark.parametrize("voxel", [(2e-6, 1e-6, 1e-6), (0.5e-6, 2e-6, 1e-6), (1e-6, 1e-6, 3e-6)])
@pytest.mark.parametrize("sigma_cm, kappa_cm, r_cm2", [(8e-4, 3.15, 150.0), (1e-2, 1e3, 1e4), (10.0, 10.0, 1e-2)])
def test_anisotropic_voxels_and_unequal_layers(voxel, sigma_cm, kappa_cm, r_cm2):
    micro = bilayer(voxel)
    sigma, kappa, r_ct = sigma_cm * S_PER_CM, kappa_cm * S_PER_CM, r_cm2 * OHM_CM2
    layer = 10 * voxel[0]
    result = cathode_asr(micro, sigma, kappa, r_ct)
    assert result.asr == pytest.approx(layer / sigma + layer / kappa + r_ct, rel=1e-6)
    assert result.current_balance_error <= 1e-6


@pytest.mark.parametrize("sigma_cm, r_cm2", [(8e-4, 150.0), (1.0, 1e4), (1e2, 1.0), (1e-2, 1e-2)])
def test_butler_volmer_at_small_current_is_the_linear_asr(sigma_cm, r_cm2):
    # at an overpotential far below RT/F, Butler-Volmer is its tangent R_CT
    micro = bilayer(n=8)
    sigma, r_ct = sigma_cm * S_PER_CM, r_cm2 * OHM_CM2
    exact = 2 * 10 * micro.voxel_size[0] / sigma + r_ct
    current = 1e-3 * 0.025 / exact  # A/m^2: the drop is 25 µV
    result = cathode_asr(micro, sigma, sigma, r_ct, current_density=current)
    assert result.asr == pytest.approx(exact, rel=1e-6)
    assert result.current_balance_error <= 1e-6


def test_butler_volmer_is_exact_against_its_own_planar_solution():
    # one planar interface: V = I (L/σ + L/κ) + 2RT/F asinh(I R_CT F / 2RT) exactly; here
    # I R_CT = 0.1 V, four times RT/F: well into the nonlinear range
    micro = bilayer(n=8)
    sigma, r_ct, current = 1.0 * S_PER_CM, 100 * OHM_CM2, 10.0
    rt_f = 8.314462618 * 298.15 / 96485.33212
    layer = 10 * micro.voxel_size[0]
    voltage = current * 2 * layer / sigma + 2 * rt_f * math.asinh(current * r_ct / (2 * rt_f))
    result = cathode_asr(micro, sigma, sigma, r_ct, current_density=current)
    assert result.asr == pytest.approx(voltage / current, rel=1e-6)
    assert result.current_balance_error <= 1e-6


def test_many_disconnected_clusters_carry_no_current_and_change_nothing():
    # isolated CAM specks inside the LLZO and LLZO specks inside the CAM float: the planar
    # answer stays exact, and the currents still balance
    micro = bilayer(n0=24, n=16)
    labels = micro.labels.copy()
    rng = np.random.default_rng(4)
    for _ in range(40):
        z, y, x = rng.integers(2, 10), rng.integers(1, 15), rng.integers(1, 15)
        labels[z, y, x] = 1  # a CAM speck in the LLZO
        z2 = rng.integers(14, 22)
        labels[z2, y, x] = 2  # an LLZO speck in the CAM
    specks = Microstructure(labels, micro.voxel_size)
    sigma, r_ct = 1e-2 * S_PER_CM, 10 * OHM_CM2
    result = cathode_asr(specks, sigma, 1e3 * S_PER_CM, r_ct)
    assert result.current_balance_error <= 1e-6
    assert 0 < result.active_cam_fraction < 1  # the specks are not active
    # the specks only lengthen the paths: above the clean bilayer, below it with the specks as blocks
    clean = cathode_asr(bilayer(n0=24, n=16), sigma, 1e3 * S_PER_CM, r_ct)
    assert result.asr > clean.asr


@pytest.mark.parametrize("r_cm2", [5.0, 1e-4])
def test_planar_li_metal_against_llzo_is_exact(r_cm2):
    # Li metal at its real conductivity (1.1e7 S/m) against LLZO (0.05 S/m): 10^8 in the bulk
    micro = bilayer(n=8)
    sigma, kappa, r_ct = 0.05, 1.1e7, r_cm2 * OHM_CM2
    layer = 10 * micro.voxel_size[0]
    result = cathode_asr(micro, sigma, kappa, r_ct)
    assert result.asr == pytest.approx(layer / sigma + layer / kappa + r_ct, rel=1e-6)
    assert result.current_balance_error <= 1e-6


@pytest.mark.parametrize("r_cm2, current", [(5.0, 10.0), (100.0, 10.0), (1e-2, 1e3)])
def test_planar_li_metal_under_butler_volmer_is_exact(r_cm2, current):
    # the metal is lumped in the Newton tangents too: V = I (L/σ + L/κ) + 2RT/F asinh(I R_CT F / 2RT)
    micro = bilayer(n=8)
    sigma, kappa, r_ct = 0.05, 1.1e7, r_cm2 * OHM_CM2
    rt_f = 8.314462618 * 298.15 / 96485.33212
    layer = 10 * micro.voxel_size[0]
    voltage = current * (layer / sigma + layer / kappa) + 2 * rt_f * math.asinh(current * r_ct / (2 * rt_f))
    result = cathode_asr(micro, sigma, kappa, r_ct, current_density=current)
    assert result.asr == pytest.approx(voltage / current, rel=1e-6)
    assert result.current_balance_error <= 1e-6


def test_li_metal_through_a_composite_is_the_limit_of_ever_faster_cam():
    # Li metal (1.1e7 S/m) threaded through a sintered LLZO composite: the metal is lumped
    # (one unknown per floating cluster, the wired ones at the collector's 0 V) and the ASR
    # is the limit the unlumped solves approach as the CAM gets faster (1/κ convergence)
    from microsim.generate import generate

    micro = generate((16, 16, 16), {"CAM": 0.5, "LLZO": 0.5}, {"CAM": 2e-6, "LLZO": 2e-6}, voxel_size=0.5e-6,
                     packing="sintered", seed=2)
    metal = cathode_asr(micro, 0.05, 1.1e7, 5e-4)
    assert metal.current_balance_error <= 1e-6
    fast = [cathode_asr(micro, 0.05, kappa, 5e-4).asr for kappa in (1e4, 1e5)]
    limit = fast[1] + (fast[1] - fast[0]) / 9  # Richardson in 1/κ
    assert metal.asr == pytest.approx(limit, rel=1e-6)


@pytest.mark.parametrize("sigma_cm, r_gb_cm2", list(itertools.product([8e-4, 1e-2, 1.0], [1e-2, 1.0, 1e2, 1e3, 1e4])))
def test_a_column_of_grains_in_analyze_is_exact(sigma_cm, r_gb_cm2):
    # four LLZO grains in series along axis 0: R = L/σ + 3 R_GB per area, exactly
    from microsim.transport import solve_transport

    labels = np.full((16, 6, 6), 2, np.uint8)
    grains = np.repeat(np.arange(1, 5), 4)[:, None, None] * np.ones((1, 6, 6), np.int32)
    micro = Microstructure(labels, 1e-6, grains=grains)
    sigma, r_gb = sigma_cm * S_PER_CM, r_gb_cm2 * OHM_CM2
    length = 16e-6
    (result,) = solve_transport(micro, {"LLZO": sigma}, axes=0, grain_boundary_resistance={"LLZO": r_gb})
    assert result.sigma_eff == pytest.approx(length / (length / sigma + 3 * r_gb), rel=1e-6)
    assert result.current_balance_error <= 1e-6


@pytest.mark.parametrize("sigma_cm", [1e-2, 1e2])
def test_an_interface_resistance_in_analyze_is_exact(sigma_cm):
    # the bilayer solved as one conductor with a resistive CAM|LLZO face: L/σ + L/κ + R
    from microsim.transport import solve_transport

    micro = bilayer(n=8)
    sigma, r = sigma_cm * S_PER_CM, 1e4 * OHM_CM2
    (result,) = solve_transport(micro, {"LLZO": sigma, "CAM": sigma}, axes=0,
                                interface_resistance={("CAM", "LLZO"): r})
    length = 20e-6
    assert result.sigma_eff == pytest.approx(length / (length / sigma + r), rel=1e-6)
    assert result.current_balance_error <= 1e-6


@pytest.mark.parametrize("sigma, r_cm2", [(0.05, 5.0), (0.05, 100.0), (1e6, 5.0), (1e6, 100.0)])
def test_li_channels_never_fall_below_the_interface_floor(sigma, r_cm2):
    # Li metal (1.1e7 S/m) in straight square channels from the collector into LLZO: the
    # ASR is at least R x planar area / interface area, and equals it when the LLZO is fast
    n0, n = 24, 16
    labels = np.full((n0, n, n), 2, np.uint8)
    for y in range(2, n, 6):
        for x in range(2, n, 6):
            labels[8:, y:y + 2, x:x + 2] = 1
    micro = Microstructure(labels, 1e-6)
    faces = sum(np.count_nonzero(np.diff(labels.astype(int), axis=a)) for a in range(3))
    r = r_cm2 * OHM_CM2
    floor = r * (n * n) / faces
    result = cathode_asr(micro, sigma, 1.1e7, r)
    assert result.current_balance_error <= 1e-6
    assert result.asr >= floor * (1 - 1e-9)
    if sigma > 1e3:
        assert result.asr == pytest.approx(floor, rel=1e-6)


def test_butler_volmer_line_is_the_linear_line_at_small_current_and_converges():
    from microsim.transport.electrochem import butler_volmer_line_asr, transmission_line_asr

    sigma, kappa, a, r, length = 1.0, 10.0, 1e5, 1e-2, 1e-4
    linear = transmission_line_asr(sigma, kappa, a, r, length)
    errors = [abs(butler_volmer_line_asr(sigma, kappa, a, r, 0.0, length, 1e-4, cells=c) / linear - 1)
              for c in (100, 200, 400)]
    assert errors[-1] < 1e-6
    assert [round(math.log2(e0 / e1)) for e0, e1 in zip(errors, errors[1:])] == [2, 2]  # second order
    assert butler_volmer_line_asr(sigma, kappa, a, r, 0.0, length, 100.0) < 0.8 * linear  # BV lowers it


def test_asr_at_a_current_is_compared_like_with_like(tmp_path, capsys):
    # issue 22 item 8: with --current the homogenised model is Butler-Volmer at that current,
    # and both voxel ASRs (linear and at the current) are printed and named
    import json

    from microsim.cli import main

    vol = tmp_path / "c.tif"
    assert main(["-q", "generate", "--shape", "24,20,20", "--voxel-size", "0.5um", "--fractions", "CAM=0.6,LLZO=0.4",
                 "--radius", "CAM=2um,LLZO=1um", "--packing", "sintered", "--seed", "5", "-o", str(vol)]) == 0
    capsys.readouterr()
    assert main(["-q", "asr", str(vol), "--sigma", "LLZO=1e-2S/cm,CAM=3.15S/cm", "--rct", "150ohmcm2",
                 "--current", "10mA/cm2", "--json", "-"]) == 0
    captured = capsys.readouterr()
    record = json.loads(captured.out)
    assert "Butler-Volmer at 10 mA/cm2" in captured.err and "(linear kinetics)" in captured.err
    homog = record["homogenised"]
    assert homog["kinetics"] == "Butler-Volmer" and homog["voxel_asr_ohm_cm2"] == pytest.approx(record["asr_ohm_cm2"])
    assert record["linear_asr_ohm_cm2"] > record["asr_ohm_cm2"]  # BV lowers the resistance at 10 mA/cm2
    assert homog["relative_difference"] == pytest.approx(
        (record["asr_ohm_cm2"] - homog["homogenised_asr_ohm_cm2"]) / homog["homogenised_asr_ohm_cm2"])
    assert abs(homog["relative_difference"]) < 0.3


def test_li_metal_through_a_composite_under_butler_volmer_is_the_fast_cam_limit():
    # as the linear case, at 10 mA/cm^2 (I R_CT = 0.5 V: deep in the nonlinear range); the
    # unlumped solve at 1e7 S/m cannot balance its currents, the lumped one must
    from microsim.generate import generate

    micro = generate((16, 16, 16), {"CAM": 0.5, "LLZO": 0.5}, {"CAM": 2e-6, "LLZO": 2e-6}, voxel_size=0.5e-6,
                     packing="sintered", seed=2)
    metal = cathode_asr(micro, 0.05, 1.1e7, 5e-4, current_density=100.0)
    assert metal.current_balance_error <= 1e-6
    fast = [cathode_asr(micro, 0.05, kappa, 5e-4, current_density=100.0).asr for kappa in (1e4, 1e5)]
    limit = fast[1] + (fast[1] - fast[0]) / 9  # Richardson in 1/κ
    assert metal.asr == pytest.approx(limit, rel=1e-6)
