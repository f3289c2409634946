"""Grain ids: every face-connected piece of an id is one grain.

Shared by the generator (:func:`microsim.generate.voronoi_grains`) and the import
(:func:`microsim.reading.read_volume`): a grain id that covers several pieces -- a
Voronoi cell cut by the pores, a crop, or a file that reuses ids -- becomes one grain
per piece, with grain boundaries all round each.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["split_grains"]


def split_grains(grains: np.ndarray, *, periodic: bool | Sequence[bool] = False) -> np.ndarray:
    """Give every face-connected piece of a grain id its own id.

    Two voxels belong to one grain when they carry the same id and a chain of
    face neighbours (6-connectivity, the neighbours of the transport stencil) with that
    id joins them; a piece cut off from the rest of its id is another grain, with grain
    boundaries all round it.

    Parameters
    ----------
    grains : (n0, n1, n2) integer ndarray
        Grain ids, 0 = no grain.
    periodic : bool or 3 bools
        Axes on which the box wraps: a piece leaving one face and entering the opposite
        one is one grain.

    Returns
    -------
    (n0, n1, n2) int32 ndarray
        Ids ``1..N``, one per piece, 0 where ``grains`` is 0.

    Examples
    --------
    >>> g = np.array([[[1, 1, 2, 1]]])
    >>> split_grains(g).tolist()
    [[[1, 1, 2, 3]]]
    >>> split_grains(g, periodic=True).tolist()
    [[[1, 1, 2, 1]]]
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from skimage.measure import label

    grains = np.asarray(grains)
    wrap = (bool(periodic),) * 3 if np.ndim(periodic) == 0 else tuple(bool(w) for w in periodic)
    pieces, count = label(grains, background=0, connectivity=1, return_num=True)
    pieces = pieces.astype(np.int32, copy=False)
    ends = [(np.take(grains, 0, axis=a), np.take(grains, -1, axis=a), np.take(pieces, 0, axis=a),
             np.take(pieces, -1, axis=a)) for a in range(3) if wrap[a] and grains.shape[a] > 1]
    if count and ends:
        first, second = [], []
        for g0, g1, p0, p1 in ends:
            same = (g0 == g1) & (g0 > 0)
            first.append(p0[same])
            second.append(p1[same])
        i, j = np.concatenate(first), np.concatenate(second)
        graph = coo_matrix((np.ones(i.size), (i, j)), shape=(count + 1, count + 1))
        _, joined = connected_components(graph, directed=False)
        # renumber 1..N in order of first appearance, 0 stays 0
        roots = joined[1:]
        _, index = np.unique(roots, return_inverse=True)
        lookup = np.concatenate([[0], index + 1]).astype(np.int32)
        pieces = lookup[pieces]
    return pieces
