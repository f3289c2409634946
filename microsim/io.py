"""Volumes in and out: TIFF stacks, slice folders, NumPy files, and ParaView (.vti).

Reading (:func:`read_volume`)
    multi-page TIFF (8/16/32-bit integer or float), ImageJ hyperstacks and OME-TIFF
    (voxel size from their metadata), microsim's own labelled TIFF (voxel size, phase
    names and grain ids in its description), folders of 2-D slices (sorted naturally:
    ``s2.tif`` before ``s10.tif``), ``.npy`` and ``.npz``. A region of interest and an
    integer downsampling apply on reading; uncompressed TIFFs are memory-mapped so
    that a crop of a stack larger than memory reads only the crop. Plain TIFF
    resolution tags (often a 72-dpi default) are never taken for a voxel size.
Writing
    :func:`write_labels` (labelled TIFF or ``.npz``, names and voxel size inside) and
    :func:`write_vti` (VTK ImageData, appended raw binary, zlib-compressed; cell
    arrays; spacing in metres). Every writer is atomic and refuses to overwrite
    without ``force``.

Axis convention: array axis 0 is the TIFF page (slice) axis. In the ``.vti`` file,
VTK's x is array axis 2, y axis 1 and z axis 0, so ParaView shows slices as z.
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from microsim._files import atomic_output, check_readable
from microsim.errors import InputFileError, InvalidInputError

if TYPE_CHECKING:
    from microsim.microstructure import Microstructure
    from microsim.transport import TransportResult

TIFF_SUFFIXES = (".tif", ".tiff")
_UNITS = {"nm": 1e-9, "um": 1e-6, "mm": 1e-3, "cm": 1e-2, "m": 1.0}


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
    source : str
    """

    data: np.ndarray
    voxel_size: tuple[float, float, float] | None
    phases: dict[str, int] | None
    grains: np.ndarray | None
    source: str

    @property
    def is_labelled(self) -> bool:
        return self.phases is not None


# -- region of interest and downsampling ----------------------------------------------
def parse_crop(text: str) -> tuple[slice, slice, slice]:
    """``"10:60,0:50,5:"`` -> three slices (axis 0, 1, 2); an empty part keeps the axis."""
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


def _check_crop(crop, shape) -> tuple[slice, slice, slice]:
    if crop is None:
        return (slice(None),) * 3
    crop = tuple(crop)
    if len(crop) != 3 or not all(isinstance(s, slice) and s.step in (None, 1) for s in crop):
        raise InvalidInputError(f"crop must be three slices without step, got {crop!r}")
    for a, (s, n) in enumerate(zip(crop, shape)):
        lo, hi, _ = s.indices(n)
        if hi - lo < 1:
            raise InvalidInputError(f"crop {s.start}:{s.stop} leaves nothing of axis {a} (size {n})")
    return crop


