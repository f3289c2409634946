"""Trainable segmentation: a random forest on multi-scale features, trained from scribbles.

The workflow of ilastik's pixel classification and Fiji's Trainable Weka Segmentation,
on scikit-image's :func:`~skimage.feature.multiscale_basic_features` (Gaussian-smoothed
intensity, gradient magnitude and Hessian eigenvalues at scales ``sigma_min`` to
``sigma_max``) and scikit-learn's :class:`~sklearn.ensemble.RandomForestClassifier`:

- scribbles: an integer volume of the stack's shape, 0 unlabelled, k marking the k-th
  class name (:func:`check_scribbles`);
- features are computed chunk by chunk along axis 0, each chunk padded by a halo as
  deep as the widest filter reaches (:attr:`Features.halo`), so a chunk's features
  equal those of the whole volume and the memory per chunk is bounded by
  ``chunk_bytes`` whatever the stack's size (a memory-mapped stack is read a chunk at
  a time);
- the accuracy is cross-validated by slabs (:func:`cross_validate`): the scribbled
  slices are cut into ``folds`` contiguous slabs along axis 0 (along axis 1 when all
  scribbles lie in one slice); the forest is trained on the others and tested on each
  slab, never on the scribbles it was trained on;
- the class probabilities are kept (``Segmentation.probabilities``).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> truth = np.zeros((12, 16, 16), np.uint8); truth[:, :, 8:] = 1
>>> image = truth * 10.0 + rng.normal(0, 1, truth.shape)
>>> scribbles = np.zeros_like(truth); scribbles[::3, 4, 1:6] = 1; scribbles[::3, 4, 11:15] = 2
>>> result = segment_scribbles(image, scribbles, ["dark", "bright"], n_estimators=20, seed=0)
>>> float(np.mean(result.labels == truth)) > 0.95, result.cross_validation["accuracy"] > 0.95
(True, True)
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from microsim.errors import InvalidInputError, MissingDependencyError
from microsim.segment import Segmentation, check_image, histogram_modes, remove_specks

log = logging.getLogger(__name__)

#: default memory budget of one chunk of features [bytes]
CHUNK_BYTES = 1024 * 2**20


@dataclass(frozen=True)
class Features:
    """The multi-scale features: scales [voxels] and kinds.

    ``num_sigma=None`` takes ``sigma_min`` times powers of 2 up to ``sigma_max``
    (0.5, 1, 2, 4, 8: five scales, 25 features in 3-D).
    """

    sigma_min: float = 0.5
    sigma_max: float = 8.0
    num_sigma: int | None = None
    intensity: bool = True
    edges: bool = True
    texture: bool = True

    def __post_init__(self):
        if not (0 < self.sigma_min <= self.sigma_max) or not math.isfinite(self.sigma_max):
            raise InvalidInputError(f"feature scales need 0 < sigma_min <= sigma_max, got {self.sigma_min}, "
                                    f"{self.sigma_max}")
        if not (self.intensity or self.edges or self.texture):
            raise InvalidInputError("the features need at least one of intensity, edges and texture")

    @property
    def sigmas(self) -> np.ndarray:
        n = self.num_sigma or int(np.log2(self.sigma_max) - np.log2(self.sigma_min) + 1)
        return np.logspace(np.log2(self.sigma_min), np.log2(self.sigma_max), num=n, base=2, endpoint=True)

    @property
    def count(self) -> int:
        return len(self.sigmas) * (int(self.intensity) + int(self.edges) + 3 * int(self.texture))

    @property
    def halo(self) -> int:
        """Voxels a feature at one voxel depends on, along each side: the Gaussian's
        reach (scikit-image truncates at 4σ) plus two for the Sobel or the two
        central differences of the Hessian taken on the smoothed image."""
        return int(4.0 * float(self.sigmas.max()) + 0.5) + 2

    def to_dict(self) -> dict:
        return {"sigmas_voxels": [round(float(s), 6) for s in self.sigmas], "intensity": self.intensity,
                "edges": self.edges, "texture": self.texture, "count": self.count}


@dataclass(frozen=True, eq=False)
class ForestModel:
    """A trained forest with what it needs to predict on another stack alike."""

    forest: object
    classes: tuple[str, ...]
    features: Features
    grey_range: tuple[float, float]

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """(n_samples, n_classes) class probabilities of feature rows (a class the
        forest never saw has probability 0)."""
        out = np.zeros((features.shape[0], len(self.classes)), np.float32)
        if features.shape[0]:
            out[:, self.forest.classes_] = self.forest.predict_proba(features)
        return out


def _sklearn():
    try:
        from sklearn.ensemble import RandomForestClassifier
    except ImportError:
        raise MissingDependencyError("the trainable segmentation needs scikit-learn: "
                                     "pip install scikit-learn") from None
    return RandomForestClassifier


def check_scribbles(scribbles: np.ndarray, shape: Sequence[int], classes: Sequence[str]) -> np.ndarray:
    """The scribbles as uint8, checked against the stack's shape and the class names.

    Raises
    ------
    InvalidInputError
        A shape other than ``shape``; a label above ``len(classes)`` (no class); fewer
        than two classes scribbled; a class with no scribble.
    """
    scribbles = np.asarray(scribbles)
    if tuple(scribbles.shape) != tuple(shape):
        raise InvalidInputError(f"the scribbles have shape {tuple(scribbles.shape)}, the stack {tuple(shape)}: "
                                "draw them on the same stack")
    if scribbles.dtype.kind not in "ui" or (scribbles.size and scribbles.min() < 0):
        raise InvalidInputError(f"scribbles must be non-negative integer labels, got {scribbles.dtype}")
    counts = np.bincount(scribbles.ravel().astype(np.int64), minlength=len(classes) + 1)
    extra = [k for k in np.nonzero(counts)[0] if k > len(classes)]
    names = ",".join(classes)
    if extra:
        raise InvalidInputError(f"scribble label {extra[0]} has no class: --classes names {len(classes)} ({names}); "
                                "scribble k marks the k-th name, 0 is unlabelled")
    marked = [classes[k - 1] for k in range(1, len(classes) + 1) if counts[k]]
    if len(marked) < 2:
        raise InvalidInputError(f"the scribbles mark {len(marked)} class{'' if len(marked) == 1 else 'es'}"
                                f"{' (' + marked[0] + ')' if marked else ''}: a classifier needs scribbles on two or "
                                "more")
    missing = [(k, classes[k - 1]) for k in range(1, len(classes) + 1) if not counts[k]]
    if missing:
        k, name = missing[0]
        raise InvalidInputError(f"class {name} (scribble label {k}) has no scribble: scribble it, or drop it from "
                                f"--classes ({names})")
    return scribbles.astype(np.uint8, copy=False)


def grey_range(image: np.ndarray) -> tuple[float, float]:
    """The 0.05-99.95 percentile grey range (sampled slice-wise): features are taken on
    grey values scaled by it, alike in every chunk."""
    step = max(1, math.ceil(image.size / (1 << 22)))
    lo, hi = np.percentile(np.asarray(image[::step], dtype=np.float64), [0.05, 99.95])
    if not hi > lo:
        lo, hi = float(np.min(image)), float(np.max(image))
    return float(lo), float(hi) if hi > lo else float(lo) + 1.0


def chunk_slice_bytes(shape: Sequence[int], features: Features) -> int:
    """Memory [bytes] one slice of a chunk takes: the float32 features of the padded
    chunk, the copy of its core, and about 16 filter temporaries."""
    return 4 * (2 * features.count + 16) * int(shape[1]) * int(shape[2])


def chunks(shape: Sequence[int], features: Features, chunk_bytes: int = CHUNK_BYTES) -> list[tuple[int, int]]:
    """Ranges ``[z0, z1)`` along axis 0 such that one chunk with its halo holds at most
    about ``chunk_bytes`` of features and temporaries.

    A chunk keeps at least as many slices as its halo (so the halo at most triples the
    work): the memory of one chunk is at most ``max(chunk_bytes, 3 · halo`` slices).
    """
    n0 = int(shape[0])
    per_slice = chunk_slice_bytes(shape, features)
    depth = max(features.halo, int(chunk_bytes // per_slice) - 2 * features.halo, 1)
    return [(z, min(z + depth, n0)) for z in range(0, n0, depth)]


def _symmetric_eigenvalues(a, b, c, d, e, f) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eigenvalues, largest first, of the symmetric 3x3 matrices [[a, b, c], [b, d, e],
    [c, e, f]] given element-wise (float32): the closed form of Smith (Commun. ACM 4
    (1961) 168, doi:10.1145/355578.366316), some ten times faster than a batched
    ``eigvalsh``; near-degenerate matrices lose a few digits (≈ 1e-4 relative), which
    a forest's feature never notices."""
    q = (a + d + f) / 3
    aq, dq, fq = a - q, d - q, f - q
    p = np.sqrt((aq * aq + dq * dq + fq * fq + 2 * (b * b + c * c + e * e)) / 6)
    inv = np.divide(1, p, out=np.zeros_like(p), where=p > 0)
    r = 0.5 * (aq * (dq * fq - e * e) - b * (b * fq - e * c) + c * (b * e - dq * c)) * inv ** 3
    np.clip(r, -1, 1, out=r)
    phi = np.arccos(r) / 3
    first = q + 2 * p * np.cos(phi)
    third = q + 2 * p * np.cos(phi + np.float32(2 * np.pi / 3))
    return first, 3 * q - first - third, third


