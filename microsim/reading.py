"""Reading volumes (the import stage): TIFF stacks, slice folders and NumPy files.

:func:`read_volume` reads multi-page TIFF (8/16/32-bit integer or float), ImageJ
hyperstacks and OME-TIFF (voxel size from their metadata), microsim's own labelled
TIFF (voxel size, phase names and grain ids in its description), folders of 2-D
slices (sorted naturally: ``s2.tif`` before ``s10.tif``), ``.npy`` and ``.npz``. A
region of interest and an integer downsampling apply on reading; uncompressed TIFFs
are memory-mapped so that a crop of a stack larger than memory reads only the crop.
Plain TIFF resolution tags (often a 72-dpi default) are never taken for a voxel size.
:func:`load_microstructure` reads a labelled volume into a :class:`Microstructure`.

Writing lives in :mod:`microsim.export`. Axis convention: array axis 0 is the TIFF
page (slice) axis.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import struct
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from microsim.errors import InputFileError, InvalidInputError, InvalidMicrostructureError
from microsim.grains import split_grains
from microsim.microstructure import DEFAULT_PHASES, Microstructure, check_voxel_size
from microsim.units import length_unit_scale

log = logging.getLogger(__name__)

TIFF_SUFFIXES = (".tif", ".tiff")


@dataclass(frozen=True)
class Volume:
    """A 3-D array read from disk, with what the file said about it.

    Attributes
    ----------
    data : (n0, n1, n2) ndarray
    voxel_size : 3 floats [m] or None
        From the file's metadata (times the downsampling factor), None if absent.
    phases : dict name -> label, or None
        Phase names stored by microsim (labelled volumes only).
    grains : (n0, n1, n2) ndarray or None
        Grain ids, every face-connected piece of an id in the file (after the crop
        and downsampling) its own grain.
    source : str
    stored_shape : 3 ints or None
        The shape in the file, before the crop and the downsampling.
    """

    data: np.ndarray
    voxel_size: tuple[float, float, float] | None
    phases: dict[str, int] | None
    grains: np.ndarray | None
    source: str
    stored_shape: tuple[int, int, int] | None = None

    @property
    def is_labelled(self) -> bool:
        return self.phases is not None


# -- region of interest and downsampling ----------------------------------------------
def parse_crop(text: str) -> tuple[slice, slice, slice]:
    """``"10:60,0:50,5:"`` -> three slices (axis 0, 1, 2); an empty part keeps the axis.

    Bounds are voxel indices from the start of each axis, ``START`` included and
    ``STOP`` excluded. Negative bounds (Python's "from the end") are refused by
    :func:`check_crop`, and a range outside the volume is refused on reading, on every
    axis and for every input kind: a crop is never clipped.
    """
    parts = text.split(",")
    if len(parts) != 3:
        raise InvalidInputError(f"a crop needs three ranges START:STOP (axis 0,1,2), got {text!r}")
    out = []
    for part in parts:
        lo, sep, hi = part.partition(":")
        try:
            if not sep and part.strip():
                raise ValueError
            out.append(slice(int(lo) if lo.strip() else None, int(hi) if hi.strip() else None))
        except ValueError:
            raise InvalidInputError(f"a crop range must read START:STOP with integers, got {part!r}") from None
    return tuple(out)  # type: ignore[return-value]


def check_crop(crop) -> tuple[slice, slice, slice]:
    """Three slices of non-negative voxel indices without step (None: the whole volume)."""
    if crop is None:
        return (slice(None),) * 3
    crop = tuple(crop)
    if len(crop) != 3 or not all(isinstance(s, slice) and s.step in (None, 1) for s in crop):
        raise InvalidInputError(f"crop must be three slices without step, got {crop!r}")
    for a, s in enumerate(crop):
        for end in (s.start, s.stop):
            if end is not None and (isinstance(end, bool) or not isinstance(end, (int, np.integer)) or end < 0):
                raise InvalidInputError(f"crop {s.start}:{s.stop} of axis {a} needs voxel indices >= 0, got {end!r}")
        if s.start is not None and s.stop is not None and s.stop <= s.start:
            raise InvalidInputError(f"crop {s.start}:{s.stop} leaves nothing of axis {a}")
    return crop


def _check_crop(crop, shape) -> tuple[slice, slice, slice]:
    """:func:`check_crop`, and inside ``shape``: a range past the end is refused, never clipped."""
    crop = check_crop(crop)
    for a, (s, n) in enumerate(zip(crop, shape)):
        if (s.stop is not None and s.stop > n) or (s.start is not None and s.start >= n):
            raise InvalidInputError(f"crop {s.start or 0}:{s.stop if s.stop is not None else n} of axis {a} "
                                    f"lies outside the volume (axis {a} has {n} voxels)")
    return crop


def downsample(data: np.ndarray, factor: int, *, labels: bool) -> np.ndarray:
    """Reduce every axis by an integer ``factor``, whole blocks only.

    Both kinds keep the same whole ``factor``³ blocks: an axis of ``n`` voxels becomes
    ``n // factor``, and a partial block at the far end of an axis is dropped (the box
    shrinks by less than one block; a log line states the box kept). Grey values: the
    mean of each block (float32). Labels: the voxel at each block's first corner
    (nearest neighbour), so no mixed labels appear.

    Examples
    --------
    >>> downsample(np.zeros((5, 4, 4)), 2, labels=True).shape
    (2, 2, 2)
    >>> downsample(np.zeros((5, 4, 4)), 2, labels=False).shape
    (2, 2, 2)
    """
    if not (isinstance(factor, (int, np.integer)) and not isinstance(factor, bool) and factor >= 1):
        raise InvalidInputError(f"downsampling needs an integer factor >= 1, got {factor!r}")
    if factor == 1:
        return data
    n = [s // factor for s in data.shape]
    if min(n) < 1:
        raise InvalidInputError(f"downsampling by {factor} leaves nothing of a {data.shape} volume")
    kept = tuple(k * factor for k in n)
    if kept != tuple(data.shape):
        log.info("downsampling by %d keeps whole blocks: %s of the %s voxels (the partial block at the far end of "
                 "each axis is dropped), %s voxels after", factor, "x".join(map(str, kept)),
                 "x".join(map(str, data.shape)), "x".join(map(str, n)))
    trimmed = data[: kept[0], : kept[1], : kept[2]]
    if labels:
        return np.ascontiguousarray(trimmed[::factor, ::factor, ::factor])
    return trimmed.astype(np.float32).reshape(n[0], factor, n[1], factor, n[2], factor).mean(axis=(1, 3, 5))


# -- metadata -----------------------------------------------------------------------
def _imagej_voxel_size(tif) -> tuple[float, float, float] | None:
    meta = tif.imagej_metadata or {}
    scale = length_unit_scale(meta.get("unit"))
    if scale is None:
        return None
    page = tif.pages[0]
    try:
        x_num, x_den = page.tags["XResolution"].value
        y_num, y_den = page.tags["YResolution"].value
    except KeyError:
        return None
    if "spacing" in meta:
        z = float(meta["spacing"])
    else:  # ImageJ leaves it out when the slice depth is 1 unit, and reads it so
        z = 1.0
        log.warning("%s: ImageJ stack without a slice spacing: slices taken as 1 %s deep, as ImageJ does "
                    "(give --voxel-size to override)", Path(tif.filehandle.path).name, meta.get("unit"))
    return (z * scale, scale * y_den / y_num, scale * x_den / x_num)


def _ome_voxel_size(tif) -> tuple[float, float, float] | None:
    try:
        root = ET.fromstring(tif.ome_metadata)
    except (ET.ParseError, TypeError):
        return None
    pixels = next((el for el in root.iter() if el.tag.endswith("Pixels")), None)
    if pixels is None:
        return None
    sizes = []
    for axis in ("Z", "Y", "X"):
        value = pixels.get(f"PhysicalSize{axis}")
        scale = length_unit_scale(pixels.get(f"PhysicalSize{axis}Unit", "um"))
        if value is None or scale is None:
            return None
        sizes.append(float(value) * scale)
    return tuple(sizes)  # type: ignore[return-value]


def _microsim_metadata(tif) -> dict:
    for meta in tif.shaped_metadata or ():
        if "microsim" in meta:
            stored = meta["microsim"]
            return json.loads(stored) if isinstance(stored, str) else dict(stored)
    return {}


# -- reading ------------------------------------------------------------------------
#: series axes (tifffile's codes) that can be the slice axis of a 3-D stack: Z (depth),
#: Q and I (the pages of a plain or generic stack)
_SLICE_AXES = "ZQI"
_AXIS_NAMES = {"T": "time", "C": "channel", "S": "sample (colour)", "E": "wavelength", "H": "lifetime",
               "A": "angle", "P": "phase", "R": "tile", "M": "mosaic", "L": "exposure", "V": "view"}


def _squeeze_series(series, source: Path) -> None:
    """Refuse colour, multi-channel, time series and any non-spatial axis above size 1.

    A stack is Y and X plus one slice axis (Z, or the pages of a plain TIFF); singleton
    axes of any kind are fine.
    """
    axes, shape = series.axes, series.shape
    big = [(axis, n) for axis, n in zip(axes, shape) if n > 1]
    colour = [(axis, n) for axis, n in big if axis in "SC"]
    if colour:
        raise InvalidInputError(f"{source.name} has {colour[0][1]} colour channels (axes {axes}); "
                                "give a single-channel grey-value stack")
    if len(big) > 3:
        raise InvalidInputError(f"{source.name} has {len(big)} dimensions (axes {axes}, shape {shape}); "
                                "give a single 3-D stack")
    other = [(axis, n) for axis, n in big if axis not in _SLICE_AXES + "YX"]
    if other:
        axis, n = other[0]
        raise InvalidInputError(f"{source.name} has a non-spatial axis {axis} ({_AXIS_NAMES.get(axis, 'not z, y or x')}"
                                f", {n} entries; axes {axes}, shape {shape}); give a z-stack")


class _TiffComplaints(logging.Handler):
    """Collects what tifffile logs while it reads: a damaged file is reported, never half-read."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _tifffile_complaints(source: Path):
    logger = logging.getLogger("tifffile")
    handler, propagate = _TiffComplaints(), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield handler
    except (InputFileError, InvalidInputError):
        if not handler.messages:
            raise
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
    if handler.messages:  # what tifffile complained of comes first: it says why the rest looks odd
        first = handler.messages[0].replace("\n", " ")
        raise InputFileError(f"{source.name} is damaged or truncated ({first}); write it again or give another file")


