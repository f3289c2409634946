"""Rasterising many balls onto a voxel grid without a Python loop per ball.

One mechanism serves the sphere generator (which sphere covers a voxel first, how
far a voxel is from the nearest particle) and the local-thickness measure (largest
ball covering a voxel): :func:`ball_hits` yields, chunk by chunk, every (voxel, ball)
pair within reach, and the caller folds them in with ``np.minimum.at`` or
``np.maximum.at``.

Voxel ``i`` has its centre at ``i + 0.5`` (in voxel units), ball centres are floats.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

_PAIRS_PER_CHUNK = 1 << 22


def _offsets(reach: float, spacing: np.ndarray) -> np.ndarray:
    """Integer offsets from ``floor(centre)`` that can hold a voxel centre within ``reach``."""
    grids = [np.arange(-n, n + 1) for n in (np.ceil(reach / spacing).astype(int) + 1)]
    o = np.stack(np.meshgrid(*grids, indexing="ij"), axis=-1).reshape(-1, 3)
    nearest = np.maximum(np.abs(o) - 0.5, 0.0) * spacing  # closest a centre in [0, 1)^3 can come
    return o[(nearest**2).sum(axis=1) <= reach**2]


def ball_hits(
    shape: tuple[int, int, int],
    centres: np.ndarray,
    reach: np.ndarray,
    *,
    wrap: tuple[bool, bool, bool] = (False, False, False),
    spacing=(1.0, 1.0, 1.0),
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield ``(flat_index, ball, distance)`` for voxel centres within ``reach`` of a ball centre.

    Parameters
    ----------
    shape : 3 ints
        Grid shape.
    centres : (M, 3) float ndarray
        Ball centres in voxel units (voxel ``i`` spans ``[i, i + 1)``).
    reach : (M,) float ndarray
        Distance up to which voxels are reported, per ball, in the units of ``spacing``.
    wrap : 3 bools
        Axes on which the grid is periodic; elsewhere voxels outside are dropped.
    spacing : 3 floats
        Voxel edge lengths; distances are measured with them (default: voxel units).

    Yields
    ------
    flat_index : int64 ndarray
        Index into ``array.ravel()`` of a C-ordered array of ``shape``.
    ball : int64 ndarray
        Row of ``centres`` the voxel is near.
    distance : float32 ndarray
        Distance from the voxel centre to the ball centre, in the units of ``spacing``.
    """
    centres = np.asarray(centres, dtype=float).reshape(-1, 3)
    reach = np.broadcast_to(np.asarray(reach, dtype=float), (len(centres),))
    dims = np.asarray(shape, dtype=np.int64)
    strides = np.array([shape[1] * shape[2], shape[2], 1], dtype=np.int64)
    h = np.asarray(spacing, dtype=float)
    by_reach = np.argsort(reach, kind="stable")
    sorted_reach = reach[by_reach]
    start = 0
    while start < len(by_reach):
        # balls whose reach differs by less than a voxel edge share one stencil
        top = sorted_reach[start] + h.min()
        offsets = _offsets(top, h)
        step = max(1, _PAIRS_PER_CHUNK // len(offsets))
        stop = min(int(np.searchsorted(sorted_reach, top, side="right")), start + step)
        chunk = by_reach[start:stop]
        base = np.floor(centres[chunk]).astype(np.int64)
        # |(o + 1/2 - f) h|^2 with f = centre - base, expanded so one matrix product does it
        shift = (offsets + 0.5) * h
        frac = (centres[chunk] - base) * h
        d2 = (shift**2).sum(axis=1)[None, :] - 2 * frac @ shift.T + (frac**2).sum(axis=1)[:, None]
        keep = d2 <= (reach[chunk] ** 2)[:, None]
        span = np.abs(offsets).max(axis=0)
        inner = np.all((base - span >= 0) & (base + span < dims), axis=1)
        flat = np.empty(keep.shape, dtype=np.int64)
        flat[inner] = (base[inner] @ strides)[:, None] + (offsets @ strides)[None, :]
        if not inner.all():  # balls that reach a box face: wrap or drop per axis
            edge = ~inner
            index = base[edge][:, None, :] + offsets[None, :, :]
            for a in range(3):
                if wrap[a]:
                    index[..., a] %= dims[a]
                else:
                    keep[edge] &= (index[..., a] >= 0) & (index[..., a] < dims[a])
            flat[edge] = np.where(keep[edge], index @ strides, 0)
        ball = np.broadcast_to(chunk[:, None], keep.shape)[keep]
        yield flat[keep], ball, np.sqrt(np.maximum(d2[keep], 0)).astype(np.float32)
        start = stop
