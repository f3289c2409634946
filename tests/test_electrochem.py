"""Microstructure-resolved cathode ASR against analytic cases and the homogenised model."""

import math

import numpy as np
import pytest

from microsim.errors import InvalidInputError
from microsim.microstructure import Microstructure
from microsim.transport.electrochem import (
    FARADAY,
    GAS_CONSTANT,
    cathode_asr,
    electrode_tortuosity_factor,
    homogenised_comparison,
    transmission_line_asr,
)

SE, CAM = 2, 1


def bilayer(axis: int, n_se: int, n_cam: int, other=(4, 5)) -> np.ndarray:
    profile = np.array([SE] * n_se + [CAM] * n_cam, np.uint8)
    shape = list(other)
    shape.insert(axis, profile.size)
    view = [1, 1, 1]
    view[axis] = profile.size
    return np.broadcast_to(profile.reshape(view), shape).copy()


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_planar_bilayer_is_exact(axis):
    # ASR = L_SE/σ + R/A_ratio + L_CAM/κ, with A_ratio = 1 for a flat interface
    h = (1e-6, 0.5e-6, 2e-6)
    micro = Microstructure(bilayer(axis, 6, 10), h)
    sigma, kappa, r_ct, r_sp = 0.1, 2.0, 1e-4, 2e-5
    r = cathode_asr(micro, sigma, kappa, r_ct, r_sp, axis=axis, solver="direct")
    l_se, l_cam = 6 * h[axis], 10 * h[axis]
    assert r.asr == pytest.approx(l_se / sigma + r_ct + r_sp + l_cam / kappa, rel=1e-10)
    assert r.asr_ionic == pytest.approx(l_se / sigma, rel=1e-9)
    assert r.asr_electronic == pytest.approx(l_cam / kappa, rel=1e-9)
    assert r.asr_interface == pytest.approx(r_ct + r_sp, rel=1e-9)
    assert r.active_cam_fraction == 1.0 and r.reaction_current_cv < 1e-9


def test_planar_bilayer_with_butler_volmer_is_exact():
    # V = I (L_SE/σ + R_SP + L_CAM/κ) + (2RT/F) asinh(I R_CT F / 2RT)
    micro = Microstructure(bilayer(0, 6, 10), 1e-6)
    sigma, kappa, r_ct, r_sp = 0.1, 2.0, 150e-4, 1e-4
    rt_f = GAS_CONSTANT * 298.15 / FARADAY
    for current in (1.0, 10.0, 100.0):
        r = cathode_asr(micro, sigma, kappa, r_ct, r_sp, current_density=current, solver="direct")
        v = current * (6e-6 / sigma + r_sp + 10e-6 / kappa) + 2 * rt_f * math.asinh(current * r_ct / (2 * rt_f))
        assert r.asr == pytest.approx(v / current, rel=1e-6)
    linear = cathode_asr(micro, sigma, kappa, r_ct, r_sp, solver="direct").asr
    small = cathode_asr(micro, sigma, kappa, r_ct, r_sp, current_density=1e-4, solver="direct").asr
    assert small == pytest.approx(linear, rel=1e-6)


@pytest.mark.parametrize("length", [20, 40, 80])
def test_interdigitated_columns_follow_the_transmission_line(length):
    # one SE and one CAM column, one voxel wide, side by side through the thickness: a
    # de Levie line with σ_eff = σ/2, κ_eff = κ/2, a = 1/(2h) and, across the columns,
    # the two half voxels in series with R. Finite-volume error O(h) at the two ends:
    # 0.94 %, 0.76 %, 0.55 % measured.
    h, sigma, kappa, r = 1e-6, 0.1, 2.0, 1e-4
    labels = np.zeros((length, 2, 1), np.uint8)
    labels[:, 0, 0], labels[:, 1, 0] = SE, CAM
    result = cathode_asr(Microstructure(labels, h), sigma, kappa, r, solver="direct")
    line = transmission_line_asr(sigma / 2, kappa / 2, 1 / (2 * h), r + h / (2 * sigma) + h / (2 * kappa), length * h)
    assert result.asr == pytest.approx(line, rel=0.01)
    assert result.asr - line == pytest.approx(7.5e-7, rel=0.05)  # the same end offset at every length


