"""Writing labelled volumes: microsim's TIFF (names, voxel size and grains inside) or ``.npz``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from microsim.errors import InputFileError
from microsim.export.files import atomic_output
from microsim.microstructure import Microstructure

TIFF_SUFFIXES = (".tif", ".tiff")

def _smallest_uint(array: np.ndarray) -> np.ndarray:
    top = int(array.max()) if array.size else 0
    for dtype in (np.uint8, np.uint16, np.uint32):
        if top <= np.iinfo(dtype).max:
            return array.astype(dtype, copy=False)
    return array.astype(np.uint64, copy=False)


def write_labels(
    path: str | os.PathLike,
    labels: np.ndarray,
    *,
    phases: dict[str, int],
    voxel_size=None,
    grains: np.ndarray | None = None,
    force: bool = False,
    compress: bool = True,
) -> Path:
    """Write a label volume to a TIFF (``.tif``/``.tiff``) or ``.npz`` archive.

    The TIFF holds the labels as zlib-compressed pages along axis 0 (uncompressed with
    ``compress=False``: such a file is memory-mapped when read back) and, in its JSON
    description under ``"microsim"``, the phase table and the voxel size [m] (null
    when unknown: reading it back then needs a voxel size); grain ids go into a
    second series. Atomic; an existing file is replaced only with ``force``.
    """
    import tifffile

    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in TIFF_SUFFIXES + (".npz",):
        raise InputFileError(f"cannot write labels as {target.name}: use .tif, .tiff or .npz")
    size = None if voxel_size is None else [float(s) for s in voxel_size]
    meta = {"voxel_size_m": size, "phases": dict(phases), "format": 1}
    with atomic_output(target, force=force) as tmp:
        if suffix == ".npz":
            arrays = {"labels": labels, "metadata": np.array(json.dumps(meta))}
            if grains is not None:
                arrays["grains"] = grains
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, **arrays)
        else:
            with tifffile.TiffWriter(tmp) as writer:
                codec = "zlib" if compress else None
                writer.write(_smallest_uint(labels), compression=codec, photometric="minisblack",
                             metadata={"microsim": meta})
                if grains is not None:
                    writer.write(_smallest_uint(grains), compression=codec, photometric="minisblack",
                                 metadata={"microsim_grains": True})
    return target


def save_microstructure(micro: Microstructure, path: str | os.PathLike, *, force: bool = False,
                        compress: bool = True) -> Path:
    """Write ``micro`` to a labelled TIFF (``.tif``/``.tiff``) or an ``.npz`` archive.

    The TIFF holds the labels as pages along axis 0 (zlib-compressed unless
    ``compress=False``: an uncompressed TIFF is memory-mapped when read, so each MPI
    rank reads only its slab) and, in its JSON description under ``"microsim"``, the
    voxel size [m] and the phase table; grain ids, when present, go into a second TIFF
    series. The file is written atomically and an existing file is replaced only with
    ``force=True`` (:func:`write_labels`).
    """
    return write_labels(path, micro.labels, phases=micro.phases, voxel_size=micro.voxel_size,
                        grains=micro.grains, force=force, compress=compress)
