"""Representative volume: how σ_eff and τ settle as the analysed sub-volume grows.

A tomography crop (or a generated volume) is only trustworthy if its effective
properties no longer depend on its size. :func:`representative_volume` cuts cubic
sub-volumes of growing edge at random places, solves each, and reports the mean and
spread of the microstructure factor σ_eff/σ0 and of τ per size, next to the value of
the whole volume. The REV size is the smallest edge from which on every larger size
has its mean within ``tolerance`` of the whole volume's value and a
sample-to-sample spread (standard deviation over mean) within ``tolerance``.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from microsim.errors import InvalidInputError, PercolationWarning
from microsim.microstructure import Microstructure


@dataclass(frozen=True)
class RevSize:
    """Statistics of the sub-volumes of one edge length.

    Attributes
    ----------
    edge_voxels : int
    edge_m : float [m]
        Edge along the transport axis.
    samples : int
    volume_fraction_mean, volume_fraction_std : float
    factor_mean, factor_std : float
        σ_eff/σ0 over the samples (0 for a sample without a spanning path).
    tortuosity_mean, tortuosity_std : float
        τ = ε σ0/σ_eff over the samples (inf if any sample does not percolate).
    """

    edge_voxels: int
    edge_m: float
    samples: int
    volume_fraction_mean: float
    volume_fraction_std: float
    factor_mean: float
    factor_std: float
    tortuosity_mean: float
    tortuosity_std: float

    def to_dict(self) -> dict:
        out = {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
               for k, v in dataclasses.asdict(self).items()}
        out["edge_um"] = self.edge_m * 1e6
        return out


@dataclass(frozen=True)
class RevResult:
    """Sub-volume statistics by size, the whole volume, and the settled size.

    ``settled_edge_voxels`` is None when no size below the whole volume meets the
    tolerance: the volume is then too small to be representative.
    """

    phase: str
    axis: int
    tolerance: float
    sizes: tuple[RevSize, ...]
    whole: RevSize
    settled_edge_voxels: int | None
    settled_edge_m: float | None

    def table(self) -> str:
        """A fixed-width table: edge [µm], samples, ε, σ_eff/σ0 and τ (mean ± std), and the verdict."""
        lines = [f"{'edge [um]':>10}{'samples':>9}{'eps':>16}{'sigma_eff/sigma0':>24}{'tau':>18}"]
        for s in (*self.sizes, self.whole):
            tau = "inf" if math.isinf(s.tortuosity_mean) else f"{s.tortuosity_mean:.3f} ± {s.tortuosity_std:.3f}"
            lines.append(f"{s.edge_m * 1e6:>10.2f}{s.samples:>9}{s.volume_fraction_mean:>9.3f} ± "
                         f"{s.volume_fraction_std:.3f}{s.factor_mean:>15.4f} ± {s.factor_std:.4f}{tau:>18}"
                         + ("  (whole)" if s is self.whole else ""))
        if self.settled_edge_m is None:
            lines.append(f"not settled within {self.tolerance:.0%}: the volume is too small to be representative")
        else:
            lines.append(f"settled within {self.tolerance:.0%} from an edge of {self.settled_edge_m * 1e6:.2f} um "
                         f"({self.settled_edge_voxels} voxels)")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-ready record (no NaN or Infinity: an undefined figure is None)."""
        return {"phase": self.phase, "axis": self.axis, "tolerance": self.tolerance,
                "settled_edge_voxels": self.settled_edge_voxels,
                "settled_edge_um": None if self.settled_edge_m is None else self.settled_edge_m * 1e6,
                "sizes": self.rows()}

    def rows(self) -> list[dict]:
        """One record per size (the whole volume last), for a CSV table."""
        return [{"phase": self.phase, "axis": self.axis, "whole_volume": s is self.whole, **s.to_dict()}
                for s in (*self.sizes, self.whole)]


def _stats(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(a)):
        return math.inf, math.inf
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0


def _solve(micro: Microstructure, phase: str, axis: int, solver) -> tuple[float, float, float]:
    from microsim.transport import solve_transport

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PercolationWarning)
        (r,) = solve_transport(micro, {phase: 1.0}, axes=axis, solver=solver)
    return r.volume_fraction, r.sigma_eff / r.sigma_bulk, r.tortuosity_factor