def test_charge_conservation_and_symmetry(random_three_phase):
    micro = random_three_phase
    r = cathode_asr(micro, 0.08, 4.54, 1e-3, return_fields=True, rtol=1e-10)
    assert r.current_balance_error < 1e-5  # separator current = collector current
    area = micro.size_m[1] * micro.size_m[2]
    reacted = r.reaction_field.sum() * np.prod(micro.voxel_size)  # A, at 10 A/m^2
    assert reacted == pytest.approx(10.0 * area, rel=1e-5)  # = total reaction current
    assert r.asr == pytest.approx(r.asr_ionic + r.asr_electronic + r.asr_interface, rel=1e-6)
    flipped = Microstructure(micro.labels[:, ::-1, :].copy(), micro.voxel_size, micro.phases)
    assert cathode_asr(flipped, 0.08, 4.54, 1e-3, rtol=1e-10).asr == pytest.approx(r.asr, rel=1e-7)


def test_butler_volmer_lowers_the_resistance_at_high_current(random_three_phase):
    asr = [cathode_asr(random_three_phase, 0.08, 4.54, 150e-4, current_density=j).asr for j in (1e-3, 10.0, 100.0)]
    linear = cathode_asr(random_three_phase, 0.08, 4.54, 150e-4).asr
    assert asr[0] == pytest.approx(linear, rel=1e-5)
    assert asr[0] > asr[1] > asr[2]


@pytest.mark.slow
def test_homogenised_model_agrees_where_scales_separate():
    # generated 75/25 sintered composite, 32 µm thick, particles 3 and 1.5 µm:
    # ν² = L² a / (R σ_eff) measures how deep the reaction reaches. Measured differences
    # (a: the active CAM|SE area): ν² = 0.094 -> -1.0 %, 0.25 -> -2.6 %, 0.94 -> -8.3 %;
    # where the reaction zone is thinner than a particle (ν² = 24 -> -39 %, 2450 -> -58 %)
    # the homogenised model overestimates the ASR: the first particles at the separator
    # see better-connected SE than the average σ_eff says. (The packing before the dense
    # sintered particles kept their radii gave -0.05, -0.25 and -2.3 % at ν² = 0.08, 0.2
    # and 0.8: its larger particles, +18 %, had a smaller a; why the agreement at small
    # ν² moved to 1 % is not settled yet.)
    from microsim.generate import generate

    micro = generate((64, 64, 64), {"CAM": 0.75, "LLZO": 0.25}, {"CAM": 3e-6, "LLZO": 1.5e-6}, voxel_size=0.5e-6,
                     packing="sintered", seed=1)
    for r_ct, tolerance in ((2.6, 0.015), (1.0, 0.035), (0.26, 0.10)):
        c = homogenised_comparison(micro, 0.08, 4.54, r_ct)
        assert abs(c["relative_difference"]) < tolerance, (r_ct, c)
    fast = homogenised_comparison(micro, 0.08, 4.54, 1e-3)
    assert fast["relative_difference"] < -0.3


def test_electrode_tortuosity_of_a_straight_column_is_one():
    labels = np.zeros((40, 2, 1), np.uint8)
    labels[:, 0, 0], labels[:, 1, 0] = SE, CAM
    assert electrode_tortuosity_factor(Microstructure(labels, 1e-6)) == pytest.approx(1.0, abs=2e-3)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda lab: lab.__setitem__((0,), CAM), "does not touch the separator"),
        (lambda lab: lab.__setitem__((-1,), SE), "does not touch the current-collector"),
    ],
)
def test_broken_networks_say_which(edit, match):
    labels = bilayer(0, 6, 10)
    edit(labels)
    r = cathode_asr(Microstructure(labels, 1e-6), 0.1, 1.0, 1e-4)
    assert math.isinf(r.asr) and match in r.note and r.to_dict()["asr_ohm_cm2"] is None


def test_no_contact_says_so():
    labels = np.zeros((10, 4, 4), np.uint8)
    labels[:, :, 0] = SE  # SE on one side, CAM on the other, pore between
    labels[:, :, 3] = CAM
    r = cathode_asr(Microstructure(labels, 1e-6), 0.1, 1.0, 1e-4)
    assert "never touch" in r.note


def test_bad_parameters():
    micro = Microstructure(bilayer(0, 3, 3), 1e-6)
    with pytest.raises(InvalidInputError, match="R_CT"):
        cathode_asr(micro, 0.1, 1.0, -1.0)
    with pytest.raises(InvalidInputError, match="positive conductivities"):
        cathode_asr(micro, 0.0, 1.0, 1e-4)
    with pytest.raises(InvalidInputError, match="current density"):
        cathode_asr(micro, 0.1, 1.0, 1e-4, current_density=-1.0)
    with pytest.raises(InvalidInputError, match="unknown phase"):
        cathode_asr(micro, 0.1, 1.0, 1e-4, se="SE")