def _read_tiff(source: Path, crop, factor: int, labels_only: bool) -> Volume:
    import tifffile

    with _tifffile_complaints(source), tifffile.TiffFile(source) as tif:
        if len(tif.pages) == 0 or not tif.series:
            raise InputFileError(f"{source.name} holds no image (a TIFF with zero pages)")
        series = tif.series[0]
        _squeeze_series(series, source)
        stored = _microsim_metadata(tif)
        size = stored.get("voxel_size_m")
        if size is None and tif.is_imagej:
            size = _imagej_voxel_size(tif)
        if size is None and tif.is_ome:
            size = _ome_voxel_size(tif)
        grains = None
        if len(tif.series) > 1 and any("microsim_grains" in m for m in (tif.shaped_metadata or ())):
            grains = np.squeeze(tif.series[1].asarray())
        try:  # uncompressed and contiguous: map it, read only the crop
            data = tifffile.memmap(source, series=0, mode="r")
        except ValueError:
            data = series.asarray()
    if data.size != int(np.prod(series.shape)):
        raise InputFileError(f"{source.name} is truncated: it holds {data.size} of {int(np.prod(series.shape))} values")
    data = np.squeeze(data) if data.ndim > 3 else data
    return _finish(data, size, stored.get("phases"), grains, str(source), crop, factor, labels_only)


