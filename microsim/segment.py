"""Segmentation of grey-value stacks into named phases.

Steps: optional denoising (median, Gaussian, or non-local means with the noise level
estimated from the data), thresholds (multi-Otsu into N classes, or given by hand),
classes named in grey order (``("pore", "CBD", "NMC")`` = dark to bright), removal
of isolated specks smaller than ``min_size`` voxels (each speck takes the label of
the nearest voxel outside it), and the phase fractions.

Before thresholding, :func:`histogram_modes` finds the modes of the grey histogram and
the partial-volume share (voxels between the modes that belong to no mode's peak);
asking for more classes than modes warns (:class:`~microsim.errors.SegmentationWarning`)
with the numbers: the extra class would be cut from the partial-volume band, not from
a phase. A classifier trained from scribbles lives in :mod:`microsim.trainable`.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from microsim.errors import InvalidInputError, SegmentationWarning

log = logging.getLogger(__name__)

DENOISERS = ("none", "median", "gaussian", "nlm")


def check_image(image) -> np.ndarray:
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
    image = check_image(image).astype(np.float32)
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


#: histogram settings of :func:`histogram_modes`: bins over the 0.05-99.95 % grey range,
#: Gaussian smoothing [bins] and the least peak prominence (share of the highest peak)
HISTOGRAM_BINS = 256
HISTOGRAM_SMOOTHING_BINS = 2.0
MODE_PROMINENCE = 0.05


@dataclass(frozen=True)
class HistogramModes:
    """The modes of a grey histogram and the partial-volume share between them.

    Attributes
    ----------
    modes : tuple of float
        Grey value of each peak of the smoothed histogram, dark to bright.
    widths : tuple of float
        Standard deviation of each peak (grey units), from its half width at half
        maximum on its outer flank (σ = HWHM / √(2 ln 2)).
    partial_volume_fraction : float
        Share of all voxels between the modes that the peaks do not explain (see
        :func:`histogram_modes`).
    band_fractions : tuple of float
        The same, between each pair of neighbouring modes.
    """

    modes: tuple[float, ...]
    widths: tuple[float, ...]
    partial_volume_fraction: float
    band_fractions: tuple[float, ...] = ()

    def to_dict(self) -> dict:
        return {"modes_grey": [round(m, 6) for m in self.modes],
                "mode_widths_grey": [round(w, 6) for w in self.widths],
                "partial_volume_fraction": round(self.partial_volume_fraction, 6),
                "partial_volume_fraction_per_band": [round(f, 6) for f in self.band_fractions]}


def _sample(image: np.ndarray, limit: int = 1 << 22) -> np.ndarray:
    """Every k-th slice of ``image`` (whole slices; a memory-mapped stack reads only those)."""
    step = max(1, math.ceil(image.size / limit))
    return np.asarray(image[::step], dtype=np.float64).ravel()


def _outer_hwhm(smooth: np.ndarray, peaks: np.ndarray, k: int) -> float | None:
    """Half width at half maximum [bins] of peak ``k`` on its outer flank (the dark one
    of the darkest peak, the bright one of the brightest, the mean of a middle one's);
    None when neither flank falls to half maximum before the next peak."""
    p, half = peaks[k], smooth[peaks[k]] / 2
    left = np.nonzero(smooth[(peaks[k - 1] + 1) if k else 0:p] < half)[0]
    right = np.nonzero(smooth[p + 1:peaks[k + 1] if k + 1 < len(peaks) else len(smooth)] < half)[0]
    dark = p - ((peaks[k - 1] + 1) if k else 0) - left[-1] if len(left) else None
    bright = right[0] + 1 if len(right) else None
    if k == 0 and dark is not None:
        return int(dark)
    if k == len(peaks) - 1 and bright is not None:
        return int(bright)
    sides = [w for w in (dark, bright) if w is not None]
    return float(np.mean(sides)) if sides else None


def histogram_modes(image: np.ndarray, *, bins: int = HISTOGRAM_BINS,
                    smoothing: float = HISTOGRAM_SMOOTHING_BINS, prominence: float = MODE_PROMINENCE) -> HistogramModes:
    """The peaks of the smoothed grey histogram and the partial-volume share between them.

    Parameters
    ----------
    image : (n0, n1, n2) ndarray
        Grey values (a stack of more than 4·10⁶ voxels is sampled slice-wise).
    bins : int
        Histogram bins over the 0.05-99.95 percentile range.
    smoothing : float [bins]
        Standard deviation of the Gaussian that smooths the histogram.
    prominence : float
        Least prominence of a peak, as a share of the highest smoothed count.

    Returns
    -------
    HistogramModes

    Notes
    -----
    Each mode is modelled as a Gaussian of its smoothed peak height and of the width
    of its outer flank (the flank that no other phase overlaps), centred to a fraction
    of a bin. The partial-volume share is the count between neighbouring modes (from
    one σ above the lower to one σ below the upper) in excess of the sum of these
    Gaussians, over all voxels: voxels that mix two phases (or a third, weak phase)
    fill the valley above what the noise of pure phases puts there. It is ≈ 0 for
    pure phases with Gaussian noise, whatever the noise.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> img = np.where(rng.random((20, 20, 20)) < 0.5, 10.0, 50.0) + rng.normal(0, 2, (20, 20, 20))
    >>> [round(m) for m in histogram_modes(img).modes]
    [10, 50]
    """
    from scipy.signal import find_peaks

    values = _sample(check_image(image))
    lo, hi = np.percentile(values, [0.05, 99.95])
    if not hi > lo:
        lo, hi = float(values.min()), float(values.max())
    counts, edges = np.histogram(values, bins=bins, range=(lo, hi))
    centres = 0.5 * (edges[:-1] + edges[1:])
    smooth = ndimage.gaussian_filter1d(counts.astype(np.float64), smoothing, mode="constant")
    peaks, _ = find_peaks(np.concatenate([[0.0], smooth, [0.0]]), prominence=prominence * smooth.max())
    peaks = peaks - 1
    if len(peaks) == 0:
        peaks = np.array([int(np.argmax(smooth))])
    bin_width = edges[1] - edges[0]
    hwhm = [_outer_hwhm(smooth, peaks, k) for k in range(len(peaks))]
    known = [h for h in hwhm if h is not None]
    # a middle peak that never falls to half maximum takes the others' mean width (noise alike)
    hwhm = [h if h is not None else (np.mean(known) if known else 1.0) for h in hwhm]
    widths = [h * bin_width / math.sqrt(2 * math.log(2)) for h in hwhm]
    # each peak's centre to a fraction of a bin (a parabola through its three smoothed counts)
    shift = np.zeros(len(peaks))
    for k, p in enumerate(peaks):
        if 0 < p < len(smooth) - 1:
            y0, y1, y2 = smooth[p - 1:p + 2]
            curvature = y0 - 2 * y1 + y2
            shift[k] = 0.5 * (y0 - y2) / curvature if curvature < 0 else 0.0
    modes = centres[peaks] + shift * bin_width
    model = sum(smooth[p] * np.exp(-0.5 * ((centres - m) / w) ** 2) for p, m, w in zip(peaks, modes, widths))
    excess = smooth - model  # signed: the noise of the counts cancels, a filled valley stays
    total = max(int(counts.sum()), 1)
    bands = []
    for (m0, w0), (m1, w1) in zip(zip(modes, widths), zip(modes[1:], widths[1:])):
        inside = (centres > m0 + w0) & (centres < m1 - w1)
        bands.append(max(float(excess[inside].sum() / total), 0.0))
    return HistogramModes(tuple(float(m) for m in modes), tuple(float(w) for w in widths), float(sum(bands)),
                          tuple(bands))


def check_classes_supported(modes: HistogramModes, n_classes: int) -> None:
    """Warn (:class:`SegmentationWarning`) when ``n_classes`` exceeds the histogram's modes."""
    n = len(modes.modes)
    if n_classes <= n:
        return
    grey = ", ".join(f"{m:.6g}" for m in modes.modes)
    warnings.warn(
        f"the grey histogram has {n} mode{'s' if n != 1 else ''} (grey {grey}) but {n_classes} classes were asked "
        f"for: {n_classes - n} class{'es' if n_classes - n > 1 else ''} would be cut from the partial-volume band "
        f"between the modes ({modes.partial_volume_fraction:.1%} of the voxels), not from a phase; segment into "
        f"{n} classes, train a classifier on scribbles (--scribbles LABELS.tif), or assign the phase the contrast "
        "cannot show numerically (--cbd FRACTION)", SegmentationWarning, stacklevel=3)


@dataclass(frozen=True)
class Segmentation:
    """Labels ``0..N-1`` in the order of ``classes`` and how they came about.

    ``classes`` run dark to bright for thresholds; for a classifier trained on
    scribbles they are in the order given (scribble k marks ``classes[k - 1]``), and
    ``probabilities`` (n_classes, n0, n1, n2) float32 holds its class probabilities,
    ``cross_validation`` its held-out accuracy by slabs.
    """

    labels: np.ndarray
    classes: tuple[str, ...]
    thresholds: tuple[float, ...]
    method: str
    denoise: str
    specks_removed: int
    histogram: HistogramModes | None = None
    probabilities: np.ndarray | None = field(default=None, repr=False)
    cross_validation: dict | None = None
    binder: dict | None = None

    @property
    def phases(self) -> dict[str, int]:
        return {name: k for k, name in enumerate(self.classes)}

    def fractions(self) -> dict[str, float]:
        counts = np.bincount(self.labels.ravel(), minlength=len(self.classes))
        return {name: float(counts[k] / self.labels.size) for k, name in enumerate(self.classes)}

    def to_dict(self) -> dict:
        out = {"classes_dark_to_bright" if self.cross_validation is None else "classes": list(self.classes)}
        if self.cross_validation is None:
            out["thresholds"] = list(self.thresholds)
            out["threshold_method"] = self.method
        else:
            out["method"] = self.method
            out["cross_validated_accuracy"] = self.cross_validation["accuracy"]
            out["cross_validation"] = self.cross_validation
        out.update({"denoise": self.denoise, "specks_removed_voxels": self.specks_removed,
                    "volume_fractions": self.fractions()})
        if self.histogram is not None:
            out["histogram"] = self.histogram.to_dict()
            out["partial_volume_fraction"] = self.histogram.partial_volume_fraction
        if self.binder is not None:
            out["binder"] = self.binder
        return out


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
    modes = histogram_modes(smooth)
    if thresholds is None:
        check_classes_supported(modes, len(classes))
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
    result = Segmentation(labels, classes, cuts, method, denoise_method, changed, histogram=modes)
    log.info("segmented into %s", ", ".join(f"{k} {v:.3f}" for k, v in result.fractions().items()))
    return result
