"""Carbon-binder assigned numerically, for X-ray stacks where the binder is invisible.

:func:`assign_binder` turns a share of the pore voxels into a binder phase, grown from
the surfaces of the solid (NMC) into the pore space, necks and contacts first, as the
"bridge" methods of the literature place it: the binder wets the active particles and
collects where they touch. The rule here is the local solid share: every pore voxel
scores the Gaussian-weighted fraction of solid around it (width ``sigma``, 3 voxels by
default: at 2 the staircase corners of voxelised spheres outscore the real necks),
which is highest in the concave corners between touching particles and falls off into
open pores; the pore voxels of highest score become binder until the asked volume
fraction is reached (ties broken by the distance to the solid, then by index).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from microsim.errors import InvalidInputError


def assign_binder(labels: np.ndarray, fraction: float, *, solid: int, pore: int, binder: int,
                  sigma: float = 3.0) -> np.ndarray:
    """Labels with ``fraction`` of all voxels moved from ``pore`` to ``binder``.

    Parameters
    ----------
    labels : (n0, n1, n2) integer ndarray
    fraction : float
        Binder volume fraction of the whole box, in (0, pore fraction).
    solid, pore, binder : int
        Labels of the solid the binder grows from, of the space it fills, and its own.
    sigma : float [voxels]
        Width of the neighbourhood that scores necks and contacts.

    Returns
    -------
    (n0, n1, n2) ndarray, the dtype of ``labels``

    Raises
    ------
    InvalidInputError
        ``fraction`` outside (0, pore fraction); ``binder`` already used.

    Examples
    --------
    >>> labels = np.zeros((10, 10, 10), np.uint8); labels[:, :, :5] = 1
    >>> out = assign_binder(labels, 0.1, solid=1, pore=0, binder=2)
    >>> float(np.mean(out == 2)), bool(np.all(out[:, :, 5] == 2))
    (0.1, True)
    """
    labels = np.asarray(labels)
    porous = labels == pore
    pore_fraction = float(np.mean(porous))
    if not (0 < fraction < pore_fraction):
        raise InvalidInputError(f"--cbd {fraction:g} is outside (0, {pore_fraction:.4g}): the binder takes a share "
                                "of the whole box from the pore space, less than all of it")
    if np.any(labels == binder):
        raise InvalidInputError(f"label {binder} is in use already: the binder needs a label of its own")
    n = int(round(fraction * labels.size))
    score = ndimage.gaussian_filter((labels == solid).astype(np.float32), sigma, mode="nearest")
    distance = ndimage.distance_transform_edt(labels != solid).astype(np.float32)
    candidates = np.flatnonzero(porous)
    order = np.lexsort((candidates, distance.ravel()[candidates], -score.ravel()[candidates]))
    out = labels.copy()
    out.ravel()[candidates[order[:n]]] = binder
    return out


__all__ = ["assign_binder"]