def _natural_key(path: Path):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def _read_folder(folder: Path, crop, factor: int, labels_only: bool) -> Volume:
    import tifffile

    files = sorted((p for p in folder.iterdir() if p.suffix.lower() in TIFF_SUFFIXES + (".npy",)), key=_natural_key)
    if not files:
        raise InputFileError(f"folder {folder} holds no .tif/.tiff/.npy slices")
    crop3 = _check_crop(crop, (len(files), 1 << 62, 1 << 62))
    chosen = files[crop3[0]]
    slices, first = [], None
    for path in chosen:
        try:
            image = np.load(path, allow_pickle=False) if path.suffix == ".npy" else tifffile.imread(path)
        except (OSError, ValueError) as exc:
            raise InputFileError(f"cannot read slice {path.name}: {exc}") from None
        image = np.squeeze(image)
        if image.ndim != 2:
            raise InvalidInputError(f"slice {path.name} is not a 2-D grey image (shape {image.shape})")
        if first is None:
            first = (image.shape, image.dtype)
            _check_crop(crop, (len(files), *image.shape))
        elif (image.shape, image.dtype) != first:
            raise InvalidInputError(
                f"slices differ: {chosen[0].name} is {first[0]} {first[1]}, {path.name} is {image.shape} {image.dtype}"
            )
        slices.append(image[crop3[1], crop3[2]])
    data = np.stack(slices)
    return _finish(data, None, None, None, str(folder), None, factor, labels_only)