def downsample(data: np.ndarray, factor: int, *, labels: bool) -> np.ndarray:
    """Reduce every axis by an integer ``factor``.

    Grey values: the mean of each ``factor``³ block (float32). Labels: the voxel at
    each block's corner (nearest neighbour), so no mixed labels appear.
    """
    if factor == 1:
        return data
    if not (isinstance(factor, (int, np.integer)) and factor >= 1):
        raise InvalidInputError(f"downsampling needs an integer factor >= 1, got {factor!r}")
    if labels:
        return np.ascontiguousarray(data[::factor, ::factor, ::factor])
    n = [s // factor for s in data.shape]
    if min(n) < 1:
        raise InvalidInputError(f"downsampling by {factor} leaves nothing of a {data.shape} volume")
    trimmed = data[: n[0] * factor, : n[1] * factor, : n[2] * factor].astype(np.float32)
    return trimmed.reshape(n[0], factor, n[1], factor, n[2], factor).mean(axis=(1, 3, 5))


# -- metadata -----------------------------------------------------------------------
def _unit_scale(unit) -> float | None:
    unit = str(unit or "").strip().replace("\\u00B5", "u").replace("µ", "u").replace("μ", "u")
    unit = {"micron": "um", "microns": "um", "micrometer": "um", "nanometer": "nm"}.get(unit, unit)
    return _UNITS.get(unit)


def _imagej_voxel_size(tif) -> tuple[float, float, float] | None:
    meta = tif.imagej_metadata or {}
    scale = _unit_scale(meta.get("unit"))
    if scale is None:
        return None
    page = tif.pages[0]
    try:
        x_num, x_den = page.tags["XResolution"].value
        y_num, y_den = page.tags["YResolution"].value
    except KeyError:
        return None
    z = float(meta.get("spacing", x_den / x_num))
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
        scale = _unit_scale(pixels.get(f"PhysicalSize{axis}Unit", "um"))
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
def _squeeze_series(series, source: Path) -> None:
    """Refuse colour, multi-channel and 4-D+ series; singleton axes are fine."""
    axes, shape = series.axes, series.shape
    big = [(axis, n) for axis, n in zip(axes, shape) if n > 1]
    colour = [(axis, n) for axis, n in big if axis in "SC"]
    if colour:
        raise InvalidInputError(f"{source.name} has {colour[0][1]} colour channels (axes {axes}); "
                                "give a single-channel grey-value stack")
    if len(big) > 3:
        raise InvalidInputError(f"{source.name} has {len(big)} dimensions (axes {axes}, shape {shape}); "
                                "give a single 3-D stack")


def _read_tiff(source: Path, crop, factor: int, labels_only: bool) -> Volume:
    import tifffile

    with tifffile.TiffFile(source) as tif:
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
        grains = downsample(grains, factor, labels=True)
    if size is not None:
        size = tuple(float(s) * factor for s in size)
    return Volume(data, size, dict(phases) if phases is not None else None, grains, source)


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
        Region of interest (axis 0, 1, 2), applied before downsampling.
    downsample_by : int
        Integer factor on every axis (block mean for grey values, nearest voxel for labels).
    labels : bool
        Treat the data as labels (nearest-voxel downsampling) even without stored names.

    Raises
    ------
    InputFileError
        Missing, unreadable, corrupt or truncated files; empty folders.
    InvalidInputError
        Not 3-D, RGB or multi-channel, time series, mixed slice sizes, a bad crop.
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
    except (OSError, ValueError, KeyError, IndexError, EOFError, tifffile.TiffFileError) as exc:
        raise InputFileError(f"cannot read {source}: {exc}") from None
    raise InputFileError(f"cannot read {source.name}: expected a .tif/.tiff stack, a folder of slices, .npy or .npz")


# -- writing ------------------------------------------------------------------------
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
                writer.write(_smallest_uint(labels), compression=codec, metadata={"microsim": meta})
                if grains is not None:
                    writer.write(_smallest_uint(grains), compression=codec, metadata={"microsim_grains": True})
    return target


#: VTK XML type names of the array dtypes the ``.vti`` writer stores
_VTK_TYPES = {"u1": "UInt8", "u2": "UInt16", "u4": "UInt32", "i1": "Int8", "i2": "Int16", "i4": "Int32",
              "i8": "Int64", "u8": "UInt64", "f4": "Float32", "f8": "Float64"}
#: uncompressed bytes per zlib block of a ``.vti`` array (VTK reads any block size)
_VTI_BLOCK = 1 << 20


class VtiWriter:
    """A ParaView ``.vti`` file written one cell array at a time.

    VTK XML ImageData, appended raw binary, zlib-compressed in 1 MiB blocks, cell
    arrays; spacing in metres (VTK x, y, z = array axes 2, 1, 0). Each array added is
    converted and compressed a few planes at a time into a spill file beside the
    target and then forgotten, so the fields of many solves never have to be in
    memory together, and no full-volume copy is made. :meth:`close` writes the header
    and moves the file into place atomically; the target is refused at once when it
    exists and ``force`` is not given.

    Use as a context manager (nothing is left behind when an error ends the block)::

        with VtiWriter("fields.vti", micro) as vti:
            vti.add_result(result)
    """

    def __init__(self, path: str | os.PathLike, micro: "Microstructure", *, force: bool = False) -> None:
        import tempfile
        import zlib

        from microsim.errors import OutputExistsError

        self.target = Path(path)
        if self.target.suffix.lower() != ".vti":
            raise InputFileError(f"ParaView image data needs a .vti file name, got {self.target.name}")
        if self.target.exists() and not force:
            raise OutputExistsError(f"{self.target} exists already; pass --force (force=True) to overwrite it")
        folder = self.target.parent if str(self.target.parent) else Path(".")
        if not folder.is_dir():
            raise InputFileError(f"cannot write {self.target}: folder {folder} does not exist")
        self.force = force
        self.micro = micro
        self._zlib = zlib
        self._spill = tempfile.TemporaryFile(dir=folder)
        self._offset = 0
        self._arrays: list[str] = []
        self.add("phase", micro.labels)
        if micro.grains is not None:
            self.add("grain", micro.grains, dtype=np.int32)

    def __enter__(self) -> "VtiWriter":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self._spill.close()

    def add(self, name: str, values: np.ndarray, *, dtype=None) -> None:
        """Add a cell array: shape (n0, n1, n2), or (n0, n1, n2, 3) for a vector in array-axis
        order (written as VTK x, y, z = axes 2, 1, 0). Floats are stored as float32."""
        shape = self.micro.shape
        values = np.asarray(values) if not isinstance(values, np.ndarray) else values
        if values.shape not in (shape, shape + (3,)):
            raise InvalidInputError(f"cell array {name!r} has shape {values.shape}, expected {shape} (x3)")
        if dtype is None:
            dtype = np.float32 if values.dtype.kind in "fb" else values.dtype
        dtype = np.dtype(dtype).newbyteorder("<")
        vector = values.ndim == 4
        plane_bytes = values[0].size * dtype.itemsize
        step = max(1, (8 << 20) // max(plane_bytes, 1))  # about 8 MB converted at a time
        sizes: list[int] = []
        pending = bytearray()
        for z in range(0, shape[0], step):
            chunk = values[z:z + step]
            if vector:
                chunk = chunk[..., ::-1]
            pending += np.ascontiguousarray(chunk, dtype=dtype).tobytes()
            full = len(pending) // _VTI_BLOCK * _VTI_BLOCK
            view = memoryview(pending)
            for at in range(0, full, _VTI_BLOCK):
                sizes.append(self._write_block(view[at:at + _VTI_BLOCK]))
            view.release()
            del pending[:full]
        last = len(pending)
        if pending:
            sizes.append(self._write_block(pending))
        header = np.array([len(sizes), _VTI_BLOCK, last, *sizes], dtype="<u8").tobytes()
        # the block header goes before the blocks: blocks are spilled first, so the header
        # is kept here and the array's bytes are reassembled in order when the file is closed
        self._arrays.append((name, dtype, 3 if vector else 1, header, self._offset - sum(sizes), sum(sizes)))

    def _write_block(self, block: bytes) -> int:
        data = self._zlib.compress(block, 6)
        self._spill.write(data)
        self._offset += len(data)
        return len(data)

    def add_result(self, result: "TransportResult") -> None:
        """``potential_<phase>_axis<k>`` [V] and ``current_density_<phase>_axis<k>`` [A/m^2] of a solve."""
        if result.fields is None:
            return
        name = f"{result.phase}_axis{result.axis}"
        self.add(f"potential_{name}", result.fields.potential)
        self.add(f"current_density_{name}", result.fields.current_density)

    def close(self) -> Path:
        """Write the header, the arrays and the field data; move the file onto the target."""
        micro = self.micro
        n0, n1, n2 = micro.shape
        h0, h1, h2 = micro.voxel_size
        extent = f"0 {n2} 0 {n1} 0 {n0}"
        arrays, offset = [], 0
        for name, dtype, components, header, _, size in self._arrays:
            arrays.append(f'<DataArray type="{_VTK_TYPES[dtype.str[1:]]}" Name="{name}" '
                          f'NumberOfComponents="{components}" format="appended" offset="{offset}"/>')
            offset += len(header) + size

        def strings(name: str, values: list[str]) -> str:
            codes = " ".join(" ".join(str(c) for c in v.encode()) + " 0" for v in values)
            return f'<Array type="String" Name="{name}" NumberOfTuples="{len(values)}" format="ascii">{codes}</Array>'

        field = [
            strings("spacing_unit", ["m"]),
            f'<Array type="Float64" Name="voxel_size_m" NumberOfTuples="3" format="ascii">'
            f'{" ".join(repr(float(v)) for v in micro.voxel_size)}</Array>',
            strings("phase_names", [f"{label}={name}" for name, label in micro.phases.items()]),
        ]
        head = "\n".join([
            '<?xml version="1.0"?>',
            '<VTKFile type="ImageData" version="1.0" byte_order="LittleEndian" header_type="UInt64" '
            'compressor="vtkZLibDataCompressor">',
            f'<ImageData WholeExtent="{extent}" Origin="0 0 0" Spacing="{h2!r} {h1!r} {h0!r}" '
            'Direction="1 0 0 0 1 0 0 0 1">',
            "<FieldData>", *field, "</FieldData>",
            f'<Piece Extent="{extent}">', "<PointData>", "</PointData>", '<CellData Scalars="phase">', *arrays,
            "</CellData>", "</Piece>", "</ImageData>", '<AppendedData encoding="raw">',
        ])
        with atomic_output(self.target, force=self.force) as tmp, open(tmp, "wb") as out:
            out.write(head.encode() + b"\n_")
            for _, _, _, header, start, size in self._arrays:
                out.write(header)
                self._spill.seek(start)
                remaining = size
                while remaining:
                    piece = self._spill.read(min(remaining, 16 << 20))
                    out.write(piece)
                    remaining -= len(piece)
            out.write(b"\n</AppendedData>\n</VTKFile>\n")
        self._spill.close()
        return self.target


def write_vti(
    path: str | os.PathLike,
    micro: "Microstructure",
    results: Sequence["TransportResult"] = (),
    *,
    extra: dict[str, np.ndarray] | None = None,
    force: bool = False,
) -> Path:
    """Write the microstructure and solved fields as a ParaView ``.vti`` file.

    Cell arrays: ``phase`` (label), ``grain`` (when present), and for every result
    that carries fields, ``potential_<phase>_axis<k>`` [V] and
    ``current_density_<phase>_axis<k>`` (3-vector [A/m^2], components along VTK x, y,
    z = array axes 2, 1, 0). ``extra`` adds named cell arrays of shape (n0, n1, n2) or
    (n0, n1, n2, 3) (vectors in array-axis order, reordered like the current density).
    Voxels outside the solved network hold 0. Field data:
    ``spacing_unit`` ("m"), ``voxel_size_m`` (array axes 0, 1, 2), ``phase_names``.
    VTK XML, appended raw binary, zlib-compressed; written atomically (see
    :class:`VtiWriter`, which also writes one solve at a time).
    """
    with VtiWriter(path, micro, force=force) as vti:
        for r in results:
            vti.add_result(r)
        for name, values in (extra or {}).items():
            vti.add(name, np.asarray(values, dtype=np.float32))
    return Path(path)


def write_slice_png(
    path: str | os.PathLike,
    micro: "Microstructure",
    results: Sequence["TransportResult"] = (),
    *,
    field: np.ndarray | None = None,
    field_title: str = "",
    force: bool = False,
) -> Path:
    """PNG of the middle slice (axis 0): the phases, and ``field`` (or else the potential
    of the first solved result) when there is one. Needs matplotlib (``pip install
    'microsim[plot]'``)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        from microsim.errors import MissingDependencyError

        raise MissingDependencyError("the PNG snapshot needs matplotlib: pip install 'microsim[plot]'") from None
    mid = micro.shape[0] // 2
    solved = next((r for r in results if r.fields is not None), None)
    if field is None and solved is not None:
        field = np.where(solved.fields.connected, solved.fields.potential, np.nan)
        field_title = f"potential [V], {solved.phase} along axis {solved.axis}"
    panels = 1 + (field is not None)
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 4.5), squeeze=False)
    extent = (0, micro.size_m[2] * 1e6, micro.size_m[1] * 1e6, 0)
    image = axes[0, 0].imshow(micro.labels[mid], extent=extent, interpolation="nearest", cmap="viridis")
    axes[0, 0].set_title(f"phases, slice {mid} of axis 0")
    bar = fig.colorbar(image, ax=axes[0, 0], ticks=sorted(micro.phases.values()))
    bar.ax.set_yticklabels([n for n, _ in sorted(micro.phases.items(), key=lambda kv: kv[1])])
    if field is not None:
        image = axes[0, 1].imshow(field[mid], extent=extent, interpolation="nearest", cmap="plasma")
        axes[0, 1].set_title(field_title)
        fig.colorbar(image, ax=axes[0, 1])
    for ax in axes[0]:
        ax.set_xlabel("axis 2 [µm]")
        ax.set_ylabel("axis 1 [µm]")
    with atomic_output(path, force=force) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return Path(path)


def write_csv(rows: Sequence[dict], path: str | os.PathLike, *, force: bool = False) -> Path:
    """Write records as a CSV table atomically (never over an existing file without ``force``).

    The columns are every key of every record, in order of first appearance; a record
    without a column leaves its cell empty.
    """
    import csv
    import io

    if not rows:
        raise InvalidInputError(f"no rows to write to {path}")
    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="")
    writer.writeheader()
    writer.writerows(rows)
    with atomic_output(path, force=force) as tmp:
        tmp.write_text(buffer.getvalue())
    return Path(path)
