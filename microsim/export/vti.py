"""ParaView files: VTK ImageData (``.vti``) of the phases and the solved fields.

VTK XML, appended raw binary, zlib-compressed; cell arrays; spacing in metres. VTK's
x is array axis 2, y axis 1 and z axis 0, so ParaView shows the slices as z.
"""

from __future__ import annotations

import os
import tempfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from microsim.errors import InputFileError, InvalidInputError
from microsim.export.files import atomic_output, check_output
from microsim.microstructure import Microstructure

if TYPE_CHECKING:
    from microsim.transport import TransportResult

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

    def __init__(self, path: str | os.PathLike, micro: Microstructure, *, force: bool = False) -> None:
        self.target = Path(path)
        if self.target.suffix.lower() != ".vti":
            raise InputFileError(f"ParaView image data needs a .vti file name, got {self.target.name}")
        check_output(self.target, force=force)
        folder = self.target.parent if str(self.target.parent) else Path(".")
        self.force = force
        self.micro = micro
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

    @property
    def array_names(self) -> list[str]:
        """Names of the cell arrays added so far."""
        return [entry[0] for entry in self._arrays]

    def _write_block(self, block: bytes) -> int:
        data = zlib.compress(block, 6)
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
    micro: Microstructure,
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