def _finish(data, size, phases, grains, source, crop, factor, labels_only) -> Volume:
    data = np.asarray(data) if not isinstance(data, np.memmap) else data
    if data.ndim != 3:
        raise InvalidInputError(f"{source} holds a {data.ndim}-D image of shape {data.shape}; a 3-D stack is needed")
    if data.dtype.kind not in "uif" or data.dtype.itemsize > 8:
        raise InvalidInputError(f"{source} holds {data.dtype} values; expected integer or float grey values")
    stored_shape = tuple(int(n) for n in data.shape)
    crop3 = _check_crop(crop, data.shape)
    whole = all(s.indices(n) == (0, n, 1) for s, n in zip(crop3, data.shape))
    if not (isinstance(data, np.memmap) and whole and factor == 1):
        data = np.array(data[crop3])  # reads the crop only when mapped
    # else: the whole mapped file stays a map (read where used: one slab per MPI rank)
    if grains is not None:
        grains = np.array(grains[crop3])
    labelled = phases is not None or labels_only
    data = downsample(data, factor, labels=labelled)
    if grains is not None:
        grains = _connected_grains(downsample(grains, factor, labels=True), source)
    if size is not None:
        size = tuple(float(s) * factor for s in size)
    return Volume(data, size, dict(phases) if phases is not None else None, grains, source, stored_shape)


def _connected_grains(grains: np.ndarray, source: str) -> np.ndarray:
    """Grain ids as read, each id that covers several face-connected pieces split into one
    grain per piece (:func:`microsim.grains.split_grains`, as the generator's grains).

    A map whose ids are all connected already keeps its ids. The split does not wrap
    around the box: a grain of a periodic volume that leaves one face and enters the
    opposite one is read as two grains.
    """
    if grains.dtype.kind not in "iu" or grains.ndim != 3 or (grains.size and grains.min() < 0):
        return grains  # not a grain map: left to the Microstructure's checks
    split = split_grains(grains)
    ids = np.unique(grains[grains > 0]).size
    pieces = int(split.max())
    if pieces == ids:
        return grains
    log.info("%s: %d grain ids cover %d connected pieces; each piece is a grain (%.2f pieces per id)",
             Path(source).name, ids, pieces, pieces / max(ids, 1))
    return split