def basic_features(image: np.ndarray, features: Features) -> np.ndarray:
    """(n0, n1, n2, n_features) float32: the features of scikit-image's
    :func:`~skimage.feature.multiscale_basic_features`, in its order (per scale:
    Gaussian-smoothed intensity, Sobel magnitude of it, Hessian eigenvalues largest
    first from central differences of it), with the eigenvalues in closed form.

    Examples
    --------
    >>> from skimage.feature import multiscale_basic_features
    >>> img = np.random.default_rng(0).random((10, 12, 14)).astype(np.float32)
    >>> f = Features(sigma_max=2.0)
    >>> np.allclose(basic_features(img, f), multiscale_basic_features(img, sigma_max=2.0), rtol=1e-3, atol=1e-4)
    True
    """
    from skimage.filters import gaussian, sobel

    image = np.ascontiguousarray(image, dtype=np.float32)
    out = np.empty((*image.shape, features.count), np.float32)
    k = 0

    def put(value):
        nonlocal k
        out[..., k] = value
        k += 1

    for sigma in features.sigmas:
        smooth = gaussian(image, sigma=float(sigma), preserve_range=False)
        if features.intensity:
            put(smooth)
        if features.edges:
            put(sobel(smooth))
        if features.texture:
            first = [np.gradient(smooth, axis=i) for i in range(3)]
            h = [np.gradient(first[i], axis=j) for i, j in ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))]
            del first
            for value in _symmetric_eigenvalues(*h):
                put(value)
    return out


