"""Segmentation of grey-value stacks into named phases.

Steps: optional denoising (median, Gaussian, or non-local means with the noise level
estimated from the data), thresholds (multi-Otsu into N classes, or given by hand),
classes named in grey order (``("pore", "CBD", "NMC")`` = dark to bright), removal
of isolated specks smaller than ``min_size`` voxels (each speck takes the label of
the nearest voxel outside it), and the phase fractions.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from microsim.errors import InvalidInputError

log = logging.getLogger(__name__)

DENOISERS = ("none", "median", "gaussian", "nlm")


def _check_image(image) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3:
        raise InvalidInputError(f"segmentation needs a 3-D grey-value stack, got shape {image.shape}")
    if image.dtype.kind not in "uif":
        raise InvalidInputError(f"grey values must be integers or floats, got {image.dtype}")
    if image.dtype.kind == "f" and not np.all(np.isfinite(image)):
        raise InvalidInputError("the stack holds NaN or infinite grey values")
    if image.size and image.min() == image.max():
        raise InvalidInputError(f"the stack has a single grey level ({image.min()}): nothing to segment")
    return image


def noise_sigma(image: np.ndarray) -> float:
    """Standard deviation of white noise in ``image``, from its second differences.

    Immerkær's estimator (Comput. Vis. Image Underst. 64 (1996) 300) slice by slice:
    the 3x3 mask [[1,-2,1],[-2,4,-2],[1,-2,1]] cancels smooth structure; the mean
    absolute response times sqrt(π/2)/6 is σ.
    """
    mask = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)[None]
    response = ndimage.convolve(np.asarray(image, dtype=np.float32), mask, mode="reflect")[:, 1:-1, 1:-1]
    return float(np.mean(np.abs(response)) * math.sqrt(math.pi / 2) / 6)


def denoise(image: np.ndarray, method: str = "none", *, size: int = 3, sigma: float = 1.0) -> np.ndarray:
    """Denoised copy of ``image`` as float32.

    Parameters
    ----------
    method : ``"none"``, ``"median"`` (``size``³ window), ``"gaussian"`` (``sigma``
        voxels) or ``"nlm"`` (scikit-image non-local means, 3³ patches, noise level
        from :func:`noise_sigma`).
    """
    image = _check_image(image).astype(np.float32)
    if method == "none":
        return image
    if method == "median":
        return ndimage.median_filter(image, size=size)
    if method == "gaussian":
        return ndimage.gaussian_filter(image, sigma)
    if method == "nlm":
        from skimage.restoration import denoise_nl_means

        lo, hi = float(image.min()), float(image.max())
        scaled = (image - lo) / (hi - lo)
        s = noise_sigma(scaled)
        out = denoise_nl_means(scaled, h=0.8 * s, sigma=s, patch_size=3, patch_distance=4, fast_mode=True)
        return (out * (hi - lo) + lo).astype(np.float32)
    raise InvalidInputError(f"unknown denoising {method!r}; choose one of {', '.join(DENOISERS)}")


def remove_specks(labels: np.ndarray, min_size: int) -> tuple[np.ndarray, int]:
    """Give every connected piece (6-connectivity) smaller than ``min_size`` voxels the
    label of the nearest voxel outside the small pieces. Returns (labels, voxels changed)."""
    if min_size <= 1:
        return labels, 0
    small = np.zeros(labels.shape, dtype=bool)
    structure = ndimage.generate_binary_structure(3, 1)
    for value in np.unique(labels):
        pieces, n = ndimage.label(labels == value, structure=structure)
        if n == 0:
            continue
        sizes = np.bincount(pieces.ravel())
        tiny = sizes < min_size
        tiny[0] = False
        small |= tiny[pieces]
    changed = int(np.count_nonzero(small))
    if changed == 0 or changed == labels.size:
        return labels, 0
    nearest = ndimage.distance_transform_edt(small, return_distances=False, return_indices=True)
    return labels[tuple(nearest)], changed


@dataclass(frozen=True)
class Segmentation:
    """Labels ``0..N-1`` in the order of ``classes`` (dark to bright) and how they came about."""

    labels: np.ndarray
    classes: tuple[str, ...]
    thresholds: tuple[float, ...]
    method: str
    denoise: str
    specks_removed: int

    @property
    def phases(self) -> dict[str, int]:
        return {name: k for k, name in enumerate(self.classes)}

    def fractions(self) -> dict[str, float]:
        counts = np.bincount(self.labels.ravel(), minlength=len(self.classes))
        return {name: float(counts[k] / self.labels.size) for k, name in enumerate(self.classes)}

    def to_dict(self) -> dict:
        return {
            "classes_dark_to_bright": list(self.classes),
            "thresholds": list(self.thresholds),
            "threshold_method": self.method,
            "denoise": self.denoise,
            "specks_removed_voxels": self.specks_removed,
            "volume_fractions": self.fractions(),
        }


def segment(
    image: np.ndarray,
    classes: Sequence[str],
    *,
    denoise_method: str = "none",
    thresholds: Sequence[float] | None = None,
    min_size: int = 0,
) -> Segmentation:
    """Segment a grey-value stack into ``len(classes)`` phases by grey level.

    Parameters
    ----------
    image : (n0, n1, n2) ndarray
    classes : sequence of str
        Phase names from the darkest to the brightest class.
    denoise_method : str
        See :func:`denoise`.
    thresholds : sequence of float, optional
        ``len(classes) - 1`` increasing grey values (in the units of ``image``);
        default multi-Otsu on the (denoised) stack.
    min_size : int
        Connected pieces smaller than this many voxels join their surroundings.

    Returns
    -------
    Segmentation

    Examples
    --------
    >>> img = np.zeros((4, 4, 4)); img[:, :, 2:] = 10
    >>> segment(img, ["pore", "CAM"]).fractions()
    {'pore': 0.5, 'CAM': 0.5}
    """
    classes = tuple(str(c).strip() for c in classes)
    if len(classes) < 2 or any(not c for c in classes) or len(set(classes)) != len(classes):
        raise InvalidInputError(f"need two or more distinct class names (dark to bright), got {list(classes)}")
    smooth = denoise(image, denoise_method)
    if thresholds is None:
        from skimage.filters import threshold_multiotsu

        try:
            cuts = tuple(float(t) for t in threshold_multiotsu(smooth.ravel(), classes=len(classes)))
        except ValueError as exc:
            raise InvalidInputError(f"multi-Otsu cannot split this stack into {len(classes)} classes: {exc}") from None
        method = f"multi-Otsu ({len(classes)} classes)"
    else:
        cuts = tuple(float(t) for t in thresholds)
        if len(cuts) != len(classes) - 1 or any(b <= a for a, b in zip(cuts, cuts[1:])) \
                or not all(math.isfinite(c) for c in cuts):
            raise InvalidInputError(
                f"{len(classes)} classes need {len(classes) - 1} increasing finite thresholds, got {list(cuts)}"
            )
        low, high = float(smooth.min()), float(smooth.max())
        outside = [c for c in cuts if not low < c <= high]
        if outside:  # a cut outside the grey range leaves a class empty and puts every voxel in another
            raise InvalidInputError(
                f"threshold(s) {', '.join(f'{c:g}' for c in outside)} lie outside the grey range {low:g} to {high:g} "
                f"of the stack{' after denoising' if denoise_method != 'none' else ''}: every class needs voxels"
            )
        method = "manual"
    labels = np.digitize(smooth, cuts).astype(np.uint8)
    labels, changed = remove_specks(labels, int(min_size))
    result = Segmentation(labels, classes, cuts, method, denoise_method, changed)
    log.info("segmented into %s", ", ".join(f"{k} {v:.3f}" for k, v in result.fractions().items()))
    return result