def _size(edge: int, edge_m: float, results: list[tuple[float, float, float]]) -> RevSize:
    eps, factor, tau = zip(*results)
    return RevSize(edge, edge_m, len(results), *_stats(list(eps)), *_stats(list(factor)), *_stats(list(tau)))


def representative_volume(
    micro: Microstructure,
    phase: str,
    *,
    sizes: Sequence[int] | None = None,
    axis: int = 0,
    samples: int = 4,
    tolerance: float = 0.05,
    seed: int | np.random.Generator | None = None,
    solver=None,
    progress: Callable[[int, int], None] | None = None,
) -> RevResult:
    """σ_eff/σ0 and τ of ``phase`` against the edge of cubic sub-volumes.

    Parameters
    ----------
    micro : Microstructure
    phase : str
        The conducting phase (alone, σ0 = 1).
    sizes : sequence of int, optional
        Sub-volume edges in voxels (default: 5 sizes from 16 voxels, or a quarter of the
        smallest box edge, geometrically up to the smallest edge); each must be at least
        4 and smaller than the smallest box edge.
    axis : int
        Transport axis.
    samples : int
        Sub-volumes per size, at random positions (all inside the box).
    tolerance : float
        Relative tolerance of the settled size (mean vs the whole volume, and spread).
    seed : int, Generator or None
        Positions of the sub-volumes.
    solver : optional
        Linear solver (see :func:`microsim.transport.solve_transport`).
    progress : callable(done, total), optional

    Returns
    -------
    RevResult

    Raises
    ------
    InvalidInputError
        Unknown phase, a size out of range, samples < 1 or tolerance outside (0, 1).

    Examples
    --------
    >>> import numpy as np
    >>> m = Microstructure(np.full((24, 24, 24), 2, np.uint8), 1e-6)
    >>> r = representative_volume(m, "LLZO", sizes=[8, 16], samples=2, seed=1)
    >>> [round(s.factor_mean, 6) for s in r.sizes], r.settled_edge_voxels
    ([1.0, 1.0], 8)
    """
    if phase not in micro.phases:
        raise InvalidInputError(f"unknown phase {phase!r}; phases are {', '.join(micro.phases)}")
    if axis not in (0, 1, 2):
        raise InvalidInputError(f"axis must be 0, 1 or 2, got {axis!r}")
    if not (isinstance(samples, int) and samples >= 1):
        raise InvalidInputError(f"samples must be a positive integer, got {samples!r}")
    if not 0 < tolerance < 1:
        raise InvalidInputError(f"tolerance must lie in (0, 1), got {tolerance!r}")
    smallest = min(micro.shape)
    if sizes is None:
        first = min(16, max(4, smallest // 4))
        sizes = sorted(set(np.round(np.geomspace(first, smallest, 6)[:-1]).astype(int).tolist()))
    sizes = sorted(int(s) for s in sizes)
    if not sizes or sizes[0] < 4 or sizes[-1] >= smallest:
        raise InvalidInputError(f"sub-volume edges must lie in [4, {smallest - 1}] voxels "
                                f"(below the smallest box edge), got {list(sizes)}")
    rng = np.random.default_rng(seed)
    total, done = len(sizes) * samples + 1, 0
    h = micro.voxel_size[axis]
    stats = []
    for edge in sizes:
        results = []
        for _ in range(samples):
            origin = [int(rng.integers(0, n - edge + 1)) for n in micro.shape]
            window = tuple(slice(o, o + edge) for o in origin)
            grains = None if micro.grains is None else micro.grains[window]
            sub = Microstructure(micro.labels[window], micro.voxel_size, dict(micro.phases), grains)
            results.append(_solve(sub, phase, axis, solver))
            done += 1
            if progress is not None:
                progress(done, total)
        stats.append(_size(edge, edge * h, results))
    whole = _size(micro.shape[axis], micro.shape[axis] * h, [_solve(micro, phase, axis, solver)])
    if progress is not None:
        progress(total, total)
    settled = None
    if whole.factor_mean > 0:
        for k, s in enumerate(stats):
            if all(abs(t.factor_mean - whole.factor_mean) <= tolerance * whole.factor_mean
                   and t.factor_std <= tolerance * t.factor_mean for t in stats[k:]):
                settled = s.edge_voxels
                break
    return RevResult(phase, axis, tolerance, tuple(stats), whole, settled, None if settled is None else settled * h)