def chunk_features(image: np.ndarray, z0: int, z1: int, features: Features,
                   scale: tuple[float, float]) -> np.ndarray:
    """(z1 - z0, n1, n2, n_features) float32 features of slices ``z0:z1``, computed on
    the slices padded by the halo (equal to the whole volume's features)."""
    h = features.halo
    a, b = max(0, z0 - h), min(image.shape[0], z1 + h)
    lo, hi = scale
    block = (np.asarray(image[a:b], dtype=np.float32) - np.float32(lo)) / np.float32(hi - lo)
    return np.ascontiguousarray(basic_features(block, features)[z0 - a:z1 - a])


def scribble_features(image: np.ndarray, scribbles: np.ndarray, features: Features, scale: tuple[float, float], *,
                      chunk_bytes: int = CHUNK_BYTES) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features at the scribbled voxels: (X (n, n_features), y (n,) class index 0..,
    coordinates (n, 3)), computed only on the chunks that hold scribbles."""
    xs, ys, cs = [], [], []
    for z0, z1 in chunks(image.shape, features, chunk_bytes):
        part = np.asarray(scribbles[z0:z1])
        where = np.nonzero(part)
        if not len(where[0]):
            continue
        block = chunk_features(image, z0, z1, features, scale)
        xs.append(block[where])
        ys.append(part[where].astype(np.int64) - 1)
        cs.append(np.stack([where[0] + z0, where[1], where[2]], axis=1))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(cs)


def _forest(n_estimators: int, seed, n_jobs: int):
    forest_class = _sklearn()
    rng = np.random.default_rng(seed)
    return forest_class(n_estimators=n_estimators, class_weight="balanced", min_samples_leaf=1,
                        random_state=int(rng.integers(2**31 - 1)), n_jobs=n_jobs)


def slab_folds(coordinates: np.ndarray, folds: int) -> tuple[int, np.ndarray]:
    """(axis, fold index per scribbled voxel): contiguous slabs of whole slices along
    axis 0 (axis 1, then 2, when the scribbles lie in one slice), with about equal
    numbers of scribbled voxels, never one slice split between two slabs."""
    for axis in range(3):
        positions, inverse, counts = np.unique(coordinates[:, axis], return_inverse=True, return_counts=True)
        if len(positions) >= 2:
            break
    else:
        raise InvalidInputError("all scribbles lie on one voxel: nothing to cross-validate")
    k = min(int(folds), len(positions))
    before = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slab = np.minimum((before * k) // counts.sum(), k - 1)
    # renumber so that every fold index 0..k'-1 is used (a big slice may swallow one)
    used, slab = np.unique(slab, return_inverse=True)
    return axis, slab[inverse]


def cross_validate(X: np.ndarray, y: np.ndarray, coordinates: np.ndarray, n_classes: int, *, folds: int = 3,
                   gap: int = 0, n_estimators: int = 100, seed=0, n_jobs: int = 1) -> dict:
    """Accuracy of the forest on held-out slabs of the scribbles.

    Each slab is predicted by a forest trained on the scribbles of the other slabs,
    leaving out those within ``gap`` slices of the tested slab (their features
    overlap it; the gap narrows where it would leave nothing to train on, and each
    fold reports its own); the accuracy is over every held-out voxel together.

    Returns
    -------
    dict with ``accuracy``, ``folds``, ``axis``, ``per_fold`` (accuracy, tested and
    training voxels), ``per_class_recall``, ``gap_voxels``.
    """
    axis, fold = slab_folds(coordinates, folds)
    k = int(fold.max()) + 1
    if k < 2:
        raise InvalidInputError("the scribbles lie in one slab: cross-validation needs scribbles in two or more")
    rng = np.random.default_rng(seed)
    predicted = np.empty_like(y)
    per_fold = []
    for f in range(k):
        test = fold == f
        pos = coordinates[:, axis]
        lo, hi = pos[test].min(), pos[test].max()
        others = pos[~test]
        # the widest gap up to ``gap`` that leaves scribbles to train on (a small stack narrows it)
        reach = np.where(others < lo, lo - others, others - hi) - 1
        g = int(min(gap, reach.max()))
        train = ~test & ((pos < lo - g) | (pos > hi + g))
        forest = _forest(n_estimators, rng, n_jobs).fit(X[train], y[train])
        predicted[test] = forest.classes_[np.argmax(forest.predict_proba(X[test]), axis=1)]
        per_fold.append({"slices": [int(lo), int(hi)], "gap_voxels": g, "tested_voxels": int(test.sum()),
                         "training_voxels": int(train.sum()),
                         "accuracy": float(np.mean(predicted[test] == y[test]))})
    recall = [float(np.mean(predicted[y == c] == c)) if np.any(y == c) else None for c in range(n_classes)]
    return {"accuracy": float(np.mean(predicted == y)), "folds": k, "axis": int(axis), "gap_voxels": int(gap),
            "per_fold": per_fold, "per_class_recall": recall, "scribbled_voxels": int(y.size)}


def train_forest(image: np.ndarray, scribbles: np.ndarray, classes: Sequence[str], *,
                 features: Features = Features(), n_estimators: int = 100, seed=0, n_jobs: int = 1,
                 chunk_bytes: int = CHUNK_BYTES) -> ForestModel:
    """Train the forest on every scribble of ``image``."""
    classes = tuple(classes)
    scribbles = check_scribbles(scribbles, image.shape, classes)
    scale = grey_range(image)
    X, y, _ = scribble_features(image, scribbles, features, scale, chunk_bytes=chunk_bytes)
    forest = _forest(n_estimators, seed, n_jobs).fit(X, y)
    return ForestModel(forest, classes, features, scale)


def predict(model: ForestModel, image: np.ndarray, *, chunk_bytes: int = CHUNK_BYTES,
            probabilities_out: np.ndarray | None = None,
            progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Labels (uint8, the most probable class) and class probabilities of ``image``,
    chunk by chunk along axis 0.

    Parameters
    ----------
    probabilities_out : (n_classes, n0, n1, n2) float32 array, optional
        Where to write the probabilities (e.g. a memory-mapped ``.npy`` for a stack
        larger than memory); a new array by default.
    progress : callable(done, total), optional
        Called after each chunk.

    Returns
    -------
    labels : (n0, n1, n2) uint8
    probabilities : (n_classes, n0, n1, n2) float32
    """
    n_classes = len(model.classes)
    labels = np.empty(image.shape, np.uint8)
    proba = probabilities_out if probabilities_out is not None else \
        np.empty((n_classes, *image.shape), np.float32)
    parts = chunks(image.shape, model.features, chunk_bytes)
    for i, (z0, z1) in enumerate(parts):
        block = chunk_features(image, z0, z1, model.features, model.grey_range)
        p = model.probabilities(block.reshape(-1, block.shape[-1]))
        del block
        labels[z0:z1] = np.argmax(p, axis=1).reshape(z1 - z0, *image.shape[1:])
        proba[:, z0:z1] = p.T.reshape(n_classes, z1 - z0, *image.shape[1:])
        if progress is not None:
            progress(i + 1, len(parts))
    return labels, proba


