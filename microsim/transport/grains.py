"""Grain boundaries as a Bruggeman-style exponent β_GB.

The cell-model literature folds grain-boundary (and secondary-phase) losses of the
electrolyte into the exponent: ``σ_eff = ε^(β_tort + β_GB) σ0`` (Ren, Danner et al.,
Adv. Energy Mater. 2023, 2201939, doi:10.1002/aenm.202201939, find β_GB = 1.39 for
porous LLZO). Two ways to get β_GB from a specific grain-boundary resistance
``R_GB`` [Ω·m²]:

* :func:`grain_boundary_beta` measures it on a volume with grain ids: two solves,
  with and without ``R_GB``; ``β_GB = ln(σ_eff,GB / σ_eff,bulk) / ln ε``.
* :func:`brick_layer_beta` is the brick-layer estimate: grains of size ``d`` in
  series with one boundary per grain, ``σ_GB-limited = σ0 / (1 + σ0 R_GB / d)``, hence
  ``β_GB = ln(1 + σ0 R_GB / d) / (-ln ε)``; :func:`brick_layer_resistance` inverts it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from microsim.errors import InvalidInputError
from microsim.microstructure import Microstructure
from microsim.transport.effective import solve_transport


@dataclass(frozen=True)
class GrainBoundaryBeta:
    """Result of :func:`grain_boundary_beta` (conductivities in S/m)."""

    phase: str
    axis: int
    volume_fraction: float
    sigma_eff_bulk: float
    sigma_eff_with_gb: float
    beta_tort: float
    beta_gb: float


def _check_fraction(eps: float) -> None:
    if not 0 < eps < 1:
        raise InvalidInputError(
            f"β_GB is defined through ε^β and needs 0 < ε < 1, got ε = {eps:.4g}; "
            "for a dense phase compare the conductivities directly"
        )


def grain_boundary_beta(
    micro: Microstructure,
    phase: str,
    sigma: float,
    resistance: float,
    *,
    axis: int = 0,
    **options,
) -> GrainBoundaryBeta:
    """Measure β_GB of ``phase`` for a specific grain-boundary resistance.

    Parameters
    ----------
    micro : Microstructure
        Must carry grain ids on ``phase``.
    phase : str
    sigma : float [S/m]
        Bulk (grain-interior) conductivity σ0.
    resistance : float [Ω·m²]
        Specific resistance of every face between two grains.
    axis : int
    **options
        Passed to :func:`~microsim.transport.solve_transport` (solver, rtol, periodic).

    Returns
    -------
    GrainBoundaryBeta

    Raises
    ------
    InvalidInputError
        No grains, a phase that fills the box or does not percolate.
    """
    bulk, with_gb = (
        solve_transport(micro, {phase: sigma}, axes=axis, grain_boundary_resistance=gb, **options)[0]
        for gb in (None, {phase: resistance})
    )
    _check_fraction(bulk.volume_fraction)
    if not bulk.percolating:
        raise InvalidInputError(f"{phase} does not percolate along axis {axis}: β_GB is undefined")
    log_eps = math.log(bulk.volume_fraction)
    return GrainBoundaryBeta(
        phase=phase,
        axis=axis,
        volume_fraction=bulk.volume_fraction,
        sigma_eff_bulk=bulk.sigma_eff,
        sigma_eff_with_gb=with_gb.sigma_eff,
        beta_tort=math.log(bulk.sigma_eff / sigma) / log_eps,
        beta_gb=math.log(with_gb.sigma_eff / bulk.sigma_eff) / log_eps,
    )


def brick_layer_beta(resistance: float, sigma: float, grain_size: float, volume_fraction: float) -> float:
    """Brick-layer β_GB of grains of size ``grain_size`` [m], σ0 = ``sigma`` [S/m], R_GB [Ω·m²].

    Examples
    --------
    >>> round(brick_layer_beta(brick_layer_resistance(1.39, 1.0, 2e-6, 0.25), 1.0, 2e-6, 0.25), 6)
    1.39
    """
    _check_fraction(volume_fraction)
    if resistance < 0 or sigma <= 0 or grain_size <= 0:
        raise InvalidInputError("need R_GB >= 0, sigma > 0 and grain size > 0")
    return math.log1p(sigma * resistance / grain_size) / -math.log(volume_fraction)


def brick_layer_resistance(beta_gb: float, sigma: float, grain_size: float, volume_fraction: float) -> float:
    """Specific grain-boundary resistance [Ω·m²] that gives ``beta_gb`` in the brick-layer model."""
    _check_fraction(volume_fraction)
    if beta_gb < 0 or sigma <= 0 or grain_size <= 0:
        raise InvalidInputError("need β_GB >= 0, sigma > 0 and grain size > 0")
    return grain_size / sigma * (volume_fraction**-beta_gb - 1)