def read_volume(
    path: str | os.PathLike,
    *,
    crop: Sequence[slice] | None = None,
    downsample_by: int = 1,
    labels: bool = False,
) -> Volume:
    """Read a 3-D volume with its voxel size and phase names when the file has them.

    Parameters
    ----------
    path : path-like
        TIFF stack, folder of 2-D slices, ``.npy`` or ``.npz``.
    crop : 3 slices, optional
        Region of interest (axis 0, 1, 2), applied before downsampling: voxel indices
        >= 0, inside the volume (never clipped; see :func:`parse_crop`).
    downsample_by : int
        Integer factor on every axis, whole blocks only (block mean for grey values,
        nearest voxel for labels; see :func:`downsample`).
    labels : bool
        Treat the data as labels (nearest-voxel downsampling) even without stored names.

    Raises
    ------
    InputFileError
        Missing, unreadable, corrupt or truncated files; empty folders.
    InvalidInputError
        Not 3-D, RGB or multi-channel, a time series or any other non-spatial axis
        above size 1 (named), mixed slice sizes, a crop with negative bounds or outside
        the volume (with the bounds).
    """
    import tifffile

    source = Path(path)
    if source.is_dir():
        return _read_folder(source, crop, downsample_by, labels)
    source = check_readable(source)
    suffix = source.suffix.lower()
    try:
        if suffix in TIFF_SUFFIXES:
            return _read_tiff(source, crop, downsample_by, labels)
        if suffix == ".npy":
            data = np.load(source, mmap_mode="r", allow_pickle=False)
            return _finish(data, None, None, None, str(source), crop, downsample_by, labels)
        if suffix == ".npz":
            with np.load(source, allow_pickle=False) as archive:
                names = list(archive.files)
                stored, grains = {}, None
                if "labels" in names:
                    data = archive["labels"]
                    grains = archive["grains"] if "grains" in names else None
                    if "metadata" in names:
                        stored = json.loads(str(archive["metadata"]))
                elif len(names) == 1:
                    data = archive[names[0]]
                else:
                    raise InputFileError(f"{source} holds arrays {names}; expected one array or one named 'labels'")
            return _finish(data, stored.get("voxel_size_m"), stored.get("phases"), grains, str(source), crop,
                           downsample_by, labels)
    except (InputFileError, InvalidInputError):
        raise
    except (OSError, ValueError, KeyError, IndexError, EOFError, struct.error, tifffile.TiffFileError) as exc:
        raise InputFileError(f"cannot read {source}: {exc}") from None
    raise InputFileError(f"cannot read {source.name}: expected a .tif/.tiff stack, a folder of slices, .npy or .npz")


def _scribble_axis_as_z(source: Path, z_length: int) -> np.ndarray | None:
    """The scribble rule: a TIFF whose one axis above size 1 besides Y and X is not a
    slice axis (ilastik writes its label exports as OME with the stack on T) has that
    axis taken as z when its length is the stack's z length. None when the rule does
    not apply; an error when it would but the length differs."""
    import tifffile

    with _tifffile_complaints(source), tifffile.TiffFile(source) as tif:
        if not tif.series:
            return None
        series = tif.series[0]
        big = [(axis, n) for axis, n in zip(series.axes, series.shape) if n > 1]
        other = [(axis, n) for axis, n in big if axis not in _SLICE_AXES + "YX"]
        if len(big) != 3 or len(other) != 1 or other[0][0] in "SC" or [a for a, _ in big][1:] != ["Y", "X"]:
            return None
        axis, n = other[0]
        if n != z_length:
            raise InvalidInputError(
                f"scribbles {source.name} have a non-spatial axis {axis} of {n} entries (axes {series.axes}); it is "
                f"taken as z only when its length is the stack's z length ({z_length})")
        data = series.asarray()
    log.info("scribbles %s: axis %s (%d entries, the stack's z length) taken as z", source.name, axis, n)
    return np.reshape(data, [s for s in series.shape if s > 1])