def segment_scribbles(
    image: np.ndarray,
    scribbles: np.ndarray,
    classes: Sequence[str],
    *,
    features: Features = Features(),
    n_estimators: int = 100,
    folds: int = 3,
    gap: int | None = None,
    min_size: int = 0,
    seed=0,
    n_jobs: int = 1,
    chunk_bytes: int = CHUNK_BYTES,
    probabilities_out: np.ndarray | None = None,
) -> Segmentation:
    """Segment ``image`` by a random forest trained on ``scribbles``.

    Parameters
    ----------
    image : (n0, n1, n2) ndarray
        Grey values (may be memory-mapped: read a chunk at a time).
    scribbles : (n0, n1, n2) integer ndarray
        0 unlabelled, k marks ``classes[k - 1]``.
    classes : sequence of str
        Class names; the output labels are 0, 1, ... in this order.
    features : Features
    n_estimators : int
        Trees of the forest.
    folds : int
        Slabs of the cross-validation (see :func:`cross_validate`); 0 skips it.
    gap : int, optional
        Slices between a tested slab and the training scribbles (default the
        largest feature scale, rounded up).
    min_size : int
        Connected pieces smaller than this many voxels join their surroundings.
    seed : int, Generator or None
    chunk_bytes : int
        Memory budget of one chunk of features.
    probabilities_out : array, optional
        See :func:`predict`.

    Returns
    -------
    Segmentation
        ``method`` names the forest, ``probabilities`` are kept, and
        ``cross_validation["accuracy"]`` is the held-out accuracy.
    """
    image = check_image(image)
    classes = tuple(str(c).strip() for c in classes)
    if len(classes) < 2 or any(not c for c in classes) or len(set(classes)) != len(classes):
        raise InvalidInputError(f"need two or more distinct class names, got {list(classes)}")
    scribbles = check_scribbles(scribbles, image.shape, classes)
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    scale = grey_range(image)
    X, y, coords = scribble_features(image, scribbles, features, scale, chunk_bytes=chunk_bytes)
    cv = None
    if folds:
        gap = int(math.ceil(features.sigmas.max())) if gap is None else int(gap)
        cv = cross_validate(X, y, coords, len(classes), folds=folds, gap=gap, n_estimators=n_estimators, seed=rng,
                            n_jobs=n_jobs)
        log.info("cross-validated accuracy %.4f (%d slabs along axis %d, held out)", cv["accuracy"], cv["folds"],
                 cv["axis"])
    forest = _forest(n_estimators, rng, n_jobs).fit(X, y)
    model = ForestModel(forest, classes, features, scale)
    trained = time.perf_counter()
    labels, proba = predict(model, image, chunk_bytes=chunk_bytes, probabilities_out=probabilities_out)
    labels, changed = remove_specks(labels, int(min_size))
    if cv is not None:
        cv = {**cv, "training_seconds": round(trained - started, 3),
              "prediction_seconds": round(time.perf_counter() - trained, 3)}
    method = f"random forest ({n_estimators} trees, {features.count} multi-scale features, {y.size} scribbled voxels)"
    return Segmentation(labels, classes, (), method, "none", changed, histogram=histogram_modes(image),
                        probabilities=proba, cross_validation=cv if cv is not None else {"accuracy": None},
                        )


__all__ = ["CHUNK_BYTES", "Features", "ForestModel", "basic_features", "check_scribbles", "chunk_features",
           "chunk_slice_bytes", "chunks", "cross_validate", "grey_range", "predict", "scribble_features",
           "segment_scribbles", "slab_folds", "train_forest"]
