"""β_GB from a grain-boundary resistance: measured on voxels against hand-solved cases."""

import math

import numpy as np
import pytest

from microsim.errors import InvalidInputError
from microsim.microstructure import Microstructure
from microsim.transport import brick_layer_beta, brick_layer_resistance, grain_boundary_beta


def grain_column(n_grains: int, grain_voxels: int, h: float = 1e-6) -> Microstructure:
    """LLZO filling half the cross-section (ε = 0.5), grains as slabs stacked along axis 0."""
    length = n_grains * grain_voxels
    labels = np.zeros((length, 4, 4), np.uint8)
    labels[:, :2, :] = 2
    grains = np.where(labels == 2, 1 + np.arange(length)[:, None, None] // grain_voxels, 0).astype(np.int32)
    return Microstructure(labels, h, grains=grains)


@pytest.mark.parametrize("n_grains, grain_voxels", [(4, 3), (6, 2), (1, 8)])
def test_series_grains_match_the_hand_solution(n_grains, grain_voxels):
    # channel of length L with n - 1 boundaries in series: 1/σ_ch = 1/σ0 + (n - 1) R / L;
    # σ_eff = ε σ_ch, σ_bulk = ε σ0, so β_GB = ln(σ_ch / σ0) / ln ε and β_tort = 1
    sigma, r_gb, h = 0.5, 2e-6, 1e-6
    micro = grain_column(n_grains, grain_voxels, h)
    length = n_grains * grain_voxels * h
    sigma_channel = 1 / (1 / sigma + (n_grains - 1) * r_gb / length)
    result = grain_boundary_beta(micro, "LLZO", sigma, r_gb, solver="direct")
    assert result.volume_fraction == 0.5
    assert result.sigma_eff_with_gb == pytest.approx(0.5 * sigma_channel, rel=1e-9)
    assert result.beta_tort == pytest.approx(1.0, abs=1e-9)
    assert result.beta_gb == pytest.approx(math.log(sigma_channel / sigma) / math.log(0.5), rel=1e-9)


def test_brick_layer_formula_and_inverse():
    # β_GB = 1.39 at ε = 0.25 (Ren, Danner et al. 2023) for 2 µm grains of 1e-2 S/cm LLZO
    r = brick_layer_resistance(1.39, 1.0, 2e-6, 0.25)
    assert r == pytest.approx(2e-6 / 1.0 * (0.25**-1.39 - 1))
    assert brick_layer_beta(r, 1.0, 2e-6, 0.25) == pytest.approx(1.39)
    assert brick_layer_beta(0.0, 1.0, 2e-6, 0.25) == 0.0
    # a long column (n boundaries ~ n grains) approaches the brick-layer value
    micro = grain_column(60, 1)
    measured = grain_boundary_beta(micro, "LLZO", 1.0, 1e-6, solver="direct").beta_gb
    assert measured == pytest.approx(brick_layer_beta(1e-6 * 59 / 60, 1.0, 1e-6, 0.5), rel=1e-9)


def test_undefined_cases_are_refused():
    micro = grain_column(3, 2)
    with pytest.raises(InvalidInputError, match="needs grain ids"):
        grain_boundary_beta(Microstructure(micro.labels, 1e-6), "LLZO", 1.0, 1e-6)
    dense = Microstructure(np.full((4, 4, 4), 2, np.uint8), 1e-6, grains=np.ones((4, 4, 4), np.int32))
    with pytest.raises(InvalidInputError, match="0 < ε < 1"):
        grain_boundary_beta(dense, "LLZO", 1.0, 1e-6)
    with pytest.raises(InvalidInputError, match="0 < ε < 1"):
        brick_layer_beta(1e-6, 1.0, 1e-6, 1.0)
