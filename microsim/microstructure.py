"""The :class:`Microstructure` value: a labelled voxel volume with its voxel size.

A microstructure is what every stage of microsim passes on: labels (one small
integer phase label per voxel), the voxel size in metres per array axis, the phase
table (name -> label) and, optionally, grain ids (e.g. LLZO grains, for grain-boundary
resistance). It is immutable; derive a new one with :func:`dataclasses.replace`.

Files: :func:`microsim.reading.load_microstructure` reads one and
:func:`microsim.export.save_microstructure` writes one (a labelled TIFF with the voxel
size and phase table in its JSON description, or an ``.npz`` archive); this module
holds the value alone and imports neither.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping

import numpy as np

from microsim.errors import InvalidMicrostructureError

DEFAULT_PHASES: Mapping[str, int] = types.MappingProxyType({"pore": 0, "CAM": 1, "LLZO": 2})
"""Default phase table: label 0 pore, 1 cathode active material, 2 garnet electrolyte."""

#: Largest volume (voxels) microsim accepts; past it the arrays alone would not fit 24 GB.
MAX_VOXELS = 2**31 - 1


def _read_only(array: np.ndarray) -> np.ndarray:
    """``array`` made read-only: a copy unless it is ours already or a read-only memory map.

    A read-only map of a file (an uncompressed TIFF or ``.npy``) is kept as it is, so a
    volume larger than memory is read plane by plane where it is used (each MPI rank of
    the PETSc backend touches its own slab), and ranks on one machine share the pages.
    """
    if not array.flags.writeable and _is_mapped(array):
        return array
    array = np.array(array, copy=True) if array.flags.writeable or not array.flags.owndata else array
    array.setflags(write=False)
    return array


def _is_mapped(array: np.ndarray) -> bool:
    """Whether ``array`` is (a view of) a memory-mapped file."""
    import mmap

    while array is not None:
        if isinstance(array, (np.memmap, mmap.mmap)):
            return True
        array = getattr(array, "base", None)
    return False


def label_counts(labels: np.ndarray, *, chunk_voxels: int = 1 << 24) -> dict[int, int]:
    """Number of voxels of each label present, counted a few planes at a time.

    No temporary of the volume's size is made (``np.unique`` sorts a copy and
    ``np.bincount`` would cast the labels to 8-byte integers).
    """
    counts: dict[int, int] = {}
    step = max(1, chunk_voxels // max(1, labels[0].size))
    for z in range(0, labels.shape[0], step):
        chunk = np.asarray(labels[z:z + step]).ravel()
        if chunk.dtype.itemsize <= 2:
            found = np.bincount(chunk, minlength=1)
            values = np.flatnonzero(found)
            pairs = zip(values.tolist(), found[values].tolist())
        else:
            values, found = np.unique(chunk, return_counts=True)
            pairs = zip(values.tolist(), found.tolist())
        for value, count in pairs:
            counts[value] = counts.get(value, 0) + count
    return counts


def check_labels(labels, *, name: str = "labels") -> np.ndarray:
    """Return ``labels`` as a 3-D non-negative integer array or raise InvalidMicrostructureError.

    Float arrays are refused (even with integral values): a label map must be
    integer, and a grey-value image handed in by mistake must not pass silently.
    """
    array = np.asarray(labels)
    if array.ndim != 3:
        raise InvalidMicrostructureError(
            f"{name} must be a 3-D array (axis 0 = slices), got a {array.ndim}-D array of shape {array.shape}"
        )
    if array.dtype.kind == "b":
        array = array.astype(np.uint8)
    if array.dtype.kind == "f":
        if not np.isfinite(array).all():
            raise InvalidMicrostructureError(f"{name} contain NaN or infinite values")
        raise InvalidMicrostructureError(
            f"{name} must be integers, got {array.dtype} values (segment grey values into phases first)"
        )
    if array.dtype.kind not in "iu":
        raise InvalidMicrostructureError(f"{name} must be integers, got dtype {array.dtype}")
    if min(array.shape) < 1:
        raise InvalidMicrostructureError(f"{name} are empty (shape {array.shape})")
    if array.size > MAX_VOXELS:
        raise InvalidMicrostructureError(f"{name} have {array.size} voxels; at most {MAX_VOXELS} are supported")
    if array.dtype.kind == "i" and array.min() < 0:
        raise InvalidMicrostructureError(f"{name} must be >= 0, found {array.min()}")
    return array


def check_voxel_size(voxel_size) -> tuple[float, float, float]:
    """Return the voxel size as three finite positive floats [m] (a scalar means isotropic)."""
    try:
        values = np.atleast_1d(np.asarray(voxel_size, dtype=float)).ravel()
    except (TypeError, ValueError):
        raise InvalidMicrostructureError(f"voxel size must be numbers in metres, got {voxel_size!r}") from None
    if values.size == 1:
        values = np.repeat(values, 3)
    if values.size != 3:
        raise InvalidMicrostructureError(f"voxel size needs 1 or 3 values [m], got {values.size}: {voxel_size!r}")
    if not (np.isfinite(values).all() and (values > 0).all()):
        raise InvalidMicrostructureError(f"voxel size must be finite and > 0 [m], got {tuple(values)}")
    if (values < 1e-10).any():
        raise InvalidMicrostructureError(
            f"voxel size {tuple(values)} m is below 1 Å: it must be given in metres (e.g. 4e-7 for 0.4 µm)"
        )
    if (values > 1e-1).any():
        raise InvalidMicrostructureError(
            f"voxel size {tuple(values)} m is larger than 10 cm: it must be given in metres (e.g. 4e-7 for 0.4 µm)"
        )
    return tuple(float(v) for v in values)  # type: ignore[return-value]


def check_phases(phases: Mapping[str, int]) -> dict[str, int]:
    """Return the phase table as a plain dict name -> label, checking names and labels."""
    if not isinstance(phases, Mapping) or not phases:
        raise InvalidMicrostructureError(f"phases must be a non-empty mapping name -> label, got {phases!r}")
    table: dict[str, int] = {}
    for name, label in phases.items():
        if not isinstance(name, str) or not name or any(c in name for c in "=,+ "):
            raise InvalidMicrostructureError(f"phase names must be non-empty words without '=,+ ', got {name!r}")
        if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or label < 0:
            raise InvalidMicrostructureError(f"phase {name!r} needs a label >= 0, got {label!r}")
        table[name] = int(label)
    if len(set(table.values())) != len(table):
        raise InvalidMicrostructureError(f"two phases share a label in {table}")
    return table


@dataclasses.dataclass(frozen=True, eq=False)
class Microstructure:
    """A labelled voxel microstructure.

    Parameters
    ----------
    labels : (n0, n1, n2) integer ndarray
        Phase label per voxel; axis 0 is the slice (TIFF page) axis.
    voxel_size : float or 3 floats [m]
        Edge length of a voxel along array axes 0, 1, 2 (a scalar means isotropic).
    phases : mapping str -> int, optional
        Phase table, name -> label. Every label present in ``labels`` must be named.
        Default ``{"pore": 0, "CAM": 1, "LLZO": 2}``.
    grains : (n0, n1, n2) integer ndarray, optional
        Grain id per voxel (0 = no grain). Faces between voxels of the same phase
        with different grain ids are grain boundaries.

    Raises
    ------
    InvalidMicrostructureError
        A non-3-D, float, negative or unnamed label, a bad voxel size or grain map.

    Examples
    --------
    >>> import numpy as np
    >>> m = Microstructure(np.ones((4, 4, 4), np.uint8), 1e-6)
    >>> m.volume_fraction("CAM")
    1.0
    """

    labels: np.ndarray
    voxel_size: tuple[float, float, float]
    phases: Mapping[str, int] = dataclasses.field(default_factory=lambda: dict(DEFAULT_PHASES))
    grains: np.ndarray | None = None

    def __post_init__(self) -> None:
        labels = check_labels(self.labels)
        phases = check_phases(self.phases)
        counts = label_counts(labels)
        unnamed = sorted(set(counts) - set(phases.values()))
        if unnamed:
            raise InvalidMicrostructureError(
                f"label(s) {unnamed} have no phase name; phases are {phases} (name them, e.g. --phases 0=pore,1=CAM,2=LLZO)"
            )
        grains = self.grains
        if grains is not None:
            grains = check_labels(grains, name="grains")
            if grains.shape != labels.shape:
                raise InvalidMicrostructureError(f"grains shape {grains.shape} differs from labels shape {labels.shape}")
            grains = _read_only(grains)
        object.__setattr__(self, "labels", _read_only(labels))
        object.__setattr__(self, "voxel_size", check_voxel_size(self.voxel_size))
        object.__setattr__(self, "phases", types.MappingProxyType(phases))
        object.__setattr__(self, "grains", grains)
        object.__setattr__(self, "_counts", counts)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Number of voxels along axes 0, 1, 2."""
        return tuple(int(n) for n in self.labels.shape)  # type: ignore[return-value]

    @property
    def size_m(self) -> tuple[float, float, float]:
        """Box edge lengths [m] along axes 0, 1, 2."""
        return tuple(n * h for n, h in zip(self.shape, self.voxel_size))  # type: ignore[return-value]

    def label_of(self, phase: str) -> int:
        """Label of the named phase; the error lists the valid names."""
        try:
            return self.phases[phase]
        except KeyError:
            raise InvalidMicrostructureError(
                f"unknown phase {phase!r}; this microstructure has phases {', '.join(self.phases)}"
            ) from None

    def volume_fractions(self) -> dict[str, float]:
        """Volume fraction of every named phase (0 for phases absent from the volume)."""
        return {name: self._counts.get(label, 0) / self.labels.size for name, label in self.phases.items()}

    def volume_fraction(self, phase: str) -> float:
        """Volume fraction of one named phase."""
        return self._counts.get(self.label_of(phase), 0) / self.labels.size

    def metadata(self) -> dict:
        """JSON-ready description (no arrays): shape, voxel size [m], phase table."""
        return {
            "shape": list(self.shape),
            "voxel_size_m": list(self.voxel_size),
            "phases": dict(self.phases),
            "has_grains": self.grains is not None,
        }


__all__ = [
    "DEFAULT_PHASES",
    "Microstructure",
    "check_labels",
    "check_phases",
    "check_voxel_size",
]