def read_scribbles(
    path: str | os.PathLike,
    stack_shape: Sequence[int],
    *,
    crop: Sequence[slice] | None = None,
    downsample_by: int = 1,
) -> np.ndarray:
    """Read scribbles (sparse training labels, 0 = unlabelled) drawn on a stack.

    Parameters
    ----------
    path : path-like
        Any labelled volume :func:`read_volume` reads. One more rule holds for
        scribbles only: a TIFF whose single non-spatial axis above size 1 (e.g. the T
        axis of an ilastik OME label export) has the length of the stack's z has that
        axis taken as z. An ordinary stack with such an axis is refused as before.
    stack_shape : 3 ints
        The stack's shape as stored, before ``crop`` and ``downsample_by``.
    crop, downsample_by
        Applied as to the stack. A downsampled block keeps a scribble label where all
        its scribbled voxels agree, else it is unlabelled.

    Returns
    -------
    (n0, n1, n2) ndarray of uint8

    Raises
    ------
    InvalidInputError
        A shape other than the stack's, non-integer or negative labels, more than 255.
    """
    source = Path(path)
    data = None
    if source.suffix.lower() in TIFF_SUFFIXES and source.is_file():
        data = _scribble_axis_as_z(check_readable(source), int(stack_shape[0]))
    if data is None:
        data = read_volume(source, labels=True).data
    data = np.asarray(data)
    if tuple(data.shape) != tuple(int(n) for n in stack_shape):
        raise InvalidInputError(f"scribbles {source.name} have shape {tuple(data.shape)}, the stack "
                                f"{tuple(int(n) for n in stack_shape)}: draw them on the same stack")
    if data.dtype.kind not in "ui" and not (data.dtype.kind == "f" and np.all(data == np.round(data))):
        raise InvalidInputError(f"scribbles {source.name} hold {data.dtype} values; expected integer labels")
    if data.size and (data.min() < 0 or data.max() > 255):
        raise InvalidInputError(f"scribble labels must lie in 0..255 (0 unlabelled), {source.name} holds "
                                f"{data.min():g} to {data.max():g}")
    data = np.asarray(data[_check_crop(crop, data.shape)], dtype=np.uint8)
    if downsample_by == 1:
        return data
    n = [k // downsample_by for k in data.shape]
    if min(n) < 1:
        raise InvalidInputError(f"downsampling by {downsample_by} leaves nothing of a {data.shape} volume")
    f = downsample_by
    blocks = data[: n[0] * f, : n[1] * f, : n[2] * f].reshape(n[0], f, n[1], f, n[2], f)
    high = blocks.max(axis=(1, 3, 5))
    low = np.where(blocks == 0, 255, blocks).min(axis=(1, 3, 5))
    return np.where(high == low, high, 0).astype(np.uint8)


def check_readable(path: str | os.PathLike) -> Path:
    """Return ``path`` as a Path, or raise :class:`InputFileError` if it is not a readable file."""
    p = Path(path)
    if not p.exists():
        raise InputFileError(f"input file {p} does not exist")
    if not p.is_file():
        raise InputFileError(f"input {p} is not a file")
    if not os.access(p, os.R_OK):
        raise InputFileError(f"input file {p} is not readable")
    return p


def load_microstructure(
    path: str | os.PathLike,
    *,
    voxel_size=None,
    phases: Mapping[str, int] | None = None,
    crop=None,
    downsample_by: int = 1,
) -> Microstructure:
    """Read a labelled volume from a TIFF stack, slice folder, ``.npy`` or ``.npz`` file.

    Parameters
    ----------
    path : path-like
        ``.tif``/``.tiff`` (multi-page, axis 0 = pages), ``.npy`` (a 3-D integer
        array) or ``.npz`` (as written by :func:`microsim.export.save_microstructure`,
        or holding one 3-D array).
    voxel_size : float or 3 floats [m], optional
        Overrides the voxel size stored in the file; required when the file has none.
        It is the size of the voxels as read, before downsampling: the result's voxel
        size is ``downsample_by`` times it, like a size read from the file.
    phases : mapping str -> int, optional
        Overrides the stored phase table; default the stored one, else
        :data:`DEFAULT_PHASES`.
    crop, downsample_by
        Region of interest and integer downsampling (see :func:`read_volume`).

    Raises
    ------
    InputFileError
        Missing, unreadable or unsupported file.
    InvalidMicrostructureError
        No voxel size anywhere, or labels that are not a valid label map.
    """
    volume = read_volume(path, crop=crop, downsample_by=downsample_by, labels=True)
    if voxel_size is not None:
        size = tuple(s * downsample_by for s in check_voxel_size(voxel_size))
    else:
        size = volume.voxel_size
    if size is None:
        raise InvalidMicrostructureError(
            f"{volume.source} does not store a voxel size; give it (e.g. --voxel-size 0.4um or voxel_size=4e-7)"
        )
    table = phases if phases is not None else (volume.phases or DEFAULT_PHASES)
    return Microstructure(volume.data, check_voxel_size(size), table, volume.grains)
